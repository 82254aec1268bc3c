//! Interceptors, run in-process behind one trait (reference §3, §4; upstream
//! `pkg/interceptors/*`). Each built-in is one file; [`build`] is the registry that turns a
//! trigger's `{name, params}` into an interceptor at config load, so bad params fail start-up
//! instead of every event.
//!
//! An interceptor saying "no" is not an error: it returns [`Decision::Stop`] with a typed
//! [`StopReason`] (upstream uses gRPC codes, mostly `FailedPrecondition` for everything). Errors
//! ([`Error`]) are failures to decide (a secret that cannot be read).

pub mod bitbucket;
pub mod cel;
pub mod chain;
mod common;
pub mod github;
pub mod gitlab;
pub mod legacy_webhook;
pub mod signature;
pub mod slack;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::api::InterceptorParam;
use crate::event::{Event, Extensions};
use crate::secrets::SecretStore;

pub use chain::{ChainOutcome, run_chain, run_chain_observed};

/// A boxed future, for object-safe async trait methods.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Per-event data shared by every trigger's interceptors: the event, its CEL form and the
/// signature checks, each done on first use and then reused (once per event, not per trigger).
#[derive(Debug)]
pub struct SharedEvent {
    event: Arc<Event>,
    cel: OnceLock<crate::cel::EventData>,
    signatures: signature::Verified,
    /// Set once any interceptor accepted a signature or token of this event (or of an event a
    /// legacy webhook's answer replaced it with: the chain passes it on, [`chain`]).
    authenticated: std::sync::atomic::AtomicBool,
    /// The parts of the body and the headers converted for CEL; `None`: all of them.
    cel_reads: Option<Arc<crate::cel::Reads>>,
    /// The parts of the body anything reads, and the tree built of them on first use;
    /// `None`: the whole body ([`Event::body`]).
    read_paths: Option<Arc<crate::event::BodyPaths>>,
    body: OnceLock<serde_json::Value>,
    /// The form-encoded body converted to JSON, when the event is one (reference §3.4).
    form: OnceLock<Option<serde_json::Value>>,
}

impl SharedEvent {
    /// Wraps an event; its CEL form will hold the whole body.
    pub fn new(event: Arc<Event>) -> Self {
        Self {
            event,
            cel: OnceLock::new(),
            signatures: signature::Verified::default(),
            authenticated: std::sync::atomic::AtomicBool::new(false),
            cel_reads: None,
            read_paths: None,
            body: OnceLock::new(),
            form: OnceLock::new(),
        }
    }

    /// The chain's event after a legacy webhook answered `body` and `headers` in place of
    /// `self`'s (reference §3.5): same event ID, delivery ID and request URL; the body is
    /// taken as received without validation (bindings fail on one that is not JSON), and is
    /// never converted from a form again (upstream converts once, before the chain).
    pub fn replaced(&self, headers: crate::event::Headers, body: bytes::Bytes) -> Self {
        let original = self.event();
        let event = Event::from_unvalidated_body(
            original.event_id(),
            original.request_url(),
            headers,
            body,
        )
        .with_delivery_id(original.delivery_id().map(str::to_owned));
        Self {
            form: OnceLock::from(None),
            authenticated: std::sync::atomic::AtomicBool::new(self.authenticated()),
            ..Self::new(Arc::new(event))
        }
    }

    /// Wraps an event whose CEL form only needs the parts of the body and the headers in
    /// `reads`: those read by every interceptor that will see it ([`Interceptor::cel_reads`],
    /// merged over the listener as [`crate::event_listener::Listener::cel_reads`]).
    pub fn with_cel_reads(event: Arc<Event>, reads: Arc<crate::cel::Reads>) -> Self {
        Self {
            cel_reads: Some(reads),
            ..Self::new(event)
        }
    }

    /// The same, building only the parts of the body in `paths` when a reader asks for it
    /// ([`Self::body`]): every part that CEL (as given to [`Self::with_cel_reads`]) and the
    /// bindings read (merged over the listener as
    /// [`crate::event_listener::Listener::body_paths`]).
    #[must_use]
    pub fn reading(mut self, paths: Arc<crate::event::BodyPaths>) -> Self {
        self.read_paths = Some(paths);
        self
    }

    /// The body as its readers see it: the tree of the parts they read
    /// ([`crate::event::BodyPaths::parse`]), or the whole body ([`Event::body`]), built on first
    /// use (after the signature checks) and shared by every trigger.
    pub fn body(&self) -> &serde_json::Value {
        match &self.read_paths {
            // Not a JSON object (received without validation): not JSON has no tree, and
            // other JSON is built whole (the parts read are object keys).
            _ if self.event.object_error().is_some() => self.event.body(),
            Some(paths) if !paths.is_whole() => self.body.get_or_init(|| {
                let raw = self.event.raw_body();
                tracing::debug!(bytes = raw.len(), pruned = true, "body parsed into a tree");
                // Located when the event was received: only those parts are parsed now.
                if let Some(tree) = self.event.located(paths).and_then(|l| l.build(raw)) {
                    return tree;
                }
                // The sink checked these bytes with the same parser; failing here would be a
                // serde_json bug, answered as the whole body.
                paths.parse(raw).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "checked body failed to parse");
                    self.event.body().clone()
                })
            }),
            _ => self.event.body(),
        }
    }

    /// The body as JSON of the parsed form, when the request is form-encoded as reference §3.4
    /// says (`Content-Type` exactly `application/x-www-form-urlencoded`, more than one key):
    /// what the interceptors of a trigger that has any, and the bindings after them, see instead
    /// of the received body. Computed on first use, once per event for every trigger. Upstream
    /// skips the conversion when the chain starts with a legacy webhook interceptor and there
    /// are no extensions yet: that interceptor then sends the raw body ([`legacy_webhook::LegacyWebhook`]).
    pub fn form_body(&self) -> Option<&serde_json::Value> {
        self.form
            .get_or_init(|| {
                crate::event::form::form_json(
                    self.event.headers().get("Content-Type"),
                    self.event.raw_body(),
                )
            })
            .as_ref()
    }

    /// The body the bindings of a trigger read: the form JSON ([`Self::form_body`]) after an
    /// interceptor chain (`after_interceptors`: the trigger has at least one), else the body.
    ///
    /// # Errors
    /// The body is not JSON ([`Event::json_error`], only when received without validation):
    /// upstream's bindings fail with `failed to unmarshal request body: …`.
    pub fn binding_body(
        &self,
        after_interceptors: bool,
    ) -> Result<&serde_json::Value, &crate::event::InvalidBody> {
        if let Some(form) = self.form_body().filter(|_| after_interceptors) {
            return Ok(form);
        }
        match self.event.json_error() {
            Some(e) => Err(e),
            None => Ok(self.body()),
        }
    }

    /// Why CEL cannot read the body the interceptors see ([`Self::form_body`], else the body):
    /// it is not a JSON object ([`Event::object_error`], only when received without
    /// validation). Upstream's cel interceptor stops with `failed to parse the body as JSON: …`.
    pub fn cel_body_error(&self) -> Option<&crate::event::InvalidBody> {
        match self.form_body() {
            Some(_) => None,
            None => self.event.object_error(),
        }
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// [`signature::verify`] of the event's body against `header` with `secret`, computed once
    /// per event for each secret and header value.
    ///
    /// # Errors
    /// [`signature::SignatureError`] as `verify` returns it.
    pub fn verify_signature(
        &self,
        secret: &[u8],
        header: &str,
        algorithms: signature::Algorithms,
    ) -> Result<(), signature::SignatureError> {
        let verified = self
            .signatures
            .verify(secret, self.event.raw_body(), header, algorithms);
        if verified.is_ok() {
            self.mark_authenticated();
        }
        verified
    }

    /// [`signature::verify_slack_v0`] of the event's raw body (Slack signs the bytes it sent,
    /// never the form JSON), recording the event as authenticated when it holds.
    ///
    /// # Errors
    /// [`signature::SignatureError`] as `verify_slack_v0` returns it.
    pub fn verify_slack_signature(
        &self,
        secret: &[u8],
        timestamp: &str,
        header: &str,
    ) -> Result<(), signature::SignatureError> {
        let verified = signature::verify_slack_v0(secret, timestamp, self.event.raw_body(), header);
        if verified.is_ok() {
            self.mark_authenticated();
        }
        verified
    }

    /// Records that an interceptor accepted this event's signature or token (signature checks
    /// through [`Self::verify_signature`] record themselves).
    pub fn mark_authenticated(&self) {
        self.authenticated
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// True once any trigger's interceptor accepted a signature or token of this event: only
    /// then may answers describe the configuration.
    pub fn authenticated(&self) -> bool {
        self.authenticated
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The body CEL reads, as a tree: the form JSON when there is one ([`Self::form_body`]),
    /// else [`Self::body`] (the whole body when no reads were given). [`Self::cel`] converts
    /// this same tree.
    pub fn cel_body(&self) -> &serde_json::Value {
        match (self.form_body(), &self.cel_reads) {
            (Some(form), _) => form,
            (None, Some(_)) => self.body(),
            (None, None) => self.event.body(),
        }
    }

    /// The event as CEL data, converted once.
    pub fn cel(&self) -> &crate::cel::EventData {
        // CEL runs inside interceptor chains only: it sees the form JSON when there is one.
        self.cel.get_or_init(|| {
            let whole;
            let reads = match &self.cel_reads {
                Some(reads) => reads.as_ref(),
                None => {
                    whole = crate::cel::Reads::whole();
                    &whole
                }
            };
            crate::cel::EventData::for_reads(&self.event, self.cel_body(), reads)
        })
    }
}

/// What one interceptor sees.
#[derive(Debug, Clone, Copy)]
pub struct InterceptorRequest<'a> {
    /// The event.
    pub event: &'a SharedEvent,
    /// Extensions accumulated by earlier interceptors of the chain.
    pub extensions: &'a Extensions,
}

/// Why an interceptor stopped a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The sender is not who it claims (signature or token missing or wrong).
    Unauthenticated,
    /// The event is authentic but this trigger does not want it (event type, CEL filter).
    Filtered,
    /// The request cannot be processed as sent (form encoding, an expression that fails on this
    /// payload).
    InvalidRequest,
}

impl StopReason {
    /// A stable lower-case word for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Unauthenticated => "unauthenticated",
            StopReason::Filtered => "filtered",
            StopReason::InvalidRequest => "invalid_request",
        }
    }
}

/// An interceptor's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Go on; these extensions are merged (top-level keys overwrite) into the chain's.
    Continue {
        /// Extensions added.
        extensions: Extensions,
    },
    /// Go on with this body and these headers in place of the chain's (only the legacy
    /// `webhook:` interceptor answers so, reference §3.5): later interceptors and the bindings
    /// read them. Extensions are unchanged.
    Replace {
        /// The new body.
        body: bytes::Bytes,
        /// The new headers.
        headers: crate::event::Headers,
    },
    /// Stop this trigger.
    Stop {
        /// Why.
        reason: StopReason,
        /// Upstream-style message, safe to log (no secrets, no payload dumps).
        message: String,
    },
}

impl Decision {
    /// `Continue` with no extensions.
    pub fn proceed() -> Self {
        Decision::Continue {
            extensions: Extensions::new(),
        }
    }

    /// `Stop` with a reason and message.
    pub fn stop(reason: StopReason, message: impl Into<String>) -> Self {
        Decision::Stop {
            reason,
            message: message.into(),
        }
    }
}

/// Failures to decide, at event time.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A secret could not be read (upstream: `error getting secret: …`).
    #[error("error getting secret: {0}")]
    Secret(#[from] crate::secrets::Error),
    /// github `githubOwners`: the personal access token could not be read (upstream's text).
    #[error("error getting github token: {0}")]
    GitHubToken(crate::secrets::Error),
    /// github `addChangedFiles`/`githubOwners`: the GitHub API gave no usable answer, or what it
    /// returned cannot be read. `step` is upstream's prefix (`error getting changed files`,
    /// `error making client`, `error checking owner verification`).
    #[error("{step}: {source}")]
    GitHubApi {
        /// What was being done, in upstream's words.
        step: &'static str,
        /// Why it failed.
        source: crate::github_api::Error,
    },
    /// An interceptor over HTTP gave no answer (connection, TLS, deadline), in Go's
    /// `url.Error` form: `Post "URL": …`.
    #[error("Post {url:?}: {message}")]
    Call {
        /// The interceptor's URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// A ClusterInterceptor or Interceptor answered another status than 200 (upstream's text;
    /// the answer's body, cut at 1 KiB).
    #[error("interceptor response was not 200: {0}")]
    NotOk(String),
    /// A ClusterInterceptor or Interceptor answered 200 with what is not an
    /// `InterceptorResponse`.
    #[error("invalid interceptor response: {0}")]
    InvalidResponse(String),
    /// A legacy webhook answered another status than 200 (upstream's text).
    #[error("request rejected; status: {status}; message: {message}")]
    Rejected {
        /// The status, e.g. `403 Forbidden`.
        status: String,
        /// The answer's body, cut at 1 KiB.
        message: String,
    },
    /// The extensions could not be written into the body a legacy webhook is sent (upstream's
    /// text).
    #[error("could not merge extensions with body: {0}")]
    MergeExtensions(String),
}

/// Config errors, at load.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The interceptor name is neither built in nor a ClusterInterceptor in the catalog.
    #[error(
        "interceptor {0:?} is not supported: not built in (github, gitlab, bitbucket, slack, cel) and no ClusterInterceptor of that name"
    )]
    Unsupported(String),
    /// An interceptor over HTTP cannot be called: no or a bad URL, an unusable `caBundle`.
    #[error("interceptor {interceptor}: {message}")]
    Client {
        /// Interceptor name.
        interceptor: String,
        /// What is wrong.
        message: String,
    },
    /// A param has the wrong shape or value.
    #[error("interceptor {interceptor}: param {param}: {message}")]
    Param {
        /// Interceptor name.
        interceptor: String,
        /// Param name.
        param: String,
        /// What is wrong.
        message: String,
    },
    /// A referenced Secret or key does not exist.
    #[error("interceptor {interceptor}: {source}")]
    Secret {
        /// Interceptor name.
        interceptor: String,
        /// The lookup error.
        source: crate::secrets::Error,
    },
}

/// One interceptor, built at config load and run per event.
pub trait Interceptor: Send + Sync + std::fmt::Debug {
    /// Name for logs (`github`, `cel`, …).
    fn name(&self) -> &str;

    /// Decides for one event.
    ///
    /// # Errors
    /// [`Error`] when the interceptor cannot decide.
    fn process<'a>(
        &'a self,
        request: InterceptorRequest<'a>,
    ) -> BoxFuture<'a, Result<Decision, Error>>;

    /// The parts of the body and the headers this interceptor reads through
    /// [`SharedEvent::cel`] (merged over the listener into what is given to
    /// [`SharedEvent::with_cel_reads`]). Interceptors that do not use the CEL data read nothing
    /// there: the default.
    fn cel_reads(&self) -> crate::cel::Reads {
        crate::cel::Reads::none()
    }
}

/// What building an interceptor may read: where the trigger lives and the secrets.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The Trigger's namespace (secrets are read there, as upstream).
    pub namespace: String,
    /// Secret store.
    pub secrets: Arc<dyn SecretStore>,
    /// Where the GitHub REST API is (github `addChangedFiles`/`githubOwners`).
    pub github_api: crate::github_api::Endpoint,
}

/// The names of the interceptors built in, run in-process (upstream's shipped
/// ClusterInterceptors, reference §1.8).
pub const BUILT_IN: [&str; 5] = ["github", "gitlab", "bitbucket", "slack", "cel"];

/// The registry: builds interceptor `name` with `params` (last duplicate name wins, as upstream).
///
/// # Errors
/// [`BuildError`] for unknown names, bad params and missing secrets.
pub fn build(
    name: &str,
    params: &[InterceptorParam],
    ctx: &BuildContext,
) -> Result<Arc<dyn Interceptor>, BuildError> {
    let params: BTreeMap<&str, &serde_json::Value> =
        params.iter().map(|p| (p.name.as_str(), &p.value)).collect();
    // A misspelled param must not silently turn a check off (`secretref` would disable the
    // signature check, `filters` the filter): unknown names fail at load. Upstream ignores them.
    let known: &[&str] = match name {
        "github" => &["secretRef", "eventTypes", "addChangedFiles", "githubOwners"],
        "gitlab" | "bitbucket" => &["secretRef", "eventTypes"],
        "cel" => &["filter", "overlays"],
        "slack" => &["requestedFields", "signingSecretRef"],
        _ => &[],
    };
    let unknown = params.keys().find(|p| !known.contains(p));
    if let (Some(unknown), false) = (unknown, known.is_empty()) {
        return Err(BuildError::Param {
            interceptor: name.to_owned(),
            param: (*unknown).to_owned(),
            message: format!("unknown param (known: {})", known.join(", ")),
        });
    }
    Ok(match name {
        "github" => Arc::new(github::GitHub::build(&params, ctx)?),
        "cel" => Arc::new(cel::Cel::build(&params, ctx)?),
        "gitlab" => Arc::new(gitlab::GitLab::build(&params, ctx)?),
        "bitbucket" => Arc::new(bitbucket::Bitbucket::build(&params, ctx)?),
        "slack" => Arc::new(slack::Slack::build(&params, ctx)?),
        other => return Err(BuildError::Unsupported(other.to_owned())),
    })
}

/// Reads param `name` as `T` (JSON round trip, as upstream decodes params).
pub(crate) fn param<T: serde::de::DeserializeOwned>(
    interceptor: &str,
    params: &BTreeMap<&str, &serde_json::Value>,
    name: &str,
) -> Result<Option<T>, BuildError> {
    params
        .get(name)
        .map(|v| {
            serde_json::from_value((*v).clone()).map_err(|e| BuildError::Param {
                interceptor: interceptor.to_owned(),
                param: name.to_owned(),
                message: e.to_string(),
            })
        })
        .transpose()
}

/// What the interceptors' unit tests build with.
#[cfg(test)]
pub(crate) mod test_build {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::BuildContext;
    use crate::secrets::ManifestSecrets;

    /// A build context in namespace `ci` whose store holds the Secret `name` with `key: value`.
    pub(crate) fn context_with_secret(name: &str, key: &str, value: &str) -> BuildContext {
        let mut store = ManifestSecrets::new();
        let secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name}, "stringData": {key: value}
        }))
        .expect("a Secret");
        store.insert("ci", &secret).expect("inserted");
        BuildContext {
            namespace: "ci".into(),
            secrets: Arc::new(store),
            github_api: Default::default(),
        }
    }

    /// `build` called with `params`, a JSON object of param names and values, as the registry
    /// hands them over.
    pub(crate) fn with_params<T>(
        params: serde_json::Value,
        build: impl FnOnce(&BTreeMap<&str, &serde_json::Value>) -> T,
    ) -> T {
        let params: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(params).expect("params are an object");
        let params = params.iter().map(|(k, v)| (k.as_str(), v)).collect();
        build(&params)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use super::*;
    use crate::event::Headers;
    use crate::event::form::FORM_CONTENT_TYPE;

    fn received(content_type: &str, body: &'static str) -> SharedEvent {
        let headers: Headers = [("Content-Type", content_type)].into_iter().collect();
        let event =
            Event::from_unvalidated_body("id", "/", headers, Bytes::from_static(body.as_bytes()));
        SharedEvent::new(Arc::new(event))
    }

    #[test]
    fn a_form_body_is_converted_once_for_chains_and_their_bindings_only() {
        let event = received(FORM_CONTENT_TYPE, "b=2&a=1&a=3");
        let form = event.form_body().expect("converted");
        assert_eq!(form, &json!({"a": ["1", "3"], "b": ["2"]}));
        assert!(
            std::ptr::eq(form, event.form_body().unwrap()),
            "computed once"
        );
        assert_eq!(event.binding_body(true), Ok(form));
        let raw = event.binding_body(false).unwrap_err();
        assert_eq!(
            Some(raw),
            event.event().json_error(),
            "no interceptors: the raw body"
        );
        assert_eq!(event.cel_body_error(), None);
        let program = crate::cel::Program::compile("body.a[1] + body.b[0]").unwrap();
        let vars = crate::cel::Vars {
            event: event.cel(),
            extensions: &Extensions::new(),
            secrets: None,
        };
        assert_eq!(
            program.evaluate_json(&vars).unwrap(),
            json!("32"),
            "CEL reads the form"
        );
    }

    #[test]
    fn other_bodies_are_seen_as_received() {
        let json_form = received("application/json", "b=2&a=1");
        assert_eq!(
            json_form.form_body(),
            None,
            "Content-Type must be the form one"
        );
        assert!(json_form.binding_body(true).is_err());
        assert!(json_form.cel_body_error().is_some());
        let array = received("application/json", "[1]");
        assert_eq!(array.binding_body(true), Ok(&json!([1])));
        let mut some_paths = crate::event::BodyPaths::none();
        some_paths.add(&["a"]);
        let pruned = SharedEvent::new(Arc::clone(&array.event)).reading(Arc::new(some_paths));
        assert_eq!(pruned.binding_body(false), Ok(&json!([1])), "read whole");
        assert!(array.cel_body_error().is_some());
        let validated = SharedEvent::new(Arc::new(
            Event::from_body("id", "/", Headers::new(), Bytes::from_static(b"{\"a\":1}")).unwrap(),
        ));
        assert_eq!(validated.binding_body(false), Ok(&json!({"a": 1})));
        assert_eq!(validated.cel_body_error(), None);
    }
}
