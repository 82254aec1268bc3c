//! Form-encoded bodies as upstream's sink converts them for interceptors and bindings (reference
//! §3.4, upstream `pkg/sink/sink.go` ExecuteInterceptors): a request whose `Content-Type` is
//! exactly `application/x-www-form-urlencoded` and whose body parses as a query string with more
//! than one key is seen as the JSON object of the parsed form, each value a list of strings, keys
//! sorted (`{"text":["94070"],"user_name":["ana"]}`).
//!
//! Parsing follows Go's `url.ParseQuery`: pairs are split on `&`, empty pairs skipped, a pair
//! holding `;` or an invalid `%` escape is skipped (Go reports it and keeps the rest), `+` is a
//! space, and a pair without `=` is a key with an empty value.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The `Content-Type` that selects the conversion (compared exactly, as upstream does).
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The form JSON of `body` when `content_type` is exactly [`FORM_CONTENT_TYPE`] and the body
/// parses into more than one distinct key; `None` otherwise (the body is then seen as it is).
pub fn form_json(content_type: Option<&str>, body: &[u8]) -> Option<Value> {
    if content_type != Some(FORM_CONTENT_TYPE) {
        return None;
    }
    let form = parse_query(body);
    (form.len() > 1).then(|| {
        Value::Object(
            form.into_iter()
                .map(|(k, values)| {
                    (
                        k,
                        Value::Array(values.into_iter().map(Value::String).collect()),
                    )
                })
                .collect::<Map<String, Value>>(),
        )
    })
}

/// Go's `url.ParseQuery`, keeping what parses: key → every value, in order. Bytes that are not
/// UTF-8 become U+FFFD, as Go's `json.Marshal` writes them.
pub fn parse_query(body: &[u8]) -> BTreeMap<String, Vec<String>> {
    let mut form: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in body.split(|b| *b == b'&') {
        if pair.is_empty() || pair.contains(&b';') {
            continue;
        }
        let (key, value) = match pair.iter().position(|b| *b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        let (Some(key), Some(value)) = (unescape(key), unescape(value)) else {
            continue;
        };
        form.entry(key).or_default().push(value);
    }
    form
}

/// Go's `QueryUnescape`: `+` is a space, `%XX` a byte; `None` for a `%` not followed by two hex
/// digits.
fn unescape(part: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(part.len());
    let mut bytes = part.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let high = hex_digit(bytes.next()?)?;
                let low = hex_digit(bytes.next()?)?;
                out.push(high << 4 | low);
            }
            b => out.push(b),
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_form_with_several_keys_becomes_sorted_lists() {
        let body = b"user_name=ana+maria&text=hello%20world&channel_id=C1&text=again";
        assert_eq!(
            form_json(Some(FORM_CONTENT_TYPE), body),
            Some(json!({
                "channel_id": ["C1"],
                "text": ["hello world", "again"],
                "user_name": ["ana maria"],
            }))
        );
        let converted = form_json(Some(FORM_CONTENT_TYPE), body)
            .unwrap()
            .to_string();
        assert!(converted.starts_with("{\"channel_id\""), "{converted}");
    }

    #[test]
    fn only_the_exact_content_type_and_more_than_one_key_convert() {
        let body = b"a=1&b=2";
        assert!(form_json(Some(FORM_CONTENT_TYPE), body).is_some());
        for other in [
            None,
            Some("application/json"),
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            Some("Application/X-WWW-Form-Urlencoded"),
        ] {
            assert_eq!(form_json(other, body), None, "{other:?}");
        }
        for one_key in [
            &b"a=1"[..],
            b"a=1&a=2",
            b"{\"a\":1}",
            b"",
            b"a=1&b=%zz",
            b"a=1;b=2&c",
        ] {
            let parsed = parse_query(one_key).len();
            assert_eq!(
                form_json(Some(FORM_CONTENT_TYPE), one_key),
                None,
                "{} ({parsed} keys)",
                String::from_utf8_lossy(one_key)
            );
        }
    }

    #[test]
    fn parsing_skips_what_go_skips_and_keeps_the_rest() {
        let form = parse_query(b"a=%41%2b&&bad=%4&semi=1;2&flag&=v&c=%E2%82%AC&d=%FF");
        let expected: BTreeMap<String, Vec<String>> = [
            ("", "v"),
            ("a", "A+"),
            ("c", "€"),
            ("d", "\u{fffd}"),
            ("flag", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
        .collect();
        assert_eq!(form, expected);
    }
}
