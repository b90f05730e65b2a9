//! String `format`s checked during validation. Upstream strips every
//! format outside its supported list before validating, so e.g. `int32`
//! or `k8s-foo` restrict nothing; the supported ones are checked by
//! kube-openapi's `strfmt` registry, approximated here.

use crate::util::parse_time;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Formats upstream keeps (apiextensions' `supportedFormats`).
const SUPPORTED: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "date-time",
];

/// Whether `format` is validated at all.
pub(crate) fn is_supported(format: &str) -> bool {
    SUPPORTED.contains(&format)
}

/// Whether `s` is a valid `format` value. Unsupported formats and the ones
/// not modelled here (`isbn*`, `creditcard`, `password`) accept anything.
pub(crate) fn is_valid(format: &str, s: &str) -> bool {
    match format {
        "bsonobjectid" => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(s),
        "email" => is_email(s),
        "hostname" => is_hostname(s),
        "ipv4" => s.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => s.contains(':') && s.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "uuid" => is_uuid(s, None),
        "uuid3" => is_uuid(s, Some(b'3')),
        "uuid4" => is_uuid(s, Some(b'4')),
        "uuid5" => is_uuid(s, Some(b'5')),
        "ssn" => is_ssn(s),
        "hexcolor" => is_hexcolor(s),
        "rgbcolor" => is_rgbcolor(s),
        "byte" => is_base64(s),
        "date" => is_date(s),
        "duration" => is_duration(s),
        "datetime" | "date-time" => is_date_time(s),
        _ => true,
    }
}

/// `url.ParseRequestURI`: an absolute URI (`scheme:...`) or an absolute path.
fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.bytes().any(|b| b < 0x20 || b == 0x7f || b == b' ') {
        return false;
    }
    if s.starts_with('/') {
        return true;
    }
    match s.split_once(':') {
        Some((scheme, rest)) => {
            let b = scheme.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphabetic()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
                && !rest.is_empty()
        }
        None => false,
    }
}

/// `net/mail.ParseAddress`, simplified: `local@domain`, optionally as
/// `Name <local@domain>`.
fn is_email(s: &str) -> bool {
    let addr = match (s.rfind('<'), s.ends_with('>')) {
        (Some(i), true) => &s[i + 1..s.len() - 1],
        _ => s.trim(),
    };
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !addr.contains(char::is_whitespace)
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// RFC 1034 host names (letters, digits, symbols, hyphens inside labels).
fn is_hostname(s: &str) -> bool {
    if s.is_empty() || s.len() > 255 {
        return false;
    }
    s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || is_symbol(c))
    })
}

fn is_symbol(c: char) -> bool {
    !c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control()
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(bits) = bits.parse::<u32>() else {
        return false;
    };
    if ip.parse::<Ipv4Addr>().is_ok() {
        bits <= 32
    } else {
        ip.parse::<Ipv6Addr>().is_ok() && bits <= 128
    }
}

/// `net.ParseMAC`: 6, 8 or 20 octets as `aa:bb..`, `aa-bb..` or `aabb.ccdd..`.
fn is_mac(s: &str) -> bool {
    let groups_ok = |sep: char, width: usize| {
        let parts: Vec<&str> = s.split(sep).collect();
        let octets = parts.len() * width / 2;
        matches!(octets, 6 | 8 | 20)
            && parts
                .iter()
                .all(|p| p.len() == width && p.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    if s.contains(':') {
        groups_ok(':', 2)
    } else if s.contains('-') {
        groups_ok('-', 2)
    } else if s.contains('.') {
        groups_ok('.', 4)
    } else {
        false
    }
}

/// 8-4-4-4-12 hex digits, hyphens optional, any case; `version` pins the
/// version digit (and the RFC 4122 variant for v4/v5).
fn is_uuid(s: &str, version: Option<u8>) -> bool {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return false;
    }
    // Hyphens may only sit at the group boundaries.
    let mut pos = 0usize;
    for (i, b) in s.bytes().enumerate() {
        if b == b'-' {
            if ![8, 12, 16, 20].contains(&pos) || s.as_bytes().get(i + 1) == Some(&b'-') {
                return false;
            }
        } else {
            pos += 1;
        }
    }
    match version {
        None => true,
        Some(v) => {
            let variant_ok =
                v == b'3' || matches!(hex[16].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b');
            hex[12] == v && variant_ok
        }
    }
}

fn is_ssn(s: &str) -> bool {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
    let seps = s.len() - digits.len();
    digits.len() == 9
        && (seps == 0
            || (seps == 2
                && matches!(s.as_bytes().get(3), Some(b'-' | b' '))
                && matches!(s.as_bytes().get(6), Some(b'-' | b' '))))
}

fn is_hexcolor(s: &str) -> bool {
    let h = s.strip_prefix('#').unwrap_or(s);
    (h.len() == 3 || h.len() == 6) && h.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_rgbcolor(s: &str) -> bool {
    let Some(inner) = s.strip_prefix("rgb(").and_then(|r| r.strip_suffix(')')) else {
        return false;
    };
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// Standard padded base64 (govalidator's `IsBase64`).
fn is_base64(s: &str) -> bool {
    if s.is_empty() || !s.len().is_multiple_of(4) {
        return false;
    }
    let body = s.trim_end_matches('=');
    s.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `YYYY-MM-DD`, a real calendar date.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let Ok(month) = time::Month::try_from(m as u8) else {
        return false;
    };
    time::Date::from_calendar_date(y as i32, month, d as u8).is_ok()
}

/// strfmt's `IsDateTime`: a date, `t`, then `hh:mm:ss[.frac](z|±hh:mm)`,
/// case-insensitive; RFC 3339 timestamps are also accepted.
fn is_date_time(s: &str) -> bool {
    if parse_time(s).is_some() {
        return true;
    }
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(clock)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let b = clock.as_bytes();
    if b.len() < 9 || b[2] != b':' || b[5] != b':' {
        return false;
    }
    let two = |i: usize| b[i].is_ascii_digit() && b[i + 1].is_ascii_digit();
    if !(two(0) && two(3) && two(6)) {
        return false;
    }
    let (h, m, sec) = (&clock[0..2], &clock[3..5], &clock[6..8]);
    if h > "23" || m > "59" || sec > "59" {
        return false;
    }
    let mut rest = &clock[8..];
    // `(.[0-9]+)?`: any one character, then digits.
    if rest.len() > 1 && rest.as_bytes()[1].is_ascii_digit() && !rest.starts_with(['+', '-']) {
        let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
        rest = &rest[1 + digits..];
    }
    if rest == "z" {
        return true;
    }
    let z = rest.as_bytes();
    z.len() == 6
        && (z[0] == b'+' || z[0] == b'-')
        && z[1].is_ascii_digit()
        && z[2].is_ascii_digit()
        && z[3] == b':'
        && z[4].is_ascii_digit()
        && z[5].is_ascii_digit()
}

/// Go `time.ParseDuration` syntax (`1h30m`, `-1.5s`, `0`) or strfmt's
/// `<n> <unit>` form (`3 days`, `2w`).
fn is_duration(s: &str) -> bool {
    is_go_duration(s) || is_word_duration(s)
}

fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut after = &rest[int_len..];
        let mut frac_len = 0;
        if let Some(f) = after.strip_prefix('.') {
            frac_len = f.bytes().take_while(u8::is_ascii_digit).count();
            after = &f[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return false;
        }
        let unit_len = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .iter()
            .find(|u| after.starts_with(**u) && !(**u == "m" && after.starts_with("ms")))
            .map(|u| u.len());
        match unit_len {
            Some(n) => rest = &after[n..],
            None => return false,
        }
    }
    true
}

fn is_word_duration(s: &str) -> bool {
    const UNITS: &[&str] = &[
        "ns",
        "us",
        "µs",
        "ms",
        "s",
        "m",
        "h",
        "d",
        "w",
        "nanosecond",
        "nanoseconds",
        "microsecond",
        "microseconds",
        "millisecond",
        "milliseconds",
        "second",
        "seconds",
        "sec",
        "secs",
        "minute",
        "minutes",
        "min",
        "mins",
        "hour",
        "hours",
        "hr",
        "hrs",
        "day",
        "days",
        "week",
        "weeks",
        "wk",
        "wks",
    ];
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let unit = s[digits..].trim_start();
    UNITS.contains(&unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_checks() {
        let ok = [
            ("date-time", "2024-01-02T03:04:05Z"),
            ("date-time", "2024-01-02t03:04:05.123+02:00"),
            ("date", "2024-02-29"),
            ("byte", "aGVsbG8="),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000"),
            ("uuid4", "123e4567-e89b-42d3-a456-426614174000"),
            ("ipv4", "10.0.0.1"),
            ("ipv6", "::1"),
            ("cidr", "10.0.0.0/8"),
            ("mac", "00:00:5e:00:53:01"),
            ("hostname", "example.com"),
            ("email", "a@example.com"),
            ("uri", "https://example.com/x"),
            ("duration", "1h30m"),
            ("duration", "3 days"),
            ("hexcolor", "#fff"),
            ("rgbcolor", "rgb(0, 128, 255)"),
            ("int32", "anything"),
        ];
        for (f, s) in ok {
            assert!(is_valid(f, s), "{f} {s}");
        }
        let bad = [
            ("date-time", "2024-01-02"),
            ("date", "2023-02-29"),
            ("byte", "hello"),
            ("uuid", "123"),
            ("uuid4", "123e4567-e89b-12d3-a456-426614174000"),
            ("ipv4", "10.0.0"),
            ("ipv4", "::1"),
            ("cidr", "10.0.0.0/33"),
            ("mac", "00:00:5e"),
            ("hostname", "-a.com"),
            ("email", "nope"),
            ("uri", "not a uri"),
            ("duration", "1x"),
        ];
        for (f, s) in bad {
            assert!(!is_valid(f, s), "{f} {s}");
        }
    }
}
