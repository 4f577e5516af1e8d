//! `redsafe timeline` on the shared fixtures: the FLUSHALL of each workload is found at the
//! second recorded in its `meta.json` (`flushall_seconds`), flagged in that second's bucket
//! and in no other; and on generated AOFs (checked by `redis-check-aof`): a stamp going back
//! into a closed second, big key deletes past the bounded size table.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn timeline(path: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "timeline".to_string(),
        path.display().to_string(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = Command::new(common::redsafe_bin())
        .args(&args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn flushall_is_found_at_its_second() {
    let mut checked = 0;
    for d in common::server_fixture_dirs() {
        let m: Value =
            serde_json::from_slice(&std::fs::read(d.join("meta.json")).unwrap()).unwrap();
        if m["aof"]["timestamps"].as_bool() != Some(true) {
            continue;
        }
        let want: Vec<i64> = m["aof"]["flushall_seconds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let v = timeline(&d, &["--command", "FLUSHALL"]);
        let got: Vec<i64> = v["occurrences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["time"].as_i64().unwrap())
            .collect();
        assert_eq!(got, want, "{}", d.display());
        // The per-second view flags those seconds, and only those.
        let v = timeline(&d, &[]);
        let flagged: Vec<i64> = v["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| {
                b["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["flag"] == "flushall")
            })
            .map(|b| b["start"].as_i64().unwrap())
            .collect();
        assert_eq!(flagged, want, "{}", d.display());
        // Every second of the recorded timeline has activity.
        let seconds: Vec<i64> = v["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["start"].as_i64().unwrap())
            .collect();
        for t in m["aof"]["timeline"].as_array().unwrap() {
            assert!(seconds.contains(&t["second"].as_i64().unwrap()));
        }
        checked += 1;
    }
    if common::shared_dir().is_some() {
        assert!(checked >= 5, "only {checked} fixtures with timestamps");
    }
}

#[test]
fn multi_incr_flushall_is_in_the_last_file() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    for server in ["redis-7.0.15", "redis-8.8-unstable"] {
        let d = shared.join("fixtures/multi-incr").join(server);
        let v = timeline(&d, &["--command", "flushall"]);
        let occ = v["occurrences"].as_array().unwrap();
        assert_eq!(occ.len(), 1, "{v}");
        assert_eq!(occ[0]["file"], "appendonly.aof.4.incr.aof");
        // Its time is the last second of the workload or earlier, after the third INCR.
        let m: Value =
            serde_json::from_slice(&std::fs::read(d.join("meta.json")).unwrap()).unwrap();
        let last = m["timeline"].as_array().unwrap().last().unwrap()["second"]
            .as_i64()
            .unwrap();
        let t = occ[0]["time"].as_i64().unwrap();
        assert!(t <= last && t > last - 5, "{t} vs {last}");
    }
}

/// Where `redis-check-aof --truncate-to-timestamp S` leaves a copy of `file`: its new size, 0
/// when it has nothing before S, the whole size when it cuts nothing.
fn checker_cut(file: &Path, second: i64) -> u64 {
    let t = common::TempDir::new("timeline-check");
    let copy = t.path().join("x.aof");
    std::fs::write(&copy, std::fs::read(file).unwrap()).unwrap();
    let o = Command::new("redis-check-aof")
        .args(["--truncate-to-timestamp", &second.to_string()])
        .arg(&copy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    if text.contains("has nothing before timestamp") {
        return 0;
    }
    assert!(o.status.success(), "{text}");
    std::fs::metadata(&copy).unwrap().len()
}

#[test]
fn per_second_bytes_match_redis_check_aof_cuts() {
    if !common::have_redis() {
        return;
    }
    let mut checked = 0;
    for d in common::server_fixture_dirs() {
        let dir = d.join("appendonlydir");
        if !dir.is_dir() {
            continue;
        }
        let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap();
        let incrs: Vec<&str> = manifest
            .lines()
            .filter(|l| l.contains(" type i"))
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        if incrs.len() != 1 {
            continue;
        }
        let incr = dir.join(incrs[0]);
        // The RDB BASE holds no stamped records: every bucket is INCR bytes.
        let v = timeline(&d, &[]);
        for b in v["buckets"].as_array().unwrap() {
            let s = b["start"].as_i64().unwrap();
            let want = checker_cut(&incr, s) - checker_cut(&incr, s - 1);
            assert_eq!(
                b["record_bytes"].as_u64().unwrap(),
                want,
                "{} second {s}",
                d.display()
            );
            checked += 1;
        }
    }
    if common::shared_dir().is_some() {
        assert!(checked >= 20, "{checked}");
    }
}

/// Writes `records` (RESP commands and `#TS:` lines) as one AOF file, checked well-formed by
/// `redis-check-aof`.
fn generated_aof(t: &common::TempDir, records: &[Vec<u8>]) -> std::path::PathBuf {
    let path = t.path().join("appendonly.aof");
    std::fs::write(&path, records.concat()).unwrap();
    if common::have_redis() {
        let o = Command::new("redis-check-aof").arg(&path).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    path
}

fn cmd(args: &[&[u8]]) -> Vec<u8> {
    common::Client::encode(args)
}

fn ts(t: i64) -> Vec<u8> {
    format!("#TS:{t}\r\n").into_bytes()
}

fn bucket_at(v: &Value, start: i64) -> &Value {
    v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["start"].as_i64() == Some(start))
        .unwrap_or_else(|| panic!("no bucket {start}: {v}"))
}

/// A stamp going back into a second the stream has left counts on into it: its commands and
/// bytes add up both visits, it is marked revisited and its distinct-key count is a lower
/// bound (the larger visit's); the others are exact.
#[test]
fn backward_stamp_reopens_its_bucket() {
    let t = common::TempDir::new("timeline-back");
    let first = [cmd(&[b"SET", b"a", b"1"]), cmd(&[b"SET", b"b", b"1"])];
    let again = [
        cmd(&[b"SET", b"a", b"2"]),
        cmd(&[b"SET", b"d", b"1"]),
        cmd(&[b"INCR", b"a"]),
    ];
    let mut records = vec![ts(1000)];
    records.extend(first.iter().cloned());
    records.push(ts(1001));
    records.push(cmd(&[b"SET", b"c", b"1"]));
    records.push(ts(1000));
    records.extend(again.iter().cloned());
    records.push(ts(1002));
    records.push(cmd(&[b"SET", b"e", b"1"]));
    let path = generated_aof(&t, &records);
    let v = timeline(&path, &[]);
    assert_eq!(v["backward_stamps"], 1);
    let b = bucket_at(&v, 1000);
    assert_eq!(b["commands"], 5);
    let bytes: usize = first.iter().chain(&again).map(Vec::len).sum();
    assert_eq!(b["bytes"].as_u64(), Some(bytes as u64));
    assert_eq!(
        b["record_bytes"].as_u64(),
        Some((bytes + 2 * ts(1000).len()) as u64)
    );
    assert_eq!(b["revisited"], true);
    // {a, b} then {a, d}: 3 distinct keys, counted 2 (at least).
    assert_eq!(b["keys_touched"], 2);
    for s in [1001, 1002] {
        let b = bucket_at(&v, s);
        assert_eq!(b["revisited"], false, "{s}");
        assert_eq!(b["keys_touched"], 1, "{s}");
    }
    let o = Command::new(common::redsafe_bin())
        .arg("timeline")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("commands=5 bytes=") && text.contains("keys>=2"),
        "{text}"
    );
    assert!(text.contains("keys=1"), "{text}");
}

/// Past the bounded size table (more keys than it holds), a key grown to over 1 MiB by
/// APPENDs spread among 600k small keys is still flagged when deleted, with its estimate
/// (the bytes of its commands), and a big key moved by SWAPDB is flagged in its new db.
#[test]
fn big_key_deletes_past_the_size_table() {
    let t = common::TempDir::new("timeline-sizes");
    let chunk = vec![b'x'; 1000];
    let mut records = vec![ts(2000)];
    let mut big = 0usize;
    for i in 0..600_000u32 {
        records.push(cmd(&[b"SET", format!("s:{i}").as_bytes(), b"v"]));
        if i % 500 == 0 {
            let c = cmd(&[b"APPEND", b"grown", &chunk]);
            big += c.len();
            records.push(c);
        }
    }
    assert!(big > 1 << 20);
    let huge = vec![b'y'; 2 << 20];
    let set_huge = cmd(&[b"SET", b"huge", &huge]);
    let huge_len = set_huge.len();
    records.push(ts(2001));
    records.push(cmd(&[b"DEL", b"grown", b"s:1"]));
    records.push(set_huge);
    records.push(cmd(&[b"SWAPDB", b"0", b"1"]));
    records.push(cmd(&[b"SELECT", b"1"]));
    records.push(ts(2002));
    records.push(cmd(&[b"DEL", b"huge"]));
    let path = generated_aof(&t, &records);
    let v = timeline(&path, &[]);
    let flags = |s: i64| bucket_at(&v, s)["flags"].as_array().unwrap().clone();
    assert!(flags(2000).is_empty(), "{v}");
    let f = flags(2001);
    let big_deletes: Vec<_> = f.iter().filter(|f| f["flag"] == "big-key-delete").collect();
    assert_eq!(big_deletes.len(), 1, "{f:?}");
    assert_eq!(big_deletes[0]["key"], "grown");
    assert_eq!(big_deletes[0]["db"], 0);
    assert_eq!(big_deletes[0]["approx_bytes"].as_u64(), Some(big as u64));
    let f = flags(2002);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["flag"], "big-key-delete");
    assert_eq!(f[0]["key"], "huge");
    assert_eq!(f[0]["db"], 1);
    assert_eq!(f[0]["approx_bytes"].as_u64(), Some(huge_len as u64));
}
