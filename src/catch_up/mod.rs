//! Catch-up from GitHub's delivery log (issue 16): GitHub does not retry a failed delivery on
//! its own, so while the listener is down (an upgrade, a bad rollout, a 5xx) events are lost
//! until someone clicks "Redeliver". A pass lists a hook's recent deliveries
//! (`GET …/hooks/{id}/deliveries`, GitHub's REST API "Webhooks" → "List deliveries", newest
//! first, cursor pagination), decides per guid ([`plan`]), and asks GitHub to redeliver the
//! failed ones (`POST …/deliveries/{id}/attempts`), oldest first, paced and within GitHub's
//! rate limits. Redelivering is safe because deliveries are idempotent here (a redelivered
//! event creates nothing twice). Where to resume is kept in a [`Checkpoint`].
//!
//! Hooks ([`Hook`]): a repository's (`repo:OWNER/REPO:ID`), an organisation's (`org:ORG:ID`),
//! or the GitHub App's (`app`, authenticated as the App with a JWT, [`app`]). A hook's id is
//! in every delivery's `X-GitHub-Hook-ID` header.

pub mod app;
pub mod checkpoint;
pub mod pass;
pub mod plan;
pub mod store;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Deserialize;

pub use checkpoint::{Checkpoint, State};
pub use pass::{Options, Report, run_pass};
pub use plan::{Plan, Verdict, plan};
pub use store::Store;

/// One attempt of GitHub's delivery log, the fields catch-up reads (GitHub's "webhook delivery
/// item": `id`, `guid`, `delivered_at`, `redelivery`, `status_code`, `event`, `action`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Delivery {
    /// The attempt's id (what `…/deliveries/{id}/attempts` redelivers).
    pub id: u64,
    /// The delivery's guid (`X-GitHub-Delivery`), shared by the original and its redeliveries.
    pub guid: String,
    /// When the attempt was made.
    pub delivered_at: DateTime<Utc>,
    /// Whether it was a redelivery.
    #[serde(default)]
    pub redelivery: bool,
    /// The HTTP status it got; 0 when there was no HTTP answer (refused, timed out).
    #[serde(default)]
    pub status_code: u16,
    /// `X-GitHub-Event`.
    #[serde(default)]
    pub event: String,
    /// The payload's `action`, if it has one.
    #[serde(default)]
    pub action: Option<String>,
}

/// A webhook whose delivery log catch-up reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// A repository's hook: `repo:OWNER/REPO:ID`.
    Repository {
        /// Owner (user or organisation).
        owner: String,
        /// Repository name.
        repo: String,
        /// The hook's id.
        id: u64,
    },
    /// An organisation's hook: `org:ORG:ID`.
    Organization {
        /// The organisation.
        org: String,
        /// The hook's id.
        id: u64,
    },
    /// The GitHub App's hook: `app` (needs the App's credentials).
    App,
}

/// A `--hook` that is none of the forms of [`Hook`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hook {0:?}: expected repo:OWNER/REPO:ID, org:ORG:ID or app")]
pub struct HookSyntax(String);

impl FromStr for Hook {
    type Err = HookSyntax;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || HookSyntax(s.to_owned());
        let id = |id: &str| id.parse::<u64>().map_err(|_| bad());
        let plain = |name: &str| {
            !name.is_empty()
                && !name.chars().all(|c| c == '.')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match s.split(':').collect::<Vec<_>>().as_slice() {
            ["app"] => Ok(Hook::App),
            ["org", org, hook] if plain(org) => Ok(Hook::Organization {
                org: (*org).to_owned(),
                id: id(hook)?,
            }),
            ["repo", full_name, hook] => match full_name.split_once('/') {
                Some((owner, repo)) if plain(owner) && plain(repo) => Ok(Hook::Repository {
                    owner: owner.to_owned(),
                    repo: repo.to_owned(),
                    id: id(hook)?,
                }),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hook::Repository { owner, repo, id } => write!(f, "repo:{owner}/{repo}:{id}"),
            Hook::Organization { org, id } => write!(f, "org:{org}:{id}"),
            Hook::App => f.write_str("app"),
        }
    }
}

impl Hook {
    /// The log's first page, relative to the API root (owner, repository and organisation
    /// names are checked by [`FromStr`] to need no escaping).
    #[must_use]
    pub fn deliveries_path(&self) -> String {
        format!("{}/deliveries?per_page=100", self.root())
    }

    /// Where attempt `id` is redelivered, relative to the API root.
    #[must_use]
    pub fn attempts_path(&self, id: u64) -> String {
        format!("{}/deliveries/{id}/attempts", self.root())
    }

    fn root(&self) -> String {
        match self {
            Hook::Repository { owner, repo, id } => format!("repos/{owner}/{repo}/hooks/{id}"),
            Hook::Organization { org, id } => format!("orgs/{org}/hooks/{id}"),
            Hook::App => "app/hook".to_owned(),
        }
    }
}

/// What the unit tests of catch-up's modules build their logs from.
#[cfg(test)]
pub(crate) mod test_log {
    use chrono::{DateTime, Utc};

    use super::Delivery;

    /// A fixed instant plus `second` seconds.
    pub(crate) fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + second, 0).expect("in range")
    }

    /// An original `push` attempt.
    pub(crate) fn delivery(id: u64, guid: &str, second: i64, status_code: u16) -> Delivery {
        Delivery {
            id,
            guid: guid.to_owned(),
            delivered_at: at(second),
            redelivery: false,
            status_code,
            event: "push".to_owned(),
            action: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_parse_print_and_name_their_endpoints() {
        for (text, deliveries, attempts) in [
            (
                "repo:octo-org/hello.world:12",
                "repos/octo-org/hello.world/hooks/12/deliveries?per_page=100",
                "repos/octo-org/hello.world/hooks/12/deliveries/7/attempts",
            ),
            (
                "org:octo-org:34",
                "orgs/octo-org/hooks/34/deliveries?per_page=100",
                "orgs/octo-org/hooks/34/deliveries/7/attempts",
            ),
            (
                "app",
                "app/hook/deliveries?per_page=100",
                "app/hook/deliveries/7/attempts",
            ),
        ] {
            let hook: Hook = text.parse().unwrap();
            assert_eq!(hook.to_string(), text);
            assert_eq!(hook.deliveries_path(), deliveries);
            assert_eq!(hook.attempts_path(7), attempts);
        }
        for bad in [
            "",
            "repo:octo/x",
            "repo:octo:1",
            "repo:a/b/c:1",
            "repo:a/b:x",
            "org::1",
            "org:a/b:1",
            "apps",
            "repo:a/../b:1",
        ] {
            assert!(bad.parse::<Hook>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_delivery_reads_githubs_list_item() {
        let item = serde_json::json!({
            "id": 12345678, "guid": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
            "delivered_at": "2019-06-03T00:57:16Z", "redelivery": false, "duration": 0.27,
            "status": "OK", "status_code": 200, "event": "issues", "action": "opened",
            "installation_id": 123, "repository_id": 456, "throttled_at": null
        });
        let delivery: Delivery = serde_json::from_value(item).unwrap();
        assert_eq!(delivery.id, 12_345_678);
        assert_eq!(delivery.delivered_at.timestamp(), 1_559_523_436);
        assert_eq!(delivery.action.as_deref(), Some("opened"));
    }
}
