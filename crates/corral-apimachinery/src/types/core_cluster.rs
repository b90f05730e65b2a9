//! core/v1 Node, PersistentVolumeClaim, PersistentVolume, ResourceQuota
//! and LimitRange.

use super::podspec::{each_item, obj_at, set_default, set_default_str};
use super::{TypeRules, col, meta_field_value, wide};
use crate::table::{AGE_COLUMN, Column, NAME_COLUMN, since_cell};
use crate::util::{get, get_str, is_zero};
use crate::validation::{FieldError, NameRule};
use serde_json::{Map, Value, json};

fn name_cell(obj: &Value) -> Value {
    Value::from(get_str(obj, &["metadata", "name"]).unwrap_or(""))
}

fn age_cell(obj: &Value) -> Value {
    since_cell(get_str(obj, &["metadata", "creationTimestamp"]))
}

fn str_cell(obj: &Value, path: &[&str]) -> Value {
    Value::from(get_str(obj, path).unwrap_or(""))
}

/// Whether `s` is `ip/prefix` with a prefix that fits the address family.
pub(crate) fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.parse::<u8>().is_ok_and(|p| p <= max)
}

/// Node: cluster-scoped; STATUS / ROLES / VERSION columns.
pub struct NodeRules;

impl TypeRules for NodeRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        false
    }

    /// `SetDefaults_NodeStatus`: allocatable defaults to capacity.
    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(status) = obj_at(obj, &["status"])
            && is_zero(status.get("allocatable"))
            && let Some(cap) = status.get("capacity").cloned()
        {
            status.insert("allocatable".into(), cap);
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        if let Some(cidr) = get_str(obj, &["spec", "podCIDR"]).filter(|c| !c.is_empty())
            && !is_cidr(cidr)
        {
            out.push(FieldError::invalid(
                "spec.podCIDRs[0]",
                cidr,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
        out
    }

    /// `spec.podCIDRs` may not change once set.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        let (o, n) = (
            get(old, &["spec", "podCIDRs"]),
            get(new, &["spec", "podCIDRs"]),
        );
        if !is_zero(o) && o != n {
            out.push(FieldError::forbidden(
                "spec.podCIDRs",
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        out
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["spec.unschedulable"]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "spec.unschedulable" => Some(
                (get(obj, &["spec", "unschedulable"]).and_then(Value::as_bool) == Some(true))
                    .to_string(),
            ),
            _ => meta_field_value(obj, field),
        }
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Status", "The status of the node"),
            col("Roles", "The roles of the node"),
            AGE_COLUMN,
            col("Version", "Kubelet Version reported by the node."),
            wide(
                "Internal-IP",
                "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).",
            ),
            wide(
                "External-IP",
                "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).",
            ),
            wide(
                "OS-Image",
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            wide(
                "Kernel-Version",
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            wide(
                "Container-Runtime",
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let conditions = get(obj, &["status", "conditions"]).and_then(Value::as_array);
        let mut status: Vec<String> = Vec::new();
        for c in conditions.into_iter().flatten() {
            if get_str(c, &["type"]) == Some("Ready") {
                status.push(match get_str(c, &["status"]) {
                    Some("True") => "Ready".into(),
                    _ => "NotReady".into(),
                });
            }
        }
        if status.is_empty() {
            status.push("Unknown".into());
        }
        if get(obj, &["spec", "unschedulable"]).and_then(Value::as_bool) == Some(true) {
            status.push("SchedulingDisabled".into());
        }
        let mut roles: Vec<String> = get(obj, &["metadata", "labels"])
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| {
                if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                    (!r.is_empty()).then(|| r.to_string())
                } else if k == "kubernetes.io/role" {
                    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
                } else {
                    None
                }
            })
            .collect();
        roles.sort();
        roles.dedup();
        let address = |ty: &str| {
            get(obj, &["status", "addresses"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|a| get_str(a, &["type"]) == Some(ty))
                .and_then(|a| get_str(a, &["address"]))
                .unwrap_or("<none>")
                .to_string()
        };
        let info = |k: &str| {
            let v = get_str(obj, &["status", "nodeInfo", k]).unwrap_or("");
            Value::from(if v.is_empty() { "<unknown>" } else { v })
        };
        vec![
            name_cell(obj),
            Value::from(status.join(",")),
            Value::from(if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            }),
            age_cell(obj),
            str_cell(obj, &["status", "nodeInfo", "kubeletVersion"]),
            Value::from(address("InternalIP")),
            Value::from(address("ExternalIP")),
            info("osImage"),
            info("kernelVersion"),
            info("containerRuntimeVersion"),
        ]
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// Upstream `GetAccessModesAsString`: "RWO,ROX,RWX,RWOP".
fn access_modes(v: Option<&Value>) -> String {
    let modes: Vec<&str> = v
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut out = Vec::new();
    for (mode, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if modes.contains(&mode) {
            out.push(short);
        }
    }
    out.join(",")
}

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

fn validate_access_modes(spec: &Value, path: &str, out: &mut Vec<FieldError>) {
    let modes = get(spec, &["accessModes"]).and_then(Value::as_array);
    match modes {
        None => out.push(FieldError::required(
            format!("{path}.accessModes"),
            "at least 1 access mode is required",
        )),
        Some(m) if m.is_empty() => out.push(FieldError::required(
            format!("{path}.accessModes"),
            "at least 1 access mode is required",
        )),
        Some(m) => {
            for v in m {
                let s = v.as_str().unwrap_or("");
                if !ACCESS_MODES.contains(&s) {
                    out.push(FieldError::not_supported(
                        format!("{path}.accessModes"),
                        s,
                        ACCESS_MODES,
                    ));
                }
            }
        }
    }
}

fn storage_class(obj: &Value, spec_path: &[&str]) -> String {
    // Upstream `GetPersistentVolume(Claim)Class`: the beta annotation wins.
    if let Some(c) = get_str(
        obj,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    ) {
        return c.to_string();
    }
    get_str(obj, spec_path).unwrap_or("").to_string()
}

/// PersistentVolumeClaim: `volumeMode: Filesystem`, `status.phase: Pending`.
pub struct PersistentVolumeClaimRules;

/// Upstream's `SetDefaults_PersistentVolumeClaimSpec` on a spec object.
pub(crate) fn default_pvc_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "volumeMode", json!("Filesystem"));
}

impl TypeRules for PersistentVolumeClaimRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(spec) = obj_at(obj, &["spec"]) {
            default_pvc_spec(spec);
        }
    }

    fn default_on_create(&self, obj: &mut Value) {
        self.apply_defaults(obj);
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"phase": "Pending"}));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let spec = get(obj, &["spec"]).unwrap_or(&Value::Null);
        validate_access_modes(spec, "spec", &mut out);
        if get(spec, &["resources", "requests", "storage"]).is_none() {
            out.push(FieldError::required("spec.resources[storage]", ""));
        }
        out
    }

    /// The spec is immutable but for `resources.requests`, `volumeName`
    /// (binding) and `volumeAttributesClassName`.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        let strip = |v: &Value| {
            let mut s = get(v, &["spec"]).cloned().unwrap_or(Value::Null);
            if let Some(m) = s.as_object_mut() {
                m.remove("volumeAttributesClassName");
                if is_zero(get(old, &["spec", "volumeName"])) {
                    m.remove("volumeName");
                }
                if let Some(Value::Object(r)) = m.get_mut("resources") {
                    r.remove("requests");
                }
            }
            s
        };
        if strip(new) != strip(old) {
            out.push(FieldError::forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ));
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col(
                "Status",
                "phase represents the current phase of PersistentVolumeClaim.",
            ),
            col(
                "Volume",
                "volumeName is the binding reference to the PersistentVolume backing this claim.",
            ),
            col(
                "Capacity",
                "capacity represents the actual resources of the underlying volume.",
            ),
            col(
                "Access Modes",
                "accessModes contains the actual access modes the volume backing the PVC has.",
            ),
            col(
                "StorageClass",
                "storageClassName is the name of the StorageClass required by the claim.",
            ),
            col(
                "VolumeAttributesClass",
                "volumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim.",
            ),
            AGE_COLUMN,
            wide(
                "VolumeMode",
                "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.",
            ),
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let phase = if get(obj, &["metadata", "deletionTimestamp"]).is_some() {
            "Terminating"
        } else {
            get_str(obj, &["status", "phase"]).unwrap_or("")
        };
        let bound = !get_str(obj, &["spec", "volumeName"])
            .unwrap_or("")
            .is_empty();
        let (capacity, modes) = if bound {
            (
                get_str(obj, &["status", "capacity", "storage"])
                    .unwrap_or("")
                    .to_string(),
                access_modes(get(obj, &["status", "accessModes"])),
            )
        } else {
            (String::new(), String::new())
        };
        vec![
            name_cell(obj),
            Value::from(phase),
            str_cell(obj, &["spec", "volumeName"]),
            Value::from(capacity),
            Value::from(modes),
            Value::from(storage_class(obj, &["spec", "storageClassName"])),
            Value::from(
                get_str(obj, &["spec", "volumeAttributesClassName"])
                    .filter(|s| !s.is_empty())
                    .unwrap_or("<unset>"),
            ),
            age_cell(obj),
            Value::from(get_str(obj, &["spec", "volumeMode"]).unwrap_or("<unset>")),
        ]
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// PersistentVolume: cluster-scoped; reclaim policy `Retain`,
/// `volumeMode: Filesystem`, `status.phase: Pending`.
pub struct PersistentVolumeRules;

const PV_SOURCES: &[&str] = &[
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "hostPath",
    "iscsi",
    "local",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
];

impl TypeRules for PersistentVolumeRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        false
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(spec) = obj_at(obj, &["spec"]) {
            set_default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
            set_default(spec, "volumeMode", json!("Filesystem"));
            if let Some(Value::Object(h)) = spec.get_mut("hostPath") {
                set_default(h, "type", json!(""));
            }
        }
        if is_zero(get(obj, &["status", "phase"]))
            && let Some(m) = obj.as_object_mut()
        {
            let status = m.entry("status").or_insert_with(|| json!({}));
            if let Value::Object(s) = status {
                s.insert("phase".into(), json!("Pending"));
            }
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let spec = get(obj, &["spec"]).unwrap_or(&Value::Null);
        validate_access_modes(spec, "spec", &mut out);
        if get(spec, &["capacity", "storage"]).is_none() {
            out.push(FieldError::required("spec.capacity", ""));
        }
        let sources = PV_SOURCES
            .iter()
            .filter(|s| get(spec, &[s]).is_some_and(|v| !v.is_null()))
            .count();
        if sources == 0 {
            out.push(FieldError::required("spec", "must specify a volume type"));
        } else if sources > 1 {
            out.push(FieldError::forbidden(
                "spec",
                "may not specify more than 1 volume type",
            ));
        }
        const POLICIES: &[&str] = &["Delete", "Recycle", "Retain"];
        let p = get_str(spec, &["persistentVolumeReclaimPolicy"]).unwrap_or("");
        if !POLICIES.contains(&p) {
            out.push(FieldError::not_supported(
                "spec.persistentVolumeReclaimPolicy",
                p,
                POLICIES,
            ));
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col(
                "Capacity",
                "capacity is the description of the persistent volume's resources and capacity.",
            ),
            col(
                "Access Modes",
                "accessModes contains all ways the volume can be mounted.",
            ),
            col(
                "Reclaim Policy",
                "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
            ),
            col(
                "Status",
                "phase indicates if a volume is available, bound to a claim, or released by a claim.",
            ),
            col(
                "Claim",
                "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
            ),
            col(
                "StorageClass",
                "storageClassName is the name of StorageClass to which this persistent volume belongs.",
            ),
            col(
                "VolumeAttributesClass",
                "Name of VolumeAttributesClass to which this persistent volume belongs.",
            ),
            col(
                "Reason",
                "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
            ),
            AGE_COLUMN,
            wide(
                "VolumeMode",
                "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
            ),
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let claim = match get(obj, &["spec", "claimRef"]) {
            Some(c) if c.is_object() => format!(
                "{}/{}",
                get_str(c, &["namespace"]).unwrap_or(""),
                get_str(c, &["name"]).unwrap_or("")
            ),
            _ => String::new(),
        };
        let phase = if get(obj, &["metadata", "deletionTimestamp"]).is_some() {
            "Terminating"
        } else {
            get_str(obj, &["status", "phase"]).unwrap_or("")
        };
        vec![
            name_cell(obj),
            str_cell(obj, &["spec", "capacity", "storage"]),
            Value::from(access_modes(get(obj, &["spec", "accessModes"]))),
            str_cell(obj, &["spec", "persistentVolumeReclaimPolicy"]),
            Value::from(phase),
            Value::from(claim),
            Value::from(storage_class(obj, &["spec", "storageClassName"])),
            Value::from(
                get_str(obj, &["spec", "volumeAttributesClassName"])
                    .filter(|s| !s.is_empty())
                    .unwrap_or("<unset>"),
            ),
            str_cell(obj, &["status", "reason"]),
            age_cell(obj),
            Value::from(get_str(obj, &["spec", "volumeMode"]).unwrap_or("<unset>")),
        ]
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// ResourceQuota: REQUEST / LIMIT columns ("used/hard").
pub struct ResourceQuotaRules;

impl TypeRules for ResourceQuotaRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn default_on_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({}));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let hard = get(obj, &["spec", "hard"]).and_then(Value::as_object);
        for (k, v) in hard.into_iter().flatten() {
            if !(v.is_string() || v.is_number()) {
                out.push(FieldError::invalid(
                    format!("spec.hard[{k}]"),
                    v.clone(),
                    "must be a quantity",
                ));
            }
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col(
                "Request",
                "Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            col(
                "Limit",
                "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
            ),
            // Last since kubernetes/kubernetes#129419.
            AGE_COLUMN,
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let hard = get(obj, &["status", "hard"])
            .or_else(|| get(obj, &["spec", "hard"]))
            .and_then(Value::as_object);
        let used = get(obj, &["status", "used"]).and_then(Value::as_object);
        let mut keys: Vec<&String> = hard.map(|h| h.keys().collect()).unwrap_or_default();
        keys.sort();
        let q = |v: Option<&Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => "0".to_string(),
        };
        let (mut req, mut lim) = (Vec::new(), Vec::new());
        for k in keys {
            let entry = format!(
                "{k}: {}/{}",
                q(used.and_then(|u| u.get(k))),
                q(hard.and_then(|h| h.get(k)))
            );
            if k.starts_with("limits.") {
                lim.push(entry);
            } else {
                req.push(entry);
            }
        }
        vec![
            name_cell(obj),
            Value::from(req.join(", ")),
            Value::from(lim.join(", ")),
            age_cell(obj),
        ]
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// LimitRange: `SetDefaults_LimitRangeItem`; NAME / CREATED AT columns.
pub struct LimitRangeRules;

impl TypeRules for LimitRangeRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        let Some(spec) = obj_at(obj, &["spec"]) else {
            return;
        };
        for item in each_item(spec, "limits") {
            if item.get("type").and_then(Value::as_str) != Some("Container") {
                continue;
            }
            let map = |item: &Map<String, Value>, k: &str| {
                item.get(k)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default()
            };
            let max = map(item, "max");
            let min = map(item, "min");
            let mut default = map(item, "default");
            let mut request = map(item, "defaultRequest");
            for (k, v) in &max {
                default.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in default.iter().chain(min.iter()) {
                request.entry(k.clone()).or_insert_with(|| v.clone());
            }
            if !default.is_empty() {
                item.insert("default".into(), Value::Object(default));
            }
            if !request.is_empty() {
                item.insert("defaultRequest".into(), Value::Object(request));
            }
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        const TYPES: &[&str] = &["Container", "PersistentVolumeClaim", "Pod"];
        let mut out = Vec::new();
        let items = get(obj, &["spec", "limits"]).and_then(Value::as_array);
        for (i, item) in items.into_iter().flatten().enumerate() {
            let t = get_str(item, &["type"]).unwrap_or("");
            if !TYPES.contains(&t) {
                out.push(FieldError::not_supported(
                    format!("spec.limits[{i}].type"),
                    t,
                    TYPES,
                ));
            }
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            Column {
                name: "Created At",
                type_: "date",
                format: "",
                description: crate::table::CREATION_TIMESTAMP_DESCRIPTION,
                priority: 0,
            },
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![
            name_cell(obj),
            str_cell(obj, &["metadata", "creationTimestamp"]),
        ]
    }
}
