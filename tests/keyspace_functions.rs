//! Function libraries through the replay engine, against redis-server 7.0.15: a server with
//! appendonly on runs `FUNCTION LOAD` / `LOAD REPLACE` / `DELETE` / `FLUSH` / `RESTORE` (and
//! refused forms), with a BGREWRITEAOF in the middle so that the BASE holds libraries too.
//! Replaying its AOF directory must give exactly the server's libraries (`FUNCTION LIST
//! WITHCODE`), and the engine's RDB, loaded by a second server, the same libraries and the
//! same `DEBUG DIGEST`.

mod common;

use std::collections::BTreeMap;

use common::Reply;
use redsafe::aof::AofSet;
use redsafe::keyspace::{replay_set, save, ReplayOptions};

fn lib(name: &str, body: &str) -> Vec<u8> {
    format!(
        "#!lua name={name}\nredis.register_function('{name}_f', function(keys, args) return '{body}' end)"
    )
    .into_bytes()
}

/// Library name → source, from `FUNCTION LIST WITHCODE`.
fn server_libraries(c: &mut common::Client) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let Reply::Array(Some(libs)) = c.cmd(&[b"FUNCTION", b"LIST", b"WITHCODE"]).unwrap() else {
        panic!("FUNCTION LIST reply");
    };
    let mut out = BTreeMap::new();
    for l in libs {
        let Reply::Array(Some(fields)) = l else {
            panic!("library entry")
        };
        let get = |k: &str| {
            fields
                .chunks(2)
                .find(|kv| kv[0] == Reply::Bulk(Some(k.as_bytes().to_vec())))
                .map(|kv| match &kv[1] {
                    Reply::Bulk(Some(b)) => b.clone(),
                    other => panic!("{k}: {other:?}"),
                })
                .unwrap()
        };
        out.insert(get("library_name"), get("library_code"));
    }
    out
}

fn wait_for_rewrite(c: &mut common::Client) {
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Reply::Bulk(Some(info)) = c.cmd(&[b"INFO", b"persistence"]).unwrap() {
            let i = String::from_utf8_lossy(&info).to_string();
            if i.contains("aof_rewrite_in_progress:0") && !i.contains("aof_rewrite_scheduled:1") {
                return;
            }
        }
    }
    panic!("BGREWRITEAOF did not finish");
}

#[test]
fn function_libraries_replay_and_save_as_redis_keeps_them() {
    if !common::have_redis() {
        return;
    }
    let t = common::TempDir::new("ks-functions");
    let s = common::RedisServer::start(t.path(), &["--appendonly", "yes"]).unwrap();
    let mut c = s.client();
    let ok = |r: Reply| assert!(!matches!(r, Reply::Error(_)), "{r:?}");
    let refused = |r: Reply| assert!(matches!(r, Reply::Error(_)), "{r:?}");

    ok(c.cmd(&[b"FUNCTION", b"LOAD", &lib("one", "v1")]).unwrap());
    ok(c.cmd(&[b"SET", b"k", b"v"]).unwrap());
    ok(c.cmd(&[b"FUNCTION", b"LOAD", &lib("two", "v1")]).unwrap());
    ok(
        c.cmd(&[b"FUNCTION", b"LOAD", b"REPLACE", &lib("one", "v2")])
            .unwrap(),
    );
    refused(
        c.cmd(&[b"FUNCTION", b"LOAD", &lib("two", "again")])
            .unwrap(),
    );
    ok(c.cmd(&[b"FUNCTION", b"LOAD", &lib("three", "v1")]).unwrap());
    ok(c.cmd(&[b"FUNCTION", b"DELETE", b"three"]).unwrap());
    refused(c.cmd(&[b"FUNCTION", b"DELETE", b"three"]).unwrap());
    // The BASE written now holds libraries one and two.
    ok(c.cmd(&[b"BGREWRITEAOF"]).unwrap());
    wait_for_rewrite(&mut c);
    let Reply::Bulk(Some(dump)) = c.cmd(&[b"FUNCTION", b"DUMP"]).unwrap() else {
        panic!("FUNCTION DUMP");
    };
    ok(c.cmd(&[b"FUNCTION", b"FLUSH"]).unwrap());
    ok(c.cmd(&[b"FLUSHALL"]).unwrap());
    ok(c.cmd(&[b"FUNCTION", b"LOAD", &lib("four", "v1")]).unwrap());
    ok(c.cmd(&[b"FUNCTION", b"RESTORE", &dump]).unwrap());
    refused(c.cmd(&[b"FUNCTION", b"RESTORE", &dump]).unwrap());
    ok(
        c.cmd(&[b"FUNCTION", b"LOAD", b"REPLACE", &lib("two", "v3")])
            .unwrap(),
    );
    ok(c.cmd(&[b"FUNCTION", b"RESTORE", &dump, b"REPLACE"])
        .unwrap());
    ok(c.cmd(&[b"FUNCTION", b"LOAD", &lib("five", "v1")]).unwrap());
    let mut bad = dump.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    refused(c.cmd(&[b"FUNCTION", b"RESTORE", &bad]).unwrap());
    ok(c.cmd(&[b"SET", b"after", b"x"]).unwrap());
    let want = server_libraries(&mut c);
    assert_eq!(want.len(), 4, "one, two, four, five: {:?}", want.keys());
    let digest = s.digest();

    let base = std::fs::read_dir(t.path().join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".base.rdb"))
        .expect("an RDB BASE");
    let base = std::fs::read(base).unwrap();
    let base_libs = redsafe::rdb::RdbReader::new(&base)
        .filter(|i| matches!(i, Ok(i) if matches!(i.record, redsafe::rdb::Record::Function { .. })))
        .count();
    assert_eq!(base_libs, 2, "the BASE holds libraries one and two");
    let set = AofSet::open(&t.path().join("appendonlydir")).unwrap();
    let r = replay_set(&set, &ReplayOptions::default(), &mut |_, _| {}).unwrap();
    assert_eq!(r.rejected, 0, "{:?}", r.rejections);
    assert_eq!(r.keyspace.functions, want);
    assert_eq!(r.keyspace.digest_hex().unwrap(), digest);

    // The engine's RDB, loaded by a second server: same libraries, same keys.
    let t2 = common::TempDir::new("ks-functions-rdb");
    let rdb = save::write_rdb(&r.keyspace, Vec::new(), 10).unwrap();
    std::fs::write(t2.path().join("dump.rdb"), rdb).unwrap();
    let s2 = common::RedisServer::start(t2.path(), &["--dbfilename", "dump.rdb"]).unwrap();
    assert_eq!(server_libraries(&mut s2.client()), want);
    assert_eq!(s2.digest(), digest);
}

#[test]
fn a_version_before_functions_is_refused_not_emptied() {
    let mut ks = redsafe::keyspace::Keyspace::new();
    ks.functions.insert(b"one".to_vec(), lib("one", "v1"));
    assert!(save::write_rdb(&ks, Vec::new(), 9).is_err());
}

/// Scripts as Redis before 5.0 wrote them to the AOF (`EVAL` verbatim, `SCRIPT LOAD`):
/// redis-server runs an `EVAL` when it loads the file, so the engine refuses it by name and
/// offset rather than skip it; `SCRIPT LOAD` changes no data and replays as nothing.
#[test]
fn verbatim_scripts_are_refused_where_redis_runs_them() {
    if !common::have_redis() {
        return;
    }
    let encode = |cmds: &[&[&str]]| -> Vec<u8> {
        cmds.iter()
            .flat_map(|c| {
                let a: Vec<&[u8]> = c.iter().map(|s| s.as_bytes()).collect();
                common::Client::encode(&a)
            })
            .collect()
    };
    let set_a: &[&str] = &["SET", "a", "1"];
    let load: &[&str] = &["SCRIPT", "LOAD", "return 1"];
    let eval: &[&str] = &["EVAL", "redis.call('set', KEYS[1], 'x')", "1", "k"];
    let set_b: &[&str] = &["SET", "b", "2"];
    let start = |data: &[u8]| {
        let t = common::TempDir::new("ks-eval");
        std::fs::write(t.path().join("appendonly.aof"), data).unwrap();
        let set = AofSet::open(&t.path().join("appendonly.aof")).unwrap();
        let r = replay_set(&set, &ReplayOptions::default(), &mut |_, _| {});
        let s = common::RedisServer::start(
            t.path(),
            &["--appendonly", "yes", "--appendfilename", "appendonly.aof"],
        )
        .expect("redis-server loads the AOF");
        (r, s, t)
    };

    let (r, s, _t) = start(&encode(&[set_a, load, eval, set_b]));
    let got = s.client().cmd(&[b"GET", b"k"]).unwrap();
    assert_eq!(
        got,
        Reply::Bulk(Some(b"x".to_vec())),
        "redis-server ran the script"
    );
    let msg = r.unwrap_err().to_string();
    let at = encode(&[set_a, load]).len();
    assert!(
        msg.contains("EVAL") && msg.contains(&format!("offset {at}")),
        "{msg}"
    );
    assert!(msg.contains("Lua"), "{msg}");

    let (r, s, _t) = start(&encode(&[set_a, load, set_b]));
    let r = r.unwrap();
    assert_eq!(r.rejected, 0);
    assert_eq!(r.keyspace.digest_hex().unwrap(), s.digest());
}
