//! CustomResourceDefinitions: turning stored CRDs into served resources.

use std::sync::Arc;

use serde_json::Value;

/// What a CRD says about one served version beyond its [`TypeRules`](corral_apimachinery::types::TypeRules).
#[derive(Debug, Default)]
pub struct CustomServing {
    /// `metadata.name` of the CRD (`<plural>.<group>`).
    pub crd_name: String,
    /// The CRD is being deleted: no new objects may be created.
    pub terminating: bool,
    /// This version's `schema.openAPIV3Schema` as written in the CRD (for OpenAPI documents).
    pub openapi_schema: Option<Arc<Value>>,
}
