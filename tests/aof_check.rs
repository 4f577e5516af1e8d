//! `redsafe check` on AOFs against the real `redis-check-aof` (7.0.15): for every fixture
//! AOF (servers 2.8 to 8.8, Valkey, multi-INCR sets, and the project's generated AOFs with
//! `#TS:`, MULTI/EXEC and binary values, with and without an RDB preamble), damaged in many
//! ways (cuts inside commands, annotations, transactions and the preamble; byte flips; zeroed
//! pages), the verdict and `ok_up_to` (and `ok_up_to_line`) must be redis-check-aof's.

mod aof_common;
mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use aof_common::*;

/// How the oracle is run for a target.
#[derive(Clone, Copy, PartialEq)]
enum OracleOn {
    /// On the same input as redsafe (single file or manifest).
    Same,
    /// On the damaged file alone: the set's RDB BASE is newer than redis-check-aof 7.0 reads
    /// (RDB ≥ 11), so the INCR file is checked as the plain RESP file it is.
    VictimAlone,
}

#[derive(Clone)]
struct Target {
    name: String,
    /// A single file, or a directory with a manifest.
    src: PathBuf,
    /// File names (inside `src` when a directory) to damage.
    victims: Vec<String>,
    oracle: OracleOn,
}

fn targets() -> Vec<Target> {
    let mut t = Vec::new();
    for d in common::server_fixture_dirs() {
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let single = d.join("appendonly.aof");
        if single.is_file() {
            t.push(Target {
                name: name.clone(),
                src: single,
                victims: vec!["appendonly.aof".into()],
                oracle: OracleOn::Same,
            });
            continue;
        }
        let dir = d.join("appendonlydir");
        if !dir.is_dir() {
            continue;
        }
        let m = redsafe::aof::AofSet::open(&dir).unwrap();
        let base_v = m.parts[0].rdb_version();
        let newer = base_v.is_some_and(|v| v > 10);
        let mut victims: Vec<String> = m.parts.iter().map(|p| p.name_lossy()).collect();
        if newer {
            victims.retain(|v| v.ends_with(".incr.aof"));
        }
        t.push(Target {
            name,
            src: dir,
            victims,
            oracle: if newer {
                OracleOn::VictimAlone
            } else {
                OracleOn::Same
            },
        });
    }
    if let Some(s) = common::shared_dir() {
        for d in ["redis-7.0.15", "redis-8.8-unstable"] {
            let dir = s.join("fixtures/multi-incr").join(d).join("appendonlydir");
            let newer = d.starts_with("redis-8");
            t.push(Target {
                name: format!("multi-incr/{d}"),
                src: dir,
                victims: if newer {
                    vec![
                        "appendonly.aof.2.incr.aof".into(),
                        "appendonly.aof.4.incr.aof".into(),
                    ]
                } else {
                    vec![
                        "appendonly.aof.1.base.rdb".into(),
                        "appendonly.aof.2.incr.aof".into(),
                        "appendonly.aof.4.incr.aof".into(),
                    ]
                },
                oracle: if newer {
                    OracleOn::VictimAlone
                } else {
                    OracleOn::Same
                },
            });
        }
        t.push(Target {
            name: "redis-assets/rdb-preamble.aof".into(),
            src: s.join("fixtures/redis-assets/rdb-preamble.aof"),
            victims: vec!["rdb-preamble.aof".into()],
            oracle: OracleOn::Same,
        });
    }
    for g in ["preamble-ts", "resp-ts"] {
        let dir = project_aof(g).join("appendonlydir");
        let set = redsafe::aof::AofSet::open(&dir).unwrap();
        t.push(Target {
            name: format!("generated/{g}"),
            src: dir,
            victims: set.parts.iter().map(|p| p.name_lossy()).collect(),
            oracle: OracleOn::Same,
        });
    }
    t.push(Target {
        name: "generated/old-style-preamble.aof".into(),
        src: project_aof("old-style-preamble.aof"),
        victims: vec!["old-style-preamble.aof".into()],
        oracle: OracleOn::Same,
    });
    t
}

trait RdbVersion {
    fn rdb_version(&self) -> Option<u32>;
}
impl RdbVersion for redsafe::aof::AofPart {
    fn rdb_version(&self) -> Option<u32> {
        if !self.rdb {
            return None;
        }
        let d = std::fs::read(&self.path).ok()?;
        redsafe::rdb::reader::Header::parse(&d, 0)
            .ok()
            .map(|h| h.version)
    }
}

struct Job {
    target: Target,
    victim: String,
    damage: Damage,
}

enum Outcome {
    Agree,
    Skip(String),
    Mismatch(String),
}

fn run_job(job: &Job) -> Outcome {
    let t = common::TempDir::new("aofchk");
    let is_dir = job.target.src.is_dir();
    let (ours_path, oracle_path, victim_path) = if is_dir {
        let d = t.path().join("appendonlydir");
        copy_dir(&job.target.src, &d);
        let v = d.join(&job.victim);
        let data = std::fs::read(&v).unwrap();
        std::fs::write(&v, job.damage.apply(&data)).unwrap();
        let manifest = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".manifest"))
            .unwrap();
        let oracle = match job.target.oracle {
            OracleOn::Same => manifest,
            OracleOn::VictimAlone => v.clone(),
        };
        (d, oracle, v)
    } else {
        let v = t.path().join(&job.victim);
        let data = std::fs::read(&job.target.src).unwrap();
        std::fs::write(&v, job.damage.apply(&data)).unwrap();
        (v.clone(), v.clone(), v)
    };
    let oracle = redis_check_aof(&[], &oracle_path, None);
    let Some(oexit) = oracle.exit else {
        return Outcome::Skip("redis-check-aof was killed (out of memory on a huge length)".into());
    };
    if oracle.multi_part && !oracle_path.to_string_lossy().ends_with(".manifest") {
        return Outcome::Skip(
            "redis-check-aof 7.0 took the AOF for a manifest (redis #12951)".into(),
        );
    }
    let (code, j) = redsafe_check(&ours_path);
    let ctx = || {
        format!(
            "{} / {} / {:?}: oracle exit {oexit}, analyzed {:?}, not_sane {}; redsafe exit {code}: verdict {} ok_up_to {} damaged {} error {}",
            job.target.name,
            job.victim,
            job.damage,
            oracle.analyzed,
            oracle.not_sane,
            j["verdict"],
            j["ok_up_to"],
            j["damaged_file"],
            j["error"]["display"]
        )
    };
    let ok = j["ok"].as_bool().unwrap();
    if job.target.oracle == OracleOn::VictimAlone {
        // Only the victim is compared: redsafe's verdict must be about it.
        let vname = victim_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if oexit == 0 {
            if !ok {
                return Outcome::Mismatch(ctx());
            }
            return Outcome::Agree;
        }
        let Some(d) = oracle.damaged() else {
            return Outcome::Mismatch(format!("oracle gave no ok_up_to: {}", ctx()));
        };
        if ok || j["damaged_file"] != vname.as_str() || j["ok_up_to"] != d.2 {
            return Outcome::Mismatch(ctx());
        }
        return Outcome::Agree;
    }
    match compare_same(&oracle, code, &j) {
        Ok(()) => Outcome::Agree,
        Err(e) => Outcome::Mismatch(format!("{e}: {}", ctx())),
    }
}

#[test]
fn check_agrees_with_redis_check_aof() {
    if !common::have_redis() || common::shared_dir().is_none() {
        return;
    }
    let per_file: usize = std::env::var("REDSAFE_AOF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut jobs = Vec::new();
    for (ti, t) in targets().into_iter().enumerate() {
        for (vi, v) in t.victims.iter().enumerate() {
            let path = if t.src.is_dir() {
                t.src.join(v)
            } else {
                t.src.clone()
            };
            let data = std::fs::read(&path).unwrap();
            let from = resp_start(&data);
            let recs = split_resp(&data, from);
            assert_reader_agrees(&data, from, &recs);
            // the undamaged file too
            jobs.push(Job {
                target: t.clone(),
                victim: v.clone(),
                damage: Damage::Cut(data.len()),
            });
            for d in damage_cases(&data, per_file, 0x9e37_79b9 + (ti * 16 + vi) as u64) {
                jobs.push(Job {
                    target: t.clone(),
                    victim: v.clone(),
                    damage: d,
                });
            }
        }
    }
    let next = AtomicUsize::new(0);
    let results = Mutex::new((0usize, Vec::<String>::new(), Vec::<String>::new()));
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { break };
                let o = run_job(job);
                let mut r = results.lock().unwrap();
                match o {
                    Outcome::Agree => r.0 += 1,
                    Outcome::Skip(why) => {
                        r.1.push(format!("{} {:?}: {why}", job.target.name, job.damage))
                    }
                    Outcome::Mismatch(m) => r.2.push(m),
                }
            });
        }
    });
    let (agree, skipped, mismatches) = results.into_inner().unwrap();
    eprintln!(
        "{} cases: {agree} agree with redis-check-aof, {} skipped, {} differ",
        jobs.len(),
        skipped.len(),
        mismatches.len()
    );
    for s in &skipped {
        eprintln!("skipped: {s}");
    }
    for m in &mismatches {
        eprintln!("MISMATCH: {m}");
    }
    assert!(
        mismatches.is_empty(),
        "{} cases differ from redis-check-aof",
        mismatches.len()
    );
    assert!(skipped.len() * 20 < jobs.len(), "too many skipped cases");
    assert!(agree > 300, "too few cases compared: {agree}");
}
