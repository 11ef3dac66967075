//! What an ONNX file says about itself, read from its protobuf alone
//! (nothing is run): versions, signature, operators, precision, and the
//! tree ensemble as forest2onnx's operator compiles it — so `inspect`
//! reports exactly what the runtime would run, or why it refuses it.

use std::collections::BTreeMap;

use prost::Message;
use serde::Serialize;

use crate::onnx_proto::{ModelProto, NodeProto};
use crate::onnx_proto::{ModelSignature, ValueInfoProto as ValueInfo};

use super::attributes::{self, Aggregate, Mode, PostTransform, Precision};
use super::ensemble::CompiledEnsemble;
use super::model::ElementType;
use super::{onnx_file, RuntimeError};

/// One graph input or output.
#[derive(Clone, Debug, Serialize)]
pub struct ValueSummary {
    /// Value name.
    pub name: String,
    /// Type and shape, e.g. `tensor(float)[N, 4]`.
    #[serde(rename = "type")]
    pub ty: String,
}

/// A tree-ensemble node of the graph, as compiled by forest2onnx's operator.
#[derive(Clone, Debug, Serialize)]
pub struct EnsembleSummary {
    /// `ai.onnx.ml` operator, e.g. `TreeEnsembleClassifier`.
    pub op_type: String,
    /// The `ai.onnx.ml` opset the file imports.
    pub ml_opset: Option<i64>,
    /// Why forest2onnx's operator refuses the node; the other fields are
    /// then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Element type of the thresholds and weights.
    pub precision: Option<Precision>,
    /// Number of trees.
    pub trees: usize,
    /// Number of reachable nodes, leaves included.
    pub nodes: usize,
    /// Number of reachable leaves.
    pub leaves: usize,
    /// Longest root-to-leaf path (the root is at depth 0).
    pub max_depth: usize,
    /// Split modes used, e.g. `BRANCH_LEQ`.
    pub branch_modes: Vec<Mode>,
    /// `post_transform`.
    pub post_transform: Option<PostTransform>,
    /// `aggregate_function`.
    pub aggregate_function: Option<Aggregate>,
    /// Classes or targets per row.
    pub outputs: usize,
    /// Class labels, for classifiers.
    pub classes: Option<Vec<String>>,
    /// Highest feature index split on, plus one.
    pub features_used: usize,
}

/// Everything `inspect` shows for an ONNX file.
#[derive(Clone, Debug, Serialize)]
pub struct OnnxSummary {
    /// ONNX IR version.
    pub ir_version: i64,
    /// Producer name.
    pub producer_name: String,
    /// Producer version.
    pub producer_version: String,
    /// Model doc string.
    pub doc_string: String,
    /// Graph name.
    pub graph_name: String,
    /// Opset per domain (`ai.onnx` for the default domain).
    pub opsets: BTreeMap<String, i64>,
    /// Element type of the (first) graph input: the precision rows are
    /// read in.
    pub precision: Option<ElementType>,
    /// Graph inputs.
    pub inputs: Vec<ValueSummary>,
    /// Graph outputs.
    pub outputs: Vec<ValueSummary>,
    /// Node count per operator (`domain:Op` outside the default domain).
    pub ops: BTreeMap<String, usize>,
    /// The (first) tree-ensemble node, when there is one.
    pub ensemble: Option<EnsembleSummary>,
    /// Model metadata properties.
    pub metadata: BTreeMap<String, String>,
}

impl OnnxSummary {
    /// Summarises the ONNX model in `bytes`; refuses bytes that are no
    /// ONNX model and files that declare versions newer than forest2onnx
    /// knows.
    pub fn from_bytes(bytes: &[u8]) -> Result<OnnxSummary, RuntimeError> {
        // Decoded from a shared buffer: the strings of a forest's
        // `nodes_modes` become slices of it, not millions of allocations.
        let shared = prost::bytes::Bytes::copy_from_slice(bytes);
        let model = ModelProto::decode(shared).map_err(RuntimeError::Decode)?;
        onnx_file::check_versions(
            model.ir_version,
            model
                .opset_import
                .iter()
                .map(|o| (o.domain.as_str(), o.version)),
        )?;
        // Decoded again for the full output types (sequences and maps),
        // which the generated proto does not hold.
        let signature = ModelSignature::decode(bytes)
            .ok()
            .and_then(|s| s.graph)
            .unwrap_or_default();
        let graph = model.graph.clone().unwrap_or_default();
        let opsets: BTreeMap<String, i64> = model
            .opset_import
            .iter()
            .map(|o| {
                let d = if o.domain.is_empty() {
                    "ai.onnx"
                } else {
                    &o.domain
                };
                (d.to_string(), o.version)
            })
            .collect();
        let mut ops = BTreeMap::new();
        for node in &graph.node {
            let key = if node.domain.is_empty() || node.domain == "ai.onnx" {
                node.op_type.clone()
            } else {
                format!("{}:{}", node.domain, node.op_type)
            };
            *ops.entry(key).or_insert(0) += 1;
        }
        let ml_opset = opsets.get("ai.onnx.ml").copied();
        Ok(OnnxSummary {
            ir_version: model.ir_version,
            producer_name: model.producer_name.clone(),
            producer_version: model.producer_version.clone(),
            doc_string: model.doc_string.clone(),
            graph_name: graph.name.clone(),
            precision: signature.input.first().and_then(input_precision),
            inputs: values(&signature.input),
            outputs: values(&signature.output),
            ops,
            ensemble: graph
                .node
                .iter()
                .find(|n| attributes::Operator::from_name(&n.op_type).is_some())
                .map(|n| ensemble(n, ml_opset)),
            metadata: model
                .metadata_props
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect(),
            opsets,
        })
    }

    /// Class labels as text: from the ensemble, else from forest2onnx's
    /// metadata.
    pub fn class_labels(&self) -> Option<Vec<String>> {
        if let Some(c) = self.ensemble.as_ref().and_then(|e| e.classes.clone()) {
            return Some(c);
        }
        let json: serde_json::Value =
            serde_json::from_str(self.metadata.get("class_labels")?).ok()?;
        json.as_array()?
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Feature names recorded by forest2onnx in the metadata.
    pub fn feature_names(&self) -> Option<Vec<String>> {
        serde_json::from_str(self.metadata.get("feature_names")?).ok()
    }
}

fn values(v: &[ValueInfo]) -> Vec<ValueSummary> {
    v.iter()
        .map(|vi| ValueSummary {
            name: vi.name.clone(),
            ty: vi
                .r#type
                .as_ref()
                .map_or("unknown type".into(), |t| t.describe()),
        })
        .collect()
}

fn input_precision(v: &ValueInfo) -> Option<ElementType> {
    let ty = v.r#type.as_ref()?.describe();
    Some(if ty.starts_with("tensor(double)") {
        ElementType::Double
    } else if ty.starts_with("tensor(float)") {
        ElementType::Float
    } else {
        ElementType::Other
    })
}

fn ensemble(node: &NodeProto, ml_opset: Option<i64>) -> EnsembleSummary {
    let mut summary = EnsembleSummary {
        op_type: node.op_type.clone(),
        ml_opset,
        error: None,
        precision: None,
        trees: 0,
        nodes: 0,
        leaves: 0,
        max_depth: 0,
        branch_modes: Vec::new(),
        post_transform: None,
        aggregate_function: None,
        outputs: 0,
        classes: None,
        features_used: 0,
    };
    let compiled = attributes::read(node).and_then(|a| {
        let e = CompiledEnsemble::compile(&a)?;
        Ok((a.class_labels, e))
    });
    match compiled {
        Err(e) => summary.error = Some(e.to_string()),
        Ok((labels, e)) => {
            summary.precision = Some(e.precision());
            summary.trees = e.n_trees();
            summary.nodes = e.n_nodes();
            summary.leaves = e.n_leaves();
            summary.max_depth = e.max_depth();
            summary.branch_modes = e.modes();
            summary.post_transform = Some(e.post_transform());
            summary.aggregate_function = Some(e.aggregate());
            summary.outputs = e.n_outputs();
            summary.classes = labels.map(|l| l.to_strings());
            summary.features_used = e.n_features();
        }
    }
    summary
}
