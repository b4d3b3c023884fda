//! OpenSSL cipher strings (`tls.ciphers`) evaluated against the TLS 1.2 suites rustls offers.
//!
//! Follows OpenSSL's rules (`ciphers(1)`): elements separated by `:`, `,` or spaces; an element
//! is a cipher name or aliases joined by `+` (all must match); a leading `!` removes matches for
//! good, `-` removes them (a later element may add them back), `+` moves them to the end, and
//! no prefix appends those not yet in the list. Names OpenSSL knows but rustls does not offer
//! (DHE, static RSA, CBC, 3DES, …) match nothing, as OpenSSL skips what its build lacks.
//! Evaluating over only the suites rustls offers gives the same result as evaluating over
//! OpenSSL's full table and then dropping what rustls lacks, because every rule acts per suite
//! and keeps relative order. TLS 1.3 suites are not governed by this string, as in OpenSSL.

/// A TLS 1.2 suite that rustls offers, with the properties OpenSSL's aliases select on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// OpenSSL's name for it.
    pub openssl_name: &'static str,
    /// The IANA name, which rustls uses.
    pub iana_name: &'static str,
    /// `true` for ECDSA authentication, `false` for RSA.
    ecdsa: bool,
    /// Bulk cipher: 128 or 256 bit AES-GCM, or 0 for ChaCha20-Poly1305.
    aes_bits: u16,
}

/// rustls' TLS 1.2 suites in OpenSSL's default order (`openssl ciphers -s -tls1_2 ALL`).
pub const TLS12_SUITES: [Suite; 6] = [
    Suite {
        openssl_name: "ECDHE-ECDSA-AES256-GCM-SHA384",
        iana_name: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ecdsa: true,
        aes_bits: 256,
    },
    Suite {
        openssl_name: "ECDHE-RSA-AES256-GCM-SHA384",
        iana_name: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ecdsa: false,
        aes_bits: 256,
    },
    Suite {
        openssl_name: "ECDHE-ECDSA-CHACHA20-POLY1305",
        iana_name: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ecdsa: true,
        aes_bits: 0,
    },
    Suite {
        openssl_name: "ECDHE-RSA-CHACHA20-POLY1305",
        iana_name: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ecdsa: false,
        aes_bits: 0,
    },
    Suite {
        openssl_name: "ECDHE-ECDSA-AES128-GCM-SHA256",
        iana_name: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ecdsa: true,
        aes_bits: 128,
    },
    Suite {
        openssl_name: "ECDHE-RSA-AES128-GCM-SHA256",
        iana_name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ecdsa: false,
        aes_bits: 128,
    },
];

/// Whether an alias (one `+`-joined part of an element) selects `suite`.
fn alias_matches(alias: &str, suite: &Suite) -> bool {
    let aes = suite.aes_bits != 0;
    match alias {
        // Every suite we have: ECDHE key exchange, AEAD, TLS 1.2, strong.
        "ALL" | "DEFAULT" | "HIGH" | "ECDH" | "ECDHE" | "EECDH" | "kECDHE" | "kEECDH" | "kECDH"
        | "AEAD" | "TLSv1.2" | "FIPS" | "COMPLEMENTOFNULL" => true,
        "aRSA" => !suite.ecdsa,
        "aECDSA" | "ECDSA" => suite.ecdsa,
        "AES" | "AESGCM" => aes,
        "AES128" => suite.aes_bits == 128,
        "AES256" => suite.aes_bits == 256,
        "CHACHA20" => !aes,
        // OpenSSL's SHA256/SHA384 select the MAC, and AEAD suites have none.
        _ => suite_name_matches(alias, suite),
    }
}

/// A full cipher name selects only itself; OpenSSL also accepts the IANA `TLS_` names.
fn suite_name_matches(name: &str, suite: &Suite) -> bool {
    name == suite.openssl_name || name == suite.iana_name
}

/// Evaluates an OpenSSL cipher string; returns the selected suites in order, which may be empty.
pub fn evaluate(cipher_string: &str) -> Vec<Suite> {
    let mut active: Vec<Suite> = Vec::new();
    let mut killed: Vec<Suite> = Vec::new();
    let elements = cipher_string
        .split([':', ',', ' ', ';'])
        .map(str::trim)
        .filter(|e| !e.is_empty());
    for element in elements {
        // `@STRENGTH` and `@SECLEVEL=n` reorder or filter by strength; all our suites are equal.
        if element.starts_with('@') {
            continue;
        }
        let (op, body) = match element.as_bytes()[0] {
            b'!' | b'-' | b'+' => (element.as_bytes()[0], &element[1..]),
            _ => (b' ', element),
        };
        let selects = |suite: &Suite| {
            !body.is_empty() && body.split('+').all(|alias| alias_matches(alias, suite))
        };
        match op {
            b'!' => {
                active.retain(|s| !selects(s));
                killed.extend(TLS12_SUITES.iter().filter(|s| selects(s)));
            }
            b'-' => active.retain(|s| !selects(s)),
            b'+' => {
                let (moved, kept): (Vec<Suite>, Vec<Suite>) =
                    active.iter().partition(|s| selects(s));
                active = kept;
                active.extend(moved);
            }
            _ => {
                for suite in TLS12_SUITES.iter().filter(|s| selects(s)) {
                    if !active.contains(suite) && !killed.contains(suite) {
                        active.push(*suite);
                    }
                }
            }
        }
    }
    active
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cipher_string: &str) -> Vec<&'static str> {
        evaluate(cipher_string)
            .iter()
            .map(|s| s.openssl_name)
            .collect()
    }

    // Expected lists are what OpenSSL 3.0.19 prints for `openssl ciphers -s -tls1_2 STRING`,
    // keeping only the suites rustls offers.

    #[test]
    fn crossbar_documented_string_keeps_ecdhe_gcm_in_openssl_order() {
        let s = "ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:ECDH+3DES:DH+3DES:RSA+AES:RSA+3DES:!ADH:!AECDH:!MD5:!DSS";
        assert_eq!(
            names(s),
            [
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES256-GCM-SHA384",
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-RSA-AES128-GCM-SHA256",
            ]
        );
    }

    #[test]
    fn crossbar_default_string_keeps_the_one_rsa_gcm_suite() {
        let s = "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256:DHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA:DHE-RSA-AES128-SHA";
        assert_eq!(names(s), ["ECDHE-RSA-AES128-GCM-SHA256"]);
    }

    #[test]
    fn openssl_rules_table() {
        let all = TLS12_SUITES.map(|s| s.openssl_name).to_vec();
        let table: &[(&str, Vec<&str>)] = &[
            ("ALL", all.clone()),
            ("DEFAULT", all.clone()),
            ("HIGH:!aNULL:!MD5", all.clone()),
            (
                "EECDH+AESGCM:EDH+AESGCM",
                vec![
                    "ECDHE-ECDSA-AES256-GCM-SHA384",
                    "ECDHE-RSA-AES256-GCM-SHA384",
                    "ECDHE-ECDSA-AES128-GCM-SHA256",
                    "ECDHE-RSA-AES128-GCM-SHA256",
                ],
            ),
            (
                "ECDHE+CHACHA20",
                vec![
                    "ECDHE-ECDSA-CHACHA20-POLY1305",
                    "ECDHE-RSA-CHACHA20-POLY1305",
                ],
            ),
            ("aECDSA+AES128", vec!["ECDHE-ECDSA-AES128-GCM-SHA256"]),
            (
                "AES128:AES256",
                vec![
                    "ECDHE-ECDSA-AES128-GCM-SHA256",
                    "ECDHE-RSA-AES128-GCM-SHA256",
                    "ECDHE-ECDSA-AES256-GCM-SHA384",
                    "ECDHE-RSA-AES256-GCM-SHA384",
                ],
            ),
            (
                "ALL:!aRSA",
                vec![
                    "ECDHE-ECDSA-AES256-GCM-SHA384",
                    "ECDHE-ECDSA-CHACHA20-POLY1305",
                    "ECDHE-ECDSA-AES128-GCM-SHA256",
                ],
            ),
            (
                "ALL:-AES:AES128",
                vec![
                    "ECDHE-ECDSA-CHACHA20-POLY1305",
                    "ECDHE-RSA-CHACHA20-POLY1305",
                    "ECDHE-ECDSA-AES128-GCM-SHA256",
                    "ECDHE-RSA-AES128-GCM-SHA256",
                ],
            ),
            (
                "ALL:!AES:AES128",
                vec![
                    "ECDHE-ECDSA-CHACHA20-POLY1305",
                    "ECDHE-RSA-CHACHA20-POLY1305",
                ],
            ),
            (
                "ALL:+AES256",
                vec![
                    "ECDHE-ECDSA-CHACHA20-POLY1305",
                    "ECDHE-RSA-CHACHA20-POLY1305",
                    "ECDHE-ECDSA-AES128-GCM-SHA256",
                    "ECDHE-RSA-AES128-GCM-SHA256",
                    "ECDHE-ECDSA-AES256-GCM-SHA384",
                    "ECDHE-RSA-AES256-GCM-SHA384",
                ],
            ),
            (
                "ECDHE-RSA-AES128-GCM-SHA256,ECDHE-ECDSA-AES128-GCM-SHA256",
                vec![
                    "ECDHE-RSA-AES128-GCM-SHA256",
                    "ECDHE-ECDSA-AES128-GCM-SHA256",
                ],
            ),
            ("SHA256:SHA384", vec![]),
            ("RSA+AES:DHE+AESGCM:3DES:NULL", vec![]),
            ("HIGH:@STRENGTH", all.clone()),
        ];
        for (string, expected) in table {
            assert_eq!(&names(string), expected, "cipher string {string}");
        }
    }

    #[test]
    fn garbage_selects_nothing_and_never_panics() {
        for s in ["", ":::", "!", "+", "-", "+!", "@", "💥", "A+", "+++:!!!"] {
            let _ = evaluate(s);
        }
        assert!(evaluate("NOTACIPHER").is_empty());
    }
}
