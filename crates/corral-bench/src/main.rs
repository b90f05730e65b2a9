//! corral-bench: load and latency benchmark for Kubernetes-compatible API servers.

mod cli;
mod phases;
mod transport;
mod util;
mod watchcheck;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use clap::Parser;
use http::Method;
use serde::Serialize;

use crate::cli::{BenchArgs, Cli, Cmd, ReadyArgs};
use crate::phases::{
    ApplyResult, CrdResult, Ctx, GcResult, ListResult, OpsResult, PatchResult, WatchResult,
    WorkloadResult,
};
use crate::transport::{ClientKind, Conn, Target, TargetOptions};
use crate::util::{proc_rss_kib, random_suffix};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Creates,
    Gets,
    Updates,
    List,
    Watch,
    Gc,
    Patch,
    Crd,
    Apply,
    WorkloadPatch,
}

const ALL: [Phase; 5] = [
    Phase::Creates,
    Phase::Gets,
    Phase::Updates,
    Phase::List,
    Phase::Watch,
];

fn main() -> ExitCode {
    let cli = Cli::parse();
    util::init_clock();
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.cmd {
        Cmd::FreePort => {
            match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
                Ok(addr) => {
                    println!("{}", addr.port());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Ready(a) => block_on(1, ready(a)),
        Cmd::All(a) => bench(a, &ALL),
        Cmd::Creates(a) => bench(a, &[Phase::Creates]),
        Cmd::Gets(a) => bench(a, &[Phase::Gets]),
        Cmd::Updates(a) => bench(a, &[Phase::Updates]),
        Cmd::List(a) => bench(a, &[Phase::List]),
        Cmd::Watch(a) => bench(a, &[Phase::Watch]),
        Cmd::Gc(a) => bench(a, &[Phase::Gc]),
        Cmd::Patch(a) => bench(a, &[Phase::Patch]),
        Cmd::Crd(a) => bench(a, &[Phase::Crd]),
        Cmd::Apply(a) => bench(a, &[Phase::Apply]),
        Cmd::WorkloadPatch(a) => bench(a, &[Phase::WorkloadPatch]),
    }
}

fn block_on<F: std::future::Future<Output = ExitCode>>(threads: usize, f: F) -> ExitCode {
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    match rt {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Poll URL+path until 200; print milliseconds since --started-at-ns on stdout.
async fn ready(a: ReadyArgs) -> ExitCode {
    let start = a.started_at_ns.unwrap_or_else(unix_ns);
    let target = match Target::from_url_insecure(&a.url, Duration::from_secs(2)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = Instant::now() + Duration::from_secs_f64(a.timeout.max(0.0));
    let mut attempts = 0u64;
    let last = loop {
        attempts += 1;
        // A fresh connection each attempt: the server may not be listening yet.
        let mut conn = target.conn();
        let last = match conn.request(Method::GET, &a.path, None).await {
            Ok(r) if r.status == http::StatusCode::OK => {
                let ms = unix_ns().saturating_sub(start) as f64 / 1e6;
                println!("{ms:.1}");
                eprintln!(
                    "ready: {}{} answered 200 after {ms:.1}ms ({attempts} attempts)",
                    a.url, a.path
                );
                return ExitCode::SUCCESS;
            }
            Ok(r) => r.error_message(),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            break last;
        }
        tokio::time::sleep(Duration::from_millis(a.interval_ms)).await;
    };
    eprintln!(
        "not ready: {}{} did not answer 200 within {}s ({attempts} attempts); last: {last}",
        a.url, a.path, a.timeout
    );
    ExitCode::FAILURE
}

#[derive(Serialize)]
struct Report {
    server_url: String,
    server_version: Option<String>,
    client: ClientKind,
    http2: bool,
    client_threads: usize,
    namespace: String,
    count: usize,
    concurrency: usize,
    payload_bytes: usize,
    server_pid: Option<u32>,
    server_rss_idle_kib: Option<u64>,
    server_rss_after_creates_kib: Option<u64>,
    server_rss_end_kib: Option<u64>,
    creates: Option<OpsResult>,
    gets: Option<OpsResult>,
    updates: Option<OpsResult>,
    list: Option<ListResult>,
    watch: Option<WatchResult>,
    gc: Option<GcResult>,
    patch: Option<PatchResult>,
    crd: Option<CrdResult>,
    apply: Option<ApplyResult>,
    workload_patch: Option<WorkloadResult>,
    namespace_deleted: Option<bool>,
    interrupted: bool,
    failures: Vec<String>,
    #[serde(skip)]
    lines: Vec<String>,
}

impl Report {
    fn emit(&mut self, line: String) {
        println!("{line}");
        self.lines.push(line);
    }
    fn fail(&mut self, what: String) {
        println!("FAILED: {what}");
        self.failures.push(what);
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn bench(args: BenchArgs, phases: &[Phase]) -> ExitCode {
    block_on(args.client_threads, run_bench(args, phases))
}

async fn ensure_namespace(conn: &mut Conn, ns: &str) -> Result<bool> {
    let body = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"app": "corral-bench"}},
    }))?;
    let r = conn
        .request(Method::POST, "/api/v1/namespaces", Some(body.into()))
        .await?;
    if r.is_success() {
        Ok(true)
    } else if r.status == http::StatusCode::CONFLICT {
        Ok(false)
    } else if r.status == http::StatusCode::FORBIDDEN {
        // A user without rights on namespaces can still benchmark one that exists:
        // probe the namespace's configmaps, which every phase needs anyway.
        let probe = format!("/api/v1/namespaces/{ns}/configmaps?limit=1");
        let p = conn.request(Method::GET, &probe, None).await?;
        if p.is_success() {
            Ok(false)
        } else {
            bail!("creating namespace {ns}: {}", r.error_message())
        }
    } else {
        bail!("creating namespace {ns}: {}", r.error_message())
    }
}

async fn delete_namespace(conn: &mut Conn, ns: &str) -> Result<()> {
    let path = format!("/api/v1/namespaces/{ns}");
    let r = conn.request(Method::DELETE, &path, None).await?;
    if r.is_success() {
        Ok(())
    } else {
        bail!("DELETE {path}: {}", r.error_message())
    }
}

async fn server_version(conn: &mut Conn) -> Option<String> {
    let r = conn.request(Method::GET, "/version", None).await.ok()?;
    if !r.is_success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    v.get("gitVersion")?.as_str().map(str::to_string)
}

async fn run_bench(args: BenchArgs, phases: &[Phase]) -> ExitCode {
    let topts = TargetOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        kind: args.client,
        http2: args.http2,
        insecure: args.insecure,
        request_timeout: Duration::from_secs_f64(args.request_timeout.max(0.1)),
    };
    let target = match Target::from_kubeconfig(&topts).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| format!("corral-bench-{}", random_suffix(8)));
    let mut conn = target.conn();
    let mut report = Report {
        server_url: target.url.clone(),
        server_version: server_version(&mut conn).await,
        client: args.client,
        http2: args.http2,
        client_threads: args.client_threads,
        namespace: ns.clone(),
        count: args.count,
        concurrency: args.concurrency,
        payload_bytes: args.payload_bytes,
        server_pid: args.server_pid,
        server_rss_idle_kib: None,
        server_rss_after_creates_kib: None,
        server_rss_end_kib: None,
        creates: None,
        gets: None,
        updates: None,
        list: None,
        watch: None,
        gc: None,
        patch: None,
        crd: None,
        apply: None,
        workload_patch: None,
        namespace_deleted: None,
        interrupted: false,
        failures: Vec::new(),
        lines: Vec::new(),
    };
    println!(
        "corral-bench: server {} ({}), client {:?}{}, {} client thread(s), namespace {ns}, {} objects, concurrency {}",
        report.server_url,
        report
            .server_version
            .as_deref()
            .unwrap_or("version unknown"),
        args.client,
        if args.http2 { " http2" } else { "" },
        args.client_threads,
        args.count,
        args.concurrency,
    );
    if let Some(pid) = args.server_pid
        && proc_rss_kib(pid).is_none()
    {
        println!("note: cannot read /proc/{pid}; server CPU/RSS figures will be missing");
    }
    let created = match ensure_namespace(&mut conn, &ns).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let ctx = Ctx {
        target: target.clone(),
        ns: ns.clone(),
        payload: phases::make_payload(args.payload_bytes),
        args: args.clone(),
    };

    tokio::select! {
        _ = run_phases(&ctx, phases, &mut report) => {}
        _ = tokio::signal::ctrl_c() => {
            println!("interrupted");
            report.interrupted = true;
        }
    }
    report.server_rss_end_kib = args.server_pid.and_then(proc_rss_kib);

    if created && !args.keep {
        let mut conn = target.conn();
        match delete_namespace(&mut conn, &ns).await {
            Ok(()) => {
                println!("deleted namespace {ns}");
                report.namespace_deleted = Some(true);
            }
            Err(e) => {
                report.namespace_deleted = Some(false);
                report.fail(format!("cleanup: {e:#}"));
            }
        }
    } else {
        println!("kept namespace {ns}");
    }

    let multi = report.lines.len() > 1;
    if multi {
        println!(
            "\nsummary ({}, client {:?}):",
            report.server_url, args.client
        );
        for l in &report.lines {
            println!("{l}");
        }
    }
    if let Some(idle) = report.server_rss_idle_kib {
        let mut s = format!("server RSS: idle {}", mib(idle));
        if let Some(k) = report.server_rss_after_creates_kib {
            s.push_str(&format!(", after creates {}", mib(k)));
        }
        if let Some(k) = report.server_rss_end_kib {
            s.push_str(&format!(", at end {}", mib(k)));
        }
        println!("{s}");
    }
    if multi {
        for f in &report.failures {
            println!("FAILED: {f}");
        }
    }
    if let Some(path) = &args.json {
        match serde_json::to_vec_pretty(&report)
            .map_err(anyhow::Error::from)
            .and_then(|b| std::fs::write(path, b).map_err(anyhow::Error::from))
        {
            Ok(()) => println!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("error: writing {}: {e:#}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if report.failures.is_empty() && !report.interrupted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run_phases(ctx: &Ctx, phases: &[Phase], report: &mut Report) {
    let a = &ctx.args;
    let pid = a.server_pid;
    report.server_rss_idle_kib = pid.and_then(proc_rss_kib);
    let needs_objects = phases
        .iter()
        .any(|p| matches!(p, Phase::Gets | Phase::Updates | Phase::List));

    // The object set the read phases work on, and how many a list should return.
    let mut names: Arc<Vec<String>> = Arc::new(Vec::new());
    let mut expected: Option<usize> = None;
    if phases.contains(&Phase::Creates) {
        names = Arc::new(phases::object_names(a.count));
        let r = phases::creates(ctx, names.clone()).await;
        report.emit(r.line("creates"));
        report.server_rss_after_creates_kib = pid.and_then(proc_rss_kib);
        if r.errors == 0 && r.ops as usize == a.count {
            expected = Some(a.count);
        } else {
            report.fail(format!("creates: {} of {} succeeded", r.ops, a.count));
        }
        report.creates = Some(r);
    }
    if needs_objects && expected.is_none() {
        // Standalone phase, or creates had errors: work on what is really there.
        let deadline = Instant::now() + Duration::from_secs_f64(a.phase_timeout.max(1.0));
        match phases::list_paged(&ctx.target, &ctx.ns, 500, deadline).await {
            Ok((existing, _, _)) if existing.is_empty() && !phases.contains(&Phase::Creates) => {
                println!(
                    "setup: namespace {} is empty; creating {} objects (not measured)",
                    ctx.ns, a.count
                );
                names = Arc::new(phases::object_names(a.count));
                let r = phases::creates(ctx, names.clone()).await;
                if r.errors == 0 {
                    expected = Some(a.count);
                } else {
                    report.fail(format!(
                        "setup creates: {} of {} succeeded; first error: {}",
                        r.ops,
                        a.count,
                        r.first_errors.first().map(String::as_str).unwrap_or("?")
                    ));
                    return;
                }
            }
            Ok((existing, _, _)) => {
                expected = Some(existing.len());
                names = Arc::new(existing);
            }
            Err(e) => {
                report.fail(format!("listing existing objects: {e:#}"));
                return;
            }
        }
    }

    for phase in phases {
        match phase {
            Phase::Creates => {}
            Phase::Gets => match phases::gets(ctx, names.clone()).await {
                Ok(r) => {
                    report.emit(r.line("gets"));
                    if r.errors > 0 {
                        report.fail(format!("gets: {} errors", r.errors));
                    }
                    report.gets = Some(r);
                }
                Err(e) => report.fail(format!("gets: {e:#}")),
            },
            Phase::Updates => match phases::updates(ctx, names.clone()).await {
                Ok(r) => {
                    report.emit(r.line("updates"));
                    if r.errors > 0 {
                        report.fail(format!("updates: {} errors", r.errors));
                    }
                    report.updates = Some(r);
                }
                Err(e) => report.fail(format!("updates: {e:#}")),
            },
            Phase::List => match phases::list(ctx, expected).await {
                Ok(r) => {
                    report.emit(r.line());
                    if !r.count_ok {
                        report.fail("list: wrong item count or duplicates".into());
                    }
                    report.list = Some(r);
                }
                Err(e) => report.fail(format!("list: {e:#}")),
            },
            Phase::Watch => match phases::watch_phase(ctx).await {
                Ok(r) => {
                    report.emit(r.line());
                    if !r.all_in_order {
                        report.fail(
                            "watch: not every watcher saw every event exactly once in order".into(),
                        );
                    }
                    report.watch = Some(r);
                }
                Err(e) => report.fail(format!("watch: {e:#}")),
            },
            Phase::Gc => match phases::gc(ctx).await {
                Ok(r) => {
                    report.emit(r.line());
                    if r.remaining != 0 {
                        report.fail(format!("gc: {} dependents remain", r.remaining));
                    }
                    report.gc = Some(r);
                }
                Err(e) => report.fail(format!("gc: {e:#}")),
            },
            Phase::Patch => match phases::patch(ctx).await {
                Ok(r) => {
                    for l in r.lines() {
                        report.emit(l);
                    }
                    let errors: u64 = r.results.iter().map(|x| x.errors).sum();
                    if errors > 0 {
                        report.fail(format!("patch: {errors} errors"));
                    }
                    report.patch = Some(r);
                }
                Err(e) => report.fail(format!("patch: {e:#}")),
            },
            Phase::Crd => match phases::crd(ctx).await {
                Ok(r) => {
                    for l in r.lines() {
                        report.emit(l);
                    }
                    let errors = r.custom_resources.errors + r.configmaps.errors;
                    if errors > 0 {
                        report.fail(format!("crd: {errors} create errors"));
                    }
                    report.crd = Some(r);
                }
                Err(e) => report.fail(format!("crd: {e:#}")),
            },
            Phase::Apply => match phases::apply(ctx).await {
                Ok(r) => {
                    for l in r.lines() {
                        report.emit(l);
                    }
                    let errors: u64 = r.results.iter().map(|x| x.errors).sum();
                    if errors > 0 {
                        report.fail(format!("apply: {errors} errors"));
                    }
                    report.apply = Some(r);
                }
                Err(e) => report.fail(format!("apply: {e:#}")),
            },
            Phase::WorkloadPatch => match phases::workload(ctx).await {
                Ok(r) => {
                    for l in r.lines() {
                        report.emit(l);
                    }
                    let errors: u64 = r.results.iter().map(|x| x.errors).sum();
                    if errors > 0 {
                        report.fail(format!("workload-patch: {errors} errors"));
                    }
                    report.workload_patch = Some(r);
                }
                Err(e) => report.fail(format!("workload-patch: {e:#}")),
            },
        }
    }
}
