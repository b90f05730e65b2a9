//! The transport under the etcd client: one HTTP/2 connection to one member
//! at a time, every request (and watch stream) multiplexed on it directly.
//!
//! Why not etcd-client's own channel: it is tonic's balanced channel, where
//! each request is queued to a buffer task (one more task wake-up per
//! request), passes p2c balancing and reconnect layers, and is spread over
//! one connection per member. Concurrent requests on different connections
//! are never written together, and two in three of them reach a follower,
//! which forwards writes to the leader. Profiles of the create benchmark
//! (`scripts/bench-etcd`) put that client at over a third of the server's
//! CPU. Here a request goes straight onto the connection's HTTP/2 streams
//! (`h2conn`); concurrent requests share one connection's writes.
//!
//! Failover: a connection that closes (the member died, or the keepalive
//! ping went unanswered) is replaced on the next request by one to the next
//! member that accepts, and a member that answers "no leader" (cut off from
//! the others) is left the same way. A request that certainly was not
//! written reports "request not sent", which the retry rules in `call.rs`
//! treat like a failed connection: safe to send again, even a write.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::header::{CONTENT_TYPE, HeaderValue, TE};
use http::uri::{Authority, PathAndQuery, Scheme};
use tokio::net::TcpStream;
use tonic::body::Body;

use super::EtcdTls;
use super::h2conn::{Connection, OpenStream, RecvBody, SendError};
use crate::{Result, StoreError};

/// The message of a request this channel did not write to any member;
/// `call::connect_failed` recognizes it.
pub(super) const NOT_SENT: &str = "request not sent";

/// One member's address.
#[derive(Clone, Debug)]
struct Member {
    /// As configured.
    endpoint: String,
    scheme: Scheme,
    authority: Authority,
    /// `host:port` to dial.
    address: String,
    /// The name its certificate must carry (https only).
    server_name: rustls::pki_types::ServerName<'static>,
}

/// A live connection and which member it goes to.
struct Live {
    connection: Connection,
    member: usize,
}

struct Shared {
    members: Vec<Member>,
    tls: Option<tokio_rustls::TlsConnector>,
    dial_timeout: Duration,
    live: Mutex<Option<Live>>,
    /// Serializes reconnecting, so that a burst of requests after a failure
    /// makes one new connection, not one each.
    reconnecting: tokio::sync::Mutex<()>,
    /// The member the next connection attempt starts with.
    next_member: AtomicUsize,
}

/// A `tower::Service` for etcd-client's `Channel::Custom`. Cheap to clone.
#[derive(Clone)]
pub(super) struct DirectChannel {
    shared: Arc<Shared>,
}

impl DirectChannel {
    /// Parses the endpoints and TLS files; connects lazily, on the first
    /// request.
    pub(super) fn new(
        endpoints: &[String],
        tls: Option<&EtcdTls>,
        dial_timeout: Duration,
    ) -> Result<Self> {
        let members = endpoints
            .iter()
            .map(|e| parse_member(e, tls.is_some()))
            .collect::<Result<Vec<_>>>()?;
        if members.is_empty() {
            return Err(StoreError::Internal("no etcd endpoints given".to_string()));
        }
        if members.iter().any(|m| m.scheme == Scheme::HTTPS) && tls.is_none() {
            return Err(StoreError::Internal(
                "https etcd endpoints need a CA (EtcdTls)".to_string(),
            ));
        }
        let tls = tls.map(tls_connector).transpose()?;
        Ok(Self {
            shared: Arc::new(Shared {
                members,
                tls,
                dial_timeout,
                live: Mutex::new(None),
                reconnecting: tokio::sync::Mutex::new(()),
                next_member: AtomicUsize::new(0),
            }),
        })
    }

    /// In etcd-client's channel type.
    pub(super) fn into_etcd_channel(self) -> etcd_client::Channel {
        etcd_client::Channel::Custom(tower::util::BoxCloneSyncService::new(self))
    }

    /// The configured endpoint of the member new requests go to, if a
    /// connection is open.
    pub(super) fn connected_endpoint(&self) -> Option<String> {
        self.shared
            .current()
            .map(|(_, member)| self.shared.members[member].endpoint.clone())
    }

    /// Sends new requests to `endpoint` (a configured one) from now on:
    /// the next request opens a connection to it. Requests and watch
    /// streams already on the old connection finish there; it closes when
    /// the last one ends.
    pub(super) fn prefer(&self, endpoint: &str) {
        let Some(index) = self
            .shared
            .members
            .iter()
            .position(|m| m.endpoint == endpoint)
        else {
            return;
        };
        let mut live = self.shared.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.as_ref().is_some_and(|l| l.member != index) {
            *live = None;
        }
        self.shared.next_member.store(index, Ordering::Relaxed);
    }
}

impl Shared {
    /// The live connection, if it is still open.
    fn current(&self) -> Option<(Connection, usize)> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.as_ref()
            .filter(|l| !l.connection.is_closed())
            .map(|l| (l.connection.clone(), l.member))
    }

    /// Forgets the connection to `member` (if it is still the live one), so
    /// that the next request connects elsewhere.
    fn abandon(&self, member: usize) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.as_ref().is_some_and(|l| l.member == member) {
            *live = None;
            self.next_member
                .store((member + 1) % self.members.len(), Ordering::Relaxed);
        }
    }

    /// The live connection, or a new one to the first member (starting
    /// with `next_member`) that accepts.
    async fn sender(&self) -> std::result::Result<(Connection, usize), tonic::Status> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        // Boxed: dialing (TCP, TLS, the HTTP/2 handshake) is a future of
        // several KiB that every request's future would otherwise reserve
        // room for, and requests' futures are moved several times each.
        Box::pin(self.reconnect()).await
    }

    /// [`Shared::sender`] when there is no live connection.
    async fn reconnect(&self) -> std::result::Result<(Connection, usize), tonic::Status> {
        let _one_at_a_time = self.reconnecting.lock().await;
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let start = self.next_member.load(Ordering::Relaxed);
        let mut errors = Vec::new();
        for offset in 0..self.members.len() {
            let index = (start + offset) % self.members.len();
            let member = &self.members[index];
            match tokio::time::timeout(self.dial_timeout, self.connect(member)).await {
                Ok(Ok(connection)) => {
                    let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
                    *live = Some(Live {
                        connection: connection.clone(),
                        member: index,
                    });
                    self.next_member
                        .store((index + 1) % self.members.len(), Ordering::Relaxed);
                    return Ok((connection, index));
                }
                Ok(Err(e)) => errors.push(format!("{}: {e}", member.address)),
                Err(_) => errors.push(format!(
                    "{}: no connection within {:?}",
                    member.address, self.dial_timeout
                )),
            }
        }
        Err(tonic::Status::unavailable(format!(
            "{NOT_SENT}: no etcd member accepts a connection ({})",
            errors.join("; ")
        )))
    }

    async fn connect(&self, member: &Member) -> std::io::Result<Connection> {
        let tcp = TcpStream::connect(&member.address).await?;
        tcp.set_nodelay(true)?;
        match (&self.tls, member.scheme == Scheme::HTTPS) {
            (Some(tls), true) => {
                let stream = tls.connect(member.server_name.clone(), tcp).await?;
                Connection::handshake(stream).await
            }
            _ => Connection::handshake(tcp).await,
        }
    }
}

impl tower::Service<http::Request<Body>> for DirectChannel {
    type Response = http::Response<Body>;
    type Error = tower::BoxError;
    type Future = BoxFuture<'static, std::result::Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        // Readiness is decided per request: a closed connection is replaced
        // when the request needs one.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            let response = shared.send_streaming(request).await?;
            Ok(response.map(Body::new))
        })
    }
}

impl DirectChannel {
    /// Sends one unary gRPC request (see [`Shared::send_unary`]).
    pub(super) async fn send_unary(
        &self,
        path: &'static str,
        message: Bytes,
    ) -> std::result::Result<(http::Response<h2::RecvStream>, OpenStream), tonic::Status> {
        self.shared.send_unary(path, message).await
    }
}

impl Shared {
    /// `message` (one framed gRPC message) to `path` on the live
    /// connection, sent with END_STREAM on its only DATA frame.
    async fn send_unary(
        &self,
        path: &'static str,
        message: Bytes,
    ) -> std::result::Result<(http::Response<h2::RecvStream>, OpenStream), tonic::Status> {
        // Two tries: a connection that closed between the check and the
        // send leaves the request unsent, and it goes on a new one.
        for _ in 0..2 {
            let (connection, member) = self.sender().await?;
            let head = unary_head(path, &self.members[member])?;
            match connection.send(head, message.clone()).await {
                Ok((response, open)) => return Ok((self.answered(member, response), open)),
                Err(SendError::NotSent(_)) => self.abandon(member),
                Err(SendError::Failed(e)) => return Err(self.failed(member, &e)),
            }
        }
        Err(tonic::Status::unavailable(format!(
            "{NOT_SENT}: etcd connections kept closing"
        )))
    }

    /// etcd-client's requests (watch and lease streams, maintenance): the
    /// body is streamed. Not retried here: a request the connection did not
    /// take reports "request not sent".
    async fn send_streaming(
        &self,
        mut request: http::Request<Body>,
    ) -> std::result::Result<http::Response<RecvBody>, tonic::Status> {
        let (connection, member) = self.sender().await?;
        set_origin(&mut request, &self.members[member])?;
        match connection.send_streaming(request).await {
            Ok(response) => Ok(self.answered(member, response)),
            Err(SendError::NotSent(e)) => {
                self.abandon(member);
                Err(tonic::Status::unavailable(format!(
                    "{NOT_SENT}: etcd member {}: {e}",
                    self.members[member].address
                )))
            }
            Err(SendError::Failed(e)) => Err(self.failed(member, &e)),
        }
    }

    /// `response`, after leaving `member` if it answered that it has no
    /// leader.
    fn answered<B>(&self, member: usize, response: http::Response<B>) -> http::Response<B> {
        if refuses_for_no_leader(&response) {
            self.abandon(member);
        }
        response
    }

    /// The error of a request that may have been written; the connection
    /// is left if the failure was the connection's, not the stream's.
    fn failed(&self, member: usize, e: &h2::Error) -> tonic::Status {
        if e.is_go_away() || !e.is_reset() {
            self.abandon(member);
        }
        tonic::Status::unavailable(format!("etcd member {}: {e}", self.members[member].address))
    }
}

/// The head of a unary gRPC request to `member`. etcd's require-leader
/// flag is set as the store's etcd-client sets it for every other call: a
/// member cut off from the others answers "no leader" at once instead of
/// holding the request.
fn unary_head(
    path: &'static str,
    member: &Member,
) -> std::result::Result<http::Request<()>, tonic::Status> {
    let uri = http::Uri::builder()
        .scheme(member.scheme.clone())
        .authority(member.authority.clone())
        .path_and_query(PathAndQuery::from_static(path))
        .build()
        .map_err(|e| tonic::Status::internal(format!("etcd request URI: {e}")))?;
    let mut head = http::Request::new(());
    *head.method_mut() = http::Method::POST;
    *head.uri_mut() = uri;
    let headers = head.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    headers.insert("hasleader", HeaderValue::from_static("true"));
    Ok(head)
}

/// gRPC requests name the member they go to (`:scheme` and `:authority`);
/// etcd-client leaves only the path in the URI.
fn set_origin(
    request: &mut http::Request<Body>,
    member: &Member,
) -> std::result::Result<(), tonic::Status> {
    let mut parts = std::mem::take(request.uri_mut()).into_parts();
    parts.scheme = Some(member.scheme.clone());
    parts.authority = Some(member.authority.clone());
    *request.uri_mut() = http::Uri::from_parts(parts)
        .map_err(|e| tonic::Status::internal(format!("etcd request URI: {e}")))?;
    Ok(())
}

/// A member without a leader answers at once with a trailers-only gRPC
/// error; while it stays cut off, every request sent to it would fail.
fn refuses_for_no_leader<B>(response: &http::Response<B>) -> bool {
    response
        .headers()
        .get("grpc-message")
        .is_some_and(|m| m.as_bytes().starts_with(b"etcdserver: no leader"))
}

fn parse_member(endpoint: &str, tls: bool) -> Result<Member> {
    let invalid = |why: String| StoreError::Internal(format!("etcd endpoint {endpoint:?}: {why}"));
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_string()
    } else if tls {
        format!("https://{endpoint}")
    } else {
        format!("http://{endpoint}")
    };
    let uri: http::Uri = with_scheme.parse().map_err(|e| invalid(format!("{e}")))?;
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::HTTP,
        Some("https") => Scheme::HTTPS,
        other => return Err(invalid(format!("unsupported scheme {other:?}"))),
    };
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| invalid("no host".to_string()))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(2379);
    let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| invalid(format!("host is not a valid certificate name: {e}")))?;
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(Member {
        endpoint: endpoint.to_string(),
        scheme,
        authority,
        address,
        server_name,
    })
}

fn tls_connector(tls: &EtcdTls) -> Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let failed = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        StoreError::Internal(format!("etcd TLS {what} {}: {e}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(&tls.ca_file)
        .map_err(|e| failed("CA", &tls.ca_file, &e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| failed("CA", &tls.ca_file, &e))?;
    if cas.is_empty() {
        return Err(failed("CA", &tls.ca_file, &"no certificate in the file"));
    }
    for ca in cas {
        roots.add(ca).map_err(|e| failed("CA", &tls.ca_file, &e))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Internal(format!("etcd TLS: {e}")))?
    .with_root_certificates(roots);
    let mut config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| failed("certificate", cert, &e))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| failed("certificate", cert, &e))?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| failed("private key", key, &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| StoreError::Internal(format!("etcd TLS client certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(StoreError::Internal(
                "etcd TLS: give both cert_file and key_file, or neither".to_string(),
            ));
        }
    };
    // gRPC servers (etcd among them) insist on HTTP/2 being negotiated.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_and_without_scheme() {
        let m = parse_member("http://127.0.0.1:2379", false).expect("parse");
        assert_eq!(m.scheme, Scheme::HTTP);
        assert_eq!(m.address, "127.0.0.1:2379");
        let m = parse_member("10.0.0.1:4000", true).expect("parse");
        assert_eq!(m.scheme, Scheme::HTTPS);
        assert_eq!(m.address, "10.0.0.1:4000");
        let m = parse_member("https://[::1]:2379", true).expect("parse");
        assert_eq!(m.address, "[::1]:2379");
        let m = parse_member("http://etcd-0.example", false).expect("parse");
        assert_eq!(m.address, "etcd-0.example:2379");
        assert!(parse_member("ftp://x:1", false).is_err());
        assert!(parse_member("http://", false).is_err());
    }

    #[test]
    fn https_needs_tls_files() {
        let err = DirectChannel::new(
            &["https://127.0.0.1:2379".to_string()],
            None,
            Duration::from_secs(1),
        );
        assert!(err.is_err());
    }
}
