//! Every HTTP client gets an answer: HTTP/1.0 (health checks, ApacheBench, `curl --http1.0`),
//! malformed heads (a status and a log line, not a silent close), bare-LF line endings,
//! pipelined requests after a body, and response heads as RFC 9110 wants them.

mod common;
use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// A plain-HTTP node serving `www` (with a folder `sub`).
fn plain_node() -> (NodeDir, Node) {
    let dir = NodeDir::new();
    dir.write("www/sub/index.html", "<p>sub</p>\n");
    let port = free_port();
    dir.config(&json!({"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": open_roles()}],
        "transports": [{"type": "web",
        "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
        "paths": {"/": {"type": "static", "directory": "www"}, "ws": {"type": "websocket"}}}]}]}));
    let node = dir.start(port);
    (dir, node)
}

/// Sends `bytes` at once and reads until the node closes (or 5 s pass).
async fn exchange(node: &Node, bytes: &[u8]) -> (String, Duration) {
    let mut tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let _ = async_std::future::timeout(Duration::from_secs(5), tcp.read_to_end(&mut got)).await;
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[async_std::test]
async fn http10_requests_are_answered_and_closed_unless_kept_alive() {
    let (_dir, node) = plain_node();
    let (got, _) = exchange(&node, b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.to_lowercase().contains("connection: close"), "{got}");
    assert!(got.ends_with("<h1>hello</h1>\n"), "{got}");

    // Keep-alive asked (ApacheBench -k): two answers on one connection, each saying so.
    let one = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let mut tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    for _ in 0..2 {
        let res = http_raw(&mut tcp, one).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("connection"), Some("keep-alive"));
    }

    // HAProxy's health check.
    let (got, _) = exchange(&node, b"OPTIONS / HTTP/1.0\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 204 No Content\r\n"), "{got}");
    assert!(
        got.to_lowercase().contains("allow: get, head, options"),
        "{got}"
    );
}

#[async_std::test]
async fn malformed_heads_get_a_status_and_a_log_line() {
    let (_dir, node) = plain_node();
    for (head, status) in [
        ("GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", "400"),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n",
            "400",
        ),
        (
            "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "204",
        ),
        ("BREW / HTTP/1.1\r\nHost: x\r\n\r\n", "501"),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            "400",
        ),
        ("GET / HTTP/1.1\r\n\r\n", "400"),
        ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505"),
    ] {
        let (got, took) = exchange(&node, head.as_bytes()).await;
        assert!(
            got.starts_with(&format!("HTTP/1.1 {status} ")),
            "{head:?} got {got:?}"
        );
        assert!(took < Duration::from_secs(2), "{head:?} held {took:?}");
    }
    let log = node.log_text();
    assert!(log.contains("http request refused 127.0.0.1:"), "{log}");
    assert!(log.contains("501 method `BREW` is not served"), "{log}");
}

#[async_std::test]
async fn bare_lf_line_endings_are_answered_at_once() {
    let (_dir, node) = plain_node();
    let (got, took) = exchange(&node, b"GET / HTTP/1.1\nHost: x\nConnection: close\n\n").await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(took < Duration::from_secs(2), "held {took:?}");
}

#[async_std::test]
async fn a_request_pipelined_after_one_with_a_body_is_answered() {
    let (_dir, node) = plain_node();
    let (got, _) = exchange(
        &node,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 405 "), "{got}");
    assert_eq!(got.matches("HTTP/1.1 ").count(), 2, "{got}");
    assert!(got.contains("HTTP/1.1 200 OK"), "{got}");
}

#[async_std::test]
async fn a_directory_redirect_cannot_be_read_as_another_host() {
    let (_dir, node) = plain_node();
    let tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    let res = http_raw(
        tcp,
        "GET //sub HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(res.status, 301);
    assert_eq!(res.header("location"), Some("/sub/"));
}

#[async_std::test]
async fn not_modified_and_switching_protocols_heads_follow_rfc_9110() {
    let (_dir, node) = plain_node();
    let tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    let first = http_raw(
        tcp,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let etag = first.header("etag").unwrap().to_string();
    let (got, _) = exchange(
        &node,
        format!("GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{got}");
    assert!(!got.to_lowercase().contains("content-length"), "{got}");

    let mut tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n").await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && tcp.read(&mut byte).await.unwrap() == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101 "), "{head}");
    assert!(!head.contains("content-length"), "{head}");
}

#[async_std::test]
async fn a_tls_client_offering_only_http10_in_alpn_is_served() {
    let (_dir, ca, node) = wamp_node(open_roles());
    let mut config = (*client_tls(&ca.der, None)).clone();
    config.alpn_protocols = vec![b"http/1.0".to_vec()];
    let tls = connect_tls(node.port, std::sync::Arc::new(config))
        .await
        .unwrap();
    let res = http_raw(tls, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(res.status, 200);
}

#[async_std::test]
async fn an_upgrade_that_async_h1_does_not_take_ends_the_connection() {
    // Two Connection headers: the handshake check sees "Upgrade", async-h1 only the first.
    let (_dir, node) = plain_node();
    let (got, took) = exchange(&node, b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 101 "), "{got}");
    assert!(took < Duration::from_secs(2), "held open {took:?}");
}

#[async_std::test]
async fn a_head_that_arrives_a_byte_at_a_time_is_answered() {
    let (_dir, node) = plain_node();
    let mut tcp = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    // Its end split across writes too: "\r\n" then "\r\n", and bare LF before it.
    for byte in b"GET / HTTP/1.1\r\nHost: x\nConnection: close\r\n\r\n" {
        tcp.write_all(&[*byte]).await.unwrap();
        async_std::task::sleep(Duration::from_millis(2)).await;
    }
    let mut got = Vec::new();
    let _ = async_std::future::timeout(Duration::from_secs(5), tcp.read_to_end(&mut got)).await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
}
