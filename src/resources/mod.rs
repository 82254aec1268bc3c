//! What triggers create and where it goes (upstream `pkg/resources/create.go`, reference §6.4,
//! §6.5, §7): the labels and namespace every created object gets, and the [`Creator`] trait that
//! the `--sink` flag chooses an implementation of (`dir:PATH`, `stdout`, `null`; the Kubernetes API
//! later).
//! The event path only sees the trait.

mod cancel;
mod collect;
mod dir;
mod kube;
mod name;
mod stdout;

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

pub use cancel::{
    ANNOTATION_CANCEL_ORDER, CancelReport, CancelRequest, CancelStamp, CancelStatus,
    LABEL_CANCEL_KEY, Verdict, format_order, judge, key_label, parse_order,
};
pub use collect::CollectCreator;
pub use dir::DirCreator;
pub use kube::KubeCreator;
pub use name::{GENERATED_SUFFIX_LEN, IDEMPOTENT_SUFFIX_LEN, IdempotencyKey, generate_name};
pub use stdout::{NullCreator, StdoutCreator};

/// Label naming the EventListener (§6.5).
pub const LABEL_EVENT_LISTENER: &str = "triggers.tekton.dev/eventlistener";
/// Label carrying the eventID (§6.5).
pub const LABEL_EVENT_ID: &str = "triggers.tekton.dev/triggers-eventid";
/// Label naming the Trigger (§6.5).
pub const LABEL_TRIGGER: &str = "triggers.tekton.dev/trigger";
/// Annotation carrying the sender's delivery ID on every object created for it (this project's
/// own key; `tekton.dev` is upstream's). A 409 AlreadyExists on an object carrying the same
/// value is a duplicate delivery, not an error.
pub const ANNOTATION_DELIVERY_ID: &str = "eventlistener.dev/delivery-id";

/// Errors preparing or creating an object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rendered object cannot be created as it is (metadata not an object, non-string label
    /// values, neither `name` nor `generateName`).
    #[error("invalid object: {0}")]
    InvalidObject(String),
    /// An object of that kind and name exists already (the API server's 409 AlreadyExists).
    #[error("{kind} {namespace}/{name} already exists")]
    AlreadyExists {
        /// Kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The API server refused the object (e.g. 403 Forbidden, 422 Invalid), or kept failing.
    #[error("{kind} {name}: API answered {code} {reason}: {message}")]
    Api {
        /// Kind.
        kind: String,
        /// Name.
        name: String,
        /// HTTP status.
        code: u16,
        /// Kubernetes reason (`Forbidden`, `Invalid`, …).
        reason: String,
        /// The API's message.
        message: String,
    },
    /// apiVersion/kind is not served by the cluster, or discovery failed.
    #[error("could not find resource with apiVersion {api_version} and kind {kind}: {message}")]
    Discovery {
        /// apiVersion.
        api_version: String,
        /// Kind.
        kind: String,
        /// Why.
        message: String,
        /// Whether a later attempt may succeed.
        retryable: bool,
    },
    /// Talking to the API failed below HTTP (connection, TLS, timeouts).
    #[error("kubernetes API: {message}")]
    Kube {
        /// What failed.
        message: String,
        /// Whether a later attempt may succeed.
        retryable: bool,
    },
    /// Writing the object failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// File written.
        path: std::path::PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
}

impl Error {
    /// True when trying the same event again may succeed (the sender should retry: 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Io { .. } => true,
            Error::Api { code, .. } => *code == 429 || *code >= 500,
            Error::Discovery { retryable, .. } | Error::Kube { retryable, .. } => *retryable,
            Error::InvalidObject(_) | Error::AlreadyExists { .. } => false,
        }
    }
}

/// Who asks for the object: the names that become labels, and the namespace to default to.
#[derive(Debug, Clone, Copy)]
pub struct CreateContext<'a> {
    /// EventListener name.
    pub event_listener: &'a str,
    /// eventID of the request.
    pub event_id: &'a str,
    /// Trigger name (inline triggers: their `name`).
    pub trigger: &'a str,
    /// The Trigger's namespace: used when the object names none (§6.4).
    pub namespace: &'a str,
    /// The Trigger's `serviceAccountName`: objects are created with its rights (impersonation,
    /// §7), else with the listener's own.
    pub service_account: Option<&'a str>,
    /// With the sender's delivery ID: objects are annotated with it and a `generateName` is
    /// resolved from it ([`IdempotencyKey::name`]); without, names stay random.
    pub idempotency: Option<IdempotencyKey<'a>>,
    /// Position of the object in the TriggerTemplate's `resourcetemplates` (0-based).
    pub index: usize,
}

/// An object as a TriggerTemplate renders it, before [`Resource::prepare`]: the members the
/// creators read kept apart, every other member already JSON text. Rendering writes the text
/// straight from the compiled template, so the bulk of an object (its `spec`) is never built as a
/// `serde_json` tree per event.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// `apiVersion`, when it is a string (a template always has one; an object built otherwise
    /// may not).
    pub api_version: Option<String>,
    /// `kind`, when it is a string.
    pub kind: Option<String>,
    /// `metadata` as rendered, when present (checked to be an object by [`Resource::prepare`]).
    pub metadata: Option<Value>,
    /// Every other member as JSON text, each written `,"key":value` (a leading comma, compact
    /// JSON), in key order. Must be valid in that shape: it is sent as it is.
    pub rest: Vec<u8>,
}

impl Rendered {
    /// Splits an object into the members the creators read and the rest as JSON text. A
    /// non-string `apiVersion` or `kind` stays in the rest, as written.
    pub fn from_map(mut object: Map<String, Value>) -> Self {
        let mut take_string = |key: &str| match object.remove_entry(key) {
            Some((_, Value::String(s))) => Some(s),
            Some((key, other)) => {
                object.insert(key, other);
                None
            }
            None => None,
        };
        let api_version = take_string("apiVersion");
        let kind = take_string("kind");
        let metadata = object.remove("metadata");
        let mut rest = Vec::new();
        for (key, value) in &object {
            rest.push(b',');
            write_json(&mut rest, key.as_str());
            rest.push(b':');
            write_json(&mut rest, value);
        }
        Self {
            api_version,
            kind,
            metadata,
            rest,
        }
    }

    /// The whole object as JSON text (`apiVersion`, `kind`, `metadata`, then the rest).
    pub fn to_json_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.rest.len() + 256);
        write_object(
            &mut out,
            self.api_version.as_deref(),
            self.kind.as_deref(),
            self.metadata.as_ref(),
            &self.rest,
        );
        out
    }
}

impl TryFrom<Value> for Rendered {
    type Error = Error;

    /// [`Rendered::from_map`] of an object; [`Error::InvalidObject`] for anything else.
    fn try_from(value: Value) -> Result<Self, Error> {
        match value {
            Value::Object(map) => Ok(Self::from_map(map)),
            _ => Err(Error::InvalidObject("not a JSON object".into())),
        }
    }
}

/// Appends `value` as compact JSON.
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail, and a `str`, a `Value` or a map with string keys always
    // serializes: there is no error to report.
    let _ = serde_json::to_writer(out, value);
}

/// Appends `{"apiVersion":…,"kind":…,"metadata":…` + `rest` + `}`, leaving out the absent ones.
fn write_object<M: serde::Serialize>(
    out: &mut Vec<u8>,
    api_version: Option<&str>,
    kind: Option<&str>,
    metadata: Option<&M>,
    rest: &[u8],
) {
    out.push(b'{');
    let mut first = true;
    let mut member = |out: &mut Vec<u8>, key: &str| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        write_json(out, key);
        out.push(b':');
    };
    if let Some(v) = api_version {
        member(out, "apiVersion");
        write_json(out, v);
    }
    if let Some(v) = kind {
        member(out, "kind");
        write_json(out, v);
    }
    if let Some(v) = metadata {
        member(out, "metadata");
        write_json(out, v);
    }
    match rest.split_first() {
        // The rest starts with its own comma; the first member of an object must not.
        Some((b',', tail)) if first => out.extend_from_slice(tail),
        _ => out.extend_from_slice(rest),
    }
    out.push(b'}');
}

/// An object ready to create: labels added, namespace set, and who creates it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Map<String, Value>,
    /// The other members, as [`Rendered::rest`].
    rest: Vec<u8>,
    /// The delivery ID it was created for, if any (also in [`ANNOTATION_DELIVERY_ID`]).
    delivery_id: Option<String>,
    /// `system:serviceaccount:<trigger namespace>:<serviceAccountName>` to impersonate, if any.
    impersonate: Option<String>,
}

/// What was created: enough to name it in logs and responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name (for `generateName`, the generated one).
    pub name: String,
    /// True when the object was not created by this call because it already existed, created
    /// earlier for the same delivery ID (a redelivery, a retry, another replica): success, and
    /// nothing new exists.
    pub duplicate: bool,
}

/// True when `created` is not empty and every object in it already existed for this delivery
/// ID: the trigger's outcome is then `duplicate` (nothing new exists), not `created`.
pub fn only_duplicates(created: &[Created]) -> bool {
    !created.is_empty() && created.iter().all(|c| c.duplicate)
}

impl Resource {
    /// Prepares a rendered object as upstream's `addLabels` and namespace rule do: the three
    /// §6.5 labels overwrite same-named ones, other labels are kept; `metadata.namespace` is
    /// kept when set, else the Trigger's namespace is used.
    ///
    /// # Errors
    /// [`Error::InvalidObject`] when `metadata` is not an object,
    /// a label value is not a string, or neither `metadata.name` nor `metadata.generateName` is set.
    pub fn prepare(object: Rendered, ctx: &CreateContext<'_>) -> Result<Self, Error> {
        let Rendered {
            api_version,
            kind,
            metadata,
            rest,
        } = object;
        let mut metadata = match metadata {
            None => Map::new(),
            Some(Value::Object(map)) => map,
            Some(_) => return Err(Error::InvalidObject("metadata is not an object".into())),
        };
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(labels) = labels else {
            return Err(Error::InvalidObject(
                "metadata.labels is not an object".into(),
            ));
        };
        if let Some((key, _)) = labels.iter().find(|(_, v)| !v.is_string()) {
            return Err(Error::InvalidObject(format!(
                "label {key} does not have a string value"
            )));
        }
        for (key, value) in [
            (LABEL_EVENT_LISTENER, ctx.event_listener),
            (LABEL_EVENT_ID, ctx.event_id),
            (LABEL_TRIGGER, ctx.trigger),
        ] {
            labels.insert(key.to_owned(), Value::String(value.to_owned()));
        }
        let has_namespace = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .is_some_and(|ns| !ns.is_empty());
        if !has_namespace {
            metadata.insert("namespace".into(), Value::String(ctx.namespace.to_owned()));
        }
        let text = |key: &str| {
            metadata
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        if text("name").is_empty() && text("generateName").is_empty() {
            return Err(Error::InvalidObject(
                "neither metadata.name nor metadata.generateName is set".into(),
            ));
        }
        if let Some(key) = &ctx.idempotency {
            if text("name").is_empty() {
                let name = key.name(text("generateName"), ctx.index);
                metadata.insert("name".into(), Value::String(name));
            }
            let annotations = metadata
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(annotations) = annotations else {
                return Err(Error::InvalidObject(
                    "metadata.annotations is not an object".into(),
                ));
            };
            annotations.insert(
                ANNOTATION_DELIVERY_ID.to_owned(),
                Value::String(key.delivery_id.to_owned()),
            );
        }
        let text = |key: &str| {
            metadata
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        // Values here may come from the payload; the API server would refuse these, and a file
        // sink must not be steered outside its directory.
        let namespace = text("namespace");
        if !is_dns1123_label(namespace) {
            return Err(Error::InvalidObject(format!(
                "metadata.namespace {namespace:?} is not a valid namespace name"
            )));
        }
        for key in ["name", "generateName"] {
            let value = text(key);
            if value == "." || value == ".." || value.contains(['/', '%', '\\']) {
                return Err(Error::InvalidObject(format!(
                    "metadata.{key} {value:?} may not be '.', '..' or hold '/', '%' or '\\'"
                )));
            }
        }
        Ok(Self {
            api_version,
            kind,
            metadata,
            rest,
            delivery_id: ctx.idempotency.map(|k| k.delivery_id.to_owned()),
            impersonate: service_account_user(ctx.namespace, ctx.service_account),
        })
    }

    /// Marks the object as made by a trigger that cancels superseded runs: the hashed key in
    /// [`LABEL_CANCEL_KEY`] and, when known, the order stamp in [`ANNOTATION_CANCEL_ORDER`]
    /// (both overwrite same-named ones the template set).
    pub fn mark_cancellable(&mut self, stamp: &CancelStamp) {
        let meta = &mut self.metadata;
        if let Some(Value::Object(labels)) = meta.get_mut("labels") {
            labels.insert(
                LABEL_CANCEL_KEY.to_owned(),
                Value::String(stamp.key_label.clone()),
            );
        }
        let Some(order) = stamp.order else {
            return;
        };
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if !annotations.is_object() {
            *annotations = Value::Object(Map::new());
        }
        if let Value::Object(annotations) = annotations {
            annotations.insert(
                ANNOTATION_CANCEL_ORDER.to_owned(),
                Value::String(format_order(order)),
            );
        }
    }

    /// Appends the object as it would be POSTed, as compact JSON: `apiVersion`, `kind`,
    /// `metadata`, then the other members in key order.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        write_object(
            out,
            self.api_version.as_deref(),
            self.kind.as_deref(),
            Some(&self.metadata),
            &self.rest,
        );
    }

    /// The object as it would be POSTed ([`Self::write_json`]) in a new buffer.
    pub fn to_json_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.rest.len() + 512);
        self.write_json(&mut out);
        out
    }

    /// The object as a JSON tree (parsed from [`Self::to_json_vec`]), for callers that edit or
    /// pretty-print it.
    ///
    /// # Errors
    /// [`Error::InvalidObject`] if the rendered text does not parse back (it always should).
    pub fn to_json(&self) -> Result<Map<String, Value>, Error> {
        serde_json::from_slice(&self.to_json_vec()).map_err(|e| Error::InvalidObject(e.to_string()))
    }

    /// `metadata`, with the labels, namespace and annotations added by [`Self::prepare`].
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    /// `metadata`, to change before creating (e.g. drop `namespace` for a cluster-scoped kind).
    pub(crate) fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.metadata
    }

    fn text(&self, key: &str) -> &str {
        self.metadata
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The delivery ID this object is created for (see [`ANNOTATION_DELIVERY_ID`]).
    pub fn delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref()
    }

    /// True when `existing` (an object of the same name found in place) was created for the
    /// same delivery ID as this one: a duplicate delivery, so success with nothing new.
    pub fn same_delivery(&self, existing: &Value) -> bool {
        let theirs = existing
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get(ANNOTATION_DELIVERY_ID))
            .and_then(Value::as_str);
        self.delivery_id.is_some() && theirs == self.delivery_id.as_deref()
    }

    /// What was created, marked as found already created for this delivery.
    pub fn duplicate(&self) -> Created {
        Created {
            duplicate: true,
            ..self.created()
        }
    }

    /// The user to impersonate when creating (`system:serviceaccount:NS:NAME`), if any.
    pub fn impersonate(&self) -> Option<&str> {
        self.impersonate.as_deref()
    }

    /// `apiVersion` (empty when it is not a string).
    pub fn api_version(&self) -> &str {
        self.api_version.as_deref().unwrap_or_default()
    }

    /// `kind` (empty when it is not a string).
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> &str {
        self.text("namespace")
    }

    /// `metadata.generateName`.
    pub fn generate_name(&self) -> &str {
        self.text("generateName")
    }

    /// `metadata.name` (empty when only `generateName` is set).
    pub fn name(&self) -> &str {
        self.text("name")
    }

    /// Sets `metadata.name`.
    pub(crate) fn set_name(&mut self, name: &str) {
        self.metadata
            .insert("name".into(), Value::String(name.to_owned()));
    }

    /// Sets `metadata.name` from `metadata.generateName` when no name is set, as the API server
    /// does; returns the name.
    pub fn resolve_generate_name(&mut self) -> &str {
        if self.name().is_empty() {
            let name = generate_name(self.generate_name());
            self.metadata.insert("name".into(), Value::String(name));
        }
        self.name()
    }

    fn created(&self) -> Created {
        Created {
            api_version: self.api_version().to_owned(),
            kind: self.kind().to_owned(),
            namespace: self.namespace().to_owned(),
            name: self.name().to_owned(),
            duplicate: false,
        }
    }
}

/// The user a Trigger's `serviceAccountName` is impersonated as (reference §7):
/// `system:serviceaccount:<trigger namespace>:<name>`; `None` without one (or an empty one).
pub fn service_account_user(namespace: &str, service_account: Option<&str>) -> Option<String> {
    service_account
        .filter(|sa| !sa.is_empty())
        .map(|sa| format!("system:serviceaccount:{namespace}:{sa}"))
}

/// A DNS-1123 label, as Kubernetes requires of namespace names: 1 to 63 lower-case letters,
/// digits and `-`, starting and ending with a letter or digit.
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars().all(|c| alnum(c) || c == '-')
}

/// A boxed future, for object-safe async trait methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Creates prepared objects somewhere. Implementations: [`DirCreator`], [`StdoutCreator`],
/// [`NullCreator`].
pub trait Creator: Send + Sync + std::fmt::Debug {
    /// Creates one object.
    ///
    /// # Errors
    /// Implementation-specific; see [`Error::is_retryable`].
    fn create(&self, resource: Resource) -> BoxFuture<'_, Result<Created, Error>>;

    /// Cancels the runs that `created` (a PipelineRun this creator has just created, not a
    /// duplicate) supersedes: those of the same trigger and cancel key that have not finished
    /// and are older ([`judge`]), patched to `spec.status: <request.status>`. Never fails:
    /// failures are logged and counted in the report.
    ///
    /// The default does nothing: the local sinks (`dir:`, `stdout`) have no runs to cancel;
    /// the objects they write carry the label and annotation all the same.
    fn cancel_superseded<'a>(
        &'a self,
        created: &'a Created,
        request: &'a CancelRequest<'a>,
    ) -> BoxFuture<'a, CancelReport> {
        let _ = (created, request);
        Box::pin(std::future::ready(CancelReport::default()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CTX: CreateContext<'static> = CreateContext {
        event_listener: "el",
        event_id: "id-1",
        trigger: "t",
        namespace: "ci",
        service_account: None,
        idempotency: None,
        index: 0,
    };

    fn prepare(object: Value, ctx: &CreateContext<'_>) -> Result<Resource, Error> {
        Resource::prepare(Rendered::try_from(object)?, ctx)
    }

    #[test]
    fn labels_are_added_and_overwrite_same_names_only() {
        let r = prepare(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "x-",
                   "labels": {"keep": "me", "triggers.tekton.dev/trigger": "forged"}}}),
            &CTX,
        )
        .unwrap();
        let labels = &r.metadata()["labels"];
        assert_eq!(labels["keep"], "me");
        assert_eq!(labels[LABEL_TRIGGER], "t");
        assert_eq!(labels[LABEL_EVENT_ID], "id-1");
        assert_eq!(labels[LABEL_EVENT_LISTENER], "el");
        assert_eq!(r.namespace(), "ci");
    }

    #[test]
    fn service_account_becomes_the_user_to_impersonate() {
        let ctx = CreateContext {
            service_account: Some("builder"),
            ..CTX
        };
        let r = prepare(json!({"kind": "A", "metadata": {"name": "x"}}), &ctx).unwrap();
        assert_eq!(r.impersonate(), Some("system:serviceaccount:ci:builder"));
        let r = prepare(json!({"kind": "A", "metadata": {"name": "x"}}), &CTX).unwrap();
        assert_eq!(r.impersonate(), None);
    }

    #[test]
    fn own_namespace_is_kept() {
        let r = prepare(
            json!({"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "other"}}),
            &CTX,
        )
        .unwrap();
        assert_eq!(r.namespace(), "other");
    }

    #[test]
    fn bad_objects_are_rejected() {
        for bad in [
            json!({"kind": "A", "metadata": {"name": "x", "labels": {"a": 1}}}),
            json!({"kind": "A", "metadata": "x"}),
            json!({"kind": "A", "metadata": {}}),
            json!([1]),
        ] {
            assert!(
                matches!(prepare(bad.clone(), &CTX), Err(Error::InvalidObject(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_from_the_payload_cannot_leave_their_place() {
        for bad in [
            json!({"kind": "A", "metadata": {"name": "x", "namespace": "../../escaped"}}),
            json!({"kind": "A", "metadata": {"name": "x", "namespace": "Upper"}}),
            json!({"kind": "A", "metadata": {"name": "../x"}}),
            json!({"kind": "A", "metadata": {"generateName": "feature/branch-"}}),
            json!({"kind": "A", "metadata": {"name": ".."}}),
        ] {
            assert!(
                matches!(prepare(bad.clone(), &CTX), Err(Error::InvalidObject(_))),
                "{bad}"
            );
        }
        assert!(prepare(json!({"kind": "A", "metadata": {"name": "a.b-c"}}), &CTX).is_ok());
    }

    #[test]
    fn a_cancellable_object_carries_the_key_label_and_the_order_stamp() {
        let mut r = prepare(
            json!({"kind": "PipelineRun", "metadata": {"generateName": "build-",
                   "labels": {LABEL_CANCEL_KEY: "forged"}, "annotations": {"keep": "me"}}}),
            &CTX,
        )
        .unwrap();
        let order = parse_order("2024-05-01T12:00:00+02:00").unwrap();
        r.mark_cancellable(&CancelStamp {
            key_label: key_label("octo/hello#42"),
            order: Some(order),
        });
        let metadata = r.metadata();
        assert_eq!(
            metadata["labels"][LABEL_CANCEL_KEY],
            key_label("octo/hello#42")
        );
        assert_eq!(metadata["labels"][LABEL_TRIGGER], "t");
        assert_eq!(
            metadata["annotations"][ANNOTATION_CANCEL_ORDER],
            "2024-05-01T10:00:00.000000000Z"
        );
        assert_eq!(metadata["annotations"]["keep"], "me");

        let mut unordered = prepare(json!({"kind": "A", "metadata": {"name": "x"}}), &CTX).unwrap();
        unordered.mark_cancellable(&CancelStamp {
            key_label: "k".into(),
            order: None,
        });
        let metadata = unordered.metadata();
        assert_eq!(metadata["labels"][LABEL_CANCEL_KEY], "k");
        assert_eq!(metadata.get("annotations"), None, "no stamp, no annotation");
    }

    #[test]
    fn generate_name_is_resolved_once() {
        let mut r = prepare(
            json!({"kind": "PipelineRun", "metadata": {"generateName": "build-"}}),
            &CTX,
        )
        .unwrap();
        let name = r.resolve_generate_name().to_owned();
        assert!(
            name.starts_with("build-") && name.len() == "build-".len() + 5,
            "{name}"
        );
        assert_eq!(r.resolve_generate_name(), name);
    }
}
