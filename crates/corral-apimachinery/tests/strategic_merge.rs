//! Strategic merge patch: data-driven cases from `tests/data/strategic/*.json`
//! plus checks of the kind descriptions.
//!
//! A case file is `{"cases": [...]}`; each case has a `name`, an `original`,
//! a `patch`, the schema to use (`"group"` + `"kind"` for a built-in kind, or
//! `"schema": "item"` for the test type below) and either the `expected`
//! object or an `error` substring (with an optional HTTP `status`).

use corral_apimachinery::patch::PatchError;
use corral_apimachinery::patch::meta::{
    ATOMIC_LIST, KINDS, ListStrategy, OPAQUE, PRIMITIVE_SET, PatchSchema, STRING_MAP, field,
    merge_by, schema_for,
};
use corral_apimachinery::patch::strategic::strategic_merge;
use corral_apimachinery::types::REGISTRY;
use serde_json::Value;
use std::path::PathBuf;

/// A made-up type with one field per strategy, to test each in isolation
/// (in the spirit of upstream's `MergeItem` test struct).
const INNER: PatchSchema = PatchSchema::Object(&[
    field("mergingList", merge_by("name", &OPAQUE)),
    field("mergingIntList", PRIMITIVE_SET),
]);

const ITEM: PatchSchema = PatchSchema::Object(&[
    field("mergingList", merge_by("name", &INNER)),
    field("nonMergingList", ATOMIC_LIST),
    field("mergingIntList", PRIMITIVE_SET),
    field("nonMergingIntList", ATOMIC_LIST),
    field("simpleMap", STRING_MAP),
    field("replacingItem", PatchSchema::Atomic),
    field("retainKeysMap", INNER).retain_keys(),
    field("retainKeysMergingList", merge_by("name", &INNER)).retain_keys(),
]);

struct Case {
    file: String,
    spec: Value,
}

impl Case {
    fn name(&self) -> String {
        format!(
            "{}: {}",
            self.file,
            self.spec["name"].as_str().unwrap_or("?")
        )
    }

    fn schema(&self) -> Result<&'static PatchSchema, String> {
        if let Some(kind) = self.spec["kind"].as_str() {
            let group = self.spec["group"].as_str().unwrap_or("");
            return schema_for(group, kind).ok_or(format!("no patch schema for {group}/{kind}"));
        }
        match self.spec["schema"].as_str() {
            Some("item") => Ok(&ITEM),
            Some("opaque") => Ok(&OPAQUE),
            other => Err(format!("unknown schema {other:?}")),
        }
    }
}

fn cases() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/strategic");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/strategic exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        let doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for spec in doc["cases"].as_array().expect("a cases array") {
            out.push(Case {
                file: file.clone(),
                spec: spec.clone(),
            });
        }
    }
    out
}

/// Paths of object keys that look like patch directives.
fn directive_keys(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k.starts_with('$') {
                    out.push(format!("{path}.{k}"));
                }
                directive_keys(child, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                directive_keys(child, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Runs one case; `Err` describes the failure.
fn run(case: &Case) -> Result<(), String> {
    let schema = case.schema()?;
    let original = &case.spec["original"];
    let patch = &case.spec["patch"];
    let (original_before, patch_before) = (original.clone(), patch.clone());
    let got = strategic_merge(original, patch, schema);
    if *original != original_before || *patch != patch_before {
        return Err("an input was modified".into());
    }
    // Deterministic: a second run gives the same answer.
    if strategic_merge(original, patch, schema) != got {
        return Err("two runs disagree".into());
    }
    match (&case.spec["expected"], case.spec["error"].as_str(), got) {
        (expected, None, Ok(got)) if !expected.is_null() => {
            if got != *expected {
                return Err(format!("\n got:      {got}\n expected: {expected}"));
            }
            let mut leaked = Vec::new();
            directive_keys(&got, "", &mut leaked);
            if !leaked.is_empty() {
                return Err(format!("directives in the result: {leaked:?}"));
            }
            Ok(())
        }
        (_, Some(want), Err(err)) => {
            let message = err.to_string();
            if !message.contains(want) {
                return Err(format!("error {message:?} does not contain {want:?}"));
            }
            if let Some(status) = case.spec["status"].as_u64()
                && u64::from(err.http_status()) != status
            {
                return Err(format!("status {} != {status}", err.http_status()));
            }
            Ok(())
        }
        (_, Some(want), Ok(got)) => Err(format!("expected error {want:?}, got {got}")),
        (_, None, Err(err)) => Err(format!("unexpected error: {err}")),
        (_, None, Ok(_)) => Err("case has neither expected nor error".into()),
    }
}

#[test]
fn data_driven_cases() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| run(c).err().map(|e| format!("{}: {e}", c.name())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<String> = cases().iter().map(Case::name).collect();
    let total = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), total, "duplicate case names");
}

#[test]
fn every_served_kind_has_a_patch_schema() {
    for (group, kind, _) in REGISTRY {
        assert!(
            schema_for(group, kind).is_some(),
            "no patch schema for {group}/{kind}"
        );
    }
    for (group, kind) in KINDS {
        let schema = schema_for(group, kind).expect("listed kinds resolve");
        let meta = schema.field_schema("metadata");
        assert_eq!(
            meta.field_schema("ownerReferences").list_parts().1,
            ListStrategy::MergeByKey("uid"),
            "{group}/{kind} metadata.ownerReferences"
        );
        assert_eq!(
            meta.field_schema("finalizers").list_parts().1,
            ListStrategy::MergeSet,
            "{group}/{kind} metadata.finalizers"
        );
    }
    assert!(schema_for("example.com", "Widget").is_none());
    assert!(
        schema_for("", "Deployment").is_none(),
        "Deployment is apps/"
    );
}

/// The schema at `path` inside a kind; a `[]` step enters a list's elements.
fn at(group: &str, kind: &str, path: &[&str]) -> &'static PatchSchema {
    let mut schema = schema_for(group, kind).expect("described");
    for step in path {
        schema = match *step {
            "[]" => schema.list_parts().0,
            name => schema.field_schema(name),
        };
    }
    schema
}

#[test]
fn upstream_tags_are_recorded() {
    use ListStrategy::{MergeByKey, MergeSet, Replace};
    let rbac = "rbac.authorization.k8s.io";
    let expectations: &[(&str, &str, &[&str], ListStrategy)] = &[
        ("", "Pod", &["spec", "containers"], MergeByKey("name")),
        ("", "Pod", &["spec", "initContainers"], MergeByKey("name")),
        (
            "",
            "Pod",
            &["spec", "ephemeralContainers"],
            MergeByKey("name"),
        ),
        (
            "",
            "Pod",
            &["spec", "containers", "[]", "env"],
            MergeByKey("name"),
        ),
        (
            "",
            "Pod",
            &["spec", "containers", "[]", "ports"],
            MergeByKey("containerPort"),
        ),
        (
            "",
            "Pod",
            &["spec", "containers", "[]", "volumeMounts"],
            MergeByKey("mountPath"),
        ),
        (
            "",
            "Pod",
            &["spec", "containers", "[]", "volumeDevices"],
            MergeByKey("devicePath"),
        ),
        ("", "Pod", &["spec", "containers", "[]", "envFrom"], Replace),
        ("", "Pod", &["spec", "volumes"], MergeByKey("name")),
        ("", "Pod", &["spec", "imagePullSecrets"], MergeByKey("name")),
        ("", "Pod", &["spec", "hostAliases"], MergeByKey("ip")),
        (
            "",
            "Pod",
            &["spec", "topologySpreadConstraints"],
            MergeByKey("topologyKey"),
        ),
        ("", "Pod", &["spec", "tolerations"], Replace),
        ("", "Pod", &["status", "conditions"], MergeByKey("type")),
        ("", "Service", &["spec", "ports"], MergeByKey("port")),
        ("", "ServiceAccount", &["secrets"], MergeByKey("name")),
        ("", "ServiceAccount", &["imagePullSecrets"], Replace),
        ("", "Namespace", &["spec", "finalizers"], Replace),
        ("", "Namespace", &["metadata", "finalizers"], MergeSet),
        ("", "ConfigMap", &["metadata", "managedFields"], Replace),
        (rbac, "Role", &["rules"], Replace),
        (
            rbac,
            "ClusterRole",
            &["aggregationRule", "clusterRoleSelectors"],
            Replace,
        ),
        (rbac, "RoleBinding", &["subjects"], Replace),
        (
            "apps",
            "Deployment",
            &["spec", "template", "spec", "containers"],
            MergeByKey("name"),
        ),
        (
            "apps",
            "Deployment",
            &["spec", "template", "metadata", "finalizers"],
            MergeSet,
        ),
    ];
    for (group, kind, path, strategy) in expectations {
        assert_eq!(
            at(group, kind, path).list_parts().1,
            *strategy,
            "{group}/{kind} {path:?}"
        );
    }
    let retain_keys = |group: &str, kind: &str, path: &[&str], name: &str| {
        at(group, kind, path)
            .field_info(name)
            .is_some_and(|f| f.retain_keys)
    };
    assert!(retain_keys("", "Pod", &["spec"], "volumes"));
    assert!(retain_keys("", "Pod", &["spec"], "resourceClaims"));
    assert!(!retain_keys("", "Pod", &["spec"], "containers"));
    assert!(retain_keys("apps", "Deployment", &["spec"], "strategy"));
    // Unknown paths are opaque: JSON merge patch.
    assert!(matches!(
        at("", "Pod", &["spec", "nodeSelector", "x"]),
        PatchSchema::Opaque
    ));
}

#[test]
fn error_statuses_follow_kube_apiserver() {
    assert_eq!(PatchError::BadRetainKeys.http_status(), 400);
    assert_eq!(PatchError::BadPrimitiveList.http_status(), 400);
    assert_eq!(PatchError::BadSetElementOrder.http_status(), 400);
    assert_eq!(PatchError::BadJsonDoc.http_status(), 400);
    assert_eq!(PatchError::ListOfLists.http_status(), 422);
    assert_eq!(PatchError::MergeDirectiveInList.http_status(), 500);
}
