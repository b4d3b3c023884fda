//! The router's side of a connection, whatever carries it: the `Session` a transport hands
//! its client's messages to, and the `Outbox` the router sends through, a queue bounded in
//! bytes that a transport's writer drains through its `Inbox` (WebSocket, RawSocket,
//! long-poll, the router's own service sessions; a session on another node of a cluster
//! forwards instead). The transports own the I/O; this module owns the queue and the rule
//! that tells a slow client from a burst.

use async_std::channel::{bounded, unbounded, Receiver, Sender};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::Message;
use futures_lite::FutureExt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What a session does with the messages of one connection.
pub(crate) trait Session: Send + 'static {
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
    /// The queue overflowed: its client was dropped as too slow (`Outbox::drop_slow`).
    overflowed: AtomicBool,
}

impl Queue {
    fn new(bound: usize) -> Queue {
        Queue {
            bytes: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            bound,
            close_requested: AtomicBool::new(false),
            overflowed: AtomicBool::new(false),
        }
    }

    fn took(&self, message: &Message) {
        self.bytes.fetch_sub(message.len(), Ordering::Relaxed);
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
    pub(crate) fn drop_slow(&self) {
        let close = Message::Close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: "too slow: the outgoing queue is full".into(),
        }));
        self.queue.overflowed.store(true, Ordering::Relaxed);
        // Counted like any queued message, as the writer uncounts what it takes.
        self.queue.bytes.fetch_add(close.len(), Ordering::Relaxed);
        if let Err(e) = self.control.try_send(close) {
            self.queue.took(&e.into_inner());
        }
        self.data.close();
    }

    /// Whether the connection was closed because its client read too slowly.
    pub(crate) fn dropped_as_slow(&self) -> bool {
        self.queue.overflowed.load(Ordering::Relaxed)
    }

    /// Takes no more messages: the connection has ended.
    pub(crate) fn shut(&self) {
        self.data.close();
        self.control.close();
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
    /// An outbox and the inbox its transport's writer drains: every connection's queue (a
    /// WebSocket's, a RawSocket's, a long-poll transport's) and the router's own sessions'.
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

    /// What counts the bytes a transport's stream writes, for the slow-client watch (a
    /// WebSocket's writes go through tungstenite, which only the stream sees).
    pub(crate) fn counter(&self) -> WriteCounter {
        WriteCounter(self.queue.clone())
    }

    /// What watches this queue for a client too slow to read, from outside the writer.
    pub fn watch(&self) -> SlowWatch {
        SlowWatch {
            queue: self.queue.clone(),
            pressure: self.pressure.clone(),
        }
    }
}

/// Counts bytes written to a connection's stream (`Inbox::counter`).
#[derive(Clone)]
pub(crate) struct WriteCounter(Arc<Queue>);

impl WriteCounter {
    /// `n` more bytes reached the client's connection.
    pub(crate) fn wrote(&self, n: usize) {
        self.0.written.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Watches an outbox's queue for a client too slow to read, from outside its writer: on
/// its own (`too_slow`), or from a connection loop that checks it at its ticks.
pub struct SlowWatch {
    queue: Arc<Queue>,
    /// Signalled when the queue goes over its bound or overflows; a stream, so a loop that
    /// polls it turn after turn keeps its one listener.
    pub(crate) pressure: Receiver<()>,
}

impl SlowWatch {
    /// Whether the client has been too slow for long enough, by `slow`'s clocks.
    pub(crate) fn check(&self, slow: &mut SlowClient) -> Option<&'static str> {
        slow.check(&self.queue)
    }

    /// Whether a close was queued from outside the connection's loop.
    pub(crate) fn close_requested(&self) -> bool {
        self.queue.close_requested.load(Ordering::Relaxed)
    }

    /// `max_queued_bytes`.
    pub(crate) fn bound(&self) -> usize {
        self.queue.bound
    }

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
pub(crate) struct SlowClient {
    timeout: Duration,
    over_since: Option<Instant>,
    stalled_since: Option<Instant>,
    last_written: u64,
}

impl SlowClient {
    pub(crate) fn new(timeout: Duration) -> SlowClient {
        SlowClient {
            timeout,
            over_since: None,
            stalled_since: None,
            last_written: 0,
        }
    }

    /// Whether the queue is being watched (then the loop looks often).
    pub(crate) fn watching(&self) -> bool {
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
