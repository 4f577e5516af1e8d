//! `dump --format resp` for every server fixture, including those redis-server 7.0 cannot
//! load (7.2, 7.4 with hash field TTLs, 8.8 with arrays, Valkey): the commands are replayed
//! by a small interpreter of their documented semantics and the resulting keyspace must equal
//! the fixture oracle `dump.expected.jsonl` (values, expiries, field TTLs, stream groups).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::{json, Value};

/// Parses RESP arrays of bulk strings.
fn parse_resp(mut b: &[u8]) -> Vec<Vec<Vec<u8>>> {
    fn line<'a>(b: &mut &'a [u8]) -> &'a [u8] {
        let i = b.windows(2).position(|w| w == b"\r\n").expect("CRLF");
        let l = &b[..i];
        *b = &b[i + 2..];
        l
    }
    let mut cmds = Vec::new();
    while !b.is_empty() {
        let l = line(&mut b);
        assert_eq!(l[0], b'*', "array header");
        let n: usize = std::str::from_utf8(&l[1..]).unwrap().parse().unwrap();
        let mut args = Vec::with_capacity(n);
        for _ in 0..n {
            let l = line(&mut b);
            assert_eq!(l[0], b'$');
            let len: usize = std::str::from_utf8(&l[1..]).unwrap().parse().unwrap();
            args.push(b[..len].to_vec());
            assert_eq!(&b[len..len + 2], b"\r\n");
            b = &b[len + 2..];
        }
        cmds.push(args);
    }
    cmds
}

#[derive(Default, Debug)]
struct Key {
    ty: &'static str,
    list: Vec<Vec<u8>>,
    set: BTreeSet<Vec<u8>>,
    zset: BTreeMap<Vec<u8>, f64>,
    hash: BTreeMap<Vec<u8>, Vec<u8>>,
    field_ttl: BTreeMap<Vec<u8>, i64>,
    string: Vec<u8>,
    stream: Vec<(String, Vec<Vec<u8>>)>,
    groups: Vec<(Vec<u8>, String, BTreeSet<String>)>,
    array: BTreeMap<u64, Vec<u8>>,
    expire: Option<i64>,
}

fn s(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

fn bytes_json(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(t) => json!(t),
        Err(_) => json!({"hex": b.iter().map(|c| format!("{c:02x}")).collect::<String>()}),
    }
}

/// Replays the commands; returns (db, key JSON) → oracle-shaped object.
fn replay(cmds: &[Vec<Vec<u8>>]) -> BTreeMap<(u64, String), Value> {
    let mut db = 0u64;
    let mut ks: BTreeMap<(u64, Vec<u8>), Key> = BTreeMap::new();
    for c in cmds {
        let name = s(&c[0]).to_ascii_uppercase();
        if name == "SELECT" {
            db = s(&c[1]).parse().unwrap();
            continue;
        }
        if name == "FUNCTION" {
            continue;
        }
        if name == "XGROUP" {
            let sub = s(&c[1]).to_ascii_uppercase();
            let k = ks.entry((db, c[2].clone())).or_default();
            match sub.as_str() {
                "CREATE" => {
                    k.ty = "stream";
                    k.groups.push((c[3].clone(), s(&c[4]), BTreeSet::new()));
                }
                "DESTROY" => k.groups.retain(|g| g.0 != c[3]),
                "CREATECONSUMER" => {}
                other => panic!("XGROUP {other}"),
            }
            continue;
        }
        let key = (db, c[1].clone());
        let k = ks.entry(key.clone()).or_default();
        match name.as_str() {
            "SET" => {
                k.ty = "string";
                k.string = c[2].clone();
            }
            "APPEND" => k.string.extend_from_slice(&c[2]),
            "RPUSH" => {
                k.ty = "list";
                k.list.extend(c[2..].iter().cloned());
            }
            "SADD" => {
                k.ty = "set";
                k.set.extend(c[2..].iter().cloned());
            }
            "ZADD" => {
                k.ty = "zset";
                for p in c[2..].chunks(2) {
                    k.zset
                        .insert(p[1].clone(), s(&p[0]).parse::<f64>().unwrap());
                }
            }
            "HSET" => {
                k.ty = "hash";
                for p in c[2..].chunks(2) {
                    k.hash.insert(p[0].clone(), p[1].clone());
                }
            }
            "HPEXPIREAT" => {
                let ms: i64 = s(&c[2]).parse().unwrap();
                assert_eq!(s(&c[3]), "FIELDS");
                let n: usize = s(&c[4]).parse().unwrap();
                assert_eq!(n, c.len() - 5);
                for f in &c[5..] {
                    assert!(k.hash.contains_key(f), "TTL before the field exists");
                    k.field_ttl.insert(f.clone(), ms);
                }
            }
            "XADD" => {
                k.ty = "stream";
                k.stream.push((s(&c[2]), c[3..].to_vec()));
            }
            "XSETID" => {}
            "XCLAIM" => {
                let g = k
                    .groups
                    .iter_mut()
                    .find(|g| g.0 == c[2])
                    .expect("group exists");
                g.2.insert(s(&c[5]));
            }
            "ARMSET" => {
                k.ty = "array";
                for p in c[2..].chunks(2) {
                    k.array.insert(s(&p[0]).parse().unwrap(), p[1].clone());
                }
            }
            "ARSEEK" => {}
            "PEXPIREAT" => k.expire = Some(s(&c[2]).parse().unwrap()),
            "DEL" => {
                ks.remove(&key);
            }
            other => panic!("unexpected command {other}"),
        }
    }
    let mut out = BTreeMap::new();
    for ((db, key), k) in ks {
        let mut o = json!({"db": db, "key": bytes_json(&key), "type": k.ty});
        o["value"] = match k.ty {
            "string" => bytes_json(&k.string),
            "list" => k.list.iter().map(|x| bytes_json(x)).collect(),
            "set" => k.set.iter().map(|x| bytes_json(x)).collect(),
            "zset" => {
                let mut v: Vec<(&Vec<u8>, f64)> = k.zset.iter().map(|(m, sc)| (m, *sc)).collect();
                v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(b.0)));
                v.iter()
                    .map(|(m, sc)| {
                        let sc = if sc.is_infinite() {
                            json!(if *sc > 0.0 { "inf" } else { "-inf" })
                        } else {
                            json!(sc)
                        };
                        json!([bytes_json(m), sc])
                    })
                    .collect()
            }
            "hash" => k
                .hash
                .iter()
                .map(|(f, v)| json!([bytes_json(f), bytes_json(v)]))
                .collect(),
            "stream" => k
                .stream
                .iter()
                .map(|(id, fv)| json!([id, fv.iter().map(|x| bytes_json(x)).collect::<Vec<_>>()]))
                .collect(),
            "array" => k
                .array
                .iter()
                .map(|(i, v)| json!([i, bytes_json(v)]))
                .collect(),
            other => panic!("key without type {other:?}"),
        };
        if let Some(t) = k.expire {
            o["expire_ms"] = json!(t);
        }
        if !k.field_ttl.is_empty() {
            o["field_expire_ms"] = k
                .field_ttl
                .iter()
                .map(|(f, t)| (bytes_json(f).to_string(), json!(t)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        if k.ty == "stream" {
            o["groups"] = k
                .groups
                .iter()
                .map(|(n, id, pel)| json!({"name": bytes_json(n), "last-delivered-id": id, "pending": pel.len()}))
                .collect();
        }
        out.insert((db, o["key"].to_string()), o);
    }
    out
}

fn canonical(ty: &str, v: &Value) -> Value {
    match ty {
        "set" | "hash" => {
            let mut a = v.as_array().unwrap().clone();
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        _ => v.clone(),
    }
}

#[test]
fn resp_output_rebuilds_every_fixture_oracle() {
    let dirs = common::server_fixture_dirs();
    let mut checked = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        // --batch 3 splits collections into many commands; the result must not change.
        let out = Command::new(common::redsafe_bin())
            .args(["dump", "--format", "resp", "--batch", "3"])
            .arg(dir.join("dump.rdb"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = replay(&parse_resp(&out.stdout));
        let expected: BTreeMap<(u64, String), Value> =
            std::fs::read_to_string(dir.join("dump.expected.jsonl"))
                .unwrap()
                .lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    ((v["db"].as_u64().unwrap(), v["key"].to_string()), v)
                })
                .collect();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{name}: key sets"
        );
        for (k, e) in &expected {
            let g = &got[k];
            let ty = e["type"].as_str().unwrap();
            assert_eq!(g["type"], e["type"], "{name} {k:?}");
            let (ev, gv) = (canonical(ty, &e["value"]), canonical(ty, &g["value"]));
            assert_eq!(gv, ev, "{name} {k:?} value");
            match &e["expire_ms"] {
                Value::Null => assert!(g["expire_ms"].is_null(), "{name} {k:?}"),
                Value::String(t) if t == "ttl" => assert!(g["expire_ms"].is_i64(), "{name} {k:?}"),
                t => assert_eq!(&g["expire_ms"], t, "{name} {k:?}"),
            }
            assert_eq!(
                g["field_expire_ms"], e["field_expire_ms"],
                "{name} {k:?} field TTLs"
            );
            if !e["groups"].is_null() {
                assert_eq!(g["groups"], e["groups"], "{name} {k:?} groups");
            }
            checked += 1;
        }
    }
    if !dirs.is_empty() {
        assert!(checked > 1900, "{checked}");
    }
}
