//! The swagger 2.0 document as gnostic's `openapi.v2.Document` protobuf
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`), the only
//! form client-go's `OpenAPISchema()` reads: it unmarshals the body as
//! protobuf whatever the response's content type says.
//!
//! Field numbers are those of gnostic's `openapiv2/OpenAPIv2.proto`. Vendor
//! extensions, defaults and enum values travel as YAML text (`Any.yaml`), as
//! gnostic's compiler stores them and kubectl's parser reads them.

use serde_json::{Map, Value};

/// A protobuf writer for the few wire types the document needs.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    /// proto3 leaves default values out.
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    fn str_of(&mut self, field: u32, v: Option<&Value>) {
        if let Some(s) = v.and_then(Value::as_str) {
            self.string(field, s);
        }
    }

    fn strings_of(&mut self, field: u32, v: Option<&Value>) {
        match v {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .for_each(|s| self.bytes(field, s.as_bytes())),
            Some(Value::String(s)) => self.bytes(field, s.as_bytes()),
            _ => {}
        }
    }

    fn bool_of(&mut self, field: u32, v: Option<&Value>) {
        if v.and_then(Value::as_bool).unwrap_or(false) {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int64_of(&mut self, field: u32, v: Option<&Value>) {
        if let Some(i) = v.and_then(Value::as_i64).filter(|i| *i != 0) {
            self.key(field, 0);
            self.varint(i as u64);
        }
    }

    fn double_of(&mut self, field: u32, v: Option<&Value>) {
        if let Some(f) = v.and_then(Value::as_f64).filter(|f| *f != 0.0) {
            self.key(field, 1);
            self.0.extend_from_slice(&f.to_bits().to_le_bytes());
        }
    }

    /// An embedded message: present even when empty (it was set).
    fn message(&mut self, field: u32, build: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        build(&mut inner);
        self.bytes(field, &inner.0);
    }

    /// `Any { yaml }`: a JSON value as YAML text.
    fn any(&mut self, field: u32, v: &Value) {
        let yaml = serde_yaml::to_string(v).unwrap_or_else(|_| v.to_string());
        self.message(field, |w| w.string(2, &yaml));
    }

    /// `repeated NamedAny vendor_extension`: every `x-` key of the object.
    fn extensions(&mut self, field: u32, o: &Map<String, Value>) {
        for (k, v) in o.iter().filter(|(k, _)| k.starts_with("x-")) {
            self.message(field, |w| {
                w.string(1, k);
                w.any(2, v);
            });
        }
    }
}

/// Encodes a swagger 2.0 JSON document.
pub fn encode_document(doc: &Value) -> Vec<u8> {
    let mut w = Writer::default();
    let Some(d) = doc.as_object() else {
        return w.0;
    };
    w.str_of(1, d.get("swagger"));
    if let Some(info) = d.get("info").and_then(Value::as_object) {
        w.message(2, |w| {
            w.str_of(1, info.get("title"));
            w.str_of(2, info.get("version"));
            w.str_of(3, info.get("description"));
            w.extensions(7, info);
        });
    }
    if let Some(paths) = d.get("paths").and_then(Value::as_object) {
        w.message(8, |w| {
            w.extensions(1, paths);
            for (path, item) in paths.iter().filter(|(k, _)| !k.starts_with("x-")) {
                let Some(item) = item.as_object() else {
                    continue;
                };
                w.message(2, |w| {
                    w.string(1, path);
                    w.message(2, |w| path_item(w, item));
                });
            }
        });
    }
    if let Some(defs) = d.get("definitions").and_then(Value::as_object) {
        w.message(9, |w| named_schemas(w, 1, defs));
    }
    for req in d
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(req) = req.as_object() else { continue };
        w.message(12, |w| {
            for (name, scopes) in req {
                w.message(1, |w| {
                    w.string(1, name);
                    w.message(2, |w| w.strings_of(1, Some(scopes)));
                });
            }
        });
    }
    if let Some(defs) = d.get("securityDefinitions").and_then(Value::as_object) {
        w.message(13, |w| {
            for (name, def) in defs {
                let Some(def) = def.as_object() else { continue };
                w.message(1, |w| {
                    w.string(1, name);
                    // Only API keys (the bearer token) are described.
                    w.message(2, |w| {
                        w.message(2, |w| {
                            w.str_of(1, def.get("type"));
                            w.str_of(2, def.get("name"));
                            w.str_of(3, def.get("in"));
                            w.str_of(4, def.get("description"));
                            w.extensions(5, def);
                        })
                    });
                });
            }
        });
    }
    w.extensions(16, d);
    w.0
}

fn path_item(w: &mut Writer, item: &Map<String, Value>) {
    w.str_of(1, item.get("$ref"));
    for (field, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(op) = item.get(method).and_then(Value::as_object) {
            w.message(field, |w| operation(w, op));
        }
    }
    parameters(w, 9, item.get("parameters"));
    w.extensions(10, item);
}

fn operation(w: &mut Writer, op: &Map<String, Value>) {
    w.strings_of(1, op.get("tags"));
    w.str_of(2, op.get("summary"));
    w.str_of(3, op.get("description"));
    w.str_of(5, op.get("operationId"));
    w.strings_of(6, op.get("produces"));
    w.strings_of(7, op.get("consumes"));
    parameters(w, 8, op.get("parameters"));
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        w.message(9, |w| {
            for (code, resp) in responses.iter().filter(|(k, _)| !k.starts_with("x-")) {
                let Some(resp) = resp.as_object() else {
                    continue;
                };
                w.message(1, |w| {
                    w.string(1, code);
                    // ResponseValue { response: Response }
                    w.message(2, |w| {
                        w.message(1, |w| {
                            w.str_of(1, resp.get("description"));
                            if let Some(s) = resp.get("schema").and_then(Value::as_object) {
                                // SchemaItem { schema }
                                w.message(2, |w| w.message(1, |w| schema(w, s)));
                            }
                            w.extensions(5, resp);
                        })
                    });
                });
            }
            w.extensions(2, responses);
        });
    }
    w.strings_of(10, op.get("schemes"));
    w.bool_of(11, op.get("deprecated"));
    w.extensions(13, op);
}

/// `repeated ParametersItem`: a body parameter, a non-body one, or a reference.
fn parameters(w: &mut Writer, field: u32, params: Option<&Value>) {
    for p in params.and_then(Value::as_array).into_iter().flatten() {
        let Some(p) = p.as_object() else { continue };
        w.message(field, |w| {
            if p.contains_key("$ref") {
                w.message(2, |w| {
                    w.str_of(1, p.get("$ref"));
                    w.str_of(2, p.get("description"));
                });
                return;
            }
            // ParametersItem.parameter
            w.message(1, |w| {
                if p.get("in").and_then(Value::as_str) == Some("body") {
                    w.message(1, |w| {
                        w.str_of(1, p.get("description"));
                        w.str_of(2, p.get("name"));
                        w.str_of(3, p.get("in"));
                        w.bool_of(4, p.get("required"));
                        if let Some(s) = p.get("schema").and_then(Value::as_object) {
                            w.message(5, |w| schema(w, s));
                        }
                        w.extensions(6, p);
                    });
                } else {
                    w.message(2, |w| non_body_parameter(w, p));
                }
            });
        });
    }
}

/// NonBodyParameter's sub-schemas share their first four fields; query and
/// formData ones then have `allow_empty_value`, which shifts the rest by one.
fn non_body_parameter(w: &mut Writer, p: &Map<String, Value>) {
    let (variant, shifted) = match p.get("in").and_then(Value::as_str) {
        Some("header") => (1, false),
        Some("formData") => (2, true),
        Some("path") => (4, false),
        _ => (3, true),
    };
    w.message(variant, |w| {
        let at = |n: u32| if shifted { n + 1 } else { n };
        w.bool_of(1, p.get("required"));
        w.str_of(2, p.get("in"));
        w.str_of(3, p.get("description"));
        w.str_of(4, p.get("name"));
        if shifted {
            w.bool_of(5, p.get("allowEmptyValue"));
        }
        w.str_of(at(5), p.get("type"));
        w.str_of(at(6), p.get("format"));
        if let Some(d) = p.get("default") {
            w.any(at(9), d);
        }
        w.bool_of(at(19), p.get("uniqueItems"));
        for e in p
            .get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            w.any(at(20), e);
        }
        w.extensions(at(22), p);
    });
}

fn named_schemas(w: &mut Writer, field: u32, map: &Map<String, Value>) {
    for (name, s) in map {
        let Some(s) = s.as_object() else { continue };
        w.message(field, |w| {
            w.string(1, name);
            w.message(2, |w| schema(w, s));
        });
    }
}

fn schema(w: &mut Writer, s: &Map<String, Value>) {
    w.str_of(1, s.get("$ref"));
    w.str_of(2, s.get("format"));
    w.str_of(3, s.get("title"));
    w.str_of(4, s.get("description"));
    if let Some(d) = s.get("default") {
        w.any(5, d);
    }
    w.double_of(6, s.get("multipleOf"));
    w.double_of(7, s.get("maximum"));
    w.bool_of(8, s.get("exclusiveMaximum"));
    w.double_of(9, s.get("minimum"));
    w.bool_of(10, s.get("exclusiveMinimum"));
    w.int64_of(11, s.get("maxLength"));
    w.int64_of(12, s.get("minLength"));
    w.str_of(13, s.get("pattern"));
    w.int64_of(14, s.get("maxItems"));
    w.int64_of(15, s.get("minItems"));
    w.bool_of(16, s.get("uniqueItems"));
    w.int64_of(17, s.get("maxProperties"));
    w.int64_of(18, s.get("minProperties"));
    w.strings_of(19, s.get("required"));
    for e in s
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.any(20, e);
    }
    match s.get("additionalProperties") {
        Some(Value::Object(a)) => w.message(21, |w| w.message(1, |w| schema(w, a))),
        Some(Value::Bool(b)) => w.message(21, |w| {
            // A oneof member is written even when false.
            w.key(2, 0);
            w.varint(u64::from(*b));
        }),
        _ => {}
    }
    if let Some(t) = s.get("type") {
        w.message(22, |w| w.strings_of(1, Some(t)));
    }
    match s.get("items") {
        Some(Value::Object(i)) => w.message(23, |w| w.message(1, |w| schema(w, i))),
        Some(Value::Array(items)) => w.message(23, |w| {
            for i in items.iter().filter_map(Value::as_object) {
                w.message(1, |w| schema(w, i));
            }
        }),
        _ => {}
    }
    for a in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(a) = a.as_object() {
            w.message(24, |w| schema(w, a));
        }
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        w.message(25, |w| named_schemas(w, 1, props));
    }
    w.str_of(26, s.get("discriminator"));
    w.bool_of(27, s.get("readOnly"));
    if let Some(e) = s.get("example") {
        w.any(30, e);
    }
    w.extensions(31, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads one level of a message: (field, wire type, payload) triples.
    fn fields(mut b: &[u8]) -> Vec<(u64, u8, Vec<u8>)> {
        fn varint(b: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            let mut shift = 0;
            while let Some((&byte, rest)) = b.split_first() {
                *b = rest;
                v |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte < 0x80 {
                    break;
                }
            }
            v
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = varint(&mut b);
            let wire = (key & 7) as u8;
            let payload = match wire {
                0 => varint(&mut b).to_le_bytes().to_vec(),
                1 => {
                    let (p, rest) = b.split_at(8);
                    b = rest;
                    p.to_vec()
                }
                _ => {
                    let len = varint(&mut b) as usize;
                    let (p, rest) = b.split_at(len);
                    b = rest;
                    p.to_vec()
                }
            };
            out.push((key >> 3, wire, payload));
        }
        out
    }

    fn field(b: &[u8], n: u64) -> Vec<Vec<u8>> {
        fields(b)
            .into_iter()
            .filter(|(f, ..)| *f == n)
            .map(|(.., p)| p)
            .collect()
    }

    #[test]
    fn document_fields_land_in_gnostic_numbers() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.35.0"},
            "paths": {"/api/v1/x": {"patch": {
                "consumes": ["application/strategic-merge-patch+json"],
                "parameters": [{"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true}],
                "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/A"}}},
                "x-kubernetes-group-version-kind": {"group": "", "kind": "X", "version": "v1"},
            }}},
            "definitions": {"A": {
                "type": "object",
                "required": ["b"],
                "properties": {"b": {"type": "array", "items": {"type": "string"}}},
                "additionalProperties": false,
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "A", "version": "v1"}],
            }},
        });
        let pb = encode_document(&doc);
        assert_eq!(field(&pb, 1), vec![b"2.0".to_vec()]);
        let info = &field(&pb, 2)[0];
        assert_eq!(field(info, 1), vec![b"Kubernetes".to_vec()]);

        let definitions = &field(&pb, 9)[0];
        let named = &field(definitions, 1)[0];
        assert_eq!(field(named, 1), vec![b"A".to_vec()]);
        let a = &field(named, 2)[0];
        assert_eq!(field(a, 19), vec![b"b".to_vec()]);
        assert_eq!(field(&field(a, 22)[0], 1), vec![b"object".to_vec()]);
        let ext = &field(a, 31)[0];
        assert_eq!(
            field(ext, 1),
            vec![b"x-kubernetes-group-version-kind".to_vec()]
        );
        let yaml = String::from_utf8(field(&field(ext, 2)[0], 2)[0].clone()).expect("utf8");
        let parsed: Value = serde_yaml::from_str(&yaml).expect("yaml");
        assert_eq!(parsed[0]["kind"], "A");
        // additionalProperties: false is still present (oneof member).
        assert_eq!(
            fields(&field(a, 21)[0]),
            vec![(2, 0, 0u64.to_le_bytes().to_vec())]
        );
        let prop_b = &field(&field(&field(a, 25)[0], 1)[0], 2)[0];
        let items = &field(prop_b, 23)[0];
        let item = &field(items, 1)[0];
        assert_eq!(field(&field(item, 22)[0], 1), vec![b"string".to_vec()]);

        let paths = &field(&pb, 8)[0];
        let named_path = &field(paths, 2)[0];
        assert_eq!(field(named_path, 1), vec![b"/api/v1/x".to_vec()]);
        let patch = &field(&field(named_path, 2)[0], 8)[0];
        assert_eq!(
            field(patch, 7),
            vec![b"application/strategic-merge-patch+json".to_vec()]
        );
        let param = &field(&field(patch, 8)[0], 1)[0];
        let query = &field(&field(param, 2)[0], 3)[0];
        assert_eq!(field(query, 4), vec![b"fieldValidation".to_vec()]);
        assert_eq!(field(query, 6), vec![b"string".to_vec()]);
    }
}
