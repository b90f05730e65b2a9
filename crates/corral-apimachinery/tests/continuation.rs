//! Continue tokens: round trips, upstream byte format, garbage rejection.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use corral_apimachinery::continuation::{ContinueError, decode, encode};

fn token_of(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json.as_bytes())
}

#[test]
fn round_trips() {
    let keys = [
        "default/foo",
        "a",
        "ns/name-with-<&>",
        "unicode/é/\u{2028}",
        "quote\"and\\backslash",
        "with\u{0}nul",
    ];
    for rv in [1i64, 42, i64::MAX, -7] {
        for key in keys {
            let token = encode(rv, key);
            assert!(!token.contains('='), "unpadded: {token}");
            assert!(
                !token.contains('+') && !token.contains('/'),
                "url-safe: {token}"
            );
            assert_eq!(decode(&token), Ok((rv, key.to_string())), "{rv} {key:?}");
        }
    }
}

#[test]
fn encodes_like_upstream() {
    let token = encode(5, "default/a<b");
    let bytes = URL_SAFE_NO_PAD.decode(token.as_bytes()).expect("base64");
    assert_eq!(
        String::from_utf8(bytes).expect("utf8"),
        r#"{"v":"meta.k8s.io/v1","rv":5,"start":"default/a\u003cb"}"#
    );
}

/// What decoding a bad token must give: any `Invalid`, or exactly this error.
enum Want {
    Invalid,
    Exactly(ContinueError),
}

#[test]
fn rejects_garbage() {
    use Want::{Exactly, Invalid};
    let cases: Vec<(String, Want)> = vec![
        ("".into(), Invalid),
        ("!!!".into(), Invalid),
        ("abc=".into(), Invalid),
        (token_of("not json"), Invalid),
        (token_of("[1,2]"), Invalid),
        (
            token_of(r#"{"v":"meta.k8s.io/v1","rv":"5","start":"a"}"#),
            Invalid,
        ),
        (
            token_of(r#"{"v":"meta.k8s.io/v1","rv":5,"start":"../other"}"#),
            Invalid,
        ),
        (
            token_of(r#"{"v":"meta.k8s.io/v1","rv":5,"start":"ns/./x"}"#),
            Invalid,
        ),
        (
            token_of(r#"{"v":"meta.k8s.io/v2","rv":5,"start":"a"}"#),
            Exactly(ContinueError::UnrecognizedVersion("meta.k8s.io/v2".into())),
        ),
        (
            token_of(r#"{"rv":5,"start":"a"}"#),
            Exactly(ContinueError::UnrecognizedVersion(String::new())),
        ),
        (
            token_of(r#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#),
            Exactly(ContinueError::InvalidStartRv),
        ),
        (
            token_of(r#"{"v":"meta.k8s.io/v1","start":"a"}"#),
            Exactly(ContinueError::InvalidStartRv),
        ),
        (
            token_of(r#"{"v":"meta.k8s.io/v1","rv":3,"start":""}"#),
            Exactly(ContinueError::EmptyStartKey),
        ),
    ];
    for (token, want) in cases {
        let got = decode(&token);
        match want {
            Invalid => assert!(
                matches!(got, Err(ContinueError::Invalid(_))),
                "token {token:?} gave {got:?}"
            ),
            Exactly(e) => assert_eq!(got, Err(e), "token {token:?}"),
        }
    }
}

#[test]
fn messages_match_upstream() {
    assert_eq!(
        ContinueError::InvalidStartRv.to_string(),
        "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
    );
    assert_eq!(
        ContinueError::EmptyStartKey.to_string(),
        "continue key is not valid: encoded start key empty (version meta.k8s.io/v1)"
    );
    assert_eq!(
        ContinueError::UnrecognizedVersion("x".into()).to_string(),
        "continue key is not valid: server does not recognize this encoded version x"
    );
    assert_eq!(
        decode("!!!").map_err(|e| e.to_string()),
        Err("continue key is not valid: illegal base64 data at input byte 0".into())
    );
}
