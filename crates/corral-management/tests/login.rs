//! `/v3/login` beyond the local provider, on an in-process Corral server
//! over HTTPS: LDAP configured by an `openldap` AuthConfig against a real
//! slapd (scripts/slapd), the periodic LDAP group refresh of live tokens,
//! and the `mustChangePassword` restriction of local users.

#[path = "support/corral.rs"]
mod corral;
#[path = "support/slapd.rs"]
mod slapd;

use std::time::{Duration, Instant};

use corral::{ADMIN_PASSWORD, ADMIN_TOKEN, Corral};
use serde_json::{Value, json};
use slapd::Slapd;

fn group(name: &str) -> String {
    format!("openldap_group://cn={name},ou=groups,dc=example,dc=org")
}

async fn ldap_setup(slapd: &Slapd, refresh_secs: u64) -> Corral {
    let corral = corral::start().await;
    corral
        .secret("ldap-reader", "password", "reader-secret")
        .await;
    corral
        .authconfig(
            "openldap",
            json!({
                "type": "openLdapConfig",
                "enabled": true,
                "accessMode": "unrestricted",
                "settings": {
                    "servers": [format!("127.0.0.1:{}", slapd.port)],
                    "connectionTimeoutMs": 3000,
                    "serviceAccountDistinguishedName": "cn=reader,dc=example,dc=org",
                    "serviceAccountPasswordRef": {"name": "ldap-reader", "key": "password"},
                    "userSearchBase": "ou=people,dc=example,dc=org",
                    "groupSearchBase": "ou=groups,dc=example,dc=org",
                    "userDisabledAttribute": "employeeType",
                    "userDisabledValue": "disabled",
                    "groupRefreshIntervalSeconds": refresh_secs,
                },
            }),
        )
        .await;
    corral
}

async fn ldap_login(corral: &Corral, user: &str, password: &str) -> corral::Reply {
    corral
        .call(
            "POST",
            "/v3/login",
            None,
            Some(&json!({"provider": "openldap", "username": user, "password": password})),
        )
        .await
}

fn groups(v: &Value) -> Vec<String> {
    let mut g: Vec<String> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    g.sort();
    g
}

#[tokio::test]
async fn ldap_login_through_its_authconfig() {
    let slapd = Slapd::start();
    let corral = ldap_setup(&slapd, 0).await;
    let r = ldap_login(&corral, "ann", "ann-password").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["authProvider"], "openldap");
    assert_eq!(
        body["user"]["principalIds"],
        json!(["openldap_user://uid=ann,ou=people,dc=example,dc=org"])
    );
    assert_eq!(
        groups(&body),
        [group("all-staff"), group("devs"), group("engineering")]
    );
    let token = body["token"].as_str().unwrap();
    corral
        .bind("devs-view", "Group", &group("devs"), "view")
        .await;
    let r = corral
        .call("GET", "/api/v1/namespaces", Some(token), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = ldap_login(&corral, "ann", "wrong-password").await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = ldap_login(&corral, "nobody", "whatever-password").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["message"], "invalid username or password");

    // Restricted to a group ann is in and bob is not.
    let mut config = corral
        .call(
            "GET",
            "/apis/management.corral.dev/v1/authconfigs/openldap",
            Some(ADMIN_TOKEN),
            None,
        )
        .await
        .json();
    config["spec"]["accessMode"] = json!("restricted");
    config["spec"]["allowedPrincipalIds"] = json!([group("engineering")]);
    corral.authconfig("openldap", config["spec"].clone()).await;
    assert_eq!(ldap_login(&corral, "ann", "ann-password").await.status, 200);
    let r = ldap_login(&corral, "bob", "bob-password").await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Disabled: no LDAP logins at all.
    config["spec"]["enabled"] = json!(false);
    corral.authconfig("openldap", config["spec"].clone()).await;
    let r = ldap_login(&corral, "ann", "ann-password").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("not enabled")
    );
}

/// Polls `whoami` until `pred` holds (or fails after 20 s).
async fn wait_for(corral: &Corral, token: &str, what: &str, pred: impl Fn(u16, &Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = corral.call("GET", "/v3/whoami", Some(token), None).await;
        let v = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        if pred(r.status, &v) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {} {}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn ldap_groups_of_live_tokens_are_refreshed_periodically() {
    let slapd = Slapd::start();
    let corral = ldap_setup(&slapd, 1).await;
    let r = ldap_login(&corral, "bob", "bob-password").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(groups(&r.json()), [group("all-staff"), group("ops")]);
    corral
        .bind("devs-view", "Group", &group("devs"), "view")
        .await;
    let r = corral
        .call("GET", "/api/v1/namespaces", Some(&token), None)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // bob joins devs in the directory; his token follows without a login.
    slapd.modify(
        "dn: cn=devs,ou=groups,dc=example,dc=org\nchangetype: modify\nadd: member\n\
         member: uid=bob,ou=people,dc=example,dc=org\n",
    );
    wait_for(&corral, &token, "bob in devs", |_, v| {
        v["groups"]
            .as_array()
            .is_some_and(|g| g.contains(&json!(group("devs"))))
    })
    .await;
    let r = corral
        .call("GET", "/api/v1/namespaces", Some(&token), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = corral
        .call(
            "GET",
            "/apis/management.corral.dev/v1/tokens",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    let stored = &r.json()["items"][0]["spec"]["groupPrincipals"];
    assert!(
        stored
            .as_array()
            .unwrap()
            .contains(&json!(group("engineering"))),
        "{stored}"
    );

    // Disabled in the directory: the token is revoked.
    slapd.modify(
        "dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: modify\nadd: employeeType\n\
         employeeType: disabled\n",
    );
    wait_for(&corral, &token, "bob's token revoked", |status, _| {
        status == 401
    })
    .await;
}

#[tokio::test]
async fn must_change_password_tokens_only_reach_v3_until_changed() {
    let corral = corral::start().await;
    let r = corral
        .call(
            "POST",
            "/v3/users",
            Some(ADMIN_TOKEN),
            Some(
                &json!({"username": "carl", "password": "initial-password-1",
                "mustChangePassword": true}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let user = r.json()["metadata"]["name"].as_str().unwrap().to_string();
    corral.bind("carl-view", "User", &user, "view").await;

    let login = json!({"provider": "local", "username": "carl", "password": "initial-password-1"});
    let r = corral.call("POST", "/v3/login", None, Some(&login)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["mustChangePassword"], true);
    assert!(body["message"].as_str().unwrap().contains("changepassword"));
    let token = body["token"].as_str().unwrap().to_string();

    // The API refuses the token; /v3 says why where it needs the API's authentication.
    let r = corral
        .call("GET", "/api/v1/namespaces", Some(&token), None)
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = corral
        .call(
            "POST",
            "/v3/users/u-someone?action=setpassword",
            Some(&token),
            Some(&json!({"newPassword": "whatever-password"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("password must be changed")
    );
    // What it can do: whoami, its tokens, change the password.
    assert_eq!(corral.whoami(&token).await["mustChangePassword"], true);
    let r = corral.call("GET", "/v3/tokens", Some(&token), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = corral
        .call(
            "POST",
            "/v3/users?action=changepassword",
            Some(&token),
            Some(&json!({"currentPassword": "initial-password-1",
                "newPassword": "a-better-password-2"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The same token now works (the User changed, the token did not).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = corral
            .call("GET", "/api/v1/namespaces", Some(&token), None)
            .await;
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "{} {}", r.status, r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let login = json!({"provider": "local", "username": "carl", "password": "a-better-password-2"});
    let r = corral.call("POST", "/v3/login", None, Some(&login)).await;
    assert_eq!(r.json()["mustChangePassword"], false);
    assert!(r.json().get("message").is_none());

    // The bootstrap admin (given password) is unaffected.
    let login = json!({"provider": "local", "username": "admin", "password": ADMIN_PASSWORD});
    let r = corral.call("POST", "/v3/login", None, Some(&login)).await;
    let admin = r.json()["token"].as_str().unwrap().to_string();
    let r = corral
        .call("GET", "/api/v1/namespaces", Some(&admin), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
