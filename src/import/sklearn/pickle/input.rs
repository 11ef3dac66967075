//! A cursor over the decompressed pickle bytes. Every read is bounds-checked
//! and every declared length is compared with what is left before anything
//! is taken, so no length in the file can make the reader allocate.

use super::error::PickleError;

pub(crate) struct Input<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Input { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// `n` bytes of fixed-size operand.
    pub(crate) fn fixed(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], PickleError> {
        if n > self.remaining() {
            return Err(PickleError::Truncated {
                what,
                offset: self.buf.len(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// `declared` bytes whose length came from the file; `op_offset` is the
    /// opcode that declared it.
    pub(crate) fn declared(
        &mut self,
        declared: u64,
        what: &'static str,
        op_offset: usize,
    ) -> Result<&'a [u8], PickleError> {
        let remaining = self.remaining();
        match usize::try_from(declared) {
            Ok(n) if n <= remaining => self.fixed(n, what),
            _ => Err(PickleError::LengthExceedsInput {
                what,
                declared,
                remaining,
                offset: op_offset,
            }),
        }
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, PickleError> {
        Ok(self.fixed(1, what)?[0])
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], PickleError> {
        let s = self.fixed(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// A `\n`-terminated line (text opcodes), without the newline.
    pub(crate) fn line(&mut self, what: &'static str) -> Result<&'a [u8], PickleError> {
        let rest = &self.buf[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(n) => {
                self.pos += n + 1;
                Ok(&rest[..n])
            }
            None => Err(PickleError::Truncated {
                what,
                offset: self.buf.len(),
            }),
        }
    }
}
