//! The legacy v1alpha1 `webhook:` interceptor (reference §3.5, upstream
//! `pkg/interceptors/webhook/webhook.go` and the webhook branch of `pkg/sink/sink.go`
//! ExecuteInterceptors): the request itself (the chain's body, with the extensions so far
//! merged in, and its headers) is POSTed to a URL or a Service; a 200 answer's body and headers
//! replace the chain's ([`Decision::Replace`]), so later interceptors and the bindings read
//! them. Calls have upstream's fixed [`LEGACY_TIMEOUT`].

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::webhook::{call, chain_body, check_url, quoted};
use super::{BoxFuture, BuildError, Decision, Error, Interceptor, InterceptorRequest, SharedEvent};
use crate::api::{WebhookHeader, WebhookHeaderValue, WebhookInterceptor};
use crate::event::{Extensions, Headers, canonical_header_name};
use crate::http_client::HttpClient;

/// Deadline of one legacy `webhook:` call: upstream's fixed 5 s (`webhook.go`
/// interceptorTimeout).
pub const LEGACY_TIMEOUT: Duration = Duration::from_secs(5);

/// The header carrying the received request's URL to a legacy webhook (upstream
/// `webhookURLHeader`).
const REQUEST_URL_HEADER: &str = "Eventlistener-Request-Url";

/// The URL of a legacy webhook (upstream `getURI`): `url`, else a `Service` `objectRef` as
/// `http://NAME.NAMESPACE.svc/` (its namespace, else `namespace`: the Trigger's).
///
/// # Errors
/// Upstream's `invalid objRef` when neither is usable.
pub fn legacy_url(webhook: &WebhookInterceptor, namespace: &str) -> Result<String, String> {
    if let Some(url) = webhook.url.as_deref().filter(|u| !u.is_empty()) {
        return Ok(url.to_owned());
    }
    match &webhook.object_ref {
        Some(r) if r.kind == "Service" && r.api_version == "v1" => {
            let ns = if r.namespace.is_empty() {
                namespace
            } else {
                &r.namespace
            };
            Ok(format!("http://{}.{ns}.svc/", r.name))
        }
        _ => Err("invalid objRef".to_owned()),
    }
}

/// The legacy `webhook:` interceptor (reference §3.5).
#[derive(Debug)]
pub struct LegacyWebhook {
    url: String,
    headers: Vec<WebhookHeader>,
    client: HttpClient,
    /// First in its chain: with no extensions yet, it sends the body as received even when it is
    /// form-encoded (upstream skips the form conversion then, reference §3.4).
    first: bool,
}

impl LegacyWebhook {
    /// The webhook of a trigger in `namespace` (where an `objectRef` without a namespace
    /// points); `first` when it is the first interceptor of its chain.
    ///
    /// # Errors
    /// [`BuildError::Client`] for an unusable `url`/`objectRef` (upstream: `invalid objRef`).
    pub fn build(
        webhook: &WebhookInterceptor,
        namespace: &str,
        first: bool,
    ) -> Result<Self, BuildError> {
        let fail = |message: String| BuildError::Client {
            interceptor: "webhook".to_owned(),
            message,
        };
        let url = legacy_url(webhook, namespace).map_err(fail)?;
        check_url(&url).map_err(fail)?;
        let client = HttpClient::system().map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            url,
            headers: webhook.header.clone(),
            client,
            first,
        })
    }

    /// The headers sent: the chain's, [`REQUEST_URL_HEADER`], then the configured ones (a
    /// string sets, a list replaces). The framing headers of the received request
    /// (`Content-Length`, `Host`, `Transfer-Encoding`, …) are the client's to write, as Go's
    /// client does.
    fn headers(&self, event: &SharedEvent) -> Vec<(String, String)> {
        const FRAMING: [&str; 5] = [
            "Content-Length",
            "Host",
            "Transfer-Encoding",
            "Trailer",
            "Connection",
        ];
        let mut headers: Vec<(String, Vec<String>)> = event
            .event()
            .headers()
            .iter()
            .filter(|(name, _)| !FRAMING.contains(name))
            .map(|(name, values)| (name.to_owned(), values.to_vec()))
            .collect();
        let mut set = |name: &str, values: Vec<String>| {
            let name = canonical_header_name(name);
            match headers.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = values,
                None => headers.push((name, values)),
            }
        };
        set(
            REQUEST_URL_HEADER,
            vec![event.event().request_url().to_owned()],
        );
        for header in &self.headers {
            match &header.value {
                WebhookHeaderValue::String(v) => set(&header.name, vec![v.clone()]),
                WebhookHeaderValue::Array(values) => set(&header.name, values.clone()),
            }
        }
        headers
            .into_iter()
            .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), v)))
            .collect()
    }
}

impl Interceptor for LegacyWebhook {
    fn name(&self) -> &str {
        "webhook"
    }

    fn process<'a>(
        &'a self,
        request: InterceptorRequest<'a>,
    ) -> BoxFuture<'a, Result<Decision, Error>> {
        Box::pin(async move {
            let convert = !(self.first && request.extensions.is_empty());
            let body = chain_body(request.event, convert);
            let body = with_extensions(body.as_bytes(), request.extensions)
                .map_err(Error::MergeExtensions)?;
            let headers = self.headers(request.event);
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let answer = call(&self.client, &self.url, &headers, body, LEGACY_TIMEOUT).await?;
            if answer.status != hyper::StatusCode::OK {
                return Err(Error::Rejected {
                    status: format!(
                        "{} {}",
                        answer.status.as_u16(),
                        answer.status.canonical_reason().unwrap_or_default()
                    ),
                    message: quoted(&answer.body),
                });
            }
            let mut headers = Headers::new();
            for (name, value) in &answer.headers {
                headers.append(name.as_str(), String::from_utf8_lossy(value.as_bytes()));
            }
            Ok(Decision::Replace {
                body: answer.body,
                headers,
            })
        })
    }
}

/// The body with every extension written at `extensions.<key>` (upstream's sjson merge; here
/// the body is written again as compact JSON). Unchanged without extensions.
fn with_extensions(body: &[u8], extensions: &Extensions) -> Result<Bytes, String> {
    if extensions.is_empty() {
        return Ok(Bytes::copy_from_slice(body));
    }
    let mut value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?
    };
    let Value::Object(map) = &mut value else {
        return Err("the body is not a JSON object".to_owned());
    };
    let slot = map
        .entry("extensions")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    let Value::Object(slot) = slot else {
        return Err("the body's extensions field is not an object".to_owned());
    };
    for (k, v) in extensions {
        slot.insert(k.clone(), v.clone());
    }
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::ObjectReference;

    #[test]
    fn legacy_urls_use_the_url_or_a_service_object_ref() {
        let mut webhook = WebhookInterceptor {
            object_ref: Some(ObjectReference {
                kind: "Service".into(),
                api_version: "v1".into(),
                name: "svc".into(),
                namespace: String::new(),
            }),
            ..Default::default()
        };
        assert_eq!(
            legacy_url(&webhook, "ci").as_deref(),
            Ok("http://svc.ci.svc/")
        );
        if let Some(r) = webhook.object_ref.as_mut() {
            r.namespace = "other".into();
        }
        assert_eq!(
            legacy_url(&webhook, "ci").as_deref(),
            Ok("http://svc.other.svc/")
        );
        webhook.url = Some("http://direct/".into());
        assert_eq!(legacy_url(&webhook, "ci").as_deref(), Ok("http://direct/"));
        let deployment = WebhookInterceptor {
            object_ref: Some(ObjectReference {
                kind: "Deployment".into(),
                api_version: "apps/v1".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            legacy_url(&deployment, "ci"),
            Err("invalid objRef".to_owned())
        );
    }

    #[test]
    fn extensions_merge_into_the_legacy_body() {
        let mut extensions = Extensions::new();
        extensions.insert("x".into(), json!("y"));
        let merged = with_extensions(br#"{"a":1,"extensions":{"old":2}}"#, &extensions).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&merged).unwrap(),
            json!({"a": 1, "extensions": {"old": 2, "x": "y"}})
        );
        assert_eq!(
            with_extensions(b"raw", &Extensions::new()).unwrap(),
            Bytes::from_static(b"raw")
        );
        assert!(with_extensions(b"[1]", &extensions).is_err());
    }
}
