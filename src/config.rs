//! Crossbar.io node config (`config.json`, version 2) read into typed, validated values.
//!
//! Implements the subset of Crossbar's config format described in the README: router workers
//! with realms and roles, `web`, `websocket` and `websocket.testee` transports, TCP endpoints
//! with `tls`. Every key is either used, or named in one warning line (so a typo such as
//! `certficate` is visible), or refused with an error naming its JSON path. Paths in the config
//! are resolved against the node directory here, once; serving code never reads the file.

use crate::error::StartError;
use crate::limits::Limits;
use serde_json::{Map, Value};
use std::cell::RefCell;
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
}

/// A WAMP realm and its roles.
#[derive(Debug, Clone)]
pub struct Realm {
    /// Realm name, e.g. `realm1`.
    pub name: String,
    /// Roles clients may be given in this realm.
    pub roles: Vec<Role>,
}

/// A role: what its sessions may do.
#[derive(Debug, Clone)]
pub struct Role {
    /// Role name, e.g. `anonymous`.
    pub name: String,
    /// Permissions in config order; the most specific matching URI wins.
    pub permissions: Vec<Permission>,
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
}

/// A listening transport.
#[derive(Debug, Clone)]
pub struct Transport {
    /// The config file it came from.
    pub config_file: PathBuf,
    /// JSON path, e.g. `workers[0].transports[0]`, used in log lines.
    pub key: String,
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
}

/// A file path from the config: as written, and resolved against the node directory.
#[derive(Debug, Clone)]
pub struct NamedFile {
    /// JSON path of the key that names it.
    pub key: String,
    /// As written in the config.
    pub named: String,
    /// Resolved against the node directory.
    pub path: PathBuf,
}

impl NamedFile {
    /// An error about this file.
    pub fn error(&self, problem: impl Into<String>) -> StartError {
        StartError::file(&self.key, &self.named, &self.path, problem)
    }

    /// Reads the whole file, or says which key named it and why it cannot be read.
    pub fn read(&self) -> Result<Vec<u8>, StartError> {
        std::fs::read(&self.path).map_err(|e| self.error(format!("cannot read it: {e}")))
    }
}

/// The endpoint's `tls` object.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The config file, for errors about values (not files).
    pub config_file: PathBuf,
    /// JSON path of the `tls` object.
    pub key_path: String,
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
}

/// What a web path serves.
#[derive(Debug, Clone)]
pub enum PathService {
    /// Files from a directory.
    Static(StaticOptions),
    /// A WebSocket endpoint (WAMP, or echo for testee transports).
    WebSocket(WebSocketOptions),
    /// A redirect to `url`.
    Redirect(String),
    /// A fixed JSON value.
    Json(Value),
    /// A page about this node.
    NodeInfo,
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
    /// Authentication methods, Crossbar's `auth` object.
    pub auth: Auth,
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

/// Crossbar's `auth` object of a WebSocket path.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// `anonymous`: the role given.
    pub anonymous: Option<String>,
    /// `ticket` principals; `secret` is the ticket.
    pub ticket: Vec<Principal>,
    /// `tls` principals; `secret` is the certificate's lower-case hex fingerprint.
    pub tls: Vec<Principal>,
}

/// A static principal of `ticket` or `tls` authentication.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The authid it authenticates as.
    pub authid: String,
    /// The ticket, or the certificate fingerprint.
    pub secret: String,
    /// The role it gets.
    pub role: String,
    /// The only realm it may join, when given.
    pub realm: Option<String>,
}

impl Auth {
    /// Method names configured, for errors that list them.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut methods = Vec::new();
        if self.anonymous.is_some() {
            methods.push("anonymous");
        }
        if !self.ticket.is_empty() {
            methods.push("ticket");
        }
        if !self.tls.is_empty() {
            methods.push("tls");
        }
        methods
    }
}

/// Default largest WAMP message: generous for RPC payloads, small enough that a few
/// hundred hostile clients cannot exhaust memory.
const DEFAULT_MAX_MESSAGE: usize = 1 << 20;
/// The testee transport runs conformance suites whose cases send 16 MiB messages.
const TESTEE_MAX_MESSAGE: usize = 16 << 20;

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
    let reader = Reader {
        dir,
        file,
        warnings: RefCell::new(Vec::new()),
        refusals: RefCell::new(Vec::new()),
    };
    let routers = reader.node(root)?;
    let refusals = reader.refusals.take();
    if !refusals.is_empty() {
        return Err(StartError::Refused(refusals));
    }
    let routers = merge_shared_ports(routers, &reader);
    if routers.iter().all(|r| r.transports.is_empty()) {
        return Err(reader.error("workers", "no router worker has a transport, so there is nothing to serve; add a `router` worker with a `web` or `websocket` transport"));
    }
    Ok(NodeConfig {
        file: file.to_path_buf(),
        routers,
        warnings: reader.warnings.into_inner(),
    })
}

/// Walks the JSON tree, keeping the config file for errors and collecting warnings.
struct Reader<'a> {
    dir: &'a Path,
    file: &'a Path,
    warnings: RefCell<Vec<String>>,
    /// Features asked for that wssnode does not serve; reading goes on so all are named.
    refusals: RefCell<Vec<StartError>>,
}

/// A JSON object being read: keys that are never asked for are warned about in `done`.
struct Obj<'r, 'a> {
    reader: &'r Reader<'a>,
    key: String,
    map: &'r Map<String, Value>,
    used: RefCell<Vec<&'static str>>,
}

impl<'a> Reader<'a> {
    fn error(&self, key: &str, problem: impl Into<String>) -> StartError {
        StartError::Key {
            file: self.file.to_path_buf(),
            key: key.to_string(),
            problem: problem.into(),
        }
    }

    /// Names a feature we do not serve, and what to do instead.
    fn refuse(&self, key: &str, problem: impl Into<String>) {
        let error = self.error(key, problem);
        self.refusals.borrow_mut().push(error);
    }

    fn warn(&self, text: String) {
        self.warnings.borrow_mut().push(text);
    }

    fn obj<'r>(&'r self, key: &str, value: &'r Value) -> Result<Obj<'r, 'a>, StartError> {
        match value {
            Value::Object(map) => Ok(Obj {
                reader: self,
                key: key.to_string(),
                map,
                used: RefCell::new(Vec::new()),
            }),
            other => Err(self.error(key, format!("must be an object, not {}", kind(other)))),
        }
    }

    fn resolve(&self, key: &str, named: &str) -> NamedFile {
        NamedFile {
            key: key.to_string(),
            named: named.to_string(),
            path: self.dir.join(named),
        }
    }

    fn node(&self, root: &Value) -> Result<Vec<Router>, StartError> {
        let top = self.obj("(top level)", root)?;
        match top.get("version") {
            None => self
                .warn("`version` is missing; reading the file as Crossbar config version 2".into()),
            Some(Value::Number(n)) if n.as_u64() == Some(2) => {}
            Some(other) => {
                return Err(self.error(
                    "version",
                    format!("must be 2 (Crossbar's config version), not {other}"),
                ))
            }
        }
        top.allow("$schema");
        top.ignore(
            "controller",
            "node controller settings are Crossbar's process management; wssnode is one process",
        );
        let mut routers = Vec::new();
        for (i, worker) in top.array("workers")?.iter().enumerate() {
            if let Some(router) = self.worker(&format!("workers[{i}]"), worker)? {
                routers.push(router);
            }
        }
        top.done();
        Ok(routers)
    }

    fn worker(&self, key: &str, value: &Value) -> Result<Option<Router>, StartError> {
        let worker = self.obj(key, value)?;
        let kind = worker.required_str("type")?;
        match kind {
            "router" => {}
            "guest" | "container" => {
                self.warn(format!("`{key}`: a `{kind}` worker runs a program of its own; wssnode does not start it: start this component yourself and let it connect to the router over WebSocket"));
                return Ok(None);
            }
            "websocket-testee" => return self.testee_worker(key, &worker),
            other => {
                self.refuse(
                    &format!("{key}.type"),
                    format!("worker type `{other}` is not supported; wssnode runs `router` workers (and `websocket-testee`)"),
                );
                return Ok(None);
            }
        }
        worker.ignore(
            "options",
            "router worker options (process title, environment, …) do not apply to one process",
        );
        worker.ignore(
            "components",
            "embedded Python components cannot run in wssnode; start them yourself",
        );
        worker.allow("id");
        let mut realms: Vec<Realm> = Vec::new();
        for (i, realm) in worker.array_or_empty("realms")?.iter().enumerate() {
            let realm_key = format!("{key}.realms[{i}]");
            let realm = self.realm(&realm_key, realm)?;
            if let Some(first) = realms.iter().position(|r| r.name == realm.name) {
                return Err(self.error(
                    &format!("{realm_key}.name"),
                    format!("realm `{}` is already defined at `{key}.realms[{first}]`; merge their roles into one", realm.name),
                ));
            }
            realms.push(realm);
        }
        let mut transports = Vec::new();
        for (i, transport) in worker.array_or_empty("transports")?.iter().enumerate() {
            let transport_key = format!("{key}.transports[{i}]");
            transports.extend(self.transport(&transport_key, transport, None)?);
        }
        if worker.get("connections").is_some() {
            self.refuse(
                &format!("{key}.connections"),
                "outgoing router connections (router-to-router) are not supported; run one router",
            );
        }
        worker.done();
        Ok(Some(Router { realms, transports }))
    }

    /// Crossbar's older testee form: a worker with one `transport`.
    fn testee_worker(&self, key: &str, worker: &Obj<'_, '_>) -> Result<Option<Router>, StartError> {
        worker.ignore(
            "options",
            "worker options (CPU affinity, …) do not apply to one process",
        );
        let transport_key = format!("{key}.transport");
        let transport = self.transport(
            &transport_key,
            worker.required("transport")?,
            Some(TransportKind::Testee),
        )?;
        worker.done();
        Ok(Some(Router {
            realms: Vec::new(),
            transports: transport.into_iter().collect(),
        }))
    }

    fn realm(&self, key: &str, value: &Value) -> Result<Realm, StartError> {
        let realm = self.obj(key, value)?;
        let name = realm.required_str("name")?.to_string();
        let mut roles = Vec::new();
        for (i, role) in realm.array_or_empty("roles")?.iter().enumerate() {
            roles.push(self.role(&format!("{key}.roles[{i}]"), role)?);
        }
        realm.ignore("store", "event history is not kept");
        realm.ignore("stats", "realm statistics are not published");
        realm.ignore("trace", "message tracing is not offered");
        if realm.get("rlinks").is_some() {
            self.refuse(
                &format!("{key}.rlinks"),
                "router-to-router links are not supported; run one router",
            );
        }
        realm.allow("id");
        realm.done();
        Ok(Realm { name, roles })
    }

    fn role(&self, key: &str, value: &Value) -> Result<Role, StartError> {
        let role = self.obj(key, value)?;
        let name = role.required_str("name")?.to_string();
        if role.get("authorizer").is_some() {
            self.refuse(&format!("{key}.authorizer"), "dynamic authorizers call a WAMP procedure of yours, which wssnode does not do; list static `permissions` instead");
        }
        let mut permissions = Vec::new();
        for (i, permission) in role.array_or_empty("permissions")?.iter().enumerate() {
            permissions.push(self.permission(&format!("{key}.permissions[{i}]"), permission)?);
        }
        // Crossbar's `allow-by-default`: a last permission that allows everything.
        if role.bool("allow-by-default")?.unwrap_or(false) {
            permissions.push(Permission {
                uri: String::new(),
                match_policy: MatchPolicy::Prefix,
                call: true,
                register: true,
                publish: true,
                subscribe: true,
                disclose_caller: false,
                disclose_publisher: false,
            });
        }
        role.allow("id");
        role.done();
        Ok(Role { name, permissions })
    }

    fn permission(&self, key: &str, value: &Value) -> Result<Permission, StartError> {
        let permission = self.obj(key, value)?;
        let uri = permission.str("uri")?.unwrap_or("").to_string();
        // Crossbar's older form: "uri": "com.example.*" with no `match` means prefix.
        let (uri, default_match) = match uri.strip_suffix('*') {
            Some(prefix) => (prefix.to_string(), MatchPolicy::Prefix),
            None => (uri, MatchPolicy::Exact),
        };
        let match_policy = match permission.str("match")? {
            None => default_match,
            Some(text) => MatchPolicy::parse(text).ok_or_else(|| {
                self.error(
                    &format!("{key}.match"),
                    format!("must be `exact`, `prefix` or `wildcard`, not `{text}`"),
                )
            })?,
        };
        let flags =
            |name: &'static str, fields: [&'static str; 4]| -> Result<[bool; 4], StartError> {
                let mut out = [false; 4];
                if let Some(value) = permission.get(name) {
                    let obj = self.obj(&format!("{key}.{name}"), value)?;
                    for (slot, field) in out.iter_mut().zip(fields) {
                        *slot = obj.bool(field)?.unwrap_or(false);
                    }
                    obj.ignore("cache", "authorization results are not cached");
                    obj.done();
                }
                Ok(out)
            };
        let [call, register, publish, subscribe] =
            flags("allow", ["call", "register", "publish", "subscribe"])?;
        let [disclose_caller, disclose_publisher, _, _] =
            flags("disclose", ["caller", "publisher", "", ""])?;
        permission.allow("cache");
        permission.done();
        Ok(Permission {
            uri,
            match_policy,
            call,
            register,
            publish,
            subscribe,
            disclose_caller,
            disclose_publisher,
        })
    }

    fn transport(
        &self,
        key: &str,
        value: &Value,
        force: Option<TransportKind>,
    ) -> Result<Option<Transport>, StartError> {
        let transport = self.obj(key, value)?;
        let kind = match (force, transport.required_str("type")?) {
            (Some(kind), _) => kind,
            (None, "web") => TransportKind::Web,
            (None, "websocket") => TransportKind::WebSocket,
            (None, "websocket.testee") => TransportKind::Testee,
            (None, other) => {
                self.refuse(&format!("{key}.type"), unsupported_transport(other));
                return Ok(None);
            }
        };
        let Some(endpoint) =
            self.endpoint(&format!("{key}.endpoint"), transport.required("endpoint")?)?
        else {
            return Ok(None);
        };
        transport.allow("id");
        transport.ignore("debug", "use RUST_LOG=debug");
        let mut hsts_max_age = None;
        let mut limits = Limits::default();
        let paths = match kind {
            TransportKind::Web => {
                if let Some(options) = transport.get("options") {
                    hsts_max_age =
                        self.web_options(&format!("{key}.options"), options, &mut limits)?;
                }
                let paths_value = transport.required("paths")?;
                let paths = self.obj(&format!("{key}.paths"), paths_value)?;
                // `auth` on the transport is the default of its websocket paths.
                let default_auth = match transport.get("auth") {
                    Some(value) => Some(self.auth(&format!("{key}.auth"), value)?),
                    None => None,
                };
                let mut out = Vec::new();
                for (name, value) in paths.map {
                    let path_key = format!("{key}.paths.{}", quote_key(name));
                    match self.path_service(&path_key, value)? {
                        // A path without its own `auth` takes the transport's.
                        Some(PathService::WebSocket(mut ws)) if value.get("auth").is_none() => {
                            if let Some(auth) = &default_auth {
                                ws.auth = auth.clone();
                            }
                            out.push((url_path(name), PathService::WebSocket(ws)));
                        }
                        Some(service) => out.push((url_path(name), service)),
                        None => {}
                    }
                }
                if paths.map.is_empty() {
                    return Err(
                        self.error(&format!("{key}.paths"), "is empty; add at least `\"/\"`")
                    );
                }
                out
            }
            TransportKind::WebSocket | TransportKind::Testee => {
                let testee = kind == TransportKind::Testee;
                let options = self.websocket(key, &transport, testee, Some(&mut limits))?;
                vec![("/".to_string(), PathService::WebSocket(options))]
            }
        };
        transport.done_except(&["paths", "options", "auth", "serializers", "url"]);
        Ok(Some(Transport {
            config_file: self.file.to_path_buf(),
            key: key.to_string(),
            kind,
            endpoint,
            paths,
            hsts_max_age,
            limits,
        }))
    }

    fn web_options(
        &self,
        key: &str,
        value: &Value,
        limits: &mut Limits,
    ) -> Result<Option<u64>, StartError> {
        let options = self.obj(key, value)?;
        self.limits(&options, limits)?;
        let hsts = options.bool("hsts")?.unwrap_or(false);
        // Crossbar's default max-age: one year.
        let max_age = options.u64("hsts_max_age")?.unwrap_or(31_536_000);
        options.ignore("access_log", "every request is logged at level info");
        options.ignore("display_tracebacks", "wssnode never sends tracebacks");
        options.ignore("hixie76_aware", "Hixie-76 WebSocket is not supported");
        options.done();
        Ok(hsts.then_some(max_age))
    }

    fn endpoint(&self, key: &str, value: &Value) -> Result<Option<Endpoint>, StartError> {
        let endpoint = self.obj(key, value)?;
        match endpoint.required_str("type")? {
            "tcp" => {}
            "unix" => {
                self.refuse(&format!("{key}.type"), "Unix domain socket endpoints are not supported; listen on `tcp` (e.g. `\"interface\": \"127.0.0.1\"`) behind your proxy");
                return Ok(None);
            }
            other => {
                self.refuse(
                    &format!("{key}.type"),
                    format!("endpoint type `{other}` is not supported; use `tcp`"),
                );
                return Ok(None);
            }
        }
        let port = endpoint
            .u64("port")?
            .ok_or_else(|| endpoint.missing("port", "give the TCP port to listen on"))?;
        let port = u16::try_from(port).map_err(|_| {
            self.error(
                &format!("{key}.port"),
                format!("{port} is not a TCP port (0–65535)"),
            )
        })?;
        let interface = endpoint.str("interface")?.map(str::to_string);
        if let Some(interface) = &interface {
            if interface.parse::<std::net::IpAddr>().is_err() {
                return Err(self.error(
                    &format!("{key}.interface"),
                    format!("`{}` is not an IP address; give the address of an interface to listen on, such as `127.0.0.1` or `::1` (leave it out for all)", interface.escape_debug()),
                ));
            }
        }
        if let Some(version) = endpoint.u64("version")? {
            if version != 4 && version != 6 {
                return Err(self.error(&format!("{key}.version"), "must be 4 or 6"));
            }
        }
        endpoint.ignore("backlog", "the system's default listen backlog is used");
        let shared = endpoint.bool("shared")?.unwrap_or(false);
        endpoint.ignore("user_timeout", "TCP_USER_TIMEOUT is not set");
        let tls = match endpoint.get("tls") {
            Some(value) => Some(self.tls(&format!("{key}.tls"), value)?),
            None => None,
        };
        endpoint.done();
        Ok(Some(Endpoint {
            port,
            interface,
            tls,
            shared,
        }))
    }

    fn tls(&self, key: &str, value: &Value) -> Result<TlsFiles, StartError> {
        let tls = self.obj(key, value)?;
        let file = |name: &'static str| -> Result<Option<NamedFile>, StartError> {
            Ok(tls
                .str(name)?
                .map(|named| self.resolve(&format!("{key}.{name}"), named)))
        };
        let files = |name: &'static str| -> Result<Vec<NamedFile>, StartError> {
            let mut out = Vec::new();
            for (i, item) in tls.array_or_empty(name)?.iter().enumerate() {
                let item_key = format!("{key}.{name}[{i}]");
                match item {
                    Value::String(named) => out.push(self.resolve(&item_key, named)),
                    other => {
                        return Err(self.error(
                            &item_key,
                            format!("must be a file path (string), not {}", kind(other)),
                        ))
                    }
                }
            }
            Ok(out)
        };
        let missing =
            |name: &str| tls.missing(name, "`tls` needs both `key` and `certificate` (PEM files)");
        let files = TlsFiles {
            config_file: self.file.to_path_buf(),
            key_path: key.to_string(),
            key: file("key")?.ok_or_else(|| missing("key"))?,
            certificate: file("certificate")?.ok_or_else(|| missing("certificate"))?,
            chain_certificates: files("chain_certificates")?,
            ca_certificates: files("ca_certificates")?,
            dhparam: file("dhparam")?,
            ciphers: tls.str("ciphers")?.map(str::to_string),
        };
        tls.done();
        Ok(files)
    }

    fn path_service(&self, key: &str, value: &Value) -> Result<Option<PathService>, StartError> {
        let path = self.obj(key, value)?;
        let service = match path.required_str("type")? {
            "static" => match self.static_path(key, &path)? {
                Some(options) => PathService::Static(options),
                None => return Ok(None),
            },
            "websocket" => PathService::WebSocket(self.websocket(key, &path, false, None)?),
            "redirect" => PathService::Redirect(path.required_str("url")?.to_string()),
            "json" => {
                if let Some(options) = path.get("options") {
                    let options = self.obj(&format!("{key}.options"), options)?;
                    options.ignore("prettify", "JSON is sent compact");
                    options.ignore("allow_cross_origin", "no CORS headers are sent");
                    options.ignore("discourage_caching", "no caching headers are sent for JSON");
                    options.done();
                }
                PathService::Json(path.required("value")?.clone())
            }
            "nodeinfo" => PathService::NodeInfo,
            other => {
                self.refuse(&format!("{key}.type"), unsupported_path(other));
                return Ok(None);
            }
        };
        path.done_except(&["options"]);
        Ok(Some(service))
    }

    fn static_path(
        &self,
        key: &str,
        path: &Obj<'_, '_>,
    ) -> Result<Option<StaticOptions>, StartError> {
        if path.get("package").is_some() {
            self.refuse(&format!("{key}.package"), "serving files from a Python package is not possible; copy them into a folder and name it in `directory`");
            return Ok(None);
        }
        path.ignore("resource", "Python package resources are not served");
        let named = path.required_str("directory")?;
        let mut options = StaticOptions {
            directory: self.resolve(&format!("{key}.directory"), named),
            directory_listing: false,
            // Crossbar's default: 12 hours.
            cache_timeout: Some(43_200),
            mime_types: Vec::new(),
            default_file: None,
        };
        if let Some(value) = path.get("options") {
            let opts = self.obj(&format!("{key}.options"), value)?;
            options.directory_listing = opts.bool("enable_directory_listing")?.unwrap_or(false);
            options.default_file = opts.str("default_file")?.map(str::to_string);
            match opts.get("cache_timeout") {
                None => {}
                Some(Value::Null) => options.cache_timeout = None,
                Some(_) => options.cache_timeout = opts.u64("cache_timeout")?,
            }
            if let Some(value) = opts.get("mime_types") {
                let types = self.obj(&format!("{key}.options.mime_types"), value)?;
                for (ext, media) in types.map {
                    match media {
                        Value::String(media) => options.mime_types.push((
                            ext.trim_start_matches('.').to_ascii_lowercase(),
                            media.clone(),
                        )),
                        other => {
                            return Err(self.error(
                                &format!("{key}.options.mime_types.{}", quote_key(ext)),
                                format!("must be a media type string, not {}", kind(other)),
                            ))
                        }
                    }
                }
            }
            opts.done();
        }
        Ok(Some(options))
    }

    /// wssnode's own transport limits, in a transport's `options`.
    fn limits(&self, options: &Obj<'_, '_>, limits: &mut Limits) -> Result<(), StartError> {
        let millis = |name: &'static str| -> Result<Option<Duration>, StartError> {
            Ok(options
                .u64(name)?
                .map(|ms| Duration::from_millis(ms.max(1))))
        };
        if let Some(d) = millis("tls_handshake_timeout")? {
            limits.tls_handshake = d;
        }
        if let Some(d) = millis("request_head_timeout")? {
            limits.request_head = d;
        }
        if let Some(d) = millis("keepalive_timeout")? {
            limits.keepalive = d;
        }
        if let Some(d) = millis("send_timeout")? {
            limits.send = d;
        }
        if let Some(n) = options.u64("max_connections")? {
            limits.max_connections = usize::try_from(n).unwrap_or(usize::MAX).max(1);
        }
        if let Some(n) = options.u64("max_request_head")? {
            let max = crate::limits::MAX_HEAD;
            if n as usize > max {
                self.warn(format!("`max_request_head` {n} is above the HTTP layer's fixed {max} bytes; {max} applies"));
            }
            limits.max_request_head = (n as usize).clamp(256, max);
        }
        Ok(())
    }

    /// A websocket path's or transport's settings; `limits` is given for transports.
    fn websocket(
        &self,
        key: &str,
        obj: &Obj<'_, '_>,
        testee: bool,
        limits: Option<&mut Limits>,
    ) -> Result<WebSocketOptions, StartError> {
        obj.ignore("url", "the URL is only informational");
        obj.ignore("debug", "use RUST_LOG=debug");
        let mut serializers = Vec::new();
        for (i, item) in obj.array_or_empty("serializers")?.iter().enumerate() {
            match item.as_str() {
                Some(name) if crate::wamp::serializer::Serializer::from_config(name).is_some() => {
                    serializers.push(name.to_string())
                }
                Some(other) => self.warn(format!("`{key}.serializers[{i}]`: serializer `{other}` is not offered; wssnode speaks `json` and `msgpack`")),
                None => return Err(self.error(&format!("{key}.serializers[{i}]"), "must be a serializer name such as `json`")),
            }
        }
        if serializers.is_empty() {
            serializers = vec!["json".to_string(), "msgpack".to_string()];
        }
        let max_message = if testee {
            TESTEE_MAX_MESSAGE
        } else {
            DEFAULT_MAX_MESSAGE
        };
        let mut options = WebSocketOptions {
            serializers,
            max_message_size: max_message,
            max_frame_size: max_message,
            auto_ping_interval_ms: 30_000,
            auto_ping_timeout_ms: 30_000,
            open_handshake_timeout_ms: 10_000,
            close_handshake_timeout_ms: 2_000,
            allowed_origins: vec!["*".to_string()],
            max_queued_bytes: 4 << 20,
            slow_client_timeout_ms: 10_000,
            session_limits: SessionLimits::default(),
            auth: Auth::default(),
        };
        if let Some(value) = obj.get("options") {
            let opts = self.obj(&format!("{key}.options"), value)?;
            if let Some(limits) = limits {
                self.limits(&opts, limits)?;
            }
            let size = |name: &'static str| -> Result<Option<usize>, StartError> {
                Ok(opts
                    .u64(name)?
                    .map(|n| if n == 0 { usize::MAX } else { n as usize }))
            };
            if let Some(n) = size("max_message_size")? {
                options.max_message_size = n;
                options.max_frame_size = options.max_frame_size.min(n);
            }
            if let Some(n) = size("max_frame_size")? {
                options.max_frame_size = n;
            }
            for (name, slot) in [
                ("auto_ping_interval", &mut options.auto_ping_interval_ms),
                ("auto_ping_timeout", &mut options.auto_ping_timeout_ms),
                (
                    "open_handshake_timeout",
                    &mut options.open_handshake_timeout_ms,
                ),
                (
                    "close_handshake_timeout",
                    &mut options.close_handshake_timeout_ms,
                ),
                ("slow_client_timeout", &mut options.slow_client_timeout_ms),
            ] {
                if let Some(n) = opts.u64(name)? {
                    *slot = n;
                }
            }
            if let Some(n) = opts.u64("max_queued_bytes")? {
                options.max_queued_bytes = usize::try_from(n).unwrap_or(usize::MAX).max(1024);
            }
            let limits = &mut options.session_limits;
            for (name, slot) in [
                ("max_subscriptions", &mut limits.max_subscriptions),
                ("max_registrations", &mut limits.max_registrations),
                ("max_calls_in_flight", &mut limits.max_calls_in_flight),
                (
                    "max_invocations_in_flight",
                    &mut limits.max_invocations_in_flight,
                ),
            ] {
                if let Some(n) = opts.u64(name)? {
                    *slot = usize::try_from(n).unwrap_or(usize::MAX);
                }
            }
            if let Some(list) = opts.get("allowed_origins") {
                options.allowed_origins =
                    string_list(self, &format!("{key}.options.allowed_origins"), list)?;
            }
            for name in [
                "enable_webstatus",
                "validate_utf8",
                "mask_server_frames",
                "require_masked_client_frames",
                "apply_mask",
                "auto_fragment_size",
                "fail_by_drop",
                "echo_close_codereason",
                "tcp_nodelay",
                "auto_ping_size",
                "require_websocket_subprotocol",
                "allow_null_origin",
                "show_server_version",
                "external_port",
                "enable_hixie76",
                "enable_hybi10",
                "enable_rfc6455",
                "compression",
                "utf8validateIncoming",
            ] {
                opts.ignore(
                    name,
                    "wssnode keeps its own safe behaviour here (see the README)",
                );
            }
            opts.done();
        }
        if let Some(value) = obj.get("auth") {
            options.auth = self.auth(&format!("{key}.auth"), value)?;
        } else {
            // Crossbar's default when `auth` is absent: anonymous with role `anonymous`.
            options.auth.anonymous = Some("anonymous".to_string());
        }
        obj.ignore("cookie", "cookie tracking is not supported");
        Ok(options)
    }

    fn auth(&self, key: &str, value: &Value) -> Result<Auth, StartError> {
        let auth = self.obj(key, value)?;
        let mut out = Auth::default();
        for (method, value) in auth.map {
            let method_key = format!("{key}.{method}");
            let config = self.obj(&method_key, value)?;
            match config.str("type")? {
                Some("static") | None => {}
                Some(other) => {
                    self.refuse(&format!("{method_key}.type"), format!("`{other}` authentication (an authenticator procedure of yours) is not supported; list `static` principals"));
                    continue;
                }
            }
            match method.as_str() {
                "anonymous" => {
                    out.anonymous = Some(config.str("role")?.unwrap_or("anonymous").to_string());
                }
                "ticket" | "tls" => {
                    let principals = self.obj(
                        &format!("{method_key}.principals"),
                        config.required("principals")?,
                    )?;
                    for (authid, value) in principals.map {
                        let p_key = format!("{method_key}.principals.{}", quote_key(authid));
                        let principal = self.obj(&p_key, value)?;
                        let role = principal.required_str("role")?.to_string();
                        let secret = if method == "ticket" {
                            principal.required_str("ticket")?.to_string()
                        } else {
                            let print = match principal.str("certificate-sha1")? {
                                Some(sha1) => sha1,
                                None => principal.required_str("certificate-sha256")?,
                            };
                            print.replace(':', "").to_ascii_lowercase()
                        };
                        let realm = principal.str("realm")?.map(str::to_string);
                        principal.done_except(&["certificate-sha1", "certificate-sha256"]);
                        let entry = Principal {
                            authid: authid.clone(),
                            secret,
                            role,
                            realm,
                        };
                        if method == "ticket" {
                            out.ticket.push(entry)
                        } else {
                            out.tls.push(entry)
                        }
                    }
                }
                other => {
                    self.refuse(&method_key, unsupported_auth(other));
                    continue;
                }
            }
            config.done_except(&["principals", "role"]);
        }
        Ok(out)
    }
}

impl<'r, 'a> Obj<'r, 'a> {
    fn child_key(&self, name: &str) -> String {
        if self.key == "(top level)" {
            name.to_string()
        } else {
            format!("{}.{name}", self.key)
        }
    }

    fn mark(&self, name: &'static str) {
        self.used.borrow_mut().push(name);
    }

    fn get(&self, name: &'static str) -> Option<&'r Value> {
        self.mark(name);
        self.map.get(name)
    }

    fn required(&self, name: &'static str) -> Result<&'r Value, StartError> {
        self.get(name).ok_or_else(|| self.missing(name, ""))
    }

    /// "is missing" with `advice`, naming a key of this object that looks like a typo of it.
    fn missing(&self, name: &str, advice: &str) -> StartError {
        let mut problem = String::from("is missing");
        if !advice.is_empty() {
            problem = format!("{problem}; {advice}");
        }
        if let Some(typo) = self.map.keys().find(|k| is_typo_of(k, name)) {
            problem = format!("{problem}; `{typo}` is there: did you mean `{name}`?");
        }
        self.reader.error(&self.child_key(name), problem)
    }

    fn str(&self, name: &'static str) -> Result<Option<&'r str>, StartError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.reader.error(
                &self.child_key(name),
                format!("must be a string, not {}", kind(other)),
            )),
        }
    }

    fn required_str(&self, name: &'static str) -> Result<&'r str, StartError> {
        self.str(name)?.ok_or_else(|| self.missing(name, ""))
    }

    fn bool(&self, name: &'static str) -> Result<Option<bool>, StartError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.reader.error(
                &self.child_key(name),
                format!("must be true or false, not {}", kind(other)),
            )),
        }
    }

    fn u64(&self, name: &'static str) -> Result<Option<u64>, StartError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            // A number, but not one we take: say which.
            Some(Value::Number(n)) => Err(self.reader.error(
                &self.child_key(name),
                format!("must be a whole number ≥ 0, not {n}"),
            )),
            Some(other) => Err(self.reader.error(
                &self.child_key(name),
                format!("must be a whole number ≥ 0, not {}", kind(other)),
            )),
        }
    }

    fn array(&self, name: &'static str) -> Result<&'r [Value], StartError> {
        match self.required(name)? {
            Value::Array(items) => Ok(items),
            other => Err(self.reader.error(
                &self.child_key(name),
                format!("must be a list, not {}", kind(other)),
            )),
        }
    }

    fn array_or_empty(&self, name: &'static str) -> Result<&'r [Value], StartError> {
        if self.map.contains_key(name) {
            self.array(name)
        } else {
            self.mark(name);
            Ok(&[])
        }
    }

    /// A key Crossbar accepts that we read past without comment.
    fn allow(&self, name: &'static str) {
        self.mark(name);
    }

    /// A key Crossbar accepts that we do not act on: one warning saying so.
    fn ignore(&self, name: &'static str, why: &str) {
        if self.map.contains_key(name) && !self.used.borrow().contains(&name) {
            self.mark(name);
            self.reader
                .warn(format!("`{}` is not used: {why}", self.child_key(name)));
        }
    }

    /// Warns about every key that was never asked for.
    fn done(&self) {
        self.done_except(&[]);
    }

    fn done_except(&self, also_used: &[&str]) {
        let used = self.used.borrow();
        for name in self.map.keys() {
            if !used.contains(&name.as_str()) && !also_used.contains(&name.as_str()) {
                self.reader.warn(format!(
                    "`{}` is not a key wssnode knows; it is ignored (a typo?)",
                    self.child_key(name)
                ));
            }
        }
    }
}

fn string_list(reader: &Reader<'_>, key: &str, value: &Value) -> Result<Vec<String>, StartError> {
    let items = value.as_array().ok_or_else(|| {
        reader.error(
            key,
            format!("must be a list of strings, not {}", kind(value)),
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| reader.error(&format!("{key}[{i}]"), "must be a string"))
        })
        .collect()
}

/// What to say about a transport type we do not serve.
fn unsupported_transport(kind: &str) -> String {
    let advice = match kind {
        "rawsocket" => "WAMP clients can use WebSocket instead: a `websocket` path of a `web` transport, or a `websocket` transport",
        "universal" => "use a `web` transport: it serves HTTP and WebSocket on one port (RawSocket and MQTT are not offered)",
        "mqtt" => "MQTT is not offered; connect MQTT clients through a bridge, or use WAMP over WebSocket",
        "flashpolicy" => "Flash is gone; remove this transport",
        _ => "use `web` (with a `websocket` path) or `websocket`",
    };
    format!("transport type `{kind}` is not supported; {advice}")
}

/// What to say about a web path type we do not serve.
fn unsupported_path(kind: &str) -> String {
    let advice = match kind {
        "longpoll" => "WAMP clients without WebSocket are rare today; use the `websocket` path",
        "caller" | "publisher" | "webhook" => "the HTTP-to-WAMP bridge is not offered; call or publish from a WAMP client (e.g. autobahn) instead",
        "resource" | "wsgi" | "wap" => "Python web resources cannot run in wssnode; serve them from their own server and `redirect` to it",
        "archive" => "serve the unpacked files with a `static` path",
        "upload" => "file uploads are not offered; use your own upload service",
        "path" => "nested path trees are not offered; list each path at the transport's `paths`",
        "websocket-reverseproxy" | "reverseproxy" => "proxying is not offered; put a reverse proxy (nginx, Caddy) in front",
        "cgi" => "CGI is not offered",
        _ => "wssnode serves `static`, `websocket`, `redirect`, `json` and `nodeinfo`",
    };
    format!("path type `{kind}` is not supported; {advice}")
}

/// What to say about an authentication method we do not offer.
fn unsupported_auth(method: &str) -> String {
    let advice = match method {
        "wampcra" | "scram" => "use `ticket` (over TLS the ticket is as safe on the wire)",
        "cryptosign" => "use `tls` client certificates, or `ticket`",
        "cookie" => "use `ticket`; cookie tracking is not offered",
        _ => "wssnode offers `anonymous`, `ticket` and `tls`",
    };
    format!("authentication method `{method}` is not supported; {advice}")
}

/// Crossbar lets several workers share a port (`shared: true`); wssnode is one process and
/// listens once: identical shared endpoints after the first are dropped with a warning.
fn merge_shared_ports(mut routers: Vec<Router>, reader: &Reader<'_>) -> Vec<Router> {
    let mut seen: Vec<(Option<String>, u16)> = Vec::new();
    for router in &mut routers {
        router.transports.retain(|t| {
            let at = (t.endpoint.interface.clone(), t.endpoint.port);
            if t.endpoint.port != 0 && seen.contains(&at) && t.endpoint.shared {
                reader.warn(format!("`{}` shares port {} with an earlier transport; wssnode listens once and serves it there", t.key, t.endpoint.port));
                return false;
            }
            seen.push(at);
            true
        });
    }
    routers
}

/// A Crossbar path key as a URL path: `"/"` stays, `"ws"` becomes `"/ws"`.
fn url_path(name: &str) -> String {
    let trimmed = name.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// Writes a JSON object key so that a JSON path stays readable: `paths./` → `paths["/"]`.
fn quote_key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// Names a JSON value's type for error messages.
/// Whether `key` looks like a misspelling of `name`: the same but for case, or at most two
/// letters inserted, deleted, replaced or swapped (`certficate`, `directroy`, `wokers`).
fn is_typo_of(key: &str, name: &str) -> bool {
    if key == name || name.len() < 4 {
        return false;
    }
    if key.eq_ignore_ascii_case(name) {
        return true;
    }
    let (a, b): (Vec<char>, Vec<char>) = (key.chars().collect(), name.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    // Optimal string alignment distance (Levenshtein with adjacent swaps).
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()] <= 2
}

fn kind(value: &Value) -> &'static str {
    json_kind(value, "an object")
}

/// What a JSON value is, for error messages; `object` names a JSON object as the reader
/// knows it ("an object" in a config, "a dict" in WAMP).
pub fn json_kind(value: &Value, object: &'static str) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => object,
    }
}

#[cfg(test)]
mod tests {
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
        let text = MINIMAL.replace("\"type\": \"web\"", "\"type\": \"rawsocket\"");
        let err = parse_text(&text).unwrap_err().to_string();
        assert!(
            err.contains("transports[0].type") && err.contains("rawsocket"),
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
