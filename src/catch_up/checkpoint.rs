//! Where catch-up resumes, per hook: the time before which the log is not listed again, and the
//! guids it asked GitHub to redeliver (how often, and the attempt it acted on). Every hook's
//! checkpoint is kept in one JSON [`State`] file (`--state`, `--catch-up-state`), written whole
//! through a temporary file and a rename, so a pass that stops half-way leaves the previous one.
//!
//! ```json
//! {"hooks": {"repo:octo/app:12": {"after": "2026-12-04T10:00:00Z",
//!   "redelivered": {"6e5c…": {"attempts": 1, "last_id": 123, "at": "2026-12-04T10:05:00Z"}}}}}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::plan::{Plan, Verdict};

/// How long a redelivered guid is remembered: longer than GitHub keeps its log (3 days on
/// GitHub.com, 7 on Enterprise Server).
pub const REMEMBER: Duration = Duration::days(8);

/// Where the next pass starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Deliveries made before this instant are not listed.
    pub after: DateTime<Utc>,
    /// Guids redelivered by earlier passes.
    #[serde(default)]
    pub redelivered: BTreeMap<String, Redelivered>,
}

/// What catch-up did with one guid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redelivered {
    /// How many times it was redelivered.
    pub attempts: u32,
    /// The attempt (delivery id) last redelivered.
    pub last_id: u64,
    /// When.
    pub at: DateTime<Utc>,
}

/// A checkpoint file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the file.
    #[error("catch-up state {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint.
    #[error("catch-up state {path}: {source}")]
    Format {
        /// The file.
        path: String,
        /// The parser's error.
        source: serde_json::Error,
    },
}

/// Every hook's checkpoint, by the hook as written (`repo:OWNER/REPO:ID`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Checkpoints by hook.
    #[serde(default)]
    pub hooks: BTreeMap<String, Checkpoint>,
}

impl State {
    /// The state in `path`, or `None` when there is no such file.
    ///
    /// # Errors
    /// [`Error`] when the file exists but cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Option<Self>, Error> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| Error::Format {
                path: path.display().to_string(),
                source,
            })
    }

    /// Writes this state to `path`, replacing it whole.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let text = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        std::fs::write(&temporary, text).map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)
    }
}

impl Checkpoint {
    /// A first pass: nothing redelivered yet, the log listed from `after`.
    #[must_use]
    pub fn starting(after: DateTime<Utc>) -> Self {
        Self {
            after,
            redelivered: BTreeMap::new(),
        }
    }

    /// The checkpoint after a pass over `plan` that redelivered `done` (guid, delivery id) at
    /// `now`. `after` moves to the newest attempt listed, but never past a guid that was to
    /// be redelivered and was not (rate limited, or the request failed): the next pass sees it
    /// again. Guids redelivered more than [`REMEMBER`] ago are forgotten.
    #[must_use]
    pub fn advanced(
        &self,
        plan: &Plan,
        newest_listed: Option<DateTime<Utc>>,
        done: &[(String, u64)],
        now: DateTime<Utc>,
    ) -> Self {
        let mut next = self.clone();
        for (guid, id) in done {
            let entry = next.redelivered.entry(guid.clone()).or_insert(Redelivered {
                attempts: 0,
                last_id: *id,
                at: now,
            });
            entry.attempts += 1;
            entry.last_id = *id;
            entry.at = now;
        }
        let left = plan
            .guids
            .iter()
            .filter(|g| g.verdict == Verdict::Redeliver && !done.iter().any(|(d, _)| *d == g.guid))
            .map(|g| g.first_at)
            .min();
        let after = match (newest_listed, left) {
            (_, Some(left)) => left,
            (Some(newest), None) => newest,
            (None, None) => self.after,
        };
        next.after = after.max(self.after);
        next.redelivered.retain(|_, r| r.at + REMEMBER >= now);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catch_up::plan::plan;
    use crate::catch_up::test_log::{at, delivery};

    #[test]
    fn after_moves_to_the_newest_attempt_but_not_past_what_was_left() {
        let start = Checkpoint::starting(at(0));
        let log = [
            delivery(1, "a", 10, 500),
            delivery(2, "b", 20, 500),
            delivery(3, "c", 30, 200),
        ];
        let planned = plan(&log, &start, 3);
        let all = start.advanced(
            &planned,
            Some(at(30)),
            &[("a".into(), 1), ("b".into(), 2)],
            at(40),
        );
        assert_eq!(all.after, at(30));
        assert_eq!(all.redelivered["a"].attempts, 1);
        assert_eq!(all.redelivered["b"].last_id, 2);
        let partly = start.advanced(&planned, Some(at(30)), &[("a".into(), 1)], at(40));
        assert_eq!(partly.after, at(20), "b was not redelivered: seen again");
        assert!(!partly.redelivered.contains_key("b"));
        let again = all.advanced(&planned, Some(at(30)), &[("a".into(), 1)], at(50));
        assert_eq!(again.redelivered["a"].attempts, 2);
        let later = again.advanced(
            &Plan::default(),
            None,
            &[],
            at(50) + REMEMBER + Duration::seconds(1),
        );
        assert!(later.redelivered.is_empty(), "forgotten after {REMEMBER}");
        assert_eq!(later.after, at(30), "nothing listed: unchanged");
    }

    #[test]
    fn a_checkpoint_survives_a_round_trip_through_its_file() {
        let dir = std::env::temp_dir().join(format!("catch-up-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        assert_eq!(State::load(&path).unwrap(), None, "no file yet");
        let mut checkpoint = Checkpoint::starting(at(0));
        checkpoint.redelivered.insert(
            "g".into(),
            Redelivered {
                attempts: 2,
                last_id: 7,
                at: at(5),
            },
        );
        let mut state = State::default();
        state.hooks.insert("app".into(), checkpoint);
        state.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), Some(state));
        std::fs::write(&path, b"{").unwrap();
        let error = State::load(&path).unwrap_err().to_string();
        assert!(error.starts_with("catch-up state "), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
