//! core/v1 Event and events.k8s.io/v1 Event (same stored objects; the
//! server keeps the core/v1 form). Validation follows upstream's
//! `ValidateEventCreate` / `ValidateEventUpdate`, which run on the core form
//! with the request's API version deciding how strict they are.

use super::{TypeRules, meta_field_value, wide};
use crate::events::to_core;
use crate::table::{Column, NAME_DESCRIPTION, since_cell};
use crate::util::{get, get_i64, get_str, is_zero, parse_time, str_or_empty};
use crate::validation::{
    FIELD_IMMUTABLE, FieldError, NameRule, immutable, is_dns1123_subdomain, is_qualified_name,
};
use serde_json::Value;

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

/// Which API an event is validated for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    CoreV1,
    EventsV1,
}

/// upstream `legacyValidateEvent` on the core form.
fn legacy_validate(ev: &Value, api: Api) -> Vec<FieldError> {
    let mut out = Vec::new();
    let rc_field = if api == Api::CoreV1 {
        "reportingComponent"
    } else {
        "reportingController"
    };
    let namespace = str_or_empty(ev, &["metadata", "namespace"]);
    let involved_ns = str_or_empty(ev, &["involvedObject", "namespace"]);
    let mismatch = || {
        FieldError::invalid(
            "involvedObject.namespace",
            involved_ns,
            "does not match event.namespace",
        )
    };
    if is_zero(get(ev, &["eventTime"])) {
        if involved_ns.is_empty() {
            if !namespace.is_empty() && namespace != "default" {
                out.push(mismatch());
            }
        } else if namespace != involved_ns {
            out.push(mismatch());
        }
    } else {
        if involved_ns.is_empty() && namespace != "default" && namespace != "kube-system" {
            out.push(mismatch());
        }
        let rc = str_or_empty(ev, &["reportingComponent"]);
        if rc.is_empty() {
            out.push(FieldError::required(rc_field, ""));
        }
        for msg in is_qualified_name(rc) {
            out.push(FieldError::invalid(rc_field, rc, msg));
        }
        let checks: [(&str, &str, usize, bool); 4] = [
            (
                "reportingInstance",
                "reportingInstance",
                REPORTING_INSTANCE_LIMIT,
                true,
            ),
            ("action", "action", ACTION_LIMIT, true),
            ("reason", "reason", REASON_LIMIT, true),
            ("message", "message", NOTE_LIMIT, false),
        ];
        for (key, path, limit, required) in checks {
            let v = str_or_empty(ev, &[key]);
            if required && v.is_empty() {
                out.push(FieldError::required(path, ""));
            }
            if v.len() > limit {
                out.push(FieldError::invalid(
                    path,
                    "",
                    format!("can have at most {limit} characters"),
                ));
            }
        }
    }
    for msg in is_dns1123_subdomain(namespace) {
        out.push(FieldError::invalid("namespace", namespace, msg));
    }
    out
}

/// upstream `validateV1EventSeries`.
fn validate_series(ev: &Value, out: &mut Vec<FieldError>) {
    let Some(series) = get(ev, &["series"]).filter(|s| !s.is_null()) else {
        return;
    };
    if get_i64(series, &["count"]).unwrap_or(0) < 2 {
        out.push(FieldError::invalid(
            "series.count",
            "",
            "should be at least 2",
        ));
    }
    if is_zero(get(series, &["lastObservedTime"])) {
        out.push(FieldError::required("series.lastObservedTime", ""));
    }
}

/// Strict create-time rules for events.k8s.io/v1 (metadata is validated
/// separately by the server).
fn strict_validate_create(ev: &Value, out: &mut Vec<FieldError>) {
    validate_series(ev, out);
    if is_zero(get(ev, &["eventTime"])) {
        out.push(FieldError::required("eventTime", ""));
    }
    let ty = str_or_empty(ev, &["type"]);
    if ty != "Normal" && ty != "Warning" {
        out.push(FieldError::invalid(
            "type",
            "",
            format!("has invalid value: {ty}"),
        ));
    }
    for key in ["firstTimestamp", "lastTimestamp", "count"] {
        if !is_zero(get(ev, &[key])) {
            out.push(FieldError::invalid(key, "", "needs to be unset"));
        }
    }
    let source_set = !str_or_empty(ev, &["source", "component"]).is_empty()
        || !str_or_empty(ev, &["source", "host"]).is_empty();
    if source_set {
        out.push(FieldError::invalid("source", "", "needs to be unset"));
    }
}

/// Whether two MicroTimes differ beyond microsecond precision.
fn micro_time_changed(new: Option<&Value>, old: Option<&Value>) -> bool {
    let t = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(parse_time)
            .map(|t| t.unix_timestamp_nanos() / 1000)
    };
    match (t(new), t(old)) {
        (Some(a), Some(b)) => a != b,
        _ => !(is_zero(new) && is_zero(old)) && new != old,
    }
}

/// Strict update-time rules for events.k8s.io/v1: most fields immutable.
fn strict_validate_update(new: &Value, old: &Value, out: &mut Vec<FieldError>) {
    let series_changed = {
        let (n, o) = (get(new, &["series"]), get(old, &["series"]));
        !(is_zero(n) && is_zero(o)) && n != o
    };
    if series_changed {
        validate_series(new, out);
    }
    for (key, path) in [
        ("involvedObject", "involvedObject"),
        ("reason", "reason"),
        ("message", "message"),
        ("source", "source"),
        ("firstTimestamp", "firstTimestamp"),
        ("lastTimestamp", "lastTimestamp"),
        ("count", "count"),
        ("type", "type"),
    ] {
        immutable(get(new, &[key]), get(old, &[key]), path, out);
    }
    if micro_time_changed(get(new, &["eventTime"]), get(old, &["eventTime"])) {
        out.push(FieldError::invalid(
            "eventTime",
            get(new, &["eventTime"]).cloned().unwrap_or(Value::Null),
            FIELD_IMMUTABLE,
        ));
    }
    for (key, path) in [
        ("action", "action"),
        ("related", "related"),
        ("reportingComponent", "reportingController"),
        ("reportingInstance", "reportingInstance"),
    ] {
        immutable(get(new, &[key]), get(old, &[key]), path, out);
    }
}

/// Field-selector value of a core-form event (upstream `ToSelectableFields`).
fn core_field_value(ev: &Value, field: &str) -> Option<String> {
    let s = |path: &[&str]| Some(str_or_empty(ev, path).to_string());
    match field {
        "involvedObject.kind" => s(&["involvedObject", "kind"]),
        "involvedObject.namespace" => s(&["involvedObject", "namespace"]),
        "involvedObject.name" => s(&["involvedObject", "name"]),
        "involvedObject.uid" => s(&["involvedObject", "uid"]),
        "involvedObject.apiVersion" => s(&["involvedObject", "apiVersion"]),
        "involvedObject.resourceVersion" => s(&["involvedObject", "resourceVersion"]),
        "involvedObject.fieldPath" => s(&["involvedObject", "fieldPath"]),
        "reason" => s(&["reason"]),
        "reportingComponent" => s(&["reportingComponent"]),
        "type" => s(&["type"]),
        "source" => {
            let component = str_or_empty(ev, &["source", "component"]);
            if component.is_empty() {
                s(&["reportingComponent"])
            } else {
                Some(component.to_string())
            }
        }
        _ => meta_field_value(ev, field),
    }
}

const EVENT_COLUMNS: &[Column] = &[
    wide_0(
        "Last Seen",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    wide_0(
        "Type",
        "Type of this event (Normal, Warning), new types could be added in the future",
    ),
    wide_0(
        "Reason",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    wide_0("Object", "The object that this event is about."),
    wide(
        "Subobject",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.",
    ),
    wide(
        "Source",
        "The component reporting this event. Should be a short machine understandable string.",
    ),
    wide_0(
        "Message",
        "A human-readable description of the status of this operation.",
    ),
    wide(
        "First Seen",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    wide("Count", "The number of times this event has occurred."),
    Column {
        name: "Name",
        type_: "string",
        format: "name",
        description: NAME_DESCRIPTION,
        priority: 1,
    },
];

const fn wide_0(name: &'static str, description: &'static str) -> Column {
    super::col(name, description)
}

fn non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

/// Upstream `printEvent` with `Wide: true`, on the core form.
fn event_cells(ev: &Value) -> Vec<Value> {
    let ts = |path: &[&str]| get_str(ev, path).filter(|s| !s.is_empty());
    let first_seen = match ts(&["firstTimestamp"]) {
        Some(t) => since_cell(Some(t)),
        None => since_cell(ts(&["eventTime"])),
    };
    let mut last_seen = match ts(&["lastTimestamp"]) {
        Some(t) => since_cell(Some(t)),
        None => first_seen.clone(),
    };
    let mut count = get_i64(ev, &["count"]).unwrap_or(0);
    if let Some(series) = get(ev, &["series"]).filter(|s| s.is_object()) {
        last_seen = since_cell(get_str(series, &["lastObservedTime"]));
        count = get_i64(series, &["count"]).unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_or_empty(ev, &["involvedObject", "kind"]).to_lowercase();
    let name = str_or_empty(ev, &["involvedObject", "name"]);
    let target = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };
    let component = non_empty(
        str_or_empty(ev, &["source", "component"]),
        str_or_empty(ev, &["reportingComponent"]),
    );
    let instance = non_empty(
        str_or_empty(ev, &["source", "host"]),
        str_or_empty(ev, &["reportingInstance"]),
    );
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        last_seen,
        Value::from(str_or_empty(ev, &["type"])),
        Value::from(str_or_empty(ev, &["reason"])),
        Value::from(target),
        Value::from(str_or_empty(ev, &["involvedObject", "fieldPath"])),
        Value::from(source),
        Value::from(str_or_empty(ev, &["message"]).trim()),
        first_seen,
        Value::from(count),
        Value::from(str_or_empty(ev, &["metadata", "name"])),
    ]
}

/// core/v1 Event: names only need to be path segments (upstream checks
/// nothing stricter for core/v1 events); legacy validation (namespace agreement; for events with
/// `eventTime`, reportingComponent/reportingInstance/action/reason
/// required and length limits); no immutability on update (old clients
/// update blindly); kubectl's event columns.
pub struct CoreEventRules;

impl TypeRules for CoreEventRules {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        legacy_validate(obj, Api::CoreV1)
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        legacy_validate(new, Api::CoreV1)
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        core_field_value(&to_core(obj), field)
    }

    fn columns(&self) -> &'static [Column] {
        EVENT_COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        event_cells(&to_core(obj))
    }
}

/// events.k8s.io/v1 Event, given in its own representation (or the core
/// one; both are accepted): legacy rules plus the strict v1 rules on create
/// (eventTime required, type Normal/Warning, series count >= 2 with
/// lastObservedTime, deprecated fields unset) and immutability on update.
pub struct EventsV1EventRules;

impl TypeRules for EventsV1EventRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let ev = to_core(obj);
        let mut out = legacy_validate(&ev, Api::EventsV1);
        strict_validate_create(&ev, &mut out);
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let (new, old) = (to_core(new), to_core(old));
        let mut out = legacy_validate(&new, Api::EventsV1);
        strict_validate_update(&new, &old, &mut out);
        out
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "source",
            "type",
        ]
    }

    /// Labels are mapped to the core fields as upstream's
    /// `AddFieldLabelConversionsForEvent` does (`regarding.*` →
    /// `involvedObject.*`, `reportingController` → `reportingComponent`).
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let mapped = match field {
            "reportingController" => "reportingComponent".to_string(),
            f => match f.strip_prefix("regarding.") {
                Some(rest) => format!("involvedObject.{rest}"),
                None => f.to_string(),
            },
        };
        core_field_value(&to_core(obj), &mapped)
    }

    fn columns(&self) -> &'static [Column] {
        EVENT_COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        event_cells(&to_core(obj))
    }
}
