//! WAMP over long-poll: open, send, receive and close under the path; a session that shares
//! its realm with WebSocket sessions; `request_timeout`, `session_timeout` and the queue
//! limits.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn node(options: Value) -> (NodeDir, Ca, Node) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let paths = json!({"lp": {"type": "longpoll", "options": options}});
    dir.config(&web_config(port, json!({}), paths, open_roles()));
    let node = dir.start(port);
    (dir, ca, node)
}

async fn post(node: &Node, ca: &Ca, path: &str, body: &str) -> HttpResponse {
    let tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    let head = format!(
        "POST /lp{path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http_raw(tls, &head).await
}

async fn open(node: &Node, ca: &Ca) -> String {
    let res = post(node, ca, "/open", r#"{"protocols": ["wamp.2.json"]}"#).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body: Value = serde_json::from_str(&res.text()).unwrap();
    assert_eq!(body["protocol"], "wamp.2.json");
    body["transport"].as_str().unwrap().to_string()
}

async fn send(node: &Node, ca: &Ca, id: &str, message: Value) -> u16 {
    post(node, ca, &format!("/{id}/send"), &message.to_string())
        .await
        .status
}

async fn receive(node: &Node, ca: &Ca, id: &str) -> (u16, Option<Value>) {
    let res = post(node, ca, &format!("/{id}/receive"), "").await;
    let body = (res.status == 200).then(|| serde_json::from_str(&res.text()).unwrap());
    (res.status, body)
}

#[async_std::test]
async fn a_long_poll_session_shares_its_realm_with_websocket_sessions() {
    let (_dir, ca, node) = node(json!({"request_timeout": 2}));
    let id = open(&node, &ca).await;
    assert_eq!(
        send(
            &node,
            &ca,
            &id,
            json!([1, "realm1", {"roles": {"subscriber": {}, "publisher": {}}}])
        )
        .await,
        204
    );
    let (status, welcome) = receive(&node, &ca, &id).await;
    assert_eq!((status, welcome.unwrap()[0].clone()), (200, json!(2)));

    // The long-poll session subscribes; a WebSocket session publishes.
    assert_eq!(
        send(&node, &ca, &id, json!([32, 1, {}, "com.lp"])).await,
        204
    );
    assert_eq!(receive(&node, &ca, &id).await.1.unwrap()[0], 33);
    let mut ws = Wamp::join(node.port, &ca.der).await;
    ws.send(json!([16, 1, {}, "com.lp", ["to long-poll"]]))
        .await;
    let event = receive(&node, &ca, &id).await.1.unwrap();
    assert_eq!(
        (&event[0], &event[4]),
        (&json!(36), &json!(["to long-poll"]))
    );

    // And the other way round.
    ws.send(json!([32, 2, {}, "com.ws"])).await;
    assert_eq!(ws.recv().await[0], 33);
    assert_eq!(
        send(
            &node,
            &ca,
            &id,
            json!([16, 2, {}, "com.ws", ["to websocket"]])
        )
        .await,
        204
    );
    assert_eq!(ws.recv().await[4], json!(["to websocket"]));

    // Nothing more for it: the receive is answered 204 after request_timeout.
    assert_eq!(receive(&node, &ca, &id).await.0, 204);
    assert_eq!(
        post(&node, &ca, &format!("/{id}/close"), "").await.status,
        204
    );
    assert_eq!(
        send(&node, &ca, &id, json!([6, {}, "wamp.close.normal"])).await,
        404
    );
}

#[async_std::test]
async fn an_abandoned_transport_is_forgotten_after_session_timeout() {
    let (_dir, ca, node) = node(json!({"session_timeout": 1, "request_timeout": 1}));
    let id = open(&node, &ca).await;
    assert_eq!(
        send(
            &node,
            &ca,
            &id,
            json!([1, "realm1", {"roles": {"subscriber": {}}}])
        )
        .await,
        204
    );
    assert_eq!(receive(&node, &ca, &id).await.0, 200);
    async_std::task::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receive(&node, &ca, &id).await.0, 404);
    let logged = node.wait_for_log("no request within session_timeout", Duration::from_secs(2));
    assert!(logged.await, "{}", node.log_text());
}

#[async_std::test]
async fn a_transport_whose_messages_pass_the_queue_limit_is_closed() {
    let (_dir, ca, node) = node(json!({"queue_limit_messages": 3, "request_timeout": 1}));
    let id = open(&node, &ca).await;
    assert_eq!(
        send(
            &node,
            &ca,
            &id,
            json!([1, "realm1", {"roles": {"subscriber": {}}}])
        )
        .await,
        204
    );
    assert_eq!(receive(&node, &ca, &id).await.0, 200);
    assert_eq!(
        send(&node, &ca, &id, json!([32, 1, {}, "com.flood"])).await,
        204
    );
    assert_eq!(receive(&node, &ca, &id).await.0, 200);
    let mut ws = Wamp::join(node.port, &ca.der).await;
    ws.send_all((0..20).map(|i| json!([16, i + 1, {}, "com.flood", [i]])))
        .await;
    // Its task looks at the queue every few seconds.
    let closed = node.wait_for_log("queue_limit_messages", Duration::from_secs(5));
    assert!(closed.await, "{}", node.log_text());
    assert_eq!(receive(&node, &ca, &id).await.0, 404);
}

#[async_std::test]
async fn only_post_only_json_and_only_known_transports() {
    let (_dir, ca, node) = node(json!({}));
    assert_eq!(
        https(node.port, &ca.der, "GET", "/lp/open", &[])
            .await
            .status,
        405
    );
    let res = post(&node, &ca, "/open", r#"{"protocols": ["wamp.2.msgpack"]}"#).await;
    assert_eq!(res.status, 400);
    assert_eq!(receive(&node, &ca, "nosuchtransport").await.0, 404);
}

/// One realm, every transport: an event published over RawSocket reaches a WebSocket JSON
/// subscriber, a WebSocket CBOR subscriber and a long-poll subscriber.
#[async_std::test]
async fn an_event_over_rawsocket_reaches_websocket_cbor_and_long_poll_subscribers() {
    use async_std::io::{ReadExt, WriteExt};
    use async_tungstenite::tungstenite::Message;
    use futures_util::StreamExt;
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let (port, raw_port) = (free_port(), free_port());
    let paths = json!({"lp": {"type": "longpoll", "options": {"request_timeout": 3}}});
    let mut config = web_config(port, json!({}), paths, open_roles());
    config["workers"][0]["transports"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "rawsocket",
        "endpoint": {"type": "tcp", "port": raw_port, "interface": "127.0.0.1"}}));
    dir.config(&config);
    let node = dir.start(port);

    // Subscribers: WebSocket JSON, WebSocket CBOR, long-poll.
    let mut json_sub = Wamp::join(port, &ca.der).await;
    json_sub.send(json!([32, 1, {}, "com.all"])).await;
    assert_eq!(json_sub.recv().await[0], 33);
    let mut cbor_sub = wss(port, &ca.der, "/ws", &["wamp.2.cbor"]).await.unwrap();
    let cbor = |v: Value| {
        let mut bytes = Vec::new();
        let value: ciborium::value::Value = ciborium::value::Value::serialized(&v).unwrap();
        ciborium::into_writer(&value, &mut bytes).unwrap();
        Message::Binary(bytes.into())
    };
    let next_cbor = |m: Option<Result<Message, _>>| -> Value {
        match m {
            Some(Ok(Message::Binary(b))) => {
                let v: ciborium::value::Value = ciborium::from_reader(&b[..]).unwrap();
                v.deserialized().unwrap()
            }
            other => panic!("expected CBOR, got {other:?}"),
        }
    };
    cbor_sub
        .send(cbor(json!([1, "realm1", {"roles": {"subscriber": {}}}])))
        .await
        .unwrap();
    assert_eq!(next_cbor(cbor_sub.next().await)[0], 2);
    cbor_sub
        .send(cbor(json!([32, 1, {}, "com.all"])))
        .await
        .unwrap();
    assert_eq!(next_cbor(cbor_sub.next().await)[0], 33);
    let node_ref = &node;
    let id = open(node_ref, &ca).await;
    send(
        node_ref,
        &ca,
        &id,
        json!([1, "realm1", {"roles": {"subscriber": {}}}]),
    )
    .await;
    assert_eq!(receive(node_ref, &ca, &id).await.1.unwrap()[0], 2);
    send(node_ref, &ca, &id, json!([32, 1, {}, "com.all"])).await;
    assert_eq!(receive(node_ref, &ca, &id).await.1.unwrap()[0], 33);

    // The publisher, over RawSocket (JSON).
    let mut raw = async_std::net::TcpStream::connect(("127.0.0.1", raw_port))
        .await
        .unwrap();
    raw.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
    let mut answer = [0u8; 4];
    raw.read_exact(&mut answer).await.unwrap();
    for message in [
        json!([1, "realm1", {"roles": {"publisher": {}}}]),
        json!([16, 1, {}, "com.all", ["everyone"]]),
    ] {
        let text = message.to_string();
        let len = text.len();
        raw.write_all(&[0, 0, (len >> 8) as u8, len as u8])
            .await
            .unwrap();
        raw.write_all(text.as_bytes()).await.unwrap();
    }

    assert_eq!(json_sub.recv().await[4], json!(["everyone"]));
    assert_eq!(next_cbor(cbor_sub.next().await)[4], json!(["everyone"]));
    assert_eq!(
        receive(node_ref, &ca, &id).await.1.unwrap()[4],
        json!(["everyone"])
    );
}
