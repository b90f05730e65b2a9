//! Reading JSON text without building values: where a value ends, an
//! object's members as raw slices, and the byte searches behind both (and
//! behind [`crate::json_writer`]'s escaping).
//!
//! Why by hand: serde_json tokenizes every value it skips, token by token.
//! Where only a few fields of a large document matter (a metadata-only watch
//! event, every write in the cluster, of which a watcher reads five fields),
//! that skipping is most of the cost. Here strings are crossed sixteen bytes
//! at a time and nothing is decoded until asked for. These functions find
//! structure only; they do not validate. Callers parse what they keep with
//! serde_json, and fall back to it when the text is not what they expect.

use std::borrow::Cow;

/// The length of the JSON object `bytes` starts with (at its `{`), found by
/// following strings and nesting only. For JSON this crate (or serde_json)
/// wrote: it does not validate. `None` when the object does not end.
pub fn object_len(bytes: &[u8]) -> Option<usize> {
    match bytes.first() {
        Some(b'{') => container_len(bytes),
        _ => None,
    }
}

/// The length of the JSON value `bytes` starts with (no leading
/// whitespace): a string to its closing quote, an object or array to its
/// closing bracket, a number or literal to the byte before the next
/// delimiter. `None` when it does not end (or `bytes` is empty).
pub fn value_len(bytes: &[u8]) -> Option<usize> {
    match bytes.first()? {
        b'"' => string_end(bytes, 1),
        b'{' | b'[' => container_len(bytes),
        _ => {
            let end = bytes
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(bytes.len());
            Some(end)
        }
    }
}

/// The members of the JSON object `object` (starting at its `{`), read one
/// at a time: [`Members::next_key`] (which steps over the previous value
/// unless it was taken), then optionally [`Members::value`] or
/// [`Members::into_object`]. As an iterator: raw key contents (between the
/// quotes, still escaped) and raw values. [`Malformed`] when the text is not
/// an object as expected; the reading ends there (the caller typically
/// parses the whole with serde_json instead).
pub fn members(object: &[u8]) -> Members<'_> {
    Members {
        bytes: object,
        pos: 0,
        state: MembersState::Open,
    }
}

/// See [`members`].
pub struct Members<'a> {
    bytes: &'a [u8],
    pos: usize,
    state: MembersState,
}

/// The text is not the JSON object [`members`] expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

#[derive(Clone, Copy, PartialEq, Eq)]
enum MembersState {
    /// Before the `{`.
    Open,
    /// At a member's value (after its `:`).
    Value,
    /// After a member's value.
    Next,
    Done,
}

impl<'a> Members<'a> {
    /// The next member's key (its raw contents), stepping over the current
    /// value if it was not taken; `None` at the end of the object.
    pub fn next_key(&mut self) -> Result<Option<&'a [u8]>, Malformed> {
        let key = self.key();
        if !matches!(key, Ok(Some(_))) {
            self.state = MembersState::Done;
        }
        key
    }

    /// The current member's raw value.
    pub fn value(&mut self) -> Result<&'a [u8], Malformed> {
        if self.state != MembersState::Value {
            return Err(Malformed);
        }
        let start = self.pos;
        let len = self
            .bytes
            .get(start..)
            .and_then(value_len)
            .filter(|&len| len > 0)
            .ok_or(Malformed)?;
        self.pos = start + len;
        self.state = MembersState::Next;
        Ok(&self.bytes[start..self.pos])
    }

    /// The members of the current value, an object, read without finding
    /// where it ends first (so the rest of this object is not read).
    pub fn into_object(self) -> Result<Members<'a>, Malformed> {
        if self.state != MembersState::Value {
            return Err(Malformed);
        }
        Ok(Members {
            bytes: self.bytes.get(self.pos..).ok_or(Malformed)?,
            pos: 0,
            state: MembersState::Open,
        })
    }

    fn key(&mut self) -> Result<Option<&'a [u8]>, Malformed> {
        let bytes = self.bytes;
        if self.state == MembersState::Value {
            self.value()?;
        }
        let mut i = skip_whitespace(bytes, self.pos);
        match (self.state, bytes.get(i)) {
            (MembersState::Done, _) => return Ok(None),
            (MembersState::Open, Some(b'{')) => {
                i = skip_whitespace(bytes, i + 1);
                if bytes.get(i) == Some(&b'}') {
                    return Ok(None);
                }
            }
            (MembersState::Next, Some(b'}')) => return Ok(None),
            (MembersState::Next, Some(b',')) => i = skip_whitespace(bytes, i + 1),
            _ => return Err(Malformed),
        }
        if bytes.get(i) != Some(&b'"') {
            return Err(Malformed);
        }
        let key_end = string_end(bytes, i + 1).ok_or(Malformed)?;
        let key = &bytes[i + 1..key_end - 1];
        i = skip_whitespace(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return Err(Malformed);
        }
        self.pos = skip_whitespace(bytes, i + 1);
        self.state = MembersState::Value;
        Ok(Some(key))
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let key = match self.next_key() {
            Ok(Some(key)) => key,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let value = self.value();
        if value.is_err() {
            self.state = MembersState::Done;
        }
        Some(value.map(|value| (key, value)))
    }
}

/// The string a raw JSON string value (with its quotes) holds: borrowed when
/// it has no escapes, decoded by serde_json when it has. `None` when `raw`
/// is not a string.
pub fn string(raw: &[u8]) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if next_quote_or_backslash(inner, 0) == inner.len() {
        return std::str::from_utf8(inner).ok().map(Cow::Borrowed);
    }
    serde_json::from_slice::<String>(raw).ok().map(Cow::Owned)
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The length of the object or array `bytes` starts with. Bytes outside
/// strings are visited one at a time: objects are dense with brackets and
/// short strings, where a block-at-a-time search measured slower.
fn container_len(bytes: &[u8]) -> Option<usize> {
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
        i = next_quote_or_backslash(bytes, i);
        match bytes.get(i)? {
            b'"' => return Some(i + 1),
            _ => i += 2,
        }
    }
}

// Finding the next byte of a class, sixteen bytes at a time with SSE2 (part
// of every x86_64 CPU), eight at a time in a word elsewhere and for the
// tail, then one at a time.
/// The index of the first byte at or after `from` that JSON strings
/// escape (`"`, `\`, below 0x20), or `bytes.len()`.
pub(crate) fn next_escape(bytes: &[u8], from: usize) -> usize {
    next(bytes, from, wide::escape_mask, escape_word_mask, |b| {
        b < 0x20 || b == b'"' || b == b'\\'
    })
}

/// The index of the first `"` or `\` at or after `from`, or `bytes.len()`.
fn next_quote_or_backslash(bytes: &[u8], from: usize) -> usize {
    next(
        bytes,
        from,
        wide::quote_or_backslash_mask,
        |word| {
            zero_byte(word ^ (ONES * u64::from(b'"'))) | zero_byte(word ^ (ONES * u64::from(b'\\')))
        },
        |b| b == b'"' || b == b'\\',
    )
}

#[inline(always)]
fn next(
    bytes: &[u8],
    mut i: usize,
    wide_mask: impl Fn(&[u8; 16]) -> u32,
    word_mask: impl Fn(u64) -> u64,
    selected: impl Fn(u8) -> bool,
) -> usize {
    while let Some(chunk) = bytes.get(i..).and_then(|rest| rest.first_chunk::<16>()) {
        let found = wide_mask(chunk);
        if found != 0 {
            return i + found.trailing_zeros() as usize;
        }
        i += 16;
    }
    if let Some(word) = bytes.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        // The lowest flagged byte is a true match (see escape_word_mask).
        let found = word_mask(u64::from_le_bytes(*word));
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if selected(b) {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte that is zero, and possibly of bytes above
/// one (a borrow carries into them), never below.
fn zero_byte(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGH_BITS
}

/// The high bit of each byte of `word` that must be escaped is set, and
/// possibly of bytes above such a byte (a borrow carries into them), never
/// below: the lowest set bit always marks a byte to escape.
fn escape_word_mask(word: u64) -> u64 {
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS;
    below_space
        | zero_byte(word ^ (ONES * u64::from(b'"')))
        | zero_byte(word ^ (ONES * u64::from(b'\\')))
}

#[cfg(target_arch = "x86_64")]
mod wide {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// Bit `n` set when byte `n` is `"`, `\\` or below 0x20.
    pub(crate) fn escape_mask(chunk: &[u8; 16]) -> u32 {
        // SAFETY: SSE2 is in the x86_64 baseline, and the load is an
        // unaligned read of exactly the sixteen bytes `chunk` borrows.
        let mask = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            // Unsigned `v <= 0x1f`: SSE2 compares bytes only as signed.
            let limit = _mm_set1_epi8(0x1f);
            let control = _mm_cmpeq_epi8(_mm_max_epu8(v, limit), limit);
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            _mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash)))
        };
        // Sixteen bits, one per byte.
        mask as u32
    }

    /// Bit `n` set when byte `n` is `"` or `\\`.
    pub(crate) fn quote_or_backslash_mask(chunk: &[u8; 16]) -> u32 {
        // SAFETY: as in `escape_mask`.
        let mask = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            _mm_movemask_epi8(_mm_or_si128(quote, backslash))
        };
        mask as u32
    }
}

/// Elsewhere two words at a time, with the same result.
#[cfg(not(target_arch = "x86_64"))]
mod wide {
    fn mask(chunk: &[u8; 16], word_mask: impl Fn(u64) -> u64) -> u32 {
        let (low, high) = chunk.split_at(8);
        let bits = |half: &[u8]| {
            let word = u64::from_le_bytes(half.try_into().unwrap_or([0; 8]));
            let m = word_mask(word);
            // Only the lowest flagged byte is exact; report it alone.
            if m == 0 {
                0
            } else {
                1u32 << (m.trailing_zeros() / 8)
            }
        };
        let low = bits(low);
        if low != 0 { low } else { bits(high) << 8 }
    }

    pub(crate) fn escape_mask(chunk: &[u8; 16]) -> u32 {
        mask(chunk, super::escape_word_mask)
    }

    pub(crate) fn quote_or_backslash_mask(chunk: &[u8; 16]) -> u32 {
        mask(chunk, |word| {
            super::zero_byte(word ^ (super::ONES * u64::from(b'"')))
                | super::zero_byte(word ^ (super::ONES * u64::from(b'\\')))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    /// The members as serde_json reads them, or `None` at the first malformed one.
    fn read_members(text: &[u8]) -> Option<Map<String, Value>> {
        let mut map = Map::new();
        for member in members(text) {
            let (key, value) = member.ok()?;
            let mut quoted = b"\"".to_vec();
            quoted.extend_from_slice(key);
            quoted.push(b'"');
            let key: String = serde_json::from_slice(&quoted).expect("a key");
            let value: Value = serde_json::from_slice(value).expect("a whole value");
            map.insert(key, value);
        }
        Some(map)
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            // Floats that survive serde_json's text round trip exactly.
            prop::sample::select(vec![0.5, -1.25, 1e300, 6.02e23, -0.0]).prop_map(Value::from),
            "(\\PC|[\\x00-\\x1f\"\\\\{}\\[\\],:])*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("(\\PC|[\"\\\\{}:,])*", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn members_of_compact_and_pretty_objects() {
        let v = json!({
            "type": "ADDED",
            "object": {"metadata": {"name": "a\"b", "n": [1, {"}": "]"}], "e": {}}},
            "k\\\"ey": "x\u{1}\n", "num": -1.5e3, "t": true, "f": false, "z": null, "": [],
        });
        let Value::Object(expected) = v.clone() else {
            unreachable!()
        };
        for text in [
            serde_json::to_vec(&v).expect("json"),
            serde_json::to_vec_pretty(&v).expect("json"),
        ] {
            assert_eq!(read_members(&text), Some(expected.clone()));
        }
        assert_eq!(read_members(b" { } "), Some(Map::new()));
    }

    #[test]
    fn keys_step_over_values_not_taken_and_objects_are_entered_in_place() {
        let text = br#"{"a": {"x": [1, {"y": "}"}], "z" : "q"}, "b": 3, "c": {}}"#;
        let mut top = members(text);
        assert_eq!(top.next_key(), Ok(Some(&b"a"[..])));
        assert_eq!(top.next_key(), Ok(Some(&b"b"[..])));
        assert_eq!(top.value(), Ok(&b"3"[..]));
        assert_eq!(top.value(), Err(Malformed), "a value is taken once");
        assert_eq!(top.next_key(), Ok(Some(&b"c"[..])));
        assert_eq!(top.next_key(), Ok(None));
        assert_eq!(top.next_key(), Ok(None));

        let mut top = members(text);
        assert_eq!(top.next_key(), Ok(Some(&b"a"[..])));
        let mut a = top.into_object().expect("at a value");
        assert_eq!(a.next_key(), Ok(Some(&b"x"[..])));
        assert_eq!(a.next_key(), Ok(Some(&b"z"[..])));
        assert_eq!(a.value(), Ok(&br#""q""#[..]));
        assert_eq!(a.next_key(), Ok(None));

        let mut top = members(br#"{"a": [1]}"#);
        assert_eq!(top.next_key(), Ok(Some(&b"a"[..])));
        let mut not_an_object = top.into_object().expect("at a value");
        assert_eq!(not_an_object.next_key(), Err(Malformed));
    }

    #[test]
    fn malformed_objects_end_with_an_error() {
        for text in [
            &b"[1]"[..],
            b"",
            b"{",
            b"{\"a\":1",
            b"{\"a\" 1}",
            b"{\"a\":}",
            b"{\"a\":1,}",
            b"{\"a\":1 \"b\":2}",
            b"{a:1}",
            b"{\"a\":\"unterminated}",
        ] {
            let items: Vec<_> = members(text).collect();
            assert_eq!(
                items.last(),
                Some(&Err(Malformed)),
                "{}",
                String::from_utf8_lossy(text)
            );
            assert!(members(text).nth(items.len()).is_none());
        }
    }

    #[test]
    fn value_lengths() {
        for (text, len) in [
            ("123,", 3),
            ("-1.5e3}", 6),
            ("true]", 4),
            ("null", 4),
            ("\"a\\\"b\",", 6),
            ("[1,[2],{\"]\":3}] ", 15),
            ("{}}", 2),
        ] {
            assert_eq!(value_len(text.as_bytes()), Some(len), "{text}");
        }
        assert_eq!(value_len(b""), None);
        assert_eq!(value_len(b"[1,2"), None);
        assert_eq!(object_len(b"[1]"), None);
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        assert!(matches!(string(b"\"plain\""), Some(Cow::Borrowed("plain"))));
        assert_eq!(string(b"\"a\\\"\\u00e9\"").as_deref(), Some("a\"é"));
        assert_eq!(string(b"1"), None);
        assert_eq!(string(b"\"bad \\x\""), None);
    }

    proptest! {
        #[test]
        fn members_match_serde_json(v in json_value(), pretty in any::<bool>()) {
            let object = match v {
                Value::Object(m) => m,
                other => [("k".to_string(), other)].into_iter().collect(),
            };
            let value = Value::Object(object.clone());
            let text = if pretty {
                serde_json::to_vec_pretty(&value).expect("json")
            } else {
                serde_json::to_vec(&value).expect("json")
            };
            prop_assert_eq!(read_members(&text), Some(object));
            prop_assert_eq!(value_len(&text), Some(text.len()));
        }
    }
}
