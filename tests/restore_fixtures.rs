//! `redsafe restore` against the shared fixtures written by real servers.
//!
//! Oracles:
//! - `meta.json` `timeline`: the `DEBUG DIGEST` the live server reported at the end of each
//!   second. For the Redis 7.0.15 sets, the restored directory is loaded into the installed
//!   redis-server 7.0.15 and must give that digest.
//! - `redis-check-aof --truncate-to-timestamp S` (7.0.15), run on a temporary copy of each
//!   INCR file: where it cuts (or that it has nothing before S, or nothing to cut) must be
//!   where redsafe cuts. Every fixture with timestamps is compared this way, including the
//!   ones whose RDB BASE is too new for 7.0.15 to load.
//! - In manifest mode, redis-check-aof refuses every second that falls before the last INCR
//!   file of `multi-incr/`; redsafe must still restore those seconds (digest above).
//! - `before:FLUSHALL`: the AOF cut by the test itself (a byte search for the FLUSHALL, and
//!   for the `MULTI` of its transaction) and loaded by redis-server gives the expected digest.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{digest_of_aof_dir, have_redis, shared_dir, TempDir};
use serde_json::Value;

fn meta(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap()
}

/// `(second, digest)` pairs of a meta.json timeline.
fn timeline(m: &Value) -> Vec<(i64, String)> {
    let t = m
        .get("aof")
        .and_then(|a| a.get("timeline"))
        .or_else(|| m.get("timeline"))
        .and_then(|t| t.as_array())
        .cloned()
        .unwrap_or_default();
    t.iter()
        .map(|e| {
            (
                e["second"].as_i64().unwrap(),
                e["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The AOF sets with timestamps: `(name, appendonlydir, meta.json value)`.
fn timestamped_sets() -> Vec<(String, PathBuf, Value)> {
    let Some(shared) = shared_dir() else {
        return vec![];
    };
    let mut out = Vec::new();
    for d in common::server_fixture_dirs() {
        let m = meta(&d);
        if m["aof"]["timestamps"].as_bool() == Some(true) && d.join("appendonlydir").is_dir() {
            out.push((
                d.file_name().unwrap().to_string_lossy().into_owned(),
                d.join("appendonlydir"),
                m,
            ));
        }
    }
    let mut multi: Vec<_> = std::fs::read_dir(shared.join("fixtures/multi-incr"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("appendonlydir").is_dir())
        .collect();
    multi.sort();
    for d in multi {
        out.push((
            format!("multi-incr/{}", d.file_name().unwrap().to_string_lossy()),
            d.join("appendonlydir"),
            meta(&d),
        ));
    }
    assert!(
        out.len() >= 7,
        "expected the 7.0+ server fixtures and multi-incr sets, found {}",
        out.len()
    );
    out
}

fn redsafe(args: &[&str]) -> std::process::Output {
    Command::new(common::redsafe_bin())
        .args(args)
        .output()
        .expect("run redsafe")
}

fn restore_json(src: &Path, when: &str, out: Option<&Path>) -> (i32, Value) {
    let mut args = vec![
        "restore".to_string(),
        src.display().to_string(),
        "--at".into(),
        when.into(),
        "--json".into(),
        "-o".into(),
    ];
    match out {
        Some(o) => args.push(o.display().to_string()),
        None => {
            args.push("/nonexistent-dry-run".into());
            args.push("--dry-run".into());
        }
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = redsafe(&refs);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "restore {when}: bad JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code().unwrap_or(-1), v)
}

/// INCR file names of a manifest, in order.
fn incr_files(dir: &Path) -> Vec<String> {
    let m = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
    m.lines()
        .filter(|l| l.ends_with("type i") || l.contains(" type i "))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect()
}

/// What redis-check-aof --truncate-to-timestamp S does to a standalone copy of `file`.
enum CheckerCut {
    /// "Truncate nothing".
    Nothing,
    /// "has nothing before timestamp": the first stamp is after S.
    AtStart,
    /// Truncated to this size.
    At(u64),
}

fn checker_cut(file: &Path, second: i64) -> CheckerCut {
    let t = TempDir::new("pitr-check");
    let copy = t.path().join("x.aof");
    std::fs::write(&copy, std::fs::read(file).unwrap()).unwrap();
    let o = Command::new("redis-check-aof")
        .args(["--truncate-to-timestamp", &second.to_string()])
        .arg(&copy)
        .output()
        .expect("run redis-check-aof");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    if text.contains("has nothing before timestamp") {
        assert_eq!(o.status.code(), Some(1), "{text}");
        return CheckerCut::AtStart;
    }
    assert!(o.status.success(), "redis-check-aof failed: {text}");
    if text.contains("Truncate nothing") {
        return CheckerCut::Nothing;
    }
    assert!(text.contains("Successfully truncated"), "{text}");
    CheckerCut::At(std::fs::metadata(&copy).unwrap().len())
}

/// Seconds to probe: the timeline, one before it, and every stamp in the files.
fn probe_seconds(dir: &Path, m: &Value) -> Vec<i64> {
    let mut s: Vec<i64> = timeline(m).iter().map(|(s, _)| *s).collect();
    for f in incr_files(dir) {
        let d = std::fs::read(dir.join(&f)).unwrap();
        let mut i = 0;
        while let Some(p) = find(&d[i..], b"#TS:") {
            let start = i + p + 4;
            let end = start + d[start..].iter().take_while(|c| c.is_ascii_digit()).count();
            if let Ok(v) = std::str::from_utf8(&d[start..end]).unwrap().parse::<i64>() {
                s.push(v);
                s.push(v - 1);
            }
            i = end;
        }
    }
    s.sort();
    s.dedup();
    s
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

#[test]
fn cut_position_matches_redis_check_aof_for_every_second() {
    if !have_redis() {
        return;
    }
    let mut compared = 0;
    for (name, dir, m) in timestamped_sets() {
        let incrs = incr_files(&dir);
        let base_time_err_ok = |v: &Value| {
            v["error"]["message"]
                .as_str()
                .is_some_and(|s| s.contains("before the BASE"))
        };
        for s in probe_seconds(&dir, &m) {
            // The oracle: the first INCR file that redis-check-aof cuts.
            let mut expected: Option<(usize, u64)> = None;
            for (k, f) in incrs.iter().enumerate() {
                match checker_cut(&dir.join(f), s) {
                    CheckerCut::Nothing => continue,
                    CheckerCut::AtStart => expected = Some((k + 1, 0)),
                    CheckerCut::At(n) => expected = Some((k + 1, n)),
                }
                break;
            }
            let (code, v) = restore_json(&dir, &s.to_string(), None);
            if expected == Some((1, 0)) || code != 0 {
                // Nothing before S in the INCR files: S is before the BASE, or the cut would
                // be at the very start of the first INCR (BASE only).
                if code != 0 {
                    assert!(base_time_err_ok(&v), "{name} @ {s}: unexpected failure {v}");
                    let bt = v["error"]["message"].as_str().unwrap().to_string();
                    assert!(expected == Some((1, 0)), "{name} @ {s}: {bt}");
                    continue;
                }
            }
            let got = v["cut"].as_object().map(|c| {
                (
                    c["index"].as_u64().unwrap() as usize,
                    c["offset"].as_u64().unwrap(),
                )
            });
            assert_eq!(got, expected, "{name} @ {s}: redsafe {v}");
            compared += 1;
        }
    }
    assert!(compared > 40, "only {compared} comparisons");
}

#[test]
fn redis_check_aof_refuses_earlier_files_of_multi_incr_but_restore_reaches_them() {
    if !have_redis() {
        return;
    }
    let Some(shared) = shared_dir() else { return };
    let src = shared.join("fixtures/multi-incr/redis-7.0.15");
    let m = meta(&src);
    let dir = src.join("appendonlydir");
    let incrs = incr_files(&dir);
    let mut refused = 0;
    for (s, digest) in timeline(&m) {
        // Manifest mode on a writable copy.
        let t = TempDir::new("pitr-mi");
        let copy = t.path().join("appendonlydir");
        std::fs::create_dir(&copy).unwrap();
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            std::fs::write(copy.join(e.file_name()), std::fs::read(e.path()).unwrap()).unwrap();
        }
        let o = Command::new("redis-check-aof")
            .args(["--truncate-to-timestamp", &s.to_string()])
            .arg(copy.join("appendonly.aof.manifest"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        let (code, v) = restore_json(&dir, &s.to_string(), None);
        assert_eq!(code, 0, "{v}");
        let cut_file = v["cut"]["index"].as_u64().map(|i| i as usize);
        let in_last = cut_file.is_none_or(|i| i == incrs.len());
        let at_file_start = v["cut"]["offset"].as_u64() == Some(0);
        if !in_last || at_file_start {
            assert_eq!(o.status.code(), Some(1), "{text}");
            // "not the last file", or, when the cut is at the very start of an INCR file,
            // "has nothing before timestamp": refused either way.
            assert!(
                text.contains("is not the last file")
                    || text.contains("has nothing before timestamp"),
                "{text}"
            );
            refused += 1;
        } else {
            assert!(o.status.success(), "{text}");
        }
        // And the restore reaches the recorded state.
        let out = TempDir::new("pitr-mi-out");
        let target = out.path().join("r");
        let (code, v) = restore_json(&dir, &s.to_string(), Some(&target));
        assert_eq!(code, 0, "{v}");
        assert_eq!(
            digest_of_aof_dir(&target).unwrap(),
            digest,
            "multi-incr 7.0.15 restored at {s}"
        );
    }
    assert!(
        refused >= 4,
        "redis-check-aof refused only {refused} seconds"
    );
}

#[test]
fn restore_every_second_of_the_7_0_15_fixture_to_its_digest() {
    if !have_redis() {
        return;
    }
    let Some(shared) = shared_dir() else { return };
    let src = shared.join("fixtures/servers/redis-7.0.15");
    let m = meta(&src);
    let tl = timeline(&m);
    assert!(tl.len() >= 5);
    for (s, digest) in tl {
        let out = TempDir::new("pitr-70");
        let target = out.path().join("restored");
        // Source given as the Redis dir (holding appendonlydir/) this time.
        let o = redsafe(&[
            "restore",
            src.to_str().unwrap(),
            "--at",
            &s.to_string(),
            "-o",
            target.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(digest_of_aof_dir(&target).unwrap(), digest, "second {s}");
    }
    // RFC 3339 with a zone and 'YYYY-MM-DD HH:MM:SS' name the same second.
    let (s, digest) = timeline(&m)[2].clone();
    let utc = format_utc(s);
    for when in [
        utc.clone(),
        format!("{}T{}Z", &utc[..10], &utc[11..19]),
        shifted(s, 2 * 3600 + 30 * 60),
    ] {
        let out = TempDir::new("pitr-70-fmt");
        let target = out.path().join("r");
        let (code, v) = restore_json(&src, &when, Some(&target));
        assert_eq!(code, 0, "{when}: {v}");
        assert_eq!(v["target"]["unix"].as_i64(), Some(s), "{when}");
        assert_eq!(digest_of_aof_dir(&target).unwrap(), digest, "{when}");
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) computed here with the system's `date`, independent of
/// redsafe's formatter.
fn format_utc(s: i64) -> String {
    let o = Command::new("date")
        .args(["-u", "-d", &format!("@{s}"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// The same instant written in a zone `offset` seconds east of UTC (RFC 3339).
fn shifted(s: i64, offset: i64) -> String {
    let local = format_utc(s + offset);
    format!(
        "{}T{}+{:02}:{:02}",
        &local[..10],
        &local[11..19],
        offset / 3600,
        offset % 3600 / 60
    )
}

/// Copies an AOF dir, cutting the INCR `file` at `offset` and dropping later INCRs from the
/// manifest; returns the Redis dir.
fn cut_copy(dir: &Path, file: &str, offset: usize, into: &Path) {
    let out = into.join("appendonlydir");
    std::fs::create_dir_all(&out).unwrap();
    let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
    let mut keep = String::new();
    for l in manifest.lines() {
        let name = l.split_whitespace().nth(1).unwrap();
        let data = std::fs::read(dir.join(name)).unwrap();
        keep.push_str(l);
        keep.push('\n');
        if name == file {
            std::fs::write(out.join(name), &data[..offset]).unwrap();
            break;
        }
        std::fs::write(out.join(name), &data).unwrap();
    }
    std::fs::write(out.join("appendonly.aof.manifest"), keep).unwrap();
}

#[test]
fn before_flushall_gives_the_state_just_before_it() {
    if !have_redis() {
        return;
    }
    let Some(shared) = shared_dir() else { return };
    for src in [
        shared.join("fixtures/servers/redis-7.0.15"),
        shared.join("fixtures/multi-incr/redis-7.0.15"),
    ] {
        let dir = src.join("appendonlydir");
        // Oracle: find the first FLUSHALL by a byte search; if a MULTI opened before it has no
        // EXEC yet, cut at that MULTI; load the cut copy into redis-server.
        let mut oracle = None;
        for f in incr_files(&dir) {
            let d = std::fs::read(dir.join(&f)).unwrap();
            if let Some(p) = find(&d, b"*1\r\n$8\r\nFLUSHALL\r\n") {
                let before = &d[..p];
                let multi = before
                    .windows(15)
                    .rposition(|w| w == b"*1\r\n$5\r\nMULTI\r\n");
                let cut = match multi {
                    Some(mp) if find(&before[mp..], b"*1\r\n$4\r\nEXEC\r\n").is_none() => mp,
                    _ => p,
                };
                oracle = Some((f.clone(), cut));
                break;
            }
        }
        let (file, cut) = oracle.expect("a FLUSHALL in the fixture");
        let t = TempDir::new("pitr-flush");
        cut_copy(&dir, &file, cut, &t.path().join("oracle"));
        let want = digest_of_aof_dir(&t.path().join("oracle")).unwrap();
        let target = t.path().join("restored");
        let (code, v) = restore_json(&src, "before:FLUSHALL", Some(&target));
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["cut"]["offset"].as_u64(), Some(cut as u64), "{v}");
        let got = digest_of_aof_dir(&target).unwrap();
        assert_eq!(got, want, "{}", src.display());
        // The state before the FLUSHALL is not empty, and differs from the final state.
        assert_ne!(got, "0000000000000000000000000000000000000000");
    }
}

#[test]
fn errors_are_clear_and_nothing_is_written() {
    let Some(shared) = shared_dir() else { return };
    let src = shared.join("fixtures/servers/redis-7.0.15");
    let t = TempDir::new("pitr-err");
    let target = t.path().join("r");
    // Before the BASE.
    let (code, v) = restore_json(&src, "2000-01-01 00:00:00", Some(&target));
    assert_eq!(code, 2, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("before the BASE"));
    assert!(!target.exists());
    // No timestamps (Redis 6.2: a single AOF without #TS).
    let old = shared.join("fixtures/servers/redis-6.2.16/appendonly.aof");
    let (code, v) = restore_json(&old, "1795364450", Some(&target));
    assert_eq!(code, 2, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no #TS: timestamp annotations"));
    assert!(v["error"]["hint"].as_str().unwrap().contains("--at-offset"));
    assert!(!target.exists());
    // A command that never occurs.
    let (code, v) = restore_json(&src, "before:SWAPDB", Some(&target));
    assert_eq!(code, 2, "{v}");
    assert!(!target.exists());
    // Existing output refused without --force; with it, a directory holding anything redsafe
    // did not write is still refused (nothing of it is deleted); an empty one is filled, and
    // redsafe's own output is replaced.
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"x").unwrap();
    let (code, _) = restore_json(&src, "latest", Some(&target));
    assert_eq!(code, 2);
    assert!(target.join("keep").exists());
    let forced = || {
        redsafe(&[
            "restore",
            src.to_str().unwrap(),
            "--at",
            "latest",
            "--force",
            "-o",
            target.to_str().unwrap(),
        ])
    };
    let o = forced();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not written by redsafe"));
    assert_eq!(std::fs::read(target.join("keep")).unwrap(), b"x");
    std::fs::remove_file(target.join("keep")).unwrap();
    assert!(forced().status.success());
    assert!(forced().status.success());
    assert!(target
        .join("appendonlydir/appendonly.aof.manifest")
        .exists());
    // No temporary directories left beside it.
    let left: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn latest_and_at_offset_restore_the_final_state() {
    if !have_redis() {
        return;
    }
    let Some(shared) = shared_dir() else { return };
    let src = shared.join("fixtures/servers/redis-7.0.15");
    let m = meta(&src);
    let final_digest = m["aof"]["final_digest"].as_str().unwrap();
    let t = TempDir::new("pitr-latest");
    let target = t.path().join("r");
    let (code, v) = restore_json(&src, "latest", Some(&target));
    assert_eq!(code, 0, "{v}");
    assert!(v["cut"].is_null());
    assert_eq!(digest_of_aof_dir(&target).unwrap(), final_digest);
    // --at-offset at the stamp of the second after the 2nd timeline second = that second.
    let (s, digest) = timeline(&m)[1].clone();
    let incr = &incr_files(&src.join("appendonlydir"))[0];
    let d = std::fs::read(src.join("appendonlydir").join(incr)).unwrap();
    let off = find(&d, format!("#TS:{}\r\n", s + 1).as_bytes()).unwrap();
    let target2 = t.path().join("r2");
    let o = redsafe(&[
        "restore",
        src.to_str().unwrap(),
        "--at-offset",
        &format!("{incr}:{off}"),
        "-o",
        target2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(digest_of_aof_dir(&target2).unwrap(), digest);
    // An offset that is not a record boundary is refused.
    let o = redsafe(&[
        "restore",
        src.to_str().unwrap(),
        "--at-offset",
        &format!("{incr}:{}", off + 3),
        "-o",
        t.path().join("r3").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not the start of a record"));
}

#[test]
fn single_file_aofs_without_timestamps_restore_latest_and_before_flushall() {
    if !have_redis() {
        return;
    }
    let mut checked = 0;
    for d in common::server_fixture_dirs() {
        let m = meta(&d);
        if m["aof"]["path"].as_str() != Some("appendonly.aof") {
            continue;
        }
        let src = d.join("appendonly.aof");
        let t = TempDir::new("pitr-single");
        // latest: the final digest the live server recorded.
        let target = t.path().join("latest");
        let (code, v) = restore_json(&src, "latest", Some(&target));
        assert_eq!(code, 0, "{v}");
        assert_eq!(
            digest_of_aof_dir(&target).unwrap(),
            m["aof"]["final_digest"].as_str().unwrap(),
            "{}",
            d.display()
        );
        // before:FLUSHALL: oracle = the file cut by a byte search here (at the FLUSHALL, or
        // at the MULTI of its open transaction), loaded by redis-server as an old-style AOF.
        let data = std::fs::read(&src).unwrap();
        let p = find(&data, b"*1\r\n$8\r\nflushall\r\n")
            .or_else(|| find(&data, b"*1\r\n$8\r\nFLUSHALL\r\n"))
            .expect("a FLUSHALL");
        let before = &data[..p];
        let cut = match before
            .windows(15)
            .rposition(|w| w.eq_ignore_ascii_case(b"*1\r\n$5\r\nMULTI\r\n"))
        {
            Some(mp)
                if find(&before[mp..].to_ascii_uppercase(), b"*1\r\n$4\r\nEXEC\r\n").is_none() =>
            {
                mp
            }
            _ => p,
        };
        let oracle = t.path().join("oracle");
        std::fs::create_dir(&oracle).unwrap();
        std::fs::write(oracle.join("appendonly.aof"), &data[..cut]).unwrap();
        let want = digest_of_aof_dir(&oracle).unwrap();
        let target = t.path().join("flush");
        let (code, v) = restore_json(&src, "before:flushall", Some(&target));
        assert_eq!(code, 0, "{v}");
        assert_eq!(
            v["cut"]["offset"].as_u64(),
            Some(cut as u64),
            "{}",
            d.display()
        );
        assert_eq!(digest_of_aof_dir(&target).unwrap(), want, "{}", d.display());
        // --at-offset at that same point gives the same cut.
        let target = t.path().join("offset");
        let o = redsafe(&[
            "restore",
            src.to_str().unwrap(),
            "--at-offset",
            &format!("0:{cut}"),
            "-o",
            target.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(digest_of_aof_dir(&target).unwrap(), want);
        checked += 1;
    }
    assert!(checked >= 5, "{checked}");
}

/// Command names that occur in a set's INCR files (the first bulk string of each `*N` array
/// header at a line start), sorted, for `before:NAME` targets.
fn command_names(dir: &Path) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for f in incr_files(dir) {
        let d = std::fs::read(dir.join(&f)).unwrap();
        let text = String::from_utf8_lossy(&d);
        let mut lines = text.split("\r\n").peekable();
        while let Some(l) = lines.next() {
            if l.starts_with('*') && l[1..].parse::<u32>().is_ok_and(|n| n > 0) {
                let _len = lines.next();
                if let Some(name) = lines.next() {
                    if !name.is_empty()
                        && name.len() <= 20
                        && name.bytes().all(|c| c.is_ascii_alphabetic())
                    {
                        names.insert(name.to_ascii_uppercase());
                    }
                }
            }
        }
    }
    names.into_iter().collect()
}

fn json_of(o: &std::process::Output, what: &str) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: bad JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// The files of an `appendonlydir/`: name, size and a hash of the bytes.
fn aof_files(dir: &Path) -> Vec<(String, usize, u64)> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let b = std::fs::read(e.path()).unwrap();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&b, &mut h);
            (
                e.file_name().to_string_lossy().into_owned(),
                b.len(),
                std::hash::Hasher::finish(&h),
            )
        })
        .collect();
    v.sort();
    v
}

/// One restore point, every command that goes back in time: `restore DIR`, `restore
/// file://` of the same data shipped with `ship`, `compact --at` and `digest --at` cut at
/// the same place (or all refuse), and — for the sets a 7.0 redis-server loads — the restored
/// directory, the compacted RDB and the digest all give redis-server's digest (the fixture's
/// recorded one for the seconds of its timeline). Includes a set whose `#TS:` annotations
/// fall inside a MULTI/EXEC (the cut goes before the MULTI everywhere).
#[test]
fn every_time_travel_command_cuts_where_restore_does() {
    if !have_redis() {
        return;
    }
    let t = TempDir::new("tt-agree");
    let mut sets = timestamped_sets();
    // A copy of the multi-incr 7.0 set with a transaction whose stamps are inside it.
    let (_, src, _) = sets
        .iter()
        .find(|(n, ..)| n == "multi-incr/redis-7.0.15")
        .cloned()
        .expect("multi-incr/redis-7.0.15 fixture");
    let gen = t.path().join("gen/appendonlydir");
    std::fs::create_dir_all(&gen).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), gen.join(e.file_name())).unwrap();
    }
    let last_incr = incr_files(&gen).pop().unwrap();
    let last_ts = *probe_seconds(&gen, &Value::Null).last().unwrap();
    let mut tail = String::new();
    let cmd = |a: &[&str]| {
        let mut s = format!("*{}\r\n", a.len());
        for x in a {
            s += &format!("${}\r\n{x}\r\n", x.len());
        }
        s
    };
    tail += &format!("#TS:{}\r\n", last_ts + 5);
    tail += &cmd(&["SET", "tt:a", "1"]);
    tail += &cmd(&["MULTI"]);
    tail += &format!("#TS:{}\r\n", last_ts + 6);
    tail += &cmd(&["SET", "tt:a", "2"]);
    tail += &cmd(&["INCR", "tt:a"]);
    tail += &cmd(&["EXEC"]);
    tail += &format!("#TS:{}\r\n", last_ts + 7);
    tail += &cmd(&["SET", "tt:b", "3"]);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(gen.join(&last_incr))
        .unwrap();
    std::io::Write::write_all(&mut f, tail.as_bytes()).unwrap();
    drop(f);
    sets.push(("generated/ts-inside-multi".into(), gen.clone(), Value::Null));

    let (mut agreed, mut loaded) = (0, 0);
    for (k, (name, dir, m)) in sets.iter().enumerate() {
        let oracle = name.contains("redis-7.0.15") || name.starts_with("generated/");
        let server_version = m["version"].as_str().unwrap_or("7.0.15");
        let server = match server_version.get(..3) {
            Some(v @ ("7.0" | "7.2" | "7.4")) => v,
            _ if name.starts_with("generated/") => "7.0",
            _ => "8.8",
        };
        let flavor = if server == "8.8" { "7.4" } else { server };
        // The same data shipped into a file:// store.
        let data = t.path().join(format!("data-{k}"));
        let store = t.path().join(format!("store-{k}"));
        std::fs::create_dir_all(data.join("appendonlydir")).unwrap();
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), data.join("appendonlydir").join(e.file_name())).unwrap();
        }
        let url = format!("file://{}", store.display());
        let o = redsafe(&[
            "ship",
            "--once",
            "--data-dir",
            data.to_str().unwrap(),
            "--to",
            &url,
        ]);
        assert!(
            o.status.success(),
            "{name}: ship: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let recorded: std::collections::HashMap<i64, String> = timeline(m).into_iter().collect();
        let mut targets: Vec<String> = probe_seconds(dir, m)
            .iter()
            .map(|s| s.to_string())
            .collect();
        targets.extend(command_names(dir).iter().map(|c| format!("before:{c}")));
        targets.push("latest".into());
        let mut sampled = 0;
        for target in &targets {
            let (rc, v) = restore_json(dir, target, None);
            let rdb = t.path().join("c.rdb");
            // The RDB version that holds what the server wrote, the digest it computes.
            let version = match server {
                "7.0" => "10",
                "7.2" => "11",
                "7.4" => "12",
                _ => "14",
            };
            let oc = redsafe(&[
                "compact",
                dir.to_str().unwrap(),
                "--at",
                target,
                "-o",
                rdb.to_str().unwrap(),
                "--force",
                "--json",
                "--rdb-version",
                version,
            ]);
            let od = redsafe(&[
                "digest",
                dir.to_str().unwrap(),
                "--at",
                target,
                "--json",
                "--redis",
                flavor,
            ]);
            let what = format!("{name} --at {target}");
            let (rc_c, rc_d) = (
                oc.status.code().unwrap_or(-1),
                od.status.code().unwrap_or(-1),
            );
            // Redis 8.8's arrays (the type and its commands) are not replayed or digested
            // yet (issue #20): there the cut is compared where they get that far.
            let unsupported = |o: &std::process::Output| {
                String::from_utf8_lossy(&o.stderr).contains("unsupported")
            };
            let skip_c = server == "8.8" && rc == 0 && rc_c != 0 && unsupported(&oc);
            let skip_d = server == "8.8" && rc == 0 && rc_d != 0 && unsupported(&od);
            let (rc_c, rc_d) = (
                if skip_c { rc } else { rc_c },
                if skip_d { rc } else { rc_d },
            );
            assert_eq!(
                (rc_c, rc_d),
                (rc, rc),
                "{what}: exit codes (restore {rc}) {v}\n{}{}",
                String::from_utf8_lossy(&oc.stderr),
                String::from_utf8_lossy(&od.stderr)
            );
            if rc != 0 {
                continue;
            }
            let vc = if !skip_c {
                json_of(&oc, &what)
            } else {
                v.clone()
            };
            let vd = if !skip_d {
                json_of(&od, &what)
            } else {
                v.clone()
            };
            for key in ["cut", "reason", "commands_kept", "last_timestamp"] {
                assert_eq!(vc[key], v[key], "{what}: compact's {key}");
                assert_eq!(vd[key], v[key], "{what}: digest's {key}");
            }
            agreed += 1;
            // Real restores (local and from the store) for the recorded seconds, every
            // before: target and `latest`, and a few other seconds.
            let second = target.parse::<i64>().ok();
            let want = second.and_then(|s| recorded.get(&s)).cloned();
            if !(want.is_some() || second.is_none() || sampled < 3) {
                continue;
            }
            sampled += 1;
            let local = t.path().join("local");
            let remote = t.path().join("remote");
            let _ = std::fs::remove_dir_all(&local);
            let _ = std::fs::remove_dir_all(&remote);
            let (rc, v) = restore_json(dir, target, Some(&local));
            assert_eq!(rc, 0, "{what}: {v}");
            let o = redsafe(&[
                "restore",
                &url,
                "--at",
                target,
                "-o",
                remote.to_str().unwrap(),
                "--json",
            ]);
            assert!(
                o.status.success(),
                "{what} from {url}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(
                aof_files(&remote),
                aof_files(&local),
                "{what}: restore from the store differs"
            );
            if oracle {
                let d = digest_of_aof_dir(&local).unwrap();
                assert_eq!(
                    vd["digest"].as_str(),
                    Some(d.as_str()),
                    "{what}: digest --at vs redis-server"
                );
                assert_eq!(
                    common::digest_of_rdb(&rdb).unwrap(),
                    d,
                    "{what}: compact --at loaded by redis-server"
                );
                if let Some(w) = want {
                    assert_eq!(d, w, "{what}: the fixture's recorded digest");
                }
                loaded += 1;
            }
        }
    }
    assert!(
        agreed > 100 && loaded > 20,
        "agreed on {agreed} targets, loaded {loaded}"
    );
}
