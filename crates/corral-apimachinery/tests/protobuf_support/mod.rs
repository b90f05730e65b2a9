//! Shared by the protobuf decoding tests: a tiny protobuf encoder and golden
//! request bodies captured from kubectl 1.37.
#![allow(dead_code)]

use corral_apimachinery::protobuf::decode_object;
use serde_json::Value;

// ---- a tiny protobuf encoder

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A message under construction; every method appends one field.
#[derive(Default, Clone)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn new() -> Self {
        Enc::default()
    }
    pub fn key(mut self, num: u32, wire: u8) -> Self {
        put_varint(&mut self.0, (u64::from(num) << 3) | u64::from(wire));
        self
    }
    pub fn uint(self, num: u32, v: u64) -> Self {
        let mut e = self.key(num, 0);
        put_varint(&mut e.0, v);
        e
    }
    pub fn int(self, num: u32, v: i64) -> Self {
        self.uint(num, v as u64)
    }
    pub fn bool(self, num: u32, v: bool) -> Self {
        self.uint(num, u64::from(v))
    }
    pub fn bytes(self, num: u32, b: &[u8]) -> Self {
        let mut e = self.key(num, 2);
        put_varint(&mut e.0, b.len() as u64);
        e.0.extend_from_slice(b);
        e
    }
    pub fn str(self, num: u32, s: &str) -> Self {
        self.bytes(num, s.as_bytes())
    }
    pub fn msg(self, num: u32, m: Enc) -> Self {
        self.bytes(num, &m.0)
    }
    pub fn entry(self, num: u32, k: &str, v: &[u8]) -> Self {
        self.msg(num, Enc::new().str(1, k).bytes(2, v))
    }
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
}

/// meta/v1 Time/MicroTime.
pub fn time(seconds: i64, nanos: i32) -> Enc {
    Enc::new().int(1, seconds).int(2, i64::from(nanos))
}

/// `k8s\0` + runtime.Unknown{typeMeta, raw}.
pub fn body(api_version: &str, kind: &str, raw: Enc) -> Vec<u8> {
    let type_meta = Enc::new().str(1, api_version).str(2, kind);
    let mut out = b"k8s\0".to_vec();
    out.extend(Enc::new().msg(1, type_meta).msg(2, raw).0);
    out
}

pub fn decode(b: &[u8]) -> Value {
    decode_object(b).unwrap_or_else(|e| panic!("decode failed: {e}"))
}

// ---- golden bodies captured from kubectl 1.37.1

/// `kubectl create configmap cm1 --from-literal=a=b -n default`
pub const KUBECTL_CONFIGMAP: &[u8] = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12$\x0a\x1a\x0a\x03cm1\x12\x00\x1a\x07default\x22\x00*\x002\x008\x00B\x00\x12\x06\x0a\x01a\x12\x01b\x1a\x00\x22\x00";
/// `kubectl create namespace ns1`
pub const KUBECTL_NAMESPACE: &[u8] = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x1b\x0a\x13\x0a\x03ns1\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";
/// `kubectl create secret generic s1 --from-literal=user=admin --from-literal=pw=s3cr3t -n default`
pub const KUBECTL_SECRET: &[u8] = b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Secret\x12:\x0a\x19\x0a\x02s1\x12\x00\x1a\x07default\x22\x00*\x002\x008\x00B\x00\x12\x0c\x0a\x02pw\x12\x06s3cr3t\x12\x0d\x0a\x04user\x12\x05admin\x1a\x00\x1a\x00\x22\x00";
/// `kubectl create serviceaccount sa1 -n default`
pub const KUBECTL_SERVICEACCOUNT: &[u8] = b"k8s\x00\x0a\x14\x0a\x02v1\x12\x0eServiceAccount\x12\x1c\x0a\x1a\x0a\x03sa1\x12\x00\x1a\x07default\x22\x00*\x002\x008\x00B\x00\x1a\x00\x22\x00";
/// `kubectl create clusterrolebinding crb1 --clusterrole=view --user=alice --group=devs --serviceaccount=default:sa1`
pub const KUBECTL_CLUSTERROLEBINDING: &[u8] = b"k8s\x00\x0a2\x0a\x1crbac.authorization.k8s.io/v1\x12\x12ClusterRoleBinding\x12\xc0\x01\x0a\x14\x0a\x04crb1\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12*\x0a\x04User\x12\x19rbac.authorization.k8s.io\x1a\x05alice\x22\x00\x12*\x0a\x05Group\x12\x19rbac.authorization.k8s.io\x1a\x04devs\x22\x00\x12 \x0a\x0eServiceAccount\x12\x00\x1a\x03sa1\x22\x07default\x1a.\x0a\x19rbac.authorization.k8s.io\x12\x0bClusterRole\x1a\x04view\x1a\x00\x22\x00";
/// `kubectl create clusterrole cr1 --verb=get --non-resource-url=/healthz`
pub const KUBECTL_CLUSTERROLE: &[u8] = b"k8s\x00\x0a+\x0a\x1crbac.authorization.k8s.io/v1\x12\x0bClusterRole\x12&\x0a\x13\x0a\x03cr1\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12\x0f\x0a\x03get*\x08/healthz\x1a\x00\x22\x00";
/// `kubectl create rolebinding rb1 --role=r1 --user=bob -n default`
pub const KUBECTL_ROLEBINDING: &[u8] = b"k8s\x00\x0a+\x0a\x1crbac.authorization.k8s.io/v1\x12\x0bRoleBinding\x12m\x0a\x1a\x0a\x03rb1\x12\x00\x1a\x07default\x22\x00*\x002\x008\x00B\x00\x12(\x0a\x04User\x12\x19rbac.authorization.k8s.io\x1a\x03bob\x22\x00\x1a%\x0a\x19rbac.authorization.k8s.io\x12\x04Role\x1a\x02r1\x1a\x00\x22\x00";
/// `kubectl create token sa1 -n default --duration=1h --audience=api`
pub const KUBECTL_TOKENREQUEST: &[u8] = b"k8s\x00\x0a(\x0a\x18authentication.k8s.io/v1\x12\x0cTokenRequest\x12\x22\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12\x08\x0a\x03api \x90\x1c\x1a\x04\x0a\x00\x12\x00\x1a\x00\x22\x00";
/// `kubectl auth can-i list pods -n default`
pub const KUBECTL_SSAR: &[u8] = b"k8s\x00\x0a2\x0a\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12=\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12\x1f\x0a\x1d\x0a\x07default\x12\x04list\x1a\x00\x22\x00*\x04pods2\x00:\x00\x1a\x08\x08\x00\x12\x00\x1a\x00 \x00\x1a\x00\x22\x00";
/// `kubectl auth whoami`
pub const KUBECTL_SELFSUBJECTREVIEW: &[u8] = b"k8s\x00\x0a-\x0a\x18authentication.k8s.io/v1\x12\x11SelfSubjectReview\x12\x1a\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12\x06\x0a\x04\x0a\x00\x12\x00\x1a\x00\x22\x00";

pub const ALL_GOLDEN: &[&[u8]] = &[
    KUBECTL_CONFIGMAP,
    KUBECTL_NAMESPACE,
    KUBECTL_SECRET,
    KUBECTL_SERVICEACCOUNT,
    KUBECTL_CLUSTERROLEBINDING,
    KUBECTL_CLUSTERROLE,
    KUBECTL_ROLEBINDING,
    KUBECTL_TOKENREQUEST,
    KUBECTL_SSAR,
    KUBECTL_SELFSUBJECTREVIEW,
];
