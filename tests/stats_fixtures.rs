//! `redsafe stats` against the oracles: key counts per db and type, expiries and element
//! counts from `dump.expected.jsonl` (what the server returned), serialized sizes from
//! `DUMP` on a server that loaded the file, memory estimates against `MEMORY USAGE`,
//! functions from `FUNCTION LIST`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{RedisServer, Reply, TempDir};
use serde_json::Value;

fn stats(file: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(common::redsafe_bin())
        .arg("stats")
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn stats_json(file: &Path, args: &[&str]) -> Value {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    serde_json::from_slice(&stats(file, &a)).unwrap()
}

/// The oracle's element count of a key: STRLEN for strings (hex = bytes), else the length
/// of the value array.
fn oracle_elements(v: &Value) -> u64 {
    match v["type"].as_str().unwrap() {
        "string" => match &v["value"] {
            Value::String(s) => s.len() as u64,
            o => o["hex"].as_str().unwrap().len() as u64 / 2,
        },
        _ => v["value"].as_array().unwrap().len() as u64,
    }
}

fn load_expected(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("dump.expected.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn totals_and_element_counts_equal_the_fixture_oracles() {
    let dirs = common::server_fixture_dirs();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected = load_expected(dir);
        let rdb = dir.join("dump.rdb");
        // Counts from headers (the default) and from decoding (--exact) must both match.
        for mode in [&[][..], &["--exact"][..]] {
            let mut args = vec!["--top", "100000"];
            args.extend_from_slice(mode);
            let st = stats_json(&rdb, &args);
            assert_eq!(
                st["totals"]["keys"].as_u64().unwrap(),
                expected.len() as u64,
                "{name}"
            );
            let expires = expected
                .iter()
                .filter(|v| !v["expire_ms"].is_null())
                .count() as u64;
            assert_eq!(st["totals"]["expires"].as_u64().unwrap(), expires, "{name}");
            assert_eq!(
                st["expiry"]["later"].as_u64().unwrap(),
                expires,
                "{name}: expiries lie years ahead"
            );
            // Keys per db and type.
            let mut want: BTreeMap<(u64, String), u64> = BTreeMap::new();
            for v in &expected {
                *want
                    .entry((
                        v["db"].as_u64().unwrap(),
                        v["type"].as_str().unwrap().to_string(),
                    ))
                    .or_default() += 1;
            }
            let mut got: BTreeMap<(u64, String), u64> = BTreeMap::new();
            for (db, d) in st["dbs"].as_object().unwrap() {
                for (ty, t) in d["by_type"].as_object().unwrap() {
                    got.insert(
                        (db.parse().unwrap(), ty.clone()),
                        t["keys"].as_u64().unwrap(),
                    );
                }
            }
            assert_eq!(got, want, "{name} {mode:?}");
            // Every key is in the top list (--top 100000): its element count is the oracle's.
            let by_key: BTreeMap<(u64, String), u64> = expected
                .iter()
                .map(|v| {
                    (
                        (v["db"].as_u64().unwrap(), v["key"].to_string()),
                        oracle_elements(v),
                    )
                })
                .collect();
            let top = st["top_by_elements"].as_array().unwrap();
            assert_eq!(top.len(), expected.len(), "{name}");
            let mut total = 0;
            for k in top {
                let id = (k["db"].as_u64().unwrap(), k["key"].to_string());
                assert_eq!(
                    Some(&k["elements"].as_u64().unwrap()),
                    by_key.get(&id),
                    "{name} {mode:?} {id:?}"
                );
                total += k["elements"].as_u64().unwrap();
            }
            assert_eq!(st["totals"]["elements"].as_u64().unwrap(), total);
            // Sorted by element count, descending.
            assert!(top
                .windows(2)
                .all(|w| w[0]["elements"].as_u64() >= w[1]["elements"].as_u64()));
        }
    }
}

#[test]
fn per_key_csv_matches_the_oracle() {
    let dirs = common::server_fixture_dirs();
    let Some(dir) = dirs.iter().find(|d| d.ends_with("redis-7.4.1")) else {
        return;
    };
    let expected = load_expected(dir);
    let csv = String::from_utf8(stats(
        &dir.join("dump.rdb"),
        &["--format", "csv", "--per-key"],
    ))
    .unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry,rdb_size_in_bytes"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), expected.len());
    for v in &expected {
        let key = v["key"].as_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r[0].parse::<u64>().ok() == v["db"].as_u64() && r[2] == key)
            .unwrap_or_else(|| panic!("no row for {key}"));
        assert_eq!(row[1], v["type"].as_str().unwrap());
        assert_eq!(row[5].parse::<u64>().unwrap(), oracle_elements(v), "{key}");
        assert_eq!(row[7].is_empty(), v["expire_ms"].is_null(), "{key}");
        if let Some(ms) = v["expire_ms"].as_i64() {
            // ISO 8601 of the oracle's expiry, checked with the oracle's own numbers.
            let secs = ms / 1000;
            assert!(
                row[7].ends_with(&format!("{:02}.{:03}Z", secs % 60, ms % 1000)),
                "{key}: {}",
                row[7]
            );
        }
    }
}

fn bulk_len(r: Reply) -> u64 {
    match r {
        Reply::Bulk(Some(b)) => b.len() as u64,
        other => panic!("{other:?}"),
    }
}

fn int(r: Reply) -> u64 {
    match r {
        Reply::Int(i) => i as u64,
        other => panic!("{other:?}"),
    }
}

/// Serialized sizes are what `DUMP` returns minus type byte and footer; the memory estimate
/// is within reach of `MEMORY USAGE`.
#[test]
fn sizes_match_dump_and_memory_estimate_is_close() {
    if !common::have_redis() {
        return;
    }
    let dirs = common::server_fixture_dirs();
    let Some(dir) = dirs.iter().find(|d| d.ends_with("redis-7.0.15")) else {
        return;
    };
    let t = TempDir::new("stats-size");
    std::fs::copy(dir.join("dump.rdb"), t.path().join("dump.rdb")).unwrap();
    let s = RedisServer::start(t.path(), &[]).unwrap();
    let mut c = s.client();
    let st = stats_json(&t.path().join("dump.rdb"), &["--top", "100000"]);
    let mut sum_bytes = 0;
    let (mut est, mut usage) = (0u64, 0u64);
    for k in st["top_by_size"].as_array().unwrap() {
        c.cmd(&[b"SELECT", k["db"].to_string().as_bytes()]).unwrap();
        let key = k["key"].as_str().unwrap().as_bytes();
        let dump = bulk_len(c.cmd(&[b"DUMP", key]).unwrap());
        assert_eq!(k["value_bytes"].as_u64().unwrap(), dump - 11, "{key:?}");
        sum_bytes += dump - 11;
        est += k["memory_estimate"].as_u64().unwrap();
        usage += int(c
            .cmd(&[b"MEMORY", b"USAGE", key, b"SAMPLES", b"0"])
            .unwrap());
    }
    assert_eq!(st["totals"]["value_bytes"].as_u64().unwrap(), sum_bytes);
    let ratio = est as f64 / usage as f64;
    assert!(
        (0.85..1.5).contains(&ratio),
        "estimate {est} vs MEMORY USAGE {usage}"
    );
}

#[test]
fn prefixes_functions_and_filters() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("stats-gen");
    {
        let s = RedisServer::start(t.path(), &[]).unwrap();
        let mut c = s.client();
        let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
        for i in 0..30 {
            cmds.push(vec![
                b"SET".to_vec(),
                format!("user:{i}:name").into_bytes(),
                b"x".to_vec(),
            ]);
        }
        for i in 0..20 {
            cmds.push(vec![
                b"RPUSH".to_vec(),
                format!("queue:{i}").into_bytes(),
                b"a".to_vec(),
                b"b".to_vec(),
            ]);
        }
        for i in 0..5 {
            cmds.push(vec![
                b"SET".to_vec(),
                format!("plain{i}").into_bytes(),
                b"y".to_vec(),
            ]);
        }
        cmds.push(vec![
            b"FUNCTION".to_vec(),
            b"LOAD".to_vec(),
            b"#!lua name=mylib\nredis.register_function('f1', function() return 1 end)".to_vec(),
        ]);
        cmds.push(vec![b"SAVE".to_vec()]);
        for r in c.pipeline(&cmds).unwrap() {
            assert!(!matches!(r, Reply::Error(_)), "{r:?}");
        }
    }
    let rdb = t.path().join("dump.rdb");
    let st = stats_json(&rdb, &["--by-prefix", ":"]);
    let items = st["prefixes"]["items"].as_array().unwrap();
    let count = |p: &str| {
        items
            .iter()
            .find(|i| i["prefix"] == p)
            .map(|i| i["keys"].as_u64().unwrap())
    };
    assert_eq!(count("user"), Some(30));
    assert_eq!(count("queue"), Some(20));
    assert_eq!(count("plain3"), Some(1));
    assert_eq!(items.len(), 7);
    assert_eq!(st["functions"][0]["library"], "mylib");
    assert_eq!(st["functions"][0]["engine"], "lua");
    // Bounded: two prefixes kept, the rest summed as other; totals still add up.
    let st = stats_json(&rdb, &["--by-prefix", ":", "--max-prefixes", "2"]);
    let p = &st["prefixes"];
    let kept: u64 = p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["keys"].as_u64().unwrap())
        .sum();
    assert_eq!(p["items"].as_array().unwrap().len(), 2);
    assert_eq!(kept + p["other"]["keys"].as_u64().unwrap(), 55);
    assert_eq!(p["overflow_keys"], p["other"]["keys"]);
    // Key selection applies.
    let st = stats_json(&rdb, &["--key", "user:*"]);
    assert_eq!(st["totals"]["keys"], 30);
    assert_eq!(st["filtered_out"], 25);
    let st = stats_json(
        &rdb,
        &[
            "--by-prefix",
            ":",
            "--prefix-depth",
            "2",
            "--type",
            "string",
        ],
    );
    assert_eq!(st["prefixes"]["items"].as_array().unwrap().len(), 35);
    // The text and CSV summaries render.
    let text = String::from_utf8(stats(&rdb, &[])).unwrap();
    assert!(
        text.contains("mylib (lua,") && text.contains("55 keys"),
        "{text}"
    );
    let csv = String::from_utf8(stats(&rdb, &["--format", "csv"])).unwrap();
    assert!(
        csv.lines()
            .any(|l| l.starts_with("0,list,quicklist-v2,20,")),
        "{csv}"
    );
}
