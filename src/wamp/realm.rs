//! A realm (spec "Realms, Sessions and Transports"): its sessions, its broker and its
//! dealer, and the one dispatcher that hands each message of an established session to
//! the one that serves it. Dependencies run one way: the realm lends the sessions to the
//! broker and the dealer (and the broker to the dealer, for meta events); neither knows
//! the realm.
//!
//! Why a lock and not a task fed by a channel: every operation is a few map lookups and
//! non-blocking queue pushes (`Outbox::send` never waits), so the lock is held for
//! microseconds and never across an `.await`; a publisher never waits on a subscriber, and a
//! slow subscriber's full queue closes that subscriber only. The one operation whose work
//! grows with a session, its leaving, is done in batches (see `Realm::leave`).

use crate::config::{self, Role};
use crate::wamp::auth::Identity;
use crate::wamp::broker::Broker;
use crate::wamp::cluster::{Channel, Claim, Link, Wire};
use crate::wamp::dealer::{Dealer, Timeout, Violation};
use crate::wamp::message::{self, code, random_id, ClientMessage};
use crate::wamp::meta;
use crate::wamp::peer::{Forward, Outbox};
use crate::wamp::sessions::TRUSTED;
use crate::wamp::sessions::{Member, Sessions};
use crate::wamp::testament::Testaments;
use async_tungstenite::tungstenite::Message;
use futures_lite::FutureExt;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A realm and its live state.
pub struct Realm {
    /// The realm's config as read at start (name, history; its roles are `roles`).
    pub config: config::Realm,
    /// Its roles now: the config's, until a SIGHUP reads new ones.
    roles: std::sync::RwLock<Vec<Role>>,
    state: Mutex<RealmState>,
    /// The other nodes serving this realm, in a cluster.
    cluster: Option<Arc<Link>>,
}

/// Everything behind the realm's lock.
#[derive(Default)]
struct RealmState {
    sessions: Sessions,
    broker: Broker,
    dealer: Dealer,
    /// What sessions want published when they end.
    testaments: Testaments,
    /// Sessions gone but still being removed in batches; their IDs are not reused.
    leaving: HashSet<u64>,
    /// In a cluster, the sessions of each other node known here: its callees (which this
    /// node's callers may call); and, by local callee, the stand-ins for other nodes'
    /// callers, one per node that sends it calls (found by the callee when it leaves).
    remote: HashMap<Arc<str>, HashSet<u64>>,
    stand_ins: HashMap<u64, HashMap<Arc<str>, u64>>,
}

/// How many subscriptions and registrations of a leaving session are ended under one
/// hold of the lock.
const LEAVE_BATCH: usize = 256;

impl Realm {
    /// A realm with no sessions yet.
    pub fn new(config: config::Realm, cluster: Option<Arc<Link>>) -> Realm {
        let state = RealmState {
            sessions: Sessions::of_realm(&config.name),
            broker: Broker::new(&config.name, &config.history, cluster.clone()),
            dealer: Dealer::new(&config.name, cluster.clone()),
            ..RealmState::default()
        };
        Realm {
            roles: std::sync::RwLock::new(config.roles.clone()),
            config,
            state: Mutex::new(state),
            cluster,
        }
    }

    /// The other nodes, when the realm is served by a cluster.
    pub(crate) fn cluster(&self) -> Option<&Arc<Link>> {
        self.cluster.as_ref()
    }

    /// Locks the realm's state. A panic elsewhere must not take every session down with it.
    fn lock(&self) -> MutexGuard<'_, RealmState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The role with this name, if the realm has it.
    pub fn role(&self, name: &str) -> Option<Role> {
        let roles = self
            .roles
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        roles.iter().find(|r| r.name == name).cloned()
    }

    /// Takes new roles (SIGHUP): sessions joined with a role get its new permissions for
    /// what they do next; a session whose role is gone is closed. Answers how many sessions
    /// were updated and how many closed.
    pub fn replace_roles(&self, roles: Vec<Role>) -> (usize, usize) {
        let mut state = self.lock();
        let (updated, gone) = state
            .sessions
            .reassign_roles(|name| roles.iter().find(|r| r.name == name).cloned());
        for id in &gone {
            let text = "its role was removed from the realm's config";
            state.sessions.kill(*id, "wamp.close.killed", Some(text));
        }
        *self
            .roles
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = roles;
        (updated, gone.len())
    }

    /// Adds a session under `preferred` (the ID its authentication already named, random
    /// in [1, 2^53]) unless another session has it; returns its ID.
    pub fn join_as(&self, preferred: u64, member: Member) -> u64 {
        let mut state = self.lock();
        let mut candidate = preferred;
        let id = loop {
            if !state.sessions.contains(candidate) && !state.leaving.contains(&candidate) {
                break candidate;
            }
            candidate = random_id();
        };
        let hidden = member.identity.authrole == TRUSTED;
        state.sessions.insert(id, member);
        crate::runtime::metrics::metrics().session(&self.config.name, true);
        let RealmState {
            sessions, broker, ..
        } = &*state;
        // The router's own sessions are not the meta API's to announce.
        if !hidden {
            if let (Some(link), Some(m)) = (&self.cluster, sessions.get(id)) {
                let wire = join_wire(link, &self.config.name, id, m);
                link.announce(Link::session_field(&self.config.name, id), &wire);
            }
            broker.meta_event(sessions, "wamp.session.on_join", vec![sessions.details(id)]);
        }
        id
    }

    /// Handles a message of an established session: the table of contents of the router.
    /// `Err` is a protocol violation.
    pub fn handle(self: &Arc<Self>, id: u64, msg: ClientMessage) -> Result<(), Violation> {
        let mut guard = self.lock();
        let RealmState {
            sessions,
            broker,
            dealer,
            testaments,
            ..
        } = &mut *guard;
        match msg {
            // Publish and subscribe: the broker.
            ClientMessage::Publish {
                request,
                options,
                topic,
                payload,
            } => broker.publish(sessions, id, request, &options, &topic, &payload),
            ClientMessage::Subscribe {
                request,
                options,
                topic,
            } => broker.subscribe(sessions, id, request, &options, &topic),
            ClientMessage::Unsubscribe {
                request,
                subscription,
            } => broker.unsubscribe(sessions, id, request, subscription),

            // Remote procedure calls: the dealer, and the meta API for `wamp.` procedures.
            ClientMessage::Register {
                request,
                options,
                procedure,
            } => dealer.register(sessions, broker, id, request, &options, &procedure),
            ClientMessage::Unregister {
                request,
                registration,
            } => dealer.unregister(sessions, broker, id, request, registration),
            ClientMessage::Call {
                request,
                options,
                procedure,
                payload,
            } => {
                let Some(call) = Dealer::accept_call(sessions, id, request, &options, &procedure)
                else {
                    return Ok(());
                };
                if procedure == "wamp.session.add_testament" {
                    let may_publish = |topic: &str| may_leave_testament(sessions, id, topic);
                    let answer = testaments.add(id, &payload, may_publish);
                    meta::reply(sessions, id, request, answer);
                } else if procedure == "wamp.session.flush_testaments" {
                    meta::reply(sessions, id, request, testaments.flush(id, &payload));
                } else if procedure.starts_with("wamp.") {
                    meta::call(sessions, broker, dealer, id, request, &procedure, &payload);
                } else if let Some(timeout) =
                    dealer.call(sessions, id, request, call, &procedure, &payload)
                {
                    self.watch_timeout(dealer, id, timeout);
                }
            }
            ClientMessage::Cancel { request, options } => {
                dealer.cancel(sessions, id, request, &options)
            }
            ClientMessage::Yield {
                request,
                options,
                payload,
            } => dealer.yield_result(sessions, id, request, &options, &payload)?,
            ClientMessage::Error {
                request_type,
                request,
                details,
                error,
                payload,
            } => {
                if request_type != code::INVOCATION {
                    return Err(format!(
                        "a client sends ERROR only for an INVOCATION, not for {}",
                        message::name(request_type)
                    ));
                }
                dealer.invocation_error(sessions, id, request, details, &error, &payload)?;
            }

            // The session layer handles the session's own messages.
            ClientMessage::Hello { .. } => {
                return Err("HELLO on a session that is already established".into())
            }
            ClientMessage::Authenticate { .. } => {
                return Err("AUTHENTICATE on a session that is already established".into())
            }
            ClientMessage::Abort { .. } | ClientMessage::Goodbye { .. } => {}
        }
        Ok(())
    }

    /// Enforces a call's timeout with a timer that ends with the call, whichever is first.
    fn watch_timeout(self: &Arc<Self>, dealer: &mut Dealer, caller: u64, timeout: Timeout) {
        let (stop, stopped) = async_std::channel::bounded::<()>(1);
        dealer.watch(&timeout, stop);
        let realm = self.clone();
        async_std::task::spawn(async move {
            let expired = async {
                async_io::Timer::after(timeout.after).await;
                true
            }
            .or(async {
                // Closed when the call ends: its `Pending` held the only sender.
                let _ = stopped.recv().await;
                false
            })
            .await;
            if expired {
                let mut guard = realm.lock();
                let RealmState {
                    sessions, dealer, ..
                } = &mut *guard;
                dealer.call_timed_out(sessions, caller, timeout);
            }
        });
    }

    /// Removes a session: its subscriptions, registrations and calls end with it.
    ///
    /// A session may hold many subscriptions (as many as its `max_subscriptions`), and
    /// ending each one is work under the realm's lock. So a large session is ended in
    /// batches, the lock released and the task sleeping between them: the others wait
    /// for one batch at most, never for the whole session.
    pub fn leave(self: &Arc<Self>, id: u64) {
        self.leave_one(id, false);
        if self.cluster.is_none() {
            return;
        }
        // The stand-ins of other nodes' callers for this callee: their calls have ended.
        let stand_ins = self.lock().stand_ins.remove(&id).unwrap_or_default();
        for stand_in in stand_ins.into_values() {
            self.leave_one(stand_in, false);
        }
    }

    /// Removes one session; `node_died` when it was another node's and that node has
    /// gone (this node then announces its leaving to its own meta subscribers).
    fn leave_one(self: &Arc<Self>, id: u64, node_died: bool) {
        let mut guard = self.lock();
        let state = &mut *guard;
        // Its testaments first, published as the session itself (its role's permissions
        // apply), while it is still a member.
        for testament in state.testaments.take(id) {
            let (topic, options) = (&testament.topic, &testament.options);
            state
                .broker
                .publish(&state.sessions, id, 0, options, topic, &testament.payload);
        }
        let Some(member) = state.sessions.remove(id) else {
            return;
        };
        let remote = member.remote.is_some();
        if let Some(node) = &member.remote {
            if let Some(ids) = state.remote.get_mut(node) {
                ids.remove(&id);
            }
            state.broker.elsewhere.remove_session(id);
        } else {
            crate::runtime::metrics::metrics().session(&self.config.name, false);
        }
        state.dealer.end_calls(&state.sessions, id);
        let mut leaving = Leaving {
            id,
            realm: self.config.name.clone(),
            cluster: self.cluster.clone().filter(|_| !remote),
            remote,
            node_died,
            authid: member.identity.authid,
            authrole: member.identity.authrole,
            subscriptions: state.broker.take_session(id),
            registrations: state.dealer.take_session(id),
        };
        if leaving.size() <= LEAVE_BATCH {
            leaving.finish(state);
            return;
        }
        // Registrations go at once (up to a few batches' worth): a callee that has left
        // must stop being picked, and may register again as soon as it is back.
        for _ in 0..4 {
            if leaving.registrations.is_empty() {
                break;
            }
            leaving.end_batch(state);
        }
        state.leaving.insert(id);
        drop(guard);
        let realm = self.clone();
        async_std::task::spawn(async move { realm.leave_in_batches(leaving).await });
    }

    async fn leave_in_batches(&self, mut leaving: Leaving) {
        let started = Instant::now();
        let held = leaving.size();
        loop {
            let done = leaving.end_batch(&mut self.lock());
            if done {
                let id = leaving.id;
                let mut state = self.lock();
                state.leaving.remove(&id);
                leaving.finish(&mut state);
                log::debug!(
                    "session {id} left; its {held} subscriptions and registrations ended in {:?}",
                    started.elapsed()
                );
                return;
            }
            // Sleep, not just yield: on a small machine a leave that only yields keeps a core
            // to itself, and the others' tasks wait for the CPU instead of the lock.
            async_std::task::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Whether session `id` may leave a testament on `topic`: a valid topic outside `wamp.`,
/// that its role's permissions let it publish to. A role with a dynamic authorizer cannot
/// leave one: the authorizer could not be asked when the session has gone.
fn may_leave_testament(
    sessions: &Sessions,
    id: u64,
    topic: &str,
) -> Result<(), (&'static str, String)> {
    use crate::wamp::uri::{self, error};
    if !uri::is_valid(topic, config::MatchPolicy::Exact) || topic.starts_with("wamp.") {
        let text = format!("`{topic}` is not a topic a testament may publish to");
        return Err((error::INVALID_URI, text));
    }
    if sessions
        .get(id)
        .is_some_and(|m| m.role.authorizer.is_some())
    {
        let text = "testaments are not offered to roles with a dynamic authorizer: it could not be asked when the session has gone".to_string();
        return Err((error::TESTAMENT_ERROR, text));
    }
    let action = crate::wamp::authorize::Action::Publish;
    match sessions.refusal(id, topic, action) {
        Some(text) => Err((error::NOT_AUTHORIZED, text)),
        None => Ok(()),
    }
}

/// What a leaving session still holds.
struct Leaving {
    id: u64,
    realm: String,
    /// Told of a local session's leaving.
    cluster: Option<Arc<Link>>,
    /// A session of another node.
    remote: bool,
    /// That node has gone.
    node_died: bool,
    authid: String,
    authrole: String,
    subscriptions: Vec<u64>,
    registrations: Vec<u64>,
}

impl Leaving {
    fn size(&self) -> usize {
        self.subscriptions.len() + self.registrations.len()
    }

    /// Ends up to one batch of what the session held; true when nothing is left.
    fn end_batch(&mut self, state: &mut RealmState) -> bool {
        let RealmState {
            sessions,
            broker,
            dealer,
            ..
        } = state;
        let announce_subscriptions = broker.meta_wanted(&[
            "wamp.subscription.on_unsubscribe",
            "wamp.subscription.on_delete",
        ]);
        let announce_registrations = broker.meta_wanted(&[
            "wamp.registration.on_unregister",
            "wamp.registration.on_delete",
        ]);
        // Each announced removal is an event to every meta subscriber: fewer per batch then.
        let batch = if announce_subscriptions || announce_registrations {
            LEAVE_BATCH / 16
        } else {
            LEAVE_BATCH
        };
        // Registrations first: calls must stop reaching a callee that has gone.
        for _ in 0..batch {
            if let Some(reg_id) = self.registrations.pop() {
                let local = !self.remote;
                let announce = announce_registrations;
                dealer.remove_callee(sessions, broker, self.id, reg_id, announce, local);
            } else if let Some(sub_id) = self.subscriptions.pop() {
                broker.remove_subscriber(sessions, self.id, sub_id, announce_subscriptions);
            } else {
                return true;
            }
        }
        self.size() == 0
    }

    /// Ends everything left and announces the departure.
    fn finish(mut self, state: &mut RealmState) {
        while !self.end_batch(state) {}
        if self.authrole == TRUSTED {
            return;
        }
        if let Some(link) = &self.cluster {
            let wire = Wire::Leave {
                node: link.node.clone(),
                realm: self.realm.clone(),
                session: self.id,
            };
            link.retract(Link::session_field(&self.realm, self.id), &wire);
        }
        let args = vec![json!(self.id), json!(self.authid), json!(self.authrole)];
        if !self.remote {
            state
                .broker
                .meta_event(&state.sessions, "wamp.session.on_leave", args);
        } else if self.node_died {
            // Its node cannot say so: each node tells its own subscribers.
            state
                .broker
                .meta_event_here(&state.sessions, "wamp.session.on_leave", args);
        }
    }
}

/// What the other nodes of a cluster tell this realm (called by the engine,
/// `crate::cluster`, for each message it hears): their events for local subscribers, their
/// sessions and callees, and the calls between them and local sessions.
impl Realm {
    /// An event published on another node, heard on `heard`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn remote_event(
        &self,
        heard: &Channel,
        topic: &str,
        publication: u64,
        publisher: Option<(u64, String, String)>,
        audience: &Map<String, Value>,
        payload: &message::Payload,
    ) {
        let state = self.lock();
        let (sessions, broker) = (&state.sessions, &state.broker);
        broker.deliver_remote(
            sessions,
            heard,
            topic,
            publication,
            publisher,
            audience,
            payload,
        );
    }

    /// A session joined on `node`.
    pub(crate) fn remote_join(&self, node: &str, session: u64, identity: Identity, peer: String) {
        let Some(link) = &self.cluster else {
            return;
        };
        let mut state = self.lock();
        if state.sessions.contains(session) || state.leaving.contains(&session) {
            return;
        }
        let node: Arc<str> = node.into();
        let forward = self.forwarder(link, node.clone(), session, FOR_CALLEE);
        let member = Member::remote(identity, peer, &node, Outbox::forwarding(forward));
        state.sessions.insert(session, member);
        state.remote.entry(node).or_default().insert(session);
    }

    /// A session of `node` left, or `node` died (then local meta subscribers are told).
    pub(crate) fn remote_leave(self: &Arc<Self>, node: &str, session: u64, node_died: bool) {
        if !self.is_remote(node, session) {
            return;
        }
        self.leave_one(session, node_died);
    }

    /// A session of `node` subscribed (subscription `id` there).
    pub(crate) fn remote_subscribe(
        &self,
        node: &str,
        session: u64,
        id: u64,
        policy: config::MatchPolicy,
        uri: &str,
    ) {
        let mut state = self.lock();
        if state.sessions.is_of(session, node) {
            state.broker.elsewhere.add(session, id, policy, uri);
        }
    }

    /// A session of `node` unsubscribed.
    pub(crate) fn remote_unsubscribe(&self, node: &str, session: u64, id: u64) {
        let mut state = self.lock();
        if state.sessions.is_of(session, node) {
            state.broker.elsewhere.remove(session, id);
        }
    }

    /// A session of `node` became a callee.
    pub(crate) fn remote_register(
        &self,
        node: &str,
        session: u64,
        procedure: &str,
        policy: config::MatchPolicy,
        invoke: crate::wamp::options::Invoke,
        cancels: bool,
    ) {
        let mut state = self.lock();
        let Some(member) = state.sessions.get_mut(session) else {
            return;
        };
        if member.remote.as_deref() != Some(node) {
            return;
        }
        member.callee_cancels = cancels;
        state
            .dealer
            .register_remote(session, policy, invoke, procedure);
    }

    /// A session of `node` stopped being a callee.
    pub(crate) fn remote_unregister(
        &self,
        node: &str,
        session: u64,
        procedure: &str,
        policy: config::MatchPolicy,
    ) {
        if !self.is_remote(node, session) {
            return;
        }
        let mut guard = self.lock();
        let RealmState {
            sessions,
            broker,
            dealer,
            ..
        } = &mut *guard;
        dealer.unregister_remote(sessions, broker, session, policy, procedure);
    }

    fn is_remote(&self, node: &str, session: u64) -> bool {
        self.lock().sessions.is_of(session, node)
    }

    /// A WAMP message from `node` about `session` (see `Wire::Direct`).
    pub(crate) fn remote_direct(&self, node: &str, session: u64, message: &Value) {
        let Some(link) = &self.cluster else {
            return;
        };
        let field = |at: usize| message.get(at).cloned();
        let id_at = |at: usize| message.get(at).and_then(Value::as_u64).unwrap_or(0);
        let map_at = |at: usize| match message.get(at) {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        let payload_at = |at: usize| message::Payload {
            args: field(at).filter(Value::is_array),
            kwargs: field(at + 1).filter(Value::is_object),
        };
        let mut guard = self.lock();
        let RealmState {
            sessions,
            broker,
            dealer,
            stand_ins,
            ..
        } = &mut *guard;
        // Answers come for a callee of `node`, calls for a local callee.
        let is_theirs = sessions.is_of(session, node);
        match id_at(0) {
            code::INVOCATION if !is_theirs => {
                let callee_here = sessions
                    .get(session)
                    .is_some_and(|m| m.remote.is_none() && m.identity.authrole != TRUSTED);
                if !callee_here {
                    // Gone before the call arrived: answered without a stand-in.
                    let text = "the callee left before the call reached it";
                    let error = json!([
                        code::ERROR,
                        code::CALL,
                        id_at(1),
                        {},
                        crate::wamp::uri::error::CANCELED,
                        [text]
                    ]);
                    let wire = Wire::Direct {
                        node: link.node.clone(),
                        realm: self.config.name.clone(),
                        session,
                        message: error,
                    };
                    link.to_node(node, &wire);
                    return;
                }
                let of_callee = stand_ins.entry(session).or_default();
                let stand_in = match of_callee.get(node) {
                    Some(id) => *id,
                    None => {
                        let id = loop {
                            let id = random_id();
                            if !sessions.contains(id) {
                                break id;
                            }
                        };
                        let forward = self.forwarder(link, node.into(), session, FOR_CALLER);
                        let identity = Identity {
                            authid: format!("cluster:{node}"),
                            authrole: TRUSTED.into(),
                            authmethod: "trusted",
                            authprovider: "static",
                            authextra: None,
                        };
                        let outbox = Outbox::forwarding(forward);
                        let member = Member::remote(identity, String::new(), node, outbox);
                        sessions.insert(id, member);
                        of_callee.insert(node.into(), id);
                        id
                    }
                };
                let (request, reg_id) = (id_at(1), id_at(2));
                let details = map_at(3);
                dealer.invoke_forwarded(
                    sessions,
                    stand_in,
                    request,
                    session,
                    reg_id,
                    details,
                    &payload_at(4),
                );
            }
            code::INTERRUPT if !is_theirs => {
                if let Some(stand_in) = stand_ins.get(&session).and_then(|s| s.get(node)) {
                    dealer.cancel(sessions, *stand_in, id_at(1), &map_at(2));
                }
            }
            code::GOODBYE if !is_theirs => {
                let reason = message
                    .get(2)
                    .and_then(Value::as_str)
                    .unwrap_or("wamp.close.killed");
                let text = message
                    .get(1)
                    .and_then(|d| d.get("message"))
                    .and_then(Value::as_str);
                let local = sessions
                    .get(session)
                    .is_some_and(|m| m.remote.is_none() && m.identity.authrole != TRUSTED);
                if local {
                    sessions.kill(session, reason, text);
                }
            }
            code::RESULT if is_theirs => {
                let mut options = Map::new();
                if map_at(2).get("progress") == Some(&Value::Bool(true)) {
                    options.insert("progress".into(), Value::Bool(true));
                }
                let _ = dealer.yield_result(sessions, session, id_at(1), &options, &payload_at(3));
            }
            code::ERROR if is_theirs => {
                let uri = message
                    .get(4)
                    .and_then(Value::as_str)
                    .unwrap_or(crate::wamp::uri::error::RUNTIME_ERROR);
                let _ = dealer.invocation_error(
                    sessions,
                    session,
                    id_at(2),
                    map_at(3),
                    uri,
                    &payload_at(5),
                );
            }
            _ => {}
        }
        let _ = broker;
    }

    /// `node` has gone (its lease expired), or this node lost Redis (every other node is
    /// then out of reach): its callees and its callers' stand-ins leave.
    pub(crate) fn forget_node(self: &Arc<Self>, node: &str, node_died: bool) {
        let (sessions, stand_ins) = {
            let mut state = self.lock();
            let sessions: Vec<u64> = state
                .remote
                .remove(node)
                .map(|ids| ids.into_iter().collect())
                .unwrap_or_default();
            let mut stand_ins = Vec::new();
            state.stand_ins.retain(|_, of_callee| {
                stand_ins.extend(of_callee.remove(node));
                !of_callee.is_empty()
            });
            (sessions, stand_ins)
        };
        for id in stand_ins {
            self.leave_one(id, false);
        }
        for id in sessions {
            self.leave_one(id, node_died);
        }
    }

    /// The other nodes this realm knows sessions of.
    pub(crate) fn remote_nodes(&self) -> Vec<String> {
        let state = self.lock();
        let mut nodes: HashSet<String> = state.remote.keys().map(|n| n.to_string()).collect();
        let callers = state
            .stand_ins
            .values()
            .flat_map(|of_callee| of_callee.keys());
        nodes.extend(callers.map(|n| n.to_string()));
        nodes.into_iter().collect()
    }

    /// This node's sessions, subscribers and callees, as it announces them (after a
    /// reconnection, to a Redis that may have lost them): sessions first.
    pub(crate) fn local_announcements(&self) -> Vec<(String, Wire)> {
        let Some(link) = &self.cluster else {
            return Vec::new();
        };
        let state = self.lock();
        let realm = &self.config.name;
        let mut out = Vec::new();
        for (id, m) in state.sessions.iter() {
            if m.remote.is_some() || m.identity.authrole == TRUSTED {
                continue;
            }
            out.push((
                Link::session_field(realm, id),
                join_wire(link, realm, id, m),
            ));
        }
        for sub in state.broker.all() {
            for &subscriber in sub.subscribers.ids() {
                out.push((
                    Link::subscription_field(realm, subscriber, sub.id),
                    Wire::Subscribe {
                        node: link.node.clone(),
                        realm: realm.clone(),
                        session: subscriber,
                        id: sub.id,
                        uri: sub.uri.clone(),
                        policy: sub.policy.name().into(),
                    },
                ));
            }
        }
        for reg in state.dealer.all() {
            for &callee in &reg.callees {
                let Some(m) = state.sessions.get(callee).filter(|m| m.remote.is_none()) else {
                    continue;
                };
                out.push((
                    Link::registration_field(realm, callee, reg.policy, &reg.uri),
                    Wire::Register {
                        node: link.node.clone(),
                        realm: realm.clone(),
                        session: callee,
                        uri: reg.uri.clone(),
                        policy: reg.policy.name().into(),
                        invoke: reg.invoke.name().into(),
                        cancels: m.callee_cancels,
                    },
                ));
            }
        }
        out
    }

    /// Whether a callee here or on another node known here serves `procedure`.
    pub(crate) fn serves(&self, procedure: &str) -> bool {
        self.lock().dealer.best_match(procedure).is_some()
    }

    /// Whether session `id` holds registration `procedure` of `policy`.
    /// Crossbar's text for an action of session `id` that was refused.
    pub(crate) fn crossbar_refusal(
        &self,
        id: u64,
        uri: &str,
        action: crate::wamp::authorize::Action,
    ) -> String {
        self.lock().sessions.crossbar_refusal(id, uri, action)
    }

    pub(crate) fn holds_registration(
        &self,
        id: u64,
        policy: config::MatchPolicy,
        procedure: &str,
    ) -> bool {
        self.lock().dealer.holds(id, policy, procedure)
    }

    /// The match policy of a SUBSCRIBE worth listening for in Redis: one the broker will
    /// not refuse for its options, URI or permission.
    pub(crate) fn may_subscribe(
        &self,
        id: u64,
        options: &crate::wamp::options::Options,
        topic: &str,
    ) -> Option<config::MatchPolicy> {
        let policy = crate::wamp::options::match_policy(options).ok()?;
        if !crate::wamp::uri::is_valid(topic, policy) {
            return None;
        }
        let action = crate::wamp::authorize::Action::Subscribe;
        let refused = self.lock().sessions.refusal(id, topic, action).is_some();
        (!refused).then_some(policy)
    }

    /// The claim a REGISTER needs in Redis, if it passes the checks that come before it
    /// (URI, options, permission): only then is a claim worth making.
    pub(crate) fn claim_for(
        &self,
        id: u64,
        options: &crate::wamp::options::Options,
        procedure: &str,
    ) -> Option<(config::MatchPolicy, Claim)> {
        use crate::wamp::options;
        let link = self.cluster.as_ref()?;
        let policy = options::match_policy(options).ok()?;
        let invoke = options::Invoke::read(options).ok()?;
        if !crate::wamp::uri::is_valid(procedure, policy) || procedure.starts_with("wamp.") {
            return None;
        }
        let action = crate::wamp::authorize::Action::Register;
        let state = self.lock();
        // Refused, or already held (the dealer answers that): no claim to make.
        if state.sessions.refusal(id, procedure, action).is_some()
            || state.dealer.holds(id, policy, procedure)
        {
            return None;
        }
        let realm = &self.config.name;
        let wire = Wire::Register {
            node: link.node.clone(),
            realm: realm.clone(),
            session: id,
            uri: procedure.to_string(),
            policy: policy.name().into(),
            invoke: invoke.name().into(),
            cancels: state.sessions.get(id).is_some_and(|m| m.callee_cancels),
        };
        let field = Link::registration_field(realm, id, policy, procedure);
        let claim = Claim {
            key: crate::wamp::cluster::registration_key(realm, policy, procedure),
            field: link.claim_field(id),
            invoke: invoke.name().into(),
            announcement: serde_json::to_vec(&wire).ok().map(|bytes| (field, bytes)),
        };
        Some((policy, claim))
    }

    /// An outbox's forwarding to `node`: the messages with these codes, about `session`.
    fn forwarder(
        &self,
        link: &Arc<Link>,
        node: Arc<str>,
        session: u64,
        codes: &'static [u64],
    ) -> Forward {
        let link = link.clone();
        let realm = self.config.name.clone();
        Forward(Arc::new(move |frame: Message| {
            let Message::Text(text) = frame else {
                return;
            };
            let Ok(message) = serde_json::from_str::<Value>(&text) else {
                return;
            };
            if !message
                .get(0)
                .and_then(Value::as_u64)
                .is_some_and(|c| codes.contains(&c))
            {
                return;
            }
            let wire = Wire::Direct {
                node: link.node.clone(),
                realm: realm.clone(),
                session,
                message,
            };
            link.to_node(&node, &wire);
        }))
    }
}

/// How this node announces its session `id`.
fn join_wire(link: &Link, realm: &str, id: u64, member: &Member) -> Wire {
    Wire::Join {
        node: link.node.clone(),
        realm: realm.to_string(),
        session: id,
        authid: member.identity.authid.clone(),
        authrole: member.identity.authrole.clone(),
        authmethod: member.identity.authmethod.into(),
        authprovider: member.identity.authprovider.into(),
        peer: member.peer.clone(),
    }
}

/// What the router sends a callee of another node that its node must see: a call, its
/// cancellation, and the meta API's kill.
const FOR_CALLEE: &[u64] = &[code::INVOCATION, code::INTERRUPT, code::GOODBYE];
/// What the router sends the stand-in of another node's caller: the call's answers.
const FOR_CALLER: &[u64] = &[code::RESULT, code::ERROR];
