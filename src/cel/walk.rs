//! The one walk over a parsed expression that every load-time pass shares: the name check
//! (`check.rs`), the body-path extraction (`paths.rs`) and the type check (`typing.rs`). It
//! calls [`Visitor::visit`] on each node before its children (pre-order, which may skip them)
//! and [`Visitor::leave`] after them with what the children yielded (post-order, a fold);
//! children in source order (a select's operand; a call's target, then its arguments; list
//! elements; map keys and values in turn; a comprehension's range, initial accumulator,
//! condition, step and result). It keeps the comprehension variables in scope: a
//! comprehension's range and initial accumulator see the enclosing scope, its condition, step
//! and result also see its iteration variable(s) and its accumulator, as in evaluation
//! ([`Visitor::bind`] is told when they come into scope). A struct literal's fields are not
//! visited (no pass reads them: the check refuses the literal as a whole).

use ::cel::IdedExpr;
use ::cel::common::ast::{ComprehensionExpr, EntryExpr, Expr};

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
    /// What a node yields to its parent (`()` for passes that only look).
    type Out: Default;

    /// Called on `e` before its children, with the comprehension variables in scope
    /// (innermost last).
    fn visit(&mut self, e: &'a IdedExpr, bound: &[&'a str]) -> Next {
        let _ = (e, bound);
        Next::Children
    }

    /// Called when comprehension `c`'s variables come into scope, with what its range and
    /// initial accumulator yielded; they leave scope before `leave` is called on `c`.
    fn bind(&mut self, c: &'a ComprehensionExpr, range: &Self::Out, accu: &Self::Out) {
        let _ = (c, range, accu);
    }

    /// Called on `e` after its children, with what each visited child yielded, in the order of
    /// the module docs (none when [`Visitor::visit`] skipped them).
    fn leave(&mut self, e: &'a IdedExpr, children: Vec<Self::Out>) -> Self::Out {
        let _ = (e, children);
        Self::Out::default()
    }
}

/// Walks `e` with `visitor`; what the root yielded.
pub(crate) fn walk<'a, V: Visitor<'a>>(e: &'a IdedExpr, visitor: &mut V) -> V::Out {
    let mut bound = Vec::new();
    walk_in(e, visitor, &mut bound)
}

fn walk_in<'a, V: Visitor<'a>>(
    e: &'a IdedExpr,
    visitor: &mut V,
    bound: &mut Vec<&'a str>,
) -> V::Out {
    let next = visitor.visit(e, bound);
    let mut children = Vec::new();
    if next != Next::Skip {
        match &e.expr {
            Expr::Unspecified | Expr::Literal(_) | Expr::Ident(_) | Expr::Struct(_) => {}
            Expr::Select(select) => children.push(walk_in(&select.operand, visitor, bound)),
            Expr::Call(call) => {
                if let (Some(target), Next::Children) = (&call.target, next) {
                    children.push(walk_in(target, visitor, bound));
                }
                for arg in &call.args {
                    children.push(walk_in(arg, visitor, bound));
                }
            }
            Expr::List(list) => {
                for element in &list.elements {
                    children.push(walk_in(element, visitor, bound));
                }
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(entry) => {
                            children.push(walk_in(&entry.key, visitor, bound));
                            children.push(walk_in(&entry.value, visitor, bound));
                        }
                        EntryExpr::StructField(field) => {
                            children.push(walk_in(&field.value, visitor, bound));
                        }
                    }
                }
            }
            Expr::Comprehension(c) => {
                let range = walk_in(&c.iter_range, visitor, bound);
                let accu = walk_in(&c.accu_init, visitor, bound);
                visitor.bind(c, &range, &accu);
                children.push(range);
                children.push(accu);
                let depth = bound.len();
                bound.push(&c.iter_var);
                if let Some(second) = &c.iter_var2 {
                    bound.push(second);
                }
                bound.push(&c.accu_var);
                children.push(walk_in(&c.loop_cond, visitor, bound));
                children.push(walk_in(&c.loop_step, visitor, bound));
                // NB: cel-go binds only the accumulator in `result`; binding the iteration
                // variables too is harmless, as the macros never reference them there.
                children.push(walk_in(&c.result, visitor, bound));
                bound.truncate(depth);
            }
        }
    }
    visitor.leave(e, children)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every identifier reached, with the variables bound there.
    struct Idents(Vec<(String, Vec<String>)>);

    impl<'a> Visitor<'a> for Idents {
        type Out = ();

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

    /// Each node rendered from its children (identifiers by name, calls as `f(children…)`),
    /// and the range each comprehension binds its variables over.
    #[derive(Default)]
    struct Render(Vec<String>);

    impl<'a> Visitor<'a> for Render {
        type Out = String;

        fn bind(&mut self, c: &'a ComprehensionExpr, range: &String, _accu: &String) {
            self.0.push(format!("{} over {range}", c.iter_var));
        }

        fn leave(&mut self, e: &'a IdedExpr, children: Vec<String>) -> String {
            match &e.expr {
                Expr::Ident(name) => name.clone(),
                Expr::Call(call) => format!("{}({})", call.func_name, children.join(",")),
                Expr::List(_) => format!("[{}]", children.join(",")),
                Expr::Comprehension(_) => format!("loop({})", children.join(";")),
                _ => "?".to_owned(),
            }
        }
    }

    #[test]
    fn leave_gets_the_children_results_in_order_and_bind_the_range() {
        let program = ::cel::Program::compile("a.f(b, [c]) && d.all(y, y)").unwrap();
        let mut render = Render::default();
        let root = walk(program.expression(), &mut render);
        assert!(
            root.starts_with("_&&_(f(a,b,[c]),loop(d;"),
            "target first, then the arguments: {root}"
        );
        assert_eq!(render.0, ["y over d"]);
    }
}
