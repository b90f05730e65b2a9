//! Kubernetes protobuf request-body decoding: hand-encoded bodies for every
//! field type and kind.

mod protobuf_support;

use protobuf_support::*;
use serde_json::json;

fn object_meta(name: &str) -> Enc {
    Enc::new().str(1, name)
}

#[test]
fn configmap_every_metadata_field() {
    let fields_v1 = br#"{"f:data":{"f:a":{}}}"#;
    let meta = Enc::new()
        .str(1, "cm")
        .str(2, "cm-")
        .str(3, "ns")
        .str(5, "0b7e-uid")
        .str(6, "42")
        .int(7, 3)
        .msg(8, time(1_700_000_000, 999_000_000))
        .msg(9, time(1_700_000_060, 0))
        .int(10, 0)
        .entry(11, "app", b"web")
        .entry(11, "tier", b"")
        .entry(12, "note", b"hello \xe2\x9c\x93")
        .msg(
            13,
            Enc::new()
                .str(1, "Deployment")
                .str(3, "web")
                .str(4, "u-1")
                .str(5, "apps/v1")
                .bool(6, true)
                .bool(7, false),
        )
        .str(14, "example.com/a")
        .str(14, "example.com/b")
        .msg(
            17,
            Enc::new()
                .str(1, "kubectl")
                .str(2, "Update")
                .str(3, "v1")
                .msg(4, time(1_700_000_000, 0))
                .str(6, "FieldsV1")
                .msg(7, Enc::new().bytes(1, fields_v1))
                .str(8, ""),
        );
    let cm = Enc::new()
        .msg(1, meta)
        .bool(4, true)
        .entry(2, "a", b"1")
        .entry(2, "b", b"")
        .entry(3, "bin", &[0, 1, 2, 0xff])
        .entry(3, "empty", b"");
    assert_eq!(
        decode(&body("v1", "ConfigMap", cm)),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "cm",
                "generateName": "cm-",
                "namespace": "ns",
                "uid": "0b7e-uid",
                "resourceVersion": "42",
                "generation": 3,
                "creationTimestamp": "2023-11-14T22:13:20Z",
                "deletionTimestamp": "2023-11-14T22:14:20Z",
                "deletionGracePeriodSeconds": 0,
                "labels": {"app": "web", "tier": ""},
                "annotations": {"note": "hello \u{2713}"},
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                    "uid": "u-1", "controller": true, "blockOwnerDeletion": false
                }],
                "finalizers": ["example.com/a", "example.com/b"],
                "managedFields": [{
                    "manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                    "time": "2023-11-14T22:13:20Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:a": {}}}
                }]
            },
            "immutable": true,
            "data": {"a": "1", "b": ""},
            "binaryData": {"bin": "AAEC/w==", "empty": ""}
        })
    );
}

#[test]
fn secret_with_type_and_string_data() {
    let secret = Enc::new()
        .msg(1, object_meta("creds").str(3, "prod"))
        .entry(2, "token", b"\x00\xffsecret")
        .str(3, "kubernetes.io/basic-auth")
        .entry(4, "username", b"admin")
        .bool(5, false);
    assert_eq!(
        decode(&body("v1", "Secret", secret)),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": "prod"},
            "data": {"token": "AP9zZWNyZXQ="},
            "type": "kubernetes.io/basic-auth",
            "stringData": {"username": "admin"},
            "immutable": false
        })
    );
}

#[test]
fn namespace_spec_and_status() {
    let ns = Enc::new()
        .msg(1, object_meta("team-a").entry(11, "env", b"dev"))
        .msg(2, Enc::new().str(1, "kubernetes"))
        .msg(
            3,
            Enc::new().str(1, "Terminating").msg(
                2,
                Enc::new()
                    .str(1, "NamespaceDeletionContentFailure")
                    .str(2, "False")
                    .msg(4, time(86_400, 0))
                    .str(5, "")
                    .str(6, "ok"),
            ),
        );
    assert_eq!(
        decode(&body("v1", "Namespace", ns)),
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "team-a", "labels": {"env": "dev"}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {
                "phase": "Terminating",
                "conditions": [{
                    "type": "NamespaceDeletionContentFailure",
                    "status": "False",
                    "lastTransitionTime": "1970-01-02T00:00:00Z",
                    "message": "ok"
                }]
            }
        })
    );
}

#[test]
fn lease_with_micro_time() {
    let spec = Enc::new()
        .str(1, "node-1")
        .int(2, 40)
        .msg(3, time(1_700_000_000, 123_456_789))
        .msg(4, time(1_700_000_010, 1_000))
        .int(5, 0);
    let lease = Enc::new()
        .msg(1, object_meta("node-1").str(3, "kube-node-lease"))
        .msg(2, spec);
    assert_eq!(
        decode(&body("coordination.k8s.io/v1", "Lease", lease)),
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": "node-1",
                "leaseDurationSeconds": 40,
                "acquireTime": "2023-11-14T22:13:20.123456Z",
                "renewTime": "2023-11-14T22:13:30.000001Z",
                "leaseTransitions": 0
            }
        })
    );
    // No spec on the wire: Go still emits the (empty) struct.
    assert_eq!(
        decode(&body("coordination.k8s.io/v1", "Lease", Enc::new())),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {}, "spec": {}})
    );
}

#[test]
fn cluster_role_binding_and_aggregated_cluster_role() {
    let crb = Enc::new()
        .msg(1, object_meta("admins"))
        .msg(
            2,
            Enc::new()
                .str(1, "Group")
                .str(2, "rbac.authorization.k8s.io")
                .str(3, "ops"),
        )
        .msg(
            3,
            Enc::new()
                .str(1, "rbac.authorization.k8s.io")
                .str(2, "ClusterRole")
                .str(3, "admin"),
        );
    assert_eq!(
        decode(&body(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            crb
        )),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "admins"},
            "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"}
        })
    );
    // Without subjects or roleRef: subjects omitted, roleRef always present.
    assert_eq!(
        decode(&body(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            Enc::new()
        )),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {},
            "roleRef": {"apiGroup": "", "kind": "", "name": ""}
        })
    );
    let selector = Enc::new()
        .entry(1, "rbac.example.com/aggregate-to-view", b"true")
        .msg(
            2,
            Enc::new()
                .str(1, "tier")
                .str(2, "In")
                .str(3, "a")
                .str(3, "b"),
        );
    let cr = Enc::new()
        .msg(1, object_meta("view"))
        .msg(3, Enc::new().msg(1, selector));
    assert_eq!(
        decode(&body("rbac.authorization.k8s.io/v1", "ClusterRole", cr)),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "view"},
            "rules": null,
            "aggregationRule": {"clusterRoleSelectors": [{
                "matchLabels": {"rbac.example.com/aggregate-to-view": "true"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
            }]}
        })
    );
    let role = Enc::new().msg(1, object_meta("r").str(3, "ns")).msg(
        2,
        Enc::new()
            .str(1, "get")
            .str(1, "list")
            .str(2, "")
            .str(2, "apps")
            .str(3, "pods")
            .str(4, "p1"),
    );
    assert_eq!(
        decode(&body("rbac.authorization.k8s.io/v1", "Role", role)),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "r", "namespace": "ns"},
            "rules": [{"verbs": ["get", "list"], "apiGroups": ["", "apps"], "resources": ["pods"], "resourceNames": ["p1"]}]
        })
    );
}

#[test]
fn self_subject_access_review() {
    let attrs = Enc::new()
        .str(2, "get")
        .str(3, "apps")
        .str(5, "deployments")
        .str(7, "web")
        .msg(8, Enc::new().str(1, "metadata.name=web"))
        .msg(
            9,
            Enc::new().msg(2, Enc::new().str(1, "app").str(2, "Exists")),
        );
    let ssar = Enc::new()
        .msg(1, Enc::new())
        .msg(2, Enc::new().msg(1, attrs))
        .msg(3, Enc::new().bool(1, true).str(2, "RBAC: allowed"));
    assert_eq!(
        decode(&body(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            ssar
        )),
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {},
            "spec": {"resourceAttributes": {
                "verb": "get", "group": "apps", "resource": "deployments", "name": "web",
                "fieldSelector": {"rawSelector": "metadata.name=web"},
                "labelSelector": {"requirements": [{"key": "app", "operator": "Exists"}]}
            }},
            "status": {"allowed": true, "reason": "RBAC: allowed"}
        })
    );
    let non_resource = Enc::new().msg(
        2,
        Enc::new().msg(2, Enc::new().str(1, "/healthz").str(2, "get")),
    );
    assert_eq!(
        decode(&body(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            non_resource
        )),
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {},
            "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}},
            "status": {"allowed": false}
        })
    );
}

#[test]
fn subject_access_reviews_with_extra() {
    let spec = Enc::new()
        .msg(1, Enc::new().str(1, "ns").str(2, "list").str(5, "pods"))
        .str(3, "jane")
        .str(4, "devs")
        .str(4, "system:authenticated")
        .msg(
            5,
            Enc::new()
                .str(1, "scopes")
                .msg(2, Enc::new().str(1, "a").str(1, "b")),
        )
        .msg(5, Enc::new().str(1, "empty"))
        .str(6, "uid-1");
    for kind in ["SubjectAccessReview", "LocalSubjectAccessReview"] {
        let sar = Enc::new()
            .msg(1, object_meta("").str(3, "ns"))
            .msg(2, spec.clone());
        assert_eq!(
            decode(&body("authorization.k8s.io/v1", kind, sar)),
            json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": kind,
                "metadata": {"namespace": "ns"},
                "spec": {
                    "resourceAttributes": {"namespace": "ns", "verb": "list", "resource": "pods"},
                    "user": "jane",
                    "groups": ["devs", "system:authenticated"],
                    "extra": {"scopes": ["a", "b"], "empty": []},
                    "uid": "uid-1"
                },
                "status": {"allowed": false}
            })
        );
    }
    let ssrr = Enc::new().msg(2, Enc::new().str(1, "default"));
    assert_eq!(
        decode(&body(
            "authorization.k8s.io/v1",
            "SelfSubjectRulesReview",
            ssrr
        )),
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectRulesReview",
            "metadata": {},
            "spec": {"namespace": "default"},
            "status": {"resourceRules": null, "nonResourceRules": null, "incomplete": false}
        })
    );
}

#[test]
fn token_review_and_bound_token_request() {
    let user = Enc::new()
        .str(1, "system:serviceaccount:ns:sa")
        .str(2, "u-2")
        .str(3, "system:serviceaccounts")
        .msg(
            4,
            Enc::new()
                .str(1, "authentication.kubernetes.io/pod-name")
                .msg(2, Enc::new().str(1, "p")),
        );
    let tr = Enc::new()
        .msg(2, Enc::new().str(1, "eyJhbGciOi").str(2, "api"))
        .msg(3, Enc::new().bool(1, true).msg(2, user).str(4, "api"));
    assert_eq!(
        decode(&body("authentication.k8s.io/v1", "TokenReview", tr)),
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "metadata": {},
            "spec": {"token": "eyJhbGciOi", "audiences": ["api"]},
            "status": {
                "authenticated": true,
                "user": {
                    "username": "system:serviceaccount:ns:sa", "uid": "u-2",
                    "groups": ["system:serviceaccounts"],
                    "extra": {"authentication.kubernetes.io/pod-name": ["p"]}
                },
                "audiences": ["api"]
            }
        })
    );
    let bound = Enc::new()
        .str(1, "Pod")
        .str(2, "v1")
        .str(3, "p")
        .str(4, "pod-uid");
    let req = Enc::new()
        .msg(2, Enc::new().msg(3, bound).int(4, 600))
        .msg(3, Enc::new().str(1, "tok").msg(2, time(1_700_000_600, 0)));
    assert_eq!(
        decode(&body("authentication.k8s.io/v1", "TokenRequest", req)),
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {},
            "spec": {
                "audiences": null,
                "expirationSeconds": 600,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "pod-uid"}
            },
            "status": {"token": "tok", "expirationTimestamp": "2023-11-14T22:23:20Z"}
        })
    );
}

#[test]
fn delete_options_with_preconditions() {
    let opts = Enc::new()
        .int(1, 0)
        .msg(2, Enc::new().str(1, "uid-9").str(2, "77"))
        .bool(3, false)
        .str(4, "Foreground")
        .str(5, "All")
        .bool(6, true);
    let expected = |api_version: &str| {
        json!({
            "apiVersion": api_version,
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "uid-9", "resourceVersion": "77"},
            "orphanDependents": false,
            "propagationPolicy": "Foreground",
            "dryRun": ["All"],
            "ignoreStoreReadErrorWithClusterBreakingPotential": true
        })
    };
    for api_version in ["meta.k8s.io/v1", "v1", "rbac.authorization.k8s.io/v1"] {
        assert_eq!(
            decode(&body(api_version, "DeleteOptions", opts.clone())),
            expected(api_version)
        );
    }
    // Absent pointers stay absent; an empty uid precondition is kept.
    let minimal = Enc::new().msg(2, Enc::new().str(1, ""));
    assert_eq!(
        decode(&body("v1", "DeleteOptions", minimal)),
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": ""}})
    );
}

#[test]
fn core_and_events_group_events() {
    let involved = Enc::new()
        .str(1, "Pod")
        .str(2, "ns")
        .str(3, "p")
        .str(7, "spec.containers{c}");
    let ev = Enc::new()
        .msg(1, object_meta("p.1").str(3, "ns"))
        .msg(2, involved.clone())
        .str(3, "Started")
        .str(4, "Started container c")
        .msg(5, Enc::new().str(1, "kubelet").str(2, "node-1"))
        .msg(6, time(1_700_000_000, 0))
        .msg(7, Enc::new())
        .int(8, 2)
        .str(9, "Normal")
        .msg(
            11,
            Enc::new().int(1, 2).msg(2, time(1_700_000_000, 500_000)),
        );
    assert_eq!(
        decode(&body("v1", "Event", ev)),
        json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "p.1", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "namespace": "ns", "name": "p", "fieldPath": "spec.containers{c}"},
            "reason": "Started",
            "message": "Started container c",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2023-11-14T22:13:20Z",
            "lastTimestamp": null,
            "count": 2,
            "type": "Normal",
            "eventTime": null,
            "series": {"count": 2, "lastObservedTime": "2023-11-14T22:13:20.000500Z"},
            "reportingComponent": "",
            "reportingInstance": ""
        })
    );
    let ev = Enc::new()
        .msg(1, object_meta("p.2").str(3, "ns"))
        .msg(2, time(1_700_000_000, 7_000))
        .msg(3, Enc::new())
        .str(4, "kubelet")
        .str(5, "kubelet-node-1")
        .str(6, "Pulling")
        .str(7, "Pulling")
        .msg(8, involved)
        .str(10, "Pulling image")
        .str(11, "Normal");
    assert_eq!(
        decode(&body("events.k8s.io/v1", "Event", ev)),
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "p.2", "namespace": "ns"},
            "eventTime": "2023-11-14T22:13:20.000007Z",
            "series": {"count": 0, "lastObservedTime": null},
            "reportingController": "kubelet",
            "reportingInstance": "kubelet-node-1",
            "action": "Pulling",
            "reason": "Pulling",
            "regarding": {"kind": "Pod", "namespace": "ns", "name": "p", "fieldPath": "spec.containers{c}"},
            "note": "Pulling image",
            "type": "Normal",
            "deprecatedSource": {},
            "deprecatedFirstTimestamp": null,
            "deprecatedLastTimestamp": null
        })
    );
}

#[test]
fn protobuf_semantics() {
    // Unknown fields of every wire type are skipped, in the object and in
    // the envelope; a split nested message merges; the last scalar wins;
    // negative int32/int64 survive; Go's zero time is null.
    let unknown = Enc::new()
        .uint(99, 7)
        .key(98, 1)
        .raw(&[0; 8])
        .key(97, 5)
        .raw(&[0; 4])
        .str(96, "x")
        .key(95, 3)
        .uint(1, 1)
        .key(95, 4);
    let cm = Enc::new()
        .raw(&unknown.0)
        .msg(1, Enc::new().str(1, "first").raw(&unknown.0))
        .msg(1, Enc::new().str(1, "second").str(3, "ns").int(10, -5))
        .msg(1, Enc::new().msg(8, time(-62_135_596_800, 0)))
        .entry(2, "k", b"old")
        .entry(2, "k", b"new");
    let mut b = body("v1", "ConfigMap", cm);
    b.extend(
        Enc::new()
            .uint(42, 1)
            .str(4, "application/vnd.kubernetes.protobuf")
            .0,
    );
    assert_eq!(
        decode(&b),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "second", "namespace": "ns", "deletionGracePeriodSeconds": -5},
            "data": {"k": "new"}
        })
    );
    let lease = Enc::new().msg(2, Enc::new().int(2, -1).msg(3, time(-62_135_596_800, 0)));
    assert_eq!(
        decode(&body("coordination.k8s.io/v1", "Lease", lease))["spec"],
        json!({"leaseDurationSeconds": -1, "acquireTime": null})
    );
}
