//! The realm's side of a cluster: what the other nodes tell it (their events for local
//! subscribers, their sessions and callees, the calls between them and local sessions),
//! what it announces of its own, and the stand-ins that carry calls across.

use super::*;

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
pub(super) fn join_wire(link: &Link, realm: &str, id: u64, member: &Member) -> Wire {
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
