//! `redsafe fix` against the real tools: the default repair is byte for byte what
//! `redis-check-aof --fix` (7.0.15) produces and loads into redis-server 7.0.15;
//! `--truncate-to-timestamp` reproduces the fixtures' per-second DEBUG DIGEST timeline across
//! all INCR files (where redis-check-aof refuses every second before the last file);
//! `--salvage` keeps every command after a zeroed 4 KiB page (checked against an independent
//! replay of the workload without the damaged commands); unsafe manifests are refused.

mod aof_common;
mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use aof_common::*;
use common::{RedisServer, TempDir};

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Loads a single old-style AOF file into redis-server 7.0.15; returns DEBUG DIGEST.
fn digest_of_single_aof(path: &Path) -> Result<String, String> {
    let t = TempDir::new("aofload");
    std::fs::copy(path, t.path().join("appendonly.aof")).unwrap();
    let s = RedisServer::start(
        t.path(),
        &["--appendonly", "yes", "--aof-load-truncated", "no"],
    )?;
    Ok(s.digest())
}

/// Loads an AOF directory (the `appendonlydir` itself) into redis-server 7.0.15.
fn digest_of_dir(aofdir: &Path) -> Result<String, String> {
    let t = TempDir::new("aofdirload");
    copy_dir(aofdir, &t.path().join("appendonlydir"));
    common::digest_of_aof_dir(t.path())
}

fn meta(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Damaged single files and directories: `redsafe fix -o` equals `redis-check-aof --fix`
/// byte for byte, and loads.
#[test]
fn default_fix_equals_redis_check_aof_fix_and_loads() {
    if !common::have_redis() {
        return;
    }
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let mut cases: Vec<(PathBuf, Option<String>, Damage)> = Vec::new();
    // single files: plain RESP (2.8), RDB preamble (4.0, 6.2), generated old-style
    for (f, seed) in [
        (
            shared.join("fixtures/servers/redis-2.8.24/appendonly.aof"),
            1u64,
        ),
        (
            shared.join("fixtures/servers/redis-4.0.14/appendonly.aof"),
            2,
        ),
        (
            shared.join("fixtures/servers/redis-6.2.16/appendonly.aof"),
            3,
        ),
        (project_aof("old-style-preamble.aof"), 4),
    ] {
        let data = std::fs::read(&f).unwrap();
        let from = resp_start(&data);
        let recs = split_resp(&data, from);
        let mut rng = Rng(seed);
        let execs: Vec<&Rec> = recs.iter().filter(|r| r.name == b"EXEC").collect();
        let mut d = vec![
            Damage::Cut(data.len() - 1),
            Damage::Cut(from + 1),
            Damage::Zero(data.len() - 37, 37),
        ];
        for _ in 0..2 {
            let r = &recs[rng.below(recs.len())];
            d.push(Damage::Cut((r.start + r.end) / 2));
        }
        if let Some(x) = execs.get(rng.below(execs.len().max(1))) {
            d.push(Damage::Cut(x.start + 6)); // inside EXEC: the whole MULTI goes
        }
        for dm in d {
            cases.push((f.clone(), None, dm));
        }
    }
    // directories: damage the last INCR
    for dir in [
        shared.join("fixtures/servers/redis-7.0.15/appendonlydir"),
        project_aof("preamble-ts/appendonlydir"),
        project_aof("resp-ts/appendonlydir"),
    ] {
        let incr = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with(".incr.aof"))
            .unwrap();
        let data = std::fs::read(dir.join(&incr)).unwrap();
        let recs = split_resp(&data, 0);
        let ts = recs.iter().find(|r| r.annotation).unwrap();
        for dm in [
            Damage::Cut(data.len() * 2 / 3),
            Damage::Cut(ts.start + 3),
            Damage::Set(data.len() / 2, b'!'),
        ] {
            cases.push((dir.clone(), Some(incr.clone()), dm));
        }
    }
    let mut loaded = 0;
    for (src, victim, dm) in &cases {
        let t = TempDir::new("fixcmp");
        let (a, b, out) = match victim {
            None => {
                let data = dm.apply(&std::fs::read(src).unwrap());
                let a = t.path().join("a/appendonly.aof");
                let b = t.path().join("b/appendonly.aof");
                for p in [&a, &b] {
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(p, &data).unwrap();
                }
                (a, b, t.path().join("fixed.aof"))
            }
            Some(v) => {
                let a = t.path().join("a");
                let b = t.path().join("b");
                for p in [&a, &b] {
                    copy_dir(src, p);
                    let data = std::fs::read(p.join(v)).unwrap();
                    std::fs::write(p.join(v), dm.apply(&data)).unwrap();
                }
                (a, b, t.path().join("fixed"))
            }
        };
        let oracle_path = if victim.is_some() {
            a.join("appendonly.aof.manifest")
        } else {
            a.clone()
        };
        let o = redis_check_aof(&["--fix"], &oracle_path, Some("y\n"));
        let (code, stdout, stderr) =
            redsafe(&[os("fix"), b.as_os_str(), os("-o"), out.as_os_str()]);
        let ctx = format!(
            "{} {:?} {:?}\nredis: {}\nredsafe: {stdout}{stderr}",
            src.display(),
            victim,
            dm,
            o.output
        );
        let fixable = o.exit == Some(0);
        assert_eq!(code == 0, fixable, "{ctx}");
        if !fixable {
            assert!(!out.exists(), "nothing written when refused: {ctx}");
            continue;
        }
        // byte-identical to redis-check-aof --fix
        match victim {
            None => assert!(
                std::fs::read(&a).unwrap() == std::fs::read(&out).unwrap(),
                "{ctx}"
            ),
            Some(_) => {
                for e in std::fs::read_dir(&a).unwrap() {
                    let e = e.unwrap();
                    assert!(
                        std::fs::read(e.path()).unwrap()
                            == std::fs::read(out.join(e.file_name())).unwrap(),
                        "{:?} differs: {ctx}",
                        e.file_name()
                    );
                }
            }
        }
        // the input was not touched
        match victim {
            None => assert_eq!(
                std::fs::read(&b).unwrap(),
                dm.apply(&std::fs::read(src).unwrap())
            ),
            Some(v) => assert_eq!(
                std::fs::read(b.join(v)).unwrap(),
                dm.apply(&std::fs::read(src.join(v)).unwrap())
            ),
        }
        // loads into redis-server (every other case, to keep the run short)
        if loaded % 2 == 0 || victim.is_some() {
            let d = match victim {
                None => digest_of_single_aof(&out),
                Some(_) => digest_of_dir(&out),
            };
            assert!(
                d.is_ok(),
                "fixed output does not load: {ctx}\n{}",
                d.unwrap_err()
            );
        }
        loaded += 1;
    }
    assert!(loaded >= 20, "too few fixable cases: {loaded}");
}

/// `--truncate-to-timestamp T` for every second of the fixtures' timelines gives the digest
/// the server had at the end of that second, in whichever INCR file the second falls.
#[test]
fn truncate_to_timestamp_reproduces_timeline_across_incr_files() {
    if !common::have_redis() {
        return;
    }
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let sets = [
        (
            shared.join("fixtures/multi-incr/redis-7.0.15/appendonlydir"),
            meta(&shared.join("fixtures/multi-incr/redis-7.0.15/meta.json"))["timeline"].clone(),
        ),
        (
            shared.join("fixtures/servers/redis-7.0.15/appendonlydir"),
            meta(&shared.join("fixtures/servers/redis-7.0.15/meta.json"))["aof"]["timeline"]
                .clone(),
        ),
    ];
    let mut earlier_files = 0;
    for (dir, timeline) in sets {
        for point in timeline.as_array().unwrap() {
            let second = point["second"].as_i64().unwrap();
            let want = point["digest"].as_str().unwrap();
            let t = TempDir::new("pitr");
            let out = t.path().join("out");
            let before: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| {
                    let p = e.unwrap().path();
                    let d = std::fs::read(&p).unwrap();
                    (p, d)
                })
                .collect();
            let (code, stdout, stderr) = redsafe(&[
                os("fix"),
                dir.as_os_str(),
                os("--truncate-to-timestamp"),
                os(&second.to_string()),
                os("-o"),
                out.as_os_str(),
                os("--json"),
            ]);
            assert_eq!(code, 0, "{second}: {stdout}{stderr}");
            let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            let got = digest_of_dir(&out).unwrap();
            assert_eq!(got, want, "{} at {second}: {stdout}", dir.display());
            for (p, d) in before {
                assert_eq!(std::fs::read(&p).unwrap(), d, "source modified");
            }
            // Where redis-check-aof can do it (the cut is in the last file), the files
            // are byte-identical to its result.
            let removed = j["actions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["action"] == "remove");
            if removed {
                earlier_files += 1;
                continue;
            }
            let r = t.path().join("redis");
            copy_dir(&dir, &r);
            let o = redis_check_aof(
                &["--truncate-to-timestamp", &second.to_string()],
                &r.join("appendonly.aof.manifest"),
                None,
            );
            if o.exit != Some(0) {
                // redis-check-aof refuses a cut at the very start of a file ("has nothing
                // before timestamp") even when earlier files hold data; redsafe empties it.
                assert!(
                    o.output.contains("has nothing before timestamp"),
                    "{}",
                    o.output
                );
                earlier_files += 1;
                continue;
            }
            for e in std::fs::read_dir(&r).unwrap() {
                let e = e.unwrap();
                assert!(
                    std::fs::read(e.path()).unwrap()
                        == std::fs::read(out.join(e.file_name())).unwrap(),
                    "{:?} differs from redis-check-aof at {second}",
                    e.file_name()
                );
            }
        }
    }
    assert!(
        earlier_files >= 3,
        "the multi-INCR timeline must reach earlier files"
    );
}

/// Replays `recs` of `data` (commands only) over a client, skipping `drop`.
fn replay(c: &mut common::Client, data: &[u8], recs: &[Rec]) {
    let mut cmds: Vec<Vec<Vec<u8>>> = vec![vec![b"SELECT".to_vec(), b"0".to_vec()]];
    for r in recs.iter().filter(|r| !r.annotation) {
        cmds.push(
            r.args
                .iter()
                .map(|&(s, l)| data[s..s + l].to_vec())
                .collect(),
        );
    }
    for chunk in cmds.chunks(500) {
        c.pipeline(chunk).unwrap();
    }
}

/// Records of `recs` that survive a damaged byte range: those not touching it, minus every
/// transaction (MULTI..EXEC) that touches it.
fn survivors(recs: &[Rec], bad: std::ops::Range<usize>) -> Vec<Rec> {
    let hit = |r: &Rec| r.start < bad.end && r.end > bad.start;
    let mut out = Vec::new();
    let mut i = 0;
    while i < recs.len() {
        if recs[i].name == b"MULTI" {
            let j = (i..recs.len()).find(|&j| recs[j].name == b"EXEC").unwrap();
            if !recs[i..=j].iter().any(hit) {
                out.extend_from_slice(&recs[i..=j]);
            }
            i = j + 1;
            continue;
        }
        if !hit(&recs[i]) {
            out.push(recs[i].clone());
        }
        i += 1;
    }
    out
}

/// `--salvage` on a set whose INCR file has a zeroed 4 KiB page keeps every command after
/// the page: loading the output gives the digest of the workload replayed (with an
/// independent RESP splitter and a plain client) without the damaged commands.
#[test]
fn salvage_zeroed_page_keeps_everything_after_it() {
    if !common::have_redis() {
        return;
    }
    let Some(shared) = common::shared_dir() else {
        return;
    };
    struct Case {
        dir: PathBuf,
        victim: &'static str,
        page: usize,
    }
    let cases = [
        // the last INCR of a generated set (transactions, binary values with RESP inside)
        Case {
            dir: project_aof("preamble-ts/appendonlydir"),
            victim: "appendonly.aof.2.incr.aof",
            page: 25,
        },
        Case {
            dir: project_aof("preamble-ts/appendonlydir"),
            victim: "appendonly.aof.2.incr.aof",
            page: 40,
        },
        // a RESP BASE (not the last file): redis-check-aof --fix refuses it
        Case {
            dir: project_aof("resp-ts/appendonlydir"),
            victim: "appendonly.aof.2.base.aof",
            page: 6,
        },
        // the first of four INCR files
        Case {
            dir: shared.join("fixtures/multi-incr/redis-7.0.15/appendonlydir"),
            victim: "appendonly.aof.1.incr.aof",
            page: 100,
        },
    ];
    for case in cases {
        let t = TempDir::new("salvage");
        let src = t.path().join("appendonlydir");
        copy_dir(&case.dir, &src);
        let original = std::fs::read(src.join(case.victim)).unwrap();
        // The first page from the one suggested that holds the start of a record: zeros
        // that fall entirely inside a long value are invisible to any checker.
        let all = split_resp(&original, 0);
        let page = (case.page..)
            .find(|p| {
                all.iter()
                    .any(|r| r.start / 4096 == *p && r.start % 4096 > 16)
            })
            .unwrap();
        let bad = page * 4096..page * 4096 + 4096;
        assert!(bad.end < original.len());
        let dm = Damage::Zero(bad.start, 4096);
        std::fs::write(src.join(case.victim), dm.apply(&original)).unwrap();
        // redis-check-aof cannot repair it without losing the rest
        let o = redis_check_aof(&[], &src.join("appendonly.aof.manifest"), None);
        assert_ne!(o.exit, Some(0));
        let out = t.path().join("out");
        let (code, stdout, stderr) = redsafe(&[
            os("fix"),
            src.as_os_str(),
            os("--salvage"),
            os("-o"),
            out.as_os_str(),
            os("--json"),
        ]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let losses = j["losses"].as_array().unwrap();
        assert_eq!(losses.len(), 1, "{stdout}");
        let l = &losses[0];
        assert_eq!(l["kind"], "damaged");
        assert_eq!(l["name"], case.victim);
        // The reported range covers the page and ends where the next intact record starts.
        let recs = split_resp(&original, 0);
        let keep = survivors(&recs, bad.clone());
        let (ls, le) = (
            l["start"].as_u64().unwrap() as usize,
            l["end"].as_u64().unwrap() as usize,
        );
        assert!(ls <= bad.start && le >= bad.end, "{l}");
        assert!(
            keep.iter().all(|r| r.end <= ls || r.start >= le),
            "a kept record inside the loss: {l}"
        );
        // Expected state: earlier files as they are, the victim without the damaged
        // commands, later files as they are; each file starts in db 0 as Redis loads it.
        let set = redsafe::aof::AofSet::open(&case.dir).unwrap();
        let sdir = t.path().join("expected");
        std::fs::create_dir_all(&sdir).unwrap();
        let base = &set.parts[0];
        // An RDB BASE is loaded by the server as its dump file (its keys expire in 2100).
        let rdb_base = base.rdb && base.name_lossy() != case.victim;
        if rdb_base {
            std::fs::copy(&base.path, sdir.join("dump.rdb")).unwrap();
        }
        let server = RedisServer::start(&sdir, &["--dbfilename", "dump.rdb"]).unwrap();
        let mut c = server.client();
        for p in &set.parts {
            if p.rdb {
                assert!(rdb_base, "damage inside an RDB is not salvaged");
                continue;
            }
            if p.name_lossy() == case.victim {
                replay(&mut c, &original, &keep);
            } else {
                let data = std::fs::read(&p.path).unwrap();
                let recs = split_resp(&data, 0);
                replay(&mut c, &data, &recs);
            }
        }
        let want = server.digest();
        drop(server);
        let got = digest_of_dir(&out).unwrap();
        assert_eq!(got, want, "{}: {stdout}", case.victim);
        // and Redis refuses the damaged input outright
        let t2 = TempDir::new("salvage-load");
        copy_dir(&src, &t2.path().join("appendonlydir"));
        assert!(common::digest_of_aof_dir(t2.path()).is_err());
    }
}

fn write_manifest_dir(t: &Path, manifest: &str, files: &[&str]) -> PathBuf {
    let d = t.join("appendonlydir");
    std::fs::create_dir_all(&d).unwrap();
    for f in files {
        std::fs::write(d.join(f), b"*1\r\n$4\r\nPING\r\n").unwrap();
    }
    std::fs::write(d.join("appendonly.aof.manifest"), manifest).unwrap();
    d
}

fn listing(p: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        if path.is_dir() {
            v.extend(listing(&path));
        } else {
            v.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
        }
    }
    v.sort();
    v
}

/// Manifests naming files outside the directory, or a file twice, are refused with exit 1
/// by check and fix, and nothing is written or changed.
#[test]
fn unsafe_manifests_are_refused() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("traversal", "file ../outside.aof seq 1 type i\n", &[]),
        ("absolute", "file /etc/passwd seq 1 type b\n", &[]),
        (
            "quoted-traversal",
            "file \"..\\x2foutside.aof\" seq 1 type i\n",
            &[],
        ),
        ("dotdot", "file .. seq 1 type b\n", &[]),
        ("backslash", "file a\\b.aof seq 1 type i\n", &[]),
        (
            "duplicate",
            "file a.1.incr.aof seq 1 type b\nfile a.1.incr.aof seq 2 type i\n",
            &["a.1.incr.aof"],
        ),
        (
            "duplicate-incr",
            "file a.1.incr.aof seq 1 type i\nfile a.1.incr.aof seq 2 type i\n",
            &["a.1.incr.aof"],
        ),
    ];
    for (name, manifest, files) in cases {
        let t = TempDir::new("unsafe");
        std::fs::write(t.path().join("outside.aof"), b"*1\r\n$4\r\nPING\r\n").unwrap();
        let d = write_manifest_dir(t.path(), manifest, files);
        let before = listing(t.path());
        let (code, out, err) = redsafe(&[os("check"), d.as_os_str()]);
        assert_eq!(code, 1, "{name}: check: {out}{err}");
        let o = t.path().join("out");
        for args in [
            vec![os("fix"), d.as_os_str(), os("-o"), o.as_os_str()],
            vec![os("fix"), d.as_os_str(), os("--in-place"), os("--yes")],
            vec![
                os("fix"),
                d.as_os_str(),
                os("--salvage"),
                os("-o"),
                o.as_os_str(),
            ],
        ] {
            let (code, out, err) = redsafe(&args);
            assert_eq!(code, 1, "{name}: {args:?}: {out}{err}");
            assert_eq!(
                listing(t.path()),
                before,
                "{name}: {args:?} wrote something"
            );
        }
    }
    // A symbolic link to a file outside the directory.
    #[cfg(unix)]
    {
        let t = TempDir::new("unsafe-link");
        std::fs::write(t.path().join("outside.aof"), b"*1\r\n$4\r\nPING\r\n").unwrap();
        let d = write_manifest_dir(t.path(), "file a.1.incr.aof seq 1 type i\n", &[]);
        std::os::unix::fs::symlink(t.path().join("outside.aof"), d.join("a.1.incr.aof")).unwrap();
        let before = listing(t.path());
        let (code, ..) = redsafe(&[os("check"), d.as_os_str()]);
        assert_eq!(code, 1);
        let o = t.path().join("out");
        let (code, ..) = redsafe(&[os("fix"), d.as_os_str(), os("-o"), o.as_os_str()]);
        assert_eq!(code, 1);
        assert_eq!(listing(t.path()), before);
    }
}

/// Damage redis-check-aof cannot fix is refused the same way (exit 1, nothing written), and
/// --in-place keeps a backup identical to the input.
#[test]
fn refusals_and_in_place() {
    if !common::have_redis() {
        return;
    }
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let t = TempDir::new("refuse");
    // damaged middle INCR
    let d = t.path().join("mid/appendonlydir");
    copy_dir(
        &shared.join("fixtures/multi-incr/redis-7.0.15/appendonlydir"),
        &d,
    );
    let v = d.join("appendonly.aof.2.incr.aof");
    let data = std::fs::read(&v).unwrap();
    std::fs::write(&v, Damage::Cut(data.len() / 2).apply(&data)).unwrap();
    let o = redis_check_aof(&["--fix"], &d.join("appendonly.aof.manifest"), Some("y\n"));
    assert!(o.output.contains("not the last file"), "{}", o.output);
    let before = listing(t.path());
    let out = t.path().join("out");
    let (code, s, e) = redsafe(&[os("fix"), d.as_os_str(), os("-o"), out.as_os_str()]);
    assert_eq!(code, 1, "{s}{e}");
    assert!(e.contains("not the last file"), "{e}");
    assert_eq!(listing(t.path()), before);
    // damaged RDB preamble
    let f = t.path().join("pre/appendonly.aof");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    let data = std::fs::read(project_aof("old-style-preamble.aof")).unwrap();
    std::fs::write(&f, Damage::Xor(300, 0x55).apply(&data)).unwrap();
    let (code, s, e) = redsafe(&[os("fix"), f.as_os_str(), os("-o"), out.as_os_str()]);
    assert_eq!(code, 1, "{s}{e}");
    assert!(!out.exists());
    // in place, with a backup
    let f = t.path().join("ip/appendonly.aof");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    let cut = Damage::Cut(data.len() - 10).apply(&data);
    std::fs::write(&f, &cut).unwrap();
    let (code, s, e) = redsafe(&[os("fix"), f.as_os_str(), os("--in-place"), os("--json")]);
    assert_eq!(code, 0, "{s}{e}");
    let j: serde_json::Value = serde_json::from_str(&s).unwrap();
    let backup = PathBuf::from(j["backup"].as_str().unwrap());
    assert_eq!(std::fs::read(&backup).unwrap(), cut);
    let o = redis_check_aof(&[], &f, None);
    assert_eq!(o.exit, Some(0), "{}", o.output);
    assert!(digest_of_single_aof(&f).is_ok());
    // the same for a directory
    let d = t.path().join("ipdir/appendonlydir");
    copy_dir(&project_aof("resp-ts/appendonlydir"), &d);
    let v = d.join("appendonly.aof.2.incr.aof");
    let orig = std::fs::read(&v).unwrap();
    std::fs::write(&v, Damage::Cut(orig.len() - 5).apply(&orig)).unwrap();
    let (code, s, e) = redsafe(&[os("fix"), d.as_os_str(), os("--in-place"), os("--json")]);
    assert_eq!(code, 0, "{s}{e}");
    let j: serde_json::Value = serde_json::from_str(&s).unwrap();
    let backup = PathBuf::from(j["backup"].as_str().unwrap());
    assert_eq!(
        std::fs::read(backup.join("appendonly.aof.2.incr.aof")).unwrap(),
        Damage::Cut(orig.len() - 5).apply(&orig)
    );
    let o = redis_check_aof(&[], &d.join("appendonly.aof.manifest"), None);
    assert_eq!(o.exit, Some(0), "{}", o.output);
    assert!(digest_of_dir(&d).is_ok());
}
