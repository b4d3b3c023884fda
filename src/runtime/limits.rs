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

pub(crate) use crate::config::Limits;

/// A transport's cap on open connections (`max_connections`), as mini-redis's server
/// caps its own: one permit per connection, held until both its HTTP task and, after an
/// upgrade, its WebSocket task are done.
pub(crate) fn connection_cap(max_connections: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(max_connections))
}

/// One connection's place under the cap, and its count in the metrics; dropped when the
/// connection ends.
pub struct ConnectionSlot {
    _permit: SemaphoreGuardArc,
    _counted: crate::runtime::metrics::ConnectionCount,
}

impl ConnectionSlot {
    /// Holds `permit` for a connection of the transport named `transport`.
    pub fn new(permit: SemaphoreGuardArc, transport: &str) -> ConnectionSlot {
        ConnectionSlot {
            _permit: permit,
            _counted: crate::runtime::metrics::metrics().connection_opened(transport),
        }
    }
}

impl std::fmt::Debug for ConnectionSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionSlot")
    }
}

/// What clients hold of something shared (long-poll transports, bridge calls, logins
/// waiting for an authenticator), counted per client under a shared cap, so one client
/// using its whole share never locks out another.
///
/// A client is its IP address (every Unix-socket peer is one client): the ports of one host
/// are one client, as nginx's `limit_conn` counts them. A node behind a proxy sees the proxy
/// as its one client; its per-client caps must then be raised.
#[derive(Debug, Default)]
pub(crate) struct Shares {
    held: std::sync::Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    /// Only clients holding something: the map is as large as what is held, no more.
    by_client: std::collections::HashMap<Option<std::net::IpAddr>, usize>,
}

/// Which cap a refused share met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// The client holds its whole share already (`per_client`).
    Client(usize),
    /// Everyone together holds the shared cap (`all`).
    All(usize),
}

/// One thing a client holds; given back when dropped.
#[derive(Debug)]
pub(crate) struct Share {
    shares: Arc<Shares>,
    client: Option<std::net::IpAddr>,
}

impl Shares {
    /// Nothing held yet.
    pub(crate) fn new() -> Arc<Shares> {
        Arc::new(Shares::default())
    }

    /// One more for `client` (its IP address; `None` for every Unix-socket peer), if it
    /// holds fewer than `per_client` and everyone fewer than `all`.
    pub(crate) fn take(
        self: &Arc<Self>,
        client: Option<std::net::IpAddr>,
        per_client: usize,
        all: usize,
    ) -> Result<Share, Full> {
        let mut held = crate::lock(&self.held);
        if held.total >= all {
            return Err(Full::All(all));
        }
        let mine = held.by_client.entry(client).or_insert(0);
        if *mine >= per_client {
            return Err(Full::Client(per_client));
        }
        *mine += 1;
        held.total += 1;
        Ok(Share {
            shares: self.clone(),
            client,
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = crate::lock(&self.shares.held);
        held.total -= 1;
        if let Some(mine) = held.by_client.get_mut(&self.client) {
            *mine -= 1;
            if *mine == 0 {
                held.by_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's address; the port is not part of it.
    fn peer(ip: &str, _port: u16) -> Option<std::net::IpAddr> {
        Some(ip.parse().unwrap())
    }

    #[test]
    fn a_client_holding_its_share_leaves_room_for_others() {
        let shares = Shares::new();
        let a: Vec<Share> = (0..3)
            .map(|port| shares.take(peer("10.0.0.1", port), 3, 5).unwrap())
            .collect();
        assert_eq!(
            shares.take(peer("10.0.0.1", 9), 3, 5).err(),
            Some(Full::Client(3)),
            "another port of the same host is the same client"
        );
        let b = shares.take(peer("10.0.0.2", 1), 3, 5).unwrap();
        let _c = shares.take(peer("10.0.0.3", 1), 3, 5).unwrap();
        assert_eq!(
            shares.take(peer("10.0.0.4", 1), 3, 5).err(),
            Some(Full::All(5))
        );
        drop(b);
        assert!(shares.take(peer("10.0.0.4", 1), 3, 5).is_ok());
        drop(a);
        assert_eq!(
            crate::lock(&shares.held).total,
            1,
            "the dropped shares are given back"
        );
        assert_eq!(crate::lock(&shares.held).by_client.len(), 1);
    }
}
