//! Certificates that take care of themselves: an endpoint whose `tls` has `acme` gets its
//! certificate from an ACME CA (Let's Encrypt, or any RFC 8555 server) with the TLS-ALPN-01
//! challenge on its own port, keeps the account and certificate in its cache directory
//! (files 0600, directory 0700), serves a cached certificate at once on restart, and renews
//! when a third of the lifetime is left, without a restart and without dropping
//! connections. The ACME client is `rustls-acme`; this module gives it the node's cache,
//! CA roots and log lines.

use crate::config::error::StartError;
use crate::config::AcmeSettings;
use crate::runtime::lifecycle::Lifecycle;
use futures_lite::StreamExt;
use rustls_acme::caches::CompositeCache;
use rustls_acme::{
    AccountCache, AcmeConfig, AcmeState, CertCache, EventOk, ResolvesServerCertAcme,
};
use rustls_pki_types::pem::PemObject;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737).
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Where HTTP-01 challenges are asked (RFC 8555 §8.3).
pub(crate) const HTTP_01_PREFIX: &str = "/.well-known/acme-challenge/";

/// The HTTP-01 answer for `token`, from whichever of `clients` is being validated.
pub(crate) fn http_01_answer(
    clients: &[Arc<ResolvesServerCertAcme>],
    token: &str,
) -> Option<String> {
    clients.iter().find_map(|c| c.get_http_01_key_auth(token))
}

type State = AcmeState<std::io::Error, std::io::Error>;

/// An endpoint's ACME client, ready to run.
pub struct Acme {
    settings: AcmeSettings,
    state: Mutex<Option<State>>,
    resolver: Arc<ResolvesServerCertAcme>,
}

impl Acme {
    /// Prepares the cache directory and the client (nothing is sent yet).
    pub fn prepare(settings: &AcmeSettings) -> Result<Acme, StartError> {
        let cache = &settings.cache;
        std::fs::create_dir_all(&cache.path)
            .and_then(|()| {
                std::fs::set_permissions(&cache.path, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(|e| cache.error(format!("cannot make the ACME cache directory: {e}")))?;
        let files = Files {
            dir: cache.path.clone(),
        };
        let challenge = if settings.http_01 {
            rustls_acme::UseChallenge::Http01
        } else {
            rustls_acme::UseChallenge::TlsAlpn01
        };
        let mut config = AcmeConfig::new(&settings.domains)
            .challenge_type(challenge)
            .contact(settings.contact.iter().map(String::as_str))
            .directory(&settings.directory)
            .cache(CompositeCache::new(files.clone(), files));
        if !settings.directory_ca_certificates.is_empty() {
            let mut roots = rustls::RootCertStore::empty();
            for file in &settings.directory_ca_certificates {
                for cert in file.certificates()? {
                    roots
                        .add(cert)
                        .map_err(|e| file.error(format!("not a usable CA certificate: {e}")))?;
                }
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let client = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| cache.error(format!("TLS setup for the ACME server failed: {e}")))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config = config.client_tls_config(Arc::new(client));
        }
        let state = config.state();
        let resolver = state.resolver();
        Ok(Acme {
            settings: settings.clone(),
            state: Mutex::new(Some(state)),
            resolver,
        })
    }

    /// What serves the endpoint's certificate (and the challenge's, to the CA).
    pub fn resolver(&self) -> Arc<ResolvesServerCertAcme> {
        self.resolver.clone()
    }

    /// Whether its challenge is HTTP-01 (answered by the node's plain transports).
    pub fn uses_http_01(&self) -> bool {
        self.settings.http_01
    }

    /// Runs the client until shutdown: loads the cache, orders when needed, renews, and logs
    /// every step and failure.
    pub async fn run(&self, lifecycle: Lifecycle) {
        let Some(mut state) = self.state.lock().ok().and_then(|mut s| s.take()) else {
            return;
        };
        let domains = self.settings.domains.join(", ");
        let directory = &self.settings.directory;
        log::info!("acme {domains}: using {directory}");
        let shutdown = lifecycle.shutdown_signal();
        let mut failures = 0u32;
        loop {
            let event = futures_lite::future::or(async { state.next().await }, async {
                let _ = shutdown.recv().await;
                None
            })
            .await;
            match event {
                None => return,
                Some(Ok(EventOk::DeployedCachedCert)) => {
                    log::info!("acme {domains}: serving the cached certificate")
                }
                Some(Ok(EventOk::DeployedNewCert)) => {
                    failures = 0;
                    log::info!(
                        "acme {domains}: certificate obtained and deployed for new connections"
                    )
                }
                Some(Ok(EventOk::CertCacheStore)) => {
                    log::debug!("acme {domains}: certificate stored in the cache")
                }
                Some(Ok(EventOk::AccountCacheStore)) => {
                    log::info!("acme {domains}: account registered with {directory}")
                }
                Some(Err(e)) => {
                    failures += 1;
                    // rustls-acme waits 2^n seconds after the n-th failure in a row, at most
                    // 2^16 (18 hours).
                    let retry = 1u64 << (failures - 1).min(16);
                    log::warn!("acme {domains}: {e}; next attempt in {retry} s");
                }
            }
        }
    }
}

/// The cache directory: one file for the account, one for the certificate (with its key),
/// each written 0600 and replaced atomically.
#[derive(Clone)]
struct Files {
    dir: PathBuf,
}

impl Files {
    /// A file name for these parts (domains or contacts, and the directory URL).
    fn path(&self, kind: &str, parts: &[String], directory: &str) -> PathBuf {
        let mut joined = parts.join("\0");
        joined.push('\0');
        joined.push_str(directory);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, joined.as_bytes());
        let hex = data_encoding::HEXLOWER.encode(&digest.as_ref()[..12]);
        self.dir.join(format!("{kind}-{hex}.pem"))
    }

    fn load(path: PathBuf) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn store(path: PathBuf, bytes: &[u8]) -> std::io::Result<()> {
        let temporary = path.with_extension("pem.new");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&temporary, &path)
    }
}

// rustls-acme's cache traits are declared with `async_trait` (tide re-exports it).
#[tide::utils::async_trait]
impl CertCache for Files {
    type EC = std::io::Error;

    async fn load_cert(
        &self,
        domains: &[String],
        directory: &str,
    ) -> Result<Option<Vec<u8>>, Self::EC> {
        let loaded = Files::load(self.path("certificate", domains, directory))?;
        if let Some(pem) = &loaded {
            log_validity(domains, pem, "cached");
        }
        Ok(loaded)
    }

    async fn store_cert(
        &self,
        domains: &[String],
        directory: &str,
        cert: &[u8],
    ) -> Result<(), Self::EC> {
        log_validity(domains, cert, "new");
        Files::store(self.path("certificate", domains, directory), cert)
    }
}

#[tide::utils::async_trait]
impl AccountCache for Files {
    type EA = std::io::Error;

    async fn load_account(
        &self,
        contact: &[String],
        directory: &str,
    ) -> Result<Option<Vec<u8>>, Self::EA> {
        Files::load(self.path("account", contact, directory))
    }

    async fn store_account(
        &self,
        contact: &[String],
        directory: &str,
        account: &[u8],
    ) -> Result<(), Self::EA> {
        Files::store(self.path("account", contact, directory), account)
    }
}

/// Logs a certificate's validity and when it will be renewed (a third of its lifetime
/// before it ends, as rustls-acme renews).
fn log_validity(domains: &[String], pem: &[u8], which: &str) {
    let Some(der) = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .next()
    else {
        return;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
        return;
    };
    let (from, until) = (
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    );
    let renew = until - (until - from) / 3;
    log::info!(
        "acme {}: {which} certificate valid until {}; renewal at {}",
        domains.join(", "),
        crate::runtime::time::rfc3339(until),
        crate::runtime::time::rfc3339(renew)
    );
}
