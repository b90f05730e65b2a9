//! Kubernetes quantities (`500m`, `1Gi`, `2e3`), exactly: values are held
//! in nano-units (i128), so sums and comparisons never round. Parsing
//! rounds a finer fraction up, as upstream's `Quantity` does.

use std::fmt;

use serde_json::Value;

const NANO: i128 = 1_000_000_000;

/// A quantity in nano-units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(pub i128);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {}",
            self.0
        )
    }
}

/// `Ki` .. `Ei` as powers of two.
const BINARY: &[(&str, u32)] = &[
    ("Ki", 10),
    ("Mi", 20),
    ("Gi", 30),
    ("Ti", 40),
    ("Pi", 50),
    ("Ei", 60),
];

/// Decimal suffixes as powers of ten.
const DECIMAL: &[(&str, i32)] = &[
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

fn pow10(e: u32) -> Option<i128> {
    10i128.checked_pow(e)
}

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);

    pub fn from_units(n: i64) -> Quantity {
        Quantity(n as i128 * NANO)
    }

    pub fn parse(s: &str) -> Result<Quantity, ParseError> {
        let err = || ParseError(s.to_string());
        let s = s.trim();
        let (negative, rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(num_end);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(err());
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        let digits: String = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 30 {
            return Err(err());
        }
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| err())?
        };
        let frac_digits = frac_part.len() as i32;
        // value = mantissa * 10^(exp10 - frac_digits) * 2^exp2, in nano-units (+9).
        let (exp10, exp2) = if let Some((_, p)) = BINARY.iter().find(|(n, _)| *n == suffix) {
            (0, *p)
        } else if let Some((_, p)) = DECIMAL.iter().find(|(n, _)| *n == suffix) {
            (*p, 0)
        } else if let Some(e) = suffix.strip_prefix(['e', 'E']) {
            let e: i32 = e.parse().map_err(|_| err())?;
            if !(-40..=40).contains(&e) {
                return Err(err());
            }
            (e, 0)
        } else {
            return Err(err());
        };
        let scale = exp10 - frac_digits + 9;
        let mut numerator = mantissa.checked_mul(1i128 << exp2).ok_or_else(err)?;
        let mut denominator: i128 = 1;
        if scale >= 0 {
            numerator = numerator
                .checked_mul(pow10(scale as u32).ok_or_else(err)?)
                .ok_or_else(err)?;
        } else {
            denominator = pow10((-scale) as u32).ok_or_else(err)?;
        }
        // Round up (away from zero for the magnitude), as upstream does.
        let mut v = numerator / denominator;
        if numerator % denominator != 0 {
            v += 1;
        }
        Ok(Quantity(if negative { -v } else { v }))
    }

    /// A quantity from a JSON string or number.
    pub fn from_value(v: &Value) -> Option<Quantity> {
        match v {
            Value::String(s) => Quantity::parse(s).ok(),
            Value::Number(n) => Quantity::parse(&n.to_string()).ok(),
            _ => None,
        }
    }

    /// Canonical form: binary suffixes (`Ki`..`Ei`) when `binary` and the
    /// value is a whole multiple of one, otherwise the largest decimal
    /// suffix with an integer mantissa (`1500m`, `2k`, `0`).
    pub fn format(&self, binary: bool) -> String {
        let v = self.0;
        if v == 0 {
            return "0".into();
        }
        if binary && v % NANO == 0 {
            let units = v / NANO;
            for (name, p) in BINARY.iter().rev() {
                let m = 1i128 << p;
                if units % m == 0 {
                    return format!("{}{name}", units / m);
                }
            }
            return units.to_string();
        }
        for (name, p) in DECIMAL.iter().rev() {
            let m = pow10((p + 9) as u32).unwrap_or(1);
            if v % m == 0 {
                return format!("{}{name}", v / m);
            }
        }
        format!("{v}n")
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, o: Quantity) -> Quantity {
        Quantity(self.0.saturating_add(o.0))
    }
}

impl std::ops::Sub for Quantity {
    type Output = Quantity;
    fn sub(self, o: Quantity) -> Quantity {
        Quantity(self.0.saturating_sub(o.0))
    }
}

/// Whether a quantity string is written with a binary suffix (used to pick
/// the format of sums shown against it).
pub fn is_binary(s: &str) -> bool {
    BINARY.iter().any(|(n, _)| s.trim().ends_with(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn parses_suffixes_exactly() {
        assert_eq!(q("1"), Quantity(NANO));
        assert_eq!(q("500m"), Quantity(NANO / 2));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("1Gi"), Quantity((1i128 << 30) * NANO));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1E-3"), q("1m"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("100n"), Quantity(100));
        assert_eq!(q("-2"), Quantity(-2 * NANO));
        assert_eq!(q("+2"), q("2"));
        assert_eq!(q(".5"), q("500m"));
        assert_eq!(q("8Ei"), Quantity((8i128 << 60) * NANO));
    }

    #[test]
    fn rounds_finer_than_nano_up() {
        assert_eq!(q("0.0000000001"), Quantity(1));
        assert_eq!(q("1e-12"), Quantity(1));
    }

    #[test]
    fn rejects_garbage() {
        for s in ["", "abc", "1x", "1..2", ".", "1Kii", "1e", "m"] {
            assert!(Quantity::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn compares_across_units() {
        assert!(q("1Gi") > q("1G"));
        assert!(q("1001m") > q("1"));
        assert!(q("250m") + q("250m") <= q("500m"));
        assert!(q("250m") + q("251m") > q("0.5"));
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(q("500m").format(false), "500m");
        assert_eq!(q("1.5").format(false), "1500m");
        assert_eq!(q("1000").format(false), "1k");
        assert_eq!(q("2").format(false), "2");
        assert_eq!(q("0").format(true), "0");
        assert_eq!(q("1Gi").format(true), "1Gi");
        assert_eq!((q("512Mi") + q("512Mi")).format(true), "1Gi");
        assert_eq!(q("1536Mi").format(true), "1536Mi");
        assert_eq!(q("100").format(true), "100");
        assert_eq!(q("100n").format(false), "100n");
        assert_eq!(q("1").format(true), "1");
        assert!(is_binary("1Gi"));
        assert!(!is_binary("1G"));
    }
}
