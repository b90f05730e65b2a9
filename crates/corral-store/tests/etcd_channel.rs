//! The etcd store's transport on a real 3-member cluster: requests go to the
//! leader over one connection, move to another member when that one dies or
//! loses quorum, and follow the leadership when it moves.

mod etcd_support;

use std::time::Duration;

use bytes::Bytes;
use corral_store::etcd::{EtcdOptions, EtcdStore};
use corral_store::{RangeRequest, Store};
use etcd_support::EtcdCluster;

fn fresh_prefix() -> String {
    format!("/t-{}", uuid::Uuid::new_v4())
}

/// Transactions each member has answered so far.
async fn txns(cluster: &EtcdCluster) -> Vec<u64> {
    let mut counts = Vec::new();
    for n in 0..3 {
        counts.push(cluster.handled(n, "Txn").await);
    }
    counts
}

/// Makes 50 creates under `dir` and checks that member `leader` answered
/// all of them and no other member any.
async fn creates_reach_only(cluster: &EtcdCluster, store: &EtcdStore, dir: &str, leader: usize) {
    let before = txns(cluster).await;
    for i in 0..50 {
        store
            .create(&format!("{dir}/{i}"), Bytes::from_static(b"v"))
            .await
            .expect("create");
    }
    let after = txns(cluster).await;
    for n in 0..3 {
        let sent = after[n] - before[n];
        if n == leader {
            assert!(
                sent >= 50,
                "the leader, member {n}, answered {sent} of 50 creates"
            );
        } else {
            assert_eq!(
                sent, 0,
                "member {n}, not the leader, answered {sent} creates"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_to_the_leader_and_follow_it_when_it_dies() {
    let cluster = EtcdCluster::start();
    let leader = cluster.leader().await;
    let store = cluster
        .store(&fresh_prefix(), Duration::from_secs(10))
        .await;
    creates_reach_only(&cluster, &store, "/a", leader).await;

    // The member it talks to dies: the next writes go elsewhere, within the
    // request timeout (a new leader is elected in about a second).
    cluster.kill_member(leader).await;
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let key = format!("/b/{i}");
        match store.create(&key, Bytes::from_static(b"v")).await {
            Ok(_) => acknowledged.push(key),
            // A write that meets the election may fail, as Unavailable
            // (it may or may not have been applied), never otherwise.
            Err(corral_store::StoreError::Unavailable(_)) => {}
            Err(e) => panic!("create after the kill: {e:?}"),
        }
    }
    assert!(
        acknowledged.len() >= 15,
        "only {} of 20 creates after the kill",
        acknowledged.len()
    );
    let listed = store
        .range(RangeRequest {
            prefix: "/b/".to_string(),
            ..RangeRequest::default()
        })
        .await
        .expect("list");
    let present: Vec<&str> = listed.kvs.iter().map(|kv| kv.key.as_str()).collect();
    for key in &acknowledged {
        assert!(
            present.contains(&key.as_str()),
            "acknowledged {key} is missing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_quorum_fails_fast_and_service_resumes_with_quorum() {
    let cluster = EtcdCluster::start();
    let leader = cluster.leader().await;
    let store = cluster.store(&fresh_prefix(), Duration::from_secs(3)).await;
    store
        .create("/before", Bytes::from_static(b"v"))
        .await
        .expect("create with quorum");

    // The member the store talks to loses both peers: it stays up but has
    // no leader, and must not hold requests until their deadline passes
    // silently or answer them from stale state.
    let followers: Vec<usize> = (0..3).filter(|&n| n != leader).collect();
    for &n in &followers {
        cluster.kill_member(n).await;
    }
    let started = std::time::Instant::now();
    match store.create("/during", Bytes::from_static(b"v")).await {
        Err(corral_store::StoreError::Unavailable(e)) => {
            eprintln!("without quorum: {e} after {:?}", started.elapsed())
        }
        other => panic!("create without quorum: {other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "a create without quorum took {waited:?} to fail (request timeout 3 s)"
    );
    // By now the member has noticed it lost quorum and says so ("no
    // leader"); the store, retrying until its deadline, reports that
    // rather than silence.
    tokio::time::sleep(Duration::from_secs(2)).await;
    match store.create("/during2", Bytes::from_static(b"v")).await {
        Err(corral_store::StoreError::Unavailable(e)) => {
            eprintln!("still without quorum: {e}");
            assert!(
                e.contains("no leader") || e.contains("no etcd member accepts"),
                "the refusal names its cause: {e}"
            );
        }
        other => panic!("create without quorum: {other:?}"),
    }

    // One peer back: quorum again, and the same store serves without a
    // restart.
    cluster.start_member(followers[0]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match store.create("/after", Bytes::from_static(b"v")).await {
            Ok(_) => break,
            Err(corral_store::StoreError::Unavailable(e)) => {
                assert!(std::time::Instant::now() < deadline, "no recovery: {e}");
            }
            // An earlier attempt may have been applied before its answer was
            // lost.
            Err(corral_store::StoreError::AlreadyExists { .. }) => break,
            Err(e) => panic!("create after quorum returned: {e:?}"),
        }
    }
    assert!(store.get("/before").await.expect("get").is_some());
    assert!(store.get("/after").await.expect("get").is_some());
}

/// Moves the raft leadership from the current leader to the next member;
/// returns that member.
async fn transfer_leadership(cluster: &EtcdCluster) -> usize {
    let endpoints = cluster.endpoints();
    let leader = cluster.leader().await;
    let target = (leader + 1) % 3;
    let target_id = etcd_client::Client::connect([&endpoints[target]], None)
        .await
        .expect("connect to the target")
        .status()
        .await
        .expect("target status")
        .header()
        .expect("header")
        .member_id();
    etcd_client::Client::connect([&endpoints[leader]], None)
        .await
        .expect("connect to the leader")
        .move_leader(target_id)
        .await
        .expect("move the leadership");
    assert_eq!(cluster.leader().await, target, "the leadership moved");
    target
}

async fn store_checking_every(
    cluster: &EtcdCluster,
    interval: Duration,
) -> std::sync::Arc<EtcdStore> {
    EtcdStore::connect(EtcdOptions {
        endpoints: cluster.endpoints(),
        key_prefix: fresh_prefix(),
        leader_check_interval: interval,
        ..EtcdOptions::default()
    })
    .await
    .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_a_leadership_transfer() {
    let cluster = EtcdCluster::start();
    let store = store_checking_every(&cluster, Duration::from_millis(300)).await;
    let target = transfer_leadership(&cluster).await;

    // A few checks later, new requests go to the new leader.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    creates_reach_only(&cluster, &store, "/c", target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_raft_term_sends_the_store_to_the_leader_without_waiting() {
    let cluster = EtcdCluster::start();
    // The periodic check will not come during the test.
    let store = store_checking_every(&cluster, Duration::from_secs(3600)).await;
    store
        .create("/before", Bytes::from_static(b"v"))
        .await
        .expect("create before the transfer");
    let target = transfer_leadership(&cluster).await;

    // The next answer carries the new term; the check it starts moves the
    // store to the new leader.
    store
        .create("/after", Bytes::from_static(b"v"))
        .await
        .expect("create after the transfer");
    tokio::time::sleep(Duration::from_millis(500)).await;
    creates_reach_only(&cluster, &store, "/d", target).await;
}

/// A member that stops answering without closing its connection (a frozen
/// process, a silent network) is left once a keepalive ping goes
/// unanswered: at most 10 s until the ping, 5 s for the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_answering_is_left_after_an_unanswered_ping() {
    let cluster = EtcdCluster::start();
    let leader = cluster.leader().await;
    // No periodic leader check during the test: only the ping can notice.
    let store = store_checking_every(&cluster, Duration::from_secs(3600)).await;
    // An open stream: pings are sent only while one is (etcd's policy).
    let _watch = store.watch("/w/", 0).await.expect("watch");
    creates_reach_only(&cluster, &store, "/a", leader).await;

    let pid = cluster
        .pids()
        .into_iter()
        .find(|(n, _)| *n == leader)
        .map(|(_, pid)| pid.to_string())
        .expect("the leader's pid");
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, pid.as_str()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {pid}");
    };
    signal("-STOP");
    let stopped = std::time::Instant::now();
    let mut failures = 0;
    let recovered = loop {
        match store
            .create(&format!("/b/{failures}"), Bytes::from_static(b"v"))
            .await
        {
            Ok(_) => break stopped.elapsed(),
            Err(corral_store::StoreError::Unavailable(_))
                if stopped.elapsed() < Duration::from_secs(40) =>
            {
                failures += 1;
            }
            Err(e) => {
                signal("-CONT");
                panic!("create after {:?}: {e:?}", stopped.elapsed());
            }
        }
    };
    signal("-CONT");
    assert!(failures > 0, "a create reached the stopped member");
    assert!(
        recovered < Duration::from_secs(25),
        "writes resumed only after {recovered:?}"
    );
}
