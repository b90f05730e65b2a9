//! The benchmark phases.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::Method;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::cli::BenchArgs;
use crate::transport::Target;
use crate::util::{
    Errors, LatencySummary, Spread, encode_query_value, fmt_ms, fmt_rate, median, new_hist, now_ns,
    proc_cpu_seconds, record_us, self_cpu_seconds, status_message,
};
use crate::watchcheck::{
    EventType, LineSplitter, OrderCheck, SENT_KEY, SEQ_KEY, Seen, parse_watch_line, verify,
};

/// Everything a phase needs.
pub struct Ctx {
    pub target: Target,
    pub ns: String,
    pub args: BenchArgs,
    pub payload: Arc<str>,
}

impl Ctx {
    fn cm_path(&self) -> String {
        format!("/api/v1/namespaces/{}/configmaps", self.ns)
    }
    fn phase_deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs_f64(self.args.phase_timeout.max(1.0))
    }
}

pub fn object_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("cm-{i:05}")).collect()
}

/// A ~payload-sized random alphanumeric string.
pub fn make_payload(len: usize) -> Arc<str> {
    let mut rng = rand::rng();
    let s: String = (0..len)
        .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
        .collect();
    Arc::from(s)
}

fn configmap_body(ns: &str, name: &str, payload: &str, extra: &[(&str, String)]) -> Bytes {
    let mut data = serde_json::Map::new();
    data.insert("payload".into(), Value::String(payload.to_string()));
    for (k, v) in extra {
        data.insert((*k).to_string(), Value::String(v.clone()));
    }
    let v = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "corral-bench"}},
        "data": data,
    });
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

/// Set `data[key] = val` on a decoded object; false when the object has an odd shape.
pub fn set_data_value(obj: &mut Value, key: &str, val: String) -> bool {
    let Some(map) = obj.as_object_mut() else {
        return false;
    };
    let data = map
        .entry("data")
        .or_insert_with(|| Value::Object(Default::default()));
    if data.is_null() {
        *data = Value::Object(Default::default());
    }
    match data.as_object_mut() {
        Some(d) => {
            d.insert(key.to_string(), Value::String(val));
            true
        }
        None => false,
    }
}

// ---------------------------------------------------------------- costs

/// Server and client CPU used during a phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cost {
    pub wall_s: f64,
    pub server_cpu_s: Option<f64>,
    pub client_cpu_s: f64,
}

pub struct Probe {
    pid: Option<u32>,
    server0: Option<f64>,
    client0: f64,
    t0: Instant,
}

impl Probe {
    pub fn start(pid: Option<u32>) -> Probe {
        Probe {
            pid,
            server0: pid.and_then(proc_cpu_seconds),
            client0: self_cpu_seconds(),
            t0: Instant::now(),
        }
    }
    pub fn finish(&self) -> Cost {
        let server1 = self.pid.and_then(proc_cpu_seconds);
        Cost {
            wall_s: self.t0.elapsed().as_secs_f64(),
            server_cpu_s: match (self.server0, server1) {
                (Some(a), Some(b)) => Some((b - a).max(0.0)),
                _ => None,
            },
            client_cpu_s: (self_cpu_seconds() - self.client0).max(0.0),
        }
    }
}

fn per(x: f64, ops: u64, unit: f64) -> Option<f64> {
    (ops > 0).then(|| x / ops as f64 * unit)
}

fn cost_text(cost: &Cost, ops: u64, unit: f64, label: &str) -> String {
    let mut s = String::new();
    if let Some(v) = cost.server_cpu_s.and_then(|c| per(c, ops, unit)) {
        s.push_str(&format!("  server {v:.3} cpu-s/{label}"));
    }
    if let Some(v) = per(cost.client_cpu_s, ops, unit) {
        s.push_str(&format!("  client {v:.3} cpu-s/{label}"));
    }
    s
}

fn errors_text(count: u64, first: &[String]) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(
            "\n  {count} errors; first: {}",
            first.first().map(String::as_str).unwrap_or("?")
        )
    }
}

// ---------------------------------------------------------------- ops phases

#[derive(Debug, Clone, Serialize)]
pub struct OpsResult {
    pub ops: u64,
    pub errors: u64,
    pub elapsed_s: f64,
    pub per_s: f64,
    pub latency: LatencySummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<u64>,
    pub cost: Cost,
    pub server_cpu_s_per_1000: Option<f64>,
    pub client_cpu_s_per_1000: Option<f64>,
    pub first_errors: Vec<String>,
}

impl OpsResult {
    fn build(
        hists: Vec<Histogram<u64>>,
        elapsed: Duration,
        errors: &Errors,
        cost: Cost,
        conflicts: Option<u64>,
    ) -> OpsResult {
        let mut h = new_hist();
        for x in &hists {
            let _ = h.add(x);
        }
        let ops = h.len();
        let elapsed_s = elapsed.as_secs_f64();
        OpsResult {
            ops,
            errors: errors.count(),
            elapsed_s,
            per_s: if elapsed_s > 0.0 {
                ops as f64 / elapsed_s
            } else {
                0.0
            },
            latency: LatencySummary::from_hist(&h),
            conflicts,
            server_cpu_s_per_1000: cost.server_cpu_s.and_then(|c| per(c, ops, 1000.0)),
            client_cpu_s_per_1000: per(cost.client_cpu_s, ops, 1000.0),
            cost,
            first_errors: errors.first(),
        }
    }

    /// `creates: 10000 in 1.83s = 5464/s  p50 4.1ms  p99 11.2ms  max 30ms  server 0.21 cpu-s/1000`
    pub fn line(&self, name: &str) -> String {
        let mut s = format!(
            "{name}: {} in {:.2}s = {}  {}",
            self.ops,
            self.elapsed_s,
            fmt_rate(self.per_s),
            self.latency.short()
        );
        if let Some(c) = self.conflicts {
            s.push_str(&format!("  conflicts {c}"));
        }
        s.push_str(&cost_text(&self.cost, self.ops, 1000.0, "1000"));
        s.push_str(&errors_text(self.errors, &self.first_errors));
        s
    }
}

async fn run_workers<F, Fut, T>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(f(i));
    }
    let mut out = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        if let Ok(v) = r {
            out.push(v);
        }
    }
    out
}

/// Create `names` (POST) at --concurrency.
pub async fn creates(ctx: &Ctx, names: Arc<Vec<String>>) -> OpsResult {
    let probe = Probe::start(ctx.args.server_pid);
    let errors = Arc::new(Errors::default());
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = ctx.phase_deadline();
    let path: Arc<str> = Arc::from(ctx.cm_path());
    let t0 = Instant::now();
    let hists = run_workers(ctx.args.concurrency.max(1), |_| {
        let mut conn = ctx.target.conn();
        let (errors, next, names, path) =
            (errors.clone(), next.clone(), names.clone(), path.clone());
        let (ns, payload, max_errors) = (ctx.ns.clone(), ctx.payload.clone(), ctx.args.max_errors);
        async move {
            let mut h = new_hist();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= names.len() || Instant::now() >= deadline || errors.count() >= max_errors {
                    break;
                }
                let body = configmap_body(&ns, &names[i], &payload, &[("index", i.to_string())]);
                let t = Instant::now();
                match conn.request(Method::POST, &path, Some(body)).await {
                    Ok(r) if r.is_success() => record_us(&mut h, t.elapsed().as_micros() as u64),
                    Ok(r) => {
                        errors.record(format!("POST {path} ({}): {}", names[i], r.error_message()))
                    }
                    Err(e) => errors.record(format!("{e:#}")),
                }
            }
            h
        }
    })
    .await;
    let elapsed = t0.elapsed();
    OpsResult::build(hists, elapsed, &errors, probe.finish(), None)
}

/// POST each of `bodies` to `path` from `clients` workers (bodies made beforehand,
/// so the client's share of the CPU is the HTTP and TLS work alone).
pub async fn post_bodies(
    ctx: &Ctx,
    path: Arc<str>,
    bodies: Arc<Vec<Bytes>>,
    clients: usize,
) -> OpsResult {
    let probe = Probe::start(ctx.args.server_pid);
    let errors = Arc::new(Errors::default());
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = ctx.phase_deadline();
    let t0 = Instant::now();
    let hists = run_workers(clients.max(1), |_| {
        let mut conn = ctx.target.conn();
        let (errors, next, bodies, path) =
            (errors.clone(), next.clone(), bodies.clone(), path.clone());
        let max_errors = ctx.args.max_errors;
        async move {
            let mut h = new_hist();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() || Instant::now() >= deadline || errors.count() >= max_errors {
                    break;
                }
                let t = Instant::now();
                match conn
                    .request(Method::POST, &path, Some(bodies[i].clone()))
                    .await
                {
                    Ok(r) if r.is_success() => record_us(&mut h, t.elapsed().as_micros() as u64),
                    Ok(r) => errors.record(format!("POST {path}: {}", r.error_message())),
                    Err(e) => errors.record(format!("{e:#}")),
                }
            }
            h
        }
    })
    .await;
    let elapsed = t0.elapsed();
    OpsResult::build(hists, elapsed, &errors, probe.finish(), None)
}

/// `total` PATCHes of `media` from `clients` workers: operation `op` goes to
/// `paths[op % paths.len()]` with the body `body(rng, op)` (made before the clock
/// starts; `rng` is the worker's, seeded from `seed`). A 409 Conflict is counted
/// and retried with the same body, up to --update-retries attempts.
pub async fn patch_loop<B>(
    ctx: &Ctx,
    paths: Arc<Vec<String>>,
    clients: usize,
    media: &'static str,
    seed: u64,
    body: B,
) -> OpsResult
where
    B: Fn(&mut rand::rngs::StdRng, usize) -> Bytes + Send + Sync + 'static,
{
    let probe = Probe::start(ctx.args.server_pid);
    let errors = Arc::new(Errors::default());
    let conflicts = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = ctx.phase_deadline();
    let body = Arc::new(body);
    let total = ctx.args.patches;
    let t0 = Instant::now();
    let hists = run_workers(clients.max(1), |w| {
        let mut conn = ctx.target.conn();
        let (errors, conflicts, next, paths, body) = (
            errors.clone(),
            conflicts.clone(),
            next.clone(),
            paths.clone(),
            body.clone(),
        );
        let (max_errors, retries) = (ctx.args.max_errors, ctx.args.update_retries.max(1));
        async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ w as u64);
            let mut h = new_hist();
            loop {
                let op = next.fetch_add(1, Ordering::Relaxed);
                if op >= total
                    || paths.is_empty()
                    || Instant::now() >= deadline
                    || errors.count() >= max_errors
                {
                    break;
                }
                let path = &paths[op % paths.len()];
                let body = body(&mut rng, op);
                let t = Instant::now();
                let mut done = false;
                for attempt in 0..retries {
                    match conn
                        .request_typed(Method::PATCH, path, Some(body.clone()), media)
                        .await
                    {
                        Ok(r) if r.is_success() => {
                            done = true;
                            break;
                        }
                        Ok(r) if r.status == http::StatusCode::CONFLICT => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                            if attempt + 1 == retries {
                                errors.record(format!(
                                    "PATCH {path}: still 409 after {retries} attempts: {}",
                                    r.error_message()
                                ));
                            }
                        }
                        Ok(r) => {
                            errors.record(format!("PATCH {path}: {}", r.error_message()));
                            break;
                        }
                        Err(e) => {
                            errors.record(format!("{e:#}"));
                            break;
                        }
                    }
                }
                if done {
                    record_us(&mut h, t.elapsed().as_micros() as u64);
                }
            }
            h
        }
    })
    .await;
    let elapsed = t0.elapsed();
    let c = conflicts.load(Ordering::Relaxed) as u64;
    OpsResult::build(hists, elapsed, &errors, probe.finish(), Some(c))
}

/// Each of the measurements `labels` names made `rounds` times, rounds outermost
/// so slow drift on a noisy machine touches every measurement alike: `run(round,
/// i)` makes one run of measurement `i`; each run is printed as it ends.
pub async fn measure_rounds<F, Fut>(
    rounds: usize,
    labels: &[String],
    mut run: F,
) -> Result<Vec<Repeated>>
where
    F: FnMut(usize, usize) -> Fut,
    Fut: Future<Output = Result<OpsResult>>,
{
    let mut runs: Vec<Vec<OpsResult>> = labels.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds.max(1) {
        for (i, label) in labels.iter().enumerate() {
            let r = run(round, i).await?;
            println!("  round {}: {}", round + 1, r.line(label));
            runs[i].push(r);
        }
    }
    Ok(labels
        .iter()
        .zip(runs)
        .map(|(label, runs)| Repeated::new(label.clone(), runs))
        .collect())
}

/// `a` against `b` round by round (the runs of one round side by side): time per
/// operation (b's rate over a's) and server CPU per operation, each the median
/// and range over the rounds; None when some round lacks the figure.
pub fn ratios(a: &[OpsResult], b: &[OpsResult]) -> (Option<Spread>, Option<Spread>) {
    let per_round = |f: &dyn Fn(&OpsResult, &OpsResult) -> Option<f64>| {
        let v: Vec<f64> = a.iter().zip(b).filter_map(|(x, y)| f(x, y)).collect();
        if v.len() == a.len() && a.len() == b.len() {
            Spread::of(&v)
        } else {
            None
        }
    };
    let time = per_round(&|x, y| (x.per_s > 0.0).then(|| y.per_s / x.per_s));
    let cpu = per_round(&|x, y| {
        let (x, y) = (x.server_cpu_s_per_1000?, y.server_cpu_s_per_1000?);
        (y > 0.0).then(|| x / y)
    });
    (time, cpu)
}

/// "1.93x (1.80x..2.05x)", or "-".
pub fn ratio_text(s: &Option<Spread>) -> String {
    s.map(|s| s.text(|x| format!("{x:.2}x")))
        .unwrap_or_else(|| "-".into())
}

/// One measurement made --rounds times: the runs, and the median and range of
/// each figure over them.
#[derive(Debug, Clone, Serialize)]
pub struct Repeated {
    pub label: String,
    pub per_s: Option<Spread>,
    pub p50_ms: Option<Spread>,
    pub p99_ms: Option<Spread>,
    pub server_cpu_s_per_1000: Option<Spread>,
    pub client_cpu_s_per_1000: Option<Spread>,
    /// Operations of all runs together, and the failed ones.
    pub ops: u64,
    pub errors: u64,
    /// 409 Conflict answers the client retried (all runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<u64>,
    pub runs: Vec<OpsResult>,
}

impl Repeated {
    pub fn new(label: String, runs: Vec<OpsResult>) -> Repeated {
        let pick = |f: &dyn Fn(&OpsResult) -> Option<f64>| -> Option<Spread> {
            let v: Vec<f64> = runs.iter().filter_map(f).collect();
            // A figure some run lacks (no server pid, no operations) is no median.
            if v.len() == runs.len() {
                Spread::of(&v)
            } else {
                None
            }
        };
        let ok = |r: &OpsResult| r.ops > 0;
        Repeated {
            per_s: pick(&|r| ok(r).then_some(r.per_s)),
            p50_ms: pick(&|r| ok(r).then_some(r.latency.p50_ms)),
            p99_ms: pick(&|r| ok(r).then_some(r.latency.p99_ms)),
            server_cpu_s_per_1000: pick(&|r| r.server_cpu_s_per_1000),
            client_cpu_s_per_1000: pick(&|r| r.client_cpu_s_per_1000),
            ops: runs.iter().map(|r| r.ops).sum(),
            errors: runs.iter().map(|r| r.errors).sum(),
            conflicts: runs
                .iter()
                .map(|r| r.conflicts)
                .try_fold(0, |a, c| c.map(|c| a + c)),
            label,
            runs,
        }
    }

    /// `label: 812/s (760..840)  p50 38.1ms (..)  p99 95.0ms (..)  server 1.230 cpu-s/1000 (..)  [3 runs]`
    pub fn line(&self) -> String {
        let mut s = format!("{}: ", self.label);
        match &self.per_s {
            Some(r) => s.push_str(&r.text(fmt_rate)),
            None => s.push('-'),
        }
        for (name, v) in [("p50", &self.p50_ms), ("p99", &self.p99_ms)] {
            if let Some(v) = v {
                s.push_str(&format!("  {name} {}", v.text(fmt_ms)));
            }
        }
        if let Some(v) = &self.server_cpu_s_per_1000 {
            s.push_str(&format!(
                "  server {} cpu-s/1000",
                v.text(|x| format!("{x:.3}"))
            ));
        }
        if let Some(c) = self.conflicts {
            s.push_str(&format!("  409s {c}"));
        }
        s.push_str(&format!("  [{} runs]", self.runs.len()));
        if self.errors > 0 {
            let first: Vec<String> = self
                .runs
                .iter()
                .filter_map(|r| r.first_errors.first().cloned())
                .take(1)
                .collect();
            s.push_str(&errors_text(self.errors, &first));
        }
        s
    }
}

/// Random GETs for --duration seconds (at most --max-gets).
pub async fn gets(ctx: &Ctx, names: Arc<Vec<String>>) -> Result<OpsResult> {
    if names.is_empty() {
        bail!("gets: no objects to read");
    }
    let probe = Probe::start(ctx.args.server_pid);
    let errors = Arc::new(Errors::default());
    let budget = Arc::new(AtomicI64::new(
        i64::try_from(ctx.args.max_gets).unwrap_or(i64::MAX),
    ));
    let dur = Duration::from_secs_f64(
        ctx.args
            .duration
            .clamp(0.1, ctx.args.phase_timeout.max(0.1)),
    );
    let t0 = Instant::now();
    let end = t0 + dur;
    let base: Arc<str> = Arc::from(ctx.cm_path());
    let hists = run_workers(ctx.args.concurrency.max(1), |w| {
        let mut conn = ctx.target.conn();
        let (errors, budget, names, base) =
            (errors.clone(), budget.clone(), names.clone(), base.clone());
        let max_errors = ctx.args.max_errors;
        async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(0x9e37_79b9 ^ w as u64);
            let mut h = new_hist();
            while Instant::now() < end
                && errors.count() < max_errors
                && budget.fetch_sub(1, Ordering::Relaxed) > 0
            {
                let name = &names[rng.random_range(0..names.len())];
                let path = format!("{base}/{name}");
                let t = Instant::now();
                match conn.request(Method::GET, &path, None).await {
                    Ok(r) if r.is_success() => record_us(&mut h, t.elapsed().as_micros() as u64),
                    Ok(r) => errors.record(format!("GET {path}: {}", r.error_message())),
                    Err(e) => errors.record(format!("{e:#}")),
                }
            }
            h
        }
    })
    .await;
    let elapsed = t0.elapsed();
    Ok(OpsResult::build(
        hists,
        elapsed,
        &errors,
        probe.finish(),
        None,
    ))
}

/// Read-modify-write updates: GET, change data["rev"], PUT with the resourceVersion
/// read; on 409 Conflict read again and retry.
pub async fn updates(ctx: &Ctx, names: Arc<Vec<String>>) -> Result<OpsResult> {
    let keys = ctx.args.update_keys.unwrap_or(names.len()).min(names.len());
    if keys == 0 {
        bail!("updates: no objects to update");
    }
    let probe = Probe::start(ctx.args.server_pid);
    let errors = Arc::new(Errors::default());
    let conflicts = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let total = ctx.args.updates;
    let deadline = ctx.phase_deadline();
    let base: Arc<str> = Arc::from(ctx.cm_path());
    let t0 = Instant::now();
    let hists = run_workers(ctx.args.concurrency.max(1), |w| {
        let mut conn = ctx.target.conn();
        let (errors, conflicts, next, names, base) = (
            errors.clone(),
            conflicts.clone(),
            next.clone(),
            names.clone(),
            base.clone(),
        );
        let (max_errors, retries) = (ctx.args.max_errors, ctx.args.update_retries.max(1));
        async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(0x5151_7e57 ^ w as u64);
            let mut h = new_hist();
            loop {
                let op = next.fetch_add(1, Ordering::Relaxed);
                if op >= total || Instant::now() >= deadline || errors.count() >= max_errors {
                    break;
                }
                let name = &names[rng.random_range(0..keys)];
                let path = format!("{base}/{name}");
                let t = Instant::now();
                let mut done = false;
                for _attempt in 0..retries {
                    let r = match conn.request(Method::GET, &path, None).await {
                        Ok(r) if r.is_success() => r,
                        Ok(r) => {
                            errors.record(format!("GET {path}: {}", r.error_message()));
                            break;
                        }
                        Err(e) => {
                            errors.record(format!("{e:#}"));
                            break;
                        }
                    };
                    let mut obj: Value = match serde_json::from_slice(&r.body) {
                        Ok(v) => v,
                        Err(e) => {
                            errors.record(format!("GET {path}: response is not JSON: {e}"));
                            break;
                        }
                    };
                    if !set_data_value(&mut obj, "rev", format!("{w}-{op}")) {
                        errors.record(format!("GET {path}: response is not an object"));
                        break;
                    }
                    let body = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default());
                    match conn.request(Method::PUT, &path, Some(body)).await {
                        Ok(r) if r.is_success() => {
                            done = true;
                            break;
                        }
                        Ok(r) if r.status == http::StatusCode::CONFLICT => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => {
                            errors.record(format!("PUT {path}: {}", r.error_message()));
                            break;
                        }
                        Err(e) => {
                            errors.record(format!("{e:#}"));
                            break;
                        }
                    }
                }
                if done {
                    record_us(&mut h, t.elapsed().as_micros() as u64);
                }
            }
            h
        }
    })
    .await;
    let elapsed = t0.elapsed();
    let c = conflicts.load(Ordering::Relaxed) as u64;
    Ok(OpsResult::build(
        hists,
        elapsed,
        &errors,
        probe.finish(),
        Some(c),
    ))
}

// ---------------------------------------------------------------- list

mod apply;
mod crd;
mod gc;
mod list;
mod patch;
mod watch_phase;
mod workload;
pub use apply::{ApplyResult, apply};
pub use crd::{CrdResult, crd};
pub use gc::{GcResult, gc};
pub use list::*;
pub use patch::{PatchResult, patch};
pub use watch_phase::*;
pub use workload::{WorkloadResult, workload};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_data_value_shapes() {
        let mut v = json!({"metadata": {"name": "a"}});
        assert!(set_data_value(&mut v, "rev", "1".into()));
        assert_eq!(v["data"]["rev"], "1");
        let mut v = json!({"data": null});
        assert!(set_data_value(&mut v, "rev", "2".into()));
        assert_eq!(v["data"]["rev"], "2");
        let mut v = json!({"data": {"payload": "x"}});
        assert!(set_data_value(&mut v, "rev", "3".into()));
        assert_eq!(v["data"]["payload"], "x");
        assert_eq!(v["data"]["rev"], "3");
        assert!(!set_data_value(&mut json!([1, 2]), "rev", "4".into()));
        assert!(!set_data_value(&mut json!({"data": 5}), "rev", "4".into()));
    }

    #[test]
    fn configmap_body_is_about_payload_sized() {
        let payload = make_payload(1024);
        assert_eq!(payload.len(), 1024);
        let b = configmap_body("ns", "cm-00001", &payload, &[("index", "1".into())]);
        let v: Value = serde_json::from_slice(&b).expect("valid JSON");
        assert_eq!(v["metadata"]["name"], "cm-00001");
        assert_eq!(v["metadata"]["namespace"], "ns");
        assert_eq!(v["data"]["index"], "1");
        assert!(b.len() > 1024 && b.len() < 1400, "{}", b.len());
    }

    #[test]
    fn ops_line_format() {
        let mut h = new_hist();
        for _ in 0..100 {
            record_us(&mut h, 4100);
        }
        let r = OpsResult::build(
            vec![h],
            Duration::from_millis(2000),
            &Errors::default(),
            Cost {
                wall_s: 2.0,
                server_cpu_s: Some(0.021),
                client_cpu_s: 0.005,
            },
            None,
        );
        assert_eq!(r.ops, 100);
        assert_eq!(
            r.line("creates"),
            "creates: 100 in 2.00s = 50.0/s  p50 4.1ms  p99 4.1ms  max 4.1ms  server 0.210 cpu-s/1000  client 0.050 cpu-s/1000"
        );
    }
}
