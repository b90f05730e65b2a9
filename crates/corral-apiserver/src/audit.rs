//! The audit log: one `audit.k8s.io/v1` Event per request, as JSON lines, at
//! the level a policy chooses (None, Metadata, Request, RequestResponse).
//! Events go through a channel to one writer task so logging never blocks a request.

use std::io::Write;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::authn::UserInfo;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
pub enum Level {
    #[default]
    None,
    Metadata,
    Request,
    RequestResponse,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GroupResources {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    level: Level,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<GroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
}

/// An audit policy (`audit.k8s.io/v1` Policy): the first matching rule decides.
#[derive(Clone, Debug, Deserialize)]
pub struct Policy {
    #[serde(default)]
    rules: Vec<Rule>,
}

/// What a request is, for matching policy rules.
#[derive(Clone, Debug, Default)]
pub struct RequestAttributes {
    pub verb: String,
    pub resource_request: bool,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub path: String,
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The default: nothing for health probes; Metadata for everything else, so
    /// Secret, ConfigMap and token bodies are never written by default.
    pub fn default_policy() -> Policy {
        let yaml = r#"
rules:
  - level: None
    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps", "serviceaccounts/token"]
      - group: "authentication.k8s.io"
        resources: ["tokenreviews", "tokenrequests"]
  - level: Metadata
"#;
        serde_yaml::from_str(yaml).unwrap_or(Policy { rules: vec![] })
    }

    pub fn level(&self, user: &UserInfo, req: &RequestAttributes) -> Level {
        for rule in &self.rules {
            if rule.matches(user, req) {
                return rule.level;
            }
        }
        Level::None
    }
}

impl Rule {
    fn matches(&self, user: &UserInfo, req: &RequestAttributes) -> bool {
        if !self.users.is_empty() && !self.users.contains(&user.name) {
            return false;
        }
        if !self.user_groups.is_empty() && !user.groups.iter().any(|g| self.user_groups.contains(g))
        {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.contains(&req.verb) {
            return false;
        }
        if !self.resources.is_empty() || !self.namespaces.is_empty() {
            if !req.resource_request {
                return false;
            }
            if !self.namespaces.is_empty() && !self.namespaces.contains(&req.namespace) {
                return false;
            }
            if !self.resources.is_empty() && !self.resources.iter().any(|gr| gr.matches(req)) {
                return false;
            }
        }
        if !self.non_resource_urls.is_empty() {
            if req.resource_request {
                return false;
            }
            let matched = self
                .non_resource_urls
                .iter()
                .any(|u| match u.strip_suffix('*') {
                    Some(prefix) => req.path.starts_with(prefix),
                    None => *u == req.path,
                });
            if !matched {
                return false;
            }
        }
        true
    }
}

impl GroupResources {
    fn matches(&self, req: &RequestAttributes) -> bool {
        if self.group != req.api_group {
            return false;
        }
        let full = if req.subresource.is_empty() {
            req.resource.clone()
        } else {
            format!("{}/{}", req.resource, req.subresource)
        };
        let resource_ok = self.resources.is_empty()
            || self.resources.iter().any(|r| {
                *r == full
                    || *r == "*"
                    || (r.ends_with("/*") && req.resource == r[..r.len() - 2])
                    || (r.starts_with("*/") && req.subresource == r[2..])
            });
        let name_ok = self.resource_names.is_empty() || self.resource_names.contains(&req.name);
        resource_ok && name_ok
    }
}

/// One request's audit event, filled in as the request is served.
#[derive(Debug, Default)]
pub struct Record {
    pub level: Level,
    pub audit_id: String,
    pub method: String,
    pub request_uri: String,
    pub user_agent: String,
    pub source_ip: String,
    pub user: Option<UserInfo>,
    pub impersonated: Option<UserInfo>,
    pub request: Option<RequestAttributes>,
    pub request_object: Option<Value>,
    pub response_object: Option<Value>,
    pub code: u16,
    pub error_message: Option<(String, String)>,
    pub decision: Option<(bool, String)>,
    /// Formatted only when an event is written: most servers keep no audit log.
    pub received: Option<time::OffsetDateTime>,
    pub streaming: bool,
}

/// Go's `metav1.MicroTime` form. Written by hand: the `time` crate's
/// generic formatter cost more than the rest of the audit record.
fn micro_now() -> String {
    micro_time(time::OffsetDateTime::now_utc())
}

fn micro_time(now: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

impl Record {
    pub fn start(method: &str, uri: &str, user_agent: &str, source_ip: &str) -> Record {
        Record {
            audit_id: uuid::Uuid::new_v4().to_string(),
            method: method.to_string(),
            request_uri: uri.to_string(),
            user_agent: user_agent.to_string(),
            source_ip: source_ip.to_string(),
            received: Some(time::OffsetDateTime::now_utc()),
            // Until a policy decides, failures (such as authentication) are kept at Metadata.
            level: Level::Metadata,
            ..Default::default()
        }
    }

    fn to_event(&self) -> Value {
        let verb = self
            .request
            .as_ref()
            .map(|r| r.verb.clone())
            .unwrap_or_else(|| self.method.to_ascii_lowercase());
        let mut ev = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": self.level.as_str(),
            "auditID": self.audit_id,
            "stage": if self.streaming { "ResponseStarted" } else { "ResponseComplete" },
            "requestURI": self.request_uri,
            "verb": verb,
            "user": self.user.as_ref().map(crate::authn::user_json).unwrap_or_else(|| json!({})),
            "sourceIPs": [self.source_ip],
            "userAgent": self.user_agent,
            "responseStatus": {"metadata": {}, "code": self.code},
            "requestReceivedTimestamp": self.received.map_or_else(micro_now, micro_time),
            "stageTimestamp": micro_now(),
        });
        if let Some((reason, message)) = &self.error_message {
            ev["responseStatus"]["status"] = json!("Failure");
            ev["responseStatus"]["reason"] = json!(reason);
            ev["responseStatus"]["message"] = json!(message);
        }
        if let Some(imp) = &self.impersonated {
            // `user` is who authenticated; `impersonatedUser` whom they acted as.
            ev["impersonatedUser"] = crate::authn::user_json(imp);
        }
        if let Some(r) = self.request.as_ref().filter(|r| r.resource_request) {
            let mut obj = json!({"resource": r.resource, "apiVersion": r.api_version});
            for (k, v) in [
                ("namespace", &r.namespace),
                ("name", &r.name),
                ("apiGroup", &r.api_group),
                ("subresource", &r.subresource),
            ] {
                if !v.is_empty() {
                    obj[k] = json!(v);
                }
            }
            ev["objectRef"] = obj;
        }
        if let Some((allowed, reason)) = &self.decision {
            let mut ann =
                json!({"authorization.k8s.io/decision": if *allowed { "allow" } else { "forbid" }});
            if !reason.is_empty() {
                ann["authorization.k8s.io/reason"] = json!(reason);
            }
            ev["annotations"] = ann;
        }
        if self.level >= Level::Request
            && let Some(o) = &self.request_object
        {
            ev["requestObject"] = o.clone();
        }
        if self.level >= Level::RequestResponse
            && let Some(o) = &self.response_object
        {
            ev["responseObject"] = o.clone();
        }
        ev
    }
}

/// The audit sink: a policy and a background writer.
pub struct AuditLog {
    pub policy: Policy,
    tx: mpsc::Sender<Vec<u8>>,
}

impl AuditLog {
    /// Append to `path` (created 0600). The writer task flushes after every burst of events.
    pub fn open(path: &Path, policy: Policy) -> std::io::Result<AuditLog> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(8192);
        std::thread::Builder::new()
            .name("corral-audit".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(file);
                while let Some(line) = rx.blocking_recv() {
                    let _ = out.write_all(&line);
                    while let Ok(more) = rx.try_recv() {
                        let _ = out.write_all(&more);
                    }
                    let _ = out.flush();
                }
            })?;
        Ok(AuditLog { policy, tx })
    }

    pub fn emit(&self, record: &Record) {
        if record.level == Level::None {
            return;
        }
        if let Ok(mut line) = serde_json::to_vec(&record.to_event()) {
            line.push(b'\n');
            if self.tx.try_send(line).is_err() {
                tracing::warn!("audit log backlog full; event dropped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(group: &str, resource: &str, verb: &str) -> RequestAttributes {
        RequestAttributes {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            resource: resource.into(),
            ..Default::default()
        }
    }

    #[test]
    fn timestamps_are_micro_time() {
        let t = micro_now();
        assert_eq!(t.len(), 27, "{t}");
        let parsed =
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                .expect("RFC 3339");
        assert_eq!(parsed.offset(), time::UtcOffset::UTC);
        assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.', "{t}");
    }

    #[test]
    fn default_policy_keeps_secret_bodies_out() {
        let p = Policy::default_policy();
        let u = UserInfo::default();
        assert_eq!(p.level(&u, &req("", "secrets", "create")), Level::Metadata);
        assert_eq!(p.level(&u, &req("", "pods", "get")), Level::Metadata);
        let health = RequestAttributes {
            verb: "get".into(),
            path: "/healthz".into(),
            ..Default::default()
        };
        assert_eq!(p.level(&u, &health), Level::None);
    }

    #[test]
    fn first_matching_rule_wins_and_fields_must_all_match() {
        let p: Policy = serde_yaml::from_str(
            r#"
rules:
  - level: None
    users: ["system:kube-proxy"]
  - level: RequestResponse
    verbs: ["create"]
    resources: [{group: "", resources: ["configmaps"]}]
    namespaces: ["prod"]
  - level: Request
    userGroups: ["devs"]
"#,
        )
        .expect("policy");
        let dev = UserInfo {
            name: "d".into(),
            groups: vec!["devs".into()],
            ..Default::default()
        };
        let mut r = req("", "configmaps", "create");
        r.namespace = "prod".into();
        assert_eq!(p.level(&dev, &r), Level::RequestResponse);
        r.namespace = "dev".into();
        assert_eq!(p.level(&dev, &r), Level::Request);
        let proxy = UserInfo {
            name: "system:kube-proxy".into(),
            ..Default::default()
        };
        assert_eq!(p.level(&proxy, &r), Level::None);
        assert_eq!(p.level(&UserInfo::default(), &r), Level::None);
    }
}
