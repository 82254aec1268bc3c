//! Where a catch-up loop keeps its [`State`]: a file (files mode, or wherever `--catch-up-state`
//! points), or in cluster mode the ConfigMap `<listener>-eventlistener-catch-up` in the
//! EventListener's namespace, key `state.json`, written by server-side apply.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::checkpoint::{self, State};

/// The ConfigMap key holding the state.
pub const CONFIG_MAP_KEY: &str = "state.json";

/// Field manager of the ConfigMap's server-side apply.
const FIELD_MANAGER: &str = "eventlistener-catch-up";

/// A state that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file.
    #[error(transparent)]
    File(#[from] checkpoint::Error),
    /// The ConfigMap could not be read or written.
    #[error("ConfigMap {name}: {source}")]
    Api {
        /// Its name.
        name: String,
        /// The API's error.
        source: kube::Error,
    },
    /// The ConfigMap's `state.json` is not a state.
    #[error("ConfigMap {name}: {CONFIG_MAP_KEY}: {source}")]
    Format {
        /// Its name.
        name: String,
        /// The parser's error.
        source: serde_json::Error,
    },
}

/// Where the state lives.
#[derive(Clone)]
pub enum Store {
    /// A JSON file, replaced whole on each save.
    File(PathBuf),
    /// A ConfigMap, key [`CONFIG_MAP_KEY`].
    ConfigMap {
        /// The ConfigMaps of the EventListener's namespace.
        api: Box<Api<ConfigMap>>,
        /// `<listener>-eventlistener-catch-up`.
        name: String,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::File(path) => write!(f, "file {}", path.display()),
            Store::ConfigMap { name, .. } => write!(f, "ConfigMap {name}"),
        }
    }
}

impl Store {
    /// The ConfigMap name for EventListener `listener`.
    #[must_use]
    pub fn config_map_name(listener: &str) -> String {
        format!("{listener}-eventlistener-catch-up")
    }

    /// The state saved last; empty when there is none yet.
    ///
    /// # Errors
    /// [`Error`] when it exists but cannot be read or parsed.
    pub async fn load(&self) -> Result<State, Error> {
        match self {
            Store::File(path) => Ok(State::load(path)?.unwrap_or_default()),
            Store::ConfigMap { api, name } => {
                let found = api.get_opt(name).await.map_err(|source| Error::Api {
                    name: name.clone(),
                    source,
                })?;
                let text = found
                    .and_then(|cm| cm.data)
                    .and_then(|mut data| data.remove(CONFIG_MAP_KEY));
                match text {
                    None => Ok(State::default()),
                    Some(text) => serde_json::from_str(&text).map_err(|source| Error::Format {
                        name: name.clone(),
                        source,
                    }),
                }
            }
        }
    }

    /// Saves `state`, replacing what was there.
    ///
    /// # Errors
    /// [`Error`] when it cannot be written.
    pub async fn save(&self, state: &State) -> Result<(), Error> {
        match self {
            Store::File(path) => Ok(state.save(path)?),
            Store::ConfigMap { api, name } => {
                let text = serde_json::to_string(state).map_err(|source| Error::Format {
                    name: name.clone(),
                    source,
                })?;
                let object = serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": name,
                        "labels": {"app.kubernetes.io/managed-by": "eventlistener"},
                    },
                    "data": {CONFIG_MAP_KEY: text},
                });
                api.patch(
                    name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(object),
                )
                .await
                .map(drop)
                .map_err(|source| Error::Api {
                    name: name.clone(),
                    source,
                })
            }
        }
    }
}
