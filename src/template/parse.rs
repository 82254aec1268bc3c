//! Resource template → tree of literal JSON and strings split into literal text,
//! `$(tt.params.NAME)` and `$(uid)` parts. Done once at config load.

use serde_json::Value;

/// The placeholder prefix of a template param.
pub const PLACEHOLDER_PREFIX: &str = "$(tt.params.";

/// A compiled JSON node.
#[derive(Debug, Clone)]
pub(super) enum Node {
    /// A value without placeholders (numbers, bools, null, plain strings are kept as is).
    Json(Value),
    /// A string holding at least one placeholder.
    Text(Text),
    /// An array with a placeholder somewhere inside.
    Array(Vec<Node>),
    /// An object with a placeholder somewhere inside (keys may hold placeholders too).
    Object(Vec<(Text, Node)>),
}

/// A string split into parts.
#[derive(Debug, Clone)]
pub(super) struct Text(pub(super) Vec<Part>);

impl Text {
    /// The string, when it holds no placeholder.
    pub(super) fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Param(_) | Part::Uid => return None,
            }
        }
        Some(out)
    }
}

#[derive(Debug, Clone)]
pub(super) enum Part {
    Literal(String),
    /// Index into the template's declared params.
    Param(usize),
    Uid,
}

/// Compiles `value`; `Err(name)` for a placeholder naming an undeclared param.
pub(super) fn compile(value: &Value, params: &[&str]) -> Result<Node, String> {
    Ok(match value {
        Value::String(s) => {
            let text = split(s, params)?;
            if text.0.iter().all(|p| matches!(p, Part::Literal(_))) {
                Node::Json(value.clone())
            } else {
                Node::Text(text)
            }
        }
        Value::Array(items) => {
            let nodes = items
                .iter()
                .map(|v| compile(v, params))
                .collect::<Result<Vec<_>, _>>()?;
            if nodes.iter().all(|n| matches!(n, Node::Json(_))) {
                Node::Json(value.clone())
            } else {
                Node::Array(nodes)
            }
        }
        Value::Object(map) => {
            let mut entries = Vec::with_capacity(map.len());
            let mut plain = true;
            for (k, v) in map {
                let key = split(k, params)?;
                let node = compile(v, params)?;
                plain &= key.0.iter().all(|p| matches!(p, Part::Literal(_)))
                    && matches!(node, Node::Json(_));
                entries.push((key, node));
            }
            if plain {
                Node::Json(value.clone())
            } else {
                Node::Object(entries)
            }
        }
        other => Node::Json(other.clone()),
    })
}

/// Splits a string at `$(tt.params.NAME)` (NAME: a letter or `_`, then letters, digits, `_`,
/// `.`, `-`, as upstream's validation) and `$(uid)`. Anything else stays literal.
pub(super) fn split(s: &str, params: &[&str]) -> Result<Text, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = s;
    while let Some(pos) = rest.find("$(") {
        literal.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$(uid)") {
            flush(&mut literal, &mut parts);
            parts.push(Part::Uid);
            rest = after;
            continue;
        }
        if let Some((name, after)) = param_reference(tail) {
            let index = params
                .iter()
                .position(|p| *p == name)
                .ok_or_else(|| name.to_owned())?;
            flush(&mut literal, &mut parts);
            parts.push(Part::Param(index));
            rest = after;
            continue;
        }
        literal.push_str("$(");
        rest = &tail[2..];
    }
    literal.push_str(rest);
    flush(&mut literal, &mut parts);
    Ok(Text(parts))
}

fn flush(literal: &mut String, parts: &mut Vec<Part>) {
    if !literal.is_empty() {
        parts.push(Part::Literal(std::mem::take(literal)));
    }
}

/// `$(tt.params.NAME)…` → `(NAME, rest after the `)`)`.
fn param_reference(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix(PLACEHOLDER_PREFIX)?;
    let end = body.find(')')?;
    let name = &body[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    valid.then(|| (name, &body[end + 1..]))
}
