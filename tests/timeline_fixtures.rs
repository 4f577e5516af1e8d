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
