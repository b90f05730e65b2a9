//! Reads, writes and compaction, each one etcd request (two where noted).
//!
//! Writes are transactions that compare the key's `mod_revision` and only
//! then write, with a read of the key on the failure branch: the answer to
//! "why not" (absent, or changed to what) comes back in the same round trip
//! and at the same revision as the refusal. A refused transaction does not
//! consume a revision in etcd, just as a refused write must not in Corral.

use bytes::Bytes;
use etcd_client::{
    Compare, CompareOp, DeleteOptions, GetOptions, GetResponse, PutOptions, ResponseHeader, Txn,
    TxnOp, TxnOpResponse, TxnResponse, WatchOptions,
};

use etcd_client::proto::{PbRangeResponse, PbResponseHeader, PbTxnRequest, PbTxnResponse};

use super::call::{self, Deadline, Failure, Retry};
use super::{EtcdStore, MAX_RESPONSE, unary};
use crate::{KeyValue, RangeRequest, RangeResponse, Result, Revision, StoreError};

impl EtcdStore {
    /// One transaction. Writes are sent again only if the failed attempt
    /// certainly did not reach etcd (see `call.rs`).
    async fn txn(&self, deadline: Deadline, txn: Txn) -> Result<TxnResponse, Failure> {
        let request = PbTxnRequest::from(txn);
        call::bounded(deadline, Retry::OnlyIfNotSent, || {
            self.channel
                .unary::<_, PbTxnResponse>(unary::TXN, &request, MAX_RESPONSE)
        })
        .await
        .map(|pb| {
            self.saw_term(pb.header.as_ref());
            TxnResponse(pb)
        })
    }

    /// One linearizable range read (retried freely: reads have no effect).
    async fn read(
        &self,
        deadline: Deadline,
        key: Vec<u8>,
        options: GetOptions,
    ) -> Result<GetResponse, Failure> {
        let request = unary::range_request(key, options).map_err(|e| call::classify(&e))?;
        call::bounded(deadline, Retry::Idempotent, || {
            self.channel
                .unary::<_, PbRangeResponse>(unary::RANGE, &request, MAX_RESPONSE)
        })
        .await
        .map(|pb| {
            self.saw_term(pb.header.as_ref());
            GetResponse(pb)
        })
    }

    /// Hands a response's raft term to the leader check (see `leader.rs`).
    fn saw_term(&self, header: Option<&PbResponseHeader>) {
        if let Some(header) = header {
            self.terms.saw(header.raft_term);
        }
    }

    pub(super) async fn get_key(&self, key: &str) -> Result<Option<KeyValue>> {
        self.get_within(self.deadline(), key).await
    }

    async fn get_within(&self, deadline: Deadline, key: &str) -> Result<Option<KeyValue>> {
        let mut resp = self
            .read(deadline, self.codec.key(key), GetOptions::new())
            .await?;
        resp.take_kvs()
            .into_iter()
            .next()
            .map(|kv| self.codec.owned_kv(kv))
            .transpose()
    }

    /// Put if `mod_revision == 0`, i.e. the key does not exist.
    pub(super) async fn create_key(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let k = self.codec.key(key);
        let txn = Txn::new()
            .when([Compare::mod_revision(k.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(k, value.to_vec(), None)]);
        let resp = self.txn(self.deadline(), txn).await?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists {
                key: key.to_string(),
            });
        }
        // A write transaction's header carries the revision it created.
        let revision = header_revision(resp.header())?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: revision,
            mod_revision: revision,
        })
    }

    /// Put (returning the previous value, for its `create_revision`) if
    /// `mod_revision == expected`; otherwise read the key to say why not.
    pub(super) async fn update_key(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> Result<KeyValue> {
        let deadline = self.deadline();
        if expected <= 0 {
            // etcd's `mod_revision == 0` would match an absent key and create it.
            return Err(self.refusal(deadline, key).await);
        }
        let k = self.codec.key(key);
        let txn = Txn::new()
            .when([Compare::mod_revision(k.clone(), CompareOp::Equal, expected)])
            .and_then([TxnOp::put(
                k.clone(),
                value.to_vec(),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(k, None)]);
        let resp = self.txn(deadline, txn).await?;
        if !resp.succeeded() {
            return Err(refused(key, self.failure_branch_kv(&resp)?));
        }
        let revision = header_revision(resp.header())?;
        let prev = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Put(put) => put.prev_key().map(|kv| kv.create_revision()),
            _ => None,
        });
        let create_revision = prev.ok_or_else(|| {
            StoreError::Internal(format!(
                "etcd updated {key:?} at revision {revision} but returned no previous value"
            ))
        })?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision,
            mod_revision: revision,
        })
    }

    /// Delete (returning the deleted value) if `mod_revision == expected`, or
    /// if the key exists at all when no revision is expected.
    pub(super) async fn delete_key(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<KeyValue> {
        let deadline = self.deadline();
        let k = self.codec.key(key);
        let compare = match expected {
            Some(e) if e <= 0 => return Err(self.refusal(deadline, key).await),
            Some(e) => Compare::mod_revision(k.clone(), CompareOp::Equal, e),
            None => Compare::mod_revision(k.clone(), CompareOp::Greater, 0),
        };
        let txn = Txn::new()
            .when([compare])
            .and_then([TxnOp::delete(
                k.clone(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(k, None)]);
        let resp = self.txn(deadline, txn).await?;
        if !resp.succeeded() {
            return Err(refused(key, self.failure_branch_kv(&resp)?));
        }
        let revision = header_revision(resp.header())?;
        let deleted = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Delete(mut del) => del.take_prev_kvs().into_iter().next(),
            _ => None,
        });
        match deleted {
            Some(prev) => Ok(KeyValue {
                mod_revision: revision,
                ..self.codec.owned_kv(prev)?
            }),
            None => Err(StoreError::NotFound {
                key: key.to_string(),
            }),
        }
    }

    /// Why a compare-and-swap on `key` cannot succeed, read separately when
    /// no transaction was needed to find out.
    async fn refusal(&self, deadline: Deadline, key: &str) -> StoreError {
        match self.get_within(deadline, key).await {
            Ok(current) => refused(key, current),
            Err(e) => e,
        }
    }

    /// The key's current value from a refused transaction's `get`.
    fn failure_branch_kv(&self, resp: &TxnResponse) -> Result<Option<KeyValue>> {
        for op in resp.op_responses() {
            if let TxnOpResponse::Get(mut get) = op {
                return get
                    .take_kvs()
                    .into_iter()
                    .next()
                    .map(|kv| self.codec.owned_kv(kv))
                    .transpose();
            }
        }
        Err(StoreError::Internal(
            "etcd refused a transaction without answering its read".to_string(),
        ))
    }

    /// `[prefix, prefix end)` from `start_after + "\0"`, sorted by key (etcd's
    /// default order), with etcd's `more`.
    pub(super) async fn range_keys(&self, request: RangeRequest) -> Result<RangeResponse> {
        let revision = request.revision.filter(|r| *r > 0);
        if let Some(r) = revision {
            let compacted = self.known_compacted();
            if r < compacted {
                return Err(StoreError::Compacted {
                    requested: r,
                    compacted,
                });
            }
        }
        let (mut start, end) = self.codec.prefix_range(&request.prefix);
        if let Some(after) = &request.start_after {
            let mut next = self.codec.key(after);
            next.push(0);
            start = start.max(next);
        }
        let mut options = GetOptions::new().with_range(end);
        if let Some(limit) = request.limit.filter(|l| *l > 0) {
            options = options.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        if let Some(r) = revision {
            options = options.with_revision(r);
        }
        let mut resp = self
            .read_at(self.deadline(), revision, start, options)
            .await?;
        let served = header_revision(resp.header())?;
        let more = resp.more();
        let kvs = resp
            .take_kvs()
            .into_iter()
            .map(|kv| self.codec.owned_kv(kv))
            .collect::<Result<Vec<_>>>()?;
        Ok(RangeResponse {
            kvs,
            // The header holds etcd's current revision, even for a historic read.
            revision: revision.unwrap_or(served),
            more,
        })
    }

    /// A read at `revision` (or the latest), with etcd's revision errors
    /// completed by the revisions the store contract reports.
    async fn read_at(
        &self,
        deadline: Deadline,
        revision: Option<Revision>,
        key: Vec<u8>,
        options: GetOptions,
    ) -> Result<GetResponse> {
        let mut tries = 0;
        loop {
            tries += 1;
            let failure = match self.read(deadline, key.clone(), options.clone()).await {
                Ok(resp) => return Ok(resp),
                Err(failure) => failure,
            };
            let requested = revision.unwrap_or(0);
            return Err(match failure {
                Failure::Compacted => self.compacted_error(deadline, requested).await,
                Failure::FutureRevision => {
                    let current = self.revision_within(deadline).await?;
                    if current >= requested && tries < 3 {
                        // Written meanwhile: the read can now be served.
                        continue;
                    }
                    StoreError::FutureRevision { requested, current }
                }
                other => other.into_store_error(),
            });
        }
    }

    pub(super) async fn count_keys(&self, prefix: &str) -> Result<i64> {
        let (start, end) = self.codec.prefix_range(prefix);
        let options = GetOptions::new().with_range(end).with_count_only();
        Ok(self.read(self.deadline(), start, options).await?.count())
    }

    pub(super) async fn linearizable_revision(&self) -> Result<Revision> {
        self.revision_within(self.deadline()).await
    }

    /// The revision from the header of the cheapest linearizable read there
    /// is: a count of one key that does not exist.
    pub(super) async fn revision_within(&self, deadline: Deadline) -> Result<Revision> {
        let options = GetOptions::new().with_count_only();
        let resp = self.read(deadline, self.codec.probe_key(), options).await?;
        header_revision(resp.header())
    }

    pub(super) async fn compact_to(&self, revision: Revision) -> Result<()> {
        if revision <= self.known_compacted() {
            return Ok(());
        }
        let deadline = self.deadline();
        let current = self.revision_within(deadline).await?;
        if revision > current {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current,
            });
        }
        if revision <= 1 {
            // Nothing is older than revision 1; etcd has no revision 0 to compact at.
            return Ok(());
        }
        let kv = self.kv.clone();
        // Safe to repeat: a second compaction at the same revision is
        // refused as already compacted, which is success here.
        let result = call::bounded(deadline, Retry::Idempotent, || {
            let mut kv = kv.clone();
            async move { kv.compact(revision - 1, None).await }
        })
        .await;
        match result {
            Ok(_) | Err(Failure::Compacted) => {
                self.saw_compaction(revision);
                Ok(())
            }
            Err(Failure::FutureRevision) => Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision_within(deadline).await?,
            }),
            Err(other) => Err(other.into_store_error()),
        }
    }

    /// The store's compacted revision according to etcd (see the module docs).
    pub(super) async fn probe_compacted(&self) -> Result<Revision> {
        let deadline = self.deadline();
        let options = GetOptions::new().with_revision(1).with_count_only();
        match self.read(deadline, self.codec.probe_key(), options).await {
            // Revision 1 is still readable: etcd never compacted (past 1).
            Ok(_) | Err(Failure::FutureRevision) => Ok(self.known_compacted()),
            Err(Failure::Compacted) => {
                let etcd_compacted = self.etcd_compact_revision(deadline).await?;
                Ok(self.saw_compaction(etcd_compacted + 1))
            }
            Err(other) => Err(other.into_store_error()),
        }
    }

    /// `Compacted` for a read at `requested` that etcd refused, with the
    /// compacted revision asked of etcd (or, failing that, what we know).
    async fn compacted_error(&self, deadline: Deadline, requested: Revision) -> StoreError {
        let compacted = match self.etcd_compact_revision(deadline).await {
            Ok(etcd_compacted) => self.saw_compaction(etcd_compacted + 1),
            Err(_) => self.saw_compaction(requested + 1),
        };
        StoreError::Compacted {
            requested,
            compacted,
        }
    }

    /// etcd's compacted revision. Only watches report it: one from revision 1
    /// is cancelled with the compact revision when revision 1 is gone. Call
    /// this only when a read said something is compacted, otherwise the
    /// watch just waits for events (until the request timeout).
    async fn etcd_compact_revision(&self, deadline: Deadline) -> Result<Revision> {
        let mut client = self.watch.clone();
        let options = WatchOptions::new().with_start_revision(1);
        let key = self.codec.probe_key();
        let probe = async move {
            let mut stream = client.watch(key, Some(options)).await?;
            while let Some(resp) = stream.message().await? {
                if resp.compact_revision() > 0 {
                    return Ok(Some(resp.compact_revision()));
                }
                if resp.canceled() {
                    break;
                }
            }
            Ok::<_, etcd_client::Error>(None)
        };
        match tokio::time::timeout_at(deadline.at(), probe).await {
            Ok(Ok(Some(revision))) => Ok(revision),
            Ok(Ok(None)) => Err(StoreError::Unavailable(
                "etcd ended the compaction probe without an answer".to_string(),
            )),
            Ok(Err(e)) => Err(call::classify(&e).into_store_error()),
            Err(_) => Err(deadline.expired()),
        }
    }
}

/// `NotFound` if the key is absent, else `Conflict` with its current value.
fn refused(key: &str, current: Option<KeyValue>) -> StoreError {
    match current {
        None => StoreError::NotFound {
            key: key.to_string(),
        },
        Some(kv) => StoreError::Conflict {
            key: key.to_string(),
            current: Some(Box::new(kv)),
        },
    }
}

pub(super) fn header_revision(header: Option<&ResponseHeader>) -> Result<Revision> {
    header
        .map(ResponseHeader::revision)
        .ok_or_else(|| StoreError::Internal("etcd response without a header".to_string()))
}
