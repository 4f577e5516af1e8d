//! Hostile inputs and outputs: pipes, FIFOs and devices given as inputs, a full standard
//! output, CRC-64 mismatches in `digest`/`diff`/`dump`/`stats`, damaged values with a valid
//! CRC in `filter`/`convert`, a damaged AOF in `timeline`, and `check --threads` limits and
//! counts. Every run has a time limit: a command that blocks fails the test instead of
//! hanging it.

mod common;
mod rdb_support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{project_fixture, redsafe_bin, TempDir};
use rdb_support::{have_check_rdb, redis_check_rdb, CRC64};

/// Exit code (`None`: killed by a signal), stdout, stderr of one run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs redsafe with `args`, stdin and stdout as given, killed after 30 s (a failure).
fn run_with(args: &[&str], stdin: Stdio, stdout: Stdio) -> Run {
    let mut child = Command::new(redsafe_bin())
        .args(args)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redsafe");
    let out = child.stdout.take();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(mut o) = out {
            let _ = o.read_to_end(&mut s);
        }
        String::from_utf8_lossy(&s).into_owned()
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("redsafe {args:?} did not finish within 30 s (hung)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code(),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn run(args: &[&str]) -> Run {
    run_with(args, Stdio::null(), Stdio::piped())
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn sha256(p: &Path) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// A project RDB fixture written by redis-server 7.0.15 (with a CRC-64).
fn rdb_fixture() -> PathBuf {
    project_fixture("rdb/redis-7.0.15-all.rdb")
}

/// An old-style AOF with an RDB preamble, written by redis-server.
fn aof_fixture() -> PathBuf {
    project_fixture("aof/old-style-preamble.aof")
}

/// Each command with INPUT standing for the hostile path, and OUT for an output path.
const COMMANDS: &[&[&str]] = &[
    &["check", "INPUT"],
    &["dump", "INPUT"],
    &["stats", "INPUT"],
    &["digest", "INPUT"],
    &["compact", "INPUT", "--out", "OUT"],
    &["salvage", "INPUT", "--output", "OUT"],
    &["filter", "INPUT", "-o", "OUT", "--drop-command", "DEL"],
    &["convert", "INPUT", "--rdb-version", "9", "-o", "OUT"],
    &["diff", "INPUT", "GOOD"],
    &["diff", "GOOD", "INPUT"],
    &["timeline", "INPUT"],
    &["fix", "INPUT", "--output", "OUT"],
    &["restore", "INPUT", "--at", "latest", "-o", "OUT"],
];

fn expand(cmd: &[&str], input: &str, out: &Path, good: &Path) -> Vec<String> {
    cmd.iter()
        .map(|a| match *a {
            "INPUT" => input.to_string(),
            "OUT" => s(out),
            "GOOD" => s(good),
            other => other.to_string(),
        })
        .collect()
}

fn assert_refused(what: &str, args: &[String], r: &Run, kind: &str) {
    assert_eq!(
        r.code,
        Some(2),
        "{what}: redsafe {args:?}: expected exit 2, got {:?}; stderr: {}",
        r.code,
        r.stderr
    );
    assert!(
        r.stderr.contains("not a regular file") && r.stderr.contains(kind),
        "{what}: redsafe {args:?}: the message must say what the path is ({kind}): {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("save the data to a file first"),
        "{what}: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{what}: {}", r.stderr);
}

/// Regression (issue #27 item 4): an AOF through a pipe was read as an empty valid file, an
/// RDB through `<(…)` misread after detection consumed 64 KiB, `/dev/zero` grew memory
/// without limit or was "empty (valid)", and a FIFO hung every command. Every command now
/// refuses a path that is not a regular file (or an AOF directory) with exit 2, naming what
/// it is, without opening a FIFO (no hang) and without reading a device.
#[test]
fn pipes_fifos_and_devices_are_refused_by_every_command() {
    let t = TempDir::new("hostile-special");
    let fifo = t.path().join("input.fifo");
    let st = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(st.success());
    let good = rdb_fixture();
    let cases: [(&str, String, &str); 3] = [
        ("FIFO", s(&fifo), "pipe (FIFO)"),
        ("/dev/zero", "/dev/zero".into(), "character device"),
        ("/dev/null", "/dev/null".into(), "character device"),
    ];
    for (i, cmd) in COMMANDS.iter().enumerate() {
        let out = t.path().join(format!("out-{i}"));
        for (what, input, kind) in &cases {
            let args = expand(cmd, input, &out, &good);
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = run(&a);
            assert_refused(what, &args, &r, kind);
            assert!(!out.exists(), "{what}: {args:?} wrote {}", out.display());
        }
        // Standard input on a pipe, as `cat dump.rdb | redsafe check /dev/stdin` (the pipe is
        // filled with a real file's bytes and never read).
        for src in [rdb_fixture(), aof_fixture()] {
            let args = expand(cmd, "/dev/stdin", &out, &good);
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut feeder = Command::new("cat")
                .arg(&src)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let pipe = feeder.stdout.take().unwrap();
            let r = run_with(&a, Stdio::from(pipe), Stdio::piped());
            let _ = feeder.kill();
            let _ = feeder.wait();
            assert_refused("stdin pipe", &args, &r, "pipe (FIFO)");
            assert!(!out.exists());
        }
    }
    // The FIFO is still there and was never opened by a writer-less reader that blocked.
    assert!(fifo.exists());
}

/// A regular file given as standard input (`redsafe check /dev/stdin < dump.rdb`) is a
/// regular file: it is read, with the same verdict as the file itself.
#[test]
fn a_regular_file_as_standard_input_is_read_like_the_file() {
    let f = rdb_fixture();
    let direct = run(&["check", "--json", &s(&f)]);
    let via = run_with(
        &["check", "--json", "/dev/stdin"],
        Stdio::from(std::fs::File::open(&f).unwrap()),
        Stdio::piped(),
    );
    assert_eq!(direct.code, Some(0), "{}", direct.stderr);
    assert_eq!(via.code, Some(0), "{}", via.stderr);
    let keys = |o: &str| serde_json::from_str::<serde_json::Value>(o).unwrap()["keys"].clone();
    assert_eq!(keys(&direct.stdout), keys(&via.stdout));
}

/// Regression (issue #27 item 8): writing to a full standard output (`> /dev/full`)
/// panicked with exit 101. Every command now exits 2 with a message.
#[test]
fn a_full_standard_output_is_an_error_not_a_panic() {
    let t = TempDir::new("hostile-full");
    let rdb = t.path().join("dump.rdb");
    std::fs::copy(rdb_fixture(), &rdb).unwrap();
    let aof = t.path().join("appendonly.aof");
    std::fs::copy(aof_fixture(), &aof).unwrap();
    let before = (sha256(&rdb), sha256(&aof));
    let (r, a) = (s(&rdb), s(&aof));
    let out = |n: &str| s(&t.path().join(n));
    let cases: Vec<Vec<String>> = vec![
        vec!["check".into(), r.clone()],
        vec!["check".into(), "--json".into(), r.clone()],
        vec!["check".into(), a.clone()],
        vec!["filter".into(), r.clone(), "-o".into(), out("f.rdb")],
        vec!["filter".into(), r.clone(), "--dry-run".into()],
        vec![
            "convert".into(),
            r.clone(),
            "--rdb-version".into(),
            "10".into(),
            "-o".into(),
            out("c.rdb"),
        ],
        vec!["salvage".into(), r.clone(), "--output".into(), out("s.rdb")],
        vec!["fix".into(), a.clone(), "--output".into(), out("x.aof")],
        vec!["dump".into(), r.clone()],
        vec!["stats".into(), r.clone()],
        vec!["digest".into(), r.clone()],
        vec!["diff".into(), r.clone(), r.clone()],
        vec!["timeline".into(), a.clone()],
    ];
    for args in &cases {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let v: Vec<&str> = args.iter().map(String::as_str).collect();
        let res = run_with(&v, Stdio::null(), Stdio::from(full));
        assert_eq!(
            res.code,
            Some(2),
            "redsafe {args:?} > /dev/full: exit {:?}, stderr: {}",
            res.code,
            res.stderr
        );
        assert!(
            res.stderr.contains("No space left on device") && !res.stderr.contains("panicked"),
            "redsafe {args:?} > /dev/full: {}",
            res.stderr
        );
    }
    assert_eq!(before, (sha256(&rdb), sha256(&aof)), "inputs changed");
}

/// Regression (issue #27 item 8): `check --threads 18446744073709551615` panicked
/// ("capacity overflow"). The count is bounded: a usage error, exit 2.
#[test]
fn a_huge_thread_count_is_a_usage_error() {
    let f = s(&rdb_fixture());
    for n in ["18446744073709551615", "257", "-1"] {
        let r = run(&["check", "--threads", n, &f]);
        assert_eq!(r.code, Some(2), "--threads {n}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    let r = run(&["check", "--threads", "256", &f]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

/// A copy of the fixture RDB with its stored CRC-64 changed, confirmed damaged by
/// redis-check-rdb (`None` when it is not installed, outside CI).
fn flipped_crc(dir: &Path) -> Option<(PathBuf, u64)> {
    let mut d = std::fs::read(rdb_fixture()).unwrap();
    let n = d.len();
    for b in &mut d[n - 8..] {
        *b ^= 0x5a;
    }
    let p = dir.join("flipped-crc.rdb");
    std::fs::write(&p, &d).unwrap();
    if !have_check_rdb() {
        return None;
    }
    let oracle = redis_check_rdb(&p);
    assert!(!oracle.ok, "redis-check-rdb accepted a wrong CRC-64");
    assert!(
        oracle.stdout.contains("CRC"),
        "redis-check-rdb: {}",
        oracle.stdout
    );
    // The stored checksum starts right after the EOF opcode.
    Some((p, (n - 8) as u64))
}

/// Regression (issue #27 item 6): `digest` and `diff` ignored a CRC-64 mismatch (exit 0,
/// `"ok": true`). They verify it as `check` does (exit 1, the offset named), unless
/// `--no-checksum`. And item 11: `dump` and `stats` named no offset for it.
#[test]
fn digest_diff_dump_and_stats_verify_the_checksum_and_name_its_offset() {
    let t = TempDir::new("hostile-crc");
    let Some((bad, off)) = flipped_crc(t.path()) else {
        return;
    };
    let b = s(&bad);
    let good = s(&rdb_fixture());
    let at = format!("offset {off}");
    let c = run(&["check", &b]);
    assert_eq!(c.code, Some(1));
    assert!(c.stdout.contains(&at), "check: {}", c.stdout);
    for args in [
        vec!["digest", &b],
        vec!["diff", &good, &b],
        vec!["diff", &b, &good],
        vec!["dump", &b],
        vec!["stats", &b],
    ] {
        let r = run(&args);
        assert_eq!(r.code, Some(1), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(&at) && r.stderr.contains("checksum mismatch"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let j = run(&["digest", "--json", &b]);
    assert_eq!(j.code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["offset"], off);
    // --no-checksum: the data is intact, so the digest is the fixture's (recorded from
    // redis-server's DEBUG DIGEST).
    let r = run(&["digest", "--no-checksum", &b]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let expected = std::fs::read_to_string(project_fixture("rdb/redis-7.0.15-all.digest"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        expected.contains(r.stdout.trim()),
        "{} vs {expected}",
        r.stdout
    );
    let r = run(&["diff", "--no-checksum", &good, &b]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

/// An RDB 9 file: `entries` (type byte, key, value bytes) in db 0, with a valid CRC-64
/// computed by the `crc` crate.
fn rdb9(entries: &[(u8, &[u8], Vec<u8>)]) -> Vec<u8> {
    let mut f = b"REDIS0009\xfe\x00".to_vec();
    for (t, k, v) in entries {
        f.push(*t);
        f.extend(str_enc(k));
        f.extend_from_slice(v);
    }
    f.push(0xff);
    let crc = CRC64.checksum(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

/// An RDB string (plain, length in the 6-, 14- or 32-bit form).
fn str_enc(b: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let n = b.len();
    if n < 64 {
        v.push(n as u8);
    } else if n < 16384 {
        v.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else {
        v.push(0x80);
        v.extend_from_slice(&(n as u32).to_be_bytes());
    }
    v.extend_from_slice(b);
    v
}

/// An intset of 16-bit members with a stated length.
fn intset(members: &[i16], stated_len: u32) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    v.extend_from_slice(&stated_len.to_le_bytes());
    for m in members {
        v.extend_from_slice(&m.to_le_bytes());
    }
    v
}

/// A ziplist of short strings (RDB 9 hashes are ziplists).
fn ziplist(entries: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    for e in entries {
        assert!(e.len() < 64);
        let start = body.len();
        body.push(prev as u8);
        body.push(e.len() as u8);
        body.extend_from_slice(e);
        prev = body.len() - start;
    }
    let total = 10 + body.len() + 1;
    let mut z = (total as u32).to_le_bytes().to_vec();
    let tail = if entries.is_empty() {
        10
    } else {
        10 + body.len() - prev
    };
    z.extend_from_slice(&(tail as u32).to_le_bytes());
    z.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    z.extend_from_slice(&body);
    z.push(0xff);
    z
}

const T_STRING: u8 = 0;
const T_SET_INTSET: u8 = 11;
const T_HASH_ZIPLIST: u8 = 13;

/// Values damaged inside with the CRC-64 right (so only structural checks can see them):
/// name, the damaged value's key, the file.
fn damaged_value_files() -> Vec<(&'static str, Vec<u8>)> {
    let fine = |i: usize| {
        (
            T_SET_INTSET,
            format!("ok:{i}").into_bytes(),
            str_enc(&intset(&[1, 2, 3], 3)),
        )
    };
    let build = |bad: (u8, &[u8], Vec<u8>)| {
        let mut v: Vec<(u8, Vec<u8>, Vec<u8>)> = (0..3).map(fine).collect();
        v.push((bad.0, bad.1.to_vec(), bad.2));
        v.extend((3..6).map(fine));
        let refs: Vec<(u8, &[u8], Vec<u8>)> = v
            .iter()
            .map(|(t, k, x)| (*t, k.as_slice(), x.clone()))
            .collect();
        rdb9(&refs)
    };
    // An LZF string claiming 4 GB uncompressed: 0xc3, compressed length, uncompressed length.
    let mut lzf = vec![0xc3];
    lzf.push(0x03); // compressed length 3
    lzf.push(0x80);
    lzf.extend_from_slice(&0xffff_fff0u32.to_be_bytes());
    lzf.extend_from_slice(&[0x01, b'a', b'b']); // a literal run of 2 bytes
    vec![
        (
            "intset length 2^32-1",
            build((T_SET_INTSET, b"bad", str_enc(&intset(&[1, 2], u32::MAX)))),
        ),
        ("LZF claiming 4 GB", build((T_STRING, b"bad", lzf))),
        (
            "duplicate hash fields",
            build((
                T_HASH_ZIPLIST,
                b"bad",
                str_enc(&ziplist(&[b"f", b"1", b"f", b"2"])),
            )),
        ),
    ]
}

/// Regression (issue #27 item 9): `filter` and `convert` copied structurally damaged values
/// with a valid CRC-64 and exited 0, writing files that fail `check` and redis-check-rdb.
/// The values copied are now validated as `check` does: exit 1 naming the key and offset,
/// and no output; `--no-validate` copies them as they are.
#[test]
fn filter_and_convert_refuse_damaged_values_with_a_valid_crc() {
    let t = TempDir::new("hostile-values");
    for (name, data) in damaged_value_files() {
        let p = t.path().join("in.rdb");
        std::fs::write(&p, &data).unwrap();
        if have_check_rdb() {
            let oracle = redis_check_rdb(&p);
            assert!(!oracle.ok, "{name}: redis-check-rdb accepted it");
        }
        let c = run(&["check", &s(&p)]);
        assert_eq!(c.code, Some(1), "{name}: check: {}", c.stdout);
        let before = sha256(&p);
        let out = t.path().join("out.rdb");
        for (cmd, extra) in [
            ("filter", vec!["--key", "*"]),
            ("filter", vec![]),
            ("convert", vec!["--rdb-version", "9"]),
            ("convert", vec!["--rdb-version", "10"]),
        ] {
            let mut args = vec![cmd, p.to_str().unwrap(), "-o", out.to_str().unwrap()];
            args.extend(extra.iter().copied());
            let r = run(&args);
            assert_eq!(r.code, Some(1), "{name}: {args:?}: {}", r.stderr);
            assert!(
                r.stderr.contains("key \"bad\"") && r.stderr.contains("offset"),
                "{name}: {args:?}: {}",
                r.stderr
            );
            assert!(!out.exists(), "{name}: {args:?} wrote an output");
            args.push("--no-validate");
            let r = run(&args);
            assert!(
                !r.stderr.contains("panicked") && r.code != Some(101),
                "{name}: {args:?}: {}",
                r.stderr
            );
            let _ = std::fs::remove_file(&out);
        }
        assert_eq!(before, sha256(&p), "{name}: input changed");
    }
}

/// Regression (issue #27 item 9): `timeline` on a damaged AOF exited 0. It prints what it
/// read and exits 1, saying where the damage is.
#[test]
fn timeline_on_a_damaged_aof_exits_1() {
    let t = TempDir::new("hostile-timeline");
    let data = std::fs::read(aof_fixture()).unwrap();
    // Cut inside the last command: redis-check-aof calls it truncated.
    let p = t.path().join("cut.aof");
    std::fs::write(&p, &data[..data.len() - 3]).unwrap();
    let oracle = Command::new("redis-check-aof").arg(&p).output();
    if let Ok(o) = &oracle {
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            !text.contains("AOF is valid") && !text.contains("is valid"),
            "redis-check-aof: {text}"
        );
    } else if std::env::var_os("CI").is_some() {
        panic!("redis-check-aof is not installed and CI is set");
    }
    for extra in [vec![], vec!["--json"], vec!["--command", "SET"]] {
        let mut args = vec!["timeline", p.to_str().unwrap()];
        args.extend(extra.iter().copied());
        let r = run(&args);
        assert_eq!(r.code, Some(1), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("damaged") && r.stderr.contains("offset"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stdout.is_empty(), "{args:?}: nothing printed");
    }
    let r = run(&["timeline", &s(&aof_fixture())]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

/// Regression (issue #27 item 11): `check --threads N` reported a different key count on a
/// damaged file depending on N, and counted keys after the damage (the parsing thread
/// validated strings past a collection a worker found damaged). The count is the number of
/// keys before the damaged one whatever N.
#[test]
fn key_counts_on_a_damaged_file_do_not_depend_on_threads() {
    let t = TempDir::new("hostile-threads");
    let n = 30_000usize;
    let bad_at = 12_345usize;
    let mut entries: Vec<(u8, Vec<u8>, Vec<u8>)> = Vec::with_capacity(2 * n);
    for i in 0..n {
        let members: Vec<i16> = if i == bad_at { vec![5, 3] } else { vec![3, 5] };
        entries.push((
            T_SET_INTSET,
            format!("set:{i:06}").into_bytes(),
            str_enc(&intset(&members, 2)),
        ));
        // Strings are validated by the parsing thread, collections by the others.
        entries.push((T_STRING, format!("str:{i:06}").into_bytes(), str_enc(b"v")));
    }
    let refs: Vec<(u8, &[u8], Vec<u8>)> = entries
        .iter()
        .map(|(t, k, v)| (*t, k.as_slice(), v.clone()))
        .collect();
    let p = t.path().join("many.rdb");
    std::fs::write(&p, rdb9(&refs)).unwrap();
    if have_check_rdb() {
        assert!(
            !redis_check_rdb(&p).ok,
            "redis-check-rdb accepted an unsorted intset"
        );
    }
    for threads in ["1", "2", "4", "8"] {
        for _ in 0..3 {
            let r = run(&["check", "--json", "--threads", threads, &s(&p)]);
            assert_eq!(r.code, Some(1), "{}", r.stderr);
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(
                v["keys"],
                2 * bad_at,
                "--threads {threads}: the keys before the damaged one"
            );
            assert_eq!(
                v["error"]["key"],
                format!("set:{bad_at:06}"),
                "--threads {threads}"
            );
        }
    }
}

/// Regression (issue #27 item 11): a manifest listing itself as an INCR file made `fix`
/// fail with "File exists" (it wrote the manifest over the copy of the "INCR"). Opening the
/// set now refuses it, naming the manifest: exit 1 (the manifest is damaged), in every
/// command.
#[test]
fn a_manifest_listing_itself_is_refused_by_name() {
    let t = TempDir::new("hostile-manifest");
    let dir = t.path().join("appendonlydir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("appendonly.aof.1.incr.aof"),
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("appendonly.aof.manifest"),
        b"file appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.manifest seq 2 type i\n",
    )
    .unwrap();
    let d = s(&dir);
    let out = s(&t.path().join("out"));
    for args in [
        vec!["check", &d],
        vec!["fix", &d, "--output", &out],
        vec!["digest", &d],
        vec!["timeline", &d],
    ] {
        let r = run(&args);
        assert_eq!(r.code, Some(1), "{args:?}: {}", r.stderr);
        let text = format!("{}{}", r.stdout, r.stderr);
        assert!(
            text.contains("appendonly.aof.manifest")
                && text.contains("the manifest itself, listed as an INCR file"),
            "{args:?}: {text}"
        );
        assert!(!text.contains("File exists"), "{text}");
    }
    assert!(!t.path().join("out").exists());
}

/// Regression (issue #27 item 11): when writing `salvage`'s output failed (a full disk),
/// the message named the input. A write error now names the output. The output size is
/// capped with RLIMIT_FSIZE (SIGXFSZ ignored, so the write fails with EFBIG instead).
#[test]
fn a_failed_salvage_write_names_the_output() {
    use std::os::unix::process::CommandExt;
    let t = TempDir::new("hostile-salvage");
    let input = rdb_fixture();
    let out = t.path().join("salvaged.rdb");
    let mut cmd = Command::new(redsafe_bin());
    cmd.arg("salvage").arg(&input).arg("--output").arg(&out);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64 << 10,
                rlim_max: 64 << 10,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("salvaged.rdb"), "{stderr}");
    assert!(!stderr.contains(&s(&input)), "names the input: {stderr}");
    assert!(!out.exists(), "a partial output was left");
}
