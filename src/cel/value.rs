//! Converting between `serde_json` values and CEL values, with cel-go's semantics as Tekton's CEL
//! interceptor sees them (behaviour reference §4.5; upstream `pkg/interceptors/cel/cel.go`
//! `makeEvalContext` and the overlay `switch`, and `triggers.go` `marshalJSON`).
//!
//! # JSON → CEL
//!
//! Upstream decodes the body with Go's `encoding/json` into `map[string]interface{}`, so **every
//! JSON number is a CEL `double`**, whatever its spelling:
//!
//! | JSON | CEL |
//! |---|---|
//! | `null` | `null` |
//! | `true` / `false` | `bool` |
//! | `77`, `-3`, `1.5`, `1e3` | `double` (`77.0`, `-3.0`, `1.5`, `1000.0`); integers beyond 2^53 round |
//! | `"s"` | `string` |
//! | `[…]` | `list` |
//! | `{…}` | `map` with `string` keys |
//!
//! So `body.number == 77` is true (CEL compares numbers across types), `body.number + 1` is an
//! error (no `double + int` overload; write `body.number + 1.0` or `int(body.number) + 1`), and
//! `body.number in [77, 78]` is true.
//!
//! # CEL → JSON
//!
//! [`to_json`] applies upstream's overlay rule to a result: `string`, `bytes` (as standard base64),
//! `int`, `double`, `bool`, `list` and `map` convert; a `null`, `uint`, `timestamp`, `duration` or
//! `type` result does not. Inside a list or map, `null` and `uint` convert too, as protobuf's
//! `structpb.Value` accepts them there. [`crate::gojson::write_json`] then writes JSON the way Go's
//! `json.Marshal` of a `structpb` value does, for `marshalJSON`: compact, keys sorted, `<>&`
//! escaped, and doubles in Go's shortest form (`2.0` → `2`, `1e21` → `1e+21`).

use std::collections::HashMap;

use ::cel::common::types::{
    CelBool, CelBytes, CelDouble, CelDuration, CelInt, CelList, CelMap, CelMapKey, CelNull,
    CelString, CelTimestamp, CelType, CelUInt, Kind,
};
use ::cel::common::value::Val;
use base64::Engine as _;
use serde_json::{Map, Number, Value};

/// Converts a JSON value to a CEL value that owns its strings (for data kept across evaluations,
/// such as the body in `EventData`). Numbers become `double`.
pub(crate) fn json_to_val(value: &Value) -> Box<dyn Val + 'static> {
    convert(value, &|s: &str| CelString::from(s.to_owned()))
}

/// Converts a JSON object to a CEL map whose strings borrow from `map` (for data converted per
/// evaluation, such as the extensions). Numbers become `double`.
pub(crate) fn object_to_val<'a>(map: &'a Map<String, Value>) -> Box<dyn Val + 'a> {
    Box::new(convert_object(map, &|s: &'a str| CelString::from(s)))
}

/// The one JSON → CEL mapping, parameterised by how a string is made (copied or borrowed).
fn convert<'a, 'v>(
    value: &'a Value,
    string: &impl Fn(&'a str) -> CelString<'v>,
) -> Box<dyn Val + 'v> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => Box::new(CelDouble::from(number_to_f64(n))),
        Value::String(s) => Box::new(string(s)),
        Value::Array(items) => Box::new(CelList::from(
            items
                .iter()
                .map(|item| convert(item, string))
                .collect::<Vec<_>>(),
        )),
        Value::Object(map) => Box::new(convert_object(map, string)),
    }
}

fn convert_object<'a, 'v>(
    map: &'a Map<String, Value>,
    string: &impl Fn(&'a str) -> CelString<'v>,
) -> CelMap<'v> {
    CelMap::from(
        map.iter()
            .map(|(k, v)| (CelMapKey::String(string(k)), convert(v, string)))
            .collect::<HashMap<_, _>>(),
    )
}

/// A JSON number as Go's `encoding/json` decodes it into `interface{}`: a `float64`.
fn number_to_f64(n: &Number) -> f64 {
    // NB: `as_f64` is always `Some` unless serde_json's `arbitrary_precision` feature is on; then
    // parse the text, as Go would (out-of-range numbers are an error there, infinity here).
    n.as_f64()
        .unwrap_or_else(|| n.to_string().parse().unwrap_or(f64::NAN))
}

/// Converts an expression's result to JSON by upstream's overlay rule (see the module docs).
///
/// # Errors
///
/// A message naming the CEL type that has no JSON form (`null_type`, `uint`, timestamps,
/// durations, types, non-string map keys), or the non-finite double.
pub(crate) fn to_json(value: &dyn Val) -> Result<Value, String> {
    match value.get_type().kind() {
        Kind::NullType | Kind::UInt => Err(no_json_form(value)),
        _ => nested_to_json(value),
    }
}

/// Converts any result to JSON for display (`cel-eval`): as [`to_json`], plus a top-level `null`
/// and `uint`, a timestamp as an RFC 3339 string in UTC (`2026-01-02T03:04:05Z`) and a duration
/// as seconds (`90s`, `1.5s`), as cel-go's `string()` conversion writes them; a non-finite double
/// as the string `NaN`, `+Inf` or `-Inf` and a type as its name (`int`), as upstream's `cel-eval`
/// prints them.
///
/// # Errors
///
/// Non-string map keys, and timestamps, durations, types or non-finite doubles inside lists or
/// maps.
pub(crate) fn to_display_json(value: &dyn Val) -> Result<Value, String> {
    match value.get_type().kind() {
        Kind::Double => match value.downcast_ref::<CelDouble>() {
            Some(d) if !d.inner().is_finite() => Ok(Value::String(
                super::functions::conversions::format_float_g(*d.inner()),
            )),
            _ => nested_to_json(value),
        },
        Kind::Type => value
            .downcast_ref::<CelType>()
            .map(|t| Value::String(t.name().to_owned()))
            .ok_or_else(|| no_json_form(value)),
        Kind::Timestamp => value
            .downcast_ref::<CelTimestamp>()
            .map(|t| {
                let utc = t.inner().with_timezone(&chrono::Utc);
                Value::String(utc.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            })
            .ok_or_else(|| no_json_form(value)),
        Kind::Duration => value
            .downcast_ref::<CelDuration>()
            .map(|d| {
                let nanos = d.inner().num_nanoseconds().unwrap_or(i64::MAX);
                let text = format!("{}", nanos as f64 / 1e9);
                Value::String(format!("{text}s"))
            })
            .ok_or_else(|| no_json_form(value)),
        _ => nested_to_json(value),
    }
}

/// Converts a value found inside a list or map: as [`to_json`], plus `null` and `uint`.
fn nested_to_json(value: &dyn Val) -> Result<Value, String> {
    match value.get_type().kind() {
        Kind::NullType => Ok(Value::Null),
        Kind::Boolean => value
            .downcast_ref::<CelBool>()
            .map(|b| Value::Bool(*b.inner()))
            .ok_or_else(|| no_json_form(value)),
        Kind::Int => value
            .downcast_ref::<CelInt>()
            .map(|i| Value::from(*i.inner()))
            .ok_or_else(|| no_json_form(value)),
        Kind::UInt => value
            .downcast_ref::<CelUInt>()
            .map(|u| Value::from(*u.inner()))
            .ok_or_else(|| no_json_form(value)),
        Kind::Double => {
            let f = *value
                .downcast_ref::<CelDouble>()
                .ok_or_else(|| no_json_form(value))?
                .inner();
            Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| format!("unsupported value: {}", go_special_float(f)))
        }
        Kind::String => value
            .downcast_ref::<CelString<'_>>()
            .map(|s| Value::String(s.inner().to_owned()))
            .ok_or_else(|| no_json_form(value)),
        Kind::Bytes => value
            .downcast_ref::<CelBytes<'_>>()
            .map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b.inner())))
            .ok_or_else(|| no_json_form(value)),
        Kind::List => {
            let iterable = value.as_iterable().ok_or_else(|| no_json_form(value))?;
            let mut items = iterable.iter();
            let mut out = Vec::new();
            while let Some(item) = items.next() {
                out.push(nested_to_json(item)?);
            }
            Ok(Value::Array(out))
        }
        Kind::Map => {
            let map = value
                .downcast_ref::<CelMap<'_>>()
                .ok_or_else(|| no_json_form(value))?;
            let mut out = Map::new();
            for (key, item) in map.inner() {
                let CelMapKey::String(key) = key else {
                    return Err(format!(
                        "unsupported map key type '{}'",
                        key.inner().get_type().name()
                    ));
                };
                out.insert(key.inner().to_owned(), nested_to_json(item.as_ref())?);
            }
            Ok(Value::Object(out))
        }
        _ => Err(no_json_form(value)),
    }
}

fn no_json_form(value: &dyn Val) -> String {
    format!(
        "type conversion error from '{}' to JSON",
        value.get_type().name()
    )
}

/// How Go prints a non-finite float in `json: unsupported value: …`.
fn go_special_float(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(value: &Value) -> Result<Value, String> {
        to_json(json_to_val(value).as_ref())
    }

    #[test]
    fn every_json_number_becomes_a_cel_double() {
        for n in [
            json!(77),
            json!(-3),
            json!(1.5),
            json!(18_446_744_073_709_551_615_u64),
        ] {
            let val = json_to_val(&n);
            assert_eq!(val.get_type().kind(), Kind::Double, "{n}");
        }
    }

    #[test]
    fn json_documents_round_trip_with_numbers_as_doubles() {
        let body = json!({"a": [1, "x", true, {"b": 2.5}], "s": "é"});
        assert_eq!(
            round_trip(&body),
            Ok(json!({"a": [1.0, "x", true, {"b": 2.5}], "s": "é"}))
        );
    }

    #[test]
    fn nested_null_converts_but_a_null_result_does_not() {
        assert_eq!(round_trip(&json!([null])), Ok(json!([null])));
        assert_eq!(
            round_trip(&json!(null)),
            Err("type conversion error from 'null_type' to JSON".to_owned())
        );
    }

    #[test]
    fn display_conversion_accepts_every_scalar() {
        assert_eq!(to_display_json(&CelNull), Ok(Value::Null));
        assert_eq!(to_display_json(&CelUInt::from(7u64)), Ok(json!(7)));
        assert_eq!(to_display_json(&CelDouble::from(2.5)), Ok(json!(2.5)));
    }

    #[test]
    fn display_shows_non_finite_doubles_and_types_as_upstream_prints_them() {
        // Upstream's cel-eval printed NaN, +Inf, -Inf and int for these.
        for (f, want) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(to_display_json(&CelDouble::from(f)), Ok(json!(want)));
        }
        assert_eq!(
            to_display_json(&CelType::new_static("int")),
            Ok(json!("int"))
        );
        let list = CelList::from(vec![Box::new(CelDouble::from(f64::NAN)) as Box<dyn Val>]);
        assert!(to_display_json(&list).is_err());
    }

    #[test]
    fn uint_converts_only_inside_a_container() {
        let uint = CelUInt::from(7u64);
        assert!(to_json(&uint).is_err());
        let list = CelList::from(vec![Box::new(uint) as Box<dyn Val>]);
        assert_eq!(to_json(&list), Ok(json!([7])));
    }

    #[test]
    fn ints_stay_exact_and_bytes_become_base64() {
        assert_eq!(to_json(&CelInt::from(i64::MAX)), Ok(json!(i64::MAX)));
        assert_eq!(to_json(&CelBytes::from(b"hi?".to_vec())), Ok(json!("aGk/")));
    }

    #[test]
    fn non_finite_doubles_and_non_string_keys_have_no_json_form() {
        assert_eq!(
            to_json(&CelDouble::from(f64::NAN)),
            Err("unsupported value: NaN".to_owned())
        );
        let map = CelMap::from(HashMap::from([(
            CelMapKey::from(1i64),
            Box::new(CelBool::from(true)) as Box<dyn Val>,
        )]));
        assert_eq!(
            to_json(&map),
            Err("unsupported map key type 'int'".to_owned())
        );
    }

    #[test]
    fn borrowed_object_conversion_shares_the_strings() {
        let ext = json!({"k": "v"});
        let Value::Object(map) = &ext else {
            panic!("an object")
        };
        let val = object_to_val(map);
        let cel_map = val.downcast_ref::<CelMap<'_>>().expect("a map");
        let (_, v) = cel_map.inner().iter().next().expect("one entry");
        let s = v.downcast_ref::<CelString<'_>>().expect("a string");
        let Some(Value::String(original)) = map.get("k") else {
            panic!("a string")
        };
        assert!(std::ptr::eq(s.inner(), original.as_str()));
    }
}
