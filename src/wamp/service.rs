//! The router's own session in a realm (Crossbar's service session): how the router itself
//! calls a procedure of the application (a dynamic authenticator or authorizer). It calls
//! through the realm's dealer like any other caller, so the callee sees an ordinary
//! INVOCATION, the realm's limits apply, and the meta API shows who is calling.

use crate::config::{Permission, Role, SessionLimits};
use crate::lifecycle::ConnInfo;
use crate::wamp::auth::Identity;
use crate::wamp::message::{code, ClientMessage, Payload};
use crate::wamp::realm::Realm;
use crate::wamp::serializer::Serializer;
use crate::wamp::sessions::Member;
use crate::wamp::uri::error;
use crate::ws::{Inbox, Outbox};
use async_std::channel::{bounded, Sender};
use futures_lite::FutureExt;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes of answers the router's session may have queued and not yet read.
const QUEUE_BOUND: usize = 16 * 1024 * 1024;

/// The role of the router's own sessions: Crossbar's `trusted`, allowed everything.
pub(crate) const TRUSTED: &str = "trusted";

/// What a called procedure answered.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    /// `Arguments|list` of the RESULT.
    pub args: Vec<Value>,
}

/// Why a call did not give a result.
#[derive(Debug, Clone)]
pub(crate) enum CallError {
    /// The procedure, or the dealer, answered ERROR with this URI and first argument.
    Error { uri: String, text: Option<Value> },
    /// No answer within the time given.
    Timeout,
    /// The router's session is gone (the realm's queue for it overflowed).
    Gone,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Error { uri, text: None } => write!(f, "{uri}"),
            CallError::Error {
                uri,
                text: Some(text),
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
    pub fn join(realm: Arc<Realm>) -> ServiceSession {
        let (outbox, inbox) = Outbox::local(QUEUE_BOUND);
        let identity = Identity {
            authid: "wssnode".into(),
            authrole: TRUSTED.into(),
            authmethod: "trusted",
            authprovider: "static",
            authextra: None,
        };
        let member = Member::new(
            identity,
            trusted_role(),
            &Map::new(),
            &ConnInfo::unknown(),
            outbox.clone(),
            Serializer::Json,
            SessionLimits {
                max_calls_in_flight: 10_000,
                ..SessionLimits::default()
            },
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
    pub fn is_alive(&self) -> bool {
        self.outbox.is_open()
    }

    /// Calls `procedure` and waits at most `timeout` for its answer.
    pub async fn call(
        &self,
        procedure: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Reply, CallError> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = bounded(1);
        lock(&self.waiting).insert(request, tx);
        let _forget = Forget(&self.waiting, request);
        let mut options = Map::new();
        options.insert("timeout".into(), json!(timeout.as_millis() as u64));
        let call = ClientMessage::Call {
            request,
            options,
            procedure: procedure.to_string(),
            payload: Payload {
                args: Some(Value::Array(args)),
                kwargs: None,
            },
        };
        if let Err(text) = self.realm.handle(self.id, call) {
            return Err(CallError::Error {
                uri: error::PROTOCOL_VIOLATION.into(),
                text: Some(Value::String(text)),
            });
        }
        // The dealer ends the call at `timeout`; this timer is for a dealer that could not.
        let answer = async { rx.recv().await.unwrap_or(Err(CallError::Gone)) }
            .or(async {
                async_io::Timer::after(timeout + Duration::from_secs(1)).await;
                Err(CallError::Timeout)
            })
            .await;
        answer
    }
}

impl Drop for ServiceSession {
    fn drop(&mut self) {
        self.realm.leave(self.id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Crossbar's `trusted` role: every action on every URI.
fn trusted_role() -> Role {
    Role {
        name: TRUSTED.into(),
        permissions: vec![Permission::allow_all()],
        authorizer: None,
    }
}

/// Hands each RESULT or ERROR the realm sends the router's session to the call waiting
/// for it.
async fn read_answers(inbox: Inbox, waiting: Waiting) {
    while let Some(message) = inbox.recv().await {
        let Ok(Value::Array(fields)) =
            serde_json::from_str::<Value>(message.to_text().unwrap_or(""))
        else {
            continue;
        };
        let kind = fields.first().and_then(Value::as_u64);
        let (request, answer) = match kind {
            Some(code::RESULT) => {
                let request = fields.get(1).and_then(Value::as_u64);
                let reply = Reply {
                    args: match fields.get(3) {
                        Some(Value::Array(args)) => args.clone(),
                        _ => Vec::new(),
                    },
                };
                (request, Ok(reply))
            }
            Some(code::ERROR) if fields.get(1).and_then(Value::as_u64) == Some(code::CALL) => {
                let request = fields.get(2).and_then(Value::as_u64);
                let uri = fields
                    .get(4)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let text = fields
                    .get(5)
                    .and_then(Value::as_array)
                    .and_then(|args| args.first())
                    .cloned();
                (request, Err(CallError::Error { uri, text }))
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
