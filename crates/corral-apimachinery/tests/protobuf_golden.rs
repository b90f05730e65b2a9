//! Kubernetes protobuf request-body decoding: golden bodies captured from
//! kubectl 1.37 (typed clients send `application/vnd.kubernetes.protobuf`),
//! error cases, and fuzzing.

mod protobuf_support;

use corral_apimachinery::protobuf::{ProtobufError, decode_object, supported_kinds};
use proptest::prelude::*;
use protobuf_support::*;
use serde_json::json;

#[test]
fn kubectl_configmap() {
    // The JSON kubectl 1.37 sends for the same command (no null
    // creationTimestamp since metav1 gained `omitzero`).
    assert_eq!(
        decode(KUBECTL_CONFIGMAP),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm1", "namespace": "default"},
            "data": {"a": "b"}
        })
    );
}

#[test]
fn kubectl_namespace() {
    assert_eq!(
        decode(KUBECTL_NAMESPACE),
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "ns1"},
            "spec": {},
            "status": {}
        })
    );
}

#[test]
fn kubectl_secret() {
    assert_eq!(
        decode(KUBECTL_SECRET),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s1", "namespace": "default"},
            "data": {"pw": "czNjcjN0", "user": "YWRtaW4="}
        })
    );
}

#[test]
fn kubectl_serviceaccount() {
    assert_eq!(
        decode(KUBECTL_SERVICEACCOUNT),
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "sa1", "namespace": "default"}
        })
    );
}

#[test]
fn kubectl_rbac() {
    assert_eq!(
        decode(KUBECTL_CLUSTERROLEBINDING),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "crb1"},
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"},
                {"kind": "ServiceAccount", "name": "sa1", "namespace": "default"}
            ],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
        })
    );
    assert_eq!(
        decode(KUBECTL_CLUSTERROLE),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "cr1"},
            "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]
        })
    );
    assert_eq!(
        decode(KUBECTL_ROLEBINDING),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "rb1", "namespace": "default"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"}
        })
    );
}

#[test]
fn kubectl_auth_requests() {
    assert_eq!(
        decode(KUBECTL_TOKENREQUEST),
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {},
            "spec": {"audiences": ["api"], "expirationSeconds": 3600, "boundObjectRef": null},
            "status": {"token": "", "expirationTimestamp": null}
        })
    );
    assert_eq!(
        decode(KUBECTL_SSAR),
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}},
            "status": {"allowed": false}
        })
    );
    assert_eq!(
        decode(KUBECTL_SELFSUBJECTREVIEW),
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "SelfSubjectReview",
            "metadata": {},
            "status": {"userInfo": {}}
        })
    );
}

// ---- hand-encoded bodies

#[test]
fn supported_kinds_all_decode() {
    let kinds = supported_kinds();
    for expected in [
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Namespace"),
        ("v1", "ServiceAccount"),
        ("v1", "Event"),
        ("events.k8s.io/v1", "Event"),
        ("coordination.k8s.io/v1", "Lease"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("meta.k8s.io/v1", "DeleteOptions"),
        ("v1", "DeleteOptions"),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
        ("authorization.k8s.io/v1", "SubjectAccessReview"),
        ("authorization.k8s.io/v1", "LocalSubjectAccessReview"),
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("authentication.k8s.io/v1", "TokenReview"),
        ("authentication.k8s.io/v1", "SelfSubjectReview"),
    ] {
        assert!(kinds.contains(&expected), "missing {expected:?}");
    }
    for (api_version, kind) in kinds {
        let v = decode(&body(api_version, kind, Enc::new()));
        assert_eq!(v["apiVersion"], api_version);
        assert_eq!(v["kind"], kind);
    }
}

// ---- errors

#[test]
fn wrong_magic() {
    for b in [
        &b""[..],
        b"k8s",
        b"k9s\0\x0a\x00",
        b"{\"kind\":\"ConfigMap\"}",
    ] {
        assert!(
            matches!(decode_object(b), Err(ProtobufError::MissingMagic)),
            "{b:?}"
        );
    }
    let err = decode_object(b"K8S\0").unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
}

#[test]
fn unknown_kind_names_it() {
    let err = decode_object(&body("apps/v1", "ControllerRevision", Enc::new())).unwrap_err();
    assert!(
        matches!(&err, ProtobufError::UnknownKind { api_version, kind } if api_version == "apps/v1" && kind == "ControllerRevision"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "no kind \"ControllerRevision\" is registered for version \"apps/v1\" in the protobuf decoder"
    );
    // A kind in the wrong group is unknown too; an empty envelope has no kind.
    assert!(matches!(
        decode_object(&body("v1", "Lease", Enc::new())),
        Err(ProtobufError::UnknownKind { .. })
    ));
    assert!(matches!(
        decode_object(b"k8s\0"),
        Err(ProtobufError::UnknownKind { .. })
    ));
}

#[test]
fn truncated_input_is_an_error() {
    for golden in ALL_GOLDEN {
        assert!(decode_object(golden).is_ok());
        // Each golden body is magic, typeMeta (short), raw, then the empty
        // contentEncoding and contentType. Every prefix that cuts into
        // typeMeta or raw is an error; the one ending right after typeMeta
        // is a well-formed envelope with an empty object.
        assert_eq!(&golden[golden.len() - 4..], b"\x1a\x00\x22\x00");
        let type_meta_end = 6 + usize::from(golden[5]);
        for len in 4..golden.len() - 4 {
            let r = decode_object(&golden[..len]);
            if len == type_meta_end {
                assert!(r.is_ok(), "prefix {len}: {r:?}");
            } else {
                assert!(r.is_err(), "prefix {len} decoded: {r:?}");
            }
        }
    }
    // Cut inside the ConfigMap's data entry: the length runs past the end.
    let cut = &KUBECTL_CONFIGMAP[..KUBECTL_CONFIGMAP.len() - 8];
    assert!(matches!(decode_object(cut), Err(ProtobufError::Truncated)));
    // A length prefix larger than what follows, and an unterminated varint.
    assert!(matches!(
        decode_object(&[b"k8s\0".as_slice(), &[0x12, 0x05, 0x0a]].concat()),
        Err(ProtobufError::Truncated)
    ));
    assert!(matches!(
        decode_object(&[b"k8s\0".as_slice(), &[0x12, 0xff, 0xff]].concat()),
        Err(ProtobufError::Truncated)
    ));
    let overlong = [b"k8s\0".as_slice(), &[0x28], &[0xff; 11]].concat();
    assert!(matches!(
        decode_object(&overlong),
        Err(ProtobufError::Invalid(_))
    ));
}

#[test]
fn wrong_wire_type_is_an_error() {
    // ConfigMap.data sent as a varint.
    let err = decode_object(&body("v1", "ConfigMap", Enc::new().uint(2, 1))).unwrap_err();
    assert!(
        matches!(
            err,
            ProtobufError::WrongWireType {
                message: "ConfigMap",
                field: "data",
                expected: 2,
                actual: 0
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "protobuf field ConfigMap.data has wire type 0, expected 2"
    );
    // ObjectMeta.generation sent length-delimited.
    let cm = Enc::new().msg(1, Enc::new().str(7, "3"));
    assert!(matches!(
        decode_object(&body("v1", "ConfigMap", cm)),
        Err(ProtobufError::WrongWireType {
            message: "ObjectMeta",
            field: "generation",
            ..
        })
    ));
    // A Time whose seconds are length-delimited.
    let cm = Enc::new().msg(1, Enc::new().msg(8, Enc::new().str(1, "x")));
    assert!(matches!(
        decode_object(&body("v1", "ConfigMap", cm)),
        Err(ProtobufError::WrongWireType {
            message: "Time",
            field: "seconds",
            ..
        })
    ));
    // The envelope's typeMeta as a varint.
    let b = [b"k8s\0".as_slice(), &Enc::new().uint(1, 3).0].concat();
    assert!(matches!(
        decode_object(&b),
        Err(ProtobufError::WrongWireType {
            message: "Unknown",
            field: "typeMeta",
            ..
        })
    ));
}

#[test]
fn other_invalid_input() {
    // Field number 0, a stray end-group, a mismatched group, bad fieldsV1.
    for raw in [
        Enc::new().raw(&[0x00, 0x00]),
        Enc::new().key(5, 4),
        Enc::new().key(90, 3).key(91, 4),
        Enc::new().msg(
            1,
            Enc::new().msg(17, Enc::new().msg(7, Enc::new().bytes(1, b"{not json"))),
        ),
    ] {
        let r = decode_object(&body("v1", "ConfigMap", raw));
        assert!(matches!(r, Err(ProtobufError::Invalid(_))), "{r:?}");
    }
    let mut gz = body("v1", "ConfigMap", Enc::new());
    gz.extend(Enc::new().str(3, "gzip").0);
    assert!(matches!(
        decode_object(&gz),
        Err(ProtobufError::UnsupportedEncoding(e)) if e == "gzip"
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_after_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = b"k8s\0".to_vec();
        b.extend(tail);
        let _ = decode_object(&b);
    }

    #[test]
    fn arbitrary_object_bytes_never_panic(
        idx in 0usize..64,
        raw in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let kinds = supported_kinds();
        let (api_version, kind) = kinds[idx % kinds.len()];
        let _ = decode_object(&body(api_version, kind, Enc::new().raw(&raw)));
    }

    #[test]
    fn mutated_golden_bodies_never_panic(
        idx in 0usize..64,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut b = ALL_GOLDEN[idx % ALL_GOLDEN.len()].to_vec();
        for (pos, byte) in flips {
            let at = 4 + pos % (b.len() - 4);
            b[at] = byte;
        }
        let _ = decode_object(&b);
    }
}
