//! The PMML document around the trees: header, data dictionary, mining
//! schemas, outputs, segmentations and the post-transform models.

use std::io::{self, BufWriter, Write};

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::ir::Aggregation;

use super::plan::{number, Link, Plan, Shape};
use super::tree::{write_constant, write_tree, Classes, Leaf, Scratch};
use super::{PmmlOptions, INDENT_MAX_DEPTH, INDENT_MAX_NODES, NAMESPACE};

/// A thin streaming XML writer (attribute values are escaped).
///
/// Without indentation, tags are written straight into the buffer: a
/// full-depth forest has millions of nodes, and building a quick-xml event
/// for each took most of the export time.
pub(crate) struct Xml<W: Write> {
    w: Writer<BufWriter<W>>,
    indent: bool,
}

/// Writes `v` as an XML attribute value (between double quotes), escaped.
fn write_escaped(out: &mut impl Write, v: &str) -> io::Result<()> {
    let bytes = v.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let entity: &[u8] = match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'"' => b"&quot;",
            b'\'' => b"&apos;",
            _ => continue,
        };
        out.write_all(&bytes[from..i])?;
        out.write_all(entity)?;
        from = i + 1;
    }
    out.write_all(&bytes[from..])
}

impl<W: Write> Xml<W> {
    fn raw_tag(&mut self, name: &str, attrs: &[(&str, &str)], close: &[u8]) -> io::Result<()> {
        let out = self.w.get_mut();
        out.write_all(b"<")?;
        out.write_all(name.as_bytes())?;
        for (k, v) in attrs {
            out.write_all(b" ")?;
            out.write_all(k.as_bytes())?;
            out.write_all(b"=\"")?;
            write_escaped(out, v)?;
            out.write_all(b"\"")?;
        }
        out.write_all(close)
    }

    fn element<'a>(name: &'a str, attrs: &[(&str, &str)]) -> BytesStart<'a> {
        let mut e = BytesStart::new(name);
        for &a in attrs {
            e.push_attribute(a);
        }
        e
    }

    pub(crate) fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> io::Result<()> {
        if !self.indent {
            return self.raw_tag(name, attrs, b">");
        }
        self.w.write_event(Event::Start(Self::element(name, attrs)))
    }

    pub(crate) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> io::Result<()> {
        if !self.indent {
            return self.raw_tag(name, attrs, b"/>");
        }
        self.w.write_event(Event::Empty(Self::element(name, attrs)))
    }

    pub(crate) fn end(&mut self, name: &str) -> io::Result<()> {
        if !self.indent {
            let out = self.w.get_mut();
            out.write_all(b"</")?;
            out.write_all(name.as_bytes())?;
            return out.write_all(b">");
        }
        self.w.write_event(Event::End(BytesEnd::new(name)))
    }

    fn text_element(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> io::Result<()> {
        self.start(name, attrs)?;
        self.w.write_event(Event::Text(BytesText::new(text)))?;
        self.end(name)
    }
}

/// Writes the whole document for `plan` to `out`.
pub(crate) fn write<W: Write>(plan: &Plan, options: &PmmlOptions, out: W) -> io::Result<W> {
    let forest = plan.forest;
    let indent = options.indent.unwrap_or_else(|| {
        forest.n_nodes() <= INDENT_MAX_NODES && forest.max_depth() <= INDENT_MAX_DEPTH
    });
    let out = BufWriter::with_capacity(1 << 20, out);
    let w = if indent {
        Writer::new_with_indent(out, b' ', 1)
    } else {
        Writer::new(out)
    };
    let mut xml = Xml { w, indent };
    xml.w
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    xml.start("PMML", &[("xmlns", NAMESPACE), ("version", "4.4")])?;
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
    xml.start("Header", &[("description", &description)])?;
    xml.empty(
        "Application",
        &[
            ("name", "forest2onnx"),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
    )?;
    xml.end("Header")?;
    data_dictionary(&mut xml, plan)?;

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
    xml.start("MiningModel", &attrs)?;
    mining_schema(&mut xml, plan, true)?;
    // A chain's outputs belong to its last model: JPMML finds no class
    // probabilities for integer or double labels in a top-level `Output`
    // over a `modelChain` (it reads them as 0).
    if !plan.shape.is_chain() {
        outputs(&mut xml, plan)?;
    }
    let mut scratch = Scratch::default();
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
            let classify = plan.labels.is_some();
            xml.start("Segmentation", &[("multipleModelMethod", "average")])?;
            for t in 0..forest.trees.len() {
                let leaf = leaf(if t == 0 {
                    Classes::All
                } else {
                    Classes::NonZero
                });
                segment_start(&mut xml, t)?;
                write_tree(&mut xml, plan, t, function, leaf, classify, &mut scratch)?;
                xml.end("Segment")?;
            }
            xml.end("Segmentation")?;
        }
        Shape::SumRegressor(Link::Identity) | Shape::Anomaly { .. } => {
            sum_segmentation(&mut xml, plan, 0, &mut scratch)?;
        }
        Shape::SumRegressor(_) | Shape::BinaryLogistic | Shape::Softmax => {
            xml.start("Segmentation", &[("multipleModelMethod", "modelChain")])?;
            for k in 0..plan.raw.len() {
                segment_start(&mut xml, k)?;
                xml.start("MiningModel", &[("functionName", "regression")])?;
                mining_schema(&mut xml, plan, false)?;
                xml.start("Output", &[])?;
                xml.empty(
                    "OutputField",
                    &[
                        ("name", &plan.raw[k]),
                        ("optype", "continuous"),
                        ("dataType", "double"),
                        ("feature", "predictedValue"),
                        ("isFinalResult", "false"),
                    ],
                )?;
                xml.end("Output")?;
                sum_segmentation(&mut xml, plan, k, &mut scratch)?;
                xml.end("MiningModel")?;
                xml.end("Segment")?;
            }
            segment_start(&mut xml, plan.raw.len())?;
            transform_model(&mut xml, plan, function)?;
            xml.end("Segment")?;
            xml.end("Segmentation")?;
        }
    }
    xml.end("MiningModel")?;
    xml.end("PMML")?;
    let mut out = xml
        .w
        .into_inner()
        .into_inner()
        .map_err(|e| e.into_error())?;
    out.flush()?;
    Ok(out)
}

fn segment_start<W: Write>(xml: &mut Xml<W>, index: usize) -> io::Result<()> {
    xml.start("Segment", &[("id", &(index + 1).to_string())])?;
    xml.empty("True", &[])
}

fn data_dictionary<W: Write>(xml: &mut Xml<W>, plan: &Plan) -> io::Result<()> {
    let n = (plan.features.len() + 1).to_string();
    xml.start("DataDictionary", &[("numberOfFields", &n)])?;
    for name in &plan.features {
        xml.empty(
            "DataField",
            &[
                ("name", name),
                ("optype", "continuous"),
                ("dataType", "double"),
            ],
        )?;
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
            )?;
            for v in values {
                xml.empty("Value", &[("value", v)])?;
            }
            xml.end("DataField")?;
        }
        None => xml.empty(
            "DataField",
            &[
                ("name", &plan.target),
                ("optype", "continuous"),
                ("dataType", "double"),
            ],
        )?,
    }
    xml.end("DataDictionary")
}

/// Every feature (and the target when `with_target`).
fn mining_schema<W: Write>(xml: &mut Xml<W>, plan: &Plan, with_target: bool) -> io::Result<()> {
    xml.start("MiningSchema", &[])?;
    if with_target {
        xml.empty(
            "MiningField",
            &[("name", &plan.target), ("usageType", "target")],
        )?;
    }
    for name in &plan.features {
        xml.empty("MiningField", &[("name", name)])?;
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

fn outputs<W: Write>(xml: &mut Xml<W>, plan: &Plan) -> io::Result<()> {
    xml.start("Output", &[])?;
    match (&plan.labels, plan.shape) {
        (Some((values, data_type)), _) => {
            for (name, value) in plan.out_probabilities.iter().zip(values) {
                let mut attrs = continuous(name, "probability").to_vec();
                attrs.push(("value", value));
                xml.empty("OutputField", &attrs)?;
            }
            first_argmax_label(xml, plan, values, data_type)?;
        }
        (None, Shape::Anomaly { offset, normalizer }) => {
            xml.empty(
                "OutputField",
                &continuous(&plan.out_prediction, "predictedValue"),
            )?;
            anomaly_outputs(xml, plan, offset, normalizer)?;
        }
        (None, _) => {
            xml.empty(
                "OutputField",
                &continuous(&plan.out_prediction, "predictedValue"),
            )?;
        }
    }
    xml.end("Output")
}

/// The label output: the first class of highest probability, computed from
/// the probability outputs, so that it breaks ties as the IR does (lowest
/// class index) whatever the evaluator's own predicted value does:
/// `if p0 >= max(p1, ..) then l0 else if p1 >= max(p2, ..) then l1 ... else
/// l_last`.
fn first_argmax_label<W: Write>(
    xml: &mut Xml<W>,
    plan: &Plan,
    labels: &[String],
    data_type: &str,
) -> io::Result<()> {
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
    )?;
    for i in 0..k - 1 {
        xml.start("Apply", &[("function", "if")])?;
        xml.start("Apply", &[("function", "greaterOrEqual")])?;
        xml.empty("FieldRef", &[("field", &p[i])])?;
        if i + 2 == k {
            xml.empty("FieldRef", &[("field", &p[i + 1])])?;
        } else {
            xml.start("Apply", &[("function", "max")])?;
            for q in &p[i + 1..] {
                xml.empty("FieldRef", &[("field", q)])?;
            }
            xml.end("Apply")?;
        }
        xml.end("Apply")?;
        xml.text_element("Constant", &[("dataType", data_type)], &labels[i])?;
    }
    xml.text_element("Constant", &[("dataType", data_type)], &labels[k - 1])?;
    for _ in 0..k - 1 {
        xml.end("Apply")?;
    }
    xml.end("OutputField")
}

/// `score_samples = -2^(-s / normalizer)` (−0.5 when the normalizer is 0,
/// as scikit-learn takes the ratio as 1), `decision_function =
/// score_samples - offset`, and the label −1 where the decision is negative.
fn anomaly_outputs<W: Write>(
    xml: &mut Xml<W>,
    plan: &Plan,
    offset: f64,
    normalizer: f64,
) -> io::Result<()> {
    let [score, decision] = &plan.out_scores;
    let constant = |xml: &mut Xml<W>, v: f64| {
        xml.text_element("Constant", &[("dataType", "double")], &number(v))
    };
    xml.start("OutputField", &continuous(score, "transformedValue"))?;
    if normalizer == 0.0 {
        constant(xml, -0.5)?;
    } else {
        // 0 - 2^(0 - s / n): subtraction from 0 negates exactly.
        xml.start("Apply", &[("function", "-")])?;
        constant(xml, 0.0)?;
        xml.start("Apply", &[("function", "pow")])?;
        constant(xml, 2.0)?;
        xml.start("Apply", &[("function", "-")])?;
        constant(xml, 0.0)?;
        xml.start("Apply", &[("function", "/")])?;
        xml.empty("FieldRef", &[("field", &plan.out_prediction)])?;
        constant(xml, normalizer)?;
        xml.end("Apply")?;
        xml.end("Apply")?;
        xml.end("Apply")?;
        xml.end("Apply")?;
    }
    xml.end("OutputField")?;
    xml.start("OutputField", &continuous(decision, "transformedValue"))?;
    xml.start("Apply", &[("function", "-")])?;
    xml.empty("FieldRef", &[("field", score)])?;
    constant(xml, offset)?;
    xml.end("Apply")?;
    xml.end("OutputField")?;
    xml.start(
        "OutputField",
        &[
            ("name", &plan.out_label),
            ("optype", "categorical"),
            ("dataType", "integer"),
            ("feature", "transformedValue"),
        ],
    )?;
    xml.start("Apply", &[("function", "if")])?;
    xml.start("Apply", &[("function", "lessThan")])?;
    xml.empty("FieldRef", &[("field", decision)])?;
    constant(xml, 0.0)?;
    xml.end("Apply")?;
    xml.text_element("Constant", &[("dataType", "integer")], "-1")?;
    xml.text_element("Constant", &[("dataType", "integer")], "1")?;
    xml.end("Apply")?;
    xml.end("OutputField")
}

/// A `sum` segmentation of raw score `k`: its base value first (when not
/// zero, or when no tree feeds the score), then its trees in order.
fn sum_segmentation<W: Write>(
    xml: &mut Xml<W>,
    plan: &Plan,
    k: usize,
    scratch: &mut Scratch,
) -> io::Result<()> {
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
    xml.start("Segmentation", &[("multipleModelMethod", "sum")])?;
    let base = base_values[k];
    let mut id = 0;
    if base != 0.0 || trees.is_empty() {
        segment_start(xml, id)?;
        write_constant(xml, plan, base)?;
        xml.end("Segment")?;
        id += 1;
    }
    for (t, leaf) in trees {
        segment_start(xml, id)?;
        write_tree(xml, plan, t, "regression", leaf, false, scratch)?;
        xml.end("Segment")?;
        id += 1;
    }
    xml.end("Segmentation")
}

/// The `RegressionModel` that turns the raw scores into the outputs:
/// intercept 0 and coefficient 1, so each table's value is its raw score.
fn transform_model<W: Write>(xml: &mut Xml<W>, plan: &Plan, function: &str) -> io::Result<()> {
    let method = match plan.shape {
        Shape::SumRegressor(Link::Exp) => "exp",
        Shape::SumRegressor(_) | Shape::BinaryLogistic => "logit",
        _ => "softmax",
    };
    xml.start(
        "RegressionModel",
        &[("functionName", function), ("normalizationMethod", method)],
    )?;
    xml.start("MiningSchema", &[])?;
    xml.empty(
        "MiningField",
        &[("name", &plan.target), ("usageType", "target")],
    )?;
    for raw in &plan.raw {
        xml.empty("MiningField", &[("name", raw)])?;
    }
    xml.end("MiningSchema")?;
    outputs(xml, plan)?;
    let table = |xml: &mut Xml<W>, category: Option<&str>, raw: Option<&str>| -> io::Result<()> {
        let mut attrs = vec![("intercept", "0")];
        if let Some(c) = category {
            attrs.push(("targetCategory", c));
        }
        match raw {
            Some(raw) => {
                xml.start("RegressionTable", &attrs)?;
                xml.empty("NumericPredictor", &[("name", raw), ("coefficient", "1")])?;
                xml.end("RegressionTable")
            }
            None => xml.empty("RegressionTable", &attrs),
        }
    };
    match (&plan.labels, plan.shape) {
        // The first table's probability is σ(raw); the last one's is 1 minus it.
        (Some((labels, _)), Shape::BinaryLogistic) => {
            table(xml, Some(&labels[1]), Some(&plan.raw[0]))?;
            table(xml, Some(&labels[0]), None)?;
        }
        (Some((labels, _)), _) => {
            for (label, raw) in labels.iter().zip(&plan.raw) {
                table(xml, Some(label), Some(raw))?;
            }
        }
        (None, _) => table(xml, None, Some(&plan.raw[0]))?,
    }
    xml.end("RegressionModel")
}
