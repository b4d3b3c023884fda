//! The dealer (spec "Remote Procedure Calls", and the Advanced Profile's pattern-based and
//! shared registrations, progressive call results, call canceling, call timeout, caller
//! identification). It owns the registrations and the calls in flight; the realm lends it
//! the sessions, and the broker for the meta events. Calls in flight are keyed both by the
//! callee's INVOCATION ID and by the caller's CALL ID, so a YIELD, a CANCEL, a timeout or a
//! session leaving each find them.

use crate::config::MatchPolicy;
use crate::runtime::time::now_rfc3339;
use crate::wamp::authorize::{self, Action};
use crate::wamp::broker::Broker;
use crate::wamp::cluster::{stable_id, Link, Wire};
use crate::wamp::held::Held;
use crate::wamp::message::{self, code, random_id, Payload};
use crate::wamp::options::{self, CancelMode, Invoke, Options};
use crate::wamp::patterns::PatternIndex;
use crate::wamp::sessions::Sessions;
use crate::wamp::uri::{self, crossbar, error};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::Duration;

/// The answer to a message that ends the session: what was wrong.
pub(crate) type Violation = String;

/// One registration: a procedure or pattern and its callees.
#[derive(Debug)]
pub(crate) struct Registration {
    /// Registration ID.
    pub id: u64,
    /// Procedure or pattern.
    pub uri: String,
    /// How `uri` matches.
    pub policy: MatchPolicy,
    /// How a callee is picked.
    pub invoke: Invoke,
    /// When it was created (RFC 3339).
    pub created: String,
    /// Callee session IDs in registration order.
    pub callees: Vec<u64>,
    next: usize,
}

impl Registration {
    /// As `wamp.registration.get` describes it.
    pub(crate) fn details(&self) -> Value {
        json!({"id": self.id, "created": self.created, "uri": self.uri, "match": self.policy.name(), "invoke": self.invoke.name()})
    }
}

/// A call in flight.
#[derive(Debug, Clone)]
struct Pending {
    caller: u64,
    call_request: u64,
    callee: u64,
    invocation: u64,
    receive_progress: bool,
    /// Held while the call's timeout is watched: dropped with the call, which ends the
    /// timer's task then, not when the timeout would have expired.
    timer: Option<async_std::channel::Sender<()>>,
    /// When the call was routed, for the call-duration metric.
    started: std::time::Instant,
}

/// A call whose `timeout` the dealer enforces: what its timer needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeout {
    /// `CALL.Options.timeout`.
    pub after: Duration,
    /// The caller's CALL ID.
    pub request: u64,
    /// The callee the call went to.
    pub callee: u64,
    /// The INVOCATION ID.
    pub invocation: u64,
}

/// What a CALL asks for, once its URI, permission and options are checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallOptions {
    timeout_ms: u64,
    receive_progress: bool,
    disclose_me: bool,
}

/// All registrations and calls in flight of a realm.
#[derive(Debug, Default)]
pub(crate) struct Dealer {
    /// By registration ID.
    registrations: HashMap<u64, Registration>,
    /// By pattern: one registration per distinct pattern and policy.
    index: PatternIndex,
    /// The registrations each session holds.
    by_session: Held,
    /// By (callee, INVOCATION ID).
    pending: HashMap<(u64, u64), Pending>,
    /// (caller, CALL ID) → (callee, INVOCATION ID).
    by_call: HashMap<(u64, u64), (u64, u64)>,
    /// The CALL IDs in flight of each caller, and the INVOCATION IDs of each callee: the
    /// counts the limits check, and what a leaving session ends.
    calls_of: Held,
    invocations_of: Held,
    /// The other nodes, in a cluster: this node's callees are announced to them.
    cluster: Option<std::sync::Arc<Link>>,
    /// The realm's name, for registration IDs and the cluster's names.
    realm: std::sync::Arc<str>,
}

impl Dealer {
    /// The dealer of realm `realm`, announcing its callees through `cluster`.
    pub(crate) fn new(realm: &str, cluster: Option<std::sync::Arc<Link>>) -> Dealer {
        Dealer {
            cluster,
            realm: realm.into(),
            ..Dealer::default()
        }
    }

    /// The dealer features WELCOME announces (spec "Feature Announcement"): what this
    /// file implements.
    pub(crate) fn features() -> Value {
        json!({
            "pattern_based_registration": true,
            "shared_registration": true,
            "progressive_call_results": true,
            "call_canceling": true,
            "call_timeout": true,
            "caller_identification": true,
            "session_meta_api": true,
            "registration_meta_api": true,
        })
    }

    /// The registration with this ID.
    pub(crate) fn get(&self, id: u64) -> Option<&Registration> {
        self.registrations.get(&id)
    }

    /// Every registration.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Registration> {
        self.registrations.values()
    }

    /// The registration that serves `procedure`: exact, then longest prefix, then wildcard.
    pub(crate) fn best_match(&self, procedure: &str) -> Option<u64> {
        if let Some(id) = self.index.exact(procedure) {
            return Some(id);
        }
        let mut longest = None;
        self.index.prefixes(procedure, |id| longest = Some(id));
        if longest.is_some() {
            return longest;
        }
        let mut best: Option<&Registration> = None;
        self.index.wildcards(procedure, |id| {
            let Some(r) = self.registrations.get(&id) else {
                return;
            };
            let better = best.is_none_or(|b| {
                uri::specificity(&r.uri, r.policy)
                    .cmp(&uri::specificity(&b.uri, b.policy))
                    .then_with(|| b.uri.cmp(&r.uri))
                    .is_gt()
            });
            if better {
                best = Some(r);
            }
        });
        best.map(|r| r.id)
    }

    /// The registration for exactly this pattern and policy.
    pub(crate) fn lookup(&self, policy: MatchPolicy, pattern: &str) -> Option<u64> {
        self.index.get(policy, pattern)
    }

    /// Forgets which registrations a leaving session holds and returns them; each is then
    /// ended with `remove_callee`.
    pub(crate) fn take_session(&mut self, session: u64) -> Vec<u64> {
        self.by_session.take(session)
    }

    /// Ties a timer to a call in flight (see `Pending::timer`).
    pub(crate) fn watch(&mut self, timeout: &Timeout, timer: async_std::channel::Sender<()>) {
        if let Some(pending) = self.pending.get_mut(&(timeout.callee, timeout.invocation)) {
            pending.timer = Some(timer);
        }
    }

    /// REGISTER.
    pub(crate) fn register(
        &mut self,
        sessions: &Sessions,
        broker: &Broker,
        id: u64,
        request: u64,
        options: &Options,
        procedure: &str,
    ) {
        let parsed =
            options::match_policy(options).and_then(|p| Invoke::read(options).map(|i| (p, i)));
        let (policy, invoke) = match parsed {
            Ok(pair) => pair,
            Err(text) => {
                return sessions.error(id, code::REGISTER, request, error::INVALID_ARGUMENT, text)
            }
        };
        if !uri::is_valid(procedure, policy) {
            let texts = (
                crossbar::register_invalid(procedure),
                uri::invalid(procedure, policy, "procedure"),
            );
            return sessions.error_as_crossbar(
                id,
                code::REGISTER,
                request,
                error::INVALID_URI,
                texts,
            );
        }
        if procedure.starts_with("wamp.") {
            let texts = (
                crossbar::register_restricted(procedure),
                format!("`{procedure}`: procedures under `wamp.` are the router's own"),
            );
            return sessions.error_as_crossbar(
                id,
                code::REGISTER,
                request,
                error::INVALID_URI,
                texts,
            );
        }
        if !sessions.authorize(id, code::REGISTER, request, procedure, Action::Register) {
            return;
        }
        let limit = sessions.limits(id).max_registrations;
        if self.by_session.count(id) >= limit {
            let text = format!("this session holds {limit} registrations, the most it may (option `max_registrations`)");
            return sessions.error(
                id,
                code::REGISTER,
                request,
                error::TOO_MANY_REGISTRATIONS,
                text,
            );
        }
        let reg_id = match self.index.get(policy, procedure) {
            Some(existing) => {
                let again = self.by_session.contains(id, existing);
                let Some(reg) = self.registrations.get_mut(&existing) else {
                    return;
                };
                if reg.invoke == Invoke::Single || invoke != reg.invoke || again {
                    let ours = format!(
                        "`{procedure}` is already registered (invoke `{}`)",
                        reg.invoke.name()
                    );
                    return sessions.error_as_crossbar(
                        id,
                        code::REGISTER,
                        request,
                        error::PROCEDURE_ALREADY_EXISTS,
                        (crossbar::already_registered(procedure), ours),
                    );
                }
                reg.callees.push(id);
                existing
            }
            None => {
                let reg_id = self.create(policy, invoke, procedure, id);
                let details = self.registrations.get(&reg_id).map(Registration::details);
                broker.meta_event(
                    sessions,
                    "wamp.registration.on_create",
                    vec![json!(id), details.unwrap_or_default()],
                );
                reg_id
            }
        };
        self.by_session.add(id, reg_id);
        if let Some(link) = &self.cluster {
            let wire = Wire::Register {
                node: link.node.clone(),
                realm: self.realm.to_string(),
                session: id,
                uri: procedure.to_string(),
                policy: policy.name().into(),
                invoke: invoke.name().into(),
                cancels: sessions.get(id).is_some_and(|m| m.callee_cancels),
            };
            let field = Link::registration_field(&self.realm, id, policy, procedure);
            link.announce(field, &wire);
        }
        sessions.send(id, message::registered(request, reg_id));
        let args = vec![json!(id), json!(reg_id)];
        broker.meta_event(sessions, "wamp.registration.on_register", args);
    }

    /// Whether session `id` is a callee of `procedure` registered with `policy`.
    pub(crate) fn holds(&self, id: u64, policy: MatchPolicy, procedure: &str) -> bool {
        self.index
            .get(policy, procedure)
            .is_some_and(|reg| self.by_session.contains(id, reg))
    }

    /// A new registration with its first callee; its ID is the same on every node.
    fn create(&mut self, policy: MatchPolicy, invoke: Invoke, procedure: &str, callee: u64) -> u64 {
        let registrations = &self.registrations;
        let id = stable_id(&self.realm, "registration", policy, procedure, |id| {
            registrations.contains_key(&id)
        });
        let reg = Registration {
            id,
            uri: procedure.to_string(),
            policy,
            invoke,
            created: now_rfc3339(),
            callees: vec![callee],
            next: 0,
        };
        self.registrations.insert(id, reg);
        self.index.insert(policy, procedure, id);
        id
    }

    /// A callee of another node (`Wire::Register`): added without answers or meta events,
    /// which its own node gives. Its claim in Redis already made it compatible; a local
    /// registration it would not fit (a race the claim lost) keeps it out, logged.
    pub(crate) fn register_remote(
        &mut self,
        callee: u64,
        policy: MatchPolicy,
        invoke: Invoke,
        procedure: &str,
    ) {
        let reg_id = match self.index.get(policy, procedure) {
            Some(existing) => {
                let Some(reg) = self.registrations.get_mut(&existing) else {
                    return;
                };
                if reg.callees.contains(&callee) {
                    return;
                }
                if reg.invoke == Invoke::Single || reg.invoke != invoke {
                    log::warn!("cluster: `{procedure}` of session {callee} on another node clashes with this node's registration (invoke `{}`); calls here keep to this node's", reg.invoke.name());
                    return;
                }
                reg.callees.push(callee);
                existing
            }
            None => self.create(policy, invoke, procedure, callee),
        };
        self.by_session.add(callee, reg_id);
    }

    /// A callee of another node stopped being one (`Wire::Unregister`).
    pub(crate) fn unregister_remote(
        &mut self,
        sessions: &Sessions,
        broker: &Broker,
        callee: u64,
        policy: MatchPolicy,
        procedure: &str,
    ) {
        if let Some(reg_id) = self.index.get(policy, procedure) {
            self.remove_callee(sessions, broker, callee, reg_id, false, false);
        }
    }

    /// An INVOCATION another node routed to local callee `callee`, for the caller there
    /// that `caller` (a session of that node here) stands for: the call goes on as any
    /// other, under `request`, the other node's INVOCATION ID. `details` are that node's.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn invoke_forwarded(
        &mut self,
        sessions: &mut Sessions,
        caller: u64,
        request: u64,
        callee: u64,
        reg_id: u64,
        details: Map<String, Value>,
        payload: &Payload,
    ) {
        if sessions.get(callee).is_none_or(|m| m.remote.is_some())
            || !self.by_session.contains(callee, reg_id)
        {
            let text = "the callee left before the call reached it";
            return sessions.error(caller, code::CALL, request, error::CANCELED, text);
        }
        if self.by_call.contains_key(&(caller, request)) {
            let text = format!("call {request} from that node is already in flight here");
            return sessions.error(caller, code::CALL, request, error::CANCELED, text);
        }
        let limit = sessions.limits(callee).max_invocations_in_flight;
        if self.invocations_of.count(callee) >= limit {
            let text = format!("the callee has {limit} invocations in flight, the most it may (option `max_invocations_in_flight`); try again later");
            return sessions.error(
                caller,
                code::CALL,
                request,
                error::TOO_MANY_INVOCATIONS,
                text,
            );
        }
        let receive_progress = details.get("receive_progress") == Some(&Value::Bool(true));
        let invocation = sessions.next_request(callee);
        sessions.send(
            callee,
            message::invocation(invocation, reg_id, details, payload),
        );
        self.add_pending(Pending {
            caller,
            call_request: request,
            callee,
            invocation,
            receive_progress,
            timer: None,
            started: std::time::Instant::now(),
        });
    }

    /// UNREGISTER.
    pub(crate) fn unregister(
        &mut self,
        sessions: &Sessions,
        broker: &Broker,
        id: u64,
        request: u64,
        reg_id: u64,
    ) {
        if !self.remove_callee(sessions, broker, id, reg_id, true, true) {
            let text = format!("session {id} has no registration {reg_id}");
            return sessions.error(
                id,
                code::UNREGISTER,
                request,
                error::NO_SUCH_REGISTRATION,
                text,
            );
        }
        sessions.send(id, message::unregistered(request));
    }

    /// Removes a callee, deleting the registration when it was the last; false if absent.
    /// `announce` as for `Broker::remove_subscriber`.
    /// `local` is false for a callee of another node (whose node tells the cluster).
    pub(crate) fn remove_callee(
        &mut self,
        sessions: &Sessions,
        broker: &Broker,
        id: u64,
        reg_id: u64,
        announce: bool,
        local: bool,
    ) -> bool {
        let Some(reg) = self.registrations.get_mut(&reg_id) else {
            return false;
        };
        let Some(at) = reg.callees.iter().position(|c| *c == id) else {
            return false;
        };
        reg.callees.remove(at);
        self.by_session.remove(id, reg_id);
        if let (Some(link), true) = (&self.cluster, local) {
            link.withdraw(&self.realm, id, reg.policy, &reg.uri);
        }
        let now_empty = reg.callees.is_empty();
        if now_empty {
            if let Some(reg) = self.registrations.remove(&reg_id) {
                self.index.remove(reg.policy, &reg.uri);
            }
        }
        if announce && local {
            let args = vec![json!(id), json!(reg_id)];
            broker.meta_event(sessions, "wamp.registration.on_unregister", args.clone());
            if now_empty {
                broker.meta_event(sessions, "wamp.registration.on_delete", args);
            }
        }
        true
    }

    /// Checks a CALL's URI, permission and options, answering with the error if one is
    /// wrong. Meta procedures (`wamp.`) go through this too.
    pub(crate) fn accept_call(
        sessions: &Sessions,
        id: u64,
        request: u64,
        options: &Options,
        procedure: &str,
    ) -> Option<CallOptions> {
        if !uri::is_valid(procedure, MatchPolicy::Exact) {
            let ours = uri::invalid(procedure, MatchPolicy::Exact, "procedure");
            let texts = (crossbar::call_invalid(procedure), ours);
            sessions.error_as_crossbar(id, code::CALL, request, error::INVALID_URI, texts);
            return None;
        }
        if !sessions.authorize(id, code::CALL, request, procedure, Action::Call) {
            return None;
        }
        let read = options::timeout_ms(options).and_then(|timeout_ms| {
            Ok(CallOptions {
                timeout_ms,
                receive_progress: options::flag(options, "receive_progress")?.unwrap_or(false),
                disclose_me: options::flag(options, "disclose_me")?.unwrap_or(false),
            })
        });
        match read {
            Ok(call) => Some(call),
            Err(text) => {
                sessions.error(id, code::CALL, request, error::INVALID_ARGUMENT, text);
                None
            }
        }
    }

    /// CALL (checked by `accept_call`): INVOCATION to a callee. Returns the call's timeout
    /// when the dealer must enforce one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn call(
        &mut self,
        sessions: &mut Sessions,
        id: u64,
        request: u64,
        call: CallOptions,
        procedure: &str,
        payload: &Payload,
    ) -> Option<Timeout> {
        let Some(reg_id) = self.best_match(procedure) else {
            let texts = (
                crossbar::no_callee(procedure),
                format!("no callee registered `{procedure}`"),
            );
            sessions.error_as_crossbar(id, code::CALL, request, error::NO_SUCH_PROCEDURE, texts);
            return None;
        };
        let limit = sessions.limits(id).max_calls_in_flight;
        if self.calls_of.count(id) >= limit {
            let text = format!("this session has {limit} calls in flight, the most it may (option `max_calls_in_flight`)");
            sessions.error(id, code::CALL, request, error::TOO_MANY_CALLS, text);
            return None;
        }
        if self.by_call.contains_key(&(id, request)) {
            // A second CALL with the ID of one in flight would orphan the first.
            let text = format!("call {request} is already in flight");
            sessions.error(id, code::CALL, request, error::INVALID_ARGUMENT, text);
            return None;
        }
        let callee = self.pick_callee(sessions, reg_id)?;
        let busy = self.invocations_of.count(callee);
        let limit = sessions.limits(callee).max_invocations_in_flight;
        if busy >= limit {
            let text = format!("the callee of `{procedure}` has {limit} invocations in flight, the most it may (option `max_invocations_in_flight`); try again later");
            sessions.error(id, code::CALL, request, error::TOO_MANY_INVOCATIONS, text);
            return None;
        }
        let invocation = sessions.next_request(callee);
        let reg = self.registrations.get(&reg_id)?;
        let mut details = Map::new();
        if reg.policy != MatchPolicy::Exact {
            details.insert("procedure".into(), json!(procedure));
        }
        if call.receive_progress {
            details.insert("receive_progress".into(), json!(true));
        }
        if let Some(caller) = sessions.get(id) {
            let disclose =
                authorize::permission(&caller.role, procedure).is_some_and(|p| p.disclose_caller);
            if disclose || call.disclose_me {
                details.insert("caller".into(), json!(id));
                details.insert("caller_authid".into(), json!(caller.identity.authid));
                details.insert("caller_authrole".into(), json!(caller.identity.authrole));
            }
        }
        sessions.send(
            callee,
            message::invocation(invocation, reg_id, details, payload),
        );
        self.add_pending(Pending {
            caller: id,
            call_request: request,
            callee,
            invocation,
            receive_progress: call.receive_progress,
            timer: None,
            started: std::time::Instant::now(),
        });
        (call.timeout_ms > 0).then_some(Timeout {
            after: Duration::from_millis(call.timeout_ms),
            request,
            callee,
            invocation,
        })
    }

    /// The callee the registration's `invoke` policy picks; one that has left (whose
    /// registrations are still being ended) is passed over for any live one.
    fn pick_callee(&mut self, sessions: &Sessions, reg_id: u64) -> Option<u64> {
        let reg = self.registrations.get_mut(&reg_id)?;
        let n = reg.callees.len();
        let at = match reg.invoke {
            Invoke::Single | Invoke::First => 0,
            Invoke::Last => n.checked_sub(1)?,
            Invoke::RoundRobin => {
                let at = reg.next % n.max(1);
                reg.next = at + 1;
                at
            }
            Invoke::Random => (random_id() as usize) % n.max(1),
        };
        let picked = reg.callees.get(at).copied()?;
        if sessions.contains(picked) {
            return Some(picked);
        }
        reg.callees.iter().copied().find(|c| sessions.contains(*c))
    }

    /// YIELD from a callee.
    pub(crate) fn yield_result(
        &mut self,
        sessions: &Sessions,
        callee: u64,
        invocation: u64,
        options: &Options,
        payload: &Payload,
    ) -> Result<(), Violation> {
        let Some(pending) = self.pending.get(&(callee, invocation)) else {
            return unknown_invocation(sessions, callee, invocation, "YIELD");
        };
        let (caller, request) = (pending.caller, pending.call_request);
        if matches!(options.get("progress"), Some(Value::Bool(true))) {
            // Progressive results only reach a caller that asked for them.
            if pending.receive_progress {
                let result = message::result(request, json!({"progress": true}), payload);
                sessions.send(caller, result);
            }
            return Ok(());
        }
        self.remove_pending(callee, invocation);
        sessions.send(caller, message::result(request, json!({}), payload));
        Ok(())
    }

    /// ERROR from a callee, for an INVOCATION.
    pub(crate) fn invocation_error(
        &mut self,
        sessions: &Sessions,
        callee: u64,
        invocation: u64,
        details: Map<String, Value>,
        error_uri: &str,
        payload: &Payload,
    ) -> Result<(), Violation> {
        let Some(pending) = self.remove_pending(callee, invocation) else {
            return unknown_invocation(sessions, callee, invocation, "ERROR");
        };
        let error = message::error(
            code::CALL,
            pending.call_request,
            details,
            error_uri,
            payload,
        );
        sessions.send(pending.caller, error);
        Ok(())
    }

    /// CANCEL from a caller.
    pub(crate) fn cancel(
        &mut self,
        sessions: &Sessions,
        caller: u64,
        call_request: u64,
        options: &Options,
    ) {
        let mode = match CancelMode::read(options) {
            Ok(mode) => mode,
            Err(text) => {
                return sessions.error(
                    caller,
                    code::CANCEL,
                    call_request,
                    error::INVALID_ARGUMENT,
                    text,
                )
            }
        };
        let Some((callee, invocation)) = self.by_call.get(&(caller, call_request)).copied() else {
            // The call has already ended; nothing to cancel.
            return;
        };
        let can_interrupt = sessions.get(callee).is_some_and(|m| m.callee_cancels);
        let mode = if can_interrupt {
            mode
        } else {
            CancelMode::Skip
        };
        if mode != CancelMode::Skip {
            sessions.send(
                callee,
                message::interrupt(invocation, json!({"mode": mode.name()})),
            );
        }
        // `kill` waits for the callee's answer, which then reaches the caller as usual.
        if mode != CancelMode::Kill {
            self.remove_pending(callee, invocation);
            let text = "the call was canceled";
            sessions.error(caller, code::CALL, call_request, error::CANCELED, text);
        }
    }

    /// The dealer's own timeout fired for a call (CALL.Options.timeout).
    pub(crate) fn call_timed_out(&mut self, sessions: &Sessions, caller: u64, timeout: Timeout) {
        let (callee, invocation) = (timeout.callee, timeout.invocation);
        // Only the call this timer was for: a later call may reuse the CALL ID.
        if self.by_call.get(&(caller, timeout.request)) != Some(&(callee, invocation)) {
            return;
        }
        self.remove_pending(callee, invocation);
        if sessions.get(callee).is_some_and(|m| m.callee_cancels) {
            let options = json!({"mode": "killnowait", "reason": error::TIMEOUT});
            sessions.send(callee, message::interrupt(invocation, options));
        }
        let text = "the call timed out";
        sessions.error(caller, code::CALL, timeout.request, error::CANCELED, text);
    }

    /// A session left: its calls in flight end on both sides. Its registrations are ended
    /// by the realm, a batch at a time (`take_session`, `remove_callee`).
    pub(crate) fn end_calls(&mut self, sessions: &Sessions, id: u64) {
        for p in self.pending_of(id) {
            self.remove_pending(p.callee, p.invocation);
            if p.callee == id {
                let text = "the callee left before it answered";
                sessions.error(p.caller, code::CALL, p.call_request, error::CANCELED, text);
            } else if sessions.get(p.callee).is_some_and(|m| m.callee_cancels) {
                let interrupt = message::interrupt(p.invocation, json!({"mode": "killnowait"}));
                sessions.send(p.callee, interrupt);
            }
        }
    }

    fn add_pending(&mut self, pending: Pending) {
        crate::runtime::metrics::metrics().call_started();
        let (caller, request) = (pending.caller, pending.call_request);
        let (callee, invocation) = (pending.callee, pending.invocation);
        self.pending.insert((callee, invocation), pending);
        self.by_call.insert((caller, request), (callee, invocation));
        self.calls_of.add(caller, request);
        self.invocations_of.add(callee, invocation);
    }

    fn remove_pending(&mut self, callee: u64, invocation: u64) -> Option<Pending> {
        let pending = self.pending.remove(&(callee, invocation))?;
        crate::runtime::metrics::metrics().call_ended(pending.started.elapsed().as_secs_f64());
        self.by_call.remove(&(pending.caller, pending.call_request));
        self.calls_of.remove(pending.caller, pending.call_request);
        self.invocations_of.remove(callee, invocation);
        Some(pending)
    }

    /// The calls in flight where `session` is the caller or the callee.
    fn pending_of(&self, session: u64) -> Vec<Pending> {
        let as_caller = self.calls_of.of(session);
        let mut keys: Vec<(u64, u64)> = as_caller
            .filter_map(|request| self.by_call.get(&(session, request)).copied())
            .collect();
        keys.extend(self.invocations_of.of(session).map(|i| (session, i)));
        // A session calling itself is both.
        keys.sort_unstable();
        keys.dedup();
        keys.iter()
            .filter_map(|key| self.pending.get(key).cloned())
            .collect()
    }
}

/// A reply to an invocation that is no longer pending (canceled, timed out) is dropped;
/// one to an invocation that was never sent is a protocol violation.
fn unknown_invocation(
    sessions: &Sessions,
    callee: u64,
    invocation: u64,
    what: &str,
) -> Result<(), Violation> {
    let issued = sessions.get(callee).map_or(0, |m| m.last_request);
    if invocation <= issued {
        Ok(())
    } else {
        Err(format!(
            "{what} for INVOCATION {invocation}, which the router never sent"
        ))
    }
}
