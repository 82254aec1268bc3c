//! Prometheus metrics (`/metrics` on `--metrics-address`, upstream's port 9000): upstream's three
//! metrics with their names, labels and buckets (reference §8.4, `pkg/sink/metrics.go`), and ours
//! beside them. A leaf module: the sink records into it, the server encodes it.
//!
//! Labels never carry payload values: trigger names come from the configuration, kinds from
//! the templates, statuses, outcomes, reasons and states from fixed sets.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::LocalKey;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Upstream's buckets for `eventlistener_http_duration_seconds`, in seconds.
pub const HTTP_DURATION_BUCKETS: [f64; 6] = [0.001, 0.01, 0.1, 1.0, 5.0, 10.0];

/// Buckets of our duration histograms (interceptors, creates), in seconds: 100 µs to 10 s.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// `status` of `eventlistener_event_received_total`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum ReceivedStatus {
    /// The event was answered 2xx (upstream: it reached the 202).
    Succeeded,
    /// Any other answer on the event route.
    Failed,
}

/// How one trigger ended for one event (`eventlistener_trigger_outcomes_total`).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// Created everything.
    Created,
    /// Everything already existed for this delivery ID.
    Duplicate,
    /// An interceptor stopped it (a filter, a bad signature, an event type not listed).
    Filtered,
    /// It failed (an interceptor error, a template, a create).
    Failed,
}

/// Why a request was answered before any trigger ran, or refused by every trigger's signature
/// check (`eventlistener_requests_rejected_total`).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Rejection {
    /// A signature or token check refused it (403).
    Signature,
    /// The body is over `--max-body-bytes` (413).
    BodyTooLarge,
    /// The event or body-byte budget is spent (503 with Retry-After).
    Overloaded,
    /// Not JSON, a truncated body, a bad delivery ID header (400).
    InvalidBody,
    /// The body did not arrive in time, or the event's deadline passed.
    Timeout,
    /// The request head is over hyper's buffer (431, answered before any handler).
    HeadersTooLarge,
}

/// `state` of `eventlistener_triggers`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum TriggerState {
    /// Serving.
    Ready,
    /// Left out (cluster mode): its references are missing or invalid.
    Broken,
}

/// `result` of `eventlistener_superseded_runs_total`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum SupersededResult {
    /// A superseded run was patched to be cancelled.
    Cancelled,
    /// Listing the runs, or patching one, failed (logged with the reason).
    Failed,
}

impl SupersededResult {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
}

/// `result` of `eventlistener_cloudevents_total` (src/cloud_events.rs).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum CloudEventResult {
    /// The receiver answered 2xx.
    Sent,
    /// Every attempt failed.
    Failed,
    /// The queue was full: never sent.
    Dropped,
}

impl CloudEventResult {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Dropped => "dropped",
        }
    }
}

impl ReceivedStatus {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Duplicate => "duplicate",
            Self::Filtered => "filtered",
            Self::Failed => "failed",
        }
    }
}

impl Rejection {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signature => "signature",
            Self::BodyTooLarge => "body_too_large",
            Self::Overloaded => "overloaded",
            Self::InvalidBody => "invalid_body",
            Self::Timeout => "timeout",
            Self::HeadersTooLarge => "headers_too_large",
        }
    }
}

impl TriggerState {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Broken => "broken",
        }
    }
}

/// Label values are the enums' `as_str`.
macro_rules! encode_as_str {
    ($($label:ty),*) => {$(
        impl EncodeLabelValue for $label {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
                fmt::Write::write_str(encoder, self.as_str())
            }
        }
    )*};
}

encode_as_str!(
    ReceivedStatus,
    Outcome,
    Rejection,
    TriggerState,
    CloudEventResult,
    SupersededResult
);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: ReceivedStatus,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    trigger: Arc<str>,
    outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SupersededLabels {
    trigger: String,
    result: SupersededResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    hook: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InterceptorLabels {
    interceptor: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: Rejection,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: CloudEventResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: TriggerState,
}

/// Every metric the listener exports, registered once; cheap to share (`Arc<Metrics>`), each
/// record is an atomic add (a label set's first use takes a write lock). The labelled series
/// recorded per event (trigger outcomes, interceptor and create durations, created kinds) are
/// found through a cache per thread after its first record of each.
pub struct Metrics {
    registry: Registry,
    event_received: Family<StatusLabels, Counter>,
    triggered_resources: Family<KindLabels, Counter>,
    http_duration: Histogram,
    trigger_outcomes: Family<OutcomeLabels, Counter>,
    interceptor_duration: Family<InterceptorLabels, Histogram, fn() -> Histogram>,
    resource_create_duration: Family<KindLabels, Histogram, fn() -> Histogram>,
    events_in_flight: Gauge,
    requests_rejected: Family<ReasonLabels, Counter>,
    config_generation: Gauge,
    config_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    triggers: Family<StateLabels, Gauge>,
    cloud_events: Family<ResultLabels, Counter>,
    superseded_runs: Family<SupersededLabels, Counter>,
    catchup_redelivered: Family<HookLabels, Counter>,
    catchup_failed: Family<HookLabels, Counter>,
    catchup_last_pass: Family<HookLabels, Gauge>,
    /// Label values seen so far (trigger, interceptor and kind names), shared by the label sets:
    /// a label set is built on every record only to find its series, and an owned `String` per
    /// record cost an allocation per trigger per event. As bounded as the series themselves.
    names: RwLock<HashSet<Arc<str>>>,
    /// This instance among all [`Metrics`] of the process, for the per-thread series caches.
    id: u64,
}

/// Which series of which labelled metric a per-thread cache entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Series {
    Interceptor,
    CreateTook,
    Created,
    Outcome(Outcome),
}

/// Per label value, the series this thread has recorded into: `(Metrics id, series, handle)`.
type SeriesCache<M> =
    RefCell<HashMap<Box<str>, Vec<(u64, Series, M)>, foldhash::fast::RandomState>>;

thread_local! {
    /// The counters this thread records into, found again by label value without a lock, a
    /// SipHash or a shared reference count (each of which the two worker threads contend on).
    static COUNTERS: SeriesCache<Counter> = RefCell::default();
    /// As [`COUNTERS`], for histograms.
    static HISTOGRAMS: SeriesCache<Histogram> = RefCell::default();
}

/// Records into the series `series` of `label` of the [`Metrics`] `id`: through this thread's
/// cache, resolving the handle with `resolve` (the Family's lookup) on the thread's first record.
/// The caches hold as many entries as there are series, times the threads that record.
fn record_into<M: Clone + 'static>(
    cache: &'static LocalKey<SeriesCache<M>>,
    (id, series, label): (u64, Series, &str),
    resolve: impl FnOnce() -> M,
    record: impl FnOnce(&M),
) {
    cache.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(found) = cache
            .get(label)
            .and_then(|entries| entries.iter().find(|(i, s, _)| *i == id && *s == series))
        {
            record(&found.2);
            return;
        }
        let handle = resolve();
        record(&handle);
        cache
            .entry(label.into())
            .or_default()
            .push((id, series, handle));
    });
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered under its exported name.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let event_received = Family::default();
        registry.register(
            "eventlistener_event_received",
            "Events received on the event route, by whether they were answered 2xx",
            event_received.clone(),
        );
        let triggered_resources = Family::default();
        registry.register(
            "eventlistener_triggered_resources",
            "Objects created, by kind, counted once the trigger created all of its objects",
            triggered_resources.clone(),
        );
        let http_duration = Histogram::new(HTTP_DURATION_BUCKETS);
        registry.register_with_unit(
            "eventlistener_http_duration",
            "Time to answer a request on the event route",
            Unit::Seconds,
            http_duration.clone(),
        );
        let trigger_outcomes = Family::default();
        registry.register(
            "eventlistener_trigger_outcomes",
            "How each trigger ended for each event: created, duplicate, filtered, failed",
            trigger_outcomes.clone(),
        );
        let interceptor_duration: Family<InterceptorLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "eventlistener_interceptor_duration",
            "Time each interceptor took to decide, by interceptor",
            Unit::Seconds,
            interceptor_duration.clone(),
        );
        let resource_create_duration: Family<KindLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "eventlistener_resource_create_duration",
            "Time to create one object (or find it created for the delivery ID), by kind",
            Unit::Seconds,
            resource_create_duration.clone(),
        );
        let events_in_flight = Gauge::default();
        registry.register(
            "eventlistener_events_in_flight",
            "Events being read or run now",
            events_in_flight.clone(),
        );
        let requests_rejected = Family::default();
        registry.register(
            "eventlistener_requests_rejected",
            "Requests refused before or by the signature checks, by reason",
            requests_rejected.clone(),
        );
        let config_generation = Gauge::default();
        registry.register(
            "eventlistener_config_generation",
            "Configurations put in service since start (1 after the first load)",
            config_generation.clone(),
        );
        let config_age = Gauge::default();
        registry.register_with_unit(
            "eventlistener_config_age",
            "Files: time since the configuration was loaded. Cluster: 0 while the watches are \
             in sync, else the time since they were lost",
            Unit::Seconds,
            config_age.clone(),
        );
        let triggers = Family::default();
        registry.register(
            "eventlistener_triggers",
            "Triggers of the configuration in service, by state",
            triggers.clone(),
        );
        let cloud_events = Family::default();
        registry.register(
            "eventlistener_cloudevents",
            "CloudEvents about events (cloudEventURI), by result: sent, failed after every \
             retry, dropped because the queue was full",
            cloud_events.clone(),
        );
        let superseded_runs = Family::default();
        registry.register(
            "eventlistener_superseded_runs",
            "Runs superseded by a newer run of the same trigger and cancel key, by trigger and \
             result: cancelled (patched), failed (the list or a patch failed)",
            superseded_runs.clone(),
        );
        let catchup_redelivered = Family::default();
        registry.register(
            "eventlistener_catchup_redelivered",
            "Deliveries catch-up asked GitHub to redeliver, by hook",
            catchup_redelivered.clone(),
        );
        let catchup_failed = Family::default();
        registry.register(
            "eventlistener_catchup_failed",
            "Catch-up failures, by hook: a pass that could not list the delivery log, or a \
             redelivery request GitHub refused",
            catchup_failed.clone(),
        );
        let catchup_last_pass = Family::default();
        registry.register_with_unit(
            "eventlistener_catchup_last_pass_timestamp",
            "When catch-up last finished a pass over the hook's log (Unix time)",
            Unit::Seconds,
            catchup_last_pass.clone(),
        );
        Self {
            registry,
            event_received,
            triggered_resources,
            http_duration,
            trigger_outcomes,
            interceptor_duration,
            resource_create_duration,
            events_in_flight,
            requests_rejected,
            config_generation,
            config_age,
            triggers,
            cloud_events,
            superseded_runs,
            catchup_redelivered,
            catchup_failed,
            catchup_last_pass,
            names: RwLock::default(),
            id: {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed)
            },
        }
    }

    /// One request answered on the event route, in `elapsed`, with a 2xx or not.
    pub fn answered(&self, succeeded: bool, elapsed: Duration) {
        let status = if succeeded {
            ReceivedStatus::Succeeded
        } else {
            ReceivedStatus::Failed
        };
        self.event_received
            .get_or_create(&StatusLabels { status })
            .inc();
        self.http_duration.observe(elapsed.as_secs_f64());
    }

    /// `name` as a label value: the shared copy, made on first use.
    fn name(&self, name: &str) -> Arc<str> {
        let known = self.names.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = known.get(name) {
            return Arc::clone(shared);
        }
        drop(known);
        let mut names = self.names.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = names.get(name) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = Arc::from(name);
        names.insert(Arc::clone(&shared));
        shared
    }

    /// One trigger's outcome for one event.
    pub fn trigger_outcome(&self, trigger: &str, outcome: Outcome) {
        record_into(
            &COUNTERS,
            (self.id, Series::Outcome(outcome), trigger),
            || {
                self.trigger_outcomes
                    .get_or_create(&OutcomeLabels {
                        trigger: self.name(trigger),
                        outcome,
                    })
                    .clone()
            },
            |counter| {
                counter.inc();
            },
        );
    }

    /// The interceptor `name` decided in `took`.
    pub fn interceptor_ran(&self, name: &str, took: Duration) {
        record_into(
            &HISTOGRAMS,
            (self.id, Series::Interceptor, name),
            || {
                self.interceptor_duration
                    .get_or_create(&InterceptorLabels {
                        interceptor: self.name(name),
                    })
                    .clone()
            },
            |histogram| histogram.observe(took.as_secs_f64()),
        );
    }

    /// One create of a `kind` object (successful or not) took `took`.
    pub fn resource_create_took(&self, kind: &str, took: Duration) {
        record_into(
            &HISTOGRAMS,
            (self.id, Series::CreateTook, kind),
            || {
                self.resource_create_duration
                    .get_or_create(&KindLabels {
                        kind: self.name(kind),
                    })
                    .clone()
            },
            |histogram| histogram.observe(took.as_secs_f64()),
        );
    }

    /// One object of `kind` created by a trigger that created all of its objects.
    pub fn resource_created(&self, kind: &str) {
        record_into(
            &COUNTERS,
            (self.id, Series::Created, kind),
            || {
                self.triggered_resources
                    .get_or_create(&KindLabels {
                        kind: self.name(kind),
                    })
                    .clone()
            },
            |counter| {
                counter.inc();
            },
        );
    }

    /// One request refused for `reason`.
    pub fn rejected(&self, reason: Rejection) {
        self.requests_rejected
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Cancelling the runs superseded by a new run of `trigger`: `cancelled` runs patched,
    /// `failed` calls that failed.
    pub fn superseded(&self, trigger: &str, cancelled: usize, failed: usize) {
        for (result, n) in [
            (SupersededResult::Cancelled, cancelled),
            (SupersededResult::Failed, failed),
        ] {
            if n > 0 {
                self.superseded_runs
                    .get_or_create(&SupersededLabels {
                        trigger: trigger.to_owned(),
                        result,
                    })
                    .inc_by(n as u64);
            }
        }
    }

    /// A catch-up pass over `hook` finished at `unix_seconds` (`None`: it could not list the
    /// log), with `redelivered` redeliveries requested and `failed` refused.
    pub fn catch_up_pass(
        &self,
        hook: &str,
        unix_seconds: Option<i64>,
        redelivered: usize,
        failed: usize,
    ) {
        let labels = HookLabels {
            hook: hook.to_owned(),
        };
        self.catchup_redelivered
            .get_or_create(&labels)
            .inc_by(redelivered as u64);
        let failed = failed + usize::from(unix_seconds.is_none());
        self.catchup_failed
            .get_or_create(&labels)
            .inc_by(failed as u64);
        if let Some(at) = unix_seconds {
            self.catchup_last_pass.get_or_create(&labels).set(at);
        }
    }

    /// One CloudEvent sent, failed or dropped.
    pub fn cloud_event(&self, result: CloudEventResult) {
        self.cloud_events
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Counts one event in flight until the returned guard is dropped.
    pub fn in_flight(&self) -> InFlight {
        self.events_in_flight.inc();
        InFlight(self.events_in_flight.clone())
    }

    /// The configuration's gauges, set just before a scrape: `generation` configurations put in
    /// service so far, `age` (see the metric's help), and the triggers serving and left out.
    pub fn configuration(&self, generation: u64, age: Duration, ready: usize, broken: usize) {
        self.config_generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
        self.config_age.set(age.as_secs_f64());
        for (state, n) in [(TriggerState::Ready, ready), (TriggerState::Broken, broken)] {
            self.triggers
                .get_or_create(&StateLabels { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The OpenMetrics text exposition of every metric.
    ///
    /// # Errors
    /// Only when writing to the `String` fails, which it does not.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// An event counted in `eventlistener_events_in_flight` until dropped.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Label values are made once and shared by every later record; the series stay apart.
    #[test]
    fn label_values_are_shared_after_first_use() {
        let m = Metrics::new();
        let first = m.name("pr-trigger");
        assert!(Arc::ptr_eq(&first, &m.name("pr-trigger")));
        assert!(!Arc::ptr_eq(&first, &m.name("push-trigger")));
        m.trigger_outcome("pr-trigger", Outcome::Created);
        m.trigger_outcome("pr-trigger", Outcome::Created);
        m.trigger_outcome("push-trigger", Outcome::Created);
        let text = m.encode().expect("encodes");
        assert!(
            text.contains(
                r#"eventlistener_trigger_outcomes_total{trigger="pr-trigger",outcome="created"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"eventlistener_trigger_outcomes_total{trigger="push-trigger",outcome="created"} 1"#),
            "{text}"
        );
    }

    /// Records go through this thread's cache of series, and each instance keeps its own: two
    /// instances on one thread, the same label values, different counts.
    #[test]
    fn cached_series_stay_with_their_own_metrics() {
        let (a, b) = (Metrics::new(), Metrics::new());
        for _ in 0..3 {
            a.trigger_outcome("t", Outcome::Created);
            a.interceptor_ran("cel", Duration::from_micros(300));
            a.resource_created("PipelineRun");
            a.resource_create_took("PipelineRun", Duration::from_millis(2));
        }
        b.trigger_outcome("t", Outcome::Created);
        b.trigger_outcome("t", Outcome::Filtered);
        b.interceptor_ran("cel", Duration::from_micros(300));
        let (a, b) = (a.encode().expect("encodes"), b.encode().expect("encodes"));
        for (text, line) in [
            (
                &a,
                r#"eventlistener_trigger_outcomes_total{trigger="t",outcome="created"} 3"#,
            ),
            (
                &a,
                r#"eventlistener_interceptor_duration_seconds_count{interceptor="cel"} 3"#,
            ),
            (
                &a,
                r#"eventlistener_triggered_resources_total{kind="PipelineRun"} 3"#,
            ),
            (
                &a,
                r#"eventlistener_resource_create_duration_seconds_count{kind="PipelineRun"} 3"#,
            ),
            (
                &b,
                r#"eventlistener_trigger_outcomes_total{trigger="t",outcome="created"} 1"#,
            ),
            (
                &b,
                r#"eventlistener_trigger_outcomes_total{trigger="t",outcome="filtered"} 1"#,
            ),
            (
                &b,
                r#"eventlistener_interceptor_duration_seconds_count{interceptor="cel"} 1"#,
            ),
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!a.contains(r#"outcome="filtered""#), "{a}");
        assert!(
            !b.contains("eventlistener_triggered_resources_total{"),
            "{b}"
        );
    }

    #[test]
    fn upstream_names_labels_and_buckets() {
        let m = Metrics::new();
        m.answered(true, Duration::from_millis(5));
        m.answered(false, Duration::from_secs(2));
        m.resource_created("PipelineRun");
        m.trigger_outcome("pr-trigger", Outcome::Duplicate);
        m.rejected(Rejection::BodyTooLarge);
        m.interceptor_ran("github", Duration::from_micros(30));
        m.resource_create_took("PipelineRun", Duration::from_millis(20));
        let guard = m.in_flight();
        m.configuration(3, Duration::from_secs(7), 2, 1);
        let text = m.encode().unwrap();
        for line in [
            "eventlistener_event_received_total{status=\"succeeded\"} 1",
            "eventlistener_event_received_total{status=\"failed\"} 1",
            "eventlistener_triggered_resources_total{kind=\"PipelineRun\"} 1",
            "eventlistener_http_duration_seconds_bucket{le=\"0.001\"} 0",
            "eventlistener_http_duration_seconds_bucket{le=\"0.01\"} 1",
            "eventlistener_http_duration_seconds_bucket{le=\"5.0\"} 2",
            "eventlistener_http_duration_seconds_count 2",
            "eventlistener_trigger_outcomes_total{trigger=\"pr-trigger\",outcome=\"duplicate\"} 1",
            "eventlistener_requests_rejected_total{reason=\"body_too_large\"} 1",
            "eventlistener_events_in_flight 1",
            "eventlistener_interceptor_duration_seconds_bucket{le=\"0.0001\",interceptor=\"github\"} 1",
            "eventlistener_interceptor_duration_seconds_count{interceptor=\"github\"} 1",
            "eventlistener_resource_create_duration_seconds_bucket{le=\"0.01\",kind=\"PipelineRun\"} 0",
            "eventlistener_resource_create_duration_seconds_bucket{le=\"0.025\",kind=\"PipelineRun\"} 1",
            "eventlistener_config_generation 3",
            "eventlistener_config_age_seconds 7.0",
            "eventlistener_triggers{state=\"ready\"} 2",
            "eventlistener_triggers{state=\"broken\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        drop(guard);
        let text = m.encode().unwrap();
        assert!(
            text.lines()
                .any(|l| l == "eventlistener_events_in_flight 0"),
            "{text}"
        );
    }
}
