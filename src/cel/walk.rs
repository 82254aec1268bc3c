//! The one pre-order walk over a parsed expression that the load-time passes share: the name
//! check (`check.rs`) and the body-path extraction (`paths.rs`). It visits each node before its
//! children, children in source order (a call's target, then its arguments), and keeps the
//! comprehension variables in scope: a comprehension's range and initial accumulator see the
//! enclosing scope, its condition, step and result also see its iteration variable(s) and its
//! accumulator, as in evaluation. A struct literal's fields are not visited (no pass reads them:
//! the check refuses the literal as a whole).

use ::cel::IdedExpr;
use ::cel::common::ast::{EntryExpr, Expr};

/// What to do after visiting a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Visit its children.
    Children,
    /// Visit a call's arguments but not its target (a namespace such as `sets` in
    /// `sets.contains(a, b)`); for any other node, as [`Next::Children`].
    ArgumentsOnly,
    /// Visit none of its children.
    Skip,
}

/// One pass over an expression.
pub(crate) trait Visitor<'a> {
    /// Called on `e` before its children, with the comprehension variables in scope
    /// (innermost last).
    fn visit(&mut self, e: &'a IdedExpr, bound: &[&'a str]) -> Next;
}

/// Walks `e` with `visitor`.
pub(crate) fn walk<'a>(e: &'a IdedExpr, visitor: &mut impl Visitor<'a>) {
    let mut bound = Vec::new();
    walk_in(e, visitor, &mut bound);
}

fn walk_in<'a>(e: &'a IdedExpr, visitor: &mut impl Visitor<'a>, bound: &mut Vec<&'a str>) {
    let next = visitor.visit(e, bound);
    if next == Next::Skip {
        return;
    }
    match &e.expr {
        Expr::Unspecified | Expr::Literal(_) | Expr::Ident(_) | Expr::Struct(_) => {}
        Expr::Select(select) => walk_in(&select.operand, visitor, bound),
        Expr::Call(call) => {
            if let (Some(target), Next::Children) = (&call.target, next) {
                walk_in(target, visitor, bound);
            }
            for arg in &call.args {
                walk_in(arg, visitor, bound);
            }
        }
        Expr::List(list) => {
            for element in &list.elements {
                walk_in(element, visitor, bound);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                match &entry.expr {
                    EntryExpr::MapEntry(entry) => {
                        walk_in(&entry.key, visitor, bound);
                        walk_in(&entry.value, visitor, bound);
                    }
                    EntryExpr::StructField(field) => walk_in(&field.value, visitor, bound),
                }
            }
        }
        Expr::Comprehension(c) => {
            walk_in(&c.iter_range, visitor, bound);
            walk_in(&c.accu_init, visitor, bound);
            let depth = bound.len();
            bound.push(&c.iter_var);
            if let Some(second) = &c.iter_var2 {
                bound.push(second);
            }
            bound.push(&c.accu_var);
            walk_in(&c.loop_cond, visitor, bound);
            walk_in(&c.loop_step, visitor, bound);
            // NB: cel-go binds only the accumulator in `result`; binding the iteration
            // variables too is harmless, as the macros never reference them there.
            walk_in(&c.result, visitor, bound);
            bound.truncate(depth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every identifier reached, with the variables bound there.
    struct Idents(Vec<(String, Vec<String>)>);

    impl<'a> Visitor<'a> for Idents {
        fn visit(&mut self, e: &'a IdedExpr, bound: &[&'a str]) -> Next {
            if let Expr::Ident(name) = &e.expr {
                let bound = bound.iter().map(|b| (*b).to_owned()).collect();
                self.0.push((name.clone(), bound));
            }
            Next::Children
        }
    }

    #[test]
    fn comprehension_variables_are_bound_in_the_loop_only_and_targets_come_first() {
        let program = ::cel::Program::compile("a.f(b) && c.exists(x, x == d) && x").unwrap();
        let mut idents = Idents(Vec::new());
        walk(program.expression(), &mut idents);
        let names: Vec<(&str, bool)> = idents
            .0
            .iter()
            .filter(|(name, _)| !name.starts_with('@') && !name.starts_with("__"))
            .map(|(name, bound)| (name.as_str(), bound.iter().any(|b| b == "x")))
            .collect();
        assert_eq!(
            names,
            [
                ("a", false),
                ("b", false),
                ("c", false),
                ("x", true),
                ("d", true),
                ("x", false)
            ]
        );
    }
}
