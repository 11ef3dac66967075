//! The globals a scikit-learn model pickle may name. Everything else is
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
    /// A helper class an estimator keeps (see [`COMPONENTS`]); recorded with
    /// its arguments and state like an estimator, never constructed.
    Component,
    /// A global allowed only as a value (see [`REFERENCES`]), never applied.
    Reference,
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
    /// `collections.OrderedDict()` or `collections.defaultdict(<one of
    /// these>)`: read as a plain dict that `SETITEMS` fills (LightGBM's
    /// estimators keep their evaluation scores in them). The default
    /// factory is only ever a reference, never called.
    DictLike,
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

/// scikit-learn estimator classes the importer converts (or reads as the
/// members of an ensemble), under every module path they have had
/// (`sklearn.ensemble.forest`, `sklearn.tree.tree`,
/// `sklearn.ensemble.gradient_boosting` and `sklearn.ensemble.iforest`
/// before 0.22).
pub(crate) const ESTIMATORS: &[(&str, &str)] = &[
    ("sklearn.ensemble._forest", "RandomForestClassifier"),
    ("sklearn.ensemble._forest", "ExtraTreesClassifier"),
    ("sklearn.ensemble._forest", "RandomForestRegressor"),
    ("sklearn.ensemble._forest", "ExtraTreesRegressor"),
    ("sklearn.ensemble.forest", "RandomForestClassifier"),
    ("sklearn.ensemble.forest", "ExtraTreesClassifier"),
    ("sklearn.ensemble.forest", "RandomForestRegressor"),
    ("sklearn.ensemble.forest", "ExtraTreesRegressor"),
    ("sklearn.tree._classes", "DecisionTreeClassifier"),
    ("sklearn.tree._classes", "ExtraTreeClassifier"),
    ("sklearn.tree._classes", "DecisionTreeRegressor"),
    ("sklearn.tree._classes", "ExtraTreeRegressor"),
    ("sklearn.tree.tree", "DecisionTreeClassifier"),
    ("sklearn.tree.tree", "ExtraTreeClassifier"),
    ("sklearn.tree.tree", "DecisionTreeRegressor"),
    ("sklearn.tree.tree", "ExtraTreeRegressor"),
    ("sklearn.ensemble._gb", "GradientBoostingClassifier"),
    ("sklearn.ensemble._gb", "GradientBoostingRegressor"),
    (
        "sklearn.ensemble.gradient_boosting",
        "GradientBoostingClassifier",
    ),
    (
        "sklearn.ensemble.gradient_boosting",
        "GradientBoostingRegressor",
    ),
    (HIST_GRADIENT_BOOSTING, "HistGradientBoostingClassifier"),
    (HIST_GRADIENT_BOOSTING, "HistGradientBoostingRegressor"),
    ("sklearn.ensemble._iforest", "IsolationForest"),
    ("sklearn.ensemble.iforest", "IsolationForest"),
    // The XGBoost and LightGBM scikit-learn wrappers: their boosters hold
    // the model as bytes or text the booster importers read.
    ("xgboost.sklearn", "XGBClassifier"),
    ("xgboost.sklearn", "XGBRegressor"),
    ("lightgbm.sklearn", "LGBMClassifier"),
    ("lightgbm.sklearn", "LGBMRegressor"),
];

/// Where scikit-learn keeps the histogram gradient boosting estimators.
const HIST_GRADIENT_BOOSTING: &str = "sklearn.ensemble._hist_gradient_boosting.gradient_boosting";

/// Where histogram gradient boosting kept its losses up to scikit-learn 1.0.
pub(crate) const HGB_LOSSES: &str = "sklearn.ensemble._hist_gradient_boosting.loss";

/// Helper classes whose instances scikit-learn estimators keep as attributes
/// (init estimators, tree predictors, binners, encoders, loss and link
/// objects, and the `functools.partial` and `slice` objects of a fitted
/// `ColumnTransformer`). Each is recorded with its arguments and state like
/// an estimator ([`Known::Component`]) and never constructed; converters
/// read the few they need by class name, and ignore the rest.
pub(crate) const COMPONENTS: &[(&str, &str)] = &[
    ("sklearn.dummy", "DummyClassifier"),
    ("sklearn.dummy", "DummyRegressor"),
    (
        "sklearn.ensemble._hist_gradient_boosting.predictor",
        "TreePredictor",
    ),
    (
        "sklearn.ensemble._hist_gradient_boosting.binning",
        "_BinMapper",
    ),
    ("sklearn.preprocessing._label", "LabelEncoder"),
    ("sklearn.preprocessing._encoders", "OrdinalEncoder"),
    (
        "sklearn.preprocessing._function_transformer",
        "FunctionTransformer",
    ),
    ("sklearn.compose._column_transformer", "ColumnTransformer"),
    // Histogram gradient boosting's own losses (scikit-learn 1.0 and
    // before).
    (HGB_LOSSES, "LeastSquares"),
    (HGB_LOSSES, "LeastAbsoluteDeviation"),
    (HGB_LOSSES, "Poisson"),
    (HGB_LOSSES, "BinaryCrossEntropy"),
    (HGB_LOSSES, "CategoricalCrossEntropy"),
    // Loss objects of gradient boosting before scikit-learn 1.4.
    ("sklearn.ensemble._gb_losses", "LeastSquaresError"),
    ("sklearn.ensemble._gb_losses", "LeastAbsoluteError"),
    ("sklearn.ensemble._gb_losses", "HuberLossFunction"),
    ("sklearn.ensemble._gb_losses", "QuantileLossFunction"),
    ("sklearn.ensemble._gb_losses", "BinomialDeviance"),
    ("sklearn.ensemble._gb_losses", "MultinomialDeviance"),
    ("sklearn.ensemble._gb_losses", "ExponentialLoss"),
    // The common loss module (histogram boosting from 1.1, gradient
    // boosting from 1.4): Python loss and link objects, their intervals,
    // and the Cython losses they wrap (pickled by calling the class or
    // through Cython's `__pyx_unpickle_` helpers).
    ("sklearn._loss.loss", "HalfSquaredError"),
    ("sklearn._loss.loss", "AbsoluteError"),
    ("sklearn._loss.loss", "PinballLoss"),
    ("sklearn._loss.loss", "HuberLoss"),
    ("sklearn._loss.loss", "HalfPoissonLoss"),
    ("sklearn._loss.loss", "HalfGammaLoss"),
    ("sklearn._loss.loss", "HalfTweedieLoss"),
    ("sklearn._loss.loss", "HalfTweedieLossIdentity"),
    ("sklearn._loss.loss", "HalfBinomialLoss"),
    ("sklearn._loss.loss", "HalfMultinomialLoss"),
    ("sklearn._loss.loss", "ExponentialLoss"),
    ("sklearn._loss.link", "IdentityLink"),
    ("sklearn._loss.link", "LogLink"),
    ("sklearn._loss.link", "LogitLink"),
    ("sklearn._loss.link", "HalfLogitLink"),
    ("sklearn._loss.link", "MultinomialLogit"),
    ("sklearn._loss.link", "Interval"),
    ("sklearn._loss._loss", "CyHalfSquaredError"),
    ("sklearn._loss._loss", "CyAbsoluteError"),
    ("sklearn._loss._loss", "CyPinballLoss"),
    ("sklearn._loss._loss", "CyHuberLoss"),
    ("sklearn._loss._loss", "CyHalfPoissonLoss"),
    ("sklearn._loss._loss", "CyHalfGammaLoss"),
    ("sklearn._loss._loss", "CyHalfTweedieLoss"),
    ("sklearn._loss._loss", "CyHalfTweedieLossIdentity"),
    ("sklearn._loss._loss", "CyHalfBinomialLoss"),
    ("sklearn._loss._loss", "CyHalfMultinomialLoss"),
    ("sklearn._loss._loss", "CyExponentialLoss"),
    ("sklearn._loss._loss", "__pyx_unpickle_CyHalfSquaredError"),
    ("sklearn._loss._loss", "__pyx_unpickle_CyAbsoluteError"),
    ("sklearn._loss._loss", "__pyx_unpickle_CyPinballLoss"),
    ("sklearn._loss._loss", "__pyx_unpickle_CyHuberLoss"),
    ("sklearn._loss._loss", "__pyx_unpickle_CyHalfPoissonLoss"),
    ("sklearn._loss._loss", "__pyx_unpickle_CyHalfGammaLoss"),
    ("sklearn._loss._loss", "__pyx_unpickle_CyHalfTweedieLoss"),
    (
        "sklearn._loss._loss",
        "__pyx_unpickle_CyHalfTweedieLossIdentity",
    ),
    ("sklearn._loss._loss", "__pyx_unpickle_CyHalfBinomialLoss"),
    (
        "sklearn._loss._loss",
        "__pyx_unpickle_CyHalfMultinomialLoss",
    ),
    ("sklearn._loss._loss", "__pyx_unpickle_CyExponentialLoss"),
    // The boosters of the XGBoost and LightGBM wrappers (their state is
    // the model's bytes or text, plus plain values).
    ("xgboost.core", "Booster"),
    ("lightgbm.basic", "Booster"),
    // A fitted ColumnTransformer (histogram boosting with categorical
    // features, from 1.4) keeps `partial(check_array, …)` and slices.
    ("functools", "partial"),
    ("builtins", "slice"),
    ("__builtin__", "slice"),
];

/// Globals that may appear only as values, never applied: the function a
/// `functools.partial` names, and numpy scalar types given as `dtype`
/// parameters.
pub(crate) const REFERENCES: &[(&str, &str)] = &[
    ("sklearn.utils.validation", "check_array"),
    ("numpy", "float64"),
    ("numpy", "float32"),
    ("numpy", "int64"),
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
    ("__builtin__", "bytes", Known::BuiltinsBytes),
    ("builtins", "bytearray", Known::BuiltinsBytearray),
    ("__builtin__", "bytearray", Known::BuiltinsBytearray),
    ("collections", "OrderedDict", Known::DictLike),
    ("collections", "defaultdict", Known::DictLike),
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
    if COMPONENTS.iter().any(|&(m, n)| m == module && n == name) {
        return Some(Known::Component);
    }
    if REFERENCES.iter().any(|&(m, n)| m == module && n == name) {
        return Some(Known::Reference);
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
        .chain(COMPONENTS)
        .chain(REFERENCES)
        .copied()
        .chain(ALLOWED.iter().map(|&(m, n, _)| (m, n)))
        .collect()
}
