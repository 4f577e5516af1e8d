//! Key selection shared by every command that works on a subset of keys: Redis glob
//! patterns ([`glob`], exactly `stringmatchlen`) and the [`KeyFilter`] built from `--db`,
//! `--key`, `--exclude-key`, `--type`, `--min-size` and `--expired`/`--not-expired`.
//!
//! ```
//! use redsafe::filter::{Glob, KeyFilter};
//! let mut f = KeyFilter::new();
//! f.include.push(Glob::new(b"user:*"));
//! assert!(f.matches(0, b"user:42", None, None, None));
//! assert!(!f.matches(0, b"session:1", None, None, None));
//! ```

pub mod glob;
pub mod keyfilter;

pub use glob::{stringmatchlen, Glob};
pub use keyfilter::{now_ms, parse_type, ExpiryFilter, KeyFilter};
