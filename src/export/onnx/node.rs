//! The tree-ensemble node: its operator, outputs and attributes in file
//! order, the large ones as [`Column`]s.

use crate::ir::{Aggregation, Forest, Labels};
use crate::onnx_proto::{tensor_proto::DataType, AttributeProto, NodeProto};

use super::columns::Column;
use super::layout::{Layout, Op};
use super::messages::*;
use super::Precision;

pub(super) const ML_DOMAIN: &str = "ai.onnx.ml";

/// Output of the classifier op's scores, or of the other ops.
pub(super) const ENSEMBLE_OUTPUT: &str = "ensemble_output";
/// The classifier op's own labels (unused: the graph derives the label).
pub(super) const ENSEMBLE_LABEL: &str = "ensemble_label";

/// One attribute of the ensemble node.
pub(super) enum Attr {
    /// Built with prost.
    Small(Box<AttributeProto>),
    /// Streamed.
    Column { name: &'static str, column: Column },
}

/// What the node needs besides the forest and its layout.
pub(super) struct NodeFacts {
    /// Opset 5: each written tree's root among the splits.
    pub tree_roots: Vec<i64>,
    /// Opset 5: the categories of every membership split in node order,
    /// each set followed by NaN.
    pub membership: Vec<f64>,
}

/// The ensemble node without attributes, and its attributes.
pub(super) fn ensemble_node(
    forest: &Forest,
    layout: &Layout,
    input: &str,
    facts: NodeFacts,
) -> (NodeProto, Vec<Attr>) {
    let (op_type, output) = match layout.op {
        Op::Classifier => (
            "TreeEnsembleClassifier",
            vec![ENSEMBLE_LABEL.into(), ENSEMBLE_OUTPUT.into()],
        ),
        Op::Regressor => ("TreeEnsembleRegressor", vec![ENSEMBLE_OUTPUT.into()]),
        Op::TreeEnsemble => ("TreeEnsemble", vec![ENSEMBLE_OUTPUT.into()]),
    };
    let shell = NodeProto {
        input: vec![input.into()],
        output,
        name: "tree_ensemble".into(),
        op_type: op_type.into(),
        domain: ML_DOMAIN.into(),
        ..Default::default()
    };
    let attributes = match layout.op {
        Op::TreeEnsemble => tree_ensemble(layout, facts),
        _ => classifier_or_regressor(forest, layout),
    };
    (shell, attributes)
}

fn small(a: AttributeProto) -> Attr {
    Attr::Small(Box::new(a))
}

fn column(name: &'static str, column: Column) -> Attr {
    Attr::Column { name, column }
}

/// `TreeEnsembleClassifier` / `TreeEnsembleRegressor` (opsets 1/3).
fn classifier_or_regressor(forest: &Forest, layout: &Layout) -> Vec<Attr> {
    let double = layout.precision == Precision::Double;
    let mut a = vec![
        column("nodes_treeids", Column::TreeIds),
        column("nodes_nodeids", Column::NodeIds),
        column("nodes_featureids", Column::FeatureIds),
        column("nodes_modes", Column::Modes),
        if double {
            column("nodes_values_as_tensor", Column::ValuesF64)
        } else {
            column("nodes_values", Column::Values)
        },
        column("nodes_truenodeids", Column::TrueIds),
        column("nodes_falsenodeids", Column::FalseIds),
    ];
    if layout.op == Op::Classifier {
        a.extend([
            column("class_treeids", Column::EntryTreeIds),
            column("class_nodeids", Column::EntryNodeIds),
            column("class_ids", Column::EntryIds),
            if double {
                column("class_weights_as_tensor", Column::EntryWeightsF64)
            } else {
                column("class_weights", Column::EntryWeights)
            },
            small(string_attr("post_transform", "NONE")),
        ]);
    } else {
        // Weights are floats even in double precision: there they are votes
        // or leaf numbers, integers float32 holds exactly.
        a.extend([
            column("target_treeids", Column::EntryTreeIds),
            column("target_nodeids", Column::EntryNodeIds),
            column("target_ids", Column::EntryIds),
            column("target_weights", Column::EntryWeights),
            small(int_attr("n_targets", layout.n_targets as i64)),
            small(string_attr("aggregate_function", "SUM")),
            small(string_attr("post_transform", "NONE")),
        ]);
        if let (true, Aggregation::Sum { base_values, .. }) =
            (layout.base_in_node, &forest.aggregation)
        {
            let base = base_values.iter().map(|&b| b as f32).collect();
            a.push(small(floats_attr("base_values", base)));
        }
    }
    if layout.any_missing {
        a.push(column(
            "nodes_missing_value_tracks_true",
            Column::MissingTrue,
        ));
    }
    if layout.op == Op::Classifier {
        a.push(small(match forest.class_labels() {
            Some(Labels::Int(v)) => ints_attr("classlabels_int64s", v.clone()),
            Some(Labels::Str(v)) => strings_attr(
                "classlabels_strings",
                v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ),
            // Float labels are gathered after the node: its own labels
            // are the class indices.
            labels => ints_attr(
                "classlabels_int64s",
                (0..labels.map_or(0, Labels::len) as i64).collect(),
            ),
        }));
    }
    a
}

/// `TreeEnsemble` (opset 5), attributes in the specification's order.
fn tree_ensemble(layout: &Layout, facts: NodeFacts) -> Vec<Attr> {
    let double = layout.precision == Precision::Double;
    let mut a = vec![
        // SUM: averaging and base values are standard ops after the node.
        small(int_attr("aggregate_function", 1)),
        column("leaf_targetids", Column::LeafTargetIds),
        if double {
            column("leaf_weights", Column::LeafWeightsF64)
        } else {
            column("leaf_weights", Column::LeafWeights)
        },
    ];
    if !facts.membership.is_empty() {
        let (data_type, raw) = if double {
            let raw = facts.membership.iter().flat_map(|v| v.to_le_bytes());
            (DataType::Double, raw.collect())
        } else {
            let raw = facts
                .membership
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes());
            (DataType::Float, raw.collect())
        };
        let dims = vec![facts.membership.len() as i64];
        a.push(small(tensor_attr(
            "membership_values",
            raw_tensor("", data_type, dims, raw),
        )));
    }
    a.extend([
        small(int_attr("n_targets", layout.n_targets as i64)),
        column("nodes_falseleafs", Column::SplitFalseLeafs),
        column("nodes_falsenodeids", Column::SplitFalseIds),
        column("nodes_featureids", Column::SplitFeatureIds),
    ]);
    if layout.any_missing {
        a.push(column(
            "nodes_missing_value_tracks_true",
            Column::SplitMissingTrue,
        ));
    }
    a.extend([
        column("nodes_modes", Column::SplitModes),
        if double {
            column("nodes_splits", Column::SplitsF64)
        } else {
            column("nodes_splits", Column::Splits)
        },
        column("nodes_trueleafs", Column::SplitTrueLeafs),
        column("nodes_truenodeids", Column::SplitTrueIds),
        small(int_attr("post_transform", 0)),
        small(ints_attr("tree_roots", facts.tree_roots)),
    ]);
    a
}
