//! The broker (spec "Publish and Subscribe", and the Advanced Profile's pattern-based
//! subscriptions, publisher exclusion, subscriber black- and whitelisting, publisher
//! identification, acknowledgement). Each EVENT is serialized once per subscription and
//! the same bytes are queued for every receiver.

use crate::config::MatchPolicy;
use crate::time::now_rfc3339;
use crate::wamp::auth::{self, Action};
use crate::wamp::message::{code, Payload};
use crate::wamp::patterns::PatternIndex;
use crate::wamp::realm::{random_id, RealmState};
use crate::wamp::uri;
use async_tungstenite::tungstenite::Message;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

/// One subscription: a topic or pattern and its subscribers.
#[derive(Debug)]
pub struct Subscription {
    /// Subscription ID.
    pub id: u64,
    /// Topic or pattern.
    pub uri: String,
    /// How `uri` matches.
    pub policy: MatchPolicy,
    /// When it was created (RFC 3339).
    pub created: String,
    /// Subscribed session IDs.
    pub subscribers: HashSet<u64>,
}

/// All subscriptions of a realm.
#[derive(Debug, Default)]
pub struct Broker {
    /// By subscription ID.
    pub subscriptions: HashMap<u64, Subscription>,
    /// By pattern: one subscription per distinct pattern and policy, as the spec asks.
    index: PatternIndex,
    /// The subscriptions each session holds: its count against the limit, and what it
    /// takes with it when it leaves (without looking at anyone else's).
    by_session: HashMap<u64, HashSet<u64>>,
}

impl Broker {
    /// IDs of the subscriptions whose pattern matches `topic`.
    pub fn matching(&self, topic: &str) -> Vec<u64> {
        self.index.matching(topic)
    }

    /// The subscription for exactly this pattern and policy.
    pub fn lookup(&self, policy: MatchPolicy, pattern: &str) -> Option<u64> {
        self.index.get(policy, pattern)
    }

    /// How many subscriptions a session holds.
    pub fn held_by(&self, session: u64) -> usize {
        self.by_session.get(&session).map_or(0, HashSet::len)
    }

    /// Forgets which subscriptions a leaving session holds and returns them; each is then
    /// ended with `remove_subscriber`.
    pub fn take_session(&mut self, session: u64) -> Vec<u64> {
        self.by_session
            .remove(&session)
            .map(|subs| subs.into_iter().collect())
            .unwrap_or_default()
    }
}

/// Which sessions an event may reach, from PUBLISH.Options. Sets, so that checking a
/// receiver costs the same however long the lists a publisher sends.
#[derive(Default)]
struct Audience {
    exclude: HashSet<u64>,
    exclude_authid: HashSet<String>,
    exclude_authrole: HashSet<String>,
    eligible: Option<HashSet<u64>>,
    eligible_authid: Option<HashSet<String>>,
    eligible_authrole: Option<HashSet<String>>,
}

/// Reads an option that must be a list of IDs.
fn ids(options: &Map<String, Value>, key: &str) -> Result<Option<Vec<u64>>, String> {
    match options.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| format!("option `{key}` must be a list of session IDs"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("option `{key}` must be a list of session IDs")),
    }
}

/// Reads an option that must be a list of strings (a single string is accepted too).
fn strings(options: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, String> {
    match options.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("option `{key}` must be a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("option `{key}` must be a list of strings")),
    }
}

/// Reads an option that must be a boolean.
pub fn flag(options: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("option `{key}` must be true or false")),
    }
}

/// Reads the `match` option of SUBSCRIBE or REGISTER.
pub fn match_policy(options: &Map<String, Value>) -> Result<MatchPolicy, String> {
    match options.get("match") {
        None | Some(Value::Null) => Ok(MatchPolicy::Exact),
        Some(Value::String(s)) => MatchPolicy::parse(s).ok_or_else(|| {
            format!("option `match` must be `exact`, `prefix` or `wildcard`, not `{s}`")
        }),
        Some(_) => Err("option `match` must be a string".into()),
    }
}

fn audience(options: &Map<String, Value>) -> Result<Audience, String> {
    let set = |list: Option<Vec<u64>>| list.map(|l| l.into_iter().collect::<HashSet<_>>());
    let names = |list: Option<Vec<String>>| list.map(|l| l.into_iter().collect::<HashSet<_>>());
    Ok(Audience {
        exclude: set(ids(options, "exclude")?).unwrap_or_default(),
        exclude_authid: names(strings(options, "exclude_authid")?).unwrap_or_default(),
        exclude_authrole: names(strings(options, "exclude_authrole")?).unwrap_or_default(),
        eligible: set(ids(options, "eligible")?),
        eligible_authid: names(strings(options, "eligible_authid")?),
        eligible_authrole: names(strings(options, "eligible_authrole")?),
    })
}

impl RealmState {
    /// PUBLISH: deliver to every matching subscription, then PUBLISHED if asked.
    pub fn publish(
        &mut self,
        id: u64,
        request: u64,
        options: &Map<String, Value>,
        topic: &str,
        payload: &Payload,
    ) {
        // A wrong-typed `acknowledge` is answered like any other wrong-typed option: the
        // publisher asked for something, so it hears why it was refused.
        let (acknowledge, bad_acknowledge) = match flag(options, "acknowledge") {
            Ok(a) => (a.unwrap_or(false), None),
            Err(text) => (true, Some(text)),
        };
        let refuse = |state: &RealmState, uri: &str, text: String| {
            if acknowledge {
                state.error(id, code::PUBLISH, request, uri, text);
            }
        };
        if let Some(text) = bad_acknowledge {
            return refuse(self, "wamp.error.invalid_argument", text);
        }
        if !uri::is_valid(topic, MatchPolicy::Exact) {
            return refuse(
                self,
                "wamp.error.invalid_uri",
                format!("`{topic}` is not a valid topic URI"),
            );
        }
        if topic.starts_with("wamp.") {
            return refuse(
                self,
                "wamp.error.invalid_uri",
                format!("`{topic}`: topics under `wamp.` are the router's own"),
            );
        }
        let Some(member) = self.members.get(&id) else {
            return;
        };
        let Some(permission) = auth::permission(&member.role, topic).filter(|p| p.publish) else {
            let text = format!(
                "role `{}` may not publish to `{topic}`",
                member.identity.authrole
            );
            return refuse(self, "wamp.error.not_authorized", text);
        };
        let mut audience = match audience(options) {
            Ok(a) => a,
            Err(text) => return refuse(self, "wamp.error.invalid_argument", text),
        };
        let (exclude_me, disclose_me) =
            match (flag(options, "exclude_me"), flag(options, "disclose_me")) {
                (Ok(e), Ok(d)) => (e.unwrap_or(true), d.unwrap_or(false)),
                (Err(text), _) | (_, Err(text)) => {
                    return refuse(self, "wamp.error.invalid_argument", text)
                }
            };
        if exclude_me {
            audience.exclude.insert(id);
        }
        let publisher = (permission.disclose_publisher || disclose_me).then(|| {
            (
                id,
                member.identity.authid.clone(),
                member.identity.authrole.clone(),
            )
        });
        let publication = random_id();
        let subscriptions = self.broker.matching(topic);
        self.deliver(
            topic,
            &subscriptions,
            publication,
            publisher,
            &audience,
            payload,
        );
        if acknowledge {
            self.send(
                id,
                vec![json!(code::PUBLISHED), json!(request), json!(publication)],
            );
        }
    }

    /// Queues one EVENT per matching subscription for every eligible subscriber.
    fn deliver(
        &self,
        topic: &str,
        subscriptions: &[u64],
        publication: u64,
        publisher: Option<(u64, String, String)>,
        audience: &Audience,
        payload: &Payload,
    ) {
        for &sub_id in subscriptions {
            let Some(sub) = self.broker.subscriptions.get(&sub_id) else {
                continue;
            };
            let receivers: Vec<u64> = sub
                .subscribers
                .iter()
                .copied()
                .filter(|s| self.eligible(*s, audience))
                .collect();
            if receivers.is_empty() {
                continue;
            }
            let mut details = Map::new();
            if sub.policy != MatchPolicy::Exact {
                details.insert("topic".into(), json!(topic));
            }
            if let Some((pid, authid, authrole)) = &publisher {
                details.insert("publisher".into(), json!(pid));
                details.insert("publisher_authid".into(), json!(authid));
                details.insert("publisher_authrole".into(), json!(authrole));
            }
            let mut fields = vec![
                json!(code::EVENT),
                json!(sub_id),
                json!(publication),
                Value::Object(details),
            ];
            payload.append_to(&mut fields);
            // Serialized once per subscription and serializer; receivers share the bytes.
            let event = Value::Array(fields);
            let mut encoded: [Option<Message>; 2] = [None, None];
            for receiver in receivers {
                let Some(member) = self.members.get(&receiver) else {
                    continue;
                };
                let slot = &mut encoded[member.serializer as usize];
                let frame = slot.get_or_insert_with(|| member.serializer.encode(&event));
                member.outbox.send(frame.clone());
            }
        }
    }

    fn eligible(&self, session: u64, audience: &Audience) -> bool {
        let Some(member) = self.members.get(&session) else {
            return false;
        };
        let authid = &member.identity.authid;
        let authrole = &member.identity.authrole;
        !audience.exclude.contains(&session)
            && !audience.exclude_authid.contains(authid)
            && !audience.exclude_authrole.contains(authrole)
            && audience
                .eligible
                .as_ref()
                .is_none_or(|e| e.contains(&session))
            && audience
                .eligible_authid
                .as_ref()
                .is_none_or(|e| e.contains(authid))
            && audience
                .eligible_authrole
                .as_ref()
                .is_none_or(|e| e.contains(authrole))
    }

    /// Whether anyone subscribed to one of these meta topics.
    pub fn meta_wanted(&self, topics: &[&str]) -> bool {
        topics.iter().any(|t| !self.broker.matching(t).is_empty())
    }

    /// Publishes a router event (meta API) to whoever subscribed to it.
    pub fn meta_event(&self, topic: &str, args: Vec<Value>) {
        // Most realms have no meta subscribers: then nothing is built.
        let subscriptions = self.broker.matching(topic);
        if subscriptions.is_empty() {
            return;
        }
        let payload = Payload {
            args: Some(Value::Array(args)),
            kwargs: None,
        };
        let publication = random_id();
        self.deliver(
            topic,
            &subscriptions,
            publication,
            None,
            &Audience::default(),
            &payload,
        );
    }

    /// SUBSCRIBE.
    pub fn subscribe(&mut self, id: u64, request: u64, options: &Map<String, Value>, topic: &str) {
        let policy = match match_policy(options) {
            Ok(p) => p,
            Err(text) => {
                return self.error(
                    id,
                    code::SUBSCRIBE,
                    request,
                    "wamp.error.invalid_argument",
                    text,
                )
            }
        };
        if !uri::is_valid(topic, policy) {
            let text = uri::invalid(topic, policy, "topic");
            return self.error(id, code::SUBSCRIBE, request, "wamp.error.invalid_uri", text);
        }
        if !self.authorize(id, code::SUBSCRIBE, request, topic, Action::Subscribe) {
            return;
        }
        let held = self.broker.by_session.entry(id).or_default();
        if let Some(existing) = self.broker.index.get(policy, topic) {
            if held.contains(&existing) {
                // Subscribing again to the same pattern answers with the same ID.
                return self.send(
                    id,
                    vec![json!(code::SUBSCRIBED), json!(request), json!(existing)],
                );
            }
        }
        let limit = self
            .members
            .get(&id)
            .map_or(0, |m| m.limits.max_subscriptions);
        if held.len() >= limit {
            let text = format!("this session holds {limit} subscriptions, the most it may (option `max_subscriptions`)");
            return self.error(
                id,
                code::SUBSCRIBE,
                request,
                uri::error::TOO_MANY_SUBSCRIPTIONS,
                text,
            );
        }
        let sub_id = match self.broker.index.get(policy, topic) {
            Some(existing) => existing,
            None => {
                let sub_id = random_id();
                let sub = Subscription {
                    id: sub_id,
                    uri: topic.to_string(),
                    policy,
                    created: now_rfc3339(),
                    subscribers: HashSet::new(),
                };
                let details = subscription_details(&sub);
                self.broker.subscriptions.insert(sub_id, sub);
                self.broker.index.insert(policy, topic, sub_id);
                if !topic.starts_with("wamp.") {
                    self.meta_event("wamp.subscription.on_create", vec![json!(id), details]);
                }
                sub_id
            }
        };
        if let Some(sub) = self.broker.subscriptions.get_mut(&sub_id) {
            sub.subscribers.insert(id);
        }
        self.broker.by_session.entry(id).or_default().insert(sub_id);
        self.send(
            id,
            vec![json!(code::SUBSCRIBED), json!(request), json!(sub_id)],
        );
        if !topic.starts_with("wamp.") {
            self.meta_event(
                "wamp.subscription.on_subscribe",
                vec![json!(id), json!(sub_id)],
            );
        }
    }

    /// UNSUBSCRIBE.
    pub fn unsubscribe(&mut self, id: u64, request: u64, sub_id: u64) {
        if !self.remove_subscriber(id, sub_id, true) {
            let text = format!("session {id} has no subscription {sub_id}");
            return self.error(
                id,
                code::UNSUBSCRIBE,
                request,
                "wamp.error.no_such_subscription",
                text,
            );
        }
        self.send(id, vec![json!(code::UNSUBSCRIBED), json!(request)]);
    }

    /// Removes a subscriber, deleting the subscription when it was the last; false if absent.
    /// `announce` is false when no one subscribes to the meta events (a leaving session's
    /// batch asks once instead of once per subscription).
    pub fn remove_subscriber(&mut self, id: u64, sub_id: u64, announce: bool) -> bool {
        let Some(sub) = self.broker.subscriptions.get_mut(&sub_id) else {
            return false;
        };
        if !sub.subscribers.remove(&id) {
            return false;
        }
        if let Some(held) = self.broker.by_session.get_mut(&id) {
            held.remove(&sub_id);
        }
        let meta = announce && !sub.uri.starts_with("wamp.");
        let now_empty = sub.subscribers.is_empty();
        if now_empty {
            if let Some(sub) = self.broker.subscriptions.remove(&sub_id) {
                self.broker.index.remove(sub.policy, &sub.uri);
            }
        }
        if meta {
            self.meta_event(
                "wamp.subscription.on_unsubscribe",
                vec![json!(id), json!(sub_id)],
            );
            if now_empty {
                self.meta_event(
                    "wamp.subscription.on_delete",
                    vec![json!(id), json!(sub_id)],
                );
            }
        }
        true
    }
}

/// A subscription as `wamp.subscription.get` describes it.
pub fn subscription_details(sub: &Subscription) -> Value {
    json!({"id": sub.id, "created": sub.created, "uri": sub.uri, "match": sub.policy.name()})
}
