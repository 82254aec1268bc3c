//! One incoming event, as every later step sees it: the exact body bytes, the body parsed once
//! (on first use: after the signature checks, so an unauthenticated body is never built into a
//! tree), the request headers under Go-canonical names, the request URL and the eventID.
//!
//! Mirrors what upstream's sink hands to interceptors and bindings (behaviour reference §2.1,
//! §3.1, §5.1): headers are canonicalised as Go's `http.Header` does, `requestURL` is the
//! request target (path and query), and the eventID is a random UUIDv4 per request (§2.9).
//! Bodies are JSON objects unless the EventListener turns payload validation off (§1.2, §2.2,
//! [`Event::from_unvalidated_body`]); [`form`] is how form-encoded bodies are then read (§3.4).

pub mod form;
pub(crate) mod paths;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use serde::de::IgnoredAny;

use serde_json::{Map, Value};

pub use paths::{BodyPaths, Located};

/// Extensions added by interceptors and read by bindings as `$(extensions.…)`: a JSON object.
pub type Extensions = Map<String, Value>;

/// Request headers keyed by Go-canonical name (`x-github-event` → `X-Github-Event`), each with
/// every value received, in order; `Host` and `Transfer-Encoding` left out, as Go's server takes
/// them out of `Request.Header`.
///
/// Headers received over HTTP ([`Headers::from_http`]) are kept as hyper parsed them and looked
/// up there by [`Headers::get`] (what the sink, the github interceptor and the delivery ID need
/// on every event); the canonical map is built on the first call that needs all of it
/// ([`Headers::iter`], [`Headers::get_all`], [`Headers::to_binding_json`], …). Building it
/// for every event cost about 46 allocations (BENCHMARKS.md, "Stop 22").
#[derive(Default)]
pub struct Headers(Repr, OnceLock<Value>);

enum Repr {
    /// Built up with [`Headers::append`] (tests, the CLI, a legacy webhook's answer).
    Map(BTreeMap<String, Vec<String>>),
    /// As received; the map is built from them on first use.
    Http {
        received: hyper::HeaderMap,
        map: OnceLock<BTreeMap<String, Vec<String>>>,
    },
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Map(BTreeMap::new())
    }
}

impl Clone for Headers {
    fn clone(&self) -> Self {
        Headers(Repr::Map(self.map().clone()), OnceLock::new())
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.map() == other.map()
    }
}

impl Eq for Headers {}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Headers").field(self.map()).finish()
    }
}

/// Whether Go's server keeps header `name` (any case) in `Request.Header`.
fn kept(name: &str) -> bool {
    !name.eq_ignore_ascii_case("host") && !name.eq_ignore_ascii_case("transfer-encoding")
}

impl Headers {
    /// An empty header map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The headers of a request as received (see the type's docs); values that are not UTF-8
    /// are read with `U+FFFD` in place of bad bytes.
    pub fn from_http(received: hyper::HeaderMap) -> Self {
        Headers(
            Repr::Http {
                received,
                map: OnceLock::new(),
            },
            OnceLock::new(),
        )
    }

    /// The canonical map, built on first use for received headers.
    fn map(&self) -> &BTreeMap<String, Vec<String>> {
        match &self.0 {
            Repr::Map(map) => map,
            Repr::Http { received, map } => map.get_or_init(|| {
                let mut built: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (name, value) in received {
                    if !kept(name.as_str()) {
                        continue;
                    }
                    built
                        .entry(canonical_header_name(name.as_str()))
                        .or_default()
                        .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
                }
                built
            }),
        }
    }

    /// Adds one value under the canonical form of `name`, after any values already there.
    pub fn append(&mut self, name: &str, value: impl Into<String>) {
        if let Repr::Http { .. } = self.0 {
            self.0 = Repr::Map(self.map().clone());
        }
        self.1 = OnceLock::new();
        if let Repr::Map(map) = &mut self.0 {
            map.entry(canonical_header_name(name))
                .or_default()
                .push(value.into());
        }
    }

    /// Every value of `name` (any case), or `None` when the header is absent.
    pub fn get_all(&self, name: &str) -> Option<&[String]> {
        with_canonical_header_name(name, |canonical| self.map().get(canonical)).map(Vec::as_slice)
    }

    /// The first value of `name` (any case), as Go's `Header.Get` returns it.
    pub fn get(&self, name: &str) -> Option<&str> {
        if let Repr::Http { received, .. } = &self.0 {
            // hyper's names are valid tokens: `name` matches one iff it equals it in any case,
            // as their canonical forms are then equal (a name that is not a token matches none
            // either way).
            if !kept(name) {
                return None;
            }
            let first = received.get(name)?;
            if let Ok(value) = std::str::from_utf8(first.as_bytes()) {
                return Some(value);
            }
        }
        self.get_all(name)
            .and_then(|values| values.first())
            .map(String::as_str)
    }

    /// [`Self::get`] for a name parsed once (at load, or as a `const` with
    /// `HeaderName::from_static`): a lookup in the received headers then skips parsing the name,
    /// about half of its work. The same answer as `get(name.as_str())`.
    pub fn get_header(&self, name: &HeaderName) -> Option<&str> {
        if let Repr::Http { received, .. } = &self.0 {
            if !kept(name.as_str()) {
                return None;
            }
            let first = received.get(name)?;
            if let Ok(value) = std::str::from_utf8(first.as_bytes()) {
                return Some(value);
            }
        }
        self.get(name.as_str())
    }

    /// Every value of `name` (any case) as [`Self::get_all`] has them, without building the
    /// canonical map of received headers.
    pub fn values(&self, name: &str) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
        self.values_by(name, move |received| received.get_all(name).iter())
    }

    /// [`Self::values`] for a name parsed once, as [`Self::get_header`].
    pub fn header_values(
        &self,
        name: &HeaderName,
    ) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
        self.values_by(name.as_str(), move |received| received.get_all(name).iter())
    }

    fn values_by<'h>(
        &'h self,
        name: &str,
        find: impl FnOnce(&'h hyper::HeaderMap) -> hyper::header::ValueIter<'h, HeaderValue>,
    ) -> impl Iterator<Item = std::borrow::Cow<'h, str>> {
        let (received, built) = match &self.0 {
            Repr::Http { received, map } if map.get().is_none() => {
                (kept(name).then(|| find(received)), None)
            }
            _ => (None, self.get_all(name)),
        };
        let received = received
            .into_iter()
            .flatten()
            .map(|v| String::from_utf8_lossy(v.as_bytes()));
        let built = built
            .into_iter()
            .flatten()
            .map(|v| std::borrow::Cow::Borrowed(v.as_str()));
        received.chain(built)
    }

    /// Iterates `(canonical name, values)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.map().iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Number of distinct header names.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// True when no header is present.
    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    /// [`Self::to_binding_json`], built on first use and kept (every trigger's bindings of an
    /// event read the same object; most events' bindings read no header at all).
    pub fn binding_json(&self) -> &Value {
        self.1.get_or_init(|| self.to_binding_json())
    }

    /// The headers as bindings see them (reference §5.1): an object of canonical name to one
    /// string, several values joined with `,` and no space.
    pub fn to_binding_json(&self) -> Value {
        Value::Object(
            self.map()
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.join(","))))
                .collect(),
        )
    }
}

impl Headers {
    /// The headers as Go's `json.Marshal` writes an `http.Header` (upstream's CloudEvent data,
    /// reference §8.5): `{"Name":["value",…],…}`, names sorted, HTML characters escaped.
    pub fn to_go_json(&self) -> String {
        let value = Value::Object(
            self.map()
                .iter()
                .map(|(k, v)| {
                    let values = v.iter().map(|s| Value::String(s.clone())).collect();
                    (k.clone(), Value::Array(values))
                })
                .collect(),
        );
        let mut out = String::new();
        crate::gojson::write_json(&value, &mut out);
        out
    }
}

impl<K: AsRef<str>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut headers = Headers::new();
        for (k, v) in iter {
            headers.append(k.as_ref(), v);
        }
        headers
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: the first letter and every letter after a `-` upper
/// case, all others lower case. A name holding a space or a byte that is not an HTTP token
/// character is returned unchanged, as Go does.
pub fn canonical_header_name(name: &str) -> String {
    let valid = !name.is_empty() && name.bytes().all(is_token_byte);
    if !valid {
        return name.to_owned();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// Calls `f` with [`canonical_header_name`]`(name)`, built on the stack for the usual short
/// names: interceptors look headers up on every trigger of every event, and the allocation was a
/// measurable part of a filtered trigger's cost.
pub(crate) fn with_canonical_header_name<R>(name: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 64];
    if !name.is_empty() && name.len() <= buf.len() && name.bytes().all(is_token_byte) {
        let mut upper = true;
        for (slot, b) in buf.iter_mut().zip(name.bytes()) {
            *slot = if upper {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            };
            upper = b == b'-';
        }
        // Token bytes are ASCII, so this is always valid UTF-8.
        if let Ok(canonical) = std::str::from_utf8(&buf[..name.len()]) {
            return f(canonical);
        }
    }
    f(&canonical_header_name(name))
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Headers that carry a sender's delivery ID, in order of precedence: GitHub
/// (`X-GitHub-Delivery`), GitLab (`X-Gitlab-Event-UUID`), the IETF `Idempotency-Key` draft,
/// Bitbucket (`X-Request-UUID`), Standard Webhooks (`webhook-id`). Parsed at compile time for
/// the per-event lookups; errors name them in Go's canonical form.
pub static DELIVERY_ID_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static("x-github-delivery"),
    HeaderName::from_static("x-gitlab-event-uuid"),
    HeaderName::from_static("idempotency-key"),
    HeaderName::from_static("x-request-uuid"),
    HeaderName::from_static("webhook-id"),
];

/// Longest accepted delivery ID, bytes.
pub const MAX_DELIVERY_ID_LEN: usize = 256;

/// Which header names the sender's delivery ID (`--idempotency`, `--delivery-id-header`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryIdPolicy {
    enabled: bool,
    extra_header: Option<String>,
}

impl Default for DeliveryIdPolicy {
    /// Enabled, [`DELIVERY_ID_HEADERS`] only.
    fn default() -> Self {
        Self {
            enabled: true,
            extra_header: None,
        }
    }
}

/// A delivery ID header that cannot serve as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "header {header}: a delivery ID must be 1 to {MAX_DELIVERY_ID_LEN} visible ASCII characters"
)]
pub struct InvalidDeliveryId {
    /// The header's canonical name.
    pub header: String,
}

impl DeliveryIdPolicy {
    /// `enabled: false` ignores every delivery ID (names stay random, as upstream's);
    /// `extra_header` is looked at after [`DELIVERY_ID_HEADERS`].
    pub fn new(enabled: bool, extra_header: Option<String>) -> Self {
        Self {
            enabled,
            extra_header: extra_header.filter(|h| !h.is_empty()),
        }
    }

    /// The first present of [`DELIVERY_ID_HEADERS`] and the extra header, or `None` (also when
    /// disabled).
    ///
    /// # Errors
    /// [`InvalidDeliveryId`] when the first present header is empty, longer than
    /// [`MAX_DELIVERY_ID_LEN`] or holds anything but visible ASCII (it becomes an annotation
    /// value and a hash input; refusing it beats silently creating duplicates).
    pub fn find<'h>(&self, headers: &'h Headers) -> Result<Option<&'h str>, InvalidDeliveryId> {
        if !self.enabled {
            return Ok(None);
        }
        let known = DELIVERY_ID_HEADERS
            .iter()
            .map(|name| (name.as_str(), headers.get_header(name)));
        let extra = self
            .extra_header
            .as_deref()
            .map(|name| (name, headers.get(name)));
        for (name, value) in known.chain(extra) {
            if let Some(value) = value {
                let valid = !value.is_empty()
                    && value.len() <= MAX_DELIVERY_ID_LEN
                    && value.bytes().all(|b| b.is_ascii_graphic());
                if !valid {
                    return Err(InvalidDeliveryId {
                        header: canonical_header_name(name),
                    });
                }
                return Ok(Some(value));
            }
        }
        Ok(None)
    }
}

/// A body that upstream's payload validation refuses (reference §2.2): not a JSON object (nor
/// `null`). The message follows Go's `encoding/json` where the case is common.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidBody(pub String);

/// Checks `bytes` as upstream's payload validation does — a JSON object, or `null` — with one
/// validating scan that builds nothing (serde's `IgnoredAny`): memory stays at the body's own
/// size whatever it holds, so a body is judged before anyone pays for a tree.
///
/// # Errors
/// [`InvalidBody`] with Go-like messages for empty bodies, syntax errors and non-objects.
pub fn check_body(bytes: &[u8]) -> Result<(), InvalidBody> {
    let Some(first) = first_byte(bytes) else {
        return Err(InvalidBody("unexpected end of JSON input".into()));
    };
    serde_json::from_slice::<IgnoredAny>(bytes).map_err(|e| InvalidBody(e.to_string()))?;
    let go_type = match first {
        b'{' | b'n' => return Ok(()),
        b'[' => "array",
        b'"' => "string",
        b't' | b'f' => "bool",
        _ => "number",
    };
    Err(InvalidBody(format!(
        "json: cannot unmarshal {go_type} into Go value of type map[string]interface {{}}"
    )))
}

/// The first byte of `bytes` that is not JSON whitespace.
fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// [`check_body`], then the body as a tree (for tools and benchmarks that want it at once).
///
/// # Errors
/// As [`check_body`].
pub fn parse_body(bytes: &[u8]) -> Result<Value, InvalidBody> {
    check_body(bytes)?;
    serde_json::from_slice(bytes).map_err(|e| InvalidBody(e.to_string()))
}

/// One received event, immutable once built, shared by every trigger as `Arc<Event>`.
#[derive(Debug, Clone)]
pub struct Event {
    event_id: String,
    delivery_id: Option<String>,
    request_url: String,
    headers: Headers,
    raw_body: Bytes,
    /// The body as a tree, built on first use.
    body: OnceLock<Value>,
    /// Where the parts that a set of readers reads lie ([`Self::from_body_reading`]).
    located: Option<Located>,
    /// Received without payload validation ([`Self::from_unvalidated_body`]): why the body is
    /// not JSON, and why it is not a JSON object (or `null`). `None`: validated.
    unvalidated: Option<BodyCheck>,
}

/// What [`Event::from_unvalidated_body`] found of a body it did not refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BodyCheck {
    /// `Err` when the body is not JSON at all (bindings cannot read it).
    json: Result<(), InvalidBody>,
    /// `Err` when it is not a JSON object or `null`, or empty (CEL cannot read it).
    object: Result<(), InvalidBody>,
}

impl Event {
    /// Builds an event from what was received. `body` is the already parsed `raw_body`
    /// (`Value::Null` for an empty body); the caller parsed it and decided it is acceptable.
    pub fn new(
        event_id: impl Into<String>,
        request_url: impl Into<String>,
        headers: Headers,
        raw_body: impl AsRef<[u8]>,
        body: Value,
    ) -> Self {
        Self {
            event_id: event_id.into(),
            delivery_id: None,
            request_url: request_url.into(),
            headers,
            raw_body: Bytes::copy_from_slice(raw_body.as_ref()),
            body: OnceLock::from(body),
            located: None,
            unvalidated: None,
        }
    }

    /// Builds an event from a received body, as the sink does: [`check_body`] now (one scan, no
    /// tree, no copy of `raw_body`); the tree is built on the first call to [`Self::body`].
    ///
    /// # Errors
    /// [`InvalidBody`] as [`check_body`] returns it.
    pub fn from_body(
        event_id: impl Into<String>,
        request_url: impl Into<String>,
        headers: Headers,
        raw_body: Bytes,
    ) -> Result<Self, InvalidBody> {
        check_body(&raw_body)?;
        Ok(Self::received(event_id, request_url, headers, raw_body))
    }

    /// A received event whose tree is built on first use, nothing located, validated.
    fn received(
        event_id: impl Into<String>,
        request_url: impl Into<String>,
        headers: Headers,
        raw_body: Bytes,
    ) -> Self {
        Self {
            event_id: event_id.into(),
            delivery_id: None,
            request_url: request_url.into(),
            headers,
            raw_body,
            body: OnceLock::new(),
            located: None,
            unvalidated: None,
        }
    }

    /// Builds an event from a received body without payload validation (the EventListener
    /// annotation `tekton.dev/payload-validation: "false"`, reference §1.2, §2.2): any body is
    /// accepted. One scan notes whether it is JSON ([`Self::json_error`]) and a JSON object
    /// ([`Self::object_error`]); an empty or blank body is JSON (`null`) but not an object for
    /// [`check_body`], and is read as `{}` by CEL and `null` by bindings, as upstream.
    pub fn from_unvalidated_body(
        event_id: impl Into<String>,
        request_url: impl Into<String>,
        headers: Headers,
        raw_body: Bytes,
    ) -> Self {
        let object = check_body(&raw_body);
        let json = match (&object, first_byte(&raw_body)) {
            (Ok(()), _) | (Err(_), None) => Ok(()),
            // Judged by the same scan's error: a syntax error, or valid JSON of another type.
            (Err(e), Some(_)) if e.0.starts_with("json: cannot unmarshal") => Ok(()),
            (Err(e), Some(_)) => Err(e.clone()),
        };
        let object = match first_byte(&raw_body) {
            None => Ok(()),
            Some(_) => object,
        };
        Self {
            unvalidated: Some(BodyCheck { json, object }),
            ..Self::received(event_id, request_url, headers, raw_body)
        }
    }

    /// Why the body is not JSON, when it was received without validation and is not; bindings
    /// then fail (upstream: `failed to unmarshal request body: …`).
    pub fn json_error(&self) -> Option<&InvalidBody> {
        self.unvalidated
            .as_ref()
            .and_then(|c| c.json.as_ref().err())
    }

    /// Why the body is not a JSON object (nor `null`, nor empty), when it was received without
    /// validation; CEL then cannot read it (upstream: `failed to parse the body as JSON: …`).
    pub fn object_error(&self) -> Option<&InvalidBody> {
        self.unvalidated
            .as_ref()
            .and_then(|c| c.object.as_ref().err())
    }

    /// As [`Self::from_body`], and in the same pass over the bytes notes where the parts
    /// `paths` reads lie ([`BodyPaths::locate`]), so that readers given the same `paths`
    /// ([`Self::located`]) build their tree from those parts alone instead of a second pass
    /// over the body. Nothing is built: what is kept is bounded by `paths`, whatever the body
    /// holds, and the body may be unauthenticated. When `paths` reads the whole body this is
    /// [`Self::from_body`].
    ///
    /// # Errors
    /// [`InvalidBody`] exactly as [`check_body`] returns it.
    pub fn from_body_reading(
        event_id: impl Into<String>,
        request_url: impl Into<String>,
        headers: Headers,
        raw_body: Bytes,
        paths: &Arc<BodyPaths>,
    ) -> Result<Self, InvalidBody> {
        let located = if paths.is_whole() {
            None
        } else {
            match first_byte(&raw_body) {
                // An object (or null): the one scan both validates and locates. When it
                // fails (not JSON, or one of the few bodies the locating pass is stricter
                // with), the body is judged by `check_body` and built later by the pruned parse.
                Some(b'{' | b'n') => paths.locate(&raw_body).ok(),
                _ => None,
            }
        };
        if located.is_none() {
            check_body(&raw_body)?;
        }
        Ok(Self {
            located,
            ..Self::received(event_id, request_url, headers, raw_body)
        })
    }

    /// What [`Self::from_body_reading`] located, if it was given exactly `paths` (the same
    /// `Arc`): readers with other paths parse the body themselves.
    pub fn located(&self, paths: &Arc<BodyPaths>) -> Option<&Located> {
        self.located
            .as_ref()
            .filter(|located| located.is_for(paths))
    }

    /// The same event with the sender's delivery ID ([`DeliveryIdPolicy::find`]).
    #[must_use]
    pub fn with_delivery_id(mut self, delivery_id: Option<String>) -> Self {
        self.delivery_id = delivery_id;
        self
    }

    /// The sender's delivery ID, when it sent one and idempotency is on: what a redelivery of
    /// the same event carries again, so what the triggers create is named from it.
    pub fn delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref()
    }

    /// The eventID: a UUIDv4 string, one per request.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The request target as received: path and query, no scheme or host (reference §3.1).
    pub fn request_url(&self) -> &str {
        &self.request_url
    }

    /// The request headers, canonical names.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The body exactly as received; signatures are computed over these bytes.
    pub fn raw_body(&self) -> &[u8] {
        &self.raw_body
    }

    /// The body parsed as JSON (`Value::Null` when the body was empty), built on the first call
    /// (logged at debug level as `body parsed into a tree`) and shared afterwards. Only readers
    /// after the signature checks call this: an event that no trigger authenticates is never
    /// built into a tree (a tree costs up to ~17 times the body's size).
    /// A body that is not JSON ([`Self::json_error`]) is `Value::Null` here.
    pub fn body(&self) -> &Value {
        self.body.get_or_init(|| {
            if self.json_error().is_some() || first_byte(&self.raw_body).is_none() {
                return Value::Null;
            }
            tracing::debug!(bytes = self.raw_body.len(), "body parsed into a tree");
            // `from_body` checked the same bytes, and both parsers share serde_json's limits; a
            // failure here would be a serde_json bug, answered as an empty body.
            serde_json::from_slice(&self.raw_body).unwrap_or_else(|e| {
                tracing::error!(error = %e, "checked body failed to parse");
                Value::Null
            })
        })
    }

    /// True once [`Self::body`] has built the tree.
    pub fn body_parsed(&self) -> bool {
        self.body.get().is_some()
    }
}

/// A new random eventID (UUIDv4, hyphenated lower case), as upstream's `template.UUID`.
pub fn new_event_id() -> String {
    new_uuid().to_string()
}

/// A random UUIDv4 (RFC 9562 §5.4) from the thread's own CSPRNG (`rand::rng()`, seeded and
/// reseeded from the OS), not a `getrandom` system call per UUID as `Uuid::new_v4` makes: one
/// is made per event and per trigger that creates.
pub fn new_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// One step of one event, as upstream reports it in Kubernetes Events and CloudEvents
/// (reference §8.5, §8.6): the kind, the event ID, and the error text of a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventNotice {
    /// Which step.
    pub kind: NoticeKind,
    /// The event's ID (`eventID` in the answer).
    pub event_id: String,
    /// What failed, for [`NoticeKind::Failed`] (and the trigger for
    /// [`NoticeKind::Successful`]); else `None`.
    pub message: Option<String>,
}

/// The steps upstream reports for an event (its CloudEvent types, reference §8.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// A request arrived (`dev.tekton.event.triggers.started.v1`).
    Started,
    /// One trigger created everything (`dev.tekton.event.triggers.successful.v1`).
    Successful,
    /// The request failed before its triggers ran, or timed out
    /// (`dev.tekton.event.triggers.failed.v1`).
    Failed,
    /// The answer is ready (`dev.tekton.event.triggers.done.v1`).
    Done,
}

impl NoticeKind {
    /// Upstream's CloudEvent type string, the `reason` of its Kubernetes Events.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Started => "dev.tekton.event.triggers.started.v1",
            Self::Successful => "dev.tekton.event.triggers.successful.v1",
            Self::Failed => "dev.tekton.event.triggers.failed.v1",
            Self::Done => "dev.tekton.event.triggers.done.v1",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parsed_name_finds_what_its_text_finds() {
        let mut received = hyper::HeaderMap::new();
        received.append("x-github-event", HeaderValue::from_static("push"));
        received.append("x-two", HeaderValue::from_static("a"));
        received.append("x-two", HeaderValue::from_static("b"));
        received.append("x-latin", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        received.append("host", HeaderValue::from_static("example.com"));
        let http = Headers::from_http(received);
        let mut built = Headers::new();
        built.append("X-GitHub-Event", "push");
        built.append("X-Two", "a");
        for headers in [&http, &built] {
            for name in [
                "x-github-event",
                "x-two",
                "x-latin",
                "host",
                "missing",
                "content-type",
            ] {
                let parsed = HeaderName::from_static(name);
                assert_eq!(headers.get_header(&parsed), headers.get(name), "{name}");
                assert_eq!(
                    headers.header_values(&parsed).collect::<Vec<_>>(),
                    headers.values(name).collect::<Vec<_>>(),
                    "{name}"
                );
            }
        }
        assert_eq!(
            http.get_header(&HeaderName::from_static("x-latin")),
            Some("caf\u{fffd}")
        );
    }

    #[test]
    fn canonical_names_follow_go() {
        assert_eq!(canonical_header_name("x-github-event"), "X-Github-Event");
        assert_eq!(canonical_header_name("X-GitHub-Event"), "X-Github-Event");
        assert_eq!(canonical_header_name("content-type"), "Content-Type");
        assert_eq!(canonical_header_name("x_y"), "X_y");
        assert_eq!(canonical_header_name("bad header"), "bad header");
    }

    #[test]
    fn stack_canonical_names_match_the_allocating_ones() {
        let long = format!("x-{}", "a".repeat(80));
        for name in [
            "x-github-event",
            "X-HUB-SIGNATURE-256",
            "content-type",
            "x_y",
            "bad header",
            "é-x",
            "",
            long.as_str(),
        ] {
            let stack = with_canonical_header_name(name, str::to_owned);
            assert_eq!(stack, canonical_header_name(name), "{name}");
        }
    }

    #[test]
    fn delivery_id_is_the_first_present_header_in_order() {
        let headers: Headers = [("webhook-id", "w"), ("x-gitlab-event-uuid", "g")]
            .into_iter()
            .collect();
        let policy = DeliveryIdPolicy::default();
        assert_eq!(policy.find(&headers), Ok(Some("g")));
        let only_custom: Headers = [("X-My-Id", "m")].into_iter().collect();
        assert_eq!(policy.find(&only_custom), Ok(None));
        let custom = DeliveryIdPolicy::new(true, Some("x-my-id".into()));
        assert_eq!(custom.find(&only_custom), Ok(Some("m")));
        assert_eq!(
            custom.find(&headers),
            Ok(Some("g")),
            "built-in headers first"
        );
        assert_eq!(DeliveryIdPolicy::new(false, None).find(&headers), Ok(None));
        for bad in ["", "a b", "é", &"x".repeat(MAX_DELIVERY_ID_LEN + 1)] {
            let headers: Headers = [("X-GitHub-Delivery", bad)].into_iter().collect();
            assert!(policy.find(&headers).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_delivery_id_header_is_found_alone_and_named_canonically_when_invalid() {
        let policy = DeliveryIdPolicy::default();
        for (sent, canonical) in [
            ("X-GitHub-Delivery", "X-Github-Delivery"),
            ("X-Gitlab-Event-UUID", "X-Gitlab-Event-Uuid"),
            ("Idempotency-Key", "Idempotency-Key"),
            ("X-Request-UUID", "X-Request-Uuid"),
            ("webhook-id", "Webhook-Id"),
        ] {
            let headers: Headers = [(sent, "id-1")].into_iter().collect();
            assert_eq!(policy.find(&headers), Ok(Some("id-1")), "{sent}");
            let bad: Headers = [(sent, "a b")].into_iter().collect();
            assert_eq!(
                policy.find(&bad),
                Err(InvalidDeliveryId {
                    header: canonical.to_owned()
                }),
                "{sent}"
            );
        }
    }

    #[test]
    fn body_must_be_an_object_or_null_as_upstream_says() {
        assert!(check_body(b"{\"a\":1}").is_ok());
        assert!(check_body(b" null ").is_ok());
        let message = |b: &[u8]| check_body(b).unwrap_err().to_string();
        assert_eq!(message(b""), "unexpected end of JSON input");
        assert_eq!(message(b"  \n"), "unexpected end of JSON input");
        for (body, go_type) in [
            (&b"[1]"[..], "array"),
            (b"\"x\"", "string"),
            (b"true", "bool"),
            (b"-1.5", "number"),
        ] {
            assert_eq!(
                message(body),
                format!(
                    "json: cannot unmarshal {go_type} into Go value of type map[string]interface {{}}"
                )
            );
        }
        assert!(check_body(b"{\"a\":").is_err());
        assert!(check_body(b"{} x").is_err());
        assert!(check_body(b"nul").is_err());
    }

    #[test]
    fn event_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::BTreeSet<String> = (0..1000).map(|_| new_event_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version(), Some(uuid::Version::Random));
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(id, &uuid.hyphenated().to_string());
        }
    }

    #[test]
    fn receiving_with_paths_judges_every_body_as_check_body_does() {
        let mut declared = BodyPaths::none();
        declared.add(&["a", "b"]);
        declared.add(&["c"]);
        let declared = Arc::new(declared);
        for body in [
            &b""[..],
            b"  \n",
            b"[1]",
            b"\"x\"",
            b"true",
            b"-1.5",
            b"{\"a\":",
            b"{} x",
            b"nul",
            b"null",
            b"{\"z\":[1,}",
            b"{\"a\":1e400}",
            b"{\"c\":1e400}",
            b"{\"a\":{\"b\":\"\\ud83d\\ude00\"},\"c\":[1,{\"d\":2}]}",
        ] {
            let received =
                Event::from_body_reading("id", "/", Headers::new(), Bytes::from(body), &declared);
            assert_eq!(
                received.as_ref().err(),
                check_body(body).err().as_ref(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let body = Bytes::from_static(b"{\"a\":{\"b\":1,\"x\":2},\"c\":\"y\"}");
        let event =
            Event::from_body_reading("id", "/", Headers::new(), body.clone(), &declared).unwrap();
        let located = event.located(&declared).expect("located for its own paths");
        assert_eq!(
            located.build(&body),
            Some(serde_json::json!({"a": {"b": 1}, "c": "y"}))
        );
        let same_paths_other_arc = Arc::new((*declared).clone());
        assert!(event.located(&same_paths_other_arc).is_none());
        assert!(
            Event::from_body_reading(
                "id",
                "/",
                Headers::new(),
                body,
                &Arc::new(BodyPaths::whole())
            )
            .unwrap()
            .located(&declared)
            .is_none()
        );
    }

    #[test]
    fn unvalidated_bodies_are_taken_and_judged_for_each_reader() {
        let receive = |body: &'static [u8]| {
            Event::from_unvalidated_body("id", "/", Headers::new(), Bytes::from_static(body))
        };
        let form = receive(b"text=hi&user=ana");
        assert_eq!(
            form.json_error().map(ToString::to_string),
            check_body(b"text=hi").err().map(|e| e.to_string())
        );
        assert!(form.object_error().is_some());
        assert!(form.body().is_null(), "not JSON: no tree, no error");
        let array = receive(b"[1, 2]");
        assert_eq!(array.json_error(), None, "JSON, so bindings read it");
        assert_eq!(
            array.object_error().map(ToString::to_string).as_deref(),
            Some("json: cannot unmarshal array into Go value of type map[string]interface {}")
        );
        assert_eq!(array.body()[1], 2);
        for empty in [&b""[..], b" \n"] {
            let event = Event::from_unvalidated_body("id", "/", Headers::new(), Bytes::from(empty));
            assert_eq!((event.json_error(), event.object_error()), (None, None));
            assert!(event.body().is_null());
        }
        let object = receive(b"{\"a\": 1}");
        assert_eq!((object.json_error(), object.object_error()), (None, None));
        assert_eq!(object.body()["a"], 1);
        let validated = Event::from_body("id", "/", Headers::new(), Bytes::from_static(b"{}"));
        assert_eq!(validated.unwrap().json_error(), None);
    }

    #[test]
    fn the_tree_is_built_on_first_use_only() {
        let event = Event::from_body(
            "id",
            "/",
            Headers::new(),
            Bytes::from_static(b"{\"a\": [1, 2]}"),
        )
        .unwrap();
        assert!(!event.body_parsed());
        assert_eq!(event.raw_body(), b"{\"a\": [1, 2]}");
        assert_eq!(event.body()["a"][1], 2);
        assert!(event.body_parsed());
        assert!(Event::from_body("id", "/", Headers::new(), Bytes::from_static(b"[]")).is_err());
    }

    #[test]
    fn headers_lookup_any_case_and_join_for_bindings() {
        let headers: Headers = [("x-two", "a"), ("X-Two", "b"), ("content-type", "json")]
            .into_iter()
            .collect();
        assert_eq!(headers.get("X-TWO"), Some("a"));
        assert_eq!(headers.get_all("x-two").map(<[String]>::len), Some(2));
        assert_eq!(
            headers.to_binding_json(),
            serde_json::json!({"Content-Type": "json", "X-Two": "a,b"})
        );
        assert_eq!(headers.get("missing"), None);
    }

    /// Received headers answer every lookup as the canonical map built from them does, before
    /// and after the map is built: any case, the first value, `Host` and `Transfer-Encoding`
    /// left out, bytes that are not UTF-8 replaced.
    #[test]
    fn received_headers_answer_as_their_canonical_map() {
        use hyper::header::{HeaderName, HeaderValue};
        let mut received = hyper::HeaderMap::new();
        for (name, value) in [
            ("x-two", &b"a"[..]),
            ("x-two", b"b"),
            ("host", b"example.com"),
            ("transfer-encoding", b"chunked"),
            ("x-latin", b"caf\xe9"),
            ("x_under", b"u"),
            ("content-type", b"json"),
        ] {
            received.append(
                HeaderName::from_static(name),
                HeaderValue::from_bytes(value).expect("value"),
            );
        }
        let built: Headers = [
            ("X-Two", "a"),
            ("X-Two", "b"),
            ("X-Latin", "caf\u{fffd}"),
            ("X_under", "u"),
            ("Content-Type", "json"),
        ]
        .into_iter()
        .collect();
        let lazy = Headers::from_http(received.clone());
        let names = [
            "x-two",
            "X-TWO",
            "Host",
            "transfer-encoding",
            "x-latin",
            "X_UNDER",
            "x under",
            "",
            "content-type",
            "missing",
        ];
        for name in names {
            assert_eq!(
                lazy.get(name),
                built.get(name),
                "get({name:?}) before the map"
            );
        }
        assert_eq!(lazy, built);
        for name in names {
            assert_eq!(
                lazy.get(name),
                built.get(name),
                "get({name:?}) after the map"
            );
            assert_eq!(lazy.get_all(name), built.get_all(name), "get_all({name:?})");
        }
        assert_eq!(lazy.to_binding_json(), built.to_binding_json());
        let mut appended = Headers::from_http(received);
        appended.append("x-two", "c");
        assert_eq!(appended.get_all("X-Two").map(<[String]>::len), Some(3));
        assert_eq!(appended.get("Host"), None);
    }
}
