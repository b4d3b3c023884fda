//! The TCP listener of a transport: bind, accept, TLS handshake (futures-rustls), then one
//! HTTP/1.1 connection driven by async-h1 into the transport's tide app. An upgraded
//! connection leaves here through http-types' upgrade channel (see `ws`).

use crate::config::Transport;
use crate::error::StartError;
use crate::lifecycle::{ConnInfo, Lifecycle};
use crate::limits::{ConnectionCount, ConnectionSlot, Deadlines, HeadRead, Limits, Timed};
use crate::web::State;
use async_std::net::{TcpListener, TcpStream};
use futures_lite::FutureExt;
use futures_lite::{ready, AsyncRead, AsyncWrite};
use futures_rustls::TlsAcceptor;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Binds the transport's endpoint: one interface, or all of them (IPv6 and IPv4).
pub async fn bind(transport: &Transport) -> Result<TcpListener, StartError> {
    let port = transport.endpoint.port;
    let key = format!("{}.endpoint", transport.key);
    let in_use = |addr: &str, e: std::io::Error| {
        StartError::Key {
        file: transport.config_file.clone(),
        key: match e.kind() {
            std::io::ErrorKind::AddrNotAvailable => format!("{key}.interface"),
            _ => format!("{key}.port"),
        },
        problem: match e.kind() {
            std::io::ErrorKind::AddrNotAvailable => format!("cannot listen on {addr}: no interface of this machine has that address"),
            std::io::ErrorKind::AddrInUse => format!("cannot listen on {addr}: the port is already in use; stop the other server or choose another `port`"),
            std::io::ErrorKind::PermissionDenied => format!("cannot listen on {addr}: permission denied (ports below 1024 need privileges; use e.g. 8443)"),
            _ => format!("cannot listen on {addr}: {e}"),
        },
    }
    };
    match &transport.endpoint.interface {
        Some(interface) => {
            let addr = if interface.contains(':') {
                format!("[{interface}]:{port}")
            } else {
                format!("{interface}:{port}")
            };
            TcpListener::bind(&addr).await.map_err(|e| in_use(&addr, e))
        }
        None => match TcpListener::bind(format!("[::]:{port}")).await {
            Ok(listener) => Ok(listener),
            // A host without IPv6: all IPv4 interfaces.
            Err(e) if e.kind() != std::io::ErrorKind::AddrInUse => {
                let addr = format!("0.0.0.0:{port}");
                TcpListener::bind(&addr).await.map_err(|e| in_use(&addr, e))
            }
            Err(e) => Err(in_use(&format!("[::]:{port}"), e)),
        },
    }
}

/// Accepts connections until shutdown.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: tide::Server<State>,
    lifecycle: Lifecycle,
    limits: Limits,
) {
    let shutdown = lifecycle.shutdown_signal();
    let open = Arc::new(ConnectionCount::default());
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                let _ = shutdown.recv().await;
                None
            })
            .await;
        let (tcp, peer) = match accepted {
            None => return,
            Some(Ok(pair)) => pair,
            Some(Err(e)) => {
                // Out of descriptors and the like: wait a little rather than spin.
                log::warn!("accept failed: {e}");
                async_std::task::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Over the cap: close at once, so the client knows and the others are not slowed.
        let Some(slot) = open.admit(limits.max_connections) else {
            log::debug!(
                "connection refused {peer}: max_connections ({}) reached",
                limits.max_connections
            );
            drop(tcp);
            continue;
        };
        // Without TCP_NODELAY each small response waits ~40 ms on delayed ACKs.
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        async_std::task::spawn(async move { connection(tcp, peer, tls, app, limits, slot).await });
    }
}

/// One connection: TLS (if any), then HTTP, every read held to the current deadline.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    app: tide::Server<State>,
    limits: Limits,
    slot: ConnectionSlot,
) {
    let slot = Some(Arc::new(slot));
    let deadline = Deadlines::new(limits.request_head, limits.max_request_head, limits.send);
    let Some(acceptor) = tls else {
        let info = ConnInfo {
            peer,
            tls: false,
            client_cert: None,
            slot,
        };
        return http(tcp, info, app, deadline, limits).await;
    };
    let stream = match async_std::future::timeout(limits.tls_handshake, acceptor.accept(tcp)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            log::info!("tls handshake failed {peer}: {e}");
            return;
        }
        Err(_) => {
            log::info!(
                "tls handshake failed {peer}: not finished within {:?}",
                limits.tls_handshake
            );
            return;
        }
    };
    let client_cert = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|der| {
            (
                crate::tls::fingerprint(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der),
                crate::tls::fingerprint(&aws_lc_rs::digest::SHA256, der),
            )
        });
    let info = ConnInfo {
        peer,
        tls: true,
        client_cert,
        slot,
    };
    http(stream, info, app, deadline, limits).await
}

/// Serves HTTP requests until the connection closes, idles out or upgrades.
async fn http<S>(
    stream: S,
    info: ConnInfo,
    app: tide::Server<State>,
    deadline: Arc<Deadlines>,
    limits: Limits,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // async-h1 needs a cloneable stream; the mutex is held only within one poll.
    let io = async_dup::Arc::new(async_dup::Mutex::new(WriteBuffer::new(
        Timed::new(stream, deadline.clone()),
        deadline.clone(),
    )));
    let peer = info.peer;
    let upgraded = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Whether async-h1 got as far as our handler for the current request.
    let entered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut server = async_h1::server::Server::new(io.clone(), |mut req| {
        let app = app.clone();
        let info = info.clone();
        let deadline = deadline.clone();
        let upgraded = upgraded.clone();
        let entered = entered.clone();
        async move {
            entered.store(true, std::sync::atomic::Ordering::Relaxed);
            // The head is in: no deadline while the request is handled.
            deadline.set(None);
            req.ext_mut().insert(info);
            // The head gate made an HTTP/1.0 request look like 1.1 for async-h1.
            let (http10, keep_alive) = deadline.request_kind();
            if http10 {
                req.set_version(Some(http_types::Version::Http1_0));
            }
            // async-h1 closes after this request; say so, or a client would send the next
            // request on a connection about to close, and lose it (RFC 9112 §9.6).
            let closing = req
                .header(http_types::headers::CONNECTION)
                .is_some_and(|c| c.as_str().eq_ignore_ascii_case("close"));
            let mut res: http_types::Response = app.respond(req).await?;
            if closing {
                res.insert_header(http_types::headers::CONNECTION, "close");
            } else if keep_alive {
                // An HTTP/1.0 client keeps the connection only when told it may.
                res.insert_header(http_types::headers::CONNECTION, "keep-alive");
            }
            deadline.response_status(res.status().into());
            // An upgraded connection belongs to the WebSocket, which has its own timeouts;
            // otherwise the next request head must come within the keep-alive time.
            if res.status() == http_types::StatusCode::SwitchingProtocols {
                upgraded.store(true, std::sync::atomic::Ordering::Relaxed);
                deadline.upgraded();
            } else {
                deadline.set(Some(limits.keepalive));
            }
            Ok(res)
        }
    });
    loop {
        // Read and check the next request head here, under our deadline, so that async-h1
        // finds it whole at once and a bad one gets its status (see `Timed::poll_head`).
        let head = futures_lite::future::poll_fn(|cx| io.lock().get_mut().poll_head(cx)).await;
        match head {
            Ok(HeadRead::Ready) => {}
            Ok(HeadRead::Ended) => break,
            Ok(HeadRead::Answer { response, close }) => {
                if send_raw(&io, response).await.is_err() || close {
                    break;
                }
                deadline.set(Some(limits.keepalive));
                continue;
            }
            Ok(HeadRead::Refuse(status, why)) => {
                log::info!("http request refused {peer}: {status} {why}");
                let _ = send_raw(&io, &crate::http_head::refusal(status)).await;
                break;
            }
            Err(e) => {
                log::debug!("http connection {peer} ended: {e}");
                break;
            }
        }
        entered.store(false, std::sync::atomic::Ordering::Relaxed);
        match server.accept_one().await {
            Ok(async_h1::server::ConnectionStatus::KeepAlive)
                if upgraded.load(std::sync::atomic::Ordering::Relaxed) =>
            {
                // We answered 101 but async-h1 did not hand the connection over (it reads
                // only the first of several Connection headers): no WebSocket will run on
                // it, and its deadlines are off, so end it.
                log::debug!("http connection {peer}: upgrade not taken; closing");
                upgraded.store(false, std::sync::atomic::Ordering::Relaxed);
                break;
            }
            Ok(async_h1::server::ConnectionStatus::KeepAlive) => {}
            Ok(async_h1::server::ConnectionStatus::Close) => break,
            Err(e) if !entered.load(std::sync::atomic::Ordering::Relaxed) => {
                // Past the gate but refused by async-h1: still an answer, not a silent close.
                log::info!("http request refused {peer}: 400 {e}");
                let _ = send_raw(&io, &crate::http_head::refusal(400)).await;
                break;
            }
            Err(e) => {
                log::debug!("http connection {peer} ended: {e}");
                break;
            }
        }
    }
    if !upgraded.load(std::sync::atomic::Ordering::Relaxed) {
        close(io, peer, limits.keepalive).await;
    }
}

/// Writes a response the gate made itself, bypassing async-h1.
async fn send_raw<IO>(io: &IO, bytes: &[u8]) -> std::io::Result<()>
where
    IO: Clone + futures_lite::AsyncWrite + Unpin,
{
    use futures_lite::AsyncWriteExt;
    let mut io = io.clone();
    io.write_all(bytes).await?;
    io.flush().await
}

/// Ends a connection cleanly: for TLS a close_notify alert, without which clients take the
/// end for a truncation attack and must not resume the session (OpenSSL drops it), so every
/// next connection pays a full handshake. Bounded, as the peer may have stopped reading.
async fn close<IO: async_std::io::Write + Unpin>(mut io: IO, peer: SocketAddr, limit: Duration) {
    use futures_lite::AsyncWriteExt;
    match async_std::future::timeout(limit, io.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::debug!("http connection {peer}: close: {e}"),
        Err(_) => log::debug!("http connection {peer}: close not done within {limit:?}"),
    }
}

/// Gathers small writes until a flush (or 16 KiB), so a response head and its body leave in
/// one TLS record and one system call instead of two.
pub struct WriteBuffer<S> {
    inner: S,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    sent: usize,
    /// Says when a response head is to be fixed on its way out.
    deadline: Arc<Deadlines>,
}

/// Writes larger than this bypass the buffer.
const WRITE_BUFFER: usize = 16 * 1024;

impl<S> WriteBuffer<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, deadline: Arc<Deadlines>) -> WriteBuffer<S> {
        WriteBuffer {
            inner,
            buf: Vec::new(),
            sent: 0,
            deadline,
        }
    }

    /// The wrapped stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncWrite + Unpin> WriteBuffer<S> {
    /// Writes out what is buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.sent < self.buf.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.sent..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        // Free it: 10,000 idle WebSockets must not each keep 16 KiB.
        self.buf = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

/// A response head of status 1xx, 204 or 304 as RFC 9110 wants it: no Content-Length or
/// Transfer-Encoding (§8.6, §15.2), and 304's reason "Not Modified". `None` when `data`
/// does not hold the whole head.
fn fix_head(data: &[u8], status: u16) -> Option<Vec<u8>> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&data[..end]).ok()?;
    let mut out = Vec::with_capacity(data.len());
    for (i, line) in head.split_inclusive("\r\n").enumerate() {
        let name = line.split(':').next().unwrap_or_default();
        if i == 0 && status == 304 {
            out.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\n");
        } else if i == 0
            || !(name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding"))
        {
            out.extend_from_slice(line.as_bytes());
        }
    }
    out.extend_from_slice(&data[end..]);
    Some(out)
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteBuffer<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteBuffer<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.buf.len() + data.len() > WRITE_BUFFER {
            ready!(this.poll_drain(cx))?;
        }
        // async-h1 writes a response head in one write; fix it if its status needs it.
        let status = this.deadline.head_fix(false);
        if status != 0 && data.starts_with(b"HTTP/1.1 ") {
            if let Some(fixed) = fix_head(data, status) {
                this.deadline.head_fix(true);
                this.buf.extend_from_slice(&fixed);
                return Poll::Ready(Ok(data.len()));
            }
        }
        if data.len() >= WRITE_BUFFER {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
