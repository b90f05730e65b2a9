//! Every active namespace gets the `default` ServiceAccount and the
//! `kube-root-ca.crt` ConfigMap (upstream's serviceaccount and root-ca-cert
//! publisher controllers). Deleted ones are recreated.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};

use crate::{Context, ignore_conflict};

pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

pub async fn run(ctx: Context) -> Result<(), kube::Error> {
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let service_accounts: Api<ServiceAccount> = Api::all(ctx.client.clone());
    let configmaps: Api<ConfigMap> = Api::all(ctx.client.clone());
    // Namespaces drive the work; deletions of what we made bring us back to that namespace.
    let ns_events = watcher::watcher(namespaces, watcher::Config::default())
        .map(|e| e.map(NsWork::Namespace))
        .boxed();
    let sa_events = watcher::watcher(
        service_accounts,
        watcher::Config::default().fields("metadata.name=default"),
    )
    .map(|e| e.map(NsWork::Child))
    .boxed();
    let cm_events = watcher::watcher(
        configmaps,
        watcher::Config::default().fields(&format!("metadata.name={ROOT_CA_CONFIGMAP}")),
    )
    .map(|e| e.map(NsWork::ChildConfigMap))
    .boxed();
    let mut events =
        futures::stream::select(ns_events, futures::stream::select(sa_events, cm_events));
    while let Some(event) = events.next().await {
        let namespaces_to_check: Vec<String> =
            match event.map_err(|e| kube::Error::Service(Box::new(e)))? {
                NsWork::Namespace(Event::Apply(ns) | Event::InitApply(ns)) => {
                    active(&ns).into_iter().collect()
                }
                NsWork::Child(Event::Delete(sa)) => sa.metadata.namespace.into_iter().collect(),
                NsWork::ChildConfigMap(Event::Delete(cm)) => {
                    cm.metadata.namespace.into_iter().collect()
                }
                NsWork::ChildConfigMap(Event::Apply(cm)) => {
                    // Someone changed the CA bundle: put it back.
                    let stale =
                        cm.data.as_ref().and_then(|d| d.get("ca.crt")) != Some(&ctx.root_ca_pem);
                    if stale {
                        cm.metadata.namespace.into_iter().collect()
                    } else {
                        vec![]
                    }
                }
                _ => vec![],
            };
        for ns in namespaces_to_check {
            ensure(&ctx, &ns).await?;
        }
    }
    Ok(())
}

enum NsWork {
    Namespace(Event<Namespace>),
    Child(Event<ServiceAccount>),
    ChildConfigMap(Event<ConfigMap>),
}

/// The namespace's name if it is not being deleted.
fn active(ns: &Namespace) -> Option<String> {
    if ns.metadata.deletion_timestamp.is_some() {
        return None;
    }
    ns.metadata.name.clone()
}

async fn ensure(ctx: &Context, namespace: &str) -> Result<(), kube::Error> {
    let sas: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), namespace);
    if sas.get_opt("default").await?.is_none() {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some("default".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        ignore_conflict(sas.create(&PostParams::default(), &sa).await)?;
    }
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    match cms.get_opt(ROOT_CA_CONFIGMAP).await? {
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(ROOT_CA_CONFIGMAP.into()),
                    ..Default::default()
                },
                data: Some([("ca.crt".to_string(), ctx.root_ca_pem.clone())].into()),
                ..Default::default()
            };
            ignore_conflict(cms.create(&PostParams::default(), &cm).await)?;
        }
        Some(cm) if cm.data.as_ref().and_then(|d| d.get("ca.crt")) != Some(&ctx.root_ca_pem) => {
            let patch = serde_json::json!({"data": {"ca.crt": ctx.root_ca_pem}});
            ignore_conflict(
                cms.patch(
                    ROOT_CA_CONFIGMAP,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await,
            )?;
        }
        Some(_) => {}
    }
    Ok(())
}
