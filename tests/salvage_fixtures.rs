//! `redsafe salvage` on real files damaged in the ways disks and crashes damage them: a
//! damaged value in the middle, a torn tail, a zeroed 4 KiB page, a bad checksum. The output
//! must pass redsafe check and redis-check-rdb, load into redis-server 7.0.15 with the same
//! DEBUG DIGEST as the original with the lost keys deleted by hand, hold every other key with
//! its original value, and every key missing from it must lie in a reported lost range.

mod common;
mod writer_support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;

use redsafe::rdb::{RdbReader, Record, ValueType};
use writer_support::*;

/// (db, key) -> (record start, record end, type) of every key of a valid file.
fn records(p: &Path) -> BTreeMap<(u64, Vec<u8>), (u64, u64, ValueType)> {
    let data = std::fs::read(p).unwrap();
    let mut m = BTreeMap::new();
    for it in RdbReader::new(&data) {
        let it = it.unwrap();
        if let Record::Entry(e) = it.record {
            m.insert(
                (e.db, e.key.to_vec()),
                (
                    it.offset,
                    e.value.offset() + e.value.len() as u64,
                    e.value.value_type(),
                ),
            );
        }
    }
    m
}

fn value_start(p: &Path, key: &(u64, Vec<u8>)) -> u64 {
    let data = std::fs::read(p).unwrap();
    for it in RdbReader::new(&data) {
        if let Record::Entry(e) = it.unwrap().record {
            if e.db == key.0 && *e.key == key.1[..] {
                return e.value.offset();
            }
        }
    }
    panic!("key not found")
}

fn jbytes(v: &serde_json::Value) -> Vec<u8> {
    match v {
        serde_json::Value::String(s) => s.as_bytes().to_vec(),
        serde_json::Value::Object(o) => {
            let h = o["hex"].as_str().unwrap();
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect()
        }
        other => panic!("not bytes: {other}"),
    }
}

/// Salvages `damaged` (a damaged copy of `orig`) and checks everything; returns the report.
fn salvage_and_check(orig: &Path, damaged: &[u8], tag: &str) -> serde_json::Value {
    let t = common::TempDir::new("salvage");
    let input = t.path().join("damaged.rdb");
    std::fs::write(&input, damaged).unwrap();
    let out = t.path().join("out.rdb");
    let (code, stdout, stderr) = redsafe(&[
        OsStr::new("salvage"),
        input.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("--json"),
    ]);
    assert_eq!(
        code, 1,
        "{tag}: salvage of a damaged file exits 1: {stderr}"
    );
    let rep: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let (ck, cko, _) = redsafe(&[OsStr::new("check"), out.as_os_str()]);
    assert_eq!(ck, 0, "{tag}: the output passes redsafe check: {cko}");
    let original = read_all(orig, false);
    let recovered = read_all(&out, false);
    assert_eq!(
        rep["keys_recovered"].as_u64().unwrap(),
        recovered.len() as u64,
        "{tag}"
    );
    for (k, v) in &recovered {
        // (No value in the message: some are large.)
        assert!(
            Some(v) == original.get(k),
            "{tag}: recovered key {:?} must have its original value",
            String::from_utf8_lossy(&k.1)
        );
    }
    // A range that runs to the end of the damaged file covers everything after it (torn tail).
    let orig_len = std::fs::metadata(orig).unwrap().len();
    let ranges: Vec<(u64, u64)> = rep["lost_ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["start"].as_u64().unwrap(), r["end"].as_u64().unwrap()))
        .map(|(a, b)| {
            (
                a,
                if b == damaged.len() as u64 {
                    orig_len
                } else {
                    b
                },
            )
        })
        .collect();
    let recs = records(orig);
    let mut missing = Vec::new();
    for (k, (s, e, _)) in &recs {
        if !recovered.contains_key(k) {
            assert!(ranges.iter().any(|&(a, b)| *s < b.max(a + 1) && a < *e), "{tag}: key {:?} (bytes {s}..{e}) is missing but in no reported lost range {ranges:?}", String::from_utf8_lossy(&k.1));
            missing.push(k.clone());
        }
    }
    // Keys named as lost are really missing from the output.
    for l in rep["keys_lost"].as_array().unwrap() {
        let k = (l["db"].as_u64().unwrap(), jbytes(&l["key"]));
        assert!(
            !recovered.contains_key(&k),
            "{tag}: {k:?} reported lost but present"
        );
    }
    if common::have_redis() && rdb_version(orig) <= 10 {
        let (ok, txt) = redis_check_rdb(&out);
        assert!(ok, "{tag}: redis-check-rdb: {txt}");
        let (_t, s) = load(&out).unwrap_or_else(|log| panic!("{tag}: output does not load: {log}"));
        assert_eq!(
            s.digest(),
            digest_with_deleted(orig, &missing),
            "{tag}: DEBUG DIGEST equals the original with the lost keys deleted by hand"
        );
    }
    println!(
        "{tag}: {} of {} keys recovered, lost ranges {ranges:?}",
        recovered.len(),
        recs.len()
    );
    rep
}

fn fixture(rel: &str) -> Option<std::path::PathBuf> {
    Some(
        common::shared_dir()?
            .join("fixtures/servers")
            .join(rel)
            .join("dump.rdb"),
    )
}

fn damaged_value_in_the_middle(rel: &str) {
    let Some(p) = fixture(rel) else { return };
    let data = std::fs::read(&p).unwrap();
    // The collection whose record is nearest the middle of the file.
    let mid = data.len() as u64 / 2;
    let (key, (s, e, _)) = records(&p)
        .into_iter()
        .filter(|(_, (s, e, t))| *t != ValueType::String && *t != ValueType::Stream && e - s > 64)
        .min_by_key(|(_, (s, _, _))| s.abs_diff(mid))
        .unwrap();
    // Damage the value's structure (its first bytes: a length, an encoding or a blob
    // header). Bytes inside a string's content cannot be detected by any structure check;
    // the bad_checksum case covers what salvage says then.
    let mut d = data.clone();
    let vstart = value_start(&p, &key);
    assert!(vstart > s && vstart < e);
    let at = vstart as usize;
    d[at..at + 16].fill(0xFF);
    let rep = salvage_and_check(&p, &d, &format!("{rel} damaged value"));
    let named: Vec<(u64, Vec<u8>)> = rep["keys_lost"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["db"].as_u64().unwrap(), jbytes(&l["key"])))
        .collect();
    assert!(
        named.contains(&key),
        "{rel}: the damaged key {:?} is reported by name: {named:?}",
        String::from_utf8_lossy(&key.1)
    );
    assert_eq!(
        read_all(&p, false).len() - 1,
        rep["keys_recovered"].as_u64().unwrap() as usize,
        "{rel}: only the damaged key is lost"
    );
}

fn torn_tail(rel: &str) {
    let Some(p) = fixture(rel) else { return };
    let data = std::fs::read(&p).unwrap();
    let cut = data.len() * 7 / 10;
    let rep = salvage_and_check(&p, &data[..cut], &format!("{rel} torn tail"));
    assert!(!rep["eof_found"].as_bool().unwrap());
    // Every key whose record ends before the cut is recovered.
    let whole = records(&p)
        .values()
        .filter(|(_, e, _)| (*e as usize) <= cut)
        .count() as u64;
    assert!(
        rep["keys_recovered"].as_u64().unwrap() >= whole - 1,
        "{rel}: torn tail keeps the keys before the cut"
    );
}

fn zeroed_page(rel: &str) {
    let Some(p) = fixture(rel) else { return };
    let mut d = std::fs::read(&p).unwrap();
    let at = (d.len() / 2) & !4095;
    d[at..at + 4096].fill(0);
    let rep = salvage_and_check(&p, &d, &format!("{rel} zeroed page"));
    let lost: u64 = rep["lost_bytes"].as_u64().unwrap();
    assert!(lost >= 4096, "{rel}: the zeroed page is reported");
}

fn bad_checksum(rel: &str) {
    let Some(p) = fixture(rel) else { return };
    let mut d = std::fs::read(&p).unwrap();
    let n = d.len();
    d[n - 3] ^= 0x10;
    let rep = salvage_and_check(&p, &d, &format!("{rel} bad checksum"));
    assert!(rep["checksum_mismatch"].is_object());
    assert!(rep["lost_ranges"].as_array().unwrap().is_empty());
    assert_eq!(
        rep["keys_recovered"].as_u64().unwrap() as usize,
        read_all(&p, false).len()
    );
}

macro_rules! salvage_tests {
    ($($name:ident => $rel:expr,)*) => {$(
        mod $name {
            #[test]
            fn damaged_value_in_the_middle() { super::damaged_value_in_the_middle($rel) }
            #[test]
            fn torn_tail() { super::torn_tail($rel) }
            #[test]
            fn zeroed_4k_page() { super::zeroed_page($rel) }
            #[test]
            fn bad_checksum() { super::bad_checksum($rel) }
        }
    )*};
}

salvage_tests! {
    redis_2_8 => "redis-2.8.24",
    redis_5_0 => "redis-5.0.14",
    redis_7_0 => "redis-7.0.15",
    redis_7_4 => "redis-7.4.1",
    redis_8_8 => "redis-8.8-unstable",
    valkey_8_0 => "valkey-8.0.1",
}

#[test]
fn intact_input_is_reproduced_and_exits_0() {
    let Some(p) = fixture("redis-7.2.6") else {
        return;
    };
    let t = common::TempDir::new("salvage-ok");
    let out = t.path().join("out.rdb");
    let (code, _, stderr) = redsafe(&[
        OsStr::new("salvage"),
        p.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        std::fs::read(&p).unwrap() == std::fs::read(&out).unwrap(),
        "salvage of an intact file reproduces it"
    );
}

#[test]
fn damaged_magic_is_guessed() {
    let Some(p) = fixture("redis-7.0.15") else {
        return;
    };
    let mut d = std::fs::read(&p).unwrap();
    d[..5].copy_from_slice(b"XXXXX");
    let rep = salvage_and_check(&p, &d, "damaged magic");
    assert!(rep["header_guessed"].as_bool().unwrap());
    assert_eq!(
        rep["keys_recovered"].as_u64().unwrap() as usize,
        read_all(&p, false).len()
    );
}

/// Damage the structure of many different values (every 7th collection) of two files, one at
/// a time: each time only that key may be lost and no invented key may appear.
#[test]
fn many_damaged_values() {
    for rel in [
        "redis-2.8.24",
        "redis-4.0.14",
        "redis-7.2.6",
        "redis-8.8-unstable",
    ] {
        let Some(p) = fixture(rel) else { return };
        let data = std::fs::read(&p).unwrap();
        let recs = records(&p);
        let targets: Vec<_> = recs
            .iter()
            .filter(|(_, (_, _, t))| *t != ValueType::String)
            .step_by(7)
            .collect();
        assert!(targets.len() >= 8);
        for (key, (s, e, _)) in targets {
            let vstart = value_start(&p, key);
            assert!(vstart > *s && vstart < *e);
            let mut d = data.clone();
            let at = vstart as usize;
            let n = 16.min((*e - vstart) as usize);
            d[at..at + n].fill(0xFF);
            let rep = salvage_and_check(
                &p,
                &d,
                &format!("{rel} damaged {:?}", String::from_utf8_lossy(&key.1)),
            );
            assert!(
                rep["keys_recovered"].as_u64().unwrap() as usize >= recs.len() - 2,
                "{rel}: at most the damaged key and a neighbour are lost"
            );
        }
    }
}

/// Zeroed 4 KiB pages at several places of one file.
#[test]
fn zeroed_pages_anywhere() {
    let Some(p) = fixture("redis-6.2.16") else {
        return;
    };
    let data = std::fs::read(&p).unwrap();
    for i in 1..8 {
        let at = (data.len() * i / 8) & !4095;
        let mut d = data.clone();
        d[at..at + 4096].fill(0);
        salvage_and_check(&p, &d, &format!("redis-6.2.16 page at {at}"));
    }
}
