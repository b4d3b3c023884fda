//! The broker (spec "Publish and Subscribe", and the Advanced Profile's pattern-based
//! subscriptions, publisher exclusion, subscriber black- and whitelisting, publisher
//! identification, acknowledgement). It owns the subscriptions; the realm lends it the
//! sessions with each message. Each EVENT is serialized once per subscription and
//! serializer, and the same bytes are queued for every receiver.

use crate::config::{HistoryTopic, MatchPolicy};
use crate::runtime::time::now_rfc3339;
use crate::wamp::audience::Audience;
use crate::wamp::authorize::{self, Action};
use crate::wamp::cluster::{stable_id, Channel, Link, Wire};
use crate::wamp::elsewhere::Elsewhere;
use crate::wamp::held::Held;
use crate::wamp::message::{self, code, random_id, Payload};
use crate::wamp::options::{self, Options};
use crate::wamp::patterns::PatternIndex;
use crate::wamp::remembered::{Remembered, StoredEvent};
use crate::wamp::serializer::Serializer;
use crate::wamp::sessions::Sessions;
use crate::wamp::uri::{self, crossbar, error};
use async_tungstenite::tungstenite::Message;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// One subscription: a topic or pattern and its subscribers.
#[derive(Debug)]
pub(crate) struct Subscription {
    /// Subscription ID.
    pub id: u64,
    /// Topic or pattern.
    pub uri: String,
    /// How `uri` matches.
    pub policy: MatchPolicy,
    /// When it was created (RFC 3339).
    pub created: String,
    /// Subscribed session IDs.
    pub subscribers: Subscribers,
}

/// A subscription's subscribers: a list, because delivering walks it for every event, and
/// each one's place in it, so that one leaving costs the same however many stay.
#[derive(Debug, Default)]
pub(crate) struct Subscribers {
    list: Vec<u64>,
    at: HashMap<u64, usize>,
}

impl Subscribers {
    /// Adds a subscriber; false if it was there.
    fn insert(&mut self, id: u64) -> bool {
        if self.at.contains_key(&id) {
            return false;
        }
        self.at.insert(id, self.list.len());
        self.list.push(id);
        true
    }

    /// Removes a subscriber; false if it was not there.
    fn remove(&mut self, id: u64) -> bool {
        let Some(at) = self.at.remove(&id) else {
            return false;
        };
        self.list.swap_remove(at);
        if let Some(moved) = self.list.get(at) {
            self.at.insert(*moved, at);
        }
        true
    }

    /// The subscribers, in no particular order.
    pub(crate) fn ids(&self) -> &[u64] {
        &self.list
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl Subscription {
    /// As `wamp.subscription.get` describes it.
    pub(crate) fn details(&self) -> Value {
        json!({"id": self.id, "created": self.created, "uri": self.uri, "match": self.policy.name()})
    }
}

/// All subscriptions of a realm.
#[derive(Debug, Default)]
pub(crate) struct Broker {
    /// By subscription ID.
    subscriptions: HashMap<u64, Subscription>,
    /// By pattern: one subscription per distinct pattern and policy, as the spec asks.
    index: PatternIndex,
    /// The subscriptions each session holds: its count against the limit, and what it
    /// takes with it when it leaves (without looking at anyone else's).
    by_session: Held,
    /// Events kept after delivery: history and retained events.
    remembered: Remembered,
    /// The realm's name, for the history's records.
    realm: Arc<str>,
    /// The other nodes, in a cluster: events go to them, and each subscription listens.
    cluster: Option<Arc<Link>>,
    /// Their sessions' subscriptions, for the meta API.
    pub elsewhere: Elsewhere,
}

/// Who published an event, when it is disclosed: (session, authid, authrole).
type Publisher = (u64, String, String);

impl Broker {
    /// The broker of realm `realm`, keeping the history of these topics.
    pub(crate) fn new(realm: &str, history: &[HistoryTopic], cluster: Option<Arc<Link>>) -> Broker {
        Broker {
            remembered: Remembered::new(history),
            realm: realm.into(),
            cluster,
            ..Broker::default()
        }
    }

    /// The broker features WELCOME announces (spec "Feature Announcement"): what this
    /// file implements.
    pub(crate) fn features() -> Value {
        json!({
            "pattern_based_subscription": true,
            "publisher_exclusion": true,
            "subscriber_blackwhite_listing": true,
            "publisher_identification": true,
            "session_meta_api": true,
            "subscription_meta_api": true,
            "event_retention": true,
            "event_history": true,
        })
    }

    /// The last `limit` events kept for subscription `id`'s pattern, newest first; `None`
    /// when no history is kept for it.
    pub(crate) fn history(&self, id: u64, limit: usize) -> Option<Vec<Value>> {
        let sub = self.subscriptions.get(&id)?;
        self.remembered.events(sub.policy, &sub.uri, limit)
    }

    /// The subscription with this ID.
    pub(crate) fn get(&self, id: u64) -> Option<&Subscription> {
        self.subscriptions.get(&id)
    }

    /// Every subscription.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.values()
    }

    /// A subscription as `wamp.subscription.get` describes it, held here or elsewhere.
    pub(crate) fn describe(&self, id: u64) -> Option<Value> {
        match self.subscriptions.get(&id) {
            Some(sub) => Some(sub.details()),
            None => self.elsewhere.get(id).map(|s| s.details(id)),
        }
    }

    /// A subscription's subscribers on every node.
    pub(crate) fn subscribers_everywhere(&self, id: u64) -> Option<Vec<u64>> {
        let here = self
            .subscriptions
            .get(&id)
            .map(|s| s.subscribers.ids().to_vec());
        let there = self
            .elsewhere
            .get(id)
            .map(|s| s.subscribers.iter().copied().collect::<Vec<_>>());
        match (here, there) {
            (None, None) => None,
            (here, there) => Some(here.into_iter().chain(there).flatten().collect()),
        }
    }

    /// The subscription for this pattern and policy, held here or elsewhere.
    pub(crate) fn lookup_everywhere(&self, policy: MatchPolicy, pattern: &str) -> Option<u64> {
        self.lookup(policy, pattern)
            .or_else(|| self.elsewhere.lookup(policy, pattern))
    }

    /// The subscriptions matching `topic`, held here or elsewhere.
    pub(crate) fn matching_everywhere(&self, topic: &str) -> Vec<u64> {
        let mut ids = self.matching(topic);
        for id in self.elsewhere.matching(topic) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// Every subscription, held here or elsewhere, by (policy, ID).
    pub(crate) fn all_everywhere(&self) -> Vec<(MatchPolicy, u64)> {
        let mut all: Vec<(MatchPolicy, u64)> = self.all().map(|s| (s.policy, s.id)).collect();
        for (id, sub) in self.elsewhere.all() {
            if !self.subscriptions.contains_key(&id) {
                all.push((sub.policy, id));
            }
        }
        all
    }

    /// IDs of the subscriptions whose pattern matches `topic`.
    pub(crate) fn matching(&self, topic: &str) -> Vec<u64> {
        self.index.matching(topic)
    }

    /// The subscription for exactly this pattern and policy.
    pub(crate) fn lookup(&self, policy: MatchPolicy, pattern: &str) -> Option<u64> {
        self.index.get(policy, pattern)
    }

    /// Forgets which subscriptions a leaving session holds and returns them; each is then
    /// ended with `remove_subscriber`.
    pub(crate) fn take_session(&mut self, session: u64) -> Vec<u64> {
        self.by_session.take(session)
    }

    /// PUBLISH: deliver to every matching subscription, then PUBLISHED if asked. Errors
    /// reach the publisher only when it asked for acknowledgement, as the spec says.
    pub(crate) fn publish(
        &mut self,
        sessions: &Sessions,
        id: u64,
        request: u64,
        options: &Options,
        topic: &str,
        payload: &Payload,
    ) {
        // A wrong-typed `acknowledge` is answered like any other wrong-typed option: the
        // publisher asked for something, so it hears why it was refused.
        let (acknowledge, bad_acknowledge) = match options::flag(options, "acknowledge") {
            Ok(a) => (a.unwrap_or(false), None),
            Err(text) => (true, Some(text)),
        };
        let refuse = |uri: &str, text: String| {
            if acknowledge {
                sessions.error(id, code::PUBLISH, request, uri, text);
            }
        };
        let refuse_as_crossbar = |uri: &str, texts: (String, String)| {
            if acknowledge {
                sessions.error_as_crossbar(id, code::PUBLISH, request, uri, texts);
            }
        };
        if let Some(text) = bad_acknowledge {
            return refuse(error::INVALID_ARGUMENT, text);
        }
        if !uri::is_valid(topic, MatchPolicy::Exact) {
            let ours = uri::invalid(topic, MatchPolicy::Exact, "topic");
            let texts = (crossbar::publish_invalid(topic), ours);
            return refuse_as_crossbar(error::INVALID_URI, texts);
        }
        if topic.starts_with("wamp.") {
            let ours = format!("`{topic}`: topics under `wamp.` are the router's own");
            let texts = (crossbar::publish_restricted(topic), ours);
            return refuse_as_crossbar(error::INVALID_URI, texts);
        }
        let Some(member) = sessions.get(id) else {
            return;
        };
        if let Some(ours) = sessions.refusal(id, topic, Action::Publish) {
            let crossbar = sessions.crossbar_refusal(id, topic, Action::Publish);
            return refuse_as_crossbar(error::NOT_AUTHORIZED, (crossbar, ours));
        }
        let mut audience = match Audience::read(options) {
            Ok(a) => a,
            Err(text) => return refuse(error::INVALID_ARGUMENT, text),
        };
        let (exclude_me, disclose_me, retain) = match (
            options::flag(options, "exclude_me"),
            options::flag(options, "disclose_me"),
            options::flag(options, "retain"),
        ) {
            (Ok(e), Ok(d), Ok(r)) => (e.unwrap_or(true), d.unwrap_or(false), r.unwrap_or(false)),
            (Err(text), _, _) | (_, Err(text), _) | (_, _, Err(text)) => {
                return refuse(error::INVALID_ARGUMENT, text)
            }
        };
        // Kept before the publisher is excluded: a retained event may reach its publisher
        // when it subscribes later, as in Crossbar.
        let retained_audience = retain.then(|| Audience::read(options).unwrap_or_default());
        let restricted = audience.restricts();
        if exclude_me {
            audience.exclude.insert(id);
        }
        let disclose_role =
            authorize::permission(&member.role, topic).is_some_and(|p| p.disclose_publisher);
        let publisher = (disclose_role || disclose_me).then(|| {
            (
                id,
                member.identity.authid.clone(),
                member.identity.authrole.clone(),
            )
        });
        let publication = random_id();
        if retain || self.remembered.keeps_history_of(topic) {
            let event = Arc::new(StoredEvent {
                time_ns: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
                realm: self.realm.clone(),
                session_id: id,
                authid: member.identity.authid.clone(),
                authrole: member.identity.authrole.clone(),
                publication,
                topic: topic.to_string(),
                payload: StoredEvent::pack(
                    payload.args.as_ref().unwrap_or(&Value::Null),
                    payload.kwargs.as_ref().unwrap_or(&Value::Null),
                ),
            });
            // An event for chosen sessions only is not kept for whoever asks the history.
            if !restricted {
                self.remembered.record(&event);
            }
            if let Some(retained_audience) = retained_audience {
                self.remembered
                    .retain(event, publisher.clone(), retained_audience);
            }
        }
        let subscriptions = self.matching(topic);
        self.deliver(
            sessions,
            topic,
            &subscriptions,
            publication,
            publisher.clone(),
            &audience,
            payload,
        );
        if let Some(link) = &self.cluster {
            let mut lists = Options::new();
            for key in [
                "exclude",
                "eligible",
                "exclude_authid",
                "exclude_authrole",
                "eligible_authid",
                "eligible_authrole",
            ] {
                if let Some(value) = options.get(key) {
                    lists.insert(key.into(), value.clone());
                }
            }
            if exclude_me {
                let mut excluded = lists.get("exclude").cloned().unwrap_or_else(|| json!([]));
                if let Some(list) = excluded.as_array_mut() {
                    list.push(json!(id));
                }
                lists.insert("exclude".into(), excluded);
            }
            self.forward(link, topic, publication, publisher, lists, payload);
        }
        if acknowledge {
            sessions.send(id, message::published(request, publication));
        }
    }

    /// Queues one EVENT per matching subscription for every eligible subscriber.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &self,
        sessions: &Sessions,
        topic: &str,
        subscriptions: &[u64],
        publication: u64,
        publisher: Option<Publisher>,
        audience: &Audience,
        payload: &Payload,
    ) {
        for &sub_id in subscriptions {
            let Some(sub) = self.subscriptions.get(&sub_id) else {
                continue;
            };
            let receivers: Vec<u64> = sub
                .subscribers
                .ids()
                .iter()
                .copied()
                .filter(|s| audience.admits(sessions, *s))
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
            let event = message::event(sub_id, publication, details, payload);
            // Serialized once per subscription and serializer; receivers share the bytes.
            let mut encoded: [Option<Message>; Serializer::COUNT] = Default::default();
            // Counted once per subscription, not per receiver: one shared counter touched
            // per EVENT would cost the fan-out.
            let mut sent = 0;
            for receiver in receivers {
                let Some(member) = sessions.get(receiver) else {
                    continue;
                };
                let slot = &mut encoded[member.serializer as usize];
                let frame = slot.get_or_insert_with(|| member.serializer.encode(&event));
                member.outbox.send(frame.clone());
                sent += 1;
            }
            crate::runtime::metrics::metrics().messages_out("EVENT", sent);
        }
    }

    /// Sends an event to the other nodes' subscribers.
    fn forward(
        &self,
        link: &Link,
        topic: &str,
        publication: u64,
        publisher: Option<Publisher>,
        audience: Options,
        payload: &Payload,
    ) {
        let wire = Wire::Event {
            node: link.node.clone(),
            realm: self.realm.to_string(),
            topic: topic.to_string(),
            publication,
            publisher,
            audience,
            args: payload.args.clone(),
            kwargs: payload.kwargs.clone(),
        };
        link.publish(Channel::event(&self.realm, topic), &wire);
    }

    /// An event from another node, heard on `heard`: to the local subscriptions that
    /// listen there (each subscription listens on one channel, so it gets the event once
    /// however many channels carried it).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn deliver_remote(
        &self,
        sessions: &Sessions,
        heard: &Channel,
        topic: &str,
        publication: u64,
        publisher: Option<Publisher>,
        audience: &Options,
        payload: &Payload,
    ) {
        let Some(link) = self
            .cluster
            .as_ref()
            .filter(|_| uri::is_valid(topic, MatchPolicy::Exact))
        else {
            return;
        };
        let subscriptions: Vec<u64> = self
            .matching(topic)
            .into_iter()
            .filter(|id| {
                self.subscriptions
                    .get(id)
                    .is_some_and(|s| link.channel(&self.realm, s.policy, &s.uri) == *heard)
            })
            .collect();
        if subscriptions.is_empty() {
            return;
        }
        // Lists another node could not have sent: nobody, rather than everybody.
        let Ok(audience) = Audience::read(audience) else {
            return;
        };
        self.deliver(
            sessions,
            topic,
            &subscriptions,
            publication,
            publisher,
            &audience,
            payload,
        );
    }

    /// Whether anyone subscribed to one of these meta topics.
    pub(crate) fn meta_wanted(&self, topics: &[&str]) -> bool {
        topics.iter().any(|t| !self.matching(t).is_empty())
    }

    /// Publishes a router event (meta API, spec "Session Meta API" and the like) to whoever
    /// subscribed to it.
    pub(crate) fn meta_event(&self, sessions: &Sessions, topic: &str, args: Vec<Value>) {
        if let Some(link) = &self.cluster {
            let payload = Payload {
                args: Some(Value::Array(args.clone())),
                kwargs: None,
            };
            self.forward(link, topic, random_id(), None, Options::new(), &payload);
        }
        self.meta_event_here(sessions, topic, args);
    }

    /// A router event for this node's subscribers only (about a node that has gone, which
    /// every node announces to its own).
    pub(crate) fn meta_event_here(&self, sessions: &Sessions, topic: &str, args: Vec<Value>) {
        // Most realms have no meta subscribers: then nothing is built.
        let subscriptions = self.matching(topic);
        if subscriptions.is_empty() {
            return;
        }
        let payload = Payload {
            args: Some(Value::Array(args)),
            kwargs: None,
        };
        let audience = Audience::default();
        let publication = random_id();
        self.deliver(
            sessions,
            topic,
            &subscriptions,
            publication,
            None,
            &audience,
            &payload,
        );
    }

    /// SUBSCRIBE.
    pub(crate) fn subscribe(
        &mut self,
        sessions: &Sessions,
        id: u64,
        request: u64,
        options: &Options,
        topic: &str,
    ) {
        let (policy, get_retained) = match (
            options::match_policy(options),
            options::flag(options, "get_retained"),
        ) {
            (Ok(p), Ok(g)) => (p, g.unwrap_or(false)),
            (Err(text), _) | (_, Err(text)) => {
                return sessions.error(id, code::SUBSCRIBE, request, error::INVALID_ARGUMENT, text)
            }
        };
        if !uri::is_valid(topic, policy) {
            let texts = (
                crossbar::subscribe_invalid(topic),
                uri::invalid(topic, policy, "topic"),
            );
            return sessions.error_as_crossbar(
                id,
                code::SUBSCRIBE,
                request,
                error::INVALID_URI,
                texts,
            );
        }
        if !sessions.authorize(id, code::SUBSCRIBE, request, topic, Action::Subscribe) {
            return;
        }
        if let Some(existing) = self.index.get(policy, topic) {
            if self.by_session.contains(id, existing) {
                // Subscribing again to the same pattern answers with the same ID.
                sessions.send(id, message::subscribed(request, existing));
                return self.send_retained(sessions, id, existing, get_retained);
            }
        }
        let limit = sessions.limits(id).max_subscriptions;
        if self.by_session.count(id) >= limit {
            let text = format!("this session holds {limit} subscriptions, the most it may (option `max_subscriptions`)");
            return sessions.error(
                id,
                code::SUBSCRIBE,
                request,
                error::TOO_MANY_SUBSCRIPTIONS,
                text,
            );
        }
        let meta = !topic.starts_with("wamp.");
        let sub_id = match self.index.get(policy, topic) {
            Some(existing) => existing,
            None => {
                let subscriptions = &self.subscriptions;
                let new_id = stable_id(&self.realm, "subscription", policy, topic, |id| {
                    subscriptions.contains_key(&id)
                });
                if let Some(link) = &self.cluster {
                    link.hold(&link.channel(&self.realm, policy, topic));
                }
                let sub = Subscription {
                    id: new_id,
                    uri: topic.to_string(),
                    policy,
                    created: now_rfc3339(),
                    subscribers: Subscribers::default(),
                };
                let (sub_id, details) = (sub.id, sub.details());
                self.subscriptions.insert(sub_id, sub);
                self.index.insert(policy, topic, sub_id);
                if meta {
                    self.meta_event(
                        sessions,
                        "wamp.subscription.on_create",
                        vec![json!(id), details],
                    );
                }
                sub_id
            }
        };
        if let Some(sub) = self.subscriptions.get_mut(&sub_id) {
            sub.subscribers.insert(id);
            if let Some(link) = &self.cluster {
                let wire = Wire::Subscribe {
                    node: link.node.clone(),
                    realm: self.realm.to_string(),
                    session: id,
                    id: sub_id,
                    uri: topic.to_string(),
                    policy: policy.name().into(),
                };
                link.announce(Link::subscription_field(&self.realm, id, sub_id), &wire);
            }
        }
        self.by_session.add(id, sub_id);
        sessions.send(id, message::subscribed(request, sub_id));
        self.send_retained(sessions, id, sub_id, get_retained);
        if meta {
            let args = vec![json!(id), json!(sub_id)];
            self.meta_event(sessions, "wamp.subscription.on_subscribe", args);
        }
    }

    /// After SUBSCRIBED with `get_retained`: the topic's retained event, if the session
    /// may have it. Only an exact subscription has a topic to look up (as in Crossbar).
    fn send_retained(&self, sessions: &Sessions, id: u64, sub_id: u64, asked: bool) {
        let Some(sub) = self.subscriptions.get(&sub_id).filter(|_| asked) else {
            return;
        };
        if sub.policy != MatchPolicy::Exact {
            return;
        }
        let Some(retained) = self.remembered.retained(&sub.uri) else {
            return;
        };
        if !retained.audience.admits(sessions, id) {
            return;
        }
        let mut details = Map::new();
        details.insert("retained".into(), json!(true));
        if let Some((pid, authid, authrole)) = &retained.publisher {
            details.insert("publisher".into(), json!(pid));
            details.insert("publisher_authid".into(), json!(authid));
            details.insert("publisher_authrole".into(), json!(authrole));
        }
        let (args, kwargs) = retained.event.payload();
        let payload = Payload {
            args: Some(args).filter(|a| !a.is_null()),
            kwargs: Some(kwargs).filter(|k| !k.is_null()),
        };
        let event = message::event(sub_id, random_id(), details, &payload);
        sessions.send(id, event);
    }

    /// UNSUBSCRIBE.
    pub(crate) fn unsubscribe(&mut self, sessions: &Sessions, id: u64, request: u64, sub_id: u64) {
        if !self.remove_subscriber(sessions, id, sub_id, true) {
            let text = format!("session {id} has no subscription {sub_id}");
            return sessions.error(
                id,
                code::UNSUBSCRIBE,
                request,
                error::NO_SUCH_SUBSCRIPTION,
                text,
            );
        }
        sessions.send(id, message::unsubscribed(request));
    }

    /// Removes a subscriber, deleting the subscription when it was the last; false if absent.
    /// `announce` is false when no one subscribes to the meta events (a leaving session's
    /// batch asks once instead of once per subscription).
    pub(crate) fn remove_subscriber(
        &mut self,
        sessions: &Sessions,
        id: u64,
        sub_id: u64,
        announce: bool,
    ) -> bool {
        let Some(sub) = self.subscriptions.get_mut(&sub_id) else {
            return false;
        };
        if !sub.subscribers.remove(id) {
            return false;
        }
        self.by_session.remove(id, sub_id);
        if let Some(link) = &self.cluster {
            let wire = Wire::Unsubscribe {
                node: link.node.clone(),
                realm: self.realm.to_string(),
                session: id,
                id: sub_id,
            };
            link.retract(Link::subscription_field(&self.realm, id, sub_id), &wire);
        }
        let meta = announce && !sub.uri.starts_with("wamp.");
        let now_empty = sub.subscribers.is_empty();
        if now_empty {
            if let Some(sub) = self.subscriptions.remove(&sub_id) {
                self.index.remove(sub.policy, &sub.uri);
                if let Some(link) = &self.cluster {
                    link.release(&link.channel(&self.realm, sub.policy, &sub.uri));
                }
            }
        }
        if meta {
            let args = vec![json!(id), json!(sub_id)];
            self.meta_event(sessions, "wamp.subscription.on_unsubscribe", args.clone());
            if now_empty {
                self.meta_event(sessions, "wamp.subscription.on_delete", args);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::Subscribers;

    #[test]
    fn subscribers_keep_their_places_as_others_leave() {
        let mut subs = Subscribers::default();
        for id in 1..=5 {
            assert!(subs.insert(id));
        }
        assert!(!subs.insert(3));
        assert!(subs.remove(2));
        assert!(!subs.remove(2));
        assert!(subs.remove(5));
        assert!(subs.remove(1));
        let mut left = subs.ids().to_vec();
        left.sort_unstable();
        assert_eq!(left, [3, 4]);
        assert!(subs.remove(4) && subs.remove(3) && subs.is_empty());
    }
}
