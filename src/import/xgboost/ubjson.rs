//! A bounded reader for XGBoost's UBJSON model files (the default format
//! since XGBoost 2.1).
//!
//! Universal Binary JSON (ubjson.org, draft 12) as XGBoost writes it
//! (`src/common/json.cc`): big-endian numbers, strings as a length and UTF-8
//! bytes, objects and arrays with optional `#` counts, and `$type#count`
//! typed arrays for the per-node tree arrays. No maintained Rust crate reads
//! UBJSON, so this is our own: every length is checked against the bytes
//! that remain before anything is allocated, and nesting is bounded by
//! [`MAX_DEPTH`](super::document::MAX_DEPTH). Floats are float32 as XGBoost
//! reads them (float64 `D` values are cast, as XGBoost casts them).

use std::collections::BTreeMap;

#[cfg(test)]
use super::document::MAX_DEPTH;
use super::document::{ArrayBuilder, Value};
use super::error::XgboostError;
use crate::text::quoted;

/// Parses a whole UBJSON document.
pub fn parse(bytes: &[u8]) -> Result<Value, XgboostError> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.value(0)?;
    reader.skip_noops();
    if reader.pos != bytes.len() {
        return Err(reader.error("unexpected data after the end of the document"));
    }
    Ok(value)
}

struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, problem: impl Into<String>) -> XgboostError {
        XgboostError::Syntax {
            encoding: "UBJSON",
            offset: self.pos,
            problem: problem.into(),
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], XgboostError> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "needs {n} more bytes; {} remain (truncated file?)",
                self.remaining()
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, XgboostError> {
        Ok(self.take(1)?[0])
    }

    /// `N` is UBJSON's no-op marker, allowed between values.
    fn skip_noops(&mut self) {
        while self.bytes.get(self.pos) == Some(&b'N') {
            self.pos += 1;
        }
    }

    fn marker(&mut self) -> Result<u8, XgboostError> {
        self.skip_noops();
        self.byte()
    }

    fn peek_marker(&mut self) -> Option<u8> {
        self.skip_noops();
        self.bytes.get(self.pos).copied()
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], XgboostError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// The integer of type `marker`, if it is an integer type.
    fn int_of(&mut self, marker: u8) -> Result<Option<i64>, XgboostError> {
        Ok(Some(match marker {
            b'i' => i64::from(i8::from_be_bytes(self.fixed()?)),
            b'U' => i64::from(u8::from_be_bytes(self.fixed()?)),
            b'I' => i64::from(i16::from_be_bytes(self.fixed()?)),
            b'l' => i64::from(i32::from_be_bytes(self.fixed()?)),
            b'L' => i64::from_be_bytes(self.fixed()?),
            _ => return Ok(None),
        }))
    }

    /// A length or count: an integer of any type, not negative, and at most
    /// `per_item`-byte items that still fit in the input.
    fn count(&mut self, what: &str, per_item: usize) -> Result<usize, XgboostError> {
        let at = self.pos;
        let marker = self.marker()?;
        let n = self.int_of(marker)?.ok_or_else(|| {
            self.error(format!(
                "the {what} must be an integer; found marker {:?}",
                char::from(marker)
            ))
        })?;
        let n = usize::try_from(n).map_err(|_| self.error(format!("a negative {what} ({n})")))?;
        if n.saturating_mul(per_item) > self.remaining() {
            self.pos = at;
            return Err(self.error(format!(
                "a {what} of {n} needs more bytes than the {} that remain",
                self.remaining()
            )));
        }
        Ok(n)
    }

    fn string_body(&mut self) -> Result<String, XgboostError> {
        let n = self.count("string length", 1)?;
        let at = self.pos;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| XgboostError::Syntax {
            encoding: "UBJSON",
            offset: at,
            problem: "a string is not valid UTF-8".into(),
        })
    }

    fn value(&mut self, depth: usize) -> Result<Value, XgboostError> {
        let marker = self.marker()?;
        self.value_of(marker, depth)
    }

    fn value_of(&mut self, marker: u8, depth: usize) -> Result<Value, XgboostError> {
        if let Some(i) = self.int_of(marker)? {
            return Ok(Value::Int(i));
        }
        Ok(match marker {
            b'Z' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'd' => Value::Float(f32::from_be_bytes(self.fixed()?)),
            b'D' => Value::Float(f64::from_be_bytes(self.fixed()?) as f32),
            b'C' => Value::Int(i64::from(self.byte()?)),
            b'S' => Value::Str(self.string_body()?),
            b'H' => {
                return Err(self.error(
                    "high-precision numbers (`H`) are not used by XGBoost and not supported",
                ))
            }
            b'[' => self.array(depth + 1)?,
            b'{' => self.object(depth + 1)?,
            other => {
                self.pos -= 1;
                return Err(self.error(format!("unknown marker {:?}", char::from(other))));
            }
        })
    }

    fn enter(&self, depth: usize) -> Result<(), XgboostError> {
        super::document::check_depth(depth, "UBJSON", self.pos)
    }

    fn array(&mut self, depth: usize) -> Result<Value, XgboostError> {
        self.enter(depth)?;
        match self.peek_marker() {
            Some(b'$') => {
                self.pos += 1;
                let ty = self.byte()?;
                if self.byte()? != b'#' {
                    self.pos -= 1;
                    return Err(self.error("a typed array (`$`) needs a count (`#`)"));
                }
                self.typed_array(ty)
            }
            Some(b'#') => {
                self.pos += 1;
                let n = self.count("array count", 1)?;
                let mut items = ArrayBuilder::default();
                for _ in 0..n {
                    items.push(self.value(depth)?);
                }
                Ok(items.finish())
            }
            _ => {
                let mut items = ArrayBuilder::default();
                loop {
                    let marker = self.marker()?;
                    if marker == b']' {
                        return Ok(items.finish());
                    }
                    items.push(self.value_of(marker, depth)?);
                }
            }
        }
    }

    fn typed_array(&mut self, ty: u8) -> Result<Value, XgboostError> {
        let width = match ty {
            b'i' | b'U' | b'C' => 1,
            b'I' => 2,
            b'l' | b'd' => 4,
            b'L' | b'D' => 8,
            other => {
                return Err(self.error(format!(
                    "typed arrays of {:?} are not supported (XGBoost writes numeric ones)",
                    char::from(other)
                )))
            }
        };
        let n = self.count("typed array count", width)?;
        let raw = self.take(n * width)?;
        let chunks = raw.chunks_exact(width);
        Ok(match ty {
            b'd' => Value::Floats(
                chunks
                    .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            b'D' => Value::Floats(
                chunks
                    .map(|c| {
                        f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                    })
                    .collect(),
            ),
            b'i' => Value::Ints(chunks.map(|c| i64::from(c[0] as i8)).collect()),
            b'U' | b'C' => Value::Ints(chunks.map(|c| i64::from(c[0])).collect()),
            b'I' => Value::Ints(
                chunks
                    .map(|c| i64::from(i16::from_be_bytes([c[0], c[1]])))
                    .collect(),
            ),
            b'l' => Value::Ints(
                chunks
                    .map(|c| i64::from(i32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            ),
            _ => Value::Ints(
                chunks
                    .map(|c| i64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
        })
    }

    fn object(&mut self, depth: usize) -> Result<Value, XgboostError> {
        self.enter(depth)?;
        let mut map = BTreeMap::new();
        let count = match self.peek_marker() {
            Some(b'$') => {
                return Err(
                    self.error("typed objects (`{$`) are not used by XGBoost and not supported")
                )
            }
            Some(b'#') => {
                self.pos += 1;
                // A key takes at least two bytes (length marker and length).
                Some(self.count("object count", 2)?)
            }
            _ => None,
        };
        let mut read = 0;
        loop {
            if count == Some(read) {
                return Ok(Value::Object(map));
            }
            if count.is_none() && self.peek_marker() == Some(b'}') {
                self.pos += 1;
                return Ok(Value::Object(map));
            }
            let start = self.pos;
            let key = self.string_body()?;
            let value = self.value(depth)?;
            if map.contains_key(&key) {
                self.pos = start;
                return Err(self.error(format!(
                    "the key {} appears twice in one object",
                    quoted(&key)
                )));
            }
            map.insert(key, value);
            read += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(out: &mut Vec<u8>, k: &str) {
        out.push(b'L');
        out.extend_from_slice(&(k.len() as i64).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
    }

    #[test]
    fn reads_what_xgboost_writes() {
        let mut b = vec![b'{'];
        key(&mut b, "f");
        b.extend_from_slice(b"[$d#L");
        b.extend_from_slice(&2i64.to_be_bytes());
        b.extend_from_slice(&0.5f32.to_be_bytes());
        b.extend_from_slice(&(-1.25f32).to_be_bytes());
        key(&mut b, "i");
        b.extend_from_slice(b"[$l#L");
        b.extend_from_slice(&1i64.to_be_bytes());
        b.extend_from_slice(&(-7i32).to_be_bytes());
        key(&mut b, "s");
        b.push(b'S');
        key(&mut b, "txt");
        key(&mut b, "a");
        b.extend_from_slice(b"[#L");
        b.extend_from_slice(&2i64.to_be_bytes());
        b.extend_from_slice(b"i\x05T");
        key(&mut b, "n");
        b.extend_from_slice(b"[iUU\xff]");
        b.push(b'}');
        let Value::Object(m) = parse(&b).unwrap() else {
            panic!()
        };
        assert_eq!(m["f"], Value::Floats(vec![0.5, -1.25]));
        assert_eq!(m["i"], Value::Ints(vec![-7]));
        assert_eq!(m["s"], Value::Str("txt".into()));
        assert_eq!(m["a"], Value::Array(vec![Value::Int(5), Value::Bool(true)]));
        assert_eq!(m["n"], Value::Ints(vec![85, 255]));
    }

    #[test]
    fn lengths_beyond_the_input_are_refused_before_allocating() {
        let mut b = b"[$d#L".to_vec();
        b.extend_from_slice(&(i64::MAX).to_be_bytes());
        let e = parse(&b).unwrap_err().to_string();
        assert!(e.contains("more bytes"), "{e}");
        let mut b = b"SL".to_vec();
        b.extend_from_slice(&(-5i64).to_be_bytes());
        assert!(parse(&b).unwrap_err().to_string().contains("negative"));
        let mut b = b"[#L".to_vec();
        b.extend_from_slice(&(1i64 << 40).to_be_bytes());
        assert!(parse(&b).is_err());
    }

    #[test]
    fn hostile_documents_are_refused() {
        let deep = vec![b'['; MAX_DEPTH + 5];
        assert!(parse(&deep).unwrap_err().to_string().contains("nesting"));
        for bad in [
            &b"{"[..],
            b"[i",
            b"X",
            b"HU\x01x",
            b"{$i#U\x01",
            b"[$S#U\x01",
            b"[$d U\x01",
            b"SU\x02\xff\xfe",
            b"Ti",
            b"{U\x01aiU\x01ai\x02}",
        ] {
            assert!(
                matches!(parse(bad), Err(XgboostError::Syntax { .. })),
                "{bad:?}"
            );
        }
    }
}
