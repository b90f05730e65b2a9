//! Turning a request path and query into what it asks for (upstream's RequestInfo).

use std::collections::HashMap;

use crate::error::{ApiError, ApiResult};

/// What an API request addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
}

/// A non-resource path or a resource request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`
    ResourceList {
        group: String,
        version: String,
    },
    Resource(RequestInfo),
    Other(String),
}

/// Namespace subresources, which upstream distinguishes from namespaced resources by name.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

pub fn parse_route(method: &http::Method, path: &str, query: &Query) -> ApiResult<Route> {
    let trimmed = path.trim_matches('/');
    // Segments are moved out of `parts` below, not cloned.
    let mut parts: Vec<String> = trimmed
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let (group, version, rest) = match parts.first().map(String::as_str) {
        Some("api") => match parts.len() {
            1 => return Ok(Route::CoreVersions),
            _ => (
                String::new(),
                std::mem::take(&mut parts[1]),
                &mut parts[2..],
            ),
        },
        Some("apis") => match parts.len() {
            1 => return Ok(Route::Groups),
            2 => return Ok(Route::Group(std::mem::take(&mut parts[1]))),
            _ => {
                let (head, rest) = parts.split_at_mut(3);
                (
                    std::mem::take(&mut head[1]),
                    std::mem::take(&mut head[2]),
                    rest,
                )
            }
        },
        _ => return Ok(Route::Other(path.to_string())),
    };
    if rest.is_empty() {
        return Ok(Route::ResourceList { group, version });
    }
    let mut rest: &mut [String] = rest;
    let mut watch_prefix = false;
    if rest[0] == "watch" {
        watch_prefix = true;
        rest = &mut std::mem::take(&mut rest)[1..];
    }
    let mut info = RequestInfo {
        group,
        version,
        ..Default::default()
    };
    if rest.first().map(String::as_str) == Some("namespaces") && rest.len() > 1 {
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2].as_str()) {
            info.namespace = Some(std::mem::take(&mut rest[1]));
            rest = &mut std::mem::take(&mut rest)[2..];
        } else {
            // `/namespaces/<name>[/status|finalize]` addresses the namespace itself.
            if rest.len() > 3 {
                return Err(ApiError::NoRoute);
            }
            info.resource = "namespaces".into();
            info.name = Some(std::mem::take(&mut rest[1]));
            info.subresource = rest.get_mut(2).map(std::mem::take);
            rest = &mut [];
        }
    }
    if !rest.is_empty() {
        if rest.len() > 3 {
            return Err(ApiError::NoRoute);
        }
        info.resource = std::mem::take(&mut rest[0]);
        info.name = rest.get_mut(1).map(std::mem::take);
        info.subresource = rest.get_mut(2).map(std::mem::take);
    }
    if info.resource.is_empty() {
        return Err(ApiError::NoRoute);
    }
    info.verb = match *method {
        http::Method::GET | http::Method::HEAD => {
            if watch_prefix || query.flag("watch") {
                "watch"
            } else if info.name.is_some() {
                "get"
            } else {
                "list"
            }
        }
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => {
            if info.name.is_some() {
                "delete"
            } else {
                "deletecollection"
            }
        }
        _ => "unknown",
    }
    .to_string();
    Ok(Route::Resource(info))
}

/// Decoded query parameters (the last value wins, as Go's `Query().Get` takes the first; duplicates are rare).
#[derive(Clone, Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        let mut map = HashMap::new();
        if let Some(q) = query {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Non-empty value, treating "" as absent (as upstream does for most options).
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Boolean options accept "true"/"1" as upstream's conversion does.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True" | "TRUE"))
    }

    pub fn parse_i64(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::BadRequest(format!(
                    "invalid value {v:?} for query parameter {key:?}: must be an integer"
                ))
            }),
        }
    }

    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: http::Method, path: &str, query: &str) -> Route {
        parse_route(&method, path, &Query::parse(Some(query)))
            .unwrap_or(Route::Other("error".into()))
    }

    fn info(r: Route) -> RequestInfo {
        match r {
            Route::Resource(i) => i,
            other => panic!("not a resource route: {other:?}"),
        }
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let i = info(route(
            http::Method::GET,
            "/api/v1/namespaces/default/configmaps/x",
            "",
        ));
        assert_eq!(
            (
                i.namespace.as_deref(),
                i.resource.as_str(),
                i.name.as_deref(),
                i.verb.as_str()
            ),
            (Some("default"), "configmaps", Some("x"), "get")
        );
        let i = info(route(http::Method::GET, "/api/v1/namespaces/default", ""));
        assert_eq!(
            (i.namespace, i.resource.as_str(), i.name.as_deref()),
            (None, "namespaces", Some("default"))
        );
        let i = info(route(
            http::Method::PUT,
            "/api/v1/namespaces/default/finalize",
            "",
        ));
        assert_eq!(
            (
                i.resource.as_str(),
                i.subresource.as_deref(),
                i.verb.as_str()
            ),
            ("namespaces", Some("finalize"), "update")
        );
        let i = info(route(
            http::Method::GET,
            "/apis/coordination.k8s.io/v1/leases",
            "watch=true",
        ));
        assert_eq!(
            (i.group.as_str(), i.version.as_str(), i.verb.as_str()),
            ("coordination.k8s.io", "v1", "watch")
        );
        let i = info(route(
            http::Method::GET,
            "/api/v1/watch/namespaces/a/secrets",
            "",
        ));
        assert_eq!(
            (i.namespace.as_deref(), i.verb.as_str()),
            (Some("a"), "watch")
        );
        let i = info(route(
            http::Method::DELETE,
            "/api/v1/namespaces/a/secrets",
            "",
        ));
        assert_eq!(i.verb, "deletecollection");
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(route(http::Method::GET, "/api", ""), Route::CoreVersions);
        assert_eq!(route(http::Method::GET, "/apis/", ""), Route::Groups);
        assert_eq!(
            route(http::Method::GET, "/apis/x.io", ""),
            Route::Group("x.io".into())
        );
        assert_eq!(
            route(http::Method::GET, "/api/v1", ""),
            Route::ResourceList {
                group: "".into(),
                version: "v1".into()
            }
        );
        assert_eq!(
            route(http::Method::GET, "/healthz", ""),
            Route::Other("/healthz".into())
        );
    }

    #[test]
    fn too_deep_paths_are_not_routes() {
        assert!(
            parse_route(
                &http::Method::GET,
                "/api/v1/namespaces/a/b/c/d/e",
                &Query::default()
            )
            .is_err()
        );
    }
}
