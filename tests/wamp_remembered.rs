//! Events the router remembers: a topic's retained event for subscribers that ask
//! (`retain`, `get_retained`), the event history of the topics a realm's `store` names
//! (`wamp.subscription.get_events`), and testaments published when their session ends.

mod common;
use common::*;
use serde_json::{json, Value};

/// A node whose realm1 keeps the last 3 events of `com.h` and the last 100 under `com.p.`.
fn history_node() -> (NodeDir, Ca, Node) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let mut config = web_config(port, json!({}), json!({}), open_roles());
    config["workers"][0]["realms"][0]["store"] = json!({"type": "memory", "limit": 100,
        "event-history": [{"uri": "com.h", "match": "exact", "limit": 3},
                          {"uri": "com.p.", "match": "prefix"}]});
    dir.config(&config);
    let node = dir.start(port);
    (dir, ca, node)
}

async fn subscribe(client: &mut Wamp, topic: &str, options: Value) -> u64 {
    client.send(json!([32, 1, options, topic])).await;
    let subscribed = client.recv().await;
    assert_eq!(subscribed[0], 33, "{subscribed}");
    subscribed[2].as_u64().unwrap()
}

async fn publish(client: &mut Wamp, topic: &str, options: Value, args: Value) -> u64 {
    let mut options = options;
    options["acknowledge"] = json!(true);
    client.send(json!([16, 7, options, topic, args])).await;
    let published = client.recv().await;
    assert_eq!(published[0], 17, "{published}");
    published[2].as_u64().unwrap()
}

async fn call(client: &mut Wamp, procedure: &str, args: Value) -> Value {
    client.send(json!([48, 9, {}, procedure, args])).await;
    client.recv().await
}

#[async_std::test]
async fn a_retained_event_reaches_a_later_subscriber_that_asks_for_it() {
    let (_dir, ca, node) = wamp_node(open_roles());
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    publish(
        &mut publisher,
        "com.state",
        json!({"retain": true}),
        json!(["old"]),
    )
    .await;
    let last = publish(
        &mut publisher,
        "com.state",
        json!({"retain": true}),
        json!(["new"]),
    )
    .await;

    let mut asks = Wamp::join(node.port, &ca.der).await;
    let sub = subscribe(&mut asks, "com.state", json!({"get_retained": true})).await;
    let event = asks.recv().await;
    assert_eq!((&event[0], &event[1]), (&json!(36), &json!(sub)));
    assert_eq!(event[3]["retained"], json!(true));
    assert_eq!(event[4], json!(["new"]), "only the last event is kept");
    assert_ne!(
        event[2],
        json!(last),
        "a retained event has a publication ID of its own"
    );
    asks.silent(200).await;

    let mut does_not_ask = Wamp::join(node.port, &ca.der).await;
    subscribe(&mut does_not_ask, "com.state", json!({})).await;
    does_not_ask.silent(200).await;

    // Published for one session only: another that asks does not get it.
    let mut chosen = Wamp::join(node.port, &ca.der).await;
    let mut other = Wamp::join(node.port, &ca.der).await;
    publish(
        &mut publisher,
        "com.private",
        json!({"retain": true, "eligible": [chosen.session]}),
        json!([1]),
    )
    .await;
    subscribe(&mut other, "com.private", json!({"get_retained": true})).await;
    other.silent(200).await;
    subscribe(&mut chosen, "com.private", json!({"get_retained": true})).await;
    assert_eq!(chosen.recv().await[4], json!([1]));
}

#[async_std::test]
async fn welcome_announces_event_retention_and_history() {
    let (_dir, ca, node) = wamp_node(open_roles());
    let mut ws = wss(node.port, &ca.der, "/ws", &["wamp.2.json"])
        .await
        .unwrap();
    use async_tungstenite::tungstenite::Message;
    use futures_util::StreamExt;
    let hello = json!([1, "realm1", {"roles": {"subscriber": {}}}]);
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let Some(Ok(Message::Text(text))) = ws.next().await else {
        panic!("no WELCOME")
    };
    let welcome: Value = serde_json::from_str(&text).unwrap();
    let features = &welcome[2]["roles"]["broker"]["features"];
    assert_eq!(
        (&features["event_retention"], &features["event_history"]),
        (&json!(true), &json!(true))
    );
}

#[async_std::test]
async fn the_history_keeps_each_event_once_subscribers_or_not_and_answers_newest_first() {
    let (_dir, ca, node) = history_node();
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    // Published while nobody subscribes: kept all the same (Crossbar keeps nothing then).
    for n in 1..=4 {
        publish(&mut publisher, "com.h", json!({}), json!([n])).await;
    }
    let mut first = Wamp::join(node.port, &ca.der).await;
    let mut second = Wamp::join(node.port, &ca.der).await;
    let sub = subscribe(&mut first, "com.h", json!({})).await;
    subscribe(&mut second, "com.h", json!({})).await;
    let fifth = publish(&mut publisher, "com.h", json!({}), json!([5])).await;
    first.recv().await;
    second.recv().await;

    let result = call(&mut first, "wamp.subscription.get_events", json!([sub, 10])).await;
    assert_eq!(result[0], 50, "{result}");
    let events = result[3][0].as_array().unwrap().clone();
    let ns: Vec<Value> = events.iter().map(|e| e["args"][0].clone()).collect();
    assert_eq!(
        ns,
        [json!(5), json!(4), json!(3)],
        "the last 3, newest first, each once (two subscribers)"
    );
    let newest = &events[0];
    assert_eq!(
        (&newest["publication"], &newest["topic"], &newest["realm"]),
        (&json!(fifth), &json!("com.h"), &json!("realm1"))
    );
    assert_eq!(
        (&newest["session_id"], &newest["authrole"]),
        (&json!(publisher.session), &json!("anonymous"))
    );
    assert!(newest["time_ns"].as_u64().unwrap() > 1_700_000_000_000_000_000);
    let two = call(&mut first, "wamp.subscription.get_events", json!([sub, 2])).await;
    assert_eq!(two[3][0].as_array().unwrap().len(), 2);

    // A prefix history answers for the prefix subscription to the same pattern.
    publish(&mut publisher, "com.p.a", json!({}), json!(["a"])).await;
    let prefix = subscribe(&mut first, "com.p.", json!({"match": "prefix"})).await;
    let result = call(&mut first, "wamp.subscription.get_events", json!([prefix])).await;
    assert_eq!(result[3][0][0]["topic"], json!("com.p.a"));

    let untracked = subscribe(&mut first, "com.other", json!({})).await;
    let error = call(
        &mut first,
        "wamp.subscription.get_events",
        json!([untracked]),
    )
    .await;
    assert_eq!(
        (&error[0], &error[4]),
        (&json!(8), &json!("wamp.error.history_unavailable"))
    );
    let error = call(&mut first, "wamp.subscription.get_events", json!([12345])).await;
    assert_eq!(error[4], json!("wamp.error.no_such_subscription"));
}

#[async_std::test]
async fn a_testament_is_published_when_its_session_ends_however_it_ends() {
    let (_dir, ca, node) = wamp_node(open_roles());
    let mut watcher = Wamp::join(node.port, &ca.der).await;
    subscribe(&mut watcher, "com.presence", json!({})).await;

    // Dropped without GOODBYE.
    let mut dropped = Wamp::join(node.port, &ca.der).await;
    let gone = dropped.session;
    let added = call(
        &mut dropped,
        "wamp.session.add_testament",
        json!(["com.presence", ["gone", gone], {"why": "lost"}]),
    )
    .await;
    assert_eq!(added[0], 50, "{added}");
    drop(dropped);
    let event = watcher.recv().await;
    assert_eq!(
        (&event[4], &event[5]),
        (&json!(["gone", gone]), &json!({"why": "lost"}))
    );

    // GOODBYE: published too (both scopes fire at the end).
    let mut polite = Wamp::join(node.port, &ca.der).await;
    call(
        &mut polite,
        "wamp.session.add_testament",
        json!(["com.presence", ["bye"], {}, {}, "detached"]),
    )
    .await;
    polite.send(json!([6, {}, "wamp.close.close_realm"])).await;
    assert_eq!(watcher.recv().await[4], json!(["bye"]));

    // Flushed testaments are not published; flush answers how many it removed.
    let mut changed_mind = Wamp::join(node.port, &ca.der).await;
    call(
        &mut changed_mind,
        "wamp.session.add_testament",
        json!(["com.presence", ["x"], {}]),
    )
    .await;
    call(
        &mut changed_mind,
        "wamp.session.add_testament",
        json!(["com.presence", ["y"], {}]),
    )
    .await;
    let flushed = call(
        &mut changed_mind,
        "wamp.session.flush_testaments",
        json!([]),
    )
    .await;
    assert_eq!(flushed[3], json!([2]));
    let wrong = call(
        &mut changed_mind,
        "wamp.session.flush_testaments",
        json!(["forever"]),
    )
    .await;
    assert_eq!(wrong[4], json!("wamp.error.testament_error"));
    drop(changed_mind);
    watcher.silent(300).await;
}

#[async_std::test]
async fn a_testament_needs_the_right_to_publish_and_stays_within_its_budget() {
    let roles = json!([{"name": "anonymous", "permissions": [
        {"uri": "", "match": "prefix", "allow": {"call": true, "subscribe": true}},
        {"uri": "com.mine.", "match": "prefix", "allow": {"publish": true}}]}]);
    let (_dir, ca, node) = wamp_node(roles);
    let mut session = Wamp::join(node.port, &ca.der).await;
    let refused = call(
        &mut session,
        "wamp.session.add_testament",
        json!(["com.theirs", [], {}]),
    )
    .await;
    assert_eq!(
        (&refused[0], &refused[4]),
        (&json!(8), &json!("wamp.error.not_authorized"))
    );
    let refused = call(
        &mut session,
        "wamp.session.add_testament",
        json!(["wamp.session.on_leave", [], {}]),
    )
    .await;
    assert_eq!(refused[4], json!("wamp.error.invalid_uri"));
    // 256 KiB of testaments per session: a few large ones fill it.
    let big = vec![0; 4000];
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(
            call(
                &mut session,
                "wamp.session.add_testament",
                json!(["com.mine.t", big, {}]),
            )
            .await,
        );
    }
    assert_eq!(answers[0][0], 50, "{}", answers[0]);
    assert!(
        answers
            .iter()
            .any(|a| a[4] == json!("wamp.error.testament_error")),
        "{answers:?}"
    );
}

#[async_std::test]
async fn the_history_keeps_no_event_meant_for_chosen_sessions_only() {
    let (_dir, ca, node) = history_node();
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    let mut reader = Wamp::join(node.port, &ca.der).await;
    let sub = subscribe(&mut reader, "com.h", json!({})).await;
    publish(
        &mut publisher,
        "com.h",
        json!({"eligible": [reader.session]}),
        json!(["private"]),
    )
    .await;
    reader.recv().await;
    publish(&mut publisher, "com.h", json!({}), json!(["public"])).await;
    reader.recv().await;
    let result = call(&mut reader, "wamp.subscription.get_events", json!([sub])).await;
    let kept: Vec<Value> = result[3][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["args"][0].clone())
        .collect();
    assert_eq!(kept, [json!("public")]);
}
