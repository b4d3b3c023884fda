//! WAMP over long-poll (Crossbar's "WAMP-over-Longpoll", what autobahn-js's `longpoll`
//! transport speaks), for browsers without WebSocket. Under the path, all POST:
//!
//! - `open` with `{"protocols": [...]}`: a new transport, `{"transport": ID, "protocol":
//!   "wamp.2.json"}`;
//! - `ID/send` with one WAMP message as the body: 204;
//! - `ID/receive`: the next message the router has for the client (200), or 204 once
//!   `request_timeout` has passed without one;
//! - `ID/close`: 204, and the transport is gone.
//!
//! Each transport is a `WampSession` driven by its own task, its outgoing messages held in
//! a bounded `Outbox` until `receive` takes them. A transport nobody touches for
//! `session_timeout` is closed and forgotten, and one whose waiting messages pass the queue
//! limits is closed.

use crate::config::LongPollOptions;
use crate::runtime::lifecycle::ConnInfo;
use crate::runtime::limits::{Full, Share, Shares};
use crate::wamp::peer::{Inbox, Outbox, Session};
use crate::wamp::session::WampSession;
use crate::wamp::Realms;
use async_std::channel::{bounded, Receiver, Sender};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::Message;
use futures_lite::FutureExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tide::{Response, StatusCode};

/// Bytes of an `open` request's body (`{"protocols": [...]}`), at most.
const OPEN_BODY: usize = 64 * 1024;
/// Messages a client may have sent that its session has not taken yet.
const INCOMING: usize = 64;

/// A `longpoll` path: its settings and its open transports.
pub struct LongPoll {
    options: Arc<LongPollOptions>,
    transports: Mutex<HashMap<String, Arc<Transport>>>,
    /// The open transports, per client (`max_transports_per_client`, `max_transports`).
    shares: Arc<Shares>,
}

/// One long-poll transport, as the HTTP requests see it.
struct Transport {
    incoming: Sender<String>,
    inbox: Inbox,
    last_seen: Mutex<Instant>,
    closing: Sender<()>,
    /// Its place under the path's caps, given back when the last request lets go of it.
    _share: Share,
}

impl Transport {
    fn touch(&self) {
        *crate::lock(&self.last_seen) = Instant::now();
    }

    fn idle(&self) -> Duration {
        crate::lock(&self.last_seen).elapsed()
    }
}

fn answer(status: StatusCode, body: &str) -> Response {
    let mut res = Response::new(status);
    if !body.is_empty() {
        res.set_body(body);
    }
    res
}

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    let mut res = Response::new(status);
    res.set_body(value.to_string());
    res.set_content_type("application/json");
    res
}

impl LongPoll {
    /// A path with no transports yet.
    pub fn new(options: LongPollOptions) -> LongPoll {
        LongPoll {
            options: Arc::new(options),
            transports: Mutex::default(),
            shares: Shares::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Transport>>> {
        crate::lock(&self.transports)
    }

    /// Answers one request under the path (`rest` is what follows it).
    pub async fn serve<S>(
        self: &Arc<Self>,
        realms: Arc<Realms>,
        rest: &str,
        mut req: tide::Request<S>,
    ) -> Response
    where
        S: Clone + Send + Sync + 'static,
    {
        if req.method() != http_types::Method::Post {
            let mut res = answer(StatusCode::MethodNotAllowed, "long-poll takes POST\n");
            res.insert_header("Allow", "POST");
            return res;
        }
        let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
        let max = self.options.session.max_message_size;
        match parts.as_slice() {
            ["open"] => {
                if req.len().is_some_and(|declared| declared > OPEN_BODY) {
                    return answer(StatusCode::PayloadTooLarge, "an open request is small\n");
                }
                let body = read_body(&mut req, OPEN_BODY).await;
                let info = req
                    .ext::<ConnInfo>()
                    .cloned()
                    .unwrap_or_else(ConnInfo::unknown);
                self.open(realms, body, info)
            }
            [id, "send"] => {
                let Some(transport) = self.get(id) else {
                    return answer(StatusCode::NotFound, "no such transport\n");
                };
                transport.touch();
                let Some(body) = read_body(&mut req, max).await else {
                    return answer(StatusCode::PayloadTooLarge, "message too large\n");
                };
                match transport.incoming.try_send(body) {
                    Ok(()) => answer(StatusCode::NoContent, ""),
                    Err(_) => answer(
                        StatusCode::ServiceUnavailable,
                        "too many messages not yet taken\n",
                    ),
                }
            }
            [id, "receive"] => {
                let Some(transport) = self.get(id) else {
                    return answer(StatusCode::NotFound, "no such transport\n");
                };
                transport.touch();
                let wait = Duration::from_millis(self.options.request_timeout_ms);
                let next = async_std::future::timeout(wait, transport.inbox.recv()).await;
                transport.touch();
                match next {
                    Err(_) => answer(StatusCode::NoContent, ""),
                    Ok(Some(Message::Text(text))) => {
                        let mut res = answer(StatusCode::Ok, text.as_str());
                        res.set_content_type("application/json");
                        res
                    }
                    Ok(_) => {
                        self.lock().remove(*id);
                        answer(StatusCode::NotFound, "the transport has closed\n")
                    }
                }
            }
            [id, "close"] => match self.lock().remove(*id) {
                Some(transport) => {
                    let _ = transport.closing.try_send(());
                    answer(StatusCode::NoContent, "")
                }
                None => answer(StatusCode::NotFound, "no such transport\n"),
            },
            _ => answer(StatusCode::NotFound, "Not Found\n"),
        }
    }

    /// Waits while an ended transport still holds messages for its client (besides the
    /// close), for one `request_timeout` at most.
    async fn linger(&self, id: &str, transport: &Transport) {
        let until = Instant::now() + Duration::from_millis(self.options.request_timeout_ms);
        while transport.inbox.len() > 1 && Instant::now() < until && self.lock().contains_key(id) {
            async_io::Timer::after(Duration::from_millis(100)).await;
        }
    }

    fn get(&self, id: &str) -> Option<Arc<Transport>> {
        self.lock().get(id).cloned()
    }

    /// `open`: a transport and its session, if the client speaks JSON.
    fn open(
        self: &Arc<Self>,
        realms: Arc<Realms>,
        body: Option<String>,
        info: ConnInfo,
    ) -> Response {
        let protocols: Vec<String> = body
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("protocols").cloned())
            .and_then(|p| serde_json::from_value(p).ok())
            .unwrap_or_default();
        if !protocols.iter().any(|p| p == "wamp.2.json") {
            return answer(
                StatusCode::BadRequest,
                "long-poll here speaks wamp.2.json only; offer it in `protocols`\n",
            );
        }
        let o = &self.options;
        let share = match self
            .shares
            .take(info.peer.client(), o.max_transports_per_client, o.max_transports)
        {
            Ok(share) => share,
            Err(Full::Client(n)) => return answer(
                StatusCode::TooManyRequests,
                &format!("this client has {n} long-poll transports open, the most it may (option `max_transports_per_client`)\n"),
            ),
            Err(Full::All(n)) => return answer(
                StatusCode::ServiceUnavailable,
                &format!("this path has {n} long-poll transports open, the most it keeps (option `max_transports`)\n"),
            ),
        };
        let id = crate::wamp::auth::crypto::random_token(16);
        // Outbox closes a queue at twice its bound: half the limit makes the limit hold.
        let (outbox, inbox) = Outbox::local((self.options.queue_limit_bytes / 2).max(512));
        let (incoming, incoming_rx) = bounded(INCOMING);
        let (closing, closing_rx) = bounded(1);
        let transport = Arc::new(Transport {
            incoming,
            inbox,
            last_seen: Mutex::new(Instant::now()),
            closing,
            _share: share,
        });
        let session = WampSession::new(
            realms,
            Arc::new(self.options.session.clone()),
            "wamp.2.json",
            info,
            outbox.clone(),
            None,
            serde_json::Value::Null,
        );
        self.lock().insert(id.clone(), transport.clone());
        log::info!("longpoll open {id}");
        let path = self.clone();
        let task_id = id.clone();
        async_std::task::spawn(async move {
            let why = drive(
                session,
                incoming_rx,
                closing_rx,
                &transport,
                &outbox,
                &path.options,
            )
            .await;
            // What the session said last (an ABORT that names a violation, a GOODBYE) is the
            // client's to read: the transport stays until a `receive` takes it, for one
            // `request_timeout` at most, then answers 404 like any closed transport.
            outbox.close(CloseCode::Normal, "");
            path.linger(&task_id, &transport).await;
            path.lock().remove(&task_id);
            log::info!("longpoll close {task_id}: {why}");
        });
        json(
            StatusCode::Ok,
            serde_json::json!({"transport": id, "protocol": "wamp.2.json"}),
        )
    }
}

/// Reads a request body of at most `max` bytes as text; `None` when larger (by its
/// Content-Length, before anything is read) or not UTF-8.
async fn read_body<S>(req: &mut tide::Request<S>, max: usize) -> Option<String> {
    use futures_lite::AsyncReadExt;
    if req.len().is_some_and(|declared| declared > max) {
        return None;
    }
    let mut body = req.take_body();
    let mut bytes = Vec::new();
    let mut limited = (&mut body).take(max as u64 + 1);
    limited.read_to_end(&mut bytes).await.ok()?;
    if bytes.len() > max {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// What woke a transport's task.
enum Event {
    Incoming(Option<String>),
    Ready(Result<(), async_tungstenite::tungstenite::protocol::CloseFrame>),
    Closing,
    Tick,
}

/// Drives one transport's session until it ends; returns why it ended.
async fn drive(
    mut session: WampSession,
    incoming: Receiver<String>,
    closing: Receiver<()>,
    transport: &Transport,
    outbox: &Outbox,
    options: &LongPollOptions,
) -> String {
    let session_timeout = Duration::from_millis(options.session_timeout_ms);
    let open_timeout = Duration::from_millis(options.open_timeout_ms);
    let opened = Instant::now();
    let tick = (session_timeout.min(open_timeout) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(5));
    let why = loop {
        let waits = session.waiting();
        let event = async {
            if waits {
                Event::Ready(std::future::poll_fn(|cx| session.poll_ready(cx)).await)
            } else {
                Event::Incoming(incoming.recv().await.ok())
            }
        }
        .or(async {
            let _ = closing.recv().await;
            Event::Closing
        })
        .or(async {
            async_io::Timer::after(tick).await;
            Event::Tick
        })
        .await;
        match event {
            Event::Incoming(None) | Event::Closing => break "closed by the client".to_string(),
            Event::Incoming(Some(text)) => {
                if let Err(frame) = session.on_message(Message::Text(text.into())) {
                    break format!("the session ended {}", frame.reason);
                }
            }
            Event::Ready(Err(frame)) => break format!("the session ended {}", frame.reason),
            Event::Ready(Ok(())) => {}
            Event::Tick => {
                if !session.established() && opened.elapsed() > open_timeout {
                    break format!(
                        "no session opened within open_handshake_timeout ({open_timeout:?})"
                    );
                }
                if transport.idle() > session_timeout {
                    break format!("no request within session_timeout ({session_timeout:?})");
                }
                if !outbox.is_open() {
                    break "its messages passed queue_limit_bytes".into();
                }
                if transport.inbox.len() > options.queue_limit_messages {
                    break "its messages passed queue_limit_messages".into();
                }
            }
        }
    };
    session.on_close();
    why
}
