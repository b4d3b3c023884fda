//! What a WAMP session's connection is held to: WebSocket options (sizes, timeouts,
//! per-session limits), authentication, cookie tracking, and a transport's HTTP limits.

use super::*;

/// A `websocket` path or transport.
#[derive(Debug, Clone)]
pub struct WebSocketOptions {
    /// `serializers`, e.g. `["json", "msgpack"]` (the default).
    pub serializers: Vec<String>,
    /// Largest incoming message in bytes.
    pub max_message_size: usize,
    /// Largest incoming frame in bytes.
    pub max_frame_size: usize,
    /// Ping after this much silence (milliseconds); 0 disables.
    pub auto_ping_interval_ms: u64,
    /// Close when a ping is not answered within this time (milliseconds).
    pub auto_ping_timeout_ms: u64,
    /// Time from the WebSocket upgrade to an open session, e.g. WAMP's WELCOME (milliseconds).
    pub open_handshake_timeout_ms: u64,
    /// Time allowed for the closing handshake (milliseconds).
    pub close_handshake_timeout_ms: u64,
    /// `Origin` patterns (`*` wildcards) allowed to connect; `["*"]` allows all.
    pub allowed_origins: Vec<String>,
    /// wssnode's `max_queued_bytes`: outgoing bytes a connection may hold for a client
    /// for longer than `slow_client_timeout_ms`; twice this closes it at once.
    pub max_queued_bytes: usize,
    /// wssnode's `slow_client_timeout`: how long a queue may stay over `max_queued_bytes`,
    /// or hold messages without the client taking any (milliseconds).
    pub slow_client_timeout_ms: u64,
    /// What one WAMP session may make the router hold.
    pub session_limits: SessionLimits,
    /// wssnode's `max_pending_logins` (default 1000): logins of this path or transport
    /// waiting for a dynamic authenticator's answer, from all clients together.
    pub max_pending_logins: usize,
    /// wssnode's `max_pending_logins_per_client` (default 50): of those, one client's
    /// (IP address).
    pub max_pending_logins_per_client: usize,
    /// Authentication methods, Crossbar's `auth` object.
    pub auth: Auth,
    /// Crossbar's `cookie`: cookie tracking, when configured.
    pub cookie: Option<CookieConfig>,
}

/// wssnode's per-session bounds on what a client can make the router hold (keys in the
/// path's or transport's `options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// `max_subscriptions`: subscriptions a session holds at once.
    pub max_subscriptions: usize,
    /// `max_registrations`: registrations a session holds at once.
    pub max_registrations: usize,
    /// `max_calls_in_flight`: calls a caller waits on at once.
    pub max_calls_in_flight: usize,
    /// `max_invocations_in_flight`: invocations a callee has not yet answered.
    pub max_invocations_in_flight: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_subscriptions: 10_000,
            max_registrations: 1_000,
            max_calls_in_flight: 1_000,
            max_invocations_in_flight: 1_000,
        }
    }
}

/// Crossbar's `auth` object of a WebSocket path: the methods it accepts, each with static
/// principals or a dynamic authenticator (`wamp::auth` runs them).
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// `anonymous`: one principal with no credential (its role, and realm if given).
    pub anonymous: Option<AuthMethod>,
    /// `ticket`: principals with `Credential::Ticket`.
    pub ticket: Option<AuthMethod>,
    /// `wampcra`: `users` with `Credential::Cra`.
    pub wampcra: Option<AuthMethod>,
    /// `cryptosign`: principals with `Credential::Keys`.
    pub cryptosign: Option<AuthMethod>,
    /// `scram`: principals with `Credential::Scram`.
    pub scram: Option<AuthMethod>,
    /// `tls`: principals with `Credential::Certificate`.
    pub tls: Option<AuthMethod>,
    /// `cookie`: a cookie bound by an earlier login is enough.
    pub cookie: bool,
}

/// One method of `auth`: static principals, or the authenticator to ask.
#[derive(Debug, Clone, Default)]
pub struct AuthMethod {
    /// `principals` (`users` for wampcra), in config order.
    pub principals: Vec<Principal>,
    /// `"type": "dynamic"`: the procedure that authenticates instead.
    pub authenticator: Option<Authenticator>,
}

/// A dynamic authenticator: Crossbar's `authenticator` and `authenticator-realm`.
#[derive(Debug, Clone)]
pub struct Authenticator {
    /// The procedure's URI.
    pub procedure: String,
    /// The realm it is registered in; by default the realm the client joins.
    pub realm: Option<String>,
    /// wssnode's `authenticator-timeout` (milliseconds): how long an answer may take.
    pub timeout_ms: u64,
}

/// A static principal.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The authid it authenticates as (empty for anonymous: a random one is made).
    pub authid: String,
    /// The role it gets.
    pub role: String,
    /// The only realm it may join, when given.
    pub realm: Option<String>,
    /// What proves it is who it says.
    pub credential: Credential,
}

/// The secret part of a principal, by method.
#[derive(Debug, Clone)]
pub enum Credential {
    /// anonymous: nothing.
    None,
    /// ticket: the ticket.
    Ticket(String),
    /// wampcra: the secret (already the derived key when `salt` is given, as in Crossbar).
    Cra {
        /// The shared secret (the password).
        secret: String,
        /// Salt, iterations and key length, when the key is derived.
        salt: Option<CraSalt>,
    },
    /// cryptosign: `authorized_keys`, Ed25519 public keys in lower-case hex.
    Keys(Vec<String>),
    /// scram: the salted verifier.
    Scram(ScramVerifier),
    /// tls: the certificate's lower-case hex fingerprint (SHA-1 or SHA-256).
    Certificate(String),
}

/// wampcra's salted secret: the client derives its key with PBKDF2 from these.
#[derive(Debug, Clone, PartialEq)]
pub struct CraSalt {
    /// The salt, as text.
    pub salt: String,
    /// PBKDF2 iterations (autobahn's default 1000).
    pub iterations: u64,
    /// Derived key length in bytes (autobahn's default 32).
    pub keylen: u64,
}

/// A WAMP-SCRAM principal's stored verifier.
#[derive(Debug, Clone, PartialEq)]
pub struct ScramVerifier {
    /// `argon2id-13` or `pbkdf2` (sent to the client; the router needs only the keys).
    pub kdf: String,
    /// KDF iterations (argon2id's time cost).
    pub iterations: u64,
    /// KiB of memory for argon2id.
    pub memory: u64,
    /// As given in the config (sent to the client as is).
    pub salt: String,
    /// SHA-256 of the client key (32 bytes).
    pub stored_key: Vec<u8>,
    /// The server key (32 bytes), which signs the server's proof.
    pub server_key: Vec<u8>,
}

impl Auth {
    /// Each method's name and settings (`None` where the path does not accept it).
    pub fn by_name(&self) -> [(&'static str, &Option<AuthMethod>); 6] {
        [
            ("anonymous", &self.anonymous),
            ("ticket", &self.ticket),
            ("wampcra", &self.wampcra),
            ("cryptosign", &self.cryptosign),
            ("scram", &self.scram),
            ("tls", &self.tls),
        ]
    }

    /// Method names configured, for errors that list them.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut methods = Vec::new();
        for (name, method) in self.by_name() {
            if method.is_some() {
                methods.push(name);
            }
        }
        if self.cookie {
            methods.push("cookie");
        }
        methods
    }
}

/// Crossbar's `cookie` of a WebSocket path (cookie tracking), with its defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct CookieConfig {
    /// `name`: the cookie's name (`cbtid`).
    pub name: String,
    /// `length`: characters of the random value (24).
    pub length: usize,
    /// `max_age`: seconds the cookie lives (7 days, Crossbar's code; its docs say 1 day).
    pub max_age: u64,
    /// `secure`: the `Secure` attribute; by default, set on TLS connections.
    pub secure: Option<bool>,
    /// `http_strict`: the `HttpOnly` attribute (wssnode: on by default, as no script needs it).
    pub http_strict: bool,
    /// `same_site`: `Strict`, `Lax` or `None`; wssnode's default is `Lax`, so a page of
    /// another site cannot open a WebSocket that logs in with a visitor's cookie (Crossbar
    /// sets none).
    pub same_site: Option<String>,
    /// `store`: `memory`, or `file` with this path in the node directory.
    pub file: Option<PathBuf>,
    /// `store.purge_on_startup`: forget expired cookies of the file when the node starts.
    pub purge_on_startup: bool,
    /// wssnode's `max_cookies`: bound cookies kept at most (and as many unbound ones).
    pub max_cookies: usize,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            name: "cbtid".into(),
            length: 24,
            max_age: 7 * 24 * 3600,
            secure: None,
            http_strict: true,
            same_site: Some("Lax".into()),
            file: None,
            purge_on_startup: false,
            max_cookies: 100_000,
        }
    }
}

/// The `serializers` a WebSocket path may name (`wamp::serializer` speaks each).
pub const SERIALIZERS: [&str; 3] = ["json", "msgpack", "cbor"];

/// Default largest WAMP message: generous for RPC payloads, small enough that a few
/// hundred hostile clients cannot exhaust memory.
pub(crate) const DEFAULT_MAX_MESSAGE: usize = 1 << 20;
/// The testee transport runs conformance suites whose cases send 16 MiB messages.
pub(crate) const TESTEE_MAX_MESSAGE: usize = 16 << 20;

/// async-h1's own fixed limit on a request head (`max_request_head` can only lower it).
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
    /// `request_body_timeout`: time to send a request's whole body once its head is in.
    pub request_body: Duration,
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
            request_body: Duration::from_secs(30),
            send: Duration::from_secs(60),
            max_connections: 10_000,
            max_request_head: MAX_HEAD,
        }
    }
}
