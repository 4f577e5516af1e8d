//! A write buffer shared by the exporters: values are rendered into one reusable `Vec<u8>`
//! and flushed to the destination in large chunks, so a huge value is written element by
//! element without ever being held whole in memory.

use std::io::Write;

use crate::error::{Error, ErrorKind, Result};

/// Flush threshold: the buffer is written out once it holds this many bytes.
pub const FLUSH_AT: usize = 256 * 1024;

/// Buffered output over any [`Write`]. Write errors are kept (see [`OutBuf::take_io_error`])
/// so that callers can tell them from input damage and stay quiet on a closed pipe.
pub struct OutBuf<'w> {
    /// Bytes not yet written.
    pub buf: Vec<u8>,
    w: &'w mut dyn Write,
    flushed: u64,
    io_error: Option<std::io::Error>,
    /// Position in `buf` where the current record started, while none of it has been
    /// flushed (so a record that fails to decode can be withdrawn).
    mark: Option<usize>,
}

impl std::fmt::Debug for OutBuf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutBuf")
            .field("buffered", &self.buf.len())
            .field("flushed", &self.flushed)
            .finish()
    }
}

impl<'w> OutBuf<'w> {
    /// A buffer writing to `w`.
    pub fn new(w: &'w mut dyn Write) -> Self {
        OutBuf {
            buf: Vec::with_capacity(FLUSH_AT + 64 * 1024),
            w,
            flushed: 0,
            io_error: None,
            mark: None,
        }
    }

    /// Total bytes produced so far (flushed and buffered).
    pub fn position(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    /// Flushes if the buffer is over the threshold.
    #[inline]
    pub fn maybe_flush(&mut self) -> Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()
        } else {
            Ok(())
        }
    }

    /// Writes out everything buffered (without flushing the underlying writer).
    pub fn flush_buf(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.w.write_all(&self.buf) {
            return Err(self.fail(e));
        }
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        self.mark = None;
        Ok(())
    }

    /// Writes out everything and flushes the underlying writer.
    pub fn finish(&mut self) -> Result<()> {
        self.flush_buf()?;
        if let Err(e) = self.w.flush() {
            return Err(self.fail(e));
        }
        Ok(())
    }

    fn fail(&mut self, e: std::io::Error) -> Error {
        let err = Error::new(ErrorKind::Io(format!("writing output: {e}")));
        self.io_error = Some(e);
        err
    }

    /// The write error that stopped output, if any.
    pub fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.io_error.take()
    }

    /// Marks the start of a record.
    pub fn mark(&mut self) {
        self.mark = Some(self.buf.len());
    }

    /// Drops the current record if none of it was flushed yet; returns true if it did.
    pub fn withdraw(&mut self) -> bool {
        match self.mark.take() {
            Some(m) => {
                self.buf.truncate(m);
                true
            }
            None => false,
        }
    }
}
