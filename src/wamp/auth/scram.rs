//! WAMP-SCRAM (the WAMP spec's draft, as Crossbar and autobahn-python implement it): the
//! router keeps only `stored-key` and `server-key`, derived from the password with argon2id
//! (or PBKDF2) by the client; a proof of the password crosses the wire, never the password.
//!
//! AuthMessage = "n=" authid ",r=" client-nonce ",r=" nonce ",s=" salt ",i=" iterations
//! ",c=" ",r=" nonce, with nonces and salt in base64 (the draft's form, not RFC 5802's:
//! no GS2 header, and `c=` empty as no channel binding is offered).

use super::crypto;
use crate::config::ScramVerifier;
use serde_json::{json, Value};

/// What the router remembers between CHALLENGE and AUTHENTICATE.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    auth_message: String,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

/// The CHALLENGE extra for a client nonce, and the exchange to check the answer with.
/// `Err` says what is wrong with the client's nonce.
pub(super) fn challenge(
    authid: &str,
    client_nonce: &str,
    verifier: &ScramVerifier,
) -> Result<(Value, Exchange), String> {
    let client_raw = data_encoding::BASE64
        .decode(client_nonce.as_bytes())
        .map_err(|_| "the client nonce is not base64".to_string())?;
    if client_raw.is_empty() {
        return Err("the client nonce is empty".into());
    }
    let mut nonce_raw = client_raw.clone();
    nonce_raw.extend_from_slice(&crypto::random_bytes::<16>());
    let nonce = data_encoding::BASE64.encode(&nonce_raw);
    // The config's salt is hex; the wire's is base64 of the same bytes.
    let salt_raw = data_encoding::HEXLOWER_PERMISSIVE
        .decode(verifier.salt.as_bytes())
        .unwrap_or_else(|_| verifier.salt.as_bytes().to_vec());
    let salt = data_encoding::BASE64.encode(&salt_raw);
    let client = data_encoding::BASE64.encode(&client_raw);
    let auth_message = format!(
        "n={authid},r={client},r={nonce},s={salt},i={},c=,r={nonce}",
        verifier.iterations
    );
    let extra = json!({
        "nonce": nonce,
        "kdf": verifier.kdf,
        "salt": salt,
        "iterations": verifier.iterations,
        "memory": verifier.memory,
    });
    let exchange = Exchange {
        auth_message,
        stored_key: verifier.stored_key.clone(),
        server_key: verifier.server_key.clone(),
    };
    Ok((extra, exchange))
}

/// Checks the client's proof; on success, the server signature for WELCOME's authextra.
pub(super) fn check(exchange: &Exchange, proof: &str) -> Result<String, String> {
    let proof = data_encoding::BASE64
        .decode(proof.as_bytes())
        .map_err(|_| "the proof is not base64".to_string())?;
    let client_signature =
        crypto::hmac_sha256(&exchange.stored_key, exchange.auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return Err(format!("the proof has {} bytes, not 32", proof.len()));
    }
    let client_key: Vec<u8> = proof
        .iter()
        .zip(&client_signature)
        .map(|(a, b)| a ^ b)
        .collect();
    if !crypto::equal(&crypto::sha256(&client_key), &exchange.stored_key) {
        return Err("the proof does not match the stored key".into());
    }
    let server_signature =
        crypto::hmac_sha256(&exchange.server_key, exchange.auth_message.as_bytes());
    Ok(data_encoding::BASE64.encode(&server_signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        data_encoding::HEXLOWER
            .decode(text.as_bytes())
            .expect("hex")
    }

    /// A full exchange recomputed with autobahn-python (argon2id-13, t=4096, m=512).
    #[test]
    fn an_autobahn_proof_is_accepted() {
        let verifier = ScramVerifier {
            kdf: "argon2id-13".into(),
            iterations: 4096,
            memory: 512,
            salt: "ff8d9819fc0e12bf0d24892e45987e24".into(),
            stored_key: hex("a7f4f4b9458b859252ba0a0b0c10cdf24b68d6ab257704b65049cfa92e9428a1"),
            server_key: hex("dd13f08d5bd56df06d8306d18fbb576296e0595910fc7afc2aaaa28138448d0a"),
        };
        let (extra, mut exchange) =
            challenge("alice@example.com", "AAECAwQFBgcICQoLDA0ODw==", &verifier).expect("nonce");
        assert_eq!(extra["salt"], "/42YGfwOEr8NJIkuRZh+JA==");
        // The vector's server nonce instead of our random one.
        let nonce = "AAECAwQFBgcICQoLDA0OD2RlZmdoaWprbG1ub3BxcnM=";
        exchange.auth_message = format!(
            "n=alice@example.com,r=AAECAwQFBgcICQoLDA0ODw==,r={nonce},s=/42YGfwOEr8NJIkuRZh+JA==,i=4096,c=,r={nonce}"
        );
        assert_eq!(
            check(&exchange, "EQKM/g8xhxSjgEfx6SktWU6guHCS1RkdULbgrSrz/mQ=").as_deref(),
            Ok("4pzCtluJrDHS3ZxnJcVrI4M2oHc8kYuwQkAqdOAf6Sc=")
        );
        assert!(check(&exchange, "FQKM/g8xhxSjgEfx6SktWU6guHCS1RkdULbgrSrz/mQ=").is_err());
        assert!(check(&exchange, "c2hvcnQ=").is_err());
    }
}
