//! Tekton's string functions `truncate` and `translate` (behaviour reference §4.5; upstream
//! `pkg/interceptors/cel/triggers.go` `truncateString`, `translateString`), and cel-go's
//! `indexOf`/`lastIndexOf` with an offset, whose out-of-range answer differs from the crate's
//! (cel-go `ext/strings.go`).

use ::cel::ExecutionError;

use super::regex::compiled;
use super::{Args, Ret, arg, str_arg, string_val, take};
use ::cel::common::types::CelInt;
use ::cel::common::value::CowVal;

/// `s.truncate(n)`: the first `n` **bytes** of `s`, or all of `s` when it is shorter.
///
/// Upstream slices the Go string at byte `n`, which can split a multi-byte character and leave
/// invalid UTF-8. A Rust string cannot hold that, so we cut at the last character boundary at or
/// below `n`: `'héllo'.truncate(2)` is `'h'` (upstream: `h` plus half of `é`). ASCII is
/// unaffected, which covers the usual `sha.truncate(7)`.
///
/// The argument is an `int` (`7`), as upstream's code declares; its docs say `uint`, and `7u`
/// is a no-overload error in both.
///
/// # Errors
///
/// A negative `n` (upstream panics with "slice bounds out of range").
pub(crate) fn truncate<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [s, n] = take(args)?;
    let text = str_arg(s.as_ref(), "truncate")?;
    let n = *arg::<CelInt>(n.as_ref(), "truncate")?.inner();
    let n = usize::try_from(n).map_err(|_| {
        ExecutionError::function_error("truncate", format!("slice bounds out of range [:{n}]"))
    })?;
    if n >= text.len() {
        return Ok(s);
    }
    let cut = (0..=n)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    Ok(string_val(text[..cut].to_owned()))
}

/// `s.translate(regex, replacement)`: every match of `regex` in `s` replaced, as Go's
/// `Regexp.ReplaceAllString`. In `replacement`, `$1`, `${1}`, `$name` and `${name}` stand for
/// capture groups (the longest name wins: `$1x` is group `1x`; use `${1}x`), `$$` for `$`, and an
/// unknown group for nothing: the same rules as Go's `Expand`.
///
/// The regex syntax is RE2's, as in Go; NB: Rust's `\d`, `\w`, `\s` and `\b` are Unicode-aware
/// where Go's are ASCII-only.
///
/// # Errors
///
/// A pattern that does not compile: `failed to parse regular expression for translation: …`.
pub(crate) fn translate<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [s, pattern, replacement] = take(args)?;
    let text = str_arg(s.as_ref(), "translate")?;
    let pattern = str_arg(pattern.as_ref(), "translate")?;
    let replacement = str_arg(replacement.as_ref(), "translate")?;
    let regex = compiled(pattern).map_err(|e| {
        ExecutionError::function_error(
            "translate",
            format!("failed to parse regular expression for translation: {e}"),
        )
    })?;
    let replaced = regex.replace_all(text, replacement).into_owned();
    Ok(string_val(replaced))
}

/// `s.indexOf(sub, offset)`: the index, in characters, of the first `sub` in `s` at or after
/// `offset`, or -1. As cel-go (and unlike the `cel` crate, which fails): an offset at or past the
/// end gives -1, and an empty `sub` is found at `offset` clamped to the length. `env.rs` routes
/// the call here through a macro, as the crate's own overload would take precedence.
///
/// # Errors
///
/// A negative offset: `index out of range: -1`.
pub(crate) fn index_of_offset<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let (text, sub, offset) = offset_args(args, "indexOf")?;
    if sub.is_empty() {
        return Ok(int_val(offset.min(text.len())));
    }
    if offset >= text.len() || sub.len() > text.len() {
        return Ok(int_val(-1));
    }
    let found = (offset..=text.len() - sub.len()).find(|&i| text[i..].starts_with(&sub));
    Ok(int_val(found.map_or(-1, |i| i as i64)))
}

/// `s.lastIndexOf(sub, offset)`: the index, in characters, of the last `sub` in `s` starting at
/// or before `offset`, or -1. As cel-go: an offset at or past the end gives -1 (not an error, as
/// in the `cel` crate), and an empty `sub` is found at `offset` clamped to the length.
///
/// # Errors
///
/// A negative offset: `index out of range: -1`.
pub(crate) fn last_index_of_offset<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let (text, sub, offset) = offset_args(args, "lastIndexOf")?;
    if sub.is_empty() {
        return Ok(int_val(offset.min(text.len())));
    }
    if offset >= text.len() || sub.len() > text.len() {
        return Ok(int_val(-1));
    }
    let last_start = offset.min(text.len() - sub.len());
    let found = (0..=last_start)
        .rev()
        .find(|&i| text[i..].starts_with(&sub));
    Ok(int_val(found.map_or(-1, |i| i as i64)))
}

/// The receiver and the substring as characters, and the offset, for the two functions above.
fn offset_args(
    args: Args<'_, '_>,
    function: &str,
) -> Result<(Vec<char>, Vec<char>, usize), ExecutionError> {
    let [s, sub, offset] = take(args)?;
    let text = str_arg(s.as_ref(), function)?.chars().collect();
    let sub = str_arg(sub.as_ref(), function)?.chars().collect();
    let offset = *arg::<CelInt>(offset.as_ref(), function)?.inner();
    let offset = usize::try_from(offset).map_err(|_| {
        ExecutionError::function_error(function, format!("index out of range: {offset}"))
    })?;
    Ok((text, sub, offset))
}

fn int_val<'b, 'v>(i: impl TryInto<i64>) -> CowVal<'b, 'v> {
    CowVal::owned(CelInt::from(i.try_into().unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{eval, eval_err};
    use serde_json::json;

    #[test]
    fn truncate_keeps_the_first_n_bytes() {
        let body = json!({"sha": "0123456789abcdef"});
        assert_eq!(
            eval("body.sha.truncate(7)", body.clone()),
            Ok(json!("0123456"))
        );
        assert_eq!(eval("body.sha.truncate(0)", body.clone()), Ok(json!("")));
        assert_eq!(
            eval("body.sha.truncate(100)", body),
            Ok(json!("0123456789abcdef"))
        );
    }

    #[test]
    fn truncate_backs_off_to_a_character_boundary() {
        assert_eq!(eval("'héllo'.truncate(2)", json!({})), Ok(json!("h")));
        assert_eq!(eval("'héllo'.truncate(3)", json!({})), Ok(json!("hé")));
    }

    #[test]
    fn truncate_rejects_a_negative_length_and_a_uint() {
        assert!(eval_err("'abc'.truncate(-1)", json!({})).contains("slice bounds out of range"));
        assert!(eval_err("'abc'.truncate(dyn(1u))", json!({})).contains("no matching overload"));
    }

    #[test]
    fn translate_replaces_every_match() {
        assert_eq!(
            eval(
                "'this is $aN INvalid5string '.translate('[^a-z0-9]+', '')",
                json!({})
            ),
            Ok(json!("thisisavalid5string"))
        );
    }

    #[test]
    fn translate_expands_numbered_and_named_groups() {
        assert_eq!(
            eval(
                "'refs/heads/main'.translate('^refs/heads/(.*)$', 'branch-$1')",
                json!({})
            ),
            Ok(json!("branch-main"))
        );
        assert_eq!(
            eval(
                "'a-b'.translate('(?P<x>[a-z])-(?P<y>[a-z])', '${y}${x}$$')",
                json!({})
            ),
            Ok(json!("ba$"))
        );
    }

    #[test]
    fn translate_reports_a_bad_pattern() {
        assert!(
            eval_err("'x'.translate('(', '')", json!({}))
                .contains("failed to parse regular expression for translation")
        );
    }

    #[test]
    fn index_of_with_an_offset_past_the_end_is_minus_one_as_in_cel_go() {
        // Expected values as upstream's cel-eval answered them.
        for (expression, want) in [
            ("'hello'.indexOf('l', 3)", 3),
            ("'hello'.indexOf('l', 5)", -1),
            ("'hello'.indexOf('l', 10)", -1),
            ("''.indexOf('a', 1)", -1),
            ("'hello'.indexOf('', 6)", 5),
            ("''.indexOf('', 1)", 0),
            ("'héllo'.indexOf('l', 3)", 3),
            ("'hello'.lastIndexOf('l', 2)", 2),
            ("'hello'.lastIndexOf('l', 4)", 3),
            ("'hello'.lastIndexOf('l', 10)", -1),
            ("'hello'.lastIndexOf('', 10)", 5),
            ("'hello'.lastIndexOf('', 3)", 3),
            ("'ab'.lastIndexOf('abc', 1)", -1),
        ] {
            assert_eq!(eval(expression, json!({})), Ok(json!(want)), "{expression}");
        }
    }

    #[test]
    fn index_of_with_a_negative_offset_fails_and_names_the_function() {
        let err = eval_err("'hello'.indexOf('l', -1)", json!({}));
        assert!(
            err.ends_with("failed to evaluate: index out of range: -1"),
            "{err}"
        );
        let err = eval_err("'hello'.lastIndexOf('l', dyn(1.0))", json!({}));
        assert!(
            err.contains("found no matching overload for 'lastIndexOf'"),
            "{err}"
        );
    }
}
