//! Stream writer (§7.8): node listpacks built like `streamAppendItem` (new node past
//! `stream-node-max-bytes` or `stream-node-max-entries`, master entry with the first entry's
//! fields, SAMEFIELDS entries), and the metadata / consumer group / IDMP trailer of each
//! stream version (1–5).

use crate::rdb::encode::listpack::ListpackBuilder;
use crate::rdb::encode::{write_len, StringEncoder};
use crate::rdb::format::*;
use crate::rdb::model::*;

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

fn raw_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.ms.to_be_bytes());
    out.extend_from_slice(&id.seq.to_be_bytes());
}

/// The stream layout version (1–5) of a stream type byte.
pub fn stream_version(t: u8) -> u8 {
    match t {
        T_STREAM_LISTPACKS => 1,
        T_STREAM_LISTPACKS_2 => 2,
        T_STREAM_LISTPACKS_3 => 3,
        T_STREAM_LISTPACKS_4 => 4,
        _ => 5,
    }
}

/// What a stream loses when written in an older layout, as human-readable notes (empty when
/// nothing is lost).
pub fn downgrade_losses(
    to: u8,
    meta: &StreamMeta,
    groups: &[ConsumerGroup],
    idmp: Option<&StreamIdmp>,
) -> Vec<String> {
    let mut l = Vec::new();
    if to < 5 && groups.iter().any(|g| !g.nacked.is_empty()) {
        l.push("consumer-group NACK-zone entries (stream v5) dropped from the PEL".into());
    }
    if to < 4
        && idmp
            .is_some_and(|i| !i.producers.is_empty() || i.iids_added != 0 || i.iids_duplicates != 0)
    {
        l.push("IDMP idempotency state (stream v4) dropped".into());
    }
    if to < 3
        && groups
            .iter()
            .flat_map(|g| &g.consumers)
            .any(|c| c.active_time_ms.is_some_and(|a| a != c.seen_time_ms))
    {
        l.push("consumer active times (stream v3) replaced by seen times".into());
    }
    if to < 2 {
        let deleted = meta
            .max_deleted_id
            .is_some_and(|d| d != StreamId::default());
        let added = meta.entries_added.is_some_and(|a| a != meta.length);
        if deleted || added {
            l.push("max-deleted-entry-id and entries-added counters (stream v2) dropped".into());
        }
    }
    l
}

/// Writes everything after the nodes: length, IDs, counters, groups, IDMP.
pub fn write_tail(
    sv: u8,
    meta: &StreamMeta,
    first_live: Option<StreamId>,
    groups: &[ConsumerGroup],
    idmp: Option<&StreamIdmp>,
    s: &mut StringEncoder,
    out: &mut Vec<u8>,
) {
    write_len(out, meta.length);
    write_id(out, meta.last_id);
    if sv >= 2 {
        let first = meta.first_id.or(first_live).unwrap_or_default();
        write_id(out, first);
        write_id(out, meta.max_deleted_id.unwrap_or_default());
        write_len(out, meta.entries_added.unwrap_or(meta.length));
    }
    write_len(out, groups.len() as u64);
    for g in groups {
        s.write(out, &g.name);
        write_id(out, g.last_id);
        if sv >= 2 {
            write_len(out, g.entries_read.unwrap_or(u64::MAX));
        }
        let dropped = |id: &StreamId| sv < 5 && g.nacked.contains(id);
        let pel: Vec<&PendingEntry> = g.pending.iter().filter(|p| !dropped(&p.id)).collect();
        write_len(out, pel.len() as u64);
        for p in pel {
            raw_id(out, p.id);
            out.extend_from_slice(&p.delivery_time_ms.to_le_bytes());
            write_len(out, p.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for c in &g.consumers {
            s.write(out, &c.name);
            out.extend_from_slice(&c.seen_time_ms.to_le_bytes());
            if sv >= 3 {
                out.extend_from_slice(&c.active_time_ms.unwrap_or(c.seen_time_ms).to_le_bytes());
            }
            write_len(out, c.pending.len() as u64);
            for id in &c.pending {
                raw_id(out, *id);
            }
        }
        if sv >= 5 {
            write_len(out, g.nacked.len() as u64);
            for id in &g.nacked {
                raw_id(out, *id);
            }
        }
    }
    if sv >= 4 {
        let (duration, max, producers, added, dups) = match idmp {
            Some(i) => (
                i.duration_s,
                i.max_entries,
                &i.producers[..],
                i.iids_added,
                i.iids_duplicates,
            ),
            None => (100, 100, &[][..], 0, 0),
        };
        write_len(out, duration);
        write_len(out, max);
        write_len(out, producers.len() as u64);
        for p in producers {
            s.write(out, &p.pid);
            write_len(out, p.entries.len() as u64);
            for (iid, id) in &p.entries {
                s.write(out, iid);
                write_id(out, *id);
            }
        }
        write_len(out, added);
        write_len(out, dups);
    }
}

/// Writes the node section (count + node key + listpack per node) for the live entries of
/// `stream`, splitting nodes like Redis with the given limits.
pub fn write_nodes(
    entries: &[StreamEntry],
    max_bytes: usize,
    max_entries: usize,
    s: &mut StringEncoder,
    out: &mut Vec<u8>,
) {
    // Decide node boundaries by tracking the size Redis would see while appending.
    let mut nodes: Vec<(usize, usize)> = Vec::new();
    let mut start = 0usize;
    let mut lp = ListpackBuilder::new();
    for (i, e) in entries.iter().enumerate() {
        let tot: usize = e.fields.iter().map(|(f, v)| f.len() + v.len()).sum();
        if i > start && (lp.bytes() + tot >= max_bytes || i - start >= max_entries) {
            nodes.push((start, i));
            start = i;
        }
        if i == start {
            lp.clear();
            node_listpack(&entries[i..i + 1], &mut lp);
        } else {
            append_entry(&entries[start], e, &mut lp);
        }
    }
    if start < entries.len() {
        nodes.push((start, entries.len()));
    }
    write_len(out, nodes.len() as u64);
    let mut key = [0u8; 16];
    for (a, b) in nodes {
        let master = entries[a].id;
        key[..8].copy_from_slice(&master.ms.to_be_bytes());
        key[8..].copy_from_slice(&master.seq.to_be_bytes());
        s.write(out, &key);
        lp.clear();
        node_listpack(&entries[a..b], &mut lp);
        s.write(out, lp.build());
    }
}

/// Builds a complete node listpack (master entry + entries) into `lp`, unterminated.
fn node_listpack(entries: &[StreamEntry], lp: &mut ListpackBuilder) {
    let master = &entries[0];
    lp.push_int(entries.len() as i64);
    lp.push_int(0);
    lp.push_int(master.fields.len() as i64);
    for (f, _) in &master.fields {
        lp.push(f);
    }
    lp.push_int(0);
    for e in entries {
        append_entry(master, e, lp);
    }
}

fn append_entry(master: &StreamEntry, e: &StreamEntry, lp: &mut ListpackBuilder) {
    let same = e.fields.len() == master.fields.len()
        && e.fields.iter().zip(&master.fields).all(|(a, b)| a.0 == b.0);
    let n = e.fields.len() as i64;
    lp.push_int(if same { STREAM_ITEM_FLAG_SAMEFIELDS } else { 0 });
    lp.push_int(e.id.ms.wrapping_sub(master.id.ms) as i64);
    lp.push_int(e.id.seq.wrapping_sub(master.id.seq) as i64);
    if same {
        for (_, v) in &e.fields {
            lp.push(v);
        }
        lp.push_int(n + 3);
    } else {
        lp.push_int(n);
        for (f, v) in &e.fields {
            lp.push(f);
            lp.push(v);
        }
        lp.push_int(2 * n + 4);
    }
}
