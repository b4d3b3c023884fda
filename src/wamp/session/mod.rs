//! One WAMP session over one WebSocket (spec "Session Lifecycle"): HELLO, CHALLENGE and
//! AUTHENTICATE, WELCOME or ABORT, then the realm's messages until GOODBYE. Any protocol
//! violation ends this session with ABORT `wamp.error.protocol_violation` and a sentence
//! saying what was wrong; other sessions do not notice.
//!
//! Two things make a session wait: a dynamic authenticator's answer during the opening, and
//! a dynamic authorizer's answer for an action of an established session. While it waits
//! the connection loop holds at most one more message of this client back and reads no
//! further (`ws::Session::waiting`), so its messages keep their order and pings are still
//! answered; other sessions do not wait at all.

mod authorizer;
mod opening;
use authorizer::{authorizable, match_policy, options_of};

use crate::config::MatchPolicy;
use crate::config::WebSocketOptions;
use crate::runtime::lifecycle::ConnInfo;
use crate::runtime::limits::{Full, Shares};
use crate::wamp::auth::{self, Ask, Hello, Identity, Pending, Refusal, Step};
use crate::wamp::authorize::Action;
use crate::wamp::broker::Broker;
use crate::wamp::cluster::{ClaimRefused, Claiming, Listening};
use crate::wamp::cookies::{Binding, CookieStore};
use crate::wamp::dealer::Dealer;
use crate::wamp::message::{self, code, random_id, ClientMessage};
use crate::wamp::peer::{Outbox, Session};
use crate::wamp::realm::Realm;
use crate::wamp::serializer::Serializer;
use crate::wamp::service::{CallError, Reply};
use crate::wamp::sessions::Member;
use crate::wamp::uri::error;
use crate::wamp::Realms;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::Message;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Answers an authorizer said to cache, kept per session; past this the cache starts over.
const AUTHORIZER_CACHE: usize = 1024;
/// URIs longer than this are asked about every time, so a cache holds at most 1 MiB.
const CACHED_URI_BYTES: usize = 1024;

/// Where a session is in its lifecycle.
enum Phase {
    /// Waiting for HELLO.
    Hello,
    /// HELLO answered with CHALLENGE, or sent to an authenticator.
    Opening {
        realm: Arc<Realm>,
        hello: HelloParts,
        pending: Option<Pending>,
    },
    /// Joined a realm.
    Established {
        realm: Arc<Realm>,
        id: u64,
        authorizer: Option<Authorizer>,
    },
}

/// What a HELLO said, kept until the session is established.
struct HelloParts {
    realm: String,
    details: Map<String, Value>,
    session: u64,
}

/// A role's dynamic authorizer, and the answers it said to keep.
struct Authorizer {
    procedure: String,
    timeout: Duration,
    /// The session's details, the authorizer's first argument.
    details: Value,
    /// By action, URI and match policy (an answer for `com.app` exact is not one for
    /// `com.app` as a prefix).
    cache: HashMap<(Action, String, String), Verdict>,
}

#[derive(Debug, Clone, Copy)]
struct Verdict {
    allow: bool,
    disclose: bool,
}

/// What a session waited on, once it is there.
enum Resume {
    Authenticated(Ask, Result<Reply, CallError>),
    Authorized {
        message: ClientMessage,
        key: (Action, String, String),
        answer: Result<Reply, CallError>,
    },
    /// Redis listens for a SUBSCRIBE's events (the channel is held until it is handled).
    Listening {
        message: ClientMessage,
        held: Listening,
    },
    /// A CALL that found no callee waited until this node had read what Redis had for it.
    CaughtUp {
        message: ClientMessage,
    },
    /// A REGISTER's claim was answered.
    Claimed {
        message: ClientMessage,
        claiming: Claiming,
        answer: Result<(), ClaimRefused>,
    },
}

type Waiting = Pin<Box<dyn Future<Output = Resume> + Send>>;

/// A WAMP session: the `ws::Session` of every `websocket` path.
pub(crate) struct WampSession {
    serializer: Serializer,
    realms: Arc<Realms>,
    options: Arc<WebSocketOptions>,
    info: ConnInfo,
    out: Outbox,
    phase: Phase,
    /// The path's cookie store, this connection's cookie and its number there, with
    /// cookie tracking.
    cookie: Option<(Arc<CookieStore>, String)>,
    cookie_connection: u64,
    /// The upgrade request's headers, for authenticators (Crossbar's
    /// `http_headers_received`); let go once the session is established.
    http_headers: Value,
    waiting: Option<Waiting>,
}

impl WampSession {
    /// A session on a new connection; `subprotocol` is the negotiated one.
    pub(crate) fn new(
        realms: Arc<Realms>,
        options: Arc<WebSocketOptions>,
        subprotocol: &str,
        info: ConnInfo,
        out: Outbox,
        cookie: Option<(Arc<CookieStore>, String)>,
        http_headers: Value,
    ) -> WampSession {
        let cookie_connection = match &cookie {
            Some((store, value)) => store.attach(value, out.clone()),
            None => 0,
        };
        WampSession {
            cookie_connection,
            serializer: Serializer::from_subprotocol(subprotocol).unwrap_or(Serializer::Json),
            realms,
            options,
            info,
            out,
            phase: Phase::Hello,
            cookie,
            http_headers,
            waiting: None,
        }
    }

    /// Sends a message in this session's serializer.
    fn send(&self, message: Value) {
        if let Some(code) = message.get(0).and_then(Value::as_u64) {
            crate::runtime::metrics::metrics().message_out(message::name(code));
        }
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
        self.waiting = None;
        if let Phase::Established { realm, id, .. } =
            std::mem::replace(&mut self.phase, Phase::Hello)
        {
            realm.leave(id);
        }
    }

    fn goodbye(&mut self, reason: &str) -> Result<(), CloseFrame> {
        if reason == error::LOGOUT {
            if let Some((store, value)) = &self.cookie {
                store.logout(value, self.cookie_connection);
                log::info!("wamp logout {}: its cookie forgets it", self.info.peer);
            }
        }
        self.leave();
        self.send(message::goodbye(error::GOODBYE_REPLY));
        Ok(())
    }

    /// A message of an established session: to the realm, after the authorizer if its role
    /// has one.
    fn established(&mut self, msg: ClientMessage) -> Result<(), CloseFrame> {
        let Phase::Established {
            realm,
            id,
            authorizer,
        } = &mut self.phase
        else {
            return Ok(());
        };
        let (realm, id) = (realm.clone(), *id);
        if let (Some(authorizer), Some((action, uri))) = (authorizer, authorizable(&msg)) {
            let key = (action, uri.to_string(), match_policy(&msg));
            if let Some(verdict) = authorizer.cache.get(&key).copied() {
                return self.authorized(msg, verdict);
            }
            let Some(service) = self.realms.service(&realm.config.name) else {
                return Ok(());
            };
            let procedure = authorizer.procedure.clone();
            let timeout = authorizer.timeout;
            let args = vec![
                authorizer.details.clone(),
                json!(key.1),
                json!(action.name()),
                Value::Object(options_of(&msg).clone()),
            ];
            self.waiting = Some(Box::pin(async move {
                let answer = service.call(&procedure, args, timeout).await;
                Resume::Authorized {
                    message: msg,
                    key,
                    answer,
                }
            }));
            return Ok(());
        }
        self.dispatch(realm, id, msg)
    }

    /// Hands a message to the realm; in a cluster, a SUBSCRIBE waits until Redis carries
    /// the other nodes' events for it, and a REGISTER until its claim is made in Redis.
    fn dispatch(
        &mut self,
        realm: Arc<Realm>,
        id: u64,
        msg: ClientMessage,
    ) -> Result<(), CloseFrame> {
        if let Some(link) = realm.cluster().cloned() {
            match &msg {
                ClientMessage::Subscribe { options, topic, .. } => {
                    // Checked first: a SUBSCRIBE the broker will refuse listens on nothing.
                    if let Some(policy) = realm.may_subscribe(id, options, topic) {
                        let channel = link.channel(&realm.config.name, policy, topic);
                        self.waiting = Some(Box::pin(async move {
                            let held = link.listen(channel).await;
                            Resume::Listening { message: msg, held }
                        }));
                        return Ok(());
                    }
                }
                ClientMessage::Register {
                    options, procedure, ..
                } => {
                    if let Some((policy, claim)) = realm.claim_for(id, options, procedure) {
                        let claiming =
                            Claiming::new(&link, &realm.config.name, id, policy, procedure);
                        self.waiting = Some(Box::pin(async move {
                            let answer = link.claim(claim).await;
                            Resume::Claimed {
                                message: msg,
                                claiming,
                                answer,
                            }
                        }));
                        return Ok(());
                    }
                }
                ClientMessage::Call { procedure, .. }
                    if !procedure.starts_with("wamp.") && !realm.serves(procedure) =>
                {
                    self.waiting = Some(Box::pin(async move {
                        link.catch_up().await;
                        Resume::CaughtUp { message: msg }
                    }));
                    return Ok(());
                }
                _ => {}
            }
        }
        self.handle(&realm, id, msg)
    }

    fn handle(
        &mut self,
        realm: &Arc<Realm>,
        id: u64,
        msg: ClientMessage,
    ) -> Result<(), CloseFrame> {
        match realm.handle(id, msg) {
            Ok(()) => Ok(()),
            Err(text) => self.abort(error::PROTOCOL_VIOLATION, &text),
        }
    }

    /// A REGISTER's claim in Redis was answered.
    fn claimed(
        &mut self,
        msg: ClientMessage,
        claiming: Claiming,
        answer: Result<(), ClaimRefused>,
    ) -> Result<(), CloseFrame> {
        let Phase::Established { realm, id, .. } = &self.phase else {
            return Ok(());
        };
        let (realm, id) = (realm.clone(), *id);
        let ClientMessage::Register {
            request,
            procedure,
            options,
        } = &msg
        else {
            return Ok(());
        };
        let (request, procedure) = (*request, procedure.clone());
        let policy = crate::wamp::options::match_policy(options).unwrap_or(MatchPolicy::Exact);
        match answer {
            Ok(()) => {
                let result = self.handle(&realm, id, msg);
                // Refused here after all (a race with another REGISTER of this session):
                // dropping `claiming` takes the claim and its announcement back.
                if realm.holds_registration(id, policy, &procedure) {
                    claiming.keep();
                }
                result
            }
            Err(refused) => {
                claiming.keep();
                let (uri, text) = match refused {
                    ClaimRefused::Taken(invoke) => (
                        error::PROCEDURE_ALREADY_EXISTS,
                        format!("`{procedure}` is already registered on another node of the cluster (invoke `{invoke}`)"),
                    ),
                    ClaimRefused::Unavailable => (
                        error::CLUSTER_UNAVAILABLE,
                        "the cluster's Redis cannot be reached, and a registration must be known to every node first; try again shortly".to_string(),
                    ),
                };
                self.send(message::error_text(code::REGISTER, request, uri, &text));
                Ok(())
            }
        }
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
        crate::runtime::metrics::metrics().message_in(msg.name());
        match (&self.phase, msg) {
            (Phase::Hello, ClientMessage::Hello { realm, details }) => self.hello(realm, details),
            (Phase::Opening { .. }, ClientMessage::Authenticate { signature, .. }) => {
                self.authenticate(&signature)
            }
            (_, ClientMessage::Abort { reason }) => {
                log::debug!("wamp client aborted {}: {reason}", self.info.peer);
                self.leave();
                Err(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                })
            }
            (Phase::Established { .. }, ClientMessage::Goodbye { reason }) => self.goodbye(&reason),
            (Phase::Established { .. }, msg) => self.established(msg),
            (Phase::Hello, other) | (Phase::Opening { .. }, other) => {
                let text = format!("{} before the session was established", other.name());
                self.abort(error::PROTOCOL_VIOLATION, &text)
            }
        }
    }

    fn on_close(&mut self) {
        self.leave();
        if let Some((store, value)) = &self.cookie {
            store.detach(value, self.cookie_connection);
        }
    }

    fn established(&self) -> bool {
        matches!(self.phase, Phase::Established { .. })
    }

    fn waiting(&self) -> bool {
        self.waiting.is_some()
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), CloseFrame>> {
        while let Some(waiting) = &mut self.waiting {
            let resume = match waiting.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(resume) => resume,
            };
            self.waiting = None;
            let result = match resume {
                Resume::Authenticated(ask, answer) => self.authenticated(ask, answer),
                Resume::Authorized {
                    message,
                    key,
                    answer,
                } => self.authorizer_answered(message, key, answer),
                Resume::Listening { message, held } => {
                    let result = match &self.phase {
                        Phase::Established { realm, id, .. } => {
                            let (realm, id) = (realm.clone(), *id);
                            self.handle(&realm, id, message)
                        }
                        _ => Ok(()),
                    };
                    // The broker holds the channel now if it made a subscription.
                    drop(held);
                    result
                }
                Resume::Claimed {
                    message,
                    claiming,
                    answer,
                } => self.claimed(message, claiming, answer),
                Resume::CaughtUp { message } => match &self.phase {
                    Phase::Established { realm, id, .. } => {
                        let (realm, id) = (realm.clone(), *id);
                        self.handle(&realm, id, message)
                    }
                    _ => Ok(()),
                },
            };
            if let Err(frame) = result {
                return Poll::Ready(Err(frame));
            }
        }
        Poll::Ready(Ok(()))
    }
}
