//! Duplicate keys in a JSON body. `serde_json::Value` keeps the last of two
//! equal keys silently, so the raw bytes are walked once more, with paths.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use super::builtin::{StepRef, render_steps};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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

/// Every body is walked on every write, so the walk allocates only for
/// keys with escapes and for paths of duplicates actually found: keys are
/// borrowed from the body and the path is a stack of them, rendered on demand.
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
    fn none_in_clean_or_broken_bodies() {
        assert!(duplicate_fields(br#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#).is_empty());
        assert!(duplicate_fields(b"{not json").is_empty());
    }
}
