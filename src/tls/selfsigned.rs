//! Self-signed certificates for a fresh node directory (`wssnode init`, or a `tls` whose
//! two files are both missing): ECDSA P-256 for `localhost`, `127.0.0.1` and `::1`.

use crate::config::error::StartError;
use crate::config::TlsFiles;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// What to do about the key and certificate files a `tls` object names.
pub enum Presence {
    /// Both exist: use them.
    Both,
    /// Neither exists: generate a self-signed pair.
    Neither,
}

/// Checks that the key and certificate are both present or both absent.
pub fn presence(files: &TlsFiles) -> Result<Presence, StartError> {
    match (files.key.path.exists(), files.certificate.path.exists()) {
        (true, true) => Ok(Presence::Both),
        (false, false) => Ok(Presence::Neither),
        (true, false) => Err(files.certificate.error("is missing while its key exists; put the certificate there, or remove the key too and wssnode generates a self-signed pair")),
        (false, true) => Err(files.key.error("is missing while its certificate exists; put the key there, or remove the certificate too and wssnode generates a self-signed pair")),
    }
}

/// Generates a self-signed pair at the two paths; returns the certificate's SHA-256 fingerprint.
pub fn generate(key_path: &Path, cert_path: &Path) -> Result<String, String> {
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let pair = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
    write_file(key_path, pair.signing_key.serialize_pem().as_bytes(), 0o600)?;
    write_file(cert_path, pair.cert.pem().as_bytes(), 0o644)?;
    Ok(colon_hex(&crate::tls::fingerprint(
        &aws_lc_rs::digest::SHA256,
        pair.cert.der(),
    )))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
    file.write_all(bytes)
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// `abcd…` → `AB:CD:…`, the way browsers and `openssl x509 -fingerprint` show it.
pub fn colon_hex(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}
