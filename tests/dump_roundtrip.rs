//! Round trips through a real redis-server 7.0.15: `redsafe dump --format resp` and
//! `redsafe dump --restore`, piped into a fresh server with `redis-cli --pipe`, must give the
//! same `DEBUG DIGEST` as the server loading the file itself, and the same expiry times,
//! stream consumer groups, PELs, consumers and function libraries (which the digest does
//! not cover).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Client, RedisServer, Reply, TempDir};

/// Per key (db, name): a description of what the digest does not cover.
type State = BTreeMap<(u8, Vec<u8>), String>;

fn redsafe(args: &[&str], file: &Path) -> std::process::Output {
    Command::new(common::redsafe_bin())
        .arg("dump")
        .arg(file)
        .args(args)
        .output()
        .unwrap()
}

fn dump_ok(args: &[&str], file: &Path) -> Vec<u8> {
    let out = redsafe(args, file);
    assert!(
        out.status.success(),
        "redsafe dump {args:?} {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Pipes RESP into the server with `redis-cli --pipe`; asserts the server accepted every command.
fn pipe_into(server: &RedisServer, resp: &[u8]) {
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    child.stdin.take().unwrap().write_all(resp).unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("errors: 0,"),
        "redis-cli --pipe: {text}"
    );
}

fn fresh_server() -> (TempDir, RedisServer) {
    let t = TempDir::new("target");
    let s = RedisServer::start(t.path(), &[]).expect("start redis-server");
    (t, s)
}

fn status(r: Reply) -> String {
    match r {
        Reply::Status(s) => s,
        other => panic!("expected a status reply, got {other:?}"),
    }
}

fn bulk(r: &Reply) -> Vec<u8> {
    match r {
        Reply::Bulk(Some(b)) => b.clone(),
        Reply::Status(s) => s.as_bytes().to_vec(),
        Reply::Int(i) => i.to_string().into_bytes(),
        other => panic!("expected a bulk reply, got {other:?}"),
    }
}

fn array(r: Reply) -> Vec<Reply> {
    match r {
        Reply::Array(Some(v)) => v,
        other => panic!("expected an array, got {other:?}"),
    }
}

/// A flat [k, v, k, v] reply as a map.
fn map_of(r: Reply) -> BTreeMap<String, Reply> {
    let v = array(r);
    v.chunks(2)
        .map(|c| {
            (
                String::from_utf8_lossy(&bulk(&c[0])).into_owned(),
                c[1].clone(),
            )
        })
        .collect()
}

/// Everything the digest does not cover, per key: absolute expiry, and for streams the
/// groups (XINFO GROUPS), their consumers (name, pending) and PELs (id, owner, count).
fn side_state(s: &RedisServer) -> State {
    let mut c = s.client();
    let mut m = BTreeMap::new();
    for db in 0..16u8 {
        status(c.cmd(&[b"SELECT", db.to_string().as_bytes()]).unwrap());
        let mut cursor = b"0".to_vec();
        loop {
            let r = array(c.cmd(&[b"SCAN", &cursor, b"COUNT", b"1000"]).unwrap());
            cursor = bulk(&r[0]);
            for k in array(r[1].clone()) {
                let key = bulk(&k);
                let mut desc = String::new();
                let pexp = c.cmd(&[b"PEXPIRETIME", &key]).unwrap();
                desc.push_str(&format!("pexpiretime={pexp:?}"));
                let ty = status(c.cmd(&[b"TYPE", &key]).unwrap());
                if ty == "stream" {
                    let groups = array(c.cmd(&[b"XINFO", b"GROUPS", &key]).unwrap());
                    for g in groups {
                        let g = map_of(g);
                        desc.push_str(&format!(" group={g:?}"));
                        let name = bulk(&g["name"]);
                        for cons in array(c.cmd(&[b"XINFO", b"CONSUMERS", &key, &name]).unwrap()) {
                            let cons = map_of(cons);
                            desc.push_str(&format!(
                                " consumer={:?}/{:?}",
                                cons["name"], cons["pending"]
                            ));
                        }
                        for p in array(
                            c.cmd(&[b"XPENDING", &key, &name, b"-", b"+", b"1000000"])
                                .unwrap(),
                        ) {
                            let p = array(p);
                            desc.push_str(&format!(" pel={:?}/{:?}/{:?}", p[0], p[1], p[3]));
                        }
                    }
                }
                m.insert((db, key), desc);
            }
            if cursor == b"0" {
                break;
            }
        }
    }
    status(c.cmd(&[b"SELECT", b"0"]).unwrap());
    let funcs = c.cmd(&[b"FUNCTION", b"LIST", b"WITHCODE"]).unwrap();
    m.insert((255, b"functions".to_vec()), format!("{funcs:?}"));
    m
}

/// The server loading `rdb` itself: its digest and side state.
fn oracle(rdb: &Path) -> Option<(String, State)> {
    let t = TempDir::new("oracle");
    std::fs::copy(rdb, t.path().join("dump.rdb")).unwrap();
    let s = RedisServer::start(t.path(), &["--dbfilename", "dump.rdb"]).ok()?;
    Some((s.digest(), side_state(&s)))
}

/// Replays `dump` output in each mode into a fresh server and compares with the oracle.
fn assert_round_trips(rdb: &Path, extra: &[&str]) -> usize {
    let (digest, state) =
        oracle(rdb).unwrap_or_else(|| panic!("redis-server 7.0 cannot load {}", rdb.display()));
    let keys = state.len() - 1;
    for mode in [&["--format", "resp"][..], &["--restore"][..]] {
        let args: Vec<&str> = mode.iter().chain(extra).copied().collect();
        let resp = dump_ok(&args, rdb);
        let (_t, s) = fresh_server();
        pipe_into(&s, &resp);
        assert_eq!(
            s.digest(),
            digest,
            "{} {args:?}: DEBUG DIGEST differs",
            rdb.display()
        );
        let got = side_state(&s);
        for (k, v) in &state {
            assert_eq!(got.get(k), Some(v), "{} {args:?}: key {k:?}", rdb.display());
        }
        assert_eq!(
            got.len(),
            state.len(),
            "{} {args:?}: key count",
            rdb.display()
        );
    }
    keys
}

#[test]
fn server_fixtures_round_trip_through_redis_7_0() {
    if !common::have_redis() {
        return;
    }
    let mut done = Vec::new();
    for dir in common::server_fixture_dirs() {
        let rdb = dir.join("dump.rdb");
        // 7.0.15 loads RDB ≤ 10: the 2.8–7.0 fixtures.
        let version: u32 = std::str::from_utf8(&std::fs::read(&rdb).unwrap()[5..9])
            .unwrap()
            .parse()
            .unwrap();
        if version > 10 || !std::fs::read(&rdb).unwrap().starts_with(b"REDIS") {
            continue;
        }
        let keys = assert_round_trips(&rdb, &[]);
        assert!(keys > 150, "{}: only {keys} keys", rdb.display());
        done.push(dir.file_name().unwrap().to_string_lossy().into_owned());
    }
    if common::shared_dir().is_some() {
        assert_eq!(
            done.len(),
            6,
            "expected the six 2.8–7.0 fixtures, did {done:?}"
        );
    }
}

#[test]
fn redis_test_assets_round_trip() {
    if !common::have_redis() {
        return;
    }
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let mut done = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(shared.join("fixtures/redis-assets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
        .collect();
    entries.sort();
    for rdb in entries {
        let name = rdb.file_name().unwrap().to_string_lossy().into_owned();
        if name == "corrupt_ziplist.rdb" {
            // Damaged: both modes must refuse it (exit 1) naming the key.
            for mode in [&["--format", "resp"][..], &["--restore"][..]] {
                let out = redsafe(mode, &rdb);
                assert_eq!(out.status.code(), Some(1), "{name} {mode:?}");
                assert!(String::from_utf8_lossy(&out.stderr).contains("key:000000000091"));
            }
            continue;
        }
        // Everything else loads in 7.0 (corrupt_empty_keys.rdb: its empty keys are skipped).
        assert_round_trips(&rdb, &[]);
        done += 1;
    }
    assert!(done >= 7, "only {done} assets round-tripped");
}

/// Builds an RDB with a real 7.0 server: big collections (several batches), every stream
/// feature (deleted entries, groups with PELs, consumers with and without pending entries,
/// an empty stream with a group), a function library, expiries and several databases.
fn generate(dir: &Path, policy: &str) -> PathBuf {
    let s = RedisServer::start(dir, &["--maxmemory-policy", policy]).expect("start generator");
    let mut c = s.client();
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut cmd = |a: &[&[u8]]| cmds.push(a.iter().map(|x| x.to_vec()).collect());
    for i in 0..5000u32 {
        cmd(&[
            b"RPUSH",
            b"biglist",
            format!("item-{i}-{}", "x".repeat((i % 50) as usize)).as_bytes(),
        ]);
    }
    for i in 0..3000u32 {
        cmd(&[
            b"HSET",
            b"bighash",
            format!("f{i}").as_bytes(),
            format!("{}", i * 7).as_bytes(),
        ]);
        cmd(&[b"SADD", b"bigset", format!("m{i}").as_bytes()]);
        cmd(&[
            b"ZADD",
            b"bigzset",
            format!("{}", (i as f64) / 3.0 - 400.0).as_bytes(),
            format!("z{i}").as_bytes(),
        ]);
    }
    cmd(&[b"ZADD", b"bigzset", b"inf", b"top", b"-inf", b"bottom"]);
    for i in 0..100u32 {
        cmd(&[b"SADD", b"intset", i.to_string().as_bytes()]);
    }
    cmd(&[
        b"SET",
        b"bigstr",
        "0123456789abcdef".repeat(65536).as_bytes(),
    ]);
    cmd(&[b"SET", b"bin\x00\xffkey", b"\x00\x01\xfe\xff"]);
    cmd(&[b"SET", b"exp", b"v"]);
    cmd(&[b"PEXPIREAT", b"exp", b"4102444800123"]);
    cmd(&[b"HSET", b"exph", b"a", b"1"]);
    cmd(&[b"PEXPIREAT", b"exph", b"4102444800999"]);
    for i in 1..=50u32 {
        cmd(&[
            b"XADD",
            b"st",
            format!("1700000000000-{i}").as_bytes(),
            b"f",
            i.to_string().as_bytes(),
            b"g",
            b"v",
        ]);
    }
    cmd(&[b"XDEL", b"st", b"1700000000000-3", b"1700000000000-50"]);
    cmd(&[b"XGROUP", b"CREATE", b"st", b"g1", b"0"]);
    cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g1",
        b"alice",
        b"COUNT",
        b"10",
        b"STREAMS",
        b"st",
        b">",
    ]);
    cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g1",
        b"bob",
        b"COUNT",
        b"5",
        b"STREAMS",
        b"st",
        b">",
    ]);
    cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g1",
        b"bob",
        b"COUNT",
        b"1",
        b"STREAMS",
        b"st",
        b"0",
    ]);
    cmd(&[
        b"XACK",
        b"st",
        b"g1",
        b"1700000000000-2",
        b"1700000000000-4",
    ]);
    cmd(&[b"XGROUP", b"CREATECONSUMER", b"st", b"g1", b"carol"]);
    cmd(&[b"XGROUP", b"CREATE", b"st", b"g2", b"$"]);
    cmd(&[b"XGROUP", b"CREATE", b"emptyst", b"g", b"$", b"MKSTREAM"]);
    cmd(&[b"XADD", b"drained", b"5-5", b"a", b"b"]);
    cmd(&[b"XDEL", b"drained", b"5-5"]);
    cmd(&[
        b"FUNCTION",
        b"LOAD",
        b"#!lua name=mylib\nredis.register_function('f1', function() return 1 end)",
    ]);
    cmd(&[b"SELECT", b"2"]);
    cmd(&[b"SET", b"db2key", b"12345"]);
    cmd(&[b"LPUSH", b"db2list", b"a", b"b"]);
    cmd(&[b"SELECT", b"5"]);
    cmd(&[b"HSET", b"db5hash", b"x", b"y"]);
    cmd(&[b"PEXPIREAT", b"db5hash", b"4102444800000"]);
    cmd(&[b"SELECT", b"0"]);
    cmd(&[b"SAVE"]);
    for r in c.pipeline(&cmds).unwrap() {
        assert!(!matches!(r, Reply::Error(_)), "generator: {r:?}");
    }
    dir.join("dump.rdb")
}

#[test]
fn generated_file_round_trips_with_batches_streams_functions() {
    if !common::have_redis() {
        return;
    }
    for policy in ["allkeys-lfu", "allkeys-lru"] {
        let t = TempDir::new("gen");
        let rdb = generate(t.path(), policy);
        let copy = t.path().join("source.rdb");
        std::fs::copy(&rdb, &copy).unwrap();
        assert_round_trips(&copy, &[]);
        // Small batches: many RPUSH/HSET/SADD/ZADD commands per key, same result.
        assert_round_trips(&copy, &["--batch", "7"]);
        // The RESTORE output carries the LFU counter or the LRU idle time.
        let resp = dump_ok(&["--restore"], &copy);
        let needle: &[u8] = if policy == "allkeys-lfu" {
            b"$4\r\nFREQ\r\n"
        } else {
            b"$8\r\nIDLETIME\r\n"
        };
        assert!(
            resp.windows(needle.len()).any(|w| w == needle),
            "{policy}: no {needle:?}"
        );
        // And the resp output was really split: 5000 list items in batches of 7.
        let resp = dump_ok(&["--format", "resp", "--batch", "7"], &copy);
        let rpush = resp.windows(11).filter(|w| w == b"$5\r\nRPUSH\r\n").count();
        assert_eq!(rpush, 5000usize.div_ceil(7) + 1, "RPUSH commands");
    }
}

/// Keys whose expiry has passed are skipped (as a master loading the file drops them), and
/// `--keep-expired` writes them without their expiry.
#[test]
fn expired_keys_are_skipped_unless_kept() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("expired");
    {
        let s = RedisServer::start(t.path(), &[]).unwrap();
        let mut c = s.client();
        let cmds: Vec<Vec<Vec<u8>>> = vec![
            vec![b"SET".to_vec(), b"live".to_vec(), b"1".to_vec()],
            vec![
                b"SET".to_vec(),
                b"soon".to_vec(),
                b"2".to_vec(),
                b"PX".to_vec(),
                b"400".to_vec(),
            ],
            vec![b"RPUSH".to_vec(), b"soonlist".to_vec(), b"a".to_vec()],
            vec![b"PEXPIRE".to_vec(), b"soonlist".to_vec(), b"400".to_vec()],
            vec![b"SAVE".to_vec()],
        ];
        for r in c.pipeline(&cmds).unwrap() {
            assert!(!matches!(r, Reply::Error(_)), "{r:?}");
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(600));
    let rdb = t.path().join("dump.rdb");
    // The oracle (a master loading the file) drops the two expired keys.
    assert_round_trips(&rdb, &[]);
    for mode in [
        &["--format", "resp", "--keep-expired"][..],
        &["--restore", "--keep-expired"][..],
    ] {
        let (_t, s) = fresh_server();
        pipe_into(&s, &dump_ok(mode, &rdb));
        let mut c = s.client();
        assert_eq!(c.cmd(&[b"DBSIZE"]).unwrap(), Reply::Int(3), "{mode:?}");
        assert_eq!(
            c.cmd(&[b"GET", b"soon"]).unwrap(),
            Reply::Bulk(Some(b"2".to_vec()))
        );
        assert_eq!(
            c.cmd(&[b"PTTL", b"soonlist"]).unwrap(),
            Reply::Int(-1),
            "{mode:?}"
        );
    }
    let out = redsafe(&["--format", "resp"], &rdb);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("2 keys skipped because their expiry has passed"));
}

/// `--target-version`: payloads an older server can load are relabelled, others re-encoded
/// for it; values it cannot hold at all are refused.
#[test]
fn restore_target_version_relabels_converts_or_refuses() {
    if !common::have_redis() {
        return;
    }
    let dirs = common::server_fixture_dirs();
    let Some(dir) = dirs.iter().find(|d| d.ends_with("redis-7.0.15")) else {
        return;
    };
    let rdb = dir.join("dump.rdb");
    let (digest, _) = oracle(&rdb).unwrap();
    // RDB 9 (Redis 5/6): quicklist-v2, listpack hashes/zsets and v2 streams are re-encoded;
    // the 7.0 server that receives them holds exactly what it holds loading the file.
    let resp = dump_ok(&["--restore", "--target-version", "9"], &rdb);
    let (_t, s) = fresh_server();
    pipe_into(&s, &resp);
    assert_eq!(s.digest(), digest);
    // RDB 6 (Redis 2.6-3.0) has no streams: refused, naming the key (usage error, exit 2).
    let out = redsafe(&["--restore", "--target-version", "6"], &rdb);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x:11:") && err.contains("RDB 6"), "{err}");
    // Without the streams, everything goes to RDB 6; strings are relabelled (version 6 in the
    // payload footer). Oracle: the server that loaded the file, streams deleted.
    let resp = dump_ok(
        &[
            "--restore",
            "--target-version",
            "6",
            "--type",
            "string,list,set,zset,hash",
        ],
        &rdb,
    );
    let t = TempDir::new("orig");
    std::fs::copy(&rdb, t.path().join("dump.rdb")).unwrap();
    let orig = RedisServer::start(t.path(), &[]).unwrap();
    let mut c: Client = orig.client();
    for db in [b"0", b"1", b"3"] {
        status(c.cmd(&[b"SELECT", db]).unwrap());
        let r = array(
            c.cmd(&[b"SCAN", b"0", b"COUNT", b"100000", b"TYPE", b"stream"])
                .unwrap(),
        );
        for k in array(r[1].clone()) {
            c.cmd(&[b"DEL", &bulk(&k)]).unwrap();
        }
    }
    let (_t2, s) = fresh_server();
    pipe_into(&s, &resp);
    assert_eq!(s.digest(), orig.digest());
    let needle = b"\x06\x00";
    assert!(resp.windows(2).any(|w| w == needle));
}
