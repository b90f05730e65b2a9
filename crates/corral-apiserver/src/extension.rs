//! Non-Kubernetes endpoints served on the same port (`/v3/...` login and
//! agent connections, `/k8s/clusters/...` the auth proxy). Higher layers
//! implement [`Extension`]; the API server only routes to them, so it never
//! depends on what they do.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;

use crate::response::Body;

/// The request body handed to extensions (streamed, not buffered).
pub type ExtensionBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

pub type ExtensionFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// A set of HTTP endpoints under path prefixes the Kubernetes API does not use.
pub trait Extension: Send + Sync {
    /// Whether this extension serves `path`.
    fn claims(&self, path: &str) -> bool;
    /// Serve the request. Authentication is the extension's own business
    /// (it can use [`ApiServer::authenticator`](crate::ApiServer::authenticator));
    /// HTTP upgrades work (`hyper::upgrade::on`), the upgrade handle rides in
    /// the request's extensions.
    fn handle(&self, req: Request<ExtensionBody>) -> ExtensionFuture;
}
