//! A command replay engine: an in-memory keyspace that applies write commands as Redis
//! propagates them to the AOF, with Redis 7.0's semantics (errors, integer overflow, empty
//! collections deleted), and Redis's `DEBUG DIGEST` of the result.
//!
//! - [`model`]: databases, keys, values.
//! - [`load`]: filling a keyspace from an RDB file.
//! - [`apply`]: the commands, by family.
//! - [`replay`]: replaying a whole AOF set (RDB base or preamble, then the commands).
//! - [`functions`]: function libraries (`FUNCTION LOAD`, an RDB's FUNCTION2 records).
//! - [`hll`]: HyperLogLog strings byte for byte as Redis writes them.
//! - [`digest`]: `DEBUG DIGEST` and `DEBUG DIGEST-VALUE`, bit-compatible with Redis 7.0.
//! - [`save`]: writing a keyspace as an RDB file.
//!
//! Commands run as Redis runs them while *loading* an AOF: nothing expires by time (a key
//! whose expiry has passed stays until a `DEL` in the file removes it), relative expiries
//! (`EXPIRE`, `SET … EX`) count from [`Client::now_ms`], and a command Redis would refuse
//! (e.g. `WRONGTYPE`) leaves the keyspace unchanged and is reported as
//! [`ApplyErrorKind::Rejected`]; Redis's loader ignores such replies, and so does
//! [`replay`]. A command the engine does not know is [`ApplyErrorKind::UnknownCommand`],
//! and one whose effect cannot be reproduced exactly (e.g. an `SPOP` that picks at random) is
//! [`ApplyErrorKind::Unsupported`]: never silently ignored.
//!
//! ```no_run
//! use redsafe::keyspace::{replay, ReplayOptions};
//! let set = redsafe::aof::AofSet::open("/var/lib/redis/appendonlydir".as_ref())?;
//! let r = replay::replay_set(&set, &ReplayOptions::default(), &mut |_, _| {})?;
//! println!("{}", r.keyspace.digest_hex()?);
//! # Ok::<(), redsafe::Error>(())
//! ```

use std::collections::BTreeMap;

pub mod apply;
pub mod args;
pub mod digest;
pub mod functions;
pub mod geo;
pub mod hll;
pub mod load;
pub mod model;
pub mod replay;
pub mod save;

pub use model::{Db, Entry, Key, Value};
pub use replay::{replay_set, replay_set_with_progress, ReplayOptions, ReplayReport};

use crate::error::{escape_bytes, Error, ErrorKind};

/// Why Redis refuses a command (its error reply). The keyspace is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`.
    WrongType,
    /// `value is not an integer or out of range`.
    NotInteger,
    /// `value is not a valid float`.
    NotFloat,
    /// `syntax error`.
    Syntax,
    /// `wrong number of arguments`.
    Arity,
    /// `no such key`.
    NoSuchKey,
    /// `BUSYKEY Target key name already exists.` (`RESTORE` without `REPLACE`).
    BusyKey,
    /// `WRONGTYPE Key is not a valid HyperLogLog string value.` (a string that is not one).
    NotHyperLogLog,
    /// `INVALIDOBJ Corrupted HLL object detected`.
    CorruptHyperLogLog,
    /// Any other error, with Redis's message (without the `ERR ` prefix).
    Err(String),
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::WrongType => {
                f.write_str("WRONGTYPE Operation against a key holding the wrong kind of value")
            }
            Reject::NotInteger => f.write_str("ERR value is not an integer or out of range"),
            Reject::NotFloat => f.write_str("ERR value is not a valid float"),
            Reject::Syntax => f.write_str("ERR syntax error"),
            Reject::Arity => f.write_str("ERR wrong number of arguments"),
            Reject::NoSuchKey => f.write_str("ERR no such key"),
            Reject::BusyKey => f.write_str("BUSYKEY Target key name already exists."),
            Reject::NotHyperLogLog => {
                f.write_str("WRONGTYPE Key is not a valid HyperLogLog string value.")
            }
            Reject::CorruptHyperLogLog => f.write_str("INVALIDOBJ Corrupted HLL object detected"),
            Reject::Err(s) => write!(f, "ERR {s}"),
        }
    }
}

/// What went wrong applying a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyErrorKind {
    /// Redis would reply with this error and change nothing (its AOF loader goes on).
    Rejected(Reject),
    /// Not a command this engine knows (Redis's loader stops: "Unknown command").
    UnknownCommand,
    /// A command the engine knows but cannot reproduce exactly in this form.
    Unsupported(String),
    /// The result would exceed the engine's configured size limit ([`Limits`]); Redis
    /// itself may accept the command.
    Limit {
        /// The key the command would have built or grown.
        key: Vec<u8>,
        /// What would exceed the limit, e.g. "a string of 536870912 bytes (limit 1048576)".
        what: String,
    },
}

impl From<Reject> for ApplyErrorKind {
    fn from(r: Reject) -> Self {
        ApplyErrorKind::Rejected(r)
    }
}

/// An error applying a command, with the command's name, its offset and database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyError {
    /// What went wrong.
    pub kind: ApplyErrorKind,
    /// The command name as written.
    pub command: String,
    /// Offset of the command in its AOF file (the caller's numbering for other sources).
    pub offset: u64,
    /// The database the command ran in.
    pub db: u64,
}

impl ApplyError {
    /// True when Redis would have refused the command with an error reply (the keyspace is
    /// unchanged and replay may go on, as Redis's loader does).
    pub fn is_rejection(&self) -> bool {
        matches!(self.kind, ApplyErrorKind::Rejected(_))
    }
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ApplyErrorKind::Rejected(r) => write!(
                f,
                "{} at offset {} (db {}) is refused by Redis: {r}",
                self.command, self.offset, self.db
            ),
            ApplyErrorKind::UnknownCommand => write!(
                f,
                "unknown command {} at offset {} (db {})",
                self.command, self.offset, self.db
            ),
            ApplyErrorKind::Unsupported(why) => write!(
                f,
                "{} at offset {} (db {}) cannot be replayed exactly: {why}",
                self.command, self.offset, self.db
            ),
            ApplyErrorKind::Limit { key, what } => write!(
                f,
                "{} at offset {} (db {}) exceeds a limit: key \"{}\" would hold {what}",
                self.command,
                self.offset,
                self.db,
                escape_bytes(key)
            ),
        }
    }
}

impl std::error::Error for ApplyError {}

impl From<ApplyError> for Error {
    /// A limit becomes [`ErrorKind::Limit`] naming the key; anything else
    /// [`ErrorKind::Unsupported`].
    fn from(e: ApplyError) -> Error {
        if let ApplyErrorKind::Limit { key, what } = &e.kind {
            return Error::new(ErrorKind::Limit(format!(
                "{} would build {what}",
                e.command
            )))
            .at(e.offset)
            .with_key(Some(e.db), key);
        }
        let msg = e.to_string();
        Error::new(ErrorKind::Unsupported(msg))
            .at(e.offset)
            .with_db(e.db)
    }
}

/// The state of the connection commands run on: its selected database, an open
/// transaction, and the clock relative expiries count from.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The selected database.
    pub db: u64,
    /// Unix ms that relative expiries (`EXPIRE`, `SET … EX`) and `XADD *` count from.
    pub now_ms: i64,
    /// Commands queued since `MULTI` (arguments and offset).
    queued: Option<Vec<(Vec<Vec<u8>>, u64)>>,
    /// Queued commands Redis refused when `EXEC` ran them (the others were applied).
    pub exec_rejections: Vec<ApplyError>,
}

impl Client {
    /// A client on database 0 with the given clock.
    pub fn new(now_ms: i64) -> Client {
        Client {
            now_ms,
            ..Client::default()
        }
    }

    /// True inside `MULTI`.
    pub fn in_multi(&self) -> bool {
        self.queued.is_some()
    }

    /// Drops an open transaction (what Redis does with a `MULTI` left open at the end of an
    /// AOF it loads).
    pub fn discard(&mut self) {
        self.queued = None;
    }
}

/// Limits that bound what a command may make the engine allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest string a command may build (`APPEND`, `SETRANGE`, `SETBIT`, `BITFIELD`,
    /// `RESTORE`, a `SORT … STORE` result): by default 512 MiB, Redis's
    /// `proto-max-bulk-len` and the largest string `SETBIT` can make in Redis.
    pub max_string: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_string: 512 << 20,
        }
    }
}

/// The whole dataset: databases by number.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyspace {
    /// Databases that hold (or held) keys.
    pub dbs: BTreeMap<u64, Db>,
    /// Number of databases `SELECT`, `MOVE`, `COPY` and `SWAPDB` accept (Redis's
    /// `databases`, 16 by default).
    pub databases: u64,
    /// Allocation limits.
    pub limits: Limits,
    /// Function libraries by name, with their source code (`FUNCTION LOAD`, `FUNCTION
    /// RESTORE`, an RDB's FUNCTION2 records). They are part of the dataset Redis saves, not
    /// of `DEBUG DIGEST`; `FLUSHALL` keeps them.
    pub functions: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Default for Keyspace {
    fn default() -> Self {
        Keyspace {
            dbs: BTreeMap::new(),
            databases: 16,
            limits: Limits::default(),
            functions: BTreeMap::new(),
        }
    }
}

impl Keyspace {
    /// An empty keyspace with 16 databases.
    pub fn new() -> Keyspace {
        Keyspace::default()
    }

    /// Total number of keys.
    pub fn len(&self) -> usize {
        self.dbs.values().map(Db::len).sum()
    }

    /// True when no database holds a key.
    pub fn is_empty(&self) -> bool {
        self.dbs.values().all(Db::is_empty)
    }

    /// The entry of `key` in `db`.
    pub fn get(&self, db: u64, key: &[u8]) -> Option<&Entry> {
        self.dbs.get(&db).and_then(|d| d.keys.get(key))
    }

    /// Inserts (or replaces) a key. An empty collection is not stored (Redis never keeps
    /// one).
    pub fn insert(&mut self, db: u64, key: impl AsRef<[u8]> + Into<Key>, entry: Entry) {
        if entry.value.is_empty_collection() {
            self.remove(db, key.as_ref());
            return;
        }
        self.dbs
            .entry(db)
            .or_default()
            .keys
            .insert(key.into(), entry);
    }

    /// Removes a key; true when it existed.
    pub fn remove(&mut self, db: u64, key: &[u8]) -> bool {
        match self.dbs.get_mut(&db) {
            Some(d) => d.keys.remove(key).is_some(),
            None => false,
        }
    }

    /// Applies one AOF command on `client`'s connection. See the module documentation for
    /// what errors mean; on any error the keyspace is unchanged (except for an `EXEC` whose
    /// queued commands were partly applied before one could not be).
    pub fn apply(
        &mut self,
        client: &mut Client,
        cmd: &crate::aof::Command<'_>,
    ) -> Result<(), ApplyError> {
        let args: Vec<&[u8]> = cmd.args().collect();
        self.apply_args(client, &args, cmd.offset)
    }

    /// Applies one command given as its arguments (name first); `offset` names it in errors.
    pub fn apply_args(
        &mut self,
        client: &mut Client,
        args: &[&[u8]],
        offset: u64,
    ) -> Result<(), ApplyError> {
        apply::dispatch(self, client, args, offset)
    }
}

/// A short printable form of a command name for messages.
pub(crate) fn name_of(arg: Option<&[u8]>) -> String {
    match arg {
        Some(a) => escape_bytes(&a[..a.len().min(64)]).to_ascii_uppercase(),
        None => "(empty command)".into(),
    }
}
