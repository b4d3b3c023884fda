//! One WAMP session over one WebSocket (spec "Session Lifecycle"): HELLO, CHALLENGE and
//! AUTHENTICATE, WELCOME or ABORT, then the realm's messages until GOODBYE. Any protocol
//! violation ends this session with ABORT `wamp.error.protocol_violation` and a sentence
//! saying what was wrong; other sessions do not notice.

use crate::config::WebSocketOptions;
use crate::lifecycle::ConnInfo;
use crate::wamp::auth::{self, HelloOutcome, Identity};
use crate::wamp::broker::Broker;
use crate::wamp::dealer::Dealer;
use crate::wamp::message::{self, ClientMessage};
use crate::wamp::realm::Realm;
use crate::wamp::serializer::Serializer;
use crate::wamp::sessions::Member;
use crate::wamp::uri::error;
use crate::wamp::Realms;
use crate::ws::{Outbox, Session};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::Message;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Where a session is in its lifecycle.
enum Phase {
    /// Waiting for HELLO.
    Hello,
    /// Ticket CHALLENGE sent; waiting for AUTHENTICATE.
    Challenged {
        realm: Arc<Realm>,
        authid: String,
        details: Map<String, Value>,
    },
    /// Joined a realm.
    Established { realm: Arc<Realm>, id: u64 },
}

/// A WAMP session: the `ws::Session` of every `websocket` path.
pub struct WampSession {
    serializer: Serializer,
    realms: Arc<Realms>,
    options: Arc<WebSocketOptions>,
    info: ConnInfo,
    out: Outbox,
    phase: Phase,
}

impl WampSession {
    /// A session on a new connection; `subprotocol` is the negotiated one.
    pub fn new(
        realms: Arc<Realms>,
        options: Arc<WebSocketOptions>,
        subprotocol: &str,
        info: ConnInfo,
        out: Outbox,
    ) -> WampSession {
        WampSession {
            serializer: Serializer::from_subprotocol(subprotocol).unwrap_or(Serializer::Json),
            realms,
            options,
            info,
            out,
            phase: Phase::Hello,
        }
    }

    /// Sends a message in this session's serializer.
    fn send(&self, message: Value) {
        self.out.send(self.serializer.encode(&message));
    }

    /// Sends ABORT and ends the connection.
    fn abort(&mut self, reason: &str, text: &str) -> Result<(), CloseFrame> {
        self.leave();
        log::debug!("wamp abort {}: {reason}: {text}", self.info.peer);
        self.send(message::abort(reason, text));
        Err(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })
    }

    fn leave(&mut self) {
        if let Phase::Established { realm, id } = std::mem::replace(&mut self.phase, Phase::Hello) {
            realm.leave(id);
        }
    }

    fn hello(&mut self, realm_name: String, details: Map<String, Value>) -> Result<(), CloseFrame> {
        let Some(realm) = self.realms.get(&realm_name) else {
            return self.abort(
                error::NO_SUCH_REALM,
                &format!("no realm `{realm_name}` on this router"),
            );
        };
        match auth::hello(&self.options.auth, &realm_name, &details, &self.info) {
            HelloOutcome::Welcome(identity) => self.welcome(realm, identity, &details),
            HelloOutcome::ChallengeTicket { authid } => {
                self.send(message::challenge("ticket", json!({})));
                self.phase = Phase::Challenged {
                    realm,
                    authid,
                    details,
                };
                Ok(())
            }
            HelloOutcome::Abort(reason, text) => self.abort(reason, &text),
        }
    }

    fn welcome(
        &mut self,
        realm: Arc<Realm>,
        identity: Identity,
        details: &Map<String, Value>,
    ) -> Result<(), CloseFrame> {
        let Some(role) = realm.role(&identity.authrole).cloned() else {
            log::warn!(
                "role `{}` given by auth is not in realm `{}`; add it to the realm's roles",
                identity.authrole,
                realm.config.name
            );
            return self.abort(error::NOT_AUTHORIZED, "authentication failed");
        };
        let welcome = json!({
            "realm": realm.config.name,
            "authid": identity.authid,
            "authrole": identity.authrole,
            "authmethod": identity.authmethod,
            "authprovider": "static",
            "roles": router_roles(),
        });
        let id = realm.join(Member::new(
            identity,
            role,
            details,
            &self.info,
            self.out.clone(),
            self.serializer,
            self.options.session_limits,
        ));
        self.send(message::welcome(id, welcome));
        self.phase = Phase::Established { realm, id };
        Ok(())
    }
}

/// The roles and features this router announces: only what it implements, each announced
/// where it is implemented.
fn router_roles() -> Value {
    json!({
        "broker": {"features": Broker::features()},
        "dealer": {"features": Dealer::features()},
    })
}

impl Session for WampSession {
    fn on_message(&mut self, frame: Message) -> Result<(), CloseFrame> {
        let msg = match message::decode(&frame, self.serializer) {
            Ok(msg) => msg,
            Err(text) => return self.abort(error::PROTOCOL_VIOLATION, &text),
        };
        match (&self.phase, msg) {
            (Phase::Hello, ClientMessage::Hello { realm, details }) => self.hello(realm, details),
            (Phase::Challenged { .. }, ClientMessage::Authenticate { signature }) => {
                let Phase::Challenged {
                    realm,
                    authid,
                    details,
                } = std::mem::replace(&mut self.phase, Phase::Hello)
                else {
                    return Ok(());
                };
                match auth::check_ticket(
                    &self.options.auth,
                    &realm.config.name,
                    &authid,
                    &signature,
                ) {
                    Some(identity) => self.welcome(realm, identity, &details),
                    None => self.abort(error::NOT_AUTHORIZED, "authentication failed"),
                }
            }
            (_, ClientMessage::Abort { reason }) => {
                log::debug!("wamp client aborted {}: {reason}", self.info.peer);
                self.leave();
                Err(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                })
            }
            (Phase::Established { .. }, ClientMessage::Goodbye { .. }) => {
                self.leave();
                self.send(message::goodbye(error::GOODBYE_AND_OUT));
                Ok(())
            }
            (Phase::Established { realm, id }, msg) => {
                let (realm, id) = (realm.clone(), *id);
                match realm.handle(id, msg) {
                    Ok(()) => Ok(()),
                    Err(text) => self.abort(error::PROTOCOL_VIOLATION, &text),
                }
            }
            (Phase::Hello, other) | (Phase::Challenged { .. }, other) => {
                let text = format!("{} before the session was established", other.name());
                self.abort(error::PROTOCOL_VIOLATION, &text)
            }
        }
    }

    fn on_close(&mut self) {
        self.leave();
    }

    fn established(&self) -> bool {
        matches!(self.phase, Phase::Established { .. })
    }
}
