//! Applying commands: the dispatch table (name, Redis's arity, handler) and the lookups the
//! command families share. Every handler validates all its arguments and the types of the
//! keys it touches before it changes anything, so a refused command changes nothing.

use std::collections::{HashSet, VecDeque};

use super::model::{Entry, Hash, Stream, Value, Zset};
use super::{name_of, ApplyError, ApplyErrorKind, Client, Keyspace, Reject};

mod hashes;
mod keys;
mod lists;
mod server;
mod sets;
mod streams;
mod strings;
mod zsets;

/// What a handler returns.
pub(crate) type R<T> = Result<T, ApplyErrorKind>;

/// A handler: the command's arguments, name first.
type Handler = fn(&mut Ctx<'_>, &[&[u8]]) -> R<()>;

/// The commands: lower-case name, Redis arity (n: exactly n arguments with the name; -n: at
/// least n), handler.
const COMMANDS: &[(&str, i32, Handler)] = &[
    // strings
    ("set", -3, strings::set),
    ("setnx", 3, strings::setnx),
    ("setex", 4, strings::setex),
    ("psetex", 4, strings::psetex),
    ("getset", 3, strings::getset),
    ("getdel", 2, strings::getdel),
    ("getex", -2, strings::getex),
    ("incr", 2, strings::incr),
    ("decr", 2, strings::decr),
    ("incrby", 3, strings::incrby),
    ("decrby", 3, strings::decrby),
    ("incrbyfloat", 3, strings::incrbyfloat),
    ("append", 3, strings::append),
    ("setrange", 4, strings::setrange),
    ("setbit", 4, strings::setbit),
    ("mset", -3, strings::mset),
    ("msetnx", -3, strings::msetnx),
    ("pfadd", -2, strings::pfadd),
    // keys
    ("del", -2, keys::del),
    ("unlink", -2, keys::del),
    ("expire", -3, keys::expire),
    ("pexpire", -3, keys::pexpire),
    ("expireat", -3, keys::expireat),
    ("pexpireat", -3, keys::pexpireat),
    ("persist", 2, keys::persist),
    ("rename", 3, keys::rename),
    ("renamenx", 3, keys::renamenx),
    ("move", 3, keys::move_),
    ("copy", -3, keys::copy),
    ("flushdb", -1, keys::flushdb),
    ("flushall", -1, keys::flushall),
    ("swapdb", 3, keys::swapdb),
    // lists
    ("lpush", -3, lists::lpush),
    ("rpush", -3, lists::rpush),
    ("lpushx", -3, lists::lpushx),
    ("rpushx", -3, lists::rpushx),
    ("lpop", -2, lists::lpop),
    ("rpop", -2, lists::rpop),
    ("lset", 4, lists::lset),
    ("lrem", 4, lists::lrem),
    ("linsert", 5, lists::linsert),
    ("ltrim", 4, lists::ltrim),
    ("lmove", 5, lists::lmove),
    ("rpoplpush", 3, lists::rpoplpush),
    ("blmove", 6, lists::blmove),
    ("brpoplpush", 4, lists::brpoplpush),
    // sets
    ("sadd", -3, sets::sadd),
    ("srem", -3, sets::srem),
    ("smove", 4, sets::smove),
    ("spop", -2, sets::spop),
    ("sinterstore", -3, sets::sinterstore),
    ("sunionstore", -3, sets::sunionstore),
    ("sdiffstore", -3, sets::sdiffstore),
    // sorted sets
    ("zadd", -4, zsets::zadd),
    ("zincrby", 4, zsets::zincrby),
    ("zrem", -3, zsets::zrem),
    ("zremrangebyscore", 4, zsets::zremrangebyscore),
    ("zremrangebyrank", 4, zsets::zremrangebyrank),
    ("zremrangebylex", 4, zsets::zremrangebylex),
    ("zpopmin", -2, zsets::zpopmin),
    ("zpopmax", -2, zsets::zpopmax),
    ("zunionstore", -4, zsets::zunionstore),
    ("zinterstore", -4, zsets::zinterstore),
    ("zdiffstore", -4, zsets::zdiffstore),
    // hashes
    ("hset", -4, hashes::hset),
    ("hmset", -4, hashes::hset),
    ("hsetnx", 4, hashes::hsetnx),
    ("hdel", -3, hashes::hdel),
    ("hincrby", 4, hashes::hincrby),
    ("hincrbyfloat", 4, hashes::hincrbyfloat),
    ("hexpire", -6, hashes::hexpire),
    ("hpexpire", -6, hashes::hpexpire),
    ("hexpireat", -6, hashes::hexpireat),
    ("hpexpireat", -6, hashes::hpexpireat),
    ("hpersist", -5, hashes::hpersist),
    // streams
    ("xadd", -5, streams::xadd),
    ("xdel", -3, streams::xdel),
    ("xtrim", -4, streams::xtrim),
    ("xsetid", -3, streams::xsetid),
    ("xgroup", -2, streams::xgroup),
    ("xack", -4, streams::xack),
    ("xclaim", -6, streams::xclaim),
    // server
    ("select", 2, server::select),
    ("ping", -1, server::noop),
    ("echo", 2, server::noop),
];

/// The commands the engine applies (lower case), for documentation and tests.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS
        .iter()
        .map(|c| c.0)
        .chain(["multi", "exec", "discard"])
}

fn lookup(name: &[u8]) -> Option<&'static (&'static str, i32, Handler)> {
    COMMANDS
        .iter()
        .find(|c| name.eq_ignore_ascii_case(c.0.as_bytes()))
}

fn arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
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
        if client.queued.take().is_none() {
            return Err(err(
                Reject::Err("DISCARD without MULTI".into()).into(),
                client.db,
            ));
        }
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
    let Some(&(_, arity, handler)) = args.first().and_then(|n| lookup(n)) else {
        return Err(err(ApplyErrorKind::UnknownCommand));
    };
    if !arity_ok(arity, args.len()) {
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
        self.ks.insert(
            self.db,
            key.to_vec(),
            Entry {
                value,
                expire_ms: None,
            },
        );
    }

    /// Creates a key holding a new, possibly still empty, collection (the caller fills it:
    /// Redis never keeps an empty one).
    pub fn create(&mut self, key: &[u8], value: Value) {
        let db = self.db;
        self.ks.dbs.entry(db).or_default().keys.insert(
            key.to_vec(),
            Entry {
                value,
                expire_ms: None,
            },
        );
    }

    /// Replaces the value, keeping the expiry (`KEEPTTL`); a new key gets none.
    pub fn set_value_keepttl(&mut self, key: &[u8], value: Value) {
        let expire_ms = self.entry(key).and_then(|e| e.expire_ms);
        self.ks
            .insert(self.db, key.to_vec(), Entry { value, expire_ms });
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

    /// A string longer than the engine's limit is refused. (Redis does not apply its
    /// `proto-max-bulk-len` check to commands it loads from an AOF.)
    pub fn check_len(&self, len: u64) -> R<()> {
        if len > self.ks.limits.max_string as u64 {
            return Err(ApplyErrorKind::Limit(format!(
                "a string of {len} bytes (limit {})",
                self.ks.limits.max_string
            )));
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
