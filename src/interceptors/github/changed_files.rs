//! github `addChangedFiles` (reference §4.1 step 4; upstream `github.go`
//! `parseBodyForChangedFiles`, `getChangedFilesFromPr`): the extension `changed_files`, the
//! comma-joined file names of a `push` (from the payload, no API call) or a `pull_request` (every
//! page of the GitHub API's list of its files).

use serde_json::Value;

use super::{ENTERPRISE_HOST_HEADER, EVENT_HEADER};
use crate::event::{Event, Extensions};
use crate::github_api::Endpoint;
use crate::interceptors::common::SecretParam;
use crate::interceptors::{Decision, Error, StopReason};

/// The extension's key.
pub const EXTENSION: &str = "changed_files";

/// Upstream's prefix for API failures of this step.
const STEP: &str = "error getting changed files";

/// The enabled `addChangedFiles` param.
#[derive(Debug)]
pub(super) struct AddChangedFiles {
    /// `personalAccessToken`, if given.
    pub(super) token: Option<SecretParam>,
}

/// What the payload says (upstream's `payloadDetails`).
#[derive(Debug, PartialEq, Eq)]
struct Payload {
    /// `number`; `None` for a push.
    number: Option<i64>,
    owner: String,
    repository: String,
    /// A push's files, comma-joined.
    changed_files: String,
}

/// Step 4: always decides (the owners step never runs after it, as upstream).
///
/// # Errors
/// [`Error::Secret`] when the token cannot be read, [`Error::GitHubApi`] when the API fails.
pub(super) async fn decide(
    feature: &AddChangedFiles,
    api: &Endpoint,
    event: &Event,
) -> Result<Decision, Error> {
    let headers = event.headers();
    let event_type = headers.get_header(&EVENT_HEADER).unwrap_or_default();
    if event_type != "push" && event_type != super::PULL_REQUEST {
        return Ok(Decision::proceed());
    }
    let token = match &feature.token {
        Some(token) => Some(token.value().await?),
        None => None,
    };
    let payload = match parse(event.raw_body(), event_type) {
        Ok(payload) => payload,
        Err(message) => {
            return Ok(Decision::stop(
                StopReason::InvalidRequest,
                format!("error parsing body: {message}"),
            ));
        }
    };
    let files = match payload.number {
        Some(number) if event_type == super::PULL_REQUEST => {
            let base = match api.base_for(headers.get(ENTERPRISE_HOST_HEADER)) {
                Ok(base) => base,
                Err(e) => {
                    return Ok(Decision::stop(
                        StopReason::InvalidRequest,
                        format!("{STEP}: {e}"),
                    ));
                }
            };
            let api_error = |source| Error::GitHubApi { step: STEP, source };
            let client = api
                .client(base, token.as_ref())
                .map_err(api_error)?
                .with_deadline(super::API_DEADLINE);
            client
                .pull_request_files(&payload.owner, &payload.repository, number)
                .await
                .map_err(api_error)?
                .join(",")
        }
        _ => payload.changed_files,
    };
    let mut extensions = Extensions::new();
    extensions.insert(EXTENSION.to_owned(), Value::String(files));
    Ok(Decision::Continue { extensions })
}

/// The payload as upstream's `parseBodyForChangedFiles` reads it, with its error texts (where
/// Go would panic on a value of the wrong type, an error says what is wrong).
fn parse(body: &[u8], event_type: &str) -> Result<Payload, String> {
    let object = super::body_object(body, "body is empty")?;
    let number = match object.get("number") {
        Some(n) => Some(super::go_int(n).ok_or("'number' field is not a number")?),
        None if event_type == super::PULL_REQUEST => {
            return Err("pull_request body missing 'number' field".into());
        }
        None => None,
    };
    let (owner, repository) = super::owner_and_repository(&object)?;
    let mut files: Vec<String> = Vec::new();
    if let Some(Value::Array(commits)) = object.get("commits") {
        for commit in commits {
            for part in ["added", "modified", "removed"] {
                let Some(Value::Array(names)) = commit.get(part) else {
                    return Err(format!("payload body missing 'commits.*.{part}' field"));
                };
                files.extend(names.iter().map(file_name));
            }
        }
    }
    Ok(Payload {
        number,
        owner,
        repository,
        changed_files: files.join(","),
    })
}

/// A file name as Go's `%v` prints it: strings as they are, anything else as JSON.
fn file_name(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse_json(body: &Value, event_type: &str) -> Result<Payload, String> {
        parse(body.to_string().as_bytes(), event_type)
    }

    #[test]
    fn a_push_lists_added_modified_removed_per_commit_with_duplicates() {
        let body = json!({
            "repository": {"full_name": "octo/hello"},
            "commits": [
                {"added": ["a.md"], "modified": ["b.rs", "c.rs"], "removed": []},
                {"added": [], "modified": ["b.rs"], "removed": ["d"]}
            ]
        });
        let payload = parse_json(&body, "push").unwrap();
        assert_eq!(payload.changed_files, "a.md,b.rs,c.rs,b.rs,d");
        assert_eq!(
            (payload.owner.as_str(), payload.repository.as_str()),
            ("octo", "hello")
        );
        assert_eq!(payload.number, None);
    }

    #[test]
    fn missing_fields_fail_with_upstreams_texts() {
        let cases = [
            (
                json!({"repository": {"full_name": "o/r"}}),
                "pull_request",
                "pull_request body missing 'number' field",
            ),
            (
                json!({"number": 1}),
                "pull_request",
                "payload body missing 'repository' field",
            ),
            (
                json!({"number": 1, "repository": {}}),
                "pull_request",
                "payload body missing 'repository.full_name' field",
            ),
            (
                json!({"repository": {"full_name": "o/r"}, "commits": [{"added": [], "modified": []}]}),
                "push",
                "payload body missing 'commits.*.removed' field",
            ),
        ];
        for (body, event, want) in cases {
            assert_eq!(parse_json(&body, event), Err(want.to_owned()), "{body}");
        }
        assert_eq!(parse(b"", "push"), Err("body is empty".to_owned()));
        assert!(
            parse(b"[1]", "push")
                .unwrap_err()
                .contains("cannot unmarshal array")
        );
    }

    #[test]
    fn a_push_without_commits_has_no_files() {
        let payload = parse_json(&json!({"repository": {"full_name": "o/r"}}), "push").unwrap();
        assert_eq!(payload.changed_files, "");
    }
}
