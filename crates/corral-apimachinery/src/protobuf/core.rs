//! core/v1, events.k8s.io/v1 and coordination.k8s.io/v1 messages. Field
//! numbers: k8s.io/api core/v1, events/v1 and coordination/v1
//! generated.proto; JSON names and emission: the json tags of the same
//! packages' types.go.

use super::meta::OBJECT_META;
use super::schema::{BOOL, I32, MICRO, Message, STR, TIME, Ty, list, msg, opt, ptr, req};

pub(crate) static CONFIG_MAP: Message = Message {
    name: "ConfigMap",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        ptr(4, "immutable", BOOL),
        opt(2, "data", Ty::StrMap),
        opt(3, "binaryData", Ty::BytesMap),
    ],
};

pub(crate) static SECRET: Message = Message {
    name: "Secret",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        ptr(5, "immutable", BOOL),
        opt(2, "data", Ty::BytesMap),
        opt(4, "stringData", Ty::StrMap),
        opt(3, "type", STR),
    ],
};

pub(crate) static NAMESPACE: Message = Message {
    name: "Namespace",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&NAMESPACE_SPEC)),
        opt(3, "status", msg(&NAMESPACE_STATUS)),
    ],
};

static NAMESPACE_SPEC: Message = Message {
    name: "NamespaceSpec",
    fields: &[list(1, "finalizers", STR)],
};

static NAMESPACE_STATUS: Message = Message {
    name: "NamespaceStatus",
    fields: &[
        opt(1, "phase", STR),
        list(2, "conditions", msg(&NAMESPACE_CONDITION)),
    ],
};

static NAMESPACE_CONDITION: Message = Message {
    name: "NamespaceCondition",
    fields: &[
        req(1, "type", STR),
        req(2, "status", STR),
        // 3 is unused upstream.
        opt(4, "lastTransitionTime", TIME),
        opt(5, "reason", STR),
        opt(6, "message", STR),
    ],
};

pub(crate) static SERVICE_ACCOUNT: Message = Message {
    name: "ServiceAccount",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        list(2, "secrets", msg(&OBJECT_REFERENCE)),
        list(3, "imagePullSecrets", msg(&LOCAL_OBJECT_REFERENCE)),
        ptr(4, "automountServiceAccountToken", BOOL),
    ],
};

pub(crate) static OBJECT_REFERENCE: Message = Message {
    name: "ObjectReference",
    fields: &[
        opt(1, "kind", STR),
        opt(2, "namespace", STR),
        opt(3, "name", STR),
        opt(4, "uid", STR),
        opt(5, "apiVersion", STR),
        opt(6, "resourceVersion", STR),
        opt(7, "fieldPath", STR),
    ],
};

static LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "LocalObjectReference",
    fields: &[opt(1, "name", STR)],
};

/// core/v1 Event.
pub(crate) static EVENT: Message = Message {
    name: "Event",
    fields: &[
        req(1, "metadata", msg(&OBJECT_META)),
        req(2, "involvedObject", msg(&OBJECT_REFERENCE)),
        opt(3, "reason", STR),
        opt(4, "message", STR),
        opt(5, "source", msg(&EVENT_SOURCE)),
        opt(6, "firstTimestamp", TIME),
        opt(7, "lastTimestamp", TIME),
        opt(8, "count", I32),
        opt(9, "type", STR),
        opt(10, "eventTime", MICRO),
        ptr(11, "series", msg(&CORE_EVENT_SERIES)),
        opt(12, "action", STR),
        ptr(13, "related", msg(&OBJECT_REFERENCE)),
        // Go field ReportingController, `json:"reportingComponent"`.
        req(14, "reportingComponent", STR),
        req(15, "reportingInstance", STR),
    ],
};

static CORE_EVENT_SERIES: Message = Message {
    name: "EventSeries",
    fields: &[opt(1, "count", I32), opt(2, "lastObservedTime", MICRO)],
};

static EVENT_SOURCE: Message = Message {
    name: "EventSource",
    fields: &[opt(1, "component", STR), opt(2, "host", STR)],
};

/// events.k8s.io/v1 Event.
pub(crate) static EVENTS_EVENT: Message = Message {
    name: "Event",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        req(2, "eventTime", MICRO),
        ptr(3, "series", msg(&EVENTS_EVENT_SERIES)),
        opt(4, "reportingController", STR),
        opt(5, "reportingInstance", STR),
        opt(6, "action", STR),
        opt(7, "reason", STR),
        opt(8, "regarding", msg(&OBJECT_REFERENCE)),
        ptr(9, "related", msg(&OBJECT_REFERENCE)),
        opt(10, "note", STR),
        opt(11, "type", STR),
        opt(12, "deprecatedSource", msg(&EVENT_SOURCE)),
        opt(13, "deprecatedFirstTimestamp", TIME),
        opt(14, "deprecatedLastTimestamp", TIME),
        opt(15, "deprecatedCount", I32),
    ],
};

static EVENTS_EVENT_SERIES: Message = Message {
    name: "EventSeries",
    fields: &[req(1, "count", I32), req(2, "lastObservedTime", MICRO)],
};

pub(crate) static LEASE: Message = Message {
    name: "Lease",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&LEASE_SPEC)),
    ],
};

static LEASE_SPEC: Message = Message {
    name: "LeaseSpec",
    fields: &[
        ptr(1, "holderIdentity", STR),
        ptr(2, "leaseDurationSeconds", I32),
        ptr(3, "acquireTime", MICRO),
        ptr(4, "renewTime", MICRO),
        ptr(5, "leaseTransitions", I32),
        ptr(6, "strategy", STR),
        ptr(7, "preferredHolder", STR),
    ],
};
