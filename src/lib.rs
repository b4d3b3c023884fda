//! wssnode: one binary that serves a Crossbar.io node directory, a static web site over
//! HTTPS and a WAMP v2 router over secure WebSocket. The binary (`main.rs`) is the command
//! line; the library is the server, public only where fuzz targets reach its pure parts
//! (config, cipher strings, request heads, WAMP messages, static paths).
//!
//! [ARCHITECTURE.md](../ARCHITECTURE.md) is the long form of this tour: the layers, their
//! order, and a PUBLISH and a cross-node CALL followed through the files.
//!
//! # Layout
//!
//! Dependencies run one way, from the top of this list down; nothing reaches back.
//!
//! - `config` reads `config.json` into typed values, once (it imports nothing of the
//!   runtime); `error` says what is wrong with it, for people.
//! - `node` turns the config into ready transports (`tls` builds each rustls config,
//!   `selfsigned` makes a missing pair) and serves them; `lifecycle` carries shutdown.
//! - `listener`: a `Listener` accepts under the connection cap (`limits`), a `Connection`
//!   makes the TLS handshake and serves HTTP/1.1 requests; its I/O is `http_io` (deadlines,
//!   the head gate of `http_head`, framing, write coalescing).
//! - `web` routes a request to its path's service: `static_files`, a WebSocket (`ws`), a
//!   redirect, a JSON value, the node info page.
//! - `ws` drives one WebSocket connection: opening handshake, auto-ping, the outgoing queue
//!   bounded in bytes, close; its messages go to a `ws::Session`. `rawsocket` drives one
//!   RawSocket connection (a `rawsocket` transport's, or a `universal` port's whose first
//!   byte is RawSocket's) into the same kind of session, through the same bounded queue.
//! - `wamp` is the router: `session` (one per WebSocket: HELLO, WELCOME, GOODBYE) asks
//!   `auth` what a HELLO or AUTHENTICATE gets (it decides, the session carries out) and
//!   hands each message to its `realm`, which owns the `sessions` and dispatches to the
//!   `broker` (subscriptions, found through `patterns`) or the `dealer` (registrations and
//!   calls in flight); `authorize` holds the permission rules; `meta` answers `wamp.*`
//!   procedures. `service` is the router's own session in a realm, through which a session
//!   calls an authenticator or authorizer like any caller. `message` decodes what clients
//!   send and builds what the router sends; `serializer` turns frames into JSON values and
//!   back; `options` and `uri` read what messages carry.
//! - `cookies` keeps the cookies of cookie tracking: `web` issues them, `wamp::session`
//!   binds and reads them.
//! - `cluster` (wssnode's `cluster` key) runs a node as one of several serving the same
//!   realms through Redis. The router pushes what other nodes must know (events, its
//!   sessions, callees and subscribers coming and going, forwarded calls) onto
//!   `wamp::cluster::Link`, which never waits; the engine in `cluster` carries it through
//!   Redis and hands what it hears to the realms (`Realm::remote_*`). Another node's callee
//!   is a session here whose outbox forwards to its node; `wamp::elsewhere` keeps other
//!   nodes' subscriptions for the meta API.
//!
//! # A static file, from accept to bytes
//!
//! `Listener::run` accepts a TCP connection and takes a permit of the connection cap;
//! `Connection::serve` makes the TLS handshake and calls `http`, which wraps the stream in
//! `http_io::Timed` (reads held to a deadline) and `WriteBuffer` (writes gathered). Its loop
//! calls `Timed::poll_head`: the head is read whole, checked by `http_head::check` (a bad one
//! gets 400 and a log line) and kept; then async-h1's `accept_one` reads exactly that head
//! and calls `respond`, which runs the tide app: `web::dispatch` finds the longest path
//! prefix, `static_files::serve` resolves the path inside the directory (`openat2`, no
//! symlink escape), answers 304 or 206 when it can, and returns the file as the body.
//! async-h1 writes the head and body into `WriteBuffer`, which sends them in one TLS record;
//! `ConnState::response_ready` arms the keep-alive deadline for the next head.
//!
//! # A CALL, from caller to callee and back
//!
//! The caller's frame arrives in `ws::run`, which hands it to `WampSession::on_message`:
//! `message::decode` makes it a `ClientMessage::Call`, and `Realm::handle` dispatches it:
//! `Dealer::accept_call` checks its URI, the caller's permission (`Sessions::authorize`) and
//! its options; `Dealer::call` finds the registration (`best_match`: exact, longest prefix,
//! then wildcard), picks a callee by its `invoke` policy, checks the limits, and sends
//! `message::invocation` to the callee's outbox (`Sessions::send`), keeping the call in
//! flight by both IDs. The callee's YIELD comes back through its own `ws::run` and
//! `Realm::handle` to `Dealer::yield_result`, which finds the call by (callee, INVOCATION
//! ID) and sends `message::result` to the caller. A timeout, a CANCEL or either session
//! leaving end the call the same way, from the other key.

#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

/// Locks a mutex whose data stays valid whatever a holder did: a panic elsewhere must not
/// take every later user down with it.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub mod acme;
pub mod archive;
pub mod bridge;
pub mod ciphers;
pub mod cluster;
pub mod config;
pub(crate) mod cookies;
pub mod error;
pub mod http_head;
pub(crate) mod http_io;
pub mod lifecycle;
pub(crate) mod limits;
pub mod listener;
pub mod logging;
pub(crate) mod longpoll;
pub mod metrics;
pub mod node;
pub mod rawsocket;
pub mod selfsigned;
pub mod static_files;
pub(crate) mod time;
pub(crate) mod tls;
pub mod wamp;
pub(crate) mod web;
pub(crate) mod ws;
