//! A resource template compiled to write its object straight as JSON text: the literal parts
//! of the template are serialized once at config load, and per event only the strings holding
//! placeholders are written between them. `apiVersion`, `kind` and `metadata` are kept apart as
//! values (the creators read and extend them); see [`Rendered`].
//!
//! The text is the one `serde_json` would write for the tree [`RenderContext::node`] renders:
//! members in the template's key order, compact. An object with a placeholder in a key is the
//! exception: its keys are only known per event and may collide, so it is rendered as a tree
//! and serialized, exactly as before.

use serde_json::{Map, Value};

use super::RenderContext;
use super::parse::{self, Node, Text};
use crate::resources::{Rendered, write_json};

/// One resource template, compiled.
#[derive(Debug, Clone)]
pub(super) enum Shape {
    /// Every top-level key is literal (the usual case).
    Split {
        api_version: Node,
        kind: Node,
        metadata: Option<Node>,
        /// The other members, `,"key":value` each.
        rest: Vec<Piece>,
        /// Bytes the literal pieces of `rest` take, to size its buffer once.
        capacity: usize,
    },
    /// A top-level key holds a placeholder: rendered as a tree, then split.
    Tree(Node),
}

/// A run of the rest's JSON text.
#[derive(Debug, Clone)]
pub(super) enum Piece {
    /// JSON text as it is.
    Json(String),
    /// A JSON string holding placeholders.
    Text(Text),
    /// An object with a placeholder in a key, rendered as a tree and serialized.
    Tree(Node),
}

/// Room for what a string with placeholders adds to the text, to size buffers.
const PER_TEXT: usize = 64;

impl Shape {
    /// Compiles a resource template; `Err(name)` for a placeholder naming an undeclared param.
    pub(super) fn compile(map: &Map<String, Value>, params: &[&str]) -> Result<Self, String> {
        let mut literal_keys = true;
        for key in map.keys() {
            literal_keys &= parse::split(key, params)?.as_literal().is_some();
        }
        let string = |key: &str| map.get(key).is_some_and(Value::is_string);
        if !(literal_keys && string("apiVersion") && string("kind")) {
            let node = parse::compile(&Value::Object(map.clone()), params)?;
            return Ok(Self::Tree(node));
        }
        let mut api_version = None;
        let mut kind = None;
        let mut metadata = None;
        let mut rest = Vec::new();
        for (key, value) in map {
            let node = parse::compile(value, params)?;
            match key.as_str() {
                "apiVersion" => api_version = Some(node),
                "kind" => kind = Some(node),
                "metadata" => metadata = Some(node),
                _ => {
                    literal(&mut rest, ",");
                    literal(&mut rest, &Value::String(key.clone()).to_string());
                    literal(&mut rest, ":");
                    pieces(&node, &mut rest);
                }
            }
        }
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            // Both were found to be strings above.
            let node = parse::compile(&Value::Object(map.clone()), params)?;
            return Ok(Self::Tree(node));
        };
        let capacity = rest
            .iter()
            .map(|p| match p {
                Piece::Json(s) => s.len(),
                Piece::Text(_) | Piece::Tree(_) => PER_TEXT,
            })
            .sum();
        Ok(Self::Split {
            api_version,
            kind,
            metadata,
            rest,
            capacity,
        })
    }

    /// Renders the object; `scratch` is a buffer reused between strings.
    pub(super) fn render(&self, ctx: &RenderContext<'_>, scratch: &mut String) -> Rendered {
        match self {
            Self::Split {
                api_version,
                kind,
                metadata,
                rest: pieces,
                capacity,
            } => {
                let mut rest = Vec::with_capacity(*capacity);
                for piece in pieces {
                    match piece {
                        Piece::Json(s) => rest.extend_from_slice(s.as_bytes()),
                        Piece::Text(t) => {
                            scratch.clear();
                            ctx.text_into(t, scratch);
                            write_json(&mut rest, scratch.as_str());
                        }
                        Piece::Tree(node) => write_json(&mut rest, &ctx.node(node)),
                    }
                }
                Rendered {
                    api_version: string(ctx, api_version),
                    kind: string(ctx, kind),
                    metadata: metadata.as_ref().map(|node| ctx.node(node)),
                    rest,
                }
            }
            Self::Tree(node) => match ctx.node(node) {
                Value::Object(map) => Rendered::from_map(map),
                // A resource template is an object (checked at compile), and so is its render.
                _ => Rendered::from_map(Map::new()),
            },
        }
    }
}

/// A node known to render to a string, rendered.
fn string(ctx: &RenderContext<'_>, node: &Node) -> Option<String> {
    match node {
        Node::Json(Value::String(s)) => Some(s.clone()),
        Node::Text(t) => Some(ctx.text(t)),
        _ => None,
    }
}

/// Appends `node`'s JSON text to `out` as pieces.
fn pieces(node: &Node, out: &mut Vec<Piece>) {
    match node {
        Node::Json(v) => literal(out, &v.to_string()),
        Node::Text(t) => out.push(Piece::Text(t.clone())),
        Node::Array(items) => {
            literal(out, "[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    literal(out, ",");
                }
                pieces(item, out);
            }
            literal(out, "]");
        }
        Node::Object(entries) => {
            let keys: Option<Vec<String>> = entries.iter().map(|(k, _)| k.as_literal()).collect();
            let Some(keys) = keys else {
                out.push(Piece::Tree(node.clone()));
                return;
            };
            literal(out, "{");
            for (i, (key, (_, value))) in keys.into_iter().zip(entries).enumerate() {
                if i > 0 {
                    literal(out, ",");
                }
                literal(out, &Value::String(key).to_string());
                literal(out, ":");
                pieces(value, out);
            }
            literal(out, "}");
        }
    }
}

/// Appends literal JSON text, joined to the previous piece when that is literal too.
fn literal(out: &mut Vec<Piece>, text: &str) {
    if let Some(Piece::Json(last)) = out.last_mut() {
        last.push_str(text);
    } else {
        out.push(Piece::Json(text.to_owned()));
    }
}
