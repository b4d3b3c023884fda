//! A transport's HTTP side as a tide app: the config's paths (static, websocket, redirect,
//! json, nodeinfo) matched by longest prefix, plus the headers every response gets (HSTS on
//! TLS when asked, `X-Content-Type-Options: nosniff`) and one log line per request.
//! Implements Crossbar's "Web Services" path types that wssnode supports.

use crate::config::{PathService, TransportKind, WebSocketOptions};
use crate::http::static_files::{self, html_escape, StaticSite};
use crate::runtime::lifecycle::{ConnInfo, Lifecycle};
use crate::transport::websocket;
use crate::wamp::cookies::CookieStore;
use crate::wamp::Realms;
use std::sync::Arc;
use std::time::Instant;
use tide::{Middleware, Next, Request, Response, StatusCode};

/// What one path of a transport serves, ready to answer requests.
#[derive(Clone)]
pub enum Service {
    /// Files from a directory.
    Static(StaticSite),
    /// WAMP over WebSocket, with the path's cookie store when it tracks cookies.
    Wamp(Arc<WebSocketOptions>, Option<Arc<CookieStore>>),
    /// Echo over WebSocket (the testee transport).
    Echo(Arc<WebSocketOptions>),
    /// A redirect.
    Redirect(String),
    /// A fixed JSON body, serialized once.
    Json(String),
    /// The node's info page.
    NodeInfo,
    /// WAMP over long-poll, with its open transports.
    LongPoll(Arc<crate::transport::longpoll::LongPoll>),
    /// The HTTP bridge (publisher, caller, webhook).
    Bridge(Arc<crate::http::bridge::Bridge>),
    /// Files out of a ZIP archive.
    Archive(Arc<crate::http::archive::Archive>),
    /// The health check.
    Health,
    /// The metrics page, for these networks (empty: any).
    Metrics(Arc<Vec<crate::config::IpNet>>),
}

/// Marks a response the access log keeps at debug (health checks, which load balancers
/// send every few seconds).
#[derive(Clone, Copy)]
struct QuietLog;

/// Everything a transport's requests need, shared by its connections.
pub struct Site {
    /// Paths by URL prefix ("/" is the root).
    pub paths: Vec<(String, Service)>,
    /// `Strict-Transport-Security` max-age, sent on TLS connections when set.
    pub hsts_max_age: Option<u64>,
    /// Shutdown signal and counters.
    pub lifecycle: Lifecycle,
    /// The realms of this transport's router worker.
    pub realms: Arc<Realms>,
    /// One line per transport for the node info page.
    pub transport_lines: Arc<Vec<String>>,
    /// On a plain transport: the node's ACME clients that use HTTP-01, whose challenges it
    /// answers.
    pub acme_http_01: Arc<Vec<Arc<rustls_acme::ResolvesServerCertAcme>>>,
}

/// The tide state of a transport's app.
pub(crate) type State = Arc<Site>;

/// Builds the tide app for a transport.
pub(crate) fn app(site: Site) -> tide::Server<State> {
    let mut app = tide::with_state(Arc::new(site));
    app.with(AccessLog);
    app.with(SecurityHeaders);
    app.at("/").all(dispatch);
    app.at("*").all(dispatch);
    app
}

/// Turns a config path service into a ready service (the static directory is checked here:
/// one that cannot be served yet is a warning).
pub(crate) fn service(
    kind: TransportKind,
    path: &PathService,
    warnings: &mut Vec<String>,
) -> Result<Service, crate::config::error::StartError> {
    Ok(match path {
        PathService::Static(options) => {
            let (site, ready) = StaticSite::new(options.clone());
            if let Err(problem) = ready {
                // Crossbar starts and answers 404: a node that also serves WAMP does not
                // refuse to run over a missing web folder.
                let dir = &options.directory;
                warnings.push(format!(
                    "`{}`: cannot serve `{}` (resolved to `{}`): {problem}; the path answers 404 until it can",
                    dir.json_path,
                    dir.named,
                    dir.path.display()
                ));
            }
            Service::Static(site)
        }
        PathService::WebSocket(options) if kind == TransportKind::Testee => {
            Service::Echo(Arc::new((**options).clone()))
        }
        PathService::WebSocket(options) => {
            let cookies = match &options.cookie {
                None => None,
                Some(config) => Some(Arc::new(CookieStore::open(config.clone()).map_err(
                    |problem| {
                        crate::config::error::StartError::System(format!("cookie store: {problem}"))
                    },
                )?)),
            };
            Service::Wamp(Arc::new((**options).clone()), cookies)
        }
        PathService::Redirect(url) => Service::Redirect(url.clone()),
        PathService::Json(value) => Service::Json(value.to_string()),
        PathService::NodeInfo => Service::NodeInfo,
        PathService::LongPoll(options) => Service::LongPoll(Arc::new(
            crate::transport::longpoll::LongPoll::new((**options).clone()),
        )),
        PathService::Bridge(options) => Service::Bridge(Arc::new(
            crate::http::bridge::Bridge::new((**options).clone()),
        )),
        PathService::Archive(options) => Service::Archive(Arc::new(
            crate::http::archive::Archive::open((**options).clone())?,
        )),
        PathService::Health { .. } => Service::Health,
        PathService::Metrics { require_ip } => Service::Metrics(Arc::new(require_ip.clone())),
    })
}

/// A request's headers as Crossbar gives them to authenticators: lower-case names, each
/// with its value (several values of one name joined with `, `).
fn request_headers(req: &Request<State>) -> serde_json::Value {
    let mut headers = serde_json::Map::new();
    for (name, values) in req.iter() {
        let joined: Vec<&str> = values.iter().map(|v| v.as_str()).collect();
        headers.insert(
            name.as_str().to_ascii_lowercase(),
            serde_json::Value::String(joined.join(", ")),
        );
    }
    serde_json::Value::Object(headers)
}

/// The connection's tracked cookie (the one it sent, if we issued it; else a new one), and
/// the `Set-Cookie` header a new one needs.
fn track_cookie(
    store: Option<&Arc<CookieStore>>,
    req: &Request<State>,
) -> (Option<(Arc<CookieStore>, String)>, Option<String>) {
    let Some(store) = store else {
        return (None, None);
    };
    let sent = req
        .header("Cookie")
        .map(|values| values.as_str().to_string());
    if let Some(value) = store.known(sent.as_deref()) {
        return (Some((store.clone(), value)), None);
    }
    let value = store.issue();
    let tls = req.ext::<ConnInfo>().is_some_and(|info| info.tls);
    let header = store.set_cookie(&value, tls);
    (Some((store.clone(), value)), Some(header))
}

/// Finds the path service with the longest prefix that ends on a segment boundary.
fn route<'a>(paths: &'a [(String, Service)], url_path: &'a str) -> Option<(&'a Service, &'a str)> {
    paths
        .iter()
        .filter_map(|(prefix, service)| {
            if prefix == "/" {
                return Some((prefix.len(), service, url_path));
            }
            let rest = url_path.strip_prefix(prefix.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((prefix.len(), service, rest))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, service, rest)| (service, rest))
}

async fn dispatch(req: Request<State>) -> tide::Result {
    let site = req.state().clone();
    let url_path = req.url().path().to_string();
    if let Some(token) = url_path.strip_prefix(crate::tls::acme::HTTP_01_PREFIX) {
        if let Some(answer) = crate::tls::acme::http_01_answer(&site.acme_http_01, token) {
            log::info!(
                "acme: answered the HTTP-01 challenge from {}",
                ConnInfo::peer_of(&req)
            );
            let mut res = Response::new(StatusCode::Ok);
            res.set_body(answer);
            res.set_content_type(http_types::mime::PLAIN);
            return Ok(res);
        }
    }
    let Some((service, rest)) = route(&site.paths, &url_path) else {
        let mut res = Response::new(StatusCode::NotFound);
        res.set_body("Not Found\n");
        return Ok(res);
    };
    Ok(match service {
        Service::Static(static_site) => static_files::serve(static_site, rest, &req).await,
        Service::LongPoll(longpoll) => {
            let (longpoll, rest) = (longpoll.clone(), rest.to_string());
            longpoll.serve(site.realms.clone(), &rest, req).await
        }
        Service::Archive(archive) => {
            let archive = archive.clone();
            archive.serve(rest, &req).await
        }
        Service::Bridge(bridge) => {
            let bridge = bridge.clone();
            bridge.serve(site.realms.clone(), req).await
        }
        Service::Wamp(options, cookies) => {
            let protocols = crate::wamp::subprotocols(&options.serializers);
            match websocket::check_handshake(&req, options, &protocols) {
                Err(res) => *res,
                Ok(protocol) => {
                    let realms = site.realms.clone();
                    let serializer = protocol.unwrap_or("wamp.2.json");
                    let options_for_session = options.clone();
                    let (cookie, set_cookie) = track_cookie(cookies.as_ref(), &req);
                    let headers = request_headers(&req);
                    let mut res = websocket::accept(
                        &req,
                        protocol,
                        options.clone(),
                        site.lifecycle.clone(),
                        move |info, out| {
                            Box::new(crate::wamp::session::WampSession::new(
                                realms,
                                options_for_session,
                                serializer,
                                info,
                                out,
                                cookie,
                                headers,
                            ))
                        },
                    )
                    .await;
                    if let Some(header) = set_cookie {
                        res.insert_header("Set-Cookie", header);
                    }
                    res
                }
            }
        }
        Service::Echo(options) => match websocket::check_handshake(&req, options, &[]) {
            Err(res) => *res,
            Ok(_) => {
                websocket::accept(
                    &req,
                    None,
                    options.clone(),
                    site.lifecycle.clone(),
                    |_, out| Box::new(websocket::Echo(out)),
                )
                .await
            }
        },
        Service::Redirect(url) => {
            let mut res = Response::new(StatusCode::Found);
            res.insert_header("Location", url.as_str());
            res
        }
        Service::Json(body) => {
            let mut res = Response::new(StatusCode::Ok);
            res.set_body(body.as_str());
            res.set_content_type(http_types::mime::JSON);
            res
        }
        Service::NodeInfo => node_info(&site),
        Service::Health => health(&site),
        Service::Metrics(allowed) => metrics_page(allowed, &req),
    })
}

/// 200 while the node serves, 503 while it drains before shutdown; any method (HAProxy's
/// default probe is `OPTIONS / HTTP/1.0`, Kubernetes' a GET).
fn health(site: &Site) -> Response {
    let (status, state) = if site.lifecycle.is_draining() {
        (StatusCode::ServiceUnavailable, "draining")
    } else {
        (StatusCode::Ok, "ok")
    };
    let mut res = Response::new(status);
    res.set_body(
        serde_json::json!({"status": state, "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": site.lifecycle.uptime_secs()})
        .to_string(),
    );
    res.set_content_type(http_types::mime::JSON);
    res.insert_header("Cache-Control", "no-store");
    res.insert_ext(QuietLog);
    res
}

/// The OpenMetrics text, for a client in `allowed` (any, when empty); 403 otherwise.
fn metrics_page(allowed: &[crate::config::IpNet], req: &Request<State>) -> Response {
    let admitted = allowed.is_empty()
        || req
            .ext::<ConnInfo>()
            .is_some_and(|i| i.admitted_by(allowed));
    if !admitted {
        let mut res = Response::new(StatusCode::Forbidden);
        res.set_body("Forbidden: this client is not in the metrics path's require_ip\n");
        return res;
    }
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(crate::runtime::metrics::metrics().render());
    res.insert_header("Content-Type", crate::runtime::metrics::CONTENT_TYPE);
    res.insert_header("Cache-Control", "no-store");
    res.insert_ext(QuietLog);
    res
}

fn node_info(site: &Site) -> Response {
    let uptime = site.lifecycle.uptime_secs();
    let mut html = format!(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>wssnode</title>\n<h1>wssnode {}</h1>\n<p>Up {}h {}m {}s; {} WebSocket connection(s) open.</p>\n<h2>Transports</h2>\n<ul>\n",
        env!("CARGO_PKG_VERSION"),
        uptime / 3600,
        uptime / 60 % 60,
        uptime % 60,
        site.lifecycle.open_websockets()
    );
    for line in site.transport_lines.iter() {
        html.push_str(&format!("<li>{}</li>\n", html_escape(line)));
    }
    html.push_str("</ul>\n");
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(html);
    res.set_content_type(http_types::mime::HTML);
    res
}

/// Logs one line per request: method, path, status, time taken, peer (tide's
/// `LogMiddleware` is the model; ours is one line and skips the work when not logged).
struct AccessLog;

#[tide::utils::async_trait]
impl Middleware<State> for AccessLog {
    async fn handle(&self, req: Request<State>, next: Next<'_, State>) -> tide::Result {
        // The request line is kept only when it will be logged: formatting it costs more than
        // serving a small file's headers.
        if !log::log_enabled!(log::Level::Info) {
            let res = next.run(req).await;
            crate::runtime::metrics::metrics().http_answered(res.status().into());
            return Ok(res);
        }
        let started = Instant::now();
        let (method, path, peer) = (
            req.method(),
            req.url().path().to_string(),
            ConnInfo::peer_of(&req),
        );
        let res = next.run(req).await;
        crate::runtime::metrics::metrics().http_answered(res.status().into());
        let level = if res.ext::<QuietLog>().is_some() {
            log::Level::Debug
        } else {
            log::Level::Info
        };
        log::log!(
            level,
            "{method} {path} {} {}µs {peer}",
            u16::from(res.status()),
            started.elapsed().as_micros()
        );
        Ok(res)
    }
}

/// Adds the security headers to every response: `nosniff`, and HSTS on TLS transports
/// that ask for it.
struct SecurityHeaders;

#[tide::utils::async_trait]
impl Middleware<State> for SecurityHeaders {
    async fn handle(&self, req: Request<State>, next: Next<'_, State>) -> tide::Result {
        let tls = req.ext::<ConnInfo>().is_some_and(|info| info.tls);
        let hsts = req.state().hsts_max_age;
        let mut res = next.run(req).await;
        res.insert_header("X-Content-Type-Options", "nosniff");
        if let (true, Some(max_age)) = (tls, hsts) {
            res.insert_header(
                "Strict-Transport-Security",
                format!("max-age={max_age}; includeSubDomains"),
            );
        }
        Ok(res)
    }
}
