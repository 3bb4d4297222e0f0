//! HTTPS for the relay: [`TlsConfig`], a certificate chain and its private key read from PEM,
//! and [`TlsListener`], which serves them on a TCP listener for [`crate::Relay::serve`].
//!
//! Handshakes run in tasks of their own, each bounded by the handshake timeout, so a client
//! that connects and sends nothing (or sends something else than TLS) delays no one else and
//! never ends the server.

use axum::serve::Listener;
use rustls::crypto::ring;
use rustls::InconsistentKeys;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

/// How long a client has, from its TCP connection, to finish the TLS handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once. Past it no more TCP connections are taken until one ends,
/// so a flood of silent sockets costs bounded memory (the kernel's backlog holds the rest).
const MAX_PENDING_HANDSHAKES: usize = 1024;

/// The one application protocol the relay's server speaks: axum serves HTTP/1.1 here (its
/// `http2` feature is off), so offering h2 would break clients that pick it.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// Where a piece of PEM came from, to name it in an error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemOrigin {
    /// A file, by the path it was given as.
    File(PathBuf),
    /// Bytes handed to [`TlsConfig::from_pem`]; the string says which argument.
    Memory(&'static str),
}

impl fmt::Display for PemOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemOrigin::File(path) => write!(f, "{}", path.display()),
            PemOrigin::Memory(what) => write!(f, "the {what} PEM given"),
        }
    }
}

/// Why a certificate and key cannot serve TLS. Each names the file to fix; none quotes key
/// material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The file cannot be read.
    #[error("cannot read the TLS {what} file {path}", path = .path.display())]
    Unreadable {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: io::Error,
    },
    /// The PEM text is broken (an unterminated section, bad base64).
    #[error("{origin} is not valid PEM: fix or re-export it")]
    BadPem {
        /// Where the PEM came from.
        origin: PemOrigin,
        /// What the PEM reader met.
        #[source]
        source: pem::Error,
    },
    /// No `CERTIFICATE` section (an empty file, or a key given as the certificate).
    #[error(
        "{origin} holds no certificate: give the server's certificate chain as PEM \
         (-----BEGIN CERTIFICATE-----), the server's own certificate first"
    )]
    NoCertificate {
        /// Where the PEM came from.
        origin: PemOrigin,
    },
    /// No private key section the relay can use.
    #[error(
        "{origin} holds no private key: give an unencrypted PKCS#8, PKCS#1 (RSA) or SEC1 (EC) \
         key as PEM; decrypt an encrypted key first"
    )]
    NoPrivateKey {
        /// Where the PEM came from.
        origin: PemOrigin,
    },
    /// The key is not the one the first certificate of the chain was issued for.
    #[error(
        "the private key {key} does not belong to the certificate {certificate}: give the key \
         the certificate was issued for, and put the server's own certificate first in the chain"
    )]
    KeyMismatch {
        /// Where the certificate came from.
        certificate: PemOrigin,
        /// Where the key came from.
        key: PemOrigin,
    },
    /// rustls refuses the pair for another reason: an unreadable certificate, an unsupported
    /// key type.
    #[error("the certificate {certificate} with the key {key} cannot serve TLS")]
    Refused {
        /// Where the certificate came from.
        certificate: PemOrigin,
        /// Where the key came from.
        key: PemOrigin,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
}

/// A certificate chain and its private key, ready to serve TLS 1.2 and 1.3 (rustls, with the
/// `ring` provider) and HTTP/1.1 over it.
///
/// The key is held only inside rustls; `Debug` shows where the certificate came from and the
/// handshake timeout, never the key. A changed certificate takes a restart to be served.
///
/// ```no_run
/// use std::time::Duration;
/// # fn run() -> Result<(), tc_relay::TlsError> {
/// let tls = tc_relay::TlsConfig::from_pem_files("relay.crt", "relay.key")?
///     .with_handshake_timeout(Duration::from_secs(5));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<rustls::ServerConfig>,
    certificate: PemOrigin,
    handshake_timeout: Duration,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("certificate", &self.certificate)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads the certificate chain (the server's certificate first, then any intermediates)
    /// and its private key from PEM files.
    ///
    /// # Errors
    /// A file cannot be read, holds no certificate or no usable key, or the key does not
    /// belong to the certificate: [`TlsError`] names the file.
    pub fn from_pem_files(
        certificate: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let certificate = certificate.as_ref();
        let private_key = private_key.as_ref();
        let chain_pem = read_file("certificate", certificate)?;
        // Wiped when dropped: the key's PEM should not linger in freed memory.
        let key_pem = Zeroizing::new(read_file("private key", private_key)?);
        TlsConfig::build(
            (&chain_pem, PemOrigin::File(certificate.to_path_buf())),
            (&key_pem, PemOrigin::File(private_key.to_path_buf())),
        )
    }

    /// Reads the certificate chain and its private key from PEM held in memory.
    ///
    /// # Errors
    /// As [`TlsConfig::from_pem_files`], naming the argument instead of a file.
    pub fn from_pem(certificate: &[u8], private_key: &[u8]) -> Result<TlsConfig, TlsError> {
        TlsConfig::build(
            (certificate, PemOrigin::Memory("certificate")),
            (private_key, PemOrigin::Memory("private key")),
        )
    }

    /// How long a client has to finish its handshake before its connection is closed
    /// ([`DEFAULT_HANDSHAKE_TIMEOUT`] unless set).
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> TlsConfig {
        self.handshake_timeout = timeout;
        self
    }

    /// How long a client has to finish its handshake.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    fn build(
        (chain_pem, certificate): (&[u8], PemOrigin),
        (key_pem, key): (&[u8], PemOrigin),
    ) -> Result<TlsConfig, TlsError> {
        let chain = read_chain(chain_pem, &certificate)?;
        let private_key = read_key(key_pem, &key)?;
        let refused = |source| TlsError::Refused {
            certificate: certificate.clone(),
            key: key.clone(),
            source,
        };
        // The provider is named, not taken from the process default: nothing then depends on
        // which rustls providers other crates of the build happen to enable.
        let mut server =
            rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(refused)?
                .with_no_client_auth()
                .with_single_cert(chain, private_key)
                .map_err(|source| match source {
                    rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
                        TlsError::KeyMismatch {
                            certificate: certificate.clone(),
                            key: key.clone(),
                        }
                    }
                    other => refused(other),
                })?;
        server.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(TlsConfig {
            server: Arc::new(server),
            certificate,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        })
    }
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn read_chain(pem: &[u8], origin: &PemOrigin) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::BadPem {
            origin: origin.clone(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: origin.clone(),
        });
    }
    Ok(chain)
}

fn read_key(pem: &[u8], origin: &PemOrigin) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            origin: origin.clone(),
        },
        source => TlsError::BadPem {
            origin: origin.clone(),
            source,
        },
    })
}

/// A TCP listener that hands [`axum::serve()`] only connections whose TLS handshake finished.
///
/// Each accepted connection shakes hands in a task of its own, within the handshake timeout;
/// one that fails or times out is logged at debug level (the peer's address and the reason)
/// and closed, and the listener goes on. Handshakes still in progress when the listener is
/// dropped (at shutdown) are cut.
///
/// ```no_run
/// # async fn run(relay: tc_relay::Relay) -> Result<(), Box<dyn std::error::Error>> {
/// let tls = tc_relay::TlsConfig::from_pem_files("relay.crt", "relay.key")?;
/// let tcp = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
/// let listener = tc_relay::TlsListener::new(tcp, &tls);
/// relay.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
/// # Ok(())
/// # }
/// ```
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("local_addr", &self.tcp.local_addr().ok())
            .field("handshake_timeout", &self.handshake_timeout)
            .field("pending_handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    /// Serves `config`'s certificate on the connections `tcp` accepts.
    pub fn new(tcp: TcpListener, config: &TlsConfig) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::clone(&config.server)),
            handshake_timeout: config.handshake_timeout,
            handshakes: JoinSet::new(),
        }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    /// Cancel-safe, as `axum::serve` needs at shutdown: a connection accepted while this future
    /// lived is already in `handshakes`, and a finished handshake is taken only when returned.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_PENDING_HANDSHAKES;
            let waiting = !self.handshakes.is_empty();
            // At least one branch is always enabled: with no room there are handshakes.
            tokio::select! {
                // axum's own accept: it logs and backs off on errors such as too many open files.
                (tcp, peer) = Listener::accept(&mut self.tcp), if room => {
                    let handshake = shake_hands(self.acceptor.clone(), tcp, peer, self.handshake_timeout);
                    self.handshakes.spawn(handshake);
                }
                Some(done) = self.handshakes.join_next(), if waiting => match done {
                    Ok(Some(connection)) => return connection,
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "a TLS handshake task ended abnormally"),
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// One client's handshake, bounded by `timeout`. A failure is the client's (a scanner, plain
/// HTTP, an untrusting client): logged at debug level so it cannot flood the log.
async fn shake_hands(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    timeout: Duration,
) -> Option<(TlsStream<TcpStream>, SocketAddr)> {
    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Some((tls, peer)),
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed; connection closed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, ?timeout, "TLS handshake not finished in time; connection closed");
            None
        }
    }
}
