//! Tekton's document functions `parseJSON`, `parseYAML` and `marshalJSON` (behaviour reference
//! §4.5; upstream `pkg/interceptors/cel/triggers.go` `parseJSONString`, `parseYAMLString`,
//! `marshalJSON`), and cel-go's `json.encode` (Encoders extension, `ext/encoders.go`
//! `jsonEncodeValue`), which the `cel` crate's encoders lack.

use ::cel::ExecutionError;
use ::cel::common::types::{
    CelBool, CelBytes, CelDouble, CelInt, CelMap, CelMapKey, CelString, CelUInt, Kind,
};
use ::cel::common::value::{CowVal, Val};
use base64::Engine as _;
use serde_json::{Map, Value};

use super::conversions::special_string;
use super::{Args, Ret, str_arg, string_val, take};
use crate::cel::env::call_stdlib;
use crate::cel::value::json_to_val;
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

/// `map.marshalJSON()` / `list.marshalJSON()`: the value as compact JSON, converted as
/// [`encode`] converts it (upstream converts to a protobuf `Struct`/`ListValue` as cel-go's
/// `json.encode` does, then Go's `encoding/json` writes it): keys sorted, `<>&` escaped, numbers
/// in Go's form (`2.0` → `2`), integers beyond 2^53 − 1 as strings, timestamps as strings.
///
/// # Errors
///
/// A map key that is not a string or a type value: `failed to convert to native: …`; a
/// non-finite double: `failed to marshal to json: …`.
pub(crate) fn marshal_json<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [value] = take(args)?;
    let json = encodable(value.as_ref()).map_err(|e| {
        let message = match e {
            Unencodable::Conversion(why) => format!("failed to convert to native: {why}"),
            Unencodable::NonFinite(why) => {
                let go_type = match value.get_type().kind() {
                    Kind::Map => "Struct",
                    _ => "ListValue",
                };
                format!(
                    "failed to marshal to json: json: error calling MarshalJSON for type \
                     *structpb.{go_type}: {why}"
                )
            }
        };
        ExecutionError::function_error("marshalJSON", message)
    })?;
    let mut out = String::new();
    write_json(&json, &mut out);
    Ok(string_val(out))
}

/// Why a value has no JSON form: the conversion to a protobuf `Value` failed, or the value holds
/// a non-finite double, which protobuf's JSON writer refuses later.
enum Unencodable {
    Conversion(String),
    NonFinite(String),
}

impl From<String> for Unencodable {
    fn from(why: String) -> Self {
        Unencodable::Conversion(why)
    }
}

/// `json.encode(value)`: any value as compact JSON, as cel-go converts it to a protobuf
/// `google.protobuf.Value` and Go's `encoding/json` then writes it: keys sorted, `<>&` escaped,
/// doubles in Go's shortest form (`1.0` → `1`, `1e21` → `1e+21`), `int` and `uint` as numbers
/// only within ±(2^53 − 1) and as decimal strings beyond (`"9007199254740992"`), bytes as
/// standard base64, timestamps and durations as `string()` writes them
/// (`"2024-01-02T03:04:05.5Z"`, `"90s"`). Unlike an overlay, a `null` or `uint` result encodes.
///
/// # Errors
///
/// A non-finite double (`proto: google.protobuf.Value.number_value: invalid NaN value`), a map
/// key that is not a string (`unsupported type conversion from 'int' to string`), or a type
/// value (`type conversion not supported for 'type'`), worded as cel-go's.
pub(crate) fn encode<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [value] = take(args)?;
    let json = encodable(value.as_ref()).map_err(|e| {
        let (Unencodable::Conversion(why) | Unencodable::NonFinite(why)) = e;
        ExecutionError::function_error("json.encode", why)
    })?;
    let mut out = String::new();
    write_json(&json, &mut out);
    Ok(string_val(out))
}

/// The largest magnitude cel-go writes an `int` or `uint` as a JSON number (2^53 − 1, where every
/// integer is still exact as a `float64`; cel-go `isJSONSafe`).
const JSON_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// `value` as cel-go's `ConvertToNative(JSONValueType)` converts it (see [`encode`]).
fn encodable(value: &dyn Val) -> Result<Value, Unencodable> {
    let mismatch = || {
        Unencodable::Conversion(format!(
            "type conversion not supported for '{}'",
            value.get_type().name()
        ))
    };
    match value.get_type().kind() {
        Kind::NullType => Ok(Value::Null),
        Kind::Boolean => value
            .downcast_ref::<CelBool>()
            .map(|b| Value::Bool(*b.inner()))
            .ok_or_else(mismatch),
        Kind::Int => {
            let i = *value.downcast_ref::<CelInt>().ok_or_else(mismatch)?.inner();
            Ok(if i.unsigned_abs() <= JSON_SAFE_INTEGER {
                Value::from(i)
            } else {
                Value::String(i.to_string())
            })
        }
        Kind::UInt => {
            let u = *value
                .downcast_ref::<CelUInt>()
                .ok_or_else(mismatch)?
                .inner();
            Ok(if u <= JSON_SAFE_INTEGER {
                Value::from(u)
            } else {
                Value::String(u.to_string())
            })
        }
        Kind::Double => {
            let f = *value
                .downcast_ref::<CelDouble>()
                .ok_or_else(mismatch)?
                .inner();
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| {
                    let special = if f.is_nan() {
                        "NaN"
                    } else if f > 0.0 {
                        "+Inf"
                    } else {
                        "-Inf"
                    };
                    Unencodable::NonFinite(format!(
                        "proto: google.protobuf.Value.number_value: invalid {special} value"
                    ))
                })
        }
        Kind::String => value
            .downcast_ref::<CelString<'_>>()
            .map(|s| Value::String(s.inner().to_owned()))
            .ok_or_else(mismatch),
        Kind::Bytes => value
            .downcast_ref::<CelBytes<'_>>()
            .map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b.inner())))
            .ok_or_else(mismatch),
        // cel-go writes these with its `string()` conversion (RFC 3339 in the timestamp's own
        // offset; seconds), as our `string()` does.
        Kind::Timestamp => special_string(value)
            .map(Value::String)
            .ok_or_else(mismatch),
        Kind::Duration => {
            let text =
                call_stdlib("string", vec![CowVal::Borrowed(value)]).map_err(|e| e.to_string())?;
            text.downcast_ref::<CelString<'_>>()
                .map(|s| Value::String(s.inner().to_owned()))
                .ok_or_else(mismatch)
        }
        Kind::List => {
            let iterable = value.as_iterable().ok_or_else(mismatch)?;
            let mut items = iterable.iter();
            let mut out = Vec::new();
            while let Some(item) = items.next() {
                out.push(encodable(item)?);
            }
            Ok(Value::Array(out))
        }
        Kind::Map => {
            let map = value.downcast_ref::<CelMap<'_>>().ok_or_else(mismatch)?;
            let mut out = Map::new();
            for (key, item) in map.inner() {
                let key = match key {
                    CelMapKey::String(key) => key.inner().to_owned(),
                    // NB: cel-go words the two failures differently; so do we.
                    CelMapKey::Bool(_) => {
                        return Err("type conversion error from bool to 'string'"
                            .to_owned()
                            .into());
                    }
                    other => {
                        return Err(format!(
                            "unsupported type conversion from '{}' to string",
                            other.inner().get_type().name()
                        )
                        .into());
                    }
                };
                out.insert(key, encodable(item.as_ref())?);
            }
            Ok(Value::Object(out))
        }
        _ => Err(mismatch()),
    }
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
    fn marshal_json_converts_as_json_encode_does() {
        // Expected texts as upstream's cel-eval printed them.
        assert_eq!(
            eval(
                "[9007199254740993, -9007199254740993, 18446744073709551615u, 1e-7].marshalJSON()",
                json!({})
            ),
            Ok(json!(
                r#"["9007199254740993","-9007199254740993","18446744073709551615",1e-7]"#
            ))
        );
        assert_eq!(
            eval(
                "[b'ab', timestamp('2024-01-02T03:04:05Z'), duration('1s')].marshalJSON()",
                json!({})
            ),
            Ok(json!(r#"["YWI=","2024-01-02T03:04:05Z","1s"]"#))
        );
    }

    #[test]
    fn marshal_json_rejects_values_with_no_json_form() {
        let err = eval_err("[double('NaN')].marshalJSON()", json!({}));
        assert!(
            err.ends_with(
                "failed to marshal to json: json: error calling MarshalJSON for type \
                 *structpb.ListValue: proto: google.protobuf.Value.number_value: invalid NaN value"
            ),
            "{err}"
        );
        let err = eval_err("{'a': {1: 2}}.marshalJSON()", json!({}));
        assert!(
            err.ends_with(
                "failed to convert to native: unsupported type conversion from 'int' to string"
            ),
            "{err}"
        );
        assert!(eval_err("dyn('x').marshalJSON()", json!({})).contains("no matching overload"));
    }

    /// `json.encode(e)` as the JSON text it returns.
    fn encoded(expression: &str) -> String {
        match eval(
            &format!("json.encode({expression})"),
            json!({"n": 77, "tiny": 1e-7}),
        ) {
            Ok(serde_json::Value::String(text)) => text,
            other => panic!("json.encode({expression}) gave {other:?}"),
        }
    }

    #[test]
    fn json_encode_sorts_keys_escapes_html_and_writes_go_numbers() {
        // Each expected text is what cel-go's json.encode returned for the same expression.
        let cases = [
            (
                "{'b': 1, 'a': [1, 2.5, 'x<>&'], 'c': {'z': null, 'y': true}}",
                r#"{"a":[1,2.5,"x\u003c\u003e\u0026"],"b":1,"c":{"y":true,"z":null}}"#,
            ),
            (
                "{'é': 1, 'Z': 2, 'a': 3, '': 5}",
                r#"{"":5,"Z":2,"a":3,"é":1}"#,
            ),
            (r"'a\u2028\t\u0001é'", r#""a\u2028\t\u0001é""#),
            ("body", r#"{"n":77,"tiny":1e-7}"#),
            ("1.0", "1"),
            ("-0.0", "-0"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("0.000001", "0.000001"),
            ("0.1 + 0.2", "0.30000000000000004"),
            ("null", "null"),
            ("[]", "[]"),
            ("{}", "{}"),
            ("b'\\xff\\x00'", r#""/wA=""#),
        ];
        for (expression, want) in cases {
            assert_eq!(encoded(expression), want, "json.encode({expression})");
        }
    }

    #[test]
    fn json_encode_writes_integers_beyond_2_pow_53_as_strings() {
        assert_eq!(encoded("9007199254740991"), "9007199254740991");
        assert_eq!(encoded("-9007199254740991"), "-9007199254740991");
        assert_eq!(encoded("9007199254740992"), r#""9007199254740992""#);
        assert_eq!(encoded("-9007199254740992"), r#""-9007199254740992""#);
        assert_eq!(encoded("3u"), "3");
        assert_eq!(
            encoded("[18446744073709551615u]"),
            r#"["18446744073709551615"]"#
        );
    }

    #[test]
    fn json_encode_writes_timestamps_and_durations_as_strings() {
        assert_eq!(
            encoded("[timestamp('2024-01-02T03:04:05.120Z')]"),
            r#"["2024-01-02T03:04:05.12Z"]"#
        );
        assert_eq!(
            encoded("timestamp('2024-01-02T03:04:05+02:00')"),
            r#""2024-01-02T03:04:05+02:00""#
        );
        assert_eq!(encoded("duration('1h2m3.5s')"), r#""3723.5s""#);
        assert_eq!(encoded("duration('-1ns')"), r#""-0.000000001s""#);
    }

    #[test]
    fn json_encode_rejects_non_finite_numbers_non_string_keys_and_types() {
        for (expression, want) in [
            (
                "json.encode([double('NaN')])",
                "google.protobuf.Value.number_value: invalid NaN value",
            ),
            ("json.encode(double('-Infinity'))", "invalid -Inf value"),
            (
                "json.encode({'a': {2: 1}})",
                "unsupported type conversion from 'int' to string",
            ),
            (
                "json.encode({true: 1})",
                "type conversion error from bool to 'string'",
            ),
            (
                "json.encode(int)",
                "type conversion not supported for 'type'",
            ),
        ] {
            let err = eval_err(expression, json!({}));
            assert!(err.contains(want), "{expression}: {err}");
        }
    }
}
