//! Every request to etcd goes through [`bounded`]: one deadline per call,
//! retries only where they are safe, and etcd's errors sorted into what the
//! [`Store`](crate::Store) contract can say about them.
//!
//! Why retry at all: the channel connects lazily, so while a member is down
//! a request that needed a new connection may fail at once although the
//! other members would answer (the next attempt connects elsewhere).
//! Such a request never reached etcd, so it is retried (even a write).
//! A request that may have reached etcd and then failed (the connection
//! dropped mid-request, the leader changed while the proposal was in flight,
//! etcd's own timeout) is retried only if it is a read: re-sending a write
//! could apply it twice, or report `AlreadyExists`/`Conflict` for our own
//! first attempt, so the caller gets `Unavailable` and decides.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tonic::Code;

use crate::StoreError;

/// Backoff between attempts of one call: short, since the deadline is.
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Whether a request may be sent again after an ambiguous failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Retry {
    /// Reads, and writes whose repetition is harmless.
    Idempotent,
    /// Writes: retried only if the failed attempt certainly did not reach etcd.
    OnlyIfNotSent,
}

/// What a failed etcd request means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// The request certainly did not take effect: no connection could be
    /// made, or the member refused it before proposing it (no leader).
    NotSent(String),
    /// The request may or may not have taken effect.
    Ambiguous(String),
    /// etcd will refuse this request again if it is retried now, but the
    /// condition is operational (database full): `Unavailable`, not retried.
    Refused(String),
    /// The requested revision was compacted (etcd does not say to which).
    Compacted,
    /// The requested revision is newer than etcd's current one.
    FutureRevision,
    /// A bug or a misconfiguration (bad request, permission denied, ...).
    Internal(String),
}

impl Failure {
    /// The store error for failures that need no context from the caller.
    /// `Compacted` and `FutureRevision` need the revisions involved; callers
    /// that can see them handle them first, anywhere else they are internal.
    pub(super) fn into_store_error(self) -> StoreError {
        match self {
            Failure::NotSent(m) | Failure::Ambiguous(m) | Failure::Refused(m) => {
                StoreError::Unavailable(m)
            }
            Failure::Compacted => StoreError::Internal("unexpected compaction error".to_string()),
            Failure::FutureRevision => {
                StoreError::Internal("unexpected future revision error".to_string())
            }
            Failure::Internal(m) => StoreError::Internal(m),
        }
    }

    fn retryable(&self, retry: Retry) -> bool {
        match self {
            Failure::NotSent(_) => true,
            Failure::Ambiguous(_) => retry == Retry::Idempotent,
            _ => false,
        }
    }
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        f.into_store_error()
    }
}

/// Sorts an etcd client error. etcd reports its own errors as gRPC statuses
/// with fixed messages (`etcdserver: ...`, see etcd's `rpctypes`); transport
/// failures arrive as statuses too, or as transport errors.
pub(super) fn classify(error: &etcd_client::Error) -> Failure {
    use etcd_client::Error as E;
    match error {
        E::GRpcStatus(status) => classify_status(status.code(), status.message()),
        E::TransportError(e) => Failure::Ambiguous(format!("etcd transport error: {e}")),
        E::IoError(e) => Failure::Ambiguous(format!("etcd i/o error: {e}")),
        E::WatchError(e) => Failure::Ambiguous(format!("etcd watch error: {e}")),
        other => Failure::Internal(format!("etcd client error: {other}")),
    }
}

fn classify_status(code: Code, message: &str) -> Failure {
    let described = || format!("etcd: {message} ({code:?})");
    if message.contains("required revision has been compacted") {
        return Failure::Compacted;
    }
    if message.contains("required revision is a future revision") {
        return Failure::FutureRevision;
    }
    // Refused by the member before it proposed anything.
    const NOT_SENT: [&str; 4] = [
        "etcdserver: no leader",
        "etcdserver: not capable",
        "etcdserver: too many requests",
        "etcdserver: unhealthy cluster",
    ];
    if NOT_SENT.iter().any(|m| message.starts_with(m)) || connect_failed(message) {
        return Failure::NotSent(described());
    }
    match code {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Aborted
        | Code::Unknown
        | Code::Internal => Failure::Ambiguous(described()),
        Code::ResourceExhausted => Failure::Refused(described()),
        _ => Failure::Internal(described()),
    }
}

/// A transport error from before the request was written: no connection to
/// any member could be made, or the connection closed before the request
/// went out (the channel connects lazily and reports the failure on the
/// request that needed the connection).
fn connect_failed(message: &str) -> bool {
    if message.starts_with(super::channel::NOT_SENT) {
        return true;
    }
    let m = message.to_ascii_lowercase();
    m.contains("error trying to connect")
        || m.contains("tcp connect error")
        || m.contains("connection refused")
}

/// When one store call must be done: every request the call makes (most
/// make one; some ask a follow-up question) shares it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    pub(super) fn after(budget: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
            budget,
        }
    }

    pub(super) fn at(&self) -> Instant {
        self.at
    }

    /// `Unavailable` for a call that ran out of time.
    pub(super) fn expired(&self) -> StoreError {
        timed_out(self.budget, None).into_store_error()
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the deadline passes
/// (then `Unavailable`, with the last error seen). Each attempt gets only
/// the time left, so a call never takes longer than the request timeout: a
/// dead cluster answers in about that time, and never hangs.
pub(super) async fn bounded<T, F, Fut>(
    deadline: Deadline,
    retry: Retry,
    mut attempt: F,
) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    let Deadline {
        at: deadline,
        budget: timeout,
    } = deadline;
    let mut backoff = FIRST_BACKOFF;
    let mut last: Option<Failure> = None;
    loop {
        let failure = match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => classify(&e),
            Err(_) => return Err(timed_out(timeout, last)),
        };
        if !failure.retryable(retry) {
            return Err(failure);
        }
        if Instant::now() + backoff >= deadline {
            return Err(timed_out(timeout, Some(failure)));
        }
        tracing::debug!(?failure, ?backoff, "etcd request failed; retrying");
        last = Some(failure);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The deadline passed. Whatever the last attempt was, its outcome is now
/// unknown to us, so this is `Ambiguous` (`Unavailable` to the caller).
fn timed_out(timeout: Duration, last: Option<Failure>) -> Failure {
    let last = match last {
        Some(Failure::NotSent(m) | Failure::Ambiguous(m)) => format!("; last error: {m}"),
        _ => String::new(),
    };
    Failure::Ambiguous(format!("etcd did not answer within {timeout:?}{last}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_sorted() {
        let c = |code, msg: &str| classify_status(code, msg);
        assert_eq!(
            c(
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted"
            ),
            Failure::Compacted
        );
        assert_eq!(
            c(
                Code::OutOfRange,
                "etcdserver: mvcc: required revision is a future revision"
            ),
            Failure::FutureRevision
        );
        assert!(matches!(
            c(Code::Unavailable, "etcdserver: no leader"),
            Failure::NotSent(_)
        ));
        assert!(matches!(
            c(
                Code::Unavailable,
                "error trying to connect: tcp connect error: Connection refused (os error 111)"
            ),
            Failure::NotSent(_)
        ));
        assert!(matches!(
            c(Code::Unavailable, "etcdserver: leader changed"),
            Failure::Ambiguous(_)
        ));
        assert!(matches!(
            c(Code::Unknown, "h2 protocol error: broken pipe"),
            Failure::Ambiguous(_)
        ));
        assert!(matches!(
            c(
                Code::ResourceExhausted,
                "etcdserver: mvcc: database space exceeded"
            ),
            Failure::Refused(_)
        ));
        assert!(matches!(
            c(Code::InvalidArgument, "etcdserver: request is too large"),
            Failure::Internal(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn writes_are_not_resent_after_an_ambiguous_failure() {
        let mut tries = 0;
        let result: Result<(), _> = bounded(
            Deadline::after(Duration::from_secs(5)),
            Retry::OnlyIfNotSent,
            || {
                tries += 1;
                async {
                    Err(etcd_client::Error::GRpcStatus(tonic::Status::unavailable(
                        "etcdserver: leader changed",
                    )))
                }
            },
        )
        .await;
        assert!(matches!(result, Err(Failure::Ambiguous(_))));
        assert_eq!(tries, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn unsent_requests_are_retried_until_the_deadline() {
        let start = Instant::now();
        let mut tries = 0;
        let result: Result<(), _> = bounded(
            Deadline::after(Duration::from_secs(2)),
            Retry::OnlyIfNotSent,
            || {
                tries += 1;
                async {
                    Err(etcd_client::Error::GRpcStatus(tonic::Status::unavailable(
                        "etcdserver: no leader",
                    )))
                }
            },
        )
        .await;
        assert!(matches!(result, Err(Failure::Ambiguous(m)) if m.contains("no leader")));
        assert!(tries > 3, "{tries} tries");
        assert!(start.elapsed() <= Duration::from_secs(2));
    }
}
