//! Static files for a `static` web path, the way browsers and caches expect them:
//! `index.html` for directories, media types by extension, `ETag` and `Last-Modified` with
//! `If-None-Match`/`If-Modified-Since` (304), `HEAD`, single byte ranges (206/416)
//! (RFC 9110 §8.8, §13, §14). Nothing outside the directory is ever served: request paths are
//! percent-decoded one segment at a time, `.`/`..`/`\` segments are refused, and the file
//! that is opened must really lie under the canonical root (no symlink escapes).

use crate::config::StaticOptions;
use async_std::io::BufReader;
use http_types::conditional::{ETag, IfModifiedSince, IfNoneMatch, LastModified};
use http_types::headers::{
    ACCEPT_RANGES, ALLOW, CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, ETAG, LOCATION,
};
use http_types::{Body, Method, Mime, StatusCode};
use std::fs::{File, Metadata};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::UNIX_EPOCH;
use tide::Response;

/// A `static` path ready to serve: its options and its canonical root.
#[derive(Debug, Clone)]
pub struct StaticSite {
    /// The config options.
    pub options: StaticOptions,
    /// `options.directory`, canonicalized once it exists (at start-up, usually; a node
    /// whose directory is missing serves 404 until it appears, as Crossbar does).
    root: Arc<OnceLock<PathBuf>>,
}

impl StaticSite {
    /// A site for `options`; `Err` says why its directory cannot be served (yet): the
    /// site is made anyway and answers 404 until the directory exists.
    pub fn new(options: StaticOptions) -> (StaticSite, Result<(), String>) {
        let site = StaticSite {
            options,
            root: Arc::default(),
        };
        let ready = site.find_root().map(|_| ());
        (site, ready)
    }

    /// The canonical root, looked for again while the directory is missing.
    fn root(&self) -> Option<&Path> {
        match self.root.get() {
            Some(root) => Some(root),
            None => self.find_root().ok(),
        }
    }

    fn find_root(&self) -> Result<&Path, String> {
        let root = self
            .options
            .directory
            .path
            .canonicalize()
            .map_err(|e| e.to_string())?;
        if !root.is_dir() {
            return Err("is not a directory".into());
        }
        Ok(self.root.get_or_init(|| root))
    }
}

/// Maps a URL path (still percent-encoded, relative to the mount point) onto a path under
/// `root`, or `None` when it is not a clean path (`..`, `.`, encoded `/` or `\`, NUL, a drive
/// letter). Lexical only: `open_inside` then checks where the path really leads.
pub fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in url_path.split('/').filter(|s| !s.is_empty()) {
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .ok()?;
        // `c:` would make the segment an absolute Windows path.
        let dirty = matches!(decoded.as_ref(), "." | "..")
            || decoded.contains(['/', '\\', '\0'])
            || (decoded.len() >= 2 && decoded.as_bytes()[1] == b':');
        if dirty {
            return None;
        }
        path.push(decoded.as_ref());
    }
    Some(path)
}

/// Opens `path` (a `resolve` result under the canonical `root`) and checks that the file it
/// really is lies under `root`; `None` if it does not exist or leads outside.
pub fn open_inside(root: &Path, path: &Path) -> Option<(File, Metadata)> {
    let file = match open_without_symlinks(path) {
        Some(opened) => opened.ok()?,
        // A symlink on the way (or no openat2): open it and ask where it led.
        None => open_and_check(root, path)?,
    };
    let meta = file.metadata().ok()?;
    Some((file, meta))
}

/// `resolve` leaves no `.` or `..` in `path` and the root is canonical, so a path opened
/// without following any symlink lies under the root: one system call, where `open_and_check`
/// pays a readlink of /proc that cost a tenth of a small file's request. `None` when this
/// cannot tell: a symlink on the way, or a kernel without openat2 (before Linux 5.6).
#[cfg(target_os = "linux")]
fn open_without_symlinks(path: &Path) -> Option<std::io::Result<File>> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags, CWD};
    use std::sync::atomic::{AtomicBool, Ordering};
    static NO_OPENAT2: AtomicBool = AtomicBool::new(false);
    if NO_OPENAT2.load(Ordering::Relaxed) {
        return None;
    }
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    match openat2(CWD, path, flags, Mode::empty(), ResolveFlags::NO_SYMLINKS) {
        Ok(fd) => Some(Ok(File::from(fd))),
        Err(rustix::io::Errno::LOOP) => None,
        Err(rustix::io::Errno::NOSYS) => {
            NO_OPENAT2.store(true, Ordering::Relaxed);
            None
        }
        Err(e) => Some(Err(e.into())),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_without_symlinks(_: &Path) -> Option<std::io::Result<File>> {
    None
}

/// Opens `path`, following symlinks, and keeps it only if its real path is under `root`.
fn open_and_check(root: &Path, path: &Path) -> Option<File> {
    let file = File::open(path).ok()?;
    // The kernel names the open file's real path: one syscall instead of a readlink per
    // component; without /proc, canonicalize the path.
    let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .or_else(|_| path.canonicalize())
        .ok()?;
    real.starts_with(root).then_some(file)
}

/// Answers a GET or HEAD for `url_path` (relative to the mount point).
pub async fn serve<S>(site: &StaticSite, url_path: &str, req: &tide::Request<S>) -> Response {
    if req.method() == Method::Options {
        // What load balancers' health checks send (HAProxy's `OPTIONS / HTTP/1.0`).
        let mut res = Response::new(StatusCode::NoContent);
        res.insert_header(ALLOW, "GET, HEAD, OPTIONS");
        return res;
    }
    if !matches!(req.method(), Method::Get | Method::Head) {
        let mut res = Response::new(StatusCode::MethodNotAllowed);
        res.insert_header(ALLOW, "GET, HEAD, OPTIONS");
        return res;
    }
    let Some(root) = site.root() else {
        return not_found();
    };
    let opened = resolve(root, url_path)
        .and_then(|path| Some((open_inside(root, &path)?, path)))
        .or_else(|| {
            // Single-page apps: unknown paths get the app's page.
            let fallback = resolve(root, site.options.default_file.as_deref()?)?;
            let opened = open_inside(root, &fallback)?;
            opened.1.is_file().then_some((opened, fallback))
        });
    let Some(((mut file, mut meta), mut path)) = opened else {
        return not_found();
    };
    if meta.is_dir() {
        // A directory URL without its slash: redirect, so relative links in index.html work.
        if !req.url().path().ends_with('/') {
            // One leading slash only: `//sub/` would be read as the host `sub`.
            let mut target = format!("/{}/", req.url().path().trim_start_matches('/'));
            if let Some(query) = req.url().query() {
                target = format!("{target}?{query}");
            }
            let mut res = Response::new(StatusCode::MovedPermanently);
            res.insert_header(LOCATION, target);
            return res;
        }
        let index = path.join("index.html");
        match open_inside(root, &index) {
            Some((f, m)) if m.is_file() => (file, meta, path) = (f, m, index),
            _ if site.options.directory_listing => return listing(&path, req.url().path()).await,
            _ => return not_found(),
        }
    }
    file_response(site, &path, file, meta, req).await
}

/// 404 with a short text body.
pub(crate) fn not_found() -> Response {
    let mut res = Response::new(StatusCode::NotFound);
    res.set_body("Not Found\n");
    res.set_content_type(http_types::mime::PLAIN);
    res
}

async fn file_response<S>(
    site: &StaticSite,
    path: &Path,
    file: File,
    meta: Metadata,
    req: &tide::Request<S>,
) -> Response {
    let len = meta.len();
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let secs = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // nginx's form: hex seconds and hex length; changes whenever the file does.
    let etag = format!("\"{secs:x}-{len:x}\"");

    let mut res = Response::new(StatusCode::Ok);
    res.insert_header(ETAG, etag.as_str());
    LastModified::new(modified).apply(&mut res);
    res.insert_header(ACCEPT_RANGES, "bytes");
    if let Some(max_age) = site.options.cache_timeout {
        res.insert_header(CACHE_CONTROL, format!("public, max-age={max_age}"));
    }
    if not_modified(req, &etag, secs) {
        res.set_status(StatusCode::NotModified);
        return res;
    }
    res.insert_header(CONTENT_TYPE, media_type(site, path));

    // A single byte range, unless If-Range names another version.
    let range = req
        .header("Range")
        .filter(|_| if_range_matches(req, &etag, secs))
        .map(|v| parse_range(v.as_str(), len));
    let (start, count) = match range {
        Some(RangeAsk::Satisfiable(start, end)) => {
            res.set_status(StatusCode::PartialContent);
            res.insert_header(CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            (start, end - start + 1)
        }
        Some(RangeAsk::Unsatisfiable) => {
            let mut res = Response::new(StatusCode::RequestedRangeNotSatisfiable);
            res.insert_header(CONTENT_RANGE, format!("bytes */{len}"));
            return res;
        }
        Some(RangeAsk::Ignore) | None => (0, len),
    };
    // Small bodies in one read; large ones stream in 64 KiB reads. Both read on this thread,
    // as nginx does: from the page cache a read is a memory copy, cheaper than handing each
    // one to a blocking pool and waking this task again (docs/benchmarks.md has the figures).
    if count <= SMALL_FILE {
        return match read_range(&file, start, count) {
            Ok(bytes) => {
                res.set_body(Body::from_bytes(bytes));
                res
            }
            Err(_) => not_found(),
        };
    }
    let slice = FileSlice {
        file,
        offset: start,
        left: count,
    };
    let reader = BufReader::with_capacity(64 * 1024, slice);
    res.set_body(Body::from_reader(reader, Some(count as usize)));
    res
}

/// A body held in memory (an archive's entry) answered as a file is: ETag and
/// Last-Modified with 304, a single byte range with 206 or 416, Cache-Control.
pub(crate) fn memory_response<S>(
    req: &tide::Request<S>,
    etag: &str,
    modified: std::time::SystemTime,
    media: String,
    body: &std::sync::Arc<Vec<u8>>,
    cache_timeout: Option<u64>,
) -> Response {
    let len = body.len() as u64;
    let secs = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut res = Response::new(StatusCode::Ok);
    res.insert_header(ETAG, etag);
    LastModified::new(modified).apply(&mut res);
    res.insert_header(ACCEPT_RANGES, "bytes");
    if let Some(max_age) = cache_timeout {
        res.insert_header(CACHE_CONTROL, format!("public, max-age={max_age}"));
    }
    if not_modified(req, etag, secs) {
        res.set_status(StatusCode::NotModified);
        return res;
    }
    res.insert_header(CONTENT_TYPE, media);
    let range = req
        .header("Range")
        .filter(|_| if_range_matches(req, etag, secs))
        .map(|v| parse_range(v.as_str(), len));
    let (start, end) = match range {
        Some(RangeAsk::Satisfiable(start, end)) => {
            res.set_status(StatusCode::PartialContent);
            res.insert_header(CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            (start as usize, end as usize + 1)
        }
        Some(RangeAsk::Unsatisfiable) => {
            let mut res = Response::new(StatusCode::RequestedRangeNotSatisfiable);
            res.insert_header(CONTENT_RANGE, format!("bytes */{len}"));
            return res;
        }
        Some(RangeAsk::Ignore) | None => (0, body.len()),
    };
    // Read out of the shared bytes as the client takes them: no copy per response.
    let part = SharedSlice {
        bytes: body.clone(),
        start,
        end,
    };
    res.set_body(Body::from_reader(
        futures_lite::io::Cursor::new(part),
        Some(end - start),
    ));
    res
}

/// `bytes[start..end]`, shared (a cached archive entry read by several clients at once).
struct SharedSlice {
    bytes: std::sync::Arc<Vec<u8>>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for SharedSlice {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }
}

/// `left` bytes of a file from `offset`, read with pread.
struct FileSlice {
    file: File,
    offset: u64,
    left: u64,
}

impl futures_lite::AsyncRead for FileSlice {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::os::unix::fs::FileExt;
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let read = match self.file.read_at(&mut buf[..want], self.offset) {
            // A file cut short while it is sent: an error, so that the connection closes and
            // the client sees the truncation instead of waiting for the promised length.
            Ok(0) if want > 0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                self.offset += n as u64;
                self.left -= n as u64;
                Ok(n)
            }
            Err(e) => Err(e),
        };
        std::task::Poll::Ready(read)
    }
}

/// Bodies up to this size are read in one go.
const SMALL_FILE: u64 = 256 * 1024;

/// Reads `count` bytes of a file from `start`.
fn read_range(file: &File, start: u64, count: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut bytes = vec![0; count as usize];
    file.read_exact_at(&mut bytes, start)?;
    Ok(bytes)
}

/// RFC 9110 §13.1.2: If-None-Match wins over If-Modified-Since.
fn not_modified<S>(req: &tide::Request<S>, etag: &str, secs: u64) -> bool {
    // A malformed header counts as absent, as RFC 9110 §13.1 lets a server treat it.
    if let Ok(Some(if_none_match)) = IfNoneMatch::from_headers(req) {
        // Weak comparison (§13.1.2): `W/` does not matter.
        let want = etag.trim_start_matches("W/").trim_matches('"');
        return if_none_match.wildcard()
            || if_none_match.iter().any(|tag| match tag {
                ETag::Strong(tag) | ETag::Weak(tag) => tag == want,
            });
    }
    match IfModifiedSince::from_headers(req) {
        Ok(Some(since)) => since
            .modified()
            .duration_since(UNIX_EPOCH)
            .map(|d| secs <= d.as_secs())
            .unwrap_or(false),
        _ => false,
    }
}

/// RFC 9110 §13.1.5: a Range applies only if If-Range (when present) names this version.
fn if_range_matches<S>(req: &tide::Request<S>, etag: &str, secs: u64) -> bool {
    let Some(value) = req.header("If-Range") else {
        return true;
    };
    let value = value.as_str().trim();
    if value.starts_with('"') {
        return value == etag;
    }
    let mut probe = http_types::Response::new(StatusCode::Ok);
    probe.insert_header("If-Modified-Since", value);
    match IfModifiedSince::from_headers(&probe) {
        Ok(Some(date)) => date
            .modified()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() == secs)
            .unwrap_or(false),
        _ => false,
    }
}

/// What a `Range` header asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAsk {
    /// Inclusive first and last byte.
    Satisfiable(u64, u64),
    /// A valid range outside the file: 416.
    Unsatisfiable,
    /// Not a single byte range we serve (bad syntax, several ranges): send the whole file.
    Ignore,
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a file of `len` bytes.
pub fn parse_range(header: &str, len: u64) -> RangeAsk {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeAsk::Ignore;
    };
    if spec.contains(',') {
        return RangeAsk::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsk::Ignore;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.is_empty(), number(first), number(last)) {
        // Suffix: the last n bytes.
        (true, _, Some(n)) if n > 0 && len > 0 => {
            RangeAsk::Satisfiable(len.saturating_sub(n), len - 1)
        }
        (true, _, Some(_)) => RangeAsk::Unsatisfiable,
        (false, Some(start), None) if last.is_empty() => {
            if start < len {
                RangeAsk::Satisfiable(start, len - 1)
            } else {
                RangeAsk::Unsatisfiable
            }
        }
        (false, Some(start), Some(end)) if start <= end => {
            if start < len {
                RangeAsk::Satisfiable(start, end.min(len - 1))
            } else {
                RangeAsk::Unsatisfiable
            }
        }
        _ => RangeAsk::Ignore,
    }
}

fn media_type(site: &StaticSite, path: &Path) -> String {
    media_type_of(path, &site.options.mime_types)
}

/// The media type of a file by its extension: `extra` (extension → type) first.
pub(crate) fn media_type_of(path: &Path, extra: &[(String, String)]) -> String {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if let Some((_, media)) = extra.iter().find(|(e, _)| *e == ext) {
        return media.clone();
    }
    let mime = match ext.as_str() {
        "js" | "mjs" => Some("text/javascript; charset=utf-8".to_string()),
        "wasm" => Some("application/wasm".to_string()),
        "webp" => Some("image/webp".to_string()),
        "woff2" => Some("font/woff2".to_string()),
        "txt" | "md" => Some("text/plain; charset=utf-8".to_string()),
        _ => None,
    };
    mime.or_else(|| Mime::from_extension(&ext).map(|m| m.to_string()))
        .unwrap_or_else(|| "application/octet-stream".to_string())
}

async fn listing(dir: &Path, url_path: &str) -> Response {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| {
                let mut name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_dir() {
                    name.push('/');
                }
                name
            })
            .collect(),
        Err(_) => return not_found(),
    };
    names.sort();
    let title = html_escape(url_path);
    let mut html = format!("<!doctype html>\n<meta charset=\"utf-8\">\n<title>Index of {title}</title>\n<h1>Index of {title}</h1>\n<ul>\n");
    for name in names {
        let href: String =
            percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%2F", "/")
                .replace("%2E", ".");
        html.push_str(&format!(
            "<li><a href=\"{href}\">{}</a></li>\n",
            html_escape(&name)
        ));
    }
    html.push_str("</ul>\n");
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(html);
    res.set_content_type(http_types::mime::HTML);
    res
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeAsk::Satisfiable(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeAsk::Satisfiable(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeAsk::Satisfiable(90, 99));
        assert_eq!(
            parse_range("bytes=-1000", 100),
            RangeAsk::Satisfiable(0, 99)
        );
        assert_eq!(
            parse_range("bytes=50-1000", 100),
            RangeAsk::Satisfiable(50, 99)
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAsk::Ignore);
        assert_eq!(parse_range("bytes=9-0", 100), RangeAsk::Ignore);
        assert_eq!(parse_range("items=0-1", 100), RangeAsk::Ignore);
        assert_eq!(parse_range("bytes=+1-2", 100), RangeAsk::Ignore);
        assert_eq!(
            parse_range("bytes=0-99999999999999999999999", 100),
            RangeAsk::Ignore
        );
    }

    #[test]
    fn traversal_is_refused_before_touching_the_disk() {
        let root = std::env::temp_dir().canonicalize().unwrap();
        for bad in [
            "..",
            "a/../..",
            "%2e%2e",
            "%2E%2E/x",
            "a%2f..%2f..",
            "..%5c..",
            "%00",
            "c:",
            "%ff",
        ] {
            assert_eq!(resolve(&root, bad), None, "{bad}");
        }
    }
}
