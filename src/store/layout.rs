//! Byte layout of a model file: the fixed preamble, the limits, and the
//! checksums. See `docs/FORMAT.md` for the same in prose.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use super::error::StoreError;
use super::metadata::{FormatVersion, Metadata};

/// First eight bytes of every model file. Like PNG's, the high byte catches
/// 7-bit transfers and the CR LF / ^Z bytes catch newline translation.
pub const MAGIC: [u8; 8] = *b"\x89F2OF\r\n\x1a";
/// Highest format major version this build reads, and the one it writes
/// (see `docs/FORMAT.md`, "Version rules").
pub const FORMAT_MAJOR: u16 = 4;
/// Minor version written with [`FORMAT_MAJOR`].
pub const FORMAT_MINOR: u16 = 0;
/// Largest JSON header accepted (16 MiB), checked before allocating it.
pub const MAX_HEADER_LEN: u64 = 16 << 20;
/// Largest uncompressed payload accepted (64 GiB).
pub const MAX_PAYLOAD_LEN: u64 = 64 << 30;
/// Largest accepted ratio of uncompressed to compressed payload size; bounds
/// what a small compressed file can make the loader allocate. The writer
/// stores a payload uncompressed rather than exceed it.
pub const MAX_COMPRESSION_RATIO: u64 = 1024;
/// Alignment of the payload and of every section, in bytes.
pub const ALIGN: u64 = 64;

/// Bytes 0..24 keep this layout in every format version, so any reader can
/// tell a future file from a damaged one.
pub(crate) const ID_LEN: usize = 24;
/// Bytes before the JSON header in format 1.
pub(crate) const PREAMBLE_LEN: usize = 72;
/// The header checksum covers bytes 0..64 of the preamble (everything but
/// itself and its neighbour `header_hash`) then the header and its padding.
const HASHED_PREAMBLE: usize = 64;

/// Compression codes of the preamble.
pub(crate) const COMPRESSION_NONE: u32 = 0;
pub(crate) const COMPRESSION_ZSTD: u32 = 1;

/// Format-1 preamble: fixed-size fields before the JSON header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Preamble {
    pub format: FormatVersion,
    /// forest2onnx version that wrote the file (major, minor, patch).
    pub writer: [u16; 3],
    pub compression: u32,
    pub header_len: u64,
    /// Bytes of payload stored in the file.
    pub payload_len: u64,
    /// Bytes of payload once decompressed.
    pub raw_len: u64,
    pub payload_hash: u64,
    pub header_hash: u64,
}

impl Preamble {
    /// Offset of the payload: after the header, rounded up to [`ALIGN`].
    /// Only valid once [`Preamble::parse`] has checked the lengths.
    pub fn payload_offset(&self) -> u64 {
        align_up(PREAMBLE_LEN as u64 + self.header_len)
    }

    /// Total file length the preamble declares, or `None` on overflow.
    fn file_len(&self) -> Option<u64> {
        (PREAMBLE_LEN as u64)
            .checked_add(self.header_len)?
            .checked_next_multiple_of(ALIGN)?
            .checked_add(self.payload_len)
    }

    pub fn encode(&self) -> [u8; PREAMBLE_LEN] {
        let mut b = [0u8; PREAMBLE_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&self.format.major.to_le_bytes());
        b[10..12].copy_from_slice(&self.format.minor.to_le_bytes());
        for (i, part) in self.writer.iter().enumerate() {
            b[12 + 2 * i..14 + 2 * i].copy_from_slice(&part.to_le_bytes());
        }
        // 18..20 reserved (zero)
        let id_check = xxh3_64(&b[..20]) as u32;
        b[20..24].copy_from_slice(&id_check.to_le_bytes());
        b[24..28].copy_from_slice(&self.compression.to_le_bytes());
        // 28..32 reserved (zero)
        b[32..40].copy_from_slice(&self.header_len.to_le_bytes());
        b[40..48].copy_from_slice(&self.payload_len.to_le_bytes());
        b[48..56].copy_from_slice(&self.raw_len.to_le_bytes());
        b[56..64].copy_from_slice(&self.payload_hash.to_le_bytes());
        b[64..72].copy_from_slice(&self.header_hash.to_le_bytes());
        b
    }

    /// Parses and checks the preamble at the start of `bytes`; `file_len` is
    /// the length of the whole file (which `bytes` may only be a prefix of).
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<Preamble, StoreError> {
        let (format, writer) = parse_id(bytes)?;
        if bytes.len() < PREAMBLE_LEN {
            return Err(truncated(bytes.len() as u64));
        }
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        if u16_at(18) != 0 || u32_at(28) != 0 {
            return Err(StoreError::corrupt("reserved preamble bytes are not zero"));
        }
        let p = Preamble {
            format,
            writer,
            compression: u32_at(24),
            header_len: u64_at(32),
            payload_len: u64_at(40),
            raw_len: u64_at(48),
            payload_hash: u64_at(56),
            header_hash: u64_at(64),
        };
        // Checked before anything is allocated from these sizes: a truncated
        // or extended file, or a damaged length, is reported here.
        match p.file_len() {
            Some(n) if n == file_len => {}
            Some(n) if n > file_len => {
                return Err(StoreError::corrupt(format!(
                    "the file is {file_len} bytes but its preamble declares {n}: truncated, or a damaged length field"
                )))
            }
            n => {
                return Err(StoreError::corrupt(format!(
                    "the file is {file_len} bytes but its preamble declares {}: \
                     damaged length fields or trailing data",
                    n.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string())
                )))
            }
        }
        if p.header_len > MAX_HEADER_LEN {
            // The lengths are consistent, so this is a hostile file (or one from
            // a writer with other limits): refuse before allocating the header.
            return Err(StoreError::TooLarge {
                what: "the header".into(),
                size: p.header_len,
                limit: MAX_HEADER_LEN,
            });
        }
        match p.compression {
            COMPRESSION_NONE if p.raw_len != p.payload_len => Err(StoreError::corrupt(
                "uncompressed payload with different stored and raw lengths",
            )),
            COMPRESSION_NONE | COMPRESSION_ZSTD => Ok(p),
            c => Err(StoreError::corrupt(format!("unknown compression code {c}"))),
        }
    }

    /// Verifies [`Preamble::header_hash`]; `head` holds the file from its
    /// start to the payload offset.
    pub fn verify_header(&self, head: &[u8]) -> Result<(), StoreError> {
        let mut h = Xxh3::new();
        h.update(&head[..HASHED_PREAMBLE]);
        h.update(&head[PREAMBLE_LEN..]);
        check_hash(h.digest(), self.header_hash, "header checksum mismatch")
    }

    /// Verifies [`Preamble::payload_hash`] over the stored payload.
    pub fn verify_payload(&self, payload: &[u8]) -> Result<(), StoreError> {
        check_hash(
            xxh3_64(payload),
            self.payload_hash,
            "payload checksum mismatch",
        )
    }
}

/// Fills in both checksums of a file assembled with a zeroed preamble.
pub(crate) fn seal(file: &mut [u8], mut preamble: Preamble) {
    let offset = preamble.payload_offset() as usize;
    preamble.payload_hash = xxh3_64(&file[offset..]);
    preamble.header_hash = 0;
    file[..PREAMBLE_LEN].copy_from_slice(&preamble.encode());
    let mut h = Xxh3::new();
    h.update(&file[..HASHED_PREAMBLE]);
    h.update(&file[PREAMBLE_LEN..offset]);
    preamble.header_hash = h.digest();
    file[..PREAMBLE_LEN].copy_from_slice(&preamble.encode());
}

/// Reads the identification block (bytes 0..24), common to all versions.
fn parse_id(bytes: &[u8]) -> Result<(FormatVersion, [u16; 3]), StoreError> {
    let n = bytes.len().min(MAGIC.len());
    if bytes[..n] != MAGIC[..n] {
        return Err(StoreError::BadMagic);
    }
    if bytes.len() < ID_LEN {
        return Err(truncated(bytes.len() as u64));
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let stored = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    check_hash(
        u64::from(xxh3_64(&bytes[..20]) as u32),
        u64::from(stored),
        "identification block checksum mismatch",
    )?;
    let format = FormatVersion {
        major: u16_at(8),
        minor: u16_at(10),
    };
    let writer = [u16_at(12), u16_at(14), u16_at(16)];
    if format.major == 0 {
        return Err(StoreError::corrupt("format major version 0 does not exist"));
    }
    if format.major > FORMAT_MAJOR {
        return Err(StoreError::UnsupportedVersion {
            written_by: format!("{}.{}.{}", writer[0], writer[1], writer[2]),
            major: format.major,
            minor: format.minor,
            this_build: env!("CARGO_PKG_VERSION"),
            supported: FORMAT_MAJOR,
        });
    }
    Ok((format, writer))
}

/// Compares checksums. Fuzzing builds skip the comparison so the fuzzer can
/// reach the code behind them; every other build enforces it.
#[allow(unexpected_cfgs)]
fn check_hash(actual: u64, stored: u64, what: &str) -> Result<(), StoreError> {
    if actual == stored || cfg!(fuzzing) {
        Ok(())
    } else {
        Err(StoreError::corrupt(what))
    }
}

fn truncated(len: u64) -> StoreError {
    StoreError::corrupt(format!(
        "truncated: {len} bytes, shorter than the {PREAMBLE_LEN}-byte preamble"
    ))
}

/// This build's version as (major, minor, patch); parts that are not plain
/// numbers read as 0.
pub(crate) fn writer_version() -> [u16; 3] {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u16>().unwrap_or(0));
    [(); 3].map(|_| parts.next().unwrap_or(0))
}

/// Rounds `n` up to a multiple of [`ALIGN`].
pub(crate) fn align_up(n: u64) -> u64 {
    n.div_ceil(ALIGN) * ALIGN
}

/// Element type of a section, all little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Dtype {
    U8,
    U32,
    U64,
    F64,
}

impl Dtype {
    pub fn size(self) -> u64 {
        match self {
            Dtype::U8 => 1,
            Dtype::U32 => 4,
            Dtype::U64 | Dtype::F64 => 8,
        }
    }
}

/// One entry of the header's section table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SectionEntry {
    pub name: String,
    pub dtype: Dtype,
    /// Byte offset from the start of the (uncompressed) payload.
    pub offset: u64,
    /// Number of elements.
    pub count: u64,
}

/// The JSON header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Header {
    pub metadata: Metadata,
    pub sections: Vec<SectionEntry>,
    /// Format 3: the zstd frames of the payload, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<FrameEntry>,
}

/// One frame of the header's frame table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FrameEntry {
    /// Bytes of payload it decompresses to.
    pub raw: u64,
    /// Bytes it takes in the file.
    pub stored: u64,
}
