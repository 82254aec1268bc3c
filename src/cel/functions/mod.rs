//! The functions we add to CEL, one file per family; `env.rs` registers them all from its one
//! table. Each is a plain `fn` overload of the `cel` crate: it receives its arguments (the
//! receiver first for a member function) already of the types its table row declares, and
//! reports problems as `ExecutionError`s that `EvalError` turns into upstream's wording.

pub(crate) mod conversions;
pub(crate) mod header;
pub(crate) mod json;
pub(crate) mod lists;
pub(crate) mod regex;
pub(crate) mod secret;
pub(crate) mod sets;
pub(crate) mod strings;
pub(crate) mod url;

use ::cel::ExecutionError;
use ::cel::common::traits::Iterable;
use ::cel::common::types::{CelBool, CelString};
use ::cel::common::value::{CowVal, FromVal, Val};

/// The arguments of an overload, receiver first.
pub(crate) type Args<'b, 'v> = Vec<CowVal<'b, 'v>>;

/// The result of an overload.
pub(crate) type Ret<'b, 'v> = Result<CowVal<'b, 'v>, ExecutionError>;

/// `args` as exactly `N` arguments.
fn take<'b, 'v, const N: usize>(args: Args<'b, 'v>) -> Result<[CowVal<'b, 'v>; N], ExecutionError> {
    args.try_into()
        .map_err(|args: Args<'b, 'v>| ExecutionError::invalid_argument_count(N, args.len()))
}

/// `val` as the Rust type its overload was declared with.
fn arg<'a, 'v, T: FromVal<'a, 'v> + Val>(
    val: &'a (dyn Val + 'v),
    function: &str,
) -> Result<&'a T, ExecutionError> {
    val.downcast_ref::<T>().ok_or_else(|| {
        ExecutionError::function_error(
            function,
            format!(
                "unexpected type '{}', want '{}'",
                val.get_type().name(),
                T::cel_type().name()
            ),
        )
    })
}

/// `val` as a string slice.
fn str_arg<'a>(val: &'a (dyn Val + '_), function: &str) -> Result<&'a str, ExecutionError> {
    arg::<CelString<'_>>(val, function).map(CelString::inner)
}

/// The elements of a list, borrowed.
fn elements<'a, 'v>(
    list: &'a (dyn Val + 'v),
    function: &str,
) -> Result<Vec<&'a (dyn Val + 'v)>, ExecutionError> {
    let iterable: &'a (dyn Iterable + 'v) = list.as_iterable().ok_or_else(|| {
        ExecutionError::function_error(
            function,
            format!("unexpected type '{}', want 'list'", list.get_type().name()),
        )
    })?;
    let mut items = iterable.iter();
    let mut out = Vec::new();
    while let Some(item) = items.next() {
        out.push(item);
    }
    Ok(out)
}

/// An owned `bool` result.
fn bool_val<'b, 'v>(b: bool) -> CowVal<'b, 'v> {
    CowVal::owned(CelBool::from(b))
}

/// An owned `string` result.
fn string_val<'b, 'v>(s: String) -> CowVal<'b, 'v> {
    CowVal::owned(CelString::from(s))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Evaluating expressions against a small event, for the tests of each family.

    use crate::cel::{EvalError, EventData, Program, Vars};
    use crate::event::{Event, Extensions, Headers};
    use serde_json::Value;

    /// An event with `body`, the headers given, and `requestURL` `/hook?x=1`.
    pub(crate) fn event(body: Value, headers: &[(&str, &str)]) -> Event {
        let raw = body.to_string().into_bytes();
        Event::new(
            "event-id",
            "/hook?x=1",
            headers.iter().copied().collect::<Headers>(),
            raw,
            body,
        )
    }

    /// Evaluates `expression` as an overlay against `body` and no extensions.
    pub(crate) fn eval(expression: &str, body: Value) -> Result<Value, EvalError> {
        let program = Program::compile(expression)
            .unwrap_or_else(|e| panic!("{expression} should compile: {e}"));
        let data = EventData::new(&event(body, &[]));
        program.evaluate_json(&Vars {
            event: &data,
            extensions: &Extensions::new(),
            secrets: None,
        })
    }

    /// The error message of evaluating `expression`, which must fail.
    pub(crate) fn eval_err(expression: &str, body: Value) -> String {
        match eval(expression, body) {
            Ok(v) => panic!("{expression} should fail, got {v}"),
            Err(e) => e.to_string(),
        }
    }
}
