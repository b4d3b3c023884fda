//! HTTP/1.1 over a transport's connections: the listener (accept, the connection cap, the
//! TLS handshake, one request after another), its I/O (`io`: deadlines, the head gate of
//! `head`, write coalescing), and the site (`site`) that routes each request to its path's
//! service: static files, ZIP archives, the HTTP bridge, WebSocket and long-poll upgrades,
//! redirects, JSON values, the health, metrics and node info pages.

pub mod archive;
pub mod bridge;
pub mod head;
pub(crate) mod io;
pub mod listener;
pub(crate) mod site;
pub mod static_files;
