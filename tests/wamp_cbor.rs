//! The `wamp.2.cbor` serializer: binary frames, and binary payloads that reach JSON sessions
//! in the spec's "\0" + base64 form and CBOR sessions as bytes.

mod common;
use async_tungstenite::tungstenite::Message;
use ciborium::value::Value as Cb;
use common::*;
use futures_util::StreamExt;
use serde_json::json;

async fn send_cb(ws: &mut Ws, value: Cb) {
    let mut bytes = Vec::new();
    ciborium::into_writer(&value, &mut bytes).unwrap();
    ws.send(Message::Binary(bytes.into())).await.unwrap();
}

async fn recv_cb(ws: &mut Ws) -> Vec<Cb> {
    loop {
        match async_std::future::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Binary(bytes))) => {
                let value: Cb = ciborium::from_reader(&bytes[..]).unwrap();
                return value.into_array().unwrap();
            }
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

fn int(n: u64) -> Cb {
    Cb::Integer(n.into())
}

fn text(s: &str) -> Cb {
    Cb::Text(s.into())
}

#[async_std::test]
async fn cbor_sessions_and_json_sessions_share_a_realm_and_binary_payloads() {
    let (_dir, ca, node) = wamp_node(open_roles());
    let mut json_sub = Wamp::join(node.port, &ca.der).await;
    json_sub.send(json!([32, 1, {}, "com.bin"])).await;
    json_sub.recv().await;

    let mut ws = wss(node.port, &ca.der, "/ws", &["wamp.2.cbor"])
        .await
        .unwrap();
    let roles = Cb::Map(vec![(text("roles"), Cb::Map(vec![]))]);
    send_cb(&mut ws, Cb::Array(vec![int(1), text("realm1"), roles])).await;
    let welcome = recv_cb(&mut ws).await;
    assert_eq!(welcome[0], int(2));

    send_cb(
        &mut ws,
        Cb::Array(vec![int(32), int(1), Cb::Map(vec![]), text("com.bin")]),
    )
    .await;
    assert_eq!(recv_cb(&mut ws).await[0], int(33));
    let options = Cb::Map(vec![(text("exclude_me"), Cb::Bool(false))]);
    let payload = Cb::Array(vec![Cb::Bytes(vec![0, 1, 2])]);
    send_cb(
        &mut ws,
        Cb::Array(vec![
            int(16),
            int(2),
            options,
            text("com.bin"),
            payload.clone(),
        ]),
    )
    .await;

    // The CBOR subscriber gets the bytes back as bytes; the JSON one as "\0" + base64.
    let json_event = json_sub.recv().await;
    assert_eq!(json_event[4], json!(["\u{0}AAEC"]));
    let event = recv_cb(&mut ws).await;
    assert_eq!(event[0], int(36));
    assert_eq!(event[4], payload);
}

#[async_std::test]
async fn cbor_that_is_not_wamp_ends_the_session_with_protocol_violation() {
    let (_dir, ca, node) = wamp_node(open_roles());
    let mut ws = wss(node.port, &ca.der, "/ws", &["wamp.2.cbor"])
        .await
        .unwrap();
    // A map with an integer key where HELLO.Details must have text keys.
    let details = Cb::Map(vec![(int(1), int(2))]);
    send_cb(&mut ws, Cb::Array(vec![int(1), text("realm1"), details])).await;
    let abort = recv_cb(&mut ws).await;
    assert_eq!(abort[0], int(3));
    assert_eq!(abort[2], text("wamp.error.protocol_violation"));
}
