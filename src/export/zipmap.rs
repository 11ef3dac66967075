//! Optional `ZipMap` output for tools that expect scikit-learn-onnx's layout.
//!
//! skl2onnx ends classifier graphs with an `ai.onnx.ml` `ZipMap` node that
//! turns the `[N, n_classes]` probabilities into one `{label: probability}`
//! map per row, a `seq(map(int64|string, float))` output named
//! [`ZIPMAP_OUTPUT`]. Some consumers (onnxruntime's Python examples, model
//! zoos) look for that output. [`to_bytes_with_zipmap`] appends the node and
//! the output to an exported model; the `label` and `probabilities` outputs
//! stay first, so runtimes that read only those (ours included) are
//! unaffected.
//!
//! The crate's generated `TypeProto` only knows tensor types, so the typed
//! graph output is written as a protobuf *merge patch*: a second, partial
//! `ModelProto` encoding appended to the first. Protobuf parsers merge a
//! repeated singular message field (`graph`) and append to repeated fields
//! (`graph.output`), so every conforming reader sees one graph with one more
//! output. The message types below mirror the ONNX field numbers exactly.

use prost::Message;

use super::onnx::PROBABILITIES;
use crate::onnx_proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, ModelProto, NodeProto,
};

/// Name of the output added by [`to_bytes_with_zipmap`].
pub const ZIPMAP_OUTPUT: &str = "output_probability";

const ML_DOMAIN: &str = "ai.onnx.ml";
const ENSEMBLE_OP: &str = "TreeEnsembleClassifier";

/// Why a ZipMap output could not be added.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZipMapError {
    /// The model has no graph.
    #[error("the ONNX model has no graph")]
    NoGraph,
    /// No `TreeEnsembleClassifier` node names the class labels.
    #[error("the ONNX model has no TreeEnsembleClassifier node with class labels")]
    NoClassLabels,
    /// The graph has no probabilities output to zip.
    #[error("the ONNX model has no {PROBABILITIES:?} output")]
    NoProbabilities,
    /// The graph already has the output.
    #[error("the ONNX model already has a {ZIPMAP_OUTPUT:?} output")]
    AlreadyPresent,
}

/// `ValueInfoProto` with the full ONNX `TypeProto` (sequence and map types
/// included), for writing and reading outputs the generated types cannot hold.
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfo {
    /// Value name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value type.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<FullType>,
}

/// ONNX `TypeProto` restricted to the tensor, sequence and map cases.
#[derive(Clone, PartialEq, Message)]
pub struct FullType {
    /// Tensor element type and shape.
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorType>,
    /// Element type of a sequence.
    #[prost(message, optional, boxed, tag = "4")]
    pub sequence_type: Option<Box<SequenceType>>,
    /// Key and value types of a map.
    #[prost(message, optional, boxed, tag = "5")]
    pub map_type: Option<Box<MapType>>,
}

/// ONNX `TypeProto.Tensor`; the shape is kept as the generated type.
#[derive(Clone, PartialEq, Message)]
pub struct TensorType {
    /// `TensorProto.DataType` of the elements.
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// Dimensions, when known.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<crate::onnx_proto::TensorShapeProto>,
}

/// ONNX `TypeProto.Sequence`.
#[derive(Clone, PartialEq, Message)]
pub struct SequenceType {
    /// Type of every element.
    #[prost(message, optional, tag = "1")]
    pub elem_type: Option<FullType>,
}

/// ONNX `TypeProto.Map`.
#[derive(Clone, PartialEq, Message)]
pub struct MapType {
    /// `TensorProto.DataType` of the keys.
    #[prost(int32, tag = "1")]
    pub key_type: i32,
    /// Type of the values.
    #[prost(message, optional, tag = "2")]
    pub value_type: Option<FullType>,
}

/// `GraphProto` restricted to its outputs (field 12).
#[derive(Clone, PartialEq, Message)]
pub struct GraphOutputs {
    /// Graph inputs.
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfo>,
    /// Graph outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfo>,
}

/// `ModelProto` restricted to its graph's inputs and outputs (field 7).
///
/// Decoding any ONNX file with this type reads the full types of the graph
/// inputs and outputs and skips everything else.
#[derive(Clone, PartialEq, Message)]
pub struct ModelSignature {
    /// The graph's inputs and outputs.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphOutputs>,
}

impl FullType {
    /// A float tensor type without shape.
    fn scalar(dt: DataType) -> FullType {
        FullType {
            tensor_type: Some(TensorType {
                elem_type: dt as i32,
                shape: None,
            }),
            ..Default::default()
        }
    }

    /// Human-readable type, e.g. `tensor(float)[N, 4]` or `seq(map(int64, tensor(float)))`.
    pub fn describe(&self) -> String {
        if let Some(t) = &self.tensor_type {
            let elem = DataType::try_from(t.elem_type)
                .map(|d| d.as_str_name().to_ascii_lowercase())
                .unwrap_or_else(|_| format!("type {}", t.elem_type));
            let Some(shape) = &t.shape else {
                return format!("tensor({elem})");
            };
            let dims: Vec<String> = shape.dim.iter().map(describe_dim).collect();
            return format!("tensor({elem})[{}]", dims.join(", "));
        }
        if let Some(s) = &self.sequence_type {
            let elem = s.elem_type.as_ref().map_or("?".into(), FullType::describe);
            return format!("seq({elem})");
        }
        if let Some(m) = &self.map_type {
            let key = DataType::try_from(m.key_type)
                .map(|d| d.as_str_name().to_ascii_lowercase())
                .unwrap_or_else(|_| format!("type {}", m.key_type));
            let value = m.value_type.as_ref().map_or("?".into(), FullType::describe);
            return format!("map({key}, {value})");
        }
        "unknown type".into()
    }
}

fn describe_dim(d: &crate::onnx_proto::tensor_shape_proto::Dimension) -> String {
    use crate::onnx_proto::tensor_shape_proto::dimension::Value;
    match &d.value {
        Some(Value::DimValue(v)) => v.to_string(),
        Some(Value::DimParam(p)) => p.clone(),
        None => "?".into(),
    }
}

/// Appends a `ZipMap` node reading [`PROBABILITIES`] to `model` and returns
/// the encoded model with a typed [`ZIPMAP_OUTPUT`] graph output.
///
/// The class labels are taken from the model's `TreeEnsembleClassifier`
/// node, so the map keys are exactly the labels the model predicts.
pub fn to_bytes_with_zipmap(mut model: ModelProto) -> Result<Vec<u8>, ZipMapError> {
    let key_type = add_zipmap_node(&mut model)?;
    let mut bytes = model.encode_to_vec();
    bytes.extend(output_patch(key_type).encode_to_vec());
    Ok(bytes)
}

/// Appends the `ZipMap` node to `model` and returns the map key type.
///
/// On its own this leaves [`ZIPMAP_OUTPUT`] an intermediate value; use
/// [`to_bytes_with_zipmap`] to also declare it as a graph output.
pub fn add_zipmap_node(model: &mut ModelProto) -> Result<DataType, ZipMapError> {
    let graph = model.graph.as_mut().ok_or(ZipMapError::NoGraph)?;
    if !graph.output.iter().any(|o| o.name == PROBABILITIES) {
        return Err(ZipMapError::NoProbabilities);
    }
    if graph.output.iter().any(|o| o.name == ZIPMAP_OUTPUT)
        || graph
            .node
            .iter()
            .any(|n| n.output.iter().any(|o| o == ZIPMAP_OUTPUT))
    {
        return Err(ZipMapError::AlreadyPresent);
    }
    let labels = graph
        .node
        .iter()
        .filter(|n| n.op_type == ENSEMBLE_OP && n.domain == ML_DOMAIN)
        .flat_map(|n| n.attribute.iter())
        .find(|a| a.name == "classlabels_int64s" || a.name == "classlabels_strings")
        .cloned()
        .ok_or(ZipMapError::NoClassLabels)?;
    let key_type = if labels.name == "classlabels_int64s" {
        DataType::Int64
    } else {
        DataType::String
    };
    graph.node.push(NodeProto {
        input: vec![PROBABILITIES.into()],
        output: vec![ZIPMAP_OUTPUT.into()],
        name: "zipmap".into(),
        op_type: "ZipMap".into(),
        domain: ML_DOMAIN.into(),
        attribute: vec![AttributeProto {
            // ZipMap spells its attributes like the ensemble's.
            r#type: if key_type == DataType::Int64 {
                AttributeType::Ints as i32
            } else {
                AttributeType::Strings as i32
            },
            ..labels
        }],
        ..Default::default()
    });
    Ok(key_type)
}

/// The partial `ModelProto` that declares the ZipMap output when appended.
fn output_patch(key_type: DataType) -> ModelSignature {
    let map = FullType {
        map_type: Some(Box::new(MapType {
            key_type: key_type as i32,
            value_type: Some(FullType::scalar(DataType::Float)),
        })),
        ..Default::default()
    };
    ModelSignature {
        graph: Some(GraphOutputs {
            input: Vec::new(),
            output: vec![ValueInfo {
                name: ZIPMAP_OUTPUT.into(),
                r#type: Some(FullType {
                    sequence_type: Some(Box::new(SequenceType {
                        elem_type: Some(map),
                    })),
                    ..Default::default()
                }),
            }],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Aggregation, Forest, Labels, Source, SplitOp, Task, Tree, LEAF};

    fn stump() -> Forest {
        Forest {
            input: Default::default(),
            n_features: 1,
            feature_names: None,
            split_op: SplitOp::LessOrEqual,
            task: Task::Classification(Labels::Str(vec!["a".into(), "b".into()])),
            aggregation: Aggregation::Vote,
            trees: vec![Tree {
                categories: Default::default(),
                feature: vec![0, 0, 0],
                threshold: vec![0.5, 0.0, 0.0],
                true_child: vec![1, LEAF, LEAF],
                false_child: vec![2, LEAF, LEAF],
                missing_true: vec![false; 3],
                value: vec![0.0, 0.0, 1.0],
            }],
            source: Source::default(),
        }
    }

    #[test]
    fn patch_adds_a_typed_output_after_the_others() {
        let model = super::super::onnx::to_model(&stump(), &Default::default()).unwrap();
        let bytes = to_bytes_with_zipmap(model).unwrap();
        let merged = ModelProto::decode(&*bytes).unwrap();
        let graph = merged.graph.unwrap();
        let names: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["label", "probabilities", ZIPMAP_OUTPUT]);
        assert_eq!(graph.node.last().unwrap().op_type, "ZipMap");
        let sig = ModelSignature::decode(&*bytes).unwrap();
        let out = &sig.graph.unwrap().output[2];
        assert_eq!(
            out.r#type.as_ref().unwrap().describe(),
            "seq(map(string, tensor(float)))"
        );
    }

    #[test]
    fn refuses_a_second_zipmap() {
        let mut model = super::super::onnx::to_model(&stump(), &Default::default()).unwrap();
        add_zipmap_node(&mut model).unwrap();
        assert_eq!(
            add_zipmap_node(&mut model),
            Err(ZipMapError::AlreadyPresent)
        );
    }
}
