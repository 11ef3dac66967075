//! Errors of the scikit-learn importer.

use super::pickle::PickleError;
use crate::ir::ForestError;

/// Why a scikit-learn pickle/joblib file could not be turned into a forest.
#[derive(Debug, thiserror::Error)]
pub enum SklearnError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// Not a pickle, or a container this reader does not know.
    #[error("unsupported file format: {0}")]
    UnsupportedFormat(String),
    /// The compressed stream is corrupt.
    #[error("corrupt {format} stream: {message}")]
    Decompress {
        /// Compressor name as joblib spells it.
        format: &'static str,
        /// Decoder message.
        message: String,
    },
    /// The decompressed stream would exceed the configured size limit.
    #[error("the decompressed pickle exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The compressed stream expands more than the format allows.
    #[error(
        "the compressed stream of {compressed} bytes expands past {limit} bytes, more than \
         {ratio}× its size: refusing a likely decompression bomb",
        ratio = super::container::MAX_COMPRESSION_RATIO
    )]
    CompressionRatio {
        /// Size of the compressed stream.
        compressed: u64,
        /// The decompressed size allowed for it.
        limit: u64,
    },
    /// Memory for the decompressed stream could not be reserved.
    #[error("not enough memory to decompress the pickle (at {size} bytes)")]
    OutOfMemory {
        /// Bytes decompressed when memory ran out.
        size: u64,
    },
    /// The pickle was refused or could not be decoded.
    #[error(transparent)]
    Pickle(#[from] PickleError),
    /// The pickled object is not an estimator this importer converts.
    #[error(
        "the file holds {found}; supported: RandomForest, ExtraTrees, DecisionTree and \
         ExtraTree classifiers and regressors, GradientBoosting and HistGradientBoosting \
         classifiers and regressors, IsolationForest, and the XGBClassifier, XGBRegressor, \
         LGBMClassifier and LGBMRegressor wrappers"
    )]
    UnsupportedEstimator {
        /// What the file holds.
        found: String,
    },
    /// A multi-output classifier.
    #[error(
        "{estimator} has {n_outputs} outputs; multi-output classifiers are not supported \
         (multi-output regressors are)"
    )]
    MultiOutput {
        /// Estimator class.
        estimator: String,
        /// Number of outputs.
        n_outputs: usize,
    },
    /// The estimator uses something forest2onnx cannot reproduce exactly.
    #[error("{estimator}: {what} is not supported")]
    Unsupported {
        /// Estimator (or member) concerned.
        estimator: String,
        /// What cannot be reproduced.
        what: String,
    },
    /// An estimator attribute is missing or has the wrong shape or type.
    #[error("{estimator}: {problem}")]
    Invalid {
        /// Estimator (or `tree i`) concerned.
        estimator: String,
        /// What is wrong.
        problem: String,
    },
    /// The converted forest failed [`crate::ir::Forest::check`].
    #[error("the converted forest is invalid: {0}")]
    Forest(#[from] ForestError),
}
