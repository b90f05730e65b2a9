//! Building HTTP responses: bodies, JSON/YAML rendering, Status objects.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use serde_json::Value;

use crate::encoding::Output;
use crate::error::ApiError;

pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

pub fn bytes_response(
    code: StatusCode,
    content_type: &'static str,
    bytes: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = code;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Render a value in the negotiated format (tables are built before this point).
pub fn value_response(code: StatusCode, output: Output, value: &Value) -> Response<Body> {
    match output {
        Output::Yaml => match serde_yaml::to_string(value) {
            Ok(text) => bytes_response(code, "application/yaml", text),
            Err(e) => error_response(&ApiError::Internal(e.to_string())),
        },
        Output::Json | Output::Table | Output::PartialObject | Output::PartialList => {
            match serde_json::to_vec(value) {
                Ok(bytes) => bytes_response(code, "application/json", bytes),
                Err(e) => error_response(&ApiError::Internal(e.to_string())),
            }
        }
    }
}

/// Raw JSON bytes (already encoded) in the negotiated format.
pub fn json_bytes_response(code: StatusCode, output: Output, bytes: Bytes) -> Response<Body> {
    if output == Output::Yaml {
        return match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => value_response(code, output, &v),
            Err(e) => error_response(&ApiError::Internal(e.to_string())),
        };
    }
    bytes_response(code, "application/json", bytes)
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(err.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&err.to_status()).unwrap_or_default();
    bytes_response(code, "application/json", body)
}

pub fn success_status(details: Value) -> Value {
    serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
