//! Support shared by the RDB fixture tests (`rdb_generated`, `rdb_check_cli`,
//! `rdb_corruption`): which files to test, running the real `redis-check-rdb`, a seeded RNG,
//! and CRC fix-up with an implementation independent of redsafe's (the `crc` crate).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

/// CRC-64/REDIS from the `crc` crate (not redsafe's own implementation).
pub const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// The project's generated fixtures: `fixtures/rdb/*.rdb`, sorted.
pub fn generated_rdbs() -> Vec<PathBuf> {
    let dir = common::project_fixture("rdb");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 5,
        "fixtures/rdb holds {} RDB files; run fixtures/gen_rdb.sh",
        v.len()
    );
    v
}

/// `../shared/fixtures/servers/*/dump.rdb` (empty when ../shared is missing outside CI).
pub fn shared_server_rdbs() -> Vec<PathBuf> {
    common::server_fixture_dirs()
        .into_iter()
        .map(|d| d.join("dump.rdb"))
        .collect()
}

/// Redis's own test assets that redis-server loads: every `redis-assets/*.rdb` except
/// `corrupt_ziplist.rdb`. (`corrupt_empty_keys.rdb` loads: the server skips empty keys.)
pub fn shared_valid_assets() -> Vec<PathBuf> {
    let Some(s) = common::shared_dir() else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(s.join("fixtures/redis-assets"))
        .expect("read redis-assets")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
        .filter(|p| !p.ends_with("corrupt_ziplist.rdb"))
        .collect();
    v.sort();
    v
}

/// A short name for messages: `redis-7.0.15/dump.rdb` or the file name.
pub fn short(p: &Path) -> String {
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    match p.parent().and_then(|d| d.file_name()) {
        Some(d) if name == "dump.rdb" => format!("{}/{name}", d.to_string_lossy()),
        _ => name,
    }
}

/// The RDB version from the magic, read independently of redsafe (`REDIS` + 4 digits or
/// `VALKEY` + 3 digits).
pub fn magic_version(data: &[u8]) -> Option<u32> {
    let digits = if data.starts_with(b"REDIS") {
        data.get(5..9)?
    } else if data.starts_with(b"VALKEY") {
        data.get(6..9)?
    } else {
        return None;
    };
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// What `redis-check-rdb` said about a file.
#[derive(Debug, Clone)]
pub struct CheckRdb {
    /// Exit status 0 and "RDB looks OK".
    pub ok: bool,
    /// The `[offset N]` of the error line, if any.
    pub offset: Option<u64>,
    /// The error message, if any.
    pub message: Option<String>,
    /// `[info] N keys read`.
    pub keys_read: Option<u64>,
    /// Whole stdout (for failure messages).
    pub stdout: String,
}

/// True when `redis-check-rdb` is installed (a failure under CI).
pub fn have_check_rdb() -> bool {
    let ok = Command::new("redis-check-rdb")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("redis-check-rdb is not installed and CI is set");
        }
        eprintln!("skipping: redis-check-rdb not installed");
    }
    ok
}

/// Highest RDB version the installed redis-check-rdb (7.0.15) handles.
pub const CHECK_RDB_MAX_VERSION: u32 = 10;

/// Runs `redis-check-rdb path` with a time limit (a hung or crashing checker counts as a
/// rejection, as Redis would refuse such a file too).
pub fn redis_check_rdb(path: &Path) -> CheckRdb {
    let mut child = Command::new("redis-check-rdb")
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-check-rdb");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait redis-check-rdb") {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let out = reader.join().unwrap_or_default();
    let mut offset = None;
    let mut message = None;
    let mut keys_read = None;
    let mut lines = out.lines();
    while let Some(l) = lines.next() {
        if l.starts_with("--- RDB ERROR DETECTED ---") {
            if let Some(e) = lines.next() {
                if let Some(rest) = e.strip_prefix("[offset ") {
                    if let Some(end) = rest.find(']') {
                        offset = rest[..end].parse().ok();
                        message = Some(rest[end + 1..].trim().to_string());
                    }
                }
            }
        } else if let Some(rest) = l.strip_prefix("[info] ") {
            if let Some(n) = rest.strip_suffix(" keys read") {
                keys_read = n.parse().ok();
            }
        }
    }
    let ok =
        status.is_some_and(|s| s.success()) && out.contains("RDB looks OK") && message.is_none();
    CheckRdb {
        ok,
        offset,
        message: message.or_else(|| (!ok).then(|| "no error line (crash or timeout)".into())),
        keys_read,
        stdout: out,
    }
}

#[path = "../common/rng.rs"]
mod rng;
#[allow(unused_imports)]
pub use rng::Rng;

/// A seed derived from a file name, so each file gets its own reproducible sequence.
pub fn seed_for(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Rewrites the CRC-64 trailer (the 8 bytes after the EOF opcode at `eof`) to match the
/// bytes `[0, eof]`.
pub fn fix_crc(data: &mut [u8], eof: usize) {
    let crc = CRC64.checksum(&data[..=eof]);
    data[eof + 1..eof + 9].copy_from_slice(&crc.to_le_bytes());
}

/// Writes `data` to a fresh file in `dir`.
pub fn write_temp(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}
