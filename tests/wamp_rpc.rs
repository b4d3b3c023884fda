//! WAMP remote procedure calls: the Basic Profile flow and the Advanced Profile options.

mod common;
use common::*;
use serde_json::{json, Value};

fn node() -> (NodeDir, Ca, Node) {
    wamp_node(json!([
        {"name": "anonymous", "permissions": [
            {"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}},
            {"uri": "shown.", "match": "prefix", "allow": {"call": true, "register": true}, "disclose": {"caller": true}},
            {"uri": "admin.", "match": "prefix", "allow": {"subscribe": true}}]}
    ]))
}

async fn register(client: &mut Wamp, request: u64, options: Value, procedure: &str) -> u64 {
    client.send(json!([64, request, options, procedure])).await;
    let reply = client.recv().await;
    assert_eq!(fields(&reply, 2), [json!(65), json!(request)], "{reply}");
    reply[2].as_u64().unwrap()
}

#[async_std::test]
async fn a_call_is_invoked_on_the_callee_and_its_yield_is_the_result() {
    let (_dir, ca, node) = node();
    let mut callee = Wamp::join(node.port, &ca.der).await;
    let mut caller = Wamp::join(node.port, &ca.der).await;
    let reg = register(&mut callee, 1, json!({}), "com.math.add").await;
    caller
        .send(json!([48, 7, {}, "com.math.add", [2, 3], {"k": true}]))
        .await;
    let invocation = callee.recv().await;
    assert_eq!(
        fields(&invocation, 5),
        [
            json!(68),
            invocation[1].clone(),
            json!(reg),
            json!({}),
            json!([2, 3])
        ]
    );
    assert_eq!(invocation[5], json!({"k": true}));
    callee.send(json!([70, invocation[1], {}, [5]])).await;
    assert_eq!(caller.recv().await, json!([50, 7, {}, [5]]));
    // A callee's ERROR reaches the caller with its URI and payload.
    caller.send(json!([48, 8, {}, "com.math.add", ["x"]])).await;
    let invocation = callee.recv().await;
    callee
        .send(json!([
            8,
            68,
            invocation[1],
            {},
            "com.math.error.type",
            ["not a number"]
        ]))
        .await;
    assert_eq!(
        caller.recv().await,
        json!([8, 48, 8, {}, "com.math.error.type", ["not a number"]])
    );
}

#[async_std::test]
async fn errors_use_the_spec_uris() {
    let (_dir, ca, node) = node();
    let mut a = Wamp::join(node.port, &ca.der).await;
    let mut b = Wamp::join(node.port, &ca.der).await;
    a.send(json!([48, 1, {}, "com.nothing"])).await;
    let error = a.recv().await;
    assert_eq!(
        fields(&error, 5),
        [
            json!(8),
            json!(48),
            json!(1),
            json!({}),
            json!("wamp.error.no_such_procedure")
        ]
    );
    // Crossbar's text first (applications match on it), then ours.
    assert_eq!(
        error[5][0],
        "no callee registered for procedure <com.nothing>"
    );
    register(&mut a, 2, json!({}), "com.one").await;
    b.send(json!([64, 3, {}, "com.one"])).await;
    let error = b.recv().await;
    assert_eq!(error[4], json!("wamp.error.procedure_already_exists"));
    assert_eq!(
        error[5][0],
        "register for already registered procedure 'com.one'"
    );
    b.send(json!([64, 4, {}, "admin.reset"])).await;
    let error = b.recv().await;
    assert_eq!(error[4], json!("wamp.error.not_authorized"));
    let text = error[5][0].as_str().unwrap();
    assert!(
        text.starts_with(&format!("session (session_id={}, authid=\"", b.session))
            && text.ends_with("\", authrole=\"anonymous\") is not authorized to register procedure \"admin.reset\" on realm \"realm1\""),
        "{text}"
    );
    b.send(json!([48, 5, {}, "admin.reset"])).await;
    assert_eq!(b.recv().await[4], json!("wamp.error.not_authorized"));
    b.send(json!([64, 6, {}, "wamp.my.own"])).await;
    let error = b.recv().await;
    assert_eq!(error[4], json!("wamp.error.invalid_uri"));
    assert_eq!(
        error[5][0],
        "register for restricted procedure URI 'wamp.my.own')"
    );
    b.send(json!([48, 7, {}, "com..x"])).await;
    let error = b.recv().await;
    assert_eq!(error[4], json!("wamp.error.invalid_uri"));
    assert_eq!(
        error[5][0],
        "call with invalid procedure URI 'com..x' (URI strict checking False)"
    );
    b.send(json!([66, 8, 424242])).await;
    assert_eq!(b.recv().await[4], json!("wamp.error.no_such_registration"));
    b.send(json!([48, 9, {"timeout": "soon"}, "com.one"])).await;
    assert_eq!(b.recv().await[4], json!("wamp.error.invalid_argument"));
}

#[async_std::test]
async fn unregister_removes_the_procedure() {
    let (_dir, ca, node) = node();
    let mut a = Wamp::join(node.port, &ca.der).await;
    let reg = register(&mut a, 1, json!({}), "com.gone").await;
    a.send(json!([66, 2, reg])).await;
    assert_eq!(a.recv().await, json!([67, 2]));
    a.send(json!([48, 3, {}, "com.gone"])).await;
    assert_eq!(a.recv().await[4], json!("wamp.error.no_such_procedure"));
}

#[async_std::test]
async fn pattern_registrations_pick_exact_then_longest_prefix_then_wildcard() {
    let (_dir, ca, node) = node();
    let mut callee = Wamp::join(node.port, &ca.der).await;
    let mut caller = Wamp::join(node.port, &ca.der).await;
    let exact = register(&mut callee, 1, json!({}), "com.a.b.c").await;
    let long = register(&mut callee, 2, json!({"match": "prefix"}), "com.a.b").await;
    let short = register(&mut callee, 3, json!({"match": "prefix"}), "com.a").await;
    let wild = register(&mut callee, 4, json!({"match": "wildcard"}), "com..z").await;
    for (procedure, reg, detail) in [
        ("com.a.b.c", exact, None),
        ("com.a.b.x", long, Some("com.a.b.x")),
        ("com.a.q", short, Some("com.a.q")),
        ("com.y.z", wild, Some("com.y.z")),
    ] {
        caller.send(json!([48, 1, {}, procedure])).await;
        let inv = callee.recv().await;
        assert_eq!(inv[2], json!(reg), "{procedure}");
        assert_eq!(inv[3].get("procedure").and_then(Value::as_str), detail);
        callee.send(json!([70, inv[1], {}])).await;
        assert_eq!(caller.recv().await[0], json!(50));
    }
}

#[async_std::test]
async fn shared_registrations_follow_their_invoke_policy() {
    let (_dir, ca, node) = node();
    let mut caller = Wamp::join(node.port, &ca.der).await;
    for policy in ["roundrobin", "first", "last", "random"] {
        let mut callees = [
            Wamp::join(node.port, &ca.der).await,
            Wamp::join(node.port, &ca.der).await,
        ];
        let procedure = format!("com.shared.{policy}");
        for c in callees.iter_mut() {
            register(c, 1, json!({"invoke": policy}), &procedure).await;
        }
        let mut served = Vec::new();
        for request in 1..=4u64 {
            caller.send(json!([48, request, {}, procedure])).await;
            let mut got = None;
            for (i, c) in callees.iter_mut().enumerate() {
                if let Ok(Some(Ok(async_tungstenite::tungstenite::Message::Text(text)))) =
                    async_std::future::timeout(
                        std::time::Duration::from_millis(300),
                        futures_util::StreamExt::next(&mut c.ws),
                    )
                    .await
                {
                    let inv: Value = serde_json::from_str(&text).unwrap();
                    c.send(json!([70, inv[1], {}])).await;
                    got = Some(i);
                }
            }
            served.push(got.expect("one callee was invoked"));
            caller.recv().await;
        }
        match policy {
            "roundrobin" => assert_eq!(served, [0, 1, 0, 1]),
            "first" => assert_eq!(served, [0, 0, 0, 0]),
            "last" => assert_eq!(served, [1, 1, 1, 1]),
            _ => assert_eq!(served.len(), 4),
        }
    }
    // A single registration cannot be shared, and policies must agree.
    let mut a = Wamp::join(node.port, &ca.der).await;
    let mut b = Wamp::join(node.port, &ca.der).await;
    register(
        &mut a,
        9,
        json!({"invoke": "roundrobin"}),
        "com.shared.mixed",
    )
    .await;
    b.send(json!([64, 9, {"invoke": "first"}, "com.shared.mixed"]))
        .await;
    assert_eq!(
        b.recv().await[4],
        json!("wamp.error.procedure_already_exists")
    );
    register(&mut a, 10, json!({}), "com.single").await;
    b.send(json!([64, 10, {}, "com.single"])).await;
    assert_eq!(
        b.recv().await[4],
        json!("wamp.error.procedure_already_exists")
    );
}

#[async_std::test]
async fn progressive_results_reach_a_caller_that_asked_for_them() {
    let (_dir, ca, node) = node();
    let mut callee = Wamp::join(node.port, &ca.der).await;
    let mut caller = Wamp::join(node.port, &ca.der).await;
    register(&mut callee, 1, json!({}), "com.count").await;
    caller
        .send(json!([48, 2, {"receive_progress": true}, "com.count"]))
        .await;
    let inv = callee.recv().await;
    assert_eq!(inv[3]["receive_progress"], json!(true));
    for i in 1..=3 {
        callee
            .send(json!([70, inv[1], {"progress": true}, [i]]))
            .await;
        assert_eq!(caller.recv().await, json!([50, 2, {"progress": true}, [i]]));
    }
    callee.send(json!([70, inv[1], {}, ["done"]])).await;
    assert_eq!(caller.recv().await, json!([50, 2, {}, ["done"]]));
    // Without receive_progress only the final result arrives.
    caller.send(json!([48, 3, {}, "com.count"])).await;
    let inv = callee.recv().await;
    callee
        .send(json!([70, inv[1], {"progress": true}, [1]]))
        .await;
    callee.send(json!([70, inv[1], {}, ["final"]])).await;
    assert_eq!(caller.recv().await, json!([50, 3, {}, ["final"]]));
}

#[async_std::test]
async fn cancel_modes_skip_kill_and_killnowait() {
    let (_dir, ca, node) = node();
    let mut callee = Wamp::join(node.port, &ca.der).await;
    let mut caller = Wamp::join(node.port, &ca.der).await;
    register(&mut callee, 1, json!({}), "com.slow").await;

    caller.send(json!([48, 10, {}, "com.slow"])).await;
    let inv = callee.recv().await;
    caller.send(json!([49, 10, {"mode": "skip"}])).await;
    assert_eq!(
        fields(&caller.recv().await, 5),
        [
            json!(8),
            json!(48),
            json!(10),
            json!({}),
            json!("wamp.error.canceled")
        ]
    );
    callee.silent(200).await; // skip: no INTERRUPT
    callee.send(json!([70, inv[1], {}])).await; // a late YIELD is dropped
    caller.silent(200).await;

    caller.send(json!([48, 11, {}, "com.slow"])).await;
    let inv = callee.recv().await;
    caller.send(json!([49, 11, {"mode": "killnowait"}])).await;
    assert_eq!(
        callee.recv().await,
        json!([69, inv[1], {"mode": "killnowait"}])
    );
    assert_eq!(caller.recv().await[4], json!("wamp.error.canceled"));

    caller.send(json!([48, 12, {}, "com.slow"])).await;
    let inv = callee.recv().await;
    caller.send(json!([49, 12, {"mode": "kill"}])).await;
    assert_eq!(callee.recv().await, json!([69, inv[1], {"mode": "kill"}]));
    caller.silent(200).await; // kill: the caller waits for the callee's answer
    callee
        .send(json!([8, 68, inv[1], {}, "wamp.error.canceled"]))
        .await;
    assert_eq!(caller.recv().await[4], json!("wamp.error.canceled"));
}

#[async_std::test]
async fn a_call_timeout_cancels_the_call_on_both_sides() {
    let (_dir, ca, node) = node();
    let mut callee = Wamp::join(node.port, &ca.der).await;
    let mut caller = Wamp::join(node.port, &ca.der).await;
    register(&mut callee, 1, json!({}), "com.never").await;
    caller
        .send(json!([48, 5, {"timeout": 200}, "com.never"]))
        .await;
    let inv = callee.recv().await;
    assert_eq!(caller.recv().await[4], json!("wamp.error.canceled"));
    assert_eq!(fields(&callee.recv().await, 2), [json!(69), inv[1].clone()]);
}

#[async_std::test]
async fn caller_identification_by_role_or_by_disclose_me() {
    let (_dir, ca, node) = node();
    let mut callee = Wamp::join(node.port, &ca.der).await;
    let mut caller = Wamp::join(node.port, &ca.der).await;
    register(&mut callee, 1, json!({}), "shown.proc").await;
    register(&mut callee, 2, json!({}), "hidden.proc").await;
    for (procedure, options, shown) in [
        ("shown.proc", json!({}), true),
        ("hidden.proc", json!({}), false),
        ("hidden.proc", json!({"disclose_me": true}), true),
    ] {
        caller.send(json!([48, 3, options, procedure])).await;
        let inv = callee.recv().await;
        assert_eq!(
            inv[3].get("caller") == Some(&json!(caller.session)),
            shown,
            "{procedure}"
        );
        if shown {
            assert_eq!(inv[3]["caller_authrole"], json!("anonymous"));
        }
        callee.send(json!([70, inv[1], {}])).await;
        caller.recv().await;
    }
}

#[async_std::test]
async fn when_a_callee_leaves_its_pending_calls_end_with_an_error() {
    let (_dir, ca, node) = node();
    let mut callee = Wamp::join(node.port, &ca.der).await;
    let mut caller = Wamp::join(node.port, &ca.der).await;
    register(&mut callee, 1, json!({}), "com.leaving").await;
    caller.send(json!([48, 4, {}, "com.leaving"])).await;
    callee.recv().await;
    drop(callee);
    assert_eq!(
        fields(&caller.recv().await, 5),
        [
            json!(8),
            json!(48),
            json!(4),
            json!({}),
            json!("wamp.error.canceled")
        ]
    );
    caller.send(json!([48, 5, {}, "com.leaving"])).await;
    assert_eq!(
        caller.recv().await[4],
        json!("wamp.error.no_such_procedure")
    );
}
