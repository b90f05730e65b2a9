//! ResourceQuota admission (upstream's `ResourceQuota` admission plugin) on
//! create, plus the quantity arithmetic and per-object usage the quota
//! controller in `corral-kube` shares.
//!
//! A namespaced create is checked against every unscoped ResourceQuota of
//! its namespace whose `status.hard` names something the object consumes
//! (upstream enforces `status.hard`: a quota the controller has not yet
//! synced limits nothing). Pods must state the cpu/memory a quota limits
//! (`failed quota: q: must specify ...`); a create that would take
//! `status.used` over `status.hard` gets upstream's 403 (`exceeded quota:
//! ...`). Otherwise the quotas are charged — compare-and-swap of
//! `status.used`, re-checked on conflict — before the object is stored; if
//! the create then fails, the controller's recount gives the charge back.
//! Dry runs are checked and not charged. Quotas with `scopes` or a
//! `scopeSelector` are left alone (not evaluated here).

pub mod cache;
pub mod quantity;
pub mod usage;

use std::collections::{BTreeMap, BTreeSet};

use corral_store::{KeyValue, RangeRequest, StoreError};
use serde_json::{Map, Value};

pub use quantity::Quantity;
pub use usage::{ResourceList, object_count_name, pod_constraints, resource_source, usage};

use crate::encoding;
use crate::error::{ApiError, ApiResult};
use crate::handlers::Ctx;

/// How many times charging one quota retries a lost compare-and-swap.
const MAX_CHARGE_RETRIES: usize = 64;

/// `a=1,b=2` in key order, as upstream's `prettyPrint`.
fn pretty(list: &BTreeMap<String, String>) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn map_at<'a>(v: &'a Value, a: &str, b: &str) -> Option<&'a Map<String, Value>> {
    v.get(a)?.get(b)?.as_object()
}

fn is_scoped(quota: &Value) -> bool {
    let spec = quota.get("spec");
    let scopes = spec
        .and_then(|s| s.get("scopes"))
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let selector = spec
        .and_then(|s| s.get("scopeSelector"))
        .is_some_and(|s| !s.is_null());
    scopes || selector
}

fn hard_format_binary(quota: &Value, resource: &str) -> bool {
    map_at(quota, "status", "hard")
        .and_then(|h| h.get(resource))
        .and_then(Value::as_str)
        .is_some_and(quantity::is_binary)
}

fn forbidden(ctx: &Ctx, name: &str, message: String) -> ApiError {
    let target = ctx.target(name);
    ApiError::Forbidden {
        message: format!("{} {name:?} is forbidden: {message}", target.qualified()),
        target,
        cause: None,
    }
}

/// What checking `delta` against one quota found.
enum Verdict {
    /// Nothing of the quota is consumed.
    Untouched,
    /// The new `status.used` entries to write.
    Charge(Map<String, Value>),
}

/// Check `delta` against one quota: upstream's messages on refusal.
fn check(
    ctx: &Ctx,
    name: &str,
    quota_name: &str,
    quota: &Value,
    delta: &ResourceList,
) -> ApiResult<Verdict> {
    let Some(hard) = map_at(quota, "status", "hard") else {
        return Ok(Verdict::Untouched);
    };
    let requested: ResourceList = delta
        .iter()
        .filter(|(k, _)| hard.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if requested.is_empty() {
        return Ok(Verdict::Untouched);
    }
    let used_map = map_at(quota, "status", "used");
    let unknown: Vec<&str> = requested
        .keys()
        .filter(|k| used_map.and_then(|u| u.get(*k)).is_none())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(forbidden(
            ctx,
            name,
            format!(
                "status unknown for quota: {quota_name}, resources: {}",
                unknown.join(",")
            ),
        ));
    }
    let mut exceeded_req = BTreeMap::new();
    let mut exceeded_used = BTreeMap::new();
    let mut exceeded_hard = BTreeMap::new();
    let mut charge = Map::new();
    for (k, d) in &requested {
        let used_v = used_map.and_then(|u| u.get(k)).unwrap_or(&Value::Null);
        let hard_v = &hard[k];
        let used = Quantity::from_value(used_v).unwrap_or_default();
        let limit = Quantity::from_value(hard_v).unwrap_or_default();
        let new_used = used + *d;
        let binary = hard_format_binary(quota, k);
        if new_used > limit {
            exceeded_req.insert(k.clone(), d.format(binary));
            exceeded_used.insert(k.clone(), display(used_v, used, binary));
            exceeded_hard.insert(k.clone(), display(hard_v, limit, binary));
        }
        charge.insert(k.clone(), Value::String(new_used.format(binary)));
    }
    if !exceeded_req.is_empty() {
        return Err(forbidden(
            ctx,
            name,
            format!(
                "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
                pretty(&exceeded_req),
                pretty(&exceeded_used),
                pretty(&exceeded_hard)
            ),
        ));
    }
    Ok(Verdict::Charge(charge))
}

/// A stored quantity as written (upstream prints the quantity it holds).
fn display(v: &Value, q: Quantity, binary: bool) -> String {
    match v {
        Value::String(s) => s.clone(),
        _ => q.format(binary),
    }
}

fn quota_name(kv: &KeyValue) -> &str {
    kv.key.rsplit('/').next().unwrap_or("")
}

/// Admission of a create of `obj` (already defaulted and validated): refuse
/// it or charge the namespace's quotas. `dry_run` checks without charging.
pub(crate) async fn admit_create(ctx: &Ctx, obj: &Value, dry_run: bool) -> ApiResult<()> {
    let Some(ns) = ctx.namespace() else {
        return Ok(());
    };
    if ctx.info.subresource.is_some() {
        return Ok(());
    }
    let mirrored = ctx.api.quotas.in_namespace(ns);
    if mirrored.is_empty() {
        return Ok(());
    }
    let name = encoding::meta_str(obj, "name").unwrap_or("");
    let delta = usage(ctx.def.group, ctx.def.plural, obj);
    let to_charge = match decide(ctx, obj, name, &delta, &mirrored) {
        Ok(to_charge) => to_charge,
        // The mirror may trail the store (a recount that lowered usage, a
        // quota just deleted elsewhere): refuse only what the store refuses.
        Err(_) => {
            let stored = ctx
                .api
                .store
                .range(RangeRequest {
                    prefix: format!("{}{ns}/", cache::PREFIX),
                    ..Default::default()
                })
                .await?
                .kvs;
            decide(ctx, obj, name, &delta, &stored)?
        }
    };
    if dry_run {
        return Ok(());
    }
    for (kv, q) in to_charge {
        charge(ctx, name, kv, q, &delta).await?;
    }
    Ok(())
}

/// The quotas among `quotas` that `obj` (named `name`, consuming `delta`)
/// must be charged to, or the refusal.
fn decide(
    ctx: &Ctx,
    obj: &Value,
    name: &str,
    delta: &ResourceList,
    quotas: &[KeyValue],
) -> ApiResult<Vec<(KeyValue, Value)>> {
    let is_pod = ctx.def.group.is_empty() && ctx.def.plural == "pods";
    // Every quota's constraints first, then every quota's limits, as upstream.
    let mut decoded = Vec::with_capacity(quotas.len());
    for kv in quotas {
        let q = encoding::decode_stored(kv)?;
        if is_scoped(&q) {
            continue;
        }
        if is_pod {
            let hard = usage::keys(map_at(&q, "status", "hard"));
            if let Some(why) = pod_constraints(&hard, obj) {
                return Err(forbidden(
                    ctx,
                    name,
                    format!("failed quota: {}: {why}", quota_name(kv)),
                ));
            }
        }
        decoded.push((kv.clone(), q));
    }
    let mut to_charge = Vec::new();
    for (kv, q) in decoded {
        if let Verdict::Charge(_) = check(ctx, name, quota_name(&kv), &q, delta)? {
            to_charge.push((kv, q));
        }
    }
    Ok(to_charge)
}

/// Write one quota's new `status.used`, re-reading and re-checking after a
/// lost compare-and-swap.
async fn charge(
    ctx: &Ctx,
    name: &str,
    mut kv: KeyValue,
    mut quota: Value,
    delta: &ResourceList,
) -> ApiResult<()> {
    for _ in 0..MAX_CHARGE_RETRIES {
        let qname = quota_name(&kv).to_string();
        let Verdict::Charge(used) = check(ctx, name, &qname, &quota, delta)? else {
            return Ok(());
        };
        let mut next = quota.clone();
        let status = next.as_object_mut().map(|m| {
            m.entry("status")
                .or_insert_with(|| Value::Object(Map::new()))
        });
        if let Some(Value::Object(status)) = status {
            let u = status
                .entry("used")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(u) = u {
                u.extend(used);
            }
        }
        let bytes = encoding::encode_stored(&next)?;
        match ctx.api.store.update(&kv.key, bytes, kv.mod_revision).await {
            Ok(stored) => {
                ctx.api.quotas.observe(&stored);
                return Ok(());
            }
            Err(StoreError::Conflict {
                current: Some(current),
                ..
            }) => {
                kv = *current;
                quota = encoding::decode_stored(&kv)?;
            }
            // The quota went away meanwhile: nothing to charge.
            Err(StoreError::Conflict { current: None, .. } | StoreError::NotFound { .. }) => {
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict {
        target: ctx.target(name),
        message: "too many concurrent updates of a resource quota; please retry".into(),
    })
}

/// The resources of `hard` this server knows how to count, grouped by the
/// `(group, plural)` whose objects they come from.
pub fn sources(hard: &BTreeSet<String>) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for r in hard {
        if let Some(src) = resource_source(r) {
            out.entry(src).or_default().insert(r.clone());
        }
    }
    out
}
