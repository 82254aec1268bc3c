//! The standard `string()` conversion as cel-go writes it, where the `cel` crate's differs
//! (behaviour reference §4.5, "conversions"; cel-go `common/types/double.go` and
//! `timestamp.go`, `ConvertToType(StringType)`).
//!
//! The crate registers `string(double)` and `string(timestamp)` itself, and the first overload
//! declared wins, so ours cannot sit beside them. Instead `env.rs` rewrites every call
//! `string(x)` at parse time to the internal `@string(x)` (as it does for `matches`), which
//! formats doubles and timestamps here and hands every other type back to the crate's
//! `string()`:
//!
//! | value | cel-go and here | the crate alone |
//! |---|---|---|
//! | `1.23456789e8` | `1.23456789e+08` | `123456789` |
//! | `1e-7` | `1e-07` | `0.0000001` |
//! | `double('Infinity')` | `+Inf` | `inf` |
//! | `timestamp('2024-01-02T03:04:05+02:00')` | `2024-01-02T03:04:05+02:00` | `2024-01-02T01:04:05Z` |

use std::fmt::Write as _;

use ::cel::common::types::{CelDouble, CelTimestamp, Kind};
use ::cel::common::value::Val;

use super::{Args, Ret, string_val, take};
use crate::cel::env::call_stdlib;

/// `string(x)`: a `double` as Go's `strconv.FormatFloat(d, 'g', -1, 64)`, a timestamp as Go's
/// `time.RFC3339Nano` in its own offset, anything else as the crate's `string()`.
///
/// # Errors
///
/// Those of the crate's `string()`: bytes that are not UTF-8, or a type with no conversion
/// (`found no matching overload for 'string' applied to '(list)'`).
pub(crate) fn string<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [value] = take(args)?;
    match special_string(value.as_ref()) {
        Some(text) => Ok(string_val(text)),
        None => call_stdlib("string", vec![value]),
    }
}

/// The text of a `double` or timestamp as cel-go's `string()` writes it; `None` for other
/// types, whose text the crate writes as cel-go does.
pub(crate) fn special_string(value: &dyn Val) -> Option<String> {
    match value.get_type().kind() {
        Kind::Double => value
            .downcast_ref::<CelDouble>()
            .map(|d| format_float_g(*d.inner())),
        Kind::Timestamp => value
            .downcast_ref::<CelTimestamp>()
            .map(|t| rfc3339_nano(t.inner())),
        _ => None,
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest digits that read back as `f`, in
/// exponent form when the decimal exponent is below -4 or at least 6 (`1e+06`, `1.5e-05`, the
/// exponent at least two digits), else in plain form (`123456`, `0.0001`); `NaN`, `+Inf`, `-Inf`.
pub(crate) fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    // Rust's `{:e}` writes the shortest round-trip digits, as Go's shortest mode finds them.
    let shortest = format!("{f:e}");
    let (mantissa, exponent) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        // NB: `{}` writes the same shortest digits without an exponent (`0.0001`, `-0`).
        return f.to_string();
    }
    let mut out = String::with_capacity(mantissa.len() + 5);
    out.push_str(mantissa);
    let sign = if exponent < 0 { '-' } else { '+' };
    let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    out
}

/// Go's `time.RFC3339Nano` layout, `2006-01-02T15:04:05.999999999Z07:00`: the fraction without
/// trailing zeros (none when zero), `Z` for a zero offset, else the offset as `+hh:mm`.
fn rfc3339_nano(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos() % 1_000_000_000;
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    if t.offset().local_minus_utc() == 0 {
        out.push('Z');
    } else {
        out.push_str(&t.format("%:z").to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{eval, eval_err};
    use super::*;
    use serde_json::json;

    #[test]
    fn doubles_format_as_go_strconv_g_shortest() {
        // Expected texts as upstream's cel-eval printed `string(<double>)`.
        let cases = [
            (1.23456789e8, "1.23456789e+08"),
            (1e21, "1e+21"),
            (1e20, "1e+20"),
            (1e6, "1e+06"),
            (1_234_567.0, "1.234567e+06"),
            (123_456.0, "123456"),
            (100.0, "100"),
            (1.0, "1"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-0.0, "-0"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1e-7, "1e-07"),
            (0.000_012_34, "1.234e-05"),
            (-1.5e-10, "-1.5e-10"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (12_345_678_901_234_567_890.0, "1.2345678901234567e+19"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float_g(f), want, "{f:e}");
        }
    }

    #[test]
    fn string_of_a_double_in_an_expression_uses_go_formatting() {
        let body = json!({"tiny": 1e-7, "n": 77});
        assert_eq!(
            eval("string(1.23456789e8)", body.clone()),
            Ok(json!("1.23456789e+08"))
        );
        assert_eq!(eval("string(body.tiny)", body.clone()), Ok(json!("1e-07")));
        assert_eq!(eval("string(body.n)", body.clone()), Ok(json!("77")));
        assert_eq!(eval("[1e21].map(x, string(x))", body), Ok(json!(["1e+21"])));
    }

    #[test]
    fn string_keeps_a_timestamps_offset_as_go_does() {
        for (expression, want) in [
            (
                "string(timestamp('2024-01-02T03:04:05+02:00'))",
                "2024-01-02T03:04:05+02:00",
            ),
            (
                "string(timestamp('2024-01-02T03:04:05.500-00:30'))",
                "2024-01-02T03:04:05.5-00:30",
            ),
            (
                "string(timestamp('2024-01-02T03:04:05+00:00'))",
                "2024-01-02T03:04:05Z",
            ),
            (
                "string(timestamp('2024-01-02T03:04:05.5+02:00') + duration('1s'))",
                "2024-01-02T03:04:06.5+02:00",
            ),
        ] {
            assert_eq!(eval(expression, json!({})), Ok(json!(want)), "{expression}");
        }
    }

    #[test]
    fn string_of_other_types_is_the_standard_conversion() {
        for (expression, want) in [
            ("string(1)", "1"),
            ("string(-5)", "-5"),
            ("string(5u)", "5"),
            ("string(true)", "true"),
            ("string('s')", "s"),
            ("string(b'ab')", "ab"),
            ("string(duration('-90s'))", "-90s"),
        ] {
            assert_eq!(eval(expression, json!({})), Ok(json!(want)), "{expression}");
        }
        // Only calls are rewritten: `string` still names the type.
        assert_eq!(eval("type('a') == string", json!({})), Ok(json!(true)));
        assert!(eval_err("string(b'\\xff')", json!({})).contains("invalid UTF-8"));
        assert!(
            eval_err("string(dyn([1]))", json!({}))
                .contains("found no matching overload for 'string' applied to '(list)'")
        );
    }
}
