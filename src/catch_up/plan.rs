//! What one catch-up pass does with the deliveries it listed: which guids to redeliver, and why
//! the others are left alone. Pure: no I/O, so every rule is tested on its own.
//!
//! A delivery's log on GitHub holds one entry per attempt: the original and each redelivery,
//! all with the same `guid`. For each guid listed:
//!
//! 1. some attempt was answered 2xx → [`Verdict::Delivered`];
//! 2. some attempt was answered 401 or 403 → [`Verdict::Refused`]: the listener refused it for
//!    authentication (a bad signature or token), which sending the same bytes again cannot fix;
//! 3. its latest attempt is the one an earlier pass already redelivered (the new attempt is not
//!    in the log yet) → [`Verdict::Waiting`];
//! 4. it was redelivered [`Checkpoint`]'s attempts times, `max_attempts` or more →
//!    [`Verdict::GaveUp`];
//! 5. otherwise (no answer, a timeout, 5xx, any other status) → [`Verdict::Redeliver`].
//!
//! Redeliveries come oldest first (by the guid's first attempt), each guid at most once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::Delivery;
use super::checkpoint::Checkpoint;

/// What a pass does with one guid, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Redeliver it now.
    Redeliver,
    /// An attempt was answered 2xx.
    Delivered,
    /// An attempt was refused for authentication (this status, 401 or 403).
    Refused(u16),
    /// Redelivered by an earlier pass; its new attempt is not logged yet.
    Waiting,
    /// Redelivered as often as allowed, and still failing.
    GaveUp,
}

impl Verdict {
    /// A stable lower-case word for the table and the logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Redeliver => "redeliver",
            Verdict::Delivered => "delivered",
            Verdict::Refused(_) => "refused",
            Verdict::Waiting => "waiting",
            Verdict::GaveUp => "gave-up",
        }
    }
}

/// One guid of the log, summed over its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guid {
    /// The delivery's guid (`X-GitHub-Delivery`).
    pub guid: String,
    /// The id of its latest attempt: the one to redeliver.
    pub latest_id: u64,
    /// When its first listed attempt was made.
    pub first_at: DateTime<Utc>,
    /// The id of its first listed attempt (ids grow with time: the order within a second).
    pub first_id: u64,
    /// The status its latest attempt got (0: no HTTP answer).
    pub latest_status: u16,
    /// How many attempts are listed.
    pub attempts: usize,
    /// `X-GitHub-Event`, and the payload's `action` when it has one.
    pub event: String,
    /// The payload's `action`.
    pub action: Option<String>,
    /// What to do with it.
    pub verdict: Verdict,
}

/// Every listed guid with its verdict, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Oldest first (by first attempt, then its id).
    pub guids: Vec<Guid>,
}

impl Plan {
    /// The guids to redeliver, oldest first.
    pub fn to_redeliver(&self) -> impl Iterator<Item = &Guid> {
        self.guids
            .iter()
            .filter(|g| g.verdict == Verdict::Redeliver)
    }
}

/// Decides for each guid in `deliveries` (in any order), given what earlier passes did.
#[must_use]
pub fn plan(deliveries: &[Delivery], checkpoint: &Checkpoint, max_attempts: u32) -> Plan {
    let mut by_guid: BTreeMap<&str, Vec<&Delivery>> = BTreeMap::new();
    for delivery in deliveries {
        by_guid.entry(&delivery.guid).or_default().push(delivery);
    }
    let mut guids: Vec<Guid> = by_guid
        .into_iter()
        .filter_map(|(guid, attempts)| {
            let first = attempts.iter().min_by_key(|d| (d.delivered_at, d.id))?;
            let latest = attempts.iter().max_by_key(|d| (d.delivered_at, d.id))?;
            let done = checkpoint.redelivered.get(guid);
            let verdict = if attempts.iter().any(|d| (200..300).contains(&d.status_code)) {
                Verdict::Delivered
            } else if let Some(refused) =
                attempts.iter().find(|d| matches!(d.status_code, 401 | 403))
            {
                Verdict::Refused(refused.status_code)
            } else if done.is_some_and(|done| done.last_id == latest.id) {
                Verdict::Waiting
            } else if done.is_some_and(|done| done.attempts >= max_attempts) {
                Verdict::GaveUp
            } else {
                Verdict::Redeliver
            };
            Some(Guid {
                guid: guid.to_owned(),
                latest_id: latest.id,
                first_at: first.delivered_at,
                first_id: first.id,
                latest_status: latest.status_code,
                attempts: attempts.len(),
                event: first.event.clone(),
                action: first.action.clone(),
                verdict,
            })
        })
        .collect();
    guids.sort_by_key(|g| (g.first_at, g.first_id));
    Plan { guids }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catch_up::checkpoint::Redelivered;
    use crate::catch_up::test_log::{at, delivery};

    fn verdicts(plan: &Plan) -> Vec<(&str, Verdict)> {
        plan.guids
            .iter()
            .map(|g| (g.guid.as_str(), g.verdict))
            .collect()
    }

    #[test]
    fn failed_guids_are_redelivered_oldest_first_and_the_others_say_why() {
        let log = [
            delivery(9, "e", 50, 502),
            delivery(8, "d", 40, 403),
            delivery(7, "c", 30, 200),
            delivery(6, "c", 20, 500),
            delivery(5, "b", 10, 0),
            delivery(4, "a", 15, 503),
            delivery(3, "f", 5, 401),
        ];
        let plan = plan(&log, &Checkpoint::starting(at(0)), 3);
        assert_eq!(
            verdicts(&plan),
            [
                ("f", Verdict::Refused(401)),
                ("b", Verdict::Redeliver),
                ("a", Verdict::Redeliver),
                ("c", Verdict::Delivered),
                ("d", Verdict::Refused(403)),
                ("e", Verdict::Redeliver),
            ]
        );
        let ids: Vec<u64> = plan.to_redeliver().map(|g| g.latest_id).collect();
        assert_eq!(ids, [5, 4, 9]);
    }

    #[test]
    fn within_one_second_the_attempt_ids_give_the_order() {
        let log = [
            delivery(30, "z", 0, 500),
            delivery(10, "y", 0, 500),
            delivery(20, "x", 0, 500),
        ];
        let ids: Vec<u64> = plan(&log, &Checkpoint::starting(at(0)), 3)
            .to_redeliver()
            .map(|g| g.latest_id)
            .collect();
        assert_eq!(ids, [10, 20, 30]);
    }

    #[test]
    fn a_guid_is_redelivered_once_per_pass_from_its_latest_attempt() {
        let mut log = vec![delivery(1, "a", 0, 500)];
        let mut second = delivery(2, "a", 30, 502);
        second.redelivery = true;
        log.push(second);
        let plan = plan(&log, &Checkpoint::starting(at(0)), 3);
        let picked: Vec<(u64, usize, u16)> = plan
            .to_redeliver()
            .map(|g| (g.latest_id, g.attempts, g.latest_status))
            .collect();
        assert_eq!(picked, [(2, 2, 502)]);
        assert_eq!(plan.guids[0].first_at, at(0));
    }

    #[test]
    fn earlier_redeliveries_wait_for_their_attempt_and_are_bounded() {
        let mut checkpoint = Checkpoint::starting(at(0));
        checkpoint.redelivered.insert(
            "a".to_owned(),
            Redelivered {
                attempts: 1,
                last_id: 1,
                at: at(10),
            },
        );
        checkpoint.redelivered.insert(
            "b".to_owned(),
            Redelivered {
                attempts: 3,
                last_id: 2,
                at: at(10),
            },
        );
        checkpoint.redelivered.insert(
            "c".to_owned(),
            Redelivered {
                attempts: 2,
                last_id: 3,
                at: at(10),
            },
        );
        let log = [
            delivery(1, "a", 0, 500),
            delivery(4, "b", 20, 500),
            delivery(5, "c", 20, 500),
        ];
        assert_eq!(
            verdicts(&plan(&log, &checkpoint, 3)),
            [
                ("a", Verdict::Waiting),
                ("b", Verdict::GaveUp),
                ("c", Verdict::Redeliver),
            ]
        );
    }
}
