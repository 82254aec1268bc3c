//! Compiled regular expressions, cached per process, for `matches` and `translate`.
//!
//! The `cel` crate's own `matches` compiles its pattern on every call (8–17 µs, design notes §4),
//! where cel-go compiles a constant pattern once. `env.rs` adds macros that rewrite every
//! `s.matches(re)` and `matches(s, re)` to the internal `@matches`, which looks the pattern up
//! here (well under 1 µs). Behaviour is the stock one: RE2 syntax, unanchored search.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use ::cel::ExecutionError;
use ::regex::Regex;

use super::{Args, Ret, bool_val, str_arg, take};

/// Patterns kept before the cache is emptied. Expressions name a handful of constant patterns;
/// the bound only matters when patterns come from event data, which must not grow memory.
const CACHE_CAPACITY: usize = 256;

static CACHE: LazyLock<RwLock<HashMap<String, Arc<Regex>>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

/// `pattern` compiled, from the cache when it was compiled before.
///
/// NB: callers match through the shared `Arc<Regex>`; cloning a `Regex` would start it with a
/// cold match cache (about 10× slower per match).
///
/// # Errors
///
/// The pattern's syntax error, or a pattern exceeding the `regex` crate's default size limit.
pub(crate) fn compiled(pattern: &str) -> Result<Arc<Regex>, ::regex::Error> {
    // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
    if let Some(regex) = CACHE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(pattern)
    {
        return Ok(Arc::clone(regex));
    }
    let regex = Arc::new(Regex::new(pattern)?);
    let mut cache = CACHE.write().unwrap_or_else(PoisonError::into_inner);
    if cache.len() >= CACHE_CAPACITY {
        cache.clear();
    }
    cache.insert(pattern.to_owned(), Arc::clone(&regex));
    Ok(regex)
}

/// `s.matches(re)` / `matches(s, re)`: whether `re` matches anywhere in `s`.
///
/// # Errors
///
/// A pattern that does not compile, worded as the `cel` crate's own `matches`.
pub(crate) fn matches<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let [s, pattern] = take(args)?;
    let text = str_arg(s.as_ref(), "matches")?;
    let pattern = str_arg(pattern.as_ref(), "matches")?;
    let regex = compiled(pattern).map_err(|e| {
        ExecutionError::function_error("matches", format!("'{pattern}' not a valid regex:\n{e}"))
    })?;
    Ok(bool_val(regex.is_match(text)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{eval, eval_err};
    use super::*;
    use serde_json::json;

    #[test]
    fn member_and_global_matches_search_anywhere() {
        let body = json!({"title": "Update README"});
        assert_eq!(
            eval("body.title.matches('^Update')", body.clone()),
            Ok(json!(true))
        );
        assert_eq!(
            eval("matches(body.title, 'READ')", body.clone()),
            Ok(json!(true))
        );
        assert_eq!(
            eval("body.title.matches('^README')", body),
            Ok(json!(false))
        );
    }

    #[test]
    fn a_bad_pattern_is_an_evaluation_error() {
        assert!(eval_err("'x'.matches('(')", json!({})).contains("not a valid regex"));
    }

    #[test]
    fn the_cache_hands_out_the_same_compiled_regex() {
        let a = compiled("^cache-test-[0-9]+$").expect("compiles");
        let b = compiled("^cache-test-[0-9]+$").expect("compiles");
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn the_macro_leaves_other_arities_alone() {
        // `matches` with one argument globally is not a call we rewrite, nor one that exists.
        assert!(crate::cel::Program::compile("matches('x')").is_err());
    }
}
