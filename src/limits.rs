//! Per-transport limits that keep slow, idle or too many clients from holding a node:
//! TLS handshake timeout, request-head timeout (slowloris), keep-alive idle timeout, send
//! timeout (a client that stops reading a response), and a cap on concurrent connections.
//! The WebSocket limits (message size, auto-ping, close handshake) live with the WebSocket
//! options.
//!
//! The head and idle timeouts are enforced on the connection's reads: `Timed` wraps the
//! stream and fails a read that is still waiting when the current deadline passes. The HTTP
//! layer moves the deadline: armed for the first head, off while a request is handled, armed
//! with the keep-alive time after each response, off for good once the connection upgrades.
//! Writes are held to the send timeout: a write that makes no progress for that long fails,
//! as nginx's `send_timeout`; a WebSocket has its own remedies (queue bound, auto-ping).

use crate::http_head::{self, Body};
use async_io::Timer;
use futures_lite::{ready, AsyncRead, AsyncWrite, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// async-h1's own fixed limit on a request head.
pub const MAX_HEAD: usize = 8 * 1024;

/// The limits of one transport, from its `options`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `tls_handshake_timeout`: time to finish the TLS handshake.
    pub tls_handshake: Duration,
    /// `request_head_timeout`: time to send the first request head.
    pub request_head: Duration,
    /// `keepalive_timeout`: time to send the next request head on a kept-alive connection.
    pub keepalive: Duration,
    /// `send_timeout`: time a response write may make no progress.
    pub send: Duration,
    /// `max_connections`: connections over this are closed at once.
    pub max_connections: usize,
    /// `max_request_head`: bytes a request head may take (async-h1 caps it at 8 KiB).
    pub max_request_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            tls_handshake: Duration::from_secs(10),
            request_head: Duration::from_secs(10),
            keepalive: Duration::from_secs(30),
            send: Duration::from_secs(60),
            max_connections: 10_000,
            max_request_head: MAX_HEAD,
        }
    }
}

/// The deadline a connection's reads are held to and the time its writes may stall, shared
/// by the HTTP layer and `Timed`.
#[derive(Debug)]
pub struct Deadlines {
    /// 0 means no deadline; otherwise milliseconds, counted from the next read.
    millis: AtomicU64,
    /// Bumped on every change, so `Timed` knows to restart its timer.
    generation: AtomicU64,
    /// Most bytes a request head may take (counted while a deadline is armed).
    max_head: u64,
    /// How long a write may make no progress, in milliseconds; 0 once upgraded.
    send_millis: AtomicU64,
    /// The connection is a WebSocket now: reads pass through.
    upgraded: AtomicBool,
    /// What the head gate learned of the request being handled (`HTTP10`, `KEEP_ALIVE`).
    request: AtomicU8,
    /// A response status whose head async-h1 writes wrong (1xx, 204, 304), to fix on its
    /// way out; 0 for none.
    head_fix: AtomicU16,
}

/// The request was HTTP/1.0.
const HTTP10: u8 = 1;
/// The HTTP/1.0 request asked to keep the connection.
const KEEP_ALIVE: u8 = 2;

impl Deadlines {
    /// A deadline of `first` for the first request head, of at most `max_head` bytes, and
    /// writes held to `send`.
    pub fn new(first: Duration, max_head: usize, send: Duration) -> Arc<Deadlines> {
        Arc::new(Deadlines {
            millis: AtomicU64::new(first.as_millis().max(1) as u64),
            generation: AtomicU64::new(1),
            max_head: max_head as u64,
            send_millis: AtomicU64::new(send.as_millis().max(1) as u64),
            upgraded: AtomicBool::new(false),
            request: AtomicU8::new(0),
            head_fix: AtomicU16::new(0),
        })
    }

    /// The connection became a WebSocket: no read deadline and no send timeout any more.
    pub fn upgraded(&self) {
        self.send_millis.store(0, Ordering::SeqCst);
        self.upgraded.store(true, Ordering::SeqCst);
        self.set(None);
    }

    /// Whether the request being handled is HTTP/1.0, and whether it asked to keep the
    /// connection.
    pub fn request_kind(&self) -> (bool, bool) {
        let kind = self.request.load(Ordering::SeqCst);
        (kind & HTTP10 != 0, kind & KEEP_ALIVE != 0)
    }

    /// The response about to be written has this status; async-h1 gives 304 the reason
    /// "Modified" and 1xx, 204 and 304 a Content-Length, which RFC 9110 forbids (§15.2,
    /// §8.6), so its head is fixed on the way out.
    pub fn response_status(&self, status: u16) {
        if status < 200 || status == 204 || status == 304 {
            self.head_fix.store(status, Ordering::SeqCst);
        }
    }

    /// The status whose head is to be fixed, if any (`take`: only once).
    pub fn head_fix(&self, take: bool) -> u16 {
        if take {
            self.head_fix.swap(0, Ordering::SeqCst)
        } else {
            self.head_fix.load(Ordering::SeqCst)
        }
    }

    /// Reads must finish within `limit` from now on (`None`: no limit).
    pub fn set(&self, limit: Option<Duration>) {
        let millis = limit.map(|d| d.as_millis().max(1) as u64).unwrap_or(0);
        self.millis.store(millis, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// A stream whose reads fail with `TimedOut` when they wait past the current deadline, and
/// whose writes fail so when they make no progress within the send timeout.
///
/// The timer is lazy: it is armed once and, when it fires before the deadline (which moved
/// later since), re-armed for the deadline. A kept-alive connection moves its deadline with
/// every request, and registering a timer wakes the reactor's thread; this way a connection
/// registers one timer per keep-alive period, not one per request.
pub struct Timed<S> {
    inner: S,
    deadline: Arc<Deadlines>,
    seen_generation: u64,
    /// When reads must be done by, if at all.
    due: Option<Instant>,
    /// The armed timer and when it fires (at or before `due`, or stale).
    timer: LazyTimer,
    /// Since when writes have made no progress, if they are waiting.
    stalled: Option<Instant>,
    /// Wakes a stalled write when the send timeout is up.
    write_timer: LazyTimer,
    /// Read ahead by `poll_head`, handed out by the next reads.
    ahead: Vec<u8>,
    ahead_from: usize,
    /// Which part of a request the next reads hand out.
    frame: Frame,
    /// The body that follows the head being handed out.
    next_body: Body,
}

/// Which part of a request the reads are in. async-h1 reads heads and bodies through
/// buffers of its own and drops what they read beyond, so no read hands out a byte past
/// the part it is in: a pipelined request stays here for the next `poll_head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// Between requests: nothing to hand out until `poll_head` has the next head.
    Between,
    /// The checked head, this many bytes of it left.
    Head { left: usize },
    /// A body of a known length, this many bytes left.
    Body(u64),
    /// Everything: an upgraded connection, or a chunked body (then the connection closes).
    Open,
}

/// What `poll_head` found.
#[derive(Debug)]
pub enum HeadRead {
    /// A request head is ready for the HTTP layer.
    Ready,
    /// The client closed the connection between requests.
    Ended,
    /// Answered by the gate (`OPTIONS *`): write this; close after it if `close`.
    Answer {
        /// The response.
        response: &'static [u8],
        /// Whether the connection ends after it.
        close: bool,
    },
    /// Refused with this status; the text says why.
    Refuse(u16, String),
}

/// How much `poll_head` reads at a time: a typical request head in one read.
const READ_AHEAD: usize = 4096;

impl<S> Timed<S> {
    /// Wraps `inner`, held to `deadline`.
    pub fn new(inner: S, deadline: Arc<Deadlines>) -> Timed<S> {
        Timed {
            inner,
            deadline,
            seen_generation: 0,
            due: None,
            timer: LazyTimer::default(),
            stalled: None,
            write_timer: LazyTimer::default(),
            ahead: Vec::new(),
            ahead_from: 0,
            frame: Frame::Between,
            next_body: Body::None,
        }
    }
}

impl<S: AsyncRead + Unpin> Timed<S> {
    /// Reads the next request head whole, under the current deadline, and checks it
    /// (`http_head`). A head that passes is rewritten for async-h1 and kept for the next
    /// reads; async-h1 then finds it at once and never arms its own 60 s timer (which
    /// would wake the reactor's thread for every request).
    pub fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<HeadRead>> {
        loop {
            self.ahead_from += http_head::leading_empty_lines(&self.ahead[self.ahead_from..]);
            let pending = &self.ahead[self.ahead_from..];
            let end = http_head::end(pending);
            if let Some(end) = end.filter(|end| *end as u64 <= self.deadline.max_head) {
                return Poll::Ready(Ok(self.take_head(end)));
            }
            if end.is_some() || pending.len() as u64 >= self.deadline.max_head {
                let why = format!(
                    "request head larger than max_request_head ({} bytes)",
                    self.deadline.max_head
                );
                return Poll::Ready(Ok(HeadRead::Refuse(431, why)));
            }
            // Read more after what is kept.
            let mut ahead = std::mem::take(&mut self.ahead);
            ahead.drain(..self.ahead_from);
            self.ahead_from = 0;
            let kept = ahead.len();
            ahead.resize(kept + READ_AHEAD, 0);
            let read = self.poll_read_timed(cx, &mut ahead[kept..]);
            let n = match &read {
                Poll::Ready(Ok(n)) => *n,
                _ => 0,
            };
            ahead.truncate(kept + n);
            self.ahead = ahead;
            match read {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(HeadRead::Ended)),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Checks the head that ends `end` bytes into what is pending.
    fn take_head(&mut self, end: usize) -> HeadRead {
        let start = self.ahead_from;
        match http_head::check(&self.ahead[start..start + end]) {
            http_head::Verdict::Forward(head) => {
                let head_len = match head.rewritten {
                    None => end,
                    Some(mut ahead) => {
                        let head_len = ahead.len();
                        ahead.extend_from_slice(&self.ahead[start + end..]);
                        (self.ahead, self.ahead_from) = (ahead, 0);
                        head_len
                    }
                };
                self.frame = Frame::Head { left: head_len };
                self.next_body = head.body;
                let kind = u8::from(head.http10) * HTTP10 + u8::from(head.keep_alive) * KEEP_ALIVE;
                self.deadline.request.store(kind, Ordering::SeqCst);
                HeadRead::Ready
            }
            http_head::Verdict::Answer { response, close } => {
                self.ahead_from += end;
                HeadRead::Answer { response, close }
            }
            http_head::Verdict::Refuse(status, why) => HeadRead::Refuse(status, why),
        }
    }

    /// Takes up a deadline the HTTP layer set since the last read: it counts from now.
    /// Afterwards `due` says whether a request head is awaited.
    fn follow_deadline(&mut self) {
        let generation = self.deadline.generation.load(Ordering::SeqCst);
        if generation != self.seen_generation {
            self.seen_generation = generation;
            self.due = match self.deadline.millis.load(Ordering::SeqCst) {
                0 => None,
                ms => Some(Instant::now() + Duration::from_millis(ms)),
            };
        }
    }

    /// A read of the inner stream, held to the deadline.
    fn poll_read_timed(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.follow_deadline();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Pending => {}
            ready => return ready,
        }
        if self.timer.expired(self.due, cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head not received in time",
            )));
        }
        Poll::Pending
    }
}

impl<S> Timed<S> {
    /// Holds a write (or flush) to the send timeout: `poll` is its outcome, and a write that
    /// waits longer than the timeout without progress becomes `TimedOut`.
    fn send_limited<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let due = match self.deadline.send_millis.load(Ordering::SeqCst) {
            0 => None,
            ms => {
                let since = *self.stalled.get_or_insert_with(Instant::now);
                Some(since + Duration::from_millis(ms))
            }
        };
        if self.write_timer.expired(due, cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing within send_timeout",
            )));
        }
        Poll::Pending
    }
}

/// A timer armed lazily: registering a timer wakes the reactor's thread, so one that fires
/// before the deadline it guards (which moved later since) is re-armed then, rather than
/// every time the deadline moves.
#[derive(Default)]
struct LazyTimer(Option<(Timer, Instant)>);

impl LazyTimer {
    /// Whether `due` has passed; otherwise makes sure this task is woken by then.
    fn expired(&mut self, due: Option<Instant>, cx: &mut Context<'_>) -> bool {
        let Some(due) = due else {
            self.0 = None;
            return false;
        };
        loop {
            match &mut self.0 {
                // Fires too late for an earlier deadline: re-arm.
                Some((timer, at)) if *at > due => {
                    timer.set_at(due);
                    *at = due;
                }
                Some((timer, at)) => {
                    if Pin::new(timer).poll(cx).is_pending() {
                        return false;
                    }
                    if *at >= due || Instant::now() >= due {
                        return true;
                    }
                    // Fired for an older, earlier deadline: wait on for this one.
                    self.0 = None;
                }
                None => self.0 = Some((Timer::at(due), due)),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.frame == Frame::Between {
            if !this.deadline.upgraded.load(Ordering::SeqCst) {
                return Poll::Ready(Ok(0));
            }
            this.frame = Frame::Open;
        }
        let limit = match this.frame {
            Frame::Head { left } => left as u64,
            Frame::Body(left) => left,
            Frame::Open | Frame::Between => u64::MAX,
        };
        let want = buf.len().min(usize::try_from(limit).unwrap_or(usize::MAX));
        let n = if this.ahead_from < this.ahead.len() {
            let n = want.min(this.ahead.len() - this.ahead_from);
            buf[..n].copy_from_slice(&this.ahead[this.ahead_from..this.ahead_from + n]);
            this.ahead_from += n;
            if this.ahead_from == this.ahead.len() {
                // Freed: an idle connection keeps no buffer.
                (this.ahead, this.ahead_from) = (Vec::new(), 0);
            }
            n
        } else {
            ready!(this.poll_read_timed(cx, &mut buf[..want]))?
        };
        this.frame = match this.frame {
            Frame::Head { left } if left == n => match this.next_body {
                Body::None => Frame::Between,
                Body::Length(len) => Frame::Body(len),
                Body::Chunked => Frame::Open,
            },
            Frame::Head { left } => Frame::Head { left: left - n },
            Frame::Body(left) if n == 0 || left == n as u64 => Frame::Between,
            Frame::Body(left) => Frame::Body(left - n as u64),
            other => other,
        };
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.send_limited(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.send_limited(cx, poll)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_close(cx);
        self.send_limited(cx, poll)
    }
}

/// Counts a transport's open connections.
#[derive(Debug, Default)]
pub struct ConnectionCount(AtomicUsize);

impl ConnectionCount {
    /// A slot for one more connection, or `None` when `max` are open.
    pub fn admit(self: &Arc<Self>, max: usize) -> Option<ConnectionSlot> {
        let before = self.0.fetch_add(1, Ordering::SeqCst);
        if before >= max {
            self.0.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(ConnectionSlot(self.clone()))
    }
}

/// Holds a connection's place until dropped (by the HTTP task and, after an upgrade, the
/// WebSocket task: both keep a clone of the `Arc` it lives in).
#[derive(Debug)]
pub struct ConnectionSlot(Arc<ConnectionCount>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}
