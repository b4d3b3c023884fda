//! WAMP-CRA (spec "WAMP Challenge-Response Authentication"): the router sends a JSON
//! challenge, the client answers with its HMAC-SHA256 under the shared secret. A salted
//! secret is first stretched with PBKDF2-HMAC-SHA256, by both sides, as autobahn's
//! `derive_key` does.

use super::crypto;
use crate::config::CraSalt;
use serde_json::json;

/// The challenge string Crossbar sends: JSON with Python's default separators, in its
/// key order, so a client that logs or checks it sees the same thing.
pub(super) fn challenge(
    authid: &str,
    authrole: &str,
    authprovider: &str,
    session: u64,
    timestamp: &str,
) -> String {
    let nonce = crypto::random_text(64);
    let parts = [
        ("authid", json!(authid)),
        ("authrole", json!(authrole)),
        ("authmethod", json!("wampcra")),
        ("authprovider", json!(authprovider)),
        ("session", json!(session)),
        ("nonce", json!(nonce)),
        ("timestamp", json!(timestamp)),
    ];
    let fields: Vec<String> = parts.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    format!("{{{}}}", fields.join(", "))
}

/// The signature a client with `secret` gives for `challenge`: base64 of the HMAC, keyed
/// with the secret, or with the base64 text of its PBKDF2 derivation when salted.
pub(super) fn signature(secret: &str, salt: Option<&CraSalt>, challenge: &str) -> String {
    let key = match salt {
        None => secret.to_string(),
        Some(s) => {
            let derived = crypto::pbkdf2_sha256(
                secret.as_bytes(),
                s.salt.as_bytes(),
                s.iterations,
                s.keylen as usize,
            );
            data_encoding::BASE64.encode(&derived)
        }
    };
    data_encoding::BASE64.encode(&crypto::hmac_sha256(key.as_bytes(), challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors recomputed with autobahn-python's `derive_key` and `compute_wcs`.
    const CHALLENGE: &str = r#"{"authid": "joe", "authrole": "frontend", "authmethod": "wampcra", "authprovider": "static", "session": 1234567890123456, "nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "timestamp": "2024-01-02T03:04:05.678Z"}"#;

    #[test]
    fn signatures_match_autobahn() {
        assert_eq!(
            signature("L3L1YUE8Txlw", None, "[1, 2, 3]"),
            "1njQtmmeYO41N5EWEzD2kAjjEKRZ5kPZt/TzpYXOzR0="
        );
        assert_eq!(
            signature("secret2", None, CHALLENGE),
            "yg10FZ7tH0nOUmI6lOn9FadvNYp28YXwd5+S/fOS+Oc="
        );
        let salt = CraSalt {
            salt: "salt123".into(),
            iterations: 100,
            keylen: 16,
        };
        assert_eq!(
            signature("secret2", Some(&salt), CHALLENGE),
            "9DSDh18LU1aJRLOLrlFb3Escybnl9Prl5FYbphvQuxs="
        );
    }

    #[test]
    fn the_challenge_reads_like_crossbars() {
        let text = challenge("joe", "frontend", "static", 42, "2024-01-02T03:04:05.678Z");
        assert!(text.starts_with(r#"{"authid": "joe", "authrole": "frontend", "authmethod": "wampcra", "authprovider": "static", "session": 42, "nonce": ""#));
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(parsed["nonce"].as_str().map(str::len), Some(64));
    }
}
