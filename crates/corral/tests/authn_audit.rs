//! Tokens (service-account, legacy, Corral), the audit log, and the core
//! controllers, through real kubectl against a real server.

mod support;

use std::time::{Duration, Instant};

use support::TestServer;

fn kubeconfig_with_token(s: &TestServer, token: &str) -> std::path::PathBuf {
    let kc = std::fs::read_to_string(s.kubeconfig()).expect("kubeconfig");
    let start = kc.find("token: ").expect("token line");
    let end = kc[start..]
        .find('\n')
        .map(|e| start + e)
        .unwrap_or(kc.len());
    let replaced = format!("{}token: {}{}", &kc[..start], token, &kc[end..]);
    let path = s.dir.path().join(format!("t{}.kubeconfig", rand_suffix()));
    std::fs::write(&path, replaced).expect("write");
    path
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn unauthorized(s: &TestServer, token: &str) -> bool {
    let out = s.kubectl_as(&kubeconfig_with_token(s, token), &["get", "--raw", "/api"]);
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Unauthorized")
}

#[test]
fn bad_tokens_are_rejected_and_audited() {
    let mut s = TestServer::start();
    let audit = s.dir.path().join("audit.log");
    s.extra_args = vec!["--audit-log-path".into(), audit.display().to_string()];
    s.restart();
    s.ok(&["create", "sa", "temp", "-n", "default"]);
    let token = s
        .ok(&["create", "token", "temp", "-n", "default"])
        .trim()
        .to_string();
    assert!(!unauthorized(&s, &token), "a fresh token works");

    // Malformed and garbage tokens.
    assert!(unauthorized(&s, "not-a-token"));
    assert!(unauthorized(&s, "a.b.c"));
    // Tampered payload: the signature no longer matches.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert!(unauthorized(&s, &parts.join(".")));
    // Signed by another key.
    let other = rcgen::KeyPair::generate().expect("key");
    let claims = serde_json::json!({"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:default:temp", "aud": ["https://kubernetes.default.svc.cluster.local"], "exp": 4_000_000_000i64});
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(other.serialize_pem().as_bytes()).expect("ec key"),
    )
    .expect("sign");
    assert!(unauthorized(&s, &forged));
    // Expired: signed with the server's own key, but in the past.
    let server_key =
        std::fs::read_to_string(s.data_dir().join("tls/service-account.key")).expect("sa key");
    let sa = s.json(&["get", "sa", "temp", "-n", "default", "-o", "json"]);
    let expired_claims = serde_json::json!({
        "iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:default:temp",
        "aud": ["https://kubernetes.default.svc.cluster.local"], "exp": 1_000_000_000i64, "iat": 999_999_000i64,
        "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "temp", "uid": sa["metadata"]["uid"]}},
    });
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &expired_claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(server_key.as_bytes()).expect("server key"),
    )
    .expect("sign");
    assert!(unauthorized(&s, &expired));
    // Revoked: the service account is deleted, so its tokens die with it.
    s.ok(&["delete", "sa", "temp", "-n", "default"]);
    assert!(unauthorized(&s, &token));

    // Legacy token secrets are filled by the controller and die with the secret.
    s.ok(&["create", "sa", "legacy", "-n", "default"]);
    s.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"legacy-token","namespace":"default","annotations":{"kubernetes.io/service-account.name":"legacy"}},"type":"kubernetes.io/service-account-token"}"#);
    let deadline = Instant::now() + Duration::from_secs(10);
    let legacy = loop {
        let t = s.ok(&[
            "get",
            "secret",
            "legacy-token",
            "-n",
            "default",
            "-o",
            "jsonpath={.data.token}",
        ]);
        if !t.trim().is_empty() {
            use base64::Engine;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .expect("base64");
            break String::from_utf8(raw).expect("utf8");
        }
        assert!(Instant::now() < deadline, "token secret never filled");
        std::thread::sleep(Duration::from_millis(100));
    };
    let ca = s.ok(&[
        "get",
        "secret",
        "legacy-token",
        "-n",
        "default",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ]);
    assert!(!ca.trim().is_empty());
    assert!(!unauthorized(&s, &legacy));
    s.ok(&["delete", "secret", "legacy-token", "-n", "default"]);
    assert!(unauthorized(&s, &legacy));

    // TokenReview answers for a valid token and refuses a bad one.
    let review = |t: &str| -> serde_json::Value {
        let body = serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": t}});
        serde_json::from_str(&s.ok_stdin(&["create", "-o", "json", "-f", "-"], &body.to_string()))
            .expect("json")
    };
    s.ok(&["create", "sa", "reviewed", "-n", "default"]);
    let good = s
        .ok(&["create", "token", "reviewed", "-n", "default"])
        .trim()
        .to_string();
    let r = review(&good);
    assert_eq!(r["status"]["authenticated"], true);
    assert_eq!(
        r["status"]["user"]["username"],
        "system:serviceaccount:default:reviewed"
    );
    assert_eq!(review("a.b.c")["status"]["authenticated"], false);

    // The failures are in the audit log with code 401.
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(&audit).expect("audit log");
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let unauthorized_events = events
        .iter()
        .filter(|e| e["responseStatus"]["code"] == 401)
        .count();
    assert!(
        unauthorized_events >= 6,
        "expected the rejected tokens in the audit log, found {unauthorized_events}"
    );
    assert!(
        events
            .iter()
            .all(|e| e["apiVersion"] == "audit.k8s.io/v1" && e["auditID"].is_string())
    );
    // Default policy: Secret bodies never appear.
    assert!(
        !log.contains("requestObject"),
        "default policy logs no bodies"
    );
}

#[test]
fn audit_policy_levels() {
    let s0 = TestServer::start();
    let policy = s0.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  nonResourceURLs: [\"/api*\", \"/openapi*\", \"/version\"]\n- level: Metadata\n  resources: [{group: \"\", resources: [\"secrets\"]}]\n- level: RequestResponse\n  resources: [{group: \"\", resources: [\"configmaps\"]}]\n- level: Request\n",
    )
    .expect("policy");
    let audit = s0.dir.path().join("audit2.log");
    let s = TestServer::start_with(&[
        "--audit-log-path",
        &audit.display().to_string(),
        "--audit-policy-file",
        &policy.display().to_string(),
    ]);
    s.ok(&[
        "create",
        "cm",
        "audited",
        "-n",
        "default",
        "--from-literal=k=v",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "hidden",
        "-n",
        "default",
        "--from-literal=password=s3cret",
    ]);
    s.ok(&["create", "sa", "req-level", "-n", "default"]);
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(&audit).expect("audit log");
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let find = |resource: &str, verb: &str| {
        events
            .iter()
            .find(|e| {
                e["objectRef"]["resource"] == resource
                    && e["verb"] == verb
                    && e["user"]["username"] == "system:admin"
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {verb} {resource} event in {log}"))
    };
    let cm = find("configmaps", "create");
    assert_eq!(cm["level"], "RequestResponse");
    assert_eq!(cm["responseObject"]["data"]["k"], "v");
    assert_eq!(cm["requestObject"]["data"]["k"], "v");
    let secret = find("secrets", "create");
    assert_eq!(secret["level"], "Metadata");
    assert!(
        secret.get("requestObject").is_none()
            && !log.contains("s3cret")
            && !log.contains("czNjcmV0")
    );
    let sa = find("serviceaccounts", "create");
    assert_eq!(sa["level"], "Request");
    assert!(sa.get("requestObject").is_some() && sa.get("responseObject").is_none());
    assert!(
        !events.iter().any(|e| e["requestURI"]
            .as_str()
            .is_some_and(|u| u.starts_with("/api?") || u == "/api")),
        "None level drops discovery"
    );
}

#[test]
fn controllers_keep_namespaces_and_aggregated_roles_current() {
    let s = TestServer::start();
    s.ok(&["create", "ns", "fresh"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sa = s.kubectl(&["get", "sa", "default", "-n", "fresh"]);
        let cm = s.kubectl(&[
            "get",
            "cm",
            "kube-root-ca.crt",
            "-n",
            "fresh",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ]);
        if sa.status.success() && String::from_utf8_lossy(&cm.stdout).contains("BEGIN CERTIFICATE")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "default SA / root CA never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Deleting the default SA brings it back.
    s.ok(&["delete", "sa", "default", "-n", "fresh"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s
        .kubectl(&["get", "sa", "default", "-n", "fresh"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "default SA not recreated");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A ClusterRole labelled to aggregate into view adds its rules to view.
    s.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"widgets-view","labels":{"rbac.authorization.k8s.io/aggregate-to-view":"true"}},"rules":[{"apiGroups":["example.com"],"resources":["widgets"],"verbs":["get","list"]}]}"#);
    let has_widgets = |s: &TestServer| {
        s.ok(&["get", "clusterrole", "view", "-o", "json"])
            .contains("widgets")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_widgets(&s) {
        assert!(
            Instant::now() < deadline,
            "aggregation did not add the rule"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s.ok(&["delete", "clusterrole", "widgets-view"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while has_widgets(&s) {
        assert!(
            Instant::now() < deadline,
            "aggregation did not remove the rule"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn token_secret(name: &str, secret: &str, user: &str, groups: &str, expires_at: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "corral-system"},
        "type": "corral.dev/token",
        "stringData": {"tokenHash": hash, "user": user, "groups": groups, "expiresAt": expires_at},
    })
    .to_string()
}

#[test]
fn corral_tokens_authenticate_expire_and_revoke() {
    let s = TestServer::start();
    let secret = format!("{}{}", uuid_hex(), uuid_hex());
    s.ok_stdin(
        &["create", "-f", "-"],
        &token_secret(
            "alpha",
            &secret,
            "tok-user",
            "tok-group,ops",
            "2999-01-01T00:00:00Z",
        ),
    );
    let kc = kubeconfig_with_token(&s, &format!("alpha:{secret}"));
    let out = s.kubectl_as(&kc, &["auth", "whoami", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let who: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(who["status"]["userInfo"]["username"], "tok-user");
    let groups = who["status"]["userInfo"]["groups"].to_string();
    assert!(
        groups.contains("tok-group")
            && groups.contains("ops")
            && groups.contains("system:authenticated"),
        "{groups}"
    );
    // Only the hash is stored.
    let stored = s.ok(&[
        "get",
        "secret",
        "alpha",
        "-n",
        "corral-system",
        "-o",
        "json",
    ]);
    assert!(!stored.contains(&secret));
    // A wrong secret, an unknown name, an expired token: 401.
    assert!(unauthorized(&s, &format!("alpha:{}", "0".repeat(64))));
    assert!(unauthorized(&s, &format!("nobody:{secret}")));
    s.ok_stdin(
        &["create", "-f", "-"],
        &token_secret("old", &secret, "tok-user", "", "2001-01-01T00:00:00Z"),
    );
    assert!(unauthorized(&s, &format!("old:{secret}")));
    // Revocation is immediate: the next request after the delete fails.
    assert!(!unauthorized(&s, &format!("alpha:{secret}")));
    s.ok(&["delete", "secret", "alpha", "-n", "corral-system"]);
    assert!(unauthorized(&s, &format!("alpha:{secret}")));
}

fn uuid_hex() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
