//! No client takes more than its share: what a hostile client tried on RawSocket, long-poll,
//! the HTTP bridge and the metrics, and what the node holds against it. Two clients are two
//! loopback addresses (127.0.0.1 and 127.0.0.2), as the per-client caps count them.

mod common;
use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The node's resident memory, in bytes.
fn rss(node: &Node) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.child.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// A node with `paths` beside the static site and `ws`, and `transports` beside its web
/// transport.
fn node_with(paths: Value, transports: Value) -> (NodeDir, Ca, Node) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let mut config = web_config(port, json!({}), paths, open_roles());
    for transport in transports.as_array().cloned().unwrap_or_default() {
        config["workers"][0]["transports"]
            .as_array_mut()
            .unwrap()
            .push(transport);
    }
    dir.config(&config);
    let node = dir.start(port);
    (dir, ca, node)
}

fn metrics_path() -> Value {
    json!({"metrics": {"type": "metrics", "options": {"require_ip": ["127.0.0.0/8"]}}})
}

/// POSTs `body` to `target` from the loopback address `source`.
async fn post_from(source: &str, node: &Node, ca: &Ca, target: &str, body: &str) -> HttpResponse {
    let tls = connect_tls_from(source, node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http_raw(tls, &head).await
}

// ---------------------------------------------------------------------------------------
// Labels, keys and names a client chooses

#[async_std::test]
async fn an_authentication_method_a_client_invents_is_counted_as_other() {
    let (_dir, ca, node) = node_with(metrics_path(), json!([]));
    for n in 0..30 {
        let ws = wss(node.port, &ca.der, "/ws", &["wamp.2.json"])
            .await
            .unwrap();
        let mut w = Wamp { ws, session: 0 };
        let method = format!("invented-{n}-{}", "x".repeat(4096));
        w.send(json!([1, "realm1", {"authmethods": [method]}]))
            .await;
        assert_eq!(w.recv().await[0], 3, "an ABORT: no such method here");
    }
    let page = https(node.port, &ca.der, "GET", "/metrics", &[])
        .await
        .text();
    assert!(
        !page.contains("invented-"),
        "a client's name became a label"
    );
    assert!(
        page.contains(r#"wssnode_authentications_total{method="other",result="failure"} 30"#),
        "{page}"
    );
    assert!(
        page.len() < 64 * 1024,
        "the page grew to {} bytes",
        page.len()
    );
}

#[async_std::test]
async fn close_codes_a_client_chooses_are_counted_in_ranges() {
    use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use async_tungstenite::tungstenite::protocol::CloseFrame;
    let (_dir, ca, node) = node_with(metrics_path(), json!([]));
    for code in [4001u16, 4321, 3999] {
        let mut ws = wss(node.port, &ca.der, "/ws", &["wamp.2.json"])
            .await
            .unwrap();
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        };
        ws.close(Some(frame)).await.unwrap();
        while futures_util::StreamExt::next(&mut ws).await.is_some() {}
    }
    assert!(
        node.wait_for_log("websocket close", Duration::from_secs(5))
            .await
    );
    async_std::task::sleep(Duration::from_millis(300)).await;
    let page = https(node.port, &ca.der, "GET", "/metrics", &[])
        .await
        .text();
    assert!(
        page.contains(r#"wssnode_websocket_closes_total{code="4xxx"} 2"#),
        "{page}"
    );
    assert!(
        page.contains(r#"wssnode_websocket_closes_total{code="3xxx"} 1"#),
        "{page}"
    );
    assert!(!page.contains("4321"), "{page}");
}

// ---------------------------------------------------------------------------------------
// RawSocket: a writer that finishes first, PINGs that are never read

fn rawsocket(port: u16, options: Value) -> Value {
    json!({"type": "rawsocket",
        "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
        "options": options})
}

async fn raw_frame(tcp: &mut TcpStream, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let len = payload.len();
    tcp.write_all(&[kind, (len >> 16) as u8, (len >> 8) as u8, len as u8])
        .await?;
    tcp.write_all(payload).await
}

#[async_std::test]
async fn a_welcome_larger_than_the_client_takes_closes_quietly_and_is_no_slow_client() {
    let raw_port = free_port();
    let (_dir, ca, node) = node_with(metrics_path(), json!([rawsocket(raw_port, json!({}))]));
    for _ in 0..5 {
        let mut tcp = TcpStream::connect(("127.0.0.1", raw_port)).await.unwrap();
        // JSON, and 512 bytes the most this client takes: the WELCOME is larger.
        tcp.write_all(&[0x7F, 0x01, 0, 0]).await.unwrap();
        let mut answer = [0u8; 4];
        tcp.read_exact(&mut answer).await.unwrap();
        let hello = json!([1, "realm1", {"roles": {"subscriber": {}, "publisher": {}, "caller": {}, "callee": {}}}]);
        raw_frame(&mut tcp, 0, hello.to_string().as_bytes())
            .await
            .unwrap();
        let mut rest = Vec::new();
        let read = async_std::future::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest));
        assert!(read.await.is_ok(), "the node closes the connection");
    }
    assert!(
        node.wait_for_log("more than the client takes", Duration::from_secs(5))
            .await
    );
    no_slow_client_counted(&node, &ca).await;
}

/// The node neither panicked, nor logged or counted a slow client.
async fn no_slow_client_counted(node: &Node, ca: &Ca) {
    let log = node.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains("client too slow"), "{log}");
    let page = https(node.port, &ca.der, "GET", "/metrics", &[])
        .await
        .text();
    assert!(
        page.contains("wssnode_slow_clients_dropped_total 0"),
        "only real slow clients are counted: {page}"
    );
}

#[async_std::test]
async fn a_rawsocket_session_killed_by_the_meta_api_is_no_slow_client() {
    let raw_port = free_port();
    let (_dir, ca, node) = node_with(metrics_path(), json!([rawsocket(raw_port, json!({}))]));
    let mut tcp = TcpStream::connect(("127.0.0.1", raw_port)).await.unwrap();
    tcp.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
    let mut answer = [0u8; 4];
    tcp.read_exact(&mut answer).await.unwrap();
    let hello = json!([1, "realm1", {"roles": {"subscriber": {}}}]);
    raw_frame(&mut tcp, 0, hello.to_string().as_bytes())
        .await
        .unwrap();
    let mut header = [0u8; 4];
    tcp.read_exact(&mut header).await.unwrap();
    let len = (header[1] as usize) << 16 | (header[2] as usize) << 8 | header[3] as usize;
    let mut welcome = vec![0u8; len];
    tcp.read_exact(&mut welcome).await.unwrap();
    let welcome: Value = serde_json::from_slice(&welcome).unwrap();
    let mut admin = Wamp::join(node.port, &ca.der).await;
    admin
        .send(json!([48, 1, {}, "wamp.session.kill", [welcome[1]]]))
        .await;
    assert_eq!(admin.recv().await[0], 50);
    let mut rest = Vec::new();
    let read = async_std::future::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest));
    assert!(
        read.await.is_ok(),
        "the node closes the killed session's connection"
    );
    assert!(
        node.wait_for_log("rawsocket close", Duration::from_secs(5))
            .await
    );
    no_slow_client_counted(&node, &ca).await;
}

#[async_std::test]
async fn pongs_a_client_never_reads_count_in_its_queue_and_it_is_dropped_as_slow() {
    let raw_port = free_port();
    let options = json!({"max_message_size": 1 << 20, "max_queued_bytes": 64 * 1024,
        "slow_client_timeout": 500});
    let (_dir, _ca, node) = node_with(json!({}), json!([rawsocket(raw_port, options)]));
    let mut tcp = TcpStream::connect(("127.0.0.1", raw_port)).await.unwrap();
    tcp.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
    let mut answer = [0u8; 4];
    tcp.read_exact(&mut answer).await.unwrap();
    // PINGs of 512 KiB, and never a byte read: the socket's buffers fill with PONGs, then
    // the node's queue does.
    let ping = vec![b'p'; 512 * 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sent = 0;
    while sent < 64 && Instant::now() < deadline {
        let write =
            async_std::future::timeout(Duration::from_secs(2), raw_frame(&mut tcp, 1, &ping));
        match write.await {
            Ok(Ok(())) => sent += 1,
            _ => break,
        }
    }
    assert!(
        node.wait_for_log("client too slow", Duration::from_secs(10))
            .await,
        "a client that reads none of its PONGs is dropped: {}",
        node.log_text()
    );
}

// ---------------------------------------------------------------------------------------
// Retained events are held as their bytes

#[async_std::test]
async fn retained_events_hold_no_more_memory_than_their_bound_counts() {
    let (_dir, ca, node) = node_with(json!({}), json!([]));
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    // 10,000 one-character strings an event: 40 KB of JSON, 20 KB packed, and about
    // 700 KB once decoded.
    let args: Vec<&str> = vec!["a"; 10_000];
    let before = rss(&node);
    // 1,000 topics' retained events: 20 MB as they are held.
    for n in 1..=1000u64 {
        let topic = format!("com.state.{n}");
        let options = json!({"retain": true, "acknowledge": true});
        publisher.send(json!([16, n, options, topic, args])).await;
        assert_eq!(publisher.recv().await[0], 17);
    }
    let grown = rss(&node).saturating_sub(before);
    assert!(
        grown < 64 << 20,
        "20 MB of retained events made the node grow by {} MB",
        grown >> 20
    );
    // Each is kept whole, the first as the last.
    let mut asks = Wamp::join(node.port, &ca.der).await;
    for (request, topic) in [(1, "com.state.1"), (2, "com.state.1000")] {
        asks.send(json!([32, request, {"get_retained": true}, topic]))
            .await;
        assert_eq!(asks.recv().await[0], 33);
        let event = asks.recv().await;
        assert_eq!(event[4].as_array().map(Vec::len), Some(10_000));
    }
}

// ---------------------------------------------------------------------------------------
// HTTP request bodies

fn longpoll_path(options: Value) -> Value {
    json!({"lp": {"type": "longpoll", "options": options}})
}

async fn longpoll_open(source: &str, node: &Node, ca: &Ca) -> HttpResponse {
    post_from(
        source,
        node,
        ca,
        "/lp/open",
        r#"{"protocols": ["wamp.2.json"]}"#,
    )
    .await
}

fn transport_id(res: &HttpResponse) -> String {
    let body: Value = serde_json::from_slice(&res.body).unwrap();
    body["transport"].as_str().unwrap().to_string()
}

#[async_std::test]
async fn a_body_that_stops_coming_is_cut_off_at_request_body_timeout() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let mut config = web_config(port, json!({}), longpoll_path(json!({})), open_roles());
    config["workers"][0]["transports"][0]["options"] = json!({"request_body_timeout": 500});
    dir.config(&config);
    let node = dir.start(port);
    let id = transport_id(&longpoll_open("127.0.0.1", &node, &ca).await);

    // A head that promises 100 bytes, then 10 of them, then nothing.
    let mut tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    let head = format!(
        "POST /lp/{id}/send HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n[1, \"realm"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = async_std::future::timeout(Duration::from_secs(10), tls.read_to_end(&mut rest));
    assert!(read.await.is_ok(), "the connection is closed, not held");
    assert!(started.elapsed() < Duration::from_secs(5));
    let res = parse_response(&rest);
    assert_eq!(res.status, 408, "{}", res.text());
}

#[async_std::test]
async fn a_declared_body_over_the_limit_is_refused_before_it_is_read() {
    let (_dir, ca, node) = node_with(longpoll_path(json!({})), json!([]));
    let id = transport_id(&longpoll_open("127.0.0.1", &node, &ca).await);
    let tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    let head = format!("POST /lp/{id}/send HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 1000000000\r\n\r\n[");
    let res = http_raw(tls, &head).await;
    assert_eq!(res.status, 413);
    // `open` too, whose body is a small JSON object.
    let tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    let head = "POST /lp/open HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 1000000000\r\n\r\n{";
    assert_eq!(http_raw(tls, head).await.status, 413);
}

// ---------------------------------------------------------------------------------------
// Shared caps with a share for each client

#[async_std::test]
async fn a_client_holding_its_long_poll_transports_leaves_room_for_another() {
    let options = json!({"max_transports_per_client": 3, "max_transports": 5});
    let (_dir, ca, node) = node_with(longpoll_path(options), json!([]));
    for _ in 0..3 {
        assert_eq!(longpoll_open("127.0.0.1", &node, &ca).await.status, 200);
    }
    let refused = longpoll_open("127.0.0.1", &node, &ca).await;
    assert_eq!(refused.status, 429);
    assert!(refused.text().contains("max_transports_per_client"));
    assert_eq!(longpoll_open("127.0.0.2", &node, &ca).await.status, 200);
    assert_eq!(longpoll_open("127.0.0.3", &node, &ca).await.status, 200);
    let full = longpoll_open("127.0.0.4", &node, &ca).await;
    assert_eq!(full.status, 503);
    assert!(full.text().contains("max_transports"));
}

#[async_std::test]
async fn a_long_poll_transport_that_never_joins_is_closed_and_gives_its_share_back() {
    let options = json!({"max_transports_per_client": 1, "open_handshake_timeout": 300});
    let (_dir, ca, node) = node_with(longpoll_path(options), json!([]));
    let id = transport_id(&longpoll_open("127.0.0.1", &node, &ca).await);
    assert!(
        node.wait_for_log("no session opened within", Duration::from_secs(5))
            .await
    );
    let gone = post_from("127.0.0.1", &node, &ca, &format!("/lp/{id}/receive"), "").await;
    assert_eq!(gone.status, 404);
    assert_eq!(longpoll_open("127.0.0.1", &node, &ca).await.status, 200);
}

#[async_std::test]
async fn a_long_poll_client_reads_why_its_session_ended() {
    let (_dir, ca, node) = node_with(longpoll_path(json!({})), json!([]));
    let id = transport_id(&longpoll_open("127.0.0.1", &node, &ca).await);
    let send = format!("/lp/{id}/send");
    // A PUBLISH before HELLO breaks the protocol.
    let res = post_from("127.0.0.1", &node, &ca, &send, r#"[16, 1, {}, "com.x"]"#).await;
    assert_eq!(res.status, 204);
    let receive = format!("/lp/{id}/receive");
    let res = post_from("127.0.0.1", &node, &ca, &receive, "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let abort: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(abort[0], 3, "an ABORT: {abort}");
    assert_eq!(abort[2], "wamp.error.protocol_violation");
    let res = post_from("127.0.0.1", &node, &ca, &receive, "").await;
    assert_eq!(res.status, 404, "then the transport is gone");
    let close = post_from("127.0.0.1", &node, &ca, &format!("/lp/{id}/close"), "").await;
    assert_eq!(close.status, 404, "closing an unknown transport");
}

#[async_std::test]
async fn a_bridge_client_whose_calls_hang_leaves_room_for_another() {
    let paths = json!({"call": {"type": "caller", "realm": "realm1", "role": "anonymous",
        "options": {"max_calls_per_client": 3, "call_timeout": 20000}}});
    let (_dir, ca, node) = node_with(paths, json!([]));
    let mut callee = Wamp::join(node.port, &ca.der).await;
    callee.send(json!([64, 1, {}, "com.slow"])).await;
    assert_eq!(callee.recv().await[0], 65);
    callee.send(json!([64, 2, {}, "com.fast"])).await;
    assert_eq!(callee.recv().await[0], 65);
    // Three calls that the callee never answers, from one client.
    let mut hanging = Vec::new();
    for _ in 0..3 {
        let (node_port, der) = (node.port, ca.der.clone());
        hanging.push(async_std::task::spawn(async move {
            let tls = connect_tls(node_port, client_tls(&der, None)).await.unwrap();
            let body = r#"{"procedure": "com.slow"}"#;
            let head = format!("POST /call HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            http_raw(tls, &head).await
        }));
    }
    for _ in 0..3 {
        assert_eq!(callee.recv().await[0], 68, "an INVOCATION of com.slow");
    }
    let body = r#"{"procedure": "com.fast"}"#;
    let refused = post_from("127.0.0.1", &node, &ca, "/call", body).await;
    assert_eq!(refused.status, 429);
    assert!(
        refused.text().contains("max_calls_per_client"),
        "{}",
        refused.text()
    );

    // Another client is served.
    let other = async_std::task::spawn({
        let (node_port, der) = (node.port, ca.der.clone());
        async move {
            let tls = connect_tls_from("127.0.0.2", node_port, client_tls(&der, None))
                .await
                .unwrap();
            let head = format!("POST /call HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            http_raw(tls, &head).await
        }
    });
    let invocation = callee.recv().await;
    assert_eq!(invocation[0], 68);
    callee.send(json!([70, invocation[1], {}, ["fast"]])).await;
    let res = other.await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.text(), r#"{"args":["fast"]}"#);
    drop(hanging);
}

// ---------------------------------------------------------------------------------------
// What a client says, as the node reads and logs it

#[async_std::test]
async fn authmethods_that_are_not_a_list_are_refused_not_read_as_anonymous() {
    let (_dir, ca, node) = node_with(json!({}), json!([]));
    let ws = wss(node.port, &ca.der, "/ws", &["wamp.2.json"])
        .await
        .unwrap();
    let mut w = Wamp { ws, session: 0 };
    w.send(json!([1, "realm1", {"authmethods": "ticket", "authid": "joe"}]))
        .await;
    let abort = w.recv().await;
    assert_eq!(abort[0], 3, "{abort}");
    assert_eq!(abort[2], "wamp.error.protocol_violation");
}

#[async_std::test]
async fn a_client_string_cannot_forge_a_log_line() {
    let (_dir, ca, node) = node_with(json!({}), json!([]));
    let ws = wss(node.port, &ca.der, "/ws", &["wamp.2.json"])
        .await
        .unwrap();
    let mut w = Wamp { ws, session: 0 };
    let authid = "joe\n2026-12-08T00:00:00.000Z INFO  FORGED wamp login admin";
    w.send(json!([1, "realm1", {"authmethods": ["ticket"], "authid": authid}]))
        .await;
    assert_eq!(w.recv().await[0], 3);
    assert!(
        node.wait_for_log("wamp login refused", Duration::from_secs(5))
            .await
    );
    let log = node.log_text();
    assert!(
        log.lines()
            .all(|line| !line.contains("INFO  FORGED") || line.contains("joe\\n")),
        "{log}"
    );
    assert!(!log
        .lines()
        .any(|l| l.starts_with("2026-12-08T00:00:00.000Z INFO  FORGED")));
}
