//! cel-go's sets extension, `sets.contains`, `sets.equivalent` and `sets.intersects`, which
//! Tekton enables (`celext.Sets()` in upstream `pkg/interceptors/cel/cel.go` `makeCelEnv`;
//! behaviour reference §4.5). The `cel` crate has no sets extension.
//!
//! Lists are compared as sets: order and duplicates do not matter, and elements compare with
//! CEL's `==`, so numbers compare across types (`sets.contains([1.0], [1])` is true). Each call
//! compares every pair, O(n·m), which is what cel-go does too; the lists in filters are short.

use ::cel::common::value::Val;

use super::{Args, Ret, bool_val, elements, take};

/// `sets.contains(list, sublist)`: whether every element of `sublist` is in `list`; true for an
/// empty `sublist`.
pub(crate) fn contains<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [list, sublist] = take(args)?;
    let list = elements(list.as_ref(), "sets.contains")?;
    let sublist = elements(sublist.as_ref(), "sets.contains")?;
    Ok(bool_val(includes(&list, &sublist)))
}

/// `sets.equivalent(a, b)`: whether `a` and `b` hold the same elements, ignoring order and
/// duplicates.
pub(crate) fn equivalent<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [a, b] = take(args)?;
    let a = elements(a.as_ref(), "sets.equivalent")?;
    let b = elements(b.as_ref(), "sets.equivalent")?;
    Ok(bool_val(includes(&a, &b) && includes(&b, &a)))
}

/// `sets.intersects(a, b)`: whether `a` and `b` share at least one element; false when either is
/// empty.
pub(crate) fn intersects<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [a, b] = take(args)?;
    let a = elements(a.as_ref(), "sets.intersects")?;
    let b = elements(b.as_ref(), "sets.intersects")?;
    Ok(bool_val(b.iter().any(|x| is_in(*x, &a))))
}

/// Whether every element of `sub` is in `set`.
fn includes(set: &[&dyn Val], sub: &[&dyn Val]) -> bool {
    sub.iter().all(|x| is_in(*x, set))
}

/// Whether `x` equals an element of `set`, by CEL's `==` (asked both ways, as `==` is only
/// defined on its left operand and numbers must compare across types).
fn is_in(x: &dyn Val, set: &[&dyn Val]) -> bool {
    set.iter().any(|y| y.equals(x) || x.equals(*y))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{eval, eval_err};
    use serde_json::json;

    fn is(expression: &str, want: bool) {
        let body = json!({"labels": ["bug", "ci"], "ids": [1, 2]});
        assert_eq!(eval(expression, body), Ok(json!(want)), "{expression}");
    }

    #[test]
    fn contains_checks_every_element_of_the_sublist() {
        is("sets.contains(body.labels, ['ci'])", true);
        is("sets.contains(body.labels, ['ci', 'docs'])", false);
        is("sets.contains(body.labels, [])", true);
        is("sets.contains([], ['x'])", false);
        is("sets.contains(body.ids, [2, 1, 1])", true);
    }

    #[test]
    fn equivalent_ignores_order_and_duplicates() {
        is("sets.equivalent(body.labels, ['ci', 'bug', 'ci'])", true);
        is("sets.equivalent(body.labels, ['ci'])", false);
        is("sets.equivalent([], [])", true);
        is("sets.equivalent(body.ids, [2u, 1])", true);
    }

    #[test]
    fn intersects_needs_one_shared_element() {
        is("sets.intersects(body.labels, ['docs', 'ci'])", true);
        is("sets.intersects(body.labels, ['docs'])", false);
        is("sets.intersects(body.labels, [])", false);
        is("sets.intersects([[1], {'a': 'b'}], [{'a': 'b'}])", true);
    }

    #[test]
    fn sets_functions_take_lists_only() {
        assert!(
            eval_err("sets.contains(dyn('ab'), ['a'])", json!({})).contains("no matching overload")
        );
    }
}
