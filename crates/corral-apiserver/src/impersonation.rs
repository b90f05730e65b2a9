//! `Impersonate-*` headers: act as another user, allowed only when the caller
//! holds `impersonate` on each requested attribute, exactly as upstream.

use std::collections::BTreeMap;

use corral_apimachinery::rbac::Attributes;

use crate::authn::{ANONYMOUS_USER, AUTHENTICATED_GROUP, UserInfo};
use crate::authz::{Authorizer, forbidden};
use crate::error::{ApiError, ApiResult};

/// What every impersonation header name starts with.
const IMPERSONATE_PREFIX: &str = "impersonate-";
const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";
const AUTHN_GROUP: &str = "authentication.k8s.io";

/// The user a request acts as: the caller, or whom it impersonates (if allowed).
/// Also returns whether impersonation happened (for the audit log).
pub fn effective_user(
    headers: &http::HeaderMap,
    caller: UserInfo,
    authorizer: &Authorizer,
) -> ApiResult<(UserInfo, Option<UserInfo>)> {
    // Most requests impersonate nobody: one pass over the header names
    // instead of four lookups.
    if !headers
        .keys()
        .any(|name| name.as_str().starts_with(IMPERSONATE_PREFIX))
    {
        return Ok((caller, None));
    }
    let text = |v: &http::HeaderValue| {
        v.to_str()
            .map(str::to_string)
            .map_err(|_| ApiError::BadRequest("impersonation headers must be text".into()))
    };
    let user = headers.get(USER).map(text).transpose()?;
    let groups: Vec<String> = headers
        .get_all(GROUP)
        .iter()
        .map(text)
        .collect::<Result<_, _>>()?;
    let uid = headers.get(UID).map(text).transpose()?;
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(EXTRA_PREFIX) {
            let key = percent_encoding::percent_decode_str(key)
                .decode_utf8_lossy()
                .to_lowercase();
            extra.entry(key).or_default().push(text(value)?);
        }
    }
    let Some(name) = user else {
        if !groups.is_empty() || uid.is_some() || !extra.is_empty() {
            return Err(ApiError::BadRequest(
                "requested impersonation of groups, uid or extra without impersonating a user"
                    .into(),
            ));
        }
        return Ok((caller, None));
    };
    let check =
        |resource: &str, group: &str, namespace: &str, resource_name: &str| -> ApiResult<()> {
            let attrs = Attributes::resource(
                caller.clone(),
                "impersonate",
                group,
                resource,
                namespace,
                resource_name,
            );
            let decision = authorizer.authorize(&attrs);
            if decision.is_allowed() {
                Ok(())
            } else {
                Err(forbidden(&attrs, decision.reason()))
            }
        };
    let mut impersonated_groups = groups.clone();
    match name
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, sa)) => {
            check("serviceaccounts", "", ns, sa)?;
            if groups.is_empty() {
                impersonated_groups = vec![
                    "system:serviceaccounts".into(),
                    format!("system:serviceaccounts:{ns}"),
                ];
            }
        }
        None => check("users", "", "", &name)?,
    }
    for g in &groups {
        check("groups", "", "", g)?;
    }
    if let Some(u) = &uid {
        check("uids", AUTHN_GROUP, "", u)?;
    }
    for (key, values) in &extra {
        for v in values {
            check(&format!("userextras/{key}"), AUTHN_GROUP, "", v)?;
        }
    }
    if name != ANONYMOUS_USER && !impersonated_groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        impersonated_groups.push(AUTHENTICATED_GROUP.into());
    }
    let target = UserInfo {
        name,
        uid: uid.unwrap_or_default(),
        groups: impersonated_groups,
        extra,
    };
    Ok((target, Some(caller)))
}
