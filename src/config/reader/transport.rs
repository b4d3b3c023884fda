//! Reading a transport: its type, endpoint (TCP or Unix), limits and, for `universal`, its
//! parts.

use super::super::json::{quote_key, Obj};
use super::super::texts::unsupported_transport;
use super::super::*;
use super::web::url_path;
use super::Reader;

impl Reader<'_> {
    pub(in crate::config) fn transport(
        &self,
        key: &str,
        value: &Value,
        force: Option<TransportKind>,
    ) -> Result<Option<Transport>, StartError> {
        let transport = self.obj(key, value)?;
        let kind = match (force, transport.required_str("type")?) {
            (Some(kind), _) => kind,
            (None, "web") => TransportKind::Web,
            (None, "websocket") => TransportKind::WebSocket,
            (None, "websocket.testee") => TransportKind::Testee,
            (None, "rawsocket") => TransportKind::RawSocket,
            (None, "universal") => TransportKind::Universal,
            (None, other) => {
                self.refuse(&format!("{key}.type"), unsupported_transport(other));
                return Ok(None);
            }
        };
        let Some(endpoint) =
            self.endpoint(&format!("{key}.endpoint"), transport.required("endpoint")?)?
        else {
            return Ok(None);
        };
        transport.allow("id");
        transport.ignore("debug", "use RUST_LOG=debug");
        let mut hsts_max_age = None;
        let mut limits = Limits::default();
        let mut rawsocket = None;
        let paths = match kind {
            TransportKind::Web => {
                if let Some(options) = transport.get("options") {
                    hsts_max_age =
                        self.web_options(&format!("{key}.options"), options, &mut limits)?;
                }
                let paths_value = transport.required("paths")?;
                let paths = self.obj(&format!("{key}.paths"), paths_value)?;
                // `auth` on the transport is the default of its websocket paths.
                let default_auth = match transport.get("auth") {
                    Some(value) => Some(self.auth(&format!("{key}.auth"), value)?),
                    None => None,
                };
                let mut out = Vec::new();
                let paths_key = format!("{key}.paths");
                self.web_paths(&paths_key, &paths, "/", default_auth.as_ref(), &mut out)?;
                if paths.map.is_empty() {
                    return Err(
                        self.error(&format!("{key}.paths"), "is empty; add at least `\"/\"`")
                    );
                }
                out
            }
            TransportKind::WebSocket | TransportKind::Testee => {
                let testee = kind == TransportKind::Testee;
                let options = self.websocket(key, &transport, testee, Some(&mut limits))?;
                vec![("/".to_string(), PathService::WebSocket(Box::new(options)))]
            }
            TransportKind::Universal => self.universal(
                key,
                &transport,
                &mut limits,
                &mut hsts_max_age,
                &mut rawsocket,
            )?,
            TransportKind::RawSocket => {
                let mut options = self.websocket(key, &transport, false, Some(&mut limits))?;
                // Crossbar's RawSocket keys beside `options`: `max_message_size`, and the
                // older single `serializer`.
                if let Some(n) = transport.u64("max_message_size")? {
                    options.max_message_size =
                        self.message_size(&format!("{key}.max_message_size"), n);
                }
                if let Some(name) = transport.str("serializer")? {
                    if !SERIALIZERS.contains(&name) {
                        return Err(self.error(
                            &format!("{key}.serializer"),
                            format!("must be `json`, `msgpack` or `cbor`, not `{name}`"),
                        ));
                    }
                    options.serializers = vec![name.to_string()];
                }
                vec![("/".to_string(), PathService::WebSocket(Box::new(options)))]
            }
        };
        transport.done_except(&["paths", "options", "auth", "serializers", "url"]);
        if endpoint.tls.is_none() {
            self.warn_tls_auth_without_tls(key, &paths, rawsocket.as_deref());
        }
        Ok(Some(Transport {
            config_file: self.report.file.to_path_buf(),
            json_path: key.to_string(),
            kind,
            endpoint,
            paths,
            hsts_max_age,
            limits,
            rawsocket,
        }))
    }

    /// A message or frame size; Crossbar's 0 means no limit, which wssnode does not have:
    /// the largest it allows (16 MiB, RawSocket's own) is taken instead, and said.
    pub(in crate::config) fn message_size(&self, key: &str, n: u64) -> usize {
        const LARGEST: usize = 16 << 20;
        if n == 0 {
            self.warn(format!("`{key}` is 0, no limit in Crossbar; wssnode keeps every message bounded and takes {LARGEST} bytes (16 MiB)"));
            return LARGEST;
        }
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// `tls` authentication needs a client certificate, which only a TLS endpoint asks for.
    pub(in crate::config) fn warn_tls_auth_without_tls(
        &self,
        key: &str,
        paths: &[(String, PathService)],
        rawsocket: Option<&WebSocketOptions>,
    ) {
        let sessions = paths.iter().filter_map(|(path, service)| match service {
            PathService::WebSocket(o) => Some((path.as_str(), &**o)),
            PathService::LongPoll(o) => Some((path.as_str(), &o.session)),
            _ => None,
        });
        for (path, options) in sessions.chain(rawsocket.map(|o| ("rawsocket", o))) {
            if options.auth.tls.is_some() {
                self.warn(format!("`{key}`: path `{path}` accepts `tls` authentication, but the endpoint has no `tls`, so no client certificate ever comes: nobody can log in with it"));
            }
        }
    }

    /// Crossbar's `universal` transport: `web.paths` and `websocket` paths served over HTTP
    /// on the port, `rawsocket` for clients whose first byte is RawSocket's.
    pub(in crate::config) fn universal(
        &self,
        key: &str,
        transport: &Obj<'_, '_>,
        limits: &mut Limits,
        hsts_max_age: &mut Option<u64>,
        rawsocket: &mut Option<Box<WebSocketOptions>>,
    ) -> Result<Vec<(String, PathService)>, StartError> {
        if transport.get("mqtt").is_some() {
            self.refuse(&format!("{key}.mqtt"), unsupported_transport("mqtt"));
        }
        let mut out = Vec::new();
        if let Some(web) = transport.get("web") {
            let web_key = format!("{key}.web");
            let web = self.obj(&web_key, web)?;
            if let Some(options) = web.get("options") {
                *hsts_max_age = self.web_options(&format!("{web_key}.options"), options, limits)?;
            }
            if let Some(paths) = web.get("paths") {
                let paths_key = format!("{web_key}.paths");
                let paths = self.obj(&paths_key, paths)?;
                self.web_paths(&paths_key, &paths, "/", None, &mut out)?;
            }
            web.done();
        }
        if let Some(websocket) = transport.get("websocket") {
            let ws_key = format!("{key}.websocket");
            let paths = self.obj(&ws_key, websocket)?;
            for (name, value) in paths.map {
                let path_key = format!("{ws_key}.{}", quote_key(name));
                // Crossbar's entries carry `"type": "websocket"`, or nothing.
                let options = self.obj(&path_key, value)?;
                options.allow("type");
                let ws = self.websocket(&path_key, &options, false, None)?;
                options.done_except(&["serializers", "options", "auth", "cookie", "url", "debug"]);
                out.push((url_path(name), PathService::WebSocket(Box::new(ws))));
            }
        }
        if let Some(raw) = transport.get("rawsocket") {
            let raw_key = format!("{key}.rawsocket");
            let raw = self.obj(&raw_key, raw)?;
            let mut options = self.websocket(&raw_key, &raw, false, None)?;
            if let Some(n) = raw.u64("max_message_size")? {
                options.max_message_size =
                    self.message_size(&format!("{raw_key}.max_message_size"), n);
            }
            raw.done_except(&["serializers", "options", "auth", "url", "debug"]);
            *rawsocket = Some(Box::new(options));
        }
        Ok(out)
    }

    pub(in crate::config) fn endpoint(
        &self,
        key: &str,
        value: &Value,
    ) -> Result<Option<Endpoint>, StartError> {
        let endpoint = self.obj(key, value)?;
        match endpoint.required_str("type")? {
            "tcp" => {}
            "unix" => return self.unix_endpoint(key, &endpoint).map(Some),
            other => {
                self.refuse(
                    &format!("{key}.type"),
                    format!("endpoint type `{other}` is not supported; use `tcp`"),
                );
                return Ok(None);
            }
        }
        let port = endpoint
            .u64("port")?
            .ok_or_else(|| endpoint.missing("port", "give the TCP port to listen on"))?;
        let port = u16::try_from(port).map_err(|_| {
            self.error(
                &format!("{key}.port"),
                format!("{port} is not a TCP port (0–65535)"),
            )
        })?;
        let interface = endpoint.str("interface")?.map(str::to_string);
        if let Some(interface) = &interface {
            if interface.parse::<std::net::IpAddr>().is_err() {
                return Err(self.error(
                    &format!("{key}.interface"),
                    format!("`{}` is not an IP address; give the address of an interface to listen on, such as `127.0.0.1` or `::1` (leave it out for all)", interface.escape_debug()),
                ));
            }
        }
        if let Some(version) = endpoint.u64("version")? {
            if version != 4 && version != 6 {
                return Err(self.error(&format!("{key}.version"), "must be 4 or 6"));
            }
        }
        endpoint.ignore("backlog", "the system's default listen backlog is used");
        let shared = endpoint.bool("shared")?.unwrap_or(false);
        endpoint.ignore("user_timeout", "TCP_USER_TIMEOUT is not set");
        let tls = match endpoint.get("tls") {
            Some(value) => Some(self.tls(&format!("{key}.tls"), value)?),
            None => None,
        };
        endpoint.done();
        Ok(Some(Endpoint {
            port,
            interface,
            tls,
            shared,
            unix: None,
        }))
    }

    pub(in crate::config) fn unix_endpoint(
        &self,
        key: &str,
        endpoint: &Obj<'_, '_>,
    ) -> Result<Endpoint, StartError> {
        let named = endpoint.required_str("path")?;
        let path = self.resolve(&format!("{key}.path"), named);
        let mode = match endpoint.str("mode")? {
            None => 0o666,
            Some(text) => u32::from_str_radix(text, 8)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| {
                    self.error(
                        &format!("{key}.mode"),
                        format!("must be permissions in octal such as \"0660\", not `{text}`"),
                    )
                })?,
        };
        endpoint.ignore("backlog", "the system's default listen backlog is used");
        let tls = match endpoint.get("tls") {
            Some(value) => Some(self.tls(&format!("{key}.tls"), value)?),
            None => None,
        };
        endpoint.done();
        Ok(Endpoint {
            port: 0,
            interface: None,
            tls,
            shared: false,
            unix: Some(UnixEndpoint { path, mode }),
        })
    }

    /// wssnode's own transport limits, in a transport's `options`.
    pub(in crate::config) fn limits(
        &self,
        options: &Obj<'_, '_>,
        limits: &mut Limits,
    ) -> Result<(), StartError> {
        let millis = |name: &'static str| -> Result<Option<Duration>, StartError> {
            Ok(options
                .u64(name)?
                .map(|ms| Duration::from_millis(ms.max(1))))
        };
        if let Some(d) = millis("tls_handshake_timeout")? {
            limits.tls_handshake = d;
        }
        if let Some(d) = millis("request_head_timeout")? {
            limits.request_head = d;
        }
        if let Some(d) = millis("keepalive_timeout")? {
            limits.keepalive = d;
        }
        if let Some(d) = millis("request_body_timeout")? {
            limits.request_body = d;
        }
        if let Some(d) = millis("send_timeout")? {
            limits.send = d;
        }
        if let Some(n) = options.count("max_connections", "every connection would be refused")? {
            limits.max_connections = n;
        }
        if let Some(n) = options.u64("max_request_head")? {
            let max = MAX_HEAD;
            if n as usize > max {
                self.warn(format!("`max_request_head` {n} is above the HTTP layer's fixed {max} bytes; {max} applies"));
            }
            limits.max_request_head = (n as usize).clamp(256, max);
        }
        Ok(())
    }
}
