//! Authentication and authorization as a client sees them: every method, static and
//! dynamic, each success and each failure; dynamic authorizers; cookies; session kill.

mod common;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::Message;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use common::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Realm1's roles: `user` may call `com.`; `backend` may register anything (the
/// authenticator's and authorizer's components); `app` asks an authorizer.
fn roles() -> Value {
    json!([
        {"name": "user", "permissions": [{"uri": "com.", "match": "prefix", "allow": {"call": true}}]},
        {"name": "backend", "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]},
        {"name": "app", "authorizer": "com.example.authorize"},
        {"name": "hurried", "authorizer": "com.example.slow", "authorizer-timeout": 300}
    ])
}

/// A node whose `ws` path has `auth` (and `extra` keys such as `cookie`), and whose `backend`
/// path lets components in with ticket `backend-secret`.
fn node(auth: Value, extra: Value) -> (NodeDir, Ca, Node) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let mut ws = json!({"type": "websocket", "auth": auth});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        ws[k] = v;
    }
    let backend = json!({"type": "websocket", "auth": {"ticket": {"type": "static",
        "principals": {"component": {"ticket": "backend-secret", "role": "backend"}}}}});
    let mut config = web_config(
        port,
        json!({}),
        json!({"ws": ws, "backend": backend}),
        roles(),
    );
    config["workers"][0]["realms"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "realm2", "roles": roles()}));
    dir.config(&config);
    let node = dir.start(port);
    (dir, ca, node)
}

async fn hello(node: &Node, ca: &Ca, details: Value) -> Wamp {
    hello_in(node, ca, "realm1", details).await
}

async fn hello_in(node: &Node, ca: &Ca, realm: &str, details: Value) -> Wamp {
    let ws = wss(node.port, &ca.der, "/ws", &["wamp.2.json"])
        .await
        .unwrap();
    let mut w = Wamp { ws, session: 0 };
    w.send(json!([1, realm, details])).await;
    w
}

/// Asserts the ABORT every failure of credentials gets: it says nothing of what was wrong.
async fn refused(w: &mut Wamp) {
    let abort = w.recv().await;
    assert_eq!(
        abort,
        json!([3, {"message": "authentication failed"}, "wamp.error.not_authorized"])
    );
}

fn welcomed(welcome: &Value, authid: &str, role: &str, method: &str, provider: &str) {
    assert_eq!(welcome[0], 2, "expected WELCOME, got {welcome}");
    let d = &welcome[2];
    assert_eq!(
        (
            &d["authid"],
            &d["authrole"],
            &d["authmethod"],
            &d["authprovider"]
        ),
        (
            &json!(authid),
            &json!(role),
            &json!(method),
            &json!(provider)
        ),
        "{welcome}"
    );
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&key, data).as_ref().to_vec()
}

/// What autobahn's `compute_wcs` (with `derive_key` when salted) answers a WAMP-CRA challenge.
fn cra_answer(secret: &str, extra: &Value) -> String {
    let key = match extra.get("salt").and_then(Value::as_str) {
        None => secret.to_string(),
        Some(salt) => {
            let mut out = vec![0u8; extra["keylen"].as_u64().unwrap() as usize];
            let iterations =
                std::num::NonZeroU32::new(extra["iterations"].as_u64().unwrap() as u32).unwrap();
            aws_lc_rs::pbkdf2::derive(
                aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
                iterations,
                salt.as_bytes(),
                secret.as_bytes(),
                &mut out,
            );
            b64(&out)
        }
    };
    b64(&hmac(
        key.as_bytes(),
        extra["challenge"].as_str().unwrap().as_bytes(),
    ))
}

/// A backend component: joins through the `backend` path and registers `procedure`,
/// answering each INVOCATION with `answer(args)`: `Ok(result)` or `Err(error URI)`.
/// Returns how many times it was asked.
async fn component(
    node: &Node,
    ca: &Ca,
    procedure: &str,
    answer: impl Fn(&Value) -> Result<Value, String> + Send + 'static,
) -> Arc<AtomicUsize> {
    component_with(node, client_tls(&ca.der, None), procedure, answer).await
}

/// A component that takes `delay` over each answer (without holding up anyone else).
async fn slow_component(
    node: &Node,
    ca: &Ca,
    procedure: &str,
    delay: std::time::Duration,
    answer: Value,
) {
    component(node, ca, procedure, move |_| {
        Ok(json!({"delay_ms": delay.as_millis() as u64, "answer": answer.clone()}))
    })
    .await;
}

/// `component`, connecting with this TLS client config.
async fn component_with(
    node: &Node,
    tls: Arc<rustls::ClientConfig>,
    procedure: &str,
    answer: impl Fn(&Value) -> Result<Value, String> + Send + 'static,
) -> Arc<AtomicUsize> {
    let ws = wss_with(node.port, tls, "/backend", &["wamp.2.json"])
        .await
        .unwrap();
    let mut w = Wamp { ws, session: 0 };
    w.send(json!([1, "realm1", {"authid": "component", "authmethods": ["ticket"], "roles": {"callee": {}}}])).await;
    assert_eq!(w.recv().await[0], 4);
    w.send(json!([5, "backend-secret", {}])).await;
    assert_eq!(w.recv().await[0], 2);
    w.send(json!([64, 1, {}, procedure])).await;
    assert_eq!(w.recv().await[0], 65);
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    async_std::task::spawn(async move {
        while let Some(msg) = w.next_or_none().await {
            if msg[0] != 68 {
                continue;
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let reply = match answer(&msg[4]) {
                // A component that never answers this one.
                Ok(result) if result == json!({"silent": true}) => continue,
                // `slow_component`'s answers say how long to take.
                Ok(result) if result.get("delay_ms").is_some() => {
                    let ms = result["delay_ms"].as_u64().unwrap_or(0);
                    async_std::task::sleep(std::time::Duration::from_millis(ms)).await;
                    json!([70, msg[1], {}, [result["answer"]]])
                }
                Ok(result) => json!([70, msg[1], {}, [result]]),
                Err(uri) => json!([8, 68, msg[1], {}, uri, ["the component says no"]]),
            };
            w.send(reply).await;
        }
    });
    asked
}

/// Logs in with a ticket: HELLO for `authid`, the CHALLENGE answered with `ticket`. Returns
/// the connection and the router's answer (WELCOME or ABORT).
async fn ticket_login(node: &Node, ca: &Ca, authid: &str, ticket: &str) -> (Wamp, Value) {
    let mut w = hello(
        node,
        ca,
        json!({"authid": authid, "authmethods": ["ticket"]}),
    )
    .await;
    assert_eq!(w.recv().await[0], 4, "a ticket CHALLENGE");
    w.send(json!([5, ticket, {}])).await;
    let answer = w.recv().await;
    (w, answer)
}

// ---------------------------------------------------------------------------------------
// WAMP-CRA

fn cra_users() -> Value {
    json!({"wampcra": {"type": "static", "users": {
        "joe": {"secret": "secret2", "role": "user"},
        "peter": {"secret": "secret2", "role": "user", "salt": "salt123", "iterations": 100, "keylen": 16}
    }}})
}

#[async_std::test]
async fn wampcra_logs_in_with_a_plain_and_a_salted_secret() {
    let (_dir, ca, node) = node(cra_users(), json!({}));
    for authid in ["joe", "peter"] {
        let mut w = hello(
            &node,
            &ca,
            json!({"authid": authid, "authmethods": ["wampcra"]}),
        )
        .await;
        let challenge = w.recv().await;
        assert_eq!(
            (&challenge[0], &challenge[1]),
            (&json!(4), &json!("wampcra"))
        );
        let text: Value =
            serde_json::from_str(challenge[2]["challenge"].as_str().unwrap()).unwrap();
        assert_eq!(text["authid"], authid);
        assert_eq!(text["authmethod"], "wampcra");
        assert_eq!(challenge[2].get("salt").is_some(), authid == "peter");
        w.send(json!([5, cra_answer("secret2", &challenge[2]), {}]))
            .await;
        let welcome = w.recv().await;
        welcomed(&welcome, authid, "user", "wampcra", "static");
        assert_eq!(
            welcome[1], text["session"],
            "the challenge named the session's ID"
        );
    }
}

#[async_std::test]
async fn wampcra_refuses_a_wrong_secret_and_an_unknown_authid_alike() {
    let (_dir, ca, node) = node(cra_users(), json!({}));
    for (authid, secret) in [("joe", "wrong"), ("nobody", "secret2")] {
        let mut w = hello(
            &node,
            &ca,
            json!({"authid": authid, "authmethods": ["wampcra"]}),
        )
        .await;
        let challenge = w.recv().await;
        assert_eq!(challenge[0], 4, "an unknown authid is challenged too");
        w.send(json!([5, cra_answer(secret, &challenge[2]), {}]))
            .await;
        refused(&mut w).await;
    }
    assert!(
        node.log_text().contains("no user `nobody`"),
        "the log says which part was wrong"
    );
}

#[async_std::test]
async fn a_replayed_wampcra_answer_is_refused() {
    let (_dir, ca, node) = node(cra_users(), json!({}));
    let mut first = hello(
        &node,
        &ca,
        json!({"authid": "joe", "authmethods": ["wampcra"]}),
    )
    .await;
    let challenge = first.recv().await;
    let answer = cra_answer("secret2", &challenge[2]);
    first.send(json!([5, answer, {}])).await;
    assert_eq!(first.recv().await[0], 2);
    let mut second = hello(
        &node,
        &ca,
        json!({"authid": "joe", "authmethods": ["wampcra"]}),
    )
    .await;
    assert_eq!(second.recv().await[0], 4);
    second.send(json!([5, answer, {}])).await;
    refused(&mut second).await;
}

// ---------------------------------------------------------------------------------------
// Cryptosign

fn keypair() -> (Ed25519KeyPair, String) {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let public = data_encoding::HEXLOWER.encode(pair.public_key().as_ref());
    (pair, public)
}

/// What autobahn answers a cryptosign challenge: signature, then the challenge, in hex.
fn sign(pair: &Ed25519KeyPair, extra: &Value) -> String {
    let challenge = data_encoding::HEXLOWER
        .decode(extra["challenge"].as_str().unwrap().as_bytes())
        .unwrap();
    let signature = pair.sign(&challenge);
    format!(
        "{}{}",
        data_encoding::HEXLOWER.encode(signature.as_ref()),
        data_encoding::HEXLOWER.encode(&challenge)
    )
}

#[async_std::test]
async fn cryptosign_logs_in_with_an_authorized_key_with_or_without_an_authid() {
    let (pair, public) = keypair();
    let auth = json!({"cryptosign": {"type": "static", "principals": {
        "device1": {"realm": "realm1", "role": "user", "authorized_keys": [public]}}}});
    let (_dir, ca, node) = node(auth, json!({}));
    for details in [
        json!({"authid": "device1", "authmethods": ["cryptosign"], "authextra": {"pubkey": public}}),
        json!({"authmethods": ["cryptosign"], "authextra": {"pubkey": public}}),
    ] {
        let mut w = hello(&node, &ca, details).await;
        let challenge = w.recv().await;
        assert_eq!(challenge[1], "cryptosign");
        assert_eq!(challenge[2]["channel_binding"], Value::Null);
        w.send(json!([5, sign(&pair, &challenge[2]), {}])).await;
        welcomed(&w.recv().await, "device1", "user", "cryptosign", "static");
    }
}

#[async_std::test]
async fn cryptosign_refuses_another_key_a_bad_signature_and_the_wrong_realm() {
    let (pair, public) = keypair();
    let (other, other_public) = keypair();
    let auth = json!({"cryptosign": {"type": "static", "principals": {
        "device1": {"realm": "realm1", "role": "user", "authorized_keys": [public]}}}});
    let (_dir, ca, node) = node(auth, json!({}));
    // A key that is not authorized, signing correctly.
    let mut w = hello(&node, &ca, json!({"authid": "device1", "authmethods": ["cryptosign"], "authextra": {"pubkey": other_public}})).await;
    let c = w.recv().await;
    w.send(json!([5, sign(&other, &c[2]), {}])).await;
    refused(&mut w).await;
    // The right key named, another key's signature.
    let mut w = hello(
        &node,
        &ca,
        json!({"authmethods": ["cryptosign"], "authextra": {"pubkey": public}}),
    )
    .await;
    let c = w.recv().await;
    w.send(json!([5, sign(&other, &c[2]), {}])).await;
    refused(&mut w).await;
    // The principal may join realm1 only.
    let mut w = hello_in(
        &node,
        &ca,
        "realm2",
        json!({"authmethods": ["cryptosign"], "authextra": {"pubkey": public}}),
    )
    .await;
    let c = w.recv().await;
    w.send(json!([5, sign(&pair, &c[2]), {}])).await;
    refused(&mut w).await;
}

#[async_std::test]
async fn a_channel_binding_the_router_cannot_give_is_refused_in_so_many_words() {
    let (_pair, public) = keypair();
    let auth = json!({"cryptosign": {"type": "static", "principals": {
        "device1": {"role": "user", "authorized_keys": [public]}}}});
    let (_dir, ca, node) = node(auth, json!({}));
    let mut w = hello(
        &node,
        &ca,
        json!({"authmethods": ["cryptosign"],
        "authextra": {"pubkey": public, "channel_binding": "tls-unique"}}),
    )
    .await;
    let abort = w.recv().await;
    assert_eq!(abort[0], 3);
    let text = abort[1]["message"].as_str().unwrap();
    assert!(
        text.contains("tls-unique") && text.contains("without channel_binding"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// SCRAM

/// What autobahn-python computes for WAMP-SCRAM with argon2id-13: (proof, server signature).
fn scram_answer(
    authid: &str,
    password: &str,
    hello_nonce: &str,
    extra: &Value,
) -> (String, String) {
    let salt = data_encoding::BASE64
        .decode(extra["salt"].as_str().unwrap().as_bytes())
        .unwrap();
    let params = argon2::Params::new(
        extra["memory"].as_u64().unwrap() as u32,
        extra["iterations"].as_u64().unwrap() as u32,
        1,
        Some(32),
    )
    .unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut hash = [0u8; 32];
    argon
        .hash_password_into(password.as_bytes(), &salt, &mut hash)
        .unwrap();
    // autobahn keys the HMACs with the hash's unpadded base64 text.
    let salted = data_encoding::BASE64_NOPAD.encode(&hash);
    let client_key = hmac(salted.as_bytes(), b"Client Key");
    let stored_key = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &client_key);
    let nonce = extra["nonce"].as_str().unwrap();
    let auth_message = format!(
        "n={authid},r={hello_nonce},r={nonce},s={},i={},c=,r={nonce}",
        extra["salt"].as_str().unwrap(),
        extra["iterations"]
    );
    let client_signature = hmac(stored_key.as_ref(), auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&client_signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let server_key = hmac(salted.as_bytes(), b"Server Key");
    (
        b64(&proof),
        b64(&hmac(&server_key, auth_message.as_bytes())),
    )
}

#[async_std::test]
async fn scram_logs_in_with_a_password_that_never_crosses_the_wire() {
    // autobahn-python's derive_scram_credential("alice@example.com", "secret123").
    let auth = json!({"scram": {"type": "static", "principals": {"alice@example.com": {
        "role": "user", "kdf": "argon2id-13", "iterations": 4096, "memory": 512,
        "salt": "ff8d9819fc0e12bf0d24892e45987e24",
        "stored-key": "a7f4f4b9458b859252ba0a0b0c10cdf24b68d6ab257704b65049cfa92e9428a1",
        "server-key": "dd13f08d5bd56df06d8306d18fbb576296e0595910fc7afc2aaaa28138448d0a"}}}});
    let (_dir, ca, node) = node(auth, json!({}));
    let nonce = "AAECAwQFBgcICQoLDA0ODw==";
    for (password, ok) in [("secret123", true), ("secret124", false)] {
        let mut w = hello(
            &node,
            &ca,
            json!({"authid": "alice@example.com", "authmethods": ["scram"],
            "authextra": {"nonce": nonce}}),
        )
        .await;
        let challenge = w.recv().await;
        assert_eq!(challenge[1], "scram");
        assert_eq!(challenge[2]["kdf"], "argon2id-13");
        let (proof, server_signature) =
            scram_answer("alice@example.com", password, nonce, &challenge[2]);
        w.send(json!([5, proof, {}])).await;
        if ok {
            let welcome = w.recv().await;
            welcomed(&welcome, "alice@example.com", "user", "scram", "static");
            assert_eq!(
                welcome[2]["authextra"]["scram_server_signature"],
                json!(server_signature)
            );
        } else {
            refused(&mut w).await;
        }
    }
}

/// The CHALLENGE's extra for a HELLO of `authid` by `method`, and the rest of it as the
/// client sees it: the keys, and which of them hold the same value on a second attempt.
async fn challenge_of(node: &Node, ca: &Ca, method: &str, authid: &str) -> Value {
    let mut w = hello(
        node,
        ca,
        json!({"authid": authid, "authmethods": [method],
            "authextra": {"nonce": "AAECAwQFBgcICQoLDA0ODw=="}}),
    )
    .await;
    let challenge = w.recv().await;
    assert_eq!(challenge[0], 4, "{challenge}");
    challenge[2].clone()
}

fn keys(extra: &Value) -> Vec<String> {
    let mut keys: Vec<String> = extra.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[async_std::test]
async fn an_unknown_scram_user_looks_like_a_known_one_attempt_after_attempt() {
    let auth = json!({"scram": {"type": "static", "principals": {"alice@example.com": {
        "role": "user", "kdf": "argon2id-13", "iterations": 8192, "memory": 1024,
        "salt": "ff8d9819fc0e12bf0d24892e45987e24",
        "stored-key": "a7f4f4b9458b859252ba0a0b0c10cdf24b68d6ab257704b65049cfa92e9428a1",
        "server-key": "dd13f08d5bd56df06d8306d18fbb576296e0595910fc7afc2aaaa28138448d0a"}}}});
    let (dir, ca, node) = node(auth, json!({}));
    // A secret file left empty (a crash between creating and writing it) is replaced.
    dir.write("wssnode.secret", "");
    let known = challenge_of(&node, &ca, "scram", "alice@example.com").await;
    let unknown = challenge_of(&node, &ca, "scram", "mallory@example.com").await;
    let again = challenge_of(&node, &ca, "scram", "mallory@example.com").await;
    assert_eq!(keys(&known), keys(&unknown));
    for key in ["kdf", "iterations", "memory"] {
        assert_eq!(known[key], unknown[key], "{key} as a real user's");
    }
    assert_eq!(unknown["salt"], again["salt"], "the same salt every time");
    assert_eq!(
        unknown["salt"].as_str().map(str::len),
        known["salt"].as_str().map(str::len)
    );
    assert_ne!(
        challenge_of(&node, &ca, "scram", "eve@example.com").await["salt"],
        unknown["salt"],
        "each authid a salt of its own"
    );
    // The same after a restart: the secret is kept in the node directory.
    let port = node.port;
    drop(node);
    assert!(dir.path().join("wssnode.secret").exists());
    let node = dir.start(port);
    let after = challenge_of(&node, &ca, "scram", "mallory@example.com").await;
    assert_eq!(after["salt"], unknown["salt"]);
}

#[async_std::test]
async fn an_unknown_wampcra_user_gets_the_salt_keys_a_salted_one_gets() {
    let (_dir, ca, node) = node(cra_users(), json!({}));
    let salted = challenge_of(&node, &ca, "wampcra", "peter").await;
    let unknown = challenge_of(&node, &ca, "wampcra", "nobody").await;
    let again = challenge_of(&node, &ca, "wampcra", "nobody").await;
    assert_eq!(keys(&salted), keys(&unknown));
    for key in ["iterations", "keylen"] {
        assert_eq!(salted[key], unknown[key]);
    }
    assert_eq!(unknown["salt"], again["salt"], "the same salt every time");
}

// ---------------------------------------------------------------------------------------
// Dynamic authenticators

fn dynamic(method: &str, timeout_ms: u64) -> Value {
    json!({method: {"type": "dynamic", "authenticator": "com.example.authenticate",
        "authenticator-timeout": timeout_ms}})
}

#[async_std::test]
async fn a_dynamic_ticket_is_checked_by_the_authenticator() {
    let (_dir, ca, node) = node(dynamic("ticket", 5000), json!({}));
    // (realm, authid, details) in, a role or a dict out.
    component(&node, &ca, "com.example.authenticate", |args| {
        assert_eq!(args[0], "realm1");
        assert_eq!(args[2]["authmethod"], "ticket");
        let transport = &args[2]["transport"];
        assert_eq!(transport["channel_type"], "tls");
        assert_eq!(
            transport["http_headers_received"]["sec-websocket-protocol"],
            "wamp.2.json"
        );
        match (args[1].as_str(), args[2]["ticket"].as_str()) {
            (Some("joe"), Some("joes-ticket")) => Ok(json!("user")),
            (Some("ann"), Some("anns-ticket")) => {
                Ok(json!({"role": "user", "authid": "ann@example.com", "extra": {"plan": "gold"}}))
            }
            _ => Err("wamp.error.not_authorized".into()),
        }
    })
    .await;
    let (_joe, welcome) = ticket_login(&node, &ca, "joe", "joes-ticket").await;
    welcomed(&welcome, "joe", "user", "ticket", "dynamic");

    let (_ann, welcome) = ticket_login(&node, &ca, "ann", "anns-ticket").await;
    welcomed(&welcome, "ann@example.com", "user", "ticket", "dynamic");
    assert_eq!(welcome[2]["authextra"]["plan"], "gold");

    let (_thief, abort) = ticket_login(&node, &ca, "joe", "stolen").await;
    assert_eq!(
        abort[2], "wamp.error.not_authorized",
        "the authenticator's error is the ABORT"
    );
}

#[async_std::test]
async fn a_dynamic_ticket_without_an_authid_is_named_by_the_authenticator() {
    let (_dir, ca, node) = node(dynamic("ticket", 5000), json!({}));
    component(&node, &ca, "com.example.authenticate", |args| {
        assert_eq!(args[1], Value::Null, "the HELLO named no authid");
        match args[2]["ticket"].as_str() {
            Some("api-key-1") => Ok(json!({"role": "user", "authid": "service-1"})),
            _ => Ok(json!({"role": "user"})),
        }
    })
    .await;
    for (ticket, expect) in [("api-key-1", Some("service-1")), ("api-key-2", None)] {
        let mut w = hello(&node, &ca, json!({"authmethods": ["ticket"]})).await;
        assert_eq!(w.recv().await[0], 4, "a ticket CHALLENGE");
        w.send(json!([5, ticket, {}])).await;
        let answer = w.recv().await;
        match expect {
            Some(authid) => welcomed(&answer, authid, "user", "ticket", "dynamic"),
            None => assert_eq!(
                answer[2], "wamp.error.no_such_principal",
                "an authenticator that names no authid: {answer}"
            ),
        }
    }
}

#[async_std::test]
async fn a_dynamic_wampcra_secret_comes_from_the_authenticator() {
    let (_dir, ca, node) = node(dynamic("wampcra", 5000), json!({}));
    component(&node, &ca, "com.example.authenticate", |args| {
        assert_eq!(args[2]["authmethod"], "wampcra");
        Ok(json!({"secret": "s3cret", "role": "user", "salt": "pepper", "iterations": 10, "keylen": 32}))
    })
    .await;
    let mut w = hello(
        &node,
        &ca,
        json!({"authid": "joe", "authmethods": ["wampcra"]}),
    )
    .await;
    let challenge = w.recv().await;
    assert_eq!(challenge[2]["salt"], "pepper");
    w.send(json!([5, cra_answer("s3cret", &challenge[2]), {}]))
        .await;
    welcomed(&w.recv().await, "joe", "user", "wampcra", "dynamic");
}

#[async_std::test]
async fn a_dynamic_cryptosign_key_comes_from_the_authenticator() {
    let (pair, public) = keypair();
    let (_dir, ca, node) = node(dynamic("cryptosign", 5000), json!({}));
    let key = public.clone();
    component(&node, &ca, "com.example.authenticate", move |args| {
        assert_eq!(args[2]["authextra"]["pubkey"], json!(key));
        Ok(json!({"pubkey": key, "role": "user", "authid": "device7"}))
    })
    .await;
    let mut w = hello(
        &node,
        &ca,
        json!({"authmethods": ["cryptosign"], "authextra": {"pubkey": public}}),
    )
    .await;
    let challenge = w.recv().await;
    w.send(json!([5, sign(&pair, &challenge[2]), {}])).await;
    welcomed(&w.recv().await, "device7", "user", "cryptosign", "dynamic");
}

#[async_std::test]
async fn a_dynamic_anonymous_role_is_the_authenticators_choice() {
    let (_dir, ca, node) = node(dynamic("anonymous", 5000), json!({}));
    component(&node, &ca, "com.example.authenticate", |_| {
        Ok(json!("user"))
    })
    .await;
    let mut w = hello(&node, &ca, json!({})).await;
    let welcome = w.recv().await;
    assert_eq!(welcome[2]["authrole"], "user");
    assert_eq!(welcome[2]["authprovider"], "dynamic");
}

#[async_std::test]
async fn no_authenticator_a_slow_one_or_an_unknown_role_means_no_session() {
    let (_dir, ca, node) = node(dynamic("anonymous", 5000), json!({}));
    // Nobody registered the authenticator yet.
    let mut w = hello(&node, &ca, json!({})).await;
    let abort = w.recv().await;
    assert_eq!(abort[2], "wamp.error.authentication_failed");
    assert!(node.log_text().contains("is not registered"));
    // One that never answers.
    let (_dir2, ca2, slow_node) = node_pair_with_slow_authenticator().await;
    let mut w = hello(&slow_node, &ca2, json!({})).await;
    assert_eq!(w.recv().await[2], "wamp.error.authentication_failed");
    // One that names a role the realm does not have.
    component(&node, &ca, "com.example.authenticate", |_| {
        Ok(json!("superuser"))
    })
    .await;
    let mut w = hello(&node, &ca, json!({})).await;
    assert_eq!(w.recv().await[2], "wamp.error.no_such_role");
}

#[async_std::test]
async fn a_client_waiting_for_a_slow_authenticator_still_answers_pings() {
    let options = json!({"auto_ping_interval": 200, "auto_ping_timeout": 200});
    let (_dir, ca, node) = node(dynamic("anonymous", 5000), json!({"options": options}));
    let delay = std::time::Duration::from_millis(1500);
    slow_component(&node, &ca, "com.example.authenticate", delay, json!("user")).await;
    let mut w = hello(&node, &ca, json!({})).await;
    let welcome = w.recv().await;
    assert_eq!(welcome[0], 2, "pinged while waiting, not closed: {welcome}");
}

#[async_std::test]
async fn a_client_whose_logins_wait_on_the_authenticator_leaves_room_for_another() {
    let options = json!({"max_pending_logins_per_client": 2});
    let (_dir, ca, node) = node(dynamic("anonymous", 20_000), json!({"options": options}));
    // The authenticator never answers for the first client, at once for the second.
    component(&node, &ca, "com.example.authenticate", |args| {
        match args[2]["transport"]["peer"].as_str() {
            Some(peer) if peer.starts_with("tcp4:127.0.0.2:") => Ok(json!("user")),
            _ => Ok(json!({"silent": true})),
        }
    })
    .await;
    let mut waiting = Vec::new();
    for _ in 0..2 {
        waiting.push(hello(&node, &ca, json!({})).await);
    }
    async_std::task::sleep(std::time::Duration::from_millis(300)).await;
    let mut third = hello(&node, &ca, json!({})).await;
    let abort = third.recv().await;
    assert_eq!(abort[0], 3);
    assert_eq!(abort[2], "wamp.error.authentication_failed");
    let message = abort[1]["message"].as_str().unwrap_or_default();
    assert!(message.contains("logins waiting"), "{abort}");
    assert!(
        !message.contains("wssnode.error"),
        "no internal URI: {abort}"
    );
    assert!(node.log_text().contains("max_pending_logins_per_client"));

    let ws = wss_from("127.0.0.2", node.port, &ca.der, "/ws", &["wamp.2.json"])
        .await
        .unwrap();
    let mut other = Wamp { ws, session: 0 };
    other.send(json!([1, "realm1", {}])).await;
    assert_eq!(other.recv().await[0], 2, "another client is let in");
    drop(waiting);
}

#[async_std::test]
async fn logins_over_the_authenticators_invocation_limit_are_told_to_wait_not_our_internals() {
    // The authenticator's component may have one invocation in flight (its path's
    // `max_invocations_in_flight`): a second login finds it busy.
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let ws = json!({"type": "websocket", "auth": dynamic("anonymous", 20_000)});
    let backend = json!({"type": "websocket", "options": {"max_invocations_in_flight": 1},
        "auth": {"ticket": {"type": "static",
        "principals": {"component": {"ticket": "backend-secret", "role": "backend"}}}}});
    dir.config(&web_config(
        port,
        json!({}),
        json!({"ws": ws, "backend": backend}),
        roles(),
    ));
    let node = dir.start(port);
    component(&node, &ca, "com.example.authenticate", |_| {
        Ok(json!({"silent": true}))
    })
    .await;
    let _first = hello(&node, &ca, json!({})).await;
    async_std::task::sleep(std::time::Duration::from_millis(300)).await;
    let mut second = hello(&node, &ca, json!({})).await;
    let abort = second.recv().await;
    assert_eq!(abort[0], 3);
    assert_eq!(abort[2], "wamp.error.authentication_failed");
    assert!(
        !abort.to_string().contains("wssnode.error"),
        "no internal URI: {abort}"
    );
    assert!(abort[1]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("try again later"));
}

async fn node_pair_with_slow_authenticator() -> (NodeDir, Ca, Node) {
    let (dir, ca, node) = node(dynamic("anonymous", 300), json!({}));
    let delay = std::time::Duration::from_millis(1500);
    slow_component(&node, &ca, "com.example.authenticate", delay, json!("user")).await;
    (dir, ca, node)
}

#[async_std::test]
async fn a_dynamic_tls_login_is_decided_on_the_certificate_presented() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    dir.write("ca.pem", &ca.cert_pem);
    let port = free_port();
    let backend = json!({"type": "websocket", "auth": {"ticket": {"type": "static",
        "principals": {"component": {"ticket": "backend-secret", "role": "backend"}}}}});
    let ws = json!({"type": "websocket", "auth": dynamic("tls", 5000)});
    let config = web_config(
        port,
        json!({"ca_certificates": ["ca.pem"]}),
        json!({"ws": ws, "backend": backend}),
        roles(),
    );
    dir.config(&config);
    let node = dir.start(port);
    let component_cert = ca.client("component");
    let alice = ca.client("alice");
    let alice_sha256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, alice.der.as_ref());
    let expected = data_encoding::HEXUPPER.encode(alice_sha256.as_ref());
    component_with(
        &node,
        client_tls(&ca.der, Some(&component_cert)),
        "com.example.authenticate",
        move |args| {
            assert_eq!(args[2]["authmethod"], "tls");
            let print = args[2]["transport"]["peer_cert"]["sha256"]
                .as_str()
                .unwrap_or("");
            if print.replace(':', "") == expected {
                Ok(json!({"role": "user", "authid": "alice"}))
            } else {
                Err("wamp.error.not_authorized".into())
            }
        },
    )
    .await;
    for (who, ok) in [(&alice, true), (&component_cert, false)] {
        let tls = client_tls(&ca.der, Some(who));
        let ws = wss_with(port, tls, "/ws", &["wamp.2.json"]).await.unwrap();
        let mut w = Wamp { ws, session: 0 };
        w.send(json!([1, "realm1", {"authmethods": ["tls"]}])).await;
        let answer = w.recv().await;
        if ok {
            welcomed(&answer, "alice", "user", "tls", "dynamic");
        } else {
            assert_eq!(answer[2], "wamp.error.not_authorized", "{answer}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Dynamic authorizers

#[async_std::test]
async fn an_authorizer_decides_each_action_and_its_cached_answers_are_kept() {
    let (_dir, ca, node) = node(
        json!({"ticket": {"type": "static", "principals": {"joe": {"ticket": "t", "role": "app"}}}}),
        json!({}),
    );
    let asked = component(&node, &ca, "com.example.authorize", |args| {
        assert_eq!(args[0]["authrole"], "app");
        match (args[1].as_str(), args[2].as_str()) {
            (Some("com.open"), Some("subscribe")) => Ok(json!(true)),
            (Some("com.cached"), Some("subscribe")) => Ok(json!({"allow": true, "cache": true})),
            (Some("com.broken"), _) => Err("com.example.oops".into()),
            _ => Ok(json!(false)),
        }
    })
    .await;
    let (mut w, answer) = ticket_login(&node, &ca, "joe", "t").await;
    assert_eq!(answer[0], 2);

    w.send(json!([32, 1, {}, "com.open"])).await;
    assert_eq!(w.recv().await[0], 33);
    w.send(json!([32, 2, {}, "com.closed"])).await;
    let denied = w.recv().await;
    assert_eq!(
        (&denied[0], &denied[4]),
        (&json!(8), &json!("wamp.error.not_authorized"))
    );
    w.send(json!([32, 3, {}, "com.broken"])).await;
    assert_eq!(w.recv().await[4], "wamp.error.authorization_failed");
    // Messages after one that waits for the authorizer keep their order.
    w.send_all([
        json!([32, 4, {}, "com.cached"]),
        json!([32, 5, {}, "com.cached"]),
        json!([32, 6, {}, "com.cached"]),
    ])
    .await;
    for request in [4, 5, 6] {
        let subscribed = w.recv().await;
        assert_eq!(
            (&subscribed[0], &subscribed[1]),
            (&json!(33), &json!(request))
        );
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        4,
        "a cached answer is not asked again"
    );
}

#[async_std::test]
async fn an_authorizer_that_does_not_answer_in_time_denies() {
    let (_dir, ca, node) = node(
        json!({"ticket": {"type": "static", "principals": {"joe": {"ticket": "t", "role": "hurried"}}}}),
        json!({}),
    );
    let delay = std::time::Duration::from_millis(1500);
    slow_component(&node, &ca, "com.example.slow", delay, json!(true)).await;
    let (mut w, answer) = ticket_login(&node, &ca, "joe", "t").await;
    assert_eq!(answer[0], 2);
    w.send(json!([32, 1, {}, "com.anything"])).await;
    let error = w.recv().await;
    assert_eq!(
        (&error[0], &error[4]),
        (&json!(8), &json!("wamp.error.authorization_failed"))
    );
}

// ---------------------------------------------------------------------------------------
// Cookies

/// Opens `/ws` sending `cookie`; returns the connection and the `Set-Cookie` it got.
async fn wss_with_cookie(node: &Node, ca: &Ca, cookie: Option<&str>) -> (Wamp, Option<String>) {
    let tls = connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .unwrap();
    let mut request = format!("wss://localhost:{}/ws", node.port)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("Cookie", cookie.parse().unwrap());
    }
    let (ws, response) = async_tungstenite::client_async(request, tls).await.unwrap();
    let set_cookie = response
        .headers()
        .get("Set-Cookie")
        .map(|v| v.to_str().unwrap().to_string());
    (Wamp { ws, session: 0 }, set_cookie)
}

#[async_std::test]
async fn a_cookie_remembers_a_login_until_logout() {
    let mut auth = cra_users();
    auth["cookie"] = json!({});
    let (_dir, ca, node) = node(auth, json!({"cookie": {"store": {"type": "memory"}}}));
    let (mut first, set_cookie) = wss_with_cookie(&node, &ca, None).await;
    let set_cookie = set_cookie.expect("a first visit gets a cookie");
    assert!(
        set_cookie.starts_with("cbtid=") && set_cookie.contains(";max-age=604800"),
        "{set_cookie}"
    );
    assert!(
        set_cookie.contains(";Secure")
            && set_cookie.contains(";HttpOnly")
            && set_cookie.contains(";SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    // Before any login, the cookie stands for no one.
    let (mut w, again) = wss_with_cookie(&node, &ca, Some(&cookie)).await;
    assert_eq!(again, None, "a cookie we issued is not issued again");
    w.send(json!([1, "realm1", {"authmethods": ["cookie"]}]))
        .await;
    assert_eq!(w.recv().await[2], "wamp.error.no_auth_method");

    first
        .send(json!([1, "realm1", {"authid": "joe", "authmethods": ["wampcra"]}]))
        .await;
    let challenge = first.recv().await;
    first
        .send(json!([5, cra_answer("secret2", &challenge[2]), {}]))
        .await;
    assert_eq!(first.recv().await[0], 2);

    let (mut second, _) = wss_with_cookie(&node, &ca, Some(&cookie)).await;
    second
        .send(json!([1, "realm1", {"authmethods": ["cookie", "wampcra"]}]))
        .await;
    welcomed(&second.recv().await, "joe", "user", "wampcra", "cookie");
    // Another tab of the same browser.
    let (mut other_tab, _) = wss_with_cookie(&node, &ca, Some(&cookie)).await;
    other_tab
        .send(json!([1, "realm1", {"authmethods": ["cookie"]}]))
        .await;
    welcomed(&other_tab.recv().await, "joe", "user", "wampcra", "cookie");

    second.send(json!([6, {}, "wamp.close.logout"])).await;
    assert_eq!(second.recv().await[0], 6);
    assert_eq!(
        other_tab.next().await,
        None,
        "a logout closes the other tabs"
    );

    let (mut third, set_again) = wss_with_cookie(&node, &ca, Some(&cookie)).await;
    assert!(set_again.is_some(), "a logged-out cookie is replaced");
    third
        .send(json!([1, "realm1", {"authmethods": ["cookie"]}]))
        .await;
    let abort = third.recv().await;
    assert_eq!(abort[2], "wamp.error.no_auth_method", "Crossbar's URI");
    let message = abort[1]["message"].as_str().unwrap();
    assert!(
        message.contains("not bound") && !message.contains("accepts: "),
        "a message that does not say cookie is accepted: {abort}"
    );
}

#[async_std::test]
async fn anonymous_logins_have_their_own_cookie_bound_and_never_log_a_user_out() {
    let mut auth = cra_users();
    auth["cookie"] = json!({});
    auth["anonymous"] = json!({"type": "static", "role": "user"});
    let cookie = json!({"store": {"type": "memory"}, "max_cookies": 5});
    let (_dir, ca, node) = node(auth, json!({"cookie": cookie}));
    let (mut joe, set_cookie) = wss_with_cookie(&node, &ca, None).await;
    let joes = set_cookie.unwrap().split(';').next().unwrap().to_string();
    joe.send(json!([1, "realm1", {"authid": "joe", "authmethods": ["wampcra"]}]))
        .await;
    let challenge = joe.recv().await;
    joe.send(json!([5, cra_answer("secret2", &challenge[2]), {}]))
        .await;
    assert_eq!(joe.recv().await[0], 2);
    // Ten anonymous visitors, each with a cookie of its own.
    for _ in 0..10 {
        let (mut visitor, _) = wss_with_cookie(&node, &ca, None).await;
        visitor
            .send(json!([1, "realm1", {"authmethods": ["anonymous"]}]))
            .await;
        assert_eq!(visitor.recv().await[0], 2);
    }
    let (mut again, _) = wss_with_cookie(&node, &ca, Some(&joes)).await;
    again
        .send(json!([1, "realm1", {"authmethods": ["cookie"]}]))
        .await;
    welcomed(&again.recv().await, "joe", "user", "wampcra", "cookie");
}

#[async_std::test]
async fn a_cookie_made_up_by_a_client_is_replaced_not_trusted() {
    let mut auth = cra_users();
    auth["cookie"] = json!({});
    let (_dir, ca, node) = node(auth, json!({"cookie": {"store": {"type": "memory"}}}));
    let (_w, set_cookie) = wss_with_cookie(&node, &ca, Some("cbtid=chosen-by-the-client")).await;
    assert!(set_cookie.is_some_and(|c| !c.contains("chosen-by-the-client")));
}

// ---------------------------------------------------------------------------------------
// Session control

#[async_std::test]
async fn wamp_session_kill_by_authid_ends_those_sessions_with_the_reason_given() {
    let auth = json!({"ticket": {"type": "static", "principals": {
        "joe": {"ticket": "t1", "role": "user"},
        "admin": {"ticket": "t2", "role": "backend"}}}});
    let (_dir, ca, node) = node(auth, json!({}));
    let mut joes = Vec::new();
    for _ in 0..2 {
        let (mut w, welcome) = ticket_login(&node, &ca, "joe", "t1").await;
        w.session = welcome[1].as_u64().unwrap();
        joes.push(w);
    }
    let (mut admin, answer) = ticket_login(&node, &ca, "admin", "t2").await;
    assert_eq!(answer[0], 2);
    admin.send(json!([48, 1, {}, "wamp.session.kill_by_authid", ["joe"], {"reason": "com.example.maintenance", "message": "back soon"}])).await;
    let result = admin.recv().await;
    assert_eq!(result[0], 50);
    let mut killed: Vec<u64> = serde_json::from_value(result[3][0].clone()).unwrap();
    killed.sort();
    let mut expected: Vec<u64> = joes.iter().map(|w| w.session).collect();
    expected.sort();
    assert_eq!(killed, expected);
    for joe in &mut joes {
        assert_eq!(
            joe.recv().await,
            json!([6, {"message": "back soon"}, "com.example.maintenance"])
        );
        // A killed session's connection closes; what it still sends is not served.
        let call = json!([48, 9, {}, "com.x", []]).to_string();
        let _ = joe.ws.send(Message::Text(call.into())).await;
        assert_eq!(joe.next().await, None);
    }
    assert!(
        !node.log_text().contains("too slow"),
        "a kill is not a slow client"
    );
    admin
        .send(json!([48, 2, {}, "wamp.session.kill", [12345]]))
        .await;
    assert_eq!(admin.recv().await[4], "wamp.error.no_such_session");
}

#[async_std::test]
async fn a_joe_may_not_kill_without_the_permission_to_call_it() {
    let auth = json!({"ticket": {"type": "static", "principals": {"joe": {"ticket": "t1", "role": "user"}}}});
    let (_dir, ca, node) = node(auth, json!({}));
    let (mut w, answer) = ticket_login(&node, &ca, "joe", "t1").await;
    assert_eq!(answer[0], 2);
    w.send(json!([
        48,
        1,
        {},
        "wamp.session.kill_by_authrole",
        ["backend"]
    ]))
    .await;
    assert_eq!(w.recv().await[4], "wamp.error.not_authorized");
}
