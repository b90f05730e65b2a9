//! Field management: the Update workflow on metadata.managedFields
//! (creates, updates, status writes, managers, caps), entry encoding and
//! validation, conflicts and manager names.

mod fieldmanager_support;

use corral_apimachinery::fieldmanager::{
    Conflict, DefaultListTypes, FieldManagerError, FieldPath, FieldSet, Operation,
    conflict_message, conflict_status, conflicts, decode_managed_fields, default_manager,
    encode_managed_fields, revert_timestamp_only_changes, update_managed_fields,
    validate_field_manager, validate_managed_fields,
};
use corral_apimachinery::validation::aggregate_message;
use serde_json::{Value, json};

use fieldmanager_support::*;

#[test]
fn create_configmap_like_kubectl_create() {
    // kubectl create configmap x --from-literal=a=1 -l app=x
    let mut new = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "default", "creationTimestamp": null, "labels": {"app": "x"}},
        "data": {"a": "1"}});
    let none = FieldSet::new();
    let r = update_managed_fields(
        None,
        &mut new,
        &opts("kubectl-create", None, T0, &DefaultListTypes, &none),
    );
    assert_eq!(r, Ok(()));
    assert_eq!(
        managed(&new),
        json!([entry(
            "kubectl-create",
            T0,
            json!({"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
        )])
    );
}

fn created_deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "creationTimestamp": null, "labels": {"app": "nginx"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                        "imagePullPolicy": "Always"}],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "securityContext": {}, "schedulerName": "default-scheduler"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
        "status": {}})
}

/// The Deployment zero value as upstream's typed New() serializes it.
fn deployment_zero() -> Value {
    json!({"metadata": {"creationTimestamp": null},
        "spec": {"selector": null, "template": {"metadata": {"creationTimestamp": null}, "spec": {"containers": null}}, "strategy": {}},
        "status": {}})
}

#[test]
fn create_deployment_matches_kube_apiserver() {
    let types = deployment_types();
    let zero = deployment_zero();
    let status = FieldSet::from_dotted(&["status"]);
    let mut new = created_deployment();
    let mut o = opts("kubectl-create", None, T0, &types, &status);
    o.api_version = "apps/v1";
    o.zero_object = Some(&zero);
    assert_eq!(update_managed_fields(None, &mut new, &o), Ok(()));
    let entries = decode_managed_fields(new["metadata"].get("managedFields")).unwrap_or_default();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].fields.to_fields_v1_string(), REAL_FIELDS_V1[2]);
    assert_eq!(managed(&new)[0]["apiVersion"], "apps/v1");
}

#[test]
fn status_update_by_controller() {
    let types = deployment_types();
    let zero = deployment_zero();
    let none = FieldSet::new();
    let mut live = created_deployment();
    let mut o = opts("kubectl-create", None, T0, &types, &none);
    o.api_version = "apps/v1";
    o.zero_object = Some(&zero);
    assert_eq!(update_managed_fields(None, &mut live, &o), Ok(()));
    live["metadata"]["uid"] = json!("u1");
    let create_entry = managed(&live)[0].clone();

    let cond = |t: &str| json!({"type": t, "status": "True", "lastUpdateTime": T1, "lastTransitionTime": T1, "reason": "R", "message": "m"});
    let mut new = live.clone();
    new["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
    new["status"] = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
        "availableReplicas": 1, "conditions": [cond("Available"), cond("Progressing")]});
    // The client's managedFields are ignored on a subresource, and the
    // status strategy's reset fields are not taken.
    new["metadata"]["managedFields"] = json!([]);
    new["spec"]["replicas"] = json!(5);
    let reset = FieldSet::from_dotted(&["spec", "metadata.labels"]);
    let mut o = opts(
        "kube-controller-manager",
        Some("status"),
        T1,
        &types,
        &reset,
    );
    o.api_version = "apps/v1";
    assert_eq!(update_managed_fields(Some(&live), &mut new, &o), Ok(()));
    let mf = managed(&new);
    assert_eq!(mf.as_array().map(Vec::len), Some(2));
    assert_eq!(mf[0], create_entry);
    let want: Value = serde_json::from_str(REAL_FIELDS_V1[3]).unwrap_or_default();
    assert_eq!(
        mf[1],
        json!({"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
               "time": T1, "fieldsType": "FieldsV1", "fieldsV1": want, "subresource": "status"})
    );
}

#[test]
fn ownership_moves_between_managers() {
    let none = FieldSet::new();
    let mut live = json!({"metadata": {"name": "x", "uid": "u"}, "data": {"a": "1", "b": "2"}});
    assert_eq!(
        update_managed_fields(
            None,
            &mut live,
            &opts("alice", None, T0, &DefaultListTypes, &none)
        ),
        Ok(())
    );

    // bob changes a, adds c: a moves to bob, alice keeps b and the map.
    let mut new = live.clone();
    new["data"]["a"] = json!("9");
    new["data"]["c"] = json!("3");
    assert_eq!(
        update_managed_fields(
            Some(&live),
            &mut new,
            &opts("bob", None, T1, &DefaultListTypes, &none)
        ),
        Ok(())
    );
    assert_eq!(
        managed(&new),
        json!([
            entry("alice", T0, json!({"f:data": {".": {}, "f:b": {}}})),
            entry("bob", T1, json!({"f:data": {"f:a": {}, "f:c": {}}})),
        ])
    );

    // carol removes b and c: removed fields leave every manager; bob is
    // left with nothing and disappears; carol owns nothing and gets no entry.
    let live = new;
    let mut new = live.clone();
    new["data"] = json!({"a": "9"});
    assert_eq!(
        update_managed_fields(
            Some(&live),
            &mut new,
            &opts("carol", None, T2, &DefaultListTypes, &none)
        ),
        Ok(())
    );
    assert_eq!(
        managed(&new),
        json!([
            entry("alice", T0, json!({"f:data": {}})),
            entry("bob", T1, json!({"f:data": {"f:a": {}}})),
        ])
    );

    // alice deletes the whole map: she had only that, bob loses a; nobody is left.
    let live = new;
    let mut new = live.clone();
    new.as_object_mut().map(|m| m.remove("data"));
    assert_eq!(
        update_managed_fields(
            Some(&live),
            &mut new,
            &opts("alice", None, T2, &DefaultListTypes, &none)
        ),
        Ok(())
    );
    assert_eq!(new["metadata"].get("managedFields"), None);
}

#[test]
fn same_manager_merges_and_new_versions_are_separate() {
    let none = FieldSet::new();
    let mut live = json!({"metadata": {"uid": "u"}, "data": {"a": "1"}});
    assert_eq!(
        update_managed_fields(
            None,
            &mut live,
            &opts("m", None, T0, &DefaultListTypes, &none)
        ),
        Ok(())
    );
    let mut new = live.clone();
    new["data"]["b"] = json!("2");
    assert_eq!(
        update_managed_fields(
            Some(&live),
            &mut new,
            &opts("m", None, T1, &DefaultListTypes, &none)
        ),
        Ok(())
    );
    assert_eq!(
        managed(&new),
        json!([entry(
            "m",
            T1,
            json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}})
        )])
    );

    // Update identifiers include the API version, as upstream.
    let live = new;
    let mut new = live.clone();
    new["data"]["c"] = json!("3");
    let mut o = opts("m", None, T2, &DefaultListTypes, &none);
    o.api_version = "v2";
    assert_eq!(update_managed_fields(Some(&live), &mut new, &o), Ok(()));
    let mut second = entry("m", T2, json!({"f:data": {"f:c": {}}}));
    second["apiVersion"] = json!("v2");
    assert_eq!(
        managed(&new),
        json!([
            entry("m", T1, json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}})),
            second
        ])
    );
}

#[test]
fn main_resource_update_does_not_take_status() {
    let none = FieldSet::new();
    let status = FieldSet::from_dotted(&["status"]);
    let mut live = json!({"metadata": {"uid": "u"}, "spec": {"r": 1}, "status": {"s": 1}});
    live["metadata"]["managedFields"] = json!([
        entry("creator", T0, json!({"f:spec": {"f:r": {}}})),
        {"manager": "ctrl", "operation": "Update", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
         "fieldsV1": {"f:status": {"f:s": {}}}, "subresource": "status"},
    ]);
    let mut new = live.clone();
    new["spec"]["r"] = json!(2);
    new["status"]["s"] = json!(2);
    assert_eq!(
        update_managed_fields(
            Some(&live),
            &mut new,
            &opts("user", None, T1, &DefaultListTypes, &status)
        ),
        Ok(())
    );
    let mf = managed(&new);
    assert_eq!(mf[0]["manager"], "ctrl");
    assert_eq!(mf[0]["fieldsV1"], json!({"f:status": {"f:s": {}}}));
    assert_eq!(mf[1], entry("user", T1, json!({"f:spec": {"f:r": {}}})));
    assert_eq!(mf.as_array().map(Vec::len), Some(2));
    let _ = none;
}

#[test]
fn client_sent_managed_fields() {
    let none = FieldSet::new();
    let mut live = json!({"metadata": {"uid": "u"}, "data": {"a": "1"}});
    assert_eq!(
        update_managed_fields(
            None,
            &mut live,
            &opts("m", None, T0, &DefaultListTypes, &none)
        ),
        Ok(())
    );
    let original = managed(&live);
    let run = |sent: Value, now: &str| {
        let mut new = live.clone();
        new["metadata"]["managedFields"] = sent;
        let r = update_managed_fields(
            Some(&live),
            &mut new,
            &opts("m", None, now, &DefaultListTypes, &none),
        );
        assert_eq!(r, Ok(()));
        new["metadata"].get("managedFields").cloned()
    };
    // A valid, different list is an intentional overwrite.
    let mine = json!([entry("someone", T1, json!({"f:data": {"f:a": {}}}))]);
    assert_eq!(run(mine.clone(), T2), Some(mine));
    // [] and [{}] reset: with nothing to start from, the update is untracked.
    assert_eq!(run(json!([]), T2), None);
    assert_eq!(run(json!([{}]), T2), None);
    assert_eq!(
        run(json!([{"manager": "", "time": null, "fieldsV1": null}]), T2),
        None
    );
    // Invalid entries and null are ignored: live's are kept.
    for bad in [
        json!([{"manager": "x", "operation": "Bogus", "apiVersion": "v1", "fieldsType": "FieldsV1"}]),
        json!([{"manager": "x", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:a": 1}}]),
        json!([{"manager": "x", "operation": "Update", "fieldsType": "FieldsV1"}]),
        json!("garbage"),
        Value::Null,
    ] {
        assert_eq!(run(bad.clone(), T2), Some(original.clone()), "{bad}");
    }
    // On create, client-sent entries are the starting point too; the
    // creator takes over everything the object sets.
    let seed = json!({"f:data": {"f:z": {}}, "f:other": {}});
    let mut new = json!({"metadata": {"managedFields": [entry("seed", T0, seed)]}, "data": {"z": "1", "y": "2"}});
    assert_eq!(
        update_managed_fields(
            None,
            &mut new,
            &opts("m", None, T1, &DefaultListTypes, &none)
        ),
        Ok(())
    );
    assert_eq!(
        managed(&new),
        json!([
            entry("seed", T0, json!({"f:other": {}})),
            entry("m", T1, json!({"f:data": {".": {}, "f:y": {}, "f:z": {}}}))
        ])
    );
}

#[test]
fn untracked_objects_stay_untracked() {
    let none = FieldSet::new();
    let live = json!({"metadata": {"uid": "u"}, "data": {"a": "1"}});
    let mut new = json!({"metadata": {"uid": "u"}, "data": {"a": "2"}});
    assert_eq!(
        update_managed_fields(
            Some(&live),
            &mut new,
            &opts("m", None, T1, &DefaultListTypes, &none)
        ),
        Ok(())
    );
    assert_eq!(new, json!({"metadata": {"uid": "u"}, "data": {"a": "2"}}));
}

#[test]
fn noop_update_leaves_managed_fields_alone() {
    let none = FieldSet::new();
    let mut live = json!({"metadata": {"uid": "u", "resourceVersion": "5", "labels": {"a": "b"}}, "data": {"a": "1"}});
    assert_eq!(
        update_managed_fields(
            None,
            &mut live,
            &opts("m", None, T0, &DefaultListTypes, &none)
        ),
        Ok(())
    );
    // Without managedFields (client unaware) and with them echoed back.
    for keep in [false, true] {
        let mut new = live.clone();
        if !keep {
            new["metadata"]
                .as_object_mut()
                .map(|m| m.remove("managedFields"));
        }
        new["metadata"]["resourceVersion"] = json!("6");
        assert_eq!(
            update_managed_fields(
                Some(&live),
                &mut new,
                &opts("other", None, T2, &DefaultListTypes, &none)
            ),
            Ok(())
        );
        assert_eq!(managed(&new), managed(&live), "keep={keep}");
    }
}

#[test]
fn entries_sort_like_upstream() {
    let e = |m: &str, op: &str, t: Option<&str>, sub: Option<&str>| {
        let mut v = json!({"manager": m, "operation": op, "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:x": {}}});
        if let Some(t) = t {
            v["time"] = json!(t);
        }
        if let Some(s) = sub {
            v["subresource"] = json!(s);
        }
        v
    };
    let input = json!([
        e("b", "Update", Some(T0), None),
        e("z", "Apply", Some(T2), None),
        e("a", "Update", Some(T1), None),
        e("a", "Update", Some(T0), Some("status")),
        e("c", "Update", None, None),
        e("y", "Apply", None, None),
    ]);
    let entries = decode_managed_fields(Some(&input)).unwrap_or_default();
    let order: Vec<String> = encode_managed_fields(&entries)
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            format!(
                "{}/{}/{}",
                v["operation"].as_str().unwrap_or(""),
                v["manager"].as_str().unwrap_or(""),
                v["subresource"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "Apply/y/",
            "Apply/z/",
            "Update/c/",
            "Update/a/status",
            "Update/b/",
            "Update/a/"
        ]
    );
}

#[test]
fn update_managers_are_capped_at_ten() {
    let none = FieldSet::new();
    let mut entries = Vec::new();
    for i in 0..10 {
        entries.push(entry(
            &format!("m{i}"),
            &format!("2024-05-01T10:00:{i:02}Z"),
            json!({"f:data": {format!("f:k{i}"): {}}}),
        ));
    }
    let mut data = serde_json::Map::new();
    for i in 0..10 {
        data.insert(format!("k{i}"), json!("v"));
    }
    let live = json!({"metadata": {"uid": "u", "managedFields": entries}, "data": data});
    let mut new = live.clone();
    new["data"]["new"] = json!("v");
    assert_eq!(
        update_managed_fields(
            Some(&live),
            &mut new,
            &opts("late", None, T2, &DefaultListTypes, &none)
        ),
        Ok(())
    );
    let mf = managed(&new);
    let names: Vec<&str> = mf
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["manager"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "ancient-changes",
            "m2",
            "m3",
            "m4",
            "m5",
            "m6",
            "m7",
            "m8",
            "m9",
            "late"
        ]
    );
    assert_eq!(
        mf[0]["fieldsV1"],
        json!({"f:data": {"f:k0": {}, "f:k1": {}}})
    );
    assert_eq!(mf[0]["time"], "2024-05-01T10:00:01Z");
}

#[test]
fn errors_restore_live_managed_fields() {
    let types = deployment_types();
    let none = FieldSet::new();
    let good = json!([entry("m", T0, json!({"f:spec": {"f:x": {}}}))]);
    let live = json!({"metadata": {"uid": "u", "managedFields": good}, "spec": {"x": 1}});
    let mut new = json!({"metadata": {"uid": "u"}, "spec": {"x": 1, "template": {"spec": {"containers": [{"image": "no-name"}]}}}});
    let r = update_managed_fields(Some(&live), &mut new, &opts("m", None, T1, &types, &none));
    assert!(matches!(r, Err(FieldManagerError::Schema { .. })), "{r:?}");
    assert_eq!(managed(&new), good);
}

#[test]
fn decode_errors_match_upstream() {
    let ok = || json!({"manager": "m", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {}});
    let with = |k: &str, v: Value| {
        let mut e = ok();
        e[k] = v;
        json!([e])
    };
    let cases = [
        (
            with("operation", json!("Patch")),
            "operation must be `Apply` or `Update`",
        ),
        (
            with("apiVersion", json!("")),
            "apiVersion must not be empty",
        ),
        (
            with("fieldsType", Value::Null),
            "missing fieldsType in managed fields entry 0",
        ),
        (
            with("fieldsType", json!("FieldsV2")),
            "invalid fieldsType \"FieldsV2\" in managed fields entry 0",
        ),
        (
            with("fieldsV1", json!({"f:a": 1})),
            "error decoding set in managed fields entry 0: expected a JSON object at \"f:a\", got a number",
        ),
        (
            with("manager", json!(5)),
            "manager must be a string in managed fields entry 0",
        ),
        (
            with("time", json!("yesterday")),
            "invalid time \"yesterday\" in managed fields entry 0",
        ),
        (json!({}), "managedFields must be a list"),
        (json!([1]), "managed fields entry 0 is not an object"),
    ];
    for (input, want) in cases {
        assert_eq!(
            decode_managed_fields(Some(&input)),
            Err(FieldManagerError::Decode(want.into())),
            "{input}"
        );
    }
    // Times are normalized the way metav1.Time serializes.
    let e = decode_managed_fields(Some(&with("time", json!("2024-05-01T12:00:00.5+02:00"))))
        .unwrap_or_default();
    assert_eq!(e[0].time.as_deref(), Some("2024-05-01T10:00:00Z"));
    assert_eq!(
        e[0].identifier(),
        r#"{"manager":"m","operation":"Update","apiVersion":"v1"}"#
    );
}

#[test]
fn validation_of_entries_and_manager_names() {
    let bad = json!([
        {"manager": "a\u{1}b", "operation": "", "apiVersion": "v1", "fieldsType": "F"},
        {"manager": "x".repeat(129), "operation": "Apply", "subresource": "s".repeat(257)},
    ]);
    let msgs: Vec<String> = validate_managed_fields(&bad, "metadata.managedFields")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        msgs,
        [
            "metadata.managedFields[0].operation: Invalid value: \"\": must be `Apply` or `Update`",
            "metadata.managedFields[0].fieldsType: Invalid value: \"F\": must be `FieldsV1`",
            "metadata.managedFields[0].manager: Invalid value: \"a\\x01b\": invalid character U+0001 (at position 1)",
            "metadata.managedFields[1].manager: Too long: must have at most 128 bytes",
            "metadata.managedFields[1].subresource: Too long: must have at most 256 bytes",
        ]
    );
    let cases: [(&str, &str); 4] = [
        ("kubectl-edit", ""),
        ("", ""),
        (
            "tab\there",
            "fieldManager: Invalid value: \"tab\\there\": invalid character U+0009 (at position 3)",
        ),
        (
            "zero\u{200b}width",
            "fieldManager: Invalid value: \"zero\\u200bwidth\": invalid character U+200B (at position 4)",
        ),
    ];
    for (name, want) in cases {
        assert_eq!(
            aggregate_message(&validate_field_manager(name, "fieldManager")),
            want,
            "{name:?}"
        );
    }
    assert_eq!(
        validate_field_manager(&"é".repeat(65), "fieldManager").len(),
        1
    );
}

#[test]
fn default_manager_from_user_agent() {
    let long = "a".repeat(200);
    let long_multibyte = format!("{}é", "a".repeat(127));
    let cases = [
        (
            "kubectl/v1.37.0 (linux/amd64) kubernetes/abcdef",
            "kubectl".to_string(),
        ),
        ("kube-rs/2.0.1", "kube-rs".to_string()),
        ("Go-http-client/2.0", "Go-http-client".to_string()),
        ("curl", "curl".to_string()),
        ("", String::new()),
        ("my\tagent\u{7f}/1", "myagent".to_string()),
        ("with space/1", "with space".to_string()),
        (long.as_str(), "a".repeat(128)),
        (long_multibyte.as_str(), "a".repeat(127)),
    ];
    for (ua, want) in cases {
        assert_eq!(default_manager(ua), want, "{ua:?}");
    }
}

#[test]
fn apply_conflicts_and_messages() {
    let entries = decode_managed_fields(Some(&json!([
        {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:data": {"f:key": {}, "f:mine": {}}}},
        {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1", "time": T0,
         "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:key": {}}}},
        {"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:data": {"f:other": {}}}},
        {"manager": "ctrl", "operation": "Update", "apiVersion": "v1", "subresource": "status",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:a": {}, "f:b": {}}}},
    ])))
    .unwrap_or_default();

    let one = conflicts(
        &entries,
        "kubectl",
        None,
        &set(json!({"f:data": {"f:key": {}, "f:mine": {}}})),
    );
    assert_eq!(
        conflict_message(&one),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.key"
    );
    assert_eq!(
        conflict_status(&one),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.key",
            "reason": "Conflict",
            "details": {"causes": [{"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-client-side-apply\" using v1", "field": ".data.key"}]},
            "code": 409})
    );

    // Another applier conflicts with everyone, including kubectl's Apply entry.
    let many = conflicts(
        &entries,
        "helm",
        None,
        &set(json!({"f:data": {"f:key": {}, "f:other": {}}, "f:status": {"f:a": {}, "f:b": {}}})),
    );
    assert_eq!(many.len(), 5);
    assert_eq!(
        conflict_message(&many),
        "Apply failed with 5 conflicts: conflicts with \"ctrl\" with subresource \"status\" using v1:\n- .status.a\n- .status.b\nconflicts with \"kubectl\":\n- .data.key\nconflicts with \"kubectl\" using v1:\n- .data.other\nconflicts with \"kubectl-client-side-apply\" using v1:\n- .data.key"
    );
    assert_eq!(
        many[0],
        Conflict {
            manager: "ctrl".into(),
            operation: Operation::Update,
            api_version: "v1".into(),
            subresource: Some("status".into()),
            path: FieldPath::fields(&["status", "a"])
        }
    );
    assert!(
        conflicts(
            &entries,
            "kubectl",
            None,
            &set(json!({"f:data": {"f:mine": {}}}))
        )
        .is_empty()
    );
}

#[test]
fn timestamp_only_changes_are_reverted() {
    let old = json!({"metadata": {"managedFields": [entry("m", T0, json!({"f:a": {}}))]}, "a": 1});
    let mut new =
        json!({"metadata": {"managedFields": [entry("m", T1, json!({"f:a": {}}))]}, "a": 1});
    assert!(revert_timestamp_only_changes(&old, &mut new));
    assert_eq!(new, old);
    // A real change keeps the new time.
    let mut changed =
        json!({"metadata": {"managedFields": [entry("m", T1, json!({"f:a": {}}))]}, "a": 2});
    assert!(!revert_timestamp_only_changes(&old, &mut changed));
    assert_eq!(changed["metadata"]["managedFields"][0]["time"], T1);
    // Different entries keep theirs too.
    let mut other =
        json!({"metadata": {"managedFields": [entry("n", T1, json!({"f:a": {}}))]}, "a": 1});
    assert!(!revert_timestamp_only_changes(&old, &mut other));
}
