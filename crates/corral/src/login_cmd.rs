//! `corral login`, `corral whoami`, `corral logout`: talk to a Corral
//! server's `/v3` endpoints and keep tokens in
//! `$CORRAL_CONFIG_DIR/credentials.json` (default `~/.config/corral`), mode
//! 0600, keyed by server URL.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(clap::Args, Clone)]
pub struct TlsArgs {
    /// Do not verify the server's certificate (testing only).
    #[arg(long)]
    insecure_skip_tls_verify: bool,
    /// PEM file with the CA that signed the server's certificate (e.g. the server's `tls/server-ca.crt`).
    #[arg(long)]
    ca_file: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct LoginArgs {
    /// The server, e.g. https://corral.example.com:8443
    server: String,
    #[arg(long, short = 'u')]
    username: String,
    /// Read the password from standard input (one line) instead of prompting.
    #[arg(long)]
    password_stdin: bool,
    /// Auth provider: local, openldap, activedirectory.
    #[arg(long, default_value = "local")]
    provider: String,
    /// Token lifetime in seconds (default: the server's, 16 h).
    #[arg(long)]
    ttl: Option<u64>,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Yaml,
}

#[derive(clap::Args)]
pub struct WhoamiArgs {
    /// Which stored server (default: the last one logged in to).
    #[arg(long)]
    server: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: Format,
}

#[derive(clap::Args)]
pub struct LogoutArgs {
    #[arg(long)]
    server: Option<String>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Credentials {
    #[serde(default)]
    current: Option<String>,
    #[serde(default)]
    servers: BTreeMap<String, Stored>,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Stored {
    pub(crate) token: String,
    username: String,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    pub(crate) ca_file: Option<PathBuf>,
    #[serde(default)]
    pub(crate) insecure_skip_tls_verify: bool,
}

fn config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CORRAL_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set (or set CORRAL_CONFIG_DIR)")?;
    Ok(PathBuf::from(home).join(".config").join("corral"))
}

fn credentials_path() -> anyhow::Result<PathBuf> {
    Ok(config_dir()?.join("credentials.json"))
}

fn load() -> anyhow::Result<Credentials> {
    let path = credentials_path()?;
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn save(creds: &Credentials) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = credentials_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(&serde_json::to_vec_pretty(creds)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn normalize(server: &str) -> anyhow::Result<String> {
    let s = server.trim().trim_end_matches('/');
    let uri: http::Uri = s
        .parse()
        .with_context(|| format!("{server:?} is not a URL"))?;
    if uri.scheme_str() != Some("https") || uri.host().is_none() {
        bail!("the server must be an https:// URL, got {server:?}");
    }
    Ok(s.to_string())
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub(crate) fn tls_config(
    ca_file: Option<&PathBuf>,
    insecure: bool,
) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    if insecure {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                roots.add(cert?)?;
            }
            if roots.is_empty() {
                bail!("{} holds no PEM certificate", path.display());
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// One HTTPS request; returns the status and the JSON body.
pub(crate) async fn call(
    server: &str,
    tls: &rustls::ClientConfig,
    method: http::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let (status, body) = call_raw(server, tls, method, path, token, body).await?;
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok((status, value))
}

/// One HTTPS request; returns the status and the body as it came.
pub(crate) async fn call_raw(
    server: &str,
    tls: &rustls::ClientConfig,
    method: http::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<(u16, bytes::Bytes)> {
    let uri: http::Uri = format!("{server}{path}").parse()?;
    let host = uri.host().context("no host in the server URL")?.to_string();
    let port = uri.port_u16().unwrap_or(443);
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .with_context(|| format!("connecting to {server}"))?;
    let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .context("invalid server name")?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls.clone()))
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {server}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(
            http::header::HOST,
            uri.authority().map(|a| a.as_str()).unwrap_or(&host),
        )
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::USER_AGENT, "corral-cli");
    if let Some(t) = token {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let bytes = match body {
        Some(b) => {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
            serde_json::to_vec(&b)?
        }
        None => Vec::new(),
    };
    let resp = sender
        .send_request(req.body(Full::new(bytes::Bytes::from(bytes)))?)
        .await
        .with_context(|| format!("request to {server}"))?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

pub(crate) fn message(v: &Value, status: u16) -> String {
    v["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {status}"))
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        eprint!("Password: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("no password given");
    }
    Ok(password)
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let server = normalize(&args.server)?;
    let password = read_password(args.password_stdin)?;
    let tls = tls_config(args.tls.ca_file.as_ref(), args.tls.insecure_skip_tls_verify)?;
    let mut body = json!({
        "provider": args.provider,
        "username": args.username,
        "password": password,
        "description": format!("corral login from {}", hostname()),
    });
    if let Some(ttl) = args.ttl {
        body["ttl"] = json!(ttl);
    }
    let (status, resp) = call(
        &server,
        &tls,
        http::Method::POST,
        "/v3/login",
        None,
        Some(body),
    )
    .await?;
    if status != 200 {
        bail!("login failed: {}", message(&resp, status));
    }
    let token = resp["token"].as_str().context("no token in the response")?;
    let mut creds = load()?;
    creds.servers.insert(
        server.clone(),
        Stored {
            token: token.to_string(),
            username: args.username.clone(),
            expires_at: resp["expiresAt"].as_str().map(str::to_string),
            ca_file: args
                .tls
                .ca_file
                .as_ref()
                .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone())),
            insecure_skip_tls_verify: args.tls.insecure_skip_tls_verify,
        },
    );
    creds.current = Some(server.clone());
    save(&creds)?;
    println!(
        "Logged in to {server} as {} (token expires {}).",
        args.username,
        resp["expiresAt"].as_str().unwrap_or("never")
    );
    if resp["user"]["mustChangePassword"].as_bool() == Some(true) {
        eprintln!("Your password must be changed (POST /v3/users?action=changepassword).");
    }
    Ok(())
}

pub(crate) fn stored(server: Option<&str>) -> anyhow::Result<(Credentials, String, Stored)> {
    let creds = load()?;
    let server = match server {
        Some(s) => normalize(s)?,
        None => creds
            .current
            .clone()
            .context("not logged in (run corral login <server>)")?,
    };
    let entry = creds
        .servers
        .get(&server)
        .cloned()
        .with_context(|| format!("not logged in to {server} (run corral login {server})"))?;
    Ok((creds, server, entry))
}

pub async fn whoami(args: WhoamiArgs) -> anyhow::Result<()> {
    let (_, server, entry) = stored(args.server.as_deref())?;
    let tls = tls_config(entry.ca_file.as_ref(), entry.insecure_skip_tls_verify)?;
    let (status, resp) = call(
        &server,
        &tls,
        http::Method::GET,
        "/v3/whoami",
        Some(&entry.token),
        None,
    )
    .await?;
    if status != 200 {
        bail!("{server}: {}", message(&resp, status));
    }
    match args.output {
        Format::Json => println!("{}", serde_json::to_string_pretty(&resp)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(&resp)?),
        Format::Text => {
            let groups: Vec<&str> = resp["groups"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            println!("Server:   {server}");
            println!(
                "User:     {} ({})",
                resp["username"].as_str().unwrap_or(""),
                resp["user"].as_str().unwrap_or("")
            );
            println!("Provider: {}", resp["authProvider"].as_str().unwrap_or(""));
            println!("Groups:   {}", groups.join(", "));
        }
    }
    Ok(())
}

pub async fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let (mut creds, server, entry) = stored(args.server.as_deref())?;
    let tls = tls_config(entry.ca_file.as_ref(), entry.insecure_skip_tls_verify)?;
    let (status, resp) = call(
        &server,
        &tls,
        http::Method::POST,
        "/v3/logout",
        Some(&entry.token),
        None,
    )
    .await?;
    // A token the server no longer accepts is as good as revoked.
    if status != 200 && status != 401 {
        bail!("{server}: {}", message(&resp, status));
    }
    creds.servers.remove(&server);
    if creds.current.as_deref() == Some(server.as_str()) {
        creds.current = creds.servers.keys().next().cloned();
    }
    save(&creds)?;
    println!("Logged out of {server}.");
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
