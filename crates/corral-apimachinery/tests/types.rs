//! Data-driven checks of every built-in type's rules, from the JSON files
//! in `tests/data/types/`: create/update validation messages, defaulting,
//! table columns and rows, field-selector values.

use corral_apimachinery::table::{IncludeObject, build_table};
use corral_apimachinery::types::{REGISTRY, TypeRules, rules_for};
use corral_apimachinery::validation::NameRule;
use serde_json::{Value, json};
use std::path::PathBuf;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn data_files() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/types");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/types exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable");
            let v: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), v)
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn messages(errs: Vec<corral_apimachinery::validation::FieldError>) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

fn rules(file: &str, spec: &Value) -> &'static dyn TypeRules {
    let group = spec["group"].as_str().expect("group");
    let kind = spec["kind"].as_str().expect("kind");
    rules_for(group, kind).unwrap_or_else(|| panic!("{file}: no rules for {group}/{kind}"))
}

#[test]
fn every_registered_type_has_a_data_file() {
    let files = data_files();
    for (group, kind, _) in REGISTRY {
        let covered = files
            .iter()
            .any(|(_, v)| v["group"] == *group && v["kind"] == *kind);
        assert!(covered, "no data file for {group}/{kind}");
    }
    assert!(rules_for("", "ReplicationController").is_none());
    assert!(rules_for("apps", "Namespace").is_none());
}

#[test]
fn validation_cases() {
    let mut count = 0;
    for (file, spec) in data_files() {
        let r = rules(&file, &spec);
        for case in spec["create"].as_array().into_iter().flatten() {
            let got = messages(r.validate_create(&case["object"]));
            assert_eq!(
                got,
                strings(&case["errors"]),
                "{file}: create {}",
                case["name"]
            );
            count += 1;
        }
        for case in spec["update"].as_array().into_iter().flatten() {
            let got = messages(r.validate_update(&case["new"], &case["old"]));
            assert_eq!(
                got,
                strings(&case["errors"]),
                "{file}: update {}",
                case["name"]
            );
            count += 1;
        }
    }
    assert!(count > 60, "only {count} validation cases ran");
}

#[test]
fn defaulting_cases() {
    let mut count = 0;
    for (file, spec) in data_files() {
        let r = rules(&file, &spec);
        for case in spec["defaults"].as_array().into_iter().flatten() {
            let mut obj = case["input"].clone();
            match case["op"].as_str() {
                Some("create") => r.default_on_create(&mut obj),
                Some("update") => r.prepare_for_update(&mut obj, &case["old"]),
                other => panic!("{file}: bad op {other:?}"),
            }
            assert_eq!(obj, case["output"], "{file}: defaults {}", case["name"]);
            count += 1;
        }
    }
    assert!(count >= 7, "only {count} defaulting cases ran");
}

#[test]
fn table_cases() {
    let mut count = 0;
    for (file, spec) in data_files() {
        let r = rules(&file, &spec);
        for case in spec["table"].as_array().into_iter().flatten() {
            let now = OffsetDateTime::parse(case["now"].as_str().expect("now"), &Rfc3339)
                .expect("valid now");
            let obj = case["object"].clone();
            let cells = r.cells(&obj);
            let table = build_table(r.columns(), vec![(obj, cells)], IncludeObject::None, now);
            let names: Vec<Value> = table["columnDefinitions"]
                .as_array()
                .expect("columns")
                .iter()
                .map(|c| c["name"].clone())
                .collect();
            let want_names: Vec<Value> = strings(&spec["columns"])
                .into_iter()
                .map(Value::from)
                .collect();
            assert_eq!(names, want_names, "{file}: columns");
            assert_eq!(
                table["rows"][0]["cells"], case["row"],
                "{file}: row of {}",
                case["object"]
            );
            assert_eq!(table["rows"][0]["object"], Value::Null);
            count += 1;
        }
    }
    assert!(count >= 15, "only {count} table cases ran");
}

#[test]
fn field_selector_cases() {
    for (file, spec) in data_files() {
        let r = rules(&file, &spec);
        for label in r.field_labels() {
            assert!(
                r.field_value(&json!({}), label).is_some(),
                "{file}: declared label {label} has no value"
            );
        }
        for case in spec["fields"].as_array().into_iter().flatten() {
            for (field, want) in case["values"].as_object().expect("values") {
                let got = r.field_value(&case["object"], field);
                assert_eq!(
                    got.map(Value::from).unwrap_or(Value::Null),
                    *want,
                    "{file}: {field}"
                );
            }
        }
    }
}

#[test]
fn type_properties() {
    // (group, kind, namespaced, name rule, status subresource)
    let cases = [
        ("", "Namespace", false, NameRule::Dns1123Label, true),
        ("", "ConfigMap", true, NameRule::Dns1123Subdomain, false),
        ("", "Secret", true, NameRule::Dns1123Subdomain, false),
        (
            "",
            "ServiceAccount",
            true,
            NameRule::Dns1123Subdomain,
            false,
        ),
        ("", "Event", true, NameRule::PathSegment, false),
        (
            "events.k8s.io",
            "Event",
            true,
            NameRule::Dns1123Subdomain,
            false,
        ),
        (
            "coordination.k8s.io",
            "Lease",
            true,
            NameRule::Dns1123Subdomain,
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "Role",
            true,
            NameRule::PathSegment,
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "ClusterRole",
            false,
            NameRule::PathSegment,
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "RoleBinding",
            true,
            NameRule::PathSegment,
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            false,
            NameRule::PathSegment,
            false,
        ),
        (
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            false,
            NameRule::Dns1123Subdomain,
            true,
        ),
    ];
    for (group, kind, namespaced, rule, status) in cases {
        let r = rules_for(group, kind).expect("registered");
        assert_eq!(r.namespaced(), namespaced, "{group}/{kind}");
        assert_eq!(r.name_rule(), rule, "{group}/{kind}");
        assert_eq!(r.has_status_subresource(), status, "{group}/{kind}");
        // Only the CRD counts generations (its strategy sets them).
        assert_eq!(
            r.tracks_generation(),
            group == "apiextensions.k8s.io",
            "{group}/{kind}"
        );
    }
    // The workload types are covered by `workload_types.rs`.
    assert!(REGISTRY.len() >= cases.len());
}

#[test]
fn size_limits() {
    use base64::Engine;
    let big = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 1024 * 1024 + 1]);
    let secret =
        json!({"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque", "data": {"a": big}});
    let got = messages(
        rules_for("", "Secret")
            .expect("secret")
            .validate_create(&secret),
    );
    assert_eq!(got, vec!["data: Too long: must have at most 1048576 bytes"]);

    let half = "x".repeat(512 * 1024);
    let cm = json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a": half, "b": half}});
    let r = rules_for("", "ConfigMap").expect("configmap");
    assert!(
        r.validate_create(&cm).is_empty(),
        "exactly 1 MiB is allowed"
    );
    let cm = json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a": half, "b": format!("{half}x")}});
    assert_eq!(
        messages(r.validate_create(&cm)),
        vec!["[]: Too long: must have at most 1048576 bytes"]
    );

    let long_message = "m".repeat(1025);
    let ev = json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"namespace": "default"},
        "eventTime": "2024-01-01T00:00:00.000000Z", "reportingComponent": "c", "reportingInstance": "i",
        "action": "a", "reason": "r", "message": long_message});
    assert_eq!(
        messages(rules_for("", "Event").expect("event").validate_create(&ev)),
        vec!["message: Invalid value: \"\": can have at most 1024 characters"]
    );
}
