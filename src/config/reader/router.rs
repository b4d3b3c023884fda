//! Reading a router worker's realms (roles, permissions, the event store) and wssnode's
//! `cluster` section.

use super::super::*;
use super::Reader;

impl Reader<'_> {
    /// wssnode's `cluster` section: `type` `redis`, `url`, `node`, `password_env`, `lease`,
    /// `max_queued_bytes`.
    pub(in crate::config) fn cluster(
        &self,
        key: &str,
        value: &Value,
    ) -> Result<Cluster, StartError> {
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

    pub(in crate::config) fn realm(&self, key: &str, value: &Value) -> Result<Realm, StartError> {
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
    pub(in crate::config) fn store(
        &self,
        key: &str,
        value: &Value,
    ) -> Result<Vec<HistoryTopic>, StartError> {
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

    pub(in crate::config) fn role(&self, key: &str, value: &Value) -> Result<Role, StartError> {
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

    pub(in crate::config) fn permission(
        &self,
        key: &str,
        value: &Value,
    ) -> Result<Permission, StartError> {
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
