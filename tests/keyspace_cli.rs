//! `redsafe digest` against real servers: the digest it prints for an RDB file equals what
//! redis-server 7.0.15 reports with `DEBUG DIGEST` after loading that file, and for a live
//! server's AOF directory equals that server's `DEBUG DIGEST`; `--at` reproduces the fixture
//! timelines (the digests Redis recorded at the end of each second).

mod common;

use std::process::Command;

fn digest_cli(args: &[&str]) -> (String, i32) {
    let o = Command::new(common::redsafe_bin())
        .arg("digest")
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
        o.status.code().unwrap_or(-1),
    )
}

#[test]
fn rdb_digest_equals_redis_after_loading_it() {
    if !common::have_redis() {
        return;
    }
    let mut checked = 0;
    // Files redis-server 7.0.15 loads (RDB 10 and older).
    for d in common::server_fixture_dirs() {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        if ![
            "redis-2",
            "redis-3",
            "redis-4",
            "redis-5",
            "redis-6",
            "redis-7.0",
        ]
        .iter()
        .any(|p| name.starts_with(p))
        {
            continue;
        }
        let rdb = d.join("dump.rdb");
        let want = common::digest_of_rdb(&rdb).unwrap();
        let (got, code) = digest_cli(&[rdb.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}");
        assert_eq!(got, want, "{name}");
        checked += 1;
    }
    if common::shared_dir().is_some() {
        assert!(checked >= 6);
    }
}

#[test]
fn aof_digest_equals_the_live_server() {
    if !common::have_redis() {
        return;
    }
    let t = common::TempDir::new("ks-cli");
    let s = common::RedisServer::start(
        t.path(),
        &["--appendonly", "yes", "--appendfsync", "always"],
    )
    .unwrap();
    let mut c = s.client();
    let cmds: Vec<Vec<Vec<u8>>> = (0..300)
        .map(|i| {
            let k = format!("k{}", i % 17).into_bytes();
            let v = format!("{i}").into_bytes();
            match i % 6 {
                0 => vec![b"SET".to_vec(), k, v, b"EX".to_vec(), b"100000".to_vec()],
                1 => vec![b"RPUSH".to_vec(), format!("l{}", i % 5).into_bytes(), v],
                2 => vec![b"ZINCRBY".to_vec(), b"z".to_vec(), b"0.1".to_vec(), v],
                3 => vec![b"HINCRBYFLOAT".to_vec(), b"h".to_vec(), k, b"1.5".to_vec()],
                4 => vec![
                    b"XADD".to_vec(),
                    b"x".to_vec(),
                    b"*".to_vec(),
                    b"f".to_vec(),
                    v,
                ],
                _ => vec![b"SPOP".to_vec(), b"s".to_vec()],
            }
        })
        .collect();
    c.cmd(&[b"SADD", b"s", b"a", b"b", b"c", b"d", b"e"])
        .unwrap();
    c.pipeline(&cmds).unwrap();
    let want = s.digest();
    let (got, code) = digest_cli(&[t.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(got, want);
    // JSON names the same digest and counts the keys.
    let o = Command::new(common::redsafe_bin())
        .args(["digest", "--json"])
        .arg(t.path())
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["digest"], want.as_str());
    assert_eq!(j["source"], "aof");
    assert_eq!(j["refused"], 0);
}

#[test]
fn at_reproduces_the_recorded_timeline() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let d = shared.join("fixtures/servers/redis-7.0.15");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("meta.json")).unwrap()).unwrap();
    for t in m["aof"]["timeline"].as_array().unwrap() {
        let sec = t["second"].as_i64().unwrap().to_string();
        let (got, code) = digest_cli(&[d.to_str().unwrap(), "--at", &sec]);
        assert_eq!(code, 0);
        assert_eq!(got, t["digest"].as_str().unwrap(), "second {sec}");
    }
    // --at on an RDB file is a usage error.
    let (_, code) = digest_cli(&[d.join("dump.rdb").to_str().unwrap(), "--at", "1"]);
    assert_eq!(code, 2);
}

fn compact_cli(args: &[&str]) -> (String, i32) {
    let o = Command::new(common::redsafe_bin())
        .arg("compact")
        .args(args)
        .output()
        .unwrap();
    (
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        o.status.code().unwrap_or(-1),
    )
}

/// `redsafe compact` turns an AOF set into one RDB that redis-server 7.0.15 loads to the
/// digest the AOF had: the fixture set at its end and at a recorded second (`--at`), and a
/// live server's own AOF directory.
#[test]
fn compact_writes_an_rdb_redis_loads_to_the_same_digest() {
    if !common::have_redis() {
        return;
    }
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let t = common::TempDir::new("ks-compact");
    let d = shared.join("fixtures/servers/redis-7.0.15");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("meta.json")).unwrap()).unwrap();
    let out = t.path().join("all.rdb");
    let (msg, code) = compact_cli(&[d.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{msg}");
    assert_eq!(
        common::digest_of_rdb(&out).unwrap(),
        m["aof"]["final_digest"].as_str().unwrap()
    );
    // An existing output is refused without --force, replaced with it.
    let (msg, code) = compact_cli(&[d.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{msg}");
    assert!(msg.contains("already exists"), "{msg}");
    let second = &m["aof"]["timeline"][1];
    let sec = second["second"].as_i64().unwrap().to_string();
    let (msg, code) = compact_cli(&[
        d.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--at",
        &sec,
        "--force",
    ]);
    assert_eq!(code, 0, "{msg}");
    assert_eq!(
        common::digest_of_rdb(&out).unwrap(),
        second["digest"].as_str().unwrap()
    );

    // A live server's AOF.
    let live = common::TempDir::new("ks-compact-live");
    let s = common::RedisServer::start(
        live.path(),
        &["--appendonly", "yes", "--appendfsync", "always"],
    )
    .unwrap();
    let mut c = s.client();
    let cmds: Vec<Vec<Vec<u8>>> = (0..200)
        .map(|i| {
            let v = format!("{i}").into_bytes();
            match i % 5 {
                0 => vec![b"HSET".to_vec(), b"h".to_vec(), v.clone(), v],
                1 => vec![b"ZADD".to_vec(), b"z".to_vec(), v.clone(), v],
                2 => vec![b"LPUSH".to_vec(), b"l".to_vec(), v],
                3 => vec![
                    b"XADD".to_vec(),
                    b"x".to_vec(),
                    b"*".to_vec(),
                    b"f".to_vec(),
                    v,
                ],
                _ => vec![b"INCRBY".to_vec(), b"n".to_vec(), v],
            }
        })
        .collect();
    c.pipeline(&cmds).unwrap();
    c.cmd(&[b"XGROUP", b"CREATE", b"x", b"g", b"0"]).unwrap();
    c.cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c",
        b"COUNT",
        b"3",
        b"STREAMS",
        b"x",
        b">",
    ])
    .unwrap();
    let want = s.digest();
    let out2 = t.path().join("live.rdb");
    let (msg, code) = compact_cli(&[live.path().to_str().unwrap(), "-o", out2.to_str().unwrap()]);
    assert_eq!(code, 0, "{msg}");
    assert_eq!(common::digest_of_rdb(&out2).unwrap(), want);
    // The consumer group survives (not part of the digest): a server loading the RDB reports
    // the same group, pending entries and owners as one loading the AOF itself. (Not as the
    // live server: Redis does not propagate a group's entries-read counter to the AOF.)
    drop(s);
    let s = common::RedisServer::start(live.path(), &["--appendonly", "yes"]).unwrap();
    assert_eq!(s.digest(), want);
    let o = Command::new("redis-check-rdb").arg(&out2).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let loaded_dir = common::TempDir::new("ks-compact-load");
    std::fs::copy(&out2, loaded_dir.path().join("dump.rdb")).unwrap();
    let l = common::RedisServer::start(loaded_dir.path(), &["--dbfilename", "dump.rdb"]).unwrap();
    let q: [&[&[u8]]; 2] = [
        &[b"XPENDING", b"x", b"g", b"-", b"+", b"10"],
        &[b"XINFO", b"GROUPS", b"x"],
    ];
    for cmd in q {
        let a = s.client().cmd(cmd).unwrap();
        let b = l.client().cmd(cmd).unwrap();
        // Idle times differ (they count from the delivery time): compare id, owner, count.
        let pel = |r: &common::Reply| -> Vec<String> {
            match r {
                common::Reply::Array(Some(v)) => v
                    .iter()
                    .map(|e| match e {
                        common::Reply::Array(Some(f)) if f.len() == 4 => {
                            format!("{:?} {:?} {:?}", f[0], f[1], f[3])
                        }
                        other => format!("{other:?}"),
                    })
                    .collect(),
                other => vec![format!("{other:?}")],
            }
        };
        assert_eq!(pel(&a), pel(&b));
        assert!(!pel(&a).is_empty());
    }
}

/// A truncated AOF: `compact` writes nothing and `digest` exits 1; both name the file and the
/// offset where it stops, and the input is left as it was.
#[test]
fn damaged_aof_is_named_with_its_offset_and_left_alone() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let src = std::fs::read(shared.join("fixtures/servers/redis-2.8.24/appendonly.aof")).unwrap();
    let tmp = common::TempDir::new("ks-damaged");
    let aof = tmp.path().join("appendonly.aof");
    std::fs::write(&aof, &src[..3000]).unwrap();
    let out = tmp.path().join("out.rdb");
    for args in [
        vec![
            "compact",
            aof.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        vec!["digest", aof.to_str().unwrap()],
    ] {
        let o = Command::new(common::redsafe_bin())
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("offset 3000"), "{args:?}: {err}");
        assert!(err.contains(aof.to_str().unwrap()), "{args:?}: {err}");
    }
    assert!(!out.exists());
    assert_eq!(std::fs::read(&aof).unwrap(), &src[..3000]);
}

/// A string record of [`rdb_of`]: key, value, expiry (unix ms).
type StrRecord<'a> = (&'a str, &'a str, Option<i64>);

/// An RDB 9 file holding string records `(key, value, expire_ms)` in db 0, in this order
/// (a key may repeat), with checksum 0 ("not computed", which Redis accepts).
fn rdb_of(records: &[StrRecord]) -> Vec<u8> {
    let mut b = b"REDIS0009".to_vec();
    b.extend([0xfe, 0x00]);
    for (k, v, exp) in records {
        if let Some(ms) = exp {
            b.push(0xfc);
            b.extend(ms.to_le_bytes());
        }
        b.push(0x00);
        b.push(k.len() as u8);
        b.extend(k.as_bytes());
        b.push(v.len() as u8);
        b.extend(v.as_bytes());
    }
    b.push(0xff);
    b.extend([0u8; 8]);
    b
}

#[test]
fn rdb_digest_of_a_repeated_key_keeps_the_last_record_loaded() {
    if !common::have_redis() {
        return;
    }
    let t = common::TempDir::new("digest-repeat");
    // (records with a repeated key, the same dataset without repeats: Redis's oracle)
    let cases: [(&[StrRecord], &[StrRecord]); 3] = [
        (
            &[("a", "1", None), ("b", "2", None), ("a", "3", None)],
            &[("b", "2", None), ("a", "3", None)],
        ),
        // An expired record is dropped on load: it does not replace the earlier one.
        (
            &[("a", "1", None), ("b", "2", None), ("a", "3", Some(1000))],
            &[("a", "1", None), ("b", "2", None)],
        ),
        (
            &[("a", "1", Some(1000)), ("b", "2", None), ("a", "3", None)],
            &[("b", "2", None), ("a", "3", None)],
        ),
    ];
    for (i, (with_repeat, without)) in cases.iter().enumerate() {
        let rep = t.path().join(format!("repeat-{i}.rdb"));
        let plain = t.path().join(format!("plain-{i}.rdb"));
        std::fs::write(&rep, rdb_of(with_repeat)).unwrap();
        std::fs::write(&plain, rdb_of(without)).unwrap();
        let want = common::digest_of_rdb(&plain).unwrap();
        let (got, code) = digest_cli(&[rep.to_str().unwrap()]);
        assert_eq!((got.as_str(), code), (want.as_str(), 0), "case {i}");
        let (j, code) = digest_cli(&[rep.to_str().unwrap(), "--json"]);
        assert_eq!(code, 0);
        let j: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(j["keys"], 2, "case {i}: {j}");
        assert_eq!(j["databases"]["0"], 2, "case {i}: {j}");
    }
}
