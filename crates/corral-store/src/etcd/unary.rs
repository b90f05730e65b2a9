//! Unary gRPC calls for the store's hot path (`KV/Txn`, `KV/Range`), sent
//! straight on the channel's HTTP/2 connection.
//!
//! Why not etcd-client's `KvClient` here: every call through it passes
//! tonic's client stack (interceptor, boxed service, a streaming encoder
//! whose request body does not know it is complete, so the stream ends with
//! an extra empty DATA frame, then a streaming decoder that waits for the
//! trailers). A unary call needs none of it: the request is one
//! length-prefixed protobuf message sent with END_STREAM on its only DATA
//! frame, and the answer is one message and the trailers. Watches, leases
//! and maintenance stay on etcd-client.
//!
//! The errors are the ones tonic would give (`etcd_client::Error::GRpcStatus`
//! with etcd's status code and message), so `call.rs` sorts them the same way.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::HeaderMap;
use prost::Message;
use tonic::{Code, Status};

use etcd_client::proto::{PbRangeResponse, PbTxnOpRequest, PbTxnRequest, PbTxnResponse};
use etcd_client::{GetOptions, GetResponse, Txn, TxnOp, TxnResponse};

use super::channel::DirectChannel;
use super::{EtcdOptions, MAX_RESPONSE};
use crate::Result;

pub(super) const TXN: &str = "/etcdserverpb.KV/Txn";
pub(super) const RANGE: &str = "/etcdserverpb.KV/Range";

/// gRPC's message prefix: a compression flag and a big-endian length.
const PREFIX_LEN: usize = 5;

/// etcd's transaction and range calls on the store's transport, without the
/// store (no key prefix, no retries, no deadline): what the raw benchmark
/// measures etcd with, so that its figures and the store's differ by
/// Corral's own work only. Cheap to clone.
#[derive(Clone)]
pub struct UnaryKv {
    channel: DirectChannel,
}

impl UnaryKv {
    /// Connects lazily (on the first call), to the raft leader first.
    pub async fn connect(options: &EtcdOptions) -> Result<Self> {
        Ok(Self {
            channel: super::leader_first_channel(options).await?,
        })
    }

    /// `KV/Txn`.
    pub async fn txn(&self, txn: Txn) -> Result<TxnResponse, etcd_client::Error> {
        let request = PbTxnRequest::from(txn);
        self.channel
            .unary::<_, PbTxnResponse>(TXN, &request, MAX_RESPONSE)
            .await
            .map(TxnResponse)
    }

    /// `KV/Range` of `key` (and the range `options` give).
    pub async fn get(
        &self,
        key: impl Into<Vec<u8>>,
        options: Option<GetOptions>,
    ) -> Result<GetResponse, etcd_client::Error> {
        let request = range_request(key.into(), options.unwrap_or_default())?;
        self.channel
            .unary::<_, PbRangeResponse>(RANGE, &request, MAX_RESPONSE)
            .await
            .map(GetResponse)
    }
}

/// etcd-client names its `RangeRequest` type only with its server stubs;
/// its transaction builder makes one, with the key range completed.
pub(super) fn range_request(
    key: Vec<u8>,
    options: GetOptions,
) -> Result<impl Message, etcd_client::Error> {
    let txn = PbTxnRequest::from(Txn::new().and_then([TxnOp::get(key, Some(options))]));
    match txn.success.into_iter().next().and_then(|op| op.request) {
        Some(PbTxnOpRequest::RequestRange(range)) => Ok(range),
        _ => Err(status(Status::internal(
            "etcd-client made no range request",
        ))),
    }
}

impl DirectChannel {
    /// One unary call: `request` to `path`, answered by one `Resp` of at
    /// most `max_response` bytes.
    pub(super) async fn unary<Req, Resp>(
        &self,
        path: &'static str,
        request: &Req,
        max_response: usize,
    ) -> Result<Resp, etcd_client::Error>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let (response, _open) = self
            .send_unary(path, framed(request)?)
            .await
            .map_err(status)?;
        let (parts, mut body) = response.into_parts();
        if parts.status != http::StatusCode::OK {
            return Err(status(Status::new(
                code_for_http(parts.status),
                format!("etcd answered HTTP {}", parts.status),
            )));
        }
        // A failure before any message comes as headers alone ("trailers-only").
        if let Some(failed) = grpc_failure(&parts.headers) {
            return Err(status(failed));
        }
        let message = read_body(&mut body, max_response.saturating_add(PREFIX_LEN)).await?;
        let trailers = body
            .trailers()
            .await
            .map_err(|e| status(Status::unavailable(format!("etcd response: {e}"))))?;
        match trailers {
            Some(trailers) => {
                if let Some(failed) = grpc_failure(&trailers) {
                    return Err(status(failed));
                }
            }
            None if parts.headers.contains_key("grpc-status") => {}
            None => {
                return Err(status(Status::unavailable(
                    "etcd response ended without a gRPC status",
                )));
            }
        }
        unframed(message)
    }
}

/// The DATA of a response, at most `limit` bytes. Flow-control capacity is
/// returned as data arrives. A unary response is usually one frame, taken
/// without copying.
async fn read_body(body: &mut h2::RecvStream, limit: usize) -> Result<Bytes, etcd_client::Error> {
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    let mut len = 0usize;
    while let Some(chunk) = body.data().await {
        let chunk =
            chunk.map_err(|e| status(Status::unavailable(format!("etcd response: {e}"))))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        len = len.saturating_add(chunk.len());
        if len > limit {
            return Err(status(Status::resource_exhausted(format!(
                "etcd response: over {limit} bytes"
            ))));
        }
        match first.take() {
            None if rest.is_empty() => first = Some(chunk),
            earlier => {
                if let Some(earlier) = earlier {
                    rest.extend_from_slice(&earlier);
                }
                rest.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| rest.freeze()))
}

/// `request` as one uncompressed gRPC message.
fn framed<Req: Message>(request: &Req) -> Result<Bytes, etcd_client::Error> {
    let len = request.encoded_len();
    let prefix = u32::try_from(len)
        .map_err(|_| status(Status::invalid_argument("etcd request over 4 GiB")))?;
    let mut buf = BytesMut::with_capacity(PREFIX_LEN + len);
    buf.put_u8(0);
    buf.put_u32(prefix);
    request
        .encode(&mut buf)
        .map_err(|e| status(Status::internal(format!("etcd request encoding: {e}"))))?;
    Ok(buf.freeze())
}

/// The one message of a unary response.
fn unframed<Resp: Message + Default>(mut body: Bytes) -> Result<Resp, etcd_client::Error> {
    let malformed = |why: &str| status(Status::internal(format!("etcd response: {why}")));
    if body.len() < PREFIX_LEN {
        return Err(malformed("no message"));
    }
    let compressed = body.get_u8();
    let len = body.get_u32() as usize;
    if compressed != 0 {
        // We never offer compression (no grpc-accept-encoding).
        return Err(malformed("compressed message"));
    }
    if len != body.len() {
        return Err(malformed("message length does not match the body"));
    }
    Resp::decode(body).map_err(|e| malformed(&format!("decoding: {e}")))
}

/// The gRPC status in `headers`, if it is present and not OK.
fn grpc_failure(headers: &HeaderMap) -> Option<Status> {
    let code = headers.get("grpc-status")?.as_bytes();
    if code == b"0" {
        return None;
    }
    let message = headers
        .get("grpc-message")
        .map(|m| {
            percent_encoding::percent_decode(m.as_bytes())
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    Some(Status::new(Code::from_bytes(code), message))
}

/// gRPC's mapping of HTTP statuses from something that is not a gRPC server
/// (a proxy in between, or the wrong port).
fn code_for_http(http: http::StatusCode) -> Code {
    match http.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502..=504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

fn status(s: Status) -> etcd_client::Error {
    etcd_client::Error::GRpcStatus(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_client::proto::{PbRangeResponse, PbResponseHeader};
    use http::header::HeaderValue;

    #[test]
    fn messages_round_trip_through_the_framing() {
        let sent = PbRangeResponse {
            header: Some(PbResponseHeader {
                revision: 42,
                ..Default::default()
            }),
            count: 7,
            ..Default::default()
        };
        let bytes = framed(&sent).expect("framed");
        assert_eq!(bytes[0], 0);
        assert_eq!(
            u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize,
            bytes.len() - PREFIX_LEN
        );
        let got: PbRangeResponse = unframed(bytes).expect("unframed");
        assert_eq!(got.count, 7);
        assert_eq!(got.header.map(|h| h.revision), Some(42));
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let err = |b: &'static [u8]| match unframed::<PbRangeResponse>(Bytes::from_static(b)) {
            Err(etcd_client::Error::GRpcStatus(s)) => s.message().to_string(),
            other => panic!("expected an error, got {other:?}"),
        };
        assert!(err(b"").contains("no message"));
        assert!(err(b"\x01\x00\x00\x00\x00").contains("compressed"));
        assert!(err(b"\x00\x00\x00\x00\x09abc").contains("length"));
        assert!(err(b"\x00\x00\x00\x00\x02\xff\xff").contains("decoding"));
    }

    #[test]
    fn statuses_come_from_the_trailers() {
        let mut h = HeaderMap::new();
        assert!(grpc_failure(&h).is_none(), "no status at all");
        h.insert("grpc-status", HeaderValue::from_static("0"));
        assert!(grpc_failure(&h).is_none());
        h.insert("grpc-status", HeaderValue::from_static("14"));
        h.insert(
            "grpc-message",
            HeaderValue::from_static("etcdserver:%20no%20leader"),
        );
        let s = grpc_failure(&h).expect("a failure");
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.message(), "etcdserver: no leader");
        h.insert("grpc-status", HeaderValue::from_static("junk"));
        assert_eq!(grpc_failure(&h).map(|s| s.code()), Some(Code::Unknown));
    }
}
