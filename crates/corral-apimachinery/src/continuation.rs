//! Continue tokens for paginated lists, in upstream's format: unpadded
//! URL-safe base64 of `{"v":"meta.k8s.io/v1","rv":<i64>,"start":"<key>"}`.
//!
//! `start` carries the key of the last item returned; the next page starts
//! strictly after it.

use crate::util::{go_base64_decode, go_json_string};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const TOKEN_VERSION: &str = "meta.k8s.io/v1";

/// Why a continue token was rejected. `Display` gives upstream's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContinueError {
    /// Not base64, not JSON of the expected shape, or a key that escapes
    /// its prefix (`..` / `.` path segments).
    #[error("continue key is not valid: {0}")]
    Invalid(String),
    /// `rv` missing or zero.
    #[error(
        "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
    )]
    InvalidStartRv,
    /// `start` missing or empty.
    #[error("continue key is not valid: encoded start key empty (version meta.k8s.io/v1)")]
    EmptyStartKey,
    /// A `v` other than meta.k8s.io/v1.
    #[error("continue key is not valid: server does not recognize this encoded version {0}")]
    UnrecognizedVersion(String),
}

/// Encodes a continue token for a list served at resource version `rv`
/// whose last returned item has key `start_after_key`.
pub fn encode(rv: i64, start_after_key: &str) -> String {
    // Same bytes as Go's json.Marshal of the upstream struct.
    let json = format!(
        "{{\"v\":{},\"rv\":{},\"start\":{}}}",
        go_json_string(TOKEN_VERSION),
        rv,
        go_json_string(start_after_key)
    );
    URL_SAFE_NO_PAD.encode(json.as_bytes())
}

/// Decodes a continue token into `(rv, start_after_key)`.
pub fn decode(token: &str) -> Result<(i64, String), ContinueError> {
    let bytes = go_base64_decode(token, true, false).map_err(ContinueError::Invalid)?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| ContinueError::Invalid(e.to_string()))?;
    let obj = value.as_object().ok_or_else(|| {
        ContinueError::Invalid(format!(
            "json: cannot unmarshal {} into Go value of type storage.continueToken",
            json_kind(&value)
        ))
    })?;
    let field_err = |field: &str, v: &serde_json::Value, want: &str| {
        ContinueError::Invalid(format!(
            "json: cannot unmarshal {} into Go struct field continueToken.{field} of type {want}",
            json_kind(v)
        ))
    };
    let version = match obj.get("v") {
        None | Some(serde_json::Value::Null) => "",
        Some(serde_json::Value::String(s)) => s.as_str(),
        Some(other) => return Err(field_err("v", other, "string")),
    };
    let rv = match obj.get("rv") {
        None | Some(serde_json::Value::Null) => 0,
        Some(v @ serde_json::Value::Number(n)) => {
            n.as_i64().ok_or_else(|| field_err("rv", v, "int64"))?
        }
        Some(other) => return Err(field_err("rv", other, "int64")),
    };
    let start = match obj.get("start") {
        None | Some(serde_json::Value::Null) => "",
        Some(serde_json::Value::String(s)) => s.as_str(),
        Some(other) => return Err(field_err("start", other, "string")),
    };
    if version != TOKEN_VERSION {
        return Err(ContinueError::UnrecognizedVersion(version.to_string()));
    }
    if rv == 0 {
        return Err(ContinueError::InvalidStartRv);
    }
    if start.is_empty() {
        return Err(ContinueError::EmptyStartKey);
    }
    // Upstream rejects keys that path.Clean would change, to stop a client
    // from ranging outside its prefix; the equivalent for our keys is any
    // "." or ".." segment.
    if start.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(ContinueError::Invalid(start.to_string()));
    }
    Ok((rv, start.to_string()))
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}
