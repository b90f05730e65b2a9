//! core/v1 Container and what it holds: ports, env, resources, volume
//! mounts, probes, lifecycle hooks and security contexts. Field numbers:
//! k8s.io/api core/v1 generated.proto; JSON names and emission: the json
//! tags of core/v1 types.go (pointers such as `*int64`/`*bool` are `ptr`,
//! plain values with `omitempty` are `opt`, tags without `omitempty` are
//! `req`).

use super::schema::{
    BOOL, I32, I64, INT_OR_STR, Message, QTY, QTY_MAP, STR, inline, list, msg, nullable, opt, ptr,
    req, unsupported,
};

/// Container (also EphemeralContainerCommon, which shares its field numbers).
pub(crate) static CONTAINER: Message = Message {
    name: "Container",
    fields: &[
        req(1, "name", STR),
        opt(2, "image", STR),
        list(3, "command", STR),
        list(4, "args", STR),
        opt(5, "workingDir", STR),
        list(6, "ports", msg(&CONTAINER_PORT)),
        list(19, "envFrom", msg(&ENV_FROM_SOURCE)),
        list(7, "env", msg(&ENV_VAR)),
        // A struct with omitempty: always emitted, `{}` when empty.
        opt(8, "resources", msg(&RESOURCE_REQUIREMENTS)),
        list(23, "resizePolicy", msg(&CONTAINER_RESIZE_POLICY)),
        ptr(24, "restartPolicy", STR),
        unsupported(25, "restartPolicyRules"),
        list(9, "volumeMounts", msg(&VOLUME_MOUNT)),
        list(21, "volumeDevices", msg(&VOLUME_DEVICE)),
        ptr(10, "livenessProbe", msg(&PROBE)),
        ptr(11, "readinessProbe", msg(&PROBE)),
        ptr(22, "startupProbe", msg(&PROBE)),
        ptr(12, "lifecycle", msg(&LIFECYCLE)),
        opt(13, "terminationMessagePath", STR),
        opt(20, "terminationMessagePolicy", STR),
        opt(14, "imagePullPolicy", STR),
        ptr(15, "securityContext", msg(&SECURITY_CONTEXT)),
        opt(16, "stdin", BOOL),
        opt(17, "stdinOnce", BOOL),
        opt(18, "tty", BOOL),
    ],
};

/// EphemeralContainer: `EphemeralContainerCommon` (inline) plus the target.
pub(crate) static EPHEMERAL_CONTAINER: Message = Message {
    name: "EphemeralContainer",
    fields: &[inline(1, &CONTAINER), opt(2, "targetContainerName", STR)],
};

static CONTAINER_PORT: Message = Message {
    name: "ContainerPort",
    fields: &[
        opt(1, "name", STR),
        opt(2, "hostPort", I32),
        req(3, "containerPort", I32),
        opt(4, "protocol", STR),
        opt(5, "hostIP", STR),
    ],
};

static CONTAINER_RESIZE_POLICY: Message = Message {
    name: "ContainerResizePolicy",
    fields: &[req(1, "resourceName", STR), req(2, "restartPolicy", STR)],
};

static ENV_VAR: Message = Message {
    name: "EnvVar",
    fields: &[
        req(1, "name", STR),
        opt(2, "value", STR),
        ptr(3, "valueFrom", msg(&ENV_VAR_SOURCE)),
    ],
};

static ENV_VAR_SOURCE: Message = Message {
    name: "EnvVarSource",
    fields: &[
        ptr(1, "fieldRef", msg(&OBJECT_FIELD_SELECTOR)),
        ptr(2, "resourceFieldRef", msg(&RESOURCE_FIELD_SELECTOR)),
        ptr(3, "configMapKeyRef", msg(&KEY_SELECTOR)),
        ptr(4, "secretKeyRef", msg(&KEY_SELECTOR)),
        ptr(5, "fileKeyRef", msg(&FILE_KEY_SELECTOR)),
    ],
};

pub(crate) static OBJECT_FIELD_SELECTOR: Message = Message {
    name: "ObjectFieldSelector",
    fields: &[opt(1, "apiVersion", STR), req(2, "fieldPath", STR)],
};

pub(crate) static RESOURCE_FIELD_SELECTOR: Message = Message {
    name: "ResourceFieldSelector",
    fields: &[
        opt(1, "containerName", STR),
        req(2, "resource", STR),
        // A Quantity value with omitempty: Go emits "0" when unset.
        opt(3, "divisor", QTY),
    ],
};

/// ConfigMapKeySelector and SecretKeySelector share their shape.
static KEY_SELECTOR: Message = Message {
    name: "KeySelector",
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        req(2, "key", STR),
        ptr(3, "optional", BOOL),
    ],
};

static FILE_KEY_SELECTOR: Message = Message {
    name: "FileKeySelector",
    fields: &[
        req(1, "volumeName", STR),
        req(2, "path", STR),
        req(3, "key", STR),
        ptr(4, "optional", BOOL),
    ],
};

pub(crate) static LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "LocalObjectReference",
    fields: &[opt(1, "name", STR)],
};

static ENV_FROM_SOURCE: Message = Message {
    name: "EnvFromSource",
    fields: &[
        opt(1, "prefix", STR),
        ptr(2, "configMapRef", msg(&ENV_SOURCE)),
        ptr(3, "secretRef", msg(&ENV_SOURCE)),
    ],
};

/// ConfigMapEnvSource and SecretEnvSource share their shape.
static ENV_SOURCE: Message = Message {
    name: "EnvSource",
    fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), ptr(2, "optional", BOOL)],
};

pub(crate) static RESOURCE_REQUIREMENTS: Message = Message {
    name: "ResourceRequirements",
    fields: &[
        opt(1, "limits", QTY_MAP),
        opt(2, "requests", QTY_MAP),
        list(3, "claims", msg(&RESOURCE_CLAIM)),
    ],
};

static RESOURCE_CLAIM: Message = Message {
    name: "ResourceClaim",
    fields: &[req(1, "name", STR), opt(2, "request", STR)],
};

static VOLUME_MOUNT: Message = Message {
    name: "VolumeMount",
    fields: &[
        req(1, "name", STR),
        opt(2, "readOnly", BOOL),
        ptr(7, "recursiveReadOnly", STR),
        req(3, "mountPath", STR),
        opt(4, "subPath", STR),
        ptr(5, "mountPropagation", STR),
        opt(6, "subPathExpr", STR),
    ],
};

static VOLUME_DEVICE: Message = Message {
    name: "VolumeDevice",
    fields: &[req(1, "name", STR), req(2, "devicePath", STR)],
};

/// Probe: the ProbeHandler is embedded (`json:",inline"`).
static PROBE: Message = Message {
    name: "Probe",
    fields: &[
        inline(1, &PROBE_HANDLER),
        opt(2, "initialDelaySeconds", I32),
        opt(3, "timeoutSeconds", I32),
        opt(4, "periodSeconds", I32),
        opt(5, "successThreshold", I32),
        opt(6, "failureThreshold", I32),
        ptr(7, "terminationGracePeriodSeconds", I64),
    ],
};

static PROBE_HANDLER: Message = Message {
    name: "ProbeHandler",
    fields: &[
        ptr(1, "exec", msg(&EXEC_ACTION)),
        ptr(2, "httpGet", msg(&HTTP_GET_ACTION)),
        ptr(3, "tcpSocket", msg(&TCP_SOCKET_ACTION)),
        ptr(4, "grpc", msg(&GRPC_ACTION)),
    ],
};

static EXEC_ACTION: Message = Message {
    name: "ExecAction",
    fields: &[list(1, "command", STR)],
};

static HTTP_GET_ACTION: Message = Message {
    name: "HTTPGetAction",
    fields: &[
        opt(1, "path", STR),
        req(2, "port", INT_OR_STR),
        opt(3, "host", STR),
        opt(4, "scheme", STR),
        list(5, "httpHeaders", msg(&HTTP_HEADER)),
    ],
};

static HTTP_HEADER: Message = Message {
    name: "HTTPHeader",
    fields: &[req(1, "name", STR), req(2, "value", STR)],
};

static TCP_SOCKET_ACTION: Message = Message {
    name: "TCPSocketAction",
    fields: &[req(1, "port", INT_OR_STR), opt(2, "host", STR)],
};

/// `Service *string json:"service"`: a pointer without omitempty.
static GRPC_ACTION: Message = Message {
    name: "GRPCAction",
    fields: &[req(1, "port", I32), nullable(2, "service", STR)],
};

static LIFECYCLE: Message = Message {
    name: "Lifecycle",
    fields: &[
        ptr(1, "postStart", msg(&LIFECYCLE_HANDLER)),
        ptr(2, "preStop", msg(&LIFECYCLE_HANDLER)),
        ptr(3, "stopSignal", STR),
    ],
};

static LIFECYCLE_HANDLER: Message = Message {
    name: "LifecycleHandler",
    fields: &[
        ptr(1, "exec", msg(&EXEC_ACTION)),
        ptr(2, "httpGet", msg(&HTTP_GET_ACTION)),
        ptr(3, "tcpSocket", msg(&TCP_SOCKET_ACTION)),
        ptr(4, "sleep", msg(&SLEEP_ACTION)),
    ],
};

static SLEEP_ACTION: Message = Message {
    name: "SleepAction",
    fields: &[req(1, "seconds", I64)],
};

static SECURITY_CONTEXT: Message = Message {
    name: "SecurityContext",
    fields: &[
        ptr(1, "capabilities", msg(&CAPABILITIES)),
        ptr(2, "privileged", BOOL),
        ptr(3, "seLinuxOptions", msg(&SE_LINUX_OPTIONS)),
        ptr(10, "windowsOptions", msg(&WINDOWS_OPTIONS)),
        ptr(4, "runAsUser", I64),
        ptr(8, "runAsGroup", I64),
        ptr(5, "runAsNonRoot", BOOL),
        ptr(6, "readOnlyRootFilesystem", BOOL),
        ptr(7, "allowPrivilegeEscalation", BOOL),
        ptr(9, "procMount", STR),
        ptr(11, "seccompProfile", msg(&SECCOMP_PROFILE)),
        ptr(12, "appArmorProfile", msg(&APP_ARMOR_PROFILE)),
        unsupported(13, "ulimits"),
    ],
};

static CAPABILITIES: Message = Message {
    name: "Capabilities",
    fields: &[list(1, "add", STR), list(2, "drop", STR)],
};

pub(crate) static SE_LINUX_OPTIONS: Message = Message {
    name: "SELinuxOptions",
    fields: &[
        opt(1, "user", STR),
        opt(2, "role", STR),
        opt(3, "type", STR),
        opt(4, "level", STR),
    ],
};

pub(crate) static WINDOWS_OPTIONS: Message = Message {
    name: "WindowsSecurityContextOptions",
    fields: &[
        ptr(1, "gmsaCredentialSpecName", STR),
        ptr(2, "gmsaCredentialSpec", STR),
        ptr(3, "runAsUserName", STR),
        ptr(4, "hostProcess", BOOL),
    ],
};

/// SeccompProfile and AppArmorProfile share their shape.
pub(crate) static SECCOMP_PROFILE: Message = Message {
    name: "SeccompProfile",
    fields: &[req(1, "type", STR), ptr(2, "localhostProfile", STR)],
};

pub(crate) static APP_ARMOR_PROFILE: Message = Message {
    name: "AppArmorProfile",
    fields: SECCOMP_PROFILE.fields,
};
