//! Conversion between core/v1 `Event` and events.k8s.io/v1 `Event`: the
//! same stored objects in two representations, as upstream's
//! `Convert_v1_Event_To_core_Event` / `Convert_core_Event_To_v1_Event`.
//!
//! Both outputs have the shape Go's serializer gives them: fields without
//! `omitempty` are always present (`eventTime`, timestamps as null when
//! unset; `involvedObject`/`regarding` and `source`/`deprecatedSource` as
//! objects; core's `reportingComponent`/`reportingInstance` as strings),
//! `omitempty` fields only when non-empty. Unknown fields are dropped.

use crate::util::is_zero;
use serde_json::{Map, Value};

/// Renamed fields: (core/v1 name, events.k8s.io/v1 name).
const RENAMED: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

/// Fields with the same name in both.
const SHARED: &[&str] = &[
    "metadata",
    "eventTime",
    "series",
    "reportingInstance",
    "action",
    "reason",
    "related",
    "type",
];

/// What a representation always emits (Go fields without `omitempty`, or
/// struct fields that `omitempty` never drops), with the zero to emit.
enum Always {
    Null,
    Object,
    Str,
}

const CORE_ALWAYS: &[(&str, Always)] = &[
    ("metadata", Always::Object),
    ("involvedObject", Always::Object),
    ("source", Always::Object),
    ("firstTimestamp", Always::Null),
    ("lastTimestamp", Always::Null),
    ("eventTime", Always::Null),
    ("reportingComponent", Always::Str),
    ("reportingInstance", Always::Str),
];

const V1_ALWAYS: &[(&str, Always)] = &[
    ("metadata", Always::Object),
    ("eventTime", Always::Null),
    ("regarding", Always::Object),
    ("deprecatedSource", Always::Object),
    ("deprecatedFirstTimestamp", Always::Null),
    ("deprecatedLastTimestamp", Always::Null),
];

fn convert(v: &Value, api_version: &str, from_core: bool, always: &[(&str, Always)]) -> Value {
    let src = v.as_object();
    let mut out = Map::new();
    out.insert("kind".into(), Value::from("Event"));
    out.insert("apiVersion".into(), Value::from(api_version));
    let mut put = |to: &str, value: Option<&Value>| {
        if let Some(value) = value
            && !is_zero(Some(value))
        {
            out.insert(to.to_string(), value.clone());
        }
    };
    for key in SHARED {
        put(key, src.and_then(|m| m.get(*key)));
    }
    for (core, v1) in RENAMED {
        let (from, to) = if from_core { (core, v1) } else { (v1, core) };
        put(to, src.and_then(|m| m.get(*from)));
    }
    for (key, zero) in always {
        out.entry(key.to_string()).or_insert_with(|| match zero {
            Always::Null => Value::Null,
            Always::Object => Value::Object(Map::new()),
            Always::Str => Value::from(""),
        });
    }
    Value::Object(out)
}

/// core/v1 → events.k8s.io/v1.
pub fn core_to_events_v1(v: &Value) -> Value {
    convert(v, "events.k8s.io/v1", true, V1_ALWAYS)
}

/// events.k8s.io/v1 → core/v1 (the stored form).
pub fn events_v1_to_core(v: &Value) -> Value {
    convert(v, "v1", false, CORE_ALWAYS)
}

/// Whether `v` is in the events.k8s.io representation (by `apiVersion`).
pub fn is_events_v1(v: &Value) -> bool {
    v.get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|a| a.starts_with("events.k8s.io/"))
}

/// The core/v1 form of an Event given in either representation.
pub fn to_core(v: &Value) -> Value {
    if is_events_v1(v) {
        events_v1_to_core(v)
    } else {
        v.clone()
    }
}
