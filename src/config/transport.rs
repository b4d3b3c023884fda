//! A listening transport: its kind, endpoint (TCP or Unix) and the files its keys name.

use super::*;

/// A listening transport.
#[derive(Debug, Clone)]
pub struct Transport {
    /// The config file it came from.
    pub config_file: PathBuf,
    /// JSON path, e.g. `workers[0].transports[0]`, used in log lines.
    pub json_path: String,
    /// Which kind of transport.
    pub kind: TransportKind,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// For `web`: path services by their URL path ("/" is the root). For `websocket` and
    /// `websocket.testee`: one entry at "/" that answers on every path.
    pub paths: Vec<(String, PathService)>,
    /// `hsts`: send Strict-Transport-Security (seconds) on TLS responses.
    pub hsts_max_age: Option<u64>,
    /// Timeouts and the connection cap.
    pub limits: Limits,
    /// For `universal`: its `rawsocket` section (RawSocket clients, told apart by `0x7F`).
    pub rawsocket: Option<Box<WebSocketOptions>>,
}

/// The `type` of a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// `web`: HTTP paths.
    Web,
    /// `websocket`: a WAMP WebSocket endpoint on every path.
    WebSocket,
    /// `websocket.testee`: echoes WebSocket messages, for conformance suites.
    Testee,
    /// `rawsocket`: WAMP over RawSocket (one session's options at "/").
    RawSocket,
    /// `universal`: RawSocket, WebSocket and web on one port, told apart by the first byte.
    Universal,
}

/// A TCP endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// TCP port; 0 picks a free one.
    pub port: u16,
    /// Interface address; `None` for all interfaces (IPv6 and IPv4).
    pub interface: Option<String>,
    /// TLS files and options, if the endpoint is secure.
    pub tls: Option<TlsFiles>,
    /// Crossbar's `shared`: several workers listen on this port (we listen once).
    pub shared: bool,
    /// `"type": "unix"`: a Unix domain socket instead of a TCP port.
    pub unix: Option<UnixEndpoint>,
}

/// A Unix domain socket endpoint.
#[derive(Debug, Clone)]
pub struct UnixEndpoint {
    /// `path`, resolved against the node directory.
    pub path: NamedFile,
    /// wssnode's `mode`: the socket file's permissions (default 0666, as Crossbar leaves
    /// it, so components running as another user can connect).
    pub mode: u32,
}

/// A file path from the config: as written, and resolved against the node directory.
#[derive(Debug, Clone)]
pub struct NamedFile {
    /// JSON path of the key that names it.
    pub json_path: String,
    /// As written in the config.
    pub named: String,
    /// Resolved against the node directory.
    pub path: PathBuf,
}

impl NamedFile {
    /// An error about this file.
    pub fn error(&self, problem: impl Into<String>) -> StartError {
        StartError::file(&self.json_path, &self.named, &self.path, problem)
    }

    /// Reads the whole file, or says which key named it and why it cannot be read.
    pub fn read(&self) -> Result<Vec<u8>, StartError> {
        std::fs::read(&self.path).map_err(|e| self.error(format!("cannot read it: {e}")))
    }

    /// Reads every certificate in the PEM file, in order; at least one.
    pub fn certificates(
        &self,
    ) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, StartError> {
        use rustls_pki_types::pem::PemObject;
        let bytes = self.read()?;
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(format!("is not a valid PEM certificate file: {e}")))?;
        if certs.is_empty() {
            return Err(self.error(
                "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`); a DER file converts with `openssl x509 -inform DER -in CERT -out cert.pem`",
            ));
        }
        Ok(certs)
    }
}
