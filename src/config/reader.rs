//! Crossbar's config read into the model: the node, its router workers, realms and roles,
//! transports and endpoints, TLS, web paths, WebSocket options and `auth`.

use super::json::{kind, quote_key, string_list, Obj, Report};
use super::texts::{unsupported_path, unsupported_transport};
use super::*;
use std::cell::RefCell;

mod archive;
mod auth;
mod bridge;

/// Walks the JSON tree, keeping the config file for errors and collecting warnings.
pub(super) struct Reader<'a> {
    dir: &'a Path,
    report: Report<'a>,
    /// Features asked for that wssnode does not serve; reading goes on so all are named.
    refusals: RefCell<Vec<StartError>>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(dir: &'a Path, file: &'a Path) -> Reader<'a> {
        Reader {
            dir,
            report: Report {
                file,
                warnings: RefCell::new(Vec::new()),
            },
            refusals: RefCell::new(Vec::new()),
        }
    }

    /// The read routers as the node's config, or every refusal at once.
    pub(super) fn finish(
        self,
        file: &Path,
        routers: Vec<Router>,
    ) -> Result<NodeConfig, StartError> {
        let refusals = self.refusals.take();
        if !refusals.is_empty() {
            return Err(StartError::Refused(refusals));
        }
        let routers = merge_shared_ports(routers, &self);
        if routers.iter().all(|r| r.transports.is_empty()) {
            return Err(self.error("workers", "no router worker has a transport, so there is nothing to serve; add a `router` worker with a `web` or `websocket` transport"));
        }
        Ok(NodeConfig {
            file: file.to_path_buf(),
            routers,
            warnings: self.report.warnings.into_inner(),
        })
    }

    fn error(&self, key: &str, problem: impl Into<String>) -> StartError {
        self.report.error(key, problem)
    }

    /// Names a feature we do not serve, and what to do instead.
    fn refuse(&self, key: &str, problem: impl Into<String>) {
        let error = self.error(key, problem);
        self.refusals.borrow_mut().push(error);
    }

    fn warn(&self, text: String) {
        self.report.warn(text);
    }

    fn obj<'r>(&'r self, key: &str, value: &'r Value) -> Result<Obj<'r, 'r>, StartError>
    where
        'a: 'r,
    {
        self.report.obj(key, value)
    }

    fn resolve(&self, key: &str, named: &str) -> NamedFile {
        NamedFile {
            json_path: key.to_string(),
            named: named.to_string(),
            path: self.dir.join(named),
        }
    }

    pub(super) fn node(&self, root: &Value) -> Result<Vec<Router>, StartError> {
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
        if routers.iter().filter(|r| r.cluster.is_some()).count() > 1 {
            return Err(self.error(
                "workers",
                "more than one router worker has a `cluster` section; a node joins one cluster, so give it to one worker",
            ));
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
        self.check_bridges(&realms, &transports)?;
        self.check_principal_roles(&realms, &transports);
        if worker.get("connections").is_some() {
            self.refuse(
                &format!("{key}.connections"),
                "outgoing router connections (router-to-router) are not supported; run one router",
            );
        }
        let cluster = match worker.get("cluster") {
            Some(value) => Some(self.cluster(&format!("{key}.cluster"), value)?),
            None => None,
        };
        worker.done();
        Ok(Some(Router {
            realms,
            transports,
            cluster,
        }))
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
            cluster: None,
        }))
    }

    /// wssnode's `cluster` section: `type` `redis`, `url`, `node`, `password_env`, `lease`,
    /// `max_queued_bytes`.
    fn cluster(&self, key: &str, value: &Value) -> Result<Cluster, StartError> {
        let cluster = self.obj(key, value)?;
        let kind = cluster.required_str("type")?;
        if kind != "redis" {
            return Err(self.error(
                &format!("{key}.type"),
                format!("cluster type `{kind}` is not offered; the one engine is `redis` (Redis or Valkey)"),
            ));
        }
        let url = cluster.required_str("url")?;
        let url_key = format!("{key}.url");
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(self.error(&url_key, format!("`{url}` is not a Redis URL; write `redis://host:6379/0` (or `rediss://` for TLS)")));
        };
        if scheme != "redis" && scheme != "rediss" {
            return Err(self.error(&url_key, format!("scheme `{scheme}` is not Redis's; write `redis://host:6379/0` (or `rediss://` for TLS)")));
        }
        let authority = rest.split('/').next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if userinfo.contains(':') {
                return Err(self.error(&url_key, "holds a password: keep it out of config.json, in the environment variable `password_env` names (default WSSNODE_REDIS_PASSWORD)"));
            }
        }
        let env_key = cluster.str("password_env")?;
        let env_name = env_key.unwrap_or("WSSNODE_REDIS_PASSWORD");
        let password = match std::env::var(env_name) {
            Ok(p) if !p.is_empty() => Some(p),
            _ if env_key.is_some() => {
                return Err(self.error(
                    &format!("{key}.password_env"),
                    format!("the environment variable `{env_name}` is not set; set it to Redis's password, or remove `password_env`"),
                ))
            }
            _ => None,
        };
        let node = match cluster.str("node")? {
            Some(name)
                if name.is_empty()
                    || name.len() > 128
                    || name.contains(|c: char| c.is_whitespace() || c.is_control()) =>
            {
                return Err(self.error(
                    &format!("{key}.node"),
                    "must be 1 to 128 characters without spaces",
                ));
            }
            Some(name) => name.to_string(),
            None => default_node_name(),
        };
        let lease = cluster.u64("lease")?.unwrap_or(5);
        if !(1..=10).contains(&lease) {
            return Err(self.error(
                &format!("{key}.lease"),
                format!("{lease} is outside 1 to 10 (seconds): a shorter lease mistakes a busy node for a dead one, a longer one keeps a dead node's callees"),
            ));
        }
        let ca_certificate = match cluster.str("ca_certificate")? {
            Some(_) if scheme != "rediss" => {
                return Err(self.error(
                    &format!("{key}.ca_certificate"),
                    "applies to TLS only: write the url as `rediss://…`, or remove it",
                ))
            }
            Some(named) => Some(self.resolve(&format!("{key}.ca_certificate"), named)),
            None => None,
        };
        let max_queued_bytes = cluster.u64("max_queued_bytes")?.unwrap_or(16 << 20);
        let max_queued_bytes =
            usize::try_from(max_queued_bytes.max(64 << 10)).unwrap_or(usize::MAX);
        cluster.done();
        Ok(Cluster {
            url: url.to_string(),
            password,
            node,
            lease: std::time::Duration::from_secs(lease),
            max_queued_bytes,
            ca_certificate,
        })
    }

    fn realm(&self, key: &str, value: &Value) -> Result<Realm, StartError> {
        let realm = self.obj(key, value)?;
        let name = realm.required_str("name")?.to_string();
        let mut roles = Vec::new();
        for (i, role) in realm.array_or_empty("roles")?.iter().enumerate() {
            roles.push(self.role(&format!("{key}.roles[{i}]"), role)?);
        }
        let history = match realm.get("store") {
            Some(store) => self.store(&format!("{key}.store"), store)?,
            None => Vec::new(),
        };
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
        Ok(Realm {
            name,
            roles,
            history,
        })
    }

    /// A realm's `store` (Crossbar's realm store): `type` `memory`, `limit` (events kept per
    /// topic, default 100) and `event-history`, the topics whose events are kept.
    fn store(&self, key: &str, value: &Value) -> Result<Vec<HistoryTopic>, StartError> {
        let store = self.obj(key, value)?;
        match store.required_str("type")? {
            "memory" => {}
            other => {
                self.refuse(
                    &format!("{key}.type"),
                    format!("realm store type `{other}` is not offered; use `memory` (events are kept in memory, not across restarts)"),
                );
                return Ok(Vec::new());
            }
        }
        let at_least_one = |key: String, n: u64| -> Result<usize, StartError> {
            if n == 0 {
                return Err(self.error(
                    &key,
                    "must be at least 1 (leave the topic out to keep nothing)",
                ));
            }
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        };
        let limit = at_least_one(format!("{key}.limit"), store.u64("limit")?.unwrap_or(100))?;
        store.ignore("call-queue", "calls are not queued for absent callees");
        let mut history = Vec::new();
        for (i, topic) in store.array_or_empty("event-history")?.iter().enumerate() {
            let topic_key = format!("{key}.event-history[{i}]");
            let topic = self.obj(&topic_key, topic)?;
            let uri = topic.required_str("uri")?.to_string();
            let policy = match topic.str("match")? {
                None => MatchPolicy::Exact,
                Some(name) => MatchPolicy::parse(name).ok_or_else(|| {
                    self.error(
                        &format!("{topic_key}.match"),
                        "must be `exact`, `prefix` or `wildcard`",
                    )
                })?,
            };
            let limit = match topic.u64("limit")? {
                Some(n) => at_least_one(format!("{topic_key}.limit"), n)?,
                None => limit,
            };
            topic.done();
            if !policy.admits(&uri) {
                return Err(self.error(
                    &format!("{topic_key}.uri"),
                    format!("`{uri}` is not a valid {} topic URI, so no event would ever be kept for it", policy.name()),
                ));
            }
            history.push(HistoryTopic { uri, policy, limit });
        }
        store.done();
        Ok(history)
    }

    fn role(&self, key: &str, value: &Value) -> Result<Role, StartError> {
        let role = self.obj(key, value)?;
        let name = role.required_str("name")?.to_string();
        if name == "trusted" {
            return Err(self.error(
                &format!("{key}.name"),
                "`trusted` is the router's own role (as in Crossbar); name yours differently",
            ));
        }
        let timeout_ms = role.u64("authorizer-timeout")?.unwrap_or(5_000).max(1);
        let authorizer = role.str("authorizer")?.map(|procedure| RoleAuthorizer {
            procedure: procedure.to_string(),
            timeout_ms,
        });
        if authorizer.is_some() && role.get("permissions").is_some() {
            return Err(self.error(
                &format!("{key}.authorizer"),
                "a role has an `authorizer` or `permissions`, not both; remove one",
            ));
        }
        let mut permissions = Vec::new();
        for (i, permission) in role.array_or_empty("permissions")?.iter().enumerate() {
            permissions.push(self.permission(&format!("{key}.permissions[{i}]"), permission)?);
        }
        // Crossbar's `allow-by-default`: a last permission that allows everything.
        if role.bool("allow-by-default")?.unwrap_or(false) {
            permissions.push(Permission::allow_all());
        }
        role.allow("id");
        role.done();
        Ok(Role {
            name,
            permissions,
            authorizer,
        })
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
            (None, "rawsocket") => TransportKind::RawSocket,
            (None, "universal") => TransportKind::Universal,
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
        let mut rawsocket = None;
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
                let paths_key = format!("{key}.paths");
                self.web_paths(&paths_key, &paths, "/", default_auth.as_ref(), &mut out)?;
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
                vec![("/".to_string(), PathService::WebSocket(Box::new(options)))]
            }
            TransportKind::Universal => self.universal(
                key,
                &transport,
                &mut limits,
                &mut hsts_max_age,
                &mut rawsocket,
            )?,
            TransportKind::RawSocket => {
                let mut options = self.websocket(key, &transport, false, Some(&mut limits))?;
                // Crossbar's RawSocket keys beside `options`: `max_message_size`, and the
                // older single `serializer`.
                if let Some(n) = transport.u64("max_message_size")? {
                    options.max_message_size =
                        self.message_size(&format!("{key}.max_message_size"), n);
                }
                if let Some(name) = transport.str("serializer")? {
                    if !SERIALIZERS.contains(&name) {
                        return Err(self.error(
                            &format!("{key}.serializer"),
                            format!("must be `json`, `msgpack` or `cbor`, not `{name}`"),
                        ));
                    }
                    options.serializers = vec![name.to_string()];
                }
                vec![("/".to_string(), PathService::WebSocket(Box::new(options)))]
            }
        };
        transport.done_except(&["paths", "options", "auth", "serializers", "url"]);
        if endpoint.tls.is_none() {
            self.warn_tls_auth_without_tls(key, &paths, rawsocket.as_deref());
        }
        Ok(Some(Transport {
            config_file: self.report.file.to_path_buf(),
            json_path: key.to_string(),
            kind,
            endpoint,
            paths,
            hsts_max_age,
            limits,
            rawsocket,
        }))
    }

    /// A message or frame size; Crossbar's 0 means no limit, which wssnode does not have:
    /// the largest it allows (16 MiB, RawSocket's own) is taken instead, and said.
    fn message_size(&self, key: &str, n: u64) -> usize {
        const LARGEST: usize = 16 << 20;
        if n == 0 {
            self.warn(format!("`{key}` is 0, no limit in Crossbar; wssnode keeps every message bounded and takes {LARGEST} bytes (16 MiB)"));
            return LARGEST;
        }
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// `tls` authentication needs a client certificate, which only a TLS endpoint asks for.
    fn warn_tls_auth_without_tls(
        &self,
        key: &str,
        paths: &[(String, PathService)],
        rawsocket: Option<&WebSocketOptions>,
    ) {
        let sessions = paths.iter().filter_map(|(path, service)| match service {
            PathService::WebSocket(o) => Some((path.as_str(), &**o)),
            PathService::LongPoll(o) => Some((path.as_str(), &o.session)),
            _ => None,
        });
        for (path, options) in sessions.chain(rawsocket.map(|o| ("rawsocket", o))) {
            if options.auth.tls.is_some() {
                self.warn(format!("`{key}`: path `{path}` accepts `tls` authentication, but the endpoint has no `tls`, so no client certificate ever comes: nobody can log in with it"));
            }
        }
    }

    /// Crossbar's `universal` transport: `web.paths` and `websocket` paths served over HTTP
    /// on the port, `rawsocket` for clients whose first byte is RawSocket's.
    fn universal(
        &self,
        key: &str,
        transport: &Obj<'_, '_>,
        limits: &mut Limits,
        hsts_max_age: &mut Option<u64>,
        rawsocket: &mut Option<Box<WebSocketOptions>>,
    ) -> Result<Vec<(String, PathService)>, StartError> {
        if transport.get("mqtt").is_some() {
            self.refuse(&format!("{key}.mqtt"), unsupported_transport("mqtt"));
        }
        let mut out = Vec::new();
        if let Some(web) = transport.get("web") {
            let web_key = format!("{key}.web");
            let web = self.obj(&web_key, web)?;
            if let Some(options) = web.get("options") {
                *hsts_max_age = self.web_options(&format!("{web_key}.options"), options, limits)?;
            }
            if let Some(paths) = web.get("paths") {
                let paths_key = format!("{web_key}.paths");
                let paths = self.obj(&paths_key, paths)?;
                self.web_paths(&paths_key, &paths, "/", None, &mut out)?;
            }
            web.done();
        }
        if let Some(websocket) = transport.get("websocket") {
            let ws_key = format!("{key}.websocket");
            let paths = self.obj(&ws_key, websocket)?;
            for (name, value) in paths.map {
                let path_key = format!("{ws_key}.{}", quote_key(name));
                // Crossbar's entries carry `"type": "websocket"`, or nothing.
                let options = self.obj(&path_key, value)?;
                options.allow("type");
                let ws = self.websocket(&path_key, &options, false, None)?;
                options.done_except(&["serializers", "options", "auth", "cookie", "url", "debug"]);
                out.push((url_path(name), PathService::WebSocket(Box::new(ws))));
            }
        }
        if let Some(raw) = transport.get("rawsocket") {
            let raw_key = format!("{key}.rawsocket");
            let raw = self.obj(&raw_key, raw)?;
            let mut options = self.websocket(&raw_key, &raw, false, None)?;
            if let Some(n) = raw.u64("max_message_size")? {
                options.max_message_size =
                    self.message_size(&format!("{raw_key}.max_message_size"), n);
            }
            raw.done_except(&["serializers", "options", "auth", "url", "debug"]);
            *rawsocket = Some(Box::new(options));
        }
        Ok(out)
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
            "unix" => return self.unix_endpoint(key, &endpoint).map(Some),
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
            unix: None,
        }))
    }

    /// A `longpoll` path: Crossbar's `options` (timeouts in seconds) and `auth`.
    fn longpoll(&self, key: &str, path: &Obj<'_, '_>) -> Result<LongPollOptions, StartError> {
        let empty = Value::Object(Default::default());
        let mut session = self.websocket(key, &self.obj(key, &empty)?, false, None)?;
        session.serializers = vec!["json".to_string()];
        if let Some(value) = path.get("auth") {
            session.auth = self.auth(&format!("{key}.auth"), value)?;
        }
        let mut out = LongPollOptions {
            session,
            request_timeout_ms: 10_000,
            session_timeout_ms: 30_000,
            queue_limit_bytes: 128 * 1024,
            queue_limit_messages: 100,
            max_transports: 10_000,
            max_transports_per_client: 100,
            open_timeout_ms: 10_000,
        };
        if let Some(options) = path.get("options") {
            let o = self.obj(&format!("{key}.options"), options)?;
            if let Some(s) = o.u64("request_timeout")? {
                out.request_timeout_ms = s.saturating_mul(1000).max(1);
            }
            if let Some(s) = o.u64("session_timeout")? {
                out.session_timeout_ms = s.saturating_mul(1000).max(1);
            }
            if let Some(n) = o.u64("queue_limit_bytes")? {
                out.queue_limit_bytes = usize::try_from(n).unwrap_or(usize::MAX).max(1024);
            }
            if let Some(n) = o.u64("queue_limit_messages")? {
                out.queue_limit_messages = usize::try_from(n).unwrap_or(usize::MAX).max(1);
            }
            let at_least_one = |name: &'static str| -> Result<Option<usize>, StartError> {
                match o.u64(name)? {
                    Some(0) => Err(self.error(
                        &format!("{key}.options.{name}"),
                        "must be at least 1: with 0 no transport could ever open",
                    )),
                    n => Ok(n.map(|n| usize::try_from(n).unwrap_or(usize::MAX))),
                }
            };
            if let Some(n) = at_least_one("max_transports")? {
                out.max_transports = n;
            }
            if let Some(n) = at_least_one("max_transports_per_client")? {
                out.max_transports_per_client = n;
            }
            if let Some(ms) = o.u64("open_handshake_timeout")? {
                out.open_timeout_ms = ms.max(1);
            }
            o.ignore("debug", "use RUST_LOG=debug");
            o.ignore("debug_transport_id", "transport IDs are always random");
            o.done();
        }
        if out.session_timeout_ms < out.request_timeout_ms {
            self.warn(format!(
                "`{key}.options.session_timeout` ({} s) is shorter than `request_timeout` ({} s): a transport would close while its client waits in `receive`; make session_timeout the longer",
                out.session_timeout_ms / 1000,
                out.request_timeout_ms / 1000
            ));
        }
        Ok(out)
    }

    fn unix_endpoint(&self, key: &str, endpoint: &Obj<'_, '_>) -> Result<Endpoint, StartError> {
        let named = endpoint.required_str("path")?;
        let path = self.resolve(&format!("{key}.path"), named);
        let mode = match endpoint.str("mode")? {
            None => 0o666,
            Some(text) => u32::from_str_radix(text, 8)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| {
                    self.error(
                        &format!("{key}.mode"),
                        format!("must be permissions in octal such as \"0660\", not `{text}`"),
                    )
                })?,
        };
        endpoint.ignore("backlog", "the system's default listen backlog is used");
        let tls = match endpoint.get("tls") {
            Some(value) => Some(self.tls(&format!("{key}.tls"), value)?),
            None => None,
        };
        endpoint.done();
        Ok(Endpoint {
            port: 0,
            interface: None,
            tls,
            shared: false,
            unix: Some(UnixEndpoint { path, mode }),
        })
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
        let acme = match tls.get("acme") {
            Some(value) => Some(self.acme(&format!("{key}.acme"), value)?),
            None => None,
        };
        let (key_file, certificate_file) = match &acme {
            Some(acme) => {
                if tls.get("key").is_some() || tls.get("certificate").is_some() {
                    return Err(self.error(
                        &format!("{key}.acme"),
                        "give `acme` or `key` and `certificate`, not both",
                    ));
                }
                // The certificate lives in the cache; errors about it name the cache.
                (acme.cache.clone(), acme.cache.clone())
            }
            None => {
                let missing = |name: &str| {
                    tls.missing(
                        name,
                        "`tls` needs both `key` and `certificate` (PEM files), or `acme`",
                    )
                };
                (
                    file("key")?.ok_or_else(|| missing("key"))?,
                    file("certificate")?.ok_or_else(|| missing("certificate"))?,
                )
            }
        };
        let files = TlsFiles {
            config_file: self.report.file.to_path_buf(),
            json_path: key.to_string(),
            key: key_file,
            certificate: certificate_file,
            chain_certificates: files("chain_certificates")?,
            ca_certificates: files("ca_certificates")?,
            dhparam: file("dhparam")?,
            ciphers: tls.str("ciphers")?.map(str::to_string),
            acme,
        };
        tls.done();
        Ok(files)
    }

    /// A `tls.acme` section (wssnode's own keys).
    fn acme(&self, key: &str, value: &Value) -> Result<AcmeSettings, StartError> {
        let acme = self.obj(key, value)?;
        let names = |name: &'static str| -> Result<Vec<String>, StartError> {
            let mut out = Vec::new();
            for (i, item) in acme.array_or_empty(name)?.iter().enumerate() {
                match item.as_str() {
                    Some(text) if !text.is_empty() => out.push(text.to_string()),
                    _ => {
                        return Err(
                            self.error(&format!("{key}.{name}[{i}]"), "must be a non-empty string")
                        )
                    }
                }
            }
            Ok(out)
        };
        let domains = names("domains")?;
        if domains.is_empty() {
            return Err(acme.missing(
                "domains",
                "name the domains the certificate is for, e.g. [\"example.com\"]",
            ));
        }
        let contact = names("contact")?;
        if let Some(bad) = contact.iter().find(|c| !c.starts_with("mailto:")) {
            return Err(self.error(
                &format!("{key}.contact"),
                format!("`{bad}` is not a `mailto:` address"),
            ));
        }
        let directory = acme.str("directory")?.unwrap_or(LETS_ENCRYPT).to_string();
        if !directory.starts_with("https://") {
            return Err(self.error(&format!("{key}.directory"), "must be an https:// URL (Let's Encrypt's is the default; staging is https://acme-staging-v02.api.letsencrypt.org/directory)"));
        }
        let cache = self.resolve(
            &format!("{key}.cache"),
            acme.str("cache")?.unwrap_or("acme"),
        );
        let http_01 = match acme.str("challenge")? {
            None | Some("tls-alpn-01") => false,
            Some("http-01") => true,
            Some(other) => {
                return Err(self.error(
                    &format!("{key}.challenge"),
                    format!("`{other}` is not a challenge wssnode answers: `tls-alpn-01` (the default) or `http-01`"),
                ))
            }
        };
        let mut directory_ca_certificates = Vec::new();
        for (i, item) in acme
            .array_or_empty("directory_ca_certificates")?
            .iter()
            .enumerate()
        {
            let item_key = format!("{key}.directory_ca_certificates[{i}]");
            let named = item
                .as_str()
                .ok_or_else(|| self.error(&item_key, "must be a PEM file path"))?;
            directory_ca_certificates.push(self.resolve(&item_key, named));
        }
        acme.done();
        Ok(AcmeSettings {
            json_path: key.to_string(),
            domains,
            contact,
            directory,
            cache,
            directory_ca_certificates,
            http_01,
        })
    }

    /// The services of a `paths` object mounted at `prefix`; a `path`-type entry (Crossbar's
    /// nested paths) adds its own `paths` under its name. A websocket path without its own
    /// `auth` takes `default_auth` (the transport's).
    fn web_paths(
        &self,
        key: &str,
        paths: &Obj<'_, '_>,
        prefix: &str,
        default_auth: Option<&Auth>,
        out: &mut Vec<(String, PathService)>,
    ) -> Result<(), StartError> {
        for (name, value) in paths.map {
            let path_key = format!("{key}.{}", quote_key(name));
            let url = match (prefix, url_path(name).as_str()) {
                ("/", own) => own.to_string(),
                (prefix, "/") => prefix.to_string(),
                (prefix, own) => format!("{prefix}{own}"),
            };
            if value.get("type").and_then(Value::as_str) == Some("path") {
                let nested = self.obj(&path_key, value)?;
                nested.allow("type");
                nested.allow("id");
                let inner_key = format!("{path_key}.paths");
                let inner = self.obj(&inner_key, nested.required("paths")?)?;
                nested.done();
                self.web_paths(&inner_key, &inner, &url, default_auth, out)?;
                continue;
            }
            if out.iter().any(|(mounted, _)| *mounted == url) {
                return Err(self.error(
                    &path_key,
                    format!("`{url}` is already mounted by another path; give this one its own"),
                ));
            }
            match self.path_service(&path_key, value)? {
                Some(PathService::WebSocket(mut ws)) if value.get("auth").is_none() => {
                    if let Some(auth) = default_auth {
                        ws.auth = auth.clone();
                    }
                    out.push((url, PathService::WebSocket(ws)));
                }
                Some(service) => out.push((url, service)),
                None => {}
            }
        }
        Ok(())
    }

    fn path_service(&self, key: &str, value: &Value) -> Result<Option<PathService>, StartError> {
        let path = self.obj(key, value)?;
        let service = match path.required_str("type")? {
            "static" => match self.static_path(key, &path)? {
                Some(options) => PathService::Static(options),
                None => return Ok(None),
            },
            "websocket" => {
                PathService::WebSocket(Box::new(self.websocket(key, &path, false, None)?))
            }
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
            "longpoll" => PathService::LongPoll(Box::new(self.longpoll(key, &path)?)),
            "archive" => PathService::Archive(Box::new(self.archive(key, &path)?)),
            "health" => PathService::Health {
                drain_s: path.u64("drain")?.unwrap_or(0),
            },
            "metrics" => {
                let empty = Value::Object(Default::default());
                let options_key = format!("{key}.options");
                let options = self.obj(&options_key, path.get("options").unwrap_or(&empty))?;
                let require_ip = self.ip_networks(&options_key, &options)?;
                options.done();
                PathService::Metrics { require_ip }
            }
            kind @ ("publisher" | "caller" | "webhook") => {
                PathService::Bridge(Box::new(self.bridge(key, kind, &path)?))
            }
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
        if let Some(d) = millis("request_body_timeout")? {
            limits.request_body = d;
        }
        if let Some(d) = millis("send_timeout")? {
            limits.send = d;
        }
        if let Some(n) = options.u64("max_connections")? {
            if n == 0 {
                return Err(options.error(
                    "max_connections",
                    "must be at least 1: with 0 every connection would be refused",
                ));
            }
            limits.max_connections = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = options.u64("max_request_head")? {
            let max = MAX_HEAD;
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
                Some(name) if SERIALIZERS.contains(&name) => {
                    serializers.push(name.to_string())
                }
                Some(other) => self.warn(format!("`{key}.serializers[{i}]`: serializer `{other}` is not offered; wssnode speaks `json`, `msgpack` and `cbor`")),
                None => return Err(self.error(&format!("{key}.serializers[{i}]"), "must be a serializer name such as `json`")),
            }
        }
        if serializers.is_empty() {
            if !obj.array_or_empty("serializers")?.is_empty() {
                return Err(self.error(
                    &format!("{key}.serializers"),
                    "names no serializer wssnode speaks, so no client could connect; list `json`, `msgpack` or `cbor`",
                ));
            }
            serializers = SERIALIZERS.iter().map(|s| s.to_string()).collect();
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
            max_pending_logins: 1_000,
            max_pending_logins_per_client: 50,
            auth: Auth::default(),
            cookie: None,
        };
        if let Some(value) = obj.get("options") {
            let opts = self.obj(&format!("{key}.options"), value)?;
            if let Some(limits) = limits {
                self.limits(&opts, limits)?;
            }
            let size = |name: &'static str| -> Result<Option<usize>, StartError> {
                Ok(opts
                    .u64(name)?
                    .map(|n| self.message_size(&format!("{key}.options.{name}"), n)))
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
            for (name, slot) in [
                ("max_pending_logins", &mut options.max_pending_logins),
                (
                    "max_pending_logins_per_client",
                    &mut options.max_pending_logins_per_client,
                ),
            ] {
                match opts.u64(name)? {
                    Some(0) => {
                        return Err(self.error(
                            &format!("{key}.options.{name}"),
                            "must be at least 1: with 0 no login could ask its authenticator",
                        ))
                    }
                    Some(n) => *slot = usize::try_from(n).unwrap_or(usize::MAX),
                    None => {}
                }
            }
            if let Some(list) = opts.get("allowed_origins") {
                options.allowed_origins = string_list(
                    &self.report,
                    &format!("{key}.options.allowed_origins"),
                    list,
                )?;
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
                    "wssnode keeps its own safe behaviour here (see docs/config.md)",
                );
            }
            opts.done();
        }
        if let Some(value) = obj.get("auth") {
            options.auth = self.auth(&format!("{key}.auth"), value)?;
        } else {
            // Crossbar's default when `auth` is absent: anonymous with role `anonymous`.
            options.auth.anonymous = Some(AuthMethod {
                principals: vec![Principal {
                    authid: String::new(),
                    role: "anonymous".into(),
                    realm: None,
                    credential: Credential::None,
                }],
                authenticator: None,
            });
        }
        if let Some(value) = obj.get("cookie") {
            options.cookie = Some(self.cookie(&format!("{key}.cookie"), value)?);
        }
        Ok(options)
    }
}

/// Crossbar lets several workers share a port (`shared: true`); wssnode is one process and
/// listens once: identical shared endpoints after the first are dropped with a warning.
fn merge_shared_ports(mut routers: Vec<Router>, reader: &Reader<'_>) -> Vec<Router> {
    let mut seen: Vec<(Option<String>, u16)> = Vec::new();
    for router in &mut routers {
        router.transports.retain(|t| {
            let at = (t.endpoint.interface.clone(), t.endpoint.port);
            if t.endpoint.port != 0 && seen.contains(&at) && t.endpoint.shared {
                reader.warn(format!("`{}` shares port {} with an earlier transport; wssnode listens once and serves it there", t.json_path, t.endpoint.port));
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

/// A cluster node's name when the config gives none: the host's name and the process ID,
/// unique among nodes on one machine and across machines.
fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "wssnode".into());
    format!("{host}-{}", std::process::id())
}
