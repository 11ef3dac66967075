//! The attributes of an `ai.onnx.ml` tree-ensemble node, read from the
//! file's protobuf without trusting anything in it.
//!
//! Two layouts exist. `TreeEnsembleClassifier` / `TreeEnsembleRegressor`
//! (opsets 1 and 3) key nodes by `(tree id, node id)` and list leaf weights
//! separately ([`KeyedNodes`]); `TreeEnsemble` (opset 5) addresses nodes
//! and leaves by position and names each tree's root ([`IndexedNodes`]).
//! Both are read here into [`Attributes`], borrowing the large integer
//! arrays from the parsed node; [`super::CompiledEnsemble::compile`] then
//! checks the structure. Readers for both protobuf bindings in use (tract's
//! and forest2onnx's own) go through [`OnnxNode`], so `inspect` sees exactly
//! what the runtime sees.

use std::borrow::Cow;

use crate::ir::Labels;

use super::error::AttributeError;

/// Largest `n_targets` accepted beyond what the file's own arrays justify:
/// each row allocates one score per target.
pub const MAX_TARGETS: usize = 1 << 16;

/// The tree-ensemble operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Operator {
    /// `TreeEnsembleClassifier` (opsets 1, 3).
    TreeEnsembleClassifier,
    /// `TreeEnsembleRegressor` (opsets 1, 3).
    TreeEnsembleRegressor,
    /// `TreeEnsemble` (opset 5).
    TreeEnsemble,
}

impl Operator {
    /// The operator's ONNX name.
    pub fn name(self) -> &'static str {
        match self {
            Operator::TreeEnsembleClassifier => "TreeEnsembleClassifier",
            Operator::TreeEnsembleRegressor => "TreeEnsembleRegressor",
            Operator::TreeEnsemble => "TreeEnsemble",
        }
    }

    /// The operator called `op_type`, if it is a tree ensemble.
    pub fn from_name(op_type: &str) -> Option<Operator> {
        Some(match op_type {
            "TreeEnsembleClassifier" => Operator::TreeEnsembleClassifier,
            "TreeEnsembleRegressor" => Operator::TreeEnsembleRegressor,
            "TreeEnsemble" => Operator::TreeEnsemble,
            _ => return None,
        })
    }
}

/// Element type of the thresholds and weights an ensemble was written with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32 (`nodes_values`, or float tensors at opset 5).
    #[default]
    Float,
    /// float64 (`*_as_tensor` at opset 3, double tensors at opset 5).
    Double,
    /// float16 tensors (opset 5).
    Half,
}

/// A node mode: a branch comparison, or a leaf (opsets 1 and 3 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Mode {
    /// `BRANCH_LEQ`: `x <= t`
    #[serde(rename = "BRANCH_LEQ")]
    Leq,
    /// `BRANCH_LT`: `x < t`
    #[serde(rename = "BRANCH_LT")]
    Lt,
    /// `BRANCH_GTE`: `x >= t`
    #[serde(rename = "BRANCH_GTE")]
    Gte,
    /// `BRANCH_GT`: `x > t`
    #[serde(rename = "BRANCH_GT")]
    Gt,
    /// `BRANCH_EQ`: `x == t`
    #[serde(rename = "BRANCH_EQ")]
    Eq,
    /// `BRANCH_NEQ`: `x != t`
    #[serde(rename = "BRANCH_NEQ")]
    Neq,
    /// `BRANCH_MEMBER` (opset 5): `x` is in the node's set.
    #[serde(rename = "BRANCH_MEMBER")]
    Member,
    /// `LEAF` (opsets 1 and 3).
    #[serde(rename = "LEAF")]
    Leaf,
}

impl Mode {
    /// An opset 1/3 `nodes_modes` string.
    pub fn from_name(s: &[u8]) -> Option<Mode> {
        Some(match s {
            b"BRANCH_LEQ" => Mode::Leq,
            b"BRANCH_LT" => Mode::Lt,
            b"BRANCH_GTE" => Mode::Gte,
            b"BRANCH_GT" => Mode::Gt,
            b"BRANCH_EQ" => Mode::Eq,
            b"BRANCH_NEQ" => Mode::Neq,
            b"LEAF" => Mode::Leaf,
            _ => return None,
        })
    }

    /// An opset 5 `nodes_modes` code (0..=6).
    pub fn from_code(code: u8) -> Option<Mode> {
        Some(match code {
            0 => Mode::Leq,
            1 => Mode::Lt,
            2 => Mode::Gte,
            3 => Mode::Gt,
            4 => Mode::Eq,
            5 => Mode::Neq,
            6 => Mode::Member,
            _ => return None,
        })
    }

    /// The name the ONNX specification gives the mode.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Leq => "BRANCH_LEQ",
            Mode::Lt => "BRANCH_LT",
            Mode::Gte => "BRANCH_GTE",
            Mode::Gt => "BRANCH_GT",
            Mode::Eq => "BRANCH_EQ",
            Mode::Neq => "BRANCH_NEQ",
            Mode::Member => "BRANCH_MEMBER",
            Mode::Leaf => "LEAF",
        }
    }
}

/// Post-transform applied to the aggregated scores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PostTransform {
    /// No transform.
    #[default]
    None,
    /// Softmax over the scores.
    Softmax,
    /// Logistic sigmoid per score.
    Logistic,
    /// Softmax over the non-zero scores; zeros stay zero.
    SoftmaxZero,
    /// Probit (inverse normal CDF) per score.
    Probit,
}

impl PostTransform {
    /// The name the ONNX specification gives the transform.
    pub fn name(self) -> &'static str {
        match self {
            PostTransform::None => "NONE",
            PostTransform::Softmax => "SOFTMAX",
            PostTransform::Logistic => "LOGISTIC",
            PostTransform::SoftmaxZero => "SOFTMAX_ZERO",
            PostTransform::Probit => "PROBIT",
        }
    }

    const ALLOWED: &'static str = "NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT (0..=4)";

    fn from_name(s: &[u8]) -> Option<PostTransform> {
        Some(match s {
            b"NONE" => PostTransform::None,
            b"SOFTMAX" => PostTransform::Softmax,
            b"LOGISTIC" => PostTransform::Logistic,
            b"SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            b"PROBIT" => PostTransform::Probit,
            _ => return None,
        })
    }

    fn from_code(code: i64) -> Option<PostTransform> {
        Some(match code {
            0 => PostTransform::None,
            1 => PostTransform::Softmax,
            2 => PostTransform::Logistic,
            3 => PostTransform::SoftmaxZero,
            4 => PostTransform::Probit,
            _ => return None,
        })
    }
}

/// How leaf values of one target combine over the trees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Aggregate {
    /// Sum.
    #[default]
    Sum,
    /// Mean over the trees.
    Average,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
}

impl Aggregate {
    /// The name the ONNX specification gives the function.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Sum => "SUM",
            Aggregate::Average => "AVERAGE",
            Aggregate::Min => "MIN",
            Aggregate::Max => "MAX",
        }
    }

    const ALLOWED: &'static str = "AVERAGE, SUM, MIN, MAX (0..=3)";

    fn from_name(s: &[u8]) -> Option<Aggregate> {
        Some(match s {
            b"SUM" => Aggregate::Sum,
            b"AVERAGE" => Aggregate::Average,
            b"MIN" => Aggregate::Min,
            b"MAX" => Aggregate::Max,
            _ => return None,
        })
    }

    fn from_code(code: i64) -> Option<Aggregate> {
        Some(match code {
            0 => Aggregate::Average,
            1 => Aggregate::Sum,
            2 => Aggregate::Min,
            3 => Aggregate::Max,
            _ => return None,
        })
    }
}

/// Opset 1/3 nodes, keyed by `(tree id, node id)`, with the leaf weights
/// listed separately (`class_*` or `target_*`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyedNodes<'a> {
    /// `nodes_treeids`
    pub tree_ids: Cow<'a, [i64]>,
    /// `nodes_nodeids`
    pub node_ids: Cow<'a, [i64]>,
    /// `nodes_featureids`
    pub feature_ids: Cow<'a, [i64]>,
    /// `nodes_modes`
    pub modes: Cow<'a, [Mode]>,
    /// `nodes_values` (or `nodes_values_as_tensor`)
    pub values: Cow<'a, [f64]>,
    /// `nodes_truenodeids`
    pub true_ids: Cow<'a, [i64]>,
    /// `nodes_falsenodeids`
    pub false_ids: Cow<'a, [i64]>,
    /// `nodes_missing_value_tracks_true` (empty = all false)
    pub missing_true: Cow<'a, [i64]>,
    /// `class_treeids` / `target_treeids`
    pub leaf_tree_ids: Cow<'a, [i64]>,
    /// `class_nodeids` / `target_nodeids`
    pub leaf_node_ids: Cow<'a, [i64]>,
    /// `class_ids` / `target_ids`
    pub leaf_targets: Cow<'a, [i64]>,
    /// `class_weights` / `target_weights` (or their `_as_tensor` twins)
    pub leaf_weights: Cow<'a, [f64]>,
}

/// Opset 5 nodes and leaves, addressed by position.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexedNodes<'a> {
    /// `tree_roots`: the position of each tree's root node.
    pub roots: Cow<'a, [i64]>,
    /// `nodes_featureids`
    pub feature_ids: Cow<'a, [i64]>,
    /// `nodes_modes` (never [`Mode::Leaf`])
    pub modes: Cow<'a, [Mode]>,
    /// `nodes_splits`
    pub splits: Cow<'a, [f64]>,
    /// `nodes_truenodeids`: a node position, or a leaf position when
    /// `true_leafs` says so.
    pub true_ids: Cow<'a, [i64]>,
    /// `nodes_trueleafs` (0 or 1)
    pub true_leafs: Cow<'a, [i64]>,
    /// `nodes_falsenodeids`
    pub false_ids: Cow<'a, [i64]>,
    /// `nodes_falseleafs` (0 or 1)
    pub false_leafs: Cow<'a, [i64]>,
    /// `nodes_missing_value_tracks_true` (empty = all false)
    pub missing_true: Cow<'a, [i64]>,
    /// `membership_values`: one NaN-terminated set per `BRANCH_MEMBER`
    /// node, in node order.
    pub membership: Cow<'a, [f64]>,
    /// `leaf_targetids`
    pub leaf_targets: Cow<'a, [i64]>,
    /// `leaf_weights`
    pub leaf_weights: Cow<'a, [f64]>,
}

/// The nodes of an ensemble, in their opset's layout.
#[derive(Clone, Debug, PartialEq)]
pub enum Nodes<'a> {
    /// Opsets 1 and 3.
    Keyed(KeyedNodes<'a>),
    /// Opset 5.
    Indexed(IndexedNodes<'a>),
}

/// Everything a tree-ensemble node says, read but not yet checked for
/// structure.
#[derive(Clone, Debug, PartialEq)]
pub struct Attributes<'a> {
    /// Which operator.
    pub operator: Operator,
    /// The trees.
    pub nodes: Nodes<'a>,
    /// `base_values` (empty = none; opsets 1 and 3).
    pub base_values: Cow<'a, [f64]>,
    /// `post_transform`
    pub post_transform: PostTransform,
    /// `aggregate_function` (regressors and opset 5).
    pub aggregate: Aggregate,
    /// Classes (classifier) or `n_targets`.
    pub n_outputs: usize,
    /// Class labels, for `TreeEnsembleClassifier`.
    pub class_labels: Option<Labels>,
    /// Element type of the thresholds and weights.
    pub precision: Precision,
}

impl Attributes<'_> {
    /// The attributes of a `TreeEnsembleClassifier`/`Regressor` (`classifier`
    /// says which) with `nodes`, every other attribute at its default.
    pub fn keyed(classifier: bool, nodes: KeyedNodes<'_>, n_outputs: usize) -> Attributes<'_> {
        Attributes {
            operator: if classifier {
                Operator::TreeEnsembleClassifier
            } else {
                Operator::TreeEnsembleRegressor
            },
            nodes: Nodes::Keyed(nodes),
            base_values: Cow::Borrowed(&[]),
            post_transform: PostTransform::None,
            aggregate: Aggregate::Sum,
            n_outputs,
            class_labels: classifier.then(|| Labels::Int((0..n_outputs as i64).collect())),
            precision: Precision::Float,
        }
    }

    /// The attributes of a `TreeEnsemble` with `nodes` and `n_targets`,
    /// every other attribute at its default.
    pub fn indexed(nodes: IndexedNodes<'_>, n_targets: usize) -> Attributes<'_> {
        Attributes {
            operator: Operator::TreeEnsemble,
            nodes: Nodes::Indexed(nodes),
            base_values: Cow::Borrowed(&[]),
            post_transform: PostTransform::None,
            aggregate: Aggregate::Sum,
            n_outputs: n_targets,
            class_labels: None,
            precision: Precision::Double,
        }
    }
}

/// The raw fields of one attribute, whichever protobuf binding parsed it.
#[derive(Clone, Copy, Debug)]
pub struct Attr<'a> {
    /// `AttributeProto.type` (0 when the writer left it unset).
    pub kind: i32,
    /// `i`
    pub i: i64,
    /// `s`
    pub s: &'a [u8],
    /// `ints`
    pub ints: &'a [i64],
    /// `floats`
    pub floats: &'a [f32],
    /// `strings`
    pub strings: Strings<'a>,
    /// `t`
    pub tensor: Option<TensorRef<'a>>,
}

/// A `strings` attribute as either binding holds it: tract's owns one vector
/// per string; ours shares slices of the decoded buffer (millions of
/// `nodes_modes` entries without an allocation each).
#[derive(Clone, Copy, Debug)]
pub enum Strings<'a> {
    /// One vector per string (tract's binding).
    Owned(&'a [Vec<u8>]),
    /// Slices of one shared buffer (forest2onnx's binding).
    Shared(&'a [prost::bytes::Bytes]),
}

impl<'a> Strings<'a> {
    /// How many strings.
    pub fn len(&self) -> usize {
        match self {
            Strings::Owned(v) => v.len(),
            Strings::Shared(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The strings, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (owned, shared) = match *self {
            Strings::Owned(v) => (v, &[][..]),
            Strings::Shared(v) => (&[][..], v),
        };
        owned
            .iter()
            .map(Vec::as_slice)
            .chain(shared.iter().map(|b| &b[..]))
    }
}

/// The raw fields of a tensor attribute.
#[derive(Clone, Copy, Debug)]
pub struct TensorRef<'a> {
    /// `data_type`
    pub data_type: i32,
    /// `dims`
    pub dims: &'a [i64],
    /// `float_data`
    pub float_data: &'a [f32],
    /// `double_data`
    pub double_data: &'a [f64],
    /// `int32_data` (also holds uint8 and float16 values)
    pub int32_data: &'a [i32],
    /// `raw_data` (little-endian)
    pub raw_data: &'a [u8],
}

/// A node of an ONNX graph, as either protobuf binding parsed it.
pub trait OnnxNode {
    /// `op_type`
    fn op_type(&self) -> &str;
    /// The attribute called `name`, if present.
    fn attribute(&self, name: &str) -> Option<Attr<'_>>;
}

macro_rules! onnx_node {
    ($node:ty, $strings:path) => {
        impl OnnxNode for $node {
            fn op_type(&self) -> &str {
                &self.op_type
            }

            fn attribute(&self, name: &str) -> Option<Attr<'_>> {
                let a = self.attribute.iter().find(|a| a.name == name)?;
                Some(Attr {
                    kind: a.r#type,
                    i: a.i,
                    s: &a.s,
                    ints: &a.ints,
                    floats: &a.floats,
                    strings: $strings(&a.strings),
                    tensor: a.t.as_ref().map(|t| TensorRef {
                        data_type: t.data_type,
                        dims: &t.dims,
                        float_data: &t.float_data,
                        double_data: &t.double_data,
                        int32_data: &t.int32_data,
                        raw_data: &t.raw_data,
                    }),
                })
            }
        }
    };
}

onnx_node!(tract_onnx::pb::NodeProto, Strings::Owned);
onnx_node!(crate::onnx_proto::NodeProto, Strings::Shared);

/// `AttributeProto.AttributeType` values.
mod kind {
    pub const UNDEFINED: i32 = 0;
    pub const INT: i32 = 2;
    pub const STRING: i32 = 3;
    pub const TENSOR: i32 = 4;
    pub const FLOATS: i32 = 6;
    pub const INTS: i32 = 7;
    pub const STRINGS: i32 = 8;

    pub fn name(kind: i32) -> String {
        match kind {
            1 => "a float".into(),
            INT => "an int".into(),
            STRING => "a string".into(),
            TENSOR => "a tensor".into(),
            5 => "a graph".into(),
            FLOATS => "a list of floats".into(),
            INTS => "a list of ints".into(),
            STRINGS => "a list of strings".into(),
            other => format!("of attribute type {other}"),
        }
    }
}

/// `TensorProto.DataType` values.
mod dtype {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const FLOAT16: i32 = 10;
    pub const DOUBLE: i32 = 11;

    pub fn name(t: i32) -> String {
        match t {
            FLOAT => "float".into(),
            UINT8 => "uint8".into(),
            3 => "int8".into(),
            6 => "int32".into(),
            7 => "int64".into(),
            8 => "string".into(),
            FLOAT16 => "float16".into(),
            DOUBLE => "double".into(),
            other => format!("data type {other}"),
        }
    }
}

/// Typed access to one node's attributes.
struct Reader<'n, N: ?Sized> {
    node: &'n N,
    op: &'static str,
}

impl<'n, N: OnnxNode + ?Sized> Reader<'n, N> {
    fn get(&self, name: &'static str, expected: i32) -> Result<Option<Attr<'n>>, AttributeError> {
        let Some(a) = self.node.attribute(name) else {
            return Ok(None);
        };
        if a.kind != kind::UNDEFINED && a.kind != expected {
            return Err(AttributeError::WrongType {
                attribute: name,
                expected: match expected {
                    kind::INT => "an int",
                    kind::STRING => "a string",
                    kind::TENSOR => "a tensor",
                    kind::FLOATS => "a list of floats",
                    kind::INTS => "a list of ints",
                    _ => "a list of strings",
                },
                found: kind::name(a.kind),
            });
        }
        Ok(Some(a))
    }

    fn required<T>(&self, name: &'static str, v: Option<T>) -> Result<T, AttributeError> {
        v.ok_or(AttributeError::Missing {
            op: self.op,
            attribute: name,
        })
    }

    fn ints(&self, name: &'static str) -> Result<Option<&'n [i64]>, AttributeError> {
        Ok(self.get(name, kind::INTS)?.map(|a| a.ints))
    }

    fn ints_or_empty(&self, name: &'static str) -> Result<Cow<'n, [i64]>, AttributeError> {
        Ok(Cow::Borrowed(self.ints(name)?.unwrap_or_default()))
    }

    fn int(&self, name: &'static str) -> Result<Option<i64>, AttributeError> {
        Ok(self.get(name, kind::INT)?.map(|a| a.i))
    }

    fn string(&self, name: &'static str) -> Result<Option<&'n [u8]>, AttributeError> {
        Ok(self.get(name, kind::STRING)?.map(|a| a.s))
    }

    fn tensor(&self, name: &'static str) -> Result<Option<TensorRef<'n>>, AttributeError> {
        match self.get(name, kind::TENSOR)? {
            None => Ok(None),
            Some(a) => a.tensor.map(Some).ok_or(AttributeError::WrongType {
                attribute: name,
                expected: "a tensor",
                found: "empty".into(),
            }),
        }
    }

    /// A float list attribute, or its double `_as_tensor` twin.
    fn floats_or_tensor(
        &self,
        name: &'static str,
        tensor_name: &'static str,
    ) -> Result<Option<(Vec<f64>, Precision)>, AttributeError> {
        let floats = self.get(name, kind::FLOATS)?;
        let tensor = self.tensor(tensor_name)?;
        match (floats, tensor) {
            (Some(f), Some(_)) if !f.floats.is_empty() => Err(AttributeError::Conflict {
                first: name,
                second: tensor_name,
            }),
            (_, Some(t)) => tensor_values(tensor_name, t).map(Some),
            (Some(f), None) => Ok(Some((
                f.floats.iter().map(|&v| f64::from(v)).collect(),
                Precision::Float,
            ))),
            (None, None) => Ok(None),
        }
    }
}

/// The values of a float, double or float16 tensor.
fn tensor_values(
    name: &'static str,
    t: TensorRef<'_>,
) -> Result<(Vec<f64>, Precision), AttributeError> {
    let bad = |why: String| AttributeError::BadTensor {
        attribute: name,
        why,
    };
    let raw = |width: usize| raw_chunks(name, t.raw_data, width);
    let (values, precision): (Vec<f64>, Precision) = match t.data_type {
        dtype::DOUBLE if t.raw_data.is_empty() => (t.double_data.to_vec(), Precision::Double),
        dtype::DOUBLE => (
            raw(8)?
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            Precision::Double,
        ),
        dtype::FLOAT if t.raw_data.is_empty() => (
            t.float_data.iter().map(|&v| f64::from(v)).collect(),
            Precision::Float,
        ),
        dtype::FLOAT => (
            raw(4)?
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
                .collect(),
            Precision::Float,
        ),
        dtype::FLOAT16 => {
            let half = |bits: u16| tract_onnx::prelude::f16::from_bits(bits).to_f64();
            let values = if t.raw_data.is_empty() {
                t.int32_data.iter().map(|&b| half(b as u16)).collect()
            } else {
                raw(2)?
                    .map(|c| half(u16::from_le_bytes(c.try_into().expect("2 bytes"))))
                    .collect()
            };
            (values, Precision::Half)
        }
        other => {
            return Err(bad(format!(
                "of {}; expected float, double or float16",
                dtype::name(other)
            )))
        }
    };
    check_dims(name, t.dims, values.len())?;
    Ok((values, precision))
}

/// `raw` split into little-endian values of `width` bytes.
fn raw_chunks<'a>(
    name: &'static str,
    raw: &'a [u8],
    width: usize,
) -> Result<std::slice::ChunksExact<'a, u8>, AttributeError> {
    if !raw.len().is_multiple_of(width) {
        return Err(AttributeError::BadTensor {
            attribute: name,
            why: format!(
                "{} bytes of raw data is not a whole number of {width}-byte values",
                raw.len()
            ),
        });
    }
    Ok(raw.chunks_exact(width))
}

/// The values of a uint8 tensor.
fn tensor_bytes(name: &'static str, t: TensorRef<'_>) -> Result<Vec<u8>, AttributeError> {
    if t.data_type != dtype::UINT8 {
        return Err(AttributeError::BadTensor {
            attribute: name,
            why: format!("of {}; expected uint8", dtype::name(t.data_type)),
        });
    }
    let values: Vec<u8> = if t.raw_data.is_empty() {
        t.int32_data
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                u8::try_from(v).map_err(|_| AttributeError::InvalidEntry {
                    attribute: name,
                    index: i,
                    value: v.to_string(),
                    what: "uint8",
                })
            })
            .collect::<Result<_, _>>()?
    } else {
        t.raw_data.to_vec()
    };
    check_dims(name, t.dims, values.len())?;
    Ok(values)
}

/// The tensor's shape must hold exactly the values it carries.
fn check_dims(name: &'static str, dims: &[i64], len: usize) -> Result<(), AttributeError> {
    let product = dims.iter().try_fold(1u64, |p, &d| {
        u64::try_from(d).ok().and_then(|d| p.checked_mul(d))
    });
    if product != Some(len as u64) {
        return Err(AttributeError::BadTensor {
            attribute: name,
            why: format!("shape {dims:?} does not hold its {len} values"),
        });
    }
    Ok(())
}

fn count(name: &'static str, value: i64, limit: usize) -> Result<usize, AttributeError> {
    if value <= 0 {
        return Err(AttributeError::Empty {
            attribute: name,
            what: "outputs",
        });
    }
    if value as u64 > limit as u64 {
        return Err(AttributeError::TooLarge {
            attribute: name,
            value: value as u64,
            limit: limit as u64,
        });
    }
    Ok(value as usize)
}

/// Reads the attributes of `node`, a tree-ensemble node.
pub fn read<N: OnnxNode + ?Sized>(node: &N) -> Result<Attributes<'_>, AttributeError> {
    let op_type = node.op_type();
    let operator = Operator::from_name(op_type).ok_or_else(|| AttributeError::InvalidValue {
        attribute: "op_type",
        value: op_type.to_string(),
        allowed: "TreeEnsembleClassifier, TreeEnsembleRegressor, TreeEnsemble",
    })?;
    let r = Reader {
        node,
        op: operator.name(),
    };
    match operator {
        Operator::TreeEnsemble => read_indexed(&r),
        _ => read_keyed(&r, operator),
    }
}

fn read_keyed<'n, N: OnnxNode + ?Sized>(
    r: &Reader<'n, N>,
    operator: Operator,
) -> Result<Attributes<'n>, AttributeError> {
    let classifier = operator == Operator::TreeEnsembleClassifier;
    let modes = match r.get("nodes_modes", kind::STRINGS)? {
        None => Vec::new(),
        Some(a) => a
            .strings
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Mode::from_name(s).ok_or_else(|| AttributeError::InvalidEntry {
                    attribute: "nodes_modes",
                    index: i,
                    value: format!("{:?}", String::from_utf8_lossy(s)),
                    what: "node mode (BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, BRANCH_EQ, BRANCH_NEQ, LEAF)",
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let mut precision = Precision::Float;
    let mut floats = |name, tensor_name| -> Result<Vec<f64>, AttributeError> {
        Ok(match r.floats_or_tensor(name, tensor_name)? {
            Some((v, p)) => {
                if p != Precision::Float {
                    precision = p;
                }
                v
            }
            None => Vec::new(),
        })
    };
    let values = floats("nodes_values", "nodes_values_as_tensor")?;
    let (prefix_weights, prefix_tensor) = if classifier {
        ("class_weights", "class_weights_as_tensor")
    } else {
        ("target_weights", "target_weights_as_tensor")
    };
    let leaf_weights = floats(prefix_weights, prefix_tensor)?;
    let base_values = floats("base_values", "base_values_as_tensor")?;
    let leaf =
        |class: &'static str, target: &'static str| -> Result<Cow<'n, [i64]>, AttributeError> {
            r.ints_or_empty(if classifier { class } else { target })
        };
    let nodes = KeyedNodes {
        tree_ids: r.ints_or_empty("nodes_treeids")?,
        node_ids: r.ints_or_empty("nodes_nodeids")?,
        feature_ids: r.ints_or_empty("nodes_featureids")?,
        modes: Cow::Owned(modes),
        values: Cow::Owned(values),
        true_ids: r.ints_or_empty("nodes_truenodeids")?,
        false_ids: r.ints_or_empty("nodes_falsenodeids")?,
        missing_true: r.ints_or_empty("nodes_missing_value_tracks_true")?,
        leaf_tree_ids: leaf("class_treeids", "target_treeids")?,
        leaf_node_ids: leaf("class_nodeids", "target_nodeids")?,
        leaf_targets: leaf("class_ids", "target_ids")?,
        leaf_weights: Cow::Owned(leaf_weights),
    };
    let (class_labels, n_outputs) = if classifier {
        let ints = r.ints("classlabels_int64s")?.filter(|v| !v.is_empty());
        let strings = r
            .get("classlabels_strings", kind::STRINGS)?
            .map(|a| a.strings)
            .filter(|v| !v.is_empty());
        let labels = match (ints, strings) {
            (Some(v), None) => Labels::Int(v.to_vec()),
            (None, Some(v)) => Labels::Str(
                v.iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            ),
            _ => return Err(AttributeError::ClassLabels),
        };
        let n = labels.len();
        (Some(labels), n)
    } else {
        let n = r.int("n_targets")?;
        let n = r.required("n_targets", n)?;
        let limit = MAX_TARGETS.max(nodes.leaf_targets.len() + base_values.len());
        (None, count("n_targets", n, limit)?)
    };
    let post_transform = match r.string("post_transform")? {
        None => PostTransform::None,
        Some(s) => PostTransform::from_name(s).ok_or_else(|| AttributeError::InvalidValue {
            attribute: "post_transform",
            value: format!("{:?}", String::from_utf8_lossy(s)),
            allowed: PostTransform::ALLOWED,
        })?,
    };
    let aggregate = match r.string("aggregate_function")? {
        None => Aggregate::Sum,
        Some(s) => Aggregate::from_name(s).ok_or_else(|| AttributeError::InvalidValue {
            attribute: "aggregate_function",
            value: format!("{:?}", String::from_utf8_lossy(s)),
            allowed: Aggregate::ALLOWED,
        })?,
    };
    Ok(Attributes {
        operator,
        nodes: Nodes::Keyed(nodes),
        base_values: Cow::Owned(base_values),
        post_transform,
        aggregate,
        n_outputs,
        class_labels,
        precision,
    })
}

fn read_indexed<'n, N: OnnxNode + ?Sized>(
    r: &Reader<'n, N>,
) -> Result<Attributes<'n>, AttributeError> {
    let modes_tensor = r.tensor("nodes_modes")?;
    let modes_tensor = r.required("nodes_modes", modes_tensor)?;
    let modes = tensor_bytes("nodes_modes", modes_tensor)?
        .into_iter()
        .enumerate()
        .map(|(i, code)| {
            Mode::from_code(code).ok_or_else(|| AttributeError::InvalidEntry {
                attribute: "nodes_modes",
                index: i,
                value: code.to_string(),
                what: "node mode (0..=6)",
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let float_tensor =
        |name: &'static str| -> Result<Option<(Vec<f64>, Precision)>, AttributeError> {
            r.tensor(name)?.map(|t| tensor_values(name, t)).transpose()
        };
    let splits = float_tensor("nodes_splits")?;
    let (splits, precision) = r.required("nodes_splits", splits)?;
    let weights = float_tensor("leaf_weights")?;
    let (leaf_weights, _) = r.required("leaf_weights", weights)?;
    let membership = float_tensor("membership_values")?.map_or_else(Vec::new, |(v, _)| v);
    let required_ints = |name: &'static str| -> Result<Cow<'n, [i64]>, AttributeError> {
        let v = r.ints(name)?;
        Ok(Cow::Borrowed(r.required(name, v)?))
    };
    let nodes = IndexedNodes {
        roots: required_ints("tree_roots")?,
        feature_ids: required_ints("nodes_featureids")?,
        modes: Cow::Owned(modes),
        splits: Cow::Owned(splits),
        true_ids: required_ints("nodes_truenodeids")?,
        true_leafs: required_ints("nodes_trueleafs")?,
        false_ids: required_ints("nodes_falsenodeids")?,
        false_leafs: required_ints("nodes_falseleafs")?,
        missing_true: r.ints_or_empty("nodes_missing_value_tracks_true")?,
        membership: Cow::Owned(membership),
        leaf_targets: required_ints("leaf_targetids")?,
        leaf_weights: Cow::Owned(leaf_weights),
    };
    let n = r.int("n_targets")?;
    let limit = MAX_TARGETS.max(nodes.leaf_targets.len());
    let n_outputs = count("n_targets", r.required("n_targets", n)?, limit)?;
    let code = |name: &'static str, default: i64| -> Result<i64, AttributeError> {
        Ok(r.int(name)?.unwrap_or(default))
    };
    let post = code("post_transform", 0)?;
    let post_transform =
        PostTransform::from_code(post).ok_or_else(|| AttributeError::InvalidValue {
            attribute: "post_transform",
            value: post.to_string(),
            allowed: PostTransform::ALLOWED,
        })?;
    let aggregate = code("aggregate_function", 1)?;
    let aggregate =
        Aggregate::from_code(aggregate).ok_or_else(|| AttributeError::InvalidValue {
            attribute: "aggregate_function",
            value: aggregate.to_string(),
            allowed: Aggregate::ALLOWED,
        })?;
    Ok(Attributes {
        operator: Operator::TreeEnsemble,
        nodes: Nodes::Indexed(nodes),
        base_values: Cow::Borrowed(&[]),
        post_transform,
        aggregate,
        n_outputs,
        class_labels: None,
        precision,
    })
}
