//! Property test over request decoding: arbitrary bodies, content types and
//! paths never panic the server, always get a `Status` with a 4xx code, and
//! never leave anything written.

use std::sync::Arc;

use bytes::Bytes;
use corral_apiserver::authn::token::StaticTokenAuthenticator;
use corral_apiserver::authn::{Chain, UserInfo};
use corral_apiserver::{ApiServer, ApiServerOptions};
use corral_store::Store;
use corral_store::sqlite::{SqliteOptions, SqliteStore};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;

struct Fixture {
    api: Arc<ApiServer>,
    store: Arc<SqliteStore>,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let store = SqliteStore::open(&dir.path().join("db"), SqliteOptions::default()).expect("store");
    let user = UserInfo {
        name: "admin".into(),
        uid: "1".into(),
        groups: vec!["system:masters".into()],
        ..Default::default()
    };
    let authenticator = Chain::new().with(Arc::new(
        StaticTokenAuthenticator::new().with_hash(StaticTokenAuthenticator::hash("t"), user),
    ));
    let options = ApiServerOptions {
        service_ranges: None,
        audit: None,
        authenticator,
        sa_keys: None,
        allow_anonymous: false,
    };
    let api = ApiServer::new(store.clone(), options);
    rt.block_on(api.start()).expect("start");
    Fixture {
        api,
        store,
        rt,
        _dir: dir,
    }
}

fn send(
    f: &Fixture,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer t")
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    f.rt.block_on(async {
        let resp = f.api.clone().handle(req).await.expect("infallible");
        let code = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (
            code,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    })
}

fn json_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "\\PC{0,200}".prop_map(String::into_bytes),
        // Objects that look like ConfigMaps, with wrong types in every position.
        (any::<bool>(), "[a-zA-Z0-9._ -]{0,20}", prop_oneof![Just("1".to_string()), Just("null".to_string()), Just("[]".to_string()), Just("{}".to_string()), Just("\"v\"".to_string())])
            .prop_map(|(wrap, name, v)| {
                let body = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","labels":{v}}},"data":{v}}}"#);
                if wrap { body.into_bytes() } else { format!(r#"{{"metadata":{v},"data":{{"k":{v}}}}}"#).into_bytes() }
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_create_bodies_are_rejected_cleanly_or_stored_whole(body in json_like(), yaml in any::<bool>()) {
        let f = fixture();
        let ct = if yaml { "application/yaml" } else { "application/json" };
        let (code, status) = send(&f, "POST", "/api/v1/namespaces/default/configmaps", ct, body);
        if code == 201 {
            // Accepted: it must be a whole, readable object.
            let name = status["metadata"]["name"].as_str().unwrap_or("").to_string();
            let (get_code, _) = send(&f, "GET", &format!("/api/v1/namespaces/default/configmaps/{name}"), ct, vec![]);
            prop_assert_eq!(get_code, 200);
        } else {
            prop_assert!((400..500).contains(&code), "code {} for {:?}", code, status);
            prop_assert_eq!(&status["kind"], "Status");
            prop_assert!(status["message"].as_str().is_some_and(|m| !m.is_empty()));
            let n = f.rt.block_on(f.store.count("/registry/core/configmaps/")).expect("count");
            prop_assert_eq!(n, 0);
        }
    }

    #[test]
    fn arbitrary_paths_and_queries_never_panic(path in "/[a-z0-9/%?=&._-]{0,60}", method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("PATCH"), Just("DELETE")]) {
        // Watches stream until their timeout; they are covered by the end-to-end tests.
        prop_assume!(!path.contains("watch"));
        let f = fixture();
        let (code, _) = send(&f, method, &path, "application/json", b"{}".to_vec());
        prop_assert!(code < 500, "code {} for {} {}", code, method, path);
    }
}
