//! WAMP sessions: realms, authentication, the meta API, and misbehaving clients.

mod common;
use async_tungstenite::tungstenite::Message;
use common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};

fn node_with_auth(auth: Value, ca_certificates: bool) -> (NodeDir, Ca, Node) {
    node_with(auth, ca_certificates, 4096)
}

fn node_with(auth: Value, ca_certificates: bool, max_message_size: u64) -> (NodeDir, Ca, Node) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    dir.write("ca.pem", &ca.cert_pem);
    let port = free_port();
    let roles = json!([
        {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]},
        {"name": "user", "permissions": [{"uri": "com.", "match": "prefix", "allow": {"call": true}}]}
    ]);
    let tls = if ca_certificates {
        json!({"ca_certificates": ["ca.pem"]})
    } else {
        json!({})
    };
    let mut config = web_config(
        port,
        tls,
        json!({"ws": {"type": "websocket", "auth": auth, "options": {"max_message_size": max_message_size}}}),
        roles,
    );
    config["workers"][0]["realms"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "realm2", "roles": []}));
    dir.config(&config);
    let node = dir.start(port);
    (dir, ca, node)
}

fn open_node() -> (NodeDir, Ca, Node) {
    node_with_auth(
        json!({"anonymous": {"type": "static", "role": "anonymous"}}),
        false,
    )
}

async fn hello(port: u16, ca: &Ca, realm: &str, details: Value) -> Wamp {
    let ws = wss(port, &ca.der, "/ws", &["wamp.2.json"]).await.unwrap();
    let mut w = Wamp { ws, session: 0 };
    w.send(json!([1, realm, details])).await;
    w
}

#[async_std::test]
async fn welcome_announces_the_router_roles_and_a_session_id_in_range() {
    let (_dir, ca, node) = open_node();
    let mut w = hello(
        node.port,
        &ca,
        "realm1",
        json!({"roles": {"subscriber": {}}}),
    )
    .await;
    let welcome = w.recv().await;
    assert_eq!(welcome[0], json!(2));
    let id = welcome[1].as_u64().unwrap();
    assert!((1..=1u64 << 53).contains(&id));
    assert_eq!(welcome[2]["authrole"], json!("anonymous"));
    assert_eq!(
        welcome[2]["roles"]["dealer"]["features"]["call_timeout"],
        json!(true)
    );
    assert_eq!(
        welcome[2]["roles"]["broker"]["features"]["pattern_based_subscription"],
        json!(true)
    );
    w.send(json!([6, {}, "wamp.close.system_shutdown"])).await;
    assert_eq!(
        w.recv().await,
        json!([6, {}, "wamp.close.normal"]),
        "Crossbar's reply, which a client's onLeave shows"
    );
}

#[async_std::test]
async fn an_unknown_realm_is_aborted_with_no_such_realm() {
    let (_dir, ca, node) = open_node();
    let mut w = hello(node.port, &ca, "nowhere", json!({})).await;
    let abort = w.recv().await;
    assert_eq!(fields(&abort, 1), [json!(3)]);
    assert_eq!(abort[2], json!("wamp.error.no_such_realm"));
}

#[async_std::test]
async fn a_role_missing_from_the_realm_is_no_such_role() {
    let (_dir, ca, node) = open_node();
    let mut w = hello(node.port, &ca, "realm2", json!({})).await;
    assert_eq!(w.recv().await[2], json!("wamp.error.no_such_role"));
}

#[async_std::test]
async fn ticket_authentication_needs_the_right_ticket_for_the_authid() {
    let (_dir, ca, node) = node_with_auth(
        json!({"ticket": {"type": "static", "principals": {"joe": {"ticket": "s3cret", "role": "user"}}}}),
        false,
    );
    let mut w = hello(
        node.port,
        &ca,
        "realm1",
        json!({"authmethods": ["ticket"], "authid": "joe"}),
    )
    .await;
    assert_eq!(w.recv().await, json!([4, "ticket", {}]));
    w.send(json!([5, "s3cret", {}])).await;
    let welcome = w.recv().await;
    assert_eq!(
        (
            welcome[2]["authid"].clone(),
            welcome[2]["authrole"].clone(),
            welcome[2]["authmethod"].clone()
        ),
        (json!("joe"), json!("user"), json!("ticket"))
    );
    // The role's permissions apply.
    w.send(json!([16, 1, {"acknowledge": true}, "com.x"])).await;
    assert_eq!(w.recv().await[4], json!("wamp.error.not_authorized"));

    for (authid, ticket) in [("joe", "wrong"), ("ann", "s3cret")] {
        let mut w = hello(
            node.port,
            &ca,
            "realm1",
            json!({"authmethods": ["ticket"], "authid": authid}),
        )
        .await;
        assert_eq!(w.recv().await[0], json!(4));
        w.send(json!([5, ticket, {}])).await;
        let abort = w.recv().await;
        assert_eq!(
            abort,
            json!([3, {"message": "authentication failed"}, "wamp.error.not_authorized"])
        );
    }
    let mut w = hello(node.port, &ca, "realm1", json!({})).await;
    let abort = w.recv().await;
    assert!(
        abort[1]["message"]
            .as_str()
            .unwrap()
            .contains("accepts: ticket"),
        "{abort}"
    );
}

#[async_std::test]
async fn tls_authentication_takes_the_identity_from_the_client_certificate() {
    let dir_ca = Ca::new("unused");
    drop(dir_ca);
    // Node first, so the fingerprint of a certificate from its CA can go in the config.
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    dir.write("ca.pem", &ca.cert_pem);
    let alice = ca.client("alice");
    let sha1 = {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(alice.cert_pem.as_bytes())
            .unwrap();
        let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
        out.trim().split('=').nth(1).unwrap().to_string()
    };
    let port = free_port();
    let roles = json!([{"name": "user", "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true}}]}]);
    let auth = json!({"tls": {"type": "static", "principals": {"alice": {"certificate-sha1": sha1, "role": "user"}}}});
    dir.config(&web_config(
        port,
        json!({"ca_certificates": ["ca.pem"]}),
        json!({"ws": {"type": "websocket", "auth": auth}}),
        roles,
    ));
    let _node = dir.start(port);

    let join = |client: Issued, claimed: Option<&'static str>| {
        let ca_der = ca.der.clone();
        async move {
            let ws = wss_with(
                port,
                client_tls(&ca_der, Some(&client)),
                "/ws",
                &["wamp.2.json"],
            )
            .await
            .unwrap();
            let mut w = Wamp { ws, session: 0 };
            let mut details = json!({"authmethods": ["tls"]});
            if let Some(id) = claimed {
                details["authid"] = json!(id);
            }
            w.send(json!([1, "realm1", details])).await;
            w.recv().await
        }
    };
    let welcome = join(alice, None).await;
    assert_eq!(
        (
            welcome[0].clone(),
            welcome[2]["authid"].clone(),
            welcome[2]["authmethod"].clone()
        ),
        (json!(2), json!("alice"), json!("tls"))
    );
    let bob = ca.client("bob");
    assert_eq!(join(bob, None).await[2], json!("wamp.error.not_authorized"));
    let alice_again = ca.client("alice");
    assert_eq!(
        join(alice_again, Some("alice")).await[2],
        json!("wamp.error.not_authorized"),
        "a new certificate, same name: not alice"
    );
}

async fn expect_violation(w: &mut Wamp, says: &str) {
    let abort = w.recv().await;
    assert_eq!(abort[0], json!(3), "{abort}");
    assert_eq!(abort[2], json!("wamp.error.protocol_violation"));
    let text = abort[1]["message"].as_str().unwrap();
    assert!(text.contains(says), "{text}");
}

#[async_std::test]
async fn protocol_violations_abort_only_that_session() {
    let (_dir, ca, node) = open_node();
    let mut bystander = Wamp::join(node.port, &ca.der).await;
    bystander.send(json!([32, 1, {}, "t.z"])).await;
    bystander.recv().await;

    let mut w = hello(node.port, &ca, "realm1", json!({})).await;
    w.recv().await;
    w.send_text("[16, 1, {}, ").await;
    expect_violation(&mut w, "not valid JSON").await;

    let ws = wss(node.port, &ca.der, "/ws", &["wamp.2.json"])
        .await
        .unwrap();
    let mut w = Wamp { ws, session: 0 };
    w.send(json!([32, 1, {}, "t.z"])).await;
    expect_violation(&mut w, "SUBSCRIBE before the session was established").await;

    let mut w = Wamp::join(node.port, &ca.der).await;
    w.send(json!([16, "one", {}, "t.z"])).await;
    expect_violation(&mut w, "PUBLISH Request must be an integer ID").await;

    let mut w = Wamp::join(node.port, &ca.der).await;
    w.send(json!([70, 99, {}])).await;
    expect_violation(&mut w, "never sent").await;

    let mut w = Wamp::join(node.port, &ca.der).await;
    w.ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    expect_violation(&mut w, "binary frame").await;

    let mut w = Wamp::join(node.port, &ca.der).await;
    w.send(json!([1, "realm1", {}])).await;
    expect_violation(&mut w, "already established").await;

    // Nobody else noticed.
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    publisher
        .send(json!([16, 1, {}, "t.z", ["still here"]]))
        .await;
    assert_eq!(bystander.recv().await[4], json!(["still here"]));
}

#[async_std::test]
async fn a_message_over_max_message_size_closes_with_1009() {
    let (_dir, ca, node) = open_node();
    let mut w = Wamp::join(node.port, &ca.der).await;
    w.send(json!([16, 1, {}, "t.big", ["x".repeat(10_000)]]))
        .await;
    loop {
        match w.ws.next().await {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1009);
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected close 1009, got {other:?}"),
        }
    }
}

#[async_std::test]
async fn a_subscriber_that_stops_reading_is_dropped_and_others_go_on() {
    let (_dir, ca, node) = node_with(
        json!({"anonymous": {"type": "static", "role": "anonymous"}}),
        false,
        1 << 20,
    );
    let mut slow = Wamp::join(node.port, &ca.der).await;
    slow.send(json!([32, 1, {}, "t.flood"])).await;
    slow.recv().await;
    let mut fast = Wamp::join(node.port, &ca.der).await;
    fast.send(json!([32, 1, {}, "t.flood"])).await;
    fast.recv().await;
    let mut publisher = Wamp::join(node.port, &ca.der).await;
    // `slow` never reads; `fast` reads everything. Bounded: 3,000 events of 16 KiB, more
    // than the queue and both sockets' buffers hold.
    let payload = "p".repeat(16 * 1024);
    let reader = async_std::task::spawn(async move {
        let mut n = 0;
        while n < 3000 {
            match fast.next().await {
                Some(v) if v[0] == json!(36) => n += 1,
                Some(_) => {}
                None => break,
            }
        }
        (n, fast)
    });
    for i in 1..=3000u64 {
        publisher
            .send(json!([16, i, {}, "t.flood", [payload]]))
            .await;
    }
    let (received, _fast) = reader.await;
    assert_eq!(received, 3000, "the fast subscriber got every event");
    publisher
        .send(json!([48, 1, {}, "wamp.subscription.match", ["t.flood"]]))
        .await;
    let sub = publisher.recv().await[3][0][0].clone();
    // The slow one has been disconnected: one subscriber left.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        publisher
            .send(json!([
                48,
                2,
                {},
                "wamp.subscription.count_subscribers",
                [sub]
            ]))
            .await;
        if publisher.recv().await[3] == json!([1]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slow subscriber still subscribed"
        );
        async_std::task::sleep(std::time::Duration::from_millis(100)).await;
    }
    let log = node.log_text();
    assert!(
        log.contains("too slow"),
        "it is logged: {}",
        log.lines()
            .filter(|l| !l.contains("GET"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(slow);
}

#[async_std::test]
async fn the_meta_api_describes_sessions_subscriptions_and_registrations() {
    let (_dir, ca, node) = open_node();
    let mut watcher = Wamp::join(node.port, &ca.der).await;
    for (i, topic) in [
        "wamp.session.on_join",
        "wamp.session.on_leave",
        "wamp.subscription.on_create",
        "wamp.registration.on_register",
    ]
    .iter()
    .enumerate()
    {
        watcher.send(json!([32, i + 1, {}, topic])).await;
        watcher.recv().await;
    }
    let mut other = Wamp::join(node.port, &ca.der).await;
    let joined = watcher.recv().await;
    assert_eq!(joined[4][0]["session"], json!(other.session));

    other
        .send(json!([32, 1, {"match": "prefix"}, "com.meta"]))
        .await;
    let sub = other.recv().await[2].clone();
    let created = watcher.recv().await;
    assert_eq!(created[4][0], json!(other.session));
    assert_eq!(created[4][1]["uri"], json!("com.meta"));
    assert_eq!(created[4][1]["match"], json!("prefix"));
    other.send(json!([64, 2, {}, "com.meta.proc"])).await;
    let reg = other.recv().await[2].clone();
    assert_eq!(watcher.recv().await[4], json!([other.session, reg]));

    assert_eq!(
        ask(&mut watcher, "wamp.session.count", json!([])).await,
        json!(2)
    );
    let list = ask(&mut watcher, "wamp.session.list", json!([])).await;
    assert!(list.as_array().unwrap().contains(&json!(other.session)));
    assert_eq!(
        ask(&mut watcher, "wamp.session.get", json!([other.session])).await["authrole"],
        json!("anonymous")
    );
    assert_eq!(
        ask(
            &mut watcher,
            "wamp.subscription.lookup",
            json!(["com.meta", {"match": "prefix"}])
        )
        .await,
        sub
    );
    assert_eq!(
        ask(
            &mut watcher,
            "wamp.subscription.match",
            json!(["com.meta.x"])
        )
        .await,
        json!([sub])
    );
    assert_eq!(
        ask(&mut watcher, "wamp.subscription.get", json!([sub])).await["uri"],
        json!("com.meta")
    );
    assert_eq!(
        ask(
            &mut watcher,
            "wamp.subscription.list_subscribers",
            json!([sub])
        )
        .await,
        json!([other.session])
    );
    assert!(
        ask(&mut watcher, "wamp.subscription.list", json!([])).await["prefix"]
            .as_array()
            .unwrap()
            .contains(&sub)
    );
    assert_eq!(
        ask(
            &mut watcher,
            "wamp.registration.lookup",
            json!(["com.meta.proc"])
        )
        .await,
        reg
    );
    assert_eq!(
        ask(
            &mut watcher,
            "wamp.registration.match",
            json!(["com.meta.proc"])
        )
        .await,
        reg
    );
    assert_eq!(
        ask(&mut watcher, "wamp.registration.get", json!([reg])).await["invoke"],
        json!("single")
    );
    assert_eq!(
        ask(&mut watcher, "wamp.registration.list_callees", json!([reg])).await,
        json!([other.session])
    );
    assert!(
        ask(&mut watcher, "wamp.registration.list", json!([])).await["exact"]
            .as_array()
            .unwrap()
            .contains(&reg)
    );

    watcher
        .send(json!([48, 10, {}, "wamp.session.get", [12345]]))
        .await;
    assert_eq!(watcher.recv().await[4], json!("wamp.error.no_such_session"));
    watcher
        .send(json!([48, 11, {}, "wamp.subscription.get", [12345]]))
        .await;
    assert_eq!(
        watcher.recv().await[4],
        json!("wamp.error.no_such_subscription")
    );

    let id = other.session;
    drop(other);
    let left = watcher.recv().await;
    assert_eq!(fields(&left[4], 1), [json!(id)]);
}

/// Calls a meta procedure and returns the first result argument.
async fn ask(w: &mut Wamp, procedure: &str, args: Value) -> Value {
    w.send(json!([48, 9, {}, procedure, args])).await;
    let r = w.recv().await;
    assert_eq!(r[0], json!(50), "{procedure}: {r}");
    r[3][0].clone()
}

#[async_std::test]
async fn a_client_that_never_says_hello_is_closed_after_open_handshake_timeout() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    dir.config(&web_config(
        port,
        json!({}),
        json!({"ws": {"type": "websocket", "options": {"open_handshake_timeout": 300}}}),
        open_roles(),
    ));
    let _node = dir.start(port);
    let mut ws = wss(port, &ca.der, "/ws", &["wamp.2.json"]).await.unwrap();
    let started = std::time::Instant::now();
    match async_std::future::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1008),
        other => panic!("expected close 1008, got {other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
