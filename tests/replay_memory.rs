//! The replay engine's memory with huge strings, against redis-server 7.0.15: AOFs the server
//! wrote of `SETBIT k 4294967295 1` (a 512 MiB string per key in Redis) and other strings
//! grown far past their end replay to the server's `DEBUG DIGEST`, `compact` writes an RDB
//! the server loads to the same digest, neither command's memory grows with the zero bytes,
//! and `--max-value-size` stops the replay with exit 2, naming the key, file and offset, and
//! writing nothing; 900 k small strings replay within the server's own `used_memory` + 16 MiB.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Runs redsafe with `args`, polling its RssAnon; returns the output and the peak in KiB.
fn run_measured(args: &[&str]) -> (Output, u64) {
    let child = Command::new(common::redsafe_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let poll = std::thread::spawn(move || {
        let mut peak = 0u64;
        while let Ok(s) = std::fs::read_to_string(&status) {
            let anon = s
                .lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            match anon {
                Some(kb) => peak = peak.max(kb),
                // A zombie has no RssAnon line: the command has finished.
                None => break,
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    });
    let out = child.wait_with_output().unwrap();
    (out, poll.join().unwrap())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A live server with an AOF (`appendfsync always`) fed `cmds`; returns it and its digest.
fn server_with(dir: &Path, cmds: &[Vec<Vec<u8>>]) -> (common::RedisServer, String) {
    let s = common::RedisServer::start(dir, &["--appendonly", "yes", "--appendfsync", "always"])
        .unwrap();
    let replies = s.client().pipeline(cmds).unwrap();
    for (c, r) in cmds.iter().zip(&replies) {
        assert!(
            !matches!(r, common::Reply::Error(_)),
            "{:?}: {r:?}",
            String::from_utf8_lossy(&c[0])
        );
    }
    let d = s.digest();
    (s, d)
}

/// A server's AOF directory, in a temporary directory named after `name`, fed `cmds` by a
/// live server that is stopped again; returns the temporary directory, the AOF directory and
/// the server's digest.
fn server_aof(name: &str, cmds: &[Vec<Vec<u8>>]) -> (common::TempDir, std::path::PathBuf, String) {
    let t = common::TempDir::new(name);
    let data = t.path().join("server");
    std::fs::create_dir_all(&data).unwrap();
    let (server, want) = server_with(&data, cmds);
    drop(server);
    let aof = data.join("appendonlydir");
    (t, aof, want)
}

/// `digest` of `aof` prints `want` and `compact` of it writes `DIR/out.rdb`, which
/// redis-server loads to `want`; returns both commands' peak RssAnon in KiB.
fn digest_and_compact(t: &common::TempDir, aof: &Path, want: &str) -> (u64, u64) {
    let (o, digest_peak) = run_measured(&["digest", aof.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), want);
    let out = t.path().join("out.rdb");
    let (o, compact_peak) = run_measured(&[
        "compact",
        aof.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(common::digest_of_rdb(&out).unwrap(), want);
    (digest_peak, compact_peak)
}

fn cmd(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.to_vec()).collect()
}

fn setbit_cmds() -> Vec<Vec<Vec<u8>>> {
    (0..4)
        .map(|k| cmd(&[b"SETBIT", format!("k{k}").as_bytes(), b"4294967295", b"1"]))
        .collect()
}

/// The sha256 of every file under `dir`, by name.
fn tree_sums(dir: &Path) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(tree_sums(&p));
        } else {
            let sum = Sha256::digest(std::fs::read(&p).unwrap());
            let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
            v.push((p.display().to_string(), hex));
        }
    }
    v.sort();
    v
}

/// `SETBIT kN 4294967295 1` ×4: Redis allocates 512 MiB per key (its `used_memory` is
/// ~2.5 GiB); `digest` prints the server's `DEBUG DIGEST` and `compact` writes an RDB the
/// server loads to it, each with a peak RssAnon far below one such string.
#[test]
fn four_setbit_at_the_last_bit_replay_exactly_in_little_memory() {
    if !common::have_redis() {
        return;
    }
    let (t, aof, want) = server_aof("replay-mem-setbit", &setbit_cmds());
    let (digest_peak, compact_peak) = digest_and_compact(&t, &aof, &want);
    assert!(
        digest_peak < 128 << 10,
        "digest peak RssAnon {digest_peak} KiB"
    );
    assert!(
        compact_peak < 128 << 10,
        "compact peak RssAnon {compact_peak} KiB"
    );
}

/// 900 k `SET s:N <16 bytes>` (the small keys of benches/memory.sh's workload): `digest` of
/// the server's AOF prints its `DEBUG DIGEST` with a peak RssAnon within the server's own
/// `used_memory` + 16 MiB (a key's table slot and its value's allocation, ~100 bytes, against
/// Redis's ~105; a key's name kept in its own allocation, ~140 bytes, does not fit).
#[test]
fn small_keys_replay_within_the_servers_used_memory() {
    if !common::have_redis() {
        return;
    }
    let t = common::TempDir::new("replay-mem-small");
    let data = t.path().join("server");
    std::fs::create_dir_all(&data).unwrap();
    let s = common::RedisServer::start(&data, &["--appendonly", "yes", "--appendfsync", "always"])
        .unwrap();
    let mut c = s.client();
    for chunk in 0..90 {
        let cmds: Vec<Vec<Vec<u8>>> = (chunk * 10_000..(chunk + 1) * 10_000)
            .map(|i| {
                let (k, v) = (format!("s:{i}"), format!("v{i:015}"));
                cmd(&[b"SET", k.as_bytes(), v.as_bytes()])
            })
            .collect();
        let replies = c.pipeline(&cmds).unwrap();
        assert!(replies
            .iter()
            .all(|r| matches!(r, common::Reply::Status(_))));
    }
    let used_kib = match c.cmd(&[b"INFO", b"memory"]).unwrap() {
        common::Reply::Bulk(Some(b)) => {
            String::from_utf8_lossy(&b)
                .lines()
                .find_map(|l| l.strip_prefix("used_memory:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .expect("used_memory in INFO memory")
                >> 10
        }
        other => panic!("INFO memory: {other:?}"),
    };
    let want = s.digest();
    drop(s);
    let aof = data.join("appendonlydir");
    let (o, peak) = run_measured(&["digest", aof.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), want);
    assert!(
        peak <= used_kib + (16 << 10),
        "digest peak RssAnon {peak} KiB, the server's used_memory {used_kib} KiB"
    );
}

/// Strings grown far past their end in other ways (SETRANGE, BITFIELD, SETBIT on a short
/// string, APPEND) and a long incompressible string replay to the server's digest, and
/// `compact`'s RDB loads to it.
#[test]
fn strings_grown_far_past_their_end_replay_exactly() {
    if !common::have_redis() {
        return;
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..3 << 20)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let cmds = vec![
        cmd(&[b"SETRANGE", b"sr", b"100000000", b"tail"]),
        cmd(&[b"SET", b"short", b"abc"]),
        cmd(&[b"SETBIT", b"short", b"800000000", b"1"]),
        cmd(&[b"BITFIELD", b"bf", b"SET", b"u8", b"700000000", b"255"]),
        cmd(&[b"BITFIELD", b"bf", b"INCRBY", b"i16", b"16", b"-3"]),
        cmd(&[b"SETRANGE", b"sr", b"5", b"head"]),
        cmd(&[b"SET", b"rnd", &random]),
        cmd(&[b"APPEND", b"rnd", b"!"]),
        cmd(&[b"APPEND", b"bf", &random[..1 << 20]]),
    ];
    let (t, aof, want) = server_aof("replay-mem-grown", &cmds);
    let (peak, _) = digest_and_compact(&t, &aof, &want);
    // ~200 MiB of strings in Redis, most of it zero bytes.
    assert!(peak < 64 << 10, "digest peak RssAnon {peak} KiB");
}

/// Above `--max-value-size`, `digest` and `compact` exit 2 naming the command, key, file and
/// byte offset; `compact` writes nothing and the AOF is unchanged. The library error is a
/// typed limit with the key and offset, and does not name the flag.
#[test]
fn max_value_size_stops_the_replay_naming_key_file_and_offset() {
    if !common::have_redis() {
        return;
    }
    let (t, aof, _) = server_aof("replay-mem-limit", &setbit_cmds());
    let incr = std::fs::read_dir(&aof)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .unwrap();
    let incr_name = incr.file_name().unwrap().to_string_lossy().to_string();
    let bytes = std::fs::read(&incr).unwrap();
    let offset = bytes
        .windows(16)
        .position(|w| w == b"*4\r\n$6\r\nSETBIT\r\n")
        .unwrap();
    let before = tree_sums(t.path());

    let (o, _) = run_measured(&["digest", aof.to_str().unwrap(), "--max-value-size", "1M"]);
    let msg = text(&o);
    assert_eq!(o.status.code(), Some(2), "{msg}");
    assert!(o.stdout.is_empty(), "{msg}");
    for want in [
        incr_name.as_str(),
        &format!("offset {offset} "),
        "key \"k0\"",
        "SETBIT",
        "536870912 bytes",
        "--max-value-size",
    ] {
        assert!(msg.contains(want), "{want:?} not in {msg}");
    }

    let out = t.path().join("out.rdb");
    let (o, _) = run_measured(&[
        "compact",
        aof.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--max-value-size",
        "1M",
    ]);
    let msg = text(&o);
    assert_eq!(o.status.code(), Some(2), "{msg}");
    assert!(
        msg.contains(&format!("offset {offset} ")) && msg.contains("key \"k0\""),
        "{msg}"
    );
    assert_eq!(
        tree_sums(t.path()),
        before,
        "compact wrote or changed a file"
    );

    // The default (512 MiB, Redis's proto-max-bulk-len) lets the 512 MiB strings through.
    let set = redsafe::aof::AofSet::open(&aof).unwrap();
    let opts = redsafe::keyspace::ReplayOptions {
        limits: redsafe::keyspace::Limits {
            max_string: (512 << 20) - 1,
        },
        ..Default::default()
    };
    let e = redsafe::keyspace::replay_set(&set, &opts, &mut |_, _| {}).unwrap_err();
    assert!(matches!(e.kind(), redsafe::ErrorKind::Limit(_)), "{e}");
    assert!(!e.is_damage());
    assert_eq!(e.key(), Some(&b"k0"[..]));
    assert_eq!(e.offset(), Some(offset as u64));
    assert!(!e.to_string().contains("--"), "{e}");
    let ok = redsafe::keyspace::replay_set(&set, &Default::default(), &mut |_, _| {}).unwrap();
    assert_eq!(ok.keyspace.len(), 4);
}

/// A 64 MiB list (65,536 elements of 1000 bytes) and a 16 MiB set: `compact` writes them
/// straight from the keyspace, so its peak RssAnon stays within 16 MiB of `digest`'s (a copy
/// of the list's elements before encoding would add 64 MiB), and its RDB loads into
/// redis-server with the server's `DEBUG DIGEST`.
#[test]
fn compact_writes_big_collections_without_a_copy() {
    if !common::have_redis() {
        return;
    }
    let mut cmds = Vec::new();
    for chunk in 0..656u32 {
        let mut c: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), b"big:list".to_vec()];
        let mut s: Vec<Vec<u8>> = vec![b"SADD".to_vec(), b"big:set".to_vec()];
        for i in 0..100u32 {
            let n = chunk * 100 + i;
            c.push(format!("{n:01000}").into_bytes());
            if n < 16_384 {
                s.push(format!("{n:01000}").into_bytes());
            }
        }
        cmds.push(c);
        if s.len() > 2 {
            cmds.push(s);
        }
    }
    let (t, aof, want) = server_aof("replay-mem-biglist", &cmds);
    let (digest_peak, peak) = digest_and_compact(&t, &aof, &want);
    assert!(
        peak <= digest_peak + (16 << 10),
        "compact peak RssAnon {peak} KiB, digest's {digest_peak} KiB"
    );
}
