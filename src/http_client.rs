//! Outbound HTTP and HTTPS: hyper-util's pooled client over hyper-rustls (rustls with ring, the
//! TLS stack the sink and kube's client already use), trusting the system's roots as
//! `rustls-native-certs` finds them (`SSL_CERT_FILE` and `SSL_CERT_DIR` honoured). Used for
//! CloudEvents (reference §8.5), the GitHub REST API ([`crate::github_api`]) and interceptors
//! over HTTP (reference §3.1, §3.5); TLS 1.2 and 1.3, as rustls allows. A client may instead
//! trust only given CA certificates ([`HttpClient::with_roots`]: an interceptor's `caBundle`,
//! reference §3.3).
//!
//! A client is cheap to clone (one pool); building one with the system's roots reads them, so
//! it is built once, on first need ([`HttpClient::system`]).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, StatusCode};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Why a request got no answer, or a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The system's roots could not be read (none found, or unreadable files).
    #[error("cannot read the system's TLS roots: {0}")]
    Roots(String),
    /// The request could not be built (a bad URL or header value).
    #[error("invalid request: {0}")]
    Request(String),
    /// No answer: connection refused or reset, or an unreadable response.
    #[error("{0}")]
    Transport(String),
    /// The TLS handshake failed (a certificate the roots do not trust, a name it does not
    /// cover): trying again would fail again.
    #[error("{0}")]
    Tls(String),
    /// A CA bundle holds no PEM certificate, or one that does not parse.
    #[error("invalid CA bundle: {0}")]
    CaBundle(String),
    /// No answer within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl Error {
    /// True when the same request may succeed if tried again (the transport failed, or the
    /// deadline passed); false for requests that cannot be sent as built.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Transport(_) | Error::Timeout(_))
    }
}

/// An answer: its status, its headers and its whole body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: hyper::HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// A pooled HTTP/1 client for `http` and `https` URLs.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    /// A client trusting the system's roots. Without any (an image without a CA bundle), it
    /// still speaks plain `http`, and refuses every `https` peer (logged once, here).
    ///
    /// # Errors
    /// [`Error::Roots`] when rustls cannot be set up with its default protocol versions.
    pub fn with_system_roots() -> Result<Self, Error> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = match HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(std::sync::Arc::clone(&provider))
        {
            Ok(builder) => builder,
            Err(e) => {
                tracing::warn!(error = %e, "no system TLS roots: https peers will be refused");
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| Error::Roots(e.to_string()))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        let connector = builder.https_or_http().enable_http1().build();
        Ok(Self {
            inner: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// The one client trusting the system's roots ([`Self::with_system_roots`]), built on first
    /// use and shared by every caller after: reading the roots takes milliseconds, and a
    /// listener of many triggers calling custom interceptors would otherwise read them once per
    /// trigger on every configuration change.
    ///
    /// # Errors
    /// As [`Self::with_system_roots`] (remembered: it does not change while the process runs).
    pub fn system() -> Result<Self, Error> {
        static SYSTEM: std::sync::OnceLock<Result<HttpClient, String>> = std::sync::OnceLock::new();
        SYSTEM
            .get_or_init(|| Self::with_system_roots().map_err(|e| e.to_string()))
            .clone()
            .map_err(Error::Roots)
    }

    /// A client trusting only the certificates of `pem` (one or more PEM `CERTIFICATE`
    /// blocks), not the system's roots: what an interceptor's `caBundle` asks (reference §3.3).
    ///
    /// # Errors
    /// [`Error::CaBundle`] when `pem` holds no certificate or one that does not parse.
    pub fn with_roots(pem: &[u8]) -> Result<Self, Error> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::CaBundle(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| Error::CaBundle(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(Error::CaBundle("no PEM certificate found".into()));
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Roots(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            inner: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// POSTs `body` to `uri` with `headers`, and reads the whole answer, all within `timeout`.
    ///
    /// # Errors
    /// [`Error::Request`] for a URL or header that cannot be sent, [`Error::Transport`] when
    /// nothing usable came back, [`Error::Timeout`] past `timeout`.
    pub async fn post(
        &self,
        uri: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, Error> {
        let mut request = Request::post(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| Error::Request(e.to_string()))?;
        self.send(request, timeout).await
    }

    /// GETs `uri` with `headers`, and reads the whole answer, all within `timeout`.
    ///
    /// # Errors
    /// As [`Self::post`].
    pub async fn get(
        &self,
        uri: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Answer, Error> {
        let mut request = Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Request(e.to_string()))?;
        self.send(request, timeout).await
    }

    async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Answer, Error> {
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| transport_error(&e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Transport(e.to_string()))?
                .to_bytes();
            Ok(Answer {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(timeout))?
    }
}

/// hyper-util's error with its causes ("client error (Connect): tcp connect error: Connection
/// refused"), since its own text says little; [`Error::Tls`] when rustls refused the handshake.
fn transport_error(error: &hyper_util::client::legacy::Error) -> Error {
    let mut message = error.to_string();
    let mut tls = false;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        tls |= is_tls(cause);
        source = cause.source();
    }
    if tls {
        Error::Tls(message)
    } else {
        Error::Transport(message)
    }
}

/// True when `error` is rustls's, or an io::Error wrapping one (tokio-rustls and hyper-rustls
/// each wrap it once; io::Error's `source` skips what it wraps).
fn is_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    if error.is::<rustls::Error>() {
        return true;
    }
    match error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        Some(inner) => is_tls(inner),
        None => false,
    }
}
