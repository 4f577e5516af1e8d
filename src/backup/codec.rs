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

/// Sets how many threads compress each object (0: compress on the calling thread with one
/// streaming zstd frame). With workers, the object is a sequence of independent zstd frames of
/// [`FRAME_SIZE`] input bytes each, compressed in parallel while the calling thread reads,
/// hashes and uploads; any zstd decoder reads the concatenation as one stream.
pub fn set_zstd_workers(n: u32) {
    ZSTD_WORKERS.store(n, std::sync::atomic::Ordering::Relaxed);
}

/// Input bytes per zstd frame when compressing on worker threads.
pub const FRAME_SIZE: usize = 4 << 20;

/// Compresses `src` with zstd at `level` and stores it under `key` with `meta`, hashing both
/// sides. Memory: zstd's window (or a few frames per worker) plus the store's part buffers.
pub fn put_compressed(
    store: &dyn Store,
    key: &str,
    src: &mut dyn Read,
    level: i32,
    meta: &Meta,
) -> Result<Packed, StoreError> {
    let workers = ZSTD_WORKERS.load(std::sync::atomic::Ordering::Relaxed);
    put_compressed_with(store, key, src, level, meta, workers)
}

/// [`put_compressed`] with an explicit number of compressing threads (see
/// [`set_zstd_workers`]).
pub fn put_compressed_with(
    store: &dyn Store,
    key: &str,
    src: &mut dyn Read,
    level: i32,
    meta: &Meta,
    workers: u32,
) -> Result<Packed, StoreError> {
    if workers > 0 {
        return put_compressed_parallel(store, key, src, level, meta, workers as usize);
    }
    let raw = HashingReader::new(src);
    let mut enc =
        zstd::stream::read::Encoder::with_buffer(BufReader::with_capacity(1 << 20, raw), level)
            .map_err(|e| other(store, "put", key, format!("zstd: {e}")))?;
    enc.include_checksum(true)
        .map_err(|e| other(store, "put", key, format!("zstd: {e}")))?;
    let mut stored = HashingReader::new(enc);
    let n = store.put(key, &mut stored, meta)?;
    let stored_sha256 = stored.sha256();
    let stored_size = stored.count();
    let raw = stored.get_mut().get_mut().get_mut();
    check_stored(store, key, n, stored_size)?;
    Ok(Packed {
        size: raw.count(),
        sha256: raw.sha256(),
        stored_size,
        stored_sha256,
    })
}

fn check_stored(store: &dyn Store, key: &str, n: u64, produced: u64) -> Result<(), StoreError> {
    if n != produced {
        return Err(other(
            store,
            "put",
            key,
            format!("stored {n} bytes but produced {produced}"),
        ));
    }
    Ok(())
}

/// [`put_compressed`] with `workers` compressing threads: the calling thread reads and hashes
/// the input, hands [`FRAME_SIZE`] chunks to the workers and feeds their frames, in order, to
/// the store. At most `workers + 2` chunks are in flight; buffers are recycled.
fn put_compressed_parallel(
    store: &dyn Store,
    key: &str,
    src: &mut dyn Read,
    level: i32,
    meta: &Meta,
    workers: usize,
) -> Result<Packed, StoreError> {
    use std::sync::{mpsc, Arc, Mutex};
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let job_rx = job_rx.clone();
            scope.spawn(move || compress_worker(&job_rx, level));
        }
        let mut frames = FrameReader {
            src: HashingReader::new(src),
            jobs: Some(job_tx),
            pending: Default::default(),
            free: Vec::new(),
            cur: Vec::new(),
            pos: 0,
            eof: false,
            in_flight: workers + 2,
        };
        let mut stored = HashingReader::new(&mut frames);
        let put = store.put(key, &mut stored, meta);
        let (stored_sha256, stored_size) = (stored.sha256(), stored.count());
        // Close the job channel so the workers exit (also after an error).
        frames.jobs = None;
        frames.pending.clear();
        let n = put?;
        check_stored(store, key, n, stored_size)?;
        Ok(Packed {
            size: frames.src.count(),
            sha256: frames.src.sha256(),
            stored_size,
            stored_sha256,
        })
    })
}

/// One chunk to compress: its bytes, a buffer for the frame, and where to send both back.
struct Job {
    raw: Vec<u8>,
    out: Vec<u8>,
    reply: std::sync::mpsc::SyncSender<Compressed>,
}

/// A worker's answer: the chunk's buffer back (for reuse) and its frame.
type Compressed = io::Result<(Vec<u8>, Vec<u8>)>;

fn compress_worker(jobs: &std::sync::Mutex<std::sync::mpsc::Receiver<Job>>, level: i32) {
    let mut cctx = match zstd::bulk::Compressor::new(level) {
        Ok(mut c) => c.include_checksum(true).map(|_| c),
        Err(e) => Err(e),
    };
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(Job {
            raw,
            mut out,
            reply,
        }) = job
        else {
            return;
        };
        let result = match &mut cctx {
            Ok(c) => {
                out.clear();
                out.reserve(zstd::zstd_safe::compress_bound(raw.len()));
                c.compress_to_buffer(&raw[..], &mut out).map(|_| (raw, out))
            }
            Err(e) => Err(io::Error::new(e.kind(), format!("zstd: {e}"))),
        };
        // The reader may have gone (error or shutdown): nothing to do then.
        let _ = reply.send(result);
    }
}

/// The compressed object as a reader: chunks of the source go out to the workers, frames come
/// back in order.
struct FrameReader<'a> {
    src: HashingReader<&'a mut dyn Read>,
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    pending: std::collections::VecDeque<std::sync::mpsc::Receiver<Compressed>>,
    free: Vec<(Vec<u8>, Vec<u8>)>,
    cur: Vec<u8>,
    pos: usize,
    eof: bool,
    in_flight: usize,
}

impl FrameReader<'_> {
    /// Reads chunks of the source and queues them until `in_flight` are pending or the source
    /// ends.
    fn fill(&mut self) -> io::Result<()> {
        while !self.eof && self.pending.len() < self.in_flight {
            let (mut raw, out) = self.free.pop().unwrap_or_default();
            raw.clear();
            raw.reserve(FRAME_SIZE);
            (&mut self.src)
                .take(FRAME_SIZE as u64)
                .read_to_end(&mut raw)?;
            if raw.len() < FRAME_SIZE {
                self.eof = true;
                if raw.is_empty() && !self.pending.is_empty() {
                    break;
                }
            }
            let (reply, rx) = std::sync::mpsc::sync_channel(1);
            let jobs = self
                .jobs
                .as_ref()
                .ok_or_else(|| io::Error::other("compression already shut down"))?;
            jobs.send(Job { raw, out, reply })
                .map_err(|_| io::Error::other("zstd workers stopped"))?;
            self.pending.push_back(rx);
        }
        Ok(())
    }
}

impl Read for FrameReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            self.fill()?;
            let Some(rx) = self.pending.pop_front() else {
                return Ok(0);
            };
            let (raw, out) = rx
                .recv()
                .map_err(|_| io::Error::other("a zstd worker stopped"))??;
            let spent = std::mem::replace(&mut self.cur, out);
            self.free.push((raw, spent));
            self.pos = 0;
            // Keep the workers busy while this frame is being consumed.
            self.fill()?;
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
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
///
/// Two threads share the work: one reads the object, decompresses it and hashes both sides;
/// the calling thread writes the content. At most a few MiB are in flight.
pub fn fetch_verified(
    store: &dyn Store,
    key: &str,
    expect: &Expect,
    out: &mut dyn Write,
    out_name: &str,
) -> Result<u64, FetchError> {
    const CHUNK: usize = 1 << 20;
    let damaged = |what: String| FetchError::Damaged {
        store: store.url(),
        key: key.to_string(),
        what,
    };
    let (_info, body) = store.get(key, None)?;
    let (chunks_tx, chunks_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(3);
    let (spent_tx, spent_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let decoder = scope.spawn(move || -> Result<Decoded, FetchError> {
            let mut stored = HashingReader::new(body);
            let mut raw_hash = Sha256::new();
            let mut raw_size = 0u64;
            {
                let mut dec = zstd::stream::read::Decoder::new(&mut stored)
                    .map_err(|e| damaged(format!("zstd: {e}")))?;
                loop {
                    let mut buf = spent_rx.try_recv().unwrap_or_default();
                    buf.clear();
                    buf.reserve(CHUNK);
                    let n = (&mut dec)
                        .take(CHUNK as u64)
                        .read_to_end(&mut buf)
                        .map_err(|e| decode_error(store, key, e))?;
                    if n == 0 {
                        break;
                    }
                    raw_size += n as u64;
                    if let Some(s) = expect.size {
                        if raw_size > s {
                            return Err(damaged(format!(
                                "decompresses to more than the recorded {s} bytes"
                            )));
                        }
                    }
                    raw_hash.update(&buf);
                    if chunks_tx.send(buf).is_err() {
                        // The writer stopped (its error is reported).
                        return Ok(Decoded::default());
                    }
                }
            }
            // Drain anything after the last zstd frame so the stored hash covers the object.
            io::copy(&mut stored, &mut io::sink())
                .map_err(|e| FetchError::Store(other(store, "get", key, e.to_string())))?;
            Ok(Decoded {
                raw_size,
                raw_sha: hex(&raw_hash.finalize()),
                stored_size: stored.count(),
                stored_sha: stored.sha256(),
            })
        });
        let mut written = Ok(());
        for buf in chunks_rx.iter() {
            if let Err(source) = out.write_all(&buf) {
                written = Err(FetchError::Output {
                    path: out_name.to_string(),
                    source,
                });
                break;
            }
            let _ = spent_tx.send(buf);
        }
        drop(chunks_rx);
        let decoded = decoder
            .join()
            .unwrap_or_else(|_| Err(damaged("the decompressing thread panicked".into())));
        written?;
        let Decoded {
            raw_size,
            raw_sha,
            stored_size,
            stored_sha,
        } = decoded?;
        if let Some(s) = expect.stored_size {
            if stored_size != s {
                return Err(damaged(format!(
                    "stored size {stored_size} differs from the recorded {s}"
                )));
            }
        }
        if let Some(h) = &expect.stored_sha256 {
            if &stored_sha != h {
                return Err(damaged(format!(
                    "SHA-256 of the stored object is {stored_sha}, recorded {h}"
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
    })
}

/// Sizes and hashes measured by [`fetch_verified`]'s decompressing thread.
#[derive(Default)]
struct Decoded {
    raw_size: u64,
    raw_sha: String,
    stored_size: u64,
    stored_sha: String,
}

/// A read error while decompressing: zstd rejecting the bytes (the object is damaged) or the
/// transport failing.
fn decode_error(store: &dyn Store, key: &str, e: io::Error) -> FetchError {
    let msg = e.to_string();
    if e.kind() == io::ErrorKind::Other
        || msg.contains("zstd")
        || e.kind() == io::ErrorKind::InvalidData
    {
        FetchError::Damaged {
            store: store.url(),
            key: key.to_string(),
            what: format!("cannot decompress: {msg}"),
        }
    } else {
        FetchError::Store(other(store, "get", key, msg))
    }
}

fn other(store: &dyn Store, op: &'static str, key: &str, message: String) -> StoreError {
    StoreError::Other {
        store: store.url(),
        op,
        key: key.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::local::LocalDir;

    /// Compressible bytes: words from a small vocabulary picked by a xorshift generator.
    fn sample(n: usize) -> Vec<u8> {
        let words: [&[u8]; 6] = [b"SET ", b"key:", b"\r\n$3\r\n", b"value", b"*3", b"12345"];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut v = Vec::with_capacity(n + 16);
        while v.len() < n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.extend_from_slice(words[(x % 6) as usize]);
            v.push(b'a' + (x >> 40) as u8 % 26);
        }
        v.truncate(n);
        v
    }

    #[test]
    fn parallel_and_serial_objects_decode_and_hash_to_the_input() {
        let dir = std::env::temp_dir().join(format!("redsafe-codec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = LocalDir::new(&dir);
        for workers in [0u32, 1, 2, 3] {
            for n in [0, 1, 1000, FRAME_SIZE, 2 * FRAME_SIZE + 12_345] {
                let input = sample(n);
                let key = format!("obj-{workers}-{n}");
                let packed = put_compressed_with(
                    &store,
                    &key,
                    &mut &input[..],
                    3,
                    &Meta::default(),
                    workers,
                )
                .unwrap();
                assert_eq!(packed.size, n as u64);
                assert_eq!(packed.sha256, hex(&Sha256::digest(&input)));
                let stored = std::fs::read(dir.join(&key)).unwrap();
                assert_eq!(packed.stored_size, stored.len() as u64);
                assert_eq!(packed.stored_sha256, hex(&Sha256::digest(&stored)));
                if n > 1000 {
                    assert!(stored.len() < n / 2, "{key}: not compressed");
                }
                // Any zstd decoder reads the frames as one stream.
                assert!(
                    zstd::stream::decode_all(&stored[..]).unwrap() == input,
                    "{key}"
                );
                let expect = Expect {
                    size: Some(packed.size),
                    sha256: Some(packed.sha256.clone()),
                    stored_size: Some(packed.stored_size),
                    stored_sha256: Some(packed.stored_sha256.clone()),
                };
                let mut out = Vec::new();
                let got = fetch_verified(&store, &key, &expect, &mut out, "test").unwrap();
                assert_eq!(got, n as u64);
                assert!(out == input, "{key}: fetched content differs");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
