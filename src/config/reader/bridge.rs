//! Reading the HTTP bridge's path types (`publisher`, `caller`, `webhook`) with the keys
//! Crossbar's config checker allows, and checking that their realm and role exist.

use super::super::json::{string_list, Obj};
use super::super::{BridgeKind, BridgeOptions, IpNet, PathService, Realm, Transport};
use super::Reader;
use crate::config::error::StartError;

/// The largest `post_body_limit` Crossbar's checker allows, and ours when it says 0.
const BODY_LIMIT_MAX: u64 = 1 << 20;

impl Reader<'_> {
    pub(in crate::config) fn bridge(
        &self,
        key: &str,
        kind: &str,
        path: &Obj<'_, '_>,
    ) -> Result<BridgeOptions, StartError> {
        path.allow("id");
        let empty = serde_json::Value::Object(Default::default());
        let options_key = format!("{key}.options");
        let options = match path.get("options") {
            Some(value) => self.obj(&options_key, value)?,
            None if kind == "webhook" => {
                return Err(path.missing("options", "a webhook needs `options.topic`"))
            }
            None => self.obj(&options_key, &empty)?,
        };
        let mut out = BridgeOptions {
            json_path: key.to_string(),
            kind: BridgeKind::Publisher,
            realm: path.required_str("realm")?.to_string(),
            role: path.required_str("role")?.to_string(),
            key: None,
            secret: None,
            post_body_limit: BODY_LIMIT_MAX as usize,
            timestamp_delta_limit_s: 300,
            require_ip: Vec::new(),
            require_tls: false,
            call_timeout_ms: 60_000,
            max_calls_per_client: 100,
        };
        if let Some(n) = options.u64("post_body_limit")? {
            if n > BODY_LIMIT_MAX {
                return Err(self.error(
                    &format!("{options_key}.post_body_limit"),
                    format!(
                        "must be at most {BODY_LIMIT_MAX} (1 MiB), as in Crossbar; 0 means that"
                    ),
                ));
            }
            out.post_body_limit = if n == 0 { BODY_LIMIT_MAX } else { n } as usize;
        }
        options.ignore(
            "debug",
            "every refused request is logged; use --log-level debug for more",
        );
        out.kind = match kind {
            "publisher" => BridgeKind::Publisher,
            "caller" => {
                if let Some(ms) = options.u64("call_timeout")? {
                    out.call_timeout_ms = ms.max(1);
                }
                if let Some(n) = options.count("max_calls_per_client", "no call is ever made")? {
                    out.max_calls_per_client = n;
                }
                BridgeKind::Caller
            }
            _ => {
                let text = |name: &'static str, default: &str| -> Result<String, StartError> {
                    Ok(options.str(name)?.unwrap_or(default).to_string())
                };
                let topic = options.str("topic")?.ok_or_else(|| {
                    options.missing("topic", "the webhook publishes every request to it")
                })?;
                if !crate::config::MatchPolicy::Exact.admits(topic) {
                    return Err(options.error(
                        "topic",
                        format!("`{topic}` is not a valid topic URI, so the webhook could publish nothing"),
                    ));
                }
                BridgeKind::Webhook {
                    topic: topic.to_string(),
                    success_response: text("success_response", "OK")?,
                    error_response: text("error_response", "NOT OK")?,
                    drop_headers: match options.get("drop_headers") {
                        None => Vec::new(),
                        Some(list) => {
                            string_list(&self.report, &format!("{options_key}.drop_headers"), list)?
                                .iter()
                                .map(|name| name.to_ascii_lowercase())
                                .collect()
                        }
                    },
                    github_secret: options
                        .str("github_secret")?
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                }
            }
        };
        // On all three types (Crossbar's checker allows them on publisher and caller only,
        // but its request handler applies them to webhooks too).
        {
            out.key = options.str("key")?.map(str::to_string);
            out.secret = options.str("secret")?.map(str::to_string);
            if out.secret.is_some() && out.key.is_none() {
                return Err(options.missing(
                    "key",
                    "signed requests name their key; set both `key` and `secret`",
                ));
            }
            if let Some(n) = options.u64("timestamp_delta_limit")? {
                if n > 86_400 {
                    return Err(self.error(
                        &format!("{options_key}.timestamp_delta_limit"),
                        "must be at most 86400 (seconds), as in Crossbar",
                    ));
                }
                out.timestamp_delta_limit_s = n;
            }
            out.require_tls = options.bool("require_tls")?.unwrap_or(false);
            out.require_ip = self.ip_networks(&options_key, &options)?;
        }
        options.done();
        path.done_except(&["options"]);
        Ok(out)
    }

    /// `require_ip` of `options` (at `key`): the networks a request must come from.
    pub(in crate::config) fn ip_networks(
        &self,
        key: &str,
        options: &Obj<'_, '_>,
    ) -> Result<Vec<IpNet>, StartError> {
        let mut out = Vec::new();
        for (i, net) in options.array_or_empty("require_ip")?.iter().enumerate() {
            let net_key = format!("{key}.require_ip[{i}]");
            let text = net.as_str().ok_or_else(|| {
                self.error(&net_key, "must be an IP network such as \"10.0.0.0/8\"")
            })?;
            let mut net = IpNet::parse(text).map_err(|problem| self.error(&net_key, problem))?;
            // Crossbar (Python's strict `ip_network`) fails to start on these, though
            // three of its own examples write one; the meaning is plain.
            if let Some(first) = net.host_bits_cleared() {
                self.warn(format!(
                    "`{net_key}`: `{text}` has host bits set; taken as {first}/{}",
                    net.prefix
                ));
                net.addr = first;
            }
            out.push(net);
        }
        Ok(out)
    }

    /// Every bridge path's realm and role must exist in its router worker.
    pub(in crate::config) fn check_bridges(
        &self,
        realms: &[Realm],
        transports: &[Transport],
    ) -> Result<(), StartError> {
        let bridges = transports
            .iter()
            .flat_map(|t| &t.paths)
            .filter_map(|(_, p)| match p {
                PathService::Bridge(b) => Some(b),
                _ => None,
            });
        for bridge in bridges {
            let Some(realm) = realms.iter().find(|r| r.name == bridge.realm) else {
                return Err(self.error(
                    &format!("{}.realm", bridge.json_path),
                    format!(
                        "realm `{}` is not defined in this worker's `realms`",
                        bridge.realm
                    ),
                ));
            };
            let Some(role) = realm.roles.iter().find(|r| r.name == bridge.role) else {
                return Err(self.error(
                    &format!("{}.role", bridge.json_path),
                    format!("realm `{}` has no role `{}`", bridge.realm, bridge.role),
                ));
            };
            if role.authorizer.is_some() {
                return Err(self.error(
                    &format!("{}.role", bridge.json_path),
                    format!("role `{}` has a dynamic authorizer; the bridge needs a role with `permissions` (its requests are not put to an authorizer)", bridge.role),
                ));
            }
        }
        Ok(())
    }
}
