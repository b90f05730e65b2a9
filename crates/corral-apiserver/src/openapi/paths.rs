//! Operations (paths) for the served resources, described once and rendered
//! as OpenAPI v3 or swagger 2.0, in upstream's shape: kubectl finds a kind's
//! GVK from its paths (`x-kubernetes-group-version-kind`), learns from the
//! PATCH operation whether the server validates fields (`fieldValidation`)
//! and whether it takes strategic merge patches (request content types).

use serde_json::{Map, Value, json};

use super::kinds::SUBRESOURCE_KINDS;
use super::schemas::{self, API_RESOURCE_LIST, DELETE_OPTIONS, PATCH, STATUS, Spec};
use crate::registry::ResourceDef;

const LIST_PARAMS: &[&str] = &[
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];
const WRITE_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];
const PATCH_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation", "force"];
const DELETE_PARAMS: &[&str] = &[
    "dryRun",
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "orphanDependents",
    "propagationPolicy",
];
const DELETE_COLLECTION_PARAMS: &[&str] = &[
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "labelSelector",
    "limit",
    "orphanDependents",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
];

/// Upstream's descriptions and types of the query parameters.
fn query_param(name: &str) -> (&'static str, &'static str) {
    match name {
        "pretty" => (
            "string",
            "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
        ),
        "dryRun" => (
            "string",
            "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
        ),
        "fieldManager" => (
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
        ),
        "fieldValidation" => (
            "string",
            "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.",
        ),
        "force" => (
            "boolean",
            "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
        ),
        "allowWatchBookmarks" => (
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.",
        ),
        "continue" => (
            "string",
            "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize. If the specified continue value is no longer valid whether due to expiration (generally five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 ResourceExpired error together with a continue token.",
        ),
        "fieldSelector" => (
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        "labelSelector" => (
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        "limit" => (
            "integer",
            "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.",
        ),
        "resourceVersion" => (
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
        ),
        "resourceVersionMatch" => (
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
        ),
        "sendInitialEvents" => (
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event  will be sent.",
        ),
        "timeoutSeconds" => (
            "integer",
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.",
        ),
        "watch" => (
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
        ),
        "gracePeriodSeconds" => (
            "integer",
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.",
        ),
        "ignoreStoreReadErrorWithClusterBreakingPotential" => (
            "boolean",
            "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition checks, and removes the object from the storage. WARNING: This may potentially break the cluster if the workload associated with the resource being unsafe-deleted relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the user must opt in to enable it",
        ),
        "orphanDependents" => (
            "boolean",
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.",
        ),
        "propagationPolicy" => (
            "string",
            "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
        ),
        _ => ("string", ""),
    }
}

/// What an operation takes in its body.
enum Body {
    None,
    /// The object itself (`*/*`).
    Object(String),
    /// A patch, in these content types.
    Patch(&'static [&'static str]),
    DeleteOptions,
}

struct Op {
    method: &'static str,
    action: &'static str,
    id: String,
    description: String,
    gvk: Value,
    query: &'static [&'static str],
    body: Body,
    response: String,
    codes: &'static [&'static str],
}

/// One path: its path-level parameters and operations.
pub struct PathSpec {
    pub path: String,
    /// Path parameters (`name`, `namespace`) with their descriptions.
    path_params: Vec<(&'static str, String)>,
    ops: Vec<Op>,
    tag: String,
}

const BUILTIN_PATCH: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];
// Custom resources take no strategic merge patch, so kubectl's apply sends them a merge patch.
const CUSTOM_PATCH: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
];

/// `rbac.authorization.k8s.io` → `RbacAuthorization`, `` → `Core` (upstream's operation IDs).
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    group
        .trim_end_matches(".k8s.io")
        .split(['.', '-'])
        .map(capitalize)
        .collect()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `rbacAuthorization_v1`, `core_v1`: upstream's tags.
fn tag(group: &str, version: &str) -> String {
    let camel = group_camel(group);
    let mut c = camel.chars();
    let lower: String = match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    };
    format!("{lower}_{version}")
}

pub fn gv_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// Every path that serves `r`, whose kind's component is `component`.
pub fn resource_paths(r: &ResourceDef, component: &str) -> Vec<PathSpec> {
    let prefix = gv_prefix(r.group, r.version);
    let gv = format!("{}{}", group_camel(r.group), capitalize(r.version));
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let kind = r.kind;
    let gvk = schemas::gvk(r.group, r.version, kind);
    let tag = tag(r.group, r.version);
    let patch_types = if r.custom.is_some() {
        CUSTOM_PATCH
    } else {
        BUILTIN_PATCH
    };
    let collection = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    };
    let ns_param = || {
        (
            "namespace",
            "object name and auth scope, such as for teams and projects".to_string(),
        )
    };
    let name_param = |what: &str| ("name", format!("name of the {what}"));
    let scope_params = |with_name: bool, what: &str| {
        let mut p = Vec::new();
        if with_name {
            p.push(name_param(what));
        }
        if r.namespaced {
            p.push(ns_param());
        }
        p
    };
    let op =
        |method, action, id: String, description: String, query, body, response: &str, codes| Op {
            method,
            action,
            id,
            description,
            gvk: gvk.clone(),
            query,
            body,
            response: response.to_string(),
            codes,
        };
    let mut out = Vec::new();

    let mut ops = Vec::new();
    let list_component = format!("{component}List");
    if r.supports("list") {
        ops.push(op(
            "get",
            "list",
            format!("list{gv}{scope}{kind}"),
            format!("list or watch objects of kind {kind}"),
            LIST_PARAMS,
            Body::None,
            &list_component,
            &["200"],
        ));
    }
    if r.supports("create") {
        ops.push(op(
            "post",
            "post",
            format!("create{gv}{scope}{kind}"),
            format!("create a {kind}"),
            WRITE_PARAMS,
            Body::Object(component.to_string()),
            component,
            &["200", "201", "202"],
        ));
    }
    if r.supports("deletecollection") {
        ops.push(op(
            "delete",
            "deletecollection",
            format!("deleteCollection{gv}{scope}{kind}"),
            format!("delete collection of {kind}"),
            DELETE_COLLECTION_PARAMS,
            Body::DeleteOptions,
            STATUS,
            &["200"],
        ));
    }
    if !ops.is_empty() {
        out.push(PathSpec {
            path: collection.clone(),
            path_params: scope_params(false, kind),
            ops,
            tag: tag.clone(),
        });
    }

    if r.namespaced && r.supports("list") {
        let ops = vec![op(
            "get",
            "list",
            format!("list{gv}{kind}ForAllNamespaces"),
            format!("list or watch objects of kind {kind}"),
            LIST_PARAMS,
            Body::None,
            &list_component,
            &["200"],
        )];
        out.push(PathSpec {
            path: format!("{prefix}/{}", r.plural),
            path_params: Vec::new(),
            ops,
            tag: tag.clone(),
        });
    }

    let item = format!("{collection}/{{name}}");
    let mut ops = Vec::new();
    if r.supports("get") {
        ops.push(op(
            "get",
            "get",
            format!("read{gv}{scope}{kind}"),
            format!("read the specified {kind}"),
            &[],
            Body::None,
            component,
            &["200"],
        ));
    }
    if r.supports("update") {
        ops.push(op(
            "put",
            "put",
            format!("replace{gv}{scope}{kind}"),
            format!("replace the specified {kind}"),
            WRITE_PARAMS,
            Body::Object(component.to_string()),
            component,
            &["200", "201"],
        ));
    }
    if r.supports("patch") {
        ops.push(op(
            "patch",
            "patch",
            format!("patch{gv}{scope}{kind}"),
            format!("partially update the specified {kind}"),
            PATCH_PARAMS,
            Body::Patch(patch_types),
            component,
            &["200", "201"],
        ));
    }
    if r.supports("delete") {
        ops.push(op(
            "delete",
            "delete",
            format!("delete{gv}{scope}{kind}"),
            format!("delete a {kind}"),
            DELETE_PARAMS,
            Body::DeleteOptions,
            STATUS,
            &["200", "202"],
        ));
    }
    if !ops.is_empty() {
        out.push(PathSpec {
            path: item.clone(),
            path_params: scope_params(true, kind),
            ops,
            tag: tag.clone(),
        });
    }

    for sub in r.subresources {
        let sub_camel = capitalize(sub);
        let mut ops = Vec::new();
        match *sub {
            "status" => {
                ops.push(op(
                    "get",
                    "get",
                    format!("read{gv}{scope}{kind}Status"),
                    format!("read status of the specified {kind}"),
                    &[],
                    Body::None,
                    component,
                    &["200"],
                ));
                ops.push(op(
                    "put",
                    "put",
                    format!("replace{gv}{scope}{kind}Status"),
                    format!("replace status of the specified {kind}"),
                    WRITE_PARAMS,
                    Body::Object(component.to_string()),
                    component,
                    &["200", "201"],
                ));
                ops.push(op(
                    "patch",
                    "patch",
                    format!("patch{gv}{scope}{kind}Status"),
                    format!("partially update status of the specified {kind}"),
                    PATCH_PARAMS,
                    Body::Patch(patch_types),
                    component,
                    &["200", "201"],
                ));
            }
            "finalize" => {
                ops.push(op(
                    "put",
                    "put",
                    format!("replace{gv}{scope}{kind}Finalize"),
                    format!("replace finalize of the specified {kind}"),
                    WRITE_PARAMS,
                    Body::Object(component.to_string()),
                    component,
                    &["200", "201"],
                ));
            }
            other => {
                // Subresources that take another kind (serviceaccounts/token takes a TokenRequest).
                let Some((_, g, v, k)) = SUBRESOURCE_KINDS.iter().find(|(s, ..)| *s == other)
                else {
                    continue;
                };
                let Some(sub_component) = schemas::catalog().component(g, v, k) else {
                    continue;
                };
                let mut o = op(
                    "post",
                    "post",
                    format!("create{gv}{scope}{kind}{sub_camel}"),
                    format!("create {other} of a {kind}"),
                    WRITE_PARAMS,
                    Body::Object(sub_component.to_string()),
                    sub_component,
                    &["200", "201", "202"],
                );
                o.gvk = schemas::gvk(g, v, k);
                ops.push(o);
            }
        }
        if !ops.is_empty() {
            out.push(PathSpec {
                path: format!("{item}/{sub}"),
                path_params: scope_params(true, kind),
                ops,
                tag: tag.clone(),
            });
        }
    }
    out
}

/// `GET /api/v1/`: the group-version's resource list.
pub fn discovery_path(group: &str, version: &str) -> PathSpec {
    let gv = format!("{}{}", group_camel(group), capitalize(version));
    PathSpec {
        path: format!("{}/", gv_prefix(group, version)),
        path_params: Vec::new(),
        ops: vec![Op {
            method: "get",
            action: "",
            id: format!("get{gv}APIResources"),
            description: "get available resources".into(),
            gvk: Value::Null,
            query: &[],
            body: Body::None,
            response: API_RESOURCE_LIST.into(),
            codes: &["200"],
        }],
        tag: tag(group, version),
    }
}

fn code_description(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        _ => "",
    }
}

fn schema_ref(spec: Spec, component: &str) -> Value {
    match spec {
        Spec::V3 => json!({"$ref": format!("{}{component}", schemas::REF_V3)}),
        Spec::V2 => json!({"$ref": format!("#/definitions/{component}")}),
    }
}

fn param(
    spec: Spec,
    name: &str,
    location: &str,
    description: &str,
    ty: &str,
    required: bool,
) -> Value {
    let mut p = Map::new();
    p.insert("name".into(), json!(name));
    p.insert("in".into(), json!(location));
    if !description.is_empty() {
        p.insert("description".into(), json!(description));
    }
    if required {
        p.insert("required".into(), json!(true));
    }
    match spec {
        Spec::V3 => {
            p.insert("schema".into(), json!({"type": ty, "uniqueItems": true}));
        }
        Spec::V2 => {
            p.insert("type".into(), json!(ty));
            p.insert("uniqueItems".into(), json!(true));
        }
    }
    Value::Object(p)
}

impl PathSpec {
    /// The path item in the given spec's shape.
    pub fn render(&self, spec: Spec) -> Value {
        let mut item = Map::new();
        for op in &self.ops {
            item.insert(op.method.into(), self.render_op(op, spec));
        }
        let mut params: Vec<Value> = self
            .path_params
            .iter()
            .map(|(name, desc)| param(spec, name, "path", desc, "string", true))
            .collect();
        let (ty, desc) = query_param("pretty");
        params.push(param(spec, "pretty", "query", desc, ty, false));
        item.insert("parameters".into(), Value::Array(params));
        Value::Object(item)
    }

    fn render_op(&self, op: &Op, spec: Spec) -> Value {
        let mut o = Map::new();
        o.insert("tags".into(), json!([self.tag]));
        o.insert("description".into(), json!(op.description));
        o.insert("operationId".into(), json!(op.id));
        let mut params: Vec<Value> = op
            .query
            .iter()
            .map(|name| {
                let (ty, desc) = query_param(name);
                param(spec, name, "query", desc, ty, false)
            })
            .collect();
        let produces: &[&str] = if op.action == "list" {
            &[
                "application/json",
                "application/yaml",
                "application/json;stream=watch",
            ]
        } else {
            &["application/json", "application/yaml"]
        };
        let (consumes, body_schema, body_required): (&[&str], Option<&str>, bool) = match &op.body {
            Body::None => (&[], None, false),
            Body::Object(c) => (&["*/*"], Some(c.as_str()), true),
            Body::Patch(types) => (types, Some(PATCH), true),
            Body::DeleteOptions => (&["*/*"], Some(DELETE_OPTIONS), false),
        };
        let mut responses = Map::new();
        for code in op.codes {
            let mut r = Map::new();
            r.insert("description".into(), json!(code_description(code)));
            match spec {
                Spec::V3 => {
                    let content: Map<String, Value> = produces
                        .iter()
                        .map(|t| {
                            (
                                t.to_string(),
                                json!({"schema": schema_ref(spec, &op.response)}),
                            )
                        })
                        .collect();
                    r.insert("content".into(), Value::Object(content));
                }
                Spec::V2 => {
                    r.insert("schema".into(), schema_ref(spec, &op.response));
                }
            }
            responses.insert(code.to_string(), Value::Object(r));
        }
        responses.insert("401".into(), json!({"description": "Unauthorized"}));
        match spec {
            Spec::V3 => {
                if let Some(component) = body_schema {
                    let content: Map<String, Value> = consumes
                        .iter()
                        .map(|t| {
                            (
                                t.to_string(),
                                json!({"schema": schema_ref(spec, component)}),
                            )
                        })
                        .collect();
                    let mut body = Map::new();
                    body.insert("content".into(), Value::Object(content));
                    if body_required {
                        body.insert("required".into(), json!(true));
                    }
                    o.insert("requestBody".into(), Value::Object(body));
                }
            }
            Spec::V2 => {
                if let Some(component) = body_schema {
                    let mut body = Map::new();
                    body.insert("name".into(), json!("body"));
                    body.insert("in".into(), json!("body"));
                    if body_required {
                        body.insert("required".into(), json!(true));
                    }
                    body.insert("schema".into(), schema_ref(spec, component));
                    params.insert(0, Value::Object(body));
                    o.insert("consumes".into(), json!(consumes));
                }
                o.insert("produces".into(), json!(produces));
                o.insert("schemes".into(), json!(["https"]));
            }
        }
        if !params.is_empty() {
            o.insert("parameters".into(), Value::Array(params));
        }
        o.insert("responses".into(), Value::Object(responses));
        if !op.action.is_empty() {
            o.insert("x-kubernetes-action".into(), json!(op.action));
        }
        if !op.gvk.is_null() {
            o.insert("x-kubernetes-group-version-kind".into(), op.gvk.clone());
        }
        Value::Object(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_follow_upstream() {
        assert_eq!(group_camel(""), "Core");
        assert_eq!(
            group_camel("rbac.authorization.k8s.io"),
            "RbacAuthorization"
        );
        assert_eq!(group_camel("stable.example.com"), "StableExampleCom");
        assert_eq!(
            tag("rbac.authorization.k8s.io", "v1"),
            "rbacAuthorization_v1"
        );
        assert_eq!(tag("", "v1"), "core_v1");
    }
}
