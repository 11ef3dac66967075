//! scikit-learn tree models from `.pkl` / `.joblib` files, read as data.
//!
//! Unpickling executes code named by the file, so this importer never
//! unpickles: a restricted reader ([`pickle`]) decodes the opcodes into a
//! value tree, refusing every global that is not on a short allowlist
//! ([`allowed_globals`]: the scikit-learn forest and tree classes, numpy's
//! array and dtype reconstruction, joblib's array wrapper, a few builtins
//! pickles use to spell bytes, and numpy's random pickling helpers, which
//! only ever yield inert values: an estimator made with
//! `random_state=np.random.RandomState(…)` keeps one), and the helper objects
//! estimators keep (init estimators, losses, binners, encoders), recorded as
//! data. The tree is then read like a document into a checked [`Forest`],
//! with each estimator family's prediction semantics.
//!
//! Supported, from scikit-learn 0.22 (classifier forests from older
//! releases too) to the newest: `RandomForest*`, `ExtraTrees*`,
//! `DecisionTree*` and `ExtraTree*` classifiers (single output) and
//! regressors (single and multi-output), `GradientBoostingClassifier` and
//! `GradientBoostingRegressor` (every loss; `init` zero or a dummy),
//! `HistGradientBoostingClassifier` and `HistGradientBoostingRegressor`
//! (every loss, missing values, categorical features) and
//! `IsolationForest`; pickled with protocols 2–5 by `pickle.dump` or
//! `joblib.dump`, joblib files uncompressed or compressed with zlib, gzip,
//! bz2, xz, lzma or lz4.
//!
//! ```no_run
//! let forest = forest2onnx::import::sklearn::read_file("rf.joblib")?;
//! println!("{} trees", forest.trees.len());
//! # Ok::<(), forest2onnx::import::sklearn::SklearnError>(())
//! ```

mod allowlist;
pub mod boosting;
mod container;
mod dispatch;
mod error;
mod estimator;
mod forest;
mod hist;
mod iforest;
mod joblib;
mod layout;
pub mod numpy;
pub mod pickle;
mod tree;
mod wrappers;

use std::path::Path;

pub use allowlist::allowed_globals;
pub use boosting::RAW_SCORE_SCALE;
pub use container::{looks_like_pickle, sniff, Container};
pub use error::SklearnError;
pub use pickle::{GlobalRef, Limits, PickleError, Value};

use crate::import::rounds::Rounds;
use crate::ir::Forest;

/// Reads a scikit-learn forest from a pickle or joblib file.
pub fn read_file(path: impl AsRef<Path>) -> Result<Forest, SklearnError> {
    read_file_with(path, &Limits::default())
}

/// [`read_file`] with explicit resource limits.
pub fn read_file_with(path: impl AsRef<Path>, limits: &Limits) -> Result<Forest, SklearnError> {
    let bytes = container::read_path(path.as_ref(), limits.max_decompressed)?;
    forest_from_pickle(&bytes, limits)
}

/// Reads a scikit-learn forest from the bytes of a pickle or joblib file.
pub fn from_bytes(bytes: &[u8]) -> Result<Forest, SklearnError> {
    from_bytes_with(bytes, &Limits::default())
}

/// [`from_bytes`] with explicit resource limits.
pub fn from_bytes_with(bytes: &[u8], limits: &Limits) -> Result<Forest, SklearnError> {
    match container::detect(bytes)? {
        // Decode in place: array payloads are borrowed, not copied.
        Container::Pickle => forest_from_pickle(bytes, limits),
        c => {
            let raw = container::decompress(c, bytes, limits.max_decompressed, bytes.len() as u64)?;
            forest_from_pickle(&raw, limits)
        }
    }
}

fn forest_from_pickle(raw: &[u8], limits: &Limits) -> Result<Forest, SklearnError> {
    forest_from_pickle_with(raw, limits, Rounds::Default)
}

fn forest_from_pickle_with(
    raw: &[u8],
    limits: &Limits,
    rounds: Rounds,
) -> Result<Forest, SklearnError> {
    let root = pickle::parse(raw, limits)?;
    dispatch::forest_from_value_with(&root, raw.len(), rounds)
}

/// [`from_bytes`] keeping the boosting rounds `rounds` asks for, for
/// pickled XGBoost and LightGBM estimators (any other estimator refuses
/// anything but [`Rounds::Default`]).
pub fn from_bytes_with_rounds(bytes: &[u8], rounds: Rounds) -> Result<Forest, SklearnError> {
    let limits = Limits::default();
    match container::detect(bytes)? {
        Container::Pickle => forest_from_pickle_with(bytes, &limits, rounds),
        c => {
            let raw = container::decompress(c, bytes, limits.max_decompressed, bytes.len() as u64)?;
            forest_from_pickle_with(&raw, &limits, rounds)
        }
    }
}

/// Lists every global a pickle or joblib file names, allowed or not,
/// without executing anything (for `forest2onnx inspect`). Extension codes,
/// persistent ids and out-of-band buffers appear as refused pseudo-globals
/// such as `<EXT1>.extension code 7`.
pub fn inspect_globals(bytes: &[u8]) -> Result<Vec<GlobalRef>, SklearnError> {
    inspect_globals_with(bytes, &Limits::default())
}

/// [`inspect_globals`] with explicit resource limits.
pub fn inspect_globals_with(bytes: &[u8], limits: &Limits) -> Result<Vec<GlobalRef>, SklearnError> {
    let globals = match container::detect(bytes)? {
        Container::Pickle => pickle::inspect(bytes, limits)?,
        c => {
            let raw = container::decompress(c, bytes, limits.max_decompressed, bytes.len() as u64)?;
            pickle::inspect(&raw, limits)?
        }
    };
    Ok(globals)
}

#[cfg(test)]
mod tests;
