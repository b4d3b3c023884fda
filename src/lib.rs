//! wssnode: one binary that serves a Crossbar.io node directory: a WAMP v2 router over
//! WebSocket, RawSocket and long-poll, static files and the HTTP bridge over HTTPS. The
//! binary (`main.rs`) is the command line; the library is the server, public only where the
//! binary and the fuzz targets reach (config, cipher strings, request heads, WAMP messages,
//! static paths, RawSocket frames).
//!
//! # Layout
//!
//! One folder per layer; dependencies run from the top of this list down, never back up
//! (`tests/layers.rs` fails on a cycle or an import of a layer above):
//!
//! - `node`: start-up (`node::prepare` turns the config into ready transports; `wssnode
//!   check` is it without serving), serving, logging.
//! - `cluster`: the engine that carries the router's link to other nodes through Redis.
//! - `http`: the listener (connection cap, TLS handshake, HTTP/1.1 with deadlines) and the
//!   site that routes each request to its path's service: static files, archives, the HTTP
//!   bridge, upgrades to WebSocket and long-poll.
//! - `transport`: the connections a WAMP session runs over: WebSocket, RawSocket, long-poll.
//! - `wamp`: the router. A transport feeds a `wamp::peer::Session` and drains its
//!   `wamp::peer::Outbox`; `session` (HELLO, WELCOME, GOODBYE) asks `auth`, then hands each
//!   message to its `realm`, which owns the `sessions` and dispatches to the `broker` and the
//!   `dealer`; neither reaches back into the realm.
//! - `tls`: rustls configs from PEM files, cipher strings, self-signed pairs, ACME.
//! - `runtime`: what every layer shares: shutdown and connection identity, caps and
//!   per-client shares, the node's counters, the clock.
//! - `config`: `config.json` read into typed values, once; start-up errors for people.
//!
//! [ARCHITECTURE.md](../ARCHITECTURE.md) walks a static GET, a PUBLISH and a cross-node
//! CALL through the files.

#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]

/// Locks a mutex whose data stays valid whatever a holder did: a panic elsewhere must not
/// take every later user down with it.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// The layers, from the top (start-up) to the bottom (config); `tests/layers.rs` holds each
// to importing only those below it. Public only where the binary and the fuzz targets reach.
pub(crate) mod cluster;
pub mod config;
pub mod http;
pub mod node;
pub mod runtime;
pub mod tls;
pub mod transport;
pub mod wamp;
