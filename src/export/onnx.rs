//! Export a [`Forest`] classifier as an ONNX model with an `ai.onnx.ml`
//! `TreeEnsembleClassifier` node.
//!
//! The graph is built so that its outputs are exact in every runtime:
//!
//! * thresholds are rounded *towards the side that keeps the comparison*
//!   (down for `<=`, up for `<`), so for every float32 input the ONNX split
//!   decision equals the f64 one;
//! * hard votes are emitted as integer weights, whose sums are exact in f32 in
//!   any summation order (onnxruntime may sum trees in parallel), and the
//!   probabilities are `votes / n_trees`, derived after the ensemble with a
//!   standard `Div`;
//! * two-class models put every leaf on class id 1 with weight `p1 - p0`
//!   (±1 for votes). onnxruntime then takes its one-score binary path, whose
//!   second score column is the sum `s` in every case, and the probabilities
//!   are `(n + s·[-1, 1]) / 2n`;
//! * the label is `Gather(labels, ArgMax(probabilities))`: the first maximum
//!   wins, as in the source libraries, independently of each runtime's own
//!   tie and binary conventions.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use prost::Message;
use rayon::prelude::*;

use crate::ir::{Aggregation, Forest, ForestError, Labels, SplitOp, Task, Tree, LEAF};
use crate::onnx_proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension,
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// Name of the graph input (float32 `[N, n_features]`).
pub const INPUT: &str = "input";
/// Name of the label output (int64 or string `[N]`).
pub const LABEL: &str = "label";
/// Name of the probabilities output (float32 `[N, n_classes]`).
pub const PROBABILITIES: &str = "probabilities";

/// Protobuf cannot serialise messages of 2 GiB or more.
pub const MAX_ONNX_BYTES: u64 = (1 << 31) - 1;

const ML_DOMAIN: &str = "ai.onnx.ml";
/// ONNX IR version written (ONNX 1.10+, needed for ai.onnx.ml opset 3).
const IR_VERSION: i64 = 8;
/// ai.onnx opset for the standard ops after the ensemble.
const ONNX_OPSET: i64 = 13;

/// How to export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// `ai.onnx.ml` opset: 1 (default; loads in tract and older onnxruntime)
    /// or 3. Opset 5 deprecates `TreeEnsembleClassifier`, so it is refused.
    pub ml_opset: i64,
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
            ml_opset: 1,
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
    /// The forest uses something this exporter does not write yet.
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
    let options = resolved(options);
    // Checks the forest, and refuses a model over 2 GiB before building it.
    prepare(forest, &options)?;
    let labels = exportable_task(forest, &options)?;
    Ok(model_with_node(
        forest,
        &options,
        labels,
        ensemble_node(forest, labels),
    ))
}

/// Checks and sizes the export of `forest` (`options` resolved).
///
/// [`Forest::check`] and the sizing pass both read every node, so they run
/// side by side. Sizing an unchecked forest is safe once its arrays have
/// consistent lengths (it only indexes with node positions), and the errors
/// come in the same order as [`to_model`]'s: the forest's, then unsupported
/// features, then the size.
fn prepare<'f>(forest: &'f Forest, options: &ExportOptions) -> Result<Plan<'f>, ExportError> {
    let width = forest.leaf_width();
    let inconsistent = forest.trees.iter().position(|t| {
        let n = t.n_nodes();
        n == 0
            || [
                t.threshold.len(),
                t.true_child.len(),
                t.false_child.len(),
                t.missing_true.len(),
            ]
            .iter()
            .any(|&len| len != n)
            || Some(t.value.len()) != n.checked_mul(width)
    });
    if let Some(tree) = inconsistent {
        // Forest::check reports these precisely; never size such a forest.
        forest.check()?;
        return Err(ExportError::Forest(ForestError::Tree {
            tree,
            problem: "arrays of inconsistent lengths".into(),
        }));
    }
    let size = || {
        let labels = exportable_task(forest, options)?;
        Plan::new(forest, options, labels)
    };
    if is_small(forest) {
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

/// Checks that a (checked) forest can be exported with `options`; returns
/// its labels.
fn exportable_task<'f>(
    forest: &'f Forest,
    options: &ExportOptions,
) -> Result<&'f Labels, ExportError> {
    if !matches!(options.ml_opset, 1 | 3) {
        return Err(ExportError::Unsupported(format!(
            "ai.onnx.ml opset {} (TreeEnsembleClassifier is written for opsets 1 and 3)",
            options.ml_opset
        )));
    }
    let Task::Classification(labels) = &forest.task else {
        return Err(ExportError::Unsupported(
            "regression forests (TreeEnsembleRegressor) are not exported yet".into(),
        ));
    };
    if !matches!(forest.aggregation, Aggregation::Vote | Aggregation::Average) {
        return Err(ExportError::Unsupported(
            "summed-score (boosted) classifiers are not exported yet".into(),
        ));
    }
    if labels.len() < 2 {
        return Err(ExportError::Unsupported(
            "classifiers with fewer than two classes".into(),
        ));
    }
    Ok(labels)
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

/// The whole model around the tree-ensemble node `ensemble`.
fn model_with_node(
    forest: &Forest,
    options: &ExportOptions,
    labels: &Labels,
    ensemble: NodeProto,
) -> ModelProto {
    let mut graph = GraphProto {
        name: options.graph_name.clone(),
        input: vec![tensor_value(
            INPUT,
            DataType::Float,
            forest.n_features as i64,
            true,
        )],
        output: vec![
            label_value(labels),
            tensor_value(PROBABILITIES, DataType::Float, labels.len() as i64, true),
        ],
        ..Default::default()
    };
    graph.node.push(ensemble);
    wire_probabilities(&mut graph, forest.trees.len(), labels.len());
    wire_label(&mut graph, labels);

    ModelProto {
        ir_version: IR_VERSION,
        producer_name: "forest2onnx".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: options.doc_string.clone(),
        graph: Some(graph),
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: ONNX_OPSET,
            },
            OperatorSetIdProto {
                domain: ML_DOMAIN.into(),
                version: options.ml_opset,
            },
        ],
        metadata_props: metadata(forest, options)
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key, value })
            .collect(),
        ..Default::default()
    }
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
    Ok(plan.total)
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
    Ok(plan.total)
}

/// The exact size in bytes of the ONNX model for `forest`, computed without
/// encoding it (one pass over the nodes).
pub fn encoded_len(forest: &Forest, options: &ExportOptions) -> Result<u64, ExportError> {
    Ok(prepare(forest, &resolved(options))?.total)
}

/// Largest float32 not above `t`: for every float32 `x`, `x <= t` iff `x <= result`.
pub fn f32_at_or_below(t: f64) -> f32 {
    let nearest = t as f32;
    if f64::from(nearest) > t {
        nearest.next_down()
    } else {
        nearest
    }
}

/// Smallest float32 not below `t`: for every float32 `x`, `x < t` iff `x < result`.
pub fn f32_at_or_above(t: f64) -> f32 {
    let nearest = t as f32;
    if f64::from(nearest) < t {
        nearest.next_up()
    } else {
        nearest
    }
}

/// The float32 threshold that makes the ONNX comparison equal the f64 one.
pub fn onnx_threshold(t: f64, split_op: SplitOp) -> f32 {
    match split_op {
        SplitOp::LessOrEqual => f32_at_or_below(t),
        SplitOp::Less => f32_at_or_above(t),
    }
}

fn metadata(forest: &Forest, options: &ExportOptions) -> BTreeMap<String, String> {
    let created = options.created.clone().unwrap_or_else(|| {
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    });
    let mut m = BTreeMap::new();
    m.insert(
        "forest2onnx_version".into(),
        env!("CARGO_PKG_VERSION").into(),
    );
    m.insert("source_library".into(), forest.source.library.clone());
    m.insert("source_version".into(), forest.source.version.clone());
    m.insert("source_estimator".into(), forest.source.estimator.clone());
    m.insert("n_trees".into(), forest.trees.len().to_string());
    m.insert("n_nodes".into(), forest.n_nodes().to_string());
    m.insert("n_features".into(), forest.n_features.to_string());
    m.insert(
        "aggregation".into(),
        aggregation_name(&forest.aggregation).into(),
    );
    if let Some(labels) = forest.class_labels() {
        let json = match labels {
            Labels::Int(v) => serde_json::to_string(v),
            // JSON has no NaN: float labels as Python spells them.
            Labels::Float(_) => serde_json::to_string(
                &(0..labels.len())
                    .map(|i| labels.display(i))
                    .collect::<Vec<_>>(),
            ),
            Labels::Str(v) => serde_json::to_string(v),
        };
        m.insert("class_labels".into(), json.unwrap_or_default());
    }
    if let Some(names) = &forest.feature_names {
        m.insert(
            "feature_names".into(),
            serde_json::to_string(names).unwrap_or_default(),
        );
    }
    m.insert("created".into(), created);
    m
}

fn aggregation_name(a: &Aggregation) -> &'static str {
    match a {
        Aggregation::Vote => "vote",
        Aggregation::Average => "average",
        Aggregation::Sum { .. } => "sum",
    }
}

/// Node and leaf attribute arrays of a `TreeEnsembleClassifier`.
#[derive(Default)]
struct EnsembleArrays {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    feature_ids: Vec<i64>,
    modes: Vec<Vec<u8>>,
    values: Vec<f32>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    missing_true: Vec<i64>,
    class_tree_ids: Vec<i64>,
    class_node_ids: Vec<i64>,
    class_ids: Vec<i64>,
    class_weights: Vec<f32>,
}

fn ensemble_arrays(forest: &Forest, n_classes: usize) -> EnsembleArrays {
    let n_nodes = forest.n_nodes();
    let mut a = EnsembleArrays {
        tree_ids: Vec::with_capacity(n_nodes),
        node_ids: Vec::with_capacity(n_nodes),
        feature_ids: Vec::with_capacity(n_nodes),
        modes: Vec::with_capacity(n_nodes),
        values: Vec::with_capacity(n_nodes),
        true_ids: Vec::with_capacity(n_nodes),
        false_ids: Vec::with_capacity(n_nodes),
        ..Default::default()
    };
    let branch_mode: &[u8] = match forest.split_op {
        SplitOp::LessOrEqual => b"BRANCH_LEQ",
        SplitOp::Less => b"BRANCH_LT",
    };
    let binary = n_classes == 2;
    // Only written when some node sends NaN to the true branch.
    let any_missing = forest.trees.iter().any(|t| t.missing_true.contains(&true));
    let width = forest.leaf_width();
    for (t, tree) in forest.trees.iter().enumerate() {
        for i in 0..tree.n_nodes() {
            a.tree_ids.push(t as i64);
            a.node_ids.push(i as i64);
            if tree.is_leaf(i) {
                a.feature_ids.push(0);
                a.modes.push(b"LEAF".to_vec());
                a.values.push(0.0);
                a.true_ids.push(0);
                a.false_ids.push(0);
                let leaf = &tree.value[i * width..(i + 1) * width];
                push_leaf_weights(&mut a, t, i, leaf, &forest.aggregation, binary);
            } else {
                a.feature_ids.push(i64::from(tree.feature[i]));
                a.modes.push(branch_mode.to_vec());
                a.values
                    .push(onnx_threshold(tree.threshold[i], forest.split_op));
                a.true_ids.push(i64::from(tree.true_child[i]));
                a.false_ids.push(i64::from(tree.false_child[i]));
            }
        }
        if any_missing {
            a.missing_true
                .extend(tree.missing_true.iter().map(|&m| i64::from(m)));
        }
    }
    if a.class_ids.is_empty() {
        // Every leaf weight was zero: keep one explicit zero so the node is
        // well-formed and runtimes still take the one-score binary path.
        a.class_tree_ids.push(0);
        a.class_node_ids.push(first_leaf(forest) as i64);
        a.class_ids.push(i64::from(binary));
        a.class_weights.push(0.0);
    }
    a
}

fn first_leaf(forest: &Forest) -> usize {
    let tree = &forest.trees[0];
    (0..tree.n_nodes()).find(|&i| tree.is_leaf(i)).unwrap_or(0)
}

/// Leaf entries: only non-zero weights are written.
fn push_leaf_weights(
    a: &mut EnsembleArrays,
    tree: usize,
    node: usize,
    leaf: &[f64],
    aggregation: &Aggregation,
    binary: bool,
) {
    for_each_leaf_weight(leaf, aggregation, binary, |class, weight| {
        a.class_tree_ids.push(tree as i64);
        a.class_node_ids.push(node as i64);
        a.class_ids.push(class as i64);
        a.class_weights.push(weight);
    });
}

/// Calls `f(class, weight)` for every non-zero weight a leaf with values
/// `leaf` writes, in file order.
fn for_each_leaf_weight(
    leaf: &[f64],
    aggregation: &Aggregation,
    binary: bool,
    mut f: impl FnMut(usize, f32),
) {
    for_each_weight_entry(leaf, true, aggregation, binary, |class, weight, keep| {
        if keep {
            f(class, weight);
        }
    });
}

/// Calls `f(class, weight, keep)` for every weight entry a node with values
/// `values` may write, in file order; `keep` says whether it is written: the
/// non-zero weights of leaves are. Shared by the reference model and the
/// streaming encoder so both write the same entries.
///
/// Callers on the hot path use `keep` without branching (which class of a
/// one-hot leaf is set, and which node is a leaf, are unpredictable), so
/// entries of internal nodes are visited too, with `keep` false and a
/// harmless class.
#[inline(always)]
fn for_each_weight_entry(
    values: &[f64],
    is_leaf: bool,
    aggregation: &Aggregation,
    binary: bool,
    mut f: impl FnMut(usize, f32, bool),
) {
    match (aggregation, binary) {
        (Aggregation::Vote, true) => f(1, if values[0] == 1.0 { 1.0 } else { -1.0 }, is_leaf),
        (Aggregation::Vote, false) => {
            // Internal nodes' values are unchecked: never read them as a class.
            let class = if is_leaf { values[0] as usize } else { 0 };
            f(class, 1.0, is_leaf)
        }
        (_, true) => {
            let w = values[1] - values[0];
            f(1, w as f32, is_leaf & (w != 0.0))
        }
        (_, false) => {
            for (k, &w) in values.iter().enumerate() {
                f(k, w as f32, is_leaf & (w != 0.0));
            }
        }
    }
}

/// How many entries [`for_each_weight_entry`] visits per node.
fn entries_per_node(width: usize, aggregation: &Aggregation, binary: bool) -> usize {
    match (aggregation, binary) {
        (Aggregation::Vote, _) | (_, true) => 1,
        (_, false) => width,
    }
}

/// Class and weight of entry `e` of a leaf, as [`for_each_weight_entry`]
/// visits them.
#[inline(always)]
fn weight_entry(values: &[f64], e: usize, aggregation: &Aggregation, binary: bool) -> (usize, f32) {
    match (aggregation, binary) {
        (Aggregation::Vote, true) => (1, if values[0] == 1.0 { 1.0 } else { -1.0 }),
        (Aggregation::Vote, false) => (values[0] as usize, 1.0),
        (_, true) => (1, (values[1] - values[0]) as f32),
        (_, false) => (e, values[e] as f32),
    }
}

fn ensemble_node(forest: &Forest, labels: &Labels) -> NodeProto {
    let a = ensemble_arrays(forest, labels.len());
    let mut attribute = vec![
        ints_attr("nodes_treeids", a.tree_ids),
        ints_attr("nodes_nodeids", a.node_ids),
        ints_attr("nodes_featureids", a.feature_ids),
        strings_attr("nodes_modes", a.modes),
        floats_attr("nodes_values", a.values),
        ints_attr("nodes_truenodeids", a.true_ids),
        ints_attr("nodes_falsenodeids", a.false_ids),
        ints_attr("class_treeids", a.class_tree_ids),
        ints_attr("class_nodeids", a.class_node_ids),
        ints_attr("class_ids", a.class_ids),
        floats_attr("class_weights", a.class_weights),
        string_attr("post_transform", "NONE"),
    ];
    if !a.missing_true.is_empty() {
        attribute.push(ints_attr("nodes_missing_value_tracks_true", a.missing_true));
    }
    attribute.push(labels_attr(labels));
    NodeProto {
        attribute,
        ..ensemble_shell()
    }
}

/// The tree-ensemble node without its attributes.
fn ensemble_shell() -> NodeProto {
    NodeProto {
        input: vec![INPUT.into()],
        output: vec!["ensemble_label".into(), "scores".into()],
        name: "tree_ensemble".into(),
        op_type: "TreeEnsembleClassifier".into(),
        domain: ML_DOMAIN.into(),
        ..Default::default()
    }
}

fn labels_attr(labels: &Labels) -> AttributeProto {
    match labels {
        Labels::Int(v) => ints_attr("classlabels_int64s", v.clone()),
        // The label output is gathered from the float labels after the node:
        // the node's own labels are the class indices.
        Labels::Float(v) => ints_attr("classlabels_int64s", (0..v.len() as i64).collect()),
        Labels::Str(v) => strings_attr(
            "classlabels_strings",
            v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ),
    }
}

/// `scores` → `probabilities` with standard ops (see the module docs).
fn wire_probabilities(graph: &mut GraphProto, n_trees: usize, n_classes: usize) {
    let n = n_trees as f32;
    if n_classes == 2 {
        graph.initializer.extend([
            i64_tensor("slice_start", &[1], vec![1]),
            i64_tensor("slice_end", &[1], vec![2]),
            i64_tensor("slice_axis", &[1], vec![1]),
            f32_tensor("class_sign", &[2], vec![-1.0, 1.0]),
            f32_tensor("n_trees_pair", &[2], vec![n, n]),
            f32_tensor("two_n_trees", &[], vec![2.0 * n]),
        ]);
        graph.node.extend([
            node(
                "Slice",
                &["scores", "slice_start", "slice_end", "slice_axis"],
                "sum_score",
            ),
            node("Mul", &["sum_score", "class_sign"], "signed_score"),
            node("Add", &["signed_score", "n_trees_pair"], "class_votes"),
            node("Div", &["class_votes", "two_n_trees"], PROBABILITIES),
        ]);
    } else {
        graph.initializer.push(f32_tensor("n_trees", &[], vec![n]));
        graph
            .node
            .push(node("Div", &["scores", "n_trees"], PROBABILITIES));
    }
}

/// `probabilities` → `label`: first class with the highest probability.
fn wire_label(graph: &mut GraphProto, labels: &Labels) {
    let k = labels.len() as i64;
    graph.initializer.push(match labels {
        Labels::Int(v) => i64_tensor("class_labels", &[k], v.clone()),
        Labels::Float(v) => TensorProto {
            name: "class_labels".into(),
            dims: vec![k],
            data_type: DataType::Double as i32,
            double_data: v.clone(),
            ..Default::default()
        },
        Labels::Str(v) => TensorProto {
            name: "class_labels".into(),
            dims: vec![k],
            data_type: DataType::String as i32,
            string_data: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..Default::default()
        },
    });
    let mut argmax = node("ArgMax", &[PROBABILITIES], "class_index");
    argmax
        .attribute
        .extend([int_attr("axis", 1), int_attr("keepdims", 0)]);
    let mut gather = node("Gather", &["class_labels", "class_index"], LABEL);
    gather.attribute.push(int_attr("axis", 0));
    graph.node.extend([argmax, gather]);
}

fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: output.into(),
        op_type: op.into(),
        ..Default::default()
    }
}

fn label_value(labels: &Labels) -> ValueInfoProto {
    let dt = match labels {
        Labels::Int(_) => DataType::Int64,
        Labels::Float(_) => DataType::Double,
        Labels::Str(_) => DataType::String,
    };
    ValueInfoProto {
        name: LABEL.into(),
        r#type: Some(tensor_type(dt, vec![batch_dim()])),
        ..Default::default()
    }
}

fn tensor_value(name: &str, dt: DataType, cols: i64, batched: bool) -> ValueInfoProto {
    let mut dims = Vec::new();
    if batched {
        dims.push(batch_dim());
    }
    dims.push(tensor_shape_proto::Dimension {
        value: Some(dimension::Value::DimValue(cols)),
        ..Default::default()
    });
    ValueInfoProto {
        name: name.into(),
        r#type: Some(tensor_type(dt, dims)),
        ..Default::default()
    }
}

use crate::onnx_proto::tensor_shape_proto;

fn batch_dim() -> tensor_shape_proto::Dimension {
    tensor_shape_proto::Dimension {
        value: Some(dimension::Value::DimParam("N".into())),
        ..Default::default()
    }
}

fn tensor_type(dt: DataType, dim: Vec<tensor_shape_proto::Dimension>) -> TypeProto {
    TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: dt as i32,
            shape: Some(TensorShapeProto { dim }),
        })),
        ..Default::default()
    }
}

fn i64_tensor(name: &str, dims: &[i64], data: Vec<i64>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Int64 as i32,
        int64_data: data,
        ..Default::default()
    }
}

fn f32_tensor(name: &str, dims: &[i64], data: Vec<f32>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: data,
        ..Default::default()
    }
}

fn ints_attr(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints,
        ..Default::default()
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn floats_attr(name: &str, floats: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Floats as i32,
        floats,
        ..Default::default()
    }
}

fn strings_attr(name: &str, strings: Vec<Vec<u8>>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Strings as i32,
        strings,
        ..Default::default()
    }
}

fn string_attr(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// Streaming encoder.
//
// A 6.8 M-node forest makes a ~170 MB model. Building it as a `ModelProto`
// means a dozen 6.8 M-element vectors plus one heap-allocated mode string per
// node, then a full copy when prost encodes it. Instead the small messages
// around the tree-ensemble node are built with prost as usual and split at
// the node, and the node's big attributes are written element by element.
// Protobuf fields may be concatenated in any split as long as each message's
// fields stay in tag order (prost writes them in that order), so the bytes
// are identical to `to_model(..).encode_to_vec()`; the tests check this.
//
// Length prefixes come first in protobuf, so one sizing pass computes the
// exact encoded length of every attribute for every block of nodes (up to
// `BLOCK_NODES` consecutive nodes of one tree). Knowing where every block's
// bytes go, the blocks are then encoded in parallel into disjoint slices of
// the output: all at once for `to_bytes`, in batches of about `BATCH_BYTES`
// handed to the writer for `write_to`, so that encoding the next batch
// overlaps with writing the previous one.
// ---------------------------------------------------------------------------

/// `AttributeProto.name` key (field 1, length-delimited).
const KEY_NAME: u8 = 1 << 3 | 2;
/// `AttributeProto.floats` key (field 7, packed).
const KEY_FLOATS: u8 = 7 << 3 | 2;
/// `AttributeProto.ints` key (field 8, packed).
const KEY_INTS: u8 = 8 << 3 | 2;
/// `AttributeProto.strings` key (field 9, one per element).
const KEY_STRINGS: u8 = 9 << 3 | 2;
/// `AttributeProto.type` key (field 20, varint): two varint bytes.
const KEY_TYPE: [u8; 2] = [(20 << 3) as u8 | 0x80, 20 >> 4];
/// `NodeProto.attribute` key (field 5).
const KEY_NODE_ATTRIBUTE: u8 = 5 << 3 | 2;
/// `GraphProto.node` key (field 1).
const KEY_GRAPH_NODE: u8 = 1 << 3 | 2;
/// `ModelProto.graph` key (field 7).
const KEY_MODEL_GRAPH: u8 = 7 << 3 | 2;
/// The `nodes_modes` entry of a leaf: key, length, `LEAF`.
const LEAF_MODE: &[u8] = &[KEY_STRINGS, 4, b'L', b'E', b'A', b'F'];

/// Most nodes in one block: the unit of parallel sizing and encoding.
const BLOCK_NODES: usize = 1 << 15;
/// Target size of one batch handed to the writer: large enough to amortise
/// the hand-over, small enough that the batches in flight stay a few
/// megabytes.
const BATCH_BYTES: usize = 1 << 20;
/// Encoded batches that may wait for the writer (more measured no faster).
const BATCHES_AHEAD: usize = 1;

/// One of the tree-ensemble attributes whose size grows with the forest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Payload {
    TreeIds,
    NodeIds,
    FeatureIds,
    Modes,
    Values,
    TrueIds,
    FalseIds,
    ClassTreeIds,
    ClassNodeIds,
    ClassIds,
    ClassWeights,
    MissingTrue,
}

/// A piece of the encoded model: ready bytes or a payload to stream.
enum Part {
    Bytes(Vec<u8>),
    Payload(Payload),
}

/// Counts and encoded lengths of the variable-length payloads of a block.
#[derive(Clone, Copy, Debug, Default)]
struct Lens {
    nodes: u64,
    leaves: u64,
    missing: u64,
    tree_ids: u64,
    node_ids: u64,
    feature_ids: u64,
    true_ids: u64,
    false_ids: u64,
    weights: u64,
    class_tree_ids: u64,
    class_node_ids: u64,
    class_ids: u64,
}

impl std::ops::Add for Lens {
    type Output = Lens;
    fn add(self, o: Lens) -> Lens {
        Lens {
            nodes: self.nodes + o.nodes,
            leaves: self.leaves + o.leaves,
            missing: self.missing + o.missing,
            tree_ids: self.tree_ids + o.tree_ids,
            node_ids: self.node_ids + o.node_ids,
            feature_ids: self.feature_ids + o.feature_ids,
            true_ids: self.true_ids + o.true_ids,
            false_ids: self.false_ids + o.false_ids,
            weights: self.weights + o.weights,
            class_tree_ids: self.class_tree_ids + o.class_tree_ids,
            class_node_ids: self.class_node_ids + o.class_node_ids,
            class_ids: self.class_ids + o.class_ids,
        }
    }
}

/// Consecutive nodes `start..end` of tree `tree`.
struct Block {
    tree: usize,
    start: usize,
    end: usize,
    lens: Lens,
    /// Per node, bit `e` set when weight entry `e` is written (see
    /// [`for_each_weight_entry`]); empty when nodes have more than 8 entries.
    /// One byte per node spares the three weight payloads from re-reading
    /// and re-testing every leaf value.
    kept: Vec<u8>,
}

/// A slice of the output: ready bytes, a block's share of a payload, or the
/// explicit zero weight of a forest without weights.
enum Segment<'p> {
    Bytes(&'p [u8]),
    Block(Payload, &'p Block),
    Fallback(Payload),
}

/// Bytes of the varint encoding of `v`.
#[inline]
fn varint_len(v: u64) -> u64 {
    // 1 byte per started group of 7 significant bits, at least one:
    // ceil(bits / 7) == (9 * bits + 64) / 64 for bits in 1..=64, without a
    // division.
    let bits = u64::from(64 - (v | 1).leading_zeros());
    (9 * bits + 64) / 64
}

fn encode_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Everything needed to stream one model: its exact size and its parts.
struct Plan<'a> {
    forest: &'a Forest,
    binary: bool,
    /// The `nodes_modes` entry of a split (key, length, mode), zero-padded
    /// to 16 bytes so it is copied with one fixed-size store.
    branch_mode: [u8; 16],
    branch_mode_len: usize,
    /// The explicit zero weight written when no leaf has a weight (see
    /// [`ensemble_arrays`]): the first leaf of the first tree.
    fallback_leaf: Option<usize>,
    /// Every feature id fits in one varint byte.
    small_features: bool,
    /// Every class id fits in one varint byte.
    small_classes: bool,
    parts: Vec<Part>,
    blocks: Vec<Block>,
    /// Exact encoded size.
    total: u64,
}

impl<'a> Plan<'a> {
    /// Sizes the model; refuses it before any encoding if it is too large.
    fn new(
        forest: &'a Forest,
        options: &ExportOptions,
        labels: &Labels,
    ) -> Result<Plan<'a>, ExportError> {
        let binary = labels.len() == 2;
        let width = forest.leaf_width();
        let aggregation = &forest.aggregation;
        let small = Small {
            features: forest.n_features <= 128,
            classes: labels.len() <= 128,
        };
        let spans = |(t, tree): (usize, &'a Tree)| {
            (0..tree.n_nodes()).step_by(BLOCK_NODES).map(move |start| {
                let end = (start + BLOCK_NODES).min(tree.n_nodes());
                (t, tree, start, end)
            })
        };
        let block = |(t, tree, start, end): (usize, &Tree, usize, usize)| {
            let (lens, kept) = block_lens(t, tree, start..end, width, aggregation, binary, small);
            Block {
                tree: t,
                start,
                end,
                lens,
                kept,
            }
        };
        let blocks: Vec<Block> = if is_small(forest) {
            forest
                .trees
                .iter()
                .enumerate()
                .flat_map(spans)
                .map(block)
                .collect()
        } else {
            forest
                .trees
                .par_iter()
                .enumerate()
                .flat_map_iter(spans)
                .map(block)
                .collect()
        };
        let lens = blocks
            .iter()
            .fold(Lens::default(), |sum, block| sum + block.lens);
        let fallback_leaf = (lens.weights == 0).then(|| first_leaf(forest));
        let mode: &[u8] = match forest.split_op {
            SplitOp::LessOrEqual => b"BRANCH_LEQ",
            SplitOp::Less => b"BRANCH_LT",
        };
        let mut branch_mode = [0u8; 16];
        branch_mode[0] = KEY_STRINGS;
        branch_mode[1] = mode.len() as u8;
        branch_mode[2..2 + mode.len()].copy_from_slice(mode);
        let mut plan = Plan {
            forest,
            binary,
            branch_mode,
            branch_mode_len: 2 + mode.len(),
            fallback_leaf,
            small_features: small.features,
            small_classes: small.classes,
            parts: Vec::new(),
            blocks,
            total: 0,
        };

        // The attributes in the order `ensemble_node` writes them.
        use Payload::*;
        let mut attributes: Vec<Result<(&str, Payload), AttributeProto>> = vec![
            Ok(("nodes_treeids", TreeIds)),
            Ok(("nodes_nodeids", NodeIds)),
            Ok(("nodes_featureids", FeatureIds)),
            Ok(("nodes_modes", Modes)),
            Ok(("nodes_values", Values)),
            Ok(("nodes_truenodeids", TrueIds)),
            Ok(("nodes_falsenodeids", FalseIds)),
            Ok(("class_treeids", ClassTreeIds)),
            Ok(("class_nodeids", ClassNodeIds)),
            Ok(("class_ids", ClassIds)),
            Ok(("class_weights", ClassWeights)),
            Err(string_attr("post_transform", "NONE")),
        ];
        if lens.missing > 0 {
            attributes.push(Ok(("nodes_missing_value_tracks_true", MissingTrue)));
        }
        attributes.push(Err(labels_attr(labels)));

        let mut node_parts = Vec::new();
        let mut node_attributes_len = 0u64;
        for attribute in attributes {
            match attribute {
                Err(small) => {
                    let mut bytes = Vec::new();
                    prost::encoding::message::encode(5, &small, &mut bytes);
                    node_attributes_len += bytes.len() as u64;
                    node_parts.push(Part::Bytes(bytes));
                }
                Ok((name, payload)) => {
                    let len = plan.fallback_len(payload)
                        + plan
                            .blocks
                            .iter()
                            .map(|b| plan.len_in(payload, &b.lens))
                            .sum::<u64>();
                    let (key, attr_type) = match payload {
                        Modes => (None, AttributeType::Strings),
                        Values | ClassWeights => (Some(KEY_FLOATS), AttributeType::Floats),
                        _ => (Some(KEY_INTS), AttributeType::Ints),
                    };
                    // AttributeProto: name, then the values (packed: key and
                    // length first; strings: each element keyed), then type.
                    let mut head = Vec::new();
                    head.push(KEY_NAME);
                    encode_varint(name.len() as u64, &mut head);
                    head.extend_from_slice(name.as_bytes());
                    if let (Some(key), true) = (key, len > 0) {
                        head.push(key);
                        encode_varint(len, &mut head);
                    }
                    let mut tail = KEY_TYPE.to_vec();
                    encode_varint(attr_type as u64, &mut tail);
                    let body = head.len() as u64 + len + tail.len() as u64;
                    let mut field = vec![KEY_NODE_ATTRIBUTE];
                    encode_varint(body, &mut field);
                    field.extend_from_slice(&head);
                    node_attributes_len += field.len() as u64 + len + tail.len() as u64;
                    node_parts.push(Part::Bytes(field));
                    if len > 0 {
                        node_parts.push(Part::Payload(payload));
                    }
                    node_parts.push(Part::Bytes(tail));
                }
            }
        }

        // The small messages around the node, split at it.
        let mut model = model_with_node(forest, options, labels, ensemble_shell());
        let mut graph = model.graph.take().expect("the model has a graph");
        let shell = graph.node.remove(0);
        let node_head = NodeProto {
            input: shell.input,
            output: shell.output,
            name: shell.name,
            op_type: shell.op_type,
            ..Default::default()
        }
        .encode_to_vec();
        let node_tail = NodeProto {
            doc_string: shell.doc_string,
            domain: shell.domain,
            ..Default::default()
        }
        .encode_to_vec();
        let model_tail = ModelProto {
            opset_import: std::mem::take(&mut model.opset_import),
            metadata_props: std::mem::take(&mut model.metadata_props),
            ..Default::default()
        }
        .encode_to_vec();
        let model_head = model.encode_to_vec();
        let graph_rest = graph.encode_to_vec();

        let node_len = node_head.len() as u64 + node_attributes_len + node_tail.len() as u64;
        let graph_len = 1 + varint_len(node_len) + node_len + graph_rest.len() as u64;
        let mut head = model_head;
        head.push(KEY_MODEL_GRAPH);
        encode_varint(graph_len, &mut head);
        head.push(KEY_GRAPH_NODE);
        encode_varint(node_len, &mut head);
        head.extend_from_slice(&node_head);
        let mut tail = node_tail;
        tail.extend_from_slice(&graph_rest);
        tail.extend_from_slice(&model_tail);

        plan.total = head.len() as u64 + node_attributes_len + tail.len() as u64;
        plan.parts.push(Part::Bytes(head));
        plan.parts.extend(node_parts);
        plan.parts.push(Part::Bytes(tail));
        if plan.total > MAX_ONNX_BYTES {
            return Err(ExportError::TooLarge {
                estimated: plan.total,
                limit: MAX_ONNX_BYTES,
            });
        }
        Ok(plan)
    }

    /// Encoded length of `payload` over the nodes counted in `lens`.
    fn len_in(&self, payload: Payload, lens: &Lens) -> u64 {
        match payload {
            Payload::TreeIds => lens.tree_ids,
            Payload::NodeIds => lens.node_ids,
            Payload::FeatureIds => lens.feature_ids,
            Payload::Modes => {
                (lens.nodes - lens.leaves) * self.branch_mode_len as u64
                    + lens.leaves * LEAF_MODE.len() as u64
            }
            Payload::Values => 4 * lens.nodes,
            Payload::TrueIds => lens.true_ids,
            Payload::FalseIds => lens.false_ids,
            Payload::ClassTreeIds => lens.class_tree_ids,
            Payload::ClassNodeIds => lens.class_node_ids,
            Payload::ClassIds => lens.class_ids,
            Payload::ClassWeights => 4 * lens.weights,
            // 0 or 1: one byte each.
            Payload::MissingTrue => lens.nodes,
        }
    }

    /// Encoded length of the explicit zero weight's share of `payload`.
    fn fallback_len(&self, payload: Payload) -> u64 {
        match (self.fallback_leaf, payload) {
            (None, _) => 0,
            (Some(_), Payload::ClassTreeIds | Payload::ClassIds) => 1,
            (Some(leaf), Payload::ClassNodeIds) => varint_len(leaf as u64),
            (Some(_), Payload::ClassWeights) => 4,
            (Some(_), _) => 0,
        }
    }

    /// The whole output as segments with their lengths, in file order.
    fn segments(&self) -> Vec<(Segment<'_>, usize)> {
        let mut segments = Vec::new();
        for part in &self.parts {
            match part {
                Part::Bytes(bytes) => segments.push((Segment::Bytes(bytes), bytes.len())),
                Part::Payload(p) => {
                    for block in &self.blocks {
                        let len = self.len_in(*p, &block.lens) as usize;
                        if len > 0 {
                            segments.push((Segment::Block(*p, block), len));
                        }
                    }
                    let len = self.fallback_len(*p) as usize;
                    if len > 0 {
                        segments.push((Segment::Fallback(*p), len));
                    }
                }
            }
        }
        segments
    }

    /// The whole model in one buffer, every segment encoded in parallel.
    fn to_vec(&self) -> Vec<u8> {
        // Zeroed allocations come straight from the OS: no page is touched
        // twice.
        let mut out = vec![0u8; self.total as usize];
        let segments = self.segments();
        self.fill(&segments, &mut out);
        out
    }

    /// Streams the model to `out`: batches are encoded in parallel on a
    /// helper thread while this thread writes the previous batch.
    fn write<W: Write + ?Sized>(&self, out: &mut W) -> std::io::Result<()> {
        let segments = self.segments();
        let mut batches = Vec::new();
        let (mut first, mut bytes) = (0, 0);
        for (i, (_, len)) in segments.iter().enumerate() {
            bytes += len;
            if bytes >= BATCH_BYTES || i + 1 == segments.len() {
                batches.push((first..i + 1, bytes));
                (first, bytes) = (i + 1, 0);
            }
        }
        let segments = &segments;
        std::thread::scope(|scope| {
            // A batch in the channel and one being encoded while one is
            // written: memory stays at a few megabytes whatever the model's
            // size.
            let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(BATCHES_AHEAD);
            let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
            scope.spawn(move || {
                for (range, len) in batches {
                    let mut buf = free_rx.try_recv().unwrap_or_default();
                    // Every byte is overwritten: only grow, never clear.
                    buf.truncate(len);
                    buf.resize(len, 0);
                    self.fill(&segments[range], &mut buf);
                    if full_tx.send(buf).is_err() {
                        return; // the writer failed and stopped
                    }
                }
            });
            let mut written = 0u64;
            for buf in full_rx {
                out.write_all(&buf)?;
                written += buf.len() as u64;
                // The encoder may be done already: then the buffer is dropped.
                let _ = free_tx.send(buf);
            }
            out.flush()?;
            assert_eq!(written, self.total, "forest2onnx bug: ONNX size mismatch");
            Ok(())
        })
    }

    /// Encodes `segments` into `out`, whose length is the sum of theirs.
    fn fill(&self, segments: &[(Segment<'_>, usize)], mut out: &mut [u8]) {
        let mut jobs = Vec::with_capacity(segments.len());
        for (segment, len) in segments {
            let (this, rest) = std::mem::take(&mut out).split_at_mut(*len);
            jobs.push((segment, this));
            out = rest;
        }
        assert!(out.is_empty(), "forest2onnx bug: ONNX size mismatch");
        if is_small(self.forest) {
            jobs.into_iter()
                .for_each(|(segment, out)| self.encode(segment, out));
        } else {
            jobs.into_par_iter()
                .with_min_len(4)
                .for_each(|(segment, out)| self.encode(segment, out));
        }
    }

    /// Encodes one segment into `out`, exactly its length.
    fn encode(&self, segment: &Segment<'_>, out: &mut [u8]) {
        let mut w = Out { buf: out, pos: 0 };
        match segment {
            Segment::Bytes(bytes) => w.bytes(bytes),
            Segment::Block(payload, block) => self.encode_block(*payload, block, &mut w),
            Segment::Fallback(payload) => {
                let leaf = self.fallback_leaf.unwrap_or(0) as u64;
                match payload {
                    Payload::ClassTreeIds => w.varint(0),
                    Payload::ClassNodeIds => w.varint(leaf),
                    Payload::ClassIds => w.varint(u64::from(self.binary)),
                    _ => w.bytes(&0f32.to_le_bytes()),
                }
            }
        }
        // A mismatch would shift every later byte and corrupt the file.
        assert_eq!(w.pos, w.buf.len(), "forest2onnx bug: ONNX size mismatch");
    }

    fn encode_block(&self, payload: Payload, block: &Block, w: &mut Out<'_>) {
        let forest = self.forest;
        let tree = &forest.trees[block.tree];
        let range = block.start..block.end;
        let true_child = &tree.true_child[range.clone()];
        // Leaves write 0 for the feature, the children and the threshold.
        // Which node is a leaf is unpredictable, so the loops select
        // without branching.
        let unless_leaf = |tc: u32, v: u32| u64::from(if tc == LEAF { 0 } else { v });
        match payload {
            Payload::TreeIds => w.repeat_varint(block.tree as u64, range.len()),
            Payload::NodeIds => {
                for i in range {
                    w.varint(i as u64);
                }
            }
            Payload::FeatureIds if self.small_features => {
                // One byte per node: a plain, vectorisable byte loop.
                let out = w.take(range.len());
                for (o, (&tc, &f)) in out
                    .iter_mut()
                    .zip(true_child.iter().zip(&tree.feature[range]))
                {
                    *o = unless_leaf(tc, f) as u8;
                }
            }
            Payload::FeatureIds => {
                for (&tc, &f) in true_child.iter().zip(&tree.feature[range]) {
                    w.varint(unless_leaf(tc, f));
                }
            }
            Payload::TrueIds => {
                for &tc in true_child {
                    w.varint(unless_leaf(tc, tc));
                }
            }
            Payload::FalseIds => {
                for (&tc, &fc) in true_child.iter().zip(&tree.false_child[range]) {
                    w.varint(unless_leaf(tc, fc));
                }
            }
            Payload::Modes => {
                let mut leaf_mode = [0u8; 16];
                leaf_mode[..LEAF_MODE.len()].copy_from_slice(LEAF_MODE);
                let patterns = [&self.branch_mode, &leaf_mode];
                let lens = [self.branch_mode_len, LEAF_MODE.len()];
                for &tc in true_child {
                    let leaf = usize::from(tc == LEAF);
                    w.pattern(patterns[leaf], lens[leaf]);
                }
            }
            Payload::Values => {
                let thresholds = true_child.iter().zip(&tree.threshold[range]);
                // One loop per comparison keeps the rounding direction out
                // of the loop.
                match forest.split_op {
                    SplitOp::LessOrEqual => {
                        for (&tc, &t) in thresholds {
                            let v = f32_at_or_below_fast(t);
                            w.bytes(&select_f32(tc == LEAF, 0.0, v).to_le_bytes());
                        }
                    }
                    SplitOp::Less => {
                        for (&tc, &t) in thresholds {
                            let v = f32_at_or_above_fast(t);
                            w.bytes(&select_f32(tc == LEAF, 0.0, v).to_le_bytes());
                        }
                    }
                }
            }
            Payload::MissingTrue => {
                for &m in &tree.missing_true[range] {
                    w.bytes(&[u8::from(m)]);
                }
            }
            Payload::ClassTreeIds => {
                // The tree id once per weight: no need to look at the leaves.
                w.repeat_varint(block.tree as u64, block.lens.weights as usize)
            }
            Payload::ClassNodeIds => self.weight_entries(block, w, |w, node, _, _, keep| {
                w.varint_if(node as u64, keep)
            }),
            Payload::ClassIds if self.small_classes => {
                self.weight_entries(block, w, |w, _, class, _, keep| {
                    w.byte_if(class as u8, keep)
                })
            }
            Payload::ClassIds => self.weight_entries(block, w, |w, _, class, _, keep| {
                w.varint_if(class as u64, keep)
            }),
            Payload::ClassWeights => {
                self.weight_entries(block, w, |w, _, _, weight, keep| w.f32_if(weight, keep))
            }
        }
    }

    /// Calls `emit(w, node, class, weight, keep)` for every weight entry of
    /// the block's nodes (see [`for_each_weight_entry`]); some entries that
    /// are not kept may be skipped.
    #[inline(always)]
    fn weight_entries(
        &self,
        block: &Block,
        w: &mut Out<'_>,
        mut emit: impl FnMut(&mut Out<'_>, usize, usize, f32, bool),
    ) {
        let forest = self.forest;
        let tree = &forest.trees[block.tree];
        let width = forest.leaf_width();
        let values = &tree.value[block.start * width..block.end * width];
        if !block.kept.is_empty() {
            let aggregation = &forest.aggregation;
            for ((i, &kept), values) in (block.start..)
                .zip(&block.kept)
                .zip(values.chunks_exact(width))
            {
                // Almost every leaf keeps exactly one entry and every
                // internal node none: emit the first set bit (or a dummy
                // entry, not kept) without branching, then any others.
                let first = kept.trailing_zeros() & 7;
                let (class, weight) =
                    weight_entry(values, first as usize, aggregation, self.binary);
                emit(w, i, class, weight, kept != 0);
                let mut rest = kept & kept.wrapping_sub(1);
                while rest != 0 {
                    let e = rest.trailing_zeros() as usize;
                    let (class, weight) = weight_entry(values, e, aggregation, self.binary);
                    emit(w, i, class, weight, true);
                    rest &= rest - 1;
                }
            }
            return;
        }
        let nodes = tree.true_child[block.start..block.end]
            .iter()
            .zip(values.chunks_exact(width));
        for (i, (&tc, values)) in (block.start..).zip(nodes) {
            for_each_weight_entry(
                values,
                tc == LEAF,
                &forest.aggregation,
                self.binary,
                |class, weight, keep| emit(w, i, class, weight, keep),
            );
        }
    }
}

/// `a` if `c`, else `b`, without a branch.
#[inline(always)]
fn select_f32(c: bool, a: f32, b: f32) -> f32 {
    let mask = u32::from(c).wrapping_neg();
    f32::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask))
}

/// [`f32_at_or_below`] without the unpredictable branch.
#[inline(always)]
fn f32_at_or_below_fast(t: f64) -> f32 {
    let nearest = t as f32;
    select_f32(f64::from(nearest) > t, nearest.next_down(), nearest)
}

/// [`f32_at_or_above`] without the unpredictable branch.
#[inline(always)]
fn f32_at_or_above_fast(t: f64) -> f32 {
    let nearest = t as f32;
    select_f32(f64::from(nearest) < t, nearest.next_up(), nearest)
}

/// Which ids are known to take one varint byte each.
#[derive(Clone, Copy)]
struct Small {
    features: bool,
    classes: bool,
}

/// Counts and payload lengths of nodes `range` of tree `t` (see [`Plan::new`]).
///
/// Branch-free like the encoder: leaves and internal nodes are interleaved
/// unpredictably.
fn block_lens(
    t: usize,
    tree: &Tree,
    range: std::ops::Range<usize>,
    width: usize,
    aggregation: &Aggregation,
    binary: bool,
    small: Small,
) -> (Lens, Vec<u8>) {
    let mut l = Lens {
        nodes: range.len() as u64,
        ..Lens::default()
    };
    let masks = entries_per_node(width, aggregation, binary) <= 8;
    let mut kept = Vec::with_capacity(if masks { range.len() } else { 0 });
    let values = tree.value[range.start * width..range.end * width].chunks_exact(width);
    for (i, values) in range.clone().zip(values) {
        let node_len = varint_len(i as u64);
        let tc = tree.true_child[i];
        let leaf = tc == LEAF;
        let unless_leaf = |v: u32| varint_len(u64::from(if leaf { 0 } else { v }));
        l.node_ids += node_len;
        l.missing += u64::from(tree.missing_true[i]);
        l.leaves += u64::from(leaf);
        if !small.features {
            l.feature_ids += unless_leaf(tree.feature[i]);
        }
        l.true_ids += unless_leaf(tc);
        l.false_ids += unless_leaf(tree.false_child[i]);
        let mut mask = 0u8;
        let mut entry = 0;
        for_each_weight_entry(values, leaf, aggregation, binary, |class, _, keep| {
            mask |= u8::from(keep) << (entry & 7);
            entry += 1;
            let keep = u64::from(keep);
            l.weights += keep;
            l.class_node_ids += keep * node_len;
            if !small.classes {
                l.class_ids += keep * varint_len(class as u64);
            }
        });
        if masks {
            kept.push(mask);
        }
    }
    // One byte each, counted without looking.
    if small.features {
        l.feature_ids = l.nodes;
    }
    if small.classes {
        l.class_ids = l.weights;
    }
    let tree_len = varint_len(t as u64);
    l.tree_ids = l.nodes * tree_len;
    l.class_tree_ids = l.weights * tree_len;
    (l, kept)
}

/// Writes into a slice sized exactly for what is written.
///
/// The fast paths store a fixed 8 or 16 bytes and advance by the real
/// length; later writes overwrite the excess. Near the end of the slice,
/// where that would overflow, exact slow paths take over.
struct Out<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Out<'_> {
    /// Appends `v` as a protobuf varint.
    #[inline(always)]
    fn varint(&mut self, v: u64) {
        self.varint_if(v, true);
    }

    /// Appends `v` as a varint if `keep`, without branching on `keep`.
    #[inline(always)]
    fn varint_if(&mut self, v: u64, keep: bool) {
        if v < 1 << 28 && self.pos + 8 <= self.buf.len() {
            // Spread the four 7-bit groups over four bytes and set the
            // continuation bit of all but the last used byte; store 8 bytes
            // and advance by the real length (0 if not kept).
            let len = varint_len(v) as usize;
            let spread = (v & 0x7f)
                | ((v << 1) & 0x7f00)
                | ((v << 2) & 0x7f_0000)
                | ((v << 3) & 0x7f00_0000);
            let more = 0x8080_8080 & ((1u64 << (8 * (len - 1))) - 1);
            self.buf[self.pos..self.pos + 8].copy_from_slice(&(spread | more).to_le_bytes());
            self.pos += len * usize::from(keep);
        } else if keep {
            self.varint_exact(v);
        }
    }

    /// Appends `v` if `keep`, without branching on `keep`.
    #[inline(always)]
    fn f32_if(&mut self, v: f32, keep: bool) {
        if self.pos + 4 <= self.buf.len() {
            self.buf[self.pos..self.pos + 4].copy_from_slice(&v.to_le_bytes());
            self.pos += 4 * usize::from(keep);
        } else if keep {
            self.bytes(&v.to_le_bytes());
        }
    }

    #[inline(never)]
    fn varint_exact(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf[self.pos] = v as u8 | 0x80;
            self.pos += 1;
            v >>= 7;
        }
        self.buf[self.pos] = v as u8;
        self.pos += 1;
    }

    /// Appends the first `len` bytes of `pattern`.
    #[inline(always)]
    fn pattern(&mut self, pattern: &[u8; 16], len: usize) {
        if self.pos + 16 <= self.buf.len() {
            self.buf[self.pos..self.pos + 16].copy_from_slice(pattern);
        } else {
            self.buf[self.pos..self.pos + len].copy_from_slice(&pattern[..len]);
        }
        self.pos += len;
    }

    #[inline(always)]
    fn bytes(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    /// Appends `b` if `keep`, without branching on `keep`.
    #[inline(always)]
    fn byte_if(&mut self, b: u8, keep: bool) {
        if self.pos < self.buf.len() {
            self.buf[self.pos] = b;
            self.pos += usize::from(keep);
        } else if keep {
            self.bytes(&[b]);
        }
    }

    /// The next `n` bytes, to be filled by the caller.
    #[inline(always)]
    fn take(&mut self, n: usize) -> &mut [u8] {
        let start = self.pos;
        self.pos += n;
        &mut self.buf[start..start + n]
    }

    /// Appends `count` copies of the varint `v`, sixteen at a time.
    fn repeat_varint(&mut self, v: u64, count: usize) {
        let mut one = Vec::with_capacity(10);
        encode_varint(v, &mut one);
        let sixteen = one.repeat(16);
        for _ in 0..count / 16 {
            self.bytes(&sixteen);
        }
        for _ in 0..count % 16 {
            self.bytes(&one);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_round_towards_the_kept_side() {
        for t in [0.1f64, -0.1, 1e-40, 3.4e38, 1e300, -1e300, 2.5, 0.0] {
            let d = f32_at_or_below(t);
            assert!(f64::from(d) <= t, "{t}");
            assert!(f64::from(d.next_up()) > t, "{t}");
            let u = f32_at_or_above(t);
            assert!(f64::from(u) >= t, "{t}");
            assert!(f64::from(u.next_down()) < t, "{t}");
        }
    }

    #[test]
    fn varint_lengths_and_fast_encoding_are_exact() {
        let mut values: Vec<u64> = (0..64)
            .flat_map(|b| [1u64 << b, (1u64 << b) - 1, (1u64 << b) + 1])
            .collect();
        values.extend([0, u64::MAX, 300, 16_383, 16_384]);
        for v in values {
            let mut reference = Vec::new();
            prost::encoding::encode_varint(v, &mut reference);
            assert_eq!(varint_len(v), reference.len() as u64, "{v}");
            // Fast path (room to spare) and exact path (no room) alike.
            for spare in [0, 16] {
                let mut buf = vec![0u8; reference.len() + spare];
                let mut out = Out {
                    buf: &mut buf,
                    pos: 0,
                };
                out.varint(v);
                assert_eq!(out.pos, reference.len());
                assert_eq!(&buf[..reference.len()], &reference[..], "{v}");
            }
        }
    }

    #[test]
    fn branch_free_rounding_matches_the_reference() {
        let mut rng = crate::synth::SplitMix(3);
        let mut values = vec![
            0.0,
            -0.0,
            1e-46,
            -1e-46,
            1e-40,
            -1e-40,
            f64::from(f32::MAX),
            f64::from(f32::MAX) * 1.000001,
            -f64::from(f32::MAX) * 1.000001,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
            0.1,
            -0.1,
            2.5,
        ];
        for _ in 0..100_000 {
            let scale = [1e-40, 1e-3, 1.0, 1e6, 1e38][rng.below(5)];
            values.push((rng.unit() - 0.5) * scale);
            values.push(
                f64::from_bits(rng.next_u64() >> 1) * if rng.below(2) == 0 { 1.0 } else { -1.0 },
            );
        }
        for t in values.into_iter().filter(|t| !t.is_nan()) {
            assert_eq!(
                f32_at_or_below_fast(t).to_bits(),
                f32_at_or_below(t).to_bits(),
                "{t}"
            );
            assert_eq!(
                f32_at_or_above_fast(t).to_bits(),
                f32_at_or_above(t).to_bits(),
                "{t}"
            );
        }
    }

    use crate::ir::Source;
    use crate::synth::{self, SynthSpec};

    fn fixed(ml_opset: i64) -> ExportOptions {
        ExportOptions {
            ml_opset,
            created: Some("2025-01-02T03:04:05.123456789Z".into()),
            ..Default::default()
        }
    }

    /// Every streaming entry point against the prost reference.
    fn assert_streams_like_reference(forest: &Forest, options: &ExportOptions) {
        let reference = to_model(forest, options).unwrap().encode_to_vec();
        let streamed = to_bytes(forest, options).unwrap();
        assert!(streamed == reference, "to_bytes differs from to_model");
        assert_eq!(
            encoded_len(forest, options).unwrap(),
            reference.len() as u64
        );
        let mut written = Vec::new();
        let n = write_to(forest, options, &mut written).unwrap();
        assert_eq!(n, reference.len() as u64);
        assert!(written == reference, "write_to differs from to_model");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.onnx");
        to_file(forest, options, &path).unwrap();
        assert!(std::fs::read(&path).unwrap() == reference);
    }

    #[test]
    fn streamed_bytes_equal_the_reference_encoding() {
        let small = SynthSpec::small();
        let cases = vec![
            // scikit-learn-like soft voting, integer labels.
            small.clone(),
            // smartcore-like votes, string labels, NaN to the true side, `<`.
            SynthSpec {
                string_labels: true,
                missing_true_fraction: 0.3,
                split_op: SplitOp::Less,
                ..small.clone().vote()
            },
            // Two classes: one-score layout, both aggregations.
            SynthSpec {
                n_classes: 2,
                mixed_leaf_fraction: 0.5,
                ..small.clone()
            },
            SynthSpec {
                n_classes: 2,
                ..small.clone().vote()
            },
            // Multi-byte varints everywhere: > 127 trees, > 16 383 nodes
            // per tree, > 127 classes and features; > 1 MiB of output so the
            // writer flushes mid-payload.
            SynthSpec {
                n_trees: 300,
                nodes_per_tree: 41,
                n_classes: 130,
                n_features: 300,
                mixed_leaf_fraction: 0.2,
                ..small.clone()
            },
            SynthSpec {
                n_trees: 3,
                nodes_per_tree: 40_001,
                jitter: 0.0,
                ..SynthSpec::large()
            },
        ];
        for spec in cases {
            let forest = synth::forest(&spec);
            for opset in [1, 3] {
                assert_streams_like_reference(&forest, &fixed(opset));
            }
        }
        // Feature names, doc string and graph name, labels out of order.
        let mut forest = synth::forest(&SynthSpec::small());
        forest.feature_names = Some((0..4).map(|i| format!("feature é {i}")).collect());
        forest.task = Task::Classification(Labels::Int(vec![-7, 300, 2]));
        let options = ExportOptions {
            doc_string: "a doc string".into(),
            graph_name: "g".repeat(300),
            ..fixed(3)
        };
        assert_streams_like_reference(&forest, &options);
    }

    #[test]
    fn all_zero_weights_keep_one_explicit_zero() {
        // Two classes, every leaf 50/50: no weight is written but one zero.
        let mut forest = synth::forest(&SynthSpec {
            n_classes: 2,
            ..SynthSpec::small()
        });
        for tree in &mut forest.trees {
            for i in 0..tree.n_nodes() {
                if tree.is_leaf(i) {
                    tree.value[2 * i..2 * i + 2].copy_from_slice(&[0.5, 0.5]);
                }
            }
        }
        assert_streams_like_reference(&forest, &fixed(1));
        let model = to_model(&forest, &fixed(1)).unwrap();
        let node = &model.graph.unwrap().node[0];
        let weights = node.attribute.iter().find(|a| a.name == "class_weights");
        assert_eq!(weights.unwrap().floats, vec![0.0]);
    }

    #[test]
    fn invalid_forests_are_refused_with_the_forest_error() {
        let options = fixed(1);
        let all_entry_points = |forest: &Forest| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("never.onnx");
            let results = [
                to_bytes(forest, &options).map(drop),
                encoded_len(forest, &options).map(drop),
                write_to(forest, &options, std::io::sink()).map(drop),
                to_file(forest, &options, &path).map(drop),
                to_model(forest, &options).map(drop),
            ];
            assert!(!path.exists(), "a failed export left a file");
            results
        };
        // Arrays of inconsistent lengths: never sized.
        let mut short = synth::forest(&SynthSpec::small());
        short.trees[3].threshold.pop();
        // Consistent lengths, a cycle: checked while sizing.
        let mut cycle = synth::forest(&SynthSpec::small());
        let root_child = cycle.trees[2].true_child[0] as usize;
        cycle.trees[2].true_child[root_child] = 0;
        cycle.trees[2].false_child[root_child] = 0;
        // Invalid and unsupported: the forest's error comes first, as before.
        let mut regression = synth::forest(&SynthSpec::small());
        regression.task = Task::Regression { n_targets: 3 };
        regression.trees[0].feature[0] = 99;
        for forest in [short, cycle, regression] {
            for result in all_entry_points(&forest) {
                assert!(matches!(result, Err(ExportError::Forest(_))), "{result:?}");
            }
        }
    }

    #[test]
    fn write_errors_are_reported() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let forest = synth::forest(&SynthSpec::small());
        let err = write_to(&forest, &fixed(1), Broken).unwrap_err();
        assert!(matches!(err, ExportError::Io(_)));
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }

    /// One tree: a chain of `n` nodes where every split's true child is a
    /// leaf. Only the child arrays are written: the other arrays are zeroed
    /// allocations, which the OS maps lazily, so even a forest whose ONNX
    /// model exceeds 2 GiB costs 8 bytes of memory per node.
    fn caterpillar(n: usize) -> Forest {
        assert!(n % 2 == 1);
        let mut true_child = vec![LEAF; n];
        let mut false_child = vec![LEAF; n];
        for i in (0..n - 1).step_by(2) {
            true_child[i] = i as u32 + 1;
            false_child[i] = i as u32 + 2;
        }
        Forest {
            input: Default::default(),
            n_features: 1,
            feature_names: None,
            split_op: SplitOp::LessOrEqual,
            task: Task::Classification(Labels::Int(vec![0, 1, 2])),
            aggregation: Aggregation::Vote,
            trees: vec![Tree {
                categories: Default::default(),
                feature: vec![0; n],
                threshold: vec![0.0; n],
                true_child,
                false_child,
                missing_true: vec![false; n],
                value: vec![0.0; n],
            }],
            source: Source::default(),
        }
    }

    /// Peak resident memory of this process (Linux), in bytes.
    fn peak_rss() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    #[test]
    fn sizes_of_caterpillars_are_exact() {
        for n in [1, 3, 2_001, 300_001] {
            assert_streams_like_reference(&caterpillar(n), &fixed(1));
        }
    }

    #[test]
    fn a_model_over_2_gib_is_refused_before_encoding() {
        // ~29 bytes per node (4-byte node ids): 80 M nodes make ~2.3 GB.
        let forest = caterpillar(80_000_001);
        let before = peak_rss();
        let start = std::time::Instant::now();
        let err = to_bytes(&forest, &fixed(1)).unwrap_err();
        let elapsed = start.elapsed();
        let message = err.to_string();
        let ExportError::TooLarge { estimated, limit } = err else {
            panic!("expected TooLarge, got {message}");
        };
        assert_eq!(limit, MAX_ONNX_BYTES);
        assert!(
            estimated > limit && estimated < 2_600_000_000,
            "{estimated}"
        );
        assert!(message.contains("2 GiB") && message.contains(&estimated.to_string()));
        // Encoding would take well over a few seconds and 2 GB of memory:
        // only the sizing pass ran.
        assert!(elapsed.as_secs() < 30, "took {elapsed:?}");
        if let (Some(before), Some(after)) = (before, peak_rss()) {
            assert!(
                after.saturating_sub(before) < 400 << 20,
                "peak memory grew by {} MB",
                (after - before) >> 20
            );
        }
        assert!(matches!(
            write_to(&forest, &fixed(1), std::io::sink()),
            Err(ExportError::TooLarge { .. })
        ));
    }
}
