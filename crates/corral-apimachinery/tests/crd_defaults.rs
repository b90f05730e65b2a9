//! Structural defaulting and pruning of custom resources, from
//! `tests/data/crd/defaults.json`.

mod crd_support;

use corral_apimachinery::crd::{Structural, apply_defaults, prune, validate};
use crd_support::{crontab_schema, load, strings};
use serde_json::{Value, json};

fn schema_of(case: &Value) -> Structural {
    let raw = match &case["schema"] {
        Value::String(s) if s == "crontab" => crontab_schema(),
        other => other.clone(),
    };
    Structural::parse(&raw).unwrap_or_else(|e| panic!("{}: {e:?}", case["name"]))
}

#[test]
fn defaulting_cases() {
    let data = load("defaults.json");
    let cases = data["defaults"].as_array().expect("array");
    let mut failures = Vec::new();
    for case in cases {
        let mut obj = case["object"].clone();
        apply_defaults(&schema_of(case), &mut obj);
        if obj != case["want"] {
            failures.push(format!(
                "{}: got {obj}, want {}",
                case["name"], case["want"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn pruning_cases() {
    let data = load("defaults.json");
    let cases = data["prune"].as_array().expect("array");
    let mut failures = Vec::new();
    for case in cases {
        let mut obj = case["object"].clone();
        let pruned = prune(&schema_of(case), &mut obj);
        let want = strings(case.get("pruned"));
        if obj != case["want"] || pruned != want {
            failures.push(format!(
                "{}: got {obj} {pruned:?}, want {} {want:?}",
                case["name"], case["want"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The server's order for a CronTab create: prune, default, validate.
#[test]
fn crontab_create_pipeline() {
    let s = Structural::parse(&crontab_schema()).expect("structural");
    let mut obj = json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "my-new-cron-object"},
        "spec": {"image": "my-awesome-cron-image", "replica": 3}
    });
    let unknown: Vec<String> = prune(&s, &mut obj)
        .into_iter()
        .map(|p| format!("unknown field {p:?}"))
        .collect();
    assert_eq!(unknown, vec!["unknown field \"spec.replica\""]);
    apply_defaults(&s, &mut obj);
    assert_eq!(
        obj["spec"],
        json!({"cronSpec": "5 0 * * *", "image": "my-awesome-cron-image", "replicas": 1})
    );
    assert!(validate(&s, &obj).is_empty());
}

#[test]
fn defaults_are_copies_per_item() {
    let s = Structural::parse(&json!({"type": "object", "properties": {
        "list": {"type": "array", "items": {"type": "object", "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "default": ["a"]}
        }}}
    }}))
    .expect("structural");
    let mut obj = json!({"list": [{}, {}, {"tags": []}]});
    apply_defaults(&s, &mut obj);
    assert_eq!(
        obj,
        json!({"list": [{"tags": ["a"]}, {"tags": ["a"]}, {"tags": []}]})
    );
}
