//! Helpers for the RDB writer tests: fixture lists, running the CLI, independent digests
//! (source loaded into redis-server with keys deleted by hand, or the fixture's
//! `dump.expected.jsonl` replayed as commands), and value normalisation.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, RedisServer, Reply, TempDir};

/// Every valid RDB fixture: the servers' dumps and Redis's own valid test assets.
pub fn fixtures() -> Vec<PathBuf> {
    let Some(s) = common::shared_dir() else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = common::server_fixture_dirs()
        .into_iter()
        .map(|d| d.join("dump.rdb"))
        .collect();
    for a in [
        "corrupt_empty_keys",
        "encodings",
        "hash-ziplist",
        "hash-zipmap",
        "list-quicklist",
        "scriptbackup",
        "zset-ziplist",
    ] {
        v.push(s.join("fixtures/redis-assets").join(format!("{a}.rdb")));
    }
    v
}

/// Runs redsafe; returns (exit code, stdout, stderr).
pub fn redsafe(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let o = Command::new(common::redsafe_bin())
        .args(args)
        .output()
        .expect("run redsafe");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `redis-check-rdb` verdict (true = OK) and its output.
pub fn redis_check_rdb(p: &Path) -> (bool, String) {
    let o = Command::new("redis-check-rdb")
        .arg(p)
        .output()
        .expect("run redis-check-rdb");
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    (o.status.success() && s.contains("RDB looks OK"), s)
}

/// RDB version in a file's magic.
pub fn rdb_version(p: &Path) -> u32 {
    let b = std::fs::read(p).unwrap();
    let d = if b.starts_with(b"VALKEY") {
        &b[6..9]
    } else {
        &b[5..9]
    };
    std::str::from_utf8(d).unwrap().parse().unwrap()
}

/// Starts redis-server on a copy of `rdb`.
pub fn load(rdb: &Path) -> Result<(TempDir, RedisServer), String> {
    let t = TempDir::new("wload");
    std::fs::copy(rdb, t.path().join("dump.rdb")).unwrap();
    let s = RedisServer::start(t.path(), &["--dbfilename", "dump.rdb"])?;
    Ok((t, s))
}

/// Digest of `rdb` loaded into redis-server after deleting `delete` (db, key) by hand.
pub fn digest_with_deleted(rdb: &Path, delete: &[(u64, Vec<u8>)]) -> String {
    let (_t, s) = load(rdb).expect("source loads");
    let mut c = s.client();
    for (db, k) in delete {
        c.cmd(&[b"SELECT", db.to_string().as_bytes()]).unwrap();
        c.cmd(&[b"DEL", k]).unwrap();
    }
    s.digest()
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
        serde_json::Value::Number(n) => n.to_string().into_bytes(),
        other => panic!("not bytes: {other}"),
    }
}

/// The keys listed in a server fixture's `dump.expected.jsonl`, with their types.
pub fn expected_keys(dir: &Path) -> Vec<(u64, Vec<u8>, String)> {
    let text = std::fs::read_to_string(dir.join("dump.expected.jsonl")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["db"].as_u64().unwrap(),
                jbytes(&v["key"]),
                v["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Digest of the fixture's expected keyspace (`dump.expected.jsonl`) replayed as commands
/// into a fresh redis-server, leaving out `skip`. Independent of redsafe's reader and writer.
pub fn expected_digest(dir: &Path, skip: &HashSet<(u64, Vec<u8>)>) -> String {
    let t = TempDir::new("wreplay");
    let s = RedisServer::start(t.path(), &[]).expect("redis starts");
    let mut c = s.client();
    for r in c.pipeline(&replay_commands(dir, skip)).unwrap() {
        assert!(!matches!(r, Reply::Error(_)), "replay failed: {r:?}");
    }
    s.digest()
}

/// The commands that rebuild a fixture's expected keyspace.
pub fn replay_commands(dir: &Path, skip: &HashSet<(u64, Vec<u8>)>) -> Vec<Vec<Vec<u8>>> {
    let text = std::fs::read_to_string(dir.join("dump.expected.jsonl")).unwrap();
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let db = v["db"].as_u64().unwrap();
        let key = jbytes(&v["key"]);
        if skip.contains(&(db, key.clone())) {
            continue;
        }
        cmds.push(vec![b"SELECT".to_vec(), db.to_string().into_bytes()]);
        let val = &v["value"];
        let arr = |x: &serde_json::Value| x.as_array().cloned().unwrap_or_default();
        match v["type"].as_str().unwrap() {
            "string" => cmds.push(vec![b"SET".to_vec(), key.clone(), jbytes(val)]),
            "list" => {
                let mut c = vec![b"RPUSH".to_vec(), key.clone()];
                c.extend(arr(val).iter().map(jbytes));
                cmds.push(c);
            }
            "set" => {
                let mut c = vec![b"SADD".to_vec(), key.clone()];
                c.extend(arr(val).iter().map(jbytes));
                cmds.push(c);
            }
            "zset" => {
                let mut c = vec![b"ZADD".to_vec(), key.clone()];
                for p in arr(val) {
                    let p = arr(&p);
                    c.push(jbytes(&p[1]));
                    c.push(jbytes(&p[0]));
                }
                cmds.push(c);
            }
            "hash" => {
                let mut c = vec![b"HSET".to_vec(), key.clone()];
                for p in arr(val) {
                    let p = arr(&p);
                    c.push(jbytes(&p[0]));
                    c.push(jbytes(&p[1]));
                }
                cmds.push(c);
            }
            "stream" => {
                let entries = arr(val);
                if entries.is_empty() {
                    cmds.push(vec![
                        b"XADD".to_vec(),
                        key.clone(),
                        b"1-1".to_vec(),
                        b"x".to_vec(),
                        b"y".to_vec(),
                    ]);
                    cmds.push(vec![b"XDEL".to_vec(), key.clone(), b"1-1".to_vec()]);
                }
                for e in entries {
                    let e = arr(&e);
                    let mut c = vec![b"XADD".to_vec(), key.clone(), jbytes(&e[0])];
                    c.extend(arr(&e[1]).iter().map(jbytes));
                    cmds.push(c);
                }
            }
            other => panic!("cannot replay type {other} into redis 7.0"),
        }
        if let Some(e) = v.get("expire_ms") {
            let at = e.as_i64().unwrap_or(4_102_444_800_000);
            cmds.push(vec![
                b"PEXPIREAT".to_vec(),
                key.clone(),
                at.to_string().into_bytes(),
            ]);
        }
    }
    cmds
}

use redsafe::rdb::{RdbReader, Record, Value};
use std::collections::BTreeMap;

/// A value in a form independent of encoding and of what older RDB versions cannot record:
/// sets and hashes sorted, zsets sorted by member, streams reduced to entries, length, last
/// ID and consumer groups (name, last ID, PEL IDs and counts, consumers and their PELs).
#[derive(Debug, Clone, PartialEq)]
pub enum Norm {
    V(Value),
    Stream {
        entries: Vec<redsafe::rdb::model::StreamEntry>,
        length: u64,
        last: String,
        groups: Vec<String>,
    },
}

pub fn normalize(v: Value, drop_field_ttls: bool) -> Norm {
    match v {
        Value::Set(mut s) => {
            s.sort();
            Norm::V(Value::Set(s))
        }
        Value::Zset(mut z) => {
            z.sort_by(|a, b| a.0.cmp(&b.0));
            Norm::V(Value::Zset(z))
        }
        Value::Hash(mut h) => {
            h.sort_by(|a, b| a.field.cmp(&b.field));
            if drop_field_ttls {
                for f in &mut h {
                    f.expire_ms = None;
                }
            }
            Norm::V(Value::Hash(h))
        }
        Value::Stream(s) => {
            let groups = s
                .groups
                .iter()
                .map(|g| {
                    let mut pel: Vec<String> = g
                        .pending
                        .iter()
                        .filter(|p| !g.nacked.contains(&p.id))
                        .map(|p| format!("{}:{}:{}", p.id, p.delivery_count, p.delivery_time_ms))
                        .collect();
                    pel.sort();
                    let cons: Vec<String> = g
                        .consumers
                        .iter()
                        .map(|c| {
                            format!(
                                "{}:{}:{:?}",
                                String::from_utf8_lossy(&c.name),
                                c.seen_time_ms,
                                c.pending
                            )
                        })
                        .collect();
                    format!(
                        "{}|{}|{:?}|{:?}",
                        String::from_utf8_lossy(&g.name),
                        g.last_id,
                        pel,
                        cons
                    )
                })
                .collect();
            Norm::Stream {
                entries: s.entries,
                length: s.meta.length,
                last: s.meta.last_id.to_string(),
                groups,
            }
        }
        other => Norm::V(other),
    }
}

/// Every key of an RDB with its normalized value and expiry, by (db, key).
pub fn read_all(p: &Path, drop_field_ttls: bool) -> BTreeMap<(u64, Vec<u8>), (Norm, Option<i64>)> {
    let data = std::fs::read(p).unwrap();
    let mut m = BTreeMap::new();
    for it in RdbReader::new(&data) {
        let it = it.unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if let Record::Entry(e) = it.record {
            let v = e
                .value
                .materialize()
                .unwrap_or_else(|err| panic!("{}: {err}", p.display()));
            let empty = match &v {
                Value::List(x) | Value::Set(x) => x.is_empty(),
                Value::Zset(x) => x.is_empty(),
                Value::Hash(x) => x.is_empty(),
                _ => false,
            };
            if !empty {
                m.insert(
                    (e.db, e.key.to_vec()),
                    (normalize(v, drop_field_ttls), e.expire_ms),
                );
            }
        }
    }
    m
}
