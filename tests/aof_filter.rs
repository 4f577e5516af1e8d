//! `redsafe filter` on AOF input, against redis-server.
//!
//! Oracle: the original AOF's commands minus exactly the ones the test decides to drop (with
//! its own RESP split below and, for key rules, the server's `COMMAND GETKEYS`), fed through a
//! client to a fresh redis-server started from the BASE RDB; versus the filtered AOF loaded by
//! redis-server. Both must have the same `DEBUG DIGEST`.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use common::{Client, RedisServer, Reply, TempDir};

// ---------------------------------------------------------------------------------------
// Independent RESP split (the oracle does not use redsafe's AOF reader).

#[derive(Debug, Clone)]
struct Cmd {
    argv: Vec<Vec<u8>>,
    ts: Option<i64>,
    db: u64,
    /// Byte range in its file.
    range: (usize, usize),
}

impl Cmd {
    fn is(&self, n: &str) -> bool {
        self.argv[0].eq_ignore_ascii_case(n.as_bytes())
    }
}

fn line(d: &[u8], p: &mut usize) -> Vec<u8> {
    let s = *p;
    while !(d[*p] == b'\r' && d[*p + 1] == b'\n') {
        *p += 1;
    }
    let l = d[s..*p].to_vec();
    *p += 2;
    l
}

fn num(b: &[u8]) -> i64 {
    std::str::from_utf8(b).unwrap().parse().unwrap()
}

/// Splits a RESP AOF (no RDB part) into commands; `ts` carries the `#TS:` across files.
fn split(d: &[u8], ts: &mut Option<i64>) -> Vec<Cmd> {
    let mut p = 0;
    let mut out = Vec::new();
    let mut db = 0;
    while p < d.len() {
        let start = p;
        let l = line(d, &mut p);
        if l[0] == b'#' {
            if let Some(t) = l.strip_prefix(b"#TS:") {
                *ts = Some(num(t));
            }
            continue;
        }
        assert_eq!(l[0], b'*', "at {start}");
        let n = num(&l[1..]);
        let mut argv = Vec::new();
        for _ in 0..n {
            let h = line(d, &mut p);
            let len = num(&h[1..]) as usize;
            argv.push(d[p..p + len].to_vec());
            p += len + 2;
        }
        if argv[0].eq_ignore_ascii_case(b"select") {
            db = num(&argv[1]) as u64;
        }
        out.push(Cmd {
            argv,
            ts: *ts,
            db,
            range: (start, p),
        });
    }
    out
}

/// An AOF set as the test sees it: optional RDB (BASE or preamble) + RESP files.
struct Parts {
    rdb: Option<Vec<u8>>,
    files: Vec<Vec<Cmd>>,
}

fn read_dir_set(dir: &Path) -> Parts {
    let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
    let mut rdb = None;
    let mut files = Vec::new();
    let mut ts = None;
    for l in manifest.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (name, ty) = (f[1], f[5]);
        let data = std::fs::read(dir.join(name)).unwrap();
        if ty == "b" && data.starts_with(b"REDIS") {
            rdb = Some(data);
        } else if ty != "h" {
            files.push(split(&data, &mut ts));
        }
    }
    Parts { rdb, files }
}

/// Feeds `parts` minus the commands `drop` selects to a fresh server; returns its digest.
/// Each file starts in db 0 (as Redis loads it).
fn oracle_digest(parts: &Parts, keep: &dyn Fn(&Cmd) -> bool) -> String {
    let t = TempDir::new("aof-oracle");
    let mut extra: Vec<&str> = vec![];
    if let Some(rdb) = &parts.rdb {
        std::fs::write(t.path().join("base.rdb"), rdb).unwrap();
        extra = vec!["--dbfilename", "base.rdb"];
    }
    let s = RedisServer::start(t.path(), &extra).expect("start oracle server");
    let mut c = s.client();
    for f in &parts.files {
        let mut batch: Vec<Vec<Vec<u8>>> = vec![vec![b"SELECT".to_vec(), b"0".to_vec()]];
        for cmd in f {
            if keep(cmd) {
                batch.push(cmd.argv.clone());
            }
        }
        for chunk in batch.chunks(500) {
            c.pipeline(chunk).unwrap();
        }
    }
    s.digest()
}

/// `COMMAND GETKEYS` from a live server (the oracle's key positions).
struct KeyOracle {
    _t: TempDir,
    _s: RedisServer,
    c: std::cell::RefCell<Client>,
}

impl KeyOracle {
    fn new() -> KeyOracle {
        let t = TempDir::new("aof-getkeys");
        let s = RedisServer::start(t.path(), &[]).unwrap();
        let c = std::cell::RefCell::new(s.client());
        KeyOracle { _t: t, _s: s, c }
    }
    fn keys(&self, argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut req: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
        req.extend(argv.iter().map(|a| a.as_slice()));
        match self.c.borrow_mut().cmd(&req).unwrap() {
            Reply::Array(Some(v)) => v
                .into_iter()
                .map(|r| match r {
                    Reply::Bulk(Some(b)) => b,
                    o => panic!("{o:?}"),
                })
                .collect(),
            _ => vec![],
        }
    }
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    // Only the `prefix*` patterns the tests use.
    match p.strip_suffix(b"*") {
        Some(pre) => s.starts_with(pre),
        None => p == s,
    }
}

// ---------------------------------------------------------------------------------------
// Running redsafe and loading its output.

fn redsafe(args: &[&str]) -> (i32, String, String) {
    let o = Proc::new(common::redsafe_bin())
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn filter_ok(input: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut a = vec![
        "filter",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--json",
    ];
    a.extend_from_slice(extra);
    let (code, stdout, stderr) = redsafe(&a);
    assert_eq!(code, 0, "redsafe {a:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// Digest of a filtered multi-part output directory loaded by redis-server.
fn load_dir_digest(out: &Path) -> String {
    let t = TempDir::new("aof-load");
    let d = t.path().join("appendonlydir");
    std::fs::create_dir(&d).unwrap();
    for e in std::fs::read_dir(out).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
    }
    common::digest_of_aof_dir(t.path()).expect("redis-server loads the filtered AOF")
}

/// Digest of a single AOF file loaded by redis-server (upgrade mode).
fn load_file_digest(f: &Path) -> String {
    let t = TempDir::new("aof-load1");
    std::fs::copy(f, t.path().join("appendonly.aof")).unwrap();
    common::digest_of_aof_dir(t.path()).expect("redis-server loads the filtered AOF")
}

// ---------------------------------------------------------------------------------------
// Workload generated by redis-server with AOF and timestamps on.

fn sleep_to_next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let ms = 1000 - now.subsec_millis() as u64 + 20;
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn cmds(list: &[&str]) -> Vec<Vec<Vec<u8>>> {
    list.iter().map(|l| l.split(' ').map(b).collect()).collect()
}

/// Runs a workload in three seconds (A, B with the incident, C) and returns the AOF dir plus
/// the first second of phase C. With `rewrite`, a BGREWRITEAOF after phase A makes a BASE
/// holding data.
fn workload(t: &TempDir, rewrite: bool) -> (PathBuf, i64) {
    let s = RedisServer::start(
        t.path(),
        &["--appendonly", "yes", "--aof-timestamp-enabled", "yes"],
    )
    .unwrap();
    let mut c = s.client();
    let mut a = Vec::new();
    for i in 0..40 {
        a.push(format!("SET user:{i} u{i}"));
        a.push(format!("SET session:{i} s{i}"));
        a.push(format!("HSET h:{i} f {i}"));
    }
    a.push("SELECT 2".into());
    for i in 0..20 {
        a.push(format!("RPUSH list:{i} a b c"));
        a.push(format!("SET session:{i} db2"));
    }
    a.push("SELECT 0".into());
    let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
    c.pipeline(&cmds(&refs)).unwrap();
    if rewrite {
        c.cmd(&[b"BGREWRITEAOF"]).unwrap();
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            if let Reply::Bulk(Some(info)) = c.cmd(&[b"INFO", b"persistence"]).unwrap() {
                let i = String::from_utf8_lossy(&info).to_string();
                if i.contains("aof_rewrite_in_progress:0") && !i.contains("aof_rewrite_scheduled:1")
                {
                    break;
                }
            }
        }
    }
    sleep_to_next_second();
    // Phase B: the incident. DEL bursts, FLUSHDB in db 2, a transaction, FLUSHALL.
    let mut bb = Vec::new();
    for i in 0..20 {
        bb.push(format!("DEL session:{i}"));
    }
    bb.extend(
        [
            "SELECT 2",
            "DEL session:3",
            "FLUSHDB",
            "SET after:flushdb 1",
            "SELECT 0",
            "MULTI",
            "DEL session:30",
            "SET user:tx 1",
            "DEL session:31",
            "EXEC",
            "MULTI",
            "DEL session:32",
            "DEL session:33",
            "EXEC",
            "FLUSHALL",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let refs: Vec<&str> = bb.iter().map(|s| s.as_str()).collect();
    for r in c.pipeline(&cmds(&refs)).unwrap() {
        assert!(!matches!(r, Reply::Error(_)), "{r:?}");
    }
    sleep_to_next_second();
    let phase_c = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut cc = Vec::new();
    for i in 0..30 {
        cc.push(format!("SET user:{i} new{i}"));
        cc.push(format!("INCR counter:{}", i % 3));
    }
    cc.extend(
        [
            "DEL user:1",
            "SELECT 3",
            "SET db3:k v",
            "DEL session:0",
            "SELECT 0",
            "DEL user:2",
            "SET session:new x",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let refs: Vec<&str> = cc.iter().map(|s| s.as_str()).collect();
    c.pipeline(&cmds(&refs)).unwrap();
    let _ = c.cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    drop(s);
    let dir = t.path().join("appendonlydir");
    (dir, phase_c)
}

#[test]
fn generated_multipart_scenarios() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("aof-filter-gen");
    let (dir, phase_c) = workload(&t, true);
    let parts = read_dir_set(&dir);
    assert!(parts.rdb.is_some(), "BGREWRITEAOF made an RDB base");
    assert!(!parts.files.is_empty());
    let orig = std::fs::read(dir.join("appendonly.aof.manifest")).unwrap();
    let ko = KeyOracle::new();

    // 1. Drop every FLUSHALL and FLUSHDB.
    let out = t.path().join("out1");
    let r = filter_ok(
        &dir,
        &out,
        &["--drop-command", "FLUSHALL", "--drop-command", "flushdb"],
    );
    let expect = oracle_digest(&parts, &|c| !(c.is("flushall") || c.is("flushdb")));
    assert_eq!(load_dir_digest(&out), expect);
    assert_eq!(r["report"]["commands_removed"], 2);
    // Writes after the removed flushes touch older keys: the merge warning is reported.
    assert!(r["report"]["merge"]["writes_to_old_keys"].as_u64().unwrap() > 0);
    // The input is untouched.
    assert_eq!(
        std::fs::read(dir.join("appendonly.aof.manifest")).unwrap(),
        orig
    );

    // 2. Drop DEL session:* (command + key pattern); a transaction left empty disappears.
    let out = t.path().join("out2");
    let r = filter_ok(&dir, &out, &["--drop", "DEL session:*"]);
    let keep = |c: &Cmd| !(c.is("del") && ko.keys(&c.argv).iter().all(|k| glob(b"session:*", k)));
    let expect = oracle_digest(&parts, &keep);
    assert_eq!(load_dir_digest(&out), expect);
    assert_eq!(r["report"]["transactions_removed"], 1);
    let n_del: usize = parts
        .files
        .iter()
        .flatten()
        .filter(|c| c.is("del") && c.argv[1].starts_with(b"session:"))
        .count();
    assert_eq!(r["report"]["commands_removed"], n_del as u64);
    assert!(r["report"]["examples"].as_array().unwrap().len() == 5);

    // 3. Time window: only the DELs of phase C.
    let out = t.path().join("out3");
    let since = phase_c.to_string();
    let r = filter_ok(&dir, &out, &["--drop-command", "DEL", "--since", &since]);
    let keep = |c: &Cmd| !(c.is("del") && c.ts.is_some_and(|t| t >= phase_c));
    assert_eq!(load_dir_digest(&out), oracle_digest(&parts, &keep));
    let n = parts
        .files
        .iter()
        .flatten()
        .filter(|c| c.is("del") && c.ts.is_some_and(|t| t >= phase_c))
        .count();
    assert!(n >= 2);
    assert_eq!(r["report"]["commands_removed"], n as u64);

    // 4. --until-first FLUSHALL: everything before the incident.
    let out = t.path().join("out4");
    let r = filter_ok(&dir, &out, &["--until-first", "FLUSHALL"]);
    let mut seen = false;
    let mut cut_parts = Parts {
        rdb: parts.rdb.clone(),
        files: Vec::new(),
    };
    for f in &parts.files {
        let mut v = Vec::new();
        for c in f {
            if c.is("flushall") {
                seen = true;
            }
            if !seen {
                v.push(c.clone());
            }
        }
        cut_parts.files.push(v);
    }
    assert!(seen);
    assert_eq!(load_dir_digest(&out), oracle_digest(&cut_parts, &|_| true));
    assert!(r["report"]["cut"]["command"]
        .as_str()
        .unwrap()
        .eq_ignore_ascii_case("flushall"));

    // 5. Key filter with an RDB BASE holding keys: the BASE goes through the RDB filter.
    let out = t.path().join("out6");
    let r = filter_ok(&dir, &out, &["--key", "user:*"]);
    assert!(r["report"]["rdb_keys_removed"].as_u64().unwrap() > 0);
    let base_only_users = {
        // Oracle: the BASE loaded, then every non-user key deleted (KEYS + DEL per db),
        // then the kept commands.
        let tt = TempDir::new("aof-oracle-base");
        std::fs::write(tt.path().join("base.rdb"), parts.rdb.as_ref().unwrap()).unwrap();
        let s = RedisServer::start(tt.path(), &["--dbfilename", "base.rdb"]).unwrap();
        let mut c = s.client();
        for db in 0..16 {
            c.cmd(&[b"SELECT", db.to_string().as_bytes()]).unwrap();
            if let Reply::Array(Some(keys)) = c.cmd(&[b"KEYS", b"*"]).unwrap() {
                for k in keys {
                    if let Reply::Bulk(Some(k)) = k {
                        if !k.starts_with(b"user:") {
                            c.cmd(&[b"DEL", &k]).unwrap();
                        }
                    }
                }
            }
        }
        c.cmd(&[b"SAVE"]).unwrap();
        drop(c);
        drop(s);
        std::fs::read(tt.path().join("base.rdb")).unwrap()
    };
    let users = Parts {
        rdb: Some(base_only_users),
        files: parts.files.clone(),
    };
    let keep = |c: &Cmd| {
        let k = ko.keys(&c.argv);
        k.is_empty() || k.iter().all(|k| glob(b"user:*", k))
    };
    assert_eq!(load_dir_digest(&out), oracle_digest(&users, &keep));

    // 6. Dry run: same report, nothing written.
    let out = t.path().join("out5");
    let (code, stdout, _) = redsafe(&[
        "filter",
        dir.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--drop-command",
        "FLUSHALL",
        "--dry-run",
    ]);
    assert_eq!(code, 0);
    assert!(!out.exists());
    assert!(stdout.contains("FLUSHALL"), "{stdout}");
}

#[test]
fn key_and_db_filters_without_base_data() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("aof-filter-keys");
    let (dir, _) = workload(&t, false);
    let parts = read_dir_set(&dir);
    let ko = KeyOracle::new();

    // --db 0: only commands of db 0 (FLUSHDB of db 2 goes, FLUSHALL stays).
    let out = t.path().join("db0");
    filter_ok(&dir, &out, &["--db", "0"]);
    let keep =
        |c: &Cmd| c.is("select") || c.is("multi") || c.is("exec") || c.db == 0 || c.is("flushall");
    assert_eq!(load_dir_digest(&out), oracle_digest(&parts, &keep));

    // --key 'user:*': keyless commands stay, keyed ones only for user:* keys.
    let out = t.path().join("users");
    filter_ok(&dir, &out, &["--key", "user:*"]);
    let keep = |c: &Cmd| {
        let k = ko.keys(&c.argv);
        k.is_empty() || k.iter().all(|k| glob(b"user:*", k))
    };
    assert_eq!(load_dir_digest(&out), oracle_digest(&parts, &keep));

    // --exclude-key 'session:*'
    let out = t.path().join("nosession");
    filter_ok(&dir, &out, &["--exclude-key", "session:*"]);
    let keep = |c: &Cmd| !ko.keys(&c.argv).iter().any(|k| glob(b"session:*", k));
    assert_eq!(load_dir_digest(&out), oracle_digest(&parts, &keep));
}

#[test]
fn single_file_with_preamble() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("aof-filter-single");
    let (dir, _) = workload(&t, true);
    let parts = read_dir_set(&dir);
    // An old-style file: the RDB preamble followed by the RESP tail.
    let mut single = parts.rdb.clone().unwrap();
    let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
    let mut tail_parts = Parts {
        rdb: parts.rdb.clone(),
        files: vec![vec![]],
    };
    let mut ts = None;
    for l in manifest.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f[5] == "i" {
            let d = std::fs::read(dir.join(f[1])).unwrap();
            // Every INCR starts in db 0 when loaded: keep that when concatenating.
            single.extend_from_slice(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n");
            single.extend_from_slice(&d);
            tail_parts.files[0].push(Cmd {
                argv: vec![b("SELECT"), b("0")],
                ts,
                db: 0,
                range: (0, 0),
            });
            tail_parts.files[0].extend(split(&d, &mut ts));
        }
    }
    let input = t.path().join("appendonly.aof");
    std::fs::write(&input, &single).unwrap();
    let out = t.path().join("filtered.aof");
    filter_ok(&input, &out, &["--drop-command", "FLUSHALL"]);
    assert_eq!(
        load_file_digest(&out),
        oracle_digest(&tail_parts, &|c| !c.is("flushall"))
    );
    // The RDB preamble is copied unchanged.
    let o = std::fs::read(&out).unwrap();
    let rdb = parts.rdb.as_ref().unwrap();
    assert_eq!(&o[..rdb.len()], &rdb[..]);
}

fn resp(cmds: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in cmds {
        if c.starts_with('#') {
            out.extend_from_slice(c.as_bytes());
            out.extend_from_slice(b"\r\n");
            continue;
        }
        let args: Vec<&[u8]> = c.split(' ').map(|s| s.as_bytes()).collect();
        out.extend_from_slice(&Client::encode(&args));
    }
    out
}

#[test]
fn transactions_selects_last_flushall_and_empty_result() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("aof-filter-tx");
    let aof = resp(&[
        "#TS:1700000000",
        "SELECT 1",
        "SET a 1",
        "SELECT 2",
        "MULTI",
        "FLUSHDB",
        "SET b 2",
        "EXEC",
        "SELECT 1",
        "MULTI",
        "FLUSHALL",
        "EXEC",
        "SET c 3",
        "SELECT 5",
        "FLUSHALL",
        "#TS:1700000001",
        "SELECT 1",
        "SET d 4",
        "MULTI",
        "SELECT 3",
        "SET e 5",
        "EXEC",
        "FLUSHALL",
    ]);
    let input = t.path().join("appendonly.aof");
    std::fs::write(&input, &aof).unwrap();
    let mut ts = None;
    let parts = Parts {
        rdb: None,
        files: vec![split(&aof, &mut ts)],
    };
    // FLUSHALL inside a transaction, alone in a transaction, after a dropped SELECT, and as
    // the last command.
    let out = t.path().join("o1.aof");
    let r = filter_ok(
        &input,
        &out,
        &["--drop-command", "FLUSHALL", "--drop-command", "FLUSHDB"],
    );
    let expect = oracle_digest(&parts, &|c| !(c.is("flushall") || c.is("flushdb")));
    assert_eq!(load_file_digest(&out), expect);
    assert_eq!(r["report"]["commands_removed"], 4);
    assert_eq!(r["report"]["transactions_removed"], 1);
    let txt = std::fs::read(&out).unwrap();
    assert!(!String::from_utf8_lossy(&txt)
        .to_ascii_uppercase()
        .contains("FLUSH"));
    // Annotations are kept.
    assert_eq!(String::from_utf8_lossy(&txt).matches("#TS:").count(), 2);

    // An empty result: still a valid (empty) AOF.
    let out = t.path().join("o2.aof");
    filter_ok(
        &input,
        &out,
        &["--key", "nothing:*", "--drop-command", "FLUSHALL"],
    );
    assert_eq!(
        load_file_digest(&out),
        "0000000000000000000000000000000000000000"
    );

    // A multi-key command touching kept and removed keys is refused without --split-multikey.
    let aof2 = resp(&["SET a 1", "SET b 2", "DEL a b", "MSET a 3 b 4"]);
    let in2 = t.path().join("multi.aof");
    std::fs::write(&in2, &aof2).unwrap();
    let out = t.path().join("o3.aof");
    let (code, _, err) = redsafe(&[
        "filter",
        in2.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--key",
        "a",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("kept and removed keys"), "{err}");
    assert!(!out.exists());
    filter_ok(&in2, &out, &["--key", "a", "--split-multikey"]);
    let feed = Parts {
        rdb: None,
        files: vec![split(&resp(&["SET a 1", "DEL a", "MSET a 3"]), &mut None)],
    };
    assert_eq!(load_file_digest(&out), oracle_digest(&feed, &|_| true));
}

#[test]
fn damaged_input_is_refused() {
    let t = TempDir::new("aof-filter-bad");
    let mut aof = resp(&["SET a 1", "FLUSHALL", "SET b 2"]);
    let bad_at = aof.len() - 5;
    aof[bad_at] = b'X';
    aof.extend_from_slice(&resp(&["SET c 3"]));
    let input = t.path().join("bad.aof");
    std::fs::write(&input, &aof).unwrap();
    let out = t.path().join("out.aof");
    let (code, _, err) = redsafe(&[
        "filter",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--drop-command",
        "FLUSHALL",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("offset"), "{err}");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

/// The fixture AOFs of ../shared (each holds a FLUSHALL, several written by servers whose
/// files redis-server 7.0 cannot load): removing it removes exactly those bytes.
#[test]
fn shared_fixture_aofs() {
    let dirs = common::server_fixture_dirs();
    for d in dirs {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("meta.json")).unwrap()).unwrap();
        let path = d.join(meta["aof"]["path"].as_str().unwrap());
        let n_flush = meta["aof"]["flushall_seconds"].as_array().unwrap().len() as u64;
        let t = TempDir::new("aof-filter-fx");
        let out = t.path().join("out");
        let r = filter_ok(&path, &out, &["--drop-command", "FLUSHALL"]);
        assert_eq!(r["report"]["commands_removed"], n_flush, "{}", d.display());
        // Byte check: the output is the input without exactly the FLUSHALL commands.
        let pairs: Vec<(PathBuf, PathBuf)> = if path.is_dir() {
            let m = std::fs::read_to_string(path.join("appendonly.aof.manifest")).unwrap();
            m.lines()
                .filter(|l| l.split_whitespace().nth(5) == Some("i"))
                .map(|l| {
                    let n = l.split_whitespace().nth(1).unwrap();
                    (path.join(n), out.join(n))
                })
                .collect()
        } else {
            vec![(path.clone(), out.clone())]
        };
        let mut removed = 0;
        for (i, o) in pairs {
            let data = std::fs::read(&i).unwrap();
            let got = std::fs::read(&o).unwrap();
            // Skip an RDB preamble: compare from the first RESP byte after it (same length
            // in both, since it is copied).
            let start = if data.starts_with(b"REDIS") {
                let rep = redsafe::rdb::check_rdb(&data, 0, Default::default());
                rep.end_offset.unwrap() as usize
            } else {
                0
            };
            assert_eq!(&got[..start], &data[..start]);
            let mut ts = None;
            let mut expect = data[..start].to_vec();
            let mut p = start;
            // Inside a transaction: (everything, only the gaps, kept commands).
            let mut txn: Option<(Vec<u8>, Vec<u8>, usize, usize)> = None;
            for c in split(&data[start..], &mut ts) {
                let (s, e) = (c.range.0 + start, c.range.1 + start);
                let gap = &data[p..s];
                let raw = &data[s..e];
                p = e;
                match txn.as_mut() {
                    Some((all, gaps, kept, dropped)) => {
                        all.extend_from_slice(gap);
                        gaps.extend_from_slice(gap);
                        if c.is("exec") {
                            if *kept > 0 || *dropped == 0 {
                                expect.extend_from_slice(all);
                                expect.extend_from_slice(raw);
                            } else {
                                // A transaction the filter left empty is removed (one
                                // empty in the input stays).
                                expect.extend_from_slice(gaps);
                            }
                            txn = None;
                        } else if c.is("flushall") {
                            removed += 1;
                            *dropped += 1;
                        } else {
                            all.extend_from_slice(raw);
                            if !c.is("select") {
                                *kept += 1;
                            }
                        }
                    }
                    None => {
                        expect.extend_from_slice(gap);
                        if c.is("multi") {
                            txn = Some((raw.to_vec(), Vec::new(), 0, 0));
                        } else if c.is("flushall") {
                            removed += 1;
                        } else {
                            expect.extend_from_slice(raw);
                        }
                    }
                }
            }
            expect.extend_from_slice(&data[p..]);
            assert!(
                got == expect,
                "{}: output is not the input minus FLUSHALL",
                o.display()
            );
        }
        assert_eq!(removed, n_flush, "{}", d.display());
    }
}

/// A multi-part set with two INCR files (the second starting with no `#TS:`, so its stamps
/// carry over from the first, and with its own SELECT since every file starts in db 0): a
/// time window and a command filter across the file boundary.
#[test]
fn two_incr_files_and_carried_timestamps() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("aof-filter-2incr");
    let (dir, phase_c) = workload(&t, false);
    let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
    let mut base = None;
    let mut incr = None;
    for l in manifest.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f[5] {
            "b" => base = Some(f[1].to_string()),
            "i" => incr = Some(f[1].to_string()),
            _ => {}
        }
    }
    let (base, incr) = (base.unwrap(), incr.unwrap());
    let data = std::fs::read(dir.join(&incr)).unwrap();
    let cmds = split(&data, &mut None);
    // Cut in the middle of phase B, at a top-level command (not inside MULTI).
    let mut in_tx = false;
    let mut cut = None;
    for (i, c) in cmds.iter().enumerate() {
        if c.is("multi") {
            in_tx = true;
        } else if c.is("exec") {
            in_tx = false;
        } else if !in_tx && c.is("del") && i > cmds.len() / 3 {
            cut = Some(i);
            break;
        }
    }
    let cut = cut.unwrap();
    let at = cmds[cut].range.0;
    let db = cmds[cut].db;
    let out_dir = t.path().join("two");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::copy(dir.join(&base), out_dir.join(&base)).unwrap();
    std::fs::write(out_dir.join("appendonly.aof.1.incr.aof"), &data[..at]).unwrap();
    let mut second = resp(&[&format!("SELECT {db}")]);
    second.extend_from_slice(&data[at..]);
    std::fs::write(out_dir.join("appendonly.aof.2.incr.aof"), &second).unwrap();
    std::fs::write(
        out_dir.join("appendonly.aof.manifest"),
        format!(
            "file {base} seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
        ),
    )
    .unwrap();
    let parts = read_dir_set(&out_dir);
    assert_eq!(parts.files.len(), 2);
    assert!(parts.files[1][0].ts.is_some(), "stamps carry over");

    let out = t.path().join("two-out");
    let until = (phase_c - 1).to_string();
    let r = filter_ok(
        &out_dir,
        &out,
        &[
            "--drop-command",
            "DEL",
            "--drop-command",
            "FLUSHALL",
            "--until",
            &until,
        ],
    );
    let keep = |c: &Cmd| !((c.is("del") || c.is("flushall")) && c.ts.is_some_and(|t| t < phase_c));
    assert_eq!(load_dir_digest(&out), oracle_digest(&parts, &keep));
    let n = parts.files.iter().flatten().filter(|c| !keep(c)).count();
    assert_eq!(r["report"]["commands_removed"], n as u64);
    assert_eq!(r["report"]["files"].as_array().unwrap().len(), 3);
}
