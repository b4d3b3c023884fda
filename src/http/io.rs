//! A connection's HTTP I/O, below async-h1: what it reads and what it writes, and the
//! deadlines both are held to. A reader can skip this module (the rest sees a stream) or
//! study it: every trick here was measured (figures in docs/benchmarks.md).
//!
//! - **Read side** (`Timed`): each request head is read whole under its deadline and
//!   checked by the head gate (`http_head`) before async-h1 sees it, so async-h1 never arms
//!   its own per-request timer; then exactly the head, then exactly its body, are handed
//!   out, so a pipelined request is never swallowed by async-h1's buffers.
//! - **Write side** (`WriteBuffer`, and `Timed`'s writes): small writes gathered so a
//!   response head and body leave in one TLS record; a write that makes no progress for
//!   `send_timeout` fails (nginx's `send_timeout`); a 1xx/204/304 head is fixed on its way
//!   out.
//! - **State changes** (`ConnState`), named for what happened: `head_received()`,
//!   `response_ready(status)`, `answered()`; after a 101 the connection is a WebSocket's,
//!   with no deadlines.
//! - Timers are lazy: one per connection, armed once and re-armed only when it fires early,
//!   since registering a timer wakes the reactor's thread.

use crate::http::head::{self, Body};
use async_io::Timer;
use futures_lite::{ready, AsyncRead, AsyncWrite, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Where one HTTP connection is, shared by the HTTP layer (which says what happened) and
/// `Timed` (which holds reads and writes to the deadlines that follow from it).
#[derive(Debug)]
pub(crate) struct ConnState {
    /// 0 means no deadline; otherwise milliseconds, counted from the next read.
    millis: AtomicU64,
    /// Bumped on every change, so `Timed` knows to restart its timer.
    generation: AtomicU64,
    /// `keepalive_timeout`, in milliseconds: the deadline for the next request head.
    keepalive_millis: u64,
    /// `request_body_timeout`, in milliseconds: the deadline for a request's body.
    body_millis: u64,
    /// A read waited past its deadline (while a body was read, the request gets 408).
    timed_out: AtomicBool,
    /// The connection closes after this response: what is left of the request's body is
    /// not read (async-h1 would drain it first, all of a declared gigabyte).
    body_abandoned: AtomicBool,
    /// Most bytes a request head may take.
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

impl ConnState {
    /// A new connection: its first request head is due within `request_head_timeout`.
    pub(crate) fn new(limits: &crate::runtime::limits::Limits) -> Arc<ConnState> {
        let millis = |d: Duration| d.as_millis().max(1) as u64;
        Arc::new(ConnState {
            millis: AtomicU64::new(millis(limits.request_head)),
            generation: AtomicU64::new(1),
            keepalive_millis: millis(limits.keepalive),
            body_millis: millis(limits.request_body),
            timed_out: AtomicBool::new(false),
            body_abandoned: AtomicBool::new(false),
            max_head: limits.max_request_head as u64,
            send_millis: AtomicU64::new(millis(limits.send)),
            upgraded: AtomicBool::new(false),
            request: AtomicU8::new(0),
            head_fix: AtomicU16::new(0),
        })
    }

    /// A request head is in: its body, if it has one, must come within the body timeout
    /// (nginx's `client_body_timeout`), or a client that sends a head and a few bytes holds
    /// a connection, and a share of `max_connections`, for ever. Only the body is read
    /// while a request is handled, so a long-poll waiting for events is not cut off.
    pub(crate) fn head_received(&self) {
        self.timed_out.store(false, Ordering::SeqCst);
        self.body_abandoned.store(false, Ordering::SeqCst);
        self.arm(self.body_millis);
    }

    /// The response closes the connection: the rest of the request's body is left unread.
    pub(crate) fn abandon_body(&self) {
        self.body_abandoned.store(true, Ordering::SeqCst);
    }

    /// Whether a read of the current request waited past its deadline: its body did not
    /// come in time.
    pub(crate) fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::SeqCst)
    }

    /// The response to the current request is about to be written. After a 101 the
    /// connection is a WebSocket's, which has its own timeouts; otherwise the next request
    /// head must come within the keep-alive time. async-h1 gives 304 the reason "Modified"
    /// and 1xx, 204 and 304 a Content-Length, which RFC 9110 forbids (§15.2, §8.6), so such
    /// a head is marked to be fixed on the way out.
    pub(crate) fn response_ready(&self, status: u16) {
        if status < 200 || status == 204 || status == 304 {
            self.head_fix.store(status, Ordering::SeqCst);
        }
        if status == 101 {
            self.send_millis.store(0, Ordering::SeqCst);
            self.upgraded.store(true, Ordering::SeqCst);
            self.arm(0);
        } else {
            self.arm(self.keepalive_millis);
        }
    }

    /// The head gate answered a request itself (`OPTIONS *`): the next head is due within
    /// the keep-alive time.
    pub(crate) fn answered(&self) {
        self.arm(self.keepalive_millis);
    }

    /// Whether the connection was upgraded (a 101 went out).
    pub(crate) fn is_upgraded(&self) -> bool {
        self.upgraded.load(Ordering::SeqCst)
    }

    /// Whether the request being handled is HTTP/1.0, and whether it asked to keep the
    /// connection.
    pub(crate) fn request_kind(&self) -> (bool, bool) {
        let kind = self.request.load(Ordering::SeqCst);
        (kind & HTTP10 != 0, kind & KEEP_ALIVE != 0)
    }

    /// The status whose head is to be fixed, if any (`take`: only once).
    fn head_fix(&self, take: bool) -> u16 {
        if take {
            self.head_fix.swap(0, Ordering::SeqCst)
        } else {
            self.head_fix.load(Ordering::SeqCst)
        }
    }

    /// Reads must finish within `millis` from now on (0: no limit).
    fn arm(&self, millis: u64) {
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
pub(crate) struct Timed<S> {
    inner: S,
    deadline: Arc<ConnState>,
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
    /// How much of what is pending `poll_head` has searched for a head's end: a head
    /// trickled in byte by byte is searched once, not again with every byte.
    scanned: usize,
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
pub(crate) enum HeadRead {
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
    pub(crate) fn new(inner: S, deadline: Arc<ConnState>) -> Timed<S> {
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
            scanned: 0,
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
    pub(crate) fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<HeadRead>> {
        loop {
            let skipped = head::leading_empty_lines(&self.ahead[self.ahead_from..]);
            self.ahead_from += skipped;
            let pending = &self.ahead[self.ahead_from..];
            // A head's end is at most 3 bytes long: search again from just before where the
            // last search stopped.
            let from = self
                .scanned
                .saturating_sub(skipped)
                .saturating_sub(3)
                .min(pending.len());
            let end = head::end(&pending[from..]).map(|end| from + end);
            self.scanned = pending.len();
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
        self.scanned = 0;
        match head::check(&self.ahead[start..start + end]) {
            head::Verdict::Forward(head) => {
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
            head::Verdict::Answer { response, close } => {
                self.ahead_from += end;
                HeadRead::Answer { response, close }
            }
            head::Verdict::Refuse(status, why) => HeadRead::Refuse(status, why),
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
            self.deadline.timed_out.store(true, Ordering::SeqCst);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request did not arrive in time",
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
            if !this.deadline.is_upgraded() {
                return Poll::Ready(Ok(0));
            }
            this.frame = Frame::Open;
        }
        if matches!(this.frame, Frame::Body(_) | Frame::Open)
            && !this.deadline.is_upgraded()
            && this.deadline.body_abandoned.load(Ordering::SeqCst)
        {
            return Poll::Ready(Ok(0));
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

/// Gathers small writes until a flush (or 16 KiB), so a response head and its body leave in
/// one TLS record and one system call instead of two.
pub(crate) struct WriteBuffer<S> {
    inner: S,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    sent: usize,
    /// Says when a response head is to be fixed on its way out.
    deadline: Arc<ConnState>,
}

/// Writes larger than this bypass the buffer.
const WRITE_BUFFER: usize = 16 * 1024;

impl<S> WriteBuffer<S> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: S, deadline: Arc<ConnState>) -> WriteBuffer<S> {
        WriteBuffer {
            inner,
            buf: Vec::new(),
            sent: 0,
            deadline,
        }
    }

    /// The wrapped stream.
    pub(crate) fn get_mut(&mut self) -> &mut S {
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
