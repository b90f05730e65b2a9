//! core/v1 PodTemplateSpec, PodSpec, volumes and scheduling constraints.
//! Field numbers: k8s.io/api core/v1 generated.proto; JSON names and
//! emission: the json tags of core/v1 types.go. Volume sources other than
//! the common ones (hostPath, emptyDir, secret, nfs, persistentVolumeClaim,
//! downwardAPI, configMap, projected, csi, image) are unsupported: their
//! presence fails the decode.

use super::container::{
    APP_ARMOR_PROFILE, CONTAINER, EPHEMERAL_CONTAINER, LOCAL_OBJECT_REFERENCE,
    OBJECT_FIELD_SELECTOR, RESOURCE_FIELD_SELECTOR, RESOURCE_REQUIREMENTS, SE_LINUX_OPTIONS,
    SECCOMP_PROFILE, WINDOWS_OPTIONS,
};
use super::meta::{LABEL_SELECTOR, OBJECT_META};
use super::schema::{
    BOOL, I32, I64, Message, QTY, QTY_MAP, STR, STR_MAP, inline, list, list_req, msg, opt, ptr,
    req, unsupported,
};

pub(crate) static POD_TEMPLATE_SPEC: Message = Message {
    name: "PodTemplateSpec",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&POD_SPEC)),
    ],
};

pub(crate) static POD_SPEC: Message = Message {
    name: "PodSpec",
    fields: &[
        list(1, "volumes", msg(&VOLUME)),
        list(20, "initContainers", msg(&CONTAINER)),
        // `json:"containers"`: no omitempty.
        list_req(2, "containers", msg(&CONTAINER)),
        list(34, "ephemeralContainers", msg(&EPHEMERAL_CONTAINER)),
        opt(3, "restartPolicy", STR),
        ptr(4, "terminationGracePeriodSeconds", I64),
        ptr(5, "activeDeadlineSeconds", I64),
        opt(6, "dnsPolicy", STR),
        opt(7, "nodeSelector", STR_MAP),
        opt(8, "serviceAccountName", STR),
        opt(9, "serviceAccount", STR),
        ptr(21, "automountServiceAccountToken", BOOL),
        opt(10, "nodeName", STR),
        opt(11, "hostNetwork", BOOL),
        opt(12, "hostPID", BOOL),
        opt(13, "hostIPC", BOOL),
        ptr(27, "shareProcessNamespace", BOOL),
        ptr(14, "securityContext", msg(&POD_SECURITY_CONTEXT)),
        list(15, "imagePullSecrets", msg(&LOCAL_OBJECT_REFERENCE)),
        opt(16, "hostname", STR),
        opt(17, "subdomain", STR),
        ptr(18, "affinity", msg(&AFFINITY)),
        opt(19, "schedulerName", STR),
        list(22, "tolerations", msg(&TOLERATION)),
        list(23, "hostAliases", msg(&HOST_ALIAS)),
        opt(24, "priorityClassName", STR),
        ptr(25, "priority", I32),
        ptr(26, "dnsConfig", msg(&POD_DNS_CONFIG)),
        list(28, "readinessGates", msg(&POD_READINESS_GATE)),
        ptr(29, "runtimeClassName", STR),
        ptr(30, "enableServiceLinks", BOOL),
        ptr(31, "preemptionPolicy", STR),
        opt(32, "overhead", QTY_MAP),
        list(
            33,
            "topologySpreadConstraints",
            msg(&TOPOLOGY_SPREAD_CONSTRAINT),
        ),
        ptr(35, "setHostnameAsFQDN", BOOL),
        ptr(36, "os", msg(&POD_OS)),
        ptr(37, "hostUsers", BOOL),
        list(38, "schedulingGates", msg(&NAME_ONLY)),
        list(39, "resourceClaims", msg(&POD_RESOURCE_CLAIM)),
        ptr(40, "resources", msg(&RESOURCE_REQUIREMENTS)),
        ptr(41, "hostnameOverride", STR),
        unsupported(42, "workloadRef"),
    ],
};

static POD_SECURITY_CONTEXT: Message = Message {
    name: "PodSecurityContext",
    fields: &[
        ptr(1, "seLinuxOptions", msg(&SE_LINUX_OPTIONS)),
        ptr(8, "windowsOptions", msg(&WINDOWS_OPTIONS)),
        ptr(2, "runAsUser", I64),
        ptr(6, "runAsGroup", I64),
        ptr(3, "runAsNonRoot", BOOL),
        list(4, "supplementalGroups", I64),
        ptr(12, "supplementalGroupsPolicy", STR),
        ptr(5, "fsGroup", I64),
        list(7, "sysctls", msg(&SYSCTL)),
        ptr(9, "fsGroupChangePolicy", STR),
        ptr(10, "seccompProfile", msg(&SECCOMP_PROFILE)),
        ptr(11, "appArmorProfile", msg(&APP_ARMOR_PROFILE)),
        ptr(13, "seLinuxChangePolicy", STR),
    ],
};

static SYSCTL: Message = Message {
    name: "Sysctl",
    fields: &[req(1, "name", STR), req(2, "value", STR)],
};

static TOLERATION: Message = Message {
    name: "Toleration",
    fields: &[
        opt(1, "key", STR),
        opt(2, "operator", STR),
        opt(3, "value", STR),
        opt(4, "effect", STR),
        ptr(5, "tolerationSeconds", I64),
    ],
};

static HOST_ALIAS: Message = Message {
    name: "HostAlias",
    fields: &[req(1, "ip", STR), list(2, "hostnames", STR)],
};

static POD_DNS_CONFIG: Message = Message {
    name: "PodDNSConfig",
    fields: &[
        list(1, "nameservers", STR),
        list(2, "searches", STR),
        list(3, "options", msg(&POD_DNS_CONFIG_OPTION)),
    ],
};

static POD_DNS_CONFIG_OPTION: Message = Message {
    name: "PodDNSConfigOption",
    fields: &[opt(1, "name", STR), ptr(2, "value", STR)],
};

static POD_READINESS_GATE: Message = Message {
    name: "PodReadinessGate",
    fields: &[req(1, "conditionType", STR)],
};

/// PodOS and PodSchedulingGate: `Name string json:"name"`.
static POD_OS: Message = Message {
    name: "PodOS",
    fields: &[req(1, "name", STR)],
};

static NAME_ONLY: Message = Message {
    name: "PodSchedulingGate",
    fields: &[req(1, "name", STR)],
};

static POD_RESOURCE_CLAIM: Message = Message {
    name: "PodResourceClaim",
    fields: &[
        req(1, "name", STR),
        ptr(3, "resourceClaimName", STR),
        ptr(4, "resourceClaimTemplateName", STR),
    ],
};

static TOPOLOGY_SPREAD_CONSTRAINT: Message = Message {
    name: "TopologySpreadConstraint",
    fields: &[
        req(1, "maxSkew", I32),
        req(2, "topologyKey", STR),
        req(3, "whenUnsatisfiable", STR),
        ptr(4, "labelSelector", msg(&LABEL_SELECTOR)),
        ptr(5, "minDomains", I32),
        ptr(6, "nodeAffinityPolicy", STR),
        ptr(7, "nodeTaintsPolicy", STR),
        list(8, "matchLabelKeys", STR),
    ],
};

// ---- affinity

static AFFINITY: Message = Message {
    name: "Affinity",
    fields: &[
        ptr(1, "nodeAffinity", msg(&NODE_AFFINITY)),
        ptr(2, "podAffinity", msg(&POD_AFFINITY)),
        ptr(3, "podAntiAffinity", msg(&POD_AFFINITY)),
    ],
};

static NODE_AFFINITY: Message = Message {
    name: "NodeAffinity",
    fields: &[
        ptr(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            msg(&NODE_SELECTOR),
        ),
        list(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            msg(&PREFERRED_SCHEDULING_TERM),
        ),
    ],
};

static NODE_SELECTOR: Message = Message {
    name: "NodeSelector",
    fields: &[list_req(1, "nodeSelectorTerms", msg(&NODE_SELECTOR_TERM))],
};

static NODE_SELECTOR_TERM: Message = Message {
    name: "NodeSelectorTerm",
    fields: &[
        list(1, "matchExpressions", msg(&NODE_SELECTOR_REQUIREMENT)),
        list(2, "matchFields", msg(&NODE_SELECTOR_REQUIREMENT)),
    ],
};

static NODE_SELECTOR_REQUIREMENT: Message = Message {
    name: "NodeSelectorRequirement",
    fields: &[
        req(1, "key", STR),
        req(2, "operator", STR),
        list(3, "values", STR),
    ],
};

static PREFERRED_SCHEDULING_TERM: Message = Message {
    name: "PreferredSchedulingTerm",
    fields: &[
        req(1, "weight", I32),
        req(2, "preference", msg(&NODE_SELECTOR_TERM)),
    ],
};

/// PodAffinity and PodAntiAffinity share their shape.
static POD_AFFINITY: Message = Message {
    name: "PodAffinity",
    fields: &[
        list(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            msg(&POD_AFFINITY_TERM),
        ),
        list(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            msg(&WEIGHTED_POD_AFFINITY_TERM),
        ),
    ],
};

static POD_AFFINITY_TERM: Message = Message {
    name: "PodAffinityTerm",
    fields: &[
        ptr(1, "labelSelector", msg(&LABEL_SELECTOR)),
        list(2, "namespaces", STR),
        req(3, "topologyKey", STR),
        ptr(4, "namespaceSelector", msg(&LABEL_SELECTOR)),
        list(5, "matchLabelKeys", STR),
        list(6, "mismatchLabelKeys", STR),
    ],
};

static WEIGHTED_POD_AFFINITY_TERM: Message = Message {
    name: "WeightedPodAffinityTerm",
    fields: &[
        req(1, "weight", I32),
        req(2, "podAffinityTerm", msg(&POD_AFFINITY_TERM)),
    ],
};

// ---- volumes

/// Volume: the VolumeSource is embedded (`json:",inline"`).
static VOLUME: Message = Message {
    name: "Volume",
    fields: &[req(1, "name", STR), inline(2, &VOLUME_SOURCE)],
};

static VOLUME_SOURCE: Message = Message {
    name: "VolumeSource",
    fields: &[
        ptr(1, "hostPath", msg(&HOST_PATH)),
        ptr(2, "emptyDir", msg(&EMPTY_DIR)),
        unsupported(3, "gcePersistentDisk"),
        unsupported(4, "awsElasticBlockStore"),
        unsupported(5, "gitRepo"),
        ptr(6, "secret", msg(&SECRET_VOLUME)),
        ptr(7, "nfs", msg(&NFS)),
        unsupported(8, "iscsi"),
        unsupported(9, "glusterfs"),
        ptr(10, "persistentVolumeClaim", msg(&PVC_VOLUME)),
        unsupported(11, "rbd"),
        unsupported(12, "flexVolume"),
        unsupported(13, "cinder"),
        unsupported(14, "cephfs"),
        unsupported(15, "flocker"),
        ptr(16, "downwardAPI", msg(&DOWNWARD_API_VOLUME)),
        unsupported(17, "fc"),
        unsupported(18, "azureFile"),
        ptr(19, "configMap", msg(&CONFIG_MAP_VOLUME)),
        unsupported(20, "vsphereVolume"),
        unsupported(21, "quobyte"),
        unsupported(22, "azureDisk"),
        unsupported(23, "photonPersistentDisk"),
        ptr(26, "projected", msg(&PROJECTED)),
        unsupported(24, "portworxVolume"),
        unsupported(25, "scaleIO"),
        unsupported(27, "storageos"),
        ptr(28, "csi", msg(&CSI)),
        unsupported(29, "ephemeral"),
        ptr(30, "image", msg(&IMAGE_VOLUME)),
    ],
};

static HOST_PATH: Message = Message {
    name: "HostPathVolumeSource",
    fields: &[req(1, "path", STR), ptr(2, "type", STR)],
};

static EMPTY_DIR: Message = Message {
    name: "EmptyDirVolumeSource",
    fields: &[opt(1, "medium", STR), ptr(2, "sizeLimit", QTY)],
};

static SECRET_VOLUME: Message = Message {
    name: "SecretVolumeSource",
    fields: &[
        opt(1, "secretName", STR),
        list(2, "items", msg(&KEY_TO_PATH)),
        ptr(3, "defaultMode", I32),
        ptr(4, "optional", BOOL),
    ],
};

static KEY_TO_PATH: Message = Message {
    name: "KeyToPath",
    fields: &[req(1, "key", STR), req(2, "path", STR), ptr(3, "mode", I32)],
};

static NFS: Message = Message {
    name: "NFSVolumeSource",
    fields: &[
        req(1, "server", STR),
        req(2, "path", STR),
        opt(3, "readOnly", BOOL),
    ],
};

static PVC_VOLUME: Message = Message {
    name: "PersistentVolumeClaimVolumeSource",
    fields: &[req(1, "claimName", STR), opt(2, "readOnly", BOOL)],
};

static DOWNWARD_API_VOLUME: Message = Message {
    name: "DownwardAPIVolumeSource",
    fields: &[
        list(1, "items", msg(&DOWNWARD_API_FILE)),
        ptr(2, "defaultMode", I32),
    ],
};

static DOWNWARD_API_FILE: Message = Message {
    name: "DownwardAPIVolumeFile",
    fields: &[
        req(1, "path", STR),
        ptr(2, "fieldRef", msg(&OBJECT_FIELD_SELECTOR)),
        ptr(3, "resourceFieldRef", msg(&RESOURCE_FIELD_SELECTOR)),
        ptr(4, "mode", I32),
    ],
};

static CONFIG_MAP_VOLUME: Message = Message {
    name: "ConfigMapVolumeSource",
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        list(2, "items", msg(&KEY_TO_PATH)),
        ptr(3, "defaultMode", I32),
        ptr(4, "optional", BOOL),
    ],
};

static PROJECTED: Message = Message {
    name: "ProjectedVolumeSource",
    fields: &[
        // `json:"sources"`: no omitempty.
        list_req(1, "sources", msg(&VOLUME_PROJECTION)),
        ptr(2, "defaultMode", I32),
    ],
};

static VOLUME_PROJECTION: Message = Message {
    name: "VolumeProjection",
    fields: &[
        ptr(1, "secret", msg(&KEY_PROJECTION)),
        ptr(2, "downwardAPI", msg(&DOWNWARD_API_PROJECTION)),
        ptr(3, "configMap", msg(&KEY_PROJECTION)),
        ptr(
            4,
            "serviceAccountToken",
            msg(&SERVICE_ACCOUNT_TOKEN_PROJECTION),
        ),
        unsupported(5, "clusterTrustBundle"),
        unsupported(6, "podCertificate"),
    ],
};

/// SecretProjection and ConfigMapProjection share their shape.
static KEY_PROJECTION: Message = Message {
    name: "KeyProjection",
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        list(2, "items", msg(&KEY_TO_PATH)),
        ptr(4, "optional", BOOL),
    ],
};

static DOWNWARD_API_PROJECTION: Message = Message {
    name: "DownwardAPIProjection",
    fields: &[list(1, "items", msg(&DOWNWARD_API_FILE))],
};

static SERVICE_ACCOUNT_TOKEN_PROJECTION: Message = Message {
    name: "ServiceAccountTokenProjection",
    fields: &[
        opt(1, "audience", STR),
        ptr(2, "expirationSeconds", I64),
        req(3, "path", STR),
    ],
};

static CSI: Message = Message {
    name: "CSIVolumeSource",
    fields: &[
        req(1, "driver", STR),
        ptr(2, "readOnly", BOOL),
        ptr(3, "fsType", STR),
        opt(4, "volumeAttributes", STR_MAP),
        ptr(5, "nodePublishSecretRef", msg(&LOCAL_OBJECT_REFERENCE)),
    ],
};

static IMAGE_VOLUME: Message = Message {
    name: "ImageVolumeSource",
    fields: &[opt(1, "reference", STR), opt(2, "pullPolicy", STR)],
};
