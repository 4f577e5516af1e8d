//! `redsafe restore` and `redsafe timeline` on AOFs generated here by the installed
//! redis-server (7.0.15) with `aof-timestamp-enabled yes`.
//!
//! The workload runs over five seconds of the server clock. For each second S the test sends
//! commands only while the server's `TIME` is early in S (at most 700 ms in), then waits
//! until the server clock has passed S and records `DEBUG DIGEST`: the state at the end of S,
//! what `restore --at S` must reproduce. Right before a `FLUSHALL` it records the digest too
//! (the oracle for `before:FLUSHALL`), and it notes the second of every command it sends on a
//! tracked key, of a big key delete, of a `DEL` burst and of a `SWAPDB` (the oracle for
//! `timeline`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{digest_of_aof_dir, have_redis, Client, RedisServer, Reply, TempDir};
use serde_json::Value;

fn time(c: &mut Client) -> (i64, i64) {
    match c.cmd(&[b"TIME"]).unwrap() {
        Reply::Array(Some(v)) => {
            let n = |r: &Reply| match r {
                Reply::Bulk(Some(b)) => std::str::from_utf8(b).unwrap().parse::<i64>().unwrap(),
                other => panic!("TIME: {other:?}"),
            };
            (n(&v[0]), n(&v[1]))
        }
        other => panic!("TIME: {other:?}"),
    }
}

fn digest(c: &mut Client) -> String {
    match c.cmd(&[b"DEBUG", b"DIGEST"]).unwrap() {
        Reply::Status(s) => s,
        other => panic!("DEBUG DIGEST: {other:?}"),
    }
}

fn ok(r: Reply) {
    if let Reply::Error(e) = r {
        panic!("redis error: {e}");
    }
}

fn cmd(c: &mut Client, args: &[&str]) -> Reply {
    let v: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let r = c.cmd(&v).unwrap();
    if let Reply::Error(e) = &r {
        panic!("{args:?}: {e}");
    }
    r
}

/// Waits until the server clock is in a second after `s`, early in it; returns that second.
fn wait_past(c: &mut Client, s: i64) -> i64 {
    loop {
        let (now, us) = time(c);
        if now > s && us < 300_000 {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(if now > s {
            (1_000_000 - us) as u64 / 1000 + 1
        } else {
            10
        }));
    }
}

/// Sends a few batches of ordinary writes while the clock is in second `s`.
fn filler(c: &mut Client, s: i64, tag: &str, n: usize) {
    for b in 0..n {
        let (now, us) = time(c);
        assert!(now == s, "TIMING: the workload fell behind the clock");
        if us > 700_000 {
            return;
        }
        let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
        for i in 0..20 {
            let k = format!("{tag}:{b}:{i}");
            cmds.push(vec![
                b"SET".to_vec(),
                k.clone().into_bytes(),
                format!("v{s}{i}").into_bytes(),
            ]);
            cmds.push(vec![
                b"HSET".to_vec(),
                format!("h:{tag}").into_bytes(),
                k.clone().into_bytes(),
                b"1".to_vec(),
            ]);
            cmds.push(vec![
                b"RPUSH".to_vec(),
                format!("l:{}", i % 3).into_bytes(),
                k.into_bytes(),
            ]);
            cmds.push(vec![b"INCR".to_vec(), b"counter".to_vec()]);
        }
        cmds.push(vec![b"SELECT".to_vec(), b"1".to_vec()]);
        cmds.push(vec![
            b"SADD".to_vec(),
            format!("s:{tag}").into_bytes(),
            format!("{b}").into_bytes(),
        ]);
        cmds.push(vec![
            b"ZADD".to_vec(),
            b"z".to_vec(),
            format!("{b}.5").into_bytes(),
            format!("{tag}{b}").into_bytes(),
        ]);
        cmds.push(vec![b"SELECT".to_vec(), b"0".to_vec()]);
        for r in c.pipeline(&cmds).unwrap() {
            ok(r);
        }
    }
}

struct Generated {
    _tmp: TempDir,
    /// Redis `dir` holding appendonlydir/.
    dir: std::path::PathBuf,
    seconds: Vec<(i64, String)>,
    before_flush: String,
    flush_second: i64,
    /// `(second, command)` of every command sent on key `tracked`.
    tracked: Vec<(i64, &'static str)>,
    big_delete_second: i64,
    burst_second: i64,
    swap_second: i64,
    /// Stamp of a RESP BASE written by a rewrite (when `rewrite`).
    rewrite_second: Option<i64>,
}

/// Runs the workload. With `rewrite`, the BASE is RESP (`aof-use-rdb-preamble no`) and is
/// rewritten after the second second, so earlier seconds are no longer restorable.
fn generate(rewrite: bool) -> Generated {
    let tmp = TempDir::new("pitr-gen");
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    let mut extra = vec!["--appendonly", "yes", "--aof-timestamp-enabled", "yes"];
    if rewrite {
        extra.extend(["--aof-use-rdb-preamble", "no"]);
    }
    let server = RedisServer::start(&dir, &extra).expect("start redis-server");
    let mut c = server.client();
    let mut g = Generated {
        dir: dir.clone(),
        _tmp: tmp,
        seconds: vec![],
        before_flush: String::new(),
        flush_second: 0,
        tracked: vec![],
        big_delete_second: 0,
        burst_second: 0,
        swap_second: 0,
        rewrite_second: None,
    };
    let (start, _) = time(&mut c);
    let mut s = wait_past(&mut c, start);
    for step in 0..5 {
        filler(&mut c, s, &format!("t{step}"), 2);
        match step {
            0 => {
                cmd(&mut c, &["SET", "tracked", "one"]);
                g.tracked.push((s, "SET"));
            }
            1 => {
                cmd(&mut c, &["APPEND", "tracked", "-two"]);
                g.tracked.push((s, "APPEND"));
                cmd(&mut c, &["MULTI"]);
                cmd(&mut c, &["INCR", "counter"]);
                cmd(&mut c, &["SADD", "tx", "a", "b"]);
                cmd(&mut c, &["EXEC"]);
            }
            2 => {
                g.before_flush = digest(&mut c);
                cmd(&mut c, &["FLUSHALL"]);
                g.flush_second = s;
                filler(&mut c, s, "after-flush", 1);
                cmd(&mut c, &["SET", "tracked", "three"]);
                g.tracked.push((s, "SET"));
            }
            3 => {
                // A big list (~1.3 MB), then its delete; a DEL of 60 keys; a SWAPDB.
                let val = "x".repeat(640);
                let mut cmds = Vec::new();
                for _ in 0..20 {
                    let mut a = vec![b"RPUSH".to_vec(), b"big".to_vec()];
                    a.extend(std::iter::repeat_n(val.as_bytes().to_vec(), 100));
                    cmds.push(a);
                }
                for r in c.pipeline(&cmds).unwrap() {
                    ok(r);
                }
                cmd(&mut c, &["DEL", "big"]);
                g.big_delete_second = s;
                let mut del = vec!["DEL".to_string()];
                let mut sets = Vec::new();
                for i in 0..60 {
                    sets.push(vec![
                        b"SET".to_vec(),
                        format!("burst:{i}").into_bytes(),
                        b"1".to_vec(),
                    ]);
                    del.push(format!("burst:{i}"));
                }
                for r in c.pipeline(&sets).unwrap() {
                    ok(r);
                }
                let refs: Vec<&str> = del.iter().map(String::as_str).collect();
                cmd(&mut c, &refs);
                g.burst_second = s;
                cmd(&mut c, &["DEL", "tracked"]);
                g.tracked.push((s, "DEL"));
                cmd(&mut c, &["SWAPDB", "0", "1"]);
                g.swap_second = s;
            }
            _ => {}
        }
        let (now, _) = time(&mut c);
        assert!(now == s, "TIMING: step {step} took too long");
        let next = wait_past(&mut c, s);
        g.seconds.push((s, digest(&mut c)));
        s = next;
        if rewrite && step == 1 {
            cmd(&mut c, &["BGREWRITEAOF"]);
            loop {
                let info = match cmd(&mut c, &["INFO", "persistence"]) {
                    Reply::Bulk(Some(b)) => String::from_utf8(b).unwrap(),
                    other => panic!("{other:?}"),
                };
                if info.contains("aof_rewrite_in_progress:0")
                    && info.contains("aof_rewrite_scheduled:0")
                    && info.contains("aof_last_bgrewrite_status:ok")
                {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // The BASE's stamp is the first line of the RESP BASE.
            let m =
                std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
            let base = m
                .lines()
                .find(|l| l.ends_with("type b"))
                .unwrap()
                .split_whitespace()
                .nth(1)
                .unwrap()
                .to_string();
            let data = std::fs::read(dir.join("appendonlydir").join(base)).unwrap();
            let line = data.split(|&b| b == b'\r').next().unwrap();
            let ts = std::str::from_utf8(line.strip_prefix(b"#TS:").unwrap())
                .unwrap()
                .parse::<i64>()
                .unwrap();
            g.rewrite_second = Some(ts);
            s = wait_past(&mut c, s.max(ts));
        }
    }
    drop(c);
    drop(server);
    g
}

/// [`generate`], tried again (up to 3 times) when a busy machine made a step spill into the
/// next second, which would make the recorded digests wrong; any other failure is raised.
fn generate_retrying(rewrite: bool) -> Generated {
    for attempt in 1..=3 {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| generate(rewrite))) {
            Ok(g) => return g,
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                if !msg.starts_with("TIMING:") || attempt == 3 {
                    std::panic::resume_unwind(e);
                }
                eprintln!("workload attempt {attempt}: {msg}; trying again");
            }
        }
    }
    unreachable!()
}

fn redsafe(args: &[&str]) -> std::process::Output {
    Command::new(common::redsafe_bin())
        .args(args)
        .output()
        .expect("run redsafe")
}

fn restore(src: &Path, when: &str, out: &Path) -> (i32, Value) {
    let o = redsafe(&[
        "restore",
        src.to_str().unwrap(),
        "--at",
        when,
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code().unwrap_or(-1), v)
}

fn timeline_json(src: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["timeline", src.to_str().unwrap(), "--json"];
    args.extend(extra);
    let o = redsafe(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn check_restores(g: &Generated) {
    let out = TempDir::new("pitr-gen-out");
    let source_before = snapshot(&g.dir.join("appendonlydir"));
    for (i, (s, want)) in g.seconds.iter().enumerate() {
        let target = out.path().join(format!("r{i}"));
        let (code, v) = restore(&g.dir, &s.to_string(), &target);
        if g.rewrite_second.is_some_and(|r| *s < r) {
            assert_eq!(code, 2, "second {s} is before the rewritten BASE: {v}");
            assert!(v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("before the BASE"));
            assert!(!target.exists());
            continue;
        }
        assert_eq!(code, 0, "{v}");
        assert_eq!(&digest_of_aof_dir(&target).unwrap(), want, "second {s}");
    }
    let target = out.path().join("flush");
    let (code, v) = restore(&g.dir, "before:FLUSHALL", &target);
    if g.rewrite_second.is_some_and(|r| g.flush_second < r) {
        assert_eq!(code, 2, "{v}");
    } else {
        assert_eq!(code, 0, "{v}");
        assert_eq!(digest_of_aof_dir(&target).unwrap(), g.before_flush);
    }
    // The source was only read.
    assert_eq!(snapshot(&g.dir.join("appendonlydir")), source_before);
}

/// Names, sizes and contents of the files in a directory.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn check_timeline(g: &Generated) {
    // --command FLUSHALL finds the one FLUSHALL at its second.
    let v = timeline_json(&g.dir, &["--command", "flushall"]);
    let occ = v["occurrences"].as_array().unwrap();
    assert_eq!(occ.len(), 1, "{v}");
    assert_eq!(occ[0]["time"].as_i64(), Some(g.flush_second));
    // --key tracked: exactly the commands sent on it, with their seconds.
    let v = timeline_json(&g.dir, &["--key", "tracked"]);
    let got: Vec<(i64, String)> = v["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["time"].as_i64().unwrap(),
                o["command"].as_str().unwrap().to_ascii_uppercase(),
            )
        })
        .collect();
    let mut want: Vec<(i64, String)> = g
        .tracked
        .iter()
        .filter(|(s, _)| g.rewrite_second.is_none_or(|r| *s >= r))
        .map(|(s, c)| (*s, c.to_string()))
        .collect();
    if let Some(r) = g.rewrite_second {
        // The rewritten RESP BASE recreates the key with one SET, stamped with its time.
        want.insert(0, (r, "SET".to_string()));
    }
    assert_eq!(got, want);
    // Per-second flags.
    let v = timeline_json(&g.dir, &["--del-burst", "50", "--big-key-bytes", "1000000"]);
    let buckets = v["buckets"].as_array().unwrap();
    let flags_at = |s: i64| -> Vec<String> {
        buckets
            .iter()
            .find(|b| b["start"].as_i64() == Some(s))
            .map(|b| {
                b["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["flag"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut flagged = 0;
    for b in buckets {
        let s = b["start"].as_i64().unwrap();
        let f = flags_at(s);
        let mut want = Vec::new();
        if s == g.flush_second {
            want.push("flushall".to_string());
        }
        if s == g.swap_second {
            want.push("swapdb".into());
        }
        if s == g.burst_second {
            want.push("del-burst".into());
        }
        if s == g.big_delete_second {
            want.push("big-key-delete".into());
        }
        assert_eq!(f, want, "flags of second {s}");
        flagged += f.len();
        assert!(b["commands"].as_u64().unwrap() > 0);
    }
    assert!(flagged >= 4);
}

#[test]
fn generated_aof_restores_to_every_recorded_second() {
    if !have_redis() {
        return;
    }
    let g = generate_retrying(false);
    check_restores(&g);
    check_timeline(&g);
}

#[test]
fn generated_aof_with_a_rewritten_resp_base() {
    if !have_redis() {
        return;
    }
    let g = generate_retrying(true);
    assert!(g.rewrite_second.is_some());
    check_restores(&g);
    check_timeline(&g);
}
