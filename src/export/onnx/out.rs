//! The writer the streaming encoder fills slices with.

use crate::wire::{encode_varint, varint_len};

/// Writes into a slice sized exactly for what is written.
///
/// The fast paths store a fixed 8 or 16 bytes and advance by the real
/// length; later writes overwrite the excess. Near the end of the slice,
/// where that would overflow, exact slow paths take over.
pub(super) struct Out<'a> {
    pub buf: &'a mut [u8],
    pub pos: usize,
}

impl Out<'_> {
    /// Appends `v` as a protobuf varint.
    #[inline(always)]
    pub fn varint(&mut self, v: u64) {
        self.varint_if(v, true);
    }

    /// Appends `v` as a varint if `keep`, without branching on `keep`.
    #[inline(always)]
    pub fn varint_if(&mut self, v: u64, keep: bool) {
        if v < 1 << 28 && self.pos + 8 <= self.buf.len() {
            // Spread the four 7-bit groups over four bytes and set the
            // continuation bit of all but the last used byte; store 8 bytes
            // and advance by the real length (0 if not kept).
            let len = varint_len(v) as usize;
            let spread = (v & 0x7f)
                | ((v << 1) & 0x7f00)
                | ((v << 2) & 0x7f_0000)
                | ((v << 3) & 0x7f00_0000);
            let more = 0x8080_8080 & ((1u64 << (8 * (len - 1))) - 1);
            self.buf[self.pos..self.pos + 8].copy_from_slice(&(spread | more).to_le_bytes());
            self.pos += len * usize::from(keep);
        } else if keep {
            self.varint_exact(v);
        }
    }

    /// Appends `v` if `keep`, without branching on `keep`.
    #[inline(always)]
    pub fn f32_if(&mut self, v: f32, keep: bool) {
        if self.pos + 4 <= self.buf.len() {
            self.buf[self.pos..self.pos + 4].copy_from_slice(&v.to_le_bytes());
            self.pos += 4 * usize::from(keep);
        } else if keep {
            self.bytes(&v.to_le_bytes());
        }
    }

    /// Appends `v` if `keep`, without branching on `keep`.
    #[inline(always)]
    pub fn f64_if(&mut self, v: f64, keep: bool) {
        if self.pos + 8 <= self.buf.len() {
            self.buf[self.pos..self.pos + 8].copy_from_slice(&v.to_le_bytes());
            self.pos += 8 * usize::from(keep);
        } else if keep {
            self.bytes(&v.to_le_bytes());
        }
    }

    #[inline(never)]
    fn varint_exact(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf[self.pos] = v as u8 | 0x80;
            self.pos += 1;
            v >>= 7;
        }
        self.buf[self.pos] = v as u8;
        self.pos += 1;
    }

    /// Appends the first `len` bytes of `pattern`.
    #[inline(always)]
    pub fn pattern(&mut self, pattern: &[u8; 16], len: usize) {
        if self.pos + 16 <= self.buf.len() {
            self.buf[self.pos..self.pos + 16].copy_from_slice(pattern);
        } else {
            self.buf[self.pos..self.pos + len].copy_from_slice(&pattern[..len]);
        }
        self.pos += len;
    }

    #[inline(always)]
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    /// Appends `b` if `keep`, without branching on `keep`.
    #[inline(always)]
    pub fn byte_if(&mut self, b: u8, keep: bool) {
        if self.pos < self.buf.len() {
            self.buf[self.pos] = b;
            self.pos += usize::from(keep);
        } else if keep {
            self.bytes(&[b]);
        }
    }

    /// The next `n` bytes, to be filled by the caller.
    #[inline(always)]
    pub fn take(&mut self, n: usize) -> &mut [u8] {
        let start = self.pos;
        self.pos += n;
        &mut self.buf[start..start + n]
    }

    /// Appends `count` copies of the varint `v`, sixteen at a time.
    pub fn repeat_varint(&mut self, v: u64, count: usize) {
        let mut one = Vec::with_capacity(10);
        encode_varint(v, &mut one);
        let sixteen = one.repeat(16);
        for _ in 0..count / 16 {
            self.bytes(&sixteen);
        }
        for _ in 0..count % 16 {
            self.bytes(&one);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_and_fast_encoding_are_exact() {
        let mut values: Vec<u64> = (0..64)
            .flat_map(|b| [1u64 << b, (1u64 << b) - 1, (1u64 << b) + 1])
            .collect();
        values.extend([0, u64::MAX, 300, 16_383, 16_384]);
        for v in values {
            let mut reference = Vec::new();
            prost::encoding::encode_varint(v, &mut reference);
            assert_eq!(varint_len(v), reference.len() as u64, "{v}");
            // Fast path (room to spare) and exact path (no room) alike.
            for spare in [0, 16] {
                let mut buf = vec![0u8; reference.len() + spare];
                let mut out = Out {
                    buf: &mut buf,
                    pos: 0,
                };
                out.varint(v);
                assert_eq!(out.pos, reference.len());
                assert_eq!(&buf[..reference.len()], &reference[..], "{v}");
            }
        }
    }
}
