//! WAMP-Cryptosign (spec "WAMP-Cryptosign"): the client names an Ed25519 public key in
//! HELLO, the router sends 32 random bytes, and the client answers with its signature of
//! them followed by the bytes themselves (96 bytes, hex).
//!
//! Channel binding: autobahn knows only `tls-unique`, which TLS 1.3 does not have (RFC
//! 8446, C.5) and rustls does not expose for TLS 1.2 either. A client that asks for a
//! binding is refused, never silently served without one.

use super::crypto;

/// A CHALLENGE's 32 bytes, and their hex for the wire.
pub(super) fn challenge() -> ([u8; 32], String) {
    let bytes = crypto::random_bytes::<32>();
    let hex = data_encoding::HEXLOWER.encode(&bytes);
    (bytes, hex)
}

/// Why a signed answer is not `pubkey`'s signature of `challenge`, if it is not.
pub(super) fn check(pubkey_hex: &str, challenge: &[u8; 32], answer: &str) -> Result<(), String> {
    let signed = data_encoding::HEXLOWER_PERMISSIVE
        .decode(answer.as_bytes())
        .map_err(|_| "the signed message is not hex".to_string())?;
    if signed.len() != 96 {
        return Err(format!(
            "the signed message has {} bytes, not 96",
            signed.len()
        ));
    }
    let pubkey = decode_key(pubkey_hex).ok_or("the public key is not 32 bytes of hex")?;
    let (signature, message) = signed.split_at(64);
    if !crypto::ed25519_verify(&pubkey, message, signature) {
        return Err("the signature is not valid for the public key".into());
    }
    if !crypto::equal(message, challenge) {
        return Err("the signed message is not the challenge sent".into());
    }
    Ok(())
}

/// A 32-byte public key in hex.
pub(super) fn decode_key(hex: &str) -> Option<Vec<u8>> {
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.as_bytes())
        .ok()?;
    (bytes.len() == 32).then_some(bytes)
}
