//! CustomResourceDefinition objects: defaults, create preparation and
//! validation (cases from `tests/data/crd/definition.json`), and update rules.

mod crd_support;

use corral_apimachinery::crd::{
    defaults_crd, is_established, mark_established, prepare_crd_for_create, prepare_crd_for_update,
    validate_crd, validate_crd_update,
};
use crd_support::{compare, crontab, edit, load, messages, set, strings};
use serde_json::{Value, json};

/// What the server does on create before validating.
fn created(mut crd: Value) -> Value {
    defaults_crd(&mut crd);
    prepare_crd_for_create(&mut crd);
    crd
}

#[test]
fn definition_cases() {
    let cases = load("definition.json");
    let cases = cases.as_array().expect("array");
    assert!(cases.len() >= 25, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let mut crd = crontab();
        edit(&mut crd, case);
        let got = messages(&validate_crd(&created(crd)));
        failures.extend(compare(name, &strings(case.get("errors")), &got));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn scheme_defaults() {
    let mut crd = crontab();
    crd["spec"]["names"] = json!({"plural": "crontabs", "kind": "CronTab"});
    defaults_crd(&mut crd);
    assert_eq!(
        crd["spec"]["names"],
        json!({"plural": "crontabs", "kind": "CronTab", "singular": "crontab", "listKind": "CronTabList"})
    );
    assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
}

#[test]
fn create_preparation_resets_status() {
    let mut crd = crontab();
    crd["status"] = json!({"storedVersions": ["v0"], "conditions": [{"type": "Established", "status": "True"}]});
    crd["metadata"]["generation"] = json!(7);
    let crd = created(crd);
    assert_eq!(crd["metadata"]["generation"], 1);
    assert_eq!(
        crd["status"],
        json!({"acceptedNames": {"kind": "", "plural": ""}, "storedVersions": ["v1"]})
    );
    assert!(!is_established(&crd));
}

#[test]
fn established_status() {
    let mut crd = created(crontab());
    mark_established(&mut crd, "2024-05-01T10:00:00Z");
    assert!(is_established(&crd));
    assert_eq!(crd["status"]["acceptedNames"]["shortNames"], json!(["ct"]));
    assert_eq!(
        crd["status"]["conditions"][1]["reason"],
        "InitialNamesAccepted"
    );
    assert!(validate_crd(&crd).is_empty());
}

fn stored(mut crd: Value) -> Value {
    crd = created(crd);
    crd["metadata"]["uid"] = json!("9f3c6a7e-0000-4000-8000-000000000001");
    crd["metadata"]["creationTimestamp"] = json!("2024-05-01T10:00:00Z");
    crd["metadata"]["resourceVersion"] = json!("10");
    mark_established(&mut crd, "2024-05-01T10:00:00Z");
    crd
}

fn update(old: &Value, change: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut new = old.clone();
    change(&mut new);
    defaults_crd(&mut new);
    prepare_crd_for_update(&mut new, old);
    messages(&validate_crd_update(&new, old))
}

#[test]
fn update_rules() {
    let old = stored(crontab());
    assert_eq!(update(&old, |_| {}), Vec::<String>::new());
    assert_eq!(
        update(&old, |c| set(c, "/spec/scope", json!("Cluster"))),
        vec!["spec.scope: Invalid value: \"Cluster\": field is immutable"]
    );
    assert_eq!(
        update(&old, |c| set(c, "/spec/names/kind", json!("CronJobby"))),
        vec!["spec.names.kind: Invalid value: \"CronJobby\": field is immutable".to_string()]
    );
    assert_eq!(
        update(&old, |c| set(c, "/spec/names/plural", json!("crontabz"))),
        vec!["spec.names.plural: Invalid value: \"crontabz\": field is immutable"]
    );
    assert_eq!(
        update(&old, |c| set(c, "/spec/group", json!("other.example.com"))),
        vec!["spec.group: Invalid value: \"other.example.com\": field is immutable"]
    );
    assert_eq!(
        update(&old, |c| set(
            c,
            "/metadata/name",
            json!("other.stable.example.com")
        )),
        vec!["metadata.name: Invalid value: \"other.stable.example.com\": field is immutable"]
    );
}

#[test]
fn scope_is_mutable_before_established() {
    let mut old = created(crontab());
    old["metadata"]["uid"] = json!("u");
    assert!(!is_established(&old));
    assert_eq!(
        update(&old, |c| set(c, "/spec/scope", json!("Cluster"))),
        Vec::<String>::new()
    );
}

#[test]
fn removing_a_stored_version_is_rejected() {
    let old = stored(crontab());
    let errs = update(&old, |c| set(c, "/spec/versions/0/name", json!("v2")));
    assert_eq!(
        errs,
        vec![
            "status.storedVersions[0]: Invalid value: \"v1\": missing from spec.versions; v1 was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in v1 and removes v1 from status.storedVersions"
        ]
    );
}

#[test]
fn generation_follows_spec_changes() {
    let old = stored(crontab());
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"a": "b"});
    prepare_crd_for_update(&mut new, &old);
    assert_eq!(new["metadata"]["generation"], 1);
    set(&mut new, "/spec/names/shortNames", json!(["ct", "cron"]));
    prepare_crd_for_update(&mut new, &old);
    assert_eq!(new["metadata"]["generation"], 2);
    assert_eq!(new["status"], old["status"]);
}

fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(c, p, out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(c, p, out);
            }
        }
        _ => {}
    }
}

/// Every node of the CronTab CRD replaced by values of the wrong shape:
/// nothing panics, and whatever is accepted also serves objects.
#[test]
fn hostile_crds_do_not_panic() {
    use corral_apimachinery::crd::{CrdInfo, apply_defaults, prune, validate};
    let base = crontab();
    let mut all = Vec::new();
    pointers(&base, String::new(), &mut all);
    let garbage = [
        Value::Null,
        json!(-1),
        json!(1.5),
        json!("x"),
        json!(true),
        json!([]),
        json!({}),
        json!([{}, null]),
    ];
    let obj = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "a"}, "spec": {"cronSpec": 5, "replicas": "x", "extra": [1]}});
    let mut accepted = 0;
    for p in &all {
        for g in &garbage {
            let mut crd = base.clone();
            let Some(slot) = crd.pointer_mut(p) else {
                continue;
            };
            *slot = g.clone();
            let crd = created(crd);
            let errs = validate_crd(&crd);
            let _ = validate_crd_update(&crd, &base);
            if let Ok(info) = CrdInfo::from_crd(&crd) {
                for v in &info.versions {
                    let mut o = obj.clone();
                    if let Some(s) = &v.schema {
                        prune(s, &mut o);
                        apply_defaults(s, &mut o);
                        let _ = validate(s, &o);
                    }
                    for c in &v.printer_columns {
                        let _ = c.cell(&o);
                    }
                    if let Some(scale) = &v.scale {
                        let _ = scale.validate_spec(&o);
                        let _ = scale.read(&o);
                    }
                }
                if errs.is_empty() {
                    accepted += 1;
                }
            }
        }
    }
    assert!(accepted > 0);
}
