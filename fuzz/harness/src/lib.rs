//! The fuzz logic of redsafe, a crate of its own over the library's public API (the library
//! knows nothing of it). Each entry point takes arbitrary bytes and panics when an invariant
//! breaks. The thin libFuzzer targets in `fuzz/fuzz_targets/` call them, and the main crate's
//! `tests/fuzz_replay.rs` (this crate is its dev-dependency) runs the same functions over the
//! committed seed corpus (`fuzz/corpus/<target>/`) and the regression inputs
//! (`fixtures/regressions/<target>/`), so a plain `cargo test` catches regressions without a
//! fuzzer (the wasmparser layout).
//!
//! Invariants checked on every input:
//! - no panic, and no error that is not "damage" (a parser never reports I/O or usage errors);
//! - every error carries an offset inside the input (`base ..= base + len`);
//! - no single allocation larger than [`alloc_limit`] of the data (the input plus what its LZF
//!   strings can inflate to, [`lzf_inflatable`]), when [`CountingAlloc`] is the global
//!   allocator (both harnesses install it);
//! - the checker and the reader agree: a file the checker calls valid reads to its EOF and
//!   every value materialises; one it calls damaged fails in the reader at the same offset
//!   (or, for a checksum mismatch, reads completely and fails the CRC);
//! - the skip walk (finding where a value ends), the shallow and the deep decode agree on
//!   where a value ends, and what deep validation accepts, shallow validation accepts;
//! - decoded values keep what validation promised (unique set members, hash fields and zset
//!   members, no NaN scores, stream lengths and PEL ownership), and the visitor contract holds
//!   (`begin` first, `end` last, element counts equal to the announced length);
//! - LZF decompression agrees with the independent `lzf` crate.
//!
//! Infinite loops are caught by the fuzzer's `-timeout` and by the replay test's watchdog.
#![allow(missing_docs)]

use std::cell::Cell;
use std::collections::HashSet;

use redsafe::error::{Error, ErrorKind};
use redsafe::rdb::check::{check_rdb, CheckOptions, ChecksumStatus};
use redsafe::rdb::cursor::Cursor;
use redsafe::rdb::encoding::Elem;
use redsafe::rdb::format::*;
use redsafe::rdb::materialize::Materializer;
use redsafe::rdb::model::{StreamId, Value, ValueType};
use redsafe::rdb::value::{
    module_opcodes, skip_value, visit_value, ArrayItem, DecodeOptions, IgnoreVisitor, Scratch,
    ValueCtx, ValueVisitor,
};
use redsafe::rdb::{RdbReader, Record};

/// A fuzz target: its name (the directory under `fuzz/corpus/` and `fixtures/regressions/`)
/// and its entry point.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, for the replay test.
pub const TARGETS: &[Target] = &[
    ("rdb_file", rdb_file),
    ("rdb_value", rdb_value),
    ("roundtrip", roundtrip),
    ("resp", resp),
    ("manifest", manifest),
    ("aof_set", aof_set),
    ("filter", filter),
    ("replay", replay),
];

// ---------------------------------------------------------------------------------------------
// Allocation budget

/// The largest single allocation allowed while processing `data_len` bytes of data (the
/// input and what its LZF strings can inflate to, see [`lzf_inflatable`]): 64 × that + 1 MiB.
pub fn alloc_limit(data_len: usize) -> usize {
    data_len.saturating_mul(64).saturating_add(1 << 20)
}

/// An upper bound on what LZF decompression can produce while `data` is read as RDB content
/// (a file, a value, an AOF with an RDB preamble or `RESTORE` payloads): the largest total
/// uncompressed length of disjoint byte ranges of `data` that each parse as an LZF-encoded
/// RDB string (`0xC3`, compressed length, uncompressed length, the compressed bytes) claiming
/// no more than [`redsafe::rdb::encoding::lzf::max_decompressed_len`] (the decoder refuses
/// more before allocating). Every LZF string a parser inflates is such a range, and two
/// strings of one input never overlap, so this bounds what the library inflates (each string
/// counted once) without any hook in the library.
pub fn lzf_inflatable(data: &[u8]) -> usize {
    use redsafe::rdb::cursor::RdbStr;
    use redsafe::rdb::encoding::lzf::max_decompressed_len;
    // best[i]: the bound for data[i..] (weighted interval scheduling, right to left).
    let mut best = vec![0usize; data.len() + 1];
    for i in (0..data.len()).rev() {
        let mut b = best[i + 1];
        if data[i] == 0xC0 | ENC_LZF {
            let mut cur = Cursor::new(&data[i..], 0);
            if let Ok(RdbStr::Lzf { data: c, ulen, .. }) = cur.string("an LZF string") {
                if ulen <= max_decompressed_len(c.len()) {
                    b = b.max((ulen as usize).saturating_add(best[i + cur.pos()]));
                }
            }
        }
        best[i] = b;
    }
    best[0]
}

/// Above this an over-budget allocation is refused outright (the process aborts with
/// "memory allocation failed") instead of being recorded and reported after the run.
const HARD_CAP: usize = 1 << 30;

struct BudgetState {
    active: Cell<bool>,
    data: Cell<usize>,
    worst: Cell<usize>,
    worst_limit: Cell<usize>,
}

thread_local! {
    static BUDGET: BudgetState = const {
        BudgetState {
            active: Cell::new(false),
            data: Cell::new(0),
            worst: Cell::new(0),
            worst_limit: Cell::new(0),
        }
    };
}

static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True once [`CountingAlloc`] has served an allocation (it is the global allocator).
pub fn counting_alloc_installed() -> bool {
    INSTALLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Adds `n` bytes to the data of the current budgeted run (a no-op outside one): for data the
/// harness builds and then feeds to the library (a written file read back, a wrapped blob).
fn note_data(n: usize) {
    let _ = BUDGET.try_with(|s| {
        if s.active.get() {
            s.data.set(s.data.get().saturating_add(n));
        }
    });
}

/// Counts what the LZF strings of `bytes`, which the harness built and is about to feed to the
/// library, can inflate to ([`lzf_inflatable`], computed outside the budget).
fn note_lzf_in(bytes: &[u8]) {
    let active = BUDGET.with(|s| s.active.replace(false));
    let n = lzf_inflatable(bytes);
    BUDGET.with(|s| s.active.set(active));
    note_data(n);
}

/// Checks one allocation against the budget; false = refuse it.
#[inline]
fn admit(size: usize) -> bool {
    BUDGET
        .try_with(|s| {
            if !s.active.get() {
                return true;
            }
            let limit = alloc_limit(s.data.get());
            if size > limit {
                if size > s.worst.get() {
                    s.worst.set(size);
                    s.worst_limit.set(limit);
                }
                return size < HARD_CAP;
            }
            true
        })
        .unwrap_or(true)
}

/// A global allocator that forwards to the system allocator and records, during
/// [`with_alloc_budget`], any single allocation above [`alloc_limit`]. Install it with
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged, or returns
// null (allowed: "allocation failed"); the bookkeeping touches only const-initialised
// thread-local `Cell`s and an atomic, which never allocate.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if !INSTALLED.load(std::sync::atomic::Ordering::Relaxed) {
            INSTALLED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        unsafe { std::alloc::System.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from `System` through this allocator.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if !admit(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged; `ptr` came from `System` through this allocator.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` with the allocation budget for `data_len` bytes of data ([`alloc_limit`]) and
/// panics afterwards if a single allocation exceeded it. Nested calls run under the outer
/// budget.
pub fn with_alloc_budget<R>(data_len: usize, f: impl FnOnce() -> R) -> R {
    if BUDGET.with(|s| s.active.get()) {
        return f();
    }
    BUDGET.with(|s| {
        s.data.set(data_len);
        s.worst.set(0);
        s.worst_limit.set(0);
        s.active.set(true);
    });
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            BUDGET.with(|s| s.active.set(false));
        }
    }
    let off = Off;
    let r = f();
    drop(off);
    let (worst, limit, data) = BUDGET.with(|s| (s.worst.get(), s.worst_limit.get(), s.data.get()));
    if worst > 0 {
        panic!(
            "invariant: an allocation of {worst} bytes exceeds the budget of {limit} bytes \
             (64 × data + 1 MiB) for {data} bytes of data (the input and what its LZF strings \
             can inflate to)"
        );
    }
    r
}

/// [`with_alloc_budget`] for one fuzz input: its length plus [`lzf_inflatable`] of it.
fn with_input_budget<R>(input: &[u8], f: impl FnOnce() -> R) -> R {
    with_alloc_budget(input.len().saturating_add(lzf_inflatable(input)), f)
}

// ---------------------------------------------------------------------------------------------
// Shared checks

/// Lower-case hex of `data` (for printing crashing inputs).
pub fn hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// An error from parsing `len` bytes that start at file offset `base` must be damage, not
/// I/O or usage, and must carry an offset in `base ..= base + len`.
#[track_caller]
fn check_error(e: &Error, base: u64, len: usize, who: &str) {
    assert!(
        e.is_damage(),
        "invariant: {who} reported a non-damage error on in-memory input: {e}"
    );
    let off = e
        .offset()
        .unwrap_or_else(|| panic!("invariant: {who} error without an offset: {e}"));
    assert!(
        off >= base && off <= base + len as u64,
        "invariant: {who} error offset {off} outside the input [{base}, {}]: {e}",
        base + len as u64
    );
}

fn same_error(a: &Error, b: &Error) -> bool {
    a.offset() == b.offset() && a.kind() == b.kind()
}

/// What decoded values must satisfy after deep validation accepted them.
fn check_value(v: &Value) {
    fn unique<'x>(what: &str, items: impl Iterator<Item = &'x [u8]>) {
        let mut seen = HashSet::new();
        for i in items {
            assert!(
                seen.insert(i),
                "invariant: deep validation accepted a duplicate {what} {:?}",
                redsafe::error::escape_bytes(i)
            );
        }
    }
    match v {
        Value::Set(m) => unique("set member", m.iter().map(|x| x.as_slice())),
        Value::Zset(m) => {
            assert!(
                m.iter().all(|(_, s)| !s.is_nan()),
                "invariant: a NaN zset score was accepted"
            );
            unique("zset member", m.iter().map(|(x, _)| x.as_slice()));
        }
        Value::Hash(f) => unique("hash field", f.iter().map(|x| x.field.as_slice())),
        Value::Stream(s) => {
            assert_eq!(
                s.entries.len() as u64,
                s.meta.length,
                "invariant: stream length differs from its live entries"
            );
            unique("consumer group", s.groups.iter().map(|g| g.name.as_slice()));
            for g in &s.groups {
                let pel: HashSet<StreamId> = g.pending.iter().map(|p| p.id).collect();
                assert_eq!(pel.len(), g.pending.len(), "invariant: duplicate PEL entry");
                unique("consumer", g.consumers.iter().map(|c| c.name.as_slice()));
                let mut owned = HashSet::new();
                for c in &g.consumers {
                    for id in &c.pending {
                        assert!(
                            pel.contains(id),
                            "invariant: consumer owns an ID not in the PEL"
                        );
                        assert!(owned.insert(*id), "invariant: PEL entry owned twice");
                    }
                }
            }
        }
        Value::String(_) | Value::List(_) | Value::Module(_) | Value::Array { .. } => {}
    }
}

// ---------------------------------------------------------------------------------------------
// rdb_file

/// What reading a whole file with the reader (and materialising every value) gave.
struct ReadOutcome {
    error: Option<Error>,
    /// (EOF opcode offset, stored checksum, end offset, trailing bytes).
    eof: Option<(u64, Option<u64>, u64, u64)>,
}

fn read_all(data: &[u8], base: u64) -> ReadOutcome {
    let mut r = RdbReader::with_base(data, base);
    let end = base + data.len() as u64;
    let mut last = base;
    let mut eof = None;
    while let Some(item) = r.next() {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                check_error(&e, base, data.len(), "reader");
                assert!(
                    r.next().is_none(),
                    "invariant: the reader is not fused after an error"
                );
                return ReadOutcome {
                    error: Some(e),
                    eof: None,
                };
            }
        };
        assert!(
            item.offset >= last && item.offset < end,
            "invariant: record offset {} not increasing or outside the input",
            item.offset
        );
        last = item.offset;
        match item.record {
            Record::Entry(entry) => {
                let v = entry.value;
                let start = (v.offset() - base) as usize;
                assert_eq!(
                    data.get(start..start + v.len()),
                    Some(v.raw()),
                    "invariant: a value handle's raw bytes are not the input at its offset"
                );
                assert_eq!(v.dump_payload().len(), v.len() + 11);
                match v.materialize() {
                    Ok(value) => {
                        assert_eq!(
                            value.value_type(),
                            v.value_type(),
                            "invariant: materialised type differs from the handle's"
                        );
                        check_value(&value);
                    }
                    Err(e) => {
                        check_error(&e, v.offset(), v.len(), "materialize");
                        return ReadOutcome {
                            error: Some(e),
                            eof: None,
                        };
                    }
                }
            }
            Record::Eof { checksum, trailing } => {
                let eof_off = r.eof_offset().expect("EOF offset once EOF is read");
                let end_off = r.end_offset().expect("end offset once EOF is read");
                assert_eq!(eof_off, item.offset);
                assert_eq!(
                    end_off + trailing,
                    end,
                    "invariant: trailing bytes miscounted"
                );
                eof = Some((eof_off, checksum, end_off, trailing));
            }
            _ => {}
        }
    }
    assert!(
        eof.is_some(),
        "invariant: the reader stopped without EOF or an error"
    );
    ReadOutcome { error: None, eof }
}

/// The whole RDB reader and checker on arbitrary bytes.
pub fn rdb_file(data: &[u8]) {
    with_input_budget(data, || rdb_file_inner(data));
}

fn rdb_file_inner(data: &[u8]) {
    const BASE: u64 = 1_000_003;
    let opts = CheckOptions {
        deep: true,
        verify_checksum: true,
        now_ms: Some(0),
        threads: 2,
        ..Default::default()
    };
    let report = check_rdb(data, 0, opts);
    assert_eq!(report.ok, report.error.is_none());
    if let Some(e) = &report.error {
        check_error(e, 0, data.len(), "checker");
    }

    // Split between threads at speculative record boundaries, the report is the same.
    for threads in [2, 3] {
        let split = check_rdb(
            data,
            0,
            CheckOptions {
                threads,
                split_min_bytes: 0,
                ..opts
            },
        );
        assert_same_report(&report, &split, threads);
    }

    // Offsets are relative to `base` and nothing else depends on it.
    let shifted = check_rdb(data, BASE, opts);
    assert_eq!(
        shifted.ok, report.ok,
        "invariant: the verdict depends on the base offset"
    );
    if let (Some(a), Some(b)) = (&report.error, &shifted.error) {
        assert_eq!(
            a.offset().map(|o| o + BASE),
            b.offset(),
            "invariant: error offsets do not follow the base offset"
        );
        assert_eq!(a.message(), b.message());
    }

    // What deep validation accepts, shallow validation accepts.
    let shallow = check_rdb(
        data,
        0,
        CheckOptions {
            deep: false,
            ..opts
        },
    );
    if let Some(e) = &shallow.error {
        check_error(e, 0, data.len(), "shallow checker");
    }
    assert!(
        !report.ok || shallow.ok,
        "invariant: deep check passed but shallow check failed: {:?}",
        shallow.error
    );

    // The checker and the reader agree.
    let read = read_all(data, 0);
    match (&report.error, &read.error) {
        (None, None) => {
            let (eof, checksum, end, _) = read.eof.expect("eof");
            assert_eq!(report.eof_offset, Some(eof));
            assert_eq!(report.end_offset, Some(end));
            assert!(
                matches!(
                    (report.checksum, checksum),
                    (ChecksumStatus::Verified { .. }, Some(_))
                        | (ChecksumStatus::NotComputed, Some(0))
                        | (ChecksumStatus::Absent, None)
                ),
                "invariant: checksum status {:?} for stored {checksum:?}",
                report.checksum
            );
        }
        (Some(c), None) => {
            let ErrorKind::ChecksumMismatch { stored, computed } = *c.kind() else {
                panic!("invariant: the checker says damaged ({c}) but the reader read everything")
            };
            let (eof, checksum, _, _) = read.eof.expect("eof");
            assert_eq!(checksum, Some(stored));
            assert_ne!(stored, computed);
            assert_eq!(
                c.offset(),
                Some(eof + 1),
                "invariant: checksum error not after EOF"
            );
        }
        (None, Some(r)) => {
            panic!("invariant: the checker says valid but the reader fails: {r}")
        }
        (Some(c), Some(r)) => {
            assert!(
                same_error(c, r),
                "invariant: checker and reader fail differently:\n  checker: {c}\n  reader:  {r}"
            );
        }
    }
}

/// Panics unless two reports of the same file have the same verdict and error, and, for a
/// valid file, the same counts (on damage the counts are of what was read before stopping,
/// which depends on how far each thread got).
pub fn assert_same_report(
    a: &redsafe::rdb::RdbReport,
    b: &redsafe::rdb::RdbReport,
    threads: usize,
) {
    assert_eq!(
        a.error, b.error,
        "invariant: checking split between {threads} threads finds another error"
    );
    if !a.ok {
        return;
    }
    let (ja, jb) = (
        serde_json::to_value(a).expect("report to JSON"),
        serde_json::to_value(b).expect("report to JSON"),
    );
    assert_eq!(
        ja, jb,
        "invariant: checking split between {threads} threads reports differently"
    );
}

// ---------------------------------------------------------------------------------------------
// rdb_value

/// Appends an RDB length (§4.1) to `out`: the library's encoder.
pub fn push_len(out: &mut Vec<u8>, n: u64) {
    redsafe::rdb::encode::write_len(out, n);
}

/// Appends a raw RDB string (length + bytes) to `out`.
pub fn push_str(out: &mut Vec<u8>, s: &[u8]) {
    push_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Checks the [`ValueVisitor`] contract: `begin` first and once, `end` last and once, element
/// events only in between and matching the type, counts equal to the announced length.
#[derive(Default)]
struct ContractVisitor {
    ty: Option<ValueType>,
    hint: Option<u64>,
    elems: u64,
    string_len: Option<u64>,
    ended: bool,
}

impl ContractVisitor {
    fn event(&mut self, ty: ValueType) {
        assert!(!self.ended, "invariant: visitor event after end");
        assert_eq!(
            self.ty,
            Some(ty),
            "invariant: element event of the wrong type or before begin"
        );
        self.elems += 1;
    }
}

impl ValueVisitor for ContractVisitor {
    fn begin(&mut self, ty: ValueType, _t: u8, n: Option<u64>) -> redsafe::Result<()> {
        assert!(self.ty.is_none(), "invariant: begin called twice");
        self.ty = Some(ty);
        self.hint = n;
        Ok(())
    }
    fn string(&mut self, v: Elem<'_>) -> redsafe::Result<()> {
        self.event(ValueType::String);
        self.string_len = Some(v.to_vec().len() as u64);
        Ok(())
    }
    fn list_item(&mut self, _i: Elem<'_>) -> redsafe::Result<()> {
        self.event(ValueType::List);
        Ok(())
    }
    fn set_member(&mut self, _m: Elem<'_>) -> redsafe::Result<()> {
        self.event(ValueType::Set);
        Ok(())
    }
    fn zset_member(&mut self, _m: Elem<'_>, _s: f64) -> redsafe::Result<()> {
        self.event(ValueType::Zset);
        Ok(())
    }
    fn hash_field(&mut self, _f: Elem<'_>, _v: Elem<'_>, _e: Option<u64>) -> redsafe::Result<()> {
        self.event(ValueType::Hash);
        Ok(())
    }
    fn stream_entry(
        &mut self,
        _id: StreamId,
        f: &[Elem<'_>],
        v: &[Elem<'_>],
    ) -> redsafe::Result<()> {
        assert_eq!(
            f.len(),
            v.len(),
            "invariant: stream entry fields and values differ in number"
        );
        self.event(ValueType::Stream);
        Ok(())
    }
    fn module_value(&mut self, _id: u64, body: &[u8]) -> redsafe::Result<()> {
        assert_eq!(
            body.last(),
            Some(&0),
            "invariant: a module body must end with EOF (0)"
        );
        self.event(ValueType::Module);
        Ok(())
    }
    fn array_item(&mut self, _i: u64, _v: ArrayItem<'_>) -> redsafe::Result<()> {
        self.event(ValueType::Array);
        Ok(())
    }
    fn end(&mut self) -> redsafe::Result<()> {
        assert!(self.ty.is_some(), "invariant: end without begin");
        assert!(!self.ended, "invariant: end called twice");
        self.ended = true;
        if let Some(n) = self.hint {
            if self.ty == Some(ValueType::String) {
                assert_eq!(
                    self.string_len,
                    Some(n),
                    "invariant: string length differs from its hint"
                );
            } else {
                assert_eq!(
                    self.elems, n,
                    "invariant: element count differs from the announced length"
                );
            }
        }
        Ok(())
    }
}

/// Walks `value` as a value of type `t`: returns the result and where the cursor stopped.
fn walk(
    value: &[u8],
    base: u64,
    ctx: ValueCtx,
    t: u8,
    skip: bool,
    deep: bool,
    visitor: &mut dyn ValueVisitor,
) -> (redsafe::Result<()>, usize) {
    let mut cur = Cursor::new(value, base);
    let r = if skip {
        skip_value(&mut cur, ctx, t)
    } else {
        visit_value(
            &mut cur,
            ctx,
            t,
            visitor,
            &mut Scratch::default(),
            DecodeOptions { deep },
        )
    };
    (r, cur.pos())
}

/// Each inner decoder on a type byte and a payload. Input: `[type byte][flags][payload]`;
/// flags bit 0 = Valkey dialect, bit 1 = "wrap": the payload is the inner blob (ziplist,
/// listpack, intset, zipmap, quicklist node, stream node listpack, LZF stream with a 2-byte
/// length first, module opcodes) and is wrapped into a value of type `t` here, and also fed to
/// the matching decoder directly.
pub fn rdb_value(data: &[u8]) {
    with_input_budget(data, || rdb_value_inner(data));
}

fn rdb_value_inner(data: &[u8]) {
    const BASE: u64 = 7919;
    let [t, flags, payload @ ..] = data else {
        return;
    };
    let (t, flags) = (*t, *flags);
    let dialect = if flags & 1 != 0 {
        Dialect::Valkey
    } else {
        Dialect::Redis
    };
    let ctx = ValueCtx {
        dialect,
        version: if dialect == Dialect::Valkey { 80 } else { 12 },
    };
    if flags & 2 == 0 {
        let _ = value_walks(payload, BASE, ctx, t);
        dump_payload_agrees(payload, ctx, t);
        return;
    }
    // Wrap mode.
    let mut v = Vec::with_capacity(payload.len() + 32);
    let blob_at;
    match t {
        T_STRING => {
            // [ulen u16 LE][compressed]
            let (ulen, comp) = match payload {
                [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) as u64, rest),
                _ => return,
            };
            // The wrapped string below inflates to `ulen` bytes.
            note_data(ulen as usize);
            lzf_differential(comp, ulen);
            v.push(0xC3);
            push_len(&mut v, comp.len() as u64);
            push_len(&mut v, ulen);
            blob_at = v.len();
            v.extend_from_slice(comp);
        }
        T_MODULE_2 => {
            push_len(&mut v, 0x1234_5678 << 10);
            blob_at = v.len();
            v.extend_from_slice(payload);
            let mut cur = Cursor::new(payload, BASE);
            if let Err(e) = module_opcodes(&mut cur) {
                check_error(&e, BASE, payload.len(), "module opcodes");
            }
        }
        T_LIST_QUICKLIST | T_LIST_QUICKLIST_2 => {
            push_len(&mut v, 1);
            if t == T_LIST_QUICKLIST_2 {
                push_len(&mut v, QUICKLIST_NODE_PACKED);
            }
            push_len(&mut v, payload.len() as u64);
            blob_at = v.len();
            v.extend_from_slice(payload);
        }
        T_STREAM_LISTPACKS..=T_STREAM_LISTPACKS_5
            if redsafe::rdb::value::value_type_of(dialect, t) == Some(ValueType::Stream) =>
        {
            push_len(&mut v, 1);
            push_str(&mut v, &[0u8; 16]);
            push_len(&mut v, payload.len() as u64);
            blob_at = v.len();
            v.extend_from_slice(payload);
        }
        _ => {
            if t == T_HASH_LISTPACK_EX {
                v.extend_from_slice(&0u64.to_le_bytes());
            }
            push_len(&mut v, payload.len() as u64);
            blob_at = v.len();
            v.extend_from_slice(payload);
        }
    }
    let direct = direct_decode(payload, BASE + blob_at as u64, t);
    let deep = value_walks(&v, BASE, ctx, t);
    if let Some(d) = direct {
        if deep.is_ok() {
            panic!("invariant: the inner decoder fails ({d}) but the value decodes");
        }
    }
}

/// Runs the matching inner decoder over `blob` (for the blob-encoded types); returns its error.
fn direct_decode(blob: &[u8], base: u64, t: u8) -> Option<Error> {
    use redsafe::rdb::encoding::{intset::Intset, listpack::Listpack, ziplist::Ziplist, zipmap};
    let r: redsafe::Result<()> = match t {
        T_HASH_ZIPMAP => zipmap::pairs(blob, base).map(|_| ()),
        T_SET_INTSET => Intset::parse(blob, base).map(|s| assert_eq!(s.iter().count(), s.len())),
        T_LIST_ZIPLIST | T_ZSET_ZIPLIST | T_HASH_ZIPLIST | T_LIST_QUICKLIST => {
            Ziplist::parse(blob, base).and_then(|z| z.iter().try_for_each(|e| e.map(|_| ())))
        }
        T_HASH_LISTPACK | T_ZSET_LISTPACK | T_SET_LISTPACK | T_23 | T_HASH_LISTPACK_EX
        | T_LIST_QUICKLIST_2 | T_STREAM_LISTPACKS | T_STREAM_LISTPACKS_2 | T_STREAM_LISTPACKS_3
        | T_STREAM_LISTPACKS_4 | T_STREAM_LISTPACKS_5 => {
            Listpack::parse(blob, base).and_then(|l| {
                let mut it = l.iter();
                for e in it.by_ref() {
                    e?;
                }
                assert!(
                    it.next().is_none(),
                    "invariant: listpack iterator not fused"
                );
                Ok(())
            })
        }
        _ => return None,
    };
    let e = r.err()?;
    check_error(&e, base, blob.len(), "inner decoder");
    Some(e)
}

/// The same value as a DUMP/RESTORE payload (footer with `ctx`'s version and a good CRC):
/// `ValueHandle::from_dump_payload` finds the end the skip walk finds, and its handle
/// materialises exactly when a deep walk of those bytes succeeds.
fn dump_payload_agrees(value: &[u8], ctx: ValueCtx, t: u8) {
    let mut p = Vec::with_capacity(value.len() + 11);
    p.push(t);
    p.extend_from_slice(value);
    p.extend_from_slice(&(ctx.version as u16).to_le_bytes());
    let crc = redsafe::rdb::crc::crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    let (skip, skip_end) = walk(value, 1, ctx, t, true, false, &mut IgnoreVisitor);
    match redsafe::rdb::ValueHandle::from_dump_payload(&p) {
        Ok(h) => {
            assert!(
                skip.is_ok(),
                "invariant: a payload the skip walk refuses was accepted"
            );
            assert_eq!(h.raw().len(), skip_end, "invariant: payload value end");
            let mut m = Materializer::default();
            let (deep, _) = walk(&value[..skip_end], 1, ctx, t, false, true, &mut m);
            let expected = deep.and_then(|()| m.finish());
            // Compared as text: a NaN float is not equal to itself.
            assert_eq!(
                format!("{:?}", h.materialize().ok()),
                format!("{:?}", expected.ok()),
                "invariant: payload materialise vs deep walk"
            );
        }
        Err(redsafe::rdb::DumpPayloadError::BadFormat(_)) => {
            assert!(
                skip.is_err(),
                "invariant: a payload the skip walk reads was refused"
            )
        }
        Err(e) => panic!("invariant: a payload with a good footer was refused: {e}"),
    }
}

/// Skip walk, shallow and deep decode, and materialisation of one value; returns the deep
/// decode's result.
fn value_walks(value: &[u8], base: u64, ctx: ValueCtx, t: u8) -> redsafe::Result<()> {
    let len = value.len();
    let (skip, skip_end) = walk(value, base, ctx, t, true, false, &mut IgnoreVisitor);
    let (shallow, shallow_end) = walk(value, base, ctx, t, false, false, &mut IgnoreVisitor);
    let mut contract = ContractVisitor::default();
    let (deep, deep_end) = walk(value, base, ctx, t, false, true, &mut contract);
    let mut m = Materializer::default();
    let (mat, mat_end) = walk(value, base, ctx, t, false, true, &mut m);
    for (r, who) in [
        (&skip, "skip walk"),
        (&shallow, "shallow decode"),
        (&deep, "deep decode"),
    ] {
        if let Err(e) = r {
            check_error(e, base, len, who);
        }
    }
    match (&deep, &mat) {
        (Ok(()), Ok(())) => {
            assert_eq!(deep_end, mat_end);
            assert!(
                contract.ended,
                "invariant: a decoded value never called end"
            );
            let value = m
                .finish()
                .unwrap_or_else(|e| panic!("invariant: materialise failed: {e}"));
            assert_eq!(Some(value.value_type()), contract.ty);
            check_value(&value);
        }
        (Err(a), Err(b)) => assert!(
            same_error(a, b),
            "invariant: visitors change the error: {a} / {b}"
        ),
        _ => panic!("invariant: visitors change the verdict: {deep:?} / {mat:?}"),
    }
    if deep.is_ok() {
        assert!(
            shallow.is_ok(),
            "invariant: deep decode passed, shallow failed: {shallow:?}"
        );
        assert_eq!(
            deep_end, shallow_end,
            "invariant: deep and shallow decode end apart"
        );
    }
    if shallow.is_ok() {
        assert!(
            skip.is_ok(),
            "invariant: decode passed but the skip walk failed: {skip:?}"
        );
        assert_eq!(
            skip_end, shallow_end,
            "invariant: skip walk and decode end apart"
        );
    }
    if let Err(s) = &skip {
        // Decoding reads everything skipping reads, so it fails too, no later.
        let d = shallow
            .as_ref()
            .expect_err("invariant: skip walk failed but decode passed");
        assert!(
            d.offset() <= s.offset(),
            "invariant: decode fails after the skip walk's failure: {d} / {s}"
        );
    }
    deep
}

/// LZF decompression against the `lzf` crate.
fn lzf_differential(comp: &[u8], ulen: u64) {
    let mut out = Vec::new();
    let ours = redsafe::rdb::encoding::lzf::decompress_into(comp, ulen, &mut out, 0);
    if let Err(e) = &ours {
        check_error(e, 0, comp.len(), "LZF");
    }
    if comp.is_empty() || ulen == 0 {
        return;
    }
    let theirs = lzf::decompress(comp, ulen as usize);
    match (&ours, theirs) {
        (Ok(()), Ok(t)) => assert_eq!(out, t, "invariant: LZF output differs from the lzf crate"),
        (Ok(()), Err(e)) => panic!("invariant: LZF accepted data the lzf crate rejects: {e:?}"),
        (Err(e), Ok(t)) if t.len() == ulen as usize => {
            panic!("invariant: LZF rejected data the lzf crate decodes: {e}")
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// roundtrip

/// The targets a `roundtrip` input can pick (its second byte, modulo the length).
const WRITE_TARGETS: [(Dialect, u32); 16] = [
    (Dialect::Redis, 1),
    (Dialect::Redis, 2),
    (Dialect::Redis, 3),
    (Dialect::Redis, 4),
    (Dialect::Redis, 5),
    (Dialect::Redis, 6),
    (Dialect::Redis, 7),
    (Dialect::Redis, 8),
    (Dialect::Redis, 9),
    (Dialect::Redis, 10),
    (Dialect::Redis, 11),
    (Dialect::Redis, 12),
    (Dialect::Redis, 13),
    (Dialect::Redis, 14),
    (Dialect::Valkey, 80),
    (Dialect::Valkey, 81),
];

/// Values and the writer: input `[mode][target][flags][rest]`. Mode bit 0 clear: `rest`
/// drives a generator of valid values (every type, integer-like and non-canonical strings,
/// long compressible strings, collections past the compact-encoding thresholds, streams with
/// consumer groups, module values, arrays, expiries, LRU/LFU), which are written with
/// `entry_value` to the target and read back. Mode bit 0 set: `rest` is an RDB file; when the
/// checker calls it valid, every key is written with `entry` (copied or re-encoded) to the
/// target and read back. Either way the output must pass `check_rdb` and read back as the same
/// values (sets, zsets and hashes compared as sets; what the writer reported lost is left out
/// of the comparison). Flags: bit 0 compression, bit 1 checksum.
pub fn roundtrip(data: &[u8]) {
    with_input_budget(data, || roundtrip_inner(data));
}

/// A value in comparable form.
fn norm(v: &Value, lossy: bool) -> Value {
    use redsafe::rdb::model::{ArrayElem, ConsumerGroup, Stream};
    match v.clone() {
        Value::Set(mut s) => {
            s.sort();
            Value::Set(s)
        }
        Value::Zset(mut z) => {
            z.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Zset(z)
        }
        Value::Hash(mut h) => {
            h.sort_by(|a, b| a.field.cmp(&b.field));
            if lossy {
                h.iter_mut().for_each(|f| f.expire_ms = None);
            }
            Value::Hash(h)
        }
        Value::Stream(s) => {
            let mut out = Stream {
                entries: s.entries.clone(),
                ..Default::default()
            };
            if !lossy {
                out.meta.length = s.meta.length;
                out.meta.last_id = s.meta.last_id;
                out.groups = s
                    .groups
                    .iter()
                    .map(|g| ConsumerGroup {
                        name: g.name.clone(),
                        last_id: g.last_id,
                        entries_read: None,
                        pending: g.pending.clone(),
                        consumers: g
                            .consumers
                            .iter()
                            .map(|c| redsafe::rdb::model::Consumer {
                                active_time_ms: None,
                                ..c.clone()
                            })
                            .collect(),
                        nacked: Vec::new(),
                    })
                    .collect();
            }
            Value::Stream(Box::new(out))
        }
        Value::Array { insert_idx, items } => {
            let mut items: Vec<(u64, ArrayElem)> = items
                .into_iter()
                .map(|(i, e)| match e {
                    ArrayElem::Float(f) if f.is_nan() => (i, ArrayElem::Bytes(b"NaN".to_vec())),
                    other => (i, other),
                })
                .collect();
            items.sort_by_key(|x| x.0);
            Value::Array { insert_idx, items }
        }
        other => other,
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::List(x) | Value::Set(x) => x.is_empty(),
        Value::Zset(x) => x.is_empty(),
        Value::Hash(x) => x.is_empty(),
        Value::Array { items, .. } => items.is_empty(),
        _ => false,
    }
}

/// Reads the fuzz input as a stream of choices (zeros once it runs out), with a cap on the
/// bytes of generated data.
struct Gen<'a> {
    d: &'a [u8],
    budget: usize,
}

impl Gen<'_> {
    fn u8(&mut self) -> u8 {
        match self.d.split_first() {
            Some((b, r)) => {
                self.d = r;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        let mut a = [0u8; 8];
        a.iter_mut().for_each(|x| *x = self.u8());
        u64::from_le_bytes(a)
    }
    fn done(&self) -> bool {
        self.d.is_empty() || self.budget == 0
    }
    /// A string: raw bytes from the input, integer text (canonical or not), a float's text,
    /// or a long run of one byte (compressible, past the compact-encoding size limits).
    fn bytes(&mut self) -> Vec<u8> {
        let v = match self.u8() % 8 {
            0 => (self.u64() as i64).to_string().into_bytes(),
            1 => (self.u8() as i64 - 20).to_string().into_bytes(),
            2 => {
                const ODD: [&str; 12] = [
                    "-0",
                    "007",
                    "+1",
                    " 1",
                    "1 ",
                    "",
                    "9223372036854775808",
                    "-9223372036854775809",
                    "-9223372036854775808",
                    "1e3",
                    "0x10",
                    "3.14",
                ];
                ODD[self.u8() as usize % ODD.len()].as_bytes().to_vec()
            }
            3 => {
                let n = (self.u16() as usize % 3000).min(self.budget);
                vec![self.u8(); n]
            }
            4 => f64::from_bits(self.u64()).to_string().into_bytes(),
            _ => {
                let n = ((self.u8() % 48) as usize).min(self.d.len());
                let (a, b) = self.d.split_at(n);
                self.d = b;
                a.to_vec()
            }
        };
        self.budget = self.budget.saturating_sub(v.len());
        v
    }
    /// An element count, sometimes past the compact-encoding thresholds (128, 512).
    fn count(&mut self) -> usize {
        match self.u8() % 8 {
            0 => 600,
            1 => 130,
            _ => (self.u8() % 24) as usize,
        }
    }
    /// Element `i` of a collection: from the input, or `i` once the input is used up.
    fn elem(&mut self, i: usize) -> Vec<u8> {
        if self.d.is_empty() {
            i.to_string().into_bytes()
        } else {
            self.bytes()
        }
    }
    fn score(&mut self) -> f64 {
        match self.u8() % 4 {
            0 => f64::INFINITY,
            1 => f64::NEG_INFINITY,
            2 => (self.u16() as i16) as f64,
            _ => {
                let f = f64::from_bits(self.u64());
                if f.is_nan() {
                    0.5
                } else {
                    f
                }
            }
        }
    }
    fn id(&mut self) -> StreamId {
        StreamId {
            ms: self.u64() >> (self.u8() % 64),
            seq: self.u8() as u64,
        }
    }

    fn value(&mut self) -> Value {
        use redsafe::rdb::model::*;
        use std::collections::{BTreeMap, BTreeSet};
        match self.u8() % 9 {
            0 => Value::String(self.bytes()),
            1 => {
                let n = self.count();
                let mut l = Vec::new();
                for i in 0..n {
                    if self.budget == 0 {
                        break;
                    }
                    l.push(self.elem(i));
                }
                Value::List(l)
            }
            2 => {
                let n = self.count();
                let s: BTreeSet<Vec<u8>> = (0..n).map(|i| self.elem(i)).collect();
                Value::Set(s.into_iter().collect())
            }
            3 => {
                // Integer-only sets (intsets).
                let n = self.count();
                let s: BTreeSet<i64> = (0..n)
                    .map(|i| {
                        if self.d.is_empty() {
                            i as i64
                        } else {
                            self.u64() as i64 >> (self.u8() % 64)
                        }
                    })
                    .collect();
                Value::Set(s.into_iter().map(|i| i.to_string().into_bytes()).collect())
            }
            4 => {
                let n = self.count();
                let mut m = BTreeMap::new();
                for i in 0..n {
                    let k = self.elem(i);
                    m.insert(k, self.score());
                }
                Value::Zset(m.into_iter().collect())
            }
            5 => {
                let n = self.count();
                let mut m = BTreeMap::new();
                for i in 0..n {
                    let k = self.elem(i);
                    let v = self.bytes();
                    let ttl = match self.u8() % 3 {
                        0 => Some(1 + self.u64() % ((1 << 48) - 1)),
                        _ => None,
                    };
                    m.insert(k, (v, ttl));
                }
                Value::Hash(
                    m.into_iter()
                        .map(|(field, (value, expire_ms))| HashField {
                            field,
                            value,
                            expire_ms,
                        })
                        .collect(),
                )
            }
            6 => self.stream(),
            7 => {
                // A module value with a valid opcode body.
                let type_id = self.u64();
                let mut raw = Vec::new();
                for _ in 0..self.u8() % 6 {
                    match self.u8() % 4 {
                        0 => {
                            push_len(&mut raw, MODULE_OP_UINT);
                            push_len(&mut raw, self.u64());
                        }
                        1 => {
                            push_len(&mut raw, MODULE_OP_STRING);
                            let b = self.bytes();
                            push_str(&mut raw, &b);
                        }
                        2 => {
                            push_len(&mut raw, MODULE_OP_DOUBLE);
                            raw.extend_from_slice(&self.u64().to_le_bytes());
                        }
                        _ => {
                            push_len(&mut raw, MODULE_OP_FLOAT);
                            raw.extend_from_slice(&(self.u64() as u32).to_le_bytes());
                        }
                    }
                }
                push_len(&mut raw, MODULE_OP_EOF);
                Value::Module(ModuleValue {
                    name: module_name(type_id),
                    type_id,
                    encver: type_id & 1023,
                    raw,
                })
            }
            _ => {
                let n = 1 + self.u8() as usize % 20;
                let mut items = BTreeMap::new();
                for _ in 0..n {
                    let idx = self.u64() >> (self.u8() % 64);
                    let idx = idx.min(u64::MAX - 1);
                    let e = match self.u8() % 3 {
                        0 => ArrayElem::Int(self.u64() as i64),
                        1 => ArrayElem::Float(self.score()),
                        _ => ArrayElem::Bytes(self.bytes()),
                    };
                    items.insert(idx, e);
                }
                let insert_idx = self.u8().is_multiple_of(2).then(|| self.u64() >> 8);
                Value::Array {
                    insert_idx,
                    items: items.into_iter().collect(),
                }
            }
        }
    }

    fn stream(&mut self) -> Value {
        use redsafe::rdb::model::*;
        let n = (self.u8() % 40) as usize;
        let mut id = self.id();
        let mut entries = Vec::new();
        for i in 0..n {
            if i > 0 {
                let step = self.u8();
                id = if step.is_multiple_of(2) {
                    StreamId {
                        ms: id.ms,
                        seq: id.seq.saturating_add(1 + step as u64),
                    }
                } else {
                    StreamId {
                        ms: id.ms.saturating_add(step as u64),
                        seq: 0,
                    }
                };
                if entries.last().is_some_and(|e: &StreamEntry| e.id >= id) {
                    break;
                }
            }
            let nf = self.u8() % 4;
            let fields = (0..nf).map(|_| (self.bytes(), self.bytes())).collect();
            entries.push(StreamEntry { id, fields });
        }
        let mut s = Stream::default();
        s.meta.length = entries.len() as u64;
        s.meta.last_id = entries.last().map(|e| e.id).unwrap_or_default();
        let ngroups = self.u8() % 3;
        for g in 0..ngroups {
            let mut pending = Vec::new();
            let mut consumers: Vec<Consumer> = (0..1 + self.u8() % 2)
                .map(|c| Consumer {
                    name: format!("c{c}").into_bytes(),
                    seen_time_ms: self.u64() >> 20,
                    active_time_ms: None,
                    pending: Vec::new(),
                })
                .collect();
            for e in &entries {
                let pick = self.u8();
                if pick.is_multiple_of(3) {
                    pending.push(PendingEntry {
                        id: e.id,
                        delivery_time_ms: self.u64() >> 20,
                        delivery_count: self.u8() as u64,
                    });
                    let c = pick as usize / 3 % consumers.len();
                    consumers[c].pending.push(e.id);
                }
            }
            s.groups.push(ConsumerGroup {
                name: format!("g{g}").into_bytes(),
                last_id: s.meta.last_id,
                entries_read: None,
                pending,
                consumers,
                nacked: Vec::new(),
            });
        }
        s.entries = entries;
        Value::Stream(Box::new(s))
    }
}

/// Compares what was written with what was read back.
fn compare_roundtrip(written: &[(Vec<u8>, Option<i64>, Value, bool)], out: &[u8], version: u32) {
    let report = check_rdb(
        out,
        0,
        CheckOptions {
            now_ms: Some(0),
            ..Default::default()
        },
    );
    assert!(
        report.ok,
        "invariant: the writer produced a file the checker rejects: {:?}\n  output: {}",
        report.error,
        hex(&out[..out.len().min(4096)])
    );
    let mut got = Vec::new();
    for item in RdbReader::new(out) {
        let item = item.unwrap_or_else(|e| panic!("invariant: written file does not read: {e}"));
        if let Record::Entry(e) = item.record {
            let v = e
                .value
                .materialize()
                .unwrap_or_else(|err| panic!("invariant: written value does not decode: {err}"));
            got.push((e.key.to_vec(), e.expire_ms, v));
        }
    }
    assert_eq!(
        got.len(),
        written.len(),
        "invariant: keys written ≠ keys read back"
    );
    for ((k, exp, v, lossy), (gk, gexp, gv)) in written.iter().zip(&got) {
        assert_eq!(k, gk, "invariant: keys read back out of order");
        match (exp, gexp) {
            (Some(x), Some(g)) if version < 3 => assert!(
                g % 1000 == 0 && (g - x) >= 0 && (g - x) < 1000,
                "invariant: expiry {x} read back as {g} in RDB {version}"
            ),
            _ => assert_eq!(exp, gexp, "invariant: expiry changed"),
        }
        assert_eq!(
            norm(v, *lossy),
            norm(gv, *lossy),
            "invariant: value of key {:?} changed through the writer (RDB {version})",
            redsafe::error::escape_bytes(k)
        );
    }
}

fn roundtrip_inner(data: &[u8]) {
    use redsafe::rdb::writer::{EntryMeta, EntryOutcome, RdbWriter, WriterOptions};
    let [mode, target, flags, rest @ ..] = data else {
        return;
    };
    let (dialect, version) = WRITE_TARGETS[*target as usize % WRITE_TARGETS.len()];
    let opts = WriterOptions {
        compression: flags & 1 != 0,
        checksum: flags & 2 == 0,
        lossy: true,
        ..Default::default()
    };
    let mut w = RdbWriter::with_options(Vec::new(), dialect, version, opts)
        .unwrap_or_else(|e| panic!("writer refused a supported target: {e}"));
    let mut written: Vec<(Vec<u8>, Option<i64>, Value, bool)> = Vec::new();
    let mut record = |key: &[u8], exp: Option<i64>, v: Value, out: EntryOutcome| match out {
        EntryOutcome::Copied | EntryOutcome::Reencoded => {
            assert!(
                !is_empty_value(&v),
                "invariant: an empty collection was written"
            );
            written.push((key.to_vec(), exp, v, false));
        }
        EntryOutcome::Lossy(_) => written.push((key.to_vec(), exp, v, true)),
        EntryOutcome::Empty => assert!(
            is_empty_value(&v),
            "invariant: a non-empty value was skipped as empty"
        ),
        EntryOutcome::Dropped(why) => assert!(
            matches!(v, Value::Stream(_) | Value::Module(_) | Value::Array { .. })
                || (version < 3 && exp.is_some()),
            "invariant: a value every version can hold was dropped: {why}"
        ),
    };
    if mode & 1 == 0 {
        let mut g = Gen {
            d: rest,
            budget: 64 << 10,
        };
        w.select_db(0).expect("select_db");
        let mut i = 0;
        while !g.done() && i < 16 {
            let key = format!("k{i}").into_bytes();
            let mut meta = EntryMeta::default();
            let m = g.u8();
            if m & 1 != 0 {
                let x = g.u64() as i64;
                meta.expire_ms = Some(if m & 2 != 0 { x } else { x.rem_euclid(1 << 42) });
            }
            if m & 4 != 0 {
                meta.lru_idle = Some(g.u64() >> (g.u8() % 64));
            } else if m & 8 != 0 {
                meta.lfu_freq = Some(g.u8());
            }
            let v = g.value();
            let out = w.entry_value(&key, &meta, &v).unwrap_or_else(|e| {
                panic!("invariant: a lossy writer failed on a valid value: {e}")
            });
            record(&key, meta.expire_ms, v, out);
            i += 1;
        }
    } else {
        let opts = CheckOptions {
            now_ms: Some(0),
            ..Default::default()
        };
        if !check_rdb(rest, 0, opts).ok {
            return;
        }
        let mut db = None;
        for item in RdbReader::new(rest) {
            let Ok(item) = item else {
                panic!("invariant: a file the checker accepts fails to read")
            };
            let Record::Entry(e) = item.record else {
                continue;
            };
            if db != Some(e.db) {
                w.select_db(e.db).expect("select_db");
                db = Some(e.db);
            }
            let v = e
                .value
                .materialize()
                .unwrap_or_else(|err| panic!("invariant: a checked value fails to decode: {err}"));
            match w.entry(&e) {
                Ok(out) => record(&e.key, e.expire_ms, v, out),
                Err(err) => {
                    assert!(
                        matches!(err.kind(), ErrorKind::Unsupported(_)),
                        "invariant: the writer fails on a value the checker accepts: {err}"
                    );
                    return;
                }
            }
        }
    }
    let out = w.finish().expect("finish into a Vec");
    // Reading the output back inflates what the writer compressed.
    note_lzf_in(&out);
    compare_roundtrip(&written, &out, version);
}

// ---------------------------------------------------------------------------------------------
// resp

/// An `io::Read` that returns the input in chunks of the given sizes (cycled).
struct Chunked<'a> {
    data: &'a [u8],
    pos: usize,
    sizes: &'a [u8],
    k: usize,
}

impl std::io::Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = match self.sizes.get(self.k % self.sizes.len().max(1)) {
            Some(&s) => 1 + s as usize % 64,
            None => usize::MAX,
        };
        self.k += 1;
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let n = want.min(buf.len()).min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// What a reader saw: every record's (offset, end, kind) and how it stopped.
#[derive(Debug, PartialEq)]
struct RespOutcome {
    items: Vec<(u64, u64, bool)>,
    ok_up_to: u64,
    failure: Option<(u64, u64, bool, Option<u64>, String)>,
    state: String,
}

fn failure_key(
    f: Option<&redsafe::aof::ReadFailure>,
) -> Option<(u64, u64, bool, Option<u64>, String)> {
    f.map(|f| {
        (
            f.record_offset,
            f.ok_up_to,
            f.truncated,
            f.error.offset(),
            f.error.to_string(),
        )
    })
}

/// Reads `data` (at file offset `base`) with the in-memory reader, checking every record.
fn resp_read(data: &[u8], base: u64) -> RespOutcome {
    use redsafe::aof::{AofItem, AofReader};
    let mut r = AofReader::new(data, base);
    let mut items = Vec::new();
    let mut expect = base;
    let end_of_input = base + data.len() as u64;
    while let Some(item) = r.next() {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                check_error(&e, base, data.len(), "AOF reader");
                let f = r
                    .failure()
                    .expect("invariant: an error without failure details");
                assert_eq!(f.error.to_string(), e.to_string());
                assert!(
                    f.record_offset >= base && f.record_offset <= expect,
                    "invariant: failing record {} after the last record's end {expect}",
                    f.record_offset
                );
                assert!(
                    f.ok_up_to >= base && f.ok_up_to <= f.record_offset,
                    "invariant: ok_up_to {} outside [{base}, {}]",
                    f.ok_up_to,
                    f.record_offset
                );
                assert!(r.next().is_none(), "invariant: the AOF reader is not fused");
                break;
            }
        };
        assert_eq!(
            item.offset(),
            expect,
            "invariant: records are not contiguous"
        );
        assert!(item.end() > item.offset() && item.end() <= end_of_input);
        let raw = &data[(item.offset() - base) as usize..(item.end() - base) as usize];
        match &item {
            AofItem::Command(c) => {
                assert_eq!(c.raw(), raw);
                let args: Vec<&[u8]> = c.args().collect();
                assert_eq!(args.len(), c.argc(), "invariant: argument count");
                assert_eq!(args.first().copied().unwrap_or(&[]), c.name());
                // Re-encoding the arguments gives one canonical command with the same ones.
                let mut enc = Vec::new();
                redsafe::aof::encode_command(&args, &mut enc);
                // As the loader reads (a lone EXEC or MULTI is a command like any other); the
                // record must span the whole encoding.
                match redsafe::aof::AofReader::new(&enc, 0).as_loader().next() {
                    Some(Ok(AofItem::Command(r))) => {
                        assert_eq!((r.offset, r.end), (0, enc.len() as u64));
                        let back: Vec<&[u8]> = r.args().collect();
                        assert_eq!(back, args, "invariant: re-encoded arguments differ");
                    }
                    other => panic!("invariant: a re-encoded command does not parse: {other:?}"),
                }
                items.push((item.offset(), item.end(), true));
            }
            AofItem::Annotation(a) => {
                assert_eq!(a.text, raw);
                assert_eq!(raw.first(), Some(&b'#'));
                items.push((item.offset(), item.end(), false));
            }
        }
        expect = item.end();
    }
    if r.failure().is_none() {
        assert_eq!(
            expect, end_of_input,
            "invariant: the reader stopped early without an error"
        );
        assert_eq!(r.ok_up_to(), end_of_input);
    }
    RespOutcome {
        items,
        ok_up_to: r.ok_up_to(),
        failure: failure_key(r.failure()),
        state: format!("{:?}", r.state()),
    }
}

/// The same with the streaming reader fed in chunks.
fn resp_stream(data: &[u8], base: u64, sizes: &[u8]) -> RespOutcome {
    use redsafe::aof::AofStream;
    let src = Chunked {
        data,
        pos: 0,
        sizes,
        k: 0,
    };
    let mut s = AofStream::new(src, base, base + data.len() as u64, None);
    let mut items = Vec::new();
    while let Some(item) = s.next_item() {
        match item {
            Ok(i) => items.push((
                i.offset(),
                i.end(),
                matches!(i, redsafe::aof::AofItem::Command(_)),
            )),
            Err(e) => {
                check_error(&e, base, data.len(), "AOF stream");
                break;
            }
        }
    }
    RespOutcome {
        items,
        ok_up_to: s.ok_up_to(),
        failure: failure_key(s.failure()),
        state: format!("{:?}", s.state()),
    }
}

/// The AOF command reader on arbitrary bytes: records are contiguous and exact, re-encoded
/// commands read back, the streaming reader fed in chunks of any size sees exactly what the
/// in-memory reader sees, and cutting the input at `ok_up_to` (what `redis-check-aof --fix`
/// does) leaves a stream that reads without error.
pub fn resp(data: &[u8]) {
    // No RDB content, so no LZF.
    with_alloc_budget(data.len(), || resp_inner(data));
}

fn resp_inner(data: &[u8]) {
    const BASE: u64 = 4099;
    let whole = resp_read(data, BASE);
    let chunked = resp_stream(data, BASE, data);
    assert_eq!(
        whole, chunked,
        "invariant: chunked reading differs from whole reading"
    );
    if data.len() <= 2048 {
        let bytewise = resp_stream(data, BASE, &[0]);
        assert_eq!(whole, bytewise, "invariant: byte-by-byte reading differs");
    }
    if whole.failure.is_some() {
        let cut = &data[..(whole.ok_up_to - BASE) as usize];
        let fixed = resp_read(cut, BASE);
        assert!(
            fixed.failure.is_none(),
            "invariant: the input cut at ok_up_to {} still fails: {:?}",
            whole.ok_up_to,
            fixed.failure
        );
        assert!(
            whole.items.starts_with(&fixed.items),
            "invariant: cutting at ok_up_to changed the records before it"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// manifest

/// Manifest parsing: errors point inside the input; a parsed manifest is written back in the
/// order Redis writes it, and that text parses to the same entries and writes identically;
/// names are safe; every line's `sdssplitargs` tokens survive quoting.
pub fn manifest(data: &[u8]) {
    // No RDB content, so no LZF.
    with_alloc_budget(data.len(), || manifest_inner(data));
}

fn manifest_inner(data: &[u8]) {
    use redsafe::aof::manifest::{quote_token, split_args, unsafe_name_reason, FileType};
    use redsafe::aof::Manifest;
    match Manifest::parse(data) {
        Ok(m) => {
            assert!(
                m.entries
                    .iter()
                    .filter(|e| e.file_type == FileType::Base)
                    .count()
                    <= 1
            );
            let mut last = None;
            for e in &m.entries {
                assert!(
                    unsafe_name_reason(&e.name).is_none(),
                    "invariant: an unsafe name was accepted: {:?}",
                    redsafe::error::escape_bytes(&e.name)
                );
                if e.file_type == FileType::Incr {
                    assert!(
                        last.is_none_or(|l| e.seq > l),
                        "invariant: INCR seqs must increase"
                    );
                    last = Some(e.seq);
                }
            }
            // Only comments: written as nothing, which is not a manifest (Redis never writes
            // one without entries either), so only manifests with entries are written back.
            if !m.entries.is_empty() {
                manifest_rewrite(&m);
            }
        }
        Err(e) => check_error(&e, 0, data.len(), "manifest"),
    }
    for line in data.split(|&c| c == b'\n') {
        if let Some(tokens) = split_args(line) {
            let mut quoted = Vec::new();
            for (i, t) in tokens.iter().enumerate() {
                if i > 0 {
                    quoted.push(b' ');
                }
                quote_token(t, &mut quoted);
            }
            assert_eq!(
                split_args(&quoted),
                Some(tokens),
                "invariant: quoted tokens do not split back"
            );
        }
    }
}

/// Writes a manifest and parses it back.
fn manifest_rewrite(m: &redsafe::aof::Manifest) {
    use redsafe::aof::manifest::FileType;
    use redsafe::aof::Manifest;
    let text = m.to_bytes();
    if text
        .split(|&c| c == b'\n')
        .any(|l| l.len() >= redsafe::aof::manifest::MANIFEST_MAX_LINE)
    {
        // Names with many bytes that need `\xHH` quoting can make a written line longer
        // than the 1024 bytes Redis (and redsafe) read; Redis's own writer has the same
        // limit. Such names cannot occur on disk in practice (NAME_MAX is 255).
        return;
    }
    let order = |t: FileType| match t {
        FileType::Base => 0,
        FileType::History => 1,
        FileType::Incr => 2,
    };
    let mut want = m.entries.clone();
    want.sort_by_key(|e| order(e.file_type));
    match Manifest::parse(&text) {
        Ok(m2) => {
            assert_eq!(
                m2.entries, want,
                "invariant: manifest changed through writing"
            );
            assert_eq!(m2.to_bytes(), text, "invariant: writing is not idempotent");
        }
        Err(e) => panic!(
            "invariant: a written manifest does not parse: {e}\n  text: {:?}",
            redsafe::error::escape_bytes(&text)
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// aof_set and filter: sets of files on disk

/// Separates the manifest and the files in `aof_set` and `filter` inputs.
pub const FILE_SEP: &[u8] = b"\n--redsafe-fuzz-file--\n";

/// Removes a thread's scratch directory when the thread (or the process, for the main
/// thread) exits.
struct ScratchGuard(std::path::PathBuf);

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

thread_local! {
    static SCRATCH_GUARD: std::cell::RefCell<Option<ScratchGuard>> =
        const { std::cell::RefCell::new(None) };
}

/// A fresh scratch directory for this thread (on tmpfs when available, so the fsyncs of
/// atomic writes cost nothing), emptied on every call and removed when the thread exits.
fn scratch_dir() -> std::path::PathBuf {
    let root = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let d = root.join(format!(
        "redsafe-fuzz-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch directory");
    SCRATCH_GUARD.with(|g| {
        g.borrow_mut()
            .get_or_insert_with(|| ScratchGuard(d.clone()));
    });
    d
}

/// Splits `data` at every [`FILE_SEP`].
fn split_files(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = memchr::memmem::find(rest, FILE_SEP) {
        out.push(&rest[..i]);
        rest = &rest[i + FILE_SEP.len()..];
    }
    out.push(rest);
    out
}

/// Builds the set an input describes under `dir/in`: without a separator, one file
/// `appendonly.aof`; otherwise a manifest (the first part) and the files it loads (BASE,
/// then INCRs) from the following parts, missing ones left missing. `None` when the manifest
/// does not parse or names files that cannot be created here.
fn build_set(layout: &[u8], dir: &std::path::Path) -> Option<redsafe::aof::AofSet> {
    use redsafe::aof::{AofSet, Manifest};
    let inp = dir.join("in");
    std::fs::create_dir_all(&inp).ok()?;
    let parts = split_files(layout);
    if parts.len() == 1 {
        let p = inp.join("appendonly.aof");
        std::fs::write(&p, layout).ok()?;
        return Some(AofSet::open_file(&p).expect("open a file just written"));
    }
    let m = Manifest::parse(parts[0]).ok()?;
    if m.to_bytes()
        .split(|&c| c == b'\n')
        .any(|l| l.len() >= redsafe::aof::manifest::MANIFEST_MAX_LINE)
    {
        // Names or values with many bytes that need `\xHH` quoting make a written line
        // longer than the 1024 bytes Redis reads (Redis's own writer has the same limit):
        // such a set cannot be written back, as in `manifest`.
        return None;
    }
    let mpath = inp.join("appendonly.aof.manifest");
    let loads: Vec<_> = m.base().into_iter().chain(m.incrs()).collect();
    // Names this file system cannot hold (an I/O error, not damage), present or missing.
    if loads.iter().any(|e| e.name.len() > 200) {
        return None;
    }
    for (e, bytes) in loads.iter().zip(&parts[1..]) {
        if e.name.len() > 200 || e.name == b"appendonly.aof.manifest" {
            return None;
        }
        std::fs::write(inp.join(redsafe::aof::set::name_to_os(&e.name)), bytes).ok()?;
    }
    std::fs::write(&mpath, parts[0]).ok()?;
    match AofSet::open_manifest(&mpath) {
        Ok(s) => Some(s),
        Err(e) => panic!("invariant: a parsed manifest over plain files does not open: {e}"),
    }
}

/// Opens a set written to `out` as Redis would: by the input's manifest name (a file of the
/// set may itself be named `*.manifest`, which makes the directory ambiguous to `open`).
fn open_output(
    set: &redsafe::aof::AofSet,
    out: &std::path::Path,
) -> redsafe::Result<redsafe::aof::AofSet> {
    match set.manifest_name() {
        Some(m) if set.kind == redsafe::aof::AofKind::MultiPartAof => {
            redsafe::aof::AofSet::open_manifest(&out.join(m))
        }
        _ => redsafe::aof::AofSet::open(out),
    }
}

/// Every valid `#TS:` stamp of the set's files, in order.
fn set_timestamps(set: &redsafe::aof::AofSet) -> Vec<i64> {
    let mut out = Vec::new();
    for part in &set.parts {
        let Ok(data) = std::fs::read(&part.path) else {
            continue;
        };
        for item in redsafe::aof::AofReader::new(&data, 0) {
            match item {
                Ok(redsafe::aof::AofItem::Annotation(a)) => out.extend(a.timestamp),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    out
}

/// Where the RESP part of a part starts (after its RDB, when it has one), or `None` when
/// that RDB is damaged.
fn resp_start(part: &redsafe::aof::AofPart, data: &[u8]) -> Option<u64> {
    if !part.rdb {
        return Some(0);
    }
    let r = check_rdb(
        data,
        0,
        CheckOptions {
            now_ms: Some(0),
            ..Default::default()
        },
    );
    r.ok.then(|| r.end_offset.unwrap_or(data.len() as u64))
}

/// A set of AOF files (a manifest and its files, or one file, possibly with an RDB
/// preamble): `check_set`'s per-file results equal reading each file in memory (RDB
/// checker, then the AOF reader with the timestamp carried from the previous file); the
/// verdict follows from the first file that is not valid; and the repair
/// (`plan_fix` + `write_fixed`: truncation, salvage or a timestamp cut, chosen by the flags)
/// accounts for every byte and produces a set that checks valid. Input:
/// `[flags][layout]`, where the layout is one file, or a manifest and the files it loads
/// separated by [`FILE_SEP`]; flags bit 0 salvage, bit 1 cut at a `#TS:` stamp of the input
/// (bits 3.. pick which, bit 2 just before it), bit 7 keep reading after damage.
pub fn aof_set(data: &[u8]) {
    with_input_budget(data, || aof_set_inner(data));
}

fn aof_set_inner(data: &[u8]) {
    use redsafe::aof::{check_set, plan_fix, write_fixed, FileStatus, FixOptions};
    use redsafe::aof::{AofReader, ScanOptions, Verdict};
    let [flags, layout @ ..] = data else {
        return;
    };
    let dir = scratch_dir();
    let Some(set) = build_set(layout, &dir) else {
        return;
    };
    let scan = ScanOptions {
        rdb: CheckOptions {
            now_ms: Some(0),
            ..Default::default()
        },
        continue_after_damage: flags & 0x80 != 0,
        as_loader: false,
    };
    let report = check_set(&set, scan, &mut |_| {})
        .unwrap_or_else(|e| panic!("invariant: checking plain files failed: {e}"));
    assert_eq!(report.files.len(), set.parts.len());

    // Each file as read in memory.
    let mut carry = None;
    let mut first_bad = None;
    for (i, (part, fr)) in set.parts.iter().zip(&report.files).enumerate() {
        if fr.status == FileStatus::NotReached {
            continue;
        }
        let bytes = std::fs::read(&part.path).unwrap_or_default();
        let len = bytes.len() as u64;
        match fr.status {
            FileStatus::Missing => assert!(part.size.is_none()),
            FileStatus::Empty => assert!(bytes.is_empty()),
            FileStatus::RdbDamaged => {
                assert!(
                    resp_start(part, &bytes).is_none(),
                    "invariant: RDB part called damaged"
                );
                let e = fr.rdb_error.as_ref().expect("RDB error");
                check_error(e, 0, bytes.len(), "RDB part");
            }
            FileStatus::Valid | FileStatus::Damaged => {
                let start = resp_start(part, &bytes).expect("invariant: RDB part called valid");
                assert_eq!(fr.resp_offset, start);
                let mut r = AofReader::with_timestamp(&bytes[start as usize..], start, carry);
                for _ in r.by_ref() {}
                assert_eq!(
                    fr.ok_up_to,
                    r.ok_up_to(),
                    "invariant: file and memory disagree"
                );
                assert!(fr.ok_up_to <= len);
                match (r.failure(), &fr.failure) {
                    (None, None) => {
                        assert_eq!(fr.status, FileStatus::Valid);
                        assert_eq!(fr.ok_up_to, len);
                    }
                    (Some(a), Some(b)) => {
                        assert_eq!(fr.status, FileStatus::Damaged);
                        assert_eq!((a.ok_up_to, a.truncated), (b.ok_up_to, b.truncated));
                        assert_eq!(a.error.offset(), b.error.offset());
                        check_error(&b.error, start, (len - start) as usize, "set reader");
                    }
                    (a, b) => panic!("invariant: file and memory disagree: {a:?} / {b:?}"),
                }
                if r.state().timestamp.is_some() {
                    carry = r.state().timestamp;
                }
            }
            FileStatus::NotReached => unreachable!(),
        }
        if first_bad.is_none() && !fr.is_ok() {
            first_bad = Some(i);
        }
    }
    match (first_bad, report.verdict) {
        (None, Verdict::Valid) => {}
        (Some(i), v) => {
            assert_eq!(
                v.file(),
                Some(i),
                "invariant: verdict not about the first bad file"
            );
            let last = set.parts.len() - 1;
            match v {
                Verdict::Truncatable { .. } => assert_eq!(i, last),
                Verdict::DamagedNotLast { .. } => assert!(i < last),
                _ => {}
            }
        }
        (None, v) => panic!("invariant: verdict {v:?} with every file valid"),
    }

    // Repair.
    let stamps = set_timestamps(&set);
    let cut = (flags & 2 != 0 && !stamps.is_empty()).then(|| {
        let t = stamps[(flags >> 3) as usize % stamps.len()];
        t - ((flags >> 2) & 1) as i64
    });
    let fopts = FixOptions {
        truncate_to_timestamp: cut,
        salvage: flags & 1 != 0,
        scan,
    };
    let plan = match plan_fix(&set, &fopts, &mut |_| {}) {
        Ok(p) => p,
        Err(e) => {
            assert!(
                e.is_damage(),
                "invariant: plan_fix refused with a non-damage error: {e}"
            );
            assert!(
                cut.is_some() || !(report.verdict.is_ok() || report.verdict.is_truncatable()),
                "invariant: a valid or truncatable set could not be fixed: {e}"
            );
            return;
        }
    };
    if cut.is_none() && report.verdict.is_ok() {
        assert!(plan.is_noop(), "invariant: fixing a valid set changes it");
    }
    assert_eq!(plan.actions.len(), set.parts.len());
    for (i, (part, action)) in set.parts.iter().zip(&plan.actions).enumerate() {
        let size = part.size.unwrap_or(0);
        let kept = action.kept(size);
        let mut at = 0;
        for r in &kept {
            assert!(
                r.start >= at && r.end >= r.start && r.end <= size,
                "invariant: kept ranges"
            );
            at = r.end;
        }
        let lost: u64 = plan
            .losses
            .iter()
            .filter(|l| l.file == i)
            .map(|l| l.len())
            .sum();
        let kept_len: u64 = kept.iter().map(|r| r.end - r.start).sum();
        assert_eq!(
            kept_len + lost,
            size,
            "invariant: every byte kept or reported lost"
        );
    }
    let out = dir.join("out");
    if let Err(e) = write_fixed(&set, &plan, &out, true) {
        panic!("invariant: the planned repair cannot be written: {e}");
    }
    let fixed =
        open_output(&set, &out).unwrap_or_else(|e| panic!("repaired set does not open: {e}"));
    let again = check_set(&fixed, ScanOptions::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("checking the repaired set failed: {e}"));
    assert!(
        again.is_ok(),
        "invariant: the repaired set is not valid: {:?}",
        again.verdict
    );
}

/// Commands with their database, in order.
type Listing = Vec<(u64, Vec<Vec<u8>>)>;

/// Commands of a set in load order, each with its database, without the `SELECT n`s (two
/// arguments), `MULTI`s and `EXEC`s the filter handles itself.
fn set_commands(set: &redsafe::aof::AofSet) -> Listing {
    let mut out = Vec::new();
    let mut ts = None;
    for part in &set.parts {
        let Ok(data) = std::fs::read(&part.path) else {
            continue;
        };
        let Some(start) = resp_start(part, &data) else {
            continue;
        };
        let mut r = redsafe::aof::AofReader::with_timestamp(&data[start as usize..], start, ts);
        for item in r.by_ref() {
            let Ok(redsafe::aof::AofItem::Command(c)) = item else {
                continue;
            };
            if is_db_select(&c) || c.is("multi") || c.is("exec") {
                continue;
            }
            out.push((c.db, c.args().map(|a| a.to_vec()).collect()));
        }
        ts = r.state().timestamp;
    }
    out
}

/// A `SELECT` that changes the database: two arguments, the second a database number (the
/// AOF reader's rule: 1 to 10 digits). `SELECT x` is an ordinary command to the filter.
fn is_db_select(c: &redsafe::aof::Command<'_>) -> bool {
    c.is("select")
        && c.argc() == 2
        && c.args()
            .nth(1)
            .is_some_and(|a| (1..=10).contains(&a.len()) && a.iter().all(u8::is_ascii_digit))
}

/// What the filter must do with one command, by the rules of `redsafe::aof::filter`'s
/// documentation, worked out independently of its engine.
enum ModelDecision {
    Keep,
    Drop,
    /// Kept with only these arguments (`--split-multikey`).
    Split(Vec<Vec<u8>>),
    /// The filter must refuse (usage error).
    Refuse(String),
}

fn model_decide(
    opts: &redsafe::aof::filter::FilterOptions,
    db: u64,
    argv: &[&[u8]],
) -> ModelDecision {
    use redsafe::aof::keys::{key_positions, special, Special};
    let name = argv.first().copied().unwrap_or_default();
    if opts
        .drop_commands
        .iter()
        .any(|d| d.eq_ignore_ascii_case(name))
    {
        return ModelDecision::Drop;
    }
    let kf = opts.keys.as_ref().filter(|k| !k.is_pass_all());
    let rules: Vec<_> = opts
        .drop_rules
        .iter()
        .filter(|r| r.command.eq_ignore_ascii_case(name))
        .collect();
    if kf.is_none() && rules.is_empty() {
        return ModelDecision::Keep;
    }
    let removed = |db: u64, key: &[u8]| {
        kf.is_some_and(|k| !(k.matches_db(db) && k.matches_key(key)))
            || rules.iter().any(|r| r.pattern.matches(key))
    };
    let sp = special(argv);
    if let Some(k) = kf {
        match sp {
            Special::FlushDb if k.matches_db(db) => return ModelDecision::Keep,
            Special::FlushDb => return ModelDecision::Drop,
            Special::SwapDb(a, b) => {
                return match (k.matches_db(a), k.matches_db(b)) {
                    (true, true) => ModelDecision::Keep,
                    (false, false) => ModelDecision::Drop,
                    _ => ModelDecision::Refuse("SWAPDB across the filter".into()),
                }
            }
            Special::BadDb => return ModelDecision::Refuse("bad database argument".into()),
            _ => {}
        }
    }
    let mut pos = Vec::new();
    if key_positions(argv, &mut pos).is_err() {
        return ModelDecision::Refuse("unknown command or bad key arguments".into());
    }
    let mut gone = Vec::new();
    for &p in &pos {
        let key = argv.get(p).copied().unwrap_or_default();
        gone.push(match sp {
            Special::Move(d) => {
                if removed(db, key) != removed(d, key) {
                    return ModelDecision::Refuse("MOVE across the filter".into());
                }
                removed(db, key)
            }
            Special::CopyDb(d) if p == 2 => removed(d, key),
            _ => removed(db, key),
        });
    }
    let n_gone = gone.iter().filter(|g| **g).count();
    if n_gone == 0 {
        return ModelDecision::Keep;
    }
    if n_gone == gone.len() {
        return ModelDecision::Drop;
    }
    if !opts.split_multikey {
        return ModelDecision::Refuse("kept and removed keys".into());
    }
    let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
    let width = if is(b"del") || is(b"unlink") || is(b"touch") || is(b"exists") {
        1
    } else if is(b"mset") || is(b"msetnx") {
        2
    } else {
        return ModelDecision::Refuse("kept and removed keys, cannot split".into());
    };
    let mut args = vec![name.to_vec()];
    for (&p, g) in pos.iter().zip(&gone) {
        if !g {
            for a in argv.iter().skip(p).take(width) {
                args.push(a.to_vec());
            }
        }
    }
    ModelDecision::Split(args)
}

/// The commands the filter must write for a valid `set` (as [`set_commands`] lists them), or
/// why it must refuse.
fn filter_model(
    set: &redsafe::aof::AofSet,
    opts: &redsafe::aof::filter::FilterOptions,
) -> Result<Listing, String> {
    let kf = opts.keys.as_ref().filter(|k| !k.is_pass_all());
    let window = |ts: Option<i64>| {
        if opts.since.is_none() && opts.until.is_none() {
            return true;
        }
        ts.is_some_and(|t| opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t <= u))
    };
    let mut out = Vec::new();
    let mut ts = None;
    for part in &set.parts {
        let data = std::fs::read(&part.path).unwrap_or_default();
        let start = resp_start(part, &data).expect("a valid set");
        if part.rdb && kf.is_some() {
            let r = check_rdb(&data, 0, CheckOptions::default());
            if r.keys > 0 {
                return Err("a key filter over an RDB part with keys".into());
            }
        }
        let mut r = redsafe::aof::AofReader::with_timestamp(&data[start as usize..], start, ts);
        let mut txn_start = None;
        for item in r.by_ref() {
            let Ok(redsafe::aof::AofItem::Command(c)) = item else {
                continue;
            };
            let name = c.name();
            if opts
                .until_first
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
            {
                // Everything from here on goes, with the transaction holding the command.
                if let Some(t) = txn_start {
                    out.truncate(t);
                }
                return Ok(out);
            }
            if is_db_select(&c) {
                continue;
            }
            if c.is("multi") {
                txn_start = Some(out.len());
                continue;
            }
            if c.is("exec") {
                txn_start = None;
                continue;
            }
            let argv: Vec<&[u8]> = c.args().collect();
            let d = if !opts.is_noop() && window(c.timestamp) {
                model_decide(opts, c.db, &argv)
            } else {
                ModelDecision::Keep
            };
            match d {
                ModelDecision::Keep => out.push((c.db, argv.iter().map(|a| a.to_vec()).collect())),
                ModelDecision::Drop => {}
                ModelDecision::Split(args) => out.push((c.db, args)),
                ModelDecision::Refuse(why) => {
                    return Err(format!(
                        "{why} at offset {} of {}",
                        c.offset,
                        part.name_lossy()
                    ))
                }
            }
        }
        ts = r.state().timestamp;
    }
    Ok(out)
}

/// The AOF filter: damaged input is refused and nothing is written. On a valid set, an
/// independent model of the filter rules ([`filter_model`]) says which commands go, which are
/// split and whether the filter must refuse (a command touching kept and removed keys, a key
/// filter over an RDB part with keys, …): the filter refuses exactly then (a usage error,
/// nothing written), and otherwise writes a set that checks valid whose commands, each with
/// its database, are exactly the model's, in order; no output file is larger than its input
/// plus one `SELECT`, and a filter that drops nothing copies every byte. Input:
/// `[options][window][layout]` (layout as in [`aof_set`]); option bits: 0 drop FLUSHALL and
/// FLUSHDB, 1 drop DEL, 2 drop `SET s:1*`, 3 keep only db 0, 4 keep keys `s:*` and `h:*`
/// but not `s:1*` (the fixtures' key names),
/// 5 cut at the first FLUSHALL, 6 split multi-key commands, 7 only inside a time window
/// picked from the input's stamps by the window byte.
pub fn filter(data: &[u8]) {
    with_input_budget(data, || filter_inner(data));
}

fn filter_inner(data: &[u8]) {
    use redsafe::aof::filter::{filter_set, DropRule, FilterOptions, FilterOutput};
    use redsafe::aof::{check_set, ScanOptions};
    use redsafe::filter::{Glob, KeyFilter};
    let [o, win, layout @ ..] = data else {
        return;
    };
    let (o, win) = (*o, *win);
    let dir = scratch_dir();
    let Some(set) = build_set(layout, &dir) else {
        return;
    };
    let mut opts = FilterOptions::default();
    if o & 1 != 0 {
        opts.drop_commands = vec![b"FLUSHALL".to_vec(), b"flushdb".to_vec()];
    }
    if o & 2 != 0 {
        opts.drop_commands.push(b"DEL".to_vec());
    }
    if o & 4 != 0 {
        opts.drop_rules
            .push(DropRule::parse("SET s:1*").expect("rule"));
    }
    if o & 0x18 != 0 {
        let mut kf = KeyFilter::default();
        if o & 8 != 0 {
            kf.dbs = vec![0];
        }
        if o & 0x10 != 0 {
            kf.include = vec![Glob::new(b"s:*"), Glob::new(b"h:*")];
            kf.exclude = vec![Glob::new(b"s:1*")];
        }
        opts.keys = Some(kf);
    }
    if o & 0x20 != 0 {
        opts.until_first = vec![b"FLUSHALL".to_vec()];
    }
    opts.split_multikey = o & 0x40 != 0;
    if o & 0x80 != 0 {
        let stamps = set_timestamps(&set);
        if !stamps.is_empty() {
            let a = stamps[(win & 15) as usize % stamps.len()];
            let b = stamps[(win >> 4) as usize % stamps.len()];
            opts.since = Some(a.min(b));
            opts.until = Some(a.max(b));
        }
    }
    let report = check_set(&set, ScanOptions::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("checking plain files failed: {e}"));
    let out = dir.join("out");
    let res = filter_set(&set, &opts, FilterOutput::Path(&out), true, &mut |_| {});
    if !report.is_ok() {
        // Refused (as damage, or first for a usage reason), never written; except that
        // `--until-first` stops reading at its cut, so damage after the cut is never seen
        // (and everything after the cut is removed anyway).
        let bad = report.verdict.file().expect("a damaged file");
        let bad_at = report.files[bad]
            .failure
            .as_ref()
            .map_or(0, |f| f.record_offset);
        let cut_before_damage = res.as_ref().is_ok_and(|r| {
            r.cut.as_ref().is_some_and(|c| {
                let ci = set.parts.iter().position(|p| p.name_lossy() == c.file);
                ci.is_some_and(|ci| ci < bad || (ci == bad && c.offset < bad_at))
            })
        });
        if !cut_before_damage {
            if res.is_ok() {
                panic!(
                    "invariant: the filter accepted a damaged set ({:?})",
                    report.verdict
                );
            }
            assert!(!out.exists(), "invariant: output written for damaged input");
            return;
        }
    }
    let model = filter_model(&set, &opts);
    let fr = match (res, model) {
        (Ok(r), Ok(expected)) => (r, expected),
        (Err(e), Err(_)) => {
            assert!(
                matches!(e.kind(), ErrorKind::Usage(_)),
                "invariant: the filter failed on a valid set: {e}"
            );
            assert!(!out.exists(), "invariant: output left after a refusal");
            return;
        }
        (Err(e), Ok(_)) => panic!("invariant: the filter refused what the model accepts: {e}"),
        (Ok(_), Err(why)) => panic!("invariant: the filter accepted what must be refused: {why}"),
    };
    let (fr, expected) = fr;
    let filtered =
        open_output(&set, &out).unwrap_or_else(|e| panic!("filtered set does not open: {e}"));
    let again = check_set(&filtered, ScanOptions::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("checking the filtered set failed: {e}"));
    assert!(
        again.is_ok(),
        "invariant: the filter wrote a set that is not valid: {:?} {:?}",
        again.verdict,
        again
            .damaged_file()
            .and_then(|f| f.failure.as_ref().map(|x| x.error.to_string()))
    );
    assert_eq!(filtered.parts.len(), set.parts.len());
    if opts.is_noop() {
        for (a, b) in set.parts.iter().zip(&filtered.parts) {
            assert_eq!(
                std::fs::read(&a.path).ok(),
                std::fs::read(&b.path).ok(),
                "invariant: a filter that drops nothing changed {}",
                a.name_lossy()
            );
        }
    }
    // Never larger than the input, but for one SELECT a file may need.
    for (a, b) in set.parts.iter().zip(&filtered.parts) {
        let (ia, ib) = (a.size.unwrap_or(0), b.size.unwrap_or(0));
        assert!(
            ib <= ia + 32,
            "invariant: {} grew from {ia} to {ib} bytes",
            a.name_lossy()
        );
    }
    assert_eq!(fr.bytes_in, set.total_size());
    assert_eq!(fr.bytes_out, filtered.total_size());
    // Exactly the commands the model keeps, in order, each in its database.
    let output = set_commands(&filtered);
    if output != expected {
        let show = |v: &Listing| {
            v.iter()
                .map(|(db, args)| {
                    let a: Vec<_> = args
                        .iter()
                        .map(|a| redsafe::error::escape_bytes(a))
                        .collect();
                    format!("{db}:{}", a.join(" "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        panic!(
            "invariant: the filter's output differs from the model's\n  input:    {}\n  expected: {}\n  output:   {}",
            show(&set_commands(&set)),
            show(&expected),
            show(&output)
        );
    }
    let input_n = set_commands(&set).len() as u64;
    assert!(fr.commands_removed <= input_n);
}

// ---------------------------------------------------------------------------------------------
// replay

/// The command replay engine on arbitrary commands: the input is read as an AOF (RESP
/// commands; reading stops at the first damaged record) and every command is applied to a
/// [`redsafe::keyspace::Keyspace`]. Invariants:
/// - no panic; no allocation beyond the budget (strings a command may build are capped in
///   proportion to the input);
/// - an error names the command's offset, and a refused command (or one the engine cannot
///   reproduce) leaves the keyspace exactly as it was;
/// - the keyspace never holds an empty list, set, sorted set or hash;
/// - replaying the same input twice gives the same keyspace;
/// - the keyspace written as an RDB file by [`redsafe::rdb::RdbWriter`] and loaded back is the
///   keyspace Redis would have after a save and a load (sorted sets re-encoded as a listpack
///   when small), with the same `DEBUG DIGEST` in every flavor.
pub fn replay(data: &[u8]) {
    with_input_budget(data, || replay_inner(data));
}

fn replay_run(data: &[u8], check_atomic: bool) -> redsafe::keyspace::Keyspace {
    use redsafe::aof::{AofItem, AofReader};
    use redsafe::keyspace::{ApplyErrorKind, Client, Keyspace};
    let mut ks = Keyspace::new();
    ks.limits.max_string = data.len().saturating_mul(4).saturating_add(64);
    let mut client = Client::new(1_700_000_000_000);
    // Read as `replay_set` reads: past a stray EXEC and a nested MULTI, as Redis's loader.
    for item in AofReader::new(data, 0).as_loader() {
        let Ok(AofItem::Command(c)) = item else {
            if item.is_err() {
                break;
            }
            continue;
        };
        let before = if check_atomic { Some(ks.clone()) } else { None };
        let is_exec = c.is("exec") && client.in_multi();
        match ks.apply(&mut client, &c) {
            Ok(()) => {}
            Err(e) => {
                // A command queued by MULTI fails at EXEC under its own offset.
                if is_exec {
                    assert!(e.offset < c.offset, "invariant: error offset {e}");
                } else {
                    assert_eq!(e.offset, c.offset, "invariant: error offset {e}");
                }
                let partial_exec = is_exec && !e.is_rejection();
                if let (Some(b), false) = (&before, partial_exec) {
                    assert!(
                        *b == ks,
                        "invariant: a command that failed ({e}) changed the keyspace"
                    );
                }
                if let ApplyErrorKind::UnknownCommand = e.kind {
                    // Redis's loader stops here; the fuzzer goes on to reach more commands.
                }
            }
        }
        client.exec_rejections.clear();
    }
    ks
}

fn replay_inner(data: &[u8]) {
    use redsafe::keyspace::digest::Flavor;
    use redsafe::keyspace::load::{load_rdb, LoadOptions};
    use redsafe::keyspace::{save, Keyspace, Value};
    let ks = replay_run(data, true);
    for (db, d) in &ks.dbs {
        for (k, e) in &d.keys {
            assert!(
                !e.value.is_empty_collection(),
                "invariant: empty collection kept at db {db} key {:?}",
                redsafe::error::escape_bytes(k)
            );
            if let Value::Zset(z) = &e.value {
                assert!(z.iter().all(|(_, s)| !s.is_nan()), "invariant: NaN score");
            }
        }
    }
    let again = replay_run(data, false);
    assert!(again == ks, "invariant: replay is not deterministic");

    // RDB round trip: what Redis would hold after SAVE and a restart.
    let mut expected = ks.clone();
    for d in expected.dbs.values_mut() {
        for e in d.keys.values_mut() {
            if let Value::Zset(z) = &mut e.value {
                z.settle_after_load();
            }
        }
    }
    expected.dbs.retain(|_, d| !d.is_empty());
    let rdb = match save::write_rdb(&ks, Vec::new(), 10) {
        Ok(b) => b,
        Err(e) => panic!("invariant: the RDB writer refused the keyspace: {e}"),
    };
    note_lzf_in(&rdb);
    let mut loaded = Keyspace::new();
    if let Err(e) = load_rdb(&mut loaded, &rdb, LoadOptions::default()) {
        panic!("invariant: the written RDB does not load: {e}");
    }
    for fl in [Flavor::Redis70, Flavor::Redis72, Flavor::Redis74] {
        let a = expected.digest_hex_as(fl).expect("digest");
        let b = loaded.digest_hex_as(fl).expect("digest");
        assert_eq!(
            a, b,
            "invariant: the digest changed through the RDB ({fl:?})"
        );
    }
    if loaded.dbs != expected.dbs {
        panic!(
            "invariant: the keyspace changed through the RDB writer and loader: {}",
            keyspace_difference(&expected, &loaded)
        );
    }
}

fn keyspace_difference(a: &redsafe::keyspace::Keyspace, b: &redsafe::keyspace::Keyspace) -> String {
    let dbs: std::collections::BTreeSet<u64> = a.dbs.keys().chain(b.dbs.keys()).copied().collect();
    for db in dbs {
        let empty = redsafe::keyspace::Db::default();
        let da = a.dbs.get(&db).unwrap_or(&empty);
        let dbb = b.dbs.get(&db).unwrap_or(&empty);
        for k in da.keys.keys().chain(dbb.keys.keys()) {
            let (x, y) = (da.keys.get(k), dbb.keys.get(k));
            if x != y {
                let show = |e: Option<&redsafe::keyspace::Entry>| {
                    let s = format!("{e:?}");
                    s.chars().take(600).collect::<String>()
                };
                return format!(
                    "db {db} key {:?}: expected {} / got {}",
                    redsafe::error::escape_bytes(k),
                    show(x),
                    show(y)
                );
            }
        }
    }
    "(no key differs)".into()
}
