use super::*;
use crate::crds::CustomServing;
use crate::registry::ResourceDef;

/// Every `$ref` in `doc` (with `prefix`) that names no entry of `defs`.
fn unresolved(doc: &Value, prefix: &str, defs: &Map<String, Value>) -> Vec<String> {
    let mut found = Vec::new();
    schemas::refs(doc, prefix, &mut found);
    let mut all_refs = Vec::new();
    collect_ref_strings(doc, &mut all_refs);
    assert!(
        all_refs.iter().all(|r| r.starts_with(prefix)),
        "a $ref outside {prefix}: {:?}",
        all_refs.iter().find(|r| !r.starts_with(prefix))
    );
    found
        .into_iter()
        .filter(|n| !defs.contains_key(*n))
        .map(str::to_string)
        .collect()
}

fn collect_ref_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                out.push(r.to_string());
            }
            o.values().for_each(|c| collect_ref_strings(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_ref_strings(c, out)),
        _ => {}
    }
}

/// Calls `f` on `schema` and every schema nested in it (not on property maps,
/// whose keys are field names: JSONSchemaProps has fields named `$ref` and `allOf`).
fn every_schema(schema: &Value, f: &mut impl FnMut(&Value)) {
    let Some(o) = schema.as_object() else { return };
    f(schema);
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        props.values().for_each(|p| every_schema(p, f));
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = o.get(key) {
            every_schema(child, f);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for child in o.get(key).and_then(Value::as_array).into_iter().flatten() {
            every_schema(child, f);
        }
    }
}

fn has_gvk(def: &Value, group: &str, version: &str, kind: &str) -> bool {
    def["x-kubernetes-group-version-kind"]
        .as_array()
        .is_some_and(|l| l.contains(&schemas::gvk(group, version, kind)))
}

fn parse(r: &Rendered) -> Value {
    serde_json::from_slice(&r.bytes).expect("document is JSON")
}

const CRONTAB_SCHEMA: &str = r#"{
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "description": "CronTab's desired state.",
            "properties": {
                "cronSpec": {"type": "string", "description": "When to run."},
                "replicas": {"type": "integer", "nullable": true},
                "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
            },
            "required": ["cronSpec"]
        }
    }
}"#;

fn crontab(schema: &str) -> ResourceDef {
    let base = Registry::builtin()
        .lookup("", "v1", "configmaps")
        .expect("configmaps")
        .clone();
    ResourceDef {
        group: "stable.example.com",
        version: "v1",
        kind: "CronTab",
        plural: "crontabs",
        singular: "crontab",
        storage: "stable.example.com/crontabs",
        custom: Some(Arc::new(CustomServing {
            crd_name: "crontabs.stable.example.com".into(),
            openapi_schema: Some(Arc::new(serde_json::from_str(schema).expect("schema"))),
            ..Default::default()
        })),
        ..base
    }
}

#[test]
fn builtin_schemas_carry_upstream_names_descriptions_and_gvks() {
    let c = schemas::catalog();
    let cm = &c.defs["io.k8s.api.core.v1.ConfigMap"];
    assert!(
        cm["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("ConfigMap holds configuration data"))
    );
    assert_eq!(
        cm["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(cm["properties"]["metadata"]["description"].is_string());
    assert!(
        cm.get("required").is_none(),
        "metadata is not required upstream"
    );
    assert_eq!(
        cm["properties"]["data"]["additionalProperties"]["type"],
        "string"
    );
    assert!(has_gvk(cm, "", "v1", "ConfigMap"));
    assert!(has_gvk(&c.defs[schemas::STATUS], "", "v1", "Status"));
    // Every kind of the table generates, under a name that carries its GVK.
    for k in kinds::KINDS {
        let name = c
            .component(k.group, k.version, k.kind)
            .unwrap_or_else(|| panic!("{} {} {}", k.group, k.version, k.kind));
        assert!(has_gvk(&c.defs[name], k.group, k.version, k.kind), "{name}");
        assert!(name.ends_with(&format!(".{}", k.kind)), "{name}");
    }
    assert!(c.defs.len() > 500, "{} schemas", c.defs.len());
    let all: Map<String, Value> = c.defs.clone().into_iter().collect();
    let missing = unresolved(&Value::Object(all.clone()), schemas::REF_V3, &all);
    assert!(missing.is_empty(), "{missing:?}");
    // v3 shape: no siblings beside a $ref anywhere.
    for (name, def) in &c.defs {
        every_schema(def, &mut |s| {
            let o = s.as_object().expect("schema object");
            assert!(
                !(o.get("$ref").is_some_and(Value::is_string) && o.len() > 1),
                "{name}: {s}"
            );
        });
    }
    let quantity = &c.defs[schemas::QUANTITY];
    assert_eq!(
        quantity["oneOf"],
        json!([{"type": "string"}, {"type": "number"}])
    );
}

#[test]
fn v3_documents_describe_every_served_kind() {
    let registry = Arc::new(Registry::builtin());
    let docs = build(&registry);
    let root = parse(&docs.root);
    for (g, v) in served_group_versions(&registry) {
        let key = gv_key(g, v);
        let doc = &docs.group_versions[&key];
        assert_eq!(
            root["paths"][&key]["serverRelativeURL"],
            format!("/openapi/v3/{key}?hash={}", doc.etag)
        );
        let doc = parse(doc);
        assert_eq!(doc["openapi"], "3.0.0");
        let defs = doc["components"]["schemas"].as_object().expect("schemas");
        let missing = unresolved(&doc, schemas::REF_V3, defs);
        assert!(missing.is_empty(), "{key}: {missing:?}");
        for r in registry.in_group_version(g, v) {
            let name = schemas::component_name(r);
            assert!(has_gvk(&defs[&name], r.group, r.version, r.kind), "{name}");
            assert!(defs[&name]["description"].is_string(), "{name}");
            if r.supports("list") {
                assert!(has_gvk(&defs[&format!("{name}List")], g, v, &r.list_kind()));
            }
        }
        assert!(has_gvk(&defs[DELETE_OPTIONS], g, v, "DeleteOptions"));
        assert!(defs.contains_key(schemas::STATUS));
    }
    let core = parse(&docs.group_versions["api/v1"]);
    let patch = &core["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "", "kind": "ConfigMap", "version": "v1"})
    );
    assert!(
        patch["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "fieldValidation"))
    );
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
    let token =
        &core["paths"]["/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"]["post"];
    assert_eq!(
        token["x-kubernetes-group-version-kind"]["kind"],
        "TokenRequest"
    );
    assert!(core["components"]["schemas"]["io.k8s.api.authentication.v1.TokenRequest"].is_object());
    // Kinds the registry does not serve stay out.
    assert!(
        core["components"]["schemas"]
            .get("io.k8s.api.core.v1.ReplicationController")
            .is_none()
    );
}

#[test]
fn v2_document_is_swagger_with_resolving_definitions() {
    let registry = Registry::builtin();
    let doc = v2_document(&registry);
    assert_eq!(doc["swagger"], "2.0");
    let defs = doc["definitions"].as_object().expect("definitions");
    let missing = unresolved(&doc, "#/definitions/", defs);
    assert!(missing.is_empty(), "{missing:?}");
    for r in registry.all() {
        let name = schemas::component_name(r);
        assert!(has_gvk(&defs[&name], r.group, r.version, r.kind), "{name}");
    }
    for (name, def) in defs {
        every_schema(def, &mut |s| {
            for key in ["allOf", "oneOf", "anyOf", "nullable"] {
                assert!(s.get(key).is_none(), "{name} has {key}: {s}");
            }
        });
    }
    let cm = &defs["io.k8s.api.core.v1.ConfigMap"];
    assert_eq!(
        cm["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    // v2 has no oneOf: IntOrString becomes upstream's v2 string format.
    let mut ios = schemas::catalog().defs[schemas::INT_OR_STRING].clone();
    v2::schema_to_v2(&mut ios);
    v2::special_v2(schemas::INT_OR_STRING, &mut ios);
    assert_eq!(
        (ios["type"].as_str(), ios["format"].as_str()),
        (Some("string"), Some("int-or-string"))
    );
    let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
    assert!(
        patch["consumes"]
            .as_array()
            .is_some_and(|c| c.contains(&json!("application/strategic-merge-patch+json")))
    );
    assert_eq!(patch["parameters"][0]["in"], "body");
    let pb = proto::encode_document(&doc);
    assert!(pb.len() > 10_000);
}

#[test]
fn crd_schema_is_shaped_like_upstreams_builder() {
    let registry = Arc::new(Registry::with_custom(vec![crontab(CRONTAB_SCHEMA)]));
    let docs = build(&registry);
    let doc = parse(&docs.group_versions["apis/stable.example.com/v1"]);
    let defs = doc["components"]["schemas"].as_object().expect("schemas");
    assert!(unresolved(&doc, schemas::REF_V3, defs).is_empty());
    let ct = &defs["com.example.stable.v1.CronTab"];
    assert!(has_gvk(ct, "stable.example.com", "v1", "CronTab"));
    assert_eq!(
        ct["properties"]["spec"]["properties"]["cronSpec"]["description"],
        "When to run."
    );
    assert_eq!(ct["properties"]["apiVersion"]["type"], "string");
    assert_eq!(ct["properties"]["kind"]["type"], "string");
    assert_eq!(
        ct["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    // An embedded resource gets its own apiVersion, kind and metadata.
    let template = &ct["properties"]["spec"]["properties"]["template"];
    assert_eq!(template["properties"]["kind"]["type"], "string");
    assert_eq!(template["required"], json!(["kind", "apiVersion"]));
    let list = &defs["com.example.stable.v1.CronTabList"];
    assert!(has_gvk(list, "stable.example.com", "v1", "CronTabList"));
    assert_eq!(
        list["properties"]["items"]["items"]["$ref"],
        "#/components/schemas/com.example.stable.v1.CronTab"
    );
    let patch = &doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]
        ["patch"];
    let content = patch["requestBody"]["content"]
        .as_object()
        .expect("content");
    assert!(content.contains_key("application/merge-patch+json"));
    assert!(!content.contains_key("application/strategic-merge-patch+json"));

    let v2 = v2_document(&registry);
    let ct2 = &v2["definitions"]["com.example.stable.v1.CronTab"];
    assert!(
        ct2["properties"]["spec"]["properties"]["replicas"]
            .get("type")
            .is_none()
    );
    assert_eq!(
        ct2["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    // Unknown fields preserved: v2 keeps no properties there, so kubectl accepts them.
    assert!(
        ct2["properties"]["spec"]["properties"]["template"]
            .get("properties")
            .is_none()
    );

    // A root that preserves unknown fields is only `type: object` in v2.
    let open = crontab(r#"{"type": "object", "x-kubernetes-preserve-unknown-fields": true}"#);
    let v2 = v2_document(&Registry::with_custom(vec![open]));
    let ct2 = &v2["definitions"]["com.example.stable.v1.CronTab"];
    assert_eq!(ct2["type"], "object");
    assert!(ct2.get("properties").is_none());
    assert!(has_gvk(ct2, "stable.example.com", "v1", "CronTab"));
}

#[test]
fn documents_are_built_once_per_registry_snapshot() {
    let a = Arc::new(Registry::builtin());
    let b = Arc::new(Registry::with_custom(vec![crontab(CRONTAB_SCHEMA)]));
    let first = documents(&a);
    assert!(Arc::ptr_eq(&first, &documents(&a)));
    let other = documents(&b);
    assert!(!Arc::ptr_eq(&first, &other));
    assert!(
        other
            .group_versions
            .contains_key("apis/stable.example.com/v1")
    );
    assert!(
        !first
            .group_versions
            .contains_key("apis/stable.example.com/v1")
    );
    // A dropped snapshot's documents leave the cache.
    drop(other);
    drop(b);
    documents(&a);
    let cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    assert!(cache.iter().all(|d| d.registry.strong_count() > 0));
}

fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(k.clone(), HeaderValue::from_str(v).expect("header"));
    }
    h
}

#[test]
fn hashed_v3_urls_are_immutable_and_old_hashes_redirect() {
    let docs = build(&Arc::new(Registry::builtin()));
    let etag = docs.group_versions["api/v1"].etag.clone();
    let q = |s: &str| Query::parse(Some(s));
    let resp = group_version_response(
        &docs,
        "api/v1",
        &HeaderMap::new(),
        &q(&format!("hash={etag}")),
    )
    .expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, immutable");
    assert!(resp.headers().contains_key(header::EXPIRES));
    assert_eq!(resp.headers()[header::ETAG], format!("\"{etag}\"").as_str());

    let resp = group_version_response(&docs, "api/v1", &HeaderMap::new(), &q("hash=OLD"))
        .expect("response");
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        resp.headers()[header::LOCATION],
        format!("/openapi/v3/api/v1?hash={etag}").as_str()
    );

    let conditional = headers(&[(header::IF_NONE_MATCH, &format!("W/\"x\", \"{etag}\""))]);
    let resp = group_version_response(&docs, "api/v1", &conditional, &q("")).expect("response");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert!(resp.headers().get(header::CACHE_CONTROL).is_none());

    assert!(matches!(
        group_version_response(&docs, "apis/nope/v1", &HeaderMap::new(), &q("")),
        Err(ApiError::NoRoute)
    ));
}

#[test]
fn v2_is_negotiated_between_json_and_protobuf() {
    let registry = Registry::builtin();
    let docs = build(&Arc::new(Registry::builtin()));
    let pb = headers(&[(
        header::ACCEPT,
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    )]);
    let resp = v2_response(&docs, &registry, &pb).expect("protobuf");
    assert_eq!(resp.headers()[header::CONTENT_TYPE], V2_PROTOBUF);
    let etag = resp.headers()[header::ETAG]
        .to_str()
        .expect("etag")
        .to_string();
    let again = headers(&[
        (
            header::ACCEPT,
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        ),
        (header::IF_NONE_MATCH, &etag),
    ]);
    assert_eq!(
        v2_response(&docs, &registry, &again).expect("304").status(),
        StatusCode::NOT_MODIFIED
    );
    let resp = v2_response(&docs, &registry, &HeaderMap::new()).expect("json");
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let json_pref = headers(&[(
        header::ACCEPT,
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf;q=0.5, application/json",
    )]);
    let resp = v2_response(&docs, &registry, &json_pref).expect("json");
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let html = headers(&[(header::ACCEPT, "text/html")]);
    assert!(matches!(
        v2_response(&docs, &registry, &html),
        Err(ApiError::NotAcceptable(_))
    ));
}

#[test]
fn strategic_merge_metadata_comes_from_the_patch_engine() {
    let defs = &schemas::catalog().defs;
    let prop = |component: &str, field: &str| defs[component]["properties"][field].clone();
    let containers = prop("io.k8s.api.core.v1.PodSpec", "containers");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(
        prop("io.k8s.api.core.v1.PodSpec", "volumes")["x-kubernetes-patch-strategy"],
        "merge,retainKeys"
    );
    // Followed through the list's items into Container.
    assert_eq!(
        prop("io.k8s.api.core.v1.Container", "env")["x-kubernetes-patch-merge-key"],
        "name"
    );
    let finalizers = prop(schemas::OBJECT_META, "finalizers");
    assert_eq!(finalizers["x-kubernetes-patch-strategy"], "merge");
    assert!(finalizers.get("x-kubernetes-patch-merge-key").is_none());
    assert_eq!(
        prop(schemas::OBJECT_META, "ownerReferences")["x-kubernetes-patch-merge-key"],
        "uid"
    );
    // Untagged lists stay untagged.
    assert!(
        prop("io.k8s.api.core.v1.PodSpec", "tolerations")
            .get("x-kubernetes-patch-strategy")
            .is_none()
    );
}
