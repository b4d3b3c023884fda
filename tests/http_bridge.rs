//! The HTTP bridge: a POST to a `publisher` path is an event, to a `caller` path a call, to
//! a `webhook` path an event carrying the whole request; signed requests, permissions and
//! every refusal answer as Crossbar does, and a refused request never reaches the router.

mod common;
use aws_lc_rs::hmac;
use common::*;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// A node whose realm1 has the open role and a `bridge` role that may publish and call only
/// under `com.allowed.`, with bridge paths configured by `paths`.
fn bridge_node(paths: Value) -> (NodeDir, Ca, Node) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let mut roles = open_roles();
    roles
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "bridge", "permissions": [
        {"uri": "com.allowed.", "match": "prefix", "allow": {"publish": true, "call": true}}]}));
    dir.config(&web_config(port, json!({}), paths, roles));
    let node = dir.start(port);
    (dir, ca, node)
}

/// POSTs `body` to `target` (path and query) with these extra headers.
async fn post(
    node: &Node,
    ca: &Ca,
    target: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    let mut head = format!(
        "POST {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(body);
    http_raw(tls, &head).await
}

fn body_json(res: &HttpResponse) -> Value {
    serde_json::from_slice(&res.body).unwrap_or_else(|_| panic!("not JSON: {}", res.text()))
}

async fn subscribe(client: &mut Wamp, topic: &str) {
    client.send(json!([32, 1, {}, topic])).await;
    assert_eq!(client.recv().await[0], 33);
}

#[async_std::test]
async fn a_publisher_post_is_an_event_answered_with_its_publication_id() {
    let (_dir, ca, node) =
        bridge_node(json!({"pub": {"type": "publisher", "realm": "realm1", "role": "anonymous"}}));
    let mut subscriber = Wamp::join(node.port, &ca.der).await;
    subscribe(&mut subscriber, "com.news").await;
    let res = post(
        &node,
        &ca,
        "/pub",
        r#"{"topic": "com.news", "args": ["hello", 2], "kwargs": {"from": "curl"}}"#,
        &[("Content-Type", "application/json")],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let id = body_json(&res)["id"].as_u64().expect("a publication id");
    let event = subscriber.recv().await;
    assert_eq!(event[0], 36);
    assert_eq!(
        event[2],
        json!(id),
        "the event's publication is the id answered"
    );
    assert_eq!(
        (&event[4], &event[5]),
        (&json!(["hello", 2]), &json!({"from": "curl"}))
    );
}

#[async_std::test]
async fn a_caller_post_answers_the_result_or_the_wamp_error_with_status_200() {
    let paths = json!({"call": {"type": "caller", "realm": "realm1", "role": "anonymous"}});
    let (_dir, ca, node) = bridge_node(paths);
    let mut callee = Wamp::join(node.port, &ca.der).await;
    callee.send(json!([64, 1, {}, "com.add"])).await;
    assert_eq!(callee.recv().await[0], 65);
    callee.send(json!([64, 2, {}, "com.fail"])).await;
    assert_eq!(callee.recv().await[0], 65);
    callee.send(json!([64, 3, {}, "com.slow"])).await;
    assert_eq!(callee.recv().await[0], 65);

    let call = post(
        &node,
        &ca,
        "/call",
        r#"{"procedure": "com.add", "args": [2, 3]}"#,
        &[],
    );
    let answer = async {
        let invocation = callee.recv().await;
        assert_eq!(invocation[0], 68);
        let sum = invocation[4][0].as_i64().unwrap() + invocation[4][1].as_i64().unwrap();
        callee.send(json!([70, invocation[1], {}, [sum]])).await;
    };
    let (res, ()) = futures_util::join!(call, answer);
    assert_eq!((res.status, body_json(&res)), (200, json!({"args": [5]})));

    // An application error, with its arguments, is answered 200 as Crossbar does.
    let call = post(
        &node,
        &ca,
        "/call",
        r#"{"procedure": "com.fail", "args": ["abc"]}"#,
        &[],
    );
    let answer = async {
        let invocation = callee.recv().await;
        callee.send(json!([8, 68, invocation[1], {}, "com.myapp.error.invalid_length", [], {"min": 3, "max": 10}])).await;
    };
    let (res, ()) = futures_util::join!(call, answer);
    assert_eq!(
        (res.status, body_json(&res)),
        (
            200,
            json!({"error": "com.myapp.error.invalid_length", "args": [], "kwargs": {"min": 3, "max": 10}})
        )
    );

    let res = post(&node, &ca, "/call", r#"{"procedure": "com.nobody"}"#, &[]).await;
    assert_eq!(
        (res.status, body_json(&res)["error"].clone()),
        (200, json!("wamp.error.no_such_procedure"))
    );

    // A callee that never answers: the body's options.timeout (ms) ends the call.
    let res = post(
        &node,
        &ca,
        "/call",
        r#"{"procedure": "com.slow", "options": {"timeout": 300}}"#,
        &[],
    )
    .await;
    assert_eq!(
        (res.status, body_json(&res)["error"].clone()),
        (200, json!("wamp.error.canceled"))
    );
}

#[async_std::test]
async fn the_bridge_has_its_roles_permissions_and_nothing_more() {
    let (_dir, ca, node) =
        bridge_node(json!({"pub": {"type": "publisher", "realm": "realm1", "role": "bridge"}}));
    let res = post(&node, &ca, "/pub", r#"{"topic": "com.allowed.news"}"#, &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = post(&node, &ca, "/pub", r#"{"topic": "com.secret"}"#, &[]).await;
    assert_eq!(
        (res.status, body_json(&res)["error"].clone()),
        (200, json!("wamp.error.not_authorized"))
    );
}

/// Crossbar's signature, written out here as its docs give it: URL-safe base64 (padded) of
/// HMAC-SHA256(secret, key + timestamp + seq + nonce + body).
fn sign(secret: &str, key: &str, timestamp: &str, seq: &str, nonce: &str, body: &str) -> String {
    let message = format!("{key}{timestamp}{seq}{nonce}{body}");
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        message.as_bytes(),
    );
    data_encoding::BASE64URL.encode(tag.as_ref())
}

/// Now, as Crossbar's timestamp: `2026-11-26T10:00:00.123Z`.
fn timestamp(offset_s: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let secs = now.as_secs() as i64 + offset_s;
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S"])
        .output()
        .unwrap();
    format!(
        "{}.{:03}Z",
        String::from_utf8(out.stdout).unwrap().trim(),
        now.subsec_millis()
    )
}

#[async_std::test]
async fn signed_requests_are_checked_and_a_replay_is_refused() {
    let paths = json!({"pub": {"type": "publisher", "realm": "realm1", "role": "anonymous",
        "options": {"key": "foobar", "secret": "kkjH68GiuUZ", "timestamp_delta_limit": 10}}});
    let (_dir, ca, node) = bridge_node(paths);
    let body = r#"{"topic": "com.signed", "args": [1]}"#;
    let ts = timestamp(0);
    let good = sign("kkjH68GiuUZ", "foobar", &ts, "1", "4711", body);
    let target = |key: &str, ts: &str, nonce: &str, sig: &str| {
        format!("/pub?key={key}&timestamp={ts}&seq=1&nonce={nonce}&signature={sig}")
    };

    let res = post(&node, &ca, "/pub", body, &[]).await;
    assert_eq!(res.status, 400, "unsigned: {}", res.text());
    assert!(body_json(&res)["error"]
        .as_str()
        .unwrap()
        .contains("'key' field missing"));
    let res = post(&node, &ca, &target("other", &ts, "4711", &good), body, &[]).await;
    assert_eq!(
        (res.status, body_json(&res)["error"].clone()),
        (401, json!("REST bridge signature key not valid."))
    );
    let forged = sign("wrong", "foobar", &ts, "1", "4711", body);
    let res = post(
        &node,
        &ca,
        &target("foobar", &ts, "4711", &forged),
        body,
        &[],
    )
    .await;
    assert_eq!(
        (res.status, body_json(&res)["error"].clone()),
        (401, json!("REST bridge signature secret not valid."))
    );
    let old = timestamp(-60);
    let stale = sign("kkjH68GiuUZ", "foobar", &old, "1", "4711", body);
    let res = post(
        &node,
        &ca,
        &target("foobar", &old, "4711", &stale),
        body,
        &[],
    )
    .await;
    assert_eq!(
        (res.status, body_json(&res)["error"].clone()),
        (400, json!("Request expired, too old timestamp."))
    );

    let res = post(&node, &ca, &target("foobar", &ts, "4711", &good), body, &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(body_json(&res)["id"].is_u64());
    let res = post(&node, &ca, &target("foobar", &ts, "4711", &good), body, &[]).await;
    assert_eq!(res.status, 400, "the same request again: {}", res.text());
    assert!(body_json(&res)["error"]
        .as_str()
        .unwrap()
        .contains("already served"));
    assert!(
        node.log_text().contains("already served"),
        "each refusal is logged"
    );
}

/// A request (path, body, headers) and the status and reason it is refused with.
type Refused<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], u16, &'a str);

#[async_std::test]
async fn bad_requests_get_crossbars_statuses_and_a_json_reason() {
    let paths = json!({
        "pub": {"type": "publisher", "realm": "realm1", "role": "anonymous", "options": {"post_body_limit": 64}},
        "lan": {"type": "publisher", "realm": "realm1", "role": "anonymous", "options": {"require_ip": ["10.0.0.0/8"]}}
    });
    let (_dir, ca, node) = bridge_node(paths);
    let mut watcher = Wamp::join(node.port, &ca.der).await;
    subscribe(&mut watcher, "com.x").await;
    let res = https(node.port, &ca.der, "GET", "/pub", &[]).await;
    assert_eq!(res.status, 405);
    let cases: [Refused<'_>; 7] = [
        (
            "/pub",
            r#"{"topic": "com.x"}"#,
            &[("Content-Type", "text/plain")],
            400,
            "Non-accepted content type",
        ),
        (
            "/pub",
            r#"{"topic": "com.x"}"#,
            &[("Content-Type", "application/json; charset=latin-1")],
            400,
            "must be UTF-8",
        ),
        (
            "/pub",
            &format!(r#"{{"topic": "com.x", "args": ["{}"]}}"#, "x".repeat(100)),
            &[],
            413,
            "Request too long",
        ),
        ("/pub", "{not json", &[], 400, "invalid JSON"),
        ("/pub", "[1, 2]", &[], 400, "must be a dict"),
        ("/pub", r#"{"args": []}"#, &[], 400, "missing key 'topic'"),
        ("/lan", r#"{"topic": "com.x"}"#, &[], 400, "IP address"),
    ];
    for (path, body, headers, status, reason) in cases {
        let res = post(&node, &ca, path, body, headers).await;
        assert_eq!(res.status, status, "{path} {body}: {}", res.text());
        let error = body_json(&res);
        assert!(error["error"].as_str().unwrap().contains(reason), "{error}");
        assert_eq!((&error["args"], &error["kwargs"]), (&json!([]), &json!({})));
    }
    // None of them reached the router.
    watcher.silent(300).await;
}

#[async_std::test]
async fn a_webhook_publishes_the_whole_request_when_githubs_signature_matches() {
    let paths = json!({"hook": {"type": "webhook", "realm": "realm1", "role": "anonymous",
        "options": {"topic": "com.github.push", "github_secret": "s3cret", "success_response": "thanks"}}});
    let (_dir, ca, node) = bridge_node(paths);
    let mut subscriber = Wamp::join(node.port, &ca.der).await;
    subscribe(&mut subscriber, "com.github.push").await;
    let body = r#"{"ref": "refs/heads/main"}"#;
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, b"s3cret"),
        body.as_bytes(),
    );
    let signature = format!("sha256={}", data_encoding::HEXLOWER.encode(tag.as_ref()));
    let headers = [
        ("X-Hub-Signature-256", signature.as_str()),
        ("X-GitHub-Event", "push"),
    ];
    let res = post(&node, &ca, "/hook", body, &headers).await;
    assert_eq!((res.status, res.text()), (202, "thanks".to_string()));
    let event = subscriber.recv().await;
    let published = &event[4][0];
    assert_eq!(published["body"], json!(body), "the raw body, not parsed");
    assert_eq!(published["headers"]["X-Github-Event"], json!(["push"]));

    let forged = [
        ("X-Hub-Signature-256", "sha256=00ff"),
        ("X-GitHub-Event", "push"),
    ];
    let res = post(&node, &ca, "/hook", body, &forged).await;
    assert_eq!(res.status, 401, "{}", res.text());
    subscriber.silent(300).await;
}

#[async_std::test]
async fn require_tls_refuses_plain_http_and_a_webhook_answers_its_defaults() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let (port, plain_port) = (free_port(), free_port());
    let bridge = json!({"type": "publisher", "realm": "realm1", "role": "anonymous", "options": {"require_tls": true}});
    let hook = json!({"type": "webhook", "realm": "realm1", "role": "anonymous", "options": {"topic": "com.hook"}});
    let lan_hook = json!({"type": "webhook", "realm": "realm1", "role": "anonymous",
        "options": {"topic": "com.hook", "require_ip": ["10.0.0.0/8"]}});
    let mut config = web_config(
        port,
        json!({}),
        json!({"pub": bridge.clone(), "hook": hook, "lanhook": lan_hook}),
        open_roles(),
    );
    config["workers"][0]["transports"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "web",
        "endpoint": {"type": "tcp", "port": plain_port, "interface": "127.0.0.1"},
        "paths": {"pub": bridge}}));
    dir.config(&config);
    let node = dir.start(port);
    let body = r#"{"topic": "com.x"}"#;
    let tcp = async_std::net::TcpStream::connect(("127.0.0.1", plain_port))
        .await
        .unwrap();
    let head = format!("POST /pub HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let res = http_raw(tcp, &head).await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(body_json(&res)["error"]
        .as_str()
        .unwrap()
        .contains("require_tls"));
    assert_eq!(
        post(&node, &ca, "/pub", body, &[]).await.status,
        200,
        "the same path over TLS"
    );

    let res = post(
        &node,
        &ca,
        "/hook",
        "anything at all",
        &[("Content-Type", "text/plain")],
    )
    .await;
    assert_eq!((res.status, res.text()), (202, "OK".to_string()));
    let res = post(&node, &ca, "/lanhook", "anything", &[]).await;
    assert_eq!(
        res.status,
        400,
        "require_ip applies to webhooks too: {}",
        res.text()
    );
}

#[async_std::test]
async fn a_webhook_refuses_a_body_that_is_not_utf8_with_a_json_reason() {
    let paths = json!({"hook": {"type": "webhook", "realm": "realm1", "role": "anonymous",
        "options": {"topic": "com.hook"}}});
    let (_dir, ca, node) = bridge_node(paths);
    let mut subscriber = Wamp::join(node.port, &ca.der).await;
    subscribe(&mut subscriber, "com.hook").await;
    let tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    let res = raw_post(tls, b"/hook", &[0xff, 0xfe, 0xfd]).await;
    assert_eq!(res.status, 400);
    assert_eq!(
        body_json(&res)["error"],
        json!("Non-decodable request body, was not UTF-8.")
    );
    subscriber.silent(300).await;

    // A request without Content-Type is published with the one HTTP gives it; every header
    // is published, credentials too, as Crossbar does.
    let credentials = [("Cookie", "session=1"), ("Authorization", "Bearer x")];
    let res = post(&node, &ca, "/hook", "plain words", &credentials).await;
    assert_eq!(res.status, 202);
    let event = subscriber.recv().await;
    let headers = &event[4][0]["headers"];
    assert_eq!(headers["Content-Type"], json!(["application/octet-stream"]));
    assert_eq!(headers["Cookie"], json!(["session=1"]));
    assert_eq!(headers["Authorization"], json!(["Bearer x"]));
}

#[async_std::test]
async fn a_webhook_drops_the_headers_it_is_told_to() {
    let paths = json!({"hook": {"type": "webhook", "realm": "realm1", "role": "anonymous",
        "options": {"topic": "com.hook", "drop_headers": ["Cookie", "authorization"]}}});
    let (_dir, ca, node) = bridge_node(paths);
    let mut subscriber = Wamp::join(node.port, &ca.der).await;
    subscribe(&mut subscriber, "com.hook").await;
    let headers = [
        ("Cookie", "session=1"),
        ("Authorization", "Bearer x"),
        ("X-Kept", "yes"),
    ];
    let res = post(&node, &ca, "/hook", "{}", &headers).await;
    assert_eq!(res.status, 202);
    let published = &subscriber.recv().await[4][0]["headers"];
    assert_eq!(published["X-Kept"], json!(["yes"]));
    assert!(
        published.get("Cookie").is_none() && published.get("Authorization").is_none(),
        "{published}"
    );
}

/// POSTs raw bytes as the body.
async fn raw_post(mut tls: Tls, target: &[u8], body: &[u8]) -> HttpResponse {
    use async_std::io::WriteExt;
    let mut request = b"POST ".to_vec();
    request.extend_from_slice(target);
    request.extend_from_slice(
        format!(
            " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    request.extend_from_slice(body);
    tls.write_all(&request).await.unwrap();
    http_raw(tls, "").await
}
