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

use async_io::Timer;
use futures_lite::{ready, AsyncRead, AsyncWrite, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
}

impl Deadlines {
    /// A deadline of `first` for the first request head, of at most `max_head` bytes, and
    /// writes held to `send`.
    pub fn new(first: Duration, max_head: usize, send: Duration) -> Arc<Deadlines> {
        Arc::new(Deadlines {
            millis: AtomicU64::new(first.as_millis().max(1) as u64),
            generation: AtomicU64::new(1),
            max_head: max_head as u64,
            send_millis: AtomicU64::new(send.as_millis().max(1) as u64),
        })
    }

    /// The connection became a WebSocket: no read deadline and no send timeout any more.
    pub fn upgraded(&self) {
        self.send_millis.store(0, Ordering::SeqCst);
        self.set(None);
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
    /// Bytes read since the current head deadline was armed.
    head_bytes: u64,
    /// Read ahead by `poll_fill`, handed out by the next reads.
    ahead: Vec<u8>,
    ahead_from: usize,
    /// Where the request head being handed out ends.
    head_end: HeadEnd,
}

/// How much `poll_fill` reads ahead: a typical request head in one read.
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
            head_bytes: 0,
            ahead: Vec::new(),
            ahead_from: 0,
            head_end: HeadEnd::default(),
        }
    }
}

impl<S: AsyncRead + Unpin> Timed<S> {
    /// Waits until bytes can be read (`Ok(true)`) or the stream ended (`Ok(false)`), keeping
    /// what it read for the next reads. async-h1 arms a 60 s timer of its own whenever its
    /// first read of a request head would wait; after this, that read does not wait.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.ahead_from < self.ahead.len() {
            return Poll::Ready(Ok(true));
        }
        let mut ahead = std::mem::take(&mut self.ahead);
        ahead.resize(READ_AHEAD, 0);
        let read = self.poll_read_timed(cx, &mut ahead);
        match read {
            Poll::Ready(Ok(n)) if n > 0 => {
                ahead.truncate(n);
                (self.ahead, self.ahead_from) = (ahead, 0);
                Poll::Ready(Ok(true))
            }
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(false)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
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
            self.head_bytes = 0;
        }
    }

    /// A read of the inner stream, held to the deadline and the head size limit.
    fn poll_read_timed(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.follow_deadline();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Pending => {}
            Poll::Ready(Ok(n)) if self.due.is_some() => {
                // Still waiting for a head: it may not grow past the limit.
                self.head_bytes += n as u64;
                if self.head_bytes > self.deadline.max_head {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "request head larger than max_request_head",
                    )));
                }
                return Poll::Ready(Ok(n));
            }
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
        // While a request head is awaited, hand out no byte past its end: async-h1 reads the
        // head through a buffer of its own and drops what it read beyond, which would lose a
        // pipelined request (RFC 9112 §9.3.2 lets clients send several at once).
        this.follow_deadline();
        let in_head = this.due.is_some();
        if in_head && this.ahead_from == this.ahead.len() && !ready!(this.poll_fill(cx))? {
            return Poll::Ready(Ok(0));
        }
        if this.ahead_from < this.ahead.len() {
            let mut n = buf.len().min(this.ahead.len() - this.ahead_from);
            let slice = &this.ahead[this.ahead_from..this.ahead_from + n];
            if in_head {
                if let Some(end) = this.head_end.find(slice) {
                    n = end;
                }
            }
            buf[..n].copy_from_slice(&this.ahead[this.ahead_from..this.ahead_from + n]);
            this.ahead_from += n;
            if this.ahead_from == this.ahead.len() {
                // Freed: an idle connection keeps no buffer.
                (this.ahead, this.ahead_from) = (Vec::new(), 0);
            }
            return Poll::Ready(Ok(n));
        }
        this.poll_read_timed(cx, buf)
    }
}

/// Finds the blank line that ends a request head ("\r\n\r\n"), across reads.
#[derive(Default)]
struct HeadEnd {
    /// How much of "\r\n\r\n" the bytes handed out so far end with.
    matched: u8,
}

impl HeadEnd {
    /// The length of `bytes` up to and including the end of the head, if it ends in them;
    /// `bytes` count as handed out up to there.
    fn find(&mut self, bytes: &[u8]) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            self.matched = match (self.matched, b) {
                (0 | 2, b'\r') => self.matched + 1,
                (1 | 3, b'\n') => self.matched + 1,
                (_, b'\r') => 1,
                _ => 0,
            };
            if self.matched == 4 {
                self.matched = 0;
                return Some(i + 1);
            }
        }
        None
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

#[cfg(test)]
mod tests {
    use super::HeadEnd;

    #[test]
    fn the_end_of_a_head_is_found_even_when_split_across_reads() {
        let mut end = HeadEnd::default();
        assert_eq!(end.find(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET"), Some(27));
        for (chunk, want) in [
            (&b"GET / HTTP/1.1\r\n"[..], None),
            (b"\r", None),
            (b"\nnext", Some(1)),
        ] {
            assert_eq!(end.find(chunk), want);
        }
        // "\r\r\n\r\n" still ends; a lone "\n\n" does not (async-h1 wants CRLF).
        assert_eq!(end.find(b"a\r\r\n\r\nb"), Some(6));
        assert_eq!(end.find(b"a\n\nb\r\n"), None);
    }
}
