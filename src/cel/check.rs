//! The load-time check upstream gets from cel-go's type checker (`env.Check`, upstream
//! `pkg/interceptors/cel/cel.go` `evaluate`), which the `cel` crate lacks: without it
//! `false && nope(1)` would evaluate to `false` and the typo would only surface on the event that
//! takes the other branch.
//!
//! Names first: every function called must be one `env.rs` declares, in the call style used
//! (`s.truncate(7)`, not `truncate(s, 7)`) and with an argument count it accepts; every free
//! identifier must be one of the four variables (or a type name such as `int`); comprehension
//! variables (`c` in `body.commits.exists(c, …)`) are bound in their body only. When every name
//! is known, `typing.rs` checks the types it can know from the expression alone (`1 + 'a'`,
//! `1 == 1.0`); a type error involving `body` (`body.n + 1`) remains an evaluation error, as
//! `body` is `map(string, dyn)` upstream too.

use ::cel::IdedExpr;
use ::cel::common::ast::Expr;

use super::Issue;
use super::env::{Environment, Style, VARIABLES};
use super::walk::{Next, Visitor, walk};

/// What the check found.
pub(crate) struct Checked {
    /// Every problem, in source order; empty when the program may be evaluated.
    pub(crate) issues: Vec<Issue>,
    /// `(secret name, key)` of every `compareSecret` call whose name and key are string
    /// literals, so their Secrets can be fetched before evaluating.
    pub(crate) secret_refs: Vec<(String, String)>,
}

/// Checks `program` (see the module docs).
pub(crate) fn check(program: &::cel::Program, source: &str, env: &Environment) -> Checked {
    let mut checker = Checker {
        env,
        program,
        source,
        issues: Vec::new(),
        secret_refs: Vec::new(),
    };
    walk(program.expression(), &mut checker);
    if checker.issues.is_empty() {
        // Types only once every name is known, so that one typo is one problem.
        checker.issues = super::typing::check_types(program, source);
    }
    checker
        .issues
        .sort_by_key(|issue| (issue.line, issue.column));
    Checked {
        issues: checker.issues,
        secret_refs: checker.secret_refs,
    }
}

struct Checker<'a> {
    env: &'a Environment,
    program: &'a ::cel::Program,
    source: &'a str,
    issues: Vec<Issue>,
    secret_refs: Vec<(String, String)>,
}

impl<'a> Visitor<'a> for Checker<'a> {
    type Out = ();

    fn visit(&mut self, e: &'a IdedExpr, bound: &[&'a str]) -> Next {
        match &e.expr {
            Expr::Ident(name) => {
                self.ident(e.id, name, bound);
                Next::Children
            }
            // `google.protobuf.Timestamp` and the like name a type as a whole.
            Expr::Select(select) if !select.test && self.spells_type(e) => Next::Skip,
            Expr::Call(call) => {
                let name = call.func_name.as_str();
                if name == super::functions::secret::FUNCTION {
                    self.secret_ref(&call.args);
                }
                match &call.target {
                    None => {
                        if !self.env.is_operator(name) {
                            self.function(e.id, name, Style::Global, call.args.len());
                        }
                        Next::Children
                    }
                    Some(target) => self.member_call(e.id, target, name, call.args.len(), bound),
                }
            }
            Expr::Struct(s) => {
                self.issue(e.id, format!("undeclared reference to '{}'", s.type_name));
                Next::Skip
            }
            _ => Next::Children,
        }
    }
}

impl Checker<'_> {
    /// Records `(name, key)` of `@compareSecret(value, key, name, …)` when both are literals.
    fn secret_ref(&mut self, args: &[IdedExpr]) {
        let literal = |e: Option<&IdedExpr>| match e.map(|e| &e.expr) {
            Some(Expr::Literal(::cel::common::ast::LiteralValue::String(s))) => {
                Some(s.inner().to_owned())
            }
            _ => None,
        };
        if let (Some(key), Some(name)) = (literal(args.get(1)), literal(args.get(2))) {
            let secret_ref = (name, key);
            if !self.secret_refs.contains(&secret_ref) {
                self.secret_refs.push(secret_ref);
            }
        }
    }

    fn ident(&mut self, id: u64, name: &str, bound: &[&str]) {
        let known = bound.contains(&name) || VARIABLES.contains(&name) || self.env.is_type(name);
        if !known {
            self.issue(id, undeclared(name));
        }
    }

    /// Checks `target.name(…)`: a call of the global function `ns.name` when `target` spells a
    /// namespace (`sets.contains(a, b)`, `math.ceil(x)`), whose target is then not an
    /// expression to visit, else a member call on `target`.
    fn member_call(
        &mut self,
        id: u64,
        target: &IdedExpr,
        name: &str,
        arity: usize,
        bound: &[&str],
    ) -> Next {
        let namespace = qualified_name(target).filter(|prefix| {
            let root = prefix.split('.').next().unwrap_or_default();
            !bound.contains(&root) && !VARIABLES.contains(&root)
        });
        if let Some(namespace) = namespace {
            let qualified = format!("{namespace}.{name}");
            if self.env.function(&qualified).is_some() {
                self.function(id, &qualified, Style::Global, arity);
                return Next::ArgumentsOnly;
            }
            let is_member = self
                .env
                .function(name)
                .is_some_and(|declared| !declared.member.is_empty());
            if !is_member && !self.env.is_type(&namespace) {
                // `nope.f()` or `sets.nope()`: one unknown name, not two.
                self.issue(id, undeclared(&qualified));
                return Next::ArgumentsOnly;
            }
        }
        self.function(id, name, Style::Member, arity);
        Next::Children
    }

    fn spells_type(&self, e: &IdedExpr) -> bool {
        qualified_name(e).is_some_and(|name| self.env.is_type(&name))
    }

    /// Checks a call of `name` in `style` with `arity` arguments.
    fn function(&mut self, id: u64, name: &str, style: Style, arity: usize) {
        let Some(declared) = self.env.function(name) else {
            self.issue(id, undeclared(name));
            return;
        };
        let arities = declared.arities(style);
        if arities.contains(&arity) {
            return;
        }
        let message = match style {
            _ if !arities.is_empty() => format!(
                "found no matching overload for '{name}' with {arity} argument(s): it takes {}",
                counts(arities)
            ),
            Style::Global => format!(
                "found no matching overload for '{name}' applied as a global function: \
                 it is a member function, write <value>.{name}(…)"
            ),
            Style::Member => format!(
                "found no matching overload for '{name}' applied as a member function: \
                 it is a global function, write {name}(…)"
            ),
        };
        self.issue(id, message);
    }

    fn issue(&mut self, id: u64, message: String) {
        self.issues
            .push(issue_at(self.program, self.source, id, message));
    }
}

/// The [`Issue`] `message` at the node `id` of `program` (compiled from `source`).
pub(crate) fn issue_at(program: &::cel::Program, source: &str, id: u64, message: String) -> Issue {
    let offset = program
        .source_info()
        .offset_for(id)
        .map_or(0, |(start, _)| start as usize);
    let (line, column) = line_column(source, offset);
    Issue {
        line,
        column,
        message,
    }
}

fn undeclared(name: &str) -> String {
    format!("undeclared reference to '{name}' (in container '')")
}

/// `[1, 2]` as `1 or 2`.
fn counts(arities: &[usize]) -> String {
    let mut sorted = arities.to_vec();
    sorted.sort_unstable();
    let words: Vec<String> = sorted.iter().map(ToString::to_string).collect();
    words.join(" or ")
}

/// `a.b.c` as the text `"a.b.c"`, when the expression is only identifiers and field selections.
fn qualified_name(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Expr::Ident(name) => Some(name.clone()),
        Expr::Select(select) if !select.test => {
            qualified_name(&select.operand).map(|prefix| format!("{prefix}.{}", select.field))
        }
        _ => None,
    }
}

/// The 1-based line and column (in characters, as cel-go counts) of byte `offset` in `source`.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::super::env::environment;
    use super::*;

    fn issues(source: &str) -> Vec<(usize, usize, String)> {
        let env = environment();
        let program = env.parse(source).expect("parses");
        check(&program, source, env)
            .issues
            .into_iter()
            .map(|i| (i.line, i.column, i.message))
            .collect()
    }

    fn accepted(source: &str) {
        assert_eq!(issues(source), [], "{source}");
    }

    #[test]
    fn tekton_style_expressions_are_accepted() {
        for source in [
            "header.match('X-GitHub-Event', 'pull_request') && body.action in ['opened']",
            "body.commits.exists(c, c.message.contains('[skip ci]'))",
            "body.head_commit.id.truncate(7)",
            "requestURL.startsWith('/') || extensions.x == 1",
            "sets.contains(body.labels.map(l, l.name), ['ci'])",
            "math.greatest(1, 2, body.n) > math.ceil(1.5)",
            "[3, 1].sortBy(x, -x).first()",
            "type(body) == map && int(body.n) + 1 > 2",
            "base64.decode(body.b).size() > 0 && strings.quote('x') != ''",
            "body.title.matches('^a') && matches(body.title, 'a$')",
            "lists.range(3).all(i, i < 3) && [1, 2].map(x, x > 1, x * 2) == [4]",
            "has(body.pull_request.merged) && body.commits.exists_one(c, c.id == 'a')",
        ] {
            accepted(source);
        }
    }

    #[test]
    fn unknown_functions_are_rejected_with_their_position_even_when_unreachable() {
        assert_eq!(
            issues("false && nope(1)"),
            [(
                1,
                14,
                "undeclared reference to 'nope' (in container '')".to_owned()
            )]
        );
        assert_eq!(
            issues("true ||\n  body.x.nope()"),
            [(
                2,
                14,
                "undeclared reference to 'nope' (in container '')".to_owned()
            )]
        );
    }

    #[test]
    fn a_member_function_called_globally_is_rejected() {
        let found = issues("truncate(body.sha, 7)");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].0, found[0].1), (1, 9));
        assert!(
            found[0].2.contains("it is a member function"),
            "{}",
            found[0].2
        );
        assert!(issues("'x'.int()")[0].2.contains("it is a global function"));
    }

    #[test]
    fn a_wrong_argument_count_is_rejected() {
        let found = issues("header.match('X-A')");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].2.contains("with 1 argument(s): it takes 2"),
            "{}",
            found[0].2
        );
    }

    #[test]
    fn unknown_identifiers_are_rejected_but_comprehension_variables_are_not() {
        assert_eq!(
            issues("bodyy.x == 1"),
            [(
                1,
                1,
                "undeclared reference to 'bodyy' (in container '')".to_owned()
            )]
        );
        accepted("body.list.exists(x, body.list.all(y, x == y))");
        let found = issues("body.list.exists(x, x == 1) && x == 2");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].2.contains("'x'"));
    }

    #[test]
    fn unknown_namespaces_and_struct_literals_are_rejected() {
        assert_eq!(
            issues("sets.nope([1], [1])"),
            [(
                1,
                10,
                "undeclared reference to 'sets.nope' (in container '')".to_owned()
            )]
        );
        assert_eq!(issues("math.greatest(1) + nope.x").len(), 1);
        assert_eq!(issues("Foo{a: 1}").len(), 1);
    }

    #[test]
    fn every_problem_is_reported_in_source_order() {
        let found = issues("b(1) + a(2)");
        assert_eq!(
            found.iter().map(|i| i.1).collect::<Vec<_>>(),
            [2, 9],
            "{found:?}"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(line_column("'é' + x", 7), (1, 7));
        assert_eq!(line_column("a\nbc", 3), (2, 2));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
