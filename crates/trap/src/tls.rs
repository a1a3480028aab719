//! STARTTLS: a rustls server configuration from a given PEM certificate and
//! key, or a self-signed certificate made at start for our host name.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// A certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("{path}: {message}")]
    Pem { path: String, message: String },
    #[error("self-signed certificate: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Builds the acceptor: from `cert`/`key` PEM files, or self-signed for
/// `hostname` when none are given.
pub fn acceptor(
    hostname: &str,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<TlsAcceptor, TlsError> {
    let (chain, key) = match (cert, key) {
        (Some(c), Some(k)) => {
            let pem_err = |p: &Path| {
                let path = p.display().to_string();
                move |e: rustls::pki_types::pem::Error| TlsError::Pem {
                    path: path.clone(),
                    message: e.to_string(),
                }
            };
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(c)
                .map_err(pem_err(c))?
                .collect::<Result<_, _>>()
                .map_err(pem_err(c))?;
            if chain.is_empty() {
                return Err(TlsError::Pem {
                    path: c.display().to_string(),
                    message: "no certificate in the file".into(),
                });
            }
            let key = PrivateKeyDer::from_pem_file(k).map_err(pem_err(k))?;
            (chain, key)
        }
        _ => {
            let ck = rcgen::generate_simple_self_signed(vec![hostname.to_string()])
                .map_err(|e| TlsError::Generate(e.to_string()))?;
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
            (vec![ck.cert.der().clone()], key)
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
