//! Shared test support: locating `../shared`, running a real redis-server on a free loopback
//! port, and a minimal RESP client for `DEBUG DIGEST` and feeding commands.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `../shared` beside the checkout. When it is missing: panic under `CI`, else `None`
/// (the caller skips with a message).
pub fn shared_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if p.join("fixtures").is_dir() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("../shared is missing and CI is set: tests that need it must not skip");
    }
    eprintln!("skipping: ../shared not found beside the checkout");
    None
}

/// Every `../shared/fixtures/servers/<server>` directory, sorted.
pub fn server_fixture_dirs() -> Vec<PathBuf> {
    let Some(s) = shared_dir() else { return vec![] };
    let mut v: Vec<PathBuf> = std::fs::read_dir(s.join("fixtures/servers"))
        .expect("read fixtures/servers")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Path of a project fixture under `fixtures/`.
pub fn project_fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// The redsafe binary built for this test run.
pub fn redsafe_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_redsafe"))
}

/// True when `redis-server` is installed. Under `CI` its absence is a failure.
pub fn have_redis() -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("redis-server is not installed and CI is set");
        }
        eprintln!("skipping: redis-server not installed");
    }
    ok
}

/// A fresh temporary directory under the target dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!(
            "redsafe-test-{tag}-{}-{n}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server child process on loopback, killed on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl RedisServer {
    /// Starts `redis-server` with `--dir dir` and extra arguments (e.g. `--appendonly yes`),
    /// DEBUG enabled, no RDB saves. Returns `Err(log)` if it exits before answering PING
    /// (e.g. it refused to load a file).
    pub fn start(dir: &Path, extra: &[&str]) -> Result<RedisServer, String> {
        // free_port() can race with another test taking the same port: retry on EADDRINUSE.
        let mut last = String::new();
        for _ in 0..5 {
            match Self::start_once(dir, extra) {
                Err(log) if log.contains("Address already in use") => last = log,
                r => return r,
            }
        }
        Err(last)
    }

    fn start_once(dir: &Path, extra: &[&str]) -> Result<RedisServer, String> {
        let port = free_port();
        let log = dir.join(format!("redis-{port}.log"));
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--dir"])
            .arg(dir)
            .args([
                "--save",
                "",
                "--enable-debug-command",
                "yes",
                "--daemonize",
                "no",
            ])
            .args(["--logfile"])
            .arg(&log)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Err(std::fs::read_to_string(&log).unwrap_or_default());
            }
            if let Ok(mut c) = Client::connect(port) {
                match c.cmd(&[b"PING"]) {
                    Ok(Reply::Status(s)) if s == "PONG" => break,
                    _ => {}
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!(
                    "timeout; log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(RedisServer {
            child,
            port,
            dir: dir.to_path_buf(),
        })
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port).expect("connect to redis")
    }

    /// `DEBUG DIGEST`.
    pub fn digest(&self) -> String {
        match self.client().cmd(&[b"DEBUG", b"DIGEST"]) {
            Ok(Reply::Status(s)) => s,
            other => panic!("DEBUG DIGEST: {other:?}"),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Loads an RDB file into a fresh redis-server and returns its digest, or `Err(log)`.
pub fn digest_of_rdb(rdb: &Path) -> Result<String, String> {
    let t = TempDir::new("rdb-load");
    std::fs::copy(rdb, t.path().join("dump.rdb")).unwrap();
    let s = RedisServer::start(t.path(), &["--dbfilename", "dump.rdb"])?;
    Ok(s.digest())
}

/// Loads an AOF directory (containing `appendonlydir/`) and returns the digest, or `Err(log)`.
pub fn digest_of_aof_dir(dir: &Path) -> Result<String, String> {
    let s = RedisServer::start(dir, &["--appendonly", "yes", "--aof-load-truncated", "no"])?;
    Ok(s.digest())
}

/// A RESP reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// A minimal blocking RESP2 client.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    /// Encodes a command as RESP.
    pub fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    pub fn cmd(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        self.w.write_all(&Self::encode(args))?;
        self.read_reply()
    }

    /// Sends many commands pipelined and reads all replies.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> std::io::Result<Vec<Reply>> {
        let mut buf = Vec::new();
        for c in cmds {
            let refs: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
            buf.extend_from_slice(&Self::encode(&refs));
        }
        self.w.write_all(&buf)?;
        (0..cmds.len()).map(|_| self.read_reply()).collect()
    }

    pub fn read_reply(&mut self) -> std::io::Result<Reply> {
        let mut line = String::new();
        self.r.read_line(&mut line)?;
        let line = line.trim_end_matches("\r\n");
        let (t, rest) = line.split_at(1.min(line.len()));
        Ok(match t {
            "+" => Reply::Status(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Int(rest.parse().unwrap_or(0)),
            "$" => {
                let n: i64 = rest.parse().unwrap_or(-1);
                if n < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut b = vec![0u8; n as usize + 2];
                    self.r.read_exact(&mut b)?;
                    b.truncate(n as usize);
                    Reply::Bulk(Some(b))
                }
            }
            "*" => {
                let n: i64 = rest.parse().unwrap_or(-1);
                if n < 0 {
                    Reply::Array(None)
                } else {
                    let mut v = Vec::new();
                    for _ in 0..n {
                        v.push(self.read_reply()?);
                    }
                    Reply::Array(Some(v))
                }
            }
            _ => return Err(std::io::Error::other(format!("bad reply line {line:?}"))),
        })
    }
}
