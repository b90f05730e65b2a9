//! Create-only virtual resources: TokenReview, SelfSubjectReview, the four
//! access reviews, and TokenRequest (`serviceaccounts/<name>/token`).

use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use corral_apimachinery::rbac::{Attributes, PolicyRule};

use crate::authn::serviceaccount::{KubernetesClaims, NamedUid};
use crate::authn::{PeerIdentity, UserInfo};
use crate::encoding::{self, meta_str};
use crate::error::{ApiError, ApiResult};
use crate::handlers::Ctx;
use crate::registry::Review;
use crate::response::{self, Body};

fn decode(ctx: &Ctx, body: &[u8]) -> ApiResult<Value> {
    let format = encoding::body_format(ctx.content_type.as_deref())?;
    encoding::decode_body(body, format, ctx.def.kind)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn invalid(ctx: &Ctx, path: &str, detail: &str) -> ApiError {
    use corral_apimachinery::validation::{ErrorType, FieldError};
    ApiError::Invalid {
        target: ctx.target(""),
        kind: ctx.def.kind.to_string(),
        errors: vec![FieldError {
            path: path.into(),
            error_type: ErrorType::Invalid,
            value: None,
            detail: detail.into(),
        }],
    }
}

/// Echo the request with its computed status, as upstream answers reviews (201 Created).
fn answer(ctx: &Ctx, mut obj: Value, status: Value) -> Response<Body> {
    obj["apiVersion"] = json!(ctx.def.api_version());
    obj["kind"] = json!(ctx.def.kind);
    if obj.get("metadata").is_none() {
        obj["metadata"] = json!({});
    }
    obj["status"] = status;
    response::value_response(StatusCode::CREATED, encoding::Output::Json, &obj)
}

pub async fn review(ctx: &Ctx, body: &[u8]) -> ApiResult<Response<Body>> {
    let obj = decode(ctx, body)?;
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    match ctx.def.review {
        Some(Review::TokenReview) => {
            let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
            if token.is_empty() {
                return Err(invalid(ctx, "spec.token", "token must be specified"));
            }
            let mut headers = http::HeaderMap::new();
            let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| invalid(ctx, "spec.token", "not a valid bearer token"))?;
            headers.insert(http::header::AUTHORIZATION, value);
            let status = match ctx
                .api
                .authenticator()
                .authenticate(&headers, &PeerIdentity::default())
                .await
            {
                Ok(Some(u)) => {
                    let audiences = ctx
                        .api
                        .sa_keys
                        .as_ref()
                        .map(|k| k.api_audiences.clone())
                        .unwrap_or_default();
                    json!({"authenticated": true, "user": crate::authn::user_json(&u), "audiences": audiences})
                }
                Ok(None) | Err(_) => {
                    json!({"authenticated": false, "user": {}, "error": "token is not valid"})
                }
            };
            Ok(answer(ctx, obj, status))
        }
        Some(Review::SelfSubjectReview) => Ok(answer(
            ctx,
            obj,
            json!({"userInfo": crate::authn::user_json(&ctx.user)}),
        )),
        Some(Review::SelfSubjectAccessReview) => {
            let attrs = attributes_from_spec(ctx, &spec, ctx.user.clone())?;
            Ok(answer(ctx, obj, access_status(ctx, &attrs)))
        }
        Some(Review::SubjectAccessReview) | Some(Review::LocalSubjectAccessReview) => {
            let user = UserInfo {
                name: spec
                    .get("user")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                uid: spec
                    .get("uid")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                groups: strings(spec.get("groups")),
                extra: spec
                    .get("extra")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), strings(Some(v))))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            if user.name.is_empty() && user.groups.is_empty() {
                return Err(invalid(
                    ctx,
                    "spec.user",
                    "at least one of user or group must be specified",
                ));
            }
            let attrs = attributes_from_spec(ctx, &spec, user)?;
            if ctx.def.review == Some(Review::LocalSubjectAccessReview) {
                let ns = ctx.info.namespace.clone().unwrap_or_default();
                if attrs.namespace != ns {
                    return Err(invalid(
                        ctx,
                        "spec.resourceAttributes.namespace",
                        "must match metadata.namespace",
                    ));
                }
            }
            Ok(answer(ctx, obj, access_status(ctx, &attrs)))
        }
        Some(Review::SelfSubjectRulesReview) => {
            let ns = spec
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let (rules, errors) = if ctx
                .user
                .groups
                .iter()
                .any(|g| g == crate::authn::MASTERS_GROUP)
            {
                (
                    vec![
                        PolicyRule::resource(&["*"], &["*"], &["*"]),
                        PolicyRule::non_resource(&["*"], &["*"]),
                    ],
                    vec![],
                )
            } else {
                ctx.api
                    .authorizer
                    .with_index(|i| i.rules_for(&ctx.user, &ns))
            };
            let mut resource_rules = Vec::new();
            let mut non_resource_rules = Vec::new();
            for r in rules {
                if r.non_resource_urls.is_empty() {
                    let mut v = json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
                    if !r.resource_names.is_empty() {
                        v["resourceNames"] = json!(r.resource_names);
                    }
                    resource_rules.push(v);
                } else {
                    non_resource_rules
                        .push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
                }
            }
            let mut status = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": !errors.is_empty()});
            if !errors.is_empty() {
                status["evaluationError"] = json!(errors.join(", "));
            }
            Ok(answer(ctx, obj, status))
        }
        None => Err(ApiError::NoRoute),
    }
}

fn attributes_from_spec(ctx: &Ctx, spec: &Value, user: UserInfo) -> ApiResult<Attributes> {
    if let Some(ra) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        let s = |k: &str| ra.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        return Ok(Attributes {
            user,
            verb: s("verb"),
            resource_request: true,
            namespace: s("namespace"),
            api_group: s("group"),
            resource: s("resource"),
            subresource: s("subresource"),
            name: s("name"),
            path: String::new(),
        });
    }
    if let Some(nra) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        let s = |k: &str| nra.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        return Ok(Attributes::non_resource(user, &s("verb"), &s("path")));
    }
    Err(invalid(
        ctx,
        "spec",
        "exactly one of nonResourceAttributes or resourceAttributes must be specified",
    ))
}

fn access_status(ctx: &Ctx, attrs: &Attributes) -> Value {
    let decision = ctx.api.authorizer.authorize(attrs);
    let mut status = json!({"allowed": decision.is_allowed()});
    if !decision.reason().is_empty() {
        status["reason"] = json!(decision.reason());
    }
    status
}

/// TokenRequest: a bound token for a ServiceAccount (what `kubectl create token` asks for).
pub async fn token_request(ctx: &Ctx, body: &[u8]) -> ApiResult<Response<Body>> {
    let keys = ctx.api.sa_keys.clone().ok_or_else(|| {
        ApiError::ServiceUnavailable("service account token signing is not configured".into())
    })?;
    let format = encoding::body_format(ctx.content_type.as_deref())?;
    let mut obj = encoding::decode_body(body, format, "TokenRequest")?;
    let ns = ctx.info.namespace.clone().unwrap_or_default();
    let name = ctx.info.name.clone().unwrap_or_default();
    let sa = ctx
        .api
        .store
        .get(&ctx.key(&name))
        .await?
        .ok_or_else(|| ApiError::NotFound(ctx.target(&name)))?;
    let sa: Value =
        serde_json::from_slice(&sa.value).map_err(|e| ApiError::Internal(e.to_string()))?;
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let expiration = spec
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let token_invalid = |path: &str, detail: &str| {
        use corral_apimachinery::validation::{ErrorType, FieldError};
        ApiError::Invalid {
            target: crate::error::Target::new("authentication.k8s.io", "tokenrequests", &name),
            kind: "TokenRequest".into(),
            errors: vec![FieldError {
                path: path.into(),
                error_type: ErrorType::Invalid,
                value: None,
                detail: detail.into(),
            }],
        }
    };
    if expiration < 600 {
        return Err(token_invalid(
            "spec.expirationSeconds",
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > 1 << 32 {
        return Err(token_invalid(
            "spec.expirationSeconds",
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let mut claims = KubernetesClaims {
        namespace: ns.clone(),
        serviceaccount: NamedUid {
            name: name.clone(),
            uid: meta_str(&sa, "uid").unwrap_or("").to_string(),
        },
        ..Default::default()
    };
    if let Some(bound) = spec.get("boundObjectRef").filter(|v| v.is_object()) {
        let kind = bound.get("kind").and_then(Value::as_str).unwrap_or("");
        let bound_name = bound
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let key = match kind {
            "Secret" => format!("/registry/core/secrets/{ns}/{bound_name}"),
            "Pod" => format!("/registry/core/pods/{ns}/{bound_name}"),
            other => {
                return Err(token_invalid(
                    "spec.boundObjectRef.kind",
                    &format!("unsupported kind {other:?}: supported values: \"Pod\", \"Secret\""),
                ));
            }
        };
        let target = ctx.api.store.get(&key).await?.ok_or_else(|| {
            token_invalid(
                "spec.boundObjectRef",
                &format!("{kind} {bound_name:?} not found"),
            )
        })?;
        let target: Value =
            serde_json::from_slice(&target.value).map_err(|e| ApiError::Internal(e.to_string()))?;
        let bound_ref = NamedUid {
            name: bound_name,
            uid: meta_str(&target, "uid").unwrap_or("").to_string(),
        };
        if kind == "Secret" {
            claims.secret = Some(bound_ref);
        } else {
            claims.pod = Some(bound_ref);
        }
    }
    let audiences = strings(spec.get("audiences"));
    let (token, exp) = keys
        .issue_bound(claims, audiences.clone(), expiration)
        .map_err(ApiError::Internal)?;
    let expiry = time::OffsetDateTime::from_unix_timestamp(exp)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let audiences = if audiences.is_empty() {
        keys.api_audiences.clone()
    } else {
        audiences
    };
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::BadRequest("body must be an object".into()))?;
    map.insert("apiVersion".into(), json!("authentication.k8s.io/v1"));
    map.insert("kind".into(), json!("TokenRequest"));
    let mut meta = map
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(Map::new);
    meta.insert("name".into(), json!(name));
    meta.insert("namespace".into(), json!(ns));
    map.insert("metadata".into(), Value::Object(meta));
    let mut spec = spec.as_object().cloned().unwrap_or_default();
    spec.insert("audiences".into(), json!(audiences));
    spec.insert("expirationSeconds".into(), json!(expiration));
    map.insert("spec".into(), Value::Object(spec));
    map.insert(
        "status".into(),
        json!({"token": token, "expirationTimestamp": expiry}),
    );
    Ok(response::value_response(
        StatusCode::CREATED,
        encoding::Output::Json,
        &obj,
    ))
}
