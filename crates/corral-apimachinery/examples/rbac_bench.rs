//! Micro benchmark of `RbacIndex::authorize`.
//!
//! The bootstrap policy plus 500 namespaces (one Role each) and 10,000
//! RoleBindings spread over 1,000 users (every tenth binding also names a
//! team group); random (user, verb, resource, namespace) requests, half of
//! them in a namespace where the user has a binding.
//!
//! `cargo run --release -p corral-apimachinery --example rbac_bench`

use std::hint::black_box;
use std::time::Instant;

use corral_apimachinery::rbac::{Attributes, RbacIndex, UserInfo, bootstrap_policy};
use serde_json::json;

const USERS: usize = 1_000;
const NAMESPACES: usize = 500;
const BINDINGS: usize = 10_000;
const TEAMS: usize = 50;
const QUERIES: usize = 100_000;
const THROUGHPUT_ROUNDS: usize = 20;
const LATENCY_SAMPLES: usize = 500_000;

/// xorshift64*: deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// CPU seconds this process has used (utime + stime from /proc/self/stat),
/// so throughput can be stated per CPU-second on a shared, busy machine.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of the whole line; after "pid (comm) " they are 11 and 12 (0-based).
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn user(u: usize) -> UserInfo {
    UserInfo::new(
        &format!("user-{u}"),
        &["system:authenticated", &format!("team-{}", u % TEAMS)],
    )
}

fn main() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    let build = Instant::now();
    let mut index = RbacIndex::from_objects(&bootstrap_policy());
    for n in 0..NAMESPACES {
        index.upsert(&json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "app-operator", "namespace": format!("ns-{n}")},
            "rules": [
                {"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"], "verbs": ["get", "list", "update", "patch"]},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]},
                {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["app-config"], "verbs": ["get"]}
            ]
        }));
    }
    let roles = [
        ("ClusterRole", "view"),
        ("ClusterRole", "edit"),
        ("ClusterRole", "admin"),
        ("Role", "app-operator"),
    ];
    // user -> namespaces where it has a binding
    let mut user_namespaces: Vec<Vec<usize>> = vec![Vec::new(); USERS];
    for i in 0..BINDINGS {
        let u = i % USERS;
        let n = rng.below(NAMESPACES);
        let (kind, role) = roles[rng.below(roles.len())];
        let mut subjects = vec![
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": format!("user-{u}")}),
        ];
        if i % 10 == 0 {
            subjects.push(json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": format!("team-{}", u % TEAMS)}));
        }
        assert!(index.upsert(&json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": format!("rb-{i}"), "namespace": format!("ns-{n}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": subjects
        })));
        user_namespaces[u].push(n);
    }
    let build_time = build.elapsed();
    let (cr, crb, r, rb) = index.counts();
    println!(
        "index: {cr} ClusterRoles, {crb} ClusterRoleBindings, {r} Roles, {rb} RoleBindings; built in {:.1} ms",
        build_time.as_secs_f64() * 1e3
    );

    let requests = [
        ("get", "", "pods"),
        ("list", "", "pods"),
        ("watch", "", "pods"),
        ("get", "", "pods/log"),
        ("create", "", "pods/exec"),
        ("get", "", "secrets"),
        ("list", "", "secrets"),
        ("update", "", "configmaps"),
        ("delete", "", "services"),
        ("patch", "apps", "deployments"),
        ("update", "apps", "deployments/scale"),
        ("create", "rbac.authorization.k8s.io", "rolebindings"),
        ("delete", "batch", "jobs"),
        ("get", "example.com", "widgets"),
    ];
    let users: Vec<UserInfo> = (0..USERS).map(user).collect();
    let queries: Vec<Attributes> = (0..QUERIES)
        .map(|_| {
            let u = rng.below(USERS);
            let ns = if rng.below(2) == 0 && !user_namespaces[u].is_empty() {
                user_namespaces[u][rng.below(user_namespaces[u].len())]
            } else {
                rng.below(NAMESPACES)
            };
            let (verb, group, resource) = requests[rng.below(requests.len())];
            let name = if rng.below(4) == 0 { "app-config" } else { "" };
            Attributes::resource(
                users[u].clone(),
                verb,
                group,
                resource,
                &format!("ns-{ns}"),
                name,
            )
        })
        .collect();

    // Warm up, and count what the requests get.
    let allowed = queries
        .iter()
        .filter(|q| index.authorize(q).is_allowed())
        .count();
    println!(
        "requests: {QUERIES} distinct, {:.1}% allowed",
        100.0 * allowed as f64 / QUERIES as f64
    );

    // Throughput: back-to-back decisions.
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let mut n = 0usize;
    for _ in 0..THROUGHPUT_ROUNDS {
        for q in &queries {
            black_box(index.authorize(black_box(q)));
            n += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "throughput: {n} decisions in {:.3} s wall = {:.0} authorizations/s ({:.0} ns mean), 1 thread",
        elapsed,
        n as f64 / elapsed,
        elapsed * 1e9 / n as f64
    );
    if let (Some(a), Some(b)) = (cpu_start, cpu_seconds())
        && b > a
    {
        let cpu = b - a;
        println!(
            "            {:.3} s CPU = {:.0} authorizations per CPU-second ({:.0} ns CPU mean; wall/CPU = {:.2})",
            cpu,
            n as f64 / cpu,
            cpu * 1e9 / n as f64,
            elapsed / cpu
        );
    }

    // Latency: each decision timed on its own.
    let mut samples: Vec<u64> = Vec::with_capacity(LATENCY_SAMPLES);
    for i in 0..LATENCY_SAMPLES {
        let q = &queries[i % QUERIES];
        let t = Instant::now();
        black_box(index.authorize(black_box(q)));
        samples.push(t.elapsed().as_nanos() as u64);
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "latency per authorize: p50 {} ns, p90 {} ns, p99 {} ns, p99.9 {} ns, max {} ns (includes ~20-40 ns timer overhead)",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        samples[samples.len() - 1]
    );

    // The same over a small, cache-resident set of 1,000 requests (a hot server).
    let hot = &queries[..1_000];
    let start = Instant::now();
    let rounds = 1_000;
    for _ in 0..rounds {
        for q in hot {
            black_box(index.authorize(black_box(q)));
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = rounds * hot.len();
    println!(
        "hot set (1,000 requests): {:.0} authorizations/s ({:.0} ns mean)",
        n as f64 / elapsed,
        elapsed * 1e9 / n as f64
    );

    // Typical single cases.
    let cases = [
        (
            "system:masters, delete secrets",
            Attributes::resource(
                UserInfo::new("root", &["system:masters"]),
                "delete",
                "",
                "secrets",
                "ns-1",
                "",
            ),
        ),
        (
            "authenticated, GET /api",
            Attributes::non_resource(user(7), "get", "/api"),
        ),
        (
            "no grant (NoOpinion)",
            Attributes::resource(user(7), "delete", "", "nodes", "", ""),
        ),
    ];
    for (label, attrs) in &cases {
        let rounds = 200_000;
        let t = Instant::now();
        for _ in 0..rounds {
            black_box(index.authorize(black_box(attrs)));
        }
        println!(
            "  {label}: {:.0} ns/decision",
            t.elapsed().as_nanos() as f64 / rounds as f64
        );
    }
}
