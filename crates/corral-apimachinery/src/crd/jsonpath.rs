//! The simple JSONPath subset CRDs use in `additionalPrinterColumns`
//! (client-go `jsonpath` with missing keys allowed): `.spec.replicas`,
//! `.spec.items[0].name`, `.metadata.labels.app`, `.items[*].name`,
//! `.metadata.labels['app.kubernetes.io/name']`, optionally wrapped in
//! `{...}` and/or prefixed with `$`.

use thiserror::Error;

/// A path that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JsonPathError {
    /// Nothing after `{`/`$`, or an empty field name between dots.
    #[error("unrecognized column definition {0:?}")]
    Syntax(String),
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    /// An index; negative counts from the end.
    Index(i64),
    /// `[*]` or `.*`: every element / value.
    Wildcard,
    /// `[?(@.a.b=="v")]`: the elements whose field path equals a string (or
    /// `!=`); what printer columns over conditions use, e.g.
    /// `.status.conditions[?(@.type=="Ready")].status`.
    Filter {
        path: Vec<String>,
        value: String,
        negate: bool,
    },
}

/// `@.a.b=="v"` or `@.a.b!='v'` (the only filter form accepted).
fn parse_filter(inner: &str) -> Option<Step> {
    let expr = inner.strip_prefix("?(")?.strip_suffix(')')?.trim();
    let (lhs, rhs, negate) = match expr.split_once("!=") {
        Some((l, r)) => (l, r, true),
        None => {
            let (l, r) = expr.split_once("==")?;
            (l, r, false)
        }
    };
    let path: Vec<String> = lhs
        .trim()
        .strip_prefix("@.")?
        .split('.')
        .map(str::to_string)
        .collect();
    if path.iter().any(|p| p.is_empty()) {
        return None;
    }
    let rhs = rhs.trim();
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|q| rhs.strip_prefix(*q)?.strip_suffix(*q))?;
    Some(Step::Filter {
        path,
        value: unquoted.to_string(),
        negate,
    })
}

/// A parsed simple JSONPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

/// Longest path accepted; printer column paths are short.
const MAX_PATH_LEN: usize = 1024;

impl JsonPath {
    /// Parses `s`. Accepts `.a.b`, `.a[0]`, `.a[-1]`, `.a[*]`, `.a.*`,
    /// `['key']` / `["key"]`, `\.` escapes inside names, and an optional
    /// `{...}` wrapper and `$` root.
    pub fn parse(s: &str) -> Result<JsonPath, JsonPathError> {
        let err = || JsonPathError::Syntax(s.to_string());
        if s.len() > MAX_PATH_LEN {
            return Err(err());
        }
        let mut body = s.trim();
        if let Some(inner) = body.strip_prefix('{') {
            body = inner.strip_suffix('}').ok_or_else(err)?.trim();
        }
        body = body.strip_prefix('$').unwrap_or(body);
        if body.is_empty() {
            return Err(err());
        }
        let chars: Vec<char> = body.chars().collect();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                    if i == chars.len() {
                        // A trailing dot only makes sense as the whole path (`.`).
                        if steps.is_empty() && body == "." {
                            break;
                        }
                        return Err(err());
                    }
                    if chars[i] == '*' {
                        steps.push(Step::Wildcard);
                        i += 1;
                        continue;
                    }
                    let mut name = String::new();
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        if chars[i] == '\\' && i + 1 < chars.len() {
                            i += 1;
                        } else if chars[i].is_whitespace() || matches!(chars[i], ']' | '{' | '}') {
                            return Err(err());
                        }
                        name.push(chars[i]);
                        i += 1;
                    }
                    if name.is_empty() {
                        return Err(err());
                    }
                    steps.push(Step::Field(name));
                }
                '[' if chars.get(i + 1) == Some(&'?') => {
                    // A filter may contain ']' only inside its quoted value.
                    let close = chars[i..]
                        .windows(2)
                        .position(|w| w == [')', ']'])
                        .ok_or_else(err)?
                        + i
                        + 1;
                    let inner: String = chars[i + 1..close].iter().collect();
                    steps.push(parse_filter(inner.trim()).ok_or_else(err)?);
                    i = close + 1;
                }
                '[' => {
                    let close = chars[i..].iter().position(|c| *c == ']').ok_or_else(err)? + i;
                    let inner: String = chars[i + 1..close].iter().collect();
                    let inner = inner.trim();
                    let quoted =
                        |q: char| inner.len() >= 2 && inner.starts_with(q) && inner.ends_with(q);
                    if inner == "*" {
                        steps.push(Step::Wildcard);
                    } else if quoted('\'') || quoted('"') {
                        steps.push(Step::Field(inner[1..inner.len() - 1].to_string()));
                    } else {
                        steps.push(Step::Index(inner.parse().map_err(|_| err())?));
                    }
                    i = close + 1;
                }
                _ => return Err(err()),
            }
        }
        Ok(JsonPath { steps })
    }

    /// Every value the path selects, in document order. Missing keys,
    /// out-of-range indexes and steps into scalars select nothing.
    pub fn find<'a>(&self, root: &'a serde_json::Value) -> Vec<&'a serde_json::Value> {
        use serde_json::Value;
        let mut current: Vec<&Value> = vec![root];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in current {
                match (step, v) {
                    (Step::Field(k), Value::Object(m)) => next.extend(m.get(k)),
                    (Step::Index(i), Value::Array(a)) => {
                        let len = a.len() as i64;
                        let idx = if *i < 0 { len + i } else { *i };
                        if (0..len).contains(&idx) {
                            next.extend(a.get(idx as usize));
                        }
                    }
                    (Step::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                    (
                        Step::Filter {
                            path,
                            value,
                            negate,
                        },
                        Value::Array(a),
                    ) => next.extend(a.iter().filter(|item| {
                        let found = path
                            .iter()
                            .try_fold(*item, |v, k| v.get(k))
                            .and_then(Value::as_str)
                            == Some(value.as_str());
                        found != *negate
                    })),
                    (Step::Wildcard, Value::Object(m)) => {
                        let mut keys: Vec<&String> = m.keys().collect();
                        keys.sort();
                        next.extend(keys.into_iter().map(|k| &m[k]));
                    }
                    _ => {}
                }
            }
            current = next;
        }
        current
    }

    /// The first selected value (what a printer column shows).
    pub fn first<'a>(&self, root: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        self.find(root).into_iter().next()
    }

    /// The path as plain field names, when it is nothing but fields
    /// (`.spec.replicas` → `["spec", "replicas"]`); scale paths need this.
    pub fn field_names(&self) -> Option<Vec<&str>> {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Field(f) => Some(f.as_str()),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(obj: &serde_json::Value, cases: &[(&str, Vec<serde_json::Value>)]) {
        for (p, want) in cases {
            let got: Vec<serde_json::Value> = JsonPath::parse(p)
                .expect(p)
                .find(obj)
                .into_iter()
                .cloned()
                .collect();
            assert_eq!(&got, want, "{p}");
        }
    }

    #[test]
    fn parse_and_find() {
        let obj = json!({
            "spec": {"items": [{"name": "a"}, {"name": "b"}], "x.y": 1},
            "metadata": {"labels": {"app": "web", "app.kubernetes.io/name": "n"}}
        });
        let cases = [
            (".spec.items[0].name", vec![json!("a")]),
            ("{.spec.items[-1].name}", vec![json!("b")]),
            (".spec.items[*].name", vec![json!("a"), json!("b")]),
            ("$.metadata.labels.app", vec![json!("web")]),
            (
                ".metadata.labels['app.kubernetes.io/name']",
                vec![json!("n")],
            ),
            (r".spec.x\.y", vec![json!(1)]),
            (".spec.missing", vec![]),
            (".spec.items[5]", vec![]),
        ];
        check(&obj, &cases);
        for bad in ["", "spec", ".a..b", ".a[x]", "{.a", ".a b"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(JsonPath::parse(".").expect(".").find(&obj), vec![&obj]);
    }

    #[test]
    fn filters_select_conditions() {
        let obj = json!({"status": {"conditions": [
            {"type": "Connected", "status": "True", "reason": "a"},
            {"type": "Ready", "status": "False", "reason": "b]c"},
        ]}});
        let cases = [
            (
                r#".status.conditions[?(@.type=="Ready")].status"#,
                vec![json!("False")],
            ),
            (
                ".status.conditions[?(@.type=='Connected')].reason",
                vec![json!("a")],
            ),
            (
                r#".status.conditions[?(@.type!="Ready")].type"#,
                vec![json!("Connected")],
            ),
            (
                r#".status.conditions[?(@.reason=="b]c")].type"#,
                vec![json!("Ready")],
            ),
            (r#".status.conditions[?(@.type=="Missing")].status"#, vec![]),
            (r#".status[?(@.type=="Ready")]"#, vec![]),
        ];
        check(&obj, &cases);
        for bad in [
            "[?(@.type)]",
            ".a[?(type==\"x\")]",
            ".a[?(@.type==x)]",
            ".a[?(@.=='x')]",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
