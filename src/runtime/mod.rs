//! Run ONNX tree models in tract, with forest2onnx's own tree-ensemble op.
//!
//! tract's built-in `TreeEnsembleClassifier` is quadratic in the forest size,
//! mis-decodes some branch modes and the two-class layout, and tract has no
//! opset 5 `TreeEnsemble`; [`tract`] returns a tract ONNX loader whose
//! `TreeEnsembleClassifier`, `TreeEnsembleRegressor` (ai.onnx.ml opsets 1
//! and 3, float or double attributes) and `TreeEnsemble` (opset 5) are ours:
//! linear in the forest size, parallel over rows, evaluated in f64 with the
//! IR's traversal kernel, every attribute checked ([`AttributeError`]).
//!
//! * [`OnnxModel`] runs any of our graphs (and other converters') on f64
//!   rows and returns labels, outputs and raw scores as f64;
//! * [`OnnxSummary`] describes a file without running it (`inspect`);
//! * [`CompiledEnsemble`] is the evaluator behind the operator.

pub mod attributes;
mod ensemble;
mod error;
mod model;
mod onnx_file;
mod op;
mod parse;
mod precompile;
mod summary;

pub use crate::ir::Labels;
pub use attributes::{Aggregate, Mode, Operator, PostTransform, Precision};
pub use ensemble::CompiledEnsemble;
pub use error::AttributeError;
pub use model::{ElementType, OnnxModel, OnnxOutputs, OutputInfo, OutputRole};
pub use onnx_file::{check_versions, NEWEST_IR_VERSION, NEWEST_OPSETS};
pub use op::TreeEnsembleOp;
pub use summary::{EnsembleSummary, OnnxSummary, ValueSummary};

/// A tract ONNX loader with forest2onnx's tree-ensemble ops registered.
///
/// ```no_run
/// use tract_onnx::prelude::*;
/// let model = forest2onnx::runtime::tract()
///     .model_for_path("model.onnx")?
///     .into_optimized()?
///     .into_runnable()?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn tract() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    for op in [
        "TreeEnsembleClassifier",
        "TreeEnsembleRegressor",
        "TreeEnsemble",
    ] {
        onnx.op_register.insert(op, parse::parse);
    }
    onnx
}

/// Why an ONNX model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// tract refused the model or failed while running it.
    #[error("tract: {0:#}")]
    Tract(anyhow::Error),
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX model.
    #[error("not an ONNX model: {0}")]
    Decode(prost::DecodeError),
    /// The file declares a version newer than forest2onnx knows.
    #[error("the file declares {what} {version}; the newest forest2onnx knows is {newest}")]
    UnknownVersion {
        /// `IR version`, `ai.onnx opset` or `ai.onnx.ml opset`.
        what: String,
        /// The version declared.
        version: i64,
        /// The newest known.
        newest: i64,
    },
    /// The model's inputs or outputs are not those of a tree model.
    #[error("unexpected model signature: {0}")]
    Signature(String),
    /// Input with the wrong number of columns.
    #[error(transparent)]
    Shape(#[from] crate::predict::ShapeError),
}

impl From<anyhow::Error> for RuntimeError {
    fn from(e: anyhow::Error) -> Self {
        RuntimeError::Tract(e)
    }
}
