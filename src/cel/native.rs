//! The commonest filter shapes answered straight from the body tree and the headers, without
//! converting the event for CEL or running the interpreter. An expression qualifies, at load,
//! when it is a conjunction (`&&`, any nesting) of:
//!
//! | atom | example |
//! |---|---|
//! | `header.match(name, value)`, both string literals | `header.match('x-github-event', 'push')` |
//! | a body path `in` a list of string literals | `body.action in ['opened', 'synchronize']` |
//! | a body path `==` or `!=` a string or bool literal, either side | `body.pull_request.merged == true` |
//!
//! where a body path is `body` followed by field selections or string-literal indexes
//! (`body.a['b-c']`). Per event, [`Native::evaluate`] answers only what it is sure the
//! interpreter answers, and `None` otherwise, for the interpreter to decide. Atoms are taken
//! left to right: the first `false` answers `false` (the interpreter's `&&` answers `false` as
//! soon as a side is `false` and everything before it is `true`), and anything that could be an
//! error or depend on CEL's typing (a missing key, `null`, a number, a value of another type than
//! the literal's) stops with `None`. So errors and their messages always come from the
//! interpreter, and a proptest in `tests.rs` compares the two on random bodies.

use ::cel::IdedExpr;
use ::cel::common::ast::{Expr, LiteralValue, operators};
use serde_json::Value;

use hyper::header::HeaderName;

use crate::event::{Headers, canonical_header_name};

/// A filter in one of the shapes above, compiled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Native(Vec<Atom>);

#[derive(Debug, Clone, PartialEq)]
enum Atom {
    /// `header.match(name, value)`, the name canonical, and parsed once when it is a valid
    /// header name (for lookups that do not parse it per event).
    HeaderMatch {
        name: String,
        parsed: Option<HeaderName>,
        value: String,
    },
    /// `path in [values…]`.
    In {
        path: Vec<String>,
        values: Vec<String>,
    },
    /// `path == literal` (`equal`) or `path != literal`.
    Compare {
        path: Vec<String>,
        literal: Literal,
        equal: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    String(String),
    Bool(bool),
}

impl Native {
    /// `e` compiled, when it has one of the shapes above.
    pub(crate) fn compile(e: &IdedExpr) -> Option<Self> {
        let mut atoms = Vec::new();
        conjuncts(e, &mut atoms)?;
        Some(Self(atoms))
    }

    /// The filter's answer on `body` (the body as CEL reads it: the form JSON or the body tree)
    /// and `headers`, when it is sure; `None` leaves the answer to the interpreter.
    pub(crate) fn evaluate(&self, body: &Value, headers: &Headers) -> Option<bool> {
        for atom in &self.0 {
            if !atom.evaluate(body, headers)? {
                return Some(false);
            }
        }
        Some(true)
    }
}

impl Atom {
    fn evaluate(&self, body: &Value, headers: &Headers) -> Option<bool> {
        match self {
            // As `header.match`: the first value of the header, `""` when absent, the values
            // read as the CEL form of the headers has them.
            Atom::HeaderMatch {
                name,
                parsed,
                value,
            } => {
                let first = match parsed {
                    Some(parsed) => headers.header_values(parsed).next(),
                    None => headers.values(name).next(),
                };
                Some(first.as_deref().unwrap_or_default() == value)
            }
            Atom::In { path, values } => {
                let found = at(body, path)?.as_str()?;
                Some(values.iter().any(|v| v == found))
            }
            Atom::Compare {
                path,
                literal,
                equal,
            } => {
                let same = match (at(body, path)?, literal) {
                    (Value::String(found), Literal::String(s)) => found == s,
                    (Value::Bool(found), Literal::Bool(b)) => found == b,
                    _ => return None,
                };
                Some(same == *equal)
            }
        }
    }
}

/// The value at `path` in `body`, when every step is a present key of an object.
fn at<'v>(body: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter()
        .try_fold(body, |v, key| v.as_object().and_then(|map| map.get(key)))
}

/// Appends the atoms of the conjunction `e`, left to right.
fn conjuncts(e: &IdedExpr, atoms: &mut Vec<Atom>) -> Option<()> {
    if let Expr::Call(call) = &e.expr
        && call.func_name == operators::LOGICAL_AND
        && call.target.is_none()
        && let [left, right] = call.args.as_slice()
    {
        conjuncts(left, atoms)?;
        return conjuncts(right, atoms);
    }
    atoms.push(atom(e)?);
    Some(())
}

fn atom(e: &IdedExpr) -> Option<Atom> {
    let Expr::Call(call) = &e.expr else {
        return None;
    };
    match (
        call.func_name.as_str(),
        call.target.as_deref(),
        call.args.as_slice(),
    ) {
        ("match", Some(target), [name, value]) if is_ident(target, "header") => {
            let name = canonical_header_name(string(name)?);
            Some(Atom::HeaderMatch {
                parsed: HeaderName::from_bytes(name.as_bytes()).ok(),
                name,
                value: string(value)?.to_owned(),
            })
        }
        (operators::IN, None, [item, list]) => {
            let Expr::List(list) = &list.expr else {
                return None;
            };
            let values = list
                .elements
                .iter()
                .map(|v| string(v).map(str::to_owned))
                .collect::<Option<Vec<_>>>()?;
            Some(Atom::In {
                path: body_path(item)?,
                values,
            })
        }
        (op @ (operators::EQUALS | operators::NOT_EQUALS), None, [a, b]) => {
            let (path, literal) = match (body_path(a), body_path(b)) {
                (Some(path), None) => (path, literal(b)?),
                (None, Some(path)) => (path, literal(a)?),
                _ => return None,
            };
            Some(Atom::Compare {
                path,
                literal,
                equal: op == operators::EQUALS,
            })
        }
        _ => None,
    }
}

fn is_ident(e: &IdedExpr, name: &str) -> bool {
    matches!(&e.expr, Expr::Ident(n) if n == name)
}

fn string(e: &IdedExpr) -> Option<&str> {
    match &e.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(s.inner()),
        _ => None,
    }
}

fn literal(e: &IdedExpr) -> Option<Literal> {
    match &e.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(Literal::String(s.inner().to_owned())),
        Expr::Literal(LiteralValue::Boolean(b)) => Some(Literal::Bool(*b.inner())),
        _ => None,
    }
}

/// `body.a['b']` → `["a", "b"]`, at least one step (a presence test `has(…)` is not a path).
fn body_path(e: &IdedExpr) -> Option<Vec<String>> {
    let mut path = Vec::new();
    let mut expr = e;
    loop {
        match &expr.expr {
            Expr::Ident(name) if name == "body" && !path.is_empty() => {
                path.reverse();
                return Some(path);
            }
            Expr::Select(select) if !select.test => {
                path.push(select.field.clone());
                expr = &select.operand;
            }
            Expr::Call(call)
                if call.func_name == operators::INDEX
                    && call.target.is_none()
                    && call.args.len() == 2 =>
            {
                path.push(string(&call.args[1])?.to_owned());
                expr = &call.args[0];
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use crate::cel::functions::testing::event;
    use crate::cel::{EventData, Program, Vars};
    use crate::event::Extensions;

    /// Both answers for `expression` on `body` and `headers`: direct, then the interpreter's.
    fn answers(
        expression: &str,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> (Option<bool>, Result<bool, String>) {
        let program = Program::compile(expression).unwrap_or_else(|e| panic!("{e}"));
        let event = event(body.clone(), headers);
        let direct = program.evaluate_filter_direct(event.body(), event.headers());
        let data = EventData::new(&event);
        let interpreted = program
            .evaluate_filter(&Vars {
                event: &data,
                extensions: &Extensions::new(),
                secrets: None,
            })
            .map_err(|e| e.to_string());
        (direct, interpreted)
    }

    #[test]
    fn the_default_configuration_filters_are_answered_directly_as_the_interpreter_answers() {
        let config = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/eventlistener.yaml"),
        )
        .unwrap();
        let filters: Vec<&str> = config
            .lines()
            .filter_map(|l| l.trim().strip_prefix("value: \"header.match("))
            .map(|rest| rest.strip_suffix('"').unwrap())
            .collect();
        assert_eq!(filters.len(), 2, "{config}");
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github");
        let mut sure = 0;
        for filter in &filters {
            let expression = format!("header.match({filter}");
            assert!(Program::compile(&expression).unwrap().has_direct_filter());
            for (file, event_type) in [
                ("pull_request.opened.json", "pull_request"),
                ("pull_request.closed.unmerged.json", "pull_request"),
                ("pull_request.opened.json", "push"),
            ] {
                let body: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(fixtures.join(file)).unwrap()).unwrap();
                let headers = [("X-GitHub-Event", event_type)];
                let (direct, interpreted) = answers(&expression, &body, &headers);
                assert_eq!(direct.map(Ok), Some(interpreted), "{expression} on {file}");
                sure += 1;
            }
        }
        assert_eq!(sure, 6);
    }

    #[test]
    fn other_shapes_are_left_to_the_interpreter() {
        for expression in [
            "body.number == 77",
            "has(body.action) && body.action == 'opened'",
            "body.action == 'opened' || body.action == 'closed'",
            "header.canonical('X-GitHub-Event') == 'push'",
            "'ci' in body.labels",
            "body.action in [body.other]",
            "!(body.merged == true)",
            "body.a == body.b",
            "body.action.startsWith('op')",
        ] {
            let program = Program::compile(expression).unwrap();
            assert!(!program.has_direct_filter(), "{expression}");
        }
    }

    #[test]
    fn a_missing_key_or_another_type_is_left_to_the_interpreter_for_its_error() {
        let body = json!({"action": 1, "pull_request": null});
        for expression in [
            "body.nope == 'x'",
            "body.action == 'x'",
            "body.action in ['x']",
            "body.pull_request.merged == true",
            "body.action == true",
        ] {
            let (direct, interpreted) = answers(expression, &body, &[]);
            assert_eq!(direct, None, "{expression} gave {interpreted:?}");
        }
        // A false atom before an unsure one answers false, as `&&` does.
        let (direct, interpreted) =
            answers("header.match('x', 'y') && body.nope == 'x'", &body, &[]);
        assert_eq!((direct, interpreted), (Some(false), Ok(false)));
    }

    fn atom() -> impl Strategy<Value = String> {
        let path = prop::sample::select(vec![
            "body.a",
            "body.b",
            "body.o.a",
            "body['o']['b']",
            "body.o['a']",
        ]);
        let string = prop::sample::select(vec!["'x'", "'y'", "''", "'é\"'"]);
        prop_oneof![
            (
                prop::sample::select(vec!["x-test", "X-Other", "x-TEST"]),
                string.clone()
            )
                .prop_map(|(h, v)| format!("header.match('{h}', {v})")),
            (path.clone(), prop::collection::vec(string.clone(), 0..3))
                .prop_map(|(p, vs)| format!("{p} in [{}]", vs.join(", "))),
            (
                path.clone(),
                prop_oneof![string, Just("true"), Just("false")],
                prop::sample::select(vec!["==", "!="]),
                any::<bool>()
            )
                .prop_map(|(p, l, op, flip)| if flip {
                    format!("{l} {op} {p}")
                } else {
                    format!("{p} {op} {l}")
                }),
        ]
    }

    fn expression() -> impl Strategy<Value = String> {
        atom().prop_recursive(3, 8, 2, |inner| {
            (inner.clone(), inner, any::<bool>()).prop_map(|(l, r, paren)| {
                if paren {
                    format!("({l}) && ({r})")
                } else {
                    format!("{l} && {r}")
                }
            })
        })
    }

    fn field() -> impl Strategy<Value = Option<serde_json::Value>> {
        proptest::option::of(prop_oneof![
            prop::sample::select(vec!["x", "y", "", "é\""]).prop_map(|s| json!(s)),
            any::<bool>().prop_map(|b| json!(b)),
            Just(json!(null)),
            Just(json!(1)),
            Just(json!(["x"])),
        ])
    }

    proptest! {
        /// On random bodies (fields absent, strings, bools, null, numbers, lists, a nested
        /// object or not) and headers (absent, one or two values), a direct answer is always
        /// the interpreter's answer.
        #[test]
        fn a_direct_answer_is_the_interpreters(
            expression in expression(),
            a in field(),
            b in field(),
            oa in field(),
            ob in field(),
            o_is_object in any::<bool>(),
            test_header in proptest::option::of(prop::sample::select(vec!["x", "y", "", "é\""])),
            second_value in any::<bool>(),
        ) {
            let mut body = serde_json::Map::new();
            let mut o = serde_json::Map::new();
            for (key, value) in [("a", a), ("b", b)] {
                if let Some(v) = value { body.insert(key.into(), v); }
            }
            for (key, value) in [("a", oa), ("b", ob)] {
                if let Some(v) = value { o.insert(key.into(), v); }
            }
            body.insert("o".into(), if o_is_object { json!(o) } else { json!("o") });
            let body = serde_json::Value::Object(body);
            let mut headers = Vec::new();
            if let Some(v) = test_header {
                headers.push(("X-Test", v));
                if second_value { headers.push(("X-Test", "second")); }
            }
            let (direct, interpreted) = answers(&expression, &body, &headers);
            prop_assert!(Program::compile(&expression).unwrap().has_direct_filter(), "{}", expression);
            if let Some(direct) = direct {
                prop_assert_eq!(Ok(direct), interpreted, "{} on {} {:?}", expression, body, headers);
            }
        }
    }
}
