"""``Forest.to_sklearn()``: a fitted estimator of the *installed*
scikit-learn's own class, rebuilt from the forest IR through that
version's state (``Tree.__setstate__`` with its node dtype, its
HistGradientBoosting predictor records), so that a model pickled by one
release predicts bit for bit the same under another.

How: a tiny *template* of the same class is fitted on synthetic rows with
the model's number of features, classes and loss. It carries every private
attribute the installed release needs (loss objects, bin mappers, trees per
iteration, ...). Its trees, init estimator and baseline are then replaced
by the model's. Nothing of the template reaches a prediction.

What is restored exactly: everything ``predict``, ``predict_proba``,
``decision_function``, ``score_samples`` and ``apply`` read (node ids,
features, thresholds, NaN routing, leaf values, base scores, offsets).
What is not: node impurities and training sample counts (so
``feature_importances_`` is zeros; an isolation forest's leaf sample counts
are recovered from its leaf values, which they determine), ``train_score_``,
out-of-bag results, random states, and hyper-parameters that do not affect
prediction (defaults, unless the ``.forest`` file recorded them).
Categorical HistGradientBoosting reads categories as the pickling release
did (see :class:`_Categories`).
Where the installed release cannot hold the model exactly the rebuild is
refused with :class:`forest2onnx.UnsupportedModelError`.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from . import _errors

#: The IR's leaf marker in child arrays.
_LEAF = 0xFFFFFFFF

#: scikit-learn's TREE_LEAF and TREE_UNDEFINED.
_TREE_LEAF = -1
_TREE_UNDEFINED = -2

#: Old loss names and the installed releases' names for the same loss.
_LOSS_NAMES = {
    "deviance": "log_loss",
    "auto": "log_loss",
    "binary_crossentropy": "log_loss",
    "categorical_crossentropy": "log_loss",
    "ls": "squared_error",
    "least_squares": "squared_error",
    "lad": "absolute_error",
    "least_absolute_deviation": "absolute_error",
    # class names, when the pickle held no `loss` parameter
    "BinomialDeviance": "log_loss",
    "MultinomialDeviance": "log_loss",
    "ExponentialLoss": "exponential",
    "LeastSquaresError": "squared_error",
    "LeastAbsoluteError": "absolute_error",
    "HuberLossFunction": "huber",
    "QuantileLossFunction": "quantile",
    "HalfBinomialLoss": "log_loss",
    "HalfMultinomialLoss": "log_loss",
    "HalfSquaredError": "squared_error",
    "AbsoluteError": "absolute_error",
    "HalfPoissonLoss": "poisson",
    "HalfGammaLoss": "gamma",
    "PinballLoss": "quantile",
}


def _refuse(what: str) -> _errors.UnsupportedModelError:
    import sklearn

    return _errors.UnsupportedModelError(
        f"to_sklearn: scikit-learn {sklearn.__version__} cannot hold this model exactly: {what}"
    )


class _Model:
    """The IR of one forest: header (JSON) and trees (NumPy arrays)."""

    def __init__(self, native: Any) -> None:
        self.header: Dict[str, Any] = json.loads(native.header_json())
        self.trees: List[Dict[str, np.ndarray]] = native.trees()
        self.source: Dict[str, Any] = self.header["source"]
        self.details: Dict[str, str] = self.source.get("details", {})
        self.n_features: int = self.header["n_features"]
        self.names: Optional[List[str]] = self.header["feature_names"]
        self.task: Dict[str, Any] = self.header["task"]
        self.aggregation: Any = self.header["aggregation"]
        self.width: int = self.header["leaf_width"]

    @property
    def estimator(self) -> str:
        return self.source.get("estimator", "")

    def labels(self) -> Optional[np.ndarray]:
        task = self.task
        if not isinstance(task, dict) or "Classification" not in task:
            return None
        (kind, values), = task["Classification"].items()
        if kind == "Str":
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out
        return np.asarray(values, dtype=np.int64 if kind == "Int" else np.float64)

    def sum_aggregation(self) -> Dict[str, Any]:
        agg = self.aggregation
        if not isinstance(agg, dict) or "Sum" not in agg:
            raise _errors.LoadError(f"{self.estimator}: expected summed trees, found {agg}")
        return agg["Sum"]

    def loss(self) -> str:
        loss = self.details.get("loss", "")
        return _LOSS_NAMES.get(loss, loss)


# ----- trees --------------------------------------------------------------


def _depths(t: Dict[str, np.ndarray]) -> np.ndarray:
    """Depth of every node (root 0); children come after their parent."""
    n = len(t["feature"])
    depth = np.zeros(n, dtype=np.int64)
    for i in range(n):
        c = t["true_child"][i]
        if c != _LEAF:
            depth[c] = depth[i] + 1
            depth[t["false_child"][i]] = depth[i] + 1
    return depth


def _leaf_counts(t: Dict[str, np.ndarray], leaves: np.ndarray) -> np.ndarray:
    """Sample counts: the given count at each leaf, sums above (children
    come after their parent, so one backward pass adds them up)."""
    n = len(t["feature"])
    counts = np.where(t["true_child"] == _LEAF, leaves, 0).astype(np.int64)
    for i in range(n - 1, -1, -1):
        c = t["true_child"][i]
        if c != _LEAF:
            counts[i] = counts[c] + counts[t["false_child"][i]]
    return counts


def _sk_tree(
    t: Dict[str, np.ndarray],
    n_features: int,
    n_classes: List[int],
    values: np.ndarray,
    *,
    leaf_samples: Optional[np.ndarray] = None,
) -> Any:
    """A ``sklearn.tree._tree.Tree`` of the installed release holding the
    IR tree ``t`` with node values ``values`` (nodes x outputs x classes)."""
    from sklearn.tree._tree import NODE_DTYPE, Tree

    if len(t["cat_nodes"]):
        raise _refuse("a decision tree with categorical splits")
    n = len(t["feature"])
    leaf = t["true_child"] == _LEAF
    nodes = np.zeros(n, dtype=NODE_DTYPE)
    nodes["left_child"] = np.where(leaf, _TREE_LEAF, t["true_child"].astype(np.int64))
    nodes["right_child"] = np.where(leaf, _TREE_LEAF, t["false_child"].astype(np.int64))
    nodes["feature"] = np.where(leaf, _TREE_UNDEFINED, t["feature"].astype(np.int64))
    nodes["threshold"] = np.where(leaf, float(_TREE_UNDEFINED), t["threshold"])
    counts = _leaf_counts(t, np.ones(n, dtype=np.int64) if leaf_samples is None else leaf_samples)
    nodes["n_node_samples"] = counts
    nodes["weighted_n_node_samples"] = counts
    missing_left = t["missing_true"] & ~leaf
    if "missing_go_to_left" in (NODE_DTYPE.names or ()):
        nodes["missing_go_to_left"] = missing_left
    elif missing_left.any():
        raise _refuse("missing values (NaN) sent left, which needs missing_go_to_left (1.3+)")
    tree = Tree(n_features, np.asarray(n_classes, dtype=np.intp), len(n_classes))
    tree.__setstate__(
        {
            "max_depth": int(_depths(t).max()),
            "node_count": n,
            "nodes": nodes,
            "values": np.ascontiguousarray(values, dtype=np.float64),
        }
    )
    return tree


def _member(template: Any, tree: Any) -> Any:
    """A copy of the template's tree estimator holding ``tree``."""
    m = copy.deepcopy(template)
    m.tree_ = tree
    return m


# ----- templates ----------------------------------------------------------


def _template_rows(n_features: int, n_rows: int = 40) -> np.ndarray:
    return np.random.RandomState(0).normal(size=(n_rows, n_features))


def _template_target(model: _Model, n_rows: int) -> np.ndarray:
    """Labels (each class several times) or positive targets (fit every
    regression loss, Poisson and gamma included)."""
    labels = model.labels()
    if labels is not None:
        return np.resize(labels, n_rows)
    task = model.task
    n_targets = task["Regression"]["n_targets"] if "Regression" in task else 1
    y = np.abs(np.random.RandomState(1).normal(size=(n_rows, n_targets))) + 0.5
    return y[:, 0] if n_targets == 1 else y


def _finish(est: Any, model: _Model) -> Any:
    est.n_features_in_ = model.n_features
    if model.names is not None:
        names = np.empty(len(model.names), dtype=object)
        names[:] = model.names
        est.feature_names_in_ = names
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    labels = model.labels()
    if labels is not None and hasattr(est, "classes_"):
        est.classes_ = labels
    return est


# ----- trees and forests --------------------------------------------------


def _forest_values(t: Dict[str, np.ndarray], n_classes: List[int]) -> np.ndarray:
    """Leaf values as scikit-learn's (nodes, outputs, classes) array."""
    return t["value"].reshape(len(t["feature"]), len(n_classes), max(n_classes))


#: Largest (weighted) leaf count tried when recovering class counts.
_MAX_COUNT = 1 << 16


def _as_counts(values: np.ndarray, name: str) -> np.ndarray:
    """Before 1.4, ``predict_proba`` divides leaf values by their sum, and
    leaves held class counts: the IR's fractions ``c / n`` must come back
    unchanged. Fractions that already sum to 1 do; otherwise the integer
    counts are recovered (the smallest ``n`` whose rounded counts ``c``
    divide back to every fraction), which holds for every model trained
    without fractional sample weights. Anything else is refused."""
    out = values.copy()
    sums = values.sum(axis=2, keepdims=True)
    sums[sums == 0] = 1
    bad = np.nonzero(~(values / sums == values).all(axis=(1, 2)))[0]
    n = np.arange(1, _MAX_COUNT + 1, dtype=np.float64)
    for i in bad:
        f = values[i].reshape(-1)
        counts = np.rint(f[:, None] * n[None, :])
        total = counts.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = (total == n) & (counts / total == f[:, None]).all(axis=0)
        if not ok.any():
            raise _refuse(
                f"{name}: leaf class fractions {f.tolist()} that no integer class counts up to "
                f"{_MAX_COUNT} give (releases before 1.4 normalise leaf values in predict_proba)"
            )
        out[i] = counts[:, ok.argmax()].reshape(values[i].shape)
    return out


def _tree_ensemble(model: _Model, cls: Any, ensemble: bool) -> Any:
    import sklearn

    labels = model.labels()
    if labels is not None:
        n_classes = [len(labels)]
    else:
        n_classes = [1] * model.width
    X = _template_rows(model.n_features)
    template = cls(n_estimators=1) if ensemble else cls()
    template.fit(X, _template_target(model, len(X)))
    member_template = template.estimators_[0] if ensemble else template
    old = tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 4)
    members = []
    for t in model.trees:
        values = _forest_values(t, n_classes)
        if labels is not None and old:
            values = _as_counts(values, model.estimator)
        tree = _sk_tree(t, model.n_features, n_classes, values)
        members.append(_member(member_template, tree))
    if ensemble:
        template.estimators_ = members
        template.n_estimators = len(members)
        est = template
    else:
        est = members[0]
    if labels is not None:
        est.n_classes_ = len(labels)
    est.n_outputs_ = len(n_classes)
    return _finish(est, model)


# ----- isolation forest ---------------------------------------------------


def _isolation_forest(model: _Model, cls: Any) -> Any:
    from sklearn.ensemble._iforest import _average_path_length

    task = model.task["AnomalyDetection"]
    max_samples = int(model.details["max_samples"])
    X = _template_rows(model.n_features, max(40, min(max_samples, 256)))
    template = cls(n_estimators=1, max_samples=min(max_samples, len(X)), random_state=0)
    template.fit(X)
    # Leaf sample counts from leaf values, through this release's own
    # average path length: a leaf holds depth + c(n) - 1 (depth counting
    # the nodes on its path).
    n_grid = np.arange(1, max(max_samples, 1) + 1)
    c = _average_path_length(n_grid)
    stores_lengths = hasattr(template, "_average_path_length_per_tree")
    members, lengths = [], []
    for k, t in enumerate(model.trees):
        leaf = t["true_child"] == _LEAF
        d = (_depths(t) + 1).astype(np.float64)
        v = t["value"]
        candidates = d[leaf][:, None] + c[None, :] - 1.0
        # The leaf size whose contribution is nearest (equal, when the
        # pickling release's log agrees with this one's).
        nearest = np.abs(candidates - v[leaf][:, None]).argmin(axis=1)
        samples = np.ones(len(v), dtype=np.int64)
        samples[leaf] = n_grid[nearest]
        # Releases that store each node's average path length (1.3+) score
        # with the stored values: store those that give the leaf values.
        length = _average_path_length(samples)
        if stores_lengths:
            solved = _solve(lambda a: d[leaf] + a - 1.0, v[leaf], length[leaf])
            if solved is None:
                raise _refuse(f"tree {k}: a leaf value no average path length reproduces")
            length[leaf] = solved
        elif not np.array_equal(candidates[np.arange(len(nearest)), nearest], v[leaf]):
            raise _refuse(
                f"tree {k}: a leaf value that no leaf size up to max_samples={max_samples} "
                "gives under this release's average path length"
            )
        lengths.append(length)
        values = np.zeros((len(v), 1, 1))
        tree = _sk_tree(t, model.n_features, [1], values, leaf_samples=samples)
        members.append(_member(template.estimators_[0], tree))
    est = template
    est.estimators_ = members
    est.n_estimators = len(members)
    est.estimators_features_ = [np.arange(model.n_features) for _ in members]
    est.max_features = 1.0
    est._max_features = model.n_features
    est.max_samples_ = max_samples
    if hasattr(est, "_max_samples"):
        est._max_samples = max_samples
    est.offset_ = float(task["offset"])
    if stores_lengths:
        est._average_path_length_per_tree = tuple(lengths)
        est._decision_path_lengths = tuple(m.tree_.compute_node_depths() for m in members)
    normalizer = model.aggregation["Sum"]["post_transform"]["IsolationScore"]["normalizer"]
    mine = len(members) * _average_path_length([max_samples])[0]
    if mine != normalizer:
        raise _refuse(
            f"the score normaliser {normalizer!r} differs from this release's {mine!r}"
        )
    return _finish(est, model)


# ----- gradient boosting --------------------------------------------------


def _solve(f: Callable[[np.ndarray], np.ndarray], target: np.ndarray, start: np.ndarray) -> Optional[np.ndarray]:
    """Inputs ``x`` near ``start`` with ``f(x) == target`` bit for bit, for
    a non-decreasing ``f`` (None when some target is not a value of f)."""
    x = start.copy()
    with np.errstate(all="ignore"):
        for _ in range(64):
            y = f(x)
            low, high = y < target, y > target
            if not (low.any() or high.any()):
                return x
            x = np.where(low, np.nextafter(x, np.inf), np.where(high, np.nextafter(x, -np.inf), x))
    return x if np.array_equal(f(x), target) else None


def _gradient_boosting(model: _Model, cls: Any) -> Any:
    agg = model.sum_aggregation()
    base = np.asarray(agg["base_values"], dtype=np.float64)
    k = len(base)
    # The exponential loss's leaves and base hold twice the raw score
    # (exact): divide back.
    scale = float(model.details.get("raw_score_scale", "1"))
    lr = float(model.details["learning_rate"])
    n_stages = len(model.trees) // k
    labels = model.labels()
    X = _template_rows(model.n_features)
    template = cls(n_estimators=1, loss=model.loss(), learning_rate=lr)
    template.fit(X, _template_target(model, len(X)))
    leaves = [(t["true_child"] == _LEAF) for t in model.trees]
    # Leaves hold learning_rate * value. A regressor keeps its learning
    # rate (value solved back, exact) and its init estimator (a constant).
    # A classifier's init is a prior turned into a score by a link whose
    # implementation differs between releases, so its base score is folded
    # into the first stage's leaves, init_ is "zero" and learning_rate 1.0:
    # every stage adds the original's exact products, in the original order.
    stored = [np.where(leaf, t["value"] / scale, 0.0) for leaf, t in zip(leaves, model.trees)]
    values: Optional[List[np.ndarray]] = None
    if labels is None:
        values = [_solve(lambda v: lr * v, s_, s_ / lr) for s_ in stored]
        if any(v is None for v in values):
            values = None
    if values is None:
        lr = 1.0
        values = stored
        if labels is not None:
            for j in range(k):
                values[j] = np.where(leaves[j], base[j] / scale + stored[j], 0.0)
            base = np.zeros_like(base)
    member_template = template.estimators_[0, 0]
    estimators = np.empty((n_stages, k), dtype=object)
    for i, (t, v) in enumerate(zip(model.trees, values)):
        t = dict(t, missing_true=np.zeros_like(t["missing_true"]))
        tree = _sk_tree(t, model.n_features, [1], np.asarray(v).reshape(-1, 1, 1))
        estimators[i // k, i % k] = _member(member_template, tree)
    est = template
    est.estimators_ = estimators
    est.n_estimators = n_stages
    est.n_estimators_ = n_stages
    est.learning_rate = lr
    est.train_score_ = np.zeros(n_stages)
    if labels is not None:
        est.init_ = "zero"
        est.n_classes_ = len(labels)
    else:
        init = copy.deepcopy(template.init_)
        if isinstance(init, str):
            if base[0] != 0.0:
                raise _refuse("a non-zero base score with init='zero'")
        else:
            init.constant_ = np.full_like(np.asarray(init.constant_, dtype=np.float64), base[0])
        est.init_ = init
    return _finish(est, model)


# ----- histogram gradient boosting ---------------------------------------


#: Bits per row of scikit-learn's category bitsets (8 x uint32).
_BITSET_WORDS = 8


def _release(text: str) -> tuple:
    """(major, minor) of a version string such as ``1.4.2``."""
    try:
        return tuple(int(p) for p in text.split(".")[:2])
    except ValueError:
        return ()


class _Categories:
    """How the restored estimator reads the model's categorical features.

    The IR keeps, per categorical split, the input values sent to its true
    child; NaN and every other value go to its false child. Each release
    reads a value as a category in its own way (see the Rust importer,
    ``src/import/sklearn/hist/categorical.rs``):

    * ``encoded`` (pickled by 1.4+, restored into 1.4+): an
      ``OrdinalEncoder`` maps each category value to its code and anything
      else (fractional, negative, unseen) to NaN. The template is fitted
      with the split values as categories, so its encoder and bin mapper
      are this release's own; the trees use codes, categorical columns
      first, as the release's ``ColumnTransformer`` orders them.
    * ``raw`` (pickled before 1.4, restored into 1.2+): the predictor reads
      ``(uint8) x``, negative values as missing; the known categories are
      the bin mapper's ``bin_thresholds_``, and there is no encoder.

    Every split sends its true values left and everything else right:
    known categories not on the left go right, unknown ones and NaN follow
    ``missing_go_to_left`` = False. The known categories of a feature are
    the values any split lists, so a value no split lists goes right, as
    the IR's false side. What a release cannot reproduce is refused.
    """

    def __init__(self, model: _Model) -> None:
        import sklearn

        columns = {int(c) for c in model.details.get("categorical_features", "").split(",") if c}
        values: Dict[int, set] = {}
        for t in model.trees:
            off = t["cat_offsets"]
            for k, node in enumerate(t["cat_nodes"]):
                if t["missing_true"][node]:
                    raise _refuse(
                        f"categorical split {node} sends NaN and unknown categories different ways"
                    )
                col = int(t["feature"][node])
                columns.add(col)
                values.setdefault(col, set()).update(int(v) for v in t["cat_values"][off[k] : off[k + 1]])
        self.mask = np.zeros(model.n_features, dtype=bool)
        self.mask[sorted(columns)] = True
        #: Known category values of each categorical column, ascending.
        self.known = {c: np.asarray(sorted(values.get(c, ())), dtype=np.float64) for c in columns}
        #: Tree column of each input column (categorical first when encoded).
        self.column = np.arange(model.n_features)
        if not columns:
            self.mode = "none"
            return
        installed = _release(sklearn.__version__)
        source = _release(model.source.get("version", ""))
        rule = model.header["input"].get("categories", "NonNegative")
        if installed < (1, 2):
            raise _refuse(
                "categorical HistGradientBoosting: releases before 1.2 read negative category "
                "values through an unchecked C cast"
            )
        if not source or rule not in ("NonNegative", "TowardZero"):
            raise _refuse(
                f"categorical HistGradientBoosting from scikit-learn {model.source.get('version')!r} "
                f"with the category rule {rule}"
            )
        if any(len(k) > 255 for k in self.known.values()):
            raise _refuse("categorical HistGradientBoosting with more than 255 categories in a feature")
        if source >= (1, 4):
            if installed < (1, 4):
                raise _refuse(
                    f"categorical HistGradientBoosting pickled by {model.source['version']}: from 1.4 "
                    "a value that is not a category (such as 2.5) is unknown, while earlier "
                    "releases read it as category 2"
                )
            self.mode = "encoded"
            # An encoder needs a category; one no split lists goes right.
            self.known = {c: k if len(k) else np.zeros(1) for c, k in self.known.items()}
        else:
            if any(v >= 256 for k in self.known.values() for v in k):
                raise _refuse("categorical HistGradientBoosting with a category value above 255")
            if rule == "TowardZero" and any(len(k) and k[0] == 0 for k in self.known.values()):
                raise _refuse(
                    f"categorical HistGradientBoosting pickled by {model.source['version']}: it reads "
                    "values in (-1, 0) as category 0, which releases from 1.2 treat as missing"
                )
            self.mode = "raw"
        if self.mode == "encoded":
            order = np.r_[np.flatnonzero(self.mask), np.flatnonzero(~self.mask)]
            self.column[order] = np.arange(model.n_features)

    def template_params(self) -> Dict[str, Any]:
        return {"categorical_features": self.mask} if self.mode == "encoded" else {}

    def template_rows(self, n_features: int) -> np.ndarray:
        """Synthetic rows; categorical columns hold every known value."""
        n = max([40] + [len(k) for k in self.known.values()])
        X = _template_rows(n_features, n)
        if self.mode == "encoded":
            for c, k in self.known.items():
                X[:, c] = np.resize(k, n)
        return X

    def install(self, est: Any) -> None:
        """Sets the fitted template's category state, checked against the
        release's own (encoded) or written as the release's bin mapper
        holds it (raw)."""
        if self.mode == "encoded":
            encoder = est._preprocessor.named_transformers_["encoder"]
            cols = np.flatnonzero(self.mask)
            for c, cats in zip(cols, encoder.categories_):
                if not np.array_equal(np.asarray(cats, dtype=np.float64), self.known[c]):
                    raise _errors.Error(f"to_sklearn: the template's categories of feature {c} are {cats}")
            known, _ = est._bin_mapper.make_known_categories_bitsets()
            for i, c in enumerate(cols):
                if _bitset(np.arange(len(self.known[c]))).tolist() != known[i].tolist():
                    raise _errors.Error(f"to_sklearn: the template's known codes of feature {c} differ")
        elif self.mode == "raw":
            mapper = est._bin_mapper
            mapper.is_categorical_ = self.mask.astype(np.uint8)
            thresholds = list(mapper.bin_thresholds_)
            for c, k in self.known.items():
                thresholds[c] = k.copy()
            mapper.bin_thresholds_ = thresholds
            est.is_categorical_ = self.mask.copy()

    def codes(self, col: int, values: np.ndarray) -> np.ndarray:
        """What the trees compare for input values of column ``col``: the
        encoder's codes, or the values themselves."""
        if self.mode == "encoded":
            return np.searchsorted(self.known[col], values)
        return values.astype(np.int64)

    def bins(self, col: int, values: np.ndarray) -> np.ndarray:
        """The bin of each value (its rank among the known ones)."""
        return np.searchsorted(self.known[col], values)


def _bitset(members: np.ndarray) -> np.ndarray:
    """One scikit-learn bitset row (8 x uint32) with the given members."""
    row = np.zeros(_BITSET_WORDS, dtype=np.uint32)
    for m in np.asarray(members, dtype=np.int64):
        row[m // 32] |= np.uint32(1) << np.uint32(m % 32)
    return row


def _predictor(t: Dict[str, np.ndarray], cats: _Categories) -> Any:
    """A ``TreePredictor`` of the installed release holding the IR tree ``t``."""
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    n = len(t["feature"])
    leaf = t["true_child"] == _LEAF
    nodes = np.zeros(n, dtype=PREDICTOR_RECORD_DTYPE)
    nodes["value"] = t["value"]
    nodes["is_leaf"] = leaf
    nodes["feature_idx"] = np.where(leaf, 0, cats.column[np.where(leaf, 0, t["feature"])])
    nodes["num_threshold"] = np.where(leaf, 0.0, t["threshold"])
    nodes["missing_go_to_left"] = t["missing_true"] & ~leaf
    nodes["left"] = np.where(leaf, 0, t["true_child"].astype(np.int64))
    nodes["right"] = np.where(leaf, 0, t["false_child"].astype(np.int64))
    nodes["depth"] = _depths(t)
    nodes["count"] = _leaf_counts(t, np.ones(n, dtype=np.int64))
    raw, binned = [], []
    off = t["cat_offsets"]
    for k, node in enumerate(t["cat_nodes"]):
        col = int(t["feature"][node])
        values = t["cat_values"][off[k] : off[k + 1]].astype(np.float64)
        nodes["is_categorical"][node] = 1
        nodes["bitset_idx"][node] = k
        nodes["num_threshold"][node] = 0.0
        raw.append(_bitset(cats.codes(col, values)))
        binned.append(_bitset(cats.bins(col, values)))
    shape = (len(raw), _BITSET_WORDS)
    raw_sets = np.asarray(raw, dtype=np.uint32).reshape(shape)
    binned_sets = np.asarray(binned, dtype=np.uint32).reshape(shape)
    return TreePredictor(nodes, binned_sets, raw_sets)


def _hist_gradient_boosting(model: _Model, cls: Any) -> Any:
    agg = model.sum_aggregation()
    base = np.asarray(agg["base_values"], dtype=np.float64)
    k = len(base)
    cats = _Categories(model)
    loss = model.loss()
    X = cats.template_rows(model.n_features)
    params: Dict[str, Any] = {"max_iter": 1, "early_stopping": False, **cats.template_params()}
    if model.labels() is None:
        params["loss"] = loss
        if loss == "quantile":
            params["quantile"] = 0.5  # only the link matters: identity
    template = cls(**params)
    template.fit(X, _template_target(model, len(X)))
    cats.install(template)
    predictors = [
        [_predictor(t, cats) for t in model.trees[i : i + k]] for i in range(0, len(model.trees), k)
    ]
    est = template
    est._predictors = predictors
    baseline = np.asarray(template._baseline_prediction, dtype=np.float64)
    if baseline.size != k:
        raise _refuse(f"a baseline of {k} scores where this release has {baseline.size}")
    est._baseline_prediction = base.reshape(baseline.shape)
    if not isinstance(getattr(type(est), "n_iter_", None), property):
        est.n_iter_ = len(predictors)
    est.max_iter = len(predictors)
    est.train_score_ = np.asarray([])
    est.validation_score_ = np.asarray([])
    if model.labels() is not None:
        est.n_trees_per_iteration_ = k
    return _finish(est, model)


# ----- entry point --------------------------------------------------------


def _builders() -> Dict[str, Callable[[_Model], Any]]:
    from sklearn import ensemble, tree

    def trees(cls: Any, ensemble_: bool) -> Callable[[_Model], Any]:
        return lambda m: _tree_ensemble(m, cls, ensemble_)

    return {
        "DecisionTreeClassifier": trees(tree.DecisionTreeClassifier, False),
        "DecisionTreeRegressor": trees(tree.DecisionTreeRegressor, False),
        "ExtraTreeClassifier": trees(tree.ExtraTreeClassifier, False),
        "ExtraTreeRegressor": trees(tree.ExtraTreeRegressor, False),
        "RandomForestClassifier": trees(ensemble.RandomForestClassifier, True),
        "RandomForestRegressor": trees(ensemble.RandomForestRegressor, True),
        "ExtraTreesClassifier": trees(ensemble.ExtraTreesClassifier, True),
        "ExtraTreesRegressor": trees(ensemble.ExtraTreesRegressor, True),
        "GradientBoostingClassifier": lambda m: _gradient_boosting(m, ensemble.GradientBoostingClassifier),
        "GradientBoostingRegressor": lambda m: _gradient_boosting(m, ensemble.GradientBoostingRegressor),
        "HistGradientBoostingClassifier": lambda m: _hist_gradient_boosting(
            m, ensemble.HistGradientBoostingClassifier
        ),
        "HistGradientBoostingRegressor": lambda m: _hist_gradient_boosting(
            m, ensemble.HistGradientBoostingRegressor
        ),
        "IsolationForest": lambda m: _isolation_forest(m, ensemble.IsolationForest),
    }


def to_sklearn(native: Any) -> Any:
    """The estimator (see the module docstring); ``native`` is a
    ``forest2onnx._native.Forest``."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise _errors.Error("to_sklearn needs scikit-learn installed") from None
    model = _Model(native)
    if model.source.get("library") != "scikit-learn":
        raise _errors.UnsupportedModelError(
            f"to_sklearn: the model was trained by {model.source.get('library') or 'an unknown library'}"
            f" ({model.estimator or 'unknown estimator'}); only scikit-learn models can be rebuilt"
        )
    build = _builders().get(model.estimator)
    if build is None:
        raise _errors.UnsupportedModelError(f"to_sklearn: no rebuild for {model.estimator!r}")
    import warnings

    with warnings.catch_warnings():
        # The template is fitted on a few synthetic rows; its warnings are not the model's.
        warnings.simplefilter("ignore")
        return build(model)
