//! End-to-end tests of `redsafe ship`, `backups` and `restore` against a live redis-server
//! 7.0.15 and real S3 servers on loopback (s3s-fs; moto as a second implementation). The
//! oracle is always redis-server: `DEBUG DIGEST` of the live server at each second versus the
//! digest of the restored directory loaded into a fresh redis-server.

#![cfg(feature = "s3")]

mod common;
mod s3server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redsafe::backup::s3::S3Store;
use redsafe::backup::S3Options;

use common::{digest_of_aof_dir, have_redis, redsafe_bin, Client, RedisServer, Reply, TempDir};
use s3server::{S3Server, ACCESS_KEY, SECRET_KEY};

const REDIS_AOF: &[&str] = &[
    "--appendonly",
    "yes",
    "--aof-timestamp-enabled",
    "yes",
    "--appendfsync",
    "always",
];

fn now_f() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Sleeps until `t` (unix seconds, fractional).
fn sleep_until(t: f64) {
    let d = t - now_f();
    if d > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(d));
    }
}

fn make_bucket(srv: &S3Server, bucket: &str) {
    let opts = S3Options {
        endpoint_url: Some(srv.endpoint()),
        region: Some("us-east-1".into()),
        path_style: true,
        checksum_when_required: true,
        credentials: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
        ..S3Options::default()
    };
    S3Store::new(bucket, "", &opts)
        .unwrap()
        .create_bucket()
        .unwrap();
}

fn cmd(srv: &S3Server, args: &[&str]) -> Command {
    let mut c = Command::new(redsafe_bin());
    c.args(args).args(["--endpoint-url", &srv.endpoint()]);
    for (k, v) in srv.env() {
        c.env(k, v);
    }
    c.stdin(Stdio::null());
    c
}

fn run(srv: &S3Server, args: &[&str]) -> Output {
    let out = cmd(srv, args).output().unwrap();
    eprintln!(
        "$ redsafe {} -> {:?}\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A `redsafe ship` daemon, stopped with SIGTERM.
struct Shipd {
    child: Child,
    log: PathBuf,
}

impl Shipd {
    fn start(srv: &S3Server, log: &Path, args: &[&str]) -> Shipd {
        let f = std::fs::File::create(log).unwrap();
        let child = cmd(srv, args)
            .stderr(f)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Shipd {
            child,
            log: log.to_path_buf(),
        }
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "ship did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Shipd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_cmds(prefix: &str, from: usize, n: usize, size: usize) -> Vec<Vec<Vec<u8>>> {
    (from..from + n)
        .map(|i| {
            vec![
                b"SET".to_vec(),
                format!("{prefix}:{i}").into_bytes(),
                format!("{i:0size$}").into_bytes(),
            ]
        })
        .collect()
}

/// A mixed workload for second `i`: strings, counters, hashes, lists, deletes, a transaction.
fn workload(c: &mut Client, i: usize) {
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    for j in 0..150 {
        let k = i * 1000 + j;
        cmds.push(vec![
            b"SET".to_vec(),
            format!("s:{k}").into_bytes(),
            format!("v{k}-{}", "x".repeat(j % 50)).into_bytes(),
        ]);
        cmds.push(vec![
            b"INCRBY".to_vec(),
            format!("c:{}", j % 7).into_bytes(),
            format!("{}", i + 1).into_bytes(),
        ]);
        cmds.push(vec![
            b"HSET".to_vec(),
            format!("h:{}", j % 5).into_bytes(),
            format!("f{k}").into_bytes(),
            format!("{i}").into_bytes(),
        ]);
        cmds.push(vec![
            b"RPUSH".to_vec(),
            format!("l:{}", i % 3).into_bytes(),
            format!("{k}").into_bytes(),
        ]);
        if i > 0 && j % 10 == 0 {
            cmds.push(vec![
                b"DEL".to_vec(),
                format!("s:{}", (i - 1) * 1000 + j).into_bytes(),
            ]);
        }
    }
    cmds.push(vec![b"MULTI".to_vec()]);
    cmds.push(vec![
        b"SET".to_vec(),
        b"tx".to_vec(),
        format!("{i}").into_bytes(),
    ]);
    cmds.push(vec![b"INCR".to_vec(), b"txcount".to_vec()]);
    cmds.push(vec![b"EXEC".to_vec()]);
    for r in c.pipeline(&cmds).unwrap() {
        assert!(!matches!(r, Reply::Error(_)), "{r:?}");
    }
}

fn restore_digest(srv: &S3Server, url: &str, at: &str, scratch: &Path) -> String {
    let out = scratch.join(format!("restore-{}", at.replace([':', ' '], "_")));
    let o = run(
        srv,
        &[
            "restore",
            url,
            "--at",
            at,
            "-o",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "restore --at {at} failed");
    let d = digest_of_aof_dir(&out)
        .unwrap_or_else(|log| panic!("redis-server refused the restore at {at}: {log}"));
    std::fs::remove_dir_all(&out).unwrap();
    d
}

/// The main scenario: a live server under a workload (with a BGREWRITEAOF in the middle),
/// `ship` running as a daemon; restores at every second give the digest the live server had
/// then; after `kill -9` of redis, `restore --at latest` gives everything shipped.
fn pitr_scenario(srv: &S3Server, every: &str, one_set: bool) {
    let data = TempDir::new("e2e-redis");
    let scratch = TempDir::new("e2e-scratch");
    let redis = RedisServer::start(data.path(), REDIS_AOF).unwrap();
    let mut c = redis.client();
    c.pipeline(&set_cmds("init", 0, 500, 20)).unwrap();
    make_bucket(srv, "bkt");
    let url = format!("s3://bkt/e2e-{}", std::process::id());
    let mut ship = Shipd::start(
        srv,
        &scratch.path().join("ship.log"),
        &[
            "ship",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--to",
            &url,
            "--aof-every",
            "1s",
            "--every",
            every,
            "--log-format",
            "json",
            "--keep-last",
            "10",
        ],
    );

    let mut digests: BTreeMap<i64, String> = BTreeMap::new();
    let t0 = now_f().floor() as i64 + 1;
    sleep_until(t0 as f64 + 0.05);
    digests.insert(t0 - 1, redis.digest());
    for i in 0..8 {
        let s = t0 + i as i64;
        workload(&mut c, i);
        if i == 3 {
            assert_eq!(
                c.cmd(&[b"BGREWRITEAOF"]).unwrap(),
                Reply::Status("Background append only file rewriting started".into())
            );
        }
        sleep_until(s as f64 + 1.05);
        digests.insert(s, redis.digest());
    }
    // Let the shipper catch up, then crash redis.
    std::thread::sleep(Duration::from_millis(3500));
    let final_digest = redis.digest();
    assert_eq!(&final_digest, digests.values().last().unwrap());
    drop(c);
    drop(redis); // SIGKILL
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(ship.terminate(), Some(0), "ship log:\n{}", ship.log());
    let log = ship.log();
    eprintln!("ship log:\n{log}");
    assert!(log.contains("\"action\":\"set-uploaded\""));
    assert!(log.contains("\"action\":\"segment-uploaded\""));
    assert!(log.contains("\"action\":\"stop\""));
    assert!(
        !log.contains("\"action\":\"error\""),
        "errors in the ship log"
    );
    assert!(!log.contains("SECRET") && !log.contains(SECRET_KEY.repeat(2).as_str()));
    if one_set {
        // One set for the whole run: the chain followed the INCR rollover of the rewrite.
        assert_eq!(
            log.matches("\"action\":\"set-uploaded\"").count(),
            1,
            "{log}"
        );
        assert!(!log.contains("chain-broken"), "{log}");
        assert!(
            log.contains("\"incr_seq\":2"),
            "no segment of the INCR file opened by the rewrite: {log}"
        );
    }

    let o = run(srv, &["backups", "list", &url, "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(list["sets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["complete"] == true));

    for (s, want) in &digests {
        let got = restore_digest(srv, &url, &s.to_string(), scratch.path());
        assert_eq!(&got, want, "restore --at {s} (t0 = {t0})");
    }
    // RFC 3339 input selects the same second.
    let s = t0 + 2;
    let rfc = redsafe::time::format_rfc3339(s);
    assert_eq!(
        &restore_digest(srv, &url, &rfc, scratch.path()),
        &digests[&s]
    );
    // Latest after kill -9: everything up to the last shipped segment, which is everything.
    assert_eq!(
        restore_digest(srv, &url, "latest", scratch.path()),
        final_digest
    );
    // Before the first set's data: a clear error.
    let out = scratch.path().join("too-early");
    restore_refused(
        srv,
        &url,
        "2001-01-01T00:00:00Z",
        &out,
        "no backup set covers",
    );

    // verify: every set and its segments check out.
    let o = run(srv, &["backups", "verify", &url, "--json"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn pitr_end_to_end_s3s_fs() {
    if !have_redis() {
        return;
    }
    let Some(srv) = S3Server::s3s_fs() else {
        return;
    };
    // Full sets every 4 s: restores start from different sets, one of them across the rewrite.
    pitr_scenario(&srv, "4s", false);
}

#[test]
fn pitr_end_to_end_moto() {
    if !have_redis() {
        return;
    }
    let Some(srv) = S3Server::moto() else { return };
    pitr_scenario(&srv, "1h", true);
}

fn dbsize(c: &mut Client) -> i64 {
    match c.cmd(&[b"DBSIZE"]).unwrap() {
        Reply::Int(n) => n,
        r => panic!("{r:?}"),
    }
}

/// Redis rewriting its AOF over and over while full sets are taken: every set is consistent
/// (verify passes, each loads, and its counter matches its keys).
#[test]
fn rewrite_during_cycles_gives_no_torn_set() {
    if !have_redis() {
        return;
    }
    let Some(srv) = S3Server::s3s_fs() else {
        return;
    };
    let data = TempDir::new("rewrite-redis");
    let scratch = TempDir::new("rewrite-scratch");
    let redis = RedisServer::start(
        data.path(),
        &[REDIS_AOF, &["--aof-use-rdb-preamble", "yes"]].concat(),
    )
    .unwrap();
    make_bucket(&srv, "bkt");
    let url = "s3://bkt/rewrites";
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Writer: key:i then counter = i, so a consistent state has counter == DBSIZE - 1.
    let port = redis.port;
    let st = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut c = Client::connect(port).unwrap();
        let mut i = 0u64;
        while !st.load(std::sync::atomic::Ordering::SeqCst) {
            let mut cmds = Vec::new();
            // One command per key, so that no cut (a second boundary, the end of a shipped
            // range) can fall between a key and the counter that counts it.
            for _ in 0..100 {
                i += 1;
                cmds.push(vec![
                    b"MSET".to_vec(),
                    format!("key:{i}").into_bytes(),
                    vec![b'v'; 100],
                    b"counter".to_vec(),
                    i.to_string().into_bytes(),
                ]);
            }
            c.pipeline(&cmds).unwrap();
        }
    });
    let st = stop.clone();
    let rewriter = std::thread::spawn(move || {
        let mut c = Client::connect(port).unwrap();
        let mut n = 0;
        while !st.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(Reply::Status(_)) = c.cmd(&[b"BGREWRITEAOF"]) {
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        n
    });
    let mut sets = 0;
    for _ in 0..8 {
        let o = run(
            &srv,
            &[
                "ship",
                "--once",
                "--full",
                "--data-dir",
                data.path().to_str().unwrap(),
                "--to",
                url,
                "--log-format",
                "json",
            ],
        );
        assert_eq!(o.status.code(), Some(0));
        sets += 1;
        std::thread::sleep(Duration::from_millis(150));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
    let rewrites = rewriter.join().unwrap();
    assert!(rewrites >= 3, "only {rewrites} rewrites happened");
    let o = run(&srv, &["backups", "verify", url, "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sets"].as_array().unwrap().len(), sets);
    // Each set restores (at its own time) to a state Redis loads and that is consistent.
    let o = run(&srv, &["backups", "list", url, "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut times: Vec<i64> = list["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["time"].as_i64().unwrap())
        .collect();
    times.dedup();
    // Separate `--once` runs with rewrites in between: Redis deleted INCR files holding bytes
    // no run shipped, so every set but the last has a recorded chain break, and a restore at
    // a set's second (writes went on after the snapshot within it) is inside a gap: refused,
    // unless --allow-gap asks for the last consistent point, which is what is checked here.
    assert!(!list["gaps"].as_array().unwrap().is_empty(), "{list}");
    for t in times {
        let out = scratch.path().join(format!("r{t}"));
        let o = run(
            &srv,
            &[
                "restore",
                url,
                "--at",
                &t.to_string(),
                "-o",
                out.to_str().unwrap(),
                "--allow-gap",
            ],
        );
        assert_eq!(o.status.code(), Some(0));
        let r = RedisServer::start(&out, &["--appendonly", "yes", "--aof-load-truncated", "no"])
            .expect("restored set loads");
        let mut c = r.client();
        let n = dbsize(&mut c);
        let counter = match c.cmd(&[b"GET", b"counter"]).unwrap() {
            Reply::Bulk(Some(b)) => String::from_utf8(b).unwrap().parse::<i64>().unwrap(),
            Reply::Bulk(None) => 0,
            r => panic!("{r:?}"),
        };
        assert_eq!(
            counter,
            if n == 0 { 0 } else { n - 1 },
            "set at {t}: counter {counter} but {n} keys"
        );
    }
}

/// Fills redis with `mb` MiB of incompressible values and rewrites the AOF so the base is big.
fn big_dataset(redis: &RedisServer, mb: usize) {
    let mut c = redis.client();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for chunk in 0..mb {
        let mut cmds = Vec::new();
        for j in 0..256 {
            let mut v = Vec::with_capacity(4096);
            while v.len() < 4096 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.extend_from_slice(&x.to_le_bytes());
            }
            cmds.push(vec![
                b"SET".to_vec(),
                format!("big:{chunk}:{j}").into_bytes(),
                v,
            ]);
        }
        c.pipeline(&cmds).unwrap();
    }
    c.cmd(&[b"BGREWRITEAOF"]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let Reply::Bulk(Some(info)) = c.cmd(&[b"INFO", b"persistence"]).unwrap() else {
            panic!()
        };
        let s = String::from_utf8_lossy(&info).to_string();
        if s.contains("aof_rewrite_in_progress:0") && s.contains("aof_rewrite_scheduled:0") {
            break;
        }
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The S3 server dies mid-upload: no complete set becomes visible, the next cycle recovers,
/// and prune removes the leftovers.
#[test]
fn s3_server_killed_mid_upload() {
    if !have_redis() {
        return;
    }
    let Some(mut srv) = S3Server::s3s_fs() else {
        return;
    };
    let data = TempDir::new("kill-redis");
    let scratch = TempDir::new("kill-scratch");
    let redis = RedisServer::start(data.path(), REDIS_AOF).unwrap();
    big_dataset(&redis, 48);
    make_bucket(&srv, "bkt");
    let url = "s3://bkt/killed";
    let log = scratch.path().join("ship.log");
    let mut c = cmd(
        &srv,
        &[
            "ship",
            "--once",
            "--full",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--to",
            url,
            "--log-format",
            "json",
        ],
    );
    c.env("REDSAFE_S3_CONCURRENCY", "1")
        .env("REDSAFE_S3_PART_SIZE", (5 << 20).to_string());
    let mut child = c
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Kill the server once the first (small) file is up and the base upload is under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("file-uploaded")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // At once: the 48 MB base takes a few hundred ms to go up (5 MiB parts, one at a time);
    // waiting longer here lets a fast ship finish before the kill.
    srv.kill();
    let st = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    eprintln!("{text}");
    assert_eq!(st.code(), Some(2), "ship must fail when the server dies");
    assert!(text.contains("\"action\":\"error\""));
    assert!(!text.contains("set-uploaded"));
    srv.restart();
    // Nothing complete is visible; restore refuses.
    let o = run(&srv, &["backups", "list", url, "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        list["sets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["complete"] == false),
        "{list}"
    );
    let out = scratch.path().join("r");
    let o = run(
        &srv,
        &[
            "restore",
            url,
            "--at",
            "latest",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
    // The next cycle recovers.
    let o = run(
        &srv,
        &[
            "ship",
            "--once",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--to",
            url,
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        restore_digest(&srv, url, "latest", scratch.path()),
        redis.digest()
    );
    // Prune removes the interrupted set's leftovers (a newer complete set exists).
    let o = run(&srv, &["backups", "prune", url, "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let o = run(&srv, &["backups", "list", url, "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sets = list["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 1, "{list}");
    assert_eq!(sets[0]["complete"], true);
}

/// An object corrupted in the bucket: verify and restore fail and name it.
#[test]
fn corrupted_object_is_named_by_verify_and_restore() {
    if !have_redis() {
        return;
    }
    let Some(srv) = S3Server::s3s_fs() else {
        return;
    };
    let data = TempDir::new("corrupt-redis");
    let scratch = TempDir::new("corrupt-scratch");
    let redis = RedisServer::start(data.path(), REDIS_AOF).unwrap();
    let mut c = redis.client();
    c.pipeline(&set_cmds("k", 0, 2000, 50)).unwrap();
    make_bucket(&srv, "bkt");
    let url = "s3://bkt/corrupt";
    let dd = data.path().to_str().unwrap();
    assert_eq!(
        run(&srv, &["ship", "--once", "--data-dir", dd, "--to", url])
            .status
            .code(),
        Some(0)
    );
    c.pipeline(&set_cmds("later", 0, 300, 50)).unwrap();
    assert_eq!(
        run(&srv, &["ship", "--once", "--data-dir", dd, "--to", url])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&srv, &["backups", "verify", url]).status.code(),
        Some(0)
    );

    // Find the INCR object of the set and the segment on disk (s3s-fs keeps plain files).
    let root = srv.object_path("bkt", "corrupt").unwrap();
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    let incr = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".incr.aof.zst"))
        .expect("incr object")
        .clone();
    let seg = files
        .iter()
        .find(|p| p.to_string_lossy().contains("/segments/"))
        .expect("segment object")
        .clone();
    let flip = |p: &Path| {
        let mut b = std::fs::read(p).unwrap();
        let i = b.len() / 2;
        b[i] ^= 0x55;
        std::fs::write(p, b).unwrap();
    };

    flip(&seg);
    let seg_key = seg
        .strip_prefix(&root)
        .unwrap()
        .to_string_lossy()
        .to_string();
    let o = run(&srv, &["backups", "verify", url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&seg_key),
        "verify must name {seg_key}"
    );
    let out = scratch.path().join("r1");
    let o = run(
        &srv,
        &[
            "restore",
            url,
            "--at",
            "latest",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&seg_key),
        "restore must name {seg_key}"
    );
    assert!(!out.exists(), "a failed restore leaves no output");
    assert!(
        std::fs::read_dir(scratch.path()).unwrap().count() == 0,
        "no temporary directory left behind"
    );

    flip(&incr);
    let incr_key = incr
        .strip_prefix(&root)
        .unwrap()
        .to_string_lossy()
        .to_string();
    let o = run(&srv, &["backups", "verify", url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&incr_key),
        "verify must name {incr_key}"
    );
    let o = run(
        &srv,
        &[
            "restore",
            url,
            "--at",
            "latest",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&incr_key));
    assert!(!out.exists());
}

/// Disk full in the download directory: a clear error and nothing left behind. Uses a 2 MiB
/// tmpfs (needs root and mount permission; skipped with a message otherwise).
#[test]
fn disk_full_during_restore() {
    if !have_redis() {
        return;
    }
    let Some(srv) = S3Server::s3s_fs() else {
        return;
    };
    let data = TempDir::new("full-redis");
    let mnt = TempDir::new("full-mnt");
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(mnt.path())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Umount(mnt.path().to_path_buf());
    let redis = RedisServer::start(data.path(), REDIS_AOF).unwrap();
    redis
        .client()
        .pipeline(&set_cmds("k", 0, 40_000, 100))
        .unwrap(); // ~5 MB of AOF
    make_bucket(&srv, "bkt");
    let url = "s3://bkt/full";
    assert_eq!(
        run(
            &srv,
            &[
                "ship",
                "--once",
                "--data-dir",
                data.path().to_str().unwrap(),
                "--to",
                url
            ]
        )
        .status
        .code(),
        Some(0)
    );
    let out = mnt.path().join("restored");
    let o = run(
        &srv,
        &[
            "restore",
            url,
            "--at",
            "latest",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(mnt.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Retention through the CLI: prune keeps exactly --keep-last sets (and their segments).
#[test]
fn prune_keeps_the_named_sets_and_their_segments() {
    if !have_redis() {
        return;
    }
    let Some(srv) = S3Server::s3s_fs() else {
        return;
    };
    let data = TempDir::new("prune-redis");
    let redis = RedisServer::start(data.path(), REDIS_AOF).unwrap();
    let mut c = redis.client();
    make_bucket(&srv, "bkt");
    let url = "s3://bkt/prune";
    let dd = data.path().to_str().unwrap();
    for i in 0..3 {
        c.pipeline(&set_cmds(&format!("r{i}"), 0, 100, 10)).unwrap();
        assert_eq!(
            run(
                &srv,
                &["ship", "--once", "--full", "--data-dir", dd, "--to", url]
            )
            .status
            .code(),
            Some(0)
        );
        c.pipeline(&set_cmds(&format!("s{i}"), 0, 100, 10)).unwrap();
        assert_eq!(
            run(&srv, &["ship", "--once", "--data-dir", dd, "--to", url])
                .status
                .code(),
            Some(0)
        );
        std::thread::sleep(Duration::from_millis(1100)); // distinct set times
    }
    let o = run(
        &srv,
        &[
            "backups",
            "prune",
            url,
            "--keep-last",
            "2",
            "--dry-run",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["sets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["keep"] == true)
            .count(),
        2
    );
    let o = run(&srv, &["backups", "list", url, "--json"]);
    let before: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        before["sets"].as_array().unwrap().len(),
        3,
        "dry run deletes nothing"
    );
    assert_eq!(
        run(&srv, &["backups", "prune", url, "--keep-last", "2"])
            .status
            .code(),
        Some(0)
    );
    let o = run(&srv, &["backups", "list", url, "--json"]);
    let after: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = after["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = before["sets"].as_array().unwrap()[1..]
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, want);
    // Each set keeps its segments: the newest has the one shipped after it; older ones also
    // have the final segment shipped just before the next set was taken.
    let segs: Vec<u64> = after["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["segments"].as_u64().unwrap())
        .collect();
    assert_eq!(segs, vec![2, 1]);
    let scratch = TempDir::new("prune-scratch");
    assert_eq!(
        restore_digest(&srv, url, "latest", scratch.path()),
        redis.digest()
    );
}

/// An RDB-only set (no AOF): restore gives a directory with `dump.rdb` that loads to the
/// digest the server had when it saved; `--status` reports health for monitoring.
#[test]
fn rdb_only_set_and_status() {
    if !have_redis() {
        return;
    }
    let Some(srv) = S3Server::s3s_fs() else {
        return;
    };
    let data = TempDir::new("rdb-redis");
    let scratch = TempDir::new("rdb-scratch");
    let redis = RedisServer::start(data.path(), &["--dbfilename", "dump.rdb"]).unwrap();
    let mut c = redis.client();
    c.pipeline(&set_cmds("r", 0, 3000, 30)).unwrap();
    assert_eq!(c.cmd(&[b"SAVE"]).unwrap(), Reply::Status("OK".into()));
    let want = redis.digest();
    make_bucket(&srv, "bkt");
    let url = "s3://bkt/rdbonly";
    let o = run(&srv, &["ship", "--to", url, "--status"]);
    assert_eq!(o.status.code(), Some(1), "no set yet: unhealthy");
    let o = run(
        &srv,
        &[
            "ship",
            "--once",
            "--no-aof",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--to",
            url,
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let o = run(&srv, &["ship", "--to", url, "--status", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["healthy"], true);
    assert_eq!(v["complete_sets"], 1);
    let out = scratch.path().join("r");
    let o = run(
        &srv,
        &[
            "restore",
            url,
            "--at",
            "latest",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(out.join("dump.rdb").is_file());
    assert!(!out.join("appendonlydir").exists());
    assert_eq!(common::digest_of_rdb(&out.join("dump.rdb")).unwrap(), want);
    // The human listing names the set and its Redis version.
    let o = run(&srv, &["backups", "list", url]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("rdb") && text.contains("redis 7.0.15"),
        "{text}"
    );
    // An existing output is refused without --force, and replaced with it.
    let o = run(
        &srv,
        &[
            "restore",
            url,
            "--at",
            "latest",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = run(
        &srv,
        &[
            "restore",
            url,
            "--at",
            "latest",
            "-o",
            out.to_str().unwrap(),
            "--force",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(common::digest_of_rdb(&out.join("dump.rdb")).unwrap(), want);
}

/// A local AOF directory as the restore source (staged through the same code path).
#[test]
fn restore_from_a_local_aof_directory() {
    if !have_redis() {
        return;
    }
    let data = TempDir::new("local-redis");
    let scratch = TempDir::new("local-scratch");
    let redis = RedisServer::start(data.path(), REDIS_AOF).unwrap();
    let mut c = redis.client();
    c.pipeline(&set_cmds("a", 0, 200, 10)).unwrap();
    let t0 = now_f().floor() as i64 + 1;
    sleep_until(t0 as f64 + 0.05);
    let first = redis.digest();
    c.pipeline(&set_cmds("b", 0, 200, 10)).unwrap();
    sleep_until(t0 as f64 + 1.05);
    let second = redis.digest();
    let out = scratch.path().join("r");
    let aofdir = data.path().join("appendonlydir");
    let o = Command::new(redsafe_bin())
        .args([
            "restore",
            aofdir.to_str().unwrap(),
            "--at",
            &(t0 - 1).to_string(),
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(digest_of_aof_dir(&out).unwrap(), first);
    std::fs::remove_dir_all(&out).unwrap();
    let o = Command::new(redsafe_bin())
        .args([
            "restore",
            data.path().to_str().unwrap(),
            "--at",
            "latest",
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(digest_of_aof_dir(&out).unwrap(), second);
    // Only the output is left beside it (the staging directory is gone).
    let names: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("r")]);
}

/// A live redis-server 7.0.15 with AOF and `#TS` annotations, an s3s-fs server with bucket
/// `bkt`, and a scratch directory. `None` (skip) only outside CI when a server is missing.
struct AofEnv {
    // Dropped in this order: redis before its data directory.
    redis: RedisServer,
    srv: S3Server,
    scratch: TempDir,
    data: TempDir,
}

fn aof_env(tag: &str) -> Option<AofEnv> {
    if !have_redis() {
        return None;
    }
    let srv = S3Server::s3s_fs()?;
    let data = TempDir::new(&format!("{tag}-redis"));
    let scratch = TempDir::new(&format!("{tag}-scratch"));
    let redis = RedisServer::start(data.path(), REDIS_AOF).unwrap();
    make_bucket(&srv, "bkt");
    Some(AofEnv {
        redis,
        srv,
        scratch,
        data,
    })
}

/// `ship --cron`: with the daemon's clock started 3 s before 11:00:00 UTC on Sunday
/// 2026-11-22 (hidden `--clock-start`, so the test need not wait for a real schedule), the
/// schedule `*/1 11 * NOV SUN` (every minute of hour 11 on Sundays in November) gives exactly
/// one full set at 11:00:00 after the initial one, and that set alone holds the data written
/// before it (restore latest from it gives the live digest).
#[test]
fn cron_schedule_ships_a_set_at_the_scheduled_time() {
    let Some(AofEnv {
        redis,
        srv,
        scratch,
        data,
    }) = aof_env("cron")
    else {
        return;
    };
    let mut c = redis.client();
    c.pipeline(&set_cmds("a", 0, 300, 10)).unwrap();
    let url = "s3://bkt/cron";
    // 2026-11-22T10:59:57Z (`date -u -d 2026-11-22T10:59:57Z +%s`).
    let start: i64 = 1_795_345_197;
    let fire: i64 = start + 3;
    let mut ship = Shipd::start(
        &srv,
        &scratch.path().join("ship.log"),
        &[
            "ship",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--to",
            url,
            "--cron",
            "*/1 11 * NOV SUN",
            "--aof-every",
            "10s",
            "--log-format",
            "json",
            "--clock-start",
            &start.to_string(),
        ],
    );
    std::thread::sleep(Duration::from_millis(1200));
    c.pipeline(&set_cmds("b", 0, 300, 10)).unwrap();
    let want = redis.digest();
    // The scheduled set comes at fake 11:00:00 (real +3 s); the next fire is 11:01:00.
    std::thread::sleep(Duration::from_millis(4500));
    assert_eq!(ship.terminate(), Some(0), "{}", ship.log());
    let log = ship.log();
    eprintln!("{log}");
    assert!(
        log.contains("\"next_full_set\":\"2026-11-22T11:00:00Z\""),
        "{log}"
    );
    let o = run(&srv, &["backups", "list", url, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let times: Vec<i64> = v["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["time"].as_i64().unwrap())
        .collect();
    assert_eq!(times.len(), 2, "{times:?}");
    assert!((start..start + 2).contains(&times[0]), "{times:?}");
    // At the scheduled minute (a loaded machine may start the cycle a second late).
    assert!((fire..=fire + 1).contains(&times[1]), "{times:?}");
    // The scheduled set alone restores the data written before it.
    let o = run(&srv, &["restore", url, "--at", "latest", "--dry-run"]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["set"]["time"], times[1]);
    assert_eq!(plan["segments"].as_array().unwrap().len(), 0, "{plan}");
    let out = scratch.path().join("r");
    let o = run(
        &srv,
        &[
            "restore",
            url,
            "--at",
            "latest",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(digest_of_aof_dir(&out).unwrap(), want);
    // --cron and --every exclude each other; a bad expression is a usage error.
    let o = run(
        &srv,
        &[
            "ship", "--to", url, "--cron", "@daily", "--every", "1h", "--once",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = run(
        &srv,
        &[
            "ship",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--to",
            url,
            "--cron",
            "61 * * * *",
            "--once",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("minute"));
}

fn ship_once(srv: &S3Server, data: &Path, url: &str, full: bool) {
    let mut args = vec![
        "ship",
        "--once",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        url,
    ];
    if full {
        args.push("--full");
    }
    let o = run(srv, &args);
    assert_eq!(o.status.code(), Some(0));
}

/// A restore that must fail with exit 2, a message containing `msg`, and no output.
fn restore_refused(srv: &S3Server, url: &str, at: &str, out: &Path, msg: &str) {
    let o = run(
        srv,
        &["restore", url, "--at", at, "-o", out.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(msg), "expected {msg:?} in: {err}");
    assert!(!out.exists());
}

fn restore_json(srv: &S3Server, url: &str, extra: &[&str], out: &Path) -> serde_json::Value {
    let mut args = vec!["restore", url, "-o", out.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let o = run(srv, &args);
    assert_eq!(o.status.code(), Some(0), "restore {extra:?} failed");
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `restore s3://… --at before:FLUSHALL` and `--at-offset`: the AOF is rebuilt from a set and
/// its segments and cut like a local restore. The oracle is the digest the live server had
/// just before the FLUSHALL. With a newer set that still holds the FLUSHALL, that set is used;
/// with an even newer one taken after a rewrite (no FLUSHALL left in its AOF), the restore
/// falls back to the newest set that has it.
#[test]
fn before_command_and_offset_from_s3() {
    let Some(AofEnv {
        redis,
        srv,
        scratch,
        data,
    }) = aof_env("flush")
    else {
        return;
    };
    let mut c = redis.client();
    c.pipeline(&set_cmds("a", 0, 400, 20)).unwrap();
    let url = "s3://bkt/flush";
    // Set 1, then everything else arrives as segments.
    ship_once(&srv, data.path(), url, true);
    workload(&mut c, 1);
    ship_once(&srv, data.path(), url, false);
    workload(&mut c, 2);
    let before_flush = redis.digest();
    assert_eq!(c.cmd(&[b"FLUSHALL"]).unwrap(), Reply::Status("OK".into()));
    c.pipeline(&set_cmds("after", 0, 100, 10)).unwrap();
    let after = redis.digest();
    assert_ne!(after, before_flush);
    ship_once(&srv, data.path(), url, false);

    // Only set 1 plus segments: the FLUSHALL is in a segment.
    let out = scratch.path().join("r1");
    let v = restore_json(&srv, url, &["--at", "before:FLUSHALL"], &out);
    assert!(v["segments_applied"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["reason"]["kind"], "command", "{v}");
    let set1 = v["set"].as_str().unwrap().to_string();
    assert_eq!(digest_of_aof_dir(&out).unwrap(), before_flush);
    // The same cut given as an offset.
    let cut = format!(
        "{}:{}",
        v["cut"]["file"].as_str().unwrap(),
        v["cut"]["offset"].as_u64().unwrap()
    );
    let out2 = scratch.path().join("r2");
    let v2 = restore_json(&srv, url, &["--at-offset", &cut], &out2);
    assert_eq!(v2["set"], set1.as_str());
    assert_eq!(digest_of_aof_dir(&out2).unwrap(), before_flush);
    // --dry-run writes nothing.
    let out3 = scratch.path().join("r3");
    let v3 = restore_json(&srv, url, &["--at", "before:FLUSHALL", "--dry-run"], &out3);
    assert_eq!(v3["dry_run"], true);
    assert!(!out3.exists());

    // Set 2 (no rewrite since: its INCR holds the FLUSHALL), then set 3 after a rewrite.
    ship_once(&srv, data.path(), url, true);
    let (set2, latest) = {
        let o = run(&srv, &["restore", url, "--at", "latest", "--dry-run"]);
        let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (p["set"]["id"].as_str().unwrap().to_string(), p)
    };
    // Both sets may be named in the same second: their ids must still sort in the order they
    // were taken (this failed twice, under load, before `next_set_id`).
    assert_ne!(set2, set1, "`--at latest` chose the first set: {latest}");
    let out4 = scratch.path().join("r4");
    let v4 = restore_json(&srv, url, &["--at", "before:FLUSHALL"], &out4);
    assert_eq!(v4["set"], set2.as_str());
    assert_eq!(digest_of_aof_dir(&out4).unwrap(), before_flush);
    assert_eq!(
        c.cmd(&[b"BGREWRITEAOF"]).unwrap(),
        Reply::Status("Background append only file rewriting started".into())
    );
    std::thread::sleep(Duration::from_millis(1500));
    ship_once(&srv, data.path(), url, true);
    let out5 = scratch.path().join("r5");
    let v5 = restore_json(&srv, url, &["--at", "before:FLUSHALL"], &out5);
    assert_eq!(v5["set"], set2.as_str(), "{v5}");
    assert_eq!(digest_of_aof_dir(&out5).unwrap(), before_flush);
    // A command that never occurs: a clear error, nothing written, no staging left behind.
    let out6 = scratch.path().join("r6");
    restore_refused(&srv, url, "before:SWAPDB", &out6, "no SWAPDB command");
    let leftovers: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The newest state is still the post-FLUSHALL one.
    let out7 = scratch.path().join("r7");
    restore_json(&srv, url, &["--at", "latest"], &out7);
    assert_eq!(digest_of_aof_dir(&out7).unwrap(), after);
}

/// The silent gap: ship is stopped, Redis appends more, then a rewrite deletes the INCR file
/// holding those bytes; ship restarts. It must say so (a `warning` line, a chain-break record
/// that `backups list` shows as a gap) and restores at a time inside the gap must fail
/// (not silently return the older state) unless `--allow-gap` is given, which returns the
/// last consistent point. Oracle: the live server's digest at each second.
#[test]
fn gap_while_ship_was_down_is_recorded_and_refused() {
    let Some(AofEnv {
        redis,
        srv,
        scratch,
        data,
    }) = aof_env("gap")
    else {
        return;
    };
    let mut c = redis.client();
    c.pipeline(&set_cmds("init", 0, 300, 20)).unwrap();
    let url = "s3://bkt/gap";
    let ship_args = [
        "ship",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--to",
        url,
        "--aof-every",
        "1s",
        "--log-format",
        "json",
    ];
    let mut ship = Shipd::start(&srv, &scratch.path().join("ship1.log"), &ship_args);
    // Writes start 0.3 s into each second: Redis stamps `#TS` from a clock it caches (updated
    // 10 times a second), so writes right after a second boundary may still get the old stamp.
    let t0 = now_f().floor() as i64 + 1;
    sleep_until(t0 as f64 + 0.3);
    workload(&mut c, 0);
    let d0 = redis.digest();
    sleep_until(t0 as f64 + 1.3);
    workload(&mut c, 1);
    let d1 = redis.digest();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(ship.terminate(), Some(0), "{}", ship.log());
    drop(ship);

    // Ship is down: writes at second s3 land in INCR 1, which the rewrite then deletes.
    let s3 = now_f().floor() as i64 + 1;
    sleep_until(s3 as f64 + 0.3);
    workload(&mut c, 2);
    // The rewrite's base is stamped s3 + 1: second s3 is only in the deleted INCR file.
    sleep_until(s3 as f64 + 1.3);
    assert_eq!(
        c.cmd(&[b"BGREWRITEAOF"]).unwrap(),
        Reply::Status("Background append only file rewriting started".into())
    );
    let incr1 = data.path().join("appendonlydir/appendonly.aof.1.incr.aof");
    for _ in 0..50 {
        if !incr1.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!incr1.exists(), "the rewrite did not delete INCR 1");
    let s5 = now_f().floor() as i64 + 1;
    sleep_until(s5 as f64 + 0.3);
    workload(&mut c, 3);
    let d5 = redis.digest();

    let mut ship = Shipd::start(&srv, &scratch.path().join("ship2.log"), &ship_args);
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(ship.terminate(), Some(0), "{}", ship.log());
    let log = ship.log();
    eprintln!("{log}");
    assert!(log.contains("\"action\":\"chain-broken\""), "{log}");
    assert!(
        log.contains("\"action\":\"warning\"") && log.contains("\"gap\":true"),
        "{log}"
    );
    assert!(log.contains("INCR seq 1 is no longer in"), "{log}");
    assert_eq!(log.matches("\"action\":\"set-uploaded\"").count(), 1);

    // The catalog shows the gap: from set 1's last shipped stamp to set 2's base.
    let o = run(&srv, &["backups", "list", url, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sets = v["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2, "{v}");
    assert_eq!(sets[0]["chain_break"]["incr_seq"], 1, "{v}");
    assert!(sets[1]["chain_break"].is_null(), "{v}");
    let gaps = v["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{v}");
    assert_eq!(gaps[0]["to"], sets[1]["restorable_from"], "{v}");
    assert_eq!(gaps[0]["from"], t0 + 1, "{v}");
    assert_eq!(gaps[0]["from"], sets[0]["chain_break"]["last_ts"], "{v}");
    let o = run(&srv, &["backups", "list", url]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("GAP after set"));
    // --status counts the gap; the newest set's chain is intact, so still healthy.
    let o = run(&srv, &["ship", "--to", url, "--status", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (st["gaps"].as_u64(), st["newest_chain_broken"].as_bool()),
        (Some(1), Some(false))
    );

    // Before the gap: exact.
    assert_eq!(
        restore_digest(&srv, url, &t0.to_string(), scratch.path()),
        d0
    );
    // Inside the gap: refused, naming the gap and the flag; nothing written.
    let out = scratch.path().join("in-gap");
    restore_refused(&srv, url, &s3.to_string(), &out, "falls in a gap");
    restore_refused(&srv, url, &s3.to_string(), &out, "--allow-gap");
    // With --allow-gap: the last consistent point, flagged as not exact.
    let v = restore_json(&srv, url, &["--at", &s3.to_string(), "--allow-gap"], &out);
    assert_eq!(v["exact"], false, "{v}");
    assert!(v["warning"].as_str().unwrap().contains("gap"), "{v}");
    assert_eq!(digest_of_aof_dir(&out).unwrap(), d1);
    // After the gap: the new set.
    assert_eq!(
        restore_digest(&srv, url, &s5.to_string(), scratch.path()),
        d5
    );
    assert_eq!(restore_digest(&srv, url, "latest", scratch.path()), d5);
}
