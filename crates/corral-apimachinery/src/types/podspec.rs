//! core/v1 PodSpec and PodTemplateSpec: upstream's scheme defaulting
//! (`SetDefaults_PodSpec`, `SetDefaults_Container`, ...) and the important
//! parts of `ValidatePodSpec`, shared by Pods, PodTemplates and the pod
//! templates of every workload controller. Also small helpers the workload
//! types share (selectors, container/image columns).

use crate::labels::Selector;
use crate::util::{get, get_str, is_zero};
use crate::validation::{FieldError, is_dns1123_label, validate_label_selector, validate_labels};
use serde_json::{Map, Value, json};

/// Sets `key` when absent or null (upstream: a nil pointer or nil struct).
pub(crate) fn set_default(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.into(), v);
    }
}

/// Sets a string `key` when absent, null or "" (upstream: `== ""`).
pub(crate) fn set_default_str(m: &mut Map<String, Value>, key: &str, v: &str) {
    if is_zero(m.get(key)) {
        m.insert(key.into(), Value::from(v));
    }
}

/// The object at `path` without creating anything.
pub(crate) fn obj_at<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for k in path {
        cur = cur.as_object_mut()?.get_mut(*k)?;
    }
    cur.as_object_mut()
}

/// Every object in the array `key` of `m`.
pub(crate) fn each_item<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// Upstream `SetDefaults_ContainerPort` etc.: `protocol: TCP` on each port
/// of the list `key`.
pub(crate) fn default_port_protocols(m: &mut Map<String, Value>, key: &str) {
    for p in each_item(m, key) {
        set_default_str(p, "protocol", "TCP");
    }
}

/// The tag of an image reference as docker's parser reads it: "" when the
/// reference carries a digest, "latest" when it carries neither.
pub(crate) fn image_tag(image: &str) -> String {
    if image.contains('@') {
        return String::new();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => tag.to_string(),
        None => "latest".to_string(),
    }
}

fn default_probe(p: &mut Map<String, Value>) {
    set_default(p, "timeoutSeconds", json!(1));
    set_default(p, "periodSeconds", json!(10));
    set_default(p, "successThreshold", json!(1));
    set_default(p, "failureThreshold", json!(3));
    default_handler(p);
}

/// `SetDefaults_HTTPGetAction` inside a probe or lifecycle handler.
fn default_handler(h: &mut Map<String, Value>) {
    if let Some(Value::Object(g)) = h.get_mut("httpGet") {
        set_default_str(g, "path", "/");
        set_default_str(g, "scheme", "HTTP");
    }
}

fn default_field_ref(m: &mut Map<String, Value>) {
    if let Some(Value::Object(f)) = m.get_mut("fieldRef") {
        set_default_str(f, "apiVersion", "v1");
    }
}

/// `SetDefaults_Container` and the defaulters of its parts.
pub(crate) fn default_container(c: &mut Map<String, Value>) {
    set_default_str(c, "terminationMessagePath", "/dev/termination-log");
    set_default_str(c, "terminationMessagePolicy", "File");
    if is_zero(c.get("imagePullPolicy")) {
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        let policy = if image_tag(image) == "latest" {
            "Always"
        } else {
            "IfNotPresent"
        };
        c.insert("imagePullPolicy".into(), Value::from(policy));
    }
    // Go serializes the (non-pointer) ResourceRequirements struct always.
    set_default(c, "resources", json!({}));
    default_port_protocols(c, "ports");
    for e in each_item(c, "env") {
        if let Some(Value::Object(vf)) = e.get_mut("valueFrom") {
            default_field_ref(vf);
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(Value::Object(p)) = c.get_mut(probe) {
            default_probe(p);
        }
    }
    if let Some(Value::Object(l)) = c.get_mut("lifecycle") {
        for h in ["postStart", "preStop"] {
            if let Some(Value::Object(h)) = l.get_mut(h) {
                default_handler(h);
            }
        }
    }
}

/// `SetDefaults_Volume` and the volume sources' defaulters.
fn default_volume(v: &mut Map<String, Value>) {
    if v.keys().all(|k| k == "name") {
        v.insert("emptyDir".into(), json!({}));
    }
    for src in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(Value::Object(s)) = v.get_mut(src) {
            set_default(s, "defaultMode", json!(420));
        }
    }
    if let Some(Value::Object(h)) = v.get_mut("hostPath") {
        set_default(h, "type", json!(""));
    }
    if let Some(Value::Object(d)) = v.get_mut("downwardAPI") {
        for item in each_item(d, "items") {
            default_field_ref(item);
        }
    }
}

/// `SetDefaults_PodSpec` plus the nested defaulters (containers, volumes).
pub(crate) fn default_pod_spec(spec: &mut Map<String, Value>) {
    set_default_str(spec, "dnsPolicy", "ClusterFirst");
    set_default_str(spec, "restartPolicy", "Always");
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default_str(spec, "schedulerName", "default-scheduler");
    let host_network = spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    for key in ["initContainers", "containers", "ephemeralContainers"] {
        for c in each_item(spec, key) {
            default_container(c);
            if host_network {
                // DefaultHostNetworkHostPortsInPodTemplates: hostPort = containerPort.
                for p in each_item(c, "ports") {
                    if is_zero(p.get("hostPort"))
                        && let Some(cp) = p.get("containerPort").cloned()
                    {
                        p.insert("hostPort".into(), cp);
                    }
                }
            }
        }
    }
    for v in each_item(spec, "volumes") {
        default_volume(v);
    }
}

/// Defaults of a PodTemplateSpec at `path` inside `obj` (nothing when absent).
pub(crate) fn default_template_at(obj: &mut Value, path: &[&str]) {
    if let Some(spec) = obj_at(obj, path).and_then(|t| t.get_mut("spec")?.as_object_mut()) {
        default_pod_spec(spec);
    }
}

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];
pub(crate) const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
pub(crate) const PORT_RANGE: &str = "must be between 1 and 65535, inclusive";

fn validate_name_list(
    items: &[Value],
    path: &str,
    seen: &mut Vec<String>,
    out: &mut Vec<FieldError>,
) {
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}].name");
        let name = get_str(item, &["name"]).unwrap_or("");
        if name.is_empty() {
            out.push(FieldError::required(p, ""));
            continue;
        }
        for msg in is_dns1123_label(name) {
            out.push(FieldError::invalid(p.as_str(), name, msg));
        }
        if seen.iter().any(|s| s == name) {
            out.push(FieldError::duplicate(p, name));
        } else {
            seen.push(name.to_string());
        }
    }
}

fn validate_containers(items: &[Value], path: &str, out: &mut Vec<FieldError>) {
    for (i, c) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let image = get_str(c, &["image"]).unwrap_or("");
        if image.is_empty() {
            out.push(FieldError::required(format!("{p}.image"), ""));
        } else if image.trim() != image {
            out.push(FieldError::invalid(
                format!("{p}.image"),
                image,
                "must not have leading or trailing whitespace",
            ));
        }
        if let Some(v) = get_str(c, &["imagePullPolicy"])
            && !PULL_POLICIES.contains(&v)
        {
            out.push(FieldError::not_supported(
                format!("{p}.imagePullPolicy"),
                v,
                PULL_POLICIES,
            ));
        }
        if let Some(v) = get_str(c, &["terminationMessagePolicy"])
            && !MESSAGE_POLICIES.contains(&v)
        {
            out.push(FieldError::not_supported(
                format!("{p}.terminationMessagePolicy"),
                v,
                MESSAGE_POLICIES,
            ));
        }
        let ports = get(c, &["ports"]).and_then(Value::as_array);
        for (j, port) in ports.into_iter().flatten().enumerate() {
            let pp = format!("{p}.ports[{j}]");
            match get(port, &["containerPort"]).and_then(Value::as_i64) {
                None | Some(0) => out.push(FieldError::required(format!("{pp}.containerPort"), "")),
                Some(n) if !(1..=65535).contains(&n) => {
                    out.push(FieldError::invalid(
                        format!("{pp}.containerPort"),
                        n,
                        PORT_RANGE,
                    ));
                }
                _ => {}
            }
            if let Some(n) = get(port, &["hostPort"]).and_then(Value::as_i64)
                && n != 0
                && !(1..=65535).contains(&n)
            {
                out.push(FieldError::invalid(format!("{pp}.hostPort"), n, PORT_RANGE));
            }
            match get_str(port, &["protocol"]) {
                None | Some("") => out.push(FieldError::required(format!("{pp}.protocol"), "")),
                Some(proto) if !PROTOCOLS.contains(&proto) => out.push(FieldError::not_supported(
                    format!("{pp}.protocol"),
                    proto,
                    PROTOCOLS,
                )),
                _ => {}
            }
        }
    }
}

/// The important parts of `ValidatePodSpec` at `path` ("spec", "spec.template.spec").
pub(crate) fn validate_pod_spec(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    let mut volume_names = Vec::new();
    if let Some(vols) = get(spec, &["volumes"]).and_then(Value::as_array) {
        validate_name_list(
            vols,
            &format!("{path}.volumes"),
            &mut volume_names,
            &mut out,
        );
    }
    let containers = get(spec, &["containers"])
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let init = get(spec, &["initContainers"])
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut names = Vec::new();
    validate_name_list(
        init,
        &format!("{path}.initContainers"),
        &mut names,
        &mut out,
    );
    validate_containers(init, &format!("{path}.initContainers"), &mut out);
    if containers.is_empty() {
        out.push(FieldError::required(format!("{path}.containers"), ""));
    }
    validate_name_list(
        containers,
        &format!("{path}.containers"),
        &mut names,
        &mut out,
    );
    validate_containers(containers, &format!("{path}.containers"), &mut out);
    match get_str(spec, &["restartPolicy"]) {
        None | Some("") => out.push(FieldError::required(format!("{path}.restartPolicy"), "")),
        Some(r) if !RESTART_POLICIES.contains(&r) => out.push(FieldError::not_supported(
            format!("{path}.restartPolicy"),
            r,
            RESTART_POLICIES,
        )),
        _ => {}
    }
    match get_str(spec, &["dnsPolicy"]) {
        None | Some("") => out.push(FieldError::required(format!("{path}.dnsPolicy"), "")),
        Some(r) if !DNS_POLICIES.contains(&r) => out.push(FieldError::not_supported(
            format!("{path}.dnsPolicy"),
            r,
            DNS_POLICIES,
        )),
        _ => {}
    }
    if let Some(n) = get(spec, &["terminationGracePeriodSeconds"]).and_then(Value::as_i64)
        && n < 0
    {
        // Upstream tolerates negative values on existing objects only.
        out.push(FieldError::invalid(
            format!("{path}.terminationGracePeriodSeconds"),
            n,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(n) = get(spec, &["activeDeadlineSeconds"]).and_then(Value::as_i64)
        && n < 1
    {
        out.push(FieldError::invalid(
            format!("{path}.activeDeadlineSeconds"),
            n,
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    if let Some(node_selector) = get(spec, &["nodeSelector"]) {
        out.extend(validate_labels(
            Some(node_selector),
            &format!("{path}.nodeSelector"),
        ));
    }
    out
}

/// `ValidatePodTemplateSpec` at `path` ("spec.template"): labels and spec.
pub(crate) fn validate_template(template: Option<&Value>, path: &str) -> Vec<FieldError> {
    let t = template.unwrap_or(&Value::Null);
    let mut out = validate_labels(
        get(t, &["metadata", "labels"]),
        &format!("{path}.metadata.labels"),
    );
    out.extend(validate_pod_spec(
        get(t, &["spec"]).unwrap_or(&Value::Null),
        &format!("{path}.spec"),
    ));
    out
}

/// A controller's `spec.selector` (required, non-empty, valid) and its
/// `spec.template.metadata.labels` matching it, as the apps/batch
/// validators check them. `kind_word` is upstream's "deployment", ...
pub(crate) fn validate_selector_and_template(
    spec: &Value,
    kind_word: &str,
    out: &mut Vec<FieldError>,
) {
    let selector = get(spec, &["selector"]);
    match selector {
        None | Some(Value::Null) => out.push(FieldError::required("spec.selector", "")),
        Some(sel) => {
            out.extend(validate_label_selector(sel, "spec.selector"));
            let parsed = Selector::from_label_selector(sel);
            match parsed {
                Ok(s) if s.is_empty() => out.push(FieldError::invalid(
                    "spec.selector",
                    sel.clone(),
                    format!("empty selector is invalid for {kind_word}"),
                )),
                Ok(s) => {
                    let labels = get(spec, &["template", "metadata", "labels"]);
                    if !s.matches(labels.and_then(Value::as_object)) {
                        out.push(FieldError::invalid(
                            "spec.template.metadata.labels",
                            labels.cloned().unwrap_or(json!({})),
                            "`selector` does not match template `labels`",
                        ));
                    }
                }
                Err(_) => {}
            }
        }
    }
}

/// A priority-0 column of another OpenAPI type ("integer", "boolean").
pub(crate) const fn typed_col(
    name: &'static str,
    type_: &'static str,
    description: &'static str,
) -> crate::table::Column {
    crate::table::Column {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

/// `metav1.FormatLabelSelector`: "<none>" for an empty or absent selector.
pub(crate) fn format_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|s| !s.is_null()) else {
        return "<none>".into();
    };
    match Selector::from_label_selector(sel) {
        Ok(s) if s.is_empty() => "<none>".into(),
        Ok(s) => s.to_string(),
        Err(_) => "<error>".into(),
    }
}

/// `labels.FormatLabels` / `SelectorFromSet(...).String()` of a string map.
pub(crate) fn format_labels(m: Option<&Value>) -> String {
    let Some(m) = m.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "<none>".into();
    };
    let mut pairs: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// The CONTAINERS and IMAGES cells of a pod template's spec.
pub(crate) fn containers_and_images(pod_spec: Option<&Value>) -> (String, String) {
    let containers = pod_spec
        .and_then(|s| get(s, &["containers"]))
        .and_then(Value::as_array);
    let mut names = Vec::new();
    let mut images = Vec::new();
    for c in containers.into_iter().flatten() {
        names.push(get_str(c, &["name"]).unwrap_or("").to_string());
        images.push(get_str(c, &["image"]).unwrap_or("").to_string());
    }
    (names.join(","), images.join(","))
}

/// An integer field as a cell (0 when absent), as Go's int32 fields print.
pub(crate) fn int_cell(obj: &Value, path: &[&str]) -> Value {
    Value::from(get(obj, path).and_then(Value::as_i64).unwrap_or(0))
}

/// `replicas` must be >= 0 (`ValidateNonnegativeField`).
pub(crate) fn non_negative(obj: &Value, path: &[&str], out: &mut Vec<FieldError>) {
    if let Some(n) = get(obj, path).and_then(Value::as_i64)
        && n < 0
    {
        out.push(FieldError::invalid(
            path.join("."),
            n,
            "must be greater than or equal to 0",
        ));
    }
}

/// `<path>.spec.restartPolicy` of a pod template must be one of `allowed`.
pub(crate) fn template_restart_policy(
    template: Option<&Value>,
    path: &str,
    allowed: &[&str],
    out: &mut Vec<FieldError>,
) {
    let path = format!("{path}.spec.restartPolicy");
    match template.and_then(|t| get_str(t, &["spec", "restartPolicy"])) {
        Some(r) if allowed.contains(&r) => {}
        Some(r) if !r.is_empty() => out.push(FieldError::not_supported(path, r, allowed)),
        _ => {
            let quoted: Vec<String> = allowed.iter().map(|a| crate::util::go_quote(a)).collect();
            out.push(FieldError::required(
                path,
                format!("valid values: {}", quoted.join(", ")),
            ));
        }
    }
}
