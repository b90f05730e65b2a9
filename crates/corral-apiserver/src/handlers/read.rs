//! get and list.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use corral_apimachinery::continuation;
use corral_store::{KeyValue, RangeRequest, Revision, StoreError};
use http::{Response, StatusCode};
use serde_json::Value;

use super::{Ctx, Selectors};
use crate::encoding::{self, Output};
use crate::error::{ApiError, ApiResult};
use crate::response::{self, Body};

pub async fn get(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let name = ctx.info.name.as_deref().unwrap_or("");
    let kv = ctx
        .api
        .store
        .get(&ctx.key(name))
        .await?
        .ok_or_else(|| ApiError::NotFound(ctx.target(name)))?;
    ctx.object_response(StatusCode::OK, &kv)
}

/// One page of a list: matching objects (with their parsed form when selectors needed it).
pub struct ListPage {
    pub items: Vec<(KeyValue, Option<Value>)>,
    pub revision: Revision,
    pub continue_token: Option<String>,
}

/// How the list's `resourceVersion`/`resourceVersionMatch`/`continue` options pick a snapshot.
pub struct ListRequest {
    pub revision: Option<Revision>,
    pub start_after: Option<String>,
    pub limit: usize,
}

pub fn parse_rv(s: &str) -> ApiResult<Revision> {
    s.parse::<Revision>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| ApiError::BadRequest(format!("invalid resource version {s:?}")))
}

/// Validate the list options and decide which snapshot and position to read.
pub async fn list_request(ctx: &Ctx) -> ApiResult<ListRequest> {
    let q = &ctx.query;
    let limit = q.parse_i64("limit")?.unwrap_or(0).max(0) as usize;
    let rv = q.non_empty("resourceVersion");
    let rvm = q.non_empty("resourceVersionMatch");
    if let Some(token) = q.non_empty("continue") {
        if rv.is_some_and(|v| v != "0") {
            return Err(ApiError::BadRequest(
                "specifying resource version is not allowed when using continue".into(),
            ));
        }
        if rvm.is_some() {
            return Err(ApiError::BadRequest(
                "resourceVersionMatch is forbidden when continue is provided".into(),
            ));
        }
        let (rev, start) = continuation::decode(token)
            .map_err(|e| ApiError::BadRequest(format!("continue key is not valid: {e}")))?;
        let prefix = ctx.prefix();
        return Ok(ListRequest {
            revision: Some(rev),
            start_after: Some(format!("{prefix}{start}")),
            limit,
        });
    }
    let revision = match (rv, rvm) {
        (None, Some(_)) => {
            return Err(ApiError::BadRequest(
                "resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
            ));
        }
        (None, None) | (Some("0"), None | Some("NotOlderThan")) => None,
        (Some("0"), Some("Exact")) => {
            return Err(ApiError::BadRequest(
                "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"".into(),
            ));
        }
        (Some(v), Some("Exact")) => Some(parse_rv(v)?),
        (Some(v), None | Some("NotOlderThan")) => {
            wait_for_revision(ctx, parse_rv(v)?).await?;
            None
        }
        (_, Some(other)) => {
            return Err(ApiError::BadRequest(format!(
                "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""
            )));
        }
    };
    Ok(ListRequest {
        revision,
        start_after: None,
        limit,
    })
}

/// "Not older than" a revision the store has not reached yet: wait briefly, as upstream does, then time out.
pub async fn wait_for_revision(ctx: &Ctx, rev: Revision) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let current = ctx.api.store.current_revision().await?;
        if current >= rev {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Timeout(format!(
                "Too large resource version: {rev}, current: {current}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Read matching objects at one consistent revision, in key order, up to `limit`.
pub async fn collect(ctx: &Ctx, req: ListRequest, selectors: &Selectors) -> ApiResult<ListPage> {
    let prefix = ctx.prefix();
    let mut revision = req.revision;
    let mut start_after = req.start_after;
    let mut items = Vec::new();
    let filtering = !selectors.is_empty();
    let mut continue_from: Option<String> = None;
    loop {
        let want = if req.limit > 0 {
            Some(req.limit - items.len())
        } else {
            None
        };
        let range = RangeRequest {
            prefix: prefix.clone(),
            start_after: start_after.clone(),
            revision,
            // With selectors, read ahead so a sparse match does not cost one round trip per object.
            limit: want.map(|w| if filtering { w.max(500) } else { w }),
        };
        let resp = match ctx.api.store.range(range).await {
            Ok(r) => r,
            Err(StoreError::Compacted { .. }) if start_after.is_some() => {
                return Err(ApiError::Gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
                ));
            }
            Err(StoreError::Compacted {
                requested,
                compacted,
            }) => {
                return Err(ApiError::Gone(format!(
                    "The resourceVersion for the provided list is too old. (requested {requested}, oldest available {compacted})"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        revision = Some(resp.revision);
        let count = resp.kvs.len();
        for (i, kv) in resp.kvs.into_iter().enumerate() {
            start_after = Some(kv.key.clone());
            if filtering {
                let v = ctx.served_value(&kv)?;
                if selectors.matches(&ctx.def, &v) {
                    items.push((kv, Some(v)));
                }
            } else {
                items.push((kv, None));
            }
            if req.limit > 0 && items.len() >= req.limit {
                if i + 1 < count || resp.more {
                    continue_from = start_after.clone();
                }
                break;
            }
        }
        let full = req.limit > 0 && items.len() >= req.limit;
        if full || !resp.more {
            break;
        }
    }
    let revision = revision.unwrap_or(0);
    let continue_token = continue_from
        .map(|key| continuation::encode(revision, key.strip_prefix(&prefix).unwrap_or(&key)));
    Ok(ListPage {
        items,
        revision,
        continue_token,
    })
}

pub async fn list(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let selectors = ctx.selectors()?;
    let req = list_request(ctx).await?;
    let page = collect(ctx, req, &selectors).await?;
    render_list(ctx, page)
}

pub fn render_list(ctx: &Ctx, page: ListPage) -> ApiResult<Response<Body>> {
    if ctx.output == Output::Json {
        let mut out = BytesMut::with_capacity(
            page.items
                .iter()
                .map(|(kv, _)| kv.value.len() + 32)
                .sum::<usize>()
                + 256,
        );
        out.put_slice(b"{\"kind\":");
        put_json(&mut out, &Value::String(ctx.def.list_kind()));
        out.put_slice(b",\"apiVersion\":");
        put_json(&mut out, &Value::String(ctx.def.api_version()));
        out.put_slice(b",\"metadata\":{\"resourceVersion\":\"");
        out.put_slice(page.revision.to_string().as_bytes());
        out.put_u8(b'"');
        if let Some(token) = &page.continue_token {
            out.put_slice(b",\"continue\":");
            put_json(&mut out, &Value::String(token.clone()));
        }
        out.put_slice(b"},\"items\":[");
        for (i, (kv, parsed)) in page.items.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            match parsed {
                Some(v) => put_json(&mut out, v),
                None => ctx.write_served_json(kv, &mut out)?,
            }
        }
        out.put_slice(b"]}");
        return Ok(response::bytes_response(
            StatusCode::OK,
            "application/json",
            out.freeze(),
        ));
    }
    if ctx.output == Output::PartialObject {
        return Err(encoding::transform_mismatch(
            ctx.output,
            &ctx.go_type("List"),
        ));
    }
    let partial = ctx.output == Output::PartialList;
    let mut objects = Vec::with_capacity(page.items.len());
    for (kv, parsed) in page.items {
        objects.push(match parsed {
            Some(v) if partial => encoding::partial_object_metadata(&v),
            Some(v) => v,
            None if partial => encoding::partial_from_stored(&kv)?,
            None => ctx.served_value(&kv)?,
        });
    }
    let mut list_meta = serde_json::json!({"resourceVersion": page.revision.to_string()});
    if let Some(token) = page.continue_token {
        list_meta["continue"] = Value::String(token);
    }
    let value = if ctx.output == Output::Table {
        let mut t = ctx.table(objects);
        t["metadata"] = list_meta;
        t
    } else if partial {
        encoding::partial_object_metadata_list(list_meta, objects)
    } else {
        serde_json::json!({
            "kind": ctx.def.list_kind(),
            "apiVersion": ctx.def.api_version(),
            "metadata": list_meta,
            "items": objects,
        })
    };
    Ok(response::value_response(StatusCode::OK, ctx.output, &value))
}

fn put_json(out: &mut BytesMut, v: &Value) {
    if let Ok(bytes) = serde_json::to_vec(v) {
        out.put_slice(&bytes);
    }
}
