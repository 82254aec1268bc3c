//! Which parts of the body a configuration can read, and a parse that builds only those.
//!
//! At load, every reader adds what it reads: CEL expressions (`crate::cel`, from their syntax)
//! and binding paths (`crate::binding`). Per event, [`BodyPaths::parse`] walks the body once
//! and builds a tree holding only the keys on some path, each path's end value whole; the rest
//! of the body is scanned (and so still validated) but never allocated. For GitHub's 25 KB
//! `pull_request` and the default configuration this builds a handful of strings instead of
//! ~1,200 nodes (BENCHMARKS.md).
//!
//! A tree pruned this way answers every read that was declared exactly as the whole body does:
//! a key on a path is present iff it is in the body, with the same value (same parser, same
//! numbers and escapes; a repeated key keeps its last value, as in a full parse), and a
//! non-object met on the way is kept whole, so reading a field of it fails the same way.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The parts of the body that a set of readers can read: nothing, everything, or a tree of
/// object keys whose leaves are read whole. Merge the paths of every reader of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPaths(pub(crate) Node);

/// One level of [`BodyPaths`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// The value is read in full.
    Whole,
    /// Only these keys of the object are read (none: nothing is read).
    Keys(BTreeMap<String, Node>),
}

impl Default for BodyPaths {
    /// Nothing is read.
    fn default() -> Self {
        Self::none()
    }
}

impl BodyPaths {
    /// Nothing of the body is read.
    #[must_use]
    pub fn none() -> Self {
        Self(Node::Keys(BTreeMap::new()))
    }

    /// The whole body is read (the safe answer when the readers are not known).
    #[must_use]
    pub fn whole() -> Self {
        Self(Node::Whole)
    }

    /// True when the whole body is read.
    #[must_use]
    pub fn is_whole(&self) -> bool {
        self.0 == Node::Whole
    }

    /// Adds everything `other` reads.
    pub fn merge(&mut self, other: &BodyPaths) {
        self.0.merge(&other.0);
    }

    /// Adds the read of the value at `path` (object keys from the body down; empty: the whole
    /// body), read whole.
    pub fn add<S: AsRef<str>>(&mut self, path: &[S]) {
        let mut node = &mut self.0;
        for key in path {
            match node {
                Node::Whole => return,
                Node::Keys(keys) => {
                    node = keys
                        .entry(key.as_ref().to_owned())
                        .or_insert_with(|| Node::Keys(BTreeMap::new()));
                }
            }
        }
        *node = Node::Whole;
    }

    /// Parses `bytes` (a JSON body, as [`super::check_body`] accepts it) into a tree that holds
    /// only what these paths read; `Value::Null` for an empty body. One pass over the bytes.
    ///
    /// # Errors
    /// serde_json's error for bytes that are not JSON.
    pub fn parse(&self, bytes: &[u8]) -> Result<Value, serde_json::Error> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let value = Pruned(&self.0).deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(value)
    }
}

impl Node {
    fn merge(&mut self, other: &Node) {
        match (&mut *self, other) {
            (Node::Whole, _) => {}
            (_, Node::Whole) => *self = Node::Whole,
            (Node::Keys(mine), Node::Keys(theirs)) => {
                for (key, node) in theirs {
                    match mine.get_mut(key) {
                        Some(existing) => existing.merge(node),
                        None => {
                            mine.insert(key.clone(), node.clone());
                        }
                    }
                }
            }
        }
    }
}

/// Deserializes one value as `node` reads it.
struct Pruned<'n>(&'n Node);

impl<'de> DeserializeSeed<'de> for Pruned<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.0 {
            Node::Whole => serde::Deserialize::deserialize(d),
            Node::Keys(keys) => d.deserialize_any(PrunedVisitor(keys)),
        }
    }
}

/// An object keeps the keys of `.0`; any other value on the way is kept whole, built as
/// `serde_json::Value`'s own visitor builds it.
struct PrunedVisitor<'n>(&'n BTreeMap<String, Node>);

impl<'de> Visitor<'de> for PrunedVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(wanted) = map.next_key_seed(KeySeed(self.0))? {
            match wanted {
                Some((key, node)) => {
                    let value = map.next_value_seed(Pruned(node))?;
                    out.insert(key, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Reads an object key without allocating it unless it is on a path: the key and its node, or
/// `None` for a key nobody reads.
struct KeySeed<'n>(&'n BTreeMap<String, Node>);

impl<'de, 'n> DeserializeSeed<'de> for KeySeed<'n> {
    type Value = Option<(String, &'n Node)>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'n> Visitor<'de> for KeySeed<'n> {
    type Value = Option<(String, &'n Node)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.get(key).map(|node| (key.to_owned(), node)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn paths(list: &[&[&str]]) -> BodyPaths {
        let mut paths = BodyPaths::none();
        for path in list {
            paths.add(path);
        }
        paths
    }

    /// The value at `path`, or `None` where the whole tree has none.
    fn at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
        path.iter().try_fold(value, |v, key| v.get(*key))
    }

    #[test]
    fn only_the_paths_are_built_and_they_are_built_whole() {
        let body = br#"{"action":"opened","pull_request":{"head":{"sha":"abc","ref":"x"},"title":"t","big":[1,2,3]},"sender":{"login":"me"}}"#;
        let pruned = paths(&[&["action"], &["pull_request", "head"], &["nope", "deeper"]])
            .parse(body)
            .unwrap();
        assert_eq!(
            pruned,
            json!({"action": "opened", "pull_request": {"head": {"sha": "abc", "ref": "x"}}})
        );
    }

    #[test]
    fn a_non_object_on_the_way_is_kept_whole_and_the_last_repeated_key_wins() {
        let body = br#"{"a":[{"b":1}],"s":"text","a2":{"k":1},"a2":{"k":2}}"#;
        let pruned = paths(&[&["a", "b"], &["s", "x"], &["a2", "k"]])
            .parse(body)
            .unwrap();
        assert_eq!(
            pruned,
            json!({"a": [{"b": 1}], "s": "text", "a2": {"k": 2}})
        );
        let full: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(pruned["a2"], full["a2"]);
    }

    #[test]
    fn escaped_keys_numbers_and_empty_bodies_read_as_a_full_parse() {
        let body = br#"{"a\u002eb":{"x":1.5e300,"big":12345678901234567891,"neg":-3,"f":0.1},"\u00e9":"\ud83d\ude00"}"#;
        let full: Value = serde_json::from_slice(body).unwrap();
        let pruned = paths(&[&["a.b"], &["é"]]).parse(body).unwrap();
        assert_eq!(pruned, full);
        assert_eq!(BodyPaths::whole().parse(b"  ").unwrap(), Value::Null);
        assert_eq!(paths(&[&["a"]]).parse(b"null").unwrap(), Value::Null);
        assert!(paths(&[&["a"]]).parse(br#"{"a":1"#).is_err());
        assert!(
            paths(&[&["a"]]).parse(br#"{"z":[1,}"#).is_err(),
            "skipped parts are validated"
        );
        assert!(
            paths(&[&["a"]]).parse(br#"{} {}"#).is_err(),
            "trailing data"
        );
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec!["a", "b", "c", "a.b", "é"]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            (-1e6f64..1e6).prop_map(|f| json!(f)),
            "[a-z\"\\\\<>\u{e9}]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..5).prop_map(|entries| {
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    fn path() -> impl Strategy<Value = Vec<&'static str>> {
        prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "a.b", "é"]), 0..4)
    }

    proptest! {
        /// For random bodies and random path sets, every declared path (and every prefix of
        /// it) reads the same value, or the same absence, in the pruned tree as in the whole.
        #[test]
        fn every_declared_path_reads_as_in_the_whole_body(
            fields in prop::collection::vec((prop::sample::select(vec!["a", "b", "c", "a.b", "é"]), json_value()), 0..5),
            declared in prop::collection::vec(path(), 0..4),
        ) {
            let body = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            let bytes = serde_json::to_vec(&body).unwrap();
            let full: Value = serde_json::from_slice(&bytes).unwrap();
            let list: Vec<&[&str]> = declared.iter().map(Vec::as_slice).collect();
            let pruned = paths(&list).parse(&bytes).unwrap();
            for path in &declared {
                for end in 0..=path.len() {
                    let prefix = &path[..end];
                    let (p, f) = (at(&pruned, prefix), at(&full, prefix));
                    if end == path.len() {
                        prop_assert_eq!(p, f, "{:?}", prefix);
                    } else {
                        prop_assert_eq!(p.is_some(), f.is_some(), "{:?}", prefix);
                    }
                }
            }
        }
    }
}
