//! WebSocket endpoints (RFC 6455): the opening handshake on an HTTP request (version,
//! key, `Origin` against `allowed_origins`, subprotocol choice), then one connection loop
//! shared by every kind of session (WAMP, or the testee's echo): auto-ping with timeout,
//! message size limits (close 1009), an outgoing queue bounded in bytes (close 1008 when a
//! client stays too slow to read), and close 1001 when the node shuts down.

mod handshake;
pub(crate) use handshake::check_handshake;

use crate::config::WebSocketOptions;
use crate::runtime::lifecycle::{ConnInfo, Lifecycle};
use crate::wamp::peer::{Inbox, Outbox, Session, SlowClient, WriteCounter};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures_lite::FutureExt;
use futures_util::{SinkExt, StreamExt};
use http_types::upgrade::Connection;
use http_types::StatusCode;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tide::Response;

/// Initial read buffer of a connection.
const READ_BUFFER: usize = 1024;
/// Bytes gathered before a write goes to the socket (a flush sends them sooner).
const WRITE_BUFFER: usize = 16 * 1024;

/// The upgraded connection, counting what is written to it for the slow-client watch.
struct Counted {
    inner: Connection,
    counter: WriteCounter,
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
            self.counter.wrote(*n);
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

/// Answers a checked handshake with 101 and starts `session` on the upgraded connection.
pub(crate) async fn accept<S, F>(
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
            let (outbox, inbox) = Outbox::local(options.max_queued_bytes);
            let counted = Counted {
                inner: connection,
                counter: inbox.counter(),
            };
            let ws = WebSocketStream::from_raw_socket(counted, Role::Server, Some(config)).await;
            let queue = (outbox, inbox);
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
    (outbox, inbox): (Outbox, Inbox),
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
    crate::runtime::metrics::metrics().websocket_opened();
    let (mut sink, mut stream) = ws.split();
    // The queue may go over its bound again and again; as a stream, the watch's pressure
    // receiver keeps its one listener between turns.
    let mut watch = inbox.watch();
    let mut writer = async_std::task::spawn(async move { write_loop(&mut sink, inbox).await });
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
            match watch.pressure.next().await {
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
                if let Some(why) = too_slow.then(|| watch.check(&mut slow)).flatten() {
                    log::warn!(
                        "websocket closed {peer}: client too slow, {why} for {slow_timeout:?}"
                    );
                    crate::runtime::metrics::metrics().slow_client();
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
                            outbox.send_control(Message::Ping(Vec::new().into()));
                        }
                        Ping::NotYet => {}
                    }
                }
            }
        }
        if watch.close_requested() && !clocks.closing() {
            clocks.start_closing();
        }
        if !outbox.is_open() && !clocks.closing() {
            log::warn!(
                "websocket closed {peer}: client too slow, its outgoing queue reached twice max_queued_bytes ({} bytes)",
                2 * watch.bound()
            );
            crate::runtime::metrics::metrics().slow_client();
            clocks.start_closing();
        }
    }
    session.on_close();
    outbox.shut();
    // A writer stuck on a client that does not read is cancelled, not left behind.
    if async_std::future::timeout(Duration::from_millis(500), &mut writer)
        .await
        .is_err()
    {
        writer.cancel().await;
    }
    crate::runtime::metrics::metrics().websocket_closed(close_code);
    log::info!(
        "websocket close {peer} code {}",
        close_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into())
    );
}

/// Starts closing a connection whose session ended it.
fn close_session(
    peer: &crate::runtime::lifecycle::Peer,
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

/// Sends queued messages, control first; flushes once the queue is drained (batched writes).
async fn write_loop<K>(sink: &mut K, inbox: Inbox)
where
    K: futures_util::Sink<Message> + Unpin,
{
    loop {
        let Some(message) = inbox.recv().await else {
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
        if inbox.is_empty() && sink.flush().await.is_err() {
            return;
        }
    }
}

/// The testee transport's session: every text and binary message comes straight back.
pub(crate) struct Echo(pub Outbox);

impl Session for Echo {
    fn on_message(&mut self, message: Message) -> Result<(), CloseFrame> {
        self.0.send(message);
        Ok(())
    }
}
