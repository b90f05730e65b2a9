//! Custom resource validation against a structural schema, with
//! kube-apiserver's messages, from `tests/data/crd/validate.json`.

mod crd_support;

use corral_apimachinery::crd::{Structural, validate};
use corral_apimachinery::validation::{ErrorType, invalid_status};
use crd_support::{compare, crontab_schema, load, messages, strings};
use serde_json::{Value, json};

fn schema_of(case: &Value) -> Structural {
    let raw = match &case["schema"] {
        Value::String(s) if s == "crontab" => crontab_schema(),
        other => other.clone(),
    };
    Structural::parse(&raw).unwrap_or_else(|e| panic!("{}: {e:?}", case["name"]))
}

#[test]
fn validation_cases() {
    let cases = load("validate.json");
    let cases = cases.as_array().expect("array");
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let got = messages(&validate(&schema_of(case), &case["object"]));
        failures.extend(compare(name, &strings(case.get("errors")), &got));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_types_and_status() {
    let s = Structural::parse(&crontab_schema()).expect("structural");
    let obj = json!({"spec": {"cronSpec": "nope", "replicas": "x"}});
    let errs = validate(&s, &obj);
    let types: Vec<ErrorType> = errs.iter().map(|e| e.error_type.clone()).collect();
    assert_eq!(types, vec![ErrorType::Invalid, ErrorType::TypeInvalid]);
    let status = invalid_status("stable.example.com", "CronTab", "my-new-cron-object", &errs);
    assert_eq!(status["code"], 422);
    assert_eq!(
        status["message"],
        "CronTab.stable.example.com \"my-new-cron-object\" is invalid: [spec.cronSpec: Invalid value: \"nope\": spec.cronSpec in body should match '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$', spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"]"
    );
    assert_eq!(
        status["details"]["causes"][1]["reason"],
        "FieldValueTypeInvalid"
    );
    assert_eq!(status["details"]["causes"][1]["field"], "spec.replicas");
}

#[test]
fn deep_unknown_data_does_not_recurse_without_schema() {
    let s = Structural::parse(&json!({"type": "object", "properties": {
        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    }}))
    .expect("structural");
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!({"a": [deep]});
    }
    assert!(validate(&s, &json!({"spec": deep})).is_empty());
}
