//! kubectl end-to-end tests of the workload types beyond defaulting
//! (`workloads_defaults.rs`): validation and immutable fields, `kubectl
//! scale`, the `-o wide` columns, strategic merge patches of pod templates
//! and client-side apply, Service IP and node-port allocation.

mod support;

use serde_json::json;
use support::TestServer;
use support::workloads::{DEPLOYMENT, get};

#[test]
fn validation_and_immutable_fields() {
    let s = TestServer::start();
    s.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);

    // The selector of an apps/v1 Deployment never changes.
    let err = s.fails(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}"#,
    ]);
    assert!(
        err.contains("spec.selector: Invalid value:") && err.contains("field is immutable"),
        "{err}"
    );

    // The selector must match the template's labels.
    let bad = DEPLOYMENT
        .replace("name: web", "name: bad")
        .replace("labels: {app: web}", "labels: {app: nope}");
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.template.metadata.labels: Invalid value:")
            && err.contains("`selector` does not match template `labels`"),
        "{err}"
    );

    // Pods need containers with images.
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: empty, namespace: default}\nspec:\n  containers: [{name: c}]\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.containers[0].image: Required value"),
        "{err}"
    );

    // A Job's pods must not restart in place.
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: default}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: busybox}]\n";
    let out = s.kubectl_stdin(&["apply", "-f", "-"], job);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            r#"spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never""#
        ),
        "{err}"
    );

    // A Job's template is immutable.
    let job = job.replace(
        "    spec:\n      containers",
        "    spec:\n      restartPolicy: Never\n      containers",
    );
    s.ok_stdin(&["apply", "-f", "-"], &job);
    let err = s.fails(&["set", "image", "job/j", "-n", "default", "c=busybox:1.37"]);
    assert!(
        err.contains("spec.template: Invalid value:") && err.contains("field is immutable"),
        "{err}"
    );

    // Headless services need no ports; others do.
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Service\nmetadata: {name: noports, namespace: default}\nspec:\n  selector: {a: b}\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.ports: Required value"), "{err}");

    // Service names are DNS-1035 labels.
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Service\nmetadata: {name: 1web, namespace: default}\nspec:\n  ports: [{port: 80}]\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a DNS-1035 label must consist of"), "{err}");

    // A Pod's spec only changes in its images.
    s.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers: [{name: c, image: nginx}]\n",
    );
    s.ok(&["set", "image", "pod/p", "-n", "default", "c=nginx:1.27"]);
    let err = s.fails(&[
        "patch",
        "pod",
        "p",
        "-n",
        "default",
        "-p",
        r#"{"spec":{"restartPolicy":"Never"}}"#,
    ]);
    assert!(
        err.contains("spec: Forbidden: pod updates may not change fields other than"),
        "{err}"
    );
}

#[test]
fn kubectl_scale_uses_the_scale_subresource() {
    let s = TestServer::start();
    s.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    let out = s.ok(&["scale", "deploy/web", "-n", "default", "--replicas=3"]);
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    let d = get(&s, "deploy/web");
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["generation"], 2, "a scale is a spec change");

    let scale = s.json(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
    ]);
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=web");

    // --current-replicas is a precondition.
    let err = s.fails(&[
        "scale",
        "deploy/web",
        "-n",
        "default",
        "--current-replicas=1",
        "--replicas=5",
    ]);
    assert!(err.contains("xpected"), "{err}");
    assert_eq!(get(&s, "deploy/web")["spec"]["replicas"], 3);

    let err = s.fails(&["scale", "deploy/web", "-n", "default", "--replicas=-1"]);
    assert!(!err.is_empty());

    // StatefulSets and ReplicaSets scale too; DaemonSets have no scale.
    let sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: default}\nspec:\n  serviceName: db\n  selector:\n    matchLabels: {app: db}\n  template:\n    metadata:\n      labels: {app: db}\n    spec:\n      containers: [{name: c, image: postgres}]\n";
    s.ok_stdin(&["apply", "-f", "-"], sts);
    s.ok(&["scale", "sts/db", "-n", "default", "--replicas=2"]);
    assert_eq!(get(&s, "sts/db")["spec"]["replicas"], 2);
    let ds = sts
        .replace("StatefulSet", "DaemonSet")
        .replace("  serviceName: db\n", "");
    s.ok_stdin(&["apply", "-f", "-"], &ds);
    s.fails(&["scale", "ds/db", "-n", "default", "--replicas=2"]);
}

const SEL: &str = "  selector:\n    matchLabels: {app: x}\n";
const TPL: &str = "  template:\n    metadata:\n      labels: {app: x}\n    spec:\n      containers: [{name: c, image: nginx}]\n";

fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn get_columns_match_upstream() {
    let s = TestServer::start();
    let manifest = format!(
        "{DEPLOYMENT}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: default}}\nspec:\n  containers: [{{name: c, image: nginx}}]\n\
---\napiVersion: v1\nkind: Service\nmetadata: {{name: np, namespace: default}}\nspec:\n  type: NodePort\n  selector: {{app: web}}\n  ports: [{{port: 80, nodePort: 30080}}]\n\
---\napiVersion: v1\nkind: Node\nmetadata: {{name: n1}}\nstatus:\n  nodeInfo: {{kubeletVersion: v1.35.0}}\n\
---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: rs, namespace: default}}\nspec:\n{SEL}{TPL}\
---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: sts, namespace: default}}\nspec:\n{SEL}{TPL}\
---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: ds, namespace: default}}\nspec:\n{SEL}{TPL}\
---\napiVersion: batch/v1\nkind: Job\nmetadata: {{name: job, namespace: default}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: busybox}}]\n\
---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: cj, namespace: default}}\nspec:\n  schedule: \"@hourly\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{{name: c, image: busybox}}]\n\
---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: ing, namespace: default}}\nspec:\n  defaultBackend: {{service: {{name: np, port: {{number: 80}}}}}}\n\
---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: data, namespace: default}}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n\
---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: pv1}}\nspec:\n  capacity: {{storage: 5Gi}}\n  accessModes: [ReadWriteOnce]\n  hostPath: {{path: /tmp/pv1}}\n\
---\napiVersion: v1\nkind: ResourceQuota\nmetadata: {{name: q, namespace: default}}\nspec:\n  hard: {{pods: \"10\"}}\n"
    );
    s.ok_stdin(&["apply", "-f", "-"], &manifest);
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["get", "pods", "-o", "wide"],
            &[
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NODE",
                "NOMINATED NODE",
                "READINESS GATES",
            ],
        ),
        (
            &["get", "pods"],
            &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        ),
        (
            &["get", "deploy"],
            &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        ),
        (
            &["get", "deploy", "-o", "wide"],
            &[
                "NAME",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR",
            ],
        ),
        (
            &["get", "svc", "-o", "wide"],
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
                "SELECTOR",
            ],
        ),
        (
            &["get", "rs", "-o", "wide"],
            &[
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR",
            ],
        ),
        (
            &["get", "sts", "-o", "wide"],
            &["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"],
        ),
        (
            &["get", "ds"],
            &[
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE",
            ],
        ),
        (
            &["get", "jobs", "-o", "wide"],
            &[
                "NAME",
                "STATUS",
                "COMPLETIONS",
                "DURATION",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR",
            ],
        ),
        (
            &["get", "cronjobs"],
            &[
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE",
            ],
        ),
        (
            &["get", "ing"],
            &["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        ),
        (
            &["get", "pvc", "-o", "wide"],
            &[
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "AGE",
                "VOLUMEMODE",
            ],
        ),
        (
            &["get", "pv"],
            &[
                "NAME",
                "CAPACITY",
                "ACCESS MODES",
                "RECLAIM POLICY",
                "STATUS",
                "CLAIM",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "REASON",
                "AGE",
            ],
        ),
        // AGE moved last in kubernetes/kubernetes#129419.
        (&["get", "quota"], &["NAME", "REQUEST", "LIMIT", "AGE"]),
        (
            &["get", "nodes", "-o", "wide"],
            &[
                "NAME",
                "STATUS",
                "ROLES",
                "AGE",
                "VERSION",
                "INTERNAL-IP",
                "EXTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CONTAINER-RUNTIME",
            ],
        ),
    ];
    for (args, want) in cases {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["-n", "default"]);
        let text = s.ok(&full);
        assert_eq!(header(&text), *want, "{args:?}:\n{text}");
    }

    let pods = s.ok(&["get", "pods", "-n", "default", "-o", "wide"]);
    let row: Vec<&str> = pods
        .lines()
        .nth(1)
        .expect("row")
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["p", "0/1", "Pending", "0"], "{pods}");
    assert_eq!(row[5..], ["<none>", "<none>", "<none>", "<none>"], "{pods}");

    let deploy = s.ok(&["get", "deploy", "-n", "default", "-o", "wide"]);
    let row: Vec<&str> = deploy
        .lines()
        .nth(1)
        .expect("row")
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["web", "0/1", "0", "0"], "{deploy}");
    assert_eq!(
        row[5..],
        ["nginx,side", "nginx,busybox:1.36", "app=web"],
        "{deploy}"
    );

    let svc = s.ok(&["get", "svc", "np", "-n", "default", "-o", "wide"]);
    let row: Vec<&str> = svc
        .lines()
        .nth(1)
        .expect("row")
        .split_whitespace()
        .collect();
    assert_eq!(row[1], "NodePort", "{svc}");
    assert_eq!(row[4], "80:30080/TCP", "{svc}");
    assert_eq!(row[6], "app=web", "{svc}");

    let nodes = s.ok(&["get", "nodes"]);
    let row: Vec<&str> = nodes
        .lines()
        .nth(1)
        .expect("row")
        .split_whitespace()
        .collect();
    assert_eq!(row[..3], ["n1", "Unknown", "<none>"], "{nodes}");
    assert_eq!(row[4], "v1.35.0", "{nodes}");
}

fn images(s: &TestServer) -> Vec<(String, String)> {
    let d = get(s, "deploy/web");
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["image"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn strategic_patch_and_apply_merge_containers_by_name() {
    let s = TestServer::start();
    s.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);

    // A strategic merge patch naming one container changes only that one.
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "default",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.37","env":[{"name":"A","value":"1"}]}]}}}}"#,
    ]);
    assert_eq!(
        images(&s),
        pairs(&[("nginx", "nginx"), ("side", "busybox:1.37")])
    );
    // Adding a container by name appends it; ports merge by containerPort.
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "default",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"extra","image":"redis"},{"name":"nginx","ports":[{"containerPort":443}]}]}}}}"#,
    ]);
    let d = get(&s, "deploy/web");
    let container = |name: &str| {
        d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no container {name}: {d}"))
    };
    let nginx = container("nginx");
    let mut ports: Vec<i64> = nginx["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter_map(|p| p["containerPort"].as_i64())
        .collect();
    ports.sort();
    assert_eq!(ports, vec![80, 443], "{nginx}");
    assert_eq!(nginx["image"], "nginx");
    assert_eq!(images(&s).len(), 3);
    assert_eq!(
        container("side")["env"],
        json!([{"name": "A", "value": "1"}])
    );

    // Client-side apply changing one image keeps the container the file
    // never mentioned, and the env someone else added.
    let changed = DEPLOYMENT.replace("image: nginx\n", "image: nginx:1.27\n");
    let out = s.ok_stdin(&["apply", "-f", "-"], &changed);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let got = images(&s);
    assert!(
        got.contains(&("nginx".into(), "nginx:1.27".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("side".into(), "busybox:1.36".into())),
        "{got:?}"
    );
    assert!(got.contains(&("extra".into(), "redis".into())), "{got:?}");
    let d = get(&s, "deploy/web");
    assert_eq!(d["metadata"]["generation"], 4);

    // $patch: delete removes one container.
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "default",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"extra","$patch":"delete"}]}}}}"#,
    ]);
    assert_eq!(images(&s).len(), 2);
}

/// Cluster IPs and node ports come from the configured ranges, are unique,
/// and are released when the Service goes.
#[test]
fn services_get_cluster_ips_and_node_ports_from_the_configured_ranges() {
    let s = TestServer::start_with(&[
        "--service-cidr",
        "10.123.0.0/28",
        "--service-node-port-range",
        "31000-31001",
    ]);
    let svc = |name: &str, extra: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n\
             spec:\n  selector: {{app: web}}\n  ports: [{{port: 80}}]\n{extra}"
        )
    };
    let mut ips = std::collections::BTreeSet::new();
    for i in 0..3 {
        s.ok_stdin(&["create", "-f", "-"], &svc(&format!("c{i}"), ""));
        let got = s.json(&[
            "get",
            "svc",
            &format!("c{i}"),
            "-n",
            "default",
            "-o",
            "json",
        ]);
        let ip = got["spec"]["clusterIP"]
            .as_str()
            .expect("a cluster IP")
            .to_string();
        assert!(ip.starts_with("10.123.0."), "{ip}");
        assert_eq!(got["spec"]["clusterIPs"], json!([ip.clone()]));
        assert!(ips.insert(ip), "addresses are unique");
    }
    // An address that is taken cannot be asked for.
    let taken = ips.iter().next().expect("ip").clone();
    let out = s.kubectl_stdin(
        &["create", "-f", "-"],
        &svc("dup", &format!("  clusterIP: {taken}\n")),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already allocated"), "{stderr}");
    // Node ports: both of the range, then the range is full.
    for name in ["np1", "np2"] {
        s.ok_stdin(&["create", "-f", "-"], &svc(name, "  type: NodePort\n"));
        let got = s.json(&["get", "svc", name, "-n", "default", "-o", "json"]);
        let port = got["spec"]["ports"][0]["nodePort"]
            .as_i64()
            .expect("a node port");
        assert!((31000..=31001).contains(&port), "{port}");
    }
    let out = s.kubectl_stdin(&["create", "-f", "-"], &svc("np3", "  type: NodePort\n"));
    assert!(!out.status.success(), "the node port range is full");
    // Deleting a Service frees its address and port for the next one.
    s.ok(&["delete", "svc", "np1", "-n", "default"]);
    s.ok_stdin(&["create", "-f", "-"], &svc("np3", "  type: NodePort\n"));
    s.ok(&["delete", "svc", "c0", "-n", "default"]);
    let first = s.json(&["get", "svc", "c1", "-n", "default", "-o", "json"]);
    assert!(first["spec"]["clusterIP"].is_string());
}
