//! PMML 4.4 export: a [`Forest`] as a `MiningModel` over `TreeModel`
//! segments that a double-precision PMML evaluator (JPMML, PMML4S) scores
//! exactly as [`Forest::predict`] does.
//!
//! ```
//! use forest2onnx::export::pmml::{self, PmmlOptions};
//! let forest = forest2onnx::synth::forest(&forest2onnx::synth::SynthSpec::small());
//! let xml = pmml::to_bytes(&forest, &PmmlOptions::default())?;
//! assert!(xml.starts_with(b"<?xml"));
//! # Ok::<(), pmml::PmmlError>(())
//! ```
//!
//! # Mapping
//!
//! * Soft-vote forests: `average` over classification trees whose leaves
//!   carry `ScoreDistribution`s (the leaf's probabilities, written exactly).
//!   Hard-vote forests the same way, with one-hot leaves: `majorityVote`
//!   would give the same probabilities, but JPMML breaks its ties in favour
//!   of the class voted first, the IR in favour of the lowest class index.
//!   The first tree's leaves list every class in class order, which makes
//!   JPMML's predicted value break ties as the IR does; the `label` output
//!   field computes the first most probable class explicitly (`if`/`max`
//!   over the probability outputs), so it is exact in any evaluator.
//!   Averaging regressors: `average` over regression trees.
//! * Summed (boosted) forests: one `sum` segmentation per raw score (its
//!   first segment a one-leaf tree holding the base value, so that the sum
//!   runs in the IR's order: base value, then the trees in order), chained
//!   (`modelChain`) into a `RegressionModel` that applies the post-transform
//!   (`logit` for binary logistic models and logistic regression, `softmax`
//!   per class, `exp` for log-link regression) with intercept 0 and
//!   coefficient 1, so the transform's argument is the raw score itself.
//! * Anomaly detectors: the summed path lengths, and `Output` fields that
//!   compute `score_samples`, `decision_function` and the −1/1 label.
//! * Splits: the child that missing values (NaN, and zero-band values of
//!   zero-as-missing features) do *not* go to comes first, with a predicate
//!   that is false for a missing value; the other child follows with
//!   `<True/>`. With `missingValueStrategy="none"` an evaluator routes a
//!   missing value to the second child, so NaN routing is exact without
//!   `defaultChild`.
//! * Inputs are double fields. Float32 reading ([`crate::ir::Precision::F32`]),
//!   category truncation and the zero band are folded into the predicates'
//!   values (see `cuts`), so every double input routes exactly as in the IR.
//!   Categorical splits become unions of intervals (`[c, c + 1)` per run of
//!   categories) rather than `SimpleSetPredicate`s: a set predicate compares
//!   values for equality, and would send `2.5` elsewhere than category 2.
//! * Numbers are written as the shortest decimal that parses back to the
//!   same double.
//! * Models of more than [`INDENT_MAX_NODES`] nodes are written without
//!   indentation by default: each line of a full-depth tree is indented by
//!   its depth (dozens of levels), so the 200-tree forest of `SynthSpec::medium`
//!   takes 474 MB indented and 259 MB compact, and nobody reads hundreds of
//!   megabytes of XML by eye.
//! * Binary logistic models chain a `logit` `RegressionModel` whose first
//!   table is the second class (its probability is `σ(s)`, the second
//!   table's `1 - σ(s)`, exactly as the IR computes them). JPMML's own
//!   predicted value gives a tie (`σ(s) = 0.5` exactly) to that first table,
//!   i.e. the second class; the `label` output gives it to the first class,
//!   as the IR does. Read the `label` output.
//!
//! What PMML cannot express exactly is refused with
//! [`PmmlError::Unsupported`]: multi-target regression, classifiers whose
//! raw scores are their probabilities (`PostTransform::None`) or whose
//! per-class scores are each passed through a logistic function, integer
//! labels beyond 32 bits, non-finite float labels, and names that XML cannot
//! hold.

mod cuts;
mod plan;
pub mod read;
mod segments;
mod tree;
mod writer;
mod xml;

use std::io::Write;

use crate::ir::{Forest, ForestError};

pub use read::{summarize, PmmlSummary, ReadError};

/// The PMML namespace of the documents we write.
pub const NAMESPACE: &str = "http://www.dmg.org/PMML-4_4";

/// Models of more nodes than this are written without indentation by
/// default (indentation nearly doubles a full-depth forest's size).
pub const INDENT_MAX_NODES: usize = 100_000;

/// Trees deeper than this are written without indentation by default (each
/// line would carry its depth in spaces).
pub const INDENT_MAX_DEPTH: usize = 64;

/// Options of the PMML export.
#[derive(Clone, Debug, Default)]
pub struct PmmlOptions {
    /// `modelName` of the top-level model [default: none].
    pub model_name: Option<String>,
    /// The header's `description` [default: the source estimator and library].
    pub description: Option<String>,
    /// Indent the XML [default: when the forest has at most
    /// [`INDENT_MAX_NODES`] nodes and no tree deeper than
    /// [`INDENT_MAX_DEPTH`]].
    pub indent: Option<bool>,
}

/// Why a forest could not be exported to PMML.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PmmlError {
    /// The forest fails [`Forest::check`].
    #[error("invalid forest: {0}")]
    Invalid(#[from] ForestError),
    /// PMML cannot express something the forest holds exactly.
    #[error("PMML cannot express {what} exactly: {why}")]
    Unsupported {
        /// The attribute or field of the forest.
        what: String,
        /// Why, and what would work.
        why: String,
    },
    /// Writing failed.
    #[error("cannot write the PMML document: {0}")]
    Io(#[from] std::io::Error),
}

impl PmmlError {
    fn unsupported(what: impl Into<String>, why: impl Into<String>) -> PmmlError {
        PmmlError::Unsupported {
            what: what.into(),
            why: why.into(),
        }
    }
}

/// Checks that `forest` can be exported, without writing anything.
pub fn check(forest: &Forest) -> Result<(), PmmlError> {
    plan::Plan::new(forest).map(|_| ())
}

/// Writes `forest` as a PMML 4.4 document to `out`. The trees are rendered
/// in parallel on rayon's pool, in chunks written to `out` in order by the
/// calling thread (the bytes do not depend on the number of threads); memory
/// holds a few chunks (about 3 MB each, two per thread), not the document.
/// Nothing is written when the forest is refused. Returns `out`, flushed
/// (it receives writes of whole chunks: a `BufWriter` is optional).
pub fn write<W: Write>(forest: &Forest, options: &PmmlOptions, out: W) -> Result<W, PmmlError> {
    write_chunked(forest, options, out, segments::Chunking::default())
}

/// [`write`] with the trees grouped for parallel rendering as `chunking`
/// says (the tests check that the bytes do not depend on it).
fn write_chunked<W: Write>(
    forest: &Forest,
    options: &PmmlOptions,
    out: W,
    chunking: segments::Chunking,
) -> Result<W, PmmlError> {
    let plan = plan::Plan::new(forest)?;
    Ok(xml::write(&plan, options, out, chunking)?)
}

/// The PMML document of `forest`, in memory.
pub fn to_bytes(forest: &Forest, options: &PmmlOptions) -> Result<Vec<u8>, PmmlError> {
    write(forest, options, Vec::new())
}

#[cfg(test)]
mod tests;
