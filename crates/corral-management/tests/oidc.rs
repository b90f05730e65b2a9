//! The OIDC provider end to end: a Corral server in-process on loopback
//! (HTTPS), a test OpenID Provider on loopback (tests/support/idp.rs) that
//! speaks the real protocol, and the browser's part played by following
//! the redirects by hand.

#[path = "support/corral.rs"]
mod corral;
#[path = "support/idp.rs"]
mod idp;

use corral::{ADMIN_TOKEN, Corral, Reply, fetch, query_of};
use idp::{Oidc, SigningKey, User};
use serde_json::{Value, json};

fn ann() -> User {
    User {
        sub: "248289761001".into(),
        username: "ann".into(),
        name: "Ann Example".into(),
        groups: vec!["admins".into(), "devs".into()],
    }
}

async fn setup_with(signer: SigningKey, extra: Value) -> (Corral, Oidc) {
    let corral = corral::start().await;
    let idp = Oidc::start(ann(), signer).await;
    let secret = idp.get(|s| s.client_secret.clone());
    corral.secret("oidc-client", "clientSecret", &secret).await;
    let mut spec = json!({
        "type": "oidcConfig",
        "enabled": true,
        "accessMode": "unrestricted",
        "settings": {
            "issuer": idp.issuer,
            "clientId": "corral",
            "clientSecretRef": {"name": "oidc-client"},
            "scopes": ["openid", "profile", "groups"],
            "groupsClaim": "groups",
        },
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    corral.authconfig("oidc", spec).await;
    (corral, idp)
}

async fn setup() -> (Corral, Oidc) {
    setup_with(SigningKey::rsa("rsa-1"), json!({})).await
}

/// The browser: Corral's login endpoint → the IdP's authorization endpoint
/// (with `tamper` applied to its URL) → Corral's callback. The callback's
/// reply and URL.
async fn browser_login_with(
    corral: &Corral,
    login_path: &str,
    tamper: impl Fn(String) -> String,
) -> (Reply, String) {
    let r = corral.call("GET", login_path, None, None).await;
    assert_eq!(r.status, 302, "login: {}", r.body);
    let authorize = tamper(r.location());
    let q = query_of(&authorize);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    assert!(q["scope"].split(' ').any(|s| s == "openid"), "{q:?}");
    assert!(!q["nonce"].is_empty() && q["state"].len() >= 43, "{q:?}");
    let r = fetch("", "GET", &authorize, &[], None).await;
    assert_eq!(r.status, 302, "authorize: {}", r.body);
    let callback = r.location();
    assert!(
        callback.starts_with(&format!("{}/v3/auth/oidc/callback?", corral.url)),
        "{callback}"
    );
    (
        fetch(&corral.ca_pem, "GET", &callback, &[], None).await,
        callback,
    )
}

async fn browser_login(corral: &Corral) -> (Reply, String) {
    browser_login_with(corral, "/v3/auth/oidc/login", |u| u).await
}

fn token_of(r: &Reply) -> String {
    assert_eq!(r.status, 200, "callback: {}", r.body);
    r.json()["token"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn full_flow_gives_a_token_with_groups_that_rbac_honours() {
    let (corral, idp) = setup().await;
    // Members of the IdP group may read namespaces.
    corral
        .bind("oidc-admins-view", "Group", "oidc_group://admins", "view")
        .await;

    let (r, _) = browser_login(&corral).await;
    let body = r.json();
    let token = token_of(&r);
    assert_eq!(body["authProvider"], "oidc");
    assert_eq!(
        body["groups"],
        json!(["oidc_group://admins", "oidc_group://devs"])
    );
    let principal = format!("oidc_user://{}#248289761001", idp.issuer);
    assert_eq!(body["user"]["principalIds"], json!([principal]));
    assert_eq!(body["user"]["username"], "ann");
    assert_eq!(body["user"]["displayName"], "Ann Example");

    let who = corral.whoami(&token).await;
    assert_eq!(who["authProvider"], "oidc");
    let groups = who["groups"].as_array().unwrap();
    assert!(groups.contains(&json!("oidc_group://admins")), "{who}");
    assert!(groups.contains(&json!("system:authenticated")), "{who}");

    // The token authenticates to the Kubernetes API; RBAC sees the group.
    let r = corral
        .call("GET", "/api/v1/namespaces", Some(&token), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = corral
        .call(
            "GET",
            "/api/v1/namespaces/default/secrets",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "view does not read secrets: {}", r.body);

    // A second login finds the same User (by principal id), with fresh groups.
    idp.set(|s| s.user.groups = vec!["devs".into()]);
    let (r, _) = browser_login(&corral).await;
    let second = r.json();
    assert_eq!(second["user"]["name"], body["user"]["name"]);
    assert_eq!(second["groups"], json!(["oidc_group://devs"]));
    let r = corral
        .call(
            "GET",
            "/api/v1/namespaces",
            Some(second["token"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "no longer in admins: {}", r.body);
    // The discovery document and keys were cached across logins.
    assert_eq!(idp.get(|s| s.jwks_fetches), 1);
    assert_eq!(corral::pending(&corral), 0);
}

#[tokio::test]
async fn es256_tokens_and_key_rotation() {
    let (corral, idp) = setup_with(SigningKey::ec("ec-1"), json!({})).await;
    let (r, _) = browser_login(&corral).await;
    token_of(&r);
    assert_eq!(idp.get(|s| s.jwks_fetches), 1);

    // The provider rotates to a new key: the unknown kid makes Corral fetch
    // the key set again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let next = SigningKey::rsa("rsa-2");
    idp.set(|s| {
        s.published = vec![next.jwk.clone()];
        s.signer = next;
    });
    let (r, _) = browser_login(&corral).await;
    token_of(&r);
    assert_eq!(idp.get(|s| s.jwks_fetches), 2);
}

#[tokio::test]
async fn wrong_pkce_verifier_is_rejected() {
    let (corral, idp) = setup().await;
    // Someone swaps the challenge on the way to the IdP: the verifier Corral
    // kept no longer matches, and the IdP refuses the code.
    let (r, _) = browser_login_with(&corral, "/v3/auth/oidc/login", |url| {
        let q = query_of(&url);
        url.replace(
            &q["code_challenge"],
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
    })
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["message"], "the login failed");
    assert_eq!(
        idp.get(|s| s.last_token_error.clone()).as_deref(),
        Some("invalid_grant: PKCE verification failed")
    );
}

#[tokio::test]
async fn bad_signature_is_rejected() {
    let (corral, idp) = setup().await;
    // Signed by a key the IdP does not publish, under a published kid.
    let forger = SigningKey::rsa("rsa-1");
    idp.set(|s| s.signer = forger);
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 401, "{}", r.body);

    // An unknown kid: refetched once, still unknown, refused.
    let stranger = SigningKey::ec("nobody");
    idp.set(|s| s.signer = stranger);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 401, "{}", r.body);

    // No token was issued for any of them.
    let r = corral
        .call(
            "GET",
            "/apis/management.corral.dev/v1/tokens",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(r.json()["items"], json!([]));
}

#[tokio::test]
async fn expired_wrong_audience_issuer_and_nonce_are_rejected() {
    let (corral, idp) = setup().await;
    // Expired beyond the 30 s clock-skew allowance.
    idp.set(|s| s.exp_in = -120);
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 401, "expired: {}", r.body);
    // Within the allowance: accepted.
    idp.set(|s| s.exp_in = -5);
    let (r, _) = browser_login(&corral).await;
    token_of(&r);
    idp.set(|s| s.exp_in = 300);

    // Not yet valid.
    idp.set(|s| s.extra_claims = json!({"nbf": 4_000_000_000u64}));
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 401, "nbf: {}", r.body);
    idp.set(|s| s.extra_claims = json!({}));

    idp.set(|s| s.aud = Some(json!("another-client")));
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 401, "audience: {}", r.body);
    // Several audiences without azp naming this client.
    idp.set(|s| s.aud = Some(json!(["corral", "another-client"])));
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 401, "azp: {}", r.body);
    idp.set(|s| {
        s.aud = Some(json!(["corral", "another-client"]));
        s.extra_claims = json!({"azp": "corral"});
    });
    let (r, _) = browser_login(&corral).await;
    token_of(&r);
    idp.set(|s| {
        s.aud = None;
        s.extra_claims = json!({});
    });

    idp.set(|s| s.iss = Some("https://evil.example".into()));
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 401, "issuer: {}", r.body);
    idp.set(|s| s.iss = None);

    idp.set(|s| s.nonce = Some("replayed-nonce".into()));
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 401, "nonce: {}", r.body);
}

#[tokio::test]
async fn replayed_unknown_and_foreign_states_are_rejected() {
    let (corral, _idp) = setup().await;
    let (r, callback) = browser_login(&corral).await;
    token_of(&r);
    // The same callback again: the state was used.
    let r = fetch(&corral.ca_pem, "GET", &callback, &[], None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("state"));
    // A state Corral never issued.
    let r = corral
        .call(
            "GET",
            "/v3/auth/oidc/callback?code=abc&state=forged-state",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = corral
        .call("GET", "/v3/auth/oidc/callback?code=abc", None, None)
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // A state is also burnt by a failed callback (no second try with it).
    let r = corral.call("GET", "/v3/auth/oidc/login", None, None).await;
    let state = query_of(&r.location())["state"].clone();
    let path = format!("/v3/auth/oidc/callback?code=bogus&state={state}");
    let r = corral.call("GET", &path, None, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = corral.call("GET", &path, None, None).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn disallowed_principals_and_denied_consent_are_rejected() {
    let (corral, idp) = setup_with(
        SigningKey::rsa("rsa-1"),
        json!({"accessMode": "restricted", "allowedPrincipalIds": ["oidc_group://admins"]}),
    )
    .await;
    let (r, _) = browser_login(&corral).await;
    token_of(&r);
    idp.set(|s| s.user.groups = vec!["devs".into()]);
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["message"], "this user is not allowed to log in");

    idp.set(|s| s.deny = true);
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("access_denied")
    );
}

#[tokio::test]
async fn cli_loopback_redirect_and_provider_states() {
    let (corral, _idp) = setup().await;
    // A CLI's loopback listener gets the token in its callback URL.
    let (r, _) = browser_login_with(
        &corral,
        "/v3/auth/oidc/login?redirect=http%3A%2F%2F127.0.0.1%3A8400%2Fdone&ttl=600",
        |u| u,
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let target = r.location();
    assert!(
        target.starts_with("http://127.0.0.1:8400/done?token=t-"),
        "{target}"
    );
    let q = query_of(&target);
    let who = corral.whoami(&q["token"]).await;
    assert_eq!(who["username"], "ann");
    assert!(!q["expiresAt"].is_empty());

    // Anything but a loopback redirect is refused.
    for bad in [
        "https%3A%2F%2Fevil.example%2Fsteal",
        "http%3A%2F%2Fevil.example%3A80%2F",
    ] {
        let r = corral
            .call(
                "GET",
                &format!("/v3/auth/oidc/login?redirect={bad}"),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }

    // Unknown and password providers; then a disabled one.
    let r = corral.call("GET", "/v3/auth/nope/login", None, None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = corral.call("GET", "/v3/auth/local/login", None, None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = corral
        .call(
            "POST",
            "/v3/login",
            None,
            Some(&json!({"provider": "oidc", "username": "ann", "password": "x"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let mut config = corral
        .call(
            "GET",
            "/apis/management.corral.dev/v1/authconfigs/oidc",
            Some(ADMIN_TOKEN),
            None,
        )
        .await
        .json();
    config["spec"]["enabled"] = json!(false);
    corral.authconfig("oidc", config["spec"].clone()).await;
    let r = corral.call("GET", "/v3/auth/oidc/login", None, None).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn unreachable_provider_is_unavailable() {
    let corral = corral::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    corral
        .authconfig(
            "oidc",
            json!({"type": "oidcConfig", "enabled": true, "settings": {
                "issuer": format!("http://{closed}/realms/gone"), "clientId": "corral",
                "timeoutMs": 2000,
            }}),
        )
        .await;
    let r = corral.call("GET", "/v3/auth/oidc/login", None, None).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(corral::pending(&corral), 0);
}

#[tokio::test]
async fn provider_over_https_with_its_own_ca() {
    let corral = corral::start().await;
    let idp = Oidc::start_tls(ann(), SigningKey::ec("ec-1")).await;
    assert!(idp.issuer.starts_with("https://127.0.0.1:"));
    let secret = idp.get(|s| s.client_secret.clone());
    corral.secret("oidc-client", "clientSecret", &secret).await;
    let spec = |ca: &str| {
        json!({"type": "oidcConfig", "enabled": true, "settings": {
            "issuer": idp.issuer, "clientId": "corral",
            "clientSecretRef": {"name": "oidc-client"}, "certificate": ca,
        }})
    };
    // A CA that did not sign the provider's certificate: unavailable.
    let (other_ca, _) = idp::tls_identity();
    corral.authconfig("oidc", spec(&other_ca)).await;
    let r = corral.call("GET", "/v3/auth/oidc/login", None, None).await;
    assert_eq!(r.status, 503, "{}", r.body);

    corral.authconfig("oidc", spec(&idp.ca_pem)).await;
    let r = corral.call("GET", "/v3/auth/oidc/login", None, None).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let r = fetch(&idp.ca_pem, "GET", &r.location(), &[], None).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let r = fetch(&corral.ca_pem, "GET", &r.location(), &[], None).await;
    let token = token_of(&r);
    assert_eq!(corral.whoami(&token).await["username"], "ann");
}
