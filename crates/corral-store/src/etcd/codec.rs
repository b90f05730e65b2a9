//! Between Corral's keys and etcd's: the key prefix, prefix ranges and
//! key-value conversion.
//!
//! Every Corral key `k` is stored in etcd as `key_prefix + k`, so several
//! Corral installations (or test cases) can share one etcd cluster without
//! seeing each other, and the prefix is stripped from every key handed back.

use bytes::Bytes;

use crate::{KeyValue, StoreError};

/// The key prefix, and the conversions that depend on it.
#[derive(Clone, Debug)]
pub(super) struct Codec {
    prefix: String,
}

impl Codec {
    pub(super) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    /// The etcd key of a Corral key.
    pub(super) fn key(&self, key: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.prefix.len() + key.len());
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(key.as_bytes());
        out
    }

    /// The etcd range `[start, end)` of every Corral key starting with `prefix`.
    pub(super) fn prefix_range(&self, prefix: &str) -> (Vec<u8>, Vec<u8>) {
        let start = self.key(prefix);
        let end = prefix_end(&start);
        // etcd has no empty key: the range of "everything" starts at "\0".
        let start = if start.is_empty() { vec![0] } else { start };
        (start, end)
    }

    /// A key that exists only to be read cheaply (for the current revision
    /// and compaction probes). It is never written; what matters is the
    /// response header, not the (absent) value.
    pub(super) fn probe_key(&self) -> Vec<u8> {
        let mut key = self.key("");
        key.extend_from_slice(b"\0corral-probe");
        key
    }

    /// The Corral key of an etcd key, or `Internal` if it is outside the prefix
    /// (which would mean etcd answered a different question than we asked).
    pub(super) fn corral_key(&self, key: &[u8]) -> Result<String, StoreError> {
        let stripped = key.strip_prefix(self.prefix.as_bytes()).ok_or_else(|| {
            StoreError::Internal(format!(
                "etcd returned key {:?} outside the prefix {:?}",
                String::from_utf8_lossy(key),
                self.prefix
            ))
        })?;
        String::from_utf8(stripped.to_vec()).map_err(|_| {
            StoreError::Internal(format!(
                "etcd key {:?} is not UTF-8",
                String::from_utf8_lossy(key)
            ))
        })
    }

    /// Converts a borrowed etcd key-value (copies the value).
    pub(super) fn kv(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue, StoreError> {
        Ok(KeyValue {
            key: self.corral_key(kv.key())?,
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        })
    }

    /// Converts an owned etcd key-value without copying the value.
    pub(super) fn owned_kv(&self, kv: etcd_client::KeyValue) -> Result<KeyValue, StoreError> {
        let (create_revision, mod_revision) = (kv.create_revision(), kv.mod_revision());
        let (key, value) = kv.into_key_value();
        Ok(KeyValue {
            key: self.corral_key(&key)?,
            value: Bytes::from(value),
            create_revision,
            mod_revision,
        })
    }
}

/// The smallest key greater than every key starting with `prefix`, as etcd's
/// clients compute it: drop trailing 0xff bytes, then increment the last
/// byte. `"\0"` (etcd's "to the end of the key space") if there is none.
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn keys_carry_and_lose_the_prefix() {
        let codec = Codec::new("/corral".to_string());
        assert_eq!(codec.key("/pods/a"), b"/corral/pods/a".to_vec());
        assert_eq!(
            codec.corral_key(b"/corral/pods/a"),
            Ok("/pods/a".to_string())
        );
        assert!(matches!(
            codec.corral_key(b"/other/pods/a"),
            Err(StoreError::Internal(_))
        ));
        assert_eq!(
            codec.prefix_range("/pods/"),
            (b"/corral/pods/".to_vec(), b"/corral/pods0".to_vec())
        );
        let bare = Codec::new(String::new());
        assert_eq!(bare.prefix_range(""), (vec![0], vec![0]));
    }
}
