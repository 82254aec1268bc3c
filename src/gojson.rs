//! JSON text exactly as Go's `encoding/json` writes it, shared by bindings (upstream
//! `getResults`, reference §5.4) and CEL (`marshalJSON`, overlay numbers, reference §4.5):
//! compact, object keys sorted bytewise, `<` `>` `&` U+2028 U+2029 and control characters
//! escaped, and floats in Go's `float64` form (`2.0` → `2`, `1e21` → `1e+21`, `1.5e-7`).
//! Integers are written exactly (upstream goes through `float64`, which differs beyond 2^53).

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// Compact JSON as Go's `json.Marshal` of the generic value: object keys sorted by bytes, HTML
/// characters and U+2028/U+2029 escaped, numbers in Go's float64 form (integers kept exact).
pub fn write_json(value: &Value, out: &mut String) {
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
        Value::Object(map) => write_object(map, out),
    }
}

/// A JSON object as [`write_json`] writes one, from the map itself (no `Value` around it).
pub fn write_object(map: &serde_json::Map<String, Value>, out: &mut String) {
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
pub fn write_float(f: f64, out: &mut String) {
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
pub fn write_string(s: &str, out: &mut String) {
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

/// A finite double as Go's `encoding/json` writes a `float64`; see [`write_float`].
pub fn go_float(f: f64) -> String {
    let mut out = String::new();
    write_float(f, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_matches_go_encoding_json() {
        let cases = [
            (2.0, "2"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-7"),
            (1e-6, "0.000001"),
            (1.2345e-10, "1.2345e-10"),
            (208_045_946.0, "208045946"),
            (-2.5e300, "-2.5e+300"),
        ];
        for (f, want) in cases {
            assert_eq!(go_float(f), want, "{f:?}");
        }
    }
}
