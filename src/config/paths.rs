//! The services of a `web` transport's paths: static files, archives, the HTTP bridge,
//! long-poll, and the rest.

use super::*;

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
