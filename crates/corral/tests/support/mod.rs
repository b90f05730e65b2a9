//! Starting a real `corral server` process for end-to-end tests, and running
//! real kubectl against it.
#![allow(dead_code)]

pub mod netns;
pub mod workloads;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub extra_args: Vec<String>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = TestServer {
            dir,
            port: free_port(),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        s.spawn();
        s
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("admin.kubeconfig")
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Start the server process and wait until it accepts connections.
    pub fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.kubeconfig());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_corral"))
            .arg("server")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--bind")
            .arg(format!("127.0.0.1:{}", self.port))
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn corral server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.kubeconfig().exists()
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                // Another test took the port between free_port() and the
                // server's bind: try again on a new one.
                if self.log().contains("Address already in use") && Instant::now() < deadline {
                    let _ = std::fs::remove_file(self.dir.path().join("server.log"));
                    self.port = free_port();
                    return self.spawn();
                }
                panic!(
                    "corral server exited early with {status}; log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "server did not start; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        self.terminate();
        self.spawn();
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl_at(&self.kubeconfig(), args, None)
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        kubectl_at(&self.kubeconfig(), args, Some(stdin))
    }

    /// Run kubectl and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.kubectl_stdin(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run kubectl and require failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("kubectl {args:?}: not JSON ({e}): {out}"))
    }

    pub async fn kube_client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig()).expect("read kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .expect("kube config");
        kube::Client::try_from(config).expect("kube client")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn kubectl_path() -> PathBuf {
    if let Ok(p) = std::env::var("CORRAL_KUBECTL") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/kubectl");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("kubectl")
}

pub fn kubectl_at(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(kubectl_path());
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    cmd.env_remove("KUBECONFIG");
    cmd.env("HOME", kubeconfig.parent().unwrap_or(Path::new("/tmp")));
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("spawn kubectl (run scripts/setup to install it)");
    if let Some(input) = stdin
        && let Some(mut s) = child.stdin.take()
    {
        s.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("kubectl output")
}

impl TestServer {
    /// Write a kubeconfig for `user` in `groups` with a client certificate
    /// signed by the server's client CA; returns its path.
    pub fn client_cert_kubeconfig(&self, user: &str, groups: &[&str]) -> PathBuf {
        use base64::Engine;
        let tls = self.data_dir().join("tls");
        let ca_cert = std::fs::read_to_string(tls.join("client-ca.crt")).expect("client CA");
        let ca_key = rcgen::KeyPair::from_pem(
            &std::fs::read_to_string(tls.join("client-ca.key")).expect("client CA key"),
        )
        .expect("key");
        let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_cert, ca_key).expect("issuer");
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, user);
        for g in groups {
            dn.push(rcgen::DnType::OrganizationName, *g);
        }
        params.distinguished_name = dn;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &issuer).expect("sign");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let server_ca = std::fs::read_to_string(tls.join("server-ca.crt")).expect("server CA");
        let doc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n",
            self.url(),
            b64(&server_ca),
            b64(&cert.pem()),
            b64(&key.serialize_pem())
        );
        let path = self.dir.path().join(format!("{user}.kubeconfig"));
        std::fs::write(&path, doc).expect("write kubeconfig");
        path
    }

    /// Run kubectl with another kubeconfig.
    pub fn kubectl_as(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        kubectl_at(kubeconfig, args, None)
    }
}

impl TestServer {
    /// Every acknowledged write (name → resourceVersion) must be stored in
    /// `default` with exactly that resourceVersion.
    pub async fn assert_configmaps_present(
        &self,
        acked: &std::collections::HashMap<String, String>,
    ) {
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::api::{Api, ListParams};
        let api: Api<ConfigMap> = Api::namespaced(self.kube_client().await, "default");
        let list = api.list(&ListParams::default()).await.expect("list");
        let stored: std::collections::HashMap<String, String> = list
            .items
            .into_iter()
            .map(|c| {
                (
                    c.metadata.name.unwrap_or_default(),
                    c.metadata.resource_version.unwrap_or_default(),
                )
            })
            .collect();
        let lost: Vec<_> = acked
            .iter()
            .filter(|(n, rv)| stored.get(*n) != Some(rv))
            .collect();
        assert!(
            lost.is_empty(),
            "{} of {} acknowledged writes lost or changed: {:?}",
            lost.len(),
            acked.len(),
            &lost[..lost.len().min(5)]
        );
    }
}
