//! The PMML document around the trees: header, data dictionary, mining
//! schemas, outputs, segmentations and the post-transform models.

use std::io::{self, Write};

use crate::ir::Aggregation;

use super::plan::{number, Link, Plan, Shape};
use super::segments::{segment_start, Chunking, Doc, Segment, TreeKind};
use super::tree::{write_constant, Classes, Leaf};
use super::writer::Xml;
use super::{PmmlOptions, INDENT_MAX_DEPTH, INDENT_MAX_NODES, NAMESPACE};

/// Writes the whole document for `plan` to `out`, its trees rendered in
/// parallel in chunks as `chunking` says (the bytes do not depend on it).
pub(crate) fn write<W: Write>(
    plan: &Plan,
    options: &PmmlOptions,
    out: W,
    chunking: Chunking,
) -> io::Result<W> {
    let forest = plan.forest;
    let indent = options.indent.unwrap_or_else(|| {
        forest.n_nodes() <= INDENT_MAX_NODES && forest.max_depth() <= INDENT_MAX_DEPTH
    });
    let mut doc = Doc::new(Xml::new(indent), out, chunking);
    let xml = &mut doc.xml;
    xml.declaration();
    xml.start("PMML", &[("xmlns", NAMESPACE), ("version", "4.4")]);
    let description = options.description.clone().unwrap_or_else(|| {
        let s = &forest.source;
        let what = if s.estimator.is_empty() {
            "forest"
        } else {
            &s.estimator
        };
        if s.library.is_empty() {
            what.to_string()
        } else {
            format!("{what} ({} {})", s.library, s.version)
        }
    });
    xml.start("Header", &[("description", &description)]);
    xml.empty(
        "Application",
        &[
            ("name", "forest2onnx"),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
    );
    xml.end("Header");
    data_dictionary(xml, plan);

    let function = if plan.labels.is_some() {
        "classification"
    } else {
        "regression"
    };
    let mut attrs = vec![("functionName", function)];
    if let Some(name) = &options.model_name {
        attrs.push(("modelName", name));
    }
    if !forest.source.estimator.is_empty() {
        attrs.push(("algorithmName", &forest.source.estimator));
    }
    xml.start("MiningModel", &attrs);
    mining_schema(xml, plan, true);
    // A chain's outputs belong to its last model: JPMML finds no class
    // probabilities for integer or double labels in a top-level `Output`
    // over a `modelChain` (it reads them as 0).
    if !plan.shape.is_chain() {
        outputs(xml, plan);
    }
    match plan.shape {
        Shape::Vote | Shape::AverageClassifier | Shape::AverageRegressor => {
            // Votes are averaged one-hot distributions rather than
            // `majorityVote`, whose ties JPMML gives to the class voted
            // first (the IR gives them to the lowest class index).
            let leaf = |classes| match plan.shape {
                Shape::Vote => Leaf::Vote(classes),
                Shape::AverageClassifier => Leaf::Distribution(classes),
                _ => Leaf::Value(0),
            };
            let kind = TreeKind {
                function,
                with_target: plan.labels.is_some(),
            };
            let segments: Vec<Segment> = (0..forest.trees.len())
                .map(|t| Segment {
                    id: t,
                    tree: t,
                    leaf: leaf(if t == 0 {
                        Classes::All
                    } else {
                        Classes::NonZero
                    }),
                })
                .collect();
            xml.start("Segmentation", &[("multipleModelMethod", "average")]);
            doc.segments(plan, kind, &segments)?;
            doc.xml.end("Segmentation");
        }
        Shape::SumRegressor(Link::Identity) | Shape::Anomaly { .. } => {
            sum_segmentation(&mut doc, plan, 0)?;
        }
        Shape::SumRegressor(_) | Shape::BinaryLogistic | Shape::Softmax => {
            xml.start("Segmentation", &[("multipleModelMethod", "modelChain")]);
            for k in 0..plan.raw.len() {
                let xml = &mut doc.xml;
                segment_start(xml, k);
                xml.start("MiningModel", &[("functionName", "regression")]);
                mining_schema(xml, plan, false);
                xml.start("Output", &[]);
                xml.empty(
                    "OutputField",
                    &[
                        ("name", &plan.raw[k]),
                        ("optype", "continuous"),
                        ("dataType", "double"),
                        ("feature", "predictedValue"),
                        ("isFinalResult", "false"),
                    ],
                );
                xml.end("Output");
                sum_segmentation(&mut doc, plan, k)?;
                doc.xml.end("MiningModel");
                doc.xml.end("Segment");
            }
            let xml = &mut doc.xml;
            segment_start(xml, plan.raw.len());
            transform_model(xml, plan, function);
            xml.end("Segment");
            xml.end("Segmentation");
        }
    }
    doc.xml.end("MiningModel");
    doc.xml.end("PMML");
    doc.finish()
}

fn data_dictionary(xml: &mut Xml, plan: &Plan) {
    let n = (plan.features.len() + 1).to_string();
    xml.start("DataDictionary", &[("numberOfFields", &n)]);
    for name in &plan.features {
        xml.empty(
            "DataField",
            &[
                ("name", name),
                ("optype", "continuous"),
                ("dataType", "double"),
            ],
        );
    }
    match &plan.labels {
        Some((values, data_type)) => {
            xml.start(
                "DataField",
                &[
                    ("name", &plan.target),
                    ("optype", "categorical"),
                    ("dataType", data_type),
                ],
            );
            for v in values {
                xml.empty("Value", &[("value", v)]);
            }
            xml.end("DataField");
        }
        None => xml.empty(
            "DataField",
            &[
                ("name", &plan.target),
                ("optype", "continuous"),
                ("dataType", "double"),
            ],
        ),
    }
    xml.end("DataDictionary")
}

/// Every feature (and the target when `with_target`).
fn mining_schema(xml: &mut Xml, plan: &Plan, with_target: bool) {
    xml.start("MiningSchema", &[]);
    if with_target {
        xml.empty(
            "MiningField",
            &[("name", &plan.target), ("usageType", "target")],
        );
    }
    for name in &plan.features {
        xml.empty("MiningField", &[("name", name)]);
    }
    xml.end("MiningSchema")
}

fn continuous<'a>(name: &'a str, feature: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("name", name),
        ("optype", "continuous"),
        ("dataType", "double"),
        ("feature", feature),
    ]
}

fn outputs(xml: &mut Xml, plan: &Plan) {
    xml.start("Output", &[]);
    match (&plan.labels, plan.shape) {
        (Some((values, data_type)), _) => {
            for (name, value) in plan.out_probabilities.iter().zip(values) {
                let mut attrs = continuous(name, "probability").to_vec();
                attrs.push(("value", value));
                xml.empty("OutputField", &attrs);
            }
            first_argmax_label(xml, plan, values, data_type);
        }
        (None, Shape::Anomaly { offset, normalizer }) => {
            xml.empty(
                "OutputField",
                &continuous(&plan.out_prediction, "predictedValue"),
            );
            anomaly_outputs(xml, plan, offset, normalizer);
        }
        (None, _) => {
            xml.empty(
                "OutputField",
                &continuous(&plan.out_prediction, "predictedValue"),
            );
        }
    }
    xml.end("Output")
}

/// The label output: the first class of highest probability, computed from
/// the probability outputs, so that it breaks ties as the IR does (lowest
/// class index) whatever the evaluator's own predicted value does:
/// `if p0 >= max(p1, ..) then l0 else if p1 >= max(p2, ..) then l1 ... else
/// l_last`.
fn first_argmax_label(xml: &mut Xml, plan: &Plan, labels: &[String], data_type: &str) {
    let p = &plan.out_probabilities;
    let k = labels.len();
    xml.start(
        "OutputField",
        &[
            ("name", &plan.out_label),
            ("optype", "categorical"),
            ("dataType", data_type),
            ("feature", "transformedValue"),
        ],
    );
    for i in 0..k - 1 {
        xml.start("Apply", &[("function", "if")]);
        xml.start("Apply", &[("function", "greaterOrEqual")]);
        xml.empty("FieldRef", &[("field", &p[i])]);
        if i + 2 == k {
            xml.empty("FieldRef", &[("field", &p[i + 1])]);
        } else {
            xml.start("Apply", &[("function", "max")]);
            for q in &p[i + 1..] {
                xml.empty("FieldRef", &[("field", q)]);
            }
            xml.end("Apply");
        }
        xml.end("Apply");
        xml.text_element("Constant", &[("dataType", data_type)], &labels[i]);
    }
    xml.text_element("Constant", &[("dataType", data_type)], &labels[k - 1]);
    for _ in 0..k - 1 {
        xml.end("Apply");
    }
    xml.end("OutputField")
}

/// `score_samples = -2^(-s / normalizer)` (−0.5 when the normalizer is 0,
/// as scikit-learn takes the ratio as 1), `decision_function =
/// score_samples - offset`, and the label −1 where the decision is negative.
fn anomaly_outputs(xml: &mut Xml, plan: &Plan, offset: f64, normalizer: f64) {
    let [score, decision] = &plan.out_scores;
    let constant =
        |xml: &mut Xml, v: f64| xml.text_element("Constant", &[("dataType", "double")], &number(v));
    xml.start("OutputField", &continuous(score, "transformedValue"));
    if normalizer == 0.0 {
        constant(xml, -0.5);
    } else {
        // 0 - 2^(0 - s / n): subtraction from 0 negates exactly.
        xml.start("Apply", &[("function", "-")]);
        constant(xml, 0.0);
        xml.start("Apply", &[("function", "pow")]);
        constant(xml, 2.0);
        xml.start("Apply", &[("function", "-")]);
        constant(xml, 0.0);
        xml.start("Apply", &[("function", "/")]);
        xml.empty("FieldRef", &[("field", &plan.out_prediction)]);
        constant(xml, normalizer);
        xml.end("Apply");
        xml.end("Apply");
        xml.end("Apply");
        xml.end("Apply");
    }
    xml.end("OutputField");
    xml.start("OutputField", &continuous(decision, "transformedValue"));
    xml.start("Apply", &[("function", "-")]);
    xml.empty("FieldRef", &[("field", score)]);
    constant(xml, offset);
    xml.end("Apply");
    xml.end("OutputField");
    xml.start(
        "OutputField",
        &[
            ("name", &plan.out_label),
            ("optype", "categorical"),
            ("dataType", "integer"),
            ("feature", "transformedValue"),
        ],
    );
    xml.start("Apply", &[("function", "if")]);
    xml.start("Apply", &[("function", "lessThan")]);
    xml.empty("FieldRef", &[("field", decision)]);
    constant(xml, 0.0);
    xml.end("Apply");
    xml.text_element("Constant", &[("dataType", "integer")], "-1");
    xml.text_element("Constant", &[("dataType", "integer")], "1");
    xml.end("Apply");
    xml.end("OutputField")
}

/// A `sum` segmentation of raw score `k`: its base value first (when not
/// zero, or when no tree feeds the score), then its trees in order.
fn sum_segmentation<W: Write>(doc: &mut Doc<W>, plan: &Plan, k: usize) -> io::Result<()> {
    let forest = plan.forest;
    let Aggregation::Sum {
        base_values,
        tree_targets,
        ..
    } = &forest.aggregation
    else {
        unreachable!("summed shapes come from summed forests")
    };
    let trees: Vec<(usize, Leaf)> = if tree_targets.is_empty() {
        (0..forest.trees.len())
            .map(|t| (t, Leaf::Value(k)))
            .collect()
    } else {
        (0..forest.trees.len())
            .filter(|&t| tree_targets[t] as usize == k)
            .map(|t| (t, Leaf::Value(0)))
            .collect()
    };
    let xml = &mut doc.xml;
    xml.start("Segmentation", &[("multipleModelMethod", "sum")]);
    let base = base_values[k];
    let with_base = base != 0.0 || trees.is_empty();
    if with_base {
        segment_start(xml, 0);
        write_constant(xml, plan, base);
        xml.end("Segment");
    }
    let first = usize::from(with_base);
    let segments: Vec<Segment> = trees
        .into_iter()
        .enumerate()
        .map(|(i, (tree, leaf))| Segment {
            id: first + i,
            tree,
            leaf,
        })
        .collect();
    let kind = TreeKind {
        function: "regression",
        with_target: false,
    };
    doc.segments(plan, kind, &segments)?;
    doc.xml.end("Segmentation");
    Ok(())
}

/// The `RegressionModel` that turns the raw scores into the outputs:
/// intercept 0 and coefficient 1, so each table's value is its raw score.
fn transform_model(xml: &mut Xml, plan: &Plan, function: &str) {
    let method = match plan.shape {
        Shape::SumRegressor(Link::Exp) => "exp",
        Shape::SumRegressor(_) | Shape::BinaryLogistic => "logit",
        _ => "softmax",
    };
    xml.start(
        "RegressionModel",
        &[("functionName", function), ("normalizationMethod", method)],
    );
    xml.start("MiningSchema", &[]);
    xml.empty(
        "MiningField",
        &[("name", &plan.target), ("usageType", "target")],
    );
    for raw in &plan.raw {
        xml.empty("MiningField", &[("name", raw)]);
    }
    xml.end("MiningSchema");
    outputs(xml, plan);
    let table = |xml: &mut Xml, category: Option<&str>, raw: Option<&str>| {
        let mut attrs = vec![("intercept", "0")];
        if let Some(c) = category {
            attrs.push(("targetCategory", c));
        }
        match raw {
            Some(raw) => {
                xml.start("RegressionTable", &attrs);
                xml.empty("NumericPredictor", &[("name", raw), ("coefficient", "1")]);
                xml.end("RegressionTable")
            }
            None => xml.empty("RegressionTable", &attrs),
        }
    };
    match (&plan.labels, plan.shape) {
        // The first table's probability is σ(raw); the last one's is 1 minus it.
        (Some((labels, _)), Shape::BinaryLogistic) => {
            table(xml, Some(&labels[1]), Some(&plan.raw[0]));
            table(xml, Some(&labels[0]), None);
        }
        (Some((labels, _)), _) => {
            for (label, raw) in labels.iter().zip(&plan.raw) {
                table(xml, Some(label), Some(raw));
            }
        }
        (None, _) => table(xml, None, Some(&plan.raw[0])),
    }
    xml.end("RegressionModel")
}
