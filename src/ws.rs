//! WebSocket endpoints (RFC 6455): the opening handshake on an HTTP request (version,
//! key, `Origin` against `allowed_origins`, subprotocol choice), then one connection loop
//! shared by every kind of session (WAMP, or the testee's echo): auto-ping with timeout,
//! message size limits (close 1009), an outgoing queue bounded in bytes (close 1008 when a
//! client stays too slow to read), and close 1001 when the node shuts down.

use crate::config::WebSocketOptions;
use crate::lifecycle::{ConnInfo, Lifecycle};
use async_std::channel::{bounded, unbounded, Receiver, Sender};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures_lite::FutureExt;
use futures_util::{SinkExt, StreamExt};
use http_types::upgrade::Connection;
use http_types::StatusCode;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tide::Response;

/// Initial read buffer of a connection.
const READ_BUFFER: usize = 1024;
/// Bytes gathered before a write goes to the socket (a flush sends them sooner).
const WRITE_BUFFER: usize = 16 * 1024;

/// What a session does with the messages of one WebSocket connection.
pub trait Session: Send + 'static {
    /// Handles a text or binary message. `Err` closes the connection with that frame.
    fn on_message(&mut self, message: Message) -> Result<(), CloseFrame>;
    /// The connection has ended, for whatever reason.
    fn on_close(&mut self) {}
    /// Whether the session is open (for WAMP: WELCOME sent). A connection that does not get
    /// there within `open_handshake_timeout` is closed.
    fn established(&self) -> bool {
        true
    }
    /// Whether the session waits on something before it takes its next message (a WAMP
    /// session asking an authenticator or an authorizer). Meanwhile the loop polls
    /// `poll_ready` and reads on only until it holds one message back for the session (pings
    /// are still answered), so the client's messages keep their order.
    fn waiting(&self) -> bool {
        false
    }
    /// Drives what the session waits on; `Ready` once it takes messages again. `Err` closes
    /// the connection with that frame.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), CloseFrame>> {
        Poll::Ready(Ok(()))
    }
}

/// The sending half of a connection, shared with whoever sends to it (e.g. a WAMP broker).
///
/// The queue is bounded in bytes, not messages, so a burst of small events is no reason
/// to drop a client that reads as fast as it can. A queue may go over `max_queued_bytes`
/// for a while (the connection loop closes it once it stayed over for
/// `slow_client_timeout`); one that already holds twice the bound when another message comes
/// is closed at once, so memory stays bounded whatever the client does.
#[derive(Clone, Debug)]
pub struct Outbox {
    /// Unbounded as a channel (so an idle connection holds no preallocated slots), bounded
    /// by `queue.bytes`.
    data: Sender<Message>,
    queue: Arc<Queue>,
    control: Sender<Message>,
    /// Wakes the connection loop when the queue went over its bound or overflowed.
    pressure: Sender<()>,
    /// Set for a session that lives on another node of a cluster: its messages go there.
    forward: Option<Forward>,
}

/// Where the messages of a session on another node go (`Outbox::forwarding`).
#[derive(Clone)]
pub struct Forward(pub std::sync::Arc<dyn Fn(Message) + Send + Sync>);

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Forward")
    }
}

/// What the connection loop and the writer know of the queue.
#[derive(Debug)]
struct Queue {
    /// Bytes waiting for the writer.
    bytes: AtomicUsize,
    /// Bytes written to the socket so far: the loop sees a client's progress by its change,
    /// so one that reads a large message slowly is not taken for one that reads nothing.
    written: AtomicU64,
    /// `max_queued_bytes`.
    bound: usize,
    /// A close was queued from outside the loop (the meta API's `wamp.session.kill`).
    close_requested: AtomicBool,
}

impl Queue {
    fn new(bound: usize) -> Queue {
        Queue {
            bytes: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            bound,
            close_requested: AtomicBool::new(false),
        }
    }

    fn took(&self, message: &Message) {
        self.bytes.fetch_sub(message.len(), Ordering::Relaxed);
    }
}

/// The upgraded connection, counting what is written to it for `Queue::written`.
struct Counted {
    inner: Connection,
    queue: Arc<Queue>,
}

impl futures_lite::AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl futures_lite::AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            self.queue.written.fetch_add(*n as u64, Ordering::Relaxed);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl Outbox {
    /// Queues a message; never waits. A queue over twice its bound belongs to a client that
    /// cannot keep up: it is closed with 1008 instead of holding memory or slowing the sender.
    pub fn send(&self, message: Message) {
        if let Some(forward) = &self.forward {
            return (forward.0)(message);
        }
        if self.data.is_closed() || !self.count(message.len()) {
            return;
        }
        if let Err(e) = self.data.try_send(message) {
            self.queue
                .bytes
                .fetch_sub(e.into_inner().len(), Ordering::Relaxed);
        }
    }

    /// Counts `len` more bytes in the queue, or, when it already holds twice its bound,
    /// closes the connection as too slow and says no.
    fn count(&self, len: usize) -> bool {
        let before = self.queue.bytes.fetch_add(len, Ordering::Relaxed);
        let after = before.saturating_add(len);
        // Judged by what was queued before: one message larger than the bound (a 16 MiB
        // echo) still goes to a client that keeps up.
        if before > self.queue.bound.saturating_mul(2) {
            self.queue.bytes.fetch_sub(len, Ordering::Relaxed);
            self.drop_slow();
            let _ = self.pressure.try_send(());
            return false;
        }
        if before <= self.queue.bound && after > self.queue.bound {
            // Over the bound: the loop starts watching the clock.
            let _ = self.pressure.try_send(());
        }
        true
    }

    /// Starts the closing handshake with `code` and `reason`, after what is already queued
    /// (an ABORT must arrive before the close); a full queue is overtaken.
    pub fn close(&self, code: CloseCode, reason: &str) {
        if self.forward.is_some() {
            return;
        }
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        // Counted like any queued message, as the writer uncounts it when it takes it.
        let len = frame.len();
        self.queue.bytes.fetch_add(len, Ordering::Relaxed);
        if let Err(e) = self.data.try_send(frame) {
            if let Err(e) = self.control.try_send(e.into_inner()) {
                self.queue.took(&e.into_inner());
            }
        }
        // The loop learns of it (it may not be the one closing), stops reading messages and
        // waits for the closing handshake.
        self.queue.close_requested.store(true, Ordering::Relaxed);
        let _ = self.pressure.try_send(());
    }

    /// Closes the connection of a client too slow to read: the close frame overtakes the
    /// queue, and nothing more is queued.
    fn drop_slow(&self) {
        let close = Message::Close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: "too slow: the outgoing queue is full".into(),
        }));
        // Counted like any queued message, as the writer uncounts what it takes.
        self.queue.bytes.fetch_add(close.len(), Ordering::Relaxed);
        if let Err(e) = self.control.try_send(close) {
            self.queue.took(&e.into_inner());
        }
        self.data.close();
    }

    /// Whether the connection still takes messages.
    pub fn is_open(&self) -> bool {
        self.forward.is_some() || !self.data.is_closed()
    }

    /// Queues a control message (a RawSocket PONG), ahead of the data. Its bytes count in
    /// the queue like a message's: a client that sends PINGs and reads nothing is as slow as
    /// one that reads no events.
    pub fn send_control(&self, message: Message) {
        if self.data.is_closed() || !self.count(message.len()) {
            return;
        }
        if let Err(e) = self.control.try_send(message) {
            self.queue.took(&e.into_inner());
        }
    }

    /// An outbox read through the returned `Inbox` rather than by a WebSocket's writer: the
    /// router's own sessions (which call authenticators), and RawSocket connections.
    pub fn local(bound: usize) -> (Outbox, Inbox) {
        let (data, data_rx) = unbounded();
        let (control, control_rx) = bounded(4);
        let (pressure, pressure_rx) = bounded(1);
        let queue = Arc::new(Queue::new(bound));
        let inbox = Inbox {
            data: data_rx,
            queue: queue.clone(),
            control: control_rx,
            pressure: pressure_rx,
        };
        let outbox = Outbox {
            data,
            queue,
            control,
            pressure,
            forward: None,
        };
        (outbox, inbox)
    }

    /// An outbox that hands each message to `forward` (a session on another node).
    pub fn forwarding(forward: Forward) -> Outbox {
        let (mut outbox, _) = Outbox::local(0);
        outbox.forward = Some(forward);
        outbox
    }
}

/// The receiving end of a local `Outbox`.
pub struct Inbox {
    data: Receiver<Message>,
    queue: Arc<Queue>,
    control: Receiver<Message>,
    pressure: Receiver<()>,
}

impl Inbox {
    /// The next message, control messages first; `None` once every outbox is gone or the
    /// outbox was closed.
    pub async fn recv(&self) -> Option<Message> {
        next_queued(&self.control, &self.data, &self.queue).await
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether nothing is queued right now (a writer flushes then).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.control.is_empty()
    }

    /// Counts bytes the writer got onto the connection, so a client that reads a large
    /// message slowly is not taken for one that reads nothing.
    pub fn wrote(&self, bytes: usize) {
        self.queue
            .written
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// What watches this queue for a client too slow to read, from outside the writer.
    pub fn watch(&self) -> SlowWatch {
        SlowWatch {
            queue: self.queue.clone(),
            pressure: self.pressure.clone(),
        }
    }
}

/// Watches a local outbox's queue the way the WebSocket loop watches its own.
pub struct SlowWatch {
    queue: Arc<Queue>,
    pressure: Receiver<()>,
}

impl SlowWatch {
    /// Resolves with the reason once the client has been too slow for `timeout`: its queue
    /// stayed over `max_queued_bytes`, or nothing of it was written. Sleeps on the queue's
    /// pressure signal and keeps a timer only while it watches.
    pub async fn too_slow(&self, timeout: Duration) -> &'static str {
        let mut slow = SlowClient::new(timeout);
        let tick = (timeout / 4).max(Duration::from_millis(10));
        loop {
            if slow.watching() {
                async_io::Timer::after(tick).await;
            } else if self.pressure.recv().await.is_err() {
                // Every outbox is gone: the connection is ending anyway.
                futures_lite::future::pending::<()>().await;
            }
            if let Some(why) = slow.check(&self.queue) {
                return why;
            }
        }
    }
}

/// Watches a connection's queue from its loop: how long it has been over its bound, and
/// how long it has held messages while nothing could be written to the client.
struct SlowClient {
    timeout: Duration,
    over_since: Option<Instant>,
    stalled_since: Option<Instant>,
    last_written: u64,
}

impl SlowClient {
    fn new(timeout: Duration) -> SlowClient {
        SlowClient {
            timeout,
            over_since: None,
            stalled_since: None,
            last_written: 0,
        }
    }

    /// Whether the queue is being watched (then the loop looks often).
    fn watching(&self) -> bool {
        self.over_since.is_some() || self.stalled_since.is_some()
    }

    /// Looks at the queue now; `Some(reason)` when the client has been too slow too long.
    fn check(&mut self, queue: &Queue) -> Option<&'static str> {
        let now = Instant::now();
        let bytes = queue.bytes.load(Ordering::Relaxed);
        let written = queue.written.load(Ordering::Relaxed);
        if bytes > queue.bound {
            self.over_since.get_or_insert(now);
        } else {
            self.over_since = None;
        }
        if bytes == 0 || written != self.last_written {
            self.stalled_since = None;
        } else {
            self.stalled_since.get_or_insert(now);
        }
        self.last_written = written;
        let too_long = |since: Option<Instant>| since.is_some_and(|t| now - t >= self.timeout);
        if too_long(self.over_since) {
            Some("its outgoing queue stayed over max_queued_bytes")
        } else if too_long(self.stalled_since) {
            Some("it read nothing of its queued messages")
        } else {
            None
        }
    }
}

/// Checks an upgrade request and chooses a subprotocol. `Ok(None)` means no subprotocol.
pub fn check_handshake<S>(
    req: &tide::Request<S>,
    options: &WebSocketOptions,
    protocols: &[&'static str],
) -> Result<Option<&'static str>, Box<Response>> {
    let refuse = |status: StatusCode, text: String| {
        let peer = ConnInfo::peer_of(req);
        log::info!("websocket refused {peer}: {} {text}", u16::from(status));
        let mut res = Response::new(status);
        res.set_body(format!("{text}\n"));
        res.set_content_type(http_types::mime::PLAIN);
        Err(Box::new(res))
    };
    let header_has = |name: &str, token: &str| {
        req.header(name).is_some_and(|values| {
            values
                .iter()
                .flat_map(|v| v.as_str().split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    let speaks = if protocols.is_empty() {
        String::from("WebSocket")
    } else {
        format!("WebSocket with subprotocol {}", protocols.join(", "))
    };
    if !header_has("Upgrade", "websocket") || !header_has("Connection", "upgrade") {
        let mut res = refuse(
            StatusCode::UpgradeRequired,
            format!("This is a WebSocket endpoint: connect with {speaks}."),
        )
        .unwrap_err();
        res.insert_header("Upgrade", "websocket");
        return Err(res);
    }
    if req.version() == Some(http_types::Version::Http1_0) {
        return refuse(
            StatusCode::BadRequest,
            "The WebSocket opening handshake needs HTTP/1.1.".into(),
        );
    }
    if req.method() != http_types::Method::Get {
        return refuse(
            StatusCode::BadRequest,
            "The WebSocket opening handshake is a GET request.".into(),
        );
    }
    if req
        .header("Sec-WebSocket-Version")
        .map(|v| v.as_str().trim())
        != Some("13")
    {
        let mut res = refuse(
            StatusCode::UpgradeRequired,
            "Only WebSocket version 13 (RFC 6455) is spoken here.".into(),
        )
        .unwrap_err();
        res.insert_header("Sec-WebSocket-Version", "13");
        return Err(res);
    }
    let key_ok = req
        .header("Sec-WebSocket-Key")
        .is_some_and(|k| k.as_str().trim().len() == 24);
    if !key_ok {
        return refuse(
            StatusCode::BadRequest,
            "Sec-WebSocket-Key is missing or malformed.".into(),
        );
    }
    if let Some(origin) = req.header("Origin") {
        let origin = origin.as_str();
        if !options
            .allowed_origins
            .iter()
            .any(|p| wildcard_match(p, origin))
        {
            return refuse(
                StatusCode::Forbidden,
                format!("Origin `{origin}` is not in this path's allowed_origins."),
            );
        }
    }
    if protocols.is_empty() {
        return Ok(None);
    }
    let offered: Vec<&str> = req
        .header("Sec-WebSocket-Protocol")
        .map(|values| {
            values
                .iter()
                .flat_map(|v| v.as_str().split(','))
                .map(str::trim)
                .collect()
        })
        .unwrap_or_default();
    match offered
        .iter()
        .find_map(|o| protocols.iter().find(|p| *p == o))
    {
        Some(chosen) => Ok(Some(*chosen)),
        None => {
            refuse(
                StatusCode::BadRequest,
                format!(
                "No WebSocket subprotocol offered ({}) is spoken here; this endpoint speaks {}.",
                if offered.is_empty() { "none".to_string() } else { offered.join(", ") },
                protocols.join(", ")
            ),
            )
        }
    }
}

/// Answers a checked handshake with 101 and starts `session` on the upgraded connection.
pub async fn accept<S, F>(
    req: &tide::Request<S>,
    protocol: Option<&'static str>,
    options: Arc<WebSocketOptions>,
    lifecycle: Lifecycle,
    make_session: F,
) -> Response
where
    F: FnOnce(ConnInfo, Outbox) -> Box<dyn Session> + Send + 'static,
{
    let key = req
        .header("Sec-WebSocket-Key")
        .map(|k| k.as_str().trim().to_string())
        .unwrap_or_default();
    let mut res = Response::new(StatusCode::SwitchingProtocols);
    res.insert_header("Upgrade", "websocket");
    res.insert_header("Connection", "Upgrade");
    res.insert_header(
        "Sec-WebSocket-Accept",
        async_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
    );
    if let Some(protocol) = protocol {
        res.insert_header("Sec-WebSocket-Protocol", protocol);
    }
    let info = req
        .ext::<ConnInfo>()
        .cloned()
        .unwrap_or_else(ConnInfo::unknown);
    let http_res: &mut http_types::Response = res.as_mut();
    let upgrade = http_res.recv_upgrade().await;
    async_std::task::spawn(async move {
        if let Some(connection) = upgrade.await {
            // tungstenite reserves 128 KiB per direction by default; a few KiB keep 10,000
            // idle connections small, and larger messages grow the buffer as needed.
            let config = WebSocketConfig::default()
                .read_buffer_size(READ_BUFFER)
                .write_buffer_size(WRITE_BUFFER)
                .max_message_size(Some(options.max_message_size))
                .max_frame_size(Some(options.max_frame_size));
            let queue = Arc::new(Queue::new(options.max_queued_bytes));
            let counted = Counted {
                inner: connection,
                queue: queue.clone(),
            };
            let ws = WebSocketStream::from_raw_socket(counted, Role::Server, Some(config)).await;
            run(ws, queue, info, protocol, options, lifecycle, make_session).await;
        }
    });
    res
}

/// What woke the connection loop.
enum Event {
    Incoming(Option<Result<Message, WsError>>),
    /// The session is done with what it waited on (`Session::poll_ready`).
    Ready(Result<(), CloseFrame>),
    Shutdown,
    Pressure,
    Tick,
}

/// Drives one WebSocket connection until it ends.
async fn run<F>(
    ws: WebSocketStream<Counted>,
    queue: Arc<Queue>,
    info: ConnInfo,
    protocol: Option<&'static str>,
    options: Arc<WebSocketOptions>,
    lifecycle: Lifecycle,
    make_session: F,
) where
    F: FnOnce(ConnInfo, Outbox) -> Box<dyn Session>,
{
    let _guard = lifecycle.websocket_opened();
    log::info!("websocket open {} {}", info.peer, protocol.unwrap_or("-"));
    crate::metrics::metrics().websocket_opened();
    let (mut sink, mut stream) = ws.split();
    let (data_tx, data_rx) = unbounded();
    let (control_tx, control_rx) = bounded(4);
    // The queue may go over its bound again and again; as a stream, the receiver keeps
    // its one listener between turns.
    let (pressure_tx, mut pressure_rx) = bounded(1);
    let outbox = Outbox {
        data: data_tx,
        queue: queue.clone(),
        control: control_tx,
        pressure: pressure_tx,
        forward: None,
    };
    let writer_queue = queue.clone();
    let mut writer = async_std::task::spawn(async move {
        write_loop(&mut sink, data_rx, &writer_queue, control_rx).await
    });
    let peer = info.peer.clone();
    let mut session = make_session(info, outbox.clone());

    let mut clocks = Clocks::new(&options);
    let slow_timeout = Duration::from_millis(options.slow_client_timeout_ms.max(1));
    let mut slow = SlowClient::new(slow_timeout);
    // Often enough to see a stalled queue within half the slow-client timeout.
    let tick = clocks
        .tick()
        .min(slow_timeout / 2)
        .max(Duration::from_millis(10));
    let mut close_code: Option<u16> = None;
    // A message read while the session waits, handed to it once it is ready.
    let mut held: Option<Message> = None;
    let shutdown = lifecycle.shutdown_signal();

    // Made once and polled again each turn: a timer or listener made anew per message would
    // register with the reactor (and wake its thread) for every message.
    // Fused: done once, then pending for good (the loop handles each of them once).
    use futures_util::FutureExt as _;
    let mut shutdown = std::pin::pin!(async {
        let _ = shutdown.recv().await;
    }
    .fuse());
    let mut ticker = async_io::Timer::after(tick);
    let mut tick_every = tick;

    loop {
        let waiting_for_session = !session.established();
        // While closing, look often: the close handshake has a short timeout.
        let wait = if clocks.closing() {
            Duration::from_millis(50)
        } else if waiting_for_session {
            tick.min(clocks.open_timeout / 4)
                .max(Duration::from_millis(10))
        } else if slow.watching() {
            tick.min(slow_timeout / 4).max(Duration::from_millis(10))
        } else {
            tick
        };
        if wait != tick_every {
            ticker.set_after(wait);
            tick_every = wait;
        }
        let session_waits = session.waiting() && !clocks.closing();
        // While the session waits, the loop goes on reading (pings are answered, a close is
        // seen) until it holds one message back for the session; then it reads no more.
        let read = !session_waits || held.is_none();
        let event = async {
            let incoming = async { Event::Incoming(stream.next().await) };
            if !session_waits {
                return incoming.await;
            }
            let ready =
                async { Event::Ready(std::future::poll_fn(|cx| session.poll_ready(cx)).await) };
            if read {
                ready.or(incoming).await
            } else {
                ready.await
            }
        }
        .or(async {
            (&mut shutdown).await;
            Event::Shutdown
        })
        .or(async {
            match pressure_rx.next().await {
                Some(()) => Event::Pressure,
                None => futures_lite::future::pending().await,
            }
        })
        .or(async {
            (&mut ticker).await;
            Event::Tick
        })
        .await;
        match event {
            Event::Ready(Ok(())) => {
                if let Some(message) = held.take().filter(|_| !clocks.closing()) {
                    if let Err(frame) = session.on_message(message) {
                        close_session(&peer, &outbox, &mut clocks, frame);
                    }
                }
            }
            Event::Ready(Err(frame)) => {
                if !clocks.closing() {
                    close_session(&peer, &outbox, &mut clocks, frame);
                }
            }
            Event::Incoming(Some(Ok(message))) => {
                clocks.heard();
                match message {
                    Message::Text(_) | Message::Binary(_) => {
                        if session.waiting() {
                            held = Some(message);
                        } else if !clocks.closing() {
                            if let Err(frame) = session.on_message(message) {
                                close_session(&peer, &outbox, &mut clocks, frame);
                            }
                        }
                    }
                    Message::Close(frame) => {
                        close_code = Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005));
                    }
                    // tungstenite answers pings itself; pongs only prove the peer is alive.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            Event::Incoming(None) => break,
            Event::Incoming(Some(Err(error))) => {
                let (code, reason) = close_for(&error);
                log::debug!("websocket error {peer}: {error}");
                if let Some(code) = code {
                    outbox.close(code, reason);
                    // Give the writer a moment to put the close frame on the wire.
                    async_std::task::sleep(Duration::from_millis(50)).await;
                }
                break;
            }
            Event::Shutdown => {
                if !clocks.closing() {
                    outbox.close(CloseCode::Away, "the node is shutting down");
                    clocks.start_closing();
                }
            }
            // The bottom of the loop notices a queue closed for overflowing.
            Event::Pressure | Event::Tick => {
                if matches!(event, Event::Tick) {
                    ticker.set_after(tick_every);
                }
                let too_slow = !clocks.closing() && outbox.is_open();
                if let Some(why) = too_slow.then(|| slow.check(&queue)).flatten() {
                    log::warn!(
                        "websocket closed {peer}: client too slow, {why} for {slow_timeout:?}"
                    );
                    crate::metrics::metrics().slow_client();
                    outbox.drop_slow();
                    clocks.start_closing();
                } else if matches!(event, Event::Pressure) {
                    // Only the queue's state changed; the bottom of the loop handles overflow.
                } else if clocks.closing() {
                    if clocks.close_overdue() {
                        break;
                    }
                } else if waiting_for_session && clocks.open_overdue() {
                    let limit = clocks.open_timeout;
                    log::debug!("websocket {peer}: no session opened within {limit:?}");
                    outbox.close(
                        CloseCode::Policy,
                        "no session opened within the open handshake timeout",
                    );
                    clocks.start_closing();
                } else {
                    match clocks.ping() {
                        Ping::Unanswered(limit) => {
                            log::debug!("websocket {peer}: no answer to ping within {limit:?}");
                            outbox.close(CloseCode::Away, "auto-ping timeout");
                            clocks.start_closing();
                        }
                        Ping::Due => {
                            let _ = outbox.control.try_send(Message::Ping(Vec::new().into()));
                        }
                        Ping::NotYet => {}
                    }
                }
            }
        }
        if queue.close_requested.load(Ordering::Relaxed) && !clocks.closing() {
            clocks.start_closing();
        }
        if !outbox.is_open() && !clocks.closing() {
            log::warn!(
                "websocket closed {peer}: client too slow, its outgoing queue reached twice max_queued_bytes ({} bytes)",
                2 * queue.bound
            );
            crate::metrics::metrics().slow_client();
            clocks.start_closing();
        }
    }
    session.on_close();
    outbox.data.close();
    outbox.control.close();
    // A writer stuck on a client that does not read is cancelled, not left behind.
    if async_std::future::timeout(Duration::from_millis(500), &mut writer)
        .await
        .is_err()
    {
        writer.cancel().await;
    }
    crate::metrics::metrics().websocket_closed(close_code);
    log::info!(
        "websocket close {peer} code {}",
        close_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into())
    );
}

/// Starts closing a connection whose session ended it.
fn close_session(
    peer: &crate::lifecycle::Peer,
    outbox: &Outbox,
    clocks: &mut Clocks,
    frame: CloseFrame,
) {
    log::debug!(
        "websocket closing {peer}: {} {}",
        u16::from(frame.code),
        frame.reason
    );
    outbox.close(frame.code, &frame.reason);
    clocks.start_closing();
}

/// The clocks of a connection loop: when the peer was last heard from and whether a ping
/// waits for its pong (auto-ping), when the connection opened (the open handshake), and
/// when the closing handshake began.
struct Clocks {
    /// `auto_ping_interval`; `None` when auto-ping is off.
    ping_interval: Option<Duration>,
    ping_timeout: Duration,
    open_timeout: Duration,
    close_timeout: Duration,
    opened: Instant,
    last_heard: Instant,
    ping_sent: Option<Instant>,
    closing_since: Option<Instant>,
}

/// What auto-ping calls for at a tick.
enum Ping {
    /// A ping went unanswered for this long: the peer is gone.
    Unanswered(Duration),
    /// Silence for the ping interval: send a ping (now counted as sent).
    Due,
    NotYet,
}

impl Clocks {
    fn new(options: &WebSocketOptions) -> Clocks {
        let now = Instant::now();
        let millis = |ms: u64| Duration::from_millis(ms.max(1));
        Clocks {
            ping_interval: (options.auto_ping_interval_ms > 0)
                .then(|| Duration::from_millis(options.auto_ping_interval_ms)),
            ping_timeout: millis(options.auto_ping_timeout_ms),
            open_timeout: millis(options.open_handshake_timeout_ms),
            close_timeout: millis(options.close_handshake_timeout_ms),
            opened: now,
            last_heard: now,
            ping_sent: None,
            closing_since: None,
        }
    }

    /// How often auto-ping needs to look.
    fn tick(&self) -> Duration {
        match self.ping_interval {
            None => Duration::from_secs(3600),
            Some(interval) => (interval.min(self.ping_timeout) / 2).max(Duration::from_millis(10)),
        }
    }

    /// A frame arrived: the peer is alive.
    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.ping_sent = None;
    }

    fn closing(&self) -> bool {
        self.closing_since.is_some()
    }

    fn start_closing(&mut self) {
        self.closing_since.get_or_insert_with(Instant::now);
    }

    fn close_overdue(&self) -> bool {
        self.closing_since
            .is_some_and(|since| since.elapsed() > self.close_timeout)
    }

    fn open_overdue(&self) -> bool {
        self.opened.elapsed() > self.open_timeout
    }

    fn ping(&mut self) -> Ping {
        let Some(interval) = self.ping_interval else {
            return Ping::NotYet;
        };
        match self.ping_sent {
            Some(at) if at.elapsed() > self.ping_timeout => Ping::Unanswered(self.ping_timeout),
            None if self.last_heard.elapsed() >= interval => {
                self.ping_sent = Some(Instant::now());
                Ping::Due
            }
            _ => Ping::NotYet,
        }
    }
}

/// The close code for a read error, if a close frame still makes sense.
fn close_for(error: &WsError) -> (Option<CloseCode>, &'static str) {
    match error {
        WsError::Capacity(_) => (Some(CloseCode::Size), "message too big"),
        WsError::Utf8(_) => (Some(CloseCode::Invalid), "invalid UTF-8 in a text message"),
        WsError::Protocol(_) => (Some(CloseCode::Protocol), "WebSocket protocol error"),
        _ => (None, ""),
    }
}

/// The next queued message, control messages first, uncounted from the queue's bytes;
/// `None` once every outbox is gone or the data was closed.
async fn next_queued(
    control: &Receiver<Message>,
    data: &Receiver<Message>,
    queue: &Queue,
) -> Option<Message> {
    let next = async { control.recv().await.ok() }
        .or(async { data.recv().await.ok() })
        .await;
    let next = next.or_else(|| control.try_recv().ok());
    if let Some(message) = &next {
        queue.took(message);
    }
    next
}

/// Sends queued messages, control first; flushes once the queue is drained (batched writes).
async fn write_loop<K>(
    sink: &mut K,
    data: Receiver<Message>,
    queue: &Queue,
    control: Receiver<Message>,
) where
    K: futures_util::Sink<Message> + Unpin,
{
    loop {
        let Some(message) = next_queued(&control, &data, queue).await else {
            let _ = sink.close().await;
            return;
        };
        let closing = matches!(message, Message::Close(_));
        if sink.feed(message).await.is_err() {
            return;
        }
        if closing {
            let _ = sink.flush().await;
            return;
        }
        if (data.is_empty() && control.is_empty()) && sink.flush().await.is_err() {
            return;
        }
    }
}

/// Crossbar's origin patterns: `*` matches any run of characters.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern.eq_ignore_ascii_case(text);
    }
    let text = text.to_ascii_lowercase();
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        let part = part.to_ascii_lowercase();
        if i == 0 {
            let Some(after) = rest.strip_prefix(part.as_str()) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part.as_str());
        } else {
            match rest.find(part.as_str()) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The testee transport's session: every text and binary message comes straight back.
pub struct Echo(pub Outbox);

impl Session for Echo {
    fn on_message(&mut self, message: Message) -> Result<(), CloseFrame> {
        self.0.send(message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn origin_patterns_match_like_crossbar() {
        assert!(wildcard_match("*", "https://a.example.com"));
        assert!(wildcard_match(
            "https://*.example.com",
            "https://a.example.com"
        ));
        assert!(!wildcard_match(
            "https://*.example.com",
            "https://example.org"
        ));
        assert!(wildcard_match(
            "http://localhost:*",
            "http://LOCALHOST:8080"
        ));
        assert!(!wildcard_match(
            "https://example.com",
            "https://example.com.evil"
        ));
    }
}
