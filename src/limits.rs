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

pub use crate::config::Limits;

/// A transport's cap on open connections (`max_connections`), as mini-redis's server
/// caps its own: one permit per connection, held until both its HTTP task and, after an
/// upgrade, its WebSocket task are done.
pub fn connection_cap(max_connections: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(max_connections))
}

/// One connection's place under the cap, and its count in the metrics; dropped when the
/// connection ends.
pub struct ConnectionSlot {
    _permit: SemaphoreGuardArc,
    _counted: crate::metrics::ConnectionCount,
}

impl ConnectionSlot {
    /// Holds `permit` for a connection of the transport named `transport`.
    pub fn new(permit: SemaphoreGuardArc, transport: &str) -> ConnectionSlot {
        ConnectionSlot {
            _permit: permit,
            _counted: crate::metrics::metrics().connection_opened(transport),
        }
    }
}

impl std::fmt::Debug for ConnectionSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionSlot")
    }
}
