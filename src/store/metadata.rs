//! What a model file says about its forest: the public header types and the
//! options that fill them.

use std::collections::BTreeMap;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::ir::{Aggregation, InputRules, Labels, Source, SplitOp, Task};

/// Version of the file format (not of forest2onnx).
///
/// A reader refuses files of a newer major version and reads every minor
/// version of the majors it supports: minor versions only add what older
/// readers can ignore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FormatVersion {
    /// Incompatible changes bump this.
    pub major: u16,
    /// Backwards-compatible additions bump this.
    pub minor: u16,
}

impl std::fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// How the payload (the arrays) is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    /// Raw little-endian sections: the file can be memory-mapped.
    None,
    /// One zstd stream over the whole payload.
    Zstd {
        /// The zstd level used.
        level: i32,
    },
}

/// Identifies the data a model was trained on without storing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFingerprint {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `xxh3-128:` followed by 32 hex digits.
    pub hash: String,
}

impl DataFingerprint {
    /// Fingerprints `x`: its shape and the xxh3-128 hash of its values as
    /// little-endian f64 bytes in row-major order.
    ///
    /// The hash depends only on the values, not on the memory layout of the
    /// view; it is bit-exact (`0.0` and `-0.0`, or two NaN payloads, differ).
    pub fn of(x: ArrayView2<'_, f64>) -> Self {
        let mut hasher = Xxh3::new();
        match x.as_slice() {
            // Contiguous row-major data on a little-endian machine already is
            // the byte stream we hash.
            Some(s) if cfg!(target_endian = "little") => hasher.update(bytemuck::cast_slice(s)),
            _ => {
                let mut buf = Vec::with_capacity(x.ncols() * 8);
                for row in x.rows() {
                    buf.clear();
                    row.iter()
                        .for_each(|v| buf.extend_from_slice(&v.to_le_bytes()));
                    hasher.update(&buf);
                }
            }
        }
        DataFingerprint {
            rows: x.nrows(),
            cols: x.ncols(),
            hash: format!("xxh3-128:{:032x}", hasher.digest128()),
        }
    }
}

/// Everything a model file's header holds, as returned by
/// [`super::read_metadata`] and [`super::load_with_metadata`].
///
/// The forest's own small fields (task, aggregation, labels, names) live here
/// too, so the header alone describes the model; the arrays are in the payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Format version of the file.
    pub format: FormatVersion,
    /// forest2onnx version that wrote the file.
    pub forest2onnx_version: String,
    /// When the file was written, RFC 3339 (UTC).
    pub created: String,
    /// Library, version and estimator that trained the model.
    pub source: Source,
    /// Number of input features.
    pub n_features: usize,
    /// Feature names, when known.
    pub feature_names: Option<Vec<String>>,
    /// How the source library reads inputs (format 1.1; files of format
    /// 1.0 lack it and are read as before, comparing in f64).
    #[serde(default)]
    pub input: InputRules,
    /// Split comparison of every node.
    #[serde(rename = "comparison")]
    pub split_op: SplitOp,
    /// Classification (with the class labels) or regression.
    pub task: Task,
    /// How tree outputs combine. A summed forest whose trees each add to
    /// one score keeps `tree_targets` in the payload's `tree_target`
    /// section, not here: see [`Metadata::per_tree_targets`].
    pub aggregation: Aggregation,
    /// Number of trees.
    pub n_trees: usize,
    /// Total number of nodes over all trees.
    pub n_nodes: usize,
    /// Whether each tree adds to one score, listed in the `tree_target`
    /// section (format 2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_tree_targets: bool,
    /// Number of categorical splits over all trees (format 2).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n_category_splits: usize,
    /// Number of categories listed over all categorical splits (format 2).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n_category_values: usize,
    /// Number of leaves over all trees (format 4, which stores values for
    /// leaves only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n_leaves: usize,
    /// Number of stored true children over all trees (format 4: the trees
    /// whose splits do not all have the next node as their true child).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n_true_children: usize,
    /// How the payload is stored.
    pub compression: Compression,
    /// Training parameters (a free-form JSON object), when given.
    #[serde(default)]
    pub training_params: Option<serde_json::Value>,
    /// Fingerprint of the training data, when given.
    #[serde(default)]
    pub data_fingerprint: Option<DataFingerprint>,
    /// Free-form user tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The software the model was saved from, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
}

/// The software a model was saved from, as the Python package's `dump`
/// records it: interpreter, the libraries that matter, platform, and
/// optionally the whole installed package set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// The interpreter, e.g. `CPython 3.11.7`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// The platform, e.g. `Linux-6.1.0-x86_64-with-glibc2.36`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Versions of the libraries that matter (`scikit-learn`, `numpy`,
    /// `xgboost`, `lightgbm`, ...), by name.
    #[serde(default)]
    pub packages: BTreeMap<String, String>,
    /// `sha256:` and the hex digest of `requirements`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements_hash: Option<String>,
    /// The installed package set, one `name==version` a line, sorted (as
    /// `pip freeze` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Metadata {
    /// Class labels, when the model is a classifier.
    pub fn class_labels(&self) -> Option<&Labels> {
        match &self.task {
            Task::Classification(labels) => Some(labels),
            Task::Regression { .. } | Task::AnomalyDetection { .. } => None,
        }
    }
}

/// Options of [`super::save`] and [`super::to_bytes`].
#[derive(Clone, Debug, PartialEq)]
pub struct SaveOptions {
    /// zstd level: 0 stores the arrays uncompressed (memory-mappable), 1..=22
    /// trade speed for size, negative levels are zstd's fast modes. Default 3.
    pub level: i32,
    /// Training parameters to record; must be a JSON object.
    pub training_params: Option<serde_json::Value>,
    /// Fingerprint of the training data to record.
    pub data_fingerprint: Option<DataFingerprint>,
    /// Free-form tags to record.
    pub tags: BTreeMap<String, String>,
    /// The software environment to record.
    pub environment: Option<Environment>,
}

impl SaveOptions {
    /// The options that re-save a file with the same provenance (training
    /// parameters, data fingerprint, tags) and compression level.
    pub fn from_metadata(m: &Metadata) -> SaveOptions {
        SaveOptions {
            level: match m.compression {
                Compression::None => 0,
                Compression::Zstd { level } => level,
            },
            training_params: m.training_params.clone(),
            data_fingerprint: m.data_fingerprint.clone(),
            tags: m.tags.clone(),
            environment: m.environment.clone(),
        }
    }
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            level: 3,
            training_params: None,
            data_fingerprint: None,
            tags: BTreeMap::new(),
            environment: None,
        }
    }
}
