//! Reading the `archive` path type (Crossbar's "Web Archive" service: files out of a ZIP).

use super::super::json::{kind, quote_key, Obj};
use super::super::ArchiveOptions;
use super::Reader;
use crate::config::error::StartError;
use serde_json::Value;

impl Reader<'_> {
    pub(in crate::config) fn archive(
        &self,
        key: &str,
        path: &Obj<'_, '_>,
    ) -> Result<ArchiveOptions, StartError> {
        path.allow("id");
        let named = path.required_str("archive")?;
        let mut out = ArchiveOptions {
            archive: self.resolve(&format!("{key}.archive"), named),
            origin: path.str("origin")?.map(str::to_string),
            cache: path.bool("cache")?.unwrap_or(false),
            default_object: path.str("default_object")?.map(str::to_string),
            object_prefix: path.str("object_prefix")?.map(str::to_string),
            mime_types: Vec::new(),
            hashes: Vec::new(),
            default_file: None,
            cache_timeout: Some(43_200),
        };
        // Checked at start-up: the archive must be there (wssnode downloads nothing).
        path.bool("download")?;
        if let Some(value) = path.get("mime_types") {
            let types = self.obj(&format!("{key}.mime_types"), value)?;
            for (ending, media) in types.map {
                let Value::String(media) = media else {
                    return Err(self.error(
                        &format!("{key}.mime_types.{}", quote_key(ending)),
                        format!("must be a media type string, not {}", kind(media)),
                    ));
                };
                let ending = format!(".{}", ending.trim_start_matches('.')).to_ascii_lowercase();
                out.mime_types.push((ending, media.clone()));
            }
            // The longest ending first: `.min.js` before `.js`.
            out.mime_types
                .sort_by_key(|(ending, _)| std::cmp::Reverse(ending.len()));
        }
        for (i, hash) in path.array_or_empty("hashes")?.iter().enumerate() {
            let hash_key = format!("{key}.hashes[{i}]");
            match hash.as_str() {
                Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    out.hashes.push(hex.to_ascii_lowercase())
                }
                _ => {
                    return Err(
                        self.error(&hash_key, "must be a SHA-256 fingerprint: 64 hex digits")
                    )
                }
            }
        }
        if let Some(value) = path.get("options") {
            let options = self.obj(&format!("{key}.options"), value)?;
            out.default_file = options.str("default_file")?.map(str::to_string);
            match options.get("cache_timeout") {
                None => {}
                Some(Value::Null) => out.cache_timeout = None,
                Some(_) => out.cache_timeout = options.u64("cache_timeout")?,
            }
            options.done();
        }
        Ok(out)
    }
}
