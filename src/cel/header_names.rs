//! Which request headers expressions can read through `header`, found at load from their syntax
//! (as [`super::paths`] finds the parts of `body`), so that the per-event `header` map
//! ([`super::EventData::for_reads`]) holds only those entries. A GitHub delivery has a dozen
//! headers; the usual filter, `header.match('X-GitHub-Event', 'push')`, reads one, and building
//! the whole map cost about 50 allocations per event.
//!
//! Read by name, so recorded as that name: `header.match('n', …)` and `header.canonical('n')`
//! (the name canonicalised, as the functions do), `header['N']`, `'N' in header`,
//! `header.N` and `has(header.N)` (the key as written: the map's keys are canonical, so a key in
//! another form is absent either way). Any other use of `header` (alone, a name that is not a
//! literal, `size(header)`, `header.exists(…)`, `header.marshalJSON()`) reads every header. A
//! comprehension variable named `header` shadows the variable in its loop, as in evaluation.
//!
//! A map pruned this way answers every read those expressions make as the whole map does: an
//! entry read is present iff the header was received, with every value; `match` and
//! `canonical` only look at the entry they name (every entry of the map is a list of strings
//! either way, so their whole-map check cannot fail).

use std::collections::BTreeSet;

use ::cel::IdedExpr;
use ::cel::common::ast::{Expr, LiteralValue, operators};

use super::walk::{Next, Visitor, walk};
use crate::event::canonical_header_name;

/// The header names expressions read, or all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderNames {
    all: bool,
    names: BTreeSet<String>,
}

impl HeaderNames {
    /// No header read.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Every header read (what an expression that uses `header` as a whole needs).
    #[must_use]
    pub fn all() -> Self {
        Self {
            all: true,
            names: BTreeSet::new(),
        }
    }

    /// The names read by `expression`.
    pub(crate) fn of(expression: &IdedExpr) -> Self {
        let mut names = Self::none();
        walk(expression, &mut Walker { names: &mut names });
        names
    }

    /// Adds what `other` reads.
    pub fn merge(&mut self, other: &HeaderNames) {
        self.all |= other.all;
        if !self.all {
            self.names.extend(other.names.iter().cloned());
        } else {
            self.names.clear();
        }
    }

    /// Whether every header is read.
    #[must_use]
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// The names read (map keys, canonical when they can match), when not [`Self::is_all`].
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    fn add(&mut self, name: String) {
        if !self.all {
            self.names.insert(name);
        }
    }

    /// A map key read as written: only a canonical name can be a key of the map, so another
    /// form reads nothing (and must stay absent).
    fn add_key(&mut self, key: &str) {
        if canonical_header_name(key) == key {
            self.add(key.to_owned());
        }
    }
}

/// Adds the header names of every node it visits.
struct Walker<'p> {
    names: &'p mut HeaderNames,
}

/// `e` when it is the identifier `header`.
fn is_header(e: &IdedExpr) -> bool {
    matches!(&e.expr, Expr::Ident(name) if name == "header")
}

/// The string literal `e` holds.
fn literal(e: &IdedExpr) -> Option<&str> {
    match &e.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(s.inner()),
        _ => None,
    }
}

impl<'a> Visitor<'a> for Walker<'_> {
    type Out = ();

    fn visit(&mut self, e: &'a IdedExpr, bound: &[&'a str]) -> Next {
        if bound.contains(&"header") {
            return Next::Children;
        }
        match &e.expr {
            Expr::Ident(name) if name == "header" => {
                self.names.all = true;
                self.names.names.clear();
                Next::Skip
            }
            Expr::Select(select) if is_header(&select.operand) => {
                self.names.add_key(&select.field);
                Next::Skip
            }
            Expr::Call(call) => {
                let function = call.func_name.as_str();
                // `header.match(n, …)`, `header.canonical(n)` (member functions only).
                if matches!(function, "match" | "canonical")
                    && call.target.as_deref().is_some_and(is_header)
                    && let Some(name) = call.args.first().and_then(literal)
                {
                    self.names.add(canonical_header_name(name));
                    // The other arguments may read headers too; the receiver is done.
                    return Next::ArgumentsOnly;
                }
                match (function, call.args.as_slice()) {
                    (operators::INDEX, [map, key]) if is_header(map) => {
                        if let Some(name) = literal(key) {
                            self.names.add_key(name);
                            return Next::Skip;
                        }
                    }
                    (operators::IN, [key, map]) if is_header(map) => {
                        if let Some(name) = literal(key) {
                            self.names.add_key(name);
                            return Next::Skip;
                        }
                    }
                    _ => {}
                }
                Next::Children
            }
            _ => Next::Children,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cel::test_support::{assert_same_answers, compile_all};
    use crate::cel::{EventData, Program};
    use crate::event::{Event, Headers};

    fn names(expression: &str) -> HeaderNames {
        Program::compile(expression)
            .expect("compiles")
            .reads()
            .headers
    }

    fn some(list: &[&str]) -> HeaderNames {
        let mut names = HeaderNames::none();
        for name in list {
            names.add((*name).to_owned());
        }
        names
    }

    #[test]
    fn reads_by_literal_name_are_names_and_other_uses_read_every_header() {
        assert_eq!(
            names("header.match('x-github-event', 'push')"),
            some(&["X-Github-Event"])
        );
        assert_eq!(
            names(
                "header.canonical('X-GITHUB-DELIVERY') != '' && header['X-Hub-Signature'][0] == ''"
            ),
            some(&["X-Github-Delivery", "X-Hub-Signature"])
        );
        assert_eq!(
            names("'Content-Type' in header || has(header.Authorization)"),
            some(&["Content-Type", "Authorization"])
        );
        // A key that is not canonical can never be in the map: nothing to convert.
        assert_eq!(names("header['x-github-event'][0] == 'push'"), some(&[]));
        assert_eq!(names("body.action == 'opened'"), HeaderNames::none());
        for all in [
            "size(header) > 0",
            "header.exists(k, k == 'X')",
            "header.match(body.name, 'x')",
            "header[body.name][0] == 'x'",
            "header.marshalJSON() != ''",
            "header == {}",
        ] {
            assert!(names(all).is_all(), "{all}");
        }
        // The other arguments of `match` are still looked at.
        assert!(names("header.match('a', header.marshalJSON())").is_all());
    }

    #[test]
    fn a_comprehension_variable_named_header_is_not_the_header_map() {
        assert_eq!(
            names("[{'a': 1}].exists(header, size(header) == 1)"),
            HeaderNames::none()
        );
        assert_eq!(
            names("[1].exists(header, header == 1) && header.match('x-a', 'b')"),
            some(&["X-A"])
        );
    }

    #[test]
    fn merging_keeps_the_wider_read() {
        let mut merged = names("header.match('x-a', 'b')");
        merged.merge(&names("header['X-B'][0] == ''"));
        assert_eq!(merged, some(&["X-A", "X-B"]));
        merged.merge(&HeaderNames::all());
        assert!(merged.is_all());
        assert_eq!(merged.names().count(), 0);
    }

    /// Every expression gives the same answer (value or error) with the pruned `header` map as
    /// with the whole one, for headers built up and headers as received.
    #[test]
    fn pruned_header_maps_answer_as_the_whole_map() {
        let expressions = [
            "header.match('x-github-event', 'pull_request')",
            "header.match('X-GitHub-Event', 'push')",
            "header.match('x-missing', '')",
            "header.canonical('x-two')",
            "header['X-Two']",
            "header['X-Two'][1]",
            "header['x-two']",
            "header['X-Missing']",
            "'X-Two' in header",
            "'x-two' in header",
            "has(header.Authorization)",
            "header.Authorization[0]",
            "header.match('x-latin', 'caf\\u00e9')",
            "header['X-Latin'][0]",
        ];
        let pairs: [(&str, &[u8]); 7] = [
            ("x-github-event", b"pull_request"),
            ("x-two", b"a"),
            ("x-two", b"b"),
            ("authorization", b"token"),
            ("host", b"example.com"),
            ("x-latin", b"caf\xe9"),
            ("content-type", b"application/json"),
        ];
        let mut received = hyper::HeaderMap::new();
        for (name, value) in pairs {
            received.append(
                hyper::header::HeaderName::from_static(name),
                hyper::header::HeaderValue::from_bytes(value).expect("value"),
            );
        }
        let built: Headers = pairs
            .iter()
            .filter(|(n, _)| *n != "host")
            .map(|(n, v)| (*n, String::from_utf8_lossy(v).into_owned()))
            .collect();
        let (programs, reads) = compile_all(&expressions);
        assert!(!reads.headers.is_all());
        let mut checked = 0;
        for (headers, context) in [(built, "built"), (Headers::from_http(received), "received")] {
            let event = Event::new("id", "/", headers, b"{}", serde_json::json!({}));
            let whole = EventData::new(&event);
            let pruned = EventData::for_reads(&event, event.body(), &reads);
            checked += assert_same_answers(&programs, &pruned, &whole, context);
        }
        assert_eq!(checked, 2 * expressions.len());
    }
}
