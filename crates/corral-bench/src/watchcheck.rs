//! Watch stream line parsing and delivery verification (pure, unit-tested).

use serde::{Deserialize, Serialize};

/// ConfigMap data key carrying the write's sequence number.
pub const SEQ_KEY: &str = "bench-seq";
/// ConfigMap data key carrying the write's send time (ns since the bench's clock base).
pub const SENT_KEY: &str = "bench-sent-ns";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
    Other(String),
}

/// The parts of one watch event line that the benchmark needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchLine {
    pub kind: EventType,
    pub name: Option<String>,
    pub resource_version: Option<String>,
    pub seq: Option<u64>,
    pub sent_ns: Option<u64>,
    /// For ERROR events: the Status message.
    pub message: Option<String>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: Option<RawObject>,
}

#[derive(Deserialize)]
struct RawObject {
    #[serde(default)]
    metadata: Option<RawMeta>,
    #[serde(default)]
    data: Option<RawData>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    code: Option<i64>,
}

#[derive(Deserialize)]
struct RawMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "resourceVersion", default)]
    resource_version: Option<String>,
}

/// Only our two keys are materialised; everything else (the payload) is skipped.
#[derive(Deserialize)]
struct RawData {
    #[serde(rename = "bench-seq", default)]
    seq: Option<String>,
    #[serde(rename = "bench-sent-ns", default)]
    sent: Option<String>,
}

/// Parse one line of a `?watch=1` response.
pub fn parse_watch_line(line: &[u8]) -> Result<WatchLine, String> {
    let raw: RawEvent = serde_json::from_slice(line).map_err(|e| {
        let snippet: String = String::from_utf8_lossy(line).chars().take(120).collect();
        format!("bad watch line ({e}): {snippet}")
    })?;
    let kind = match raw.kind.as_str() {
        "ADDED" => EventType::Added,
        "MODIFIED" => EventType::Modified,
        "DELETED" => EventType::Deleted,
        "BOOKMARK" => EventType::Bookmark,
        "ERROR" => EventType::Error,
        other => EventType::Other(other.to_string()),
    };
    let (mut name, mut rv, mut seq, mut sent, mut message) = (None, None, None, None, None);
    if let Some(obj) = raw.object {
        if let Some(m) = obj.metadata {
            name = m.name;
            rv = m.resource_version;
        }
        if let Some(d) = obj.data {
            seq = d.seq.and_then(|s| s.parse().ok());
            sent = d.sent.and_then(|s| s.parse().ok());
        }
        if kind == EventType::Error {
            message = Some(format!(
                "watch ERROR event: {} {}: {}",
                obj.code.map(|c| c.to_string()).unwrap_or_default(),
                obj.reason.unwrap_or_default(),
                obj.message.unwrap_or_default()
            ));
        }
    }
    Ok(WatchLine {
        kind,
        name,
        resource_version: rv,
        seq,
        sent_ns: sent,
        message,
    })
}

/// Splits a byte stream into newline-terminated lines. Whole lines are handed out
/// straight from the incoming chunk; only an unterminated tail is copied.
#[derive(Default)]
pub struct LineSplitter {
    tail: Vec<u8>,
}

impl LineSplitter {
    /// Feed one chunk; `f` is called for every complete non-blank line (without '\n').
    pub fn feed(&mut self, chunk: &[u8], mut f: impl FnMut(&[u8])) {
        let mut rest = chunk;
        if !self.tail.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                None => {
                    self.tail.extend_from_slice(rest);
                    return;
                }
                Some(i) => {
                    self.tail.extend_from_slice(&rest[..i]);
                    let line = std::mem::take(&mut self.tail);
                    if !is_blank(&line) {
                        f(&line);
                    }
                    self.tail = line;
                    self.tail.clear();
                    rest = &rest[i + 1..];
                }
            }
        }
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..i];
            if !is_blank(line) {
                f(line);
            }
            rest = &rest[i + 1..];
        }
        self.tail.extend_from_slice(rest);
    }

    /// Bytes of the current unterminated line.
    pub fn pending(&self) -> usize {
        self.tail.len()
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// One delivered (non-bookmark) event, in receive order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub seq: Option<u64>,
    /// resourceVersion when it parses as an integer (Kubernetes RVs are opaque strings,
    /// but etcd's and SQLite-backed servers' are integers).
    pub rv: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrderCheck {
    /// Events carrying a benchmark sequence number.
    pub received: u64,
    /// Successful writes this watcher never saw.
    pub missing: u64,
    /// Repeated deliveries of a write already seen.
    pub duplicates: u64,
    /// Events whose resourceVersion (or sequence number) went backwards.
    pub out_of_order: u64,
    /// Events for writes the writer did not see succeed (e.g. timed out but committed).
    pub unexpected: u64,
}

impl OrderCheck {
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.duplicates == 0 && self.out_of_order == 0
    }

    pub fn add(&mut self, o: &OrderCheck) {
        self.received += o.received;
        self.missing += o.missing;
        self.duplicates += o.duplicates;
        self.out_of_order += o.out_of_order;
        self.unexpected += o.unexpected;
    }
}

/// Check that every write in `expected` (index = sequence number, true = the write
/// succeeded) was seen exactly once, and that events arrived in resourceVersion order.
/// With `seq_order` (writes were issued one at a time, so sequence order is commit
/// order) sequence numbers must also increase.
pub fn verify(seen: &[Seen], expected: &[bool], seq_order: bool) -> OrderCheck {
    let mut c = OrderCheck::default();
    let mut times = vec![0u32; expected.len()];
    let mut max_rv: Option<u64> = None;
    let mut max_seq: Option<u64> = None;
    for ev in seen {
        if let Some(seq) = ev.seq {
            c.received += 1;
            let idx = usize::try_from(seq).ok().filter(|&i| i < expected.len());
            match idx {
                Some(i) => {
                    times[i] += 1;
                    if times[i] > 1 {
                        c.duplicates += 1;
                        continue;
                    }
                    if !expected[i] {
                        c.unexpected += 1;
                    }
                }
                None => c.unexpected += 1,
            }
        }
        let rv_back = matches!((ev.rv, max_rv), (Some(rv), Some(m)) if rv <= m);
        let seq_back = seq_order && matches!((ev.seq, max_seq), (Some(s), Some(m)) if s < m);
        if rv_back || seq_back {
            c.out_of_order += 1;
        }
        if let Some(rv) = ev.rv {
            max_rv = Some(max_rv.map_or(rv, |m| m.max(rv)));
        }
        if let Some(s) = ev.seq {
            max_seq = Some(max_seq.map_or(s, |m| m.max(s)));
        }
    }
    c.missing = expected
        .iter()
        .zip(&times)
        .filter(|(ok, n)| **ok && **n == 0)
        .count() as u64;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(seq: u64, rv: u64) -> Seen {
        Seen {
            seq: Some(seq),
            rv: Some(rv),
        }
    }

    #[test]
    fn parses_added_event_with_markers() {
        let line = br#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w-1","namespace":"ns","resourceVersion":"1234"},"data":{"payload":"xxxx","bench-seq":"7","bench-sent-ns":"99000"}}}"#;
        let ev = parse_watch_line(line).expect("valid line");
        assert_eq!(ev.kind, EventType::Added);
        assert_eq!(ev.name.as_deref(), Some("w-1"));
        assert_eq!(ev.resource_version.as_deref(), Some("1234"));
        assert_eq!(ev.seq, Some(7));
        assert_eq!(ev.sent_ns, Some(99000));
        assert_eq!(ev.message, None);
    }

    #[test]
    fn parses_bookmark_error_and_garbage() {
        let bm = parse_watch_line(
            br#"{"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"50"}}}"#,
        )
        .expect("bookmark");
        assert_eq!(bm.kind, EventType::Bookmark);
        assert_eq!(bm.seq, None);
        assert_eq!(bm.resource_version.as_deref(), Some("50"));

        let err = parse_watch_line(
            br#"{"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version: 1 (50)","reason":"Expired","code":410}}"#,
        )
        .expect("error event");
        assert_eq!(err.kind, EventType::Error);
        assert_eq!(
            err.message.as_deref(),
            Some("watch ERROR event: 410 Expired: too old resource version: 1 (50)")
        );

        assert!(parse_watch_line(b"{not json").is_err());
        assert!(parse_watch_line(br#"{"object":{}}"#).is_err());
        let odd = parse_watch_line(br#"{"type":"WEIRD","object":{"data":{"bench-seq":"x"}}}"#)
            .expect("unknown type still parses");
        assert_eq!(odd.kind, EventType::Other("WEIRD".into()));
        assert_eq!(odd.seq, None);
    }

    #[test]
    fn line_splitter_handles_split_and_joined_lines() {
        let mut sp = LineSplitter::default();
        let mut got: Vec<String> = Vec::new();
        let mut push = |l: &[u8]| got.push(String::from_utf8_lossy(l).into_owned());
        sp.feed(b"{\"a\":1}\n{\"b\"", &mut push);
        assert_eq!(sp.pending(), 4);
        sp.feed(b":2", &mut push);
        sp.feed(b"}\n\n  \n{\"c\":3}\n{\"d\":", &mut push);
        assert_eq!(sp.pending(), 5);
        sp.feed(b"4}\r\n", &mut push);
        assert_eq!(sp.pending(), 0);
        assert_eq!(
            got,
            vec!["{\"a\":1}", "{\"b\":2}", "{\"c\":3}", "{\"d\":4}\r"]
        );
        // A CRLF-terminated line still parses as JSON (trailing whitespace is allowed).
        assert!(
            parse_watch_line(
                br#"{"type":"ADDED","object":{}}
"#
            )
            .is_ok()
        );
    }

    #[test]
    fn verify_all_in_order() {
        let seen = [
            s(0, 10),
            Seen {
                seq: None,
                rv: Some(11),
            },
            s(1, 12),
            s(2, 13),
        ];
        let c = verify(&seen, &[true, true, true], true);
        assert!(c.ok(), "{c:?}");
        assert_eq!(c.received, 3);
        assert_eq!(c.missing, 0);
    }

    #[test]
    fn verify_detects_missing_duplicate_reorder_unexpected() {
        // seq 1 missing, seq 0 delivered twice, seq 3 arrives before seq 2, seq 9 unexpected.
        let seen = [s(0, 10), s(0, 10), s(3, 14), s(2, 13), s(9, 20)];
        let expected = [true, true, true, true];
        let c = verify(&seen, &expected, true);
        assert_eq!(c.missing, 1);
        assert_eq!(c.duplicates, 1);
        assert_eq!(c.out_of_order, 1);
        assert_eq!(c.unexpected, 1);
        assert_eq!(c.received, 5);
        assert!(!c.ok());

        // A write that reported failure but shows up is "unexpected", not a failure.
        let c = verify(&[s(0, 1), s(1, 2)], &[true, false], true);
        assert!(c.ok());
        assert_eq!(c.unexpected, 1);
        assert_eq!(c.missing, 0);

        // Without numeric resourceVersions order falls back to sequence numbers.
        let c = verify(
            &[
                Seen {
                    seq: Some(1),
                    rv: None,
                },
                Seen {
                    seq: Some(0),
                    rv: None,
                },
            ],
            &[true, true],
            true,
        );
        assert_eq!(c.out_of_order, 1);
        // Concurrent writers: commit order may differ from sequence order; the
        // resourceVersion still has to increase.
        let c = verify(&[s(1, 5), s(0, 6)], &[true, true], false);
        assert!(c.ok(), "{c:?}");
        let c = verify(&[s(1, 6), s(0, 5)], &[true, true], false);
        assert_eq!(c.out_of_order, 1);
    }
}
