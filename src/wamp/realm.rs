//! A realm: its sessions, broker and dealer, behind one short-held lock.
//!
//! Why a lock and not a task fed by a channel: every operation is a few map lookups and
//! non-blocking queue pushes (`Outbox::send` never waits), so the lock is held for
//! microseconds and never across an `.await`; a publisher never waits on a subscriber, and a
//! slow subscriber's full queue closes that subscriber only.

use crate::config::{self, Role, SessionLimits};
use crate::lifecycle::ConnInfo;
use crate::wamp::auth::{self, Action, Identity};
use crate::wamp::broker::Broker;
use crate::wamp::dealer::{Dealer, Timeout};
use crate::wamp::message::{self, code, ClientMessage, MAX_ID};
use crate::wamp::serializer::Serializer;
use crate::ws::Outbox;
use futures_lite::FutureExt;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// A realm and its live state.
pub struct Realm {
    /// The realm's config (name, roles).
    pub config: config::Realm,
    state: Mutex<RealmState>,
}

/// A joined session as the realm sees it.
pub struct Member {
    /// Who it is.
    pub identity: Identity,
    /// Where its messages go.
    pub outbox: Outbox,
    /// Its role's permissions.
    pub role: Role,
    /// The peer address, for the meta API.
    pub peer: String,
    /// The callee announced `call_canceling`: it may receive INTERRUPT.
    pub callee_cancels: bool,
    /// Last request ID the router used toward this session (INVOCATION).
    pub last_request: u64,
    /// How its messages are encoded.
    pub serializer: Serializer,
    /// What it may make the router hold.
    pub limits: SessionLimits,
}

impl Member {
    /// A session about to join, from its HELLO's `details` and its connection.
    pub fn new(
        identity: Identity,
        role: Role,
        details: &Map<String, Value>,
        conn: &ConnInfo,
        outbox: Outbox,
        serializer: Serializer,
        limits: SessionLimits,
    ) -> Member {
        let callee_cancels = details
            .get("roles")
            .and_then(|r| r.get("callee"))
            .and_then(|c| c.get("features"))
            .and_then(|f| f.get("call_canceling"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Member {
            identity,
            outbox,
            role,
            peer: conn.peer.to_string(),
            callee_cancels,
            last_request: 0,
            serializer,
            limits,
        }
    }
}

/// Everything behind the realm's lock.
pub struct RealmState {
    /// Joined sessions by ID.
    pub members: HashMap<u64, Member>,
    /// Subscriptions.
    pub broker: Broker,
    /// Registrations and calls in flight.
    pub dealer: Dealer,
    /// Sessions gone but still being removed in batches; their IDs are not reused.
    leaving: HashSet<u64>,
}

/// How many subscriptions and registrations of a leaving session are ended under one
/// hold of the lock.
const LEAVE_BATCH: usize = 256;

/// What a leaving session still holds.
struct Leaving {
    id: u64,
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
        let announce_subscriptions = state.meta_wanted(&[
            "wamp.subscription.on_unsubscribe",
            "wamp.subscription.on_delete",
        ]);
        let announce_registrations = state.meta_wanted(&[
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
                state.remove_callee(self.id, reg_id, announce_registrations);
            } else if let Some(sub_id) = self.subscriptions.pop() {
                state.remove_subscriber(self.id, sub_id, announce_subscriptions);
            } else {
                return true;
            }
        }
        self.size() == 0
    }

    /// Ends everything left and announces the departure.
    fn finish(mut self, state: &mut RealmState) {
        while !self.end_batch(state) {}
        state.meta_event(
            "wamp.session.on_leave",
            vec![json!(self.id), json!(self.authid), json!(self.authrole)],
        );
    }
}

/// The answer to a message that ends the session.
pub type Violation = String;

impl Realm {
    /// A realm with no sessions yet.
    pub fn new(config: config::Realm) -> Realm {
        Realm {
            config,
            state: Mutex::new(RealmState {
                members: HashMap::new(),
                broker: Broker::default(),
                dealer: Dealer::default(),
                leaving: HashSet::new(),
            }),
        }
    }

    /// Locks the realm's state. A panic elsewhere must not take every session down with it.
    pub fn lock(&self) -> MutexGuard<'_, RealmState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The role with this name, if the realm has it.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.config.roles.iter().find(|r| r.name == name)
    }

    /// Adds a session; returns its new ID (random in [1, 2^53]).
    pub fn join(&self, member: Member) -> u64 {
        let mut state = self.lock();
        let id = loop {
            let candidate = random_id();
            if !state.members.contains_key(&candidate) && !state.leaving.contains(&candidate) {
                break candidate;
            }
        };
        state.members.insert(id, member);
        let info = state.session_details(id);
        state.meta_event("wamp.session.on_join", vec![info]);
        id
    }

    /// Removes a session: its subscriptions, registrations and calls end with it.
    ///
    /// A session may hold many subscriptions (as many as its `max_subscriptions`), and
    /// ending each one is work under the realm's lock. So a large session is ended in
    /// batches, the lock released and the task yielding between them: the others wait
    /// for one batch at most, never for the whole session.
    pub fn leave(self: &Arc<Self>, id: u64) {
        let mut state = self.lock();
        let Some(member) = state.members.remove(&id) else {
            return;
        };
        state.dealer_end_calls(id);
        let leaving = Leaving {
            id,
            authid: member.identity.authid,
            authrole: member.identity.authrole,
            subscriptions: state.broker.take_session(id),
            registrations: state.dealer.take_session(id),
        };
        if leaving.size() <= LEAVE_BATCH {
            leaving.finish(&mut state);
            return;
        }
        // Registrations go at once (up to a few batches' worth): a callee that has left
        // must stop being picked, and may register again as soon as it is back.
        let mut leaving = leaving;
        for _ in 0..4 {
            if leaving.registrations.is_empty() {
                break;
            }
            leaving.end_batch(&mut state);
        }
        state.leaving.insert(id);
        drop(state);
        let realm = self.clone();
        async_std::task::spawn(async move { realm.leave_in_batches(leaving).await });
    }

    async fn leave_in_batches(&self, mut leaving: Leaving) {
        let started = std::time::Instant::now();
        let held = leaving.size();
        loop {
            let done = {
                let mut state = self.lock();
                leaving.end_batch(&mut state)
            };
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
            async_std::task::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Enforces a call's timeout with a timer that ends with the call, whichever is first.
    fn watch_timeout(self: &Arc<Self>, state: &mut RealmState, caller: u64, timeout: Timeout) {
        let (stop, stopped) = async_std::channel::bounded::<()>(1);
        state.dealer.watch(timeout.callee, timeout.invocation, stop);
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
                realm.lock().call_timed_out(caller, timeout);
            }
        });
    }

    /// Handles a message of an established session. `Err` is a protocol violation.
    pub fn handle(self: &Arc<Self>, id: u64, msg: ClientMessage) -> Result<(), Violation> {
        let mut state = self.lock();
        match msg {
            ClientMessage::Publish {
                request,
                options,
                topic,
                payload,
            } => {
                state.publish(id, request, &options, &topic, &payload);
            }
            ClientMessage::Subscribe {
                request,
                options,
                topic,
            } => state.subscribe(id, request, &options, &topic),
            ClientMessage::Unsubscribe {
                request,
                subscription,
            } => state.unsubscribe(id, request, subscription),
            ClientMessage::Register {
                request,
                options,
                procedure,
            } => state.register(id, request, &options, &procedure),
            ClientMessage::Unregister {
                request,
                registration,
            } => state.unregister(id, request, registration),
            ClientMessage::Call {
                request,
                options,
                procedure,
                payload,
            } => {
                if let Some(timeout) = state.call(id, request, &options, &procedure, payload) {
                    self.watch_timeout(&mut state, id, timeout);
                }
            }
            ClientMessage::Cancel { request, options } => state.cancel(id, request, &options),
            ClientMessage::Yield {
                request,
                options,
                payload,
            } => state.yield_result(id, request, &options, payload)?,
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
                state.invocation_error(id, request, details, error, payload)?;
            }
            ClientMessage::Hello { .. } => {
                return Err("HELLO on a session that is already established".into())
            }
            ClientMessage::Authenticate { .. } => {
                return Err("AUTHENTICATE on a session that is already established".into())
            }
            // The session layer handles ABORT and GOODBYE.
            ClientMessage::Abort { .. } | ClientMessage::Goodbye { .. } => {}
        }
        Ok(())
    }
}

impl RealmState {
    /// Queues a message for a session in its serializer; a gone or too slow session is skipped.
    pub fn send(&self, id: u64, fields: Vec<Value>) {
        if let Some(member) = self.members.get(&id) {
            member
                .outbox
                .send(member.serializer.encode(&Value::Array(fields)));
        }
    }

    /// Sends `[ERROR, type, request, {}, uri, [text]]`.
    pub fn error(
        &self,
        id: u64,
        request_type: u64,
        request: u64,
        uri: &str,
        text: impl Into<String>,
    ) {
        let text: String = text.into();
        self.send(
            id,
            vec![
                json!(code::ERROR),
                json!(request_type),
                json!(request),
                json!({}),
                json!(uri),
                json!([text]),
            ],
        );
    }

    /// Whether the session's role may do `action` on `uri`; sends `not_authorized` if not.
    pub fn authorize(
        &self,
        id: u64,
        request_type: u64,
        request: u64,
        uri: &str,
        action: Action,
    ) -> bool {
        let Some(member) = self.members.get(&id) else {
            return false;
        };
        if auth::allowed(&member.role, uri, action) {
            return true;
        }
        self.error(
            id,
            request_type,
            request,
            "wamp.error.not_authorized",
            format!(
                "role `{}` may not {} `{uri}`",
                member.identity.authrole,
                format!("{action:?}").to_lowercase()
            ),
        );
        false
    }

    /// The next router-to-session request ID for `id` (sequential, as the spec asks).
    pub fn next_request(&mut self, id: u64) -> u64 {
        match self.members.get_mut(&id) {
            Some(member) => {
                member.last_request = if member.last_request >= MAX_ID {
                    1
                } else {
                    member.last_request + 1
                };
                member.last_request
            }
            None => 0,
        }
    }

    /// The details dict of a session, as `wamp.session.get` and `on_join` give it.
    pub fn session_details(&self, id: u64) -> Value {
        match self.members.get(&id) {
            Some(m) => json!({
                "session": id,
                "authid": m.identity.authid,
                "authrole": m.identity.authrole,
                "authmethod": m.identity.authmethod,
                "authprovider": "static",
                "transport": {"type": "websocket", "peer": m.peer},
            }),
            None => Value::Null,
        }
    }
}

/// A random ID in [1, 2^53], as the spec asks for session and publication IDs.
pub fn random_id() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    (u64::from_le_bytes(bytes) % MAX_ID) + 1
}
