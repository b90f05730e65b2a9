//! core/v1 Service and Endpoints.
//!
//! ClusterIP and NodePort allocation is not done here (it needs state): the
//! API server's allocator fills `spec.clusterIP(s)` and `nodePort`s; these
//! rules default and validate what the client sent and keep allocated
//! values across updates as upstream's `patchAllocatedValues` does.

use super::podspec::{
    PORT_RANGE, PROTOCOLS, default_port_protocols, each_item, obj_at, set_default, set_default_str,
};
use super::{TypeRules, col, meta_field_value, wide};
use crate::table::{AGE_COLUMN, Column, NAME_COLUMN, since_cell};
use crate::util::{get, get_str, is_zero};
use crate::validation::{FieldError, NameRule, is_dns1123_label, validate_labels};
use serde_json::{Value, json};

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const AFFINITIES: &[&str] = &["ClientIP", "None"];
const TRAFFIC_POLICIES: &[&str] = &["Cluster", "Local"];

/// Service: `SetDefaults_Service`, IP family fields as the REST storage
/// sets them on single-stack IPv4 clusters, `status.loadBalancer: {}`.
pub struct ServiceRules;

/// Whether a Service of this spec gets a cluster IP (not ExternalName).
pub fn needs_cluster_ip(obj: &Value) -> bool {
    get_str(obj, &["spec", "type"]).unwrap_or("ClusterIP") != "ExternalName"
}

/// Whether a Service of this spec gets node ports (NodePort, LoadBalancer
/// unless `allocateLoadBalancerNodePorts: false`).
pub fn needs_node_ports(obj: &Value) -> bool {
    match get_str(obj, &["spec", "type"]) {
        Some("NodePort") => true,
        Some("LoadBalancer") => {
            get(obj, &["spec", "allocateLoadBalancerNodePorts"]).and_then(Value::as_bool)
                != Some(false)
        }
        _ => false,
    }
}

fn family_of(ip: &str) -> &'static str {
    if ip.contains(':') { "IPv6" } else { "IPv4" }
}

impl TypeRules for ServiceRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Label
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        let Some(spec) = obj_at(obj, &["spec"]) else {
            return;
        };
        set_default_str(spec, "sessionAffinity", "None");
        if spec.get("sessionAffinity").and_then(Value::as_str) == Some("ClientIP") {
            set_default(
                spec,
                "sessionAffinityConfig",
                json!({"clientIP": {"timeoutSeconds": 10800}}),
            );
        }
        set_default_str(spec, "type", "ClusterIP");
        let ty = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for p in each_item(spec, "ports") {
            set_default_str(p, "protocol", "TCP");
            let target_zero = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if target_zero && let Some(port) = p.get("port").cloned() {
                p.insert("targetPort".into(), port);
            }
        }
        if ty == "NodePort" || ty == "LoadBalancer" {
            set_default_str(spec, "externalTrafficPolicy", "Cluster");
        }
        if ty != "ExternalName" {
            set_default(spec, "internalTrafficPolicy", json!("Cluster"));
        }
        if ty == "LoadBalancer" {
            set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
        }
    }

    /// Defaults, the IP family fields (`SingleStack`, the family of the
    /// cluster IP or IPv4), `clusterIPs` from `clusterIP`, and
    /// `status: {loadBalancer: {}}`.
    fn default_on_create(&self, obj: &mut Value) {
        self.apply_defaults(obj);
        if needs_cluster_ip(obj)
            && let Some(spec) = obj_at(obj, &["spec"])
        {
            let ip = spec
                .get("clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !ip.is_empty() && is_zero(spec.get("clusterIPs")) {
                spec.insert("clusterIPs".into(), json!([ip]));
            }
            if ip.is_empty()
                && let Some(first) = spec
                    .get("clusterIPs")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .cloned()
            {
                spec.insert("clusterIP".into(), first);
            }
            set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
            let family = if ip.is_empty() || ip == "None" {
                "IPv4"
            } else {
                family_of(&ip)
            };
            if is_zero(spec.get("ipFamilies")) {
                spec.insert("ipFamilies".into(), json!([family]));
            }
        }
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"loadBalancer": {}}));
        }
    }

    /// Defaults, then `patchAllocatedValues`: a client that leaves out
    /// the allocated cluster IPs, IP families or node ports keeps them.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        self.apply_defaults(new);
        if needs_cluster_ip(old) && needs_cluster_ip(new) {
            let old_spec = get(old, &["spec"]).cloned().unwrap_or(Value::Null);
            if let Some(spec) = obj_at(new, &["spec"]) {
                if is_zero(spec.get("clusterIP")) {
                    for k in ["clusterIP", "clusterIPs"] {
                        if let Some(v) = old_spec.get(k) {
                            spec.insert(k.into(), v.clone());
                        }
                    }
                }
                for k in ["ipFamilies", "ipFamilyPolicy"] {
                    if is_zero(spec.get(k))
                        && let Some(v) = old_spec.get(k)
                    {
                        spec.insert(k.into(), v.clone());
                    }
                }
            }
        }
        if needs_node_ports(old) && needs_node_ports(new) {
            let old_ports: Vec<Value> = get(old, &["spec", "ports"])
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if let Some(spec) = obj_at(new, &["spec"]) {
                for p in each_item(spec, "ports") {
                    if !is_zero(p.get("nodePort")) {
                        continue;
                    }
                    let same = old_ports.iter().find(|o| {
                        o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol")
                    });
                    if let Some(np) = same.and_then(|o| o.get("nodePort")) {
                        p.insert("nodePort".into(), np.clone());
                    }
                }
            }
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        // Service names are DNS-1035 labels: a DNS-1123 label (checked with
        // the metadata) that starts with a letter.
        let name = get_str(obj, &["metadata", "name"]).unwrap_or("");
        if name.starts_with(|c: char| c.is_ascii_digit()) && is_dns1123_label(name).is_empty() {
            out.push(FieldError::invalid(
                "metadata.name",
                name,
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
            ));
        }
        let spec = get(obj, &["spec"]).unwrap_or(&Value::Null);
        let ty = get_str(spec, &["type"]).unwrap_or("");
        if !TYPES.contains(&ty) {
            out.push(FieldError::not_supported("spec.type", ty, TYPES));
        }
        let cluster_ip = get_str(spec, &["clusterIP"]).unwrap_or("");
        let headless = cluster_ip == "None";
        let ports = get(spec, &["ports"])
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if ty == "ExternalName" {
            let name = get_str(spec, &["externalName"]).unwrap_or("");
            if name.is_empty() {
                out.push(FieldError::required("spec.externalName", ""));
            }
            if !cluster_ip.is_empty() {
                out.push(FieldError::forbidden(
                    "spec.clusterIP",
                    "may not be set for ExternalName services",
                ));
            }
        } else if ports.is_empty() && !headless {
            out.push(FieldError::required("spec.ports", ""));
        }
        if headless && (ty == "NodePort" || ty == "LoadBalancer") {
            out.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                "None",
                format!("may not be set to 'None' for {ty} services"),
            ));
        }
        if !cluster_ip.is_empty() && !headless && cluster_ip.parse::<std::net::IpAddr>().is_err() {
            out.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                cluster_ip,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let path = format!("spec.ports[{i}]");
            let name = get_str(p, &["name"]).unwrap_or("");
            if ports.len() > 1 && name.is_empty() {
                out.push(FieldError::required(format!("{path}.name"), ""));
            } else if !name.is_empty() {
                for msg in is_dns1123_label(name) {
                    out.push(FieldError::invalid(format!("{path}.name"), name, msg));
                }
                if names.contains(&name) {
                    out.push(FieldError::duplicate(format!("{path}.name"), name));
                }
                names.push(name);
            }
            match get(p, &["port"]).and_then(Value::as_i64) {
                Some(n) if (1..=65535).contains(&n) => {}
                Some(n) => out.push(FieldError::invalid(format!("{path}.port"), n, PORT_RANGE)),
                None => out.push(FieldError::invalid(format!("{path}.port"), 0, PORT_RANGE)),
            }
            let proto = get_str(p, &["protocol"]).unwrap_or("");
            if !PROTOCOLS.contains(&proto) {
                out.push(FieldError::not_supported(
                    format!("{path}.protocol"),
                    proto,
                    PROTOCOLS,
                ));
            }
            if let Some(n) = get(p, &["targetPort"]).and_then(Value::as_i64)
                && !(1..=65535).contains(&n)
            {
                out.push(FieldError::invalid(
                    format!("{path}.targetPort"),
                    n,
                    PORT_RANGE,
                ));
            }
            if let Some(n) = get(p, &["nodePort"]).and_then(Value::as_i64)
                && n != 0
            {
                if ty != "NodePort" && ty != "LoadBalancer" {
                    out.push(FieldError::forbidden(
                        format!("{path}.nodePort"),
                        format!("may not be used when `type` is '{ty}'"),
                    ));
                } else if !(1..=65535).contains(&n) {
                    out.push(FieldError::invalid(
                        format!("{path}.nodePort"),
                        n,
                        PORT_RANGE,
                    ));
                }
            }
        }
        let affinity = get_str(spec, &["sessionAffinity"]).unwrap_or("");
        if !AFFINITIES.contains(&affinity) {
            out.push(FieldError::not_supported(
                "spec.sessionAffinity",
                affinity,
                AFFINITIES,
            ));
        }
        if let Some(p) = get_str(spec, &["externalTrafficPolicy"]).filter(|p| !p.is_empty()) {
            if ty != "NodePort" && ty != "LoadBalancer" {
                out.push(FieldError::invalid(
                    "spec.externalTrafficPolicy",
                    p,
                    "may only be set for externally-accessible services",
                ));
            } else if !TRAFFIC_POLICIES.contains(&p) {
                out.push(FieldError::not_supported(
                    "spec.externalTrafficPolicy",
                    p,
                    TRAFFIC_POLICIES,
                ));
            }
        }
        if let Some(p) = get_str(spec, &["internalTrafficPolicy"])
            && !TRAFFIC_POLICIES.contains(&p)
        {
            out.push(FieldError::not_supported(
                "spec.internalTrafficPolicy",
                p,
                TRAFFIC_POLICIES,
            ));
        }
        out.extend(validate_labels(get(spec, &["selector"]), "spec.selector"));
        out
    }

    /// Create rules, and allocated cluster IPs may not change.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        if needs_cluster_ip(old) && needs_cluster_ip(new) {
            let old_ip = get_str(old, &["spec", "clusterIP"]).unwrap_or("");
            let new_ip = get_str(new, &["spec", "clusterIP"]).unwrap_or("");
            if !old_ip.is_empty() && old_ip != new_ip {
                out.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    new_ip,
                    "may not change once set",
                ));
            }
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col(
                "Type",
                "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.",
            ),
            col(
                "Cluster-IP",
                "clusterIP is the IP address of the service and is usually assigned randomly.",
            ),
            col(
                "External-IP",
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            col(
                "Port(s)",
                "The list of ports that are exposed by this service.",
            ),
            AGE_COLUMN,
            wide(
                "Selector",
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let ty = get_str(obj, &["spec", "type"]).unwrap_or("");
        let cluster_ip = get_str(obj, &["spec", "clusterIP"])
            .filter(|s| !s.is_empty())
            .unwrap_or("<none>");
        vec![
            Value::from(get_str(obj, &["metadata", "name"]).unwrap_or("")),
            Value::from(ty),
            Value::from(cluster_ip),
            Value::from(external_ip(obj, ty)),
            Value::from(service_ports(obj)),
            since_cell(get_str(obj, &["metadata", "creationTimestamp"])),
            Value::from(super::podspec::format_labels(get(
                obj,
                &["spec", "selector"],
            ))),
        ]
    }

    fn has_status_subresource(&self) -> bool {
        true
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["spec.clusterIP", "spec.type"]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "spec.clusterIP" => Some(get_str(obj, &["spec", "clusterIP"]).unwrap_or("").into()),
            "spec.type" => Some(get_str(obj, &["spec", "type"]).unwrap_or("").into()),
            _ => meta_field_value(obj, field),
        }
    }
}

fn strings_at(obj: &Value, path: &[&str]) -> Vec<String> {
    get(obj, path)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Upstream `getServiceExternalIP` (wide = false).
fn external_ip(obj: &Value, ty: &str) -> String {
    let external = strings_at(obj, &["spec", "externalIPs"]);
    match ty {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut ips: Vec<String> = get(obj, &["status", "loadBalancer", "ingress"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    get_str(i, &["ip"])
                        .filter(|s| !s.is_empty())
                        .or_else(|| get_str(i, &["hostname"]))
                        .map(str::to_string)
                })
                .collect();
            ips.extend(external);
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => get_str(obj, &["spec", "externalName"])
            .unwrap_or("")
            .to_string(),
        _ => "<unknown>".into(),
    }
}

/// Upstream `makePortString`: "80/TCP", "80:30080/TCP", joined by ",".
fn service_ports(obj: &Value) -> String {
    let ports = get(obj, &["spec", "ports"]).and_then(Value::as_array);
    let parts: Vec<String> = ports
        .into_iter()
        .flatten()
        .map(|p| {
            let port = get(p, &["port"]).and_then(Value::as_i64).unwrap_or(0);
            let proto = get_str(p, &["protocol"]).unwrap_or("");
            match get(p, &["nodePort"]).and_then(Value::as_i64) {
                Some(np) if np > 0 => format!("{port}:{np}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect();
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

/// Endpoints: `protocol: TCP` on ports; the ENDPOINTS column.
pub struct EndpointsRules;

impl TypeRules for EndpointsRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            for s in each_item(m, "subsets") {
                default_port_protocols(s, "ports");
            }
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let subsets = get(obj, &["subsets"]).and_then(Value::as_array);
        for (i, s) in subsets.into_iter().flatten().enumerate() {
            for key in ["addresses", "notReadyAddresses"] {
                let addrs = get(s, &[key]).and_then(Value::as_array);
                for (j, a) in addrs.into_iter().flatten().enumerate() {
                    let ip = get_str(a, &["ip"]).unwrap_or("");
                    if ip.parse::<std::net::IpAddr>().is_err() {
                        out.push(FieldError::invalid(
                            format!("subsets[{i}].{key}[{j}].ip"),
                            ip,
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        ));
                    }
                }
            }
            let ports = get(s, &["ports"]).and_then(Value::as_array);
            for (j, p) in ports.into_iter().flatten().enumerate() {
                match get(p, &["port"]).and_then(Value::as_i64) {
                    Some(n) if (1..=65535).contains(&n) => {}
                    other => out.push(FieldError::invalid(
                        format!("subsets[{i}].ports[{j}].port"),
                        other.unwrap_or(0),
                        PORT_RANGE,
                    )),
                }
            }
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[col(
            "Endpoints",
            "Endpoints of the service (at most three shown).",
        )];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let mut list = Vec::new();
        let mut count = 0usize;
        let subsets = get(obj, &["subsets"]).and_then(Value::as_array);
        for s in subsets.into_iter().flatten() {
            let addrs = get(s, &["addresses"]).and_then(Value::as_array);
            let ports: Vec<i64> = get(s, &["ports"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| get(p, &["port"]).and_then(Value::as_i64))
                .collect();
            for a in addrs.into_iter().flatten() {
                let ip = get_str(a, &["ip"]).unwrap_or("");
                if ports.is_empty() {
                    count += 1;
                    if list.len() < 3 {
                        list.push(ip.to_string());
                    }
                }
                for p in &ports {
                    count += 1;
                    if list.len() < 3 {
                        list.push(format!("{ip}:{p}"));
                    }
                }
            }
        }
        let mut s = if list.is_empty() {
            "<none>".to_string()
        } else {
            list.join(",")
        };
        if count > list.len() {
            s.push_str(&format!(" + {} more...", count - list.len()));
        }
        vec![Value::from(s)]
    }
}
