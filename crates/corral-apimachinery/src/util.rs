//! Small pure helpers shared by the modules: JSON access, Go-compatible
//! string quoting, Go-compatible base64 decoding and RFC 3339 parsing.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The value at `path` (object keys) inside `v`.
pub(crate) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.as_object()?.get(*key)?;
    }
    Some(cur)
}

/// The string at `path`; `None` when absent or not a string.
pub(crate) fn get_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path)?.as_str()
}

/// The string at `path`, or "" (Go's zero value) when absent or not a string.
pub(crate) fn str_or_empty<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get_str(v, path).unwrap_or("")
}

/// The integer at `path`, if it is one.
pub(crate) fn get_i64(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path)?.as_i64()
}

/// The object at `path`, if it is one.
pub(crate) fn get_obj<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    get(v, path)?.as_object()
}

/// The array at `path`, if it is one.
pub(crate) fn get_array<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Vec<Value>> {
    get(v, path)?.as_array()
}

/// Whether a JSON value is "empty" in Go's sense for an optional field:
/// absent, null, "", 0, false, [] or {}.
pub(crate) fn is_zero(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::Bool(b)) => !b,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
    }
}

/// Mutable object at `path`, creating intermediate objects as needed.
/// Returns `None` if something on the way exists and is not an object.
pub(crate) fn ensure_obj<'a>(
    v: &'a mut Value,
    path: &[&str],
) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    if cur.is_null() {
        *cur = Value::Object(Map::new());
    }
    for key in path {
        let map = cur.as_object_mut()?;
        let entry = map
            .entry((*key).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        cur = entry;
    }
    cur.as_object_mut()
}

/// Go's `strconv.Quote` (as used by `%q`): double-quoted, with `\"`, `\\`,
/// the usual C escapes and `\x`/`\u`/`\U` escapes for non-printable characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            ' ' => out.push(' '),
            c if (c as u32) < 0x80 && (c.is_ascii_control()) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || c.is_whitespace() || is_go_nonprint(c) => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A few code points Go's `unicode.IsPrint` rejects that are neither control
/// nor whitespace (format characters such as zero-width joiners, BOM, and
/// the private/unassigned ranges we can cheaply detect).
fn is_go_nonprint(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0xFEFF | 0xE000..=0xF8FF | 0xFFF9..=0xFFFB)
}

/// Go's `encoding/json` string encoding (escapes `<`, `>`, `&`, U+2028 and
/// U+2029 like Go does with HTML escaping on).
pub(crate) fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn b64_value(alphabet_url: bool, b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' if !alphabet_url => Some(62),
        b'/' if !alphabet_url => Some(63),
        b'-' if alphabet_url => Some(62),
        b'_' if alphabet_url => Some(63),
        _ => None,
    }
}

/// Decodes base64 the way Go's (non-strict) `base64.Encoding.DecodeString`
/// does: `\r` and `\n` are skipped, trailing bits are ignored, and errors
/// read "illegal base64 data at input byte N".
/// `url` selects the URL-safe alphabet, `padded` whether `=` padding is required.
pub(crate) fn go_base64_decode(s: &str, url: bool, padded: bool) -> Result<Vec<u8>, String> {
    let src = s.as_bytes();
    let err = |at: usize| format!("illegal base64 data at input byte {at}");
    let mut out = Vec::with_capacity(src.len() * 3 / 4);
    let mut si = 0usize;
    loop {
        let mut quantum = [0u8; 4];
        let mut j = 0usize;
        let mut dlen = 4usize;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                if j == 1 || padded {
                    return Err(err(si - j));
                }
                dlen = j;
                break;
            }
            let c = src[si];
            si += 1;
            if c == b'\r' || c == b'\n' {
                continue;
            }
            if let Some(v) = b64_value(url, c) {
                quantum[j] = v;
                j += 1;
                continue;
            }
            if c != b'=' || !padded {
                return Err(err(si - 1));
            }
            // Padding: only valid at quantum positions 2 and 3.
            match j {
                0 | 1 => return Err(err(si - 1)),
                2 => {
                    while si < src.len() && (src[si] == b'\r' || src[si] == b'\n') {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(err(src.len()));
                    }
                    if src[si] != b'=' {
                        return Err(err(si - 1));
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && (src[si] == b'\r' || src[si] == b'\n') {
                si += 1;
            }
            if si < src.len() {
                return Err(err(si));
            }
            dlen = j;
            break;
        }
        let v = (u32::from(quantum[0]) << 18)
            | (u32::from(quantum[1]) << 12)
            | (u32::from(quantum[2]) << 6)
            | u32::from(quantum[3]);
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        match dlen {
            4 => out.extend_from_slice(&bytes),
            3 => out.extend_from_slice(&bytes[..2]),
            2 => out.push(bytes[0]),
            _ => {}
        }
        if dlen < 4 {
            return Ok(out);
        }
    }
}

/// Parses an RFC 3339 timestamp (metav1.Time / metav1.MicroTime).
pub(crate) fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Formats a time as Go's `time.RFC3339` in UTC (second precision, "Z").
/// Every create stamps two of these (creationTimestamp and managedFields),
/// so the digits are written directly: `format!` with padding cost 2,500
/// instructions a call.
pub fn format_rfc3339_utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        // Go pads to four digits and signs negative years the same way.
        return format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            year,
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
    }
    let year = year as u32;
    let two = |n: u8| [b'0' + n / 10, b'0' + n % 10];
    let [m0, m1] = two(u8::from(t.month()));
    let [d0, d1] = two(t.day());
    let [h0, h1] = two(t.hour());
    let [i0, i1] = two(t.minute());
    let [s0, s1] = two(t.second());
    let digit = |n: u32| b'0' + (n % 10) as u8;
    let text = [
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b'-',
        m0,
        m1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        i0,
        i1,
        b':',
        s0,
        s1,
        b'Z',
    ];
    text.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_zero_padded_utc_to_the_second() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (1_796_212_345, "2026-12-02T11:52:25Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (-62_135_596_800, "0001-01-01T00:00:00Z"),
        ];
        for (unix, want) in cases {
            let t = OffsetDateTime::from_unix_timestamp(unix).expect("in range");
            assert_eq!(format_rfc3339_utc(t), want, "{unix}");
        }
        let offset = time::UtcOffset::from_hms(5, 30, 0).expect("valid offset");
        let t = OffsetDateTime::from_unix_timestamp(0)
            .expect("in range")
            .to_offset(offset);
        assert_eq!(format_rfc3339_utc(t), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn quote_cases() {
        let cases = [
            ("abc", "\"abc\""),
            ("a\"b", "\"a\\\"b\""),
            ("a\\b", "\"a\\\\b\""),
            ("tab\there", "\"tab\\there\""),
            ("nul\u{0}", "\"nul\\x00\""),
            ("é", "\"é\""),
            ("\u{200b}", "\"\\u200b\""),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), want, "input {input:?}");
        }
    }

    #[test]
    fn base64_cases() {
        let ok: &[(&str, &[u8])] = &[
            ("", b""),
            ("Zm9v", b"foo"),
            ("Zm8=", b"fo"),
            ("Zg==", b"f"),
            ("Zm9v\nYmFy", b"foobar"),
            ("Zh==", b"f"), // non-strict: trailing bits ignored
        ];
        for (input, want) in ok {
            assert_eq!(
                go_base64_decode(input, false, true).as_deref(),
                Ok(*want),
                "{input:?}"
            );
        }
        let bad = [
            ("Zm9v!", 4),
            ("Z", 0),
            ("Zm9", 0),
            ("Z===", 1),
            ("Zg=", 3),
            ("Zg==Zg==", 4),
            ("Zm9v-", 4),
        ];
        for (input, at) in bad {
            assert_eq!(
                go_base64_decode(input, false, true),
                Err(format!("illegal base64 data at input byte {at}")),
                "{input:?}"
            );
        }
        assert_eq!(
            go_base64_decode("Zm8", true, false).as_deref(),
            Ok(&b"fo"[..])
        );
        assert_eq!(
            go_base64_decode("_-8", true, false).as_deref(),
            Ok(&[0xffu8, 0xef][..])
        );
    }

    #[test]
    fn json_string_like_go() {
        assert_eq!(
            go_json_string("a<b>&\u{0}"),
            "\"a\\u003cb\\u003e\\u0026\\u0000\""
        );
    }
}
