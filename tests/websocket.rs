//! WebSocket endpoints: the opening handshake, the testee's echo, limits, and shutdown.

mod common;
use async_tungstenite::tungstenite::Message;
use common::*;
use futures_util::StreamExt;
use serde_json::json;

fn testee(dir: &NodeDir, port: u16, tls: bool) {
    let mut endpoint = json!({"type": "tcp", "port": port, "interface": "127.0.0.1"});
    if tls {
        endpoint["tls"] = json!({"key": "key.pem", "certificate": "cert.pem"});
    }
    dir.config(&json!({"version": 2, "workers": [{"type": "router", "transports": [
        {"type": "websocket.testee", "endpoint": endpoint, "options": {"max_message_size": 1000}}]}]}));
}

#[async_std::test]
async fn the_testee_echoes_text_and_binary_on_any_path() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    testee(&dir, port, true);
    let _node = dir.start(port);
    let mut ws = wss(port, &ca.der, "/any/path", &[]).await.unwrap();
    ws.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Text("hello".into())
    );
    ws.send(Message::Binary(vec![0u8, 1, 2, 255].into()))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Binary(vec![0u8, 1, 2, 255].into())
    );
}

#[async_std::test]
async fn plain_ws_testee_closes_an_oversized_message_with_1009() {
    let dir = NodeDir::new();
    let port = free_port();
    testee(&dir, port, false);
    let _node = dir.start(port);
    let tcp = async_std::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (mut ws, _) = async_tungstenite::client_async(format!("ws://127.0.0.1:{port}/"), tcp)
        .await
        .unwrap();
    ws.send(Message::Text("x".repeat(2000).into()))
        .await
        .unwrap();
    match ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected close 1009, got {other:?}"),
    }
}

fn origin_checked_node() -> (NodeDir, Ca, Node) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    dir.config(&web_config(port, json!({}), json!({"ws": {"type": "websocket", "options": {"allowed_origins": ["https://*.example.com"]}}}), open_roles()));
    let node = dir.start(port);
    (dir, ca, node)
}

#[async_std::test]
async fn ws_path_chooses_wamp_json_from_the_clients_list() {
    let (_dir, ca, node) = origin_checked_node();
    let tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    use async_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("wss://localhost:{}/ws", node.port)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "wamp.2.ubjson, wamp.2.json".parse().unwrap(),
    );
    let (_ws, response) = async_tungstenite::client_async(request, tls).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "wamp.2.json");
}

#[async_std::test]
async fn a_client_without_a_subprotocol_we_speak_gets_400_naming_ours() {
    let (_dir, ca, node) = origin_checked_node();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let head = format!("GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n");
    let tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    let res = http_raw(tls, &head).await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("wamp.2.json"), "{}", res.text());
}

#[async_std::test]
async fn origins_outside_allowed_origins_are_refused() {
    let (_dir, ca, node) = origin_checked_node();
    let head = |origin: &str| {
        format!("GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wamp.2.json\r\nOrigin: {origin}\r\n\r\n")
    };
    let tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    assert_eq!(http_raw(tls, &head("https://evil.org")).await.status, 403);
    let tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    let res = http_raw(tls, &head("https://app.example.com")).await;
    assert_eq!(res.status, 101);
    assert_eq!(
        res.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
}

#[async_std::test]
async fn sigterm_closes_websockets_with_1001_and_exits() {
    let (_dir, ca, mut node) = origin_checked_node();
    let mut ws = wss(node.port, &ca.der, "/ws", &["wamp.2.json"])
        .await
        .unwrap();
    node.signal("TERM");
    match async_std::future::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "node did not exit");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[async_std::test]
async fn a_client_that_answers_no_ping_is_dropped_after_the_auto_ping_timeout() {
    let (_dir, node, mut ws) =
        testee_client(json!({"auto_ping_interval": 200, "auto_ping_timeout": 300})).await;
    // Not reading means not answering pings.
    async_std::task::sleep(std::time::Duration::from_millis(1500)).await;
    let mut saw_ping = false;
    let closed = loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_))) => saw_ping = true,
            Some(Ok(Message::Close(frame))) => break frame.map(|f| f.reason.to_string()),
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            None | Some(Err(_)) => break None,
        }
    };
    assert!(saw_ping, "the node pinged");
    assert_eq!(
        closed.as_deref(),
        Some("auto-ping timeout"),
        "{}",
        node.log_text()
    );
}

#[async_std::test]
async fn a_client_that_answers_pings_stays() {
    let (_dir, _node, mut ws) =
        testee_client(json!({"auto_ping_interval": 100, "auto_ping_timeout": 200})).await;
    // Reading answers pings (tungstenite replies with pongs); stay for ten intervals.
    let _ = async_std::future::timeout(std::time::Duration::from_millis(1000), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    ws.send(Message::Text("still here".into())).await.unwrap();
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => break assert_eq!(text, "still here"),
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("expected the echo, got {other:?}"),
        }
    }
}

#[async_std::test]
async fn garbage_after_the_upgrade_is_a_protocol_error_for_that_connection_only() {
    use async_std::io::{ReadExt, WriteExt};
    let (_dir, ca, node) = origin_checked_node();
    let mut bystander = Wamp::join(node.port, &ca.der).await;
    let mut tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    let head = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n";
    tls.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"));
    // An unmasked frame with reserved bits and a bogus opcode.
    tls.write_all(&[0xF3, 0x05, b'h', b'e', b'l', b'l', b'o'])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = async_std::future::timeout(
        std::time::Duration::from_secs(5),
        tls.read_to_end(&mut rest),
    )
    .await;
    assert!(
        rest.len() >= 4 && rest[0] == 0x88,
        "a close frame: {rest:?}"
    );
    assert_eq!(u16::from_be_bytes([rest[2], rest[3]]), 1002);
    bystander
        .send(json!([48, 1, {}, "wamp.session.count"]))
        .await;
    assert_eq!(bystander.recv().await[0], json!(50));
}
