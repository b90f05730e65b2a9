//! Compact JSON output of a `serde_json::Value`, byte for byte what
//! `serde_json::to_writer` writes, with strings escaped a word at a time;
//! and [`object_len`], which finds where such an object ends.
//!
//! Why not `serde_json` itself: its escaper looks up every byte of every
//! string in a table. Objects are mostly string (a ConfigMap's data, an
//! annotation, managedFields), and storing one is a full serialization, so
//! that byte loop was 5% of the server's instructions per create. Here eight
//! bytes are checked at once and clean runs are copied whole; the output is
//! unchanged (the tests compare against `serde_json` on random strings).

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
    let mut i = 0;
    while i < bytes.len() {
        if let Some(word) = bytes[i..].first_chunk::<8>() {
            let found = needs_escape_mask(u64::from_le_bytes(*word));
            if found == 0 {
                i += 8;
                continue;
            }
            // The lowest flagged byte is a true match (see needs_escape_mask).
            i += (found.trailing_zeros() / 8) as usize;
        } else if !needs_escape(bytes[i]) {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[clean_from..i]);
        write_escape(out, bytes[i]);
        i += 1;
        clean_from = i;
    }
    out.extend_from_slice(&bytes[clean_from..]);
    out.push(b'"');
}

/// The length of the JSON object `bytes` starts with (at its `{`), found by
/// following strings and nesting only, strings eight bytes at a time. For
/// JSON this module (or serde_json) wrote: it does not validate. Why not
/// serde_json's `IgnoredAny`: it tokenizes every value; metadata-only watch
/// events copy the stored metadata this way, once per event. `None` when
/// the object does not end.
pub fn object_len(bytes: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                i = string_end(bytes, i + 1)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index after the quote that closes the string whose contents start
/// at `i`.
fn string_end(bytes: &[u8], mut i: usize) -> Option<usize> {
    loop {
        if let Some(word) = bytes.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
            let word = u64::from_le_bytes(*word);
            let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH_BITS;
            let found = zero_byte(word ^ (ONES * u64::from(b'"')))
                | zero_byte(word ^ (ONES * u64::from(b'\\')));
            if found == 0 {
                i += 8;
                continue;
            }
            i += (found.trailing_zeros() / 8) as usize;
        }
        match bytes.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that must be escaped is set, and
/// possibly of bytes above such a byte (a borrow carries into them), never
/// below: the lowest set bit always marks a byte to escape.
fn needs_escape_mask(word: u64) -> u64 {
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v;
    (below_space | zero_byte(quote) | zero_byte(backslash)) & HIGH_BITS
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
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
    use proptest::prelude::*;
    use serde_json::json;

    fn ours(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v).expect("writes to a Vec");
        String::from_utf8(out).expect("valid UTF-8")
    }

    #[test]
    fn every_byte_that_serde_json_escapes_is_escaped_the_same_way() {
        for c in (0u32..0x80).filter_map(char::from_u32) {
            for at in 0..17 {
                let s: String = "x".repeat(at) + &c.to_string() + "yz0123456789";
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
