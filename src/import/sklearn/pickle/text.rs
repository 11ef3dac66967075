//! Decoders for the text operands of protocol 0 (`STRING`, `UNICODE`).
//! Forest pickles never use them, but hostile ones do, and the reader must
//! get past them to name the globals such a file refers to.

/// A `STRING` operand: a quoted Python literal with backslash escapes
/// (what `codecs.escape_decode` accepts).
pub(crate) fn python_string_literal(line: &[u8]) -> Result<Vec<u8>, &'static str> {
    let inner = match line {
        [q, inner @ .., q2] if q == q2 && (*q == b'\'' || *q == b'"') => inner,
        _ => return Err("STRING operand is not quoted"),
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = inner.get(i) else {
            return Err("STRING ends with a backslash");
        };
        i += 1;
        match e {
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'x' => {
                let hex = inner.get(i..i + 2).ok_or("truncated \\x escape")?;
                let s = std::str::from_utf8(hex).map_err(|_| "bad \\x escape")?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| "bad \\x escape")?);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    match inner.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + (d - b'0') as u32;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            // Unknown escapes stay as written, as in Python.
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// A `UNICODE` operand: latin-1 text where `\uXXXX` and `\UXXXXXXXX` are
/// escapes (Python's `raw-unicode-escape`).
pub(crate) fn raw_unicode_escape(line: &[u8]) -> Result<String, &'static str> {
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        let width = match (c, line.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => {
                out.push(c as char);
                i += 1;
                continue;
            }
        };
        let hex = line
            .get(i + 2..i + 2 + width)
            .ok_or("truncated unicode escape")?;
        let s = std::str::from_utf8(hex).map_err(|_| "bad unicode escape")?;
        let code = u32::from_str_radix(s, 16).map_err(|_| "bad unicode escape")?;
        out.push(char::from_u32(code).ok_or("unicode escape is not a character")?);
        i += 2 + width;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_decode_escapes() {
        assert_eq!(
            python_string_literal(b"'a\\n\\x41\\101\\q'").unwrap(),
            b"a\nAA\\q"
        );
        assert_eq!(python_string_literal(b"\"it's\"").unwrap(), b"it's");
        assert!(python_string_literal(b"'open").is_err());
        assert!(python_string_literal(b"'\\x4'").is_err());
    }

    #[test]
    fn raw_unicode_escapes_decode() {
        assert_eq!(
            raw_unicode_escape(b"a\\u00e9\\U0001F600\xff").unwrap(),
            "aé😀ÿ"
        );
        assert!(raw_unicode_escape(b"\\u12").is_err());
        assert!(raw_unicode_escape(b"\\uD800").is_err());
    }
}
