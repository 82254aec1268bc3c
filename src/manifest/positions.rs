//! Where each node of a manifest file sits (line and column), for messages that point at the
//! offending key: a second, position-keeping read of the same text with serde-saphyr's
//! [`Spanned`]. JSON is read the same way (JSON is YAML 1.2 flow syntax).

use std::fmt;
use std::path::Path;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based line and column (characters) in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// 1-based line.
    pub line: u64,
    /// 1-based column, in characters.
    pub column: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One step of a path into a document: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A 0-based list index.
    Index(usize),
}

/// A path into a document, shown as `spec.triggers[0].bindings` (serde_path_to_error's form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// Parses the leading path of `text` (`spec.triggers[0].ref`, `bindings[1] param x`): keys
    /// made of anything but `.`, `[` and spaces, indexes in brackets; stops at the first space.
    pub fn parse_prefix(text: &str) -> Self {
        let head = text.split(' ').next().unwrap_or_default();
        let mut segments = Vec::new();
        for part in head.split('.') {
            let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
            if !key.is_empty() {
                segments.push(Segment::Key(key.to_owned()));
            }
            while let Some((index, after)) = rest.split_once(']') {
                match index.parse() {
                    Ok(i) => segments.push(Segment::Index(i)),
                    Err(_) => return Self(segments),
                }
                rest = after.strip_prefix('[').unwrap_or(after);
            }
        }
        Self(segments)
    }

    /// This path followed by `other`.
    pub fn join(&self, other: &FieldPath) -> Self {
        Self(self.0.iter().chain(&other.0).cloned().collect())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A node of a document with its position; scalars keep only their position.
#[derive(Debug, Clone)]
pub struct Node {
    at: Position,
    shape: Shape,
}

#[derive(Debug, Clone)]
enum Shape {
    Scalar,
    List(Vec<Node>),
    /// `(key, key position, value)`, in file order.
    Map(Vec<(String, Position, Node)>),
}

impl Node {
    /// Where the node is.
    pub fn position(&self) -> Position {
        self.at
    }

    /// The position of the node at `path`, or of its deepest ancestor found: the key's position
    /// when the path ends in a key (`bindngs:` of an unknown field), else the value's.
    pub fn locate(&self, path: &FieldPath) -> Position {
        let mut node = self;
        let mut at = self.at;
        for segment in &path.0 {
            match (segment, &node.shape) {
                (Segment::Key(k), Shape::Map(entries)) => {
                    match entries.iter().find(|(key, _, _)| key == k) {
                        Some((_, key_at, value)) => {
                            at = *key_at;
                            node = value;
                        }
                        None => break,
                    }
                }
                (Segment::Index(i), Shape::List(items)) => match items.get(*i) {
                    Some(item) => {
                        at = item.at;
                        node = item;
                    }
                    None => break,
                },
                _ => break,
            }
        }
        at
    }
}

/// The positions of every document of a file, indexed as the loader counts them (0-based here;
/// `Origin::document` is 1-based). Empty when the file does not read.
#[derive(Debug, Clone, Default)]
pub struct FilePositions {
    documents: Vec<Node>,
}

impl FilePositions {
    /// Reads `text` (YAML or JSON) keeping positions.
    pub fn read(text: &str) -> Self {
        let documents = serde_saphyr::from_multiple_with_options::<Spanned<Node>>(
            text,
            crate::api::yaml_options(),
        )
        .map(|docs| {
            docs.into_iter()
                .map(|d| Node {
                    at: position(&d),
                    ..d.value
                })
                .collect()
        })
        .unwrap_or_default();
        Self { documents }
    }

    /// Reads the file at `path`; empty when it cannot be read.
    pub fn of_file(path: &Path) -> Self {
        std::fs::read_to_string(path)
            .map(|text| Self::read(&text))
            .unwrap_or_default()
    }

    /// The position of `path` in the 1-based `document`, or `None` when the document is unknown.
    pub fn locate(&self, document: usize, path: &FieldPath) -> Option<Position> {
        let node = self.documents.get(document.checked_sub(1)?)?;
        Some(node.locate(path))
    }
}

fn position<T>(s: &Spanned<T>) -> Position {
    Position {
        line: s.referenced.line(),
        column: s.referenced.column(),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let shape = d.deserialize_any(ShapeVisitor)?;
        // The position is filled in by the enclosing `Spanned`.
        Ok(Node {
            at: Position { line: 0, column: 0 },
            shape,
        })
    }
}

/// A mapping key as text, whatever scalar it is.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Key, E> {
                Ok(Key(String::new()))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_i128<E>(self, _: i128) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_u128<E>(self, _: u128) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_none<E>(self) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            let at = position(&item);
            items.push(Node { at, ..item.value });
        }
        Ok(Shape::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            let at = position(&value);
            entries.push((
                key.value.0.clone(),
                position(&key),
                Node { at, ..value.value },
            ));
        }
        Ok(Shape::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u64, column: u64) -> Position {
        Position { line, column }
    }

    #[test]
    fn yaml_keys_and_items_have_their_positions() {
        let text = "a: 1\n---\napiVersion: v1\nspec:\n  triggers:\n  - name: t\n    bindngs: []\n";
        let p = FilePositions::read(text);
        let path = FieldPath::parse_prefix("spec.triggers[0].bindngs");
        assert_eq!(p.locate(2, &path), Some(at(7, 5)));
        assert_eq!(
            p.locate(2, &FieldPath::parse_prefix("spec.triggers[0]")),
            Some(at(6, 5))
        );
        // Missing tail: the deepest node found.
        assert_eq!(
            p.locate(2, &FieldPath::parse_prefix("spec.nope.x")),
            Some(at(4, 1))
        );
        assert_eq!(p.locate(1, &FieldPath::default()), Some(at(1, 1)));
        assert_eq!(p.locate(3, &FieldPath::default()), None);
    }

    #[test]
    fn json_positions_too() {
        let text = "{\n  \"kind\": \"Trigger\",\n  \"spec\": {\"bindngs\": []}\n}\n";
        let p = FilePositions::read(text);
        assert_eq!(
            p.locate(1, &FieldPath::parse_prefix("spec.bindngs")),
            Some(at(3, 12))
        );
    }

    #[test]
    fn paths_parse_and_print() {
        let p = FieldPath::parse_prefix("spec.triggers[0].bindings[12] param x");
        assert_eq!(p.to_string(), "spec.triggers[0].bindings[12]");
        assert_eq!(
            FieldPath::parse_prefix("interceptors[1]").0,
            vec![Segment::Key("interceptors".into()), Segment::Index(1)]
        );
    }
}
