//! API errors and their rendering as Kubernetes `Status` objects.
//!
//! This is the only place that turns failures into HTTP responses: handlers
//! return [`ApiError`], and the server renders it here with the upstream
//! `reason` and `code`.

use corral_apimachinery::validation::FieldError;
use corral_store::StoreError;
use serde_json::{Value, json};

/// Which object an error is about: upstream fills `details` with these.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub group: String,
    /// The resource's plural name (upstream puts the resource, not the kind, here).
    pub resource: String,
    pub name: String,
}

impl Target {
    pub fn new(group: &str, resource: &str, name: &str) -> Self {
        Target {
            group: group.to_string(),
            resource: resource.to_string(),
            name: name.to_string(),
        }
    }

    /// `configmaps` or `leases.coordination.k8s.io`, as upstream messages name a resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{message}")]
    Forbidden {
        target: Target,
        message: String,
        cause: Option<Box<(String, String)>>,
    },
    #[error("not found")]
    NotFound(Target),
    /// A path that matches no route at all (upstream answers with a bare 404 Status).
    #[error("the server could not find the requested resource")]
    NoRoute,
    #[error("already exists")]
    AlreadyExists(Target),
    #[error("conflict: {message}")]
    Conflict { target: Target, message: String },
    #[error("invalid")]
    Invalid {
        target: Target,
        kind: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    Gone(String),
    #[error("method not allowed")]
    MethodNotSupported { target: Target, verb: String },
    /// 405 with upstream's own wording (e.g. creates in a terminating CRD).
    #[error("{0}")]
    MethodNotAllowedMessage(String),
    #[error("request entity too large: {0}")]
    TooLarge(String),
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("not acceptable")]
    NotAcceptable(String),
    /// A metadata transformation that does not fit the response (upstream's own 406 text).
    #[error("{0}")]
    TransformNotAcceptable(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn code(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::NotFound(_) | ApiError::NoRoute => 404,
            ApiError::MethodNotSupported { .. } | ApiError::MethodNotAllowedMessage(_) => 405,
            ApiError::NotAcceptable(_) | ApiError::TransformNotAcceptable(_) => 406,
            ApiError::AlreadyExists(_) | ApiError::Conflict { .. } => 409,
            ApiError::Gone(_) => 410,
            ApiError::TooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Invalid { .. } => 422,
            ApiError::Internal(_) => 500,
            ApiError::ServiceUnavailable(_) => 503,
            ApiError::Timeout(_) => 504,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::NotFound(_) | ApiError::NoRoute => "NotFound",
            ApiError::MethodNotSupported { .. } | ApiError::MethodNotAllowedMessage(_) => {
                "MethodNotAllowed"
            }
            ApiError::NotAcceptable(_) | ApiError::TransformNotAcceptable(_) => "NotAcceptable",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Gone(_) => "Expired",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::Internal(_) => "InternalError",
            ApiError::ServiceUnavailable(_) => "ServiceUnavailable",
            ApiError::Timeout(_) => "Timeout",
        }
    }

    /// The upstream message text.
    pub fn message(&self) -> String {
        match self {
            ApiError::NotFound(t) => format!("{} {:?} not found", t.qualified(), t.name),
            ApiError::AlreadyExists(t) => format!("{} {:?} already exists", t.qualified(), t.name),
            ApiError::Conflict { target, message } => format!(
                "Operation cannot be fulfilled on {} {:?}: {}",
                target.qualified(),
                target.name,
                message
            ),
            ApiError::Invalid {
                target,
                kind,
                errors,
            } => {
                let qualified_kind = if target.group.is_empty() {
                    kind.clone()
                } else {
                    format!("{}.{}", kind, target.group)
                };
                let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                let joined = if list.len() == 1 {
                    list[0].clone()
                } else {
                    format!("[{}]", list.join(", "))
                };
                format!(
                    "{} {:?} is invalid: {}",
                    qualified_kind, target.name, joined
                )
            }
            ApiError::MethodNotSupported { target, verb } => format!(
                "{} is not supported on resources of kind {:?}",
                verb,
                target.qualified()
            ),
            ApiError::Forbidden { message, .. } => message.clone(),
            ApiError::MethodNotAllowedMessage(m) => m.clone(),
            ApiError::NotAcceptable(m) => format!(
                "only the following media types are accepted: application/json, application/yaml, application/json;stream=watch; got {m}"
            ),
            ApiError::UnsupportedMediaType(m) => {
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml; got {m:?}"
                )
            }
            other => other.to_string(),
        }
    }

    /// The `Status` object, as kube-apiserver would return it.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound(t) | ApiError::AlreadyExists(t) => Some(target_details(t)),
            ApiError::Conflict { target, .. } | ApiError::MethodNotSupported { target, .. } => {
                Some(target_details(target))
            }
            ApiError::Forbidden { target, cause, .. } => {
                let mut d = target_details(target);
                if let Some(c) = cause {
                    let (kind, message) = c.as_ref();
                    d["causes"] = json!([{"reason": kind, "message": message}]);
                }
                Some(d)
            }
            ApiError::Invalid {
                target,
                kind,
                errors,
            } => {
                let causes: Vec<Value> = errors
                    .iter()
                    .map(|e| {
                        json!({
                            "reason": e.reason(),
                            "message": e.to_string().split_once(": ").map(|(_, m)| m.to_string()).unwrap_or_default(),
                            "field": e.path,
                        })
                    })
                    .collect();
                Some(json!({
                    "name": target.name,
                    "group": target.group,
                    "kind": kind,
                    "causes": causes,
                }))
            }
            ApiError::NoRoute => Some(json!({})),
            _ => None,
        };
        if let Some(mut d) = details {
            if let Some(obj) = d.as_object_mut() {
                obj.retain(|_, v| !(v.is_string() && v.as_str() == Some("")));
            }
            status["details"] = d;
        }
        status
    }
}

fn target_details(t: &Target) -> Value {
    json!({"name": t.name, "group": t.group, "kind": t.resource})
}

/// Store failures seen by a handler that has no better interpretation.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => {
                ApiError::ServiceUnavailable(format!("storage is unavailable: {m}"))
            }
            StoreError::Compacted {
                requested,
                compacted,
            } => ApiError::Gone(format!(
                "too old resource version: {requested} ({compacted})"
            )),
            StoreError::FutureRevision { requested, current } => ApiError::Timeout(format!(
                "Too large resource version: {requested}, current: {current}"
            )),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
