//! WAMP publish and subscribe: the Basic Profile flow and the Advanced Profile options.

mod common;
use common::*;
use serde_json::json;

fn node() -> (NodeDir, Ca, Node) {
    wamp_node(json!([
        {"name": "anonymous", "permissions": [
            {"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}},
            {"uri": "open.", "match": "prefix", "allow": {"publish": true, "subscribe": true}, "disclose": {"publisher": true}},
            {"uri": "locked.", "match": "prefix", "allow": {"subscribe": true}}]}
    ]))
}

async fn subscribe(
    client: &mut Wamp,
    request: u64,
    options: serde_json::Value,
    topic: &str,
) -> u64 {
    client.send(json!([32, request, options, topic])).await;
    let reply = client.recv().await;
    assert_eq!(fields(&reply, 2), [json!(33), json!(request)], "{reply}");
    reply[2].as_u64().unwrap()
}

#[async_std::test]
async fn a_publish_reaches_subscribers_but_not_the_publisher() {
    let (_dir, ca, node) = node();
    let mut sub = Wamp::join(node.port, &ca.der).await;
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    let sub_id = subscribe(&mut sub, 1, json!({}), "com.example.topic").await;
    subscribe(&mut publisher, 1, json!({}), "com.example.topic").await;
    publisher
        .send(json!([16, 2, {"acknowledge": true}, "com.example.topic", [1, "two"], {"three": 3}]))
        .await;
    let published = publisher.recv().await;
    assert_eq!(fields(&published, 2), [json!(17), json!(2)]);
    let event = sub.recv().await;
    assert_eq!(
        event,
        json!([36, sub_id, published[2], {}, [1, "two"], {"three": 3}])
    );
    publisher.silent(200).await;
    // exclude_me: false delivers to the publisher too.
    publisher
        .send(json!([16, 3, {"exclude_me": false}, "com.example.topic", ["me too"]]))
        .await;
    assert_eq!(publisher.recv().await[4], json!(["me too"]));
}

#[async_std::test]
async fn prefix_and_wildcard_subscriptions_get_the_topic_in_details() {
    let (_dir, ca, node) = node();
    let mut sub = Wamp::join(node.port, &ca.der).await;
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    let prefix = subscribe(&mut sub, 1, json!({"match": "prefix"}), "com.myapp").await;
    let wildcard = subscribe(&mut sub, 2, json!({"match": "wildcard"}), "com..update").await;
    publisher
        .send(json!([16, 1, {}, "com.myapp.update", ["x"]]))
        .await;
    let mut got = [sub.recv().await, sub.recv().await];
    got.sort_by_key(|e| e[1].as_u64());
    let mut want = [(prefix, "com.myapp.update"), (wildcard, "com.myapp.update")];
    want.sort();
    for (event, (id, topic)) in got.iter().zip(want) {
        assert_eq!(event[1], json!(id));
        assert_eq!(event[3]["topic"], json!(topic));
    }
    publisher.send(json!([16, 2, {}, "com.other.update"])).await;
    assert_eq!(sub.recv().await[1], json!(wildcard));
    sub.silent(200).await;
}

#[async_std::test]
async fn black_and_whitelisting_choose_the_receivers() {
    let (_dir, ca, node) = node();
    let mut a = Wamp::join(node.port, &ca.der).await;
    let mut b = Wamp::join(node.port, &ca.der).await;
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    subscribe(&mut a, 1, json!({}), "t.x").await;
    subscribe(&mut b, 1, json!({}), "t.x").await;
    publisher
        .send(json!([16, 1, {"exclude": [a.session]}, "t.x", ["not a"]]))
        .await;
    assert_eq!(b.recv().await[4], json!(["not a"]));
    publisher
        .send(json!([16, 2, {"eligible": [a.session]}, "t.x", ["only a"]]))
        .await;
    assert_eq!(a.recv().await[4], json!(["only a"]));
    publisher
        .send(json!([16, 3, {"exclude_authrole": ["anonymous"]}, "t.x", ["nobody"]]))
        .await;
    publisher.send(json!([16, 4, {"eligible_authrole": ["anonymous"], "exclude_authid": ["nobody"]}, "t.x", ["all"]])).await;
    assert_eq!(a.recv().await[4], json!(["all"]));
    assert_eq!(b.recv().await[4], json!(["all"]));
    a.silent(200).await;
    b.silent(100).await;
}

#[async_std::test]
async fn publisher_identification_by_role_or_by_disclose_me() {
    let (_dir, ca, node) = node();
    let mut sub = Wamp::join(node.port, &ca.der).await;
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    subscribe(&mut sub, 1, json!({}), "open.news").await;
    subscribe(&mut sub, 2, json!({}), "quiet.news").await;
    publisher.send(json!([16, 1, {}, "open.news"])).await;
    let event = sub.recv().await;
    assert_eq!(event[3]["publisher"], json!(publisher.session));
    assert_eq!(event[3]["publisher_authrole"], json!("anonymous"));
    publisher.send(json!([16, 2, {}, "quiet.news"])).await;
    assert!(sub.recv().await[3].get("publisher").is_none());
    publisher
        .send(json!([16, 3, {"disclose_me": true}, "quiet.news"]))
        .await;
    assert_eq!(sub.recv().await[3]["publisher"], json!(publisher.session));
}

#[async_std::test]
async fn errors_use_the_spec_uris() {
    let (_dir, ca, node) = node();
    let mut client = Wamp::join(node.port, &ca.der).await;
    client
        .send(json!([16, 1, {"acknowledge": true}, "locked.x"]))
        .await;
    assert_eq!(
        client.recv().await,
        json!([
            8,
            16,
            1,
            {},
            "wamp.error.not_authorized",
            [
                "session not authorized to publish to topic 'locked.x'",
                "role `anonymous` may not publish to `locked.x`"
            ]
        ]),
        "Crossbar's text first, which applications match on, then ours"
    );
    client
        .send(json!([16, 2, {"acknowledge": true}, "bad..uri"]))
        .await;
    let error = client.recv().await;
    assert_eq!(error[4], json!("wamp.error.invalid_uri"));
    assert_eq!(
        error[5][0],
        "publish with invalid topic URI 'bad..uri' (URI strict checking False)"
    );
    client
        .send(json!([16, 7, {"acknowledge": true}, "wamp.session.on_join"]))
        .await;
    let error = client.recv().await;
    assert_eq!(error[4], json!("wamp.error.invalid_uri"));
    assert_eq!(
        error[5][0],
        "publish with restricted topic URI 'wamp.session.on_join'"
    );
    client.send(json!([16, 3, {}, "locked.x"])).await;
    client.silent(200).await; // no acknowledge, no error
    client.send(json!([32, 4, {"match": "regex"}, "a"])).await;
    assert_eq!(client.recv().await[4], json!("wamp.error.invalid_argument"));
    client.send(json!([32, 5, {}, "bad uri"])).await;
    let error = client.recv().await;
    assert_eq!(error[4], json!("wamp.error.invalid_uri"));
    assert_eq!(error[5][0], "subscribe for invalid topic URI 'bad uri'");
    client.send(json!([34, 6, 12345])).await;
    assert_eq!(
        fields(&client.recv().await, 5),
        [
            json!(8),
            json!(34),
            json!(6),
            json!({}),
            json!("wamp.error.no_such_subscription")
        ]
    );
}

#[async_std::test]
async fn unsubscribe_stops_events_and_the_subscription_is_shared() {
    let (_dir, ca, node) = node();
    let mut a = Wamp::join(node.port, &ca.der).await;
    let mut b = Wamp::join(node.port, &ca.der).await;
    let id_a = subscribe(&mut a, 1, json!({}), "t.y").await;
    let id_b = subscribe(&mut b, 1, json!({}), "t.y").await;
    assert_eq!(id_a, id_b, "one subscription per topic and policy");
    a.send(json!([34, 2, id_a])).await;
    assert_eq!(a.recv().await, json!([35, 2]));
    b.send(json!([16, 2, {"exclude_me": false}, "t.y"])).await;
    assert_eq!(b.recv().await[0], json!(36));
    a.silent(200).await;
}

#[async_std::test]
async fn a_wrong_typed_acknowledge_is_an_invalid_argument_like_other_options() {
    let (_dir, ca, node) = node();
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    publisher
        .send(json!([16, 1, {"acknowledge": "yes"}, "com.example.topic"]))
        .await;
    let reply = publisher.recv().await;
    assert_eq!(
        fields(&reply, 3),
        [json!(8), json!(16), json!(1)],
        "{reply}"
    );
    assert_eq!(reply[4], json!("wamp.error.invalid_argument"));
}
