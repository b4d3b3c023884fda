//! TLS as the config asks for it: key formats, served chains, protocol versions,
//! client certificates and cipher strings, checked with a real rustls client.

mod common;
use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::json;

/// Starts a node whose key and certificate files hold `key_pem` and `cert_pem`.
fn node_with(key_pem: &str, cert_pem: &str, tls_extra: serde_json::Value) -> (NodeDir, Node) {
    let dir = NodeDir::new();
    dir.write("key.pem", key_pem);
    dir.write("cert.pem", cert_pem);
    let port = free_port();
    dir.config(&web_config(port, tls_extra, json!({}), open_roles()));
    let node = dir.start(port);
    (dir, node)
}

async fn served_chain(port: u16, roots: &CertificateDer<'static>) -> Vec<CertificateDer<'static>> {
    let tls = connect_tls(port, client_tls(roots, None)).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap().to_vec()
}

#[async_std::test]
async fn rsa_and_ecdsa_keys_in_pkcs8_pkcs1_and_sec1_all_work() {
    let ca = Ca::new("Test CA");
    for alg in [
        &rcgen::PKCS_RSA_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
    ] {
        let server = ca.server(alg);
        for key in [server.key_pem.clone(), traditional_key(&server.key_pem)] {
            let (_dir, node) = node_with(&key, &server.cert_pem, json!({}));
            let res = https(node.port, &ca.der, "GET", "/", &[]).await;
            assert_eq!(res.status, 200, "{alg:?} key starting {}", &key[..30]);
        }
    }
}

#[async_std::test]
async fn full_chain_in_certificate_is_served_in_order() {
    let root = Ca::new("Root CA");
    let intermediate = root.intermediate("Intermediate CA");
    let server = intermediate.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    let chain = format!("{}{}", server.cert_pem, intermediate.cert_pem);
    let (_dir, node) = node_with(&server.key_pem, &chain, json!({}));
    // The client trusts only the root: the handshake works only with the intermediate served.
    let served = served_chain(node.port, &root.der).await;
    assert_eq!(served, vec![server.der.clone(), intermediate.der.clone()]);
}

#[async_std::test]
async fn chain_certificates_are_appended_after_the_leaf() {
    let root = Ca::new("Root CA");
    let intermediate = root.intermediate("Intermediate CA");
    let server = intermediate.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    let dir = NodeDir::new();
    dir.write("key.pem", &server.key_pem);
    dir.write("cert.pem", &server.cert_pem);
    dir.write("chain/intermediate.pem", &intermediate.cert_pem);
    let port = free_port();
    dir.config(&web_config(
        port,
        json!({"chain_certificates": ["chain/intermediate.pem"]}),
        json!({}),
        open_roles(),
    ));
    let _node = dir.start(port);
    assert_eq!(served_chain(port, &root.der).await.len(), 2);
}

#[async_std::test]
async fn tls_1_2_and_1_3_are_accepted() {
    let ca = Ca::new("Test CA");
    let server = ca.server(&rcgen::PKCS_RSA_SHA256);
    let (_dir, node) = node_with(&server.key_pem, &server.cert_pem, json!({}));
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_protocol_versions(&[version])
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tls = connect_tls(node.port, std::sync::Arc::new(config))
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.protocol_version(), Some(version.version));
    }
}

/// One request with `Connection: close`, read to the end; the stream errors if the server
/// ends without close_notify.
async fn request_and_close(tls: &mut common::Tls) -> std::io::Result<HttpResponse> {
    use async_std::io::{ReadExt, WriteExt};
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut bytes = Vec::new();
    tls.read_to_end(&mut bytes).await?;
    Ok(parse_response(&bytes))
}

#[async_std::test]
async fn a_closing_connection_says_so_and_ends_with_close_notify_so_the_next_resumes() {
    let ca = Ca::new("Test CA");
    let server = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    let (_dir, node) = node_with(&server.key_pem, &server.cert_pem, json!({}));
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der.clone()).unwrap();
        let config = std::sync::Arc::new(
            rustls::ClientConfig::builder_with_protocol_versions(&[version])
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let mut first = connect_tls(node.port, config.clone()).await.unwrap();
        assert_eq!(
            first.get_ref().1.handshake_kind(),
            Some(rustls::HandshakeKind::Full)
        );
        let res = request_and_close(&mut first)
            .await
            .expect("a clean end: close_notify before the TCP close");
        assert_eq!(res.status, 200);
        assert_eq!(res.header("connection"), Some("close"));
        // Clients drop sessions that ended without close_notify; this one was kept.
        let second = connect_tls(node.port, config).await.unwrap();
        assert_eq!(
            second.get_ref().1.handshake_kind(),
            Some(rustls::HandshakeKind::Resumed),
            "{version:?}"
        );
    }
}

/// A TLS 1.1 ClientHello, byte by byte (rustls clients cannot speak 1.1).
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend([7u8; 32]); // random
    body.push(0); // no session id
    body.extend([0x00, 0x06, 0xc0, 0x2f, 0xc0, 0x2b, 0xc0, 0x13]); // ECDHE-RSA/ECDSA-AES128-GCM, ECDHE-RSA-AES128-SHA
    body.extend([0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00, (body.len() >> 8) as u8, body.len() as u8];
    handshake.extend(body);
    let mut record = vec![
        0x16,
        0x03,
        0x01,
        (handshake.len() >> 8) as u8,
        handshake.len() as u8,
    ];
    record.extend(handshake);
    record
}

#[async_std::test]
async fn a_tls_1_1_client_is_refused_with_protocol_version_alert() {
    use async_std::io::{ReadExt, WriteExt};
    let ca = Ca::new("Test CA");
    let server = ca.server(&rcgen::PKCS_RSA_SHA256);
    let (_dir, node) = node_with(&server.key_pem, &server.cert_pem, json!({}));
    let mut tcp = async_std::net::TcpStream::connect(("127.0.0.1", node.port))
        .await
        .unwrap();
    tcp.write_all(&tls11_client_hello()).await.unwrap();
    let mut reply = [0u8; 7];
    tcp.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply[0], 0x15, "an alert record");
    assert_eq!(reply[5], 2, "a fatal alert");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let log = node.log_text();
    assert!(log.contains("tls handshake failed"), "{log}");
}

fn client_cert_node(ca: &Ca) -> (NodeDir, Node) {
    let dir = NodeDir::new();
    dir.server_pair(ca);
    dir.write("clients-ca.pem", &ca.cert_pem);
    let port = free_port();
    dir.config(&web_config(
        port,
        json!({"ca_certificates": ["clients-ca.pem"]}),
        json!({}),
        open_roles(),
    ));
    let node = dir.start(port);
    (dir, node)
}

/// Whether an HTTPS request completes with this client configuration.
async fn request_works(port: u16, config: std::sync::Arc<rustls::ClientConfig>) -> bool {
    let Ok(tls) = connect_tls(port, config).await else {
        return false;
    };
    use async_std::io::{ReadExt, WriteExt};
    let mut tls = tls;
    // TLS 1.3 reports a refused client certificate only on the first read.
    if tls
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    // The server may end without close_notify, so judge by what arrived.
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    out.starts_with(b"HTTP/1.1 200")
}

#[async_std::test]
async fn with_ca_certificates_only_clients_of_that_ca_get_in() {
    let ca = Ca::new("Clients CA");
    let other = Ca::new("Other CA");
    let (_dir, node) = client_cert_node(&ca);
    assert!(
        !request_works(node.port, client_tls(&ca.der, None)).await,
        "no client certificate"
    );
    assert!(
        !request_works(
            node.port,
            client_tls(&ca.der, Some(&other.client("mallory")))
        )
        .await,
        "certificate of another CA"
    );
    assert!(
        request_works(node.port, client_tls(&ca.der, Some(&ca.client("alice")))).await,
        "the right certificate: {}",
        node.log_text()
    );
    let log = node.log_text();
    assert!(
        log.contains("tls handshake failed"),
        "refusals are logged: {log}"
    );
}

#[async_std::test]
async fn the_cipher_string_limits_tls_1_2_suites() {
    let ca = Ca::new("Test CA");
    let server = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    let (_dir, node) = node_with(
        &server.key_pem,
        &server.cert_pem,
        json!({"ciphers": "ECDHE-ECDSA-CHACHA20-POLY1305:!AES"}),
    );
    let tls12_with = |suite: rustls::SupportedCipherSuite| {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        provider.cipher_suites = vec![suite];
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der.clone()).unwrap();
        std::sync::Arc::new(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
                .with_protocol_versions(&[&rustls::version::TLS12])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    };
    use rustls::crypto::aws_lc_rs::cipher_suite::*;
    assert!(connect_tls(
        node.port,
        tls12_with(TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
    )
    .await
    .is_ok());
    assert!(connect_tls(
        node.port,
        tls12_with(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
    )
    .await
    .is_err());
    // TLS 1.3 is not governed by the cipher string.
    assert!(connect_tls(node.port, client_tls(&ca.der, None))
        .await
        .is_ok());
}

#[async_std::test]
async fn missing_key_and_certificate_are_generated_self_signed() {
    let dir = NodeDir::new();
    let port = free_port();
    dir.config(&web_config(port, json!({}), json!({}), open_roles()));
    let node = dir.start(port);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let cert = CertificateDer::from_pem_file(dir.path().join("cert.pem")).unwrap();
    let res = https(port, &cert, "GET", "/", &[]).await;
    assert_eq!(res.status, 200);
    assert!(
        node.log_text().contains("SHA-256"),
        "the fingerprint is logged"
    );
}
