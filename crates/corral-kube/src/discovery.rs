//! What the API serves, as the garbage collector and the namespace controller
//! need it: every resource with its scope and verbs, the preferred version of
//! each, and a lookup from an ownerReference's `apiVersion`/`kind`.
//!
//! Discovery is re-read (two requests with aggregated discovery) whenever a
//! controller asks; custom resources appear and disappear at runtime.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kube::discovery::{ApiResource, Discovery, Scope};

/// One served resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resource {
    pub ar: ApiResource,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl Resource {
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// `configmaps` or `leases.coordination.k8s.io`: how upstream messages name it.
    pub fn group_resource(&self) -> String {
        format!("{}.{}", self.ar.plural, self.ar.group)
    }
}

/// A snapshot of discovery.
#[derive(Default, Debug)]
pub struct Resources {
    /// Each resource once, at its group's preferred version (or the first
    /// version serving it): what to watch, and what to empty namespaces of.
    pub preferred: Vec<Arc<Resource>>,
    /// `(apiVersion, kind)` of every served version.
    by_gvk: HashMap<(String, String), Arc<Resource>>,
    /// `(group, kind)` at the preferred version, for references to a version no longer served.
    by_gk: HashMap<(String, String), Arc<Resource>>,
}

fn group_of(api_version: &str) -> &str {
    match api_version.rsplit_once('/') {
        Some((g, _)) => g,
        None => "",
    }
}

impl Resources {
    /// The resource an ownerReference names. Scope and plural do not change
    /// between versions, so another version of the same kind will do.
    pub fn resolve(&self, api_version: &str, kind: &str) -> Option<Arc<Resource>> {
        self.by_gvk
            .get(&(api_version.to_string(), kind.to_string()))
            .or_else(|| {
                self.by_gk
                    .get(&(group_of(api_version).to_string(), kind.to_string()))
            })
            .cloned()
    }

    /// Build from `(resource, scope, verbs)` triples, the preferred version of
    /// each group listed first.
    pub fn from_parts(groups: Vec<Vec<(ApiResource, bool, Vec<String>)>>) -> Resources {
        let mut out = Resources::default();
        for group in groups {
            let mut seen: HashSet<String> = HashSet::new();
            for (ar, namespaced, verbs) in group {
                let r = Arc::new(Resource {
                    ar,
                    namespaced,
                    verbs,
                });
                out.by_gvk
                    .entry((r.ar.api_version.clone(), r.ar.kind.clone()))
                    .or_insert_with(|| r.clone());
                if seen.insert(r.ar.plural.clone()) {
                    out.by_gk
                        .entry((r.ar.group.clone(), r.ar.kind.clone()))
                        .or_insert_with(|| r.clone());
                    out.preferred.push(r);
                }
            }
        }
        out
    }
}

/// Read discovery from the server: aggregated discovery when served (two
/// requests), the per-group documents otherwise.
pub async fn discover(client: &kube::Client) -> Result<Resources, kube::Error> {
    let discovery = match Discovery::new(client.clone()).run_aggregated().await {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(error = %e, "aggregated discovery failed; reading per-group documents");
            Discovery::new(client.clone()).run().await?
        }
    };
    let mut groups = Vec::new();
    for group in discovery.groups() {
        let preferred = group.preferred_version_or_latest().to_string();
        let mut versions = vec![preferred.clone()];
        versions.extend(
            group
                .versions()
                .filter(|v| **v != preferred)
                .map(str::to_string),
        );
        let mut parts = Vec::new();
        for v in versions {
            for (ar, caps) in group.versioned_resources(&v) {
                parts.push((ar, caps.scope == Scope::Namespaced, caps.operations));
            }
        }
        groups.push(parts);
    }
    Ok(Resources::from_parts(groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: if group.is_empty() {
                version.into()
            } else {
                format!("{group}/{version}")
            },
            kind: kind.into(),
            plural: plural.into(),
        }
    }

    #[test]
    fn preferred_versions_and_lookups() {
        let verbs = vec!["list".to_string(), "watch".into(), "delete".into()];
        let r = Resources::from_parts(vec![
            vec![(ar("", "v1", "ConfigMap", "configmaps"), true, verbs.clone())],
            vec![
                (
                    ar("example.com", "v2", "Widget", "widgets"),
                    true,
                    verbs.clone(),
                ),
                (
                    ar("example.com", "v1", "Widget", "widgets"),
                    true,
                    verbs.clone(),
                ),
                (ar("example.com", "v1", "Old", "olds"), false, verbs.clone()),
            ],
        ]);
        let plurals: Vec<String> = r
            .preferred
            .iter()
            .map(|x| format!("{}/{}", x.ar.api_version, x.ar.plural))
            .collect();
        assert_eq!(
            plurals,
            [
                "v1/configmaps",
                "example.com/v2/widgets",
                "example.com/v1/olds"
            ]
        );
        assert_eq!(
            r.resolve("example.com/v1", "Widget")
                .map(|x| x.ar.version.clone()),
            Some("v1".into())
        );
        // A version that is not served resolves to the preferred one of the group.
        assert_eq!(
            r.resolve("example.com/v9", "Widget")
                .map(|x| x.ar.version.clone()),
            Some("v2".into())
        );
        assert!(r.resolve("v1", "Nope").is_none());
        assert_eq!(
            r.resolve("v1", "ConfigMap").map(|x| x.group_resource()),
            Some("configmaps.".into())
        );
    }
}
