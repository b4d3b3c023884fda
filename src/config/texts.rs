//! What wssnode says about the Crossbar features it does not serve: what to do instead.

/// What to say about a transport type we do not serve.
pub(super) fn unsupported_transport(kind: &str) -> String {
    let advice = match kind {
        "mqtt" => "MQTT is not offered yet; connect MQTT clients through a bridge, or use WAMP",
        "flashpolicy" => "Flash is gone; remove this transport",
        _ => "wssnode serves `web`, `websocket`, `websocket.testee`, `rawsocket` and `universal`",
    };
    format!("transport type `{kind}` is not supported; {advice}")
}

/// What to say about a web path type we do not serve.
pub(super) fn unsupported_path(kind: &str) -> String {
    let advice = match kind {
        "resource" | "wsgi" | "wap" => "Python web resources cannot run in wssnode; serve them from their own server and `redirect` to it",
        "upload" => "file uploads are not offered; use your own upload service",
        "websocket-reverseproxy" | "reverseproxy" => "proxying is not offered; put a reverse proxy (nginx, Caddy) in front",
        "cgi" => "CGI is not offered",
        _ => "wssnode serves `static`, `websocket`, `longpoll`, `redirect`, `json`, `nodeinfo`, `archive`, `path`, `caller`, `publisher`, `webhook`, `health` and `metrics`",
    };
    format!("path type `{kind}` is not supported; {advice}")
}

/// What to say about an authentication method we do not offer (Crossbar's proxy methods,
/// which belong to its proxy workers, or a name Crossbar does not know either).
pub(super) fn unsupported_auth(method: &str) -> String {
    format!("authentication method `{method}` is not supported; wssnode offers `anonymous`, `ticket`, `wampcra`, `cryptosign`, `scram`, `tls` and `cookie`")
}
