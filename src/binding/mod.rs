//! TriggerBinding param values: `$(…)` expressions over the event (behaviour reference §5.1–§5.5).
//!
//! Mirrors upstream `pkg/template/event.go` (`applyEventValuesToParams`) and
//! `pkg/template/jsonpath.go` (`findTektonExpressions`, `parseJSONPath`, `getResults`), which
//! evaluate with client-go `util/jsonpath` (`parser.go`, `jsonpath.go`) with missing keys as
//! errors. A param value is compiled once at config load ([`ParamTemplate::parse`]) and rendered
//! per event ([`ParamTemplate::render`]); the TriggerTemplate default rule of §5.5 is applied
//! per failing occurrence. Duplicate-name checks across bindings (§5.6) belong to the caller.
//!
//! Rendered values are *logical* text: a single string result is inserted unchanged, not
//! JSON-escaped (upstream escapes it here; our template module escapes structurally later).
//! As upstream, exactly one result renders as that value even from a slice, wildcard or filter;
//! zero or several render as a JSON array.
//!
//! Deliberate differences from upstream:
//! - a quoted key is one key: `$(body["x.y"])` and `$(body['x.y'])` read the key `x.y`
//!   (upstream re-parses `['x.y']` as `.x.y` and rejects `["x"]`);
//! - filter comparisons are typed: numbers compare as numbers (`[?(@.v==2)]` matches a JSON `2`
//!   or `2.0`; upstream fails with "incompatible types"), strings by bytes, other or mismatched
//!   types never match an ordering and are unequal; an element where a side's path finds
//!   nothing or fails is skipped (upstream fails the whole expression); `null` is a literal;
//! - integers render exactly (upstream goes through float64 and rounds above 2^53);
//! - the first segment must be `body`, `header`, `extensions` or `context`, and all path syntax
//!   is checked at load: a bad expression is a [`ParseError`] then, never an event-time error
//!   (so the §5.5 default does not cover it);
//! - indexing or slicing `null` is an error (upstream silently yields nothing, rendered `[]`);
//!   [`EvalError::NotArray`] names the JSON type (`string`, `number`, `bool`, `object`, `null`)
//!   where upstream names the Go type (`float64`, `map[string]interface {}`);
//! - `[*]` and `.*` both select every member of an object or array and nothing of a scalar
//!   (upstream's `[*]` fails on objects and scalars; `.*` walks a string's bytes);
//! - `header.<name>` canonicalises only that first field (upstream canonicalises the whole rest
//!   of the text, and only when written exactly `header.` with no leading `.` or `{`);
//! - an unclosed `$(` fails at load (upstream's webhook misses a trailing one and the sink
//!   ignores it);
//! - `.*`, `[*]` and `..` visit object members in the map's order (sorted keys with
//!   serde_json's default map), never at random as Go's map iteration does.

mod path;
mod render;

use serde_json::Value;

use crate::event::Extensions;
use path::{Path, RootCells};

/// The four roots a binding expression can read (reference §5.1).
#[derive(Debug, Clone, Copy)]
pub struct EventDocument<'a> {
    /// `$(body…)`: the parsed body, `Value::Null` when the body was empty.
    pub body: &'a Value,
    /// `$(header…)`: the headers, read as an object of canonical header name to one string,
    /// several values joined with `,` ([`crate::event::Headers::binding_json`], built only when
    /// a path reads `header`).
    pub header: &'a crate::event::Headers,
    /// `$(extensions…)`: the extensions added by interceptors.
    pub extensions: &'a Extensions,
    /// `$(context.eventID)`: the eventID of the request.
    pub event_id: &'a str,
}

/// A TriggerBinding param value compiled at config load: literal text and `$(…)` expressions
/// (§5.2), each parsed into a path (§5.3).
///
/// Each `$(` starts a candidate ending at the first `)` that is not balanced by a `(` after it;
/// when another `$(` comes first, the outer `$(` and its closing `)` stay literal, so
/// `$($(body.b))` renders `$(` + value of `body.b` + `)`. `$()` renders as nothing.
#[derive(Debug, Clone)]
pub struct ParamTemplate {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Expression(Path),
}

/// A param value that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A `$(` with no `)` closing it anywhere after it.
    #[error("unclosed \"$(\" at byte {position} of {value:?}")]
    Unclosed {
        /// The whole param value.
        value: String,
        /// Byte offset of the `$(` in the value.
        position: usize,
    },
    /// The path does not start with `body`, `header`, `extensions` or `context`.
    #[error(
        "expression {expression:?} must start with body, header, extensions or context, not {root:?}"
    )]
    UnknownRoot {
        /// The text inside `$(…)`.
        expression: String,
        /// The first segment as written.
        root: String,
    },
    /// The path breaks the JSONPath grammar of §5.3.
    #[error("invalid expression {expression:?} at byte {position}: {reason}")]
    Syntax {
        /// The text inside `$(…)`.
        expression: String,
        /// Byte offset in the expression where parsing stopped.
        position: usize,
        /// What was wrong there.
        reason: String,
    },
}

/// An expression that finds no value in one event. The message is upstream's client-go text;
/// the expression is carried in every variant (see [`EvalError::expression`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A key is absent from every object it was looked up in (or its parent is not an object).
    #[error("{key} is not found")]
    NotFound {
        /// The text inside `$(…)`.
        expression: String,
        /// The missing key.
        key: String,
    },
    /// An index or slice bound outside the array (`index` after adding the length to a
    /// negative index, as upstream reports it).
    #[error("array index out of bounds: index {index}, length {length}")]
    IndexOutOfBounds {
        /// The text inside `$(…)`.
        expression: String,
        /// The offending index.
        index: i64,
        /// The array length.
        length: usize,
    },
    /// A slice whose start comes after its end.
    #[error("starting index {start} is greater than ending index {end}")]
    StartAfterEnd {
        /// The text inside `$(…)`.
        expression: String,
        /// The start, negative already wrapped.
        start: i64,
        /// The end, negative already wrapped.
        end: i64,
    },
    /// An index, slice or filter applied to something that is not an array.
    #[error("{kind} is not array or slice")]
    NotArray {
        /// The text inside `$(…)`.
        expression: String,
        /// The JSON type found: `string`, `number`, `bool`, `object` or `null`.
        kind: &'static str,
    },
    /// A filter side selected several values for one element.
    #[error("can only compare one element at a time")]
    NotSingle {
        /// The text inside `$(…)`.
        expression: String,
    },
}

impl EvalError {
    /// The text inside the `$(…)` that failed.
    pub fn expression(&self) -> &str {
        match self {
            EvalError::NotFound { expression, .. }
            | EvalError::IndexOutOfBounds { expression, .. }
            | EvalError::StartAfterEnd { expression, .. }
            | EvalError::NotArray { expression, .. }
            | EvalError::NotSingle { expression } => expression,
        }
    }
}

impl ParamTemplate {
    /// Compiles a binding param value: finds every `$(…)` and parses its path.
    pub fn parse(value: &str) -> Result<ParamTemplate, ParseError> {
        let starts: Vec<usize> = value.match_indices("$(").map(|(i, _)| i).collect();
        let mut parts = Vec::new();
        let mut done = 0;
        for (n, &start) in starts.iter().enumerate() {
            let inner = start + 2;
            let segment_end = starts.get(n + 1).copied().unwrap_or(value.len());
            let Some(close) = closing_paren(&value[inner..segment_end]) else {
                // Another `$(` comes first: this one stays literal if it is closed at all.
                if closing_paren(&value[inner..]).is_none() {
                    return Err(ParseError::Unclosed {
                        value: value.to_owned(),
                        position: start,
                    });
                }
                continue;
            };
            if done < start {
                parts.push(Part::Text(value[done..start].to_owned()));
            }
            let expression = &value[inner..inner + close];
            if !expression.is_empty() {
                parts.push(Part::Expression(Path::parse(expression)?));
            }
            done = inner + close + 1;
        }
        if done < value.len() {
            parts.push(Part::Text(value[done..].to_owned()));
        }
        Ok(ParamTemplate {
            source: value.to_owned(),
            parts,
        })
    }

    /// Renders the value for one event. `default` is the TriggerTemplate default of the param
    /// with the same name, if any (§5.5): a failing expression is replaced by it; without one
    /// the error is returned.
    pub fn render(
        &self,
        doc: &EventDocument<'_>,
        default: Option<&str>,
    ) -> Result<String, EvalError> {
        let cells = RootCells::default();
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expression(path) => match (path.evaluate(doc, &cells), default) {
                    (Ok(results), _) => render::write_results(results.as_slice(), &mut out),
                    (Err(_), Some(default)) => out.push_str(default),
                    (Err(e), None) => return Err(e),
                },
            }
        }
        Ok(out)
    }

    /// The parts of the body this value reads (see [`crate::event::BodyPaths`]): merged over
    /// a listener's triggers, what each event builds of its body.
    pub fn body_paths(&self) -> crate::event::BodyPaths {
        let mut paths = crate::event::BodyPaths::none();
        for part in &self.parts {
            if let Part::Expression(path) = part {
                path.add_body_paths(&mut paths);
            }
        }
        paths
    }

    /// The text as written (for messages).
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Offset of the first `)` in `text` not balanced by a `(` before it.
fn closing_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' if depth == 0 => return Some(i),
            b')' => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Headers;
    use serde_json::json;

    struct Fixture {
        body: Value,
        header: Headers,
        extensions: Extensions,
    }

    impl Fixture {
        fn new() -> Self {
            let headers: Headers = [
                ("content-type", "application/json"),
                ("x-two", "a"),
                ("X-Two", "b"),
            ]
            .into_iter()
            .collect();
            let extensions = match json!({"ext": {"n": 7}, "tag": "v1"}) {
                Value::Object(map) => map,
                _ => Extensions::new(),
            };
            Fixture {
                body: json!({
                    "message": "hi <there> & \"you\"",
                    "empty": "",
                    "n": null,
                    "big": 12345678901234567891u64,
                    "f": 2.0,
                    "x.y": "dotted",
                    "x": {"y": "nested"},
                    "labels": {"app.kubernetes.io/name": "web"},
                    "commits": [{"id": "c1"}, {"id": "c2"}, {"id": "c3"}],
                    "a": [0, 1, 2, 3, 4],
                    "items": [
                        {"name": "x", "id": 1, "v": 2},
                        {"name": "y", "id": 2, "v": 3.5, "opt": null},
                        {"id": 3, "v": "2"}
                    ],
                    "deep": {"sha": "s1", "in": [{"sha": "s2"}, {"other": {"sha": "s3"}}]}
                }),
                header: headers,
                extensions,
            }
        }

        fn doc(&self) -> EventDocument<'_> {
            EventDocument {
                body: &self.body,
                header: &self.header,
                extensions: &self.extensions,
                event_id: "ev-1",
            }
        }

        /// Renders against the whole body, and checks that the body built from only the
        /// template's [`ParamTemplate::body_paths`] renders the same value or error.
        fn render(&self, value: &str) -> Result<String, EvalError> {
            let t = ParamTemplate::parse(value).unwrap_or_else(|e| panic!("{value}: {e}"));
            let whole = t.render(&self.doc(), None);
            let bytes = serde_json::to_vec(&self.body).expect("serializable");
            let pruned_body = t.body_paths().parse(&bytes).expect("parses");
            let pruned = t.render(
                &EventDocument {
                    body: &pruned_body,
                    ..self.doc()
                },
                None,
            );
            assert_eq!(
                pruned.as_ref().map_err(ToString::to_string),
                whole.as_ref().map_err(ToString::to_string),
                "{value}: the pruned body renders otherwise"
            );
            whole
        }

        fn ok(&self, value: &str) -> String {
            self.render(value)
                .unwrap_or_else(|e| panic!("{value}: {e}"))
        }

        fn err(&self, value: &str) -> String {
            match self.render(value) {
                Ok(v) => panic!("{value}: expected an error, got {v:?}"),
                Err(e) => e.to_string(),
            }
        }
    }

    #[test]
    fn body_paths_are_the_key_chains_read_whole_from_the_first_other_step() {
        let t = ParamTemplate::parse(
            "$(body.commits[0].id) $(body.x.y) $(header.a) $(body.a.*) $(body['k.l'].m) $(extensions.e)",
        )
        .unwrap();
        let mut want = crate::event::BodyPaths::none();
        for path in [&["commits"][..], &["x", "y"], &["a"], &["k.l", "m"]] {
            want.add(path);
        }
        assert_eq!(t.body_paths(), want);
        assert!(
            ParamTemplate::parse("$(body)")
                .unwrap()
                .body_paths()
                .is_whole()
        );
        assert!(
            ParamTemplate::parse("$(body..sha)")
                .unwrap()
                .body_paths()
                .is_whole()
        );
        assert_eq!(
            ParamTemplate::parse("literal $(header.x)")
                .unwrap()
                .body_paths(),
            crate::event::BodyPaths::none()
        );
    }

    #[test]
    fn dotted_fields_and_surrounding_text_render() {
        let f = Fixture::new();
        assert_eq!(f.ok("sha=$(body.commits[0].id)!"), "sha=c1!");
        assert_eq!(
            f.ok("$(.body.x.y) $({body.x.y}) $({.body.x.y})"),
            "nested nested nested"
        );
        assert_eq!(f.ok("no expressions"), "no expressions");
    }

    #[test]
    fn a_string_value_is_inserted_unescaped() {
        assert_eq!(Fixture::new().ok("$(body.message)"), "hi <there> & \"you\"");
    }

    #[test]
    fn quoted_key_reads_one_key_with_a_dot() {
        let f = Fixture::new();
        assert_eq!(f.ok("$(body['x.y'])"), "dotted");
        assert_eq!(f.ok("$(body[\"x.y\"])"), "dotted");
        assert_eq!(f.ok("$(body.x.y)"), "nested");
    }

    #[test]
    fn escaped_dots_read_a_label_key() {
        let f = Fixture::new();
        assert_eq!(f.ok(r"$(body.labels.app\.kubernetes\.io/name)"), "web");
    }

    #[test]
    fn whole_roots_render_as_compact_json() {
        let f = Fixture::new();
        assert_eq!(
            f.ok("$(header)"),
            r#"{"Content-Type":"application/json","X-Two":"a,b"}"#
        );
        assert_eq!(f.ok("$(context)"), r#"{"eventID":"ev-1"}"#);
        assert_eq!(f.ok("$(context.eventID)"), "ev-1");
        assert_eq!(f.ok("$(extensions)"), r#"{"ext":{"n":7},"tag":"v1"}"#);
        assert_eq!(f.ok("$(extensions.ext.n)/$(extensions['tag'])"), "7/v1");
        assert_eq!(f.ok("$(body.deep.in[1])"), r#"{"other":{"sha":"s3"}}"#);
        assert_eq!(
            f.ok("$(body.message)$(body.x)"),
            "hi <there> & \"you\"{\"y\":\"nested\"}"
        );
    }

    #[test]
    fn an_empty_body_renders_null() {
        let f = Fixture::new();
        let doc = EventDocument {
            body: &Value::Null,
            ..f.doc()
        };
        let t = ParamTemplate::parse("$(body) $(body.a)");
        assert_eq!(
            t.map(|t| t.render(&doc, Some("d"))),
            Ok(Ok("null d".to_owned()))
        );
    }

    #[test]
    fn header_names_are_canonicalised_and_multiple_values_comma_joined() {
        let f = Fixture::new();
        assert_eq!(f.ok("$(header.content-type)"), "application/json");
        assert_eq!(f.ok("$(header.X-TWO)"), "a,b");
        assert_eq!(f.err("$(header['x-two'])"), "x-two is not found");
        assert_eq!(f.err("$(header.X-Two[1])"), "string is not array or slice");
    }

    #[test]
    fn scalars_render_in_go_form_with_exact_integers() {
        let f = Fixture::new();
        assert_eq!(f.ok("$(body.big)"), "12345678901234567891");
        assert_eq!(f.ok("$(body.f)"), "2");
        assert_eq!(f.ok("$(body.n)"), "null");
        assert_eq!(f.ok("[$(body.empty)]"), "[]");
    }

    #[test]
    fn indexes_and_negative_indexes_select_one_element() {
        let f = Fixture::new();
        assert_eq!(f.ok("$(body.a[0])"), "0");
        assert_eq!(f.ok("$(body.a[-1])"), "4");
        assert_eq!(
            f.err("$(body.a[5])"),
            "array index out of bounds: index 5, length 5"
        );
        assert_eq!(
            f.err("$(body.a[-7])"),
            "array index out of bounds: index -2, length 5"
        );
    }

    #[test]
    fn slices_select_ranges_with_steps() {
        let f = Fixture::new();
        assert_eq!(f.ok("$(body.a[0:2])"), "[0,1]");
        assert_eq!(f.ok("$(body.a[::2])"), "[0,2,4]");
        assert_eq!(f.ok("$(body.a[-2:])"), "[3,4]");
        assert_eq!(f.ok("$(body.a[1:2])"), "1");
        assert_eq!(f.ok("$(body.a[2:2])"), "[]");
        assert_eq!(
            f.err("$(body.a[0:9])"),
            "array index out of bounds: index 8, length 5"
        );
        assert_eq!(
            f.err("$(body.a[3:1])"),
            "starting index 3 is greater than ending index 1"
        );
    }

    #[test]
    fn wildcards_and_unions_collect_several_values() {
        let f = Fixture::new();
        assert_eq!(f.ok("$(body.commits[*].id)"), r#"["c1","c2","c3"]"#);
        assert_eq!(f.ok("$(body.x.*)"), "nested");
        assert_eq!(f.ok("$(body.labels.*)"), "web");
        assert_eq!(f.ok("$(body.a[0,2])"), "[0,2]");
        assert_eq!(f.ok("$(body.commits[0,2].id)"), r#"["c1","c3"]"#);
        assert_eq!(f.ok("$(body['x.y','empty'])"), r#"["dotted",""]"#);
    }

    #[test]
    fn recursive_descent_finds_keys_at_any_depth() {
        assert_eq!(
            Fixture::new().ok("$(body.deep..sha)"),
            r#"["s1","s2","s3"]"#
        );
        assert_eq!(
            Fixture::new().err("$(body.deep..nope)"),
            "nope is not found"
        );
    }

    #[test]
    fn filters_compare_strings_and_numbers_and_test_existence() {
        let f = Fixture::new();
        assert_eq!(f.ok("$(body.items[?(@.name=='x')].id)"), "1");
        assert_eq!(f.ok("$(body.items[?(@.name != \"x\")].id)"), "2");
        assert_eq!(f.ok("$(body.items[?(@.v==2)].id)"), "1");
        assert_eq!(f.ok("$(body.items[?(@.v>2)].id)"), "2");
        assert_eq!(f.ok("$(body.items[?(@.v<=3.5)].id)"), "[1,2]");
        assert_eq!(f.ok("$(body.items[?(@.v>=3)].id)"), "2");
        assert_eq!(f.ok("$(body.items[?(@.v<2)].id)"), "[]");
        assert_eq!(f.ok("$(body.items[?(@.v=='2')].id)"), "3");
        assert_eq!(f.ok("$(body.items[?(@.opt)].id)"), "2");
        assert_eq!(f.ok("$(body.items[?(@.name)].name)"), r#"["x","y"]"#);
        assert_eq!(f.err("$(body.x[?(@.a)])"), "object is not array or slice");
        assert_eq!(
            f.err("$(body[?(@.a[*]==1)])"),
            "object is not array or slice"
        );
        assert_eq!(
            f.err("$(body.items[?(@.*==1)])"),
            "can only compare one element at a time"
        );
    }

    #[test]
    fn missing_values_are_errors() {
        let f = Fixture::new();
        assert_eq!(f.err("$(body.nope)"), "nope is not found");
        assert_eq!(f.err("$(body.n.b)"), "b is not found");
        assert_eq!(f.err("$(body.message.b)"), "b is not found");
        assert_eq!(f.err("$(body.n[0])"), "null is not array or slice");
        assert_eq!(f.err("$(body.x[0])"), "object is not array or slice");
        assert_eq!(f.err("$(extensions.nope)"), "nope is not found");
        assert_eq!(f.err("$(context.nope)"), "nope is not found");
        let e = f.render("a $(body.nope.deeper)").err();
        assert_eq!(
            e.as_ref().map(EvalError::expression),
            Some("body.nope.deeper")
        );
    }

    #[test]
    fn a_default_replaces_each_failing_occurrence_only() {
        let f = Fixture::new();
        let t = ParamTemplate::parse("$(body.nope)-$(body.x.y)-$(body.nope)");
        let rendered = t.map(|t| t.render(&f.doc(), Some("dflt")));
        assert_eq!(rendered, Ok(Ok("dflt-nested-dflt".to_owned())));
    }

    #[test]
    fn nested_expression_keeps_the_outer_wrapper_literal() {
        let f = Fixture::new();
        assert_eq!(f.ok("$($(body.x.y))"), "$(nested)");
        assert_eq!(f.ok("a $() b"), "a  b");
        assert_eq!(f.ok("$(body.x.y))"), "nested)");
        assert_eq!(f.ok("$(body.x.y) and $(body.x.y)"), "nested and nested");
    }

    #[test]
    fn unclosed_and_invalid_expressions_fail_at_load() {
        let unclosed = ParamTemplate::parse("ok $(body.a) then $(body.b").err();
        assert_eq!(
            unclosed,
            Some(ParseError::Unclosed {
                value: "ok $(body.a) then $(body.b".into(),
                position: 18
            })
        );
        assert!(matches!(
            ParamTemplate::parse("$(a $(body.b)"),
            Err(ParseError::Unclosed { position: 0, .. })
        ));
        assert!(matches!(
            ParamTemplate::parse("$(foo.bar)"),
            Err(ParseError::UnknownRoot { .. })
        ));
        let syntax = ParamTemplate::parse("$(body.a[x])")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            syntax.as_deref(),
            Some("invalid expression \"body.a[x]\" at byte 7: invalid array index \"x\"")
        );
    }

    #[test]
    fn source_is_the_text_as_written() {
        let t = ParamTemplate::parse("x $(body.a) y").map(|t| t.source().to_owned());
        assert_eq!(t, Ok("x $(body.a) y".to_owned()));
    }
}
