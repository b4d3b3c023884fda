//! Per-transport limits that keep slow, idle or too many clients from holding a node:
//! TLS handshake timeout, request-head timeout (slowloris), keep-alive idle timeout, and a
//! cap on concurrent connections. The WebSocket limits (message size, auto-ping, close
//! handshake) live with the WebSocket options.
//!
//! The head and idle timeouts are enforced on the connection's reads: `Timed` wraps the
//! stream and fails a read that is still waiting when the current deadline passes. The HTTP
//! layer moves the deadline: armed for the first head, off while a request is handled, armed
//! with the keep-alive time after each response, off for good once the connection upgrades.

use async_io::Timer;
use futures_lite::{AsyncRead, AsyncWrite, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

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
            max_connections: 10_000,
            max_request_head: MAX_HEAD,
        }
    }
}

/// The deadline a connection's reads are held to, shared by the HTTP layer and `Timed`.
#[derive(Debug)]
pub struct ReadDeadline {
    /// 0 means no deadline; otherwise milliseconds, counted from the next read.
    millis: AtomicU64,
    /// Bumped on every change, so `Timed` knows to restart its timer.
    generation: AtomicU64,
    /// Most bytes a request head may take (counted while a deadline is armed).
    max_head: u64,
}

impl ReadDeadline {
    /// A deadline of `first` for the first request head, of at most `max_head` bytes.
    pub fn new(first: Duration, max_head: usize) -> Arc<ReadDeadline> {
        Arc::new(ReadDeadline {
            millis: AtomicU64::new(first.as_millis().max(1) as u64),
            generation: AtomicU64::new(1),
            max_head: max_head as u64,
        })
    }

    /// Reads must finish within `limit` from now on (`None`: no limit).
    pub fn set(&self, limit: Option<Duration>) {
        let millis = limit.map(|d| d.as_millis().max(1) as u64).unwrap_or(0);
        self.millis.store(millis, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// A stream whose reads fail with `TimedOut` when they wait past the current deadline.
pub struct Timed<S> {
    inner: S,
    deadline: Arc<ReadDeadline>,
    seen_generation: u64,
    timer: Option<Timer>,
    /// Bytes read since the current head deadline was armed.
    head_bytes: u64,
}

impl<S> Timed<S> {
    /// Wraps `inner`, held to `deadline`.
    pub fn new(inner: S, deadline: Arc<ReadDeadline>) -> Timed<S> {
        Timed {
            inner,
            deadline,
            seen_generation: 0,
            timer: None,
            head_bytes: 0,
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
        // A new deadline restarts the timer from this read.
        let generation = this.deadline.generation.load(Ordering::SeqCst);
        if generation != this.seen_generation {
            this.seen_generation = generation;
            this.timer = match this.deadline.millis.load(Ordering::SeqCst) {
                0 => None,
                ms => Some(Timer::after(Duration::from_millis(ms))),
            };
            this.head_bytes = 0;
        }
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => {}
            Poll::Ready(Ok(n)) if this.timer.is_some() => {
                // Still waiting for a head: it may not grow past the limit.
                this.head_bytes += n as u64;
                if this.head_bytes > this.deadline.max_head {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "request head larger than max_request_head",
                    )));
                }
                return Poll::Ready(Ok(n));
            }
            ready => return ready,
        }
        if let Some(timer) = &mut this.timer {
            if Pin::new(timer).poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request head not received in time",
                )));
            }
        }
        Poll::Pending
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
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
