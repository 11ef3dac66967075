//! Reading a model file: every check between raw bytes and a [`Forest`].
//!
//! Order matters: sizes are checked against the real file length before
//! anything is allocated from them, checksums before anything is parsed, and
//! the forest's own invariants last.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use super::arrays::{arrays, OwnedArrays};
use super::error::StoreError;
use super::layout::{
    Header, Preamble, COMPRESSION_NONE, COMPRESSION_ZSTD, MAX_COMPRESSION_RATIO, MAX_PAYLOAD_LEN,
    PREAMBLE_LEN,
};
use super::metadata::{Compression, Metadata};
use super::sections::{locate, Located};
use crate::ir::Forest;

/// A file whose preamble and header were checked and parsed.
pub(crate) struct Head {
    pub preamble: Preamble,
    pub header: Header,
}

impl Head {
    /// Offset of the payload in the file.
    pub fn payload_offset(&self) -> usize {
        // Bounded by MAX_HEADER_LEN when the preamble was parsed.
        self.preamble.payload_offset() as usize
    }

    /// The forest without its trees, as the header describes it.
    pub fn shell(&self) -> Forest {
        let m = &self.header.metadata;
        Forest {
            n_features: m.n_features,
            feature_names: m.feature_names.clone(),
            input: m.input.clone(),
            split_op: m.split_op,
            task: m.task.clone(),
            aggregation: m.aggregation.clone(),
            trees: Vec::new(),
            source: m.source.clone(),
        }
    }

    /// Where the sections are in a raw payload of `raw_len` bytes.
    pub fn locate(&self, raw_len: usize) -> Result<Located, StoreError> {
        let m = &self.header.metadata;
        locate(
            &self.header.sections,
            raw_len as u64,
            m.n_trees,
            m.n_nodes,
            self.shell().leaf_width(),
        )
    }
}

/// Checks and parses the preamble and header at the start of `bytes`, the
/// first bytes (at least up to the payload) of a file of `file_len` bytes.
pub(crate) fn read_head(bytes: &[u8], file_len: u64) -> Result<Head, StoreError> {
    let preamble = Preamble::parse(bytes, file_len)?;
    let offset = preamble.payload_offset() as usize;
    if bytes.len() < offset {
        return Err(StoreError::corrupt("truncated inside the header"));
    }
    preamble.verify_header(&bytes[..offset])?;
    let json = &bytes[PREAMBLE_LEN..PREAMBLE_LEN + preamble.header_len as usize];
    let header: Header = serde_json::from_slice(json)
        .map_err(|e| StoreError::corrupt(format!("header is not valid JSON: {e}")))?;
    let m = &header.metadata;
    if m.format != preamble.format {
        return Err(StoreError::corrupt(format!(
            "the header says format {} but the preamble says {}",
            m.format, preamble.format
        )));
    }
    let consistent = matches!(
        (preamble.compression, m.compression),
        (COMPRESSION_NONE, Compression::None) | (COMPRESSION_ZSTD, Compression::Zstd { .. })
    );
    if !consistent {
        return Err(StoreError::corrupt(
            "the header and the preamble disagree on compression",
        ));
    }
    Ok(Head { preamble, header })
}

/// Reads only the preamble and header of the file at `path`.
pub(crate) fn read_head_from_file(path: &Path) -> Result<Head, StoreError> {
    let io = StoreError::io;
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let file_len = file.metadata().map_err(io(path))?.len();
    let mut head = Vec::with_capacity(PREAMBLE_LEN);
    (&mut file)
        .take(PREAMBLE_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io(path))?;
    // Parsing bounds the header length before we read (and allocate) it.
    let offset = Preamble::parse(&head, file_len)?.payload_offset();
    (&mut file)
        .take(offset - PREAMBLE_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io(path))?;
    read_head(&head, file_len)
}

/// Decodes a whole model file held in memory.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Forest, Metadata), StoreError> {
    let head = read_head(bytes, bytes.len() as u64)?;
    let stored = &bytes[head.payload_offset()..];
    head.preamble.verify_payload(stored)?;
    let raw = match head.preamble.compression {
        COMPRESSION_ZSTD => Cow::Owned(decompress(stored, head.preamble.raw_len)?),
        _ => Cow::Borrowed(stored),
    };
    let loc = head.locate(raw.len())?;
    let shell = head.shell();
    let mut owned = OwnedArrays::default();
    let arrays = arrays(&raw, &loc, shell.leaf_width(), &mut owned)?;
    let forest = Forest {
        trees: arrays.to_trees(),
        ..shell
    };
    forest.check()?;
    Ok((forest, head.header.metadata))
}

/// Decompresses a zstd payload that must come out exactly `raw_len` bytes.
fn decompress(stored: &[u8], raw_len: u64) -> Result<Vec<u8>, StoreError> {
    let too_large = |limit: u64| StoreError::TooLarge {
        what: "the decompressed payload".into(),
        size: raw_len,
        limit,
    };
    if raw_len > MAX_PAYLOAD_LEN {
        return Err(too_large(MAX_PAYLOAD_LEN));
    }
    // A small file must not make us allocate a huge buffer.
    let ratio_limit = (stored.len() as u64).saturating_mul(MAX_COMPRESSION_RATIO);
    if raw_len > ratio_limit {
        return Err(too_large(ratio_limit));
    }
    let raw_len = usize::try_from(raw_len).map_err(|_| too_large(usize::MAX as u64))?;
    let mut out = Vec::new();
    out.try_reserve_exact(raw_len)
        .map_err(|_| too_large((raw_len as u64).saturating_sub(1)))?;
    // One-shot decompression into a buffer of the declared size: zstd fails
    // rather than write past it, and needs no window buffer of its own.
    let mut decompressor =
        zstd::bulk::Decompressor::new().map_err(|e| StoreError::corrupt(format!("zstd: {e}")))?;
    let n = decompressor
        .decompress_to_buffer(stored, &mut out)
        .map_err(|e| StoreError::corrupt(format!("zstd: {e}")))?;
    if n != raw_len {
        return Err(StoreError::corrupt(format!(
            "the payload decompressed to {n} bytes; the header declares {raw_len}"
        )));
    }
    Ok(out)
}
