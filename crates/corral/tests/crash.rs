//! Durability: kill -9 the server during a 32-client write load; after a
//! restart every acknowledged write is there with its resourceVersion.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let mut s = TestServer::start();
    let client = s.kube_client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut tasks = Vec::new();
    for worker in 0..32 {
        let api = api.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100_000 {
                let name = format!("w{worker}-{i}");
                let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": name},
                    "data": {"payload": "x".repeat(512)},
                }))
                .expect("cm");
                match api.create(&PostParams::default(), &cm).await {
                    Ok(created) => {
                        let rv = created.metadata.resource_version.unwrap_or_default();
                        acked.lock().expect("lock").insert(name, rv);
                    }
                    // The server is gone: stop this client.
                    Err(_) => break,
                }
            }
        }));
    }
    // Let the load run, then pull the plug mid-stream.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    s.kill9();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() > 100,
        "the load did not get going: {} writes",
        acked.len()
    );

    s.spawn();
    s.assert_configmaps_present(&acked).await;
    eprintln!(
        "{} acknowledged writes all present after kill -9",
        acked.len()
    );
}
