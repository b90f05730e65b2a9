//! kubectl end-to-end tests of upstream's defaulting: what `kubectl get -o
//! yaml` shows after creating minimal objects of every workload type.

mod support;

use serde_json::{Value, json};
use support::TestServer;
use support::workloads::DEPLOYMENT;

/// The container defaults every pod template gets.
fn assert_container_defaults(c: &Value, pull: &str) {
    assert_eq!(c["imagePullPolicy"], pull, "{c}");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log", "{c}");
    assert_eq!(c["terminationMessagePolicy"], "File", "{c}");
    assert_eq!(c["resources"], json!({}), "{c}");
}

fn assert_pod_spec_defaults(spec: &Value) {
    assert_eq!(spec["restartPolicy"], "Always", "{spec}");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["securityContext"], json!({}));
    assert!(
        spec.get("tolerations").is_none(),
        "no admission plugin adds tolerations"
    );
}

#[test]
fn minimal_core_objects_get_upstream_defaults() {
    let s = TestServer::start();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: p1, namespace: default}
spec:
  containers:
  - name: c
    image: nginx
    ports: [{containerPort: 8080}]
  - name: pinned
    image: registry.example:5000/app:1.2
---
apiVersion: v1
kind: Service
metadata: {name: s1, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: headless, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
---
apiVersion: v1
kind: Endpoints
metadata: {name: s1, namespace: default}
subsets:
- addresses: [{ip: 10.1.2.3}]
  ports: [{port: 80}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /tmp/pv1}
---
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {node-role.kubernetes.io/control-plane: ""}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: q, namespace: default}
spec:
  hard: {pods: "10"}
---
apiVersion: v1
kind: LimitRange
metadata: {name: lr, namespace: default}
spec:
  limits:
  - type: Container
    max: {cpu: "1"}
---
apiVersion: v1
kind: PodTemplate
metadata: {name: pt, namespace: default}
template:
  metadata:
    labels: {a: b}
  spec:
    containers: [{name: c, image: nginx:1.27}]
"#;
    let out = s.ok_stdin(&["apply", "-f", "-"], manifest);
    assert!(out.contains("pod/p1 created"), "{out}");

    let pod = s.json(&["get", "pod", "p1", "-n", "default", "-o", "json"]);
    assert_pod_spec_defaults(&pod["spec"]);
    assert_eq!(pod["spec"]["enableServiceLinks"], true);
    assert_container_defaults(&pod["spec"]["containers"][0], "Always");
    assert_container_defaults(&pod["spec"]["containers"][1], "IfNotPresent");
    assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["status"]["qosClass"], "BestEffort");

    let svc = s.json(&["get", "svc", "s1", "-n", "default", "-o", "json"]);
    let spec = &svc["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(svc["status"], json!({"loadBalancer": {}}));
    let headless = s.json(&["get", "svc", "headless", "-n", "default", "-o", "json"]);
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));

    let ep = s.json(&["get", "endpoints", "s1", "-n", "default", "-o", "json"]);
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
    let pvc = s.json(&["get", "pvc", "data", "-n", "default", "-o", "json"]);
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pvc["status"]["phase"], "Pending");
    let pv = s.json(&["get", "pv", "pv1", "-o", "json"]);
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pv["status"]["phase"], "Pending");
    let node = s.json(&["get", "node", "node-1", "-o", "json"]);
    assert!(node["metadata"].get("namespace").is_none());
    let lr = s.json(&["get", "limits", "lr", "-n", "default", "-o", "json"]);
    assert_eq!(lr["spec"]["limits"][0]["default"], json!({"cpu": "1"}));
    assert_eq!(
        lr["spec"]["limits"][0]["defaultRequest"],
        json!({"cpu": "1"})
    );
    let pt = s.json(&["get", "podtemplate", "pt", "-n", "default", "-o", "json"]);
    assert_pod_spec_defaults(&pt["template"]["spec"]);
    assert!(
        pt["template"]["spec"].get("enableServiceLinks").is_none(),
        "enableServiceLinks is a Pod default, not a PodSpec one"
    );

    // Short names and the "all" category come from discovery.
    let all = s.ok(&["get", "all", "-n", "default", "-o", "name"]);
    assert!(
        all.contains("pod/p1") && all.contains("service/s1"),
        "{all}"
    );
    s.ok(&["get", "po,svc,ep,pvc,quota,limits", "-n", "default"]);
    s.ok(&["get", "pv,no"]);
}

#[test]
fn minimal_workloads_get_upstream_defaults() {
    let s = TestServer::start();
    let template = "  template:\n    metadata:\n      labels: {app: x}\n    spec:\n      containers: [{name: c, image: nginx}]\n";
    let selector = "  selector:\n    matchLabels: {app: x}\n";
    let manifest = format!(
        "{DEPLOYMENT}---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: rs, namespace: default}}\nspec:\n{selector}{template}\
---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: sts, namespace: default}}\nspec:\n  serviceName: sts\n{selector}{template}\
---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: ds, namespace: default}}\nspec:\n{selector}{template}\
---\napiVersion: batch/v1\nkind: Job\nmetadata: {{name: pi, namespace: default}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: perl:5.34}}]\n\
---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: cj, namespace: default}}\nspec:\n  schedule: \"*/5 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers: [{{name: c, image: busybox}}]\n"
    );
    s.ok_stdin(&["apply", "-f", "-"], &manifest);

    let d = s.json(&["get", "deploy", "web", "-n", "default", "-o", "json"]);
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(d["metadata"]["generation"], 1);
    assert_eq!(d["status"], json!({}));
    let pod_spec = &d["spec"]["template"]["spec"];
    assert_pod_spec_defaults(pod_spec);
    assert!(pod_spec.get("enableServiceLinks").is_none());
    assert_container_defaults(&pod_spec["containers"][0], "Always");
    assert_container_defaults(&pod_spec["containers"][1], "IfNotPresent");

    let rs = s.json(&["get", "rs", "rs", "-n", "default", "-o", "json"]);
    assert_eq!(rs["spec"]["replicas"], 1);
    assert_eq!(rs["status"], json!({"replicas": 0}));
    assert_pod_spec_defaults(&rs["spec"]["template"]["spec"]);

    let sts = s.json(&["get", "sts", "sts", "-n", "default", "-o", "json"]);
    assert_eq!(sts["spec"]["replicas"], 1);
    assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        sts["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(sts["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(
        sts["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );

    let ds = s.json(&["get", "ds", "ds", "-n", "default", "-o", "json"]);
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);

    let job = s.json(&["get", "job", "pi", "-n", "default", "-o", "json"]);
    let uid = job["metadata"]["uid"].as_str().expect("uid").to_string();
    let spec = &job["spec"];
    assert_eq!(spec["backoffLimit"], 6);
    assert_eq!(spec["completions"], 1);
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["manualSelector"], false);
    assert_eq!(
        spec["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    );
    let labels = &spec["template"]["metadata"]["labels"];
    assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid.as_str());
    assert_eq!(labels["controller-uid"], uid.as_str());
    assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
    assert_eq!(labels["job-name"], "pi");
    assert_eq!(job["metadata"]["labels"]["job-name"], "pi");
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
    assert_container_defaults(&spec["template"]["spec"]["containers"][0], "IfNotPresent");

    let cj = s.json(&["get", "cj", "cj", "-n", "default", "-o", "json"]);
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(cj["spec"]["suspend"], false);
    assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
    assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
    assert_pod_spec_defaults_except_restart(&cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]);
}

fn assert_pod_spec_defaults_except_restart(spec: &Value) {
    assert_eq!(spec["restartPolicy"], "OnFailure");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
}

#[test]
fn other_groups_get_upstream_defaults() {
    let s = TestServer::start();
    let manifest = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ing, namespace: default}
spec:
  ingressClassName: nginx
  rules:
  - host: example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: s1, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: pdb, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: example.com/fast
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s1-abc, namespace: default}
addressType: IPv4
endpoints: [{addresses: [10.1.2.3]}]
ports: [{port: 80}]
"#;
    s.ok_stdin(&["apply", "-f", "-"], manifest);
    let np = s.json(&["get", "netpol", "np", "-n", "default", "-o", "json"]);
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(np["spec"]["ingress"][0]["ports"][0]["protocol"], "TCP");
    let ing = s.json(&["get", "ing", "ing", "-n", "default", "-o", "json"]);
    assert_eq!(ing["status"], json!({"loadBalancer": {}}));
    let pdb = s.json(&["get", "pdb", "pdb", "-n", "default", "-o", "json"]);
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    let sc = s.json(&["get", "sc", "fast", "-o", "json"]);
    assert_eq!(sc["reclaimPolicy"], "Delete");
    assert_eq!(sc["volumeBindingMode"], "Immediate");
    let pc = s.json(&["get", "pc", "high", "-o", "json"]);
    assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
    let slice = s.json(&[
        "get",
        "endpointslice",
        "s1-abc",
        "-n",
        "default",
        "-o",
        "json",
    ]);
    assert_eq!(slice["ports"][0]["protocol"], "TCP");

    let table = s.ok(&["get", "ing", "-n", "default"]);
    assert!(
        table.starts_with("NAME   CLASS   HOSTS         ADDRESS   PORTS   AGE"),
        "{table}"
    );
    assert!(
        table.contains("ing    nginx   example.com             80"),
        "{table}"
    );
    let table = s.ok(&["get", "pdb", "-n", "default"]);
    assert!(
        table.contains("MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS"),
        "{table}"
    );
    let table = s.ok(&["get", "sc"]);
    assert!(
        table.contains(
            "PROVISIONER        RECLAIMPOLICY   VOLUMEBINDINGMODE   ALLOWVOLUMEEXPANSION"
        ),
        "{table}"
    );
}
