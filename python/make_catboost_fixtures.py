"""Train small CatBoost models and write them with CatBoost's own predictions.

    python make_catboost_fixtures.py OUTDIR [--grid]

Run once per CatBoost version, each in its own venv, for the committed
fixtures (``scripts/make-catboost-fixtures.sh``); the ``--features python``
test runs it with ``--grid`` (bigger models) in a fresh directory.

Every case writes ``NAME.cbm`` (``save_model``'s default format),
``NAME.json`` (``format="json"``) and ``NAME.expected.json``:

* ``rows``: the input rows in CatBoost's flat feature order (NaN as
  ``null``): data rows, rows at every border and one float64 and one
  float32 step either side, NaN rows, category values seen, unseen and
  negative;
* ``raw``: ``predict(prediction_type="RawFormulaVal")``;
* ``predict``: ``predict()`` as a user calls it (class labels for
  classifiers: as strings when the classes are strings);
* ``proba``: ``predict_proba`` for classifiers; ``exponent``:
  ``predict(prediction_type="Exponent")`` for Poisson and Tweedie;
* ``meta``: CatBoost's version, the loss, the grow policy, the categorical
  feature indices; ``refused``: cases forest2onnx must refuse, with the
  word its error must name.

``hashes.json`` holds CatBoost's own hash of each category string it saw
(``cat_features_hash`` of a JSON model saved with its pool), strings of
every length class of CityHash64 and integers with their signs.
"""

import json
import math
import os
import sys

import numpy as np
import pandas as pd

import catboost
from catboost import CatBoostClassifier, CatBoostRegressor, CatBoostRanker, Pool

N_TRAIN = 160
DATA_ROWS = 16
MAX_BORDERS = 24


def enc(v):
    v = float(v)
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def matrix(a):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    return [[enc(v) for v in row] for row in a]


def frame(X, cat):
    """CatBoost wants integer (or string) categorical columns: a frame with
    int64 category columns and float columns."""
    cols = {}
    for j in range(X.shape[1]):
        name = f"f{j}"
        cols[name] = X[:, j].astype(np.int64) if j in cat else X[:, j]
    return pd.DataFrame(cols)


def make_data(rng, n, n_float, cat, nan_rate):
    n_features = n_float + len(cat)
    X = rng.normal(size=(n, n_features))
    X[rng.random(size=X.shape) < 0.05] = 0.0
    if nan_rate:
        mask = rng.random(size=X.shape) < nan_rate
        X[mask] = np.nan
    for j in cat:
        # Integer codes with negative ones: CatBoost hashes their decimal text.
        X[:, j] = rng.integers(-3, 5, size=n)
    return X


def labels(kind, X, rng, cat):
    Z = np.nan_to_num(X)
    s = Z[:, 0] + 0.5 * Z[:, 1] - 0.3 * Z[:, 2] * Z[:, 0]
    for j in cat:
        s = s + np.where(np.isin(X[:, j], [-2, 1, 3]), 1.0, -0.7)
    noise = rng.normal(scale=0.3, size=len(s))
    if kind == "binary":
        return (s + noise > 0).astype(int)
    if kind == "binary_str":
        return np.where(s + noise > 0, "yes", "no")
    if kind == "unit":
        return 1 / (1 + np.exp(-(s + noise)))
    if kind in ("multi", "multi_str"):
        y = np.digitize(s + noise, [-0.5, 0.5])
        return np.array(["cat", "dog", "emu"])[y] if kind == "multi_str" else y
    if kind == "multi4":
        return np.digitize(s + noise, [-0.8, 0.0, 0.8]) * 10 + 5
    if kind == "count":
        return rng.poisson(np.exp(0.4 * np.clip(s, -3, 3)))
    if kind == "reg2":
        return np.stack([s + noise, 2 * Z[:, 1] - s], axis=1)
    return s + noise


CASES = [
    # name, estimator, params, label kind, options
    ("logloss", "clf", {"loss_function": "Logloss"}, "binary", {}),
    ("logloss_str", "clf", {"loss_function": "Logloss"}, "binary_str", {}),
    ("logloss_nan_max", "clf", {"loss_function": "Logloss", "nan_mode": "Max"}, "binary", {}),
    ("logloss_forbidden", "clf", {"loss_function": "Logloss", "nan_mode": "Forbidden"},
     "binary", {"nan_rate": 0.0}),
    ("crossentropy", "clf", {"loss_function": "CrossEntropy"}, "unit", {}),
    ("multiclass", "clf", {"loss_function": "MultiClass"}, "multi", {}),
    ("multiclass_str", "clf", {"loss_function": "MultiClass"}, "multi_str", {}),
    ("multiclass_ova", "clf", {"loss_function": "MultiClassOneVsAll"}, "multi4", {}),
    ("rmse", "reg", {"loss_function": "RMSE"}, "reg", {}),
    ("mae", "reg", {"loss_function": "MAE"}, "reg", {}),
    ("quantile", "reg", {"loss_function": "Quantile:alpha=0.3"}, "reg", {}),
    ("expectile", "reg", {"loss_function": "Expectile:alpha=0.7"}, "reg", {}),
    ("poisson", "reg", {"loss_function": "Poisson"}, "count", {}),
    ("tweedie", "reg", {"loss_function": "Tweedie:variance_power=1.5"}, "count", {}),
    ("multirmse", "reg", {"loss_function": "MultiRMSE"}, "reg2", {}),
    ("yetirank", "rank", {"loss_function": "YetiRank"}, "reg", {}),
    ("pairlogit", "rank", {"loss_function": "PairLogit"}, "reg", {}),
    ("queryrmse", "rank", {"loss_function": "QueryRMSE"}, "reg", {}),
    ("depthwise_rmse", "reg", {"loss_function": "RMSE", "grow_policy": "Depthwise"}, "reg", {}),
    ("depthwise_multiclass", "clf", {"loss_function": "MultiClass", "grow_policy": "Depthwise"},
     "multi", {}),
    ("lossguide_logloss", "clf", {"loss_function": "Logloss", "grow_policy": "Lossguide",
                                  "max_leaves": 9}, "binary", {}),
    ("lossguide_poisson", "reg", {"loss_function": "Poisson", "grow_policy": "Lossguide",
                                  "max_leaves": 7}, "count", {}),
    ("onehot_logloss", "clf", {"loss_function": "Logloss", "one_hot_max_size": 255}, "binary",
     {"cat": [1, 4]}),
    ("onehot_rmse_depthwise", "reg", {"loss_function": "RMSE", "one_hot_max_size": 255,
                                      "grow_policy": "Depthwise"}, "reg", {"cat": [3]}),
    ("onehot_multiclass", "clf", {"loss_function": "MultiClass", "one_hot_max_size": 255},
     "multi", {"cat": [0]}),
    ("scaled", "reg", {"loss_function": "RMSE"}, "reg", {"scale": (1.5, [0.25])}),
    ("scaled_multiclass", "clf", {"loss_function": "MultiClass"}, "multi",
     {"scale": (0.5, [0.1, -0.2, 0.3])}),
    ("summed", "reg", {"loss_function": "RMSE"}, "reg", {"sum": [0.4, 0.6]}),
    ("stumps", "clf", {"loss_function": "Logloss", "depth": 1}, "binary", {}),
]

REFUSED = [
    # name, estimator, params, label kind, options, word the error names
    ("ctr", "clf", {"loss_function": "Logloss", "one_hot_max_size": 2}, "binary",
     {"cat": [1]}, "CTR"),
    ("rmse_with_uncertainty", "reg", {"loss_function": "RMSEWithUncertainty"}, "reg", {},
     "RMSEWithUncertainty"),
]


def estimator(kind, params, grid, seed):
    common = {"iterations": 40 if grid else 6, "depth": 6 if grid else 3,
              "random_seed": seed, "verbose": False, "thread_count": 1,
              "allow_writing_files": False}
    common.update(params)
    cls = {"clf": CatBoostClassifier, "reg": CatBoostRegressor, "rank": CatBoostRanker}[kind]
    return cls(**common)


def borders(model_json):
    """(flat feature index, border) of every float split used."""
    out = []
    feats = model_json["features_info"].get("float_features", [])
    flat = {f["feature_index"]: f["flat_feature_index"] for f in feats}

    def add(split):
        if split.get("split_type") == "FloatFeature":
            out.append((flat[split["float_feature_index"]], split["border"]))

    def walk(node):
        if "split" in node:
            add(node["split"])
            walk(node["left"])
            walk(node["right"])

    for t in model_json.get("oblivious_trees", []):
        for s in t["splits"]:
            add(s)
    for t in model_json.get("trees", []):
        walk(t)
    seen, uniq = set(), []
    for fb in out:
        if fb not in seen:
            seen.add(fb)
            uniq.append(fb)
    return uniq[:MAX_BORDERS]


def probe_rows(X, model_json, cat, allow_nan):
    rows = [X[i].copy() for i in range(DATA_ROWS)]
    for k, (f, b) in enumerate(borders(model_json)):
        b32 = np.float32(b)
        if abs(b32) >= np.finfo(np.float32).max:
            continue  # the +-FLT_MAX border of a feature with NaN in training
        for v in (float(b32),
                  np.nextafter(float(b32), -np.inf), np.nextafter(float(b32), np.inf),
                  float(np.nextafter(b32, np.float32(-np.inf))),
                  float(np.nextafter(b32, np.float32(np.inf)))):
            r = X[k % len(X)].copy()
            r[f] = v
            rows.append(r)
    base = X[0].copy()
    if allow_nan:
        for f in range(X.shape[1]):
            if f not in cat:
                r = base.copy()
                r[f] = np.nan
                rows.append(r)
    for f in cat:
        for v in list(range(-4, 7)) + [11, 255, 1000, -1000, 123456, -77777]:
            r = base.copy()
            r[f] = v
            rows.append(r)
    return np.array(rows, dtype=np.float64)


def train(name, kind, params, label_kind, opts, grid, seed):
    rng = np.random.default_rng(seed)
    cat = opts.get("cat", [])
    n_float = 4
    nan_rate = opts.get("nan_rate", 0.08)
    X = make_data(rng, N_TRAIN, n_float, cat, nan_rate)
    y = labels(label_kind, X, rng, cat)
    group = np.repeat(np.arange(N_TRAIN // 8), 8) if kind == "rank" else None
    pool = Pool(frame(X, cat), y, cat_features=cat or None, group_id=group)
    model = estimator(kind, params, grid, seed)
    model.fit(pool)
    if "sum" in opts:
        other = estimator(kind, params, grid, seed + 1)
        other.fit(pool)
        model = catboost.sum_models([model, other], weights=opts["sum"])
    if "scale" in opts:
        scale, bias = opts["scale"]
        model.set_scale_and_bias(scale, bias if len(bias) > 1 else bias[0])
    return model, X, cat, pool


def predictions(model, kind, params, rows, cat):
    df = frame(rows, cat)
    if kind == "rank":
        # CatBoostRanker.predict returns the raw scores and takes no type.
        pred = model.predict(df)
        return {"raw": matrix(pred), "predict": matrix(pred)}
    out = {"raw": matrix(model.predict(df, prediction_type="RawFormulaVal"))}
    pred = model.predict(df)
    if kind == "clf":
        pred = np.asarray(pred).reshape(-1)
        out["predict"] = [p if isinstance(p, str) else float(p) for p in pred.tolist()]
        out["proba"] = matrix(model.predict_proba(df))
    else:
        out["predict"] = matrix(pred)
    loss = params["loss_function"].split(":")[0]
    if loss in ("Poisson", "Tweedie"):
        out["exponent"] = matrix(model.predict(df, prediction_type="Exponent"))
    return out


def save(model, outdir, name, pool=None):
    model.save_model(os.path.join(outdir, name + ".cbm"))
    model.save_model(os.path.join(outdir, name + ".json"), format="json", pool=pool)


def make_case(outdir, case, grid, seed):
    name, kind, params, label_kind, opts = case
    model, X, cat, _ = train(name, kind, params, label_kind, opts, grid, seed)
    save(model, outdir, name)
    with open(os.path.join(outdir, name + ".json")) as f:
        model_json = json.load(f)
    allow_nan = params.get("nan_mode") != "Forbidden"
    rows = probe_rows(X, model_json, cat, allow_nan)
    doc = {
        "meta": {"library": "catboost", "version": catboost.__version__,
                 "loss": params["loss_function"],
                 "grow_policy": params.get("grow_policy", "SymmetricTree"),
                 "estimator": kind, "cat_features": cat},
        "rows": matrix(rows),
    }
    doc.update(predictions(model, kind, params, rows, cat))
    with open(os.path.join(outdir, name + ".expected.json"), "w") as f:
        json.dump(doc, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")


def make_refused(outdir, case, seed):
    name, kind, params, label_kind, opts, word = case
    model, _, _, _ = train(name, kind, params, label_kind, opts, False, seed)
    save(model, outdir, name)
    with open(os.path.join(outdir, name + ".refused"), "w") as f:
        f.write(word + "\n")


def hash_strings():
    """Category strings covering every CityHash64 length class (0, 1-3,
    4-8, 9-16, 17-32, 33-64, 65+ bytes) and integers of both signs."""
    out = ["", "a", "ab", "abc", "abcd", "hello", "12345678", "123456789",
           "sixteen-chars-ok", "seventeen-chars-x", "a string of thirty-two bytes 12345",
           "x" * 33, "y" * 64, "z" * 65, "q" * 128, "a longer text: " + "0123456789" * 13,
           "Ünïcödé", "tab\tand\nnewline"]
    out += [str(i) for i in list(range(-20, 40)) + [99, 100, 1000, 65535, 2 ** 31 - 1,
                                                  -(2 ** 31), 10 ** 12, -(10 ** 15)]]
    return out


def make_hashes(outdir):
    values = hash_strings()
    n = len(values)
    X = pd.DataFrame({"c": values * 2, "x": np.linspace(-1, 1, 2 * n)})
    y = np.arange(2 * n) % 2
    pool = Pool(X, y, cat_features=[0])
    model = CatBoostClassifier(iterations=2, depth=2, one_hot_max_size=1000, verbose=False,
                               allow_writing_files=False, thread_count=1, random_seed=0)
    model.fit(pool)
    path = os.path.join(outdir, "hashes.model.json")
    model.save_model(path, format="json", pool=pool)
    with open(path) as f:
        doc = json.load(f)
    os.remove(path)
    pairs = [[h["value"], h["hash"]] for h in doc["features_info"]["cat_features_hash"]]
    pairs.sort(key=lambda p: p[1])
    with open(os.path.join(outdir, "hashes.json"), "w") as f:
        json.dump({"version": catboost.__version__, "string_hash": pairs}, f,
                  ensure_ascii=False, indent=0)
        f.write("\n")


def main():
    outdir = sys.argv[1]
    grid = "--grid" in sys.argv[2:]
    os.makedirs(outdir, exist_ok=True)
    for k, case in enumerate(CASES):
        make_case(outdir, case, grid, seed=k + 1)
    if not grid:
        for k, case in enumerate(REFUSED):
            make_refused(outdir, case, seed=100 + k)
        make_hashes(outdir)


if __name__ == "__main__":
    main()
