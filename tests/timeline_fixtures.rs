//! `redsafe timeline` on the shared fixtures: the FLUSHALL of each workload is found at the
//! second recorded in its `meta.json` (`flushall_seconds`), flagged in that second's bucket
//! and in no other.

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
