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
