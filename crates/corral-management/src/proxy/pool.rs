//! Idle HTTP/1.1 connections to clusters, reused by later proxied requests:
//! a new connection costs a dial (through the tunnel: a new yamux stream and
//! the agent's TCP connect) and a TLS handshake, several times the cost of a
//! small GET. A connection returns here only when its response body ended
//! cleanly, so a long watch never holds a connection someone else waits for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;

use corral_apiserver::extension::ExtensionBody;

/// Which connections are interchangeable: same cluster, same address, same
/// credential and CA (a changed credential must not reuse old connections).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub cluster: String,
    pub address: String,
    pub credential: [u8; 32],
}

impl PoolKey {
    pub fn new(cluster: &str, target: &super::ClusterTarget) -> PoolKey {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(target.bearer_token.as_bytes());
        h.update([0]);
        h.update(target.ca_pem.as_bytes());
        h.update([0]);
        h.update(target.server_name.as_bytes());
        PoolKey {
            cluster: cluster.to_string(),
            address: target.address.clone(),
            credential: h.finalize().into(),
        }
    }
}

struct Idle {
    sender: SendRequest<ExtensionBody>,
    since: Instant,
}

pub struct Pool {
    idle: Mutex<HashMap<PoolKey, Vec<Idle>>>,
    last_sweep: Mutex<Instant>,
    max_idle_per_key: usize,
    idle_timeout: Duration,
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new(8, Duration::from_secs(60))
    }
}

impl Pool {
    pub fn new(max_idle_per_key: usize, idle_timeout: Duration) -> Pool {
        Pool {
            idle: Mutex::new(HashMap::new()),
            last_sweep: Mutex::new(Instant::now()),
            max_idle_per_key,
            idle_timeout,
        }
    }

    /// A live idle connection for `key`, if there is one. Its connection
    /// task may not have noticed the end of the last response yet: wait
    /// for [`SendRequest::ready`] (briefly) before use.
    pub fn checkout(&self, key: &PoolKey) -> Option<SendRequest<ExtensionBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        while let Some(entry) = list.pop() {
            if entry.since.elapsed() < self.idle_timeout && !entry.sender.is_closed() {
                return Some(entry.sender);
            }
        }
        idle.remove(key);
        None
    }

    /// Keep a connection whose last response ended cleanly.
    pub fn put(&self, key: PoolKey, sender: SendRequest<ExtensionBody>) {
        if sender.is_closed() {
            return;
        }
        self.sweep();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key).or_default();
        if list.len() < self.max_idle_per_key {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Idle connections held, for tests and metrics.
    pub fn idle_count(&self) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.values().map(Vec::len).sum()
    }

    /// Drop expired and closed connections of every cluster, at most every
    /// half timeout (clusters that stopped being used must not keep theirs).
    fn sweep(&self) {
        {
            let mut last = self.last_sweep.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() < self.idle_timeout / 2 {
                return;
            }
            *last = Instant::now();
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|_, list| {
            list.retain(|e| e.since.elapsed() < self.idle_timeout && !e.sender.is_closed());
            !list.is_empty()
        });
    }
}
