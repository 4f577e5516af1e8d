//! Tampered backup metadata never escapes the restore directory (issue #27, item 1).
//!
//! A real set is shipped by `redsafe ship --once` from a copy of the redis-server 7.0.15
//! fixture data directory into a `file://` store (and once into s3s-fs); then every name in its
//! `manifest.json` that a restore turns into a path or a key is replaced by a hostile value.
//! For each, `redsafe restore` and `redsafe backups verify` must exit 1 naming the field, and
//! the whole test tree (bystander files where a traversal would land, the store, the data
//! directory, the output's parent) must be byte for byte and name for name as before, with no
//! output left. The untampered set restores to the fixture's recorded `DEBUG DIGEST`.

mod common;
#[cfg(feature = "s3")]
mod s3server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

use common::{digest_of_aof_dir, have_redis, redsafe_bin, server_fixture_dirs, TempDir};

/// Every entry under `root`: relative path → kind and SHA-256 of the content (files) or the
/// link target (symbolic links, never followed).
fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let v = if md.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if md.is_dir() {
                stack.push(p);
                "dir".to_string()
            } else {
                let h = Sha256::digest(std::fs::read(&p).unwrap());
                format!("file {}", hex(&h))
            };
            out.insert(rel, v);
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn run(args: &[&str], env: &[(&'static str, String)]) -> Output {
    let out = Command::new(redsafe_bin())
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    eprintln!(
        "$ redsafe {} -> {:?}\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The redis-server 7.0.15 fixture (a data directory with `dump.rdb` and a multi-part AOF)
/// and its recorded final digest. `None` (skip) only outside CI when ../shared is missing.
fn fixture() -> Option<(PathBuf, String)> {
    let dir = server_fixture_dirs()
        .into_iter()
        .find(|d| d.ends_with("redis-7.0.15"))?;
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    let digest = meta["aof"]["final_digest"].as_str().unwrap().to_string();
    Some((dir, digest))
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

/// A test tree `T`: `T/data` (the fixture), `T/store` (a `file://` store with one set),
/// `T/work` (the restore output's parent), `T/scratch` (verify's scratch directory) and a
/// bystander file `T/x` where `../../x` from a temporary directory in `T/work` or `T/scratch`
/// lands.
struct Env {
    t: TempDir,
    digest: String,
}

impl Env {
    fn new(tag: &str) -> Option<Env> {
        let (fix, digest) = fixture()?;
        let t = TempDir::new(tag);
        copy_dir(&fix, &t.path().join("data"));
        for d in ["work", "scratch"] {
            std::fs::create_dir(t.path().join(d)).unwrap();
        }
        std::fs::write(t.path().join("x"), b"bystander: must never change").unwrap();
        Some(Env { t, digest })
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.t.path().join(rel)
    }
    fn s(&self, rel: &str) -> String {
        self.p(rel).to_str().unwrap().to_string()
    }
    fn store_url(&self) -> String {
        format!("file://{}", self.s("store"))
    }
    fn ship(&self, url: &str, env: &[(&'static str, String)], extra: &[&str]) {
        let mut args = vec!["ship", "--once", "--data-dir"];
        let data = self.s("data");
        args.push(&data);
        args.extend(["--to", url]);
        args.extend(extra);
        let o = run(&args, env);
        assert_eq!(o.status.code(), Some(0), "ship failed");
    }
}

/// The manifests under a store root, oldest set first.
fn manifests(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("sets"))
        .unwrap()
        .map(|e| e.unwrap().path().join("manifest.json"))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Sets `field` (`aof.dir`, `rdb.name`, `files[2].path`, …) of a manifest to `value`.
fn tamper(m: &serde_json::Value, field: &str, value: &str) -> serde_json::Value {
    let mut m = m.clone();
    let slot = if let Some(rest) = field.strip_prefix("files[") {
        let (i, name) = rest.split_once("].").unwrap();
        &mut m["files"][i.parse::<usize>().unwrap()][name]
    } else {
        let (a, b) = field.split_once('.').unwrap();
        &mut m[a][b]
    };
    assert!(slot.is_string(), "{field} is not a string field");
    *slot = serde_json::Value::String(value.to_string());
    m
}

/// The hostile values, for a root `t` (the absolute path lies inside it, so the tree
/// comparison sees anything created there).
fn hostile(t: &Path) -> Vec<String> {
    vec![
        "../../x".into(),
        "appendonlydir/../../../x".into(),
        format!("{}/abs/path", t.display()),
        "a\\b".into(),
        "a\u{0}b".into(),
        "%2e%2e%2fx".into(),
        "n".repeat(300),
        ".".into(),
        "..".into(),
        String::new(),
    ]
}

/// Restore (by time and by command) and verify of the tampered store exit 1 naming `field`,
/// and nothing in the tree changes.
fn assert_refused(env: &Env, url: &str, field: &str) {
    let before = tree(env.t.path());
    let proc_env = &[];
    let out = env.s("work/out");
    let o = run(&["restore", url, "--at", "latest", "-o", &out], proc_env);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "restore with a tampered {field}");
    assert!(err.contains(field), "restore must name {field}: {err}");
    assert!(err.contains("tampered"), "{err}");
    let scratch = env.s("scratch");
    let o = run(&["backups", "verify", url, "--scratch", &scratch], proc_env);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "verify with a tampered {field}");
    assert!(stdout.contains(field), "verify must name {field}: {stdout}");
    let o = run(
        &["restore", url, "--at", "before:FLUSHALL", "-o", &out],
        proc_env,
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "cut restore with a tampered {field}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains(field));
    assert!(
        !env.p("work/out").exists(),
        "no output after a refused restore"
    );
    assert_eq!(tree(env.t.path()), before, "the tree changed ({field})");
}

/// Every name field of a set manifest, each with every hostile value: restore (by time and
/// by command) and verify refuse it as damaged, naming the field, and write nothing anywhere.
/// The untouched set then restores to redis-server's digest.
#[test]
fn every_tampered_name_is_refused_and_nothing_escapes() {
    let Some(env) = Env::new("names-local") else {
        return;
    };
    let url = env.store_url();
    env.ship(&url, &[], &[]);
    let mpath = manifests(&env.p("store")).pop().expect("a set manifest");
    let pristine = std::fs::read(&mpath).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&pristine).unwrap();
    let nfiles = m["files"].as_array().unwrap().len();
    assert_eq!(nfiles, 4, "manifest, base, incr, dump.rdb");
    let mut fields: Vec<String> = ["aof.dir", "aof.manifest", "aof.prefix", "rdb.name"]
        .map(String::from)
        .to_vec();
    fields.extend((0..nfiles).map(|i| format!("files[{i}].path")));
    fields.extend((0..nfiles).map(|i| format!("files[{i}].object")));
    let mut cases = 0;
    for field in &fields {
        for value in hostile(env.t.path()) {
            let bad = tamper(&m, field, &value);
            std::fs::write(&mpath, serde_json::to_vec_pretty(&bad).unwrap()).unwrap();
            assert_refused(&env, &url, field);
            cases += 1;
        }
    }
    assert_eq!(cases, fields.len() * 10);
    std::fs::write(&mpath, &pristine).unwrap();

    // The set as shipped restores (every name is what Redis wrote).
    let out = env.p("work/out");
    let o = run(
        &[
            "restore",
            &url,
            "--at",
            "latest",
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        run(
            &["backups", "verify", &url, "--scratch", &env.s("scratch")],
            &[]
        )
        .status
        .code(),
        Some(0)
    );
    if have_redis() {
        assert_eq!(digest_of_aof_dir(&out).unwrap(), env.digest);
    }
}

/// A tampered newest set is not passed over for an older intact one: a restore to the latest
/// state or to a time both sets cover refuses (exit 1) instead of silently giving older data.
/// `backups list` shows it as damaged; with the damaged set removed the older set restores.
#[test]
fn a_tampered_newer_set_is_not_silently_skipped() {
    let Some(env) = Env::new("names-newer") else {
        return;
    };
    let url = env.store_url();
    env.ship(&url, &[], &[]);
    env.ship(&url, &[], &["--full"]);
    let ms = manifests(&env.p("store"));
    assert_eq!(ms.len(), 2, "two sets");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&ms[1]).unwrap()).unwrap();
    let bad = tamper(&m, "aof.dir", "../../x");
    std::fs::write(&ms[1], serde_json::to_vec_pretty(&bad).unwrap()).unwrap();
    let first_ts = m["first_ts"].as_i64().unwrap().to_string();
    let before = tree(env.t.path());
    let out = env.s("work/out");
    for at in ["latest", first_ts.as_str(), "before:FLUSHALL"] {
        let o = run(&["restore", &url, "--at", at, "-o", &out], &[]);
        assert_eq!(o.status.code(), Some(1), "--at {at}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("aof.dir") && err.contains("older set"),
            "{err}"
        );
    }
    assert_eq!(tree(env.t.path()), before);
    let o = run(&["backups", "list", &url], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("DAMAGED"));
    std::fs::remove_dir_all(ms[1].parent().unwrap()).unwrap();
    let o = run(&["restore", &url, "--at", "latest", "-o", &out], &[]);
    assert_eq!(o.status.code(), Some(0));
    if have_redis() {
        assert_eq!(digest_of_aof_dir(Path::new(&out)).unwrap(), env.digest);
    }
}

/// Symbolic links planted where restore stages its work are never followed: at the staging
/// path of a cut restore, at the temporary output directory's name, and inside a `file://`
/// store (a set's `files/appendonlydir` pointing outside the store). Each restore fails,
/// the link targets are unchanged, and no output appears.
#[test]
fn symlinked_staging_dirs_and_store_dirs_are_not_followed() {
    use redsafe::aof::pitr::{Target as Cut, When};
    use redsafe::backup::catalog::Catalog;
    use redsafe::backup::local::LocalDir;
    use redsafe::backup::plan::{plan_restore, Target};
    use redsafe::backup::restore::{restore, restore_with_cut, RestoreError, RestoreOptions};

    let Some(env) = Env::new("names-symlink") else {
        return;
    };
    let url = env.store_url();
    env.ship(&url, &[], &[]);
    let victim = env.p("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("appendonly.aof.manifest"), b"keep").unwrap();
    let store = LocalDir::new(env.p("store"));
    let cat = Catalog::load(&store).unwrap();
    let set = cat.complete_sets().last().unwrap().0.name.clone();
    let out = env.p("work/out");
    let opts = RestoreOptions {
        out: out.clone(),
        force: false,
        parallel: 2,
        allow_gap: false,
    };

    // 1. The staging directory of `--at before:COMMAND`.
    let stage = env.p(&format!(
        "work/.out.stage-{}-{}",
        std::process::id(),
        set.id
    ));
    std::os::unix::fs::symlink(&victim, &stage).unwrap();
    let before = tree(env.t.path());
    let cut = Cut::When(When::parse("before:FLUSHALL").unwrap());
    let e = restore_with_cut(&store, &cat, &cut, &opts, false, &|_| {}).unwrap_err();
    assert!(matches!(e, RestoreError::Staging { .. }), "{e}");
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(tree(env.t.path()), before, "link and its target untouched");
    std::fs::remove_file(&stage).unwrap();
    // Without the link the same restore works.
    restore_with_cut(&store, &cat, &cut, &opts, false, &|_| {}).unwrap();
    std::fs::remove_dir_all(&out).unwrap();

    // 2. The temporary output directory's next names (`.out.tmp-PID-N`).
    let probe = redsafe::fsutil::temp_path(&out);
    let name = probe.file_name().unwrap().to_str().unwrap().to_string();
    let (stem, n) = name.rsplit_once('-').unwrap();
    let n: u64 = n.parse().unwrap();
    for k in n + 1..n + 400 {
        std::os::unix::fs::symlink(&victim, env.p(&format!("work/{stem}-{k}"))).unwrap();
    }
    let before = tree(env.t.path());
    let plan = plan_restore(&cat, Target::Latest).unwrap();
    assert!(restore(&store, &plan, &opts, &|_| {}).is_err());
    assert_eq!(
        tree(env.t.path()),
        before,
        "no write through a planted link"
    );
    assert!(!out.exists());
    for k in n + 1..n + 400 {
        let _ = std::fs::remove_file(env.p(&format!("work/{stem}-{k}")));
    }

    // 3. A directory inside the store replaced by a link to a copy outside it.
    let files = env.p(&format!("store/{}files/appendonlydir", set.dir()));
    let outside = env.p("outside-objects");
    std::fs::rename(&files, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &files).unwrap();
    let before = tree(env.t.path());
    let o = run(
        &[
            "restore",
            &url,
            "--at",
            "latest",
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("symbolic link"));
    assert_eq!(tree(env.t.path()), before);
    assert!(!out.exists());
}

/// The same refusal from an S3 store (s3s-fs on loopback): the manifest object is rewritten
/// on the server's disk with a traversing `aof.dir`, then with a NUL in a file path.
#[cfg(feature = "s3")]
#[test]
fn tampered_set_in_s3_is_refused() {
    use redsafe::backup::s3::S3Store;
    use redsafe::backup::S3Options;
    use s3server::{S3Server, ACCESS_KEY, SECRET_KEY};

    let Some(env) = Env::new("names-s3") else {
        return;
    };
    let Some(srv) = S3Server::s3s_fs() else {
        return;
    };
    let opts = S3Options {
        endpoint_url: Some(srv.endpoint()),
        region: Some("us-east-1".into()),
        path_style: true,
        checksum_when_required: true,
        credentials: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
        ..S3Options::default()
    };
    S3Store::new("bkt", "", &opts)
        .unwrap()
        .create_bucket()
        .unwrap();
    let url = "s3://bkt/names";
    let ep = srv.endpoint();
    let with_ep = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--endpoint-url".to_string(), ep.clone()]);
        v
    };
    let penv = srv.env();
    let o = run(
        &with_ep(&["ship", "--once", "--data-dir", &env.s("data"), "--to", url])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &penv,
    );
    assert_eq!(o.status.code(), Some(0));
    let root = srv.object_path("bkt", "names").unwrap();
    let mpath = manifests(&root)
        .pop()
        .expect("a set manifest on the server's disk");
    let pristine = std::fs::read(&mpath).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&pristine).unwrap();
    for (field, value) in [
        ("aof.dir", "../../x"),
        ("files[1].path", "appendonlydir/a\u{0}b"),
    ] {
        std::fs::write(
            &mpath,
            serde_json::to_vec_pretty(&tamper(&m, field, value)).unwrap(),
        )
        .unwrap();
        let before = tree(env.t.path());
        let server = tree(&root);
        for args in [
            vec!["restore", url, "--at", "latest", "-o", &env.s("work/out")],
            vec!["backups", "verify", url, "--scratch", &env.s("scratch")],
        ] {
            let o = run(
                &with_ep(&args)
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
                &penv,
            );
            assert_eq!(o.status.code(), Some(1), "{args:?} with a tampered {field}");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(text.contains(field), "{field}: {text}");
        }
        assert_eq!(tree(env.t.path()), before);
        assert_eq!(tree(&root), server);
        assert!(!env.p("work/out").exists());
    }
    std::fs::write(&mpath, &pristine).unwrap();
    let o = run(
        &with_ep(&["restore", url, "--at", "latest", "-o", &env.s("work/out")])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &penv,
    );
    assert_eq!(o.status.code(), Some(0));
    if have_redis() {
        assert_eq!(digest_of_aof_dir(&env.p("work/out")).unwrap(), env.digest);
    }
}
