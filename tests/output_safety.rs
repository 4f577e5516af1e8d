//! Nothing redsafe writes may destroy data: every writing command × every input form × every
//! relation of the output path to the input (the same path, its parent, a path inside an
//! input directory, a sibling, symbolic links to each, an existing file or directory, with
//! and without `--force`). Inputs and bystander files never change (sha256 of every file,
//! and the listing of every protected tree, before and after each run); overlapping outputs
//! are refused with exit 2; outputs that do not overlap are written (so the guard is not
//! simply refusing everything). Also: a directory redsafe did not write is never replaced,
//! a temporary output is removed when the run is stopped by SIGTERM, and one a killed run
//! left is removed by the next run.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{redsafe_bin, shared_dir, TempDir};

fn sha256(p: &Path) -> String {
    use sha2::{Digest, Sha256};
    let b = std::fs::read(p).unwrap();
    Sha256::digest(&b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Every entry below `root` (symbolic links not followed) with the sha256 of each file.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                out.insert(p.clone(), "dir".into());
                stack.push(p);
            } else if ft.is_symlink() {
                out.insert(
                    p.clone(),
                    format!("link {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else {
                out.insert(p.clone(), sha256(&p));
            }
        }
    }
    out
}

fn run(args: &[&str]) -> Output {
    Command::new(redsafe_bin()).args(args).output().unwrap()
}

/// The workspace: a Redis data directory (RDB + multi-part AOF written by redis-server
/// 7.0.15), a single-file AOF, a `file://` backup store shipped from the data directory, and
/// bystanders.
struct World {
    tmp: TempDir,
}

impl World {
    fn new() -> Option<World> {
        let shared = shared_dir()?;
        let tmp = TempDir::new("outsafe");
        let w = tmp.path();
        let src = shared.join("fixtures/servers/redis-7.0.15");
        let data = w.join("protected/data");
        std::fs::create_dir_all(data.join("appendonlydir")).unwrap();
        std::fs::copy(src.join("dump.rdb"), data.join("dump.rdb")).unwrap();
        for e in std::fs::read_dir(src.join("appendonlydir")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), data.join("appendonlydir").join(e.file_name())).unwrap();
        }
        std::fs::write(data.join("notes.txt"), b"an operator's notes").unwrap();
        let single = w.join("protected/single");
        std::fs::create_dir_all(&single).unwrap();
        std::fs::copy(
            data.join("appendonlydir/appendonly.aof.2.incr.aof"),
            single.join("appendonly.aof"),
        )
        .unwrap();
        std::fs::write(single.join("bystander.txt"), b"beside the AOF").unwrap();
        let existing = w.join("protected/existing-dir");
        std::fs::create_dir_all(existing.join("sub")).unwrap();
        std::fs::write(existing.join("a.txt"), b"unrelated").unwrap();
        std::fs::write(existing.join("sub/b.txt"), b"unrelated too").unwrap();
        let store = w.join("protected/store");
        let url = format!("file://{}", store.display());
        let o = run(&[
            "ship",
            "--once",
            "--full",
            "--data-dir",
            data.to_str().unwrap(),
            "--to",
            &url,
        ]);
        assert!(
            o.status.success(),
            "ship: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::create_dir_all(w.join("out")).unwrap();
        Some(World { tmp })
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }
}

/// What a command reads, and the forms of output it writes.
struct Case {
    name: &'static str,
    /// Arguments before the output, `{in}` replaced by the input.
    args: Vec<&'static str>,
    /// The input path (relative to the world) or a store URL (`file://` + world path).
    input: &'static str,
    /// The output option.
    out_flag: &'static str,
    /// The path the input names on disk (for relations).
    anchor: &'static str,
    /// An AOF directory that is part of the input (nothing may be written inside it).
    tree: Option<&'static str>,
    /// Writes a directory (else a file).
    dir_output: bool,
}

fn cases() -> Vec<Case> {
    let rdb = "protected/data/dump.rdb";
    let mut v = vec![
        ("dump", vec!["dump", "{in}"], "-o"),
        ("dump resp", vec!["dump", "--format", "resp", "{in}"], "-o"),
        ("stats", vec!["stats", "{in}"], "-o"),
        (
            "diff a",
            vec!["diff", "{in}", "protected/data/dump.rdb"],
            "-o",
        ),
        ("filter rdb", vec!["filter", "--db", "0", "{in}"], "-o"),
        (
            "convert",
            vec!["convert", "--rdb-version", "9", "{in}"],
            "-o",
        ),
        ("salvage", vec!["salvage", "{in}"], "-o"),
    ]
    .into_iter()
    .map(|(name, args, out_flag)| Case {
        name,
        args,
        input: rdb,
        out_flag,
        anchor: rdb,
        tree: None,
        dir_output: false,
    })
    .collect::<Vec<_>>();
    let aof_dir = "protected/data/appendonlydir";
    let forms: [(&str, &str, Option<&str>); 4] = [
        (aof_dir, aof_dir, Some(aof_dir)),
        (
            "protected/data/appendonlydir/appendonly.aof.manifest",
            "protected/data/appendonlydir/appendonly.aof.manifest",
            Some(aof_dir),
        ),
        ("protected/data", aof_dir, Some(aof_dir)),
        (
            "protected/single/appendonly.aof",
            "protected/single/appendonly.aof",
            None,
        ),
    ];
    for (input, anchor, tree) in forms {
        let multi = tree.is_some();
        for (name, args, out_flag, dir_output) in [
            ("compact", vec!["compact", "{in}"], "-o", false),
            (
                "filter aof",
                vec!["filter", "--drop-command", "FLUSHALL", "{in}"],
                "-o",
                multi,
            ),
            ("fix", vec!["fix", "{in}"], "-o", multi),
            (
                "restore",
                vec!["restore", "--at", "latest", "{in}"],
                "-o",
                true,
            ),
        ] {
            v.push(Case {
                name,
                args,
                input,
                out_flag,
                anchor,
                tree,
                dir_output,
            });
        }
    }
    v.push(Case {
        name: "restore store",
        args: vec!["restore", "--at", "latest", "{in}"],
        input: "file://protected/store",
        out_flag: "-o",
        anchor: "protected/store",
        tree: Some("protected/store"),
        dir_output: true,
    });
    v
}

/// An output path and whether it overlaps the input.
struct Target {
    what: &'static str,
    path: PathBuf,
    refused: bool,
    force: bool,
}

fn targets(w: &World, c: &Case) -> Vec<Target> {
    let anchor = w.p(c.anchor);
    let parent = anchor.parent().unwrap().to_path_buf();
    let links = w.p("out/links");
    let _ = std::fs::remove_dir_all(&links);
    std::fs::create_dir_all(&links).unwrap();
    let link = |name: &str, to: &Path| {
        let l = links.join(name);
        std::os::unix::fs::symlink(to, &l).unwrap();
        l
    };
    let mut t = Vec::new();
    for force in [false, true] {
        t.push(Target {
            what: "same",
            path: anchor.clone(),
            refused: true,
            force,
        });
        t.push(Target {
            what: "parent",
            path: parent.clone(),
            refused: true,
            force,
        });
        t.push(Target {
            what: "symlink to the input",
            path: link(&format!("to-input-{force}"), &anchor),
            refused: true,
            force,
        });
        t.push(Target {
            what: "symlink to the parent",
            path: link(&format!("to-parent-{force}"), &parent),
            refused: true,
            force,
        });
        if let Some(tree) = c.tree {
            let tree = w.p(tree);
            t.push(Target {
                what: "inside the input directory",
                path: tree.join("new-output"),
                refused: true,
                force,
            });
            t.push(Target {
                what: "through a symlink into the input directory",
                path: link(&format!("to-tree-{force}"), &tree).join("new-output"),
                refused: true,
                force,
            });
        }
        // An existing directory redsafe did not write: refused with or without --force.
        t.push(Target {
            what: "an existing unrelated directory",
            path: w.p("protected/existing-dir"),
            refused: true,
            force,
        });
        // A bystander file beside the input: refused without --force; with it, a file output
        // replaces it (what --force is for), so that case writes over a copy.
        if !force {
            t.push(Target {
                what: "an existing file",
                path: w.p("protected/single/bystander.txt"),
                refused: true,
                force,
            });
        }
    }
    // Outputs that overlap nothing are written.
    t.push(Target {
        what: "a new sibling",
        path: w.p("out/new"),
        refused: false,
        force: false,
    });
    if !c.dir_output {
        let f = w.p("out/replace-me");
        std::fs::write(&f, b"old output").unwrap();
        t.push(Target {
            what: "an existing file, --force",
            path: f,
            refused: false,
            force: true,
        });
    }
    t
}

#[test]
fn no_output_path_destroys_an_input_or_a_bystander() {
    let Some(w) = World::new() else { return };
    let protected = w.p("protected");
    let before = snapshot(&protected);
    assert!(before.len() > 10);
    let mut checked = 0;
    for c in cases() {
        for t in targets(&w, &c) {
            let input = if let Some(rest) = c.input.strip_prefix("file://") {
                format!("file://{}", w.p(rest).display())
            } else {
                w.p(c.input).display().to_string()
            };
            let mut args: Vec<String> = c
                .args
                .iter()
                .map(|a| {
                    if *a == "{in}" {
                        input.clone()
                    } else if a.starts_with("protected/") {
                        w.p(a).display().to_string()
                    } else {
                        a.to_string()
                    }
                })
                .collect();
            args.push(c.out_flag.into());
            args.push(t.path.display().to_string());
            if t.force {
                args.push("--force".into());
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = run(&argv);
            let err = String::from_utf8_lossy(&o.stderr);
            let label = format!(
                "{} ({}) -o {} [{}]",
                c.name,
                c.input,
                t.what,
                t.path.display()
            );
            assert!(!err.contains("panicked"), "{label}: {err}");
            if t.refused {
                assert_eq!(o.status.code(), Some(2), "{label}: not refused: {err}");
                assert!(
                    err.contains("refusing") || (!t.force && err.contains("already exists")),
                    "{label}: {err}"
                );
            } else {
                assert_eq!(o.status.code(), Some(0), "{label}: {err}");
                assert!(t.path.exists(), "{label}: no output");
            }
            let after = snapshot(&protected);
            if after != before {
                let changed: Vec<_> = before
                    .iter()
                    .filter(|(k, v)| after.get(*k) != Some(*v))
                    .map(|(k, _)| k.display().to_string())
                    .chain(
                        after
                            .keys()
                            .filter(|k| !before.contains_key(*k))
                            .map(|k| format!("new: {}", k.display())),
                    )
                    .collect();
                panic!("{label}: protected files changed: {changed:?}\n{err}");
            }
            // Nothing but the output (and the links) appeared in the output area.
            let _ = std::fs::remove_dir_all(w.p("out/new"));
            let _ = std::fs::remove_file(w.p("out/new"));
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked} runs");
}

#[test]
fn a_redsafe_output_is_replaced_only_while_it_holds_nothing_else() {
    let Some(w) = World::new() else { return };
    let aof = w.p("protected/data/appendonlydir");
    let out = w.p("out/r");
    let restore = |force: bool| {
        let mut a = vec![
            "restore",
            "--at",
            "latest",
            aof.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        if force {
            a.push("--force");
        }
        run(&a)
    };
    assert_eq!(restore(false).status.code(), Some(0));
    assert!(out.join(".redsafe-output").is_file());
    // Its own output is replaced with --force.
    assert_eq!(restore(false).status.code(), Some(2));
    assert_eq!(restore(true).status.code(), Some(0));
    // Not once something else is in it (here: what a server started on it might write).
    std::fs::write(out.join("dump.rdb"), b"written by redis-server").unwrap();
    let o = restore(true);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("dump.rdb") && err.contains("did not write"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(out.join("dump.rdb")).unwrap(),
        b"written by redis-server"
    );
    // An empty directory is filled.
    let empty = w.p("out/empty");
    std::fs::create_dir(&empty).unwrap();
    let o = run(&[
        "fix",
        aof.to_str().unwrap(),
        "-o",
        empty.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(empty.join("appendonly.aof.manifest").is_file());
}

#[test]
fn stale_temporary_outputs_are_removed_and_reported() {
    let Some(w) = World::new() else { return };
    let out = w.p("out/dump.jsonl");
    // Left by a process that is not running (a pid above any pid_max), and by this one.
    let stale = w.p("out/.dump.jsonl.tmp-4294967290-0");
    std::fs::write(&stale, vec![b'x'; 4096]).unwrap();
    let live = w.p(&format!("out/.dump.jsonl.tmp-{}-0", std::process::id()));
    std::fs::write(&live, b"in use").unwrap();
    let rdb = w.p("protected/data/dump.rdb");
    let o = run(&["dump", rdb.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("removed") && err.contains(".dump.jsonl.tmp-4294967290-0"),
        "{err}"
    );
    assert!(!stale.exists());
    assert!(
        live.exists(),
        "a running process's temporary output is left alone"
    );
}

#[test]
fn sigterm_leaves_no_temporary_output() {
    if !common::have_redis() {
        return;
    }
    let tmp = TempDir::new("sigterm");
    // An RDB large enough that dumping it takes a while, written by redis-server.
    let srv = common::RedisServer::start(tmp.path(), &[]).unwrap();
    let mut c = srv.client();
    c.cmd(&[b"DEBUG", b"POPULATE", b"1500000", b"key", b"100"])
        .unwrap();
    c.cmd(&[b"SAVE"]).unwrap();
    drop(c);
    drop(srv);
    let rdb = tmp.path().join("dump.rdb");
    assert!(rdb.is_file());
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("dump.jsonl");
    let mut child = Command::new(redsafe_bin())
        .args(["dump", rdb.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let temp_seen = loop {
        let n = std::fs::read_dir(&out_dir).unwrap().count();
        if n > 0 {
            break true;
        }
        if t0.elapsed() > std::time::Duration::from_secs(20) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    assert!(temp_seen, "no temporary output appeared");
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    if status.code() == Some(0) {
        // Finished before the signal arrived: the output is complete and nothing is left.
        assert!(out.is_file());
    } else {
        assert_eq!(status.code(), Some(128 + 15), "{status:?}");
        assert!(!out.exists());
    }
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
