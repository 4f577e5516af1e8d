//! `redsafe dump` as a command: atomic `-o` output and `--force`, damaged inputs (exit 1,
//! only complete lines written, the file and offset named), usage errors (exit 2).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::TempDir;

fn dump(args: &[&str], file: &Path) -> Output {
    Command::new(common::redsafe_bin())
        .arg("dump")
        .arg(file)
        .args(args)
        .output()
        .unwrap()
}

fn fixture() -> Option<std::path::PathBuf> {
    let dirs = common::server_fixture_dirs();
    dirs.iter()
        .find(|d| d.ends_with("redis-7.0.15"))
        .map(|d| d.join("dump.rdb"))
}

#[test]
fn output_file_is_atomic_and_not_overwritten_without_force() {
    let Some(rdb) = fixture() else { return };
    let t = TempDir::new("dump-out");
    let out = t.path().join("keys.jsonl");
    let o = dump(&["-o", out.to_str().unwrap()], &rdb);
    assert!(o.status.success());
    let stdout = dump(&[], &rdb).stdout;
    assert_eq!(std::fs::read(&out).unwrap(), stdout);
    // Existing output: refused (usage error), left untouched.
    std::fs::write(&out, b"keep me").unwrap();
    let o = dump(&["-o", out.to_str().unwrap(), "--format", "resp"], &rdb);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let o = dump(&["-o", out.to_str().unwrap(), "--force"], &rdb);
    assert!(o.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), stdout);
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1);
}

#[test]
fn damaged_inputs_exit_1_and_name_the_place() {
    let Some(rdb) = fixture() else { return };
    let data = std::fs::read(&rdb).unwrap();
    let t = TempDir::new("dump-damage");
    // A flipped byte inside a raw string value: every key still decodes, the CRC-64 does not
    // match. The keys are written; the exit status says the file is damaged.
    let needle = [0xdb, 0xec, 0xc7, 0x77, 0x73, 0x82];
    let at = data
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("value bytes of s:11:0");
    let mut flipped = data.clone();
    flipped[at + 3] ^= 0x01;
    let f = t.path().join("flipped.rdb");
    std::fs::write(&f, &flipped).unwrap();
    let o = dump(&[], &f);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("checksum mismatch") && err.contains("offset"),
        "{err}"
    );
    assert_eq!(
        o.stdout
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        201
    );
    // Truncated in the middle: exit 1, the file and an offset named, and every line written
    // is a whole JSON object.
    let f = t.path().join("truncated.rdb");
    std::fs::write(&f, &data[..data.len() / 2]).unwrap();
    for args in [&[][..], &["--format", "resp"][..], &["--restore"][..]] {
        let o = dump(args, &f);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("truncated.rdb") && err.contains("offset"),
            "{err}"
        );
        if args.is_empty() {
            let lines: Vec<&[u8]> = o
                .stdout
                .split(|&c| c == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            assert!(lines.len() > 50);
            for l in lines {
                serde_json::from_slice::<serde_json::Value>(l).expect("a complete JSON line");
            }
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    let Some(rdb) = fixture() else { return };
    for args in [
        &["--restore", "--format", "json"][..],
        &["--replace"][..],
        &["--type", "nosuchtype"][..],
        &["--min-size", "ten"][..],
        &["--expired", "--not-expired"][..],
    ] {
        let o = dump(args, &rdb);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = dump(&[], Path::new("/nonexistent/dump.rdb"));
    assert_eq!(o.status.code(), Some(2));
}
