//! Deletion semantics end to end, with real kubectl and kube-rs: finalizers,
//! propagation policies (`kubectl delete --cascade=...`), owner-reference
//! garbage collection, namespace termination with upstream's status
//! conditions, and metadata-only (`PartialObjectMetadata`) list and watch.
//! Every wait is a bounded poll.

mod support;

use std::time::{Duration, Instant};

use corral_kube::gc::{MetadataWatch, Watched};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, PartialObjectMeta, PostParams};
use kube::discovery::ApiResource;
use kube::runtime::watcher::{self, Event, watcher};
use serde_json::{Value, json};
use support::TestServer;

const WAIT: Duration = Duration::from_secs(30);

/// Poll `cond` every 100 ms until it holds; panic with `what` after [`WAIT`].
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn exists(s: &TestServer, kind: &str, name: &str, ns: &str) -> bool {
    s.kubectl(&["get", kind, name, "-n", ns, "-o", "name"])
        .status
        .success()
}

fn get(s: &TestServer, kind: &str, name: &str, ns: &str) -> Value {
    s.json(&["get", kind, name, "-n", ns, "-o", "json"])
}

fn uid_of(s: &TestServer, kind: &str, name: &str, ns: &str) -> String {
    get(s, kind, name, ns)["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string()
}

/// An ownerReference to a ConfigMap.
fn owner_ref(name: &str, uid: &str, block: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": uid, "blockOwnerDeletion": block})
}

fn create(s: &TestServer, obj: Value) {
    s.ok_stdin(&["create", "-f", "-"], &obj.to_string());
}

fn configmap(ns: &str, name: &str, owners: Vec<Value>, finalizers: &[&str]) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": ns, "ownerReferences": owners, "finalizers": finalizers},
           "data": {"k": "v"}})
}

fn secret(ns: &str, name: &str, owners: Vec<Value>, finalizers: &[&str]) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": name, "namespace": ns, "ownerReferences": owners, "finalizers": finalizers},
           "stringData": {"k": "v"}})
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["uid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn finalizers_hold_an_object_until_removed() {
    let s = TestServer::start();
    create(
        &s,
        configmap("default", "held", vec![], &["example.com/hold"]),
    );
    s.ok(&["delete", "cm", "held", "--wait=false"]);
    let held = get(&s, "cm", "held", "default");
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    assert_eq!(held["metadata"]["deletionGracePeriodSeconds"], 0);
    assert_eq!(finalizers(&held), ["example.com/hold"]);
    // Deleting again changes nothing.
    s.ok(&["delete", "cm", "held", "--wait=false"]);
    assert_eq!(
        get(&s, "cm", "held", "default")["metadata"]["deletionTimestamp"],
        held["metadata"]["deletionTimestamp"]
    );
    // No new finalizers on an object being deleted (upstream ValidateObjectMetaUpdate).
    let err = s.fails(&[
        "patch",
        "cm",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/late"}]"#,
    ]);
    assert!(
        err.contains("no new finalizers can be added if the object is being deleted"),
        "{err}"
    );
    // Other updates still work while it waits.
    s.ok(&[
        "patch",
        "cm",
        "held",
        "--type=merge",
        "-p",
        r#"{"data":{"k":"changed"}}"#,
    ]);
    // Removing the last finalizer completes the deletion.
    s.ok(&[
        "patch",
        "cm",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers/0"}]"#,
    ]);
    wait_for("held to be deleted", || {
        !exists(&s, "cm", "held", "default")
    });
}

#[test]
fn delete_options_are_validated() {
    let s = TestServer::start();
    create(&s, configmap("default", "opts", vec![], &[]));
    let path = "/api/v1/namespaces/default/configmaps/opts";
    let err = s.fails(&[
        "delete",
        "--raw",
        &format!("{path}?orphanDependents=true&propagationPolicy=Foreground"),
    ]);
    assert!(
        err.contains("orphanDependents and deletionPropagation cannot be both set"),
        "{err}"
    );
    let body = s.dir.path().join("opts.json");
    std::fs::write(
        &body,
        r#"{"kind":"DeleteOptions","apiVersion":"v1","orphanDependents":false,"propagationPolicy":"Orphan"}"#,
    )
    .expect("write body");
    let err = s.fails(&["delete", "--raw", path, "-f", body.to_str().expect("path")]);
    assert!(
        err.contains(r#"propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set"#),
        "{err}"
    );
    let err = s.fails(&[
        "delete",
        "--raw",
        &format!("{path}?propagationPolicy=Sideways"),
    ]);
    assert!(
        err.contains(r#"propagationPolicy: Unsupported value: "Sideways""#),
        "{err}"
    );
    // Nothing was deleted by the rejected requests.
    assert!(exists(&s, "cm", "opts", "default"));
}

#[test]
fn background_cascade_deletes_dependents_and_theirs() {
    let s = TestServer::start();
    s.ok(&["create", "namespace", "bg"]);
    create(&s, configmap("bg", "owner", vec![], &[]));
    let owner = uid_of(&s, "cm", "owner", "bg");
    create(
        &s,
        configmap("bg", "child", vec![owner_ref("owner", &owner, false)], &[]),
    );
    create(
        &s,
        secret(
            "bg",
            "child-secret",
            vec![owner_ref("owner", &owner, true)],
            &[],
        ),
    );
    let child = uid_of(&s, "cm", "child", "bg");
    create(
        &s,
        configmap(
            "bg",
            "grandchild",
            vec![owner_ref("child", &child, false)],
            &[],
        ),
    );
    create(&s, configmap("bg", "bystander", vec![], &[]));
    // kubectl's default cascade is background: the owner goes at once.
    s.ok(&["delete", "cm", "owner", "-n", "bg"]);
    assert!(!exists(&s, "cm", "owner", "bg"));
    wait_for("the dependents to be collected", || {
        !exists(&s, "cm", "child", "bg")
            && !exists(&s, "secret", "child-secret", "bg")
            && !exists(&s, "cm", "grandchild", "bg")
    });
    assert!(exists(&s, "cm", "bystander", "bg"));
}

#[test]
fn foreground_cascade_waits_for_blocking_dependents() {
    let s = TestServer::start();
    s.ok(&["create", "namespace", "fg"]);
    create(&s, configmap("fg", "owner", vec![], &[]));
    let owner = uid_of(&s, "cm", "owner", "fg");
    create(
        &s,
        configmap("fg", "blocker", vec![owner_ref("owner", &owner, true)], &[]),
    );
    // A blocking dependent that its own finalizer keeps around.
    create(
        &s,
        secret(
            "fg",
            "held",
            vec![owner_ref("owner", &owner, true)],
            &["example.com/hold"],
        ),
    );
    s.ok(&[
        "delete",
        "cm",
        "owner",
        "-n",
        "fg",
        "--cascade=foreground",
        "--wait=false",
    ]);
    wait_for(
        "the free blocker to go and the held one to be marked",
        || {
            !exists(&s, "cm", "blocker", "fg")
                && get(&s, "secret", "held", "fg")["metadata"]["deletionTimestamp"].is_string()
        },
    );
    // The owner waits, visibly, for its blocking dependent.
    let waiting = get(&s, "cm", "owner", "fg");
    assert!(
        waiting["metadata"]["deletionTimestamp"].is_string(),
        "{waiting}"
    );
    assert_eq!(finalizers(&waiting), ["foregroundDeletion"]);
    s.ok(&[
        "patch",
        "secret",
        "held",
        "-n",
        "fg",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    wait_for("the owner to go once nothing blocks it", || {
        !exists(&s, "secret", "held", "fg") && !exists(&s, "cm", "owner", "fg")
    });
}

#[test]
fn orphan_cascade_keeps_dependents_without_the_reference() {
    let s = TestServer::start();
    s.ok(&["create", "namespace", "orph"]);
    create(&s, configmap("orph", "owner", vec![], &[]));
    create(&s, configmap("orph", "other-owner", vec![], &[]));
    let owner = uid_of(&s, "cm", "owner", "orph");
    let other = uid_of(&s, "cm", "other-owner", "orph");
    create(
        &s,
        configmap("orph", "only", vec![owner_ref("owner", &owner, true)], &[]),
    );
    create(
        &s,
        secret(
            "orph",
            "shared",
            vec![
                owner_ref("owner", &owner, false),
                owner_ref("other-owner", &other, false),
            ],
            &[],
        ),
    );
    // kubectl waits until the owner is gone, which the orphan finalizer delays
    // until the garbage collector has let go of every dependent.
    s.ok(&[
        "delete",
        "cm",
        "owner",
        "-n",
        "orph",
        "--cascade=orphan",
        "--timeout=30s",
    ]);
    wait_for("the owner to go", || !exists(&s, "cm", "owner", "orph"));
    let only = get(&s, "cm", "only", "orph");
    assert!(only["metadata"].get("ownerReferences").is_none(), "{only}");
    let shared = get(&s, "secret", "shared", "orph");
    assert_eq!(owner_uids(&shared), [other]);
    // They stay: the garbage collector has nothing to collect.
    s.ok(&["delete", "cm", "other-owner", "-n", "orph"]);
    wait_for("the secret owned by the other owner to go", || {
        !exists(&s, "secret", "shared", "orph")
    });
    assert!(exists(&s, "cm", "only", "orph"));
}

#[test]
fn dependents_of_owners_that_do_not_exist_are_collected() {
    let s = TestServer::start();
    s.ok(&["create", "namespace", "ghost"]);
    create(&s, configmap("ghost", "real", vec![], &[]));
    let real = uid_of(&s, "cm", "real", "ghost");
    // The name exists, but with another uid: the referenced owner is absent.
    create(
        &s,
        configmap(
            "ghost",
            "wrong-uid",
            vec![owner_ref(
                "real",
                "3f7c9a52-0000-4000-8000-000000000001",
                false,
            )],
            &[],
        ),
    );
    create(
        &s,
        secret(
            "ghost",
            "never-existed",
            vec![owner_ref(
                "nobody",
                "3f7c9a52-0000-4000-8000-000000000002",
                false,
            )],
            &[],
        ),
    );
    create(
        &s,
        configmap(
            "ghost",
            "well-owned",
            vec![owner_ref("real", &real, false)],
            &[],
        ),
    );
    wait_for("dangling dependents to be collected", || {
        !exists(&s, "cm", "wrong-uid", "ghost") && !exists(&s, "secret", "never-existed", "ghost")
    });
    assert!(exists(&s, "cm", "real", "ghost"));
    assert!(exists(&s, "cm", "well-owned", "ghost"));
}

fn condition(ns: &Value, type_: &str) -> Option<(String, String)> {
    ns["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").to_string(),
                c["message"].as_str().unwrap_or("").to_string(),
            )
        })
}

#[test]
fn namespace_termination_reports_what_remains_then_finishes() {
    let s = TestServer::start();
    s.ok(&["create", "namespace", "term"]);
    create(&s, configmap("term", "plain", vec![], &[]));
    create(&s, secret("term", "plain-secret", vec![], &[]));
    create(&s, configmap("term", "held", vec![], &["example.com/x"]));
    s.ok(&["delete", "namespace", "term", "--wait=false"]);
    let ns = s.json(&["get", "ns", "term", "-o", "json"]);
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(ns["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    let content = "Some resources are remaining: configmaps. has 1 resource instances";
    let held_by = "Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances";
    wait_for("the namespace conditions", || {
        let ns = s.json(&["get", "ns", "term", "-o", "json"]);
        condition(&ns, "NamespaceContentRemaining") == Some(("True".into(), content.into()))
            && condition(&ns, "NamespaceFinalizersRemaining")
                == Some(("True".into(), held_by.into()))
    });
    let ns = s.json(&["get", "ns", "term", "-o", "json"]);
    for ok in [
        "NamespaceDeletionDiscoveryFailure",
        "NamespaceDeletionGroupVersionParsingFailure",
        "NamespaceDeletionContentFailure",
    ] {
        assert_eq!(
            condition(&ns, ok).map(|c| c.0).as_deref(),
            Some("False"),
            "{ok}: {ns}"
        );
    }
    assert!(s.ok(&["get", "ns", "term"]).contains("Terminating"));
    // Everything else is gone; the held object is marked.
    assert!(!exists(&s, "cm", "plain", "term"));
    assert!(!exists(&s, "secret", "plain-secret", "term"));
    assert!(get(&s, "cm", "held", "term")["metadata"]["deletionTimestamp"].is_string());
    s.ok(&[
        "patch",
        "cm",
        "held",
        "-n",
        "term",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    wait_for("the namespace to go", || {
        !s.kubectl(&["get", "ns", "term"]).status.success()
    });
}

#[test]
fn namespace_deletion_resumes_after_a_restart() {
    let mut s = TestServer::start();
    s.ok(&["create", "namespace", "resume"]);
    create(&s, configmap("resume", "held", vec![], &["example.com/x"]));
    s.ok(&["delete", "namespace", "resume", "--wait=false"]);
    wait_for("the held object to be marked", || {
        get(&s, "cm", "held", "resume")["metadata"]["deletionTimestamp"].is_string()
    });
    s.restart();
    s.ok(&[
        "patch",
        "cm",
        "held",
        "-n",
        "resume",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    wait_for("the namespace to go after the restart", || {
        !s.kubectl(&["get", "ns", "resume"]).status.success()
    });
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

fn labelled_cm(name: &str, owner: Option<(&str, &str)>) -> ConfigMap {
    let mut v = json!({"metadata": {"name": name, "labels": {"suite": "meta"}}, "data": {"big": "x".repeat(512)}});
    if let Some((owner, uid)) = owner {
        v["metadata"]["ownerReferences"] = json!([owner_ref(owner, uid, false)]);
    }
    serde_json::from_value(v).expect("configmap")
}

#[tokio::test]
async fn metadata_list_get_and_watch_through_kube_rs() {
    let s = TestServer::start();
    let client = s.kube_client().await;
    create_namespace(&client, "meta").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "meta");
    for i in 0..3 {
        api.create(&PostParams::default(), &labelled_cm(&format!("m{i}"), None))
            .await
            .expect("create");
    }
    let lp = ListParams::default().labels("suite=meta");
    let list = api.list_metadata(&lp).await.expect("list_metadata");
    assert_eq!(list.types.kind, "PartialObjectMetadataList");
    assert_eq!(list.types.api_version, "meta.k8s.io/v1");
    assert!(list.metadata.resource_version.is_some());
    let names: Vec<String> = list
        .items
        .iter()
        .filter_map(|m| m.metadata.name.clone())
        .collect();
    assert_eq!(names, ["m0", "m1", "m2"]);
    assert!(list.items.iter().all(|m| {
        m.metadata.uid.is_some()
            && m.metadata.resource_version.is_some()
            && m.types
                .as_ref()
                .is_some_and(|t| t.kind == "PartialObjectMetadata")
    }));
    let one = api.get_metadata("m1").await.expect("get_metadata");
    assert_eq!(
        one.types.map(|t| t.kind).as_deref(),
        Some("PartialObjectMetadata")
    );
    assert_eq!(
        one.metadata
            .labels
            .and_then(|l| l.get("suite").cloned())
            .as_deref(),
        Some("meta")
    );

    // On the wire: metadata only, no data.
    let raw = kube::core::Request::new("/api/v1/namespaces/meta/configmaps");
    let req = raw.list_metadata(&lp).expect("request");
    let text = client.request_text(req).await.expect("raw list");
    assert!(
        text.contains("\"PartialObjectMetadataList\"") && !text.contains("xxxx"),
        "{text}"
    );
    // A list asked for as one object's metadata is not acceptable.
    let mut req = raw.list(&lp).expect("request");
    req.headers_mut().insert(
        "accept",
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
            .parse()
            .expect("header"),
    );
    match client.request_text(req).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 406);
            assert!(
                e.message.contains(
                    "you requested PartialObjectMetadata, but the requested object is a list"
                ),
                "{}",
                e.message
            );
        }
        other => panic!("expected 406, got {other:?}"),
    }

    // A metadata-only watcher sees adds and deletes.
    let meta_api: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(client.clone(), "meta");
    let mut events = watcher(meta_api, watcher::Config::default().labels("suite=meta")).boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, events.try_next()).await {
            Ok(Ok(Some(watcher::Event::InitApply(m)))) => {
                initial.push(m.metadata.name.unwrap_or_default())
            }
            Ok(Ok(Some(watcher::Event::InitDone))) => break,
            Ok(Ok(Some(_))) => {}
            other => panic!("watch ended early: {other:?}"),
        }
    }
    initial.sort();
    assert_eq!(initial, ["m0", "m1", "m2"]);
    api.create(&PostParams::default(), &labelled_cm("m3", None))
        .await
        .expect("create");
    api.delete("m0", &DeleteParams::default())
        .await
        .expect("delete");
    let (mut added, mut deleted) = (false, false);
    while !(added && deleted) {
        match tokio::time::timeout(WAIT, events.try_next()).await {
            Ok(Ok(Some(watcher::Event::Apply(m)))) => {
                added |= m.metadata.name.as_deref() == Some("m3");
                assert!(m.types.is_some_and(|t| t.kind == "PartialObjectMetadata"));
            }
            Ok(Ok(Some(watcher::Event::Delete(m)))) => {
                deleted |= m.metadata.name.as_deref() == Some("m0")
            }
            Ok(Ok(Some(_))) => {}
            other => panic!("watch ended early: {other:?}"),
        }
    }
}

#[tokio::test]
async fn hundreds_of_dependents_go_with_their_owner() {
    let s = TestServer::start();
    let client = s.kube_client().await;
    create_namespace(&client, "burst").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "burst");
    let owner = api
        .create(&PostParams::default(), &labelled_cm("owner", None))
        .await
        .expect("owner");
    let uid = owner.metadata.uid.clone().expect("uid");
    let n = 500;
    futures::stream::iter(0..n)
        .map(|i| {
            let (api, uid) = (api.clone(), uid.clone());
            async move {
                api.create(
                    &PostParams::default(),
                    &labelled_cm(&format!("dep-{i}"), Some(("owner", &uid))),
                )
                .await
                .expect("create dependent")
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    api.delete("owner", &DeleteParams::background())
        .await
        .expect("delete owner");
    let deadline = Instant::now() + WAIT;
    loop {
        let left = api
            .list_metadata(&ListParams::default().labels("suite=meta"))
            .await
            .expect("list")
            .items
            .len();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} dependents left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The garbage collector's own list-and-watch (`MetadataWatch`, which
/// parses events without serde): a list, then the watch; a watch broken by
/// a restart resumes, and one whose resourceVersion was compacted meanwhile
/// lists again, so what changed in the gap is seen (a deletion as an absence).
#[tokio::test]
async fn the_collector_s_metadata_watch_lists_watches_and_relists_after_expiry() {
    let mut s = TestServer::start_with(&[
        "--compact-interval-seconds",
        "1",
        "--compact-min-retain",
        "2",
    ]);
    let client = s.kube_client().await;
    create_namespace(&client, "mw").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "mw");
    let pp = PostParams::default();
    cms.create(&pp, &labelled_cm("before", None))
        .await
        .expect("create");
    let ar = ApiResource::erase::<ConfigMap>(&());
    let mut watch = MetadataWatch::new(Api::all_with(client.clone(), &ar), client.clone());

    // Events of namespace `mw` until `stop` says so (errors are the watch
    // recovering: compaction runs every second here).
    async fn until(
        watch: &mut MetadataWatch,
        mut stop: impl FnMut(&Event<Watched>) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            assert!(Instant::now() < deadline, "timed out; saw {seen:?}");
            let Ok(event) = tokio::time::timeout(WAIT, watch.next()).await else {
                panic!("no event; saw {seen:?}");
            };
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    seen.push(format!("error {e}"));
                    continue;
                }
            };
            let in_mw = |o: &Watched| o.metadata.namespace.as_deref() == Some("mw");
            let name = |o: &Watched| o.metadata.name.clone().unwrap_or_default();
            match &event {
                Event::Init => seen.push("init".into()),
                Event::InitDone => seen.push("done".into()),
                Event::InitApply(o) if in_mw(o) => seen.push(format!("listed {}", name(o))),
                Event::Apply(o) if in_mw(o) => seen.push(format!("applied {}", name(o))),
                Event::Delete(o) if in_mw(o) => seen.push(format!("deleted {}", name(o))),
                _ => {}
            }
            if stop(&event) {
                return seen;
            }
        }
    }
    let named = |e: &Event<Watched>, want: &str| match e {
        Event::InitApply(o) | Event::Apply(o) | Event::Delete(o) => {
            o.metadata.name.as_deref() == Some(want)
        }
        _ => false,
    };

    let seen = until(&mut watch, |e| matches!(e, Event::InitDone)).await;
    assert!(seen.contains(&"listed before".to_string()), "{seen:?}");
    cms.create(&pp, &labelled_cm("live", None))
        .await
        .expect("create");
    let seen = until(&mut watch, |e| named(e, "live")).await;
    assert!(seen.contains(&"applied live".to_string()), "{seen:?}");

    // While the watch is not read: a restart breaks it, writes move the
    // store past the version it would resume from, and compaction drops
    // that version. A second restart empties the server's window of recent
    // events (which would otherwise still serve the resumed watch, gap-free).
    let resume_from = cms
        .get("live")
        .await
        .expect("get")
        .metadata
        .resource_version;
    s.restart();
    let client = s.kube_client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "mw");
    cms.delete("before", &DeleteParams::default())
        .await
        .expect("delete");
    for i in 0..10 {
        cms.create(&pp, &labelled_cm(&format!("gap{i}"), None))
            .await
            .expect("create");
    }
    s.restart();
    let client = s.kube_client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "mw");
    // A list at exactly that version fails once it is compacted.
    let expired = format!(
        "/api/v1/namespaces/mw/configmaps?resourceVersionMatch=Exact&resourceVersion={}",
        resume_from.expect("a resourceVersion")
    );
    wait_for("compaction past the watch's version", || {
        let out = s.kubectl(&["get", "--raw", &expired]);
        let text = String::from_utf8_lossy(&out.stderr);
        !out.status.success() && (text.contains("too old") || text.contains("Expired"))
    });

    let seen = until(&mut watch, |e| {
        named(e, "gap9") && matches!(e, Event::InitApply(_))
    })
    .await;
    let relist = seen
        .iter()
        .rposition(|e| e == "init")
        .expect("listed again");
    let listed = &seen[relist..];
    for i in 0..10 {
        assert!(listed.contains(&format!("listed gap{i}")), "{seen:?}");
    }
    assert!(!listed.contains(&"listed before".to_string()), "{seen:?}");
    cms.create(&pp, &labelled_cm("after", None))
        .await
        .expect("create");
    let seen = until(&mut watch, |e| named(e, "after")).await;
    assert!(seen.contains(&"applied after".to_string()), "{seen:?}");
}
