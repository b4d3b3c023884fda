//! The `archive` path type (Crossbar's "Web Archive" service): files served out of a ZIP
//! archive, with what `static` gives and Crossbar's archive lacks: ETag and 304, byte
//! ranges, and no way out through the names inside the archive (`../`, absolute names and
//! the like are never served).
//!
//! The archive's directory is read once at start-up; an entry is decompressed when first
//! asked for (on a blocking thread) and, with `cache`, kept in memory up to `CACHE_MAX_BYTES`.

use crate::config::error::StartError;
use crate::config::ArchiveOptions;
use crate::http::static_files::{memory_response, not_found};
use crate::lock;
use http_types::Method;
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tide::{Request, Response, StatusCode};

/// Entries larger than this (uncompressed) are not served: a ZIP's sizes are the writer's
/// word, and this bounds what one request can make the node decompress.
const ENTRY_MAX_BYTES: u64 = 64 << 20;

/// What `cache` keeps in memory, at most, per archive path.
const CACHE_MAX_BYTES: usize = 256 << 20;

/// An entry of the archive that may be served.
#[derive(Debug, Clone, Copy)]
struct Entry {
    index: usize,
    size: u64,
    crc32: u32,
}

/// An archive path, ready to serve.
pub struct Archive {
    options: ArchiveOptions,
    zip: Mutex<zip::ZipArchive<std::fs::File>>,
    entries: HashMap<String, Entry>,
    modified: SystemTime,
    cache: Mutex<Cache>,
}

/// Entries kept in memory (with `cache`), and their bytes in all.
#[derive(Default)]
struct Cache {
    entries: HashMap<String, Arc<Vec<u8>>>,
    bytes: usize,
}

/// Whether a name inside an archive is one a URL may reach: relative, `/`-separated, with
/// no empty, `.` or `..` component, no backslash, NUL or drive letter.
pub fn servable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains(['\\', '\0'])
        && !name
            .split('/')
            .next()
            .is_some_and(|first| first.contains(':'))
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// The name a request path asks for inside the archive: percent-decoded, with
/// `default_object` for the path itself or a name ending in `/`, under `object_prefix`.
/// `None` when the path could not name a servable entry.
pub fn name_for(options: &ArchiveOptions, url_path: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(url_path)
        .decode_utf8()
        .ok()?;
    let mut name = decoded.trim_start_matches('/').to_string();
    if name.is_empty() || name.ends_with('/') {
        name.push_str(options.default_object.as_deref().unwrap_or(""));
    }
    if let Some(prefix) = options.object_prefix.as_deref().filter(|p| !p.is_empty()) {
        name = format!("{}/{name}", prefix.trim_end_matches('/'));
    }
    servable_name(&name).then_some(name)
}

impl Archive {
    /// Opens the archive and reads its directory; checks its fingerprint against `hashes`.
    pub fn open(options: ArchiveOptions) -> Result<Archive, StartError> {
        let file = &options.archive;
        if !file.path.exists() {
            let how = match &options.origin {
                Some(origin) => format!("download it first (curl -L -o {} {origin}); wssnode does not download archives", file.named),
                None => "put the ZIP file there".to_string(),
            };
            return Err(file.error(format!("the archive does not exist: {how}")));
        }
        let bytes_error = |e: std::io::Error| file.error(format!("cannot read the archive: {e}"));
        if !options.hashes.is_empty() {
            let bytes = std::fs::read(&file.path).map_err(bytes_error)?;
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
            let hex = data_encoding::HEXLOWER.encode(digest.as_ref());
            if !options.hashes.contains(&hex) {
                return Err(file.error(format!(
                    "the archive's SHA-256 is {hex}, none of `hashes`: a different file than the config expects"
                )));
            }
        }
        let handle = std::fs::File::open(&file.path).map_err(bytes_error)?;
        let modified = handle
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut zip = zip::ZipArchive::new(handle)
            .map_err(|e| file.error(format!("is not a ZIP archive wssnode can read: {e}")))?;
        let mut entries = HashMap::new();
        let mut refused = Vec::new();
        for index in 0..zip.len() {
            let Ok(entry) = zip.by_index_raw(index) else {
                continue;
            };
            if entry.is_dir() {
                continue;
            }
            let Ok(name) = entry.name().map(|n| n.to_string()) else {
                continue;
            };
            if !servable_name(&name) || entry.size() > ENTRY_MAX_BYTES {
                refused.push(name);
                continue;
            }
            let size = entry.size();
            let crc32 = entry.crc32();
            entries.insert(name, Entry { index, size, crc32 });
        }
        if !refused.is_empty() {
            log::warn!(
                "`{}`: {} entries of {} are never served (names that leave the archive, or over {} MiB): {}",
                file.json_path,
                refused.len(),
                file.named,
                ENTRY_MAX_BYTES >> 20,
                refused.join(", ")
            );
        }
        Ok(Archive {
            options,
            zip: Mutex::new(zip),
            entries,
            modified,
            cache: Mutex::default(),
        })
    }

    /// Answers a GET or HEAD for `url_path` (relative to the mount point).
    pub async fn serve<S>(self: &Arc<Self>, url_path: &str, req: &Request<S>) -> Response {
        match req.method() {
            Method::Get | Method::Head => {}
            Method::Options => {
                let mut res = Response::new(StatusCode::NoContent);
                res.insert_header("Allow", "GET, HEAD, OPTIONS");
                return res;
            }
            _ => {
                let mut res = Response::new(StatusCode::MethodNotAllowed);
                res.insert_header("Allow", "GET, HEAD, OPTIONS");
                return res;
            }
        }
        let found = name_for(&self.options, url_path)
            .and_then(|name| Some((self.entries.get(&name).copied()?, name)))
            .or_else(|| {
                // Single-page apps: unknown names get the app's page.
                let name = name_for(&self.options, self.options.default_file.as_deref()?)?;
                Some((self.entries.get(&name).copied()?, name))
            });
        let Some((entry, name)) = found else {
            return not_found();
        };
        let body = match self.read(entry, &name).await {
            Ok(body) => body,
            Err(e) => {
                log::warn!(
                    "`{}`: cannot read {name}: {e}",
                    self.options.archive.json_path
                );
                return not_found();
            }
        };
        // The entry's CRC and size: changes whenever its contents do.
        let etag = format!("\"{:x}-{:x}\"", entry.crc32, entry.size);
        let media = self.media_type(&name);
        memory_response(
            req,
            &etag,
            self.modified,
            media,
            &body,
            self.options.cache_timeout,
        )
    }

    /// The entry's bytes: from the cache, or decompressed on a blocking thread.
    async fn read(self: &Arc<Self>, entry: Entry, name: &str) -> std::io::Result<Arc<Vec<u8>>> {
        if let Some(bytes) = lock(&self.cache).entries.get(name) {
            return Ok(bytes.clone());
        }
        let archive = self.clone();
        let bytes = async_std::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut zip = lock(&archive.zip);
            let file = zip.by_index(entry.index).map_err(std::io::Error::other)?;
            let mut bytes = Vec::with_capacity(entry.size as usize);
            // No more than the directory said, whatever the compressed stream holds; read to
            // the end, where the zip reader checks the CRC-32.
            file.take(entry.size + 1).read_to_end(&mut bytes)?;
            if bytes.len() as u64 != entry.size {
                return Err(std::io::Error::other(
                    "the entry is not the size the archive's directory says",
                ));
            }
            Ok(bytes)
        })
        .await?;
        let bytes = Arc::new(bytes);
        if self.options.cache {
            let mut cache = lock(&self.cache);
            if !cache.entries.contains_key(name) && cache.bytes + bytes.len() <= CACHE_MAX_BYTES {
                cache.bytes += bytes.len();
                cache.entries.insert(name.to_string(), bytes.clone());
            }
        }
        Ok(bytes)
    }

    /// By `mime_types` (longest ending first), then as `static` does.
    fn media_type(&self, name: &str) -> String {
        let lower = name.to_ascii_lowercase();
        for (ending, media) in &self.options.mime_types {
            if lower.ends_with(ending.as_str()) {
                return media.clone();
            }
        }
        crate::http::static_files::media_type_of(std::path::Path::new(name), &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_archive_are_never_servable() {
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "a//b",
            "./a",
            "C:/x",
            "a\\..\\b",
            "a\0b",
            "",
        ] {
            assert!(!servable_name(bad), "{bad:?}");
        }
        for good in ["index.html", "js/app.min.js", "a/b/c..d"] {
            assert!(servable_name(good), "{good}");
        }
    }
}
