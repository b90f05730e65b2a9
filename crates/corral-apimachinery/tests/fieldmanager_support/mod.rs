//! Shared helpers of the `fieldmanager*` tests: fixed times, FieldsV1
//! sets, update options and managedFields entries.

#![allow(dead_code)]

use corral_apimachinery::fieldmanager::{
    FieldSet, ListType, ListTypes, MapType, TypeTable, UpdateOptions,
};
use serde_json::{Value, json};

pub const T0: &str = "2024-05-01T10:00:00Z";
pub const T1: &str = "2024-05-01T11:00:00Z";
pub const T2: &str = "2024-05-01T12:00:00Z";

pub fn set(v: Value) -> FieldSet {
    FieldSet::from_fields_v1(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
}

pub fn paths(s: &FieldSet) -> Vec<String> {
    s.paths().iter().map(ToString::to_string).collect()
}

pub fn opts<'a>(
    manager: &'a str,
    subresource: Option<&'a str>,
    now: &'a str,
    types: &'a dyn ListTypes,
    ignored: &'a FieldSet,
) -> UpdateOptions<'a> {
    UpdateOptions {
        manager,
        subresource,
        api_version: "v1",
        now,
        types,
        ignored,
        zero_object: None,
    }
}

pub fn managed(obj: &Value) -> Value {
    obj["metadata"]["managedFields"].clone()
}

pub fn entry(manager: &str, time: &str, fields: Value) -> Value {
    json!({"manager": manager, "operation": "Update", "apiVersion": "v1", "time": time,
           "fieldsType": "FieldsV1", "fieldsV1": fields})
}

pub fn deployment_types() -> TypeTable {
    TypeTable::new()
        .list("spec.template.spec.containers", ListType::map(&["name"]))
        .list(
            "spec.template.spec.containers[].env",
            ListType::map(&["name"]),
        )
        .list(
            "spec.template.spec.containers[].ports",
            ListType::map(&["containerPort", "protocol"]),
        )
        .list("status.conditions", ListType::map(&["type"]))
        .map("spec.selector", MapType::Atomic)
        .map("data", MapType::Elements)
}

/// Real fieldsV1 documents as kube-apiserver writes them (kubectl create
/// configmap / deployment, the deployment controller's status update, a
/// Service, finalizers), byte for byte.
pub const REAL_FIELDS_V1: &[&str] = &[
    r#"{"f:data":{".":{},"f:a":{}}}"#,
    r#"{"f:data":{"f:key":{}},"f:metadata":{"f:labels":{"f:test-label":{}}}}"#,
    r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}}"#,
    r#"{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}},"f:status":{"f:availableReplicas":{},"f:conditions":{".":{},"k:{\"type\":\"Available\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Progressing\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:observedGeneration":{},"f:readyReplicas":{},"f:replicas":{},"f:updatedReplicas":{}}}"#,
    r#"{"f:spec":{"f:ports":{".":{},"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:type":{}}}"#,
    r#"{"f:metadata":{"f:finalizers":{".":{},"v:\"example.com/a\"":{},"v:\"kubernetes\"":{}}}}"#,
    r#"{"f:spec":{"f:containers":{"k:{\"name\":\"a\"}":{"f:args":{},"f:env":{"k:{\"name\":\"X\"}":{".":{},"f:name":{},"f:value":{}}}}}}}"#,
];
