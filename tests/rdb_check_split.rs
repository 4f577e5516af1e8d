//! `check_rdb` split between threads at speculative record boundaries must report exactly what
//! one sequential pass reports — verdict, error (offset, message, database, key) and every
//! count — on every RDB fixture, on damaged copies of them (truncations, byte flips with and
//! without the CRC fixed), and on generated files with several databases, where a part's keys
//! before its first SELECTDB belong to the database the part before it ends in. The
//! sequential checker is the one tested against `redis-check-rdb` and the fixtures' expected
//! keys (rdb_corruption, rdb_fixtures_decode, rdb_generated).

mod common;
mod rdb_support;

use redsafe::rdb::model::HashField;
use redsafe::rdb::{
    check_rdb, CheckOptions, Dialect, EntryMeta, RdbReport, RdbWriter, Value, WriterOptions,
};

use rdb_support::*;

fn sequential(data: &[u8]) -> RdbReport {
    check_rdb(
        data,
        0,
        CheckOptions {
            now_ms: Some(1_700_000_000_000),
            threads: 1,
            split_min_bytes: u64::MAX,
            ..Default::default()
        },
    )
}

fn split(data: &[u8], threads: usize) -> RdbReport {
    check_rdb(
        data,
        0,
        CheckOptions {
            now_ms: Some(1_700_000_000_000),
            threads,
            split_min_bytes: 0,
            ..Default::default()
        },
    )
}

/// Compares the split reports (2, 3, 4 threads) with the sequential one; returns how many of
/// them were really split (more than one confirmed part).
fn assert_same(what: &str, data: &[u8]) -> usize {
    let a = sequential(data);
    assert_eq!(a.parts, 1, "{what}: the sequential check was split");
    let ja = serde_json::to_value(&a).unwrap();
    let mut split_runs = 0;
    for threads in 2..=4 {
        let b = split(data, threads);
        assert_eq!(
            a.error, b.error,
            "{what}: split in {threads} threads ({} parts) finds another error",
            b.parts
        );
        // On damage the counts are of what was read before stopping, which depends on how
        // far each thread got: only a valid file's counts are compared.
        if a.ok {
            assert_eq!(
                ja,
                serde_json::to_value(&b).unwrap(),
                "{what}: split in {threads} threads ({} parts) reports differently",
                b.parts
            );
        }
        split_runs += (b.parts > 1) as usize;
    }
    split_runs
}

fn all_rdbs() -> Vec<std::path::PathBuf> {
    let mut v = generated_rdbs();
    v.extend(shared_server_rdbs());
    v.extend(shared_valid_assets());
    v
}

#[test]
fn fixtures_split_report_equals_sequential() {
    let mut split_files = 0;
    let files = all_rdbs();
    for p in &files {
        let data = std::fs::read(p).unwrap();
        split_files += (assert_same(&short(p), &data) > 0) as usize;
    }
    // Small files can end before a candidate is found; most fixtures must really be split
    // or the comparison above proves nothing.
    assert!(
        split_files * 2 > files.len(),
        "only {split_files} of {} fixtures were split",
        files.len()
    );
}

#[test]
fn damaged_fixtures_split_report_equals_sequential() {
    for p in all_rdbs() {
        let name = short(&p);
        let data = std::fs::read(&p).unwrap();
        let mut rng = Rng(seed_for(&name) ^ 0x5eed);
        let Some(eof) = sequential(&data).eof_offset else {
            continue;
        };
        let crc = data.len() >= eof as usize + 9 && magic_version(&data).is_some_and(|v| v >= 5);
        for i in 0..40 {
            let cut = rng.below(data.len() as u64) as usize;
            assert_same(&format!("{name} cut at {cut}"), &data[..cut]);
            let mut d = data.clone();
            let at = rng.below(eof) as usize;
            d[at] ^= rng.mask();
            if crc && i % 2 == 0 {
                // Hidden from the CRC, so the damage itself is what is reported.
                fix_crc(&mut d, eof as usize);
            }
            assert_same(&format!("{name} flip at {at}"), &d);
        }
    }
}

/// A file of `dbs` databases of `per_db` keys each (strings, small hashes and lists, some with
/// expiries), and the number of keys written per database.
fn multi_db_file(dbs: &[u64], per_db: usize) -> Vec<u8> {
    let opts = WriterOptions {
        compression: true,
        ..Default::default()
    };
    let mut w = RdbWriter::with_options(Vec::new(), Dialect::Redis, 11, opts).unwrap();
    for &db in dbs {
        w.select_db(db).unwrap();
        for i in 0..per_db {
            let key = format!("db{db}:key:{i}");
            let v = match i % 3 {
                0 => Value::String(format!("value-{i}-{}", "x".repeat(i % 50)).into_bytes()),
                1 => Value::Hash(
                    (0..1 + i % 5)
                        .map(|f| HashField {
                            field: format!("f{f}").into_bytes(),
                            value: format!("v{i}").into_bytes(),
                            expire_ms: None,
                        })
                        .collect(),
                ),
                _ => Value::List(
                    (0..1 + i % 7)
                        .map(|x| format!("{x}").into_bytes())
                        .collect(),
                ),
            };
            let meta = EntryMeta {
                expire_ms: (i % 4 == 0).then_some(1_600_000_000_000 + (i as i64) * 1_000_000),
                ..Default::default()
            };
            w.entry_value(key.as_bytes(), &meta, &v).unwrap();
        }
    }
    w.finish().unwrap()
}

#[test]
fn several_databases_split_counts_and_errors() {
    let dbs = [0, 5, 9];
    let per_db = 4000;
    let data = multi_db_file(&dbs, per_db);
    assert_eq!(assert_same("three databases", &data), 3);
    for threads in 2..=4 {
        let r = split(&data, threads);
        assert!(r.ok, "{:?}", r.error);
        // Eight parts per thread (no minimum part size here), every one confirmed.
        assert_eq!(r.parts, threads * 8, "{threads} threads");
        assert_eq!(r.keys, (dbs.len() * per_db) as u64);
        for db in dbs {
            assert_eq!(r.dbs[&db].keys, per_db as u64, "db {db}, {threads} threads");
        }
    }
    // Damage in every region of the file, with the CRC fixed so the damage is what is
    // reported: the error (with its database and key) is the sequential pass's.
    let eof = sequential(&data).eof_offset.unwrap() as usize;
    let mut rng = Rng(42);
    for _ in 0..300 {
        let mut d = data.clone();
        let at = 9 + rng.below((eof - 9) as u64) as usize;
        d[at] ^= rng.mask();
        fix_crc(&mut d, eof);
        assert_same(&format!("three databases, flip at {at}"), &d);
    }
}

/// The last database number there is (a 64-bit length): still a real SELECTDB, not the
/// placeholder of a part that has not seen one.
#[test]
fn highest_database_number() {
    let dbs = [0, u64::MAX, 7];
    let data = multi_db_file(&dbs, 3000);
    assert_eq!(assert_same("database 2^64-1", &data), 3);
    for threads in 2..=4 {
        let r = split(&data, threads);
        for db in dbs {
            assert_eq!(r.dbs[&db].keys, 3000, "db {db}, {threads} threads");
        }
    }
}

/// An RDB followed by other bytes (an AOF with an RDB preamble): the parts never run past
/// the RDB's end, and the report is the sequential one.
#[test]
fn preamble_followed_by_resp() {
    let mut data = multi_db_file(&[0, 3], 3000);
    let rdb_len = data.len() as u64;
    for i in 0..2000 {
        data.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$5\r\nk{i:04}\r\n$1\r\nv\r\n").as_bytes(),
        );
    }
    assert_same("RDB preamble + RESP", &data);
    let r = split(&data, 2);
    assert!(r.ok);
    assert_eq!(r.end_offset, Some(rdb_len));
    assert_eq!(r.trailing_bytes, data.len() as u64 - rdb_len);
}
