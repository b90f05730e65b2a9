use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::transport::ClientKind;

/// Load and latency benchmark for Kubernetes-compatible API servers.
///
/// Every phase runs in a dedicated namespace (created, and deleted at the end unless
/// --keep). Talks only to the server named in the kubeconfig.
#[derive(Parser, Debug)]
#[command(name = "corral-bench", version)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run creates, gets, updates, list and watch in order and print a summary.
    All(BenchArgs),
    /// Create --count ConfigMaps of ~1 KiB at --concurrency.
    Creates(BenchArgs),
    /// Random GETs of the namespace's ConfigMaps for --duration seconds.
    Gets(BenchArgs),
    /// Read-modify-write (GET, change, PUT with resourceVersion, retry on 409).
    Updates(BenchArgs),
    /// List all objects in one call and in pages (median of --list-runs each).
    List(BenchArgs),
    /// --watchers concurrent watches, --events writes; delivery latency and ordering check.
    Watch(BenchArgs),
    /// One owner and --count dependents (ownerReferences); delete the owner and time
    /// the garbage collector until every dependent is gone (not part of `all`).
    Gc(BenchArgs),
    /// PATCH throughput on ConfigMaps of --patch-object-bytes: JSON merge, JSON (RFC 6902)
    /// and strategic merge patches that each change one of --patch-keys keys, on one
    /// object (compare-and-swap contention) and spread over --patch-objects objects, at
    /// each of --patch-clients; --rounds runs of each, median and range (not part of `all`).
    Patch(BenchArgs),
    /// Create a CustomResourceDefinition with a 30-field structural schema, wait for
    /// Established, then create --crd-objects custom resources and as many ConfigMaps of
    /// the same JSON size, interleaved over --rounds; the ratio is the schema's cost.
    /// Deletes the CRD at the end (not part of `all`).
    Crd(BenchArgs),
    /// Server-side apply on a custom resource with --apply-items list-map entries: an
    /// unchanged re-apply and a one-field change, against an unchanged and a one-field
    /// PUT of a twin object; --patches requests per run from each of --patch-clients,
    /// --rounds runs (not part of `all`). Deletes its CRD at the end.
    Apply(BenchArgs),
    /// Workload writes on Deployments: strategic merge patches changing one container's
    /// image by name (`kubectl set image`) on Deployments of --patch-containers containers,
    /// on one object from 1 client and over --patch-objects objects from as many clients;
    /// then server-side apply (fieldManager=bench, force) of a Deployment of --apply-items
    /// containers, unchanged and changing one image, against a PUT (with resourceVersion)
    /// of the same object making the same change, 1 client; --patches requests per run,
    /// --rounds runs, ratios apply/PUT (not part of `all`).
    WorkloadPatch(BenchArgs),
    /// Poll URL/readyz until it answers 200; print the time since --started-at-ns.
    Ready(ReadyArgs),
    /// Print a free TCP port on 127.0.0.1 (for scripts).
    FreePort,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Kubeconfig file(s), ':'-separated.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<String>,
    /// Kubeconfig context (default: current-context).
    #[arg(long)]
    pub context: Option<String>,
    /// Namespace to use (default: corral-bench-<random>); created if missing.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Keep the namespace (and objects) at the end.
    #[arg(long)]
    pub keep: bool,
    /// HTTP client implementation.
    #[arg(long, value_enum, default_value_t = ClientKind::Hyper)]
    pub client: ClientKind,
    /// Offer HTTP/2 via ALPN (hyper client; one HTTP/2 connection per worker).
    #[arg(long)]
    pub http2: bool,
    /// Skip server certificate verification.
    #[arg(long)]
    pub insecure: bool,
    /// Tokio worker threads for the client. 1 (single-threaded runtime) is ~15% cheaper
    /// per request, but with 200 watchers one thread queues deliveries and inflates the
    /// watch latency percentiles several-fold.
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// Number of objects to create.
    #[arg(short = 'n', long, default_value_t = 10_000)]
    pub count: usize,
    /// Concurrent clients for creates, gets and updates.
    #[arg(short = 'c', long, default_value_t = 32)]
    pub concurrency: usize,
    /// Size of each ConfigMap's payload value in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,
    /// Seconds of random GETs.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Upper bound on the number of GETs.
    #[arg(long, default_value_t = 5_000_000)]
    pub max_gets: u64,
    /// Number of read-modify-write updates.
    #[arg(long, default_value_t = 10_000)]
    pub updates: usize,
    /// Update only the first K objects (smaller = more 409 conflicts). Default: all.
    #[arg(long)]
    pub update_keys: Option<usize>,
    /// Attempts per update before giving up on conflicts.
    #[arg(long, default_value_t = 50)]
    pub update_retries: usize,
    /// Runs of each list variant (median reported).
    #[arg(long, default_value_t = 5)]
    pub list_runs: usize,
    /// Page size for the paginated list.
    #[arg(long, default_value_t = 500)]
    pub page_size: usize,
    /// Concurrent watchers.
    #[arg(short = 'w', long, default_value_t = 200)]
    pub watchers: usize,
    /// Writes made while the watchers watch.
    #[arg(short = 'e', long, default_value_t = 1_000)]
    pub events: usize,
    /// Steady write rate during the watch phase (writes/s).
    #[arg(long, default_value_t = 200.0)]
    pub watch_rate: f64,
    /// Writer connections in the watch phase (writes are open-loop: write i is due at
    /// i/rate). With 1, sequence order must equal delivery order too.
    #[arg(long, default_value_t = 8)]
    pub watch_writers: usize,
    /// Seconds to wait after the last write for watchers to catch up.
    #[arg(long, default_value_t = 15.0)]
    pub watch_grace: f64,
    /// Runs of each measurement in the patch and crd phases (median and range reported).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Patches per measurement run (patch phase).
    #[arg(long, default_value_t = 2_000)]
    pub patches: usize,
    /// JSON size of the patched ConfigMaps' data in bytes (patch phase).
    #[arg(long, default_value_t = 50 * 1024)]
    pub patch_object_bytes: usize,
    /// Keys the data is spread over; each patch changes one of them (patch phase).
    #[arg(long, default_value_t = 100)]
    pub patch_keys: usize,
    /// Objects of the spread runs, patched round-robin (patch phase; 0 = skip them).
    #[arg(long, default_value_t = 32)]
    pub patch_objects: usize,
    /// Client counts of the patch phase; the spread runs use only those above 1.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 32])]
    pub patch_clients: Vec<usize>,
    /// Patch types of the patch phase.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [PatchType::Merge, PatchType::Json, PatchType::Strategic])]
    pub patch_types: Vec<PatchType>,
    /// Entries of the applied object's list (apply phase); containers of the applied
    /// Deployment (workload-patch phase).
    #[arg(long, default_value_t = 20)]
    pub apply_items: usize,
    /// Containers of the strategically patched Deployments (workload-patch phase).
    #[arg(long, default_value_t = 50)]
    pub patch_containers: usize,
    /// Custom resources (and as many ConfigMaps) created per round (crd phase).
    #[arg(long, default_value_t = 5_000)]
    pub crd_objects: usize,
    /// Seconds to wait for the CRD's Established condition, and for its deletion.
    #[arg(long, default_value_t = 60.0)]
    pub crd_wait: f64,
    /// PID of the server process (same machine) for CPU and RSS figures.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub request_timeout: f64,
    /// Time limit for each phase in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub phase_timeout: f64,
    /// Abort a phase after this many failed requests.
    #[arg(long, default_value_t = 1000)]
    pub max_errors: u64,
}

/// The media types of PATCH.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchType {
    /// application/merge-patch+json (RFC 7386)
    Merge,
    /// application/json-patch+json (RFC 6902)
    Json,
    /// application/strategic-merge-patch+json (built-in kinds only)
    Strategic,
}

impl PatchType {
    pub fn media_type(self) -> &'static str {
        match self {
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Json => "application/json-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            PatchType::Merge => "merge",
            PatchType::Json => "json",
            PatchType::Strategic => "strategic",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ReadyArgs {
    /// Server base URL, e.g. https://127.0.0.1:6443 (certificate not verified).
    #[arg(long)]
    pub url: String,
    /// Path to poll.
    #[arg(long, default_value = "/readyz")]
    pub path: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Pause between attempts in milliseconds.
    #[arg(long, default_value_t = 2)]
    pub interval_ms: u64,
    /// Wall-clock start (Unix ns, e.g. `date +%s%N` just before spawning the server);
    /// the printed time is measured from it. Default: from this command's start.
    #[arg(long)]
    pub started_at_ns: Option<u128>,
}
