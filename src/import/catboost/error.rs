//! Errors of the CatBoost importer.

use crate::ir::ForestError;

/// Why a CatBoost model file could not be turned into a forest.
#[derive(Debug, thiserror::Error)]
pub enum CatboostError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a CatBoost model (`.cbm` or JSON export).
    #[error("not a CatBoost model: {0}")]
    NotAModel(String),
    /// The binary `.cbm` file is damaged: a FlatBuffers offset, length or
    /// field out of bounds.
    #[error("damaged .cbm file at byte {offset}: {problem}")]
    Binary {
        /// Byte offset of the problem in the file.
        offset: usize,
        /// What is wrong.
        problem: String,
    },
    /// The JSON export itself is malformed.
    #[error("malformed JSON: {0}")]
    Json(String),
    /// A field is missing or holds the wrong kind of value.
    #[error("{field}: {problem}")]
    Field {
        /// Path of the field, e.g. `oblivious_trees[3].splits[0].border`.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A model feature forest2onnx cannot reproduce exactly.
    #[error("unsupported CatBoost model: {what}. {hint}")]
    Unsupported {
        /// What the model uses.
        what: String,
        /// What to do instead.
        hint: String,
    },
    /// A tree's structure is broken (split index out of range, ...).
    #[error("tree {tree}: {problem}")]
    Tree {
        /// Index of the tree in the model.
        tree: usize,
        /// What is wrong.
        problem: String,
    },
    /// The converted forest failed [`crate::ir::Forest::check`].
    #[error("the converted forest is invalid: {0}")]
    Forest(#[from] ForestError),
}

impl CatboostError {
    /// A [`CatboostError::Field`] error.
    pub(crate) fn field(field: impl Into<String>, problem: impl Into<String>) -> CatboostError {
        CatboostError::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }
}
