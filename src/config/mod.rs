//! Crossbar.io node config (`config.json`, version 2) read into typed, validated values.
//!
//! Implements the subset of Crossbar's config format described in docs/config.md: router workers
//! with realms and roles, `web`, `websocket` and `websocket.testee` transports, TCP endpoints
//! with `tls`. Every key is either used, or named in one warning line (so a typo such as
//! `certficate` is visible), or refused with an error naming its JSON path. Paths in the config
//! are resolved against the node directory here, once; serving code never reads the file.

pub mod error;
mod json;
mod reader;
mod texts;

pub use json::json_kind;

use crate::config::error::StartError;
use reader::Reader;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A whole node: what `config.json` asks for, resolved against the node directory.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The config file that was read.
    pub file: PathBuf,
    /// Router workers, each with its realms and transports.
    pub routers: Vec<Router>,
    /// Keys we read but do not act on, one sentence each.
    pub warnings: Vec<String>,
}

/// One `router` worker.
#[derive(Debug, Clone)]
pub struct Router {
    /// Realms this router serves.
    pub realms: Vec<Realm>,
    /// Listening transports.
    pub transports: Vec<Transport>,
    /// wssnode's `cluster`: other nodes serving the same realms through Redis.
    pub cluster: Option<Cluster>,
}

/// A router worker's `cluster` section (wssnode's own key): several nodes with the same
/// config serve its realms as one router, through one Redis (or Valkey).
#[derive(Debug, Clone)]
pub struct Cluster {
    /// `url`: `redis://host:port/db` or `rediss://` (TLS), without a password.
    pub url: String,
    /// The password, from the environment variable `password_env` names.
    pub password: Option<String>,
    /// `node`: this node's name, unique in the cluster (default hostname and process ID).
    pub node: String,
    /// `lease` (seconds, 1 to 10, default 5): how long a node that stops answering keeps
    /// its registrations and sessions in the others' eyes.
    pub lease: std::time::Duration,
    /// `max_queued_bytes` (default 16 MiB): what the node holds for Redis before it drops.
    pub max_queued_bytes: usize,
    /// `ca_certificate`: the CA (PEM) a `rediss://` server's certificate is checked
    /// against, instead of the system's roots (a Redis with a certificate of its own CA).
    pub ca_certificate: Option<NamedFile>,
}

/// A WAMP realm and its roles.
#[derive(Debug, Clone)]
pub struct Realm {
    /// Realm name, e.g. `realm1`.
    pub name: String,
    /// Roles clients may be given in this realm.
    pub roles: Vec<Role>,
    /// `store`: the topics whose last events the realm keeps (event history).
    pub history: Vec<HistoryTopic>,
}

/// One entry of a realm's `store.event-history`.
#[derive(Debug, Clone)]
pub struct HistoryTopic {
    /// `uri`
    pub uri: String,
    /// `match` (default exact)
    pub policy: MatchPolicy,
    /// `limit`: events kept (default the store's `limit`, 100).
    pub limit: usize,
}

/// A role: what its sessions may do.
#[derive(Debug, Clone)]
pub struct Role {
    /// Role name, e.g. `anonymous`.
    pub name: String,
    /// Permissions in config order; the most specific matching URI wins.
    pub permissions: Vec<Permission>,
    /// Crossbar's `authorizer`: a procedure that decides each action instead.
    pub authorizer: Option<RoleAuthorizer>,
}

/// A role's dynamic authorizer.
#[derive(Debug, Clone)]
pub struct RoleAuthorizer {
    /// Crossbar's `authorizer`: the procedure's URI.
    pub procedure: String,
    /// wssnode's `authorizer-timeout` (milliseconds, default 5000): an answer that takes
    /// longer denies the action.
    pub timeout_ms: u64,
}

/// One entry of a role's `permissions`.
#[derive(Debug, Clone)]
pub struct Permission {
    /// URI or pattern.
    pub uri: String,
    /// `exact`, `prefix` or `wildcard`.
    pub match_policy: MatchPolicy,
    /// Allowed actions.
    pub call: bool,
    /// May register.
    pub register: bool,
    /// May publish.
    pub publish: bool,
    /// May subscribe.
    pub subscribe: bool,
    /// Caller identity is disclosed to callees.
    pub disclose_caller: bool,
    /// Publisher identity is disclosed to subscribers.
    pub disclose_publisher: bool,
}

impl Permission {
    /// Every action on every URI: Crossbar's `allow-by-default`, and its `trusted` role.
    pub fn allow_all() -> Permission {
        Permission {
            uri: String::new(),
            match_policy: MatchPolicy::Prefix,
            call: true,
            register: true,
            publish: true,
            subscribe: true,
            disclose_caller: false,
            disclose_publisher: false,
        }
    }
}

/// How a URI pattern matches (WAMP spec, "Pattern-based Subscriptions").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchPolicy {
    /// The URI equals the pattern.
    Exact,
    /// The URI starts with the pattern.
    Prefix,
    /// Empty components of the pattern match any component.
    Wildcard,
}

impl MatchPolicy {
    /// Parses a WAMP `match` option value.
    pub fn parse(text: &str) -> Option<MatchPolicy> {
        match text {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }

    /// The WAMP name of this policy.
    pub fn name(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }

    /// Whether `uri` is a valid URI (or pattern) for this policy under the spec's loose
    /// rules: components separated by `.`, no whitespace or `#`; patterns may have empty
    /// components. Here, where the config checks its URIs, and used by the router for
    /// what clients send.
    pub fn admits(self, uri: &str) -> bool {
        if uri.chars().any(|c| c.is_whitespace() || c == '#') {
            return false;
        }
        if uri.len() > self.max_bytes() {
            return false;
        }
        let components: Vec<&str> = uri.split('.').collect();
        match self {
            MatchPolicy::Exact => !uri.is_empty() && components.iter().all(|c| !c.is_empty()),
            // A prefix may end in a dot and may be empty (matches everything).
            MatchPolicy::Prefix => components[..components.len() - 1]
                .iter()
                .all(|c| !c.is_empty()),
            // A wildcard pattern has at least two components; any may be empty.
            MatchPolicy::Wildcard => components.len() > 1,
        }
    }

    /// The longest URI (or pattern) of this policy, in bytes: what a client makes the
    /// router keep (a subscription, a registration) is bounded in size as in number.
    pub fn max_bytes(self) -> usize {
        match self {
            MatchPolicy::Exact => MAX_URI_BYTES,
            MatchPolicy::Prefix | MatchPolicy::Wildcard => MAX_PATTERN_BYTES,
        }
    }
}

/// The longest URI, in bytes.
pub const MAX_URI_BYTES: usize = 4096;

/// The longest prefix or wildcard pattern, in bytes: each costs the broker work per
/// publication it is matched against.
pub const MAX_PATTERN_BYTES: usize = 1024;

/// A listening transport.
#[derive(Debug, Clone)]
pub struct Transport {
    /// The config file it came from.
    pub config_file: PathBuf,
    /// JSON path, e.g. `workers[0].transports[0]`, used in log lines.
    pub json_path: String,
    /// Which kind of transport.
    pub kind: TransportKind,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// For `web`: path services by their URL path ("/" is the root). For `websocket` and
    /// `websocket.testee`: one entry at "/" that answers on every path.
    pub paths: Vec<(String, PathService)>,
    /// `hsts`: send Strict-Transport-Security (seconds) on TLS responses.
    pub hsts_max_age: Option<u64>,
    /// Timeouts and the connection cap.
    pub limits: Limits,
    /// For `universal`: its `rawsocket` section (RawSocket clients, told apart by `0x7F`).
    pub rawsocket: Option<Box<WebSocketOptions>>,
}

/// The `type` of a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// `web`: HTTP paths.
    Web,
    /// `websocket`: a WAMP WebSocket endpoint on every path.
    WebSocket,
    /// `websocket.testee`: echoes WebSocket messages, for conformance suites.
    Testee,
    /// `rawsocket`: WAMP over RawSocket (one session's options at "/").
    RawSocket,
    /// `universal`: RawSocket, WebSocket and web on one port, told apart by the first byte.
    Universal,
}

/// A TCP endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// TCP port; 0 picks a free one.
    pub port: u16,
    /// Interface address; `None` for all interfaces (IPv6 and IPv4).
    pub interface: Option<String>,
    /// TLS files and options, if the endpoint is secure.
    pub tls: Option<TlsFiles>,
    /// Crossbar's `shared`: several workers listen on this port (we listen once).
    pub shared: bool,
    /// `"type": "unix"`: a Unix domain socket instead of a TCP port.
    pub unix: Option<UnixEndpoint>,
}

/// A Unix domain socket endpoint.
#[derive(Debug, Clone)]
pub struct UnixEndpoint {
    /// `path`, resolved against the node directory.
    pub path: NamedFile,
    /// wssnode's `mode`: the socket file's permissions (default 0666, as Crossbar leaves
    /// it, so components running as another user can connect).
    pub mode: u32,
}

/// A file path from the config: as written, and resolved against the node directory.
#[derive(Debug, Clone)]
pub struct NamedFile {
    /// JSON path of the key that names it.
    pub json_path: String,
    /// As written in the config.
    pub named: String,
    /// Resolved against the node directory.
    pub path: PathBuf,
}

impl NamedFile {
    /// An error about this file.
    pub fn error(&self, problem: impl Into<String>) -> StartError {
        StartError::file(&self.json_path, &self.named, &self.path, problem)
    }

    /// Reads the whole file, or says which key named it and why it cannot be read.
    pub fn read(&self) -> Result<Vec<u8>, StartError> {
        std::fs::read(&self.path).map_err(|e| self.error(format!("cannot read it: {e}")))
    }

    /// Reads every certificate in the PEM file, in order; at least one.
    pub fn certificates(
        &self,
    ) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, StartError> {
        use rustls_pki_types::pem::PemObject;
        let bytes = self.read()?;
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(format!("is not a valid PEM certificate file: {e}")))?;
        if certs.is_empty() {
            return Err(self.error(
                "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`); a DER file converts with `openssl x509 -inform DER -in CERT -out cert.pem`",
            ));
        }
        Ok(certs)
    }
}

/// The endpoint's `tls` object.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The config file, for errors about values (not files).
    pub config_file: PathBuf,
    /// JSON path of the `tls` object.
    pub json_path: String,
    /// Private key (PEM).
    pub key: NamedFile,
    /// Certificate, optionally followed by its chain (PEM).
    pub certificate: NamedFile,
    /// Extra chain certificates served after the certificate file's blocks.
    pub chain_certificates: Vec<NamedFile>,
    /// CAs that client certificates must be issued by; empty means no client certificates.
    pub ca_certificates: Vec<NamedFile>,
    /// A DH parameter file; checked, then unused (rustls has no finite-field DH).
    pub dhparam: Option<NamedFile>,
    /// An OpenSSL cipher string for TLS 1.2.
    pub ciphers: Option<String>,
    /// wssnode's `acme`: certificates from an ACME CA instead of `key` and `certificate`
    /// (which then name the cache directory, where the certificate lives).
    pub acme: Option<AcmeSettings>,
}

/// A `tls.acme` section (wssnode's own): certificates obtained and renewed from an ACME CA.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    /// JSON path of the `acme` object.
    pub json_path: String,
    /// `domains`: the names the certificate is for.
    pub domains: Vec<String>,
    /// `contact`: e.g. `mailto:admin@example.com`.
    pub contact: Vec<String>,
    /// `directory`: the CA's directory URL (default Let's Encrypt production).
    pub directory: String,
    /// `cache`: the directory (in the node directory) for the account and certificates.
    pub cache: NamedFile,
    /// `directory_ca_certificates`: CAs trusted for the ACME server's own HTTPS (default
    /// the usual public roots).
    pub directory_ca_certificates: Vec<NamedFile>,
    /// `challenge`: `tls-alpn-01` (default: on this endpoint's port) or `http-01` (answered
    /// on the node's plain HTTP transports, at `/.well-known/acme-challenge/`).
    pub http_01: bool,
}

/// Let's Encrypt's production directory, the default `directory`.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (untrusted certificates, generous rate limits).
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// What a web path serves.
#[derive(Debug, Clone)]
pub enum PathService {
    /// Files from a directory.
    Static(StaticOptions),
    /// A WebSocket endpoint (WAMP, or echo for testee transports).
    WebSocket(Box<WebSocketOptions>),
    /// A redirect to `url`.
    Redirect(String),
    /// A fixed JSON value.
    Json(Value),
    /// A page about this node.
    NodeInfo,
    /// WAMP over long-poll (Crossbar's "WAMP-over-Longpoll").
    LongPoll(Box<LongPollOptions>),
    /// The HTTP bridge: `publisher`, `caller` or `webhook`.
    Bridge(Box<BridgeOptions>),
    /// Files out of a ZIP archive.
    Archive(Box<ArchiveOptions>),
    /// wssnode's health check: 200 while the node serves, 503 while it drains; `drain`
    /// seconds between SIGTERM and shutdown.
    Health {
        /// `drain` (seconds, default 0).
        drain_s: u64,
    },
    /// wssnode's metrics page (OpenMetrics text), for clients in `options.require_ip`.
    Metrics {
        /// `options.require_ip` (empty: any client).
        require_ip: Vec<IpNet>,
    },
}

/// An `archive` path: files served out of a ZIP archive.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// `archive`: the ZIP file, relative to the node directory.
    pub archive: NamedFile,
    /// `origin`: where Crossbar would download it from, for the error when it is missing.
    pub origin: Option<String>,
    /// `cache`: keep what was read in memory (bounded).
    pub cache: bool,
    /// `default_object`: the name served for the path itself and for names ending in `/`.
    pub default_object: Option<String>,
    /// `object_prefix`: put before every name looked up in the archive.
    pub object_prefix: Option<String>,
    /// `mime_types`: `{".ext": "type"}`, longest matching ending first.
    pub mime_types: Vec<(String, String)>,
    /// `hashes`: SHA-256 fingerprints (hex), one of which the archive must have.
    pub hashes: Vec<String>,
    /// `options.default_file`: served for names the archive lacks (single-page apps).
    pub default_file: Option<String>,
    /// `options.cache_timeout` as for `static` (default 43200 s).
    pub cache_timeout: Option<u64>,
}

/// A path of Crossbar's HTTP bridge: HTTP requests become publications or calls of a
/// session the node holds in `realm` with `role`'s permissions.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// Where the path is in the config (for errors about its realm and role).
    pub json_path: String,
    /// What a request does.
    pub kind: BridgeKind,
    /// `realm`: the realm its session joins.
    pub realm: String,
    /// `role`: the role whose permissions its session has.
    pub role: String,
    /// `options.key`: the key signed requests name.
    pub key: Option<String>,
    /// `options.secret`: when set, requests must be signed with it.
    pub secret: Option<String>,
    /// `options.post_body_limit` (bytes; Crossbar's 0 means no limit, here 1 MiB, the
    /// largest Crossbar's checker allows).
    pub post_body_limit: usize,
    /// `options.timestamp_delta_limit` (seconds, default 300; 0 turns the check off).
    pub timestamp_delta_limit_s: u64,
    /// `options.require_ip`: networks a request must come from (empty: any).
    pub require_ip: Vec<IpNet>,
    /// `options.require_tls`: refuse requests over plain HTTP.
    pub require_tls: bool,
    /// wssnode's `options.call_timeout` (ms, default 60000): the longest a `caller`
    /// request waits for the call's answer; a body's `options.timeout` may ask for less.
    pub call_timeout_ms: u64,
    /// wssnode's `options.max_calls_per_client` (default 100): a `caller` path's calls in
    /// flight for one client (IP address), under the bridge session's `max_calls_in_flight`.
    pub max_calls_per_client: usize,
}

/// What a bridge path does with a request.
#[derive(Debug, Clone)]
pub enum BridgeKind {
    /// Publishes the body's `topic`, `args`, `kwargs` with its `options`.
    Publisher,
    /// Calls the body's `procedure` with its `args`, `kwargs`.
    Caller,
    /// Publishes every request (headers and body) to `topic`.
    Webhook {
        /// `options.topic`
        topic: String,
        /// `options.success_response` (default `OK`), the body of a 202.
        success_response: String,
        /// `options.error_response` (default `NOT OK`), the body of a 500.
        error_response: String,
        /// `options.github_secret`: requests must carry GitHub's signature made with it.
        github_secret: Option<String>,
        /// wssnode's `options.drop_headers`: header names (lower case) not published, such
        /// as `cookie` and `authorization` (Crossbar publishes every header).
        drop_headers: Vec<String>,
    },
}

/// An IP network of `require_ip`, e.g. `10.0.0.0/8` or `::1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The network's address (host bits zero).
    pub addr: std::net::IpAddr,
    /// Its prefix length.
    pub prefix: u8,
}

impl IpNet {
    /// Whether `ip` is in the network (an IPv4 address mapped into IPv6 counts as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// Reads `a.b.c.d`, `a.b.c.d/len`, `a.b.c.d/netmask` or the IPv6 forms, as Python's
    /// `ipaddress.ip_network`.
    pub fn parse(text: &str) -> Result<IpNet, String> {
        use std::net::IpAddr;
        let (addr, len) = text.split_once('/').unwrap_or((text, ""));
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or network"))?;
        let bits: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if len.is_empty() {
            bits
        } else if let Ok(n) = len.parse::<u8>() {
            n
        } else if let Ok(IpAddr::V4(mask)) = len.parse::<IpAddr>() {
            let m = u32::from(mask);
            if m.leading_ones() + m.trailing_zeros() != 32 {
                return Err(format!("`{text}`: `{len}` is not a netmask"));
            }
            m.leading_ones() as u8
        } else {
            return Err(format!("`{text}`: `{len}` is not a prefix length"));
        };
        if prefix > bits {
            return Err(format!("`{text}`: the prefix length is at most {bits}"));
        }
        // `::ffff:10.0.0.0/104` is the IPv4 network it maps (addresses are compared so).
        if let (IpAddr::V6(v6), true) = (addr, prefix >= 96) {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return Ok(IpNet {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                });
            }
        }
        Ok(IpNet { addr, prefix })
    }

    /// The network's first address, when `addr` has host bits set (`192.168.1.1/24` is
    /// `192.168.1.0`); `None` when it has none.
    pub fn host_bits_cleared(&self) -> Option<std::net::IpAddr> {
        use std::net::IpAddr;
        let first = match self.addr {
            IpAddr::V4(a) => IpAddr::V4(
                (u32::from(a)
                    & u32::MAX
                        .checked_shl(32 - u32::from(self.prefix))
                        .unwrap_or(0))
                .into(),
            ),
            IpAddr::V6(a) => IpAddr::V6(
                (u128::from(a)
                    & u128::MAX
                        .checked_shl(128 - u32::from(self.prefix))
                        .unwrap_or(0))
                .into(),
            ),
        };
        (first != self.addr).then_some(first)
    }
}

/// A `longpoll` path's settings.
#[derive(Debug, Clone)]
pub struct LongPollOptions {
    /// The session's settings (auth, limits, sizes), as a websocket path's.
    pub session: WebSocketOptions,
    /// `options.request_timeout` (Crossbar: seconds, default 10): how long a `receive`
    /// waits for a message before it is answered 204.
    pub request_timeout_ms: u64,
    /// `options.session_timeout` (seconds, default 30): a transport no request touched for
    /// this long is closed and forgotten.
    pub session_timeout_ms: u64,
    /// `options.queue_limit_bytes` (default 128 KiB): bytes waiting for `receive`; over it the
    /// transport is closed.
    pub queue_limit_bytes: usize,
    /// `options.queue_limit_messages` (default 100): messages waiting for `receive`; over it
    /// the transport is closed.
    pub queue_limit_messages: usize,
    /// wssnode's `options.max_transports` (default 10000): transports the path keeps open.
    pub max_transports: usize,
    /// wssnode's `options.max_transports_per_client` (default 100): transports one client
    /// (IP address) keeps open, under `max_transports`.
    pub max_transports_per_client: usize,
    /// wssnode's `options.open_handshake_timeout` (ms, default 10000, as a WebSocket's): a
    /// transport whose session has not joined by then is closed.
    pub open_timeout_ms: u64,
}

/// A `static` path.
#[derive(Debug, Clone)]
pub struct StaticOptions {
    /// The directory served.
    pub directory: NamedFile,
    /// `options.enable_directory_listing`.
    pub directory_listing: bool,
    /// `options.cache_timeout` in seconds; `None` sends no Cache-Control.
    pub cache_timeout: Option<u64>,
    /// `options.mime_types`: extra extension → media type pairs.
    pub mime_types: Vec<(String, String)>,
    /// `options.default_file`: served for paths that do not exist (single-page apps).
    pub default_file: Option<String>,
}

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

/// Reads `DIR/config.json` and validates everything that does not need another file.
pub fn load(dir: &Path) -> Result<NodeConfig, StartError> {
    let file = dir.join("config.json");
    if !file.exists() && dir.join("config.yaml").exists() {
        return Err(StartError::ConfigFile {
            file: dir.join("config.yaml"),
            problem: "wssnode reads `config.json` only; convert it with `python3 -c 'import json,sys,yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout, indent=2)' < config.yaml > config.json`".into(),
        });
    }
    let text = std::fs::read_to_string(&file).map_err(|e| StartError::ConfigFile {
        file: file.clone(),
        problem: format!("cannot read the node config: {e}"),
    })?;
    parse(dir, &file, &text)
}

/// Parses config text; `dir` resolves relative paths, `file` is named in errors.
pub fn parse(dir: &Path, file: &Path, text: &str) -> Result<NodeConfig, StartError> {
    // Editors on Windows start UTF-8 files with a byte order mark; most JSON readers skip it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = serde_json::from_str(text).map_err(|e| StartError::ConfigFile {
        file: file.to_path_buf(),
        problem: format!(
            "not valid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        ),
    })?;
    parse_value(dir, file, &root)
}

/// Reads a parsed config value (the JSON text already decoded).
pub fn parse_value(dir: &Path, file: &Path, root: &Value) -> Result<NodeConfig, StartError> {
    let reader = Reader::new(dir, file);
    let routers = reader.node(root)?;
    reader.finish(file, routers)
}

#[cfg(test)]
mod tests {

    #[test]
    fn networks_are_read_as_python_reads_them_and_v4_mapped_ones_as_ipv4() {
        let net = |t: &str| IpNet::parse(t).unwrap();
        let ip = |t: &str| t.parse::<std::net::IpAddr>().unwrap();
        assert!(net("10.0.0.0/8").contains(ip("10.1.2.3")));
        assert!(net("192.168.1.0/255.255.255.0").contains(ip("192.168.1.9")));
        assert!(net("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(net("::1").contains(ip("::1")) && !net("::1").contains(ip("127.0.0.1")));
        assert!(net("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")));
        assert!(net("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        assert!(IpNet::parse("10.0.0.0/33").is_err() && IpNet::parse("nope").is_err());
    }
    use super::*;

    fn parse_text(text: &str) -> Result<NodeConfig, StartError> {
        parse(Path::new("/node"), Path::new("/node/config.json"), text)
    }

    const MINIMAL: &str = r#"{"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": [{"name": "anonymous",
            "permissions": [{"uri": "", "match": "prefix",
               "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
               "disclose": {"caller": false, "publisher": false}, "cache": true}]}]}],
        "transports": [{"type": "web", "endpoint": {"type": "tcp", "port": 8443,
             "tls": {"key": "k.pem", "certificate": "c.pem"}},
           "paths": {"/": {"type": "static", "directory": "../www"}, "ws": {"type": "websocket"}}}]}]}"#;

    #[test]
    fn crossbar_web_transport_is_read_without_warnings() {
        let node = parse_text(MINIMAL).unwrap();
        assert!(node.warnings.is_empty(), "{:?}", node.warnings);
        let transport = &node.routers[0].transports[0];
        assert_eq!(transport.endpoint.port, 8443);
        let tls = transport.endpoint.tls.as_ref().unwrap();
        assert_eq!(tls.key.path, Path::new("/node/k.pem"));
        assert_eq!(transport.paths.len(), 2);
        assert!(transport.paths.iter().any(|(p, _)| p == "/ws"));
    }

    #[test]
    fn a_misspelt_key_is_warned_about_by_its_json_path() {
        let text = MINIMAL.replace("\"certificate\"", "\"certficate\"");
        let err = parse_text(&text).unwrap_err().to_string();
        assert!(
            err.contains("workers[0].transports[0].endpoint.tls.certificate"),
            "{err}"
        );
        let text = MINIMAL.replace("\"cache\": true", "\"cache\": true, \"colour\": 1");
        let node = parse_text(&text).unwrap();
        assert!(
            node.warnings[0].contains("permissions[0].colour"),
            "{:?}",
            node.warnings
        );
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err = parse_text("{\n  \"version\": 2,\n  oops\n}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3, column 3"), "{err}");
    }

    #[test]
    fn unknown_transport_type_is_refused() {
        let text = MINIMAL.replace("\"type\": \"web\"", "\"type\": \"mqtt\"");
        let err = parse_text(&text).unwrap_err().to_string();
        assert!(
            err.contains("transports[0].type") && err.contains("mqtt"),
            "{err}"
        );
    }

    /// Every JSON pointer in a value, for mutating each place in turn.
    fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    pointers(
                        v,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    pointers(v, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn any_value_at_any_key_of_crossbars_configs_is_an_answer_not_a_panic() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crossbar-configs");
        let Ok(entries) = std::fs::read_dir(&corpus) else {
            panic!("the Crossbar config corpus is not at {}", corpus.display());
        };
        let garbage = [
            Value::Null,
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!(1e300),
            serde_json::json!("x"),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!([[{"type": null}]]),
            serde_json::json!(true),
        ];
        let mut parses = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let mut config: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let mut places = Vec::new();
            pointers(&config, String::new(), &mut places);
            for place in places.iter().filter(|p| !p.is_empty()) {
                for junk in &garbage {
                    // Swap the junk in, parse, swap the original back.
                    let Some(slot) = config.pointer_mut(place) else {
                        continue;
                    };
                    let original = std::mem::replace(slot, junk.clone());
                    let result = std::panic::catch_unwind(|| {
                        parse_value(Path::new("/node"), Path::new("/node/config.json"), &config)
                            .map(|_| ())
                    });
                    assert!(
                        result.is_ok(),
                        "{}: {place} = {junk} panicked",
                        path.display()
                    );
                    parses += 1;
                    if let Some(slot) = config.pointer_mut(place) {
                        *slot = original;
                    }
                }
            }
        }
        assert!(parses > 10_000, "only {parses} variants");
    }

    #[test]
    fn wrong_types_anywhere_are_errors_not_panics() {
        for (from, to) in [
            ("8443", "\"8443\""),
            ("8443", "70000"),
            ("8443", "-1"),
            ("\"../www\"", "null"),
            ("\"paths\": {", "\"paths\": [], \"x\": {"),
            ("\"realms\": [", "\"realms\": 3, \"y\": ["),
        ] {
            let text = MINIMAL.replacen(from, to, 1);
            assert!(parse_text(&text).is_err(), "{from} → {to} was accepted");
        }
    }
}
