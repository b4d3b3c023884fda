//! The primitives authentication needs, from aws-lc-rs (rustls' provider): HMAC-SHA256,
//! SHA-256, PBKDF2, Ed25519 verification, random bytes and constant-time comparison.

use aws_lc_rs::{digest, hmac, pbkdf2, rand, signature};
use std::num::NonZeroU32;

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// PBKDF2-HMAC-SHA256; `iterations` 0 is taken as 1, `len` is capped at 1024 bytes.
pub(crate) fn pbkdf2_sha256(secret: &[u8], salt: &[u8], iterations: u64, len: usize) -> Vec<u8> {
    let iterations = u32::try_from(iterations)
        .ok()
        .and_then(NonZeroU32::new)
        .unwrap_or(NonZeroU32::MIN);
    let mut out = vec![0u8; len.clamp(1, 1024)];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        secret,
        &mut out,
    );
    out
}

/// Whether `signature` is `public_key`'s Ed25519 signature of `message`.
pub(crate) fn ed25519_verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let _ = rand::fill(&mut bytes);
    bytes
}

/// `len` random characters of the base64 alphabet (Crossbar's `newid`).
pub(crate) fn random_text(len: usize) -> String {
    let mut bytes = vec![0u8; len.div_ceil(4) * 3];
    let _ = rand::fill(&mut bytes);
    let mut text = data_encoding::BASE64.encode(&bytes);
    text.truncate(len);
    text
}

/// `len` random characters of URL-safe base64, for values that go in URLs and cookies
/// (long-poll transport IDs, cookie values).
pub(crate) fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len.div_ceil(4) * 3];
    let _ = rand::fill(&mut bytes);
    let mut text = data_encoding::BASE64URL_NOPAD.encode(&bytes);
    text.truncate(len);
    text
}

/// Constant-time equality of two secrets (their lengths may show).
pub(crate) fn equal(a: &[u8], b: &[u8]) -> bool {
    #[allow(deprecated)]
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}
