//! RBAC escalation prevention on writes of Roles, ClusterRoles and bindings:
//! a user may only grant what they hold, unless they may `escalate` the role
//! (or `bind` it, for bindings), as upstream.

use corral_apimachinery::rbac::{self, Attributes};
use serde_json::Value;

use super::Ctx;
use crate::authz;
use crate::encoding::meta_str;
use crate::error::ApiResult;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn allowed(ctx: &Ctx, attrs: &Attributes) -> bool {
    ctx.api.authorizer.authorize(attrs).is_allowed()
}

/// Refuse the write of `obj` if it would grant permissions the caller lacks.
pub fn check(ctx: &Ctx, obj: &Value) -> ApiResult<()> {
    if ctx.def.group != RBAC_GROUP || rbac::escalation_allowed(&ctx.user) {
        return Ok(());
    }
    let ns = ctx.namespace().unwrap_or("");
    let name = meta_str(obj, "name").unwrap_or("");
    let target = ctx.target(name);
    match ctx.def.kind {
        "Role" | "ClusterRole" => {
            if allowed(ctx, &rbac::escalate_attributes(&ctx.user, ns, name)) {
                return Ok(());
            }
            let rules = authz::rules_of(obj);
            ctx.api
                .authorizer
                .with_index(|i| i.confirm_no_escalation(&ctx.user, ns, &rules))
                .map_err(|detail| authz::escalation_error(target, &ctx.user, &detail))
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let role_ref = obj.get("roleRef").cloned().unwrap_or(Value::Null);
            let s = |k: &str| {
                role_ref
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let (kind, group, role) = (s("kind"), s("apiGroup"), s("name"));
            if let Some(attrs) = rbac::bind_attributes(&ctx.user, &kind, &group, &role, ns)
                && allowed(ctx, &attrs)
            {
                return Ok(());
            }
            let rules = ctx
                .api
                .authorizer
                .with_index(|i| i.role_ref_rules(&kind, &role, ns).map(<[_]>::to_vec))
                .map_err(|detail| authz::escalation_error(target.clone(), &ctx.user, &detail))?;
            ctx.api
                .authorizer
                .with_index(|i| i.confirm_no_escalation(&ctx.user, ns, &rules))
                .map_err(|detail| authz::escalation_error(target, &ctx.user, &detail))
        }
        _ => Ok(()),
    }
}
