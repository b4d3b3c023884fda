//! The sessions joined to a realm, as the broker and the dealer see them: who each one is,
//! what its role allows, and where its messages go. The realm owns them and lends them to
//! the broker and the dealer with each message it dispatches.

use crate::config::{Role, SessionLimits};
use crate::runtime::lifecycle::ConnInfo;
use crate::wamp::auth::Identity;
use crate::wamp::authorize::{self, Action};
use crate::wamp::message::{self, MAX_ID};
use crate::wamp::peer::Outbox;
use crate::wamp::serializer::Serializer;
use crate::wamp::uri::error;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A joined session.
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
    /// The cluster node it lives on, when not this one: a callee there, or the caller of
    /// calls forwarded here. Its messages are forwarded by its outbox.
    pub remote: Option<std::sync::Arc<str>>,
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
            remote: None,
        }
    }

    /// A session of another node, as this node's dealer and meta API see it.
    pub fn remote(identity: Identity, peer: String, node: &str, outbox: Outbox) -> Member {
        let role = Role {
            name: identity.authrole.clone(),
            permissions: Vec::new(),
            authorizer: None,
        };
        Member {
            identity,
            outbox,
            role,
            peer,
            callee_cancels: false,
            // INVOCATION IDs toward it start anywhere: one learned again (after its node
            // reconnected) does not reuse the IDs of calls its node may still answer.
            last_request: crate::wamp::message::random_id(),
            serializer: Serializer::Json,
            // Its own node holds it to its limits.
            limits: SessionLimits {
                max_subscriptions: 0,
                max_registrations: usize::MAX,
                max_calls_in_flight: usize::MAX,
                max_invocations_in_flight: usize::MAX,
            },
            remote: Some(node.into()),
        }
    }
}

/// The role of the router's own sessions: Crossbar's `trusted`, allowed everything.
pub(crate) const TRUSTED: &str = "trusted";

/// The joined sessions of a realm, by session ID.
#[derive(Default)]
pub(crate) struct Sessions {
    members: HashMap<u64, Member>,
    /// The realm's name (in Crossbar's error texts).
    realm: Arc<str>,
}

impl Sessions {
    /// The session with this ID.
    pub(crate) fn get(&self, id: u64) -> Option<&Member> {
        self.members.get(&id)
    }

    /// The session with this ID, to change.
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut Member> {
        self.members.get_mut(&id)
    }

    /// Whether the session is one of node `node`'s.
    pub(crate) fn is_of(&self, id: u64, node: &str) -> bool {
        self.get(id)
            .is_some_and(|m| m.remote.as_deref() == Some(node))
    }

    /// Whether the session is (still) joined.
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.members.contains_key(&id)
    }

    /// Every joined session.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Member)> {
        self.members.iter().map(|(id, m)| (*id, m))
    }

    /// Adds a session under `id`.
    pub(crate) fn insert(&mut self, id: u64, member: Member) {
        self.members.insert(id, member);
    }

    /// Removes a session.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Member> {
        self.members.remove(&id)
    }

    /// What the session may make the router hold (nothing, once it has gone).
    pub(crate) fn limits(&self, id: u64) -> SessionLimits {
        self.get(id).map_or(
            SessionLimits {
                max_subscriptions: 0,
                max_registrations: 0,
                max_calls_in_flight: 0,
                max_invocations_in_flight: 0,
            },
            |m| m.limits,
        )
    }

    /// Queues a message for a session in its serializer; a gone or too slow session is skipped.
    pub(crate) fn send(&self, id: u64, message: Value) {
        if let Some(member) = self.members.get(&id) {
            if let Some(code) = message.get(0).and_then(Value::as_u64) {
                crate::runtime::metrics::metrics().message_out(message::name(code));
            }
            member.outbox.send(member.serializer.encode(&message));
        }
    }

    /// Sends `[ERROR, type, request, {}, uri, [text]]`.
    pub(crate) fn error(
        &self,
        id: u64,
        request_type: u64,
        request: u64,
        uri: &str,
        text: impl Into<String>,
    ) {
        self.send(
            id,
            message::error_text(request_type, request, uri, &text.into()),
        );
    }

    /// Sends `id` an ERROR whose first argument is Crossbar's text and the second ours.
    pub(crate) fn error_as_crossbar(
        &self,
        id: u64,
        request_type: u64,
        request: u64,
        uri: &str,
        (crossbar, ours): (String, String),
    ) {
        self.send(
            id,
            message::error_texts(request_type, request, uri, &crossbar, &ours),
        );
    }

    /// The sessions of the realm named `realm`.
    pub(crate) fn of_realm(realm: &str) -> Sessions {
        Sessions {
            members: HashMap::new(),
            realm: realm.into(),
        }
    }

    /// Gives every session of this node (but the router's own) the role `find` answers for its role
    /// name; answers how many it gave one, and the sessions it found none for.
    pub(crate) fn reassign_roles(
        &mut self,
        find: impl Fn(&str) -> Option<Role>,
    ) -> (usize, Vec<u64>) {
        let (mut updated, mut gone) = (0, Vec::new());
        for (id, member) in self.members.iter_mut() {
            // Another node's sessions are that node's to judge by its own config.
            if member.identity.authrole == TRUSTED || member.remote.is_some() {
                continue;
            }
            match find(&member.identity.authrole) {
                Some(role) => {
                    member.role = role;
                    updated += 1;
                }
                None => gone.push(*id),
            }
        }
        (updated, gone)
    }

    /// Ends a session from the router's side (the meta API's `wamp.session.kill`): GOODBYE
    /// with `reason`, then its connection closes, and its leaving is the usual one.
    pub(crate) fn kill(&self, id: u64, reason: &str, text: Option<&str>) {
        if let Some(member) = self.members.get(&id) {
            let details = text.map_or_else(|| json!({}), |t| json!({"message": t}));
            let goodbye = json!([message::code::GOODBYE, details, reason]);
            member.outbox.send(member.serializer.encode(&goodbye));
            member.outbox.close(
                async_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
                "",
            );
        }
    }

    /// Why the session's role may not do `action` on `uri`, if it may not.
    pub(crate) fn refusal(&self, id: u64, uri: &str, action: Action) -> Option<String> {
        let member = self.members.get(&id)?;
        if authorize::allowed(&member.role, uri, action) {
            return None;
        }
        Some(format!(
            "role `{}` may not {} `{uri}`",
            member.identity.authrole,
            action.verb()
        ))
    }

    /// Crossbar's text for a refused action (`crossbar::not_authorized`, or its own for
    /// PUBLISH).
    pub(crate) fn crossbar_refusal(&self, id: u64, uri: &str, action: Action) -> String {
        use crate::wamp::uri::crossbar;
        let what = match action {
            Action::Publish => return crossbar::publish_not_authorized(uri),
            Action::Subscribe => "subscribe to topic",
            Action::Register => "register procedure",
            Action::Call => "call procedure",
        };
        let (authid, authrole) = self
            .members
            .get(&id)
            .map_or(("", ""), |m| (&m.identity.authid, &m.identity.authrole));
        crossbar::not_authorized(id, authid, authrole, what, uri, &self.realm)
    }

    /// Whether the session's role may do `action` on `uri`; sends `not_authorized` if not.
    pub(crate) fn authorize(
        &self,
        id: u64,
        request_type: u64,
        request: u64,
        uri: &str,
        action: Action,
    ) -> bool {
        if !self.contains(id) {
            return false;
        }
        match self.refusal(id, uri, action) {
            None => true,
            Some(ours) => {
                let crossbar = self.crossbar_refusal(id, uri, action);
                let texts = (crossbar, ours);
                self.error_as_crossbar(id, request_type, request, error::NOT_AUTHORIZED, texts);
                false
            }
        }
    }

    /// The next router-to-session request ID for `id` (sequential, as the spec asks).
    pub(crate) fn next_request(&mut self, id: u64) -> u64 {
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
    pub(crate) fn details(&self, id: u64) -> Value {
        match self.members.get(&id) {
            Some(m) => json!({
                "session": id,
                "authid": m.identity.authid,
                "authrole": m.identity.authrole,
                "authmethod": m.identity.authmethod,
                "authprovider": m.identity.authprovider,
                "transport": {"type": "websocket", "peer": m.peer},
            }),
            None => Value::Null,
        }
    }
}
