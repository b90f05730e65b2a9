//! A kube-rs `Controller` with `kube::runtime::finalizer` over a custom
//! resource, unmodified, against `corral server`: the finalizer is added,
//! the status is written through `/status`, and deleting an object runs the
//! cleanup before the object goes.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::watcher;
use serde_json::json;
use support::TestServer;

const FINALIZER: &str = "corral.dev/test-cleanup";

struct State {
    api: Api<DynamicObject>,
    cleaned: Mutex<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReconcileError(String);

async fn reconcile(obj: Arc<DynamicObject>, state: Arc<State>) -> Result<Action, ReconcileError> {
    let api = state.api.clone();
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(o) => {
                let name = o.metadata.name.clone().unwrap_or_default();
                let status =
                    json!({"status": {"replicas": 1, "labelSelector": format!("app={name}")}});
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await
                    .map_err(|e| ReconcileError(e.to_string()))?;
                Ok(Action::await_change())
            }
            Event::Cleanup(o) => {
                let name = o.metadata.name.clone().unwrap_or_default();
                if let Ok(mut c) = state.cleaned.lock() {
                    c.push(name);
                }
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e: kube::runtime::finalizer::Error<ReconcileError>| ReconcileError(e.to_string()))
}

fn error_policy(_: Arc<DynamicObject>, e: &ReconcileError, _: Arc<State>) -> Action {
    eprintln!("reconcile failed: {e}");
    Action::requeue(Duration::from_millis(200))
}

async fn wait_for<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_with_finalizer_runs_unmodified() {
    let s = TestServer::start();
    s.ok_stdin(&["apply", "-f", "-"], include_str!("data/crontab-crd.yaml"));
    s.ok(&[
        "wait",
        "--for=condition=established",
        "--timeout=30s",
        "crd/crontabs.stable.example.com",
    ]);
    let client = s.kube_client().await;
    let gvk = GroupVersionKind::gvk("stable.example.com", "v1", "CronTab");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "crontabs");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let state = Arc::new(State {
        api: api.clone(),
        cleaned: Mutex::new(Vec::new()),
    });
    let controller =
        Controller::new_with(api.clone(), watcher::Config::default(), resource.clone())
            .run(reconcile, error_policy, state.clone())
            .for_each(|_| async {});
    let controller = tokio::spawn(controller);

    for name in ["one", "two"] {
        let mut obj = DynamicObject::new(name, &resource).within("default");
        obj.data = json!({"spec": {"cronSpec": "* * * * */5", "replicas": 2}});
        api.create(&PostParams::default(), &obj)
            .await
            .expect("create");
    }
    for name in ["one", "two"] {
        wait_for("the finalizer and status", || {
            let api = api.clone();
            async move {
                match api.get(name).await {
                    Ok(o) => {
                        o.metadata
                            .finalizers
                            .as_ref()
                            .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
                            && o.data["status"]["labelSelector"] == format!("app={name}")
                    }
                    Err(_) => false,
                }
            }
        })
        .await;
    }

    api.delete("one", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for("the deleted object to go", || {
        let api = api.clone();
        async move { matches!(api.get_opt("one").await, Ok(None)) }
    })
    .await;
    let cleaned = state.cleaned.lock().map(|c| c.clone()).unwrap_or_default();
    assert_eq!(
        cleaned,
        vec!["one".to_string()],
        "cleanup ran once, for the deleted object"
    );
    assert!(api.get_opt("two").await.expect("get").is_some());
    controller.abort();
}
