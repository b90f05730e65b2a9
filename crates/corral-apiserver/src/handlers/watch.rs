//! watch: a chunked stream of JSON lines, one event each.

use std::convert::Infallible;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use corral_store::{Event, EventKind, KeyValue, Revision, StoreError};
use futures::StreamExt;
use http::{HeaderValue, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::read::{self, ListPage, ListRequest};
use super::{Ctx, Selectors};
use crate::encoding::{self, Output};
use crate::error::{ApiError, ApiResult};
use crate::response::Body;

/// How often an idle watch that allows bookmarks is told the revision it has reached.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);

pub async fn watch(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let selectors = ctx.selectors()?;
    let q = &ctx.query;
    let bookmarks = q.flag("allowWatchBookmarks");
    let send_initial = match q.get("sendInitialEvents") {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "sendInitialEvents: invalid value {other:?}"
            )));
        }
    };
    if send_initial.is_some()
        && (q.get("resourceVersionMatch") != Some("NotOlderThan") || !bookmarks)
    {
        return Err(ApiError::Invalid {
            target: ctx.target(""),
            kind: ctx.def.kind.to_string(),
            errors: vec![corral_apimachinery::validation::FieldError {
                path: "sendInitialEvents".into(),
                error_type: corral_apimachinery::validation::ErrorType::Forbidden,
                value: None,
                detail: "sendInitialEvents is forbidden for watch unless resourceVersionMatch is \"NotOlderThan\" and allowWatchBookmarks is true".into(),
            }],
        });
    }
    let timeout = match q.parse_i64("timeoutSeconds")? {
        Some(s) if s > 0 => Duration::from_secs(s as u64),
        // Upstream spreads unbounded watches over 30–60 minutes so reconnects do not come in waves.
        _ => Duration::from_secs(1800 + rand::random_range(0..1800)),
    };
    let rv = q.non_empty("resourceVersion");
    let want_initial = match send_initial {
        Some(v) => v,
        None => matches!(rv, None | Some("0")),
    };
    let (initial, from): (Option<ListPage>, Revision) = if want_initial {
        if let Some(v) = rv.filter(|v| *v != "0") {
            read::wait_for_revision(ctx, read::parse_rv(v)?).await?;
        }
        let page = read::collect(
            ctx,
            ListRequest {
                revision: None,
                start_after: None,
                limit: 0,
            },
            &selectors,
        )
        .await?;
        let from = page.revision + 1;
        (Some(page), from)
    } else {
        match rv {
            Some(v) if v != "0" => (None, read::parse_rv(v)? + 1),
            _ => (None, ctx.api.store.current_revision().await? + 1),
        }
    };
    let stream = match ctx.api.store.watch(&ctx.prefix(), from).await {
        Ok(s) => s,
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            // As upstream's watch cache answers: 200 and one ERROR event,
            // not a 410 response. Clients re-list on the event (client-go
            // also on a 410 response; kube-runtime's watcher only on the
            // event: it retries a failed watch start from the same version).
            let gone = ApiError::Gone(format!(
                "too old resource version: {} ({})",
                requested - 1,
                compacted
            ));
            let mut out = BytesMut::new();
            error_line(&mut out, &gone);
            return Ok(json_response(crate::response::full(out.freeze())));
        }
        Err(e) => return Err(e.into()),
    };

    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    let encoder = Encoder {
        ctx: ctx_clone(ctx),
        selectors,
        base_prefix: ctx.def.key_prefix(None),
    };
    let mut shutdown = ctx.api.shutdown_signal();
    // Upstream transforms bookmarks like any event object.
    let (bookmark_kind, api_version) = if ctx.output == Output::PartialObject {
        ("PartialObjectMetadata", encoding::META_V1.to_string())
    } else {
        (ctx.def.kind, ctx.def.api_version())
    };
    tokio::spawn(async move {
        let mut last_rv = from - 1;
        let mut out = BytesMut::new();
        if let Some(page) = initial {
            for (kv, parsed) in &page.items {
                encoder.line(&mut out, "ADDED", kv, parsed.as_ref());
            }
            last_rv = page.revision;
            if send_initial == Some(true) {
                bookmark_line(&mut out, bookmark_kind, &api_version, last_rv, true);
            }
            if !out.is_empty()
                && tx
                    .send(Ok(Frame::data(out.split().freeze())))
                    .await
                    .is_err()
            {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut bookmark_tick = tokio::time::interval(BOOKMARK_INTERVAL);
        bookmark_tick.tick().await;
        let mut stream = stream;
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = &mut deadline => break,
                _ = bookmark_tick.tick(), if bookmarks => {
                    bookmark_line(&mut out, bookmark_kind, &api_version, last_rv, false);
                }
                batch = stream.next() => match batch {
                    None => break,
                    Some(Ok(events)) => {
                        for ev in &events {
                            encoder.event(&mut out, ev);
                            last_rv = ev.revision();
                        }
                    }
                    Some(Err(e)) => {
                        error_line(&mut out, &ApiError::from(e));
                        let _ = tx.send(Ok(Frame::data(out.split().freeze()))).await;
                        break;
                    }
                },
                _ = tx.closed() => break,
            }
            if !out.is_empty()
                && tx
                    .send(Ok(Frame::data(out.split().freeze())))
                    .await
                    .is_err()
            {
                break;
            }
        }
    });
    let body = BodyExt::boxed(StreamBody::new(ReceiverStream::new(rx)));
    Ok(json_response(body))
}

fn json_response(body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A watch's last line: the error, as a `Status` in an ERROR event.
fn error_line(out: &mut BytesMut, err: &ApiError) {
    let line = json!({"type": "ERROR", "object": err.to_status()});
    if let Ok(b) = serde_json::to_vec(&line) {
        out.put_slice(&b);
        out.put_u8(b'\n');
    }
}

fn bookmark_line(
    out: &mut BytesMut,
    kind: &str,
    api_version: &str,
    rv: Revision,
    initial_end: bool,
) {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let line = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": meta}});
    if let Ok(b) = serde_json::to_vec(&line) {
        out.put_slice(&b);
        out.put_u8(b'\n');
    }
}

/// The watch task outlives the request handler, so it owns its own copy of the context.
fn ctx_clone(ctx: &Ctx) -> Ctx {
    Ctx {
        api: ctx.api.clone(),
        def: ctx.def.clone(),
        info: ctx.info.clone(),
        query: ctx.query.clone(),
        output: ctx.output,
        content_type: ctx.content_type.clone(),
        user: ctx.user.clone(),
        user_agent: ctx.user_agent.clone(),
        warnings: Default::default(),
    }
}

struct Encoder {
    ctx: Ctx,
    selectors: Selectors,
    /// The resource's key prefix for all namespaces.
    base_prefix: String,
}

impl Encoder {
    /// One watch line for a stored object; `parsed` is its served form when already decoded.
    fn line(&self, out: &mut BytesMut, kind: &str, kv: &KeyValue, parsed: Option<&Value>) {
        out.put_slice(b"{\"type\":\"");
        out.put_slice(kind.as_bytes());
        out.put_slice(b"\",\"object\":");
        // A list transformation cannot apply to single events: upstream then
        // sends the objects untransformed, and so do we.
        let fast = parsed.is_none()
            && matches!(self.ctx.output, Output::Json | Output::PartialList)
            && self.ctx.def.conversion.is_none();
        let partial = parsed.is_none() && self.ctx.output == Output::PartialObject;
        if fast {
            encoding::write_with_rv(&kv.value, kv.mod_revision, out);
        } else if partial && encoding::write_partial_with_rv(&kv.value, kv.mod_revision, out) {
            // Metadata copied from the stored bytes.
        } else {
            let value = match (parsed, self.ctx.output) {
                (None, Output::PartialObject) => encoding::partial_from_stored(kv),
                (Some(v), Output::PartialObject) => Ok(encoding::partial_object_metadata(v)),
                (Some(v), _) => Ok(v.clone()),
                (None, _) => self.ctx.served_value(kv),
            };
            let value = match (value, self.ctx.output) {
                (Ok(v), Output::Table) => self.ctx.table(vec![v]),
                (Ok(v), _) => v,
                (Err(e), _) => e.to_status(),
            };
            if let Ok(b) = serde_json::to_vec(&value) {
                out.put_slice(&b);
            }
        }
        out.put_slice(b"}\n");
    }

    fn event(&self, out: &mut BytesMut, ev: &Event) {
        // A deleted object is reported as its last state, at the deletion's revision.
        let deleted_view = |prev: &KeyValue| KeyValue {
            mod_revision: ev.kv.mod_revision,
            ..prev.clone()
        };
        let by_key = self
            .selectors
            .matches_key(&self.ctx.def, &self.base_prefix, &ev.kv.key);
        if by_key == Some(false) {
            return;
        }
        // Selected by name or namespace, the event can neither enter nor leave the selection.
        if self.selectors.is_empty() || by_key == Some(true) {
            match (ev.kind, &ev.prev) {
                (EventKind::Put, None) => self.line(out, "ADDED", &ev.kv, None),
                (EventKind::Put, Some(_)) => self.line(out, "MODIFIED", &ev.kv, None),
                (EventKind::Delete, Some(prev)) => {
                    self.line(out, "DELETED", &deleted_view(prev), None)
                }
                (EventKind::Delete, None) => {}
            }
            return;
        }
        let matches = |kv: &KeyValue| -> Option<Value> {
            let v = self.ctx.served_value(kv).ok()?;
            self.selectors.matches(&self.ctx.def, &v).then_some(v)
        };
        match ev.kind {
            EventKind::Put => {
                let now = matches(&ev.kv);
                let before = ev.prev.as_ref().and_then(&matches);
                match (before.is_some(), now) {
                    (false, Some(v)) => self.line(out, "ADDED", &ev.kv, Some(&v)),
                    (true, Some(v)) => self.line(out, "MODIFIED", &ev.kv, Some(&v)),
                    // Moved out of the selection: to this watcher it is gone.
                    (true, None) => self.line(out, "DELETED", &ev.kv, None),
                    (false, None) => {}
                }
            }
            EventKind::Delete => {
                if let Some(prev) = &ev.prev {
                    let view = deleted_view(prev);
                    if let Some(v) = matches(&view) {
                        self.line(out, "DELETED", &view, Some(&v));
                    }
                }
            }
        }
    }
}
