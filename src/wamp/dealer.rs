//! The dealer (spec "Remote Procedure Calls", and the Advanced Profile's pattern-based and
//! shared registrations, progressive call results, call canceling, call timeout, caller
//! identification). Calls in flight are keyed both by the callee's INVOCATION ID and by the
//! caller's CALL ID, so a YIELD, a CANCEL, a timeout or a session leaving each find them.

use crate::config::MatchPolicy;
use crate::wamp::auth::{self, Action};
use crate::wamp::broker::{flag, match_policy, now_rfc3339};
use crate::wamp::message::{code, Payload};
use crate::wamp::realm::{random_id, RealmState, Violation};
use crate::wamp::uri;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

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
}

/// All registrations and calls in flight of a realm.
#[derive(Debug, Default)]
pub struct Dealer {
    /// By registration ID.
    pub registrations: HashMap<u64, Registration>,
    by_uri: HashMap<(MatchPolicy, String), u64>,
    /// By (callee, INVOCATION ID).
    pending: HashMap<(u64, u64), Pending>,
    /// (caller, CALL ID) → (callee, INVOCATION ID).
    by_call: HashMap<(u64, u64), (u64, u64)>,
}

impl Dealer {
    /// The registration that serves `procedure`: exact, then longest prefix, then wildcard.
    pub fn best_match(&self, procedure: &str) -> Option<u64> {
        if let Some(id) = self
            .by_uri
            .get(&(MatchPolicy::Exact, procedure.to_string()))
        {
            return Some(*id);
        }
        self.registrations
            .values()
            .filter(|r| r.policy != MatchPolicy::Exact && uri::matches(&r.uri, r.policy, procedure))
            .max_by(|a, b| {
                uri::specificity(&a.uri, a.policy)
                    .cmp(&uri::specificity(&b.uri, b.policy))
                    .then_with(|| b.uri.cmp(&a.uri))
            })
            .map(|r| r.id)
    }

    /// The registration for exactly this pattern and policy.
    pub fn lookup(&self, policy: MatchPolicy, pattern: &str) -> Option<u64> {
        self.by_uri.get(&(policy, pattern.to_string())).copied()
    }

    fn remove_pending(&mut self, callee: u64, invocation: u64) -> Option<Pending> {
        let pending = self.pending.remove(&(callee, invocation))?;
        self.by_call.remove(&(pending.caller, pending.call_request));
        Some(pending)
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
                "`{procedure}` is not a valid {} procedure URI (and `wamp.` is the router's own)",
                policy.name()
            );
            return self.error(id, code::REGISTER, request, "wamp.error.invalid_uri", text);
        }
        if !self.authorize(id, code::REGISTER, request, procedure, Action::Register) {
            return;
        }
        let key = (policy, procedure.to_string());
        let reg_id = match self.dealer.by_uri.get(&key).copied() {
            Some(existing) => {
                let Some(reg) = self.dealer.registrations.get_mut(&existing) else {
                    return;
                };
                if reg.invoke == Invoke::Single || invoke != reg.invoke || reg.callees.contains(&id)
                {
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
                self.dealer.by_uri.insert(key, reg_id);
                self.meta_event("wamp.registration.on_create", vec![json!(id), details]);
                reg_id
            }
        };
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
        if !self.remove_callee(id, reg_id) {
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

    fn remove_callee(&mut self, id: u64, reg_id: u64) -> bool {
        let Some(reg) = self.dealer.registrations.get_mut(&reg_id) else {
            return false;
        };
        let Some(at) = reg.callees.iter().position(|c| *c == id) else {
            return false;
        };
        reg.callees.remove(at);
        let now_empty = reg.callees.is_empty();
        if now_empty {
            if let Some(reg) = self.dealer.registrations.remove(&reg_id) {
                self.dealer.by_uri.remove(&(reg.policy, reg.uri));
            }
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

    /// CALL. Returns the timeout in milliseconds when the dealer must enforce one.
    pub fn call(
        &mut self,
        id: u64,
        request: u64,
        options: &Map<String, Value>,
        procedure: &str,
        payload: Payload,
    ) -> Option<u64> {
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
        let callee = self.pick_callee(reg_id)?;
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
        self.dealer.pending.insert(
            (callee, invocation),
            Pending {
                caller: id,
                call_request: request,
                callee,
                invocation,
                receive_progress,
            },
        );
        self.dealer
            .by_call
            .insert((id, request), (callee, invocation));
        (timeout > 0).then_some(timeout)
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
        reg.callees.get(at).copied()
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
    pub fn call_timed_out(&mut self, caller: u64, call_request: u64) {
        let Some((callee, invocation)) = self.dealer.by_call.get(&(caller, call_request)).copied()
        else {
            return;
        };
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

    /// A session left: its registrations go, its calls in flight end on both sides.
    pub fn dealer_leave(&mut self, id: u64) {
        let mine: Vec<u64> = self
            .dealer
            .registrations
            .values()
            .filter(|r| r.callees.contains(&id))
            .map(|r| r.id)
            .collect();
        for reg_id in mine {
            self.remove_callee(id, reg_id);
        }
        let affected: Vec<Pending> = self
            .dealer
            .pending
            .values()
            .filter(|p| p.callee == id || p.caller == id)
            .cloned()
            .collect();
        for p in affected {
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
