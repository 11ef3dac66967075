//! What the two CatBoost file formats hold, read into one shape: the `.cbm`
//! reader ([`super::cbm`]) and the JSON reader ([`super::json`]) both produce
//! a [`Model`], and one conversion ([`super::convert`]) turns it into a
//! forest, so the two formats of one model give the identical forest.

use std::collections::BTreeMap;

/// How a float feature's NaN is routed (`nan_mode` at training).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NanTreatment {
    /// `AsIs` (`nan_mode` Forbidden): no NaN was seen; CatBoost's
    /// `NaN > border` is false, so NaN takes the `<=` side.
    Forbidden,
    /// `AsFalse` (`nan_mode` Min): NaN is below every border.
    Min,
    /// `AsTrue` (`nan_mode` Max): NaN is above every border.
    Max,
}

impl NanTreatment {
    /// The name CatBoost's JSON export gives it.
    pub(crate) fn from_name(name: &str) -> Option<NanTreatment> {
        match name {
            "AsIs" => Some(NanTreatment::Forbidden),
            "AsFalse" => Some(NanTreatment::Min),
            "AsTrue" => Some(NanTreatment::Max),
            _ => None,
        }
    }
}

/// A float feature.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FloatFeature {
    /// Its column in CatBoost's flat feature order.
    pub flat: u32,
    /// Its name (`feature_id`), possibly empty.
    pub name: String,
    /// Where NaN goes.
    pub nan: NanTreatment,
}

/// A categorical feature.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CatFeature {
    /// Its column in CatBoost's flat feature order.
    pub flat: u32,
    /// Its name (`feature_id`), possibly empty.
    pub name: String,
}

/// One binary split; CatBoost takes the *right* branch (bit 1 of an
/// oblivious leaf index) when it holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Split {
    /// `float32(x) > border` on float feature `feature` (index among the
    /// float features).
    Float { feature: usize, border: f32 },
    /// `hash(x) == value` on categorical feature `feature` (index among the
    /// categorical features).
    OneHot { feature: usize, value: i32 },
    /// A split on a CTR (target statistic) feature.
    Ctr,
}

/// A node of a non-symmetric tree, in an arena (children have larger ids).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// A leaf: `dims` values.
    Leaf(Vec<f64>),
    /// A split: `left` when it fails, `right` when it holds.
    Split {
        split: Split,
        left: usize,
        right: usize,
    },
}

/// The trees, in one of CatBoost's two layouts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Trees {
    /// Symmetric trees: split `i` gives bit `i` of the leaf index; leaf `l`
    /// holds `leaves[l * dims .. (l + 1) * dims]`.
    Oblivious(Vec<(Vec<Split>, Vec<f64>)>),
    /// Depthwise / Lossguide trees, each an arena rooted at node 0.
    NonSymmetric(Vec<Vec<Node>>),
}

impl Trees {
    /// Number of trees.
    pub(crate) fn len(&self) -> usize {
        match self {
            Trees::Oblivious(t) => t.len(),
            Trees::NonSymmetric(t) => t.len(),
        }
    }
}

/// A CatBoost model as both file formats hold it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Model {
    /// Float features, in float-index order.
    pub float_features: Vec<FloatFeature>,
    /// Categorical features, in categorical-index order.
    pub cat_features: Vec<CatFeature>,
    /// Number of CTR features.
    pub ctr_features: usize,
    /// Text and embedding features (names), which the model may not use.
    pub other_features: Vec<String>,
    /// Scores per row (`ApproxDimension`).
    pub dims: usize,
    /// The trees.
    pub trees: Trees,
    /// `scale_and_bias`: raw = scale · Σ leaves + bias.
    pub scale: f64,
    /// One bias per score.
    pub bias: Vec<f64>,
    /// `model_info`: keys ending in `params` as JSON values, the rest as
    /// JSON strings.
    pub info: BTreeMap<String, serde_json::Value>,
}
