//! Corral's Kubernetes-compatible API server.
//!
//! [`ApiServer`] serves the Kubernetes API (discovery, CRUD, list, watch) for
//! the resources in its [`registry::Registry`], storing objects in any
//! [`corral_store::Store`]. [`server::serve`] runs it over HTTPS (HTTP/2 and
//! HTTP/1.1) with graceful shutdown. This crate is the only one that turns
//! errors into HTTP responses and `Status` objects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use corral_store::Store;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};

pub mod allocator;
pub mod audit;
pub mod authn;
pub mod authz;
mod bootstrap;
pub mod crds;
pub mod discovery;
pub mod encoding;
pub mod error;
pub mod extension;
pub mod fieldvalidation;
mod handlers;
pub mod impersonation;
mod managed_fields;
mod mirror;
pub mod namespaces;
pub mod openapi;
pub mod pki;
pub mod quota;
pub mod registry;
pub mod request;
pub mod response;
mod reviews;
pub mod server;

use authn::{PeerIdentity, UserInfo};
use corral_apimachinery::rbac::Attributes;
use error::{ApiError, ApiResult};
use request::{Query, RequestInfo, Route};
use response::{Body, bytes_response, error_response};

/// Upstream's limit on request bodies.
pub const MAX_REQUEST_BODY: usize = 3 * 1024 * 1024;

/// The Kubernetes version this server reports: the API it is modelled on.
pub const KUBERNETES_MINOR: &str = "35";

pub struct ApiServer {
    pub store: Arc<dyn Store>,
    /// Swapped whole when CRDs change; a request keeps the snapshot it started with.
    registry: Arc<arc_swap::ArcSwap<registry::Registry>>,
    /// CRDs this replica serves; rebuilds `registry` when they change.
    pub(crate) crds: Arc<crds::CrdRegistry>,
    authenticator: authn::Chain,
    /// Signs and checks service-account tokens (TokenRequest, TokenReview).
    pub sa_keys: Option<Arc<authn::serviceaccount::ServiceAccountKeys>>,
    /// Requests without credentials act as system:anonymous instead of getting 401.
    pub allow_anonymous: bool,
    pub authorizer: Arc<authz::Authorizer>,
    /// Endpoints outside the Kubernetes API (login, agent tunnel, auth proxy),
    /// added by higher layers once they exist (they may need this server first).
    extensions: arc_swap::ArcSwap<Vec<Arc<dyn extension::Extension>>>,
    namespaces: Arc<namespaces::NamespaceCache>,
    /// Every namespace's ResourceQuotas, for quota admission.
    pub(crate) quotas: Arc<quota::cache::QuotaCache>,
    audit: Option<audit::AuditLog>,
    ready: AtomicBool,
    shutdown_tx: tokio::sync::watch::Sender<bool>,
    /// Cluster IPs and node ports of Services.
    pub(crate) services: Arc<allocator::ServiceAllocator>,
}

impl ApiServer {
    pub fn new(store: Arc<dyn Store>, options: ApiServerOptions) -> Arc<ApiServer> {
        let (shutdown_tx, _) = tokio::sync::watch::channel(false);
        let registry = Arc::new(arc_swap::ArcSwap::from_pointee(
            registry::Registry::builtin(),
        ));
        Arc::new(ApiServer {
            store: store.clone(),
            registry: registry.clone(),
            crds: Arc::new(crds::CrdRegistry::new(registry)),
            authenticator: options.authenticator,
            sa_keys: options.sa_keys,
            allow_anonymous: options.allow_anonymous,
            authorizer: Arc::default(),
            extensions: Default::default(),
            namespaces: Arc::default(),
            quotas: Arc::default(),
            audit: options.audit,
            ready: AtomicBool::new(false),
            shutdown_tx,
            services: Arc::new(match options.service_ranges {
                Some((ips, ports)) => allocator::ServiceAllocator::new(store.clone(), ips, ports),
                None => allocator::ServiceAllocator::with_defaults(store.clone()),
            }),
        })
    }

    /// Create the namespaces every cluster has, then report ready. (Namespace
    /// deletions are finished by the namespace controller in `corral-kube`,
    /// which re-lists after a restart.)
    pub async fn start(self: &Arc<Self>) -> ApiResult<()> {
        namespaces::ensure_system_namespaces(self).await?;
        bootstrap::ensure_rbac_policy(self).await?;
        mirror::start(
            self.store.clone(),
            "/registry/core/namespaces/",
            self.namespaces.clone(),
            self.shutdown_signal(),
        )
        .await?;
        self.authorizer
            .start(self.store.clone(), self.shutdown_signal())
            .await?;
        mirror::start(
            self.store.clone(),
            quota::cache::PREFIX,
            self.quotas.clone(),
            self.shutdown_signal(),
        )
        .await?;
        mirror::start(
            self.store.clone(),
            crds::PREFIX,
            self.crds.clone(),
            self.shutdown_signal(),
        )
        .await?;
        // Every replica repairs (passes are idempotent): frees addresses and
        // ports whose Service is gone, e.g. after a crash between steps.
        tokio::spawn(
            self.services
                .clone()
                .run_repair(std::time::Duration::from_secs(60), self.shutdown_signal()),
        );
        self.ready.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Stop reporting ready and end every watch (so graceful shutdown can finish).
    pub fn begin_shutdown(&self) {
        self.ready.store(false, Ordering::SeqCst);
        let _ = self.shutdown_tx.send(true);
    }

    /// Serve `extension`'s paths from now on.
    pub fn add_extension(&self, extension: Arc<dyn extension::Extension>) {
        self.extensions.rcu(|current| {
            let mut next = Vec::clone(current);
            next.push(extension.clone());
            next
        });
    }

    /// The resources served right now.
    pub fn registry(&self) -> Arc<registry::Registry> {
        self.registry.load_full()
    }

    pub(crate) fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }

    /// Serve one HTTP request. Never fails: errors become `Status` responses.
    pub async fn handle<B>(
        self: Arc<Self>,
        req: Request<B>,
    ) -> Result<Response<Body>, std::convert::Infallible>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let peer = req
            .extensions()
            .get::<PeerIdentity>()
            .cloned()
            .unwrap_or_default();
        if let Some(ext) = self
            .extensions
            .load()
            .iter()
            .find(|e| e.claims(&path))
            .cloned()
        {
            use http_body_util::BodyExt;
            let req = req.map(|b| b.map_err(Into::into).boxed_unsync());
            return Ok(ext.handle(req).await);
        }
        let user_agent = header_str(req.headers(), http::header::USER_AGENT).unwrap_or_default();
        let mut record = audit::Record::start(
            method.as_str(),
            req.uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/"),
            &user_agent,
            &peer.remote_addr,
        );
        let mut response = match self.route(req, &mut record).await {
            Ok(r) => r,
            Err(e) => {
                if e.code() >= 500 {
                    tracing::warn!(%method, %path, error = %e.message(), "request failed");
                }
                record.error_message = Some((e.reason().to_string(), e.message()));
                error_response(&e)
            }
        };
        if let Some(log) = &self.audit {
            record.code = response.status().as_u16();
            if record.level >= audit::Level::RequestResponse && !record.streaming {
                let (parts, body) = response.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                record.response_object = serde_json::from_slice(&bytes).ok();
                response = Response::from_parts(parts, response::full(bytes));
            }
            log.emit(&record);
        }
        Ok(response)
    }

    async fn route<B>(
        self: &Arc<Self>,
        req: Request<B>,
        record: &mut audit::Record,
    ) -> ApiResult<Response<Body>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_string();
        match path.as_str() {
            "/healthz" | "/livez" => {
                return Ok(bytes_response(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    "ok",
                ));
            }
            "/readyz" => {
                return Ok(if self.ready.load(Ordering::SeqCst) {
                    bytes_response(StatusCode::OK, "text/plain; charset=utf-8", "ok")
                } else {
                    bytes_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain; charset=utf-8",
                        "not ready",
                    )
                });
            }
            _ => {}
        }
        let caller = self.authenticate(&req).await?;
        record.user = Some(caller.clone());
        let (user, impersonator) =
            impersonation::effective_user(req.headers(), caller, &self.authorizer)?;
        if impersonator.is_some() {
            record.impersonated = Some(user.clone());
        }
        let query = Query::parse(req.uri().query());
        let route = request::parse_route(req.method(), &path, &query)?;
        self.authorize(&user, req.method(), &path, &route, record)?;
        if path == "/version" {
            return Ok(response::value_response(
                StatusCode::OK,
                encoding::Output::Json,
                &version_info(),
            ));
        }
        if path == "/openapi/v3" || path == "/openapi/v3/" {
            return openapi::root(self, req.headers());
        }
        if let Some(rest) = path.strip_prefix("/openapi/v3/") {
            return openapi::document(self, rest, req.headers(), &query);
        }
        if path == "/openapi/v2" {
            return openapi::v2(self, req.headers());
        }
        let accept = header_str(req.headers(), http::header::ACCEPT);
        match route {
            Route::CoreVersions => discovery::core_versions(self, accept.as_deref(), req.headers()),
            Route::Groups => discovery::groups(self, accept.as_deref()),
            Route::Group(g) => discovery::group(self, &g),
            Route::ResourceList { group, version } => {
                discovery::resource_list(self, &group, &version)
            }
            Route::Resource(info) => {
                let output = encoding::negotiate(accept.as_deref())?;
                self.resource_request(req, info, query, output, user, record)
                    .await
            }
            Route::Other(_) => Err(ApiError::NoRoute),
        }
    }

    /// RBAC on every request: resource attributes from the route, or the path for everything else.
    fn authorize(
        &self,
        user: &UserInfo,
        method: &http::Method,
        path: &str,
        route: &Route,
        record: &mut audit::Record,
    ) -> ApiResult<()> {
        let attrs = match route {
            Route::Resource(info) => Attributes {
                user: user.clone(),
                verb: info.verb.clone(),
                resource_request: true,
                namespace: info.namespace.clone().unwrap_or_default(),
                api_group: info.group.clone(),
                resource: info.resource.clone(),
                subresource: info.subresource.clone().unwrap_or_default(),
                name: info.name.clone().unwrap_or_default(),
                path: path.to_string(),
            },
            _ => {
                Attributes::non_resource(user.clone(), &method.as_str().to_ascii_lowercase(), path)
            }
        };
        let decision = self.authorizer.authorize(&attrs);
        if let Some(log) = &self.audit {
            let request = audit::RequestAttributes {
                verb: attrs.verb.clone(),
                resource_request: attrs.resource_request,
                api_group: attrs.api_group.clone(),
                api_version: match route {
                    Route::Resource(info) => info.version.clone(),
                    _ => String::new(),
                },
                resource: attrs.resource.clone(),
                subresource: attrs.subresource.clone(),
                namespace: attrs.namespace.clone(),
                name: attrs.name.clone(),
                path: path.to_string(),
            };
            record.level = log.policy.level(user, &request);
            record.streaming = attrs.verb == "watch";
            record.request = Some(request);
            record.decision = Some((decision.is_allowed(), decision.reason().to_string()));
        }
        if decision.is_allowed() {
            Ok(())
        } else {
            Err(authz::forbidden(&attrs, decision.reason()))
        }
    }

    async fn resource_request<B>(
        self: &Arc<Self>,
        req: Request<B>,
        info: RequestInfo,
        query: Query,
        output: encoding::Output,
        user: UserInfo,
        record: &mut audit::Record,
    ) -> ApiResult<Response<Body>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let def = self
            .registry()
            .lookup(&info.group, &info.version, &info.resource)
            .ok_or(ApiError::NoRoute)?
            .clone();
        if let Some(sub) = &info.subresource
            && !def.subresources.contains(&sub.as_str())
        {
            return Err(ApiError::NoRoute);
        }
        // A namespaced resource addressed by name needs a namespace in the path.
        if def.namespaced
            && info.namespace.is_none()
            && (info.name.is_some() || info.verb == "create" || info.verb == "deletecollection")
        {
            return Err(ApiError::NoRoute);
        }
        let verb_allowed = match info.subresource.as_deref() {
            Some("status") => matches!(info.verb.as_str(), "get" | "update" | "patch"),
            Some("finalize") => info.verb == "update",
            Some("scale") => matches!(info.verb.as_str(), "get" | "update" | "patch"),
            Some("token") => info.verb == "create",
            _ => def.supports(&info.verb),
        };
        if !verb_allowed {
            return Err(ApiError::MethodNotSupported {
                target: error::Target::new(
                    def.group,
                    def.plural,
                    info.name.as_deref().unwrap_or(""),
                ),
                verb: info.verb.clone(),
            });
        }
        let content_type = header_str(req.headers(), http::header::CONTENT_TYPE);
        let user_agent = header_str(req.headers(), http::header::USER_AGENT).unwrap_or_default();
        let body = if matches!(
            info.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        ) {
            read_body(req).await?
        } else {
            Bytes::new()
        };
        if record.level >= audit::Level::Request && !body.is_empty() {
            record.request_object = match encoding::body_format(content_type.as_deref()) {
                Ok(encoding::BodyFormat::Protobuf) => {
                    corral_apimachinery::protobuf::decode_object(&body).ok()
                }
                Ok(encoding::BodyFormat::Yaml) => std::str::from_utf8(&body)
                    .ok()
                    .and_then(|t| serde_yaml::from_str(t).ok()),
                _ => serde_json::from_slice(&body).ok(),
            };
        }
        let ctx = handlers::Ctx {
            api: self.clone(),
            def,
            info,
            query,
            output,
            content_type,
            user,
            user_agent,
            warnings: Default::default(),
        };
        let result = Self::dispatch(&ctx, &body).await;
        let warnings = ctx.take_warnings();
        result.map(|mut resp| {
            for w in warnings {
                // Upstream's format: code 299, agent "-", quoted text.
                let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
                if let Ok(v) = http::HeaderValue::from_str(&text) {
                    resp.headers_mut().append(http::header::WARNING, v);
                }
            }
            resp
        })
    }

    async fn dispatch(ctx: &handlers::Ctx, body: &Bytes) -> ApiResult<Response<Body>> {
        if ctx.def.review.is_some() {
            return reviews::review(ctx, body).await;
        }
        if ctx.info.subresource.as_deref() == Some("token") {
            return reviews::token_request(ctx, body).await;
        }
        if ctx.info.subresource.as_deref() == Some("scale") {
            return match ctx.info.verb.as_str() {
                "get" => handlers::scale::get(ctx).await,
                "update" => handlers::scale::update(ctx, body).await,
                _ => handlers::scale::patch(ctx, body).await,
            };
        }
        if let Some(warning) = ctx
            .def
            .custom
            .as_ref()
            .and_then(|c| c.deprecation_warning.clone())
        {
            ctx.warn([warning]);
        }
        match ctx.info.verb.as_str() {
            "get" => handlers::read::get(ctx).await,
            "list" => handlers::read::list(ctx).await,
            "watch" => handlers::watch::watch(ctx).await,
            "create" => handlers::write::create(ctx, body).await,
            "update" => handlers::write::update(ctx, body).await,
            "patch" => handlers::write::patch(ctx, body).await,
            "delete" => handlers::delete::delete(ctx, body).await,
            "deletecollection" => handlers::delete::delete_collection(ctx, body).await,
            verb => Err(ApiError::MethodNotSupported {
                target: error::Target::new(
                    ctx.def.group,
                    ctx.def.plural,
                    ctx.info.name.as_deref().unwrap_or(""),
                ),
                verb: verb.to_string(),
            }),
        }
    }
}

/// How an [`ApiServer`] authenticates.
pub struct ApiServerOptions {
    /// Service cluster IP range and node port range (default 10.96.0.0/12
    /// and 30000-32767).
    pub service_ranges: Option<(allocator::CidrRange, allocator::PortRange)>,
    pub audit: Option<audit::AuditLog>,
    pub authenticator: authn::Chain,
    pub sa_keys: Option<Arc<authn::serviceaccount::ServiceAccountKeys>>,
    pub allow_anonymous: bool,
}

impl ApiServer {
    pub fn authenticator(&self) -> &authn::Chain {
        &self.authenticator
    }

    /// Who is calling: 401 for a bad credential, or for none unless anonymous access is on.
    async fn authenticate<B>(&self, req: &Request<B>) -> ApiResult<UserInfo> {
        let peer = req
            .extensions()
            .get::<PeerIdentity>()
            .cloned()
            .unwrap_or_default();
        match self.authenticator.authenticate(req.headers(), &peer).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) if self.allow_anonymous => Ok(authn::anonymous()),
            Ok(None) => Err(ApiError::Unauthorized),
            Err(why) => {
                tracing::debug!(reason = %why, "authentication failed");
                Err(ApiError::Unauthorized)
            }
        }
    }
}

fn header_str(headers: &http::HeaderMap, name: http::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Read a request body, refusing anything over [`MAX_REQUEST_BODY`] before buffering it.
async fn read_body<B>(req: Request<B>) -> ApiResult<Bytes>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || ApiError::TooLarge(format!("limit is {MAX_REQUEST_BODY} bytes"));
    if let Some(len) = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > MAX_REQUEST_BODY
    {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(req.into_body(), MAX_REQUEST_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(too_large())
            } else {
                Err(ApiError::BadRequest(format!(
                    "error reading the request body: {e}"
                )))
            }
        }
    }
}

pub fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "emulationMajor": "1",
        "emulationMinor": KUBERNETES_MINOR,
        "gitVersion": format!("v1.{KUBERNETES_MINOR}.0+corral-{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}
