//! redsafe: read, check, repair, filter and restore Redis and Valkey persistence files.
//!
//! The library is organised by format:
//! - [`rdb`]: RDB snapshots (every version Redis 2.x–8.8 and Valkey write): a zero-copy pull
//!   parser with lazy value handles, and a checker.
//! - [`aof`]: append-only files: a RESP command reader, manifests, multi-part sets, checker
//!   and fixer.
//! - [`backup`]: shipping to S3 (or a directory), catalog, retention, point-in-time restore.
//!
//! Errors are [`Error`]s carrying the file, byte offset, db and key where known.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod aof;
pub mod backup;
pub mod diff;
pub mod error;
pub mod export;
pub mod filter;
pub mod fsutil;
pub mod keyspace;
pub mod mmap;
pub mod rdb;
pub mod stats;
pub mod time;

pub use error::{Error, ErrorKind, Result};
