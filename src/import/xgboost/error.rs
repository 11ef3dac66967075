//! Errors of the XGBoost importer.

use crate::ir::ForestError;

/// Why an XGBoost model file could not be turned into a forest.
#[derive(Debug, thiserror::Error)]
pub enum XgboostError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a model XGBoost saved as JSON or UBJSON.
    #[error("not an XGBoost JSON or UBJSON model: {0}")]
    NotAModel(String),
    /// The JSON or UBJSON text itself is malformed.
    #[error("malformed {encoding} at byte {offset}: {problem}")]
    Syntax {
        /// `JSON` or `UBJSON`.
        encoding: &'static str,
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        problem: String,
    },
    /// A field is missing or holds the wrong kind of value.
    #[error("{field}: {problem}")]
    Field {
        /// Path of the field, e.g. `learner.gradient_booster.model.trees[3].left_children`.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A model feature forest2onnx cannot reproduce exactly.
    #[error("unsupported XGBoost model: {what}. {hint}")]
    Unsupported {
        /// What the model uses.
        what: String,
        /// What to do instead.
        hint: String,
    },
    /// A tree's structure is broken (child ids out of range, cycles, ...).
    #[error("tree {tree}: {problem}")]
    Tree {
        /// Index of the tree in the model.
        tree: usize,
        /// What is wrong.
        problem: String,
    },
    /// The rounds asked for (`--rounds`) are not in the file.
    #[error("{0}")]
    Rounds(String),
    /// The converted forest failed [`crate::ir::Forest::check`].
    #[error("the converted forest is invalid: {0}")]
    Forest(#[from] ForestError),
}
