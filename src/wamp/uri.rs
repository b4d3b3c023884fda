//! WAMP URIs (spec "URIs"): loose validation as Crossbar applies it, and the three match
//! policies of pattern-based subscriptions and registrations.

use crate::config::MatchPolicy;

/// The error URIs the router answers with: the spec's ("Predefined URIs"), then wssnode's
/// own for its limits (a router may add its own).
pub(crate) mod error {
    /// The session's role may not do this.
    pub(crate) const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
    /// A URI that is not one, or that is the router's own (`wamp.`).
    pub(crate) const INVALID_URI: &str = "wamp.error.invalid_uri";
    /// An option or argument of the wrong type or value.
    pub(crate) const INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";
    /// No callee registered the procedure.
    pub(crate) const NO_SUCH_PROCEDURE: &str = "wamp.error.no_such_procedure";
    /// A procedure registered already (and not shareable this way).
    pub(crate) const PROCEDURE_ALREADY_EXISTS: &str = "wamp.error.procedure_already_exists";
    /// UNSUBSCRIBE of a subscription the session does not hold.
    pub(crate) const NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";
    /// UNREGISTER of a registration the session does not hold.
    pub(crate) const NO_SUCH_REGISTRATION: &str = "wamp.error.no_such_registration";
    /// A session ID the meta API does not know.
    pub(crate) const NO_SUCH_SESSION: &str = "wamp.error.no_such_session";
    /// A call that ended before its result: canceled, timed out, or its callee left.
    pub(crate) const CANCELED: &str = "wamp.error.canceled";
    /// The reason of the INTERRUPT a timed-out call sends.
    pub(crate) const TIMEOUT: &str = "wamp.error.timeout";
    /// HELLO for a realm the router does not have.
    pub(crate) const NO_SUCH_REALM: &str = "wamp.error.no_such_realm";
    /// HELLO offering no authentication method the transport accepts.
    pub(crate) const NO_AUTH_METHOD: &str = "wamp.error.no_auth_method";
    /// An authenticator failed, is missing or gave an answer that is not one.
    pub(crate) const AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";
    /// An authorizer failed, is missing or gave an answer that is not one.
    pub(crate) const AUTHORIZATION_FAILED: &str = "wamp.error.authorization_failed";
    /// The role given to a session is not one of the realm's.
    pub(crate) const NO_SUCH_ROLE: &str = "wamp.error.no_such_role";
    /// No authid could be assigned.
    pub(crate) const NO_SUCH_PRINCIPAL: &str = "wamp.error.no_such_principal";
    /// A session's end when it logs out (its cookie forgets it).
    pub(crate) const LOGOUT: &str = "wamp.close.logout";
    /// A message that breaks the protocol; ends the session.
    pub(crate) const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";
    /// `wamp.subscription.get_events` for a subscription whose events are not kept.
    pub(crate) const HISTORY_UNAVAILABLE: &str = "wamp.error.history_unavailable";
    /// A testament with a wrong scope, or one too many.
    pub(crate) const TESTAMENT_ERROR: &str = "wamp.error.testament_error";
    /// GOODBYE's answer: Crossbar's (autobahn's `Goodbye()` default), which clients show
    /// their `onLeave` as the reason; the spec's `wamp.close.goodbye_and_out` is only its
    /// example of a reply, and `GOODBYE` must be answered with some reason.
    pub(crate) const GOODBYE_REPLY: &str = "wamp.close.normal";
    /// The session holds `max_subscriptions` subscriptions.
    pub(crate) const TOO_MANY_SUBSCRIPTIONS: &str = "wssnode.error.too_many_subscriptions";
    /// The session holds `max_registrations` registrations.
    pub(crate) const TOO_MANY_REGISTRATIONS: &str = "wssnode.error.too_many_registrations";
    /// The caller has `max_calls_in_flight` calls waiting for their results.
    pub(crate) const TOO_MANY_CALLS: &str = "wssnode.error.too_many_calls";
    /// The callee has `max_invocations_in_flight` invocations it has not answered.
    pub(crate) const TOO_MANY_INVOCATIONS: &str = "wssnode.error.too_many_invocations";
    /// A REGISTER needs the cluster's Redis, which cannot be reached (wssnode's own).
    pub(crate) const CLUSTER_UNAVAILABLE: &str = "wssnode.error.cluster_unavailable";
    /// An answer that does not say what went wrong.
    pub(crate) const RUNTIME_ERROR: &str = "wamp.error.runtime_error";
}

/// Crossbar's texts for the errors applications match on (its broker's and dealer's first
/// error argument, from Crossbar 26). Ours, which say more, follow them as the second.
pub(crate) mod crossbar {
    /// PUBLISH to an invalid topic URI (Crossbar's default loose checking).
    pub(crate) fn publish_invalid(topic: &str) -> String {
        format!("publish with invalid topic URI '{topic}' (URI strict checking False)")
    }

    /// PUBLISH to a `wamp.` topic.
    pub(crate) fn publish_restricted(topic: &str) -> String {
        format!("publish with restricted topic URI '{topic}'")
    }

    /// PUBLISH the role may not make.
    pub(crate) fn publish_not_authorized(topic: &str) -> String {
        format!("session not authorized to publish to topic '{topic}'")
    }

    /// SUBSCRIBE to an invalid topic URI.
    pub(crate) fn subscribe_invalid(topic: &str) -> String {
        format!("subscribe for invalid topic URI '{topic}'")
    }

    /// REGISTER of an invalid procedure URI.
    pub(crate) fn register_invalid(procedure: &str) -> String {
        format!("register for invalid procedure URI '{procedure}' (URI strict checking False)")
    }

    /// REGISTER under `wamp.` (Crossbar's text has the stray parenthesis).
    pub(crate) fn register_restricted(procedure: &str) -> String {
        format!("register for restricted procedure URI '{procedure}')")
    }

    /// REGISTER of a procedure someone holds.
    pub(crate) fn already_registered(procedure: &str) -> String {
        format!("register for already registered procedure '{procedure}'")
    }

    /// CALL of an invalid procedure URI.
    pub(crate) fn call_invalid(procedure: &str) -> String {
        format!("call with invalid procedure URI '{procedure}' (URI strict checking False)")
    }

    /// CALL with no callee.
    pub(crate) fn no_callee(procedure: &str) -> String {
        format!("no callee registered for procedure <{procedure}>")
    }

    /// An action whose authorizer failed (did not answer, or not with a verdict); `what`
    /// is "publishing to topic URI", "subscribing to topic URI", "registering procedure" or
    /// "calling procedure".
    pub(crate) fn authorization_failed(what: &str, uri: &str, why: &str) -> String {
        format!("failed to authorize session for {what} '{uri}': {why}")
    }

    /// SUBSCRIBE, REGISTER or CALL the role may not make; `what` is "subscribe to topic",
    /// "register procedure" or "call procedure".
    pub(crate) fn not_authorized(
        session: u64,
        authid: &str,
        authrole: &str,
        what: &str,
        uri: &str,
        realm: &str,
    ) -> String {
        format!("session (session_id={session}, authid=\"{authid}\", authrole=\"{authrole}\") is not authorized to {what} \"{uri}\" on realm \"{realm}\"")
    }
}

/// Whether `uri` is a valid URI for `policy` under the spec's loose rules
/// (`MatchPolicy::admits`).
pub(crate) fn is_valid(uri: &str, policy: MatchPolicy) -> bool {
    policy.admits(uri)
}

/// Why a pattern is refused, for the `invalid_uri` error; `what` is "topic" or "procedure".
pub(crate) fn invalid(uri: &str, policy: MatchPolicy, what: &str) -> String {
    if uri.len() > policy.max_bytes() {
        return format!(
            "a {} {what} may have at most {} bytes, this one has {}",
            policy.name(),
            policy.max_bytes(),
            uri.len()
        );
    }
    format!("`{uri}` is not a valid {} {what}", policy.name())
}

/// Whether `uri` matches `pattern` under `policy`.
pub(crate) fn matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    match policy {
        MatchPolicy::Exact => pattern == uri,
        MatchPolicy::Prefix => uri.starts_with(pattern),
        MatchPolicy::Wildcard => {
            let mut want = pattern.split('.');
            let mut have = uri.split('.');
            loop {
                match (want.next(), have.next()) {
                    (None, None) => return true,
                    (Some(w), Some(h)) if w.is_empty() || w == h => {}
                    _ => return false,
                }
            }
        }
    }
}

/// Orders competing matches as the spec does for registrations: exact, then the longest
/// prefix, then the wildcard with the most fixed components. Higher is better.
pub(crate) fn specificity(pattern: &str, policy: MatchPolicy) -> (u8, usize) {
    match policy {
        MatchPolicy::Exact => (2, pattern.len()),
        MatchPolicy::Prefix => (1, pattern.len()),
        MatchPolicy::Wildcard => (0, pattern.split('.').filter(|c| !c.is_empty()).count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MatchPolicy::*;

    #[test]
    fn uris_are_checked_by_the_loose_rules() {
        assert!(is_valid("com.example.add2", Exact));
        assert!(is_valid("com.Example.add-2", Exact));
        assert!(!is_valid("com..add2", Exact));
        assert!(!is_valid("com.example.", Exact));
        assert!(!is_valid("", Exact));
        assert!(!is_valid("com.example add", Exact));
        assert!(!is_valid("com.#", Exact));
        assert!(is_valid("com.example.", Prefix));
        assert!(is_valid("", Prefix));
        assert!(!is_valid("com..x", Prefix));
        assert!(is_valid("com..add", Wildcard));
        assert!(!is_valid("com", Wildcard));
    }

    #[test]
    fn patterns_match_as_the_spec_says() {
        assert!(matches("com.myapp", Prefix, "com.myapp.topic1"));
        assert!(matches("com.myapp", Prefix, "com.myapp2"));
        assert!(!matches("com.myapp", Prefix, "com.other"));
        assert!(matches(
            "com.myapp..update",
            Wildcard,
            "com.myapp.product.update"
        ));
        assert!(!matches(
            "com.myapp..update",
            Wildcard,
            "com.myapp.product.x.update"
        ));
        assert!(!matches("com.myapp..update", Wildcard, "com.myapp.update"));
        assert!(matches(".a", Wildcard, "x.a"));
    }

    #[test]
    fn exact_beats_longest_prefix_beats_wildcard() {
        assert!(specificity("a.b.c", Exact) > specificity("a.b", Prefix));
        assert!(specificity("a.b", Prefix) > specificity("a", Prefix));
        assert!(specificity("a", Prefix) > specificity("a..c", Wildcard));
        assert!(specificity("a.b.", Wildcard) > specificity("a..", Wildcard));
    }
}
