//! Export a [`Forest`] as an ONNX model whose outputs reproduce
//! [`Forest::predict`] in every runtime.
//!
//! Every forest the IR holds is written — classifiers, regressors and anomaly
//! detectors; voting, averaging and summed (boosted) forests; categorical
//! splits, zero-as-missing features and float32 input rules — in float or
//! double precision, at `ai.onnx.ml` opset 1, 3 (`TreeEnsembleClassifier` /
//! `TreeEnsembleRegressor`) or 5 (`TreeEnsemble`). What a graph cannot
//! reproduce exactly is refused with [`ExportError::Unsupported`].
//!
//! How the graphs stay exact:
//!
//! * in float precision, thresholds are rounded *towards the side that keeps
//!   the comparison* ([`crate::ir::thresholds`]), so for every float32 input the
//!   ONNX split decision equals the f64 one; in double precision thresholds
//!   are written as they are;
//! * the tree-ensemble node only sums leaf values; base values, averaging,
//!   post-transforms and labels are standard ops after it, so no runtime's
//!   own conventions for them matter. Hard votes are integer weights, exact
//!   in any summation order; two-class classifiers at opsets 1/3 put every
//!   leaf on class 1 with weight `p1 - p0` (onnxruntime's one-score path) and
//!   the probabilities are `(n ∓ s) / 2n`;
//! * the label is `Gather(labels, ArgMax(outputs))`: first maximum wins, as in
//!   the source libraries;
//! * inputs are read as the source library reads them before the ensemble:
//!   float32 rounding of double inputs, zero-as-missing features turned into
//!   NaN, categorical features turned into category numbers (see
//!   `trees.rs` for how categorical splits are written at each opset);
//! * double precision at opset 3, where the ensemble operators only output
//!   float32, routes in double and lets the ensemble output each tree's leaf
//!   number (an integer, exact in float32); the graph then gathers the
//!   double leaf values and sums them.
//!
//! [`to_model`] builds the model with prost: the reference encoding.
//! [`to_bytes`], [`write_to`] and [`to_file`] stream exactly its bytes
//! without building the multi-million-element attribute vectors (see
//! `plan.rs` and `stream.rs`).

mod choice;
mod columns;
mod fast;
mod graph;
mod layout;
mod messages;
mod node;
mod out;
mod plan;
mod stream;
pub mod target;
mod trees;

#[cfg(test)]
pub(crate) mod tests;

use std::io::Write;
use std::path::Path;

use crate::ir::{Forest, ForestError, Tree};
use crate::onnx_proto::ModelProto;

use plan::Plan;

pub use choice::{choose, float_note, Choice, FloatNote, DOUBLE_MIN_OPSET};

/// Name of the graph input (`[N, n_features]`, float32 or double).
pub const INPUT: &str = "input";
/// Name of the label output (`[N]`: int64, string or double labels of a
/// classifier; int64 −1/1 of an anomaly detector).
pub const LABEL: &str = "label";
/// Name of a classifier's probabilities output (`[N, n_classes]`).
pub const PROBABILITIES: &str = "probabilities";
/// Name of a regressor's output (`[N, n_targets]`).
pub const VARIABLE: &str = "variable";
/// Name of an anomaly detector's scores output (`[N, 2]`: `score_samples`,
/// `decision_function`).
pub const SCORES: &str = "scores";
/// Name of a summed forest's raw scores output (`[N, score_width]`: summed
/// leaf values plus base values, before the post-transform).
pub const RAW_SCORE: &str = "raw_score";
/// Name of the ZipMap output (`seq(map(int64|string, float))`), written with
/// [`ExportOptions::zipmap`].
pub const ZIPMAP_OUTPUT: &str = "output_probability";

/// Protobuf cannot serialise messages of 2 GiB or more.
pub const MAX_ONNX_BYTES: u64 = (1 << 31) - 1;

/// The element type of the graph's input, thresholds and outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The one that reproduces the source exactly ([`choose`]): double where
    /// the source compares float64 inputs with float64 thresholds
    /// (LightGBM, HistGradientBoosting), float where it rounds inputs to
    /// float32 first (scikit-learn trees, XGBoost).
    #[default]
    Auto,
    /// float32: loads everywhere (opsets 1, 3 and 5); routing is exact for
    /// float32 inputs, outputs carry float32 rounding.
    Float,
    /// double: exact routing for every f64 input and outputs equal to the
    /// forest's f64 computation up to summation order (opsets 3 and 5).
    Double,
}

impl Precision {
    /// `auto`, `float` or `double`, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::Float => "float",
            Precision::Double => "double",
        }
    }
}

/// How to export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// `ai.onnx.ml` opset: 1 (loads in tract and older runtimes), 3 (also
    /// holds doubles) or 5 (the `TreeEnsemble` operator); `None` (default):
    /// the lowest that holds the precision (1 for float, 3 for double).
    pub ml_opset: Option<i64>,
    /// Element type of the input, thresholds and outputs ([`Precision::Auto`]
    /// by default). Double needs opset 3 or 5.
    pub precision: Precision,
    /// Also output the probabilities as one `{label: probability}` map per
    /// row ([`ZIPMAP_OUTPUT`]), as scikit-learn-onnx does (classifiers with
    /// integer or string labels only).
    pub zipmap: bool,
    /// Graph name.
    pub graph_name: String,
    /// Model doc string.
    pub doc_string: String,
    /// Creation time recorded in the metadata (RFC 3339); `None` = now.
    pub created: Option<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            ml_opset: None,
            precision: Precision::Auto,
            zipmap: false,
            graph_name: "forest".into(),
            doc_string: String::new(),
            created: None,
        }
    }
}

/// Why a forest could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The forest is invalid.
    #[error(transparent)]
    Forest(#[from] ForestError),
    /// The forest, or the requested options, cannot be written exactly.
    #[error("cannot export to ONNX: {0}")]
    Unsupported(String),
    /// The ONNX file would exceed protobuf's 2 GiB limit.
    #[error(
        "the ONNX model would take {estimated} bytes; ONNX (protobuf) files are limited to {limit} bytes (2 GiB)"
    )]
    TooLarge {
        /// Exact encoded size, computed before anything is encoded.
        estimated: u64,
        /// The limit.
        limit: u64,
    },
    /// Writing the model failed.
    #[error("cannot write the ONNX model: {0}")]
    Io(#[from] std::io::Error),
}

/// Build the ONNX model for `forest`.
///
/// This is the reference encoding: [`to_bytes`], [`write_to`] and
/// [`to_file`] stream exactly the bytes of `to_model(..)?.encode_to_vec()`
/// without building the model's multi-million-element attribute vectors.
pub fn to_model(forest: &Forest, options: &ExportOptions) -> Result<ModelProto, ExportError> {
    Ok(prepare(forest, &resolved(options))?.reference_model())
}

/// Encode the ONNX model for `forest`: the bytes of [`to_model`], encoded in
/// parallel straight into one exactly sized buffer.
pub fn to_bytes(forest: &Forest, options: &ExportOptions) -> Result<Vec<u8>, ExportError> {
    Ok(prepare(forest, &resolved(options))?.to_vec())
}

/// Stream the ONNX model for `forest` to `out`; returns the bytes written.
///
/// Memory use does not grow with the forest (three 1 MiB buffers: the model
/// is encoded in parallel, one batch ahead of the writes), and nothing is
/// written when the forest cannot be exported, including when the model
/// would exceed [`MAX_ONNX_BYTES`]: the exact size is known first.
pub fn write_to<W: Write>(
    forest: &Forest,
    options: &ExportOptions,
    mut out: W,
) -> Result<u64, ExportError> {
    let plan = prepare(forest, &resolved(options))?;
    plan.write(&mut out)?;
    Ok(plan.total())
}

/// Write the ONNX model for `forest` to the file `path`; returns its size.
///
/// Crash-safe like the native store's files: the model is streamed to a
/// temporary file in the same folder, flushed to disk, then renamed over
/// `path`, so `path` holds either the old file or the complete new one.
pub fn to_file(
    forest: &Forest,
    options: &ExportOptions,
    path: impl AsRef<Path>,
) -> Result<u64, ExportError> {
    let path = path.as_ref();
    let plan = prepare(forest, &resolved(options))?;
    crate::atomic::write_with(path, crate::atomic::Existing::Replace, |w| plan.write(w))?;
    Ok(plan.total())
}

/// The exact size in bytes of the ONNX model for `forest`, computed without
/// encoding it (one pass over the nodes).
pub fn encoded_len(forest: &Forest, options: &ExportOptions) -> Result<u64, ExportError> {
    Ok(prepare(forest, &resolved(options))?.total())
}

/// The most split levels on one root-to-leaf path among the trees as they
/// are written for `options` (categorical sets at opsets 1/3 become chains
/// of nodes), which runtimes that walk trees recursively must fit in their
/// stack (see [`target::TargetRuntime::check_depth`]).
pub fn written_depth(forest: &Forest, options: &ExportOptions) -> Result<usize, ExportError> {
    let plan = prepare(forest, &resolved(options))?;
    let split_op = forest.split_op;
    Ok(plan
        .sources
        .iter()
        .map(|s| s.view(split_op).depth())
        .max()
        .unwrap_or(0))
}

/// `options` with the creation time fixed, so that sizing and writing see
/// the same metadata.
fn resolved(options: &ExportOptions) -> ExportOptions {
    let mut options = options.clone();
    options.created.get_or_insert_with(|| {
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    });
    options
}

/// Checks and sizes the export of `forest` (`options` resolved).
///
/// [`Forest::check`] and the sizing pass both read every node, so on large
/// forests they run side by side. Sizing an unchecked forest is safe once
/// its arrays have consistent lengths (it only indexes with node positions,
/// clamped where a child id is read), and the errors come in the same order
/// as [`to_model`]'s: the forest's, then unsupported features, then the size.
fn prepare<'f>(forest: &'f Forest, options: &ExportOptions) -> Result<Plan<'f>, ExportError> {
    let width = forest.leaf_width();
    let inconsistent = forest.trees.iter().position(|t| {
        let n = t.n_nodes();
        let leaves = t.leaf_value.len() / width.max(1);
        // Every tree needs a leaf: splits read the first leaf's values.
        n == 0
            || leaves == 0
            || [
                t.threshold.len(),
                t.false_child_or_leaf.len(),
                t.missing_true.len(),
            ]
            .iter()
            .any(|&len| len != n)
            || !(t.explicit_true_child.is_empty() || t.explicit_true_child.len() == n)
    });
    if let Some(tree) = inconsistent {
        // Forest::check reports these precisely; never size such a forest.
        forest.check()?;
        return Err(ExportError::Forest(ForestError::Tree {
            tree,
            problem: "arrays of inconsistent lengths".into(),
        }));
    }
    let size = || Plan::new(forest, options);
    // Categorical splits are rewritten before sizing, from category lists
    // only a checked forest guarantees to be in range.
    if is_small(forest) || forest.has_categorical_splits() {
        forest.check()?;
        return size();
    }
    let (checked, sized) = rayon::join(|| forest.check(), size);
    checked?;
    sized
}

/// Forests below this many nodes are exported on the calling thread: for
/// them, handing work to other threads costs more than it saves.
const PARALLEL_NODES: usize = 1 << 16;

fn is_small(forest: &Forest) -> bool {
    forest.trees.iter().map(Tree::n_nodes).sum::<usize>() < PARALLEL_NODES
}
