//! The `wamp.2.msgpack` serializer: binary frames, and binary payloads that reach JSON
//! sessions in the spec's "\0" + base64 form and msgpack sessions as bytes.

mod common;
use async_tungstenite::tungstenite::Message;
use common::*;
use futures_util::StreamExt;
use rmpv::Value as Mp;
use serde_json::json;

async fn send_mp(ws: &mut Ws, value: Mp) {
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &value).unwrap();
    ws.send(Message::Binary(bytes.into())).await.unwrap();
}

async fn recv_mp(ws: &mut Ws) -> Mp {
    loop {
        match async_std::future::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Binary(bytes))) => {
                return rmpv::decode::read_value(&mut &bytes[..]).unwrap()
            }
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

fn mp(items: Vec<Mp>) -> Mp {
    Mp::Array(items)
}

#[async_std::test]
async fn msgpack_sessions_and_json_sessions_share_a_realm_and_binary_payloads() {
    let (_dir, ca, node) = wamp_node(open_roles());
    let mut json_sub = Wamp::join(node.port, &ca.der).await;
    json_sub.send(json!([32, 1, {}, "com.bin"])).await;
    json_sub.recv().await;

    let mut ws = wss(
        node.port,
        &ca.der,
        "/ws",
        &["wamp.2.msgpack", "wamp.2.json"],
    )
    .await
    .unwrap();
    send_mp(
        &mut ws,
        mp(vec![
            1.into(),
            "realm1".into(),
            Mp::Map(vec![("roles".into(), Mp::Map(vec![]))]),
        ]),
    )
    .await;
    let welcome = recv_mp(&mut ws).await;
    assert_eq!(welcome[0].as_u64(), Some(2), "{welcome}");

    // Subscribe from msgpack too, with exclude_me off, and publish three bytes.
    let options = |pairs: Vec<(&str, Mp)>| {
        Mp::Map(pairs.into_iter().map(|(k, v)| (Mp::from(k), v)).collect())
    };
    send_mp(
        &mut ws,
        mp(vec![32.into(), 1.into(), options(vec![]), "com.bin".into()]),
    )
    .await;
    assert_eq!(recv_mp(&mut ws).await[0].as_u64(), Some(33));
    let payload = mp(vec![Mp::Binary(vec![0, 1, 2])]);
    send_mp(
        &mut ws,
        mp(vec![
            16.into(),
            2.into(),
            options(vec![("exclude_me", false.into())]),
            "com.bin".into(),
            payload,
        ]),
    )
    .await;

    let event = recv_mp(&mut ws).await;
    assert_eq!(event[0].as_u64(), Some(36));
    assert_eq!(
        event[4],
        mp(vec![Mp::Binary(vec![0, 1, 2])]),
        "bytes stay bytes for msgpack"
    );
    let event = json_sub.recv().await;
    assert_eq!(
        event[4],
        json!(["\u{0}AAEC"]),
        "JSON gets the spec's binary form"
    );
}

#[async_std::test]
async fn a_text_frame_on_a_msgpack_session_is_a_protocol_violation() {
    let (_dir, ca, node) = wamp_node(open_roles());
    let mut ws = wss(node.port, &ca.der, "/ws", &["wamp.2.msgpack"])
        .await
        .unwrap();
    ws.send(Message::Text("[1, \"realm1\", {}]".into()))
        .await
        .unwrap();
    let abort = recv_mp(&mut ws).await;
    assert_eq!(abort[0].as_u64(), Some(3));
    assert_eq!(abort[2].as_str(), Some("wamp.error.protocol_violation"));
}

#[async_std::test]
async fn a_msgpack_string_that_is_not_utf8_is_refused_as_such() {
    let (_dir, ca, node) = wamp_node(open_roles());
    let mut ws = wss(node.port, &ca.der, "/ws", &["wamp.2.msgpack"])
        .await
        .unwrap();
    send_mp(
        &mut ws,
        mp(vec![1.into(), "realm1".into(), Mp::Map(vec![])]),
    )
    .await;
    assert_eq!(recv_mp(&mut ws).await[0].as_u64(), Some(2));
    // [SUBSCRIBE, 1, {}, "a.\xff\xfe"] written byte by byte: fixarray 4, 32, 1, fixmap 0,
    // fixstr 4.
    let subscribe = vec![0x94, 0x20, 0x01, 0x80, 0xa4, b'a', b'.', 0xff, 0xfe];
    ws.send(Message::Binary(subscribe.into())).await.unwrap();
    let abort = recv_mp(&mut ws).await;
    assert_eq!(abort[0].as_u64(), Some(3));
    assert_eq!(abort[2].as_str(), Some("wamp.error.protocol_violation"));
    let text = abort[1]["message"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("not UTF-8"), "{text}");
}

#[async_std::test]
async fn a_message_nested_a_million_deep_is_a_protocol_violation_not_a_crash() {
    let (_dir, ca, node) = wamp_node(open_roles());
    let mut ws = wss(node.port, &ca.der, "/ws", &["wamp.2.msgpack"])
        .await
        .unwrap();
    // A one-element array inside a one-element array, a million times: 1 MB.
    let mut bytes = vec![0x91; 1_000_000 - 1];
    bytes.push(1);
    ws.send(Message::Binary(bytes.into())).await.unwrap();
    let abort = recv_mp(&mut ws).await;
    assert_eq!(abort[0].as_u64(), Some(3), "{abort}");
    // The node is still there for everyone else.
    let mut other = Wamp::join(node.port, &ca.der).await;
    other.send(json!([32, 1, {}, "com.x"])).await;
    assert_eq!(other.recv().await[0], 33);
}
