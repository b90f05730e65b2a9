//! kube-rs against Corral, unmodified: typed and dynamic clients, discovery,
//! and kube-runtime's watcher and reflector.

mod support;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{ApiResource, Discovery};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use support::TestServer;

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"suite": "kube-rs"}},
        "data": {"value": value},
    }))
    .expect("configmap")
}

async fn namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("ns");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

#[tokio::test]
async fn typed_client_crud_and_conflicts() {
    let s = TestServer::start();
    let client = s.kube_client().await;
    namespace(&client, "typed").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "typed");
    let created = api
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    let dup = api.create(&PostParams::default(), &cm("a", "1")).await;
    match dup {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 409);
            assert_eq!(e.reason, "AlreadyExists");
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    let mut got = api.get("a").await.expect("get");
    got.data
        .get_or_insert_default()
        .insert("value".into(), "2".into());
    let replaced = api
        .replace("a", &PostParams::default(), &got)
        .await
        .expect("replace");
    assert_ne!(
        replaced.metadata.resource_version,
        got.metadata.resource_version
    );
    // Replacing with the stale resourceVersion conflicts.
    match api.replace("a", &PostParams::default(), &got).await {
        Err(kube::Error::Api(e)) => assert_eq!((e.code, e.reason.as_str()), (409, "Conflict")),
        other => panic!("expected Conflict, got {other:?}"),
    }
    // Merge patch and JSON patch.
    let patched = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"extra": "x"}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(
        patched
            .data
            .as_ref()
            .and_then(|d| d.get("extra"))
            .map(String::as_str),
        Some("x")
    );
    let list = api
        .list(&ListParams::default().labels("suite=kube-rs"))
        .await
        .expect("list");
    assert_eq!(list.items.len(), 1);
    api.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    match api.get("a").await {
        Err(kube::Error::Api(e)) => assert_eq!((e.code, e.reason.as_str()), (404, "NotFound")),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn dynamic_client_and_discovery() {
    let s = TestServer::start();
    let client = s.kube_client().await;
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let mut found = Vec::new();
    for group in discovery.groups() {
        for (ar, _caps) in group.recommended_resources() {
            found.push(format!("{}/{}", ar.group, ar.plural));
        }
    }
    for want in [
        "/configmaps",
        "coordination.k8s.io/leases",
        "rbac.authorization.k8s.io/clusterroles",
        "events.k8s.io/events",
    ] {
        assert!(
            found.iter().any(|f| f == want),
            "discovery lacks {want}: {found:?}"
        );
    }
    let ar = ApiResource::erase::<Lease>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "dyn"},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 10},
    }))
    .expect("dynamic");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create lease");
    let got = api.get("dyn").await.expect("get lease");
    assert_eq!(got.data["spec"]["holderIdentity"], "me");
    let typed: Api<Lease> = Api::namespaced(client, "default");
    assert_eq!(
        typed
            .get("dyn")
            .await
            .expect("typed")
            .spec
            .and_then(|s| s.holder_identity)
            .as_deref(),
        Some("me")
    );
}

#[tokio::test]
async fn watcher_and_reflector_follow_every_change() {
    let s = TestServer::start();
    let client = s.kube_client().await;
    namespace(&client, "reflect").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "reflect");
    for i in 0..20 {
        api.create(&PostParams::default(), &cm(&format!("pre{i}"), "0"))
            .await
            .expect("create");
    }
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream =
        // The controllers add kube-root-ca.crt to every namespace; follow only this test's objects.
        reflector(writer, watcher(api.clone(), watcher::Config::default().labels("suite=kube-rs"))).applied_objects();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Ok(Some(_)) = stream.try_next().await {}
    });
    reader.wait_until_ready().await.expect("reflector ready");
    assert_eq!(reader.state().len(), 20);
    for i in 0..30 {
        api.create(&PostParams::default(), &cm(&format!("live{i}"), "0"))
            .await
            .expect("create");
    }
    for i in 0..10 {
        api.delete(&format!("pre{i}"), &DeleteParams::default())
            .await
            .expect("delete");
    }
    let mut updated = api.get("live0").await.expect("get");
    updated
        .data
        .get_or_insert_default()
        .insert("value".into(), "changed".into());
    api.replace("live0", &PostParams::default(), &updated)
        .await
        .expect("replace");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let state = reader.state();
        let live0 = state
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some("live0"));
        let done = state.len() == 40
            && live0
                .and_then(|c| c.data.as_ref())
                .and_then(|d| d.get("value"))
                .map(String::as_str)
                == Some("changed");
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "reflector has {} objects",
            state.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();

    // A raw watcher sees events in resourceVersion order.
    let events = watcher(
        api.clone(),
        watcher::Config::default().labels("suite=kube-rs"),
    )
    .touched_objects()
    .take(40)
    .try_collect::<Vec<_>>()
    .await
    .expect("watch");
    assert_eq!(events.len(), 40);
}
