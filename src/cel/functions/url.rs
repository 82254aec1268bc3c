//! Tekton's `parseURL` (behaviour reference §4.5; upstream `pkg/interceptors/cel/triggers.go`
//! `parseURLString` and `urlToMap` over Go's `net/url`).
//!
//! The result is a map with `scheme`, `host` (with port), `path` (unescaped), `rawQuery`,
//! `fragment` (unescaped), `queryStrings` (each key to the list of its values) and `query` (each
//! key to its values joined with `,`), plus `auth: {username, password}` when the URL has user
//! information. Parsing follows Go's `url.Parse` for the shapes webhooks carry: absolute URLs
//! (`https://user:pw@host:8080/p?q=1#f`), and request targets (`/hook?x=1`, what `requestURL`
//! holds). Query strings are split as Go's `url.ParseQuery` (`&`, `+` as space, `%XX`); pairs
//! whose key holds `;` are dropped, as Go does.

use std::collections::{BTreeMap, HashMap};

use ::cel::ExecutionError;
use ::cel::common::types::{CelList, CelMap, CelMapKey, CelString};
use ::cel::common::value::{CowVal, Val};
use percent_encoding::percent_decode_str;

use super::{Args, Ret, str_arg, take};

/// The parts of a URL, as Go's `url.URL` holds them.
#[derive(Debug, Default, PartialEq, Eq)]
struct GoUrl {
    scheme: String,
    user: Option<(String, String)>,
    host: String,
    path: String,
    raw_query: String,
    fragment: String,
}

/// `s.parseURL()`: see the module docs.
///
/// # Errors
///
/// A URL Go would reject (control characters, a bad `%` escape, `:` in the first path segment of
/// a relative URL, a missing scheme before `:`): `failed to decode '<s>' in parseURL: …`.
pub(crate) fn parse_url<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [s] = take(args)?;
    let text = str_arg(s.as_ref(), "parseURL")?;
    let url = parse(text).map_err(|why| {
        ExecutionError::function_error(
            "parseURL",
            format!("failed to decode '{text}' in parseURL: parse {text:?}: {why}"),
        )
    })?;
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(url.raw_query.as_bytes()) {
        if key.contains(';') {
            continue;
        }
        query
            .entry(key.into_owned())
            .or_default()
            .push(value.into_owned());
    }
    let string = |s: String| Box::new(CelString::from(s)) as Box<dyn Val>;
    let key = |s: &str| CelMapKey::String(CelString::from(s.to_owned()));
    let mut map: HashMap<CelMapKey<'static>, Box<dyn Val>> = HashMap::new();
    map.insert(
        key("queryStrings"),
        Box::new(CelMap::from(
            query
                .iter()
                .map(|(k, vs)| {
                    let values: Vec<Box<dyn Val>> = vs.iter().cloned().map(string).collect();
                    (key(k), Box::new(CelList::from(values)) as Box<dyn Val>)
                })
                .collect::<HashMap<_, _>>(),
        )),
    );
    map.insert(
        key("query"),
        Box::new(CelMap::from(
            query
                .iter()
                .map(|(k, vs)| (key(k), string(vs.join(","))))
                .collect::<HashMap<_, _>>(),
        )),
    );
    if let Some((username, password)) = url.user {
        map.insert(
            key("auth"),
            Box::new(CelMap::from(HashMap::from([
                (key("username"), string(username)),
                (key("password"), string(password)),
            ]))),
        );
    }
    for (name, value) in [
        ("scheme", url.scheme),
        ("host", url.host),
        ("path", url.path),
        ("rawQuery", url.raw_query),
        ("fragment", url.fragment),
    ] {
        map.insert(key(name), string(value));
    }
    Ok(CowVal::owned(CelMap::from(map)))
}

/// Go's `url.Parse`, for the parts `urlToMap` reads.
fn parse(text: &str) -> Result<GoUrl, String> {
    if text.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut url = GoUrl::default();
    let (rest, fragment) = match text.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (text, None),
    };
    if let Some(fragment) = fragment {
        url.fragment = unescape(fragment)?;
    }
    let mut rest = rest;
    if let Some((scheme, after)) = split_scheme(rest)? {
        url.scheme = scheme.to_ascii_lowercase();
        rest = after;
    }
    if let Some((before, query)) = rest.split_once('?') {
        url.raw_query = query.to_owned();
        rest = before;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            // An opaque URL (`mailto:x@y`): Go keeps it in `Opaque`, which `urlToMap` ignores.
            return Ok(url);
        }
        let first_segment = rest.split('/').next().unwrap_or_default();
        if first_segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!url.scheme.is_empty() || rest.starts_with("//")) && rest.starts_with("//") {
        let authority_and_path = &rest[2..];
        let end = authority_and_path
            .find('/')
            .unwrap_or(authority_and_path.len());
        let authority = &authority_and_path[..end];
        rest = &authority_and_path[end..];
        let host = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                url.user = Some((unescape(user)?, unescape(password)?));
                host
            }
            None => authority,
        };
        url.host = unescape(host)?;
    }
    url.path = unescape(rest)?;
    Ok(url)
}

/// `scheme:` at the start of `text`, as Go's `getScheme`: a letter, then letters, digits, `+`,
/// `-`, `.`, up to the first `:`. No scheme when another character comes first.
fn split_scheme(text: &str) -> Result<Option<(&str, &str)>, String> {
    for (i, c) in text.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme".into()),
            ':' => return Ok(Some((&text[..i], &text[i + 1..]))),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// `%XX` decoded; a `%` not followed by two hex digits is Go's `invalid URL escape`.
fn unescape(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('%') {
        let valid = bytes
            .get(i + 1..i + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
        if !valid {
            let end = (i + 3).min(text.len());
            return Err(format!(
                "invalid URL escape {:?}",
                text.get(i..end).unwrap_or("%")
            ));
        }
    }
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{eval, eval_err};
    use super::*;

    #[test]
    fn absolute_url_parts() {
        let v = eval(
            "'https://bob:p%40ss@example.com:8443/a%20b/c?x=1&x=2&y=z+w#frag%21'.parseURL()",
            json!({}),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "scheme": "https", "host": "example.com:8443", "path": "/a b/c",
                "rawQuery": "x=1&x=2&y=z+w", "fragment": "frag!",
                "queryStrings": {"x": ["1", "2"], "y": ["z w"]},
                "query": {"x": "1,2", "y": "z w"},
                "auth": {"username": "bob", "password": "p@ss"}
            })
        );
    }

    #[test]
    fn request_target_has_no_scheme_or_host() {
        let v = eval("requestURL.parseURL()", json!({})).unwrap();
        assert_eq!(v["path"], "/hook");
        assert_eq!(v["host"], "");
        assert_eq!(v["query"]["x"], "1");
        assert!(v.get("auth").is_none());
    }

    #[test]
    fn invalid_urls_are_errors() {
        let err = eval_err("'http://x/%zz'.parseURL()", json!({}));
        assert!(
            err.contains("failed to decode 'http://x/%zz' in parseURL"),
            "{err}"
        );
        assert!(err.contains("invalid URL escape"), "{err}");
        assert!(eval_err("':foo'.parseURL()", json!({})).contains("missing protocol scheme"));
        assert_eq!(eval("'a:b/c'.parseURL().scheme", json!({})).unwrap(), "a");
    }

    #[test]
    fn go_parse_shapes() {
        assert_eq!(parse("a:b/c").unwrap().scheme, "a");
        assert!(parse("./a:b").is_ok());
        assert_eq!(
            parse("x:b").unwrap(),
            GoUrl {
                scheme: "x".into(),
                ..GoUrl::default()
            }
        );
        assert_eq!(parse("HTTP://H/p").unwrap().scheme, "http");
        assert_eq!(parse("//host/p").unwrap().host, "host");
    }
}
