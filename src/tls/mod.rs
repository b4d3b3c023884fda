//! TLS for an endpoint: PEM key and chain, cipher suites, key exchange groups, client
//! certificates, and the start-up checks an operator wants (expiry, missing intermediate).
//!
//! Implements the `tls` options of Crossbar's "Secure WebSocket and HTTPS" page on rustls:
//! TLS 1.2 and 1.3 only, ECDHE with AEAD only. `dhparam` is checked and reported: rustls
//! has no finite-field DH, and every suite offered uses ECDHE, so forward secrecy holds.

pub(crate) mod acme;
pub mod ciphers;
pub mod selfsigned;

use crate::config::error::StartError;
use crate::config::{NamedFile, TlsFiles};
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// A ready TLS configuration and what an operator should know about it.
pub struct TlsSetup {
    /// The rustls server configuration.
    pub config: Arc<ServerConfig>,
    /// The certificate holder, so SIGHUP can swap in renewed files (none with ACME).
    pub certs: Option<Arc<ReloadableCert>>,
    /// The ACME client that obtains and renews the certificate, to be run by the node.
    pub acme: Option<Arc<crate::tls::acme::Acme>>,
    /// One line: versions, suites, key exchange, client-certificate mode.
    pub summary: String,
    /// Things that work but deserve attention (expiry soon, missing intermediate, dhparam).
    pub warnings: Vec<String>,
}

/// Serves the current certificate; `replace` swaps it for new connections only.
#[derive(Debug)]
pub struct ReloadableCert(RwLock<Arc<CertifiedKey>>);

impl ReloadableCert {
    /// Installs a new certificate and key for connections accepted from now on.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        if let Ok(mut slot) = self.0.write() {
            *slot = key;
        }
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|key| key.clone())
    }
}

/// The crypto provider: aws-lc-rs with our suites and key exchange groups.
fn provider(tls12: &[ciphers::Suite]) -> CryptoProvider {
    let base = aws_lc_rs::default_provider();
    let tls13 = base
        .cipher_suites
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .copied();
    let tls12 = tls12.iter().filter_map(|wanted| {
        base.cipher_suites
            .iter()
            .find(|s| s.suite().as_str() == Some(wanted.iana_name))
            .copied()
    });
    use aws_lc_rs::kx_group::{SECP256R1, SECP384R1, X25519, X25519MLKEM768};
    CryptoProvider {
        cipher_suites: tls13.chain(tls12).collect(),
        kx_groups: vec![X25519MLKEM768, X25519, SECP256R1, SECP384R1],
        ..base
    }
}

/// Builds the TLS configuration for one endpoint from its files.
pub fn setup(files: &TlsFiles) -> Result<TlsSetup, StartError> {
    let mut warnings = Vec::new();

    // Choose the TLS 1.2 suites: the cipher string if given, else all ECDHE+AEAD suites.
    let tls12 = match &files.ciphers {
        Some(string) => {
            let chosen = ciphers::evaluate(string);
            if chosen.is_empty() {
                return Err(StartError::Key {
                    file: files.config_file.clone(),
                    json_path: format!("{}.ciphers", files.json_path),
                    problem: format!("`{string}` selects none of the TLS 1.2 suites wssnode offers ({}); include e.g. `ECDHE+AESGCM`", ciphers::TLS12_SUITES.map(|s| s.openssl_name).join(", ")),
                });
            }
            chosen
        }
        None => ciphers::TLS12_SUITES.to_vec(),
    };
    let provider = Arc::new(provider(&tls12));

    if let Some(dhparam) = &files.dhparam {
        check_dhparam(dhparam)?;
        warnings.push(format!("`{}`: rustls offers no finite-field DH, so DHE suites are not offered; every suite offered uses ECDHE, so forward secrecy holds", dhparam.json_path));
    }

    if let Some(settings) = &files.acme {
        return setup_acme(files, settings, provider, warnings);
    }
    // Load the key and the chain; check they belong together.
    let key = load_key(&files.key)?;
    let chain = load_chain(files)?;
    let mut known_roots = Vec::new();
    for ca in &files.ca_certificates {
        known_roots.extend(ca.certificates()?);
    }
    warnings.extend(check_chain(&files.certificate, &chain, &known_roots));
    let certified = certified_key(files, chain, key, &provider)?;
    let certs = Arc::new(ReloadableCert(RwLock::new(Arc::new(certified))));
    let (config, summary) = server_config(files, provider, certs.clone(), &[])?;
    Ok(TlsSetup {
        config,
        certs: Some(certs),
        acme: None,
        summary,
        warnings,
    })
}

/// The TLS configuration of an `acme` endpoint: the certificate comes from the ACME client
/// (and, to the CA's validation, the TLS-ALPN-01 challenge's).
fn setup_acme(
    files: &TlsFiles,
    settings: &crate::config::AcmeSettings,
    provider: Arc<CryptoProvider>,
    warnings: Vec<String>,
) -> Result<TlsSetup, StartError> {
    let acme = Arc::new(crate::tls::acme::Acme::prepare(settings)?);
    let alpn = [crate::tls::acme::ACME_TLS_ALPN.to_vec()];
    let (config, summary) = server_config(files, provider, acme.resolver(), &alpn)?;
    Ok(TlsSetup {
        config,
        certs: None,
        acme: Some(acme),
        summary: format!("{summary}; certificate from ACME ({})", settings.directory),
        warnings,
    })
}

/// The server configuration around a certificate resolver: versions, client certificates,
/// ALPN (plus `extra_alpn`), session tickets; and its one-line summary.
fn server_config(
    files: &TlsFiles,
    provider: Arc<CryptoProvider>,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    extra_alpn: &[Vec<u8>],
) -> Result<(Arc<ServerConfig>, String), StartError> {
    // Client certificates, when `ca_certificates` is given.
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| files.key.error(format!("TLS setup failed: {e}")))?;
    let (builder, client_mode) = if files.ca_certificates.is_empty() {
        (builder.with_no_client_auth(), "off".to_string())
    } else {
        let mut roots = RootCertStore::empty();
        for ca in &files.ca_certificates {
            let certs = ca.certificates()?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| ca.error(format!("not a usable CA certificate: {e}")))?;
            }
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| {
                    files.ca_certificates[0]
                        .error(format!("cannot verify clients with these CAs: {e}"))
                })?;
        let names: Vec<&str> = files
            .ca_certificates
            .iter()
            .map(|f| f.named.as_str())
            .collect();
        (
            builder.with_client_cert_verifier(verifier),
            format!("required (issued by {})", names.join(", ")),
        )
    };
    let mut config = builder.with_cert_resolver(resolver);
    // With an explicit cipher string the operator's order is the preference, as nginx's
    // ssl_prefer_server_ciphers; otherwise the client's order (it knows its hardware).
    config.ignore_client_order = files.ciphers.is_some();
    // http/1.0 too, as nginx does: a client that offers only it (`curl --http1.0`) would
    // otherwise fail the handshake with "no application protocol"; ours comes first.
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    config.alpn_protocols.extend(extra_alpn.iter().cloned());
    // Session tickets (TLS 1.2 and 1.3): a returning client resumes without a new signature,
    // as nginx does by default. Keys rotate every 6 hours.
    config.ticketer = aws_lc_rs::Ticketer::new().map_err(|e| {
        files
            .key
            .error(format!("cannot set up TLS session tickets: {e}"))
    })?;

    let suites: Vec<&str> = provider
        .cipher_suites
        .iter()
        .filter_map(|s| s.suite().as_str())
        .collect();
    let summary = format!(
        "TLS 1.2, 1.3; suites {}; key exchange X25519MLKEM768, X25519, P-256, P-384; client certificates {client_mode}",
        suites.join(" ")
    );
    Ok((Arc::new(config), summary))
}

/// Loads the key and certificate again (for SIGHUP): same checks, new value.
pub fn reload_key(files: &TlsFiles) -> Result<Arc<CertifiedKey>, StartError> {
    let provider = provider(&ciphers::TLS12_SUITES);
    let key = load_key(&files.key)?;
    let chain = load_chain(files)?;
    Ok(Arc::new(certified_key(files, chain, key, &provider)?))
}

/// The served chain: the certificate file's blocks, then `chain_certificates`.
fn load_chain(files: &TlsFiles) -> Result<Vec<CertificateDer<'static>>, StartError> {
    let mut chain = files.certificate.certificates()?;
    for extra in &files.chain_certificates {
        chain.extend(extra.certificates()?);
    }
    Ok(chain)
}

fn certified_key(
    files: &TlsFiles,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, StartError> {
    CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => files.key.error(format!(
            "this private key does not belong to the certificate in `{}`; give the key the certificate was issued for",
            files.certificate.named
        )),
        other => files.key.error(format!("cannot use this key: {other}")),
    })
}

/// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(file: &NamedFile) -> Result<PrivateKeyDer<'static>, StartError> {
    let bytes = file.read()?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(file.error(format!(
            "the key is encrypted with a passphrase, which a server cannot type; decrypt it with `openssl pkey -in {0} -out {0}.plain` and name the plain file (mode 0600)",
            file.named
        )));
    }
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => file.error(
            "holds no PEM private key (`-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`); a DER key converts with `openssl pkey -inform DER -in KEY -out key.pem`",
        ),
        other => file.error(format!("is not a valid PEM private key: {other}")),
    })
}

fn check_dhparam(file: &NamedFile) -> Result<(), StartError> {
    let bytes = file.read()?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("-----BEGIN DH PARAMETERS-----")
        || text.contains("-----BEGIN X9.42 DH PARAMETERS-----")
    {
        Ok(())
    } else {
        Err(file.error("is not a PEM `DH PARAMETERS` file (make one with `openssl dhparam -out dhparam.pem 2048`, or remove the key: wssnode uses ECDHE only)"))
    }
}

/// Warnings about the served chain: validity, and the classic missing intermediate (not
/// when the issuer is a self-signed root among `known_roots`, the `ca_certificates`).
pub fn check_chain(
    file: &NamedFile,
    chain: &[CertificateDer<'static>],
    known_roots: &[CertificateDer<'static>],
) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(leaf_der) = chain.first() else {
        return warnings;
    };
    let Ok((_, leaf)) = x509_parser::parse_x509_certificate(leaf_der) else {
        warnings.push(format!(
            "`{}`: the first certificate cannot be parsed as X.509",
            file.json_path
        ));
        return warnings;
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    let not_after = leaf.validity().not_after;
    let seconds_left = not_after.timestamp() - now;
    if seconds_left < 0 {
        warnings.push(format!(
            "`{}`: the certificate expired on {not_after}; clients will refuse it: renew it",
            file.json_path
        ));
    } else if seconds_left < 30 * 24 * 3600 {
        warnings.push(format!(
            "`{}`: the certificate expires on {not_after}, in {} days: renew it",
            file.json_path,
            seconds_left / 86_400
        ));
    }
    if leaf.validity().not_before.timestamp() > now {
        warnings.push(format!(
            "`{}`: the certificate is not valid before {}",
            file.json_path,
            leaf.validity().not_before
        ));
    }
    let self_signed = leaf.subject() == leaf.issuer();
    let issuer_served = chain[1..].iter().any(|der| {
        x509_parser::parse_x509_certificate(der)
            .map(|(_, c)| c.subject() == leaf.issuer())
            .unwrap_or(false)
    });
    let issuer_is_known_root = known_roots.iter().any(|der| {
        x509_parser::parse_x509_certificate(der)
            .map(|(_, c)| c.subject() == leaf.issuer() && c.subject() == c.issuer())
            .unwrap_or(false)
    });
    if !self_signed && !issuer_served && !issuer_is_known_root {
        warnings.push(format!(
            "`{}`: the file holds only the server certificate, and its issuer `{issuer}` is not served. If `{issuer}` is a root CA your clients trust (one you made yourself, say), ignore this; if it is an intermediate (as public CAs use), clients that lack it will fail: append it after the certificate (or list it in `chain_certificates`)",
            file.json_path,
            issuer = leaf.issuer()
        ));
    }
    warnings
}

/// Lower-case hex digest of `data`, as fingerprints are written in configs.
pub fn fingerprint(algorithm: &'static ::aws_lc_rs::digest::Algorithm, data: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(::aws_lc_rs::digest::digest(algorithm, data).as_ref())
}
