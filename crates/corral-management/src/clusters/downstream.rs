//! Calls to a downstream cluster's API made by Corral itself (health probes,
//! removal), over the same dialer and credential as the proxy. One TLS
//! connection serves a batch of calls.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value;

use crate::proxy::forward::tls_config;
use crate::proxy::{ClusterTarget, Dialer};

/// A call that could not be made or got an unexpected answer.
#[derive(Debug, thiserror::Error)]
pub enum DownstreamError {
    #[error("cannot reach the cluster: {0}")]
    Unreachable(String),
    #[error("{status} from {path}: {message}")]
    Status {
        status: u16,
        path: String,
        message: String,
    },
}

/// An open connection to a cluster's API, authenticated as Corral's credential.
pub struct Downstream {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    bearer: String,
}

/// A response: status and body.
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl Downstream {
    pub async fn connect(
        dialer: &dyn Dialer,
        cluster: &str,
        target: &ClusterTarget,
    ) -> Result<Downstream, DownstreamError> {
        let unreachable = |e: &dyn std::fmt::Display| DownstreamError::Unreachable(e.to_string());
        let stream = dialer
            .dial(cluster, &target.address)
            .await
            .map_err(|e| unreachable(&e))?;
        let tls = tls_config(&target.ca_pem).map_err(|e| unreachable(&e))?;
        let name = ServerName::try_from(target.server_name.clone()).map_err(|e| unreachable(&e))?;
        let tls_stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, stream)
            .await
            .map_err(|e| unreachable(&e))?;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(tls_stream))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Downstream {
            sender,
            host: target.address.clone(),
            bearer: target.bearer_token.clone(),
        })
    }

    /// One call. `headers` are added as given (impersonation, content type).
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, DownstreamError> {
        let unreachable = |e: &dyn std::fmt::Display| DownstreamError::Unreachable(e.to_string());
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &self.host)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.bearer),
            )
            .header(http::header::ACCEPT, "application/json");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let typed = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        let payload = match body {
            Some(v) => {
                if !typed {
                    builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                }
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = builder
            .body(Full::new(payload))
            .map_err(|e| unreachable(&e))?;
        self.sender.ready().await.map_err(|e| unreachable(&e))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        Ok(Reply { status, body })
    }

    /// A call that must succeed (2xx); 404 is success too when `missing_ok`.
    pub async fn expect(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        missing_ok: bool,
    ) -> Result<Reply, DownstreamError> {
        let reply = self.call(method, path, body, headers).await?;
        if reply.status.is_success() || (missing_ok && reply.status == StatusCode::NOT_FOUND) {
            return Ok(reply);
        }
        let json = reply.json();
        let message = json["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&reply.body)
                    .chars()
                    .take(200)
                    .collect()
            });
        Err(DownstreamError::Status {
            status: reply.status.as_u16(),
            path: path.to_string(),
            message,
        })
    }
}
