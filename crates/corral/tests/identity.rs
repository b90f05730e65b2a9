//! Identity end to end: a real `corral server`, its `/v3` endpoints over
//! HTTPS, real kubectl with the tokens they issue, and the `corral login`,
//! `whoami` and `logout` commands.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::TestServer;

const ADMIN_PASSWORD: &str = "correct-horse-battery-staple";

struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTPS request to the server, trusting its CA.
fn call(
    s: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use http_body_util::BodyExt;
        let ca = std::fs::read(s.data_dir().join("tls/server-ca.crt")).expect("server CA");
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut ca.as_slice()) {
            roots.add(c.expect("cert")).expect("add");
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
            .await
            .expect("connect");
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(
                rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name"),
                tcp,
            )
            .await
            .expect("tls handshake");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("http handshake");
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("127.0.0.1:{}", s.port));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.unwrap_or("").to_string(),
            )))
            .expect("request");
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            // The server may answer (413) and close before an oversized body is
            // fully written; the client then sees a broken pipe. Status 0 says so.
            Err(e) if e.is_body_write_aborted() || format!("{e:?}").contains("BrokenPipe") => {
                return Reply {
                    status: 0,
                    headers: http::HeaderMap::new(),
                    body: String::new(),
                };
            }
            Err(e) => panic!("send: {e:?}"),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    })
}

fn login_reply(s: &TestServer, username: &str, password: &str, ttl: Option<u64>) -> Reply {
    let mut body = json!({"provider": "local", "username": username, "password": password});
    if let Some(t) = ttl {
        body["ttl"] = json!(t);
    }
    call(s, "POST", "/v3/login", None, Some(&body.to_string()))
}

fn login(s: &TestServer, username: &str, password: &str) -> String {
    let r = login_reply(s, username, password, None);
    assert_eq!(r.status, 200, "login as {username}: {}", r.body);
    r.json()["token"].as_str().expect("token").to_string()
}

fn server() -> TestServer {
    TestServer::start_with(&["--bootstrap-password", ADMIN_PASSWORD])
}

/// kubectl with `--token` (overriding the admin kubeconfig's credential).
fn kubectl_token(s: &TestServer, token: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    s.kubectl(&all)
}

fn unauthorized(s: &TestServer, token: &str) -> bool {
    let out = kubectl_token(s, token, &["get", "--raw", "/api"]);
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Unauthorized")
}

fn create_user(s: &TestServer, admin: &str, username: &str, password: &str) -> Reply {
    let body = json!({"username": username, "password": password, "displayName": username});
    call(s, "POST", "/v3/users", Some(admin), Some(&body.to_string()))
}

#[test]
fn bootstrap_admin_logs_in_and_uses_kubectl_then_logout_revokes_at_once() {
    let s = server();
    // The types are installed, with printer columns and short names.
    let crds = s.ok(&["get", "crd", "-o", "name"]);
    for crd in ["users", "tokens", "authconfigs"] {
        assert!(
            crds.contains(&format!("{crd}.management.corral.dev")),
            "{crds}"
        );
    }
    let users = s.ok(&["get", "cu"]);
    assert!(
        users.contains("u-admin") && users.contains("USERNAME"),
        "{users}"
    );
    // A given password is never printed.
    assert!(!s.log().contains(ADMIN_PASSWORD));

    let r = login_reply(&s, "admin", ADMIN_PASSWORD, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let token = v["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("t-") && token.contains(':'), "{token}");
    assert_eq!(v["user"]["username"], "admin");
    assert_eq!(v["user"]["mustChangePassword"], false);
    assert!(v["expiresAt"].is_string());

    // The secret is stored only as a hash.
    let name = token.split(':').next().expect("name");
    let stored = s.ok(&["get", "tokens.management.corral.dev", name, "-o", "json"]);
    let secret = token.split(':').nth(1).expect("secret");
    assert!(
        !stored.contains(secret) && stored.contains("sha256:"),
        "{stored}"
    );
    // ... and the password hash is not in the User.
    let user = s.ok(&["get", "cu", "u-admin", "-o", "json"]);
    assert!(!user.contains("argon2"), "{user}");
    let pw = s.ok(&[
        "get",
        "secret",
        "-n",
        "corral-system",
        "password-u-admin",
        "-o",
        "json",
    ]);
    assert!(pw.contains("corral.dev/password"), "{pw}");

    let out = kubectl_token(&s, &token, &["auth", "whoami", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let who: Value = serde_json::from_slice(&out.stdout).expect("json");
    let info = &who["status"]["userInfo"];
    assert_eq!(info["username"], "u-admin");
    assert!(
        info["groups"].to_string().contains("system:authenticated"),
        "{info}"
    );
    assert_eq!(info["extra"]["principalid"], json!(["local://u-admin"]));
    assert_eq!(info["extra"]["username"], json!(["admin"]));
    // The admin is bound to cluster-admin.
    let out = kubectl_token(&s, &token, &["get", "namespaces"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let me = call(&s, "GET", "/v3/whoami", Some(&token), None);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["username"], "admin");
    assert_eq!(me.json()["authProvider"], "local");
    let mine = call(&s, "GET", "/v3/tokens", Some(&token), None);
    assert_eq!(mine.status, 200);
    assert!(
        mine.body.contains(name) && !mine.body.contains("sha256"),
        "{}",
        mine.body
    );

    // Logout: the very next request with the token is refused.
    let out = call(&s, "POST", "/v3/logout", Some(&token), None);
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(unauthorized(&s, &token));
    assert_eq!(
        call(&s, "GET", "/v3/whoami", Some(&token), None).status,
        401
    );

    // Deleting a Token object with kubectl revokes it at once too.
    let other = login(&s, "admin", ADMIN_PASSWORD);
    assert!(!unauthorized(&s, &other));
    s.ok(&["delete", "ctok", other.split(':').next().expect("name")]);
    assert!(unauthorized(&s, &other));
}

#[test]
fn failed_logins_are_identical_whether_or_not_the_user_exists() {
    let s = server();
    let wrong = login_reply(&s, "admin", "not-the-password-at-all", None);
    let unknown = login_reply(&s, "nobody-by-this-name", "not-the-password-at-all", None);
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.json()["message"], "invalid username or password");

    // Bad input gets clear JSON errors, never a crash.
    for (body, code) in [
        ("not json", 400),
        ("[1,2]", 400),
        (r#"{"username":"admin"}"#, 400),
        (r#"{"username":"admin","password":7}"#, 400),
        (r#"{"username":"admin","password":"x","ttl":"soon"}"#, 400),
        (r#"{"provider":"nope","username":"a","password":"b"}"#, 400),
    ] {
        let r = call(&s, "POST", "/v3/login", None, Some(body));
        assert_eq!(r.status, code, "{body}: {}", r.body);
        assert!(r.json()["message"].is_string(), "{}", r.body);
    }
    let huge = format!(
        r#"{{"username":"admin","password":"{}"}}"#,
        "x".repeat(100_000)
    );
    let status = call(&s, "POST", "/v3/login", None, Some(&huge)).status;
    assert!(status == 413 || status == 0, "oversized body: {status}");
    assert_eq!(call(&s, "GET", "/v3/login", None, None).status, 405);
    assert_eq!(call(&s, "GET", "/v3/whoami", None, None).status, 401);
    assert!(s.kubectl(&["get", "--raw", "/healthz"]).status.success());
}

#[test]
fn disabled_users_and_short_passwords_are_refused() {
    let s = server();
    let admin = login(&s, "admin", ADMIN_PASSWORD);
    let short = create_user(&s, &admin, "ann", "short");
    assert_eq!(short.status, 422, "{}", short.body);
    assert!(
        short.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("at least 12"),
        "{}",
        short.body
    );

    let created = create_user(&s, &admin, "ann", "ann-password-long");
    assert_eq!(created.status, 201, "{}", created.body);
    let ann_name = created.json()["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    assert_eq!(
        create_user(&s, &admin, "ann", "ann-password-long").status,
        409
    );
    let ann = login(&s, "ann", "ann-password-long");
    let who = call(&s, "GET", "/v3/whoami", Some(&ann), None);
    assert_eq!(who.json()["user"], ann_name.as_str());
    // Not an admin: RBAC forbids, but the token authenticates.
    let out = kubectl_token(&s, &ann, &["get", "namespaces"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Forbidden"),
        "{out:?}"
    );
    // Only administrators create users.
    assert_eq!(
        create_user(&s, &ann, "bob", "bob-password-long").status,
        403
    );

    // Changing the password needs the current one; the new one obeys the policy.
    let change = |current: &str, new: &str| {
        let body = json!({"currentPassword": current, "newPassword": new}).to_string();
        call(
            &s,
            "POST",
            "/v3/users?action=changepassword",
            Some(&ann),
            Some(&body),
        )
        .status
    };
    assert_eq!(change("wrong-current-password", "ann-new-password-1"), 403);
    assert_eq!(change("ann-password-long", "short"), 422);
    assert_eq!(change("ann-password-long", "ann-new-password-1"), 200);
    assert_eq!(
        login_reply(&s, "ann", "ann-password-long", None).status,
        401
    );
    let ann = login(&s, "ann", "ann-new-password-1");

    // Disabled: new logins get the same 401, and her tokens stop working at once.
    s.ok(&[
        "patch",
        "cu",
        &ann_name,
        "--type=merge",
        "-p",
        r#"{"spec":{"enabled":false}}"#,
    ]);
    let refused = login_reply(&s, "ann", "ann-new-password-1", None);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["message"], "invalid username or password");
    assert!(unauthorized(&s, &ann));
    s.ok(&[
        "patch",
        "cu",
        &ann_name,
        "--type=merge",
        "-p",
        r#"{"spec":{"enabled":true}}"#,
    ]);
    assert!(!unauthorized(&s, &ann));
}

#[test]
fn token_expiry_is_honoured() {
    let s = server();
    let r = login_reply(&s, "admin", ADMIN_PASSWORD, Some(2));
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json()["token"].as_str().expect("token").to_string();
    assert!(!unauthorized(&s, &token));
    std::thread::sleep(Duration::from_millis(2500));
    assert!(unauthorized(&s, &token));
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn brute_force_is_locked_out_and_timing_does_not_reveal_users() {
    let s = TestServer::start_with(&[
        "--bootstrap-password",
        ADMIN_PASSWORD,
        "--auth-max-failures",
        "4",
    ]);
    let admin = login(&s, "admin", ADMIN_PASSWORD);
    assert_eq!(
        create_user(&s, &admin, "timing", "timing-password-1").status,
        201
    );
    assert_eq!(
        create_user(&s, &admin, "victim", "victim-password-1").status,
        201
    );

    // Known user with a wrong password vs unknown user: similar time (one argon2 each).
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..3 {
        let t = Instant::now();
        assert_eq!(
            login_reply(&s, "timing", "wrong-password-123", None).status,
            401
        );
        known.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(
            login_reply(&s, &format!("ghost{i}"), "wrong-password-123", None).status,
            401
        );
        unknown.push(t.elapsed());
    }
    let (k, u) = (median(known), median(unknown));
    let (lo, hi) = if k < u { (k, u) } else { (u, k) };
    assert!(
        hi.as_secs_f64() <= lo.as_secs_f64() * 2.0 + 0.05,
        "known {k:?} vs unknown {u:?}"
    );

    // Four failures lock the username; then even the right password gets 429.
    for _ in 0..4 {
        assert_eq!(
            login_reply(&s, "victim", "wrong-password-123", None).status,
            401
        );
    }
    let locked = login_reply(&s, "victim", "victim-password-1", None);
    assert_eq!(locked.status, 429, "{}", locked.body);
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // Other users are not affected.
    assert_eq!(
        login_reply(&s, "timing", "timing-password-1", None).status,
        200
    );
}

fn corral(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_corral"))
        .args(args)
        .env("CORRAL_CONFIG_DIR", dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn corral");
    if let Some(input) = stdin
        && let Some(mut s) = child.stdin.take()
    {
        s.write_all(input.as_bytes()).expect("stdin");
    }
    child.wait_with_output().expect("corral output")
}

#[test]
fn corral_login_whoami_and_logout() {
    use std::os::unix::fs::PermissionsExt;
    let s = server();
    let config = tempfile::tempdir().expect("tempdir");
    let ca = s.data_dir().join("tls/server-ca.crt");
    let ca = ca.to_str().expect("path");
    let url = s.url();

    let bad = corral(
        config.path(),
        &[
            "login",
            &url,
            "--username",
            "admin",
            "--password-stdin",
            "--ca-file",
            ca,
        ],
        Some("wrong-password-123\n"),
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid username or password"));

    let out = corral(
        config.path(),
        &[
            "login",
            &url,
            "--username",
            "admin",
            "--password-stdin",
            "--ca-file",
            ca,
        ],
        Some(&format!("{ADMIN_PASSWORD}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds = config.path().join("credentials.json");
    let mode = std::fs::metadata(&creds)
        .expect("credentials")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored: Value =
        serde_json::from_slice(&std::fs::read(&creds).expect("read")).expect("json");
    let token = stored["servers"][&url]["token"]
        .as_str()
        .expect("token")
        .to_string();
    assert!(!unauthorized(&s, &token));

    let who = corral(config.path(), &["whoami"], None);
    assert!(
        who.status.success(),
        "{}",
        String::from_utf8_lossy(&who.stderr)
    );
    let text = String::from_utf8_lossy(&who.stdout);
    assert!(
        text.contains("admin") && text.contains("system:authenticated"),
        "{text}"
    );
    let who = corral(
        config.path(),
        &["whoami", "--server", &url, "-o", "json"],
        None,
    );
    let v: Value = serde_json::from_slice(&who.stdout).expect("json");
    assert_eq!(v["username"], "admin");
    let who = corral(config.path(), &["whoami", "-o", "yaml"], None);
    assert!(String::from_utf8_lossy(&who.stdout).contains("username: admin"));

    // Without the CA the server is not trusted; with --insecure-skip-tls-verify it is.
    let untrusted = corral(
        config.path(),
        &["login", &url, "--username", "admin", "--password-stdin"],
        Some(&format!("{ADMIN_PASSWORD}\n")),
    );
    assert!(!untrusted.status.success());
    let insecure = corral(
        config.path(),
        &[
            "login",
            &url,
            "--username",
            "admin",
            "--password-stdin",
            "--insecure-skip-tls-verify",
        ],
        Some(&format!("{ADMIN_PASSWORD}\n")),
    );
    assert!(
        insecure.status.success(),
        "{}",
        String::from_utf8_lossy(&insecure.stderr)
    );
    let token = {
        let stored: Value =
            serde_json::from_slice(&std::fs::read(&creds).expect("read")).expect("json");
        stored["servers"][&url]["token"]
            .as_str()
            .expect("token")
            .to_string()
    };

    let out = corral(config.path(), &["logout"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(unauthorized(&s, &token));
    let who = corral(config.path(), &["whoami"], None);
    assert!(!who.status.success());
}

#[test]
fn generated_admin_password_is_printed_once_and_must_be_changed() {
    let mut s = TestServer::start();
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains("Corral bootstrap admin created"))
        .unwrap_or_else(|| panic!("no password in the log:\n{log}"));
    let password = line
        .split("Password: ")
        .nth(1)
        .expect("password")
        .trim()
        .to_string();
    assert!(password.len() >= 12, "{password}");
    let r = login_reply(&s, "admin", &password, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["user"]["mustChangePassword"], true);
    s.restart();
    assert_eq!(s.log().matches("Corral bootstrap admin created").count(), 1);
    let token = login(&s, "admin", &password);
    // Until the password is changed, the token works only for /v3.
    assert!(unauthorized(&s, &token));
    let r = call(&s, "GET", "/v3/whoami", Some(&token), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["mustChangePassword"], true);
    let body =
        json!({"currentPassword": password, "newPassword": "a-brand-new-password"}).to_string();
    let r = call(
        &s,
        "POST",
        "/v3/users?action=changepassword",
        Some(&token),
        Some(&body),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = login_reply(&s, "admin", "a-brand-new-password", None);
    assert_eq!(r.json()["user"]["mustChangePassword"], false);
    // The token from before the change now works with kubectl.
    let out = kubectl_token(&s, &token, &["get", "namespaces"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
