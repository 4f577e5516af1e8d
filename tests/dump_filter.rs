//! The key filters of `redsafe dump` against a real redis-server: `--key` must select exactly
//! the keys `KEYS pattern` returns (Redis glob semantics, byte for byte), `--type` what
//! `SCAN … TYPE` returns, `--db` one database, `--min-size` the keys whose `DUMP` payload
//! is big enough, `--not-expired` what a server loading the file keeps.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use common::{RedisServer, Reply, TempDir};

type Keys = BTreeSet<(u64, Vec<u8>)>;

fn key_bytes(v: &serde_json::Value) -> Vec<u8> {
    match v {
        serde_json::Value::String(s) => s.as_bytes().to_vec(),
        o => {
            let h = o["hex"].as_str().unwrap();
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect()
        }
    }
}

fn dump_keys(rdb: &Path, args: &[&[u8]]) -> Keys {
    let out = Command::new(common::redsafe_bin())
        .arg("dump")
        .arg(rdb)
        .args(args.iter().map(|a| OsStr::from_bytes(a)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["db"].as_u64().unwrap(), key_bytes(&v["key"]))
        })
        .collect()
}

fn server_keys(s: &RedisServer, db: u64, cmd: &[&[u8]]) -> Keys {
    let mut c = s.client();
    c.cmd(&[b"SELECT", db.to_string().as_bytes()]).unwrap();
    let r = c.cmd(cmd).unwrap();
    let items = match r {
        Reply::Array(Some(v)) => match cmd[0] {
            b"SCAN" => match &v[1] {
                Reply::Array(Some(x)) => x.clone(),
                o => panic!("{o:?}"),
            },
            _ => v,
        },
        o => panic!("{o:?}"),
    };
    items
        .into_iter()
        .map(|k| match k {
            Reply::Bulk(Some(b)) => (db, b),
            o => panic!("{o:?}"),
        })
        .collect()
}

const KEYS: &[&[u8]] = &[
    b"user:1",
    b"user:42",
    b"user:420",
    b"User:7",
    b"a*b",
    b"a\\b",
    b"[x]",
    b"x",
    b"",
    b"h[e]llo",
    b"hello",
    b"hallo",
    b"hxllo",
    b"hllo",
    b"\xff\x80abc",
    "é".as_bytes(),
    b"-",
    b"^",
    b"]",
    b"a-b",
    b"foo.bar",
    b"aaa",
    b"ab",
    b"abc",
    b"\\",
    b"*",
    b"?",
    b"x\x00y",
    b"caf\xc3\xa9",
    b"zzz[",
];

const PATTERNS: &[&[u8]] = &[
    b"*",
    b"**",
    b"user:*",
    b"user:4?",
    b"user:4*",
    b"[uU]ser:*",
    b"[^u]*",
    b"h[ae]llo",
    b"h[^e]llo",
    b"h[a-b]llo",
    b"h[b-a]llo",
    b"a\\*b",
    b"*\\\\*",
    b"[",
    b"[^",
    b"[a",
    b"\\",
    b"*[",
    b"?",
    b"",
    b"*.*",
    b"[\x80-\xff]*",
    b"*]*",
    b"[]]",
    b"[\\]]",
    b"*-*",
    b"[a-]",
    b"[!-/]*",
    b"a*",
    b"*b",
    b"a?c",
    b"h*llo",
    b"h?llo",
    b"?????",
    b"*\\?",
    b"[\\^]",
    b"x*y",
    b"*[",
    b"zzz\\[",
    b"a**b",
    b"*a*a*",
    b"[x]",
    b"\\[x\\]",
    b"caf?",
    b"caf??",
    b"[^\x01-\x7f]*",
];

#[test]
fn key_globs_select_exactly_what_keys_returns() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("glob");
    let s = RedisServer::start(t.path(), &[]).unwrap();
    let mut c = s.client();
    let cmds: Vec<Vec<Vec<u8>>> = KEYS
        .iter()
        .map(|k| vec![b"SET".to_vec(), k.to_vec(), b"v".to_vec()])
        .chain([vec![b"SAVE".to_vec()]])
        .collect();
    for r in c.pipeline(&cmds).unwrap() {
        assert!(!matches!(r, Reply::Error(_)), "{r:?}");
    }
    let rdb = t.path().join("dump.rdb");
    let mut nonempty = 0;
    for p in PATTERNS {
        let expected = server_keys(&s, 0, &[b"KEYS", p]);
        let got = dump_keys(&rdb, &[b"--key", p]);
        assert_eq!(got, expected, "pattern {:?}", String::from_utf8_lossy(p));
        nonempty += usize::from(!expected.is_empty());
        // --exclude-key is the complement.
        let all = dump_keys(&rdb, &[]);
        let excluded = dump_keys(&rdb, &[b"--exclude-key", p]);
        let complement: Keys = all.difference(&expected).cloned().collect();
        assert_eq!(
            excluded,
            complement,
            "exclude {:?}",
            String::from_utf8_lossy(p)
        );
    }
    assert!(nonempty > 25, "{nonempty}");
}

#[test]
fn db_type_size_and_expiry_filters_match_the_server() {
    if !common::have_redis() {
        return;
    }
    let dirs = common::server_fixture_dirs();
    let Some(dir) = dirs.iter().find(|d| d.ends_with("redis-7.0.15")) else {
        return;
    };
    let t = TempDir::new("filters");
    std::fs::copy(dir.join("dump.rdb"), t.path().join("dump.rdb")).unwrap();
    let s = RedisServer::start(t.path(), &[]).unwrap();
    let rdb = t.path().join("dump.rdb");
    for db in [0u64, 1, 3] {
        let expected = server_keys(&s, db, &[b"KEYS", b"*"]);
        assert!(!expected.is_empty());
        assert_eq!(
            dump_keys(&rdb, &[b"--db", db.to_string().as_bytes()]),
            expected,
            "db {db}"
        );
        for ty in ["string", "list", "set", "zset", "hash", "stream"] {
            let expected = server_keys(
                &s,
                db,
                &[b"SCAN", b"0", b"COUNT", b"100000", b"TYPE", ty.as_bytes()],
            );
            let got = dump_keys(
                &rdb,
                &[b"--db", db.to_string().as_bytes(), b"--type", ty.as_bytes()],
            );
            assert_eq!(got, expected, "db {db} type {ty}");
        }
    }
    // --min-size: the serialized value size is the DUMP payload minus type byte and footer.
    let mut c = s.client();
    let mut sizes = Vec::new();
    for db in [0u64, 1, 3] {
        c.cmd(&[b"SELECT", db.to_string().as_bytes()]).unwrap();
        for (_, k) in server_keys(&s, db, &[b"KEYS", b"*"]) {
            match c.cmd(&[b"DUMP", &k]).unwrap() {
                Reply::Bulk(Some(p)) => sizes.push((db, k, p.len() as u64 - 11)),
                o => panic!("{o:?}"),
            }
        }
    }
    for min in [1u64, 100, 1000, 5000] {
        let expected: Keys = sizes
            .iter()
            .filter(|x| x.2 >= min)
            .map(|x| (x.0, x.1.clone()))
            .collect();
        assert_eq!(
            dump_keys(&rdb, &[b"--min-size", min.to_string().as_bytes()]),
            expected,
            "min {min}"
        );
    }
}

#[test]
fn expiry_filters_split_the_file_as_a_loading_server_does() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("expfilter");
    {
        let s = RedisServer::start(t.path(), &[]).unwrap();
        let mut c = s.client();
        let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
        for i in 0..20 {
            let k = format!("k{i}").into_bytes();
            cmds.push(vec![b"SET".to_vec(), k.clone(), b"v".to_vec()]);
            if i % 3 == 0 {
                cmds.push(vec![b"PEXPIRE".to_vec(), k.clone(), b"300".to_vec()]);
            } else if i % 3 == 1 {
                cmds.push(vec![b"EXPIRE".to_vec(), k, b"100000".to_vec()]);
            }
        }
        cmds.push(vec![b"SAVE".to_vec()]);
        for r in c.pipeline(&cmds).unwrap() {
            assert!(!matches!(r, Reply::Error(_)), "{r:?}");
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let rdb = t.path().join("dump.rdb");
    let copy = TempDir::new("expfilter-load");
    std::fs::copy(&rdb, copy.path().join("dump.rdb")).unwrap();
    let s = RedisServer::start(copy.path(), &[]).unwrap();
    let kept = server_keys(&s, 0, &[b"KEYS", b"*"]);
    assert_eq!(kept.len(), 13);
    let all = dump_keys(&rdb, &[]);
    assert_eq!(all.len(), 20);
    assert_eq!(dump_keys(&rdb, &[b"--not-expired"]), kept);
    let expired: Keys = all.difference(&kept).cloned().collect();
    assert_eq!(dump_keys(&rdb, &[b"--expired"]), expired);
}
