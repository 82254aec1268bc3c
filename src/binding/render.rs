//! Text of a path's results (reference §5.4, upstream `getResults` in `pkg/template/jsonpath.go`
//! over Go's `encoding/json`): one scalar as its logical text, containers and several results
//! as compact JSON the way Go's `json.Marshal` writes it.

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// Appends the text of `results`: exactly one result as itself (a string unescaped), anything
/// else (zero or several) as a JSON array.
pub(super) fn write_results(results: &[&Value], out: &mut String) {
    match results {
        [Value::String(s)] => out.push_str(s),
        [value] => write_json(value, out),
        _ => {
            out.push('[');
            for (i, value) in results.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(value, out);
            }
            out.push(']');
        }
    }
}

/// Compact JSON as Go's `json.Marshal` of the generic value: object keys sorted by bytes, HTML
/// characters and U+2028/U+2029 escaped, numbers in Go's float64 form (integers kept exact).
pub(super) fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

/// Integers exactly as parsed; floats as Go's `encoding/json` writes a float64.
fn write_number(n: &Number, out: &mut String) {
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(f) = n.as_f64() {
        write_float(f, out);
    } else {
        let _ = write!(out, "{n}");
    }
}

/// Go: `strconv` 'f' shortest form when 1e-6 <= |f| < 1e21 (or 0), else 'e' shortest form with
/// a signed exponent, `e-07` cleaned up to `e-7` (so `1e+21`, `1.5e-7`, `1e-10`).
fn write_float(f: f64, out: &mut String) {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        let _ = write!(out, "{f}");
        return;
    }
    let text = format!("{f:e}");
    match text.split_once('e') {
        Some((mantissa, exp)) if exp.starts_with('-') => {
            let _ = write!(out, "{mantissa}e{exp}");
        }
        Some((mantissa, exp)) => {
            let _ = write!(out, "{mantissa}e+{exp:0>2}");
        }
        None => out.push_str(&text),
    }
}

/// A JSON string literal as Go writes it with HTML escaping on.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\0'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn results(values: &[Value]) -> String {
        let refs: Vec<&Value> = values.iter().collect();
        let mut out = String::new();
        write_results(&refs, &mut out);
        out
    }

    fn number(text: &str) -> String {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => results(&[v]),
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn a_single_string_is_its_raw_text() {
        assert_eq!(results(&[json!("a \"q\" <b>\n")]), "a \"q\" <b>\n");
    }

    #[test]
    fn single_scalars_render_as_json_words() {
        assert_eq!(results(&[json!(true)]), "true");
        assert_eq!(results(&[json!(false)]), "false");
        assert_eq!(results(&[Value::Null]), "null");
    }

    #[test]
    fn integers_stay_exact_beyond_two_to_the_53() {
        assert_eq!(number("12345678901234567891"), "12345678901234567891");
        assert_eq!(number("-9007199254740993"), "-9007199254740993");
        assert_eq!(number("42"), "42");
    }

    #[test]
    fn floats_render_as_go_encoding_json_does() {
        assert_eq!(number("2.0"), "2");
        assert_eq!(number("1.5"), "1.5");
        assert_eq!(number("100.0"), "100");
        assert_eq!(number("-0.0"), "-0");
        assert_eq!(number("0.000001"), "0.000001");
        assert_eq!(number("1e20"), "100000000000000000000");
        assert_eq!(number("1e21"), "1e+21");
        assert_eq!(number("1.2345e300"), "1.2345e+300");
        assert_eq!(number("1e-7"), "1e-7");
        assert_eq!(number("1.5e-7"), "1.5e-7");
        assert_eq!(number("-2.5e-12"), "-2.5e-12");
        // Built from Rust literals: serde_json parses some long floats 1 ulp off unless its
        // `float_roundtrip` feature is on (Go's parser is exact).
        assert_eq!(results(&[json!(1e23)]), "1e+23");
        assert_eq!(
            results(&[json!(1.2345678901234569e23)]),
            "1.2345678901234569e+23"
        );
    }

    #[test]
    fn containers_are_compact_with_sorted_keys_and_go_escaping() {
        let value = json!({"b": [1, 2.0, null], "a": {"y": "<&>", "x": "\u{2028}\u{2029}"}});
        assert_eq!(
            results(&[value]),
            r#"{"a":{"x":"\u2028\u2029","y":"\u003c\u0026\u003e"},"b":[1,2,null]}"#
        );
    }

    #[test]
    fn control_characters_escape_like_go() {
        let value = json!(["\"\\\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é"]);
        assert_eq!(
            results(&[value]),
            "[\"\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}é\"]"
        );
    }

    #[test]
    fn several_or_zero_results_render_as_a_json_array() {
        assert_eq!(
            results(&[json!("v4"), json!(5), json!({"k": "<"})]),
            r#"["v4",5,{"k":"\u003c"}]"#
        );
        assert_eq!(results(&[]), "[]");
    }
}
