//! Decode correctness of the RDB reader, proved against the fixture oracles: for every
//! server in `shared/fixtures/servers/`, every key of `dump.rdb` must equal the key as the
//! server itself returned it (`dump.expected.jsonl`), on every field the oracle has.
//!
//! Two independent paths are checked: the library (`RdbReader` + `ValueHandle::materialize`,
//! converted to the oracle's JSON shape here in the test) and the CLI
//! (`redsafe dump --format jsonl`, parsed back).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use redsafe::rdb::model::{ArrayElem, Value as RValue};
use redsafe::rdb::{RdbReader, Record};
use serde_json::{json, Value};

type Keyed = BTreeMap<(u64, String), Value>;

fn bytes_json(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => json!({ "hex": b.iter().map(|c| format!("{c:02x}")).collect::<String>() }),
    }
}

fn score_json(f: f64) -> Value {
    if f == f64::INFINITY {
        json!("inf")
    } else if f == f64::NEG_INFINITY {
        json!("-inf")
    } else {
        json!(f)
    }
}

fn load_expected(dir: &Path) -> Keyed {
    let text = std::fs::read_to_string(dir.join("dump.expected.jsonl")).unwrap();
    let mut m = Keyed::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let k = (v["db"].as_u64().unwrap(), v["key"].to_string());
        assert!(m.insert(k, v).is_none(), "duplicate key in the oracle");
    }
    m
}

fn parse_jsonl(text: &str) -> Keyed {
    let mut m = Keyed::new();
    for line in text.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"));
        let k = (v["db"].as_u64().unwrap(), v["key"].to_string());
        assert!(m.insert(k.clone(), v).is_none(), "key {k:?} twice");
    }
    m
}

/// The library path: every entry materialised and rendered in the oracle's shape.
fn decode_with_library(path: &Path) -> Keyed {
    let data = std::fs::read(path).unwrap();
    let mut m = Keyed::new();
    for item in RdbReader::new(&data) {
        let item = item.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let Record::Entry(e) = item.record else {
            continue;
        };
        let v = e
            .value
            .materialize()
            .unwrap_or_else(|err| panic!("{}: key {:?}: {err}", path.display(), e.key));
        let mut o = json!({
            "db": e.db,
            "key": bytes_json(&e.key),
            "type": v.value_type().name(),
            "encoding": e.value.encoding_name(),
        });
        if let Some(t) = e.expire_ms {
            o["expire_ms"] = json!(t);
        }
        o["value"] = match &v {
            RValue::String(s) => bytes_json(s),
            RValue::List(l) | RValue::Set(l) => l.iter().map(|x| bytes_json(x)).collect(),
            RValue::Zset(z) => z
                .iter()
                .map(|(m, s)| json!([bytes_json(m), score_json(*s)]))
                .collect(),
            RValue::Hash(h) => {
                let ttls: serde_json::Map<String, Value> = h
                    .iter()
                    .filter_map(|f| {
                        f.expire_ms
                            .map(|t| (bytes_json(&f.field).to_string(), json!(t)))
                    })
                    .collect();
                if !ttls.is_empty() {
                    o["field_expire_ms"] = Value::Object(ttls);
                }
                h.iter()
                    .map(|f| json!([bytes_json(&f.field), bytes_json(&f.value)]))
                    .collect()
            }
            RValue::Stream(s) => {
                o["groups"] = s
                    .groups
                    .iter()
                    .map(|g| {
                        json!({
                            "name": bytes_json(&g.name),
                            "last-delivered-id": g.last_id.to_string(),
                            "pending": g.pending.len(),
                        })
                    })
                    .collect();
                s.entries
                    .iter()
                    .map(|en| {
                        let fv: Vec<Value> = en
                            .fields
                            .iter()
                            .flat_map(|(f, v)| [bytes_json(f), bytes_json(v)])
                            .collect();
                        json!([en.id.to_string(), fv])
                    })
                    .collect()
            }
            RValue::Array { items, .. } => items
                .iter()
                .map(|(i, x)| {
                    let v = match x {
                        ArrayElem::Bytes(b) => bytes_json(b),
                        ArrayElem::Int(n) => json!(n.to_string()),
                        ArrayElem::Float(f) => json!(f.to_string()),
                    };
                    json!([i, v])
                })
                .collect(),
            RValue::Module(mv) => json!({ "module": mv.name }),
        };
        let k = (e.db, o["key"].to_string());
        assert!(m.insert(k, o).is_none());
    }
    m
}

fn as_score(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("not a score: {other}")),
    }
}

/// Canonical form of a value for comparison: sets and hashes as sorted sets of elements,
/// zsets as (score, member) sorted (rank order), everything else as is.
fn canonical(ty: &str, v: &Value) -> Value {
    let arr = || {
        v.as_array()
            .unwrap_or_else(|| panic!("{ty} value is not an array: {v}"))
            .clone()
    };
    match ty {
        "set" | "hash" => {
            let mut a = arr();
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        "zset" => {
            let mut a = arr();
            a.sort_by(|x, y| {
                as_score(&x[1])
                    .partial_cmp(&as_score(&y[1]))
                    .unwrap()
                    .then_with(|| x[0].to_string().cmp(&y[0].to_string()))
            });
            Value::Array(
                a.into_iter()
                    .map(|p| json!([p[0], as_score(&p[1])]))
                    .collect(),
            )
        }
        _ => v.clone(),
    }
}

/// Compares `got` against the oracle on every field the oracle has; returns the
/// differences found.
fn compare(server: &str, what: &str, expected: &Keyed, got: &Keyed) -> Vec<String> {
    let mut diffs = Vec::new();
    for k in expected.keys().filter(|k| !got.contains_key(*k)) {
        diffs.push(format!("{server} ({what}): key {k:?} missing"));
    }
    for k in got.keys().filter(|k| !expected.contains_key(*k)) {
        diffs.push(format!("{server} ({what}): unexpected key {k:?}"));
    }
    for (k, e) in expected {
        let Some(g) = got.get(k) else { continue };
        let ty = e["type"].as_str().unwrap();
        for (field, ev) in e.as_object().unwrap() {
            let gv = &g[field.as_str()];
            let ok = match field.as_str() {
                "value" => {
                    let same = canonical(ty, ev) == canonical(ty, gv);
                    // Compact zset encodings are stored in rank order: require it exactly.
                    let enc = g["encoding"].as_str().unwrap_or("");
                    let order_ok = !(ty == "zset"
                        && (enc.ends_with("listpack") || enc.ends_with("ziplist")))
                        || ev
                            .as_array()
                            .map(|a| a.iter().map(|p| p[0].clone()).collect::<Vec<_>>())
                            == gv
                                .as_array()
                                .map(|a| a.iter().map(|p| p[0].clone()).collect::<Vec<_>>());
                    same && order_ok
                }
                // Servers before 7.0 cannot report the absolute expiry: "ttl" = has one.
                "expire_ms" if ev == "ttl" => gv.is_i64() || gv.is_u64(),
                "groups" => {
                    let (Some(ea), Some(ga)) = (ev.as_array(), gv.as_array()) else {
                        diffs.push(format!("{server} ({what}): {k:?}: groups missing"));
                        continue;
                    };
                    ea.len() == ga.len()
                        && ea.iter().zip(ga).all(|(eg, gg)| {
                            eg.as_object()
                                .unwrap()
                                .iter()
                                .all(|(f, x)| &gg[f.as_str()] == x)
                        })
                }
                _ => ev == gv,
            };
            if !ok {
                let s = |v: &Value| v.to_string().chars().take(300).collect::<String>();
                diffs.push(format!(
                    "{server} ({what}): key {k:?} field {field}: expected {} got {}",
                    s(ev),
                    s(gv)
                ));
            }
        }
        for field in ["expire_ms", "field_expire_ms"] {
            if !g[field].is_null() && e[field].is_null() {
                diffs.push(format!(
                    "{server} ({what}): key {k:?} has {field} the server did not report"
                ));
            }
        }
    }
    diffs
}

#[test]
fn library_decode_matches_every_server_oracle() {
    let dirs = common::server_fixture_dirs();
    if dirs.is_empty() {
        return;
    }
    let mut diffs = Vec::new();
    let mut keys = 0;
    for dir in &dirs {
        let server = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected = load_expected(dir);
        let got = decode_with_library(&dir.join("dump.rdb"));
        keys += got.len();
        diffs.extend(compare(&server, "library", &expected, &got));
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert!(keys > 1500, "only {keys} keys compared");
}

#[test]
fn dump_jsonl_matches_every_server_oracle() {
    let dirs = common::server_fixture_dirs();
    if dirs.is_empty() {
        return;
    }
    let mut diffs = Vec::new();
    for dir in &dirs {
        let server = dir.file_name().unwrap().to_string_lossy().into_owned();
        let out = Command::new(common::redsafe_bin())
            .args(["dump", "--format", "jsonl"])
            .arg(dir.join("dump.rdb"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{server}: dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = parse_jsonl(std::str::from_utf8(&out.stdout).expect("dump output is UTF-8"));
        let expected = load_expected(dir);
        assert_eq!(got.len(), expected.len(), "{server}: key count");
        diffs.extend(compare(&server, "dump jsonl", &expected, &got));
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn dump_json_document_holds_the_same_keys() {
    let dirs = common::server_fixture_dirs();
    let Some(dir) = dirs.iter().find(|d| d.ends_with("redis-7.0.15")) else {
        return;
    };
    let out = Command::new(common::redsafe_bin())
        .args(["dump", "--format", "json"])
        .arg(dir.join("dump.rdb"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["version"], json!(10));
    assert!(doc["aux"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p[0] == "redis-ver" && p[1] == "7.0.15"));
    let mut got = Keyed::new();
    for v in doc["keys"].as_array().unwrap() {
        got.insert((v["db"].as_u64().unwrap(), v["key"].to_string()), v.clone());
    }
    let expected = load_expected(dir);
    let diffs = compare("redis-7.0.15", "dump json", &expected, &got);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
