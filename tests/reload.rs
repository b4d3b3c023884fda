//! SIGHUP re-reads the TLS key and certificate for new connections, and the realms' roles
//! and permissions for every session; open connections stay up, and what needs a restart
//! is logged as such.

mod common;
use common::*;
use serde_json::json;

#[async_std::test]
async fn sighup_serves_a_renewed_certificate_to_new_connections_only() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    let first = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    dir.write("key.pem", &first.key_pem);
    dir.write("cert.pem", &first.cert_pem);
    let port = free_port();
    dir.config(&web_config(port, json!({}), json!({}), open_roles()));
    let node = dir.start(port);
    let mut before = Wamp::join(port, &ca.der).await;

    // Renew, as certbot would, and tell the node.
    let renewed = ca.server(&rcgen::PKCS_RSA_SHA256);
    dir.write("key.pem", &renewed.key_pem);
    dir.write("cert.pem", &renewed.cert_pem);
    node.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !node.log_text().contains("reloaded") {
        assert!(
            std::time::Instant::now() < deadline,
            "no reload logged: {}",
            node.log_text()
        );
        async_std::task::sleep(std::time::Duration::from_millis(20)).await;
    }
    let tls = connect_tls(port, client_tls(&ca.der, None)).await.unwrap();
    assert_eq!(tls.get_ref().1.peer_certificates().unwrap()[0], renewed.der);

    // The connection from before the reload still works.
    before.send(json!([48, 1, {}, "wamp.session.count"])).await;
    assert_eq!(before.recv().await[0], json!(50));

    // A bad file keeps the current certificate.
    dir.write("cert.pem", "garbage");
    node.signal("HUP");
    while !node.log_text().contains("reload failed") {
        assert!(
            std::time::Instant::now() < deadline + std::time::Duration::from_secs(5),
            "no failure logged"
        );
        async_std::task::sleep(std::time::Duration::from_millis(20)).await;
    }
    let tls = connect_tls(port, client_tls(&ca.der, None)).await.unwrap();
    assert_eq!(tls.get_ref().1.peer_certificates().unwrap()[0], renewed.der);
}

/// realm1 with role `anonymous` allowed to publish under `prefix` (and to subscribe).
fn roles_publishing_under(prefix: &str) -> serde_json::Value {
    json!([{"name": "anonymous", "permissions": [
        {"uri": "", "match": "prefix", "allow": {"subscribe": true}},
        {"uri": prefix, "match": "prefix", "allow": {"publish": true}}]}])
}

async fn publish(session: &mut Wamp, topic: &str) -> serde_json::Value {
    session
        .send(json!([16, 1, {"acknowledge": true}, topic, []]))
        .await;
    session.recv().await
}

#[async_std::test]
async fn sighup_gives_open_sessions_their_roles_new_permissions_and_names_what_needs_a_restart() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    dir.config(&web_config(
        port,
        json!({}),
        json!({}),
        roles_publishing_under("com.old."),
    ));
    let node = dir.start(port);
    let mut open = Wamp::join(port, &ca.der).await;
    assert_eq!(publish(&mut open, "com.old.x").await[0], 17);
    assert_eq!(
        publish(&mut open, "com.new.x").await[4],
        "wamp.error.not_authorized"
    );

    // New permissions, and a new path and a cluster section (which need a restart).
    let mut config = web_config(
        port,
        json!({}),
        json!({"info": {"type": "nodeinfo"}}),
        roles_publishing_under("com.new."),
    );
    config["workers"][0]["cluster"] = json!({"type": "redis", "url": "redis://127.0.0.1:9/0"});
    dir.config(&config);
    node.signal("HUP");
    assert!(
        node.wait_for_log(
            "reloaded the roles of realm `realm1`",
            std::time::Duration::from_secs(5)
        )
        .await,
        "{}",
        node.log_text()
    );
    assert_eq!(
        publish(&mut open, "com.new.x").await[0],
        17,
        "the open session has the new permissions"
    );
    assert_eq!(
        publish(&mut open, "com.old.x").await[4],
        "wamp.error.not_authorized"
    );
    for restart in [
        "paths` `/info` changed in config.json: restart",
        "`workers[0].cluster` changed in config.json: restart",
    ] {
        let logged = node.wait_for_log(restart, std::time::Duration::from_secs(5));
        assert!(logged.await, "{}", node.log_text());
    }

    // A role removed: its sessions are closed; a broken config keeps the running one.
    let config = web_config(
        port,
        json!({}),
        json!({}),
        json!([{"name": "other", "permissions": []}]),
    );
    dir.config(&config);
    node.signal("HUP");
    let goodbye = open.recv().await;
    assert_eq!(
        (&goodbye[0], &goodbye[2]),
        (&json!(6), &json!("wamp.close.killed"))
    );
    dir.write("config.json", "{ not json");
    node.signal("HUP");
    assert!(
        node.wait_for_log(
            "config.json not reloaded",
            std::time::Duration::from_secs(5)
        )
        .await
    );
}
