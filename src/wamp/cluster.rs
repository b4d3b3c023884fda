//! The router's side of a cluster (wssnode's `cluster` key): what the broker, the dealer and
//! the realm tell the other nodes, queued for the engine (`crate::cluster`) to carry through
//! Redis, and the names of what lives there. Nothing here waits on Redis or knows its
//! client: the router pushes and never blocks, the engine drains.
//!
//! Names in Redis (all under `wssnode:`):
//! - `ev:<realm length>:<realm>:<topic>`: the channel an event is published on. A node
//!   listens on the exact channel of each exact subscription, and on a glob of each prefix
//!   or wildcard one, so an event reaches only the nodes with a subscriber for it.
//! - `node:<name>`: a node's own channel (calls forwarded to its callees, their answers).
//! - `all`: the channel every node hears (sessions and registrations coming and going).
//! - `lease:<name>`: a key a live node keeps renewing; it expires `lease` after a node dies.
//! - `state:<name>`: a hash of the node's sessions and registrations, the announcements
//!   above kept for a node that joins or reconnects later.
//! - `reg:<realm length>:<realm>:<match>:<uri>`: the callees of one registration, one field
//!   per `node|session`, set by a script that makes `single` exclusive cluster-wide.

use crate::config::MatchPolicy;
use async_std::channel::{bounded, unbounded, Receiver, Sender};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Every name this node uses in Redis starts with it.
pub(crate) const PREFIX: &str = "wssnode:";
/// The channel every node hears.
pub(crate) const ALL: &str = "wssnode:all";
/// Every event channel starts with it.
const EVENTS: &str = "wssnode:ev:";
/// The one glob a node listens on for all its prefix and wildcard subscriptions once it
/// has more distinct ones than `MAX_GLOBS`.
pub(crate) const EVERY_EVENT: &str = "wssnode:ev:*";
/// Distinct globs one node asks Redis to test each publication against. Redis tests every
/// glob of every node against every publication, so past this a node listens on
/// `EVERY_EVENT` instead and sorts events itself: what its clients subscribe to cannot
/// make every other publisher's events dearer.
pub(crate) const MAX_GLOBS: usize = 256;

/// What one node tells the others: the messages on the channels above, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Wire {
    /// A publication, for the subscribers on other nodes.
    Event {
        #[serde(rename = "n")]
        node: String,
        #[serde(rename = "r")]
        realm: String,
        #[serde(rename = "t")]
        topic: String,
        #[serde(rename = "p")]
        publication: u64,
        /// (session, authid, authrole), when disclosed.
        #[serde(rename = "pb", default, skip_serializing_if = "Option::is_none")]
        publisher: Option<(u64, String, String)>,
        /// The publication's black- and whitelists, the publisher in `exclude` when
        /// excluded.
        #[serde(rename = "au", default, skip_serializing_if = "Map::is_empty")]
        audience: Map<String, Value>,
        #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
        args: Option<Value>,
        #[serde(rename = "kw", default, skip_serializing_if = "Option::is_none")]
        kwargs: Option<Value>,
    },
    /// A session joined on `node`.
    Join {
        node: String,
        realm: String,
        session: u64,
        authid: String,
        authrole: String,
        authmethod: String,
        authprovider: String,
        peer: String,
    },
    /// A session of `node` left.
    Leave {
        node: String,
        realm: String,
        session: u64,
    },
    /// A session of `node` subscribed (for the meta API; events do not need it).
    Subscribe {
        node: String,
        realm: String,
        session: u64,
        /// The subscription's ID there (the same here, unless two URIs collided).
        id: u64,
        uri: String,
        policy: String,
    },
    /// A session of `node` unsubscribed.
    Unsubscribe {
        node: String,
        realm: String,
        session: u64,
        id: u64,
    },
    /// A session of `node` became a callee of a registration.
    Register {
        node: String,
        realm: String,
        session: u64,
        uri: String,
        policy: String,
        invoke: String,
        /// The callee announced `call_canceling`.
        cancels: bool,
    },
    /// A session of `node` stopped being a callee.
    Unregister {
        node: String,
        realm: String,
        session: u64,
        uri: String,
        policy: String,
    },
    /// A node's message to itself through Redis, to know that what Redis had for it before
    /// has been read (`Link::catch_up`).
    Marker { node: String, token: u64 },
    /// `node` (re)connected to Redis: what the others knew of it is stale, and it is
    /// about to announce everything again.
    Hello { node: String },
    /// A WAMP message between a session of `node` and one of the receiving node: an
    /// INVOCATION or INTERRUPT for callee `session`, or a RESULT or ERROR for the caller of
    /// a call to `session` (a callee on `node`), or a GOODBYE that kills `session`.
    Direct {
        node: String,
        realm: String,
        session: u64,
        message: Value,
    },
}

/// One thing for Redis, in the order the router produced it.
#[derive(Debug)]
pub enum Out {
    /// `PUBLISH channel payload`.
    Publish { channel: String, payload: Vec<u8> },
    /// `HSET key field value`.
    Set {
        key: String,
        field: String,
        value: Vec<u8>,
    },
    /// `HDEL key field`.
    Delete { key: String, field: String },
    /// The claim script, run in the queue's order (after the session's announcement, before
    /// a later UNREGISTER's removal), answered on the sender.
    Claim(Claim, Sender<Result<(), ClaimRefused>>),
}

impl Out {
    /// Bytes it holds.
    pub fn size(&self) -> usize {
        match self {
            Out::Publish { channel, payload } => channel.len() + payload.len(),
            Out::Set { key, field, value } => key.len() + field.len() + value.len(),
            Out::Delete { key, field } => key.len() + field.len(),
            Out::Claim(claim, _) => {
                let announced = claim
                    .announcement
                    .as_ref()
                    .map_or(0, |(f, b)| f.len() + b.len());
                claim.key.len() + claim.field.len() + announced
            }
        }
    }
}

/// What the engine must do and answer.
#[derive(Debug)]
pub enum Control {
    /// Listen on a channel (the first local subscription for it).
    Listen(Channel),
    /// Stop listening (the last one went).
    Unlisten(Channel),
    /// Answer once everything before it is done.
    Ensure(Sender<()>),
}

/// A callee asking to join a registration cluster-wide.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The registration's key (`reg:…`).
    pub key: String,
    /// `node|session`.
    pub field: String,
    /// Its `invoke` policy.
    pub invoke: String,
    /// The callee's announcement (its field in this node's state, and the message), which
    /// the claim publishes with it: Redis has handed it to every node before REGISTERED.
    pub announcement: Option<(String, Vec<u8>)>,
}

/// Why a claim was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimRefused {
    /// Another node's callee holds it with this `invoke`.
    Taken(String),
    /// Redis cannot be reached.
    Unavailable,
}

/// A Redis channel or glob a node listens on for events.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `SUBSCRIBE`.
    Exact(String),
    /// `PSUBSCRIBE`.
    Glob(String),
}

impl Channel {
    /// The channel subscription `uri` of `policy` in `realm` listens on.
    pub fn of(realm: &str, policy: MatchPolicy, uri: &str) -> Channel {
        let head = realm_part("ev", realm);
        match policy {
            MatchPolicy::Exact => Channel::Exact(format!("{head}{uri}")),
            MatchPolicy::Prefix => {
                Channel::Glob(format!("{}{}*", glob_escape(&head), glob_escape(uri)))
            }
            MatchPolicy::Wildcard => {
                let parts: Vec<String> = uri
                    .split('.')
                    .map(|p| {
                        if p.is_empty() {
                            "*".to_string()
                        } else {
                            glob_escape(p)
                        }
                    })
                    .collect();
                Channel::Glob(format!("{}{}", glob_escape(&head), parts.join(".")))
            }
        }
    }

    /// The channel an event on `topic` in `realm` is published on.
    pub fn event(realm: &str, topic: &str) -> String {
        format!("{}{topic}", realm_part("ev", realm))
    }

    /// The name Redis reports a message under: the channel, or the glob that matched it.
    pub fn name(&self) -> &str {
        match self {
            Channel::Exact(name) | Channel::Glob(name) => name,
        }
    }
}

/// `wssnode:<kind>:<realm length>:<realm>:`: a realm's names cannot run into another's.
fn realm_part(kind: &str, realm: &str) -> String {
    format!("{PREFIX}{kind}:{}:{realm}:", realm.len())
}

/// Redis glob's special characters taken literally.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A node's own channel.
pub(crate) fn node_channel(node: &str) -> String {
    format!("{PREFIX}node:{node}")
}

/// A node's lease key.
pub(crate) fn lease_key(node: &str) -> String {
    format!("{PREFIX}lease:{node}")
}

/// A node's state hash.
pub(crate) fn state_key(node: &str) -> String {
    format!("{PREFIX}state:{node}")
}

/// The key of registration `uri` of `policy` in `realm`.
pub(crate) fn registration_key(realm: &str, policy: MatchPolicy, uri: &str) -> String {
    format!("{}{}:{uri}", realm_part("reg", realm), policy.name())
}

/// The ID a subscription or registration of `uri` and `policy` has on every node: a hash
/// of what it is, so that look-ups by ID work anywhere. `taken` says whether an ID is in
/// use for something else here (two URIs made to collide on purpose): then the next one.
pub(crate) fn stable_id(
    realm: &str,
    what: &str,
    policy: MatchPolicy,
    uri: &str,
    taken: impl Fn(u64) -> bool,
) -> u64 {
    let mut attempt = 0u32;
    loop {
        let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in [realm, what, policy.name(), uri] {
            hash.update(&(part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        hash.update(&attempt.to_le_bytes());
        let digest = hash.finish();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest.as_ref()[..8]);
        let id = (u64::from_le_bytes(bytes) % crate::wamp::message::MAX_ID) + 1;
        if !taken(id) {
            return id;
        }
        attempt += 1;
    }
}

/// The router's link to the other nodes.
pub struct Link {
    /// This node's name.
    pub node: String,
    connected: AtomicBool,
    out: Sender<Out>,
    /// Bytes in `out`, and their bound (`max_queued_bytes`).
    queued: Arc<AtomicUsize>,
    bound: usize,
    /// Set at the first message dropped in an outage or overflow, so it is logged once.
    dropping: AtomicBool,
    control: Sender<Control>,
    /// Each channel listened on, and how many local subscriptions (or SUBSCRIBEs on their
    /// way) need it.
    listening: Mutex<Held>,
    /// Past `MAX_GLOBS`: every pattern subscription listens on `EVERY_EVENT`.
    every_event: AtomicBool,
    /// The markers on their way, by token (`catch_up`).
    markers: Mutex<HashMap<u64, Sender<()>>>,
    /// Told when a message other nodes need (a call, an answer, an announcement) could not
    /// be queued: the engine then reconnects, and everyone learns this node's state again.
    resync: Sender<()>,
}

/// A channel held while a SUBSCRIBE is on its way to the broker (`Link::listen`).
pub struct Listening {
    link: Arc<Link>,
    channel: Channel,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.link.release(&self.channel);
    }
}

/// A claim made for a REGISTER: unless the registration is then held (`keep`), it is
/// withdrawn when this is dropped, whatever ended the wait (the session went, the dealer
/// refused).
pub(crate) struct Claiming {
    link: Arc<Link>,
    realm: String,
    session: u64,
    policy: MatchPolicy,
    uri: String,
    armed: bool,
}

impl Claiming {
    /// For session `session`'s REGISTER of `uri` with `policy` in `realm`.
    pub(crate) fn new(
        link: &Arc<Link>,
        realm: &str,
        session: u64,
        policy: MatchPolicy,
        uri: &str,
    ) -> Claiming {
        Claiming {
            link: link.clone(),
            realm: realm.to_string(),
            session,
            policy,
            uri: uri.to_string(),
            armed: true,
        }
    }

    /// The registration is held (or no claim was made): nothing to withdraw.
    pub(crate) fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Claiming {
    fn drop(&mut self) {
        if self.armed {
            self.link
                .withdraw(&self.realm, self.session, self.policy, &self.uri);
        }
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Link({})", self.node)
    }
}

/// The channels a node listens on, with how many local subscriptions need each, and how
/// many of them are globs (kept, so a new channel costs the same however many are held).
#[derive(Debug, Default)]
struct Held {
    channels: HashMap<Channel, usize>,
    globs: usize,
}

/// The engine's ends of a link.
pub struct LinkQueues {
    pub out: Receiver<Out>,
    pub queued: Arc<AtomicUsize>,
    pub control: Receiver<Control>,
    pub resync: Receiver<()>,
}

impl Link {
    /// A link for node `node`, holding at most `bound` bytes for Redis.
    pub fn new(node: &str, bound: usize) -> (Arc<Link>, LinkQueues) {
        let (out, out_rx) = unbounded();
        let (control, control_rx) = unbounded();
        let queued = Arc::new(AtomicUsize::new(0));
        let (resync, resync_rx) = bounded(1);
        let link = Link {
            node: node.to_string(),
            connected: AtomicBool::new(false),
            out,
            queued: queued.clone(),
            bound,
            dropping: AtomicBool::new(false),
            control,
            listening: Mutex::default(),
            every_event: AtomicBool::new(false),
            markers: Mutex::default(),
            resync,
        };
        let queues = LinkQueues {
            out: out_rx,
            queued,
            control: control_rx,
            resync: resync_rx,
        };
        (Arc::new(link), queues)
    }

    /// Whether Redis is reachable now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The engine says whether Redis is reachable.
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
        if connected {
            self.dropping.store(false, Ordering::Relaxed);
        }
        crate::runtime::metrics::metrics().cluster_connected(connected);
    }

    /// Queues `out` for Redis; false when it is dropped (counted, logged once): Redis is
    /// unreachable, or the queue is full. Events are dropped at the bound: other nodes'
    /// subscribers miss them rather than this node holding them. What keeps the cluster
    /// consistent (calls, answers, announcements) may use twice the bound, and if even that
    /// is full the engine is told to reconnect and announce everything again.
    fn push(&self, out: Out) -> bool {
        let size = out.size();
        let event = matches!(&out, Out::Publish { channel, .. } if channel.starts_with(EVENTS));
        let bound = if event {
            self.bound
        } else {
            self.bound.saturating_mul(2)
        };
        let before = self.queued.fetch_add(size, Ordering::Relaxed);
        if !self.is_connected() || before > bound {
            self.queued.fetch_sub(size, Ordering::Relaxed);
            if !self.is_connected() {
                self.dropped("Redis is unreachable");
            } else if event {
                self.dropped("its queue for Redis is full (`max_queued_bytes`): Redis or the network is slower than this node");
            } else {
                self.dropped("its queue for Redis is full even for calls and announcements");
                let _ = self.resync.try_send(());
            }
            return false;
        }
        if let Err(e) = self.out.try_send(out) {
            self.queued
                .fetch_sub(e.into_inner().size(), Ordering::Relaxed);
            return false;
        }
        true
    }

    fn dropped(&self, why: &str) {
        crate::runtime::metrics::metrics().cluster_dropped(1);
        if !self.dropping.swap(true, Ordering::Relaxed) {
            log::warn!("cluster: dropping messages for other nodes while {why}; counted in wssnode_cluster_messages_dropped_total");
        }
    }

    /// Publishes `wire` on `channel`.
    pub fn publish(&self, channel: String, wire: &Wire) {
        match serde_json::to_vec(wire) {
            Ok(payload) => {
                self.push(Out::Publish { channel, payload });
            }
            Err(e) => log::error!("cluster: cannot encode a message: {e}"),
        }
    }

    /// Sends `wire` to node `node`.
    pub fn to_node(&self, node: &str, wire: &Wire) {
        self.publish(node_channel(node), wire);
    }

    /// Announces `wire` to every node and keeps it in this node's state under `field`.
    pub fn announce(&self, field: String, wire: &Wire) {
        let Ok(payload) = serde_json::to_vec(wire) else {
            return;
        };
        self.push(Out::Set {
            key: state_key(&self.node),
            field,
            value: payload.clone(),
        });
        self.push(Out::Publish {
            channel: ALL.to_string(),
            payload,
        });
    }

    /// Announces `wire` to every node and removes `field` from this node's state.
    pub fn retract(&self, field: String, wire: &Wire) {
        self.push(Out::Delete {
            key: state_key(&self.node),
            field,
        });
        self.publish(ALL.to_string(), wire);
    }

    /// Session `session` is no longer a callee of registration `uri` of `policy`: the
    /// other nodes are told, and its claim goes.
    pub fn withdraw(&self, realm: &str, session: u64, policy: MatchPolicy, uri: &str) {
        let wire = Wire::Unregister {
            node: self.node.clone(),
            realm: realm.to_string(),
            session,
            uri: uri.to_string(),
            policy: policy.name().into(),
        };
        self.retract(Link::registration_field(realm, session, policy, uri), &wire);
        self.push(Out::Delete {
            key: registration_key(realm, policy, uri),
            field: self.claim_field(session),
        });
    }

    /// The channel subscription `uri` of `policy` in `realm` listens on from this node:
    /// its own (`Channel::of`), or `EVERY_EVENT` for a pattern once the node has too many.
    pub fn channel(&self, realm: &str, policy: MatchPolicy, uri: &str) -> Channel {
        let own = Channel::of(realm, policy, uri);
        self.instead(own)
    }

    fn instead(&self, channel: Channel) -> Channel {
        match channel {
            Channel::Glob(_) if self.every_event.load(Ordering::Acquire) => {
                Channel::Glob(EVERY_EVENT.into())
            }
            other => other,
        }
    }

    /// One more local subscription needs `channel`.
    pub fn hold(&self, channel: &Channel) {
        let mut listening = crate::lock(&self.listening);
        let channel = self.instead(channel.clone());
        let count = listening.channels.entry(channel.clone()).or_insert(0);
        *count += 1;
        if *count == 1 {
            let glob = matches!(channel, Channel::Glob(_));
            let _ = self.control.try_send(Control::Listen(channel));
            if glob {
                listening.globs += 1;
                if listening.globs > MAX_GLOBS {
                    self.listen_to_every_event(&mut listening);
                }
            }
        }
    }

    /// Moves every pattern subscription to `EVERY_EVENT`: listens there, then stops
    /// listening on each glob.
    fn listen_to_every_event(&self, listening: &mut Held) {
        self.every_event.store(true, Ordering::Release);
        let every = Channel::Glob(EVERY_EVENT.into());
        let globs: Vec<Channel> = listening
            .channels
            .keys()
            .filter(|c| matches!(c, Channel::Glob(_)) && **c != every)
            .cloned()
            .collect();
        let moved: usize = globs
            .iter()
            .filter_map(|g| listening.channels.remove(g))
            .sum();
        let _ = self.control.try_send(Control::Listen(every.clone()));
        *listening.channels.entry(every).or_insert(0) += moved;
        listening.globs = 1;
        for glob in globs {
            let _ = self.control.try_send(Control::Unlisten(glob));
        }
        log::warn!("cluster: this node's subscriptions hold more than {MAX_GLOBS} distinct prefix and wildcard patterns; it now listens to every event in Redis and picks its own");
    }

    /// One fewer needs it.
    pub fn release(&self, channel: &Channel) {
        let mut listening = crate::lock(&self.listening);
        let channel = self.instead(channel.clone());
        let Some(count) = listening.channels.get_mut(&channel) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            listening.channels.remove(&channel);
            if matches!(channel, Channel::Glob(_)) {
                listening.globs -= 1;
            }
            let _ = self.control.try_send(Control::Unlisten(channel));
        }
    }

    /// The channels listened on now (to listen again after a reconnection).
    pub fn channels(&self) -> Vec<Channel> {
        crate::lock(&self.listening)
            .channels
            .keys()
            .cloned()
            .collect()
    }

    /// Holds `channel` and waits until Redis is listening on it (at once when Redis is
    /// unreachable: local subscribers still get local events). The hold ends when the
    /// answer is dropped, so a session that goes while it waits leaves nothing behind.
    pub async fn listen(self: &Arc<Self>, channel: Channel) -> Listening {
        self.hold(&channel);
        let held = Listening {
            link: self.clone(),
            channel,
        };
        if self.is_connected() {
            let (done, wait) = bounded(1);
            if self.control.try_send(Control::Ensure(done)).is_ok() {
                let _ = wait.recv().await;
            }
        }
        held
    }

    /// Waits until this node has read everything Redis had sent it when this was called:
    /// a marker sent to itself comes back after all of it. A CALL that finds no callee
    /// waits for this before it is refused, so a registration whose REGISTERED its caller
    /// has heard of is known here (the claim published it before answering). At most 1 s.
    pub async fn catch_up(&self) {
        if !self.is_connected() {
            return;
        }
        let token = crate::wamp::message::random_id();
        let (seen, wait) = bounded(1);
        crate::lock(&self.markers).insert(token, seen);
        let marker = Wire::Marker {
            node: self.node.clone(),
            token,
        };
        self.to_node(&self.node, &marker);
        let timeout = async {
            async_io::Timer::after(std::time::Duration::from_secs(1)).await;
        };
        futures_lite::future::or(
            async {
                let _ = wait.recv().await;
            },
            timeout,
        )
        .await;
        crate::lock(&self.markers).remove(&token);
    }

    /// The engine read a marker of this node.
    pub fn marker_seen(&self, token: u64) {
        if let Some(seen) = crate::lock(&self.markers).remove(&token) {
            let _ = seen.try_send(());
        }
    }

    /// Claims a place among a registration's callees, cluster-wide, in the order of
    /// everything else this node sends.
    pub async fn claim(&self, claim: Claim) -> Result<(), ClaimRefused> {
        let (answer, wait) = bounded(1);
        if !self.push(Out::Claim(claim, answer)) {
            return Err(ClaimRefused::Unavailable);
        }
        wait.recv().await.unwrap_or(Err(ClaimRefused::Unavailable))
    }

    /// The field of a session in a node's state.
    pub fn session_field(realm: &str, session: u64) -> String {
        format!("s:{}:{realm}:{session}", realm.len())
    }

    /// The field of a subscriber in a node's state.
    pub fn subscription_field(realm: &str, session: u64, id: u64) -> String {
        format!("u:{}:{realm}:{session}:{id}", realm.len())
    }

    /// The field of a registration's callee in a node's state.
    pub fn registration_field(realm: &str, session: u64, policy: MatchPolicy, uri: &str) -> String {
        format!(
            "r:{}:{realm}:{session}:{}:{uri}",
            realm.len(),
            policy.name()
        )
    }

    /// The field of a callee in a registration's claims.
    pub fn claim_field(&self, session: u64) -> String {
        format!("{}|{session}", self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_subscription_listens_on_one_channel_that_names_its_realm() {
        let exact = Channel::of("realm1", MatchPolicy::Exact, "com.app.x");
        assert_eq!(
            exact,
            Channel::Exact("wssnode:ev:6:realm1:com.app.x".into())
        );
        assert_eq!(Channel::event("realm1", "com.app.x"), exact.name());
        let prefix = Channel::of("realm1", MatchPolicy::Prefix, "com.a*b");
        assert_eq!(
            prefix,
            Channel::Glob(r"wssnode:ev:6:realm1:com.a\*b*".into())
        );
        let wildcard = Channel::of("r", MatchPolicy::Wildcard, "com..x");
        assert_eq!(wildcard, Channel::Glob("wssnode:ev:1:r:com.*.x".into()));
    }

    #[test]
    fn an_event_starts_with_its_kind_and_node_so_a_node_knows_its_own_unread() {
        let wire = Wire::Event {
            node: "web-1".into(),
            realm: "realm1".into(),
            topic: "t".into(),
            publication: 1,
            publisher: None,
            audience: Map::new(),
            args: None,
            kwargs: None,
        };
        let text = serde_json::to_string(&wire).unwrap_or_default();
        assert!(text.starts_with(r#"{"k":"event","n":"web-1","#), "{text}");
    }

    #[test]
    fn what_waits_for_redis_is_bounded_and_what_is_over_is_dropped() {
        let (link, queues) = Link::new("n", 64 << 10);
        let wire = Wire::Leave {
            node: "n".into(),
            realm: "r".into(),
            session: 1,
        };
        // Unreachable: nothing is held.
        link.publish(Channel::event("r", "t"), &wire);
        assert_eq!(queues.out.len(), 0);
        link.set_connected(true);
        // Events stop at the bound.
        for _ in 0..10_000 {
            link.publish(Channel::event("r", "t"), &wire);
        }
        let held = queues.queued.load(Ordering::Relaxed);
        assert!(held <= (64 << 10) + 100, "{held} bytes held");
        assert!(
            queues.resync.try_recv().is_err(),
            "dropped events need no resync"
        );
        // Announcements and calls may use twice the bound; past it the engine is told.
        for _ in 0..10_000 {
            link.publish(ALL.into(), &wire);
        }
        let held = queues.queued.load(Ordering::Relaxed);
        assert!(held <= (128 << 10) + 100, "{held} bytes held");
        assert!(queues.resync.try_recv().is_ok());
    }

    #[test]
    fn past_max_globs_every_pattern_listens_on_every_event() {
        let (link, queues) = Link::new("n", 1 << 20);
        let glob = |i: usize| link.channel("r", MatchPolicy::Prefix, &format!("com.p{i}"));
        for i in 0..=MAX_GLOBS {
            link.hold(&glob(i));
        }
        let every = Channel::Glob(EVERY_EVENT.into());
        assert_eq!(glob(0), every);
        assert_eq!(
            link.channel("r", MatchPolicy::Exact, "com.x"),
            Channel::of("r", MatchPolicy::Exact, "com.x")
        );
        assert_eq!(link.channels(), std::slice::from_ref(&every));
        // Releases of what was held before, under its own glob, count down the one glob.
        for i in 0..=MAX_GLOBS {
            link.release(&Channel::of("r", MatchPolicy::Prefix, &format!("com.p{i}")));
        }
        assert!(link.channels().is_empty());
        let asked: Vec<Control> = std::iter::from_fn(|| queues.control.try_recv().ok()).collect();
        assert!(matches!(asked.last(), Some(Control::Unlisten(c)) if *c == every));
    }

    #[test]
    fn stable_ids_depend_on_what_is_registered_and_step_past_a_collision() {
        let a = stable_id("realm1", "sub", MatchPolicy::Exact, "com.a", |_| false);
        assert_eq!(
            a,
            stable_id("realm1", "sub", MatchPolicy::Exact, "com.a", |_| false)
        );
        assert_ne!(
            a,
            stable_id("realm1", "sub", MatchPolicy::Prefix, "com.a", |_| false)
        );
        assert_ne!(
            a,
            stable_id("realm2", "sub", MatchPolicy::Exact, "com.a", |_| false)
        );
        let next = stable_id("realm1", "sub", MatchPolicy::Exact, "com.a", |id| id == a);
        assert_ne!(a, next);
        assert!((1..=crate::wamp::message::MAX_ID).contains(&next));
    }
}
