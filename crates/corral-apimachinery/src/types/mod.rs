//! Per-built-in-type rules: defaults, validation, field selectors and table
//! columns, as kube-apiserver's registry strategies and printers have them.
//!
//! Adding a type: write a unit struct implementing [`TypeRules`] (most
//! methods have defaults) and add one line to [`REGISTRY`] (wrapped in
//! [`InTree`] for in-tree kinds).

mod apiextensions;
mod apps;
mod batch;
mod cluster;
mod coordination;
mod core;
mod core_cluster;
mod event;
mod networking;
mod pod;
mod podspec;
mod rbac;
mod secret;
mod service;

use crate::table::Column;
use crate::util::get_str;
use crate::validation::{FieldError, NameRule, validate_kube_finalizers};
use serde_json::Value;

pub use self::core::{ConfigMapRules, NamespaceRules, ServiceAccountRules};
pub use apiextensions::CustomResourceDefinitionRules;
pub use apps::{
    ControllerRevisionRules, DaemonSetRules, DeploymentRules, ReplicaSetRules, StatefulSetRules,
};
pub use batch::{CONTROLLER_UID_LABEL, CronJobRules, JOB_NAME_LABEL, JobRules};
pub use cluster::{
    EndpointSliceRules, PodDisruptionBudgetRules, PriorityClassRules, StorageClassRules,
};
pub use coordination::LeaseRules;
pub use core_cluster::{
    LimitRangeRules, NodeRules, PersistentVolumeClaimRules, PersistentVolumeRules,
    ResourceQuotaRules,
};
pub use event::{CoreEventRules, EventsV1EventRules};
pub use networking::{IngressClassRules, IngressRules, NetworkPolicyRules};
pub use pod::{PodRules, PodTemplateRules};
pub use rbac::{ClusterRoleBindingRules, ClusterRoleRules, RoleBindingRules, RoleRules};
pub use secret::SecretRules;
pub use service::{EndpointsRules, ServiceRules, needs_cluster_ip, needs_node_ports};

/// What the server needs to know about one built-in kind.
///
/// Call order the server follows, mirroring upstream:
/// create: [`default_on_create`](TypeRules::default_on_create), then
/// `validation::validate_object_meta` + [`validate_create`](TypeRules::validate_create);
/// update: `validation::prepare_object_meta_update`,
/// [`prepare_for_update`](TypeRules::prepare_for_update), then
/// `validation::validate_object_meta_update` + [`validate_update`](TypeRules::validate_update).
pub trait TypeRules: Send + Sync {
    /// How `metadata.name` is validated.
    fn name_rule(&self) -> NameRule;

    /// Whether objects live in a namespace.
    fn namespaced(&self) -> bool;

    /// Scheme defaulting (upstream `SetDefaults_*`), which upstream applies
    /// on every decode, i.e. on create and on update.
    fn apply_defaults(&self, _obj: &mut Value) {}

    /// Defaults and create-time preparation (upstream defaulting +
    /// `PrepareForCreate`), e.g. Secret `type: Opaque`, Namespace
    /// `spec.finalizers: ["kubernetes"]` and `status.phase: Active`.
    fn default_on_create(&self, obj: &mut Value) {
        self.apply_defaults(obj);
    }

    /// Defaults and update-time preparation (upstream defaulting +
    /// `PrepareForUpdate`), e.g. Namespace keeps its old `spec.finalizers`.
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        self.apply_defaults(new);
    }

    /// Type-specific validation of a new object (metadata is validated
    /// separately with `validation::validate_object_meta`).
    fn validate_create(&self, obj: &Value) -> Vec<FieldError>;

    /// Type-specific validation of an update (immutable fields, ...).
    /// Defaults to validating the new object as on create.
    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        self.validate_create(new)
    }

    /// Field-selector labels supported beyond `metadata.name` and
    /// `metadata.namespace`.
    fn field_labels(&self) -> &'static [&'static str] {
        &[]
    }

    /// The object's value for a field-selector label (also answers
    /// `metadata.name` / `metadata.namespace`); `None` for unknown labels.
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        meta_field_value(obj, field)
    }

    /// Table columns between NAME and AGE, or the whole layout when it
    /// contains a "name"-format column (see `table::build_table`).
    fn columns(&self) -> &'static [Column] {
        &[]
    }

    /// The cells of one object for [`columns`](TypeRules::columns).
    fn cells(&self, _obj: &Value) -> Vec<Value> {
        Vec::new()
    }

    /// Whether `metadata.generation` is maintained.
    fn tracks_generation(&self) -> bool {
        false
    }

    /// Whether status is only written through a `/status` subresource.
    fn has_status_subresource(&self) -> bool {
        false
    }
}

/// Every built-in kind with rules: (group, kind, rules).
pub static REGISTRY: &[(&str, &str, &dyn TypeRules)] = &[
    ("", "Namespace", &InTree(NamespaceRules)),
    ("", "ConfigMap", &InTree(ConfigMapRules)),
    ("", "Secret", &InTree(SecretRules)),
    ("", "ServiceAccount", &InTree(ServiceAccountRules)),
    ("", "Pod", &InTree(PodRules)),
    ("", "PodTemplate", &InTree(PodTemplateRules)),
    ("", "Service", &InTree(ServiceRules)),
    ("", "Endpoints", &InTree(EndpointsRules)),
    ("", "Node", &InTree(NodeRules)),
    (
        "",
        "PersistentVolumeClaim",
        &InTree(PersistentVolumeClaimRules),
    ),
    ("", "PersistentVolume", &InTree(PersistentVolumeRules)),
    ("", "ResourceQuota", &InTree(ResourceQuotaRules)),
    ("", "LimitRange", &InTree(LimitRangeRules)),
    ("apps", "Deployment", &InTree(DeploymentRules)),
    ("apps", "ReplicaSet", &InTree(ReplicaSetRules)),
    ("apps", "StatefulSet", &InTree(StatefulSetRules)),
    ("apps", "DaemonSet", &InTree(DaemonSetRules)),
    (
        "apps",
        "ControllerRevision",
        &InTree(ControllerRevisionRules),
    ),
    ("batch", "Job", &InTree(JobRules)),
    ("batch", "CronJob", &InTree(CronJobRules)),
    (
        "networking.k8s.io",
        "NetworkPolicy",
        &InTree(NetworkPolicyRules),
    ),
    ("networking.k8s.io", "Ingress", &InTree(IngressRules)),
    (
        "networking.k8s.io",
        "IngressClass",
        &InTree(IngressClassRules),
    ),
    (
        "policy",
        "PodDisruptionBudget",
        &InTree(PodDisruptionBudgetRules),
    ),
    ("storage.k8s.io", "StorageClass", &InTree(StorageClassRules)),
    (
        "scheduling.k8s.io",
        "PriorityClass",
        &InTree(PriorityClassRules),
    ),
    (
        "discovery.k8s.io",
        "EndpointSlice",
        &InTree(EndpointSliceRules),
    ),
    // core/v1 Events keep legacy validation only (no in-tree metadata rules).
    ("", "Event", &CoreEventRules),
    ("events.k8s.io", "Event", &InTree(EventsV1EventRules)),
    ("coordination.k8s.io", "Lease", &InTree(LeaseRules)),
    (
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        &CustomResourceDefinitionRules,
    ),
    ("rbac.authorization.k8s.io", "Role", &InTree(RoleRules)),
    (
        "rbac.authorization.k8s.io",
        "ClusterRole",
        &InTree(ClusterRoleRules),
    ),
    (
        "rbac.authorization.k8s.io",
        "RoleBinding",
        &InTree(RoleBindingRules),
    ),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        &InTree(ClusterRoleBindingRules),
    ),
];

/// An in-tree type: its own rules plus what upstream's core
/// `ValidateObjectMeta` adds for in-tree types on top of the generic
/// metadata checks (`validation::validate_kube_finalizers`).
pub struct InTree<T>(pub T);

impl<T: TypeRules> TypeRules for InTree<T> {
    fn name_rule(&self) -> NameRule {
        self.0.name_rule()
    }

    fn namespaced(&self) -> bool {
        self.0.namespaced()
    }

    fn apply_defaults(&self, obj: &mut Value) {
        self.0.apply_defaults(obj);
    }

    fn default_on_create(&self, obj: &mut Value) {
        self.0.default_on_create(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        self.0.prepare_for_update(new, old);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = kube_finalizers(obj);
        out.extend(self.0.validate_create(obj));
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = kube_finalizers(new);
        out.extend(self.0.validate_update(new, old));
        out
    }

    fn field_labels(&self) -> &'static [&'static str] {
        self.0.field_labels()
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        self.0.field_value(obj, field)
    }

    fn columns(&self) -> &'static [Column] {
        self.0.columns()
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        self.0.cells(obj)
    }

    fn tracks_generation(&self) -> bool {
        self.0.tracks_generation()
    }

    fn has_status_subresource(&self) -> bool {
        self.0.has_status_subresource()
    }
}

fn kube_finalizers(obj: &Value) -> Vec<FieldError> {
    match obj.get("metadata") {
        Some(meta) => validate_kube_finalizers(meta),
        None => Vec::new(),
    }
}

/// The rules for a (group, kind); the core group is "".
pub fn rules_for(group: &str, kind: &str) -> Option<&'static dyn TypeRules> {
    REGISTRY
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map(|(_, _, r)| *r)
}

/// `metadata.name` / `metadata.namespace` of an object.
pub fn meta_field_value(obj: &Value, field: &str) -> Option<String> {
    match field {
        "metadata.name" => Some(
            get_str(obj, &["metadata", "name"])
                .unwrap_or("")
                .to_string(),
        ),
        "metadata.namespace" => Some(
            get_str(obj, &["metadata", "namespace"])
                .unwrap_or("")
                .to_string(),
        ),
        _ => None,
    }
}

/// A column other than NAME/AGE, priority 0.
pub(crate) const fn col(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_: "string",
        format: "",
        description,
        priority: 0,
    }
}

/// A column shown only with `-o wide`.
pub(crate) const fn wide(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_: "string",
        format: "",
        description,
        priority: 1,
    }
}

/// Count of entries of an object/array field (0 when absent).
pub(crate) fn len_of(v: Option<&Value>) -> usize {
    match v {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}
