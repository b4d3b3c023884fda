//! The configs wssnode ships (the demo in `node/`, and what `wssnode init` writes) are safe
//! to expose as they are: an anonymous client gets the application's prefix, not the
//! router's own `wamp.` procedures, and no page lists the node's paths.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;

/// Serves `config` (a shipped one) from a temporary node directory, on a free port of
/// 127.0.0.1, with the test CA's certificate under the names the config gives.
fn serve_shipped(mut config: Value) -> (NodeDir, Ca, Node) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    let server = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    let port = free_port();
    let transport = &mut config["workers"][0]["transports"][0];
    transport["endpoint"]["port"] = json!(port);
    transport["endpoint"]["interface"] = json!("127.0.0.1");
    let tls = transport["endpoint"]["tls"].clone();
    dir.write(tls["key"].as_str().unwrap(), &server.key_pem);
    dir.write(tls["certificate"].as_str().unwrap(), &server.cert_pem);
    // The demo's site is `../www`, beside the node directory: here, the test's own.
    transport["paths"]["/"]["directory"] = json!("www");
    dir.config(&config);
    let node = dir.start(port);
    (dir, ca, node)
}

/// What an anonymous client of realm1 gets for these calls.
async fn anonymous_can(node: &Node, ca: &Ca, prefix: &str) {
    let mut w = Wamp::join(node.port, &ca.der).await;
    // Its application's prefix: register and call.
    let procedure = format!("{prefix}add2");
    w.send(json!([64, 1, {}, procedure])).await;
    assert_eq!(w.recv().await[0], 65, "may register {procedure}");
    // The router's own procedures: none, and least of all the one that ends sessions.
    for (request, uri, args) in [
        (2, "wamp.session.kill_by_authrole", json!(["anonymous"])),
        (3, "wamp.session.get", json!([w.session])),
        (4, "wamp.session.list", json!([])),
    ] {
        w.send(json!([48, request, {}, uri, args])).await;
        let error = w.recv().await;
        assert_eq!(
            (&error[0], &error[4]),
            (&json!(8), &json!("wamp.error.not_authorized")),
            "{uri}: {error}"
        );
    }
    // Still in session: nothing closed it.
    w.send(json!([32, 5, {}, format!("{prefix}chat")])).await;
    assert_eq!(w.recv().await[0], 33);
    let info = https(node.port, &ca.der, "GET", "/info", &[]).await;
    assert_eq!(info.status, 404, "no page lists the node's paths");
}

#[async_std::test]
async fn the_demo_node_is_safe_to_expose() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("node/config.json"))
            .unwrap();
    let (_dir, ca, node) = serve_shipped(serde_json::from_str(&text).unwrap());
    anonymous_can(&node, &ca, "demo.").await;
}

#[async_std::test]
async fn the_node_init_writes_is_safe_to_expose() {
    let parent = tempfile::tempdir().unwrap();
    let made = parent.path().join("fresh");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_wssnode"))
        .arg("init")
        .arg(&made)
        .output()
        .unwrap();
    assert!(status.status.success());
    let text = std::fs::read_to_string(made.join("config.json")).unwrap();
    let (_dir, ca, node) = serve_shipped(serde_json::from_str(&text).unwrap());
    anonymous_can(&node, &ca, "app.").await;
}
