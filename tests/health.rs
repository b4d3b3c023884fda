//! The `health` path: 200 with a small JSON body while the node serves, for the probes
//! load balancers and Kubernetes send (HTTP/1.0 without Host and 1.1, with and without TLS,
//! without SNI), kept out of the info log; 503 while the node drains after SIGTERM.

mod common;
use async_std::net::TcpStream;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A TLS web transport with `healthz` (draining `drain` seconds) beside WAMP, and a plain
/// one with health at `/`; returns the plain port too.
fn health_node(drain: u64) -> (NodeDir, Ca, Node, u16) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let (port, plain) = (free_port(), free_port());
    let mut config = web_config(
        port,
        json!({}),
        json!({"healthz": {"type": "health", "drain": drain}}),
        open_roles(),
    );
    config["workers"][0]["transports"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "web",
        "endpoint": {"type": "tcp", "port": plain, "interface": "127.0.0.1"},
        "paths": {"/": {"type": "health"}}}));
    dir.config(&config);
    let node = dir.start(port);
    (dir, ca, node, plain)
}

fn body(res: &HttpResponse) -> Value {
    serde_json::from_slice(&res.body).unwrap_or_else(|_| panic!("not JSON: {}", res.text()))
}

#[async_std::test]
async fn haproxy_and_kubernetes_probes_get_200_and_are_not_logged_at_info() {
    let (_dir, ca, node, plain) = health_node(0);
    // HAProxy's default: OPTIONS / HTTP/1.0, no Host, plain TCP.
    let tcp = TcpStream::connect(("127.0.0.1", plain)).await.unwrap();
    let res = http_raw(tcp, "OPTIONS / HTTP/1.0\r\n\r\n").await;
    assert_eq!((res.status, &body(&res)["status"]), (200, &json!("ok")));
    // Kubernetes' httpGet over TLS, and a TLS client that sends no SNI.
    let res = https(node.port, &ca.der, "GET", "/healthz", &[]).await;
    assert_eq!(
        (res.status, res.header("content-type")),
        (200, Some("application/json"))
    );
    let mut no_sni = (*client_tls(&ca.der, None)).clone();
    no_sni.enable_sni = false;
    let tls = connect_tls(node.port, std::sync::Arc::new(no_sni))
        .await
        .unwrap();
    let res = http_raw(tls, "GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status, 200, "{}", res.text());
    // The test node logs at debug; the probes are there, and only there.
    let log = node.log_text();
    let probes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("GET /healthz") || l.contains("OPTIONS /"))
        .collect();
    assert_eq!(probes.len(), 3, "{log}");
    assert!(
        probes.iter().all(|l| l.contains("\"level\":20")),
        "{probes:?}"
    );
}

#[async_std::test]
async fn after_sigterm_health_answers_503_for_the_drain_while_the_rest_serves() {
    let (_dir, ca, node, _) = health_node(2);
    let mut session = Wamp::join(node.port, &ca.der).await;
    node.signal("TERM");
    assert!(
        node.wait_for_log("draining", Duration::from_secs(2)).await,
        "{}",
        node.log_text()
    );
    let res = https(node.port, &ca.der, "GET", "/healthz", &[]).await;
    assert_eq!(
        (res.status, &body(&res)["status"]),
        (503, &json!("draining"))
    );
    // The router still serves, and new sessions still join.
    session.send(json!([32, 1, {}, "com.still"])).await;
    assert_eq!(session.recv().await[0], 33);
    Wamp::join(node.port, &ca.der).await;
    // Then the node stops.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.log_text().contains("\"stopped\"") {
        assert!(Instant::now() < deadline, "{}", node.log_text());
        async_std::task::sleep(Duration::from_millis(50)).await;
    }
}
