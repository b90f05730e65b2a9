//! What the monitors parse of each object they watch: the metadata the
//! graph reads, nothing else.
//!
//! Why not kube-rs's `PartialObjectMeta`: it parses the whole `ObjectMeta`,
//! `managedFields` (a JSON tree per entry), labels and annotations included,
//! for every write to every resource, only for the graph to drop them. In a
//! profile of ConfigMap creates that parse was about 3% of the server's CPU.
//! Here the fields the graph never reads are skipped unparsed.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::core::{ApiResource, DynamicResourceScope, Resource};
use serde::Deserialize;

/// An object as a metadata-only request returns it (`PartialObjectMetadata`),
/// with only the metadata fields the graph reads set.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "Wire")]
pub struct Watched {
    pub metadata: ObjectMeta,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    metadata: WireMeta,
}

/// Every other field is skipped by serde without being built.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    finalizers: Option<Vec<String>>,
    deletion_timestamp: Option<Time>,
}

impl From<Wire> for Watched {
    fn from(wire: Wire) -> Self {
        let m = wire.metadata;
        Watched {
            metadata: ObjectMeta {
                name: m.name,
                namespace: m.namespace,
                uid: m.uid,
                resource_version: m.resource_version,
                owner_references: m.owner_references,
                finalizers: m.finalizers,
                deletion_timestamp: m.deletion_timestamp,
                ..ObjectMeta::default()
            },
        }
    }
}

impl Resource for Watched {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.kind)
    }

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.group)
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.version)
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.api_version)
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.plural)
    }

    /// Requests ask for `PartialObjectMetadata`: the server sends no spec,
    /// data or status at all.
    fn metadata_api() -> bool {
        true
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_what_the_graph_reads_and_skips_the_rest() {
        let o: Watched = serde_json::from_value(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {
                "name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "42",
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o",
                    "uid": "u0", "controller": true, "blockOwnerDeletion": true}],
                "finalizers": ["foregroundDeletion"],
                "deletionTimestamp": "2026-11-27T05:00:00Z",
                "labels": {"x": "y"},
                "annotations": {"big": "z"},
                "managedFields": [{"manager": "m", "operation": "Update",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:k": {}}}}],
                "somethingNew": {"nested": [1, 2, 3]}
            }
        }))
        .expect("parses");
        let m = &o.metadata;
        assert_eq!(m.name.as_deref(), Some("a"));
        assert_eq!(m.namespace.as_deref(), Some("ns"));
        assert_eq!(m.uid.as_deref(), Some("u1"));
        assert_eq!(m.resource_version.as_deref(), Some("42"));
        let owners = m.owner_references.as_ref().expect("owners");
        assert_eq!(owners[0].uid, "u0");
        assert_eq!(owners[0].block_owner_deletion, Some(true));
        assert_eq!(
            m.finalizers.as_deref(),
            Some(&["foregroundDeletion".to_string()][..])
        );
        assert!(m.deletion_timestamp.is_some());
        assert!(m.labels.is_none() && m.annotations.is_none() && m.managed_fields.is_none());
    }

    #[test]
    fn requests_are_metadata_only_on_the_resource_url() {
        assert!(Watched::metadata_api());
        let ar = ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            plural: "deployments".into(),
        };
        assert_eq!(
            Watched::url_path(&ar, Some("ns")),
            "/apis/apps/v1/namespaces/ns/deployments"
        );
    }
}
