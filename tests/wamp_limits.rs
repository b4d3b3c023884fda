//! What one WAMP session may make the router hold: subscriptions, registrations, calls in
//! flight as caller and invocations in flight as callee, each bounded per session with its
//! own error URI; and a session holding a great deal leaves without taking others with it.

mod common;
use common::*;
use serde_json::{json, Value};

/// Sends `messages` in one write, then reads one reply per message.
async fn pipelined(client: &mut Wamp, messages: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let messages: Vec<Value> = messages.into_iter().collect();
    let n = messages.len();
    client.send_all(messages).await;
    let mut replies = Vec::with_capacity(n);
    for _ in 0..n {
        replies.push(client.recv().await);
    }
    replies
}

fn error_uri(reply: &Value) -> &str {
    assert_eq!(reply[0], json!(8), "expected ERROR, got {reply}");
    reply[4].as_str().unwrap()
}

#[async_std::test]
async fn a_session_over_max_subscriptions_gets_too_many_subscriptions() {
    let (_dir, ca, node) = wamp_node_with(json!({"max_subscriptions": 3}));
    let mut client = Wamp::join(node.port, &ca.der).await;
    let replies = pipelined(
        &mut client,
        (1..=4).map(|i| json!([32, i, {}, format!("com.example.t{i}")])),
    )
    .await;
    for reply in &replies[..3] {
        assert_eq!(reply[0], json!(33), "{reply}");
    }
    assert_eq!(
        error_uri(&replies[3]),
        "wssnode.error.too_many_subscriptions"
    );
    // Subscribing again to a held topic is no new subscription; leaving one makes room.
    client.send(json!([32, 5, {}, "com.example.t1"])).await;
    assert_eq!(client.recv().await[2], replies[0][2]);
    client.send(json!([34, 6, replies[0][2]])).await;
    assert_eq!(client.recv().await[0], json!(35));
    client.send(json!([32, 7, {}, "com.example.t4"])).await;
    assert_eq!(client.recv().await[0], json!(33));
}

#[async_std::test]
async fn a_session_over_max_registrations_gets_too_many_registrations() {
    let (_dir, ca, node) = wamp_node_with(json!({"max_registrations": 2}));
    let mut client = Wamp::join(node.port, &ca.der).await;
    let replies = pipelined(
        &mut client,
        (1..=3).map(|i| json!([64, i, {}, format!("com.example.p{i}")])),
    )
    .await;
    assert_eq!(replies[0][0], json!(65));
    assert_eq!(replies[1][0], json!(65));
    assert_eq!(
        error_uri(&replies[2]),
        "wssnode.error.too_many_registrations"
    );
}

#[async_std::test]
async fn calls_in_flight_are_bounded_for_the_caller_and_for_the_callee() {
    let (_dir, ca, node) =
        wamp_node_with(json!({"max_calls_in_flight": 2, "max_invocations_in_flight": 3}));
    let mut callee = Wamp::join(node.port, &ca.der).await;
    callee.send(json!([64, 1, {}, "com.example.never"])).await;
    assert_eq!(callee.recv().await[0], json!(65));

    // The caller's third call while two wait: refused, and only that one.
    let mut caller = Wamp::join(node.port, &ca.der).await;
    for request in 1..=3 {
        caller
            .send(json!([48, request, {}, "com.example.never"]))
            .await;
    }
    let refused = caller.recv().await;
    assert_eq!(refused[2], json!(3));
    assert_eq!(error_uri(&refused), "wssnode.error.too_many_calls");
    for _ in 0..2 {
        assert_eq!(callee.recv().await[0], json!(68));
    }

    // The callee holds two; a second caller may add one more, not two.
    let mut other = Wamp::join(node.port, &ca.der).await;
    other.send(json!([48, 1, {}, "com.example.never"])).await;
    let invocation = callee.recv().await;
    assert_eq!(invocation[0], json!(68));
    other.send(json!([48, 2, {}, "com.example.never"])).await;
    let refused = other.recv().await;
    assert_eq!(refused[2], json!(2));
    assert_eq!(error_uri(&refused), "wssnode.error.too_many_invocations");

    // An answer frees a place.
    callee.send(json!([70, invocation[1], {}, ["done"]])).await;
    assert_eq!(other.recv().await, json!([50, 1, {}, ["done"]]));
    other.send(json!([48, 3, {}, "com.example.never"])).await;
    assert_eq!(callee.recv().await[0], json!(68));
}

#[async_std::test]
async fn a_session_with_many_subscriptions_leaves_and_others_keep_theirs() {
    let (_dir, ca, node) = wamp_node_with(json!({"max_subscriptions": 100_000}));
    let mut big = Wamp::join(node.port, &ca.der).await;
    let mut other = Wamp::join(node.port, &ca.der).await;
    let shared = pipelined(&mut other, [json!([32, 1, {}, "com.example.t6"])]).await[0][2].clone();

    // Exact, prefix and wildcard subscriptions, far more than one batch of the leave.
    let subscribe = (0..20_000).map(|i| match i % 3 {
        0 => json!([32, i + 1, {}, format!("com.example.t{i}")]),
        1 => json!([32, i + 1, {"match": "prefix"}, format!("com.example.p{i}.")]),
        _ => json!([32, i + 1, {"match": "wildcard"}, format!("com.w{i}..x")]),
    });
    let replies = pipelined(&mut big, subscribe).await;
    assert!(replies.iter().all(|r| r[0] == json!(33)));
    assert_eq!(replies[6][2], shared, "one subscription per topic");

    // The topic both hold reaches only the one that stays once the other left.
    big.send(json!([6, {}, "wamp.close.close_realm"])).await;
    assert_eq!(big.recv().await[0], json!(6));
    let mut remaining = Value::Null;
    for attempt in 1..=50 {
        remaining = pipelined(
            &mut other,
            [json!([48, attempt, {}, "wamp.subscription.list"])],
        )
        .await
        .remove(0);
        if remaining[3][0]["prefix"] == json!([]) && remaining[3][0]["wildcard"] == json!([]) {
            break;
        }
        async_std::task::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        remaining[3][0],
        json!({"exact": [shared], "prefix": [], "wildcard": []})
    );
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    publisher
        .send(json!([16, 1, {}, "com.example.t6", ["still here"]]))
        .await;
    assert_eq!(other.recv().await[4], json!(["still here"]));
}

#[async_std::test]
async fn a_pattern_longer_than_the_bound_is_an_invalid_uri() {
    let (_dir, ca, node) = wamp_node_with(json!({}));
    let mut client = Wamp::join(node.port, &ca.der).await;
    let long = format!("com.{}", "a".repeat(2000));
    client
        .send(json!([32, 1, {"match": "prefix"}, long.clone()]))
        .await;
    let reply = client.recv().await;
    assert_eq!(error_uri(&reply), "wamp.error.invalid_uri");
    assert!(reply[5][1].as_str().unwrap().contains("at most 1024 bytes"));
    // An exact topic has a larger one: 4 KiB.
    client.send(json!([32, 2, {}, long])).await;
    assert_eq!(client.recv().await[0], json!(33));
    let too_long = format!("com.{}", "a".repeat(4096));
    client.send(json!([32, 3, {}, too_long])).await;
    let reply = client.recv().await;
    assert_eq!(error_uri(&reply), "wamp.error.invalid_uri");
    assert!(reply[5][1].as_str().unwrap().contains("at most 4096 bytes"));
}

#[async_std::test]
async fn a_callee_that_leaves_with_many_subscriptions_can_register_again_at_once() {
    let (_dir, ca, node) = wamp_node_with(json!({"max_subscriptions": 100_000}));
    let mut callee = Wamp::join(node.port, &ca.der).await;
    callee.send(json!([64, 1, {}, "com.example.add"])).await;
    assert_eq!(callee.recv().await[0], json!(65));
    let subscribe = (0..5_000).map(|i| json!([32, i + 2, {}, format!("com.example.t{i}")]));
    assert!(pipelined(&mut callee, subscribe)
        .await
        .iter()
        .all(|r| r[0] == json!(33)));
    callee.send(json!([6, {}, "wamp.close.close_realm"])).await;
    assert_eq!(callee.recv().await[0], json!(6));

    // Back at once: its old registration is gone before its subscriptions are.
    let mut again = Wamp::join(node.port, &ca.der).await;
    again.send(json!([64, 1, {}, "com.example.add"])).await;
    let reply = again.recv().await;
    assert_eq!(reply[0], json!(65), "{reply}");
}
