//! The storage backend interface (after litestream's `ReplicaClient`): a flat key space of
//! immutable objects with listing, ranged streaming reads, streaming writes and batched deletes.
//!
//! The interface is blocking on purpose: the S3 implementation drives its own tokio runtime
//! internally, so the catalog, retention, shipping and restore code (and their tests) stay plain
//! threads and never see async or the SDK. Every implementation is `Send + Sync` and may be used
//! from several threads at once (parallel downloads).

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::Range;

/// User metadata of an object: small string pairs (S3 `x-amz-meta-*`). Keys are lower case.
pub type Meta = BTreeMap<String, String>;

/// One object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key relative to the store's root.
    pub key: String,
    /// Stored size in bytes.
    pub size: u64,
    /// Last-modified time in unix seconds (the upload time), when the backend reports one.
    pub modified: Option<i64>,
    /// User metadata. Filled by [`Store::head`] and [`Store::get`]; listings may leave it empty
    /// (S3 listings do not return metadata), which is why object names carry what planning needs.
    pub meta: Meta,
}

/// Errors from a [`Store`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("{store}: object {key} not found")]
    NotFound {
        /// The store (e.g. `s3://bucket/prefix`).
        store: String,
        /// The missing key.
        key: String,
    },
    /// Any other failure: network, permissions, server error, local I/O.
    #[error("{store}: {op} {key}: {message}")]
    Other {
        /// The store (e.g. `s3://bucket/prefix`).
        store: String,
        /// The operation (`list`, `get`, `put`, `delete`, `head`).
        op: &'static str,
        /// The key or prefix involved.
        key: String,
        /// What went wrong.
        message: String,
    },
}

impl StoreError {
    /// True for [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// A storage backend. Keys are `/`-separated and relative to the store's root (the URL's
/// prefix); implementations map them to object keys or paths.
pub trait Store: Send + Sync {
    /// Short backend name: `file` or `s3`.
    fn kind(&self) -> &'static str;

    /// The store's URL for messages (`s3://bucket/prefix`, `file:///dir`). Never contains
    /// credentials.
    fn url(&self) -> String;

    /// Every object whose key starts with `prefix`, sorted by key (byte order). A prefix with
    /// no objects (or a missing directory) is an empty list.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError>;

    /// Size, time and metadata of one object.
    fn head(&self, key: &str) -> Result<ObjectInfo, StoreError>;

    /// Streams an object, or the byte `range` of it. The returned [`ObjectInfo`] carries the
    /// object's metadata. Memory use is bounded regardless of the object's size.
    fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<(ObjectInfo, Box<dyn Read + Send>), StoreError>;

    /// Stores `body` under `key` with `meta`, atomically: readers see either no object or the
    /// whole object, never a prefix, and an interrupted put leaves no object. Large bodies are
    /// streamed (multipart on S3) in bounded memory. Returns the number of bytes stored.
    fn put(&self, key: &str, body: &mut dyn Read, meta: &Meta) -> Result<u64, StoreError>;

    /// Deletes objects (missing ones are not an error). Batched (≤ 1000 keys per request on S3).
    fn delete(&self, keys: &[String]) -> Result<(), StoreError>;

    /// The local directory holding the store's objects, for a store on this machine's file
    /// system (so that nothing is ever written inside it but by the store itself).
    fn local_root(&self) -> Option<&std::path::Path> {
        None
    }
}

/// Reads a whole (small) object into memory, refusing objects above `limit` bytes.
pub fn get_small(store: &dyn Store, key: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
    let (info, mut r) = store.get(key, None)?;
    if info.size > limit {
        return Err(StoreError::Other {
            store: store.url(),
            op: "get",
            key: key.to_string(),
            message: format!(
                "object is {} bytes, more than the {limit} expected",
                info.size
            ),
        });
    }
    let mut out = Vec::new();
    r.by_ref()
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| StoreError::Other {
            store: store.url(),
            op: "get",
            key: key.to_string(),
            message: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(StoreError::Other {
            store: store.url(),
            op: "get",
            key: key.to_string(),
            message: format!("object is larger than the {limit} bytes expected"),
        });
    }
    Ok(out)
}
