//! The dealer (spec "Remote Procedure Calls", and the Advanced Profile's pattern-based and
//! shared registrations, progressive call results, call canceling, call timeout, caller
//! identification). Calls in flight are keyed both by the callee's INVOCATION ID and by the
//! caller's CALL ID, so a YIELD, a CANCEL, a timeout or a session leaving each find them.

use crate::config::MatchPolicy;
use crate::time::now_rfc3339;
use crate::wamp::auth::{self, Action};
use crate::wamp::broker::{flag, match_policy};
use crate::wamp::message::{code, Payload};
use crate::wamp::patterns::PatternIndex;
use crate::wamp::realm::{random_id, RealmState, Violation};
use crate::wamp::uri;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

/// How a shared registration picks its callee (`invoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invoke {
    /// One callee only.
    Single,
    /// Callees in turn.
    RoundRobin,
    /// A random callee.
    Random,
    /// The callee that registered first.
    First,
    /// The callee that registered last.
    Last,
}

impl Invoke {
    fn parse(options: &Map<String, Value>) -> Result<Invoke, String> {
        match options.get("invoke") {
            None | Some(Value::Null) => Ok(Invoke::Single),
            Some(Value::String(s)) => match s.as_str() {
                "single" => Ok(Invoke::Single),
                "roundrobin" => Ok(Invoke::RoundRobin),
                "random" => Ok(Invoke::Random),
                "first" => Ok(Invoke::First),
                "last" => Ok(Invoke::Last),
                other => Err(format!("option `invoke` must be single, roundrobin, random, first or last, not `{other}`")),
            },
            Some(_) => Err("option `invoke` must be a string".into()),
        }
    }

    /// The spec's name.
    pub fn name(self) -> &'static str {
        match self {
            Invoke::Single => "single",
            Invoke::RoundRobin => "roundrobin",
            Invoke::Random => "random",
            Invoke::First => "first",
            Invoke::Last => "last",
        }
    }
}

/// One registration: a procedure or pattern and its callees.
#[derive(Debug)]
pub struct Registration {
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
}

/// A call whose `timeout` the dealer enforces: what its timer needs.
#[derive(Debug, Clone, Copy)]
pub struct Timeout {
    /// `CALL.Options.timeout`.
    pub after: std::time::Duration,
    /// The caller's CALL ID.
    pub request: u64,
    /// The callee and INVOCATION ID of the call.
    pub callee: u64,
    /// The INVOCATION ID.
    pub invocation: u64,
}

/// All registrations and calls in flight of a realm.
#[derive(Debug, Default)]
pub struct Dealer {
    /// By registration ID.
    pub registrations: HashMap<u64, Registration>,
    /// By pattern: one registration per distinct pattern and policy.
    index: PatternIndex,
    /// The registrations each session holds.
    by_session: HashMap<u64, HashSet<u64>>,
    /// By (callee, INVOCATION ID).
    pending: HashMap<(u64, u64), Pending>,
    /// (caller, CALL ID) → (callee, INVOCATION ID).
    by_call: HashMap<(u64, u64), (u64, u64)>,
    /// The CALL IDs in flight of each caller, and the INVOCATION IDs of each callee: the
    /// counts the limits check, and what a leaving session ends.
    calls_of: HashMap<u64, HashSet<u64>>,
    invocations_of: HashMap<u64, HashSet<u64>>,
}

impl Dealer {
    /// The registration that serves `procedure`: exact, then longest prefix, then wildcard.
    pub fn best_match(&self, procedure: &str) -> Option<u64> {
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
    pub fn lookup(&self, policy: MatchPolicy, pattern: &str) -> Option<u64> {
        self.index.get(policy, pattern)
    }

    /// Forgets which registrations a leaving session holds and returns them; each is then
    /// ended with `remove_callee`.
    pub fn take_session(&mut self, session: u64) -> Vec<u64> {
        self.by_session
            .remove(&session)
            .map(|regs| regs.into_iter().collect())
            .unwrap_or_default()
    }

    fn add_pending(&mut self, pending: Pending) {
        let (caller, request) = (pending.caller, pending.call_request);
        let (callee, invocation) = (pending.callee, pending.invocation);
        self.pending.insert((callee, invocation), pending);
        self.by_call.insert((caller, request), (callee, invocation));
        self.calls_of.entry(caller).or_default().insert(request);
        self.invocations_of
            .entry(callee)
            .or_default()
            .insert(invocation);
    }

    /// Ties a timer to a call in flight (see `Pending::timer`).
    pub fn watch(&mut self, callee: u64, invocation: u64, timer: async_std::channel::Sender<()>) {
        if let Some(pending) = self.pending.get_mut(&(callee, invocation)) {
            pending.timer = Some(timer);
        }
    }

    fn remove_pending(&mut self, callee: u64, invocation: u64) -> Option<Pending> {
        let pending = self.pending.remove(&(callee, invocation))?;
        self.by_call.remove(&(pending.caller, pending.call_request));
        remove_from(&mut self.calls_of, pending.caller, pending.call_request);
        remove_from(&mut self.invocations_of, callee, invocation);
        Some(pending)
    }

    /// The calls in flight where `session` is the caller or the callee.
    fn pending_of(&self, session: u64) -> Vec<Pending> {
        let mut keys: Vec<(u64, u64)> = Vec::new();
        if let Some(requests) = self.calls_of.get(&session) {
            let callees = requests
                .iter()
                .filter_map(|r| self.by_call.get(&(session, *r)));
            keys.extend(callees.copied());
        }
        if let Some(invocations) = self.invocations_of.get(&session) {
            keys.extend(invocations.iter().map(|i| (session, *i)));
        }
        // A session calling itself is both.
        keys.sort_unstable();
        keys.dedup();
        keys.iter()
            .filter_map(|key| self.pending.get(key).cloned())
            .collect()
    }
}

/// Removes `item` from the set kept for `session`, and the set once it is empty.
fn remove_from(sets: &mut HashMap<u64, HashSet<u64>>, session: u64, item: u64) {
    if let Some(set) = sets.get_mut(&session) {
        set.remove(&item);
        if set.is_empty() {
            sets.remove(&session);
        }
    }
}

/// A registration as `wamp.registration.get` describes it.
pub fn registration_details(reg: &Registration) -> Value {
    json!({"id": reg.id, "created": reg.created, "uri": reg.uri, "match": reg.policy.name(), "invoke": reg.invoke.name()})
}

impl RealmState {
    /// REGISTER.
    pub fn register(
        &mut self,
        id: u64,
        request: u64,
        options: &Map<String, Value>,
        procedure: &str,
    ) {
        let parsed = match_policy(options).and_then(|p| Invoke::parse(options).map(|i| (p, i)));
        let (policy, invoke) = match parsed {
            Ok(pair) => pair,
            Err(text) => {
                return self.error(
                    id,
                    code::REGISTER,
                    request,
                    "wamp.error.invalid_argument",
                    text,
                )
            }
        };
        if !uri::is_valid(procedure, policy) || procedure.starts_with("wamp.") {
            let text = format!(
                "{} (and `wamp.` is the router's own)",
                uri::invalid(procedure, policy, "procedure")
            );
            return self.error(id, code::REGISTER, request, "wamp.error.invalid_uri", text);
        }
        if !self.authorize(id, code::REGISTER, request, procedure, Action::Register) {
            return;
        }
        let limit = self
            .members
            .get(&id)
            .map_or(0, |m| m.limits.max_registrations);
        if self.dealer.by_session.get(&id).map_or(0, HashSet::len) >= limit {
            let text = format!("this session holds {limit} registrations, the most it may (option `max_registrations`)");
            return self.error(
                id,
                code::REGISTER,
                request,
                uri::error::TOO_MANY_REGISTRATIONS,
                text,
            );
        }
        let reg_id = match self.dealer.index.get(policy, procedure) {
            Some(existing) => {
                let Some(reg) = self.dealer.registrations.get_mut(&existing) else {
                    return;
                };
                let again = self
                    .dealer
                    .by_session
                    .get(&id)
                    .is_some_and(|r| r.contains(&existing));
                if reg.invoke == Invoke::Single || invoke != reg.invoke || again {
                    let text = format!(
                        "`{procedure}` is already registered (invoke `{}`)",
                        reg.invoke.name()
                    );
                    return self.error(
                        id,
                        code::REGISTER,
                        request,
                        "wamp.error.procedure_already_exists",
                        text,
                    );
                }
                reg.callees.push(id);
                existing
            }
            None => {
                let reg_id = random_id();
                let reg = Registration {
                    id: reg_id,
                    uri: procedure.to_string(),
                    policy,
                    invoke,
                    created: now_rfc3339(),
                    callees: vec![id],
                    next: 0,
                };
                let details = registration_details(&reg);
                self.dealer.registrations.insert(reg_id, reg);
                self.dealer.index.insert(policy, procedure, reg_id);
                self.meta_event("wamp.registration.on_create", vec![json!(id), details]);
                reg_id
            }
        };
        self.dealer.by_session.entry(id).or_default().insert(reg_id);
        self.send(
            id,
            vec![json!(code::REGISTERED), json!(request), json!(reg_id)],
        );
        self.meta_event(
            "wamp.registration.on_register",
            vec![json!(id), json!(reg_id)],
        );
    }

    /// UNREGISTER.
    pub fn unregister(&mut self, id: u64, request: u64, reg_id: u64) {
        if !self.remove_callee(id, reg_id, true) {
            let text = format!("session {id} has no registration {reg_id}");
            return self.error(
                id,
                code::UNREGISTER,
                request,
                "wamp.error.no_such_registration",
                text,
            );
        }
        self.send(id, vec![json!(code::UNREGISTERED), json!(request)]);
    }

    /// Removes a callee, deleting the registration when it was the last; false if absent.
    pub fn remove_callee(&mut self, id: u64, reg_id: u64, announce: bool) -> bool {
        let Some(reg) = self.dealer.registrations.get_mut(&reg_id) else {
            return false;
        };
        let Some(at) = reg.callees.iter().position(|c| *c == id) else {
            return false;
        };
        reg.callees.remove(at);
        if let Some(held) = self.dealer.by_session.get_mut(&id) {
            held.remove(&reg_id);
        }
        let now_empty = reg.callees.is_empty();
        if now_empty {
            if let Some(reg) = self.dealer.registrations.remove(&reg_id) {
                self.dealer.index.remove(reg.policy, &reg.uri);
            }
        }
        if !announce {
            return true;
        }
        self.meta_event(
            "wamp.registration.on_unregister",
            vec![json!(id), json!(reg_id)],
        );
        if now_empty {
            self.meta_event(
                "wamp.registration.on_delete",
                vec![json!(id), json!(reg_id)],
            );
        }
        true
    }

    /// CALL. Returns the call's timeout when the dealer must enforce one.
    pub fn call(
        &mut self,
        id: u64,
        request: u64,
        options: &Map<String, Value>,
        procedure: &str,
        payload: Payload,
    ) -> Option<Timeout> {
        if !uri::is_valid(procedure, MatchPolicy::Exact) {
            let text = format!("`{procedure}` is not a valid procedure URI");
            self.error(id, code::CALL, request, "wamp.error.invalid_uri", text);
            return None;
        }
        if !self.authorize(id, code::CALL, request, procedure, Action::Call) {
            return None;
        }
        let timeout = match options.get("timeout") {
            None | Some(Value::Null) => 0,
            Some(v) => match v.as_u64() {
                Some(ms) => ms,
                None => {
                    self.error(
                        id,
                        code::CALL,
                        request,
                        "wamp.error.invalid_argument",
                        "option `timeout` must be a whole number of milliseconds",
                    );
                    return None;
                }
            },
        };
        let (receive_progress, disclose_me) = match (
            flag(options, "receive_progress"),
            flag(options, "disclose_me"),
        ) {
            (Ok(r), Ok(d)) => (r.unwrap_or(false), d.unwrap_or(false)),
            (Err(text), _) | (_, Err(text)) => {
                self.error(id, code::CALL, request, "wamp.error.invalid_argument", text);
                return None;
            }
        };
        if procedure.starts_with("wamp.") {
            match self.meta_call(id, procedure, &payload) {
                Ok(args) => self.send(
                    id,
                    vec![json!(code::RESULT), json!(request), json!({}), args],
                ),
                Err((uri, text)) => self.error(id, code::CALL, request, uri, text),
            }
            return None;
        }
        let Some(reg_id) = self.dealer.best_match(procedure) else {
            self.error(
                id,
                code::CALL,
                request,
                "wamp.error.no_such_procedure",
                format!("no callee registered `{procedure}`"),
            );
            return None;
        };
        let limit = self
            .members
            .get(&id)
            .map_or(0, |m| m.limits.max_calls_in_flight);
        if self.dealer.calls_of.get(&id).map_or(0, HashSet::len) >= limit {
            let text = format!("this session has {limit} calls in flight, the most it may (option `max_calls_in_flight`)");
            self.error(id, code::CALL, request, uri::error::TOO_MANY_CALLS, text);
            return None;
        }
        if self.dealer.by_call.contains_key(&(id, request)) {
            // A second CALL with the ID of one in flight would orphan the first.
            self.error(
                id,
                code::CALL,
                request,
                "wamp.error.invalid_argument",
                format!("call {request} is already in flight"),
            );
            return None;
        }
        let callee = self.pick_callee(reg_id)?;
        let busy = self
            .dealer
            .invocations_of
            .get(&callee)
            .map_or(0, HashSet::len);
        let limit = self
            .members
            .get(&callee)
            .map_or(0, |m| m.limits.max_invocations_in_flight);
        if busy >= limit {
            let text = format!("the callee of `{procedure}` has {limit} invocations in flight, the most it may (option `max_invocations_in_flight`); try again later");
            self.error(
                id,
                code::CALL,
                request,
                uri::error::TOO_MANY_INVOCATIONS,
                text,
            );
            return None;
        }
        let invocation = self.next_request(callee);
        let mut details = Map::new();
        let reg = self.dealer.registrations.get(&reg_id)?;
        if reg.policy != MatchPolicy::Exact {
            details.insert("procedure".into(), json!(procedure));
        }
        if receive_progress {
            details.insert("receive_progress".into(), json!(true));
        }
        if let Some(caller) = self.members.get(&id) {
            let disclose =
                auth::permission(&caller.role, procedure).is_some_and(|p| p.disclose_caller);
            if disclose || disclose_me {
                details.insert("caller".into(), json!(id));
                details.insert("caller_authid".into(), json!(caller.identity.authid));
                details.insert("caller_authrole".into(), json!(caller.identity.authrole));
            }
        }
        let mut fields = vec![
            json!(code::INVOCATION),
            json!(invocation),
            json!(reg_id),
            Value::Object(details),
        ];
        payload.append_to(&mut fields);
        self.send(callee, fields);
        self.dealer.add_pending(Pending {
            caller: id,
            call_request: request,
            callee,
            invocation,
            receive_progress,
            timer: None,
        });
        (timeout > 0).then_some(Timeout {
            after: std::time::Duration::from_millis(timeout),
            request,
            callee,
            invocation,
        })
    }

    fn pick_callee(&mut self, reg_id: u64) -> Option<u64> {
        let reg = self.dealer.registrations.get_mut(&reg_id)?;
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
        if self.members.contains_key(&picked) {
            return Some(picked);
        }
        // A callee that left and whose registrations are still being ended: any live one.
        reg.callees
            .iter()
            .copied()
            .find(|c| self.members.contains_key(c))
    }

    /// YIELD from a callee.
    pub fn yield_result(
        &mut self,
        callee: u64,
        invocation: u64,
        options: &Map<String, Value>,
        payload: Payload,
    ) -> Result<(), Violation> {
        let Some(pending) = self.dealer.pending.get(&(callee, invocation)).cloned() else {
            return self.unknown_invocation(callee, invocation, "YIELD");
        };
        let progress = matches!(options.get("progress"), Some(Value::Bool(true)));
        if progress {
            // Progressive results only reach a caller that asked for them.
            if pending.receive_progress {
                let mut fields = vec![
                    json!(code::RESULT),
                    json!(pending.call_request),
                    json!({"progress": true}),
                ];
                payload.append_to(&mut fields);
                self.send(pending.caller, fields);
            }
            return Ok(());
        }
        self.dealer.remove_pending(callee, invocation);
        let mut fields = vec![json!(code::RESULT), json!(pending.call_request), json!({})];
        payload.append_to(&mut fields);
        self.send(pending.caller, fields);
        Ok(())
    }

    /// ERROR from a callee, for an INVOCATION.
    pub fn invocation_error(
        &mut self,
        callee: u64,
        invocation: u64,
        details: Map<String, Value>,
        error: String,
        payload: Payload,
    ) -> Result<(), Violation> {
        let Some(pending) = self.dealer.remove_pending(callee, invocation) else {
            return self.unknown_invocation(callee, invocation, "ERROR");
        };
        let mut fields = vec![
            json!(code::ERROR),
            json!(code::CALL),
            json!(pending.call_request),
            Value::Object(details),
            json!(error),
        ];
        payload.append_to(&mut fields);
        self.send(pending.caller, fields);
        Ok(())
    }

    /// A reply to an invocation that is no longer pending (canceled, timed out) is dropped;
    /// one to an invocation that was never sent is a protocol violation.
    fn unknown_invocation(
        &self,
        callee: u64,
        invocation: u64,
        what: &str,
    ) -> Result<(), Violation> {
        let issued = self
            .members
            .get(&callee)
            .map(|m| m.last_request)
            .unwrap_or(0);
        if invocation <= issued {
            Ok(())
        } else {
            Err(format!(
                "{what} for INVOCATION {invocation}, which the router never sent"
            ))
        }
    }

    /// CANCEL from a caller.
    pub fn cancel(&mut self, caller: u64, call_request: u64, options: &Map<String, Value>) {
        let mode = match options.get("mode").and_then(Value::as_str) {
            None => "killnowait",
            Some(m @ ("skip" | "kill" | "killnowait")) => m,
            Some(other) => {
                let text = format!("option `mode` must be skip, kill or killnowait, not `{other}`");
                return self.error(
                    caller,
                    code::CANCEL,
                    call_request,
                    "wamp.error.invalid_argument",
                    text,
                );
            }
        };
        let Some((callee, invocation)) = self.dealer.by_call.get(&(caller, call_request)).copied()
        else {
            // The call has already ended; nothing to cancel.
            return;
        };
        let can_interrupt = self.members.get(&callee).is_some_and(|m| m.callee_cancels);
        let mode = if can_interrupt { mode } else { "skip" };
        if mode != "skip" {
            self.send(
                callee,
                vec![
                    json!(code::INTERRUPT),
                    json!(invocation),
                    json!({"mode": mode}),
                ],
            );
        }
        // `kill` waits for the callee's answer, which then reaches the caller as usual.
        if mode != "kill" {
            self.dealer.remove_pending(callee, invocation);
            self.error(
                caller,
                code::CALL,
                call_request,
                "wamp.error.canceled",
                "the call was canceled",
            );
        }
    }

    /// The dealer's own timeout fired for a call (CALL.Options.timeout).
    pub fn call_timed_out(&mut self, caller: u64, timeout: Timeout) {
        let key = (caller, timeout.request);
        // Only the call this timer was for: a later call may reuse the CALL ID.
        if self.dealer.by_call.get(&key) != Some(&(timeout.callee, timeout.invocation)) {
            return;
        }
        let (callee, invocation, call_request) =
            (timeout.callee, timeout.invocation, timeout.request);
        self.dealer.remove_pending(callee, invocation);
        if self.members.get(&callee).is_some_and(|m| m.callee_cancels) {
            self.send(
                callee,
                vec![
                    json!(code::INTERRUPT),
                    json!(invocation),
                    json!({"mode": "killnowait", "reason": "wamp.error.timeout"}),
                ],
            );
        }
        self.error(
            caller,
            code::CALL,
            call_request,
            "wamp.error.canceled",
            "the call timed out",
        );
    }

    /// A session left: its calls in flight end on both sides. Its registrations are ended
    /// by the realm, a batch at a time (`take_session`, `remove_callee`).
    pub fn dealer_end_calls(&mut self, id: u64) {
        for p in self.dealer.pending_of(id) {
            self.dealer.remove_pending(p.callee, p.invocation);
            if p.callee == id {
                self.error(
                    p.caller,
                    code::CALL,
                    p.call_request,
                    "wamp.error.canceled",
                    "the callee left before it answered",
                );
            } else if self
                .members
                .get(&p.callee)
                .is_some_and(|m| m.callee_cancels)
            {
                self.send(
                    p.callee,
                    vec![
                        json!(code::INTERRUPT),
                        json!(p.invocation),
                        json!({"mode": "killnowait"}),
                    ],
                );
            }
        }
    }
}
