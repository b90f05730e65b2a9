//! A typed view of a (valid) CustomResourceDefinition: what the server
//! needs to register and serve the custom resource's endpoints.

use super::definition::SpecView;
use super::printer::PrinterColumn;
use super::render::{child, index};
use super::scale::ScaleSpec;
use super::spec_parts::str_at;
use super::structural::Structural;
use crate::validation::FieldError;
use serde_json::Value;
use std::sync::Arc;

/// One entry of `spec.versions`, with the parts that apply to it
/// (per-version or shared).
#[derive(Debug, Clone)]
pub struct CrdVersionInfo {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub deprecated: bool,
    pub deprecation_warning: Option<String>,
    /// The parsed `openAPIV3Schema` (v1 requires one).
    pub schema: Option<Arc<Structural>>,
    /// `subresources.status` is set.
    pub status_subresource: bool,
    /// `subresources.scale`.
    pub scale: Option<ScaleSpec>,
    /// `additionalPrinterColumns`, or upstream's default AGE column when
    /// the version declares none.
    pub printer_columns: Vec<PrinterColumn>,
}

/// The resource a CustomResourceDefinition defines.
#[derive(Debug, Clone)]
pub struct CrdInfo {
    pub group: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// `spec.scope == "Namespaced"`.
    pub namespaced: bool,
    pub versions: Vec<CrdVersionInfo>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl CrdInfo {
    /// Builds the view from a CRD object (ideally one that passed
    /// [`validate_crd`](super::validate_crd)). Fails with the schema errors
    /// when a version's schema does not parse; missing names are left empty.
    pub fn from_crd(crd: &Value) -> Result<CrdInfo, Vec<FieldError>> {
        let null = Value::Null;
        let spec = crd.get("spec").unwrap_or(&null);
        let names = spec.get("names").unwrap_or(&null);
        let view = SpecView::new(spec);
        let mut errors = Vec::new();
        // Versions sharing one schema share one parsed copy.
        let shared_schema = match view.validation.and_then(|v| v.get("openAPIV3Schema")) {
            Some(s) if !s.is_null() => {
                match Structural::parse_at(s, "spec.validation.openAPIV3Schema") {
                    Ok(parsed) => Some(Arc::new(parsed)),
                    Err(e) => {
                        errors.extend(e);
                        None
                    }
                }
            }
            _ => None,
        };
        let mut versions = Vec::with_capacity(view.versions.len());
        for (i, v) in view.versions.iter().enumerate() {
            let schema = match view
                .version_schema(i)
                .and_then(|s| s.get("openAPIV3Schema"))
            {
                Some(s) if !s.is_null() => {
                    let path = child(&index("spec.versions", i), "schema.openAPIV3Schema");
                    match Structural::parse_at(s, &path) {
                        Ok(parsed) => Some(Arc::new(parsed)),
                        Err(e) => {
                            errors.extend(e);
                            None
                        }
                    }
                }
                _ => shared_schema.clone(),
            };
            let sub = view.subresources_for(i);
            let columns: Vec<PrinterColumn> = view
                .columns_for(i)
                .and_then(Value::as_array)
                .map(|cols| cols.iter().map(PrinterColumn::from_value).collect())
                .unwrap_or_default();
            versions.push(CrdVersionInfo {
                name: str_at(v, "name").to_string(),
                served: v.get("served").and_then(Value::as_bool) == Some(true),
                storage: v.get("storage").and_then(Value::as_bool) == Some(true),
                deprecated: v.get("deprecated").and_then(Value::as_bool) == Some(true),
                deprecation_warning: v
                    .get("deprecationWarning")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                schema,
                status_subresource: sub
                    .and_then(|s| s.get("status"))
                    .is_some_and(|s| !s.is_null()),
                scale: sub
                    .and_then(|s| s.get("scale"))
                    .filter(|s| s.is_object())
                    .map(ScaleSpec::from_value),
                printer_columns: if columns.is_empty() {
                    vec![PrinterColumn::default_age()]
                } else {
                    columns
                },
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CrdInfo {
            group: str_at(spec, "group").to_string(),
            plural: str_at(names, "plural").to_string(),
            singular: str_at(names, "singular").to_string(),
            kind: str_at(names, "kind").to_string(),
            list_kind: str_at(names, "listKind").to_string(),
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            namespaced: str_at(spec, "scope") == "Namespaced",
            versions,
        })
    }

    /// The version named `name`.
    pub fn version(&self, name: &str) -> Option<&CrdVersionInfo> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// The version objects are stored as.
    pub fn storage_version(&self) -> Option<&CrdVersionInfo> {
        self.versions.iter().find(|v| v.storage)
    }

    /// `<plural>.<group>`, the CRD's own name.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}
