//! The management types (`management.corral.dev/v1`), installed as
//! CustomResourceDefinitions by every `corral server` at start: create if
//! absent, replace if an older binary installed a different definition, and
//! treat a concurrent create by another replica (409) as success.

use std::time::{Duration, Instant};

use corral_apiserver::ApiServer;
use serde_json::{Value, json};

use crate::client::{ApiCallError, LocalClient};

pub const GROUP: &str = "management.corral.dev";
pub const VERSION: &str = "v1";
pub const API_VERSION: &str = "management.corral.dev/v1";

/// Collection paths of the management types.
pub const USERS: &str = "/apis/management.corral.dev/v1/users";
pub const TOKENS: &str = "/apis/management.corral.dev/v1/tokens";
pub const AUTHCONFIGS: &str = "/apis/management.corral.dev/v1/authconfigs";
pub const CLUSTERS: &str = "/apis/management.corral.dev/v1/clusters";
pub const CLUSTER_REGISTRATION_TOKENS: &str =
    "/apis/management.corral.dev/v1/clusterregistrationtokens";

/// Store prefixes of the management types (custom resources live under `/registry/<group>/<plural>/`).
pub const USERS_PREFIX: &str = "/registry/management.corral.dev/users/";
pub const TOKENS_PREFIX: &str = "/registry/management.corral.dev/tokens/";
pub const CLUSTERS_PREFIX: &str = "/registry/management.corral.dev/clusters/";
pub const CLUSTER_REGISTRATION_TOKENS_PREFIX: &str =
    "/registry/management.corral.dev/clusterregistrationtokens/";

const CRD_PATH: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn crd(
    plural: &str,
    kind: &str,
    category: &str,
    short: &[&str],
    spec: Value,
    status: Option<Value>,
    columns: Value,
) -> Value {
    let mut properties = json!({"spec": spec});
    if let Some(s) = &status {
        properties["status"] = s.clone();
    }
    let mut version = json!({
        "name": VERSION,
        "served": true,
        "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": properties}},
        "additionalPrinterColumns": columns,
    });
    if status.is_some() {
        version["subresources"] = json!({"status": {}});
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{GROUP}"), "labels": {"app.kubernetes.io/managed-by": "corral"}},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "plural": plural,
                "singular": kind.to_ascii_lowercase(),
                "kind": kind,
                "listKind": format!("{kind}List"),
                "shortNames": short,
                "categories": ["corral", category],
            },
            "versions": [version],
        },
    })
}

fn age() -> Value {
    json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
}

/// The CRDs of the identity types.
pub fn definitions() -> Vec<Value> {
    let user = crd(
        "users",
        "User",
        "identity",
        &["cu"],
        json!({
            "type": "object",
            "required": ["username"],
            "properties": {
                "username": {"type": "string", "minLength": 1, "maxLength": 256},
                "displayName": {"type": "string"},
                "principalIds": strings(),
                "enabled": {"type": "boolean", "default": true},
                "mustChangePassword": {"type": "boolean", "default": false},
            },
        }),
        None,
        json!([
            {"name": "Username", "type": "string", "jsonPath": ".spec.username"},
            {"name": "Display Name", "type": "string", "jsonPath": ".spec.displayName"},
            {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
            {"name": "Principals", "type": "string", "priority": 1, "jsonPath": ".spec.principalIds"},
            age(),
        ]),
    );
    let token = crd(
        "tokens",
        "Token",
        "identity",
        &["ctok"],
        json!({
            "type": "object",
            "required": ["userId", "tokenHash"],
            "properties": {
                "userId": {"type": "string", "minLength": 1},
                "userPrincipal": {"type": "string"},
                "description": {"type": "string"},
                "expiresAt": {"type": "string", "format": "date-time"},
                "groupPrincipals": strings(),
                "authProvider": {"type": "string"},
                "tokenHash": {"type": "string", "description": "sha256:<hex> of the secret; the secret itself is never stored"},
            },
        }),
        Some(json!({
            "type": "object",
            "properties": {"lastUsedAt": {"type": "string", "format": "date-time"}},
        })),
        json!([
            {"name": "User", "type": "string", "jsonPath": ".spec.userId"},
            {"name": "Provider", "type": "string", "jsonPath": ".spec.authProvider"},
            {"name": "Expires", "type": "string", "jsonPath": ".spec.expiresAt"},
            {"name": "Last Used", "type": "date", "jsonPath": ".status.lastUsedAt"},
            {"name": "Description", "type": "string", "priority": 1, "jsonPath": ".spec.description"},
            age(),
        ]),
    );
    let authconfig = crd(
        "authconfigs",
        "AuthConfig",
        "identity",
        &["authcfg"],
        json!({
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "enabled": {"type": "boolean", "default": false},
                "settings": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "allowedPrincipalIds": strings(),
                "accessMode": {"type": "string", "enum": ["unrestricted", "restricted", "required"]},
            },
        }),
        None,
        json!([
            {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
            {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
            {"name": "Access Mode", "type": "string", "jsonPath": ".spec.accessMode"},
            age(),
        ]),
    );
    vec![
        user,
        token,
        authconfig,
        cluster_definition(),
        registration_token_definition(),
    ]
}

fn condition_column(name: &str, condition: &str) -> Value {
    json!({"name": name, "type": "string",
        "jsonPath": format!(".status.conditions[?(@.type==\"{condition}\")].status")})
}

/// `Cluster`: a downstream Kubernetes cluster, reached through its agent's
/// tunnel (`agent` mode) or directly (`direct` mode).
fn cluster_definition() -> Value {
    let condition = json!({
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string"},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "lastUpdateTime": {"type": "string", "format": "date-time"},
        },
    });
    crd(
        "clusters",
        "Cluster",
        "clusters",
        &["ccl"],
        json!({
            "type": "object",
            "properties": {
                "displayName": {"type": "string", "maxLength": 256},
                "description": {"type": "string", "maxLength": 4096},
                "connectionMode": {"type": "string", "enum": ["agent", "direct"], "default": "agent"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }),
        Some(json!({
            "type": "object",
            "properties": {
                "conditions": {
                    "type": "array",
                    "items": condition,
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["type"],
                },
                "kubernetesVersion": {"type": "string"},
                "nodeCount": {"type": "integer", "minimum": 0},
                "lastHeartbeatTime": {"type": "string", "format": "date-time"},
                "apiEndpoint": {"type": "string"},
                "agentVersion": {"type": "string"},
                "connectedReplica": {"type": "string", "description": "peer URL of the server replica holding the agent's session"},
            },
        })),
        json!([
            {"name": "Display Name", "type": "string", "jsonPath": ".spec.displayName"},
            {"name": "Mode", "type": "string", "jsonPath": ".spec.connectionMode"},
            condition_column("Connected", "Connected"),
            condition_column("Ready", "Ready"),
            {"name": "Version", "type": "string", "jsonPath": ".status.kubernetesVersion"},
            {"name": "Nodes", "type": "integer", "jsonPath": ".status.nodeCount"},
            {"name": "Endpoint", "type": "string", "priority": 1, "jsonPath": ".status.apiEndpoint"},
            age(),
        ]),
    )
}

/// `ClusterRegistrationToken`: the secret an agent presents at
/// `/v3/connect`, and the import URL built from it. Named after its
/// Cluster and owned by it.
fn registration_token_definition() -> Value {
    crd(
        "clusterregistrationtokens",
        "ClusterRegistrationToken",
        "clusters",
        &["crt"],
        json!({
            "type": "object",
            "required": ["clusterName"],
            "properties": {"clusterName": {"type": "string", "minLength": 1}},
        }),
        Some(json!({
            "type": "object",
            "properties": {
                "token": {"type": "string"},
                "manifestUrl": {"type": "string"},
                "command": {"type": "string"},
            },
        })),
        json!([
            {"name": "Cluster", "type": "string", "jsonPath": ".spec.clusterName"},
            {"name": "Manifest", "type": "string", "priority": 1, "jsonPath": ".status.manifestUrl"},
            age(),
        ]),
    )
}

const HASH_ANNOTATION: &str = "management.corral.dev/definition-sha256";

/// A digest of what this binary would install: the API server adds defaults
/// to a stored CRD, so comparing specs would always differ.
fn definition_hash(def: &Value) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(def.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Install (or upgrade) the CRDs and wait until this replica serves them.
pub async fn install(client: &LocalClient, api: &ApiServer) -> Result<(), ApiCallError> {
    for mut def in definitions() {
        let digest = definition_hash(&def);
        def["metadata"]["annotations"] = json!({ HASH_ANNOTATION: digest });
        let name = def["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let path = format!("{CRD_PATH}/{name}");
        match client.get(&path).await? {
            None => match client.create(CRD_PATH, &def).await {
                Ok(_) => tracing::info!(crd = %name, "installed"),
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e),
            },
            Some(existing)
                if existing["metadata"]["annotations"][HASH_ANNOTATION] != json!(digest) =>
            {
                let mut next = def.clone();
                next["metadata"]["resourceVersion"] =
                    existing["metadata"]["resourceVersion"].clone();
                match client.replace(&path, &next).await {
                    Ok(_) => tracing::info!(crd = %name, "upgraded"),
                    // Another replica upgraded it at the same time.
                    Err(e) if e.is_conflict() => {}
                    Err(e) => return Err(e),
                }
            }
            Some(_) => {}
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for def in definitions() {
        let plural = def["spec"]["names"]["plural"].as_str().unwrap_or_default();
        while api.registry().lookup(GROUP, VERSION, plural).is_none() {
            if Instant::now() > deadline {
                return Err(ApiCallError {
                    status: 500,
                    reason: "Timeout".into(),
                    message: format!("{plural}.{GROUP} is not served after 30 s"),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}
