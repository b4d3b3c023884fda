//! Node-wide lifecycle: the shutdown signal every connection listens for (SIGINT, SIGTERM),
//! a count of open WebSockets so the node can wait for their closing handshakes, and what
//! each connection knows about its peer.

use crate::runtime::limits::ConnectionSlot;
use async_std::channel::{bounded, Receiver, Sender};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Shared by every listener and connection of a node.
#[derive(Clone, Debug)]
pub struct Lifecycle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Dropping the sender wakes every receiver: that is the shutdown signal.
    stop_tx: Mutex<Option<Sender<()>>>,
    stop_rx: Receiver<()>,
    websockets: AtomicUsize,
    started: Instant,
    /// Between SIGTERM and shutdown: health paths answer 503, everything else serves.
    draining: AtomicBool,
}

impl Default for Lifecycle {
    fn default() -> Self {
        let (tx, rx) = bounded(1);
        Lifecycle {
            inner: Arc::new(Inner {
                stop_tx: Mutex::new(Some(tx)),
                stop_rx: rx,
                websockets: AtomicUsize::new(0),
                started: Instant::now(),
                draining: AtomicBool::new(false),
            }),
        }
    }
}

impl Lifecycle {
    /// A receiver whose `recv()` returns (with an error) once shutdown begins.
    pub fn shutdown_signal(&self) -> Receiver<()> {
        self.inner.stop_rx.clone()
    }

    /// Begins shutdown: listeners stop accepting, WebSockets close with 1001.
    pub fn shutdown(&self) {
        if let Ok(mut tx) = self.inner.stop_tx.lock() {
            tx.take();
        }
    }

    /// Begins draining; false if it had begun already.
    pub fn start_draining(&self) -> bool {
        !self.inner.draining.swap(true, Ordering::SeqCst)
    }

    /// Whether the node is draining (health paths answer 503).
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Counts an open WebSocket until the guard is dropped.
    pub fn websocket_opened(&self) -> WebSocketGuard {
        self.inner.websockets.fetch_add(1, Ordering::SeqCst);
        WebSocketGuard(self.clone())
    }

    /// How many WebSockets are open.
    pub fn open_websockets(&self) -> usize {
        self.inner.websockets.load(Ordering::SeqCst)
    }

    /// Seconds since the node started.
    pub fn uptime_secs(&self) -> u64 {
        self.inner.started.elapsed().as_secs()
    }
}

/// Keeps a WebSocket counted while it lives.
pub struct WebSocketGuard(Lifecycle);

impl Drop for WebSocketGuard {
    fn drop(&mut self) {
        self.0.inner.websockets.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Who is at the other end of a connection: a TCP address, or a Unix socket's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A TCP peer.
    Tcp(SocketAddr),
    /// A peer on the Unix domain socket at this path.
    Unix(Arc<str>),
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Unix(path) => write!(f, "unix:{path}"),
        }
    }
}

impl Peer {
    /// The client it is, as per-client caps count them: its IP address (`None` for every
    /// Unix-socket peer, one client together).
    pub fn client(&self) -> Option<std::net::IpAddr> {
        match self {
            Peer::Tcp(addr) => Some(addr.ip()),
            Peer::Unix(_) => None,
        }
    }

    /// Crossbar's (Twisted's) form: `tcp4:127.0.0.1:5432`, `tcp6:…`, `unix:/path`.
    pub fn crossbar_form(&self) -> String {
        match self {
            Peer::Tcp(addr) if addr.is_ipv4() => format!("tcp4:{}:{}", addr.ip(), addr.port()),
            Peer::Tcp(addr) => format!("tcp6:{}:{}", addr.ip(), addr.port()),
            Peer::Unix(path) => format!("unix:{path}"),
        }
    }
}

/// What a request knows about its connection, set by the listener.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The peer.
    pub peer: Peer,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// SHA-1 and SHA-256 fingerprints (lower-case hex) of the client certificate, if any.
    pub client_cert: Option<(String, String)>,
    /// The connection's place under `max_connections`, held while any part of it lives;
    /// never read, only dropped.
    #[allow(dead_code)]
    pub slot: Option<Arc<ConnectionSlot>>,
}

impl ConnInfo {
    /// Whether the peer is in one of `networks` (`require_ip`); a Unix socket peer, having
    /// no address, is in none.
    pub fn admitted_by(&self, networks: &[crate::config::IpNet]) -> bool {
        match &self.peer {
            Peer::Tcp(addr) => networks.iter().any(|net| net.contains(addr.ip())),
            Peer::Unix(_) => false,
        }
    }

    /// The peer of a request, for log lines ("-" when unknown).
    pub fn peer_of<S>(req: &tide::Request<S>) -> String {
        req.ext::<ConnInfo>()
            .map(|info| info.peer.to_string())
            .unwrap_or_else(|| "-".into())
    }

    /// For a request that did not come through our listener (tests calling `respond`).
    pub fn unknown() -> ConnInfo {
        ConnInfo {
            peer: Peer::Tcp(SocketAddr::from(([0, 0, 0, 0], 0))),
            tls: false,
            client_cert: None,
            slot: None,
        }
    }
}
