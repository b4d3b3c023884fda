//! A burst is not a slow client: the outgoing queue is bounded in bytes (`max_queued_bytes`),
//! so a subscriber that reads as fast as it can gets every event of a burst, while one that
//! stops reading is dropped after `slow_client_timeout` and the node's memory stays bounded.

mod common;
use async_tungstenite::tungstenite::Message;
use common::*;
use futures_util::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};

async fn subscribe(client: &mut Wamp, topic: &str) {
    client.send(json!([32, 1, {}, topic])).await;
    assert_eq!(client.recv().await[0], json!(33));
}

/// The node's resident memory in KiB.
fn rss_kib(node: &Node) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[async_std::test]
async fn a_burst_from_many_publishers_reaches_every_subscriber_in_order() {
    const PUBLISHERS: u64 = 20;
    const EACH: u64 = 200;
    let (_dir, ca, node) = wamp_node_with(json!({}));
    let mut subscribers = Vec::new();
    for _ in 0..3 {
        let mut s = Wamp::join(node.port, &ca.der).await;
        subscribe(&mut s, "com.example.burst").await;
        subscribers.push(s);
    }
    let mut publishers = Vec::new();
    for _ in 0..PUBLISHERS {
        publishers.push(Wamp::join(node.port, &ca.der).await);
    }

    // Every publisher writes its 200 events (~100 bytes each) at once, without waiting.
    let padding = "x".repeat(40);
    let sends = publishers.iter_mut().enumerate().map(|(p, publisher)| {
        let padding = padding.clone();
        async move {
            let events =
                (0..EACH).map(|n| json!([16, n + 1, {}, "com.example.burst", [p, n, padding]]));
            publisher.send_all(events).await;
        }
    });
    futures_util::future::join_all(sends).await;

    for subscriber in &mut subscribers {
        let mut next = vec![0u64; PUBLISHERS as usize];
        for _ in 0..PUBLISHERS * EACH {
            let event = subscriber.recv().await;
            assert_eq!(event[0], json!(36), "{event}");
            let (p, n) = (event[4][0].as_u64().unwrap(), event[4][1].as_u64().unwrap());
            assert_eq!(n, next[p as usize], "publisher {p}'s events in order");
            next[p as usize] += 1;
        }
        assert!(next.iter().all(|n| *n == EACH));
    }
    assert!(!node.log_text().contains("too slow"));
}

#[async_std::test]
async fn a_subscriber_that_stops_reading_is_dropped_and_memory_stays_bounded() {
    let (_dir, ca, node) = wamp_node_with(json!({
        "max_queued_bytes": 256 * 1024, "slow_client_timeout": 1000
    }));
    let mut stuck = Wamp::join(node.port, &ca.der).await;
    subscribe(&mut stuck, "com.example.flood").await;
    let mut reader = Wamp::join(node.port, &ca.der).await;
    subscribe(&mut reader, "com.example.flood").await;
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    let before = rss_kib(&node);

    // 60 MB of events, far more than the queue bound and the sockets' buffers; `stuck`
    // reads nothing, `reader` keeps up.
    let payload = "y".repeat(10_000);
    let started = Instant::now();
    let mut peak = before;
    for batch in 0..60u64 {
        let events = (0..100u64)
            .map(|n| json!([16, batch * 100 + n + 1, {}, "com.example.flood", [payload]]));
        publisher.send_all(events).await;
        for _ in 0..100 {
            assert_eq!(reader.recv().await[0], json!(36));
        }
        peak = peak.max(rss_kib(&node));
    }

    // `stuck` was closed for being too slow, and said so in the log.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.log_text().contains("too slow") {
        assert!(Instant::now() < deadline, "{}", node.log_text());
        async_std::task::sleep(Duration::from_millis(50)).await;
    }
    // Its connection ends: with a 1008 close frame if that still fit into the socket
    // before the node gave up on the client, else by the TCP connection closing.
    let mut closed_with = None;
    let ended = loop {
        match async_std::future::timeout(Duration::from_secs(5), stuck.ws.next()).await {
            Err(_) => break false,
            Ok(None) | Ok(Some(Err(_))) => break true,
            Ok(Some(Ok(Message::Close(frame)))) => {
                closed_with = frame.map(|f| u16::from(f.code));
            }
            Ok(Some(Ok(_))) => {}
        }
    };
    assert!(ended, "the stuck subscriber's connection is still open");
    assert!(
        closed_with.is_none_or(|code| code == 1008),
        "{closed_with:?}"
    );
    eprintln!(
        "flood of 60 MB took {:?}; RSS {} KiB before, {} KiB at most",
        started.elapsed(),
        before,
        peak
    );
    assert!(
        peak < before + 32 * 1024,
        "RSS grew from {before} KiB to {peak} KiB"
    );
}
