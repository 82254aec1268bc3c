//! The path inside one `$(…)`: parsed once into an AST (reference §5.3) and evaluated per event.
//!
//! Mirrors the subset of client-go JSONPath (`util/jsonpath/parser.go`, `jsonpath.go`) that
//! upstream's `pkg/template/jsonpath.go` reaches through its relaxed `{.…}` wrapping, with the
//! deliberate differences listed on [`super`].

use std::cell::OnceCell;
use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::{EvalError, EventDocument, ParseError};
use crate::event::canonical_header_name;

/// The four roots of the event document (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Body,
    Header,
    Extensions,
    Context,
}

/// A compiled `$(…)` expression: a root and the steps taken from it.
#[derive(Debug, Clone)]
pub(super) struct Path {
    expression: String,
    root: Root,
    steps: Vec<Step>,
    /// Every step selects one key (`$(body.a.b)`, nearly every binding): known at parse, so
    /// that [`walk`] takes it key by key without asking per event.
    single_keys: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// `.name`, `[…]`, `.*`: each selector applied to every input, selector by selector.
    Select(Vec<Selector>),
    /// `..`: every non-empty object or array at or below each input, pre-order.
    Descend,
    /// `[?(…)]`: the elements of each input array that pass.
    Filter(Box<Filter>),
}

impl Step {
    /// The key of a step that selects one key (`.name`, `['name']`), else `None`.
    fn single_key(&self) -> Option<&str> {
        match self {
            Step::Select(selectors) => match selectors.as_slice() {
                [Selector::Key(key)] => Some(key),
                _ => None,
            },
            Step::Descend | Step::Filter(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Key(String),
    Index(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Wildcard,
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Operand,
    compare: Option<(Op, Operand)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@…`: a path relative to the element being filtered.
    Current(Vec<Step>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

/// Values built per render for the roots that are not plain `&Value`s in [`EventDocument`].
#[derive(Default)]
pub(super) struct RootCells {
    context: OnceCell<Value>,
    extensions: OnceCell<Value>,
}

impl Path {
    /// Adds what this path reads of the body to `paths`: the chain of single keys it starts
    /// with, read whole from the first step that is anything else (an index, a slice, a
    /// wildcard, a union, `..`, a filter). Paths from other roots read none of the body.
    pub(super) fn add_body_paths(&self, paths: &mut crate::event::BodyPaths) {
        if self.root != Root::Body {
            return;
        }
        let keys: Vec<&str> = self.steps.iter().map_while(Step::single_key).collect();
        paths.add(&keys);
    }

    /// Parses the text between `$(` and `)` (non-empty).
    pub(super) fn parse(expression: &str) -> Result<Path, ParseError> {
        let (start, end) = match expression
            .strip_prefix('{')
            .and_then(|e| e.strip_suffix('}'))
        {
            Some(inner) => (1, 1 + inner.len()),
            None => (0, expression.len()),
        };
        let mut p = Parser {
            src: expression,
            pos: start,
            end,
        };
        if p.rest().starts_with('.') && !p.rest().starts_with("..") {
            p.pos += 1;
        }
        let root_name = if p.peek() == Some('[') {
            match p.bracket()? {
                Step::Select(selectors) => match <[Selector; 1]>::try_from(selectors) {
                    Ok([Selector::Key(name)]) => name,
                    _ => return Err(p.error("expected a root name")),
                },
                _ => return Err(p.error("expected a root name")),
            }
        } else {
            p.field_name()?
        };
        let root = match root_name.as_str() {
            "body" => Root::Body,
            "header" => Root::Header,
            "extensions" => Root::Extensions,
            "context" => Root::Context,
            _ => {
                return Err(ParseError::UnknownRoot {
                    expression: expression.to_owned(),
                    root: root_name,
                });
            }
        };
        let mut steps = Vec::new();
        // `header.x-foo`: the dotted first field is a header name, looked up canonically (§5.2).
        if root == Root::Header && p.rest().starts_with('.') && !p.rest().starts_with("..") {
            p.pos += 1;
            let name = p.field_name()?;
            steps.push(Step::Select(vec![Selector::Key(canonical_header_name(
                &name,
            ))]));
        }
        steps.extend(p.steps()?);
        Ok(Path {
            expression: expression.to_owned(),
            root,
            single_keys: steps.iter().all(|step| step.single_key().is_some()),
            steps,
        })
    }

    /// The values this path selects in `doc`, in document order.
    pub(super) fn evaluate<'v>(
        &self,
        doc: &EventDocument<'v>,
        cells: &'v RootCells,
    ) -> Result<Selected<'v>, EvalError> {
        let start: &'v Value = match self.root {
            Root::Body => doc.body,
            Root::Header => doc.header.binding_json(),
            Root::Context => cells.context.get_or_init(|| {
                let mut map = Map::new();
                map.insert("eventID".to_owned(), Value::String(doc.event_id.to_owned()));
                Value::Object(map)
            }),
            Root::Extensions => {
                // The common `extensions.key…` reads the map without copying it.
                if let [Step::Select(selectors), rest @ ..] = self.steps.as_slice()
                    && let [Selector::Key(key)] = selectors.as_slice()
                {
                    let value = doc.extensions.get(key).ok_or_else(|| EvalError::NotFound {
                        expression: self.expression.clone(),
                        key: key.clone(),
                    })?;
                    // The first step is a single key: the rest are all single keys when the
                    // path's are.
                    return walk(rest, self.single_keys, value, &self.expression);
                }
                cells
                    .extensions
                    .get_or_init(|| Value::Object(doc.extensions.clone()))
            }
        };
        walk(&self.steps, self.single_keys, start, &self.expression)
    }
}

/// What a path selected, in document order.
pub(super) enum Selected<'v> {
    /// The one value a path of single keys selects (`$(body.a.b)`, nearly every binding).
    One(&'v Value),
    /// What any other path selects: none, one or many.
    Many(Vec<&'v Value>),
}

impl<'v> Selected<'v> {
    /// The values selected.
    pub(super) fn as_slice(&self) -> &[&'v Value] {
        match self {
            Selected::One(value) => std::slice::from_ref(value),
            Selected::Many(values) => values,
        }
    }
}

/// `steps` from `start`. When they are all single keys (`single_keys`, known at parse) they are
/// walked key by key, with nothing allocated per step; this selects what [`eval_steps`] would
/// (one value, or `NotFound` for the first key missing).
fn walk<'v>(
    steps: &[Step],
    single_keys: bool,
    start: &'v Value,
    expression: &str,
) -> Result<Selected<'v>, EvalError> {
    if !single_keys {
        return eval_steps(steps, vec![start], expression).map(Selected::Many);
    }
    let mut current = start;
    for key in steps.iter().filter_map(Step::single_key) {
        current = current
            .as_object()
            .and_then(|m| m.get(key))
            .ok_or_else(|| EvalError::NotFound {
                expression: expression.to_owned(),
                key: key.to_owned(),
            })?;
    }
    Ok(Selected::One(current))
}

struct Parser<'s> {
    src: &'s str,
    pos: usize,
    end: usize,
}

impl<'s> Parser<'s> {
    fn rest(&self) -> &'s str {
        self.src.get(self.pos..self.end).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error(&self, reason: impl Into<String>) -> ParseError {
        ParseError::Syntax {
            expression: self.src.to_owned(),
            position: self.pos,
            reason: reason.into(),
        }
    }

    fn steps(&mut self) -> Result<Vec<Step>, ParseError> {
        let mut steps = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '.' if self.rest().starts_with("..") => {
                    self.pos += 2;
                    steps.push(Step::Descend);
                    match self.peek() {
                        Some('[') => steps.push(self.bracket()?),
                        _ => steps.push(self.dotted()?),
                    }
                }
                '.' => {
                    self.pos += 1;
                    steps.push(self.dotted()?);
                }
                '[' => steps.push(self.bracket()?),
                _ => return Err(self.error(format!("unexpected character {c:?}"))),
            }
        }
        Ok(steps)
    }

    /// A field name after `.` or `..`; a bare `*` is the wildcard.
    fn dotted(&mut self) -> Result<Step, ParseError> {
        if self.rest().starts_with('*') {
            self.pos += 1;
            return Ok(Step::Select(vec![Selector::Wildcard]));
        }
        Ok(Step::Select(vec![Selector::Key(self.field_name()?)]))
    }

    /// Field characters up to a terminator; a backslash escapes the next character.
    fn field_name(&mut self) -> Result<String, ParseError> {
        let mut name = String::new();
        let mut chars = self.rest().char_indices();
        let mut used = self.rest().len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => name.extend(chars.next().map(|(_, n)| n)),
                ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}' => {
                    used = i;
                    break;
                }
                _ => name.push(c),
            }
        }
        if used == 0 {
            return Err(self.error("expected a field name"));
        }
        self.pos += used;
        Ok(name)
    }

    /// `[…]` at `self.pos`: a filter, or a comma-separated union of selectors.
    fn bracket(&mut self) -> Result<Step, ParseError> {
        if self.rest().starts_with("[?(") {
            return self.filter();
        }
        self.pos += 1;
        let mut selectors = Vec::new();
        loop {
            self.skip_spaces();
            let selector = match self.peek() {
                Some(q @ ('\'' | '"')) => Selector::Key(self.quoted(q)?),
                Some('*') => {
                    self.pos += 1;
                    Selector::Wildcard
                }
                Some(_) => {
                    let len = self.rest().find([',', ']']).unwrap_or(self.rest().len());
                    let selector = self.index(self.rest()[..len].trim())?;
                    self.pos += len;
                    selector
                }
                None => return Err(self.error("unterminated \"[\"")),
            };
            selectors.push(selector);
            self.skip_spaces();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    return Ok(Step::Select(selectors));
                }
                _ => return Err(self.error("expected \",\" or \"]\"")),
            }
        }
    }

    fn skip_spaces(&mut self) {
        self.pos += self.rest().len() - self.rest().trim_start_matches([' ', '\t']).len();
    }

    /// `n`, `start:end`, `start:end:step`, each part optional except a lone index.
    fn index(&self, text: &str) -> Result<Selector, ParseError> {
        let invalid = || self.error(format!("invalid array index {text:?}"));
        let number = |part: &str| -> Result<Option<i64>, ParseError> {
            let part = part.trim();
            match part {
                "" => Ok(None),
                _ if part.starts_with('+') => Err(invalid()),
                _ => part.parse().map(Some).map_err(|_| invalid()),
            }
        };
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            [i] => number(i)?.map(Selector::Index).ok_or_else(invalid),
            [s, e] => Ok(Selector::Slice(number(s)?, number(e)?, None)),
            [s, e, st] => match number(st)? {
                Some(step) if step <= 0 => Err(self.error("step must be > 0")),
                step => Ok(Selector::Slice(number(s)?, number(e)?, step)),
            },
            _ => Err(invalid()),
        }
    }

    /// A quoted string at `self.pos`; a backslash escapes the next character.
    fn quoted(&mut self, quote: char) -> Result<String, ParseError> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => out.extend(chars.next().map(|(_, n)| n)),
                _ if c == quote => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                _ => out.push(c),
            }
        }
        Err(self.error("unterminated quoted string"))
    }

    /// `[?(left op right)]` or `[?(@path)]` at `self.pos`.
    fn filter(&mut self) -> Result<Step, ParseError> {
        let open = self.pos;
        self.pos += 3;
        let body_start = self.pos;
        let mut quote = None;
        let mut op_at = None;
        let mut chars = self.rest().char_indices();
        let close = loop {
            let Some((i, c)) = chars.next() else {
                return Err(self.error("unterminated filter"));
            };
            match (quote, c) {
                (Some(_), '\\') => {
                    chars.next();
                }
                (Some(q), _) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '!' | '<' | '>' | '=') if op_at.is_none() => op_at = Some(i),
                (None, ')') => break i,
                _ => {}
            }
        };
        let body = &self.rest()[..close];
        self.pos = body_start + close + 1;
        if self.peek() != Some(']') {
            self.pos = open;
            return Err(self.error("filter must end with \")]\""));
        }
        self.pos += 1;
        let filter = match op_at {
            None => Filter {
                left: self.operand(body_start, body)?,
                compare: None,
            },
            Some(at) => {
                let op_len = body[at..]
                    .find(|c| !matches!(c, '!' | '<' | '>' | '='))
                    .unwrap_or(body.len() - at);
                let op = match &body[at..at + op_len] {
                    "==" => Op::Eq,
                    "!=" => Op::Ne,
                    "<" => Op::Lt,
                    ">" => Op::Gt,
                    "<=" => Op::Le,
                    ">=" => Op::Ge,
                    other => {
                        self.pos = body_start + at;
                        return Err(self.error(format!("unknown filter operator {other:?}")));
                    }
                };
                let right_at = at + op_len;
                Filter {
                    left: self.operand(body_start, &body[..at])?,
                    compare: Some((op, self.operand(body_start + right_at, &body[right_at..])?)),
                }
            }
        };
        if filter.compare.is_none() && !matches!(filter.left, Operand::Current(_)) {
            self.pos = body_start;
            return Err(self.error("an existence filter needs an @ path"));
        }
        Ok(Step::Filter(Box::new(filter)))
    }

    /// One side of a filter: `@…`, a quoted string, `true`/`false`/`null` or a number.
    fn operand(&self, at: usize, text: &str) -> Result<Operand, ParseError> {
        let lead = text.len() - text.trim_start().len();
        let text = text.trim();
        let mut sub = Parser {
            src: self.src,
            pos: at + lead,
            end: at + lead + text.len(),
        };
        let literal = match text {
            _ if text.starts_with('@') => {
                sub.pos += 1;
                return Ok(Operand::Current(sub.steps()?));
            }
            _ if text.starts_with(['\'', '"']) => {
                let quote = text.chars().next().unwrap_or('\'');
                let s = sub.quoted(quote)?;
                (sub.pos == sub.end).then_some(Value::String(s))
            }
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            "null" => Some(Value::Null),
            _ => text.parse::<Number>().ok().map(Value::Number),
        };
        literal
            .map(Operand::Literal)
            .ok_or_else(|| sub.error(format!("invalid filter operand {text:?}")))
    }
}

fn eval_steps<'v>(
    steps: &[Step],
    mut current: Vec<&'v Value>,
    expression: &str,
) -> Result<Vec<&'v Value>, EvalError> {
    for step in steps {
        current = eval_step(step, &current, expression)?;
    }
    Ok(current)
}

fn eval_step<'v>(
    step: &Step,
    input: &[&'v Value],
    expression: &str,
) -> Result<Vec<&'v Value>, EvalError> {
    let mut out = Vec::new();
    match step {
        Step::Select(selectors) => {
            for selector in selectors {
                select(selector, input, expression, &mut out)?;
            }
        }
        Step::Descend => {
            for &value in input {
                let mut stack = vec![value];
                while let Some(v) = stack.pop() {
                    match v {
                        Value::Object(m) if !m.is_empty() => {
                            out.push(v);
                            stack.extend(m.values().rev());
                        }
                        Value::Array(a) if !a.is_empty() => {
                            out.push(v);
                            stack.extend(a.iter().rev());
                        }
                        _ => {}
                    }
                }
            }
        }
        Step::Filter(filter) => {
            for &value in input {
                let items = as_array(value, expression)?;
                for item in items {
                    if filter.passes(item, expression)? {
                        out.push(item);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn select<'v>(
    selector: &Selector,
    input: &[&'v Value],
    expression: &str,
    out: &mut Vec<&'v Value>,
) -> Result<(), EvalError> {
    let before = out.len();
    for &value in input {
        match selector {
            Selector::Key(key) => out.extend(value.as_object().and_then(|m| m.get(key))),
            Selector::Wildcard => match value {
                Value::Object(m) => out.extend(m.values()),
                Value::Array(a) => out.extend(a.iter()),
                _ => {}
            },
            Selector::Index(i) => {
                let items = as_array(value, expression)?;
                let len = items.len();
                let index = if *i < 0 {
                    i.saturating_add(len as i64)
                } else {
                    *i
                };
                let item = usize::try_from(index).ok().and_then(|n| items.get(n));
                out.push(item.ok_or_else(|| out_of_bounds(expression, index, len))?);
            }
            Selector::Slice(start, end, step) => {
                let items = as_array(value, expression)?;
                let len = items.len() as i64;
                let wrap = |n: i64| if n < 0 { n.saturating_add(len) } else { n };
                let (start, end) = (wrap(start.unwrap_or(0)), wrap(end.unwrap_or(len)));
                if start == end {
                    continue; // zero elements requested: allowed, as upstream
                }
                if start < 0 || start >= len {
                    return Err(out_of_bounds(expression, start, items.len()));
                }
                if end < 0 || end > len {
                    return Err(out_of_bounds(expression, end - 1, items.len()));
                }
                if start > end {
                    return Err(EvalError::StartAfterEnd {
                        expression: expression.to_owned(),
                        start,
                        end,
                    });
                }
                let step = usize::try_from(step.unwrap_or(1)).unwrap_or(1).max(1);
                out.extend(items[start as usize..end as usize].iter().step_by(step));
            }
        }
    }
    match selector {
        Selector::Key(key) if !input.is_empty() && out.len() == before => {
            Err(EvalError::NotFound {
                expression: expression.to_owned(),
                key: key.clone(),
            })
        }
        _ => Ok(()),
    }
}

fn as_array<'v>(value: &'v Value, expression: &str) -> Result<&'v [Value], EvalError> {
    let kind = match value {
        Value::Array(a) => return Ok(a),
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Object(_) => "object",
    };
    Err(EvalError::NotArray {
        expression: expression.to_owned(),
        kind,
    })
}

fn out_of_bounds(expression: &str, index: i64, length: usize) -> EvalError {
    EvalError::IndexOutOfBounds {
        expression: expression.to_owned(),
        index,
        length,
    }
}

impl Filter {
    fn passes(&self, item: &Value, expression: &str) -> Result<bool, EvalError> {
        let Some((op, right)) = &self.compare else {
            // Existence: the path selects something (a key holding null counts), as upstream.
            return Ok(match &self.left {
                Operand::Current(steps) => {
                    eval_steps(steps, vec![item], expression).is_ok_and(|found| !found.is_empty())
                }
                Operand::Literal(_) => true,
            });
        };
        let (Some(left), Some(right)) = (
            operand_value(&self.left, item, expression)?,
            operand_value(right, item, expression)?,
        ) else {
            return Ok(false);
        };
        Ok(match op {
            Op::Eq => equal(left, right),
            Op::Ne => !equal(left, right),
            Op::Lt => order(left, right) == Some(Ordering::Less),
            Op::Gt => order(left, right) == Some(Ordering::Greater),
            Op::Le => order(left, right).is_some_and(Ordering::is_le),
            Op::Ge => order(left, right).is_some_and(Ordering::is_ge),
        })
    }
}

/// The single value of an operand for `item`; `None` (no match) when a path finds nothing.
fn operand_value<'a>(
    operand: &'a Operand,
    item: &'a Value,
    expression: &str,
) -> Result<Option<&'a Value>, EvalError> {
    match operand {
        Operand::Literal(value) => Ok(Some(value)),
        Operand::Current(steps) => match eval_steps(steps, vec![item], expression) {
            Ok(found) if found.len() > 1 => Err(EvalError::NotSingle {
                expression: expression.to_owned(),
            }),
            Ok(found) => Ok(found.first().copied()),
            Err(_) => Ok(None),
        },
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Some(Ordering::Equal),
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Integers compare exactly, anything else as f64.
fn compare_numbers(x: &Number, y: &Number) -> Option<Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
    match (int(x), int(y)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(expression: &str) -> Vec<Step> {
        match Path::parse(expression) {
            Ok(path) => path.steps,
            Err(e) => panic!("{expression}: {e}"),
        }
    }

    fn key(k: &str) -> Step {
        Step::Select(vec![Selector::Key(k.to_owned())])
    }

    fn syntax_reason(expression: &str) -> String {
        match Path::parse(expression) {
            Err(ParseError::Syntax { reason, .. }) => reason,
            other => panic!("{expression}: expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn header_field_is_canonicalised_but_a_quoted_header_key_is_not() {
        assert_eq!(steps("header.x-foo"), vec![key("X-Foo")]);
        assert_eq!(steps("header['x-foo']"), vec![key("x-foo")]);
        assert_eq!(steps("body.x-foo"), vec![key("x-foo")]);
    }

    #[test]
    fn brackets_parse_indexes_slices_unions_and_keys() {
        use Selector::*;
        let one = |s| Step::Select(vec![s]);
        assert_eq!(steps("body[-1]"), vec![one(Index(-1))]);
        assert_eq!(steps("body[0:2]"), vec![one(Slice(Some(0), Some(2), None))]);
        assert_eq!(steps("body[::2]"), vec![one(Slice(None, None, Some(2)))]);
        assert_eq!(steps("body[*]"), vec![one(Wildcard)]);
        assert_eq!(steps("body.*"), vec![one(Wildcard)]);
        assert_eq!(
            steps("body[0, 'a', \"b\"]"),
            vec![Step::Select(vec![
                Index(0),
                Key("a".into()),
                Key("b".into())
            ])]
        );
        assert_eq!(steps("body..sha"), vec![Step::Descend, key("sha")]);
    }

    #[test]
    fn filters_parse_comparisons_and_existence() {
        let parsed = steps("body.items[?(@.v >= 2)].id");
        let [_, Step::Filter(f), _] = parsed.as_slice() else {
            panic!("not a filter: {parsed:?}");
        };
        assert_eq!(f.left, Operand::Current(vec![key("v")]));
        assert_eq!(f.compare, Some((Op::Ge, Operand::Literal(2.into()))));
        let parsed = steps("body[?(@.x)]");
        let [Step::Filter(f)] = parsed.as_slice() else {
            panic!("not a filter: {parsed:?}");
        };
        assert_eq!(f.compare, None);
        let parsed = steps("body[?(@.s == 'a)b' )]");
        let [Step::Filter(f)] = parsed.as_slice() else {
            panic!("not a filter: {parsed:?}");
        };
        assert_eq!(f.compare, Some((Op::Eq, Operand::Literal("a)b".into()))));
    }

    #[test]
    fn unknown_root_is_rejected_at_load() {
        assert!(matches!(
            Path::parse("bdy.a"),
            Err(ParseError::UnknownRoot { root, .. }) if root == "bdy"
        ));
    }

    #[test]
    fn malformed_paths_are_rejected_with_a_reason() {
        assert_eq!(syntax_reason("body[::0]"), "step must be > 0");
        assert_eq!(syntax_reason("body[x]"), "invalid array index \"x\"");
        assert_eq!(syntax_reason("body[0"), "expected \",\" or \"]\"");
        assert_eq!(syntax_reason("body['a]"), "unterminated quoted string");
        assert_eq!(syntax_reason("body.a b"), "unexpected character ' '");
        assert_eq!(syntax_reason("body."), "expected a field name");
        assert_eq!(syntax_reason("body[?(@.a=='x'"), "unterminated filter");
        assert_eq!(
            syntax_reason("body[?(@.a=>1)]"),
            "unknown filter operator \"=>\""
        );
        assert_eq!(
            syntax_reason("body[?(@.a==x)]"),
            "invalid filter operand \"x\""
        );
        assert_eq!(
            syntax_reason("body[?('a')]"),
            "an existence filter needs an @ path"
        );
    }

    #[test]
    fn a_path_of_single_keys_is_walked_to_what_the_steps_select() {
        let body = serde_json::json!({
            "a": {"b": {"c": "x", "n": null}, "s": "text", "list": [1, 2]}
        });
        for expression in [
            "body.a.b.c",
            "body.a.b.n",
            "body['a'].b",
            "body.a",
            "body.a.missing",
            "body.a.b.c.deeper",
            "body.a.s.c",
            "body.a.list.x",
            "body.nothing.b",
        ] {
            let path = Path::parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
            assert!(path.single_keys, "{expression}");
            let walked = walk(&path.steps, true, &body, expression).map(|s| s.as_slice().to_vec());
            let stepped = eval_steps(&path.steps, vec![&body], expression);
            assert_eq!(walked, stepped, "{expression}");
            assert!(
                matches!(
                    walk(&path.steps, true, &body, expression),
                    Ok(Selected::One(_)) | Err(_)
                ),
                "{expression}: a path of single keys selects one value or fails"
            );
        }
        // Any other step is left to the steps, whatever comes before it.
        let path = Path::parse("body.a.list[0]").expect("parses");
        assert!(!path.single_keys);
        assert!(matches!(
            walk(&path.steps, path.single_keys, &body, "body.a.list[0]"),
            Ok(Selected::Many(found)) if found == vec![&serde_json::json!(1)]
        ));
    }
}
