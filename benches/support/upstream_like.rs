//! The obvious alternative, for comparison in the same run: the event path as upstream Tekton
//! Triggers shapes it, built from this crate's own pieces so that only the design differs.
//!
//! Per trigger and per interceptor, upstream's sink marshals an `InterceptorRequest` whose
//! `body` is the payload as a JSON *string* (`pkg/sink/sink.go` `ExecuteInterceptors`), the
//! interceptor unmarshals it, the cel interceptor unmarshals the body again and parses, checks
//! and plans its expressions (`pkg/interceptors/cel/cel.go`), the answer is marshalled and
//! unmarshalled back; the github interceptor computes the HMAC for every trigger. Bindings then
//! parse the body once more and parse their JSONPath expressions (`pkg/template/event.go`), and
//! the template is prepared again per trigger (`pkg/template/resource.go`).
//!
//! Left out, which favours this model: the HTTP hop between the sink and the core-interceptors
//! service (upstream's interceptors are a separate Deployment), secret lookups through the
//! informer cache, and Go's reflection-based JSON.

use eventlistener::binding::{EventDocument, ParamTemplate};
use eventlistener::cel::{EventData, Program, Vars};
use eventlistener::event::parse_body;
use eventlistener::event::{Event, Extensions, Headers};
use eventlistener::interceptors::signature;
use eventlistener::resources::{CreateContext, Creator, Resource};
use eventlistener::template::CompiledTemplate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::{Delivery, SECRET, TriggerSpec};

/// Upstream's `InterceptorRequest` wire form (`interceptor_types.go`).
#[derive(Serialize, Deserialize)]
struct InterceptorRequest {
    body: String,
    header: BTreeMap<String, Vec<String>>,
    extensions: Extensions,
    interceptor_params: BTreeMap<String, Value>,
    context: TriggerContext,
}

#[derive(Serialize, Deserialize)]
struct TriggerContext {
    event_url: String,
    event_id: String,
    trigger_id: String,
}

/// Upstream's `InterceptorResponse` wire form.
#[derive(Serialize, Deserialize)]
struct InterceptorResponse {
    #[serde(default)]
    extensions: Extensions,
    #[serde(rename = "continue")]
    proceed: bool,
    #[serde(default)]
    message: String,
}

/// What one trigger did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Objects created.
    Created(usize),
    /// An interceptor stopped it.
    Stopped,
}

/// One event through every trigger, upstream's way, one trigger after the other.
pub(crate) async fn run_event(
    specs: &[TriggerSpec],
    creator: &dyn Creator,
    delivery: &Delivery,
) -> Vec<Outcome> {
    // The sink reads the body and checks it is JSON, as ours does.
    let event_id = eventlistener::event::new_event_id();
    let _checked = parse_body(&delivery.body).expect("a JSON object");
    let headers: Headers = delivery
        .headers
        .iter()
        .filter(|(k, _)| k != "Host")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let wire_headers: BTreeMap<String, Vec<String>> = headers
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_vec()))
        .collect();
    let body_text = String::from_utf8(delivery.body.clone()).expect("UTF-8 body");
    let mut outcomes = Vec::with_capacity(specs.len());
    for spec in specs {
        outcomes.push(run_trigger(spec, creator, &event_id, &body_text, &wire_headers).await);
    }
    outcomes
}

async fn run_trigger(
    spec: &TriggerSpec,
    creator: &dyn Creator,
    event_id: &str,
    body_text: &str,
    wire_headers: &BTreeMap<String, Vec<String>>,
) -> Outcome {
    let request = |params: BTreeMap<String, Value>, extensions: &Extensions| InterceptorRequest {
        body: body_text.to_owned(),
        header: wire_headers.clone(),
        extensions: extensions.clone(),
        interceptor_params: params,
        context: TriggerContext {
            event_url: "/".to_owned(),
            event_id: event_id.to_owned(),
            trigger_id: format!("namespaces/default/triggers/{}", spec.name),
        },
    };
    let mut extensions = Extensions::new();

    // github interceptor: request over the wire, HMAC of this trigger's copy of the body.
    let params = BTreeMap::from([
        (
            "secretRef".to_owned(),
            json!({"secretName": "github-webhook-secret", "secretKey": "secretToken"}),
        ),
        ("eventTypes".to_owned(), json!(spec.event_types)),
    ]);
    let received = wire_trip(&request(params, &extensions));
    let event_type = received
        .header
        .get("X-Github-Event")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default();
    let signature_header = received
        .header
        .get("X-Hub-Signature-256")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default();
    let allowed = spec.event_types.contains(&event_type)
        && signature::verify(
            SECRET.as_bytes(),
            received.body.as_bytes(),
            &signature_header,
        )
        .is_ok();
    let response = answer_trip(allowed, Extensions::new());
    if !response.proceed {
        return Outcome::Stopped;
    }
    extensions.extend(response.extensions);

    // cel interceptor: request over the wire, body parsed again, expression compiled.
    let params = BTreeMap::from([("filter".to_owned(), json!(spec.filter))]);
    let received = wire_trip(&request(params, &extensions));
    let payload: Value = serde_json::from_str(&received.body).expect("JSON body");
    let headers: Headers = received
        .header
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str())))
        .collect();
    let event = Event::new(
        received.context.event_id.clone(),
        received.context.event_url.clone(),
        headers,
        received.body.as_bytes(),
        payload,
    );
    let data = EventData::new(&event);
    let filter = received
        .interceptor_params
        .get("filter")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let program = Program::compile(filter).expect("filter compiles");
    let passed = program
        .evaluate_filter(&Vars {
            event: &data,
            extensions: &received.extensions,
            secrets: None,
        })
        .unwrap_or(false);
    let response = answer_trip(passed, Extensions::new());
    if !response.proceed {
        return Outcome::Stopped;
    }
    extensions.extend(response.extensions);

    // Bindings: the body parsed once more, every JSONPath parsed for this event.
    let body: Value = serde_json::from_str(body_text).expect("JSON body");
    // The conversion of every header, as upstream makes it per trigger.
    drop(std::hint::black_box(event.headers().to_binding_json()));
    let document = EventDocument {
        body: &body,
        header: event.headers(),
        extensions: &extensions,
        event_id,
    };
    let template =
        CompiledTemplate::compile(spec.template_params.clone(), &spec.resource_templates)
            .expect("template compiles");
    let values: Vec<(String, String)> = spec
        .bindings
        .iter()
        .map(|(name, value)| {
            let param = ParamTemplate::parse(value).expect("binding parses");
            let rendered = param
                .render(&document, template.default_of(name))
                .expect("binding resolves");
            (name.clone(), rendered)
        })
        .collect();

    // Template and creation, as ours.
    let uid = eventlistener::event::new_event_id();
    let objects = template.render(&values, &uid);
    let ctx = CreateContext {
        event_listener: "bench-el",
        event_id,
        trigger: &spec.name,
        namespace: "default",
        service_account: None,
        idempotency: None,
        index: 0,
    };
    let mut created = 0;
    for object in objects {
        let resource = Resource::prepare(object, &ctx).expect("valid object");
        creator.create(resource).await.expect("null creator");
        created += 1;
    }
    Outcome::Created(created)
}

/// Sink → interceptor: marshal, then unmarshal on the other side.
fn wire_trip(request: &InterceptorRequest) -> InterceptorRequest {
    let bytes = serde_json::to_vec(request).expect("serialisable");
    serde_json::from_slice(&bytes).expect("round trip")
}

/// Interceptor → sink: marshal the answer, unmarshal it.
fn answer_trip(proceed: bool, extensions: Extensions) -> InterceptorResponse {
    let response = InterceptorResponse {
        extensions,
        proceed,
        message: if proceed {
            String::new()
        } else {
            "interceptor stopped trigger processing".to_owned()
        },
    };
    let bytes = serde_json::to_vec(&response).expect("serialisable");
    serde_json::from_slice(&bytes).expect("round trip")
}
