//! Resource verbs. Each handler receives a [`Ctx`] describing the request.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use corral_apimachinery::fields::FieldSelector;
use corral_apimachinery::labels::Selector;
use corral_apimachinery::table::{self, IncludeObject};
use corral_store::KeyValue;
use http::{Response, StatusCode};
use serde_json::Value;

use crate::ApiServer;
use crate::encoding::{self, Output};
use crate::error::{ApiError, ApiResult, Target};
use crate::registry::ResourceDef;
use crate::request::{Query, RequestInfo};
use crate::response::{self, Body};

pub mod apply;
pub mod delete;
pub mod escalation;
pub mod read;
pub mod scale;
pub mod watch;
pub mod write;

pub struct Ctx {
    pub api: Arc<ApiServer>,
    pub def: ResourceDef,
    pub info: RequestInfo,
    pub query: Query,
    pub output: Output,
    pub content_type: Option<String>,
    pub user: crate::authn::UserInfo,
    /// The client's User-Agent (the default field manager comes from it).
    pub user_agent: String,
    /// `Warning` headers for the response (e.g. unknown fields under `fieldValidation=Warn`).
    pub warnings: std::sync::Mutex<Vec<String>>,
}

impl Ctx {
    pub fn warn(&self, messages: impl IntoIterator<Item = String>) {
        let mut w = match self.warnings.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        w.extend(messages);
    }

    pub fn take_warnings(&self) -> Vec<String> {
        let mut w = match self.warnings.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        std::mem::take(&mut *w)
    }

    pub fn namespace(&self) -> Option<&str> {
        if self.def.namespaced {
            self.info.namespace.as_deref()
        } else {
            None
        }
    }

    pub fn target(&self, name: &str) -> Target {
        Target::new(self.def.group, self.def.plural, name)
    }

    pub fn key(&self, name: &str) -> String {
        self.def.key(self.namespace(), name)
    }

    pub fn prefix(&self) -> String {
        self.def.key_prefix(self.namespace())
    }

    /// The object in this endpoint's version (converting from the stored form if needed).
    pub fn served_value(&self, kv: &KeyValue) -> ApiResult<Value> {
        let v = encoding::decode_stored(kv)?;
        Ok(self.served_from_stored(v, kv.mod_revision))
    }

    pub fn served_from_stored(&self, v: Value, rv: i64) -> Value {
        match self.def.conversion {
            Some(c) => {
                let mut out = c.from_storage(&v);
                encoding::set_rv(&mut out, rv);
                out
            }
            None => v,
        }
    }

    /// The stored bytes of a served-form object (converted to the storage
    /// version when the endpoint serves another), without copying it.
    pub fn encode_for_storage(&self, v: &Value) -> ApiResult<bytes::Bytes> {
        match self.def.conversion {
            Some(c) => encoding::encode_stored(&c.to_storage(v)),
            None => encoding::encode_stored(v),
        }
    }

    /// Append the served JSON of a stored object, splicing bytes when no conversion is needed.
    pub fn write_served_json(&self, kv: &KeyValue, out: &mut BytesMut) -> ApiResult<()> {
        if self.def.conversion.is_none() {
            encoding::write_with_rv(&kv.value, kv.mod_revision, out);
            return Ok(());
        }
        let v = self.served_value(kv)?;
        let bytes = serde_json::to_vec(&v).map_err(|e| ApiError::Internal(e.to_string()))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    pub fn served_json(&self, kv: &KeyValue) -> ApiResult<Bytes> {
        let mut out = BytesMut::with_capacity(kv.value.len() + 32);
        self.write_served_json(kv, &mut out)?;
        Ok(out.freeze())
    }

    /// One stored object as a response in the negotiated format.
    pub fn object_response(&self, code: StatusCode, kv: &KeyValue) -> ApiResult<Response<Body>> {
        match self.output {
            Output::Json => Ok(response::bytes_response(
                code,
                "application/json",
                self.served_json(kv)?,
            )),
            Output::Yaml => Ok(response::value_response(
                code,
                Output::Yaml,
                &self.served_value(kv)?,
            )),
            Output::Table => {
                let v = self.served_value(kv)?;
                Ok(response::value_response(
                    code,
                    Output::Json,
                    &self.table(vec![v]),
                ))
            }
            Output::PartialObject | Output::PartialList => {
                Ok(self.value_response(code, &self.served_value(kv)?))
            }
        }
    }

    /// A value (already in served form) as a response.
    pub fn value_response(&self, code: StatusCode, v: &Value) -> Response<Body> {
        match self.output {
            Output::Table => {
                response::value_response(code, Output::Json, &self.table(vec![v.clone()]))
            }
            Output::PartialObject => {
                response::value_response(code, Output::Json, &encoding::partial_object_metadata(v))
            }
            Output::PartialList => response::error_response(&encoding::transform_mismatch(
                self.output,
                &self.go_type(""),
            )),
            other => response::value_response(code, other, v),
        }
    }

    /// How upstream's `%T` names this resource's (internal) Go type in
    /// messages, e.g. `*core.ConfigMap` or `*core.ConfigMapList`.
    pub fn go_type(&self, suffix: &str) -> String {
        let package = match self.def.group {
            "" | "events.k8s.io" => "core",
            g => g.split('.').next().unwrap_or(g),
        };
        format!("*{package}.{}{suffix}", self.def.kind)
    }

    pub fn table(&self, objects: Vec<Value>) -> Value {
        let include = match self.query.get("includeObject") {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        };
        let rows = objects
            .into_iter()
            .map(|o| {
                let cells = self.def.rules.cells(&o);
                (o, cells)
            })
            .collect();
        table::build_table(
            self.def.rules.columns(),
            rows,
            include,
            time::OffsetDateTime::now_utc(),
        )
    }

    /// Label and field selectors from the query, with unsupported field labels rejected as upstream does.
    pub fn selectors(&self) -> ApiResult<Selectors> {
        let labels = Selector::parse(self.query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(self.query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        for f in fields.fields() {
            let supported = f == "metadata.name"
                || (f == "metadata.namespace")
                || self.def.rules.field_labels().contains(&f);
            if !supported {
                return Err(ApiError::BadRequest(format!(
                    "\"{f}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                )));
            }
        }
        Ok(Selectors { labels, fields })
    }
}

pub struct Selectors {
    pub labels: Selector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether a served-form object matches.
    pub fn matches(&self, def: &ResourceDef, obj: &Value) -> bool {
        let labels = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        if !self.labels.matches(labels) {
            return false;
        }
        if self.fields.is_empty() {
            return true;
        }
        let lookup = |field: &str| -> Option<String> {
            match field {
                "metadata.name" => encoding::meta_str(obj, "name").map(str::to_string),
                "metadata.namespace" => encoding::meta_str(obj, "namespace").map(str::to_string),
                other => def.rules.field_value(obj, other),
            }
        };
        self.fields.matches(&lookup)
    }

    /// Whether the object stored at `key` (under `base`, the resource's key
    /// prefix for all namespaces) matches, when the selectors ask only for
    /// what the key holds: its name and namespace. `None` when the object
    /// itself is needed. A watch with `metadata.name=...` then costs no
    /// decoding of the objects it skips.
    pub fn matches_key(&self, def: &ResourceDef, base: &str, key: &str) -> Option<bool> {
        if !self.labels.is_empty() || self.fields.is_empty() {
            return None;
        }
        let decidable =
            |f: &str| f == "metadata.name" || (def.namespaced && f == "metadata.namespace");
        if !self.fields.fields().all(decidable) {
            return None;
        }
        let rest = key.strip_prefix(base)?;
        let (namespace, name) = if def.namespaced {
            rest.split_once('/')?
        } else {
            ("", rest)
        };
        Some(self.fields.matches(&|field: &str| match field {
            "metadata.name" => Some(name.to_string()),
            "metadata.namespace" => Some(namespace.to_string()),
            _ => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    fn selectors(labels: &str, fields: &str) -> Selectors {
        Selectors {
            labels: Selector::parse(labels).expect("label selector"),
            fields: FieldSelector::parse(fields).expect("field selector"),
        }
    }

    /// Deciding by key must agree with deciding by the object.
    #[test]
    fn name_and_namespace_selectors_are_decided_from_the_key_as_from_the_object() {
        let registry = Registry::builtin();
        let cms = registry.lookup("", "v1", "configmaps").expect("configmaps");
        let nss = registry.lookup("", "v1", "namespaces").expect("namespaces");
        let cm = |ns: &str, name: &str| {
            (
                cms.key(Some(ns), name),
                json!({"metadata": {"namespace": ns, "name": name}}),
            )
        };
        let base = cms.key_prefix(None);
        for fields in [
            "metadata.name=kube-root-ca.crt",
            "metadata.name!=kube-root-ca.crt",
            "metadata.namespace=a,metadata.name=x",
            "metadata.namespace!=a",
        ] {
            let s = selectors("", fields);
            for (key, obj) in [
                cm("a", "x"),
                cm("b", "kube-root-ca.crt"),
                cm("a", "kube-root-ca.crt"),
            ] {
                assert_eq!(
                    s.matches_key(cms, &base, &key),
                    Some(s.matches(cms, &obj)),
                    "{fields} on {key}"
                );
            }
        }
        // What the key does not hold needs the object.
        assert_eq!(
            selectors("app=x", "metadata.name=x").matches_key(cms, &base, &cm("a", "x").0),
            None
        );
        assert_eq!(
            selectors("", "").matches_key(cms, &base, &cm("a", "x").0),
            None
        );
        let ns_base = nss.key_prefix(None);
        let ns_key = nss.key(None, "a");
        assert_eq!(
            selectors("", "metadata.name=a").matches_key(nss, &ns_base, &ns_key),
            Some(true)
        );
        assert_eq!(
            selectors("", "metadata.namespace=").matches_key(nss, &ns_base, &ns_key),
            None
        );
    }
}
