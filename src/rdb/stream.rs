//! Streams (types 15, 19, 21, 26, 27; spec §7.8): node listpacks, metadata, consumer groups,
//! PELs, consumers, the v5 NACK zone and the v4 IDMP trailer.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::rdb::cursor::{Cursor, RdbStr};
use crate::rdb::encoding::listpack::Listpack;
use crate::rdb::encoding::Elem;
use crate::rdb::format::*;
use crate::rdb::model::*;
use crate::rdb::value::{ValueVisitor, Walker};

fn corrupt(at: u64, expected: &'static str, found: impl Into<String>) -> Error {
    Error::corrupt(at, expected, found).with_context("stream")
}

fn read_id(cur: &mut Cursor<'_>, what: &'static str) -> Result<StreamId> {
    let ms = cur.len(what)?;
    let seq = cur.len(what)?;
    Ok(StreamId { ms, seq })
}

fn raw_id(cur: &mut Cursor<'_>, what: &'static str) -> Result<StreamId> {
    let b: [u8; 16] = cur.array(what)?;
    Ok(StreamId::from_be_bytes(&b))
}

fn owned(cur: &mut Cursor<'_>, what: &'static str, scratch: &mut Vec<u8>) -> Result<Vec<u8>> {
    Ok(cur.string_bytes(what, scratch)?.to_vec())
}

fn int_elem(e: Option<Result<Elem<'_>>>, at: u64, what: &'static str) -> Result<i64> {
    match e {
        Some(Ok(Elem::Int(i))) => Ok(i),
        Some(Ok(Elem::Bytes(b))) => Err(corrupt(
            at,
            what,
            format!("a string \"{}\"", crate::error::escape_bytes(b)),
        )),
        Some(Err(e)) => Err(e),
        None => Err(corrupt(at, what, "the end of the node")),
    }
}

impl<V: ValueVisitor + ?Sized> Walker<'_, V> {
    pub(crate) fn stream(&mut self, cur: &mut Cursor<'_>, ty: ValueType, t: u8) -> Result<()> {
        let version = match t {
            T_STREAM_LISTPACKS => 1,
            T_STREAM_LISTPACKS_2 => 2,
            T_STREAM_LISTPACKS_3 => 3,
            T_STREAM_LISTPACKS_4 => 4,
            _ => 5,
        };
        let nodes = cur.count("a stream node count", 2)?;
        if !self.skip {
            self.visitor.begin(ty, t, None)?;
        }
        let mut live_total: u64 = 0;
        let mut node_keys: HashSet<StreamId> = HashSet::new();
        for _ in 0..nodes {
            let kat = cur.offset();
            let key = cur.string("a stream node key")?;
            let kb = match key {
                RdbStr::Raw(b) if b.len() == 16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    a
                }
                _ => {
                    let v = key.to_vec()?;
                    if v.len() != 16 {
                        return Err(corrupt(
                            kat,
                            "a 16-byte stream node key",
                            format!("{} bytes", v.len()),
                        ));
                    }
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&v);
                    a
                }
            };
            let master = StreamId::from_be_bytes(&kb);
            let lat = cur.offset();
            let lp = cur.string("a stream node listpack")?;
            if lp.is_empty() {
                return Err(corrupt(
                    lat,
                    "a non-empty stream listpack",
                    "an empty string",
                ));
            }
            if self.skip {
                continue;
            }
            if !node_keys.insert(master) {
                return Err(corrupt(
                    kat,
                    "unique stream node keys",
                    format!("node {master} twice"),
                ));
            }
            let base = match lp {
                RdbStr::Lzf { offset, .. } => offset,
                _ => cur.offset().saturating_sub(lp.len()),
            };
            let mut a = std::mem::take(&mut self.scratch.a);
            let r = (|| {
                let blob = match lp {
                    RdbStr::Raw(b) => b,
                    RdbStr::Int(_) => {
                        return Err(corrupt(lat, "a stream node listpack", "an integer"))
                    }
                    lzf => lzf.decode(&mut a)?,
                };
                let r = self.stream_node(blob, base, master);
                match lp {
                    RdbStr::Lzf { offset, .. } => r.map_err(|e| e.inside_lzf(offset)),
                    _ => r,
                }
            })();
            self.scratch.a = a;
            live_total = live_total.saturating_add(r?);
        }
        let mat = cur.offset();
        let length = cur.len("a stream length")?;
        let last_id = read_id(cur, "a stream last ID")?;
        let mut meta = StreamMeta {
            length,
            last_id,
            ..Default::default()
        };
        if version >= 2 {
            meta.first_id = Some(read_id(cur, "a stream first ID")?);
            meta.max_deleted_id = Some(read_id(cur, "a stream max deleted ID")?);
            meta.entries_added = Some(cur.len("a stream entries-added counter")?);
        }
        if !self.skip {
            if live_total != length {
                return Err(corrupt(
                    mat,
                    "a stream length equal to the live entries in its nodes",
                    format!("{length} (nodes hold {live_total})"),
                ));
            }
            self.visitor.stream_meta(&meta)?;
        }
        let ngroups = cur.count("a consumer group count", 3)?;
        let mut group_names: HashSet<Vec<u8>> = HashSet::new();
        let mut name_buf = Vec::new();
        for _ in 0..ngroups {
            let gat = cur.offset();
            let name = owned(cur, "a consumer group name", &mut name_buf)?;
            let last_id = read_id(cur, "a consumer group last ID")?;
            let entries_read = if version >= 2 {
                Some(cur.len("a consumer group entries-read")?)
            } else {
                None
            };
            let npel = cur.count("a group PEL size", 17)?;
            let mut pending = Vec::with_capacity(if self.skip { 0 } else { npel as usize });
            let mut pel_ids: HashSet<StreamId> = HashSet::new();
            for _ in 0..npel {
                let pat = cur.offset();
                let id = raw_id(cur, "a PEL entry ID")?;
                let delivery_time_ms = cur.u64_le("a PEL delivery time")?;
                let delivery_count = cur.len("a PEL delivery count")?;
                if !self.skip {
                    if !pel_ids.insert(id) {
                        return Err(corrupt(pat, "unique PEL entries", format!("{id} twice")));
                    }
                    pending.push(PendingEntry {
                        id,
                        delivery_time_ms,
                        delivery_count,
                    });
                }
            }
            let ncons = cur.count("a consumer count", 10)?;
            let mut consumers = Vec::with_capacity(if self.skip { 0 } else { ncons as usize });
            let mut owned_ids: HashSet<StreamId> = HashSet::new();
            let mut cons_names: HashSet<Vec<u8>> = HashSet::new();
            for _ in 0..ncons {
                let cat = cur.offset();
                let cname = owned(cur, "a consumer name", &mut name_buf)?;
                let seen_time_ms = cur.u64_le("a consumer seen time")?;
                let active_time_ms = if version >= 3 {
                    Some(cur.u64_le("a consumer active time")?)
                } else {
                    None
                };
                let n = cur.count("a consumer PEL size", 16)?;
                let mut ids = Vec::with_capacity(if self.skip { 0 } else { n as usize });
                for _ in 0..n {
                    let iat = cur.offset();
                    let id = raw_id(cur, "a consumer PEL entry ID")?;
                    if !self.skip {
                        if !pel_ids.contains(&id) {
                            return Err(corrupt(
                                iat,
                                "consumer PEL entries that are in the group PEL",
                                format!("{id}"),
                            ));
                        }
                        if !owned_ids.insert(id) {
                            return Err(corrupt(
                                iat,
                                "each PEL entry owned by one consumer",
                                format!("{id} owned twice"),
                            ));
                        }
                        ids.push(id);
                    }
                }
                if !self.skip {
                    if !cons_names.insert(cname.clone()) {
                        return Err(corrupt(
                            cat,
                            "unique consumer names",
                            format!("\"{}\" twice", crate::error::escape_bytes(&cname)),
                        ));
                    }
                    consumers.push(Consumer {
                        name: cname,
                        seen_time_ms,
                        active_time_ms,
                        pending: ids,
                    });
                }
            }
            let mut nacked = Vec::new();
            if version >= 5 {
                let n = cur.count("a NACK zone size", 16)?;
                for _ in 0..n {
                    let iat = cur.offset();
                    let id = raw_id(cur, "a NACK zone entry ID")?;
                    if !self.skip {
                        if !pel_ids.contains(&id) || owned_ids.contains(&id) {
                            return Err(corrupt(
                                iat,
                                "NACK zone entries in the PEL with no owner",
                                format!("{id}"),
                            ));
                        }
                        nacked.push(id);
                    }
                }
            }
            if self.skip {
                continue;
            }
            if self.deep && owned_ids.len() + nacked.len() != pel_ids.len() {
                return Err(corrupt(
                    gat,
                    "every PEL entry owned by a consumer",
                    format!("{} of {} owned", owned_ids.len(), pel_ids.len()),
                ));
            }
            if !group_names.insert(name.clone()) {
                return Err(corrupt(
                    gat,
                    "unique consumer group names",
                    format!("\"{}\" twice", crate::error::escape_bytes(&name)),
                ));
            }
            let g = ConsumerGroup {
                name,
                last_id,
                entries_read,
                pending,
                consumers,
                nacked,
            };
            self.visitor.stream_group(&g)?;
        }
        if version >= 4 {
            let iat = cur.offset();
            let duration_s = cur.len("an IDMP duration")?;
            let max_entries = cur.len("an IDMP max entries")?;
            if !self.skip
                && (!(1..=86400).contains(&duration_s) || !(1..=10000).contains(&max_entries))
            {
                return Err(corrupt(
                    iat,
                    "IDMP duration in 1..86400 and max entries in 1..10000",
                    format!("{duration_s}, {max_entries}"),
                ));
            }
            let np = cur.count("an IDMP producer count", 2)?;
            let mut producers = Vec::new();
            for _ in 0..np {
                let pid = owned(cur, "an IDMP producer id", &mut name_buf)?;
                let n = cur.count("an IDMP entry count", 3)?;
                let mut entries = Vec::new();
                for _ in 0..n {
                    let iid = owned(cur, "an IDMP iid", &mut name_buf)?;
                    let id = read_id(cur, "an IDMP entry ID")?;
                    if !self.skip {
                        entries.push((iid, id));
                    }
                }
                if !self.skip {
                    producers.push(IdmpProducer { pid, entries });
                }
            }
            let iids_added = cur.len("an IDMP iids-added counter")?;
            let iids_duplicates = cur.len("an IDMP iids-duplicates counter")?;
            if !self.skip {
                self.visitor.stream_idmp(&StreamIdmp {
                    duration_s,
                    max_entries,
                    producers,
                    iids_added,
                    iids_duplicates,
                })?;
            }
        }
        Ok(())
    }

    /// Decodes one node listpack; returns its live entry count.
    fn stream_node(&mut self, blob: &[u8], base: u64, master: StreamId) -> Result<u64> {
        let lp = Listpack::parse(blob, base)?;
        let mut it = lp.iter();
        let at = base;
        let count = int_elem(it.next(), at, "a stream node entry count")?;
        if count <= 0 {
            return Err(corrupt(
                at,
                "a stream node entry count > 0",
                format!("{count}"),
            ));
        }
        let deleted = int_elem(it.next(), at, "a stream node deleted count")?;
        let nfields = int_elem(it.next(), at, "a stream master field count")?;
        if deleted < 0 || nfields < 0 || nfields as usize > blob.len() {
            return Err(corrupt(
                at,
                "non-negative stream node counts",
                format!("deleted {deleted}, fields {nfields}"),
            ));
        }
        let mut master_fields: Vec<Elem<'_>> = Vec::with_capacity(nfields as usize);
        for _ in 0..nfields {
            match it.next() {
                Some(e) => master_fields.push(e?),
                None => return Err(corrupt(at, "a stream master field", "the end of the node")),
            }
        }
        if int_elem(it.next(), at, "the stream master entry terminator 0")? != 0 {
            return Err(corrupt(
                at,
                "the stream master entry terminator 0",
                "another value",
            ));
        }
        let total = count.saturating_add(deleted);
        let mut fields: Vec<Elem<'_>> = Vec::new();
        let mut values: Vec<Elem<'_>> = Vec::new();
        let mut live = 0u64;
        for _ in 0..total {
            let eat = it.offset();
            let flags = int_elem(it.next(), eat, "stream entry flags")?;
            let ms = int_elem(it.next(), eat, "a stream entry ms delta")?;
            let seq = int_elem(it.next(), eat, "a stream entry seq delta")?;
            fields.clear();
            values.clear();
            let n;
            let extra;
            if flags & STREAM_ITEM_FLAG_SAMEFIELDS != 0 {
                n = nfields;
                extra = 3;
                for j in 0..n {
                    fields.push(master_fields[j as usize]);
                    match it.next() {
                        Some(e) => values.push(e?),
                        None => {
                            return Err(corrupt(eat, "a stream entry value", "the end of the node"))
                        }
                    }
                }
            } else {
                n = int_elem(it.next(), eat, "a stream entry field count")?;
                if n < 0 || n as usize > blob.len() {
                    return Err(corrupt(eat, "a stream entry field count", format!("{n}")));
                }
                extra = n + 4;
                for _ in 0..n {
                    match (it.next(), it.next()) {
                        (Some(f), Some(v)) => {
                            fields.push(f?);
                            values.push(v?);
                        }
                        (Some(Err(e)), _) | (_, Some(Err(e))) => return Err(e),
                        _ => {
                            return Err(corrupt(
                                eat,
                                "a stream entry field and value",
                                "the end of the node",
                            ))
                        }
                    }
                }
            }
            let lp_count = int_elem(it.next(), eat, "a stream entry lp-count")?;
            if lp_count != n + extra {
                return Err(corrupt(
                    eat,
                    "a stream entry lp-count matching its fields",
                    format!("{lp_count} (expected {})", n + extra),
                ));
            }
            if flags & STREAM_ITEM_FLAG_DELETED == 0 {
                live += 1;
                let id = StreamId {
                    ms: master.ms.wrapping_add(ms as u64),
                    seq: master.seq.wrapping_add(seq as u64),
                };
                self.visitor.stream_entry(id, &fields, &values)?;
            }
        }
        match it.next() {
            None => {}
            Some(Err(e)) => return Err(e),
            Some(Ok(_)) => {
                return Err(corrupt(
                    it.offset(),
                    "the end of the stream node after its last entry",
                    "more elements",
                ))
            }
        }
        if live != count as u64 {
            return Err(corrupt(
                at,
                "a stream node live count equal to its live entries",
                format!("{count} declared, {live} found"),
            ));
        }
        Ok(live)
    }
}
