//! The globals a scikit-learn forest pickle may name. Everything else is
//! refused before it could be called. Each entry says what the reader does
//! with it instead of calling it.
//!
//! ## Inert numpy random state
//!
//! An estimator created with `random_state=np.random.RandomState(…)` keeps
//! that object in its attributes (and a `np.random.Generator` can be set on
//! one after fitting), so the pickle names numpy's random pickling helpers.
//! They never matter for prediction. The reader accepts them as *inert*
//! values ([`Known::RandomCtor`], [`Known::RandomClass`]): never called,
//! their `REDUCE` arguments checked against the forms numpy writes, and what
//! they hold (arguments and `BUILD` state) kept as plain data (scalars,
//! strings, bytes, containers, arrays, dtypes and other inert values; no
//! estimator, tree or other global), under the same limits as everything
//! else. No other global becomes allowed: `RandomState`, `Generator` and
//! `default_rng` themselves stay refused. The result is
//! [`Value::Inert`](super::pickle::Value::Inert), which no accessor returns as
//! an object, array or dtype: it can only sit in an attribute dict. Using it
//! anywhere else (calling it, building it twice, giving it as an array,
//! dtype, estimator or tree) is refused with an error naming it.
//!
//! What numpy writes (checked with numpy 1.23.5, 1.26.4 and 2.4.6, pickle
//! protocols 0–5; the pre-1.17 form from numpy's source):
//!
//! * numpy ≥ 2: `__randomstate_ctor(bitgen)` / `__generator_ctor(bitgen)`,
//!   where `bitgen` is `__bit_generator_ctor(<bit generator class>)` with a
//!   `BUILD` state `(state dict, SeedSequence or None)`, and a SeedSequence
//!   is `__pyx_unpickle_SeedSequence(SeedSequence, checksum, None)` plus a
//!   `BUILD` tuple;
//! * numpy 1.25–1.26: `__randomstate_ctor("MT19937", __bit_generator_ctor)`
//!   (likewise `__generator_ctor`) with a `BUILD` state dict;
//! * numpy 1.17–1.24: `__randomstate_ctor("MT19937")` with a state dict;
//! * numpy < 1.17: `numpy.random.__RandomState_ctor()` with the legacy state
//!   tuple `("MT19937", key, pos, has_gauss, cached_gaussian)`.
//!
//! Bit generator names must be numpy's own (`MT19937`, `PCG64`,
//! `PCG64DXSM`, `Philox`, `SFC64`): numpy itself refuses any other.

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
    /// A numpy random pickling helper: never called; `REDUCE` records an
    /// inert object (see the module docs).
    RandomCtor(RandomCtor),
    /// A numpy bit generator class or `SeedSequence`: only as an argument of
    /// a [`Known::RandomCtor`].
    RandomClass(RandomClass),
}

impl Known {
    /// Whether objects recorded for this global are inert numpy random state.
    pub(crate) fn is_inert(self) -> bool {
        matches!(self, Known::RandomCtor(_))
    }
}

/// numpy's random pickling helpers, by the object they would build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RandomCtor {
    /// `numpy.random._pickle.__randomstate_ctor(name_or_bitgen[, bitgen_ctor])`.
    RandomState,
    /// `numpy.random._pickle.__generator_ctor(name_or_bitgen[, bitgen_ctor])`.
    Generator,
    /// `numpy.random._pickle.__bit_generator_ctor(name_or_class)`.
    BitGenerator,
    /// `numpy.random.__RandomState_ctor()` (numpy < 1.17).
    LegacyRandomState,
    /// `numpy.random.bit_generator.__pyx_unpickle_SeedSequence(cls, checksum, state)`.
    SeedSequence,
}

impl RandomCtor {
    /// What the helper would build, for error messages.
    pub(crate) fn builds(self) -> &'static str {
        match self {
            RandomCtor::RandomState | RandomCtor::LegacyRandomState => "numpy RandomState",
            RandomCtor::Generator => "numpy Generator",
            RandomCtor::BitGenerator => "numpy bit generator",
            RandomCtor::SeedSequence => "numpy SeedSequence",
        }
    }
}

/// Classes numpy's random pickling helpers take as arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RandomClass {
    /// `MT19937`, `PCG64`, `PCG64DXSM`, `Philox`, `SFC64`.
    BitGenerator,
    /// `numpy.random.bit_generator.SeedSequence`.
    SeedSequence,
}

/// Bit generator names numpy's `__bit_generator_ctor` knows.
pub(crate) const BIT_GENERATOR_NAMES: &[&str] =
    &["MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"];

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
    // Inert numpy random state (see the module docs).
    (
        "numpy.random._pickle",
        "__randomstate_ctor",
        Known::RandomCtor(RandomCtor::RandomState),
    ),
    (
        "numpy.random._pickle",
        "__generator_ctor",
        Known::RandomCtor(RandomCtor::Generator),
    ),
    (
        "numpy.random._pickle",
        "__bit_generator_ctor",
        Known::RandomCtor(RandomCtor::BitGenerator),
    ),
    (
        "numpy.random",
        "__RandomState_ctor",
        Known::RandomCtor(RandomCtor::LegacyRandomState),
    ),
    (
        "numpy.random.bit_generator",
        "__pyx_unpickle_SeedSequence",
        Known::RandomCtor(RandomCtor::SeedSequence),
    ),
    (
        "numpy.random.bit_generator",
        "SeedSequence",
        Known::RandomClass(RandomClass::SeedSequence),
    ),
    (
        "numpy.random._mt19937",
        "MT19937",
        Known::RandomClass(RandomClass::BitGenerator),
    ),
    (
        "numpy.random._pcg64",
        "PCG64",
        Known::RandomClass(RandomClass::BitGenerator),
    ),
    (
        "numpy.random._pcg64",
        "PCG64DXSM",
        Known::RandomClass(RandomClass::BitGenerator),
    ),
    (
        "numpy.random._philox",
        "Philox",
        Known::RandomClass(RandomClass::BitGenerator),
    ),
    (
        "numpy.random._sfc64",
        "SFC64",
        Known::RandomClass(RandomClass::BitGenerator),
    ),
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
