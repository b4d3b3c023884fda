//! Numbers to watch, for the `metrics` path type (wssnode's own): counters and gauges of the
//! node, kept with the `prometheus-client` crate (the OpenMetrics format's own Rust
//! implementation) and served as OpenMetrics text.
//!
//! One set per process (`metrics()`), as a Prometheus client keeps it. Counting costs an
//! atomic add on the paths that run per message: label sets that a hot path uses (message
//! types, status classes) are looked up once, here, and kept as plain counters; only
//! per-connection and per-session events touch a labelled family.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

/// WAMP message types a client sends, by their names (anything else counts as `other`).
const TYPES_IN: [&str; 14] = [
    "HELLO",
    "AUTHENTICATE",
    "ABORT",
    "GOODBYE",
    "ERROR",
    "PUBLISH",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "CALL",
    "CANCEL",
    "REGISTER",
    "UNREGISTER",
    "YIELD",
    "other",
];

/// WAMP message types the router sends.
const TYPES_OUT: [&str; 15] = [
    "WELCOME",
    "CHALLENGE",
    "ABORT",
    "GOODBYE",
    "ERROR",
    "PUBLISHED",
    "SUBSCRIBED",
    "UNSUBSCRIBED",
    "EVENT",
    "RESULT",
    "REGISTERED",
    "UNREGISTERED",
    "INVOCATION",
    "INTERRUPT",
    "other",
];

/// The authentication methods wssnode knows, the only values of the `method` label.
const AUTH_METHODS: [&str; 8] = [
    "anonymous",
    "ticket",
    "wampcra",
    "cryptosign",
    "scram",
    "cookie",
    "tls",
    "trusted",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RealmLabel {
    realm: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabel {
    direction: String,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabel {
    method: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeLabel {
    result: String,
}

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    connections: Family<TransportLabel, Gauge>,
    http: [Counter; 5],
    websocket_opens: Counter,
    websocket_closes: Family<CodeLabel, Counter>,
    sessions: Family<RealmLabel, Gauge>,
    messages_in: Vec<Counter>,
    messages_out: Vec<Counter>,
    slow_clients: Counter,
    auth: Family<AuthLabel, Counter>,
    tls: Family<HandshakeLabel, Counter>,
    calls_in_flight: Gauge,
    call_seconds: Histogram,
    bytes_in: Counter,
    bytes_out: Counter,
    cluster_connected: Gauge,
    cluster_dropped: Counter,
    cluster_bytes_out: Counter,
    cluster_bytes_in: Counter,
}

/// The process's metrics, made at first use.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("wssnode");
        let connections = Family::<TransportLabel, Gauge>::default();
        registry.register(
            "connections_open",
            "Open connections, by transport (its JSON path)",
            connections.clone(),
        );
        let requests = Family::<ClassLabel, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by status class",
            requests.clone(),
        );
        let http = ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|class| {
            requests
                .get_or_create(&ClassLabel {
                    class: class.into(),
                })
                .clone()
        });
        let websocket_opens = Counter::default();
        registry.register(
            "websocket_opens",
            "WebSocket connections opened (upgrades accepted)",
            websocket_opens.clone(),
        );
        let websocket_closes = Family::<CodeLabel, Counter>::default();
        registry.register(
            "websocket_closes",
            "WebSocket connections closed, by close code (none: the connection ended without one)",
            websocket_closes.clone(),
        );
        let sessions = Family::<RealmLabel, Gauge>::default();
        registry.register(
            "wamp_sessions",
            "WAMP sessions joined, by realm (the node's own included)",
            sessions.clone(),
        );
        let messages = Family::<MessageLabel, Counter>::default();
        registry.register(
            "wamp_messages",
            "WAMP messages, by direction and type",
            messages.clone(),
        );
        let by_type = |direction: &str, types: &[&str]| -> Vec<Counter> {
            types
                .iter()
                .map(|t| {
                    let label = MessageLabel {
                        direction: direction.into(),
                        r#type: (*t).into(),
                    };
                    messages.get_or_create(&label).clone()
                })
                .collect()
        };
        let (messages_in, messages_out) = (by_type("in", &TYPES_IN), by_type("out", &TYPES_OUT));
        let slow_clients = Counter::default();
        registry.register(
            "slow_clients_dropped",
            "Connections closed because the client read too slowly (queue overflows)",
            slow_clients.clone(),
        );
        let auth = Family::<AuthLabel, Counter>::default();
        registry.register(
            "authentications",
            "WAMP authentications, by method and result",
            auth.clone(),
        );
        let tls = Family::<HandshakeLabel, Counter>::default();
        registry.register(
            "tls_handshakes",
            "TLS handshakes, by result (full, resumed, or failed with the reason's kind)",
            tls.clone(),
        );
        let calls_in_flight = Gauge::default();
        registry.register(
            "wamp_calls_in_flight",
            "Calls routed to a callee and not yet answered",
            calls_in_flight.clone(),
        );
        let call_seconds = Histogram::new(exponential_buckets(0.0001, 4.0, 10));
        registry.register(
            "wamp_call_duration_seconds",
            "Time from CALL to its answer (RESULT or ERROR) or its end",
            call_seconds.clone(),
        );
        let bytes = Family::<DirectionLabel, Counter>::default();
        registry.register("bytes", "Bytes read from and written to clients' connections (TLS records included), by direction", bytes.clone());
        let bytes_in = bytes
            .get_or_create(&DirectionLabel {
                direction: "in".into(),
            })
            .clone();
        let bytes_out = bytes
            .get_or_create(&DirectionLabel {
                direction: "out".into(),
            })
            .clone();
        let cluster_connected = Gauge::default();
        registry.register(
            "cluster_connected",
            "1 while the node is connected to the cluster's Redis (0 otherwise, or alone)",
            cluster_connected.clone(),
        );
        let cluster_dropped = Counter::default();
        registry.register(
            "cluster_messages_dropped",
            "Messages for other nodes dropped: Redis was unreachable or the outgoing queue full",
            cluster_dropped.clone(),
        );
        let cluster = Family::<DirectionLabel, Counter>::default();
        registry.register(
            "cluster_bytes",
            "Bytes of messages sent to and received from the cluster's Redis, by direction",
            cluster.clone(),
        );
        let cluster_bytes = |direction: &str| {
            cluster
                .get_or_create(&DirectionLabel {
                    direction: direction.into(),
                })
                .clone()
        };
        Metrics {
            cluster_bytes_out: cluster_bytes("out"),
            cluster_bytes_in: cluster_bytes("in"),
            cluster_connected,
            cluster_dropped,
            bytes_in,
            bytes_out,
            registry,
            connections,
            http,
            websocket_opens,
            websocket_closes,
            sessions,
            messages_in,
            messages_out,
            slow_clients,
            auth,
            tls,
            calls_in_flight,
            call_seconds,
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }

    /// A connection of `transport` opened; the guard counts it until dropped.
    pub fn connection_opened(&self, transport: &str) -> ConnectionCount {
        let gauge = self
            .connections
            .get_or_create(&TransportLabel {
                transport: transport.into(),
            })
            .clone();
        gauge.inc();
        ConnectionCount(gauge)
    }

    /// An HTTP response of this status.
    pub fn http_answered(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.http[class].inc();
    }

    /// A WebSocket upgrade accepted.
    pub fn websocket_opened(&self) {
        self.websocket_opens.inc();
    }

    /// A WebSocket closed with this code (None: without one). The label set is bounded: the
    /// codes RFC 6455 defines stand for themselves, and the ranges applications and
    /// libraries use (3000–4999, which a client chooses freely) count as `3xxx` or `4xxx`.
    pub fn websocket_closed(&self, code: Option<u16>) {
        let code = match code {
            None => "none".to_string(),
            Some(c @ 1000..=1015) => c.to_string(),
            Some(3000..=3999) => "3xxx".to_string(),
            Some(4000..=4999) => "4xxx".to_string(),
            Some(_) => "other".to_string(),
        };
        self.websocket_closes
            .get_or_create(&CodeLabel { code })
            .inc();
    }

    /// A session joined (`joined`) or left `realm`.
    pub fn session(&self, realm: &str, joined: bool) {
        let gauge = self.sessions.get_or_create(&RealmLabel {
            realm: realm.into(),
        });
        if joined {
            gauge.inc();
        } else {
            gauge.dec();
        }
    }

    /// A message of this type (its name, e.g. `PUBLISH`) came from a client.
    pub fn message_in(&self, name: &str) {
        self.messages_in[type_index(&TYPES_IN, name)].inc();
    }

    /// A message of this type (its name, e.g. `EVENT`) went to a client.
    pub fn message_out(&self, name: &str) {
        self.messages_out(name, 1);
    }

    /// `n` messages of this type went to clients.
    pub fn messages_out(&self, name: &str, n: u64) {
        if n > 0 {
            self.messages_out[type_index(&TYPES_OUT, name)].inc_by(n);
        }
    }

    /// Whether the node is connected to the cluster's Redis.
    pub fn cluster_connected(&self, connected: bool) {
        self.cluster_connected.set(i64::from(connected));
    }

    /// Messages for other nodes dropped.
    pub fn cluster_dropped(&self, n: u64) {
        self.cluster_dropped.inc_by(n);
    }

    /// Bytes sent to (`out`) or received from Redis.
    pub fn cluster_bytes(&self, out: bool, n: usize) {
        let counter = if out {
            &self.cluster_bytes_out
        } else {
            &self.cluster_bytes_in
        };
        counter.inc_by(n as u64);
    }

    /// A client dropped for reading too slowly.
    pub fn slow_client(&self) {
        self.slow_clients.inc();
    }

    /// An authentication by `method` that succeeded or not. A method the client named is
    /// counted under its own name only when wssnode knows it, else as `other`: a label taken
    /// from a client must not let it grow the page (or the node's memory) for ever.
    pub fn authenticated(&self, method: &str, ok: bool) {
        let method = AUTH_METHODS
            .iter()
            .find(|known| **known == method)
            .copied()
            .unwrap_or("other");
        let label = AuthLabel {
            method: method.into(),
            result: if ok { "success" } else { "failure" }.into(),
        };
        self.auth.get_or_create(&label).inc();
    }

    /// A TLS handshake: `full`, `resumed`, or `failed_<kind>`.
    pub fn tls_handshake(&self, result: &str) {
        self.tls
            .get_or_create(&HandshakeLabel {
                result: result.into(),
            })
            .inc();
    }

    /// A call went to a callee.
    pub fn call_started(&self) {
        self.calls_in_flight.inc();
    }

    /// A call ended after `seconds`.
    pub fn call_ended(&self, seconds: f64) {
        self.calls_in_flight.dec();
        self.call_seconds.observe(seconds);
    }
}

fn type_index(types: &[&str], name: &str) -> usize {
    types
        .iter()
        .position(|t| *t == name)
        .unwrap_or(types.len() - 1)
}

/// Counts an open connection until dropped.
pub struct ConnectionCount(Gauge);

impl Drop for ConnectionCount {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A client's connection, counting the bytes read from and written to it.
pub struct Counted<S>(pub S);

impl<S: futures_lite::AsyncRead + Unpin> futures_lite::AsyncRead for Counted<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &poll {
            metrics().bytes_in.inc_by(*n as u64);
        }
        poll
    }
}

impl<S: futures_lite::AsyncWrite + Unpin> futures_lite::AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.0).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &poll {
            metrics().bytes_out.inc_by(*n as u64);
        }
        poll
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_close(cx)
    }
}

/// The content type OpenMetrics text is served with (Prometheus reads it typed).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
