//! The `bitbucket` interceptor (reference §4.3, upstream `pkg/interceptors/bitbucket/bitbucket.go`):
//! with `secretRef`, `X-Hub-Signature` (Bitbucket Server's `sha256=<hex>`) must be the HMAC of the
//! exact body keyed with the Secret's value; with `eventTypes`, `X-Event-Key` (`repo:refs_changed`,
//! `pr:opened`, …) must be one of them. Bitbucket Cloud does not sign: configure it without
//! `secretRef`, as upstream.

use std::collections::BTreeMap;

use hyper::header::HeaderName;

use super::common::{SecretParam, check_event_type, event_types};
use super::{
    BoxFuture, BuildContext, BuildError, Decision, Error, Interceptor, InterceptorRequest,
    StopReason,
};

const NAME: &str = "bitbucket";
/// Header carrying the body signature.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature";
/// Header naming the Bitbucket event type (`X-Event-Key`), parsed at compile time.
pub const EVENT_HEADER: HeaderName = HeaderName::from_static("x-event-key");

/// The bitbucket interceptor, built from its params.
#[derive(Debug)]
pub struct Bitbucket {
    secret: Option<SecretParam>,
    event_types: Option<Vec<String>>,
}

impl Bitbucket {
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
        let event = request.event.event();
        let headers = event.headers();
        if let Some(secret) = &self.secret {
            let Some(header) = headers.get(SIGNATURE_HEADER) else {
                return Ok(Decision::stop(
                    StopReason::Unauthenticated,
                    "no X-Hub-Signature header set",
                ));
            };
            let value = secret.value().await?;
            if let Err(e) = request.event.verify_signature(
                value.expose(),
                header,
                super::signature::Algorithms::AlsoSha1,
            ) {
                return Ok(Decision::stop(
                    StopReason::Unauthenticated,
                    format!("error validating signature: {e}"),
                ));
            }
        }
        Ok(check_event_type(
            self.event_types.as_deref(),
            headers.get_header(&EVENT_HEADER),
        )
        .unwrap_or_else(Decision::proceed))
    }
}

impl Interceptor for Bitbucket {
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

    const BODY: &[u8] = b"{\"eventKey\":\"repo:refs_changed\"}";

    fn build(params: serde_json::Value) -> Result<Bitbucket, BuildError> {
        let ctx = context_with_secret("bb", "token", "s3cret");
        with_params(params, |params| Bitbucket::build(params, &ctx))
    }

    async fn decide(bb: &Bitbucket, headers: &[(&str, &str)]) -> Decision {
        let event = Event::new(
            "id",
            "/",
            headers.iter().copied().collect::<Headers>(),
            BODY,
            serde_json::from_slice(BODY).unwrap(),
        );
        let shared = SharedEvent::new(Arc::new(event));
        let ext = Extensions::new();
        bb.decide(&InterceptorRequest {
            event: &shared,
            extensions: &ext,
        })
        .await
        .unwrap()
    }

    fn full() -> Bitbucket {
        build(json!({"secretRef": {"secretName": "bb", "secretKey": "token"}, "eventTypes": ["repo:refs_changed"]}))
            .unwrap()
    }

    #[tokio::test]
    async fn signed_event_of_an_allowed_type_continues() {
        let signature = super::super::signature::sign_sha256(b"s3cret", BODY);
        let d = decide(
            &full(),
            &[
                ("X-Hub-Signature", &signature),
                ("X-Event-Key", "repo:refs_changed"),
            ],
        )
        .await;
        assert_eq!(d, Decision::proceed());
    }

    /// Bitbucket Server may sign with `sha1=`; upstream's parser (go-github) accepts `sha1=`,
    /// `sha256=` and `sha512=` in `X-Hub-Signature` (reference §4.3). Values computed with
    /// `openssl dgst -hmac s3cret`.
    #[tokio::test]
    async fn sha1_and_sha512_signatures_are_accepted_as_upstream() {
        for signature in [
            "sha1=192b9e7bb68a95ba290d541a841ea484f8762261",
            "sha512=1d5d239ce973fd26fa5606a36c2a374af1f4ee3469edf44b711c4429fa68847a9d566ae8553ff787d5801a5e45fb86d8c8bb9a183fd3a4cecec442b8702a7bed",
        ] {
            let d = decide(
                &full(),
                &[
                    ("X-Hub-Signature", signature),
                    ("X-Event-Key", "repo:refs_changed"),
                ],
            )
            .await;
            assert_eq!(d, Decision::proceed(), "{signature}");
        }
    }

    #[tokio::test]
    async fn bad_or_missing_signature_is_unauthenticated() {
        let wrong = super::super::signature::sign_sha256(b"guess", BODY);
        let d = decide(
            &full(),
            &[
                ("X-Hub-Signature", &wrong),
                ("X-Event-Key", "repo:refs_changed"),
            ],
        )
        .await;
        assert_eq!(
            d,
            Decision::stop(
                StopReason::Unauthenticated,
                "error validating signature: payload signature check failed"
            )
        );
        let d = decide(&full(), &[("X-Event-Key", "repo:refs_changed")]).await;
        assert_eq!(
            d,
            Decision::stop(StopReason::Unauthenticated, "no X-Hub-Signature header set")
        );
    }

    #[tokio::test]
    async fn unsigned_cloud_setup_filters_on_event_type_only() {
        let bb = build(json!({"eventTypes": ["pr:opened"]})).unwrap();
        assert_eq!(
            decide(&bb, &[("X-Event-Key", "pr:opened")]).await,
            Decision::proceed()
        );
        assert!(matches!(
            decide(&bb, &[("X-Event-Key", "repo:push")]).await,
            Decision::Stop {
                reason: StopReason::Filtered,
                ..
            }
        ));
    }
}
