//! Real S3 servers on loopback for the backup tests: s3s-fs (Rust, files on disk, checks
//! SigV4) and moto (Python, in memory) as a second implementation. Each server runs on a free
//! port and is killed on drop. `.ci/run` installs both; outside CI a missing server skips.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{free_port, TempDir};

/// Which implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    S3sFs,
    Moto,
}

pub struct S3Server {
    pub kind: Kind,
    child: Option<Child>,
    pub port: u16,
    pub data: Option<TempDir>,
    bin: PathBuf,
}

pub const ACCESS_KEY: &str = "test";
pub const SECRET_KEY: &str = "test";

fn find_bin(name: &str, env: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Some(p);
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = Path::new(&home).join(".cargo/bin").join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then(|| PathBuf::from(s))
}

fn missing(what: &str) -> Option<S3Server> {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is not installed and CI is set (.ci/run installs it)");
    }
    eprintln!("skipping: {what} not installed");
    None
}

impl S3Server {
    /// Starts s3s-fs with its data in a fresh temp dir.
    pub fn s3s_fs() -> Option<S3Server> {
        let Some(bin) = find_bin("s3s-fs", "REDSAFE_S3S_FS") else {
            return missing("s3s-fs");
        };
        let mut s = S3Server {
            kind: Kind::S3sFs,
            child: None,
            port: free_port(),
            data: Some(TempDir::new("s3s")),
            bin,
        };
        s.spawn();
        Some(s)
    }

    /// Starts moto_server.
    pub fn moto() -> Option<S3Server> {
        let Some(bin) = find_bin("moto_server", "REDSAFE_MOTO_SERVER") else {
            return missing("moto_server");
        };
        let mut s = S3Server {
            kind: Kind::Moto,
            child: None,
            port: free_port(),
            data: None,
            bin,
        };
        s.spawn();
        Some(s)
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(&self.bin);
        match self.kind {
            Kind::S3sFs => {
                cmd.args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &self.port.to_string(),
                    "--access-key",
                    ACCESS_KEY,
                    "--secret-key",
                    SECRET_KEY,
                ]);
                cmd.arg(self.data.as_ref().unwrap().path());
            }
            Kind::Moto => {
                cmd.args(["-H", "127.0.0.1", "-p", &self.port.to_string()]);
            }
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let child = cmd.spawn().expect("spawn S3 server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{:?} did not start on port {}",
                self.kind,
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (s3s-fs keeps its files; moto starts empty).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where s3s-fs keeps `bucket/key`.
    pub fn object_path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        self.data.as_ref().map(|d| d.path().join(bucket).join(key))
    }

    /// Environment for a `redsafe` child process: static test credentials, fixed region, no
    /// instance-metadata probing.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}
