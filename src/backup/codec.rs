//! The object codec: zstd compression with SHA-256 of both the raw content and the stored
//! (compressed) bytes, streaming in bounded memory in both directions.

use std::io::{self, BufReader, Read, Write};

use sha2::{Digest, Sha256};

use super::store::{Meta, Store, StoreError};

/// Lower-case hex of bytes.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for c in b {
        s.push(char::from(b"0123456789abcdef"[(c >> 4) as usize]));
        s.push(char::from(b"0123456789abcdef"[(c & 15) as usize]));
    }
    s
}

/// A reader that hashes and counts what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The SHA-256 (hex) of everything read so far.
    pub fn sha256(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }

    /// The inner reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// SHA-256 (hex) and size of everything `r` yields.
pub fn sha256_of(r: &mut dyn Read) -> io::Result<(String, u64)> {
    let mut h = HashingReader::new(r);
    io::copy(&mut h, &mut io::sink())?;
    Ok((h.sha256(), h.count()))
}

/// Sizes and hashes of one stored object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Packed {
    /// Size of the original content.
    pub size: u64,
    /// SHA-256 of the original content (hex).
    pub sha256: String,
    /// Size of the stored (compressed) object.
    pub stored_size: u64,
    /// SHA-256 of the stored object (hex).
    pub stored_sha256: String,
}

static ZSTD_WORKERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Sets how many zstd worker threads compress each object (0: compress on the calling thread).
/// Workers overlap compression with reading and hashing; memory grows by a few MiB per worker.
pub fn set_zstd_workers(n: u32) {
    ZSTD_WORKERS.store(n, std::sync::atomic::Ordering::Relaxed);
}

/// Compresses `src` with zstd at `level` and stores it under `key` with `meta`, hashing both
/// sides. Memory: zstd's window plus the store's part buffers.
pub fn put_compressed(
    store: &dyn Store,
    key: &str,
    src: &mut dyn Read,
    level: i32,
    meta: &Meta,
) -> Result<Packed, StoreError> {
    let raw = HashingReader::new(src);
    let mut enc =
        zstd::stream::read::Encoder::with_buffer(BufReader::with_capacity(1 << 20, raw), level)
            .map_err(|e| other(store, "put", key, format!("zstd: {e}")))?;
    enc.include_checksum(true)
        .map_err(|e| other(store, "put", key, format!("zstd: {e}")))?;
    let workers = ZSTD_WORKERS.load(std::sync::atomic::Ordering::Relaxed);
    if workers > 0 {
        enc.multithread(workers)
            .map_err(|e| other(store, "put", key, format!("zstd workers: {e}")))?;
    }
    let mut stored = HashingReader::new(enc);
    let n = store.put(key, &mut stored, meta)?;
    let stored_sha256 = stored.sha256();
    let stored_size = stored.count();
    let raw = stored.get_mut().get_mut().get_mut();
    if n != stored_size {
        return Err(other(
            store,
            "put",
            key,
            format!("stored {n} bytes but produced {stored_size}"),
        ));
    }
    Ok(Packed {
        size: raw.count(),
        sha256: raw.sha256(),
        stored_size,
        stored_sha256,
    })
}

/// What a download must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// Original size.
    pub size: Option<u64>,
    /// Original SHA-256 (hex).
    pub sha256: Option<String>,
    /// Stored size.
    pub stored_size: Option<u64>,
    /// Stored SHA-256 (hex).
    pub stored_sha256: Option<String>,
}

/// A download that does not match what the catalog recorded: the object is damaged.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The store failed (not found, network, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object's bytes are not what was recorded.
    #[error("{store}: object {key} is damaged: {what}")]
    Damaged {
        /// The store.
        store: String,
        /// The damaged object.
        key: String,
        /// What did not match.
        what: String,
    },
    /// Writing the output failed (e.g. the disk is full).
    #[error("writing {path}: {source}")]
    Output {
        /// What was being written.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
}

/// Downloads `key`, decompresses it into `out` and checks sizes and hashes against `expect`.
/// `out_name` names the output in errors. Returns the decompressed size.
pub fn fetch_verified(
    store: &dyn Store,
    key: &str,
    expect: &Expect,
    out: &mut dyn Write,
    out_name: &str,
) -> Result<u64, FetchError> {
    let damaged = |what: String| FetchError::Damaged {
        store: store.url(),
        key: key.to_string(),
        what,
    };
    let (_info, body) = store.get(key, None)?;
    let mut stored = HashingReader::new(body);
    let mut raw = {
        let dec = zstd::stream::read::Decoder::new(&mut stored)
            .map_err(|e| damaged(format!("zstd: {e}")))?;
        HashingReader::new(dec)
    };
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match raw.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // A read error is either the transport or zstd rejecting the bytes.
                let msg = e.to_string();
                return Err(
                    if e.kind() == io::ErrorKind::Other
                        || msg.contains("zstd")
                        || e.kind() == io::ErrorKind::InvalidData
                    {
                        damaged(format!("cannot decompress: {msg}"))
                    } else {
                        FetchError::Store(other(store, "get", key, msg))
                    },
                );
            }
        };
        if let Some(s) = expect.size {
            if raw.count() > s {
                return Err(damaged(format!(
                    "decompresses to more than the recorded {s} bytes"
                )));
            }
        }
        out.write_all(&buf[..n])
            .map_err(|source| FetchError::Output {
                path: out_name.to_string(),
                source,
            })?;
    }
    let raw_size = raw.count();
    let raw_sha = raw.sha256();
    // Drain anything after the zstd frame so the stored hash covers the whole object.
    drop(raw);
    io::copy(&mut stored, &mut io::sink())
        .map_err(|e| FetchError::Store(other(store, "get", key, e.to_string())))?;
    if let Some(s) = expect.stored_size {
        if stored.count() != s {
            return Err(damaged(format!(
                "stored size {} differs from the recorded {s}",
                stored.count()
            )));
        }
    }
    if let Some(h) = &expect.stored_sha256 {
        let got = stored.sha256();
        if &got != h {
            return Err(damaged(format!(
                "SHA-256 of the stored object is {got}, recorded {h}"
            )));
        }
    }
    if let Some(s) = expect.size {
        if raw_size != s {
            return Err(damaged(format!(
                "decompressed size {raw_size} differs from the recorded {s}"
            )));
        }
    }
    if let Some(h) = &expect.sha256 {
        if &raw_sha != h {
            return Err(damaged(format!(
                "SHA-256 of the content is {raw_sha}, recorded {h}"
            )));
        }
    }
    Ok(raw_size)
}

fn other(store: &dyn Store, op: &'static str, key: &str, message: String) -> StoreError {
    StoreError::Other {
        store: store.url(),
        op,
        key: key.to_string(),
        message,
    }
}
