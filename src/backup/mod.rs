//! Backups of Redis persistence files to object storage: full backup sets, incremental AOF
//! segments, a catalog, retention, verification and point-in-time restore.
//!
//! Layers (each only sees the one below through a narrow interface):
//! - [`store`]: the [`Store`](store::Store) trait; [`local::LocalDir`] is the reference
//!   implementation, `s3::S3Store` (feature `s3`) the production one.
//! - [`layout`]: object names; [`catalog`]: a parsed listing plus set manifests.
//! - [`retention`] and [`plan`]: pure functions over the catalog (no I/O).
//! - [`ship`]: consistent snapshots of a Redis data directory and their upload;
//!   [`restore`]: execution of a restore plan into a new directory.

pub mod catalog;
pub mod codec;
pub mod cron;
pub mod layout;
pub mod local;
pub mod plan;
pub mod restore;
pub mod retention;
#[cfg(feature = "s3")]
pub mod s3;
pub mod ship;
pub mod store;

pub use store::{Meta, ObjectInfo, Store, StoreError};

/// Settings for S3 stores (ignored by local stores).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// Custom endpoint (`http://127.0.0.1:9000`) for S3-compatible servers.
    pub endpoint_url: Option<String>,
    /// Region (otherwise from the environment or profile; `us-east-1` with an endpoint).
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most S3 clones.
    pub path_style: bool,
    /// Send and validate checksums only when the operation requires them (for S3 clones that
    /// reject the SDK's default CRC32 / aws-chunked uploads).
    pub checksum_when_required: bool,
    /// Server-side encryption: `AES256` or `aws:kms`.
    pub sse: Option<String>,
    /// KMS key id for `aws:kms`.
    pub sse_kms_key_id: Option<String>,
    /// Static credentials (access key, secret key); otherwise the standard AWS chain
    /// (environment, profiles, …).
    pub credentials: Option<(String, String)>,
    /// Multipart part size in bytes (≥ 5 MiB; default 8 MiB).
    pub part_size: Option<usize>,
    /// Parts uploaded concurrently per object (default 4).
    pub concurrency: Option<usize>,
}

/// Opens the store a URL names: `s3://BUCKET/PREFIX`, `file:///DIR` or a plain directory path.
pub fn open_store(url: &str, s3: &S3Options) -> Result<Box<dyn Store>, StoreError> {
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::Other {
                store: url.to_string(),
                op: "open",
                key: String::new(),
                message: "missing bucket name".into(),
            });
        }
        #[cfg(feature = "s3")]
        {
            return Ok(Box::new(s3::S3Store::new(
                bucket,
                prefix.trim_end_matches('/'),
                s3,
            )?));
        }
        #[cfg(not(feature = "s3"))]
        {
            let _ = (prefix, s3);
            return Err(StoreError::Other {
                store: url.to_string(),
                op: "open",
                key: String::new(),
                message: "this build has no S3 support (cargo feature `s3`)".into(),
            });
        }
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    if path.is_empty() {
        return Err(StoreError::Other {
            store: url.to_string(),
            op: "open",
            key: String::new(),
            message: "empty path".into(),
        });
    }
    Ok(Box::new(local::LocalDir::new(path)))
}

/// True when `s` names a backup store rather than a local Redis directory (`s3://`, `file://`).
pub fn is_store_url(s: &str) -> bool {
    s.starts_with("s3://") || s.starts_with("file://")
}
