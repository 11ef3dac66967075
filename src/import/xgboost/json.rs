//! A bounded reader for XGBoost's JSON model files.
//!
//! Why not serde_json: XGBoost parses every float of a model straight into a
//! float32 and writes non-finite numbers as `NaN` / `Infinity`. serde_json
//! reads numbers as f64 (a second rounding to f32 can move a threshold by one
//! ulp, in about one number in 2^29) and refuses those tokens. This reader
//! follows XGBoost's own (`src/common/json.cc`): floats are parsed as f32 from
//! their text, integers as i64. Nesting is bounded by
//! [`MAX_DEPTH`](super::document::MAX_DEPTH); everything it allocates is
//! bounded by the input's length.

use std::collections::BTreeMap;

#[cfg(test)]
use super::document::MAX_DEPTH;
use super::document::{ArrayBuilder, Value};
use super::error::XgboostError;

/// Parses a whole JSON document.
pub fn parse(bytes: &[u8]) -> Result<Value, XgboostError> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.value(0)?;
    reader.skip_space();
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
            encoding: "JSON",
            offset: self.pos,
            problem: problem.into(),
        }
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.bytes.get(self.pos).copied()
    }

    fn expect_literal(&mut self, literal: &str) -> Result<(), XgboostError> {
        if self.bytes[self.pos..].starts_with(literal.as_bytes()) {
            self.pos += literal.len();
            Ok(())
        } else {
            Err(self.error(format!("expected `{literal}`")))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, XgboostError> {
        match self.peek() {
            None => Err(self.error("unexpected end of the document")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.expect_literal("true").map(|_| Value::Bool(true)),
            Some(b'f') => self.expect_literal("false").map(|_| Value::Bool(false)),
            Some(b'n') => self.expect_literal("null").map(|_| Value::Null),
            Some(b'N') => self.expect_literal("NaN").map(|_| Value::Float(f32::NAN)),
            Some(b'-' | b'+' | b'0'..=b'9' | b'I') => self.number(),
            Some(c) => Err(self.error(format!("unexpected character {:?}", char::from(c)))),
        }
    }

    fn enter(&self, depth: usize) -> Result<(), XgboostError> {
        super::document::check_depth(depth, "JSON", self.pos)
    }

    fn object(&mut self, depth: usize) -> Result<Value, XgboostError> {
        self.enter(depth)?;
        self.pos += 1; // '{'
        let mut map = BTreeMap::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let start = self.pos;
            let key = self.string()?;
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:` after an object key"));
            }
            self.pos += 1;
            let value = self.value(depth)?;
            if map.contains_key(&key) {
                self.pos = start;
                return Err(self.error(format!(
                    "the key {} appears twice in one object",
                    crate::text::quoted(&key)
                )));
            }
            map.insert(key, value);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.error("expected `,` or `}` in an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, XgboostError> {
        self.enter(depth)?;
        self.pos += 1; // '['
        let mut items = ArrayBuilder::default();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(items.finish());
        }
        loop {
            items.push(self.value(depth)?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(items.finish());
                }
                _ => return Err(self.error("expected `,` or `]` in an array")),
            }
        }
    }

    /// A number: `[+-]digits[.digits][(e|E)[+-]digits]`, or `[+-]Infinity`.
    fn number(&mut self) -> Result<Value, XgboostError> {
        let start = self.pos;
        let mut p = self.pos;
        let negative = self.bytes[p] == b'-';
        if matches!(self.bytes[p], b'-' | b'+') {
            p += 1;
        }
        if self.bytes.get(p) == Some(&b'I') {
            self.pos = p;
            self.expect_literal("Infinity")?;
            let inf = if negative {
                f32::NEG_INFINITY
            } else {
                f32::INFINITY
            };
            return Ok(Value::Float(inf));
        }
        let digits = |p: &mut usize| {
            let first = *p;
            while self.bytes.get(*p).is_some_and(u8::is_ascii_digit) {
                *p += 1;
            }
            *p > first
        };
        let mut has_digits = digits(&mut p);
        let mut is_float = false;
        if self.bytes.get(p) == Some(&b'.') {
            p += 1;
            is_float = true;
            has_digits |= digits(&mut p);
        }
        if !has_digits {
            self.pos = p;
            return Err(self.error("a number without digits"));
        }
        if let Some(b'e' | b'E') = self.bytes.get(p) {
            p += 1;
            is_float = true;
            if let Some(b'-' | b'+') = self.bytes.get(p) {
                p += 1;
            }
            if !digits(&mut p) {
                self.pos = p;
                return Err(self.error("an exponent without digits"));
            }
        }
        self.pos = p;
        // Only ASCII digits, signs, '.', 'e' were consumed.
        let text = std::str::from_utf8(&self.bytes[start..p]).unwrap_or_default();
        let text = text.strip_prefix('+').unwrap_or(text);
        if is_float {
            // Rust's float parsing rounds correctly, like XGBoost's from_chars.
            text.parse::<f32>()
                .map(Value::Float)
                .map_err(|_| self.error(format!("{text:?} is not a number")))
        } else {
            text.parse::<i64>().map(Value::Int).map_err(|_| {
                self.error(format!(
                    "the integer {} does not fit in 64 bits",
                    crate::text::quoted(text)
                ))
            })
        }
    }

    fn string(&mut self) -> Result<String, XgboostError> {
        self.pos += 1; // '"'
        let mut out = Vec::new();
        loop {
            let run_start = self.pos;
            while let Some(&c) = self.bytes.get(self.pos) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.extend_from_slice(&self.bytes[run_start..self.pos]);
            match self.bytes.get(self.pos) {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out)
                        .map_err(|_| self.error("a string is not valid UTF-8"));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.error("a control character inside a string")),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), XgboostError> {
        let c = self
            .bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.error("unterminated string"))?;
        self.pos += 1;
        let simple = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let ch = self.unicode_escape()?;
                let mut buf = [0; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                return Ok(());
            }
            other => {
                return Err(self.error(format!(
                    "unknown escape `\\{}` in a string",
                    char::from(other)
                )))
            }
        };
        out.push(simple);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, XgboostError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.error("`\\u` needs four hexadecimal digits"))?;
        self.pos += 4;
        Ok(digits)
    }

    fn unicode_escape(&mut self) -> Result<char, XgboostError> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.bytes[self.pos..].starts_with(b"\\u") {
                return Err(self.error("an unpaired UTF-16 surrogate in a string"));
            }
            self.pos += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("an unpaired UTF-16 surrogate in a string"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("an unpaired UTF-16 surrogate in a string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_xgboost_numbers() {
        let v = parse(br#"{"a": [1, 2, -3], "b": [5E-1, -3.7413667e-08, 1], "c": "x\u00e9\n", "d": [NaN, -Infinity, Infinity], "e": [], "f": [true, false], "g": null}"#).unwrap();
        let Value::Object(m) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(m["a"], Value::Ints(vec![1, 2, -3]));
        assert_eq!(m["b"], Value::Floats(vec![0.5, -3.741_366_7e-8, 1.0]));
        assert_eq!(m["c"], Value::Str("xé\n".into()));
        let Value::Floats(d) = &m["d"] else {
            panic!("{:?}", m["d"])
        };
        assert!(d[0].is_nan());
        assert_eq!(&d[1..], &[f32::NEG_INFINITY, f32::INFINITY]);
        assert_eq!(m["e"], Value::Array(vec![]));
        assert_eq!(
            m["f"],
            Value::Array(vec![Value::Bool(true), Value::Bool(false)])
        );
        assert_eq!(m["g"], Value::Null);
        assert_eq!(m.len(), 7);
    }

    #[test]
    fn floats_are_parsed_straight_to_f32() {
        // 0.1000000052154064178466796875 is the f32 midpoint-adjacent case: a
        // decimal whose f64 rounding then f32 rounding differs from a direct
        // f32 rounding. Direct parsing gives the correctly rounded f32.
        let text = "[1.00000005960464477539062500001]";
        let v = parse(text.as_bytes()).unwrap();
        let direct: f32 = "1.00000005960464477539062500001".parse().unwrap();
        let via_f64 = "1.00000005960464477539062500001".parse::<f64>().unwrap() as f32;
        assert_ne!(direct, via_f64, "the example must show double rounding");
        assert_eq!(v, Value::Floats(vec![direct]));
    }

    #[test]
    fn hostile_documents_are_refused() {
        let deep = "[".repeat(MAX_DEPTH + 5);
        let e = parse(deep.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("nesting deeper"), "{e}");
        for bad in [
            &b"{\"a\": 1, \"a\": 2}"[..],
            b"{\"a\" 1}",
            b"[1, 2",
            b"\"abc",
            b"[1e]",
            b"[-]",
            b"[99999999999999999999]",
            b"\"\\ud800\"",
            b"\"\xff\"",
            b"[1] x",
            b"",
            b"{\"a\": tru}",
        ] {
            assert!(
                matches!(parse(bad), Err(XgboostError::Syntax { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
