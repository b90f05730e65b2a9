//! Name format checks used by CRDs that the shared validation module does
//! not provide: DNS-1035 labels (version names, resource names, kinds)
//! and `schema.ParseGroupVersion`.

const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const DNS1035_LABEL_MAX: usize = 63;

/// Upstream `IsDNS1035Label`: the list of messages, empty when valid.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_LABEL_MAX {
        errs.push(format!("must be no more than {DNS1035_LABEL_MAX} bytes"));
    }
    if !matches_dns1035(value) {
        // Upstream's RegexError layout, including its double space.
        errs.push(format!(
            "{DNS1035_LABEL_ERR} (e.g. 'my-name',  or 'abc-123', regex used for validation is '{DNS1035_LABEL_FMT}')"
        ));
    }
    errs
}

/// `^[a-z]([-a-z0-9]*[a-z0-9])?$`
fn matches_dns1035(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_lowercase()
                && (l.is_ascii_lowercase() || l.is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        }
        _ => false,
    }
}

/// `schema.ParseGroupVersion`: `""`, `"v"` or `"g/v"`; otherwise upstream's
/// error text.
pub(crate) fn parse_group_version(s: &str) -> Result<(&str, &str), String> {
    if s.is_empty() || s == "/" {
        return Ok(("", ""));
    }
    match s.split('/').collect::<Vec<_>>().as_slice() {
        [v] => Ok(("", v)),
        [g, v] => Ok((g, v)),
        _ => Err(format!("unexpected GroupVersion string: {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1035() {
        assert!(is_dns1035_label("crontabs").is_empty());
        assert!(is_dns1035_label("v1beta1").is_empty());
        assert_eq!(is_dns1035_label("1abc").len(), 1);
        assert_eq!(is_dns1035_label("Abc").len(), 1);
        assert_eq!(is_dns1035_label(&"a".repeat(64)).len(), 1);
        assert_eq!(
            parse_group_version("a/b/c"),
            Err("unexpected GroupVersion string: a/b/c".into())
        );
        assert_eq!(parse_group_version("apps/v1"), Ok(("apps", "v1")));
    }
}
