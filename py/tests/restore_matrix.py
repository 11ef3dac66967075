"""The cross-version restore matrix: every committed scikit-learn fixture
(pickled by 1.1 to 1.9, tests/fixtures/sklearn/) loaded with
``forest2onnx.load(path).to_sklearn()`` under the scikit-learn of the
Python that runs this script, and compared, bit for bit, with the outputs
the pickling release computed (stored next to the pickles).

    python restore_matrix.py [FIXTURES_DIR] > results.json

Prints one JSON record per model file: source and target versions,
estimator, rows, and per output either ``"identical"``, the largest
difference in units in the last place (``"ulp N"``), or the reason of a
refusal. ``py/tests/test_restore_cross_version.py`` runs it in every
target venv and checks the records.
"""

import glob
import json
import os
import sys
import warnings

import numpy as np
import sklearn

import forest2onnx

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FIXTURES = os.path.join(HERE, "..", "..", "tests", "fixtures", "sklearn")


def ulps(a, b):
    """Largest distance in float64 steps between a and b, over elements of
    the same sign (0: identical bits, NaN in the same places; inf when
    shapes or NaN places differ)."""
    a = np.ascontiguousarray(a, dtype=np.float64).ravel()
    b = np.ascontiguousarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape or (np.isnan(a) != np.isnan(b)).any():
        return float("inf")
    keep = ~np.isnan(a) & (np.signbit(a) == np.signbit(b))
    ia, ib = a[keep].view(np.int64), b[keep].view(np.int64)
    return int(np.abs(ia - ib).max()) if len(ia) else 0


def verdict(got, want):
    """``identical``, or the largest difference in ulps and absolute."""
    got = np.asarray(got, dtype=np.float64).reshape(np.shape(want))
    if np.array_equal(got.view(np.int64), np.asarray(want, dtype=np.float64).view(np.int64)):
        return "identical"
    with np.errstate(invalid="ignore"):
        diff = np.nanmax(np.abs(got - want))
    return f"ulp {ulps(got, want)} (abs {diff:.3g})"


def compare(got, want):
    if np.asarray(got).dtype.kind != "f":
        return "identical" if np.array_equal(got, want) else "differs"
    return verdict(got, want)


def same_release(est, path, m, X, base):
    """The restored model against the original unpickled by the same
    release on this machine (our own fixture, trusted): every output, and
    ``apply`` where the estimator has it."""
    import joblib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original = joblib.load(path)
        if np.isnan(X).any():
            try:
                original.predict(X[:1])
            except ValueError:
                X = X[~np.isnan(X).any(axis=1)]
        mine = {name: got for name, got, _ in outputs(est, m, X, base, None, expected=False)}
        theirs = {name: got for name, got, _ in outputs(original, m, X, base, None, expected=False)}
        result = {name: compare(mine[name], theirs[name]) for name in mine}
        if hasattr(original, "apply"):
            Xa = np.asarray(X, dtype=np.float32)
            result["apply"] = compare(est.apply(Xa), original.apply(Xa))
    return result


def read(path, dtype, shape):
    return np.fromfile(path, dtype=dtype).reshape(shape)


def models(fixtures):
    """(source version, directory, manifest entry) of every model."""
    for d in sorted(glob.glob(os.path.join(fixtures, "*", "manifest.json"))):
        manifest = json.load(open(d))
        for m in manifest["models"]:
            yield manifest["sklearn"], os.path.dirname(d), m


def outputs(est, m, X, base, keep=None, expected=True):
    """Each output the fixture stores, as (name, got, expected); ``keep``:
    the fixture's rows that X holds (all when None). With ``expected``
    False the expected values are dummies of the right shape."""
    n, rows = m["n_rows"], len(X)
    stored = expected

    def expected(suffix, dtype, width=None):
        a = read(base + suffix, dtype, (n,) if width is None else (n, width))
        if not stored:
            a = a[:rows]
        return a if keep is None else a[keep]

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if m["estimator"] == "IsolationForest":
            want = expected(".values.f64", "<f8", 2)
            out.append(("score_samples", est.score_samples(X), want[:, 0]))
            out.append(("decision_function", est.decision_function(X), want[:, 1]))
            label = expected(".label.i64", "<i8")
            out.append(("predict", est.predict(X), np.where(label == 0, -1, 1)))
            return out
        classifier = m["estimator"].endswith("Classifier")
        values = ".values.f64" if os.path.exists(base + ".values.f64") else ".proba.f64"
        if classifier:
            classes = np.asarray(est.classes_, dtype=object)
            if m.get("classes") is not None:
                assert [str(c) for c in classes] == [str(c) for c in m["classes"]], classes
            out.append(("predict_proba", est.predict_proba(X), expected(values, "<f8", len(classes))))
            label = expected(".label.i64", "<i8")
            out.append(("predict", np.asarray(est.predict(X), dtype=object), classes[label]))
        else:
            want = expected(values, "<f8", -1)
            out.append(("predict", np.asarray(est.predict(X)).reshape(want.shape), want))
        if os.path.exists(base + ".raw.f64"):
            raw = expected(".raw.f64", "<f8", -1)
            if classifier:
                got = est.decision_function(X)
            elif m["estimator"].startswith("Gradient"):
                # What predict() hands _raw_predict: float32, C order.
                got = est._raw_predict(np.ascontiguousarray(X, dtype=np.float32))
            else:
                got = est._raw_predict(X)
            out.append(("decision_function" if classifier else "raw", np.asarray(got).reshape(raw.shape), raw))
        assert all(len(got) == rows for _, got, _ in out)
    return out


def main():
    fixtures = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_FIXTURES
    target = sklearn.__version__
    records = []
    for source, d, m in models(fixtures):
        base = os.path.join(d, m["name"])
        X = read(base + ".X.f64", "<f8", (m["n_rows"], m["n_features"]))
        for f in m["files"]:
            rec = {
                "source": source,
                "target": target,
                "estimator": m["estimator"],
                "model": f"{os.path.basename(d)}/{f}",
                "rows": len(X),
            }
            try:
                est = forest2onnx.load(os.path.join(d, f)).to_sklearn()
            except forest2onnx.Error as e:
                rec["refused"] = str(e)
                records.append(rec)
                continue
            assert type(est).__name__ == m["estimator"], (type(est), m["estimator"])
            assert type(est).__module__.startswith("sklearn."), type(est).__module__
            rec["outputs"] = {}
            try:
                compared = outputs(est, m, X, base)
            except ValueError as e:
                if "NaN" not in str(e):
                    raise
                # The pickling release accepted NaN here; this one refuses
                # it loudly (never a different answer): compare the rest.
                keep = ~np.isnan(X).any(axis=1)
                rec["nan_rows"] = f"refused by scikit-learn {target}"
                compared = outputs(est, m, X[keep], base, keep)
            for name, got, want in compared:
                rec["outputs"][name] = compare(got, want)
            if source == target:
                rec["vs_original"] = same_release(est, os.path.join(d, f), m, X, base)
            records.append(rec)
    json.dump(records, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
