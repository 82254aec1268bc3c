//! ClusterInterceptor (cluster-scoped) and Interceptor (namespaced), `triggers.tekton.dev/v1alpha1`
//! (upstream `pkg/apis/triggers/v1alpha1/cluster_interceptor_types.go`, `interceptor_types.go`;
//! reference §1.8): where a custom interceptor listens. Both kinds share one shape.

use base64::Engine as _;
use serde::{Deserialize, Deserializer};

use super::ObjectMeta;

/// A ClusterInterceptor or an Interceptor as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Interceptor {
    /// Object metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: InterceptorSpec,
    /// Status; upstream's controller copies the resolved URL to `status.address.url`.
    #[serde(default)]
    pub status: InterceptorStatus,
}

/// `spec` of a ClusterInterceptor or Interceptor.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InterceptorSpec {
    /// How to reach the interceptor.
    #[serde(default)]
    pub client_config: ClientConfig,
}

/// `spec.clientConfig`: `url` or `service`, plus the CA bundle that signs the interceptor's
/// certificate.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    /// PEM certificates (base64 in the manifest, as Go's `[]byte`); empty: none.
    #[serde(default, deserialize_with = "base64_bytes")]
    pub ca_bundle: Vec<u8>,
    /// A whole URL (exclusive with `service`).
    #[serde(default)]
    pub url: Option<String>,
    /// A Service in the cluster (exclusive with `url`).
    #[serde(default)]
    pub service: Option<ServiceReference>,
}

/// `clientConfig.service`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct ServiceReference {
    /// Service name.
    #[serde(default)]
    pub name: String,
    /// Service namespace.
    #[serde(default)]
    pub namespace: String,
    /// URL path; `""`: none.
    #[serde(default)]
    pub path: String,
    /// Port; default 80 without a CA bundle, 8443 with one.
    #[serde(default)]
    pub port: Option<u16>,
}

/// `status` of a ClusterInterceptor or Interceptor, as far as the sink reads it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct InterceptorStatus {
    /// `status.address`.
    #[serde(default)]
    pub address: Option<Address>,
}

/// `status.address` (Knative's `duckv1.Addressable`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Address {
    /// The URL the controller resolved.
    #[serde(default)]
    pub url: Option<String>,
}

/// A `[]byte` field as Go's JSON holds it: base64 (standard alphabet, padded); `null` is empty.
fn base64_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    use serde::de::Error;
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(Vec::new());
    };
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| D::Error::custom(format!("not base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_interceptor_reads_its_client_config_and_status() {
        let ci: Interceptor = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "custom"},
            "spec": {"clientConfig": {
                "caBundle": "LS0tLS1CRUdJTg==",
                "service": {"name": "svc", "namespace": "ns", "path": "/x", "port": 8443}
            }},
            "status": {"address": {"url": "https://svc.ns.svc:8443/x"}}
        }))
        .unwrap();
        assert_eq!(ci.spec.client_config.ca_bundle, b"-----BEGIN");
        let service = ci.spec.client_config.service.unwrap();
        assert_eq!((service.name.as_str(), service.port), ("svc", Some(8443)));
        assert_eq!(
            ci.status.address.unwrap().url.as_deref(),
            Some("https://svc.ns.svc:8443/x")
        );
        let bad = serde_json::from_value::<Interceptor>(serde_json::json!({
            "metadata": {"name": "custom"},
            "spec": {"clientConfig": {"caBundle": "not base64!"}}
        }));
        assert!(bad.unwrap_err().to_string().contains("not base64"));
    }
}
