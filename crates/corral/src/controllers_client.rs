//! The controllers' API client: kube-rs over an in-process transport.
//!
//! Requests go through [`ApiServer::handle`] exactly as a remote client's
//! do (authentication, RBAC, admission, validation, the store) but skip TLS,
//! TCP and HTTP framing on both ends. The leader's controllers watch every
//! resource (the garbage collector alone holds one metadata watch per
//! kind), so over HTTPS each write was encrypted, framed, decrypted and
//! parsed again once per watcher; in-process it is handed over as bytes.
//!
//! The caller is the identity a verified client certificate of the
//! controller manager would carry: trust is the same as on the network path,
//! where the server issues that certificate to itself.

use std::sync::{Arc, Weak};

use corral_apiserver::ApiServer;
use corral_apiserver::authn::{PeerIdentity, UserInfo};
use http::Request;
use http_body_util::{BodyExt, Full};

/// The controllers' user, as upstream's kube-controller-manager is named.
const CONTROLLERS_USER: &str = "system:kube-controller-manager";

/// A kube-rs client whose requests are served by `api` in this process.
/// It holds the server weakly: once the server is gone, requests fail with
/// an error instead of keeping it alive.
pub fn in_process_client(api: &Arc<ApiServer>) -> kube::Client {
    let api: Weak<ApiServer> = Arc::downgrade(api);
    let identity = PeerIdentity {
        certificate_user: Some(UserInfo::new(CONTROLLERS_USER, &["system:masters"])),
        remote_addr: "in-process".into(),
    };
    let service = tower::service_fn(move |req: Request<kube::client::Body>| {
        let api = api.upgrade();
        let identity = identity.clone();
        async move {
            let api = api.ok_or_else(|| std::io::Error::other("the API server has stopped"))?;
            // Controllers send small bodies; buffering them gives the handler
            // the `Sync` body it needs (kube's streaming body is not).
            let (mut parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            parts.extensions.insert(identity);
            let req = Request::from_parts(parts, Full::new(body));
            match api.handle(req).await {
                Ok(response) => Ok::<_, std::io::Error>(response),
                Err(never) => match never {},
            }
        }
    });
    kube::Client::new(service, "default")
}
