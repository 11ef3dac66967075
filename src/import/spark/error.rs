//! Errors of the Spark ML importer.

use crate::ir::ForestError;

/// Why a Spark ML model folder could not be turned into a forest.
#[derive(Debug, thiserror::Error)]
pub enum SparkError {
    /// A file of the folder could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The folder (or its packed bytes) is not a saved Spark ML model.
    #[error("not a saved Spark ML model: {0}")]
    NotAModel(String),
    /// A file of the model is missing or malformed.
    #[error("`{file}`: {problem}")]
    File {
        /// Path inside the model folder, e.g. `data/part-00000-….parquet`.
        file: String,
        /// What is wrong.
        problem: String,
    },
    /// A tree's nodes do not form a tree, or hold impossible values.
    #[error("tree {tree}, node {node}: {problem}")]
    Node {
        /// Tree id (0 for a decision tree).
        tree: usize,
        /// Spark's node id.
        node: i64,
        /// What is wrong.
        problem: String,
    },
    /// A model (or a setting of it) forest2onnx cannot reproduce exactly.
    #[error("unsupported Spark ML model: {what}. {hint}")]
    Unsupported {
        /// What the model uses.
        what: String,
        /// What to do instead.
        hint: String,
    },
    /// The converted forest failed [`crate::ir::Forest::check`].
    #[error("the converted forest is invalid: {0}")]
    Forest(#[from] ForestError),
}

impl SparkError {
    pub(crate) fn file(file: &str, problem: impl Into<String>) -> SparkError {
        SparkError::File {
            file: file.into(),
            problem: problem.into(),
        }
    }
}
