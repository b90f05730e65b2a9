//! The workload-patch phase: the writes a workload sees from kubectl and from
//! GitOps tools, on Deployments.
//!
//! - Strategic merge patches (`application/strategic-merge-patch+json`) on
//!   Deployments with --patch-containers containers, each changing one
//!   container's image by name as `kubectl set image` does; on one object from 1
//!   client, and spread over --patch-objects objects from as many clients. No
//!   resourceVersion is sent; a 409 is counted and retried.
//! - Server-side apply (`application/apply-patch+yaml`, fieldManager=bench,
//!   force=true) of a Deployment with --apply-items containers from 1 client:
//!   an unchanged re-apply, and an apply changing one container's image; against
//!   a plain update of the same object making the same change (PUT of the
//!   previous response with one image changed, so with its resourceVersion).
//!   Apply bodies are made beforehand; the PUT client decodes each response to
//!   make the next request, as a real one does.
//!
//! --patches requests per run, --rounds runs of each, rounds outermost.

use super::*;
use crate::util::random_suffix;

const MANAGER: &str = "bench";
const APPLY: &str = "application/apply-patch+yaml";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
/// The image every container starts with; changed ones get `img:v<n>`.
const BASE_IMAGE: &str = "img:base";

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadResult {
    pub patch_containers: usize,
    /// JSON size of one strategically patched Deployment as created.
    pub patch_object_bytes: usize,
    pub apply_containers: usize,
    /// JSON size of the applied configuration.
    pub apply_config_bytes: usize,
    pub rounds: usize,
    /// Strategic merge patches, then apply unchanged, apply 1 image, PUT 1 image.
    pub results: Vec<Repeated>,
    /// Per round, apply unchanged against PUT 1 image: time per operation and
    /// server CPU per operation.
    pub apply_unchanged_vs_put_time: Option<Spread>,
    pub apply_unchanged_vs_put_server_cpu: Option<Spread>,
    /// The same for apply 1 image against PUT 1 image.
    pub apply_change_vs_put_time: Option<Spread>,
    pub apply_change_vs_put_server_cpu: Option<Spread>,
}

impl WorkloadResult {
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "workload-patch: strategic merge on Deployments of {} containers ({} bytes), one image per patch; \
             apply (fieldManager={MANAGER}, force) vs PUT (resourceVersion) on a Deployment of {} containers \
             (configuration of {} bytes); median (range) of {} rounds",
            self.patch_containers,
            self.patch_object_bytes,
            self.apply_containers,
            self.apply_config_bytes,
            self.rounds
        )];
        out.extend(self.results.iter().map(Repeated::line));
        for (what, time, cpu) in [
            (
                "apply unchanged",
                &self.apply_unchanged_vs_put_time,
                &self.apply_unchanged_vs_put_server_cpu,
            ),
            (
                "apply 1 image",
                &self.apply_change_vs_put_time,
                &self.apply_change_vs_put_server_cpu,
            ),
        ] {
            out.push(format!(
                "workload ratio ({what} / put 1 image): time per op {}  server cpu-s per op {}",
                ratio_text(time),
                ratio_text(cpu),
            ));
        }
        out
    }
}

/// One measurement of the phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    /// Strategic merge patches over `objects` Deployments from `clients` workers.
    Strategic {
        objects: usize,
        clients: usize,
    },
    ApplyUnchanged,
    ApplyImage,
    PutImage,
}

impl Run {
    fn label(self) -> String {
        match self {
            Run::Strategic { objects, clients } => {
                format!("workload strategic objects {objects:>2} clients {clients:>2}")
            }
            Run::ApplyUnchanged => format!("{:<29} clients  1", "workload apply unchanged"),
            Run::ApplyImage => format!("{:<29} clients  1", "workload apply 1 image"),
            Run::PutImage => format!("{:<29} clients  1", "workload put 1 image (rv)"),
        }
    }
}

fn container_name(i: usize) -> String {
    format!("c{i}")
}

/// A Deployment whose container `i` is named `c<i>` and runs `images[i]`.
fn deployment(ns: &str, name: &str, images: &[String]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            json!({
                "name": container_name(i),
                "image": image,
                "env": [{"name": "INDEX", "value": i.to_string()}],
            })
        })
        .collect();
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "corral-bench"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": containers},
            },
        },
    })
}

fn base_images(containers: usize) -> Vec<String> {
    vec![BASE_IMAGE.to_string(); containers]
}

fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// What `kubectl set image deployment/x c17=img:v123` sends.
fn set_image_patch(container: usize, image: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"spec":{{"template":{{"spec":{{"containers":[{{"name":"{}","image":"{image}"}}]}}}}}}}}"#,
        container_name(container)
    ))
}

/// The image operation `op` of a run starting at `n0` sets (unique over the phase).
fn image(n0: usize, op: usize) -> String {
    format!("img:v{}", n0 + op)
}

/// The `count` configurations applied one after the other from the base state:
/// configuration `op` sets container `op % containers` to `image(n0, op)` and
/// keeps every earlier change, so each differs from the stored object by one image.
fn apply_bodies(ns: &str, name: &str, containers: usize, n0: usize, count: usize) -> Vec<Bytes> {
    let mut images = base_images(containers);
    (0..count)
        .map(|op| {
            images[op % containers.max(1)] = image(n0, op);
            to_bytes(&deployment(ns, name, &images))
        })
        .collect()
}

/// Set the image of the container named `c<container>`; false if there is none.
fn set_image(obj: &mut Value, container: usize, image: String) -> bool {
    let name = container_name(container);
    obj.pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
        .and_then(|cs| cs.iter_mut().find(|c| c["name"] == name.as_str()))
        .and_then(Value::as_object_mut)
        .map(|c| c.insert("image".into(), Value::String(image)))
        .is_some()
}

async fn get_object(conn: &mut crate::transport::Conn, path: &str) -> Result<Value> {
    let r = conn.request(Method::GET, path, None).await?;
    if !r.is_success() {
        bail!("GET {path}: {}", r.error_message());
    }
    serde_json::from_slice(&r.body).with_context(|| format!("GET {path}: response is not JSON"))
}

async fn apply_once(ctx: &Ctx, path: &str, body: Bytes) -> Result<()> {
    let r = ctx
        .target
        .conn()
        .request_typed(Method::PATCH, path, Some(body), APPLY)
        .await?;
    if !r.is_success() {
        bail!("apply {path}: {}", r.error_message());
    }
    Ok(())
}

/// --patches PUTs from one client: each sends the previous response with the
/// image of container `op % containers` changed to `image(n0, op)`.
async fn put_run(ctx: &Ctx, path: &str, containers: usize, n0: usize) -> Result<OpsResult> {
    let mut conn = ctx.target.conn();
    let mut obj = get_object(&mut conn, path).await?;
    let probe = Probe::start(ctx.args.server_pid);
    let errors = Errors::default();
    let deadline = ctx.phase_deadline();
    let mut h = new_hist();
    let t0 = Instant::now();
    for op in 0..ctx.args.patches {
        if Instant::now() >= deadline || errors.count() >= ctx.args.max_errors {
            break;
        }
        if !set_image(&mut obj, op % containers.max(1), image(n0, op)) {
            bail!("GET {path}: not a Deployment with {containers} containers");
        }
        let body = to_bytes(&obj);
        let t = Instant::now();
        match conn.request(Method::PUT, path, Some(body)).await {
            Ok(r) if r.is_success() => {
                record_us(&mut h, t.elapsed().as_micros() as u64);
                obj = serde_json::from_slice(&r.body)
                    .with_context(|| format!("PUT {path}: response is not JSON"))?;
            }
            Ok(r) => {
                errors.record(format!("PUT {path}: {}", r.error_message()));
                obj = get_object(&mut conn, path).await?;
            }
            Err(e) => errors.record(format!("{e:#}")),
        }
    }
    let elapsed = t0.elapsed();
    Ok(OpsResult::build(
        vec![h],
        elapsed,
        &errors,
        probe.finish(),
        None,
    ))
}

pub async fn workload(ctx: &Ctx) -> Result<WorkloadResult> {
    let a = &ctx.args;
    let patch_containers = a.patch_containers.max(1);
    let apply_containers = a.apply_items.max(1);
    let objects = a.patch_objects.max(1);
    let rounds = a.rounds.max(1);
    let base = format!("/apis/apps/v1/namespaces/{}/deployments", ctx.ns);
    let suffix = random_suffix(4);

    // Setup (not measured): the patched Deployments by POST, the applied one by apply.
    let mut conn = ctx.target.conn();
    let names: Vec<String> = (0..objects)
        .map(|i| format!("smp-{suffix}-{i:03}"))
        .collect();
    let mut patch_object_bytes = 0;
    for name in &names {
        let body = to_bytes(&deployment(&ctx.ns, name, &base_images(patch_containers)));
        patch_object_bytes = body.len();
        let r = conn.request(Method::POST, &base, Some(body)).await?;
        if !r.is_success() {
            bail!("creating Deployment {name}: {}", r.error_message());
        }
    }
    let paths: Vec<String> = names.iter().map(|n| format!("{base}/{n}")).collect();
    let applied = format!("apply-{suffix}");
    let put_path = format!("{base}/{applied}");
    let apply_path = format!("{put_path}?fieldManager={MANAGER}&force=true");
    let config = to_bytes(&deployment(
        &ctx.ns,
        &applied,
        &base_images(apply_containers),
    ));
    apply_once(ctx, &apply_path, config.clone()).await?;

    let mut runs = vec![Run::Strategic {
        objects: 1,
        clients: 1,
    }];
    if objects > 1 {
        runs.push(Run::Strategic {
            objects,
            clients: objects,
        });
    }
    runs.extend([Run::ApplyUnchanged, Run::ApplyImage, Run::PutImage]);
    println!(
        "workload-patch: {objects} Deployment(s) of {patch_containers} containers ({patch_object_bytes} bytes), \
         1 of {apply_containers} applied ({} bytes); {} measurements x {rounds} rounds of {} requests",
        config.len(),
        runs.len(),
        a.patches
    );
    let labels: Vec<String> = runs.iter().map(|r| r.label()).collect();
    let (runs, paths, config) = (&runs, &paths, &config);
    let (apply_path, put_path, applied) = (&apply_path, &put_path, &applied);
    let results = measure_rounds(rounds, &labels, |round, i| {
        // Images unique over the whole phase, so every change is a real write.
        let n0 = (round * runs.len() + i) * a.patches;
        let run = runs[i];
        async move {
            match run {
                Run::Strategic { objects, clients } => {
                    let paths = Arc::new(paths[..objects].to_vec());
                    Ok(patch_loop(
                        ctx,
                        paths,
                        clients,
                        STRATEGIC,
                        0x5e7_1a6e,
                        move |rng, op| {
                            set_image_patch(rng.random_range(0..patch_containers), &image(n0, op))
                        },
                    )
                    .await)
                }
                Run::ApplyUnchanged | Run::ApplyImage => {
                    // Back to the base configuration (not measured): PUTs of the
                    // previous round changed images, and the changing applies
                    // start from the base.
                    apply_once(ctx, apply_path, config.clone()).await?;
                    let bodies: Arc<Vec<Bytes>> = Arc::new(if run == Run::ApplyUnchanged {
                        vec![config.clone()]
                    } else {
                        apply_bodies(&ctx.ns, applied, apply_containers, n0, a.patches)
                    });
                    let paths = Arc::new(vec![apply_path.clone()]);
                    Ok(patch_loop(ctx, paths, 1, APPLY, 0, move |_, op| {
                        bodies[op % bodies.len()].clone()
                    })
                    .await)
                }
                Run::PutImage => put_run(ctx, put_path, apply_containers, n0).await,
            }
        }
    })
    .await?;

    let runs_of = |r: Run| {
        results
            .iter()
            .find(|x| x.label == r.label())
            .map(|x| x.runs.as_slice())
            .unwrap_or_default()
    };
    let put = runs_of(Run::PutImage);
    let (unchanged_time, unchanged_cpu) = ratios(runs_of(Run::ApplyUnchanged), put);
    let (change_time, change_cpu) = ratios(runs_of(Run::ApplyImage), put);
    Ok(WorkloadResult {
        patch_containers,
        patch_object_bytes,
        apply_containers,
        apply_config_bytes: config.len(),
        rounds,
        results,
        apply_unchanged_vs_put_time: unchanged_time,
        apply_unchanged_vs_put_server_cpu: unchanged_cpu,
        apply_change_vs_put_time: change_time,
        apply_change_vs_put_server_cpu: change_cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images_of(body: &[u8]) -> Vec<String> {
        let v: Value = serde_json::from_slice(body).expect("JSON");
        v["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .map(|c| c["image"].as_str().expect("image").to_string())
            .collect()
    }

    #[test]
    fn deployment_has_named_containers() {
        let d = deployment("ns", "d", &base_images(50));
        let cs = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("containers");
        assert_eq!(cs.len(), 50);
        assert_eq!(cs[17]["name"], "c17");
        assert_eq!(cs[17]["image"], BASE_IMAGE);
        assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "d");
        assert_eq!(d["spec"]["template"]["metadata"]["labels"]["app"], "d");
    }

    #[test]
    fn set_image_patch_is_what_kubectl_sends() {
        assert_eq!(
            set_image_patch(17, &image(100, 23)),
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"c17","image":"img:v123"}]}}}}"#
        );
    }

    #[test]
    fn each_apply_changes_one_image() {
        let bodies = apply_bodies("ns", "d", 3, 10, 5);
        assert_eq!(bodies.len(), 5);
        let mut prev = base_images(3);
        for (op, b) in bodies.iter().enumerate() {
            let now = images_of(b);
            let changed: Vec<usize> = (0..3).filter(|&i| now[i] != prev[i]).collect();
            assert_eq!(changed, vec![op % 3], "op {op}");
            assert_eq!(now[op % 3], image(10, op));
            prev = now;
        }
    }

    #[test]
    fn set_image_finds_the_container_by_name() {
        let mut d = deployment("ns", "d", &base_images(3));
        // Out of order, as nothing promises the order is kept.
        d["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .expect("containers")
            .swap(0, 2);
        assert!(set_image(&mut d, 0, "img:v1".into()));
        let cs = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs[2]["name"], "c0");
        assert_eq!(cs[2]["image"], "img:v1");
        assert_eq!(cs[0]["image"], BASE_IMAGE);
        assert!(!set_image(&mut d, 3, "img:v2".into()));
        assert!(!set_image(&mut json!({"spec": {}}), 0, "img:v3".into()));
    }

    #[test]
    fn labels_line_up() {
        let labels: Vec<String> = [
            Run::Strategic {
                objects: 1,
                clients: 1,
            },
            Run::Strategic {
                objects: 32,
                clients: 32,
            },
            Run::ApplyUnchanged,
            Run::ApplyImage,
            Run::PutImage,
        ]
        .iter()
        .map(|r| r.label())
        .collect();
        assert!(
            labels.iter().all(|l| l.len() == labels[0].len()),
            "{labels:?}"
        );
    }
}
