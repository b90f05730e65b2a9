//! The typed CRD view, printer columns (table cells), JSONPath and the
//! scale subresource.

mod crd_support;

use corral_apimachinery::crd::{
    CrdInfo, JsonPath, PrinterColumn, ScaleSpec, column_definitions, row_cells, validate,
};
use crd_support::{crontab, messages, set};
use serde_json::{Value, json};

fn cron_object() -> Value {
    json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "my-new-cron-object", "namespace": "default", "creationTimestamp": "2024-05-01T10:00:00Z"},
        "spec": {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image", "replicas": 3},
        "status": {"replicas": 2, "labelSelector": "app=cron"}
    })
}

#[test]
fn crd_info_from_crontab() {
    let info = CrdInfo::from_crd(&crontab()).expect("valid");
    assert_eq!(
        (
            info.group.as_str(),
            info.plural.as_str(),
            info.singular.as_str(),
            info.kind.as_str()
        ),
        ("stable.example.com", "crontabs", "crontab", "CronTab")
    );
    assert_eq!(info.short_names, vec!["ct"]);
    assert!(info.namespaced);
    assert_eq!(info.crd_name(), "crontabs.stable.example.com");
    let v1 = info.version("v1").expect("v1");
    assert!(v1.served && v1.storage && v1.status_subresource);
    assert_eq!(info.storage_version().map(|v| v.name.as_str()), Some("v1"));
    let scale = v1.scale.as_ref().expect("scale");
    assert_eq!(scale.spec_replicas_path, ".spec.replicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.labelSelector")
    );
    let names: Vec<&str> = v1.printer_columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["Spec", "Replicas", "Age"]);
    let schema = v1.schema.as_ref().expect("schema");
    assert!(validate(schema, &cron_object()).is_empty());
}

#[test]
fn crd_info_per_version_parts() {
    let mut crd = crontab();
    let mut v2 = crd["spec"]["versions"][0].clone();
    v2["name"] = json!("v2");
    v2["storage"] = json!(false);
    v2["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["extra"] =
        json!({"type": "boolean"});
    v2.as_object_mut()
        .expect("object")
        .remove("additionalPrinterColumns");
    v2.as_object_mut().expect("object").remove("subresources");
    set(&mut crd, "/spec/versions/1", v2);
    let info = CrdInfo::from_crd(&crd).expect("valid");
    let (v1, v2) = (&info.versions[0], &info.versions[1]);
    assert!(v1.status_subresource && v1.scale.is_some());
    assert!(!v2.status_subresource && v2.scale.is_none());
    assert!(
        v2.schema.as_ref().expect("v2 schema").properties["spec"]
            .properties
            .contains_key("extra")
    );
    assert!(
        !v1.schema.as_ref().expect("v1 schema").properties["spec"]
            .properties
            .contains_key("extra")
    );
    // No columns declared: upstream serves AGE.
    assert_eq!(v2.printer_columns, vec![PrinterColumn::default_age()]);
}

#[test]
fn crd_info_reports_schema_errors() {
    let mut crd = crontab();
    set(
        &mut crd,
        "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/image",
        json!({}),
    );
    let errs = CrdInfo::from_crd(&crd).expect_err("not structural");
    assert_eq!(
        messages(&errs),
        vec![
            "spec.validation.openAPIV3Schema.properties[spec].properties[image].type: Required value: must not be empty for specified object fields"
        ]
    );
}

#[test]
fn crontab_table() {
    let info = CrdInfo::from_crd(&crontab()).expect("valid");
    let cols = &info.versions[0].printer_columns;
    let defs = column_definitions(cols);
    let names: Vec<&str> = defs
        .iter()
        .map(|d| d["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["Name", "Spec", "Replicas", "Age"]);
    assert_eq!(defs[0]["format"], "name");
    assert_eq!(
        defs[1]["description"],
        "The cron spec defining the interval a CronJob is run"
    );
    assert_eq!(
        defs[3]["description"],
        "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp"
    );
    assert_eq!(
        row_cells(cols, &cron_object()),
        vec![
            json!("my-new-cron-object"),
            json!("* * * * */5"),
            json!(3),
            json!("2024-05-01T10:00:00Z")
        ]
    );
    let mut sparse = cron_object();
    sparse["spec"] = json!({});
    sparse["metadata"]["creationTimestamp"] = json!("yesterday");
    assert_eq!(
        row_cells(cols, &sparse),
        vec![
            json!("my-new-cron-object"),
            Value::Null,
            Value::Null,
            json!("<invalid>")
        ]
    );
}

fn column(type_: &str, path: &str) -> PrinterColumn {
    PrinterColumn::from_value(&json!({"name": "C", "type": type_, "jsonPath": path}))
}

#[test]
fn cell_formatting_by_type() {
    let obj = json!({"spec": {
        "n": 3, "f": 2.75, "big": 1e21, "b": true, "s": "x", "null": null,
        "obj": {"b": 1, "a": "<"}, "list": [1, "two"], "items": [{"name": "first"}, {"name": "second"}]
    }, "metadata": {"labels": {"app": "web", "app.kubernetes.io/name": "n"}}});
    let cases = [
        (column("string", ".spec.s"), json!("x")),
        (column("string", ".spec.n"), json!("3")),
        (column("string", ".spec.f"), json!("2.75")),
        (column("string", ".spec.big"), json!("1e+21")),
        (column("string", ".spec.b"), json!("true")),
        (column("string", ".spec.null"), json!("<no value>")),
        (
            column("string", ".spec.obj"),
            json!("{\"a\":\"\\u003c\",\"b\":1}"),
        ),
        (column("string", ".spec.list"), json!("[1,\"two\"]")),
        (column("string", ".spec.items[1].name"), json!("second")),
        (column("string", "{.spec.items[*].name}"), json!("first")),
        (column("string", ".metadata.labels.app"), json!("web")),
        (
            column("string", ".metadata.labels['app.kubernetes.io/name']"),
            json!("n"),
        ),
        (column("string", ".spec.missing"), Value::Null),
        (column("integer", ".spec.n"), json!(3)),
        (column("integer", ".spec.f"), json!(2)),
        (column("integer", ".spec.s"), Value::Null),
        (column("number", ".spec.f"), json!(2.75)),
        (column("number", ".spec.n"), json!(3)),
        (column("boolean", ".spec.b"), json!(true)),
        (column("boolean", ".spec.s"), Value::Null),
        (column("date", ".spec.s"), json!("<invalid>")),
        (column("date", ".spec.missing"), Value::Null),
    ];
    for (col, want) in cases {
        assert_eq!(col.cell(&obj), want, "{} {}", col.type_, col.json_path);
    }
}

#[test]
fn json_paths() {
    let obj = cron_object();
    let p = JsonPath::parse(".spec.replicas").expect("parses");
    assert_eq!(p.first(&obj), Some(&json!(3)));
    assert_eq!(p.field_names(), Some(vec!["spec", "replicas"]));
    assert_eq!(
        JsonPath::parse(".items[0]").expect("parses").field_names(),
        None
    );
    assert!(JsonPath::parse("spec.replicas").is_err());
    assert_eq!(
        JsonPath::parse("{.status.labelSelector}")
            .expect("parses")
            .first(&obj),
        Some(&json!("app=cron"))
    );
}

#[test]
fn scale_subresource() {
    let scale = ScaleSpec::from_value(&json!({
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.labelSelector"
    }));
    let mut obj = cron_object();
    assert_eq!(scale.read(&obj), Ok((3, 2, "app=cron".to_string())));
    scale.set_spec_replicas(&mut obj, 5).expect("set");
    assert_eq!(obj["spec"]["replicas"], 5);
    assert_eq!(scale.read(&json!({})), Ok((0, 0, String::new())));
    let mut empty = json!({});
    scale
        .set_spec_replicas(&mut empty, 1)
        .expect("creates parents");
    assert_eq!(empty, json!({"spec": {"replicas": 1}}));
    assert!(scale.validate_spec(&obj).is_empty());
    assert!(scale.validate_status(&obj).is_empty());

    let cases = [
        (
            json!({"spec": {"replicas": "3"}}),
            vec![
                ".spec.replicas: Invalid value: 0: .spec.replicas accessor error: 3 is of the type string, expected int64",
            ],
        ),
        (
            json!({"spec": {"replicas": -1}}),
            vec![".spec.replicas: Invalid value: -1: should be a non-negative integer"],
        ),
        (
            json!({"spec": {"replicas": 2147483648_i64}}),
            vec![
                ".spec.replicas: Invalid value: 2147483648: should be less than or equal to 2147483647",
            ],
        ),
        (
            json!({"spec": "x"}),
            vec![
                ".spec.replicas: Invalid value: 0: .spec.replicas accessor error: x is of the type string, expected map[string]interface{}",
            ],
        ),
    ];
    for (obj, want) in cases {
        assert_eq!(messages(&scale.validate_spec(&obj)), want, "{obj}");
    }
    assert_eq!(
        messages(
            &scale.validate_status(
                &json!({"status": {"replicas": 1.5, "labelSelector": {"a": "b"}}})
            )
        ),
        vec![
            ".status.replicas: Invalid value: 0: .status.replicas accessor error: 1.5 is of the type float64, expected int64",
            ".status.labelSelector: Invalid value: \"\": .status.labelSelector accessor error: map[a:b] is of the type map[string]interface {}, expected string",
        ]
    );
}
