//! HumanDuration and Table building.

use corral_apimachinery::table::{
    AGE_COLUMN, Column, IncludeObject, NAME_COLUMN, build_table, human_duration,
    human_duration_nanos, since_cell,
};
use serde_json::json;
use std::time::Duration;
use time::macros::datetime;

#[test]
fn human_duration_cases() {
    const S: u64 = 1;
    const M: u64 = 60;
    const H: u64 = 3600;
    const D: u64 = 24 * H;
    // upstream duration_test.go plus the thresholds
    let cases: &[(u64, &str)] = &[
        (0, "0s"),
        (S, "1s"),
        (59 * S, "59s"),
        (70 * S, "70s"),
        (119 * S, "119s"),
        (2 * M, "2m"),
        (190 * S, "3m10s"),
        (5 * M + 3, "5m3s"),
        (9 * M + 59, "9m59s"),
        (10 * M, "10m"),
        (10 * M + 59, "10m"),
        (70 * M, "70m"),
        (179 * M, "179m"),
        (3 * H, "3h"),
        (3 * H + 4 * M, "3h4m"),
        (7 * H + 59 * M, "7h59m"),
        (8 * H, "8h"),
        (47 * H, "47h"),
        (48 * H, "2d"),
        (49 * H, "2d1h"),
        (2 * D + 5 * H, "2d5h"),
        (8 * D, "8d"),
        (8 * D + 2 * H, "8d"),
        (367 * D + 2 * H, "367d"),
        (365 * 2 * D + 25 * H, "2y1d"),
        (730 * D + 100 * D, "2y100d"),
        (365 * 3 * D, "3y"),
        (365 * 8 * D + 2 * H, "8y"),
        (365 * 9 * D, "9y"),
    ];
    for (secs, want) in cases {
        assert_eq!(human_duration(Duration::from_secs(*secs)), *want, "{secs}s");
    }
    assert_eq!(human_duration(Duration::from_millis(1999)), "1s");
    let ns = 1_000_000_000i128;
    assert_eq!(human_duration_nanos(-ns), "0s");
    assert_eq!(human_duration_nanos(-(ns * 3 / 2)), "0s");
    assert_eq!(human_duration_nanos(-2 * ns), "<invalid>");
}

#[test]
fn default_layout_with_metadata() {
    const STATUS: Column = Column {
        name: "Status",
        type_: "string",
        format: "",
        description: "The status",
        priority: 0,
    };
    let obj = json!({"kind": "Namespace", "apiVersion": "v1",
        "metadata": {"name": "ns", "creationTimestamp": "2024-01-01T00:00:00Z", "uid": "u"},
        "status": {"phase": "Active"}});
    let now = datetime!(2024-01-01 00:05:03 UTC);
    let table = build_table(
        &[STATUS],
        vec![(obj.clone(), vec![json!("Active")])],
        IncludeObject::Metadata,
        now,
    );
    assert_eq!(
        table,
        json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {},
            "columnDefinitions": [
                {"name": "Name", "type": "string", "format": "name", "description": NAME_COLUMN.description, "priority": 0},
                {"name": "Status", "type": "string", "format": "", "description": "The status", "priority": 0},
                {"name": "Age", "type": "string", "format": "", "description": AGE_COLUMN.description, "priority": 0}
            ],
            "rows": [{
                "cells": ["ns", "Active", "5m3s"],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": {"name": "ns", "creationTimestamp": "2024-01-01T00:00:00Z", "uid": "u"}}
            }]
        })
    );
    let full = build_table(
        &[STATUS],
        vec![(obj.clone(), vec![json!("Active")])],
        IncludeObject::Object,
        now,
    );
    assert_eq!(full["rows"][0]["object"], obj);
    let empty = build_table(&[STATUS], vec![], IncludeObject::None, now);
    assert_eq!(empty["rows"], json!([]));
}

#[test]
fn explicit_layout_and_since_cells() {
    let cols = [
        Column {
            name: "Last Seen",
            type_: "string",
            format: "",
            description: "",
            priority: 0,
        },
        Column {
            name: "Name",
            type_: "string",
            format: "name",
            description: "",
            priority: 1,
        },
    ];
    let now = datetime!(2024-01-01 01:00:00 UTC);
    let rows = vec![
        (
            json!({}),
            vec![since_cell(Some("2024-01-01T00:59:00.123456Z")), json!("a")],
        ),
        (json!({}), vec![since_cell(None), json!("b")]),
        (json!({}), vec![since_cell(Some("garbage")), json!("c")]),
        (
            json!({}),
            vec![since_cell(Some("2024-01-01T01:00:05Z")), json!("d")],
        ),
    ];
    let table = build_table(&cols, rows, IncludeObject::None, now);
    let names: Vec<_> = table["columnDefinitions"]
        .as_array()
        .expect("cols")
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Last Seen"), json!("Name")]);
    let cells: Vec<_> = table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["cells"].clone())
        .collect();
    assert_eq!(
        cells,
        vec![
            json!(["59s", "a"]),
            json!(["<unknown>", "b"]),
            json!(["<unknown>", "c"]),
            json!(["<invalid>", "d"])
        ]
    );
    assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
    assert_eq!(IncludeObject::parse(""), Some(IncludeObject::Metadata));
    assert_eq!(IncludeObject::parse("None"), Some(IncludeObject::None));
    assert_eq!(IncludeObject::parse("All"), None);
}
