//! HTTPS for the sink (upstream `--tls-cert`/`--tls-key`, reference §8.2): rustls with the ring
//! provider, HTTP/1.1, the certificate chain and key read from PEM files and read again whenever
//! either file changes (cert-manager and the kubelet replace a mounted Secret's files in place),
//! so a rotated certificate is served without a restart. A rotation that does not load (a key
//! that does not match, a half-written file) is logged and the previous certificate stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the files are looked at for a change.
pub const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Why the certificate could not be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate, or one that does not parse.
    #[error("{}: no PEM certificate ({message})", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The key file holds no PEM private key, or one rustls cannot sign with, or it does not
    /// match the certificate.
    #[error("{}: {message}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Where the PEM certificate chain and private key are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first (`--tls-cert`, upstream `TLS_CERT`).
    pub cert: PathBuf,
    /// Private key, PKCS#8, PKCS#1 or SEC1 (`--tls-key`, upstream `TLS_KEY`).
    pub key: PathBuf,
}

/// The acceptor the server loop hands each connection to; cheap to clone.
#[derive(Clone)]
pub struct Tls {
    /// rustls on tokio.
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads `files` and starts watching them (every [`RELOAD_CHECK_EVERY`], for the life of
    /// the runtime).
    ///
    /// # Errors
    /// The files do not load ([`TlsError`]): the listener must not start serving plain HTTP
    /// when HTTPS was asked for.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let key = load(&files)?;
        let resolver = Arc::new(Reloading {
            current: RwLock::new(Arc::new(key)),
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio::spawn(watch(files, resolver));
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// The certificate in service, replaced whole on reload.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|key| Arc::clone(&key))
    }
}

/// Reads both files into a certificate rustls can serve.
fn load(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(&files.cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Certificate {
            path: files.cert.clone(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: files.cert.clone(),
            message: "the file holds none".into(),
        });
    }
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Key {
        path: files.key.clone(),
        message: format!("no PEM private key ({e})"),
    })?;
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| TlsError::Key {
            path: files.key.clone(),
            message: format!("not a key rustls signs with: {e}"),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::Key {
        path: files.key.clone(),
        message: format!("does not match the certificate: {e}"),
    })?;
    Ok(certified)
}

/// What identifies a version of a file: modification time and length.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

async fn watch(files: TlsFiles, resolver: Arc<Reloading>) {
    let mut seen = (stamp(&files.cert), stamp(&files.key));
    loop {
        tokio::time::sleep(RELOAD_CHECK_EVERY).await;
        let now = (stamp(&files.cert), stamp(&files.key));
        if now == seen {
            continue;
        }
        seen = now;
        match load(&files) {
            Ok(key) => {
                if let Ok(mut current) = resolver.current.write() {
                    *current = Arc::new(key);
                }
                tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "TLS certificate changed but does not load; the previous one stays");
            }
        }
    }
}
