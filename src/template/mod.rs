//! TriggerTemplate rendering: `$(tt.params.NAME)` and `$(uid)` in the resource templates, compiled
//! once at config load and rendered per trigger invocation (reference §6, upstream
//! `pkg/template/resource.go`).
//!
//! # Substitution is structural, so payload values stay data
//! Upstream substitutes text into the raw JSON bytes, which is why it has to JSON-escape payload
//! strings and why object params, defaults holding `"` or literal binding values can break the
//! document. Here a resource template is parsed once into a tree; placeholders are found only
//! inside JSON strings (keys and values), and a param value is inserted as string *content*. The
//! rendered object is therefore always valid JSON and a value such as `"}, "kind": "Secret` stays
//! inside its string: no escaping step can be forgotten. Where upstream's output is valid, ours is
//! the same object.
//!
//! Differences from upstream, on purpose:
//! - object and array params are inserted as their JSON text, inside the string (upstream makes
//!   the document invalid unless `triggers.tekton.dev/old-escape-quotes` is set); that annotation
//!   is therefore not needed and is ignored;
//! - values are inserted in one pass, so a value holding `$(tt.params.y)` or `$(uid)` is never
//!   substituted again (upstream's result depends on map order, §6.2).
//!
//! Kept from upstream: a placeholder whose param has neither a binding value nor a default stays
//! literally `$(tt.params.x)` in the created object (§6.1; `validate` warns of it); every value has `$(` rewritten to `$$(` (§6.3), so a payload cannot smuggle
//! a Tekton variable reference into the created PipelineRun; `$(uid)` is one value per trigger
//! invocation, shared by all resource templates of that invocation (§6.4).

mod parse;
mod write;

use std::borrow::Cow;

use serde_json::Value;

pub use parse::PLACEHOLDER_PREFIX;

use crate::resources::Rendered;
use parse::{Node, Part, Text};

/// Errors compiling (config load) or rendering (per event) a template.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A resource template is not a JSON object with string `apiVersion` and `kind` (upstream
    /// webhook validation, §1.7).
    #[error("resourcetemplates[{index}]: {message}")]
    InvalidResource {
        /// Index in `spec.resourcetemplates`.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// A template has no resource templates (upstream webhook validation).
    #[error("spec.resourcetemplates is empty")]
    NoResources,
    /// A placeholder names a param that `spec.params` does not declare (upstream webhook
    /// validation, §1.7).
    #[error("resourcetemplates[{index}]: $(tt.params.{name}) is not declared in spec.params")]
    UndeclaredParam {
        /// Index in `spec.resourcetemplates`.
        index: usize,
        /// Param name.
        name: String,
    },
    /// Two params of `spec.params` share a name.
    #[error("spec.params: duplicate param name {name}")]
    DuplicateParam {
        /// Param name.
        name: String,
    },
}

/// A declared template param: name and optional default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDecl {
    /// Param name.
    pub name: String,
    /// Default value, used when no binding gives one.
    pub default: Option<String>,
}

/// A TriggerTemplate compiled at config load.
#[derive(Debug, Clone)]
pub struct CompiledTemplate {
    params: Vec<ParamDecl>,
    resources: Vec<write::Shape>,
}

impl CompiledTemplate {
    /// Compiles the declared params and resource templates.
    ///
    /// # Errors
    /// [`Error::NoResources`], [`Error::InvalidResource`], [`Error::UndeclaredParam`],
    /// [`Error::DuplicateParam`].
    pub fn compile(params: Vec<ParamDecl>, resource_templates: &[Value]) -> Result<Self, Error> {
        if resource_templates.is_empty() {
            return Err(Error::NoResources);
        }
        for (i, p) in params.iter().enumerate() {
            if params[..i].iter().any(|q| q.name == p.name) {
                return Err(Error::DuplicateParam {
                    name: p.name.clone(),
                });
            }
        }
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        let mut resources = Vec::with_capacity(resource_templates.len());
        for (index, resource) in resource_templates.iter().enumerate() {
            let Value::Object(map) = resource else {
                return Err(Error::InvalidResource {
                    index,
                    message: format!(
                        "expected an object, found {}",
                        crate::api::json_type_name(resource)
                    ),
                });
            };
            for key in ["apiVersion", "kind"] {
                if map
                    .get(key)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(Error::InvalidResource {
                        index,
                        message: format!("{key} is missing"),
                    });
                }
            }
            let shape = write::Shape::compile(map, &names)
                .map_err(|name| Error::UndeclaredParam { index, name })?;
            resources.push(shape);
        }
        Ok(Self { params, resources })
    }

    /// Compiles a TriggerTemplate `spec` as written (see [`CompiledTemplate::compile`]).
    ///
    /// # Errors
    /// As [`CompiledTemplate::compile`].
    pub fn from_spec(spec: &crate::api::TriggerTemplateSpec) -> Result<Self, Error> {
        let params = spec
            .params
            .iter()
            .map(|p| ParamDecl {
                name: p.name.clone(),
                default: p.default.clone(),
            })
            .collect();
        Self::compile(params, &spec.resourcetemplates)
    }

    /// The declared params.
    pub fn params(&self) -> &[ParamDecl] {
        &self.params
    }

    /// The default of param `name`, if declared with one (used by bindings, §5.5).
    pub fn default_of(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.default.as_deref())
    }

    /// Renders every resource template. `values` are the params resolved from the bindings
    /// (`name`, logical value); they win over defaults (§6.1); a param with neither stays
    /// literally `$(tt.params.NAME)`, as upstream leaves it. `uid` replaces `$(uid)`. Cannot
    /// fail: what could be wrong with a template was found by [`Self::compile`].
    ///
    /// Each object comes out as a [`Rendered`]: `apiVersion`, `kind` and `metadata` apart, for
    /// the labels and names still to be added, and everything else written straight to JSON
    /// text from the compiled template.
    pub fn render(&self, values: &[(String, String)], uid: &str) -> Vec<Rendered> {
        let resolved = self.resolve(values);
        let ctx = RenderContext {
            params: &self.params,
            values: &resolved,
            uid,
        };
        let mut scratch = String::new();
        self.resources
            .iter()
            .map(|shape| shape.render(&ctx, &mut scratch))
            .collect()
    }

    /// Each declared param's value, escaped: the last binding value given for it, else its
    /// default, else none (the placeholder stays).
    fn resolve<'v>(&'v self, values: &'v [(String, String)]) -> Vec<Option<Cow<'v, str>>> {
        self.params
            .iter()
            .map(|decl| {
                values
                    .iter()
                    .rev()
                    .find(|(name, _)| *name == decl.name)
                    .map(|(_, v)| v.as_str())
                    .or(decl.default.as_deref())
                    .map(escape_value)
            })
            .collect()
    }
}

/// Tekton-variable escape (§6.3): `$(` → `$$(`, so the created object holds no variable
/// reference that came from a value. A value without one (nearly all) is not copied.
fn escape_value(value: &str) -> Cow<'_, str> {
    if value.contains("$(") {
        Cow::Owned(value.replace("$(", "$$("))
    } else {
        Cow::Borrowed(value)
    }
}

struct RenderContext<'a> {
    params: &'a [ParamDecl],
    values: &'a [Option<Cow<'a, str>>],
    uid: &'a str,
}

impl RenderContext<'_> {
    fn node(&self, node: &Node) -> Value {
        match node {
            Node::Json(v) => v.clone(),
            Node::Text(t) => Value::String(self.text(t)),
            Node::Array(items) => Value::Array(items.iter().map(|n| self.node(n)).collect()),
            Node::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (self.text(k), self.node(v)))
                    .collect(),
            ),
        }
    }

    fn text(&self, text: &Text) -> String {
        let mut out = String::new();
        self.text_into(text, &mut out);
        out
    }

    /// Appends the rendered `text` to `out`.
    fn text_into(&self, text: &Text, out: &mut String) {
        for part in &text.0 {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Uid => out.push_str(self.uid),
                Part::Param(i) => match self.values.get(*i).and_then(Option::as_deref) {
                    Some(v) => out.push_str(v),
                    // Upstream leaves the placeholder as it was written (§6.1).
                    None => {
                        out.push_str(PLACEHOLDER_PREFIX);
                        out.push_str(self.params.get(*i).map_or("", |p| p.name.as_str()));
                        out.push(')');
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn decl(name: &str, default: Option<&str>) -> ParamDecl {
        ParamDecl {
            name: name.into(),
            default: default.map(Into::into),
        }
    }

    /// Renders and parses each object back from the JSON text it would be sent as.
    fn render(t: &CompiledTemplate, values: &[(String, String)], uid: &str) -> Vec<Value> {
        t.render(values, uid)
            .iter()
            .map(|r| serde_json::from_slice(&r.to_json_vec()).unwrap())
            .collect()
    }

    fn pipeline_run() -> Value {
        json!({
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {"generateName": "build-", "labels": {"run": "$(uid)"}},
            "spec": {"params": [
                {"name": "revision", "value": "$(tt.params.revision)"},
                {"name": "title", "value": "PR: $(tt.params.title)"}
            ]}
        })
    }

    #[test]
    fn binding_values_win_over_defaults_and_uid_is_substituted() {
        let t = CompiledTemplate::compile(
            vec![decl("revision", Some("main")), decl("title", None)],
            &[pipeline_run()],
        )
        .unwrap();
        let out = render(&t, &[("title".into(), "Fix".into())], "uid-1");
        assert_eq!(out[0]["spec"]["params"][0]["value"], "main");
        assert_eq!(out[0]["spec"]["params"][1]["value"], "PR: Fix");
        assert_eq!(out[0]["metadata"]["labels"]["run"], "uid-1");
        let out = render(
            &t,
            &[
                ("title".into(), "x".into()),
                ("revision".into(), "abc".into()),
            ],
            "u",
        );
        assert_eq!(out[0]["spec"]["params"][0]["value"], "abc");
    }

    #[test]
    fn hostile_values_stay_data_inside_their_string() {
        let t = CompiledTemplate::compile(
            vec![decl("revision", None), decl("title", None)],
            &[pipeline_run()],
        )
        .unwrap();
        let hostile = "a \"quote\", a \\ backslash,\nnewline\"}, \"kind\": \"Secret";
        let out = render(
            &t,
            &[
                ("title".into(), hostile.into()),
                ("revision".into(), "r".into()),
            ],
            "u",
        );
        assert_eq!(out[0]["kind"], "PipelineRun");
        assert_eq!(
            out[0]["spec"]["params"][1]["value"],
            format!("PR: {hostile}")
        );
    }

    #[test]
    fn variable_references_in_values_are_escaped_and_never_resubstituted() {
        let t = CompiledTemplate::compile(
            vec![decl("revision", None), decl("title", None)],
            &[pipeline_run()],
        )
        .unwrap();
        let out = render(
            &t,
            &[
                (
                    "title".into(),
                    "$(tt.params.revision) $(uid) $(params.x)".into(),
                ),
                ("revision".into(), "r".into()),
            ],
            "u",
        );
        assert_eq!(
            out[0]["spec"]["params"][1]["value"],
            "PR: $$(tt.params.revision) $$(uid) $$(params.x)"
        );
    }

    #[test]
    fn param_without_value_or_default_stays_literal_as_upstream_leaves_it() {
        let t = CompiledTemplate::compile(
            vec![decl("revision", None), decl("title", Some("t"))],
            &[pipeline_run()],
        )
        .unwrap();
        let out = render(&t, &[], "u");
        assert_eq!(
            out[0]["spec"]["params"][0]["value"],
            "$(tt.params.revision)"
        );
        assert_eq!(out[0]["spec"]["params"][1]["value"], "PR: t");
    }

    #[test]
    fn undeclared_placeholder_and_bad_resources_fail_at_compile() {
        let err =
            CompiledTemplate::compile(vec![decl("revision", None)], &[pipeline_run()]).unwrap_err();
        assert_eq!(
            err,
            Error::UndeclaredParam {
                index: 0,
                name: "title".into()
            }
        );
        assert!(matches!(
            CompiledTemplate::compile(vec![], &[json!({"kind": "PipelineRun"})]),
            Err(Error::InvalidResource { .. })
        ));
        assert!(matches!(
            CompiledTemplate::compile(vec![], &[json!("x")]),
            Err(Error::InvalidResource { .. })
        ));
        assert_eq!(
            CompiledTemplate::compile(vec![], &[]).unwrap_err(),
            Error::NoResources
        );
    }

    #[test]
    fn placeholders_in_keys_and_old_syntax_left_alone() {
        let t = CompiledTemplate::compile(
            vec![decl("k", Some("key"))],
            &[json!({"apiVersion": "v1", "kind": "ConfigMap",
                     "data": {"$(tt.params.k)": "$(params.k) $(tt.params.k", "n": 3}})],
        )
        .unwrap();
        let out = render(&t, &[], "u");
        assert_eq!(out[0]["data"]["key"], "$(params.k) $(tt.params.k");
        assert_eq!(out[0]["data"]["n"], 3);
    }

    /// The same template rendered as a whole tree, as before the text writer: what the text
    /// must parse back to.
    fn render_tree(t: &CompiledTemplate, resource: &Value, values: &[(String, String)]) -> Value {
        let names: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
        let node = parse::compile(resource, &names).unwrap();
        let resolved = t.resolve(values);
        RenderContext {
            params: &t.params,
            values: &resolved,
            uid: "u",
        }
        .node(&node)
    }

    #[test]
    fn placeholders_in_keys_render_as_a_tree_and_colliding_keys_collapse() {
        let resource = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x"},
            "data": {"$(tt.params.a)": "1", "$(tt.params.b)": "2", "fixed": ["$(uid)", 3]},
            "$(tt.params.a)": {"top": "$(tt.params.b)"}});
        let t = CompiledTemplate::compile(
            vec![decl("a", None), decl("b", None)],
            std::slice::from_ref(&resource),
        )
        .unwrap();
        let values = [
            ("a".to_owned(), "k".to_owned()),
            ("b".to_owned(), "k".to_owned()),
        ];
        let out = render(&t, &values, "u");
        assert_eq!(out[0], render_tree(&t, &resource, &values));
        assert_eq!(out[0]["data"], json!({"k": "2", "fixed": ["u", 3]}));
        assert_eq!(out[0]["k"], json!({"top": "k"}));
        assert_eq!(out[0]["kind"], "ConfigMap");
    }

    #[test]
    fn the_text_is_what_serde_json_writes_for_the_tree() {
        let t = CompiledTemplate::compile(
            vec![decl("revision", None), decl("title", None)],
            &[pipeline_run()],
        )
        .unwrap();
        let values = [
            ("title".to_owned(), "\"q\" \\ \n \u{1} é $(x)".to_owned()),
            ("revision".to_owned(), "r".to_owned()),
        ];
        let rendered = &t.render(&values, "u")[0];
        let tree = render_tree(&t, &pipeline_run(), &values);
        // apiVersion < kind < metadata < spec: the same member order as a serialized tree.
        assert_eq!(
            String::from_utf8(rendered.to_json_vec()).unwrap(),
            serde_json::to_string(&tree).unwrap()
        );
    }

    fn template_value() -> impl Strategy<Value = Value> {
        let text = prop::sample::select(vec![
            "plain",
            "$(tt.params.a)",
            "x $(tt.params.b) y $(uid)",
            "$(tt.params.a)$(tt.params.a)",
            "$(params.a) $(tt.params.",
            "",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (-1e6f64..1e6).prop_map(|f| json!(f)),
            text.clone().prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(4, 32, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((text.clone(), inner), 0..5).prop_map(|entries| {
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    proptest::proptest! {
        /// For random templates (placeholders in values and keys, at any depth, top level
        /// included) and random values (quotes, backslashes, control characters, `$(`), the
        /// written text parses to the object the tree renderer builds.
        #[test]
        fn the_written_text_parses_to_the_rendered_tree(
            members in prop::collection::vec((prop::sample::select(vec!["spec", "data", "$(tt.params.a)", "metadata", "z"]), template_value()), 0..5),
            a in "[a-z\"\\\\$()\u{0}-\u{1f}é]{0,8}",
            b in proptest::option::of("[a-z\"$(]{0,4}"),
        ) {
            let mut resource = json!({"apiVersion": "v1", "kind": "$(tt.params.b)"});
            for (k, v) in members {
                resource[k] = v;
            }
            let t = CompiledTemplate::compile(vec![decl("a", None), decl("b", Some("B"))], &[
                resource.clone(),
            ])
            .unwrap();
            let mut values = vec![("a".to_owned(), a)];
            if let Some(b) = b {
                values.push(("b".to_owned(), b));
            }
            let out = render(&t, &values, "u");
            proptest::prop_assert_eq!(&out[0], &render_tree(&t, &resource, &values));
        }
    }
}
