use super::*;
use futures::{AsyncReadExt, AsyncWriteExt, SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn mask_matches_bytewise_xor_at_any_offset() {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let data = pattern(103);
    for offset in 0..8u64 {
        let mut fast = data.clone();
        apply_mask(&mut fast, mask, offset);
        let slow: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[(i + offset as usize) % 4])
            .collect();
        assert_eq!(fast, slow, "offset {offset}");
    }
}

#[test]
fn headers_round_trip() {
    for len in [0u64, 1, 125, 126, 65_535, 65_536, 1 << 20] {
        for mask in [None, Some([1, 2, 3, 4])] {
            let mut buf = [0u8; MAX_HEADER];
            let n = encode_header(&mut buf, OP_BINARY, len, mask);
            for short in 0..n {
                assert!(parse_header(&buf[..short]).unwrap().is_none());
            }
            let h = parse_header(&buf[..n]).unwrap().unwrap();
            assert_eq!(
                (h.opcode, h.len, h.payload, h.mask),
                (OP_BINARY, n, len, mask)
            );
        }
    }
}

/// Our client against tungstenite's server, and tungstenite's client
/// against our server: bytes arrive intact in both directions through
/// small messages, small reads and pings, and pings are answered.
#[tokio::test]
async fn interoperates_with_tungstenite_both_ways() {
    for ours in [Role::Client, Role::Server] {
        let (a, b) = tokio::io::duplex(4096);
        let theirs = match ours {
            Role::Client => WsRole::Server,
            Role::Server => WsRole::Client,
        };
        let mut peer = WebSocketStream::from_raw_socket(b, theirs, None).await;
        let liveness = Arc::new(Liveness::new());
        let mut io = WsIo::new(
            a,
            Vec::new(),
            ours,
            Duration::from_secs(60),
            1024,
            200,
            liveness,
        );
        let up = pattern(10_000);
        let down = pattern(7_777);

        let peer_task = tokio::spawn(async move {
            // Receive `up` as binary messages of at most 1024 bytes.
            let mut got = Vec::new();
            while got.len() < 10_000 {
                match peer.next().await.expect("open").expect("message") {
                    Message::Binary(b) => {
                        assert!(b.len() <= 1024);
                        got.extend_from_slice(&b);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(got, pattern(10_000));
            // Send `down` in uneven messages with a ping in between.
            let down = pattern(7_777);
            peer.send(Message::Binary(down[..3000].to_vec().into()))
                .await
                .unwrap();
            peer.send(Message::Ping(b"are you there".to_vec().into()))
                .await
                .unwrap();
            peer.send(Message::Binary(down[3000..].to_vec().into()))
                .await
                .unwrap();
            // Our pong comes back.
            match peer.next().await.expect("open").expect("message") {
                Message::Pong(p) => assert_eq!(&p[..], b"are you there"),
                other => panic!("unexpected {other:?}"),
            }
            peer
        });

        for chunk in up.chunks(777) {
            io.write_all(chunk).await.unwrap();
            io.flush().await.unwrap();
        }
        let mut got = vec![0u8; down.len()];
        let mut filled = 0;
        while filled < got.len() {
            let end = (filled + 13).min(got.len());
            let n = io.read(&mut got[filled..end]).await.unwrap();
            assert!(n > 0);
            filled += n;
        }
        assert_eq!(got, down);
        // Keep polling so the pong goes out while the peer waits for it.
        let mut one = [0u8; 1];
        let mut peer = tokio::select! {
            r = peer_task => r.unwrap(),
            _ = io.read(&mut one) => panic!("no more data expected"),
        };
        // A close from the peer reads as EOF.
        peer.close(None).await.unwrap();
        let mut rest = Vec::new();
        io.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }
}
