//! The model around the tree-ensemble node: input reading before it,
//! standard ops after it (averages, base values, post-transforms, labels,
//! ZipMap), the graph's inputs and outputs, and the metadata.

use std::collections::BTreeMap;

use crate::ir::{
    Aggregation, CategoryRule, Forest, Labels, PostTransform, Precision as InputPrecision, Task,
};
use crate::onnx_proto::{
    tensor_proto::DataType, type_proto, AttributeProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TypeProto, ValueInfoProto,
};

use super::layout::{Layout, Op};
use super::messages::*;
use super::node::{ensemble_node, Attr, NodeFacts, ENSEMBLE_OUTPUT, ML_DOMAIN};
use super::{
    ExportOptions, Precision, INPUT, LABEL, PROBABILITIES, RAW_SCORE, SCORES, VARIABLE,
    ZIPMAP_OUTPUT,
};

/// ai.onnx opset of the standard ops.
const ONNX_OPSET: i64 = 13;

/// Everything but the columns, in the order the model is written.
pub(super) struct Shell {
    /// The model without its graph.
    pub model: ModelProto,
    /// Nodes before the ensemble node.
    pub pre: Vec<NodeProto>,
    /// The ensemble node without attributes, and its attributes.
    pub node: NodeProto,
    pub attributes: Vec<Attr>,
    /// Nodes after the ensemble node.
    pub post: Vec<NodeProto>,
    pub name: String,
    /// Constants, the leaf table excepted.
    pub initializers: Vec<TensorProto>,
    /// The leaf values of a leaf-index graph: the last initializer.
    pub table: Option<Table>,
    pub inputs: Vec<ValueInfoProto>,
    pub outputs: Vec<ValueInfoProto>,
}

/// The leaf table of a leaf-index graph: double, `[leaves, width]`, or
/// `[leaves]` when `flat`.
pub(super) struct Table {
    pub name: &'static str,
    pub width: usize,
    pub flat: bool,
}

/// What the graph needs besides the forest, its layout and the options.
pub(super) struct Facts {
    pub node: NodeFacts,
    /// Leaf-index graphs: each tree's first row in the leaf table.
    pub leaf_offsets: Vec<i64>,
}

/// Builds the standard-op part of the graph.
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// Element type of the input and outputs.
    real: DataType,
}

impl Builder {
    fn op(&mut self, op: &str, inputs: &[&str], output: &str) -> String {
        self.nodes.push(node(op, inputs, output));
        output.into()
    }

    fn op_with(
        &mut self,
        op: &str,
        inputs: &[&str],
        output: &str,
        attributes: Vec<AttributeProto>,
    ) -> String {
        let mut n = node(op, inputs, output);
        n.attribute = attributes;
        self.nodes.push(n);
        output.into()
    }

    fn cast(&mut self, input: &str, to: DataType, output: &str) -> String {
        self.op_with("Cast", &[input], output, vec![int_attr("to", to as i64)])
    }

    /// A constant of the graph's real type.
    fn real(&mut self, name: &str, dims: &[i64], data: &[f64]) -> String {
        self.constant(real_tensor(name, self.real, dims, data))
    }

    /// Adds constant `t` (once: constants of the same name are equal).
    fn constant(&mut self, t: TensorProto) -> String {
        let name = t.name.clone();
        if !self.initializers.iter().any(|i| i.name == name) {
            self.initializers.push(t);
        }
        name
    }
}

fn real_type(precision: Precision) -> DataType {
    if precision == Precision::Double {
        DataType::Double
    } else {
        DataType::Float
    }
}

/// The whole model but the columns.
pub(super) fn shell(
    forest: &Forest,
    layout: &Layout,
    options: &ExportOptions,
    facts: Facts,
) -> Shell {
    let real = real_type(layout.precision);
    let mut b = Builder {
        nodes: Vec::new(),
        initializers: Vec::new(),
        real,
    };
    let input = read_inputs(&mut b, forest, layout);
    let pre = std::mem::take(&mut b.nodes);
    let (node, attributes) = ensemble_node(forest, layout, &input, facts.node);
    let table = layout.leaf_index.then(|| Table {
        name: "leaf_values",
        width: forest.leaf_width(),
        flat: forest.tree_target(0).is_some(),
    });
    let sums = sums(&mut b, forest, layout, &facts.leaf_offsets, table.as_ref());
    let mut outputs = finish(&mut b, forest, layout, &sums);
    if options.zipmap {
        outputs.push(zipmap(&mut b, forest, real));
    }
    let model = ModelProto {
        // ai.onnx.ml opset 5 came with ONNX 1.16 (IR version 10); opset 3
        // with ONNX 1.10 (IR version 8).
        ir_version: if layout.ml_opset == 5 { 10 } else { 8 },
        producer_name: "forest2onnx".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: options.doc_string.clone(),
        graph: None,
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: ONNX_OPSET,
            },
            OperatorSetIdProto {
                domain: ML_DOMAIN.into(),
                version: layout.ml_opset,
            },
        ],
        metadata_props: metadata(forest, layout, options)
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key, value })
            .collect(),
        ..Default::default()
    };
    Shell {
        model,
        pre,
        node,
        attributes,
        post: b.nodes,
        name: options.graph_name.clone(),
        initializers: b.initializers,
        table,
        inputs: vec![matrix_value(INPUT, real, forest.n_features as i64)],
        outputs,
    }
}

/// Nodes reading the input as the source library does; returns the
/// ensemble's input.
fn read_inputs(b: &mut Builder, forest: &Forest, layout: &Layout) -> String {
    let mut x = INPUT.to_string();
    if layout.precision == Precision::Double && forest.input.precision == InputPrecision::F32 {
        // The source rounds inputs to float32 before routing.
        let rounded = b.cast(&x, DataType::Float, "input_as_float32");
        x = b.cast(&rounded, DataType::Double, "input_read");
    }
    let zero = &forest.input.zero_as_missing;
    if !zero.is_empty() {
        let n = forest.n_features;
        let mut mask = vec![false; n];
        for &f in zero {
            if let Some(m) = mask.get_mut(f as usize) {
                *m = true;
            }
        }
        let mask = b.constant(bool_tensor("zero_as_missing_features", &[n as i64], &mask));
        // ZERO_THRESHOLD is a float32 value: the same in both precisions.
        let t = b.real("zero_threshold", &[], &[crate::ir::ZERO_THRESHOLD]);
        let nan = b.real("missing", &[], &[f64::NAN]);
        let abs = b.op("Abs", &[&x], "input_abs");
        let small = b.op("LessOrEqual", &[&abs, &t], "input_in_zero_band");
        let zero = b.op("And", &[&small, &mask], "input_zero_as_missing");
        x = b.op("Where", &[&zero, &nan, &x], "input_zero_read");
    }
    if !layout.categorical_features.is_empty() {
        let features: Vec<i64> = layout
            .categorical_features
            .iter()
            .map(|&f| i64::from(f))
            .collect();
        let m = features.len() as i64;
        let features = b.constant(i64_tensor("categorical_features", &[m], features));
        let none = b.real("no_category", &[], &[-1.0]);
        let values = b.op_with(
            "Gather",
            &[&x, &features],
            "categorical_values",
            vec![int_attr("axis", 1)],
        );
        let categories = match forest.input.categories {
            CategoryRule::NonNegative => {
                let zero = b.real("category_zero", &[], &[0.0]);
                let negative = b.op("Less", &[&values, &zero], "categorical_negative");
                let floor = b.op("Floor", &[&values], "categorical_floor");
                b.op("Where", &[&negative, &none, &floor], "categories")
            }
            CategoryRule::TowardZero => {
                let minus_one = b.real("category_minus_one", &[], &[-1.0]);
                let negative = b.op(
                    "LessOrEqual",
                    &[&values, &minus_one],
                    "categorical_negative",
                );
                let abs = b.op("Abs", &[&values], "categorical_abs");
                let floor = b.op("Floor", &[&abs], "categorical_floor");
                b.op("Where", &[&negative, &none, &floor], "categories")
            }
            CategoryRule::Integral => {
                // No category: negative, or fractional (`⌊x⌋ < x`; false
                // for NaN, which stays NaN, and for the infinities, which
                // match no category anyway).
                let zero = b.real("category_zero", &[], &[0.0]);
                let negative = b.op("Less", &[&values, &zero], "categorical_negative");
                let floor = b.op("Floor", &[&values], "categorical_floor");
                let fractional = b.op("Less", &[&floor, &values], "categorical_fractional");
                let no_category = b.op("Or", &[&negative, &fractional], "categorical_none");
                b.op("Where", &[&no_category, &none, &floor], "categories")
            }
        };
        x = b.op_with(
            "Concat",
            &[&x, &categories],
            "input_with_categories",
            vec![int_attr("axis", 1)],
        );
    }
    x
}

/// Nodes turning the ensemble's output into the summed leaf values (votes,
/// for voting forests) in the graph's real type; returns their name.
fn sums(
    b: &mut Builder,
    forest: &Forest,
    layout: &Layout,
    leaf_offsets: &[i64],
    table: Option<&Table>,
) -> String {
    if let Some(table) = table {
        let n = leaf_offsets.len() as i64;
        let numbers = b.cast(ENSEMBLE_OUTPUT, DataType::Int64, "leaf_numbers");
        let offsets = b.constant(i64_tensor("leaf_offsets", &[n], leaf_offsets.to_vec()));
        let rows = b.op("Add", &[&numbers, &offsets], "leaf_rows");
        let values = b.op_with(
            "Gather",
            &[table.name, &rows],
            "leaf_values_reached",
            vec![int_attr("axis", 0)],
        );
        if table.flat {
            // One score per tree: a 0/1 matrix adds each tree to its score.
            let w = forest.score_width();
            let mut onehot = vec![0.0; leaf_offsets.len() * w];
            for t in 0..leaf_offsets.len() {
                onehot[t * w + forest.tree_target(t).unwrap_or(0) as usize] = 1.0;
            }
            let m = b.real("tree_scores", &[n, w as i64], &onehot);
            return b.op("MatMul", &[&values, &m], "sums");
        }
        let axes = b.constant(i64_tensor("tree_axis", &[1], vec![1]));
        return b.op_with(
            "ReduceSum",
            &[&values, &axes],
            "sums",
            vec![int_attr("keepdims", 0)],
        );
    }
    if layout.precision == Precision::Double && layout.op != Op::TreeEnsemble {
        // Votes, exact in the float32 output of opset 3's operators.
        return b.cast(ENSEMBLE_OUTPUT, DataType::Double, "sums");
    }
    ENSEMBLE_OUTPUT.into()
}

/// The output nodes; returns the graph outputs (the ZipMap one aside).
fn finish(b: &mut Builder, forest: &Forest, layout: &Layout, sums: &str) -> Vec<ValueInfoProto> {
    let real = b.real;
    let n_trees = forest.trees.len() as f64;
    let main = match forest.task {
        Task::Classification(_) => PROBABILITIES,
        Task::Regression { .. } => VARIABLE,
        Task::AnomalyDetection { .. } => SCORES,
    };
    let n_out = forest.n_outputs() as i64;
    let mut outputs = Vec::new();
    match &forest.aggregation {
        Aggregation::Vote | Aggregation::Average if layout.signed_binary() => {
            // Class 1's column holds s = Σ (p1 - p0); p = (n ∓ s) / 2n.
            let start = b.constant(i64_tensor("slice_start", &[1], vec![1]));
            let end = b.constant(i64_tensor("slice_end", &[1], vec![2]));
            let axis = b.constant(i64_tensor("slice_axis", &[1], vec![1]));
            let sign = b.real("class_sign", &[2], &[-1.0, 1.0]);
            let pair = b.real("n_trees_pair", &[2], &[n_trees, n_trees]);
            let two_n = b.real("two_n_trees", &[], &[2.0 * n_trees]);
            let s = b.op("Slice", &[sums, &start, &end, &axis], "sum_score");
            let signed = b.op("Mul", &[&s, &sign], "signed_score");
            let votes = b.op("Add", &[&signed, &pair], "class_votes");
            b.op("Div", &[&votes, &two_n], main);
        }
        Aggregation::Vote | Aggregation::Average => {
            let n = b.real("n_trees", &[], &[n_trees]);
            b.op("Div", &[sums, &n], main);
        }
        Aggregation::Sum {
            base_values,
            post_transform,
            ..
        } => {
            let w = base_values.len() as i64;
            if layout.base_in_node || base_values.iter().all(|&v| v == 0.0) {
                b.op("Identity", &[sums], RAW_SCORE);
            } else {
                let base = b.real("base_values", &[w], base_values);
                b.op("Add", &[sums, &base], RAW_SCORE);
            }
            outputs.push(matrix_value(RAW_SCORE, real, w));
            match (&forest.task, post_transform) {
                (
                    Task::AnomalyDetection { offset },
                    PostTransform::IsolationScore { normalizer },
                ) => {
                    return anomaly(b, *normalizer, *offset, outputs);
                }
                _ => transform(b, *post_transform, w, n_out, main),
            }
        }
    }
    let mut main_outputs = vec![matrix_value(main, real, n_out)];
    if let Some(labels) = forest.class_labels() {
        main_outputs.insert(0, label(b, labels));
    }
    main_outputs.extend(outputs);
    main_outputs
}

/// `RAW_SCORE` → `out` as [`PostTransform`] says, the IR's formulas op by op.
fn transform(b: &mut Builder, transform: PostTransform, width: i64, n_out: i64, out: &str) {
    let one = |b: &mut Builder| b.real("one", &[], &[1.0]);
    let sigmoid = |b: &mut Builder, x: &str, output: &str| {
        let one = one(b);
        let neg = b.op("Neg", &[x], &format!("{output}_neg"));
        let exp = b.op("Exp", &[&neg], &format!("{output}_exp"));
        let denominator = b.op("Add", &[&one, &exp], &format!("{output}_denominator"));
        b.op("Div", &[&one, &denominator], output)
    };
    let binary = width == 1 && n_out == 2;
    let concat = |b: &mut Builder, a: &str, c: &str| {
        b.op_with("Concat", &[a, c], out, vec![int_attr("axis", 1)]);
    };
    match transform {
        PostTransform::None if binary => {
            let neg = b.op("Neg", &[RAW_SCORE], "negated_score");
            concat(b, &neg, RAW_SCORE);
        }
        PostTransform::Logistic if binary => {
            let p1 = sigmoid(b, RAW_SCORE, "positive_probability");
            let one = one(b);
            let p0 = b.op("Sub", &[&one, &p1], "negative_probability");
            concat(b, &p0, &p1);
        }
        PostTransform::None => {
            b.op("Identity", &[RAW_SCORE], out);
        }
        PostTransform::Logistic => {
            sigmoid(b, RAW_SCORE, out);
        }
        PostTransform::Exp => {
            b.op("Exp", &[RAW_SCORE], out);
        }
        PostTransform::SignedSquare => {
            let abs = b.op("Abs", &[RAW_SCORE], "score_abs");
            b.op("Mul", &[RAW_SCORE, &abs], out);
        }
        PostTransform::Softplus => softplus(b, out),
        PostTransform::Step => {
            let zero = b.real("zero", &[], &[0.0]);
            let positive = b.op("Greater", &[RAW_SCORE, &zero], "score_positive");
            b.cast(&positive, b.real, out);
        }
        PostTransform::Softmax => {
            b.op_with("Softmax", &[RAW_SCORE], out, vec![int_attr("axis", 1)]);
        }
        // Only anomaly detectors take it (checked): see `anomaly`.
        PostTransform::IsolationScore { .. } => unreachable!("checked forest"),
    }
}

/// `log1p(exp(s))` with standard operators, as LightGBM computes it. ONNX
/// has no `log1p`, and `ln(1 + y)` loses `y`'s low bits when `y` is small;
/// `ln(u) · y / (u − 1)` with `u = 1 + y` (`y` itself when `u` is 1) is
/// within a few ulps of `log1p(y)` (Goldberg, "What every computer scientist
/// should know about floating-point arithmetic", theorem 4).
fn softplus(b: &mut Builder, out: &str) {
    let one = b.real("one", &[], &[1.0]);
    let y = b.op("Exp", &[RAW_SCORE], "softplus_exp");
    let u = b.op("Add", &[&one, &y], "softplus_u");
    let u_minus_one = b.op("Sub", &[&u, &one], "softplus_u_minus_one");
    let log_u = b.op("Log", &[&u], "softplus_log_u");
    let scaled = b.op("Mul", &[&log_u, &y], "softplus_scaled");
    let ratio = b.op("Div", &[&scaled, &u_minus_one], "softplus_ratio");
    let exact = b.op("Equal", &[&u, &one], "softplus_u_is_one");
    b.op("Where", &[&exact, &y, &ratio], out);
}

/// An isolation forest's `scores` and `label` from `RAW_SCORE`, computed in
/// double whatever the precision: the label is the sign of
/// `score_samples - offset`, often exactly 0 on training rows.
fn anomaly(
    b: &mut Builder,
    normalizer: f64,
    offset: f64,
    mut outputs: Vec<ValueInfoProto>,
) -> Vec<ValueInfoProto> {
    let real = b.real;
    let double = |b: &mut Builder, name: &str, v: f64| {
        b.constant(real_tensor(name, DataType::Double, &[], &[v]))
    };
    let raw = if real == DataType::Double {
        RAW_SCORE.to_string()
    } else {
        b.cast(RAW_SCORE, DataType::Double, "raw_score_double")
    };
    let ratio = if normalizer == 0.0 {
        // scikit-learn takes the ratio as 1 when the normalizer is 0.
        let zero = double(b, "zero_double", 0.0);
        let one = double(b, "one_double", 1.0);
        let none = b.op("Mul", &[&raw, &zero], "path_ratio_zero");
        b.op("Add", &[&none, &one], "path_ratio")
    } else {
        let d = double(b, "normalizer", normalizer);
        b.op("Div", &[&raw, &d], "path_ratio")
    };
    let two = double(b, "two", 2.0);
    let offset = double(b, "offset", offset);
    let neg = b.op("Neg", &[&ratio], "negated_ratio");
    let pow = b.op("Pow", &[&two, &neg], "two_to_the_negated_ratio");
    let samples = b.op("Neg", &[&pow], "score_samples");
    let decision = b.op("Sub", &[&samples, &offset], "decision_function");
    let both = if real == DataType::Double {
        SCORES
    } else {
        "scores_double"
    };
    b.op_with(
        "Concat",
        &[&samples, &decision],
        both,
        vec![int_attr("axis", 1)],
    );
    if real != DataType::Double {
        b.cast(both, real, SCORES);
    }
    let shape = b.constant(i64_tensor("flat", &[1], vec![-1]));
    let flat = b.op("Reshape", &[&decision, &shape], "decision_flat");
    let zero = double(b, "decision_zero", 0.0);
    let inlier = b.op("GreaterOrEqual", &[&flat, &zero], "inlier");
    let one = b.constant(i64_tensor("inlier_label", &[], vec![1]));
    let minus_one = b.constant(i64_tensor("outlier_label", &[], vec![-1]));
    b.op("Where", &[&inlier, &one, &minus_one], LABEL);
    let mut all = vec![
        column_value(LABEL, DataType::Int64),
        matrix_value(SCORES, real, 2),
    ];
    all.append(&mut outputs);
    all
}

/// `probabilities` → `label`: the first class with the highest probability.
fn label(b: &mut Builder, labels: &Labels) -> ValueInfoProto {
    let k = labels.len() as i64;
    let (tensor, dt) = match labels {
        Labels::Int(v) => (i64_tensor("class_labels", &[k], v.clone()), DataType::Int64),
        Labels::Float(v) => (
            real_tensor("class_labels", DataType::Double, &[k], v),
            DataType::Double,
        ),
        Labels::Str(v) => (
            TensorProto {
                name: "class_labels".into(),
                dims: vec![k],
                data_type: DataType::String as i32,
                string_data: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
                ..Default::default()
            },
            DataType::String,
        ),
    };
    let labels = b.constant(tensor);
    let index = b.op_with(
        "ArgMax",
        &[PROBABILITIES],
        "class_index",
        vec![int_attr("axis", 1), int_attr("keepdims", 0)],
    );
    b.op_with(
        "Gather",
        &[&labels, &index],
        LABEL,
        vec![int_attr("axis", 0)],
    );
    column_value(LABEL, dt)
}

/// The ZipMap node (one `{label: probability}` map per row) and its output.
fn zipmap(b: &mut Builder, forest: &Forest, real: DataType) -> ValueInfoProto {
    let input = if real == DataType::Float {
        PROBABILITIES.to_string()
    } else {
        // ZipMap takes float32 probabilities.
        b.cast(PROBABILITIES, DataType::Float, "probabilities_float")
    };
    let (attribute, key) = match forest.class_labels() {
        Some(Labels::Str(v)) => (
            strings_attr(
                "classlabels_strings",
                v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ),
            DataType::String,
        ),
        Some(Labels::Int(v)) => (ints_attr("classlabels_int64s", v.clone()), DataType::Int64),
        // Refused by the layout.
        _ => (ints_attr("classlabels_int64s", Vec::new()), DataType::Int64),
    };
    let mut zipmap = node("ZipMap", &[&input], ZIPMAP_OUTPUT);
    zipmap.name = "zipmap".into();
    zipmap.domain = ML_DOMAIN.into();
    zipmap.attribute = vec![attribute];
    b.nodes.push(zipmap);
    let float = TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: DataType::Float as i32,
            shape: None,
        })),
        ..Default::default()
    };
    let map = TypeProto {
        value: Some(type_proto::Value::MapType(Box::new(type_proto::Map {
            key_type: key as i32,
            value_type: Some(Box::new(float)),
        }))),
        ..Default::default()
    };
    ValueInfoProto {
        name: ZIPMAP_OUTPUT.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::SequenceType(Box::new(
                type_proto::Sequence {
                    elem_type: Some(Box::new(map)),
                },
            ))),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn metadata(forest: &Forest, layout: &Layout, options: &ExportOptions) -> BTreeMap<String, String> {
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
        match forest.aggregation {
            Aggregation::Vote => "vote",
            Aggregation::Average => "average",
            Aggregation::Sum { .. } => "sum",
        }
        .into(),
    );
    m.insert("precision".into(), layout.precision.name().into());
    if let Some(labels) = forest.class_labels() {
        let json = match labels {
            Labels::Int(v) => serde_json::to_string(v),
            // JSON has no NaN: float labels as Python spells them.
            Labels::Float(_) => serde_json::to_string(&labels.to_strings()),
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
    m.insert(
        "created".into(),
        options.created.clone().unwrap_or_default(),
    );
    m
}
