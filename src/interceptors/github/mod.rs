//! The `github` interceptor (reference §4.1, upstream `pkg/interceptors/github/github.go`).
//!
//! Checks, in upstream's order: form-encoded bodies are refused; `eventTypes` (when the param is
//! present, even `[]`) must contain `X-GitHub-Event` exactly; with `secretRef`,
//! `X-Hub-Signature-256` must be the HMAC of the exact body bytes keyed with the Secret's value;
//! then `addChangedFiles` ([`changed_files`]: when enabled, it always decides and
//! `githubOwners` never runs, as upstream) or `githubOwners` ([`owners`]), both through the GitHub
//! REST API ([`crate::github_api`]) for what the payload does not hold.
//!
//! Params are read as Go's `encoding/json` reads upstream's structs: inside `addChangedFiles` and
//! `githubOwners` a key matches its field without regard to case (upstream's own example writes
//! `CheckType: none`), and unknown keys are ignored.
//!
//! Outcomes (upstream answers `FailedPrecondition` for all but the form check):
//! - the event type, the owners check not met, or `checkType` needing a token that is not given:
//!   [`StopReason::Filtered`];
//! - a bad or missing signature: [`StopReason::Unauthenticated`];
//! - a form body, a payload without the fields a step reads, an `X-Github-Enterprise-Host` that
//!   makes no URL: [`StopReason::InvalidRequest`];
//! - a Secret that cannot be read ([`Error::Secret`], [`Error::GitHubToken`]), the GitHub API
//!   failing (refused, 403 rate limit, 5xx, past the 3 s deadline of one event's calls) or an
//!   `OWNERS` file that cannot be read ([`Error::GitHubApi`]): the trigger fails, so the
//!   delivery is answered 503 and can be retried.
//!
//! Differences from upstream, on purpose:
//! - `secretRef` or a `personalAccessToken` with an empty `secretKey`, or naming a Secret or key
//!   that does not exist, fails at config load instead of on every event;
//! - `sha1=` is refused inside `X-Hub-Signature-256` (see [`super::signature`]);
//! - with `serve --github-api-url`, every call goes there and `X-Github-Enterprise-Host` is
//!   ignored (upstream's header can send the token to any host a sender names).

mod changed_files;
mod owners;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub use changed_files::EXTENSION as CHANGED_FILES_EXTENSION;
pub use owners::{OK_TO_TEST, has_ok_to_test_line};

use super::common::{SecretParam, check_event_type, event_types};
use super::{
    BoxFuture, BuildContext, BuildError, Decision, Error, Interceptor, InterceptorRequest,
    StopReason,
};
use crate::api::SecretRef;
use crate::github_api::Endpoint;

use hyper::header::{CONTENT_TYPE, HeaderName};

const NAME: &str = "github";
/// Header naming the GitHub event type (`X-GitHub-Event`), parsed at compile time for the
/// per-event lookups.
pub const EVENT_HEADER: HeaderName = HeaderName::from_static("x-github-event");
/// Header carrying the body signature (`X-Hub-Signature-256`), parsed at compile time.
pub const SIGNATURE_HEADER: HeaderName = HeaderName::from_static("x-hub-signature-256");
/// Header naming a GitHub Enterprise host, whose API `https://HOST/api/v3/` is then called.
pub const ENTERPRISE_HOST_HEADER: &str = "X-Github-Enterprise-Host";

const PULL_REQUEST: &str = "pull_request";

/// The github interceptor, built from its params.
#[derive(Debug)]
pub struct GitHub {
    secret: Option<SecretParam>,
    event_types: Option<Vec<String>>,
    /// `addChangedFiles`, when enabled.
    changed_files: Option<changed_files::AddChangedFiles>,
    /// `githubOwners`, when enabled.
    owners: Option<owners::Owners>,
    api: Endpoint,
}

impl GitHub {
    /// Builds from params `secretRef`, `eventTypes`, `addChangedFiles`
    /// (`{enabled, personalAccessToken{secretName, secretKey}}`) and `githubOwners`
    /// (`{enabled, personalAccessToken, checkType}`).
    ///
    /// # Errors
    /// [`BuildError`] for params of the wrong shape, an empty `secretKey`, a missing Secret or
    /// key.
    pub fn build(
        params: &BTreeMap<&str, &serde_json::Value>,
        ctx: &BuildContext,
    ) -> Result<Self, BuildError> {
        let event_types = event_types(NAME, params)?;
        let secret = SecretParam::build(NAME, params, ctx)?;
        let changed_files = match go_struct(params, "addChangedFiles")? {
            Some(fields) if go_bool(fields, "addChangedFiles", "enabled")? => {
                Some(changed_files::AddChangedFiles {
                    token: go_secret_ref(fields, "addChangedFiles", "githubToken", ctx)?,
                })
            }
            _ => None,
        };
        let owners = match go_struct(params, "githubOwners")? {
            Some(fields) if go_bool(fields, "githubOwners", "enabled")? => {
                let check_type = match go_field(fields, "checkType") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(_) => {
                        return Err(param_error("githubOwners", "checkType: expected a string"));
                    }
                };
                let owners = owners::Owners {
                    token: go_secret_ref(fields, "githubOwners", "personalAccessToken", ctx)?,
                    check_type: owners::CheckType::parse(&check_type),
                };
                if owners.token.is_none() && owners.check_type != owners::CheckType::None {
                    tracing::warn!(
                        check_type,
                        "github interceptor: githubOwners without personalAccessToken stops every pull_request and issue_comment event (checkType is not none)"
                    );
                }
                Some(owners)
            }
            _ => None,
        };
        if changed_files.is_some() && owners.is_some() {
            tracing::warn!(
                "github interceptor: addChangedFiles is enabled, so githubOwners never runs (as upstream); use two github interceptors for both"
            );
        }
        Ok(Self {
            secret,
            event_types,
            changed_files,
            owners,
            api: ctx.github_api.clone(),
        })
    }

    async fn decide(&self, request: &InterceptorRequest<'_>) -> Result<Decision, Error> {
        let event = request.event.event();
        let headers = event.headers();
        if headers.get_header(&CONTENT_TYPE) == Some("application/x-www-form-urlencoded") {
            return Ok(Decision::stop(
                StopReason::InvalidRequest,
                "form parameter encoding not supported, please change the hook to send JSON payloads",
            ));
        }
        if let Some(stop) = check_event_type(
            self.event_types.as_deref(),
            headers.get_header(&EVENT_HEADER),
        ) {
            return Ok(stop);
        }
        if let Some(secret) = &self.secret {
            let Some(header) = headers.get_header(&SIGNATURE_HEADER) else {
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
        // NB: the GitHub API steps are boxed: their futures hold HTTP calls (kilobytes), and
        // inline they would make every event's github future that size, configured or not.
        if let Some(feature) = &self.changed_files {
            return Box::pin(changed_files::decide(feature, &self.api, event)).await;
        }
        if let Some(owners) = &self.owners
            && let Some(stop) = Box::pin(owners::decide(owners, &self.api, event)).await?
        {
            return Ok(stop);
        }
        Ok(Decision::proceed())
    }
}

/// What one event's GitHub API calls may take together: upstream's 3 s context for a whole
/// interceptor request (`pkg/interceptors/server/server.go`).
const API_DEADLINE: std::time::Duration = crate::github_api::DEFAULT_TIMEOUT;

/// The body as the JSON object upstream unmarshals it into (`map[string]interface{}`), with Go's
/// texts for an empty body (`empty`) and a body of another JSON type.
fn body_object(body: &[u8], empty: &str) -> Result<Map<String, Value>, String> {
    if body.is_empty() {
        return Err(empty.to_owned());
    }
    match serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())? {
        Value::Object(object) => Ok(object),
        Value::Null => Ok(Map::new()),
        other => {
            let kind = match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            };
            Err(format!(
                "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            ))
        }
    }
}

/// A JSON number as Go's `int(x.(float64))` makes it (truncated); `None` for other types.
fn go_int(value: &Value) -> Option<i64> {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "Go's int(float64) truncates too"
    )]
    value.as_f64().map(|f| f as i64)
}

/// `repository.full_name` split into owner and repository at `/`, as upstream reads it.
fn owner_and_repository(object: &Map<String, Value>) -> Result<(String, String), String> {
    let repository = object
        .get("repository")
        .and_then(Value::as_object)
        .ok_or("payload body missing 'repository' field")?;
    let full_name = repository
        .get("full_name")
        .and_then(Value::as_str)
        .ok_or("payload body missing 'repository.full_name' field")?;
    let mut parts = full_name.split('/');
    match (parts.next(), parts.next()) {
        (Some(owner), Some(repo)) => Ok((owner.to_owned(), repo.to_owned())),
        _ => Err(format!(
            "'repository.full_name' {full_name:?} is not owner/repository"
        )),
    }
}

fn param_error(param: &str, message: impl Into<String>) -> BuildError {
    BuildError::Param {
        interceptor: NAME.into(),
        param: param.into(),
        message: message.into(),
    }
}

/// Param `name` as the fields of a Go struct: `None` when absent or `null`.
fn go_struct<'a>(
    params: &BTreeMap<&str, &'a Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, BuildError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(fields)) => Ok(Some(fields)),
        Some(_) => Err(param_error(name, "expected an object")),
    }
}

/// Field `name` of `fields` as Go's `encoding/json` finds it: the exact key, else one equal
/// without regard to ASCII case.
fn go_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).or_else(|| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// Boolean field `name` (`false` when absent or `null`).
fn go_bool(fields: &Map<String, Value>, param: &str, name: &str) -> Result<bool, BuildError> {
    match go_field(fields, name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(param_error(param, format!("{name}: expected a boolean"))),
    }
}

/// The `personalAccessToken` `{secretName, secretKey}` of `fields`, checked as `secretRef` is;
/// `label` names it in the empty-key message as upstream does.
fn go_secret_ref(
    fields: &Map<String, Value>,
    param: &str,
    label: &str,
    ctx: &BuildContext,
) -> Result<Option<SecretParam>, BuildError> {
    let reference = match go_field(fields, "personalAccessToken") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(reference)) => reference,
        Some(_) => {
            return Err(param_error(
                param,
                "personalAccessToken: expected {secretName, secretKey}",
            ));
        }
    };
    let string = |name: &str| match go_field(reference, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(param_error(
            param,
            format!("personalAccessToken.{name}: expected a string"),
        )),
    };
    let reference = SecretRef {
        secret_name: string("secretName")?,
        secret_key: string("secretKey")?,
    };
    SecretParam::from_ref(NAME, param, label, reference, ctx).map(Some)
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
    use crate::interceptors::test_build::{context_with_secret, with_params};

    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &str = "Hello, World!";
    const GOOD: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn ctx() -> BuildContext {
        context_with_secret("gh", "token", SECRET)
    }

    fn build(params: serde_json::Value) -> Result<GitHub, BuildError> {
        with_params(params, |params| GitHub::build(params, &ctx()))
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
        let err = build(json!({"githubOwners": {"enabled": "yes"}})).unwrap_err();
        assert!(
            err.to_string()
                .contains("param githubOwners: enabled: expected a boolean"),
            "{err}"
        );
        let err = build(json!({"addChangedFiles": {"enabled": true,
            "personalAccessToken": {"secretName": "gh", "secretKey": ""}}}))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("github interceptor githubToken.secretKey is empty"),
            "{err}"
        );
        let err = build(json!({"githubOwners": {"enabled": true,
            "personalAccessToken": {"secretName": "nope", "secretKey": "k"}}}))
        .unwrap_err();
        assert!(
            err.to_string().contains("secret ci/nope not found"),
            "{err}"
        );
    }

    #[test]
    fn feature_params_are_read_as_go_reads_them() {
        // Upstream's own example spells it `CheckType`; Go matches fields without regard to case.
        let gh = build(
            json!({"githubOwners": {"Enabled": true, "CheckType": "none",
            "PersonalAccessToken": {"SecretName": "gh", "secretkey": "token"}}}),
        )
        .unwrap();
        let owners = gh.owners.expect("enabled");
        assert_eq!(owners.check_type, owners::CheckType::None);
        assert!(owners.token.is_some());
        let gh = build(
            json!({"githubOwners": {"enabled": false, "checkType": "all"},
            "addChangedFiles": null}),
        )
        .unwrap();
        assert!(gh.owners.is_none() && gh.changed_files.is_none());
        let gh = build(json!({"addChangedFiles": {"enabled": true, "unknown": 1}})).unwrap();
        assert!(gh.changed_files.is_some_and(|f| f.token.is_none()));
    }
}
