//! Identity benchmark (in-process): argon2id cost per hash and local-login
//! password checks per second with the production parameters, then Corral
//! token validation with 100,000 Tokens in the view (throughput and p99).
//!
//!     cargo run --release -p corral-management --example identity_bench [TOKENS]

use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_management::crds::{TOKENS_PREFIX, USERS_PREFIX};
use corral_management::identity::local::{
    ARGON2_M_KIB, ARGON2_P, ARGON2_T, hash_password, verify_password,
};
use corral_management::identity::tokens::{
    TokenAuthenticator, Tokens, Users, format_hash, generate, hash_secret,
};
use corral_management::view::{Sink, View};
use corral_store::KeyValue;
use serde_json::json;

fn kv(key: String, value: serde_json::Value, rev: i64) -> KeyValue {
    KeyValue {
        key,
        value: serde_json::to_vec(&value).expect("json").into(),
        create_revision: rev,
        mod_revision: rev,
    }
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());

    println!("== argon2id m={ARGON2_M_KIB} KiB, t={ARGON2_T}, p={ARGON2_P}");
    let phc = hash_password("a-benchmark-password").expect("hash");
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        assert!(verify_password("a-benchmark-password", &phc));
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "one hash: median {:.1} ms, min {:.1} ms",
        times[5].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
    let run_for = Duration::from_secs(3);
    let start = Instant::now();
    let done: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let phc = &phc;
                s.spawn(move || {
                    let mut n = 0;
                    while start.elapsed() < run_for {
                        verify_password("a-benchmark-password", phc);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    println!(
        "local logins (password checks) on {threads} threads: {:.1}/s",
        done as f64 / start.elapsed().as_secs_f64()
    );

    println!("== token validation with {count} Tokens stored");
    let tokens: Arc<Tokens> = View::new(TOKENS_PREFIX);
    let users: Arc<Users> = View::new(USERS_PREFIX);
    for u in 0..1000 {
        users.put(&kv(
            format!("{USERS_PREFIX}u-{u}"),
            json!({"spec": {"username": format!("user{u}"), "principalIds": [format!("local://u-{u}")]}}),
            1,
        ));
    }
    let t = Instant::now();
    let mut presented = Vec::with_capacity(count);
    for i in 0..count {
        let (name, secret) = generate();
        tokens.put(&kv(
            format!("{TOKENS_PREFIX}{name}"),
            json!({"metadata": {"name": name}, "spec": {
                "userId": format!("u-{}", i % 1000),
                "tokenHash": format_hash(&hash_secret(&secret)),
                "groupPrincipals": ["openldap_group://cn=devs,dc=example,dc=org"],
                "expiresAt": "2999-01-01T00:00:00Z",
                "authProvider": "local",
            }}),
            2 + i as i64,
        ));
        presented.push(format!("{name}:{secret}"));
    }
    println!(
        "loaded {} tokens in {:.2} s",
        tokens.len(),
        t.elapsed().as_secs_f64()
    );
    let auth = Arc::new(TokenAuthenticator::new(tokens, users, None, None));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    // Latency: one caller, random tokens.
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    let samples = 200_000;
    rt.block_on(async {
        for i in 0..samples {
            let tok = &presented[(i * 7919) % presented.len()];
            let t = Instant::now();
            let id = auth.validate(tok).await.expect("valid");
            std::hint::black_box(id.user_info());
            hist.record(t.elapsed().as_nanos() as u64).ok();
        }
    });
    println!(
        "validate + UserInfo, 1 caller: p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.1} µs ({samples} samples)",
        hist.value_at_quantile(0.5) as f64 / 1e3,
        hist.value_at_quantile(0.99) as f64 / 1e3,
        hist.value_at_quantile(0.999) as f64 / 1e3,
        hist.max() as f64 / 1e3,
    );
    // Throughput: one task per thread.
    let presented = Arc::new(presented);
    let start = Instant::now();
    let per_task = 500_000;
    rt.block_on(async {
        let mut handles = Vec::new();
        for t in 0..threads {
            let auth = auth.clone();
            let presented = presented.clone();
            handles.push(tokio::spawn(async move {
                for i in 0..per_task {
                    let tok = &presented[(i * 104_729 + t * 31) % presented.len()];
                    std::hint::black_box(auth.validate(tok).await.is_ok());
                }
            }));
        }
        for h in handles {
            h.await.ok();
        }
    });
    println!(
        "validations on {threads} threads: {:.0}/s",
        (per_task * threads) as f64 / start.elapsed().as_secs_f64()
    );
}
