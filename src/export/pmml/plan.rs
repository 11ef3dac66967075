//! What the PMML document will hold: field names, label texts and the shape
//! of the model, decided (and refused) before anything is written.

use std::collections::HashSet;

use crate::ir::{Aggregation, Forest, Labels, PostTransform, Task};

use super::cuts::Reading;
use super::writer::escaped;
use super::PmmlError;

/// The model structure the forest maps to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Shape {
    /// Hard voting: `average` over trees with one-hot distributions.
    Vote,
    /// Soft voting: `average` over trees with probability distributions.
    AverageClassifier,
    /// `average` over regression trees (one target).
    AverageRegressor,
    /// Summed regression trees plus base value, optionally transformed.
    SumRegressor(Link),
    /// One summed score, `p1 = σ(s)`, `p0 = 1 - p1`.
    BinaryLogistic,
    /// One summed score per class, softmax.
    Softmax,
    /// Summed path lengths, `Output` fields for the scores and label.
    Anomaly { offset: f64, normalizer: f64 },
}

impl Shape {
    /// Whether the raw scores feed a `RegressionModel` through a `modelChain`.
    pub(crate) fn is_chain(self) -> bool {
        matches!(
            self,
            Shape::SumRegressor(Link::Logit | Link::Exp) | Shape::BinaryLogistic | Shape::Softmax
        )
    }
}

/// The inverse link of a summed regressor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    Identity,
    Logit,
    Exp,
}

/// Everything the writer needs besides the trees.
pub(crate) struct Plan<'f> {
    pub(crate) forest: &'f Forest,
    pub(crate) shape: Shape,
    pub(crate) reading: Reading,
    /// One field name per feature.
    pub(crate) features: Vec<String>,
    /// The target field.
    pub(crate) target: String,
    /// Class labels as PMML values, with their data type.
    pub(crate) labels: Option<(Vec<String>, &'static str)>,
    /// Output field names: the label (classifiers, anomaly detectors), one
    /// probability per class, the prediction (regressors), and the two
    /// anomaly scores.
    pub(crate) out_label: String,
    pub(crate) out_probabilities: Vec<String>,
    pub(crate) out_prediction: String,
    pub(crate) out_scores: [String; 2],
    /// Names of the intermediate raw-score fields of chained models.
    pub(crate) raw: Vec<String>,
    /// Per feature: whether it reads values in the zero band as missing.
    pub(crate) zero_as_missing: Vec<bool>,
    /// The feature names and class labels escaped for XML attributes, once
    /// for the millions of times the trees write them.
    pub(crate) xml_features: Vec<Box<[u8]>>,
    pub(crate) xml_labels: Vec<Box<[u8]>>,
}

impl<'f> Plan<'f> {
    pub(crate) fn new(forest: &'f Forest) -> Result<Plan<'f>, PmmlError> {
        forest.check()?;
        let shape = shape(forest)?;
        let mut names = Names::default();
        let features = match &forest.feature_names {
            Some(given) => {
                for (i, n) in given.iter().enumerate() {
                    check_text(&format!("feature name {i}"), n)?;
                    if !names.taken.insert(n.clone()) {
                        return Err(PmmlError::unsupported(
                            format!("feature name `{n}`"),
                            "it names two features, and PMML fields need distinct names",
                        ));
                    }
                }
                given.clone()
            }
            None => (0..forest.n_features)
                .map(|i| names.unique(&format!("x{i}")))
                .collect(),
        };
        let labels = match forest.class_labels() {
            Some(l) => Some(label_values(l)?),
            None => None,
        };
        let target = names.unique(match forest.task {
            Task::AnomalyDetection { .. } => "path_length",
            _ => "target",
        });
        let n_scores = forest.score_width();
        let raw = if shape.is_chain() {
            (0..n_scores)
                .map(|k| names.unique(&format!("raw({k})")))
                .collect()
        } else {
            Vec::new()
        };
        let out_label = names.unique("label");
        let out_probabilities = match &labels {
            Some((values, _)) => values
                .iter()
                .map(|v| names.unique(&format!("probability({v})")))
                .collect(),
            None => Vec::new(),
        };
        let out_prediction = names.unique("prediction");
        let out_scores = [
            names.unique("score_samples"),
            names.unique("decision_function"),
        ];
        let mut zero_as_missing = vec![false; forest.n_features];
        for &f in &forest.input.zero_as_missing {
            if let Some(z) = zero_as_missing.get_mut(f as usize) {
                *z = true;
            }
        }
        let xml_features = features.iter().map(|n| escaped(n)).collect();
        let xml_labels = match &labels {
            Some((values, _)) => values.iter().map(|v| escaped(v)).collect(),
            None => Vec::new(),
        };
        Ok(Plan {
            forest,
            shape,
            reading: Reading {
                precision: forest.input.precision,
                categories: forest.input.categories,
            },
            features,
            target,
            labels,
            out_label,
            out_probabilities,
            out_prediction,
            out_scores,
            raw,
            zero_as_missing,
            xml_features,
            xml_labels,
        })
    }
}

/// Field names in use, and fresh ones that avoid them.
#[derive(Default)]
struct Names {
    taken: HashSet<String>,
}

impl Names {
    fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

fn shape(forest: &Forest) -> Result<Shape, PmmlError> {
    let n_out = forest.n_outputs();
    match (&forest.task, &forest.aggregation) {
        (Task::Regression { n_targets }, _) if *n_targets != 1 => Err(PmmlError::unsupported(
            format!("a regressor of {n_targets} targets"),
            "a PMML model predicts one target field; export each target as its own model",
        )),
        (Task::Classification(_), Aggregation::Vote) => Ok(Shape::Vote),
        (Task::Classification(_), Aggregation::Average) => Ok(Shape::AverageClassifier),
        (Task::Regression { .. }, Aggregation::Average) => Ok(Shape::AverageRegressor),
        (Task::Regression { .. }, Aggregation::Vote) => Err(PmmlError::unsupported(
            "a voting regressor",
            "votes need class labels",
        )),
        (
            Task::AnomalyDetection { offset },
            Aggregation::Sum {
                post_transform: PostTransform::IsolationScore { normalizer },
                ..
            },
        ) => Ok(Shape::Anomaly {
            offset: *offset,
            normalizer: *normalizer,
        }),
        (Task::AnomalyDetection { .. }, _) => Err(PmmlError::unsupported(
            "this anomaly detector",
            "only summed path lengths with the isolation-score transform are supported",
        )),
        (
            Task::Regression { .. },
            Aggregation::Sum {
                post_transform,
                base_values,
                ..
            },
        ) => match (post_transform, base_values.len()) {
            (_, n) if n != 1 => Err(PmmlError::unsupported(
                format!("a regressor with {n} raw scores"),
                "a PMML model predicts one target field",
            )),
            (PostTransform::None, _) => Ok(Shape::SumRegressor(Link::Identity)),
            (PostTransform::Logistic, _) => Ok(Shape::SumRegressor(Link::Logit)),
            (PostTransform::Exp, _) => Ok(Shape::SumRegressor(Link::Exp)),
            (other, _) => Err(PmmlError::unsupported(
                format!("post_transform {other:?} on a regressor"),
                "PMML regression normalisations cover identity, logit and exp",
            )),
        },
        (
            Task::Classification(_),
            Aggregation::Sum {
                post_transform,
                base_values,
                ..
            },
        ) => match (post_transform, base_values.len()) {
            (PostTransform::Logistic, 1) if n_out == 2 => Ok(Shape::BinaryLogistic),
            (PostTransform::Softmax, w) if w == n_out && w >= 2 => Ok(Shape::Softmax),
            (PostTransform::Logistic, w) => Err(PmmlError::unsupported(
                format!("post_transform Logistic over {w} scores for {n_out} classes"),
                "PMML's logit normalisation makes the last class 1 minus the others, \
                 not an independent sigmoid per class",
            )),
            (PostTransform::None, w) => Err(PmmlError::unsupported(
                format!("post_transform None on a classifier with {w} raw scores"),
                "PMML's classification models normalise scores into probabilities; \
                 raw scores as probabilities have no PMML form",
            )),
            (other, w) => Err(PmmlError::unsupported(
                format!("post_transform {other:?} on a classifier with {w} raw scores"),
                "PMML classifiers support logistic over one score (two classes) and \
                 softmax over one score per class",
            )),
        },
    }
}

/// The class labels as PMML values and their data type.
fn label_values(labels: &Labels) -> Result<(Vec<String>, &'static str), PmmlError> {
    match labels {
        Labels::Int(v) => {
            if let Some(x) = v.iter().find(|&&x| i32::try_from(x).is_err()) {
                return Err(PmmlError::unsupported(
                    format!("class label {x}"),
                    "PMML evaluators read integer fields as 32-bit integers",
                ));
            }
            Ok((v.iter().map(|x| x.to_string()).collect(), "integer"))
        }
        Labels::Float(v) => {
            if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                return Err(PmmlError::unsupported(
                    format!("class label {}", crate::ir::python_float(*x)),
                    "a PMML double value must be finite",
                ));
            }
            Ok((v.iter().map(|&x| number(x)).collect(), "double"))
        }
        Labels::Str(v) => {
            for (i, s) in v.iter().enumerate() {
                check_text(&format!("class label {i}"), s)?;
            }
            Ok((v.clone(), "string"))
        }
    }
}

/// Refuses names and labels XML cannot hold, or that PMML evaluators read
/// differently (empty, or with surrounding blanks that they trim).
fn check_text(what: &str, s: &str) -> Result<(), PmmlError> {
    let quoted = format!("{what} {s:?}");
    if s.is_empty() {
        return Err(PmmlError::unsupported(
            quoted,
            "PMML values and field names are non-empty",
        ));
    }
    if s.trim() != s {
        return Err(PmmlError::unsupported(
            quoted,
            "PMML evaluators trim surrounding whitespace",
        ));
    }
    // XML 1.0 has no other control characters, and an attribute value
    // reads tab, LF and CR back as spaces.
    if let Some(c) = s
        .chars()
        .find(|&c| c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}')
    {
        return Err(PmmlError::unsupported(
            quoted,
            format!(
                "an XML attribute cannot hold the character U+{:04X}",
                c as u32
            ),
        ));
    }
    Ok(())
}

/// `x` (finite) as the shortest decimal that parses back to it.
pub(crate) fn number(x: f64) -> String {
    ryu::Buffer::new().format_finite(x).to_string()
}
