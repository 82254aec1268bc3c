//! The `slack` interceptor (reference §4.4, upstream `pkg/interceptors/slack/slack.go`): reads
//! the fields named in `requestedFields` from a Slack form-encoded request (a slash command, an
//! interactive message) and adds each as an extension, `{field: [values…]}`.
//!
//! Checks, in upstream's order: `Content-Type` exactly `application/x-www-form-urlencoded` and a
//! non-empty `X-Slack-Signature` header (one message for both, upstream's); the body the chain
//! sees (the form JSON the sink converts, reference §3.4) decodes as `{field: [strings]}`;
//! `requestedFields` is set; every requested field is present. The EventListener needs
//! `tekton.dev/payload-validation: "false"`, or the sink refuses the form body before any
//! trigger runs.
//!
//! Differences from upstream, on purpose:
//! - `signingSecretRef` (`{secretName, secretKey}`, ours): when set, the request must carry
//!   Slack's `v0` signature of its raw body (`X-Slack-Signature`) and an
//!   `X-Slack-Request-Timestamp` at most [`MAX_TIMESTAMP_SKEW_SECS`] away from now, checked
//!   before the body is read; upstream verifies nothing, so anyone who can reach the listener
//!   can trigger runs;
//! - a missing field is reported by name, not with a dump of the whole payload (which holds
//!   Slack's verification `token`);
//! - unknown params fail at config load (as for every built-in here).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::common::SecretParam;
use super::{
    BoxFuture, BuildContext, BuildError, Decision, Error, Interceptor, InterceptorRequest,
    StopReason, param,
};
use crate::event::form::FORM_CONTENT_TYPE;

const NAME: &str = "slack";
/// Header carrying Slack's request signature (`v0=<hex>`).
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// Header carrying the Unix time, in seconds, at which Slack signed the request.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// How far, in seconds, `X-Slack-Request-Timestamp` may be from now, either way: Slack's
/// documented replay window (five minutes).
pub const MAX_TIMESTAMP_SKEW_SECS: u64 = 300;

/// Upstream's one message for a wrong `Content-Type` and a missing `X-Slack-Signature`.
const MISSING_HEADER: &str =
    "missing header in payload: ContentType application/x-www-form-urlencoded";

/// The slack interceptor, built from its params.
#[derive(Debug)]
pub struct Slack {
    /// `requestedFields`; `None` when the param is absent (every event then stops, as upstream).
    requested_fields: Option<Vec<String>>,
    /// `signingSecretRef`: the Slack app's signing secret.
    signing_secret: Option<SecretParam>,
}

impl Slack {
    /// Builds from params `requestedFields` (list of strings) and `signingSecretRef`.
    ///
    /// # Errors
    /// [`BuildError`] for params of the wrong shape, an empty `secretKey`, a missing Secret or
    /// key.
    pub fn build(params: &BTreeMap<&str, &Value>, ctx: &BuildContext) -> Result<Self, BuildError> {
        Ok(Self {
            requested_fields: param(NAME, params, "requestedFields")?,
            signing_secret: SecretParam::build_named(NAME, "signingSecretRef", params, ctx)?,
        })
    }

    async fn decide(&self, request: &InterceptorRequest<'_>, now: u64) -> Result<Decision, Error> {
        let event = request.event;
        let headers = event.event().headers();
        if headers.get("Content-Type") != Some(FORM_CONTENT_TYPE) {
            return Ok(Decision::stop(StopReason::InvalidRequest, MISSING_HEADER));
        }
        let signature = headers.get(SIGNATURE_HEADER).filter(|s| !s.is_empty());
        if let Some(secret) = &self.signing_secret {
            let Some(signature) = signature else {
                return Ok(unauthenticated("no X-Slack-Signature header set"));
            };
            let Some(timestamp) = headers.get(TIMESTAMP_HEADER) else {
                return Ok(unauthenticated("no X-Slack-Request-Timestamp header set"));
            };
            if let Err(message) = check_timestamp(timestamp, now) {
                return Ok(unauthenticated(message));
            }
            let secret = secret.value().await?;
            if let Err(e) = event.verify_slack_signature(secret.expose(), timestamp, signature) {
                return Ok(unauthenticated(format!(
                    "X-Slack-Signature check failed: {e}"
                )));
            }
        } else if signature.is_none() {
            return Ok(Decision::stop(StopReason::InvalidRequest, MISSING_HEADER));
        }
        let payload = match payload(event) {
            Ok(payload) => payload,
            Err(e) => {
                return Ok(Decision::stop(
                    StopReason::InvalidRequest,
                    format!("failed to unmarshl slack payload: {e}"),
                ));
            }
        };
        let Some(fields) = &self.requested_fields else {
            return Ok(Decision::stop(
                StopReason::InvalidRequest,
                "missing requested field definition",
            ));
        };
        let mut extensions = crate::event::Extensions::new();
        for field in fields {
            let Some(values) = payload.get(field) else {
                return Ok(Decision::stop(
                    StopReason::InvalidRequest,
                    format!("requested field does not exists in payload: {field}"),
                ));
            };
            let values = values.iter().cloned().map(Value::String).collect();
            extensions.insert(field.clone(), Value::Array(values));
        }
        Ok(Decision::Continue { extensions })
    }
}

fn unauthenticated(message: impl Into<String>) -> Decision {
    Decision::stop(StopReason::Unauthenticated, message)
}

/// The body the chain sees, as upstream decodes it: the form JSON when the sink converted the
/// request (reference §3.4), else the received body, each as `{field: [strings]}`.
fn payload(event: &super::SharedEvent) -> Result<BTreeMap<String, Vec<String>>, serde_json::Error> {
    match event.form_body() {
        Some(form) => serde_json::from_value(form.clone()),
        None => serde_json::from_slice(event.event().raw_body()),
    }
}

/// `Ok` when `timestamp` (Unix seconds, as Slack sends it) is within
/// [`MAX_TIMESTAMP_SKEW_SECS`] of `now`, either way; else why not.
fn check_timestamp(timestamp: &str, now: u64) -> Result<(), String> {
    let sent: u64 = timestamp.parse().map_err(|_| {
        format!("invalid X-Slack-Request-Timestamp {timestamp:?}: not Unix seconds")
    })?;
    if sent.abs_diff(now) > MAX_TIMESTAMP_SKEW_SECS {
        return Err(format!(
            "X-Slack-Request-Timestamp {sent} is more than {MAX_TIMESTAMP_SKEW_SECS} s from now ({now}): stale or replayed"
        ));
    }
    Ok(())
}

/// Seconds since the Unix epoch (0 for a clock set before it, which fails every timestamp).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Interceptor for Slack {
    fn name(&self) -> &str {
        NAME
    }

    fn process<'a>(
        &'a self,
        request: InterceptorRequest<'a>,
    ) -> BoxFuture<'a, Result<Decision, Error>> {
        Box::pin(async move { self.decide(&request, unix_now()).await })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use serde_json::json;

    use super::*;
    use crate::event::{Event, Extensions, Headers};
    use crate::interceptors::SharedEvent;
    use crate::interceptors::signature::sign_slack_v0;
    use crate::interceptors::test_build::{context_with_secret, with_params};
    use crate::secrets::ManifestSecrets;

    const SECRET: &str = "slack-signing-secret";
    const NOW: u64 = 1_700_000_000;
    const BODY: &str = "command=%2Fdeploy&text=api+staging&user_name=ana&channel_id=C42";

    fn build(params: Value) -> Result<Slack, BuildError> {
        let ctx = context_with_secret("slack", "signing", SECRET);
        with_params(params, |params| Slack::build(params, &ctx))
    }

    fn signed() -> Slack {
        build(json!({
            "requestedFields": ["command", "text"],
            "signingSecretRef": {"secretName": "slack", "secretKey": "signing"}
        }))
        .unwrap()
    }

    fn unsigned(fields: Value) -> Slack {
        build(json!({"requestedFields": fields})).unwrap()
    }

    /// A Slack-like request as the sink receives it without payload validation.
    async fn decide(slack: &Slack, headers: &[(&str, &str)], body: &str) -> Decision {
        let event = Event::from_unvalidated_body(
            "id",
            "/",
            headers.iter().copied().collect::<Headers>(),
            Bytes::copy_from_slice(body.as_bytes()),
        );
        let shared = SharedEvent::new(Arc::new(event));
        let ext = Extensions::new();
        let request = InterceptorRequest {
            event: &shared,
            extensions: &ext,
        };
        slack.decide(&request, NOW).await.unwrap()
    }

    fn form_headers(signature: &str, timestamp: &str) -> Vec<(&'static str, String)> {
        vec![
            ("Content-Type", FORM_CONTENT_TYPE.to_owned()),
            ("X-Slack-Signature", signature.to_owned()),
            ("X-Slack-Request-Timestamp", timestamp.to_owned()),
        ]
    }

    async fn decide_owned(
        slack: &Slack,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Decision {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        decide(slack, &headers, body).await
    }

    fn stop(reason: StopReason, message: &str) -> Decision {
        Decision::stop(reason, message)
    }

    #[tokio::test]
    async fn requested_fields_become_list_extensions() {
        let d = decide(
            &unsigned(json!(["command", "text"])),
            &[
                ("Content-Type", FORM_CONTENT_TYPE),
                ("X-Slack-Signature", "v0=anything"),
            ],
            BODY,
        )
        .await;
        let mut expected = Extensions::new();
        expected.insert("command".into(), json!(["/deploy"]));
        expected.insert("text".into(), json!(["api staging"]));
        assert_eq!(
            d,
            Decision::Continue {
                extensions: expected
            }
        );
        let none = decide(
            &unsigned(json!([])),
            &[
                ("Content-Type", FORM_CONTENT_TYPE),
                ("X-Slack-Signature", "x"),
            ],
            BODY,
        )
        .await;
        assert_eq!(none, Decision::proceed(), "an empty list asks for nothing");
    }

    #[tokio::test]
    async fn content_type_and_signature_header_share_upstreams_message() {
        let slack = unsigned(json!(["text"]));
        for headers in [
            &[("X-Slack-Signature", "v0=1")][..],
            &[
                ("Content-Type", "application/json"),
                ("X-Slack-Signature", "v0=1"),
            ],
            &[("Content-Type", FORM_CONTENT_TYPE)],
            &[
                ("Content-Type", FORM_CONTENT_TYPE),
                ("X-Slack-Signature", ""),
            ],
        ] {
            assert_eq!(
                decide(&slack, headers, BODY).await,
                stop(StopReason::InvalidRequest, MISSING_HEADER),
                "{headers:?}"
            );
        }
    }

    #[tokio::test]
    async fn missing_fields_and_definitions_stop_the_trigger() {
        let headers = [
            ("Content-Type", FORM_CONTENT_TYPE),
            ("X-Slack-Signature", "x"),
        ];
        assert_eq!(
            decide(&unsigned(json!(["text", "team_id"])), &headers, BODY).await,
            stop(
                StopReason::InvalidRequest,
                "requested field does not exists in payload: team_id"
            )
        );
        let no_fields = build(json!({})).unwrap();
        assert_eq!(
            decide(&no_fields, &headers, BODY).await,
            stop(
                StopReason::InvalidRequest,
                "missing requested field definition"
            )
        );
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_converted_form_is_refused() {
        let headers = [
            ("Content-Type", FORM_CONTENT_TYPE),
            ("X-Slack-Signature", "x"),
        ];
        let slack = unsigned(json!(["text"]));
        // One key only: not converted, and not JSON either.
        let d = decide(&slack, &headers, "text=hello").await;
        let Decision::Stop { reason, message } = d else {
            panic!("{d:?}")
        };
        assert_eq!(reason, StopReason::InvalidRequest);
        assert!(
            message.starts_with("failed to unmarshl slack payload: "),
            "{message}"
        );
        // A JSON body of the same shape is what upstream decodes too.
        let d = decide(&slack, &headers, "{\"text\":[\"hi\"]}").await;
        assert!(matches!(d, Decision::Continue { .. }), "{d:?}");
    }

    #[tokio::test]
    async fn a_good_signature_within_the_window_continues() {
        for timestamp in [
            NOW,
            NOW - MAX_TIMESTAMP_SKEW_SECS,
            NOW + MAX_TIMESTAMP_SKEW_SECS,
        ] {
            let timestamp = timestamp.to_string();
            let signature = sign_slack_v0(SECRET.as_bytes(), &timestamp, BODY.as_bytes());
            let d = decide_owned(&signed(), &form_headers(&signature, &timestamp), BODY).await;
            assert!(matches!(d, Decision::Continue { .. }), "{timestamp}: {d:?}");
        }
    }

    #[tokio::test]
    async fn wrong_or_missing_signatures_are_unauthenticated() {
        let timestamp = NOW.to_string();
        let other = sign_slack_v0(b"another secret", &timestamp, BODY.as_bytes());
        let d = decide_owned(&signed(), &form_headers(&other, &timestamp), BODY).await;
        assert_eq!(
            d,
            stop(
                StopReason::Unauthenticated,
                "X-Slack-Signature check failed: payload signature check failed"
            )
        );
        let good = sign_slack_v0(SECRET.as_bytes(), &timestamp, BODY.as_bytes());
        let tampered = BODY.replace("staging", "production");
        let d = decide_owned(&signed(), &form_headers(&good, &timestamp), &tampered).await;
        assert_eq!(
            d,
            stop(
                StopReason::Unauthenticated,
                "X-Slack-Signature check failed: payload signature check failed"
            )
        );
        let mut no_signature = form_headers("", &timestamp);
        no_signature.remove(1);
        let d = decide_owned(&signed(), &no_signature, BODY).await;
        assert_eq!(
            d,
            stop(
                StopReason::Unauthenticated,
                "no X-Slack-Signature header set"
            )
        );
        let mut no_timestamp = form_headers(&good, "");
        no_timestamp.remove(2);
        let d = decide_owned(&signed(), &no_timestamp, BODY).await;
        assert_eq!(
            d,
            stop(
                StopReason::Unauthenticated,
                "no X-Slack-Request-Timestamp header set"
            )
        );
    }

    #[tokio::test]
    async fn stale_future_or_garbled_timestamps_are_unauthenticated() {
        for timestamp in [
            (NOW - MAX_TIMESTAMP_SKEW_SECS - 1).to_string(),
            (NOW + MAX_TIMESTAMP_SKEW_SECS + 1).to_string(),
            "soon".to_owned(),
        ] {
            // Correctly signed: only the time is wrong.
            let signature = sign_slack_v0(SECRET.as_bytes(), &timestamp, BODY.as_bytes());
            let d = decide_owned(&signed(), &form_headers(&signature, &timestamp), BODY).await;
            let Decision::Stop { reason, message } = &d else {
                panic!("{timestamp}: {d:?}")
            };
            assert_eq!(*reason, StopReason::Unauthenticated, "{message}");
            assert!(message.contains("X-Slack-Request-Timestamp"), "{message}");
        }
    }

    #[test]
    fn params_of_the_wrong_shape_or_unknown_fail_at_build() {
        let err = build(json!({"requestedFields": "text"})).unwrap_err();
        assert!(
            matches!(&err, BuildError::Param { param, .. } if param == "requestedFields"),
            "{err}"
        );
        let err = build(json!({"signingSecretRef": {"secretName": "slack", "secretKey": ""}}))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("slack interceptor signingSecretRef.secretKey is empty"),
            "{err}"
        );
        let err = build(json!({"signingSecretRef": {"secretName": "nope", "secretKey": "k"}}))
            .unwrap_err();
        assert!(matches!(err, BuildError::Secret { .. }), "{err}");
        let params = [crate::api::InterceptorParam {
            name: "signingSecret".into(),
            value: json!("x"),
        }];
        let ctx = BuildContext {
            namespace: "ci".into(),
            secrets: Arc::new(ManifestSecrets::new()),
            github_api: Default::default(),
        };
        let err = crate::interceptors::build(NAME, &params, &ctx).unwrap_err();
        assert!(err.to_string().contains("unknown param"), "{err}");
    }
}
