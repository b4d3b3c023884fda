//! The small WAMP-over-wss client the load tools share (bench, soak): join a realm, send a
//! message, read the next one. Not a general client: enough to drive a router hard.
//! Each tool uses a part of it.
#![allow(dead_code)]

use async_std::net::TcpStream;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// A WAMP session's WebSocket over TLS.
pub type Ws = async_tungstenite::WebSocketStream<futures_rustls::client::TlsStream<TcpStream>>;

/// A TLS client configuration trusting the certificates in `ca_file`.
pub fn tls_trusting(ca_file: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .unwrap_or_else(|e| panic!("cannot read --ca {ca_file}: {e}"));
    for cert in certs.flatten() {
        let _ = roots.add(cert);
    }
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Opens `url` (wss) with subprotocol wamp.2.json and joins `realm`.
pub async fn join(url: &str, realm: &str, tls: &Arc<rustls::ClientConfig>) -> Result<Ws, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "wamp.2.json".parse().map_err(|_| "header")?,
    );
    let host = request.uri().host().unwrap_or("localhost").to_string();
    let port = request.uri().port_u16().unwrap_or(443);
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host).map_err(|e| e.to_string())?;
    let stream = futures_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut ws, _) = async_tungstenite::client_async(request, stream)
        .await
        .map_err(|e| e.to_string())?;
    let roles = json!({"caller": {}, "callee": {}, "publisher": {}, "subscriber": {}});
    send(&mut ws, json!([1, realm, {"roles": roles}])).await?;
    match next(&mut ws).await {
        Some(v) if v[0] == 2 => Ok(ws),
        other => Err(format!("no WELCOME: {other:?}")),
    }
}

/// Sends one WAMP message.
pub async fn send(ws: &mut Ws, v: Value) -> Result<(), String> {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .map_err(|e| e.to_string())
}

/// Sends a message already serialized as JSON text (cheaper for hot loops).
pub async fn send_text(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())
}

/// A received frame as a reader of text messages sees it: `Some(Some(text))`, `Some(None)`
/// for a frame to skip (ping, pong, binary), `None` when the connection has ended.
fn text_of(frame: Result<Message, WsError>) -> Option<Option<String>> {
    match frame {
        Ok(Message::Text(text)) => Some(Some(text.as_str().to_string())),
        Ok(Message::Close(_)) | Err(_) => None,
        Ok(_) => Some(None),
    }
}

/// The next text frame, or None when the connection ended or was silent for 10 s.
pub async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        let frame = async_std::future::timeout(Duration::from_secs(10), ws.next())
            .await
            .ok()??;
        if let Some(text) = text_of(frame)? {
            return Some(text);
        }
    }
}

/// The next WAMP message, or None when the connection ended or was silent for 10 s.
pub async fn next(ws: &mut Ws) -> Option<Value> {
    serde_json::from_str(&next_text(ws).await?).ok()
}

/// One deadline for a whole run. Load loops wait on it instead of a timeout per message:
/// every new timer registers with the reactor and wakes its thread, which would make the
/// client, not the router, what a figure measures.
pub struct RunDeadline {
    at: std::time::Instant,
    timer: async_io::Timer,
}

impl RunDeadline {
    /// Fires at `at`.
    pub fn at(at: std::time::Instant) -> RunDeadline {
        RunDeadline {
            at,
            timer: async_io::Timer::at(at),
        }
    }

    /// Waits until the deadline (at once if it has passed).
    async fn wait(&mut self) {
        if std::time::Instant::now() < self.at {
            (&mut self.timer).await;
        }
    }
}

/// The next text frame, or None when the connection ended or the run's deadline passed.
pub async fn next_text_by(ws: &mut Ws, deadline: &mut RunDeadline) -> Option<String> {
    loop {
        let frame = futures_lite::future::or(async { ws.next().await }, async {
            deadline.wait().await;
            None
        })
        .await?;
        if let Some(text) = text_of(frame)? {
            return Some(text);
        }
    }
}

/// A text frame that has already arrived, without waiting for one.
pub async fn ready_text(ws: &mut Ws) -> Option<String> {
    loop {
        let frame = futures_lite::future::poll_once(ws.next()).await??;
        if let Some(text) = text_of(frame)? {
            return Some(text);
        }
    }
}

/// Queues a serialized message without sending it yet (see `flush`).
pub async fn feed_text(ws: &mut Ws, text: String) -> Result<(), String> {
    use futures_util::SinkExt;
    ws.feed(Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())
}

/// Sends what `feed_text` queued, in as few writes as it fits.
pub async fn flush(ws: &mut Ws) -> Result<(), String> {
    use futures_util::SinkExt;
    ws.flush().await.map_err(|e| e.to_string())
}
