//! github `githubOwners` (reference §4.1 step 5; upstream `github.go` `parseBodyForOwners`,
//! `checkOwnershipAndMembership`, `okToTestFromAnOwner`): a `pull_request` goes on when its
//! sender is allowed; an `issue_comment` when its commenter is allowed and the comment has a line
//! that is exactly `/ok-to-test`. Allowed: (`orgMembers`, `all`) a public member of the
//! repository owner's organisation, (`repoMembers`, `all`) a collaborator, or (any check type)
//! listed under `approvers` or `reviewers` of the repository's root `OWNERS` file.
//!
//! Upstream asks the API twice for an allowed `/ok-to-test` comment (once before reading the
//! comment, once after); here the first answer is reused: the same outcome with half the calls.

use serde::Deserialize;
use serde_json::Value;

use super::{ENTERPRISE_HOST_HEADER, EVENT_HEADER, PULL_REQUEST};
use crate::event::Event;
use crate::github_api::{Client, Contents, Endpoint, Error as ApiError};
use crate::interceptors::common::SecretParam;
use crate::interceptors::{Decision, Error, StopReason};

const ISSUE_COMMENT: &str = "issue_comment";

/// The comment line that asks for a run (upstream `OKToTestCommentRegexp`).
pub const OK_TO_TEST: &str = "/ok-to-test";

/// Who may trigger (`checkType`; any other value, `""` included, checks `OWNERS` only, as
/// upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CheckType {
    /// `orgMembers`.
    OrgMembers,
    /// `repoMembers`.
    RepoMembers,
    /// `all`.
    All,
    /// `none`: `OWNERS` only, and no token needed.
    None,
    /// Anything else: `OWNERS` only, but a token is needed (upstream compares with `none`).
    Other(String),
}

impl CheckType {
    pub(super) fn parse(value: &str) -> Self {
        match value {
            "orgMembers" => Self::OrgMembers,
            "repoMembers" => Self::RepoMembers,
            "all" => Self::All,
            "none" => Self::None,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The enabled `githubOwners` param.
#[derive(Debug)]
pub(super) struct Owners {
    /// `personalAccessToken`, if given.
    pub(super) token: Option<SecretParam>,
    /// `checkType`.
    pub(super) check_type: CheckType,
}

/// What the payload says (upstream's `OwnersPayloadDetails`; the number is checked, not used).
#[derive(Debug, PartialEq, Eq)]
struct Payload {
    sender: String,
    owner: String,
    repository: String,
    /// `comment.body` of an `issue_comment`, else empty.
    comment: String,
}

/// Step 5: `None` to go on, `Some(stop)` to stop.
///
/// # Errors
/// [`Error::GitHubToken`] when the token cannot be read, [`Error::GitHubApi`] when the API fails
/// or the `OWNERS` file cannot be read.
pub(super) async fn decide(
    owners: &Owners,
    api: &Endpoint,
    event: &Event,
) -> Result<Option<Decision>, Error> {
    let headers = event.headers();
    let event_type = headers.get_header(&EVENT_HEADER).unwrap_or_default();
    if event_type != PULL_REQUEST && event_type != ISSUE_COMMENT {
        return Ok(None);
    }
    let token = match &owners.token {
        Some(token) => Some(token.value().await.map_err(|e| match e {
            Error::Secret(e) => Error::GitHubToken(e),
            other => other,
        })?),
        None => None,
    };
    if token.as_ref().is_none_or(|t| t.expose().is_empty()) && owners.check_type != CheckType::None
    {
        return Ok(Some(Decision::stop(
            StopReason::Filtered,
            "checkType is set to check org or repo members but no personalAccessToken was supplied",
        )));
    }
    let client = match api.base_for(headers.get(ENTERPRISE_HOST_HEADER)) {
        Ok(base) => api
            .client(base, token.as_ref())
            .map_err(|source| Error::GitHubApi {
                step: "error making client",
                source,
            })?
            .with_deadline(super::API_DEADLINE),
        Err(e) => {
            return Ok(Some(Decision::stop(
                StopReason::InvalidRequest,
                format!("error making client: {e}"),
            )));
        }
    };
    let payload = match parse(event.raw_body(), event_type) {
        Ok(payload) => payload,
        Err(message) => {
            return Ok(Some(Decision::stop(
                StopReason::InvalidRequest,
                format!("error parsing body: {message}"),
            )));
        }
    };
    let allowed = is_allowed(&client, &owners.check_type, &payload)
        .await
        .map_err(|source| Error::GitHubApi {
            step: "error checking owner verification",
            source,
        })?;
    if allowed && (event_type == PULL_REQUEST || has_ok_to_test_line(&payload.comment)) {
        return Ok(None);
    }
    Ok(Some(Decision::stop(
        StopReason::Filtered,
        "owners check requirements not met",
    )))
}

/// True when `comment` has a line that is exactly `/ok-to-test`: at the start of the text or
/// after `\n`, and followed by `\r`, `\n` or the end (upstream's `(^|\n)\/ok-to-test(\r\n|\r|\n|$)`;
/// a trailing space or other text on the line does not count).
pub fn has_ok_to_test_line(comment: &str) -> bool {
    comment.match_indices(OK_TO_TEST).any(|(at, _)| {
        let starts_line = at == 0 || comment.as_bytes()[at - 1] == b'\n';
        let rest = &comment[at + OK_TO_TEST.len()..];
        starts_line && (rest.is_empty() || rest.starts_with(['\r', '\n']))
    })
}

/// Upstream's `checkOwnershipAndMembership`.
async fn is_allowed(
    client: &Client,
    check_type: &CheckType,
    payload: &Payload,
) -> Result<bool, ApiError> {
    let sender = payload.sender.as_str();
    if matches!(check_type, CheckType::OrgMembers | CheckType::All) {
        match client.org_public_members(&payload.owner).await {
            Ok(members) if members.iter().any(|m| m == sender) => return Ok(true),
            // The owner is a user, not an organisation.
            Err(e) if e.status() == Some(404) => {}
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    if matches!(check_type, CheckType::RepoMembers | CheckType::All)
        && client
            .repo_collaborators(&payload.owner, &payload.repository)
            .await?
            .iter()
            .any(|c| c == sender)
    {
        return Ok(true);
    }
    match client
        .contents(&payload.owner, &payload.repository, "OWNERS")
        .await
    {
        Ok(Contents::File(text)) => listed_in_owners(&text, sender),
        Ok(Contents::Directory) => Err(ApiError::Content(
            "referenced file inside the Github Repository OWNERS is a directory".into(),
        )),
        Err(e) if e.status() == Some(404) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The `OWNERS` file's lists (upstream's `OwnersConfig`, read with yaml.v2).
#[derive(Deserialize, Default)]
struct OwnersFile {
    #[serde(default)]
    approvers: Option<Vec<String>>,
    #[serde(default)]
    reviewers: Option<Vec<String>>,
}

/// True when `sender` is among `approvers` or `reviewers` of the `OWNERS` text, ignoring case.
fn listed_in_owners(text: &str, sender: &str) -> Result<bool, ApiError> {
    let file: Option<OwnersFile> =
        serde_saphyr::from_str(text).map_err(|e| ApiError::Content(format!("yaml: {e}")))?;
    let file = file.unwrap_or_default();
    Ok(file
        .approvers
        .iter()
        .chain(file.reviewers.iter())
        .flatten()
        .any(|owner| owner.to_lowercase() == sender.to_lowercase()))
}

/// The payload as upstream's `parseBodyForOwners` reads it, with its error texts.
fn parse(body: &[u8], event_type: &str) -> Result<Payload, String> {
    let object = super::body_object(body, "payload body is empty")?;
    if event_type == PULL_REQUEST {
        let number = object
            .get("number")
            .ok_or("pull_request body missing 'number' field")?;
        super::go_int(number).ok_or("'number' field is not a number")?;
    }
    let mut comment = String::new();
    if event_type == ISSUE_COMMENT {
        let issue = object
            .get("issue")
            .and_then(Value::as_object)
            .ok_or("issue_comment body missing 'issue' section")?;
        let number = issue
            .get("number")
            .ok_or("'number' field missing in the issue section of issue_comment body")?;
        super::go_int(number).ok_or("'number' field of the issue section is not a number")?;
        let section = object
            .get("comment")
            .and_then(Value::as_object)
            .ok_or("issue_comment body missing 'comment' section")?;
        comment = section
            .get("body")
            .ok_or("'body' field missing in the comment section of issue_comment body")?
            .as_str()
            .ok_or("'body' field of the comment section is not a string")?
            .to_owned();
    }
    let (owner, repository) = super::owner_and_repository(&object)?;
    let sender = object
        .get("sender")
        .and_then(Value::as_object)
        .ok_or("payload body missing 'sender' field")?;
    Ok(Payload {
        sender: sender
            .get("login")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        owner,
        repository,
        comment,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ok_to_test_must_be_a_whole_line() {
        let yes = [
            "/ok-to-test",
            "/ok-to-test\n",
            "/ok-to-test\r\n",
            "/ok-to-test\rmore",
            "looks good\n/ok-to-test",
            "a\n/ok-to-test\nb",
            "x /ok-to-test\n/ok-to-test",
        ];
        for comment in yes {
            assert!(has_ok_to_test_line(comment), "{comment:?}");
        }
        let no = [
            "",
            "/ok-to-test ",
            " /ok-to-test",
            "please /ok-to-test",
            "/ok-to-testing",
            "a\r/ok-to-test",
            "/OK-TO-TEST",
            "/ok-to-test please",
        ];
        for comment in no {
            assert!(!has_ok_to_test_line(comment), "{comment:?}");
        }
    }

    #[test]
    fn owners_lists_match_without_regard_to_case() {
        let text = "approvers:\n  - Alice\nreviewers:\n  - bob\n";
        assert!(listed_in_owners(text, "alice").unwrap());
        assert!(listed_in_owners(text, "BOB").unwrap());
        assert!(!listed_in_owners(text, "carol").unwrap());
        assert!(!listed_in_owners("options: {}\n", "alice").unwrap());
        assert!(!listed_in_owners("", "alice").unwrap());
        assert!(listed_in_owners("approvers: nope", "alice").is_err());
    }

    #[test]
    fn check_types_other_than_the_four_check_owners_only() {
        assert_eq!(CheckType::parse("orgMembers"), CheckType::OrgMembers);
        assert_eq!(CheckType::parse("both"), CheckType::Other("both".into()));
        assert_eq!(CheckType::parse(""), CheckType::Other(String::new()));
    }

    #[test]
    fn payload_problems_use_upstreams_texts() {
        let comment = |body: Value| parse(body.to_string().as_bytes(), ISSUE_COMMENT);
        assert_eq!(
            comment(json!({"comment": {"body": "x"}})),
            Err("issue_comment body missing 'issue' section".into())
        );
        assert_eq!(
            comment(json!({"issue": {"number": 1}, "comment": {}})),
            Err("'body' field missing in the comment section of issue_comment body".into())
        );
        assert_eq!(
            comment(
                json!({"issue": {"number": 1}, "comment": {"body": "b"}, "repository": {"full_name": "o/r"}})
            ),
            Err("payload body missing 'sender' field".into())
        );
        let ok = comment(json!({
            "issue": {"number": 1}, "comment": {"body": "/ok-to-test"},
            "repository": {"full_name": "o/r"}, "sender": {"login": "me"}
        }))
        .unwrap();
        assert_eq!(
            ok,
            Payload {
                sender: "me".into(),
                owner: "o".into(),
                repository: "r".into(),
                comment: "/ok-to-test".into()
            }
        );
        assert_eq!(
            parse(b"{}", PULL_REQUEST),
            Err("pull_request body missing 'number' field".into())
        );
        assert_eq!(
            parse(b"", PULL_REQUEST),
            Err("payload body is empty".into())
        );
    }
}
