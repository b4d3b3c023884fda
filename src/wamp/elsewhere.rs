//! The subscriptions of other nodes' sessions, in a cluster: what the meta API needs to
//! answer for the whole cluster (`wamp.subscription.lookup`, `match`, `get`, `list`,
//! `list_subscribers`, `count_subscribers`). Events never go through here: each node
//! delivers to its own subscribers, and Redis carries an event only to the nodes that
//! listen for it.

use crate::config::MatchPolicy;
use crate::runtime::time::now_rfc3339;
use crate::wamp::patterns::PatternIndex;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// One subscription as other nodes hold it.
#[derive(Debug)]
pub(crate) struct RemoteSubscription {
    /// Topic or pattern.
    pub uri: String,
    /// How `uri` matches.
    pub policy: MatchPolicy,
    /// When this node learned of it.
    pub learned: String,
    /// Other nodes' subscribers.
    pub subscribers: HashSet<u64>,
}

/// Every subscription of other nodes' sessions, by its ID (the same on every node).
#[derive(Debug, Default)]
pub(crate) struct Elsewhere {
    subscriptions: HashMap<u64, RemoteSubscription>,
    index: PatternIndex,
    of_session: HashMap<u64, HashSet<u64>>,
}

impl Elsewhere {
    /// Session `session` of another node subscribed to subscription `id`.
    pub(crate) fn add(&mut self, session: u64, id: u64, policy: MatchPolicy, uri: &str) {
        let sub = self
            .subscriptions
            .entry(id)
            .or_insert_with(|| RemoteSubscription {
                uri: uri.to_string(),
                policy,
                learned: now_rfc3339(),
                subscribers: HashSet::new(),
            });
        if sub.uri != uri || sub.policy != policy {
            return;
        }
        sub.subscribers.insert(session);
        self.index.insert(policy, uri, id);
        self.of_session.entry(session).or_default().insert(id);
    }

    /// It unsubscribed.
    pub(crate) fn remove(&mut self, session: u64, id: u64) {
        if let Some(ids) = self.of_session.get_mut(&session) {
            ids.remove(&id);
            if ids.is_empty() {
                self.of_session.remove(&session);
            }
        }
        let Some(sub) = self.subscriptions.get_mut(&id) else {
            return;
        };
        sub.subscribers.remove(&session);
        if sub.subscribers.is_empty() {
            if let Some(sub) = self.subscriptions.remove(&id) {
                self.index.remove(sub.policy, &sub.uri);
            }
        }
    }

    /// It left: all its subscriptions go.
    pub(crate) fn remove_session(&mut self, session: u64) {
        for id in self.of_session.remove(&session).unwrap_or_default() {
            self.remove(session, id);
        }
    }

    /// The subscription with this ID.
    pub(crate) fn get(&self, id: u64) -> Option<&RemoteSubscription> {
        self.subscriptions.get(&id)
    }

    /// The one for exactly this pattern and policy.
    pub(crate) fn lookup(&self, policy: MatchPolicy, uri: &str) -> Option<u64> {
        self.index.get(policy, uri)
    }

    /// Those whose pattern matches `topic`.
    pub(crate) fn matching(&self, topic: &str) -> Vec<u64> {
        self.index.matching(topic)
    }

    /// All of them, with their IDs.
    pub(crate) fn all(&self) -> impl Iterator<Item = (u64, &RemoteSubscription)> {
        self.subscriptions.iter().map(|(id, s)| (*id, s))
    }
}

impl RemoteSubscription {
    /// As `wamp.subscription.get` describes it.
    pub(crate) fn details(&self, id: u64) -> Value {
        json!({"id": id, "created": self.learned, "uri": self.uri, "match": self.policy.name()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_held_elsewhere_lasts_until_its_last_subscriber_goes() {
        let mut elsewhere = Elsewhere::default();
        elsewhere.add(1, 77, MatchPolicy::Prefix, "com.app");
        elsewhere.add(2, 77, MatchPolicy::Prefix, "com.app");
        assert_eq!(elsewhere.lookup(MatchPolicy::Prefix, "com.app"), Some(77));
        assert_eq!(elsewhere.matching("com.app.x"), [77]);
        elsewhere.remove(1, 77);
        assert_eq!(elsewhere.get(77).map(|s| s.subscribers.len()), Some(1));
        elsewhere.remove_session(2);
        assert!(elsewhere.get(77).is_none());
        assert!(elsewhere.matching("com.app.x").is_empty());
    }
}
