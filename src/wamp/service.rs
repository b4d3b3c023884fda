//! Sessions the node itself holds in a realm: the router's own (Crossbar's service session),
//! through which it calls a procedure of the application (a dynamic authenticator or
//! authorizer), and the HTTP bridge's, which publish and call for HTTP requests under their
//! configured role. They call through the realm's dealer and publish through its broker like
//! any other session, so the callee sees an ordinary INVOCATION, the realm's limits and
//! permissions apply, and the meta API shows who is calling.

use crate::config::{Permission, Role, SessionLimits};
use crate::lock;
use crate::runtime::lifecycle::ConnInfo;
use crate::wamp::auth::Identity;
use crate::wamp::message::{code, ClientMessage, Payload};
use crate::wamp::peer::{Inbox, Outbox};
use crate::wamp::realm::Realm;
use crate::wamp::serializer::Serializer;
use crate::wamp::sessions::Member;
use crate::wamp::uri::error;
use async_std::channel::{bounded, Sender};
use futures_lite::FutureExt;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes of answers the router's session may have queued and not yet read.
const QUEUE_BOUND: usize = 16 * 1024 * 1024;

/// What a called procedure answered, or a publication's ID (in `publication`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    /// `Arguments|list` of the RESULT.
    pub args: Vec<Value>,
    /// `ArgumentsKw|dict` of the RESULT.
    pub kwargs: Option<Map<String, Value>>,
    /// PUBLISHED's publication ID.
    pub publication: u64,
}

/// Why a call or publication did not give a result.
#[derive(Debug, Clone)]
pub(crate) enum CallError {
    /// The procedure, the dealer or the broker answered ERROR with this URI, first argument,
    /// and all its arguments.
    Error {
        uri: String,
        text: Option<Value>,
        args: Vec<Value>,
        kwargs: Option<Map<String, Value>>,
    },
    /// No answer within the time given.
    Timeout,
    /// The router's session is gone (the realm's queue for it overflowed).
    Gone,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Error {
                uri, text: None, ..
            } => write!(f, "{uri}"),
            CallError::Error {
                uri,
                text: Some(text),
                ..
            } => write!(f, "{uri} ({})", text_of(text)),
            CallError::Timeout => write!(f, "no answer in time"),
            CallError::Gone => write!(f, "the router's own session has gone"),
        }
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

type Waiting = Arc<Mutex<HashMap<u64, Sender<Result<Reply, CallError>>>>>;

/// The router's session in one realm.
pub(crate) struct ServiceSession {
    realm: Arc<Realm>,
    id: u64,
    next_request: AtomicU64,
    waiting: Waiting,
    /// Open while the realm still sends to this session.
    outbox: Outbox,
}

/// Forgets a call's waiting place however the wait ends (answered, timed out, or the
/// waiting session gone).
struct Forget<'a>(&'a Waiting, u64);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.0).remove(&self.1);
    }
}

impl ServiceSession {
    /// Joins `realm` as the router's own session.
    pub(crate) fn join(realm: Arc<Realm>) -> ServiceSession {
        let identity = Identity {
            authid: "wssnode".into(),
            authrole: crate::wamp::sessions::TRUSTED.into(),
            authmethod: "trusted",
            authprovider: "static",
            authextra: None,
        };
        let limits = SessionLimits {
            max_calls_in_flight: 10_000,
            ..SessionLimits::default()
        };
        ServiceSession::join_as(realm, identity, trusted_role(), limits)
    }

    /// Joins `realm` as `identity` with `role`'s permissions (the HTTP bridge's sessions).
    pub(crate) fn join_as(
        realm: Arc<Realm>,
        identity: Identity,
        role: Role,
        limits: SessionLimits,
    ) -> ServiceSession {
        let (outbox, inbox) = Outbox::local(QUEUE_BOUND);
        let member = Member::new(
            identity,
            role,
            &Map::new(),
            &ConnInfo::unknown(),
            outbox.clone(),
            Serializer::Json,
            limits,
        );
        let id = realm.join_as(crate::wamp::message::random_id(), member);
        let waiting: Waiting = Arc::default();
        async_std::task::spawn(read_answers(inbox, waiting.clone()));
        ServiceSession {
            realm,
            id,
            next_request: AtomicU64::new(1),
            waiting,
            outbox,
        }
    }

    /// Whether the realm still sends to it (its queue closes if answers pile up unread).
    pub(crate) fn is_alive(&self) -> bool {
        self.outbox.is_open()
    }

    /// Calls `procedure` and waits at most `timeout` for its answer.
    pub(crate) async fn call(
        &self,
        procedure: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Reply, CallError> {
        let payload = Payload {
            args: Some(Value::Array(args)),
            kwargs: None,
        };
        self.call_with(procedure, payload, Map::new(), timeout)
            .await
    }

    /// Calls `procedure` with these arguments and CALL options; the dealer cancels the call
    /// after `timeout`.
    pub(crate) async fn call_with(
        &self,
        procedure: &str,
        payload: Payload,
        mut options: Map<String, Value>,
        timeout: Duration,
    ) -> Result<Reply, CallError> {
        options.insert("timeout".into(), json!(timeout.as_millis() as u64));
        self.request(timeout, |request| ClientMessage::Call {
            request,
            options,
            procedure: procedure.to_string(),
            payload,
        })
        .await
    }

    /// Publishes to `topic` with these options (acknowledged, so the answer carries the
    /// publication ID or the broker's ERROR).
    pub(crate) async fn publish(
        &self,
        topic: &str,
        payload: Payload,
        mut options: Map<String, Value>,
    ) -> Result<Reply, CallError> {
        options.insert("acknowledge".into(), Value::Bool(true));
        self.request(PUBLISH_ANSWER_WITHIN, |request| ClientMessage::Publish {
            request,
            options,
            topic: topic.to_string(),
            payload,
        })
        .await
    }

    /// Sends the message `make` builds for a new request ID, and waits for its answer.
    async fn request(
        &self,
        timeout: Duration,
        make: impl FnOnce(u64) -> ClientMessage,
    ) -> Result<Reply, CallError> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = bounded(1);
        lock(&self.waiting).insert(request, tx);
        let _forget = Forget(&self.waiting, request);
        if let Err(text) = self.realm.handle(self.id, make(request)) {
            return Err(CallError::Error {
                uri: error::PROTOCOL_VIOLATION.into(),
                text: Some(Value::String(text.clone())),
                args: vec![Value::String(text)],
                kwargs: None,
            });
        }
        // The dealer ends a call at `timeout`; this timer is for a dealer that could not.
        let answer = async { rx.recv().await.unwrap_or(Err(CallError::Gone)) }
            .or(async {
                async_io::Timer::after(timeout + Duration::from_secs(1)).await;
                Err(CallError::Timeout)
            })
            .await;
        answer
    }
}

/// How long a publication's acknowledgement may take (the broker answers at once).
const PUBLISH_ANSWER_WITHIN: Duration = Duration::from_secs(10);

impl Drop for ServiceSession {
    fn drop(&mut self) {
        self.realm.leave(self.id);
    }
}

/// Crossbar's `trusted` role: every action on every URI.
fn trusted_role() -> Role {
    Role {
        name: crate::wamp::sessions::TRUSTED.into(),
        permissions: vec![Permission::allow_all()],
        authorizer: None,
    }
}

/// Hands each RESULT, PUBLISHED or ERROR the realm sends the session to the request
/// waiting for it.
async fn read_answers(inbox: Inbox, waiting: Waiting) {
    while let Some(message) = inbox.recv().await {
        let Ok(Value::Array(fields)) =
            serde_json::from_str::<Value>(message.to_text().unwrap_or(""))
        else {
            continue;
        };
        let kind = fields.first().and_then(Value::as_u64);
        let args = |at: usize| match fields.get(at) {
            Some(Value::Array(args)) => args.clone(),
            _ => Vec::new(),
        };
        let kwargs = |at: usize| fields.get(at).and_then(Value::as_object).cloned();
        let (request, answer) = match kind {
            Some(code::RESULT) => {
                let reply = Reply {
                    args: args(3),
                    kwargs: kwargs(4),
                    publication: 0,
                };
                (fields.get(1).and_then(Value::as_u64), Ok(reply))
            }
            Some(code::PUBLISHED) => {
                let reply = Reply {
                    publication: fields.get(2).and_then(Value::as_u64).unwrap_or(0),
                    ..Reply::default()
                };
                (fields.get(1).and_then(Value::as_u64), Ok(reply))
            }
            Some(code::ERROR)
                if matches!(
                    fields.get(1).and_then(Value::as_u64),
                    Some(code::CALL) | Some(code::PUBLISH)
                ) =>
            {
                let uri = fields.get(4).and_then(Value::as_str).unwrap_or("");
                let error = CallError::Error {
                    uri: uri.to_string(),
                    text: args(5).first().cloned(),
                    args: args(5),
                    kwargs: kwargs(6),
                };
                (fields.get(2).and_then(Value::as_u64), Err(error))
            }
            _ => continue,
        };
        let sender = request.and_then(|r| lock(&waiting).remove(&r));
        if let Some(sender) = sender {
            let _ = sender.try_send(answer);
        }
    }
    // Whoever still waits learns the session has gone.
    for (_, sender) in lock(&waiting).drain() {
        let _ = sender.try_send(Err(CallError::Gone));
    }
}
