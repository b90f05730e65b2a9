//! Duplicate keys in a JSON body. `serde_json::Value` keeps the last of two
//! equal keys silently, so the raw bytes are walked once more, with paths.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Paths (`metadata.labels.a`, `spec.items[1].name`) of keys that appear
/// twice in one JSON object. Empty for bodies that are not valid JSON: the
/// decoder reports those.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let walker = Walker {
        path: String::new(),
        found: &mut found,
        depth: 0,
    };
    if walker.deserialize(&mut de).is_err() {
        return Vec::new();
    }
    found
}

/// Deeper bodies are rejected by serde_json's own recursion limit (128).
const MAX_DEPTH: usize = 128;

struct Walker<'a> {
    path: String,
    found: &'a mut Vec<String>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Walker<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walker<'_> {
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
        let mut i = 0usize;
        loop {
            let child = Walker {
                path: format!("{}[{i}]", self.path),
                found: &mut *self.found,
                depth: self.depth + 1,
            };
            if child.depth > MAX_DEPTH {
                return Ok(());
            }
            if seq.next_element_seed(child)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                self.found.push(path.clone());
            }
            let child = Walker {
                path,
                found: &mut *self.found,
                depth: self.depth + 1,
            };
            if child.depth > MAX_DEPTH {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            map.next_value_seed(child)?;
        }
        Ok(())
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
    fn none_in_clean_or_broken_bodies() {
        assert!(duplicate_fields(br#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#).is_empty());
        assert!(duplicate_fields(b"{not json").is_empty());
    }
}
