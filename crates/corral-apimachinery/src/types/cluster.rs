//! policy/v1 PodDisruptionBudget, storage.k8s.io/v1 StorageClass,
//! scheduling.k8s.io/v1 PriorityClass and discovery.k8s.io/v1 EndpointSlice.

use super::podspec::{default_port_protocols, set_default, typed_col};
use super::{TypeRules, col};
use crate::table::{AGE_COLUMN, Column, NAME_COLUMN, since_cell};
use crate::util::{get, get_str};
use crate::validation::{FieldError, NameRule, immutable, validate_label_selector};
use serde_json::{Value, json};

fn name_cell(obj: &Value) -> Value {
    Value::from(get_str(obj, &["metadata", "name"]).unwrap_or(""))
}

fn age_cell(obj: &Value) -> Value {
    since_cell(get_str(obj, &["metadata", "creationTimestamp"]))
}

fn int_or_string_cell(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Number(n)) => Value::from(n.to_string()),
        Some(Value::String(s)) => Value::from(s.as_str()),
        _ => Value::from("N/A"),
    }
}

/// PodDisruptionBudget: minAvailable and maxUnavailable exclusive; status
/// counters start at 0; MIN AVAILABLE / MAX UNAVAILABLE / ALLOWED
/// DISRUPTIONS columns.
pub struct PodDisruptionBudgetRules;

impl TypeRules for PodDisruptionBudgetRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn default_on_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert(
                "status".into(),
                json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}),
            );
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let spec = get(obj, &["spec"]).unwrap_or(&Value::Null);
        let min = get(spec, &["minAvailable"]).filter(|v| !v.is_null());
        let max = get(spec, &["maxUnavailable"]).filter(|v| !v.is_null());
        if min.is_some() && max.is_some() {
            out.push(FieldError::invalid(
                "spec",
                spec.clone(),
                "minAvailable and maxUnavailable cannot be both set",
            ));
        }
        for (name, v) in [("minAvailable", min), ("maxUnavailable", max)] {
            match v {
                Some(Value::Number(n)) if n.as_i64().is_none_or(|n| n < 0) => {
                    out.push(FieldError::invalid(
                        format!("spec.{name}"),
                        Value::Number(n.clone()),
                        "must be greater than or equal to 0",
                    ));
                }
                Some(Value::String(s)) => {
                    let pct = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok());
                    match pct {
                        None => out.push(FieldError::invalid(
                            format!("spec.{name}"),
                            s.as_str(),
                            "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                        )),
                        Some(p) if p > 100 => out.push(FieldError::invalid(
                            format!("spec.{name}"),
                            s.as_str(),
                            "must not be greater than 100%",
                        )),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if let Some(sel) = get(spec, &["selector"]).filter(|s| !s.is_null()) {
            out.extend(validate_label_selector(sel, "spec.selector"));
        }
        const POLICIES: &[&str] = &["AlwaysAllow", "IfHealthyBudget"];
        if let Some(p) = get_str(spec, &["unhealthyPodEvictionPolicy"])
            && !POLICIES.contains(&p)
        {
            out.push(FieldError::not_supported(
                "spec.unhealthyPodEvictionPolicy",
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
                "Min Available",
                "The minimum number of pods that must be available.",
            ),
            col(
                "Max Unavailable",
                "The maximum number of pods that may be unavailable.",
            ),
            typed_col(
                "Allowed Disruptions",
                "integer",
                "Calculated number of pods that may be disrupted at this time.",
            ),
            AGE_COLUMN,
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![
            name_cell(obj),
            int_or_string_cell(get(obj, &["spec", "minAvailable"])),
            int_or_string_cell(get(obj, &["spec", "maxUnavailable"])),
            Value::from(
                get(obj, &["status", "disruptionsAllowed"])
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            ),
            age_cell(obj),
        ]
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// StorageClass: cluster-scoped; reclaimPolicy Delete, volumeBindingMode
/// Immediate; provisioner, parameters, reclaimPolicy and binding mode
/// frozen after creation.
pub struct StorageClassRules;

impl TypeRules for StorageClassRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        false
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            set_default(m, "reclaimPolicy", json!("Delete"));
            set_default(m, "volumeBindingMode", json!("Immediate"));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let p = get_str(obj, &["provisioner"]).unwrap_or("");
        if p.is_empty() {
            out.push(FieldError::required("provisioner", ""));
        } else {
            for msg in crate::validation::is_qualified_name(&p.to_lowercase()) {
                out.push(FieldError::invalid("provisioner", p, msg));
            }
        }
        const RECLAIM: &[&str] = &["Delete", "Retain"];
        let r = get_str(obj, &["reclaimPolicy"]).unwrap_or("");
        if !RECLAIM.contains(&r) {
            out.push(FieldError::not_supported("reclaimPolicy", r, RECLAIM));
        }
        const MODES: &[&str] = &["Immediate", "WaitForFirstConsumer"];
        let m = get_str(obj, &["volumeBindingMode"]).unwrap_or("");
        if !MODES.contains(&m) {
            out.push(FieldError::not_supported("volumeBindingMode", m, MODES));
        }
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        for (f, msg) in [
            ("parameters", "updates to parameters are forbidden."),
            ("provisioner", "updates to provisioner are forbidden."),
            ("reclaimPolicy", "updates to reclaimPolicy are forbidden."),
        ] {
            if get(new, &[f]) != get(old, &[f]) {
                out.push(FieldError::forbidden(f, msg));
            }
        }
        immutable(
            get(new, &["volumeBindingMode"]),
            get(old, &["volumeBindingMode"]),
            "volumeBindingMode",
            &mut out,
        );
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col(
                "Provisioner",
                "provisioner indicates the type of the provisioner.",
            ),
            col(
                "ReclaimPolicy",
                "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.",
            ),
            col(
                "VolumeBindingMode",
                "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.",
            ),
            col(
                "AllowVolumeExpansion",
                "allowVolumeExpansion shows whether the storage class allow volume expand.",
            ),
            AGE_COLUMN,
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let mut name = get_str(obj, &["metadata", "name"])
            .unwrap_or("")
            .to_string();
        let annotations = get(obj, &["metadata", "annotations"]);
        let is_default = [
            "storageclass.kubernetes.io/is-default-class",
            "storageclass.beta.kubernetes.io/is-default-class",
        ]
        .iter()
        .any(|k| annotations.and_then(|a| a.get(*k)).and_then(Value::as_str) == Some("true"));
        if is_default {
            name.push_str(" (default)");
        }
        vec![
            Value::from(name),
            Value::from(get_str(obj, &["provisioner"]).unwrap_or("")),
            Value::from(get_str(obj, &["reclaimPolicy"]).unwrap_or("Delete")),
            Value::from(get_str(obj, &["volumeBindingMode"]).unwrap_or("Immediate")),
            Value::from(
                get(obj, &["allowVolumeExpansion"])
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            ),
            age_cell(obj),
        ]
    }
}

/// PriorityClass: cluster-scoped; preemptionPolicy PreemptLowerPriority;
/// value and preemptionPolicy immutable.
pub struct PriorityClassRules;

const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;

impl TypeRules for PriorityClassRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        false
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            set_default(m, "preemptionPolicy", json!("PreemptLowerPriority"));
            set_default(m, "value", json!(0));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let name = get_str(obj, &["metadata", "name"]).unwrap_or("");
        let system = ["system-node-critical", "system-cluster-critical"].contains(&name);
        if name.starts_with("system-") && !system {
            out.push(FieldError::invalid(
                "metadata.name",
                name,
                "priority class names with 'system-' prefix are reserved",
            ));
        }
        let value = get(obj, &["value"]).and_then(Value::as_i64).unwrap_or(0);
        if value > HIGHEST_USER_PRIORITY && !system {
            out.push(FieldError::forbidden(
                "value",
                format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"
                ),
            ));
        }
        const POLICIES: &[&str] = &["Never", "PreemptLowerPriority"];
        let p = get_str(obj, &["preemptionPolicy"]).unwrap_or("");
        if !POLICIES.contains(&p) {
            out.push(FieldError::not_supported("preemptionPolicy", p, POLICIES));
        }
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        if get(new, &["value"]) != get(old, &["value"]) {
            out.push(FieldError::forbidden(
                "value",
                "may not be changed in an update.",
            ));
        }
        immutable(
            get(new, &["preemptionPolicy"]),
            get(old, &["preemptionPolicy"]),
            "preemptionPolicy",
            &mut out,
        );
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            typed_col(
                "Value",
                "integer",
                "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.",
            ),
            typed_col(
                "Global-Default",
                "boolean",
                "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.",
            ),
            AGE_COLUMN,
            col(
                "PreemptionPolicy",
                "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
            ),
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![
            name_cell(obj),
            Value::from(get(obj, &["value"]).and_then(Value::as_i64).unwrap_or(0)),
            Value::from(
                get(obj, &["globalDefault"])
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            ),
            age_cell(obj),
            Value::from(get_str(obj, &["preemptionPolicy"]).unwrap_or("")),
        ]
    }
}

/// EndpointSlice: addressType required and immutable, port protocols TCP.
pub struct EndpointSliceRules;

impl TypeRules for EndpointSliceRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            default_port_protocols(m, "ports");
            for p in super::podspec::each_item(m, "ports") {
                if !p.contains_key("name") {
                    p.insert("name".into(), json!(""));
                }
            }
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        const TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
        let t = get_str(obj, &["addressType"]).unwrap_or("");
        if t.is_empty() {
            out.push(FieldError::required("addressType", ""));
        } else if !TYPES.contains(&t) {
            out.push(FieldError::not_supported("addressType", t, TYPES));
        }
        let endpoints = get(obj, &["endpoints"]).and_then(Value::as_array);
        for (i, e) in endpoints.into_iter().flatten().enumerate() {
            let addrs = get(e, &["addresses"]).and_then(Value::as_array);
            match addrs {
                None => out.push(FieldError::required(
                    format!("endpoints[{i}].addresses"),
                    "must contain at least 1 address",
                )),
                Some(a) if a.is_empty() => out.push(FieldError::required(
                    format!("endpoints[{i}].addresses"),
                    "must contain at least 1 address",
                )),
                Some(a) if a.len() > 100 => {
                    out.push(FieldError::too_many(
                        format!("endpoints[{i}].addresses"),
                        a.len(),
                        100,
                    ));
                }
                Some(a) => {
                    for (j, addr) in a.iter().enumerate() {
                        let s = addr.as_str().unwrap_or("");
                        let ok = match t {
                            "IPv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
                            "IPv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
                            _ => crate::validation::is_dns1123_subdomain(s).is_empty(),
                        };
                        if !ok {
                            out.push(FieldError::invalid(
                                format!("endpoints[{i}].addresses[{j}]"),
                                s,
                                "must be a valid address",
                            ));
                        }
                    }
                }
            }
        }
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        immutable(
            get(new, &["addressType"]),
            get(old, &["addressType"]),
            "addressType",
            &mut out,
        );
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col(
                "AddressType",
                "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name. (Deprecated) The EndpointSlice controller only generates, and kube-proxy only processes, slices of addressType \"IPv4\" and \"IPv6\". No semantics are defined for the \"FQDN\" type.",
            ),
            col(
                "Ports",
                "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. Each slice may include a maximum of 100 ports. Services always have at least 1 port, so EndpointSlices generated by the EndpointSlice controller will likewise always have at least 1 port. EndpointSlices used for other purposes may have an empty ports list.",
            ),
            col(
                "Endpoints",
                "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.",
            ),
            AGE_COLUMN,
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let ports: Vec<String> = get(obj, &["ports"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| match get(p, &["port"]).and_then(Value::as_i64) {
                Some(n) => n.to_string(),
                None => "<unset>".to_string(),
            })
            .collect();
        let addrs: Vec<&str> = get(obj, &["endpoints"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|e| {
                get(e, &["addresses"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
            })
            .collect();
        let join = |items: &[&str]| {
            if items.is_empty() {
                "<unset>".to_string()
            } else if items.len() > 3 {
                format!("{} + {} more...", items[..3].join(","), items.len() - 3)
            } else {
                items.join(",")
            }
        };
        let ports_ref: Vec<&str> = ports.iter().map(String::as_str).collect();
        vec![
            name_cell(obj),
            Value::from(get_str(obj, &["addressType"]).unwrap_or("")),
            Value::from(join(&ports_ref)),
            Value::from(join(&addrs)),
            age_cell(obj),
        ]
    }
}
