//! `redsafe check` (the binary) on RDB files: accepts what the servers wrote (key counts from
//! the fixture oracles and redis-check-rdb), rejects truncations, a flipped checksum byte,
//! `corrupt_ziplist.rdb` and the hand-made corrupt cases with the right offset, and prints
//! the JSON shape of issue 2.

mod common;
mod rdb_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use redsafe::rdb::{check_rdb, CheckOptions, RdbReader};
use serde_json::Value as Json;

use rdb_support::*;

/// Runs `redsafe check [--json] path`; returns (exit code, stdout).
fn run_check(path: &Path, json: bool) -> (i32, String) {
    let mut cmd = Command::new(common::redsafe_bin());
    cmd.arg("check");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.arg(path).output().expect("run redsafe");
    let code = out.status.code().expect("redsafe killed by a signal");
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn check_json(path: &Path) -> (i32, Json) {
    let (code, out) = run_check(path, true);
    let j: Json = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{}: --json output is not JSON ({e}): {out}", path.display()));
    (code, j)
}

/// The issue-2 shape of a successful check.
fn assert_ok_shape(name: &str, j: &Json, version: u32, keys: u64) {
    assert_eq!(j["ok"], Json::Bool(true), "{name}: {j}");
    assert_eq!(j["kind"], "rdb", "{name}");
    assert_eq!(
        j["version"].as_u64(),
        Some(version as u64),
        "{name}: version"
    );
    assert_eq!(j["keys"].as_u64(), Some(keys), "{name}: keys");
    assert!(
        j.get("error").is_none(),
        "{name}: error on a valid file: {}",
        j["error"]
    );
}

/// The issue-2 shape of a damaged-file report; returns (offset, message, key).
fn assert_damaged_shape(name: &str, code: i32, j: &Json) -> (u64, String, Json) {
    assert_eq!(code, 1, "{name}: exit status {code}: {j}");
    assert_eq!(j["ok"], Json::Bool(false), "{name}");
    assert_eq!(j["kind"], "rdb", "{name}");
    assert!(
        j.get("version").is_some() && j.get("keys").is_some(),
        "{name}: {j}"
    );
    let e = &j["error"];
    let offset = e["offset"]
        .as_u64()
        .unwrap_or_else(|| panic!("{name}: no error.offset: {j}"));
    let message = e["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no error.message"))
        .to_string();
    assert!(
        e.get("key").is_some(),
        "{name}: error.key missing (must be null when unknown): {e}"
    );
    (offset, message, e["key"].clone())
}

fn expected_line_count(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("dump.expected.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64
}

/// Record start offsets of a valid file (from the library reader) and its EOF offset.
fn layout(data: &[u8]) -> (Vec<u64>, u64) {
    let starts: Vec<u64> = RdbReader::new(data).map(|i| i.unwrap().offset).collect();
    let r = check_rdb(data, 0, CheckOptions::default());
    assert!(r.ok, "{:?}", r.error);
    (starts, r.eof_offset.unwrap())
}

/// All valid RDB files the CLI must accept, with the key count each must report.
fn valid_files() -> Vec<(PathBuf, u64)> {
    let mut v: Vec<(PathBuf, u64)> = common::server_fixture_dirs()
        .into_iter()
        .map(|d| {
            let n = expected_line_count(&d);
            (d.join("dump.rdb"), n)
        })
        .collect();
    for p in generated_rdbs() {
        let n = std::fs::read_to_string(p.with_extension("expected.jsonl"))
            .unwrap()
            .lines()
            .count();
        v.push((p, n as u64));
    }
    v
}

#[test]
fn accepts_every_server_dump_and_generated_fixture() {
    let files = valid_files();
    assert!(files.len() >= 5);
    let check_rdb_ok = have_check_rdb();
    for (path, keys) in files {
        let name = short(&path);
        let data = std::fs::read(&path).unwrap();
        let version = magic_version(&data).unwrap();
        let (code, j) = check_json(&path);
        assert_eq!(code, 0, "{name}: exit status: {j}");
        assert_ok_shape(&name, &j, version, keys);
        // The text report says so too.
        let (code, text) = run_check(&path, false);
        assert_eq!(code, 0, "{name}");
        assert!(text.contains("result: OK"), "{name}: {text}");
        // redis-check-rdb counts the same keys where it can read the version.
        if check_rdb_ok && version <= CHECK_RDB_MAX_VERSION {
            let r = redis_check_rdb(&path);
            assert!(r.ok, "{name}: redis-check-rdb rejects it: {}", r.stdout);
            assert_eq!(r.keys_read, Some(keys), "{name}: redis-check-rdb key count");
        }
    }
}

#[test]
fn accepts_the_valid_redis_assets() {
    let assets = shared_valid_assets();
    if assets.is_empty() {
        return;
    }
    assert!(have_check_rdb());
    for path in assets {
        let name = short(&path);
        let data = std::fs::read(&path).unwrap();
        let version = magic_version(&data).unwrap();
        assert!(version <= CHECK_RDB_MAX_VERSION, "{name}: v{version}");
        let (code, j) = check_json(&path);
        assert_eq!(code, 0, "{name}: {j}");
        let r = redis_check_rdb(&path);
        if name == "corrupt_empty_keys.rdb" {
            // Nine empty collections: redis-server loads the file and skips them (spec §9.4),
            // while redis-check-rdb 7.0.15 stops at the first one ("Unexpected EOF").
            assert_ok_shape(&name, &j, version, 0);
            assert_eq!(j["empty_keys_skipped"].as_u64(), Some(9), "{name}: {j}");
            assert!(
                !r.ok,
                "{name}: redis-check-rdb 7.0.15 is expected to reject it"
            );
            if common::have_redis() {
                common::digest_of_rdb(&path)
                    .unwrap_or_else(|log| panic!("{name}: redis-server refuses it:\n{log}"));
            }
        } else {
            assert!(r.ok, "{name}: redis-check-rdb rejects it: {}", r.stdout);
            assert_ok_shape(&name, &j, version, r.keys_read.unwrap());
        }
    }
}

#[test]
fn rejects_corrupt_ziplist_asset_at_the_damaged_key() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let path = shared.join("fixtures/redis-assets/corrupt_ziplist.rdb");
    let (code, j) = check_json(&path);
    let (offset, message, key) = assert_damaged_shape("corrupt_ziplist.rdb", code, &j);
    assert_eq!(key, "key:000000000091", "{j}");
    assert!(message.contains("ziplist"), "{message}");
    // The damaged record starts where the (shallow) reader finds the key; redis-check-rdb
    // reports the offset after reading the whole value.
    let data = std::fs::read(&path).unwrap();
    let start = RdbReader::new(&data)
        .filter_map(|i| i.ok())
        .find_map(|i| match i.record {
            redsafe::rdb::Record::Entry(e) if e.key.as_ref() == b"key:000000000091" => {
                Some(i.offset)
            }
            _ => None,
        })
        .expect("the damaged key's record");
    let r = redis_check_rdb(&path);
    assert!(!r.ok);
    let rcr = r.offset.unwrap();
    assert!(
        start <= offset && offset <= rcr,
        "offset {offset} not in [{start}, {rcr}]"
    );
    let (code, text) = run_check(&path, false);
    assert_eq!(code, 1);
    assert!(
        text.contains("DAMAGED") && text.contains(&format!("offset {offset}")),
        "{text}"
    );
}

#[test]
fn rejects_truncations_with_the_offset_where_input_ends() {
    let tmp = common::TempDir::new("cli-trunc");
    for (path, _) in valid_files() {
        let name = short(&path);
        let data = std::fs::read(&path).unwrap();
        let (starts, eof) = layout(&data);
        let mid = starts[starts.len() / 2];
        let mut rng = Rng(seed_for(&name));
        // (cut, smallest acceptable error offset)
        let mut cuts: Vec<(u64, u64)> = vec![
            (0, 0),
            (5, 0),
            (9, 9),
            (mid, mid),
            (eof, eof),
            (eof + 1, eof + 1),
        ];
        if magic_version(&data).unwrap() >= 5 {
            cuts.push((data.len() as u64 - 1, eof + 1));
        }
        for _ in 0..3 {
            let cut = 9 + rng.below(eof - 9);
            let start = *starts.iter().filter(|&&s| s <= cut).max().unwrap();
            cuts.push((cut, start));
        }
        for (cut, lo) in cuts {
            let p = write_temp(tmp.path(), "t.rdb", &data[..cut as usize]);
            let (code, j) = check_json(&p);
            let ctx = format!("{name} cut at {cut}");
            let (offset, message, _) = assert_damaged_shape(&ctx, code, &j);
            assert!(
                message.contains("unexpected end of input"),
                "{ctx}: {message}"
            );
            assert!(
                lo <= offset && offset <= cut,
                "{ctx}: offset {offset} not in [{lo}, {cut}]"
            );
            if starts.contains(&cut) || cut <= 9 || cut == eof + 1 {
                // Input ends exactly where a record (or the magic, or the checksum) starts.
                assert_eq!(offset, cut, "{ctx}");
            }
        }
    }
}

#[test]
fn rejects_a_flipped_checksum_byte_at_the_checksum() {
    let tmp = common::TempDir::new("cli-crc");
    let mut n = 0;
    for (path, _) in valid_files() {
        let name = short(&path);
        let data = std::fs::read(&path).unwrap();
        if magic_version(&data).unwrap() < 5 {
            continue;
        }
        let (_, eof) = layout(&data);
        let mut rng = Rng(seed_for(&name));
        for k in [0, 7, 1 + rng.below(6)] {
            let mut d = data.clone();
            d[(eof + 1 + k) as usize] ^= rng.mask();
            let p = write_temp(tmp.path(), "c.rdb", &d);
            let (code, j) = check_json(&p);
            let ctx = format!("{name} checksum byte {k} flipped");
            let (offset, message, _) = assert_damaged_shape(&ctx, code, &j);
            // A zero checksum means "not computed"; any other stored value is verified.
            assert!(message.contains("checksum mismatch"), "{ctx}: {message}");
            assert_eq!(offset, eof + 1, "{ctx}: the error is at the checksum");
            n += 1;
        }
    }
    assert!(n >= 15);
}

#[test]
fn rejects_the_hand_made_corrupt_cases() {
    let dir = common::project_fixture("rdb/corrupt");
    let (code, j) = check_json(&dir.join("base.rdb"));
    assert_eq!(code, 0, "base.rdb: {j}");
    let cases: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let file = c["file"].as_str().unwrap();
        let path = dir.join(file);
        let (code, j) = check_json(&path);
        let (offset, message, key) = assert_damaged_shape(file, code, &j);
        let lo = c["record_offset"].as_u64().unwrap();
        let damage = c["damage_offset"].as_u64().unwrap();
        let rcr = c["redis_check_rdb"]["offset"].as_u64().unwrap_or(0);
        let hi = damage.max(rcr);
        assert!(
            lo <= offset && offset <= hi,
            "{file}: offset {offset} not in [{lo}, {hi}]: {message}"
        );
        if let Some(k) = c["key"].as_str() {
            assert_eq!(key, k, "{file}: error.key");
        }
        match c["kind"].as_str().unwrap() {
            "truncated" => assert!(
                message.contains("unexpected end of input"),
                "{file}: {message}"
            ),
            "checksum" => assert!(message.contains("checksum mismatch"), "{file}: {message}"),
            _ => assert!(
                !message.contains("checksum"),
                "{file}: found by the CRC only: {message}"
            ),
        }
        // The installed redis-check-rdb still agrees that the file is damaged.
        if have_check_rdb() {
            assert!(
                !redis_check_rdb(&path).ok,
                "{file}: redis-check-rdb accepts it"
            );
        }
    }
}

/// A file with a database number ≥ 16 is valid (exit 0) but a default server refuses it:
/// `check` says so and names the `databases` setting that loads it. Oracle: redis-server
/// 7.0.15 refuses the file with the default setting and loads it with the suggested one.
#[test]
fn warns_about_databases_a_default_server_refuses() {
    if !common::have_redis() {
        return;
    }
    let t = common::TempDir::new("db20");
    {
        let s = common::RedisServer::start(
            t.path(),
            &["--databases", "32", "--dbfilename", "dump.rdb"],
        )
        .expect("start redis");
        let mut c = s.client();
        c.cmd(&[b"SELECT", b"20"]).unwrap();
        c.cmd(&[b"SET", b"k", b"v"]).unwrap();
        c.cmd(&[b"SAVE"]).unwrap();
    }
    let rdb = t.path().join("dump.rdb");
    let (code, j) = check_json(&rdb);
    assert_eq!(code, 0, "{j}");
    let w = j["warnings"].as_array().expect("warnings array");
    assert!(
        w.iter()
            .any(|x| x.as_str().unwrap_or("").contains("databases 21")),
        "{j}"
    );
    let (_, text) = run_check(&rdb, false);
    assert!(text.contains("warning: database 20 is used"), "{text}");
    // The oracle: refused by default, loaded with `databases 21`.
    let d = common::TempDir::new("db20-load");
    std::fs::copy(&rdb, d.path().join("dump.rdb")).unwrap();
    let refused = common::RedisServer::start(d.path(), &["--dbfilename", "dump.rdb"]);
    assert!(
        refused.is_err(),
        "a default server loaded a file with db 20"
    );
    let loaded =
        common::RedisServer::start(d.path(), &["--dbfilename", "dump.rdb", "--databases", "21"]);
    assert!(loaded.is_ok(), "{:?}", loaded.err());
    // A file using only databases < 16 has no such warning.
    let (_, j) = check_json(&valid_files()[0].0);
    assert!(
        !j["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap_or("").contains("databases")),
        "{j}"
    );
}

#[test]
fn exit_status_2_for_a_missing_file() {
    let tmp = common::TempDir::new("cli-missing");
    let (code, _) = run_check(&tmp.path().join("nope.rdb"), true);
    assert_eq!(code, 2);
}
