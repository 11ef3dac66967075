//! What an ONNX file says about itself, read from its protobuf alone
//! (nothing is run): signature, opsets, operators, and the shape of the
//! tree ensemble from the `TreeEnsemble*` node attributes.

use std::collections::{BTreeMap, HashMap, HashSet};

use forest2onnx::export::zipmap::ModelSignature;
use forest2onnx::onnx_proto::{AttributeProto, ModelProto, NodeProto};
use prost::Message;
use serde::Serialize;

/// One graph input or output.
#[derive(Clone, Debug, Serialize)]
pub struct Io {
    /// Value name.
    pub name: String,
    /// Type and shape, e.g. `tensor(float)[N, 4]`.
    #[serde(rename = "type")]
    pub ty: String,
}

/// The tree ensemble found in the graph.
#[derive(Clone, Debug, Serialize)]
pub struct EnsembleSummary {
    /// `ai.onnx.ml` operator, e.g. `TreeEnsembleClassifier`.
    pub op_type: String,
    /// Number of trees.
    pub trees: usize,
    /// Number of nodes, leaves included.
    pub nodes: usize,
    /// Number of leaves.
    pub leaves: usize,
    /// Depth of the deepest leaf (the root is at depth 0).
    pub max_depth: usize,
    /// Split modes used, e.g. `BRANCH_LEQ`.
    pub branch_modes: Vec<String>,
    /// `post_transform` attribute.
    pub post_transform: String,
    /// Class labels, for classifiers.
    pub classes: Option<Vec<String>>,
    /// Highest feature index split on, plus one.
    pub features_used: usize,
}

/// Everything `inspect` shows for an ONNX file.
#[derive(Clone, Debug, Serialize)]
pub struct OnnxInfo {
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
    /// Graph inputs.
    pub inputs: Vec<Io>,
    /// Graph outputs.
    pub outputs: Vec<Io>,
    /// Node count per operator (`domain:Op` outside the default domain).
    pub ops: BTreeMap<String, usize>,
    /// The tree ensemble, when there is one.
    pub ensemble: Option<EnsembleSummary>,
    /// Model metadata properties.
    pub metadata: BTreeMap<String, String>,
}

impl OnnxInfo {
    /// Summarises `model`, whose encoding is `bytes` (read again for the
    /// full output types, which the generated proto does not hold).
    pub fn new(model: &ModelProto, bytes: &[u8]) -> OnnxInfo {
        let graph = model.graph.clone().unwrap_or_default();
        let signature = ModelSignature::decode(bytes)
            .ok()
            .and_then(|s| s.graph)
            .unwrap_or_default();
        let ios = |v: &[forest2onnx::export::zipmap::ValueInfo]| -> Vec<Io> {
            v.iter()
                .map(|vi| Io {
                    name: vi.name.clone(),
                    ty: vi
                        .r#type
                        .as_ref()
                        .map_or("unknown type".into(), |t| t.describe()),
                })
                .collect()
        };
        let mut ops = BTreeMap::new();
        for node in &graph.node {
            let key = if node.domain.is_empty() || node.domain == "ai.onnx" {
                node.op_type.clone()
            } else {
                format!("{}:{}", node.domain, node.op_type)
            };
            *ops.entry(key).or_insert(0) += 1;
        }
        OnnxInfo {
            ir_version: model.ir_version,
            producer_name: model.producer_name.clone(),
            producer_version: model.producer_version.clone(),
            doc_string: model.doc_string.clone(),
            graph_name: graph.name.clone(),
            opsets: model
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
                .collect(),
            inputs: ios(&signature.input),
            outputs: ios(&signature.output),
            ops,
            ensemble: graph
                .node
                .iter()
                .find(|n| n.op_type.starts_with("TreeEnsemble"))
                .map(ensemble),
            metadata: model
                .metadata_props
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect(),
        }
    }

    /// Class labels as text: from the ensemble, else from the metadata.
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

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn ints(node: &NodeProto, name: &str) -> Vec<i64> {
    attr(node, name).map_or_else(Vec::new, |a| a.ints.clone())
}

fn ensemble(node: &NodeProto) -> EnsembleSummary {
    let tree_ids = ints(node, "nodes_treeids");
    let node_ids = ints(node, "nodes_nodeids");
    let true_ids = ints(node, "nodes_truenodeids");
    let false_ids = ints(node, "nodes_falsenodeids");
    let features = ints(node, "nodes_featureids");
    let modes: Vec<String> = attr(node, "nodes_modes").map_or_else(Vec::new, |a| {
        a.strings
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    });
    let is_leaf = |i: usize| modes.get(i).is_some_and(|m| m == "LEAF");
    let leaves = (0..node_ids.len()).filter(|&i| is_leaf(i)).count();
    let branch_modes: Vec<String> = modes
        .iter()
        .filter(|m| *m != "LEAF")
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let features_used = (0..node_ids.len())
        .filter(|&i| !is_leaf(i))
        .filter_map(|i| features.get(i))
        .max()
        .map_or(0, |&f| f as usize + 1);
    let classes = attr(node, "classlabels_strings")
        .filter(|a| !a.strings.is_empty())
        .map(|a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .or_else(|| {
            attr(node, "classlabels_int64s").map(|a| a.ints.iter().map(i64::to_string).collect())
        });
    EnsembleSummary {
        op_type: node.op_type.clone(),
        trees: tree_ids.iter().collect::<HashSet<_>>().len(),
        nodes: node_ids.len(),
        leaves,
        max_depth: max_depth(&tree_ids, &node_ids, &true_ids, &false_ids, &modes),
        branch_modes,
        post_transform: attr(node, "post_transform").map_or("NONE".into(), |a| {
            String::from_utf8_lossy(&a.s).into_owned()
        }),
        classes,
        features_used,
    }
}

/// Deepest leaf over all trees, walking from each tree's root (the node no
/// other node points to). Malformed links are skipped and cycles cut, so a
/// hostile file cannot hang or crash `inspect`.
fn max_depth(tree_ids: &[i64], node_ids: &[i64], t: &[i64], f: &[i64], modes: &[String]) -> usize {
    let mut children: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
    let mut nodes_of: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for i in 0..node_ids.len().min(tree_ids.len()) {
        nodes_of.entry(tree_ids[i]).or_default().push(node_ids[i]);
        if modes.get(i).is_some_and(|m| m != "LEAF") {
            if let (Some(&a), Some(&b)) = (t.get(i), f.get(i)) {
                children.insert((tree_ids[i], node_ids[i]), (a, b));
            }
        }
    }
    let mut deepest = 0;
    for (tree, nodes) in nodes_of {
        let pointed: HashSet<i64> = nodes
            .iter()
            .filter_map(|n| children.get(&(tree, *n)))
            .flat_map(|(a, b)| [*a, *b])
            .collect();
        let Some(&root) = nodes.iter().find(|n| !pointed.contains(n)) else {
            continue;
        };
        let mut seen = HashSet::new();
        let mut stack = vec![(root, 0usize)];
        while let Some((n, d)) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            deepest = deepest.max(d);
            if let Some(&(a, b)) = children.get(&(tree, n)) {
                stack.push((a, d + 1));
                stack.push((b, d + 1));
            }
        }
    }
    deepest
}
