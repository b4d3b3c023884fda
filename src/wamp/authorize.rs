//! Authorization: whether a session's role may publish, subscribe, call or register a URI.
//! A role has static `permissions` (the most specific URI decides, as in Crossbar) or an
//! `authorizer`, a procedure the session layer asks before the message reaches the realm
//! (`wamp::session`); such a role's messages arrive here already allowed.

use crate::config::{Permission, Role};
use crate::wamp::uri;

/// An action a permission can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Action {
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
    /// How Crossbar's error texts name the action (`uri::crossbar::authorization_failed`).
    pub(crate) fn crossbar_what(self) -> &'static str {
        match self {
            Action::Publish => "publishing to topic URI",
            Action::Subscribe => "subscribing to topic URI",
            Action::Register => "registering procedure",
            Action::Call => "calling procedure",
        }
    }

    /// The name an authorizer is asked with.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }

    /// The verb, for "role `x` may not … `uri`".
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish to",
            Action::Subscribe => "subscribe",
        }
    }
}

/// The permission that governs `uri` for `role`: the most specific match, as Crossbar does.
pub(crate) fn permission<'r>(role: &'r Role, uri_text: &str) -> Option<&'r Permission> {
    role.permissions
        .iter()
        .filter(|p| uri::matches(&p.uri, p.match_policy, uri_text))
        .max_by_key(|p| uri::specificity(&p.uri, p.match_policy))
}

/// Whether `role` may do `action` on `uri`.
pub(crate) fn allowed(role: &Role, uri_text: &str, action: Action) -> bool {
    if role.authorizer.is_some() {
        return true;
    }
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
            authorizer: None,
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
}
