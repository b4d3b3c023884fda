//! Events a realm remembers after delivering them: the last events of the topics its
//! `store.event-history` names (read back with `wamp.subscription.get_events`), and the last
//! retained event of each topic (`PUBLISH.Options.retain`, delivered to a subscriber that
//! asks with `SUBSCRIBE.Options.get_retained`). Both are bounded: history by each topic's
//! `limit`, retained events by `RETAINED_MAX` topics and `RETAINED_MAX_BYTES` of payload,
//! the oldest forgotten first.

use crate::config::{HistoryTopic, MatchPolicy};
use crate::wamp::audience::Audience;
use crate::wamp::serializer::{pack, unpack};
use crate::wamp::uri::matches;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Topics with a retained event a realm keeps, at most.
pub(crate) const RETAINED_MAX: usize = 10_000;

/// Bytes of retained events (packed payloads and their black- and whitelists) a realm
/// keeps, at most.
pub(crate) const RETAINED_MAX_BYTES: usize = 64 << 20;

/// Bytes of events one history topic keeps, at most, whatever its `limit`.
pub(crate) const HISTORY_MAX_BYTES: usize = 16 << 20;

/// A published event as the history keeps it (Crossbar's fields).
#[derive(Debug)]
pub(crate) struct StoredEvent {
    /// When it was published, nanoseconds since the Unix epoch.
    pub time_ns: u128,
    /// The realm.
    pub realm: Arc<str>,
    /// The publisher's session (kept whatever the disclosure).
    pub session_id: u64,
    /// The publisher's authid.
    pub authid: String,
    /// The publisher's authrole.
    pub authrole: String,
    /// The publication ID.
    pub publication: u64,
    /// The topic published to.
    pub topic: String,
    /// `Arguments|list` and `ArgumentsKw|dict` (each null when absent), packed: what is
    /// kept is counted by the bytes it holds (`serializer::pack`).
    pub payload: Box<[u8]>,
}

impl StoredEvent {
    /// Packs a publication's payload (`args`, `kwargs`: null when absent) to keep it.
    pub(crate) fn pack(args: &Value, kwargs: &Value) -> Box<[u8]> {
        pack(&[args, kwargs])
    }

    /// The payload: `args` and `kwargs`, each null when absent.
    pub(crate) fn payload(&self) -> (Value, Value) {
        match unpack(&self.payload) {
            Value::Array(mut both) if both.len() == 2 => {
                let kwargs = both.pop().unwrap_or(Value::Null);
                (both.pop().unwrap_or(Value::Null), kwargs)
            }
            _ => (Value::Null, Value::Null),
        }
    }

    /// As `wamp.subscription.get_events` answers it.
    pub(crate) fn to_json(&self) -> Value {
        let (args, kwargs) = self.payload();
        json!({
            "time_ns": self.time_ns as u64, "realm": &*self.realm, "session_id": self.session_id,
            "authid": self.authid, "authrole": self.authrole, "publication": self.publication,
            "topic": self.topic, "args": args, "kwargs": kwargs,
        })
    }

    /// The memory it holds: its fields and the bytes of its strings and packed payload.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<StoredEvent>()
            + self.topic.len()
            + self.authid.len()
            + self.authrole.len()
            + self.payload.len()
    }
}

/// A topic's retained event and who may have it.
#[derive(Debug)]
pub(crate) struct Retained {
    /// The event.
    pub event: Arc<StoredEvent>,
    /// The publisher, when it was disclosed: (session, authid, authrole).
    pub publisher: Option<(u64, String, String)>,
    /// The publication's black- and whitelists (`exclude_me` is not among them: the
    /// publisher may have its own retained event, as in Crossbar).
    pub audience: Audience,
    /// Its place in the forgetting order.
    seq: u64,
    bytes: usize,
}

/// A history topic and its events, oldest first.
#[derive(Debug)]
struct History {
    topic: HistoryTopic,
    events: VecDeque<Arc<StoredEvent>>,
    bytes: usize,
}

/// What a realm remembers.
#[derive(Debug, Default)]
pub(crate) struct Remembered {
    history: Vec<History>,
    retained: HashMap<String, Retained>,
    /// Retained topics in the order they were last set (with stale entries skipped).
    order: VecDeque<(String, u64)>,
    retained_bytes: usize,
    next_seq: u64,
}

impl Remembered {
    /// A store keeping the history of these topics.
    pub(crate) fn new(history: &[HistoryTopic]) -> Remembered {
        Remembered {
            history: history
                .iter()
                .map(|topic| History {
                    topic: topic.clone(),
                    events: VecDeque::new(),
                    bytes: 0,
                })
                .collect(),
            ..Remembered::default()
        }
    }

    /// Whether an event on `topic` is kept in some history.
    pub(crate) fn keeps_history_of(&self, topic: &str) -> bool {
        self.history
            .iter()
            .any(|h| matches(&h.topic.uri, h.topic.policy, topic))
    }

    /// Keeps the event in every history whose topic matches it: once, shared, whoever
    /// subscribed (Crossbar keeps it once per subscriber, and nothing without one).
    pub(crate) fn record(&mut self, event: &Arc<StoredEvent>) {
        for history in &mut self.history {
            if !matches(&history.topic.uri, history.topic.policy, &event.topic) {
                continue;
            }
            history.events.push_back(event.clone());
            history.bytes += event.bytes();
            while history.events.len() > history.topic.limit || history.bytes > HISTORY_MAX_BYTES {
                let Some(old) = history.events.pop_front() else {
                    break;
                };
                history.bytes -= old.bytes();
            }
        }
    }

    /// The last `limit` events of the history for exactly this pattern, newest first;
    /// `None` when no history is kept for it.
    pub(crate) fn events(
        &self,
        policy: MatchPolicy,
        uri: &str,
        limit: usize,
    ) -> Option<Vec<Value>> {
        let history = self
            .history
            .iter()
            .find(|h| h.topic.policy == policy && h.topic.uri == uri)?;
        Some(
            history
                .events
                .iter()
                .rev()
                .take(limit)
                .map(|e| e.to_json())
                .collect(),
        )
    }

    /// Makes this the topic's retained event, forgetting the oldest topics' while over the
    /// bounds.
    pub(crate) fn retain(
        &mut self,
        event: Arc<StoredEvent>,
        publisher: Option<(u64, String, String)>,
        audience: Audience,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let bytes = event.bytes() + audience.size();
        let topic = event.topic.clone();
        self.order.push_back((topic.clone(), seq));
        let retained = Retained {
            event,
            publisher,
            audience,
            seq,
            bytes,
        };
        self.retained_bytes += bytes;
        if let Some(old) = self.retained.insert(topic, retained) {
            self.retained_bytes -= old.bytes;
        }
        while self.retained.len() > RETAINED_MAX || self.retained_bytes > RETAINED_MAX_BYTES {
            let Some((topic, seq)) = self.order.pop_front() else {
                break;
            };
            if self.retained.get(&topic).is_some_and(|r| r.seq == seq) {
                if let Some(old) = self.retained.remove(&topic) {
                    self.retained_bytes -= old.bytes;
                }
            }
        }
        // Stale entries (topics set again since) are dropped when they reach the front;
        // compact when they outnumber the live ones.
        if self.order.len() > 2 * self.retained.len() + 64 {
            let retained = &self.retained;
            self.order
                .retain(|(topic, seq)| retained.get(topic).is_some_and(|r| r.seq == *seq));
        }
    }

    /// The retained event of exactly this topic.
    pub(crate) fn retained(&self, topic: &str) -> Option<&Retained> {
        self.retained.get(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(topic: &str, bytes: usize) -> Arc<StoredEvent> {
        Arc::new(StoredEvent {
            time_ns: 0,
            realm: "realm1".into(),
            session_id: 1,
            authid: "a".into(),
            authrole: "r".into(),
            publication: 1,
            topic: topic.into(),
            payload: StoredEvent::pack(&json!(["x".repeat(bytes)]), &Value::Null),
        })
    }

    #[test]
    fn retained_events_stay_within_their_bounds_oldest_forgotten_first() {
        let mut store = Remembered::new(&[]);
        for n in 0..RETAINED_MAX + 10 {
            store.retain(event(&format!("t.{n}"), 0), None, Audience::default());
        }
        assert_eq!(store.retained.len(), RETAINED_MAX);
        assert!(store.retained("t.0").is_none() && store.retained("t.10").is_some());
        // Setting one topic again and again keeps one event and a short order list.
        for _ in 0..1000 {
            store.retain(event("t.10", 0), None, Audience::default());
        }
        assert!(store.order.len() <= 2 * RETAINED_MAX + 64);
        // Large payloads: bounded by bytes.
        for n in 0..100 {
            store.retain(
                event(&format!("big.{n}"), 1 << 20),
                None,
                Audience::default(),
            );
        }
        assert!(store.retained_bytes <= RETAINED_MAX_BYTES);
        assert!(store.retained("big.99").is_some() && store.retained("big.0").is_none());
    }

    #[test]
    fn a_history_keeps_its_limit_of_events() {
        let topic = HistoryTopic {
            uri: "a.".into(),
            policy: MatchPolicy::Prefix,
            limit: 2,
        };
        let mut store = Remembered::new(&[topic]);
        for name in ["a.1", "b.1", "a.2", "a.3"] {
            store.record(&event(name, 0));
        }
        let events = store.events(MatchPolicy::Prefix, "a.", 10).unwrap();
        let topics: Vec<&Value> = events.iter().map(|e| &e["topic"]).collect();
        assert_eq!(topics, [&json!("a.3"), &json!("a.2")]);
        assert!(store.events(MatchPolicy::Exact, "a.", 10).is_none());
    }
}
