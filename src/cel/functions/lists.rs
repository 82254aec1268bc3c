//! Tekton's list functions `first` and `last` (behaviour reference §4.5; upstream
//! `pkg/interceptors/cel/triggers.go` `listFirst`, `listLast`).
//!
//! Both return the element itself (any type), or `null` for an empty list. A list borrowed from
//! the event (`body.commits.first()`) hands out a borrow of the element, copying nothing.

use ::cel::common::types::CelNull;
use ::cel::common::value::{CowVal, Val};

use super::{Args, Ret, elements, take};

/// `list.first()`: the first element, or `null` when the list is empty.
pub(crate) fn first<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [list] = take(args)?;
    pick(list, "first", |len| (len > 0).then_some(0))
}

/// `list.last()`: the last element, or `null` when the list is empty.
pub(crate) fn last<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [list] = take(args)?;
    pick(list, "last", |len| len.checked_sub(1))
}

/// The element at `index(len)` (`None` for an empty list), borrowed when the list is.
fn pick<'b, 'v>(
    list: CowVal<'b, 'v>,
    function: &str,
    index: fn(usize) -> Option<usize>,
) -> Ret<'b, 'v> {
    let null = || CowVal::owned(CelNull);
    match list {
        CowVal::Borrowed(list) => {
            let items = elements(list, function)?;
            let item = index(items.len()).and_then(|i| items.get(i).copied());
            Ok(item.map_or_else(null, CowVal::Borrowed))
        }
        // A computed list nothing else refers to: move the element out.
        CowVal::Owned(list) => match Vec::<Box<dyn Val + 'v>>::try_from(list) {
            Ok(mut items) => Ok(match index(items.len()) {
                Some(i) if i < items.len() => CowVal::Owned(items.swap_remove(i)),
                _ => null(),
            }),
            Err(list) => {
                let items = elements(list.as_ref(), function)?;
                let item = index(items.len()).and_then(|i| items.get(i));
                Ok(item.map_or_else(null, |item| CowVal::Owned(item.clone_as_boxed())))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::eval;
    use serde_json::json;

    #[test]
    fn first_and_last_of_a_body_list() {
        let body = json!({"commits": [{"id": "a"}, {"id": "b"}, {"id": "c"}]});
        assert_eq!(
            eval("body.commits.first().id", body.clone()),
            Ok(json!("a"))
        );
        assert_eq!(eval("body.commits.last()", body), Ok(json!({"id": "c"})));
    }

    #[test]
    fn first_and_last_of_a_computed_list() {
        assert_eq!(
            eval("[1, 2, 3].map(x, x * 2).first()", json!({})),
            Ok(json!(2))
        );
        assert_eq!(
            eval("[1, 2, 3].map(x, x * 2).last()", json!({})),
            Ok(json!(6))
        );
        assert_eq!(eval("['only'].last()", json!({})), Ok(json!("only")));
    }

    #[test]
    fn an_empty_list_gives_null() {
        assert_eq!(eval("[].first() == null", json!({})), Ok(json!(true)));
        assert_eq!(
            eval("body.none.last() == null", json!({"none": []})),
            Ok(json!(true))
        );
    }
}
