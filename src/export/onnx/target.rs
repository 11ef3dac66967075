//! The runtime release an ONNX file is meant for (`--target-runtime
//! onnxruntime==X.Y`), and which `ai.onnx.ml` opsets we refuse to write for
//! it.
//!
//! Known onnxruntime tree-ensemble bugs that our files would hit are
//! avoided in what we write where we can (an ensemble of `BRANCH_EQ` nodes
//! only, `trees.rs`); the others are refused here. The rules come from the
//! compatibility matrix (`tests/it/ort_matrix.rs`,
//! README "onnxruntime releases"), which runs our whole conformance corpus
//! in every onnxruntime release from 1.16 on and fails when a release
//! mis-runs a file we write without a refusal here, or when a refusal here
//! is no longer needed.

use std::fmt;
use std::str::FromStr;

use super::{ExportError, Precision};

/// The first onnxruntime release that implements `TreeEnsemble`
/// (`ai.onnx.ml` opset 5).
pub const FIRST_TREE_ENSEMBLE_RELEASE: (u32, u32) = (1, 21);

/// An onnxruntime release, from `onnxruntime==X.Y` or `onnxruntime==X.Y.Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetRuntime {
    /// X of X.Y.Z.
    pub major: u32,
    /// Y of X.Y.Z.
    pub minor: u32,
    /// Z of X.Y.Z, when given (the rules go by X.Y).
    pub patch: Option<u32>,
}

/// A `--target-runtime` value we cannot read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown target runtime {0:?}: expected onnxruntime==X.Y or onnxruntime==X.Y.Z \
     (e.g. onnxruntime==1.18)"
)]
pub struct TargetError(pub String);

impl FromStr for TargetRuntime {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || TargetError(s.to_string());
        let version = s.trim().strip_prefix("onnxruntime==").ok_or_else(bad)?;
        let parts: Vec<&str> = version.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let number = |p: &str| p.parse::<u32>().map_err(|_| bad());
        Ok(TargetRuntime {
            major: number(parts[0])?,
            minor: number(parts[1])?,
            patch: parts.get(2).map(|p| number(p)).transpose()?,
        })
    }
}

impl fmt::Display for TargetRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "onnxruntime=={}.{}", self.major, self.minor)?;
        match self.patch {
            Some(p) => write!(f, ".{p}"),
            None => Ok(()),
        }
    }
}

impl TargetRuntime {
    /// Why files at `ml_opset` in `precision` are refused for this release,
    /// if they are.
    pub fn refusal(&self, ml_opset: i64, precision: Precision) -> Option<&'static str> {
        let release = (self.major, self.minor);
        if ml_opset == 5 && release < FIRST_TREE_ENSEMBLE_RELEASE {
            return Some("TreeEnsemble (ai.onnx.ml opset 5) is implemented from onnxruntime 1.21");
        }
        if ml_opset == 5 && release < (1, 24) {
            return Some(
                "onnxruntime 1.21 to 1.23 read a tree root as a leaf when its true child is leaf k \
                 and its false child split k (microsoft/onnxruntime#24679), which our numbering \
                 produces",
            );
        }
        if ml_opset == 3 && precision == Precision::Double && release < (1, 17) {
            return Some(
                "onnxruntime 1.16 mis-runs double-precision graphs at opset 3 \
                 (leaf numbers from a TreeEnsembleRegressor with one target per tree)",
            );
        }
        None
    }

    /// [`ExportError::Unsupported`] when [`TargetRuntime::refusal`] refuses
    /// `ml_opset` and `precision`, naming the opsets that release runs
    /// exactly in that precision.
    pub fn check(&self, ml_opset: i64, precision: Precision) -> Result<(), ExportError> {
        let Some(why) = self.refusal(ml_opset, precision) else {
            return Ok(());
        };
        let fine: Vec<String> = [1, 3, 5]
            .into_iter()
            .filter(|&o| !(o == 1 && precision == Precision::Double))
            .filter(|&o| self.refusal(o, precision).is_none())
            .map(|o| o.to_string())
            .collect();
        let instead = if fine.is_empty() {
            "use --precision float".to_string()
        } else {
            format!("use --ml-opset {}", fine.join(" or "))
        };
        Err(ExportError::Unsupported(format!(
            "ai.onnx.ml opset {ml_opset} in {} precision is refused for --target-runtime {self}: \
             {why}; {instead}",
            precision.name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_releases_and_refuses_bad_values() {
        let t: TargetRuntime = "onnxruntime==1.18".parse().unwrap();
        assert_eq!((t.major, t.minor, t.patch), (1, 18, None));
        let t: TargetRuntime = "onnxruntime==1.21.1".parse().unwrap();
        assert_eq!(t.patch, Some(1));
        assert_eq!(t.to_string(), "onnxruntime==1.21.1");
        for bad in [
            "onnxruntime",
            "onnxruntime==1",
            "tract==0.21",
            "onnxruntime==1.x",
            "onnxruntime==1.2.3.4",
        ] {
            assert!(bad.parse::<TargetRuntime>().is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_what_the_matrix_found_wrong() {
        let release = |v: &str| {
            format!("onnxruntime=={v}")
                .parse::<TargetRuntime>()
                .unwrap()
        };
        let (float, double) = (Precision::Float, Precision::Double);
        assert!(release("1.20.1").refusal(5, float).is_some());
        assert!(release("1.23").refusal(5, double).is_some());
        assert!(release("1.24").refusal(5, double).is_none());
        assert!(release("1.16.3").refusal(3, double).is_some());
        assert!(release("1.16.3").refusal(3, float).is_none());
        assert!(release("1.17").refusal(3, double).is_none());
        let message = release("1.20").check(5, float).unwrap_err().to_string();
        assert!(
            message.contains("1.21") && message.contains("--ml-opset 1 or 3"),
            "{message}"
        );
        let message = release("1.16").check(3, double).unwrap_err().to_string();
        assert!(message.contains("--precision float"), "{message}");
    }
}
