//! The project's own fixtures (`fixtures/rdb/*.rdb`, written by `fixtures/gen_rdb.sh` with the
//! installed redis-server) decode, through the library, to exactly what the SERVER returned
//! for every key (`<name>.expected.jsonl`), and load back into redis-server with the recorded
//! `DEBUG DIGEST`.

mod common;
mod rdb_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use redsafe::rdb::model::{ConsumerGroup, Stream, StreamId};
use redsafe::rdb::{check_rdb, CheckOptions, ChecksumStatus, RdbReader, Record, Value};
use serde_json::Value as Json;

use rdb_support::{generated_rdbs, short, CRC64};

/// One key as decoded by redsafe.
struct Decoded {
    value: Value,
    type_byte: u8,
    expire_ms: Option<i64>,
    lfu_freq: Option<u8>,
    lru_idle: Option<u64>,
}

/// Decoded keys by (db, key).
type Keyspace = BTreeMap<(u64, Vec<u8>), Decoded>;

/// Every key of a file, plus the function libraries.
fn decode_all(data: &[u8]) -> (Keyspace, Vec<String>) {
    let mut keys = BTreeMap::new();
    let mut functions = Vec::new();
    let mut saw_eof = false;
    for item in RdbReader::new(data) {
        let item = item.unwrap_or_else(|e| panic!("reader error: {e}"));
        match item.record {
            Record::Entry(e) => {
                let value = e
                    .value
                    .materialize()
                    .unwrap_or_else(|err| panic!("materialize {:?}: {err}", e.key));
                let d = Decoded {
                    value,
                    type_byte: e.value.type_byte(),
                    expire_ms: e.expire_ms,
                    lfu_freq: e.lfu_freq,
                    lru_idle: e.lru_idle,
                };
                let prev = keys.insert((e.db, e.key.to_vec()), d);
                assert!(prev.is_none(), "duplicate key {:?} in db {}", e.key, e.db);
            }
            Record::Function { code } => functions.push(String::from_utf8(code).unwrap()),
            Record::Eof { .. } => saw_eof = true,
            _ => {}
        }
    }
    assert!(saw_eof, "no EOF record");
    (keys, functions)
}

fn hex_decode(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A JSON byte string: text or `{"hex": ...}`.
fn jbytes(v: &Json) -> Vec<u8> {
    match v {
        Json::String(s) => s.as_bytes().to_vec(),
        Json::Object(o) if o.contains_key("hex") => hex_decode(o["hex"].as_str().unwrap()),
        other => panic!("not a byte string: {other}"),
    }
}

fn jscore(v: &Json) -> f64 {
    match v {
        Json::String(s) if s == "inf" => f64::INFINITY,
        Json::String(s) if s == "-inf" => f64::NEG_INFINITY,
        Json::Number(n) => n.as_f64().unwrap(),
        other => panic!("not a score: {other}"),
    }
}

fn sid(s: &str) -> StreamId {
    let (ms, seq) = s.split_once('-').expect("stream id");
    StreamId {
        ms: ms.parse().unwrap(),
        seq: seq.parse().unwrap(),
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(80)]).into_owned()
}

/// The type byte Redis 7.0 writes for a value of this type and `OBJECT ENCODING`.
fn type_byte_for(ty: &str, encoding: &str) -> u8 {
    match (ty, encoding) {
        ("string", _) => 0,
        ("list", "quicklist") => 18,
        ("set", "intset") => 11,
        ("set", "hashtable") => 2,
        ("set", "listpack") => 20,
        ("zset", "listpack") => 17,
        ("zset", "skiplist") => 5,
        ("hash", "listpack") => 16,
        ("hash", "hashtable") => 4,
        ("stream", "stream") => 19,
        other => panic!("unexpected type/encoding {other:?}"),
    }
}

fn compare_stream(ctx: &str, s: &Stream, exp: &Json) -> Vec<String> {
    let mut errs = Vec::new();
    let entries: Vec<(String, Vec<Vec<u8>>)> = s
        .entries
        .iter()
        .map(|e| {
            let flat = e
                .fields
                .iter()
                .flat_map(|(f, v)| [f.clone(), v.clone()])
                .collect();
            (e.id.to_string(), flat)
        })
        .collect();
    let want: Vec<(String, Vec<Vec<u8>>)> = exp["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let id = e[0].as_str().unwrap().to_string();
            (id, e[1].as_array().unwrap().iter().map(jbytes).collect())
        })
        .collect();
    if entries != want {
        errs.push(format!(
            "{ctx}: stream entries differ ({} vs {} expected)",
            entries.len(),
            want.len()
        ));
    }
    let m = &exp["stream"];
    let meta = &s.meta;
    let checks = [
        (
            "length",
            Some(meta.length.to_string()),
            m["length"].to_string(),
        ),
        (
            "last-generated-id",
            Some(meta.last_id.to_string()),
            m["last-generated-id"].as_str().unwrap().to_string(),
        ),
        (
            "max-deleted-entry-id",
            meta.max_deleted_id.map(|x| x.to_string()),
            m["max-deleted-entry-id"].as_str().unwrap().to_string(),
        ),
        (
            "entries-added",
            meta.entries_added.map(|x| x.to_string()),
            m["entries-added"].to_string(),
        ),
        (
            "recorded-first-entry-id",
            meta.first_id.map(|x| x.to_string()),
            m["recorded-first-entry-id"].as_str().unwrap().to_string(),
        ),
    ];
    for (name, got, want) in checks {
        if got.as_deref() != Some(want.as_str()) {
            errs.push(format!("{ctx}: stream {name} {got:?}, server says {want}"));
        }
    }
    let groups = exp["groups"].as_array().unwrap();
    if groups.len() != s.groups.len() {
        errs.push(format!(
            "{ctx}: {} groups, server says {}",
            s.groups.len(),
            groups.len()
        ));
        return errs;
    }
    let by_name: BTreeMap<Vec<u8>, &ConsumerGroup> =
        s.groups.iter().map(|g| (g.name.clone(), g)).collect();
    for g in groups {
        let name = jbytes(&g["name"]);
        let Some(got) = by_name.get(&name) else {
            errs.push(format!("{ctx}: group {} missing", show(&name)));
            continue;
        };
        let gctx = format!("{ctx} group {}", show(&name));
        if got.last_id != sid(g["last-delivered-id"].as_str().unwrap()) {
            errs.push(format!(
                "{gctx}: last-delivered-id {} vs {}",
                got.last_id, g["last-delivered-id"]
            ));
        }
        // XINFO GROUPS reports entries-read as null when the server keeps it invalid (-1).
        let er = got.entries_read.map(|x| x as i64).filter(|&x| x >= 0);
        if er != g["entries-read"].as_i64() {
            errs.push(format!(
                "{gctx}: entries-read {:?} vs {}",
                got.entries_read, g["entries-read"]
            ));
        }
        if got.pending.len() as u64 != g["pending"].as_u64().unwrap() {
            errs.push(format!(
                "{gctx}: {} pending, server says {}",
                got.pending.len(),
                g["pending"]
            ));
        }
        // Consumers and their pending counts.
        let want_cons: BTreeMap<Vec<u8>, u64> = g["consumers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (jbytes(&c["name"]), c["pending"].as_u64().unwrap()))
            .collect();
        let got_cons: BTreeMap<Vec<u8>, u64> = got
            .consumers
            .iter()
            .map(|c| (c.name.clone(), c.pending.len() as u64))
            .collect();
        if want_cons != got_cons {
            errs.push(format!("{gctx}: consumers differ"));
        }
        // The PEL: id, owner, delivery count.
        let owner: BTreeMap<StreamId, Vec<u8>> = got
            .consumers
            .iter()
            .flat_map(|c| c.pending.iter().map(move |id| (*id, c.name.clone())))
            .collect();
        let got_pel: Vec<(StreamId, Vec<u8>, u64)> = got
            .pending
            .iter()
            .map(|p| {
                (
                    p.id,
                    owner.get(&p.id).cloned().unwrap_or_default(),
                    p.delivery_count,
                )
            })
            .collect();
        let want_pel: Vec<(StreamId, Vec<u8>, u64)> = g["pel"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    sid(p[0].as_str().unwrap()),
                    jbytes(&p[1]),
                    p[2].as_u64().unwrap(),
                )
            })
            .collect();
        if got_pel != want_pel {
            errs.push(format!("{gctx}: PEL differs: {got_pel:?} vs {want_pel:?}"));
        }
    }
    errs
}

/// Compares one decoded key with the server's line; returns the differences.
fn compare(ctx: &str, d: &Decoded, exp: &Json) -> Vec<String> {
    let mut errs = Vec::new();
    let ty = exp["type"].as_str().unwrap();
    if d.value.value_type().name() != ty {
        return vec![format!(
            "{ctx}: type {} but the server says {ty}",
            d.value.value_type().name()
        )];
    }
    let want_tb = type_byte_for(ty, exp["encoding"].as_str().unwrap());
    if d.type_byte != want_tb {
        errs.push(format!(
            "{ctx}: type byte {} for encoding {}, expected {want_tb}",
            d.type_byte, exp["encoding"]
        ));
    }
    let ev = &exp["value"];
    match &d.value {
        Value::String(s) => {
            let ok = match ev {
                Json::Object(o) if o.contains_key("crc64") => {
                    s.len() as u64 == o["len"].as_u64().unwrap()
                        && format!("{:016x}", CRC64.checksum(s)) == o["crc64"].as_str().unwrap()
                }
                _ => *s == jbytes(ev),
            };
            if !ok {
                errs.push(format!(
                    "{ctx}: string value differs ({} bytes: {})",
                    s.len(),
                    show(s)
                ));
            }
        }
        Value::List(l) => {
            let want: Vec<Vec<u8>> = ev.as_array().unwrap().iter().map(jbytes).collect();
            if *l != want {
                errs.push(format!(
                    "{ctx}: list differs ({} vs {} elements)",
                    l.len(),
                    want.len()
                ));
            }
        }
        Value::Set(m) => {
            let got: BTreeSet<Vec<u8>> = m.iter().cloned().collect();
            let want: BTreeSet<Vec<u8>> = ev.as_array().unwrap().iter().map(jbytes).collect();
            if got != want || m.len() != want.len() {
                errs.push(format!(
                    "{ctx}: set differs ({} vs {} members)",
                    m.len(),
                    want.len()
                ));
            }
        }
        Value::Zset(z) => {
            // Rank order: by score, then member bytes (what ZRANGE returns).
            let mut got = z.clone();
            got.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            let want: Vec<(Vec<u8>, f64)> = ev
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (jbytes(&p[0]), jscore(&p[1])))
                .collect();
            let same = got.len() == want.len()
                && got.iter().zip(&want).all(|(a, b)| a.0 == b.0 && a.1 == b.1);
            if !same {
                errs.push(format!("{ctx}: zset differs: {got:?} vs {want:?}"));
            }
        }
        Value::Hash(h) => {
            let got: BTreeSet<(Vec<u8>, Vec<u8>)> = h
                .iter()
                .map(|f| (f.field.clone(), f.value.clone()))
                .collect();
            let want: BTreeSet<(Vec<u8>, Vec<u8>)> = ev
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (jbytes(&p[0]), jbytes(&p[1])))
                .collect();
            if got != want || h.len() != want.len() {
                errs.push(format!(
                    "{ctx}: hash differs ({} vs {} fields)",
                    h.len(),
                    want.len()
                ));
            }
            if h.iter().any(|f| f.expire_ms.is_some()) && exp.get("field_expire_ms").is_none() {
                errs.push(format!("{ctx}: field TTLs the server does not report"));
            }
        }
        Value::Stream(s) => errs.extend(compare_stream(ctx, s, exp)),
        other => errs.push(format!("{ctx}: unexpected value {other:?}")),
    }
    let want_exp = exp.get("expire_ms").and_then(Json::as_i64);
    if d.expire_ms != want_exp {
        errs.push(format!(
            "{ctx}: expire_ms {:?}, server says {want_exp:?}",
            d.expire_ms
        ));
    }
    if let Some(f) = exp.get("lfu_freq") {
        if d.lfu_freq.map(u64::from) != f.as_u64() {
            errs.push(format!("{ctx}: LFU freq {:?}, server says {f}", d.lfu_freq));
        }
    }
    if let Some(i) = exp.get("lru_idle") {
        // OBJECT IDLETIME was read just before SAVE; the LRU clock ticks in whole seconds.
        let want = i.as_u64().unwrap();
        match d.lru_idle {
            Some(got) if got.abs_diff(want) <= 2 => {}
            got => errs.push(format!(
                "{ctx}: LRU idle {got:?}, server said {want} just before SAVE"
            )),
        }
    }
    errs
}

fn expected_lines(rdb: &Path) -> Vec<Json> {
    let p = rdb.with_extension("expected.jsonl");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl line"))
        .collect()
}

#[test]
fn generated_files_decode_to_what_the_server_returned() {
    let mut failures = Vec::new();
    for path in generated_rdbs() {
        let name = short(&path);
        let data = std::fs::read(&path).unwrap();
        let (keys, functions) = decode_all(&data);
        let lines = expected_lines(&path);
        let mut seen = BTreeSet::new();
        for exp in &lines {
            let db = exp["db"].as_u64().unwrap();
            let key = jbytes(&exp["key"]);
            let ctx = format!("{name}: db {db} key {:?}", show(&key));
            seen.insert((db, key.clone()));
            match keys.get(&(db, key)) {
                None => failures.push(format!("{ctx}: missing from the decoded file")),
                Some(d) => failures.extend(compare(&ctx, d, exp)),
            }
        }
        for (db, k) in keys.keys() {
            if !seen.contains(&(*db, k.clone())) {
                failures.push(format!(
                    "{name}: db {db} key {:?} decoded but not on the server",
                    show(k)
                ));
            }
        }
        // Function libraries: the exact code FUNCTION LIST WITHCODE returned.
        let fpath = path.with_extension("functions.json");
        let fjson: Json = serde_json::from_str(&std::fs::read_to_string(&fpath).unwrap()).unwrap();
        let want: BTreeSet<String> = fjson
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["library_code"].as_str().unwrap().to_string())
            .collect();
        let got: BTreeSet<String> = functions.iter().cloned().collect();
        if got != want || functions.len() != want.len() {
            failures.push(format!(
                "{name}: function libraries differ: {got:?} vs {want:?}"
            ));
        }
        // The checker agrees: valid, key count, checksum state.
        let report = check_rdb(&data, 0, CheckOptions::default());
        if !report.ok {
            failures.push(format!("{name}: check_rdb rejects it: {:?}", report.error));
        }
        if report.keys != lines.len() as u64 {
            failures.push(format!(
                "{name}: check_rdb counts {} keys, server had {}",
                report.keys,
                lines.len()
            ));
        }
        let stored = u64::from_le_bytes(data[data.len() - 8..].try_into().unwrap());
        let want_ck = if stored == 0 {
            ChecksumStatus::NotComputed
        } else {
            ChecksumStatus::Verified {
                crc: CRC64.checksum(&data[..data.len() - 8]),
            }
        };
        if report.checksum != want_ck {
            failures.push(format!(
                "{name}: checksum {:?}, expected {want_ck:?}",
                report.checksum
            ));
        }
        eprintln!("{name}: {} keys compared", lines.len());
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Reads an RDB length (6/14/32-bit forms) at `*p`; `None` for a special encoding.
fn rdb_len(raw: &[u8], p: &mut usize) -> Option<u64> {
    let b = raw[*p];
    *p += 1;
    match b >> 6 {
        0 => Some((b & 0x3f) as u64),
        1 => {
            *p += 1;
            Some((((b & 0x3f) as u64) << 8) | raw[*p - 1] as u64)
        }
        _ if b == 0x80 => {
            *p += 4;
            Some(u32::from_be_bytes(raw[*p - 4..*p].try_into().unwrap()) as u64)
        }
        _ => None,
    }
}

/// The container of each node of a quicklist-v2 value (1 = PLAIN, 2 = PACKED), read with a
/// minimal walker of its own.
fn quicklist_containers(raw: &[u8]) -> Vec<u64> {
    let mut p = 0;
    let n = rdb_len(raw, &mut p).unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(rdb_len(raw, &mut p).unwrap());
        match rdb_len(raw, &mut p) {
            Some(len) => p += len as usize,
            None => {
                // LZF: compressed length, uncompressed length, data.
                let clen = rdb_len(raw, &mut p).unwrap();
                rdb_len(raw, &mut p).unwrap();
                p += clen as usize;
            }
        }
    }
    assert_eq!(p, raw.len());
    out
}

/// The fixtures really exercise what they claim (so a regenerated set cannot silently lose
/// coverage): every type byte Redis 7.0 writes, int/LZF/raw strings, expiries, several dbs,
/// stream groups with PELs, LFU and LRU metadata, both checksum states.
#[test]
fn generated_files_cover_every_encoding() {
    let files = generated_rdbs();
    let names: Vec<String> = files.iter().map(|p| short(p)).collect();
    for v in ["all", "nocompress", "nochecksum", "lfu", "lru"] {
        assert!(
            names.iter().any(|n| n.ends_with(&format!("-{v}.rdb"))),
            "no {v} fixture in {names:?}"
        );
    }
    let mut type_bytes = BTreeSet::new();
    let mut string_forms = BTreeSet::new();
    let mut dbs = BTreeSet::new();
    let (mut expires, mut lfu, mut lru, mut pels, mut big) = (0, 0, 0, 0, 0);
    let mut plain_nodes = 0usize;
    for path in &files {
        let data = std::fs::read(path).unwrap();
        for item in RdbReader::new(&data) {
            if let Record::Entry(e) = item.unwrap().record {
                dbs.insert(e.db);
                type_bytes.insert(e.value.type_byte());
                expires += e.expire_ms.is_some() as u32;
                lfu += e.lfu_freq.is_some() as u32;
                lru += e.lru_idle.is_some() as u32;
                let raw = e.value.raw();
                if e.value.type_byte() == 0 {
                    string_forms.insert(match raw[0] >> 6 {
                        3 => ["int8", "int16", "int32", "lzf"][(raw[0] & 3) as usize],
                        2 => "raw-32bit-len",
                        1 => "raw-14bit-len",
                        _ => "raw-6bit-len",
                    });
                }
                if raw.len() >= 1 << 20 {
                    big += 1;
                }
                if e.value.type_byte() == 18 {
                    plain_nodes += quicklist_containers(raw)
                        .iter()
                        .filter(|&&c| c == 1)
                        .count();
                }
                if let Ok(Value::Stream(s)) = e.value.materialize() {
                    pels += s.groups.iter().map(|g| g.pending.len()).sum::<usize>();
                }
            }
        }
    }
    for tb in [0u8, 2, 4, 5, 11, 16, 17, 18, 19] {
        assert!(
            type_bytes.contains(&tb),
            "no value of type byte {tb} (have {type_bytes:?})"
        );
    }
    for f in [
        "int8",
        "int16",
        "int32",
        "lzf",
        "raw-6bit-len",
        "raw-14bit-len",
        "raw-32bit-len",
    ] {
        assert!(
            string_forms.contains(f),
            "no {f} string (have {string_forms:?})"
        );
    }
    assert_eq!(dbs, BTreeSet::from([0, 1, 5, 15]));
    assert!(
        expires >= 20 && lfu >= 50 && lru >= 50 && pels >= 10,
        "{expires} {lfu} {lru} {pels}"
    );
    assert!(
        big >= 1 && plain_nodes >= 2,
        "1 MB strings: {big}, plain quicklist nodes: {plain_nodes}"
    );
}

/// Loading each fixture into the installed redis-server reproduces the digest recorded when
/// it was saved.
#[test]
fn generated_files_load_in_redis_with_the_recorded_digest() {
    if !common::have_redis() {
        return;
    }
    for path in generated_rdbs() {
        let want = std::fs::read_to_string(path.with_extension("digest")).unwrap();
        let got = common::digest_of_rdb(&path)
            .unwrap_or_else(|log| panic!("{}: redis-server refused it:\n{log}", short(&path)));
        assert_eq!(
            got,
            want.trim(),
            "{}: DEBUG DIGEST after loading",
            short(&path)
        );
    }
}
