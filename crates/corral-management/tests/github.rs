//! The GitHub provider end to end: a Corral server in-process on loopback
//! (HTTPS) and a fake GitHub on loopback (tests/support/idp.rs) speaking
//! GitHub's OAuth web flow and REST API (with paging), the browser played
//! by following the redirects by hand.

#[path = "support/corral.rs"]
mod corral;
#[path = "support/idp.rs"]
mod idp;

use corral::{ADMIN_TOKEN, Corral, Reply, fetch, query_of};
use idp::Github;
use serde_json::{Value, json};

async fn setup_with(extra: Value) -> (Corral, Github) {
    let corral = corral::start().await;
    let gh = Github::start(
        json!({"id": 1001, "login": "octocat", "name": "The Octocat"}),
        vec![
            json!({"id": 11, "login": "acme"}),
            json!({"id": 12, "login": "widgets"}),
            json!({"id": 13, "login": "gadgets"}),
        ],
        vec![
            json!({"id": 21, "slug": "platform", "name": "Platform", "organization": {"login": "acme"}}),
            json!({"id": 22, "slug": "sre", "name": "SRE", "organization": {"login": "acme"}}),
        ],
    )
    .await;
    corral
        .secret("github-oauth", "clientSecret", "gh-secret")
        .await;
    let mut spec = json!({
        "type": "githubConfig",
        "enabled": true,
        "settings": {
            "clientId": "Iv1.corral",
            "clientSecretRef": {"name": "github-oauth"},
            "baseUrl": gh.base,
            "apiUrl": gh.api,
        },
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    corral.authconfig("github", spec).await;
    (corral, gh)
}

async fn browser_login(corral: &Corral) -> (Reply, String) {
    let r = corral
        .call("GET", "/v3/auth/github/login", None, None)
        .await;
    assert_eq!(r.status, 302, "login: {}", r.body);
    let authorize = r.location();
    let q = query_of(&authorize);
    assert_eq!(q["client_id"], "Iv1.corral");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["scope"].contains("read:org"), "{q:?}");
    let r = fetch("", "GET", &authorize, &[], None).await;
    assert_eq!(r.status, 302, "authorize: {}", r.body);
    let callback = r.location();
    assert!(
        callback.starts_with(&format!("{}/v3/auth/github/callback?", corral.url)),
        "{callback}"
    );
    (
        fetch(&corral.ca_pem, "GET", &callback, &[], None).await,
        callback,
    )
}

#[tokio::test]
async fn web_flow_maps_orgs_and_teams_to_groups() {
    let (corral, _gh) = setup_with(json!({})).await;
    corral
        .bind("acme-platform-view", "Group", "github_team://21", "view")
        .await;
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["authProvider"], "github");
    assert_eq!(body["user"]["principalIds"], json!(["github_user://1001"]));
    assert_eq!(body["user"]["username"], "octocat");
    assert_eq!(body["user"]["displayName"], "The Octocat");
    // Three orgs over two pages, two teams.
    assert_eq!(
        body["groups"],
        json!([
            "github_org://11",
            "github_org://12",
            "github_org://13",
            "github_team://21",
            "github_team://22"
        ])
    );
    let token = body["token"].as_str().unwrap();
    let who = corral.whoami(token).await;
    assert!(
        who["groups"]
            .as_array()
            .unwrap()
            .contains(&json!("github_team://21"))
    );
    let r = corral
        .call("GET", "/api/v1/namespaces", Some(token), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Same GitHub user again: same Corral user.
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.json()["user"]["name"], body["user"]["name"]);
}

#[tokio::test]
async fn wrong_secret_bad_code_replay_and_denial_are_rejected() {
    let (corral, gh) = setup_with(json!({})).await;
    let (r, callback) = browser_login(&corral).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The callback replayed: state already used.
    let r = fetch(&corral.ca_pem, "GET", &callback, &[], None).await;
    assert_eq!(r.status, 400, "{}", r.body);

    // A valid state with a code GitHub never issued.
    let r = corral
        .call("GET", "/v3/auth/github/login", None, None)
        .await;
    let state = query_of(&r.location())["state"].clone();
    let r = corral
        .call(
            "GET",
            &format!("/v3/auth/github/callback?code=forged&state={state}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);

    // GitHub no longer accepts Corral's secret.
    gh.set(|s| s.client_secret = "rotated".into());
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        gh.state.lock().unwrap().last_token_error.as_deref(),
        Some("incorrect_client_credentials")
    );
    gh.set(|s| s.client_secret = "gh-secret".into());

    gh.set(|s| s.deny = true);
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 401, "{}", r.body);
}

#[tokio::test]
async fn only_allowed_orgs_may_log_in() {
    let (corral, gh) = setup_with(json!({
        "accessMode": "restricted",
        "allowedPrincipalIds": ["github_org://13"],
    }))
    .await;
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 200, "{}", r.body);
    gh.set(|s| s.orgs.retain(|o| o["id"] != 13));
    let (r, _) = browser_login(&corral).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = corral
        .call(
            "GET",
            "/apis/management.corral.dev/v1/tokens",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
}
