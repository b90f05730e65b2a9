//! The import manifest (`GET /v3/import/<token>.yaml`): what an operator
//! applies to a cluster so that its agent dials Corral, and the names
//! Corral uses to find — and later remove — everything it put there.

use serde_json::{Value, json};

/// Downstream namespace of the agent (and of nothing else).
pub const AGENT_NAMESPACE: &str = "corral-system";
pub const AGENT_NAME: &str = "corral-agent";
/// The long-lived service-account token Secret the agent presents to Corral.
pub const AGENT_TOKEN_SECRET: &str = "corral-agent-token";
/// Bound to `cluster-admin`: the proxy adds this group for users who may
/// administer the cluster in Corral (`admin` on `clusters`).
pub const CLUSTER_ADMINS_GROUP: &str = "corral:cluster-admins";
pub const CLUSTER_ADMINS_BINDING: &str = "corral-cluster-admins";
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "corral");
/// Where the agent's Deployment mounts the token Secret.
pub const CREDENTIAL_DIR: &str = "/var/run/corral/serviceaccount";

/// What the manifest needs to know.
pub struct ManifestParams<'a> {
    pub cluster: &'a str,
    /// `https://host:port` of the Corral server as agents reach it.
    pub server_url: &'a str,
    /// The registration token.
    pub token: &'a str,
    /// PEM of the CA that signs the server's certificate.
    pub server_ca_pem: &'a str,
    pub image: &'a str,
}

fn labels(cluster: &str) -> Value {
    json!({MANAGED_BY.0: MANAGED_BY.1, "management.corral.dev/cluster": cluster})
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The cluster-scoped objects Corral creates downstream (removed with the
/// cluster): `(api path prefix, name)`.
pub fn cluster_scoped_objects() -> [(&'static str, &'static str); 3] {
    const CR: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";
    const CRB: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
    [
        (CR, AGENT_NAME),
        (CRB, AGENT_NAME),
        (CRB, CLUSTER_ADMINS_BINDING),
    ]
}

/// The agent's RBAC downstream: impersonation (the proxy path), and the
/// read-only calls of the health probe. Nothing else.
fn agent_cluster_role(cluster: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": AGENT_NAME, "labels": labels(cluster)},
        "rules": [
            {"apiGroups": [""], "resources": ["users", "groups", "serviceaccounts"], "verbs": ["impersonate"]},
            // RBAC matches `userextras/<key>` exactly (no wildcard): one per
            // extra a Corral identity carries.
            {"apiGroups": ["authentication.k8s.io"], "resources": ["userextras/principalid", "userextras/username", "uids"], "verbs": ["impersonate"]},
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
            {"nonResourceURLs": ["/readyz", "/livez", "/version"], "verbs": ["get"]},
        ],
    })
}

/// `cluster-admin` downstream for [`CLUSTER_ADMINS_GROUP`].
pub fn cluster_admins_binding(cluster: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": CLUSTER_ADMINS_BINDING, "labels": labels(cluster)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": CLUSTER_ADMINS_GROUP}]})
}

/// The manifest's objects, in apply order.
pub fn objects(p: &ManifestParams<'_>) -> Vec<Value> {
    let l = labels(p.cluster);
    let ns = AGENT_NAMESPACE;
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": l}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": AGENT_NAME, "namespace": ns, "labels": l}}),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": AGENT_TOKEN_SECRET, "namespace": ns, "labels": l,
                "annotations": {"kubernetes.io/service-account.name": AGENT_NAME}}}),
        agent_cluster_role(p.cluster),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": AGENT_NAME, "labels": l},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": AGENT_NAME},
            "subjects": [{"kind": "ServiceAccount", "name": AGENT_NAME, "namespace": ns}]}),
        cluster_admins_binding(p.cluster),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": AGENT_NAME, "namespace": ns, "labels": l},
        "data": {
            "server": b64(p.server_url),
            "cluster": b64(p.cluster),
            "token": b64(p.token),
            "ca.crt": b64(p.server_ca_pem),
        }}),
        deployment(p, &l),
    ]
}

fn deployment(p: &ManifestParams<'_>, l: &Value) -> Value {
    let env_from_secret = |name: &str, key: &str| json!({"name": name, "valueFrom": {"secretKeyRef": {"name": AGENT_NAME, "key": key}}});
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": AGENT_NAME, "namespace": AGENT_NAMESPACE, "labels": l},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app": AGENT_NAME}},
            "template": {
                "metadata": {"labels": {"app": AGENT_NAME}},
                "spec": {
                    "serviceAccountName": AGENT_NAME,
                    "containers": [{
                        "name": "agent",
                        "image": p.image,
                        "args": ["agent"],
                        "env": [
                            env_from_secret("CORRAL_SERVER", "server"),
                            env_from_secret("CORRAL_CLUSTER", "cluster"),
                            env_from_secret("CORRAL_TOKEN", "token"),
                            env_from_secret("CORRAL_CA", "ca.crt"),
                            {"name": "CORRAL_CREDENTIAL_DIR", "value": CREDENTIAL_DIR},
                        ],
                        "volumeMounts": [{"name": "credential", "mountPath": CREDENTIAL_DIR, "readOnly": true}],
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
                    }],
                    "volumes": [{"name": "credential", "secret": {"secretName": AGENT_TOKEN_SECRET}}],
                },
            },
        },
    })
}

/// The manifest as multi-document YAML.
pub fn render(p: &ManifestParams<'_>) -> String {
    let mut out = String::new();
    for obj in objects(p) {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&obj).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_has_every_object_and_no_secret_in_clear() {
        let p = ManifestParams {
            cluster: "c-1",
            server_url: "https://corral.example:8443",
            token: "sekret",
            server_ca_pem: "-----BEGIN CERTIFICATE-----\n",
            image: "corral:test",
        };
        let yaml = render(&p);
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&yaml)
            .map(|d| <Value as serde::Deserialize>::deserialize(d).expect("doc"))
            .collect();
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "Secret",
                "ClusterRole",
                "ClusterRoleBinding",
                "ClusterRoleBinding",
                "Secret",
                "Deployment"
            ]
        );
        assert!(!yaml.contains("sekret"), "the token is base64 in a Secret");
        for d in &docs {
            assert_eq!(d["metadata"]["labels"][MANAGED_BY.0], MANAGED_BY.1, "{d}");
        }
        let names: Vec<&str> = docs
            .iter()
            .filter(|d| d["metadata"]["namespace"].is_null())
            .filter_map(|d| d["metadata"]["name"].as_str())
            .collect();
        for (_, name) in cluster_scoped_objects() {
            assert!(names.contains(&name), "{name}");
        }
    }
}
