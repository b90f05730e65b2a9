//! The tunnel's own tiny framing at the start of every yamux stream.
//!
//! The server opens a stream and writes a dial request:
//! `u32 big-endian length` + JSON `{"address":"host:port"}` (at most
//! [`MAX_REQUEST`] bytes). The agent answers with one status byte
//! ([`Reply`]); a non-zero status is followed by `u16 big-endian length` +
//! a UTF-8 explanation. After an OK reply the stream carries the raw bytes of
//! the TCP connection the agent made.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::TunnelError;

/// Largest dial request accepted (the JSON is tiny; this bounds hostile input).
pub(crate) const MAX_REQUEST: usize = 4096;
/// Longest explanation carried in a reply.
const MAX_MESSAGE: usize = 1024;

#[derive(Serialize, Deserialize)]
struct DialRequest {
    address: String,
}

/// The agent's answer to a dial request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Connected; the stream now carries the connection's bytes.
    Ok,
    /// The address is not on the agent's allowlist.
    Refused(String),
    /// The agent could not connect.
    DialFailed(String),
    /// The request itself was malformed.
    BadRequest(String),
}

impl Reply {
    fn code(&self) -> u8 {
        match self {
            Reply::Ok => 0,
            Reply::Refused(_) => 1,
            Reply::DialFailed(_) => 2,
            Reply::BadRequest(_) => 3,
        }
    }

    /// Turn a non-OK reply into the server-side error for `address`.
    pub(crate) fn into_result(self, address: &str) -> Result<(), TunnelError> {
        let address = address.to_string();
        match self {
            Reply::Ok => Ok(()),
            Reply::Refused(message) => Err(TunnelError::Refused { address, message }),
            Reply::DialFailed(message) => Err(TunnelError::DialFailed { address, message }),
            Reply::BadRequest(message) => Err(TunnelError::Protocol(format!(
                "agent rejected the dial request: {message}"
            ))),
        }
    }
}

/// Write a dial request for `address` (server side).
pub(crate) async fn write_request<W: AsyncWrite + Unpin>(
    w: &mut W,
    address: &str,
) -> Result<(), TunnelError> {
    let body = serde_json::to_vec(&DialRequest {
        address: address.to_string(),
    })
    .map_err(|e| TunnelError::Protocol(e.to_string()))?;
    if body.len() > MAX_REQUEST {
        return Err(TunnelError::Protocol(format!(
            "address too long ({} bytes)",
            address.len()
        )));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

/// Read a dial request (agent side). Returns the address asked for.
pub(crate) async fn read_request<R: AsyncRead + Unpin>(r: &mut R) -> Result<String, TunnelError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_REQUEST {
        return Err(TunnelError::Protocol(format!(
            "dial request of {len} bytes exceeds {MAX_REQUEST}"
        )));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    let request: DialRequest = serde_json::from_slice(&body)
        .map_err(|e| TunnelError::Protocol(format!("bad dial request: {e}")))?;
    Ok(request.address)
}

/// Write the agent's reply.
pub(crate) async fn write_reply<W: AsyncWrite + Unpin>(
    w: &mut W,
    reply: &Reply,
) -> Result<(), TunnelError> {
    let mut frame = vec![reply.code()];
    let message = match reply {
        Reply::Ok => None,
        Reply::Refused(m) | Reply::DialFailed(m) | Reply::BadRequest(m) => Some(m),
    };
    if let Some(message) = message {
        let message = truncate(message, MAX_MESSAGE);
        frame.extend_from_slice(&(message.len() as u16).to_be_bytes());
        frame.extend_from_slice(message.as_bytes());
    }
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

/// Read the agent's reply (server side).
pub(crate) async fn read_reply<R: AsyncRead + Unpin>(r: &mut R) -> Result<Reply, TunnelError> {
    let mut code = [0u8; 1];
    r.read_exact(&mut code).await?;
    if code[0] == 0 {
        return Ok(Reply::Ok);
    }
    let mut len = [0u8; 2];
    r.read_exact(&mut len).await?;
    let len = usize::from(u16::from_be_bytes(len));
    if len > MAX_MESSAGE {
        return Err(TunnelError::Protocol(format!(
            "reply message of {len} bytes exceeds {MAX_MESSAGE}"
        )));
    }
    let mut message = vec![0u8; len];
    r.read_exact(&mut message).await?;
    let message = String::from_utf8_lossy(&message).into_owned();
    match code[0] {
        1 => Ok(Reply::Refused(message)),
        2 => Ok(Reply::DialFailed(message)),
        3 => Ok(Reply::BadRequest(message)),
        other => Err(TunnelError::Protocol(format!(
            "unknown reply code {other}: {message}"
        ))),
    }
}

/// The longest prefix of `s` of at most `max` bytes, cut at a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn request_and_replies_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(64 << 10);
        write_request(&mut a, "10.0.0.1:6443").await.unwrap();
        assert_eq!(read_request(&mut b).await.unwrap(), "10.0.0.1:6443");
        for reply in [
            Reply::Ok,
            Reply::Refused("not allowed".into()),
            Reply::DialFailed("connection refused".into()),
            Reply::BadRequest("x".repeat(5000)),
        ] {
            write_reply(&mut b, &reply).await.unwrap();
            let got = read_reply(&mut a).await.unwrap();
            match (&reply, &got) {
                (Reply::BadRequest(_), Reply::BadRequest(m)) => assert_eq!(m.len(), MAX_MESSAGE),
                _ => assert_eq!(reply, got),
            }
        }
    }

    #[tokio::test]
    async fn hostile_requests_are_rejected() {
        let (mut a, mut b) = tokio::io::duplex(64 << 10);
        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert!(matches!(
            read_request(&mut b).await,
            Err(TunnelError::Protocol(_))
        ));
        let (mut a, mut b) = tokio::io::duplex(64 << 10);
        a.write_all(&3u32.to_be_bytes()).await.unwrap();
        a.write_all(b"{{{").await.unwrap();
        assert!(matches!(
            read_request(&mut b).await,
            Err(TunnelError::Protocol(_))
        ));
        let (mut a, mut b) = tokio::io::duplex(64 << 10);
        a.write_all(&[9, 0, 1, b'x']).await.unwrap();
        assert!(matches!(
            read_reply(&mut b).await,
            Err(TunnelError::Protocol(_))
        ));
        assert_eq!(truncate("héllo", 2), "h");
    }
}
