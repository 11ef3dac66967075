//! The globals a scikit-learn forest pickle may name. Everything else is
//! refused before it could be called. Each entry says what the reader does
//! with it instead of calling it.

/// What an allowed global stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Known {
    /// A scikit-learn estimator class; the reader records its state.
    Estimator,
    /// `sklearn.tree._tree.Tree`; the reader records args and state.
    Tree,
    /// `numpy…multiarray._reconstruct`: an empty array that `BUILD` fills.
    NumpyReconstruct,
    /// `numpy…numeric._frombuffer`: an array from an in-band buffer (protocol 5).
    NumpyFromBuffer,
    /// `numpy.ndarray`: only as an argument (array subclass).
    NumpyNdarray,
    /// `numpy.dtype`: decoded from its args and `BUILD` state.
    NumpyDtype,
    /// `numpy…multiarray.scalar`: a numpy scalar from dtype and bytes.
    NumpyScalar,
    /// `joblib.numpy_pickle.NumpyArrayWrapper`: array bytes follow its `BUILD`.
    JoblibArrayWrapper,
    /// `joblib.numpy_pickle.NDArrayWrapper` (joblib < 0.10): refused at `BUILD`
    /// because its data lives in companion files named by the pickle.
    JoblibLegacyWrapper,
    /// `copyreg._reconstructor(cls, object, None)`: protocol 0/1 instances.
    CopyregReconstructor,
    /// `builtins.object`: only as the base argument of `_reconstructor`.
    BuiltinsObject,
    /// `_codecs.encode(text, "latin1")`: how protocol 2 stores `bytes`.
    CodecsEncode,
    /// `builtins.bytes()`: how protocol 2 stores empty `bytes`.
    BuiltinsBytes,
    /// `builtins.bytearray(bytes)`: how protocols < 5 store `bytearray`.
    BuiltinsBytearray,
}

/// scikit-learn estimator classes the importer converts, under every module
/// path they have had (`sklearn.ensemble.forest` and `sklearn.tree.tree`
/// before 0.22).
pub(crate) const ESTIMATORS: &[(&str, &str)] = &[
    ("sklearn.ensemble._forest", "RandomForestClassifier"),
    ("sklearn.ensemble._forest", "ExtraTreesClassifier"),
    ("sklearn.ensemble.forest", "RandomForestClassifier"),
    ("sklearn.ensemble.forest", "ExtraTreesClassifier"),
    ("sklearn.tree._classes", "DecisionTreeClassifier"),
    ("sklearn.tree._classes", "ExtraTreeClassifier"),
    ("sklearn.tree.tree", "DecisionTreeClassifier"),
    ("sklearn.tree.tree", "ExtraTreeClassifier"),
];

/// Every allowed global with its meaning.
const ALLOWED: &[(&str, &str, Known)] = &[
    ("sklearn.tree._tree", "Tree", Known::Tree),
    (
        "numpy.core.multiarray",
        "_reconstruct",
        Known::NumpyReconstruct,
    ),
    (
        "numpy._core.multiarray",
        "_reconstruct",
        Known::NumpyReconstruct,
    ),
    ("numpy.core.numeric", "_frombuffer", Known::NumpyFromBuffer),
    ("numpy._core.numeric", "_frombuffer", Known::NumpyFromBuffer),
    ("numpy", "ndarray", Known::NumpyNdarray),
    ("numpy", "dtype", Known::NumpyDtype),
    ("numpy.core.multiarray", "scalar", Known::NumpyScalar),
    ("numpy._core.multiarray", "scalar", Known::NumpyScalar),
    (
        "joblib.numpy_pickle",
        "NumpyArrayWrapper",
        Known::JoblibArrayWrapper,
    ),
    (
        "sklearn.externals.joblib.numpy_pickle",
        "NumpyArrayWrapper",
        Known::JoblibArrayWrapper,
    ),
    (
        "joblib.numpy_pickle",
        "NDArrayWrapper",
        Known::JoblibLegacyWrapper,
    ),
    (
        "joblib.numpy_pickle_compat",
        "NDArrayWrapper",
        Known::JoblibLegacyWrapper,
    ),
    ("copyreg", "_reconstructor", Known::CopyregReconstructor),
    ("copy_reg", "_reconstructor", Known::CopyregReconstructor),
    ("builtins", "object", Known::BuiltinsObject),
    ("__builtin__", "object", Known::BuiltinsObject),
    ("_codecs", "encode", Known::CodecsEncode),
    ("builtins", "bytes", Known::BuiltinsBytes),
    ("builtins", "bytearray", Known::BuiltinsBytearray),
    ("__builtin__", "bytearray", Known::BuiltinsBytearray),
];

/// What `module.name` stands for, or `None` when it is not allowed.
pub(crate) fn classify(module: &str, name: &str) -> Option<Known> {
    if ESTIMATORS.iter().any(|&(m, n)| m == module && n == name) {
        return Some(Known::Estimator);
    }
    ALLOWED
        .iter()
        .find(|&&(m, n, _)| m == module && n == name)
        .map(|&(_, _, k)| k)
}

/// Every allowed `(module, name)` pair, for documentation and the CLI.
pub fn allowed_globals() -> Vec<(&'static str, &'static str)> {
    ESTIMATORS
        .iter()
        .copied()
        .chain(ALLOWED.iter().map(|&(m, n, _)| (m, n)))
        .collect()
}
