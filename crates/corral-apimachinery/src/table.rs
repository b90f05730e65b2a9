//! Server-side printing: `meta.k8s.io/v1` `Table` objects as kube-apiserver
//! returns them for `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`,
//! and upstream's `HumanDuration` used by AGE-like columns.

use crate::util::{get, get_str, parse_time};
use serde_json::{Map, Value, json};
use std::time::Duration;
use time::OffsetDateTime;

/// One column definition (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Title as upstream spells it ("Name", "Status", "Age"; kubectl upper-cases it).
    pub name: &'static str,
    /// OpenAPI type: "string", "integer", "date", ...
    pub type_: &'static str,
    /// "name" for the column holding the object's name, else "".
    pub format: &'static str,
    pub description: &'static str,
    /// 0 = always shown; 1 = only with `-o wide`.
    pub priority: i32,
}

/// What each row's `object` holds (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// From the `includeObject` query value ("None", "Metadata", "Object");
    /// `None` for anything else (upstream answers 400).
    pub fn parse(s: &str) -> Option<IncludeObject> {
        match s {
            "None" => Some(IncludeObject::None),
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// `metav1.ObjectMeta` swagger doc for `name`, used by NAME columns.
pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// `metav1.ObjectMeta` swagger doc for `creationTimestamp`, used by AGE columns.
pub const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The NAME column every printer starts with.
pub const NAME_COLUMN: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: NAME_DESCRIPTION,
    priority: 0,
};

/// The AGE column (human duration since `creationTimestamp`).
pub const AGE_COLUMN: Column = Column {
    name: "Age",
    type_: "string",
    format: "",
    description: CREATION_TIMESTAMP_DESCRIPTION,
    priority: 0,
};

/// Key of the placeholder cell produced by [`since_cell`].
const SINCE_KEY: &str = "$corralSince";

/// A cell showing the human duration from `timestamp` to the table's `now`
/// (resolved by [`build_table`]); "<unknown>" when absent or unparsable,
/// as upstream's `translateTimestampSince`.
pub fn since_cell(timestamp: Option<&str>) -> Value {
    match timestamp {
        Some(ts) if parse_time(ts).is_some() => json!({ SINCE_KEY: ts }),
        _ => Value::from("<unknown>"),
    }
}

/// Upstream `duration.HumanDuration`: "0s", "59s", "119s", "5m3s", "10m",
/// "3h4m", "10h", "2d5h", "8d", "2y100d", "9y".
pub fn human_duration(d: Duration) -> String {
    human_duration_nanos(d.as_nanos().min(i128::MAX as u128) as i128)
}

/// HumanDuration for a signed duration in nanoseconds: less than -1s is
/// "<invalid>", -1s..0 is "0s".
pub fn human_duration_nanos(nanos: i128) -> String {
    const SEC: i128 = 1_000_000_000;
    const MIN: i128 = 60 * SEC;
    const HOUR: i128 = 60 * MIN;
    let seconds = nanos / SEC;
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = nanos / MIN;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = nanos / HOUR;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{}h", hours / 24, h)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{}d", hours / 24 / 365, dy)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Human duration from an RFC 3339 timestamp to `now`; "<unknown>" when
/// the timestamp is absent or unparsable.
pub fn age(timestamp: Option<&str>, now: OffsetDateTime) -> String {
    match timestamp.and_then(parse_time) {
        Some(t) => human_duration_nanos((now - t).whole_nanoseconds()),
        None => "<unknown>".into(),
    }
}

fn resolve_cell(cell: Value, now: OffsetDateTime) -> Value {
    if let Value::Object(m) = &cell
        && m.len() == 1
        && let Some(Value::String(ts)) = m.get(SINCE_KEY)
    {
        return Value::from(age(Some(ts), now));
    }
    cell
}

fn column_json(c: &Column) -> Value {
    json!({
        "name": c.name,
        "type": c.type_,
        "format": c.format,
        "description": c.description,
        "priority": c.priority,
    })
}

/// Builds a `meta.k8s.io/v1` `Table`.
///
/// Normally `columns` are the type's own columns and each row's cells the
/// matching values: the table gets NAME first (from `metadata.name`), then
/// those, then AGE (from `metadata.creationTimestamp`). When `columns`
/// already contains a column of format "name" (printers with their own
/// layout, like Events or Roles), `columns` and the cells are used as given.
/// Cells made with [`since_cell`] become human durations relative to `now`.
///
/// Each row's `object` is a `PartialObjectMetadata` (`Metadata`), the whole
/// object (`Object`) or null (`None`). The table's `metadata` is `{}` for
/// the caller to fill (`resourceVersion`, `continue`).
pub fn build_table(
    columns: &[Column],
    rows: Vec<(Value, Vec<Value>)>,
    include_object: IncludeObject,
    now: OffsetDateTime,
) -> Value {
    let explicit = columns.iter().any(|c| c.format == "name");
    let mut defs: Vec<Value> = Vec::with_capacity(columns.len() + 2);
    if !explicit {
        defs.push(column_json(&NAME_COLUMN));
    }
    defs.extend(columns.iter().map(column_json));
    if !explicit {
        defs.push(column_json(&AGE_COLUMN));
    }
    let out_rows: Vec<Value> = rows
        .into_iter()
        .map(|(obj, cells)| {
            let mut out_cells = Vec::with_capacity(cells.len() + 2);
            if !explicit {
                out_cells.push(Value::from(
                    get_str(&obj, &["metadata", "name"]).unwrap_or(""),
                ));
            }
            out_cells.extend(cells.into_iter().map(|c| resolve_cell(c, now)));
            if !explicit {
                out_cells.push(Value::from(age(
                    get_str(&obj, &["metadata", "creationTimestamp"]),
                    now,
                )));
            }
            let object = match include_object {
                IncludeObject::None => Value::Null,
                IncludeObject::Object => obj,
                IncludeObject::Metadata => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": get(&obj, &["metadata"]).cloned().unwrap_or_else(|| Value::Object(Map::new())),
                }),
            };
            json!({ "cells": out_cells, "object": object })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": defs,
        "rows": out_rows,
    })
}
