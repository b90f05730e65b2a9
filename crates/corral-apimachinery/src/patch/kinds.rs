//! Patch schemas of the built-in kinds, transcribed from the struct tags of
//! k8s.io/api (`patchStrategy:"merge" patchMergeKey:"name"` and friends).
//!
//! Only paths that lead to a tagged field need describing; an untagged list
//! is listed as [`ATOMIC_LIST`] where upstream's choice is worth recording
//! (it is also the behaviour of anything left out). Adding a kind: describe
//! its top-level fields (reusing [`OBJECT_META`], [`POD_SPEC`], ...), add a
//! `const`, one arm in [`schema_for`] and one entry in [`KINDS`].

use super::meta::{ATOMIC_LIST, OPAQUE, PRIMITIVE_SET, PatchSchema, STRING_MAP, field, merge_by};

/// meta/v1 ObjectMeta, shared by every kind.
pub(crate) const OBJECT_META: PatchSchema = PatchSchema::Object(&[
    field("labels", STRING_MAP),
    field("annotations", STRING_MAP),
    // `patchStrategy:"merge"`, no key: a set of strings.
    field("finalizers", PRIMITIVE_SET),
    field("ownerReferences", merge_by("uid", &OPAQUE)),
    // No tag: server-side apply's bookkeeping is replaced as a whole.
    field("managedFields", ATOMIC_LIST),
]);

/// A `status.conditions` list merged on `type` (PodCondition,
/// NamespaceCondition, DeploymentCondition, meta/v1 Condition in Service).
const CONDITIONS_BY_TYPE: PatchSchema = merge_by("type", &OPAQUE);

/// core/v1 Container (and EphemeralContainerCommon, which has the same tags).
const CONTAINER: PatchSchema = PatchSchema::Object(&[
    field("ports", merge_by("containerPort", &OPAQUE)),
    field("env", merge_by("name", &OPAQUE)),
    field("envFrom", ATOMIC_LIST),
    field("volumeMounts", merge_by("mountPath", &OPAQUE)),
    field("volumeDevices", merge_by("devicePath", &OPAQUE)),
    field("resizePolicy", ATOMIC_LIST),
]);

/// core/v1 PodSpec.
pub(crate) const POD_SPEC: PatchSchema = PatchSchema::Object(&[
    field("volumes", merge_by("name", &OPAQUE)).retain_keys(),
    field("initContainers", merge_by("name", &CONTAINER)),
    field("containers", merge_by("name", &CONTAINER)),
    field("ephemeralContainers", merge_by("name", &CONTAINER)),
    field("imagePullSecrets", merge_by("name", &OPAQUE)),
    field("hostAliases", merge_by("ip", &OPAQUE)),
    // listMapKeys are topologyKey + whenUnsatisfiable, but the patch merge
    // key is topologyKey alone.
    field(
        "topologySpreadConstraints",
        merge_by("topologyKey", &OPAQUE),
    ),
    field("schedulingGates", merge_by("name", &OPAQUE)),
    field("resourceClaims", merge_by("name", &OPAQUE)).retain_keys(),
    // No tag: the kubectl patch docs' example of a replaced list.
    field("tolerations", ATOMIC_LIST),
    field("readinessGates", ATOMIC_LIST),
]);

/// core/v1 PodStatus (the kubelet patches it with strategic merge patch).
const POD_STATUS: PatchSchema = PatchSchema::Object(&[
    field("conditions", CONDITIONS_BY_TYPE),
    field("podIPs", merge_by("ip", &OPAQUE)),
    field("hostIPs", merge_by("ip", &OPAQUE)),
    field("resourceClaimStatuses", merge_by("name", &OPAQUE)).retain_keys(),
]);

/// core/v1 PodTemplateSpec.
pub(crate) const POD_TEMPLATE_SPEC: PatchSchema =
    PatchSchema::Object(&[field("metadata", OBJECT_META), field("spec", POD_SPEC)]);

const POD: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field("spec", POD_SPEC),
    field("status", POD_STATUS),
]);

const NAMESPACE: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    // NamespaceSpec.finalizers has no patch strategy upstream (unlike
    // metadata.finalizers): replaced as a whole.
    field(
        "spec",
        PatchSchema::Object(&[field("finalizers", ATOMIC_LIST)]),
    ),
    field(
        "status",
        PatchSchema::Object(&[field("conditions", CONDITIONS_BY_TYPE)]),
    ),
]);

const CONFIG_MAP: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field("data", STRING_MAP),
    field("binaryData", STRING_MAP),
]);

const SECRET: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field("data", STRING_MAP),
    field("stringData", STRING_MAP),
]);

const SERVICE_ACCOUNT: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field("secrets", merge_by("name", &OPAQUE)),
    // Unlike PodSpec.imagePullSecrets, ServiceAccount's has no tag.
    field("imagePullSecrets", ATOMIC_LIST),
]);

const SERVICE: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field(
        "spec",
        PatchSchema::Object(&[
            // Merged on `port` alone (upstream's known limitation: the same
            // port with two protocols collides).
            field("ports", merge_by("port", &OPAQUE)),
        ]),
    ),
    field(
        "status",
        PatchSchema::Object(&[field("conditions", CONDITIONS_BY_TYPE)]),
    ),
]);

const DEPLOYMENT: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field(
        "spec",
        PatchSchema::Object(&[
            field("template", POD_TEMPLATE_SPEC),
            // `patchStrategy:"retainKeys"`: `$retainKeys` clears rollingUpdate
            // when switching to Recreate.
            field("strategy", OPAQUE).retain_keys(),
        ]),
    ),
    field(
        "status",
        PatchSchema::Object(&[field("conditions", CONDITIONS_BY_TYPE)]),
    ),
]);

/// `status` with `conditions` merged on `type` (workload controllers, PDB, PVC).
const STATUS_CONDITIONS: PatchSchema =
    PatchSchema::Object(&[field("conditions", CONDITIONS_BY_TYPE)]);

const POD_TEMPLATE: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field("template", POD_TEMPLATE_SPEC),
]);

/// ReplicaSet, StatefulSet, DaemonSet: the template; other spec lists
/// (volumeClaimTemplates) carry no tag.
const TEMPLATED_CONTROLLER: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field(
        "spec",
        PatchSchema::Object(&[
            field("template", POD_TEMPLATE_SPEC),
            field("volumeClaimTemplates", ATOMIC_LIST),
        ]),
    ),
    field("status", STATUS_CONDITIONS),
]);

/// batch/v1 JobSpec.
const JOB_SPEC: PatchSchema = PatchSchema::Object(&[field("template", POD_TEMPLATE_SPEC)]);

const JOB: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field("spec", JOB_SPEC),
    field("status", STATUS_CONDITIONS),
]);

const CRON_JOB: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field(
        "spec",
        PatchSchema::Object(&[field(
            "jobTemplate",
            PatchSchema::Object(&[field("metadata", OBJECT_META), field("spec", JOB_SPEC)]),
        )]),
    ),
    field(
        "status",
        PatchSchema::Object(&[field("active", ATOMIC_LIST)]),
    ),
]);

const NODE: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field(
        "spec",
        PatchSchema::Object(&[
            // `patchStrategy:"merge"` without a key: a set of CIDR strings.
            field("podCIDRs", PRIMITIVE_SET),
            field("taints", ATOMIC_LIST),
        ]),
    ),
    field(
        "status",
        PatchSchema::Object(&[
            field("conditions", CONDITIONS_BY_TYPE),
            // Upstream's known limitation: the key is not unique.
            field("addresses", merge_by("type", &OPAQUE)),
            field("images", ATOMIC_LIST),
            field("volumesInUse", ATOMIC_LIST),
            field("volumesAttached", ATOMIC_LIST),
        ]),
    ),
]);

/// Kinds whose only tagged list is `status.conditions` (by type).
const STATUS_CONDITIONS_ONLY: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field("status", STATUS_CONDITIONS),
]);

const ENDPOINTS: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field("subsets", ATOMIC_LIST),
]);

/// Kinds without any tagged field besides ObjectMeta: core/v1 Event,
/// events.k8s.io/v1 Event, Lease.
const METADATA_ONLY: PatchSchema = PatchSchema::Object(&[field("metadata", OBJECT_META)]);

/// PolicyRule lists and ClusterRole's aggregationRule selectors have no tag.
const ROLE: PatchSchema =
    PatchSchema::Object(&[field("metadata", OBJECT_META), field("rules", ATOMIC_LIST)]);

const CLUSTER_ROLE: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field("rules", ATOMIC_LIST),
    field(
        "aggregationRule",
        PatchSchema::Object(&[field("clusterRoleSelectors", ATOMIC_LIST)]),
    ),
]);

const ROLE_BINDING: PatchSchema = PatchSchema::Object(&[
    field("metadata", OBJECT_META),
    field("subjects", ATOMIC_LIST),
]);

const CORE: &str = "";
const APPS: &str = "apps";
const BATCH: &str = "batch";
const NETWORKING: &str = "networking.k8s.io";
const POLICY: &str = "policy";
const STORAGE: &str = "storage.k8s.io";
const SCHEDULING: &str = "scheduling.k8s.io";
const DISCOVERY: &str = "discovery.k8s.io";
const EVENTS: &str = "events.k8s.io";
const COORDINATION: &str = "coordination.k8s.io";
const APIEXTENSIONS: &str = "apiextensions.k8s.io";
const RBAC: &str = "rbac.authorization.k8s.io";

/// Every described (group, kind).
pub const KINDS: &[(&str, &str)] = &[
    (CORE, "Namespace"),
    (CORE, "ConfigMap"),
    (CORE, "Secret"),
    (CORE, "ServiceAccount"),
    (CORE, "Event"),
    (CORE, "Pod"),
    (CORE, "Service"),
    (EVENTS, "Event"),
    (COORDINATION, "Lease"),
    (RBAC, "Role"),
    (RBAC, "ClusterRole"),
    (RBAC, "RoleBinding"),
    (RBAC, "ClusterRoleBinding"),
    (APPS, "Deployment"),
    (APIEXTENSIONS, "CustomResourceDefinition"),
    (CORE, "PodTemplate"),
    (CORE, "Endpoints"),
    (CORE, "Node"),
    (CORE, "PersistentVolumeClaim"),
    (CORE, "PersistentVolume"),
    (CORE, "ResourceQuota"),
    (CORE, "LimitRange"),
    (APPS, "ReplicaSet"),
    (APPS, "StatefulSet"),
    (APPS, "DaemonSet"),
    (APPS, "ControllerRevision"),
    (BATCH, "Job"),
    (BATCH, "CronJob"),
    (NETWORKING, "NetworkPolicy"),
    (NETWORKING, "Ingress"),
    (NETWORKING, "IngressClass"),
    (POLICY, "PodDisruptionBudget"),
    (STORAGE, "StorageClass"),
    (SCHEDULING, "PriorityClass"),
    (DISCOVERY, "EndpointSlice"),
];

pub(crate) fn schema_for(group: &str, kind: &str) -> Option<&'static PatchSchema> {
    let schema: &'static PatchSchema = match (group, kind) {
        (CORE, "Namespace") => &NAMESPACE,
        (CORE, "ConfigMap") => &CONFIG_MAP,
        (CORE, "Secret") => &SECRET,
        (CORE, "ServiceAccount") => &SERVICE_ACCOUNT,
        // CRD lists (versions, conditions) carry no patch strategy upstream: replaced whole.
        (CORE, "Event")
        | (EVENTS, "Event")
        | (COORDINATION, "Lease")
        | (APIEXTENSIONS, "CustomResourceDefinition") => &METADATA_ONLY,
        (CORE, "Pod") => &POD,
        (CORE, "Service") => &SERVICE,
        (RBAC, "Role") => &ROLE,
        (RBAC, "ClusterRole") => &CLUSTER_ROLE,
        (RBAC, "RoleBinding") | (RBAC, "ClusterRoleBinding") => &ROLE_BINDING,
        (APPS, "Deployment") => &DEPLOYMENT,
        (CORE, "PodTemplate") => &POD_TEMPLATE,
        (CORE, "Endpoints") => &ENDPOINTS,
        (CORE, "Node") => &NODE,
        (CORE, "PersistentVolumeClaim") | (POLICY, "PodDisruptionBudget") => {
            &STATUS_CONDITIONS_ONLY
        }
        // No tagged lists: PV mountOptions, quota scopes, LimitRange items,
        // NetworkPolicy rules, Ingress rules, EndpointSlice endpoints and
        // ports are all replaced whole.
        (CORE, "PersistentVolume")
        | (CORE, "ResourceQuota")
        | (CORE, "LimitRange")
        | (APPS, "ControllerRevision")
        | (NETWORKING, "NetworkPolicy")
        | (NETWORKING, "Ingress")
        | (NETWORKING, "IngressClass")
        | (STORAGE, "StorageClass")
        | (SCHEDULING, "PriorityClass")
        | (DISCOVERY, "EndpointSlice") => &METADATA_ONLY,
        (APPS, "ReplicaSet") | (APPS, "StatefulSet") | (APPS, "DaemonSet") => &TEMPLATED_CONTROLLER,
        (BATCH, "Job") => &JOB,
        (BATCH, "CronJob") => &CRON_JOB,
        _ => return None,
    };
    Some(schema)
}
