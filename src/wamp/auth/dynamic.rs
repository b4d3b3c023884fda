//! Dynamic authenticators (Crossbar's `"type": "dynamic"`): the router calls the
//! application's procedure with `(realm, authid, details)` and reads its answer, a role
//! or a dict (`role`, `authid`, `realm`, `extra`, and what the method needs: `secret` for
//! WAMP-CRA, `pubkey` for cryptosign, the verifier for SCRAM).

use super::{
    cra_challenge, cryptosign, cryptosign_challenge, failed, identity, scram_challenge, Hello,
    Identity, Refusal, Step,
};
use crate::config::{Authenticator, CraSalt, ScramVerifier};
use crate::wamp::service::{CallError, Reply};
use crate::wamp::uri::error;
use serde_json::{json, Map, Value};

/// A call to make to an authenticator, and what its answer is for.
pub(crate) struct Ask {
    pub authenticator: Authenticator,
    pub args: Vec<Value>,
    pub then: Then,
    /// What the HELLO said that the answer is read with.
    pub claimed_authid: Option<String>,
    pub nonce: Option<String>,
}

/// The method an authenticator's answer completes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Then {
    Anonymous,
    Ticket,
    Cra,
    Cryptosign,
    Scram,
    Tls,
}

impl Ask {
    /// The step that asks `authenticator` about a HELLO.
    pub(super) fn step(
        authenticator: &Authenticator,
        h: &Hello<'_>,
        authid: Option<&str>,
        details: Value,
        then: Then,
    ) -> Step {
        Step::Ask(Ask {
            authenticator: authenticator.clone(),
            args: vec![json!(h.realm), json!(authid), details],
            then,
            claimed_authid: authid.map(str::to_string),
            nonce: h.extra_str("nonce").map(str::to_string),
        })
    }
}

/// The next step, from an authenticator's answer.
pub(crate) fn answered(ask: Ask, h: &Hello<'_>, answer: Result<Reply, CallError>) -> Step {
    let procedure = &ask.authenticator.procedure;
    let reply = match answer {
        Ok(reply) => reply,
        Err(CallError::Error { uri, .. }) if uri == error::NO_SUCH_PROCEDURE => {
            return refuse(
                error::AUTHENTICATION_FAILED,
                "no authenticator is running; try again later",
                format!("authenticator `{procedure}` is not registered; start the component that registers it"),
            )
        }
        // The dealer ends a call that outlives its timeout as canceled.
        Err(CallError::Error { uri, .. }) if uri == error::CANCELED || uri == error::TIMEOUT => {
            return refuse(
                error::AUTHENTICATION_FAILED,
                "the authenticator did not answer in time",
                format!(
                    "authenticator `{procedure}` did not answer within {} ms",
                    ask.authenticator.timeout_ms
                ),
            )
        }
        // The router's own limits on the call (the authenticator's invocations in flight):
        // the client learns that logins wait, not the names of our internals.
        Err(CallError::Error { uri, text, .. }) if uri.starts_with("wssnode.error.") => {
            let text = text.map(|t| t.to_string()).unwrap_or_default();
            return refuse(
                error::AUTHENTICATION_FAILED,
                "too many logins are waiting for the authenticator; try again later",
                format!("authenticator `{procedure}` refused the call: {uri} {text}"),
            );
        }
        Err(CallError::Error { uri, text, .. }) => {
            let message = match &text {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let why = format!("authenticator `{procedure}` raised {uri} {message}");
            return refuse(&uri, &message, why);
        }
        Err(other) => {
            return refuse(
                error::AUTHENTICATION_FAILED,
                "the authenticator did not answer",
                format!("authenticator `{procedure}`: {other}"),
            )
        }
    };
    let principal = match reply.args.into_iter().next() {
        Some(Value::String(role)) => {
            let mut map = Map::new();
            map.insert("role".into(), Value::String(role));
            map
        }
        Some(Value::Object(map)) => map,
        other => {
            return refuse(
                error::AUTHENTICATION_FAILED,
                "the authenticator gave an answer that is not a role or a dict",
                format!(
                    "authenticator `{procedure}` answered {}",
                    other.unwrap_or(Value::Null)
                ),
            )
        }
    };
    read(ask, h, &principal)
}

fn refuse(reason: &str, message: &str, why: String) -> Step {
    Step::Refuse(Refusal {
        reason: reason.to_string(),
        message: message.to_string(),
        why,
    })
}

fn text<'m>(principal: &'m Map<String, Value>, key: &str) -> Option<&'m str> {
    principal.get(key).and_then(Value::as_str)
}

/// The identity an answer gives, then what the method still needs.
fn read(ask: Ask, h: &Hello<'_>, principal: &Map<String, Value>) -> Step {
    let procedure = &ask.authenticator.procedure;
    let Some(role) = text(principal, "role") else {
        return refuse(
            error::NO_SUCH_ROLE,
            "no authrole assigned",
            format!("authenticator `{procedure}` gave no role"),
        );
    };
    if let Some(realm) = text(principal, "realm").filter(|r| *r != h.realm) {
        return failed(format!(
            "authenticator `{procedure}` assigned realm `{realm}`, not the realm asked for (`{}`)",
            h.realm
        ));
    }
    let authid = text(principal, "authid")
        .map(str::to_string)
        .or(ask.claimed_authid.clone());
    let Some(authid) = authid else {
        return refuse(
            error::NO_SUCH_PRINCIPAL,
            "no authid assigned",
            format!("authenticator `{procedure}` gave no authid"),
        );
    };
    let method = match ask.then {
        Then::Anonymous => "anonymous",
        Then::Ticket => "ticket",
        Then::Cra => "wampcra",
        Then::Cryptosign => "cryptosign",
        Then::Scram => "scram",
        Then::Tls => "tls",
    };
    let mut id: Identity = identity(&authid, role, method, "dynamic");
    id.authextra = principal.get("extra").filter(|e| e.is_object()).cloned();
    match ask.then {
        Then::Anonymous | Then::Ticket | Then::Tls => Step::Welcome(id),
        Then::Cra => {
            let Some(secret) = text(principal, "secret") else {
                return failed(format!(
                    "authenticator `{procedure}` gave no `secret` for WAMP-CRA"
                ));
            };
            let salt = text(principal, "salt").map(|salt| CraSalt {
                salt: salt.to_string(),
                iterations: principal
                    .get("iterations")
                    .and_then(Value::as_u64)
                    .unwrap_or(1000),
                keylen: principal
                    .get("keylen")
                    .and_then(Value::as_u64)
                    .unwrap_or(32),
            });
            cra_challenge(id, secret, salt.as_ref(), h)
        }
        Then::Cryptosign => {
            let pubkey = text(principal, "pubkey").map(str::to_ascii_lowercase);
            match pubkey.filter(|k| cryptosign::decode_key(k).is_some()) {
                Some(pubkey) => cryptosign_challenge(id, pubkey),
                None => failed(format!(
                    "authenticator `{procedure}` gave no valid `pubkey` for cryptosign"
                )),
            }
        }
        Then::Scram => {
            let Some(verifier) = verifier(principal) else {
                return failed(format!("authenticator `{procedure}` gave no complete SCRAM verifier (kdf, iterations, memory, salt, stored-key, server-key)"));
            };
            let nonce = ask.nonce.as_deref().unwrap_or("");
            scram_challenge(id, nonce, &verifier, None)
        }
    }
}

fn verifier(principal: &Map<String, Value>) -> Option<ScramVerifier> {
    let key = |name: &str| {
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(text(principal, name)?.as_bytes())
            .ok()
            .filter(|k| k.len() == 32)
    };
    Some(ScramVerifier {
        kdf: text(principal, "kdf")?.to_string(),
        iterations: principal.get("iterations")?.as_u64()?,
        memory: principal.get("memory").and_then(Value::as_u64).unwrap_or(0),
        salt: text(principal, "salt")?.to_string(),
        stored_key: key("stored-key")?,
        server_key: key("server-key")?,
    })
}
