//! Append-only files.

pub mod keys;
