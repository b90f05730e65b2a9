//! `metadata.managedFields`: decoding and encoding the entries, and the
//! field manager's Update workflow (upstream
//! `k8s.io/apimachinery/pkg/util/managedfields/internal`: `FieldManager.Update`
//! and the managers it chains: skip-non-applied, cap-managers,
//! build-manager-info, managed-fields-updater, strip-meta; plus
//! `merge.Updater.Update` from structured-merge-diff).

use super::FieldManagerError;
use super::fieldpath::{FieldPath, FieldSet};
use super::typed::{ListTypes, compare};
use super::validate_field_manager;
use crate::util::{format_rfc3339_utc, go_json_string, parse_time};
use crate::validation::FieldError;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Upstream `DefaultMaxUpdateManagers`: beyond this many Update entries the
/// oldest are merged into an `ancient-changes` entry per API version.
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// The manager name of the merged bucket of old Update entries.
pub const ANCIENT_CHANGES_MANAGER: &str = "ancient-changes";

/// Upstream `MaxSubresourceNameLength`.
pub const MAX_SUBRESOURCE_NAME_LENGTH: usize = 256;

/// The only `fieldsType` there is.
pub const FIELDS_V1: &str = "FieldsV1";

/// How an entry's fields were last written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write (create, update, patch).
    Update,
}

impl Operation {
    /// `"Apply"` or `"Update"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One element of `metadata.managedFields`.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedFieldsEntry {
    /// The field manager (may be empty in client-sent entries).
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// The group/version the fields are expressed in.
    pub api_version: String,
    /// When the entry last changed, RFC 3339 in UTC with seconds precision
    /// (how `metav1.Time` serializes).
    pub time: Option<String>,
    /// Always `"FieldsV1"`.
    pub fields_type: String,
    /// The owned fields.
    pub fields: FieldSet,
    /// The subresource written through (`status`, `scale`), if any.
    pub subresource: Option<String>,
}

impl ManagedFieldsEntry {
    /// A new Update entry.
    pub fn update(manager: &str, api_version: &str, subresource: Option<&str>) -> Self {
        ManagedFieldsEntry {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: api_version.to_string(),
            time: None,
            fields_type: FIELDS_V1.to_string(),
            fields: FieldSet::new(),
            subresource: subresource.filter(|s| !s.is_empty()).map(str::to_string),
        }
    }

    /// Upstream `BuildManagerIdentifier`: the JSON of the entry without its
    /// fields, type and time (and without the API version for Apply). Two
    /// entries with the same identifier are the same manager.
    pub fn identifier(&self) -> String {
        let mut parts = Vec::new();
        if !self.manager.is_empty() {
            parts.push(format!("\"manager\":{}", go_json_string(&self.manager)));
        }
        parts.push(format!("\"operation\":\"{}\"", self.operation.as_str()));
        if self.operation == Operation::Update && !self.api_version.is_empty() {
            parts.push(format!(
                "\"apiVersion\":{}",
                go_json_string(&self.api_version)
            ));
        }
        if let Some(sub) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            parts.push(format!("\"subresource\":{}", go_json_string(sub)));
        }
        format!("{{{}}}", parts.join(","))
    }

    /// The entry as JSON (empty strings and a missing time omitted, as Go's
    /// `omitempty` does).
    pub fn to_json(&self) -> Value {
        self.to_json_with_fields(self.fields.to_fields_v1())
    }

    /// The entry as JSON with `fields_v1` as its fields (already in FieldsV1
    /// form), ignoring [`ManagedFieldsEntry::fields`].
    pub(crate) fn to_json_with_fields(&self, fields_v1: Value) -> Value {
        let mut m = Map::new();
        if !self.manager.is_empty() {
            m.insert("manager".into(), Value::from(self.manager.as_str()));
        }
        m.insert("operation".into(), Value::from(self.operation.as_str()));
        if !self.api_version.is_empty() {
            m.insert("apiVersion".into(), Value::from(self.api_version.as_str()));
        }
        if let Some(t) = &self.time {
            m.insert("time".into(), Value::from(t.as_str()));
        }
        m.insert("fieldsType".into(), Value::from(FIELDS_V1));
        m.insert("fieldsV1".into(), fields_v1);
        if let Some(sub) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            m.insert("subresource".into(), Value::from(sub));
        }
        Value::Object(m)
    }

    /// Decodes entry number `index` with upstream's checks
    /// (`DecodeManagedFields`): operation Apply or Update, a non-empty
    /// apiVersion, fieldsType FieldsV1, parseable fieldsV1 (absent means
    /// empty). Values of the wrong JSON type are errors too.
    pub fn from_json(v: &Value, index: usize) -> Result<ManagedFieldsEntry, FieldManagerError> {
        let Some(obj) = v.as_object() else {
            return Err(decode_err(format!(
                "managed fields entry {index} is not an object"
            )));
        };
        let manager = string_field(obj, "manager", index)?;
        let operation = match string_field(obj, "operation", index)?.as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err(decode_err("operation must be `Apply` or `Update`")),
        };
        let api_version = string_field(obj, "apiVersion", index)?;
        if api_version.is_empty() {
            return Err(decode_err("apiVersion must not be empty"));
        }
        match string_field(obj, "fieldsType", index)?.as_str() {
            FIELDS_V1 => {}
            "" => {
                return Err(decode_err(format!(
                    "missing fieldsType in managed fields entry {index}"
                )));
            }
            other => {
                return Err(decode_err(format!(
                    "invalid fieldsType {} in managed fields entry {index}",
                    crate::util::go_quote(other)
                )));
            }
        }
        let time = match obj.get("time") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match parse_time(s) {
                Some(t) => Some(format_rfc3339_utc(t)),
                None => {
                    return Err(decode_err(format!(
                        "invalid time {s:?} in managed fields entry {index}"
                    )));
                }
            },
            Some(_) => {
                return Err(decode_err(format!(
                    "time must be a string in managed fields entry {index}"
                )));
            }
        };
        let fields = match obj.get("fieldsV1") {
            None => FieldSet::new(),
            Some(f) => FieldSet::from_fields_v1(f).map_err(|e| {
                decode_err(format!(
                    "error decoding set in managed fields entry {index}: {e}"
                ))
            })?,
        };
        let subresource = string_field(obj, "subresource", index)?;
        Ok(ManagedFieldsEntry {
            manager,
            operation,
            api_version,
            time,
            fields_type: FIELDS_V1.to_string(),
            fields,
            subresource: (!subresource.is_empty()).then_some(subresource),
        })
    }

    fn time_seconds(&self) -> i64 {
        self.time
            .as_deref()
            .and_then(parse_time)
            .map_or(0, |t| t.unix_timestamp())
    }
}

fn string_field(
    obj: &Map<String, Value>,
    name: &str,
    index: usize,
) -> Result<String, FieldManagerError> {
    match obj.get(name) {
        // Go leaves a string field empty for JSON null.
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(decode_err(format!(
            "{name} must be a string in managed fields entry {index}"
        ))),
    }
}

fn decode_err(msg: impl Into<String>) -> FieldManagerError {
    FieldManagerError::Decode(msg.into())
}

/// Decodes a `metadata.managedFields` value (absent or `null` is empty).
pub fn decode_managed_fields(
    v: Option<&Value>,
) -> Result<Vec<ManagedFieldsEntry>, FieldManagerError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, e)| ManagedFieldsEntry::from_json(e, i))
            .collect(),
        Some(_) => Err(decode_err("managedFields must be a list")),
    }
}

/// Sorts entries as upstream stores them: Apply before Update, then by time
/// (seconds; no time counts as 0), manager, apiVersion, subresource.
pub fn sort_entries(entries: &mut [ManagedFieldsEntry]) {
    entries.sort_by(storage_order);
}

fn storage_order(p: &ManagedFieldsEntry, q: &ManagedFieldsEntry) -> std::cmp::Ordering {
    p.operation
        .as_str()
        .cmp(q.operation.as_str())
        .then_with(|| p.time_seconds().cmp(&q.time_seconds()))
        .then_with(|| p.manager.cmp(&q.manager))
        .then_with(|| p.api_version.cmp(&q.api_version))
        .then_with(|| p.subresource.cmp(&q.subresource))
}

/// Encodes entries, sorted, as the `metadata.managedFields` value.
pub fn encode_managed_fields(entries: &[ManagedFieldsEntry]) -> Value {
    let mut sorted: Vec<&ManagedFieldsEntry> = entries.iter().collect();
    sorted.sort_by(|p, q| storage_order(p, q));
    Value::Array(
        sorted
            .into_iter()
            .map(ManagedFieldsEntry::to_json)
            .collect(),
    )
}

/// Upstream `ValidateManagedFields` over the JSON entries, reported under
/// `path` (normally `metadata.managedFields`): operation, fieldsType,
/// manager (length, printable) and subresource length.
pub fn validate_managed_fields(v: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(items) = v.as_array() else {
        return errs;
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let get = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
        let operation = get("operation");
        if operation != "Apply" && operation != "Update" {
            errs.push(FieldError::invalid(
                format!("{at}.operation"),
                operation,
                "must be `Apply` or `Update`",
            ));
        }
        let fields_type = get("fieldsType");
        if !fields_type.is_empty() && fields_type != FIELDS_V1 {
            errs.push(FieldError::invalid(
                format!("{at}.fieldsType"),
                fields_type,
                "must be `FieldsV1`",
            ));
        }
        errs.extend(validate_field_manager(
            get("manager"),
            &format!("{at}.manager"),
        ));
        if get("subresource").len() > MAX_SUBRESOURCE_NAME_LENGTH {
            errs.push(FieldError::too_long(
                format!("{at}.subresource"),
                MAX_SUBRESOURCE_NAME_LENGTH,
            ));
        }
    }
    errs
}

/// What [`update_managed_fields`] needs besides the two objects.
#[derive(Clone, Copy)]
pub struct UpdateOptions<'a> {
    /// The field manager (the `fieldManager` parameter or
    /// [`super::default_manager`] of the User-Agent); empty becomes `unknown`.
    pub manager: &'a str,
    /// The subresource written (`Some("status")`), `None` for the main resource.
    pub subresource: Option<&'a str>,
    /// The group/version of the request (`v1`, `apps/v1`).
    pub api_version: &'a str,
    /// The current time, RFC 3339.
    pub now: &'a str,
    /// List and map types of the kind.
    pub types: &'a dyn ListTypes,
    /// Fields this request never takes ownership of, with everything below
    /// them (upstream reset fields): `status` for a main-resource update of a
    /// kind with a status subresource, `spec` (and what else the status
    /// strategy resets) for `/status`. Other managers keep them too.
    pub ignored: &'a FieldSet,
    /// On create, the kind's zero object as upstream's typed `New()`
    /// serializes it (e.g. `{"metadata":{"creationTimestamp":null},
    /// "spec":{...},"status":{}}`); containers present there are not
    /// reported as added. `None` means `{}` (right for CRDs).
    pub zero_object: Option<&'a Value>,
}

/// The fields a writer never owns (upstream strip-meta manager). Only the
/// `metadata` node itself is listed, not its children such as labels.
/// Built once: every tracked write subtracts it.
pub(crate) fn stripped_fields() -> &'static FieldSet {
    static STRIPPED: std::sync::LazyLock<FieldSet> =
        std::sync::LazyLock::new(build_stripped_fields);
    &STRIPPED
}

fn build_stripped_fields() -> FieldSet {
    let meta = |f: &str| FieldPath::fields(&["metadata", f]);
    let mut paths = vec![
        FieldPath::fields(&["apiVersion"]),
        FieldPath::fields(&["kind"]),
        FieldPath::fields(&["metadata"]),
    ];
    for f in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        paths.push(meta(f));
    }
    FieldSet::from_paths(paths)
}

/// Whether a client-sent managedFields asks for a reset: an empty list, or
/// a list of one empty entry (upstream `isResetManagedFields`).
fn is_reset(sent: Option<&Value>) -> bool {
    let Some(Value::Array(items)) = sent else {
        return false;
    };
    match items.as_slice() {
        [] => true,
        [only] => is_zero_entry(only),
        _ => false,
    }
}

/// Whether an entry decodes to Go's zero `ManagedFieldsEntry` (unknown keys
/// are ignored by Go's decoder, so they do not count).
fn is_zero_entry(v: &Value) -> bool {
    let Some(obj) = v.as_object() else {
        return false;
    };
    obj.iter().all(|(k, v)| match k.as_str() {
        "manager" | "operation" | "apiVersion" | "fieldsType" | "subresource" => {
            v.is_null() || v.as_str() == Some("")
        }
        "time" | "fieldsV1" => v.is_null(),
        _ => true,
    })
}

pub(crate) fn managed_fields_of(obj: &Value) -> Option<&Value> {
    obj.get("metadata")?.get("managedFields")
}

/// Records a create or update in `metadata.managedFields` of `new`
/// (upstream `FieldManager.UpdateNoErrors`). `live` is the stored object,
/// `None` on create.
///
/// * Managed fields sent by the client are kept when valid and non-empty (an
///   intentional overwrite); `[]` or `[{}]` resets them; anything else, and
///   every subresource write, starts from `live`'s.
/// * With no managed fields to start from, an update is not tracked at all
///   (the object stays without managedFields); a create always is.
/// * The manager's Update entry (keyed by manager, apiVersion and
///   subresource) gains the added and modified fields and loses removed
///   ones; other entries lose whatever changed or was removed, and are
///   dropped when empty. Only an entry that gained fields gets `now` as its
///   time, so a no-op update reproduces `live`'s managedFields exactly.
///
/// On error (an object whose list items cannot be identified), `new` gets
/// `live`'s managedFields back, as upstream does, and the error is returned
/// for logging only: the write may proceed.
pub fn update_managed_fields(
    live: Option<&Value>,
    new: &mut Value,
    opts: &UpdateOptions<'_>,
) -> Result<(), FieldManagerError> {
    if !new.is_object() {
        return Ok(());
    }
    let subresource = opts.subresource.filter(|s| !s.is_empty());
    // Undecodable live managed fields count as none, as upstream.
    let live_entries = || {
        live.and_then(|l| decode_managed_fields(managed_fields_of(l)).ok())
            .unwrap_or_default()
    };
    let start = if subresource.is_some() {
        live_entries()
    } else {
        let sent = managed_fields_of(new);
        if is_reset(sent) {
            Vec::new()
        } else {
            match decode_managed_fields(sent) {
                Ok(entries) if !entries.is_empty() => entries,
                _ => live_entries(),
            }
        }
    };
    remove_managed_fields(new);

    let is_create =
        live.is_none_or(|l| crate::util::str_or_empty(l, &["metadata", "uid"]).is_empty());
    if start.is_empty() && !is_create {
        return Ok(());
    }
    if is_create && start.is_empty() && opts.zero_object.is_none() {
        return record_create(new, subresource, opts);
    }
    let empty = Value::Object(Map::new());
    let base = match live {
        Some(l) => l,
        None => opts.zero_object.unwrap_or(&empty),
    };
    match track(base, new, start, subresource, opts) {
        Ok(entries) => {
            if !entries.is_empty()
                && let Some(meta) = crate::util::ensure_obj(new, &["metadata"])
            {
                meta.insert("managedFields".into(), encode_managed_fields(&entries));
            }
            Ok(())
        }
        Err(e) => {
            if let Some(mf) = live.and_then(managed_fields_of)
                && let Some(meta) = crate::util::ensure_obj(new, &["metadata"])
            {
                meta.insert("managedFields".into(), mf.clone());
            }
            Err(e)
        }
    }
}

/// A create with nothing to start from: everything the object sets belongs
/// to its writer. The same result as [`track`] against an empty object,
/// without merging with other managers' entries; creates are the most
/// frequent write.
fn record_create(
    new: &mut Value,
    subresource: Option<&str>,
    opts: &UpdateOptions<'_>,
) -> Result<(), FieldManagerError> {
    // Compared with an empty object, not `field_set`: a new map or list is
    // itself added (FieldsV1 `"."`), as upstream records it.
    let fields_v1 =
        match super::created::created_fields_v1(new, opts.types, opts.ignored, stripped_fields()) {
            Some(walked) => walked?,
            None => compare(&Value::Object(Map::new()), new, opts.types)?
                .exclude_fields(opts.ignored)
                .added
                .recursive_difference(opts.ignored)
                .difference(stripped_fields())
                .fields_v1_map(false),
        };
    if fields_v1.is_empty() {
        return Ok(());
    }
    let entry = writer_entry(subresource, opts);
    let json = entry.to_json_with_fields(Value::Object(fields_v1));
    if let Some(meta) = crate::util::ensure_obj(new, &["metadata"]) {
        meta.insert("managedFields".into(), Value::Array(vec![json]));
    }
    Ok(())
}

/// The writer's Update entry, timed now, with no fields yet.
fn writer_entry(subresource: Option<&str>, opts: &UpdateOptions<'_>) -> ManagedFieldsEntry {
    let manager = if opts.manager.is_empty() {
        "unknown"
    } else {
        opts.manager
    };
    let mut entry = ManagedFieldsEntry::update(manager, opts.api_version, subresource);
    entry.time = Some(normalize_time(opts.now));
    entry
}

pub(crate) fn remove_managed_fields(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
}

/// The ownership bookkeeping of one Update, on decoded entries.
pub(crate) fn track(
    base: &Value,
    new: &Value,
    start: Vec<ManagedFieldsEntry>,
    subresource: Option<&str>,
    opts: &UpdateOptions<'_>,
) -> Result<Vec<ManagedFieldsEntry>, FieldManagerError> {
    let cmp = compare(base, new, opts.types)?.exclude_fields(opts.ignored);
    // Later entries with the same identifier win, as in upstream's map.
    let mut managers: BTreeMap<String, ManagedFieldsEntry> =
        start.into_iter().map(|e| (e.identifier(), e)).collect();

    // An Update takes over changed fields silently and removed fields
    // belong to nobody any more.
    let changed = cmp.changed();
    for entry in managers.values_mut() {
        entry.fields = entry.fields.difference(&changed).difference(&cmp.removed);
    }
    managers.retain(|_, e| !e.fields.is_empty());

    let taken = changed
        .recursive_difference(opts.ignored)
        .difference(stripped_fields());
    if !taken.is_empty() {
        let mut entry = writer_entry(subresource, opts);
        let id = entry.identifier();
        entry.fields = match managers.get(&id) {
            Some(previous) => taken.union(&previous.fields),
            None => taken,
        };
        managers.insert(id, entry);
    }
    cap_update_managers(&mut managers);
    Ok(managers.into_values().collect())
}

pub(crate) fn normalize_time(now: &str) -> String {
    // The server passes its clock already in this form; parsing and
    // formatting it again on every write showed up in profiles.
    if is_rfc3339_utc_seconds(now) {
        return now.to_string();
    }
    parse_time(now).map_or_else(|| now.to_string(), format_rfc3339_utc)
}

/// `YYYY-MM-DDTHH:MM:SSZ` without a leap second: the form
/// [`format_rfc3339_utc`] writes. Such a string normalizes to itself: if it
/// is a valid time, formatting gives the same digits; if it is not, it is
/// kept as given either way.
fn is_rfc3339_utc_seconds(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
        && b[17] < b'6'
}

/// Upstream cap-managers manager: while there are more than
/// [`MAX_UPDATE_MANAGERS`] Update entries, the oldest are merged, per API
/// version, into an `ancient-changes` entry carrying the newest merged time.
pub(crate) fn cap_update_managers(managers: &mut BTreeMap<String, ManagedFieldsEntry>) {
    let mut updaters: Vec<(i64, String)> = managers
        .iter()
        .filter(|(_, e)| e.operation == Operation::Update)
        .map(|(id, e)| (e.time_seconds(), id.clone()))
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort();
    let mut remaining = updaters.len();
    let mut first_of_version: HashMap<String, String> = HashMap::new();
    for (_, id) in updaters {
        if remaining <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(entry) = managers.get(&id).cloned() else {
            continue;
        };
        let version = entry.api_version.clone();
        let Some(first) = first_of_version.get(&version).cloned() else {
            first_of_version.insert(version, id);
            continue;
        };
        let mut bucket = ManagedFieldsEntry::update(ANCIENT_CHANGES_MANAGER, &version, None);
        let bucket_id = bucket.identifier();
        let existing = match managers.remove(&bucket_id) {
            Some(b) => b.fields,
            // The first entry of this version becomes the bucket.
            None => managers
                .remove(&first)
                .map(|f| f.fields)
                .unwrap_or_default(),
        };
        bucket.fields = entry.fields.union(&existing);
        bucket.time = entry.time.clone();
        managers.remove(&id);
        managers.insert(bucket_id, bucket);
        remaining -= 1;
    }
}

/// Upstream `IgnoreManagedFieldsTimestampsTransformer`: when `new` differs
/// from `old` only in managedFields times (same entries in the same order,
/// same object otherwise), put `old`'s times back so the write can be
/// skipped. Returns whether it did.
pub fn revert_timestamp_only_changes(old: &Value, new: &mut Value) -> bool {
    let empty = Vec::new();
    let old_mf = managed_fields_of(old)
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let new_mf = managed_fields_of(new)
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if old_mf.len() != new_mf.len() || new_mf.is_empty() {
        return false;
    }
    let time_of = |e: &Value| e.get("time").and_then(Value::as_str).and_then(parse_time);
    if old_mf
        .iter()
        .zip(new_mf)
        .all(|(o, n)| time_of(o) == time_of(n))
    {
        return false;
    }
    let without_time = |e: &Value| {
        let mut e = e.clone();
        if let Some(m) = e.as_object_mut() {
            m.remove("time");
        }
        e
    };
    if !old_mf
        .iter()
        .zip(new_mf)
        .all(|(o, n)| without_time(o) == without_time(n))
    {
        return false;
    }
    if !equal_except(old, new, &["metadata", "managedFields"]) {
        return false;
    }
    let old_times: Vec<Option<Value>> = old_mf.iter().map(|e| e.get("time").cloned()).collect();
    if let Some(entries) = new
        .get_mut("metadata")
        .and_then(|m| m.get_mut("managedFields"))
        .and_then(Value::as_array_mut)
    {
        for (entry, time) in entries.iter_mut().zip(old_times) {
            if let Some(m) = entry.as_object_mut() {
                match time {
                    Some(t) => m.insert("time".into(), t),
                    None => m.remove("time"),
                };
            }
        }
    }
    true
}

/// Deep equality ignoring the value at `path` (both sides must still have
/// the same keys).
fn equal_except(a: &Value, b: &Value, path: &[&str]) -> bool {
    let Some((head, rest)) = path.split_first() else {
        return true;
    };
    let (Some(am), Some(bm)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    am.len() == bm.len()
        && am.iter().all(|(k, av)| match bm.get(k) {
            None => false,
            Some(bv) if k == head => equal_except(av, bv, rest),
            Some(bv) => av == bv,
        })
}

#[cfg(test)]
mod tests {
    use super::normalize_time;

    #[test]
    fn times_normalize_to_utc_seconds() {
        let cases = [
            ("2026-11-27T03:04:05Z", "2026-11-27T03:04:05Z"),
            ("2026-11-27T03:04:05+01:00", "2026-11-27T02:04:05Z"),
            ("2026-11-27T03:04:05.123456Z", "2026-11-27T03:04:05Z"),
            ("not a time", "not a time"),
            // Canonical in shape but not a valid time: kept as given, as the
            // parsing path keeps it.
            ("2026-13-45T03:04:05Z", "2026-13-45T03:04:05Z"),
        ];
        for (given, want) in cases {
            assert_eq!(normalize_time(given), want, "{given:?}");
        }
    }
}
