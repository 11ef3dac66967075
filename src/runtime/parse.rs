//! tract's parser entry point for the tree-ensemble operators: a node
//! compiled aside before tract saw the file ([`super::precompile`]), or one
//! read from its attributes ([`super::op`]).

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;

use super::op::TreeEnsembleOp;
use super::precompile;

/// tract's parser entry point for the three tree-ensemble operators.
pub(super) fn parse(
    _ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let marker = node.attribute.iter().find(|a| a.name == precompile::MARKER);
    let op = match marker {
        // Compiled by `precompile::split` before tract saw the file.
        Some(a) => precompile::take(a.i).unwrap_or(Err(super::AttributeError::Reserved {
            attribute: precompile::MARKER,
        })),
        None => TreeEnsembleOp::from_node(node),
    };
    let op = op.with_context(|| {
        format!(
            "ai.onnx.ml {} node {:?}",
            node.op_type,
            if node.name.is_empty() {
                node.output.first().map_or("", String::as_str)
            } else {
                &node.name
            }
        )
    })?;
    Ok((expand(op), vec![]))
}
