//! Reading a `web` transport's `options` and `paths`: each path's service (static files,
//! long-poll, redirects, JSON, health and metrics pages; the bridge and archives have files
//! of their own).

use super::super::json::{kind, quote_key, Obj};
use super::super::texts::unsupported_path;
use super::super::*;
use super::Reader;

impl Reader<'_> {
    pub(in crate::config) fn web_options(
        &self,
        key: &str,
        value: &Value,
        limits: &mut Limits,
    ) -> Result<Option<u64>, StartError> {
        let options = self.obj(key, value)?;
        self.limits(&options, limits)?;
        let hsts = options.bool("hsts")?.unwrap_or(false);
        // Crossbar's default max-age: one year.
        let max_age = options.u64("hsts_max_age")?.unwrap_or(31_536_000);
        options.ignore("access_log", "every request is logged at level info");
        options.ignore("display_tracebacks", "wssnode never sends tracebacks");
        options.ignore("hixie76_aware", "Hixie-76 WebSocket is not supported");
        options.done();
        Ok(hsts.then_some(max_age))
    }

    /// The services of a `paths` object mounted at `prefix`; a `path`-type entry (Crossbar's
    /// nested paths) adds its own `paths` under its name. A websocket path without its own
    /// `auth` takes `default_auth` (the transport's).
    pub(in crate::config) fn web_paths(
        &self,
        key: &str,
        paths: &Obj<'_, '_>,
        prefix: &str,
        default_auth: Option<&Auth>,
        out: &mut Vec<(String, PathService)>,
    ) -> Result<(), StartError> {
        for (name, value) in paths.map {
            let path_key = format!("{key}.{}", quote_key(name));
            let url = match (prefix, url_path(name).as_str()) {
                ("/", own) => own.to_string(),
                (prefix, "/") => prefix.to_string(),
                (prefix, own) => format!("{prefix}{own}"),
            };
            if value.get("type").and_then(Value::as_str) == Some("path") {
                let nested = self.obj(&path_key, value)?;
                nested.allow("type");
                nested.allow("id");
                let inner_key = format!("{path_key}.paths");
                let inner = self.obj(&inner_key, nested.required("paths")?)?;
                nested.done();
                self.web_paths(&inner_key, &inner, &url, default_auth, out)?;
                continue;
            }
            if out.iter().any(|(mounted, _)| *mounted == url) {
                return Err(self.error(
                    &path_key,
                    format!("`{url}` is already mounted by another path; give this one its own"),
                ));
            }
            match self.path_service(&path_key, value)? {
                Some(PathService::WebSocket(mut ws)) if value.get("auth").is_none() => {
                    if let Some(auth) = default_auth {
                        ws.auth = auth.clone();
                    }
                    out.push((url, PathService::WebSocket(ws)));
                }
                Some(service) => out.push((url, service)),
                None => {}
            }
        }
        Ok(())
    }

    pub(in crate::config) fn path_service(
        &self,
        key: &str,
        value: &Value,
    ) -> Result<Option<PathService>, StartError> {
        let path = self.obj(key, value)?;
        let service = match path.required_str("type")? {
            "static" => match self.static_path(key, &path)? {
                Some(options) => PathService::Static(options),
                None => return Ok(None),
            },
            "websocket" => {
                PathService::WebSocket(Box::new(self.websocket(key, &path, false, None)?))
            }
            "redirect" => PathService::Redirect(path.required_str("url")?.to_string()),
            "json" => {
                if let Some(options) = path.get("options") {
                    let options = self.obj(&format!("{key}.options"), options)?;
                    options.ignore("prettify", "JSON is sent compact");
                    options.ignore("allow_cross_origin", "no CORS headers are sent");
                    options.ignore("discourage_caching", "no caching headers are sent for JSON");
                    options.done();
                }
                PathService::Json(path.required("value")?.clone())
            }
            "nodeinfo" => PathService::NodeInfo,
            "longpoll" => PathService::LongPoll(Box::new(self.longpoll(key, &path)?)),
            "archive" => PathService::Archive(Box::new(self.archive(key, &path)?)),
            "health" => PathService::Health {
                drain_s: path.u64("drain")?.unwrap_or(0),
            },
            "metrics" => {
                let empty = Value::Object(Default::default());
                let options_key = format!("{key}.options");
                let options = self.obj(&options_key, path.get("options").unwrap_or(&empty))?;
                let require_ip = self.ip_networks(&options_key, &options)?;
                options.done();
                PathService::Metrics { require_ip }
            }
            kind @ ("publisher" | "caller" | "webhook") => {
                PathService::Bridge(Box::new(self.bridge(key, kind, &path)?))
            }
            other => {
                self.refuse(&format!("{key}.type"), unsupported_path(other));
                return Ok(None);
            }
        };
        path.done_except(&["options"]);
        Ok(Some(service))
    }

    pub(in crate::config) fn static_path(
        &self,
        key: &str,
        path: &Obj<'_, '_>,
    ) -> Result<Option<StaticOptions>, StartError> {
        if path.get("package").is_some() {
            self.refuse(&format!("{key}.package"), "serving files from a Python package is not possible; copy them into a folder and name it in `directory`");
            return Ok(None);
        }
        path.ignore("resource", "Python package resources are not served");
        let named = path.required_str("directory")?;
        let mut options = StaticOptions {
            directory: self.resolve(&format!("{key}.directory"), named),
            directory_listing: false,
            // Crossbar's default: 12 hours.
            cache_timeout: Some(43_200),
            mime_types: Vec::new(),
            default_file: None,
        };
        if let Some(value) = path.get("options") {
            let opts = self.obj(&format!("{key}.options"), value)?;
            options.directory_listing = opts.bool("enable_directory_listing")?.unwrap_or(false);
            options.default_file = opts.str("default_file")?.map(str::to_string);
            match opts.get("cache_timeout") {
                None => {}
                Some(Value::Null) => options.cache_timeout = None,
                Some(_) => options.cache_timeout = opts.u64("cache_timeout")?,
            }
            if let Some(value) = opts.get("mime_types") {
                let types = self.obj(&format!("{key}.options.mime_types"), value)?;
                for (ext, media) in types.map {
                    match media {
                        Value::String(media) => options.mime_types.push((
                            ext.trim_start_matches('.').to_ascii_lowercase(),
                            media.clone(),
                        )),
                        other => {
                            return Err(self.error(
                                &format!("{key}.options.mime_types.{}", quote_key(ext)),
                                format!("must be a media type string, not {}", kind(other)),
                            ))
                        }
                    }
                }
            }
            opts.done();
        }
        Ok(Some(options))
    }

    /// A `longpoll` path: Crossbar's `options` (timeouts in seconds) and `auth`.
    pub(in crate::config) fn longpoll(
        &self,
        key: &str,
        path: &Obj<'_, '_>,
    ) -> Result<LongPollOptions, StartError> {
        let empty = Value::Object(Default::default());
        let mut session = self.websocket(key, &self.obj(key, &empty)?, false, None)?;
        session.serializers = vec!["json".to_string()];
        if let Some(value) = path.get("auth") {
            session.auth = self.auth(&format!("{key}.auth"), value)?;
        }
        let mut out = LongPollOptions {
            session,
            request_timeout_ms: 10_000,
            session_timeout_ms: 30_000,
            queue_limit_bytes: 128 * 1024,
            queue_limit_messages: 100,
            max_transports: 10_000,
            max_transports_per_client: 100,
            open_timeout_ms: 10_000,
        };
        if let Some(options) = path.get("options") {
            let o = self.obj(&format!("{key}.options"), options)?;
            if let Some(s) = o.u64("request_timeout")? {
                out.request_timeout_ms = s.saturating_mul(1000).max(1);
            }
            if let Some(s) = o.u64("session_timeout")? {
                out.session_timeout_ms = s.saturating_mul(1000).max(1);
            }
            if let Some(n) = o.u64("queue_limit_bytes")? {
                out.queue_limit_bytes = usize::try_from(n).unwrap_or(usize::MAX).max(1024);
            }
            if let Some(n) = o.u64("queue_limit_messages")? {
                out.queue_limit_messages = usize::try_from(n).unwrap_or(usize::MAX).max(1);
            }
            let never = "no transport could ever open";
            if let Some(n) = o.count("max_transports", never)? {
                out.max_transports = n;
            }
            if let Some(n) = o.count("max_transports_per_client", never)? {
                out.max_transports_per_client = n;
            }
            if let Some(ms) = o.u64("open_handshake_timeout")? {
                out.open_timeout_ms = ms.max(1);
            }
            o.ignore("debug", "use RUST_LOG=debug");
            o.ignore("debug_transport_id", "transport IDs are always random");
            o.done();
        }
        if out.session_timeout_ms < out.request_timeout_ms {
            self.warn(format!(
                "`{key}.options.session_timeout` ({} s) is shorter than `request_timeout` ({} s): a transport would close while its client waits in `receive`; make session_timeout the longer",
                out.session_timeout_ms / 1000,
                out.request_timeout_ms / 1000
            ));
        }
        Ok(out)
    }
}

/// A Crossbar path key as a URL path: `"/"` stays, `"ws"` becomes `"/ws"`.
pub(in crate::config) fn url_path(name: &str) -> String {
    let trimmed = name.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        format!("/{trimmed}")
    }
}
