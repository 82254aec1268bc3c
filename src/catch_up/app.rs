//! Authenticating as a GitHub App, for the App's own hook (`app/hook/deliveries`): a JSON Web
//! Token signed RS256 with the App's private key (GitHub's docs, "Generating a JSON web token
//! (JWT) for a GitHub App"): `iss` the App's id (or client id), `iat` 60 s in the past against
//! clock drift, `exp` 9 minutes ahead (GitHub refuses more than 10). Sent as
//! `Authorization: Bearer <JWT>`; a new one per pass.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::secrets::SecretValue;

/// The App's id and private key. `Debug` never shows the key.
pub struct AppKey {
    id: String,
    key: jsonwebtoken::EncodingKey,
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not an RSA private key in PEM (PKCS#1 `RSA PRIVATE KEY`, as GitHub issues them, or
    /// PKCS#8).
    #[error("GitHub App private key: {0}")]
    Key(String),
    /// Signing failed.
    #[error("GitHub App JWT: {0}")]
    Sign(String),
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a str,
}

impl AppKey {
    /// The App `id` with its private key `pem`.
    ///
    /// # Errors
    /// [`Error::Key`] when `pem` is not an RSA private key.
    pub fn from_pem(id: &str, pem: &[u8]) -> Result<Self, Error> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem)
            // NB: the parser's message names no key material.
            .map_err(|e| Error::Key(e.to_string()))?;
        Ok(Self {
            id: id.to_owned(),
            key,
        })
    }

    /// A JWT valid from a minute before `now` for nine minutes after it.
    ///
    /// # Errors
    /// [`Error::Sign`].
    pub fn jwt(&self, now: DateTime<Utc>) -> Result<SecretValue, Error> {
        let claims = Claims {
            iat: now.timestamp() - 60,
            exp: now.timestamp() + 9 * 60,
            iss: &self.id,
        };
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(SecretValue::new)
            .map_err(|e| Error::Sign(e.to_string()))
    }
}
