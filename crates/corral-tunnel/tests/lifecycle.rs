//! Sessions coming and going: allowlist, dead peers, reconnects, replacement.

mod common;

use std::time::Duration;

use common::*;
use corral_tunnel::{AgentEvent, Allowlist, ServerConfig, SessionEvent, TunnelError, TunnelServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

fn fast_server() -> TunnelServer {
    TunnelServer::new(ServerConfig {
        tunnel: fast_tunnel(),
        dial_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    })
}

async fn echo_once(stream: &mut corral_tunnel::TunnelStream) {
    stream.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_refuses_addresses_off_its_allowlist() {
    init_tracing();
    let tunnel = fast_server();
    let front = plain_front(tunnel.clone()).await;
    let allowed = echo_target().await;
    let forbidden = echo_target().await;
    // Allowed but nothing listens there.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    };
    let agent = spawn_agent(agent_config(
        &front.url(),
        "c-allow",
        Allowlist::addresses([allowed.to_string(), closed.to_string()]),
    ));
    wait_connected(&tunnel, "c-allow").await;

    let mut ok = tunnel
        .dial("c-allow", &allowed.to_string())
        .await
        .expect("allowed");
    echo_once(&mut ok).await;

    match tunnel.dial("c-allow", &forbidden.to_string()).await {
        Err(TunnelError::Refused { address, message }) => {
            assert_eq!(address, forbidden.to_string());
            assert!(message.contains("allowlist"), "{message}");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    match tunnel.dial("c-allow", &closed.to_string()).await {
        Err(TunnelError::DialFailed { address, .. }) => assert_eq!(address, closed.to_string()),
        other => panic!("expected DialFailed, got {other:?}"),
    }
    match tunnel.dial("c-nobody", &allowed.to_string()).await {
        Err(TunnelError::NotConnected { cluster }) => assert_eq!(cluster, "c-nobody"),
        other => panic!("expected NotConnected, got {other:?}"),
    }
    // Refusals do not hurt the session.
    echo_once(&mut ok).await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_agent_is_detected_by_keepalive_and_streams_fail() {
    init_tracing();
    let tunnel = fast_server();
    let mut events = tunnel.subscribe();
    let front = plain_front(tunnel.clone()).await;
    let proxy = FreezableProxy::start(front.addr).await;
    let echo = echo_target().await;
    let mut cfg = agent_config(
        &format!("ws://{}/v3/connect", proxy.addr),
        "c-dead",
        Allowlist::addresses([echo.to_string()]),
    );
    // The agent must not come back through another path during the test.
    cfg.backoff.min = Duration::from_secs(30);
    cfg.backoff.max = Duration::from_secs(30);
    let agent = spawn_agent(cfg);
    let session_id = wait_connected(&tunnel, "c-dead").await;
    assert_eq!(
        events.recv().await.expect("event"),
        SessionEvent::Connected {
            cluster_id: "c-dead".into(),
            session_id
        }
    );
    let mut stream = tunnel
        .dial("c-dead", &echo.to_string())
        .await
        .expect("dial");
    echo_once(&mut stream).await;

    // A reader blocked on the stream when the link dies.
    let (mut reader, mut writer) = tokio::io::split(stream);
    let blocked_read = tokio::spawn(async move {
        let mut buf = [0u8; 16];
        let result = reader.read(&mut buf).await;
        (result.map_err(|e| e.kind()), Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    proxy.freeze();
    let frozen_at = Instant::now();
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("disconnect noticed")
        .expect("event");
    let noticed = frozen_at.elapsed();
    match event {
        SessionEvent::Disconnected {
            cluster_id, reason, ..
        } => {
            assert_eq!(cluster_id, "c-dead");
            assert!(reason.contains("keepalive"), "{reason}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // Timeout 1 s; the check runs on the watchdog, so allow some slack.
    assert!(
        noticed >= Duration::from_millis(700) && noticed < Duration::from_secs(3),
        "noticed after {noticed:?}"
    );
    assert!(tunnel.session("c-dead").is_none());
    assert!(tunnel.sessions().is_empty());

    let (result, at) = tokio::time::timeout(Duration::from_secs(2), blocked_read)
        .await
        .expect("blocked reader must be released")
        .expect("task");
    assert_eq!(result, Err(std::io::ErrorKind::ConnectionAborted));
    assert!(at.duration_since(frozen_at) < Duration::from_secs(3));
    let write = tokio::time::timeout(Duration::from_secs(2), writer.write_all(b"more"))
        .await
        .expect("write must not hang");
    assert!(write.is_err());
    match tunnel.dial("c-dead", &echo.to_string()).await {
        Err(TunnelError::NotConnected { .. }) => {}
        other => panic!("expected NotConnected, got {other:?}"),
    }

    // The agent notices too (it hears nothing either).
    let deadline = Instant::now() + Duration::from_secs(5);
    while *agent.agent.connected().borrow() {
        assert!(
            Instant::now() < deadline,
            "agent did not notice the dead link"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    agent.stop().await;
}

/// A silent partition (packets dropped, no FIN or RST) between agent and
/// server: both ends notice within the keepalive timeout, the agent's
/// attempts into the partition time out instead of hanging, and once the
/// network heals the agent is back within connect timeout + backoff cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_partition_is_detected_and_agent_returns_when_it_heals() {
    init_tracing();
    let tunnel = fast_server();
    let front = plain_front(tunnel.clone()).await;
    let proxy = FreezableProxy::start(front.addr).await;
    let echo = echo_target().await;
    let mut cfg = agent_config(
        &format!("ws://{}/v3/connect", proxy.addr),
        "c-part",
        Allowlist::addresses([echo.to_string()]),
    );
    cfg.connect_timeout = Duration::from_millis(500);
    let backoff_max = cfg.backoff.max;
    let connect_timeout = cfg.connect_timeout;
    let mut agent = spawn_agent(cfg);
    let first = wait_connected(&tunnel, "c-part").await;
    let mut stream = tunnel
        .dial("c-part", &echo.to_string())
        .await
        .expect("dial");
    echo_once(&mut stream).await;

    proxy.freeze();
    let partitioned_at = Instant::now();
    // Keepalive timeout 1 s on both ends.
    let deadline = partitioned_at + Duration::from_secs(3);
    while tunnel.session("c-part").is_some() || *agent.agent.connected().borrow() {
        assert!(
            Instant::now() < deadline,
            "partition not noticed: server session {:?}, agent connected {}",
            tunnel.session("c-part").map(|s| s.session_id),
            *agent.agent.connected().borrow()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let noticed = partitioned_at.elapsed();
    assert!(
        noticed >= Duration::from_millis(700),
        "noticed too early: {noticed:?}"
    );
    let mut buf = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .expect("stream must fail, not hang");
    assert!(read.is_err(), "{read:?}");

    // Attempts into the partition end by the connect timeout.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut timed_out = 0;
    while timed_out < 2 {
        let event = tokio::time::timeout_at(deadline, agent.events.recv())
            .await
            .expect("attempts into the partition must fail by timeout")
            .expect("event");
        if let AgentEvent::ConnectFailed { error, .. } = event {
            assert!(error.contains("timed out"), "{error}");
            timed_out += 1;
        }
    }
    assert!(tunnel.session("c-part").is_none());

    proxy.thaw();
    let healed_at = Instant::now();
    let second = tokio::time::timeout(Duration::from_secs(5), wait_connected(&tunnel, "c-part"))
        .await
        .expect("reconnected after the partition healed");
    let took = healed_at.elapsed();
    assert_ne!(first, second);
    assert!(
        took <= connect_timeout + backoff_max + Duration::from_millis(500),
        "reconnect took {took:?}"
    );
    let mut stream = tunnel
        .dial("c-part", &echo.to_string())
        .await
        .expect("dial after heal");
    echo_once(&mut stream).await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reconnects_with_growing_capped_jittered_backoff() {
    init_tracing();
    let tunnel = fast_server();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let front = start_front(listener, tunnel.clone(), None).await;
    let echo = echo_target().await;
    let mut cfg = agent_config(
        &front.url(),
        "c-back",
        Allowlist::addresses([echo.to_string()]),
    );
    cfg.backoff.min = Duration::from_millis(100);
    cfg.backoff.max = Duration::from_millis(800);
    let backoff = cfg.backoff.clone();
    let mut agent = spawn_agent(cfg);
    let first = wait_connected(&tunnel, "c-back").await;

    // Server goes away: stop listening and drop the live session.
    front.task.abort();
    let _ = front.task.await;
    tunnel.shutdown();

    // Watch attempts fail with delays that grow and are capped.
    let mut delays = Vec::new();
    let mut failures = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while delays.len() < 7 {
        let event = tokio::time::timeout_at(deadline, agent.events.recv())
            .await
            .expect("agent keeps retrying")
            .expect("event");
        match event {
            AgentEvent::Backoff { attempt, delay } => delays.push((attempt, delay, Instant::now())),
            AgentEvent::ConnectFailed { .. } => failures.push(Instant::now()),
            _ => {}
        }
    }
    assert!(failures.len() >= 6, "attempts failed: {}", failures.len());
    for (i, (attempt, delay, _)) in delays.iter().enumerate() {
        assert_eq!(*attempt as usize, i, "attempts count up");
        let base = backoff.base_delay(*attempt);
        assert!(*delay <= backoff.max, "capped: {delay:?}");
        assert!(
            *delay <= base && *delay >= base.mul_f64(1.0 - backoff.jitter),
            "attempt {attempt}: {delay:?} outside jitter band of {base:?}"
        );
    }
    // Bases 100, 200, 400, 800 (cap), 800, ...: growth, then the cap holds.
    assert!(delays[3].1 > delays[0].1);
    assert_eq!(backoff.base_delay(delays[6].0), backoff.max);
    // The agent actually waited: the attempt after each backoff event fails
    // no sooner than the announced delay (both events are seen by this task,
    // so allow a little scheduling noise).
    for (backoff_event, failure) in delays.iter().zip(failures.iter()) {
        let waited = failure.duration_since(backoff_event.2);
        assert!(
            waited >= backoff_event.1.mul_f64(0.8),
            "{waited:?} < {:?}",
            backoff_event.1
        );
    }
    // Jitter: not every delay sits exactly on its base.
    assert!(
        delays.iter().any(|(a, d, _)| *d != backoff.base_delay(*a)),
        "jitter should move at least one delay"
    );

    // Server comes back on the same address: the session returns.
    let listener = TcpListener::bind(addr).await.expect("rebind");
    let _front = start_front(listener, tunnel.clone(), None).await;
    let second = tokio::time::timeout(Duration::from_secs(5), wait_connected(&tunnel, "c-back"))
        .await
        .expect("reconnected");
    assert_ne!(first, second);
    let mut stream = tunnel
        .dial("c-back", &echo.to_string())
        .await
        .expect("dial");
    echo_once(&mut stream).await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_connection_for_a_cluster_replaces_the_first() {
    init_tracing();
    let tunnel = fast_server();
    let mut events = tunnel.subscribe();
    let front = plain_front(tunnel.clone()).await;
    let echo = echo_target().await;
    let allow = Allowlist::addresses([echo.to_string()]);

    let mut cfg = agent_config(&front.url(), "c-twice", allow.clone());
    // The replaced agent stays away long enough for the test.
    cfg.backoff.min = Duration::from_secs(30);
    cfg.backoff.max = Duration::from_secs(30);
    let mut first_agent = spawn_agent(cfg);
    let first = wait_connected(&tunnel, "c-twice").await;
    let mut held = tunnel
        .dial("c-twice", &echo.to_string())
        .await
        .expect("dial");
    echo_once(&mut held).await;
    let _ = events.recv().await; // Connected(first)

    let second_agent = spawn_agent(agent_config(&front.url(), "c-twice", allow));
    let e1 = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("event")
        .expect("event");
    let e2 = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("event")
        .expect("event");
    let second = match (e1, e2) {
        (
            SessionEvent::Disconnected {
                session_id, reason, ..
            },
            SessionEvent::Connected {
                session_id: second, ..
            },
        ) => {
            assert_eq!(session_id, first);
            assert!(reason.contains("replaced"), "{reason}");
            second
        }
        other => panic!("expected Disconnected(first) then Connected(second): {other:?}"),
    };
    assert_ne!(first, second);
    let sessions = tunnel.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].session_id, second);

    // The old session's stream fails promptly instead of hanging.
    let mut buf = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_secs(2), held.read(&mut buf))
        .await
        .expect("old stream must not hang");
    assert!(read.is_err(), "old stream should fail, got {read:?}");

    // The first agent saw its session end.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let event = tokio::time::timeout_at(deadline, first_agent.events.recv())
            .await
            .expect("first agent told")
            .expect("event");
        if matches!(event, AgentEvent::Disconnected { .. }) {
            break;
        }
    }
    // Dials now go through the new session.
    let mut stream = tunnel
        .dial("c-twice", &echo.to_string())
        .await
        .expect("dial");
    echo_once(&mut stream).await;
    first_agent.stop().await;
    second_agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_rejection_is_reported_and_retried() {
    init_tracing();
    let tunnel = fast_server();
    let front = plain_front(tunnel.clone()).await;
    let mut cfg = agent_config(&front.url(), "c-badtoken", Allowlist::addresses(["x:1"]));
    cfg = cfg.bearer_token("wrong").expect("token");
    let mut agent = spawn_agent(cfg);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut failures = 0;
    while failures < 2 {
        let event = tokio::time::timeout_at(deadline, agent.events.recv())
            .await
            .expect("events")
            .expect("event");
        if let AgentEvent::ConnectFailed { error, .. } = event {
            assert!(error.contains("401"), "{error}");
            failures += 1;
        }
    }
    assert!(tunnel.sessions().is_empty());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_disconnect_fails_streams_and_agent_returns() {
    init_tracing();
    let tunnel = fast_server();
    let mut events = tunnel.subscribe();
    let front = plain_front(tunnel.clone()).await;
    let echo = echo_target().await;
    let agent = spawn_agent(agent_config(
        &front.url(),
        "c-kick",
        Allowlist::addresses([echo.to_string()]),
    ));
    let first = wait_connected(&tunnel, "c-kick").await;
    let _ = events.recv().await; // Connected(first)
    let mut held = tunnel
        .dial("c-kick", &echo.to_string())
        .await
        .expect("dial");
    echo_once(&mut held).await;

    assert!(tunnel.disconnect("c-kick"));
    assert!(!tunnel.disconnect("c-unknown"));
    match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        Ok(Ok(SessionEvent::Disconnected {
            session_id, reason, ..
        })) => {
            assert_eq!(session_id, first);
            assert!(reason.contains("disconnected by the server"), "{reason}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let mut buf = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_secs(2), held.read(&mut buf))
        .await
        .expect("stream must not hang");
    assert!(read.is_err(), "{read:?}");

    // The agent comes back by itself (the caller would refuse it at
    // authentication to keep it out).
    match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        Ok(Ok(SessionEvent::Connected { session_id, .. })) => assert_ne!(session_id, first),
        other => panic!("expected Connected, got {other:?}"),
    }
    tunnel.shutdown();
    agent.stop().await;
}
