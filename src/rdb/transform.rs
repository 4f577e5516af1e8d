//! Rewriting an RDB: keep a subset of keys (filter), move databases, and/or write another
//! dialect and version (convert). The engine behind `redsafe filter` and `redsafe convert`.
//!
//! Values whose encoding the target holds are copied byte for byte, keys keep their original
//! encoding when the format does not change, and everything else goes through
//! [`RdbWriter`]. Per-database and per-slot hints (RESIZEDB, SLOT_INFO) are exact for the
//! keys kept: written as placeholders and filled in at the end, so the input is read once.

use std::collections::{BTreeMap, HashMap};
use std::io::{Seek, SeekFrom, Write};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::filter::KeyFilter;
use crate::rdb::format::Dialect;
use crate::rdb::model::ValueType;
use crate::rdb::reader::{Header, RdbReader, Record};
use crate::rdb::writer::{
    is_empty_collection, Deferred, EntryMeta, EntryOutcome, RdbWriter, WriterOptions,
};

/// What to do.
#[derive(Debug, Clone, Default)]
pub struct TransformOptions {
    /// Target dialect and version (`None`: the input's).
    pub target: Option<(Dialect, u32)>,
    /// Which keys to keep (applied with the input's database numbers).
    pub filter: KeyFilter,
    /// Database renumbering `(from, to)`, applied after filtering.
    pub move_db: Vec<(u64, u64)>,
    /// Writer options (`lossy` decides whether unrepresentable data fails the run).
    pub writer: WriterOptions,
    /// Verify the input's CRC-64 before trusting it (default in the CLI: on).
    pub verify_checksum: bool,
    /// Validate every value written, down to its inner encodings, as `check` does (default in
    /// the CLI: on): values are mostly copied byte for byte, and a damaged one would be
    /// copied into the output. A value that fails stops the run with its offset and key.
    pub validate: bool,
}

/// One key's fate, reported to the caller's callback.
#[derive(Debug, Clone, Serialize)]
pub struct KeyEvent {
    /// Input database.
    pub db: u64,
    /// Output database (after `--move-db`).
    pub out_db: u64,
    /// The key.
    #[serde(skip)]
    pub key: Vec<u8>,
    /// Logical type.
    pub ty: ValueType,
    /// `keep`, `drop` (filtered out), `empty` (empty collection, not written),
    /// `lossy` (written without data the target cannot hold), `unrepresentable` (not written).
    pub action: &'static str,
    /// What was lost, for `lossy` / `unrepresentable`.
    pub note: Option<String>,
}

/// Something the target could not hold.
#[derive(Debug, Clone, Serialize)]
pub struct Loss {
    /// Database of the key, if a key.
    pub db: Option<u64>,
    /// The key (empty for file-level records such as functions).
    #[serde(skip)]
    pub key: Vec<u8>,
    /// What was lost.
    pub what: String,
    /// True when the key is still in the output (only part of it was lost).
    pub key_written: bool,
}

/// Per-database counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DbCounts {
    /// Keys written.
    pub kept: u64,
    /// Keys filtered out.
    pub dropped: u64,
}

/// What a transform did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TransformReport {
    /// Input format.
    pub input: Option<Header>,
    /// Output format.
    pub output: Option<Header>,
    /// Keys read.
    pub keys_in: u64,
    /// Keys written.
    pub keys_written: u64,
    /// Keys removed by the filter.
    pub keys_filtered_out: u64,
    /// Keys whose value bytes were copied unchanged.
    pub values_copied: u64,
    /// Keys whose value was re-encoded for the target.
    pub values_reencoded: u64,
    /// Empty collections not written (Redis skips them on load).
    pub empty_skipped: u64,
    /// Per input database.
    pub dbs: BTreeMap<u64, DbCounts>,
    /// Data the target cannot hold (dropped only with `lossy`; otherwise the run fails).
    pub losses: Vec<Loss>,
    /// File-level notes (records the target has no place for and that carry no data, such as
    /// AUX fields below RDB 7).
    pub notes: Vec<String>,
    /// Input size.
    pub bytes_in: u64,
    /// Output size.
    pub bytes_out: u64,
}

fn usage(msg: String) -> Error {
    Error::new(ErrorKind::Usage(msg))
}

#[derive(Default, Clone, Copy)]
struct Counts {
    keys: u64,
    expires: u64,
}

/// An output section (a SELECTDB or SLOT_INFO whose counts are filled in when it ends).
struct Open {
    deferred: Option<Deferred>,
    counts: Counts,
}

/// A writer sink that discards everything (for dry runs), seekable for
/// [`RdbWriter::finish_seek`].
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl Write for NullSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for NullSink {
    fn seek(&mut self, _p: SeekFrom) -> std::io::Result<u64> {
        Ok(0)
    }
}

fn close<W: Write>(w: &mut RdbWriter<W>, open: &mut Option<Open>) -> Result<()> {
    if let Some(o) = open.take() {
        if let Some(d) = o.deferred {
            w.set_deferred(d, &[o.counts.keys, o.counts.expires])?;
        }
    }
    Ok(())
}

/// Rewrites the RDB in `data` into `out` in one pass (use [`NullSink`] for a dry run).
/// Calls `on_key` (if any) for every key and `progress(bytes_done)` every few megabytes. On
/// error nothing useful is in `out`: write to a temporary file and commit only on success.
///
/// RESIZEDB and SLOT_INFO counts of the keys kept are exact; when keys are filtered out they
/// are written in the 5-byte length form and filled in at the end (seeking back), the only
/// bytes that then differ from Redis's smallest-form encoding.
pub fn transform_seekable<W: Write + Seek>(
    data: &[u8],
    out: W,
    opts: &TransformOptions,
    on_key: Option<&mut dyn FnMut(&KeyEvent)>,
    progress: &mut dyn FnMut(u64),
) -> Result<(TransformReport, W)> {
    transform_core(
        data,
        out,
        opts,
        None,
        on_key,
        progress,
        |_| {},
        copy_buffered,
        |eof| crate::rdb::crc::crc64(&data[..=eof]),
        |w| w.finish_seek(),
    )
}

/// [`transform_seekable`] for an output that cannot seek (a pipe, an AOF being assembled):
/// reads the input twice, first to count the keys kept per database and slot so that
/// RESIZEDB and SLOT_INFO are written with their final values (smallest length forms).
pub fn transform<W: Write>(
    data: &[u8],
    out: W,
    opts: &TransformOptions,
    on_key: &mut dyn FnMut(&KeyEvent),
    progress: &mut dyn FnMut(u64),
) -> Result<(TransformReport, W)> {
    let counts = count_kept(data, &opts.filter)?;
    transform_core(
        data,
        out,
        opts,
        Some(counts),
        Some(on_key),
        progress,
        |_| {},
        copy_buffered,
        |eof| crate::rdb::crc::crc64(&data[..=eof]),
        |w| w.finish(),
    )
}

/// [`transform_seekable`] with the output written by a second thread, for files: the
/// parsing thread hands over runs of kept input bytes by reference (no copy), the writer
/// thread passes them to `out` with vectored writes (`writev`), and every `WRITEBACK_EVERY`
/// bytes calls `writeback(&mut out, offset, len)` on the range just written (the CLI starts
/// the kernel's writeback there, so the final fsync has little left to do). The input's
/// checksum is verified on a third thread meanwhile. Same output, byte for byte, as
/// [`transform_seekable`].
pub fn transform_pipelined<W: Write + Seek + Send>(
    data: &[u8],
    out: W,
    opts: &TransformOptions,
    progress: &mut dyn FnMut(u64),
    writeback: impl FnMut(&mut W, u64, u64) + Send,
) -> Result<(TransformReport, W)> {
    std::thread::scope(|s| {
        // The EOF opcode of a file without trailing bytes is 9 bytes before its end: check
        // that prefix on another core; anything else is hashed at the end.
        let input_crc = crate::rdb::crc::EofCrc::start(s, data, opts.verify_checksum);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Seg<'_>>>(8);
        let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(POOL_BUFFERS);
        let writer = s.spawn(move || write_segments(out, rx, back_tx, writeback));
        let spool = Spool {
            tx: Some(tx),
            back: back_rx,
            batch: Vec::new(),
            batch_bytes: 0,
        };
        let res = transform_core(
            data,
            spool,
            opts,
            None,
            None,
            progress,
            |w| w.set_crc_by_sink(Spool::crc),
            |w, run| w.put_with(run, |sp, run| sp.push(Seg::Input(run))),
            |eof| input_crc.finish(eof),
            |w| w.finish_seek(),
        );
        let io = |e: std::io::Error| Error::new(ErrorKind::Io(e.to_string()));
        let joined = |writer: std::thread::ScopedJoinHandle<'_, std::io::Result<W>>| {
            writer
                .join()
                .map_err(|_| Error::new(ErrorKind::Io("the writer thread panicked".into())))?
                .map_err(io)
        };
        match res {
            Ok((rep, mut spool)) => {
                let sent = spool.send_batch();
                drop(spool); // ends the writer thread's input
                let out = joined(writer)?;
                sent.map_err(io)?;
                Ok((rep, out))
            }
            // The spool was dropped with the writer, which ends the writer thread. When that
            // thread failed (a full disk…), its error is the cause: report it.
            Err(e) => match joined(writer) {
                Err(w) if matches!(e.kind(), ErrorKind::Io(_)) => Err(w),
                _ => Err(e),
            },
        }
    })
}

/// How often [`transform_pipelined`] calls its writeback hook (bytes): the same period as
/// [`crate::fsutil::EarlyWriteback`]'s.
pub const WRITEBACK_EVERY: u64 = crate::fsutil::EARLY_WRITEBACK_EVERY;

/// A piece of output for the writer thread.
enum Seg<'d> {
    /// Bytes produced by the writer (its buffer, flushed).
    Owned(Vec<u8>),
    /// Bytes of the input, copied verbatim.
    Input(&'d [u8]),
    /// Reposition (deferred fields patched at the end).
    Seek(u64),
    /// Reply with the CRC-64 of every byte written before this segment.
    Crc(std::sync::mpsc::Sender<u64>),
}

/// The sink of the parsing thread in [`transform_pipelined`]: batches segments for the
/// writer thread.
struct Spool<'d> {
    tx: Option<std::sync::mpsc::SyncSender<Vec<Seg<'d>>>>,
    /// Owned buffers the writer thread has finished with, for reuse.
    back: std::sync::mpsc::Receiver<Vec<u8>>,
    batch: Vec<Seg<'d>>,
    batch_bytes: usize,
}

const BATCH_SEGS: usize = 1024;
const BATCH_BYTES: usize = 4 << 20;
/// The most one [`Spool`] write copies (and the largest buffer kept for reuse).
const SPOOL_WRITE_MAX: usize = 1 << 20;
/// Owned buffers kept for reuse.
const POOL_BUFFERS: usize = 64;

impl<'d> Spool<'d> {
    fn push(&mut self, seg: Seg<'d>) -> std::io::Result<()> {
        self.batch_bytes += match &seg {
            Seg::Owned(b) => b.len(),
            Seg::Input(b) => b.len(),
            Seg::Seek(_) | Seg::Crc(_) => 0,
        };
        self.batch.push(seg);
        if self.batch.len() >= BATCH_SEGS || self.batch_bytes >= BATCH_BYTES {
            self.send_batch()?;
        }
        Ok(())
    }

    fn send_batch(&mut self) -> std::io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_SEGS));
        self.batch_bytes = 0;
        match &self.tx {
            Some(tx) if tx.send(batch).is_ok() => Ok(()),
            // The writer thread stopped on an error; joining it reports the error.
            _ => Err(std::io::Error::other("the output writer thread stopped")),
        }
    }
}

impl Spool<'_> {
    /// The CRC-64/REDIS of everything written so far, computed by the writer thread.
    fn crc(&mut self) -> std::io::Result<u64> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.push(Seg::Crc(tx))?;
        self.send_batch()?;
        rx.recv()
            .map_err(|_| std::io::Error::other("the output writer thread stopped"))
    }
}

impl Write for Spool<'_> {
    /// Copies at most [`SPOOL_WRITE_MAX`] per call (`write_all` loops), so a long value
    /// written in one call (a 200 MB string) is handed over in bounded pieces instead of one
    /// copy of its size.
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let b = &b[..b.len().min(SPOOL_WRITE_MAX)];
        let mut v = self.back.try_recv().unwrap_or_default();
        v.clear();
        v.extend_from_slice(b);
        self.push(Seg::Owned(v))?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send_batch()
    }
}

impl Seek for Spool<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match pos {
            SeekFrom::Start(p) => {
                self.push(Seg::Seek(p))?;
                Ok(p)
            }
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "the output spool seeks only from the start",
            )),
        }
    }
}

/// The writer thread of [`transform_pipelined`].
fn write_segments<W: Write + Seek>(
    mut out: W,
    rx: std::sync::mpsc::Receiver<Vec<Seg<'_>>>,
    back: std::sync::mpsc::SyncSender<Vec<u8>>,
    mut writeback: impl FnMut(&mut W, u64, u64),
) -> std::io::Result<W> {
    use std::io::IoSlice;
    let mut crc = crate::rdb::crc::Crc64::default(); // of the bytes before any seek
    let mut seeked = false;
    let mut pos = 0u64; // current file position
    let mut synced = 0u64; // writeback started up to here
    for batch in rx {
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(batch.len());
        let mut i = 0;
        while i < batch.len() {
            match &batch[i] {
                Seg::Seek(p) => {
                    out.seek(SeekFrom::Start(*p))?;
                    pos = *p;
                    seeked = true;
                    i += 1;
                }
                Seg::Crc(reply) => {
                    let _ = reply.send(crc.finish());
                    i += 1;
                }
                _ => {
                    slices.clear();
                    let mut n = 0u64;
                    while let Some(seg) = batch.get(i) {
                        let b: &[u8] = match seg {
                            Seg::Owned(b) => b,
                            Seg::Input(b) => b,
                            Seg::Seek(_) | Seg::Crc(_) => break,
                        };
                        if !seeked {
                            crc.update(b);
                        }
                        if !b.is_empty() {
                            slices.push(IoSlice::new(b));
                            n += b.len() as u64;
                        }
                        i += 1;
                    }
                    write_all_vectored(&mut out, &mut slices)?;
                    pos += n;
                    if pos >= synced + WRITEBACK_EVERY {
                        writeback(&mut out, synced, pos - synced);
                        synced = pos;
                    }
                }
            }
        }
        drop(slices);
        for seg in batch {
            // A bounded pool of small buffers: the rest are freed.
            if let Seg::Owned(v) = seg {
                if v.capacity() <= SPOOL_WRITE_MAX {
                    let _ = back.try_send(v);
                }
            }
        }
    }
    out.flush()?;
    Ok(out)
}

fn write_all_vectored<W: Write>(
    out: &mut W,
    mut slices: &mut [std::io::IoSlice<'_>],
) -> std::io::Result<()> {
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "failed to write the whole buffer",
                ))
            }
            Ok(n) => std::io::IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copies a run of verbatim input bytes through the writer's buffer (any sink).
fn copy_buffered<W: Write>(w: &mut RdbWriter<W>, run: &[u8]) -> Result<()> {
    w.raw_record(run)
}

/// Keys kept (and those with an expiry) per SELECTDB section (index 0: before the first
/// SELECTDB) and per SLOT_INFO record, in file order.
struct KeptCounts {
    sections: Vec<Counts>,
    slots: Vec<Counts>,
}

fn count_kept(data: &[u8], filter: &KeyFilter) -> Result<KeptCounts> {
    let mut c = KeptCounts {
        sections: vec![Counts::default()],
        slots: Vec::new(),
    };
    let mut slot: Option<usize> = None;
    for item in RdbReader::new(data) {
        match item?.record {
            Record::SelectDb(_) => {
                c.sections.push(Counts::default());
                slot = None;
            }
            Record::SlotInfo { .. } => {
                c.slots.push(Counts::default());
                slot = Some(c.slots.len() - 1);
            }
            Record::Entry(e) if filter.matches_entry(&e) => {
                let ex = e.expire_ms.is_some() as u64;
                if let Some(s) = c.sections.last_mut() {
                    s.keys += 1;
                    s.expires += ex;
                }
                if let Some(s) = slot.and_then(|i| c.slots.get_mut(i)) {
                    s.keys += 1;
                    s.expires += ex;
                }
            }
            _ => {}
        }
    }
    Ok(c)
}

/// The transform. `copy_run` appends a range of input bytes that goes to the output
/// verbatim (runs of consecutive kept records, prefixes included); `input_crc(eof)` is the
/// CRC-64 of `data[..=eof]`, asked for only when the input's checksum is verified.
#[allow(clippy::too_many_arguments)]
fn transform_core<'d, W: Write>(
    data: &'d [u8],
    out: W,
    opts: &TransformOptions,
    known: Option<KeptCounts>,
    mut on_key: Option<&mut dyn FnMut(&KeyEvent)>,
    progress: &mut dyn FnMut(u64),
    setup: impl FnOnce(&mut RdbWriter<W>),
    mut copy_run: impl FnMut(&mut RdbWriter<W>, &'d [u8]) -> Result<()>,
    input_crc: impl FnOnce(usize) -> u64,
    finish: impl FnOnce(RdbWriter<W>) -> Result<W>,
) -> Result<(TransformReport, W)> {
    let header = Header::parse(data, 0)?;
    let (dialect, version) = opts.target.unwrap_or((header.dialect, header.version));
    let same_format = dialect == header.dialect && version == header.version;
    let map_db = |db: u64| {
        opts.move_db
            .iter()
            .find(|m| m.0 == db)
            .map(|m| m.1)
            .unwrap_or(db)
    };
    let pass_all = opts.filter.is_pass_all() && opts.move_db.is_empty();

    let mut wopts = opts.writer;
    let fail_on_loss = !wopts.lossy;
    wopts.lossy = true; // collect every loss, then fail at the end if not allowed
    let mut w = RdbWriter::with_options(out, dialect, version, wopts)?;
    setup(&mut w);
    let mut rep = TransformReport {
        input: Some(header),
        output: Some(Header { dialect, version }),
        bytes_in: data.len() as u64,
        ..Default::default()
    };

    let mut reader = RdbReader::new(data);
    let (mut sections_seen, mut slots_seen) = (0usize, 0usize);
    // A SELECTDB / SLOT_INFO read but not written yet (written before the first key kept),
    // with the input's counts when they can be reused as they are.
    let mut pending_db: Option<(u64, Option<Counts>)> = None;
    let mut pending_slot: Option<(u64, Option<Counts>)> = None;
    let mut open_db: Option<Open> = None;
    let mut open_slot: Option<Open> = None;
    let mut origin: HashMap<(u64, Vec<u8>), u64> = HashMap::new();
    let mut next_progress = 8u64 << 20;
    let mut notes_aux_dropped = false;
    let mut stored_checksum: Option<u64> = None;
    let mut eof_at: Option<usize> = None;
    // Per-db counts of the current input db, flushed into the report when it changes.
    let mut cur_db: Option<(u64, DbCounts)> = None;

    // Kept records whose bytes (per-key prefix included) the writer would reproduce exactly
    // are not written one by one: consecutive ones form a run of input bytes, appended in
    // one piece when something else has to be written (or at the end).
    let mut run: Option<(usize, usize)> = None;
    let mut scratch = Vec::new();
    let mut value_scratch = crate::rdb::Scratch::default();
    macro_rules! flush_run {
        () => {
            if let Some((a, b)) = run.take() {
                copy_run(&mut w, &data[a..b])?;
            }
        };
    }

    loop {
        // Where this record's bytes start, per-key prefix (expiry, LRU/LFU) included.
        let before = reader.offset() as usize;
        let Some(item) = reader.next() else { break };
        let item = item?;
        let rec_start = item.offset as usize;
        if !matches!(item.record, Record::Entry(_)) {
            flush_run!();
        }
        match item.record {
            Record::Header(_) => {}
            Record::Aux { key, value } => {
                if w.has_aux() {
                    w.aux(&key, &value)?;
                } else if !notes_aux_dropped {
                    notes_aux_dropped = true;
                    rep.notes
                        .push(format!("AUX fields dropped: RDB {version} has none"));
                }
            }
            Record::SelectDb(db) => {
                close(&mut w, &mut open_slot)?;
                close(&mut w, &mut open_db)?;
                pending_slot = None;
                sections_seen += 1;
                let c = known
                    .as_ref()
                    .and_then(|k| k.sections.get(sections_seen).copied());
                pending_db = Some((map_db(db), c));
            }
            Record::ResizeDb {
                db_size,
                expires_size,
            } => {
                if let Some((_, c @ None)) = &mut pending_db {
                    if pass_all {
                        *c = Some(Counts {
                            keys: db_size,
                            expires: expires_size,
                        });
                    }
                }
            }
            Record::SlotInfo {
                slot,
                size,
                expires,
            } => {
                close(&mut w, &mut open_slot)?;
                slots_seen += 1;
                let c = match &known {
                    Some(k) => k.slots.get(slots_seen - 1).copied(),
                    None => pass_all.then_some(Counts {
                        keys: size,
                        expires,
                    }),
                };
                pending_slot = Some((slot, c));
            }
            Record::Function { code } => {
                if version >= 10 {
                    w.function(&code)?;
                } else {
                    rep.losses.push(Loss {
                        db: None,
                        key: Vec::new(),
                        what: format!(
                            "function library {} (functions need RDB 10)",
                            first_line(&code)
                        ),
                        key_written: false,
                    });
                }
            }
            Record::FunctionPreGa { name, .. } => {
                if same_format {
                    let end = reader.offset() as usize;
                    w.raw_record(&data[rec_start..end])?;
                } else {
                    rep.losses.push(Loss {
                        db: None,
                        key: Vec::new(),
                        what: format!(
                            "pre-release (7.0-rc) function {}",
                            String::from_utf8_lossy(&name)
                        ),
                        key_written: false,
                    });
                }
            }
            Record::ModuleAux {
                type_id,
                name,
                when,
                body,
            } => {
                if version >= 9 {
                    w.module_aux(type_id, when, body)?;
                } else {
                    rep.losses.push(Loss {
                        db: None,
                        key: Vec::new(),
                        what: format!("module AUX data of {name} (needs RDB 9)"),
                        key_written: false,
                    });
                }
            }
            Record::SlotImport { .. } => {
                if dialect == Dialect::Valkey && header.dialect == Dialect::Valkey {
                    let end = reader.offset() as usize;
                    w.raw_record(&data[rec_start..end])?;
                } else {
                    rep.notes
                        .push("Valkey SLOT_IMPORT record dropped (Valkey 9 dialect only)".into());
                }
            }
            Record::Entry(e) => {
                rep.keys_in += 1;
                if cur_db.as_ref().is_none_or(|c| c.0 != e.db) {
                    if let Some((db, c)) = cur_db.take() {
                        let r = rep.dbs.entry(db).or_default();
                        r.kept += c.kept;
                        r.dropped += c.dropped;
                    }
                    cur_db = Some((e.db, DbCounts::default()));
                }
                let dbc = &mut cur_db.as_mut().expect("set above").1;
                let out_db = map_db(e.db);
                if !pass_all && !opts.filter.matches_entry(&e) {
                    dbc.dropped += 1;
                    rep.keys_filtered_out += 1;
                    if let Some(cb) = on_key.as_mut() {
                        cb(&KeyEvent {
                            db: e.db,
                            out_db,
                            key: e.key.to_vec(),
                            ty: e.value.value_type(),
                            action: "drop",
                            note: None,
                        });
                    }
                    continue;
                }
                if !opts.move_db.is_empty() {
                    let k = (out_db, e.key.to_vec());
                    if let Some(prev) = origin.get(&k) {
                        return Err(usage(format!(
                            "key \"{}\" is in db {prev} and db {}, which the database mapping both moves to db {out_db}",
                            crate::error::escape_bytes(&e.key),
                            e.db
                        )));
                    }
                    origin.insert(k, e.db);
                }
                if opts.validate {
                    e.validate(&mut value_scratch)?;
                }
                if pending_db.is_some() || pending_slot.is_some() {
                    flush_run!();
                }
                if let Some((db, counts)) = pending_db.take() {
                    w.select_db(db)?;
                    let deferred = match counts {
                        Some(c) => {
                            w.resize_db(c.keys, c.expires)?;
                            None
                        }
                        None => w.resize_db_deferred()?,
                    };
                    open_db = Some(Open {
                        deferred,
                        counts: Counts::default(),
                    });
                }
                if let Some((slot, counts)) = pending_slot.take() {
                    let deferred = match counts {
                        Some(c) => {
                            w.slot_info(slot, c.keys, c.expires)?;
                            None
                        }
                        None => {
                            let d = w.slot_info_deferred(slot)?;
                            if d.is_none() {
                                // Older targets have no SLOT_INFO; Valkey gets its AUX form.
                                w.slot_info(slot, 0, 0)?;
                            }
                            d
                        }
                    };
                    open_slot = Some(Open {
                        deferred,
                        counts: Counts::default(),
                    });
                }
                let end = (e.value.offset() as usize).saturating_add(e.value.len());
                let verbatim = same_format
                    && end <= data.len()
                    && data
                        .get(before..rec_start)
                        .is_some_and(|p| w.prefix_is(&e, p, &mut scratch))
                    && !is_empty_collection(header.dialect, e.value.type_byte(), e.value.raw());
                let outcome = if verbatim {
                    match &mut run {
                        Some((_, b)) if *b == before => *b = end,
                        _ => {
                            flush_run!();
                            run = Some((before, end));
                        }
                    }
                    EntryOutcome::Copied
                } else {
                    flush_run!();
                    let meta = EntryMeta::of(&e);
                    if same_format {
                        match data.get(rec_start..end) {
                            Some(record) => w.entry_copy(&e.key, &meta, record)?,
                            None => w.entry(&e)?,
                        }
                    } else {
                        w.entry(&e)?
                    }
                };
                let (action, note) = match &outcome {
                    EntryOutcome::Copied => {
                        rep.values_copied += 1;
                        ("keep", None)
                    }
                    EntryOutcome::Reencoded => {
                        rep.values_reencoded += 1;
                        ("keep", None)
                    }
                    EntryOutcome::Lossy(l) => {
                        rep.values_reencoded += 1;
                        let what = l.join("; ");
                        rep.losses.push(Loss {
                            db: Some(e.db),
                            key: e.key.to_vec(),
                            what: what.clone(),
                            key_written: true,
                        });
                        ("lossy", Some(what))
                    }
                    EntryOutcome::Dropped(why) => {
                        rep.losses.push(Loss {
                            db: Some(e.db),
                            key: e.key.to_vec(),
                            what: why.clone(),
                            key_written: false,
                        });
                        ("unrepresentable", Some(why.clone()))
                    }
                    EntryOutcome::Empty => {
                        rep.empty_skipped += 1;
                        ("empty", None)
                    }
                };
                if outcome.written() {
                    rep.keys_written += 1;
                    dbc.kept += 1;
                    let ex = e.expire_ms.is_some() as u64;
                    for o in [&mut open_db, &mut open_slot].into_iter().flatten() {
                        o.counts.keys += 1;
                        o.counts.expires += ex;
                    }
                }
                if let Some(cb) = on_key.as_mut() {
                    cb(&KeyEvent {
                        db: e.db,
                        out_db,
                        key: e.key.to_vec(),
                        ty: e.value.value_type(),
                        action,
                        note,
                    });
                }
                let done = reader.offset();
                if done >= next_progress {
                    progress(done);
                    next_progress = done + (8 << 20);
                }
            }
            Record::Eof { checksum, .. } => {
                stored_checksum = checksum;
                eof_at = reader.eof_offset().map(|o| o as usize);
            }
        }
    }
    flush_run!();
    if let Some((db, c)) = cur_db.take() {
        let r = rep.dbs.entry(db).or_default();
        r.kept += c.kept;
        r.dropped += c.dropped;
    }
    close(&mut w, &mut open_slot)?;
    close(&mut w, &mut open_db)?;
    let Some(eof) = eof_at else {
        return Err(Error::truncated(reader.offset(), "the EOF opcode", 1));
    };
    if opts.verify_checksum {
        if let Some(stored) = stored_checksum.filter(|&c| c != 0) {
            let computed = input_crc(eof);
            if computed != stored {
                return Err(
                    Error::new(ErrorKind::ChecksumMismatch { stored, computed }).at(eof as u64 + 1)
                );
            }
        }
    }
    if fail_on_loss && !rep.losses.is_empty() {
        let mut msg = format!(
            "{} RDB {version} cannot hold {} item(s) of the input:",
            dialect.name(),
            rep.losses.len()
        );
        for l in rep.losses.iter().take(20) {
            if l.key.is_empty() {
                msg.push_str(&format!("\n  {}", l.what));
            } else {
                msg.push_str(&format!(
                    "\n  db {} key \"{}\": {}",
                    l.db.unwrap_or(0),
                    crate::error::escape_bytes(&l.key),
                    l.what
                ));
            }
        }
        if rep.losses.len() > 20 {
            msg.push_str(&format!("\n  … and {} more", rep.losses.len() - 20));
        }
        return Err(usage(msg).with_remedy(crate::error::Remedy::Lossy));
    }
    progress(data.len() as u64);
    rep.bytes_out = w.bytes_written() + if version >= 5 { 9 } else { 1 };
    let out = finish(w)?;
    Ok((rep, out))
}

fn first_line(code: &[u8]) -> String {
    String::from_utf8_lossy(code.split(|&c| c == b'\n').next().unwrap_or(&[])).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::format::T_SET_INTSET;
    use crate::rdb::model::{HashField, Value};
    use crate::rdb::{check_rdb, CheckOptions};

    fn source() -> Vec<u8> {
        let mut w = RdbWriter::new(Vec::new(), Dialect::Redis, 12).unwrap();
        w.aux(b"redis-ver", b"7.4.0").unwrap();
        w.function(b"#!lua name=lib\nredis.register_function('f', function() return 1 end)")
            .unwrap();
        w.select_db(0).unwrap();
        w.resize_db(2, 0).unwrap();
        let h = Value::Hash(vec![
            HashField {
                field: b"a".to_vec(),
                value: b"1".to_vec(),
                expire_ms: Some(4_000_000_000_000),
            },
            HashField {
                field: b"b".to_vec(),
                value: b"2".to_vec(),
                expire_ms: None,
            },
        ]);
        w.entry_value(b"ttl-hash", &EntryMeta::default(), &h)
            .unwrap();
        w.entry_value(
            b"plain",
            &EntryMeta::default(),
            &Value::String(b"x".to_vec()),
        )
        .unwrap();
        w.finish().unwrap()
    }

    /// A file with expiries, LRU/LFU data and empty collections in two databases, big enough
    /// for the writer to flush before the deferred RESIZEDB counts are filled in.
    fn metadata_source() -> Vec<u8> {
        let mut w = RdbWriter::new(Vec::new(), Dialect::Redis, 11).unwrap();
        w.aux(b"redis-ver", b"7.2.0").unwrap();
        for db in [0u64, 3] {
            w.select_db(db).unwrap();
            w.resize_db(20_000, 0).unwrap();
            for i in 0..20_000u64 {
                let meta = EntryMeta {
                    expire_ms: (i % 3 == 0).then_some(1_700_000_000_000 + i as i64),
                    lru_idle: (i % 5 == 0).then_some(i * 1000),
                    lfu_freq: (i % 7 == 0).then_some((i % 256) as u8),
                    key_meta: None,
                };
                let key = format!("k:{db}:{i}");
                let v = if i % 11 == 0 {
                    Value::Set(Vec::new()) // empty: written, and skipped by the transform
                } else {
                    Value::String(format!("value-{i}-{}", "x".repeat((i % 50) as usize)).into())
                };
                if let Value::Set(_) = v {
                    // The writer never writes empty collections: write an empty intset by
                    // hand (type byte, key, a 0-element intset blob), without metadata.
                    let mut raw = vec![T_SET_INTSET];
                    crate::rdb::encode::StringEncoder::new(false).write(&mut raw, key.as_bytes());
                    raw.push(8);
                    raw.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
                    w.raw_record(&raw).unwrap();
                } else {
                    w.entry_value(key.as_bytes(), &meta, &v).unwrap();
                }
            }
        }
        w.finish().unwrap()
    }

    #[test]
    fn pipelined_output_equals_the_seekable_one_and_keeps_every_kept_entry() {
        use crate::filter::Glob;
        let data = metadata_source();
        let mut opts = TransformOptions {
            verify_checksum: true,
            ..Default::default()
        };
        opts.filter.exclude.push(Glob::new(b"k:[03]:1[0-4]*"));
        let (ra, a) = transform_seekable(
            &data,
            std::io::Cursor::new(Vec::new()),
            &opts,
            None,
            &mut |_| {},
        )
        .unwrap();
        let mut calls = 0;
        let (rb, b) = transform_pipelined(
            &data,
            std::io::Cursor::new(Vec::new()),
            &opts,
            &mut |_| {},
            |_, _, _| calls += 1,
        )
        .unwrap();
        let (a, b) = (a.into_inner(), b.into_inner());
        assert!(a == b);
        assert_eq!(ra.keys_written, rb.keys_written);
        assert!(ra.keys_filtered_out > 0 && ra.empty_skipped > 0);
        assert_eq!(calls, 0, "no writeback below {WRITEBACK_EVERY} bytes");
        let rc = check_rdb(&b, 0, CheckOptions::default());
        assert!(rc.ok, "{rc:?}");
        // Every entry the filter keeps is in the output with its metadata and value bytes,
        // in order; nothing else is.
        let entries = |d: &[u8]| -> Vec<_> {
            RdbReader::new(d)
                .filter_map(|i| match i.unwrap().record {
                    Record::Entry(e) => Some((
                        e.db,
                        e.key.to_vec(),
                        e.expire_ms,
                        e.lru_idle,
                        e.lfu_freq,
                        e.value.type_byte(),
                        e.value.raw().to_vec(),
                    )),
                    _ => None,
                })
                .collect()
        };
        let want: Vec<_> = entries(&data)
            .into_iter()
            .filter(|e| opts.filter.matches_key(&e.1) && e.5 != T_SET_INTSET)
            .collect();
        assert_eq!(entries(&b), want);
        // A bad input checksum is still caught (the speculative check on another thread).
        let mut bad = data.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        let err = transform_pipelined(
            &bad,
            std::io::Cursor::new(Vec::new()),
            &opts,
            &mut |_| {},
            |_, _, _| {},
        )
        .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::ChecksumMismatch { .. }),
            "{err}"
        );
    }

    /// A sink that fails like a full disk after `left` bytes.
    #[derive(Debug)]
    struct FullDisk {
        left: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("No space left on device"));
            }
            let n = b.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seek for FullDisk {
        fn seek(&mut self, p: SeekFrom) -> std::io::Result<u64> {
            match p {
                SeekFrom::Start(p) => Ok(p),
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn pipelined_write_errors_are_reported_as_such() {
        let data = metadata_source();
        for left in [0, 100, 500_000] {
            let err = transform_pipelined(
                &data,
                FullDisk { left },
                &TransformOptions::default(),
                &mut |_| {},
                |_, _, _| {},
            )
            .unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Io(m) if m.contains("No space left")),
                "{left}: {err}"
            );
        }
    }

    #[test]
    fn unrepresentable_data_is_an_error_naming_it_or_dropped_with_lossy() {
        let data = source();
        assert!(check_rdb(&data, 0, CheckOptions::default()).ok);
        let mut opts = TransformOptions {
            target: Some((Dialect::Redis, 9)),
            verify_checksum: true,
            ..Default::default()
        };
        let err = transform(&data, Vec::new(), &opts, &mut |_| {}, &mut |_| {}).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("function library #!lua name=lib"), "{msg}");
        assert!(msg.contains("\"ttl-hash\"") && msg.contains("TTL"), "{msg}");
        opts.writer.lossy = true;
        let (rep, out) = transform(&data, Vec::new(), &opts, &mut |_| {}, &mut |_| {}).unwrap();
        assert!(check_rdb(&out, 0, CheckOptions::default()).ok);
        assert_eq!(rep.keys_written, 2);
        assert_eq!(rep.losses.len(), 2);
        assert!(rep
            .losses
            .iter()
            .any(|l| l.key == b"ttl-hash" && l.key_written));
        // To Valkey 80 the field TTL survives as HASH_2; functions are kept.
        opts.target = Some((Dialect::Valkey, 80));
        opts.writer.lossy = false;
        let (rep, out) = transform(&data, Vec::new(), &opts, &mut |_| {}, &mut |_| {}).unwrap();
        assert!(rep.losses.is_empty());
        let rc = check_rdb(&out, 0, CheckOptions::default());
        assert!(
            rc.ok && rc.subexpires == 1 && rc.functions.len() == 1,
            "{rc:?}"
        );
        // And back to Redis 12: the same file as the source, byte for byte.
        let (_, back) = transform(
            &out,
            Vec::new(),
            &TransformOptions {
                target: Some((Dialect::Redis, 12)),
                ..Default::default()
            },
            &mut |_| {},
            &mut |_| {},
        )
        .unwrap();
        assert!(back == data);
    }
}
