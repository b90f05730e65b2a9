//! `additionalPrinterColumns`: the column definitions and cells of the
//! `Table` kube-apiserver serves for custom resources (upstream
//! `customresource/tableconvertor`).

use super::jsonpath::JsonPath;
use super::render::{go_float, go_json};
use crate::table::{CREATION_TIMESTAMP_DESCRIPTION, NAME_DESCRIPTION};
use crate::util::parse_time;
use serde_json::{Value, json};

/// One printer column of a CRD version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    /// "integer", "number", "string", "boolean" or "date".
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
    /// A simple JSONPath such as `.spec.replicas`.
    pub json_path: String,
}

impl PrinterColumn {
    /// Reads one `additionalPrinterColumns` entry (missing fields empty).
    pub fn from_value(v: &Value) -> PrinterColumn {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        PrinterColumn {
            name: s("name"),
            type_: s("type"),
            format: s("format"),
            description: s("description"),
            priority: v
                .get("priority")
                .and_then(Value::as_i64)
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or(0),
            json_path: s("jsonPath"),
        }
    }

    /// The column upstream serves when a version declares none: AGE from
    /// `.metadata.creationTimestamp`.
    pub fn default_age() -> PrinterColumn {
        PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: CREATION_TIMESTAMP_DESCRIPTION.into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }
    }

    /// The `metav1.TableColumnDefinition` JSON; a missing description is
    /// upstream's "Custom resource definition column (in JSONPath format): ...".
    pub fn definition(&self) -> Value {
        let description = if self.description.is_empty() {
            format!(
                "Custom resource definition column (in JSONPath format): {}",
                self.json_path
            )
        } else {
            self.description.clone()
        };
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": description,
            "priority": self.priority,
        })
    }

    /// The cell for `obj`, formatted as upstream's table convertor does:
    /// - `string`: strings as is, maps/lists as compact JSON, other scalars
    ///   as Go prints them, JSON null as `<no value>`;
    /// - `integer` / `number` / `boolean`: the value when of that kind
    ///   (floats truncate for `integer`), else null;
    /// - `date`: the raw timestamp (the server renders it as an age),
    ///   `<invalid>` when unparsable, `<unknown>` for "" or "null".
    ///
    /// Null when the path selects nothing or does not parse.
    pub fn cell(&self, obj: &Value) -> Value {
        let Ok(path) = JsonPath::parse(&self.json_path) else {
            return Value::Null;
        };
        let Some(v) = path.first(obj) else {
            return Value::Null;
        };
        if self.type_ == "string" {
            return Value::from(match v {
                Value::String(s) => s.clone(),
                Value::Null => "<no value>".to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => i.to_string(),
                    None => go_float(n.as_f64().unwrap_or(0.0)),
                },
                other => go_json(other),
            });
        }
        match (self.type_.as_str(), v) {
            ("integer", Value::Number(n)) => match n.as_i64() {
                Some(i) => Value::from(i),
                None => Value::from(n.as_f64().unwrap_or(0.0).trunc() as i64),
            },
            // An integer stays an integer: Go encodes float64(3) as `3` too.
            ("number", Value::Number(_)) => v.clone(),
            ("boolean", Value::Bool(_)) => v.clone(),
            ("date", Value::String(s)) => {
                if s.is_empty() || s == "null" {
                    Value::from("<unknown>")
                } else if parse_time(s).is_some() {
                    v.clone()
                } else {
                    Value::from("<invalid>")
                }
            }
            _ => Value::Null,
        }
    }
}

/// The table's column definitions: NAME, then `columns`.
pub fn column_definitions(columns: &[PrinterColumn]) -> Vec<Value> {
    let mut out = vec![json!({
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": NAME_DESCRIPTION,
        "priority": 0,
    })];
    out.extend(columns.iter().map(PrinterColumn::definition));
    out
}

/// One row's cells for `obj`: its name, then one cell per column.
pub fn row_cells(columns: &[PrinterColumn], obj: &Value) -> Vec<Value> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut cells = vec![Value::from(name)];
    cells.extend(columns.iter().map(|c| c.cell(obj)));
    cells
}
