//! One resource's metadata, listed and then watched, as kube-runtime's
//! `watcher` delivers it (`Init`, `InitApply`…, `InitDone`, then `Apply` and
//! `Delete`): lists in pages, watches from the list's resourceVersion,
//! resumes a watch that ends or breaks from the last version seen, lists
//! again after 410 Gone, and backs off after errors.
//!
//! Why not kube-runtime's watcher: it parses every line with serde into
//! `WatchEvent<K>`, after splitting the body into `String` lines. The
//! garbage collector watches every resource, so it reads one event per write
//! in the cluster; the watcher and its parse were about 13 k instructions per
//! event, 6% of the server's per create. Here lines are cut from the body's
//! chunks without copying and parsed by [`watched::parse_event`], which
//! decodes only the fields the graph reads.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use http_body_util::BodyExt;
use kube::api::{Api, ListParams, WatchParams};
use kube::core::{Status, WatchEvent};
use kube::runtime::watcher::Event;

use super::watched::{self, Watched};

/// Objects per list page, as kube-runtime's watcher asks.
const PAGE_SIZE: u32 = 500;
/// The server ends a watch after this long; it is then resumed.
const WATCH_TIMEOUT_SECONDS: u32 = 290;
/// A watch that stays silent this much longer than its timeout is dead.
const IDLE_MARGIN: Duration = Duration::from_secs(5);
/// Backoff after errors: doubling from the first to the last, and back to
/// the first once no error came for [`BACKOFF_RESET`] (kube-runtime's
/// default backoff).
const FIRST_BACKOFF: Duration = Duration::from_millis(800);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const BACKOFF_RESET: Duration = Duration::from_secs(120);

/// Why [`MetadataWatch::next`] delivered no event this time; the watch goes
/// on at the next call.
#[derive(Debug, thiserror::Error)]
pub enum MetadataWatchError {
    #[error("list failed: {0}")]
    List(kube::Error),
    #[error("watch could not start: {0}")]
    WatchStart(kube::Error),
    #[error("watch failed: {0}")]
    Watch(String),
    #[error("watch reported an error: {0}")]
    Event(Box<Status>),
}

impl MetadataWatchError {
    /// The resource is not served (any more): a 404 on the list.
    pub fn not_found(&self) -> bool {
        matches!(self, MetadataWatchError::List(kube::Error::Api(s)) if s.code == 404)
    }
}

enum State {
    /// Next: announce a (re-)list.
    Empty,
    /// Next: the page after `continue_token` (the first page when `None`).
    Listing { continue_token: Option<String> },
    /// Next: a watch from `resource_version`.
    Listed { resource_version: String },
    Watching {
        resource_version: String,
        lines: Lines,
    },
}

/// The list-and-watch of one resource's metadata (see the module doc).
pub struct MetadataWatch {
    api: Api<Watched>,
    client: kube::Client,
    state: State,
    /// Events of a list page not delivered yet.
    queued: VecDeque<Event<Watched>>,
    /// Waited before the next step, after an error.
    backoff: Option<Duration>,
    /// The last backoff, and when the error that caused it came.
    last_delay: Duration,
    last_error: Option<Instant>,
}

impl MetadataWatch {
    /// `api` names the resource (all namespaces); `client` sends the watch.
    pub fn new(api: Api<Watched>, client: kube::Client) -> Self {
        MetadataWatch {
            api,
            client,
            state: State::Empty,
            queued: VecDeque::new(),
            backoff: None,
            last_delay: FIRST_BACKOFF,
            last_error: None,
        }
    }

    /// The next event. After an error the watch goes on from where it was
    /// (or from a new list) on the next call, after a backoff.
    pub async fn next(&mut self) -> Result<Event<Watched>, MetadataWatchError> {
        if let Some(delay) = self.backoff.take() {
            tokio::time::sleep(delay).await;
        }
        let step = self.step().await;
        if step.is_err() {
            self.note_error();
        }
        step
    }

    fn note_error(&mut self) {
        let now = Instant::now();
        let recent = self
            .last_error
            .is_some_and(|at| now.duration_since(at) < BACKOFF_RESET);
        let delay = if recent {
            (self.last_delay * 2).min(MAX_BACKOFF)
        } else {
            FIRST_BACKOFF
        };
        self.last_error = Some(now);
        self.backoff = Some(delay);
        self.last_delay = delay;
    }

    async fn step(&mut self) -> Result<Event<Watched>, MetadataWatchError> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Ok(event);
            }
            match std::mem::replace(&mut self.state, State::Empty) {
                State::Empty => {
                    self.state = State::Listing {
                        continue_token: None,
                    };
                    return Ok(Event::Init);
                }
                State::Listing { continue_token } => {
                    self.list_page(continue_token).await?;
                }
                State::Listed { resource_version } => {
                    self.start_watch(resource_version).await?;
                }
                State::Watching {
                    resource_version,
                    lines,
                } => {
                    if let Some(event) = self.read_watch(resource_version, lines).await? {
                        return Ok(event);
                    }
                }
            }
        }
    }

    async fn list_page(
        &mut self,
        continue_token: Option<String>,
    ) -> Result<(), MetadataWatchError> {
        let mut params = ListParams::default().limit(PAGE_SIZE);
        params.continue_token = continue_token;
        // On failure the next step lists again from the start (state Empty).
        let page = self
            .api
            .list(&params)
            .await
            .map_err(MetadataWatchError::List)?;
        self.queued
            .extend(page.items.into_iter().map(Event::InitApply));
        let continue_token = page.metadata.continue_.filter(|c| !c.is_empty());
        let resource_version = page.metadata.resource_version.filter(|v| !v.is_empty());
        self.state = match (continue_token, resource_version) {
            (Some(token), _) => State::Listing {
                continue_token: Some(token),
            },
            (None, Some(resource_version)) => {
                self.queued.push_back(Event::InitDone);
                State::Listed { resource_version }
            }
            (None, None) => {
                self.queued.clear();
                return Err(MetadataWatchError::Watch(
                    "the list carried no resourceVersion".into(),
                ));
            }
        };
        Ok(())
    }

    async fn start_watch(&mut self, resource_version: String) -> Result<(), MetadataWatchError> {
        let params = WatchParams::default().timeout(WATCH_TIMEOUT_SECONDS);
        let request = kube::core::Request::new(self.api.resource_url())
            .watch_metadata(&params, &resource_version)
            .map_err(|e| MetadataWatchError::WatchStart(kube::Error::BuildRequest(e)));
        let started = match request {
            Ok(mut request) => {
                // Lines are cut from the raw body.
                request.headers_mut().insert(
                    http::header::ACCEPT_ENCODING,
                    http::HeaderValue::from_static("identity"),
                );
                open_lines(&self.client, request).await
            }
            Err(e) => Err(e),
        };
        match started {
            Ok(lines) => {
                self.state = State::Watching {
                    resource_version,
                    lines,
                };
                Ok(())
            }
            Err(e) => {
                // Too old to watch from: list again. Otherwise retry the watch.
                self.state = if is_gone(&e) {
                    State::Empty
                } else {
                    State::Listed { resource_version }
                };
                Err(e)
            }
        }
    }

    /// One line of the watch: an event to deliver, `None` for a bookmark or
    /// the end of the stream (the watch is then resumed).
    async fn read_watch(
        &mut self,
        mut resource_version: String,
        mut lines: Lines,
    ) -> Result<Option<Event<Watched>>, MetadataWatchError> {
        let idle = Duration::from_secs(u64::from(WATCH_TIMEOUT_SECONDS)) + IDLE_MARGIN;
        let line = match tokio::time::timeout(idle, lines.next_line()).await {
            Ok(Some(Ok(line))) => line,
            Ok(Some(Err(e))) => {
                self.state = State::Listed { resource_version };
                return Err(MetadataWatchError::Watch(e));
            }
            // Ended by the server, or silent too long: resume.
            Ok(None) | Err(_) => {
                self.state = State::Listed { resource_version };
                return Ok(None);
            }
        };
        let event = match watched::parse_event(&line) {
            Ok(event) => event,
            Err(e) => {
                self.state = State::Listed { resource_version };
                return Err(MetadataWatchError::Watch(format!("undecodable event: {e}")));
            }
        };
        let (delivered, version) = match event {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                let version = o.metadata.resource_version.clone();
                (Some(Event::Apply(o)), version)
            }
            WatchEvent::Deleted(o) => {
                let version = o.metadata.resource_version.clone();
                (Some(Event::Delete(o)), version)
            }
            WatchEvent::Bookmark(b) => (None, Some(b.metadata.resource_version)),
            WatchEvent::Error(status) => {
                // 410: the version fell out of the server's window; list again.
                self.state = if status.code == 410 {
                    State::Empty
                } else {
                    State::Listed { resource_version }
                };
                return Err(MetadataWatchError::Event(status));
            }
        };
        if let Some(version) = version.filter(|v| !v.is_empty()) {
            resource_version = version;
        }
        self.state = State::Watching {
            resource_version,
            lines,
        };
        Ok(delivered)
    }
}

fn is_gone(e: &MetadataWatchError) -> bool {
    matches!(e, MetadataWatchError::WatchStart(kube::Error::Api(s)) if s.code == 410)
}

/// Sends the watch request; a response other than 2xx becomes the `Status`
/// it carries.
async fn open_lines(
    client: &kube::Client,
    request: http::Request<Vec<u8>>,
) -> Result<Lines, MetadataWatchError> {
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .map_err(MetadataWatchError::WatchStart)?;
    let status = response.status();
    if !status.is_success() {
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let status = serde_json::from_slice::<Status>(&body).unwrap_or_else(|_| Status {
            code: status.as_u16(),
            message: String::from_utf8_lossy(&body).into_owned(),
            ..Status::default()
        });
        return Err(MetadataWatchError::WatchStart(kube::Error::Api(
            status.boxed(),
        )));
    }
    let body = response
        .into_body()
        .into_data_stream()
        .map(|chunk| chunk.map_err(|e| e.to_string()))
        .boxed();
    Ok(Lines {
        body,
        chunk: Bytes::new(),
        partial: Vec::new(),
    })
}

/// Newline-delimited lines of a streamed body: slices of the received
/// chunks when a line lies within one (nearly always), copied only when a
/// line spans chunks.
struct Lines {
    body: BoxStream<'static, Result<Bytes, String>>,
    /// What is left of the last chunk.
    chunk: Bytes,
    /// The start of a line that continues in the next chunk.
    partial: Vec<u8>,
}

impl Lines {
    /// The next line, without its newline; `None` at the end of the body (an
    /// unterminated last line is dropped: a line is only whole with its
    /// newline, and the watch resumes from the last whole one).
    async fn next_line(&mut self) -> Option<Result<Bytes, String>> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.chunk) {
                let line = self.chunk.split_to(end + 1);
                if self.partial.is_empty() {
                    return Some(Ok(line.slice(..end)));
                }
                self.partial.extend_from_slice(&line[..end]);
                return Some(Ok(Bytes::from(std::mem::take(&mut self.partial))));
            }
            self.partial.extend_from_slice(&self.chunk);
            self.chunk = match self.body.next().await? {
                Ok(chunk) => chunk,
                Err(e) => return Some(Err(e)),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(chunks: &[&'static str]) -> Lines {
        let chunks: Vec<Result<Bytes, String>> = chunks
            .iter()
            .map(|c| Ok(Bytes::from_static(c.as_bytes())))
            .collect();
        Lines {
            body: futures::stream::iter(chunks).boxed(),
            chunk: Bytes::new(),
            partial: Vec::new(),
        }
    }

    async fn all(mut lines: Lines) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().await {
            out.push(String::from_utf8(line.expect("a line").to_vec()).expect("utf-8"));
        }
        out
    }

    #[tokio::test]
    async fn lines_within_and_across_chunks() {
        let lines = lines_of(&["a\nbb\n", "c", "cc", "\nd\n\n", "unterminated"]);
        assert_eq!(all(lines).await, ["a", "bb", "ccc", "d", ""]);
    }
}
