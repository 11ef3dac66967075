//! Run ONNX tree models in tract, with forest2onnx's own tree-ensemble op.
//!
//! tract's built-in `TreeEnsembleClassifier` is quadratic in the forest size
//! and mis-decodes some branch modes and the two-class layout, so [`tract`]
//! returns a tract ONNX loader whose `TreeEnsembleClassifier` and
//! `TreeEnsembleRegressor` are ours ([`ensemble`]): linear, all branch modes,
//! missing-value tracking, base values, post-transforms and onnxruntime's
//! two-class convention.

pub mod ensemble;
mod op;

use std::path::Path;
use std::sync::Arc;

use crate::predict::ShapeError;
use ndarray::{Array2, ArrayView2};
use tract_onnx::prelude::*;

pub use crate::ir::Labels;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

pub use op::TreeEnsembleOp;

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
    onnx.op_register
        .insert("TreeEnsembleClassifier", op::classifier);
    onnx.op_register
        .insert("TreeEnsembleRegressor", op::regressor);
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
    /// The model's inputs or outputs are not those of a forest classifier.
    #[error("unexpected model signature: {0}")]
    Signature(String),
    /// Input with the wrong number of columns.
    #[error(transparent)]
    Shape(#[from] ShapeError),
}

impl From<anyhow::Error> for RuntimeError {
    fn from(e: anyhow::Error) -> Self {
        RuntimeError::Tract(e)
    }
}

/// What an ONNX classifier predicts for a batch.
#[derive(Clone, Debug)]
pub struct OnnxPrediction {
    /// Label per row.
    pub labels: Labels,
    /// Probabilities, rows × classes.
    pub probabilities: Array2<f32>,
}

/// An ONNX forest classifier (`input` → `label`, `probabilities`) ready to run in tract.
#[derive(Clone)]
pub struct OnnxClassifier {
    plan: Arc<TypedRunnableModel>,
    n_features: usize,
}

impl OnnxClassifier {
    /// Load and optimise an ONNX model from bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RuntimeError> {
        let mut model = tract().model_for_read(&mut &*bytes)?;
        let n_features = input_width(&model)?;
        // Pin the batch dimension to a symbol so one plan serves any batch size.
        let batch = model.symbols.sym("N");
        model.set_input_fact(0, f32::fact([batch.to_dim(), n_features.to_dim()]).into())?;
        if model.outputs.len() < 2 {
            return Err(RuntimeError::Signature(format!(
                "{} outputs; a classifier has a label and a probabilities output",
                model.outputs.len()
            )));
        }
        // Keep only label and probabilities: extra outputs (e.g. ZipMap) are
        // for other runtimes.
        model.outputs.truncate(2);
        let plan = model.into_optimized()?.into_runnable()?;
        Ok(OnnxClassifier { plan, n_features })
    }

    /// Load and optimise an ONNX model from a file.
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Run a batch of rows (rows × features).
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Result<OnnxPrediction, RuntimeError> {
        if x.ncols() != self.n_features {
            return Err(ShapeError {
                expected: self.n_features,
                got: x.ncols(),
            }
            .into());
        }
        let input: Tensor = x.to_owned().into_tensor();
        let outputs = self.plan.run(tvec!(input.into_tvalue()))?;
        let labels = &outputs[0];
        let labels = if labels.datum_type() == String::datum_type() {
            Labels::Str(labels.try_as_plain_ram()?.as_slice::<String>()?.to_vec())
        } else if labels.datum_type().is_float() {
            Labels::Float(
                labels
                    .cast_to::<f64>()?
                    .try_as_plain_ram()?
                    .as_slice::<f64>()?
                    .to_vec(),
            )
        } else {
            Labels::Int(
                labels
                    .cast_to::<i64>()?
                    .try_as_plain_ram()?
                    .as_slice::<i64>()?
                    .to_vec(),
            )
        };
        let probs = outputs[1].cast_to::<f32>()?;
        let shape = probs.shape();
        if shape.len() != 2 || shape[0] != x.nrows() {
            return Err(RuntimeError::Signature(format!(
                "probabilities of shape {shape:?} for {} rows",
                x.nrows()
            )));
        }
        let probabilities = Array2::from_shape_vec(
            (shape[0], shape[1]),
            probs.try_as_plain_ram()?.as_slice::<f32>()?.to_vec(),
        )
        .map_err(|e| RuntimeError::Signature(e.to_string()))?;
        Ok(OnnxPrediction {
            labels,
            probabilities,
        })
    }
}

fn input_width(model: &InferenceModel) -> Result<usize, RuntimeError> {
    if model.inputs.len() != 1 {
        return Err(RuntimeError::Signature(format!(
            "{} inputs; expected one float matrix",
            model.inputs.len()
        )));
    }
    let fact = model.input_fact(0)?;
    let width = fact
        .shape
        .dims()
        .nth(1)
        .and_then(|d| d.concretize())
        .and_then(|d| d.to_usize().ok());
    width.ok_or_else(|| {
        RuntimeError::Signature(format!(
            "input shape {fact:?} has no fixed number of features"
        ))
    })
}
