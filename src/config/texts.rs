//! What wssnode says about the Crossbar features it does not serve: what to do instead.

/// What to say about a transport type we do not serve.
pub(super) fn unsupported_transport(kind: &str) -> String {
    let advice = match kind {
        "rawsocket" => "WAMP clients can use WebSocket instead: a `websocket` path of a `web` transport, or a `websocket` transport",
        "universal" => "use a `web` transport: it serves HTTP and WebSocket on one port (RawSocket and MQTT are not offered)",
        "mqtt" => "MQTT is not offered; connect MQTT clients through a bridge, or use WAMP over WebSocket",
        "flashpolicy" => "Flash is gone; remove this transport",
        _ => "use `web` (with a `websocket` path) or `websocket`",
    };
    format!("transport type `{kind}` is not supported; {advice}")
}

/// What to say about a web path type we do not serve.
pub(super) fn unsupported_path(kind: &str) -> String {
    let advice = match kind {
        "longpoll" => "WAMP clients without WebSocket are rare today; use the `websocket` path",
        "caller" | "publisher" | "webhook" => "the HTTP-to-WAMP bridge is not offered; call or publish from a WAMP client (e.g. autobahn) instead",
        "resource" | "wsgi" | "wap" => "Python web resources cannot run in wssnode; serve them from their own server and `redirect` to it",
        "archive" => "serve the unpacked files with a `static` path",
        "upload" => "file uploads are not offered; use your own upload service",
        "path" => "nested path trees are not offered; list each path at the transport's `paths`",
        "websocket-reverseproxy" | "reverseproxy" => "proxying is not offered; put a reverse proxy (nginx, Caddy) in front",
        "cgi" => "CGI is not offered",
        _ => "wssnode serves `static`, `websocket`, `redirect`, `json` and `nodeinfo`",
    };
    format!("path type `{kind}` is not supported; {advice}")
}

/// What to say about an authentication method we do not offer (Crossbar's proxy methods,
/// which belong to its proxy workers, or a name Crossbar does not know either).
pub(super) fn unsupported_auth(method: &str) -> String {
    format!("authentication method `{method}` is not supported; wssnode offers `anonymous`, `ticket`, `wampcra`, `cryptosign`, `scram`, `tls` and `cookie`")
}
