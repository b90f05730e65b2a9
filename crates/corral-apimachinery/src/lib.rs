//! Pure Kubernetes API machinery for Corral: label and field selectors,
//! validation, per-type rules, server-side tables, Event conversion and
//! continue tokens. No I/O: every function works on `serde_json::Value`
//! objects and returns values or typed errors, matching kube-apiserver's
//! behaviour and message texts.

pub mod continuation;
pub mod crd;
pub mod events;
pub mod fieldmanager;
pub mod fields;
pub mod json_scan;
pub mod json_writer;
pub mod labels;
pub mod patch;
pub mod protobuf;
pub mod rbac;
pub mod table;
pub mod types;
pub mod util;
pub mod validation;
