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
    Errors, LatencySummary, encode_query_value, fmt_ms, fmt_rate, median, new_hist, now_ns,
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

#[derive(Deserialize, Default)]
pub struct ListBody {
    #[serde(default)]
    pub metadata: Option<ListMeta>,
    #[serde(default)]
    pub items: Option<Vec<Item>>,
}

#[derive(Deserialize, Default)]
pub struct ListMeta {
    #[serde(rename = "resourceVersion", default)]
    pub resource_version: Option<String>,
    #[serde(rename = "continue", default)]
    pub cont: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Item {
    #[serde(default)]
    pub metadata: Option<ItemMeta>,
}

#[derive(Deserialize, Default)]
pub struct ItemMeta {
    #[serde(default)]
    pub name: Option<String>,
}

impl ListBody {
    /// Names of the benchmark's own objects; the cluster may keep others in the
    /// namespace (such as the `kube-root-ca.crt` ConfigMap every namespace gets).
    fn names(self) -> Vec<String> {
        self.items
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.metadata.and_then(|m| m.name).unwrap_or_default())
            .filter(|n| n.starts_with("cm-"))
            .collect()
    }
    fn cont(&self) -> Option<String> {
        self.metadata
            .as_ref()
            .and_then(|m| m.cont.clone())
            .filter(|c| !c.is_empty())
    }
}

/// One paginated traversal; returns (names, pages, bytes).
pub async fn list_paged(
    ctx_target: &Target,
    ns: &str,
    page_size: usize,
    deadline: Instant,
) -> Result<(Vec<String>, u64, u64)> {
    let mut conn = ctx_target.conn();
    let base = format!(
        "/api/v1/namespaces/{ns}/configmaps?limit={}",
        page_size.max(1)
    );
    let mut names = Vec::new();
    let mut cont: Option<String> = None;
    let (mut pages, mut bytes) = (0u64, 0u64);
    // Bounded: at most 100k pages and the phase deadline.
    for _ in 0..100_000 {
        if Instant::now() >= deadline {
            bail!("paginated list did not finish before the phase deadline");
        }
        let path = match &cont {
            Some(c) => format!("{base}&continue={}", encode_query_value(c)),
            None => base.clone(),
        };
        let r = conn.request(Method::GET, &path, None).await?;
        if !r.is_success() {
            bail!("GET {path}: {}", r.error_message());
        }
        pages += 1;
        bytes += r.body.len() as u64;
        let body: ListBody = serde_json::from_slice(&r.body)
            .with_context(|| format!("GET {path}: bad list JSON"))?;
        cont = body.cont();
        names.extend(body.names());
        if cont.is_none() {
            return Ok((names, pages, bytes));
        }
    }
    bail!("paginated list exceeded 100000 pages")
}

#[derive(Debug, Clone, Serialize)]
pub struct ListResult {
    pub expected: Option<u64>,
    pub full_items: Vec<u64>,
    pub full_ms: Vec<f64>,
    pub full_median_ms: f64,
    pub full_bytes: u64,
    pub paged_items: Vec<u64>,
    pub paged_ms: Vec<f64>,
    pub paged_median_ms: f64,
    pub page_size: usize,
    pub pages: u64,
    pub count_ok: bool,
    pub problems: Vec<String>,
    pub full_cost: Cost,
    pub paged_cost: Cost,
    pub server_cpu_s_per_full_list: Option<f64>,
    pub server_cpu_s_per_paged_list: Option<f64>,
}

impl ListResult {
    pub fn line(&self) -> String {
        let items = self.full_items.first().copied().unwrap_or(0);
        let mut s = format!(
            "list: {items} items in one call: median {} of {}; in pages of {} ({} pages): median {}; count {}",
            fmt_ms(self.full_median_ms),
            self.full_ms.len(),
            self.page_size,
            self.pages,
            fmt_ms(self.paged_median_ms),
            if self.count_ok { "ok" } else { "WRONG" },
        );
        if let Some(v) = self.server_cpu_s_per_full_list {
            s.push_str(&format!("  server {v:.3} cpu-s/list"));
        }
        if let Some(v) = self.server_cpu_s_per_paged_list {
            s.push_str(&format!(", {v:.3} cpu-s/paged list"));
        }
        let runs = (self.full_ms.len() + self.paged_ms.len()) as u64;
        if let Some(v) = per(
            self.full_cost.client_cpu_s + self.paged_cost.client_cpu_s,
            runs,
            1.0,
        ) {
            s.push_str(&format!("  client {v:.3} cpu-s/list"));
        }
        for p in &self.problems {
            s.push_str(&format!("\n  problem: {p}"));
        }
        s
    }
}

/// Time a full list and a paginated list, --list-runs times each.
pub async fn list(ctx: &Ctx, expected: Option<usize>) -> Result<ListResult> {
    let runs = ctx.args.list_runs.max(1);
    let deadline = ctx.phase_deadline();
    let mut problems = Vec::new();
    let mut conn = ctx.target.conn();
    let path = ctx.cm_path();

    let probe = Probe::start(ctx.args.server_pid);
    let (mut full_ms, mut full_items, mut full_bytes) = (Vec::new(), Vec::new(), 0u64);
    for _ in 0..runs {
        if Instant::now() >= deadline {
            problems.push("phase deadline reached during full lists".into());
            break;
        }
        let t = Instant::now();
        let r = conn.request(Method::GET, &path, None).await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !r.is_success() {
            bail!("GET {path}: {}", r.error_message());
        }
        let body: ListBody = serde_json::from_slice(&r.body)
            .with_context(|| format!("GET {path}: bad list JSON"))?;
        if let Some(c) = body.cont() {
            problems.push(format!("unpaginated list returned a continue token {c:?}"));
        }
        let names = body.names();
        let unique = names.iter().collect::<HashSet<_>>().len();
        if unique != names.len() {
            problems.push(format!(
                "full list has {} duplicate names",
                names.len() - unique
            ));
        }
        full_items.push(names.len() as u64);
        full_bytes = r.body.len() as u64;
        full_ms.push(ms);
    }
    let full_cost = probe.finish();

    let probe = Probe::start(ctx.args.server_pid);
    let (mut paged_ms, mut paged_items, mut pages) = (Vec::new(), Vec::new(), 0u64);
    for _ in 0..runs {
        let t = Instant::now();
        let (names, p, _bytes) =
            list_paged(&ctx.target, &ctx.ns, ctx.args.page_size, deadline).await?;
        paged_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let unique = names.iter().collect::<HashSet<_>>().len();
        if unique != names.len() {
            problems.push(format!(
                "paginated list has {} duplicate names",
                names.len() - unique
            ));
        }
        paged_items.push(unique as u64);
        pages = p;
    }
    let paged_cost = probe.finish();

    let want = expected.map(|e| e as u64).or(full_items.first().copied());
    let mut count_ok = true;
    for (what, counts) in [("full", &full_items), ("paginated", &paged_items)] {
        for c in counts.iter() {
            if Some(*c) != want {
                count_ok = false;
                problems.push(format!(
                    "{what} list returned {c} items, expected {}",
                    want.unwrap_or(0)
                ));
            }
        }
    }
    if !problems.is_empty() {
        count_ok = false;
    }
    Ok(ListResult {
        expected: expected.map(|e| e as u64),
        server_cpu_s_per_full_list: full_cost
            .server_cpu_s
            .and_then(|c| per(c, full_ms.len() as u64, 1.0)),
        server_cpu_s_per_paged_list: paged_cost
            .server_cpu_s
            .and_then(|c| per(c, paged_ms.len() as u64, 1.0)),
        full_median_ms: median(&full_ms).unwrap_or(f64::NAN),
        paged_median_ms: median(&paged_ms).unwrap_or(f64::NAN),
        full_items,
        full_ms,
        full_bytes,
        paged_items,
        paged_ms,
        page_size: ctx.args.page_size,
        pages,
        count_ok,
        problems,
        full_cost,
        paged_cost,
    })
}

// ---------------------------------------------------------------- watch

#[derive(Debug, Clone, Serialize)]
pub struct WatchResult {
    pub watchers: usize,
    pub watchers_connected: usize,
    pub watchers_complete: usize,
    pub connect_all_ms: f64,
    pub events_planned: usize,
    pub events_written: u64,
    pub write_errors: u64,
    pub write_rate_target: f64,
    pub write_rate_actual: f64,
    pub writers: usize,
    pub write_latency: LatencySummary,
    /// Delivery latency over all (watcher, event) pairs.
    pub delivery_latency: LatencySummary,
    pub check: OrderCheck,
    pub all_in_order: bool,
    pub watcher_errors: u64,
    pub parse_errors: u64,
    pub first_errors: Vec<String>,
    pub cost: Cost,
    pub server_cpu_s_per_1000_writes: Option<f64>,
    pub client_cpu_s_per_1000_writes: Option<f64>,
}

impl WatchResult {
    pub fn line(&self) -> String {
        let mut s = format!(
            "watch: {} watchers (connected in {}) x {} writes at {} (target {}, {} writers): delivery {}  ({} deliveries; writes {})",
            self.watchers,
            fmt_ms(self.connect_all_ms),
            self.events_written,
            fmt_rate(self.write_rate_actual),
            fmt_rate(self.write_rate_target),
            self.writers,
            self.delivery_latency.short(),
            self.delivery_latency.count,
            self.write_latency.short(),
        );
        s.push_str(&cost_text(
            &self.cost,
            self.events_written,
            1000.0,
            "1000 writes",
        ));
        s.push_str(&format!(
            "\n  all {} watchers saw all {} events in order: {}  (complete {}, missing {}, duplicates {}, out-of-order {}, unexpected {})",
            self.watchers,
            self.events_written,
            if self.all_in_order { "yes" } else { "no" },
            self.watchers_complete,
            self.check.missing,
            self.check.duplicates,
            self.check.out_of_order,
            self.check.unexpected,
        ));
        let errs = self.write_errors + self.watcher_errors + self.parse_errors;
        if errs > 0 {
            s.push_str(&format!(
                "\n  write errors {}, watcher errors {}, unparsable lines {}; first: {}",
                self.write_errors,
                self.watcher_errors,
                self.parse_errors,
                self.first_errors.first().map(String::as_str).unwrap_or("?")
            ));
        }
        s
    }
}

struct WatcherOut {
    connected: bool,
    seen: Vec<Seen>,
    hist: Histogram<u64>,
    error: Option<String>,
    parse_errors: u64,
    first_parse_error: Option<String>,
}

/// Max bytes of an unterminated line before the watcher gives up.
const MAX_LINE: usize = 64 << 20;

async fn watcher(
    target: Target,
    path: String,
    ready: mpsc::Sender<Result<(), String>>,
    mut stop: watch::Receiver<bool>,
    total: usize,
    done: Arc<AtomicUsize>,
) -> WatcherOut {
    let mut out = WatcherOut {
        connected: false,
        seen: Vec::with_capacity(total + 8),
        hist: new_hist(),
        error: None,
        parse_errors: 0,
        first_parse_error: None,
    };
    let mut conn = target.conn();
    let (status, mut body) = match conn.stream(&path).await {
        Ok(x) => x,
        Err(e) => {
            let m = format!("{e:#}");
            let _ = ready.send(Err(m.clone())).await;
            out.error = Some(m);
            return out;
        }
    };
    if !status.is_success() {
        let b = body.read_limited(8192).await;
        let m = format!("GET {path}: {}", status_message(status, &b));
        let _ = ready.send(Err(m.clone())).await;
        out.error = Some(m);
        return out;
    }
    out.connected = true;
    let _ = ready.send(Ok(())).await;
    drop(ready);

    let mut got = vec![false; total];
    let mut distinct = 0usize;
    let mut splitter = LineSplitter::default();
    while distinct < total {
        let chunk = tokio::select! {
            biased;
            _ = stop.changed() => break,
            c = body.next_chunk() => c,
        };
        let now = now_ns();
        let bytes = match chunk {
            None => {
                out.error = Some(format!(
                    "watch stream closed by the server after {distinct} of {total} events"
                ));
                break;
            }
            Some(Err(e)) => {
                out.error = Some(format!("watch stream error after {distinct} events: {e:#}"));
                break;
            }
            Some(Ok(b)) => b,
        };
        splitter.feed(&bytes, |line| match parse_watch_line(line) {
            Ok(ev) => match ev.kind {
                EventType::Bookmark => {}
                EventType::Error => {
                    if out.error.is_none() {
                        out.error = ev.message;
                    }
                }
                _ => {
                    out.seen.push(Seen {
                        seq: ev.seq,
                        rv: ev.resource_version.as_deref().and_then(|r| r.parse().ok()),
                    });
                    if let Some(sent) = ev.sent_ns {
                        record_us(&mut out.hist, now.saturating_sub(sent) / 1000);
                    }
                    if let Some(seq) = ev.seq.and_then(|s| usize::try_from(s).ok())
                        && seq < total
                        && !got[seq]
                    {
                        got[seq] = true;
                        distinct += 1;
                    }
                }
            },
            Err(e) => {
                out.parse_errors += 1;
                if out.first_parse_error.is_none() {
                    out.first_parse_error = Some(e);
                }
            }
        });
        if splitter.pending() > MAX_LINE {
            out.error = Some(format!("watch line longer than {MAX_LINE} bytes"));
            break;
        }
    }
    if distinct >= total {
        done.fetch_add(1, Ordering::Relaxed);
    }
    out
}

/// W watchers from a fresh list's resourceVersion, then E creates at a steady rate;
/// delivery latency and exactly-once, in-order verification.
pub async fn watch_phase(ctx: &Ctx) -> Result<WatchResult> {
    let a = &ctx.args;
    let (nw, ne) = (a.watchers, a.events);
    let probe = Probe::start(a.server_pid);
    let errors = Arc::new(Errors::default());
    let mut conn = ctx.target.conn();
    let base = ctx.cm_path();

    // A fresh list's resourceVersion (limit=1 keeps it cheap; metadata.resourceVersion
    // of a paginated list is the RV of the whole snapshot).
    let r = conn
        .request(Method::GET, &format!("{base}?limit=1"), None)
        .await?;
    if !r.is_success() {
        bail!("GET {base}?limit=1: {}", r.error_message());
    }
    let list: ListBody = serde_json::from_slice(&r.body).context("list for watch: bad JSON")?;
    let rv = list
        .metadata
        .and_then(|m| m.resource_version)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("list response has no metadata.resourceVersion"))?;

    let rate = a.watch_rate.max(0.1);
    let writes_s = ne as f64 / rate;
    let timeout_s = (writes_s + a.watch_grace.max(0.0) + 60.0).ceil() as u64;
    let path = format!(
        "{base}?watch=1&resourceVersion={}&timeoutSeconds={timeout_s}",
        encode_query_value(&rv)
    );

    let (ready_tx, mut ready_rx) = mpsc::channel(nw.max(1));
    let (stop_tx, stop_rx) = watch::channel(false);
    let done = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    let t_connect = Instant::now();
    for _ in 0..nw {
        set.spawn(watcher(
            ctx.target.clone(),
            path.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
            ne,
            done.clone(),
        ));
    }
    drop(ready_tx);
    let ready_deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut connected = 0usize;
    let mut failed = 0usize;
    while connected + failed < nw {
        match tokio::time::timeout_at(ready_deadline, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => connected += 1,
            Ok(Some(Err(m))) => {
                failed += 1;
                errors.record(m);
            }
            Ok(None) | Err(_) => break,
        }
    }
    let connect_all_ms = t_connect.elapsed().as_secs_f64() * 1000.0;
    if connected == 0 && nw > 0 {
        let _ = stop_tx.send(true);
        set.abort_all();
        bail!(
            "no watcher could connect: {}",
            errors
                .first()
                .first()
                .map(String::as_str)
                .unwrap_or("timed out")
        );
    }

    // Writers: open loop. Write i is due at t0 + i/rate and goes out on writer
    // connection i % K as soon as it is due and that connection is free, so the rate
    // holds as long as K writes in flight keep up. Each write carries its send time.
    let tag: Arc<str> = Arc::from(crate::util::random_suffix(6));
    let nwriters = a.watch_writers.clamp(1, ne.max(1));
    let deadline = ctx.phase_deadline();
    let write_errors = Arc::new(AtomicUsize::new(0));
    let base_arc: Arc<str> = Arc::from(base.as_str());
    let t_write = Instant::now();
    let t0 = tokio::time::Instant::now();
    let mut writers = JoinSet::new();
    for k in 0..nwriters {
        let mut wconn = ctx.target.conn();
        let (errors, write_errors, tag, base) = (
            errors.clone(),
            write_errors.clone(),
            tag.clone(),
            base_arc.clone(),
        );
        let (ns, payload, max_errors) = (ctx.ns.clone(), ctx.payload.clone(), a.max_errors);
        writers.spawn(async move {
            let mut ok = Vec::new();
            let mut wh = new_hist();
            for i in (k..ne).step_by(nwriters) {
                tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / rate)).await;
                if Instant::now() >= deadline
                    || write_errors.load(Ordering::Relaxed) as u64 >= max_errors
                {
                    errors.record(format!(
                        "writer {k} stopped at write {i} (deadline or errors)"
                    ));
                    break;
                }
                let name = format!("watch-{tag}-{i:05}");
                let sent = now_ns();
                let body = configmap_body(
                    &ns,
                    &name,
                    &payload,
                    &[(SEQ_KEY, i.to_string()), (SENT_KEY, sent.to_string())],
                );
                let t = Instant::now();
                match wconn.request(Method::POST, &base, Some(body)).await {
                    Ok(r) if r.is_success() => {
                        ok.push(i);
                        record_us(&mut wh, t.elapsed().as_micros() as u64);
                    }
                    Ok(r) => {
                        write_errors.fetch_add(1, Ordering::Relaxed);
                        errors.record(format!("POST {base} ({name}): {}", r.error_message()));
                    }
                    Err(e) => {
                        write_errors.fetch_add(1, Ordering::Relaxed);
                        errors.record(format!("{e:#}"));
                    }
                }
            }
            (ok, wh)
        });
    }
    let mut expected = vec![false; ne];
    let mut wh = new_hist();
    while let Some(r) = writers.join_next().await {
        if let Ok((ok, h)) = r {
            for i in ok {
                expected[i] = true;
            }
            let _ = wh.add(&h);
        }
    }
    let write_errors = write_errors.load(Ordering::Relaxed) as u64;
    let write_elapsed = t_write.elapsed().as_secs_f64();
    let written = expected.iter().filter(|x| **x).count() as u64;

    // Let the watchers catch up, then stop the rest.
    let grace_end = Instant::now() + Duration::from_secs_f64(a.watch_grace.max(0.0));
    while done.load(Ordering::Relaxed) < connected && Instant::now() < grace_end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let mut outs = Vec::with_capacity(nw);
    let join_deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(join_deadline, set.join_next()).await {
            Ok(Some(Ok(o))) => outs.push(o),
            Ok(Some(Err(_))) => {}
            Ok(None) => break,
            Err(_) => {
                errors.record("some watchers did not stop within 30s".into());
                set.abort_all();
                break;
            }
        }
    }
    let cost = probe.finish();

    let mut check = OrderCheck::default();
    let mut hist = new_hist();
    let (mut complete, mut watcher_errors, mut parse_errors) = (0usize, 0u64, 0u64);
    for o in &outs {
        let c = verify(&o.seen, &expected, nwriters == 1);
        if c.ok() {
            complete += 1;
        }
        check.add(&c);
        let _ = hist.add(&o.hist);
        if let Some(e) = &o.error {
            // Connection failures were already recorded from the ready channel.
            if o.connected {
                errors.record(e.clone());
            }
            watcher_errors += 1;
        }
        parse_errors += o.parse_errors;
        if let Some(p) = &o.first_parse_error {
            errors.record(p.clone());
        }
    }
    // Watchers that never reported back missed everything.
    let lost = nw.saturating_sub(outs.len()) as u64;
    check.missing += lost * written;
    let all_in_order =
        nw > 0 && complete == nw && check.ok() && write_errors == 0 && written as usize == ne;

    Ok(WatchResult {
        watchers: nw,
        watchers_connected: connected,
        watchers_complete: complete,
        connect_all_ms,
        events_planned: ne,
        events_written: written,
        write_errors,
        write_rate_target: rate,
        writers: nwriters,
        write_rate_actual: if write_elapsed > 0.0 {
            written as f64 / write_elapsed
        } else {
            0.0
        },
        write_latency: LatencySummary::from_hist(&wh),
        delivery_latency: LatencySummary::from_hist(&hist),
        check,
        all_in_order,
        watcher_errors,
        parse_errors,
        first_errors: errors.first(),
        server_cpu_s_per_1000_writes: cost.server_cpu_s.and_then(|c| per(c, written, 1000.0)),
        client_cpu_s_per_1000_writes: per(cost.client_cpu_s, written, 1000.0),
        cost,
    })
}

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
