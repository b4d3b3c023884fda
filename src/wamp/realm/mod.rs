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

mod remote;
use remote::join_wire;

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
        crate::lock(&self.state)
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
