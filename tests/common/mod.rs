//! Shared test helpers: a node started from a temporary node directory on a free port
//! (stopped on drop), a test PKI made with rcgen, and small real clients (HTTPS over
//! rustls, WebSocket over async-tungstenite, a WAMP client on top).

#![allow(dead_code)]

use async_std::net::TcpStream;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_util::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SignatureAlgorithm};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A certificate authority for tests.
pub struct Ca {
    pub cert_pem: String,
    pub der: CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, KeyPair>,
}

/// A certificate with its key.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Ca {
    /// A new root CA named `name`.
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert_pem: cert.pem(),
            der: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Ca {
            cert_pem: cert.pem(),
            der: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A server certificate for localhost and 127.0.0.1 with a key of `alg`.
    pub fn server(&self, alg: &'static SignatureAlgorithm) -> Issued {
        self.issue(
            vec!["localhost".into(), "127.0.0.1".into()],
            "localhost",
            alg,
            None,
        )
    }

    /// A client certificate named `name`.
    pub fn client(&self, name: &str) -> Issued {
        self.issue(
            vec![name.into()],
            name,
            &rcgen::PKCS_ECDSA_P256_SHA256,
            None,
        )
    }

    /// A server certificate that is already expired.
    pub fn expired_server(&self) -> Issued {
        self.issue(
            vec!["localhost".into()],
            "localhost",
            &rcgen::PKCS_ECDSA_P256_SHA256,
            Some(-10),
        )
    }

    fn issue(
        &self,
        names: Vec<String>,
        cn: &str,
        alg: &'static SignatureAlgorithm,
        age_days: Option<i64>,
    ) -> Issued {
        let key = KeyPair::generate_for(alg).unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        if let Some(days) = age_days {
            let now = rcgen::date_time_ymd(2000, 1, 1);
            params.not_before = now;
            params.not_after = now + Duration::from_secs(days.unsigned_abs() * 86_400);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

/// Converts a PKCS#8 PEM key to its traditional form (PKCS#1 for RSA, SEC1 for EC).
pub fn traditional_key(pkcs8_pem: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["pkey", "-traditional"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl must be installed for the key-format tests");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pkcs8_pem.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// A node directory in a temporary folder.
pub struct NodeDir {
    pub dir: tempfile::TempDir,
}

impl NodeDir {
    /// An empty node directory with a `www/index.html`.
    pub fn new() -> NodeDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("www")).unwrap();
        std::fs::write(dir.path().join("www/index.html"), "<h1>hello</h1>\n").unwrap();
        NodeDir { dir }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating folders).
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Writes `config.json`.
    pub fn config(&self, config: &Value) {
        self.write("config.json", serde_json::to_string_pretty(config).unwrap());
    }

    /// Writes a server key and certificate issued by `ca` as `key.pem` and `cert.pem`.
    pub fn server_pair(&self, ca: &Ca) {
        let server = ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
        self.write("key.pem", &server.key_pem);
        self.write("cert.pem", &server.cert_pem);
    }

    /// Runs `wssnode ARGS…` to completion with a time limit; returns (status, stdout+stderr).
    pub fn run(&self, args: &[&str]) -> (Option<i32>, String, Duration) {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_wssnode"))
            .args(args)
            .arg(self.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = started + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut out = String::new();
                child
                    .stdout
                    .take()
                    .unwrap()
                    .read_to_string(&mut out)
                    .unwrap();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut out)
                    .unwrap();
                return (status.code(), out, started.elapsed());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return (None, "still running after 10 s".into(), started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts `wssnode DIR` and waits until `port` accepts connections.
    pub fn start(&self, port: u16) -> Node {
        let log = self.path().join("node.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_wssnode"))
            .arg(self.path())
            .env("RUST_LOG", "debug")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut node = Node { child, port, log };
        // Its own "listening" line, logged once every transport is bound: a port that
        // accepts could be another process's that took the free port first.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !node.log_text().contains("listening ")
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        {
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!(
                    "node exited ({status}) before it listened on {port}: {}",
                    node.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "node did not listen on {port}: {}",
                node.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        node
    }
}

/// A running node; killed on drop.
pub struct Node {
    pub child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Node {
    /// What the node logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `limit` until the node has logged `text`: a line that follows an event a
    /// client saw, such as a close, may come a moment after it.
    pub async fn wait_for_log(&self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log_text().contains(text) {
                return true;
            }
            async_std::task::sleep(Duration::from_millis(20)).await;
        }
        self.log_text().contains(text)
    }

    /// Sends a signal to the node.
    pub fn signal(&self, signal: &str) {
        Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A web transport on `port` with TLS from key.pem/cert.pem, static www at "/", WAMP at "ws".
pub fn web_config(port: u16, tls_extra: Value, paths_extra: Value, realm_roles: Value) -> Value {
    let mut tls = json!({"key": "key.pem", "certificate": "cert.pem"});
    merge(&mut tls, tls_extra);
    let mut paths = json!({
        "/": {"type": "static", "directory": "www", "options": {"cache_timeout": 0}},
        "ws": {"type": "websocket"}
    });
    merge(&mut paths, paths_extra);
    json!({"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": realm_roles}],
        "transports": [{"type": "web",
            "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1", "tls": tls},
            "paths": paths}]}]})
}

/// Starts a web node with TLS from a fresh test CA, www at "/", WAMP at "ws", and `roles`
/// in realm1.
pub fn wamp_node(roles: Value) -> (NodeDir, Ca, Node) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    dir.config(&web_config(port, json!({}), json!({}), roles));
    let node = dir.start(port);
    (dir, ca, node)
}

/// Starts a web node like `wamp_node` with the open roles, whose `ws` path has `options`.
pub fn wamp_node_with(options: Value) -> (NodeDir, Ca, Node) {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let paths = json!({"ws": {"type": "websocket", "options": options}});
    dir.config(&web_config(port, json!({}), paths, open_roles()));
    let node = dir.start(port);
    (dir, ca, node)
}

/// A plain ws:// testee transport with these transport `options`, and a connected client.
pub async fn testee_client(options: Value) -> (NodeDir, Node, WebSocketStream<TcpStream>) {
    let dir = NodeDir::new();
    let port = free_port();
    dir.config(&json!({"version": 2, "workers": [{"type": "router", "transports": [
        {"type": "websocket.testee", "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
         "options": options}]}]}));
    let node = dir.start(port);
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (ws, _) = async_tungstenite::client_async(format!("ws://127.0.0.1:{port}/"), tcp)
        .await
        .unwrap();
    (dir, node, ws)
}

/// The open role every demo uses: everything allowed on every URI.
pub fn open_roles() -> Value {
    json!([{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
        "disclose": {"caller": false, "publisher": false}}]}])
}

fn merge(base: &mut Value, extra: Value) {
    if let (Value::Object(base), Value::Object(extra)) = (base, extra) {
        for (k, v) in extra {
            base.insert(k, v);
        }
    }
}

/// A rustls client config trusting `ca`, optionally presenting a client certificate.
pub fn client_tls(
    ca: &CertificateDer<'static>,
    client: Option<&Issued>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(issued) => builder
            .with_client_auth_cert(
                vec![issued.der.clone()],
                PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    Arc::new(config)
}

/// The TLS stream type of our clients.
pub type Tls = futures_rustls::client::TlsStream<TcpStream>;

/// Opens a TLS connection to the node.
pub async fn connect_tls(port: u16, config: Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tls_over(tcp, config).await
}

/// A TCP connection to the node on 127.0.0.1 from the loopback address `source` (such as
/// 127.0.0.2): another client, as the node's per-client caps count them.
pub async fn connect_from(source: &str, port: u16) -> std::io::Result<TcpStream> {
    let source: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    let target: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&source.into())?;
    // Blocking, on a thread of async-std's: a connect on loopback is answered at once.
    let socket =
        async_std::task::spawn_blocking(move || socket.connect(&target.into()).map(|()| socket))
            .await?;
    Ok(TcpStream::from(std::net::TcpStream::from(socket)))
}

/// Opens a TLS connection to the node from the loopback address `source`.
pub async fn connect_tls_from(
    source: &str,
    port: u16,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<Tls> {
    tls_over(connect_from(source, port).await?, config).await
}

async fn tls_over(tcp: TcpStream, config: Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let connector = futures_rustls::TlsConnector::from(config);
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    Ok(tls)
}

/// An HTTP response as the tests see it.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one raw HTTP/1.1 request (with `Connection: close`) and reads the whole answer.
pub async fn http_raw<S>(mut stream: S, head: &str) -> HttpResponse
where
    S: async_std::io::Read + async_std::io::Write + Unpin,
{
    use async_std::io::{ReadExt, WriteExt};
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    // Read until the connection closes, or the head and its Content-Length body are in.
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let res = parse_response(&bytes);
            let want = res
                .header("content-length")
                .and_then(|l| l.parse::<usize>().ok());
            let head_only = res.status == 101 || res.status == 304 || head.starts_with("HEAD ");
            if head_only || want.is_some_and(|n| bytes.len() >= end + 4 + n) {
                return res;
            }
        }
        match async_std::future::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => bytes.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    parse_response(&bytes)
}

/// Parses a whole response as it arrived.
pub fn parse_response(bytes: &[u8]) -> HttpResponse {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    }
}

/// GET (or another method) over HTTPS with extra header lines.
pub async fn https(
    port: u16,
    ca: &CertificateDer<'static>,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> HttpResponse {
    let tls = connect_tls(port, client_tls(ca, None)).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    http_raw(tls, &head).await
}

/// A WebSocket over TLS.
pub type Ws = WebSocketStream<Tls>;

/// Opens a wss connection to `path`, offering `protocols`.
pub async fn wss(
    port: u16,
    ca: &CertificateDer<'static>,
    path: &str,
    protocols: &[&str],
) -> Result<Ws, async_tungstenite::tungstenite::Error> {
    wss_with(port, client_tls(ca, None), path, protocols).await
}

/// Opens a wss connection with a given client TLS config.
pub async fn wss_with(
    port: u16,
    config: Arc<rustls::ClientConfig>,
    path: &str,
    protocols: &[&str],
) -> Result<Ws, async_tungstenite::tungstenite::Error> {
    let tls = connect_tls(port, config).await?;
    wss_over(tls, port, path, protocols).await
}

/// Opens a wss connection from the loopback address `source` (another client).
pub async fn wss_from(
    source: &str,
    port: u16,
    ca: &CertificateDer<'static>,
    path: &str,
    protocols: &[&str],
) -> Result<Ws, async_tungstenite::tungstenite::Error> {
    let tls = connect_tls_from(source, port, client_tls(ca, None)).await?;
    wss_over(tls, port, path, protocols).await
}

async fn wss_over(
    tls: Tls,
    port: u16,
    path: &str,
    protocols: &[&str],
) -> Result<Ws, async_tungstenite::tungstenite::Error> {
    let mut request = format!("wss://localhost:{port}{path}").into_client_request()?;
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            protocols.join(", ").parse().unwrap(),
        );
    }
    let (ws, _) = async_tungstenite::client_async(request, tls).await?;
    Ok(ws)
}

/// A minimal WAMP client for tests: send JSON arrays, receive them.
pub struct Wamp {
    pub ws: Ws,
    pub session: u64,
}

impl Wamp {
    /// Connects and joins `realm1` anonymously.
    pub async fn join(port: u16, ca: &CertificateDer<'static>) -> Wamp {
        Self::join_with(port, ca, "realm1", json!({"roles": {"caller": {}, "callee": {"features": {"call_canceling": true, "progressive_call_results": true}}, "publisher": {}, "subscriber": {}}})).await
    }

    /// Connects and sends HELLO with `details`; expects WELCOME.
    pub async fn join_with(
        port: u16,
        ca: &CertificateDer<'static>,
        realm: &str,
        details: Value,
    ) -> Wamp {
        let ws = wss(port, ca, "/ws", &["wamp.2.json"]).await.unwrap();
        let mut wamp = Wamp { ws, session: 0 };
        wamp.send(json!([1, realm, details])).await;
        let welcome = wamp.recv().await;
        assert_eq!(welcome[0], 2, "expected WELCOME, got {welcome}");
        wamp.session = welcome[1].as_u64().unwrap();
        wamp
    }

    /// Sends a message.
    pub async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    /// Sends messages in as few writes as they fit, without waiting in between.
    pub async fn send_all(&mut self, messages: impl IntoIterator<Item = Value>) {
        use futures_util::SinkExt;
        for message in messages {
            self.ws
                .feed(Message::Text(message.to_string().into()))
                .await
                .unwrap();
        }
        self.ws.flush().await.unwrap();
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_string().into()))
            .await
            .unwrap();
    }

    /// The next WAMP message (within 5 s); panics on anything else.
    pub async fn recv(&mut self) -> Value {
        match self.next().await {
            Some(v) => v,
            None => panic!("connection ended while a message was expected"),
        }
    }

    /// The next WAMP message, or None if the connection ended.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let msg = async_std::future::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("no message within 5 s");
            match msg {
                Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next WAMP message however long it takes, or None once the connection ended.
    pub async fn next_or_none(&mut self) -> Option<Value> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).ok(),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Asserts nothing arrives for a short while.
    pub async fn silent(&mut self, ms: u64) {
        if let Ok(Some(Ok(Message::Text(text)))) =
            async_std::future::timeout(Duration::from_millis(ms), self.ws.next()).await
        {
            panic!("unexpected message {text}");
        }
    }
}

/// The first `n` fields of a WAMP message, to compare with a list.
pub fn fields(message: &Value, n: usize) -> Vec<Value> {
    message
        .as_array()
        .map(|a| a.iter().take(n).cloned().collect())
        .unwrap_or_default()
}
