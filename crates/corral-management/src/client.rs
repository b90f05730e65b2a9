//! An in-process client of the Kubernetes-compatible API: requests go through
//! [`ApiServer::handle`] exactly as a remote client's would (authentication,
//! RBAC, validation, defaulting, managedFields, the store), without a TLS
//! round trip. The management plane uses it with its own credential (a
//! per-process random token for `system:corral-management`, a member of
//! `system:masters`), so it works before the server listens and does not
//! depend on the bind address.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use corral_apiserver::ApiServer;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use serde_json::Value;

/// A failed API call: the HTTP status and the `Status` object's reason and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {reason}: {message}")]
pub struct ApiCallError {
    pub status: u16,
    pub reason: String,
    pub message: String,
}

impl ApiCallError {
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }
    pub fn is_conflict(&self) -> bool {
        self.status == 409
    }
    fn internal(message: impl Into<String>) -> ApiCallError {
        ApiCallError {
            status: 500,
            reason: "InternalError".into(),
            message: message.into(),
        }
    }
}

/// The management plane's API client (see the module docs).
pub struct LocalClient {
    api: Weak<ApiServer>,
    bearer: String,
}

pub const MERGE_PATCH: &str = "application/merge-patch+json";

impl LocalClient {
    /// `bearer` must authenticate as a user allowed to do everything the management plane does.
    pub fn new(api: &Arc<ApiServer>, bearer: String) -> LocalClient {
        LocalClient {
            api: Arc::downgrade(api),
            bearer,
        }
    }

    /// One request; the JSON body of a 2xx response, or the error it carried.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiCallError> {
        let api = self
            .api
            .upgrade()
            .ok_or_else(|| ApiCallError::internal("the API server has stopped"))?;
        let bytes = match body {
            Some(v) => Bytes::from(
                serde_json::to_vec(v).map_err(|e| ApiCallError::internal(e.to_string()))?,
            ),
            None => Bytes::new(),
        };
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.bearer),
            )
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "corral-management")
            .body(Full::new(bytes))
            .map_err(|e| ApiCallError::internal(e.to_string()))?;
        let resp = match api.handle(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        Err(ApiCallError {
            status: status.as_u16(),
            reason: value["reason"].as_str().unwrap_or("").to_string(),
            message: value["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string()),
        })
    }

    /// `None` when the object does not exist.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, ApiCallError> {
        match self
            .request(Method::GET, path, "application/json", None)
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// POST `obj` to the collection at `path`.
    pub async fn create(&self, path: &str, obj: &Value) -> Result<Value, ApiCallError> {
        self.request(Method::POST, path, "application/json", Some(obj))
            .await
    }

    pub async fn replace(&self, path: &str, obj: &Value) -> Result<Value, ApiCallError> {
        self.request(Method::PUT, path, "application/json", Some(obj))
            .await
    }

    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value, ApiCallError> {
        self.request(Method::PATCH, path, MERGE_PATCH, Some(patch))
            .await
    }

    /// `false` when there was nothing to delete.
    pub async fn delete(&self, path: &str) -> Result<bool, ApiCallError> {
        match self
            .request(Method::DELETE, path, "application/json", None)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
}
