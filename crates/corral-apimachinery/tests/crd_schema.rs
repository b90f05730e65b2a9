//! Structural-schema parsing: the rules kube-apiserver applies to a CRD's
//! `openAPIV3Schema`, from `tests/data/crd/schemas.json`, and robustness
//! against hostile schemas.

mod crd_support;

use corral_apimachinery::crd::{MAX_SCHEMA_DEPTH, Structural};
use crd_support::{compare, load, messages, strings};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[test]
fn schema_cases() {
    let cases = load("schemas.json");
    let cases = cases.as_array().expect("array");
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let want = strings(case.get("errors"));
        let got = match Structural::parse(&case["schema"]) {
            Ok(_) => Vec::new(),
            Err(errs) => messages(&errs),
        };
        failures.extend(compare(name, &want, &got));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn parse_at_uses_the_given_path() {
    let schema = json!({"type": "object", "properties": {"spec": {}}});
    let errs = Structural::parse_at(&schema, "spec.versions[1].schema.openAPIV3Schema")
        .expect_err("missing type");
    assert_eq!(
        messages(&errs),
        vec![
            "spec.versions[1].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"
        ]
    );
}

#[test]
fn parsed_schema_exposes_keywords() {
    let s = Structural::parse(&crd_support::crontab_schema()).expect("structural");
    let spec = &s.properties["spec"];
    let replicas = &spec.properties["replicas"];
    assert_eq!(replicas.type_, "integer");
    assert_eq!(
        (replicas.minimum, replicas.maximum),
        (Some(1.0), Some(10.0))
    );
    assert_eq!(replicas.default, Some(json!(1)));
    let cron = &spec.properties["cronSpec"];
    assert!(
        cron.pattern
            .as_ref()
            .expect("pattern")
            .is_match("*/5 * * * *")
    );
    assert!(spec.field_schema("image").is_some());
    assert!(spec.field_schema("bogus").is_none());
}

fn nested(depth: usize) -> Value {
    let mut v = json!({"type": "string"});
    for _ in 0..depth {
        v = json!({"type": "object", "properties": {"a": v}});
    }
    v
}

#[test]
fn deep_nesting_is_rejected_not_overflowed() {
    assert!(Structural::parse(&nested(MAX_SCHEMA_DEPTH - 2)).is_ok());
    let errs = Structural::parse(&nested(500)).expect_err("too deep");
    let msgs = messages(&errs);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].ends_with(&format!(
            "Forbidden: must not be nested more than {MAX_SCHEMA_DEPTH} levels deep"
        )),
        "{msgs:?}"
    );
}

#[test]
fn hostile_patterns_fail_fast() {
    let started = Instant::now();
    for pattern in [
        r"(\w{1000}){1000}",
        r"((((a{100}){100}){100}){100})",
        "(a|aa)*(a|aa)*(a|aa)*b",
        &"(".repeat(20_000),
    ] {
        let schema =
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": pattern}}});
        match Structural::parse(&schema) {
            Ok(s) => {
                // Linear-time matching: a long input cannot hang validation.
                let p = s.properties["a"].pattern.as_ref().expect("compiled");
                assert!(!p.is_match(&"a".repeat(100_000)));
            }
            Err(errs) => assert!(
                messages(&errs)[0].contains("must be a valid regular expression"),
                "{errs:?}"
            ),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn non_object_schemas_are_errors() {
    for bad in [json!("object"), json!(null), json!([1])] {
        let errs = Structural::parse(&bad).expect_err("not an object");
        assert_eq!(
            messages(&errs)[0].split(':').next(),
            Some("spec.validation.openAPIV3Schema"),
            "{bad}"
        );
    }
}
