//! The uncompressed payload as typed arrays, whatever carries it: the
//! in-order stream of a single frame ([`Payload`]) or the arrays of a framed
//! payload decoded in parallel (`frames`), both read through [`Source`].
//! Also the zstd window a payload may ask for, and the offsets check that
//! sizes every tree's arrays before they are read.

use std::io::Read;

use super::error::StoreError;
use super::sections::{LeNumber, Section};

/// Largest array allocated before its bytes arrive; larger arrays grow as
/// they are read.
const CHUNK_BYTES: usize = 4 << 20;

/// Largest zstd window (log2) a payload may ask for: zstd's own default
/// limit, 128 MiB. Payloads below it get no larger a window than their
/// size rounded up to a power of two, or [`MIN_WINDOW_LOG`].
const MAX_WINDOW_LOG: u32 = 27;
/// Window (log2) always allowed, 8 MiB: enough for frames that do not
/// state their size (ours always do) at the usual levels.
const MIN_WINDOW_LOG: u32 = 23;

/// The zstd window a payload of `raw_len` bytes may use (log2).
pub(super) fn window_log(raw_len: u64) -> u32 {
    let needed = 64 - raw_len.max(1).saturating_sub(1).leading_zeros();
    needed.clamp(MIN_WINDOW_LOG, MAX_WINDOW_LOG)
}

pub(super) fn zstd_error(e: std::io::Error) -> StoreError {
    StoreError::corrupt(format!("zstd: {e}"))
}

/// The uncompressed payload as a stream, read in layout order.
pub(super) struct Payload<'r> {
    r: &'r mut dyn Read,
    /// Bytes consumed so far.
    pos: u64,
}

impl<'r> Payload<'r> {
    pub(super) fn new(r: &'r mut dyn Read) -> Self {
        Payload { r, pos: 0 }
    }

    /// A reader of the payload from byte `pos` on (a frame's start).
    pub(super) fn at(r: &'r mut dyn Read, pos: u64) -> Self {
        Payload { r, pos }
    }

    /// Consumes the zero padding before a section starting at `offset`.
    pub(super) fn seek(&mut self, offset: u64, section: Section) -> Result<(), StoreError> {
        let gap = offset - self.pos;
        let mut pad = [0u8; 64];
        let pad = &mut pad[..gap as usize];
        self.fill(pad, section)?;
        if pad.iter().any(|&b| b != 0) {
            return Err(StoreError::corrupt(format!(
                "non-zero padding before section {:?}",
                section.name()
            )));
        }
        Ok(())
    }

    pub(super) fn fill(&mut self, buf: &mut [u8], section: Section) -> Result<(), StoreError> {
        self.r.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => StoreError::corrupt(format!(
                "the payload ends inside section {:?}",
                section.name()
            )),
            _ => zstd_error(e),
        })?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// Reads `n` elements of `section`. Arrays up to [`CHUNK_BYTES`] are
    /// allocated at once; larger ones grow as their bytes arrive, so a
    /// payload that ends early never costs more than what it delivered.
    pub(super) fn array<T: LeNumber>(
        &mut self,
        n: usize,
        section: Section,
    ) -> Result<Vec<T>, StoreError> {
        let per_chunk = (CHUNK_BYTES / std::mem::size_of::<T>()).max(1);
        let mut v: Vec<T> = Vec::new();
        while v.len() < n {
            let start = v.len();
            let want = (n - start).min(per_chunk.max(start));
            v.reserve_exact(want);
            v.resize(start + want, T::zeroed());
            self.fill(bytemuck::cast_slice_mut(&mut v[start..]), section)?;
        }
        if cfg!(target_endian = "big") {
            v.iter_mut().for_each(|x| *x = x.swap_le());
        }
        Ok(v)
    }

    /// Checks that nothing follows the last section.
    pub(super) fn end(&mut self) -> Result<(), StoreError> {
        let mut probe = [0u8; 1];
        match self.r.read(&mut probe) {
            Ok(0) => Ok(()),
            Ok(_) => Err(StoreError::corrupt(
                "the payload is longer than its sections",
            )),
            Err(e) => Err(zstd_error(e)),
        }
    }
}

/// Where [`read_forest`] takes the payload's arrays from: a stream read in
/// order, or the arrays of a framed payload decoded in parallel.
pub(super) trait Source {
    /// Moves to byte `offset`, where `section` starts (checking the padding).
    fn seek(&mut self, offset: u64, section: Section) -> Result<(), StoreError>;
    /// The next `n` elements of `section`.
    fn array<T: LeNumber>(&mut self, n: usize, section: Section) -> Result<Vec<T>, StoreError>;
}

impl Source for Payload<'_> {
    fn seek(&mut self, offset: u64, section: Section) -> Result<(), StoreError> {
        Payload::seek(self, offset, section)
    }

    fn array<T: LeNumber>(&mut self, n: usize, section: Section) -> Result<Vec<T>, StoreError> {
        Payload::array(self, n, section)
    }
}

/// Validates an offsets section: from 0 to `end`, never decreasing; tree
/// offsets strictly increase (every tree has a node).
pub(super) fn offsets(v: Vec<u64>, s: Section, end: u64) -> Result<Vec<u64>, StoreError> {
    let strict = s == Section::TreeOffsets;
    if v.first() != Some(&0) || v.last() != Some(&end) {
        return Err(StoreError::corrupt(format!(
            "{} do not run from 0 to {end}",
            s.name()
        )));
    }
    if let Some(i) = v
        .windows(2)
        .position(|w| if strict { w[0] >= w[1] } else { w[0] > w[1] })
    {
        let what = if v[i] == v[i + 1] {
            "give an empty tree"
        } else {
            "decrease"
        };
        return Err(StoreError::corrupt(format!(
            "{} {what} at entry {i}",
            s.name()
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_no_larger_than_the_payload() {
        assert_eq!(window_log(0), MIN_WINDOW_LOG);
        assert_eq!(window_log(1000), MIN_WINDOW_LOG);
        assert_eq!(window_log(1 << 23), 23);
        assert_eq!(window_log((1 << 23) + 1), 24);
        assert_eq!(window_log(1 << 26), 26);
        assert_eq!(window_log(u64::MAX), MAX_WINDOW_LOG);
    }
}
