//! Train smartcore classifiers (and, in [`regression`], regressors) into a
//! [`Forest`], for the CLI, the demo and tests.
//!
//! smartcore is trained on f64 features. Integer targets are used as they
//! are; string targets are coded `0..k` in sorted order (the order in which
//! smartcore sorts its unique labels), and the forest's [`Labels`] are
//! then replaced by the strings, so class `i` is the `i`-th smallest string.

use std::collections::BTreeSet;

use ndarray::{Array2, ArrayView2};
use serde::Serialize;
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters, SplitCriterion,
};

use crate::import::smartcore::{from_decision_tree, from_random_forest, SmartcoreError};
use crate::ir::{Forest, Labels, Task};

pub mod datasets;
mod regression;

pub use regression::{train_regressor, RegressionData, TrainedRegressor};

type Matrix = DenseMatrix<f64>;
type Rf = RandomForestClassifier<f64, i64, Matrix, Vec<i64>>;
type Dt = DecisionTreeClassifier<f64, i64, Matrix, Vec<i64>>;

/// Class targets, one per row.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Integer classes.
    Int(Vec<i64>),
    /// Named classes.
    Str(Vec<String>),
}

impl Targets {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Targets::Int(v) => v.len(),
            Targets::Str(v) => v.len(),
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Features, targets and names of a training set.
#[derive(Clone, Debug)]
pub struct TrainingData {
    /// Features, rows × columns.
    pub x: Array2<f64>,
    /// One class per row.
    pub y: Targets,
    /// One name per feature column.
    pub feature_names: Vec<String>,
    /// Name of the target column.
    pub target_name: String,
}

impl TrainingData {
    /// The distinct classes in sorted order: class index `i` of the trained
    /// forest is `classes()[i]`.
    pub fn classes(&self) -> Labels {
        match &self.y {
            Targets::Int(v) => Labels::Int(
                v.iter()
                    .copied()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            ),
            Targets::Str(v) => Labels::Str(
                v.iter()
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            ),
        }
    }

    /// The class index of every row (see [`TrainingData::classes`]).
    pub fn class_indices(&self) -> Vec<usize> {
        match (&self.y, self.classes()) {
            (Targets::Int(v), Labels::Int(c)) => {
                v.iter().map(|y| c.binary_search(y).unwrap_or(0)).collect()
            }
            (Targets::Str(v), Labels::Str(c)) => {
                v.iter().map(|y| c.binary_search(y).unwrap_or(0)).collect()
            }
            _ => unreachable!("classes() mirrors the target kind"),
        }
    }
}

/// Which smartcore estimator to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// `RandomForestClassifier`: bagged trees, hard voting.
    RandomForest,
    /// `DecisionTreeClassifier`: one tree on all rows and features.
    DecisionTree,
}

/// How a split's quality is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Criterion {
    /// Gini impurity.
    Gini,
    /// Information gain (entropy).
    Entropy,
    /// Misclassification rate.
    ClassificationError,
}

impl From<Criterion> for SplitCriterion {
    fn from(c: Criterion) -> Self {
        match c {
            Criterion::Gini => SplitCriterion::Gini,
            Criterion::Entropy => SplitCriterion::Entropy,
            Criterion::ClassificationError => SplitCriterion::ClassificationError,
        }
    }
}

/// Training parameters; serialised as they are into the model file's metadata.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainParams {
    /// The estimator.
    pub model: ModelKind,
    /// Number of trees (random forests only).
    pub trees: u16,
    /// Random seed.
    pub seed: u64,
    /// Maximum tree depth; `None` grows until the leaves are pure.
    pub max_depth: Option<u16>,
    /// A node needs at least this many rows to be split.
    pub min_samples_split: usize,
    /// Every leaf keeps at least this many rows.
    pub min_samples_leaf: usize,
    /// Features tried per split (smartcore's `m`; random forests only);
    /// `None` = ⌊√features⌋.
    pub features_per_split: Option<usize>,
    /// Split criterion.
    pub criterion: Criterion,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            model: ModelKind::RandomForest,
            trees: 100,
            seed: 42,
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            features_per_split: None,
            criterion: Criterion::Gini,
        }
    }
}

impl TrainParams {
    /// The parameters as recorded in a model file: these fields plus the
    /// library and the resolved number of features per split.
    pub fn to_json(&self, n_features: usize) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("library".into(), "smartcore".into());
            obj.insert(
                "smartcore_version".into(),
                crate::import::smartcore::SMARTCORE_VERSION.into(),
            );
            match self.model {
                ModelKind::RandomForest => {
                    obj.insert(
                        "features_per_split".into(),
                        self.effective_m(n_features).into(),
                    );
                }
                // Single trees use every feature and no bagging.
                ModelKind::DecisionTree => {
                    obj.remove("trees");
                    obj.remove("features_per_split");
                }
            }
        }
        v
    }

    /// Features tried per split, with smartcore's default resolved.
    pub fn effective_m(&self, n_features: usize) -> usize {
        self.features_per_split
            .unwrap_or_else(|| (n_features as f64).sqrt().floor() as usize)
    }
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// No rows.
    #[error("the training data has no rows")]
    NoRows,
    /// No feature columns.
    #[error("the training data has no feature columns")]
    NoFeatures,
    /// Row counts differ.
    #[error("{x} feature rows but {y} targets")]
    Length {
        /// Feature rows.
        x: usize,
        /// Targets.
        y: usize,
    },
    /// Names and columns differ.
    #[error("{names} feature names for {cols} feature columns")]
    Names {
        /// Names given.
        names: usize,
        /// Columns.
        cols: usize,
    },
    /// NaN or ±inf in the features.
    #[error("row {row}, feature {feature:?}: {value} is not a finite number; smartcore cannot train on missing or infinite values")]
    NotFinite {
        /// Row index, from 1.
        row: usize,
        /// Feature name.
        feature: String,
        /// The value.
        value: f64,
    },
    /// Only one class.
    #[error("the target has only one class ({0}); a classifier needs at least two")]
    OneClass(String),
    /// A parameter out of range.
    #[error("invalid parameter: {0}")]
    Parameter(String),
    /// smartcore refused to train.
    #[error("smartcore: {0}")]
    Smartcore(String),
    /// Converting the trained model failed.
    #[error(transparent)]
    Import(#[from] SmartcoreError),
}

/// A trained model: the forest and smartcore's own model, kept so its
/// predictions can be compared with the forest's.
pub struct Trained {
    /// The trained model as a forest (feature names included).
    pub forest: Forest,
    model: Model,
    classes: Labels,
}

enum Model {
    Forest(Box<Rf>),
    Tree(Box<Dt>),
}

/// Trains a smartcore model on `data` and converts it to a [`Forest`].
pub fn train(data: &TrainingData, params: &TrainParams) -> Result<Trained, TrainError> {
    check(data, params)?;
    let classes = data.classes();
    let codes: Vec<i64> = match &data.y {
        Targets::Int(v) => v.clone(),
        Targets::Str(_) => data.class_indices().into_iter().map(|c| c as i64).collect(),
    };
    let (rows, cols) = data.x.dim();
    let x = DenseMatrix::new(rows, cols, data.x.iter().copied().collect(), false)
        .map_err(|e| TrainError::Smartcore(e.to_string()))?;
    // smartcore has panicking corners; an unexpected one must not take the
    // caller down with it.
    let fitted = crate::panics::contain(|| fit(&x, &codes, params))
        .map_err(|why| TrainError::Smartcore(format!("training panicked: {why}")))??;
    let mut forest = match &fitted {
        Model::Forest(m) => from_random_forest(m.as_ref())?,
        Model::Tree(m) => from_decision_tree(m.as_ref())?,
    };
    forest.feature_names = Some(data.feature_names.clone());
    if let Labels::Str(_) = classes {
        forest.task = Task::Classification(classes.clone());
    }
    forest.check().map_err(SmartcoreError::from)?;
    Ok(Trained {
        forest,
        model: fitted,
        classes,
    })
}

// smartcore is generic over `Y: Array1`, implemented for `Vec`, not slices.
#[allow(clippy::ptr_arg)]
fn fit(x: &Matrix, y: &Vec<i64>, p: &TrainParams) -> Result<Model, TrainError> {
    let failed = |e: smartcore::error::Failed| TrainError::Smartcore(e.to_string());
    Ok(match p.model {
        ModelKind::RandomForest => {
            let mut params = RandomForestClassifierParameters::default()
                .with_n_trees(p.trees)
                .with_seed(p.seed)
                .with_criterion(p.criterion.into())
                .with_min_samples_leaf(p.min_samples_leaf)
                .with_min_samples_split(p.min_samples_split);
            params.max_depth = p.max_depth;
            params.m = p.features_per_split;
            Model::Forest(Box::new(Rf::fit(x, y, params).map_err(failed)?))
        }
        ModelKind::DecisionTree => {
            let params = DecisionTreeClassifierParameters {
                criterion: p.criterion.into(),
                max_depth: p.max_depth,
                min_samples_leaf: p.min_samples_leaf,
                min_samples_split: p.min_samples_split,
                seed: Some(p.seed),
            };
            Model::Tree(Box::new(Dt::fit(x, y, params).map_err(failed)?))
        }
    })
}

fn check(data: &TrainingData, p: &TrainParams) -> Result<(), TrainError> {
    check_matrix(data.x.view(), data.y.len(), &data.feature_names)?;
    let classes = data.classes();
    if classes.len() < 2 {
        return Err(TrainError::OneClass(classes.display(0)));
    }
    check_shape_params(p, data.x.ncols())
}

/// The checks of the feature matrix `x` shared by classifiers and
/// regressors: rows and features present, `y_len` targets and one name per
/// column, every value finite.
fn check_matrix(
    x: ndarray::ArrayView2<'_, f64>,
    y_len: usize,
    feature_names: &[String],
) -> Result<(), TrainError> {
    let (rows, cols) = x.dim();
    if rows == 0 {
        return Err(TrainError::NoRows);
    }
    if cols == 0 {
        return Err(TrainError::NoFeatures);
    }
    if y_len != rows {
        return Err(TrainError::Length { x: rows, y: y_len });
    }
    if feature_names.len() != cols {
        return Err(TrainError::Names {
            names: feature_names.len(),
            cols,
        });
    }
    if let Some(((r, c), &value)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(TrainError::NotFinite {
            row: r + 1,
            feature: feature_names[c].clone(),
            value,
        });
    }
    Ok(())
}

/// The parameters shared by classifiers and regressors, for `cols` features.
fn check_shape_params(p: &TrainParams, cols: usize) -> Result<(), TrainError> {
    let param = |m: String| Err(TrainError::Parameter(m));
    if p.model == ModelKind::RandomForest && p.trees == 0 {
        return param("the number of trees must be at least 1".into());
    }
    if p.max_depth == Some(0) {
        return param("the maximum depth must be at least 1".into());
    }
    if p.min_samples_leaf == 0 {
        return param("the minimum samples per leaf must be at least 1".into());
    }
    if p.min_samples_split < 2 {
        return param("the minimum samples to split must be at least 2".into());
    }
    if p.model == ModelKind::RandomForest {
        let m = p.effective_m(cols);
        if m == 0 || m > cols {
            return param(format!(
                "features per split is {m}; it must be between 1 and the number of features ({cols})"
            ));
        }
    }
    Ok(())
}

impl Trained {
    /// The class labels, in class-index order.
    pub fn classes(&self) -> &Labels {
        &self.classes
    }

    /// smartcore's own prediction for `x`, as class indices.
    pub fn predict_smartcore(&self, x: ArrayView2<'_, f64>) -> Result<Vec<usize>, TrainError> {
        let (rows, cols) = x.dim();
        let m = DenseMatrix::new(rows, cols, x.iter().copied().collect(), false)
            .map_err(|e| TrainError::Smartcore(e.to_string()))?;
        let failed = |e: smartcore::error::Failed| TrainError::Smartcore(e.to_string());
        let codes = match &self.model {
            Model::Forest(f) => f.predict(&m).map_err(failed)?,
            Model::Tree(t) => t.predict(&m).map_err(failed)?,
        };
        Ok(codes
            .into_iter()
            .map(|c| match &self.classes {
                // String classes were trained on their indices.
                Labels::Str(_) => c as usize,
                Labels::Int(v) => v.binary_search(&c).unwrap_or(usize::MAX),
                // smartcore trains on integer or string targets only.
                Labels::Float(_) => usize::MAX,
            })
            .collect())
    }

    /// smartcore's model as serde JSON, readable by
    /// [`crate::import::smartcore::from_json`] and by smartcore itself.
    ///
    /// Models trained on string classes hold their class indices here:
    /// smartcore labels are numbers.
    pub fn smartcore_json(&self) -> serde_json::Result<String> {
        match &self.model {
            Model::Forest(f) => serde_json::to_string(f.as_ref()),
            Model::Tree(t) => serde_json::to_string(t.as_ref()),
        }
    }

    /// Fraction of `data`'s rows the forest classifies correctly.
    pub fn accuracy(&self, data: &TrainingData) -> f64 {
        let predicted = self.forest.predict(data.x.view()).classes;
        let truth = data.class_indices();
        let right = predicted.iter().zip(&truth).filter(|(p, t)| p == t).count();
        right as f64 / truth.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::datasets::Builtin;

    #[test]
    fn string_classes_keep_sorted_order() {
        let data = Builtin::Iris.load();
        let params = TrainParams {
            trees: 5,
            ..Default::default()
        };
        let t = train(&data, &params).unwrap();
        assert_eq!(
            t.forest.class_labels(),
            Some(&Labels::Str(vec![
                "setosa".into(),
                "versicolor".into(),
                "virginica".into()
            ]))
        );
        let ours = t.forest.predict(data.x.view()).classes;
        assert_eq!(t.predict_smartcore(data.x.view()).unwrap(), ours);
        assert!(t.accuracy(&data) > 0.9);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let data = Builtin::Iris.load();
        for p in [
            TrainParams {
                features_per_split: Some(5),
                ..Default::default()
            },
            TrainParams {
                min_samples_leaf: 0,
                ..Default::default()
            },
            TrainParams {
                trees: 0,
                ..Default::default()
            },
        ] {
            assert!(matches!(train(&data, &p), Err(TrainError::Parameter(_))));
        }
    }
}
