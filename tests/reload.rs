//! SIGHUP re-reads the TLS key and certificate for new connections; open ones stay up.

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
