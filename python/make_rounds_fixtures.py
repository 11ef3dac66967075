"""Models as users save them: early stopping and pickled estimators.

    python make_rounds_fixtures.py OUTDIR

Uses the pinned xgboost and lightgbm of python/requirements.txt. Writes,
for tests/it/saved_models.rs, each model file and NAME.expected.json:
``rows``, ``labels`` (``predict``, for classifiers), ``outputs``
(``predict_proba`` of classifiers, ``predict`` of regressors) as the API
that saved the model computes them, ``all_rounds`` (the same with every
round, where that differs) and ``meta`` (rounds stored, best iteration).

* ``xgb_sklearn_early.json``: ``XGBClassifier`` with early stopping, saved
  with its ``save_model`` (the file keeps every round, ``best_iteration``
  and a ``scikit_learn`` attribute; the wrapper predicts with
  ``best_iteration + 1`` rounds);
* ``xgb_booster_early.json``: ``xgb.train`` with early stopping
  (``Booster.predict`` uses every round);
* ``xgb_classifier.joblib``, ``xgb_regressor.joblib``: the pickled
  wrappers (early stopping on the classifier);
* ``lgbm_classifier.joblib``: ``LGBMClassifier`` with string labels;
  ``lgbm_regressor.joblib``: ``LGBMRegressor``; ``lgbm_classifier_ints
  .joblib``: integer labels that are not 0..n-1.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from booster_cases import dump_json, encode_matrix  # noqa: E402


def write(outdir, name, rows, outputs, labels=None, all_rounds=None, meta=None):
    doc = {"meta": meta or {}, "rows": encode_matrix(rows), "outputs": encode_matrix(outputs)}
    if labels is not None:
        doc["labels"] = [v.item() if hasattr(v, "item") else v for v in labels]
    if all_rounds is not None:
        doc["all_rounds"] = encode_matrix(all_rounds)
    dump_json(os.path.join(outdir, f"{name}.expected.json"), doc)


def main(outdir):
    import joblib
    import lightgbm
    import xgboost as xgb

    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(262)
    X = rng.normal(size=(400, 4))
    X[rng.random(size=X.shape) < 0.05] = np.nan
    s = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
    y = (s + rng.normal(scale=0.8, size=len(s)) > 0).astype(int)
    train, valid = slice(0, 250), slice(250, 400)
    rows = X[250:330]

    clf = xgb.XGBClassifier(n_estimators=200, max_depth=3, learning_rate=0.3,
                            early_stopping_rounds=5, random_state=1, n_jobs=1)
    clf.fit(X[train], y[train], eval_set=[(X[valid], y[valid])], verbose=False)
    booster = clf.get_booster()
    assert clf.best_iteration + 1 < booster.num_boosted_rounds()
    clf.save_model(os.path.join(outdir, "xgb_sklearn_early.json"))
    everything = booster.predict(xgb.DMatrix(rows))
    write(outdir, "xgb_sklearn_early", rows, clf.predict_proba(rows), clf.predict(rows),
          np.c_[1 - everything, everything],
          {"rounds": booster.num_boosted_rounds(), "best_iteration": clf.best_iteration,
           "xgboost": xgb.__version__})
    joblib.dump(clf, os.path.join(outdir, "xgb_classifier.joblib"), compress=0)
    write(outdir, "xgb_classifier", rows, clf.predict_proba(rows), clf.predict(rows),
          meta={"rounds": booster.num_boosted_rounds(), "best_iteration": clf.best_iteration})

    train_set = xgb.DMatrix(X[train], y[train])
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "seed": 1,
                     "nthread": 1}, train_set, 200,
                    evals=[(xgb.DMatrix(X[valid], y[valid]), "valid")],
                    early_stopping_rounds=5, verbose_eval=False)
    bst.save_model(os.path.join(outdir, "xgb_booster_early.json"))
    p = bst.predict(xgb.DMatrix(rows))
    best = bst.predict(xgb.DMatrix(rows), iteration_range=(0, bst.best_iteration + 1))
    # outputs: what Booster.predict gives; all_rounds holds --rounds best here.
    write(outdir, "xgb_booster_early", rows, np.c_[1 - p, p], (p > 0.5).astype(int),
          np.c_[1 - best, best],
          {"rounds": bst.num_boosted_rounds(), "best_iteration": bst.best_iteration})

    reg = xgb.XGBRegressor(n_estimators=8, max_depth=3, random_state=1, n_jobs=1).fit(X, s)
    joblib.dump(reg, os.path.join(outdir, "xgb_regressor.joblib"), compress=0)
    write(outdir, "xgb_regressor", rows, reg.predict(rows))

    names = np.array(["cat", "dog", "eel"], dtype=object)
    y3 = np.digitize(s, [-0.5, 0.5])
    lgbm = lightgbm.LGBMClassifier(n_estimators=10, num_leaves=6, verbose=-1, n_jobs=1,
                                   random_state=1).fit(X, names[y3])
    joblib.dump(lgbm, os.path.join(outdir, "lgbm_classifier.joblib"), compress=0)
    write(outdir, "lgbm_classifier", rows, lgbm.predict_proba(rows), list(lgbm.predict(rows)))
    odd = np.array([-3, 10])[y]
    lgbm_ints = lightgbm.LGBMClassifier(n_estimators=6, num_leaves=6, verbose=-1, n_jobs=1,
                                        random_state=1).fit(X, odd)
    joblib.dump(lgbm_ints, os.path.join(outdir, "lgbm_classifier_ints.joblib"), compress=0)
    write(outdir, "lgbm_classifier_ints", rows, lgbm_ints.predict_proba(rows),
          lgbm_ints.predict(rows))
    lreg = lightgbm.LGBMRegressor(n_estimators=8, num_leaves=6, verbose=-1, n_jobs=1,
                                  random_state=1).fit(X, s)
    joblib.dump(lreg, os.path.join(outdir, "lgbm_regressor.joblib"), compress=0)
    write(outdir, "lgbm_regressor", rows, lreg.predict(rows),
          meta={"lightgbm": lightgbm.__version__})


if __name__ == "__main__":
    main(sys.argv[1])
