//! Authentication (spec "Authentication"; Crossbar's `auth` of a WebSocket path). This
//! module decides and `wamp::session` carries out: a HELLO becomes a `Step` (welcome,
//! challenge, ask the authenticator, or refuse), and so does an AUTHENTICATE or an
//! authenticator's answer.
//!
//! The client's `authmethods` are tried in its order, and the first one this path has
//! decides, as in Crossbar. A failure of credentials is the same ABORT whatever was wrong
//! (`wamp.error.not_authorized`, "authentication failed"), and an unknown authid is
//! challenged too, so the answer to a HELLO does not say whether it exists (a decoy
//! challenge shows no real role or salt, which a careful client could notice); the log
//! line (info) says what was wrong, for the operator.

mod cra;
pub(crate) mod crypto;
mod cryptosign;
pub(crate) mod decoy;
mod dynamic;
mod scram;

use crate::config::{Auth, AuthMethod, Credential, Principal, ScramVerifier};
use crate::runtime::lifecycle::ConnInfo;
use crate::wamp::cookies::CookieStore;
use crate::wamp::uri::error;
use serde_json::{json, Map, Value};

pub(crate) use dynamic::{answered, Ask, Then};

/// Who a session is, once authenticated.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `authid`
    pub authid: String,
    /// `authrole`
    pub authrole: String,
    /// `authmethod`
    pub authmethod: &'static str,
    /// `authprovider`: `static` (the config), `dynamic` (an authenticator) or `cookie`.
    pub authprovider: &'static str,
    /// `authextra` of WELCOME, when the method or the authenticator gives one.
    pub authextra: Option<Value>,
}

/// What the router knows of a HELLO.
pub(crate) struct Hello<'a> {
    /// The realm asked for.
    pub realm: &'a str,
    /// HELLO.Details.
    pub details: &'a Map<String, Value>,
    /// The connection.
    pub conn: &'a ConnInfo,
    /// The ID the session will have (it is in the WAMP-CRA challenge).
    pub session: u64,
    /// Crossbar's transport details, for authenticators: built only when one is asked.
    pub transport: &'a dyn Fn() -> Value,
    /// The connection's tracked cookie and its store, when cookie auth is on: looked up
    /// only when the client offers `cookie`.
    pub cookie: Option<(&'a CookieStore, &'a str)>,
}

impl Hello<'_> {
    fn authid(&self) -> Option<&str> {
        self.details.get("authid").and_then(Value::as_str)
    }

    fn authextra(&self) -> Option<&Map<String, Value>> {
        self.details.get("authextra").and_then(Value::as_object)
    }

    fn extra_str(&self, key: &str) -> Option<&str> {
        self.authextra()?.get(key)?.as_str()
    }

    /// The `details` an authenticator is called with (Crossbar's `_session_details`).
    fn authenticator_details(&self, method: &str, more: &[(&str, Value)]) -> Value {
        let mut details = Map::new();
        details.insert("transport".into(), (self.transport)());
        details.insert("session".into(), json!(self.session));
        details.insert("authmethod".into(), json!(method));
        details.insert(
            "authextra".into(),
            self.authextra().cloned().map_or(Value::Null, Value::Object),
        );
        for (key, value) in more {
            details.insert(key.to_string(), value.clone());
        }
        Value::Object(details)
    }
}

/// What to do next.
pub(crate) enum Step {
    /// Authenticated: join the realm and send WELCOME.
    Welcome(Identity),
    /// Send CHALLENGE and wait for AUTHENTICATE.
    Challenge {
        method: &'static str,
        extra: Value,
        pending: Pending,
    },
    /// Call the authenticator, then go on with `answered`.
    Ask(Ask),
    /// Send ABORT.
    Refuse(Refusal),
}

/// An ABORT, and the reason to log.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub reason: String,
    pub message: String,
    /// For the operator's log: what exactly was wrong.
    pub why: String,
}

/// The ABORT every failure of credentials gets.
fn failed(why: impl Into<String>) -> Step {
    Step::Refuse(Refusal {
        reason: error::NOT_AUTHORIZED.into(),
        message: "authentication failed".into(),
        why: why.into(),
    })
}

/// What is remembered between CHALLENGE and AUTHENTICATE.
pub(crate) enum Pending {
    /// Ticket: the ticket is checked (static) or given to the authenticator (dynamic, which
    /// may name the authid when the HELLO did not).
    Ticket { authid: Option<String> },
    /// WAMP-CRA: the signature expected.
    Cra {
        identity: Identity,
        expected: String,
    },
    /// Cryptosign: the key and the challenge it must sign.
    Cryptosign {
        identity: Identity,
        pubkey: String,
        challenge: [u8; 32],
    },
    /// SCRAM: the exchange so far.
    Scram {
        identity: Identity,
        exchange: scram::Exchange,
    },
    /// An authid that is not there, challenged anyway: any answer fails.
    Fail { why: String },
}

/// The `authmethods` of a HELLO, anonymous when it names none (the spec's default).
fn offered(details: &Map<String, Value>) -> Vec<&str> {
    match details.get("authmethods") {
        Some(Value::Array(methods)) => methods.iter().filter_map(Value::as_str).collect(),
        None => vec!["anonymous"],
        // Anything else is no list of methods: never read as "anonymous", which would let
        // in a client that asked for something else.
        Some(_) => Vec::new(),
    }
}

/// Chooses and starts an authentication method for a HELLO.
pub(crate) fn hello(auth: &Auth, h: &Hello<'_>) -> Step {
    let offered = offered(h.details);
    if offered.is_empty() {
        return Step::Refuse(Refusal {
            reason: error::PROTOCOL_VIOLATION.into(),
            message:
                "HELLO.Details.authmethods must be a list of method names, such as [\"ticket\"]"
                    .into(),
            why: "authmethods is not a list of strings".into(),
        });
    }
    // A cookie bound by an earlier login is enough, wherever the client lists `cookie`.
    if auth.cookie && offered.contains(&"cookie") {
        let binding = h.cookie.and_then(|(store, value)| store.binding(value));
        if let Some(binding) = binding.filter(|b| b.authrealm == h.realm) {
            return Step::Welcome(Identity {
                authid: binding.authid.clone(),
                authrole: binding.authrole.clone(),
                authmethod: method_name(&binding.authmethod),
                authprovider: "cookie",
                authextra: binding.authextra.clone(),
            });
        }
    }
    for method in &offered {
        let step = match *method {
            "anonymous" => auth.anonymous.as_ref().map(|m| anonymous(m, h)),
            "ticket" => auth.ticket.as_ref().map(|m| ticket(m, h)),
            "wampcra" => auth.wampcra.as_ref().map(|m| wampcra(m, h)),
            "cryptosign" => auth.cryptosign.as_ref().map(|m| cryptosign(m, h)),
            "scram" => auth.scram.as_ref().map(|m| scram(m, h)),
            "tls" => auth.tls.as_ref().map(|m| tls(m, h)),
            _ => None,
        };
        if let Some(step) = step {
            return step;
        }
    }
    if auth.cookie && offered.contains(&"cookie") {
        // Crossbar's URI (no method it could use), with a message that does not contradict
        // itself by listing `cookie` as accepted.
        return Step::Refuse(Refusal {
            reason: error::NO_AUTH_METHOD.into(),
            message: "this connection's cookie is not bound to a login in this realm; offer another method beside cookie to log in".into(),
            why: "an unknown or unbound cookie".into(),
        });
    }
    Step::Refuse(Refusal {
        reason: error::NO_AUTH_METHOD.into(),
        message: format!(
            "none of the authentication methods offered ({}) is accepted here; this transport accepts: {}",
            offered.join(", "),
            auth.methods().join(", ")
        ),
        why: "no method in common".into(),
    })
}

/// The static name of a method stored as text (a cookie's binding).
fn method_name(name: &str) -> &'static str {
    match name {
        "anonymous" => "anonymous",
        "ticket" => "ticket",
        "wampcra" => "wampcra",
        "cryptosign" => "cryptosign",
        "scram" => "scram",
        "tls" => "tls",
        _ => "cookie",
    }
}

/// A principal with a `realm` may join only that realm.
fn may_join(principal: &Principal, realm: &str) -> bool {
    principal.realm.as_deref().is_none_or(|r| r == realm)
}

fn by_authid<'m>(method: &'m AuthMethod, authid: &str) -> Option<&'m Principal> {
    method.principals.iter().find(|p| p.authid == authid)
}

fn identity(authid: &str, role: &str, method: &'static str, provider: &'static str) -> Identity {
    Identity {
        authid: authid.to_string(),
        authrole: role.to_string(),
        authmethod: method,
        authprovider: provider,
        authextra: None,
    }
}

fn anonymous(method: &AuthMethod, h: &Hello<'_>) -> Step {
    // Crossbar gives a guest a fresh authid, whatever HELLO says.
    let fresh = random_authid();
    if let Some(authenticator) = &method.authenticator {
        let details = h.authenticator_details("anonymous", &[]);
        return Ask::step(authenticator, h, Some(&fresh), details, Then::Anonymous);
    }
    let Some(principal) = method.principals.first() else {
        return failed("anonymous has no role");
    };
    if !may_join(principal, h.realm) {
        return failed(format!(
            "anonymous may join only realm `{}`",
            principal.realm.as_deref().unwrap_or("")
        ));
    }
    let authid = if principal.authid.is_empty() {
        fresh
    } else {
        principal.authid.clone()
    };
    let mut id = identity(&authid, &principal.role, "anonymous", "static");
    id.authextra = h.authextra().cloned().map(Value::Object);
    Step::Welcome(id)
}

/// A static method needs the authid to find its principal; a dynamic authenticator may
/// name it from the credentials instead (as in Crossbar).
fn needs_authid(name: &str) -> Step {
    Step::Refuse(Refusal {
        reason: error::NOT_AUTHORIZED.into(),
        message: format!("{name} authentication needs an authid in HELLO.Details"),
        why: "no authid".into(),
    })
}

fn ticket(method: &AuthMethod, h: &Hello<'_>) -> Step {
    let authid = h.authid();
    if authid.is_none() && method.authenticator.is_none() {
        return needs_authid("ticket");
    }
    Step::Challenge {
        method: "ticket",
        extra: json!({}),
        pending: Pending::Ticket {
            authid: authid.map(str::to_string),
        },
    }
}

fn wampcra(method: &AuthMethod, h: &Hello<'_>) -> Step {
    if let Some(authenticator) = &method.authenticator {
        let authid = h.authid();
        let more = [
            ("authid", json!(authid)),
            (
                "authrole",
                h.details.get("authrole").cloned().unwrap_or(Value::Null),
            ),
        ];
        let details = h.authenticator_details("wampcra", &more);
        return Ask::step(authenticator, h, authid, details, Then::Cra);
    }
    let Some(authid) = h.authid() else {
        return needs_authid("WAMP-CRA");
    };
    match by_authid(method, authid) {
        Some(
            p @ Principal {
                credential: Credential::Cra { secret, salt },
                ..
            },
        ) if may_join(p, h.realm) => {
            let id = identity(authid, &p.role, "wampcra", "static");
            cra_challenge(id, secret, salt.as_ref(), h)
        }
        Some(_) => cra_decoy(
            method,
            authid,
            h,
            format!("user `{authid}` may not join realm `{}`", h.realm),
        ),
        None => cra_decoy(method, authid, h, format!("no user `{authid}`")),
    }
}

fn cra_challenge(
    identity: Identity,
    secret: &str,
    salt: Option<&crate::config::CraSalt>,
    h: &Hello<'_>,
) -> Step {
    let challenge = cra::challenge(
        &identity.authid,
        &identity.authrole,
        identity.authprovider,
        h.session,
        &crate::runtime::time::now_millis_z(),
    );
    let expected = cra::signature(secret, salt, &challenge);
    let mut extra = json!({"challenge": challenge});
    if let Some(s) = salt {
        extra["salt"] = json!(s.salt);
        extra["iterations"] = json!(s.iterations);
        extra["keylen"] = json!(s.keylen);
    }
    Step::Challenge {
        method: "wampcra",
        extra,
        pending: Pending::Cra { identity, expected },
    }
}

/// A challenge for an authid that cannot log in, which looks like any other: the same
/// keys, a salt of its own that stays the same (`decoy`), no answer that passes.
fn cra_decoy(method: &AuthMethod, authid: &str, h: &Hello<'_>, why: String) -> Step {
    let id = identity(authid, &decoy::role(method), "wampcra", "static");
    let salt = decoy::cra_salt(method, authid);
    let secret = crate::wamp::auth::crypto::random_text(32);
    match cra_challenge(id, &secret, salt.as_ref(), h) {
        Step::Challenge { method, extra, .. } => Step::Challenge {
            method,
            extra,
            pending: Pending::Fail { why },
        },
        other => other,
    }
}

fn cryptosign(method: &AuthMethod, h: &Hello<'_>) -> Step {
    if let Some(binding) = h
        .authextra()
        .and_then(|e| e.get("channel_binding"))
        .filter(|b| !b.is_null())
    {
        return Step::Refuse(Refusal {
            reason: error::NOT_AUTHORIZED.into(),
            message: format!("channel binding {binding} is not offered here: TLS 1.3 has no tls-unique, and this router does not speak another; connect without channel_binding"),
            why: format!("channel binding {binding} asked for"),
        });
    }
    let pubkey = h.extra_str("pubkey").map(str::to_ascii_lowercase);
    let authid = h.authid();
    if let Some(authenticator) = &method.authenticator {
        let more = [
            ("authid", json!(authid)),
            (
                "authrole",
                h.details.get("authrole").cloned().unwrap_or(Value::Null),
            ),
        ];
        let details = h.authenticator_details("cryptosign", &more);
        return Ask::step(authenticator, h, authid, details, Then::Cryptosign);
    }
    let Some(pubkey) = pubkey.filter(|k| cryptosign::decode_key(k).is_some()) else {
        return failed("no valid authextra.pubkey (64 hex digits) in HELLO");
    };
    let holds =
        |p: &&Principal| matches!(&p.credential, Credential::Keys(keys) if keys.contains(&pubkey));
    let principal = match authid {
        Some(authid) => by_authid(method, authid).filter(holds),
        None => {
            let mut holders = method.principals.iter().filter(holds);
            match (holders.next(), holders.next()) {
                (Some(p), None) => Some(p),
                _ => None,
            }
        }
    };
    match principal {
        Some(p) if may_join(p, h.realm) => {
            let id = identity(&p.authid, &p.role, "cryptosign", "static");
            cryptosign_challenge(id, pubkey)
        }
        Some(p) => cryptosign_decoy(format!("`{}` may not join realm `{}`", p.authid, h.realm)),
        None => cryptosign_decoy(format!(
            "no principal {} holds key {pubkey}",
            authid.map(|a| format!("`{a}`")).unwrap_or_default()
        )),
    }
}

fn cryptosign_challenge(identity: Identity, pubkey: String) -> Step {
    let (challenge, hex) = cryptosign::challenge();
    Step::Challenge {
        method: "cryptosign",
        extra: json!({"challenge": hex, "channel_binding": null}),
        pending: Pending::Cryptosign {
            identity,
            pubkey,
            challenge,
        },
    }
}

fn cryptosign_decoy(why: String) -> Step {
    let (_, hex) = cryptosign::challenge();
    Step::Challenge {
        method: "cryptosign",
        extra: json!({"challenge": hex, "channel_binding": null}),
        pending: Pending::Fail { why },
    }
}

fn scram(method: &AuthMethod, h: &Hello<'_>) -> Step {
    let (Some(authid), Some(nonce)) = (h.authid(), h.extra_str("nonce")) else {
        return Step::Refuse(Refusal {
            reason: error::NOT_AUTHORIZED.into(),
            message: "SCRAM needs an authid and authextra.nonce in HELLO.Details".into(),
            why: "no authid or nonce".into(),
        });
    };
    if let Some(authenticator) = &method.authenticator {
        let details = h.authenticator_details("scram", &[]);
        return Ask::step(authenticator, h, Some(authid), details, Then::Scram);
    }
    match by_authid(method, authid) {
        Some(
            p @ Principal {
                credential: Credential::Scram(verifier),
                ..
            },
        ) if may_join(p, h.realm) => {
            let id = identity(authid, &p.role, "scram", "static");
            scram_challenge(id, nonce, verifier, None)
        }
        Some(_) => scram_decoy(
            method,
            authid,
            nonce,
            format!("`{authid}` may not join realm `{}`", h.realm),
        ),
        None => scram_decoy(method, authid, nonce, format!("no principal `{authid}`")),
    }
}

fn scram_challenge(
    identity: Identity,
    nonce: &str,
    verifier: &ScramVerifier,
    why: Option<String>,
) -> Step {
    match scram::challenge(&identity.authid, nonce, verifier) {
        Err(problem) => failed(problem),
        Ok((extra, exchange)) => Step::Challenge {
            method: "scram",
            extra,
            pending: match why {
                Some(why) => Pending::Fail { why },
                None => Pending::Scram { identity, exchange },
            },
        },
    }
}

fn scram_decoy(method: &AuthMethod, authid: &str, nonce: &str, why: String) -> Step {
    let verifier = decoy::scram_verifier(method, authid);
    scram_challenge(
        identity(authid, "", "scram", "static"),
        nonce,
        &verifier,
        Some(why),
    )
}

/// The identity is the certificate the connection presented, never what the client says.
fn tls(method: &AuthMethod, h: &Hello<'_>) -> Step {
    let Some((sha1, sha256)) = &h.conn.client_cert else {
        return failed("no TLS client certificate");
    };
    if let Some(authenticator) = &method.authenticator {
        let details = h.authenticator_details("tls", &[]);
        return Ask::step(authenticator, h, h.authid(), details, Then::Tls);
    }
    let principal = method.principals.iter().find(|p| {
        matches!(&p.credential, Credential::Certificate(print)
            if crypto::equal(print.as_bytes(), sha1.as_bytes()) || crypto::equal(print.as_bytes(), sha256.as_bytes()))
    });
    match principal {
        Some(p) if h.authid().is_none_or(|c| c == p.authid) && may_join(p, h.realm) => {
            Step::Welcome(identity(&p.authid, &p.role, "tls", "static"))
        }
        Some(p) => failed(format!(
            "certificate of `{}`, but another authid or realm asked for",
            p.authid
        )),
        None => failed(format!("no principal has certificate {sha256}")),
    }
}

/// Checks an AUTHENTICATE against what the CHALLENGE asked.
pub(crate) fn authenticate(auth: &Auth, h: &Hello<'_>, pending: Pending, signature: &str) -> Step {
    match pending {
        Pending::Fail { why } => failed(why),
        Pending::Ticket { authid } => {
            let Some(method) = &auth.ticket else {
                return failed("ticket is not configured");
            };
            if let Some(authenticator) = &method.authenticator {
                let details = h.authenticator_details("ticket", &[("ticket", json!(signature))]);
                return Ask::step(authenticator, h, authid.as_deref(), details, Then::Ticket);
            }
            let Some(authid) = authid else {
                return failed("no authid");
            };
            // Every principal is compared, so timing does not tell which authids exist.
            let mut found = None;
            for p in &method.principals {
                if let Credential::Ticket(ticket) = &p.credential {
                    if crypto::equal(ticket.as_bytes(), signature.as_bytes()) && p.authid == authid
                    {
                        found = Some(p);
                    }
                }
            }
            match found {
                Some(p) if may_join(p, h.realm) => {
                    let mut id = identity(&authid, &p.role, "ticket", "static");
                    id.authextra = h.authextra().cloned().map(Value::Object);
                    Step::Welcome(id)
                }
                Some(_) => failed(format!("`{authid}` may not join realm `{}`", h.realm)),
                None => failed(format!("wrong ticket for `{authid}`, or no such principal")),
            }
        }
        Pending::Cra { identity, expected } => {
            if crypto::equal(expected.as_bytes(), signature.as_bytes()) {
                Step::Welcome(identity)
            } else {
                failed(format!(
                    "wrong WAMP-CRA signature for `{}`",
                    identity.authid
                ))
            }
        }
        Pending::Cryptosign {
            identity,
            pubkey,
            challenge,
        } => match cryptosign::check(&pubkey, &challenge, signature) {
            Ok(()) => Step::Welcome(identity),
            Err(why) => failed(format!("cryptosign for `{}`: {why}", identity.authid)),
        },
        Pending::Scram {
            mut identity,
            exchange,
        } => match scram::check(&exchange, signature) {
            Ok(server_signature) => {
                let mut extra = match identity.authextra.take() {
                    Some(Value::Object(map)) => map,
                    _ => Map::new(),
                };
                extra.insert("scram_server_signature".into(), json!(server_signature));
                identity.authextra = Some(Value::Object(extra));
                Step::Welcome(identity)
            }
            Err(why) => failed(format!("SCRAM for `{}`: {why}", identity.authid)),
        },
    }
}

/// A guest's authid, in Crossbar's form (`XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`).
fn random_authid() -> String {
    const ALPHABET: &[u8] = b"345679ACEFGHJKLMNPQRSTUVWXY";
    let bytes = crypto::random_bytes::<24>();
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}
