//! The `gitlab` interceptor (reference §4.2, upstream `pkg/interceptors/gitlab/gitlab.go`): with
//! `secretRef`, `X-Gitlab-Token` must equal the Secret's value (constant-time compare); with
//! `eventTypes`, `X-Gitlab-Event` must be one of them.
//!
//! Difference from upstream, on purpose: one trailing newline (`\n` or `\r\n`) of the Secret's
//! value is ignored, so a Secret made with `kubectl create secret --from-file` from a file ending
//! in a newline works (upstream never matches it, §11 item 18).

use std::collections::BTreeMap;

use hyper::header::HeaderName;

use super::common::{SecretParam, check_event_type, event_types};
use super::{
    BoxFuture, BuildContext, BuildError, Decision, Error, Interceptor, InterceptorRequest,
    StopReason,
};

const NAME: &str = "gitlab";
/// Header carrying the shared token.
pub const TOKEN_HEADER: &str = "X-Gitlab-Token";
/// Header naming the GitLab event type (`X-Gitlab-Event`: `Push Hook`, `Merge Request Hook`,
/// …), parsed at compile time.
pub const EVENT_HEADER: HeaderName = HeaderName::from_static("x-gitlab-event");

/// The gitlab interceptor, built from its params.
#[derive(Debug)]
pub struct GitLab {
    secret: Option<SecretParam>,
    event_types: Option<Vec<String>>,
}

impl GitLab {
    /// Builds from params `secretRef` and `eventTypes`.
    ///
    /// # Errors
    /// [`BuildError`] for params of the wrong shape, an empty `secretKey`, a missing Secret or key.
    pub fn build(
        params: &BTreeMap<&str, &serde_json::Value>,
        ctx: &BuildContext,
    ) -> Result<Self, BuildError> {
        Ok(Self {
            secret: SecretParam::build(NAME, params, ctx)?,
            event_types: event_types(NAME, params)?,
        })
    }

    async fn decide(&self, request: &InterceptorRequest<'_>) -> Result<Decision, Error> {
        let headers = request.event.event().headers();
        if let Some(secret) = &self.secret {
            let Some(token) = headers.get(TOKEN_HEADER) else {
                return Ok(Decision::stop(
                    StopReason::Unauthenticated,
                    "no X-Gitlab-Token header set",
                ));
            };
            let value = secret.value().await?;
            let expected = value.expose();
            let expected = expected
                .strip_suffix(b"\r\n")
                .or_else(|| expected.strip_suffix(b"\n"))
                .unwrap_or(expected);
            // An empty secret authenticates no one (not even an empty header).
            let matches = bool::from(subtle::ConstantTimeEq::ct_eq(token.as_bytes(), expected));
            if expected.is_empty() || !matches {
                return Ok(Decision::stop(
                    StopReason::Unauthenticated,
                    "Invalid X-GitLab-Token",
                ));
            }
            request.event.mark_authenticated();
        }
        Ok(check_event_type(
            self.event_types.as_deref(),
            headers.get_header(&EVENT_HEADER),
        )
        .unwrap_or_else(Decision::proceed))
    }
}

impl Interceptor for GitLab {
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
    use crate::interceptors::test_build::{context_with_secret, with_params};

    fn build(params: serde_json::Value, token: &str) -> Result<GitLab, BuildError> {
        let ctx = context_with_secret("gl", "token", token);
        with_params(params, |params| GitLab::build(params, &ctx))
    }

    async fn decide(gl: &GitLab, headers: &[(&str, &str)]) -> Decision {
        let event = Event::new(
            "id",
            "/",
            headers.iter().copied().collect::<Headers>(),
            b"{}",
            json!({}),
        );
        let shared = SharedEvent::new(Arc::new(event));
        let ext = Extensions::new();
        gl.decide(&InterceptorRequest {
            event: &shared,
            extensions: &ext,
        })
        .await
        .unwrap()
    }

    fn full(token: &str) -> GitLab {
        build(
            json!({"secretRef": {"secretName": "gl", "secretKey": "token"}, "eventTypes": ["Push Hook"]}),
            token,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn right_token_and_event_type_continue() {
        let d = decide(
            &full("s3cret"),
            &[
                ("X-Gitlab-Token", "s3cret"),
                ("X-Gitlab-Event", "Push Hook"),
            ],
        )
        .await;
        assert_eq!(d, Decision::proceed());
        let d = decide(
            &full("s3cret\n"),
            &[
                ("X-Gitlab-Token", "s3cret"),
                ("X-Gitlab-Event", "Push Hook"),
            ],
        )
        .await;
        assert_eq!(
            d,
            Decision::proceed(),
            "a trailing newline in the Secret is ignored"
        );
    }

    #[tokio::test]
    async fn wrong_or_missing_token_is_unauthenticated() {
        let d = decide(
            &full("s3cret"),
            &[("X-Gitlab-Token", "guess"), ("X-Gitlab-Event", "Push Hook")],
        )
        .await;
        assert_eq!(
            d,
            Decision::stop(StopReason::Unauthenticated, "Invalid X-GitLab-Token")
        );
        let d = decide(&full("s3cret"), &[("X-Gitlab-Event", "Push Hook")]).await;
        assert_eq!(
            d,
            Decision::stop(StopReason::Unauthenticated, "no X-Gitlab-Token header set")
        );
    }

    #[tokio::test]
    async fn an_empty_secret_matches_nothing() {
        let d = decide(
            &full("\n"),
            &[("X-Gitlab-Token", ""), ("X-Gitlab-Event", "Push Hook")],
        )
        .await;
        assert_eq!(
            d,
            Decision::stop(StopReason::Unauthenticated, "Invalid X-GitLab-Token")
        );
    }

    #[tokio::test]
    async fn other_event_types_are_filtered() {
        let d = decide(
            &full("s3cret"),
            &[
                ("X-Gitlab-Token", "s3cret"),
                ("X-Gitlab-Event", "Tag Push Hook"),
            ],
        )
        .await;
        assert_eq!(
            d,
            Decision::stop(
                StopReason::Filtered,
                "event type Tag Push Hook is not allowed"
            )
        );
    }

    #[test]
    fn empty_secret_key_fails_at_build() {
        let err = build(
            json!({"secretRef": {"secretName": "gl", "secretKey": ""}}),
            "x",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("gitlab interceptor secretRef.secretKey is empty"),
            "{err}"
        );
    }
}
