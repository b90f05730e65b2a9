//! Benchmark of `EtcdStore` against a running etcd cluster, next to the same
//! requests sent with etcd-client alone (no Corral code: what the cluster
//! itself can do, the store's physical limit):
//!
//! ```text
//! scripts/etcd-cluster start /tmp/etcd-bench
//! cargo run --release -p corral-store --example etcd_bench -- \
//!     --endpoints http://127.0.0.1:23790,http://127.0.0.1:23791,http://127.0.0.1:23792
//! ```
//!
//! Phases, each with `--tasks` concurrent tasks (default 32):
//! 1. create-if-absent transactions of `--value-size` values (default 1 KiB)
//!    through `EtcdStore::create`;
//! 2. the same transaction (`mod_revision == 0` then put) without the store:
//!    `--raw-transport unary` (the default) sends it the way the store does
//!    (`corral_store::etcd::UnaryKv`: the store's transport and unary calls),
//!    so the difference is the store's own work; `direct` uses etcd-client's
//!    `KvClient` on the store's transport, `tonic` etcd-client alone on its
//!    default balanced channel;
//! 3. the raw transactions again, under a prefix that one etcd watch
//!    follows (etcd-client's, consumed as it arrives), as a server with a
//!    watch cache or controllers needs: the price etcd itself charges for
//!    feeding a watch. The phase ends when the watch has received every
//!    event, so the CPU figures include sending them;
//! 4. random gets of the phase-1 keys through `EtcdStore::get`, then through
//!    etcd-client.
//!
//! For each: operations/s, p50/p99 latency, and CPU seconds per 1,000
//! operations of the etcd members (utime + stime from /proc/<pid>/stat,
//! summed over the members, found by their --listen-client-urls or given
//! with --etcd-pids) and of this process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use corral_store::Store;
use corral_store::etcd::{EtcdOptions, EtcdStore, UnaryKv};
use etcd_client::{
    Compare, CompareOp, DeleteOptions, GetResponse, KvClient, Txn, TxnOp, TxnResponse, WatchOptions,
};

struct Args {
    endpoints: Vec<String>,
    creates: usize,
    gets: usize,
    tasks: usize,
    etcd_pids: Vec<u32>,
    /// Bytes per value.
    value_size: usize,
    /// The raw phases' client: `unary` the store's (`UnaryKv`), `direct`
    /// etcd-client's on the store's transport (`corral_store::etcd::client`),
    /// `tonic` etcd-client's on its default balanced channel.
    raw_transport: String,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "usage: etcd_bench --endpoints URL[,URL...] [--creates N] [--gets N] [--tasks N] \
         [--etcd-pids PID,PID,...] [--value-size BYTES] [--raw-transport unary|direct|tonic] ({problem})"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = Args {
        endpoints: Vec::new(),
        creates: 20_000,
        gets: 40_000,
        tasks: 32,
        etcd_pids: Vec::new(),
        value_size: 1024,
        raw_transport: "unary".to_string(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let Some(value) = pair.get(1) else {
            usage(&format!("{} needs a value", pair[0]))
        };
        let number = || {
            value
                .parse()
                .unwrap_or_else(|_| usage(&format!("bad {value:?}")))
        };
        match pair[0].as_str() {
            "--endpoints" => args.endpoints = value.split(',').map(str::to_string).collect(),
            "--creates" => args.creates = number(),
            "--gets" => args.gets = number(),
            "--tasks" => args.tasks = number().max(1),
            "--value-size" => args.value_size = number(),
            "--raw-transport" if matches!(value.as_str(), "unary" | "direct" | "tonic") => {
                args.raw_transport = value.clone()
            }
            "--etcd-pids" => {
                args.etcd_pids = value
                    .split(',')
                    .map(|p| {
                        p.parse()
                            .unwrap_or_else(|_| usage(&format!("bad pid {p:?}")))
                    })
                    .collect()
            }
            flag => usage(&format!("unknown flag {flag:?}")),
        }
    }
    if args.endpoints.is_empty() {
        usage("--endpoints is required");
    }
    if args.etcd_pids.is_empty() {
        args.etcd_pids = find_etcd_pids(&args.endpoints);
    }
    args
}

/// The raw phases' client.
#[derive(Clone)]
enum RawKv {
    Unary(UnaryKv),
    Client(Box<KvClient>),
}

impl RawKv {
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, etcd_client::Error> {
        match self {
            RawKv::Unary(kv) => kv.txn(txn).await,
            RawKv::Client(kv) => kv.as_ref().clone().txn(txn).await,
        }
    }

    async fn get(&self, key: String) -> Result<GetResponse, etcd_client::Error> {
        match self {
            RawKv::Unary(kv) => kv.get(key, None).await,
            RawKv::Client(kv) => kv.as_ref().clone().get(key, None).await,
        }
    }
}

/// etcd processes whose `--listen-client-urls` names one of the endpoints.
fn find_etcd_pids(endpoints: &[String]) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_etcd = args.first().is_some_and(|a| a.ends_with("etcd"));
        let serves_ours = args.iter().any(|a| {
            a.strip_prefix("--listen-client-urls=")
                .is_some_and(|urls| urls.split(',').any(|u| endpoints.contains(&u.to_string())))
        });
        if is_etcd && serves_ours {
            pids.push(pid);
        }
    }
    pids
}

/// utime + stime of a process, in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after "pid (comm)"; comm may contain spaces, so split after ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

struct Cpu {
    etcd: f64,
    me: f64,
}

fn cpu(pids: &[u32]) -> Cpu {
    Cpu {
        etcd: pids.iter().map(|p| cpu_seconds(&p.to_string())).sum(),
        me: cpu_seconds("self"),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs `op(i)` for i in 0..total over `tasks` tasks; prints the figures.
async fn phase<F, Fut>(name: &str, args: &Args, total: usize, op: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    phase_then(name, args, total, op, std::future::ready(())).await;
}

/// [`phase`], whose time and CPU also cover `settle`, awaited after the
/// last operation.
async fn phase_then<F, Fut>(
    name: &str,
    args: &Args,
    total: usize,
    op: F,
    settle: impl std::future::Future<Output = ()>,
) where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let before = cpu(&args.etcd_pids);
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..args.tasks {
        let (op, next) = (op.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, String>(latencies);
                }
                let t = Instant::now();
                op(i).await?;
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for handle in handles {
        match handle.await {
            Ok(Ok(l)) => latencies.extend(l),
            Ok(Err(e)) => {
                eprintln!("{name}: {e}");
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("{name}: task failed: {e}");
                std::process::exit(1);
            }
        }
    }
    settle.await;
    let elapsed = start.elapsed();
    let after = cpu(&args.etcd_pids);
    latencies.sort();
    let per_k = |seconds: f64| seconds * 1000.0 / total as f64;
    println!(
        "{name:<34} {:>9.0} ops/s  p50 {:>7.2?}  p99 {:>7.2?}  etcd CPU {:.3} s/1k ops  client CPU {:.3} s/1k ops",
        total as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        per_k(after.etcd - before.etcd),
        per_k(after.me - before.me),
    );
}

fn key(i: usize) -> String {
    format!("/registry/pods/ns-{}/pod-{i:07}", i % 50)
}

/// The raw phases' operation: create-if-absent of `key(i)` under `prefix`,
/// the transaction the store sends for a create.
fn raw_create(
    raw: &RawKv,
    value: &Bytes,
    prefix: &str,
    i: usize,
) -> impl std::future::Future<Output = Result<(), String>> + Send + use<> {
    let kv = raw.clone();
    let k = format!("{prefix}{}", key(i));
    let txn = Txn::new()
        .when([Compare::mod_revision(k.clone(), CompareOp::Equal, 0)])
        .and_then([TxnOp::put(k, value.to_vec(), None)]);
    async move {
        match kv.txn(txn).await {
            Ok(resp) if resp.succeeded() => Ok(()),
            Ok(_) => Err("key exists".to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// xorshift over the index: spreads gets without a dependency.
fn scatter(i: usize, n: usize) -> usize {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x % n.max(1) as u64) as usize
}

/// Starts one etcd watch of `prefix` (etcd-client's own client, on a
/// connection of its own) that counts the events it receives.
async fn watch_all(endpoints: &[String], prefix: &str) -> Arc<AtomicUsize> {
    // Writes start only once etcd has confirmed the watch.
    let watched = async {
        let mut client = etcd_client::Client::connect(endpoints, None).await?;
        let mut stream = client
            .watch(prefix, Some(WatchOptions::new().with_prefix()))
            .await?;
        match stream.message().await? {
            Some(first) if first.created() => Ok(stream),
            _ => Err(etcd_client::Error::WatchError(
                "the watch was not created".to_string(),
            )),
        }
    };
    let mut stream = match watched.await {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("watch: {e}");
            std::process::exit(1);
        }
    };
    let received = Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    tokio::spawn(async move {
        loop {
            match stream.message().await {
                Ok(Some(resp)) => {
                    count.fetch_add(resp.events().len(), Ordering::Relaxed);
                }
                Ok(None) => return,
                Err(e) => {
                    eprintln!("watch: {e}");
                    std::process::exit(1);
                }
            }
        }
    });
    received
}

#[tokio::main]
async fn main() {
    let args = Arc::new(parse_args());
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let store_prefix = format!("/etcd-bench-{run}/store");
    let raw_prefix = format!("/etcd-bench-{run}/raw");
    let store = match EtcdStore::connect(EtcdOptions {
        endpoints: args.endpoints.clone(),
        key_prefix: store_prefix.clone(),
        ..EtcdOptions::default()
    })
    .await
    {
        Ok(store) => store,
        Err(e) => {
            eprintln!("connect: {e}");
            std::process::exit(1);
        }
    };
    let options = EtcdOptions {
        endpoints: args.endpoints.clone(),
        ..EtcdOptions::default()
    };
    let raw = match args.raw_transport.as_str() {
        "unary" => UnaryKv::connect(&options)
            .await
            .map(RawKv::Unary)
            .map_err(|e| e.to_string()),
        "direct" => corral_store::etcd::client(&options)
            .await
            .map(|c| RawKv::Client(Box::new(c.kv_client())))
            .map_err(|e| e.to_string()),
        _ => etcd_client::Client::connect(&args.endpoints, None)
            .await
            .map(|c| RawKv::Client(Box::new(c.kv_client())))
            .map_err(|e| e.to_string()),
    };
    let raw = raw.unwrap_or_else(|e| {
        eprintln!("connect: {e}");
        std::process::exit(1);
    });
    println!(
        "etcd at {} (member pids {:?}), {} tasks, {}-byte values, raw transport {}",
        args.endpoints.join(","),
        args.etcd_pids,
        args.tasks,
        args.value_size,
        args.raw_transport
    );
    let value = Bytes::from(vec![b'x'; args.value_size]);

    // Warm-up: connections to every member, etcd's first allocations.
    {
        let store = store.clone();
        let value = value.clone();
        phase("warm-up (store creates)", &args, 2_000, move |i| {
            let (store, value) = (store.clone(), value.clone());
            async move {
                store
                    .create(&format!("/warm/{i}"), value)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        })
        .await;
    }
    {
        let (store, value) = (store.clone(), value.clone());
        phase("EtcdStore create", &args, args.creates, move |i| {
            let (store, value) = (store.clone(), value.clone());
            async move {
                store
                    .create(&key(i), value)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        })
        .await;
    }
    {
        let (raw, value, prefix) = (raw.clone(), value.clone(), raw_prefix.clone());
        phase(
            "etcd-client txn create (raw)",
            &args,
            args.creates,
            move |i| raw_create(&raw, &value, &prefix, i),
        )
        .await;
    }
    {
        let watched_prefix = format!("/etcd-bench-{run}/watched");
        let received = watch_all(&args.endpoints, &watched_prefix).await;
        let (raw, value, prefix) = (raw.clone(), value.clone(), watched_prefix.clone());
        let expected = args.creates;
        let settle = {
            let received = received.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(60);
                while received.load(Ordering::Relaxed) < expected {
                    if Instant::now() > deadline {
                        eprintln!(
                            "watch: {} of {expected} events after 60 s",
                            received.load(Ordering::Relaxed)
                        );
                        std::process::exit(1);
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        phase_then(
            "etcd-client txn create (raw, watched)",
            &args,
            args.creates,
            move |i| raw_create(&raw, &value, &prefix, i),
            settle,
        )
        .await;
    }
    let creates = args.creates;
    {
        let store = store.clone();
        phase("EtcdStore get (random)", &args, args.gets, move |i| {
            let store = store.clone();
            async move {
                match store.get(&key(scatter(i, creates))).await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("missing key".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
    }
    {
        let (raw, prefix) = (raw.clone(), raw_prefix.clone());
        phase(
            "etcd-client get (raw, random)",
            &args,
            args.gets,
            move |i| {
                let kv = raw.clone();
                let k = format!("{prefix}{}", key(scatter(i, creates)));
                async move {
                    match kv.get(k).await {
                        Ok(resp) if resp.kvs().len() == 1 => Ok(()),
                        Ok(_) => Err("missing key".to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                }
            },
        )
        .await;
    }

    // Leave the cluster as it was (history stays until etcd compacts).
    let cleanup = match etcd_client::Client::connect(&args.endpoints, None).await {
        Ok(client) => {
            client
                .kv_client()
                .delete(
                    format!("/etcd-bench-{run}/"),
                    Some(DeleteOptions::new().with_prefix()),
                )
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = cleanup {
        eprintln!("cleanup: {e}");
    }
}
