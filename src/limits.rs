//! Per-transport limits that keep slow, idle or too many clients from holding a node:
//! TLS handshake timeout, request-head timeout (slowloris), keep-alive idle timeout, send
//! timeout (a client that stops reading a response), and a cap on concurrent connections.
//! The WebSocket limits (message size, auto-ping, close handshake) live with the WebSocket
//! options.
//!
//! The timeouts are enforced on a connection's reads and writes by `http_io`; this module
//! holds their values and the cap on connections.

use async_lock::{Semaphore, SemaphoreGuardArc};
use std::sync::Arc;
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

/// A transport's cap on open connections (`max_connections`), as mini-redis's server
/// caps its own: one permit per connection, held until both its HTTP task and, after an
/// upgrade, its WebSocket task are done.
pub fn connection_cap(max_connections: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(max_connections))
}

/// One connection's place under the cap; dropped when the connection ends.
pub type ConnectionSlot = SemaphoreGuardArc;
