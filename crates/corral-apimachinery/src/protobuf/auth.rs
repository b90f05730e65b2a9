//! rbac.authorization.k8s.io/v1, authorization.k8s.io/v1 and
//! authentication.k8s.io/v1 messages. Field numbers: k8s.io/api rbac/v1,
//! authorization/v1 and authentication/v1 generated.proto; JSON names and
//! emission: the json tags of the same packages' types.go.

use super::meta::{
    FIELD_SELECTOR_REQUIREMENT, LABEL_SELECTOR, LABEL_SELECTOR_REQUIREMENT, OBJECT_META,
};
use super::schema::{
    BOOL, I64, Message, STR, TIME, Ty, list, list_req, msg, nullable, opt, ptr, req,
};

// ---- rbac.authorization.k8s.io/v1

pub(crate) static ROLE: Message = Message {
    name: "Role",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        list_req(2, "rules", msg(&POLICY_RULE)),
    ],
};

pub(crate) static CLUSTER_ROLE: Message = Message {
    name: "ClusterRole",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        list_req(2, "rules", msg(&POLICY_RULE)),
        ptr(3, "aggregationRule", msg(&AGGREGATION_RULE)),
    ],
};

/// RoleBinding and ClusterRoleBinding share their shape.
pub(crate) static ROLE_BINDING: Message = Message {
    name: "RoleBinding",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        list(2, "subjects", msg(&SUBJECT)),
        req(3, "roleRef", msg(&ROLE_REF)),
    ],
};

pub(crate) static CLUSTER_ROLE_BINDING: Message = Message {
    name: "ClusterRoleBinding",
    fields: ROLE_BINDING.fields,
};

static POLICY_RULE: Message = Message {
    name: "PolicyRule",
    fields: &[
        list_req(1, "verbs", STR),
        list(2, "apiGroups", STR),
        list(3, "resources", STR),
        list(4, "resourceNames", STR),
        list(5, "nonResourceURLs", STR),
    ],
};

static AGGREGATION_RULE: Message = Message {
    name: "AggregationRule",
    fields: &[list(1, "clusterRoleSelectors", msg(&LABEL_SELECTOR))],
};

static SUBJECT: Message = Message {
    name: "Subject",
    fields: &[
        req(1, "kind", STR),
        opt(2, "apiGroup", STR),
        req(3, "name", STR),
        opt(4, "namespace", STR),
    ],
};

static ROLE_REF: Message = Message {
    name: "RoleRef",
    fields: &[
        req(1, "apiGroup", STR),
        req(2, "kind", STR),
        req(3, "name", STR),
    ],
};

// ---- authorization.k8s.io/v1

/// SubjectAccessReview and LocalSubjectAccessReview share their shape.
pub(crate) static SUBJECT_ACCESS_REVIEW: Message = Message {
    name: "SubjectAccessReview",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        req(2, "spec", msg(&SUBJECT_ACCESS_REVIEW_SPEC)),
        opt(3, "status", msg(&SUBJECT_ACCESS_REVIEW_STATUS)),
    ],
};

pub(crate) static LOCAL_SUBJECT_ACCESS_REVIEW: Message = Message {
    name: "LocalSubjectAccessReview",
    fields: SUBJECT_ACCESS_REVIEW.fields,
};

pub(crate) static SELF_SUBJECT_ACCESS_REVIEW: Message = Message {
    name: "SelfSubjectAccessReview",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        req(2, "spec", msg(&SELF_SUBJECT_ACCESS_REVIEW_SPEC)),
        opt(3, "status", msg(&SUBJECT_ACCESS_REVIEW_STATUS)),
    ],
};

pub(crate) static SELF_SUBJECT_RULES_REVIEW: Message = Message {
    name: "SelfSubjectRulesReview",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        req(2, "spec", msg(&SELF_SUBJECT_RULES_REVIEW_SPEC)),
        opt(3, "status", msg(&SUBJECT_RULES_REVIEW_STATUS)),
    ],
};

static SUBJECT_ACCESS_REVIEW_SPEC: Message = Message {
    name: "SubjectAccessReviewSpec",
    fields: &[
        ptr(1, "resourceAttributes", msg(&RESOURCE_ATTRIBUTES)),
        ptr(2, "nonResourceAttributes", msg(&NON_RESOURCE_ATTRIBUTES)),
        opt(3, "user", STR),
        list(4, "groups", STR),
        opt(5, "extra", Ty::StrListMap),
        opt(6, "uid", STR),
    ],
};

static SELF_SUBJECT_ACCESS_REVIEW_SPEC: Message = Message {
    name: "SelfSubjectAccessReviewSpec",
    fields: &[
        ptr(1, "resourceAttributes", msg(&RESOURCE_ATTRIBUTES)),
        ptr(2, "nonResourceAttributes", msg(&NON_RESOURCE_ATTRIBUTES)),
    ],
};

static RESOURCE_ATTRIBUTES: Message = Message {
    name: "ResourceAttributes",
    fields: &[
        opt(1, "namespace", STR),
        opt(2, "verb", STR),
        opt(3, "group", STR),
        opt(4, "version", STR),
        opt(5, "resource", STR),
        opt(6, "subresource", STR),
        opt(7, "name", STR),
        ptr(8, "fieldSelector", msg(&FIELD_SELECTOR_ATTRIBUTES)),
        ptr(9, "labelSelector", msg(&LABEL_SELECTOR_ATTRIBUTES)),
    ],
};

static FIELD_SELECTOR_ATTRIBUTES: Message = Message {
    name: "FieldSelectorAttributes",
    fields: &[
        opt(1, "rawSelector", STR),
        list(2, "requirements", msg(&FIELD_SELECTOR_REQUIREMENT)),
    ],
};

static LABEL_SELECTOR_ATTRIBUTES: Message = Message {
    name: "LabelSelectorAttributes",
    fields: &[
        opt(1, "rawSelector", STR),
        list(2, "requirements", msg(&LABEL_SELECTOR_REQUIREMENT)),
    ],
};

static NON_RESOURCE_ATTRIBUTES: Message = Message {
    name: "NonResourceAttributes",
    fields: &[opt(1, "path", STR), opt(2, "verb", STR)],
};

static SUBJECT_ACCESS_REVIEW_STATUS: Message = Message {
    name: "SubjectAccessReviewStatus",
    fields: &[
        req(1, "allowed", BOOL),
        opt(4, "denied", BOOL),
        opt(2, "reason", STR),
        opt(3, "evaluationError", STR),
    ],
};

static SELF_SUBJECT_RULES_REVIEW_SPEC: Message = Message {
    name: "SelfSubjectRulesReviewSpec",
    fields: &[opt(1, "namespace", STR)],
};

static SUBJECT_RULES_REVIEW_STATUS: Message = Message {
    name: "SubjectRulesReviewStatus",
    fields: &[
        list_req(1, "resourceRules", msg(&RESOURCE_RULE)),
        list_req(2, "nonResourceRules", msg(&NON_RESOURCE_RULE)),
        req(3, "incomplete", BOOL),
        opt(4, "evaluationError", STR),
    ],
};

static RESOURCE_RULE: Message = Message {
    name: "ResourceRule",
    fields: &[
        list_req(1, "verbs", STR),
        list(2, "apiGroups", STR),
        list(3, "resources", STR),
        list(4, "resourceNames", STR),
    ],
};

static NON_RESOURCE_RULE: Message = Message {
    name: "NonResourceRule",
    fields: &[list_req(1, "verbs", STR), list(2, "nonResourceURLs", STR)],
};

// ---- authentication.k8s.io/v1

pub(crate) static TOKEN_REQUEST: Message = Message {
    name: "TokenRequest",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        req(2, "spec", msg(&TOKEN_REQUEST_SPEC)),
        opt(3, "status", msg(&TOKEN_REQUEST_STATUS)),
    ],
};

static TOKEN_REQUEST_SPEC: Message = Message {
    name: "TokenRequestSpec",
    fields: &[
        list_req(1, "audiences", STR),
        nullable(4, "expirationSeconds", I64),
        nullable(3, "boundObjectRef", msg(&BOUND_OBJECT_REFERENCE)),
    ],
};

/// Proto names `aPIVersion`/`uID`; JSON names `apiVersion`/`uid`.
static BOUND_OBJECT_REFERENCE: Message = Message {
    name: "BoundObjectReference",
    fields: &[
        opt(1, "kind", STR),
        opt(2, "apiVersion", STR),
        opt(3, "name", STR),
        opt(4, "uid", STR),
    ],
};

static TOKEN_REQUEST_STATUS: Message = Message {
    name: "TokenRequestStatus",
    fields: &[req(1, "token", STR), req(2, "expirationTimestamp", TIME)],
};

pub(crate) static TOKEN_REVIEW: Message = Message {
    name: "TokenReview",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        req(2, "spec", msg(&TOKEN_REVIEW_SPEC)),
        opt(3, "status", msg(&TOKEN_REVIEW_STATUS)),
    ],
};

static TOKEN_REVIEW_SPEC: Message = Message {
    name: "TokenReviewSpec",
    fields: &[opt(1, "token", STR), list(2, "audiences", STR)],
};

static TOKEN_REVIEW_STATUS: Message = Message {
    name: "TokenReviewStatus",
    fields: &[
        opt(1, "authenticated", BOOL),
        opt(2, "user", msg(&USER_INFO)),
        list(4, "audiences", STR),
        opt(3, "error", STR),
    ],
};

static USER_INFO: Message = Message {
    name: "UserInfo",
    fields: &[
        opt(1, "username", STR),
        opt(2, "uid", STR),
        list(3, "groups", STR),
        opt(4, "extra", Ty::StrListMap),
    ],
};

pub(crate) static SELF_SUBJECT_REVIEW: Message = Message {
    name: "SelfSubjectReview",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "status", msg(&SELF_SUBJECT_REVIEW_STATUS)),
    ],
};

static SELF_SUBJECT_REVIEW_STATUS: Message = Message {
    name: "SelfSubjectReviewStatus",
    fields: &[opt(1, "userInfo", msg(&USER_INFO))],
};
