//! One catch-up pass over one hook: list the log back to the checkpoint, [`plan`], redeliver,
//! and say where the next pass starts.
//!
//! Bounds: at most [`Options::max_pages`] pages of 100 are listed per pass (a pass that stops
//! there resumes from the oldest attempt it saw); redelivery requests are [`Options::pace`]
//! apart (GitHub asks integrations to wait a second between mutating requests); a rate-limit
//! answer is waited out once when it asks for at most [`Options::max_wait`], otherwise the pass
//! ends there and the next one continues (the checkpoint does not move past what was left).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::checkpoint::Checkpoint;
use super::plan::{Plan, plan};
use super::{Delivery, Hook};
use crate::github_api::{self, Client};

/// How a pass behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// List and decide only: redeliver nothing, leave the checkpoint as it is.
    pub dry_run: bool,
    /// Pause between two redelivery requests.
    pub pace: Duration,
    /// Redeliveries of one guid before catch-up gives up on it.
    pub max_attempts: u32,
    /// Longest rate-limit wait a pass sits out; a longer one ends the pass.
    pub max_wait: Duration,
    /// Pages of the log listed per pass, at most.
    pub max_pages: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dry_run: false,
            pace: Duration::from_secs(1),
            max_attempts: 3,
            max_wait: Duration::from_secs(60),
            max_pages: 10,
        }
    }
}

/// What a pass found and did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The hook.
    pub hook: Hook,
    /// Every guid listed, with its verdict.
    pub plan: Plan,
    /// Guids redelivered (guid, the attempt's id), in order.
    pub redelivered: Vec<(String, u64)>,
    /// Guids whose redelivery request failed, with GitHub's answer.
    pub failed: Vec<(String, String)>,
    /// Why the pass ended before redelivering everything it planned (a rate limit).
    pub stopped: Option<String>,
    /// Where the next pass starts (unchanged by a dry run).
    pub checkpoint: Checkpoint,
}

/// A pass that could not list the log.
#[derive(Debug, thiserror::Error)]
#[error("{hook}: listing deliveries: {source}")]
pub struct Error {
    /// The hook.
    pub hook: Hook,
    /// GitHub's answer.
    pub source: github_api::Error,
}

/// Runs one pass over `hook` through `client`, from `checkpoint`.
///
/// # Errors
/// [`Error`] when the log cannot be listed (nothing is redelivered then).
pub async fn run_pass(
    client: &Client,
    hook: &Hook,
    checkpoint: &Checkpoint,
    options: &Options,
) -> Result<Report, Error> {
    let error = |source| Error {
        hook: hook.clone(),
        source,
    };
    let (listed, complete) = list(client, hook, checkpoint.after, options)
        .await
        .map_err(error)?;
    let planned = plan(&listed, checkpoint, options.max_attempts);
    // NB: a listing cut short by max_pages resumes from the oldest attempt it saw.
    let resume_at = if complete {
        listed.iter().map(|d| d.delivered_at).max()
    } else {
        listed.iter().map(|d| d.delivered_at).min()
    };
    let mut report = Report {
        hook: hook.clone(),
        plan: planned,
        redelivered: Vec::new(),
        failed: Vec::new(),
        stopped: None,
        checkpoint: checkpoint.clone(),
    };
    if options.dry_run {
        return Ok(report);
    }
    // Attempts counted in the checkpoint: those redelivered, and those GitHub refused for good.
    let mut counted = Vec::new();
    let picks: Vec<(String, u64)> = report
        .plan
        .to_redeliver()
        .map(|g| (g.guid.clone(), g.latest_id))
        .collect();
    for (i, (guid, id)) in picks.into_iter().enumerate() {
        if i > 0 && !options.pace.is_zero() {
            tokio::time::sleep(options.pace).await;
        }
        let path = hook.attempts_path(id);
        match once_more_if_limited(options.max_wait, || client.post(&path)).await {
            Ok(_) => {
                tracing::info!(hook = %hook, guid = %guid, delivery = id, "catch-up: redelivery requested");
                report.redelivered.push((guid.clone(), id));
                counted.push((guid, id));
            }
            Err(e) if e.retry_after().is_some() => {
                report.stopped = Some(e.to_string());
                break;
            }
            Err(e) => {
                tracing::warn!(hook = %hook, guid = %guid, delivery = id, error = %e, "catch-up: redelivery refused");
                // NB: a 4xx (the delivery is gone, the hook was deleted) will not change; a
                // transport error or 5xx is tried again by the next pass.
                if e.status().is_some_and(|s| (400..500).contains(&s)) {
                    counted.push((guid.clone(), id));
                }
                report.failed.push((guid, e.to_string()));
            }
        }
    }
    report.checkpoint = checkpoint.advanced(&report.plan, resume_at, &counted, Utc::now());
    Ok(report)
}

/// The log back to `after` (inclusive), newest first as GitHub lists it; `false` when
/// [`Options::max_pages`] cut it short.
async fn list(
    client: &Client,
    hook: &Hook,
    after: DateTime<Utc>,
    options: &Options,
) -> Result<(Vec<Delivery>, bool), github_api::Error> {
    let mut url = client.url(&hook.deliveries_path());
    let mut listed = Vec::new();
    for _ in 0..options.max_pages {
        let page =
            once_more_if_limited(options.max_wait, || client.get_page::<Delivery>(&url)).await?;
        let reached = page.items.iter().any(|d| d.delivered_at < after);
        listed.extend(page.items.into_iter().filter(|d| d.delivered_at >= after));
        match page.next {
            Some(next) if !reached => url = next,
            _ => return Ok((listed, true)),
        }
    }
    Ok((listed, false))
}

/// `call`, made once more after the wait a rate-limit answer asks for when that is at most
/// `max_wait`; otherwise its first answer.
async fn once_more_if_limited<T, F, Fut>(
    max_wait: Duration,
    mut call: F,
) -> Result<T, github_api::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, github_api::Error>>,
{
    let first = call().await;
    match first
        .as_ref()
        .err()
        .and_then(github_api::Error::retry_after)
    {
        Some(wait) if wait <= max_wait => {
            tokio::time::sleep(wait).await;
            call().await
        }
        _ => first,
    }
}
