//! The one error type of the store.

use std::path::PathBuf;

use crate::ir::ForestError;

/// Why a model file could not be written or read.
///
/// Everything a damaged, truncated or hostile file can cause is one of these
/// variants: the loader never panics on its input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The data does not start with the forest2onnx magic bytes: it is not a
    /// model file at all.
    #[error("not a forest2onnx model file (wrong magic bytes)")]
    BadMagic,
    /// The file was written in a newer major format version than this build reads.
    #[error(
        "written by forest2onnx {written_by}, format {major}.{minor}; this build \
         (forest2onnx {this_build}) reads formats up to {supported}: upgrade forest2onnx"
    )]
    UnsupportedVersion {
        /// forest2onnx version that wrote the file.
        written_by: String,
        /// The file's format major version.
        major: u16,
        /// The file's format minor version.
        minor: u16,
        /// This build's version.
        this_build: &'static str,
        /// Highest format major version this build reads.
        supported: u16,
    },
    /// The file is damaged: a checksum, a length or a structural field is wrong.
    #[error("corrupt model file: {what}")]
    Corrupt {
        /// What was found to be wrong.
        what: String,
    },
    /// A size exceeds one of the format's limits (see `docs/FORMAT.md`).
    #[error("{what} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// What is too large.
        what: String,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The forest breaks an IR invariant: refused on save, or found in a file
    /// whose checksums were right but whose content is inconsistent.
    #[error("invalid forest: {0}")]
    InvalidForest(#[from] ForestError),
    /// The file cannot be memory-mapped (for example, it is compressed).
    #[error("cannot memory-map this model file: {0}")]
    NotMappable(String),
    /// A caller-supplied option or name is not acceptable.
    #[error("invalid option: {0}")]
    InvalidOptions(String),
}

impl StoreError {
    /// A [`StoreError::Corrupt`] with the given description.
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Corrupt { what: what.into() }
    }

    /// A closure turning an I/O error on `path` into a [`StoreError::Io`].
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
