//! Property tests: the parsers never panic, and Display-then-parse of a
//! parsed selector gives the same selector.

use corral_apimachinery::continuation;
use corral_apimachinery::fields::FieldSelector;
use corral_apimachinery::labels::Selector;
use proptest::prelude::*;

/// Strings biased towards selector syntax so that many of them parse.
fn selector_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("a".to_string()),
            Just("b.c/d-e".to_string()),
            Just("in".to_string()),
            Just("notin".to_string()),
            Just("=".to_string()),
            Just("==".to_string()),
            Just("!=".to_string()),
            Just("!".to_string()),
            Just(",".to_string()),
            Just("(".to_string()),
            Just(")".to_string()),
            Just(" ".to_string()),
            Just(">".to_string()),
            Just("<".to_string()),
            Just("\\".to_string()),
            Just("1".to_string()),
            Just("-2".to_string()),
            Just("x_y".to_string()),
            Just("\u{0}".to_string()),
            "[a-z]{1,3}".prop_map(|s| s),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn label_parse_never_panics(s in any::<String>()) {
        let _ = Selector::parse(&s);
    }

    #[test]
    fn field_parse_never_panics(s in any::<String>()) {
        let _ = FieldSelector::parse(&s);
    }

    #[test]
    fn continue_decode_never_panics(s in any::<String>()) {
        let _ = continuation::decode(&s);
    }

    #[test]
    fn label_display_round_trips(s in selector_like()) {
        if let Ok(sel) = Selector::parse(&s) {
            let text = sel.to_string();
            let again = Selector::parse(&text);
            prop_assert_eq!(again.as_ref().ok(), Some(&sel), "{:?} -> {:?} -> {:?}", s, text, again);
        }
    }

    #[test]
    fn field_display_round_trips(s in selector_like()) {
        if let Ok(sel) = FieldSelector::parse(&s) {
            let text = sel.to_string();
            let again = FieldSelector::parse(&text);
            prop_assert_eq!(again.as_ref().ok(), Some(&sel), "{:?} -> {:?} -> {:?}", s, text, again);
        }
    }

    #[test]
    fn field_display_round_trips_any(s in any::<String>()) {
        if let Ok(sel) = FieldSelector::parse(&s) {
            let text = sel.to_string();
            prop_assert_eq!(FieldSelector::parse(&text).ok(), Some(sel));
        }
    }

    #[test]
    fn continue_round_trips(rv in any::<i64>().prop_filter("non-zero", |v| *v != 0), key in "[a-z0-9./<>&\"\\\\-]{1,20}") {
        prop_assume!(!key.split('/').any(|s| s == "." || s == ".."));
        prop_assert_eq!(continuation::decode(&continuation::encode(rv, &key)), Ok((rv, key.clone())));
    }
}

/// Arbitrary JSON, biased towards the field names the rules look at.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let key = prop_oneof![
        Just("metadata".to_string()),
        Just("name".to_string()),
        Just("namespace".to_string()),
        Just("labels".to_string()),
        Just("annotations".to_string()),
        Just("finalizers".to_string()),
        Just("ownerReferences".to_string()),
        Just("creationTimestamp".to_string()),
        Just("data".to_string()),
        Just("binaryData".to_string()),
        Just("stringData".to_string()),
        Just("type".to_string()),
        Just("immutable".to_string()),
        Just("spec".to_string()),
        Just("status".to_string()),
        Just("rules".to_string()),
        Just("subjects".to_string()),
        Just("roleRef".to_string()),
        Just("involvedObject".to_string()),
        Just("regarding".to_string()),
        Just("series".to_string()),
        Just("eventTime".to_string()),
        Just("apiVersion".to_string()),
        "[a-zA-Z.]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
        Just(Value::from("2024-01-01T00:00:00Z")),
        Just(Value::from("events.k8s.io/v1")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn rules_never_panic_on_arbitrary_json(obj in json_value(), old in json_value()) {
        use corral_apimachinery::table::{IncludeObject, build_table};
        use corral_apimachinery::types::REGISTRY;
        use corral_apimachinery::validation::{
            NameRule, prepare_object_meta_update, validate_label_selector, validate_object_meta,
            validate_object_meta_update,
        };
        for (_, _, rules) in REGISTRY {
            let _ = rules.validate_create(&obj);
            let _ = rules.validate_update(&obj, &old);
            let mut created = obj.clone();
            rules.default_on_create(&mut created);
            let mut updated = obj.clone();
            rules.prepare_for_update(&mut updated, &old);
            for label in rules.field_labels() {
                let _ = rules.field_value(&obj, label);
            }
            let cells = rules.cells(&obj);
            let _ = build_table(rules.columns(), vec![(obj.clone(), cells)], IncludeObject::Metadata, time::OffsetDateTime::UNIX_EPOCH);
        }
        for rule in [NameRule::Dns1123Subdomain, NameRule::Dns1123Label, NameRule::PathSegment] {
            let _ = validate_object_meta(&obj, true, rule);
        }
        let _ = validate_object_meta_update(&obj, &old);
        let mut m = obj.clone();
        prepare_object_meta_update(&mut m, &old);
        let _ = validate_label_selector(&obj, "s");
        let _ = Selector::from_label_selector(&obj);
        let _ = corral_apimachinery::events::events_v1_to_core(&obj);
        let _ = corral_apimachinery::events::core_to_events_v1(&obj);
    }
}
