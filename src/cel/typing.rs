//! The part of cel-go's static type check that the `cel` crate lacks and Tekton users meet:
//! operators and calls whose operand types are known from the expression alone (behaviour
//! reference §4.5; cel-go `checker/checker.go`, with Tekton's declarations from upstream
//! `pkg/interceptors/cel/cel.go` `makeCelEnv`: `body`, `header` and `extensions` are
//! `map(string, dyn)`, `requestURL` is a `string`).
//!
//! cel-go rejects at load, even in a branch that never runs:
//!
//! | expression | error |
//! |---|---|
//! | `1.5 > 1`, `1 == 1.0`, `size(x) == 1.0` | `found no matching overload for '_>_' applied to '(double, int)'` |
//! | `2 * 3.0`, `1 + 1u`, `'a' + 1` | `… '_*_' applied to '(int, double)'` |
//! | `[1] == [1.0]`, `1 in [1.0]` | `… '_==_' applied to '(list(int), list(double))'` |
//! | `true ? 1 : 1.0` | `… '_?_:_' applied to '(bool, int, double)'` |
//! | `body.sha.truncate('a')` | `… 'truncate' applied to 'dyn.(string)'` |
//!
//! while a `dyn` operand (anything read from `body`, `header` or `extensions`) matches every
//! overload: `body.n == 1` passes the check and is decided at evaluation.
//!
//! This check is deliberately narrower than cel-go's: where we cannot tell a type for certain
//! (most function results, `type(x)`, macros' results beyond `bool`), the type is `dyn` and
//! nothing is rejected. It may therefore accept what cel-go rejects, never the reverse.

use std::fmt;

use ::cel::IdedExpr;
use ::cel::common::ast::{ComprehensionExpr, EntryExpr, Expr, LiteralValue};
use ::cel::common::types::Kind;

use super::Issue;
use super::env::{Style, overloads};
use super::walk::{Next, Visitor, walk};

/// A static type, as far as we infer it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Ty {
    #[default]
    Dyn,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Timestamp,
    Duration,
    List(Box<Ty>),
    Map(Box<Ty>, Box<Ty>),
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Dyn => f.write_str("dyn"),
            Ty::Null => f.write_str("null"),
            Ty::Bool => f.write_str("bool"),
            Ty::Int => f.write_str("int"),
            Ty::Uint => f.write_str("uint"),
            Ty::Double => f.write_str("double"),
            Ty::String => f.write_str("string"),
            Ty::Bytes => f.write_str("bytes"),
            Ty::Timestamp => f.write_str("timestamp"),
            Ty::Duration => f.write_str("duration"),
            Ty::List(element) => write!(f, "list({element})"),
            Ty::Map(key, value) => write!(f, "map({key}, {value})"),
        }
    }
}

impl Ty {
    fn string_map() -> Ty {
        Ty::Map(Box::new(Ty::String), Box::new(Ty::Dyn))
    }

    /// Whether a value of type `self` may be passed where `other` is expected, or the two
    /// compared: equal types, `dyn` on either side, containers whose parameters agree so.
    fn agrees(&self, other: &Ty) -> bool {
        match (self, other) {
            (Ty::Dyn, _) | (_, Ty::Dyn) => true,
            (Ty::List(a), Ty::List(b)) => a.agrees(b),
            (Ty::Map(ka, va), Ty::Map(kb, vb)) => ka.agrees(kb) && va.agrees(vb),
            (a, b) => a == b,
        }
    }

    /// One type for several values (list elements, map keys): theirs when all agree exactly,
    /// else `dyn`, as cel-go's literal typing does.
    fn join(types: impl IntoIterator<Item = Ty>) -> Ty {
        let mut types = types.into_iter();
        let Some(first) = types.next() else {
            return Ty::Dyn;
        };
        if types.all(|t| t == first) {
            first
        } else {
            Ty::Dyn
        }
    }
}

/// Type problems of `program`, in source order (see the module docs).
pub(crate) fn check_types(program: &::cel::Program, source: &str) -> Vec<Issue> {
    let mut typer = Typer {
        program,
        source,
        scope: Vec::new(),
        depths: Vec::new(),
        issues: Vec::new(),
    };
    walk(program.expression(), &mut typer);
    typer.issues.sort_by_key(|issue| (issue.line, issue.column));
    typer.issues
}

struct Typer<'a> {
    program: &'a ::cel::Program,
    source: &'a str,
    /// Comprehension variables in scope with their types, innermost last.
    scope: Vec<(&'a str, Ty)>,
    /// The length of `scope` outside each comprehension being walked, innermost last.
    depths: Vec<usize>,
    issues: Vec<Issue>,
}

/// Types are inferred bottom-up: each node's from its children's.
impl<'a> Visitor<'a> for Typer<'a> {
    type Out = Ty;

    fn bind(&mut self, c: &'a ComprehensionExpr, range: &Ty, accu: &Ty) {
        self.depths.push(self.scope.len());
        let element = match range {
            Ty::List(element) => (**element).clone(),
            Ty::Map(key, _) => (**key).clone(),
            _ => Ty::Dyn,
        };
        match &c.iter_var2 {
            None => self.scope.push((&c.iter_var, element)),
            Some(second) => {
                self.scope.push((&c.iter_var, Ty::Dyn));
                self.scope.push((second, Ty::Dyn));
            }
        }
        // NB: the accumulator of `map`/`filter` starts as `[]`; its elements stay `dyn`, so a
        // list built by `map` is never compared by element type (cel-go would).
        let accu = match accu {
            Ty::List(_) => Ty::List(Box::new(Ty::Dyn)),
            other => other.clone(),
        };
        self.scope.push((&c.accu_var, accu));
    }

    fn leave(&mut self, e: &'a IdedExpr, children: Vec<Ty>) -> Ty {
        let mut children = children.into_iter();
        match &e.expr {
            Expr::Unspecified | Expr::Struct(_) => Ty::Dyn,
            Expr::Literal(literal) => match literal {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Bytes(_) => Ty::Bytes,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::Int(_) => Ty::Int,
                LiteralValue::Null => Ty::Null,
                LiteralValue::String(_) => Ty::String,
                LiteralValue::UInt(_) => Ty::Uint,
            },
            Expr::Ident(name) => self.ident(name),
            Expr::Select(select) => {
                let operand = children.next().unwrap_or_default();
                if select.test {
                    Ty::Bool
                } else {
                    match operand {
                        Ty::Map(_, value) => *value,
                        _ => Ty::Dyn,
                    }
                }
            }
            Expr::List(_) => Ty::List(Box::new(Ty::join(children))),
            Expr::Map(map) => {
                let mut keys = Vec::new();
                let mut values = Vec::new();
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(_) => {
                            keys.push(children.next().unwrap_or_default());
                            values.push(children.next().unwrap_or_default());
                        }
                        EntryExpr::StructField(_) => {
                            children.next();
                        }
                    }
                }
                Ty::Map(Box::new(Ty::join(keys)), Box::new(Ty::join(values)))
            }
            Expr::Comprehension(_) => {
                if let Some(depth) = self.depths.pop() {
                    self.scope.truncate(depth);
                }
                children.last().unwrap_or_default()
            }
            Expr::Call(call) => {
                let target = call
                    .target
                    .as_deref()
                    .map(|t| (t, children.next().unwrap_or_default()));
                let args: Vec<Ty> = children.collect();
                if matches!(call.func_name.as_str(), "_&&_" | "_||_") {
                    self.expect_bools(&call.args, &args);
                    return Ty::Bool;
                }
                if matches!(call.func_name.as_str(), "_<_" | "_<=_" | "_>_" | "_>=_")
                    && call.args.iter().any(|a| self.mentions_loop_variable(a))
                {
                    // NB: cel-go accepts `[1, 2].exists(x, x > 1.5)` while it rejects
                    // `x == 1.5` and `[1][0] > 1.5`: an ordering involving a comprehension
                    // variable is left to evaluation, as there.
                    return Ty::Bool;
                }
                self.call(e.id, &call.func_name, target, &args)
            }
        }
    }
}

/// Whether an expression reads one of `scope`'s variables through selects, calls and lists.
struct Mentions<'s, 'a> {
    scope: &'s [(&'a str, Ty)],
    found: bool,
}

impl<'a> Visitor<'a> for Mentions<'_, 'a> {
    type Out = ();

    fn visit(&mut self, e: &'a IdedExpr, _bound: &[&'a str]) -> Next {
        match &e.expr {
            Expr::Ident(name) => {
                self.found |= self.scope.iter().any(|(n, _)| n == name);
                Next::Skip
            }
            Expr::Select(_) | Expr::Call(_) | Expr::List(_) if !self.found => Next::Children,
            _ => Next::Skip,
        }
    }
}

impl<'a> Typer<'a> {
    /// cel-go's check of `&&` and `||` operands: `expected type 'bool' but found 'int'`, at the
    /// operand.
    fn expect_bools(&mut self, operands: &[IdedExpr], types: &[Ty]) {
        for (operand, ty) in operands.iter().zip(types) {
            if !ty.agrees(&Ty::Bool) {
                self.issue(operand.id, format!("expected type 'bool' but found '{ty}'"));
            }
        }
    }

    /// Whether `e` reads a comprehension variable in scope.
    fn mentions_loop_variable(&self, e: &'a IdedExpr) -> bool {
        let mut mentions = Mentions {
            scope: &self.scope,
            found: false,
        };
        walk(e, &mut mentions);
        mentions.found
    }

    fn ident(&self, name: &str) -> Ty {
        if let Some((_, ty)) = self.scope.iter().rev().find(|(n, _)| *n == name) {
            return ty.clone();
        }
        match name {
            "body" | "header" | "extensions" => Ty::string_map(),
            "requestURL" => Ty::String,
            _ => Ty::Dyn,
        }
    }

    fn call(&mut self, id: u64, name: &str, target: Option<(&IdedExpr, Ty)>, args: &[Ty]) -> Ty {
        use Ty::{Bool, Double, Duration, Dyn, Int, List, Map, String, Timestamp, Uint};
        let known = |t: &Ty| *t != Dyn;
        match (name, args) {
            ("!_", [a]) => {
                if known(a) && *a != Bool {
                    self.no_overload(id, name, None, args);
                }
                Bool
            }
            ("_==_" | "_!=_", [a, b]) => {
                if !a.agrees(b) {
                    self.no_overload(id, name, None, args);
                }
                Bool
            }
            ("_<_" | "_<=_" | "_>_" | "_>=_", [a, b]) => {
                let orderable = matches!(
                    a,
                    Bool | Int | Uint | Double | String | Ty::Bytes | Timestamp | Duration
                );
                if known(a) && known(b) && (a != b || !orderable) {
                    self.no_overload(id, name, None, args);
                }
                Bool
            }
            ("_+_" | "_-_" | "_*_" | "_/_" | "_%_", [a, b]) => {
                if !known(a) || !known(b) {
                    return Dyn;
                }
                let result = match (name, a, b) {
                    (_, Int, Int) | (_, Uint, Uint) => Some(a.clone()),
                    ("_+_" | "_-_" | "_*_" | "_/_", Double, Double) => Some(Double),
                    ("_+_", String, String) => Some(String),
                    ("_+_", Ty::Bytes, Ty::Bytes) => Some(Ty::Bytes),
                    ("_+_", List(x), List(y)) => {
                        Some(List(Box::new(Ty::join([(**x).clone(), (**y).clone()]))))
                    }
                    ("_+_", Timestamp, Duration) | ("_+_", Duration, Timestamp) => Some(Timestamp),
                    ("_+_" | "_-_", Duration, Duration) => Some(Duration),
                    ("_-_", Timestamp, Timestamp) => Some(Duration),
                    ("_-_", Timestamp, Duration) => Some(Timestamp),
                    _ => None,
                };
                result.unwrap_or_else(|| {
                    self.no_overload(id, name, None, args);
                    Dyn
                })
            }
            ("-_", [a]) => match a {
                Int | Double => a.clone(),
                Dyn => Dyn,
                _ => {
                    self.no_overload(id, name, None, args);
                    Dyn
                }
            },
            ("_?_:_", [condition, yes, no]) => {
                let null = *yes == Ty::Null || *no == Ty::Null;
                if (known(condition) && *condition != Bool) || (!null && !yes.agrees(no)) {
                    self.no_overload(id, name, None, args);
                    Dyn
                } else if yes == no {
                    yes.clone()
                } else {
                    Dyn
                }
            }
            ("_[_]", [container, index]) => match container {
                List(element) => {
                    if known(index) && !matches!(index, Int | Uint) {
                        self.no_overload(id, name, None, args);
                    }
                    (**element).clone()
                }
                Map(key, value) => {
                    if !index.agrees(key) {
                        self.no_overload(id, name, None, args);
                    }
                    (**value).clone()
                }
                Dyn => Dyn,
                _ => {
                    self.no_overload(id, name, None, args);
                    Dyn
                }
            },
            ("@in", [element, container]) => {
                let fits = match container {
                    List(item) => element.agrees(item),
                    Map(key, _) => element.agrees(key),
                    Dyn => true,
                    _ => false,
                };
                if !fits {
                    self.no_overload(id, name, None, args);
                }
                Bool
            }
            ("@not_strictly_false", _) => Bool,
            _ => self.function(id, name, target, args),
        }
    }

    /// A function call: its arguments checked against our table's overloads (and the few
    /// standard string functions), its result type where it is certain.
    fn function(
        &mut self,
        id: u64,
        name: &str,
        target: Option<(&IdedExpr, Ty)>,
        args: &[Ty],
    ) -> Ty {
        use Ty::{Bool, Double, Dyn, Int, String, Uint};
        let receiver = target.as_ref().map(|(_, ty)| ty.clone());
        let style = if receiver.is_some() {
            Style::Member
        } else {
            Style::Global
        };
        // `sets.contains(…)` parses as a member call on the identifier `sets`.
        let (name, receiver, style) = match (&target, style) {
            (Some((t, _)), Style::Member) if self.is_namespace(t, name) => {
                (qualified(t, name), None, Style::Global)
            }
            _ => (name.to_owned(), receiver, style),
        };
        let all: Vec<Ty> = receiver
            .iter()
            .cloned()
            .chain(args.iter().cloned())
            .collect();
        let ours: Vec<_> = overloads()
            .iter()
            .filter(|o| o.name == name && o.style == style && o.params.len() == all.len())
            .collect();
        if !ours.is_empty() {
            let fits = ours.iter().any(|o| {
                o.params
                    .iter()
                    .zip(&all)
                    .all(|(param, arg)| param_accepts(param.kind(), arg))
            });
            if !fits {
                self.no_overload(id, &name, receiver.as_ref(), args);
            }
        }
        if matches!(
            (name.as_str(), style),
            ("startsWith" | "endsWith" | "contains", Style::Member)
        ) && !all.iter().all(|t| t.agrees(&String))
        {
            self.no_overload(id, &name, receiver.as_ref(), args);
        }
        if self.standard_mismatch(&name, style, &all) {
            self.no_overload(id, &name, receiver.as_ref(), args);
        }
        match (name.trim_start_matches('@'), style) {
            ("math.ceil" | "math.floor" | "math.round" | "math.trunc", Style::Global) => Double,
            ("math.isInf" | "math.isNaN" | "math.isFinite", Style::Global) => Bool,
            ("size", _) | ("indexOf" | "lastIndexOf", Style::Member) | ("int", _) => Int,
            ("uint", _) => Uint,
            ("double", _) => Double,
            ("bool", _)
            | ("startsWith" | "endsWith" | "contains" | "matches" | "match", _)
            | ("compareSecret", _)
            | ("sets.contains" | "sets.equivalent" | "sets.intersects", _) => Bool,
            ("string" | "json.encode" | "base64.encode" | "strings.quote", Style::Global)
            | (
                "canonical" | "truncate" | "translate" | "marshalJSON" | "lowerAscii"
                | "upperAscii" | "trim" | "replace" | "substring" | "charAt" | "format" | "join",
                Style::Member,
            ) => String,
            ("bytes" | "base64.decode", Style::Global) => Ty::Bytes,
            ("timestamp", Style::Global) => Ty::Timestamp,
            ("duration", Style::Global) => Ty::Duration,
            ("parseJSON" | "parseYAML" | "parseURL", Style::Member) => Ty::string_map(),
            ("split", Style::Member) => Ty::List(Box::new(String)),
            _ => Dyn,
        }
    }

    /// Whether a call of a standard or extension function has no overload for arguments of
    /// known types: `string` of a list or map, `sets.*` of lists whose elements disagree, and
    /// `math` functions that take a `double` only.
    fn standard_mismatch(&self, name: &str, style: Style, args: &[Ty]) -> bool {
        match (name, style, args) {
            ("@string", Style::Global, [Ty::List(_) | Ty::Map(..)]) => true,
            (
                "sets.contains" | "sets.equivalent" | "sets.intersects",
                Style::Global,
                [Ty::List(a), Ty::List(b)],
            ) => !a.agrees(b),
            (
                "math.ceil" | "math.floor" | "math.round" | "math.trunc" | "math.isInf"
                | "math.isNaN" | "math.isFinite",
                Style::Global,
                [arg],
            ) => !arg.agrees(&Ty::Double),
            _ => false,
        }
    }

    /// Whether `target.name` spells a namespaced function (`sets.contains`, `math.ceil`).
    fn is_namespace(&self, target: &IdedExpr, name: &str) -> bool {
        match &target.expr {
            Expr::Ident(namespace) => {
                !self.scope.iter().any(|(n, _)| n == namespace)
                    && !super::env::VARIABLES.contains(&namespace.as_str())
                    && !name.is_empty()
            }
            _ => false,
        }
    }

    fn no_overload(&mut self, id: u64, name: &str, receiver: Option<&Ty>, args: &[Ty]) {
        let list = args
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        // `@in` is cel-go's own name; the other `@` names are our rewrites of what was written.
        let name = if name == "@in" {
            name
        } else {
            name.trim_start_matches('@')
        };
        let applied = match receiver {
            Some(receiver) => format!("{receiver}.({list})"),
            None => format!("({list})"),
        };
        self.issue(
            id,
            format!("found no matching overload for '{name}' applied to '{applied}'"),
        );
    }

    fn issue(&mut self, id: u64, message: String) {
        self.issues.push(super::check::issue_at(
            self.program,
            self.source,
            id,
            message,
        ));
    }
}

/// `namespace.name` of a call on a bare identifier.
fn qualified(target: &IdedExpr, name: &str) -> String {
    match &target.expr {
        Expr::Ident(namespace) => format!("{namespace}.{name}"),
        _ => name.to_owned(),
    }
}

/// Whether a parameter of our table, of kind `param`, accepts an argument of type `arg`.
fn param_accepts(param: Kind, arg: &Ty) -> bool {
    match (param, arg) {
        (_, Ty::Dyn) | (Kind::Dyn, _) => true,
        (Kind::String, Ty::String)
        | (Kind::Int, Ty::Int)
        | (Kind::List, Ty::List(_))
        | (Kind::Map, Ty::Map(..)) => true,
        (Kind::String | Kind::Int | Kind::List | Kind::Map, _) => false,
        // The hidden Secrets parameter and any kind we do not model.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::env::environment;
    use super::*;

    fn issues(source: &str) -> Vec<(usize, usize, String)> {
        let program = environment().parse(source).expect("parses");
        check_types(&program, source)
            .into_iter()
            .map(|i| (i.line, i.column, i.message))
            .collect()
    }

    /// Each case's position and message as upstream's cel-eval printed its check error.
    #[test]
    fn statically_known_mismatches_are_rejected_as_cel_go_rejects_them() {
        for (source, column, message) in [
            ("1.5 > 1", 5, "'_>_' applied to '(double, int)'"),
            ("1 == 1.0", 3, "'_==_' applied to '(int, double)'"),
            ("1 != 1.0", 3, "'_!=_' applied to '(int, double)'"),
            (
                "size(body.list) == 1.0",
                17,
                "'_==_' applied to '(int, double)'",
            ),
            (
                "body.s.size() + 1.0",
                15,
                "'_+_' applied to '(int, double)'",
            ),
            ("1 + 2 * 3.0", 7, "'_*_' applied to '(int, double)'"),
            ("1 - 1u", 3, "'_-_' applied to '(int, uint)'"),
            ("'a' + 1", 5, "'_+_' applied to '(string, int)'"),
            ("b'a' + 'a'", 6, "'_+_' applied to '(bytes, string)'"),
            ("1 == null", 3, "'_==_' applied to '(int, null)'"),
            (
                "[1] == [1.0]",
                5,
                "'_==_' applied to '(list(int), list(double))'",
            ),
            ("1 in [1.0]", 3, "'@in' applied to '(int, list(double))'"),
            (
                "true ? 1 : 1.0",
                6,
                "'_?_:_' applied to '(bool, int, double)'",
            ),
            ("{'a': 1}.a == 1.0", 12, "'_==_' applied to '(int, double)'"),
            (
                "int(body.n) == 1.0",
                13,
                "'_==_' applied to '(int, double)'",
            ),
            ("string(1) == 1", 11, "'_==_' applied to '(string, int)'"),
            (
                "false && (1 == 1.0)",
                13,
                "'_==_' applied to '(int, double)'",
            ),
            (
                "[1,2].map(x, x + 1.0)",
                16,
                "'_+_' applied to '(int, double)'",
            ),
            ("-1u", 1, "'-_' applied to '(uint)'"),
            ("'abc'[0]", 6, "'_[_]' applied to '(string, int)'"),
            (
                "timestamp('2024-01-01T00:00:00Z') < 1",
                35,
                "'_<_' applied to '(timestamp, int)'",
            ),
            (
                "duration('1s') + 1",
                16,
                "'_+_' applied to '(duration, int)'",
            ),
            (
                "body.s.truncate('a')",
                16,
                "'truncate' applied to 'dyn.(string)'",
            ),
            (
                "header.match(1, 'a')",
                13,
                "'match' applied to 'map(string, dyn).(int, string)'",
            ),
            (
                "'x'.startsWith(1)",
                15,
                "'startsWith' applied to 'string.(int)'",
            ),
            (
                "[1, 2].exists(x, x == 1.0)",
                20,
                "'_==_' applied to '(int, double)'",
            ),
            (
                "{'a': 1}.exists(k, k == 1)",
                22,
                "'_==_' applied to '(string, int)'",
            ),
            ("[1, 2][1.0]", 7, "'_[_]' applied to '(list(int), double)'"),
            (
                "{'a': 1}[1]",
                9,
                "'_[_]' applied to '(map(string, int), int)'",
            ),
            ("!1", 1, "'!_' applied to '(int)'"),
            ("string([])", 7, "'string' applied to '(list(dyn))'"),
            (
                "string({'a': 1})",
                7,
                "'string' applied to '(map(string, int))'",
            ),
            (
                "sets.equivalent(['a'], [1])",
                16,
                "'sets.equivalent' applied to '(list(string), list(int))'",
            ),
            ("math.floor(1u)", 11, "'math.floor' applied to '(uint)'"),
            ("math.isNaN(1)", 11, "'math.isNaN' applied to '(int)'"),
            ("1 ? 1 : 2", 3, "'_?_:_' applied to '(int, int, int)'"),
        ] {
            assert_eq!(
                issues(source),
                [(
                    1,
                    column,
                    format!("found no matching overload for {message}")
                )],
                "{source}"
            );
        }
    }

    #[test]
    fn and_or_operands_must_be_bool() {
        assert_eq!(
            issues("1 && true"),
            [(1, 1, "expected type 'bool' but found 'int'".to_owned())]
        );
    }

    /// Each accepted by upstream's checker too.
    #[test]
    fn dyn_operands_and_agreeing_types_pass() {
        for source in [
            "body.n == 1",
            "body.n + 1.0 > 2",
            "body.n == null",
            "dyn(1) == 1.0",
            "[1, 'a'][0] == 1.0",
            "[1, 'a'] == [1]",
            "[] == [1.0]",
            "{} == {'a': 1}",
            "size(body) + 1 > 2",
            "1 in body.list",
            "'a' < 'b' && true < false",
            "body.list.map(x, 1).size() == 1",
            "type(1) == int",
            "header.match('X-A', 'b') && header.canonical('x-a') == 'b'",
            "body.sha.truncate(7) + 'x' == requestURL",
            "sets.contains(body.labels, ['ci']) && [1, 2].exists(x, x > 1)",
            "timestamp('2024-01-01T00:00:00Z') + duration('1h') > timestamp(body.t)",
            "'a,b'.split(',').size() == 2 && 'ab'.indexOf('b', 1) == 1",
            "[1, 2].filter(x, x > 1.5) == [2]",
            "{1: 'a'}.all(k, k > 1.0)",
            "[[1], [1.0]][0] == [1.0]",
            "{'a': 1, 'b': 'x'}.a == 1.0",
            "sets.intersects([1], body.list) && math.round(body.n) > 1.0",
            "math.ceil(1.5) == 2.0 && math.isNaN(0.0 / 0.0) == false",
            "body.list.filter(x, x > 1).all(y, y != 'a')",
        ] {
            assert_eq!(issues(source), [], "{source}");
        }
    }
}
