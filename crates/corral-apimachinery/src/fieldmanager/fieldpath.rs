//! Field paths and sets of fields, as upstream
//! `sigs.k8s.io/structured-merge-diff/fieldpath`: a [`PathElement`] names one
//! step into an object (a field, a list item by key, by value or by index), a
//! [`FieldPath`] is a sequence of them, and a [`FieldSet`] is a trie of paths
//! with the set algebra the field manager needs. [`FieldSet`] reads and writes
//! the FieldsV1 format stored in `metadata.managedFields[].fieldsV1`.

use super::FieldManagerError;
use crate::util::{go_json_string, go_quote};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One step of a path into an object.
///
/// Ordering and equality follow upstream's `PathElement.Compare`: fields sort
/// before keys, keys before values, values before indexes; values compare
/// with upstream's total order over JSON values (numbers numerically, so `1`
/// and `1.0` are the same element).
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A field of a struct or a key of a map (`f:<name>`, shown `.name`).
    Field(String),
    /// A list item selected by its key fields, sorted by name
    /// (`k:{"name":"c"}`, shown `[name="c"]`). Build it with
    /// [`PathElement::key`] so the fields are sorted.
    Key(Vec<(String, Value)>),
    /// An item of a set-like list selected by its value (`v:"a"`, shown `[="a"]`).
    Value(Value),
    /// A list item selected by position (`i:0`, shown `[0]`).
    Index(usize),
}

impl PathElement {
    /// A field element.
    pub fn field(name: impl Into<String>) -> PathElement {
        PathElement::Field(name.into())
    }

    /// A key element; the fields are sorted by name as upstream requires.
    pub fn key<I, S>(fields: I) -> PathElement
    where
        I: IntoIterator<Item = (S, Value)>,
        S: Into<String>,
    {
        let mut list: Vec<(String, Value)> =
            fields.into_iter().map(|(k, v)| (k.into(), v)).collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        PathElement::Key(list)
    }

    /// The field name, if this is a field element.
    pub fn as_field(&self) -> Option<&str> {
        match self {
            PathElement::Field(name) => Some(name),
            _ => None,
        }
    }

    /// The FieldsV1 key of this element (`f:name`, `k:{..}`, `v:..`, `i:N`).
    pub fn serialize(&self) -> String {
        match self {
            PathElement::Field(name) => field_key(name),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}:{}", go_json_string(k), go_json(v)))
                    .collect();
                format!("k:{{{}}}", parts.join(","))
            }
            PathElement::Value(v) => format!("v:{}", go_json(v)),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a FieldsV1 key. `Ok(None)` for a well-formed key of a type this
    /// version does not know (`x:...`): upstream drops those silently so a
    /// newer server's data does not break an older one.
    pub fn parse(key: &str) -> Result<Option<PathElement>, FieldManagerError> {
        let bytes = key.as_bytes();
        if bytes.len() < 2 {
            return Err(fields_err("key must be 2 characters long:"));
        }
        if bytes[1] != b':' {
            return Err(fields_err(format!("missing colon: {key}")));
        }
        // bytes[1] is ':' so bytes[0] is a one-byte character: slicing is safe.
        let rest = key.get(2..).unwrap_or("");
        match bytes[0] {
            b'f' => Ok(Some(PathElement::Field(rest.to_string()))),
            b'v' => serde_json::from_str::<Value>(rest)
                .map(|v| Some(PathElement::Value(v)))
                .map_err(|e| fields_err(format!("parsing key {key:?} as a value: {e}"))),
            b'k' => match serde_json::from_str::<Value>(rest) {
                Ok(Value::Object(m)) => Ok(Some(PathElement::key(m))),
                Ok(_) => Err(fields_err(format!(
                    "parsing key {key:?}: key fields must be a JSON object"
                ))),
                Err(e) => Err(fields_err(format!(
                    "parsing key {key:?} as key fields: {e}"
                ))),
            },
            b'i' => rest
                .parse::<usize>()
                .map(|i| Some(PathElement::Index(i)))
                .map_err(|e| fields_err(format!("parsing key {key:?} as an index: {e}"))),
            _ => Ok(None),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for (x, y) in a.iter().zip(b.iter()) {
                    let c = x.0.cmp(&y.0).then_with(|| value_cmp(&x.1, &y.1));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => value_cmp(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_to_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_to_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path into an object; displays like upstream (`.spec.containers[name="c"].image`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<PathElement>);

impl FieldPath {
    /// A path of field names only (`["spec", "replicas"]`).
    pub fn fields(names: &[&str]) -> FieldPath {
        FieldPath(names.iter().map(|n| PathElement::field(*n)).collect())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

/// A set of field paths stored as a trie: `members` are the paths ending at
/// this node, `children` the subtrees. A node can be both a member and have
/// children (FieldsV1 marks that with `"."`). Empty subtrees are never kept,
/// so structural equality is set equality.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// The set holding `paths`.
    pub fn from_paths<I: IntoIterator<Item = FieldPath>>(paths: I) -> FieldSet {
        let mut set = FieldSet::new();
        for p in paths {
            set.insert(&p.0);
        }
        set
    }

    /// The set of dotted field-name paths (`"spec"`, `"metadata.labels"`),
    /// handy for reset/ignored fields such as `status`.
    pub fn from_dotted(paths: &[&str]) -> FieldSet {
        FieldSet::from_paths(
            paths
                .iter()
                .map(|p| FieldPath(p.split('.').map(PathElement::field).collect())),
        )
    }

    /// Adds `path`; the empty path is ignored as upstream does.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path` is a member.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether the set has no members.
    pub fn is_empty(&self) -> bool {
        // Children are pruned when empty, so checking both is enough.
        self.members.is_empty() && self.children.is_empty()
    }

    /// The number of member paths.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(FieldSet::len).sum::<usize>()
    }

    /// The subtree under `pe`, if any.
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    /// The subtrees below this node, by path element.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    /// Whether `pe` is a member at this node (a one-element path).
    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    /// [`FieldSet::has_member`] of the field `name`, without building its
    /// element (fields sort first, by name).
    pub fn has_field_member(&self, name: &str) -> bool {
        find_field(self.members.iter().map(|pe| (pe, ())), name).is_some()
    }

    /// [`FieldSet::child`] of the field `name`, without building its element.
    pub fn field_child(&self, name: &str) -> Option<&FieldSet> {
        find_field(self.children.iter(), name)
    }

    /// Members of either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, set) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(set),
                None => set.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// Members of both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, set)| {
                let theirs = other.children.get(pe)?;
                let both = set.intersection(theirs);
                (!both.is_empty()).then(|| (pe.clone(), both))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Members of `self` that are not members of `other` (a member's
    /// children are kept even when the member itself is removed).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, set)| {
                let rest = match other.children.get(pe) {
                    Some(theirs) => set.difference(theirs),
                    None => set.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Like [`FieldSet::difference`], but a member of `other` also removes
    /// everything below it (upstream `RecursiveDifference`): excluding
    /// `status` drops `status.replicas` too.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, set)| {
                if other.members.contains(pe) {
                    return None;
                }
                let rest = match other.children.get(pe) {
                    Some(theirs) => set.recursive_difference(theirs),
                    None => set.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Members that have no children (upstream `Leaves`).
    pub fn leaves(&self) -> FieldSet {
        let members = self
            .members
            .iter()
            .filter(|pe| !self.children.contains_key(*pe))
            .cloned()
            .collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, set)| {
                let l = set.leaves();
                (!l.is_empty()).then(|| (pe.clone(), l))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Every member path, in upstream's `Iterate` order: at each node the
    /// members first, then each child's paths.
    pub fn paths(&self) -> Vec<FieldPath> {
        let mut out = Vec::with_capacity(self.len());
        let mut prefix = Vec::new();
        self.collect_paths(&mut prefix, &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<FieldPath>) {
        for pe in &self.members {
            let mut p = prefix.clone();
            p.push(pe.clone());
            out.push(FieldPath(p));
        }
        for (pe, set) in &self.children {
            prefix.push(pe.clone());
            set.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The FieldsV1 JSON value of this set.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.fields_v1_map(false))
    }

    pub(crate) fn fields_v1_map(&self, include_self: bool) -> Map<String, Value> {
        let mut m = Map::new();
        if include_self && !self.is_empty() {
            m.insert(".".to_string(), Value::Object(Map::new()));
        }
        for pe in &self.members {
            if !self.children.contains_key(pe) {
                m.insert(pe.serialize(), Value::Object(Map::new()));
            }
        }
        for (pe, set) in &self.children {
            let is_member = self.members.contains(pe);
            m.insert(pe.serialize(), Value::Object(set.fields_v1_map(is_member)));
        }
        m
    }

    /// The FieldsV1 text exactly as upstream writes it: compact, keys in
    /// path-element order (not string order), `"."` first.
    pub fn to_fields_v1_string(&self) -> String {
        let mut out = String::new();
        self.write_fields_v1(false, &mut out);
        out
    }

    fn write_fields_v1(&self, include_self: bool, out: &mut String) {
        out.push('{');
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !first {
                out.push(',');
            }
            first = false;
        };
        if include_self && !self.is_empty() {
            sep(out);
            out.push_str("\".\":{}");
        }
        // Members and children merged in path-element order, as upstream.
        let mut keys: Vec<&PathElement> = self.members.iter().collect();
        keys.extend(
            self.children
                .keys()
                .filter(|pe| !self.members.contains(*pe)),
        );
        keys.sort();
        for pe in keys {
            sep(out);
            out.push_str(&go_json_string(&pe.serialize()));
            out.push(':');
            match self.children.get(pe) {
                Some(set) => set.write_fields_v1(self.members.contains(pe), out),
                None => out.push_str("{}"),
            }
        }
        out.push('}');
    }

    /// Parses a FieldsV1 value. `null` is the empty set; anything but an
    /// object of objects is an error. Keys of unknown types are dropped.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, FieldManagerError> {
        match v {
            Value::Null => Ok(FieldSet::new()),
            Value::Object(_) => Ok(read_node(v, "")?.0.unwrap_or_default()),
            other => Err(fields_err(format!(
                "FieldsV1 must be a JSON object, got {}",
                json_kind(other)
            ))),
        }
    }

    /// Parses FieldsV1 text (trailing data is an error, as upstream).
    pub fn from_fields_v1_str(s: &str) -> Result<FieldSet, FieldManagerError> {
        let v: Value = serde_json::from_str(s)
            .map_err(|e| fields_err(format!("managedFields parsing: {e}")))?;
        FieldSet::from_fields_v1(&v)
    }
}

impl fmt::Display for FieldSet {
    /// One path per line, as upstream's `Set.String`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.paths().iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// Reads one FieldsV1 node: its subtree (None when it has no members or
/// children) and whether the node itself is a member. A node without
/// children is a member; one with children is a member only with `"."`.
fn read_node(v: &Value, at: &str) -> Result<(Option<FieldSet>, bool), FieldManagerError> {
    let obj = match v {
        // Upstream's reader accepts null where an object is expected.
        Value::Null => return Ok((None, true)),
        Value::Object(m) => m,
        other => {
            return Err(fields_err(format!(
                "expected a JSON object at {:?}, got {}",
                at,
                json_kind(other)
            )));
        }
    };
    let mut is_member = false;
    let mut set: Option<FieldSet> = None;
    for (key, child) in obj {
        if key == "." {
            is_member = true;
            continue;
        }
        let Some(pe) = PathElement::parse(key)? else {
            continue;
        };
        let (grand, child_member) = read_node(child, key)?;
        if child_member {
            set.get_or_insert_with(FieldSet::new)
                .members
                .insert(pe.clone());
        }
        if let Some(g) = grand {
            set.get_or_insert_with(FieldSet::new).children.insert(pe, g);
        }
    }
    if set.is_none() {
        is_member = true;
    }
    Ok((set, is_member))
}

fn fields_err(msg: impl Into<String>) -> FieldManagerError {
    FieldManagerError::FieldsV1(msg.into())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Go's unstructured JSON keeps integers that fit int64 as ints and
/// everything else as float64; the two kinds order and print differently.
fn is_int(n: &serde_json::Number) -> bool {
    n.is_i64()
}

fn kind_rank(v: &Value) -> u8 {
    match v {
        Value::Number(n) if is_int(n) => 1,
        Value::Number(_) => 0,
        Value::String(_) => 2,
        Value::Bool(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
        Value::Null => 6,
    }
}

/// Upstream `value.Compare`: a total order over JSON values (floats, ints,
/// strings, bools, lists, maps, null), numbers compared numerically.
pub(crate) fn value_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j), true, true) = (x.as_i64(), y.as_i64(), is_int(x), is_int(y)) {
                return i.cmp(&j);
            }
            let (fx, fy) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            fx.partial_cmp(&fy).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (i, j) in x.iter().zip(y.iter()) {
                let c = value_cmp(i, j);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            // serde_json maps iterate in key order, which is what upstream sorts by.
            for ((kx, vx), (ky, vy)) in x.iter().zip(y.iter()) {
                let c = kx.cmp(ky).then_with(|| value_cmp(vx, vy));
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => kind_rank(a).cmp(&kind_rank(b)),
    }
}

/// Upstream `value.Equals`: structural, but `1` equals `1.0`.
pub(crate) fn value_eq(a: &Value, b: &Value) -> bool {
    value_cmp(a, b) == Ordering::Equal
}

/// Compact JSON as Go's encoder writes it (HTML-escaped strings, sorted map
/// keys), used inside `k:` and `v:` keys.
pub(crate) fn go_json(v: &Value) -> String {
    match v {
        Value::String(s) => go_json_string(s),
        Value::Number(n) if is_int(n) => n.to_string(),
        Value::Number(n) => go_json_float(n.as_f64().unwrap_or(0.0)),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(go_json).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", go_json_string(k), go_json(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// encoding/json's float format: plain decimal, exponent form (`1e+21`,
/// `1e-7`) outside [1e-6, 1e21).
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

/// Go's `%v` of a float64: shortest digits, in exponent form when the decimal
/// exponent is below -4 or at least 6 (Go's threshold for shortest `%g`), so
/// `1e+06` but `123456`.
fn go_float_v(f: f64) -> String {
    let s = format!("{f:e}");
    let Some((mantissa, exp)) = s.split_once('e') else {
        return s;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// Upstream `value.ToString`, used when displaying key and value elements.
fn value_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Number(n) if is_int(n) => n.to_string(),
        Value::Number(n) => go_float_v(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => go_quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(value_to_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", value_to_string(v)))
            .collect::<Vec<_>>()
            .join(""),
    }
}

/// The FieldsV1 key of the field `name` (`f:name`): the most frequent key
/// by far, and `format!` costs more than the copy.
pub(crate) fn field_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len() + 2);
    key.push_str("f:");
    key.push_str(name);
    key
}

/// The item of the field element `name` among items sorted by element.
fn find_field<'a, T>(sorted: impl Iterator<Item = (&'a PathElement, T)>, name: &str) -> Option<T> {
    for (pe, item) in sorted {
        let PathElement::Field(field) = pe else {
            return None;
        };
        match field.as_str().cmp(name) {
            Ordering::Less => continue,
            Ordering::Equal => return Some(item),
            Ordering::Greater => return None,
        }
    }
    None
}
