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

use prost::Message;

use crate::ir::{Aggregation, ClassLabels, Comparison, Forest, ForestError, Task};
use crate::onnx::proto::{
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
        "the ONNX model would take about {estimated} bytes; protobuf files are limited to {limit} bytes (2 GiB)"
    )]
    TooLarge {
        /// Estimated encoded size.
        estimated: u64,
        /// The limit.
        limit: u64,
    },
}

/// Build the ONNX model for `forest`.
pub fn to_model(forest: &Forest, options: &ExportOptions) -> Result<ModelProto, ExportError> {
    forest.check()?;
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
    let estimated = estimate_size(forest);
    if estimated > MAX_ONNX_BYTES {
        return Err(ExportError::TooLarge {
            estimated,
            limit: MAX_ONNX_BYTES,
        });
    }

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
    graph.node.push(ensemble_node(forest, labels));
    wire_probabilities(&mut graph, forest.trees.len(), labels.len());
    wire_label(&mut graph, labels);

    Ok(ModelProto {
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
    })
}

/// Build the ONNX model for `forest` and encode it.
pub fn to_bytes(forest: &Forest, options: &ExportOptions) -> Result<Vec<u8>, ExportError> {
    Ok(to_model(forest, options)?.encode_to_vec())
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
pub fn onnx_threshold(t: f64, comparison: Comparison) -> f32 {
    match comparison {
        Comparison::LessOrEqual => f32_at_or_below(t),
        Comparison::Less => f32_at_or_above(t),
    }
}

/// An upper bound of the encoded size, computed before any work is done.
fn estimate_size(forest: &Forest) -> u64 {
    // Per node: ids and children as varints (≤ 10 bytes each), a mode string
    // (≤ 12 bytes) and a float; per leaf weight: three ids and a float.
    let nodes = forest.n_nodes() as u64;
    let weights = forest.n_leaves() as u64 * forest.leaf_width() as u64;
    nodes * (6 * 10 + 12 + 4) + weights * (3 * 10 + 4) + 4096
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
            ClassLabels::Int(v) => serde_json::to_string(v),
            ClassLabels::Str(v) => serde_json::to_string(v),
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
    let branch_mode: &[u8] = match forest.comparison {
        Comparison::LessOrEqual => b"BRANCH_LEQ",
        Comparison::Less => b"BRANCH_LT",
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
                    .push(onnx_threshold(tree.threshold[i], forest.comparison));
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
    let mut push = |class: usize, weight: f64| {
        if weight != 0.0 {
            a.class_tree_ids.push(tree as i64);
            a.class_node_ids.push(node as i64);
            a.class_ids.push(class as i64);
            a.class_weights.push(weight as f32);
        }
    };
    match (aggregation, binary) {
        (Aggregation::Vote, true) => push(1, if leaf[0] == 1.0 { 1.0 } else { -1.0 }),
        (Aggregation::Vote, false) => push(leaf[0] as usize, 1.0),
        (_, true) => push(1, leaf[1] - leaf[0]),
        (_, false) => leaf.iter().enumerate().for_each(|(k, &w)| push(k, w)),
    }
}

fn ensemble_node(forest: &Forest, labels: &ClassLabels) -> NodeProto {
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
    attribute.push(match labels {
        ClassLabels::Int(v) => ints_attr("classlabels_int64s", v.clone()),
        ClassLabels::Str(v) => strings_attr(
            "classlabels_strings",
            v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ),
    });
    NodeProto {
        input: vec![INPUT.into()],
        output: vec!["ensemble_label".into(), "scores".into()],
        name: "tree_ensemble".into(),
        op_type: "TreeEnsembleClassifier".into(),
        domain: ML_DOMAIN.into(),
        attribute,
        ..Default::default()
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
fn wire_label(graph: &mut GraphProto, labels: &ClassLabels) {
    let k = labels.len() as i64;
    graph.initializer.push(match labels {
        ClassLabels::Int(v) => i64_tensor("class_labels", &[k], v.clone()),
        ClassLabels::Str(v) => TensorProto {
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

fn label_value(labels: &ClassLabels) -> ValueInfoProto {
    let dt = match labels {
        ClassLabels::Int(_) => DataType::Int64,
        ClassLabels::Str(_) => DataType::String,
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

use crate::onnx::proto::tensor_shape_proto;

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
}
