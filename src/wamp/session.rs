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

/// Logins waiting for a dynamic authenticator, node-wide, per client.
fn pending_logins() -> &'static Arc<Shares> {
    static PENDING: std::sync::OnceLock<Arc<Shares>> = std::sync::OnceLock::new();
    PENDING.get_or_init(Shares::new)
}

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

    /// Crossbar's transport details, for authenticators and authorizers.
    fn transport_details(&self) -> Value {
        let peer_cert = self.info.client_cert.as_ref().map(|(sha1, sha256)| {
            json!({
                "sha1": crate::tls::selfsigned::colon_hex(sha1),
                "sha256": crate::tls::selfsigned::colon_hex(sha256),
            })
        });
        json!({
            "channel_type": match (&self.info.peer, self.info.tls) {
                (crate::runtime::lifecycle::Peer::Unix(_), _) => "unix",
                (_, true) => "tls",
                _ => "tcp",
            },
            "channel_framing": "websocket",
            "channel_serializer": self.serializer.name(),
            "peer": self.info.peer.crossbar_form(),
            "is_server": true,
            "is_secure": self.info.tls,
            "own_pid": std::process::id(),
            "peer_cert": peer_cert,
            "websocket_protocol": self.serializer.subprotocol(),
            "http_headers_received": self.http_headers,
            "http_cbtid": self.cookie.as_ref().map(|(_, c)| c.as_str()),
        })
    }

    fn hello_context<'h>(
        &'h self,
        parts: &'h HelloParts,
        transport: &'h dyn Fn() -> Value,
    ) -> Hello<'h> {
        let cookie = match (&self.cookie, self.options.auth.cookie) {
            (Some((store, value)), true) => Some((&**store, value.as_str())),
            _ => None,
        };
        Hello {
            realm: &parts.realm,
            details: &parts.details,
            conn: &self.info,
            session: parts.session,
            transport,
            cookie,
        }
    }

    fn hello(&mut self, realm_name: String, details: Map<String, Value>) -> Result<(), CloseFrame> {
        let Some(realm) = self.realms.get(&realm_name) else {
            return self.abort(
                error::NO_SUCH_REALM,
                &format!("no realm `{realm_name}` on this router"),
            );
        };
        let parts = HelloParts {
            realm: realm_name,
            details,
            session: random_id(),
        };
        let transport = || self.transport_details();
        let step = auth::hello(&self.options.auth, &self.hello_context(&parts, &transport));
        self.phase = Phase::Opening {
            realm,
            hello: parts,
            pending: None,
        };
        self.step(step)
    }

    /// Carries out what authentication decided.
    fn step(&mut self, step: Step) -> Result<(), CloseFrame> {
        match step {
            Step::Welcome(identity) => self.welcome(identity),
            Step::Challenge {
                method,
                extra,
                pending,
            } => {
                self.send(message::challenge(method, extra));
                if let Phase::Opening { pending: slot, .. } = &mut self.phase {
                    *slot = Some(pending);
                }
                Ok(())
            }
            Step::Ask(ask) => self.ask_authenticator(ask),
            Step::Refuse(refusal) => self.refuse(refusal),
        }
    }

    fn refuse(&mut self, refusal: Refusal) -> Result<(), CloseFrame> {
        let (realm, authid) = match &self.phase {
            Phase::Opening { hello, .. } => (
                hello.realm.clone(),
                hello
                    .details
                    .get("authid")
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_string(),
            ),
            _ => ("-".into(), "-".into()),
        };
        let method = match &self.phase {
            Phase::Opening { hello, .. } => hello
                .details
                .get("authmethods")
                .and_then(|m| m.get(0))
                .and_then(Value::as_str)
                .unwrap_or("anonymous")
                .to_string(),
            _ => "-".into(),
        };
        crate::runtime::metrics::metrics().authenticated(&method, false);
        log::info!(
            "wamp login refused {} realm {realm} authid {authid}: {} ({})",
            self.info.peer,
            refusal.why,
            refusal.reason
        );
        self.abort(&refusal.reason, &refusal.message)
    }

    /// Calls a dynamic authenticator; the session waits for its answer.
    fn ask_authenticator(&mut self, ask: Ask) -> Result<(), CloseFrame> {
        let Phase::Opening { hello, .. } = &self.phase else {
            return Ok(());
        };
        let realm = ask
            .authenticator
            .realm
            .clone()
            .unwrap_or_else(|| hello.realm.clone());
        let Some(service) = self.realms.service(&realm) else {
            return self.refuse(Refusal {
                reason: error::AUTHENTICATION_FAILED.into(),
                message: "no authenticator is running".into(),
                why: format!("the authenticator's realm `{realm}` is not on this router"),
            });
        };
        // A login waiting for its authenticator holds a share of the node's: a client that
        // opens many and never finishes them must leave room for everyone else's.
        let (all, mine) = (
            self.options.max_pending_logins,
            self.options.max_pending_logins_per_client,
        );
        let share = match pending_logins().take(self.info.peer.client(), mine, all) {
            Ok(share) => share,
            Err(full) => {
                let (message, key) = match full {
                    Full::Client(n) => (format!("this client has {n} logins waiting for the authenticator, the most it may; try again later"), "max_pending_logins_per_client"),
                    Full::All(n) => (format!("{n} logins are waiting for the authenticator, the most the node keeps; try again later"), "max_pending_logins"),
                };
                return self.refuse(Refusal {
                    reason: error::AUTHENTICATION_FAILED.into(),
                    why: format!("{message} (option `{key}`)"),
                    message,
                });
            }
        };
        let timeout = Duration::from_millis(ask.authenticator.timeout_ms);
        self.waiting = Some(Box::pin(async move {
            let answer = service
                .call(&ask.authenticator.procedure, ask.args.clone(), timeout)
                .await;
            drop(share);
            Resume::Authenticated(ask, answer)
        }));
        Ok(())
    }

    fn authenticated(
        &mut self,
        ask: Ask,
        answer: Result<Reply, CallError>,
    ) -> Result<(), CloseFrame> {
        let Phase::Opening { hello, .. } = &self.phase else {
            return Ok(());
        };
        let transport = || self.transport_details();
        let step = auth::answered(ask, &self.hello_context(hello, &transport), answer);
        self.step(step)
    }

    fn authenticate(&mut self, signature: &str) -> Result<(), CloseFrame> {
        let pending = match &mut self.phase {
            Phase::Opening { pending, .. } => pending.take(),
            _ => None,
        };
        let Some(pending) = pending else {
            return self.abort(
                error::PROTOCOL_VIOLATION,
                "AUTHENTICATE without a CHALLENGE to answer",
            );
        };
        let Phase::Opening { hello, .. } = &self.phase else {
            return Ok(());
        };
        let transport = || self.transport_details();
        let step = auth::authenticate(
            &self.options.auth,
            &self.hello_context(hello, &transport),
            pending,
            signature,
        );
        self.step(step)
    }

    fn welcome(&mut self, identity: Identity) -> Result<(), CloseFrame> {
        let Phase::Opening { realm, hello, .. } = std::mem::replace(&mut self.phase, Phase::Hello)
        else {
            return Ok(());
        };
        let Some(role) = realm.role(&identity.authrole) else {
            self.phase = Phase::Opening {
                realm: realm.clone(),
                hello,
                pending: None,
            };
            return self.refuse(Refusal {
                reason: error::NO_SUCH_ROLE.into(),
                message: format!(
                    "realm `{}` has no role `{}`",
                    realm.config.name, identity.authrole
                ),
                why: format!(
                    "role `{}` given by auth is not in realm `{}`; add it to the realm's roles",
                    identity.authrole, realm.config.name
                ),
            });
        };
        crate::runtime::metrics::metrics().authenticated(identity.authmethod, true);
        let authextra = self.authextra(&identity);
        let welcome = json!({
            "realm": realm.config.name,
            "authid": identity.authid,
            "authrole": identity.authrole,
            "authmethod": identity.authmethod,
            "authprovider": identity.authprovider,
            "authextra": authextra,
            "roles": router_roles(),
        });
        self.remember_in_cookie(&identity, &realm.config.name);
        let authorizer = role.authorizer.clone();
        let id = realm.join_as(
            hello.session,
            Member::new(
                identity.clone(),
                role,
                &hello.details,
                &self.info,
                self.out.clone(),
                self.serializer,
                self.options.session_limits,
            ),
        );
        self.send(message::welcome(id, welcome));
        let authorizer = authorizer.map(|a| Authorizer {
            procedure: a.procedure,
            timeout: Duration::from_millis(a.timeout_ms),
            details: json!({
                "session": id,
                "authid": identity.authid,
                "authrole": identity.authrole,
                "authmethod": identity.authmethod,
                "authprovider": identity.authprovider,
                "authextra": authextra,
                "transport": self.transport_details(),
            }),
            cache: HashMap::new(),
        });
        self.phase = Phase::Established {
            realm,
            id,
            authorizer,
        };
        self.http_headers = Value::Null;
        Ok(())
    }

    /// WELCOME's authextra: the method's or authenticator's, and Crossbar's `x_cb_` keys.
    fn authextra(&self, identity: &Identity) -> Value {
        let mut extra = match &identity.authextra {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        extra.insert("x_cb_peer".into(), json!(self.info.peer.crossbar_form()));
        extra.insert("x_cb_pid".into(), json!(std::process::id()));
        Value::Object(extra)
    }

    /// A login on a connection with a tracked cookie binds the cookie to who logged in.
    /// The cookie keeps an authenticator's `extra` (up to 4 KiB), never what the client
    /// sent, so a client cannot make the store hold more than a login's worth.
    fn remember_in_cookie(&self, identity: &Identity, realm: &str) {
        let Some((store, value)) = &self.cookie else {
            return;
        };
        if identity.authprovider == "cookie" {
            return;
        }
        store.bind(
            value,
            Binding {
                authid: identity.authid.clone(),
                authrole: identity.authrole.clone(),
                authmethod: identity.authmethod.to_string(),
                authrealm: realm.to_string(),
                authextra: identity
                    .authextra
                    .clone()
                    .filter(|_| identity.authprovider == "dynamic")
                    .filter(|extra| extra.to_string().len() <= 4096),
            },
        );
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

    /// Acts on an authorizer's answer.
    fn authorizer_answered(
        &mut self,
        msg: ClientMessage,
        key: (Action, String, String),
        answer: Result<Reply, CallError>,
    ) -> Result<(), CloseFrame> {
        let (action, uri) = (key.0, key.1.clone());
        let Phase::Established {
            authorizer: Some(authorizer),
            id,
            ..
        } = &mut self.phase
        else {
            return Ok(());
        };
        match read_verdict(answer) {
            Ok((verdict, cache)) => {
                if cache && uri.len() <= CACHED_URI_BYTES {
                    if authorizer.cache.len() >= AUTHORIZER_CACHE {
                        authorizer.cache.clear();
                    }
                    authorizer.cache.insert(key, verdict);
                }
                self.authorized(msg, verdict)
            }
            Err(why) => {
                log::info!(
                    "wamp authorizer `{}` failed for session {id}, {} `{uri}`: {why}",
                    authorizer.procedure,
                    action.name()
                );
                let texts = (
                    crate::wamp::uri::crossbar::authorization_failed(
                        action.crossbar_what(),
                        &uri,
                        &why,
                    ),
                    format!(
                        "failed to authorize session for {} `{uri}`: {why}",
                        action.name()
                    ),
                );
                self.send_refusal(&msg, error::AUTHORIZATION_FAILED, texts);
                Ok(())
            }
        }
    }

    fn authorized(&mut self, mut msg: ClientMessage, verdict: Verdict) -> Result<(), CloseFrame> {
        let Phase::Established { realm, id, .. } = &self.phase else {
            return Ok(());
        };
        if !verdict.allow {
            let texts = match authorizable(&msg) {
                Some((action, uri)) => (
                    realm.crossbar_refusal(*id, uri, action),
                    format!(
                        "the role's authorizer does not let this session {} `{uri}`",
                        action.verb()
                    ),
                ),
                None => ("not authorized".into(), String::new()),
            };
            self.send_refusal(&msg, error::NOT_AUTHORIZED, texts);
            return Ok(());
        }
        if verdict.disclose {
            if let ClientMessage::Publish { options, .. } | ClientMessage::Call { options, .. } =
                &mut msg
            {
                options.insert("disclose_me".into(), Value::Bool(true));
            }
        }
        let (realm, id) = (realm.clone(), *id);
        self.dispatch(realm, id, msg)
    }

    /// ERROR for a refused action; a PUBLISH hears of it only when it asked to be
    /// acknowledged, as the spec says.
    fn send_refusal(&self, msg: &ClientMessage, uri: &str, (crossbar, ours): (String, String)) {
        let (kind, request) = match msg {
            ClientMessage::Publish {
                request, options, ..
            } => {
                if options.get("acknowledge").and_then(Value::as_bool) != Some(true) {
                    return;
                }
                (code::PUBLISH, *request)
            }
            ClientMessage::Subscribe { request, .. } => (code::SUBSCRIBE, *request),
            ClientMessage::Call { request, .. } => (code::CALL, *request),
            ClientMessage::Register { request, .. } => (code::REGISTER, *request),
            _ => return,
        };
        self.send(message::error_texts(kind, request, uri, &crossbar, &ours));
    }
}

/// The action and URI an authorizer decides for a message, if it decides one.
fn authorizable(msg: &ClientMessage) -> Option<(Action, &str)> {
    match msg {
        ClientMessage::Publish { topic, .. } => Some((Action::Publish, topic)),
        ClientMessage::Subscribe { topic, .. } => Some((Action::Subscribe, topic)),
        ClientMessage::Call { procedure, .. } => Some((Action::Call, procedure)),
        ClientMessage::Register { procedure, .. } => Some((Action::Register, procedure)),
        _ => None,
    }
}

/// The `match` option of a SUBSCRIBE or REGISTER (`exact` when absent).
fn match_policy(msg: &ClientMessage) -> String {
    options_of(msg)
        .get("match")
        .and_then(Value::as_str)
        .unwrap_or("exact")
        .to_string()
}

fn options_of(msg: &ClientMessage) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match msg {
        ClientMessage::Publish { options, .. }
        | ClientMessage::Subscribe { options, .. }
        | ClientMessage::Call { options, .. }
        | ClientMessage::Register { options, .. } => options,
        _ => EMPTY.get_or_init(Map::new),
    }
}

/// An authorizer's answer, Crossbar's way: `true`/`false`, or `{"allow", "disclose",
/// "cache"}` with booleans. Returns the verdict and whether to cache it.
fn read_verdict(answer: Result<Reply, CallError>) -> Result<(Verdict, bool), String> {
    let reply = answer.map_err(|e| e.to_string())?;
    match reply.args.into_iter().next() {
        Some(Value::Bool(allow)) => Ok((
            Verdict {
                allow,
                disclose: false,
            },
            false,
        )),
        Some(Value::Object(map)) => {
            if let Some(key) = map
                .keys()
                .find(|k| !["allow", "disclose", "cache", "validate"].contains(&k.as_str()))
            {
                return Err(format!("the authorizer answered an unknown key `{key}`"));
            }
            let flag = |key: &str| match map.get(key) {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(format!("the authorizer's `{key}` must be true or false")),
            };
            if !map.contains_key("allow") {
                return Err("the authorizer's answer has no `allow`".into());
            }
            Ok((
                Verdict {
                    allow: flag("allow")?,
                    disclose: flag("disclose")?,
                },
                flag("cache")?,
            ))
        }
        other => Err(format!(
            "the authorizer answered {}, not true, false or a dict",
            other.unwrap_or(Value::Null)
        )),
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
