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

use std::cell::Cell;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
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
    Keys(KeyNodes),
}

/// The keys of one [`Node::Keys`], in byte order (a key's index is its rank, which names it in
/// a [`Located`]), with a mask of their lengths: most keys of a body are on no path, and the
/// locating pass turns each away by its length alone, before any byte is compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyNodes {
    entries: Vec<(String, Node)>,
    /// Bit `n` set: some key is `n` bytes long (bit 63: 63 bytes or more).
    lengths: u64,
}

/// The bit of [`KeyNodes::lengths`] for a key of `len` bytes.
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

impl KeyNodes {
    /// The keys and their nodes, in byte order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Node)> {
        self.entries.iter().map(|(key, node)| (key, node))
    }

    /// The rank of `key`, when it is one of these.
    fn rank(&self, key: &[u8]) -> Option<usize> {
        if self.lengths & length_bit(key.len()) == 0 {
            return None;
        }
        self.entries
            .binary_search_by(|(k, _)| k.as_bytes().cmp(key))
            .ok()
    }

    /// The key of rank `rank` and its node.
    fn at(&self, rank: usize) -> Option<(&str, &Node)> {
        self.entries
            .get(rank)
            .map(|(key, node)| (key.as_str(), node))
    }

    /// The node of `key`, added (reading nothing) when it is not one of these.
    fn entry(&mut self, key: &str) -> &mut Node {
        let rank = match self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
            Ok(rank) => rank,
            Err(rank) => {
                self.entries
                    .insert(rank, (key.to_owned(), Node::Keys(KeyNodes::default())));
                self.lengths |= length_bit(key.len());
                rank
            }
        };
        &mut self.entries[rank].1
    }
}

impl FromIterator<(String, Node)> for KeyNodes {
    /// The keys given; a repeated key keeps its last node, as a map's `collect` does.
    fn from_iter<I: IntoIterator<Item = (String, Node)>>(entries: I) -> Self {
        let mut keys = KeyNodes::default();
        for (key, node) in entries {
            *keys.entry(&key) = node;
        }
        keys
    }
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
        Self(Node::Keys(KeyNodes::default()))
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
                Node::Keys(keys) => node = keys.entry(key.as_ref()),
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

impl BodyPaths {
    /// Validates `bytes` (one pass, as [`super::check_body`]'s scan; two when an object key on a
    /// path's way is not plain printable ASCII) and notes where the parts
    /// these paths read lie, building nothing: [`Located::build`] makes the tree
    /// [`Self::parse`] would, later, from those parts alone. What it holds is bounded by the
    /// paths, not by the body (byte ranges, and the scalars met where an object was expected),
    /// so it can run before any signature is checked.
    ///
    /// # Errors
    /// serde_json's error for bytes that are not JSON, and for a few that [`super::check_body`]
    /// accepts (a number out of range met where an object was expected): callers judge the body
    /// with `check_body` when this fails.
    pub fn locate(self: &Arc<Self>, bytes: &[u8]) -> Result<Located, serde_json::Error> {
        let located = |spot| Located {
            paths: Arc::clone(self),
            spot,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(located(Spot::Scalar(Value::Null)));
        }
        // Keys are first compared as raw bytes. A key that is not plain printable ASCII
        // (an escape, a byte above 0x7f, a control character) makes the scan run again with
        // every key read as serde_json reads a string, so that what is accepted, and how keys
        // compare, is exactly that (BENCHMARKS.md, "Stop 23": 12.7 → 11.9 µs for the 25 KB event,
        // against 9.3 µs for the floor's scan).
        let unusual = Cell::new(false);
        let spot = self.locate_with(bytes, Keys::Raw(&unusual))?;
        if !unusual.get() {
            return Ok(located(spot));
        }
        Ok(located(self.locate_with(bytes, Keys::Strings)?))
    }

    fn locate_with(&self, bytes: &[u8], keys: Keys<'_>) -> Result<Spot, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let spot = Locate {
            node: &self.0,
            bytes,
            keys,
        }
        .deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(spot)
    }
}

/// How [`BodyPaths::locate`] reads object keys.
#[derive(Clone, Copy)]
enum Keys<'f> {
    /// As raw bytes, without UTF-8 validation or unescaping; a key that is not plain printable
    /// ASCII sets the flag (the scan's result is then not used).
    Raw(&'f Cell<bool>),
    /// As serde_json reads a string (validated and unescaped).
    Strings,
}

/// Where the parts of one body that a [`BodyPaths`] reads lie ([`BodyPaths::locate`]), with
/// the paths they were located for (whose keys name them).
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    paths: Arc<BodyPaths>,
    spot: Spot,
}

/// One level of [`Located`].
#[derive(Debug, Clone, PartialEq)]
enum Spot {
    /// A value read whole: its bytes in the body.
    Raw(Range<usize>),
    /// A scalar met where an object was expected, kept as it is (a read of a field of it fails).
    Scalar(Value),
    /// An object: each key on some path once, with its last occurrence, as a full parse keeps;
    /// a key is named by its rank among its node's keys (no copy of it per event).
    Object(Vec<(usize, Spot)>),
    /// An array met where an object was expected: [`Located::build`] leaves it to a full
    /// pruned parse, so that nothing of it is built before the signature checks.
    Array,
}

impl Located {
    /// The tree [`BodyPaths::parse`] builds from the same bytes, made of the located parts
    /// only; `None` when a part needs the pruned parse instead (an array met where an object
    /// was expected, or a number out of range in a part read whole).
    #[must_use]
    pub fn build(&self, bytes: &[u8]) -> Option<Value> {
        self.spot.build(&self.paths.0, bytes)
    }

    /// Whether these parts were located for exactly `paths` (the same `Arc`).
    pub(crate) fn is_for(&self, paths: &Arc<BodyPaths>) -> bool {
        Arc::ptr_eq(&self.paths, paths)
    }
}

impl Spot {
    /// The tree of the parts located for `node`.
    fn build(&self, node: &Node, bytes: &[u8]) -> Option<Value> {
        match self {
            Spot::Raw(range) => serde_json::from_slice(bytes.get(range.clone())?).ok(),
            Spot::Scalar(value) => Some(value.clone()),
            Spot::Object(entries) => {
                let Node::Keys(keys) = node else {
                    return None;
                };
                let mut map = Map::new();
                for (rank, spot) in entries {
                    let (key, child) = keys.at(*rank)?;
                    map.insert(key.to_owned(), spot.build(child, bytes)?);
                }
                Some(Value::Object(map))
            }
            Spot::Array => None,
        }
    }
}

/// Locates one value as `node` reads it, in `bytes` (the whole input, for the offsets).
struct Locate<'n, 'de> {
    node: &'n Node,
    bytes: &'de [u8],
    keys: Keys<'n>,
}

impl<'de> DeserializeSeed<'de> for Locate<'_, 'de> {
    type Value = Spot;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Spot, D::Error> {
        match self.node {
            Node::Whole => {
                let raw = <&'de RawValue as serde::Deserialize>::deserialize(d)?.get();
                let start = (raw.as_ptr() as usize)
                    .checked_sub(self.bytes.as_ptr() as usize)
                    .filter(|start| start + raw.len() <= self.bytes.len())
                    .ok_or_else(|| D::Error::custom("raw value outside the body"))?;
                Ok(Spot::Raw(start..start + raw.len()))
            }
            Node::Keys(keys) => d.deserialize_any(LocateVisitor {
                keys,
                bytes: self.bytes,
                read: self.keys,
            }),
        }
    }
}

/// An object keeps where its keys on a path are; a scalar is kept; an array is skipped.
struct LocateVisitor<'n, 'de> {
    keys: &'n KeyNodes,
    bytes: &'de [u8],
    read: Keys<'n>,
}

impl<'de> Visitor<'de> for LocateVisitor<'_, 'de> {
    type Value = Spot;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Spot, E> {
        Ok(Spot::Scalar(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Spot, E> {
        Ok(Spot::Scalar(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Spot, E> {
        Ok(Spot::Scalar(Value::Number(v.into())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Spot, E> {
        Ok(Spot::Scalar(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, v: &str) -> Result<Spot, E> {
        Ok(Spot::Scalar(Value::String(v.to_owned())))
    }

    fn visit_unit<E>(self) -> Result<Spot, E> {
        Ok(Spot::Scalar(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Spot, E> {
        Ok(Spot::Scalar(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Spot, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Spot::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Spot, A::Error> {
        let mut entries: Vec<(usize, Spot)> = Vec::new();
        loop {
            let wanted = match self.read {
                Keys::Raw(unusual) => map.next_key_seed(RawKeySeed {
                    keys: self.keys,
                    unusual,
                })?,
                Keys::Strings => map
                    .next_key_seed(KeySeed(self.keys))?
                    .map(|found| found.map(|(rank, _, node)| (rank, node))),
            };
            let Some(wanted) = wanted else { break };
            match wanted {
                Some((key, node)) => {
                    let spot = map.next_value_seed(Locate {
                        node,
                        bytes: self.bytes,
                        keys: self.read,
                    })?;
                    // At most one entry per key of the node, whatever the body repeats.
                    match entries.iter_mut().find(|(k, _)| *k == key) {
                        Some(entry) => entry.1 = spot,
                        None => entries.push((key, spot)),
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Spot::Object(entries))
    }
}

impl Node {
    fn merge(&mut self, other: &Node) {
        match (&mut *self, other) {
            (Node::Whole, _) => {}
            (_, Node::Whole) => *self = Node::Whole,
            (Node::Keys(mine), Node::Keys(theirs)) => {
                // A key new here starts as reading nothing, which merges into a copy of theirs.
                for (key, node) in theirs.iter() {
                    mine.entry(key).merge(node);
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
struct PrunedVisitor<'n>(&'n KeyNodes);

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
                Some((_, key, node)) => {
                    let value = map.next_value_seed(Pruned(node))?;
                    out.insert(key.to_owned(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Reads an object key without allocating it unless it is on a path: its rank, the key and its
/// node, or `None` for a key nobody reads.
struct KeySeed<'n>(&'n KeyNodes);

impl<'de, 'n> DeserializeSeed<'de> for KeySeed<'n> {
    type Value = Option<(usize, &'n str, &'n Node)>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'n> Visitor<'de> for KeySeed<'n> {
    type Value = Option<(usize, &'n str, &'n Node)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        let Some(rank) = self.0.rank(key.as_bytes()) else {
            return Ok(None);
        };
        Ok(self.0.at(rank).map(|(key, node)| (rank, key, node)))
    }
}

/// Reads an object key as raw bytes ([`Keys::Raw`]): the node's key it equals, or `None`.
struct RawKeySeed<'n> {
    keys: &'n KeyNodes,
    unusual: &'n Cell<bool>,
}

impl<'de, 'n> DeserializeSeed<'de> for RawKeySeed<'n> {
    type Value = Option<(usize, &'n Node)>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_bytes(self)
    }
}

impl<'de, 'n> Visitor<'de> for RawKeySeed<'n> {
    type Value = Option<(usize, &'n Node)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    /// A key as it lies in the body, when it holds no escape.
    fn visit_borrowed_bytes<E>(self, key: &'de [u8]) -> Result<Self::Value, E> {
        // Every byte checked, without an early exit, so that the loop needs no branch per byte.
        let unusual = key
            .iter()
            .fold(false, |unusual, b| unusual | !(0x20..0x7f).contains(b));
        if unusual {
            self.unusual.set(true);
            return Ok(None);
        }
        Ok(self
            .keys
            .rank(key)
            .and_then(|rank| Some((rank, self.keys.at(rank)?.1))))
    }

    /// An unescaped key: the body holds an escape here.
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Self::Value, E> {
        self.unusual.set(true);
        Ok(None)
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

    #[test]
    fn located_parts_build_the_pruned_tree_without_a_second_pass() {
        let body = br#"{"action":"opened","pull_request":{"head":{"sha":"abc","ref":"x"},"title":"t","big":[1,2,3]},"sender":{"login":"me"}, "n": null, "s": "text"}"#;
        let declared = Arc::new(paths(&[
            &["action"],
            &["pull_request", "head"],
            &["nope", "deeper"],
            &["n", "x"],
            &["s", "x"],
        ]));
        let located = declared.locate(body).unwrap();
        assert_eq!(located.build(body), Some(declared.parse(body).unwrap()));
        // The parts read whole are byte ranges of the body, not trees.
        let Spot::Object(entries) = &located.spot else {
            panic!("{located:?}")
        };
        // `action`: the first of the top level's declared keys.
        assert!(entries.contains(&(0, Spot::Raw(10..18))));
        // An array where an object was expected is left to the pruned parse.
        let odd = br#"{"pull_request":[{"head":1}]}"#;
        assert_eq!(declared.locate(odd).unwrap().build(odd), None);
        assert!(
            declared.locate(br#"{"a":[1,}"#).is_err(),
            "skipped parts are validated"
        );
        assert!(declared.locate(br#"{} {}"#).is_err(), "trailing data");
    }

    #[test]
    fn keys_that_are_not_plain_ascii_are_read_as_strings() {
        let declared = Arc::new(paths(&[&["action"], &["é", "x"]]));
        // An escaped key names the same key as its unescaped form.
        let escaped = br#"{"act\u0069on":"opened","\u00e9":{"x":1}}"#;
        let located = declared.locate(escaped).unwrap();
        assert_eq!(
            located.build(escaped),
            Some(json!({"action": "opened", "é": {"x": 1}}))
        );
        let plain = r#"{"action":"opened","é":{"x":1}}"#.as_bytes();
        assert_eq!(
            declared.locate(plain).unwrap().build(plain),
            located.build(escaped)
        );
        // A raw control character in a key is not JSON, as serde_json reads a string.
        assert!(declared.locate(b"{\"act\nion\":1}").is_err());
        assert!(declared.locate(b"{\"x\ty\":1}").is_err());
    }

    #[test]
    fn a_node_of_many_keys_finds_each() {
        let names: Vec<String> = (0..40).map(|i| format!("key{i}")).collect();
        let list: Vec<[&str; 1]> = names.iter().map(|n| [n.as_str()]).collect();
        let refs: Vec<&[&str]> = list.iter().map(|p| p.as_slice()).collect();
        let declared = Arc::new(paths(&refs));
        let body = br#"{"key7":7,"other":0,"key39":"z"}"#;
        assert_eq!(
            declared.locate(body).unwrap().build(body),
            Some(json!({"key7": 7, "key39": "z"}))
        );
    }

    #[test]
    fn a_repeated_key_is_located_once_whatever_the_body_repeats() {
        let mut body = String::from("{");
        for i in 0..10_000 {
            body.push_str(&format!(r#""pull_request":{{"head":{{"sha":"{i}"}}}},"#));
        }
        body.push_str(r#""action":"opened"}"#);
        let declared = Arc::new(paths(&[&["pull_request", "head", "sha"], &["action"]]));
        let located = declared.locate(body.as_bytes()).unwrap();
        let Spot::Object(entries) = &located.spot else {
            panic!("{located:?}")
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(
            located.build(body.as_bytes()),
            Some(json!({"pull_request": {"head": {"sha": "9999"}}, "action": "opened"}))
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
            // The located parts build the same tree, or leave it to the pruned parse exactly
            // when an array stands where a declared path expects an object.
            let declared_paths = Arc::new(paths(&list));
            match declared_paths.locate(&bytes).unwrap().build(&bytes) {
                Some(tree) => prop_assert_eq!(tree, pruned),
                None => {
                    let array_on_the_way = declared.iter().any(|path| {
                        (0..path.len()).any(|end| at(&pruned, &path[..end]).is_some_and(Value::is_array))
                    });
                    prop_assert!(array_on_the_way);
                }
            }
        }
    }
}
