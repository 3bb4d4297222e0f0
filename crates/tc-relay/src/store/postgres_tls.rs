//! TLS to the database as libpq does it: `prefer` and `require` encrypt without checking the
//! server's certificate (it still proves it holds the certificate's key), `verify-ca` and
//! `verify-full` check it against the web's roots or a PEM file's. The `ring` provider, as
//! the relay's own TLS.

use super::location::Certificates;
use crate::error::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// The TLS client configuration `certificates` asks for.
pub(crate) fn client_config(certificates: &Certificates) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(Error::store("set up TLS to the store"))?;
    let config = match certificates {
        Certificates::Unchecked => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked { provider }))
            .with_no_client_auth(),
        Certificates::Checked { roots } => builder
            .with_root_certificates(root_store(roots.as_deref())?)
            .with_no_client_auth(),
    };
    Ok(config)
}

fn root_store(file: Option<&std::path::Path>) -> Result<RootCertStore, Error> {
    let Some(file) = file else {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    use rustls::pki_types::pem::PemObject;
    let context = "read the store's root certificates (sslrootcert)";
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(file).map_err(Error::store(context))? {
        let certificate = certificate.map_err(Error::store(context))?;
        roots.add(certificate).map_err(Error::store(context))?;
    }
    Ok(roots)
}

/// libpq's `require`: any certificate, but a handshake signed by its key.
#[derive(Debug)]
struct Unchecked {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, certificate, signature, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, certificate, signature, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
