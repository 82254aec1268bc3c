//! Secrets read from the Kubernetes API on demand, with a short cache, as upstream's
//! `pkg/interceptors/secret_getter.go` (5 s TTL): no list or watch of all Secrets, only a `get` of
//! the Secret a trigger names, so the listener needs `get` on those Secrets only.
//!
//! Beyond upstream: when a read fails in a way that says nothing about the Secret (no answer,
//! a connection error, 429 or 5xx: the API server is away), the last value read is used
//! however old, and the failure logged. A Secret cannot change while the API server is away,
//! so signatures are still checked — a bad one is 403, not 503, during an outage. A Secret
//! never read before is [`Error::Unavailable`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use super::{BoxFuture, Error, SecretStore, SecretValue};

/// How long a fetched Secret is used before it is read again: a rotated secret is seen within
/// this time (upstream's TTL).
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(5);
/// Deadline of one read.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

type Entry = (Instant, BTreeMap<String, SecretValue>);

/// Secrets from the cluster, cached for [`SECRET_CACHE_TTL`].
pub struct KubeSecrets {
    client: Client,
    ttl: Duration,
    cache: Mutex<HashMap<(String, String), Entry>>,
}

impl std::fmt::Debug for KubeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSecrets")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl KubeSecrets {
    /// A store reading through `client`, caching for [`SECRET_CACHE_TTL`].
    pub fn new(client: Client) -> Self {
        Self::with_ttl(client, SECRET_CACHE_TTL)
    }

    /// A store with another cache lifetime.
    pub fn with_ttl(client: Client, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, SecretValue>> {
        let cache = self.cache.lock().ok()?;
        let (at, values) = cache.get(&(namespace.to_owned(), name.to_owned()))?;
        (at.elapsed() < self.ttl).then(|| values.clone())
    }

    async fn read(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, SecretValue>, Error> {
        if let Some(values) = self.cached(namespace, name) {
            return Ok(values);
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let unavailable = |message: String| Error::Unavailable {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            message,
        };
        let secret = match tokio::time::timeout(FETCH_TIMEOUT, api.get(name)).await {
            Err(_) => {
                return self.stale_or(
                    namespace,
                    name,
                    unavailable(format!("no answer within {FETCH_TIMEOUT:?}")),
                );
            }
            Ok(Err(kube::Error::Api(status))) if status.is_not_found() => {
                return Err(Error::NotFound {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                });
            }
            Ok(Err(e)) if crate::kube_errors::is_transient(&e) => {
                return self.stale_or(namespace, name, unavailable(e.to_string()));
            }
            Ok(Err(e)) => return Err(unavailable(e.to_string())),
            Ok(Ok(secret)) => secret,
        };
        let mut values: BTreeMap<String, SecretValue> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, SecretValue::new(v.0)))
            .collect();
        for (k, v) in secret.string_data.unwrap_or_default() {
            values.insert(k, SecretValue::new(v));
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(
                (namespace.to_owned(), name.to_owned()),
                (Instant::now(), values.clone()),
            );
        }
        Ok(values)
    }
}

impl KubeSecrets {
    /// The last value read of `namespace/name`, whatever its age, or `error` when there is none.
    fn stale_or(
        &self,
        namespace: &str,
        name: &str,
        error: Error,
    ) -> Result<BTreeMap<String, SecretValue>, Error> {
        let stale = self.cache.lock().ok().and_then(|cache| {
            cache
                .get(&(namespace.to_owned(), name.to_owned()))
                .map(|(at, values)| (at.elapsed(), values.clone()))
        });
        match stale {
            Some((age, values)) => {
                tracing::warn!(
                    namespace,
                    name,
                    age_seconds = age.as_secs(),
                    error = %error,
                    "cannot read Secret; using the value read before"
                );
                Ok(values)
            }
            None => Err(error),
        }
    }
}

fn pick(
    values: &BTreeMap<String, SecretValue>,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<SecretValue, Error> {
    values.get(key).cloned().ok_or_else(|| Error::MissingKey {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        key: key.to_owned(),
    })
}

impl SecretStore for KubeSecrets {
    fn get(&self, namespace: &str, name: &str, key: &str) -> Result<SecretValue, Error> {
        let values = self.cached(namespace, name).ok_or_else(|| Error::Unavailable {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            message: "not fetched yet (only compareSecret calls with literal arguments are fetched before evaluation)".into(),
        })?;
        pick(&values, namespace, name, key)
    }

    fn fetch<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<SecretValue, Error>> {
        Box::pin(async move {
            let values = self.read(namespace, name).await?;
            pick(&values, namespace, name, key)
        })
    }

    fn known_at_load(&self) -> bool {
        false
    }
}
