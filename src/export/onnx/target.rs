//! The runtime release an ONNX file is meant for (`--target-runtime
//! onnxruntime==X.Y`, `onnxruntime-node==X.Y` or `onnxruntime-web==X.Y`),
//! and which `ai.onnx.ml` opsets and tree depths we refuse to write for it.
//!
//! Known onnxruntime tree-ensemble bugs that our files would hit are
//! avoided in what we write where we can (an ensemble of `BRANCH_EQ` nodes
//! only, `trees.rs`); the others are refused here. The rules come from the
//! compatibility matrix (`tests/it/ort_matrix.rs`,
//! README "onnxruntime releases"), which runs our whole conformance corpus
//! in every onnxruntime release from 1.16 on, in onnxruntime-node and in
//! onnxruntime-web, and fails when one of them mis-runs a file we write
//! without a refusal here.

use std::fmt;
use std::str::FromStr;

use super::{ExportError, Precision};

/// The first onnxruntime release that implements `TreeEnsemble`
/// (`ai.onnx.ml` opset 5).
pub const FIRST_TREE_ENSEMBLE_RELEASE: (u32, u32) = (1, 21);

/// Deepest tree (split levels on one path, as written) that we write for
/// onnxruntime-web. Its WebAssembly build builds trees recursively on a
/// small stack: on 1.31.1 a 1,800-level chain runs and a 1,850-level one
/// fails with "Maximum call stack size exceeded"; the margin is ours.
pub const WEB_MAX_DEPTH: usize = 1024;

/// Which build of onnxruntime runs the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Package {
    /// The native library, as the Python wheel (`onnxruntime`) ships it.
    Onnxruntime,
    /// The same native library behind Node.js (`onnxruntime-node`, npm):
    /// the same rules as [`Package::Onnxruntime`].
    Node,
    /// The WebAssembly build (`onnxruntime-web`, npm), run by browsers and
    /// Node.js: the native rules of its release, plus its own.
    Web,
}

impl Package {
    /// The package name, as in `NAME==X.Y`.
    pub fn name(self) -> &'static str {
        match self {
            Package::Onnxruntime => "onnxruntime",
            Package::Node => "onnxruntime-node",
            Package::Web => "onnxruntime-web",
        }
    }
}

/// An onnxruntime release, from `PACKAGE==X.Y` or `PACKAGE==X.Y.Z` with
/// [`Package`]'s names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetRuntime {
    /// Which build.
    pub package: Package,
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
    "unknown target runtime {0:?}: expected PACKAGE==X.Y or PACKAGE==X.Y.Z, PACKAGE being \
     onnxruntime, onnxruntime-node or onnxruntime-web (e.g. onnxruntime==1.18)"
)]
pub struct TargetError(pub String);

impl FromStr for TargetRuntime {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || TargetError(s.to_string());
        let (name, version) = s.trim().split_once("==").ok_or_else(bad)?;
        let package = [Package::Onnxruntime, Package::Node, Package::Web]
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(bad)?;
        let parts: Vec<&str> = version.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let number = |p: &str| p.parse::<u32>().map_err(|_| bad());
        Ok(TargetRuntime {
            package,
            major: number(parts[0])?,
            minor: number(parts[1])?,
            patch: parts.get(2).map(|p| number(p)).transpose()?,
        })
    }
}

impl fmt::Display for TargetRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=={}.{}", self.package.name(), self.major, self.minor)?;
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
        if ml_opset == 5 && self.package == Package::Web {
            return Some(
                "onnxruntime-web (1.31.1, the release the matrix runs) mis-evaluates some \
                 BRANCH_MEMBER sets of TreeEnsemble: 3 of the 50 corpus models, all with \
                 categorical splits, give wrong scores, where native onnxruntime 1.31 is exact",
            );
        }
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

    /// [`ExportError::Unsupported`] when the file's deepest tree as written
    /// (`depth` split levels, see [`super::written_depth`]) is too deep for
    /// this runtime: onnxruntime-web beyond [`WEB_MAX_DEPTH`].
    pub fn check_depth(&self, depth: usize) -> Result<(), ExportError> {
        if self.package != Package::Web || depth <= WEB_MAX_DEPTH {
            return Ok(());
        }
        Err(ExportError::Unsupported(format!(
            "a tree {depth} split levels deep (as written; categorical sets at ai.onnx.ml \
             opsets 1/3 are chains of nodes) is refused for --target-runtime {self}: its \
             WebAssembly build overflows its stack on trees deeper than about 1,800 levels \
             (we allow {WEB_MAX_DEPTH}); run this model with native onnxruntime"
        )))
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

    #[test]
    fn node_follows_the_native_rules_and_web_adds_its_own() {
        let target = |s: &str| s.parse::<TargetRuntime>().unwrap();
        let node = target("onnxruntime-node==1.23.2");
        assert_eq!(node.package, Package::Node);
        assert_eq!(node.to_string(), "onnxruntime-node==1.23.2");
        assert!(node.refusal(5, Precision::Float).is_some());
        assert!(target("onnxruntime-node==1.31")
            .refusal(5, Precision::Float)
            .is_none());
        let web = target("onnxruntime-web==1.31.1");
        assert!(web.refusal(5, Precision::Double).is_some());
        assert!(web.refusal(3, Precision::Double).is_none());
        let message = web.check(5, Precision::Float).unwrap_err().to_string();
        assert!(message.contains("--ml-opset 1 or 3"), "{message}");
        assert!(web.check_depth(WEB_MAX_DEPTH).is_ok());
        let message = web.check_depth(WEB_MAX_DEPTH + 1).unwrap_err().to_string();
        assert!(message.contains("1025 split levels"), "{message}");
        assert!(target("onnxruntime==1.31").check_depth(1 << 20).is_ok());
        assert!("onnxruntime-gpu==1.31".parse::<TargetRuntime>().is_err());
    }
}
