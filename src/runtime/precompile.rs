//! Loads the tree-ensemble nodes of an ONNX file without tract's protobuf
//! binding, which would spend most of a large forest's load time copying
//! millions of `nodes_modes` strings and growing integer lists.
//!
//! The file is walked at the wire level: every field is copied byte for byte
//! into the model tract decodes, except the tree-ensemble nodes of the main
//! graph. Each of those is decoded alone with forest2onnx's binding (strings
//! as slices of one shared buffer) and compiled; tract then gets the node
//! without its attributes, plus one [`MARKER`] attribute naming the compiled
//! operator, which [`super::parse`] takes from [`Precompiled`].
//!
//! Anything the walk does not expect (a malformed field, a group) leaves the
//! file as it was: tract's own decoder then reports it as before.

use std::cell::RefCell;

use prost::bytes::Bytes;
use prost::Message;
use rayon::prelude::*;

use super::error::AttributeError;
use super::op::TreeEnsembleOp;
use crate::onnx_proto::{attribute_proto::AttributeType, AttributeProto, NodeProto};
use crate::wire::{put_len_field, Fields, Value};

/// Name of the attribute that stands for a precompiled operator; its `i` is
/// the operator's index in [`Precompiled`].
pub(super) const MARKER: &str = "forest2onnx.precompiled";

/// `ModelProto.graph`, `GraphProto.node`, `NodeProto.op_type`,
/// `NodeProto.attribute`.
const MODEL_GRAPH: u32 = 7;
const GRAPH_NODE: u32 = 1;
const NODE_OP_TYPE: u32 = 4;
const NODE_ATTRIBUTE: u32 = 5;

/// Each tree-ensemble node of a file, compiled (or why it cannot be).
pub(super) type Compiled = Vec<Option<Result<TreeEnsembleOp, AttributeError>>>;

thread_local! {
    /// The operators of the file being handed to tract on this thread.
    static PRECOMPILED: RefCell<Compiled> = const { RefCell::new(Vec::new()) };
}

/// Makes `ops` available to [`take`] on this thread until dropped, so tract's
/// parser (which runs on the calling thread) finds them and nothing outlives
/// the load, whatever its outcome.
pub(super) struct Precompiled(());

impl Precompiled {
    pub(super) fn install(ops: Compiled) -> Precompiled {
        PRECOMPILED.with(|p| *p.borrow_mut() = ops);
        Precompiled(())
    }
}

impl Drop for Precompiled {
    fn drop(&mut self) {
        PRECOMPILED.with(|p| p.borrow_mut().clear());
    }
}

/// The precompiled operator `index`, once: `None` when there is none (a file
/// that carries the marker itself).
pub(super) fn take(index: i64) -> Option<Result<TreeEnsembleOp, AttributeError>> {
    let index = usize::try_from(index).ok()?;
    PRECOMPILED.with(|p| p.borrow_mut().get_mut(index)?.take())
}

/// The model with its tree-ensemble nodes replaced by markers, and those
/// nodes compiled; `None` when there is no such node or the walk met
/// something it does not expect (the file is then decoded as it is).
pub(super) fn split(file: &Bytes) -> Option<(Vec<u8>, Compiled)> {
    let mut ops = Compiled::new();
    let mut model = Vec::with_capacity(4096);
    for field in Fields::new(file, 0) {
        let field = field?;
        match field.value {
            Value::Len(start, end) if field.number == MODEL_GRAPH => {
                let graph = graph(file, start, end, &mut ops)?;
                put_len_field(&mut model, MODEL_GRAPH, &graph);
            }
            _ => model.extend_from_slice(&file[field.span.0..field.span.1]),
        }
    }
    (!ops.is_empty()).then_some((model, ops))
}

fn graph(file: &Bytes, start: usize, end: usize, ops: &mut Compiled) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(4096);
    for field in Fields::new(&file[..end], start) {
        let field = field?;
        match field.value {
            Value::Len(s, e) if field.number == GRAPH_NODE && is_ensemble(&file[..e], s)? => {
                let node = decode_node(file, s, e)?;
                let op = TreeEnsembleOp::from_node(&node);
                let lean = NodeProto {
                    attribute: vec![AttributeProto {
                        name: MARKER.into(),
                        r#type: AttributeType::Int as i32,
                        i: ops.len() as i64,
                        ..Default::default()
                    }],
                    ..node
                };
                ops.push(Some(op));
                put_len_field(&mut out, GRAPH_NODE, &lean.encode_to_vec());
            }
            _ => out.extend_from_slice(&file[field.span.0..field.span.1]),
        }
    }
    Some(out)
}

/// The node at `start..end`, its attributes decoded in parallel (a forest's
/// node has a dozen large ones).
fn decode_node(file: &Bytes, start: usize, end: usize) -> Option<NodeProto> {
    let mut attributes = Vec::new();
    let mut rest = Vec::new();
    for field in Fields::new(&file[..end], start) {
        let field = field?;
        match field.value {
            Value::Len(s, e) if field.number == NODE_ATTRIBUTE => attributes.push(s..e),
            _ => rest.extend_from_slice(&file[field.span.0..field.span.1]),
        }
    }
    let mut node = NodeProto::decode(&rest[..]).ok()?;
    node.attribute = attributes
        .into_par_iter()
        .map(|span| AttributeProto::decode(file.slice(span)).ok())
        .collect::<Option<_>>()?;
    Some(node)
}

/// Whether the node at `start..` names one of forest2onnx's tree-ensemble
/// operators (the last `op_type` wins, as in any protobuf decoder).
fn is_ensemble(buf: &[u8], start: usize) -> Option<bool> {
    let mut op_type: &[u8] = &[];
    for field in Fields::new(buf, start) {
        let field = field?;
        match field.value {
            Value::Len(s, e) if field.number == NODE_OP_TYPE => op_type = &buf[s..e],
            _ => {}
        }
    }
    Some(matches!(
        op_type,
        b"TreeEnsembleClassifier" | b"TreeEnsembleRegressor" | b"TreeEnsemble"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_onnx() -> Vec<u8> {
        let forest = crate::synth::forest(&crate::synth::SynthSpec::small());
        crate::export::onnx::to_bytes(&forest, &Default::default()).unwrap()
    }

    #[test]
    fn ensemble_nodes_are_compiled_aside_and_everything_else_is_kept() {
        let onnx = small_onnx();
        let (lean, ops) = split(&Bytes::from(onnx.clone())).expect("one ensemble");
        assert_eq!(ops.len(), 1);
        assert!(matches!(ops[0], Some(Ok(_))));
        let full = tract_onnx::pb::ModelProto::decode(&onnx[..]).unwrap();
        let mut lean = tract_onnx::pb::ModelProto::decode(&lean[..]).unwrap();
        let node = lean
            .graph
            .as_mut()
            .unwrap()
            .node
            .iter_mut()
            .find(|n| n.op_type.starts_with("TreeEnsemble"));
        let node = node.unwrap();
        assert_eq!(node.attribute.len(), 1);
        assert_eq!(
            (node.attribute[0].name.as_str(), node.attribute[0].i),
            (MARKER, 0)
        );
        // With the original attributes back, the model is the file's.
        let graph = full.graph.as_ref().unwrap();
        let original = graph.node.iter().find(|n| n.op_type == node.op_type);
        let original = original.unwrap();
        node.attribute = original.attribute.clone();
        assert_eq!(lean, full);
    }

    #[test]
    fn files_without_an_ensemble_or_with_malformed_fields_are_left_alone() {
        let onnx = small_onnx();
        let mut no_node = tract_onnx::pb::ModelProto::decode(&onnx[..]).unwrap();
        no_node.graph.as_mut().unwrap().node.clear();
        assert!(split(&Bytes::from(no_node.encode_to_vec())).is_none());
        assert!(split(&Bytes::from(onnx[..onnx.len() / 2].to_vec())).is_none());
        assert!(split(&Bytes::new()).is_none());
    }

    #[test]
    fn a_marker_in_a_file_is_refused_not_trusted() {
        let onnx = small_onnx();
        let mut proto = tract_onnx::pb::ModelProto::decode(&onnx[..]).unwrap();
        for node in &mut proto.graph.as_mut().unwrap().node {
            if node.op_type.starts_with("TreeEnsemble") {
                node.attribute = vec![tract_onnx::pb::AttributeProto {
                    name: MARKER.into(),
                    r#type: AttributeType::Int as i32,
                    i: 0,
                    ..Default::default()
                }];
            }
        }
        // tract on its own (nothing precompiled on this thread) ...
        use tract_onnx::prelude::Framework;
        let err = super::super::tract()
            .model_for_proto_model(&proto)
            .unwrap_err();
        assert!(format!("{err:#}").contains("reserved"), "{err:#}");
        // ... and through `OnnxModel`, which replaces the node's attributes.
        let err = crate::runtime::OnnxModel::from_bytes(&proto.encode_to_vec()).unwrap_err();
        // (read as the file's own, attribute-less node).
        assert!(err.to_string().contains("classlabels_int64s"), "{err}");
    }
}
