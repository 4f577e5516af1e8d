//! Replays the fuzz seed corpus (`fuzz/corpus/<target>/`) and every regression input
//! (`fixtures/regressions/<target>/`) through the same entry points the libFuzzer targets call
//! (the `redsafe-fuzz-harness` crate in `fuzz/harness`), with the same counting allocator, so
//! a plain `cargo test` catches regressions without a fuzzer. Also runs a few thousand deterministic mutations of the seeds
//! per target, and `rdb_file` over every whole RDB in `../shared/fixtures`.
//!
//! `cargo test --test fuzz_replay -- --ignored regenerate_seed_corpus` rebuilds the seed corpus
//! from `../shared/fixtures` (see the README's Fuzzing section).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use redsafe_fuzz_harness::{self as fuzzing, CountingAlloc, TARGETS};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// An input running longer than this is taken for an infinite loop: the process aborts,
/// naming it (a hang cannot be caught any other way).
const HANG: Duration = Duration::from_secs(120);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.expect("read_dir entry").path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Inputs in flight per test thread, checked by the watchdog.
fn in_flight() -> &'static Mutex<BTreeMap<String, (String, Instant)>> {
    static M: OnceLock<Mutex<BTreeMap<String, (String, Instant)>>> = OnceLock::new();
    M.get_or_init(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_secs(1));
            let m = in_flight().lock().unwrap_or_else(|e| e.into_inner());
            for (name, t0) in m.values() {
                if t0.elapsed() > HANG {
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "fuzz_replay: {name} has run for over {HANG:?}: infinite loop?"
                    );
                    std::process::abort();
                }
            }
        });
        Mutex::new(BTreeMap::new())
    })
}

/// Runs one input; returns a description of the failure, with the input in hex.
fn run_one(target: &str, f: fn(&[u8]), name: &str, data: &[u8]) -> Result<(), String> {
    let me = format!("{:?}", std::thread::current().id());
    in_flight()
        .lock()
        .unwrap()
        .insert(me.clone(), (format!("{target} {name}"), Instant::now()));
    let r = catch_unwind(AssertUnwindSafe(|| f(data)));
    in_flight().lock().unwrap().remove(&me);
    r.map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("(non-string panic)");
        let shown = &data[..data.len().min(4096)];
        format!(
            "{target} {name}: {msg}\n  input ({} bytes{}): {}",
            data.len(),
            if shown.len() < data.len() {
                ", first 4096 shown"
            } else {
                ""
            },
            fuzzing::hex(shown)
        )
    })
}

fn report(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failing input(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn counting_allocator_is_installed_and_enforced() {
    // Within budget: fine.
    fuzzing::with_alloc_budget(1000, || std::hint::black_box(vec![0u8; 64_000]));
    assert!(fuzzing::counting_alloc_installed());
    // Over budget (64 × 10 + 1 MiB): the run fails after the fact.
    let r = catch_unwind(|| {
        fuzzing::with_alloc_budget(10, || std::hint::black_box(vec![0u8; 2 << 20]));
    });
    let msg = *r
        .expect_err("over-budget allocation not reported")
        .downcast::<String>()
        .unwrap();
    assert!(msg.contains("exceeds the budget"), "{msg}");
    // Outside a budgeted run nothing is limited.
    std::hint::black_box(vec![0u8; 2 << 20]);
}

/// An RDB string encoded as LZF: `0xC3`, compressed length, uncompressed length, the bytes.
fn lzf_string(comp: &[u8], ulen: u64) -> Vec<u8> {
    let mut v = vec![0xC3];
    fuzzing::push_len(&mut v, comp.len() as u64);
    fuzzing::push_len(&mut v, ulen);
    v.extend_from_slice(comp);
    v
}

/// The LZF bound of the allocation budget, on hand-made strings: each counted once, side by
/// side summed, one nested in another's compressed bytes not added to it, a claim beyond the
/// decoder's cap (140 × 1 + 64 bytes for one compressed byte) or a cut string not counted.
#[test]
fn lzf_bound_on_hand_made_strings() {
    let one = lzf_string(b"abc", 10);
    assert_eq!(fuzzing::lzf_inflatable(&one), 10);
    assert_eq!(
        fuzzing::lzf_inflatable(&[one.clone(), one.clone()].concat()),
        20
    );
    assert_eq!(fuzzing::lzf_inflatable(&lzf_string(b"x", 204)), 204);
    assert_eq!(fuzzing::lzf_inflatable(&lzf_string(b"x", 205)), 0);
    let outer = lzf_string(&lzf_string(b"xyz", 50), 20);
    assert_eq!(fuzzing::lzf_inflatable(&outer), 50);
    assert_eq!(fuzzing::lzf_inflatable(&one[..one.len() - 1]), 0);
    assert_eq!(fuzzing::lzf_inflatable(b"\xc3"), 0);
}

/// A string that inflates far beyond 64 × its file: 8 MiB of one byte compressed by the
/// independent `lzf` crate into a ~100 KiB RDB that redis-check-rdb accepts. The budget
/// without the LZF bound would refuse the decoder's 8 MiB buffer; with it, `rdb_file` passes.
#[test]
fn lzf_inflation_counts_as_data() {
    let big = vec![b'a'; 8 << 20];
    let comp = lzf::compress(&big).expect("compressible");
    let mut rdb = b"REDIS0009\xfe\x00\x00\x01k".to_vec();
    rdb.extend_from_slice(&lzf_string(&comp, big.len() as u64));
    rdb.push(0xff);
    rdb.extend_from_slice(&[0; 8]); // checksum not computed
    assert!(
        fuzzing::alloc_limit(rdb.len()) < big.len(),
        "the test needs a string the input length alone does not allow"
    );
    assert!(fuzzing::lzf_inflatable(&rdb) >= big.len());
    let dir = common::TempDir::new("fuzz-lzf");
    let path = dir.path().join("big.rdb");
    std::fs::write(&path, &rdb).unwrap();
    let o = std::process::Command::new("redis-check-rdb")
        .arg(&path)
        .output()
        .expect("redis-check-rdb (redis-tools) is installed");
    assert!(
        o.status.success(),
        "redis-check-rdb rejects the test file: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    run_one("rdb_file", fuzzing::rdb_file, "8 MiB LZF string", &rdb).unwrap();
}

/// The LZF bound covers every LZF string value real servers wrote (each value stored as one
/// RDB string: plain strings, ziplists, listpacks, intsets, zipmaps).
#[test]
fn lzf_bound_covers_the_fixtures_strings() {
    use redsafe::rdb::cursor::{Cursor, RdbStr};
    use redsafe::rdb::format::T_HASH_LISTPACK_EX;
    use redsafe::rdb::{Dialect, RdbReader, Record};
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let mut files_with_lzf = 0;
    for p in shared_rdbs(&shared) {
        let data = std::fs::read(&p).unwrap();
        let mut real = 0usize;
        for item in RdbReader::new(&data) {
            let Ok(item) = item else { break };
            let Record::Entry(e) = item.record else {
                continue;
            };
            let v = e.value;
            let t = v.type_byte();
            if !seeds::is_string_like(t) || (t > 21 && v.ctx().dialect != Dialect::Redis) {
                continue;
            }
            let skip = if t == T_HASH_LISTPACK_EX { 8 } else { 0 };
            let Some(raw) = v.raw().get(skip..) else {
                continue;
            };
            if let Ok(RdbStr::Lzf { ulen, .. }) = Cursor::new(raw, 0).string("a value") {
                real += ulen as usize;
            }
        }
        if real > 0 {
            files_with_lzf += 1;
        }
        let bound = fuzzing::lzf_inflatable(&data);
        assert!(
            bound >= real,
            "{}: LZF bound {bound} below the {real} bytes its strings inflate to",
            p.display()
        );
    }
    assert!(files_with_lzf > 0, "no fixture has an LZF string value");
}

#[test]
fn every_target_has_a_seed_corpus() {
    for (target, _) in TARGETS {
        let n = files_in(&root().join("fuzz/corpus").join(target)).len();
        assert!(n > 0, "fuzz/corpus/{target} is empty");
    }
}

#[test]
fn replay_seed_corpus() {
    let mut failures = Vec::new();
    for &(target, f) in TARGETS {
        for p in files_in(&root().join("fuzz/corpus").join(target)) {
            let data = std::fs::read(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if let Err(e) = run_one(target, f, &name, &data) {
                failures.push(e);
            }
        }
    }
    report(failures);
}

#[test]
fn replay_regressions() {
    let dir = root().join("fixtures/regressions");
    let known: BTreeSet<&str> = TARGETS.iter().map(|t| t.0).collect();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                assert!(
                    known.contains(name.as_str()),
                    "regressions for unknown target {name}"
                );
            }
        }
    }
    let mut failures = Vec::new();
    for &(target, f) in TARGETS {
        for p in files_in(&dir.join(target)) {
            let data = std::fs::read(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if let Err(e) = run_one(target, f, &name, &data) {
                failures.push(e);
            }
        }
    }
    report(failures);
}

#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    const INTERESTING: &[u8] = &[
        0, 1, 2, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xc0, 0xc3, 0xfe, 0xff,
    ];
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            3 => v.truncate(rng.below(len + 1)),
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                v.drain(a..b);
            }
            5 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(32)).min(len);
                let chunk = v[a..b].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, chunk);
            }
            _ => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(4);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
        }
    }
    v
}

/// A few thousand deterministic mutations of the seeds per target (more with
/// `REDSAFE_FUZZ_SMOKE=N`, N per target).
#[test]
fn mutated_seeds_smoke() {
    let per_target: usize = std::env::var("REDSAFE_FUZZ_SMOKE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 500 } else { 3000 });
    let mut failures = Vec::new();
    for &(target, f) in TARGETS {
        let seeds: Vec<Vec<u8>> = files_in(&root().join("fuzz/corpus").join(target))
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        if seeds.is_empty() {
            continue;
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
        for i in 0..per_target {
            let seed = &seeds[i % seeds.len()];
            let input = mutate(&mut rng, seed);
            if let Err(e) = run_one(target, f, &format!("mutation {i}"), &input) {
                // REDSAFE_FUZZ_SAVE=DIR keeps failing inputs (to add to fixtures/regressions).
                if let Some(dir) = std::env::var_os("REDSAFE_FUZZ_SAVE") {
                    let d = Path::new(&dir).join(target);
                    std::fs::create_dir_all(&d).unwrap();
                    std::fs::write(d.join(format!("smoke-mutation-{i}")), &input).unwrap();
                }
                failures.push(e);
                if failures.len() >= 5 {
                    break;
                }
            }
        }
    }
    report(failures);
}

fn shared_rdbs(shared: &Path) -> Vec<PathBuf> {
    let fx = shared.join("fixtures");
    let mut v = Vec::new();
    for d in common::server_fixture_dirs() {
        v.push(d.join("dump.rdb"));
        v.extend(
            files_in(&d.join("appendonlydir"))
                .into_iter()
                .filter(|p| p.to_string_lossy().ends_with(".base.rdb")),
        );
    }
    let multi: Vec<PathBuf> = std::fs::read_dir(fx.join("multi-incr"))
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    for d in multi {
        v.extend(
            files_in(&d.join("appendonlydir"))
                .into_iter()
                .filter(|p| p.to_string_lossy().ends_with(".base.rdb")),
        );
    }
    v.extend(files_in(&fx.join("redis-assets")));
    v.retain(|p| p.is_file());
    v.sort();
    v.dedup();
    v
}

/// `rdb_file` over every whole RDB written by a real server (and Redis's own test assets,
/// some of them corrupt): the checker and the reader must agree on all of them.
#[test]
fn rdb_file_on_shared_fixtures() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let files = shared_rdbs(&shared);
    assert!(
        files.len() >= 20,
        "expected the server fixtures, found {files:?}"
    );
    let mut failures = Vec::new();
    for p in files {
        let data = std::fs::read(&p).unwrap();
        if let Err(e) = run_one(
            "rdb_file",
            fuzzing::rdb_file,
            &p.display().to_string(),
            &data,
        ) {
            failures.push(e);
        }
    }
    report(failures);
}

// -------------------------------------------------------------------------------------------
// Seed corpus generation (run by hand; its output is committed).

mod seeds {
    use std::collections::BTreeMap;

    use redsafe::rdb::crc::crc64;
    use redsafe::rdb::cursor::{Cursor, RdbStr};
    use redsafe::rdb::format::*;
    use redsafe::rdb::{Dialect, RdbReader, Record, ValueHandle};
    use std::path::Path;

    /// Type byte, has an expiry, string encoding tag.
    type Shape = (u8, bool, Option<u8>);

    /// The shape of an entry, for choosing one small example of each.
    fn shape(e: &redsafe::rdb::Entry<'_>) -> Shape {
        let v = e.value;
        let raw = v.raw();
        let skip = if v.type_byte() == T_HASH_LISTPACK_EX {
            8
        } else {
            0
        };
        let enc = match raw.get(skip) {
            Some(&b) if b >> 6 == 3 && is_string_like(v.type_byte()) => Some(b & 0x3f),
            _ => None,
        };
        (v.type_byte(), e.expire_ms.is_some(), enc)
    }

    /// Type bytes whose value is one RDB string (T_HASH_LISTPACK_EX after its 8-byte TTL).
    pub fn is_string_like(t: u8) -> bool {
        matches!(
            t,
            T_STRING
                | T_HASH_ZIPMAP
                | T_LIST_ZIPLIST
                | T_SET_INTSET
                | T_ZSET_ZIPLIST
                | T_HASH_ZIPLIST
                | T_HASH_LISTPACK
                | T_ZSET_LISTPACK
                | T_SET_LISTPACK
                | T_HASH_LISTPACK_EX
        )
    }

    /// A small RDB with the same header and non-key records as `data` and the smallest key
    /// of each shape (type byte, expiry or not, string encoding), ending with a fresh CRC.
    pub fn minimise_rdb(data: &[u8]) -> Option<Vec<u8>> {
        let mut r = RdbReader::new(data);
        let mut spans: Vec<(usize, usize, Option<Shape>)> = Vec::new();
        let mut prev = 0usize;
        let mut version = 0;
        let mut zero_crc = false;
        while let Some(item) = r.next() {
            let item = item.ok()?;
            let end = r.offset() as usize;
            match &item.record {
                Record::Header(h) => {
                    version = h.version;
                    spans.push((prev, end, None));
                }
                Record::Entry(e) => spans.push((prev, end, Some(shape(e)))),
                Record::Eof { checksum, .. } => {
                    zero_crc = *checksum == Some(0);
                    break;
                }
                _ => spans.push((prev, end, None)),
            }
            prev = end;
        }
        let mut best: BTreeMap<Shape, (usize, usize)> = BTreeMap::new();
        for (i, &(a, b, s)) in spans.iter().enumerate() {
            if let Some(s) = s {
                let e = best.entry(s).or_insert((i, b - a));
                if b - a < e.1 {
                    *e = (i, b - a);
                }
            }
        }
        let keep: std::collections::BTreeSet<usize> = best.values().map(|v| v.0).collect();
        let mut out = Vec::new();
        for (i, &(a, b, s)) in spans.iter().enumerate() {
            if s.is_none() || keep.contains(&i) {
                out.extend_from_slice(&data[a..b]);
            }
        }
        out.push(OP_EOF);
        if version >= FIRST_CHECKSUM_VERSION {
            let crc = if zero_crc { 0 } else { crc64(&out) };
            out.extend_from_slice(&crc.to_le_bytes());
        }
        Some(out)
    }

    /// The same file with the `VALKEY080` magic (what Valkey 9 writes for this content).
    pub fn as_valkey9(data: &[u8]) -> Vec<u8> {
        let mut out = b"VALKEY080".to_vec();
        out.extend_from_slice(&data[9..data.len() - 8]);
        let crc = crc64(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// The inner blob of a value, for the `rdb_value` wrap mode: the ziplist/listpack/intset/
    /// zipmap string, the first quicklist node, the first stream node listpack, the module
    /// opcodes, or `[ulen u16][compressed]` for an LZF string.
    pub fn inner_blob(v: &ValueHandle<'_>) -> Option<Vec<u8>> {
        let t = v.type_byte();
        let mut c = Cursor::new(v.raw(), 0);
        match t {
            T_STRING => {
                let s = c.string("s").ok()?;
                match s {
                    RdbStr::Lzf { data, ulen, .. } if ulen < 65536 => {
                        let mut out = (ulen as u16).to_le_bytes().to_vec();
                        out.extend_from_slice(data);
                        Some(out)
                    }
                    _ => None,
                }
            }
            T_MODULE_2 => {
                c.len("id").ok()?;
                Some(c.rest().to_vec())
            }
            T_LIST_QUICKLIST | T_LIST_QUICKLIST_2 => {
                c.len("n").ok()?;
                if t == T_LIST_QUICKLIST_2 && c.len("container").ok()? != QUICKLIST_NODE_PACKED {
                    return None;
                }
                c.string("node").ok()?.to_vec().ok()
            }
            T_STREAM_LISTPACKS..=T_STREAM_LISTPACKS_5
                if redsafe::rdb::value::value_type_of(v.ctx().dialect, t)
                    == Some(redsafe::rdb::ValueType::Stream) =>
            {
                c.len("n").ok()?;
                c.string("key").ok()?;
                c.string("lp").ok()?.to_vec().ok()
            }
            _ if is_string_like(t) => {
                if t == T_HASH_LISTPACK_EX {
                    c.skip(8, "min").ok()?;
                }
                c.string("blob").ok()?.to_vec().ok()
            }
            _ => None,
        }
    }

    /// Every AOF command stream in the fixtures: (label, the RESP part of the file).
    fn aof_streams(shared: &Path) -> Vec<(String, Vec<u8>)> {
        let fx = shared.join("fixtures");
        let mut files = Vec::new();
        for d in ["servers", "multi-incr"] {
            for sd in std::fs::read_dir(fx.join(d)).unwrap() {
                let sd = sd.unwrap().path();
                files.push(sd.join("appendonly.aof"));
                for f in super::files_in(&sd.join("appendonlydir")) {
                    if f.to_string_lossy().ends_with(".aof") {
                        files.push(f);
                    }
                }
            }
        }
        files.push(fx.join("redis-assets/rdb-preamble.aof"));
        files.retain(|p| p.is_file());
        files.sort();
        let mut out = Vec::new();
        for p in files {
            let data = std::fs::read(&p).unwrap();
            let start = if data.starts_with(b"REDIS") {
                let r = redsafe::rdb::check_rdb(&data, 0, Default::default());
                r.end_offset.unwrap_or(data.len() as u64) as usize
            } else {
                0
            };
            let rel = p
                .strip_prefix(&fx)
                .unwrap()
                .to_string_lossy()
                .replace('/', "_");
            out.push((rel, data[start..].to_vec()));
        }
        out
    }

    /// `resp` seeds: from every fixture AOF, the first records, the records around the first
    /// MULTI, SELECT and FLUSHALL, and the last records (about 2 KiB each), plus cuts inside a
    /// record; `manifest` seeds: every fixture manifest and a few with Redis's quoting.
    pub fn aof_seeds(shared: &Path) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, Vec<u8>>) {
        use redsafe::aof::{AofItem, AofReader};
        let mut resp = BTreeMap::new();
        for (label, data) in aof_streams(shared) {
            let mut recs: Vec<(usize, usize, Vec<u8>)> = Vec::new();
            for item in AofReader::new(&data, 0) {
                let Ok(item) = item else { break };
                let name = match &item {
                    AofItem::Command(c) => c.name().to_ascii_lowercase(),
                    AofItem::Annotation(_) => b"#".to_vec(),
                };
                recs.push((item.offset() as usize, item.end() as usize, name));
            }
            if recs.is_empty() {
                continue;
            }
            let window = |from: usize| -> Vec<u8> {
                let start = recs[from].0;
                let mut end = start;
                for r in &recs[from..] {
                    if r.1 - start > 2048 && end > start {
                        break;
                    }
                    end = r.1;
                }
                data[start..end].to_vec()
            };
            resp.insert(format!("{label}-head"), window(0));
            for (tag, name) in [
                ("multi", &b"multi"[..]),
                ("select", b"select"),
                ("flushall", b"flushall"),
            ] {
                if let Some(i) = recs.iter().position(|r| r.2 == name) {
                    resp.insert(format!("{label}-{tag}"), window(i.saturating_sub(1)));
                }
            }
            let tail_from = recs
                .iter()
                .rposition(|r| data.len() - r.0 > 2048)
                .map_or(0, |i| i + 1);
            resp.insert(
                format!("{label}-tail"),
                window(tail_from.min(recs.len() - 1)),
            );
            let head = window(0);
            if head.len() > 40 {
                resp.insert(format!("{label}-cut"), head[..head.len() - 7].to_vec());
            }
        }
        let mut manifests = BTreeMap::new();
        let fx = shared.join("fixtures");
        for d in ["servers", "multi-incr"] {
            for sd in std::fs::read_dir(fx.join(d)).unwrap() {
                let p = sd
                    .unwrap()
                    .path()
                    .join("appendonlydir/appendonly.aof.manifest");
                if let Ok(m) = std::fs::read(&p) {
                    let label = p
                        .strip_prefix(&fx)
                        .unwrap()
                        .to_string_lossy()
                        .replace('/', "_");
                    manifests.insert(label, m);
                }
            }
        }
        let extra: [(&str, &[u8]); 4] = [
            ("quoted-name", b"file \" file seq \\n\\n.aof .2.base.rdb\" seq 2 type b\nfile 'a b\\'c' seq 3 type i\n"),
            ("history-and-comment", b"# written by hand\nfile appendonly.aof.1.base.rdb seq 1 type h\nfile appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.2.incr.aof seq 2 type i\n"),
            ("hex-escapes", b"file \"\\x41pp\\x00x\" seq 1 type b\nFILE b.aof SEQ 7 TYPE i STARTOFFSET 10 ENDOFFSET 20\n"),
            ("crlf", b"file appendonly.aof.1.base.rdb seq 1 type b\r\nfile appendonly.aof.1.incr.aof seq 1 type i\r\n"),
        ];
        for (n, m) in extra {
            manifests.insert(format!("hand-{n}"), m.to_vec());
        }
        (resp, manifests)
    }

    /// Layouts for `aof_set` and `filter`: single files (RESP windows of the fixtures, the
    /// RDB-preamble AOF of Redis's tests) and each multi-part fixture directory with its real
    /// manifest, its BASE when small and windows of its INCR files.
    pub fn set_layouts(
        shared: &Path,
        resp: &BTreeMap<String, Vec<u8>>,
    ) -> BTreeMap<String, Vec<u8>> {
        let sep = redsafe_fuzz_harness::FILE_SEP;
        let fx = shared.join("fixtures");
        let mut out = BTreeMap::new();
        for (name, data) in resp {
            if name.ends_with("-multi") {
                out.insert(format!("single-{name}"), data.clone());
            }
        }
        out.insert(
            "single-rdb-preamble".into(),
            std::fs::read(fx.join("redis-assets/rdb-preamble.aof")).unwrap(),
        );
        for d in ["servers", "multi-incr"] {
            for sd in std::fs::read_dir(fx.join(d)).unwrap() {
                let dir = sd.unwrap().path().join("appendonlydir");
                let Ok(mtext) = std::fs::read(dir.join("appendonly.aof.manifest")) else {
                    continue;
                };
                let m = redsafe::aof::Manifest::parse(&mtext).unwrap();
                let mut layout = mtext.clone();
                for e in m.base().into_iter().chain(m.incrs()) {
                    let data = std::fs::read(dir.join(e.name_lossy())).unwrap_or_default();
                    let body = if data.len() <= 4096 {
                        data
                    } else if data.starts_with(b"REDIS") {
                        // A large BASE: a small RDB of the same version instead.
                        super::seeds::minimise_rdb(&data).unwrap_or_default()
                    } else {
                        // Whole records and transactions up to about 2 KiB.
                        let mut end = 0;
                        let mut r = redsafe::aof::AofReader::new(&data, 0);
                        while let Some(Ok(item)) = r.next() {
                            if item.end() > 2048 {
                                break;
                            }
                            end = r.ok_up_to() as usize;
                        }
                        data[..end].to_vec()
                    };
                    layout.extend_from_slice(sep);
                    layout.extend_from_slice(&body);
                }
                let label = dir
                    .parent()
                    .unwrap()
                    .strip_prefix(&fx)
                    .unwrap()
                    .to_string_lossy()
                    .replace('/', "_");
                out.insert(format!("multi-{label}"), layout);
            }
        }
        out
    }

    /// `rdb_value` seeds of a file: `[t][flags][raw value]` for the smallest value of each
    /// shape, and `[t][flags | 2][inner blob]`.
    pub fn value_seeds(data: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut best: BTreeMap<Shape, ValueHandle<'_>> = BTreeMap::new();
        for item in RdbReader::new(data) {
            let Ok(item) = item else { break };
            if let Record::Entry(e) = item.record {
                let s = shape(&e);
                let s = (s.0, false, s.2);
                let cur = best.entry(s).or_insert(e.value);
                if e.value.len() < cur.len() {
                    *cur = e.value;
                }
            }
        }
        let mut out = Vec::new();
        for ((t, _, enc), v) in best {
            let flags = (v.ctx().dialect == Dialect::Valkey) as u8;
            let tag = match enc {
                Some(e) => format!("t{t}-enc{e}"),
                None => format!("t{t}"),
            };
            if v.len() <= 16 << 10 {
                let mut s = vec![t, flags];
                s.extend_from_slice(v.raw());
                out.push((format!("{tag}-value"), s));
            }
            if let Some(b) = inner_blob(&v).filter(|b| b.len() <= 16 << 10) {
                let mut s = vec![t, flags | 2];
                s.extend_from_slice(&b);
                out.push((format!("{tag}-inner"), s));
            }
        }
        out
    }
}

/// Rebuilds `fuzz/corpus/{rdb_file,rdb_value,roundtrip}` from `../shared/fixtures`: for every
/// server version, a small RDB with one key of each shape, each value alone, and the small
/// RDBs with a target version for `roundtrip` (plus generator inputs).
#[test]
#[ignore = "writes the seed corpus; run by hand after fixture changes"]
fn regenerate_seed_corpus() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let corpus = root().join("fuzz/corpus");
    let mut rdb: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut val: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for p in shared_rdbs(&shared) {
        let data = std::fs::read(&p).unwrap();
        let rel = p
            .strip_prefix(shared.join("fixtures"))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let label: String = rel
            .replace("servers/", "")
            .replace("appendonlydir/", "")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if data.len() <= 8 << 10 {
            rdb.insert(label.clone(), data.clone());
        } else if let Some(small) = seeds::minimise_rdb(&data) {
            let ok = redsafe::rdb::check_rdb(&data, 0, Default::default()).ok;
            assert_eq!(
                redsafe::rdb::check_rdb(&small, 0, Default::default()).ok,
                ok,
                "minimised {rel} changes the verdict"
            );
            if label.starts_with("valkey") && label.ends_with("dump.rdb") {
                rdb.insert(format!("{label}-as-valkey9-min"), seeds::as_valkey9(&small));
            }
            rdb.insert(format!("{label}-min"), small);
        }
        for (name, s) in seeds::value_seeds(&data) {
            val.insert(format!("{label}-{name}"), s);
        }
    }
    // roundtrip: each valid small RDB written to Redis 14 and to one older target (mode 1),
    // and pseudo-random generator inputs for every target (mode 0).
    let mut rt: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (i, (name, bytes)) in rdb.iter().enumerate() {
        if !redsafe::rdb::check_rdb(bytes, 0, Default::default()).ok {
            continue;
        }
        for target in [13u8, (i % 13) as u8] {
            let mut s = vec![1u8, target, 1];
            s.extend_from_slice(bytes);
            rt.insert(format!("file-t{target}-{name}"), s);
        }
    }
    let mut rng = Rng(0x5eed);
    for i in 0..32u8 {
        let n = 64 + rng.below(960);
        let mut s = vec![0u8, i % 16, i / 16];
        s.extend((0..n).map(|_| rng.next() as u8));
        rt.insert(format!("gen-{i:02}"), s);
    }
    let (resp, manifests) = seeds::aof_seeds(&shared);
    let sets = seeds::set_layouts(&shared, &resp);
    let mut aof_set: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut filt: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (i, (name, layout)) in sets.iter().enumerate() {
        // aof_set: plain check + fix, salvage, and a timestamp cut.
        for flags in [0u8, 1, 2 | ((i as u8 % 8) << 3), 0x80] {
            let mut s = vec![flags];
            s.extend_from_slice(layout);
            aof_set.insert(format!("{name}-f{flags:02x}"), s);
        }
        // filter: drop flushes, drop DEL + key filters, cut at FLUSHALL with splitting, a
        // time window, and a filter that drops nothing.
        for (o, w) in [(0x01u8, 0u8), (0x5a, 0), (0x24, 0), (0x81, 0x31), (0x00, 0)] {
            let mut s = vec![o, w];
            s.extend_from_slice(layout);
            filt.insert(format!("{name}-o{o:02x}"), s);
        }
    }
    for (dir, set) in [
        ("rdb_file", &rdb),
        ("rdb_value", &val),
        ("roundtrip", &rt),
        ("resp", &resp),
        ("manifest", &manifests),
        ("aof_set", &aof_set),
        ("filter", &filt),
    ] {
        let d = corpus.join(dir);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let mut seen = BTreeSet::new();
        for (name, bytes) in set.iter() {
            if seen.insert(bytes.clone()) {
                std::fs::write(d.join(name), bytes).unwrap();
            }
        }
        eprintln!("{dir}: {} seeds", seen.len());
    }
}
