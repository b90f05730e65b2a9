//! What the monitors parse of each object they watch: the metadata the
//! graph reads, nothing else.
//!
//! Why not kube-rs's `PartialObjectMeta`: it parses the whole `ObjectMeta`,
//! `managedFields` (a JSON tree per entry), labels and annotations included,
//! for every write to every resource, only for the graph to drop them. In a
//! profile of ConfigMap creates that parse was about 3% of the server's CPU.
//! Here the fields the graph never reads are skipped unparsed.

use std::borrow::Cow;

use corral_apimachinery::json_scan;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::core::{ApiResource, DynamicResourceScope, Resource, WatchEvent};
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

/// One line of a metadata-only watch, as [`kube::core::WatchEvent`].
///
/// Why not serde: the garbage collector reads every write to every resource,
/// and serde_json tokenizes every field it skips: an event's managedFields,
/// labels and annotations. That parse was about 10 k instructions per event
/// (4% of the server's per create). Here only the five fields the graph
/// reads are decoded; the rest is crossed with [`json_scan`], sixteen bytes
/// at a time. Anything other than an ADDED, MODIFIED or DELETED line laid
/// out as expected (bookmarks, errors, escaped keys) goes to serde_json.
pub fn parse_event(line: &[u8]) -> serde_json::Result<WatchEvent<Watched>> {
    match fast_event(line) {
        Some(event) => Ok(event),
        None => serde_json::from_slice(line),
    }
}

fn fast_event(line: &[u8]) -> Option<WatchEvent<Watched>> {
    let mut top = json_scan::members(line);
    // Our server writes the type first; the object is then read in place.
    if top.next_key().ok()? != Some(b"type") {
        return None;
    }
    let event: fn(Watched) -> WatchEvent<Watched> = match top.value().ok()? {
        br#""ADDED""# => WatchEvent::Added,
        br#""MODIFIED""# => WatchEvent::Modified,
        br#""DELETED""# => WatchEvent::Deleted,
        _ => return None,
    };
    if top.next_key().ok()? != Some(b"object") {
        return None;
    }
    let mut object = top.into_object().ok()?;
    while let Some(key) = object.next_key().ok()? {
        if escaped(key) {
            return None;
        }
        if key == b"metadata" {
            let metadata = fast_metadata(object.into_object().ok()?)?;
            return Some(event(Watched { metadata }));
        }
    }
    Some(event(Watched {
        metadata: ObjectMeta::default(),
    }))
}

/// A key written with escapes may spell a field's name: serde's business.
fn escaped(key: &[u8]) -> bool {
    key.contains(&b'\\')
}

fn fast_metadata(mut members: json_scan::Members<'_>) -> Option<ObjectMeta> {
    let mut m = ObjectMeta::default();
    let string = |v: &[u8]| json_scan::string(v).map(Cow::into_owned);
    while let Some(key) = members.next_key().ok()? {
        if escaped(key) {
            return None;
        }
        match key {
            b"name" => m.name = Some(string(members.value().ok()?)?),
            b"namespace" => m.namespace = Some(string(members.value().ok()?)?),
            b"uid" => m.uid = Some(string(members.value().ok()?)?),
            b"resourceVersion" => m.resource_version = Some(string(members.value().ok()?)?),
            b"ownerReferences" => {
                m.owner_references = serde_json::from_slice(members.value().ok()?).ok()?
            }
            b"finalizers" => m.finalizers = serde_json::from_slice(members.value().ok()?).ok()?,
            b"deletionTimestamp" => {
                m.deletion_timestamp = serde_json::from_slice(members.value().ok()?).ok()?
            }
            _ => {}
        }
    }
    Some(m)
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

    /// The event as serde reads it and as `parse_event` does, comparable.
    fn both(line: &str) -> (String, String) {
        let show = |e: WatchEvent<Watched>| match e {
            WatchEvent::Added(o) => format!("added {:?}", o.metadata),
            WatchEvent::Modified(o) => format!("modified {:?}", o.metadata),
            WatchEvent::Deleted(o) => format!("deleted {:?}", o.metadata),
            WatchEvent::Bookmark(b) => format!("bookmark {}", b.metadata.resource_version),
            WatchEvent::Error(s) => format!("error {} {}", s.code, s.reason),
        };
        let serde: WatchEvent<Watched> = serde_json::from_str(line).expect("serde reads it");
        let ours = parse_event(line.as_bytes()).expect("parse_event reads it");
        (show(serde), show(ours))
    }

    const SERVER_LINES: [&str; 4] = [
        r#"{"type":"ADDED","object":{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":{"resourceVersion":"73","creationTimestamp":"2026-11-27T13:06:14Z","labels":{"app":"x"},"managedFields":[{"apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:payload":{}}},"manager":"m","operation":"Update","time":"2026-11-27T13:06:14Z"}],"name":"cm-1","namespace":"b","uid":"40dca39b"}}}"#,
        r#"{"type":"MODIFIED","object":{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":{"name":"d","namespace":"n","uid":"u2","resourceVersion":"9","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u1","controller":true,"blockOwnerDeletion":true}],"finalizers":["foregroundDeletion","x/y"],"deletionTimestamp":"2026-11-27T05:00:00Z","annotations":{"a":"{\"}"}}}}"#,
        r#"{"type":"DELETED","object":{"metadata":{"name":"q\"uote\u00e9","uid":"u3","resourceVersion":"10"},"apiVersion":"v1","kind":"ConfigMap","data":{"k":"v"}}}"#,
        r#"{"type":"ADDED","object":{"kind":"PartialObjectMetadata"}}"#,
    ];

    #[test]
    fn the_server_s_events_are_read_without_serde_and_as_serde_reads_them() {
        for line in SERVER_LINES {
            assert!(fast_event(line.as_bytes()).is_some(), "{line}");
            let (serde, ours) = both(line);
            assert_eq!(ours, serde, "{line}");
        }
    }

    #[test]
    fn other_events_and_layouts_go_to_serde() {
        for line in [
            r#"{"object":{"metadata":{"name":"a","uid":"u"}},"type":"ADDED"}"#,
            r#"{ "type" : "MODIFIED" , "object" : { "metadata" : { "name" : "a" , "uid" : "u" } } }"#,
            r#"{"type":"ADDED","object":{"metadata":{"n\u0061me":"a","uid":"u"}}}"#,
            r#"{"type":"ADDED","object":{"metad\u0061ta":{"name":"a","uid":"u"}}}"#,
            r#"{"type":"ADDED","object":{"metadata":{"name":null,"uid":"u"}}}"#,
            r#"{"type":"BOOKMARK","object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"12"}}}"#,
            r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old","reason":"Expired","code":410}}"#,
        ] {
            let (serde, ours) = both(line);
            assert_eq!(ours, serde, "{line}");
        }
        assert!(parse_event(br#"{"type":"ADDED","object":"#).is_err());
        assert!(parse_event(br#"{"type":"ADDED","object":{"metadata":{"uid":7}}}"#).is_err());
    }
}
