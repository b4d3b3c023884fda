//! ACME end to end with `pebble`, the test CA Let's Encrypt publishes: the node obtains a
//! certificate with TLS-ALPN-01 on its own port, a client verifies it against pebble's
//! root, the renewal (pebble issues 45-second certificates here) swaps the certificate while
//! a WebSocket session stays open, and a restart serves the cached certificate at once with
//! pebble gone.
//!
//! Ignored by `cargo test` (it needs pebble, and takes about a minute); `./test.sh` runs it
//! after `interop/setup.sh` has installed pebble:  cargo test --test acme -- --ignored

mod common;
use common::*;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Pebble, stopped when dropped.
struct Pebble {
    child: Child,
    directory: String,
    management: u16,
}

impl Pebble {
    /// Pebble's root, from its management API (over HTTPS with its own pair, from `ca`).
    async fn root(&self, ca: &Ca) -> rustls::pki_types::CertificateDer<'static> {
        let res = https(self.management, &ca.der, "GET", "/roots/0", &[]).await;
        assert_eq!(res.status, 200);
        rustls::pki_types::pem::PemObject::from_pem_slice(&res.body).unwrap()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts pebble on free ports, validating TLS-ALPN-01 on `tls_port` and HTTP-01 on
/// `http_port`; its own HTTPS pair is issued by `ca`, written into `dir`.
fn start_pebble(
    dir: &std::path::Path,
    ca: &Ca,
    (tls_port, http_port): (u16, u16),
    validity_s: u64,
) -> Pebble {
    let issued = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    std::fs::write(dir.join("pebble.pem"), &issued.cert_pem).unwrap();
    std::fs::write(dir.join("pebble.key"), &issued.key_pem).unwrap();
    let (port, management, http) = (free_port(), free_port(), http_port);
    let config = json!({"pebble": {
        "listenAddress": format!("127.0.0.1:{port}"),
        "managementListenAddress": format!("127.0.0.1:{management}"),
        "certificate": dir.join("pebble.pem"), "privateKey": dir.join("pebble.key"),
        "httpPort": http, "tlsPort": tls_port, "ocspResponderURL": "",
        "externalAccountBindingRequired": false, "certificateValidityPeriod": validity_s}});
    std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
    let log = std::fs::File::create(dir.join("pebble.log")).unwrap();
    let child = Command::new("pebble")
        .arg("-config")
        .arg(dir.join("pebble.json"))
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("pebble runs (interop/setup.sh installs it: apt-get install pebble)");
    // Ready once it accepts connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pebble did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Pebble {
        child,
        directory: format!("https://127.0.0.1:{port}/dir"),
        management,
    }
}

/// How many log lines contain `text`.
fn count(node: &Node, text: &str) -> usize {
    node.log_text().lines().filter(|l| l.contains(text)).count()
}

async fn wait_for_count(node: &Node, text: &str, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while count(node, text) < n {
        assert!(
            Instant::now() < deadline,
            "no {n}× `{text}` within {limit:?}:\n{}",
            node.log_text()
        );
        async_std::task::sleep(Duration::from_millis(100)).await;
    }
}

/// The certificate the node serves now, verified against `root`.
async fn served_certificate(
    port: u16,
    root: &rustls::pki_types::CertificateDer<'static>,
) -> Vec<u8> {
    let tls = connect_tls(port, client_tls(root, None))
        .await
        .expect("verified against pebble's root");
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[async_std::test]
#[ignore = "needs pebble; ./test.sh runs it after installing pebble"]
async fn a_certificate_is_obtained_renewed_under_an_open_session_and_served_from_the_cache() {
    let dir = NodeDir::new();
    let pebble_ca = Ca::new("pebble HTTPS test CA");
    dir.write("pebble-ca.pem", &pebble_ca.cert_pem);
    let port = free_port();
    let pebble = start_pebble(dir.path(), &pebble_ca, (port, free_port()), 45);
    // No `interface`: pebble resolves `localhost` itself, to 127.0.0.1 or ::1.
    let config = json!({"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": open_roles()}],
        "transports": [{"type": "web", "endpoint": {"type": "tcp", "port": port,
            "tls": {"acme": {"domains": ["localhost"], "contact": ["mailto:admin@example.com"],
                "directory": pebble.directory, "cache": "acme",
                "directory_ca_certificates": ["pebble-ca.pem"]}}},
          "paths": {"ws": {"type": "websocket"}, "health": {"type": "health"}}}]}]});
    dir.config(&config);
    let node = dir.start(port);
    wait_for_count(&node, "certificate obtained", 1, Duration::from_secs(30)).await;
    assert!(node
        .log_text()
        .contains("answered the TLS-ALPN-01 challenge"));

    let root = pebble.root(&pebble_ca).await;
    let first = served_certificate(port, &root).await;

    // A session opens, and stays open across the renewal.
    let mut session = Wamp::join(port, &root).await;
    session.send(json!([32, 1, {}, "com.renewal"])).await;
    assert_eq!(session.recv().await[0], 33);
    wait_for_count(&node, "certificate obtained", 2, Duration::from_secs(60)).await;
    let second = served_certificate(port, &root).await;
    assert_ne!(first, second, "new connections get the renewed certificate");
    let mut publisher = Wamp::join(port, &root).await;
    publisher
        .send(json!([16, 2, {}, "com.renewal", ["still here"]]))
        .await;
    assert_eq!(
        session.recv().await[4],
        json!(["still here"]),
        "the old session still works"
    );

    // The cache: files 0600, and a restart without the CA serves the cached certificate.
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir.path().join("acme")).unwrap() {
        let mode = entry.unwrap().metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    drop(session);
    drop(publisher);
    drop(node);
    drop(pebble);
    let node = dir.start(port);
    assert!(
        node.wait_for_log("serving the cached certificate", Duration::from_secs(10))
            .await,
        "{}",
        node.log_text()
    );
    assert_eq!(served_certificate(port, &root).await, second);
}

#[async_std::test]
#[ignore = "needs pebble; ./test.sh runs it after installing pebble"]
async fn with_http_01_the_challenge_is_answered_on_a_plain_transport() {
    let dir = NodeDir::new();
    let pebble_ca = Ca::new("pebble HTTPS test CA");
    dir.write("pebble-ca.pem", &pebble_ca.cert_pem);
    let (port, plain) = (free_port(), free_port());
    let pebble = start_pebble(dir.path(), &pebble_ca, (free_port(), plain), 3600);
    let config = json!({"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": open_roles()}],
        "transports": [
          {"type": "web", "endpoint": {"type": "tcp", "port": port,
            "tls": {"acme": {"domains": ["localhost"], "directory": pebble.directory,
                "challenge": "http-01", "directory_ca_certificates": ["pebble-ca.pem"]}}},
           "paths": {"ws": {"type": "websocket"}}},
          {"type": "web", "endpoint": {"type": "tcp", "port": plain},
           "paths": {"/": {"type": "health"}}}]}]});
    dir.config(&config);
    let node = dir.start(port);
    wait_for_count(&node, "certificate obtained", 1, Duration::from_secs(30)).await;
    assert!(
        node.log_text().contains("answered the HTTP-01 challenge"),
        "{}",
        node.log_text()
    );
    let root = pebble.root(&pebble_ca).await;
    served_certificate(port, &root).await;
}
