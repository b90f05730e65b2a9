//! Request headers on the way downstream: the client's credentials and
//! impersonation requests never pass; Corral's own take their place.

use corral_apiserver::authn::UserInfo;
use http::{HeaderMap, HeaderName, HeaderValue};

/// Hop-by-hop headers (RFC 9110 §7.6.1) a proxy must not forward, except
/// `Connection`/`Upgrade` on upgrade requests, which the forwarder keeps.
const HOP_BY_HOP: &[&str] = &[
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Remove what must not reach the cluster: the client's credentials, its own
/// impersonation headers, and hop-by-hop headers.
pub fn strip(headers: &mut HeaderMap, upgrade: bool) {
    headers.remove(http::header::AUTHORIZATION);
    headers.remove(http::header::COOKIE);
    let impersonation: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("impersonate-"))
        .cloned()
        .collect();
    for k in impersonation {
        headers.remove(k);
    }
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
    if !upgrade {
        headers.remove(http::header::CONNECTION);
        headers.remove(http::header::UPGRADE);
    }
    headers.remove(http::header::HOST);
}

/// `Impersonate-User`, one `Impersonate-Group` per group and
/// `Impersonate-Extra-<key>` per extra value (keys percent-encoded, as
/// upstream requires for header names).
pub fn impersonation_headers(user: &UserInfo) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    let mut push = |name: String, value: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            out.push((n, v));
        }
    };
    push("impersonate-user".into(), &user.name);
    for g in &user.groups {
        // Added by every authenticator downstream anyway.
        if g == "system:authenticated" {
            continue;
        }
        push("impersonate-group".into(), g);
    }
    if !user.uid.is_empty() {
        push("impersonate-uid".into(), &user.uid);
    }
    for (key, values) in &user.extra {
        let name = format!("impersonate-extra-{}", percent_encode_key(key));
        for v in values {
            push(name.clone(), v);
        }
    }
    out
}

/// Header names allow only token characters; upstream percent-encodes the rest.
fn percent_encode_key(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-_.~!#$&'*+^`|".contains(&b);
        if keep {
            out.push(b.to_ascii_lowercase() as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn client_credentials_and_impersonation_never_pass() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer user-token"),
        );
        h.insert("impersonate-user", HeaderValue::from_static("admin"));
        h.insert(
            "impersonate-group",
            HeaderValue::from_static("system:masters"),
        );
        h.insert("impersonate-extra-scopes", HeaderValue::from_static("x"));
        h.insert("accept", HeaderValue::from_static("application/json"));
        h.insert("connection", HeaderValue::from_static("Upgrade"));
        h.insert("upgrade", HeaderValue::from_static("SPDY/3.1"));
        strip(&mut h, true);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, vec!["accept", "connection", "upgrade"]);
        strip(&mut h, false);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn impersonates_user_groups_and_extras() {
        let mut extra = BTreeMap::new();
        extra.insert(
            "corral.dev/principal id".to_string(),
            vec!["local://u-1".to_string()],
        );
        let user = UserInfo {
            name: "ann".into(),
            groups: vec!["devs".into(), "system:authenticated".into()],
            extra: extra.into_iter().collect(),
            ..Default::default()
        };
        let h: Vec<(String, String)> = impersonation_headers(&user)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        assert_eq!(
            h,
            vec![
                ("impersonate-user".into(), "ann".into()),
                ("impersonate-group".into(), "devs".into()),
                (
                    // Header names are case-insensitive; `http` lower-cases them.
                    "impersonate-extra-corral.dev%2fprincipal%20id".into(),
                    "local://u-1".into()
                ),
            ]
        );
    }
}
