//! The gc phase: one owner ConfigMap and --count dependents naming it in
//! their ownerReferences; then the owner is deleted (background propagation)
//! and the time until every dependent is gone is measured from a watch, so the
//! figure is the garbage collector's, not a polling interval's.

use super::*;
use crate::transport::BodyStream;
use crate::util::random_suffix;

const DEP_LABEL_KEY: &str = "corral-bench/gc";

#[derive(Debug, Clone, Serialize)]
pub struct GcResult {
    pub dependents: usize,
    pub create_s: f64,
    pub creates_per_s: f64,
    /// The owner's DELETE request itself.
    pub owner_delete_ms: f64,
    /// From the owner's DELETE to the first and the last dependent's DELETED event.
    pub first_gone_ms: Option<f64>,
    pub all_gone_s: Option<f64>,
    pub deletes_per_s: Option<f64>,
    /// Dependents a list still returns at the end (0 when the collector finished).
    pub remaining: usize,
    pub cost: Cost,
}

impl GcResult {
    pub fn line(&self) -> String {
        let mut s = format!(
            "gc: {} dependents created in {:.2}s ({}); owner DELETE {}",
            self.dependents,
            self.create_s,
            fmt_rate(self.creates_per_s),
            fmt_ms(self.owner_delete_ms),
        );
        match (self.all_gone_s, self.deletes_per_s) {
            (Some(all), Some(rate)) => s.push_str(&format!(
                "; all gone {:.2}s after it (first {}) = {} deletes",
                all,
                fmt_ms(self.first_gone_ms.unwrap_or(0.0)),
                fmt_rate(rate)
            )),
            _ => s.push_str(&format!("; NOT all gone: {} remain", self.remaining)),
        }
        s.push_str(&cost_text(
            &self.cost,
            self.dependents as u64,
            1000.0,
            "1000 deletes",
        ));
        s
    }
}

fn owner_body(ns: &str, name: &str) -> Bytes {
    let v = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "corral-bench", DEP_LABEL_KEY: "owner"}},
        "data": {"role": "owner"},
    });
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

fn dependent_body(ns: &str, name: &str, owner: (&str, &str), payload: &str) -> Bytes {
    let v = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": "corral-bench", DEP_LABEL_KEY: "dependent"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner.0, "uid": owner.1}],
        },
        "data": {"payload": payload},
    });
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

#[derive(Deserialize)]
struct Uid {
    metadata: UidMeta,
}

#[derive(Deserialize)]
struct UidMeta {
    uid: String,
}

#[derive(Deserialize)]
struct WatchType {
    #[serde(rename = "type")]
    kind: String,
}

/// Count DELETED events until `want` of them arrived (or the stream ends);
/// returns the arrival times of the first and the last.
async fn count_deletions(
    mut body: BodyStream,
    want: usize,
) -> (usize, Option<Instant>, Option<Instant>) {
    let mut lines = LineSplitter::default();
    let (mut n, mut first, mut last) = (0usize, None, None);
    while n < want {
        let Some(Ok(chunk)) = body.next_chunk().await else {
            break;
        };
        let now = Instant::now();
        lines.feed(&chunk, |line| {
            if serde_json::from_slice::<WatchType>(line).is_ok_and(|w| w.kind == "DELETED") {
                n += 1;
                first.get_or_insert(now);
                last = Some(now);
            }
        });
    }
    (n, first, last)
}

pub async fn gc(ctx: &Ctx) -> Result<GcResult> {
    let n = ctx.args.count;
    let path = ctx.cm_path();
    let mut conn = ctx.target.conn();
    let owner = format!("gc-owner-{}", random_suffix(6));
    let r = conn
        .request(Method::POST, &path, Some(owner_body(&ctx.ns, &owner)))
        .await?;
    if !r.is_success() {
        bail!("creating the owner: {}", r.error_message());
    }
    let owner_uid = serde_json::from_slice::<Uid>(&r.body)
        .context("the owner's uid")?
        .metadata
        .uid;

    // Dependents, at --concurrency.
    let errors = Arc::new(Errors::default());
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = ctx.phase_deadline();
    let t0 = Instant::now();
    run_workers(ctx.args.concurrency.max(1), |_| {
        let mut conn = ctx.target.conn();
        let (errors, next, path) = (errors.clone(), next.clone(), path.clone());
        let (ns, owner, uid, payload) = (
            ctx.ns.clone(),
            owner.clone(),
            owner_uid.clone(),
            ctx.payload.clone(),
        );
        async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= deadline || errors.count() > 0 {
                    break;
                }
                let body = dependent_body(&ns, &format!("gc-dep-{i:05}"), (&owner, &uid), &payload);
                match conn.request(Method::POST, &path, Some(body)).await {
                    Ok(r) if r.is_success() => {}
                    Ok(r) => errors.record(format!("POST {path}: {}", r.error_message())),
                    Err(e) => errors.record(format!("{e:#}")),
                }
            }
        }
    })
    .await;
    let create_s = t0.elapsed().as_secs_f64();
    if errors.count() > 0 {
        bail!(
            "creating dependents: {}",
            errors.first().first().cloned().unwrap_or_default()
        );
    }

    // Watch the dependents from now on, then delete the owner.
    let selector = encode_query_value(&format!("{DEP_LABEL_KEY}=dependent"));
    let r = conn
        .request(
            Method::GET,
            &format!("{path}?labelSelector={selector}&limit=1"),
            None,
        )
        .await?;
    let rv = serde_json::from_slice::<ListBody>(&r.body)
        .ok()
        .and_then(|l| l.metadata)
        .and_then(|m| m.resource_version)
        .context("list resourceVersion")?;
    let mut watch_conn = ctx.target.conn();
    let (status, body) = watch_conn
        .stream(&format!(
            "{path}?watch=1&labelSelector={selector}&resourceVersion={rv}"
        ))
        .await?;
    if !status.is_success() {
        bail!("watch: {status}");
    }
    let counter = tokio::spawn(count_deletions(body, n));
    let probe = Probe::start(ctx.args.server_pid);
    let options = Bytes::from_static(
        br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}"#,
    );
    let t_delete = Instant::now();
    let r = conn
        .request(Method::DELETE, &format!("{path}/{owner}"), Some(options))
        .await?;
    let owner_delete_ms = t_delete.elapsed().as_secs_f64() * 1e3;
    if !r.is_success() {
        counter.abort();
        bail!("deleting the owner: {}", r.error_message());
    }
    let wait = Duration::from_secs_f64(ctx.args.phase_timeout.max(1.0));
    let (seen, first, last) = match tokio::time::timeout(wait, counter).await {
        Ok(Ok(r)) => r,
        _ => (0, None, None),
    };
    let cost = probe.finish();
    let since = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(t_delete));
    let all_gone = (seen >= n).then(|| since(last)).flatten();

    let r = conn
        .request(
            Method::GET,
            &format!("{path}?labelSelector={selector}"),
            None,
        )
        .await?;
    let remaining = serde_json::from_slice::<ListBody>(&r.body)
        .ok()
        .and_then(|l| l.items)
        .map(|i| i.len())
        .unwrap_or(usize::MAX);
    Ok(GcResult {
        dependents: n,
        create_s,
        creates_per_s: if create_s > 0.0 {
            n as f64 / create_s
        } else {
            0.0
        },
        owner_delete_ms,
        first_gone_ms: since(first).map(|d| d.as_secs_f64() * 1e3),
        all_gone_s: all_gone.map(|d| d.as_secs_f64()),
        deletes_per_s: all_gone
            .filter(|d| !d.is_zero())
            .map(|d| n as f64 / d.as_secs_f64()),
        remaining,
        cost,
    })
}
