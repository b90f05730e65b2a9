//! Field selector parsing, escaping, matching and messages.

use corral_apimachinery::fields::{FieldSelector, escape_value, unescape_value};
use std::collections::HashMap;

fn lookup_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |f: &str| map.get(f).cloned()
}

/// (selector, the object's field values, expected match)
type MatchCase = (&'static str, Vec<(&'static str, &'static str)>, bool);

#[test]
fn parse_and_match() {
    // (selector, object fields, expected match)
    let cases: Vec<MatchCase> = vec![
        ("", vec![("a", "b")], true),
        (",,", vec![], true),
        ("metadata.name=foo", vec![("metadata.name", "foo")], true),
        ("metadata.name==foo", vec![("metadata.name", "foo")], true),
        ("metadata.name!=foo", vec![("metadata.name", "bar")], true),
        ("metadata.name=foo", vec![("metadata.name", "bar")], false),
        ("metadata.name!=foo", vec![("metadata.name", "foo")], false),
        // missing fields read as ""
        ("spec.x=", vec![], true),
        ("spec.x!=", vec![], false),
        ("spec.x!=a", vec![], true),
        ("a=1,b=2", vec![("a", "1"), ("b", "2")], true),
        ("a=1,b=2", vec![("a", "1"), ("b", "3")], false),
        // escaping
        (r"a=x\,y", vec![("a", "x,y")], true),
        (r"a=x\=y", vec![("a", "x=y")], true),
        (r"a=x\\y", vec![("a", r"x\y")], true),
        (r"a=x\\,b=c", vec![("a", r"x\"), ("b", "c")], true),
        // the first operator splits; the left side is not unescaped
        ("a==b", vec![("a", "b")], true),
        ("a!b=c", vec![("a!b", "c")], true),
        ("=x", vec![("", "x")], true),
        ("a=é", vec![("a", "é")], true),
    ];
    for (sel, fields, want) in cases {
        let s = FieldSelector::parse(sel).unwrap_or_else(|e| panic!("{sel:?}: {e}"));
        assert_eq!(
            s.matches(&lookup_from(&fields)),
            want,
            "{sel:?} on {fields:?}"
        );
    }
}

#[test]
fn parse_errors() {
    let cases = [
        ("a", "invalid selector: 'a'; can't understand 'a'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        // parts are sorted before parsing, so 'b' is reported before 'z'
        ("z,b", "invalid selector: 'z,b'; can't understand 'b'"),
        (
            "a===b",
            "invalid field selector: unescaped character in value: 61",
        ),
        (
            r"a=b\,c,d",
            r"invalid selector: 'a=b\,c,d'; can't understand 'd'",
        ),
        (
            r"a=b\c",
            r"invalid field selector: invalid escape sequence: \c",
        ),
        (
            r"a=b\",
            r"invalid field selector: invalid escape sequence: \",
        ),
        (
            "a=b=c",
            "invalid field selector: unescaped character in value: 61",
        ),
    ];
    for (sel, want) in cases {
        match FieldSelector::parse(sel) {
            Ok(s) => panic!("{sel:?} parsed as {s}"),
            Err(e) => assert_eq!(e.to_string(), want, "{sel:?}"),
        }
    }
}

#[test]
fn escape_round_trip() {
    let cases = [
        ("", ""),
        ("plain", "plain"),
        ("a,b", r"a\,b"),
        ("a=b", r"a\=b"),
        (r"a\b", r"a\\b"),
        (r"\,=", r"\\\,\="),
    ];
    for (raw, escaped) in cases {
        assert_eq!(escape_value(raw), escaped);
        assert_eq!(unescape_value(escaped).as_deref(), Ok(raw));
    }
    assert_eq!(
        unescape_value("a,b").map_err(|e| e.to_string()),
        Err("invalid field selector: unescaped character in value: 44".to_string())
    );
}

#[test]
fn display_and_helpers() {
    let s = FieldSelector::parse(r"b==x\,y,a!=1").expect("valid");
    assert_eq!(s.to_string(), r"a!=1,b=x\,y");
    assert_eq!(s.fields().collect::<Vec<_>>(), vec!["a", "b"]);
    assert!(!s.is_empty());
    assert_eq!(s.exact_name(), None);
    assert_eq!(s.requires_exact_match("b"), Some("x,y"));

    let cases = [
        ("metadata.name=foo", Some("foo")),
        ("metadata.name==foo", Some("foo")),
        ("metadata.name!=foo", None),
        ("metadata.name=foo,metadata.namespace=bar", None),
        ("metadata.namespace=foo", None),
        ("", None),
    ];
    for (sel, want) in cases {
        let s = FieldSelector::parse(sel).expect("valid");
        assert_eq!(s.exact_name(), want, "{sel:?}");
    }
    assert!(FieldSelector::parse("").expect("valid").is_empty());
}
