//! Compact JSON output of a `serde_json::Value`, byte for byte what
//! `serde_json::to_writer` writes, with strings escaped sixteen bytes at a
//! time.
//!
//! Why not `serde_json` itself: its escaper looks up every byte of every
//! string in a table. Objects are mostly string (a ConfigMap's data, an
//! annotation, managedFields), and storing one is a full serialization, so
//! that byte loop was 5% of the server's instructions per create. Here
//! sixteen bytes are checked at once ([`crate::json_scan`]) and clean runs
//! are copied whole; the output is unchanged (the tests compare
//! against `serde_json` on random strings).

use serde_json::Value;

/// Append `value` as compact JSON.
pub fn write_value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Rare in objects; serde_json keeps its exact float formatting.
        Value::Number(n) => serde_json::to_writer(&mut *out, n)?,
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_value(out, item)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Append `s` as a quoted JSON string, escaped as serde_json escapes it:
/// `"`, `\` and the control characters below 0x20, nothing else.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut clean_from = 0;
    loop {
        let i = crate::json_scan::next_escape(bytes, clean_from);
        let Some(&b) = bytes.get(i) else {
            break;
        };
        out.extend_from_slice(&bytes[clean_from..i]);
        write_escape(out, b);
        clean_from = i + 1;
    }
    out.extend_from_slice(&bytes[clean_from..]);
    out.push(b'"');
}

fn write_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_scan::object_len;
    use proptest::prelude::*;
    use serde_json::json;

    fn ours(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v).expect("writes to a Vec");
        String::from_utf8(out).expect("valid UTF-8")
    }

    #[test]
    fn every_byte_that_serde_json_escapes_is_escaped_the_same_way() {
        // Every position of a 41-byte string: both sixteen-byte chunks, the
        // eight-byte word after them and the last single byte.
        let others = ['\u{80}', '\u{ff}', 'é', '€', '😀'];
        for c in (0u32..0x80).filter_map(char::from_u32).chain(others) {
            for at in 0..=40 {
                let s: String = "x".repeat(at) + &c.to_string() + &"y".repeat(40 - at);
                let v = Value::String(s.clone());
                assert_eq!(ours(&v), serde_json::to_string(&v).unwrap(), "{s:?}");
            }
        }
    }

    #[test]
    fn values_of_every_kind_match_serde_json() {
        let v = json!({
            "metadata": {"name": "a\"b", "labels": {"k\\": "v\n\t\u{1}"}, "generation": 3},
            "data": {"big": "é€😀".repeat(50), "empty": ""},
            "list": [null, true, false, -7, 18446744073709551615u64, 1.5, 1e300, 0.1, [], {}],
        });
        assert_eq!(ours(&v), serde_json::to_string(&v).unwrap());
    }

    #[test]
    fn object_len_finds_the_end_of_written_objects() {
        let objects = [
            json!({}),
            json!({"a": "x\"}{[\\", "b": {"c": ["}", "\\"], "d": {}}, "e": 1}),
            json!({"metadata": {"name": "a".repeat(40), "k\\": "\\\\\"", "n": [1, [2, {}]]}}),
        ];
        for v in objects {
            let text = ours(&v);
            for tail in ["", ",\"z\":{}}", "}]"] {
                let bytes = format!("{text}{tail}");
                assert_eq!(object_len(bytes.as_bytes()), Some(text.len()), "{bytes}");
            }
            assert_eq!(
                object_len(&text.as_bytes()[..text.len() - 1]),
                None,
                "{text}"
            );
        }
        assert_eq!(object_len(br#"{"a":"unterminated}"#), None);
    }

    #[test]
    fn object_len_skips_escapes_and_finds_quotes_at_every_position() {
        for at in 0..=40 {
            for inner in ["\\\"", "\\\\", "}", "\\u0022"] {
                let text = format!(
                    "{{\"k\":\"{}{inner}{}\"}}",
                    "x".repeat(at),
                    "y".repeat(40 - at)
                );
                assert_eq!(
                    object_len(format!("{text},{{}}").as_bytes()),
                    Some(text.len()),
                    "{text}"
                );
            }
            let unterminated = format!("{{\"k\":\"{}\\\"}}", "x".repeat(at));
            assert_eq!(object_len(unterminated.as_bytes()), None, "{unterminated}");
        }
    }

    proptest! {
        #[test]
        fn random_strings_match_serde_json(s in "(\\PC|[\\x00-\\x1f\"\\\\\\x7f])*") {
            let v = Value::String(s);
            prop_assert_eq!(ours(&v), serde_json::to_string(&v).unwrap());
        }

        #[test]
        fn object_len_spans_objects_of_random_strings(s in "(\\PC|[\\x00-\\x1f\"\\\\{}\\[\\]])*") {
            let text = ours(&json!({ s.clone(): { "v": [s] } }));
            let bytes = format!("{text},\"after\":1}}");
            prop_assert_eq!(object_len(bytes.as_bytes()), Some(text.len()));
        }

        #[test]
        fn random_bytes_as_strings_match_serde_json(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let s = String::from_utf8_lossy(&bytes).into_owned();
            let v = json!({ s.clone(): [s] });
            prop_assert_eq!(ours(&v), serde_json::to_string(&v).unwrap());
        }
    }
}
