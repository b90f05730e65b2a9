//! Server-side apply (`fieldmanager::apply`): merging applied
//! configurations, ownership between managers, conflicts and force,
//! pruning of fields a manager stops applying, associative lists, sets,
//! atomic lists and maps, custom resources' list types, create-on-apply,
//! migration from client-side apply.

use corral_apimachinery::crd::Structural;
use corral_apimachinery::fieldmanager::{
    ApplyError, ApplyOptions, BuiltinListTypes, DefaultListTypes, FieldSet, ListType, ListTypes,
    MapType, StructuralListTypes, TypeTable, UpdateOptions, apply, conflict_status,
    update_managed_fields,
};
use corral_apimachinery::patch::meta::schema_for;
use serde_json::{Value, json};

const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T11:00:00Z";
const T2: &str = "2024-05-01T12:00:00Z";

struct Applier<'a> {
    types: &'a dyn ListTypes,
    ignored: FieldSet,
    api_version: &'a str,
}

impl<'a> Applier<'a> {
    fn new(types: &'a dyn ListTypes) -> Self {
        Applier {
            types,
            ignored: FieldSet::new(),
            api_version: "v1",
        }
    }

    fn opts<'b>(&'b self, manager: &'b str, now: &'b str, force: bool) -> ApplyOptions<'b> {
        ApplyOptions {
            manager,
            subresource: None,
            api_version: self.api_version,
            now,
            force,
            types: self.types,
            ignored: &self.ignored,
        }
    }

    fn apply(&self, live: Option<&Value>, manager: &str, config: Value) -> Value {
        self.try_apply(live, manager, config, false)
            .unwrap_or_else(|e| panic!("apply by {manager}: {e}"))
    }

    fn force(&self, live: Option<&Value>, manager: &str, config: Value) -> Value {
        self.try_apply(live, manager, config, true)
            .unwrap_or_else(|e| panic!("forced apply by {manager}: {e}"))
    }

    fn try_apply(
        &self,
        live: Option<&Value>,
        manager: &str,
        config: Value,
        force: bool,
    ) -> Result<Value, ApplyError> {
        let mut out = apply(live, &config, &self.opts(manager, T1, force))?;
        // What the API server adds on create.
        if live.is_none() {
            out["metadata"]["uid"] = json!("u-1");
        }
        Ok(out)
    }

    fn update(&self, live: &Value, manager: &str, mut new: Value) -> Value {
        let opts = UpdateOptions {
            manager,
            subresource: None,
            api_version: self.api_version,
            now: T2,
            types: self.types,
            ignored: &self.ignored,
            zero_object: None,
        };
        update_managed_fields(Some(live), &mut new, &opts).expect("update");
        new
    }
}

/// `manager/Operation -> fieldsV1` of every entry.
fn owners(obj: &Value) -> Vec<(String, Value)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        format!(
                            "{}/{}",
                            e["manager"].as_str().unwrap_or(""),
                            e["operation"].as_str().unwrap_or("")
                        ),
                        e["fieldsV1"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn fields_of(obj: &Value, manager_op: &str) -> Option<Value> {
    owners(obj)
        .into_iter()
        .find(|(m, _)| m == manager_op)
        .map(|(_, f)| f)
}

/// A ConfigMap configuration; empty `data` is left out (applying `data: {}`
/// would own `.data` itself).
fn cm(data: Value) -> Value {
    let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "app", "namespace": "default"}});
    if data.as_object().is_none_or(|m| !m.is_empty()) {
        v["data"] = data;
    }
    v
}

fn cm_types() -> BuiltinListTypes {
    BuiltinListTypes(schema_for("", "ConfigMap").expect("ConfigMap described"))
}

fn conflicts_of(r: Result<Value, ApplyError>) -> Vec<(String, String)> {
    match r {
        Err(ApplyError::Conflicts(c)) => c
            .iter()
            .map(|c| (c.manager.clone(), c.path.to_string()))
            .collect(),
        other => panic!("expected conflicts, got {other:?}"),
    }
}

#[test]
fn create_on_apply_owns_exactly_the_configuration() {
    let types = cm_types();
    let a = Applier::new(&types);
    let mut config = cm(json!({"k": "v"}));
    config["metadata"]["labels"] = json!({"app": "web"});
    let obj = a.apply(None, "mgr", config);
    assert_eq!(obj["data"], json!({"k": "v"}));
    let mf = &obj["metadata"]["managedFields"];
    assert_eq!(mf.as_array().map(Vec::len), Some(1), "{mf}");
    assert_eq!(mf[0]["manager"], "mgr");
    assert_eq!(mf[0]["operation"], "Apply");
    assert_eq!(mf[0]["apiVersion"], "v1");
    assert_eq!(mf[0]["time"], T1);
    // As kube-apiserver records it: no "." on containers the config fills.
    assert_eq!(
        mf[0]["fieldsV1"],
        json!({"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:app": {}}}})
    );
}

#[test]
fn two_managers_share_a_value_and_the_last_owner_keeps_it() {
    let types = cm_types();
    let a = Applier::new(&types);
    let obj = a.apply(None, "a", cm(json!({"shared": "1", "mine": "x"})));
    // Same value: no conflict, both own it.
    let obj = a.apply(Some(&obj), "b", cm(json!({"shared": "1"})));
    assert_eq!(
        fields_of(&obj, "a/Apply"),
        Some(json!({"f:data": {"f:mine": {}, "f:shared": {}}}))
    );
    assert_eq!(
        fields_of(&obj, "b/Apply"),
        Some(json!({"f:data": {"f:shared": {}}}))
    );
    // a stops applying both: `mine` goes, `shared` stays with b.
    let obj = a.apply(Some(&obj), "a", cm(json!({})));
    assert_eq!(obj["data"], json!({"shared": "1"}));
    assert_eq!(fields_of(&obj, "a/Apply"), None, "{obj}");
    // b stops too: nobody owns it any more, it goes.
    let obj = a.apply(Some(&obj), "b", cm(json!({})));
    assert!(
        obj.get("data")
            .is_none_or(|d| d.as_object().is_some_and(|m| m.is_empty())),
        "{obj}"
    );
}

#[test]
fn a_different_value_conflicts_until_forced() {
    let types = cm_types();
    let a = Applier::new(&types);
    let obj = a.apply(None, "a", cm(json!({"k": "1", "other": "o"})));
    let r = a.try_apply(Some(&obj), "b", cm(json!({"k": "2"})), false);
    let Err(ApplyError::Conflicts(c)) = &r else {
        panic!("expected a conflict: {r:?}")
    };
    let status = conflict_status(c);
    assert_eq!(status["code"], 409);
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"a\": .data.k"
    );
    assert_eq!(
        status["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"a\"", "field": ".data.k"}])
    );
    // force: b takes the field, a keeps the rest.
    let obj = a.force(Some(&obj), "b", cm(json!({"k": "2"})));
    assert_eq!(obj["data"], json!({"k": "2", "other": "o"}));
    assert_eq!(
        fields_of(&obj, "a/Apply"),
        Some(json!({"f:data": {"f:other": {}}}))
    );
    assert_eq!(
        fields_of(&obj, "b/Apply"),
        Some(json!({"f:data": {"f:k": {}}}))
    );
    // a applying its old value again now conflicts with b.
    let r = a.try_apply(Some(&obj), "a", cm(json!({"k": "1", "other": "o"})), false);
    assert_eq!(conflicts_of(r), vec![("b".into(), ".data.k".into())]);
}

#[test]
fn a_manager_dropping_a_field_removes_it_unless_others_own_it() {
    let types = cm_types();
    let a = Applier::new(&types);
    let obj = a.apply(None, "a", cm(json!({"x": "1", "y": "2", "z": "3"})));
    // An updater changes z: it now owns it.
    let mut edited = obj.clone();
    edited["data"]["z"] = json!("30");
    let obj = a.update(&obj, "kubectl-edit", edited);
    assert_eq!(
        fields_of(&obj, "a/Apply"),
        Some(json!({"f:data": {"f:x": {}, "f:y": {}}}))
    );
    assert_eq!(
        fields_of(&obj, "kubectl-edit/Update"),
        Some(json!({"f:data": {"f:z": {}}}))
    );
    // a drops y and z: y goes (only a owned it), z stays (the updater's).
    let obj = a.apply(Some(&obj), "a", cm(json!({"x": "1"})));
    assert_eq!(obj["data"], json!({"x": "1", "z": "30"}));
    // Re-applying z's old value conflicts with the updater, with upstream's
    // "using <version>" for Update owners.
    let r = a.try_apply(Some(&obj), "a", cm(json!({"x": "1", "z": "3"})), false);
    let Err(ApplyError::Conflicts(c)) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(
        conflict_status(c)["message"],
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.z"
    );
}

#[test]
fn unchanged_reapply_changes_nothing_not_even_the_time() {
    let types = cm_types();
    let a = Applier::new(&types);
    let obj = a.apply(None, "a", cm(json!({"k": "v"})));
    let again = apply(Some(&obj), &cm(json!({"k": "v"})), &a.opts("a", T2, false)).expect("apply");
    assert_eq!(again, obj);
    // A change moves the time.
    let changed =
        apply(Some(&obj), &cm(json!({"k": "w"})), &a.opts("a", T2, false)).expect("apply");
    assert_eq!(changed["metadata"]["managedFields"][0]["time"], T2);
}

#[test]
fn several_conflicts_are_grouped_by_owner() {
    let types = cm_types();
    let a = Applier::new(&types);
    let obj = a.apply(None, "a", cm(json!({"p": "1", "q": "1"})));
    let obj = a.apply(Some(&obj), "b", cm(json!({"r": "1"})));
    let r = a.try_apply(
        Some(&obj),
        "c",
        cm(json!({"p": "2", "q": "2", "r": "2"})),
        false,
    );
    let Err(ApplyError::Conflicts(c)) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(
        conflict_status(c)["message"],
        "Apply failed with 3 conflicts: conflicts with \"a\":\n- .data.p\n- .data.q\nconflicts with \"b\":\n- .data.r"
    );
}

fn pod(containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": containers}})
}

#[test]
fn associative_lists_merge_by_key_and_items_have_owners() {
    let types = BuiltinListTypes(schema_for("", "Pod").expect("Pod"));
    let a = Applier::new(&types);
    let obj = a.apply(
        None,
        "a",
        pod(json!([{"name": "app", "image": "nginx"}, {"name": "log", "image": "busybox"}])),
    );
    let obj = a.apply(
        Some(&obj),
        "b",
        pod(json!([{"name": "sidecar", "image": "envoy"}])),
    );
    let names: Vec<&str> = obj["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["app", "log", "sidecar"]);
    assert_eq!(
        fields_of(&obj, "b/Apply"),
        Some(
            json!({"f:spec": {"f:containers": {"k:{\"name\":\"sidecar\"}": {
            ".": {}, "f:image": {}, "f:name": {}}}}})
        )
    );
    // b sets a field inside a's item: it is not a's field, no conflict.
    let obj = a.apply(
        Some(&obj),
        "b",
        pod(json!([{"name": "sidecar", "image": "envoy"}, {"name": "app", "imagePullPolicy": "Always"}])),
    );
    // Shared items take the order of the latest configuration.
    let app = &obj["spec"]["containers"][2];
    assert_eq!(
        (&app["name"], &app["image"], &app["imagePullPolicy"]),
        (&json!("app"), &json!("nginx"), &json!("Always"))
    );
    // b changing a's image conflicts on the item's field path.
    let r = a.try_apply(
        Some(&obj),
        "b",
        pod(json!([{"name": "app", "image": "httpd"}])),
        false,
    );
    assert_eq!(
        conflicts_of(r),
        vec![("a".into(), ".spec.containers[name=\"app\"].image".into())]
    );
    // a drops `log`: gone. Then a drops `app`: b still owns the item, so it
    // stays with the fields b owns, without a's image.
    let obj = a.apply(
        Some(&obj),
        "a",
        pod(json!([{"name": "app", "image": "nginx"}])),
    );
    let names: Vec<&str> = obj["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["sidecar", "app"]);
    let obj = a.apply(Some(&obj), "a", pod(json!([])));
    assert_eq!(
        obj["spec"]["containers"],
        json!([{"name": "sidecar", "image": "envoy"}, {"name": "app", "imagePullPolicy": "Always"}])
    );
}

#[test]
fn associative_list_order_follows_the_configuration_for_shared_items() {
    let types = BuiltinListTypes(schema_for("", "Pod").expect("Pod"));
    let a = Applier::new(&types);
    let obj = a.apply(
        None,
        "a",
        pod(json!([{"name": "x"}, {"name": "y"}, {"name": "z"}])),
    );
    // Reordering x and z in the config reorders them; y keeps its place.
    let obj = a.apply(
        Some(&obj),
        "a",
        pod(json!([{"name": "z"}, {"name": "y"}, {"name": "x"}, {"name": "w"}])),
    );
    assert_eq!(
        obj["spec"]["containers"],
        json!([{"name": "z"}, {"name": "y"}, {"name": "x"}, {"name": "w"}])
    );
}

#[test]
fn duplicate_keys_in_the_configuration_are_rejected() {
    let types = BuiltinListTypes(schema_for("", "Pod").expect("Pod"));
    let a = Applier::new(&types);
    let r = a.try_apply(None, "a", pod(json!([{"name": "x"}, {"name": "x"}])), false);
    match r {
        Err(ApplyError::Typed(m)) => assert!(
            m.contains(".spec.containers: duplicate entries for key [name=\"x\"]"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    let r = a.try_apply(None, "a", pod(json!([{"image": "x"}])), false);
    assert!(matches!(r, Err(ApplyError::Typed(m)) if m.contains("omits key field \"name\"")));
}

#[test]
fn sets_merge_by_value() {
    let types = cm_types();
    let a = Applier::new(&types);
    let with = |f: Value| {
        let mut c = cm(json!({}));
        c["metadata"]["finalizers"] = f;
        c
    };
    let obj = a.apply(None, "a", with(json!(["x.io/a", "x.io/b"])));
    let obj = a.apply(Some(&obj), "b", with(json!(["x.io/c", "x.io/a"])));
    assert_eq!(
        obj["metadata"]["finalizers"],
        json!(["x.io/c", "x.io/a", "x.io/b"])
    );
    assert_eq!(
        fields_of(&obj, "b/Apply"),
        Some(json!({"f:metadata": {"f:finalizers": {"v:\"x.io/a\"": {}, "v:\"x.io/c\"": {}}}}))
    );
    // a drops both: b still owns x.io/a.
    let obj = a.apply(Some(&obj), "a", with(json!([])));
    assert_eq!(obj["metadata"]["finalizers"], json!(["x.io/c", "x.io/a"]));
}

#[test]
fn atomic_lists_and_maps_are_owned_whole() {
    let types = TypeTable::new()
        .list("spec.items", ListType::Atomic)
        .map("spec.selector", MapType::Atomic)
        .map("spec.labels", MapType::Elements);
    let a = Applier::new(&types);
    let obj = json!({"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "t"}});
    let spec = |s: Value| json!({"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": s});
    let obj = a.apply(
        Some(&obj),
        "a",
        spec(json!({"items": [1, 2], "selector": {"app": "x", "tier": "y"}, "labels": {"a": "1"}})),
    );
    assert_eq!(
        fields_of(&obj, "a/Apply"),
        Some(json!({"f:spec": {"f:items": {}, "f:labels": {"f:a": {}}, "f:selector": {}}}))
    );
    // A shorter list or a partial map is a different value: conflicts.
    let r = a.try_apply(
        Some(&obj),
        "b",
        spec(json!({"items": [3], "selector": {"app": "x"}, "labels": {"b": "2"}})),
        false,
    );
    assert_eq!(
        conflicts_of(r),
        vec![
            ("a".into(), ".spec.items".into()),
            ("a".into(), ".spec.selector".into())
        ]
    );
    // Forced: replaced as a whole; the granular map merges.
    let obj = a.force(
        Some(&obj),
        "b",
        spec(json!({"items": [3], "selector": {"app": "x"}, "labels": {"b": "2"}})),
    );
    assert_eq!(
        obj["spec"],
        json!({"items": [3], "selector": {"app": "x"}, "labels": {"a": "1", "b": "2"}})
    );
    assert_eq!(
        fields_of(&obj, "a/Apply"),
        Some(json!({"f:spec": {"f:labels": {"f:a": {}}}}))
    );
}

#[test]
fn objects_without_managed_fields_get_a_before_first_apply_owner() {
    let types = cm_types();
    let a = Applier::new(&types);
    let mut live = cm(json!({"k": "old", "j": "1"}));
    live["metadata"]["uid"] = json!("u-1");
    let r = a.try_apply(Some(&live), "a", cm(json!({"k": "new"})), false);
    let Err(ApplyError::Conflicts(c)) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(
        conflict_status(c)["message"],
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using v1: .data.k"
    );
    let obj = a.apply(Some(&live), "a", cm(json!({"j": "1"})));
    assert_eq!(
        fields_of(&obj, "before-first-apply/Update"),
        Some(json!({"f:data": {".": {}, "f:j": {}, "f:k": {}}}))
    );
}

#[test]
fn status_is_not_taken_through_the_main_resource() {
    let types = DefaultListTypes;
    let mut a = Applier::new(&types);
    a.ignored = FieldSet::from_dotted(&["status"]);
    let obj = a.apply(
        None,
        "a",
        json!({"apiVersion": "v1", "kind": "T", "metadata": {"name": "t"}, "spec": {"x": 1}, "status": {"y": 2}}),
    );
    assert_eq!(
        fields_of(&obj, "a/Apply"),
        Some(json!({"f:spec": {"f:x": {}}}))
    );
}

#[test]
fn managed_fields_in_the_configuration_are_refused() {
    let types = cm_types();
    let a = Applier::new(&types);
    let mut c = cm(json!({}));
    c["metadata"]["managedFields"] = json!([]);
    assert_eq!(
        a.try_apply(None, "a", c, false),
        Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into()
        ))
    );
}

#[test]
fn nulls_in_the_configuration_are_owned_but_not_stored() {
    let types = cm_types();
    let a = Applier::new(&types);
    let obj = a.apply(None, "a", cm(json!({"k": "v"})));
    let obj = a.apply(Some(&obj), "a", cm(json!({"k": null})));
    assert!(obj["data"].get("k").is_none(), "{obj}");
    assert_eq!(
        fields_of(&obj, "a/Apply"),
        Some(json!({"f:data": {"f:k": {}}}))
    );
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[test]
fn kubectl_takes_over_from_client_side_apply() {
    let types = cm_types();
    let a = Applier::new(&types);
    // What `kubectl apply` (client-side) leaves: an Update entry and the annotation.
    let csa_config = cm(json!({"k": "1"}));
    let mut created = csa_config.clone();
    created["metadata"]["annotations"] =
        json!({LAST_APPLIED: serde_json::to_string(&csa_config).expect("json")});
    let mut live = created.clone();
    update_managed_fields(
        None,
        &mut live,
        &UpdateOptions {
            manager: "kubectl-client-side-apply",
            subresource: None,
            api_version: "v1",
            now: T0,
            types: &types,
            ignored: &FieldSet::new(),
            zero_object: None,
        },
    )
    .expect("create");
    live["metadata"]["uid"] = json!("u-1");
    // Another manager changing k conflicts with the client-side applier...
    let r = a.try_apply(Some(&live), "other", cm(json!({"k": "2"})), false);
    assert_eq!(
        conflicts_of(r),
        vec![("kubectl-client-side-apply".into(), ".data.k".into())]
    );
    // ...but kubectl's server-side apply may take what last-applied describes.
    let obj = a.apply(Some(&live), "kubectl", cm(json!({"k": "2"})));
    assert_eq!(obj["data"]["k"], "2");
    assert_eq!(
        fields_of(&obj, "kubectl/Apply"),
        Some(json!({"f:data": {"f:k": {}}}))
    );
    // The annotation follows the applied configuration (for a later
    // client-side apply), still owned by the client-side manager.
    let last: Value = serde_json::from_str(
        obj["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .expect("annotation kept"),
    )
    .expect("json");
    assert_eq!(last, cm(json!({"k": "2"})));
    assert!(
        fields_of(&obj, "kubectl-client-side-apply/Update")
            .is_some_and(|f| f.to_string().contains("last-applied-configuration")),
        "{obj}"
    );
}

fn crd_types_schema() -> Structural {
    Structural::parse(&json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["port", "protocol"],
                        "items": {"type": "object", "required": ["port", "protocol"], "properties": {
                            "port": {"type": "integer"},
                            "protocol": {"type": "string"},
                            "name": {"type": "string"}}}
                    },
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                                 "additionalProperties": {"type": "string"}},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}}
                }
            }
        }
    }))
    .expect("structural schema")
}

#[test]
fn custom_resources_follow_their_schema_markers() {
    let schema = crd_types_schema();
    let types = StructuralListTypes(&schema);
    let mut a = Applier::new(&types);
    a.api_version = "example.com/v1";
    let cr = |spec: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
               "metadata": {"name": "w", "namespace": "default"}, "spec": spec})
    };
    let obj = a.apply(
        None,
        "a",
        cr(json!({
            "ports": [{"port": 80, "protocol": "TCP", "name": "http"}],
            "tags": ["x"], "args": ["--a"], "selector": {"app": "w"}, "env": {"A": "1"}})),
    );
    assert_eq!(
        fields_of(&obj, "a/Apply"),
        Some(json!({"f:spec": {
            "f:args": {},
            "f:env": {"f:A": {}},
            "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}}},
            "f:selector": {},
            "f:tags": {"v:\"x\"": {}}}}))
    );
    // Another manager adds a port with the same number and another
    // protocol, a tag and an env key: merged, no conflict.
    let obj = a.apply(
        Some(&obj),
        "b",
        cr(json!({"ports": [{"port": 80, "protocol": "UDP"}], "tags": ["y"], "env": {"B": "2"}})),
    );
    assert_eq!(
        obj["spec"]["ports"],
        json!([{"port": 80, "protocol": "TCP", "name": "http"}, {"port": 80, "protocol": "UDP"}])
    );
    assert_eq!(obj["spec"]["tags"], json!(["x", "y"]));
    assert_eq!(obj["spec"]["env"], json!({"A": "1", "B": "2"}));
    // Atomic list and atomic map: any other value conflicts.
    let r = a.try_apply(
        Some(&obj),
        "b",
        cr(json!({"args": ["--b"], "selector": {"app": "w", "x": "y"}})),
        false,
    );
    assert_eq!(
        conflicts_of(r),
        vec![
            ("a".into(), ".spec.args".into()),
            ("a".into(), ".spec.selector".into())
        ]
    );
    // a drops its port and tag: b's stay.
    let obj = a.apply(
        Some(&obj),
        "a",
        cr(json!({"args": ["--a"], "selector": {"app": "w"}, "env": {"A": "1"}})),
    );
    assert_eq!(
        obj["spec"]["ports"],
        json!([{"port": 80, "protocol": "UDP"}])
    );
    assert_eq!(obj["spec"]["tags"], json!(["y"]));
}
