//! Applying commands: the dispatch table (name, Redis's arity, handler) and the lookups the
//! command families share. Every handler validates all its arguments and the types of the
//! keys it touches before it changes anything, so a refused command changes nothing.

use std::collections::{HashSet, VecDeque};

use super::model::{Entry, Hash, Stream, Value, Zset};
use super::{name_of, ApplyError, ApplyErrorKind, Client, Keyspace, Reject};

mod bitfield;
mod functions;
mod geo;
mod hashes;
mod hyperloglog;
mod keys;
mod lists;
mod server;
mod sets;
mod sort;
mod streams;
mod strings;
mod zsets;

/// What a handler returns.
pub(crate) type R<T> = Result<T, ApplyErrorKind>;

/// A handler: the command's arguments, name first.
type Handler = fn(&mut Ctx<'_>, &[&[u8]]) -> R<()>;

/// The commands the engine replays, with their handlers. Arities come from the command table
/// generated from redis-server ([`crate::aof::keys::lookup`]), or [`NEWER_ARITIES`] for
/// commands newer than that server.
const COMMANDS: &[(&str, Handler)] = &[
    // strings
    ("set", strings::set),
    ("setnx", strings::setnx),
    ("setex", strings::setex),
    ("psetex", strings::psetex),
    ("getset", strings::getset),
    ("getdel", strings::getdel),
    ("getex", strings::getex),
    ("incr", strings::incr),
    ("decr", strings::decr),
    ("incrby", strings::incrby),
    ("decrby", strings::decrby),
    ("incrbyfloat", strings::incrbyfloat),
    ("append", strings::append),
    ("setrange", strings::setrange),
    ("setbit", strings::setbit),
    ("bitop", strings::bitop),
    ("bitfield", bitfield::bitfield),
    ("mset", strings::mset),
    ("msetnx", strings::msetnx),
    // HyperLogLog
    ("pfadd", hyperloglog::pfadd),
    ("pfcount", hyperloglog::pfcount),
    ("pfmerge", hyperloglog::pfmerge),
    ("pfdebug", hyperloglog::pfdebug),
    // keys
    ("del", keys::del),
    ("unlink", keys::del),
    ("expire", keys::expire),
    ("pexpire", keys::pexpire),
    ("expireat", keys::expireat),
    ("pexpireat", keys::pexpireat),
    ("persist", keys::persist),
    ("rename", keys::rename),
    ("renamenx", keys::renamenx),
    ("move", keys::move_),
    ("copy", keys::copy),
    ("restore", keys::restore),
    // What a cluster node receives from MIGRATE (the ASKING flag only routes it).
    ("restore-asking", keys::restore),
    ("flushdb", keys::flushdb),
    ("flushall", keys::flushall),
    ("swapdb", keys::swapdb),
    // lists
    ("lpush", lists::lpush),
    ("rpush", lists::rpush),
    ("lpushx", lists::lpushx),
    ("rpushx", lists::rpushx),
    ("lpop", lists::lpop),
    ("rpop", lists::rpop),
    ("lset", lists::lset),
    ("lrem", lists::lrem),
    ("linsert", lists::linsert),
    ("ltrim", lists::ltrim),
    ("lmove", lists::lmove),
    ("rpoplpush", lists::rpoplpush),
    ("blmove", lists::blmove),
    ("brpoplpush", lists::brpoplpush),
    // sets
    ("sadd", sets::sadd),
    ("srem", sets::srem),
    ("smove", sets::smove),
    ("spop", sets::spop),
    ("sinterstore", sets::sinterstore),
    ("sunionstore", sets::sunionstore),
    ("sdiffstore", sets::sdiffstore),
    ("sort", sort::sort),
    // sorted sets
    ("zadd", zsets::zadd),
    ("zincrby", zsets::zincrby),
    ("zrem", zsets::zrem),
    ("zremrangebyscore", zsets::zremrangebyscore),
    ("zremrangebyrank", zsets::zremrangebyrank),
    ("zremrangebylex", zsets::zremrangebylex),
    ("zpopmin", zsets::zpopmin),
    ("zpopmax", zsets::zpopmax),
    ("zunionstore", zsets::zunionstore),
    ("zinterstore", zsets::zinterstore),
    ("zdiffstore", zsets::zdiffstore),
    ("zrangestore", zsets::zrangestore),
    // geo searches with a destination (GEOADD reaches an AOF as ZADD)
    ("georadius", geo::georadius),
    ("georadiusbymember", geo::georadiusbymember),
    ("geosearchstore", geo::geosearchstore),
    // hashes
    ("hset", hashes::hset),
    ("hmset", hashes::hset),
    ("hsetnx", hashes::hsetnx),
    ("hdel", hashes::hdel),
    ("hincrby", hashes::hincrby),
    ("hincrbyfloat", hashes::hincrbyfloat),
    ("hexpire", hashes::hexpire),
    ("hpexpire", hashes::hpexpire),
    ("hexpireat", hashes::hexpireat),
    ("hpexpireat", hashes::hpexpireat),
    ("hpersist", hashes::hpersist),
    // streams
    ("xadd", streams::xadd),
    ("xdel", streams::xdel),
    ("xtrim", streams::xtrim),
    ("xsetid", streams::xsetid),
    ("xgroup", streams::xgroup),
    ("xack", streams::xack),
    ("xclaim", streams::xclaim),
    // server
    ("function", functions::function),
    ("select", server::select),
    ("ping", server::noop),
    // scripts, as Redis before 5.0 wrote them (refused: they need a Lua interpreter)
    ("eval", server::script_call),
    ("evalsha", server::script_call),
    ("fcall", server::script_call),
    // SCRIPT LOAD/FLUSH, which Redis before 5.0 wrote too: the script cache is not data
    ("script", server::noop),
    ("echo", server::noop),
];

/// Arities of the replayed commands that the generated table (redis-server 7.0.15) lacks:
/// the hash-field expiry commands of Redis 7.4.
const NEWER_ARITIES: &[(&str, i32)] = &[
    ("hexpire", -6),
    ("hpexpire", -6),
    ("hexpireat", -6),
    ("hpexpireat", -6),
    ("hpersist", -5),
];

/// The Redis arity of a replayed command (exact argc when ≥ 0, minimum `-arity` otherwise).
fn arity_of(name: &str) -> i32 {
    crate::aof::keys::lookup(name.as_bytes())
        .map(|c| c.arity)
        .or_else(|| NEWER_ARITIES.iter().find(|n| n.0 == name).map(|n| n.1))
        .unwrap_or(-1)
}

/// The commands the engine applies (lower case), for documentation and tests.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS
        .iter()
        .map(|c| c.0)
        .filter(|n| !matches!(*n, "eval" | "evalsha" | "fcall"))
        .chain(["multi", "exec", "discard"])
}

fn lookup(name: &[u8]) -> Option<&'static (&'static str, Handler)> {
    COMMANDS
        .iter()
        .find(|c| name.eq_ignore_ascii_case(c.0.as_bytes()))
}

pub(crate) fn dispatch(
    ks: &mut Keyspace,
    client: &mut Client,
    args: &[&[u8]],
    offset: u64,
) -> Result<(), ApplyError> {
    let name = args.first().copied();
    let err = |kind: ApplyErrorKind, db: u64| ApplyError {
        kind,
        command: name_of(name),
        offset,
        db,
    };
    let Some(name) = name else {
        return Err(err(ApplyErrorKind::UnknownCommand, client.db));
    };
    if name.eq_ignore_ascii_case(b"multi") {
        if args.len() != 1 {
            return Err(err(Reject::Arity.into(), client.db));
        }
        if client.queued.is_some() {
            return Err(err(
                Reject::Err("MULTI calls can not be nested".into()).into(),
                client.db,
            ));
        }
        client.queued = Some(Vec::new());
        return Ok(());
    }
    if name.eq_ignore_ascii_case(b"exec") {
        let Some(queued) = client.queued.take() else {
            return Err(err(
                Reject::Err("EXEC without MULTI".into()).into(),
                client.db,
            ));
        };
        if let Some((_, off)) = queued
            .iter()
            .find(|(a, _)| a[0].eq_ignore_ascii_case(b"discard"))
        {
            // Redis's loader queues a DISCARD like any other command inside MULTI; running it
            // from EXEC frees the transaction under EXEC's feet and Redis 7.0 crashes.
            return Err(ApplyError {
                kind: ApplyErrorKind::Unsupported(
                    "DISCARD inside MULTI (Redis's AOF loader queues it and crashes at EXEC)"
                        .into(),
                ),
                command: "DISCARD".into(),
                offset: *off,
                db: client.db,
            });
        }
        for (a, off) in queued {
            let refs: Vec<&[u8]> = a.iter().map(Vec::as_slice).collect();
            match run(ks, client, &refs, off) {
                Ok(()) => {}
                Err(e) if e.is_rejection() => client.exec_rejections.push(e),
                Err(e) => return Err(e),
            }
        }
        return Ok(());
    }
    if name.eq_ignore_ascii_case(b"discard") {
        // Redis's loader never runs DISCARD inside MULTI: it queues it (see EXEC above).
        let Some(q) = &mut client.queued else {
            return Err(err(
                Reject::Err("DISCARD without MULTI".into()).into(),
                client.db,
            ));
        };
        q.push((args.iter().map(|a| a.to_vec()).collect(), offset));
        return Ok(());
    }
    if let Some(q) = &mut client.queued {
        // Redis's loader looks the command up when it reads it, before queueing.
        if lookup(name).is_none() {
            return Err(err(ApplyErrorKind::UnknownCommand, client.db));
        }
        q.push((args.iter().map(|a| a.to_vec()).collect(), offset));
        return Ok(());
    }
    run(ks, client, args, offset)
}

fn run(
    ks: &mut Keyspace,
    client: &mut Client,
    args: &[&[u8]],
    offset: u64,
) -> Result<(), ApplyError> {
    let db = client.db;
    let err = |kind: ApplyErrorKind| ApplyError {
        kind,
        command: name_of(args.first().copied()),
        offset,
        db,
    };
    let Some(&(name, handler)) = args.first().and_then(|n| lookup(n)) else {
        return Err(err(ApplyErrorKind::UnknownCommand));
    };
    if !crate::aof::keys::arity_accepts(arity_of(name), args.len()) {
        return Err(err(Reject::Arity.into()));
    }
    let mut ctx = Ctx {
        ks,
        db,
        now_ms: client.now_ms,
        select: None,
    };
    let r = handler(&mut ctx, args);
    let select = ctx.select;
    r.map_err(err)?;
    if let Some(s) = select {
        client.db = s;
    }
    Ok(())
}

/// What a handler works on.
pub(crate) struct Ctx<'k> {
    pub ks: &'k mut Keyspace,
    pub db: u64,
    pub now_ms: i64,
    /// Set by `SELECT`.
    pub select: Option<u64>,
}

/// Type check result for a key expected to hold `T`.
macro_rules! typed_getters {
    ($get:ident, $get_mut:ident, $variant:ident, $t:ty) => {
        /// The value of `key` if it holds this type; `WRONGTYPE` if it holds another.
        #[allow(dead_code)]
        pub fn $get(&self, key: &[u8]) -> R<Option<&$t>> {
            match self.entry(key) {
                None => Ok(None),
                Some(Entry {
                    value: Value::$variant(v),
                    ..
                }) => Ok(Some(v)),
                Some(_) => Err(Reject::WrongType.into()),
            }
        }

        /// Mutable access; `WRONGTYPE` if the key holds another type.
        #[allow(dead_code)]
        pub fn $get_mut(&mut self, key: &[u8]) -> R<Option<&mut $t>> {
            match self.entry_mut(key) {
                None => Ok(None),
                Some(Entry {
                    value: Value::$variant(v),
                    ..
                }) => Ok(Some(v)),
                Some(_) => Err(Reject::WrongType.into()),
            }
        }
    };
}

impl Ctx<'_> {
    pub fn entry(&self, key: &[u8]) -> Option<&Entry> {
        self.ks.get(self.db, key)
    }

    pub fn entry_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.ks
            .dbs
            .get_mut(&self.db)
            .and_then(|d| d.keys.get_mut(key))
    }

    pub fn exists(&self, key: &[u8]) -> bool {
        self.entry(key).is_some()
    }

    /// Inserts a new value with no expiry, replacing any (Redis's `setKey`).
    pub fn set_value(&mut self, key: &[u8], value: Value) {
        self.ks.insert(self.db, key, Entry::new(value));
    }

    /// Creates a key holding a new, possibly still empty, collection (the caller fills it:
    /// Redis never keeps an empty one).
    pub fn create(&mut self, key: &[u8], value: Value) {
        let db = self.db;
        self.ks
            .dbs
            .entry(db)
            .or_default()
            .keys
            .insert(key.into(), Entry::new(value));
    }

    /// Replaces the value, keeping the expiry (`KEEPTTL`); a new key gets none.
    pub fn set_value_keepttl(&mut self, key: &[u8], value: Value) {
        let expire_ms = self.entry(key).and_then(Entry::expire_ms);
        self.ks
            .insert(self.db, key, Entry::with_expiry(value, expire_ms));
    }

    pub fn delete(&mut self, key: &[u8]) -> bool {
        self.ks.remove(self.db, key)
    }

    /// Deletes `key` when it holds an empty collection.
    pub fn drop_if_empty(&mut self, key: &[u8]) {
        if self
            .entry(key)
            .is_some_and(|e| e.value.is_empty_collection())
        {
            self.delete(key);
        }
    }

    typed_getters!(string, string_mut, String, Vec<u8>);
    typed_getters!(list, list_mut, List, VecDeque<Vec<u8>>);
    typed_getters!(set, set_mut, Set, HashSet<Vec<u8>>);
    typed_getters!(zset, zset_mut, Zset, Zset);
    typed_getters!(hash, hash_mut, Hash, Hash);
    typed_getters!(stream, stream_mut, Stream, Box<Stream>);

    /// A string of `len` bytes at `key` longer than the engine's limit is refused. (Redis
    /// does not apply its `proto-max-bulk-len` check to commands it loads from an AOF.)
    pub fn check_len(&self, key: &[u8], len: u64) -> R<()> {
        if len > self.ks.limits.max_string as u64 {
            return Err(ApplyErrorKind::Limit {
                key: key.to_vec(),
                what: format!(
                    "a string of {len} bytes (limit {})",
                    self.ks.limits.max_string
                ),
            });
        }
        Ok(())
    }

    /// A database index argument (`SELECT`, `MOVE`, `COPY DB`, `SWAPDB`).
    pub fn db_index(&self, a: &[u8], msg: &str) -> R<u64> {
        let v = super::args::string2ll(a).ok_or_else(|| Reject::Err(msg.into()))?;
        if v < 0 || v as u64 >= self.ks.databases || v > i32::MAX as i64 {
            return Err(Reject::Err("DB index is out of range".into()).into());
        }
        Ok(v as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::{COMMANDS, NEWER_ARITIES};

    /// Every replayed command has its arity from the generated table, except exactly the
    /// newer ones listed in `NEWER_ARITIES` (which the table must not have).
    #[test]
    fn every_command_has_one_arity_source() {
        for (name, _) in COMMANDS {
            let in_table = crate::aof::keys::lookup(name.as_bytes()).is_some();
            let newer = NEWER_ARITIES.iter().any(|n| n.0 == *name);
            assert!(
                in_table != newer,
                "{name}: in table {in_table}, newer {newer}"
            );
        }
        for (name, _) in NEWER_ARITIES {
            assert!(
                COMMANDS.iter().any(|c| c.0 == *name),
                "{name} is not replayed"
            );
        }
    }
}
