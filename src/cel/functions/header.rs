//! Tekton's header functions `match` and `canonical` (behaviour reference §4.5; upstream
//! `pkg/interceptors/cel/triggers.go` `matchHeader`, `canonicalHeader`).
//!
//! Both take a map shaped like `header`, a `map(string, list(string))`, as Go's `http.Header`:
//! the name asked for is canonicalised (`x-github-event` → `X-Github-Event`, as
//! `crate::event::canonical_header_name`) and only the **first** value of that header counts.
//! As upstream converts the whole map to `http.Header` first, a map holding anything but lists of
//! strings is an error even when the entry asked for is fine.

use ::cel::ExecutionError;
use ::cel::common::types::{CelList, CelMap, CelMapKey, CelString};
use ::cel::common::value::Val;

use super::{Args, Ret, bool_val, str_arg, string_val, take};
use crate::event::with_canonical_header_name;

/// `header.match(name, value)`: whether the first value of header `name` (any case) is `value`.
/// An absent header has first value `""`.
pub(crate) fn match_header<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [header, name, value] = take(args)?;
    let name = str_arg(name.as_ref(), "match")?;
    let value = str_arg(value.as_ref(), "match")?;
    let first = first_value(header.as_ref(), name, "match")?;
    Ok(bool_val(first == value))
}

/// `header.canonical(name)`: the first value of header `name` (any case), or `""`.
pub(crate) fn canonical_header<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [header, name] = take(args)?;
    let name = str_arg(name.as_ref(), "canonical")?;
    let first = first_value(header.as_ref(), name, "canonical")?;
    Ok(string_val(first.to_owned()))
}

/// Go's `http.Header(map).Get(name)`, after checking the map converts to `http.Header`.
fn first_value<'a>(
    header: &'a (dyn Val + '_),
    name: &str,
    function: &str,
) -> Result<&'a str, ExecutionError> {
    let not_a_header = |why: String| {
        ExecutionError::function_error(function, format!("failed to convert to http.Header: {why}"))
    };
    let map = header
        .downcast_ref::<CelMap<'_>>()
        .ok_or_else(|| not_a_header(format!("unexpected type '{}'", header.get_type().name())))?;
    with_canonical_header_name(name, |wanted| first_in(map, wanted, &not_a_header))
}

/// The first value of header `wanted` (canonical) in `map`, checking every entry as Go's
/// conversion to `http.Header` does.
fn first_in<'a>(
    map: &'a CelMap<'_>,
    wanted: &str,
    not_a_header: &dyn Fn(String) -> ExecutionError,
) -> Result<&'a str, ExecutionError> {
    let mut found = "";
    for (key, values) in map.inner() {
        let CelMapKey::String(key) = key else {
            return Err(not_a_header(format!(
                "unsupported key type '{}'",
                key.inner().get_type().name()
            )));
        };
        let values = values.downcast_ref::<CelList<'_>>().ok_or_else(|| {
            not_a_header(format!(
                "value of '{}' is a '{}', not a list of strings",
                key.inner(),
                values.get_type().name()
            ))
        })?;
        let is_wanted = key.inner() == wanted;
        for (i, value) in values.inner().iter().enumerate() {
            let value = value.downcast_ref::<CelString<'_>>().ok_or_else(|| {
                not_a_header(format!(
                    "value of '{}' is not a list of strings",
                    key.inner()
                ))
            })?;
            if is_wanted && i == 0 {
                found = value.inner();
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::testing::eval;
    use crate::cel::functions::testing::event;
    use crate::cel::{EventData, Program, Vars};
    use crate::event::Extensions;
    use serde_json::{Value, json};

    fn with_headers(expression: &str, headers: &[(&str, &str)]) -> Value {
        let program = Program::compile(expression).expect("compiles");
        let data = EventData::new(&event(json!({}), headers));
        program
            .evaluate_json(&Vars {
                event: &data,
                extensions: &Extensions::new(),
                secrets: None,
            })
            .expect("evaluates")
    }

    #[test]
    fn match_compares_the_first_value_under_the_canonical_name() {
        let headers = [("X-GitHub-Event", "push"), ("x-github-event", "ping")];
        for (name, value, want) in [
            ("X-GitHub-Event", "push", true),
            ("x-github-event", "push", true),
            ("X-GITHUB-EVENT", "ping", false),
            ("X-Missing", "", true),
            ("X-Missing", "push", false),
        ] {
            let expression = format!("header.match('{name}', '{value}')");
            assert_eq!(
                with_headers(&expression, &headers),
                json!(want),
                "{expression}"
            );
        }
    }

    #[test]
    fn canonical_returns_the_first_value_or_empty() {
        let headers = [
            ("content-type", "application/json"),
            ("Content-Type", "text/plain"),
        ];
        assert_eq!(
            with_headers("header.canonical('CONTENT-TYPE')", &headers),
            json!("application/json")
        );
        assert_eq!(
            with_headers("header.canonical('x-none')", &headers),
            json!("")
        );
    }

    #[test]
    fn a_map_literal_works_when_shaped_like_headers() {
        assert_eq!(
            eval("{'X-Y': ['a', 'b']}.match('x-y', 'a')", json!({})),
            Ok(json!(true))
        );
        // the map's own keys are not canonicalised, as in Go
        assert_eq!(
            eval("{'x-y': ['a']}.canonical('x-y')", json!({})),
            Ok(json!(""))
        );
    }

    #[test]
    fn a_map_not_shaped_like_headers_is_an_error() {
        for expression in [
            "{'X-Y': 'a'}.match('X-Y', 'a')",
            "{'X-Y': [1]}.canonical('X-Z')",
            "body.canonical('X-Y')",
        ] {
            let err = eval(expression, json!({"X-Y": "a"})).expect_err(expression);
            assert!(
                err.to_string().contains("failed to convert to http.Header"),
                "{expression}: {err}"
            );
        }
    }
}
