//! apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and
//! ControllerRevision.

use super::core_cluster::default_pvc_spec;
use super::podspec::{
    containers_and_images, default_template_at, each_item, format_selector, int_cell, non_negative,
    obj_at, set_default, set_default_str, template_restart_policy, typed_col,
    validate_selector_and_template, validate_template,
};
use super::{TypeRules, col, wide};
use crate::table::{AGE_COLUMN, Column, NAME_COLUMN, since_cell};
use crate::util::{get, get_str};
use crate::validation::{FieldError, NameRule, immutable};
use serde_json::{Value, json};

fn name_cell(obj: &Value) -> Value {
    Value::from(get_str(obj, &["metadata", "name"]).unwrap_or(""))
}

fn age_cell(obj: &Value) -> Value {
    since_cell(get_str(obj, &["metadata", "creationTimestamp"]))
}

/// CONTAINERS, IMAGES (and SELECTOR when `with_selector`) wide cells.
fn wide_cells(obj: &Value, with_selector: bool) -> Vec<Value> {
    let (c, i) = containers_and_images(get(obj, &["spec", "template", "spec"]));
    let mut out = vec![Value::from(c), Value::from(i)];
    if with_selector {
        out.push(Value::from(format_selector(get(
            obj,
            &["spec", "selector"],
        ))));
    }
    out
}

const CONTAINERS_COL: Column = wide("Containers", "Names of each container in the template.");
const IMAGES_COL: Column = wide(
    "Images",
    "Images referenced by each container in the template.",
);
const SELECTOR_COL: Column = wide("Selector", "Label selector of the controller.");

fn status_reset(obj: &mut Value, status: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), status);
    }
}

/// Common controller validation: replicas, selector/template, restart policy.
fn validate_controller(obj: &Value, kind_word: &str) -> Vec<FieldError> {
    let spec = get(obj, &["spec"]).unwrap_or(&Value::Null);
    let mut out = Vec::new();
    non_negative(obj, &["spec", "replicas"], &mut out);
    non_negative(obj, &["spec", "minReadySeconds"], &mut out);
    non_negative(obj, &["spec", "revisionHistoryLimit"], &mut out);
    validate_selector_and_template(spec, kind_word, &mut out);
    out.extend(validate_template(get(spec, &["template"]), "spec.template"));
    template_restart_policy(
        get(spec, &["template"]),
        "spec.template",
        &["Always"],
        &mut out,
    );
    out
}

fn selector_immutable(new: &Value, old: &Value, out: &mut Vec<FieldError>) {
    immutable(
        get(new, &["spec", "selector"]),
        get(old, &["spec", "selector"]),
        "spec.selector",
        out,
    );
}

/// A `maxSurge` / `maxUnavailable` int-or-percent.
fn int_or_percent(v: Option<&Value>, path: &str, out: &mut Vec<FieldError>) -> Option<bool> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(-1);
            if n < 0 {
                out.push(FieldError::invalid(
                    path,
                    n,
                    "must be greater than or equal to 0",
                ));
            }
            Some(n == 0)
        }
        Some(Value::String(s)) => {
            let pct = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok());
            match pct {
                None => {
                    out.push(FieldError::invalid(
                        path,
                        s.as_str(),
                        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                    ));
                    None
                }
                Some(p) => {
                    if p > 100 {
                        out.push(FieldError::invalid(
                            path,
                            s.as_str(),
                            "must not be greater than 100%",
                        ));
                    }
                    Some(p == 0)
                }
            }
        }
        Some(other) => {
            out.push(FieldError::invalid(
                path,
                other.clone(),
                "must be an integer or percentage",
            ));
            None
        }
    }
}

/// Deployment: `SetDefaults_Deployment` (replicas 1, RollingUpdate 25%/25%,
/// revisionHistoryLimit 10, progressDeadlineSeconds 600) and pod template
/// defaults; immutable selector; READY / UP-TO-DATE / AVAILABLE columns.
pub struct DeploymentRules;

impl TypeRules for DeploymentRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(spec) = obj_at(obj, &["spec"]) {
            set_default(spec, "replicas", json!(1));
            let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
            if let Value::Object(s) = strategy {
                set_default_str(s, "type", "RollingUpdate");
                if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if ru.is_null() {
                        *ru = json!({});
                    }
                    if let Value::Object(ru) = ru {
                        set_default(ru, "maxUnavailable", json!("25%"));
                        set_default(ru, "maxSurge", json!("25%"));
                    }
                }
            }
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
        }
        default_template_at(obj, &["spec", "template"]);
    }

    fn default_on_create(&self, obj: &mut Value) {
        self.apply_defaults(obj);
        status_reset(obj, json!({}));
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = validate_controller(obj, "deployment");
        let strategy = get(obj, &["spec", "strategy"]).unwrap_or(&Value::Null);
        const TYPES: &[&str] = &["Recreate", "RollingUpdate"];
        let ty = get_str(strategy, &["type"]).unwrap_or("");
        let ru = get(strategy, &["rollingUpdate"]).filter(|v| !v.is_null());
        match ty {
            "Recreate" => {
                if ru.is_some() {
                    out.push(FieldError::forbidden(
                        "spec.strategy.rollingUpdate",
                        "may not be specified when strategy `type` is 'Recreate'",
                    ));
                }
            }
            "RollingUpdate" => {
                let ru = ru.unwrap_or(&Value::Null);
                let unavailable_zero = int_or_percent(
                    get(ru, &["maxUnavailable"]),
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    &mut out,
                );
                let surge_zero = int_or_percent(
                    get(ru, &["maxSurge"]),
                    "spec.strategy.rollingUpdate.maxSurge",
                    &mut out,
                );
                if unavailable_zero == Some(true) && surge_zero == Some(true) {
                    out.push(FieldError::invalid(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        get(ru, &["maxUnavailable"]).cloned().unwrap_or(Value::Null),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
            }
            other => out.push(FieldError::not_supported(
                "spec.strategy.type",
                other,
                TYPES,
            )),
        }
        if let (Some(p), Some(m)) = (
            get(obj, &["spec", "progressDeadlineSeconds"]).and_then(Value::as_i64),
            get(obj, &["spec", "minReadySeconds"]).and_then(Value::as_i64),
        ) && p <= m
        {
            out.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                p,
                "must be greater than minReadySeconds",
            ));
        }
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        selector_immutable(new, old, &mut out);
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Ready", "Number of the pod with ready state"),
            col(
                "Up-to-date",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            col(
                "Available",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            AGE_COLUMN,
            CONTAINERS_COL,
            IMAGES_COL,
            SELECTOR_COL,
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let ready = get(obj, &["status", "readyReplicas"])
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let want = get(obj, &["spec", "replicas"])
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let mut out = vec![
            name_cell(obj),
            Value::from(format!("{ready}/{want}")),
            int_cell(obj, &["status", "updatedReplicas"]),
            int_cell(obj, &["status", "availableReplicas"]),
            age_cell(obj),
        ];
        out.extend(wide_cells(obj, true));
        out
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// ReplicaSet: replicas 1; DESIRED / CURRENT / READY columns.
pub struct ReplicaSetRules;

impl TypeRules for ReplicaSetRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(spec) = obj_at(obj, &["spec"]) {
            set_default(spec, "replicas", json!(1));
        }
        default_template_at(obj, &["spec", "template"]);
    }

    fn default_on_create(&self, obj: &mut Value) {
        self.apply_defaults(obj);
        status_reset(obj, json!({"replicas": 0}));
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate_controller(obj, "deployment")
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        selector_immutable(new, old, &mut out);
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            typed_col(
                "Desired",
                "integer",
                "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works",
            ),
            typed_col(
                "Current",
                "integer",
                "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works",
            ),
            typed_col(
                "Ready",
                "integer",
                "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
            ),
            AGE_COLUMN,
            CONTAINERS_COL,
            IMAGES_COL,
            SELECTOR_COL,
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let mut out = vec![
            name_cell(obj),
            int_cell(obj, &["spec", "replicas"]),
            int_cell(obj, &["status", "replicas"]),
            int_cell(obj, &["status", "readyReplicas"]),
            age_cell(obj),
        ];
        out.extend(wide_cells(obj, true));
        out
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// StatefulSet: replicas 1, OrderedReady, RollingUpdate with partition 0,
/// revisionHistoryLimit 10, PVC retention Retain/Retain; only some spec
/// fields may change.
pub struct StatefulSetRules;

impl TypeRules for StatefulSetRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(spec) = obj_at(obj, &["spec"]) {
            set_default(spec, "replicas", json!(1));
            set_default_str(spec, "podManagementPolicy", "OrderedReady");
            let strategy = spec.entry("updateStrategy").or_insert_with(|| json!({}));
            if let Value::Object(s) = strategy {
                set_default_str(s, "type", "RollingUpdate");
                if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if ru.is_null() {
                        *ru = json!({});
                    }
                    if let Value::Object(ru) = ru {
                        set_default(ru, "partition", json!(0));
                    }
                }
            }
            set_default(spec, "revisionHistoryLimit", json!(10));
            let policy = spec
                .entry("persistentVolumeClaimRetentionPolicy")
                .or_insert_with(|| json!({}));
            if let Value::Object(p) = policy {
                set_default_str(p, "whenDeleted", "Retain");
                set_default_str(p, "whenScaled", "Retain");
            }
            for pvc in each_item(spec, "volumeClaimTemplates") {
                if let Some(Value::Object(s)) = pvc.get_mut("spec") {
                    default_pvc_spec(s);
                }
                let status = pvc.entry("status").or_insert_with(|| json!({}));
                if let Value::Object(s) = status {
                    set_default_str(s, "phase", "Pending");
                }
            }
        }
        default_template_at(obj, &["spec", "template"]);
    }

    fn default_on_create(&self, obj: &mut Value) {
        self.apply_defaults(obj);
        status_reset(obj, json!({"replicas": 0, "availableReplicas": 0}));
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = validate_controller(obj, "statefulset");
        const POLICIES: &[&str] = &["OrderedReady", "Parallel"];
        let p = get_str(obj, &["spec", "podManagementPolicy"]).unwrap_or("");
        if !POLICIES.contains(&p) {
            out.push(FieldError::invalid(
                "spec.podManagementPolicy",
                p,
                "must be 'OrderedReady' or 'Parallel'",
            ));
        }
        const STRATEGIES: &[&str] = &["OnDelete", "RollingUpdate"];
        let s = get_str(obj, &["spec", "updateStrategy", "type"]).unwrap_or("");
        if !STRATEGIES.contains(&s) {
            out.push(FieldError::not_supported(
                "spec.updateStrategy.type",
                s,
                STRATEGIES,
            ));
        }
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        let strip = |v: &Value| {
            let mut s = get(v, &["spec"]).cloned().unwrap_or(Value::Null);
            if let Some(m) = s.as_object_mut() {
                for k in [
                    "replicas",
                    "ordinals",
                    "template",
                    "updateStrategy",
                    "revisionHistoryLimit",
                    "persistentVolumeClaimRetentionPolicy",
                    "minReadySeconds",
                ] {
                    m.remove(k);
                }
            }
            s
        };
        if strip(new) != strip(old) {
            out.push(FieldError::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Ready", "Number of the pod with ready state"),
            AGE_COLUMN,
            CONTAINERS_COL,
            IMAGES_COL,
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let ready = get(obj, &["status", "readyReplicas"])
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let want = get(obj, &["spec", "replicas"])
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let mut out = vec![
            name_cell(obj),
            Value::from(format!("{ready}/{want}")),
            age_cell(obj),
        ];
        out.extend(wide_cells(obj, false));
        out
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// DaemonSet: RollingUpdate maxUnavailable 1 / maxSurge 0,
/// revisionHistoryLimit 10; immutable selector.
pub struct DaemonSetRules;

impl TypeRules for DaemonSetRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(spec) = obj_at(obj, &["spec"]) {
            let strategy = spec.entry("updateStrategy").or_insert_with(|| json!({}));
            if let Value::Object(s) = strategy {
                set_default_str(s, "type", "RollingUpdate");
                if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if ru.is_null() {
                        *ru = json!({});
                    }
                    if let Value::Object(ru) = ru {
                        set_default(ru, "maxUnavailable", json!(1));
                        set_default(ru, "maxSurge", json!(0));
                    }
                }
            }
            set_default(spec, "revisionHistoryLimit", json!(10));
        }
        default_template_at(obj, &["spec", "template"]);
    }

    fn default_on_create(&self, obj: &mut Value) {
        self.apply_defaults(obj);
        status_reset(
            obj,
            json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}),
        );
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = validate_controller(obj, "daemonset");
        const STRATEGIES: &[&str] = &["OnDelete", "RollingUpdate"];
        let s = get_str(obj, &["spec", "updateStrategy", "type"]).unwrap_or("");
        if !STRATEGIES.contains(&s) {
            out.push(FieldError::not_supported(
                "spec.updateStrategy.type",
                s,
                STRATEGIES,
            ));
        }
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        selector_immutable(new, old, &mut out);
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            typed_col(
                "Desired",
                "integer",
                "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
            ),
            typed_col(
                "Current",
                "integer",
                "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
            ),
            typed_col(
                "Ready",
                "integer",
                "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
            ),
            typed_col(
                "Up-to-date",
                "integer",
                "The total number of nodes that are running updated daemon pod",
            ),
            typed_col(
                "Available",
                "integer",
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
            ),
            col(
                "Node Selector",
                "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
            ),
            AGE_COLUMN,
            CONTAINERS_COL,
            IMAGES_COL,
            SELECTOR_COL,
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let mut out = vec![
            name_cell(obj),
            int_cell(obj, &["status", "desiredNumberScheduled"]),
            int_cell(obj, &["status", "currentNumberScheduled"]),
            int_cell(obj, &["status", "numberReady"]),
            int_cell(obj, &["status", "updatedNumberScheduled"]),
            int_cell(obj, &["status", "numberAvailable"]),
            Value::from(super::podspec::format_labels(get(
                obj,
                &["spec", "template", "spec", "nodeSelector"],
            ))),
            age_cell(obj),
        ];
        out.extend(wide_cells(obj, true));
        out
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// ControllerRevision: `revision` required, `data` immutable;
/// CONTROLLER / REVISION columns.
pub struct ControllerRevisionRules;

impl TypeRules for ControllerRevisionRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        non_negative(obj, &["revision"], &mut out);
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        immutable(get(new, &["data"]), get(old, &["data"]), "data", &mut out);
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Controller", "Controller of the object"),
            col(
                "Revision",
                "Revision indicates the revision of the state represented by Data.",
            ),
            AGE_COLUMN,
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let controller = get(obj, &["metadata", "ownerReferences"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|r| get(r, &["controller"]).and_then(Value::as_bool) == Some(true))
            .map(|r| {
                let api_version = get_str(r, &["apiVersion"]).unwrap_or("");
                let group = api_version.split_once('/').map_or("", |(g, _)| g);
                let kind = get_str(r, &["kind"]).unwrap_or("").to_lowercase();
                let name = get_str(r, &["name"]).unwrap_or("");
                if group.is_empty() {
                    format!("{kind}/{name}")
                } else {
                    format!("{kind}.{group}/{name}")
                }
            })
            .unwrap_or_else(|| "<none>".into());
        vec![
            name_cell(obj),
            Value::from(controller),
            int_cell(obj, &["revision"]),
            age_cell(obj),
        ]
    }
}
