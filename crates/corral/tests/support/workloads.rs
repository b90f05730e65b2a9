//! Shared pieces of the workload tests (`workloads*.rs`).

use super::TestServer;
use serde_json::Value;

/// One object of the default namespace, as `kubectl get -o json` shows it.
pub fn get(s: &TestServer, what: &str) -> Value {
    s.json(&["get", what, "-n", "default", "-o", "json"])
}

/// A Deployment with two containers (`nginx`, `side`).
pub const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports: [{containerPort: 80}]
      - name: side
        image: busybox:1.36
"#;
