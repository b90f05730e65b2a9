//! batch/v1 Job and CronJob.

use super::podspec::{
    containers_and_images, default_template_at, format_selector, non_negative, obj_at, set_default,
    set_default_str, template_restart_policy, typed_col, validate_template,
};
use super::{TypeRules, col, wide};
use crate::labels::Selector;
use crate::table::{AGE_COLUMN, Column, NAME_COLUMN, human_duration_nanos, since_cell};
use crate::util::{get, get_str, is_zero, parse_time};
use crate::validation::{FieldError, NameRule, immutable, validate_label_selector};
use serde_json::{Map, Value, json};

/// The label the generated selector selects on.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The job-name label set on generated pod templates.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
const LEGACY_JOB_NAME_LABEL: &str = "job-name";

const JOB_RESTART_POLICIES: &[&str] = &["OnFailure", "Never"];

fn name_cell(obj: &Value) -> Value {
    Value::from(get_str(obj, &["metadata", "name"]).unwrap_or(""))
}

fn age_cell(obj: &Value) -> Value {
    since_cell(get_str(obj, &["metadata", "creationTimestamp"]))
}

/// `SetDefaults_Job` on a JobSpec object (without the Job-level label copy).
fn default_job_spec(spec: &mut Map<String, Value>) {
    let none = |spec: &Map<String, Value>, k: &str| spec.get(k).is_none_or(Value::is_null);
    if none(spec, "completions") && none(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    if none(spec, "backoffLimit") {
        let limit = if none(spec, "backoffLimitPerIndex") {
            6
        } else {
            i64::from(i32::MAX)
        };
        spec.insert("backoffLimit".into(), json!(limit));
    }
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    let replacement = if none(spec, "podFailurePolicy") {
        "TerminatingOrFailed"
    } else {
        "Failed"
    };
    set_default(spec, "podReplacementPolicy", json!(replacement));
    set_default(spec, "manualSelector", json!(false));
    if let Some(Value::Object(pfp)) = spec.get_mut("podFailurePolicy") {
        for rule in super::podspec::each_item(pfp, "rules") {
            for pattern in super::podspec::each_item(rule, "onPodConditions") {
                set_default_str(pattern, "status", "True");
            }
        }
    }
}

/// Job: `SetDefaults_Job`, selector generation with the controller-uid
/// labels, template immutability; STATUS / COMPLETIONS / DURATION columns.
pub struct JobRules;

impl TypeRules for JobRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(spec) = obj_at(obj, &["spec"]) {
            default_job_spec(spec);
        }
        copy_template_labels(obj);
        default_template_at(obj, &["spec", "template"]);
    }

    /// Defaults, then `PrepareForCreate`: empty status and, unless
    /// `manualSelector`, the generated selector and template labels.
    fn default_on_create(&self, obj: &mut Value) {
        self.apply_defaults(obj);
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({}));
        }
        let manual = get(obj, &["spec", "manualSelector"]).and_then(Value::as_bool) == Some(true);
        if !manual {
            generate_selector(obj);
        }
        // Upstream copies the template labels when the object is next
        // decoded (defaulting on read); do it once here.
        copy_template_labels(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let spec = get(obj, &["spec"]).unwrap_or(&Value::Null);
        for f in [
            "parallelism",
            "completions",
            "backoffLimit",
            "activeDeadlineSeconds",
            "ttlSecondsAfterFinished",
        ] {
            non_negative(obj, &["spec", f], &mut out);
        }
        if let Some(n) = get(spec, &["activeDeadlineSeconds"]).and_then(Value::as_i64)
            && n == 0
        {
            out.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                n,
                "must be greater than or equal to 1",
            ));
        }
        const MODES: &[&str] = &["Indexed", "NonIndexed"];
        let mode = get_str(spec, &["completionMode"]).unwrap_or("");
        if !MODES.contains(&mode) {
            out.push(FieldError::not_supported(
                "spec.completionMode",
                mode,
                MODES,
            ));
        } else if mode == "Indexed" && is_zero(get(spec, &["completions"])) {
            out.push(FieldError::required(
                "spec.completions",
                "when completion mode is Indexed",
            ));
        }
        validate_job_selector(obj, &mut out);
        out.extend(validate_template(get(spec, &["template"]), "spec.template"));
        template_restart_policy(
            get(spec, &["template"]),
            "spec.template",
            JOB_RESTART_POLICIES,
            &mut out,
        );
        out
    }

    /// Create rules; selector, completionMode, podFailurePolicy and (for a
    /// job that is not suspended) the template are immutable; completions
    /// too except in Indexed mode when it follows parallelism.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.validate_create(new);
        let field = |v: &'_ Value, f: &str| get(v, &["spec", f]).cloned();
        for f in [
            "selector",
            "completionMode",
            "podFailurePolicy",
            "backoffLimitPerIndex",
        ] {
            immutable(
                field(new, f).as_ref(),
                field(old, f).as_ref(),
                &format!("spec.{f}"),
                &mut out,
            );
        }
        let indexed = get_str(new, &["spec", "completionMode"]) == Some("Indexed");
        let elastic = indexed
            && field(new, "completions") == field(new, "parallelism")
            && field(old, "completions") == field(old, "parallelism");
        if !elastic {
            immutable(
                field(new, "completions").as_ref(),
                field(old, "completions").as_ref(),
                "spec.completions",
                &mut out,
            );
        }
        let suspended = get(old, &["spec", "suspend"]).and_then(Value::as_bool) == Some(true);
        if !suspended {
            immutable(
                field(new, "template").as_ref(),
                field(old, "template").as_ref(),
                "spec.template",
                &mut out,
            );
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Status", "Status of the job."),
            col(
                "Completions",
                "The completion status of the job as succeeded/completions.",
            ),
            col("Duration", "Time required to complete the job."),
            AGE_COLUMN,
            wide("Containers", "Names of each container in the template."),
            wide(
                "Images",
                "Images referenced by each container in the template.",
            ),
            wide("Selector", "Selector of the job."),
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let has = |t: &str| {
            get(obj, &["status", "conditions"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| {
                    get_str(c, &["type"]) == Some(t) && get_str(c, &["status"]) == Some("True")
                })
        };
        let status = if has("Complete") {
            "Complete"
        } else if has("Failed") {
            "Failed"
        } else if get(obj, &["metadata", "deletionTimestamp"]).is_some() {
            "Terminating"
        } else if has("Suspended") {
            "Suspended"
        } else if has("FailureTarget") {
            "FailureTarget"
        } else if has("SuccessCriteriaMet") {
            "SuccessCriteriaMet"
        } else {
            "Running"
        };
        let succeeded = get(obj, &["status", "succeeded"])
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let completions = match (
            get(obj, &["spec", "completions"]).and_then(Value::as_i64),
            get(obj, &["spec", "parallelism"]).and_then(Value::as_i64),
        ) {
            (Some(c), _) => format!("{succeeded}/{c}"),
            (None, Some(p)) if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        };
        let start = get_str(obj, &["status", "startTime"]);
        let end = get_str(obj, &["status", "completionTime"]);
        let duration = match (start.and_then(parse_time), end.and_then(parse_time)) {
            (None, _) => Value::from(""),
            (Some(_), None) => since_cell(start),
            (Some(s), Some(e)) => Value::from(human_duration_nanos((e - s).whole_nanoseconds())),
        };
        let (c, i) = containers_and_images(get(obj, &["spec", "template", "spec"]));
        vec![
            name_cell(obj),
            Value::from(status),
            Value::from(completions),
            duration,
            age_cell(obj),
            Value::from(c),
            Value::from(i),
            Value::from(format_selector(get(obj, &["spec", "selector"]))),
        ]
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// `metadata.labels` = template labels when the Job has none.
fn copy_template_labels(obj: &mut Value) {
    let template_labels = get(obj, &["spec", "template", "metadata", "labels"])
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned();
    let Some(labels) = template_labels else {
        return;
    };
    if is_zero(get(obj, &["metadata", "labels"]))
        && let Some(meta) = obj_at(obj, &["metadata"])
    {
        meta.insert("labels".into(), labels);
    }
}

/// Upstream `generateSelector`.
fn generate_selector(obj: &mut Value) {
    let uid = get_str(obj, &["metadata", "uid"]).unwrap_or("").to_string();
    let name = get_str(obj, &["metadata", "name"])
        .unwrap_or("")
        .to_string();
    let Some(spec) = obj_at(obj, &["spec"]) else {
        return;
    };
    let template = spec.entry("template").or_insert_with(|| json!({}));
    if let Some(t) = template.as_object_mut() {
        let meta = t.entry("metadata").or_insert_with(|| json!({}));
        if meta.is_null() {
            *meta = json!({});
        }
        if let Some(meta) = meta.as_object_mut() {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if labels.is_null() {
                *labels = json!({});
            }
            if let Some(labels) = labels.as_object_mut() {
                for k in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
                    labels.entry(k).or_insert_with(|| json!(name));
                }
                for k in [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL] {
                    labels.entry(k).or_insert_with(|| json!(uid));
                }
            }
        }
    }
    let selector = spec.entry("selector").or_insert_with(|| json!({}));
    if selector.is_null() {
        *selector = json!({});
    }
    if let Some(sel) = selector.as_object_mut() {
        let ml = sel.entry("matchLabels").or_insert_with(|| json!({}));
        if ml.is_null() {
            *ml = json!({});
        }
        if let Some(ml) = ml.as_object_mut() {
            ml.entry(CONTROLLER_UID_LABEL).or_insert_with(|| json!(uid));
        }
    }
}

fn validate_job_selector(obj: &Value, out: &mut Vec<FieldError>) {
    let spec = get(obj, &["spec"]).unwrap_or(&Value::Null);
    let Some(sel) = get(spec, &["selector"]).filter(|s| !s.is_null()) else {
        out.push(FieldError::required("spec.selector", ""));
        return;
    };
    out.extend(validate_label_selector(sel, "spec.selector"));
    let Ok(parsed) = Selector::from_label_selector(sel) else {
        return;
    };
    let labels = get(spec, &["template", "metadata", "labels"]);
    if !parsed.matches(labels.and_then(Value::as_object)) {
        out.push(FieldError::invalid(
            "spec.template.metadata.labels",
            labels.cloned().unwrap_or(json!({})),
            "`selector` does not match template `labels`",
        ));
    }
    let manual = get(spec, &["manualSelector"]).and_then(Value::as_bool) == Some(true);
    if !manual {
        let uid = get_str(obj, &["metadata", "uid"]).unwrap_or("");
        let mut expected = Map::new();
        expected.insert(CONTROLLER_UID_LABEL.into(), json!(uid));
        if !parsed.matches(Some(&expected)) {
            out.push(FieldError::invalid(
                "spec.selector",
                sel.clone(),
                "`selector` not auto-generated",
            ));
        }
    }
}

/// CronJob: `SetDefaults_CronJob` and template defaults; schedule and
/// concurrency policy checks; SCHEDULE / TIMEZONE / SUSPEND / ACTIVE /
/// LAST SCHEDULE columns.
pub struct CronJobRules;

/// Whether `s` is a cron schedule upstream's parser accepts: 5 fields of
/// `*`, numbers, names, ranges, lists and steps, or a `@` descriptor.
fn valid_schedule(s: &str) -> Result<(), String> {
    let s = s.trim();
    if let Some(d) = s.strip_prefix('@') {
        return match d {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            _ if d.starts_with("every ") => Ok(()),
            _ => Err(format!("unrecognized descriptor: {s}")),
        };
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for f in fields {
        let ok = f.split(',').all(|part| {
            let (range, step) = match part.split_once('/') {
                Some((r, st)) => (r, Some(st)),
                None => (part, None),
            };
            let step_ok = step.is_none_or(|st| st.parse::<u32>().is_ok_and(|n| n > 0));
            let range_ok = range == "*"
                || range == "?"
                || range
                    .split('-')
                    .all(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric()));
            step_ok && range_ok
        });
        if !ok {
            return Err(format!("failed to parse int from {f}"));
        }
    }
    Ok(())
}

impl TypeRules for CronJobRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(spec) = obj_at(obj, &["spec"]) {
            set_default_str(spec, "concurrencyPolicy", "Allow");
            set_default(spec, "suspend", json!(false));
            set_default(spec, "successfulJobsHistoryLimit", json!(3));
            set_default(spec, "failedJobsHistoryLimit", json!(1));
        }
        default_template_at(obj, &["spec", "jobTemplate", "spec", "template"]);
    }

    fn default_on_create(&self, obj: &mut Value) {
        self.apply_defaults(obj);
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({}));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let name = get_str(obj, &["metadata", "name"]).unwrap_or("");
        if name.len() > 52 {
            out.push(FieldError::invalid(
                "metadata.name",
                name,
                "must be no more than 52 characters",
            ));
        }
        let spec = get(obj, &["spec"]).unwrap_or(&Value::Null);
        match get_str(spec, &["schedule"]).unwrap_or("") {
            "" => out.push(FieldError::required("spec.schedule", "")),
            s if s.contains("TZ=") => out.push(FieldError::invalid(
                "spec.schedule",
                s,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            )),
            s => {
                if let Err(e) = valid_schedule(s) {
                    out.push(FieldError::invalid("spec.schedule", s, e));
                }
            }
        }
        const POLICIES: &[&str] = &["Allow", "Forbid", "Replace"];
        let p = get_str(spec, &["concurrencyPolicy"]).unwrap_or("");
        if !POLICIES.contains(&p) {
            out.push(FieldError::not_supported(
                "spec.concurrencyPolicy",
                p,
                POLICIES,
            ));
        }
        for f in [
            "startingDeadlineSeconds",
            "successfulJobsHistoryLimit",
            "failedJobsHistoryLimit",
        ] {
            non_negative(obj, &["spec", f], &mut out);
        }
        let jt = get(spec, &["jobTemplate", "spec"]).unwrap_or(&Value::Null);
        if let Some(sel) = get(jt, &["selector"]).filter(|s| !s.is_null()) {
            out.extend(validate_label_selector(
                sel,
                "spec.jobTemplate.spec.selector",
            ));
        }
        out.extend(validate_template(
            get(jt, &["template"]),
            "spec.jobTemplate.spec.template",
        ));
        template_restart_policy(
            get(jt, &["template"]),
            "spec.jobTemplate.spec.template",
            JOB_RESTART_POLICIES,
            &mut out,
        );
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col(
                "Schedule",
                "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
            ),
            col(
                "Timezone",
                "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones",
            ),
            typed_col(
                "Suspend",
                "boolean",
                "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.",
            ),
            typed_col(
                "Active",
                "integer",
                "A list of pointers to currently running jobs.",
            ),
            col(
                "Last Schedule",
                "Information when was the last time the job was successfully scheduled.",
            ),
            AGE_COLUMN,
            wide("Containers", "Names of each container in the template."),
            wide(
                "Images",
                "Images referenced by each container in the template.",
            ),
            wide("Selector", "Selector of the job."),
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let suspend = match get(obj, &["spec", "suspend"]).and_then(Value::as_bool) {
            Some(true) => "True",
            Some(false) => "False",
            None => "<unset>",
        };
        let last = match get_str(obj, &["status", "lastScheduleTime"]) {
            Some(t) => since_cell(Some(t)),
            None => Value::from("<none>"),
        };
        let active = get(obj, &["status", "active"])
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let (c, i) = containers_and_images(get(
            obj,
            &["spec", "jobTemplate", "spec", "template", "spec"],
        ));
        vec![
            name_cell(obj),
            Value::from(get_str(obj, &["spec", "schedule"]).unwrap_or("")),
            Value::from(
                get_str(obj, &["spec", "timeZone"])
                    .filter(|s| !s.is_empty())
                    .unwrap_or("<none>"),
            ),
            Value::from(suspend),
            Value::from(active),
            last,
            age_cell(obj),
            Value::from(c),
            Value::from(i),
            Value::from(format_selector(get(
                obj,
                &["spec", "jobTemplate", "spec", "selector"],
            ))),
        ]
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}
