//! networking.k8s.io/v1 NetworkPolicy, Ingress and IngressClass.

use super::podspec::{
    PORT_RANGE, default_port_protocols, each_item, format_selector, obj_at, set_default,
};
use super::{TypeRules, col};
use crate::table::{AGE_COLUMN, Column, NAME_COLUMN, since_cell};
use crate::util::{get, get_str};
use crate::validation::{
    FieldError, NameRule, immutable, is_dns1123_subdomain, validate_label_selector,
};
use serde_json::{Value, json};

fn name_cell(obj: &Value) -> Value {
    Value::from(get_str(obj, &["metadata", "name"]).unwrap_or(""))
}

fn age_cell(obj: &Value) -> Value {
    since_cell(get_str(obj, &["metadata", "creationTimestamp"]))
}

/// NetworkPolicy: `policyTypes` default (Ingress, plus Egress when egress
/// rules exist), port protocols TCP; POD-SELECTOR column.
pub struct NetworkPolicyRules;

impl TypeRules for NetworkPolicyRules {
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
        set_default(spec, "podSelector", json!({}));
        for key in ["ingress", "egress"] {
            for rule in each_item(spec, key) {
                default_port_protocols(rule, "ports");
            }
        }
        let empty = spec
            .get("policyTypes")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if empty {
            let has_egress = spec
                .get("egress")
                .and_then(Value::as_array)
                .is_some_and(|e| !e.is_empty());
            let types = if has_egress {
                json!(["Ingress", "Egress"])
            } else {
                json!(["Ingress"])
            };
            spec.insert("policyTypes".into(), types);
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let spec = get(obj, &["spec"]).unwrap_or(&Value::Null);
        if let Some(sel) = get(spec, &["podSelector"]) {
            out.extend(validate_label_selector(sel, "spec.podSelector"));
        }
        const TYPES: &[&str] = &["Egress", "Ingress"];
        let types = get(spec, &["policyTypes"]).and_then(Value::as_array);
        for (i, t) in types.into_iter().flatten().enumerate() {
            let t = t.as_str().unwrap_or("");
            if !TYPES.contains(&t) {
                out.push(FieldError::not_supported(
                    format!("spec.policyTypes[{i}]"),
                    t,
                    TYPES,
                ));
            }
        }
        for (key, peers) in [("ingress", "from"), ("egress", "to")] {
            let rules = get(spec, &[key]).and_then(Value::as_array);
            for (i, rule) in rules.into_iter().flatten().enumerate() {
                let ports = get(rule, &["ports"]).and_then(Value::as_array);
                for (j, p) in ports.into_iter().flatten().enumerate() {
                    if let Some(n) = get(p, &["port"]).and_then(Value::as_i64)
                        && !(1..=65535).contains(&n)
                    {
                        out.push(FieldError::invalid(
                            format!("spec.{key}[{i}].ports[{j}].port"),
                            n,
                            PORT_RANGE,
                        ));
                    }
                }
                let list = get(rule, &[peers]).and_then(Value::as_array);
                for (j, peer) in list.into_iter().flatten().enumerate() {
                    for sel in ["podSelector", "namespaceSelector"] {
                        if let Some(s) = get(peer, &[sel]) {
                            out.extend(validate_label_selector(
                                s,
                                &format!("spec.{key}[{i}].{peers}[{j}].{sel}"),
                            ));
                        }
                    }
                }
            }
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[col(
            "Pod-Selector",
            "podSelector selects the pods to which this NetworkPolicy object applies. The array of rules is applied to any pods selected by this field. An empty selector matches all pods in the policy's namespace. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is optional. If it is not specified, it defaults to an empty selector.",
        )];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![Value::from(format_selector(get(
            obj,
            &["spec", "podSelector"],
        )))]
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

fn validate_backend(b: &Value, path: &str, out: &mut Vec<FieldError>) {
    let service = get(b, &["service"]).filter(|v| !v.is_null());
    let resource = get(b, &["resource"]).filter(|v| !v.is_null());
    match (service, resource) {
        (Some(_), Some(_)) => out.push(FieldError::invalid(
            path,
            "",
            "cannot set both resource and service backends",
        )),
        (None, None) => out.push(FieldError::invalid(
            path,
            "",
            "resource or service backend is required",
        )),
        (Some(s), None) => {
            let name = get_str(s, &["name"]).unwrap_or("");
            if name.is_empty() {
                out.push(FieldError::required(format!("{path}.service.name"), ""));
            }
            let number = get(s, &["port", "number"]).and_then(Value::as_i64);
            let pname = get_str(s, &["port", "name"]).unwrap_or("");
            match (number, pname.is_empty()) {
                (Some(_), false) => out.push(FieldError::invalid(
                    format!("{path}.service.port"),
                    "",
                    "cannot set both port name & port number",
                )),
                (None, true) => out.push(FieldError::invalid(
                    format!("{path}.service.port"),
                    "",
                    "port name or number is required",
                )),
                (Some(n), true) if !(1..=65535).contains(&n) => out.push(FieldError::invalid(
                    format!("{path}.service.port.number"),
                    n,
                    PORT_RANGE,
                )),
                _ => {}
            }
        }
        (None, Some(_)) => {}
    }
}

/// Ingress: path types and backends validated; `status.loadBalancer: {}`;
/// CLASS / HOSTS / ADDRESS / PORTS columns.
pub struct IngressRules;

impl TypeRules for IngressRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn default_on_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"loadBalancer": {}}));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let spec = get(obj, &["spec"]).unwrap_or(&Value::Null);
        let rules = get(spec, &["rules"]).and_then(Value::as_array);
        let default_backend = get(spec, &["defaultBackend"]).filter(|v| !v.is_null());
        if rules.is_none_or(Vec::is_empty) && default_backend.is_none() {
            out.push(FieldError::invalid(
                "spec.rules",
                json!([]),
                "either `defaultBackend` or `rules` must be specified",
            ));
        }
        if let Some(b) = default_backend {
            validate_backend(b, "spec.defaultBackend", &mut out);
        }
        for (i, rule) in rules.into_iter().flatten().enumerate() {
            let host = get_str(rule, &["host"]).unwrap_or("");
            if !host.is_empty() {
                let check = host.strip_prefix("*.").unwrap_or(host);
                for msg in is_dns1123_subdomain(check) {
                    out.push(FieldError::invalid(
                        format!("spec.rules[{i}].host"),
                        host,
                        msg,
                    ));
                }
            }
            let paths = get(rule, &["http", "paths"]).and_then(Value::as_array);
            if get(rule, &["http"]).is_some_and(|h| !h.is_null()) && paths.is_none_or(Vec::is_empty)
            {
                out.push(FieldError::required(
                    format!("spec.rules[{i}].http.paths"),
                    "",
                ));
            }
            for (j, p) in paths.into_iter().flatten().enumerate() {
                let pp = format!("spec.rules[{i}].http.paths[{j}]");
                const TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];
                let path = get_str(p, &["path"]).unwrap_or("");
                match get_str(p, &["pathType"]) {
                    None | Some("") => out.push(FieldError::required(
                        format!("{pp}.pathType"),
                        "pathType must be specified",
                    )),
                    Some(t) if !TYPES.contains(&t) => out.push(FieldError::not_supported(
                        format!("{pp}.pathType"),
                        t,
                        TYPES,
                    )),
                    Some("Exact") | Some("Prefix") if !path.starts_with('/') => {
                        out.push(FieldError::invalid(
                            format!("{pp}.path"),
                            path,
                            "must be an absolute path",
                        ));
                    }
                    _ => {}
                }
                validate_backend(
                    get(p, &["backend"]).unwrap_or(&Value::Null),
                    &format!("{pp}.backend"),
                    &mut out,
                );
            }
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col(
                "Class",
                "The name of the IngressClass resource that should be used for additional configuration",
            ),
            col(
                "Hosts",
                "Hosts that incoming requests are matched against before the ingress rule",
            ),
            col(
                "Address",
                "Address is a list containing ingress points for the load-balancer",
            ),
            col("Ports", "Ports of TLS configurations that open"),
            AGE_COLUMN,
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let class = get_str(obj, &["spec", "ingressClassName"])
            .filter(|s| !s.is_empty())
            .or_else(|| {
                get_str(
                    obj,
                    &["metadata", "annotations", "kubernetes.io/ingress.class"],
                )
            })
            .unwrap_or("<none>");
        let mut hosts: Vec<&str> = Vec::new();
        for r in get(obj, &["spec", "rules"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(h) = get_str(r, &["host"]).filter(|h| !h.is_empty()) {
                hosts.push(h);
            }
        }
        let hosts = if hosts.is_empty() {
            "*".to_string()
        } else if hosts.len() > 3 {
            format!("{} + {} more...", hosts[..3].join(","), hosts.len() - 3)
        } else {
            hosts.join(",")
        };
        let addresses: Vec<&str> = get(obj, &["status", "loadBalancer", "ingress"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| {
                get_str(i, &["ip"])
                    .filter(|s| !s.is_empty())
                    .or_else(|| get_str(i, &["hostname"]))
            })
            .collect();
        let tls = get(obj, &["spec", "tls"])
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty());
        vec![
            name_cell(obj),
            Value::from(class),
            Value::from(hosts),
            Value::from(addresses.join(",")),
            Value::from(if tls { "80, 443" } else { "80" }),
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

/// IngressClass: cluster-scoped; controller required and immutable.
pub struct IngressClassRules;

impl TypeRules for IngressClassRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        false
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let controller = get_str(obj, &["spec", "controller"]).unwrap_or("");
        if controller.is_empty() {
            out.push(FieldError::required("spec.controller", ""));
        } else if controller.len() > 250 {
            out.push(FieldError::too_long("spec.controller", 250));
        }
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        immutable(
            get(new, &["spec", "controller"]),
            get(old, &["spec", "controller"]),
            "spec.controller",
            &mut out,
        );
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            col(
                "Controller",
                "Controller that is responsible for handling this class",
            ),
            col(
                "Parameters",
                "A reference to a resource with additional parameters",
            ),
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let params = match get(obj, &["spec", "parameters"]).filter(|p| p.is_object()) {
            None => "<none>".to_string(),
            Some(p) => {
                let mut s = get_str(p, &["kind"]).unwrap_or("").to_string();
                if let Some(g) = get_str(p, &["apiGroup"]) {
                    s = format!("{s}.{g}");
                }
                format!("{s}/{}", get_str(p, &["name"]).unwrap_or(""))
            }
        };
        vec![
            Value::from(get_str(obj, &["spec", "controller"]).unwrap_or("")),
            Value::from(params),
        ]
    }
}
