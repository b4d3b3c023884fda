//! Authentication (`auth` of a WebSocket path, Crossbar's static forms: anonymous, ticket,
//! tls) and authorization (a role's `permissions`, most specific URI first).

use crate::config::{Auth, Permission, Principal, Role};
use crate::lifecycle::ConnInfo;
use crate::wamp::uri::{self, error};
use serde_json::{Map, Value};

/// Who a session is, once authenticated.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `authid`
    pub authid: String,
    /// `authrole`
    pub authrole: String,
    /// `authmethod`
    pub authmethod: &'static str,
}

/// What to answer a HELLO with.
#[derive(Debug)]
pub enum HelloOutcome {
    /// Authenticated: send WELCOME.
    Welcome(Identity),
    /// Ticket authentication: send CHALLENGE and wait for AUTHENTICATE.
    ChallengeTicket {
        /// The authid the client claimed.
        authid: String,
    },
    /// Refused: ABORT with this reason URI and message.
    Abort(&'static str, String),
}

/// Chooses and runs an authentication method for a HELLO.
pub fn hello(
    auth: &Auth,
    realm: &str,
    details: &Map<String, Value>,
    conn: &ConnInfo,
) -> HelloOutcome {
    let offered: Vec<&str> = match details.get("authmethods") {
        Some(Value::Array(methods)) => methods.iter().filter_map(Value::as_str).collect(),
        _ => vec!["anonymous"],
    };
    let claimed = details.get("authid").and_then(Value::as_str);
    for method in &offered {
        match *method {
            "anonymous" => {
                if let Some(role) = &auth.anonymous {
                    let authid = claimed.map(str::to_string).unwrap_or_else(random_authid);
                    return HelloOutcome::Welcome(Identity {
                        authid,
                        authrole: role.clone(),
                        authmethod: "anonymous",
                    });
                }
            }
            "ticket" if !auth.ticket.is_empty() => {
                return match claimed {
                    Some(authid) => HelloOutcome::ChallengeTicket {
                        authid: authid.to_string(),
                    },
                    None => HelloOutcome::Abort(
                        error::NOT_AUTHORIZED,
                        "ticket authentication needs an authid in HELLO.Details".into(),
                    ),
                };
            }
            "tls" if !auth.tls.is_empty() => return tls(auth, realm, claimed, conn),
            _ => {}
        }
    }
    HelloOutcome::Abort(
        error::NO_AUTH_METHOD,
        format!(
            "none of the authentication methods offered ({}) is accepted here; this transport accepts: {}",
            offered.join(", "),
            auth.methods().join(", ")
        ),
    )
}

/// The identity is the certificate the connection presented, never what the client says.
fn tls(auth: &Auth, realm: &str, claimed: Option<&str>, conn: &ConnInfo) -> HelloOutcome {
    let refused = || HelloOutcome::Abort(error::NOT_AUTHORIZED, "authentication failed".into());
    let Some((sha1, sha256)) = &conn.client_cert else {
        return refused();
    };
    let principal = auth
        .tls
        .iter()
        .find(|p| equal_secret(&p.secret, sha1) || equal_secret(&p.secret, sha256));
    match principal {
        Some(p) if claimed.is_none_or(|c| c == p.authid) && may_join(p, realm) => {
            HelloOutcome::Welcome(Identity {
                authid: p.authid.clone(),
                authrole: p.role.clone(),
                authmethod: "tls",
            })
        }
        _ => refused(),
    }
}

/// Checks a ticket for `authid`; the same answer whether the authid or the ticket was wrong.
pub fn check_ticket(auth: &Auth, realm: &str, authid: &str, ticket: &str) -> Option<Identity> {
    let mut found = None;
    for p in &auth.ticket {
        // Compare every entry, so timing does not tell which authids exist.
        let ok = equal_secret(&p.secret, ticket);
        if ok && p.authid == authid && may_join(p, realm) {
            found = Some(Identity {
                authid: p.authid.clone(),
                authrole: p.role.clone(),
                authmethod: "ticket",
            });
        }
    }
    found
}

/// A principal with a `realm` may join only that realm.
fn may_join(principal: &Principal, realm: &str) -> bool {
    principal.realm.as_deref().is_none_or(|r| r == realm)
}

/// Constant-time comparison of two secrets.
fn equal_secret(a: &str, b: &str) -> bool {
    #[allow(deprecated)]
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

fn random_authid() -> String {
    let mut bytes = [0u8; 6];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    format!("{}-{}-{}", &hex[0..4], &hex[4..8], &hex[8..12])
}

/// An action a permission can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// CALL
    Call,
    /// REGISTER
    Register,
    /// PUBLISH
    Publish,
    /// SUBSCRIBE
    Subscribe,
}

impl Action {
    /// The verb, for "role `x` may not … `uri`".
    pub fn verb(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish to",
            Action::Subscribe => "subscribe",
        }
    }
}

/// The permission that governs `uri` for `role`: the most specific match, as Crossbar does.
pub fn permission<'r>(role: &'r Role, uri_text: &str) -> Option<&'r Permission> {
    role.permissions
        .iter()
        .filter(|p| uri::matches(&p.uri, p.match_policy, uri_text))
        .max_by_key(|p| uri::specificity(&p.uri, p.match_policy))
}

/// Whether `role` may do `action` on `uri`.
pub fn allowed(role: &Role, uri_text: &str, action: Action) -> bool {
    permission(role, uri_text).is_some_and(|p| match action {
        Action::Call => p.call,
        Action::Register => p.register,
        Action::Publish => p.publish,
        Action::Subscribe => p.subscribe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MatchPolicy;

    fn perm(uri: &str, policy: MatchPolicy, call: bool) -> Permission {
        Permission {
            uri: uri.into(),
            match_policy: policy,
            call,
            register: false,
            publish: false,
            subscribe: false,
            disclose_caller: false,
            disclose_publisher: false,
        }
    }

    #[test]
    fn the_most_specific_permission_decides() {
        let role = Role {
            name: "r".into(),
            permissions: vec![
                perm("com.", MatchPolicy::Prefix, true),
                perm("com.secret.", MatchPolicy::Prefix, false),
                perm("com.secret.open", MatchPolicy::Exact, true),
            ],
        };
        assert!(allowed(&role, "com.x", Action::Call));
        assert!(!allowed(&role, "com.secret.x", Action::Call));
        assert!(allowed(&role, "com.secret.open", Action::Call));
        assert!(!allowed(&role, "org.x", Action::Call));
        assert!(!allowed(&role, "com.x", Action::Subscribe));
    }

    #[test]
    fn tickets_need_both_parts_right() {
        let joe = Principal {
            authid: "joe".into(),
            secret: "s3cret".into(),
            role: "user".into(),
            realm: Some("realm1".into()),
        };
        let auth = Auth {
            ticket: vec![joe],
            ..Auth::default()
        };
        assert!(check_ticket(&auth, "realm1", "joe", "s3cret").is_some());
        assert!(check_ticket(&auth, "realm1", "joe", "wrong").is_none());
        assert!(check_ticket(&auth, "realm1", "ann", "s3cret").is_none());
        assert!(
            check_ticket(&auth, "realm2", "joe", "s3cret").is_none(),
            "the principal's realm only"
        );
    }
}
