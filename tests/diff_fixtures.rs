//! `redsafe diff` against real servers: a file against itself is identical; against a copy
//! a redis-server modified (keys deleted, added, changed, expiries moved) it lists exactly
//! those keys; its `--format resp` output turns a server holding A into one with B's
//! `DEBUG DIGEST`; fixture pairs agree with the servers' own digests.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{RedisServer, Reply, TempDir};
use serde_json::Value;

fn diff(a: &Path, b: &Path, args: &[&str]) -> std::process::Output {
    Command::new(common::redsafe_bin())
        .arg("diff")
        .arg(a)
        .arg(b)
        .args(args)
        .output()
        .unwrap()
}

fn diff_json(a: &Path, b: &Path, args: &[&str]) -> Value {
    let mut v = vec!["--format", "json"];
    v.extend_from_slice(args);
    let out = diff(a, b, &v);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn kinds(v: &Value, kind: &str) -> BTreeSet<(u64, String)> {
    v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| {
            (
                d["db"].as_u64().unwrap(),
                d["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn meta_digest(dir: &Path) -> String {
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    m["dump.rdb"]["digest"].as_str().unwrap().to_string()
}

#[test]
fn a_file_against_itself_is_identical() {
    for dir in common::server_fixture_dirs() {
        let f = dir.join("dump.rdb");
        let v = diff_json(&f, &f, &[]);
        assert_eq!(
            v["differences"].as_array().unwrap().len(),
            0,
            "{}",
            dir.display()
        );
        assert_eq!(v["summary"]["identical_files"], true);
        assert!(v["summary"]["identical"].as_u64().unwrap() > 150);
        let out = diff(&f, &f, &["--exit-code"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stdout).contains("no differences"));
    }
}

/// Pairs of fixtures (same seed, different servers and encodings): where the servers'
/// `DEBUG DIGEST`s agree, diff finds no key or value difference; where they differ, it
/// finds some.
#[test]
fn fixture_pairs_agree_with_the_server_digests() {
    let dirs = common::server_fixture_dirs();
    let mut equal_pairs = 0;
    for (i, a) in dirs.iter().enumerate() {
        for b in &dirs[i + 1..] {
            let v = diff_json(&a.join("dump.rdb"), &b.join("dump.rdb"), &[]);
            let s = &v["summary"];
            let content_differs = s["only_in_a"].as_u64().unwrap()
                + s["only_in_b"].as_u64().unwrap()
                + s["changed_type"].as_u64().unwrap()
                + s["changed_value"].as_u64().unwrap()
                > 0;
            let same_digest = meta_digest(a) == meta_digest(b);
            assert_eq!(
                !content_differs,
                same_digest,
                "{} vs {}: {s}",
                a.display(),
                b.display()
            );
            equal_pairs += usize::from(same_digest);
        }
    }
    if !dirs.is_empty() {
        assert!(equal_pairs >= 3, "{equal_pairs}");
    }
}

fn pipe_into(port: u16, resp: &[u8]) {
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(resp).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0,"), "{text}");
}

fn ok(r: Reply) {
    assert!(!matches!(r, Reply::Error(_)), "{r:?}");
}

#[test]
fn modified_copy_lists_exactly_the_changes_and_resp_turns_a_into_b() {
    if !common::have_redis() {
        return;
    }
    let dirs = common::server_fixture_dirs();
    let Some(dir) = dirs.iter().find(|d| d.ends_with("redis-7.0.15")) else {
        return;
    };
    let a = dir.join("dump.rdb");
    // B = A loaded by redis-server, modified, saved.
    let t = TempDir::new("diff-b");
    std::fs::copy(&a, t.path().join("dump.rdb")).unwrap();
    let b = t.path().join("b.rdb");
    {
        let s = RedisServer::start(t.path(), &[]).unwrap();
        let mut c = s.client();
        let cmds: Vec<Vec<&[u8]>> = vec![
            vec![b"DEL", b"s:11:1", b"l:11:0", b"h:11:2"],
            vec![b"SELECT", b"1"],
            vec![b"DEL", b"z:11:0", b"x:11:1"],
            vec![b"SET", b"brand-new", b"1"],
            vec![b"HSET", b"h:11:0", b"extra-field", b"v"],
            vec![b"SELECT", b"3"],
            vec![b"SADD", b"set:11:0", b"another-member"],
            vec![b"PEXPIREAT", b"l:11:1", b"4102444800000"],
            vec![b"DEL", b"s:11:0"],
            vec![b"HSET", b"s:11:0", b"now", b"a-hash"],
            vec![b"SAVE"],
        ];
        for cmd in &cmds {
            ok(c.cmd(cmd).unwrap());
        }
        std::fs::rename(t.path().join("dump.rdb"), &b).unwrap();
    }
    let v = diff_json(&a, &b, &[]);
    let own = |db: u64, k: &str| (db, k.to_string());
    assert_eq!(
        kinds(&v, "only_in_a"),
        [
            own(0, "s:11:1"),
            own(0, "l:11:0"),
            own(0, "h:11:2"),
            own(1, "z:11:0"),
            own(1, "x:11:1")
        ]
        .into()
    );
    assert_eq!(kinds(&v, "only_in_b"), [own(1, "brand-new")].into());
    assert_eq!(
        kinds(&v, "changed"),
        [
            own(1, "h:11:0"),
            own(3, "set:11:0"),
            own(3, "l:11:1"),
            own(3, "s:11:0")
        ]
        .into()
    );
    let s = &v["summary"];
    assert_eq!(
        (
            s["changed_type"].as_u64(),
            s["changed_value"].as_u64(),
            s["changed_expiry"].as_u64()
        ),
        (Some(1), Some(2), Some(2))
    );
    // s:11:0 had an expiry and lost it with its type change; l:11:1 got one.
    // Bounded memory: the same answer through hash-partition spill files.
    let p = diff_json(&a, &b, &["--memory-limit", "1k"]);
    assert!(p["summary"]["partitions"].as_u64().unwrap() > 1);
    for k in ["only_in_a", "only_in_b", "changed"] {
        assert_eq!(kinds(&p, k), kinds(&v, k), "{k}");
    }
    // Pure removal, the other way round: B→A lists exactly the deleted keys as only in B.
    let r = diff_json(&b, &a, &["--db", "0"]);
    assert_eq!(
        kinds(&r, "only_in_b"),
        [own(0, "s:11:1"), own(0, "l:11:0"), own(0, "h:11:2")].into()
    );
    assert!(kinds(&r, "only_in_a").is_empty() && kinds(&r, "changed").is_empty());
    // The text report says which is newer and lists the keys.
    let out = diff(&a, &b, &["--exit-code"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("- db 0 \"s:11:1\"") && text.contains("+ db 1 \"brand-new\""),
        "{text}"
    );
    assert!(
        text.contains("ctime") && text.contains("newer: B was saved"),
        "{text}"
    );

    // --format resp applied to a server holding A gives B (digest and expiry times).
    let oracle = common::digest_of_rdb(&b).unwrap();
    let ta = TempDir::new("diff-apply");
    std::fs::copy(&a, ta.path().join("dump.rdb")).unwrap();
    let s = RedisServer::start(ta.path(), &[]).unwrap();
    assert_ne!(s.digest(), oracle);
    let out = diff(&a, &b, &["--format", "resp"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pipe_into(s.port, &out.stdout);
    assert_eq!(s.digest(), oracle);
    let mut c = s.client();
    ok(c.cmd(&[b"SELECT", b"3"]).unwrap());
    assert_eq!(
        c.cmd(&[b"PEXPIRETIME", b"l:11:1"]).unwrap(),
        Reply::Int(4102444800000)
    );
    assert_eq!(c.cmd(&[b"PEXPIRETIME", b"s:11:0"]).unwrap(), Reply::Int(-1));
    // And the reverse turns B back into A.
    let out = diff(&b, &a, &["--format", "resp"]);
    pipe_into(s.port, &out.stdout);
    assert_eq!(s.digest(), meta_digest(dir));
}
