//! `redsafe filter` and `redsafe convert` on every fixture, checked against redis-server
//! 7.0.15 (loads, `DEBUG DIGEST`), redis-check-rdb, redsafe check, and the fixtures' own
//! `dump.expected.jsonl` keyspace replayed as commands (an oracle independent of redsafe).

mod common;
mod writer_support;

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::path::Path;

use writer_support::*;

type Lost = HashSet<(u64, Vec<u8>)>;

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

/// Keys that the conversion report says are not in the output.
fn dropped_keys(report: &serde_json::Value) -> (Lost, Vec<(u64, Vec<u8>)>) {
    let mut gone = HashSet::new();
    let mut partial = Vec::new();
    for l in report["losses"].as_array().unwrap() {
        if l["key"].is_null() {
            continue;
        }
        let k = (l["db"].as_u64().unwrap(), jbytes(&l["key"]));
        if l["key_written"].as_bool().unwrap() {
            partial.push(k);
        } else {
            gone.insert(k);
        }
    }
    (gone, partial)
}

/// The digest the source keyspace has in redis-server 7.0.15 once `gone` is removed.
fn oracle_digest(
    src: &Path,
    gone: &Lost,
    cache: &mut BTreeMap<Vec<(u64, Vec<u8>)>, String>,
) -> String {
    let mut k: Vec<(u64, Vec<u8>)> = gone.iter().cloned().collect();
    k.sort();
    if let Some(d) = cache.get(&k) {
        return d.clone();
    }
    let dir = src.parent().unwrap();
    let d = if rdb_version(src) <= 10 {
        digest_with_deleted(src, &k)
    } else {
        expected_digest(dir, gone)
    };
    cache.insert(k, d.clone());
    d
}

fn out_digest(p: &Path) -> String {
    let (_t, s) = load(p)
        .unwrap_or_else(|log| panic!("{} does not load into redis-server: {log}", p.display()));
    s.digest()
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn convert_all_versions(src: &Path) {
    let redis = common::have_redis();
    let t = common::TempDir::new("convert");
    let name = format!(
        "{}/{}",
        src.parent().unwrap().file_name().unwrap().to_string_lossy(),
        src.file_name().unwrap().to_string_lossy()
    );
    let source = read_all(src, false);
    let mut cache = BTreeMap::new();
    let mut fits = Vec::new();
    for v in (1..=14).chain([80]) {
        let out = t.path().join(format!("v{v}.rdb"));
        let vs = v.to_string();
        let (code, stdout, stderr) = redsafe(&[
            os("convert"),
            src.as_os_str(),
            os("-o"),
            out.as_os_str(),
            os("--rdb-version"),
            os(&vs),
            os("--json"),
        ]);
        let (report, lossy) = if code == 0 {
            fits.push(v);
            (
                serde_json::from_str::<serde_json::Value>(&stdout).unwrap(),
                false,
            )
        } else {
            assert_eq!(code, 2, "{name} -> v{v}: {stderr}");
            assert!(stderr.contains("cannot hold"), "{name} -> v{v}: {stderr}");
            assert!(!out.exists(), "no output on failure");
            let (code, stdout, stderr) = redsafe(&[
                os("convert"),
                src.as_os_str(),
                os("-o"),
                out.as_os_str(),
                os("--rdb-version"),
                os(&vs),
                os("--json"),
                os("--lossy"),
            ]);
            assert_eq!(code, 0, "{name} -> v{v} --lossy: {stderr}");
            (
                serde_json::from_str::<serde_json::Value>(&stdout).unwrap(),
                true,
            )
        };
        assert_eq!(rdb_version(&out), v);
        let (ck, cko, _) = redsafe(&[os("check"), out.as_os_str()]);
        assert_eq!(ck, 0, "{name} -> v{v}: redsafe check: {cko}");
        let (gone, partial) = dropped_keys(&report);
        assert_eq!(
            lossy,
            !gone.is_empty()
                || !partial.is_empty()
                || !report["losses"].as_array().unwrap().is_empty(),
            "{name} v{v}"
        );
        // Reader -> writer -> reader is the identity on decoded values (minus what was lost).
        let got = read_all(&out, false);
        let mut want = source.clone();
        want.retain(|k, _| !gone.contains(k));
        let got_cmp = got;
        let want_cmp: BTreeMap<_, _> = want
            .iter()
            .map(|(k, (n, e))| {
                let n = if partial.contains(k) {
                    match n {
                        Norm::V(redsafe::rdb::Value::Hash(h)) => {
                            let mut h = h.clone();
                            h.iter_mut().for_each(|f| f.expire_ms = None);
                            Norm::V(redsafe::rdb::Value::Hash(h))
                        }
                        other => other.clone(),
                    }
                } else {
                    n.clone()
                };
                // RDB 1-2 store expiries in whole seconds (rounded up).
                (
                    k.clone(),
                    (
                        n,
                        e.map(|x| {
                            if v < 3 {
                                (x + 999).div_euclid(1000) * 1000
                            } else {
                                x
                            }
                        }),
                    ),
                )
            })
            .collect();
        assert_eq!(got_cmp.len(), want_cmp.len(), "{name} -> v{v}: key count");
        for (k, w) in &want_cmp {
            assert_eq!(
                got_cmp.get(k),
                Some(w),
                "{name} -> v{v}: key {:?}",
                String::from_utf8_lossy(&k.1)
            );
        }
        if redis && v <= 10 {
            let (ok, txt) = redis_check_rdb(&out);
            assert!(ok, "{name} -> v{v}: redis-check-rdb: {txt}");
            let want = oracle_digest(src, &gone, &mut cache);
            assert_eq!(
                out_digest(&out),
                want,
                "{name} -> v{v}: DEBUG DIGEST in redis-server 7.0.15"
            );
        }
    }
    println!("{name}: fits RDB versions {fits:?}");
}

fn filter_and_compare(
    src: &Path,
    tag: &str,
    args: &[&str],
    keep: impl Fn(u64, &[u8], &str) -> bool,
) {
    let dir = src.parent().unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let t = common::TempDir::new("filter");
    let out = t.path().join("out.rdb");
    let mut a: Vec<&OsStr> = vec![
        os("filter"),
        src.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--json"),
    ];
    a.extend(args.iter().map(|s| os(s)));
    let (code, stdout, stderr) = redsafe(&a);
    assert_eq!(code, 0, "{name} {tag}: {stderr}");
    let rep: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let (ck, cko, _) = redsafe(&[os("check"), out.as_os_str()]);
    assert_eq!(ck, 0, "{name} {tag}: redsafe check: {cko}");
    assert_resizedb_exact(&out);
    // The keys kept are exactly the fixture's keys (from its own key list) that pass.
    let all = expected_keys(dir);
    let mut want: Vec<(u64, Vec<u8>)> = all
        .iter()
        .filter(|(db, k, ty)| keep(*db, k, ty))
        .map(|(db, k, _)| (*db, k.clone()))
        .collect();
    want.sort();
    let mut got: Vec<(u64, Vec<u8>)> = read_all(&out, false).into_keys().collect();
    got.sort();
    // Empty streams hold no entries but are keys; read_all keeps them, so compare directly.
    assert_eq!(got, want, "{name} {tag}: kept keys");
    assert_eq!(rep["keys_written"].as_u64().unwrap(), want.len() as u64);
    // Kept values are byte-identical copies: decoded values equal the source's.
    let source = read_all(src, false);
    let kept = read_all(&out, false);
    for (k, v) in &kept {
        assert_eq!(
            Some(v),
            source.get(k),
            "{name} {tag}: value of {:?}",
            String::from_utf8_lossy(&k.1)
        );
    }
    if common::have_redis() && rdb_version(src) <= 10 {
        let (ok, txt) = redis_check_rdb(&out);
        assert!(ok, "{name} {tag}: redis-check-rdb: {txt}");
        let delete: Vec<(u64, Vec<u8>)> = all
            .iter()
            .filter(|(db, k, ty)| !keep(*db, k, ty))
            .map(|(db, k, _)| (*db, k.clone()))
            .collect();
        assert_eq!(
            out_digest(&out),
            digest_with_deleted(src, &delete),
            "{name} {tag}: DEBUG DIGEST vs the source with the same keys deleted by hand"
        );
    }
}

/// Every RESIZEDB of `p` holds the exact number of keys (and keys with an expiry) that
/// follow it in its database section.
fn assert_resizedb_exact(p: &Path) {
    use redsafe::rdb::{RdbReader, Record};
    let data = std::fs::read(p).unwrap();
    let mut hint: Option<(u64, u64)> = None;
    let mut seen = (0u64, 0u64);
    let check = |hint: &mut Option<(u64, u64)>, seen: &mut (u64, u64)| {
        if let Some(h) = hint.take() {
            assert_eq!(
                h,
                *seen,
                "{}: RESIZEDB (keys, expires) vs the keys in the section",
                p.display()
            );
        }
        *seen = (0, 0);
    };
    for it in RdbReader::new(&data) {
        match it.unwrap().record {
            Record::SelectDb(_) | Record::Eof { .. } => check(&mut hint, &mut seen),
            Record::ResizeDb {
                db_size,
                expires_size,
            } => hint = Some((db_size, expires_size)),
            Record::Entry(e) => {
                seen.0 += 1;
                seen.1 += e.expire_ms.is_some() as u64;
            }
            _ => {}
        }
    }
}

fn filters(src: &Path) {
    if !src.parent().unwrap().join("dump.expected.jsonl").exists() {
        return;
    }
    filter_and_compare(src, "--key s:*", &["--key", "s:*"], |_, k, _| {
        k.starts_with(b"s:")
    });
    filter_and_compare(src, "--db 1", &["--db", "1"], |db, _, _| db == 1);
    filter_and_compare(
        src,
        "--type hash,zset --exclude-key *:1*",
        &["--type", "hash,zset", "--exclude-key", "*:1*"],
        |_, k, ty| {
            (ty == "hash" || ty == "zset") && !redsafe::filter::stringmatchlen(b"*:1*", k, false)
        },
    );
}

fn identical(src: &Path) {
    let t = common::TempDir::new("ident");
    let out = t.path().join("out.rdb");
    let (code, _, stderr) = redsafe(&[os("filter"), src.as_os_str(), os("-o"), out.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    let (_, chk, _) = redsafe(&[os("check"), os("--json"), src.as_os_str()]);
    let chk: serde_json::Value = serde_json::from_str(&chk).unwrap();
    if chk["empty_keys_skipped"].as_u64().unwrap() == 0 {
        assert!(
            std::fs::read(src).unwrap() == std::fs::read(&out).unwrap(),
            "{}: filter without a filter must reproduce the file byte for byte",
            src.display()
        );
    } else {
        // Documented exception: empty collections (which Redis never writes, skips on load and
        // redis-check-rdb rejects) are left out; everything else is kept.
        assert_eq!(read_all(&out, false), read_all(src, false));
        if common::have_redis() {
            let (ok, txt) = redis_check_rdb(&out);
            assert!(ok, "{txt}");
        }
    }
    // Refuses to overwrite without --force, and never writes onto the input.
    let (code, _, stderr) = redsafe(&[os("filter"), src.as_os_str(), os("-o"), out.as_os_str()]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = redsafe(&[
        os("filter"),
        src.as_os_str(),
        os("-o"),
        src.as_os_str(),
        os("--force"),
    ]);
    assert_eq!(code, 2);
}

macro_rules! fixture_tests {
    ($($name:ident => $path:expr,)*) => {$(
        mod $name {
            use super::*;
            fn src() -> Option<std::path::PathBuf> {
                let p = common::shared_dir()?.join("fixtures").join($path);
                assert!(p.exists(), "{} missing", p.display());
                Some(p)
            }
            #[test]
            fn filter_without_filter_is_byte_identical() {
                if let Some(p) = src() { identical(&p) }
            }
            #[test]
            fn filter_by_key_db_type() {
                if let Some(p) = src() { filters(&p) }
            }
            #[test]
            fn convert_to_every_version() {
                if let Some(p) = src() { convert_all_versions(&p) }
            }
        }
    )*};
}

fixture_tests! {
    redis_2_8 => "servers/redis-2.8.24/dump.rdb",
    redis_3_2 => "servers/redis-3.2.13/dump.rdb",
    redis_4_0 => "servers/redis-4.0.14/dump.rdb",
    redis_5_0 => "servers/redis-5.0.14/dump.rdb",
    redis_6_2 => "servers/redis-6.2.16/dump.rdb",
    redis_7_0 => "servers/redis-7.0.15/dump.rdb",
    redis_7_2 => "servers/redis-7.2.6/dump.rdb",
    redis_7_4 => "servers/redis-7.4.1/dump.rdb",
    redis_8_8 => "servers/redis-8.8-unstable/dump.rdb",
    valkey_8_0 => "servers/valkey-8.0.1/dump.rdb",
    asset_encodings => "redis-assets/encodings.rdb",
    asset_hash_zipmap => "redis-assets/hash-zipmap.rdb",
    asset_hash_ziplist => "redis-assets/hash-ziplist.rdb",
    asset_zset_ziplist => "redis-assets/zset-ziplist.rdb",
    asset_list_quicklist => "redis-assets/list-quicklist.rdb",
    asset_scriptbackup => "redis-assets/scriptbackup.rdb",
    asset_corrupt_empty_keys => "redis-assets/corrupt_empty_keys.rdb",
}

#[test]
fn every_fixture_is_covered() {
    // Guard: a new fixture directory must be added to the list above.
    let n = common::server_fixture_dirs().len();
    assert!(
        common::shared_dir().is_none() || n == 10,
        "fixture list out of date: {n} server dirs"
    );
}

#[test]
fn lzf_output_equals_redis_for_every_compressed_string_in_the_fixtures() {
    use redsafe::rdb::cursor::{Cursor, RdbStr};
    let mut z = redsafe::rdb::encode::lzf::LzfCompressor::default();
    let mut n = 0;
    for p in fixtures() {
        let data = std::fs::read(&p).unwrap();
        for it in redsafe::rdb::RdbReader::new(&data) {
            if let redsafe::rdb::Record::Entry(e) = it.unwrap().record {
                if !matches!(e.value.type_byte(), 0 | 9..=13 | 16 | 17 | 20) {
                    continue;
                }
                let s = Cursor::new(e.value.raw(), 0).string("x").unwrap();
                if let RdbStr::Lzf { data: c, .. } = s {
                    let mut u = Vec::new();
                    s.decode(&mut u).unwrap();
                    let mut out = Vec::new();
                    assert!(z.compress(&u, u.len() - 4, &mut out));
                    assert_eq!(
                        out,
                        c,
                        "{}: key {:?}",
                        p.display(),
                        String::from_utf8_lossy(&e.key)
                    );
                    n += 1;
                }
            }
        }
    }
    assert!(
        common::shared_dir().is_none() || n > 50,
        "only {n} LZF strings found"
    );
}

#[test]
fn replay_oracle_reproduces_the_recorded_digest_of_servers_up_to_7_0() {
    // The jsonl replay used as the oracle for newer sources is itself checked: for servers
    // whose DEBUG DIGEST algorithm equals 7.0.15's, it gives the digest they recorded.
    if !common::have_redis() {
        return;
    }
    let mut n = 0;
    for d in common::server_fixture_dirs() {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("meta.json")).unwrap()).unwrap();
        let v = meta["version"].as_str().unwrap_or("");
        if !(v.starts_with("2.")
            || v.starts_with("3.")
            || v.starts_with("4.")
            || v.starts_with("5.")
            || v.starts_with("6.")
            || v.starts_with("7.0"))
        {
            continue;
        }
        assert_eq!(
            expected_digest(&d, &HashSet::new()),
            meta["dump.rdb"]["digest"].as_str().unwrap(),
            "{}",
            d.display()
        );
        n += 1;
    }
    assert!(common::shared_dir().is_none() || n >= 6);
}

#[test]
fn library_transform_to_a_plain_writer_matches_the_seekable_one() {
    use redsafe::rdb::transform::{transform, transform_seekable, TransformOptions};
    let Some(s) = common::shared_dir() else {
        return;
    };
    let src = s.join("fixtures/servers/redis-7.0.15/dump.rdb");
    let data = std::fs::read(&src).unwrap();
    let mut opts = TransformOptions {
        verify_checksum: true,
        ..Default::default()
    };
    opts.filter = redsafe::filter::KeyFilter::new();
    // No filter: both reproduce the input.
    let (_, a) = transform(&data, Vec::new(), &opts, &mut |_| {}, &mut |_| {}).unwrap();
    assert!(a == data);
    // A filter: same keys; the plain writer uses the smallest length forms.
    opts.filter.include.push(redsafe::filter::Glob::new(b"h:*"));
    let (ra, a) = transform(&data, Vec::new(), &opts, &mut |_| {}, &mut |_| {}).unwrap();
    let (rb, b) = transform_seekable(
        &data,
        std::io::Cursor::new(Vec::new()),
        &opts,
        None,
        &mut |_| {},
    )
    .unwrap();
    let b = b.into_inner();
    assert_eq!(ra.keys_written, rb.keys_written);
    let t = common::TempDir::new("plain");
    for (name, bytes) in [("a.rdb", &a), ("b.rdb", &b)] {
        let p = t.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        assert_resizedb_exact(&p);
        assert_eq!(redsafe(&[os("check"), p.as_os_str()]).0, 0);
    }
    assert_eq!(
        read_all(&t.path().join("a.rdb"), false),
        read_all(&t.path().join("b.rdb"), false)
    );
    assert!(
        a.len() < b.len(),
        "the plain writer's RESIZEDB uses the smallest forms"
    );
}

#[test]
fn move_db_renumbers_and_refuses_collisions() {
    let Some(s) = common::shared_dir() else {
        return;
    };
    let src = s.join("fixtures/servers/redis-7.0.15/dump.rdb");
    let t = common::TempDir::new("movedb");
    let out = t.path().join("moved.rdb");
    let (code, _, stderr) = redsafe(&[
        os("filter"),
        src.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--db"),
        os("1"),
        os("--move-db"),
        os("1:5"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_resizedb_exact(&out);
    let got = read_all(&out, false);
    let want: BTreeMap<_, _> = read_all(&src, false)
        .into_iter()
        .filter(|(k, _)| k.0 == 1)
        .map(|((_, k), v)| ((5, k), v))
        .collect();
    assert_eq!(got, want);
    if common::have_redis() {
        // The source in redis-server, other dbs flushed and db 1 moved to 5 by hand.
        let (_t, srv) = load(&src).unwrap();
        let mut c = srv.client();
        for db in ["0", "3"] {
            c.cmd(&[b"SELECT", db.as_bytes()]).unwrap();
            c.cmd(&[b"FLUSHDB"]).unwrap();
        }
        c.cmd(&[b"SELECT", b"1"]).unwrap();
        for (_, k) in want.keys() {
            assert_eq!(c.cmd(&[b"MOVE", k, b"5"]).unwrap(), common::Reply::Int(1));
        }
        let (_t2, mv) = load(&out).unwrap();
        assert_eq!(mv.digest(), srv.digest());
    }
    // Keys present in both db 0 and db 1 cannot both go to db 0.
    let both = t.path().join("both.rdb");
    let (code, _, stderr) = redsafe(&[
        os("filter"),
        src.as_os_str(),
        os("-o"),
        both.as_os_str(),
        os("--move-db"),
        os("1:0"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("database mapping"), "{stderr}");
    assert!(!both.exists());
}

/// Every value of every server fixture, materialised and written back from the owned value
/// (`entry_value`, the path a replay engine uses) in the file's own version, reads back equal;
/// for RDB ≤ 10 the rebuilt file has the source's DEBUG DIGEST in redis-server 7.0.15.
#[test]
fn owned_values_rebuild_every_fixture() {
    use redsafe::rdb::{EntryMeta, RdbReader, RdbWriter, Record};
    for d in common::server_fixture_dirs() {
        let src = d.join("dump.rdb");
        let data = std::fs::read(&src).unwrap();
        let h = redsafe::rdb::Header::parse(&data, 0).unwrap();
        let mut w = RdbWriter::new(Vec::new(), h.dialect, h.version).unwrap();
        let mut db = None;
        for it in RdbReader::new(&data) {
            if let Record::Entry(e) = it.unwrap().record {
                if db != Some(e.db) {
                    w.select_db(e.db).unwrap();
                    db = Some(e.db);
                }
                let v = e.value.materialize().unwrap();
                let out = w.entry_value(&e.key, &EntryMeta::of(&e), &v).unwrap();
                assert!(
                    out.written(),
                    "{}: {:?}: {out:?}",
                    src.display(),
                    String::from_utf8_lossy(&e.key)
                );
            }
        }
        let rebuilt = w.finish().unwrap();
        let t = common::TempDir::new("owned");
        let p = t.path().join("rebuilt.rdb");
        std::fs::write(&p, &rebuilt).unwrap();
        assert_eq!(
            redsafe(&[os("check"), p.as_os_str()]).0,
            0,
            "{}",
            src.display()
        );
        assert!(
            read_all(&p, false) == read_all(&src, false),
            "{}: values differ",
            src.display()
        );
        if common::have_redis() && h.version <= 10 {
            let (ok, txt) = redis_check_rdb(&p);
            assert!(ok, "{txt}");
            assert_eq!(out_digest(&p), out_digest(&src), "{}", src.display());
        }
    }
}

/// Collections larger than the writer's buffer are written out between their elements while
/// they are encoded: the result must still be exactly what redis-server saved, in every RDB
/// version redis-server 7.0 loads.
#[test]
fn large_collections_convert_exactly_to_every_version() {
    if !common::have_redis() {
        return;
    }
    let t = common::TempDir::new("convert-large");
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let s = common::RedisServer::start(&src, &["--dbfilename", "dump.rdb"]).unwrap();
    let mut c = s.client();
    // Incompressible values, so the encodings stay larger than the buffer after LZF.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in 0..40 {
        let mut cmds = Vec::new();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            let m = format!("m{i:07}").into_bytes();
            let mut v = m.clone();
            for _ in 0..6 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.extend_from_slice(format!("{x:016x}").as_bytes());
            }
            cmds.push(vec![b"RPUSH".to_vec(), b"list".to_vec(), v.clone()]);
            cmds.push(vec![b"SADD".to_vec(), b"set".to_vec(), v.clone()]);
            cmds.push(vec![
                b"ZADD".to_vec(),
                b"zset".to_vec(),
                format!("{}.5", i % 977).into_bytes(),
                v.clone(),
            ]);
            cmds.push(vec![b"HSET".to_vec(), b"hash".to_vec(), m, v]);
        }
        c.pipeline(&cmds).unwrap();
    }
    c.cmd(&[b"SAVE"]).unwrap();
    let want = s.digest();
    drop(s);
    let rdb = src.join("dump.rdb");
    for v in 1..=10u32 {
        let out = t.path().join(format!("v{v}.rdb"));
        let vs = v.to_string();
        let (code, _, stderr) = redsafe(&[
            os("convert"),
            rdb.as_os_str(),
            os("-o"),
            out.as_os_str(),
            os("--rdb-version"),
            os(&vs),
        ]);
        assert_eq!(code, 0, "v{v}: {stderr}");
        assert!(std::fs::metadata(&out).unwrap().len() > 8 << 20);
        let got = common::digest_of_rdb(&out).unwrap_or_else(|log| panic!("v{v}: {log}"));
        assert_eq!(
            got, want,
            "v{v}: redis-server's digest of the converted file"
        );
    }
}
