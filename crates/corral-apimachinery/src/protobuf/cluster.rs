//! The other kinds kubectl's typed generators send: core/v1 ResourceQuota
//! (`kubectl create quota`), policy/v1 PodDisruptionBudget (`create pdb`),
//! scheduling.k8s.io/v1 PriorityClass (`create priorityclass`) and
//! networking.k8s.io/v1 Ingress (`create ingress`). Field numbers: k8s.io/api
//! core/v1, policy/v1, scheduling/v1 and networking/v1 generated.proto; JSON
//! names and emission: the json tags of the same packages' types.go.
//! PodDisruptionBudget `status.disruptedPods` (a `map<string, Time>`) is not
//! modeled and fails the decode when present.

use super::meta::{LABEL_SELECTOR, OBJECT_META};
use super::schema::{
    BOOL, I32, I64, INT_OR_STR, Message, QTY_MAP, STR, inline, list, list_req, msg, nullable, opt,
    ptr, req, unsupported,
};
use super::workloads::META_CONDITION;

// ---- core/v1 ResourceQuota

pub(crate) static RESOURCE_QUOTA: Message = Message {
    name: "ResourceQuota",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&RESOURCE_QUOTA_SPEC)),
        opt(3, "status", msg(&RESOURCE_QUOTA_STATUS)),
    ],
};

static RESOURCE_QUOTA_SPEC: Message = Message {
    name: "ResourceQuotaSpec",
    fields: &[
        opt(1, "hard", QTY_MAP),
        list(2, "scopes", STR),
        ptr(3, "scopeSelector", msg(&SCOPE_SELECTOR)),
    ],
};

static SCOPE_SELECTOR: Message = Message {
    name: "ScopeSelector",
    fields: &[list(
        1,
        "matchExpressions",
        msg(&SCOPED_RESOURCE_REQUIREMENT),
    )],
};

static SCOPED_RESOURCE_REQUIREMENT: Message = Message {
    name: "ScopedResourceSelectorRequirement",
    fields: &[
        req(1, "scopeName", STR),
        req(2, "operator", STR),
        list(3, "values", STR),
    ],
};

static RESOURCE_QUOTA_STATUS: Message = Message {
    name: "ResourceQuotaStatus",
    fields: &[opt(1, "hard", QTY_MAP), opt(2, "used", QTY_MAP)],
};

// ---- policy/v1 PodDisruptionBudget

pub(crate) static POD_DISRUPTION_BUDGET: Message = Message {
    name: "PodDisruptionBudget",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&PDB_SPEC)),
        opt(3, "status", msg(&PDB_STATUS)),
    ],
};

static PDB_SPEC: Message = Message {
    name: "PodDisruptionBudgetSpec",
    fields: &[
        ptr(1, "minAvailable", INT_OR_STR),
        ptr(2, "selector", msg(&LABEL_SELECTOR)),
        ptr(3, "maxUnavailable", INT_OR_STR),
        ptr(4, "unhealthyPodEvictionPolicy", STR),
    ],
};

static PDB_STATUS: Message = Message {
    name: "PodDisruptionBudgetStatus",
    fields: &[
        opt(1, "observedGeneration", I64),
        unsupported(2, "disruptedPods"),
        req(3, "disruptionsAllowed", I32),
        req(4, "currentHealthy", I32),
        req(5, "desiredHealthy", I32),
        req(6, "expectedPods", I32),
        list(7, "conditions", msg(&META_CONDITION)),
    ],
};

// ---- scheduling.k8s.io/v1 PriorityClass

pub(crate) static PRIORITY_CLASS: Message = Message {
    name: "PriorityClass",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        req(2, "value", I32),
        opt(3, "globalDefault", BOOL),
        opt(4, "description", STR),
        ptr(5, "preemptionPolicy", STR),
    ],
};

// ---- networking.k8s.io/v1 Ingress

pub(crate) static INGRESS: Message = Message {
    name: "Ingress",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&INGRESS_SPEC)),
        opt(3, "status", msg(&INGRESS_STATUS)),
    ],
};

static INGRESS_SPEC: Message = Message {
    name: "IngressSpec",
    fields: &[
        ptr(4, "ingressClassName", STR),
        ptr(1, "defaultBackend", msg(&INGRESS_BACKEND)),
        list(2, "tls", msg(&INGRESS_TLS)),
        list(3, "rules", msg(&INGRESS_RULE)),
    ],
};

static INGRESS_BACKEND: Message = Message {
    name: "IngressBackend",
    fields: &[
        ptr(4, "service", msg(&INGRESS_SERVICE_BACKEND)),
        ptr(3, "resource", msg(&TYPED_LOCAL_OBJECT_REFERENCE)),
    ],
};

static INGRESS_SERVICE_BACKEND: Message = Message {
    name: "IngressServiceBackend",
    fields: &[
        req(1, "name", STR),
        // A struct with omitempty: always emitted.
        opt(2, "port", msg(&SERVICE_BACKEND_PORT)),
    ],
};

static SERVICE_BACKEND_PORT: Message = Message {
    name: "ServiceBackendPort",
    fields: &[opt(1, "name", STR), opt(2, "number", I32)],
};

static TYPED_LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "TypedLocalObjectReference",
    fields: &[
        // `APIGroup *string json:"apiGroup"`: no omitempty.
        nullable(1, "apiGroup", STR),
        req(2, "kind", STR),
        req(3, "name", STR),
    ],
};

static INGRESS_TLS: Message = Message {
    name: "IngressTLS",
    fields: &[list(1, "hosts", STR), opt(2, "secretName", STR)],
};

/// IngressRule: the IngressRuleValue is embedded (`json:",inline"`).
static INGRESS_RULE: Message = Message {
    name: "IngressRule",
    fields: &[opt(1, "host", STR), inline(2, &INGRESS_RULE_VALUE)],
};

static INGRESS_RULE_VALUE: Message = Message {
    name: "IngressRuleValue",
    fields: &[ptr(1, "http", msg(&HTTP_INGRESS_RULE_VALUE))],
};

static HTTP_INGRESS_RULE_VALUE: Message = Message {
    name: "HTTPIngressRuleValue",
    fields: &[list_req(1, "paths", msg(&HTTP_INGRESS_PATH))],
};

static HTTP_INGRESS_PATH: Message = Message {
    name: "HTTPIngressPath",
    fields: &[
        opt(1, "path", STR),
        // `PathType *PathType json:"pathType"`: no omitempty.
        nullable(3, "pathType", STR),
        req(2, "backend", msg(&INGRESS_BACKEND)),
    ],
};

static INGRESS_STATUS: Message = Message {
    name: "IngressStatus",
    fields: &[opt(1, "loadBalancer", msg(&INGRESS_LOAD_BALANCER_STATUS))],
};

static INGRESS_LOAD_BALANCER_STATUS: Message = Message {
    name: "IngressLoadBalancerStatus",
    fields: &[list(1, "ingress", msg(&INGRESS_LOAD_BALANCER_INGRESS))],
};

static INGRESS_LOAD_BALANCER_INGRESS: Message = Message {
    name: "IngressLoadBalancerIngress",
    fields: &[
        opt(1, "ip", STR),
        opt(2, "hostname", STR),
        list(4, "ports", msg(&INGRESS_PORT_STATUS)),
    ],
};

static INGRESS_PORT_STATUS: Message = Message {
    name: "IngressPortStatus",
    fields: &[
        req(1, "port", I32),
        req(2, "protocol", STR),
        ptr(3, "error", STR),
    ],
};
