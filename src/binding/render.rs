//! Text of a path's results (reference §5.4, upstream `getResults` in `pkg/template/jsonpath.go`
//! over Go's `encoding/json`): one scalar as its logical text, containers and several results
//! as compact JSON the way Go's `json.Marshal` writes it.

use serde_json::Value;

use crate::gojson::write_json;

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
