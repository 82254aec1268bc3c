//! `v1` Secret, the part the interceptors read (`data` base64, `stringData` plain).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ObjectMeta;

/// A Secret manifest. Its `Debug` output never shows values.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Object metadata.
    pub metadata: ObjectMeta,
    /// Base64-encoded values by key.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Plain values by key; they win over `data` on the same key, as the API server merges them.
    /// Unquoted YAML numbers and booleans are read as their text (`token: 12345`).
    #[serde(default, deserialize_with = "scalar_map")]
    pub string_data: BTreeMap<String, String>,
}

fn scalar_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    struct Scalar(#[serde(deserialize_with = "super::scalar_string")] String);
    Ok(BTreeMap::<String, Scalar>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("metadata", &self.metadata)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field(
                "string_data_keys",
                &self.string_data.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}
