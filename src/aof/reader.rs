//! Readers of AOF command streams: [`AofReader`] over bytes in memory (zero-copy iterator)
//! and [`AofStream`] over any `io::Read` in bounded memory. Both yield [`AofItem`]s with
//! their offsets, line numbers and context (database, timestamp, transaction), and both stop
//! at the first record `redis-check-aof` would reject, with a [`ReadFailure`] that says where
//! it would truncate ([`ReadFailure::ok_up_to`]).

use std::io::Read;

use crate::aof::resp::{
    parse_record, parse_timestamp, ArgIter, RawError, RawErrorKind, RawKind, RawRecord, Step,
};
use crate::error::{escape_bytes, Error, Result};

/// One command of an AOF, borrowed from the input.
#[derive(Debug, Clone)]
pub struct Command<'a> {
    /// Absolute offset of its `*` line.
    pub offset: u64,
    /// Absolute offset just past it.
    pub end: u64,
    /// RESP line number of its `*` line within the file (1-based; every header line,
    /// payload and annotation counts as one line).
    pub line: u64,
    /// The database it runs in: the last `SELECT` before it in this file, 0 at the start of
    /// every file (for a `SELECT`, the database it selects).
    pub db: u64,
    /// The last `#TS:` stamp before it (carried across the files of a set).
    pub timestamp: Option<i64>,
    /// Offset of the `MULTI` of the transaction it belongs to (set on `MULTI` and `EXEC`
    /// themselves too), `None` outside a transaction.
    pub multi: Option<u64>,
    argc: i64,
    raw: &'a [u8],
    name: &'a [u8],
}

impl<'a> Command<'a> {
    /// The exact bytes of the command (its RESP encoding, as in the file).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The first argument (the command name, in the case it was written), empty for `*0`.
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// True when the command name equals `name`, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }

    /// Number of arguments (including the name).
    pub fn argc(&self) -> usize {
        usize::try_from(self.argc).unwrap_or(0)
    }

    /// The arguments (binary-safe), name first.
    pub fn args(&self) -> ArgIter<'a> {
        ArgIter::new(self.raw)
    }

    /// The `i`-th argument.
    pub fn arg(&self, i: usize) -> Option<&'a [u8]> {
        self.args().nth(i)
    }

    /// The command with its arguments for messages: `SET "k" "v"` (escaped, shortened).
    pub fn display(&self) -> String {
        let mut s = String::new();
        for (i, a) in self.args().enumerate() {
            if i == 4 {
                s.push_str(&format!(" ... ({} arguments)", self.argc()));
                break;
            }
            if i > 0 {
                s.push(' ');
            }
            if i == 0 {
                s.push_str(&escape_bytes(a));
            } else {
                s.push('"');
                s.push_str(&escape_bytes(a));
                s.push('"');
            }
        }
        s
    }
}

/// A `#` annotation line.
#[derive(Debug, Clone)]
pub struct Annotation<'a> {
    /// Absolute offset of the `#`.
    pub offset: u64,
    /// Absolute offset just past the line.
    pub end: u64,
    /// RESP line number within the file.
    pub line: u64,
    /// The line, including its `\r\n` when present.
    pub text: &'a [u8],
    /// The value of a valid `#TS:<unix-seconds>` stamp.
    pub timestamp: Option<i64>,
}

/// A record of an AOF command stream.
#[derive(Debug, Clone)]
pub enum AofItem<'a> {
    /// A command.
    Command(Command<'a>),
    /// A `#` annotation (a `#TS:` timestamp when [`Annotation::timestamp`] is set).
    Annotation(Annotation<'a>),
}

impl AofItem<'_> {
    /// Absolute offset of the record.
    pub fn offset(&self) -> u64 {
        match self {
            AofItem::Command(c) => c.offset,
            AofItem::Annotation(a) => a.offset,
        }
    }

    /// Absolute offset just past the record.
    pub fn end(&self) -> u64 {
        match self {
            AofItem::Command(c) => c.end,
            AofItem::Annotation(a) => a.end,
        }
    }
}

/// Where and why reading stopped early, with the truncation point `redis-check-aof` uses.
#[derive(Debug, Clone)]
pub struct ReadFailure {
    /// The error: message and absolute offset of the offending bytes.
    pub error: Error,
    /// Absolute offset of the record being read.
    pub record_offset: u64,
    /// RESP line number of that record.
    pub line: u64,
    /// `redis-check-aof`'s `ok_up_to`: the start of the first bad top-level record (the
    /// `MULTI` when inside a transaction). Everything before it is intact.
    pub ok_up_to: u64,
    /// The input ended (a short read) rather than containing wrong bytes.
    pub truncated: bool,
    /// Name of the command being read, when its first argument was read.
    pub command: Option<Vec<u8>>,
    /// The last `#TS:` stamp before the record.
    pub timestamp: Option<i64>,
    /// Offset of the open `MULTI`, when inside a transaction.
    pub multi: Option<u64>,
    /// True for the two failures Redis's own AOF loader goes past: an `EXEC` without `MULTI`
    /// (refused with an error reply and skipped) and a nested `MULTI` (queued, refused when
    /// `EXEC` runs it). Only redis-check-aof, and so this reader, calls the file damaged there;
    /// cutting it (`redis-check-aof --fix`) drops commands redis-server would load.
    pub loader_goes_on: bool,
}

/// Running state of a reader: what is in effect at the current position.
#[derive(Debug, Clone, Default)]
pub struct StreamState {
    /// Selected database.
    pub db: u64,
    /// Last `#TS:` stamp seen (or carried in).
    pub timestamp: Option<i64>,
    /// Offset of the open `MULTI`.
    pub multi: Option<u64>,
    /// Line number of the next record.
    pub line: u64,
    /// Commands read.
    pub commands: u64,
    /// Annotations read.
    pub annotations: u64,
    /// Valid `#TS:` annotations read.
    pub timestamps: u64,
    /// First `#TS:` stamp in this stream.
    pub first_timestamp: Option<i64>,
    /// Records redis-check-aof calls damage but redis-server's loader goes past (a stray
    /// `EXEC`, a nested `MULTI`), read as commands because the reader reads as the loader
    /// does ([`AofReader::as_loader`]). Always 0 otherwise.
    pub loader_only_records: u64,
    /// Offset of the first such record.
    pub first_loader_only_record: Option<u64>,
    /// Commands with no arguments (`*0`, `*-1`): accepted by redis-check-aof, refused by
    /// the Redis loader.
    pub empty_commands: u64,
    /// First offset of such a command.
    pub first_empty_command: Option<u64>,
    /// `#TS:` lines whose number is invalid (redis-check-aof refuses them in timestamp mode).
    pub bad_timestamps: u64,
    /// Annotations not terminated by a newline (cut by the end of the file or too long).
    pub unterminated_annotations: u64,
    /// `\r\n` consumed by commands (redis-check-aof's `ok_up_to_line` counter, minus 1).
    pub crlfs: u64,
    /// The `redis-check-aof` truncation point so far (absolute).
    pub ok_up_to: u64,
}

/// The record-level logic shared by both readers: transactions, SELECT, timestamps.
#[derive(Debug, Clone)]
struct Core {
    st: StreamState,
    failure: Option<ReadFailure>,
    done: bool,
    file: Option<std::path::PathBuf>,
    /// Absolute offset of the record being parsed.
    pending_start: u64,
    /// Read as redis-server's loader does: a stray `EXEC` and a nested `MULTI` are commands.
    as_loader: bool,
}

enum Handled<'b> {
    Item(AofItem<'b>),
    End,
    Fail,
}

impl Core {
    fn new(base: u64, timestamp: Option<i64>) -> Core {
        Core {
            st: StreamState {
                timestamp,
                line: 1,
                ok_up_to: base,
                ..StreamState::default()
            },
            failure: None,
            done: false,
            file: None,
            pending_start: base,
            as_loader: false,
        }
    }

    fn fail(&mut self, error: Error, record_offset: u64, truncated: bool, name: Option<&[u8]>) {
        let mut error = error;
        if let Some(f) = &self.file {
            error = error.in_file(f);
        }
        self.failure = Some(ReadFailure {
            error,
            record_offset,
            line: self.st.line,
            ok_up_to: self.st.multi.unwrap_or(record_offset),
            truncated,
            command: name.map(|n| n.to_vec()),
            timestamp: self.st.timestamp,
            multi: self.st.multi,
            loader_goes_on: false,
        });
        self.st.ok_up_to = self.st.multi.unwrap_or(record_offset);
        self.done = true;
    }

    /// Counts a record redis-check-aof calls damage and the loader reads as a command.
    fn pass_loader_only(&mut self, offset: u64) {
        self.st.loader_only_records += 1;
        self.st.first_loader_only_record.get_or_insert(offset);
    }

    fn mark_loader_goes_on(&mut self) {
        if let Some(f) = &mut self.failure {
            f.loader_goes_on = true;
        }
    }

    fn handle<'b>(&mut self, step: Step, buf: &'b [u8], base: u64) -> Handled<'b> {
        match step {
            Step::NeedMore => unreachable_need_more(),
            Step::End => {
                if let Some(m) = self.st.multi {
                    let e = Error::truncated(
                        base + buf.len() as u64,
                        "the EXEC of the transaction (end of file inside MULTI)",
                        0,
                    )
                    .with_context(format!("MULTI at offset {m} has no EXEC"));
                    self.fail(e, m, true, Some(b"MULTI"));
                    return Handled::Fail;
                }
                self.done = true;
                Handled::End
            }
            Step::Error(e) => {
                let rec = self.pending_start;
                let name = e.name.and_then(|(s, t)| buf.get(s..t));
                self.st.crlfs += e.crlfs;
                let truncated = e.is_truncation();
                let err = raw_error(&e, base, name);
                self.fail(err, rec, truncated, name);
                Handled::Fail
            }
            Step::Record(r) => self.record(r, buf, base),
        }
    }

    fn record<'b>(&mut self, r: RawRecord, buf: &'b [u8], base: u64) -> Handled<'b> {
        let offset = base + r.start as u64;
        let end = base + r.end as u64;
        let raw = buf.get(r.start..r.end).unwrap_or(&[]);
        let line = self.st.line;
        match r.kind {
            RawKind::Annotation => {
                self.st.line += r.crlfs;
                self.st.annotations += 1;
                if r.crlfs == 0 {
                    self.st.unterminated_annotations += 1;
                }
                let timestamp = match parse_timestamp(raw) {
                    Some(Ok(ts)) => {
                        self.st.timestamp = Some(ts);
                        self.st.timestamps += 1;
                        if self.st.first_timestamp.is_none() {
                            self.st.first_timestamp = Some(ts);
                        }
                        Some(ts)
                    }
                    Some(Err(())) => {
                        self.st.bad_timestamps += 1;
                        None
                    }
                    None => None,
                };
                if self.st.multi.is_none() {
                    self.st.ok_up_to = end;
                }
                Handled::Item(AofItem::Annotation(Annotation {
                    offset,
                    end,
                    line,
                    text: raw,
                    timestamp,
                }))
            }
            RawKind::Command => {
                let name = buf.get(r.name.0..r.name.1).unwrap_or(&[]);
                let mut multi = self.st.multi;
                if c_str_is(name, b"multi") {
                    match self.st.multi {
                        None => {
                            self.st.multi = Some(offset);
                            multi = Some(offset);
                        }
                        // The loader queues it; EXEC refuses it ("MULTI calls can not be
                        // nested"). The transaction stays the outer one.
                        Some(_) if self.as_loader => self.pass_loader_only(offset),
                        Some(m) => {
                            // redis-check-aof stops right after reading the name: it consumed
                            // the count line and the name's two lines.
                            self.st.crlfs += 3;
                            let e = Error::corrupt(offset, "EXEC before another MULTI", "MULTI")
                                .with_context(format!(
                                "nested MULTI: the transaction opened at offset {m} is still open"
                            ));
                            self.fail(e, offset, false, Some(name));
                            self.mark_loader_goes_on();
                            return Handled::Fail;
                        }
                    }
                } else if c_str_is(name, b"exec") {
                    match self.st.multi {
                        Some(_) => self.st.multi = None,
                        // The loader runs it: "EXEC without MULTI", and goes on.
                        None if self.as_loader => self.pass_loader_only(offset),
                        None => {
                            self.st.crlfs += 3;
                            let e = Error::corrupt(offset, "a MULTI before EXEC", "EXEC")
                                .with_context("EXEC outside a transaction");
                            self.fail(e, offset, false, Some(name));
                            self.mark_loader_goes_on();
                            return Handled::Fail;
                        }
                    }
                } else if r.argc == 2 && name.eq_ignore_ascii_case(b"select") {
                    let mut it = ArgIter::new(raw);
                    if let Some(db) = it.nth(1).and_then(parse_db) {
                        self.st.db = db;
                    }
                }
                if r.argc <= 0 {
                    self.st.empty_commands += 1;
                    if self.st.first_empty_command.is_none() {
                        self.st.first_empty_command = Some(offset);
                    }
                }
                self.st.line += r.crlfs;
                self.st.crlfs += r.crlfs;
                self.st.commands += 1;
                if self.st.multi.is_none() {
                    self.st.ok_up_to = end;
                }
                Handled::Item(AofItem::Command(Command {
                    offset,
                    end,
                    line,
                    db: self.st.db,
                    timestamp: self.st.timestamp,
                    multi,
                    argc: r.argc,
                    raw,
                    name,
                }))
            }
        }
    }
}

#[cold]
fn unreachable_need_more() -> Handled<'static> {
    // The drivers handle NeedMore before calling `handle`; treat it as the end.
    Handled::End
}

/// `strcasecmp(name, word) == 0` with `name` read as a C string (up to its first NUL), as
/// redis-check-aof compares the command name.
#[inline]
fn c_str_is(name: &[u8], word: &[u8]) -> bool {
    name.len() >= word.len()
        && name[..word.len()].eq_ignore_ascii_case(word)
        && name.get(word.len()).is_none_or(|&c| c == 0)
}

/// A database number as `SELECT` parses it (a non-negative decimal integer).
/// The database of a `SELECT` argument as the reader follows it (`None`: not a number).
pub(crate) fn parse_db(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 10 || !b.iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn describe_byte(c: u8) -> String {
    match c {
        0 => "a zero byte (a zero-filled region, typical after a crash or power loss)".into(),
        0x21..=0x7e => format!("'{}' (0x{c:02x})", c as char),
        _ => format!("byte 0x{c:02x}"),
    }
}

fn raw_error(e: &RawError, base: u64, name: Option<&[u8]>) -> Error {
    let at = base + e.at as u64;
    let err = match &e.kind {
        RawErrorKind::Truncated { what, needed } => Error::truncated(at, what, *needed),
        RawErrorKind::Format { found, inline } => Error::corrupt(
            at,
            "'*' (a command) or '#' (an annotation)",
            if *inline {
                format!(
                    "{} (an inline command or text: AOF files hold only RESP arrays)",
                    describe_byte(*found)
                )
            } else {
                describe_byte(*found)
            },
        ),
        RawErrorKind::Prefix { expected, found } => Error::corrupt(
            at,
            if *expected == b'$' {
                "'$' (an argument length line)"
            } else {
                "'*' (an argument count line)"
            },
            describe_byte(*found),
        ),
        RawErrorKind::BadLine { expected, line_cut } => Error::corrupt(
            at,
            if *expected == b'$' {
                "\\r\\n after the argument length"
            } else {
                "\\r\\n after the argument count"
            },
            if *line_cut {
                "a line longer than 127 bytes".to_string()
            } else {
                "other bytes".to_string()
            },
        ),
        RawErrorKind::BadLength(n) => {
            Error::corrupt(at, "an argument length between 0 and 2^63-3", n.to_string())
        }
        RawErrorKind::NoCrlf(b) => Error::corrupt(
            at,
            "\\r\\n after the argument",
            format!("{:02x}{:02x}", b[0], b[1]),
        ),
    };
    let mut ctx = String::new();
    if let (Some(i), Some(n)) = (e.arg, e.argc) {
        ctx = format!("argument {} of {}", i + 1, n);
    }
    if let Some(n) = name {
        ctx = format!("command {} {}", escape_bytes(n), ctx);
    }
    if ctx.is_empty() {
        err
    } else {
        err.with_context(ctx.trim_end().to_string())
    }
}

/// Zero-copy reader over an AOF command stream in memory.
///
/// Yields `Result<AofItem>`; after the first error (the first record `redis-check-aof` would
/// reject) it yields that error once and then `None`; [`AofReader::failure`] has the details.
///
/// ```
/// use redsafe::aof::{AofItem, AofReader};
/// let data = b"#TS:1700000000\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
/// let mut n = 0;
/// for item in AofReader::new(data, 0) {
///     if let AofItem::Command(c) = item.unwrap() {
///         assert!(c.is("set") && c.timestamp == Some(1700000000));
///         n += 1;
///     }
/// }
/// assert_eq!(n, 1);
/// ```
#[derive(Debug, Clone)]
pub struct AofReader<'a> {
    data: &'a [u8],
    base: u64,
    pos: usize,
    core: Core,
}

impl<'a> AofReader<'a> {
    /// A reader over `data`, whose first byte is at absolute offset `base` in its file
    /// (e.g. the end of an RDB preamble).
    pub fn new(data: &'a [u8], base: u64) -> Self {
        Self::with_timestamp(data, base, None)
    }

    /// Like [`AofReader::new`], with the `#TS:` stamp in effect at the start (carried from
    /// the previous file of a set).
    pub fn with_timestamp(data: &'a [u8], base: u64, timestamp: Option<i64>) -> Self {
        AofReader {
            data,
            base,
            pos: 0,
            core: Core::new(base, timestamp),
        }
    }

    /// Names the file in errors.
    pub fn in_file(mut self, path: &std::path::Path) -> Self {
        self.core.file = Some(path.to_path_buf());
        self
    }

    /// Reads as redis-server's AOF loader does rather than as redis-check-aof: a stray
    /// `EXEC` (no `MULTI` open) and a nested `MULTI` are handed out as commands (the loader
    /// refuses both with an error reply and goes on) instead of stopping the reader as
    /// damage. They are counted in [`StreamState::loader_only_records`].
    pub fn as_loader(mut self) -> Self {
        self.core.as_loader = true;
        self
    }

    /// Absolute offset of the next record.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The running state (database, timestamp, counters, truncation point).
    pub fn state(&self) -> &StreamState {
        &self.core.st
    }

    /// `redis-check-aof`'s truncation point: the end of the last complete top-level record
    /// read so far (the open `MULTI` inside a transaction; the failure point after an error).
    pub fn ok_up_to(&self) -> u64 {
        self.core.st.ok_up_to
    }

    /// Details of the error that stopped the reader, if any.
    pub fn failure(&self) -> Option<&ReadFailure> {
        self.core.failure.as_ref()
    }
}

impl<'a> Iterator for AofReader<'a> {
    type Item = Result<AofItem<'a>>;

    fn next(&mut self) -> Option<Result<AofItem<'a>>> {
        if self.core.done {
            return None;
        }
        let data = self.data;
        let step = parse_record(data, self.pos, data.len() as u64);
        self.core.pending_start = self.base + self.pos as u64;
        match self.core.handle(step, data, self.base) {
            Handled::Item(item) => {
                self.pos = (item.end() - self.base) as usize;
                Some(Ok(item))
            }
            Handled::End => None,
            Handled::Fail => self.core.failure.as_ref().map(|f| Err(f.error.clone())),
        }
    }
}

/// Default read size of [`AofStream`].
pub const STREAM_CHUNK: usize = 4 << 20;

/// Reader over an AOF command stream from any `io::Read`, in memory bounded by the largest
/// record (plus a 4 MiB chunk). Same records, errors and state as [`AofReader`]; items borrow
/// the reader's buffer, so it is driven with [`AofStream::next_item`] instead of `Iterator`.
#[derive(Debug)]
pub struct AofStream<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    base: u64,
    total: u64,
    core: Core,
    io_error: Option<Error>,
}

impl<R: Read> AofStream<R> {
    /// A reader over `src`, positioned at absolute offset `offset` of a file of `size` bytes;
    /// at most `size - offset` bytes are read (a snapshot of a file that may be growing).
    pub fn new(src: R, offset: u64, size: u64, timestamp: Option<i64>) -> Self {
        let len = size.saturating_sub(offset);
        let cap = (len.min(STREAM_CHUNK as u64) as usize).max(256);
        AofStream {
            src,
            buf: vec![0; cap],
            start: 0,
            filled: 0,
            base: offset,
            total: size,
            core: Core::new(offset, timestamp),
            io_error: None,
        }
    }

    /// Names the file in errors.
    pub fn in_file(mut self, path: &std::path::Path) -> Self {
        self.core.file = Some(path.to_path_buf());
        self
    }

    /// Reads as redis-server's AOF loader does rather than as redis-check-aof: a stray
    /// `EXEC` (no `MULTI` open) and a nested `MULTI` are handed out as commands (the loader
    /// refuses both with an error reply and goes on) instead of stopping the reader as
    /// damage. They are counted in [`StreamState::loader_only_records`].
    pub fn as_loader(mut self) -> Self {
        self.core.as_loader = true;
        self
    }

    /// The running state.
    pub fn state(&self) -> &StreamState {
        &self.core.st
    }

    /// `redis-check-aof`'s truncation point so far (see [`AofReader::ok_up_to`]).
    pub fn ok_up_to(&self) -> u64 {
        self.core.st.ok_up_to
    }

    /// Details of the error that stopped the reader (not set for I/O errors).
    pub fn failure(&self) -> Option<&ReadFailure> {
        self.core.failure.as_ref()
    }

    /// Absolute offset of the next record.
    pub fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// The size the reader stops at (smaller than given when the file shrank).
    pub fn size(&self) -> u64 {
        self.total
    }

    fn refill(&mut self) -> Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.base += self.start as u64;
            self.start = 0;
        }
        if self.filled == self.buf.len() {
            let want = self.buf.len().saturating_mul(2);
            self.buf.resize(want, 0);
        }
        let left = self.total.saturating_sub(self.base + self.filled as u64);
        let room = (self.buf.len() - self.filled).min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = loop {
            match self
                .src
                .read(&mut self.buf[self.filled..self.filled + room])
            {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let mut err = Error::new(crate::error::ErrorKind::Io(e.to_string()))
                        .at(self.base + self.filled as u64);
                    if let Some(f) = &self.core.file {
                        err = err.in_file(f);
                    }
                    return Err(err);
                }
            }
        };
        if n == 0 {
            // The file is shorter than announced: it ends here.
            self.total = self.base + self.filled as u64;
        }
        self.filled += n;
        Ok(())
    }

    /// The next record, `None` at the end or after an error.
    pub fn next_item(&mut self) -> Option<Result<AofItem<'_>>> {
        if self.core.done {
            return None;
        }
        loop {
            let step = parse_record(&self.buf[..self.filled], self.start, self.total - self.base);
            if let Step::NeedMore = step {
                if let Err(e) = self.refill() {
                    self.core.done = true;
                    self.io_error = Some(e.clone());
                    return Some(Err(e));
                }
                continue;
            }
            self.core.pending_start = self.base + self.start as u64;
            let buf = &self.buf[..self.filled];
            return match self.core.handle(step, buf, self.base) {
                Handled::Item(item) => {
                    self.start = (item.end() - self.base) as usize;
                    Some(Ok(item))
                }
                Handled::End => None,
                Handled::Fail => self.core.failure.as_ref().map(|f| Err(f.error.clone())),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TX: &[u8] = b"#TS:100\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n*1\r\n$4\r\nexec\r\n#TS:101\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n";

    #[test]
    fn context() {
        let items: Vec<_> = AofReader::new(TX, 10).map(|r| r.unwrap()).collect();
        assert_eq!(items.len(), 7);
        let AofItem::Command(set) = &items[3] else {
            panic!()
        };
        assert!(set.is("SET"));
        assert_eq!(
            (set.db, set.timestamp, set.multi),
            (3, Some(100), Some(10 + 32))
        );
        assert_eq!(set.display(), "SET \"a\" \"b\"");
        let AofItem::Command(del) = &items[6] else {
            panic!()
        };
        assert_eq!(
            (del.db, del.timestamp, del.multi, del.end),
            (3, Some(101), None, 10 + TX.len() as u64)
        );
        assert_eq!(del.line, 1 + 1 + 5 + 3 + 7 + 3 + 1);
    }

    #[test]
    fn stream_equals_slice_at_every_chunk_size() {
        for cut in 0..=TX.len() {
            let data = &TX[..cut];
            let mut a = AofReader::new(data, 0);
            let from_slice: Vec<_> = a.by_ref().map(|r| r.map(|i| i.offset())).collect();
            let mut s = AofStream::new(Slow(data, 0), 0, data.len() as u64, None);
            let mut from_stream = Vec::new();
            while let Some(r) = s.next_item() {
                from_stream.push(r.map(|i| i.offset()));
            }
            assert_eq!(from_slice, from_stream, "cut {cut}");
            assert_eq!(a.ok_up_to(), s.ok_up_to(), "cut {cut}");
            let fa = a.failure().map(|f| (f.ok_up_to, f.truncated));
            let fs = s.failure().map(|f| (f.ok_up_to, f.truncated));
            assert_eq!(fa, fs, "cut {cut}");
        }
    }

    /// A reader returning one byte per call.
    struct Slow<'a>(&'a [u8], usize);
    impl Read for Slow<'_> {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            if self.1 >= self.0.len() || b.is_empty() {
                return Ok(0);
            }
            b[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    #[test]
    fn multi_rules() {
        // unterminated MULTI: ok_up_to at the MULTI
        let d = &TX[..TX.len() - 40];
        let mut r = AofReader::new(d, 0);
        while r.next().is_some() {}
        assert_eq!(r.ok_up_to(), 32);
        assert!(r.failure().unwrap().truncated);
        // EXEC without MULTI
        let d = b"*1\r\n$4\r\nEXEC\r\n";
        let mut r = AofReader::new(d, 0);
        assert!(r.next().unwrap().is_err());
        assert_eq!(r.failure().unwrap().ok_up_to, 0);
        assert!(r.failure().unwrap().loader_goes_on);
        // nested MULTI
        let d = b"*0\r\n*1\r\n$5\r\nmulti\r\n*1\r\n$5\r\nmulti\r\n";
        let mut r = AofReader::new(d, 0);
        while let Some(Ok(_)) = r.next() {}
        assert_eq!(r.failure().unwrap().ok_up_to, 4);
        assert!(!r.failure().unwrap().truncated);
        assert!(r.failure().unwrap().loader_goes_on);
    }

    #[test]
    fn loader_mode_reads_past_stray_exec_and_nested_multi() {
        // MULTI, SET, MULTI (nested), EXEC, EXEC (stray), SET: six commands, no failure; the
        // nested MULTI stays in the outer transaction.
        let d = b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*1\r\n$5\r\nmulti\r\n*1\r\n$4\r\nEXEC\r\n*1\r\n$4\r\nexec\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n";
        let mut r = AofReader::new(d, 0).as_loader();
        let mut multis = Vec::new();
        for item in r.by_ref() {
            if let AofItem::Command(c) = item.unwrap() {
                multis.push(c.multi);
            }
        }
        assert!(r.failure().is_none());
        assert_eq!(multis, [Some(0), Some(0), Some(0), Some(0), None, None]);
        assert_eq!(r.state().loader_only_records, 2);
        assert_eq!(r.state().first_loader_only_record, Some(42));
        assert_eq!(r.ok_up_to(), d.len() as u64);
        let mut s = AofStream::new(&d[..], 0, d.len() as u64, None).as_loader();
        let mut n = 0;
        while let Some(item) = s.next_item() {
            item.unwrap();
            n += 1;
        }
        assert_eq!((n, s.state().loader_only_records), (6, 2));
        // An open transaction at the end is still cut back to its MULTI.
        let mut r = AofReader::new(&d[..57], 0).as_loader();
        while r.next().is_some() {}
        assert_eq!(r.failure().unwrap().ok_up_to, 0);
    }
}
