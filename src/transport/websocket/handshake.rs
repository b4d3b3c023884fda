//! The WebSocket opening handshake (RFC 6455 section 4.2), checked before the upgrade: the
//! version and key, `Origin` against `allowed_origins` (Crossbar's `*` patterns), and the
//! subprotocol: the first of the client's that the path speaks.

use super::*;

/// Checks an upgrade request and chooses a subprotocol. `Ok(None)` means no subprotocol.
pub(crate) fn check_handshake<S>(
    req: &tide::Request<S>,
    options: &WebSocketOptions,
    protocols: &[&'static str],
) -> Result<Option<&'static str>, Box<Response>> {
    let refuse = |status: StatusCode, text: String| {
        let peer = ConnInfo::peer_of(req);
        log::info!("websocket refused {peer}: {} {text}", u16::from(status));
        let mut res = Response::new(status);
        res.set_body(format!("{text}\n"));
        res.set_content_type(http_types::mime::PLAIN);
        Err(Box::new(res))
    };
    let header_has = |name: &str, token: &str| {
        req.header(name).is_some_and(|values| {
            values
                .iter()
                .flat_map(|v| v.as_str().split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    let speaks = if protocols.is_empty() {
        String::from("WebSocket")
    } else {
        format!("WebSocket with subprotocol {}", protocols.join(", "))
    };
    if !header_has("Upgrade", "websocket") || !header_has("Connection", "upgrade") {
        let mut res = refuse(
            StatusCode::UpgradeRequired,
            format!("This is a WebSocket endpoint: connect with {speaks}."),
        )
        .unwrap_err();
        res.insert_header("Upgrade", "websocket");
        return Err(res);
    }
    if req.version() == Some(http_types::Version::Http1_0) {
        return refuse(
            StatusCode::BadRequest,
            "The WebSocket opening handshake needs HTTP/1.1.".into(),
        );
    }
    if req.method() != http_types::Method::Get {
        return refuse(
            StatusCode::BadRequest,
            "The WebSocket opening handshake is a GET request.".into(),
        );
    }
    if req
        .header("Sec-WebSocket-Version")
        .map(|v| v.as_str().trim())
        != Some("13")
    {
        let mut res = refuse(
            StatusCode::UpgradeRequired,
            "Only WebSocket version 13 (RFC 6455) is spoken here.".into(),
        )
        .unwrap_err();
        res.insert_header("Sec-WebSocket-Version", "13");
        return Err(res);
    }
    let key_ok = req
        .header("Sec-WebSocket-Key")
        .is_some_and(|k| k.as_str().trim().len() == 24);
    if !key_ok {
        return refuse(
            StatusCode::BadRequest,
            "Sec-WebSocket-Key is missing or malformed.".into(),
        );
    }
    if let Some(origin) = req.header("Origin") {
        let origin = origin.as_str();
        if !options
            .allowed_origins
            .iter()
            .any(|p| wildcard_match(p, origin))
        {
            return refuse(
                StatusCode::Forbidden,
                format!("Origin `{origin}` is not in this path's allowed_origins."),
            );
        }
    }
    if protocols.is_empty() {
        return Ok(None);
    }
    let offered: Vec<&str> = req
        .header("Sec-WebSocket-Protocol")
        .map(|values| {
            values
                .iter()
                .flat_map(|v| v.as_str().split(','))
                .map(str::trim)
                .collect()
        })
        .unwrap_or_default();
    match offered
        .iter()
        .find_map(|o| protocols.iter().find(|p| *p == o))
    {
        Some(chosen) => Ok(Some(*chosen)),
        None => {
            refuse(
                StatusCode::BadRequest,
                format!(
                "No WebSocket subprotocol offered ({}) is spoken here; this endpoint speaks {}.",
                if offered.is_empty() { "none".to_string() } else { offered.join(", ") },
                protocols.join(", ")
            ),
            )
        }
    }
}

/// Crossbar's origin patterns: `*` matches any run of characters.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern.eq_ignore_ascii_case(text);
    }
    let text = text.to_ascii_lowercase();
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        let part = part.to_ascii_lowercase();
        if i == 0 {
            let Some(after) = rest.strip_prefix(part.as_str()) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part.as_str());
        } else {
            match rest.find(part.as_str()) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn origin_patterns_match_like_crossbar() {
        assert!(wildcard_match("*", "https://a.example.com"));
        assert!(wildcard_match(
            "https://*.example.com",
            "https://a.example.com"
        ));
        assert!(!wildcard_match(
            "https://*.example.com",
            "https://example.org"
        ));
        assert!(wildcard_match(
            "http://localhost:*",
            "http://LOCALHOST:8080"
        ));
        assert!(!wildcard_match(
            "https://example.com",
            "https://example.com.evil"
        ));
    }
}
