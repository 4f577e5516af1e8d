//! The hand-made cases of `fixtures/aof/corrupt/` (one rule of redis-check-aof or the Redis
//! loader each; written by `fixtures/aof/corrupt/make.py`): `redsafe check` agrees with
//! `redis-check-aof` 7.0.15, every repairable case repaired by `redsafe fix` passes
//! redis-check-aof and loads into redis-server, and salvage keeps what follows a zeroed page.

mod aof_common;
mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use aof_common::*;
use common::{RedisServer, Reply, TempDir};

fn corrupt(rel: &str) -> PathBuf {
    project_aof("corrupt").join(rel)
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(project_aof("corrupt"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "aof") || p.is_dir())
        .collect();
    v.sort();
    assert!(v.len() >= 15);
    v
}

fn oracle_input(p: &Path) -> PathBuf {
    if p.is_dir() {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".manifest"))
            .unwrap()
    } else {
        p.to_path_buf()
    }
}

#[test]
fn check_agrees_with_redis_check_aof_on_hand_made_cases() {
    if !common::have_redis() {
        return;
    }
    for p in cases() {
        let o = redis_check_aof(&[], &oracle_input(&p), None);
        let (code, j) = redsafe_check(&p);
        if let Err(e) = compare_same(&o, code, &j) {
            panic!(
                "{}: {e}\nredis-check-aof: {}\nredsafe: {j:#}",
                p.display(),
                o.output
            );
        }
    }
}

/// Starts redis-server on a copy of a single AOF; the directory lives as long as the server.
fn load_single(path: &Path) -> Result<(RedisServer, TempDir), String> {
    let t = TempDir::new("corrupt-load");
    std::fs::copy(path, t.path().join("appendonly.aof")).unwrap();
    let s = RedisServer::start(
        t.path(),
        &["--appendonly", "yes", "--aof-load-truncated", "no"],
    )?;
    Ok((s, t))
}

#[test]
fn fixed_cases_pass_redis_check_aof_and_load() {
    if !common::have_redis() {
        return;
    }
    let mut fixed = 0;
    for p in cases() {
        let t = TempDir::new("corrupt-fix");
        let out = t.path().join(if p.is_dir() { "out" } else { "out.aof" });
        let out_check = if p.is_dir() {
            oracle_input(&p).file_name().map(|n| out.join(n)).unwrap()
        } else {
            out.clone()
        };
        let o = redis_check_aof(&[], &oracle_input(&p), None);
        let (code, s, e) = redsafe(&[
            OsStr::new("fix"),
            p.as_os_str(),
            OsStr::new("-o"),
            out.as_os_str(),
        ]);
        if o.output.contains("Cannot open file") {
            // a file of the set is missing: nothing to cut, refused
            assert_eq!(code, 1, "{}: {s}{e}", p.display());
            assert!(!out.exists());
            continue;
        }
        assert_eq!(code, 0, "{}: {s}{e}", p.display());
        let after = redis_check_aof(&[], &out_check, None);
        assert_eq!(
            after.exit,
            Some(0),
            "{}: fixed output: {}",
            p.display(),
            after.output
        );
        if o.exit != Some(0) {
            fixed += 1;
        }
        if !p.is_dir() && std::fs::metadata(&out).unwrap().len() > 0 {
            // *0 passes redis-check-aof but the loader refuses it: redsafe warns about it.
            if p.file_name().unwrap() == "star-zero.aof" {
                assert!(load_single(&out).is_err());
                let (_, j) = redsafe_check(&out);
                assert!(j["warnings"].to_string().contains("*0"), "{j}");
                continue;
            }
            let (s, _dir) =
                load_single(&out).unwrap_or_else(|l| panic!("{}: does not load: {l}", p.display()));
            let mut c = s.client();
            assert_eq!(
                c.cmd(&[b"GET", b"a"]).unwrap(),
                Reply::Bulk(Some(b"1".to_vec())),
                "{}",
                p.display()
            );
        }
    }
    assert!(fixed >= 9, "{fixed}");
}

#[test]
fn salvage_keeps_commands_after_a_zeroed_page() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("corrupt-salvage");
    let out = t.path().join("out.aof");
    let p = corrupt("zero-page-middle.aof");
    let (code, s, e) = redsafe(&[
        OsStr::new("fix"),
        p.as_os_str(),
        OsStr::new("--salvage"),
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("--json"),
    ]);
    assert_eq!(code, 0, "{s}{e}");
    let j: serde_json::Value = serde_json::from_str(&s).unwrap();
    let l = &j["losses"][0];
    assert_eq!(
        (l["kind"].as_str(), l["start"].as_u64(), l["end"].as_u64()),
        (Some("damaged"), Some(93), Some(93 + 4096))
    );
    assert_eq!(l["from_timestamp"], 1700000000);
    let (srv, _dir) = load_single(&out).unwrap();
    let mut c = srv.client();
    assert_eq!(
        c.cmd(&[b"GET", b"after"]).unwrap(),
        Reply::Bulk(Some(b"zeros".to_vec()))
    );
    assert_eq!(
        c.cmd(&[b"GET", b"b"]).unwrap(),
        Reply::Bulk(Some(b"2".to_vec()))
    );
    // without --salvage everything after the page is lost, as with redis-check-aof --fix
    let out2 = t.path().join("out2.aof");
    let (code, ..) = redsafe(&[
        OsStr::new("fix"),
        p.as_os_str(),
        OsStr::new("-o"),
        out2.as_os_str(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::metadata(&out2).unwrap().len(), 93);
}

#[test]
fn invalid_timestamp_annotation_refused_in_timestamp_mode() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("corrupt-ts");
    let p = corrupt("bad-timestamp.aof");
    let copy = t.path().join("bad-timestamp.aof");
    std::fs::copy(&p, &copy).unwrap();
    let o = redis_check_aof(&["--truncate-to-timestamp", "1700000000"], &copy, None);
    assert!(
        o.output.contains("Invalid timestamp annotation"),
        "{}",
        o.output
    );
    let out = t.path().join("out.aof");
    let (code, s, e) = redsafe(&[
        OsStr::new("fix"),
        p.as_os_str(),
        OsStr::new("--truncate-to-timestamp"),
        OsStr::new("1700000000"),
        OsStr::new("-o"),
        out.as_os_str(),
    ]);
    assert_eq!(code, 1, "{s}{e}");
    assert!(e.contains("invalid timestamp annotation"), "{e}");
    assert!(!out.exists());
}
