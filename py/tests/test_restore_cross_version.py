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
#: contain one of these).
KNOWN_REFUSALS = (
    "categorical HistGradientBoosting",
)


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


def write_matrix(records):
    cells = collections.OrderedDict()
    for r in sorted(records, key=lambda r: (r["source"], r["target"], r["estimator"])):
        key = (r["source"], r["target"], r["estimator"])
        c = cells.setdefault(key, {"files": 0, "rows": 0, "identical": 0, "refused": 0, "other": []})
        c["files"] += 1
        c["rows"] += r["rows"]
        if "refused" in r:
            c["refused"] += 1
        elif all(v == "identical" for v in r["outputs"].values()):
            c["identical"] += 1
        else:
            c["other"].append(f"{r['model']}: {r['outputs']}")
    lines = [
        "| source | target | estimator | files | rows | bit-identical | refused | other |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (s, t, e), c in cells.items():
        lines.append(
            f"| {s} | {t} | {e} | {c['files']} | {c['rows']} | {c['identical']} | "
            f"{c['refused']} | {'; '.join(c['other'])} |"
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
    bad = [
        f"{r['source']} -> {r['target']} {r['model']}: {r['outputs']}"
        for r in records
        if "outputs" in r and any(v != "identical" for v in r["outputs"].values())
    ]
    assert not bad, "\n".join(bad)


def test_refusals_are_known_limits(records):
    bad = [
        f"{r['source']} -> {r['target']} {r['model']}: {r['refused']}"
        for r in records
        if "refused" in r and not any(k in r["refused"] for k in KNOWN_REFUSALS)
    ]
    assert not bad, "\n".join(bad)
