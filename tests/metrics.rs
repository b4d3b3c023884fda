//! The `metrics` path: OpenMetrics text with what the node did (connections, HTTP
//! requests, WebSockets, WAMP sessions, messages, calls, authentications, TLS handshakes),
//! only for the clients its `require_ip` names.

mod common;
use common::*;
use serde_json::json;

/// The value of the sample named exactly `name` (with its labels), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[async_std::test]
async fn the_metrics_page_counts_what_the_node_did() {
    let paths = json!({
        "metrics": {"type": "metrics", "options": {"require_ip": ["127.0.0.0/8", "::1"]}},
        "lan-only": {"type": "metrics", "options": {"require_ip": ["10.0.0.0/8"]}}
    });
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    dir.config(&web_config(port, json!({}), paths, open_roles()));
    let node = dir.start(port);

    // One session that comes and goes.
    drop(Wamp::join(node.port, &ca.der).await);
    assert!(
        node.wait_for_log("websocket close", std::time::Duration::from_secs(5))
            .await
    );
    let mut callee = Wamp::join(node.port, &ca.der).await;
    let mut caller = Wamp::join(node.port, &ca.der).await;
    callee.send(json!([64, 1, {}, "com.add"])).await;
    assert_eq!(callee.recv().await[0], 65);
    for request in 1..=3 {
        caller
            .send(json!([48, request, {}, "com.add", [1, 2]]))
            .await;
        let invocation = callee.recv().await;
        callee.send(json!([70, invocation[1], {}, [3]])).await;
        assert_eq!(caller.recv().await[0], 50);
    }

    let res = https(node.port, &ca.der, "GET", "/metrics", &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = res.text();
    assert!(
        text.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF: {text}"
    );
    let expect = [
        (r#"wssnode_wamp_sessions{realm="realm1"}"#, 2.0),
        (
            r#"wssnode_wamp_messages_total{direction="in",type="CALL"}"#,
            3.0,
        ),
        (
            r#"wssnode_wamp_messages_total{direction="out",type="INVOCATION"}"#,
            3.0,
        ),
        (
            r#"wssnode_wamp_messages_total{direction="in",type="YIELD"}"#,
            3.0,
        ),
        (
            r#"wssnode_wamp_messages_total{direction="out",type="RESULT"}"#,
            3.0,
        ),
        (
            r#"wssnode_wamp_messages_total{direction="out",type="WELCOME"}"#,
            3.0,
        ),
        (
            r#"wssnode_authentications_total{method="anonymous",result="success"}"#,
            3.0,
        ),
        ("wssnode_websocket_opens_total", 3.0),
        ("wssnode_wamp_calls_in_flight", 0.0),
        (r#"wssnode_websocket_closes_total{code="none"}"#, 1.0),
        ("wssnode_wamp_call_duration_seconds_count", 3.0),
        (r#"wssnode_http_requests_total{class="1xx"}"#, 3.0),
    ];
    for (name, value) in expect {
        assert_eq!(sample(&text, name), Some(value), "{name} in:\n{text}");
    }
    // The two WebSockets and this request's own connection are open.
    let open = sample(
        &text,
        r#"wssnode_connections_open{transport="workers[0].transports[0]"}"#,
    );
    assert_eq!(open, Some(3.0), "{text}");
    assert!(
        sample(&text, r#"wssnode_tls_handshakes_total{result="full"}"#).is_some_and(|n| n >= 1.0)
    );

    // Every metric the example Grafana dashboard graphs is one the node serves.
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/grafana-dashboard.json"
    ))
    .unwrap();
    for token in dashboard.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if let Some(name) = token.strip_prefix("wssnode_") {
            let family = name.trim_end_matches("_total").trim_end_matches("_bucket");
            assert!(
                text.contains(&format!("# TYPE wssnode_{family} ")),
                "the dashboard's {token} is not served"
            );
        }
    }

    for direction in ["in", "out"] {
        let bytes = sample(
            &text,
            &format!(r#"wssnode_bytes_total{{direction="{direction}"}}"#),
        );
        assert!(
            bytes.is_some_and(|n| n > 1000.0),
            "bytes {direction}: {bytes:?}"
        );
    }

    let refused = https(node.port, &ca.der, "GET", "/lan-only", &[]).await;
    assert_eq!(refused.status, 403);
    assert!(!refused.text().contains("wssnode_"));
}
