//! Limits and timeouts: slow, idle and surplus clients are cut off; the others are served.

mod common;
use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// A plain-HTTP web transport with `options`, serving www.
fn plain_node(options: serde_json::Value) -> (NodeDir, Node) {
    let dir = NodeDir::new();
    let port = free_port();
    dir.config(
        &json!({"version": 2, "workers": [{"type": "router", "transports": [{"type": "web",
        "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
        "options": options,
        "paths": {"/": {"type": "static", "directory": "www"}}}]}]}),
    );
    let node = dir.start(port);
    (dir, node)
}

/// Reads until the peer closes; returns how long that took and what arrived.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let mut got = Vec::new();
    let _ = async_std::future::timeout(limit, stream.read_to_end(&mut got)).await;
    (started.elapsed(), got)
}

#[async_std::test]
async fn a_slowloris_client_is_dropped_at_the_head_timeout_and_others_are_served() {
    let (_dir, node) = plain_node(json!({"request_head_timeout": 500}));
    let mut slow = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    let dripper = async_std::task::spawn(async move {
        let started = Instant::now();
        // One byte every 100 ms, for at most 5 s.
        for byte in
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                .iter()
        {
            if slow.write_all(&[*byte]).await.is_err() || started.elapsed() > Duration::from_secs(5)
            {
                break;
            }
            async_std::task::sleep(Duration::from_millis(100)).await;
        }
        started.elapsed()
    });
    // Meanwhile a normal client is served at once.
    let tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    let res = http_raw(
        tcp,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(res.status, 200);
    let cut_after = dripper.await;
    assert!(
        cut_after < Duration::from_secs(3),
        "the slow client was cut off after {cut_after:?}"
    );
}

#[async_std::test]
async fn an_idle_keep_alive_connection_is_closed_after_keepalive_timeout() {
    let (_dir, node) = plain_node(json!({"keepalive_timeout": 300}));
    let mut tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (took, got) = until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
}

#[async_std::test]
async fn the_keepalive_timeout_counts_from_the_last_response() {
    let (_dir, node) = plain_node(json!({"keepalive_timeout": 400}));
    let mut tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    // Six requests 200 ms apart: 1.2 s in all, three keep-alive timeouts, each one kept.
    for n in 0..6 {
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        tcp.read_exact(&mut head)
            .await
            .unwrap_or_else(|e| panic!("request {n}: {e}"));
        assert_eq!(&head, b"HTTP/1.1 200");
        async_std::task::sleep(Duration::from_millis(200)).await;
        // The rest of the response.
        let mut rest = [0u8; 4096];
        let _ = async_std::future::timeout(Duration::from_millis(10), tcp.read(&mut rest)).await;
    }
    let (took, _) = until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(2), "idle, closed after {took:?}");
}

#[async_std::test]
async fn a_client_that_stops_reading_a_response_is_dropped_after_send_timeout() {
    let (dir, node) = plain_node(json!({"send_timeout": 300}));
    // Larger than what the kernel buffers on both sides of a loopback connection.
    let size = 32 * 1024 * 1024;
    dir.write("www/big.bin", vec![7u8; size]);
    let mut tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    tcp.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Read nothing for a while: the server's writes stall, then time out.
    async_std::task::sleep(Duration::from_millis(1500)).await;
    let (took, got) = until_closed(&mut tcp, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(5), "still open after {took:?}");
    assert!(
        got.starts_with(b"HTTP/1.1 200") && got.len() < size,
        "the response was cut short: {} of {size} bytes",
        got.len()
    );
    // A reading client gets all of it.
    let mut tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    tcp.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (_, got) = until_closed(&mut tcp, Duration::from_secs(10)).await;
    assert!(
        got.len() > size,
        "all {size} bytes and the head: {}",
        got.len()
    );
}

#[async_std::test]
async fn a_client_that_never_finishes_the_tls_handshake_is_dropped() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let mut config = web_config(port, json!({}), json!({}), open_roles());
    config["workers"][0]["transports"][0]["options"] = json!({"tls_handshake_timeout": 300});
    dir.config(&config);
    let node = dir.start(port);
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (took, _) = until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    async_std::task::sleep(Duration::from_millis(100)).await;
    assert!(
        node.log_text().contains("not finished within"),
        "{}",
        node.log_text()
    );
}

#[async_std::test]
async fn over_max_connections_new_ones_are_refused_fast_and_old_ones_keep_working() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let mut config = web_config(port, json!({}), json!({}), open_roles());
    config["workers"][0]["transports"][0]["options"] = json!({"max_connections": 2});
    dir.config(&config);
    let _node = dir.start(port);
    let mut first = Wamp::join(port, &ca.der).await;
    let mut second = Wamp::join(port, &ca.der).await;
    let started = Instant::now();
    assert!(
        connect_tls(port, client_tls(&ca.der, None)).await.is_err(),
        "the third is refused"
    );
    assert!(started.elapsed() < Duration::from_secs(1), "and fast");
    for w in [&mut first, &mut second] {
        w.send(json!([48, 1, {}, "wamp.session.count"])).await;
        assert_eq!(w.recv().await[3], json!([2]));
    }
    // When one leaves, there is room again.
    drop(first);
    async_std::task::sleep(Duration::from_millis(300)).await;
    assert!(connect_tls(port, client_tls(&ca.der, None)).await.is_ok());
}

#[async_std::test]
async fn an_oversized_request_head_is_refused() {
    let (_dir, node) = plain_node(json!({}));
    let mut tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    let head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let _ = tcp.write_all(head.as_bytes()).await;
    let (took, got) = until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(
        !got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(took < Duration::from_secs(2));
    // The node is fine.
    let tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    assert_eq!(
        http_raw(
            tcp,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .await
        .status,
        200
    );
}

#[async_std::test]
async fn max_request_head_refuses_larger_heads_and_serves_smaller_ones() {
    let (_dir, node) = plain_node(json!({"max_request_head": 1024}));
    let mut tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    let head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2000)
    );
    let _ = tcp.write_all(head.as_bytes()).await;
    let (_, got) = until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(
        got.starts_with(b"HTTP/1.1 431 "),
        "a 2 KB head was served: {got:?}"
    );
    let tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    let head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Small: {}\r\n\r\n",
        "a".repeat(500)
    );
    assert_eq!(http_raw(tcp, &head).await.status, 200);
}
