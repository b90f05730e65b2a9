//! Field management: FieldsV1, field sets, path elements and comparisons.
//! The Update workflow on metadata.managedFields is in `fieldmanager_update.rs`.

mod fieldmanager_support;

use corral_apimachinery::fieldmanager::{
    DefaultListTypes, FieldManagerError, FieldPath, FieldSet, ListType, ListTypes,
    ManagedFieldsEntry, MapType, PathElement, TypeTable, compare, decode_managed_fields, field_set,
    schema_path,
};
use serde_json::{Value, json};

use fieldmanager_support::*;

#[test]
fn fields_v1_round_trips_byte_for_byte() {
    for text in REAL_FIELDS_V1 {
        let s = FieldSet::from_fields_v1_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(s.to_fields_v1_string(), *text);
        let v: Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(s.to_fields_v1(), v, "{text}");
        assert_eq!(FieldSet::from_fields_v1(&v).as_ref(), Ok(&s), "{text}");
    }
}

#[test]
fn fields_v1_paths_display_like_upstream() {
    let cases: &[(&str, &[&str])] = &[
        (REAL_FIELDS_V1[0], &[".data", ".data.a"]),
        (
            REAL_FIELDS_V1[4],
            &[
                ".spec.ports",
                ".spec.selector",
                ".spec.type",
                ".spec.ports[port=80,protocol=\"TCP\"]",
                ".spec.ports[port=80,protocol=\"TCP\"].port",
                ".spec.ports[port=80,protocol=\"TCP\"].protocol",
                ".spec.ports[port=80,protocol=\"TCP\"].targetPort",
            ],
        ),
        (
            REAL_FIELDS_V1[5],
            &[
                ".metadata.finalizers",
                ".metadata.finalizers[=\"example.com/a\"]",
                ".metadata.finalizers[=\"kubernetes\"]",
            ],
        ),
        (
            r#"{"f:a":{"i:3":{"f:b":{}}},"f:n":{"v:1.5":{},"v:2":{},"v:1e+06":{}}}"#,
            &[".a[3].b", ".n[=1.5]", ".n[=2]", ".n[=1e+06]"],
        ),
    ];
    for (text, want) in cases {
        let s = FieldSet::from_fields_v1_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(paths(&s), *want, "{text}");
        assert_eq!(s.len(), want.len());
    }
}

#[test]
fn fields_v1_lenient_forms() {
    // (input, canonical re-encoding): null and unknown element types as
    // upstream's reader treats them.
    let cases = [
        (r#"{}"#, r#"{}"#),
        (r#"null"#, r#"{}"#),
        (r#"{"f:a":null}"#, r#"{"f:a":{}}"#),
        (r#"{"x:future":{},"f:a":{}}"#, r#"{"f:a":{}}"#),
        (r#"{"f:a":{"z:unknown":{}}}"#, r#"{"f:a":{}}"#),
        (r#"{"f:a":{".":{}}}"#, r#"{"f:a":{}}"#),
        (
            r#"{"f:a":{".":{"f:x":{}},"f:b":{}}}"#,
            r#"{"f:a":{".":{},"f:b":{}}}"#,
        ),
        (
            r#"{"k:{\"b\":1,\"a\":\"x\"}":{}}"#,
            r#"{"k:{\"a\":\"x\",\"b\":1}":{}}"#,
        ),
        (
            r#"{"i:2":{},"v:true":{},"k:{}":{},"f:z":{}}"#,
            r#"{"f:z":{},"k:{}":{},"v:true":{},"i:2":{}}"#,
        ),
        (r#"{"f:a<b>":{}}"#, r#"{"f:a\u003cb\u003e":{}}"#),
    ];
    for (input, want) in cases {
        let s = FieldSet::from_fields_v1_str(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(s.to_fields_v1_string(), want, "{input}");
    }
}

#[test]
fn fields_v1_malformed_is_an_error() {
    let cases = [
        (
            r#"{"f:a":1}"#,
            "expected a JSON object at \"f:a\", got a number",
        ),
        (
            r#"{"f:a":[]}"#,
            "expected a JSON object at \"f:a\", got an array",
        ),
        (r#"{"x":{}}"#, "key must be 2 characters long:"),
        (r#"{"fa":{}}"#, "missing colon: fa"),
        (r#"{"f:a":{"q":{}}}"#, "key must be 2 characters long:"),
        (
            r#"{"k:[1]":{}}"#,
            "parsing key \"k:[1]\": key fields must be a JSON object",
        ),
        (r#"[]"#, "FieldsV1 must be a JSON object, got an array"),
        (r#""f:a""#, "FieldsV1 must be a JSON object, got a string"),
    ];
    for (input, want) in cases {
        assert_eq!(
            FieldSet::from_fields_v1_str(input),
            Err(FieldManagerError::FieldsV1(want.to_string())),
            "{input}"
        );
    }
    for input in [
        r#"{"v:nope":{}}"#,
        r#"{"k:{":{}}"#,
        r#"{"i:-1":{}}"#,
        r#"{"i:x":{}}"#,
        "{} {}",
        "{",
        "",
    ] {
        assert!(FieldSet::from_fields_v1_str(input).is_err(), "{input}");
    }
}

#[test]
fn set_algebra() {
    let a = set(json!({"f:a":{".":{},"f:b":{},"f:c":{"f:d":{}}},"f:x":{}}));
    let b = set(json!({"f:a":{"f:b":{}},"f:x":{},"f:y":{}}));
    let status = FieldSet::from_dotted(&["a"]);
    let cases: [(&str, FieldSet, Value); 6] = [
        (
            "union",
            a.union(&b),
            json!({"f:a":{".":{},"f:b":{},"f:c":{"f:d":{}}},"f:x":{},"f:y":{}}),
        ),
        (
            "intersection",
            a.intersection(&b),
            json!({"f:a":{"f:b":{}},"f:x":{}}),
        ),
        (
            "difference",
            a.difference(&b),
            json!({"f:a":{".":{},"f:c":{"f:d":{}}}}),
        ),
        (
            "difference keeps children of a removed member",
            a.difference(&status),
            json!({"f:a":{"f:b":{},"f:c":{"f:d":{}}},"f:x":{}}),
        ),
        (
            "recursive difference drops children",
            a.recursive_difference(&status),
            json!({"f:x":{}}),
        ),
        (
            "leaves",
            a.leaves(),
            json!({"f:a":{"f:b":{},"f:c":{"f:d":{}}},"f:x":{}}),
        ),
    ];
    for (name, got, want) in cases {
        assert_eq!(got.to_fields_v1(), want, "{name}");
    }
    assert!(a.difference(&a).is_empty());
    assert_eq!(a.difference(&a), FieldSet::new());
    assert!(a.contains(&FieldPath::fields(&["a", "c", "d"]).0));
    assert!(!a.contains(&FieldPath::fields(&["a", "c"]).0));
    assert_eq!(a.len(), 4);
    assert_eq!(a.to_string(), ".a\n.x\n.a.b\n.a.c.d");
}

#[test]
fn path_elements_order_and_equality() {
    let mut pes = vec![
        PathElement::Index(0),
        PathElement::Value(json!("a")),
        PathElement::Value(json!(true)),
        PathElement::Value(json!(2)),
        PathElement::Value(json!(1.5)),
        PathElement::key([("name", json!("b"))]),
        PathElement::key([("name", json!("a"))]),
        PathElement::field("z"),
        PathElement::field("a"),
    ];
    pes.sort();
    let shown: Vec<String> = pes.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            ".a",
            ".z",
            "[name=\"a\"]",
            "[name=\"b\"]",
            "[=1.5]",
            "[=2]",
            "[=\"a\"]",
            "[=true]",
            "[0]"
        ]
    );
    // Numbers compare numerically, as upstream's value.Compare.
    assert_eq!(PathElement::Value(json!(1)), PathElement::Value(json!(1.0)));
    assert_eq!(
        PathElement::key([("b", json!(1)), ("a", json!("x"))]).serialize(),
        r#"k:{"a":"x","b":1}"#
    );
}

#[test]
fn field_sets_of_objects() {
    let types = deployment_types();
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "configmap: map keys are members, the struct field is not",
            json!({"data": {"a": "1", "b": "2"}, "metadata": {"labels": {"app": "x"}}}),
            json!({"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}),
        ),
        (
            "nested structs are not members, empty and null values are",
            json!({"spec": {"strategy": {"type": "Recreate"}, "securityContext": {}, "x": null}}),
            json!({"f:spec": {"f:securityContext": {}, "f:strategy": {"f:type": {}}, "f:x": {}}}),
        ),
        (
            "elements map: nested object values are members too",
            json!({"data": {"k": {"n": 1}}}),
            json!({"f:data": {"f:k": {".": {}, "f:n": {}}}}),
        ),
        (
            "atomic list and atomic map are single members",
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "args": ["x", "y"]}}),
            json!({"f:spec": {"f:args": {}, "f:selector": {}}}),
        ),
        (
            "set list: items by value",
            json!({"metadata": {"finalizers": ["b", "a"]}}),
            json!({"f:metadata": {"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}}}),
        ),
        (
            "granular empty list under a struct contributes nothing",
            json!({"metadata": {"finalizers": []}}),
            json!({}),
        ),
        (
            "list-map: items by key, nested list-map",
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": "i", "env": [{"name": "E", "value": "v"}]}
            ]}}}}),
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {
                ".": {}, "f:env": {"k:{\"name\":\"E\"}": {".": {}, "f:name": {}, "f:value": {}}},
                "f:image": {}, "f:name": {}
            }}}}}}),
        ),
        (
            "duplicated keys: recorded once, as a leaf",
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": "a"}, {"name": "c", "image": "b"}, {"name": "d"}
            ]}}}}),
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"c\"}": {}, "k:{\"name\":\"d\"}": {".": {}, "f:name": {}}
            }}}}}),
        ),
        (
            "multi-key list-map",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "ports": [
                {"containerPort": 80, "protocol": "TCP"}
            ]}]}}}}),
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {
                ".": {}, "f:name": {},
                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}}
            }}}}}}),
        ),
    ];
    for (name, obj, want) in cases {
        let got = field_set(&obj, &types).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.to_fields_v1(), want, "{name}");
    }
}

#[test]
fn field_set_rejects_unidentifiable_items() {
    let types = deployment_types();
    let cases = [
        (
            json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
            ".spec.template.spec.containers: element 0: associative list with keys has an element that omits key field \"name\" (and doesn't have default value)",
        ),
        (
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, "x"]}}}}),
            ".spec.template.spec.containers: element 1: associative list with keys may not have non-map elements",
        ),
        (
            json!({"metadata": {"finalizers": [{"a": 1}]}}),
            ".metadata.finalizers: element 0: associative list without keys has an element that's a map type",
        ),
        (
            json!({"metadata": {"finalizers": ["a", null]}}),
            ".metadata.finalizers: element 1: associative list without keys has an element that's an explicit null",
        ),
    ];
    for (obj, want) in cases {
        let err = field_set(&obj, &types).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some(want), "{obj}");
        assert_eq!(
            compare(&json!({}), &obj, &types)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some(want)
        );
    }
}

#[test]
fn comparisons() {
    let types = deployment_types();
    // (old, new, added, modified, removed)
    type Case = (
        Value,
        Value,
        &'static [&'static str],
        &'static [&'static str],
        &'static [&'static str],
    );
    let cases: Vec<Case> = vec![
        (json!({"a": 1}), json!({"a": 1}), &[], &[], &[]),
        (json!({"a": 1}), json!({"a": 1.0}), &[], &[], &[]),
        (
            json!({"a": 1}),
            json!({"a": 2, "b": 3}),
            &[".b"],
            &[".a"],
            &[],
        ),
        (
            json!({"data": {"x": "1"}}),
            json!({}),
            &[],
            &[],
            &[".data", ".data.x"],
        ),
        (
            json!({}),
            json!({"data": {"x": "1"}}),
            &[".data", ".data.x"],
            &[],
            &[],
        ),
        (
            json!({"data": null}),
            json!({"data": {"x": "1"}}),
            &[".data.x"],
            &[],
            &[],
        ),
        (json!({}), json!({"s": {}}), &[".s"], &[], &[]),
        (json!({"s": {}}), json!({"s": null}), &[], &[".s"], &[]),
        (
            json!({"spec": {"args": ["a"]}}),
            json!({"spec": {"args": ["b"]}}),
            &[],
            &[".spec.args"],
            &[],
        ),
        (
            json!({"spec": {"selector": {"a": "1"}}}),
            json!({"spec": {"selector": {"a": "2", "b": "1"}}}),
            &[],
            &[".spec.selector"],
            &[],
        ),
        (
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["b", "c"]}}),
            &[".metadata.finalizers[=\"c\"]"],
            &[],
            &[".metadata.finalizers[=\"a\"]"],
        ),
        (
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "b"}, {"name": "a", "image": "2"}]}}}}),
            &[],
            &[".spec.template.spec.containers[name=\"a\"].image"],
            &[],
        ),
        (
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}}),
            &[".spec.template.spec.containers[name=\"a\"]"],
            &[],
            &[
                ".spec.template.spec.containers[name=\"a\"]",
                ".spec.template.spec.containers[name=\"a\"].name",
            ],
        ),
        (
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "a"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}, {"name": "a"}]}}}}),
            &[],
            &[".spec.template.spec.containers[name=\"a\"]"],
            &[],
        ),
        (
            json!({"v": "x"}),
            json!({"v": {"a": 1}}),
            &[".v.a"],
            &[".v"],
            &[],
        ),
    ];
    for (old, new, added, modified, removed) in cases {
        let c = compare(&old, &new, &types).unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
        assert_eq!(paths(&c.added), *added, "added: {old} -> {new}");
        assert_eq!(paths(&c.modified), *modified, "modified: {old} -> {new}");
        assert_eq!(paths(&c.removed), *removed, "removed: {old} -> {new}");
        assert_eq!(
            c.is_same(),
            added.is_empty() && modified.is_empty() && removed.is_empty()
        );
    }
}

#[test]
fn type_tables_and_schema_paths() {
    let path = vec![
        PathElement::field("spec"),
        PathElement::field("containers"),
        PathElement::key([("name", json!("c"))]),
        PathElement::field("ports"),
    ];
    assert_eq!(schema_path(&path), "spec.containers[].ports");
    assert_eq!(
        FieldPath(path.clone()).to_string(),
        ".spec.containers[name=\"c\"].ports"
    );
    let t = TypeTable::new().list("spec.containers[].ports", ListType::map(&["containerPort"]));
    assert_eq!(
        t.list_type(&path),
        ListType::Map {
            keys: vec!["containerPort".into()]
        }
    );
    let labels = [
        PathElement::field("spec"),
        PathElement::field("template"),
        PathElement::field("metadata"),
        PathElement::field("labels"),
    ];
    assert_eq!(t.map_type(&labels), MapType::Elements);
    assert_eq!(t.map_type(&labels[..2]), MapType::Fields);
    let owners = [
        PathElement::field("metadata"),
        PathElement::field("ownerReferences"),
    ];
    assert_eq!(DefaultListTypes.list_type(&owners), ListType::map(&["uid"]));
    assert_eq!(DefaultListTypes.list_type(&labels[..1]), ListType::Atomic);
    let _ = ManagedFieldsEntry::update("m", "v1", Some(""));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn element() -> impl Strategy<Value = PathElement> {
        prop_oneof![
            "[a-c<\"]{0,3}".prop_map(PathElement::field),
            (0usize..4).prop_map(PathElement::Index),
            prop_oneof![
                Just(json!(1)),
                Just(json!(1.5)),
                Just(json!("x")),
                Just(json!(true)),
                Just(json!(null))
            ]
            .prop_map(PathElement::Value),
            ("[ab]", 0i64..3, "[xy]{0,2}").prop_map(|(k, n, s)| {
                PathElement::key([(k, json!(n)), ("z".to_string(), json!(s))])
            }),
        ]
    }

    proptest! {
        #[test]
        fn random_sets_round_trip(paths in prop::collection::vec(prop::collection::vec(element(), 1..4), 0..12)) {
            let s = FieldSet::from_paths(paths.into_iter().map(FieldPath));
            let text = s.to_fields_v1_string();
            let from_text = FieldSet::from_fields_v1_str(&text);
            prop_assert_eq!(from_text.as_ref(), Ok(&s));
            let from_value = FieldSet::from_fields_v1(&s.to_fields_v1());
            prop_assert_eq!(from_value.as_ref(), Ok(&s));
            let parsed: Value = serde_json::from_str(&text).unwrap_or_default();
            prop_assert_eq!(parsed, s.to_fields_v1());
            prop_assert_eq!(s.paths().len(), s.len());
            prop_assert!(s.difference(&s).is_empty());
            prop_assert_eq!(s.union(&FieldSet::new()), s.clone());
        }

        #[test]
        fn parsing_never_panics(text in "[{}\":fkvi.,\\[\\]0-9a-z ]{0,40}") {
            let _ = FieldSet::from_fields_v1_str(&text);
            let _ = decode_managed_fields(serde_json::from_str::<Value>(&text).ok().as_ref());
        }
    }
}
