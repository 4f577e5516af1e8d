//! Append-only files: a zero-copy RESP command reader, manifests, multi-part sets, a checker
//! that agrees with `redis-check-aof`, and a fixer (truncation, point-in-time truncation
//! across files, salvage of damaged regions).
//!
//! - [`resp`]: the record parser (no I/O) and RESP encoding.
//! - [`reader`]: [`AofReader`] (in memory, an iterator) and [`AofStream`] (any `io::Read`),
//!   yielding [`AofItem`]s with offsets, line numbers, db, timestamp and transaction.
//! - [`manifest`]: manifest parsing and writing with Redis's quoting rules.
//! - [`set`]: [`AofSet`], the files Redis loads from a file, directory or manifest.
//! - [`check`]: [`scan_set`] / [`check_set`], the walk over a whole set with a
//!   [`SetVisitor`], and the `redis-check-aof` verdict.
//! - [`fix`]: repair plans (truncate, truncate to a timestamp, salvage) and writing them
//!   atomically (a file, or a directory with its manifest).
//! - [`keys`]: the key positions of each command (from Redis's key specs).
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use redsafe::aof::{AofItem, AofSet, ScanOptions, SetVisitor, scan_set};
//!
//! struct CountSets(u64);
//! impl SetVisitor for CountSets {
//!     fn item(&mut self, _file: usize, item: &AofItem<'_>) -> ControlFlow<()> {
//!         if let AofItem::Command(c) = item {
//!             if c.is("set") { self.0 += 1; }
//!         }
//!         ControlFlow::Continue(())
//!     }
//! }
//! let set = AofSet::open("/var/lib/redis/appendonlydir".as_ref())?;
//! let mut v = CountSets(0);
//! let report = scan_set(&set, ScanOptions::default(), &mut v, &mut |_| {})?;
//! println!("{} SETs, verdict {}", v.0, report.verdict.name());
//! # Ok::<(), redsafe::Error>(())
//! ```

pub mod boundary;
pub mod check;
pub mod filter;
pub mod fix;
pub mod keys;
pub mod manifest;
pub mod pitr;
pub mod reader;
pub mod resp;
pub mod set;
pub mod timeline;

pub use check::{
    check_set, scan_set, FileReport, FileStatus, NoVisitor, RdbInfo, ScanOptions, SetReport,
    SetVisitor, Verdict,
};
pub use fix::{
    apply_in_place, plan_fix, write_aof_dir, write_fixed, FileAction, FixOptions, FixPlan, Loss,
    LossKind,
};
pub use manifest::{FileType, Manifest, ManifestEntry};
pub use reader::{Annotation, AofItem, AofReader, AofStream, Command, ReadFailure, StreamState};
pub use resp::{encode_command, parse_timestamp, ArgIter};
pub use set::{detect_kind, AofKind, AofPart, AofSet, InputKind, PartRole};
