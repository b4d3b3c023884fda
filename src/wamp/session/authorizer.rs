//! A role's dynamic authorizer: asking it about a message (its answer cached per
//! session), and carrying out or refusing the message on its verdict.

use super::*;

impl WampSession {
    /// Acts on an authorizer's answer.
    pub(super) fn authorizer_answered(
        &mut self,
        msg: ClientMessage,
        key: (Action, String, String),
        answer: Result<Reply, CallError>,
    ) -> Result<(), CloseFrame> {
        let (action, uri) = (key.0, key.1.clone());
        let Phase::Established {
            authorizer: Some(authorizer),
            id,
            ..
        } = &mut self.phase
        else {
            return Ok(());
        };
        match read_verdict(answer) {
            Ok((verdict, cache)) => {
                if cache && uri.len() <= CACHED_URI_BYTES {
                    if authorizer.cache.len() >= AUTHORIZER_CACHE {
                        authorizer.cache.clear();
                    }
                    authorizer.cache.insert(key, verdict);
                }
                self.authorized(msg, verdict)
            }
            Err(why) => {
                log::info!(
                    "wamp authorizer `{}` failed for session {id}, {} `{uri}`: {why}",
                    authorizer.procedure,
                    action.name()
                );
                let texts = (
                    crate::wamp::uri::crossbar::authorization_failed(
                        action.crossbar_what(),
                        &uri,
                        &why,
                    ),
                    format!(
                        "failed to authorize session for {} `{uri}`: {why}",
                        action.name()
                    ),
                );
                self.send_refusal(&msg, error::AUTHORIZATION_FAILED, texts);
                Ok(())
            }
        }
    }

    pub(super) fn authorized(
        &mut self,
        mut msg: ClientMessage,
        verdict: Verdict,
    ) -> Result<(), CloseFrame> {
        let Phase::Established { realm, id, .. } = &self.phase else {
            return Ok(());
        };
        if !verdict.allow {
            let texts = match authorizable(&msg) {
                Some((action, uri)) => (
                    realm.crossbar_refusal(*id, uri, action),
                    format!(
                        "the role's authorizer does not let this session {} `{uri}`",
                        action.verb()
                    ),
                ),
                None => ("not authorized".into(), String::new()),
            };
            self.send_refusal(&msg, error::NOT_AUTHORIZED, texts);
            return Ok(());
        }
        if verdict.disclose {
            if let ClientMessage::Publish { options, .. } | ClientMessage::Call { options, .. } =
                &mut msg
            {
                options.insert("disclose_me".into(), Value::Bool(true));
            }
        }
        let (realm, id) = (realm.clone(), *id);
        self.dispatch(realm, id, msg)
    }

    /// ERROR for a refused action; a PUBLISH hears of it only when it asked to be
    /// acknowledged, as the spec says.
    pub(super) fn send_refusal(
        &self,
        msg: &ClientMessage,
        uri: &str,
        (crossbar, ours): (String, String),
    ) {
        let (kind, request) = match msg {
            ClientMessage::Publish {
                request, options, ..
            } => {
                if options.get("acknowledge").and_then(Value::as_bool) != Some(true) {
                    return;
                }
                (code::PUBLISH, *request)
            }
            ClientMessage::Subscribe { request, .. } => (code::SUBSCRIBE, *request),
            ClientMessage::Call { request, .. } => (code::CALL, *request),
            ClientMessage::Register { request, .. } => (code::REGISTER, *request),
            _ => return,
        };
        self.send(message::error_texts(kind, request, uri, &crossbar, &ours));
    }
}

/// The action and URI an authorizer decides for a message, if it decides one.
pub(super) fn authorizable(msg: &ClientMessage) -> Option<(Action, &str)> {
    match msg {
        ClientMessage::Publish { topic, .. } => Some((Action::Publish, topic)),
        ClientMessage::Subscribe { topic, .. } => Some((Action::Subscribe, topic)),
        ClientMessage::Call { procedure, .. } => Some((Action::Call, procedure)),
        ClientMessage::Register { procedure, .. } => Some((Action::Register, procedure)),
        _ => None,
    }
}

/// The `match` option of a SUBSCRIBE or REGISTER (`exact` when absent).
pub(super) fn match_policy(msg: &ClientMessage) -> String {
    options_of(msg)
        .get("match")
        .and_then(Value::as_str)
        .unwrap_or("exact")
        .to_string()
}

pub(super) fn options_of(msg: &ClientMessage) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match msg {
        ClientMessage::Publish { options, .. }
        | ClientMessage::Subscribe { options, .. }
        | ClientMessage::Call { options, .. }
        | ClientMessage::Register { options, .. } => options,
        _ => EMPTY.get_or_init(Map::new),
    }
}

/// An authorizer's answer, Crossbar's way: `true`/`false`, or `{"allow", "disclose",
/// "cache"}` with booleans. Returns the verdict and whether to cache it.
fn read_verdict(answer: Result<Reply, CallError>) -> Result<(Verdict, bool), String> {
    let reply = answer.map_err(|e| e.to_string())?;
    match reply.args.into_iter().next() {
        Some(Value::Bool(allow)) => Ok((
            Verdict {
                allow,
                disclose: false,
            },
            false,
        )),
        Some(Value::Object(map)) => {
            if let Some(key) = map
                .keys()
                .find(|k| !["allow", "disclose", "cache", "validate"].contains(&k.as_str()))
            {
                return Err(format!("the authorizer answered an unknown key `{key}`"));
            }
            let flag = |key: &str| match map.get(key) {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(format!("the authorizer's `{key}` must be true or false")),
            };
            if !map.contains_key("allow") {
                return Err("the authorizer's answer has no `allow`".into());
            }
            Ok((
                Verdict {
                    allow: flag("allow")?,
                    disclose: flag("disclose")?,
                },
                flag("cache")?,
            ))
        }
        other => Err(format!(
            "the authorizer answered {}, not true, false or a dict",
            other.unwrap_or(Value::Null)
        )),
    }
}
