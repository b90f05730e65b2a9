//! The etcd store's transport on a real 3-member cluster: requests go to the
//! leader over one connection, and move to another member when that one
//! dies.

mod etcd_support;

use std::time::Duration;

use bytes::Bytes;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_to_the_leader_and_follow_it_when_it_dies() {
    let cluster = EtcdCluster::start();
    let leader = cluster.leader().await;
    let store = cluster
        .store(&fresh_prefix(), Duration::from_secs(10))
        .await;
    let before = txns(&cluster).await;
    for i in 0..50 {
        store
            .create(&format!("/a/{i}"), Bytes::from_static(b"v"))
            .await
            .expect("create");
    }
    let after = txns(&cluster).await;
    for n in 0..3 {
        let sent = after[n] - before[n];
        if n == leader {
            assert!(sent >= 50, "the leader answered {sent} of 50 creates");
        } else {
            assert_eq!(sent, 0, "follower {n} answered {sent} creates");
        }
    }

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
