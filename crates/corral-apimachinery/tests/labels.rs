//! Label selector parsing, matching and messages (cases from upstream's
//! selector documentation and tests).

use corral_apimachinery::labels::Selector;
use serde_json::{Value, json};

const NAME_REGEX_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_REGEX_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn labels(v: Value) -> Option<serde_json::Map<String, Value>> {
    match v {
        Value::Null => None,
        Value::Object(m) => Some(m),
        other => panic!("bad test labels {other}"),
    }
}

#[test]
fn parse_and_match() {
    // (selector, labels, expected match)
    let cases: Vec<(&str, Value, bool)> = vec![
        ("", json!({"x": "y"}), true),
        ("", Value::Null, true),
        ("x=y", json!({"x": "y"}), true),
        ("x==y", json!({"x": "y"}), true),
        ("x=y,z=w", json!({"x": "y", "z": "w"}), true),
        ("x!=y,z!=w", json!({"x": "z", "z": "a"}), true),
        ("notin=in", json!({"notin": "in"}), true),
        ("in in (in)", json!({"in": "in"}), true),
        ("x", json!({"x": "z"}), true),
        ("!x", json!({"y": "z"}), true),
        ("!x", Value::Null, true),
        ("x>1", json!({"x": "2"}), true),
        ("x<1", json!({"x": "0"}), true),
        ("x<1", json!({"x": "-5"}), true),
        ("x in (a,b)", json!({"x": "a"}), true),
        ("x in (,a)", json!({"x": ""}), true),
        ("x notin (a,b)", json!({}), true),
        ("x notin (a,b)", json!({"x": "c"}), true),
        ("x=", json!({"x": ""}), true),
        ("x!=", json!({"x": "a"}), true),
        (" x = y , z ", json!({"x": "y", "z": "1"}), true),
        (
            "example.com/app=web",
            json!({"example.com/app": "web"}),
            true,
        ),
        ("x=z", json!({}), false),
        ("x=z", Value::Null, false),
        ("x=y", json!({"x": "z"}), false),
        ("x=y,z=w", json!({"x": "w", "z": "w"}), false),
        ("x!=y,z!=w", json!({"x": "z", "z": "w"}), false),
        ("x", json!({"y": "z"}), false),
        ("!x", json!({"x": "z"}), false),
        ("x>1", json!({"x": "0"}), false),
        ("x>1", json!({"x": "1"}), false),
        ("x>1", json!({"x": "abc"}), false),
        ("x>1", json!({}), false),
        ("x<1", json!({"x": "2"}), false),
        ("x in (a,b)", json!({"x": "c"}), false),
        ("x in (a,b)", json!({}), false),
        ("x notin (a)", json!({"x": "a"}), false),
        ("x=", json!({}), false),
    ];
    for (sel, lbls, want) in cases {
        let s = Selector::parse(sel).unwrap_or_else(|e| panic!("{sel:?}: {e}"));
        assert_eq!(
            s.matches(labels(lbls.clone()).as_ref()),
            want,
            "{sel:?} on {lbls}"
        );
    }
}

#[test]
fn parse_errors() {
    let long_key = "a".repeat(64);
    let cases: Vec<(String, String)> = vec![
        (
            "a in x".into(),
            "unable to parse requirement: found 'x' expected: '('".into(),
        ),
        (
            "a=b=c".into(),
            "found '=', expected: ',' or 'end of string'".into(),
        ),
        (
            "x!".into(),
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt".into(),
        ),
        (
            "a b".into(),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt".into(),
        ),
        (
            ",x".into(),
            "found ',', expected: !, identifier, or 'end of string'".into(),
        ),
        (
            "x,".into(),
            "found '', expected: identifier after ','".into(),
        ),
        (
            "x=a,,y=b".into(),
            "found ',', expected: identifier after ','".into(),
        ),
        (
            "x in (a".into(),
            "unable to parse requirement: found '', expected: ',' or ')'".into(),
        ),
        (
            "x notin".into(),
            "unable to parse requirement: found '' expected: '('".into(),
        ),
        (
            "x in (a=b)".into(),
            "unable to parse requirement: found '=', expected: ',' or ')'".into(),
        ),
        (
            "x in ((".into(),
            "unable to parse requirement: found '(', expected: ',', ')' or identifier".into(),
        ),
        (
            "x=(".into(),
            "unable to parse requirement: found '(', expected: identifier".into(),
        ),
        (
            "!=a".into(),
            "found '!=', expected: !, identifier, or 'end of string'".into(),
        ),
        (
            "! =a".into(),
            "unable to parse requirement: found '=', expected: identifier".into(),
        ),
        (
            "!x=a".into(),
            "found '=', expected: ',' or 'end of string'".into(),
        ),
        (
            "x>".into(),
            "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
        ),
        (
            "x<a1".into(),
            "unable to parse requirement: values[0]: Invalid value: \"a1\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
        ),
        (
            "x=a||y".into(),
            format!("unable to parse requirement: values[0][x]: Invalid value: \"a||y\": {VALUE_REGEX_MSG}"),
        ),
        (
            "-x=a".into(),
            format!("unable to parse requirement: <nil>: Invalid value: \"-x\": {NAME_REGEX_MSG}"),
        ),
        (
            "Key.With_Dots-=a".into(),
            format!("unable to parse requirement: <nil>: Invalid value: \"Key.With_Dots-\": {NAME_REGEX_MSG}"),
        ),
        (
            format!("{long_key}=b"),
            format!("unable to parse requirement: <nil>: Invalid value: \"{long_key}\": name part must be no more than 63 bytes"),
        ),
        (
            "example.com/=b".into(),
            format!("unable to parse requirement: <nil>: Invalid value: \"example.com/\": name part must be non-empty; {NAME_REGEX_MSG}"),
        ),
        (
            "Example.com/a=b".into(),
            "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into(),
        ),
        (
            "a/b/c".into(),
            "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into(),
        ),
        (
            format!("x={long_key}"),
            format!("unable to parse requirement: values[0][x]: Invalid value: \"{long_key}\": must be no more than 63 bytes"),
        ),
    ];
    for (sel, want) in cases {
        match Selector::parse(&sel) {
            Ok(s) => panic!("{sel:?} parsed as {s}, want error {want}"),
            Err(e) => assert_eq!(e.to_string(), want, "selector {sel:?}"),
        }
    }
}

#[test]
fn display_normalizes() {
    let cases = [
        ("", ""),
        ("x=a,a=b", "a=b,x=a"),
        ("x in (c,a,b)", "x in (a,b,c)"),
        ("x in (a,a)", "x in (a)"),
        ("  x  ,  !y  ", "x,!y"),
        ("x==a", "x==a"),
        ("x!=a", "x!=a"),
        ("a notin ()", "a notin ()"),
        ("a in (,b)", "a in (,b)"),
        ("a in (b,,)", "a in (,b)"),
        ("x>5,y<3", "x>5,y<3"),
        ("x=", "x="),
    ];
    for (input, want) in cases {
        let s = Selector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(s.to_string(), want, "{input:?}");
        assert_eq!(Selector::parse(want).ok(), Some(s), "reparse {want:?}");
    }
}

#[test]
fn empty_and_exact_match() {
    assert!(Selector::parse("").map(|s| s.is_empty()).unwrap_or(false));
    assert!(
        Selector::parse("   ")
            .map(|s| s.is_empty())
            .unwrap_or(false)
    );
    assert!(!Selector::parse("a").map(|s| s.is_empty()).unwrap_or(true));
    let s = Selector::parse("app=web,tier in (db)").expect("valid");
    assert_eq!(s.requires_exact_match("app"), Some("web"));
    assert_eq!(s.requires_exact_match("tier"), Some("db"));
    assert_eq!(s.requires_exact_match("other"), None);
}

#[test]
fn from_label_selector_cases() {
    // (selector object, labels, expected match)
    let cases: Vec<(Value, Value, bool)> = vec![
        (json!({}), json!({"a": "b"}), true),
        (json!({}), Value::Null, true),
        (Value::Null, json!({"a": "b"}), false),
        (
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
            true,
        ),
        (
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "db"}),
            false,
        ),
        (
            json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}),
            json!({"app": "web", "tier": "b"}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}),
            json!({}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
            json!({"tier": ""}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
            json!({"tier": "x"}),
            false,
        ),
    ];
    for (sel, lbls, want) in cases {
        let s = Selector::from_label_selector(&sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
        assert_eq!(
            s.matches(labels(lbls.clone()).as_ref()),
            want,
            "{sel} on {lbls}"
        );
    }
    assert!(
        Selector::from_label_selector(&json!({}))
            .map(|s| s.is_empty())
            .unwrap_or(false)
    );
    assert!(
        !Selector::from_label_selector(&Value::Null)
            .map(|s| s.is_empty())
            .unwrap_or(true)
    );

    let errors: Vec<(Value, String)> = vec![
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]}),
            "\"Foo\" is not a valid label selector operator".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "bad key", "operator": "Exists"}]}),
            format!("key: Invalid value: \"bad key\": {NAME_REGEX_MSG}"),
        ),
        (
            json!({"matchLabels": {"a": "b c"}}),
            format!("values[0][a]: Invalid value: \"b c\": {VALUE_REGEX_MSG}"),
        ),
        (
            json!({"matchExpressions": [{"key": "-k", "operator": "In", "values": []}]}),
            format!("[key: Invalid value: \"-k\": {NAME_REGEX_MSG}, values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty]"),
        ),
    ];
    for (sel, want) in errors {
        match Selector::from_label_selector(&sel) {
            Ok(s) => panic!("{sel} accepted as {s:?}"),
            Err(e) => assert_eq!(e.to_string(), want, "{sel}"),
        }
    }
}
