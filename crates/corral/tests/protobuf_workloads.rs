//! kubectl's typed generators send their objects as protobuf
//! (`application/vnd.kubernetes.protobuf`): `kubectl create deployment`,
//! `create job`, `create cronjob`, `create service`, `create quota`,
//! `create pdb`, `create priorityclass`, `create ingress` (kubectl 1.37's
//! `expose` sends JSON; it is checked here as the natural next step). These
//! end to end tests run real kubectl against a corral server and check what
//! `kubectl get -o json` shows afterwards: the decoded fields plus the
//! usual defaulting.

mod support;

use serde_json::{Value, json};
use support::TestServer;

fn get(s: &TestServer, kind: &str, name: &str) -> Value {
    s.json(&["get", kind, name, "-n", "default", "-o", "json"])
}

/// The container defaults every pod template gets.
fn assert_container_defaults(c: &Value) {
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log", "{c}");
    assert_eq!(c["terminationMessagePolicy"], "File", "{c}");
    assert_eq!(c["resources"], json!({}), "{c}");
}

#[test]
fn kubectl_create_deployments() {
    let s = TestServer::start();
    s.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
        "-n",
        "default",
    ]);
    let d = get(&s, "deployment", "web");
    assert_eq!(d["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(
        d["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    let template = &d["spec"]["template"];
    assert_eq!(template["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(template["spec"]["restartPolicy"], "Always");
    assert_eq!(template["spec"]["dnsPolicy"], "ClusterFirst");
    let c = &template["spec"]["containers"][0];
    assert_eq!(c["name"], "nginx");
    assert_eq!(c["image"], "nginx");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_container_defaults(c);

    s.ok(&[
        "create",
        "deployment",
        "d",
        "--image=a",
        "--image=b:1",
        "--port=80",
        "-n",
        "default",
    ]);
    let d = get(&s, "deployment", "d");
    assert_eq!(d["spec"]["replicas"], 1);
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .clone();
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0]["name"], "a");
    assert_eq!(
        containers[0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(containers[1]["name"], "b");
    assert_eq!(containers[1]["imagePullPolicy"], "IfNotPresent");
    assert!(containers[1].get("ports").is_none(), "{}", containers[1]);

    // The deployment created from protobuf exposes as a Service.
    s.ok(&["expose", "deployment", "web", "--port=80", "-n", "default"]);
    let svc = get(&s, "service", "web");
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"port": 80, "protocol": "TCP", "targetPort": 80}])
    );
}

#[test]
fn kubectl_create_jobs_and_cronjobs() {
    let s = TestServer::start();
    s.ok(&[
        "create",
        "job",
        "j",
        "--image=busybox",
        "-n",
        "default",
        "--",
        "echo",
        "hi",
    ]);
    let job = get(&s, "job", "j");
    let spec = &job["spec"];
    assert_eq!(spec["backoffLimit"], 6);
    assert_eq!(spec["completions"], 1);
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["completionMode"], "NonIndexed");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["containers"][0]["command"], json!(["echo", "hi"]));
    assert_eq!(pod["containers"][0]["image"], "busybox");
    assert_container_defaults(&pod["containers"][0]);

    s.ok(&[
        "create",
        "cronjob",
        "c",
        "--image=busybox",
        "--schedule=*/1 * * * *",
        "-n",
        "default",
    ]);
    let cj = get(&s, "cronjob", "c");
    assert_eq!(cj["spec"]["schedule"], "*/1 * * * *");
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(cj["spec"]["suspend"], false);
    assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
    assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
    let pod = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "OnFailure");
    assert_eq!(pod["containers"][0]["name"], "c");
    assert_container_defaults(&pod["containers"][0]);
}

#[test]
fn kubectl_create_services() {
    let s = TestServer::start();
    s.ok(&[
        "create",
        "service",
        "clusterip",
        "s",
        "--tcp=80:8080",
        "-n",
        "default",
    ]);
    let svc = get(&s, "service", "s");
    assert_eq!(svc["metadata"]["labels"], json!({"app": "s"}));
    assert_eq!(svc["spec"]["selector"], json!({"app": "s"}));
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
    assert_eq!(svc["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(svc["status"], json!({"loadBalancer": {}}));
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}])
    );

    s.ok(&[
        "create",
        "service",
        "nodeport",
        "np",
        "--tcp=80:8080",
        "--node-port=30080",
        "-n",
        "default",
    ]);
    let svc = get(&s, "service", "np");
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30080);

    s.ok(&[
        "create",
        "service",
        "externalname",
        "en",
        "--external-name=example.com",
        "-n",
        "default",
    ]);
    let svc = get(&s, "service", "en");
    assert_eq!(svc["spec"]["type"], "ExternalName");
    assert_eq!(svc["spec"]["externalName"], "example.com");
}

#[test]
fn kubectl_create_quota_pdb_priorityclass_ingress() {
    let s = TestServer::start();
    s.ok(&[
        "create",
        "quota",
        "q",
        "--hard=pods=2,requests.cpu=500m",
        "-n",
        "default",
    ]);
    let q = get(&s, "quota", "q");
    assert_eq!(
        q["spec"]["hard"],
        json!({"pods": "2", "requests.cpu": "500m"})
    );

    s.ok(&[
        "create",
        "pdb",
        "pdb",
        "--selector=app=x",
        "--min-available=50%",
        "-n",
        "default",
    ]);
    let pdb = get(&s, "pdb", "pdb");
    assert_eq!(pdb["spec"]["minAvailable"], "50%");
    assert_eq!(
        pdb["spec"]["selector"],
        json!({"matchLabels": {"app": "x"}})
    );

    s.ok(&[
        "create",
        "priorityclass",
        "pc",
        "--value=10",
        "--description=hi",
    ]);
    let pc = s.json(&["get", "priorityclass", "pc", "-o", "json"]);
    assert_eq!(pc["value"], 10);
    assert_eq!(pc["description"], "hi");

    s.ok(&[
        "create",
        "ingress",
        "ing",
        "--class=nginx",
        "--rule=foo.com/bar*=svc1:8080,tls=my-cert",
        "-n",
        "default",
    ]);
    let ing = get(&s, "ingress", "ing");
    assert_eq!(ing["spec"]["ingressClassName"], "nginx");
    assert_eq!(
        ing["spec"]["rules"],
        json!([{"host": "foo.com", "http": {"paths": [{
            "path": "/bar",
            "pathType": "Prefix",
            "backend": {"service": {"name": "svc1", "port": {"number": 8080}}}
        }]}}])
    );
    assert_eq!(
        ing["spec"]["tls"],
        json!([{"hosts": ["foo.com"], "secretName": "my-cert"}])
    );
}
