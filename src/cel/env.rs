//! The CEL environment of Tekton's cel interceptor, built once per process: the standard library,
//! the `cel` crate's strings, encoders, lists and math extensions, and our own functions (behaviour
//! reference §4.5; upstream `pkg/interceptors/cel/cel.go` `makeCelEnv` and
//! `pkg/interceptors/cel/triggers.go` `CompileOptions`, lines 170-212).
//!
//! This file holds **the** table of what expressions may call:
//!
//! - [`OVERLOADS`], every function we register, with its id, call style, parameter types and
//!   implementation; the registrations and the checker's names both come from it;
//! - [`BUILTINS`], the functions the `cel` crate declares itself, which it cannot list for us.
//!   A test calls each of them on the built environment, so the table cannot name a function the
//!   crate lacks; a function the crate adds and the table misses is merely rejected at compile.
//!
//! Differences from upstream's environment, on purpose: optional syntax (`a.?b`) is off, as cel-go
//! has it off unless asked; a map literal repeating a key keeps the last value (cel-go) rather than
//! failing; `matches` goes through a regex cache (`functions::regex`); `compareSecret` goes through
//! a macro and a hidden variable (`functions::secret`). Not a difference but a detour: `string(x)`
//! is rewritten to `@string(x)`, which writes doubles and timestamps as cel-go does where the
//! crate's own `string()` does not (`functions::conversions`), and `s.indexOf(t, n)` and
//! `s.lastIndexOf(t, n)` to `@indexOf`/`@lastIndexOf`, which answer -1 for an offset past the end
//! as cel-go does where the crate fails (`functions::strings`). The crate's overloads come first
//! and cannot be replaced, hence the macros.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use ::cel::common::ast::{CallExpr, Expr};
use ::cel::common::functions::Function;
use ::cel::common::types::{DYN_TYPE, INT_TYPE, LIST_TYPE, MAP_TYPE, STRING_TYPE, Type};
use ::cel::parser::{Macro, MacroExprHelper};
use ::cel::{Context, DeclarationError, Env, IdedExpr, ParseError, ParseErrors, extensions};

use super::functions::{conversions, header, json, lists, regex, secret, sets, strings, url};

/// How a function is called: `f(x, y)` or `x.f(y)`. Upstream declares all of Tekton's functions
/// as member functions only, so `truncate(s, 7)` is rejected and `s.truncate(7)` accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// `f(x, y)`, including namespaced names such as `sets.contains(a, b)`.
    Global,
    /// `x.f(y)`: the receiver `x` is the first parameter.
    Member,
}

/// One overload we register.
pub(crate) struct Overload {
    /// The name expressions call.
    pub(crate) name: &'static str,
    /// Upstream's overload id where it has one; unique among the overloads of `name`.
    id: &'static str,
    /// How it is called.
    pub(crate) style: Style,
    /// Parameter types, the receiver first for a member function. Every list is `LIST_TYPE` and
    /// every map `MAP_TYPE` at run time, so parameters are never `list(string)` and the like.
    pub(crate) params: &'static [Type],
    function: Function,
}

/// The name internal to our `matches` rewrite; `@` keeps expressions from naming it.
const CACHED_MATCHES: &str = "@matches";

/// The name internal to our `string(x)` rewrite (see `functions/conversions.rs`).
const GO_STRING: &str = "@string";

/// Every function we register: Tekton's, cel-go's sets and `json.encode`, and the cached
/// `matches`.
static OVERLOADS: &[Overload] = &[
    // Tekton, upstream triggers.go:170-212, in its order.
    Overload {
        name: "match",
        id: "match_map_string_string",
        style: Style::Member,
        params: &[MAP_TYPE, STRING_TYPE, STRING_TYPE],
        function: header::match_header,
    },
    Overload {
        name: "canonical",
        id: "canonical_map_string",
        style: Style::Member,
        params: &[MAP_TYPE, STRING_TYPE],
        function: header::canonical_header,
    },
    Overload {
        name: "truncate",
        id: "truncate_string_uint",
        style: Style::Member,
        params: &[STRING_TYPE, INT_TYPE],
        function: strings::truncate,
    },
    Overload {
        name: "parseJSON",
        id: "parseJSON_string",
        style: Style::Member,
        params: &[STRING_TYPE],
        function: json::parse_json,
    },
    Overload {
        name: "parseYAML",
        id: "parseYAML_string",
        style: Style::Member,
        params: &[STRING_TYPE],
        function: json::parse_yaml,
    },
    Overload {
        name: "parseURL",
        id: "parseURL_string",
        style: Style::Member,
        params: &[STRING_TYPE],
        function: url::parse_url,
    },
    Overload {
        name: "marshalJSON",
        id: "marshalJSON_map",
        style: Style::Member,
        params: &[MAP_TYPE],
        function: json::marshal_json,
    },
    Overload {
        name: "marshalJSON",
        id: "marshalJSON_list",
        style: Style::Member,
        params: &[LIST_TYPE],
        function: json::marshal_json,
    },
    Overload {
        name: "last",
        id: "last_list",
        style: Style::Member,
        params: &[LIST_TYPE],
        function: lists::last,
    },
    Overload {
        name: "first",
        id: "first_list",
        style: Style::Member,
        params: &[LIST_TYPE],
        function: lists::first,
    },
    Overload {
        name: "translate",
        id: "translate_string_string",
        style: Style::Member,
        params: &[STRING_TYPE, STRING_TYPE, STRING_TYPE],
        function: strings::translate,
    },
    // compareSecret, reached through its receiver macro (see functions/secret.rs).
    Overload {
        name: secret::FUNCTION,
        id: "compareSecret_string_string_string",
        style: Style::Global,
        params: &[STRING_TYPE, STRING_TYPE, STRING_TYPE, secret::SECRETS_TYPE],
        function: secret::compare_secret,
    },
    Overload {
        name: secret::FUNCTION,
        id: "compareSecret_string_string_string_string",
        style: Style::Global,
        params: &[
            STRING_TYPE,
            STRING_TYPE,
            STRING_TYPE,
            STRING_TYPE,
            secret::SECRETS_TYPE,
        ],
        function: secret::compare_secret,
    },
    // cel-go's sets extension (ids as cel-go's).
    Overload {
        name: "sets.contains",
        id: "list_sets_contains_list",
        style: Style::Global,
        params: &[LIST_TYPE, LIST_TYPE],
        function: sets::contains,
    },
    Overload {
        name: "sets.equivalent",
        id: "list_sets_equivalent_list",
        style: Style::Global,
        params: &[LIST_TYPE, LIST_TYPE],
        function: sets::equivalent,
    },
    Overload {
        name: "sets.intersects",
        id: "list_sets_intersects_list",
        style: Style::Global,
        params: &[LIST_TYPE, LIST_TYPE],
        function: sets::intersects,
    },
    // cel-go's encoders extension: `json.encode` (the crate has the base64 half).
    Overload {
        name: "json.encode",
        id: "json_encode_dyn",
        style: Style::Global,
        params: &[DYN_TYPE],
        function: json::encode,
    },
    // `string(x)` with cel-go's formatting of doubles and timestamps; the macro below routes
    // every `string(x)` here.
    Overload {
        name: GO_STRING,
        id: "string_go",
        style: Style::Global,
        params: &[DYN_TYPE],
        function: conversions::string,
    },
    // cel-go's `indexOf`/`lastIndexOf` with an offset; the macros below route them here.
    Overload {
        name: "@indexOf",
        id: "string_index_of_string_int",
        style: Style::Member,
        params: &[STRING_TYPE, STRING_TYPE, INT_TYPE],
        function: strings::index_of_offset,
    },
    Overload {
        name: "@lastIndexOf",
        id: "string_last_index_of_string_int",
        style: Style::Member,
        params: &[STRING_TYPE, STRING_TYPE, INT_TYPE],
        function: strings::last_index_of_offset,
    },
    // `matches` with a regex cache; the macros below route both call styles here.
    Overload {
        name: CACHED_MATCHES,
        id: "matches_string_cached",
        style: Style::Member,
        params: &[STRING_TYPE, STRING_TYPE],
        function: regex::matches,
    },
    Overload {
        name: CACHED_MATCHES,
        id: "matches_cached",
        style: Style::Global,
        params: &[STRING_TYPE, STRING_TYPE],
        function: regex::matches,
    },
];

/// Every overload we register, for the type check (`typing.rs`).
pub(crate) fn overloads() -> &'static [Overload] {
    OVERLOADS
}

/// A function the `cel` crate declares, by name, call style and argument counts (the receiver
/// not counted).
pub(crate) struct Builtin {
    name: &'static str,
    style: Style,
    arities: &'static [usize],
}

const fn global(name: &'static str, arities: &'static [usize]) -> Builtin {
    Builtin {
        name,
        style: Style::Global,
        arities,
    }
}

const fn member(name: &'static str, arities: &'static [usize]) -> Builtin {
    Builtin {
        name,
        style: Style::Member,
        arities,
    }
}

/// The functions of the crate's standard library and of the extensions [`build`] adds (read in
/// `cel` 0.15.0 `common/types/*.rs` and `extensions/*.rs`). Names starting with `@` are what the
/// crate's macros expand to; expressions cannot write them.
static BUILTINS: &[Builtin] = &[
    // standard library: conversions and `size`
    global("bool", &[1]),
    global("bytes", &[1]),
    global("double", &[1]),
    global("duration", &[1]),
    global("dyn", &[1]),
    global("int", &[1]),
    global("string", &[1]),
    global("timestamp", &[1]),
    global("type", &[1]),
    global("uint", &[1]),
    global("size", &[1]),
    global("matches", &[2]),
    member("size", &[0]),
    // standard library: strings
    member("contains", &[1]),
    member("endsWith", &[1]),
    member("startsWith", &[1]),
    member("matches", &[1]),
    // standard library: timestamps (0 or 1 argument, the time zone) and durations (0)
    member("getDate", &[0, 1]),
    member("getDayOfMonth", &[0, 1]),
    member("getDayOfWeek", &[0, 1]),
    member("getDayOfYear", &[0, 1]),
    member("getFullYear", &[0, 1]),
    member("getHours", &[0, 1]),
    member("getMilliseconds", &[0, 1]),
    member("getMinutes", &[0, 1]),
    member("getMonth", &[0, 1]),
    member("getSeconds", &[0, 1]),
    // strings extension
    member("charAt", &[1]),
    member("indexOf", &[1, 2]),
    member("lastIndexOf", &[1, 2]),
    member("join", &[0, 1]),
    member("lowerAscii", &[0]),
    member("upperAscii", &[0]),
    member("trim", &[0]),
    member("replace", &[2, 3]),
    member("split", &[1, 2]),
    member("substring", &[1, 2]),
    member("format", &[1]),
    member("reverse", &[0]),
    global("strings.quote", &[1]),
    // encoders extension
    global("base64.decode", &[1]),
    global("base64.encode", &[1]),
    // lists extension (`sortBy` is a macro expanding to `@sortByAssociatedKeys`)
    member("slice", &[2]),
    member("flatten", &[0, 1]),
    member("distinct", &[0]),
    member("sort", &[0]),
    member("@sortByAssociatedKeys", &[1]),
    global("lists.range", &[1]),
    // math extension (`math.greatest`/`math.least` are macros expanding to `math.@max`/`@min`)
    global("math.@max", &[1, 2]),
    global("math.@min", &[1, 2]),
    global("math.abs", &[1]),
    global("math.bitAnd", &[2]),
    global("math.bitNot", &[1]),
    global("math.bitOr", &[2]),
    global("math.bitShiftLeft", &[2]),
    global("math.bitShiftRight", &[2]),
    global("math.bitXor", &[2]),
    global("math.ceil", &[1]),
    global("math.floor", &[1]),
    global("math.isFinite", &[1]),
    global("math.isInf", &[1]),
    global("math.isNaN", &[1]),
    global("math.round", &[1]),
    global("math.sign", &[1]),
    global("math.sqrt", &[1]),
    global("math.trunc", &[1]),
];

/// The operators the parser and the standard macros produce: always accepted.
const OPERATORS: &[&str] = &[
    "_?_:_",
    "_&&_",
    "_||_",
    "!_",
    "-_",
    "_+_",
    "_-_",
    "_*_",
    "_/_",
    "_%_",
    "_==_",
    "_!=_",
    "_<_",
    "_<=_",
    "_>_",
    "_>=_",
    "_[_]",
    "@in",
    "@not_strictly_false",
];

/// The variables every expression may read (upstream `makeCelEnv` `VariableDecls`), and the
/// hidden one our macros introduce (expressions cannot spell `@`).
pub(crate) const VARIABLES: [&str; 5] = [
    "body",
    "header",
    "requestURL",
    "extensions",
    secret::VARIABLE,
];

/// The argument counts a name accepts in each call style; empty when not declared in that style.
#[derive(Debug, Default)]
pub(crate) struct Declared {
    /// Argument counts of `f(…)`.
    pub(crate) global: Vec<usize>,
    /// Argument counts of `x.f(…)`, the receiver not counted.
    pub(crate) member: Vec<usize>,
}

impl Declared {
    /// The argument counts for `style`.
    pub(crate) fn arities(&self, style: Style) -> &[usize] {
        match style {
            Style::Global => &self.global,
            Style::Member => &self.member,
        }
    }
}

/// The environment every program is compiled in and evaluated against.
pub(crate) struct Environment {
    env: Arc<Env>,
    root: Context<'static, 'static>,
    functions: HashMap<&'static str, Declared>,
}

/// The process-wide environment, built on first use.
pub(crate) fn environment() -> &'static Environment {
    static ENVIRONMENT: LazyLock<Environment> = LazyLock::new(|| {
        // Only a programming error in the tables above can fail here, and the tests build this.
        build().expect("the CEL function table declares each overload once")
    });
    &ENVIRONMENT
}

/// Builds the environment from the tables above.
fn build() -> Result<Environment, DeclarationError> {
    let mut env = Env::stdlib().with_optional_support(false);
    env.set_error_on_duplicate_map_keys(false);
    env.add_extension(extensions::strings)?;
    env.add_extension(extensions::encoders)?;
    env.add_extension(extensions::lists)?;
    env.add_extension(extensions::math)?;
    for overload in OVERLOADS {
        let params = overload.params.iter().map(Type::to_owned);
        match (overload.style, overload.params.split_first()) {
            (Style::Member, Some((receiver, _))) => env.add_member_overload(
                overload.name,
                overload.id,
                receiver.to_owned(),
                params.skip(1).collect(),
                overload.function,
            )?,
            _ => env.add_overload(
                overload.name,
                overload.id,
                params.collect(),
                overload.function,
            )?,
        }
    }
    env.add_macro(Macro::receiver("matches", 1, rewrite_matches))?;
    env.add_macro(Macro::global("matches", 2, rewrite_matches))?;
    env.add_macro(Macro::global("string", 1, rename(GO_STRING)))?;
    env.add_macro(Macro::receiver("indexOf", 2, rename("@indexOf")))?;
    env.add_macro(Macro::receiver("lastIndexOf", 2, rename("@lastIndexOf")))?;
    env.add_macro(Macro::receiver("compareSecret", 2, secret::rewrite))?;
    env.add_macro(Macro::receiver("compareSecret", 3, secret::rewrite))?;

    let env = Arc::new(env);
    Ok(Environment {
        root: Context::with_env(Arc::clone(&env)),
        env,
        functions: declared_functions(),
    })
}

/// Every callable name with its argument counts, from both tables.
fn declared_functions() -> HashMap<&'static str, Declared> {
    let mut functions: HashMap<&'static str, Declared> = HashMap::new();
    let mut declare = |name, style, arity| {
        let declared = functions.entry(name).or_default();
        let arities = match style {
            Style::Global => &mut declared.global,
            Style::Member => &mut declared.member,
        };
        if !arities.contains(&arity) {
            arities.push(arity);
        }
    };
    for builtin in BUILTINS {
        for &arity in builtin.arities {
            declare(builtin.name, builtin.style, arity);
        }
    }
    for overload in OVERLOADS {
        let receiver = usize::from(overload.style == Style::Member);
        declare(
            overload.name,
            overload.style,
            overload.params.len().saturating_sub(receiver),
        );
    }
    functions
}

/// `s.matches(re)` and `matches(s, re)` → the same call of [`CACHED_MATCHES`].
fn rewrite_matches(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    rename(CACHED_MATCHES)(helper, target, args)
}

/// A macro expander calling `to` instead, with the same target and arguments.
fn rename(
    to: &'static str,
) -> impl Fn(
    &mut MacroExprHelper<'_>,
    &mut Option<IdedExpr>,
    &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError>
+ Send
+ Sync
+ 'static {
    move |helper, target, args| {
        Ok(Some(helper.next_expr(Expr::Call(CallExpr {
            func_name: to.to_owned(),
            target: target.take().map(Box::new),
            args: std::mem::take(args),
        }))))
    }
}

/// Calls the `cel` crate's own global function `name` (one of [`BUILTINS`]) with `args`, for
/// functions of ours that delegate to it.
///
/// # Errors
///
/// The function's own error, or `found no matching overload` when none takes `args`.
pub(crate) fn call_stdlib<'b, 'v>(
    name: &str,
    args: Vec<::cel::common::value::CowVal<'b, 'v>>,
) -> Result<::cel::common::value::CowVal<'b, 'v>, ::cel::ExecutionError> {
    match environment().env.find_overload(name, &args) {
        Some(function) => function(args),
        None => Err(::cel::ExecutionError::no_such_overload(
            name,
            args.iter()
                .map(|arg| arg.get_type().name().to_owned())
                .collect(),
        )),
    }
}

impl Environment {
    /// Parses `source` and expands the macros (no checking: see `check.rs`).
    pub(crate) fn parse(&self, source: &str) -> Result<::cel::Program, ParseErrors> {
        self.env.compile(source)
    }

    /// The root context, holding nothing but the environment; evaluations bind their variables
    /// in a child scope of it.
    pub(crate) fn root(&self) -> &Context<'static, 'static> {
        &self.root
    }

    /// What `name` accepts, if any call style declares it.
    pub(crate) fn function(&self, name: &str) -> Option<&Declared> {
        self.functions.get(name)
    }

    /// Whether `name` is an operator the parser or the standard macros produce.
    pub(crate) fn is_operator(&self, name: &str) -> bool {
        OPERATORS.contains(&name)
    }

    /// Whether `name` names a type, as `int` does in `type(x) == int`.
    pub(crate) fn is_type(&self, name: &str) -> bool {
        self.env.types().find_type(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::cel::ExecutionError;
    use ::cel::common::ast::LiteralValue;

    /// Calls `name` in `style` with `arity` `null` arguments, on the real environment.
    fn call_with_nulls(name: &str, style: Style, arity: usize) -> Result<(), ExecutionError> {
        let null = |id| IdedExpr {
            id,
            expr: Expr::Literal(LiteralValue::Null),
        };
        let call = CallExpr {
            func_name: name.to_owned(),
            target: (style == Style::Member).then(|| Box::new(null(1))),
            args: (0..arity).map(|i| null(10 + i as u64)).collect(),
        };
        let expr = IdedExpr {
            id: 2,
            expr: Expr::Call(call),
        };
        ::cel::Value::resolve_val(&expr, environment().root()).map(drop)
    }

    fn is_declared(name: &str, style: Style, arity: usize) -> bool {
        !matches!(
            call_with_nulls(name, style, arity),
            Err(ExecutionError::UndeclaredReference(_))
        )
    }

    #[test]
    fn the_probe_tells_an_undeclared_function_apart() {
        assert!(!is_declared("nope", Style::Global, 1));
        assert!(!is_declared("nope", Style::Member, 0));
        assert!(!is_declared("truncate", Style::Global, 2));
        assert!(is_declared("truncate", Style::Member, 1));
    }

    #[test]
    fn every_builtin_in_the_table_is_declared_by_the_crate() {
        for builtin in BUILTINS {
            for &arity in builtin.arities {
                assert!(
                    is_declared(builtin.name, builtin.style, arity),
                    "{} ({:?}, {arity} arguments) is not declared by the cel crate",
                    builtin.name,
                    builtin.style
                );
            }
        }
    }

    #[test]
    fn every_overload_in_the_table_is_registered() {
        for overload in OVERLOADS {
            let receiver = usize::from(overload.style == Style::Member);
            assert!(
                is_declared(
                    overload.name,
                    overload.style,
                    overload.params.len() - receiver
                ),
                "{} ({})",
                overload.name,
                overload.id
            );
        }
    }

    #[test]
    fn the_names_table_keeps_call_styles_apart() {
        let env = environment();
        let truncate = env.function("truncate").expect("declared");
        assert_eq!(truncate.arities(Style::Member), [1]);
        assert!(truncate.arities(Style::Global).is_empty());
        let size = env.function("size").expect("declared");
        assert_eq!(
            (size.global.as_slice(), size.member.as_slice()),
            (&[1][..], &[0][..])
        );
        assert!(env.function("sets.contains").is_some());
        assert!(env.function("nope").is_none());
    }

    #[test]
    fn environment_and_root_context_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Environment>();
    }
}
