//! Real 3-member etcd clusters for the etcd backend's tests, run through
//! `scripts/etcd-cluster` (one place that knows how to start etcd).
//!
//! Each [`EtcdCluster`] lives in its own temporary directory on ports no
//! other cluster on this machine uses, and is stopped by PID when the guard
//! is dropped (also when a test panics). The script's watchdog, armed with
//! this process's PID, stops it as well if the test binary dies without
//! unwinding (abort, SIGKILL).

#![allow(dead_code)] // each test binary uses a different part of this

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use corral_store::etcd::{EtcdOptions, EtcdStore};

/// Ports per cluster: three client ports, then three peer ports.
const PORTS: u16 = 6;

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/etcd-cluster")
}

fn run(args: &[&str]) -> Output {
    Command::new(script())
        .args(args)
        .env("ETCD_CLUSTER_OWNER_PID", std::process::id().to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script().display()))
}

fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "etcd-cluster {what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A base port whose six ports are free now. Starts from a point that
/// differs between processes so parallel test binaries rarely even try the
/// same ports; a lost race is caught by the script and retried.
fn free_base_port(seed: u64) -> u16 {
    let span = (60_000 - 20_000) / 10;
    let mut slot = (seed % span) as u16;
    loop {
        let base = 20_000 + slot * 10;
        let all_free = (0..PORTS).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return base;
        }
        slot = (slot + 7) % span as u16;
    }
}

pub struct EtcdCluster {
    root: tempfile::TempDir,
    dir: PathBuf,
    endpoints: Vec<String>,
}

impl EtcdCluster {
    /// Starts a fresh cluster and waits until all three members are healthy.
    /// Panics (with the script's message, e.g. that `etcd` is not
    /// installed) if it cannot: these tests must not pass without etcd.
    pub fn start() -> EtcdCluster {
        let root = tempfile::Builder::new()
            .prefix("corral-etcd-")
            .tempdir()
            .expect("temporary directory");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = nanos ^ (u64::from(std::process::id()) << 20);
        for attempt in 0..8u64 {
            let dir = root.path().join(format!("cluster-{attempt}"));
            let base = free_base_port(seed.wrapping_add(attempt * 997));
            let out = run(&["start", path_str(&dir), &base.to_string()]);
            if out.status.success() {
                let endpoints = String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .split(',')
                    .map(str::to_string)
                    .collect();
                return EtcdCluster {
                    root,
                    dir,
                    endpoints,
                };
            }
            let _ = run(&["stop", path_str(&dir)]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !stderr.contains("in use") {
                panic!("could not start a 3-member etcd cluster:\n{stderr}");
            }
        }
        panic!("could not find free ports for an etcd cluster after 8 tries");
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints.clone()
    }

    /// A store on every member, with its own key prefix.
    pub async fn store(&self, key_prefix: &str, request_timeout: Duration) -> Arc<EtcdStore> {
        self.store_on(self.endpoints(), key_prefix, request_timeout)
            .await
    }

    pub async fn store_on(
        &self,
        endpoints: Vec<String>,
        key_prefix: &str,
        request_timeout: Duration,
    ) -> Arc<EtcdStore> {
        let options = EtcdOptions {
            endpoints,
            key_prefix: key_prefix.to_string(),
            request_timeout,
            ..EtcdOptions::default()
        };
        match EtcdStore::connect(options).await {
            Ok(store) => store,
            Err(e) => panic!("connect to etcd: {e:?}"),
        }
    }

    /// The member that is the raft leader now, asked of each member directly.
    pub async fn leader(&self) -> usize {
        for (n, endpoint) in self.endpoints().iter().enumerate() {
            let mut client = etcd_client::Client::connect([endpoint], None)
                .await
                .expect("connect to one member");
            let status = client.status().await.expect("member status");
            let me = status.header().map(|h| h.member_id());
            if me == Some(status.leader()) {
                return n;
            }
        }
        panic!("no member reports being the leader");
    }

    /// gRPC requests of `method` (`"Txn"`, `"Range"`, ...) that member `n`
    /// has answered, from its Prometheus metrics.
    pub async fn handled(&self, n: usize, method: &str) -> u64 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self.endpoints()[n]
            .trim_start_matches("http://")
            .to_string();
        let mut conn = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect to the member's metrics");
        conn.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
            .await
            .expect("ask for metrics");
        let mut text = String::new();
        conn.read_to_string(&mut text).await.expect("read metrics");
        let label = format!("grpc_method=\"{method}\"");
        text.lines()
            .filter(|l| l.starts_with("grpc_server_handled_total{") && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// `kill -9` member `n` and wait until it is gone.
    pub async fn kill_member(&self, n: usize) {
        self.script_async(vec!["kill-member".into(), n.to_string()])
            .await;
    }

    /// Restart member `n` and wait until it is healthy.
    pub async fn start_member(&self, n: usize) {
        self.script_async(vec!["start-member".into(), n.to_string()])
            .await;
    }

    /// Stop every member (SIGTERM, waited for); the data stays.
    pub async fn stop_all(&self) {
        self.script_async(vec!["stop".into()]).await;
    }

    /// Start every stopped member again on the same data and ports.
    pub async fn start_all(&self) {
        self.script_async(vec!["start".into()]).await;
    }

    /// PIDs of the running members, by member number.
    pub fn pids(&self) -> Vec<(usize, u32)> {
        let out = run(&["pids", path_str(&self.dir)]);
        check("pids", &out);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let (name, pid) = line.split_once(' ')?;
                Some((
                    name.trim_start_matches('m').parse().ok()?,
                    pid.parse().ok()?,
                ))
            })
            .collect()
    }

    async fn script_async(&self, args: Vec<String>) {
        let (dir, what) = (self.dir.clone(), args.join(" "));
        let out = tokio::task::spawn_blocking(move || {
            let mut full: Vec<&str> = vec![args[0].as_str(), path_str(&dir)];
            full.extend(args[1..].iter().map(String::as_str));
            run(&full)
        })
        .await
        .expect("script task");
        check(&what, &out);
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        let out = run(&["stop", path_str(&self.dir)]);
        if !out.status.success() {
            eprintln!(
                "etcd-cluster stop {}: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let _ = &self.root; // removed after this, with the data
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
