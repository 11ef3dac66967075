//! The outer layer of a pickle/joblib file: a plain pickle, or a whole-file
//! compressed stream as `joblib.dump(…, compress=…)` writes it. The format
//! is told by magic bytes, the way joblib's `_detect_compressor` does.

use std::io::{self, BufRead, BufReader, Read, Write};

use super::error::SklearnError;

/// How a pickle file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// An uncompressed pickle (`pickle.dump`, or `joblib.dump` without compression).
    Pickle,
    /// A zlib stream: joblib's default for `compress=1..9` and `.z` files.
    Zlib,
    /// gzip (`compress=("gzip", n)`, `.gz`).
    Gzip,
    /// bzip2 (`compress=("bz2", n)`, `.bz2`).
    Bz2,
    /// xz (`compress=("xz", n)`, `.xz`).
    Xz,
    /// Legacy `.lzma` ("alone") format (`compress=("lzma", n)`).
    Lzma,
    /// LZ4 frame (`compress=("lz4", n)`, `.lz4`).
    Lz4,
}

impl Container {
    /// Name as joblib spells the compressor (`pickle` when uncompressed).
    pub fn name(self) -> &'static str {
        match self {
            Container::Pickle => "pickle",
            Container::Zlib => "zlib",
            Container::Gzip => "gzip",
            Container::Bz2 => "bz2",
            Container::Xz => "xz",
            Container::Lzma => "lzma",
            Container::Lz4 => "lz4",
        }
    }
}

/// joblib before 0.9.3 wrote its own `ZF` container; it is not supported.
const ZFILE_PREFIX: &[u8] = b"ZF";

/// Identifies the container from the first bytes of a file.
pub fn sniff(head: &[u8]) -> Option<Container> {
    match head {
        // PROTO opcode with a protocol this reader understands.
        [0x80, 2..=5, ..] => Some(Container::Pickle),
        // zlib: CMF 0x78 (deflate, 32 KiB window) and a valid header check.
        [0x78, flg, ..] if (0x7800u16 | *flg as u16).is_multiple_of(31) => Some(Container::Zlib),
        [0x1f, 0x8b, ..] => Some(Container::Gzip),
        [b'B', b'Z', b'h', ..] => Some(Container::Bz2),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Some(Container::Xz),
        [0x5d, 0x00, 0x00, ..] => Some(Container::Lzma),
        [0x04, 0x22, 0x4d, 0x18, ..] => Some(Container::Lz4),
        _ => None,
    }
}

/// Opcodes a protocol 0/1 pickle (which has no header) can start with.
const PROTOCOL_0_STARTS: &[u8] = b"()]}NIJKLMFGSTUVXcdilpqPQ";

/// Finds the container, or says why the bytes are not a readable pickle.
/// Unlike [`sniff`] it lets the pickle reader see headerless (protocol 0/1)
/// pickles and unknown protocols, so that it can name what it refuses.
pub(crate) fn detect(head: &[u8]) -> Result<Container, SklearnError> {
    if head.starts_with(ZFILE_PREFIX) {
        return Err(SklearnError::UnsupportedFormat(
            "a joblib < 0.9.3 'ZF' file; re-save the model with a current joblib".into(),
        ));
    }
    if let Some(c) = sniff(head) {
        return Ok(c);
    }
    if matches!(head.first(), Some(&b) if b == 0x80 || PROTOCOL_0_STARTS.contains(&b)) {
        return Ok(Container::Pickle);
    }
    sniff(head).ok_or_else(|| {
        SklearnError::UnsupportedFormat(format!(
            "neither a pickle nor a zlib/gzip/bz2/xz/lzma/lz4-compressed pickle \
             (first bytes {:02x?})",
            &head[..head.len().min(8)]
        ))
    })
}

/// Largest ratio of decompressed to compressed size accepted, as in the
/// native format: real forests compress 4–20×, while a decompression bomb
/// (a few MB of zeros expanding to gigabytes) goes far beyond.
pub const MAX_COMPRESSION_RATIO: u64 = crate::store::MAX_COMPRESSION_RATIO;

/// Decompresses the whole stream of `compressed_len` bytes, refusing to
/// produce more than `limit` bytes or more than [`MAX_COMPRESSION_RATIO`]
/// times `compressed_len`. Memory is reserved fallibly: running out of it
/// is an error, not an abort.
pub(crate) fn decompress<R: Read>(
    container: Container,
    reader: R,
    limit: u64,
    compressed_len: u64,
) -> Result<Vec<u8>, SklearnError> {
    let ratio_limit = if container == Container::Pickle {
        compressed_len
    } else {
        compressed_len.saturating_mul(MAX_COMPRESSION_RATIO)
    };
    let mut out = LimitedWriter {
        buf: Vec::new(),
        limit: limit.min(ratio_limit),
        hit: false,
        out_of_memory: false,
    };
    // Forests compress about 4–6×: start there (best effort) and grow.
    let hint = compressed_len.saturating_mul(if container == Container::Pickle { 1 } else { 4 });
    let _ = out.buf.try_reserve(hint.min(out.limit) as usize);
    let result = match container {
        Container::Pickle => copy(reader, &mut out),
        Container::Zlib => copy(flate2::read::ZlibDecoder::new(reader), &mut out),
        Container::Gzip => copy(flate2::read::MultiGzDecoder::new(reader), &mut out),
        Container::Bz2 => copy(bzip2::read::MultiBzDecoder::new(reader), &mut out),
        Container::Lz4 => copy(lz4_flex::frame::FrameDecoder::new(reader), &mut out),
        Container::Xz => {
            lzma_rs::xz_decompress(&mut BufReader::new(reader), &mut out).map_err(lzma_error)
        }
        Container::Lzma => {
            lzma_rs::lzma_decompress(&mut BufReader::new(reader), &mut out).map_err(lzma_error)
        }
    };
    match result {
        Ok(()) => Ok(out.buf),
        Err(_) if out.out_of_memory => Err(SklearnError::OutOfMemory {
            size: out.buf.len() as u64,
        }),
        Err(_) if out.hit && out.limit < limit => Err(SklearnError::CompressionRatio {
            compressed: compressed_len,
            limit: out.limit,
        }),
        Err(_) if out.hit => Err(SklearnError::TooLarge { limit }),
        Err(e) if container == Container::Pickle => Err(SklearnError::Io(e)),
        Err(e) => Err(SklearnError::Decompress {
            format: container.name(),
            message: e.to_string(),
        }),
    }
}

fn copy<R: Read>(mut reader: R, out: &mut LimitedWriter) -> io::Result<()> {
    io::copy(&mut reader, out).map(|_| ())
}

fn lzma_error(e: lzma_rs::error::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// A `Vec` writer that fails once more than `limit` bytes were written:
/// a small compressed file must not expand into unbounded memory.
struct LimitedWriter {
    buf: Vec<u8>,
    limit: u64,
    /// Set once a write went past the limit.
    hit: bool,
    /// Set once memory for the output could not be reserved.
    out_of_memory: bool,
}

impl Write for LimitedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.limit.saturating_sub(self.buf.len() as u64);
        if data.len() as u64 > room {
            self.hit = true;
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        if self.buf.try_reserve(data.len()).is_err() {
            self.out_of_memory = true;
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether `head` (the first bytes of a file) looks like a pickle or a
/// joblib file: a known container whose first decompressed bytes are a
/// pickle protocol 2–5 header.
pub fn looks_like_pickle(head: &[u8]) -> bool {
    match sniff(head) {
        None => false,
        Some(Container::Pickle) => true,
        Some(c) => {
            // Decompress just enough to see the pickle header; a truncated
            // head is fine, so stop at the first two output bytes.
            let mut first = [0u8; 2];
            let got = match c {
                Container::Zlib => read_prefix(flate2::read::ZlibDecoder::new(head), &mut first),
                Container::Gzip => read_prefix(flate2::read::GzDecoder::new(head), &mut first),
                Container::Bz2 => read_prefix(bzip2::read::BzDecoder::new(head), &mut first),
                Container::Lz4 => read_prefix(lz4_flex::frame::FrameDecoder::new(head), &mut first),
                // lzma-rs has no streaming reader; its header is distinctive
                // enough, and the full read checks the rest.
                Container::Xz | Container::Lzma => return true,
                Container::Pickle => unreachable!("handled above"),
            };
            got == 2 && matches!(first, [0x80, 2..=5])
        }
    }
}

fn read_prefix<R: Read>(mut r: R, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// Reads a pickle/joblib file into memory, decompressing it as needed.
pub(crate) fn read_path(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, SklearnError> {
    let (file, size) = crate::bounded_read::open(path, limit)?;
    let mut reader = BufReader::with_capacity(1 << 20, file.take(size));
    let head = reader.fill_buf()?.to_vec();
    let container = detect(&head)?;
    decompress(container, reader, limit, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_joblib_prefixes() {
        assert_eq!(sniff(&[0x80, 4, 0x95]), Some(Container::Pickle));
        assert_eq!(sniff(&[0x80, 9]), None);
        assert_eq!(sniff(&[0x78, 0x5e]), Some(Container::Zlib));
        assert_eq!(sniff(&[0x78, 0x00]), None);
        assert_eq!(sniff(b"BZh9"), Some(Container::Bz2));
        assert_eq!(
            sniff(&[0xfd, b'7', b'z', b'X', b'Z', 0]),
            Some(Container::Xz)
        );
        assert_eq!(sniff(&[0x04, 0x22, 0x4d, 0x18]), Some(Container::Lz4));
        assert!(matches!(
            detect(b"ZF00"),
            Err(SklearnError::UnsupportedFormat(_))
        ));
        assert!(!looks_like_pickle(b"hello"));
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        use flate2::{write::ZlibEncoder, Compression};
        let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&[0x80, 4]).unwrap();
        enc.write_all(&vec![b'N'; 100_000]).unwrap();
        let z = enc.finish().unwrap();
        assert!(looks_like_pickle(&z));
        let n = z.len() as u64;
        assert_eq!(
            decompress(Container::Zlib, &z[..], 200_000, n)
                .unwrap()
                .len(),
            100_002
        );
        assert!(matches!(
            decompress(Container::Zlib, &z[..], 1000, n),
            Err(SklearnError::TooLarge { limit: 1000 })
        ));
    }

    /// Issue 31, defect 9: a small compressed file may not expand more than
    /// the native format allows (1024×), whatever the absolute limit.
    #[test]
    fn decompression_bombs_are_refused_by_ratio() {
        use flate2::{write::ZlibEncoder, Compression};
        let mut enc = ZlibEncoder::new(Vec::new(), Compression::best());
        enc.write_all(&[0x80, 4]).unwrap();
        enc.write_all(&vec![0u8; 8 << 20]).unwrap();
        let z = enc.finish().unwrap();
        let n = z.len() as u64;
        assert!(n * MAX_COMPRESSION_RATIO < 8 << 20, "{n} bytes compressed");
        let err = decompress(Container::Zlib, &z[..], 16 << 30, n).unwrap_err();
        assert!(
            matches!(err, SklearnError::CompressionRatio { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("1024"), "{err}");
        let mut b = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        b.write_all(&vec![0u8; 8 << 20]).unwrap();
        let bz = b.finish().unwrap();
        let err = decompress(Container::Bz2, &bz[..], 16 << 30, bz.len() as u64).unwrap_err();
        assert!(
            matches!(err, SklearnError::CompressionRatio { .. }),
            "{err}"
        );
    }
}
