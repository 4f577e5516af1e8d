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
use crate::rdb::writer::{Deferred, EntryMeta, EntryOutcome, RdbWriter, WriterOptions};

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
    transform_core(data, out, opts, None, on_key, progress, |w| w.finish_seek())
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
    transform_core(data, out, opts, Some(counts), Some(on_key), progress, |w| {
        w.finish()
    })
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

#[allow(clippy::too_many_arguments)]
fn transform_core<W: Write>(
    data: &[u8],
    out: W,
    opts: &TransformOptions,
    known: Option<KeptCounts>,
    mut on_key: Option<&mut dyn FnMut(&KeyEvent)>,
    progress: &mut dyn FnMut(u64),
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

    while let Some(item) = reader.next() {
        let item = item?;
        let rec_start = item.offset as usize;
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
                            "key \"{}\" is in db {prev} and db {} which --move-db both maps to db {out_db}",
                            crate::error::escape_bytes(&e.key),
                            e.db
                        )));
                    }
                    origin.insert(k, e.db);
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
                let meta = EntryMeta::of(&e);
                let outcome = if same_format {
                    let end = (e.value.offset() as usize).saturating_add(e.value.len());
                    match data.get(rec_start..end) {
                        Some(record) => w.entry_copy(&e.key, &meta, record)?,
                        None => w.entry(&e)?,
                    }
                } else {
                    w.entry(&e)?
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
            let computed = crate::rdb::crc::crc64(&data[..=eof]);
            if computed != stored {
                return Err(
                    Error::new(ErrorKind::ChecksumMismatch { stored, computed }).at(eof as u64 + 1)
                );
            }
        }
    }
    if fail_on_loss && !rep.losses.is_empty() {
        let mut msg = format!(
            "{} RDB {version} cannot hold {} item(s) of the input (use --lossy to drop them):",
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
        return Err(usage(msg));
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
