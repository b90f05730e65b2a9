//! Fills `kubernetes.io/service-account-token` Secrets with a legacy token for
//! their ServiceAccount, the CA and the namespace (upstream's token controller).

use base64::Engine;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher::{self, Event};

use crate::{Context, ignore_conflict};

pub const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
pub const SA_UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";

pub async fn run(ctx: Context) -> Result<(), kube::Error> {
    let secrets: Api<Secret> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields("type=kubernetes.io/service-account-token");
    let mut events = watcher::watcher(secrets, config).boxed();
    while let Some(event) = events.next().await {
        if let Event::Apply(s) | Event::InitApply(s) =
            event.map_err(|e| kube::Error::Service(Box::new(e)))?
        {
            fill(&ctx, &s).await?;
        }
    }
    Ok(())
}

async fn fill(ctx: &Context, secret: &Secret) -> Result<(), kube::Error> {
    let (Some(ns), Some(name)) = (
        secret.metadata.namespace.as_deref(),
        secret.metadata.name.as_deref(),
    ) else {
        return Ok(());
    };
    if secret
        .data
        .as_ref()
        .is_some_and(|d| d.contains_key("token"))
    {
        return Ok(());
    }
    let annotations = secret.metadata.annotations.clone().unwrap_or_default();
    let Some(sa_name) = annotations.get(SA_NAME_ANNOTATION) else {
        return Ok(());
    };
    let sas: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), ns);
    let Some(sa) = sas.get_opt(sa_name).await? else {
        // Upstream deletes token secrets of missing service accounts; we leave them empty.
        return Ok(());
    };
    let sa_uid = sa.metadata.uid.unwrap_or_default();
    if annotations
        .get(SA_UID_ANNOTATION)
        .is_some_and(|u| !u.is_empty() && *u != sa_uid)
    {
        return Ok(());
    }
    let Ok(token) = ctx.sa_keys.issue_legacy(ns, sa_name, &sa_uid, name) else {
        return Ok(());
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let patch = serde_json::json!({
        "metadata": {"annotations": {SA_UID_ANNOTATION: sa_uid}},
        "data": {"token": b64(&token), "ca.crt": b64(&ctx.root_ca_pem), "namespace": b64(ns)},
    });
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    ignore_conflict(
        secrets
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await,
    )
}
