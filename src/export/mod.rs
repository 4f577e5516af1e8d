//! Exporting an RDB file's keys: JSON ([`json`]), Redis commands ([`resp`]) and
//! `RESTORE` commands with DUMP payloads ([`restore`]).
//!
//! Every exporter is an [`EntrySink`] fed by [`export_rdb`], which walks the file once,
//! applies a [`KeyFilter`] and hands each passing key to the sink. Sinks stream values
//! element by element through [`crate::rdb::ValueVisitor`] into a bounded buffer, so
//! memory stays flat whatever the file or value size.
//!
//! ```no_run
//! use redsafe::export::{export_rdb, json::{JsonLayout, JsonSink}};
//! use redsafe::filter::KeyFilter;
//! let file = redsafe::mmap::MappedFile::open("dump.rdb".as_ref())?;
//! let mut stdout = std::io::stdout().lock();
//! let mut sink = JsonSink::new(&mut stdout, JsonLayout::Lines, Default::default());
//! export_rdb(file.bytes(), &KeyFilter::new(), &mut sink, &mut |_| {})?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod json;
pub mod out;
pub mod resp;
pub mod restore;

use crate::error::{Error, Result};
use crate::filter::KeyFilter;
use crate::rdb::{Entry, Header, RdbReader, Record};

/// File-level records collected by sinks that print them at the end.
#[derive(Debug, Default, Clone)]
pub struct Meta {
    /// AUX fields in file order.
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Function library sources.
    pub functions: Vec<Vec<u8>>,
    /// Names of modules with AUX data.
    pub module_aux: Vec<String>,
}

/// Receives an RDB file's records from [`export_rdb`].
pub trait EntrySink {
    /// The file header (first).
    fn header(&mut self, h: Header) -> Result<()> {
        let _ = h;
        Ok(())
    }
    /// An AUX field.
    fn aux(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let _ = (key, value);
        Ok(())
    }
    /// A function library (its source code).
    fn function(&mut self, code: &[u8]) -> Result<()> {
        let _ = code;
        Ok(())
    }
    /// A function of a Redis 7.0 release candidate (`FUNCTION_PRE_GA`): name and code.
    fn function_pre_ga(&mut self, name: &[u8], code: &[u8]) -> Result<()> {
        let _ = (name, code);
        Ok(())
    }
    /// Module AUX data for the named module.
    fn module_aux(&mut self, name: &str) -> Result<()> {
        let _ = name;
        Ok(())
    }
    /// A key that passed the filter. Returns whether the sink wrote it (a sink may skip
    /// keys, e.g. already-expired ones).
    fn entry(&mut self, e: &Entry<'_>) -> Result<bool>;
    /// Called once after the last record.
    fn finish(&mut self) -> Result<()>;
    /// Called when the export stops on an error: write out every complete record buffered
    /// so far (and nothing of a record that failed).
    fn flush_complete(&mut self) -> Result<()> {
        Ok(())
    }
    /// The write error that stopped the sink, if any (to tell output failures, such as a
    /// closed pipe, from damaged input).
    fn take_io_error(&mut self) -> Option<std::io::Error> {
        None
    }
}

/// What an export did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExportSummary {
    /// The file header.
    pub header: Option<Header>,
    /// Keys in the file (read so far).
    pub keys_read: u64,
    /// Keys the filter let through.
    pub keys_matched: u64,
    /// Keys the sink wrote.
    pub keys_written: u64,
    /// `Some(true)` if the CRC-64 was verified, `Some(false)` on a mismatch, `None` when
    /// the file has none (version < 5, or stored as 0).
    pub checksum_ok: Option<bool>,
    /// The checksum mismatch (with its offset) when `checksum_ok` is `Some(false)`.
    #[serde(skip)]
    pub checksum_error: Option<Error>,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The input is damaged or unsupported (or a usage error).
    #[error(transparent)]
    Input(#[from] Error),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),
}

/// Walks `data` (a whole RDB file), passing every key that matches `filter` to `sink`.
/// `progress` is called with the byte offset now and then. The CRC-64 is verified at the
/// end and reported in the summary (the keys are already written by then).
pub fn export_rdb(
    data: &[u8],
    filter: &KeyFilter,
    sink: &mut dyn EntrySink,
    progress: &mut dyn FnMut(u64),
) -> std::result::Result<ExportSummary, ExportError> {
    let mut summary = ExportSummary::default();
    let pass_all = filter.is_pass_all();
    let mut reader = RdbReader::new(data);
    let mut next_progress = 0u64;
    let fail = |sink: &mut dyn EntrySink, e: Error| match sink.take_io_error() {
        Some(io) => ExportError::Output(io),
        None => ExportError::Input(e),
    };
    while let Some(item) = reader.next() {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                let _ = sink.flush_complete();
                return Err(ExportError::Input(e));
            }
        };
        if item.offset >= next_progress {
            progress(item.offset);
            next_progress = item.offset + (16 << 20);
        }
        match item.record {
            Record::Header(h) => {
                summary.header = Some(h);
                sink.header(h).map_err(|e| fail(sink, e))?;
            }
            Record::Aux { key, value } => sink.aux(&key, &value).map_err(|e| fail(sink, e))?,
            Record::Function { code } => sink.function(&code).map_err(|e| fail(sink, e))?,
            Record::FunctionPreGa { name, code, .. } => sink
                .function_pre_ga(&name, &code)
                .map_err(|e| fail(sink, e))?,
            Record::ModuleAux { name, .. } => sink.module_aux(&name).map_err(|e| fail(sink, e))?,
            Record::Entry(e) => {
                summary.keys_read += 1;
                if !pass_all && !filter.matches_entry(&e) {
                    continue;
                }
                summary.keys_matched += 1;
                match sink.entry(&e) {
                    Ok(true) => summary.keys_written += 1,
                    Ok(false) => {}
                    Err(err) => {
                        let err = fail(sink, err.with_key(Some(e.db), &e.key));
                        if matches!(err, ExportError::Input(_)) {
                            let _ = sink.flush_complete();
                        }
                        return Err(err);
                    }
                }
            }
            Record::Eof { checksum, .. } => {
                summary.checksum_ok = match reader.verify_checksum(checksum) {
                    Ok(verified) => verified.then_some(true),
                    Err(e) => {
                        summary.checksum_error = Some(e);
                        Some(false)
                    }
                };
            }
            _ => {}
        }
    }
    progress(data.len() as u64);
    sink.finish().map_err(|e| fail(sink, e))?;
    Ok(summary)
}
