//! What an authid that cannot log in is challenged with: a decoy that looks like a real
//! user's challenge, so the answer to a HELLO does not tell who exists. Its salt and KDF
//! parameters are the same on every attempt (a real user's are), derived from the authid
//! and a secret of the node's, kept in the node directory (`wssnode.secret`) so they stay the
//! same across restarts too; and it carries the keys a real user of the method carries.

use crate::config::{AuthMethod, CraSalt, Credential, ScramVerifier};
use crate::wamp::auth::crypto;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The file that keeps the secret, in the node directory.
pub(crate) const SECRET_FILE: &str = "wssnode.secret";

static NODE_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Names the node directory whose secret the decoys are made with (at start).
pub(crate) fn keep_secret_in(dir: &Path) {
    let _ = NODE_DIR.set(dir.to_path_buf());
}

/// The node's secret: read from its file, or made and written there on first use. A node
/// directory that cannot be written gets a secret for this run only (decoys then change
/// at a restart), and says so once.
fn secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(|| {
        let Some(dir) = NODE_DIR.get() else {
            return crypto::random_bytes();
        };
        let file = dir.join(SECRET_FILE);
        if let Some(secret) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| data_encoding::HEXLOWER.decode(text.trim().as_bytes()).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        {
            return secret;
        }
        // None yet, or one that cannot be read back (a crash between creating and writing
        // it): a new one, written whole under another name and moved into place.
        let secret = crypto::random_bytes();
        if let Err(e) = write_private(&file, &data_encoding::HEXLOWER.encode(&secret)) {
            log::warn!(
                "cannot keep the login decoys' secret in {}: {e}; decoy salts will change when the node restarts",
                file.display()
            );
        }
        secret
    })
}

/// Writes `text` to `file`, readable by its owner only: to a temporary file first, then
/// renamed, so the file is never seen half written.
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = file.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(&temporary)?;
    out.write_all(format!("{text}\n").as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&temporary, file)
}

/// `len` hex digits that depend only on the node's secret, `purpose` and `authid`.
fn derived_hex(purpose: &str, authid: &str, len: usize) -> String {
    let mac = crypto::hmac_sha256(secret(), format!("{purpose}\0{authid}").as_bytes());
    let mut hex = data_encoding::HEXLOWER.encode(&mac);
    hex.truncate(len.clamp(8, 64));
    hex
}

/// The role a decoy names: the one most of the method's principals have.
pub(crate) fn role(method: &AuthMethod) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for p in &method.principals {
        match counts.iter_mut().find(|(role, _)| *role == p.role) {
            Some((_, n)) => *n += 1,
            None => counts.push((&p.role, 1)),
        }
    }
    counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .map_or("user", |(role, _)| role)
        .to_string()
}

/// A WAMP-CRA decoy's salt, when the method has salted users (then a real one's would
/// come with `salt`, `iterations` and `keylen`).
pub(crate) fn cra_salt(method: &AuthMethod, authid: &str) -> Option<CraSalt> {
    let like = method.principals.iter().find_map(|p| match &p.credential {
        Credential::Cra { salt: Some(s), .. } => Some(s),
        _ => None,
    })?;
    Some(CraSalt {
        salt: derived_hex("wampcra-salt", authid, like.salt.len()),
        iterations: like.iterations,
        keylen: like.keylen,
    })
}

/// A SCRAM decoy's verifier: the KDF and its parameters of the method's first principal
/// (argon2id-13 with Crossbar's defaults when there is none), a derived salt, and keys no
/// answer matches.
pub(crate) fn scram_verifier(method: &AuthMethod, authid: &str) -> ScramVerifier {
    let like = method.principals.iter().find_map(|p| match &p.credential {
        Credential::Scram(v) => Some(v),
        _ => None,
    });
    let (kdf, iterations, memory, salt_len) = like.map_or(("argon2id-13", 4096, 512, 32), |v| {
        (v.kdf.as_str(), v.iterations, v.memory, v.salt.len())
    });
    ScramVerifier {
        kdf: kdf.to_string(),
        iterations,
        memory,
        salt: derived_hex("scram-salt", authid, salt_len),
        stored_key: vec![0; 32],
        server_key: vec![0; 32],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoy_salt_is_the_same_for_an_authid_and_differs_between_authids() {
        assert_eq!(
            derived_hex("scram-salt", "nobody", 32),
            derived_hex("scram-salt", "nobody", 32)
        );
        assert_ne!(
            derived_hex("scram-salt", "nobody", 32),
            derived_hex("scram-salt", "somebody", 32)
        );
        assert_eq!(
            derived_hex("wampcra-salt", "x", 7).len(),
            8,
            "never shorter than 8"
        );
    }
}
