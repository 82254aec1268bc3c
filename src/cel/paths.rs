//! Which parts of `body` expressions can read, found at load from their syntax, so that the
//! per-event conversion of the body to CEL values ([`super::EventData::for_reads`]) converts only
//! those parts. Converting a 25 KB GitHub payload whole costs about 1,200 allocations and tens of
//! µs per event; a filter such as `body.action == 'opened'` reads one string of it.
//!
//! Reads through a static chain of field selections (`body.pull_request.head.sha`,
//! `has(body.a.b)`) are recorded as that path: the value at its end is converted whole, the
//! objects on the way keep only the keys on some path. Any other use of `body` (`body` alone,
//! `body['a']`, `body.exists(…)`, `body.marshalJSON()`) reads the whole body. A comprehension
//! variable named `body` shadows the variable in its loop, as in evaluation.
//!
//! An object pruned this way answers every read that the analysed expressions can make exactly
//! as the whole body does: a key on a path is present iff it is in the body, with the same
//! value, so values, `has()` and `no such key` errors are the same.

use std::collections::HashMap;

use ::cel::IdedExpr;
use ::cel::common::ast::Expr;
use ::cel::common::types::{CelMap, CelMapKey, CelString};
use ::cel::common::value::Val;
use serde_json::Value;

use super::walk::{Next, Visitor, walk};
pub use crate::event::BodyPaths;
use crate::event::paths::Node;

impl BodyPaths {
    /// The paths of `body` that `expression` reads.
    pub(crate) fn of(expression: &IdedExpr) -> Self {
        let mut paths = Self::none();
        walk(expression, &mut Walker { paths: &mut paths });
        paths
    }

    /// Converts the parts of `body` that are read, as [`super::value::json_to_val`] converts
    /// the whole.
    pub(crate) fn convert(&self, body: &Value) -> Box<dyn Val + 'static> {
        convert(body, &self.0)
    }
}

fn convert(value: &Value, node: &Node) -> Box<dyn Val + 'static> {
    match (value, node) {
        (Value::Object(map), Node::Keys(keys)) => Box::new(CelMap::from(
            keys.iter()
                .filter_map(|(key, child)| {
                    let value = map.get(key)?;
                    Some((
                        CelMapKey::String(CelString::from(key.clone())),
                        convert(value, child),
                    ))
                })
                .collect::<HashMap<_, _>>(),
        )),
        // A non-object on the way is read as it is: selecting a field of it fails the same way.
        _ => super::value::json_to_val(value),
    }
}

/// Adds the body paths of every node it visits.
struct Walker<'p> {
    paths: &'p mut BodyPaths,
}

impl<'a> Visitor<'a> for Walker<'_> {
    type Out = ();

    fn visit(&mut self, e: &'a IdedExpr, bound: &[&'a str]) -> Next {
        // `body` itself (path `[]`: everything) or a field chain on it, unless a comprehension
        // variable named `body` shadows it.
        if !bound.contains(&"body")
            && let Some(path) = body_path(e)
        {
            self.paths.add(&path);
            return Next::Skip;
        }
        Next::Children
    }
}

/// `body.a.b` → `["a", "b"]` (`body` → `[]`); `None` when `e` is not a chain of field
/// selections on the identifier `body`. A presence test (`has(body.a.b)`) counts as reading the
/// last field.
fn body_path(e: &IdedExpr) -> Option<Vec<&str>> {
    let mut segments = Vec::new();
    let mut expr = e;
    loop {
        match &expr.expr {
            Expr::Ident(name) if name == "body" => {
                segments.reverse();
                return Some(segments);
            }
            Expr::Select(select) => {
                segments.push(select.field.as_str());
                expr = &select.operand;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cel::test_support::{assert_same_answers, compile_all};
    use crate::cel::{EventData, Program};
    use crate::event::{Event, Headers};

    fn paths(expression: &str) -> BodyPaths {
        Program::compile(expression).expect("compiles").body_paths()
    }

    fn keys(entries: &[(&str, Node)]) -> Node {
        Node::Keys(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn field_chains_are_paths_and_other_uses_read_everything() {
        assert_eq!(
            paths("body.action == 'opened' && body.pull_request.head.sha != ''").0,
            keys(&[
                ("action", Node::Whole),
                (
                    "pull_request",
                    keys(&[("head", keys(&[("sha", Node::Whole)]))])
                )
            ])
        );
        assert_eq!(
            paths("has(body.a.b)").0,
            keys(&[("a", keys(&[("b", Node::Whole)]))])
        );
        assert_eq!(paths("header.match('a', 'b')"), BodyPaths::none());
        for whole in [
            "body['action'] == 'x'",
            "size(body) > 0",
            "body.exists(k, k == 'x')",
            "body.marshalJSON() != ''",
        ] {
            assert!(paths(whole).is_whole(), "{whole}");
        }
        // A method on a path reads that path whole.
        assert_eq!(
            paths("body.commits.exists(c, c.id == 'x')").0,
            keys(&[("commits", Node::Whole)])
        );
    }

    #[test]
    fn a_comprehension_variable_named_body_is_not_the_body() {
        assert_eq!(
            paths("[{'a': 1}].exists(body, body.a == 1)"),
            BodyPaths::none()
        );
        assert_eq!(
            paths("[1].exists(body, body == 1) && body.x == 1").0,
            keys(&[("x", Node::Whole)])
        );
    }

    #[test]
    fn merging_keeps_the_wider_read() {
        let mut merged = paths("body.repository.name == 'x'");
        merged.merge(&paths("body.action == 'y'"));
        merged.merge(&paths("size(body.repository) > 1"));
        assert_eq!(
            merged.0,
            keys(&[("action", Node::Whole), ("repository", Node::Whole)])
        );
        merged.merge(&BodyPaths::whole());
        assert!(merged.is_whole());
    }

    /// Every expression gives the same answer (value or error) on the pruned body as on the
    /// whole one, on every fixture.
    #[test]
    fn pruned_bodies_answer_as_the_whole_body() {
        let expressions = [
            "body.action == 'opened'",
            "body.action in ['opened', 'synchronize'] && body.pull_request.merged == true",
            "body.pull_request.head.sha.truncate(7)",
            "has(body.pull_request.merged)",
            "has(body.pull_request.nope)",
            "body.nope.deeper == 1",
            "body.action.deeper == 1",
            "body.repository.full_name + '/' + body.repository.owner.login",
            "body.commits.map(c, c.id)",
            "size(body.repository.topics)",
            "body.sender",
            "body.repository.owner",
            "[1].exists(body, body == 1) || body.zen == 'x'",
            "body.head_commit.marshalJSON()",
        ];
        let fixtures = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/github"))
            .expect("fixtures");
        let mut checked = 0;
        for entry in fixtures {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read");
            let body: Value = serde_json::from_slice(&bytes).expect("fixture is JSON");
            let event = Event::new("id", "/", Headers::new(), b"{}", body);
            let whole = EventData::new(&event);
            let (programs, reads) = compile_all(&expressions);
            assert!(!reads.body.is_whole());
            // Built from only those paths, then converted: as the sink does.
            let pruned_body = reads.body.parse(&bytes).expect("parses");
            let pruned = EventData::for_reads(&event, &pruned_body, &reads);
            checked += assert_same_answers(&programs, &pruned, &whole, &path.display().to_string());
        }
        assert!(checked > 0);
    }
}
