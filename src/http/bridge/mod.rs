//! Crossbar's HTTP bridge: `publisher`, `caller` and `webhook` paths turn HTTP requests into
//! publications and calls of a session the node holds in the path's realm, with the path's
//! role (so permissions, limits and the meta API apply to it as to any session).
//!
//! A request goes through the checks that need no router first (method, TLS, client IP,
//! content type, size, GitHub signature, signed-request fields, signature, replay, UTF-8,
//! JSON), each refusal with Crossbar's status, a JSON body `{"error", "args", "kwargs"}`
//! saying what was wrong, and a log line; only a request that passed them reaches the router.
//! Two things Crossbar does not do: signatures are compared in constant time, and a signed
//! request seen before (same key, `seq` and `nonce` within the time window) is refused.

mod body;
mod signed;
use body::{check_content_type, read_limited};
pub use body::{read_body, Action, PayloadParts};
pub use signed::{github_signature_ok, signature, Signed};
use signed::{unix_now, Remembered};

use crate::config::{BridgeKind, BridgeOptions};
use crate::lock;
use crate::runtime::lifecycle::ConnInfo;
use crate::wamp::auth::Identity;
use crate::wamp::message::Payload;
use crate::wamp::service::{CallError, Reply, ServiceSession};
use crate::wamp::Realms;
use aws_lc_rs::{constant_time, hmac};
use futures_lite::AsyncReadExt;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tide::{Request, Response, StatusCode};

/// Signed requests remembered against replay, at most: past it, signed requests are refused
/// until the oldest leave their window.
const REMEMBERED_MAX: usize = 100_000;

/// A request refused before it reached the router.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// What was wrong, for the body and the log.
    pub text: String,
}

fn refuse(status: u16, text: impl Into<String>) -> Refusal {
    Refusal {
        status,
        text: text.into(),
    }
}

/// A bridge path, ready to serve requests.
pub struct Bridge {
    options: BridgeOptions,
    session: async_lock::Mutex<Option<Arc<ServiceSession>>>,
    remembered: Mutex<Remembered>,
    /// Calls in flight, per client (`max_calls_per_client`).
    calls: Arc<crate::runtime::limits::Shares>,
}

impl Bridge {
    /// A bridge path with these options; its session joins at the first request.
    pub fn new(options: BridgeOptions) -> Bridge {
        Bridge {
            options,
            session: async_lock::Mutex::new(None),
            remembered: Mutex::default(),
            calls: crate::runtime::limits::Shares::new(),
        }
    }

    /// Answers one request.
    pub async fn serve<S>(&self, realms: Arc<Realms>, req: Request<S>) -> Response {
        let origin = req.header("Origin").map(|v| v.as_str().to_string());
        let peer = ConnInfo::peer_of(&req);
        let mut res = match self.handle(realms, req).await {
            Ok(res) => res,
            Err(refusal) => {
                log::info!(
                    "bridge {}: refused a request from {peer}: {} {}",
                    self.options.json_path,
                    refusal.status,
                    refusal.text
                );
                let mut res = Response::new(refusal.status);
                res.set_body(json!({"error": refusal.text, "args": [], "kwargs": {}}).to_string());
                res
            }
        };
        // Crossbar's headers on every answer: any origin may call (the bridge has no
        // cookies to protect), nothing is cached.
        let origin = origin.filter(|o| o != "null").unwrap_or_else(|| "*".into());
        res.insert_header("Access-Control-Allow-Origin", origin);
        res.insert_header("Access-Control-Allow-Credentials", "true");
        res.insert_header(
            "Cache-Control",
            "no-store,no-cache,must-revalidate,max-age=0",
        );
        if res.content_type().is_none() {
            res.insert_header("Content-Type", "application/json; charset=UTF-8");
        }
        res
    }

    async fn handle<S>(
        &self,
        realms: Arc<Realms>,
        mut req: Request<S>,
    ) -> Result<Response, Refusal> {
        let o = &self.options;
        match req.method() {
            http_types::Method::Post | http_types::Method::Put => {}
            http_types::Method::Options => {
                let mut res = Response::new(StatusCode::Ok);
                res.insert_header("Allow", "POST,PUT,OPTIONS");
                res.insert_header("Access-Control-Allow-Methods", "POST,PUT,OPTIONS");
                if let Some(asked) = req.header("Access-Control-Request-Headers") {
                    res.insert_header("Access-Control-Allow-Headers", asked.as_str());
                }
                return Ok(res);
            }
            other => {
                return Err(refuse(
                    405,
                    format!(
                    "Method not accepted by the REST bridge. ({other} not allowed, only POST, PUT)"
                ),
                ))
            }
        }
        // Who may ask at all, before anything is read.
        let info = req.ext::<ConnInfo>().cloned();
        if o.require_tls && !info.as_ref().is_some_and(|i| i.tls) {
            return Err(refuse(
                400,
                "Request denied: this path takes only HTTPS (require_tls).",
            ));
        }
        if !o.require_ip.is_empty() && !info.as_ref().is_some_and(|i| i.admitted_by(&o.require_ip))
        {
            return Err(refuse(400, "Request denied based on IP address."));
        }
        let webhook = matches!(o.kind, BridgeKind::Webhook { .. });
        check_content_type(req.header("Content-Type").map(|v| v.as_str()), !webhook)?;
        let body = read_limited(&mut req, o.post_body_limit).await?;
        if let BridgeKind::Webhook {
            github_secret: Some(secret),
            ..
        } = &o.kind
        {
            let header = |name: &str| req.header(name).map(|v| v.as_str().to_string());
            let (sha256, sha1) = (header("X-Hub-Signature-256"), header("X-Hub-Signature"));
            if !github_signature_ok(secret, sha256.as_deref(), sha1.as_deref(), &body) {
                return Err(refuse(401, "GitHub signature (X-Hub-Signature-256 or X-Hub-Signature) missing or not valid."));
            }
        }
        {
            let query: Vec<(String, String)> = req
                .url()
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let field = |name: &str| {
                query
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let signed = Signed {
                key: field("key"),
                timestamp: field("timestamp"),
                seq: field("seq"),
                nonce: field("nonce"),
                signature: field("signature"),
            };
            self.check_signed(&signed, &body, unix_now())?;
        }
        if webhook {
            // Refused as every bridge refusal is, with a JSON reason.
            let body = String::from_utf8(body)
                .map_err(|_| refuse(400, "Non-decodable request body, was not UTF-8."))?;
            return Ok(self.webhook(realms, &req, body).await);
        }
        let action = read_body(matches!(o.kind, BridgeKind::Caller), &body)?;
        // A call holds the bridge session's share of its realm until answered: one client
        // gets a share of it, so a callee that never answers one client's calls does not
        // lock the path for everyone else. The shared cap is the session's
        // `max_calls_in_flight`, which the dealer holds it to.
        let _share = match (&action, &info) {
            (Action::Call { .. }, Some(info)) => {
                let limit = o.max_calls_per_client;
                Some(self.calls.take(info.peer.client(), limit, usize::MAX).map_err(|_| {
                    refuse(429, format!("Too many calls in flight: this client has {limit}, the most this path allows (its option `max_calls_per_client`)."))
                })?)
            }
            _ => None,
        };
        Ok(self.act(realms, action).await)
    }

    /// The path's session in its realm, joined when first needed (and again if it went).
    async fn session(&self, realms: &Realms) -> Option<Arc<ServiceSession>> {
        let mut held = self.session.lock().await;
        if let Some(session) = held.as_ref().filter(|s| s.is_alive()) {
            return Some(session.clone());
        }
        let realm = realms.get(&self.options.realm)?;
        let role = realm.role(&self.options.role)?;
        let identity = Identity {
            authid: format!("bridge:{}", self.options.json_path),
            authrole: self.options.role.clone(),
            authmethod: "bridge",
            authprovider: "static",
            authextra: None,
        };
        let session = Arc::new(ServiceSession::join_as(
            realm,
            identity,
            role,
            Default::default(),
        ));
        *held = Some(session.clone());
        Some(session)
    }

    /// Publishes or calls, and answers as Crossbar does: the result, or a WAMP error with
    /// status 200 (PHP and shell clients read the body), or 500 for a failure of the bridge.
    async fn act(&self, realms: Arc<Realms>, action: Action) -> Response {
        let Some(session) = self.session(&realms).await else {
            return failure("the bridge's realm or role is gone");
        };
        let answer = match action {
            Action::Publish {
                topic,
                payload,
                options,
            } => session
                .publish(&topic, payload.into_payload(), options)
                .await
                .map(|reply| json!({"id": reply.publication})),
            Action::Call {
                procedure,
                payload,
                timeout_ms,
            } => {
                let limit = self.options.call_timeout_ms;
                let timeout = Duration::from_millis(timeout_ms.unwrap_or(limit).min(limit));
                session
                    .call_with(&procedure, payload.into_payload(), Map::new(), timeout)
                    .await
                    .map(call_result)
            }
        };
        match answer {
            Ok(body) => json_response(200, body),
            Err(CallError::Error {
                uri, args, kwargs, ..
            }) => json_response(
                200,
                json!({"error": uri, "args": args, "kwargs": kwargs.unwrap_or_default()}),
            ),
            Err(CallError::Timeout) => json_response(
                200,
                json!({"error": crate::wamp::uri::error::CANCELED, "args": ["the call timed out"], "kwargs": {}}),
            ),
            Err(CallError::Gone) => failure("the bridge's session has gone"),
        }
    }

    /// Publishes the request to the webhook's topic: 202 with `success_response`, or 500
    /// with `error_response`.
    async fn webhook<S>(&self, realms: Arc<Realms>, req: &Request<S>, body: String) -> Response {
        let BridgeKind::Webhook {
            topic,
            success_response,
            error_response,
            drop_headers,
            ..
        } = &self.options.kind
        else {
            return failure("not a webhook");
        };
        let text = |status: u16, body: &str| {
            let mut res = Response::new(status);
            res.set_body(body.to_string());
            res.insert_header("Content-Type", "text/plain; charset=UTF-8");
            res
        };
        let mut headers = Map::new();
        for (name, values) in req.iter() {
            if drop_headers.iter().any(|d| d.as_str() == name.as_str()) {
                continue;
            }
            let values: Vec<Value> = values
                .iter()
                .map(|v| Value::String(v.as_str().to_string()))
                .collect();
            headers.insert(canonical_header(name.as_str()), Value::Array(values));
        }
        let event = json!({"headers": headers, "body": body});
        let payload = Payload {
            args: Some(json!([event])),
            kwargs: None,
        };
        let published = match self.session(&realms).await {
            Some(session) => session
                .publish(topic, payload, Map::new())
                .await
                .map_err(|e| e.to_string()),
            None => Err("the bridge's realm or role is gone".to_string()),
        };
        match published {
            Ok(_) => text(202, success_response),
            Err(why) => {
                log::warn!(
                    "bridge {}: the webhook could not publish to {topic}: {why}",
                    self.options.json_path
                );
                text(500, error_response)
            }
        }
    }
}

/// A header name as Twisted (and so Crossbar's webhook) writes it: `X-Hub-Signature`.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// A call's result as Crossbar's bridge gives it (autobahn's mapping of RESULT): one value
/// or none is `{"args": [value]}`, otherwise `args` and `kwargs`, each only when not empty.
fn call_result(reply: Reply) -> Value {
    let kwargs = reply.kwargs.filter(|k| !k.is_empty());
    match (reply.args.len(), kwargs) {
        (0, None) => json!({"args": [null]}),
        (_, None) => json!({"args": reply.args}),
        (0, Some(kwargs)) => json!({"kwargs": kwargs}),
        (_, Some(kwargs)) => json!({"args": reply.args, "kwargs": kwargs}),
    }
}

fn json_response(status: u16, body: Value) -> Response {
    let mut res = Response::new(status);
    res.set_body(body.to_string());
    res.insert_header("Content-Type", "application/json; charset=UTF-8");
    res
}

/// A failure of the bridge itself (not of the call): 500, as Crossbar answers it.
fn failure(why: &str) -> Response {
    log::warn!("bridge: {why}");
    json_response(
        500,
        json!({"error": "wamp.error.runtime_error", "args": [format!("Sorry, the bridge could not serve this request: {why}.")], "kwargs": {}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_crossbars() {
        // Computed with Python: base64.urlsafe_b64encode(hmac.new(b"kkjH68GiuUZ", b"foobar" +
        // b"2011-10-14T16:59:51.123Z" + b"1" + b"2" + b'{"topic": "x"}', hashlib.sha256).digest())
        let got = signature(
            "kkjH68GiuUZ",
            "foobar",
            "2011-10-14T16:59:51.123Z",
            "1",
            "2",
            br#"{"topic": "x"}"#,
        );
        assert_eq!(got, "NoMCOfuYQYMCdXw_Hq2XwQ5faRvNdtLB-smTWNsXcgo=");
    }

    #[test]
    fn a_body_names_its_topic_or_procedure() {
        assert_eq!(
            read_body(false, br#"{"topic": "a.b", "args": [1], "options": {"acknowledge": false, "exclude_me": false}}"#),
            Ok(Action::Publish {
                topic: "a.b".into(),
                payload: PayloadParts { args: vec![json!(1)], kwargs: Map::new() },
                options: [("exclude_me".to_string(), json!(false))].into_iter().collect(),
            })
        );
        assert_eq!(read_body(true, b"{}").unwrap_err().status, 400);
        assert_eq!(read_body(true, b"[1]").unwrap_err().status, 400);
        assert_eq!(read_body(true, b"\xff").unwrap_err().status, 400);
    }

    #[test]
    fn github_signatures_are_checked_with_sha256_first() {
        let body = b"{\"zen\": \"x\"}";
        let sha256 = data_encoding::HEXLOWER
            .encode(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"s3"), body).as_ref());
        assert!(github_signature_ok(
            "s3",
            Some(&format!("sha256={sha256}")),
            None,
            body
        ));
        assert!(!github_signature_ok("s3", Some("sha256=00"), None, body));
        assert!(!github_signature_ok("s3", None, None, body));
    }
}
