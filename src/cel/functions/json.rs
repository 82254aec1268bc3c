//! Tekton's document functions `parseJSON`, `parseYAML` and `marshalJSON` (behaviour reference
//! §4.5; upstream `pkg/interceptors/cel/triggers.go` `parseJSONString`, `parseYAMLString`,
//! `marshalJSON`).

use ::cel::ExecutionError;
use ::cel::common::types::CelMap;
use ::cel::common::value::CowVal;
use serde_json::Value;

use super::{Args, Ret, str_arg, string_val, take};
use crate::cel::value::{json_to_val, to_json};
use crate::gojson::write_json;

/// `s.parseJSON()`: the JSON **object** in `s` as a map, numbers as `double` (as the body).
/// `'null'` gives an empty map, as Go's `json.Unmarshal` into a map does.
///
/// # Errors
///
/// Text that is not JSON, or JSON that is not an object:
/// `failed to decode '<s>' in parseJSON: …`.
pub(crate) fn parse_json<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    parse_map(args, "parseJSON", |text| {
        serde_json::from_str(text).map_err(|e| e.to_string())
    })
}

/// `s.parseYAML()`: the YAML **mapping** in `s` as a map, numbers as `double` (as upstream,
/// which converts YAML to JSON first). YAML 1.2 scalars: unlike upstream's YAML 1.1 reader, a
/// key or value `n`, `y`, `on` or `off` stays a string. An empty document gives an empty map.
///
/// # Errors
///
/// Text that is not YAML, or YAML that is not a mapping: `failed to decode '<s>' in parseYAML: …`.
pub(crate) fn parse_yaml<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    parse_map(args, "parseYAML", |text| {
        serde_saphyr::from_str_with_options(text, crate::api::yaml_options())
            .map_err(|e| e.to_string())
    })
}

/// The receiver string decoded by `decode` into a map (`null` → empty map), numbers as
/// `double`; anything else is `failed to decode '<s>' in <function>: …`.
fn parse_map<'b, 'v>(
    args: Args<'b, 'v>,
    function: &str,
    decode: impl FnOnce(&str) -> Result<Value, String>,
) -> Ret<'b, 'v> {
    let [s] = take(args)?;
    let text = str_arg(s.as_ref(), function)?;
    let fail = |why: String| {
        ExecutionError::function_error(
            function,
            format!("failed to decode '{text}' in {function}: {why}"),
        )
    };
    match decode(text) {
        Ok(Value::Null) => Ok(CowVal::owned(CelMap::default())),
        Ok(object @ Value::Object(_)) => Ok(CowVal::Owned(json_to_val(&object))),
        Ok(other) => Err(fail(format!(
            "cannot unmarshal {} into a map",
            json_kind(&other)
        ))),
        Err(e) => Err(fail(e)),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `map.marshalJSON()` / `list.marshalJSON()`: the value as compact JSON with sorted keys, `<>&`
/// escaped and numbers in Go's form (`2.0` → `2`), exactly as upstream's Go code prints it.
///
/// # Errors
///
/// An element with no JSON form (a timestamp, a non-finite double, a non-string map key…):
/// `failed to convert to native: …`.
pub(crate) fn marshal_json<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [value] = take(args)?;
    let json = to_json(value.as_ref()).map_err(|why| {
        ExecutionError::function_error("marshalJSON", format!("failed to convert to native: {why}"))
    })?;
    let mut out = String::new();
    write_json(&json, &mut out);
    Ok(string_val(out))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{eval, eval_err};

    #[test]
    fn parse_yaml_reads_a_mapping_with_numbers_as_doubles() {
        let v = eval(
            "'a: 1\\nb:\\n  - x\\n  - n\\nc: true'.parseYAML()",
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(v, serde_json::json!({"a": 1.0, "b": ["x", "n"], "c": true}));
        assert_eq!(
            eval("'a: 2'.parseYAML().a == 2", serde_json::json!({})).unwrap(),
            serde_json::json!(true)
        );
        assert_eq!(
            eval("''.parseYAML()", serde_json::json!({})).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn parse_yaml_rejects_non_mappings() {
        let err = eval_err("'- a'.parseYAML()", serde_json::json!({}));
        assert!(err.contains("failed to decode '- a' in parseYAML"), "{err}");
        let err = eval_err("'a: [unclosed'.parseYAML()", serde_json::json!({}));
        assert!(err.contains("in parseYAML"), "{err}");
    }
    use serde_json::json;

    #[test]
    fn parse_json_reads_an_object_with_double_numbers() {
        let body = json!({"payload": "{\"a\": {\"b\": 1}, \"c\": [true]}"});
        assert_eq!(
            eval("body.payload.parseJSON().a.b == 1.0", body.clone()),
            Ok(json!(true))
        );
        assert_eq!(eval("body.payload.parseJSON().c", body), Ok(json!([true])));
        assert_eq!(eval("'null'.parseJSON()", json!({})), Ok(json!({})));
    }

    #[test]
    fn parse_json_rejects_non_objects_and_bad_text() {
        for expression in ["'[1]'.parseJSON()", "'{'.parseJSON()", "'3'.parseJSON()"] {
            let err = eval_err(expression, json!({}));
            assert!(err.contains("in parseJSON"), "{expression}: {err}");
        }
    }

    #[test]
    fn marshal_json_writes_go_json_for_maps_and_lists() {
        let body = json!({"pr": {"number": 2, "title": "a<b", "labels": ["x"], "id": 208_045_946}});
        assert_eq!(
            eval("body.pr.marshalJSON()", body.clone()),
            Ok(json!(
                r#"{"id":208045946,"labels":["x"],"number":2,"title":"a\u003cb"}"#
            ))
        );
        assert_eq!(
            eval("[1, 2.5, 'x', null, {'k': 3u}].marshalJSON()", json!({})),
            Ok(json!(r#"[1,2.5,"x",null,{"k":3}]"#))
        );
    }

    #[test]
    fn marshal_json_rejects_values_with_no_json_form() {
        let err = eval_err(
            "[timestamp('2024-01-01T00:00:00Z')].marshalJSON()",
            json!({}),
        );
        assert!(err.contains("failed to convert to native"), "{err}");
        assert!(eval_err("'x'.marshalJSON()", json!({})).contains("no matching overload"));
    }
}
