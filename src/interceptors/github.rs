//! The `github` interceptor (reference §4.1, upstream `pkg/interceptors/github/github.go`).
//!
//! Checks, in upstream's order: form-encoded bodies are refused; `eventTypes` (when the param is
//! present, even `[]`) must contain `X-GitHub-Event` exactly; with `secretRef`,
//! `X-Hub-Signature-256` must be the HMAC of the exact body bytes keyed with the Secret's value.
//!
//! Differences from upstream, on purpose:
//! - `secretRef` with an empty `secretKey`, or naming a Secret or key that does not exist, fails
//!   at config load instead of on every event;
//! - `addChangedFiles` and `githubOwners` need GitHub API access this build does not have:
//!   enabling either fails at config load (silently skipping an owners gate would let anyone
//!   trigger runs);
//! - `sha1=` is refused inside `X-Hub-Signature-256` (see [`super::signature`]).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::common::{SecretParam, check_event_type, event_types};
use super::{
    BoxFuture, BuildContext, BuildError, Decision, Error, Interceptor, InterceptorRequest,
    StopReason, param,
};

const NAME: &str = "github";
/// Header naming the GitHub event type.
pub const EVENT_HEADER: &str = "X-GitHub-Event";
/// Header carrying the body signature.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// The github interceptor, built from its params.
#[derive(Debug)]
pub struct GitHub {
    secret: Option<SecretParam>,
    event_types: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Enabled {
    #[serde(default)]
    enabled: bool,
}

impl GitHub {
    /// Builds from params `secretRef`, `eventTypes`, `addChangedFiles`, `githubOwners`.
    ///
    /// # Errors
    /// [`BuildError`] for params of the wrong shape, an empty `secretKey`, a missing Secret or key,
    /// and enabled `addChangedFiles`/`githubOwners`.
    pub fn build(
        params: &BTreeMap<&str, &serde_json::Value>,
        ctx: &BuildContext,
    ) -> Result<Self, BuildError> {
        let event_types = event_types(NAME, params)?;
        let secret = SecretParam::build(NAME, params, ctx)?;
        for feature in ["addChangedFiles", "githubOwners"] {
            if param::<Enabled>(NAME, params, feature)?.is_some_and(|f| f.enabled) {
                return Err(BuildError::Param {
                    interceptor: NAME.into(),
                    param: feature.into(),
                    message: "needs GitHub API access, which this listener does not support yet"
                        .into(),
                });
            }
        }
        Ok(Self {
            secret,
            event_types,
        })
    }

    async fn decide(&self, request: &InterceptorRequest<'_>) -> Result<Decision, Error> {
        let event = request.event.event();
        let headers = event.headers();
        if headers.get("Content-Type") == Some("application/x-www-form-urlencoded") {
            return Ok(Decision::stop(
                StopReason::InvalidRequest,
                "form parameter encoding not supported, please change the hook to send JSON payloads",
            ));
        }
        if let Some(stop) = check_event_type(self.event_types.as_deref(), headers.get(EVENT_HEADER))
        {
            return Ok(stop);
        }
        if let Some(secret) = &self.secret {
            let Some(header) = headers.get(SIGNATURE_HEADER) else {
                return Ok(Decision::stop(
                    StopReason::Unauthenticated,
                    "no X-Hub-Signature-256 header set",
                ));
            };
            let secret = secret.value().await?;
            if let Err(e) = request.event.verify_signature(
                secret.expose(),
                header,
                super::signature::Algorithms::Sha256OrSha512,
            ) {
                return Ok(Decision::stop(StopReason::Unauthenticated, e.to_string()));
            }
        }
        Ok(Decision::proceed())
    }
}

impl Interceptor for GitHub {
    fn name(&self) -> &str {
        NAME
    }

    fn process<'a>(
        &'a self,
        request: InterceptorRequest<'a>,
    ) -> BoxFuture<'a, Result<Decision, Error>> {
        Box::pin(async move { self.decide(&request).await })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::event::{Event, Extensions, Headers};
    use crate::interceptors::SharedEvent;
    use crate::secrets::ManifestSecrets;

    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &str = "Hello, World!";
    const GOOD: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn ctx() -> BuildContext {
        let mut store = ManifestSecrets::new();
        let secret = serde_json::from_value(json!({
            "metadata": {"name": "gh"}, "stringData": {"token": SECRET}
        }))
        .unwrap();
        store.insert("ci", &secret).unwrap();
        BuildContext {
            namespace: "ci".into(),
            secrets: Arc::new(store),
        }
    }

    fn build(params: serde_json::Value) -> Result<GitHub, BuildError> {
        let params: BTreeMap<String, serde_json::Value> = serde_json::from_value(params).unwrap();
        let params = params.iter().map(|(k, v)| (k.as_str(), v)).collect();
        GitHub::build(&params, &ctx())
    }

    fn decide(gh: &GitHub, headers: &[(&str, &str)]) -> Decision {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(decide_async(gh, headers))
    }

    async fn decide_async(gh: &GitHub, headers: &[(&str, &str)]) -> Decision {
        let event = Event::new(
            "id",
            "/",
            headers.iter().copied().collect::<Headers>(),
            BODY.as_bytes(),
            serde_json::Value::Null,
        );
        let shared = SharedEvent::new(Arc::new(event));
        let ext = Extensions::new();
        gh.decide(&InterceptorRequest {
            event: &shared,
            extensions: &ext,
        })
        .await
        .unwrap()
    }

    fn full() -> GitHub {
        build(json!({
            "secretRef": {"secretName": "gh", "secretKey": "token"},
            "eventTypes": ["pull_request"]
        }))
        .unwrap()
    }

    #[test]
    fn valid_signature_and_event_type_continue() {
        let d = decide(
            &full(),
            &[
                ("x-github-event", "pull_request"),
                ("x-hub-signature-256", GOOD),
            ],
        );
        assert_eq!(d, Decision::proceed());
    }

    #[test]
    fn wrong_or_missing_signature_is_unauthenticated() {
        let d = decide(
            &full(),
            &[
                ("X-GitHub-Event", "pull_request"),
                ("X-Hub-Signature-256", "sha256=00"),
            ],
        );
        assert_eq!(
            d,
            Decision::stop(
                StopReason::Unauthenticated,
                "payload signature check failed"
            )
        );
        let d = decide(&full(), &[("X-GitHub-Event", "pull_request")]);
        assert_eq!(
            d,
            Decision::stop(
                StopReason::Unauthenticated,
                "no X-Hub-Signature-256 header set"
            )
        );
    }

    #[test]
    fn event_type_is_checked_before_the_signature() {
        let d = decide(&full(), &[("X-GitHub-Event", "push")]);
        assert_eq!(
            d,
            Decision::stop(StopReason::Filtered, "event type push is not allowed")
        );
        let empty = build(json!({"eventTypes": []})).unwrap();
        assert!(matches!(
            decide(&empty, &[("X-GitHub-Event", "pull_request")]),
            Decision::Stop {
                reason: StopReason::Filtered,
                ..
            }
        ));
    }

    #[test]
    fn form_bodies_are_refused() {
        let d = decide(
            &full(),
            &[("Content-Type", "application/x-www-form-urlencoded")],
        );
        assert!(matches!(
            d,
            Decision::Stop {
                reason: StopReason::InvalidRequest,
                ..
            }
        ));
    }

    #[test]
    fn no_params_accepts_everything() {
        assert_eq!(decide(&build(json!({})).unwrap(), &[]), Decision::proceed());
    }

    #[test]
    fn a_misspelled_param_fails_at_load_instead_of_disabling_the_check() {
        let params = vec![crate::api::InterceptorParam {
            name: "secretref".into(),
            value: json!({"secretName": "gh", "secretKey": "token"}),
        }];
        let err = crate::interceptors::build("github", &params, &ctx()).unwrap_err();
        assert!(
            err.to_string().contains("param secretref: unknown param"),
            "{err}"
        );
        let legacy: Result<crate::api::TriggerInterceptor, _> = serde_json::from_value(json!({
            "github": {"secretref": {"secretName": "gh", "secretKey": "token"}}
        }));
        assert!(legacy.is_err());
    }

    #[test]
    fn config_problems_fail_at_build() {
        let err = build(json!({"secretRef": {"secretName": "gh", "secretKey": ""}})).unwrap_err();
        assert!(
            err.to_string().contains("secretRef.secretKey is empty"),
            "{err}"
        );
        let err =
            build(json!({"secretRef": {"secretName": "nope", "secretKey": "k"}})).unwrap_err();
        assert!(
            err.to_string().contains("secret ci/nope not found"),
            "{err}"
        );
        let err = build(json!({"eventTypes": "pull_request"})).unwrap_err();
        assert!(matches!(err, BuildError::Param { .. }), "{err}");
        let err = build(json!({"githubOwners": {"enabled": true}})).unwrap_err();
        assert!(err.to_string().contains("githubOwners"), "{err}");
        assert!(build(json!({"addChangedFiles": {"enabled": false}})).is_ok());
    }
}
