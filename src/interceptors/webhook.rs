//! Interceptors reached over HTTP(S) (reference §1.8, §3.1–§3.3; upstream
//! `pkg/interceptors/interceptors.go` Execute, `pkg/sink/sink.go` ExecuteInterceptors):
//!
//! - [`Webhook`]: a ClusterInterceptor or Interceptor object. Its URL is resolved at load
//!   ([`interceptor_url`]); each event is POSTed as upstream's `InterceptorRequest` JSON
//!   ([`request_json`]) and the `InterceptorResponse` decides: `continue: true` adds its
//!   extensions, `continue: false` stops the trigger with its status. It cannot change the body
//!   or headers.
//! - the v1alpha1 `webhook:` form lives in [`super::legacy_webhook`] and shares the helpers
//!   here (the body sent, URL checks, quoting).
//!
//! Beyond upstream, every call has an overall deadline (upstream has none for [`Webhook`]; a
//! reply that trickles holds the event for ever): [`DEFAULT_TIMEOUT`], `serve
//! --interceptor-timeout`. The legacy form keeps upstream's fixed 5 s.
//!
//! TLS: an interceptor with a `caBundle` is trusted through those certificates only (as
//! upstream, whose pool holds only caBundles); one without trusts the system's roots (upstream
//! would refuse any HTTPS peer then).

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::{
    BoxFuture, BuildError, Decision, Error, Interceptor, InterceptorRequest, SharedEvent,
    StopReason,
};
use crate::api::InterceptorParam;
use crate::event::Extensions;
use crate::gojson::{write_json, write_object, write_string};
use crate::http_client::HttpClient;

/// Default deadline of one call to a ClusterInterceptor or Interceptor, connection and whole
/// answer included (upstream has none; its core interceptors answer within their own 3 s
/// budget, reference §2.8). `serve --interceptor-timeout` changes it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many bytes of an answer's body are quoted in an error: the answer comes from
/// another service and may be large.
const QUOTED_BODY_LIMIT: usize = 1024;

/// Port of a `clientConfig.service` without one: plain HTTP (upstream `defaultHTTPPort`).
const DEFAULT_HTTP_PORT: u16 = 80;
/// Port of a `clientConfig.service` with a `caBundle`: HTTPS (upstream `defaultHTTPSPort`).
const DEFAULT_HTTPS_PORT: u16 = 8443;

/// The URL of a ClusterInterceptor or Interceptor, in upstream's order (reference §1.8):
/// `status.address.url`, then `spec.clientConfig.url`, then `spec.clientConfig.service` as
/// `http://NAME.NAMESPACE.svc:80/PATH` (`https` and port 8443 when there is a `caBundle`; an
/// explicit port wins), else `None` (upstream's `interceptor URL was nil`).
pub fn interceptor_url(object: &crate::api::Interceptor) -> Option<String> {
    let status = object
        .status
        .address
        .as_ref()
        .and_then(|a| a.url.as_deref());
    let config = &object.spec.client_config;
    if let Some(url) = status.or(config.url.as_deref()).filter(|u| !u.is_empty()) {
        return Some(url.to_owned());
    }
    let service = config.service.as_ref()?;
    let (scheme, default_port) = if config.ca_bundle.is_empty() {
        ("http", DEFAULT_HTTP_PORT)
    } else {
        ("https", DEFAULT_HTTPS_PORT)
    };
    let port = service.port.unwrap_or(default_port);
    // Go's url.URL renders a path without a leading slash with one, after a host.
    let slash = if service.path.is_empty() || service.path.starts_with('/') {
        ""
    } else {
        "/"
    };
    Some(format!(
        "{scheme}://{}.{}.svc:{port}{slash}{}",
        service.name, service.namespace, service.path
    ))
}

/// The Service of upstream's own core interceptors (`config/interceptors/core-interceptors.yaml`:
/// the ClusterInterceptors `cel`, `github`, `gitlab`, `bitbucket`, `slack` all point at it).
pub const CORE_INTERCEPTORS_SERVICE: &str = "tekton-triggers-core-interceptors";

/// True when `object` is one of upstream's shipped core ClusterInterceptors (its
/// `clientConfig.service` is [`CORE_INTERCEPTORS_SERVICE`]): a cluster with Tekton Triggers
/// installed has them, and this listener runs those interceptors in-process instead of calling
/// upstream's server.
pub fn is_core_interceptor(object: &crate::api::Interceptor) -> bool {
    object
        .spec
        .client_config
        .service
        .as_ref()
        .is_some_and(|s| s.name == CORE_INTERCEPTORS_SERVICE)
}

/// `url` with the password of its user info replaced by `xxxxx`, as Go's `URL.Redacted` writes
/// it in errors: a URL given as `https://user:token@host/` must not reach logs.
pub fn redacted(url: &str) -> Cow<'_, str> {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return Cow::Borrowed(url);
    };
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let Some(at) = url[start..end].rfind('@').map(|i| start + i) else {
        return Cow::Borrowed(url);
    };
    match url[start..at].find(':').map(|i| start + i) {
        Some(colon) => Cow::Owned(format!("{}:xxxxx{}", &url[..colon], &url[at..])),
        None => Cow::Borrowed(url),
    }
}

/// Checks that `url` is an absolute `http` or `https` URL.
pub(super) fn check_url(url: &str) -> Result<(), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("url {url:?} is not a URL: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(()),
        _ => Err(format!("url {url:?} is not an absolute http or https URL")),
    }
}

/// A ClusterInterceptor or Interceptor object, called over HTTP(S) for each event.
#[derive(Debug)]
pub struct Webhook {
    name: String,
    url: String,
    client: HttpClient,
    /// `interceptor_params` as Go writes the map; `None` when there are none (omitted).
    params: Option<String>,
    trigger_id: String,
    timeout: Duration,
}

impl Webhook {
    /// The interceptor `name` (as the trigger references it) at the address of `object`, with
    /// `params` (last duplicate name wins), for the trigger `trigger_id`
    /// (`namespaces/NS/triggers/NAME` or `namespaces/NS/triggerGroups/NAME`), each call bounded
    /// by `timeout`.
    ///
    /// # Errors
    /// [`BuildError::Client`] when the object has no address (`interceptor URL was nil`), the
    /// address is not an http(s) URL, or its `caBundle` holds no usable certificate.
    pub fn build(
        name: &str,
        object: &crate::api::Interceptor,
        params: &[InterceptorParam],
        trigger_id: String,
        timeout: Duration,
    ) -> Result<Self, BuildError> {
        let fail = |message: String| BuildError::Client {
            interceptor: name.to_owned(),
            message,
        };
        let url = interceptor_url(object).ok_or_else(|| fail("interceptor URL was nil".into()))?;
        check_url(&url).map_err(fail)?;
        let ca_bundle = &object.spec.client_config.ca_bundle;
        let client = if ca_bundle.is_empty() {
            HttpClient::system()
        } else {
            HttpClient::with_roots(ca_bundle)
        }
        .map_err(|e| fail(format!("caBundle: {e}")))?;
        let params: serde_json::Map<String, Value> = params
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect();
        let params = (!params.is_empty()).then(|| {
            let mut out = String::new();
            write_json(&Value::Object(params), &mut out);
            out
        });
        Ok(Self {
            name: name.to_owned(),
            url,
            client,
            params,
            trigger_id,
            timeout,
        })
    }

    /// The resolved URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Interceptor for Webhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn process<'a>(
        &'a self,
        request: InterceptorRequest<'a>,
    ) -> BoxFuture<'a, Result<Decision, Error>> {
        Box::pin(async move {
            let body = request_json(
                request.event,
                request.extensions,
                self.params.as_deref(),
                &self.trigger_id,
            );
            let answer = call(
                &self.client,
                &self.url,
                &[("Content-Type", "application/json")],
                Bytes::from(body),
                self.timeout,
            )
            .await?;
            if answer.status != hyper::StatusCode::OK {
                return Err(Error::NotOk(quoted(&answer.body)));
            }
            decide(&answer.body)
        })
    }
}

/// The `InterceptorRequest` JSON upstream sends (reference §3.1), field for field as Go's
/// `json.Marshal` writes it: `body` (the chain's body as a string, the form JSON when the
/// request was form-encoded, omitted when empty), `header` (every value of every header),
/// `extensions` and `interceptor_params` (omitted when empty), and `context` (`event_url`:
/// the request target as received, `event_id`, `trigger_id`).
pub fn request_json(
    event: &SharedEvent,
    extensions: &Extensions,
    params: Option<&str>,
    trigger_id: &str,
) -> String {
    let body = chain_body(event, true);
    let received = event.event();
    let mut out = String::with_capacity(body.len() + 256);
    out.push('{');
    if !body.is_empty() {
        out.push_str("\"body\":");
        write_string(&body, &mut out);
        out.push(',');
    }
    if !received.headers().is_empty() {
        out.push_str("\"header\":");
        out.push_str(&received.headers().to_go_json());
        out.push(',');
    }
    if !extensions.is_empty() {
        out.push_str("\"extensions\":");
        write_object(extensions, &mut out);
        out.push(',');
    }
    if let Some(params) = params {
        out.push_str("\"interceptor_params\":");
        out.push_str(params);
        out.push(',');
    }
    out.push_str("\"context\":{\"event_url\":");
    write_string(received.request_url(), &mut out);
    out.push_str(",\"event_id\":");
    write_string(received.event_id(), &mut out);
    out.push_str(",\"trigger_id\":");
    write_string(trigger_id, &mut out);
    out.push_str("}}");
    out
}

/// POSTs `body` to the interceptor at `url` (webhook and legacy webhook alike); a request that
/// fails or times out is [`Error::Call`], naming the URL without its credentials.
pub(super) async fn call(
    client: &HttpClient,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    timeout: Duration,
) -> Result<crate::http_client::Answer, Error> {
    client
        .post(url, headers, body, timeout)
        .await
        .map_err(|e| Error::Call {
            url: redacted(url).into_owned(),
            message: e.to_string(),
        })
}

/// The chain's body as text: the form JSON ([`SharedEvent::form_body`], as Go writes it) when
/// `convert` and the request is form-encoded, else the body as received (bytes that are not
/// UTF-8 become U+FFFD, as Go's JSON encoder writes them).
pub(super) fn chain_body(event: &SharedEvent, convert: bool) -> Cow<'_, str> {
    match event.form_body().filter(|_| convert) {
        Some(form) => {
            let mut out = String::new();
            write_json(form, &mut out);
            Cow::Owned(out)
        }
        None => String::from_utf8_lossy(event.event().raw_body()),
    }
}

/// `InterceptorResponse` as upstream reads it; unknown fields are ignored, as Go does.
#[derive(Debug, Deserialize)]
struct WireResponse {
    #[serde(default)]
    extensions: Option<Extensions>,
    #[serde(default, rename = "continue")]
    proceed: Option<bool>,
    #[serde(default)]
    status: Option<WireStatus>,
}

/// `InterceptorResponse.status`.
#[derive(Debug, Default, Deserialize)]
struct WireStatus {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<String>,
}

/// The gRPC code names, by number (`google.golang.org/grpc/codes`).
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// A gRPC status code as grpc-go's `Code.UnmarshalJSON` reads it: a number below 17, or one of
/// the upper-case names as a string (`"FAILED_PRECONDITION"`); `null` is `OK`.
///
/// # Errors
/// grpc-go's `invalid code: …` for anything else.
pub fn parse_code(value: &Value) -> Result<u32, String> {
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .filter(|c| (*c as usize) < CODE_NAMES.len())
            .ok_or_else(|| format!("invalid code: {n}")),
        Value::String(name) => CODE_NAMES
            .iter()
            .position(|c| c == name)
            .and_then(|c| u32::try_from(c).ok())
            .ok_or_else(|| format!("invalid code: {name:?}")),
        other => Err(format!("invalid code: {other}")),
    }
}

/// How a `continue: false` answer stops the trigger: `UNAUTHENTICATED` (16) and
/// `PERMISSION_DENIED` (7) as [`StopReason::Unauthenticated`] (the sender is told 403 when no
/// trigger created anything, as for the built-in signature checks), `INVALID_ARGUMENT` (3) as
/// [`StopReason::InvalidRequest`], every other code as [`StopReason::Filtered`] (upstream's
/// interceptors use `FAILED_PRECONDITION` for "not this event").
pub fn stop_reason(code: u32) -> StopReason {
    match code {
        7 | 16 => StopReason::Unauthenticated,
        3 => StopReason::InvalidRequest,
        _ => StopReason::Filtered,
    }
}

/// Decides from a 200 answer's body (reference §3.1): `continue` missing is false.
fn decide(body: &[u8]) -> Result<Decision, Error> {
    let response: WireResponse =
        serde_json::from_slice(body).map_err(|e| Error::InvalidResponse(e.to_string()))?;
    let status = response.status.unwrap_or_default();
    let code =
        parse_code(status.code.as_ref().unwrap_or(&Value::Null)).map_err(Error::InvalidResponse)?;
    if response.proceed != Some(true) {
        let message = match status.message.filter(|m| !m.is_empty()) {
            Some(message) => message,
            None => format!(
                "interceptor stopped the trigger ({})",
                CODE_NAMES.get(code as usize).copied().unwrap_or("UNKNOWN")
            ),
        };
        return Ok(Decision::stop(stop_reason(code), message));
    }
    Ok(Decision::Continue {
        extensions: response.extensions.unwrap_or_default(),
    })
}

/// At most [`QUOTED_BODY_LIMIT`] bytes of `body`, as text.
pub(super) fn quoted(body: &[u8]) -> String {
    let cut = body.len().min(QUOTED_BODY_LIMIT);
    let mut text = String::from_utf8_lossy(&body[..cut]).into_owned();
    if body.len() > cut {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::event::{Event, Headers};

    fn object(spec: Value) -> crate::api::Interceptor {
        serde_json::from_value(json!({"metadata": {"name": "i"}, "spec": spec})).unwrap()
    }

    #[test]
    fn urls_resolve_in_upstreams_order() {
        let service = json!({"name": "svc", "namespace": "ns", "path": "check"});
        assert_eq!(
            interceptor_url(&object(json!({"clientConfig": {"service": service}}))).as_deref(),
            Some("http://svc.ns.svc:80/check"),
            "no caBundle: http on 80; a path gets its slash"
        );
        let with_ca = object(json!({"clientConfig": {"service": service, "caBundle": "eA=="}}));
        assert_eq!(
            interceptor_url(&with_ca).as_deref(),
            Some("https://svc.ns.svc:8443/check")
        );
        let port = object(json!({"clientConfig": {"service":
            {"name": "svc", "namespace": "ns", "path": "/p", "port": 9000}}}));
        assert_eq!(
            interceptor_url(&port).as_deref(),
            Some("http://svc.ns.svc:9000/p")
        );
        let url = object(json!({"clientConfig": {"url": "http://u/x", "service": service}}));
        assert_eq!(
            interceptor_url(&url).as_deref(),
            Some("http://u/x"),
            "url before service"
        );
        let mut status = url.clone();
        status.status.address = Some(crate::api::Address {
            url: Some("https://status/".into()),
        });
        assert_eq!(
            interceptor_url(&status).as_deref(),
            Some("https://status/"),
            "status first"
        );
        assert_eq!(interceptor_url(&object(json!({"clientConfig": {}}))), None);
    }

    #[test]
    fn passwords_in_urls_are_redacted_as_go_does() {
        assert_eq!(
            redacted("https://user:token@host:8443/p?q=a@b"),
            "https://user:xxxxx@host:8443/p?q=a@b"
        );
        assert_eq!(redacted("http://user@host/"), "http://user@host/");
        assert_eq!(redacted("http://host/a:b@c"), "http://host/a:b@c");
        assert_eq!(redacted("not a url"), "not a url");
    }

    #[test]
    fn upstreams_shipped_core_interceptors_are_recognised_by_their_service() {
        let core = object(json!({"clientConfig": {"service": {
            "name": "tekton-triggers-core-interceptors", "namespace": "tekton-pipelines",
            "path": "cel", "port": 8443}}}));
        assert!(is_core_interceptor(&core));
        assert!(!is_core_interceptor(&object(
            json!({"clientConfig": {"url": "http://mine/"}})
        )));
    }

    #[test]
    fn codes_are_read_as_numbers_and_upper_case_names() {
        assert_eq!(parse_code(&json!(9)), Ok(9));
        assert_eq!(parse_code(&json!("FAILED_PRECONDITION")), Ok(9));
        assert_eq!(parse_code(&json!("UNAUTHENTICATED")), Ok(16));
        assert_eq!(parse_code(&Value::Null), Ok(0));
        assert!(parse_code(&json!(17)).is_err());
        assert!(parse_code(&json!("failed_precondition")).is_err());
        assert!(parse_code(&json!("9")).is_err());
        assert!(parse_code(&json!(1.5)).is_err());
        assert_eq!(stop_reason(16), StopReason::Unauthenticated);
        assert_eq!(stop_reason(3), StopReason::InvalidRequest);
        assert_eq!(stop_reason(9), StopReason::Filtered);
    }

    #[test]
    fn answers_decide_as_upstream_reads_them() {
        let go_on = decide(br#"{"continue": true, "extensions": {"a": 1}}"#).unwrap();
        let mut added = Extensions::new();
        added.insert("a".into(), json!(1));
        assert_eq!(go_on, Decision::Continue { extensions: added });
        assert_eq!(
            decide(br#"{"extensions": {"a": 1}}"#).unwrap(),
            Decision::stop(StopReason::Filtered, "interceptor stopped the trigger (OK)"),
            "continue missing is false"
        );
        assert_eq!(
            decide(
                br#"{"continue": false, "status": {"code": "PERMISSION_DENIED", "message": "no"}}"#
            )
            .unwrap(),
            Decision::stop(StopReason::Unauthenticated, "no")
        );
        assert!(matches!(
            decide(b"not json"),
            Err(Error::InvalidResponse(_))
        ));
        assert!(matches!(
            decide(br#"{"continue": false, "status": {"code": 99}}"#),
            Err(Error::InvalidResponse(m)) if m == "invalid code: 99"
        ));
    }

    #[test]
    fn the_request_json_is_upstreams_field_for_field() {
        let headers: Headers = [("X-Github-Event", "push"), ("x-a", "1"), ("X-A", "2")]
            .into_iter()
            .collect();
        let raw = "{\"a\": \"<&>\"}";
        let event = SharedEvent::new(Arc::new(Event::new(
            "ev-1",
            "/hook?x=1",
            headers,
            raw,
            json!({"a": "<&>"}),
        )));
        let mut extensions = Extensions::new();
        extensions.insert("k".into(), json!({"z": 1, "b": [true]}));
        let text = request_json(
            &event,
            &extensions,
            Some("{\"p\":1}"),
            "namespaces/ci/triggers/t",
        );
        assert_eq!(
            text,
            "{\"body\":\"{\\\"a\\\": \\\"\\u003c\\u0026\\u003e\\\"}\",\
             \"header\":{\"X-A\":[\"1\",\"2\"],\"X-Github-Event\":[\"push\"]},\
             \"extensions\":{\"k\":{\"b\":[true],\"z\":1}},\
             \"interceptor_params\":{\"p\":1},\
             \"context\":{\"event_url\":\"/hook?x=1\",\"event_id\":\"ev-1\",\"trigger_id\":\"namespaces/ci/triggers/t\"}}"
        );
        let decoded: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(decoded["body"], raw, "the body string is the raw body");
        let empty = SharedEvent::new(Arc::new(Event::new(
            "e",
            "/",
            Headers::new(),
            "",
            Value::Null,
        )));
        assert_eq!(
            request_json(&empty, &Extensions::new(), None, "t"),
            "{\"context\":{\"event_url\":\"/\",\"event_id\":\"e\",\"trigger_id\":\"t\"}}",
            "empty parts are omitted"
        );
    }
}
