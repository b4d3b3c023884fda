//! The TCP listener of a transport and its connections: bind; a `Listener` accepts under
//! the connection cap; a `Connection` makes the TLS handshake (futures-rustls), then serves
//! HTTP/1.1 requests with async-h1 into the transport's tide app, its I/O in `http_io`. An
//! upgraded connection leaves here through http-types' upgrade channel (see `ws`).

use crate::config::error::StartError;
use crate::config::{Transport, UnixEndpoint};
use crate::http::io::{ConnState, HeadRead, Timed, WriteBuffer};
use crate::http::site::State;
use crate::runtime::lifecycle::{ConnInfo, Lifecycle, Peer};
use crate::runtime::limits::{connection_cap, ConnectionSlot, Limits};
use crate::transport::rawsocket::RawSocketService;
use async_lock::Semaphore;
use async_std::net::{TcpListener, TcpStream};
use async_std::os::unix::net::{UnixListener, UnixStream};
use futures_lite::FutureExt;
use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::TlsAcceptor;
use std::sync::Arc;
use std::time::Duration;

/// Connections over the cap that are answered at once with RawSocket's error 4; more are
/// closed without an answer.
const REFUSALS_AT_ONCE: usize = 16;

/// A transport's listening socket.
pub enum Socket {
    /// A TCP port.
    Tcp(TcpListener),
    /// A Unix domain socket; its file is removed when this is dropped.
    Unix(UnixListener, SocketFile),
}

/// A Unix socket's file, removed when the socket closes.
pub struct SocketFile(std::path::PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Socket {
    /// The TCP port it listens on (none for a Unix socket).
    pub fn port(&self) -> Option<u16> {
        match self {
            Socket::Tcp(tcp) => tcp.local_addr().ok().map(|a| a.port()),
            Socket::Unix(..) => None,
        }
    }
}

/// Binds a Unix socket: a stale file from an earlier run is replaced, a socket a live
/// process listens on is not taken over (Crossbar takes it silently), and the file gets
/// `mode` so components running as another user can connect.
fn bind_unix(unix: &UnixEndpoint) -> Result<Socket, StartError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let path = &unix.path.path;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(unix.path.error("another process is listening on this socket; stop it, or give this transport another `path`"));
        }
        if !meta.file_type().is_socket() {
            return Err(unix.path.error(
                "exists and is not a socket; remove it, or give this transport another `path`",
            ));
        }
        let _ = std::fs::remove_file(path);
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| unix.path.error(format!("cannot listen on it: {e}")))?;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(unix.mode));
    Ok(Socket::Unix(
        UnixListener::from(listener),
        SocketFile(path.clone()),
    ))
}

/// Binds the transport's endpoint: a Unix socket, one interface, or all of them (IPv6 and
/// IPv4).
pub async fn bind(transport: &Transport) -> Result<Socket, StartError> {
    if let Some(unix) = &transport.endpoint.unix {
        return bind_unix(unix);
    }
    bind_tcp(transport).await.map(Socket::Tcp)
}

async fn bind_tcp(transport: &Transport) -> Result<TcpListener, StartError> {
    let port = transport.endpoint.port;
    let endpoint = format!("{}.endpoint", transport.json_path);
    let in_use = |addr: &str, e: std::io::Error| {
        StartError::Key {
        file: transport.config_file.clone(),
        json_path: match e.kind() {
            std::io::ErrorKind::AddrNotAvailable => format!("{endpoint}.interface"),
            _ => format!("{endpoint}.port"),
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

/// A transport's listening socket and what each connection it accepts is served with.
pub struct Listener {
    /// The bound socket.
    pub socket: Socket,
    /// The TLS acceptor, for TLS endpoints.
    pub tls: Option<TlsAcceptor>,
    /// The transport's paths.
    pub app: tide::Server<State>,
    /// The node's lifecycle (shutdown).
    pub lifecycle: Lifecycle,
    /// The transport's limits.
    pub limits: Limits,
    /// For a `rawsocket` transport: its connections speak RawSocket, not HTTP. For a
    /// `universal` one: those whose first byte is RawSocket's.
    pub rawsocket: Option<Arc<RawSocketService>>,
    /// `universal`: each connection's first byte chooses RawSocket or HTTP.
    pub universal: bool,
    /// The transport's JSON path, naming it in the metrics.
    pub name: Arc<str>,
}

impl Listener {
    /// Accepts connections until shutdown, each served by its own task.
    pub async fn run(self) {
        let shutdown = self.lifecycle.shutdown_signal();
        let cap = connection_cap(self.limits.max_connections);
        let refusals = connection_cap(REFUSALS_AT_ONCE);
        loop {
            // Accept the next connection, or stop.
            let accepted = async { Some(self.accept().await) }
                .or(async {
                    let _ = shutdown.recv().await;
                    None
                })
                .await;
            let (stream, peer) = match accepted {
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
            let Some(slot) = cap.try_acquire_arc() else {
                log::debug!(
                    "connection refused {peer}: max_connections ({}) reached",
                    self.limits.max_connections
                );
                self.refuse(stream, &refusals);
                continue;
            };
            let connection = Connection {
                peer,
                app: self.app.clone(),
                limits: self.limits,
                slot: Arc::new(ConnectionSlot::new(slot, &self.name)),
                rawsocket: self.rawsocket.clone(),
                universal: self.universal,
            };
            let tls = self.tls.clone();
            async_std::task::spawn(async move {
                match stream {
                    Stream::Tcp(tcp) => {
                        // Without TCP_NODELAY each small response waits ~40 ms on delayed ACKs.
                        let _ = tcp.set_nodelay(true);
                        connection
                            .serve(crate::runtime::metrics::Counted(tcp), tls)
                            .await
                    }
                    Stream::Unix(unix) => {
                        connection
                            .serve(crate::runtime::metrics::Counted(unix), tls)
                            .await
                    }
                }
            });
        }
    }

    /// Closes a connection over the cap. A plain RawSocket one first gets the spec's
    /// "maximum connection count reached" answer, from a few tasks at most, so a flood of
    /// connections over the cap costs no more than the cap allows; the rest (HTTP, TLS,
    /// universal, where telling the protocol costs a handshake) are closed at once.
    fn refuse(&self, stream: Stream, refusals: &Arc<Semaphore>) {
        let answers = self.rawsocket.is_some() && !self.universal && self.tls.is_none();
        let Some(permit) = answers.then(|| refusals.try_acquire_arc()).flatten() else {
            return;
        };
        let wait = self.limits.request_head.min(Duration::from_secs(1));
        async_std::task::spawn(async move {
            match stream {
                Stream::Tcp(tcp) => crate::transport::rawsocket::refuse_over_cap(tcp, wait).await,
                Stream::Unix(unix) => {
                    crate::transport::rawsocket::refuse_over_cap(unix, wait).await
                }
            }
            drop(permit);
        });
    }

    async fn accept(&self) -> std::io::Result<(Stream, Peer)> {
        match &self.socket {
            Socket::Tcp(tcp) => {
                let (stream, addr) = tcp.accept().await?;
                Ok((Stream::Tcp(stream), Peer::Tcp(addr)))
            }
            Socket::Unix(unix, file) => {
                let (stream, _) = unix.accept().await?;
                let path: Arc<str> = file.0.to_string_lossy().into();
                Ok((Stream::Unix(stream), Peer::Unix(path)))
            }
        }
    }
}

/// What kind of failure a TLS handshake error is, for the metrics' label.
fn failure_kind(e: &std::io::Error) -> &'static str {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return "failed_io";
    };
    match tls {
        rustls::Error::NoCertificatesPresented | rustls::Error::InvalidCertificate(_) => {
            "failed_certificate"
        }
        rustls::Error::PeerIncompatible(_) => "failed_incompatible",
        rustls::Error::InvalidMessage(_) | rustls::Error::PeerMisbehaved(_) => "failed_protocol",
        rustls::Error::AlertReceived(_) => "failed_alert",
        _ => "failed_other",
    }
}

/// A stream whose first byte was already read (to choose the protocol), and is read again.
struct Prefixed<S> {
    first: Option<u8>,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if let (Some(byte), Some(slot)) = (self.first, buf.first_mut()) {
            *slot = byte;
            self.first = None;
            return std::task::Poll::Ready(Ok(1));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// An accepted connection's stream.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// One accepted connection: TLS (if any), then HTTP requests until it closes, idles out or
/// upgrades.
struct Connection {
    peer: Peer,
    app: tide::Server<State>,
    limits: Limits,
    /// Its place under `max_connections`, shared with the WebSocket after an upgrade.
    slot: Arc<ConnectionSlot>,
    rawsocket: Option<Arc<RawSocketService>>,
    universal: bool,
}

impl Connection {
    async fn serve<S>(self, stream: S, tls: Option<TlsAcceptor>)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let Some(acceptor) = tls else {
            let info = self.info(false, None);
            return self.speak(stream, info).await;
        };
        let handshake =
            async_std::future::timeout(self.limits.tls_handshake, acceptor.accept(stream));
        let stream = match handshake.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                log::info!("tls handshake failed {}: {e}", self.peer);
                crate::runtime::metrics::metrics().tls_handshake(failure_kind(&e));
                return;
            }
            Err(_) => {
                crate::runtime::metrics::metrics().tls_handshake("failed_timeout");
                let limit = self.limits.tls_handshake;
                log::info!(
                    "tls handshake failed {}: not finished within {limit:?}",
                    self.peer
                );
                return;
            }
        };
        if stream.get_ref().1.alpn_protocol() == Some(crate::tls::acme::ACME_TLS_ALPN) {
            // The CA's TLS-ALPN-01 validation: the handshake was the answer.
            log::info!(
                "acme: answered the TLS-ALPN-01 challenge from {}",
                self.peer
            );
            return;
        }
        let resumed = stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        crate::runtime::metrics::metrics().tls_handshake(if resumed { "resumed" } else { "full" });
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
        let info = self.info(true, client_cert);
        self.speak(stream, info).await
    }

    /// RawSocket on a `rawsocket` transport, HTTP on `web` and `websocket` ones; on a
    /// `universal` one, RawSocket when the first byte is its magic `0x7F` (after TLS, on a
    /// TLS endpoint), else HTTP.
    async fn speak<S>(self, mut stream: S, info: ConnInfo)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        use futures_lite::AsyncReadExt;
        let Some(service) = self.rawsocket.clone() else {
            return self.http(stream, info).await;
        };
        if !self.universal {
            return crate::transport::rawsocket::serve(stream, info, service).await;
        }
        let mut first = [0u8; 1];
        let read =
            async_std::future::timeout(self.limits.request_head, stream.read_exact(&mut first));
        if !matches!(read.await, Ok(Ok(()))) {
            return;
        }
        let stream = Prefixed {
            first: Some(first[0]),
            inner: stream,
        };
        if first[0] == 0x7F {
            crate::transport::rawsocket::serve(stream, info, service).await
        } else {
            self.http(stream, info).await
        }
    }

    fn info(&self, tls: bool, client_cert: Option<(String, String)>) -> ConnInfo {
        ConnInfo {
            peer: self.peer.clone(),
            tls,
            client_cert,
            slot: Some(self.slot.clone()),
        }
    }

    /// Serves HTTP requests: the head gate reads each head (`Timed::poll_head`), async-h1
    /// the rest, the transport's app answers.
    async fn http<S>(self, stream: S, info: ConnInfo)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let peer = self.peer.clone();
        let state = ConnState::new(&self.limits);
        // async-h1 needs a cloneable stream; the mutex is held only within one poll.
        let io = async_dup::Arc::new(async_dup::Mutex::new(WriteBuffer::new(
            Timed::new(stream, state.clone()),
            state.clone(),
        )));
        // Whether async-h1 got as far as our handler for the current request.
        let entered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let app = self.app.clone();
        let mut server = async_h1::server::Server::new(io.clone(), |req| {
            let (app, info, state, entered) =
                (app.clone(), info.clone(), state.clone(), entered.clone());
            async move {
                entered.store(true, std::sync::atomic::Ordering::Relaxed);
                respond(app, info, &state, req).await
            }
        });
        let mut handed_over = false;
        loop {
            // Read and check the next request head, under its deadline.
            let head = futures_lite::future::poll_fn(|cx| io.lock().get_mut().poll_head(cx)).await;
            match head {
                Ok(HeadRead::Ready) => {}
                Ok(HeadRead::Ended) => break,
                Ok(HeadRead::Answer { response, close }) => {
                    if send_raw(&io, response).await.is_err() || close {
                        break;
                    }
                    state.answered();
                    continue;
                }
                Ok(HeadRead::Refuse(status, why)) => {
                    log::info!("http request refused {peer}: {status} {why}");
                    let _ = send_raw(&io, &crate::http::head::refusal(status)).await;
                    break;
                }
                Err(e) => {
                    log::debug!("http connection {peer} ended: {e}");
                    break;
                }
            }
            // Let async-h1 read it and answer it.
            entered.store(false, std::sync::atomic::Ordering::Relaxed);
            match server.accept_one().await {
                Ok(async_h1::server::ConnectionStatus::KeepAlive) if state.is_upgraded() => {
                    // We answered 101 but async-h1 did not hand the connection over (it
                    // reads only the first of several Connection headers): no WebSocket
                    // will run on it, and its deadlines are off, so end it.
                    log::debug!("http connection {peer}: upgrade not taken; closing");
                    break;
                }
                Ok(async_h1::server::ConnectionStatus::KeepAlive) => {}
                Ok(async_h1::server::ConnectionStatus::Close) => {
                    handed_over = state.is_upgraded();
                    break;
                }
                Err(e) if !entered.load(std::sync::atomic::Ordering::Relaxed) => {
                    // Past the gate but refused by async-h1: still an answer, not a silent close.
                    log::info!("http request refused {peer}: 400 {e}");
                    let _ = send_raw(&io, &crate::http::head::refusal(400)).await;
                    break;
                }
                Err(e) => {
                    log::debug!("http connection {peer} ended: {e}");
                    break;
                }
            }
        }
        // An upgraded connection belongs to its WebSocket now.
        if !handed_over {
            close(io, peer, self.limits.keepalive).await;
        }
    }
}

/// Answers one request with the transport's app, telling `state` what happened.
async fn respond(
    app: tide::Server<State>,
    info: ConnInfo,
    state: &ConnState,
    mut req: http_types::Request,
) -> http_types::Result<http_types::Response> {
    state.head_received();
    let info_peer = info.peer.clone();
    req.ext_mut().insert(info);
    // The head gate made an HTTP/1.0 request look like 1.1 for async-h1.
    let (http10, keep_alive) = state.request_kind();
    if http10 {
        req.set_version(Some(http_types::Version::Http1_0));
    }
    // async-h1 closes after this request; say so, or a client would send the next request
    // on a connection about to close, and lose it (RFC 9112 §9.6).
    let closing = req
        .header(http_types::headers::CONNECTION)
        .is_some_and(|c| c.as_str().eq_ignore_ascii_case("close"));
    let mut res: http_types::Response = app.respond(req).await?;
    if state.timed_out() {
        // The body stopped coming: whatever the service made of the part it had, the
        // answer is 408.
        log::info!(
            "http request timed out {info_peer}: its body did not come within request_body_timeout"
        );
        res = http_types::Response::new(408);
        res.set_body("the request body did not come in time (request_body_timeout)\n");
    }
    if res.status() == 413 || res.status() == 408 {
        // A body refused for its size or its slowness is not read on: the connection
        // closes after the answer (as nginx does for 413).
        res.insert_header(http_types::headers::CONNECTION, "close");
        state.abandon_body();
    } else if closing {
        res.insert_header(http_types::headers::CONNECTION, "close");
    } else if keep_alive {
        // An HTTP/1.0 client keeps the connection only when told it may.
        res.insert_header(http_types::headers::CONNECTION, "keep-alive");
    }
    state.response_ready(res.status().into());
    Ok(res)
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
async fn close<IO: async_std::io::Write + Unpin>(mut io: IO, peer: Peer, limit: Duration) {
    use futures_lite::AsyncWriteExt;
    match async_std::future::timeout(limit, io.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::debug!("http connection {peer}: close: {e}"),
        Err(_) => log::debug!("http connection {peer}: close not done within {limit:?}"),
    }
}
