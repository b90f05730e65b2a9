//! core/v1 Pod and PodTemplate.

use super::podspec::{
    containers_and_images, default_pod_spec, default_template_at, each_item, format_labels, obj_at,
    set_default, validate_pod_spec, validate_template,
};
use super::{TypeRules, col, meta_field_value, wide};
use crate::table::{AGE_COLUMN, Column, NAME_COLUMN, since_cell};
use crate::util::{get, get_str};
use crate::validation::{FieldError, NameRule};
use serde_json::{Map, Value, json};

/// Pod: scheme defaults, `status: {phase: Pending, qosClass}` on create,
/// spec immutable but for images and a few fields, READY/STATUS/RESTARTS
/// columns and upstream's field labels.
pub struct PodRules;

fn resource_keys(c: &Value, which: &str) -> Map<String, Value> {
    get(c, &["resources", which])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// `qos.GetPodQOS`, reduced to cpu and memory.
pub(crate) fn pod_qos(spec: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for key in ["initContainers", "containers"] {
        for c in get(spec, &[key])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let req = resource_keys(c, "requests");
            let lim = resource_keys(c, "limits");
            let compute =
                |m: &Map<String, Value>| m.keys().filter(|k| *k == "cpu" || *k == "memory").count();
            if compute(&req) > 0 || compute(&lim) > 0 {
                any = true;
            }
            for r in ["cpu", "memory"] {
                if !lim.contains_key(r) || req.get(r).is_some_and(|v| Some(v) != lim.get(r)) {
                    guaranteed = false;
                }
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

impl TypeRules for PodRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    /// `SetDefaults_Pod` (requests default to limits, enableServiceLinks)
    /// and `SetDefaults_PodSpec`.
    fn apply_defaults(&self, obj: &mut Value) {
        let Some(spec) = obj_at(obj, &["spec"]) else {
            return;
        };
        for key in ["initContainers", "containers"] {
            for c in each_item(spec, key) {
                let Some(Value::Object(res)) = c.get_mut("resources") else {
                    continue;
                };
                let Some(Value::Object(limits)) = res.get("limits").cloned() else {
                    continue;
                };
                let requests = res.entry("requests").or_insert_with(|| json!({}));
                if let Value::Object(r) = requests {
                    for (k, v) in limits {
                        r.entry(k).or_insert(v);
                    }
                }
            }
        }
        set_default(spec, "enableServiceLinks", json!(true));
        default_pod_spec(spec);
    }

    /// Defaults, then `PrepareForCreate`: status is `{phase: Pending, qosClass}`.
    fn default_on_create(&self, obj: &mut Value) {
        self.apply_defaults(obj);
        let qos = pod_qos(get(obj, &["spec"]).unwrap_or(&Value::Null));
        if let Some(m) = obj.as_object_mut() {
            m.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": qos}),
            );
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate_pod_spec(get(obj, &["spec"]).unwrap_or(&Value::Null), "spec")
    }

    /// `ValidatePodUpdate`: only images, activeDeadlineSeconds,
    /// tolerations (additions), terminationGracePeriodSeconds and
    /// schedulingGates may change.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        let strip = |v: &Value| -> Value {
            let mut spec = get(v, &["spec"]).cloned().unwrap_or(Value::Null);
            if let Some(m) = spec.as_object_mut() {
                for k in [
                    "activeDeadlineSeconds",
                    "tolerations",
                    "terminationGracePeriodSeconds",
                    "schedulingGates",
                ] {
                    m.remove(k);
                }
                for key in ["initContainers", "containers"] {
                    for c in each_item(m, key) {
                        c.remove("image");
                    }
                }
            }
            spec
        };
        if strip(new) != strip(old) {
            out.push(FieldError::forbidden(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
            ));
        }
        out
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let s = |path: &[&str]| Some(get_str(obj, path).unwrap_or("").to_string());
        match field {
            "spec.nodeName" => s(&["spec", "nodeName"]),
            "spec.restartPolicy" => s(&["spec", "restartPolicy"]),
            "spec.schedulerName" => s(&["spec", "schedulerName"]),
            "spec.serviceAccountName" => s(&["spec", "serviceAccountName"]),
            "spec.hostNetwork" => Some(
                (get(obj, &["spec", "hostNetwork"]).and_then(Value::as_bool) == Some(true))
                    .to_string(),
            ),
            "status.phase" => s(&["status", "phase"]),
            "status.podIP" => s(&["status", "podIP"]),
            "status.nominatedNodeName" => s(&["status", "nominatedNodeName"]),
            _ => meta_field_value(obj, field),
        }
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col(
                "Ready",
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE_COLUMN,
            wide(
                "IP",
                "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            ),
            wide(
                "Node",
                "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
            ),
            wide(
                "Nominated Node",
                "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
            ),
            wide(
                "Readiness Gates",
                "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
            ),
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let (ready, status, restarts) = pod_summary(obj);
        let or_none = |path: &[&str]| {
            Value::from(
                get_str(obj, path)
                    .filter(|s| !s.is_empty())
                    .unwrap_or("<none>"),
            )
        };
        let gates = get(obj, &["spec", "readinessGates"])
            .and_then(Value::as_array)
            .filter(|g| !g.is_empty());
        let gates_cell = match gates {
            None => "<none>".to_string(),
            Some(g) => {
                let conditions = get(obj, &["status", "conditions"]).and_then(Value::as_array);
                let true_count = g
                    .iter()
                    .filter(|gate| {
                        let t = get_str(gate, &["conditionType"]).unwrap_or("");
                        conditions.into_iter().flatten().any(|c| {
                            get_str(c, &["type"]) == Some(t)
                                && get_str(c, &["status"]) == Some("True")
                        })
                    })
                    .count();
                format!("{true_count}/{}", g.len())
            }
        };
        vec![
            Value::from(get_str(obj, &["metadata", "name"]).unwrap_or("")),
            Value::from(ready),
            Value::from(status),
            Value::from(restarts),
            since_cell(get_str(obj, &["metadata", "creationTimestamp"])),
            or_none(&["status", "podIP"]),
            or_none(&["spec", "nodeName"]),
            or_none(&["status", "nominatedNodeName"]),
            Value::from(gates_cell),
        ]
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// READY, STATUS and RESTARTS as upstream's `printPod` computes them
/// (without the "(5m ago)" suffix of the last restart).
fn pod_summary(obj: &Value) -> (String, String, String) {
    let total = get(obj, &["spec", "containers"])
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut reason = get_str(obj, &["status", "phase"]).unwrap_or("").to_string();
    if let Some(r) = get_str(obj, &["status", "reason"]).filter(|r| !r.is_empty()) {
        reason = r.to_string();
    }
    let mut restarts = 0i64;
    let mut ready = 0usize;
    let mut initializing = false;
    let init_total = get(obj, &["spec", "initContainers"])
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let init_statuses = get(obj, &["status", "initContainerStatuses"]).and_then(Value::as_array);
    for (i, c) in init_statuses.into_iter().flatten().enumerate() {
        restarts += get(c, &["restartCount"])
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let terminated = get(c, &["state", "terminated"]);
        let waiting = get_str(c, &["state", "waiting", "reason"]).filter(|r| !r.is_empty());
        if let Some(t) = terminated
            && get(t, &["exitCode"]).and_then(Value::as_i64) == Some(0)
        {
            continue;
        }
        initializing = true;
        reason = if let Some(t) = terminated {
            match get_str(t, &["reason"]).filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None => format!(
                    "Init:ExitCode:{}",
                    get(t, &["exitCode"]).and_then(Value::as_i64).unwrap_or(0)
                ),
            }
        } else if let Some(w) = waiting.filter(|w| *w != "PodInitializing") {
            format!("Init:{w}")
        } else {
            format!("Init:{i}/{init_total}")
        };
        break;
    }
    if !initializing {
        restarts = 0;
        let statuses = get(obj, &["status", "containerStatuses"]).and_then(Value::as_array);
        let mut has_running = false;
        for c in statuses.into_iter().flatten().rev() {
            restarts += get(c, &["restartCount"])
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if let Some(w) = get_str(c, &["state", "waiting", "reason"]).filter(|r| !r.is_empty()) {
                reason = w.to_string();
            } else if let Some(t) = get(c, &["state", "terminated"]) {
                reason = match get_str(t, &["reason"]).filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None => match get(t, &["signal"]).and_then(Value::as_i64) {
                        Some(s) if s != 0 => format!("Signal:{s}"),
                        _ => format!(
                            "ExitCode:{}",
                            get(t, &["exitCode"]).and_then(Value::as_i64).unwrap_or(0)
                        ),
                    },
                };
            } else if get(c, &["ready"]).and_then(Value::as_bool) == Some(true)
                && get(c, &["state", "running"]).is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if get_str(obj, &["metadata", "deletionTimestamp"]).is_some() {
        reason = if get_str(obj, &["status", "reason"]) == Some("NodeLost") {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    (format!("{ready}/{total}"), reason, restarts.to_string())
}

/// PodTemplate: template defaults and validation; upstream's
/// CONTAINERS / IMAGES / POD LABELS layout (no AGE).
pub struct PodTemplateRules;

impl TypeRules for PodTemplateRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        default_template_at(obj, &["template"]);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate_template(get(obj, &["template"]), "template")
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Containers", "Names of each container in the template."),
            col(
                "Images",
                "Images referenced by each container in the template.",
            ),
            col("Pod Labels", "The labels for the pod template."),
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let (c, i) = containers_and_images(get(obj, &["template", "spec"]));
        vec![
            Value::from(get_str(obj, &["metadata", "name"]).unwrap_or("")),
            Value::from(c),
            Value::from(i),
            Value::from(format_labels(get(obj, &["template", "metadata", "labels"]))),
        ]
    }
}
