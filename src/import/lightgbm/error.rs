//! Errors of the LightGBM importer.

use crate::ir::ForestError;

/// Why a LightGBM model file could not be turned into a forest.
#[derive(Debug, thiserror::Error)]
pub enum LightgbmError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a LightGBM text model.
    #[error("not a LightGBM text model: {0}")]
    NotAModel(String),
    /// A header key is missing or malformed.
    #[error("line {line}: {key}: {problem}")]
    Header {
        /// 1-based line number (0 when the key is missing altogether).
        line: usize,
        /// The key, e.g. `max_feature_idx`.
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// A tree block is broken: a missing or malformed field, child ids out
    /// of range, cycles, a bitset out of range, ...
    #[error("tree {tree} (line {line}): {problem}")]
    Tree {
        /// Index of the tree in the model.
        tree: usize,
        /// 1-based line of the `Tree=` header or of the offending field.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// A model feature forest2onnx cannot reproduce exactly.
    #[error("unsupported LightGBM model: {what}. {hint}")]
    Unsupported {
        /// What the model uses.
        what: String,
        /// What to do instead.
        hint: String,
    },
    /// The rounds asked for (`--rounds`) are not in the model.
    #[error("{0}")]
    Rounds(String),
    /// The converted forest failed [`crate::ir::Forest::check`].
    #[error("the converted forest is invalid: {0}")]
    Forest(#[from] ForestError),
}
