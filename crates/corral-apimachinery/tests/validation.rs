//! Name checks, field error formatting and metadata validation.

use corral_apimachinery::validation::{
    ErrorType, FieldError, NameRule, aggregate_message, invalid_status, is_config_map_key,
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
    is_valid_path_segment_name, prepare_object_meta_update, validate_label_selector,
    validate_object_meta, validate_object_meta_update,
};
use serde_json::{Value, json};

const SUB: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CM_KEY: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

type Check = fn(&str) -> Vec<String>;

#[test]
fn name_checks() {
    let a254 = "a".repeat(254);
    let a64 = "a".repeat(64);
    let cases: Vec<(Check, &str, Vec<&str>)> = vec![
        (is_dns1123_subdomain, "example.com", vec![]),
        (is_dns1123_subdomain, "a-1.b-2", vec![]),
        (is_dns1123_subdomain, "Foo", vec![SUB]),
        (is_dns1123_subdomain, "", vec![SUB]),
        (is_dns1123_subdomain, "a..b", vec![SUB]),
        (is_dns1123_subdomain, "-a", vec![SUB]),
        (is_dns1123_subdomain, "a_b", vec![SUB]),
        (
            is_dns1123_subdomain,
            &a254,
            vec!["must be no more than 253 bytes"],
        ),
        (is_dns1123_label, "my-name", vec![]),
        (is_dns1123_label, "a.b", vec!["must not contain dots"]),
        (is_dns1123_label, "Foo", vec![LABEL]),
        (is_dns1123_label, "", vec![LABEL]),
        (is_dns1123_label, "a-", vec![LABEL]),
        (
            is_dns1123_label,
            &a64,
            vec!["must be no more than 63 bytes"],
        ),
        (is_qualified_name, "app", vec![]),
        (is_qualified_name, "example.com/My_Name.1", vec![]),
        (
            is_qualified_name,
            "",
            vec!["name part must be non-empty", NAME_PART],
        ),
        (is_qualified_name, "_a", vec![NAME_PART]),
        (
            is_qualified_name,
            "/a",
            vec!["prefix part must be non-empty"],
        ),
        (
            is_qualified_name,
            &a64,
            vec!["name part must be no more than 63 bytes"],
        ),
        (is_valid_label_value, "", vec![]),
        (is_valid_label_value, "v1.2_3-x", vec![]),
        (is_valid_label_value, "a b", vec![VALUE]),
        (
            is_valid_label_value,
            &a64,
            vec!["must be no more than 63 bytes"],
        ),
        (is_config_map_key, "key.name", vec![]),
        (is_config_map_key, "KEY_NAME-1", vec![]),
        (is_config_map_key, ".", vec!["must not be '.'"]),
        (is_config_map_key, "..", vec!["must not be '..'"]),
        (is_config_map_key, "..a", vec!["must not start with '..'"]),
        (is_config_map_key, "Foo Bar", vec![CM_KEY]),
        (is_config_map_key, "", vec![CM_KEY]),
        (
            is_config_map_key,
            &a254,
            vec!["must be no more than 253 bytes"],
        ),
        (is_valid_path_segment_name, "system:admin", vec![]),
        (is_valid_path_segment_name, ".", vec!["may not be '.'"]),
        (is_valid_path_segment_name, "..", vec!["may not be '..'"]),
        (
            is_valid_path_segment_name,
            "a/b%",
            vec!["may not contain '/'", "may not contain '%'"],
        ),
    ];
    for (check, input, want) in cases {
        assert_eq!(check(input), want, "input {input:?}");
    }
}

#[test]
fn name_rules_with_prefix() {
    let cases = [
        (NameRule::Dns1123Subdomain, "foo-", true, 0),
        (NameRule::Dns1123Subdomain, "foo-", false, 1),
        (NameRule::Dns1123Label, "ns-", true, 0),
        (NameRule::Dns1123Label, "-", true, 1),
        (NameRule::PathSegment, "x-", true, 0),
    ];
    for (rule, name, prefix, errors) in cases {
        assert_eq!(
            rule.validate(name, prefix).len(),
            errors,
            "{rule:?} {name:?}"
        );
    }
}

#[test]
fn field_error_display() {
    let cases = [
        (
            FieldError::invalid("metadata.name", "Foo", SUB),
            format!("metadata.name: Invalid value: \"Foo\": {SUB}"),
        ),
        (
            FieldError::required("metadata.name", "name or generateName is required"),
            "metadata.name: Required value: name or generateName is required".into(),
        ),
        (
            FieldError::required("metadata.namespace", ""),
            "metadata.namespace: Required value".into(),
        ),
        (
            FieldError::forbidden("metadata.namespace", "not allowed on this type"),
            "metadata.namespace: Forbidden: not allowed on this type".into(),
        ),
        (
            FieldError::too_long("metadata.annotations", 262144),
            "metadata.annotations: Too long: must have at most 262144 bytes".into(),
        ),
        (
            FieldError::too_many("items", 5, 3),
            "items: Too many: 5: must have at most 3 items".into(),
        ),
        (
            FieldError::not_supported("roleRef.kind", "Foo", &["Role", "ClusterRole"]),
            "roleRef.kind: Unsupported value: \"Foo\": supported values: \"Role\", \"ClusterRole\""
                .into(),
        ),
        (
            FieldError::duplicate("x", "a"),
            "x: Duplicate value: \"a\"".into(),
        ),
        (
            FieldError::invalid("spec.leaseDurationSeconds", 0, "must be greater than 0"),
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0".into(),
        ),
        (
            FieldError::invalid("x", Value::Null, "d"),
            "x: Invalid value: \"null\": d".into(),
        ),
        (
            FieldError::invalid("x", "tab\t\"q\"", "d"),
            "x: Invalid value: \"tab\\t\\\"q\\\"\": d".into(),
        ),
        (
            FieldError::invalid("x", json!(["a", "b"]), "d"),
            "x: Invalid value: []string{\"a\", \"b\"}: d".into(),
        ),
        (
            FieldError::type_invalid("x", true, "must be a string"),
            "x: Invalid value: true: must be a string".into(),
        ),
    ];
    for (err, want) in cases {
        assert_eq!(err.to_string(), want);
    }
    let reasons = [
        (ErrorType::Required, "FieldValueRequired"),
        (ErrorType::Invalid, "FieldValueInvalid"),
        (ErrorType::Forbidden, "FieldValueForbidden"),
        (ErrorType::TooLong, "FieldValueTooLong"),
        (ErrorType::TooMany, "FieldValueTooMany"),
        (ErrorType::NotSupported, "FieldValueNotSupported"),
        (ErrorType::Duplicate, "FieldValueDuplicate"),
        (ErrorType::TypeInvalid, "FieldValueTypeInvalid"),
    ];
    for (ty, want) in reasons {
        assert_eq!(FieldError::new("p", ty, None, "").reason(), want);
    }
}

#[test]
fn object_meta_create() {
    let a254 = "a".repeat(254);
    let big = "x".repeat(262144);
    // (metadata, namespaced, rule, expected messages)
    let cases: Vec<(Value, bool, NameRule, Vec<String>)> = vec![
        (
            json!({"name": "ok", "namespace": "default", "labels": {"app": "web"}}),
            true,
            NameRule::Dns1123Subdomain,
            vec![],
        ),
        (
            json!({"name": "Foo", "namespace": "default"}),
            true,
            NameRule::Dns1123Subdomain,
            vec![format!("metadata.name: Invalid value: \"Foo\": {SUB}")],
        ),
        (
            json!({"namespace": "default"}),
            true,
            NameRule::Dns1123Subdomain,
            vec!["metadata.name: Required value: name or generateName is required".into()],
        ),
        (
            json!({"name": "", "namespace": "default"}),
            true,
            NameRule::Dns1123Subdomain,
            vec!["metadata.name: Required value: name or generateName is required".into()],
        ),
        (
            json!({"generateName": "foo-", "namespace": "default"}),
            true,
            NameRule::Dns1123Subdomain,
            vec![],
        ),
        (
            json!({"generateName": "Foo-", "namespace": "default"}),
            true,
            NameRule::Dns1123Subdomain,
            vec![format!("metadata.generateName: Invalid value: \"Foo-\": {SUB}")],
        ),
        (
            json!({"name": a254, "namespace": "default"}),
            true,
            NameRule::Dns1123Subdomain,
            vec![format!(
                "metadata.name: Invalid value: \"{a254}\": must be no more than 253 bytes"
            )],
        ),
        (
            json!({"name": "a.b"}),
            false,
            NameRule::Dns1123Label,
            vec!["metadata.name: Invalid value: \"a.b\": must not contain dots".into()],
        ),
        (
            json!({"name": "ok"}),
            true,
            NameRule::Dns1123Subdomain,
            vec!["metadata.namespace: Required value".into()],
        ),
        (
            json!({"name": "ok", "namespace": "x"}),
            false,
            NameRule::Dns1123Subdomain,
            vec!["metadata.namespace: Forbidden: not allowed on this type".into()],
        ),
        (
            json!({"name": "ok", "namespace": "Bad_NS"}),
            true,
            NameRule::Dns1123Subdomain,
            vec![format!("metadata.namespace: Invalid value: \"Bad_NS\": {LABEL}")],
        ),
        (
            json!({"name": "a/b"}),
            false,
            NameRule::PathSegment,
            vec!["metadata.name: Invalid value: \"a/b\": may not contain '/'".into()],
        ),
        (
            json!({"name": "system:controller:x"}),
            false,
            NameRule::PathSegment,
            vec![],
        ),
        (
            json!({"name": "ok", "labels": {"a b": "c", "k": "v v"}}),
            false,
            NameRule::Dns1123Subdomain,
            vec![
                format!("metadata.labels: Invalid value: \"a b\": {NAME_PART}"),
                format!("metadata.labels: Invalid value: \"v v\": {VALUE}"),
            ],
        ),
        (
            json!({"name": "ok", "labels": {"k": 5}}),
            false,
            NameRule::Dns1123Subdomain,
            vec!["metadata.labels[k]: Invalid value: 5: must be a string".into()],
        ),
        (
            json!({"name": "ok", "annotations": {"Example.com/Key": "x"}}),
            false,
            NameRule::Dns1123Subdomain,
            vec![],
        ),
        (
            json!({"name": "ok", "annotations": {"a b": "x"}}),
            false,
            NameRule::Dns1123Subdomain,
            vec![format!("metadata.annotations: Invalid value: \"a b\": {NAME_PART}")],
        ),
        (
            json!({"name": "ok", "annotations": {"a": big}}),
            false,
            NameRule::Dns1123Subdomain,
            vec!["metadata.annotations: Too long: must have at most 262144 bytes".into()],
        ),
        (
            json!({"name": "ok", "finalizers": ["orphan", "foregroundDeletion"]}),
            false,
            NameRule::Dns1123Subdomain,
            vec!["metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set".into()],
        ),
        (
            json!({"name": "ok", "finalizers": ["example.com/x", "bad finalizer"]}),
            false,
            NameRule::Dns1123Subdomain,
            vec![format!("metadata.finalizers: Invalid value: \"bad finalizer\": {NAME_PART}")],
        ),
        (
            json!({"name": "ok", "ownerReferences": [{}]}),
            false,
            NameRule::Dns1123Subdomain,
            vec![
                "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty".into(),
                "metadata.ownerReferences.kind: Invalid value: \"\": must not be empty".into(),
                "metadata.ownerReferences.name: Invalid value: \"\": must not be empty".into(),
                "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty".into(),
            ],
        ),
        (
            json!({"name": "ok", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": true},
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": true}
            ]}),
            false,
            NameRule::Dns1123Subdomain,
            vec![],
        ),
        (
            json!({"name": "ok", "generation": -1}),
            false,
            NameRule::Dns1123Subdomain,
            vec!["metadata.generation: Invalid value: -1: must be greater than or equal to 0".into()],
        ),
        (
            Value::Null,
            false,
            NameRule::Dns1123Subdomain,
            vec!["metadata: Required value".into()],
        ),
    ];
    for (i, (meta, namespaced, rule, want)) in cases.into_iter().enumerate() {
        let got: Vec<String> = validate_object_meta(&meta, namespaced, rule)
            .iter()
            .map(ToString::to_string)
            .collect();
        if i == 21 {
            // two controllers: one error whose message names both
            assert_eq!(got.len(), 1, "{got:?}");
            assert!(
                got[0].ends_with("Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and ReplicaSet/b"),
                "{got:?}"
            );
            continue;
        }
        assert_eq!(got, want, "case {i}: {meta}");
    }
}

#[test]
fn object_meta_update() {
    let base = json!({
        "name": "a", "namespace": "ns", "uid": "u1", "generation": 2,
        "creationTimestamp": "2024-01-01T00:00:00Z", "resourceVersion": "5"
    });
    let with = |patch: Value| {
        let mut m = base.clone();
        if let (Some(m), Some(p)) = (m.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                m.insert(k.clone(), v.clone());
            }
        }
        m
    };
    let cases: Vec<(Value, Value, Vec<&str>)> = vec![
        (with(json!({"labels": {"x": "y"}})), base.clone(), vec![]),
        (
            with(json!({"creationTimestamp": "2024-01-01T00:00:00.000000Z"})),
            base.clone(),
            vec![],
        ),
        (
            with(json!({"name": "b"})),
            base.clone(),
            vec!["metadata.name: Invalid value: \"b\": field is immutable"],
        ),
        (
            with(json!({"namespace": "other"})),
            base.clone(),
            vec!["metadata.namespace: Invalid value: \"other\": field is immutable"],
        ),
        (
            with(json!({"uid": "u2"})),
            base.clone(),
            vec!["metadata.uid: Invalid value: \"u2\": field is immutable"],
        ),
        (
            with(json!({"creationTimestamp": "2024-01-02T00:00:00Z"})),
            base.clone(),
            vec![
                "metadata.creationTimestamp: Invalid value: \"2024-01-02T00:00:00Z\": field is immutable",
            ],
        ),
        (
            with(json!({"generation": 1})),
            base.clone(),
            vec!["metadata.generation: Invalid value: 1: must not be decremented"],
        ),
        (
            with(
                json!({"deletionTimestamp": "2024-02-01T00:00:00Z", "finalizers": ["a", "c", "b"]}),
            ),
            with(json!({"deletionTimestamp": "2024-02-01T00:00:00Z", "finalizers": ["a"]})),
            vec![
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b\", \"c\"}",
            ],
        ),
        (
            with(json!({"labels": {"bad key": "v"}})),
            base.clone(),
            vec![
                "metadata.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ],
        ),
    ];
    for (new, old, want) in cases {
        let got: Vec<String> = validate_object_meta_update(&new, &old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, want, "new {new}");
    }

    // BeforeUpdate fix-ups: uid and creationTimestamp come from the old object.
    let mut new =
        json!({"name": "a", "namespace": "ns", "creationTimestamp": "2030-01-01T00:00:00Z"});
    prepare_object_meta_update(&mut new, &base);
    assert_eq!(new["uid"], "u1");
    assert_eq!(new["creationTimestamp"], "2024-01-01T00:00:00Z");
    assert!(validate_object_meta_update(&new, &base).is_empty());
}

#[test]
fn label_selector_validation() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"matchLabels": {"a": "b"}}), vec![]),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
            vec![
                "sel.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            ],
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            vec![
                "sel.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ],
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
            vec![
                "sel.matchExpressions[0].operator: Invalid value: \"Gt\": not a valid selector operator",
            ],
        ),
    ];
    for (sel, want) in cases {
        let got: Vec<String> = validate_label_selector(&sel, "sel")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, want, "{sel}");
    }
}

#[test]
fn aggregate_and_status() {
    let errs = vec![
        FieldError::invalid("data[Foo Bar]", "Foo Bar", "bad"),
        FieldError::required("data[x]", ""),
        FieldError::required("data[x]", ""),
    ];
    assert_eq!(
        aggregate_message(&errs),
        "[data[Foo Bar]: Invalid value: \"Foo Bar\": bad, data[x]: Required value]"
    );
    assert_eq!(
        aggregate_message(&errs[..1]),
        "data[Foo Bar]: Invalid value: \"Foo Bar\": bad"
    );
    assert_eq!(aggregate_message(&[]), "");

    let status = invalid_status("rbac.authorization.k8s.io", "Role", "r", &errs[..1]);
    assert_eq!(
        status,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Role.rbac.authorization.k8s.io \"r\" is invalid: data[Foo Bar]: Invalid value: \"Foo Bar\": bad",
            "reason": "Invalid",
            "details": {"name": "r", "group": "rbac.authorization.k8s.io", "kind": "Role",
                "causes": [{"reason": "FieldValueInvalid", "message": "Invalid value: \"Foo Bar\": bad", "field": "data[Foo Bar]"}]},
            "code": 422
        })
    );
    let core = invalid_status("", "ConfigMap", "c", &[]);
    assert_eq!(core["message"], "ConfigMap \"c\" is invalid");
    assert!(core["details"].get("group").is_none());
}
