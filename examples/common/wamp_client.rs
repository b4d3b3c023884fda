//! The small WAMP client the load tools share (bench, soak): join a realm over wss, or over
//! RawSocket (`rs://HOST:PORT`, `rss://` with TLS), send a message, read the next one. Not a
//! general client: enough to drive a router hard. Each tool uses a part of it.
#![allow(dead_code)]

use async_std::net::TcpStream;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_lite::{AsyncRead, AsyncWrite};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A WAMP session's WebSocket over TLS.
pub type Ws = async_tungstenite::WebSocketStream<futures_rustls::client::TlsStream<TcpStream>>;

/// What a session's messages travel over: a WebSocket, or RawSocket frames.
pub trait Frames:
    Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin
{
}
impl<T: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin> Frames
    for T
{
}

/// A session over either transport, as `join` opens it.
pub struct Conn(Box<dyn Frames + Send>);

impl Stream for Conn {
    type Item = Result<Message, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut *self.0).poll_next(cx)
    }
}

impl Sink<Message> for Conn {
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut *self.0).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        Pin::new(&mut *self.0).start_send(message)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut *self.0).poll_close(cx)
    }
}

/// A byte stream a RawSocket runs over (plain TCP or TLS).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// WAMP over RawSocket with JSON: frames of a 4-byte header (type, 24-bit length) and the
/// message. Reads go through `rbuf`, so a read given up half way (`ready_text`) loses nothing.
pub struct RawSocket {
    io: Box<dyn Io>,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
}

impl RawSocket {
    /// A whole frame at the front of the read buffer, taken out of it.
    fn take_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let head = self.rbuf.get(self.rpos..self.rpos + 4)?;
        let len = usize::from(head[1]) << 16 | usize::from(head[2]) << 8 | usize::from(head[3]);
        let kind = head[0] & 0x07;
        let payload = self.rbuf.get(self.rpos + 4..self.rpos + 4 + len)?.to_vec();
        self.rpos += 4 + len;
        if self.rpos > self.rbuf.len() / 2 {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        Some((kind, payload))
    }
}

impl Stream for RawSocket {
    type Item = Result<Message, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some((kind, payload)) = self.take_frame() {
                return Poll::Ready(Some(Ok(match kind {
                    0 => Message::Text(String::from_utf8_lossy(&payload).into_owned().into()),
                    1 => Message::Ping(payload.into()),
                    _ => Message::Pong(payload.into()),
                })));
            }
            let mut chunk = [0u8; 64 * 1024];
            match Pin::new(&mut self.io).poll_read(cx, &mut chunk) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(n)) => self.rbuf.extend_from_slice(&chunk[..n]),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Sink<Message> for RawSocket {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        let (kind, payload): (u8, &[u8]) = match &message {
            Message::Text(text) => (0, text.as_bytes()),
            Message::Binary(bytes) => (0, bytes),
            Message::Ping(bytes) => (1, bytes),
            Message::Pong(bytes) => (2, bytes),
            Message::Close(_) | Message::Frame(_) => return Ok(()),
        };
        let len = payload.len();
        let header = [kind, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        self.wbuf.extend_from_slice(&header);
        self.wbuf.extend_from_slice(payload);
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let this = &mut *self;
        while !this.wbuf.is_empty() {
            match Pin::new(&mut this.io).poll_write(cx, &this.wbuf) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(WsError::ConnectionClosed)),
                Poll::Ready(Ok(n)) => {
                    this.wbuf.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(WsError::Io(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut this.io).poll_flush(cx).map_err(WsError::Io)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        match self.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.io).poll_close(cx).map_err(WsError::Io),
            other => other,
        }
    }
}

/// Connects to `host:port` over TCP (no Nagle), with TLS when `tls` is given.
async fn connect(
    host: &str,
    port: u16,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Box<dyn Io>, String> {
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let Some(tls) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let stream = futures_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Box::new(stream))
}

/// Opens `rs://HOST:PORT` or `rss://HOST:PORT` with the RawSocket handshake (JSON, 16 MiB).
async fn open_rawsocket(url: &str, tls: &Arc<rustls::ClientConfig>) -> Result<RawSocket, String> {
    let (secure, rest) = match url.split_once("://") {
        Some(("rs", rest)) => (false, rest),
        Some(("rss", rest)) => (true, rest),
        _ => return Err(format!("{url} is not a RawSocket URL")),
    };
    let (host, port) = rest
        .trim_end_matches('/')
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("{url}: want rs://HOST:PORT"))?;
    let mut io = connect(host, port, secure.then_some(tls)).await?;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    io.write_all(&[0x7F, 0xF1, 0, 0])
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = [0u8; 4];
    io.read_exact(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    if answer[0] != 0x7F || answer[1] & 0x0F != 1 {
        return Err(format!("RawSocket handshake refused: {answer:02x?}"));
    }
    Ok(RawSocket {
        io,
        rbuf: Vec::new(),
        rpos: 0,
        wbuf: Vec::new(),
    })
}

/// Opens `url` (wss, rs or rss) and joins `realm`.
pub async fn join(url: &str, realm: &str, tls: &Arc<rustls::ClientConfig>) -> Result<Conn, String> {
    if url.starts_with("rs://") || url.starts_with("rss://") {
        let mut raw = open_rawsocket(url, tls).await?;
        hello(&mut raw, realm).await?;
        Ok(Conn(Box::new(raw)))
    } else {
        Ok(Conn(Box::new(join_ws(url, realm, tls).await?)))
    }
}

/// Sends HELLO and waits for WELCOME.
async fn hello<C: Frames + ?Sized>(conn: &mut C, realm: &str) -> Result<(), String> {
    let roles = json!({"caller": {}, "callee": {}, "publisher": {}, "subscriber": {}});
    send(conn, json!([1, realm, {"roles": roles}])).await?;
    match next(conn).await {
        Some(v) if v[0] == 2 => Ok(()),
        other => Err(format!("no WELCOME: {other:?}")),
    }
}

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
pub async fn join_ws(
    url: &str,
    realm: &str,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Ws, String> {
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
    hello(&mut ws, realm).await?;
    Ok(ws)
}

/// Sends one WAMP message.
pub async fn send<C: Frames + ?Sized>(ws: &mut C, v: Value) -> Result<(), String> {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .map_err(|e| e.to_string())
}

/// Sends a message already serialized as JSON text (cheaper for hot loops).
pub async fn send_text<C: Frames + ?Sized>(ws: &mut C, text: String) -> Result<(), String> {
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
pub async fn next_text<C: Frames + ?Sized>(ws: &mut C) -> Option<String> {
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
pub async fn next<C: Frames + ?Sized>(ws: &mut C) -> Option<Value> {
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
pub async fn next_text_by<C: Frames + ?Sized>(
    ws: &mut C,
    deadline: &mut RunDeadline,
) -> Option<String> {
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
pub async fn ready_text<C: Frames + ?Sized>(ws: &mut C) -> Option<String> {
    loop {
        let frame = futures_lite::future::poll_once(ws.next()).await??;
        if let Some(text) = text_of(frame)? {
            return Some(text);
        }
    }
}

/// Queues a serialized message without sending it yet (see `flush`).
pub async fn feed_text<C: Frames + ?Sized>(ws: &mut C, text: String) -> Result<(), String> {
    ws.feed(Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())
}

/// Sends what `feed_text` queued, in as few writes as it fits.
pub async fn flush<C: Frames + ?Sized>(ws: &mut C) -> Result<(), String> {
    ws.flush().await.map_err(|e| e.to_string())
}
