//! Reading a WebSocket path's or transport's settings: serializers, sizes, timeouts, limits,
//! `auth` and `cookie`.

use super::super::json::{string_list, Obj};
use super::super::*;
use super::Reader;

impl Reader<'_> {
    /// A websocket path's or transport's settings; `limits` is given for transports.
    pub(in crate::config) fn websocket(
        &self,
        key: &str,
        obj: &Obj<'_, '_>,
        testee: bool,
        limits: Option<&mut Limits>,
    ) -> Result<WebSocketOptions, StartError> {
        obj.ignore("url", "the URL is only informational");
        obj.ignore("debug", "use RUST_LOG=debug");
        let mut serializers = Vec::new();
        for (i, item) in obj.array_or_empty("serializers")?.iter().enumerate() {
            match item.as_str() {
                Some(name) if SERIALIZERS.contains(&name) => {
                    serializers.push(name.to_string())
                }
                Some(other) => self.warn(format!("`{key}.serializers[{i}]`: serializer `{other}` is not offered; wssnode speaks `json`, `msgpack` and `cbor`")),
                None => return Err(self.error(&format!("{key}.serializers[{i}]"), "must be a serializer name such as `json`")),
            }
        }
        if serializers.is_empty() {
            if !obj.array_or_empty("serializers")?.is_empty() {
                return Err(self.error(
                    &format!("{key}.serializers"),
                    "names no serializer wssnode speaks, so no client could connect; list `json`, `msgpack` or `cbor`",
                ));
            }
            serializers = SERIALIZERS.iter().map(|s| s.to_string()).collect();
        }
        let max_message = if testee {
            TESTEE_MAX_MESSAGE
        } else {
            DEFAULT_MAX_MESSAGE
        };
        let mut options = WebSocketOptions {
            serializers,
            max_message_size: max_message,
            max_frame_size: max_message,
            auto_ping_interval_ms: 30_000,
            auto_ping_timeout_ms: 30_000,
            open_handshake_timeout_ms: 10_000,
            close_handshake_timeout_ms: 2_000,
            allowed_origins: vec!["*".to_string()],
            max_queued_bytes: 4 << 20,
            slow_client_timeout_ms: 10_000,
            session_limits: SessionLimits::default(),
            max_pending_logins: 1_000,
            max_pending_logins_per_client: 50,
            auth: Auth::default(),
            cookie: None,
        };
        if let Some(value) = obj.get("options") {
            let opts = self.obj(&format!("{key}.options"), value)?;
            if let Some(limits) = limits {
                self.limits(&opts, limits)?;
            }
            let size = |name: &'static str| -> Result<Option<usize>, StartError> {
                Ok(opts
                    .u64(name)?
                    .map(|n| self.message_size(&format!("{key}.options.{name}"), n)))
            };
            if let Some(n) = size("max_message_size")? {
                options.max_message_size = n;
                options.max_frame_size = options.max_frame_size.min(n);
            }
            if let Some(n) = size("max_frame_size")? {
                options.max_frame_size = n;
            }
            for (name, slot) in [
                ("auto_ping_interval", &mut options.auto_ping_interval_ms),
                ("auto_ping_timeout", &mut options.auto_ping_timeout_ms),
                (
                    "open_handshake_timeout",
                    &mut options.open_handshake_timeout_ms,
                ),
                (
                    "close_handshake_timeout",
                    &mut options.close_handshake_timeout_ms,
                ),
                ("slow_client_timeout", &mut options.slow_client_timeout_ms),
            ] {
                if let Some(n) = opts.u64(name)? {
                    *slot = n;
                }
            }
            if let Some(n) = opts.u64("max_queued_bytes")? {
                options.max_queued_bytes = usize::try_from(n).unwrap_or(usize::MAX).max(1024);
            }
            let limits = &mut options.session_limits;
            for (name, slot) in [
                ("max_subscriptions", &mut limits.max_subscriptions),
                ("max_registrations", &mut limits.max_registrations),
                ("max_calls_in_flight", &mut limits.max_calls_in_flight),
                (
                    "max_invocations_in_flight",
                    &mut limits.max_invocations_in_flight,
                ),
            ] {
                if let Some(n) = opts.u64(name)? {
                    *slot = usize::try_from(n).unwrap_or(usize::MAX);
                }
            }
            for (name, slot) in [
                ("max_pending_logins", &mut options.max_pending_logins),
                (
                    "max_pending_logins_per_client",
                    &mut options.max_pending_logins_per_client,
                ),
            ] {
                if let Some(n) = opts.count(name, "no login could ask its authenticator")? {
                    *slot = n;
                }
            }
            if let Some(list) = opts.get("allowed_origins") {
                options.allowed_origins = string_list(
                    &self.report,
                    &format!("{key}.options.allowed_origins"),
                    list,
                )?;
            }
            for name in [
                "enable_webstatus",
                "validate_utf8",
                "mask_server_frames",
                "require_masked_client_frames",
                "apply_mask",
                "auto_fragment_size",
                "fail_by_drop",
                "echo_close_codereason",
                "tcp_nodelay",
                "auto_ping_size",
                "require_websocket_subprotocol",
                "allow_null_origin",
                "show_server_version",
                "external_port",
                "enable_hixie76",
                "enable_hybi10",
                "enable_rfc6455",
                "compression",
                "utf8validateIncoming",
            ] {
                opts.ignore(
                    name,
                    "wssnode keeps its own safe behaviour here (see docs/config.md)",
                );
            }
            opts.done();
        }
        if let Some(value) = obj.get("auth") {
            options.auth = self.auth(&format!("{key}.auth"), value)?;
        } else {
            // Crossbar's default when `auth` is absent: anonymous with role `anonymous`.
            options.auth.anonymous = Some(AuthMethod {
                principals: vec![Principal {
                    authid: String::new(),
                    role: "anonymous".into(),
                    realm: None,
                    credential: Credential::None,
                }],
                authenticator: None,
            });
        }
        if let Some(value) = obj.get("cookie") {
            options.cookie = Some(self.cookie(&format!("{key}.cookie"), value)?);
        }
        Ok(options)
    }
}
