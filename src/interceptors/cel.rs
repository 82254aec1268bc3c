//! The `cel` interceptor (reference §4.5, upstream `pkg/interceptors/cel/cel.go`): a `filter`
//! that must evaluate to `true`, and `overlays` whose results are written into `extensions`.
//!
//! Every expression is compiled once when the configuration loads (upstream parses and checks
//! each expression on every request); a compile error fails start-up with the expression.
//! Overlays are all evaluated against the same context (an overlay does not see an earlier
//! overlay's output, as upstream) and written at their `key`: `.` nests objects, `\.` is a
//! literal dot. Unlike upstream's sjson paths, numeric segments are object keys, not array
//! indexes.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    BoxFuture, BuildContext, BuildError, Decision, Error, Interceptor, InterceptorRequest,
    StopReason, param,
};
use crate::cel::{Program, Secrets, Vars};
use crate::event::Extensions;

const NAME: &str = "cel";

/// The cel interceptor, with its expressions compiled.
#[derive(Debug)]
pub struct Cel {
    secrets: Secrets,
    store: Arc<dyn crate::secrets::SecretStore>,
    namespace: String,
    /// `(name, key)` of every literal `compareSecret` call in the filter and overlays.
    secret_refs: Vec<(String, String)>,
    filter: Option<Program>,
    /// The message of an event the filter stops, written once (upstream's wording).
    filtered: String,
    overlays: Vec<(Vec<String>, Program)>,
}

#[derive(Deserialize)]
struct Overlay {
    key: String,
    expression: String,
}

impl Cel {
    /// Builds from params `filter` (string) and `overlays` (list of `{key, expression}`).
    ///
    /// # Errors
    /// [`BuildError::Param`] naming the param and the expression that does not compile.
    pub fn build(params: &BTreeMap<&str, &Value>, ctx: &BuildContext) -> Result<Self, BuildError> {
        let compile = |param_name: &str, expression: &str| {
            Program::compile(expression).map_err(|e| BuildError::Param {
                interceptor: NAME.into(),
                param: param_name.into(),
                message: e.to_string(),
            })
        };
        let filter = param::<String>(NAME, params, "filter")?
            .filter(|f| !f.trim().is_empty())
            .map(|f| compile("filter", &f))
            .transpose()?;
        let overlays: Vec<(Vec<String>, Program)> =
            param::<Vec<Overlay>>(NAME, params, "overlays")?
                .unwrap_or_default()
                .into_iter()
                .map(|o| Ok((split_key(&o.key), compile("overlays", &o.expression)?)))
                .collect::<Result<_, BuildError>>()?;
        let mut secret_refs: Vec<(String, String)> = Vec::new();
        let programs = filter.iter().chain(overlays.iter().map(|(_, p)| p));
        for r in programs.flat_map(Program::secret_refs) {
            if !secret_refs.contains(r) {
                secret_refs.push(r.clone());
            }
        }
        let filtered = filter.as_ref().map_or_else(String::new, |f| {
            format!("expression {} did not return true", f.source())
        });
        Ok(Self {
            filtered,
            secrets: Secrets::new(Arc::clone(&ctx.secrets), ctx.namespace.clone()),
            store: Arc::clone(&ctx.secrets),
            namespace: ctx.namespace.clone(),
            secret_refs,
            filter,
            overlays,
        })
    }

    fn decide(&self, request: &InterceptorRequest<'_>) -> Decision {
        // Only without payload validation can the body be other than a JSON object.
        if let Some(e) = request.event.cel_body_error() {
            return Decision::stop(
                StopReason::InvalidRequest,
                format!(
                    "error making the evaluation context: failed to parse the body as JSON: {e}"
                ),
            );
        }
        // The event is converted for CEL only when the interpreter runs: a filter of the
        // commonest shapes is answered from the body tree and the headers directly.
        let vars = || Vars {
            event: request.event.cel(),
            extensions: request.extensions,
            secrets: Some(&self.secrets),
        };
        if let Some(filter) = &self.filter {
            let direct = filter
                .evaluate_filter_direct(request.event.cel_body(), request.event.event().headers());
            match direct.map_or_else(|| filter.evaluate_filter(&vars()), Ok) {
                Ok(true) => {}
                Ok(false) => {
                    return Decision::stop(StopReason::Filtered, self.filtered.clone());
                }
                Err(e) => {
                    return Decision::stop(
                        StopReason::InvalidRequest,
                        format!("error evaluating cel expression: {e}"),
                    );
                }
            }
        }
        let mut extensions = Extensions::new();
        if self.overlays.is_empty() {
            return Decision::Continue { extensions };
        }
        let vars = vars();
        for (path, program) in &self.overlays {
            match program.evaluate_json(&vars) {
                Ok(value) => set_path(&mut extensions, path, value),
                Err(e) => {
                    return Decision::stop(
                        StopReason::InvalidRequest,
                        format!("error evaluating cel expression: {e}"),
                    );
                }
            }
        }
        Decision::Continue { extensions }
    }
}

impl Interceptor for Cel {
    fn name(&self) -> &str {
        NAME
    }

    fn cel_reads(&self) -> crate::cel::Reads {
        let mut reads = crate::cel::Reads::none();
        for program in self
            .filter
            .iter()
            .chain(self.overlays.iter().map(|(_, p)| p))
        {
            reads.merge(&program.reads());
        }
        reads
    }

    fn process<'a>(
        &'a self,
        request: InterceptorRequest<'a>,
    ) -> BoxFuture<'a, Result<Decision, Error>> {
        Box::pin(async move {
            // Evaluation is synchronous: fetch the Secrets `compareSecret` names first, so a
            // store that reads them over the network has them cached (a missing one is reported
            // by the evaluation itself).
            for (name, key) in &self.secret_refs {
                // Cannot be read now (API unreachable): a retry may work, so fail the trigger as
                // retryable instead of stopping it as if the event were invalid. Missing Secrets
                // and keys are reported by the evaluation, as upstream.
                let fetched =
                    crate::secrets::read(self.store.as_ref(), &self.namespace, name, key).await;
                if let Err(e @ crate::secrets::Error::Unavailable { .. }) = fetched {
                    return Err(e.into());
                }
            }
            Ok(self.decide(&request))
        })
    }
}

/// `a.b\.c` → `["a", "b.c"]`.
fn split_key(key: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(last)) = (chars.next(), parts.last_mut()) {
                    last.push(next);
                }
            }
            '.' => parts.push(String::new()),
            c => {
                if let Some(last) = parts.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    parts
}

/// Writes `value` at `path` inside `root`, creating (or replacing non-object) intermediate
/// objects.
fn set_path(root: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = root;
    for key in parents {
        let entry = node
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(map) = entry else {
            return;
        };
        node = map;
    }
    node.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {

    use serde_json::json;

    use super::*;
    use crate::event::{Event, Headers};
    use crate::interceptors::SharedEvent;

    fn build(params: Value) -> Result<Cel, BuildError> {
        let ctx = crate::interceptors::test_build::context_with_secret("gh", "token", "s3cret");
        crate::interceptors::test_build::with_params(params, |params| Cel::build(params, &ctx))
    }

    fn decide(cel: &Cel, event_type: &str, body: Value) -> Decision {
        let headers: Headers = [("X-GitHub-Event", event_type)].into_iter().collect();
        let raw = serde_json::to_vec(&body).unwrap();
        let shared = SharedEvent::new(Arc::new(Event::new("id", "/", headers, raw, body)));
        let ext = Extensions::new();
        cel.decide(&InterceptorRequest {
            event: &shared,
            extensions: &ext,
        })
    }

    /// Decides for a body received as it is, without payload validation.
    fn decide_unvalidated(cel: &Cel, content_type: &str, body: &str) -> Decision {
        let headers: Headers = [("Content-Type", content_type)].into_iter().collect();
        let event = Event::from_unvalidated_body(
            "id",
            "/",
            headers,
            bytes::Bytes::copy_from_slice(body.as_bytes()),
        );
        let shared = SharedEvent::new(Arc::new(event));
        let ext = Extensions::new();
        cel.decide(&InterceptorRequest {
            event: &shared,
            extensions: &ext,
        })
    }

    #[test]
    fn a_body_that_is_not_a_json_object_stops_before_any_expression() {
        let cel = build(json!({"filter": "true"})).unwrap();
        for body in ["text=hi", "[1, 2]", "\"x\"", "{\"a\":"] {
            let d = decide_unvalidated(&cel, "text/plain", body);
            let Decision::Stop { reason, message } = &d else {
                panic!("{body}: {d:?}")
            };
            assert_eq!(*reason, StopReason::InvalidRequest, "{body}");
            assert!(
                message.starts_with(
                    "error making the evaluation context: failed to parse the body as JSON: "
                ),
                "{body}: {message}"
            );
        }
        assert_eq!(
            decide_unvalidated(&cel, "application/json", ""),
            Decision::proceed(),
            "an empty body is {{}}"
        );
        assert_eq!(
            decide_unvalidated(&cel, "application/json", "{\"a\": 1}"),
            Decision::proceed()
        );
    }

    #[test]
    fn a_form_body_is_read_as_its_converted_json() {
        let cel = build(json!({
            "filter": "body.command[0] == '/deploy'",
            "overlays": [{"key": "target", "expression": "body.text[0]"}]
        }))
        .unwrap();
        let form = crate::event::form::FORM_CONTENT_TYPE;
        let d = decide_unvalidated(&cel, form, "command=%2Fdeploy&text=api");
        let Decision::Continue { extensions } = d else {
            panic!("{d:?}")
        };
        assert_eq!(extensions["target"], "api");
        // One key is not converted: the raw text is not JSON.
        let d = decide_unvalidated(&cel, form, "command=%2Fdeploy");
        assert!(
            matches!(
                &d,
                Decision::Stop {
                    reason: StopReason::InvalidRequest,
                    ..
                }
            ),
            "{d:?}"
        );
    }

    const FILTER: &str = "header.match('x-github-event', 'pull_request') && body.action in ['opened', 'synchronize']";

    #[test]
    fn filter_true_continues_and_false_is_filtered() {
        let cel = build(json!({"filter": FILTER})).unwrap();
        assert_eq!(
            decide(&cel, "pull_request", json!({"action": "opened"})),
            Decision::proceed()
        );
        assert_eq!(
            decide(&cel, "pull_request", json!({"action": "closed"})),
            Decision::stop(
                StopReason::Filtered,
                format!("expression {FILTER} did not return true")
            )
        );
        assert!(matches!(
            decide(&cel, "push", json!({"action": "opened"})),
            Decision::Stop {
                reason: StopReason::Filtered,
                ..
            }
        ));
    }

    #[test]
    fn evaluation_error_stops_with_the_reason() {
        let cel = build(json!({"filter": "body.pull_request.merged == true"})).unwrap();
        let d = decide(&cel, "push", json!({"ref": "refs/heads/main"}));
        let Decision::Stop { reason, message } = d else {
            panic!("{d:?}")
        };
        assert_eq!(reason, StopReason::InvalidRequest);
        assert!(
            message.starts_with("error evaluating cel expression"),
            "{message}"
        );
    }

    #[test]
    fn overlays_write_nested_keys_from_the_same_context() {
        let cel = build(json!({"overlays": [
            {"key": "short_sha", "expression": "body.sha.truncate(7)"},
            {"key": "a.b", "expression": "body.n"},
            {"key": "dotted\\.key", "expression": "'x'"}
        ]}))
        .unwrap();
        let d = decide(
            &cel,
            "push",
            json!({"sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "n": 2}),
        );
        let Decision::Continue { extensions } = d else {
            panic!("{d:?}")
        };
        assert_eq!(extensions["short_sha"], "ec26c3e");
        assert_eq!(extensions["a"]["b"], json!(2.0));
        assert_eq!(extensions["dotted.key"], "x");
    }

    #[test]
    fn compare_secret_reads_the_triggers_secrets() {
        let cel = build(json!({"filter": "body.token.compareSecret('token', 'gh')"})).unwrap();
        assert_eq!(
            decide(&cel, "push", json!({"token": "s3cret"})),
            Decision::proceed()
        );
        assert!(matches!(
            decide(&cel, "push", json!({"token": "guess"})),
            Decision::Stop {
                reason: StopReason::Filtered,
                ..
            }
        ));
    }

    #[test]
    fn bad_expression_fails_at_build_naming_it() {
        let err = build(json!({"filter": "body.action =="})).unwrap_err();
        assert!(err.to_string().contains("filter"), "{err}");
        let err = build(json!({"overlays": [{"key": "k", "expression": "nope(1)"}]})).unwrap_err();
        assert!(err.to_string().contains("overlays"), "{err}");
    }
}
