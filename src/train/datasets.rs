//! Built-in classification datasets for demos, tests and `forest2onnx train --dataset`.
//!
//! iris, breast-cancer and digits come from `smartcore::dataset` (stored
//! there as f32, widened exactly to f64 here); wine is the UCI wine data
//! (public domain, 178 rows × 13 features, 3 classes) embedded from
//! `data/wine.csv`, because smartcore does not ship it.

use ndarray::Array2;
use smartcore::dataset::Dataset;

use crate::train::{Targets, TrainingData};

/// The UCI wine data with a header row; the last column is the class (0, 1, 2).
const WINE_CSV: &str = include_str!("../../data/wine.csv");

/// A dataset compiled into forest2onnx.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// Fisher's iris: 150 rows, 4 features, 3 classes named by species.
    Iris,
    /// UCI wine: 178 rows, 13 features, classes 0, 1, 2.
    Wine,
    /// Breast Cancer Wisconsin (diagnostic): 569 rows, 30 features,
    /// classes 0 (malignant) and 1 (benign).
    BreastCancer,
    /// Optical handwritten digits: 1797 rows, 64 pixel features (8×8, 0–16), classes 0–9.
    Digits,
}

impl Builtin {
    /// Every built-in dataset.
    pub const ALL: [Builtin; 4] = [
        Builtin::Iris,
        Builtin::Wine,
        Builtin::BreastCancer,
        Builtin::Digits,
    ];

    /// The name used on the command line, e.g. `breast-cancer`.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Iris => "iris",
            Builtin::Wine => "wine",
            Builtin::BreastCancer => "breast-cancer",
            Builtin::Digits => "digits",
        }
    }

    /// The dataset called `name` ([`Builtin::name`]).
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Loads the data.
    pub fn load(self) -> TrainingData {
        match self {
            Builtin::Iris => {
                let d = smartcore::dataset::iris::load_dataset();
                // smartcore codes the species 0, 1, 2 in the order of its
                // target names, which is also their sorted order.
                let names = d.target_names.clone();
                let y = d
                    .target
                    .iter()
                    .map(|&c| names[c as usize].clone())
                    .collect();
                from_smartcore(&d, d.feature_names.clone(), Targets::Str(y), "species")
            }
            Builtin::BreastCancer => {
                let d = smartcore::dataset::breast_cancer::load_dataset();
                let y = d.target.iter().map(|&c| i64::from(c)).collect();
                from_smartcore(&d, d.feature_names.clone(), Targets::Int(y), "diagnosis")
            }
            Builtin::Digits => {
                let d = smartcore::dataset::digits::load_dataset();
                // smartcore's digits copy iris's feature names; name the
                // pixels by row and column instead.
                let names = (0..d.num_features)
                    .map(|i| format!("pixel_{}_{}", i / 8, i % 8))
                    .collect();
                let y = d.target.iter().map(|&c| c as i64).collect();
                from_smartcore(&d, names, Targets::Int(y), "digit")
            }
            Builtin::Wine => wine(),
        }
    }
}

impl std::fmt::Display for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn from_smartcore<Y>(
    d: &Dataset<f32, Y>,
    feature_names: Vec<String>,
    y: Targets,
    target_name: &str,
) -> TrainingData {
    let x = Array2::from_shape_fn((d.num_samples, d.num_features), |(r, c)| {
        f64::from(d.data[r * d.num_features + c])
    });
    TrainingData {
        x,
        y,
        feature_names,
        target_name: target_name.into(),
    }
}

fn wine() -> TrainingData {
    let mut lines = WINE_CSV.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let n_features = header.len() - 1;
    let mut values = Vec::new();
    let mut y = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        // The file is compiled in and covered by tests, so a bad cell is a
        // build defect, not a user error.
        values.extend(
            cells[..n_features]
                .iter()
                .map(|c| c.parse::<f64>().expect("data/wine.csv holds numbers")),
        );
        y.push(
            cells[n_features]
                .parse()
                .expect("data/wine.csv classes are integers"),
        );
    }
    let rows = y.len();
    TrainingData {
        x: Array2::from_shape_vec((rows, n_features), values)
            .expect("data/wine.csv is rectangular"),
        y: Targets::Int(y),
        feature_names: header[..n_features].iter().map(|s| s.to_string()).collect(),
        target_name: header[n_features].into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_classes() {
        for (b, rows, cols, classes) in [
            (Builtin::Iris, 150, 4, 3),
            (Builtin::Wine, 178, 13, 3),
            (Builtin::BreastCancer, 569, 30, 2),
            (Builtin::Digits, 1797, 64, 10),
        ] {
            let d = b.load();
            assert_eq!(d.x.dim(), (rows, cols), "{b}");
            assert_eq!(d.feature_names.len(), cols, "{b}");
            assert_eq!(d.classes().len(), classes, "{b}");
            assert_eq!(Builtin::from_name(b.name()), Some(b));
        }
    }
}
