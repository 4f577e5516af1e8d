//! Helpers shared by the AOF integration tests: running the real `redis-check-aof` (the
//! oracle) and redsafe, copying AOF directories, and choosing damage to inflict.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use redsafe::aof::{AofItem, AofReader};

/// What `redis-check-aof` (7.0.15) said about a path.
#[derive(Debug, Clone)]
pub struct Oracle {
    /// Exit code; `None` when killed by a signal (it aborts on huge lengths).
    pub exit: Option<i32>,
    /// `AOF analyzed:` lines: (filename, size, ok_up_to, ok_up_to_line, diff).
    pub analyzed: Vec<(String, u64, u64, u64, u64)>,
    /// `RDB preamble of AOF file is not sane`.
    pub not_sane: bool,
    /// Took the input for a manifest.
    pub multi_part: bool,
    /// Its whole output.
    pub output: String,
}

impl Oracle {
    /// The `AOF analyzed` line of the damaged file (diff > 0), if any.
    pub fn damaged(&self) -> Option<&(String, u64, u64, u64, u64)> {
        self.analyzed.iter().find(|a| a.4 > 0)
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let i = line.find(key)? + key.len();
    let rest = &line[i..];
    Some(rest.split(',').next().unwrap_or(rest).trim())
}

/// Runs `redis-check-aof [args] path` with stdin closed (so `--fix` aborts unless `yes`).
pub fn redis_check_aof(args: &[&str], path: &Path, stdin: Option<&str>) -> Oracle {
    let mut cmd = Command::new("redis-check-aof");
    cmd.args(args)
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("run redis-check-aof");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut si = child.stdin.take().unwrap();
        let _ = si.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("wait redis-check-aof");
    let output =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut analyzed = Vec::new();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("AOF analyzed: ") {
            let num = |k| field(rest, k).and_then(|v| v.parse::<u64>().ok()).unwrap();
            analyzed.push((
                field(rest, "filename=").unwrap_or("").to_string(),
                num("size="),
                num("ok_up_to="),
                num("ok_up_to_line="),
                num("diff="),
            ));
        }
    }
    Oracle {
        exit: out.status.code(),
        // "not sane", or redis-check-rdb's own abort ("RDB ERROR DETECTED", then
        // "Terminating server after rdb file reading failure") on some corruptions.
        not_sane: output.contains("RDB preamble of AOF file is not sane")
            || output.contains("RDB ERROR DETECTED"),
        multi_part: output.contains("Start checking Multi Part AOF"),
        analyzed,
        output,
    }
}

/// Runs the redsafe binary; returns (exit code, stdout, stderr).
pub fn redsafe(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_redsafe"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redsafe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `redsafe check --json path`: (exit code, JSON).
pub fn redsafe_check(path: &Path) -> (i32, serde_json::Value) {
    let (code, out, err) = redsafe(&["check".as_ref(), "--json".as_ref(), path.as_os_str()]);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!(
            "bad JSON from redsafe check {}: {e}\n{out}\n{err}",
            path.display()
        )
    });
    (code, v)
}

/// Copies a directory's regular files (not recursive) into `dst` (created), writable.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::write(dst.join(e.file_name()), std::fs::read(e.path()).unwrap()).unwrap();
        }
    }
}

/// The project's generated AOF fixtures.
pub fn project_aof(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/aof")
        .join(rel)
}

/// Offset where the RESP part of a file starts (after an RDB preamble, if any).
pub fn resp_start(data: &[u8]) -> usize {
    if redsafe::aof::set::has_rdb_magic(data) {
        let r = redsafe::rdb::check_rdb(data, 0, Default::default());
        r.end_offset.expect("fixture RDB part is valid") as usize
    } else {
        0
    }
}

/// A record of the RESP part: (start, end, is_annotation, name, in_multi).
#[derive(Debug, Clone)]
pub struct Rec {
    pub start: usize,
    pub end: usize,
    pub annotation: bool,
    pub name: Vec<u8>,
    pub multi: bool,
    /// Offsets of each argument payload (start, len).
    pub args: Vec<(usize, usize)>,
}

/// The records of a valid RESP region, found with a tiny independent RESP splitter (not
/// redsafe's reader): `*n`, then n × `$len` + payload; `#` lines.
pub fn split_resp(data: &[u8], from: usize) -> Vec<Rec> {
    fn line_end(d: &[u8], p: usize) -> usize {
        p + d[p..].windows(2).position(|w| w == b"\r\n").unwrap()
    }
    let mut out = Vec::new();
    let mut p = from;
    let mut in_multi = false;
    while p < data.len() {
        if data[p] == b'#' {
            let e = p + data[p..].iter().position(|&c| c == b'\n').unwrap() + 1;
            out.push(Rec {
                start: p,
                end: e,
                annotation: true,
                name: vec![],
                multi: in_multi,
                args: vec![],
            });
            p = e;
            continue;
        }
        assert_eq!(data[p], b'*', "fixture not RESP at {p}");
        let le = line_end(data, p);
        let n: usize = std::str::from_utf8(&data[p + 1..le])
            .unwrap()
            .parse()
            .unwrap();
        let mut q = le + 2;
        let mut args = Vec::new();
        for _ in 0..n {
            let le = line_end(data, q);
            let len: usize = std::str::from_utf8(&data[q + 1..le])
                .unwrap()
                .parse()
                .unwrap();
            args.push((le + 2, len));
            q = le + 2 + len + 2;
        }
        let name = data[args[0].0..args[0].0 + args[0].1].to_ascii_uppercase();
        let multi_here = in_multi || name == b"MULTI";
        if name == b"MULTI" {
            in_multi = true;
        }
        if name == b"EXEC" {
            in_multi = false;
        }
        out.push(Rec {
            start: p,
            end: q,
            annotation: false,
            name,
            multi: multi_here,
            args,
        });
        p = q;
    }
    out
}

/// Cross-checks the independent splitter against redsafe's reader on a valid file.
pub fn assert_reader_agrees(data: &[u8], from: usize, recs: &[Rec]) {
    let items: Vec<(u64, u64)> = AofReader::new(&data[from..], from as u64)
        .map(|i| {
            let i = i.unwrap();
            match i {
                AofItem::Command(c) => (c.offset, c.end),
                AofItem::Annotation(a) => (a.offset, a.end),
            }
        })
        .collect();
    let theirs: Vec<(u64, u64)> = recs
        .iter()
        .map(|r| (r.start as u64, r.end as u64))
        .collect();
    assert_eq!(items, theirs);
}

#[path = "../common/rng.rs"]
mod rng;
#[allow(unused_imports)]
pub use rng::Rng;

/// A way to damage a file.
#[derive(Debug, Clone)]
pub enum Damage {
    /// Keep the first n bytes.
    Cut(usize),
    /// Set byte i to v.
    Set(usize, u8),
    /// XOR byte i with m.
    Xor(usize, u8),
    /// Zero `len` bytes at i.
    Zero(usize, usize),
}

impl Damage {
    pub fn apply(&self, d: &[u8]) -> Vec<u8> {
        let mut v = d.to_vec();
        match *self {
            Damage::Cut(n) => v.truncate(n),
            Damage::Set(i, b) => {
                if i < v.len() {
                    v[i] = b
                }
            }
            Damage::Xor(i, m) => {
                if i < v.len() {
                    v[i] ^= m
                }
            }
            Damage::Zero(i, n) => {
                let e = (i + n).min(v.len());
                for b in &mut v[i.min(e)..e] {
                    *b = 0
                }
            }
        }
        v
    }
}

/// Damage cases for a file: cuts inside commands, annotations, transactions and the RDB
/// preamble; byte flips on every part of a record; a zeroed 4 KiB page. `n` scales how many
/// records are sampled.
pub fn damage_cases(data: &[u8], n: usize, seed: u64) -> Vec<Damage> {
    let from = resp_start(data);
    let recs = split_resp(data, from);
    let mut rng = Rng(seed | 1);
    let mut v = vec![Damage::Cut(0), Damage::Cut(1), Damage::Cut(data.len() - 1)];
    if from > 0 {
        for c in [3, 9, from / 2, from - 8, from - 1, from, from + 1] {
            v.push(Damage::Cut(c));
        }
        v.push(Damage::Xor(from / 2, 0x10));
        v.push(Damage::Xor(from - 3, 0x01));
    }
    let cmds: Vec<&Rec> = recs.iter().filter(|r| !r.annotation).collect();
    for _ in 0..n {
        if cmds.is_empty() {
            break;
        }
        let r = cmds[rng.below(cmds.len())];
        let (s, e) = (r.start, r.end);
        for c in [s, s + 1, s + 3, (s + e) / 2, e - 2, e - 1] {
            v.push(Damage::Cut(c));
        }
        let (ap, al) = r.args[rng.below(r.args.len())];
        v.push(Damage::Set(s, b'$'));
        v.push(Damage::Xor(s + 1, 0x01));
        v.push(Damage::Set(ap - 4.min(ap), b'+'));
        v.push(Damage::Set(ap + al, b'\n'));
        v.push(Damage::Set(ap + al + 1, 0));
        if al > 0 {
            v.push(Damage::Xor(ap + rng.below(al), 0x20));
        }
        v.push(Damage::Set(s, b'#'));
        v.push(Damage::Set(s, b'S'));
    }
    for a in recs.iter().filter(|r| r.annotation).take(n) {
        for c in [a.start, a.start + 1, a.start + 5, a.end - 1] {
            v.push(Damage::Cut(c));
        }
        v.push(Damage::Set(a.start + 4, b'x'));
        v.push(Damage::Set(a.start, b'x'));
    }
    // Transactions: cut inside, at and inside EXEC, and break the EXEC.
    let execs: Vec<&Rec> = recs.iter().filter(|r| r.name == b"EXEC").collect();
    for _ in 0..n.min(execs.len()).min(4) {
        let x = execs[rng.below(execs.len())];
        v.push(Damage::Cut(x.start));
        v.push(Damage::Cut(x.start + 5));
        v.push(Damage::Cut(x.end - 1));
        v.push(Damage::Cut(x.start - 3));
        v.push(Damage::Set(x.args[0].0, b'X'));
        v.push(Damage::Set(x.args[0].0 + 1, b'U'));
    }
    let multis: Vec<&Rec> = recs.iter().filter(|r| r.name == b"MULTI").collect();
    for _ in 0..n.min(multis.len()).min(3) {
        let m = multis[rng.below(multis.len())];
        v.push(Damage::Cut(m.end + 2));
        // MULTI -> NULTI: its EXEC has no MULTI
        v.push(Damage::Set(m.args[0].0, b'N'));
    }
    if data.len() > from + 3 * 4096 {
        let page = (from + (data.len() - from) / 2) / 4096 * 4096;
        v.push(Damage::Zero(page, 4096));
        v.push(Damage::Zero(data.len() - 100, 100));
    }
    v.retain(|d| match *d {
        Damage::Cut(c) => c <= data.len(),
        Damage::Set(i, _) | Damage::Xor(i, _) | Damage::Zero(i, _) => i < data.len(),
    });
    v
}

/// Compares `redsafe check --json` (exit `code`, JSON `j`) with redis-check-aof's output on
/// the same input: verdict, every analyzed file's size/ok_up_to/ok_up_to_line, the damaged
/// file and whether it is the last one.
pub fn compare_same(oracle: &Oracle, code: i32, j: &serde_json::Value) -> Result<(), String> {
    let ok = j["ok"].as_bool().ok_or("no ok field")?;
    let oexit = oracle.exit.ok_or("oracle killed")?;
    if (oexit == 0) != ok || (code == 0) != ok {
        return Err(format!(
            "verdict differs (oracle exit {oexit}, redsafe exit {code})"
        ));
    }
    let files = j["files"].as_array().ok_or("no files")?;
    for a in &oracle.analyzed {
        let name = Path::new(&a.0)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        match files.iter().find(|f| f["name"] == name.as_str()) {
            Some(f) if f["ok_up_to"] == a.2 && f["ok_up_to_line"] == a.3 && f["size"] == a.1 => {}
            other => {
                return Err(format!(
                    "file {name} differs: oracle {a:?}, redsafe {other:?}"
                ))
            }
        }
    }
    if ok {
        return Ok(());
    }
    if oracle.not_sane {
        return if j["verdict"] == "rdb-damaged" {
            Ok(())
        } else {
            Err("expected rdb-damaged".into())
        };
    }
    if oracle.output.contains("FATAL AOF MANIFEST FILE ERROR") {
        return if j["verdict"] == "manifest-invalid" {
            Ok(())
        } else {
            Err("expected manifest-invalid".into())
        };
    }
    if oracle.output.contains("Cannot open file") {
        return if j["verdict"] == "missing" {
            Ok(())
        } else {
            Err("expected missing".into())
        };
    }
    let d = oracle
        .damaged()
        .ok_or_else(|| format!("oracle failed without ok_up_to:\n{}", oracle.output))?;
    let dname = Path::new(&d.0)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    if j["damaged_file"] != dname.as_str() || j["ok_up_to"] != d.2 || j["ok_up_to_line"] != d.3 {
        return Err(format!("damaged file/ok_up_to differ: oracle {d:?}"));
    }
    let last = files
        .last()
        .map(|f| f["name"] == dname.as_str())
        .unwrap_or(false);
    let want = if last {
        "truncatable"
    } else {
        "damaged-not-last"
    };
    if j["verdict"] != want {
        return Err(format!("expected verdict {want}"));
    }
    Ok(())
}
