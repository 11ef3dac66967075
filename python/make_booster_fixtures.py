"""Train small XGBoost or LightGBM models and write them with the library's
own predictions (see booster_cases.py for what is recorded).

    python make_booster_fixtures.py xgboost OUTDIR [--grid]
    python make_booster_fixtures.py lightgbm OUTDIR [--grid]
    python make_booster_fixtures.py xgboost-refused OUTDIR

Run once per library version, each in its own venv, for the committed
fixtures (``scripts/make-booster-fixtures.sh``); the ``--features python``
tests run it with ``--grid`` (bigger models) in the project venv.
Works with XGBoost 1.0 to 3.x and LightGBM 3.3 to 4.x.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from booster_cases import (  # noqa: E402
    make_data, probe_rows, short_float32, signal, write_expected)


def version_tuple(v):
    parts = []
    for p in v.split(".")[:2]:
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


# ---------------------------------------------------------------- XGBoost


def xgb_cases(xgb, grid):
    v = version_tuple(xgb.__version__)
    depth, rounds = (6, 20) if grid else (3, 6)
    common = {"max_depth": depth, "eta": 0.3, "seed": 1, "nthread": 1}
    cases = [
        ("binary_logistic", {"objective": "binary:logistic"}, "binary", {}),
        ("binary_logistic_base", {"objective": "binary:logistic", "base_score": 0.3}, "binary", {}),
        ("binary_logitraw", {"objective": "binary:logitraw"}, "binary", {}),
        ("multi_softprob", {"objective": "multi:softprob", "num_class": 3}, "multi", {}),
        ("multi_softmax", {"objective": "multi:softmax", "num_class": 3}, "multi", {}),
        ("reg_squarederror", {"objective": "reg:squarederror"}, "reg", {}),
        ("reg_logistic", {"objective": "reg:logistic"}, "unit", {}),
        ("count_poisson", {"objective": "count:poisson"}, "count", {}),
        ("count_poisson_base", {"objective": "count:poisson", "base_score": 2.0}, "count", {}),
        ("reg_gamma", {"objective": "reg:gamma"}, "positive", {}),
        ("reg_tweedie", {"objective": "reg:tweedie"}, "count", {}),
        ("rank_pairwise", {"objective": "rank:pairwise"}, "rank", {}),
        ("dart", {"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.3,
                  "skip_drop": 0.0, "normalize_type": "forest"}, "binary", {}),
        ("random_forest", {"objective": "binary:logistic", "num_parallel_tree": 4,
                           "subsample": 0.7, "colsample_bynode": 0.7, "eta": 1.0}, "binary",
         {"rounds": 2}),
        ("multi_parallel", {"objective": "multi:softprob", "num_class": 3,
                            "num_parallel_tree": 2, "subsample": 0.8}, "multi", {"rounds": 3}),
        ("survival_cox", {"objective": "survival:cox"}, "survival", {}),
    ]
    if v >= (1, 2):
        cases.append(("reg_pseudohubererror", {"objective": "reg:pseudohubererror"}, "reg", {}))
    if v >= (1, 3):
        cases.append(("rank_ndcg", {"objective": "rank:ndcg"}, "rank", {}))
    if v >= (1, 4):
        cases.append(("named_features", {"objective": "reg:squarederror"}, "reg",
                      {"names": True}))
    if v >= (1, 6):
        cat = {"tree_method": "hist", "max_cat_to_onehot": 1}
        cases.append(("categorical", dict(cat, objective="binary:logistic"), "binary",
                      {"categorical": 2}))
        cases.append(("categorical_onehot", dict(cat, objective="reg:squarederror",
                                                 max_cat_to_onehot=16), "reg",
                      {"categorical": 1}))
        cases.append(("multi_target", {"objective": "reg:squarederror", "tree_method": "hist"},
                      "reg2", {}))
    if v >= (1, 7):
        cases.append(("reg_absoluteerror", {"objective": "reg:absoluteerror"}, "reg", {}))
    if v >= (2, 0):
        cases.append(("reg_quantileerror", {"objective": "reg:quantileerror",
                                            "quantile_alpha": np.array([0.2, 0.8])}, "reg",
                      {}))
    # Last, so that adding it left the earlier cases' random draws alone.
    cases.append(("binary_hinge", {"objective": "binary:hinge"}, "binary", {}))
    out = []
    for name, params, kind, extra in cases:
        p = dict(common)
        p.update(params)
        out.append((name, p, kind, dict(extra, rounds=extra.get("rounds", rounds))))
    return out


def xgb_labels(kind, X, rng, n_categorical):
    s = signal(X, n_categorical)
    n = len(X)
    if kind == "binary":
        return (s + 0.3 * rng.normal(size=n) > 0).astype(float)
    if kind == "multi":
        return np.digitize(s + 0.3 * rng.normal(size=n), [-0.5, 0.7]).astype(float)
    if kind == "reg":
        return s + 0.1 * rng.normal(size=n)
    if kind == "reg2":
        return np.stack([s, np.sin(s)], axis=1)
    if kind == "unit":
        return 1.0 / (1.0 + np.exp(-s))
    if kind == "count":
        return rng.poisson(np.exp(0.4 * s)).astype(float)
    if kind == "positive":
        return np.exp(0.3 * s) + 0.05
    if kind == "rank":
        return np.clip(np.round(s + 1), 0, 3)
    if kind == "survival":
        t = np.exp(-0.3 * s) + 0.1
        return np.where(rng.random(size=n) < 0.2, -t, t)
    raise ValueError(kind)


def xgb_tree_splits(model):
    gb = model["learner"]["gradient_booster"]
    trees = (gb["gbtree"] if "gbtree" in gb else gb)["model"]["trees"]
    splits = []
    for t in trees:
        types = t.get("split_type", [0] * len(t["left_children"]))
        for i, left in enumerate(t["left_children"]):
            if left != -1 and types[i] == 0:
                splits.append((t["split_indices"][i], float(t["split_conditions"][i])))
    return splits


def xgb_leaf_values(model, leaf_ids):
    gb = model["learner"]["gradient_booster"]
    weights = gb.get("weight_drop")
    trees = (gb["gbtree"] if "gbtree" in gb else gb)["model"]["trees"]
    n_rows = leaf_ids.shape[0]
    leaf_ids = leaf_ids.reshape(n_rows, -1).astype(np.int64)
    assert leaf_ids.shape[1] == len(trees), (leaf_ids.shape, len(trees))
    out = np.zeros(leaf_ids.shape, dtype=np.float64)
    for t, tree in enumerate(trees):
        cond = np.asarray(tree["split_conditions"], dtype=np.float32)
        vals = cond[leaf_ids[:, t]]
        if weights is not None:
            vals = vals * np.float32(weights[t])
        out[:, t] = vals.astype(np.float64)
    return out


def make_xgboost(outdir, grid):
    import xgboost as xgb

    v = version_tuple(xgb.__version__)
    rng = np.random.default_rng(7)
    os.makedirs(outdir, exist_ok=True)
    written = []
    for name, params, kind, extra in xgb_cases(xgb, grid):
        n_cat = extra.get("categorical", 0)
        n_features = 5
        n_train = 400 if grid else 160
        X = make_data(rng, n_train + 60, n_features, n_cat)
        y = xgb_labels(kind, X, rng, n_cat)
        X_train, y_train, X_test = X[:n_train], y[:n_train], X[n_train:]
        dm_args = {"missing": np.nan}
        if n_cat:
            dm_args["feature_types"] = ["q"] * (n_features - n_cat) + ["c"] * n_cat
            dm_args["enable_categorical"] = True
        if extra.get("names"):
            dm_args["feature_names"] = ["f_%d" % i for i in range(n_features)]
        dtrain = xgb.DMatrix(X_train, label=y_train, **dm_args)
        if kind == "rank":
            dtrain.set_group([n_train // 4] * 4)
        params = dict(params)
        if kind == "survival":
            pass
        booster = xgb.train(params, dtrain, extra["rounds"])
        path_json = os.path.join(outdir, name + ".json")
        booster.save_model(path_json)
        files = [name + ".json"]
        if v >= (1, 6):
            booster.save_model(os.path.join(outdir, name + ".ubj"))
            files.append(name + ".ubj")
        with open(path_json) as f:
            model = json.load(f)
        categorical = list(range(n_features - n_cat, n_features))
        rows = probe_rows(X_test, xgb_tree_splits(model), True, categorical, 6, False)
        # XGBoost reads float32: rows are written as float32 text, and XGBoost
        # is given exactly the values that text reads back as.
        rows = short_float32(rows)
        drows = xgb.DMatrix(rows, **dm_args)
        margin = booster.predict(drows, output_margin=True)
        predict = booster.predict(drows)
        leaves = xgb_leaf_values(model, booster.predict(drows, pred_leaf=True))
        meta = {
            "library": "xgboost",
            "version": xgb.__version__,
            "case": name,
            "objective": params["objective"],
            "files": files,
            "rounds": extra["rounds"],
        }
        write_expected(os.path.join(outdir, name + ".expected.json"), meta, rows, margin,
                       predict, leaves, float32=True)
        written.append(name)
    return written


def make_xgboost_refused(outdir):
    """Models forest2onnx must refuse: gblinear, vector leaves
    (XGBoost >= 2.0), the legacy binary format (XGBoost < 2.1)."""
    import xgboost as xgb

    v = version_tuple(xgb.__version__)
    rng = np.random.default_rng(3)
    os.makedirs(outdir, exist_ok=True)
    X = make_data(rng, 100, 3, nan_rate=0.0)
    y = (signal(X) > 0).astype(float)
    d = xgb.DMatrix(X, label=y)
    xgb.train({"booster": "gblinear"}, d, 2).save_model(os.path.join(outdir, "gblinear.json"))
    if v >= (2, 0):
        d2 = xgb.DMatrix(X, label=np.stack([y, 1 - y], axis=1))
        xgb.train({"multi_strategy": "multi_output_tree", "tree_method": "hist",
                   "max_depth": 2}, d2, 2).save_model(os.path.join(outdir, "vector_leaf.json"))
    if v < (2, 1):
        xgb.train({"max_depth": 2}, d, 2).save_model(os.path.join(outdir, "legacy_binary.bin"))
    return ["refused"]


# ---------------------------------------------------------------- LightGBM


def lgb_cases(lgb, grid):
    v = version_tuple(lgb.__version__)
    leaves, rounds = (31, 20) if grid else (6, 6)
    common = {"num_leaves": leaves, "learning_rate": 0.3, "min_data_in_leaf": 5,
              "verbose": -1, "seed": 1, "deterministic": True, "num_threads": 1}
    cases = [
        ("binary", {"objective": "binary"}, "binary", {}),
        ("binary_sigmoid", {"objective": "binary", "sigmoid": 0.5}, "binary", {}),
        ("binary_zero_as_missing", {"objective": "binary", "zero_as_missing": True}, "binary",
         {}),
        ("binary_no_missing", {"objective": "binary", "use_missing": False}, "binary", {}),
        ("multiclass", {"objective": "multiclass", "num_class": 3}, "multi", {}),
        ("multiclassova", {"objective": "multiclassova", "num_class": 3}, "multi", {}),
        ("regression", {"objective": "regression"}, "reg", {}),
        ("regression_l1", {"objective": "regression_l1"}, "reg", {}),
        ("huber", {"objective": "huber"}, "reg", {}),
        ("fair", {"objective": "fair"}, "reg", {}),
        ("quantile", {"objective": "quantile", "alpha": 0.3}, "reg", {}),
        ("mape", {"objective": "mape"}, "positive", {}),
        ("poisson", {"objective": "poisson"}, "count", {}),
        ("gamma", {"objective": "gamma"}, "positive", {}),
        ("tweedie", {"objective": "tweedie"}, "count", {}),
        ("cross_entropy", {"objective": "cross_entropy"}, "unit", {}),
        ("lambdarank", {"objective": "lambdarank"}, "rank", {}),
        ("rank_xendcg", {"objective": "rank_xendcg"}, "rank", {}),
        ("random_forest", {"objective": "binary", "boosting": "rf", "bagging_fraction": 0.7,
                           "bagging_freq": 1, "feature_fraction": 0.8}, "binary", {}),
        ("random_forest_regression", {"objective": "regression", "boosting": "rf",
                                      "bagging_fraction": 0.7, "bagging_freq": 1}, "reg", {}),
        ("categorical", {"objective": "binary", "max_cat_to_onehot": 4,
                         "cat_smooth": 1, "min_data_per_group": 2, "cat_l2": 1},
         "binary", {"categorical": 2, "categories": 40}),
        ("categorical_multiclass", {"objective": "multiclass", "num_class": 3,
                                    "min_data_per_group": 2, "cat_smooth": 1},
         "multi", {"categorical": 1, "categories": 8}),
        ("single_leaf", {"objective": "regression", "min_data_in_leaf": 100000}, "reg", {}),
        ("dart", {"objective": "binary", "boosting": "dart", "drop_rate": 0.3}, "binary", {}),
    ]
    if v >= (4, 0):
        cases.append(("custom_objective", {"objective": "custom_l2"}, "reg", {}))
    # Last, so that adding them left the earlier cases' random draws alone.
    cases.append(("regression_sqrt", {"objective": "regression", "reg_sqrt": True}, "reg", {}))
    cases.append(("cross_entropy_lambda", {"objective": "cross_entropy_lambda"}, "unit", {}))
    out = []
    for name, params, kind, extra in cases:
        p = dict(common)
        p.update(params)
        out.append((name, p, kind, dict(extra, rounds=rounds)))
    return out


def l2_objective(preds, data):
    return preds - data.get_label(), np.ones_like(preds)


def lgb_splits(booster):
    splits = []

    def walk(node):
        if "split_index" not in node:
            return
        if node.get("decision_type") == "<=":
            splits.append((node["split_feature"], float(node["threshold"])))
        walk(node["left_child"])
        walk(node["right_child"])

    for t in booster.dump_model()["tree_info"]:
        walk(t["tree_structure"])
    return splits


def make_lightgbm(outdir, grid):
    import lightgbm as lgb

    rng = np.random.default_rng(11)
    os.makedirs(outdir, exist_ok=True)
    written = []
    for name, params, kind, extra in lgb_cases(lgb, grid):
        n_cat = extra.get("categorical", 0)
        n_categories = extra.get("categories", 6)
        n_features = 5
        n_train = 600 if grid else 300
        X = make_data(rng, n_train + 60, n_features, n_cat, n_categories)
        y = xgb_labels(kind, X, rng, n_cat)
        if kind == "unit":
            y = np.clip(y, 0, 1)
        X_train, y_train, X_test = X[:n_train], y[:n_train], X[n_train:]
        categorical = list(range(n_features - n_cat, n_features))
        params = dict(params)
        if params.get("objective") == "custom_l2":
            params["objective"] = l2_objective
        ds = lgb.Dataset(X_train, y_train, categorical_feature=categorical or "auto",
                         free_raw_data=False)
        if kind == "rank":
            ds.set_group([n_train // 4] * 4)
        booster = lgb.train(params, ds, num_boost_round=extra["rounds"])
        path = os.path.join(outdir, name + ".txt")
        booster.save_model(path)
        rows = probe_rows(X_test, lgb_splits(booster), False, categorical, n_categories, True)
        margin = booster.predict(rows, raw_score=True)
        predict = booster.predict(rows)
        leaf_ids = np.asarray(booster.predict(rows, pred_leaf=True)).astype(np.int64)
        leaf_ids = leaf_ids.reshape(len(rows), -1)
        leaves = np.zeros(leaf_ids.shape, dtype=np.float64)
        for t in range(leaf_ids.shape[1]):
            cache = {}
            for r in range(len(rows)):
                i = int(leaf_ids[r, t])
                if i not in cache:
                    cache[i] = booster.get_leaf_output(t, i)
                leaves[r, t] = cache[i]
        meta = {
            "library": "lightgbm",
            "version": lgb.__version__,
            "case": name,
            "objective": params["objective"] if isinstance(params["objective"], str)
            else "custom",
            "files": [name + ".txt"],
            "rounds": extra["rounds"],
        }
        write_expected(os.path.join(outdir, name + ".expected.json"), meta, rows, margin,
                       predict, leaves)
        written.append(name)
    # Linear trees: the file must be refused, so only the model is kept.
    if version_tuple(lgb.__version__) >= (3, 2):
        X = make_data(rng, 200, 3, 0, nan_rate=0.0)
        y = signal(X)
        b = lgb.train({"objective": "regression", "linear_tree": True, "verbose": -1,
                       "num_leaves": 4}, lgb.Dataset(X, y), num_boost_round=2)
        b.save_model(os.path.join(outdir, "linear_tree.txt"))
    return written


def main():
    makers = {
        "xgboost": make_xgboost,
        "lightgbm": make_lightgbm,
        "xgboost-refused": lambda out, grid: make_xgboost_refused(out),
    }
    if len(sys.argv) < 3 or sys.argv[1] not in makers:
        sys.exit(__doc__)
    grid = "--grid" in sys.argv[3:]
    names = makers[sys.argv[1]](sys.argv[2], grid)
    print("wrote %d cases to %s" % (len(names), sys.argv[2]))


if __name__ == "__main__":
    main()
