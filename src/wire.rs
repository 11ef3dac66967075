//! Protobuf at the wire level: varints, keys and a walk over a message's
//! fields. The ONNX writer streams with these, the runtime splices
//! tree-ensemble nodes out of files with them, and format detection checks
//! the top level of a file with them, without decoding any message.

/// Bytes of the varint encoding of `v`.
#[inline]
pub(crate) fn varint_len(v: u64) -> u64 {
    // 1 byte per started group of 7 significant bits, at least one:
    // ceil(bits / 7) == (9 * bits + 64) / 64 for bits in 1..=64, without a
    // division.
    let bits = u64::from(64 - (v | 1).leading_zeros());
    (9 * bits + 64) / 64
}

/// Appends `v` as a varint to `out`.
pub(crate) fn encode_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a protobuf key (field number and wire type).
pub(crate) fn encode_key(field: u32, wire_type: u8, out: &mut Vec<u8>) {
    encode_varint(u64::from(field) << 3 | u64::from(wire_type), out);
}

/// Length-delimited wire type.
pub(crate) const LEN: u8 = 2;
/// Varint wire type.
pub(crate) const VARINT: u8 = 0;

/// Appends a length-delimited field: key, length, payload.
#[cfg(feature = "tract")]
pub(crate) fn put_len_field(out: &mut Vec<u8>, field: u32, payload: &[u8]) {
    encode_key(field, LEN, out);
    encode_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// One field of a message: its number, its value and the bytes it spans
/// (key included), as absolute offsets.
pub(crate) struct Field {
    pub number: u32,
    pub value: Value,
    // Read by the runtime's splice of tree-ensemble nodes (feature `tract`);
    // format detection needs only the number and value.
    #[cfg_attr(not(feature = "tract"), allow(dead_code))]
    pub span: (usize, usize),
}

pub(crate) enum Value {
    /// A varint or fixed-width scalar; `wire_type` of the field says which.
    Scalar { wire_type: u8 },
    /// A length-delimited payload at `start..end`.
    Len(usize, usize),
}

/// The fields of the message `buf[start..]`; an item is `None` where the
/// bytes are not a well-formed field.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8], start: usize) -> Self {
        Fields { buf, pos: start }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn skip(&mut self, n: usize) -> Option<usize> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len())?;
        self.pos = end;
        Some(end)
    }
}

impl Iterator for Fields<'_> {
    type Item = Option<Field>;

    fn next(&mut self) -> Option<Option<Field>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let begin = self.pos;
        let field = (|| {
            let key = self.varint()?;
            let number = u32::try_from(key >> 3).ok().filter(|&n| n > 0)?;
            let value = match key & 7 {
                0 => self.varint().map(|_| Value::Scalar { wire_type: 0 })?,
                1 => self.skip(8).map(|_| Value::Scalar { wire_type: 1 })?,
                5 => self.skip(4).map(|_| Value::Scalar { wire_type: 5 })?,
                2 => {
                    let len = usize::try_from(self.varint()?).ok()?;
                    let start = self.pos;
                    Value::Len(start, self.skip(len)?)
                }
                _ => return None,
            };
            Some(Field {
                number,
                value,
                span: (begin, self.pos),
            })
        })();
        if field.is_none() {
            // Stop after a malformed field: the caller gives up on the walk.
            self.pos = self.buf.len();
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(buf: &[u8]) -> Vec<Option<(u32, usize, usize)>> {
        Fields::new(buf, 0)
            .map(|f| f.map(|f| (f.number, f.span.0, f.span.1)))
            .collect()
    }

    #[test]
    fn walks_every_wire_type_and_stops_at_malformed_bytes() {
        // 1: varint 300, 2: fixed64, 3: "ab", 4: fixed32.
        let mut buf = vec![0x08, 0xac, 0x02, 0x11];
        buf.extend([0; 8]);
        buf.extend([0x1a, 2, b'a', b'b', 0x25, 0, 0, 0, 0]);
        assert_eq!(
            fields(&buf),
            vec![
                Some((1, 0, 3)),
                Some((2, 3, 12)),
                Some((3, 12, 16)),
                Some((4, 16, 21))
            ]
        );
        // A length past the end, a group, field number 0, a truncated varint.
        for bad in [&[0x1a, 5, 1][..], &[0x0b], &[0x00, 1], &[0x08, 0x80]] {
            assert_eq!(fields(bad), vec![None], "{bad:?}");
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            encode_varint(v, &mut buf);
            assert_eq!(Fields::new(&buf, 0).varint(), Some(v));
        }
    }
}
