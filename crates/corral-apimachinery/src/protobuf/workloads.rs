//! core/v1 Service, apps/v1 Deployment/ReplicaSet/StatefulSet/DaemonSet and
//! batch/v1 Job/CronJob. Field numbers: k8s.io/api core/v1, apps/v1 and
//! batch/v1 generated.proto; JSON names and emission: the json tags of the
//! same packages' types.go. StatefulSet `volumeClaimTemplates` (a full
//! PersistentVolumeClaim) is not modeled and fails the decode when present.

use super::core::OBJECT_REFERENCE;
use super::meta::{LABEL_SELECTOR, OBJECT_META};
use super::podspec::POD_TEMPLATE_SPEC;
use super::schema::{
    BOOL, I32, I64, INT_OR_STR, Message, STR, STR_MAP, TIME, list, list_req, msg, nullable, opt,
    ptr, req, unsupported,
};

// ---- core/v1 Service

pub(crate) static SERVICE: Message = Message {
    name: "Service",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&SERVICE_SPEC)),
        opt(3, "status", msg(&SERVICE_STATUS)),
    ],
};

static SERVICE_SPEC: Message = Message {
    name: "ServiceSpec",
    fields: &[
        list(1, "ports", msg(&SERVICE_PORT)),
        opt(2, "selector", STR_MAP),
        opt(3, "clusterIP", STR),
        list(18, "clusterIPs", STR),
        opt(4, "type", STR),
        list(5, "externalIPs", STR),
        opt(7, "sessionAffinity", STR),
        opt(8, "loadBalancerIP", STR),
        list(9, "loadBalancerSourceRanges", STR),
        opt(10, "externalName", STR),
        opt(11, "externalTrafficPolicy", STR),
        opt(12, "healthCheckNodePort", I32),
        opt(13, "publishNotReadyAddresses", BOOL),
        ptr(14, "sessionAffinityConfig", msg(&SESSION_AFFINITY_CONFIG)),
        list(19, "ipFamilies", STR),
        ptr(17, "ipFamilyPolicy", STR),
        ptr(20, "allocateLoadBalancerNodePorts", BOOL),
        ptr(21, "loadBalancerClass", STR),
        ptr(22, "internalTrafficPolicy", STR),
        ptr(23, "trafficDistribution", STR),
    ],
};

static SERVICE_PORT: Message = Message {
    name: "ServicePort",
    fields: &[
        opt(1, "name", STR),
        opt(2, "protocol", STR),
        ptr(6, "appProtocol", STR),
        req(3, "port", I32),
        // An IntOrString value with omitempty: a struct, so always emitted.
        opt(4, "targetPort", INT_OR_STR),
        opt(5, "nodePort", I32),
    ],
};

static SESSION_AFFINITY_CONFIG: Message = Message {
    name: "SessionAffinityConfig",
    fields: &[ptr(1, "clientIP", msg(&CLIENT_IP_CONFIG))],
};

static CLIENT_IP_CONFIG: Message = Message {
    name: "ClientIPConfig",
    fields: &[ptr(1, "timeoutSeconds", I32)],
};

static SERVICE_STATUS: Message = Message {
    name: "ServiceStatus",
    fields: &[
        opt(1, "loadBalancer", msg(&LOAD_BALANCER_STATUS)),
        list(2, "conditions", msg(&META_CONDITION)),
    ],
};

static LOAD_BALANCER_STATUS: Message = Message {
    name: "LoadBalancerStatus",
    fields: &[list(1, "ingress", msg(&LOAD_BALANCER_INGRESS))],
};

static LOAD_BALANCER_INGRESS: Message = Message {
    name: "LoadBalancerIngress",
    fields: &[
        opt(1, "ip", STR),
        opt(2, "hostname", STR),
        ptr(3, "ipMode", STR),
        list(4, "ports", msg(&PORT_STATUS)),
    ],
};

static PORT_STATUS: Message = Message {
    name: "PortStatus",
    fields: &[
        req(1, "port", I32),
        req(2, "protocol", STR),
        ptr(3, "error", STR),
    ],
};

/// meta/v1 Condition.
pub(crate) static META_CONDITION: Message = Message {
    name: "Condition",
    fields: &[
        req(1, "type", STR),
        req(2, "status", STR),
        opt(3, "observedGeneration", I64),
        req(4, "lastTransitionTime", TIME),
        req(5, "reason", STR),
        req(6, "message", STR),
    ],
};

// ---- apps/v1

pub(crate) static DEPLOYMENT: Message = Message {
    name: "Deployment",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&DEPLOYMENT_SPEC)),
        opt(3, "status", msg(&DEPLOYMENT_STATUS)),
    ],
};

static DEPLOYMENT_SPEC: Message = Message {
    name: "DeploymentSpec",
    fields: &[
        ptr(1, "replicas", I32),
        // `Selector *metav1.LabelSelector json:"selector"`: no omitempty.
        nullable(2, "selector", msg(&LABEL_SELECTOR)),
        req(3, "template", msg(&POD_TEMPLATE_SPEC)),
        opt(4, "strategy", msg(&DEPLOYMENT_STRATEGY)),
        opt(5, "minReadySeconds", I32),
        ptr(6, "revisionHistoryLimit", I32),
        opt(7, "paused", BOOL),
        ptr(9, "progressDeadlineSeconds", I32),
    ],
};

static DEPLOYMENT_STRATEGY: Message = Message {
    name: "DeploymentStrategy",
    fields: &[
        opt(1, "type", STR),
        ptr(2, "rollingUpdate", msg(&ROLLING_UPDATE)),
    ],
};

/// RollingUpdateDeployment and RollingUpdateDaemonSet share their shape.
static ROLLING_UPDATE: Message = Message {
    name: "RollingUpdateDeployment",
    fields: &[
        ptr(1, "maxUnavailable", INT_OR_STR),
        ptr(2, "maxSurge", INT_OR_STR),
    ],
};

static DEPLOYMENT_STATUS: Message = Message {
    name: "DeploymentStatus",
    fields: &[
        opt(1, "observedGeneration", I64),
        opt(2, "replicas", I32),
        opt(3, "updatedReplicas", I32),
        opt(7, "readyReplicas", I32),
        opt(4, "availableReplicas", I32),
        opt(5, "unavailableReplicas", I32),
        ptr(9, "terminatingReplicas", I32),
        list(6, "conditions", msg(&DEPLOYMENT_CONDITION)),
        ptr(8, "collisionCount", I32),
    ],
};

static DEPLOYMENT_CONDITION: Message = Message {
    name: "DeploymentCondition",
    fields: &[
        req(1, "type", STR),
        req(2, "status", STR),
        opt(6, "lastUpdateTime", TIME),
        opt(7, "lastTransitionTime", TIME),
        opt(4, "reason", STR),
        opt(5, "message", STR),
    ],
};

pub(crate) static REPLICA_SET: Message = Message {
    name: "ReplicaSet",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&REPLICA_SET_SPEC)),
        opt(3, "status", msg(&REPLICA_SET_STATUS)),
    ],
};

static REPLICA_SET_SPEC: Message = Message {
    name: "ReplicaSetSpec",
    fields: &[
        ptr(1, "replicas", I32),
        opt(4, "minReadySeconds", I32),
        nullable(2, "selector", msg(&LABEL_SELECTOR)),
        opt(3, "template", msg(&POD_TEMPLATE_SPEC)),
    ],
};

static REPLICA_SET_STATUS: Message = Message {
    name: "ReplicaSetStatus",
    fields: &[
        req(1, "replicas", I32),
        opt(2, "fullyLabeledReplicas", I32),
        opt(4, "readyReplicas", I32),
        opt(5, "availableReplicas", I32),
        ptr(7, "terminatingReplicas", I32),
        opt(3, "observedGeneration", I64),
        list(6, "conditions", msg(&APPS_CONDITION)),
    ],
};

/// ReplicaSetCondition, StatefulSetCondition and DaemonSetCondition share
/// their shape.
static APPS_CONDITION: Message = Message {
    name: "ReplicaSetCondition",
    fields: &[
        req(1, "type", STR),
        req(2, "status", STR),
        opt(3, "lastTransitionTime", TIME),
        opt(4, "reason", STR),
        opt(5, "message", STR),
    ],
};

pub(crate) static STATEFUL_SET: Message = Message {
    name: "StatefulSet",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&STATEFUL_SET_SPEC)),
        opt(3, "status", msg(&STATEFUL_SET_STATUS)),
    ],
};

static STATEFUL_SET_SPEC: Message = Message {
    name: "StatefulSetSpec",
    fields: &[
        ptr(1, "replicas", I32),
        nullable(2, "selector", msg(&LABEL_SELECTOR)),
        req(3, "template", msg(&POD_TEMPLATE_SPEC)),
        unsupported(4, "volumeClaimTemplates"),
        opt(5, "serviceName", STR),
        opt(6, "podManagementPolicy", STR),
        opt(7, "updateStrategy", msg(&STATEFUL_SET_UPDATE_STRATEGY)),
        ptr(8, "revisionHistoryLimit", I32),
        opt(9, "minReadySeconds", I32),
        ptr(
            10,
            "persistentVolumeClaimRetentionPolicy",
            msg(&PVC_RETENTION_POLICY),
        ),
        ptr(11, "ordinals", msg(&STATEFUL_SET_ORDINALS)),
    ],
};

static STATEFUL_SET_UPDATE_STRATEGY: Message = Message {
    name: "StatefulSetUpdateStrategy",
    fields: &[
        opt(1, "type", STR),
        ptr(2, "rollingUpdate", msg(&ROLLING_UPDATE_STATEFUL_SET)),
    ],
};

static ROLLING_UPDATE_STATEFUL_SET: Message = Message {
    name: "RollingUpdateStatefulSetStrategy",
    fields: &[
        ptr(1, "partition", I32),
        ptr(2, "maxUnavailable", INT_OR_STR),
    ],
};

static PVC_RETENTION_POLICY: Message = Message {
    name: "StatefulSetPersistentVolumeClaimRetentionPolicy",
    fields: &[opt(1, "whenDeleted", STR), opt(2, "whenScaled", STR)],
};

static STATEFUL_SET_ORDINALS: Message = Message {
    name: "StatefulSetOrdinals",
    fields: &[req(1, "start", I32)],
};

static STATEFUL_SET_STATUS: Message = Message {
    name: "StatefulSetStatus",
    fields: &[
        opt(1, "observedGeneration", I64),
        req(2, "replicas", I32),
        opt(3, "readyReplicas", I32),
        opt(4, "currentReplicas", I32),
        opt(5, "updatedReplicas", I32),
        opt(6, "currentRevision", STR),
        opt(7, "updateRevision", STR),
        ptr(9, "collisionCount", I32),
        list(10, "conditions", msg(&APPS_CONDITION)),
        req(11, "availableReplicas", I32),
    ],
};

pub(crate) static DAEMON_SET: Message = Message {
    name: "DaemonSet",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&DAEMON_SET_SPEC)),
        opt(3, "status", msg(&DAEMON_SET_STATUS)),
    ],
};

static DAEMON_SET_SPEC: Message = Message {
    name: "DaemonSetSpec",
    fields: &[
        nullable(1, "selector", msg(&LABEL_SELECTOR)),
        req(2, "template", msg(&POD_TEMPLATE_SPEC)),
        opt(3, "updateStrategy", msg(&DAEMON_SET_UPDATE_STRATEGY)),
        opt(4, "minReadySeconds", I32),
        ptr(6, "revisionHistoryLimit", I32),
    ],
};

static DAEMON_SET_UPDATE_STRATEGY: Message = Message {
    name: "DaemonSetUpdateStrategy",
    fields: &[
        opt(1, "type", STR),
        ptr(2, "rollingUpdate", msg(&ROLLING_UPDATE)),
    ],
};

static DAEMON_SET_STATUS: Message = Message {
    name: "DaemonSetStatus",
    fields: &[
        req(1, "currentNumberScheduled", I32),
        req(2, "numberMisscheduled", I32),
        req(3, "desiredNumberScheduled", I32),
        req(4, "numberReady", I32),
        opt(5, "observedGeneration", I64),
        opt(6, "updatedNumberScheduled", I32),
        opt(7, "numberAvailable", I32),
        opt(8, "numberUnavailable", I32),
        ptr(9, "collisionCount", I32),
        list(10, "conditions", msg(&APPS_CONDITION)),
    ],
};

// ---- batch/v1

pub(crate) static JOB: Message = Message {
    name: "Job",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&JOB_SPEC)),
        opt(3, "status", msg(&JOB_STATUS)),
    ],
};

static JOB_SPEC: Message = Message {
    name: "JobSpec",
    fields: &[
        ptr(1, "parallelism", I32),
        ptr(2, "completions", I32),
        ptr(3, "activeDeadlineSeconds", I64),
        ptr(11, "podFailurePolicy", msg(&POD_FAILURE_POLICY)),
        ptr(16, "successPolicy", msg(&SUCCESS_POLICY)),
        ptr(7, "backoffLimit", I32),
        ptr(12, "backoffLimitPerIndex", I32),
        ptr(13, "maxFailedIndexes", I32),
        ptr(4, "selector", msg(&LABEL_SELECTOR)),
        ptr(5, "manualSelector", BOOL),
        req(6, "template", msg(&POD_TEMPLATE_SPEC)),
        ptr(8, "ttlSecondsAfterFinished", I32),
        ptr(9, "completionMode", STR),
        ptr(10, "suspend", BOOL),
        ptr(14, "podReplacementPolicy", STR),
        ptr(15, "managedBy", STR),
    ],
};

static POD_FAILURE_POLICY: Message = Message {
    name: "PodFailurePolicy",
    fields: &[list_req(1, "rules", msg(&POD_FAILURE_POLICY_RULE))],
};

static POD_FAILURE_POLICY_RULE: Message = Message {
    name: "PodFailurePolicyRule",
    fields: &[
        req(1, "action", STR),
        // `json:"onExitCodes"` and `json:"onPodConditions"`: no omitempty.
        nullable(2, "onExitCodes", msg(&ON_EXIT_CODES)),
        list_req(3, "onPodConditions", msg(&ON_POD_CONDITIONS)),
    ],
};

static ON_EXIT_CODES: Message = Message {
    name: "PodFailurePolicyOnExitCodesRequirement",
    fields: &[
        // `ContainerName *string json:"containerName"`: no omitempty.
        nullable(1, "containerName", STR),
        req(2, "operator", STR),
        list_req(3, "values", I32),
    ],
};

static ON_POD_CONDITIONS: Message = Message {
    name: "PodFailurePolicyOnPodConditionsPattern",
    fields: &[req(1, "type", STR), req(2, "status", STR)],
};

static SUCCESS_POLICY: Message = Message {
    name: "SuccessPolicy",
    fields: &[list_req(1, "rules", msg(&SUCCESS_POLICY_RULE))],
};

static SUCCESS_POLICY_RULE: Message = Message {
    name: "SuccessPolicyRule",
    fields: &[
        ptr(1, "succeededIndexes", STR),
        ptr(2, "succeededCount", I32),
    ],
};

static JOB_STATUS: Message = Message {
    name: "JobStatus",
    fields: &[
        list(1, "conditions", msg(&JOB_CONDITION)),
        ptr(2, "startTime", TIME),
        ptr(3, "completionTime", TIME),
        opt(4, "active", I32),
        opt(5, "succeeded", I32),
        opt(6, "failed", I32),
        ptr(11, "terminating", I32),
        opt(7, "completedIndexes", STR),
        ptr(10, "failedIndexes", STR),
        ptr(
            8,
            "uncountedTerminatedPods",
            msg(&UNCOUNTED_TERMINATED_PODS),
        ),
        ptr(9, "ready", I32),
    ],
};

static JOB_CONDITION: Message = Message {
    name: "JobCondition",
    fields: &[
        req(1, "type", STR),
        req(2, "status", STR),
        opt(3, "lastProbeTime", TIME),
        opt(4, "lastTransitionTime", TIME),
        opt(5, "reason", STR),
        opt(6, "message", STR),
    ],
};

static UNCOUNTED_TERMINATED_PODS: Message = Message {
    name: "UncountedTerminatedPods",
    fields: &[list(1, "succeeded", STR), list(2, "failed", STR)],
};

pub(crate) static CRON_JOB: Message = Message {
    name: "CronJob",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&CRON_JOB_SPEC)),
        opt(3, "status", msg(&CRON_JOB_STATUS)),
    ],
};

static CRON_JOB_SPEC: Message = Message {
    name: "CronJobSpec",
    fields: &[
        req(1, "schedule", STR),
        ptr(8, "timeZone", STR),
        ptr(2, "startingDeadlineSeconds", I64),
        opt(3, "concurrencyPolicy", STR),
        ptr(4, "suspend", BOOL),
        req(5, "jobTemplate", msg(&JOB_TEMPLATE_SPEC)),
        ptr(6, "successfulJobsHistoryLimit", I32),
        ptr(7, "failedJobsHistoryLimit", I32),
    ],
};

static JOB_TEMPLATE_SPEC: Message = Message {
    name: "JobTemplateSpec",
    fields: &[
        opt(1, "metadata", msg(&OBJECT_META)),
        opt(2, "spec", msg(&JOB_SPEC)),
    ],
};

static CRON_JOB_STATUS: Message = Message {
    name: "CronJobStatus",
    fields: &[
        list(1, "active", msg(&OBJECT_REFERENCE)),
        ptr(4, "lastScheduleTime", TIME),
        ptr(5, "lastSuccessfulTime", TIME),
    ],
};
