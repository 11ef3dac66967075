//! Native model files: save a [`Forest`] and load it back instantly, safely.
//!
//! A replacement for pickle/joblib that cannot execute code on load: a file
//! is a fixed preamble, a JSON header with the [`Metadata`], and the forest's
//! arrays as aligned little-endian sections, optionally zstd-compressed.
//! Checksums (xxh3-64) cover every byte, every size is bounded before it is
//! allocated, and loading ends with [`Forest::check`], so a damaged or hostile
//! file yields a [`StoreError`], never a panic or a wrong model. The layout is
//! specified in `docs/FORMAT.md`.
//!
//! ```no_run
//! # fn demo(forest: &forest2onnx::Forest) -> Result<(), forest2onnx::store::StoreError> {
//! use forest2onnx::store::{self, SaveOptions};
//! store::save(forest, "model.forest", &SaveOptions::default())?;
//! let back = store::load("model.forest")?;
//! assert_eq!(&back, forest);
//! # Ok(()) }
//! ```

mod arrays;
mod compare;
mod decode;
mod encode;
mod error;
mod frames;
mod layout;
mod mapped;
mod metadata;
mod payload;
mod sections;
mod versioned;

use std::path::Path;

use crate::ir::Forest;

pub use arrays::{ForestArrays, TreeView};
pub use encode::created;
pub use error::StoreError;
pub use layout::{
    ALIGN, FORMAT_MAJOR, FORMAT_MINOR, MAGIC, MAX_COMPRESSION_RATIO, MAX_HEADER_LEN,
    MAX_PAYLOAD_LEN,
};
pub use mapped::MappedForest;
pub use metadata::{
    Compression, DataFingerprint, Environment, FormatVersion, Metadata, SaveOptions,
};
pub use versioned::{
    latest_version, save_versioned, versions, write_versioned, ModelVersion, EXTENSION,
};

/// Saves `forest` to `path` atomically and returns the metadata written.
///
/// The forest is checked first ([`Forest::check`]). The file is written to a
/// temporary file in the same folder, flushed, then renamed over `path`: a
/// crash never leaves a partial file under `path`.
pub fn save(
    forest: &Forest,
    path: impl AsRef<Path>,
    opts: &SaveOptions,
) -> Result<Metadata, StoreError> {
    let (bytes, metadata) = encode::encode(forest, opts)?;
    let path = path.as_ref();
    crate::atomic::write(path, &bytes, crate::atomic::Existing::Replace)
        .map_err(StoreError::io(path))?;
    Ok(metadata)
}

/// Encodes `forest` as the bytes of a model file.
pub fn to_bytes(forest: &Forest, opts: &SaveOptions) -> Result<Vec<u8>, StoreError> {
    encode::encode(forest, opts).map(|(bytes, _)| bytes)
}

/// [`to_bytes`] with the compressed payload framed (format 3) whatever its
/// size, in frames of about `frame_bytes` raw bytes: small framed files for
/// tests and fuzzing seeds. [`to_bytes`] frames payloads from 8 MiB on.
#[doc(hidden)]
pub fn to_bytes_framed(
    forest: &Forest,
    opts: &SaveOptions,
    frame_bytes: u64,
) -> Result<Vec<u8>, StoreError> {
    let framing = frames::Framing {
        min_raw: 0,
        target: frame_bytes,
    };
    encode::encode_framed(forest, opts, framing).map(|(bytes, _)| bytes)
}

/// Decodes `bytes` (a model file from [`to_bytes`]) and checks that it holds
/// exactly `forest`, bit for bit (NaN payloads and the sign of zero
/// included): a guard against writer or reader bugs before a file replaces
/// its source.
pub fn verify(forest: &Forest, bytes: &[u8]) -> Result<(), StoreError> {
    let back = from_bytes(bytes)?;
    match compare::first_difference(forest, &back) {
        None => Ok(()),
        Some(what) => Err(StoreError::corrupt(format!(
            "the file does not reproduce the forest: {what}"
        ))),
    }
}

/// Loads the forest saved at `path`, verifying checksums and invariants.
pub fn load(path: impl AsRef<Path>) -> Result<Forest, StoreError> {
    load_with_metadata(path).map(|(forest, _)| forest)
}

/// Loads the forest saved at `path` together with its metadata.
pub fn load_with_metadata(path: impl AsRef<Path>) -> Result<(Forest, Metadata), StoreError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(StoreError::io(path))?;
    decode::decode(&bytes)
}

/// Decodes a model file held in memory.
pub fn from_bytes(bytes: &[u8]) -> Result<Forest, StoreError> {
    decode::decode(bytes).map(|(forest, _)| forest)
}

/// Decodes a model file held in memory, with its metadata.
pub fn from_bytes_with_metadata(bytes: &[u8]) -> Result<(Forest, Metadata), StoreError> {
    decode::decode(bytes)
}

/// Reads only the header of the model file at `path`: cheap whatever the
/// model's size. The header's checksum is verified; the payload's is not
/// (that needs reading it: use [`load`]).
pub fn read_metadata(path: impl AsRef<Path>) -> Result<Metadata, StoreError> {
    decode::read_head_from_file(path.as_ref()).map(|head| head.header.metadata)
}

/// Reads only the header of a model file held in memory (see [`read_metadata`]).
pub fn metadata_from_bytes(bytes: &[u8]) -> Result<Metadata, StoreError> {
    decode::read_head(bytes, bytes.len() as u64).map(|head| head.header.metadata)
}
