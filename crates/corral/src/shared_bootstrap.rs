//! Secrets every replica must share — the server CA, the client CA, the
//! service-account signing key and the admin token — live in the datastore,
//! so any replica can serve any client with one kubeconfig. The first server
//! to start creates them (create-if-absent, so two racing replicas agree);
//! every start copies them into the data directory's `tls/` before use.
//!
//! They are stored unencrypted: whoever can read the datastore can act as
//! the cluster. Restrict access to etcd (client certificates) accordingly.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use corral_apiserver::pki;
use corral_store::{Store, StoreError};
use serde_json::{Value, json};

const KEY: &str = "/bootstrap/shared-secrets";
const FILES: &[&str] = &[
    "server-ca.crt",
    "server-ca.key",
    "client-ca.crt",
    "client-ca.key",
    "service-account.key",
    "admin.token",
];

/// Make `tls_dir` hold the shared material from the datastore, creating it there first if needed.
/// `create_local` makes any missing local files (CAs, keys, token) for the first replica.
pub async fn sync(
    store: &Arc<dyn Store>,
    tls_dir: &Path,
    create_local: impl Fn() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(tls_dir)?;
    for _ in 0..3 {
        if let Some(kv) = store
            .get(KEY)
            .await
            .map_err(|e| anyhow::anyhow!("reading shared secrets: {e}"))?
        {
            let doc: Value = serde_json::from_slice(&kv.value)
                .context("shared secrets in the datastore are corrupt")?;
            for f in FILES {
                let content = doc
                    .get(*f)
                    .and_then(Value::as_str)
                    .with_context(|| format!("shared secrets lack {f}"))?;
                let path = tls_dir.join(f);
                if std::fs::read_to_string(&path).ok().as_deref() != Some(content) {
                    pki::write_private(&path, content)?;
                }
            }
            return Ok(());
        }
        create_local()?;
        let mut doc = json!({});
        for f in FILES {
            let content =
                std::fs::read_to_string(tls_dir.join(f)).with_context(|| format!("reading {f}"))?;
            doc[*f] = Value::String(content);
        }
        match store.create(KEY, serde_json::to_vec(&doc)?.into()).await {
            Ok(_) => return Ok(()),
            // Another replica won the race: take its material on the next pass.
            Err(StoreError::AlreadyExists { .. }) => continue,
            Err(e) => anyhow::bail!("storing shared secrets: {e}"),
        }
    }
    anyhow::bail!("could not agree on shared secrets with the other replicas")
}
