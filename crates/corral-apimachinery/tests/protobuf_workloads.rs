//! Protobuf request bodies for the kinds kubectl's typed generators send
//! (`kubectl create deployment|job|cronjob|service|quota|pdb|priorityclass|
//! ingress`): golden bodies captured from kubectl 1.37.1 (`-v=9`)
//! compared with the JSON the same command prints with
//! `--dry-run=client -o json`, plus hand-encoded bodies for the pod template
//! tree (env sources, quantities, probes, volumes, affinity), IntOrString,
//! and fields the decoder refuses rather than drops.

mod protobuf_support;

use corral_apimachinery::protobuf::{ProtobufError, decode_object};
use protobuf_support::*;
use serde_json::{Value, json};

/// `kubectl create deployment web --image=nginx --replicas=2`
const DEPLOYMENT_WEB: &[u8] = b"k8s\x00\x0a\x15\x0a\x07apps/v1\x12\x0aDeployment\x12\xab\x01\x0a\x1f\x0a\x03web\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x0a\x0a\x03app\x12\x03web\x12z\x08\x02\x12\x0c\x0a\x0a\x0a\x03app\x12\x03web\x1a`\x0a\x1c\x0a\x00\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x0a\x0a\x03app\x12\x03web\x12@\x12\x22\x0a\x05nginx\x12\x05nginx*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x002\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\x22\x02\x0a\x00(\x008\x00\x1a\x0c\x08\x00\x10\x00\x18\x00 \x00(\x008\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const DEPLOYMENT_WEB_JSON: &str = r#"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx","resources":{}}]}},"strategy":{}},"status":{}}"#;

/// `kubectl create deployment d --image=a --image=b --port=80`
const DEPLOYMENT_PORTS: &[u8] = b"k8s\x00\x0a\x15\x0a\x07apps/v1\x12\x0aDeployment\x12\xc4\x01\x0a\x1b\x0a\x01d\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x08\x0a\x03app\x12\x01d\x12\x96\x01\x08\x01\x12\x0a\x0a\x08\x0a\x03app\x12\x01d\x1a~\x0a\x1a\x0a\x00\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x08\x0a\x03app\x12\x01d\x12`\x12&\x0a\x01a\x12\x01a*\x002\x0a\x0a\x00\x10\x00\x18P\x22\x00*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x12\x1a\x0a\x01b\x12\x01b*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x002\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\x22\x02\x0a\x00(\x008\x00\x1a\x0c\x08\x00\x10\x00\x18\x00 \x00(\x008\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const DEPLOYMENT_PORTS_JSON: &str = r#"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"d","labels":{"app":"d"}},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"d"}},"template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"a","image":"a","ports":[{"containerPort":80}],"resources":{}},{"name":"b","image":"b","resources":{}}]}},"strategy":{}},"status":{}}"#;

/// `kubectl create job j --image=busybox -- echo hi`
const JOB: &[u8] = b"k8s\x00\x0a\x0f\x0a\x08batch/v1\x12\x03Job\x12\x82\x01\x0a\x11\x0a\x01j\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12c2a\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12M\x12*\x0a\x01j\x12\x07busybox\x1a\x04echo\x1a\x02hi*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x05Never2\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\x1a\x08 \x00(\x000\x00:\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const JOB_JSON: &str = r#"{"kind":"Job","apiVersion":"batch/v1","metadata":{"name":"j"},"spec":{"template":{"metadata":{},"spec":{"containers":[{"name":"j","image":"busybox","command":["echo","hi"],"resources":{}}],"restartPolicy":"Never"}}},"status":{}}"#;

/// `kubectl create cronjob c --image=busybox --schedule='*/1 * * * *'`
const CRONJOB: &[u8] = b"k8s\x00\x0a\x13\x0a\x08batch/v1\x12\x07CronJob\x12\x9b\x01\x0a\x11\x0a\x01c\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12\x83\x01\x0a\x0b*/1 * * * *\x1a\x00*r\x0a\x11\x0a\x01c\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12]2[\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12G\x12 \x0a\x01c\x12\x07busybox*\x00B\x00j\x00r\x00\x80\x01\x00\x88\x01\x00\x90\x01\x00\xa2\x01\x00\x1a\x09OnFailure2\x00B\x00J\x00R\x00X\x00`\x00h\x00\x82\x01\x00\x8a\x01\x00\x9a\x01\x00\xc2\x01\x00\x1a\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const CRONJOB_JSON: &str = r#"{"kind":"CronJob","apiVersion":"batch/v1","metadata":{"name":"c"},"spec":{"schedule":"*/1 * * * *","jobTemplate":{"metadata":{"name":"c"},"spec":{"template":{"metadata":{},"spec":{"containers":[{"name":"c","image":"busybox","resources":{}}],"restartPolicy":"OnFailure"}}}}},"status":{}}"#;

/// `kubectl create service clusterip s --tcp=80:8080`
const SERVICE_CLUSTERIP: &[u8] = b"k8s\x00\x0a\x0d\x0a\x02v1\x12\x07Service\x12c\x0a\x1b\x0a\x01s\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x08\x0a\x03app\x12\x01s\x12@\x0a\x1b\x0a\x0780-8080\x12\x03TCP\x18P\x22\x07\x08\x00\x10\x90?\x1a\x00(\x00\x12\x08\x0a\x03app\x12\x01s\x1a\x00\x22\x09ClusterIP:\x00B\x00R\x00Z\x00`\x00h\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const SERVICE_CLUSTERIP_JSON: &str = r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"s","labels":{"app":"s"}},"spec":{"ports":[{"name":"80-8080","protocol":"TCP","port":80,"targetPort":8080}],"selector":{"app":"s"},"type":"ClusterIP"},"status":{"loadBalancer":{}}}"#;

/// `kubectl create service nodeport np --tcp=80:8080 --node-port=30080`
const SERVICE_NODEPORT: &[u8] = b"k8s\x00\x0a\x0d\x0a\x02v1\x12\x07Service\x12g\x0a\x1d\x0a\x02np\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x09\x0a\x03app\x12\x02np\x12B\x0a\x1d\x0a\x0780-8080\x12\x03TCP\x18P\x22\x07\x08\x00\x10\x90?\x1a\x00(\x80\xeb\x01\x12\x09\x0a\x03app\x12\x02np\x1a\x00\x22\x08NodePort:\x00B\x00R\x00Z\x00`\x00h\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const SERVICE_NODEPORT_JSON: &str = r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"np","labels":{"app":"np"}},"spec":{"ports":[{"name":"80-8080","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080}],"selector":{"app":"np"},"type":"NodePort"},"status":{"loadBalancer":{}}}"#;

/// `kubectl create service loadbalancer lb --tcp=443:8443`
const SERVICE_LOADBALANCER: &[u8] = b"k8s\x00\x0a\x0d\x0a\x02v1\x12\x07Service\x12k\x0a\x1d\x0a\x02lb\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x09\x0a\x03app\x12\x02lb\x12F\x0a\x1d\x0a\x08443-8443\x12\x03TCP\x18\xbb\x03\x22\x07\x08\x00\x10\xfbA\x1a\x00(\x00\x12\x09\x0a\x03app\x12\x02lb\x1a\x00\x22\x0cLoadBalancer:\x00B\x00R\x00Z\x00`\x00h\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const SERVICE_LOADBALANCER_JSON: &str = r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"lb","labels":{"app":"lb"}},"spec":{"ports":[{"name":"443-8443","protocol":"TCP","port":443,"targetPort":8443}],"selector":{"app":"lb"},"type":"LoadBalancer"},"status":{"loadBalancer":{}}}"#;

/// `kubectl create service externalname en --external-name=example.com`
const SERVICE_EXTERNALNAME: &[u8] = b"k8s\x00\x0a\x0d\x0a\x02v1\x12\x07Service\x12W\x0a\x1d\x0a\x02en\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00Z\x09\x0a\x03app\x12\x02en\x122\x12\x09\x0a\x03app\x12\x02en\x1a\x00\x22\x0cExternalName:\x00B\x00R\x0bexample.comZ\x00`\x00h\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const SERVICE_EXTERNALNAME_JSON: &str = r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"en","labels":{"app":"en"}},"spec":{"selector":{"app":"en"},"type":"ExternalName","externalName":"example.com"},"status":{"loadBalancer":{}}}"#;

/// Decodes a golden body and compares it with kubectl's own JSON for the
/// same object. kubectl's create requests leave metadata.namespace empty
/// (the URL names it), as the dry-run output does.
fn assert_golden(body: &[u8], expected: &str) {
    let expected: Value = serde_json::from_str(expected).expect("expected JSON");
    assert_eq!(decode(body), expected);
}

#[test]
fn kubectl_create_deployment() {
    assert_golden(DEPLOYMENT_WEB, DEPLOYMENT_WEB_JSON);
    let v = decode(DEPLOYMENT_WEB);
    assert_eq!(v["spec"]["replicas"], 2);
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx"
    );
}

#[test]
fn kubectl_create_deployment_with_ports() {
    assert_golden(DEPLOYMENT_PORTS, DEPLOYMENT_PORTS_JSON);
    let v = decode(DEPLOYMENT_PORTS);
    let containers = &v["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["ports"], json!([{"containerPort": 80}]));
    assert_eq!(containers[1]["name"], "b");
}

#[test]
fn kubectl_create_job() {
    assert_golden(JOB, JOB_JSON);
    let v = decode(JOB);
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"][0]["command"],
        json!(["echo", "hi"])
    );
}

#[test]
fn kubectl_create_cronjob() {
    assert_golden(CRONJOB, CRONJOB_JSON);
    let v = decode(CRONJOB);
    assert_eq!(v["spec"]["schedule"], "*/1 * * * *");
    assert_eq!(
        v["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"],
        "OnFailure"
    );
}

#[test]
fn kubectl_create_services() {
    assert_golden(SERVICE_CLUSTERIP, SERVICE_CLUSTERIP_JSON);
    assert_golden(SERVICE_NODEPORT, SERVICE_NODEPORT_JSON);
    assert_golden(SERVICE_LOADBALANCER, SERVICE_LOADBALANCER_JSON);
    assert_golden(SERVICE_EXTERNALNAME, SERVICE_EXTERNALNAME_JSON);
    let v = decode(SERVICE_NODEPORT);
    assert_eq!(v["spec"]["ports"][0]["nodePort"], 30080);
    assert_eq!(v["spec"]["ports"][0]["targetPort"], 8080);
}

// ---- hand-encoded bodies

fn quantity(s: &str) -> Vec<u8> {
    Enc::new().str(1, s).0
}

/// IntOrString: type 0 with intVal, or type 1 with strVal.
fn int_or_string_int(i: i64) -> Enc {
    Enc::new().int(1, 0).int(2, i)
}

fn int_or_string_str(s: &str) -> Enc {
    Enc::new().int(1, 1).str(3, s)
}

fn rich_container() -> Enc {
    Enc::new()
        .str(1, "app")
        .str(2, "img:1")
        .msg(6, Enc::new().str(1, "http").int(3, 8080).str(4, "TCP"))
        .msg(7, Enc::new().str(1, "A").str(2, "x"))
        // valueFrom.secretKeyRef {LocalObjectReference (inline) {name}, key}
        .msg(
            7,
            Enc::new().str(1, "PASS").msg(
                3,
                Enc::new().msg(4, Enc::new().msg(1, Enc::new().str(1, "db")).str(2, "pw")),
            ),
        )
        // valueFrom.resourceFieldRef without divisor: Go emits "0".
        .msg(
            7,
            Enc::new()
                .str(1, "CPU")
                .msg(3, Enc::new().msg(2, Enc::new().str(2, "limits.cpu"))),
        )
        .msg(
            7,
            Enc::new().str(1, "POD").msg(
                3,
                Enc::new().msg(1, Enc::new().str(1, "v1").str(2, "metadata.name")),
            ),
        )
        .msg(
            19,
            Enc::new()
                .str(1, "P_")
                .msg(2, Enc::new().msg(1, Enc::new().str(1, "cfg")).bool(2, true)),
        )
        .msg(
            8,
            Enc::new()
                .entry(1, "cpu", &quantity("500m"))
                .entry(1, "memory", &quantity("128Mi"))
                .entry(2, "memory", &quantity("64Mi")),
        )
        .msg(9, Enc::new().str(1, "data").bool(2, true).str(3, "/data"))
        .msg(
            10,
            Enc::new()
                .msg(
                    1,
                    Enc::new().msg(
                        2,
                        Enc::new()
                            .str(1, "/healthz")
                            .msg(2, int_or_string_str("http")),
                    ),
                )
                .int(2, 5)
                .int(4, 0),
        )
        .msg(
            11,
            Enc::new().msg(
                1,
                Enc::new().msg(3, Enc::new().msg(1, int_or_string_int(8080))),
            ),
        )
        .msg(
            12,
            Enc::new().msg(2, Enc::new().msg(4, Enc::new().int(1, 5))),
        )
        .msg(
            15,
            Enc::new()
                .int(4, 1000)
                .bool(5, true)
                .bool(7, false)
                .msg(1, Enc::new().str(2, "ALL"))
                .msg(11, Enc::new().str(1, "RuntimeDefault")),
        )
        .str(13, "")
        .str(20, "")
        .bool(16, false)
}

fn rich_pod_spec() -> Enc {
    Enc::new()
        .msg(
            1,
            Enc::new().str(1, "data").msg(
                2,
                Enc::new().msg(
                    19,
                    Enc::new()
                        .msg(1, Enc::new().str(1, "cfg"))
                        .msg(2, Enc::new().str(1, "k").str(2, "p"))
                        .int(3, 420),
                ),
            ),
        )
        .msg(
            1,
            Enc::new()
                .str(1, "tmp")
                .msg(2, Enc::new().msg(2, Enc::new().bytes(2, &quantity("1Gi")))),
        )
        .msg(
            1,
            Enc::new()
                .str(1, "sec")
                .msg(2, Enc::new().msg(6, Enc::new().str(1, "s").bool(4, true))),
        )
        .msg(
            20,
            Enc::new()
                .str(1, "init")
                .str(2, "busybox")
                .str(24, "Always"),
        )
        .msg(2, rich_container())
        .str(3, "Always")
        .int(4, 30)
        .str(6, "ClusterFirst")
        .entry(7, "disk", b"ssd")
        .str(8, "sa")
        .msg(
            22,
            Enc::new()
                .str(1, "k")
                .str(2, "Exists")
                .str(4, "NoSchedule")
                .int(5, 60),
        )
        .msg(
            18,
            Enc::new().msg(
                1,
                Enc::new().msg(
                    1,
                    Enc::new().msg(
                        1,
                        Enc::new().msg(1, Enc::new().str(1, "zone").str(2, "In").str(3, "a")),
                    ),
                ),
            ),
        )
        .msg(14, Enc::new().int(5, 2000).int(4, 1).int(4, 2))
        .msg(15, Enc::new().str(1, "regcred"))
        // An unknown field number (a newer client's addition) is skipped.
        .uint(999, 7)
}

fn rich_container_json() -> Value {
    json!({
        "name": "app",
        "image": "img:1",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "envFrom": [{"prefix": "P_", "configMapRef": {"name": "cfg", "optional": true}}],
        "env": [
            {"name": "A", "value": "x"},
            {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "0"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}
        ],
        "resources": {
            "limits": {"cpu": "500m", "memory": "128Mi"},
            "requests": {"memory": "64Mi"}
        },
        "volumeMounts": [{"name": "data", "readOnly": true, "mountPath": "/data"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "initialDelaySeconds": 5
        },
        "readinessProbe": {"tcpSocket": {"port": 8080}},
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
        "securityContext": {
            "capabilities": {"drop": ["ALL"]},
            "runAsUser": 1000,
            "runAsNonRoot": true,
            "allowPrivilegeEscalation": false,
            "seccompProfile": {"type": "RuntimeDefault"}
        }
    })
}

fn rich_pod_spec_json() -> Value {
    json!({
        "volumes": [
            {"name": "data", "configMap": {"name": "cfg", "items": [{"key": "k", "path": "p"}], "defaultMode": 420}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "sec", "secret": {"secretName": "s", "optional": true}}
        ],
        "initContainers": [
            {"name": "init", "image": "busybox", "resources": {}, "restartPolicy": "Always"}
        ],
        "containers": [rich_container_json()],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"disk": "ssd"},
        "serviceAccountName": "sa",
        "securityContext": {"fsGroup": 2000, "supplementalGroups": [1, 2]},
        "imagePullSecrets": [{"name": "regcred"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
        }}},
        "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 60}]
    })
}

fn labels(app: &str) -> Enc {
    Enc::new().entry(11, "app", app.as_bytes())
}

#[test]
fn deployment_with_a_full_pod_template() {
    let spec = Enc::new()
        .int(1, 3)
        .msg(2, Enc::new().entry(1, "app", b"web"))
        .msg(3, Enc::new().msg(1, labels("web")).msg(2, rich_pod_spec()))
        .msg(
            4,
            Enc::new().str(1, "RollingUpdate").msg(
                2,
                Enc::new()
                    .msg(1, int_or_string_int(1))
                    .msg(2, int_or_string_str("25%")),
            ),
        )
        .int(6, 5)
        .int(9, 600);
    let v = decode(&body(
        "apps/v1",
        "Deployment",
        Enc::new().msg(1, Enc::new().str(1, "rich")).msg(2, spec),
    ));
    assert_eq!(
        v,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "rich"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": rich_pod_spec_json()},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
                "revisionHistoryLimit": 5,
                "progressDeadlineSeconds": 600
            },
            "status": {}
        })
    );
}

#[test]
fn empty_workloads_follow_go_zero_values() {
    // Pointers without omitempty (selector) are null, containers (no
    // omitempty) is null, structs are never omitted.
    let v = decode(&body("apps/v1", "DaemonSet", Enc::new()));
    assert_eq!(
        v,
        json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {},
            "spec": {
                "selector": null,
                "template": {"metadata": {}, "spec": {"containers": null}},
                "updateStrategy": {}
            },
            "status": {
                "currentNumberScheduled": 0,
                "numberMisscheduled": 0,
                "desiredNumberScheduled": 0,
                "numberReady": 0
            }
        })
    );
    let v = decode(&body("apps/v1", "ReplicaSet", Enc::new()));
    assert_eq!(
        v["spec"],
        json!({"selector": null, "template": {"metadata": {}, "spec": {"containers": null}}})
    );
    assert_eq!(v["status"], json!({"replicas": 0}));
    let v = decode(&body("batch/v1", "CronJob", Enc::new()));
    assert_eq!(
        v["spec"],
        json!({"schedule": "", "jobTemplate": {"metadata": {}, "spec": {"template": {"metadata": {}, "spec": {"containers": null}}}}})
    );
}

#[test]
fn job_and_statefulset_specs() {
    let template = Enc::new().msg(2, Enc::new().msg(2, Enc::new().str(1, "c")).str(3, "Never"));
    let job = Enc::new().msg(
        2,
        Enc::new()
            .int(1, 2)
            .int(2, 4)
            .int(7, 0)
            .msg(6, template.clone())
            .str(9, "Indexed")
            .bool(10, false)
            .msg(
                11,
                Enc::new().msg(
                    1,
                    Enc::new()
                        .str(1, "FailJob")
                        .msg(2, Enc::new().str(2, "In").int(3, 42)),
                ),
            ),
    );
    let v = decode(&body("batch/v1", "Job", job));
    assert_eq!(
        v["spec"],
        json!({
            "parallelism": 2,
            "completions": 4,
            "backoffLimit": 0,
            "template": {"metadata": {}, "spec": {"containers": [{"name": "c", "resources": {}}], "restartPolicy": "Never"}},
            "completionMode": "Indexed",
            "suspend": false,
            // Upstream's json tags here have no omitempty: nil is null.
            "podFailurePolicy": {"rules": [{
                "action": "FailJob",
                "onExitCodes": {"containerName": null, "operator": "In", "values": [42]},
                "onPodConditions": null
            }]}
        })
    );
    let sts = Enc::new().msg(
        2,
        Enc::new()
            .int(1, 1)
            .msg(2, Enc::new().entry(1, "app", b"db"))
            .msg(3, template)
            .str(5, "db")
            .msg(
                7,
                Enc::new()
                    .str(1, "RollingUpdate")
                    .msg(2, Enc::new().int(1, 0)),
            ),
    );
    let v = decode(&body("apps/v1", "StatefulSet", sts));
    assert_eq!(v["spec"]["serviceName"], "db");
    assert_eq!(
        v["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
}

#[test]
fn service_spec_fields() {
    let spec = Enc::new()
        .msg(
            1,
            Enc::new()
                .str(1, "web")
                .str(2, "TCP")
                .int(3, 80)
                .msg(4, int_or_string_str("http"))
                .str(6, "kubernetes.io/h2c"),
        )
        .msg(1, Enc::new().str(1, "metrics").int(3, 9090))
        .entry(2, "app", b"web")
        .str(3, "None")
        .str(18, "None")
        .str(4, "ClusterIP")
        .str(7, "ClientIP")
        .msg(14, Enc::new().msg(1, Enc::new().int(1, 300)))
        .str(19, "IPv4")
        .str(17, "SingleStack")
        .str(22, "Cluster");
    let v = decode(&body("v1", "Service", Enc::new().msg(2, spec)));
    assert_eq!(
        v["spec"],
        json!({
            "ports": [
                {"name": "web", "protocol": "TCP", "port": 80, "targetPort": "http", "appProtocol": "kubernetes.io/h2c"},
                // Absent targetPort: the zero IntOrString, as Go emits it.
                {"name": "metrics", "port": 9090, "targetPort": 0}
            ],
            "selector": {"app": "web"},
            "clusterIP": "None",
            "clusterIPs": ["None"],
            "type": "ClusterIP",
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 300}},
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster"
        })
    );
    assert_eq!(v["status"], json!({"loadBalancer": {}}));
}

// ---- refused input

fn deployment_with_volume(source: Enc) -> Vec<u8> {
    let pod = Enc::new().msg(1, Enc::new().str(1, "v").msg(2, source));
    body(
        "apps/v1",
        "Deployment",
        Enc::new().msg(2, Enc::new().msg(3, Enc::new().msg(2, pod))),
    )
}

#[test]
fn unmodeled_fields_fail_instead_of_dropping_data() {
    let err = decode_object(&deployment_with_volume(
        Enc::new().msg(3, Enc::new().str(1, "disk")),
    ))
    .unwrap_err();
    assert!(
        matches!(
            err,
            ProtobufError::UnsupportedField {
                message: "VolumeSource",
                field: "gcePersistentDisk"
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("gcePersistentDisk"), "{err}");
    assert!(err.to_string().contains("not supported"), "{err}");

    // StatefulSet volumeClaimTemplates.
    let sts = Enc::new().msg(
        2,
        Enc::new().msg(4, Enc::new().msg(1, Enc::new().str(1, "pvc"))),
    );
    assert!(matches!(
        decode_object(&body("apps/v1", "StatefulSet", sts)),
        Err(ProtobufError::UnsupportedField {
            field: "volumeClaimTemplates",
            ..
        })
    ));

    // The supported sources next to it decode.
    let v = decode(&deployment_with_volume(
        Enc::new().msg(10, Enc::new().str(1, "claim").bool(2, true)),
    ));
    assert_eq!(
        v["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "v", "persistentVolumeClaim": {"claimName": "claim", "readOnly": true}}])
    );
}

#[test]
fn int_or_string_of_an_impossible_type_is_invalid() {
    let svc = Enc::new().msg(
        2,
        Enc::new().msg(
            1,
            Enc::new().int(3, 80).msg(4, Enc::new().int(1, 2).int(2, 1)),
        ),
    );
    assert!(matches!(
        decode_object(&body("v1", "Service", svc)),
        Err(ProtobufError::Invalid(_))
    ));
    // A wrong wire type inside IntOrString is reported as such.
    let svc = Enc::new().msg(
        2,
        Enc::new().msg(1, Enc::new().int(3, 80).msg(4, Enc::new().str(2, "x"))),
    );
    assert!(matches!(
        decode_object(&body("v1", "Service", svc)),
        Err(ProtobufError::WrongWireType {
            message: "IntOrString",
            field: "intVal",
            ..
        })
    ));
}

#[test]
fn quantities() {
    // A map entry without a value is the zero Quantity; repeated entries of
    // a key keep the last.
    let resources = Enc::new()
        .msg(1, Enc::new().str(1, "cpu"))
        .entry(2, "memory", &quantity("1Gi"))
        .entry(2, "memory", &quantity("2Gi"));
    let container = Enc::new().str(1, "c").msg(8, resources);
    let pod = Enc::new().msg(2, container);
    let v = decode(&body(
        "apps/v1",
        "Deployment",
        Enc::new().msg(2, Enc::new().msg(3, Enc::new().msg(2, pod))),
    ));
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"][0]["resources"],
        json!({"limits": {"cpu": "0"}, "requests": {"memory": "2Gi"}})
    );
}
/// `kubectl create quota q --hard=pods=2,requests.cpu=500m,memory=1Gi --scopes=BestEffort`
const RESOURCE_QUOTA: &[u8] = b"k8s\x00\x0a\x13\x0a\x02v1\x12\x0dResourceQuota\x12Y\x0a\x11\x0a\x01q\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12B\x0a\x0f\x0a\x06memory\x12\x05\x0a\x031Gi\x0a\x0b\x0a\x04pods\x12\x03\x0a\x012\x0a\x16\x0a\x0crequests.cpu\x12\x06\x0a\x04500m\x12\x0aBestEffort\x1a\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const RESOURCE_QUOTA_JSON: &str = r#"{"kind":"ResourceQuota","apiVersion":"v1","metadata":{"name":"q"},"spec":{"hard":{"memory":"1Gi","pods":"2","requests.cpu":"500m"},"scopes":["BestEffort"]},"status":{}}"#;

/// `kubectl create pdb pdb --selector=app=x --min-available=50%`
const PDB_MIN_AVAILABLE: &[u8] = b"k8s\x00\x0a \x0a\x09policy/v1\x12\x13PodDisruptionBudget\x12:\x0a\x13\x0a\x03pdb\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12\x17\x0a\x09\x08\x01\x10\x00\x1a\x0350%\x12\x0a\x0a\x08\x0a\x03app\x12\x01x\x1a\x0a\x08\x00\x18\x00 \x00(\x000\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const PDB_MIN_AVAILABLE_JSON: &str = r#"{"kind":"PodDisruptionBudget","apiVersion":"policy/v1","metadata":{"name":"pdb"},"spec":{"minAvailable":"50%","selector":{"matchLabels":{"app":"x"}}},"status":{"disruptionsAllowed":0,"currentHealthy":0,"desiredHealthy":0,"expectedPods":0}}"#;

/// `kubectl create pdb pdb2 --selector=app=y --max-unavailable=1`
const PDB_MAX_UNAVAILABLE: &[u8] = b"k8s\x00\x0a \x0a\x09policy/v1\x12\x13PodDisruptionBudget\x128\x0a\x14\x0a\x04pdb2\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x12\x14\x12\x0a\x0a\x08\x0a\x03app\x12\x01y\x1a\x06\x08\x00\x10\x01\x1a\x00\x1a\x0a\x08\x00\x18\x00 \x00(\x000\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const PDB_MAX_UNAVAILABLE_JSON: &str = r#"{"kind":"PodDisruptionBudget","apiVersion":"policy/v1","metadata":{"name":"pdb2"},"spec":{"selector":{"matchLabels":{"app":"y"}},"maxUnavailable":1},"status":{"disruptionsAllowed":0,"currentHealthy":0,"desiredHealthy":0,"expectedPods":0}}"#;

/// `kubectl create priorityclass pc --value=10 --description=hi --global-default=false --preemption-policy=Never`
const PRIORITY_CLASS: &[u8] = b"k8s\x00\x0a%\x0a\x14scheduling.k8s.io/v1\x12\x0dPriorityClass\x12#\x0a\x12\x0a\x02pc\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00\x10\x0a\x18\x00\x22\x02hi*\x05Never\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const PRIORITY_CLASS_JSON: &str = r#"{"kind":"PriorityClass","apiVersion":"scheduling.k8s.io/v1","metadata":{"name":"pc"},"value":10,"description":"hi","preemptionPolicy":"Never"}"#;

/// `kubectl create ingress ing --class=nginx --rule="foo.com/bar*=svc1:8080,tls=my-cert" --rule="/path=svc2:http" --default-backend=defsvc:80 --annotation=a=b`
const INGRESS: &[u8] = b"k8s\x00\x0a\x1f\x0a\x14networking.k8s.io/v1\x12\x07Ingress\x12\xad\x01\x0a\x1b\x0a\x03ing\x12\x00\x1a\x00\x22\x00*\x002\x008\x00B\x00b\x06\x0a\x01a\x12\x01b\x12\x89\x01\x0a\x10\x22\x0e\x0a\x06defsvc\x12\x04\x0a\x00\x10P\x12\x12\x0a\x07foo.com\x12\x07my-cert\x1a.\x0a\x07foo.com\x12#\x0a!\x0a\x1f\x0a\x04/bar\x12\x0f\x22\x0d\x0a\x04svc1\x12\x05\x0a\x00\x10\x90?\x1a\x06Prefix\x1a*\x0a\x00\x12&\x0a$\x0a\x22\x0a\x05/path\x12\x12\x22\x10\x0a\x04svc2\x12\x08\x0a\x04http\x10\x00\x1a\x05Exact\x22\x05nginx\x1a\x02\x0a\x00\x1a\x00\x22\x00";
/// The same command with `--dry-run=client -o json`.
const INGRESS_JSON: &str = r#"{"kind":"Ingress","apiVersion":"networking.k8s.io/v1","metadata":{"name":"ing","annotations":{"a":"b"}},"spec":{"ingressClassName":"nginx","defaultBackend":{"service":{"name":"defsvc","port":{"number":80}}},"tls":[{"hosts":["foo.com"],"secretName":"my-cert"}],"rules":[{"host":"foo.com","http":{"paths":[{"path":"/bar","pathType":"Prefix","backend":{"service":{"name":"svc1","port":{"number":8080}}}}]}},{"http":{"paths":[{"path":"/path","pathType":"Exact","backend":{"service":{"name":"svc2","port":{"name":"http"}}}}]}}]},"status":{"loadBalancer":{}}}"#;

#[test]
fn kubectl_create_quota_pdb_priorityclass_ingress() {
    assert_golden(RESOURCE_QUOTA, RESOURCE_QUOTA_JSON);
    assert_golden(PDB_MIN_AVAILABLE, PDB_MIN_AVAILABLE_JSON);
    assert_golden(PDB_MAX_UNAVAILABLE, PDB_MAX_UNAVAILABLE_JSON);
    assert_golden(PRIORITY_CLASS, PRIORITY_CLASS_JSON);
    assert_golden(INGRESS, INGRESS_JSON);
    let v = decode(INGRESS);
    assert_eq!(
        v["spec"]["rules"][1]["http"]["paths"][0]["backend"]["service"]["port"],
        json!({"name": "http"})
    );
    let v = decode(PDB_MIN_AVAILABLE);
    assert_eq!(v["spec"]["minAvailable"], "50%");
}
