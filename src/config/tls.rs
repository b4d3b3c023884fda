//! An endpoint's TLS files and options, and wssnode's `acme` settings.

use super::*;

/// The endpoint's `tls` object.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The config file, for errors about values (not files).
    pub config_file: PathBuf,
    /// JSON path of the `tls` object.
    pub json_path: String,
    /// Private key (PEM).
    pub key: NamedFile,
    /// Certificate, optionally followed by its chain (PEM).
    pub certificate: NamedFile,
    /// Extra chain certificates served after the certificate file's blocks.
    pub chain_certificates: Vec<NamedFile>,
    /// CAs that client certificates must be issued by; empty means no client certificates.
    pub ca_certificates: Vec<NamedFile>,
    /// A DH parameter file; checked, then unused (rustls has no finite-field DH).
    pub dhparam: Option<NamedFile>,
    /// An OpenSSL cipher string for TLS 1.2.
    pub ciphers: Option<String>,
    /// wssnode's `acme`: certificates from an ACME CA instead of `key` and `certificate`
    /// (which then name the cache directory, where the certificate lives).
    pub acme: Option<AcmeSettings>,
}

/// A `tls.acme` section (wssnode's own): certificates obtained and renewed from an ACME CA.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    /// JSON path of the `acme` object.
    pub json_path: String,
    /// `domains`: the names the certificate is for.
    pub domains: Vec<String>,
    /// `contact`: e.g. `mailto:admin@example.com`.
    pub contact: Vec<String>,
    /// `directory`: the CA's directory URL (default Let's Encrypt production).
    pub directory: String,
    /// `cache`: the directory (in the node directory) for the account and certificates.
    pub cache: NamedFile,
    /// `directory_ca_certificates`: CAs trusted for the ACME server's own HTTPS (default
    /// the usual public roots).
    pub directory_ca_certificates: Vec<NamedFile>,
    /// `challenge`: `tls-alpn-01` (default: on this endpoint's port) or `http-01` (answered
    /// on the node's plain HTTP transports, at `/.well-known/acme-challenge/`).
    pub http_01: bool,
}

/// Let's Encrypt's production directory, the default `directory`.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (untrusted certificates, generous rate limits).
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
