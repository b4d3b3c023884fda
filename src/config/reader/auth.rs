//! Reading `auth` (Crossbar's authentication methods of a WebSocket path) and `cookie`
//! (its cookie tracking).

use super::super::json::quote_key;
use super::super::{
    Auth, AuthMethod, Authenticator, CookieConfig, CraSalt, Credential, PathService, Principal,
    Realm, ScramVerifier, Transport,
};
use super::Reader;
use crate::config::error::StartError;
use serde_json::Value;

/// Default `authenticator-timeout`: an authenticator that takes longer is taken as down.
pub(in crate::config) const AUTHENTICATOR_TIMEOUT_MS: u64 = 5_000;

impl Reader<'_> {
    pub(in crate::config) fn auth(&self, key: &str, value: &Value) -> Result<Auth, StartError> {
        let auth = self.obj(key, value)?;
        let mut out = Auth::default();
        for (method, value) in auth.map {
            let method_key = format!("{key}.{method}");
            if method == "cookie" {
                // Crossbar checks nothing here; `{}` is what its examples write.
                self.obj(&method_key, value)?;
                out.cookie = true;
                continue;
            }
            let slot = match method.as_str() {
                "anonymous" => &mut out.anonymous,
                "ticket" => &mut out.ticket,
                "wampcra" => &mut out.wampcra,
                "cryptosign" => &mut out.cryptosign,
                "scram" => &mut out.scram,
                "tls" => &mut out.tls,
                other => {
                    self.refuse(&method_key, super::super::texts::unsupported_auth(other));
                    continue;
                }
            };
            if let Some(m) = self.auth_method(&method_key, method, value)? {
                *slot = Some(m);
            }
        }
        Ok(out)
    }

    fn auth_method(
        &self,
        key: &str,
        method: &str,
        value: &Value,
    ) -> Result<Option<AuthMethod>, StartError> {
        let config = self.obj(key, value)?;
        let mut out = AuthMethod::default();
        match config.str("type")? {
            Some("static") => {}
            None if method == "anonymous" => {}
            None => return Err(config.missing("type", "`static` or `dynamic`")),
            Some("dynamic") => {
                let procedure = config.required_str("authenticator")?.to_string();
                let realm = config.str("authenticator-realm")?.map(str::to_string);
                let timeout_ms = config
                    .u64("authenticator-timeout")?
                    .unwrap_or(AUTHENTICATOR_TIMEOUT_MS)
                    .max(1);
                // Crossbar's examples name the authenticator's own role; it is `trusted`
                // here whatever they say.
                config.allow("authenticator-role");
                config.done();
                out.authenticator = Some(Authenticator {
                    procedure,
                    realm,
                    timeout_ms,
                });
                return Ok(Some(out));
            }
            Some("function") => {
                self.refuse(&format!("{key}.type"), "`function` authenticators are Python callables inside Crossbar; run yours as a WAMP component and use `\"type\": \"dynamic\"` with `authenticator` naming its procedure");
                return Ok(None);
            }
            Some(other) => {
                return Err(self.error(
                    &format!("{key}.type"),
                    format!("must be `static` or `dynamic`, not `{other}`"),
                ))
            }
        }
        if method == "anonymous" {
            out.principals.push(Principal {
                authid: config.str("authid")?.unwrap_or("").to_string(),
                role: config.str("role")?.unwrap_or("anonymous").to_string(),
                realm: config.str("realm")?.map(str::to_string),
                credential: Credential::None,
            });
            config.done();
            return Ok(Some(out));
        }
        // wampcra calls them `users`; the others `principals`.
        let list_key = if method == "wampcra" {
            "users"
        } else {
            "principals"
        };
        let principals = self.obj(&format!("{key}.{list_key}"), config.required(list_key)?)?;
        for (authid, value) in principals.map {
            let p_key = format!("{key}.{list_key}.{}", quote_key(authid));
            out.principals
                .push(self.principal(&p_key, method, authid, value)?);
        }
        config.done();
        Ok(Some(out))
    }

    fn principal(
        &self,
        key: &str,
        method: &str,
        authid: &str,
        value: &Value,
    ) -> Result<Principal, StartError> {
        let p = self.obj(key, value)?;
        let role = p.required_str("role")?.to_string();
        let realm = p.str("realm")?.map(str::to_string);
        let credential = match method {
            "ticket" => Credential::Ticket(p.required_str("ticket")?.to_string()),
            "wampcra" => {
                let secret = p.required_str("secret")?.to_string();
                let salt = match p.str("salt")? {
                    None => None,
                    Some(salt) => Some(CraSalt {
                        salt: salt.to_string(),
                        iterations: p.u64("iterations")?.unwrap_or(1000),
                        keylen: p.u64("keylen")?.unwrap_or(32),
                    }),
                };
                p.allow("iterations");
                p.allow("keylen");
                Credential::Cra { secret, salt }
            }
            "cryptosign" => {
                let list = p.array("authorized_keys")?;
                let mut keys = Vec::new();
                for (i, item) in list.iter().enumerate() {
                    let k_key = format!("{key}.authorized_keys[{i}]");
                    let hex = item.as_str().map(str::to_ascii_lowercase);
                    match hex {
                        Some(hex) if is_hex(&hex, 64) => keys.push(hex),
                        _ => {
                            return Err(
                                self.error(&k_key, "must be an Ed25519 public key: 64 hex digits")
                            )
                        }
                    }
                }
                Credential::Keys(keys)
            }
            "scram" => Credential::Scram(self.scram_verifier(key, &p)?),
            _ => {
                // tls
                let print = match p.str("certificate-sha1")? {
                    Some(sha1) => sha1,
                    None => p.required_str("certificate-sha256")?,
                };
                Credential::Certificate(print.replace(':', "").to_ascii_lowercase())
            }
        };
        p.done();
        Ok(Principal {
            authid: authid.to_string(),
            role,
            realm,
            credential,
        })
    }

    fn scram_verifier(
        &self,
        key: &str,
        p: &super::super::json::Obj<'_, '_>,
    ) -> Result<ScramVerifier, StartError> {
        let kdf = p.required_str("kdf")?;
        if !["argon2id-13", "pbkdf2"].contains(&kdf) {
            return Err(self.error(
                &format!("{key}.kdf"),
                format!("must be `argon2id-13` or `pbkdf2`, not `{kdf}`"),
            ));
        }
        let iterations = p
            .u64("iterations")?
            .ok_or_else(|| p.missing("iterations", ""))?;
        let memory = p.u64("memory")?.unwrap_or(0);
        if kdf == "argon2id-13" && memory < 8 {
            return Err(self.error(
                &format!("{key}.memory"),
                "argon2id needs `memory` (KiB), at least 8",
            ));
        }
        let salt = p.required_str("salt")?.to_string();
        let mut keys = Vec::new();
        for name in ["stored-key", "server-key"] {
            let text = p.required_str(if name == "stored-key" {
                "stored-key"
            } else {
                "server-key"
            })?;
            keys.push(decode_key(text).ok_or_else(|| {
                self.error(
                    &format!("{key}.{name}"),
                    "must be 32 bytes in hex or base64",
                )
            })?);
        }
        let server_key = keys.pop().unwrap_or_default();
        let stored_key = keys.pop().unwrap_or_default();
        Ok(ScramVerifier {
            kdf: kdf.to_string(),
            iterations,
            memory,
            salt,
            stored_key,
            server_key,
        })
    }

    /// Crossbar's `cookie` of a WebSocket transport or path.
    pub(in crate::config) fn cookie(
        &self,
        key: &str,
        value: &Value,
    ) -> Result<CookieConfig, StartError> {
        let c = self.obj(key, value)?;
        let mut out = CookieConfig::default();
        if let Some(name) = c.str("name")? {
            let ok = name.len() >= 2
                && name.starts_with(|ch: char| ch.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if !ok {
                return Err(self.error(
                    &format!("{key}.name"),
                    "must be lower-case letters, digits and `_`, starting with a letter",
                ));
            }
            out.name = name.to_string();
        }
        if let Some(length) = c.u64("length")? {
            if !(6..=64).contains(&length) {
                return Err(self.error(&format!("{key}.length"), "must be from 6 to 64"));
            }
            out.length = length as usize;
        }
        if let Some(max_age) = c.u64("max_age")? {
            if max_age == 0 || max_age > 86_400 * 360 * 10 {
                return Err(self.error(
                    &format!("{key}.max_age"),
                    "must be from 1 to 311040000 seconds",
                ));
            }
            out.max_age = max_age;
        }
        out.secure = c.bool("secure")?;
        if let Some(strict) = c.bool("http_strict")? {
            out.http_strict = strict;
        }
        if let Some(same_site) = c.str("same_site")? {
            if !["Strict", "Lax", "None"].contains(&same_site) {
                return Err(self.error(
                    &format!("{key}.same_site"),
                    format!("must be `Strict`, `Lax` or `None`, not `{same_site}`"),
                ));
            }
            out.same_site = Some(same_site.to_string());
        }
        if let Some(n) = c.count("max_cookies", "no cookie could be kept")? {
            out.max_cookies = n;
        }
        if let Some(store) = c.get("store") {
            let s_key = format!("{key}.store");
            let store = self.obj(&s_key, store)?;
            match store.required_str("type")? {
                "memory" => {}
                "file" => {
                    let named = store.required_str("filename")?;
                    out.file = Some(self.resolve(&format!("{s_key}.filename"), named).path);
                    out.purge_on_startup = store.bool("purge_on_startup")?.unwrap_or(false);
                }
                "database" => {
                    return Err(self.error(&format!("{s_key}.type"), "the `database` store (LMDB) is not offered; use `file`, which keeps cookies across restarts"));
                }
                other => {
                    return Err(self.error(
                        &format!("{s_key}.type"),
                        format!("must be `memory` or `file`, not `{other}`"),
                    ))
                }
            }
            store.done();
        }
        c.done();
        Ok(out)
    }
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A 32-byte key written in hex or in base64.
fn decode_key(text: &str) -> Option<Vec<u8>> {
    let bytes = if is_hex(text, 64) {
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.as_bytes())
            .ok()?
    } else {
        data_encoding::BASE64.decode(text.as_bytes()).ok()?
    };
    (bytes.len() == 32).then_some(bytes)
}

impl Reader<'_> {
    /// Warns of each static principal whose role no realm of its router has: it could
    /// never log in (the login is refused with `wamp.error.no_such_role`).
    pub(in crate::config) fn check_principal_roles(
        &self,
        realms: &[Realm],
        transports: &[Transport],
    ) {
        if realms.is_empty() {
            return;
        }
        for transport in transports {
            let paths = transport
                .paths
                .iter()
                .filter_map(|(path, service)| match service {
                    PathService::WebSocket(o) => Some((path.as_str(), &o.auth)),
                    PathService::LongPoll(o) => Some((path.as_str(), &o.session.auth)),
                    _ => None,
                });
            let rawsocket = transport
                .rawsocket
                .as_deref()
                .map(|o| ("rawsocket", &o.auth));
            for (path, auth) in paths.chain(rawsocket) {
                for (name, method) in auth.by_name() {
                    let principals = method.iter().flat_map(|m| &m.principals);
                    for p in principals {
                        let has_role = |r: &Realm| r.roles.iter().any(|role| role.name == p.role);
                        let found = match &p.realm {
                            Some(name) => realms.iter().filter(|r| &r.name == name).any(has_role),
                            None => realms.iter().any(has_role),
                        };
                        if !found {
                            let who = if p.authid.is_empty() {
                                "its anonymous principal".to_string()
                            } else {
                                format!("principal `{}`", p.authid)
                            };
                            self.warn(format!("`{}` path `{path}`, auth `{name}`: {who} has role `{}`, which no realm of this worker defines; its logins will be refused (wamp.error.no_such_role)", transport.json_path, p.role));
                        }
                    }
                }
            }
        }
    }
}
