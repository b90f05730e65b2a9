//! The apply phase: server-side apply (`PATCH` with
//! `application/apply-patch+yaml`) on a custom resource whose `spec.items`
//! is an associative list (`x-kubernetes-list-type: map`, keyed by `name`)
//! of --apply-items entries, against a plain update (`PUT` of the whole
//! object, no resourceVersion) of a twin object. Four measurements, each
//! --patches requests from each of --patch-clients on one object, --rounds
//! times interleaved: an unchanged re-apply (no write), an apply changing
//! one field of one item, an unchanged PUT and a PUT changing one field.
//! The CRD is deleted at the end.

use super::crd::{condition_true, poll};
use super::*;
use crate::util::random_suffix;

const PLURAL: &str = "applywidgets";
const KIND: &str = "ApplyWidget";
const VERSION: &str = "v1";
const MANAGER: &str = "corral-bench";

#[derive(Debug, Clone, Serialize)]
pub struct ApplyResult {
    pub crd: String,
    pub items: usize,
    /// JSON size of the applied configuration.
    pub config_bytes: usize,
    pub rounds: usize,
    pub results: Vec<Repeated>,
}

impl ApplyResult {
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "apply: {} with {} list-map items, configuration of {} bytes; median (range) of {} rounds",
            self.crd, self.items, self.config_bytes, self.rounds
        )];
        out.extend(self.results.iter().map(Repeated::line));
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    ApplySame,
    ApplyChange,
    PutSame,
    PutChange,
}

impl Op {
    const ALL: [Op; 4] = [Op::ApplySame, Op::ApplyChange, Op::PutSame, Op::PutChange];

    fn label(self, clients: usize) -> String {
        let what = match self {
            Op::ApplySame => "apply unchanged",
            Op::ApplyChange => "apply 1 field  ",
            Op::PutSame => "put unchanged  ",
            Op::PutChange => "put 1 field    ",
        };
        format!("{what} clients {clients:>2}")
    }

    fn is_apply(self) -> bool {
        matches!(self, Op::ApplySame | Op::ApplyChange)
    }
}

fn crd_body(group: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{PLURAL}.{group}"), "labels": {"app": "corral-bench"}},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "applywidget", "kind": KIND,
                      "listKind": format!("{KIND}List")},
            "versions": [{
                "name": VERSION, "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "properties": {
                            "replicas": {"type": "integer"},
                            "image": {"type": "string"},
                            "items": {
                                "type": "array",
                                "x-kubernetes-list-type": "map",
                                "x-kubernetes-list-map-keys": ["name"],
                                "items": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {
                                        "name": {"type": "string"},
                                        "value": {"type": "string"},
                                        "port": {"type": "integer"},
                                        "enabled": {"type": "boolean"},
                                    },
                                },
                            },
                        },
                    }},
                }},
            }],
        },
    })
}

/// The object: `items` list entries; entry `changed % items` gets `value`
/// as its value when given.
fn object(group: &str, ns: &str, name: &str, items: usize, change: Option<(usize, &str)>) -> Value {
    let list: Vec<Value> = (0..items)
        .map(|i| {
            let value = match change {
                Some((c, v)) if c % items.max(1) == i => v.to_string(),
                _ => format!("value-{i:03}"),
            };
            json!({"name": format!("item-{i:03}"), "value": value, "port": 8000 + i, "enabled": i % 2 == 0})
        })
        .collect();
    json!({
        "apiVersion": format!("{group}/{VERSION}"),
        "kind": KIND,
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 3, "image": "registry.example.com/widget:v1", "items": list},
    })
}

pub async fn apply(ctx: &Ctx) -> Result<ApplyResult> {
    let a = &ctx.args;
    let items = a.apply_items.max(1);
    let rounds = a.rounds.max(1);
    if a.patch_clients.is_empty() {
        bail!("apply: --patch-clients must not be empty");
    }
    let wait = Duration::from_secs_f64(a.crd_wait.max(1.0));
    let group = format!("a{}.corral-bench.example.com", random_suffix(8));
    let crd_name = format!("{PLURAL}.{group}");
    let crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let mut conn = ctx.target.conn();

    let t0 = Instant::now();
    let body = Bytes::from(serde_json::to_vec(&crd_body(&group))?);
    let r = conn.request(Method::POST, crd_path, Some(body)).await?;
    if !r.is_success() {
        bail!("creating CRD {crd_name}: {}", r.error_message());
    }
    let one = format!("{crd_path}/{crd_name}");
    poll(&mut conn, &one, t0 + wait, |r| {
        r.is_success()
            && serde_json::from_slice::<Value>(&r.body)
                .is_ok_and(|v| condition_true(&v, "Established"))
    })
    .await
    .context("waiting for the CRD's Established condition")?;
    let cr_path = format!("/apis/{group}/{VERSION}/namespaces/{}/{PLURAL}", ctx.ns);
    poll(&mut conn, &format!("{cr_path}?limit=1"), t0 + wait, |r| {
        r.is_success()
    })
    .await
    .context("waiting for the custom resources' endpoint")?;

    let result = measure(ctx, &group, &cr_path, items, rounds).await;

    let r = conn.request(Method::DELETE, &one, None).await?;
    if !r.is_success() {
        bail!("deleting CRD {crd_name}: {}", r.error_message());
    }
    let (config_bytes, results) = result?;
    Ok(ApplyResult {
        crd: crd_name,
        items,
        config_bytes,
        rounds,
        results,
    })
}

async fn measure(
    ctx: &Ctx,
    group: &str,
    cr_path: &str,
    items: usize,
    rounds: usize,
) -> Result<(usize, Vec<Repeated>)> {
    let a = &ctx.args;
    let mut conn = ctx.target.conn();
    // Setup (not measured): the applied object is created by an apply, its
    // twin by a POST.
    let applied = format!("applied-{}", random_suffix(4));
    let updated = format!("updated-{}", random_suffix(4));
    let config = Bytes::from(serde_json::to_vec(&object(
        group, &ctx.ns, &applied, items, None,
    ))?);
    let apply_path = format!("{cr_path}/{applied}?fieldManager={MANAGER}");
    let r = conn
        .request_typed(
            Method::PATCH,
            &apply_path,
            Some(config.clone()),
            "application/apply-patch+yaml",
        )
        .await?;
    if !r.is_success() {
        bail!("creating {applied} by apply: {}", r.error_message());
    }
    let twin = Bytes::from(serde_json::to_vec(&object(
        group, &ctx.ns, &updated, items, None,
    ))?);
    let r = conn.request(Method::POST, cr_path, Some(twin)).await?;
    if !r.is_success() {
        bail!("creating {updated}: {}", r.error_message());
    }

    let specs: Vec<(Op, usize)> = a
        .patch_clients
        .iter()
        .flat_map(|&c| Op::ALL.into_iter().map(move |op| (op, c.max(1))))
        .collect();
    println!(
        "apply: {KIND} objects with {items} list items, configuration of {} bytes; {} measurements x {} rounds of {} requests",
        config.len(),
        specs.len(),
        rounds,
        a.patches
    );
    let labels: Vec<String> = specs.iter().map(|&(op, c)| op.label(c)).collect();
    let (applied, updated, specs) = (&applied, &updated, &specs);
    let results = measure_rounds(rounds, &labels, |round, i| {
        let (op, clients) = specs[i];
        let name = if op.is_apply() { applied } else { updated };
        let tag = format!("r{round}m{i:02}");
        async move { Ok(run(ctx, group, cr_path, name, items, op, clients, &tag).await) }
    })
    .await?;
    Ok((config.len(), results))
}

#[allow(clippy::too_many_arguments)]
async fn run(
    ctx: &Ctx,
    group: &str,
    cr_path: &str,
    name: &str,
    items: usize,
    op: Op,
    clients: usize,
    tag: &str,
) -> OpsResult {
    let probe = Probe::start(ctx.args.server_pid);
    let errors = Arc::new(Errors::default());
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = ctx.phase_deadline();
    let total = ctx.args.patches;
    let path: Arc<str> = Arc::from(match op {
        Op::ApplySame | Op::ApplyChange => format!("{cr_path}/{name}?fieldManager={MANAGER}"),
        Op::PutSame | Op::PutChange => format!("{cr_path}/{name}"),
    });
    // Bodies made beforehand, so the client's CPU is the HTTP work alone.
    let bodies: Arc<Vec<Bytes>> = Arc::new(match op {
        Op::ApplySame | Op::PutSame => {
            let b =
                serde_json::to_vec(&object(group, &ctx.ns, name, items, None)).unwrap_or_default();
            vec![Bytes::from(b)]
        }
        Op::ApplyChange | Op::PutChange => (0..total)
            .map(|i| {
                let v = format!("{tag}-{i:07}");
                let b = serde_json::to_vec(&object(group, &ctx.ns, name, items, Some((i, &v))))
                    .unwrap_or_default();
                Bytes::from(b)
            })
            .collect(),
    });
    let (method, media) = if op.is_apply() {
        (Method::PATCH, "application/apply-patch+yaml")
    } else {
        (Method::PUT, "application/json")
    };
    let t0 = Instant::now();
    let hists = run_workers(clients, |_| {
        let mut conn = ctx.target.conn();
        let (errors, next, bodies, path, method) = (
            errors.clone(),
            next.clone(),
            bodies.clone(),
            path.clone(),
            method.clone(),
        );
        let max_errors = ctx.args.max_errors;
        async move {
            let mut h = new_hist();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() >= deadline || errors.count() >= max_errors {
                    break;
                }
                let body = bodies[i % bodies.len()].clone();
                let t = Instant::now();
                match conn
                    .request_typed(method.clone(), &path, Some(body), media)
                    .await
                {
                    Ok(r) if r.is_success() => record_us(&mut h, t.elapsed().as_micros() as u64),
                    Ok(r) => errors.record(format!("{method} {path}: {}", r.error_message())),
                    Err(e) => errors.record(format!("{e:#}")),
                }
            }
            h
        }
    })
    .await;
    let elapsed = t0.elapsed();
    OpsResult::build(hists, elapsed, &errors, probe.finish(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_have_the_items_and_one_changed_value() {
        let o = object("g.example.com", "ns", "x", 20, Some((23, "new")));
        let list = o["spec"]["items"].as_array().expect("items");
        assert_eq!(list.len(), 20);
        assert_eq!(list[3]["value"], "new");
        assert_eq!(list[4]["value"], "value-004");
        assert_eq!(o["apiVersion"], "g.example.com/v1");
    }

    #[test]
    fn labels_line_up() {
        let labels: Vec<String> = Op::ALL.iter().map(|o| o.label(1)).collect();
        assert!(
            labels.iter().all(|l| l.len() == labels[0].len()),
            "{labels:?}"
        );
    }
}
