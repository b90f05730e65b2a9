//! The patch phase: ConfigMaps whose data (--patch-object-bytes) is spread over
//! --patch-keys keys; each PATCH replaces one key's value with a new one of the
//! same length, so the object keeps its size. No resourceVersion is sent, as
//! kubectl sends none: concurrent patches to one object race on the store's
//! compare-and-swap and the server retries them; a 409 that still reaches the
//! client is counted and retried by the client. The spread runs patch
//! --patch-objects objects round-robin, so contention is not the only factor.

use super::*;
use crate::cli::PatchType;
use crate::util::random_suffix;

#[derive(Debug, Clone, Serialize)]
pub struct PatchResult {
    /// JSON size of one patched ConfigMap as created.
    pub object_bytes: usize,
    pub keys: usize,
    pub value_bytes: usize,
    pub patch_bytes: usize,
    pub rounds: usize,
    pub results: Vec<Repeated>,
}

impl PatchResult {
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "patch: ConfigMaps of {} bytes ({} keys of {} bytes), patches of ~{} bytes changing one key; median (range) of {} runs",
            self.object_bytes, self.keys, self.value_bytes, self.patch_bytes, self.rounds
        )];
        out.extend(self.results.iter().map(Repeated::line));
        out
    }
}

fn key_name(k: usize) -> String {
    format!("k{k:03}")
}

/// The ConfigMap to patch: `keys` values of `value_bytes` random characters.
fn object_body(ns: &str, name: &str, keys: usize, value_bytes: usize) -> Bytes {
    let pool = make_payload(value_bytes * 2);
    let mut data = serde_json::Map::new();
    for k in 0..keys {
        let off = (k * 7) % value_bytes.max(1);
        data.insert(
            key_name(k),
            Value::String(pool[off..off + value_bytes].to_string()),
        );
    }
    let v = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "corral-bench"}},
        "data": data,
    });
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

/// A value of `len` characters unique to (tag, op): never equal to the stored one,
/// so every patch is a real write.
fn new_value(pool: &str, tag: &str, op: usize, len: usize) -> String {
    let head = format!("{tag}{op:08}");
    let rest = len.saturating_sub(head.len());
    let off = op % (pool.len() - rest).max(1);
    let mut s = head;
    s.push_str(&pool[off..off + rest]);
    s.truncate(len.max(1));
    s
}

/// The PATCH body replacing `data[key]` (keys and values are alphanumeric).
fn patch_body(kind: PatchType, key: &str, value: &str) -> Bytes {
    let s = match kind {
        PatchType::Merge | PatchType::Strategic => format!(r#"{{"data":{{"{key}":"{value}"}}}}"#),
        PatchType::Json => {
            format!(r#"[{{"op":"replace","path":"/data/{key}","value":"{value}"}}]"#)
        }
    };
    Bytes::from(s)
}

struct RunSpec {
    kind: PatchType,
    objects: usize,
    clients: usize,
}

impl RunSpec {
    fn label(&self) -> String {
        format!(
            "patch {:<9} objects {:>2} clients {:>2}",
            self.kind.name(),
            self.objects,
            self.clients,
        )
    }
}

/// One measurement: --patches patches of `spec.kind` over the first `spec.objects`
/// of `names` from `spec.clients` workers.
async fn patch_run(
    ctx: &Ctx,
    names: &Arc<Vec<String>>,
    spec: &RunSpec,
    tag: &str,
    value_bytes: usize,
) -> OpsResult {
    let base = ctx.cm_path();
    let objects = spec.objects.clamp(1, names.len());
    let paths: Arc<Vec<String>> = Arc::new(
        names[..objects]
            .iter()
            .map(|n| format!("{base}/{n}"))
            .collect(),
    );
    let pool: Arc<str> = make_payload(value_bytes * 2);
    let tag: Arc<str> = Arc::from(tag);
    let (keys, kind) = (ctx.args.patch_keys.max(1), spec.kind);
    patch_loop(
        ctx,
        paths,
        spec.clients,
        kind.media_type(),
        0x7a7c_4e00,
        move |rng, op| {
            let key = key_name(rng.random_range(0..keys));
            patch_body(kind, &key, &new_value(&pool, &tag, op, value_bytes))
        },
    )
    .await
}

pub async fn patch(ctx: &Ctx) -> Result<PatchResult> {
    let a = &ctx.args;
    let keys = a.patch_keys.max(1);
    let value_bytes = (a.patch_object_bytes / keys).max(16);
    let objects = a.patch_objects.max(1);
    if a.patch_types.is_empty() || a.patch_clients.is_empty() {
        bail!("patch: --patch-types and --patch-clients must not be empty");
    }

    // Setup (not measured): the objects, created once and patched by every run.
    let names: Arc<Vec<String>> = Arc::new(
        (0..objects)
            .map(|i| format!("patch-{}-{i:03}", random_suffix(4)))
            .collect(),
    );
    let mut conn = ctx.target.conn();
    let mut object_bytes = 0;
    for name in names.iter() {
        let body = object_body(&ctx.ns, name, keys, value_bytes);
        object_bytes = body.len();
        let r = conn
            .request(Method::POST, &ctx.cm_path(), Some(body))
            .await?;
        if !r.is_success() {
            bail!("creating ConfigMap {name}: {}", r.error_message());
        }
    }

    let mut specs = Vec::new();
    for &clients in &a.patch_clients {
        for &kind in &a.patch_types {
            specs.push(RunSpec {
                kind,
                objects: 1,
                clients,
            });
        }
    }
    if objects > 1 {
        for &clients in a.patch_clients.iter().filter(|&&c| c > 1) {
            for &kind in &a.patch_types {
                specs.push(RunSpec {
                    kind,
                    objects,
                    clients,
                });
            }
        }
    }
    println!(
        "patch: {} ConfigMap(s) of {object_bytes} bytes; {} measurements x {} rounds of {} patches",
        names.len(),
        specs.len(),
        a.rounds.max(1),
        a.patches
    );

    let labels: Vec<String> = specs.iter().map(RunSpec::label).collect();
    let results = measure_rounds(a.rounds, &labels, |round, i| {
        let (names, spec) = (&names, &specs[i]);
        let tag = format!("r{round}m{i:02}");
        async move { Ok(patch_run(ctx, names, spec, &tag, value_bytes).await) }
    })
    .await?;
    Ok(PatchResult {
        object_bytes,
        keys,
        value_bytes,
        patch_bytes: patch_body(PatchType::Json, &key_name(0), &"x".repeat(value_bytes)).len(),
        rounds: a.rounds.max(1),
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_is_about_the_requested_size() {
        let b = object_body("ns", "patch-x-000", 100, 512);
        let v: Value = serde_json::from_slice(&b).expect("valid JSON");
        let data = v["data"].as_object().expect("data");
        assert_eq!(data.len(), 100);
        assert_eq!(data["k042"].as_str().map(str::len), Some(512));
        assert!(b.len() > 51_200 && b.len() < 53_000, "{}", b.len());
    }

    #[test]
    fn patch_bodies_are_valid_and_unique() {
        let pool = make_payload(1024);
        let v1 = new_value(&pool, "r0m01", 7, 512);
        let v2 = new_value(&pool, "r0m01", 8, 512);
        assert_eq!((v1.len(), v2.len()), (512, 512));
        assert_ne!(v1, v2);
        let m: Value = serde_json::from_slice(&patch_body(PatchType::Merge, "k001", &v1))
            .expect("merge patch JSON");
        assert_eq!(m["data"]["k001"], Value::String(v1.clone()));
        let j: Value = serde_json::from_slice(&patch_body(PatchType::Json, "k001", &v1))
            .expect("JSON patch JSON");
        assert_eq!(j[0]["op"], "replace");
        assert_eq!(j[0]["path"], "/data/k001");
        assert_eq!(j[0]["value"], Value::String(v1));
        assert_eq!(new_value(&pool, "t", 3, 4).len(), 4);
    }

    #[test]
    fn labels_line_up() {
        let a = RunSpec {
            kind: PatchType::Merge,
            objects: 1,
            clients: 32,
        };
        let b = RunSpec {
            kind: PatchType::Strategic,
            objects: 32,
            clients: 1,
        };
        assert_eq!(a.label(), "patch merge     objects  1 clients 32");
        assert_eq!(b.label(), "patch strategic objects 32 clients  1");
        assert_eq!(a.label().len(), b.label().len());
    }
}
