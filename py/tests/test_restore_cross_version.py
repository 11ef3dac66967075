"""``to_sklearn()`` across scikit-learn releases: every committed fixture
(pickled by 1.1 to 1.9) restored into this venv's scikit-learn and into
the older ones of ``.venv-sklearn/`` (``bash scripts/setup-sklearn-venvs.sh``,
run by ``scripts/test-python-package.sh``), compared bit for bit with the
outputs the pickling release computed (``restore_matrix.py``).

The matrix (source x target x estimator -> models, rows, result) is
printed and written to ``target/restore-matrix.md``.
"""

import collections
import glob
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
MATRIX = os.path.join(HERE, "restore_matrix.py")

#: Refusals the matrix may contain, each a known limit (the reason must
#: contain one of these): categorical HistGradientBoosting pickled by 1.4+
#: in a release before 1.4 (fractional values), and a 1.1 model splitting
#: on category 0 (values in (-1, 0)) in any release from 1.2.
KNOWN_REFUSALS = (
    "from 1.4 a value that is not a category",
    "reads values in (-1, 0) as category 0",
)

#: Outputs computed after a transcendental function (exp, log, softmax,
#: 2**x) by the restoring release: numpy's and the loss modules' versions
#: differ by CPU and release, so they are held to a stated bound against
#: the pickling machine's values (the original model, unpickled here,
#: differs from them by as much) and must be bit-identical to the original
#: model run by the same release on the same machine.
from conftest import MAX_ABS, MAX_ULP as MAX_ULPS  # noqa: E402  (one bound for the suite)


def transcendental(record, output):
    e = record["estimator"]
    if e == "IsolationForest":
        return output in ("score_samples", "decision_function")
    if e.startswith(("GradientBoostingC", "HistGradientBoostingC")):
        return output == "predict_proba"
    if e == "HistGradientBoostingRegressor":
        return output == "predict" and any(k in record["model"] for k in ("poisson", "gamma"))
    return False


def within_bound(verdict):
    if verdict == "identical":
        return True
    if not verdict.startswith("ulp "):
        return False
    ulps = verdict.split()[1]
    diff = float(verdict.split("abs ")[1].rstrip(")"))
    return (ulps != "inf" and int(ulps) <= MAX_ULPS) or diff <= MAX_ABS


def targets():
    """This venv (the newest scikit-learn) and every older venv set up."""
    pythons = [sys.executable]
    pythons += sorted(glob.glob(os.path.join(ROOT, ".venv-sklearn", "*", "bin", "python")))
    return pythons


def run_matrix(python):
    done = subprocess.run(
        [python, MATRIX, os.path.join(ROOT, "tests", "fixtures", "sklearn")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, f"{python}: {done.stderr[-4000:]}"
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def records():
    older = targets()[1:]
    if len(older) < 2:
        pytest.fail(
            "the older scikit-learn venvs are missing: run `bash scripts/setup-sklearn-venvs.sh` "
            "and install the package into them (scripts/test-python-package.sh does both)"
        )
    out = []
    for python in targets():
        out.extend(run_matrix(python))
    write_matrix(out)
    return out


def classify(r):
    """``identical``, ``bounded`` (transcendental outputs within the
    bound, the rest identical), ``refused`` or ``failed``."""
    if "refused" in r:
        return "refused"
    verdicts = r["outputs"].items()
    if all(v == "identical" for _, v in verdicts):
        return "identical"
    if all(
        v == "identical" or (transcendental(r, o) and within_bound(v))
        for o, v in verdicts
    ):
        return "bounded"
    return "failed"


def write_matrix(records):
    """source x target x estimator -> files, rows, how many identical /
    bounded / refused / failed."""
    cells = {}
    for r in records:
        c = cells.setdefault((r["source"], r["target"], r["estimator"]), collections.Counter())
        c["files"] += 1
        c["rows"] += r["rows"]
        c[classify(r)] += 1
    lines = [
        "| source | target | estimator | files | rows | bit-identical | within bound | refused | failed |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (s, t, e), c in sorted(cells.items()):
        lines.append(
            f"| {s} | {t} | {e} | {c['files']} | {c['rows']} | {c['identical']} | "
            f"{c['bounded']} | {c['refused']} | {c['failed']} |"
        )
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
    with open(os.path.join(ROOT, "target", "restore-matrix.md"), "w") as f:
        f.write(text)
    print(text)


def test_every_target_ran_every_fixture(records):
    by_target = collections.Counter(r["target"] for r in records)
    assert len(by_target) >= 3, by_target
    assert len(set(by_target.values())) == 1, by_target
    sources = {r["source"] for r in records}
    assert {"1.1.3", "1.3.2", "1.9.1"} <= sources, sources


def test_restored_models_predict_bit_for_bit(records):
    """Tree outputs, labels and raw scores: identical bits to the pickling
    release's; transcendental outputs within the stated bound."""
    bad = []
    for r in records:
        for output, v in r.get("outputs", {}).items():
            loose = transcendental(r, output)
            if not (v == "identical" or (loose and within_bound(v))):
                bad.append(f"{r['source']} -> {r['target']} {r['model']} {output}: {v}")
    assert not bad, "\n".join(bad)


def test_restored_models_equal_the_original_in_the_same_release(records):
    """Where the restoring release pickled the model, its own unpickled
    original and the restored model agree bit for bit on every output and
    on apply (on this machine)."""
    same = [r for r in records if "vs_original" in r]
    assert len({r["target"] for r in same}) >= 2, "need two releases with fixtures"
    bad = [
        f"{r['model']} ({r['target']}) {output}: {v}"
        for r in same
        for output, v in r["vs_original"].items()
        if v != "identical"
    ]
    assert not bad, "\n".join(bad)
    applied = [r for r in same if "apply" in r["vs_original"]]
    assert applied, "no model with apply was compared"


def test_refusals_are_known_limits(records):
    bad = [
        f"{r['source']} -> {r['target']} {r['model']}: {r['refused']}"
        for r in records
        if "refused" in r and not any(k in r["refused"] for k in KNOWN_REFUSALS)
    ]
    assert not bad, "\n".join(bad)


def release(version):
    return tuple(int(p) for p in version.split(".")[:2])


def test_categorical_models_restore_where_the_release_can_hold_them(records):
    """Categorical HistGradientBoosting restores in every target except a
    1.4+ model in a release before 1.4, and a 1.1 model splitting on
    category 0 (refused); the restored ones are checked bit for bit above."""
    categorical = [r for r in records if "categorical" in r["model"]]
    assert categorical
    for r in categorical:
        source, target = release(r["source"]), release(r["target"])
        expect_refusal = (source >= (1, 4) > target) or (
            source < (1, 2) and "hgbc_categorical" in r["model"]
        )
        assert ("refused" in r) == expect_refusal, r
