//! meta/v1 messages. Field numbers: k8s.io/apimachinery
//! pkg/apis/meta/v1/generated.proto; JSON names and emission: the json
//! tags of pkg/apis/meta/v1/types.go.

use super::schema::{BOOL, I64, Message, STR, TIME, Ty, list, msg, omit_zero, opt, ptr, req};

pub(crate) static OBJECT_META: Message = Message {
    name: "ObjectMeta",
    fields: &[
        opt(1, "name", STR),
        opt(2, "generateName", STR),
        opt(3, "namespace", STR),
        opt(4, "selfLink", STR),
        opt(5, "uid", STR),
        opt(6, "resourceVersion", STR),
        opt(7, "generation", I64),
        // `json:"creationTimestamp,omitempty,omitzero"`
        omit_zero(8, "creationTimestamp", TIME),
        ptr(9, "deletionTimestamp", TIME),
        ptr(10, "deletionGracePeriodSeconds", I64),
        opt(11, "labels", Ty::StrMap),
        opt(12, "annotations", Ty::StrMap),
        list(13, "ownerReferences", msg(&OWNER_REFERENCE)),
        list(14, "finalizers", STR),
        // 15 was clusterName (removed); skipped as unknown.
        list(17, "managedFields", msg(&MANAGED_FIELDS_ENTRY)),
    ],
};

pub(crate) static OWNER_REFERENCE: Message = Message {
    name: "OwnerReference",
    fields: &[
        req(5, "apiVersion", STR),
        req(1, "kind", STR),
        req(3, "name", STR),
        req(4, "uid", STR),
        ptr(6, "controller", BOOL),
        ptr(7, "blockOwnerDeletion", BOOL),
    ],
};

pub(crate) static MANAGED_FIELDS_ENTRY: Message = Message {
    name: "ManagedFieldsEntry",
    fields: &[
        opt(1, "manager", STR),
        opt(2, "operation", STR),
        opt(3, "apiVersion", STR),
        ptr(4, "time", TIME),
        // 5 was the pre-1.16 `fields`; skipped as unknown.
        opt(6, "fieldsType", STR),
        ptr(7, "fieldsV1", Ty::FieldsV1),
        opt(8, "subresource", STR),
    ],
};

pub(crate) static LABEL_SELECTOR: Message = Message {
    name: "LabelSelector",
    fields: &[
        opt(1, "matchLabels", Ty::StrMap),
        list(2, "matchExpressions", msg(&LABEL_SELECTOR_REQUIREMENT)),
    ],
};

pub(crate) static LABEL_SELECTOR_REQUIREMENT: Message = Message {
    name: "LabelSelectorRequirement",
    fields: &[
        req(1, "key", STR),
        req(2, "operator", STR),
        list(3, "values", STR),
    ],
};

pub(crate) static FIELD_SELECTOR_REQUIREMENT: Message = Message {
    name: "FieldSelectorRequirement",
    fields: &[
        req(1, "key", STR),
        req(2, "operator", STR),
        list(3, "values", STR),
    ],
};

pub(crate) static PRECONDITIONS: Message = Message {
    name: "Preconditions",
    fields: &[ptr(1, "uid", STR), ptr(2, "resourceVersion", STR)],
};

pub(crate) static DELETE_OPTIONS: Message = Message {
    name: "DeleteOptions",
    fields: &[
        ptr(1, "gracePeriodSeconds", I64),
        ptr(2, "preconditions", msg(&PRECONDITIONS)),
        ptr(3, "orphanDependents", BOOL),
        ptr(4, "propagationPolicy", STR),
        list(5, "dryRun", STR),
        ptr(6, "ignoreStoreReadErrorWithClusterBreakingPotential", BOOL),
    ],
};
