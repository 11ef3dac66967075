//! [`OnnxModel`]: any tree-model graph, ready to run in tract on f64 rows.

use std::path::Path;
use std::sync::Arc;

use ndarray::{Array2, ArrayView2};
use tract_onnx::pb::{type_proto, ValueInfoProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use crate::ir::Labels;
use crate::predict::ShapeError;

use super::precompile::{self, Precompiled};
use super::{onnx_file, CompiledEnsemble, RuntimeError, TreeEnsembleOp};

/// Element type of a graph input or output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ElementType {
    /// float32
    Float,
    /// float64
    Double,
    /// int64
    Int64,
    /// string
    String,
    /// Anything else.
    Other,
}

impl ElementType {
    fn of(dt: DatumType) -> ElementType {
        match dt {
            DatumType::F32 => ElementType::Float,
            DatumType::F64 => ElementType::Double,
            DatumType::I64 => ElementType::Int64,
            DatumType::String => ElementType::String,
            _ => ElementType::Other,
        }
    }

    /// From an ONNX `TensorProto.DataType` code.
    pub fn from_onnx(code: i32) -> ElementType {
        match code {
            1 => ElementType::Float,
            11 => ElementType::Double,
            7 => ElementType::Int64,
            8 => ElementType::String,
            _ => ElementType::Other,
        }
    }

    /// The ONNX name, e.g. `float`.
    pub fn name(self) -> &'static str {
        match self {
            ElementType::Float => "float",
            ElementType::Double => "double",
            ElementType::Int64 => "int64",
            ElementType::String => "string",
            ElementType::Other => "other",
        }
    }
}

/// What a graph output holds, found by its name (see
/// `docs/ARCHITECTURE.md`) or, for files of other converters, its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputRole {
    /// `label`: the predicted label per row.
    Label,
    /// `probabilities`: class probabilities (classifiers).
    Probabilities,
    /// `variable`: predicted targets (regressors).
    Variable,
    /// `scores`: `score_samples` and `decision_function` (anomaly detectors).
    Scores,
    /// `raw_score`: raw scores before the post-transform (summed forests).
    RawScore,
}

impl OutputRole {
    fn from_name(name: &str) -> Option<OutputRole> {
        Some(match name {
            "label" | "output_label" => OutputRole::Label,
            "probabilities" => OutputRole::Probabilities,
            "variable" => OutputRole::Variable,
            "scores" => OutputRole::Scores,
            "raw_score" => OutputRole::RawScore,
            _ => return None,
        })
    }
}

/// One output [`OnnxModel`] reads.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutputInfo {
    /// Its name in the graph.
    pub name: String,
    /// What it holds.
    pub role: OutputRole,
    /// Its element type.
    pub element_type: ElementType,
}

/// What an [`OnnxModel`] computes for a batch of rows.
#[derive(Clone, Debug)]
pub struct OnnxOutputs {
    /// The label per row, when the graph has a label output.
    pub labels: Option<Labels>,
    /// The main output (probabilities, targets or anomaly scores), rows ×
    /// outputs, as f64.
    pub values: Array2<f64>,
    /// The raw scores, when the graph has a `raw_score` output.
    pub raw_score: Option<Array2<f64>>,
}

/// A tree-model ONNX graph (float or double input) loaded and optimised
/// in tract with forest2onnx's tree-ensemble operator.
///
/// Reads the outputs the forest2onnx graph conventions name (`label`,
/// `probabilities`/`variable`/`scores`, `raw_score`), and those of other
/// converters by type; other outputs (e.g. ZipMap's) are dropped, so
/// operators tract lacks that only feed them do not matter.
#[derive(Clone)]
pub struct OnnxModel {
    plan: Arc<TypedRunnableModel>,
    n_features: usize,
    input_type: ElementType,
    /// In the plan's output order.
    outputs: Vec<OutputInfo>,
    /// The tree-ensemble operators of the plan, as tract runs them.
    ensembles: Vec<Arc<CompiledEnsemble>>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("n_features", &self.n_features)
            .field("input_type", &self.input_type)
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl OnnxModel {
    /// Loads and optimises an ONNX model from bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RuntimeError> {
        // tract gets the file with its tree-ensemble nodes compiled aside
        // (their attributes are most of a forest's bytes).
        let shared = prost::bytes::Bytes::copy_from_slice(bytes);
        let (spliced, _precompiled) = match precompile::split(&shared) {
            Some((model, ops)) => (Some(model), Some(Precompiled::install(ops))),
            None => (None, None),
        };
        drop(shared);
        let proto = onnx_file::read_for_tract(spliced.as_deref().unwrap_or(bytes))?;
        drop(spliced);
        let graph = proto.graph.as_ref().expect("checked by read_for_tract");
        let declared: Vec<(String, Option<i32>)> = graph
            .output
            .iter()
            .map(|o| (o.name.clone(), tensor_type(o)))
            .collect();
        let input_type = match graph.input.first().and_then(tensor_type) {
            Some(code) => ElementType::from_onnx(code),
            None => ElementType::Float,
        };
        if !matches!(input_type, ElementType::Float | ElementType::Double) {
            return Err(RuntimeError::Signature(format!(
                "the input is {}; forest2onnx runs models with a float or double input",
                input_type.name()
            )));
        }
        let mut model = super::tract().model_for_proto_model(&proto)?;
        let n_features = input_width(&model)?;
        let roles = assign_roles(&declared)?;
        model.outputs = roles.iter().map(|&(i, _)| model.outputs[i]).collect();
        // Pin the batch dimension to a symbol so one plan serves any batch size.
        let batch = model.symbols.sym("N");
        let dt = match input_type {
            ElementType::Double => f64::datum_type(),
            _ => f32::datum_type(),
        };
        model.set_input_fact(0, dt.fact([batch.to_dim(), n_features.to_dim()]).into())?;
        let typed = model.into_optimized()?;
        let outputs = roles
            .iter()
            .enumerate()
            .map(|(k, &(i, role))| {
                Ok(OutputInfo {
                    name: declared[i].0.clone(),
                    role,
                    element_type: ElementType::of(typed.output_fact(k)?.datum_type),
                })
            })
            .collect::<TractResult<Vec<_>>>()?;
        let ensembles = typed
            .nodes()
            .iter()
            .filter_map(|n| n.op_as::<TreeEnsembleOp>())
            .map(TreeEnsembleOp::shared_ensemble)
            .collect();
        let plan = typed.into_runnable()?;
        Ok(OnnxModel {
            plan,
            n_features,
            input_type,
            outputs,
            ensembles,
        })
    }

    /// Loads and optimises an ONNX model from a file.
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        let bytes = crate::bounded_read::read(path, crate::bounded_read::MAX_MODEL_FILE_LEN)
            .map_err(|source| RuntimeError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Self::from_bytes(&bytes)
    }

    /// The tree-ensemble operators tract runs, in graph order (one for
    /// forest2onnx's graphs).
    pub fn ensembles(&self) -> &[Arc<CompiledEnsemble>] {
        &self.ensembles
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The graph input's element type ([`ElementType::Float`] or
    /// [`ElementType::Double`]): rows are rounded to float32 for float
    /// models.
    pub fn input_type(&self) -> ElementType {
        self.input_type
    }

    /// The outputs read, in no particular order.
    pub fn outputs(&self) -> &[OutputInfo] {
        &self.outputs
    }

    /// The output playing `role`, if the graph has one.
    pub fn output(&self, role: OutputRole) -> Option<&OutputInfo> {
        self.outputs.iter().find(|o| o.role == role)
    }

    /// The main output: probabilities, targets or anomaly scores.
    pub fn main_output(&self) -> &OutputInfo {
        self.outputs
            .iter()
            .find(|o| !matches!(o.role, OutputRole::Label | OutputRole::RawScore))
            .expect("checked at load")
    }

    /// Runs a batch of rows (rows × features), cast to the input's type.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<OnnxOutputs, RuntimeError> {
        if x.ncols() != self.n_features {
            return Err(RuntimeError::Shape(ShapeError {
                expected: self.n_features,
                got: x.ncols(),
            }));
        }
        let input: Tensor = match self.input_type {
            ElementType::Double => x.to_owned().into_tensor(),
            _ => x.mapv(|v| v as f32).into_tensor(),
        };
        let results = self.plan.run(tvec!(input.into_tvalue()))?;
        let mut out = OnnxOutputs {
            labels: None,
            values: Array2::zeros((0, 0)),
            raw_score: None,
        };
        for (info, value) in self.outputs.iter().zip(results.iter()) {
            match info.role {
                OutputRole::Label => out.labels = Some(labels(value, x.nrows(), &info.name)?),
                OutputRole::RawScore => out.raw_score = Some(matrix(value, x.nrows(), &info.name)?),
                _ => out.values = matrix(value, x.nrows(), &info.name)?,
            }
        }
        Ok(out)
    }
}

/// The element type a value's declared tensor type names, if any.
fn tensor_type(v: &ValueInfoProto) -> Option<i32> {
    match v.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(t) => Some(t.elem_type),
    }
}

/// Picks the label, main and raw-score outputs: by name first, else (files
/// of other converters) the first int64/string tensor as the label and the
/// first float/double tensor as the main output. Returns `(graph output
/// index, role)` pairs.
fn assign_roles(
    declared: &[(String, Option<i32>)],
) -> Result<Vec<(usize, OutputRole)>, RuntimeError> {
    let mut roles: Vec<(usize, OutputRole)> = Vec::new();
    for (i, (name, _)) in declared.iter().enumerate() {
        if let Some(role) = OutputRole::from_name(name) {
            if !roles.iter().any(|&(_, r)| r == role) {
                roles.push((i, role));
            }
        }
    }
    let free = |roles: &[(usize, OutputRole)], i: usize| roles.iter().all(|&(j, _)| j != i);
    let is_main = |r: OutputRole| !matches!(r, OutputRole::Label | OutputRole::RawScore);
    if !roles.iter().any(|&(_, r)| r == OutputRole::Label) {
        if let Some(i) =
            (0..declared.len()).find(|&i| free(&roles, i) && matches!(declared[i].1, Some(7 | 8)))
        {
            roles.push((i, OutputRole::Label));
        }
    }
    if !roles.iter().any(|&(_, r)| is_main(r)) {
        let main = (0..declared.len())
            .find(|&i| free(&roles, i) && matches!(declared[i].1, Some(1 | 11)))
            .ok_or_else(|| {
                RuntimeError::Signature(format!(
                    "no output holds probabilities, targets or scores (outputs: {})",
                    declared
                        .iter()
                        .map(|(n, _)| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        let has_label = roles.iter().any(|&(_, r)| r == OutputRole::Label);
        let role = if has_label {
            OutputRole::Probabilities
        } else {
            OutputRole::Variable
        };
        roles.push((main, role));
    }
    roles.sort_by_key(|&(i, _)| i);
    Ok(roles)
}

fn labels(value: &TValue, rows: usize, name: &str) -> Result<Labels, RuntimeError> {
    if value.rank() != 1 || value.shape()[0] != rows {
        return Err(RuntimeError::Signature(format!(
            "output {name:?} has shape {:?} for {rows} rows",
            value.shape()
        )));
    }
    let dt = value.datum_type();
    Ok(if dt == String::datum_type() {
        Labels::Str(value.try_as_plain_ram()?.as_slice::<String>()?.to_vec())
    } else if dt.is_float() {
        Labels::Float(
            value
                .cast_to::<f64>()?
                .try_as_plain_ram()?
                .as_slice::<f64>()?
                .to_vec(),
        )
    } else {
        Labels::Int(
            value
                .cast_to::<i64>()?
                .try_as_plain_ram()?
                .as_slice::<i64>()?
                .to_vec(),
        )
    })
}

fn matrix(value: &TValue, rows: usize, name: &str) -> Result<Array2<f64>, RuntimeError> {
    let shape = value.shape();
    if shape.len() != 2 || shape[0] != rows {
        return Err(RuntimeError::Signature(format!(
            "output {name:?} has shape {shape:?} for {rows} rows"
        )));
    }
    let v = value.cast_to::<f64>()?;
    Array2::from_shape_vec(
        (shape[0], shape[1]),
        v.try_as_plain_ram()?.as_slice::<f64>()?.to_vec(),
    )
    .map_err(|e| RuntimeError::Signature(e.to_string()))
}

fn input_width(model: &InferenceModel) -> Result<usize, RuntimeError> {
    if model.inputs.len() != 1 {
        return Err(RuntimeError::Signature(format!(
            "{} inputs; expected one matrix of features",
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
