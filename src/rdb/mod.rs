//! RDB snapshots: a zero-copy pull parser, lazy value handles, inner-encoding decoders and a
//! checker. See `shared/spec/rdb-format.md` for the format.
//!
//! ```no_run
//! use redsafe::rdb::{RdbReader, Record};
//! let file = redsafe::mmap::MappedFile::open("dump.rdb".as_ref()).unwrap();
//! for item in RdbReader::new(file.bytes()) {
//!     if let Record::Entry(e) = item.unwrap().record {
//!         println!("{:?} {}", e.key, e.value.encoding_name());
//!     }
//! }
//! ```

pub mod check;
pub mod crc;
pub mod cursor;
pub mod encode;
pub mod encoding;
pub mod format;
pub mod materialize;
pub mod model;
pub mod reader;
pub mod salvage;
pub mod split;
mod stream;
pub mod transform;
pub mod value;
pub mod writer;

pub use check::{check_rdb, CheckOptions, ChecksumStatus, RdbReport};
pub use format::Dialect;
pub use model::{Value, ValueType};
pub use reader::{
    function_libraries_from_dump, DumpPayloadError, Entry, Header, Item, RdbReader, Record,
    ValueHandle,
};
pub use value::{DecodeOptions, Scratch, ValueVisitor};
pub use writer::{EntryMeta, EntryOutcome, RdbWriter, WriterOptions};

/// The AUX fields at the start of an RDB (e.g. `ctime`, `redis-ver`), read from its first
/// bytes (a prefix of the file is enough). Stops at the first record that is not an AUX
/// field; an unreadable prefix gives what was read so far.
pub fn leading_aux(prefix: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in RdbReader::new(prefix) {
        match item {
            Ok(it) => match it.record {
                Record::Header(_) => {}
                Record::Aux { key, value } => out.push((
                    String::from_utf8_lossy(&key).into_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                )),
                _ => break,
            },
            Err(_) => break,
        }
    }
    out
}
