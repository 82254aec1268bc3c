//! Where interceptors get secret values: `SecretStore`, and `SecretValue`, which cannot be
//! printed. The github interceptor's `secretRef` and (later) CEL's `compareSecret` read through it.
//!
//! Upstream reads Secrets from the API server with a 5 s cache
//! (`pkg/interceptors/secret_getter.go`, reference §3.6); here the first store is built from the
//! Secret manifests given with `-f`.

mod kube;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;

use base64::Engine as _;

use crate::api::Secret;

pub use self::kube::{KubeSecrets, SECRET_CACHE_TTL};

/// A boxed future, for object-safe async trait methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Errors reading a secret; messages name the secret and key, never the value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// No Secret of that name in that namespace.
    #[error("secret {namespace}/{name} not found")]
    NotFound {
        /// Namespace searched.
        namespace: String,
        /// Secret name.
        name: String,
    },
    /// The Secret exists but lacks the key (upstream's text).
    #[error("cannot find {key} key in secret {namespace}/{name}")]
    MissingKey {
        /// Namespace searched.
        namespace: String,
        /// Secret name.
        name: String,
        /// Missing key.
        key: String,
    },
    /// The Secret could not be read now (API unreachable, forbidden, …); a later try may work.
    #[error("secret {namespace}/{name}: {message}")]
    Unavailable {
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// Why.
        message: String,
    },
    /// A `data` value is not valid base64.
    #[error("secret {namespace}/{name} key {key}: data is not valid base64")]
    InvalidBase64 {
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// Key whose value is bad.
        key: String,
    },
}

/// A secret's bytes. `Debug` prints `SecretValue(<redacted>)`; there is no `Display` or
/// `Serialize`, so a secret cannot reach a log line or a response by accident. Shared: a clone
/// (each trigger's interceptor fetches its secret on every event) copies no bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(std::sync::Arc<[u8]>);

impl SecretValue {
    /// Wraps bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into().into())
    }

    /// The bytes, for HMAC keys and constant-time compares only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// Read access to secrets by namespace, Secret name and key.
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    /// The value of `key` in Secret `namespace/name`, from what the store holds now (for callers
    /// that cannot wait, such as CEL's `compareSecret`).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::MissingKey`], or [`Error::Unavailable`] when the store would
    /// have to fetch it first.
    fn get(&self, namespace: &str, name: &str, key: &str) -> Result<SecretValue, Error>;

    /// The value of `key` in Secret `namespace/name`, fetched if the store needs to. The default
    /// is [`get`](Self::get).
    ///
    /// # Errors
    /// As [`get`](Self::get).
    fn fetch<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<SecretValue, Error>> {
        Box::pin(async move { self.get(namespace, name, key) })
    }

    /// Whether every Secret is known when the configuration loads, so a reference to a missing
    /// Secret can fail start-up (true for manifests; false for a cluster, where it may appear
    /// later).
    fn known_at_load(&self) -> bool {
        true
    }
}

/// The value of `key` in Secret `namespace/name`: what `store` holds now
/// ([`SecretStore::get`]), fetched only when the store says it would have to
/// ([`Error::Unavailable`]). What the store already knows (every manifest Secret; a cluster
/// Secret read within its TTL) is answered without [`SecretStore::fetch`]'s boxed future, which
/// cost an allocation per interceptor per event.
///
/// # Errors
/// As [`SecretStore::fetch`].
pub async fn read(
    store: &dyn SecretStore,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<SecretValue, Error> {
    match store.get(namespace, name, key) {
        Err(Error::Unavailable { .. }) => store.fetch(namespace, name, key).await,
        known => known,
    }
}

/// Secrets read from manifests: `data` decoded from base64, `stringData` winning on the same key
/// as the API server merges them.
#[derive(Debug, Default, Clone)]
pub struct ManifestSecrets {
    /// Namespace → Secret name → key → value (nested, so that a lookup allocates nothing).
    secrets: HashMap<String, HashMap<String, BTreeMap<String, SecretValue>>>,
}

impl ManifestSecrets {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one Secret in `namespace`, replacing a previous one of the same name.
    ///
    /// # Errors
    /// [`Error::InvalidBase64`] when a `data` value does not decode.
    pub fn insert(&mut self, namespace: &str, secret: &Secret) -> Result<(), Error> {
        let name = &secret.metadata.name;
        let mut values = BTreeMap::new();
        for (key, encoded) in &secret.data {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| Error::InvalidBase64 {
                    namespace: namespace.to_owned(),
                    name: name.clone(),
                    key: key.clone(),
                })?;
            values.insert(key.clone(), SecretValue::new(bytes));
        }
        for (key, plain) in &secret.string_data {
            values.insert(key.clone(), SecretValue::new(plain.clone().into_bytes()));
        }
        self.secrets
            .entry(namespace.to_owned())
            .or_default()
            .insert(name.clone(), values);
        Ok(())
    }
}

impl SecretStore for ManifestSecrets {
    fn get(&self, namespace: &str, name: &str, key: &str) -> Result<SecretValue, Error> {
        let values = self
            .secrets
            .get(namespace)
            .and_then(|secrets| secrets.get(name))
            .ok_or_else(|| Error::NotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })?;
        values.get(key).cloned().ok_or_else(|| Error::MissingKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Knows `cached` now; `fetch` answers `fetched` and counts its calls.
    #[derive(Debug)]
    struct TwoTier {
        cached: Option<&'static str>,
        fetched: &'static str,
        fetches: std::sync::atomic::AtomicUsize,
    }

    impl SecretStore for TwoTier {
        fn get(&self, namespace: &str, name: &str, _key: &str) -> Result<SecretValue, Error> {
            self.cached
                .map(SecretValue::new)
                .ok_or_else(|| Error::Unavailable {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    message: "not read yet".to_owned(),
                })
        }

        fn fetch<'a>(
            &'a self,
            _namespace: &'a str,
            _name: &'a str,
            _key: &'a str,
        ) -> BoxFuture<'a, Result<SecretValue, Error>> {
            self.fetches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move { Ok(SecretValue::new(self.fetched)) })
        }
    }

    #[test]
    fn read_fetches_only_what_the_store_does_not_know_now() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        for (cached, expected, fetches) in [(Some("now"), "now", 0), (None, "fetched", 1)] {
            let store = TwoTier {
                cached,
                fetched: "fetched",
                fetches: std::sync::atomic::AtomicUsize::new(0),
            };
            let value = runtime
                .block_on(read(&store, "ci", "gh", "token"))
                .expect("read");
            assert_eq!(value.expose(), expected.as_bytes());
            assert_eq!(
                store.fetches.load(std::sync::atomic::Ordering::SeqCst),
                fetches,
                "{cached:?}"
            );
        }
    }

    fn secret(data: &[(&str, &str)], string_data: &[(&str, &str)]) -> Secret {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "gh"},
            "data": data.iter().cloned().collect::<BTreeMap<_, _>>(),
            "stringData": string_data.iter().cloned().collect::<BTreeMap<_, _>>(),
        }))
        .unwrap()
    }

    #[test]
    fn data_is_base64_decoded_and_string_data_wins() {
        let mut store = ManifestSecrets::new();
        store
            .insert(
                "ci",
                &secret(&[("a", "aGVsbG8="), ("b", "eA==")], &[("b", "plain")]),
            )
            .unwrap();
        assert_eq!(store.get("ci", "gh", "a").unwrap().expose(), b"hello");
        assert_eq!(store.get("ci", "gh", "b").unwrap().expose(), b"plain");
    }

    #[test]
    fn missing_secret_and_key_are_named_errors() {
        let mut store = ManifestSecrets::new();
        store.insert("ci", &secret(&[], &[("k", "v")])).unwrap();
        assert_eq!(
            store.get("ci", "gh", "nope").unwrap_err().to_string(),
            "cannot find nope key in secret ci/gh"
        );
        assert!(matches!(
            store.get("other", "gh", "k"),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn bad_base64_is_rejected() {
        let mut store = ManifestSecrets::new();
        assert!(matches!(
            store.insert("ci", &secret(&[("a", "!!!")], &[])),
            Err(Error::InvalidBase64 { .. })
        ));
    }

    #[test]
    fn debug_never_shows_the_value() {
        let v = SecretValue::new("hunter2");
        assert!(!format!("{v:?}").contains("hunter2"));
        let s = secret(&[], &[("k", "hunter2")]);
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
