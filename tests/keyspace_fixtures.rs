//! The replay engine against the fixture oracles: every server's `dump.rdb` loaded digests to
//! `meta.json`'s `dump.rdb.digest` (Redis's own `DEBUG DIGEST`), and every AOF set replayed
//! reaches the `DEBUG DIGEST` recorded after each second of its workload (`aof.timeline`) and
//! at its end (`aof.final_digest`).

mod common;

use std::path::Path;

use redsafe::aof::AofSet;
use redsafe::keyspace::load::{load_rdb, LoadOptions};
use redsafe::keyspace::{replay_set, Keyspace, ReplayOptions};
use serde_json::Value;

fn meta(d: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(d.join("meta.json")).unwrap()).unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The digest after each second of `timeline`: the state just before the first `#TS:`
/// annotation later than that second, or at the end.
fn timeline_digests(set: &AofSet, seconds: &[i64]) -> (Vec<String>, String) {
    let mut got: Vec<Option<String>> = vec![None; seconds.len()];
    let mut on_ts = |ts: i64, ks: &Keyspace| {
        for (i, s) in seconds.iter().enumerate() {
            if got[i].is_none() && ts > *s {
                got[i] = Some(ks.digest_hex().unwrap_or_else(|e| format!("error: {e}")));
            }
        }
    };
    let r = replay_set(set, &ReplayOptions::default(), &mut on_ts).unwrap();
    assert!(r.set.verdict.is_ok(), "{:?}", r.set.verdict);
    assert_eq!(r.rejected, 0, "{:?}", r.rejections.first());
    let fin = r.keyspace.digest_hex().unwrap_or_else(|e| format!("error: {e}"));
    let got = got
        .into_iter()
        .map(|g| g.unwrap_or_else(|| fin.clone()))
        .collect();
    (got, fin)
}

#[test]
fn dump_rdb_digests_match_redis() {
    let mut checked = Vec::new();
    for d in common::server_fixture_dirs() {
        let m = meta(&d);
        let want = m["dump.rdb"]["digest"].as_str().unwrap().to_string();
        let data = std::fs::read(d.join("dump.rdb")).unwrap();
        let mut ks = Keyspace::new();
        load_rdb(
            &mut ks,
            &data,
            LoadOptions {
                drop_expired_before: Some(now_ms()),
            },
        )
        .unwrap();
        let server = d.file_name().unwrap().to_string_lossy().to_string();
        let got = ks.digest_hex();
        eprintln!("{server}: dump {:?} want {want}", got);
        checked.push((server, got.ok(), want));
    }
    for (server, got, want) in &checked {
        assert_eq!(got.as_deref(), Some(want.as_str()), "{server}");
    }
}

#[test]
fn aof_timelines_match_redis() {
    let mut failures = Vec::new();
    for d in common::server_fixture_dirs() {
        let m = meta(&d);
        let server = d.file_name().unwrap().to_string_lossy().to_string();
        let set = AofSet::open(&d.join(m["aof"]["path"].as_str().unwrap())).unwrap();
        let tl = m["aof"]["timeline"].as_array().unwrap();
        let seconds: Vec<i64> = tl.iter().map(|t| t["second"].as_i64().unwrap()).collect();
        let want: Vec<String> = tl
            .iter()
            .map(|t| t["digest"].as_str().unwrap().to_string())
            .collect();
        let (got, fin) = timeline_digests(&set, &seconds);
        let want_final = m["aof"]["final_digest"].as_str().unwrap();
        eprintln!("{server}: final {fin} want {want_final}");
        if fin != want_final {
            failures.push(format!("{server}: final {fin} != {want_final}"));
        }
        if m["aof"]["timestamps"].as_bool() == Some(true) && got != want {
            failures.push(format!("{server}: timeline {got:?} != {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

mod keyspace_support;

/// Where the engine and redis-server 7.0.15 (which loads these sets) disagree, key by key.
#[test]
fn aof_sets_agree_with_redis_key_by_key() {
    if !common::have_redis() {
        return;
    }
    for server in ["redis-7.0.15", "redis-2.8.24", "redis-5.0.14"] {
        let Some(shared) = common::shared_dir() else { return };
        let d = shared.join("fixtures/servers").join(server);
        let m = meta(&d);
        let t = common::TempDir::new("ks-aof");
        let src = d.join(m["aof"]["path"].as_str().unwrap());
        let o = std::process::Command::new("cp").arg("-r").arg(&src).arg(t.path()).status().unwrap();
        assert!(o.success());
        std::process::Command::new("chmod").args(["-R", "u+w"]).arg(t.path()).status().unwrap();
        let extra: Vec<String> = if src.is_dir() {
            vec!["--appendonly".into(), "yes".into()]
        } else {
            vec!["--appendonly".into(), "yes".into(), "--appendfilename".into(), "appendonly.aof".into()]
        };
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let s = common::RedisServer::start(t.path(), &extra).unwrap();
        let set = AofSet::open(&src).unwrap();
        let r = replay_set(&set, &ReplayOptions::default(), &mut |_, _| {}).unwrap();
        let diff = keyspace_support::first_difference(&mut s.client(), &r.keyspace);
        assert_eq!(diff, None, "{server}");
    }
}

#[test]
#[ignore]
fn debug_sizes() {
    let set = AofSet::open(Path::new("/work/shared/fixtures/servers/redis-7.0.15/appendonlydir")).unwrap();
    let r = replay_set(&set, &ReplayOptions::default(), &mut |t, ks| {
        eprintln!("ts {t}: {} {:?}", ks.digest_hex().unwrap(), ks.dbs.iter().map(|(k, d)| (*k, d.len())).collect::<Vec<_>>());
    })
    .unwrap();
    for (db, d) in &r.keyspace.dbs {
        eprintln!("db{db}: {}", d.len());
    }
    eprintln!("{} commands {} rejected {:?}", r.commands, r.rejected, r.set.verdict);
}

#[test]
#[ignore]
fn debug_first_second() {
    let t = common::TempDir::new("ks-dbg");
    let src = Path::new("/work/shared/fixtures/servers/redis-7.0.15/appendonlydir");
    std::process::Command::new("cp").arg("-r").arg(src).arg(t.path()).status().unwrap();
    std::process::Command::new("chmod").args(["-R", "u+w"]).arg(t.path()).status().unwrap();
    let sec = 1795364449i64;
    let o = std::process::Command::new("redis-check-aof")
        .args(["--truncate-to-timestamp", &sec.to_string()])
        .arg(t.path().join("appendonlydir/appendonly.aof.manifest"))
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&o.stdout));
    let s = common::RedisServer::start(t.path(), &["--appendonly", "yes"]).unwrap();
    eprintln!("server {}", s.digest());
    let set = AofSet::open(&t.path().join("appendonlydir")).unwrap();
    let r = replay_set(&set, &ReplayOptions::default(), &mut |_, _| {}).unwrap();
    eprintln!("ours {}", r.keyspace.digest_hex().unwrap());
    eprintln!("{:?}", keyspace_support::first_difference(&mut s.client(), &r.keyspace));
}
