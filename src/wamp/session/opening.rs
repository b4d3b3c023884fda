//! Opening a session: HELLO, the authentication method's steps (a CHALLENGE, an
//! authenticator's answer, AUTHENTICATE), and WELCOME or ABORT.

use super::*;

impl WampSession {
    /// Crossbar's transport details, for authenticators and authorizers.
    pub(super) fn transport_details(&self) -> Value {
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

    pub(super) fn hello_context<'h>(
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

    pub(super) fn hello(
        &mut self,
        realm_name: String,
        details: Map<String, Value>,
    ) -> Result<(), CloseFrame> {
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
    pub(super) fn step(&mut self, step: Step) -> Result<(), CloseFrame> {
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

    pub(super) fn refuse(&mut self, refusal: Refusal) -> Result<(), CloseFrame> {
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
    pub(super) fn ask_authenticator(&mut self, ask: Ask) -> Result<(), CloseFrame> {
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

    pub(super) fn authenticated(
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

    pub(super) fn authenticate(&mut self, signature: &str) -> Result<(), CloseFrame> {
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

    pub(super) fn welcome(&mut self, identity: Identity) -> Result<(), CloseFrame> {
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
    pub(super) fn authextra(&self, identity: &Identity) -> Value {
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
    pub(super) fn remember_in_cookie(&self, identity: &Identity, realm: &str) {
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
}

/// Logins waiting for a dynamic authenticator, node-wide, per client.
fn pending_logins() -> &'static Arc<Shares> {
    static PENDING: std::sync::OnceLock<Arc<Shares>> = std::sync::OnceLock::new();
    PENDING.get_or_init(Shares::new)
}
