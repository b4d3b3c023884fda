//! The meta API's procedures (spec "Session Meta API", "Subscription Meta API",
//! "Registration Meta API"), answered by the router itself from what the sessions, the
//! broker and the dealer hold. The meta events are published where the state changes
//! (`realm`, `broker`, `dealer`).

use crate::config::MatchPolicy;
use crate::wamp::broker::Broker;
use crate::wamp::dealer::Dealer;
use crate::wamp::message::{self, code, Payload};
use crate::wamp::sessions::Sessions;
use crate::wamp::sessions::TRUSTED;
use crate::wamp::uri::{self, error};
use serde_json::{json, Value};

/// A meta procedure's error: URI and message.
type MetaError = (&'static str, String);

/// Answers CALL of a `wamp.*` procedure with RESULT or ERROR.
pub(crate) fn call(
    sessions: &Sessions,
    broker: &Broker,
    dealer: &Dealer,
    caller: u64,
    request: u64,
    procedure: &str,
    payload: &Payload,
) {
    match answer(sessions, broker, dealer, caller, procedure, payload) {
        Ok(args) => {
            let result = Payload {
                args: Some(args),
                kwargs: None,
            };
            sessions.send(caller, message::result(request, json!({}), &result));
        }
        Err((uri, text)) => sessions.error(caller, code::CALL, request, uri, text),
    }
}

/// Answers a meta procedure served elsewhere (the realm's testaments): RESULT with its
/// value, or ERROR.
pub(crate) fn reply(
    sessions: &Sessions,
    caller: u64,
    request: u64,
    answer: Result<Value, (&'static str, String)>,
) {
    match answer {
        Ok(value) => {
            let result = Payload {
                args: Some(json!([value])),
                kwargs: None,
            };
            sessions.send(caller, message::result(request, json!({}), &result));
        }
        Err((uri, text)) => sessions.error(caller, code::CALL, request, uri, text),
    }
}

/// The RESULT's Arguments list for a meta procedure.
fn answer(
    sessions: &Sessions,
    broker: &Broker,
    dealer: &Dealer,
    caller: u64,
    procedure: &str,
    payload: &Payload,
) -> Result<Value, MetaError> {
    let args: &[Value] = payload
        .args
        .as_ref()
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let id_arg = |what: &str| -> Result<u64, MetaError> {
        args.first().and_then(Value::as_u64).ok_or_else(|| {
            (
                error::INVALID_ARGUMENT,
                format!("`{procedure}` takes the {what} ID as its first argument"),
            )
        })
    };
    let uri_arg = || -> Result<&str, MetaError> {
        args.first().and_then(Value::as_str).ok_or_else(|| {
            (
                error::INVALID_ARGUMENT,
                format!("`{procedure}` takes a URI as its first argument"),
            )
        })
    };
    let match_arg = || -> MatchPolicy {
        args.get(1)
            .and_then(|o| o.get("match"))
            .and_then(Value::as_str)
            .and_then(MatchPolicy::parse)
            .unwrap_or(MatchPolicy::Exact)
    };
    let subscription = || {
        let id = id_arg("subscription")?;
        broker.get(id).ok_or_else(|| no_such("subscription", id))
    };
    let registration = || {
        let id = id_arg("registration")?;
        dealer.get(id).ok_or_else(|| no_such("registration", id))
    };
    let roles_filter: Option<Vec<&str>> = args
        .first()
        .and_then(Value::as_array)
        .map(|roles| roles.iter().filter_map(Value::as_str).collect());
    let result = match procedure {
        "wamp.session.count" | "wamp.session.list" => {
            let ids: Vec<u64> = sessions
                .iter()
                .filter(|(_, m)| m.identity.authrole != TRUSTED)
                .filter(|(_, m)| {
                    roles_filter
                        .as_ref()
                        .is_none_or(|r| r.contains(&m.identity.authrole.as_str()))
                })
                .map(|(id, _)| id)
                .collect();
            if procedure.ends_with("count") {
                json!(ids.len())
            } else {
                json!(ids)
            }
        }
        "wamp.session.get" => {
            let id = id_arg("session")?;
            match sessions.details(id) {
                _ if is_trusted(sessions, id) => {
                    return Err((
                        error::NO_SUCH_SESSION,
                        format!("no session {id} in this realm"),
                    ));
                }
                Value::Null => {
                    let text = format!("no session {id} in this realm");
                    return Err((error::NO_SUCH_SESSION, text));
                }
                details => details,
            }
        }
        "wamp.session.kill" => {
            let id = id_arg("session")?;
            if sessions.get(id).is_none() || is_trusted(sessions, id) {
                let text = format!("no session {id} in this realm");
                return Err((error::NO_SUCH_SESSION, text));
            }
            let (reason, text) = kill_reason(procedure, payload)?;
            sessions.kill(id, &reason, text.as_deref());
            Value::Null
        }
        "wamp.session.kill_by_authid" | "wamp.session.kill_by_authrole" => {
            let Some(wanted) = args.first().and_then(Value::as_str) else {
                let what = procedure.trim_start_matches("wamp.session.kill_by_");
                let text = format!("`{procedure}` takes the {what} as its first argument");
                return Err((error::INVALID_ARGUMENT, text));
            };
            let (reason, text) = kill_reason(procedure, payload)?;
            let by_role = procedure.ends_with("authrole");
            let ids: Vec<u64> = sessions
                .iter()
                .filter(|(_, m)| m.identity.authrole != TRUSTED)
                .filter(|(_, m)| {
                    let value = if by_role {
                        &m.identity.authrole
                    } else {
                        &m.identity.authid
                    };
                    value == wanted
                })
                .map(|(id, _)| id)
                .collect();
            for id in &ids {
                sessions.kill(*id, &reason, text.as_deref());
            }
            json!(ids)
        }
        "wamp.subscription.list" => ids_by_policy(broker.all_everywhere().into_iter()),
        "wamp.subscription.lookup" => json!(broker.lookup_everywhere(match_arg(), uri_arg()?)),
        "wamp.subscription.match" => {
            let ids = broker.matching_everywhere(uri_arg()?);
            if ids.is_empty() {
                Value::Null
            } else {
                json!(ids)
            }
        }
        "wamp.subscription.get" => {
            let id = id_arg("subscription")?;
            broker
                .describe(id)
                .ok_or_else(|| no_such("subscription", id))?
        }
        "wamp.subscription.get_events" => {
            // The history is for those who may subscribe to its topic.
            let sub = subscription()?;
            let action = crate::wamp::authorize::Action::Subscribe;
            if let Some(text) = sessions.refusal(caller, &sub.uri, action) {
                return Err((error::NOT_AUTHORIZED, text));
            }
            let id = sub.id;
            let limit = args
                .get(1)
                .or_else(|| payload.kwargs.as_ref().and_then(|k| k.get("limit")))
                .and_then(Value::as_u64)
                .unwrap_or(10);
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            json!(broker.history(id, limit).ok_or_else(|| (
                error::HISTORY_UNAVAILABLE,
                "event history for the given subscription is not available or enabled".to_string()
            ))?)
        }
        "wamp.subscription.list_subscribers" | "wamp.subscription.count_subscribers" => {
            let id = id_arg("subscription")?;
            let ids = broker
                .subscribers_everywhere(id)
                .ok_or_else(|| no_such("subscription", id))?;
            if procedure.ends_with("count_subscribers") {
                json!(ids.len())
            } else {
                json!(ids)
            }
        }
        "wamp.registration.list" => ids_by_policy(dealer.all().map(|r| (r.policy, r.id))),
        "wamp.registration.lookup" => json!(dealer.lookup(match_arg(), uri_arg()?)),
        "wamp.registration.match" => json!(dealer.best_match(uri_arg()?)),
        "wamp.registration.get" => registration()?.details(),
        "wamp.registration.list_callees" => json!(registration()?.callees),
        "wamp.registration.count_callees" => json!(registration()?.callees.len()),
        _ => {
            let text = format!("`{procedure}` is not a meta procedure this router offers");
            return Err((error::NO_SUCH_PROCEDURE, text));
        }
    };
    Ok(json!([result]))
}

/// The router's own sessions are not the meta API's to show or to kill.
fn is_trusted(sessions: &Sessions, id: u64) -> bool {
    sessions
        .get(id)
        .is_some_and(|m| m.identity.authrole == TRUSTED)
}

/// The `reason` and `message` of a kill, by keyword or after the first argument.
fn kill_reason(procedure: &str, payload: &Payload) -> Result<(String, Option<String>), MetaError> {
    let arg = |name: &str, at: usize| {
        payload
            .kwargs
            .as_ref()
            .and_then(|k| k.get(name))
            .or_else(|| payload.args.as_ref().and_then(|a| a.get(at)))
            .filter(|v| !v.is_null())
    };
    let reason = match arg("reason", 1) {
        None => "wamp.close.normal".to_string(),
        Some(Value::String(text)) if uri::is_valid(text, MatchPolicy::Exact) => text.clone(),
        Some(other) => {
            let text = format!("`{procedure}`: `reason` must be a URI, not {other}");
            return Err((error::INVALID_URI, text));
        }
    };
    let message = arg("message", 2).map(|m| match m {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    Ok((reason, message))
}

/// The `*.list` answer: IDs grouped by match policy.
fn ids_by_policy(items: impl Iterator<Item = (MatchPolicy, u64)>) -> Value {
    let (mut exact, mut prefix, mut wildcard) = (Vec::new(), Vec::new(), Vec::new());
    for (policy, id) in items {
        match policy {
            MatchPolicy::Exact => exact.push(id),
            MatchPolicy::Prefix => prefix.push(id),
            MatchPolicy::Wildcard => wildcard.push(id),
        }
    }
    json!({"exact": exact, "prefix": prefix, "wildcard": wildcard})
}

fn no_such(what: &'static str, id: u64) -> MetaError {
    let uri = if what == "subscription" {
        error::NO_SUCH_SUBSCRIPTION
    } else {
        error::NO_SUCH_REGISTRATION
    };
    (uri, format!("no {what} {id} in this realm"))
}
