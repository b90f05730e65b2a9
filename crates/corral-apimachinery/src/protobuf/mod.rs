//! Decoding of Kubernetes protobuf request bodies
//! (`application/vnd.kubernetes.protobuf`) into the JSON objects
//! kube-apiserver would serialize for the same Go objects.
//!
//! A body is the 4-byte magic `k8s\0` followed by a `runtime.Unknown`
//! envelope (k8s.io/apimachinery pkg/runtime/generated.proto):
//! `typeMeta = 1` ({apiVersion = 1, kind = 2}), `raw = 2` (the object's own
//! message), `contentEncoding = 3`, `contentType = 4`.
//!
//! The object message is decoded by one generic, schema-driven walker
//! (`decode`) over declarative per-message tables (`meta`, `core`,
//! `auth`, `container`, `podspec`, `workloads`, `cluster`); supporting another kind means adding
//! its table and a row in `KINDS`. The JSON follows Go's encoding/json on the decoded struct:
//! `omitempty` values are dropped when empty, fields without it are always
//! present (Go's zero value when absent), pointers appear exactly when
//! they were on the wire, structs are never omitted, zero `Time`s are null
//! (`metadata.creationTimestamp`, `omitzero`, is dropped), `[]byte` is
//! base64, maps are objects and int64 are numbers. Unknown field numbers
//! are skipped, so newer clients' additions do not fail the request; fields
//! upstream defines that the tables deliberately leave out are listed as
//! unsupported and fail the request with [`ProtobufError::UnsupportedField`].

mod auth;
mod cluster;
mod container;
mod core;
mod decode;
mod meta;
mod podspec;
mod schema;
mod wire;
mod workloads;

use schema::Message;
use serde_json::{Map, Value};
use wire::{LEN, Reader};

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("protobuf body does not start with the Kubernetes magic prefix \"k8s\\x00\"")]
    MissingMagic,
    /// A varint, length or payload runs past the end of its message.
    #[error("protobuf data is truncated")]
    Truncated,
    /// Malformed wire data (bad varint, field number, wire type or group,
    /// or a fieldsV1 payload that is not JSON).
    #[error("invalid protobuf data: {0}")]
    Invalid(String),
    /// The envelope names a kind this decoder has no schema for.
    #[error(
        "no kind \"{kind}\" is registered for version \"{api_version}\" in the protobuf decoder"
    )]
    UnknownKind { api_version: String, kind: String },
    /// A known field arrived with a wire type its schema does not allow.
    #[error("protobuf field {message}.{field} has wire type {actual}, expected {expected}")]
    WrongWireType {
        message: &'static str,
        field: &'static str,
        expected: u8,
        actual: u8,
    },
    /// A field upstream defines but this decoder does not model (e.g. pod
    /// affinity) was present: refused rather than silently dropped.
    #[error(
        "protobuf field {message}.{field} is not supported by this server's protobuf decoder; send the object as JSON instead"
    )]
    UnsupportedField {
        message: &'static str,
        field: &'static str,
    },
    /// The envelope's contentEncoding is set (e.g. gzip); not supported.
    #[error("unsupported protobuf content encoding {0:?}")]
    UnsupportedEncoding(String),
}

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Decode a Kubernetes protobuf-encoded object (the 4-byte magic `k8s\0`
/// followed by a runtime.Unknown envelope whose `raw` field holds the
/// object's message) into its JSON form, exactly as the same object would be
/// serialized to JSON by kube-apiserver (camelCase field names, omitted empty
/// fields, Time as RFC3339 "2006-01-02T15:04:05Z", MicroTime as RFC3339 with
/// 6 fractional digits, []byte as base64 strings, maps as JSON objects, int64
/// as JSON numbers). `apiVersion` and `kind` come from the envelope's
/// typeMeta.
pub fn decode_object(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let envelope = Envelope::decode(rest)?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedEncoding(
            envelope.content_encoding,
        ));
    }
    let message = lookup(&envelope.api_version, &envelope.kind).ok_or_else(|| {
        ProtobufError::UnknownKind {
            api_version: envelope.api_version.clone(),
            kind: envelope.kind.clone(),
        }
    })?;
    let fields = decode::decode_message(message, envelope.raw)?;
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(envelope.api_version));
    object.insert("kind".into(), Value::String(envelope.kind));
    object.extend(fields);
    Ok(Value::Object(object))
}

/// The (apiVersion, kind) pairs this decoder knows.
pub fn supported_kinds() -> Vec<(&'static str, &'static str)> {
    KINDS.iter().map(|(v, k, _)| (*v, *k)).collect()
}

fn lookup(api_version: &str, kind: &str) -> Option<&'static Message> {
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, m)| *m)
}

const RBAC: &str = "rbac.authorization.k8s.io/v1";
const AUTHZ: &str = "authorization.k8s.io/v1";
const AUTHN: &str = "authentication.k8s.io/v1";
const EVENTS: &str = "events.k8s.io/v1";
const COORDINATION: &str = "coordination.k8s.io/v1";
const APPS: &str = "apps/v1";
const BATCH: &str = "batch/v1";
const POLICY: &str = "policy/v1";
const SCHEDULING: &str = "scheduling.k8s.io/v1";
const NETWORKING: &str = "networking.k8s.io/v1";

/// Every decodable (apiVersion, kind) and its message. DeleteOptions is
/// registered in meta.k8s.io/v1 and, as upstream's `AddToGroupVersion`
/// does, in every group version served here, since clients tag the body
/// with the group version of the resource being deleted.
static KINDS: &[(&str, &str, &Message)] = &[
    ("v1", "ConfigMap", &core::CONFIG_MAP),
    ("v1", "Secret", &core::SECRET),
    ("v1", "Namespace", &core::NAMESPACE),
    ("v1", "ServiceAccount", &core::SERVICE_ACCOUNT),
    ("v1", "Event", &core::EVENT),
    ("v1", "Service", &workloads::SERVICE),
    (APPS, "Deployment", &workloads::DEPLOYMENT),
    (APPS, "ReplicaSet", &workloads::REPLICA_SET),
    (APPS, "StatefulSet", &workloads::STATEFUL_SET),
    (APPS, "DaemonSet", &workloads::DAEMON_SET),
    (BATCH, "Job", &workloads::JOB),
    (BATCH, "CronJob", &workloads::CRON_JOB),
    ("v1", "ResourceQuota", &cluster::RESOURCE_QUOTA),
    (
        POLICY,
        "PodDisruptionBudget",
        &cluster::POD_DISRUPTION_BUDGET,
    ),
    (SCHEDULING, "PriorityClass", &cluster::PRIORITY_CLASS),
    (NETWORKING, "Ingress", &cluster::INGRESS),
    (EVENTS, "Event", &core::EVENTS_EVENT),
    (COORDINATION, "Lease", &core::LEASE),
    (RBAC, "Role", &auth::ROLE),
    (RBAC, "ClusterRole", &auth::CLUSTER_ROLE),
    (RBAC, "RoleBinding", &auth::ROLE_BINDING),
    (RBAC, "ClusterRoleBinding", &auth::CLUSTER_ROLE_BINDING),
    (
        AUTHZ,
        "SelfSubjectAccessReview",
        &auth::SELF_SUBJECT_ACCESS_REVIEW,
    ),
    (AUTHZ, "SubjectAccessReview", &auth::SUBJECT_ACCESS_REVIEW),
    (
        AUTHZ,
        "LocalSubjectAccessReview",
        &auth::LOCAL_SUBJECT_ACCESS_REVIEW,
    ),
    (
        AUTHZ,
        "SelfSubjectRulesReview",
        &auth::SELF_SUBJECT_RULES_REVIEW,
    ),
    (AUTHN, "TokenRequest", &auth::TOKEN_REQUEST),
    (AUTHN, "TokenReview", &auth::TOKEN_REVIEW),
    (AUTHN, "SelfSubjectReview", &auth::SELF_SUBJECT_REVIEW),
    ("meta.k8s.io/v1", "DeleteOptions", &meta::DELETE_OPTIONS),
    ("v1", "DeleteOptions", &meta::DELETE_OPTIONS),
    (EVENTS, "DeleteOptions", &meta::DELETE_OPTIONS),
    (COORDINATION, "DeleteOptions", &meta::DELETE_OPTIONS),
    (RBAC, "DeleteOptions", &meta::DELETE_OPTIONS),
    (AUTHZ, "DeleteOptions", &meta::DELETE_OPTIONS),
    (AUTHN, "DeleteOptions", &meta::DELETE_OPTIONS),
    (APPS, "DeleteOptions", &meta::DELETE_OPTIONS),
    (BATCH, "DeleteOptions", &meta::DELETE_OPTIONS),
    (POLICY, "DeleteOptions", &meta::DELETE_OPTIONS),
    (SCHEDULING, "DeleteOptions", &meta::DELETE_OPTIONS),
    (NETWORKING, "DeleteOptions", &meta::DELETE_OPTIONS),
];

/// The parts of `runtime.Unknown` the decoder uses.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    fn decode(buf: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut envelope = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
        };
        let mut r = Reader::new(buf);
        while !r.at_end() {
            let (num, wire) = r.key()?;
            let field = match num {
                1 => "typeMeta",
                2 => "raw",
                3 => "contentEncoding",
                4 => "contentType",
                _ => {
                    r.skip(num, wire)?;
                    continue;
                }
            };
            if wire != LEN {
                return Err(ProtobufError::WrongWireType {
                    message: "Unknown",
                    field,
                    expected: LEN,
                    actual: wire,
                });
            }
            let bytes = r.bytes()?;
            match num {
                1 => envelope.read_type_meta(bytes)?,
                2 => envelope.raw = bytes,
                3 => envelope.content_encoding = String::from_utf8_lossy(bytes).into_owned(),
                _ => {} // contentType: informational only.
            }
        }
        Ok(envelope)
    }

    /// runtime `TypeMeta { apiVersion = 1, kind = 2 }`; repeated
    /// occurrences merge.
    fn read_type_meta(&mut self, buf: &[u8]) -> Result<(), ProtobufError> {
        let mut r = Reader::new(buf);
        while !r.at_end() {
            let (num, wire) = r.key()?;
            let field = match num {
                1 => "apiVersion",
                2 => "kind",
                _ => {
                    r.skip(num, wire)?;
                    continue;
                }
            };
            if wire != LEN {
                return Err(ProtobufError::WrongWireType {
                    message: "TypeMeta",
                    field,
                    expected: LEN,
                    actual: wire,
                });
            }
            let value = String::from_utf8_lossy(r.bytes()?).into_owned();
            if num == 1 {
                self.api_version = value;
            } else {
                self.kind = value;
            }
        }
        Ok(())
    }
}
