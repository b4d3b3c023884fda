//! The request head gate (RFC 9112 §2–§7): every request head is read whole and checked
//! before the HTTP layer (async-h1) sees it. A head it would refuse gets its status code
//! here, with a reason for the log, instead of a silent close; what it does not speak but
//! is fine (HTTP/1.0, bare-LF line endings, empty lines before a request) is rewritten
//! into a canonical HTTP/1.1 head it does.

use std::str::FromStr;

/// Headers a head may have; more is 431, as async-h1 allows no more.
const MAX_HEADERS: usize = 128;
/// async-h1's own limit on a head, which the rewritten head must stay under.
const MAX_REWRITTEN: usize = 8 * 1024;

/// What follows the head, as its headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`: the connection closes after this request, as the
    /// chunked decoder reads ahead of the body's end.
    Chunked,
}

/// A head that may go on to the HTTP layer.
#[derive(Debug)]
pub struct Head {
    /// The head rewritten as HTTP/1.1 with CRLF line endings, or `None` when it already is
    /// what async-h1 takes (most heads: then nothing is copied).
    pub rewritten: Option<Vec<u8>>,
    /// How the body that follows is framed.
    pub body: Body,
    /// The client spoke HTTP/1.0.
    pub http10: bool,
    /// An HTTP/1.0 client asked to keep the connection (`Connection: keep-alive`).
    pub keep_alive: bool,
}

/// What to do with a request head.
#[derive(Debug)]
pub enum Verdict {
    /// Hand it to the HTTP layer.
    Forward(Head),
    /// Answer it here with these bytes (`OPTIONS *`); `close` after them.
    Answer {
        /// The whole response.
        response: &'static [u8],
        /// Whether the connection ends after it.
        close: bool,
    },
    /// Refuse it with this status and close; the reason is for the log.
    Refuse(u16, String),
}

/// Where a head ends in `bytes`: just past the empty line that ends it, whether lines end
/// in CRLF or a bare LF (RFC 9112 §2.2 lets a server accept the latter).
pub fn end(bytes: &[u8]) -> Option<usize> {
    // After a LF: 1; after LF and CR: 2. A LF then ends an empty line.
    let mut state = 0u8;
    for (i, &b) in bytes.iter().enumerate() {
        state = match (state, b) {
            (1 | 2, b'\n') => return Some(i + 1),
            (_, b'\n') => 1,
            (1, b'\r') => 2,
            _ => 0,
        };
    }
    None
}

/// How many empty lines (CRLF or LF) start `bytes`: a server skips them before a request
/// line (RFC 9112 §2.2).
pub fn leading_empty_lines(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count()
}

/// Checks one request head (up to and including its empty line).
pub fn check(head: &[u8]) -> Verdict {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return refuse(400, "incomplete request head"),
        Err(httparse::Error::Version) => return refuse(505, "HTTP version other than 1.0 and 1.1"),
        Err(httparse::Error::TooManyHeaders) => {
            return refuse(431, format!("more than {MAX_HEADERS} header fields"))
        }
        Err(e) => return refuse(400, format!("malformed request head: {e}")),
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return refuse(400, "malformed request line");
    };
    let http10 = minor == 0;

    // Methods are case-sensitive; http-types would take `get` for GET.
    let known = http_types::Method::from_str(method).is_ok()
        && method.bytes().all(|b| b.is_ascii_uppercase());
    if !known || method == "CONNECT" {
        return refuse(
            501,
            format!("method `{}` is not served", method.escape_debug()),
        );
    }
    if target == "*" && method != "OPTIONS" {
        return refuse(400, "`*` is a target only for OPTIONS");
    }
    let absolute = target.starts_with("http://") || target.starts_with("https://");
    if !(target == "*" || target.starts_with('/') || absolute) {
        return refuse(
            400,
            "the request target is neither a path nor an absolute URL",
        );
    }
    if head.len() >= MAX_REWRITTEN {
        return refuse(431, "request head too large");
    }

    // Fields: UTF-8 values (http-types needs them), one Host for HTTP/1.1, one length.
    if let Some(h) = req
        .headers
        .iter()
        .find(|h| std::str::from_utf8(h.value).is_err())
    {
        return refuse(400, format!("header `{}` is not UTF-8", h.name));
    }
    let hosts = count(req.headers, "host");
    if hosts > 1 || (hosts == 0 && !http10) {
        return refuse(400, "an HTTP/1.1 request needs exactly one Host header");
    }
    // The Host becomes part of the URL the router reads the path from: `a/b` or an empty
    // one would move the path.
    if let Some(host) = values(req.headers, "host").next() {
        if !is_host(host) {
            return refuse(400, "the Host header is not a host name or address");
        }
    }
    let lengths: Vec<&[u8]> = values(req.headers, "content-length").collect();
    let length = match lengths.split_first() {
        None => None,
        Some((first, rest)) => {
            let digits = |v: &&[u8]| !v.is_empty() && v.iter().all(u8::is_ascii_digit);
            let parsed = std::str::from_utf8(first)
                .ok()
                .and_then(|v| v.parse::<u64>().ok());
            if !digits(first) || rest.iter().any(|v| v != first) || parsed.is_none() {
                return refuse(400, "Content-Length is not one whole number");
            }
            parsed
        }
    };
    let chunked = match values(req.headers, "transfer-encoding").collect::<Vec<_>>()[..] {
        [] => false,
        [v] if v.eq_ignore_ascii_case(b"chunked") => true,
        _ => return refuse(501, "only Transfer-Encoding: chunked is understood"),
    };
    if chunked && length.is_some() {
        return refuse(400, "both Content-Length and Transfer-Encoding");
    }
    let body = match (chunked, length) {
        (true, _) => Body::Chunked,
        (false, Some(n)) if n > 0 => Body::Length(n),
        _ => Body::None,
    };
    if target == "*" {
        // Answered here, so a body would be read as the next request.
        if body != Body::None {
            return refuse(400, "OPTIONS * with a body");
        }
        return Verdict::Answer {
            response: b"HTTP/1.1 204 No Content\r\nAllow: GET, HEAD, OPTIONS\r\n\r\n",
            close: (http10 && !asks(req.headers, "connection", "keep-alive"))
                || asks(req.headers, "connection", "close"),
        };
    }

    let keep_alive = http10 && asks(req.headers, "connection", "keep-alive");
    let bare_lf = head
        .iter()
        .enumerate()
        .any(|(i, b)| *b == b'\n' && (i == 0 || head[i - 1] != b'\r'));
    if !http10 && !chunked && !bare_lf && !head.starts_with(b"\r") {
        return Verdict::Forward(Head {
            rewritten: None,
            body,
            http10,
            keep_alive,
        });
    }

    // The canonical head: HTTP/1.1, CRLF, and what async-h1 needs to treat an HTTP/1.0
    // request as one (a Host; `Connection: close` unless it asked to stay).
    let mut bytes = Vec::with_capacity(head.len() + 32);
    bytes.extend_from_slice(format!("{method} {target} HTTP/1.1\r\n").as_bytes());
    let mut fields = 0;
    for h in req.headers.iter() {
        // Replaced below when the connection is to close.
        if (http10 || chunked) && h.name.eq_ignore_ascii_case("connection") {
            continue;
        }
        fields += 1;
        bytes.extend_from_slice(h.name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(h.value);
        bytes.extend_from_slice(b"\r\n");
    }
    if hosts == 0 {
        bytes.extend_from_slice(b"Host: localhost\r\n");
        fields += 1;
    }
    if (http10 && !keep_alive) || chunked {
        bytes.extend_from_slice(b"Connection: close\r\n");
        fields += 1;
    }
    bytes.extend_from_slice(b"\r\n");
    if fields > MAX_HEADERS {
        return refuse(431, format!("more than {MAX_HEADERS} header fields"));
    }
    if bytes.len() >= MAX_REWRITTEN {
        return refuse(431, "request head too large");
    }
    Verdict::Forward(Head {
        rewritten: Some(bytes),
        body,
        http10,
        keep_alive,
    })
}

/// A complete response refusing a request with `status`, closing the connection.
pub fn refusal(status: u16) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nX-Content-Type-Options: nosniff\r\n\r\n{reason}\n",
        reason.len() + 1
    )
    .into_bytes()
}

/// A Host value: a name or address and an optional port (RFC 9110 §7.2), nothing that
/// could end or change a URL's authority.
fn is_host(value: &[u8]) -> bool {
    !value.is_empty()
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(b))
}

fn refuse(status: u16, why: impl Into<String>) -> Verdict {
    Verdict::Refuse(status, why.into())
}

fn values<'h>(
    headers: &'h [httparse::Header<'_>],
    name: &'static str,
) -> impl Iterator<Item = &'h [u8]> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn count(headers: &[httparse::Header<'_>], name: &'static str) -> usize {
    values(headers, name).count()
}

/// Whether a comma-separated header has `token` among its values.
fn asks(headers: &[httparse::Header<'_>], name: &'static str, token: &str) -> bool {
    values(headers, name).any(|v| {
        v.split(|b| *b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(head: &str) -> Head {
        match check(head.as_bytes()) {
            Verdict::Forward(h) => h,
            other => panic!("{head:?}: {other:?}"),
        }
    }

    fn refused(head: &str) -> u16 {
        match check(head.as_bytes()) {
            Verdict::Refuse(status, _) => status,
            other => panic!("{head:?}: {other:?}"),
        }
    }

    #[test]
    fn a_head_ends_at_its_empty_line_with_crlf_or_bare_lf() {
        assert_eq!(end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET"), Some(27));
        assert_eq!(end(b"GET / HTTP/1.1\nHost: x\n\nGET"), Some(24));
        assert_eq!(end(b"GET / HTTP/1.1\r\nHost: x\n\r\n"), Some(26));
        assert_eq!(end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(leading_empty_lines(b"\r\n\nGET"), 3);
    }

    #[test]
    fn http10_becomes_http11_that_closes_unless_kept_alive() {
        let h = forwarded("GET /a HTTP/1.0\r\n\r\n");
        assert!(h.http10 && !h.keep_alive);
        assert_eq!(
            h.rewritten.unwrap(),
            b"GET /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        );
        let h = forwarded("HEAD / HTTP/1.0\nHost: a\nConnection: Keep-Alive\n\n");
        assert!(h.http10 && h.keep_alive);
        assert_eq!(h.rewritten.unwrap(), b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
        // A head async-h1 takes as it is stays as it is.
        assert!(forwarded("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .rewritten
            .is_none());
        let lf = forwarded("GET / HTTP/1.1\nHost: a\n\n").rewritten.unwrap();
        assert_eq!(lf, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    }

    #[test]
    fn bodies_are_framed_by_their_length_or_chunked() {
        assert_eq!(
            forwarded("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n").body,
            Body::Length(5)
        );
        let h = forwarded("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.body, Body::Chunked);
        assert!(h.rewritten.unwrap().ends_with(b"Connection: close\r\n\r\n"));
    }

    #[test]
    fn bad_heads_get_their_status() {
        for (head, status) in [
            ("GET / HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  folded\r\n\r\n", 400),
            ("FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
            ("get / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
                400,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET /a/b HTTP/1.1\r\nHost: \r\n\r\n", 400),
            ("GET /b HTTP/1.1\r\nHost: x/a\r\n\r\n", 400),
            (
                "OPTIONS * HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
                400,
            ),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
                501,
            ),
        ] {
            assert_eq!(refused(head), status, "{head:?}");
        }
    }

    #[test]
    fn a_rewritten_head_stays_within_the_header_count_async_h1_takes() {
        // Found by fuzzing: 127 fields, and the Host and Connection an HTTP/1.0 head gets.
        let fields: String = (0..127).map(|i| format!("X-{i}: a\r\n")).collect();
        assert_eq!(refused(&format!("GET / HTTP/1.0\r\n{fields}\r\n")), 431);
    }

    #[test]
    fn options_star_is_answered_here() {
        match check(b"OPTIONS * HTTP/1.0\r\n\r\n") {
            Verdict::Answer { response, close } => {
                assert!(response.starts_with(b"HTTP/1.1 204"));
                assert!(close);
            }
            other => panic!("{other:?}"),
        }
    }
}
