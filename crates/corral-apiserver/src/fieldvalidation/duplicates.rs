//! Duplicate keys in a JSON body. `serde_json::Value` keeps the last of two
//! equal keys silently, so bodies decoded here note them while the `Value`
//! is built ([`parse_noting_duplicates`]); bodies that are not decoded into
//! the object (patches, apply configurations) are walked on their own
//! ([`duplicate_fields`]).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use super::builtin::{StepRef, render_steps};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Paths (`metadata.labels.a`, `spec.items[1].name`) of keys that appear
/// twice in one JSON object. Empty for bodies that are not valid JSON: the
/// decoder reports those.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut path = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let walker = Walker {
        path: &mut path,
        found: &mut found,
    };
    if walker.deserialize(&mut de).is_err() {
        return Vec::new();
    }
    found
}

/// Deeper bodies are rejected by serde_json's own recursion limit (128).
const MAX_DEPTH: usize = 128;

/// Parse a JSON body into a `Value` (the last of two equal keys wins, as in
/// `serde_json::from_slice`) and find its duplicate keys in the same pass.
/// Writes decode every body and then check it for duplicates, so doing both
/// at once saves a second walk over the bytes.
pub fn parse_noting_duplicates(body: &[u8]) -> serde_json::Result<(Value, Vec<String>)> {
    let mut found = Vec::new();
    let mut path = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = ValueBuilder {
        path: &mut path,
        found: &mut found,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((value, found))
}

/// A path is a stack of these, rendered only for duplicates actually
/// found. The walk borrows keys from the body (it allocates only for keys
/// with escapes); the `Value` builder owns them, moving each onto the path
/// while its value is parsed and then into the map.
enum Step<'de> {
    Key(Cow<'de, str>),
    Index(usize),
}

struct Walker<'p, 'de> {
    path: &'p mut Vec<Step<'de>>,
    found: &'p mut Vec<String>,
}

fn render(path: &[Step<'_>]) -> String {
    render_steps(path.iter().map(|step| match step {
        Step::Key(k) => StepRef::Key(k),
        Step::Index(i) => StepRef::Index(*i),
    }))
}

impl<'de> DeserializeSeed<'de> for Walker<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walker<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.path.len() > MAX_DEPTH {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        let mut i = 0usize;
        loop {
            self.path.push(Step::Index(i));
            let child = Walker {
                path: &mut *self.path,
                found: &mut *self.found,
            };
            let more = seq.next_element_seed(child);
            self.path.pop();
            if more?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.path.len() > MAX_DEPTH {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        let mut seen = SeenKeys::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            self.path.push(Step::Key(key.clone()));
            if !seen.insert(key) {
                self.found.push(render(self.path));
            }
            let child = Walker {
                path: &mut *self.path,
                found: &mut *self.found,
            };
            let walked = map.next_value_seed(child);
            self.path.pop();
            walked?;
        }
        Ok(())
    }
}

struct ValueBuilder<'p> {
    path: &'p mut Vec<Step<'static>>,
    found: &'p mut Vec<String>,
}

impl ValueBuilder<'_> {
    fn child(&mut self) -> ValueBuilder<'_> {
        ValueBuilder {
            path: &mut *self.path,
            found: &mut *self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueBuilder<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueBuilder<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            self.path.push(Step::Index(items.len()));
            let item = seq.next_element_seed(self.child());
            self.path.pop();
            match item? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let repeated = map.contains_key(&key);
            self.path.push(Step::Key(Cow::Owned(key)));
            if repeated {
                self.found.push(render(self.path));
            }
            let value = access.next_value_seed(self.child());
            let Some(Step::Key(key)) = self.path.pop() else {
                unreachable!("the step pushed above");
            };
            map.insert(key.into_owned(), value?);
        }
        Ok(Value::Object(map))
    }
}

/// The keys of one object so far: a short list scanned linearly (most
/// objects have a handful of keys), a hash set once it grows.
#[derive(Default)]
struct SeenKeys<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> SeenKeys<'de> {
    const FEW: usize = 16;

    /// Whether `key` is new.
    fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if !self.many.is_empty() {
            return self.many.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        self.few.push(key);
        if self.few.len() > Self::FEW {
            self.many.extend(self.few.drain(..));
        }
        true
    }
}

/// A map key, borrowed from the body unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_with_paths() {
        let body = br#"{"metadata":{"name":"a","name":"b","labels":{"x":"1","x":"2"}},"items":[{"k":1,"k":2}]}"#;
        assert_eq!(
            duplicate_fields(body),
            vec!["metadata.name", "metadata.labels.x", "items[0].k"]
        );
    }

    #[test]
    fn escaped_keys_and_large_objects() {
        assert_eq!(duplicate_fields(br#"{"ab":1,"a\u0062":2}"#), vec!["ab"]);
        let mut body = String::from("{\"m\":{");
        for i in 0..100 {
            body.push_str(&format!("\"k{i}\":{i},"));
        }
        body.push_str("\"k7\":0,\"k99\":1}}");
        assert_eq!(duplicate_fields(body.as_bytes()), vec!["m.k7", "m.k99"]);
    }

    #[test]
    fn one_parse_finds_what_the_separate_walk_finds_and_builds_the_same_value() {
        let mut big = String::from("{\"m\":{");
        for i in 0..40 {
            big.push_str(&format!("\"k{i}\":[{i},{{\"a\":1,\"a\":{i}.5}}],"));
        }
        big.push_str("\"k3\":null,\"k\\u0031\":\"esc\"}}");
        let bodies: Vec<&[u8]> = vec![
            br#"{"metadata":{"name":"a","name":"b","labels":{"x":"1","x":"2"}},"items":[{"k":1,"k":2}]}"#,
            br#"{"ab":1,"a\u0062":2}"#,
            br#"{"a":{"a":1},"b":[{"a":1},{"a":2}],"n":-1,"u":18446744073709551615,"f":1.5e300,"g":-0.25,"t":true,"z":null}"#,
            br#" [ {"x": 1, "x": [ {"y": 0, "y": 1} ] } ] "#,
            br#""just a string""#,
            big.as_bytes(),
        ];
        for body in bodies {
            let (value, found) = parse_noting_duplicates(body).expect("valid JSON");
            let plain: Value = serde_json::from_slice(body).expect("valid JSON");
            assert_eq!(value, plain, "{}", String::from_utf8_lossy(body));
            assert_eq!(
                found,
                duplicate_fields(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(
            parse_noting_duplicates(br#"{"a":1}"#)
                .expect("valid")
                .1
                .is_empty()
        );
    }

    #[test]
    fn one_parse_rejects_what_serde_json_rejects_with_the_same_message() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        for body in [
            &b"{not json"[..],
            b"{\"a\":1} trailing",
            b"",
            b"{\"a\":",
            b"[1e400]",
            deep.as_bytes(),
        ] {
            let ours = parse_noting_duplicates(body).expect_err("invalid");
            let theirs = serde_json::from_slice::<Value>(body).expect_err("invalid");
            assert_eq!(ours.to_string(), theirs.to_string());
        }
    }

    #[test]
    fn none_in_clean_or_broken_bodies() {
        assert!(duplicate_fields(br#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#).is_empty());
        assert!(duplicate_fields(b"{not json").is_empty());
    }
}
