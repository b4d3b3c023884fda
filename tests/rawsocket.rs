//! WAMP over RawSocket: the handshake and its error codes (connections over the cap
//! included), framing, PING, the size limit, a client that never shakes hands, a client too
//! slow to read, and sessions that share a realm with WebSocket ones.

mod common;
use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// A node with a web transport (WAMP at `/ws`) and a RawSocket transport; returns the
/// RawSocket port too.
fn node(rawsocket_extra: Value) -> (NodeDir, Ca, Node, u16) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let raw_port = free_port();
    let mut config = web_config(port, json!({}), json!({}), open_roles());
    let mut raw = json!({"type": "rawsocket",
        "endpoint": {"type": "tcp", "port": raw_port, "interface": "127.0.0.1"},
        "options": {"max_message_size": 4096, "open_handshake_timeout": 500}});
    for (k, v) in rawsocket_extra.as_object().cloned().unwrap_or_default() {
        raw[k] = v;
    }
    config["workers"][0]["transports"]
        .as_array_mut()
        .unwrap()
        .push(raw);
    dir.config(&config);
    let node = dir.start(port);
    (dir, ca, node, raw_port)
}

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).await.unwrap()
}

/// Sends a handshake and returns the router's four bytes.
async fn shake(tcp: &mut TcpStream, byte1: u8) -> [u8; 4] {
    tcp.write_all(&[0x7F, byte1, 0, 0]).await.unwrap();
    let mut answer = [0u8; 4];
    read_within(tcp, &mut answer).await.unwrap();
    answer
}

async fn read_within(tcp: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    async_std::future::timeout(Duration::from_secs(5), tcp.read_exact(buf))
        .await
        .expect("an answer within 5 s")
}

async fn send_frame(tcp: &mut TcpStream, kind: u8, payload: &[u8]) {
    let len = payload.len();
    tcp.write_all(&[kind, (len >> 16) as u8, (len >> 8) as u8, len as u8])
        .await
        .unwrap();
    tcp.write_all(payload).await.unwrap();
}

/// The next frame: its type and payload.
async fn recv_frame(tcp: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 4];
    read_within(tcp, &mut header).await?;
    let len = (header[1] as usize) << 16 | (header[2] as usize) << 8 | header[3] as usize;
    let mut payload = vec![0u8; len];
    read_within(tcp, &mut payload).await?;
    Ok((header[0], payload))
}

async fn send_json(tcp: &mut TcpStream, message: Value) {
    send_frame(tcp, 0, message.to_string().as_bytes()).await;
}

async fn recv_json(tcp: &mut TcpStream) -> Value {
    let (kind, payload) = recv_frame(tcp).await.unwrap();
    assert_eq!(kind, 0, "a message frame");
    serde_json::from_slice(&payload).unwrap()
}

/// Whether the router has closed the connection (reading gives end of file).
async fn closed(tcp: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        async_std::future::timeout(Duration::from_secs(5), tcp.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[async_std::test]
async fn a_json_session_joins_and_the_answer_names_our_maximum_length() {
    let (_dir, _ca, _node, port) = node(json!({}));
    let mut tcp = connect(port).await;
    // JSON (1), the largest length the client takes (16 MiB: 0xF).
    let answer = shake(&mut tcp, 0xF1).await;
    // max_message_size 4096 = 2^(9+3).
    assert_eq!(answer, [0x7F, 0x31, 0, 0]);
    send_json(
        &mut tcp,
        json!([1, "realm1", {"roles": {"subscriber": {}}}]),
    )
    .await;
    assert_eq!(recv_json(&mut tcp).await[0], 2);
    send_json(&mut tcp, json!([32, 1, {}, "com.x"])).await;
    assert_eq!(recv_json(&mut tcp).await[0], 33);
}

#[async_std::test]
async fn a_ping_is_answered_with_a_pong_of_the_same_payload() {
    let (_dir, _ca, _node, port) = node(json!({}));
    let mut tcp = connect(port).await;
    shake(&mut tcp, 0xF1).await;
    send_frame(&mut tcp, 1, b"are you there").await;
    assert_eq!(
        recv_frame(&mut tcp).await.unwrap(),
        (2, b"are you there".to_vec())
    );
}

#[async_std::test]
async fn each_handshake_error_gets_the_specs_code() {
    let (_dir, _ca, _node, port) = node(json!({"serializers": ["json"]}));
    // Serializer 2 (msgpack) is not among this transport's: error 1.
    let mut tcp = connect(port).await;
    assert_eq!(shake(&mut tcp, 0xF2).await, [0x7F, 0x10, 0, 0]);
    assert!(closed(&mut tcp).await);
    // An unknown serializer: error 1.
    let mut tcp = connect(port).await;
    assert_eq!(shake(&mut tcp, 0xF9).await, [0x7F, 0x10, 0, 0]);
    // Reserved bytes used: error 3.
    let mut tcp = connect(port).await;
    tcp.write_all(&[0x7F, 0xF1, 0, 7]).await.unwrap();
    let mut answer = [0u8; 4];
    read_within(&mut tcp, &mut answer).await.unwrap();
    assert_eq!(answer, [0x7F, 0x30, 0, 0]);
}

#[async_std::test]
async fn a_connection_over_max_connections_gets_error_4() {
    let (_dir, _ca, _node, port) = node(json!({"options": {"max_connections": 1}}));
    let mut first = connect(port).await;
    assert_eq!(shake(&mut first, 0xF1).await[0], 0x7F);
    // "Maximum connection count reached" (4), then the connection closes.
    let mut second = connect(port).await;
    assert_eq!(shake(&mut second, 0xF1).await, [0x7F, 0x40, 0, 0]);
    assert!(closed(&mut second).await);
    // The first is untouched.
    send_frame(&mut first, 1, b"still here").await;
    assert_eq!(
        recv_frame(&mut first).await.unwrap(),
        (2, b"still here".to_vec())
    );
}

/// Joins realm1 over RawSocket with JSON and subscribes to `topic` (if any).
async fn json_session(port: u16, topic: Option<&str>) -> TcpStream {
    let mut tcp = connect(port).await;
    shake(&mut tcp, 0xF1).await;
    send_json(
        &mut tcp,
        json!([1, "realm1", {"roles": {"subscriber": {}, "publisher": {}}}]),
    )
    .await;
    assert_eq!(recv_json(&mut tcp).await[0], 2);
    if let Some(topic) = topic {
        send_json(&mut tcp, json!([32, 1, {}, topic])).await;
        assert_eq!(recv_json(&mut tcp).await[0], 33);
    }
    tcp
}

#[async_std::test]
async fn a_subscriber_that_stops_reading_is_dropped_and_one_that_reads_is_not() {
    let (_dir, _ca, node, port) = node(json!({"options": {
        "max_message_size": 65536, "max_queued_bytes": 256 * 1024, "slow_client_timeout": 1000
    }}));
    let mut stuck = json_session(port, Some("com.flood")).await;
    let mut reader = json_session(port, Some("com.flood")).await;
    let mut publisher = json_session(port, None).await;

    // 40 MB of events, far more than the queue bound and the sockets' buffers; `stuck`
    // reads nothing, `reader` keeps up.
    let payload = "y".repeat(10_000);
    for batch in 0..40u64 {
        for n in 0..100u64 {
            let id = batch * 100 + n + 1;
            send_json(&mut publisher, json!([16, id, {}, "com.flood", [payload]])).await;
        }
        for _ in 0..100 {
            assert_eq!(recv_json(&mut reader).await[0], 36);
        }
    }
    assert!(
        node.wait_for_log("client too slow", Duration::from_secs(10))
            .await,
        "{}",
        node.log_text()
    );
    // The stuck client's connection ends once it reads what the sockets still held.
    let mut sink = vec![0u8; 1 << 20];
    let ended = loop {
        match async_std::future::timeout(Duration::from_secs(5), stuck.read(&mut sink)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => {}
        }
    };
    assert!(ended, "the stuck subscriber's connection is still open");
    send_frame(&mut reader, 1, b"fine").await;
    assert_eq!(
        recv_frame(&mut reader).await.unwrap(),
        (2, b"fine".to_vec())
    );
}

#[async_std::test]
async fn a_frame_over_max_message_size_or_a_silent_client_is_closed() {
    let (_dir, _ca, node, port) = node(json!({}));
    let mut tcp = connect(port).await;
    shake(&mut tcp, 0xF1).await;
    send_frame(&mut tcp, 0, &vec![b' '; 5000]).await;
    assert!(closed(&mut tcp).await, "over 4096 bytes");
    // No handshake at all within open_handshake_timeout (500 ms).
    let mut silent = connect(port).await;
    assert!(closed(&mut silent).await);
    // A handshake but no HELLO.
    let mut idle = connect(port).await;
    shake(&mut idle, 0xF1).await;
    assert!(closed(&mut idle).await);
    assert!(
        node.wait_for_log("no session opened within", Duration::from_secs(2))
            .await,
        "{}",
        node.log_text()
    );
}

#[async_std::test]
async fn rawsocket_and_websocket_sessions_share_a_realm() {
    let (_dir, ca, node, port) = node(json!({}));
    let mut ws = Wamp::join(node.port, &ca.der).await;
    ws.send(json!([32, 1, {}, "com.news"])).await;
    assert_eq!(ws.recv().await[0], 33);
    // A MessagePack session over RawSocket publishes.
    let mut tcp = connect(port).await;
    assert_eq!(shake(&mut tcp, 0xF2).await[1] & 0x0F, 2);
    let mut hello = Vec::new();
    let details = rmpv::Value::Map(vec![("roles".into(), rmpv::Value::Map(vec![]))]);
    rmpv::encode::write_value(
        &mut hello,
        &rmpv::Value::Array(vec![1.into(), "realm1".into(), details]),
    )
    .unwrap();
    send_frame(&mut tcp, 0, &hello).await;
    let (_, welcome) = recv_frame(&mut tcp).await.unwrap();
    assert_eq!(
        rmpv::decode::read_value(&mut &welcome[..]).unwrap()[0].as_u64(),
        Some(2)
    );
    let mut publish = Vec::new();
    let publication = rmpv::Value::Array(vec![
        16.into(),
        1.into(),
        rmpv::Value::Map(vec![]),
        "com.news".into(),
        rmpv::Value::Array(vec!["from rawsocket".into()]),
    ]);
    rmpv::encode::write_value(&mut publish, &publication).unwrap();
    send_frame(&mut tcp, 0, &publish).await;
    let event = ws.recv().await;
    assert_eq!(
        (&event[0], &event[4]),
        (&json!(36), &json!(["from rawsocket"]))
    );
}

/// A node whose RawSocket and web transports listen on Unix sockets in its directory.
fn unix_node(dir: &NodeDir) -> (u16, std::path::PathBuf, std::path::PathBuf) {
    let port = free_port();
    let mut config = web_config(port, json!({}), json!({}), open_roles());
    let transports = config["workers"][0]["transports"].as_array_mut().unwrap();
    transports.push(json!({"type": "rawsocket",
        "endpoint": {"type": "unix", "path": "wamp.sock", "backlog": 1024}}));
    transports.push(json!({"type": "web",
        "endpoint": {"type": "unix", "path": "web.sock", "mode": "0660"},
        "paths": {"/": {"type": "static", "directory": "www"}, "ws": {"type": "websocket"}}}));
    dir.config(&config);
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    std::fs::write(dir.path().join("www/index.html"), "hello over unix\n").unwrap();
    (
        port,
        dir.path().join("wamp.sock"),
        dir.path().join("web.sock"),
    )
}

#[async_std::test]
async fn unix_sockets_serve_rawsocket_and_web_with_their_modes_and_are_removed_on_exit() {
    use async_std::os::unix::net::UnixStream;
    use std::os::unix::fs::PermissionsExt;
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let (port, wamp_sock, web_sock) = unix_node(&dir);
    // A stale socket file from a node that died is replaced.
    drop(std::os::unix::net::UnixListener::bind(&wamp_sock).unwrap());
    let node = dir.start(port);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&wamp_sock),
        0o666,
        "Crossbar's default, for components of other users"
    );
    assert_eq!(mode(&web_sock), 0o660, "wssnode's `mode`");

    let mut raw = UnixStream::connect(&wamp_sock).await.unwrap();
    raw.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
    let mut answer = [0u8; 4];
    raw.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer[0], 0x7F);
    let hello = json!([1, "realm1", {"roles": {"caller": {}}}]).to_string();
    let len = hello.len();
    raw.write_all(&[0, 0, (len >> 8) as u8, len as u8])
        .await
        .unwrap();
    raw.write_all(hello.as_bytes()).await.unwrap();
    let mut header = [0u8; 4];
    raw.read_exact(&mut header).await.unwrap();
    let mut welcome = vec![0u8; (header[2] as usize) << 8 | header[3] as usize];
    raw.read_exact(&mut welcome).await.unwrap();
    let welcome: Value = serde_json::from_slice(&welcome).unwrap();
    assert_eq!(welcome[0], 2);
    assert_eq!(
        welcome[2]["authextra"]["x_cb_peer"],
        json!(format!("unix:{}", wamp_sock.display()))
    );

    let mut web = UnixStream::connect(&web_sock).await.unwrap();
    web.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    web.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") && response.contains("hello over unix"),
        "{response}"
    );

    // A second node may not take over a socket the first listens on.
    let mut only_unix: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    only_unix["workers"][0]["transports"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    dir.config(&only_unix);
    let (code, out, _) = dir.run(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("wamp.sock") && out.contains("another process is listening"),
        "{out}"
    );

    node.signal("TERM");
    for _ in 0..200 {
        if !wamp_sock.exists() && !web_sock.exists() {
            break;
        }
        async_std::task::sleep(Duration::from_millis(20)).await;
    }
    assert!(!wamp_sock.exists() && !web_sock.exists(), "removed on exit");
}

#[async_std::test]
async fn a_universal_port_serves_rawsocket_websocket_and_web_told_apart_after_tls() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    std::fs::write(dir.path().join("www/index.html"), "hello universal\n").unwrap();
    let port = free_port();
    dir.config(&json!({"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": open_roles()}],
        "transports": [{"type": "universal",
            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1",
                "tls": {"key": "key.pem", "certificate": "cert.pem"}},
            "rawsocket": {"serializers": ["json"]},
            "websocket": {"ws": {"type": "websocket"}},
            "web": {"paths": {"/": {"type": "static", "directory": "www"}}}}]}]}));
    let node = dir.start(port);

    // RawSocket, chosen by its first byte once TLS is up.
    let mut raw = connect_tls(port, client_tls(&ca.der, None)).await.unwrap();
    raw.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
    let mut answer = [0u8; 4];
    raw.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer[0], 0x7F);
    assert_eq!(answer[1] & 0x0F, 1);

    // WebSocket and a static file on the same port.
    let mut ws = Wamp::join(port, &ca.der).await;
    ws.send(json!([32, 1, {}, "com.u"])).await;
    assert_eq!(ws.recv().await[0], 33);
    let tls = connect_tls(port, client_tls(&ca.der, None)).await.unwrap();
    let page = http_raw(
        tls,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(page.text().contains("hello universal"));
    assert!(
        node.log_text().contains("wamp rawsocket"),
        "the start-up line names it"
    );
}

#[async_std::test]
async fn a_ping_is_answered_while_the_session_waits_for_its_authenticator() {
    let auth = json!({"anonymous": {"type": "dynamic", "authenticator": "com.slow.auth"}});
    let (_dir, ca, _node, port) = node(json!({"auth": auth}));
    // The authenticator, over WebSocket, answers only once the test says so.
    let (go, wait_for_go) = async_std::channel::bounded::<()>(1);
    let mut component = Wamp::join(_node.port, &ca.der).await;
    component.send(json!([64, 1, {}, "com.slow.auth"])).await;
    assert_eq!(component.recv().await[0], 65);
    async_std::task::spawn(async move {
        while let Some(msg) = component.next_or_none().await {
            if msg[0] == 68 {
                let _ = wait_for_go.recv().await;
                component.send(json!([70, msg[1], {}, ["anonymous"]])).await;
            }
        }
    });
    let mut tcp = connect(port).await;
    shake(&mut tcp, 0xF1).await;
    send_json(&mut tcp, json!([1, "realm1", {"roles": {"caller": {}}}])).await;
    send_frame(&mut tcp, 1, b"still there?").await;
    assert_eq!(
        recv_frame(&mut tcp).await.unwrap(),
        (2, b"still there?".to_vec()),
        "the PONG comes while the login waits"
    );
    go.send(()).await.unwrap();
    assert_eq!(recv_json(&mut tcp).await[0], 2);
}
