//! `fieldValidation` (Strict / Warn / Ignore): unknown and duplicate fields
//! in request bodies, reported as upstream does — a 400 `strict decoding
//! error` under Strict, `Warning` headers under Warn (the default).

mod builtin;
mod duplicates;

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::request::Query;

pub use builtin::{
    Step, is_known_kind, remove_path, render, unknown_builtin_fields, unknown_meta_paths,
    unknown_paths,
};
pub use duplicates::{duplicate_fields, parse_noting_duplicates};

/// What the client asked the server to do about unknown or duplicate fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directive {
    Ignore,
    Warn,
    Strict,
}

impl Directive {
    /// The `fieldValidation` query parameter; upstream's default is Warn.
    pub fn from_query(query: &Query) -> ApiResult<Directive> {
        match query.get("fieldValidation") {
            None | Some("") | Some("Warn") => Ok(Directive::Warn),
            Some("Strict") => Ok(Directive::Strict),
            Some("Ignore") => Ok(Directive::Ignore),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// One problem found in a body, rendered as upstream words it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Unknown(String),
    Duplicate(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Unknown(path) => write!(f, "unknown field \"{path}\""),
            Problem::Duplicate(path) => write!(f, "duplicate field \"{path}\""),
        }
    }
}

/// Act on the problems found: fail under Strict, return warnings under Warn.
pub fn enforce(directive: Directive, problems: Vec<Problem>) -> ApiResult<Vec<String>> {
    if problems.is_empty() || directive == Directive::Ignore {
        return Ok(Vec::new());
    }
    let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
    match directive {
        Directive::Strict => Err(ApiError::BadRequest(format!(
            "strict decoding error: {}",
            rendered.join(", ")
        ))),
        _ => Ok(rendered),
    }
}

/// Remove the fields a built-in kind does not have (always: upstream's typed
/// decoding drops them whatever the directive) and report them.
pub fn drop_unknown_fields(
    group: &str,
    version: &str,
    kind: &str,
    obj: &mut Value,
) -> Vec<Problem> {
    let paths = unknown_paths(group, version, kind, obj);
    let mut problems = Vec::with_capacity(paths.len());
    for p in paths {
        remove_path(obj, &p);
        problems.push(Problem::Unknown(render(&p)));
    }
    problems
}

/// Remove and report unknown fields of a custom resource: its metadata as
/// for any object, the rest by pruning against its structural schema.
pub fn drop_unknown_custom_fields(
    schema: Option<&corral_apimachinery::crd::Structural>,
    obj: &mut Value,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for p in unknown_meta_paths(obj) {
        remove_path(obj, &p);
        problems.push(Problem::Unknown(render(&p)));
    }
    if let Some(schema) = schema {
        problems.extend(
            corral_apimachinery::crd::prune(schema, obj)
                .into_iter()
                .map(Problem::Unknown),
        );
    }
    problems
}
