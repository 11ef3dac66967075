//! Train smartcore regressors (`RandomForestRegressor`,
//! `DecisionTreeRegressor`) into a [`Forest`], for `forest2onnx train --task
//! regression` and tests. Features and targets are f64; trees minimise the
//! squared error (smartcore's only regression criterion).

use ndarray::{Array2, ArrayView2};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_regressor::{
    DecisionTreeRegressor, DecisionTreeRegressorParameters,
};

use super::{ModelKind, TrainError, TrainParams};
use crate::import::smartcore::{
    from_decision_tree_regressor, from_random_forest_regressor, SmartcoreError,
};
use crate::ir::Forest;

type Matrix = DenseMatrix<f64>;
type Rf = RandomForestRegressor<f64, f64, Matrix, Vec<f64>>;
type Dt = DecisionTreeRegressor<f64, f64, Matrix, Vec<f64>>;

/// Features, real-valued targets and names of a regression training set.
#[derive(Clone, Debug)]
pub struct RegressionData {
    /// Features, rows × columns.
    pub x: Array2<f64>,
    /// One target per row.
    pub y: Vec<f64>,
    /// One name per feature column.
    pub feature_names: Vec<String>,
    /// Name of the target column.
    pub target_name: String,
}

/// A trained regressor: the forest and smartcore's own model, kept so its
/// predictions can be compared with the forest's.
pub struct TrainedRegressor {
    /// The trained model as a forest (feature names included).
    pub forest: Forest,
    model: Model,
}

enum Model {
    Forest(Box<Rf>),
    Tree(Box<Dt>),
}

/// Trains a smartcore regressor on `data` and converts it to a [`Forest`].
/// `params.criterion` must be left at its default: regression trees
/// minimise the squared error.
pub fn train_regressor(
    data: &RegressionData,
    params: &TrainParams,
) -> Result<TrainedRegressor, TrainError> {
    check(data, params)?;
    let (rows, cols) = data.x.dim();
    let x = DenseMatrix::new(rows, cols, data.x.iter().copied().collect(), false)
        .map_err(|e| TrainError::Smartcore(e.to_string()))?;
    let fitted = crate::panics::contain(|| fit(&x, &data.y, params))
        .map_err(|why| TrainError::Smartcore(format!("training panicked: {why}")))??;
    let mut forest = match &fitted {
        Model::Forest(m) => from_random_forest_regressor(m.as_ref())?,
        Model::Tree(m) => from_decision_tree_regressor(m.as_ref())?,
    };
    forest.feature_names = Some(data.feature_names.clone());
    forest.check().map_err(SmartcoreError::from)?;
    Ok(TrainedRegressor {
        forest,
        model: fitted,
    })
}

// smartcore is generic over `Y: Array1`, implemented for `Vec`, not slices.
#[allow(clippy::ptr_arg)]
fn fit(x: &Matrix, y: &Vec<f64>, p: &TrainParams) -> Result<Model, TrainError> {
    let failed = |e: smartcore::error::Failed| TrainError::Smartcore(e.to_string());
    Ok(match p.model {
        ModelKind::RandomForest => {
            let mut params = RandomForestRegressorParameters::default()
                .with_n_trees(usize::from(p.trees))
                .with_min_samples_leaf(p.min_samples_leaf)
                .with_min_samples_split(p.min_samples_split);
            params.seed = p.seed;
            params.max_depth = p.max_depth;
            params.m = p.features_per_split;
            Model::Forest(Box::new(Rf::fit(x, y, params).map_err(failed)?))
        }
        ModelKind::DecisionTree => {
            let params = DecisionTreeRegressorParameters {
                max_depth: p.max_depth,
                min_samples_leaf: p.min_samples_leaf,
                min_samples_split: p.min_samples_split,
                seed: Some(p.seed),
            };
            Model::Tree(Box::new(Dt::fit(x, y, params).map_err(failed)?))
        }
    })
}

fn check(data: &RegressionData, p: &TrainParams) -> Result<(), TrainError> {
    super::check_matrix(data.x.view(), data.y.len(), &data.feature_names)?;
    if let Some((r, &value)) = data.y.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(TrainError::NotFinite {
            row: r + 1,
            feature: data.target_name.clone(),
            value,
        });
    }
    if p.criterion != super::Criterion::Gini {
        return Err(TrainError::Parameter(
            "the split criterion applies to classifiers; regression trees minimise the squared \
             error"
                .into(),
        ));
    }
    super::check_shape_params(p, data.x.ncols())
}

impl TrainedRegressor {
    /// smartcore's own prediction for `x`.
    pub fn predict_smartcore(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>, TrainError> {
        let (rows, cols) = x.dim();
        let m = DenseMatrix::new(rows, cols, x.iter().copied().collect(), false)
            .map_err(|e| TrainError::Smartcore(e.to_string()))?;
        let failed = |e: smartcore::error::Failed| TrainError::Smartcore(e.to_string());
        match &self.model {
            Model::Forest(f) => f.predict(&m).map_err(failed),
            Model::Tree(t) => t.predict(&m).map_err(failed),
        }
    }

    /// smartcore's model as serde JSON, readable by
    /// [`crate::import::smartcore::from_json`] and by smartcore itself.
    pub fn smartcore_json(&self) -> serde_json::Result<String> {
        match &self.model {
            Model::Forest(f) => serde_json::to_string(f.as_ref()),
            Model::Tree(t) => serde_json::to_string(t.as_ref()),
        }
    }

    /// The coefficient of determination R² of the forest on `data` (1 is a
    /// perfect fit; a constant target gives 1 when predicted exactly, else 0).
    pub fn r2(&self, data: &RegressionData) -> f64 {
        let predicted = self.forest.predict(data.x.view()).values;
        let n = data.y.len().max(1) as f64;
        let mean = data.y.iter().sum::<f64>() / n;
        let total: f64 = data.y.iter().map(|y| (y - mean).powi(2)).sum();
        let residual: f64 = data
            .y
            .iter()
            .zip(predicted.iter())
            .map(|(y, p)| (y - p).powi(2))
            .sum();
        if total == 0.0 {
            f64::from(u8::from(residual == 0.0))
        } else {
            1.0 - residual / total
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix;

    fn data(rows: usize) -> RegressionData {
        let mut rng = SplitMix(7);
        let x = Array2::from_shape_fn((rows, 3), |_| rng.unit() * 4.0 - 2.0);
        let y = x
            .rows()
            .into_iter()
            .map(|r| r[0] * 3.0 + (r[1] * 2.0).sin() - r[2] * r[2])
            .collect();
        RegressionData {
            x,
            y,
            feature_names: vec!["a".into(), "b".into(), "c".into()],
            target_name: "y".into(),
        }
    }

    #[test]
    fn forests_and_trees_predict_like_smartcore_to_the_bit() {
        let d = data(300);
        for params in [
            TrainParams {
                trees: 12,
                ..Default::default()
            },
            TrainParams {
                model: ModelKind::DecisionTree,
                max_depth: Some(6),
                ..Default::default()
            },
        ] {
            let t = train_regressor(&d, &params).unwrap();
            let ours = t.forest.predict(d.x.view()).values;
            let theirs = t.predict_smartcore(d.x.view()).unwrap();
            for (a, b) in ours.iter().zip(&theirs) {
                assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
            }
            assert!(t.r2(&d) > 0.8, "{}", t.r2(&d));
            let again = crate::import::smartcore::from_json(&t.smartcore_json().unwrap()).unwrap();
            assert_eq!(again.trees, t.forest.trees);
        }
    }

    #[test]
    fn bad_targets_and_parameters_are_errors() {
        let mut d = data(50);
        d.y[3] = f64::NAN;
        let e = train_regressor(&d, &TrainParams::default()).err().unwrap();
        assert!(e.to_string().contains("row 4"), "{e}");
        let d = data(50);
        let p = TrainParams {
            criterion: super::super::Criterion::Entropy,
            ..Default::default()
        };
        assert!(matches!(
            train_regressor(&d, &p),
            Err(TrainError::Parameter(_))
        ));
    }
}
