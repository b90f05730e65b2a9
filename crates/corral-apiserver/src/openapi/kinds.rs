//! The kinds whose schemas come from `k8s-openapi`: every top-level kind it
//! has for the API groups kube-apiserver serves, whether or not Corral serves
//! it yet. A kind reaches a document only when the registry serves it, so a
//! new built-in type needs no change here.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use k8s_openapi::{api, apimachinery};

/// One kind: where it is served and how to generate its schema (which also
/// adds every schema it references to the generator's definitions).
pub struct KindSchema {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Adds the schema and returns its component name (`io.k8s.api.core.v1.ConfigMap`).
    pub add: fn(&mut SchemaGenerator) -> String,
}

fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

const fn k(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    add: fn(&mut SchemaGenerator) -> String,
) -> KindSchema {
    KindSchema {
        group,
        version,
        kind,
        add,
    }
}

/// Kinds that subresources take and return (`serviceaccounts/token` takes a
/// TokenRequest): subresource name → the kind's group, version and kind.
pub const SUBRESOURCE_KINDS: &[(&str, &str, &str, &str)] = &[
    ("token", "authentication.k8s.io", "v1", "TokenRequest"),
    ("scale", "autoscaling", "v1", "Scale"),
    ("eviction", "policy", "v1", "Eviction"),
    ("binding", "", "v1", "Binding"),
];

/// The meta types that operations reference (responses, request bodies),
/// added to every document whatever it serves.
pub const META: &[fn(&mut SchemaGenerator) -> String] = &[
    add::<meta::v1::Status>,
    add::<meta::v1::DeleteOptions>,
    add::<meta::v1::WatchEvent<api::core::v1::ConfigMap>>,
    add::<meta::v1::Patch>,
    add::<meta::v1::APIResourceList>,
    add::<meta::v1::ObjectMeta>,
    add::<meta::v1::ListMeta>,
    add::<apimachinery::pkg::runtime::RawExtension>,
];

pub const KINDS: &[KindSchema] = &[
    k(
        "admissionregistration.k8s.io",
        "v1alpha1",
        "MutatingAdmissionPolicyBinding",
        add::<api::admissionregistration::v1alpha1::MutatingAdmissionPolicyBinding>,
    ),
    k(
        "admissionregistration.k8s.io",
        "v1alpha1",
        "MutatingAdmissionPolicy",
        add::<api::admissionregistration::v1alpha1::MutatingAdmissionPolicy>,
    ),
    k(
        "admissionregistration.k8s.io",
        "v1beta1",
        "MutatingAdmissionPolicyBinding",
        add::<api::admissionregistration::v1beta1::MutatingAdmissionPolicyBinding>,
    ),
    k(
        "admissionregistration.k8s.io",
        "v1beta1",
        "MutatingAdmissionPolicy",
        add::<api::admissionregistration::v1beta1::MutatingAdmissionPolicy>,
    ),
    k(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        add::<api::admissionregistration::v1::MutatingWebhookConfiguration>,
    ),
    k(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        add::<api::admissionregistration::v1::ValidatingAdmissionPolicyBinding>,
    ),
    k(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        add::<api::admissionregistration::v1::ValidatingAdmissionPolicy>,
    ),
    k(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        add::<api::admissionregistration::v1::ValidatingWebhookConfiguration>,
    ),
    k(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        add::<apiextensions::v1::CustomResourceDefinition>,
    ),
    k(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        add::<apiregistration::v1::APIService>,
    ),
    k(
        "apps",
        "v1",
        "ControllerRevision",
        add::<api::apps::v1::ControllerRevision>,
    ),
    k("apps", "v1", "DaemonSet", add::<api::apps::v1::DaemonSet>),
    k("apps", "v1", "Deployment", add::<api::apps::v1::Deployment>),
    k("apps", "v1", "ReplicaSet", add::<api::apps::v1::ReplicaSet>),
    k(
        "apps",
        "v1",
        "StatefulSet",
        add::<api::apps::v1::StatefulSet>,
    ),
    k(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        add::<api::authentication::v1::SelfSubjectReview>,
    ),
    k(
        "authentication.k8s.io",
        "v1",
        "TokenRequest",
        add::<api::authentication::v1::TokenRequest>,
    ),
    k(
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        add::<api::authentication::v1::TokenReview>,
    ),
    k(
        "authorization.k8s.io",
        "v1",
        "LocalSubjectAccessReview",
        add::<api::authorization::v1::LocalSubjectAccessReview>,
    ),
    k(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        add::<api::authorization::v1::SelfSubjectAccessReview>,
    ),
    k(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        add::<api::authorization::v1::SelfSubjectRulesReview>,
    ),
    k(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        add::<api::authorization::v1::SubjectAccessReview>,
    ),
    k(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        add::<api::autoscaling::v1::HorizontalPodAutoscaler>,
    ),
    k(
        "autoscaling",
        "v1",
        "Scale",
        add::<api::autoscaling::v1::Scale>,
    ),
    k(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        add::<api::autoscaling::v2::HorizontalPodAutoscaler>,
    ),
    k("batch", "v1", "CronJob", add::<api::batch::v1::CronJob>),
    k("batch", "v1", "Job", add::<api::batch::v1::Job>),
    k(
        "certificates.k8s.io",
        "v1alpha1",
        "ClusterTrustBundle",
        add::<api::certificates::v1alpha1::ClusterTrustBundle>,
    ),
    k(
        "certificates.k8s.io",
        "v1beta1",
        "ClusterTrustBundle",
        add::<api::certificates::v1beta1::ClusterTrustBundle>,
    ),
    k(
        "certificates.k8s.io",
        "v1beta1",
        "PodCertificateRequest",
        add::<api::certificates::v1beta1::PodCertificateRequest>,
    ),
    k(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        add::<api::certificates::v1::CertificateSigningRequest>,
    ),
    k(
        "coordination.k8s.io",
        "v1alpha2",
        "LeaseCandidate",
        add::<api::coordination::v1alpha2::LeaseCandidate>,
    ),
    k(
        "coordination.k8s.io",
        "v1beta1",
        "LeaseCandidate",
        add::<api::coordination::v1beta1::LeaseCandidate>,
    ),
    k(
        "coordination.k8s.io",
        "v1",
        "Lease",
        add::<api::coordination::v1::Lease>,
    ),
    k(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        add::<api::discovery::v1::EndpointSlice>,
    ),
    k(
        "events.k8s.io",
        "v1",
        "Event",
        add::<api::events::v1::Event>,
    ),
    k(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "FlowSchema",
        add::<api::flowcontrol::v1::FlowSchema>,
    ),
    k(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "PriorityLevelConfiguration",
        add::<api::flowcontrol::v1::PriorityLevelConfiguration>,
    ),
    k(
        "internal.apiserver.k8s.io",
        "v1alpha1",
        "StorageVersion",
        add::<api::apiserverinternal::v1alpha1::StorageVersion>,
    ),
    k(
        "networking.k8s.io",
        "v1beta1",
        "IPAddress",
        add::<api::networking::v1beta1::IPAddress>,
    ),
    k(
        "networking.k8s.io",
        "v1beta1",
        "ServiceCIDR",
        add::<api::networking::v1beta1::ServiceCIDR>,
    ),
    k(
        "networking.k8s.io",
        "v1",
        "IPAddress",
        add::<api::networking::v1::IPAddress>,
    ),
    k(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        add::<api::networking::v1::IngressClass>,
    ),
    k(
        "networking.k8s.io",
        "v1",
        "Ingress",
        add::<api::networking::v1::Ingress>,
    ),
    k(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        add::<api::networking::v1::NetworkPolicy>,
    ),
    k(
        "networking.k8s.io",
        "v1",
        "ServiceCIDR",
        add::<api::networking::v1::ServiceCIDR>,
    ),
    k(
        "node.k8s.io",
        "v1",
        "RuntimeClass",
        add::<api::node::v1::RuntimeClass>,
    ),
    k("policy", "v1", "Eviction", add::<api::policy::v1::Eviction>),
    k(
        "policy",
        "v1",
        "PodDisruptionBudget",
        add::<api::policy::v1::PodDisruptionBudget>,
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        add::<api::rbac::v1::ClusterRoleBinding>,
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        add::<api::rbac::v1::ClusterRole>,
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        add::<api::rbac::v1::RoleBinding>,
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        add::<api::rbac::v1::Role>,
    ),
    k(
        "resource.k8s.io",
        "v1alpha3",
        "DeviceTaintRule",
        add::<api::resource::v1alpha3::DeviceTaintRule>,
    ),
    k(
        "resource.k8s.io",
        "v1beta1",
        "DeviceClass",
        add::<api::resource::v1beta1::DeviceClass>,
    ),
    k(
        "resource.k8s.io",
        "v1beta1",
        "ResourceClaimTemplate",
        add::<api::resource::v1beta1::ResourceClaimTemplate>,
    ),
    k(
        "resource.k8s.io",
        "v1beta1",
        "ResourceClaim",
        add::<api::resource::v1beta1::ResourceClaim>,
    ),
    k(
        "resource.k8s.io",
        "v1beta1",
        "ResourceSlice",
        add::<api::resource::v1beta1::ResourceSlice>,
    ),
    k(
        "resource.k8s.io",
        "v1beta2",
        "DeviceClass",
        add::<api::resource::v1beta2::DeviceClass>,
    ),
    k(
        "resource.k8s.io",
        "v1beta2",
        "ResourceClaimTemplate",
        add::<api::resource::v1beta2::ResourceClaimTemplate>,
    ),
    k(
        "resource.k8s.io",
        "v1beta2",
        "ResourceClaim",
        add::<api::resource::v1beta2::ResourceClaim>,
    ),
    k(
        "resource.k8s.io",
        "v1beta2",
        "ResourceSlice",
        add::<api::resource::v1beta2::ResourceSlice>,
    ),
    k(
        "resource.k8s.io",
        "v1",
        "DeviceClass",
        add::<api::resource::v1::DeviceClass>,
    ),
    k(
        "resource.k8s.io",
        "v1",
        "ResourceClaimTemplate",
        add::<api::resource::v1::ResourceClaimTemplate>,
    ),
    k(
        "resource.k8s.io",
        "v1",
        "ResourceClaim",
        add::<api::resource::v1::ResourceClaim>,
    ),
    k(
        "resource.k8s.io",
        "v1",
        "ResourceSlice",
        add::<api::resource::v1::ResourceSlice>,
    ),
    k(
        "scheduling.k8s.io",
        "v1alpha1",
        "Workload",
        add::<api::scheduling::v1alpha1::Workload>,
    ),
    k(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        add::<api::scheduling::v1::PriorityClass>,
    ),
    k(
        "storage.k8s.io",
        "v1beta1",
        "VolumeAttributesClass",
        add::<api::storage::v1beta1::VolumeAttributesClass>,
    ),
    k(
        "storage.k8s.io",
        "v1",
        "CSIDriver",
        add::<api::storage::v1::CSIDriver>,
    ),
    k(
        "storage.k8s.io",
        "v1",
        "CSINode",
        add::<api::storage::v1::CSINode>,
    ),
    k(
        "storage.k8s.io",
        "v1",
        "CSIStorageCapacity",
        add::<api::storage::v1::CSIStorageCapacity>,
    ),
    k(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        add::<api::storage::v1::StorageClass>,
    ),
    k(
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        add::<api::storage::v1::VolumeAttachment>,
    ),
    k(
        "storage.k8s.io",
        "v1",
        "VolumeAttributesClass",
        add::<api::storage::v1::VolumeAttributesClass>,
    ),
    k(
        "storagemigration.k8s.io",
        "v1beta1",
        "StorageVersionMigration",
        add::<api::storagemigration::v1beta1::StorageVersionMigration>,
    ),
    k("", "v1", "Binding", add::<api::core::v1::Binding>),
    k(
        "",
        "v1",
        "ComponentStatus",
        add::<api::core::v1::ComponentStatus>,
    ),
    k("", "v1", "ConfigMap", add::<api::core::v1::ConfigMap>),
    k("", "v1", "Endpoints", add::<api::core::v1::Endpoints>),
    k("", "v1", "Event", add::<api::core::v1::Event>),
    k("", "v1", "LimitRange", add::<api::core::v1::LimitRange>),
    k("", "v1", "Namespace", add::<api::core::v1::Namespace>),
    k("", "v1", "Node", add::<api::core::v1::Node>),
    k(
        "",
        "v1",
        "PersistentVolumeClaim",
        add::<api::core::v1::PersistentVolumeClaim>,
    ),
    k(
        "",
        "v1",
        "PersistentVolume",
        add::<api::core::v1::PersistentVolume>,
    ),
    k("", "v1", "PodTemplate", add::<api::core::v1::PodTemplate>),
    k("", "v1", "Pod", add::<api::core::v1::Pod>),
    k(
        "",
        "v1",
        "ReplicationController",
        add::<api::core::v1::ReplicationController>,
    ),
    k(
        "",
        "v1",
        "ResourceQuota",
        add::<api::core::v1::ResourceQuota>,
    ),
    k("", "v1", "Secret", add::<api::core::v1::Secret>),
    k(
        "",
        "v1",
        "ServiceAccount",
        add::<api::core::v1::ServiceAccount>,
    ),
    k("", "v1", "Service", add::<api::core::v1::Service>),
];
