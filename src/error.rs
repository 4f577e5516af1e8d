//! The library's error type: what went wrong, where (file, byte offset), and for which key.
//!
//! Shaped after `csv::Error` and wasmparser's `BinaryReaderError`: one boxed struct so that
//! `Result<T, Error>` stays one word wide, with a typed [`ErrorKind`] and accessors.

use std::fmt;
use std::path::{Path, PathBuf};

/// What kind of failure an [`Error`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ends before the structure being read is complete.
    Truncated {
        /// What was being read.
        expected: &'static str,
        /// How many more bytes were needed (when known; 0 otherwise).
        needed: u64,
    },
    /// The bytes do not follow the format.
    Corrupt {
        /// What was expected at this offset.
        expected: &'static str,
        /// What was found instead.
        found: String,
    },
    /// The stored CRC-64 does not match the file's contents.
    ChecksumMismatch {
        /// The checksum stored in the file.
        stored: u64,
        /// The checksum computed over the file.
        computed: u64,
    },
    /// The file uses a format version or feature this build does not handle.
    Unsupported(String),
    /// An I/O error (reading or writing files).
    Io(String),
    /// A usage error (bad arguments, conflicting options).
    Usage(String),
    /// The work would exceed a configured limit (e.g. the largest string the replay engine
    /// may build). The input is not damaged.
    Limit(String),
}

/// An option of the failed operation that would get past the error. The library names it;
/// the caller says how to ask for it in its own terms (the CLI names its flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remedy {
    /// Replace the output that already exists.
    Replace,
    /// Drop (or degrade) what the target format cannot hold, reporting each loss.
    Lossy,
    /// Skip the damaged region and keep the valid records after it.
    Salvage,
    /// Restore up to a gap in a backup's history instead of refusing.
    AllowGap,
    /// Rewrite a multi-key command to the keys a filter keeps.
    SplitMultiKey,
    /// Repair the input first (cut it where it is damaged, as redis-check-aof does).
    Repair,
    /// Choose a restore point the input can give (the latest state, before a command, a
    /// file offset).
    OtherRestorePoint,
    /// Repair the input first by salvaging: drop only the damaged records.
    RepairBySalvage,
}

#[derive(Debug, Clone, PartialEq)]
struct Inner {
    kind: ErrorKind,
    remedy: Option<Remedy>,
    offset: Option<u64>,
    file: Option<PathBuf>,
    db: Option<u64>,
    key: Option<Vec<u8>>,
    context: Option<String>,
}

/// An error from reading, checking or writing Redis persistence files.
#[derive(Clone, PartialEq)]
pub struct Error(Box<Inner>);

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of the given kind with no position.
    pub fn new(kind: ErrorKind) -> Self {
        Error(Box::new(Inner {
            kind,
            remedy: None,
            offset: None,
            file: None,
            db: None,
            key: None,
            context: None,
        }))
    }

    /// Input ended at `offset` while reading `expected`.
    pub fn truncated(offset: u64, expected: &'static str, needed: u64) -> Self {
        Self::new(ErrorKind::Truncated { expected, needed }).at(offset)
    }

    /// Bytes at `offset` are not `expected`.
    pub fn corrupt(offset: u64, expected: &'static str, found: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt {
            expected,
            found: found.into(),
        })
        .at(offset)
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, err: &std::io::Error) -> Self {
        Self::new(ErrorKind::Io(err.to_string())).in_file(path)
    }

    /// A usage error.
    pub fn usage(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage(msg.into()))
    }

    /// Names the option that would get past this error.
    pub fn with_remedy(mut self, r: Remedy) -> Self {
        self.0.remedy = Some(r);
        self
    }

    /// The option that would get past this error, if there is one.
    pub fn remedy(&self) -> Option<Remedy> {
        self.0.remedy
    }

    /// Sets the byte offset (absolute in the file).
    pub fn at(mut self, offset: u64) -> Self {
        self.0.offset = Some(offset);
        self
    }

    /// Sets the file, unless one is already set.
    pub fn in_file(mut self, path: &Path) -> Self {
        if self.0.file.is_none() {
            self.0.file = Some(path.to_path_buf());
        }
        self
    }

    /// Sets the database and key being read, unless already set.
    pub fn with_key(mut self, db: Option<u64>, key: &[u8]) -> Self {
        if self.0.key.is_none() {
            self.0.key = Some(key.to_vec());
            self.0.db = db;
        }
        self
    }

    /// Sets the database, unless already set.
    pub fn with_db(mut self, db: u64) -> Self {
        if self.0.db.is_none() {
            self.0.db = Some(db);
        }
        self
    }

    /// Replaces the database `from` by `to` (a part of a file read from a speculative record
    /// boundary names its records' database only once the part before it is confirmed).
    pub(crate) fn replace_db(mut self, from: u64, to: u64) -> Self {
        if self.0.db == Some(from) {
            self.0.db = Some(to);
        }
        self
    }

    /// Adds a description of what was being read (e.g. "zset-listpack value"), unless set.
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        if self.0.context.is_none() {
            self.0.context = Some(context.into());
        }
        self
    }

    /// Adds `context` after any context the error already has (`with_context` keeps the
    /// first one only).
    pub fn and_context(mut self, context: impl Into<String>) -> Self {
        let context = context.into();
        self.0.context = Some(match self.0.context.take() {
            Some(old) => format!("{old}; {context}"),
            None => context,
        });
        self
    }

    /// Re-anchors an error found inside data inflated from an LZF string: inflated bytes
    /// have no file offset, so the offset becomes `lzf_offset` (the file offset of the
    /// compressed bytes, which the inner decoder used as its base) and the context records
    /// the position within the inflated data.
    pub fn inside_lzf(mut self, lzf_offset: u64) -> Self {
        let note = match self.0.offset {
            Some(o) => format!(
                "at byte {} of the data inflated from the LZF string at this offset",
                o.saturating_sub(lzf_offset)
            ),
            None => "inside data inflated from the LZF string at this offset".to_string(),
        };
        self.0.context = Some(match self.0.context.take() {
            Some(c) => format!("{c}, {note}"),
            None => note,
        });
        self.0.offset = Some(lzf_offset);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The absolute byte offset of the failure, when known.
    pub fn offset(&self) -> Option<u64> {
        self.0.offset
    }

    /// The file the failure is in, when known.
    pub fn file(&self) -> Option<&Path> {
        self.0.file.as_deref()
    }

    /// The database of the key being read, when known.
    pub fn db(&self) -> Option<u64> {
        self.0.db
    }

    /// The key being read, when known.
    pub fn key(&self) -> Option<&[u8]> {
        self.0.key.as_deref()
    }

    /// What was being read, when known.
    pub fn context(&self) -> Option<&str> {
        self.0.context.as_deref()
    }

    /// True when the input is damaged (exit code 1), false for I/O and usage errors (exit 2).
    pub fn is_damage(&self) -> bool {
        matches!(
            self.0.kind,
            ErrorKind::Truncated { .. }
                | ErrorKind::Corrupt { .. }
                | ErrorKind::ChecksumMismatch { .. }
                | ErrorKind::Unsupported(_)
        )
    }

    /// True when the input ended early (as opposed to containing wrong bytes).
    pub fn is_truncation(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Truncated { .. })
    }

    /// The message without file, offset or key (e.g. "expected listpack terminator, found 0x3c").
    pub fn message(&self) -> String {
        match &self.0.kind {
            ErrorKind::Truncated { expected, needed } => {
                if *needed > 0 {
                    format!(
                        "unexpected end of input reading {expected} ({needed} more bytes needed)"
                    )
                } else {
                    format!("unexpected end of input reading {expected}")
                }
            }
            ErrorKind::Corrupt { expected, found } => {
                if found.is_empty() {
                    format!("expected {expected}")
                } else {
                    format!("expected {expected}, found {found}")
                }
            }
            ErrorKind::ChecksumMismatch { stored, computed } => {
                format!("checksum mismatch: stored CRC-64 {stored:016x}, computed {computed:016x}")
            }
            ErrorKind::Unsupported(s) => format!("unsupported: {s}"),
            ErrorKind::Io(s) => format!("I/O error: {s}"),
            ErrorKind::Usage(s) => s.clone(),
            ErrorKind::Limit(s) => format!("limit exceeded: {s}"),
        }
    }
}

/// Formats bytes for humans: printable ASCII as is, the rest as `\xNN`, cut at 64 bytes.
pub fn escape_bytes(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take(64) {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if b.len() > 64 {
        s.push_str(&format!("...({} bytes)", b.len()));
    }
    s
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.0;
        let mut sep = "";
        if let Some(p) = &i.file {
            write!(f, "{}", p.display())?;
            sep = ": ";
        }
        if let Some(o) = i.offset {
            write!(f, "{sep}offset {o} (0x{o:x})")?;
            sep = ": ";
        }
        let mut parts = Vec::new();
        if let Some(db) = i.db {
            parts.push(format!("db {db}"));
        }
        if let Some(k) = &i.key {
            parts.push(format!("key \"{}\"", escape_bytes(k)));
        }
        if let Some(c) = &i.context {
            parts.push(c.clone());
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
            sep = ": ";
        }
        write!(f, "{sep}{}", self.message())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}
