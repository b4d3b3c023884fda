//! The node's config: its router workers, their realms, roles and permissions, and
//! wssnode's `cluster` section.

use super::*;

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
