//! Fuzz target: no URL path opens anything outside the served directory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A served directory with a file inside and a secret beside it.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("wssnode-fuzz-{}", std::process::id()));
        let www = base.join("www");
        std::fs::create_dir_all(www.join("sub")).unwrap();
        std::fs::write(www.join("index.html"), "ok").unwrap();
        std::fs::write(www.join("sub/a.txt"), "ok").unwrap();
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        let _ = std::os::unix::fs::symlink(base.join("secret.txt"), www.join("link.txt"));
        www.canonicalize().unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(path) = std::str::from_utf8(data) {
        if let Some(resolved) = wssnode::http::static_files::resolve(root(), path) {
            assert!(resolved.starts_with(root()), "{path:?} resolved to {}", resolved.display());
            if let Some((_, meta)) = wssnode::http::static_files::open_inside(root(), &resolved) {
                // Only the two files and the directories inside the root can open.
                assert!(meta.is_dir() || meta.len() == 2, "{path:?} opened {}", resolved.display());
            }
        }
    }
});
