//! Many writers patching one object without a resourceVersion: every patch
//! succeeds (the server retries lost compare-and-swaps as upstream's
//! GuaranteedUpdate does) and none is lost.

mod support;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_on_one_object_all_land() {
    let s = TestServer::start();
    let client = s.kube_client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("hot".into());
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let writers = 32;
    let each = 10;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..each {
                let patch = serde_json::json!({"data": {format!("w{w}-{i}"): "x"}});
                api.patch("hot", &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("every patch succeeds");
    }
    let cm = api.get("hot").await.expect("get");
    assert_eq!(cm.data.map(|d| d.len()), Some(writers * each));
}
