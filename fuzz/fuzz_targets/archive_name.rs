//! Fuzz target: any request path under an `archive` path resolves to no name, or to a name
//! inside the archive: relative, without `.` or `..` components, backslashes or NULs, under
//! the configured `object_prefix`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wssnode::http::archive::{name_for, servable_name};
use wssnode::config::{ArchiveOptions, NamedFile};

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else { return };
    let options = ArchiveOptions {
        archive: NamedFile {
            json_path: "paths.app.archive".into(),
            named: "app.zip".into(),
            path: "app.zip".into(),
        },
        origin: None,
        cache: false,
        default_object: Some("index.html".into()),
        object_prefix: Some("dist".into()),
        mime_types: Vec::new(),
        hashes: Vec::new(),
        default_file: None,
        cache_timeout: None,
    };
    if let Some(name) = name_for(&options, path) {
        assert!(servable_name(&name), "{name:?}");
        assert!(name.starts_with("dist/"), "{name:?}");
        assert!(!name.split('/').any(|part| part == ".." || part == "."), "{name:?}");
        assert!(!name.contains('\\') && !name.contains('\0'), "{name:?}");
    }
});
