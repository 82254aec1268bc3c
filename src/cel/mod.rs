//! CEL as Tekton's cel interceptor runs it: expressions compiled and checked once at load,
//! evaluated per event against `body`, `header`, `requestURL` and `extensions` (behaviour
//! reference §4.5 and §10; upstream `pkg/interceptors/cel/cel.go` and
//! `pkg/interceptors/cel/triggers.go`). This module knows nothing of interceptors; the cel
//! interceptor uses [`Program::evaluate_filter`] and [`Program::evaluate_json`].
//!
//! Upstream parses, checks and plans every expression on every request; here
//! [`Program::compile`] does the parse and the check once, and per event [`EventData::new`]
//! converts the body once for every trigger's programs to share.
//!
//! ```text
//! load:   Program::compile(filter)?                       // parse + name check, errors with line:column
//! event:  let data = EventData::new(&event);              // body → CEL once
//!         program.evaluate_filter(&Vars { event: &data, extensions: &ext })?
//! ```
//!
//! # Variables
//!
//! | name | CEL type | value |
//! |---|---|---|
//! | `body` | `map(string, dyn)` | the JSON body; an empty body is `{}` |
//! | `header` | `map(string, list(string))` | request headers under canonical names: `header['X-Test'][0]` |
//! | `requestURL` | `string` | the request target, path and query |
//! | `extensions` | `map(string, dyn)` | the extensions so far, as given in [`Vars`] |
//!
//! # Numbers
//!
//! JSON numbers are CEL `double`s, as upstream (see `value.rs`): `body.number == 77` is true,
//! while `body.number + 1` is an error at evaluation (write `body.number + 1.0` or
//! `int(body.number) + 1`). Where both types are known from the expression alone, as in
//! `1 == 1.0` or `size(x) > 1.5`, the mismatch is rejected at compile, as upstream's checker
//! does (see `typing.rs`). An overlay's `int` result is written as an exact JSON integer
//! (`7`), a `double` as a JSON float (`77.0` stays a float in `serde_json`; upstream's Go prints
//! it as `77`, so renderers must print floats Go's way).

mod check;
mod env;
mod functions;
mod header_names;
mod native;
mod paths;
mod typing;
mod value;
mod walk;

pub use functions::secret::Secrets;
use functions::secret::SecretsVal;
pub use header_names::HeaderNames;
pub use paths::BodyPaths;

use std::fmt::{self, Write as _};

use ::cel::common::types::{CelBool, CelList, CelMap, CelMapKey, CelString};
use ::cel::common::value::{CowVal, Val};
use ::cel::context::VariableResolver;
use ::cel::{Context, ExecutionError};

use crate::event::{Event, Extensions};

/// A CEL expression compiled once at config load, then evaluated per event. `Send + Sync`: share
/// it across tasks (e.g. in an `Arc`).
pub struct Program {
    source: String,
    program: ::cel::Program,
    secret_refs: Vec<(String, String)>,
    /// The expression as a conjunction of simple atoms, when it is one (`native.rs`).
    native: Option<native::Native>,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Program {
    /// Parses `expression` and checks it against Tekton's environment: every function called
    /// must be declared, in the style used (`s.truncate(7)`; the global `truncate(s, 7)` is
    /// rejected, as upstream) and with an argument count it takes; every free identifier must be
    /// `body`, `header`, `requestURL` or `extensions` (comprehension variables and type names
    /// such as `int` excepted); operators and calls whose operand types are known from the
    /// expression alone must have an overload (`1.5 > 1` is rejected, `body.n > 1` is not). A
    /// call in a branch that never runs is checked too:
    /// `false && nope(1)` is rejected.
    ///
    /// # Errors
    ///
    /// [`CompileError::Parse`] for invalid syntax, [`CompileError::Check`] for unknown names;
    /// both carry the expression and each problem's line and column.
    pub fn compile(expression: &str) -> Result<Program, CompileError> {
        let env = env::environment();
        let program = env
            .parse(expression)
            .map_err(|errors| CompileError::Parse {
                expression: expression.to_owned(),
                issues: errors
                    .errors
                    .iter()
                    .map(|e| Issue {
                        line: usize::try_from(e.pos.0).unwrap_or(0).max(1),
                        column: usize::try_from(e.pos.1).unwrap_or(0).max(1),
                        message: e.msg.clone(),
                    })
                    .collect(),
            })?;
        let checked = check::check(&program, expression, env);
        if !checked.issues.is_empty() {
            return Err(CompileError::Check {
                expression: expression.to_owned(),
                issues: checked.issues,
            });
        }
        Ok(Program {
            source: expression.to_owned(),
            native: native::Native::compile(program.expression()),
            program,
            secret_refs: checked.secret_refs,
        })
    }

    /// The expression as written.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parts of `body` this expression can read (see [`BodyPaths`]); [`Self::reads`] adds
    /// the headers.
    #[must_use]
    pub fn body_paths(&self) -> BodyPaths {
        BodyPaths::of(self.program.expression())
    }

    /// What this expression reads of an event: the parts of `body` ([`Self::body_paths`]) and
    /// the headers ([`HeaderNames`]).
    pub fn reads(&self) -> Reads {
        Reads {
            body: self.body_paths(),
            headers: HeaderNames::of(self.program.expression()),
        }
    }

    /// `(secret name, key)` of each `compareSecret` call with literal arguments: a store that
    /// reads Secrets over the network fetches these before evaluating (evaluation itself is
    /// synchronous).
    #[must_use]
    pub fn secret_refs(&self) -> &[(String, String)] {
        &self.secret_refs
    }

    /// Evaluates the expression as a filter: `Ok(true)` only when the result is exactly the
    /// boolean `true`, as upstream; any other value (`false`, `1`, `'true'`, `null`) is
    /// `Ok(false)`.
    ///
    /// # Errors
    ///
    /// [`EvalError::Evaluation`] when evaluation fails, e.g. on a missing key
    /// (`no such key: action`) or `body.number + 1`.
    pub fn evaluate_filter(&self, vars: &Vars<'_>) -> Result<bool, EvalError> {
        self.evaluate(vars, |result| {
            Ok(result.downcast_ref::<CelBool>().is_some_and(|b| *b.inner()))
        })
    }

    /// [`Self::evaluate_filter`]'s answer without the interpreter, for the commonest filter
    /// shapes: a conjunction of `header.match('n', 'v')`, `body.path in ['…']` and
    /// `body.path == '…'` / `!=` / `== true` (`native.rs` lists them). `body` is the body as CEL
    /// reads it (the form JSON, else the body tree with at least [`Self::body_paths`]); `headers`
    /// the event's. `None` when the expression has another shape or the answer is not sure (a
    /// missing key, a value of another type than the literal's): evaluate then as usual, which
    /// also gives the error and its message. Costs a few map lookups, where converting the event
    /// for CEL and interpreting costs microseconds.
    #[must_use]
    pub fn evaluate_filter_direct(
        &self,
        body: &serde_json::Value,
        headers: &crate::event::Headers,
    ) -> Option<bool> {
        self.native.as_ref()?.evaluate(body, headers)
    }

    /// Whether [`Self::evaluate_filter_direct`] can answer for this expression's shape.
    #[must_use]
    pub fn has_direct_filter(&self) -> bool {
        self.native.is_some()
    }

    /// Evaluates the expression as an overlay and returns its result as JSON (reference §4.5):
    ///
    /// | result | JSON |
    /// |---|---|
    /// | `string` | string |
    /// | `bytes` | standard base64 string |
    /// | `int` | integer, exact (upstream rounds beyond 2^53) |
    /// | `double` | float (`77.0` for a body number `77`) |
    /// | `bool` | `true` / `false` |
    /// | `list`, `map` | array / object; inside them `null` and `uint` convert too |
    ///
    /// # Errors
    ///
    /// [`EvalError::Evaluation`] when evaluation fails; [`EvalError::Conversion`] for a `null`,
    /// `uint`, timestamp, duration or type result, a non-finite double, or a map with
    /// non-string keys.
    pub fn evaluate_json(&self, vars: &Vars<'_>) -> Result<serde_json::Value, EvalError> {
        self.evaluate(vars, |result| {
            value::to_json(result).map_err(|message| EvalError::Conversion {
                expression: self.source.clone(),
                message,
            })
        })
    }

    /// Evaluates the expression for display (the `cel-eval` tool): like
    /// [`evaluate_json`](Self::evaluate_json), but a `null`, `uint`, timestamp (RFC 3339, UTC),
    /// duration (`90s`), type (`int`) or non-finite double (`NaN`, `+Inf`) result is shown too.
    ///
    /// # Errors
    ///
    /// [`EvalError::Evaluation`]; [`EvalError::Conversion`] for results with no JSON form (such
    /// as a list holding a type).
    pub fn evaluate_display(&self, vars: &Vars<'_>) -> Result<serde_json::Value, EvalError> {
        self.evaluate(vars, |result| {
            value::to_display_json(result).map_err(|message| EvalError::Conversion {
                expression: self.source.clone(),
                message,
            })
        })
    }

    /// Evaluates in a child scope of the shared root context, the variables bound by reference,
    /// and hands the result to `read`.
    fn evaluate<R>(
        &self,
        vars: &Vars<'_>,
        read: impl FnOnce(&dyn Val) -> Result<R, EvalError>,
    ) -> Result<R, EvalError> {
        let bindings = Bindings {
            event: vars.event,
            extensions: vars.extensions,
            extensions_val: std::sync::OnceLock::new(),
            secrets: SecretsVal(vars.secrets.cloned()),
        };
        let mut scope = shorten(env::environment().root()).new_inner_scope();
        scope.set_variable_resolver(&bindings);
        let result = ::cel::Value::resolve_val(self.program.expression(), &scope).map_err(|e| {
            EvalError::Evaluation {
                expression: self.source.clone(),
                message: describe(&e),
            }
        })?;
        read(result.as_ref())
    }
}

/// The root context, seen with the lifetimes of one evaluation so that a child scope may borrow
/// that evaluation's data (`Context` is covariant in both).
fn shorten<'a>(root: &'a Context<'static, 'static>) -> &'a Context<'a, 'a> {
    root
}

/// What expressions read of an event, found at load: the parts of `body` ([`BodyPaths`]) and
/// the headers ([`HeaderNames`]); merged over a listener's interceptors, it is what each event
/// converts for CEL ([`EventData::for_reads`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reads {
    /// The parts of `body`.
    pub body: BodyPaths,
    /// The headers.
    pub headers: HeaderNames,
}

impl Reads {
    /// Nothing read.
    #[must_use]
    pub fn none() -> Self {
        Self {
            body: BodyPaths::none(),
            headers: HeaderNames::none(),
        }
    }

    /// The whole body and every header.
    #[must_use]
    pub fn whole() -> Self {
        Self {
            body: BodyPaths::whole(),
            headers: HeaderNames::all(),
        }
    }

    /// Adds what `other` reads.
    pub fn merge(&mut self, other: &Reads) {
        self.body.merge(&other.body);
        self.headers.merge(&other.headers);
    }
}

/// Per-event CEL data, built once per event and shared by every trigger's programs, on any
/// thread (`Send + Sync`): the body converted to CEL values, the headers as
/// `map(string, list(string))` and the request URL.
pub struct EventData {
    body: Box<dyn Val + 'static>,
    header: CelMap<'static>,
    request_url: CelString<'static>,
}

impl fmt::Debug for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // NB: the body and headers may hold secrets; show neither.
        f.debug_struct("EventData")
            .field("request_url", &self.request_url.inner())
            .finish_non_exhaustive()
    }
}

impl EventData {
    /// Converts `event` for CEL: the body (every number a `double`; `Null`, an empty body, is
    /// `{}`), the headers and the request URL. This copies the body's strings once, about 45 µs
    /// for a 25 KB GitHub payload (release build); do it once per event, never per trigger.
    ///
    /// The sink only accepts JSON objects; a body of another kind (upstream rejects it with
    /// `failed to parse the body as JSON`) is converted as it is, so `body.x` fails to evaluate.
    #[must_use]
    pub fn new(event: &Event) -> EventData {
        Self::for_reads(event, event.body(), &Reads::whole())
    }

    /// As [`new`](Self::new), converting only the parts of `body` and the headers in `reads`:
    /// enough for every expression whose [`Program::reads`] were merged into `reads`, and much
    /// cheaper when they read a few fields of a large payload and one header. `body` is the
    /// event's body as built for its readers: whole, or [`BodyPaths::parse`]d with at least
    /// `reads.body`.
    #[must_use]
    pub fn for_reads(event: &Event, body: &serde_json::Value, reads: &Reads) -> EventData {
        let body = match body {
            serde_json::Value::Null => Box::new(CelMap::default()) as Box<dyn Val>,
            body => reads.body.convert(body),
        };
        let entry = |name: &str, values: Vec<Box<dyn Val>>| {
            (
                CelMapKey::String(CelString::from(name.to_owned())),
                Box::new(CelList::from(values)) as Box<dyn Val>,
            )
        };
        let string = |v: &str| Box::new(CelString::from(v.to_owned())) as Box<dyn Val>;
        let headers = event.headers();
        let header = CelMap::from(if reads.headers.is_all() {
            headers
                .iter()
                .map(|(name, values)| entry(name, values.iter().map(|v| string(v)).collect()))
                .collect::<std::collections::HashMap<_, _>>()
        } else {
            reads
                .headers
                .names()
                .filter_map(|name| {
                    let values: Vec<Box<dyn Val>> =
                        headers.values(name).map(|v| string(&v)).collect();
                    (!values.is_empty()).then(|| entry(name, values))
                })
                .collect()
        });
        EventData {
            body,
            header,
            request_url: CelString::from(event.request_url().to_owned()),
        }
    }
}

/// Everything one evaluation reads: the event's data and the extensions so far (which change
/// between interceptors, so they are converted per evaluation; they are small).
#[derive(Clone, Copy)]
pub struct Vars<'a> {
    /// The event, converted once by [`EventData::new`].
    pub event: &'a EventData,
    /// The extensions added by earlier interceptors, read as `extensions`.
    pub extensions: &'a Extensions,
    /// Where `compareSecret` reads Secrets (the trigger's namespace); `None` makes it fail.
    pub secrets: Option<&'a Secrets>,
}

impl fmt::Debug for Vars<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // NB: extension values may be tokens; show the keys only.
        f.debug_struct("Vars")
            .field("event", self.event)
            .field("extensions", &self.extensions.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The four variables, handed out by reference.
struct Bindings<'a> {
    event: &'a EventData,
    extensions: &'a Extensions,
    /// `extensions` converted for CEL on first read: most expressions never read it.
    extensions_val: std::sync::OnceLock<Box<dyn Val + 'a>>,
    secrets: SecretsVal,
}

impl VariableResolver for Bindings<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let value: &'b (dyn Val + 'b) = match variable {
            "body" => self.event.body.as_ref(),
            "header" => &self.event.header,
            "requestURL" => &self.event.request_url,
            "extensions" => self
                .extensions_val
                .get_or_init(|| value::object_to_val(self.extensions))
                .as_ref(),
            functions::secret::VARIABLE => &self.secrets,
            _ => return None,
        };
        Some(CowVal::Borrowed(value))
    }
}

/// One problem found while compiling, at a 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, e.g. `undeclared reference to 'nope' (in container '')`.
    pub message: String,
}

/// An expression that cannot be used, found at load time. Displayed as upstream's cel-go errors:
/// `failed to parse expression "1 +": ERROR: <input>:1:4: Syntax error: …` followed by the line
/// and a caret.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The expression is not valid CEL (optional syntax such as `a.?b` included).
    #[error("failed to parse expression {}: {}", go_quote(.expression), render(.expression, .issues))]
    Parse {
        /// The expression as written.
        expression: String,
        /// The syntax errors, at least one.
        issues: Vec<Issue>,
    },
    /// The expression calls a function or names a variable that Tekton's environment lacks,
    /// e.g. `expression "false && nope(1)" check failed: ERROR: <input>:1:14: undeclared
    /// reference to 'nope' (in container '')`.
    #[error("expression {} check failed: {}", go_quote(.expression), render(.expression, .issues))]
    Check {
        /// The expression as written.
        expression: String,
        /// Every problem found, at least one, in source order.
        issues: Vec<Issue>,
    },
}

impl CompileError {
    /// The expression that failed to compile.
    #[must_use]
    pub fn expression(&self) -> &str {
        match self {
            CompileError::Parse { expression, .. } | CompileError::Check { expression, .. } => {
                expression
            }
        }
    }

    /// The problems found, at least one.
    #[must_use]
    pub fn issues(&self) -> &[Issue] {
        match self {
            CompileError::Parse { issues, .. } | CompileError::Check { issues, .. } => issues,
        }
    }
}

/// An evaluation that failed for one event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// Evaluation stopped with an error, e.g. `expression "body.action == 'opened'" failed to
    /// evaluate: no such key: action`.
    #[error("expression {} failed to evaluate: {message}", go_quote(.expression))]
    Evaluation {
        /// The expression as written.
        expression: String,
        /// What went wrong, lower case.
        message: String,
    },
    /// The overlay's result has no JSON form (upstream: `failed to convert overlay result to
    /// type`).
    #[error("failed to convert the result of expression {} to JSON: {message}", go_quote(.expression))]
    Conversion {
        /// The expression as written.
        expression: String,
        /// Which type or value could not be converted.
        message: String,
    },
}

/// An `ExecutionError` as one lower-case message in cel-go's wording where the crate's differs:
/// a function's own message without the crate's `error executing function 'f': ` prefix,
/// `division by zero`, `modulus by zero`, `integer overflow`, `index out of bounds: 5`, and our
/// internal `@` names (`@indexOf`) shown as written (`indexOf`).
fn describe(error: &ExecutionError) -> String {
    use ::cel::Value;
    let text = match error {
        ExecutionError::UnsupportedBinaryOperator(op, lhs, rhs) => {
            let symbol = match *op {
                "add" => "_+_",
                "sub" => "_-_",
                "mul" => "_*_",
                "div" => "_/_",
                "rem" => "_%_",
                other => other,
            };
            return format!(
                "found no matching overload for '{symbol}' applied to '({}, {})'",
                cel_type_name(lhs),
                cel_type_name(rhs)
            );
        }
        ExecutionError::FunctionError { message, .. } => message.clone(),
        ExecutionError::NoSuchOverload(overload) if overload.function().starts_with('@') => {
            let name = overload.function().trim_start_matches('@');
            let types = overload.argument_types().to_vec();
            if overload.is_member_function() {
                ExecutionError::no_such_member_overload(name, types).to_string()
            } else {
                ExecutionError::no_such_overload(name, types).to_string()
            }
        }
        ExecutionError::DivisionByZero(_) => "division by zero".to_owned(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".to_owned(),
        ExecutionError::Overflow(_, Value::UInt(_), _) => "unsigned integer overflow".to_owned(),
        ExecutionError::Overflow(..) => "integer overflow".to_owned(),
        ExecutionError::IndexOutOfBounds(Value::Int(i)) => format!("index out of bounds: {i}"),
        ExecutionError::IndexOutOfBounds(Value::UInt(u)) => format!("index out of bounds: {u}"),
        other => other.to_string(),
    };
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_ascii_uppercase() && second.is_lowercase() => {
            first.to_ascii_lowercase().to_string() + &text[1..]
        }
        _ => text,
    }
}

/// The CEL name of a value's type, as cel-go prints it (`double`, not the crate's `float`).
fn cel_type_name(value: &::cel::Value) -> String {
    use ::cel::objects::ValueType;
    match value.type_of() {
        ValueType::Float => "double".to_owned(),
        ValueType::Null => "null_type".to_owned(),
        ValueType::Duration => "google.protobuf.Duration".to_owned(),
        ValueType::Timestamp => "google.protobuf.Timestamp".to_owned(),
        other => other.to_string(),
    }
}

/// The issues as cel-go prints them: `ERROR: <input>:L:C: message`, the line, and a caret.
fn render(expression: &str, issues: &[Issue]) -> String {
    let lines: Vec<&str> = expression.split('\n').collect();
    let mut out = String::new();
    for (i, issue) in issues.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = write!(
            out,
            "ERROR: <input>:{}:{}: {}",
            issue.line, issue.column, issue.message
        );
        if let Some(line) = issue.line.checked_sub(1).and_then(|i| lines.get(i)) {
            let dots = ".".repeat(issue.column.saturating_sub(1));
            let _ = write!(out, "\n | {line}\n | {dots}^");
        }
    }
    out
}

/// `s` quoted as Go's `%#v` quotes a string, as upstream's messages do.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;

/// For the load-time analyses' tests (`paths.rs`, `header_names.rs`): what they check the same way.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{EventData, Program, Reads, Vars};
    use crate::event::Extensions;

    /// Compiles every expression, and what they read merged.
    pub(crate) fn compile_all(expressions: &[&str]) -> (Vec<Program>, Reads) {
        let programs: Vec<Program> = expressions
            .iter()
            .map(|e| Program::compile(e).unwrap_or_else(|err| panic!("{e}: {err:?}")))
            .collect();
        let mut reads = Reads::none();
        for program in &programs {
            reads.merge(&program.reads());
        }
        (programs, reads)
    }

    /// Asserts that every program answers the same (value or error) with `pruned` as with
    /// `whole`; how many answers were compared.
    pub(crate) fn assert_same_answers(
        programs: &[Program],
        pruned: &EventData,
        whole: &EventData,
        context: &str,
    ) -> usize {
        let extensions = Extensions::new();
        let eval = |program: &Program, data| {
            program.evaluate_json(&Vars {
                event: data,
                extensions: &extensions,
                secrets: None,
            })
        };
        for program in programs {
            assert_eq!(
                eval(program, pruned),
                eval(program, whole),
                "{} on {context}",
                program.source()
            );
        }
        programs.len()
    }
}
