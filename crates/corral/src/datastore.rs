//! Choosing and opening the datastore: embedded SQLite (default) or etcd.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use corral_store::Store;
use corral_store::etcd::{EtcdOptions, EtcdStore, EtcdTls};
use corral_store::sqlite::{SqliteOptions, SqliteStore};

#[derive(clap::Args, Clone)]
pub struct DatastoreArgs {
    /// Use an etcd cluster instead of the embedded SQLite database:
    /// `etcd://host1:2379,host2:2379` (plain) or `https://host1:2379,host2:2379`
    /// (TLS, see --datastore-cafile). Every replica of an HA setup points at
    /// the same cluster.
    #[arg(long, env = "CORRAL_DATASTORE_ENDPOINT")]
    pub datastore_endpoint: Option<String>,
    /// CA of the etcd members' serving certificates (https endpoints).
    #[arg(long, env = "CORRAL_DATASTORE_CAFILE")]
    pub datastore_cafile: Option<PathBuf>,
    /// Client certificate for etcd (clusters with --client-cert-auth).
    #[arg(long, env = "CORRAL_DATASTORE_CERTFILE")]
    pub datastore_certfile: Option<PathBuf>,
    /// Client key for etcd.
    #[arg(long, env = "CORRAL_DATASTORE_KEYFILE")]
    pub datastore_keyfile: Option<PathBuf>,
    /// Key prefix for everything Corral keeps in etcd.
    #[arg(long, env = "CORRAL_DATASTORE_PREFIX", default_value = "/corral")]
    pub datastore_prefix: String,
    /// How often old revisions are compacted away (0 disables compaction; SQLite only —
    /// etcd clusters compact themselves with --auto-compaction-retention).
    #[arg(long, env = "CORRAL_COMPACT_INTERVAL_SECONDS", default_value_t = 300)]
    pub compact_interval_seconds: u64,
    /// Compaction always keeps at least this many of the latest revisions (SQLite).
    #[arg(long, env = "CORRAL_COMPACT_MIN_RETAIN", default_value_t = 10_000)]
    pub compact_min_retain: i64,
}

/// An open datastore, kept concrete so it can be shut down cleanly.
pub enum Datastore {
    Sqlite(Arc<SqliteStore>),
    Etcd(Arc<EtcdStore>),
}

impl Datastore {
    pub async fn open(args: &DatastoreArgs, data_dir: &Path) -> anyhow::Result<Datastore> {
        let Some(endpoint) = &args.datastore_endpoint else {
            let db_dir = data_dir.join("db");
            std::fs::create_dir_all(&db_dir)?;
            let store = SqliteStore::open(
                &db_dir.join("state.db"),
                SqliteOptions {
                    compact_interval: Duration::from_secs(args.compact_interval_seconds),
                    compact_min_retain: args.compact_min_retain,
                    ..SqliteOptions::default()
                },
            )
            .context("opening the SQLite store")?;
            return Ok(Datastore::Sqlite(store));
        };
        let (endpoints, tls) = parse_endpoints(endpoint)?;
        let tls = if tls {
            let ca_file = args
                .datastore_cafile
                .clone()
                .context("https datastore endpoints need --datastore-cafile")?;
            Some(EtcdTls {
                ca_file,
                cert_file: args.datastore_certfile.clone(),
                key_file: args.datastore_keyfile.clone(),
            })
        } else {
            None
        };
        let options = EtcdOptions {
            endpoints,
            key_prefix: args.datastore_prefix.clone(),
            tls,
            ..EtcdOptions::default()
        };
        let store = EtcdStore::connect(options)
            .await
            .context("connecting to etcd")?;
        Ok(Datastore::Etcd(store))
    }

    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Datastore::Sqlite(s) => s.clone(),
            Datastore::Etcd(s) => s.clone(),
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Datastore::Sqlite(_) => "embedded SQLite",
            Datastore::Etcd(_) => "etcd",
        }
    }

    pub async fn shutdown(&self) {
        match self {
            Datastore::Sqlite(s) => s.shutdown().await,
            Datastore::Etcd(s) => s.shutdown(),
        }
    }
}

/// `etcd://a:2379,b:2379` → plain http endpoints; `https://a:2379,b:2379` → TLS.
fn parse_endpoints(spec: &str) -> anyhow::Result<(Vec<String>, bool)> {
    let (scheme, hosts) = spec
        .split_once("://")
        .context("datastore endpoint needs a scheme: etcd:// or https://")?;
    let (url_scheme, tls) = match scheme {
        "etcd" | "http" => ("http", false),
        "https" | "etcds" => ("https", true),
        other => bail!("unsupported datastore scheme {other:?}: use etcd:// or https://"),
    };
    let endpoints: Vec<String> = hosts
        .split(',')
        .map(|h| {
            h.trim()
                .trim_start_matches(&format!("{scheme}://"))
                .trim_end_matches('/')
        })
        .filter(|h| !h.is_empty())
        .map(|h| format!("{url_scheme}://{h}"))
        .collect();
    if endpoints.is_empty() {
        bail!("datastore endpoint {spec:?} names no hosts");
    }
    Ok((endpoints, tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_specs() {
        let (e, tls) = parse_endpoints("etcd://a:2379,b:2379").expect("parse");
        assert_eq!(
            (e, tls),
            (
                vec!["http://a:2379".to_string(), "http://b:2379".to_string()],
                false
            )
        );
        let (e, tls) = parse_endpoints("https://a:2379,https://b:2379").expect("parse");
        assert_eq!(
            (e, tls),
            (
                vec!["https://a:2379".to_string(), "https://b:2379".to_string()],
                true
            )
        );
        assert!(parse_endpoints("mysql://x").is_err());
        assert!(parse_endpoints("a:2379").is_err());
        assert!(parse_endpoints("etcd://").is_err());
    }
}
