//! The meta API's procedures (spec "Session Meta API", "Subscription Meta API",
//! "Registration Meta API"), answered by the router itself. The meta events are published
//! where the state changes (`realm`, `broker`, `dealer`).

use crate::config::MatchPolicy;
use crate::wamp::broker::subscription_details;
use crate::wamp::dealer::registration_details;
use crate::wamp::message::Payload;
use crate::wamp::realm::RealmState;
use serde_json::{json, Value};

/// A meta procedure's error: URI and message.
type MetaError = (&'static str, String);

impl RealmState {
    /// Answers a `wamp.*` procedure; `Ok` holds the RESULT's Arguments list.
    pub fn meta_call(
        &self,
        _caller: u64,
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
                    "wamp.error.invalid_argument",
                    format!("`{procedure}` takes the {what} ID as its first argument"),
                )
            })
        };
        let uri_arg = || -> Result<&str, MetaError> {
            args.first().and_then(Value::as_str).ok_or_else(|| {
                (
                    "wamp.error.invalid_argument",
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
        let roles_filter: Option<Vec<&str>> = args
            .first()
            .and_then(Value::as_array)
            .map(|roles| roles.iter().filter_map(Value::as_str).collect());
        let result = match procedure {
            "wamp.session.count" | "wamp.session.list" => {
                let ids: Vec<u64> = self
                    .members
                    .iter()
                    .filter(|(_, m)| {
                        roles_filter
                            .as_ref()
                            .is_none_or(|r| r.contains(&m.identity.authrole.as_str()))
                    })
                    .map(|(id, _)| *id)
                    .collect();
                if procedure.ends_with("count") {
                    json!(ids.len())
                } else {
                    json!(ids)
                }
            }
            "wamp.session.get" => {
                let id = id_arg("session")?;
                match self.session_details(id) {
                    Value::Null => {
                        return Err((
                            "wamp.error.no_such_session",
                            format!("no session {id} in this realm"),
                        ))
                    }
                    details => details,
                }
            }
            "wamp.subscription.list" => {
                ids_by_policy(self.broker.subscriptions.values().map(|s| (s.policy, s.id)))
            }
            "wamp.subscription.lookup" => json!(self.broker.lookup(match_arg(), uri_arg()?)),
            "wamp.subscription.match" => {
                let ids = self.broker.matching(uri_arg()?);
                if ids.is_empty() {
                    Value::Null
                } else {
                    json!(ids)
                }
            }
            "wamp.subscription.get" => {
                let id = id_arg("subscription")?;
                let sub = self
                    .broker
                    .subscriptions
                    .get(&id)
                    .ok_or_else(|| no_such("subscription", id))?;
                subscription_details(sub)
            }
            "wamp.subscription.list_subscribers" | "wamp.subscription.count_subscribers" => {
                let id = id_arg("subscription")?;
                let sub = self
                    .broker
                    .subscriptions
                    .get(&id)
                    .ok_or_else(|| no_such("subscription", id))?;
                if procedure.ends_with("count_subscribers") {
                    json!(sub.subscribers.len())
                } else {
                    json!(sub.subscribers)
                }
            }
            "wamp.registration.list" => {
                ids_by_policy(self.dealer.registrations.values().map(|r| (r.policy, r.id)))
            }
            "wamp.registration.lookup" => json!(self.dealer.lookup(match_arg(), uri_arg()?)),
            "wamp.registration.match" => json!(self.dealer.best_match(uri_arg()?)),
            "wamp.registration.get" => {
                let id = id_arg("registration")?;
                let reg = self
                    .dealer
                    .registrations
                    .get(&id)
                    .ok_or_else(|| no_such("registration", id))?;
                registration_details(reg)
            }
            "wamp.registration.list_callees" | "wamp.registration.count_callees" => {
                let id = id_arg("registration")?;
                let reg = self
                    .dealer
                    .registrations
                    .get(&id)
                    .ok_or_else(|| no_such("registration", id))?;
                if procedure.ends_with("count_callees") {
                    json!(reg.callees.len())
                } else {
                    json!(reg.callees)
                }
            }
            _ => {
                return Err((
                    "wamp.error.no_such_procedure",
                    format!("`{procedure}` is not a meta procedure this router offers"),
                ))
            }
        };
        Ok(json!([result]))
    }
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
        "wamp.error.no_such_subscription"
    } else {
        "wamp.error.no_such_registration"
    };
    (uri, format!("no {what} {id} in this realm"))
}
