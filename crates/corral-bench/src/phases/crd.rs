//! The crd phase: a CustomResourceDefinition whose structural schema has 30
//! fields under `spec` (strings with patterns, enums and formats, bounded
//! integers and a number, booleans, a nested object, a map list of objects, a
//! set, a string map and an int-or-string), then --crd-objects custom resources
//! with every field set and as many ConfigMaps of the same JSON size, side by
//! side in --rounds interleaved rounds. The ratio of the two is what the schema
//! (decoding, pruning, defaulting, validation, managedFields on a custom
//! resource) costs. The CRD is deleted at the end.

use super::*;
use crate::util::random_suffix;

const PLURAL: &str = "benchwidgets";
const KIND: &str = "BenchWidget";
const VERSION: &str = "v1";

#[derive(Debug, Clone, Serialize)]
pub struct CrdResult {
    pub crd: String,
    pub spec_fields: usize,
    /// From the CRD's POST to its Established condition, and to its endpoint answering.
    pub established_ms: f64,
    pub served_ms: f64,
    pub objects_per_round: usize,
    pub rounds: usize,
    /// Mean JSON size of the bodies sent.
    pub custom_resource_bytes: usize,
    pub configmap_bytes: usize,
    pub custom_resources: Repeated,
    pub configmaps: Repeated,
    /// Per round: ConfigMap creates/s over custom resource creates/s.
    pub rate_ratio: Option<Spread>,
    /// Per round: server CPU per custom resource over server CPU per ConfigMap.
    pub server_cpu_ratio: Option<Spread>,
    /// Seconds from the CRD's DELETE until a GET answered 404 (None: not within --crd-wait).
    pub crd_deleted_after_s: Option<f64>,
}

impl CrdResult {
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "crd: {} ({} spec fields) Established {} after its POST, served {}; {} objects per round, custom resources of {} bytes, ConfigMaps of {} bytes; median (range) of {} rounds",
            self.crd,
            self.spec_fields,
            fmt_ms(self.established_ms),
            fmt_ms(self.served_ms),
            self.objects_per_round,
            self.custom_resource_bytes,
            self.configmap_bytes,
            self.rounds,
        )];
        out.push(self.custom_resources.line());
        out.push(self.configmaps.line());
        out.push(format!(
            "crd ratio (custom resource / ConfigMap): time per create {}  server cpu-s per create {}",
            ratio_text(&self.rate_ratio),
            ratio_text(&self.server_cpu_ratio),
        ));
        out.push(match self.crd_deleted_after_s {
            Some(s) => format!("crd: CRD deleted; gone {s:.2}s after its DELETE"),
            None => "crd: CRD deleted; still terminating at the end of --crd-wait".into(),
        });
        out
    }
}

fn s(max_len: usize, pattern: &str) -> Value {
    json!({"type": "string", "maxLength": max_len, "pattern": pattern})
}

fn en(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn int(min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn quantities() -> Value {
    json!({
        "type": "object",
        "properties": {
            "cpu": s(16, "^[0-9]+m?$"),
            "memory": s(16, "^[0-9]+(Ki|Mi|Gi)?$"),
        },
    })
}

/// The 30 properties of `spec`.
fn spec_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name", "tier", "replicas"],
        "properties": {
            "name": s(63, "^[a-z][a-z0-9-]*[a-z0-9]$"),
            "tier": en(&["bronze", "silver", "gold", "platinum"]),
            "region": s(32, "^[a-z]{2}-[a-z]+-[0-9]$"),
            "owner": {"type": "string", "minLength": 1, "maxLength": 128},
            "email": {"type": "string", "format": "email"},
            "image": s(256, "^[a-z0-9.-]+(/[a-z0-9._-]+)+:[A-Za-z0-9._-]+$"),
            "version": s(32, r"^v[0-9]+\.[0-9]+\.[0-9]+$"),
            "protocol": en(&["TCP", "UDP", "SCTP"]),
            "logLevel": en(&["debug", "info", "warn", "error"]),
            "description": {"type": "string", "maxLength": 1024},
            "replicas": int(0, 1000),
            "port": int(1, 65535),
            "timeoutSeconds": int(1, 3600),
            "retries": int(0, 10),
            "priority": int(-100, 100),
            "weight": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 1000},
            "cpuMillis": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 64000},
            "memoryMiB": int(16, 1 << 20),
            "enabled": boolean(),
            "debug": boolean(),
            "readOnly": boolean(),
            "preemptible": boolean(),
            "ratio": {"type": "number", "minimum": 0, "maximum": 1},
            "maxSurge": {"x-kubernetes-int-or-string": true},
            "resources": {
                "type": "object",
                "required": ["limits"],
                "properties": {"limits": quantities(), "requests": quantities()},
            },
            "ports": {
                "type": "array",
                "maxItems": 64,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {
                    "type": "object",
                    "required": ["name", "containerPort"],
                    "properties": {
                        "name": s(15, "^[a-z][a-z0-9-]*$"),
                        "containerPort": int(1, 65535),
                        "protocol": en(&["TCP", "UDP", "SCTP"]),
                    },
                },
            },
            "tags": {
                "type": "array",
                "maxItems": 32,
                "x-kubernetes-list-type": "set",
                "items": s(63, "^[a-z0-9-]+$"),
            },
            "labels": {
                "type": "object",
                "maxProperties": 32,
                "additionalProperties": {"type": "string", "maxLength": 63},
            },
            "startTime": {"type": "string", "format": "date-time"},
            "uid": {"type": "string", "format": "uuid"},
        },
    })
}

fn crd_body(group: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{PLURAL}.{group}"), "labels": {"app": "corral-bench"}},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "plural": PLURAL,
                "singular": "benchwidget",
                "kind": KIND,
                "listKind": format!("{KIND}List"),
            },
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": spec_schema(),
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    },
                }},
            }],
        },
    })
}

/// Every field of the schema set, varying with `i`.
fn spec_value(i: usize) -> Value {
    let tiers = ["bronze", "silver", "gold", "platinum"];
    let regions = ["eu-west-1", "us-east-2", "ap-south-1"];
    let protocols = ["TCP", "UDP", "SCTP"];
    let levels = ["debug", "info", "warn", "error"];
    json!({
        "name": format!("widget-{i:05}"),
        "tier": tiers[i % 4],
        "region": regions[i % 3],
        "owner": format!("team-{:03}", i % 100),
        "email": format!("owner{i:05}@example.com"),
        "image": format!("registry.example.com/bench/widget:v1.{}.{}", i % 10, i % 7),
        "version": format!("v1.{}.{}", i % 20, i % 13),
        "protocol": protocols[i % 3],
        "logLevel": levels[i % 4],
        "description": format!("Widget {i:05}, made by corral-bench to measure creates against a structural schema."),
        "replicas": i % 1000,
        "port": 1024 + i % 60000,
        "timeoutSeconds": 1 + i % 3600,
        "retries": i % 11,
        "priority": (i % 201) as i64 - 100,
        "weight": i % 1001,
        "cpuMillis": 100 + i % 4000,
        "memoryMiB": 128 + i % 16384,
        "enabled": i % 2 == 0,
        "debug": i % 3 == 0,
        "readOnly": i % 5 == 0,
        "preemptible": i % 7 == 0,
        "ratio": (i % 100) as f64 / 100.0,
        "maxSurge": if i % 2 == 0 { json!(i % 10) } else { json!(format!("{}%", i % 100)) },
        "resources": {
            "limits": {"cpu": "2", "memory": "4Gi"},
            "requests": {"cpu": "500m", "memory": "1Gi"},
        },
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ],
        "tags": ["bench", "widget", format!("shard-{}", i % 16)],
        "labels": {"app": "widget", "shard": format!("{}", i % 16)},
        "startTime": "2026-01-01T00:00:00Z",
        "uid": format!("{i:08x}-0000-4000-8000-{i:012x}"),
    })
}

fn custom_resource(group: &str, ns: &str, name: &str, i: usize) -> Bytes {
    let v = json!({
        "apiVersion": format!("{group}/{VERSION}"),
        "kind": KIND,
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "corral-bench"}},
        "spec": spec_value(i),
    });
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

/// A ConfigMap carrying the same 30 fields as strings, padded to `size` bytes.
fn configmap_of_size(ns: &str, name: &str, i: usize, size: usize) -> Bytes {
    let mut data = serde_json::Map::new();
    if let Value::Object(spec) = spec_value(i) {
        for (k, v) in spec {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            data.insert(k, Value::String(text));
        }
    }
    let build = |data: &serde_json::Map<String, Value>| {
        serde_json::to_vec(&json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": "corral-bench"}},
            "data": data,
        }))
        .unwrap_or_default()
    };
    let base = build(&data).len();
    if size >= base + 9 {
        // `,"pad":"…"` adds 9 bytes plus the padding.
        data.insert("pad".into(), Value::String("x".repeat(size - base - 9)));
    } else if let Some(Value::String(d)) = data.get_mut("description") {
        // Quoted numbers and escaped nested JSON make it larger: shorten the text.
        d.truncate(d.len().saturating_sub(base.saturating_sub(size)));
    }
    Bytes::from(build(&data))
}

pub(super) fn condition_true(obj: &Value, kind: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == kind && c["status"] == "True")
        })
}

/// Poll `path` every few milliseconds until `done` holds for the response.
pub(super) async fn poll(
    conn: &mut crate::transport::Conn,
    path: &str,
    deadline: Instant,
    done: impl Fn(&crate::transport::Resp) -> bool,
) -> Result<()> {
    loop {
        let r = conn.request(Method::GET, path, None).await?;
        if done(&r) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "GET {path}: condition not met in time; last: {}",
                r.error_message()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn crd(ctx: &Ctx) -> Result<CrdResult> {
    let a = &ctx.args;
    let n = a.crd_objects;
    let rounds = a.rounds.max(1);
    let wait = Duration::from_secs_f64(a.crd_wait.max(1.0));
    let group = format!("b{}.corral-bench.example.com", random_suffix(8));
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
    let established_ms = t0.elapsed().as_secs_f64() * 1e3;
    let cr_path = format!("/apis/{group}/{VERSION}/namespaces/{}/{PLURAL}", ctx.ns);
    poll(&mut conn, &format!("{cr_path}?limit=1"), t0 + wait, |r| {
        r.is_success()
    })
    .await
    .context("waiting for the custom resources' endpoint")?;
    let served_ms = t0.elapsed().as_secs_f64() * 1e3;
    println!(
        "crd: {crd_name} Established after {}, served after {}",
        fmt_ms(established_ms),
        fmt_ms(served_ms)
    );

    let result = measure(ctx, &group, &cr_path, n, rounds).await;

    // Clean up whatever happened above.
    let t_del = Instant::now();
    let r = conn.request(Method::DELETE, &one, None).await?;
    if !r.is_success() {
        bail!("deleting CRD {crd_name}: {}", r.error_message());
    }
    let gone = poll(&mut conn, &one, t_del + wait, |r| {
        r.status == http::StatusCode::NOT_FOUND
    })
    .await
    .ok()
    .map(|()| t_del.elapsed().as_secs_f64());

    let (crs, cms, cr_bytes, cm_bytes) = result?;
    let (rate_ratio, server_cpu_ratio) = ratios(&crs, &cms);
    Ok(CrdResult {
        crd: crd_name,
        spec_fields: spec_schema()["properties"]
            .as_object()
            .map_or(0, |m| m.len()),
        established_ms,
        served_ms,
        objects_per_round: n,
        rounds,
        custom_resource_bytes: cr_bytes,
        configmap_bytes: cm_bytes,
        custom_resources: Repeated::new(format!("crd creates {KIND:<11}"), crs),
        configmaps: Repeated::new(format!("crd creates {:<11}", "ConfigMap"), cms),
        rate_ratio,
        server_cpu_ratio,
        crd_deleted_after_s: gone,
    })
}

type Measured = (Vec<OpsResult>, Vec<OpsResult>, usize, usize);

async fn measure(
    ctx: &Ctx,
    group: &str,
    cr_path: &str,
    n: usize,
    rounds: usize,
) -> Result<Measured> {
    let clients = ctx.args.concurrency.max(1);
    let cr_path: Arc<str> = Arc::from(cr_path);
    let cm_path: Arc<str> = Arc::from(ctx.cm_path());
    let (mut crs, mut cms) = (Vec::new(), Vec::new());
    let (mut cr_total, mut cm_total, mut count) = (0usize, 0usize, 0usize);
    for round in 0..rounds {
        // Bodies made beforehand, the same size for both kinds.
        let cr_bodies: Vec<Bytes> = (0..n)
            .map(|i| custom_resource(group, &ctx.ns, &format!("w{round}-{i:05}"), i))
            .collect();
        let cm_bodies: Vec<Bytes> = cr_bodies
            .iter()
            .enumerate()
            .map(|(i, b)| configmap_of_size(&ctx.ns, &format!("w{round}-{i:05}"), i, b.len()))
            .collect();
        cr_total += cr_bodies.iter().map(Bytes::len).sum::<usize>();
        cm_total += cm_bodies.iter().map(Bytes::len).sum::<usize>();
        count += n;
        let (cr_bodies, cm_bodies) = (Arc::new(cr_bodies), Arc::new(cm_bodies));
        // Alternate which kind goes first, so drift within a round cancels out.
        let mut pair = [None, None];
        for step in 0..2 {
            let custom = (step + round) % 2 == 0;
            let r = if custom {
                post_bodies(ctx, cr_path.clone(), cr_bodies.clone(), clients).await
            } else {
                post_bodies(ctx, cm_path.clone(), cm_bodies.clone(), clients).await
            };
            let name = if custom { KIND } else { "ConfigMap" };
            println!(
                "  round {}: {}",
                round + 1,
                r.line(&format!("creates {name}"))
            );
            if r.errors > 0 && r.ops == 0 {
                bail!(
                    "creating {name}s: {}",
                    r.first_errors.first().map(String::as_str).unwrap_or("?")
                );
            }
            pair[usize::from(!custom)] = Some(r);
        }
        let [Some(cr), Some(cm)] = pair else {
            bail!("round {round}: a measurement is missing");
        };
        crs.push(cr);
        cms.push(cm);
    }
    let mean = |t: usize| t.checked_div(count).unwrap_or(0);
    Ok((crs, cms, mean(cr_total), mean(cm_total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_has_thirty_fields_and_every_value_sets_them() {
        let schema = spec_schema();
        let props = schema["properties"].as_object().expect("properties");
        assert_eq!(props.len(), 30);
        for i in [0, 1, 7, 4999] {
            let v = spec_value(i);
            let fields = v.as_object().expect("object");
            let mut got: Vec<&String> = fields.keys().collect();
            let mut want: Vec<&String> = props.keys().collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "value {i}");
        }
    }

    #[test]
    fn configmap_matches_custom_resource_size() {
        for i in [0, 3, 12345] {
            let cr = custom_resource("b1.corral-bench.example.com", "ns", "w0-00001", i);
            let cm = configmap_of_size("ns", "w0-00001", i, cr.len());
            assert_eq!(cm.len(), cr.len(), "object {i}");
            let v: Value = serde_json::from_slice(&cm).expect("valid JSON");
            assert_eq!(v["data"]["tier"], spec_value(i)["tier"]);
        }
    }

    #[test]
    fn established_condition() {
        let v = json!({"status": {"conditions": [
            {"type": "NamesAccepted", "status": "True"},
            {"type": "Established", "status": "True"},
        ]}});
        assert!(condition_true(&v, "Established"));
        let v = json!({"status": {"conditions": [{"type": "Established", "status": "False"}]}});
        assert!(!condition_true(&v, "Established"));
        assert!(!condition_true(&json!({}), "Established"));
    }
}
