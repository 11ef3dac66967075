"""convert_many (the command line's `convert --out-dir`, same Rust code),
and what dump() records: the environment, the installed package set, and
versioned file names."""

import hashlib
import os
import pathlib
import shutil
import threading

import numpy as np
import pytest
from conftest import fitted

import forest2onnx

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "sklearn"


def test_convert_many_converts_a_folder_and_reports_each_file(tmp_path):
    src = tmp_path / "in"
    (src / "old").mkdir(parents=True)
    shutil.copy(FIXTURES / "estimators-1.1.3" / "gbc_multi.p4.pkl", src / "old" / "gbc.pkl")
    shutil.copy(FIXTURES / "estimators-1.9.1" / "etr_multi.p4.pkl", src / "etr.pkl")
    (src / "notes.txt").write_text("not a model")
    out = tmp_path / "out"
    results = forest2onnx.convert_many(src, out, to="pmml")
    by_name = {pathlib.Path(r["input"]).name: r for r in results}
    assert by_name["gbc.pkl"]["result"] == "converted"
    assert by_name["gbc.pkl"]["version"] == "1.1.3"
    assert by_name["gbc.pkl"]["library"] == "scikit-learn"
    assert by_name["etr.pkl"]["result"] == "refused"
    assert "PMML cannot express" in by_name["etr.pkl"]["reason"]
    assert by_name["notes.txt"]["result"] == "skipped"
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["old/gbc.pmml"]


def test_convert_many_onnx_outputs_load_like_the_source(tmp_path):
    results = forest2onnx.convert_many(str(FIXTURES / "estimators-1.9.1" / "*.joblib"), tmp_path)
    assert results and all(r["result"] == "converted" for r in results), results
    assert all(r["output"].endswith(".onnx") and os.path.getsize(r["output"]) == r["bytes"] for r in results)


def test_convert_many_checks_its_arguments(tmp_path):
    with pytest.raises(forest2onnx.InputError, match="to must be"):
        forest2onnx.convert_many(tmp_path, tmp_path, to="xml")
    with pytest.raises(forest2onnx.InputError, match="neither a file, a folder nor a glob"):
        forest2onnx.convert_many(tmp_path / "missing", tmp_path)


def test_dump_records_the_environment(tmp_path):
    import sklearn

    est, _ = fitted("RandomForestClassifier")
    path = tmp_path / "rf.forest"
    forest2onnx.dump(est, path)
    env = forest2onnx.load(path).provenance["environment"]
    assert env["python"].split()[1] == ".".join(map(str, __import__("sys").version_info[:3]))
    assert env["packages"]["scikit-learn"] == sklearn.__version__
    assert env["packages"]["numpy"] == np.__version__
    assert env["platform"]
    assert "requirements" not in env


def test_dump_with_requirements_records_the_package_set_and_its_hash(tmp_path):
    est, _ = fitted("DecisionTreeRegressor")
    path = tmp_path / "dt.forest"
    forest2onnx.dump(est, path, requirements=True)
    env = forest2onnx.load(path).provenance["environment"]
    lines = env["requirements"].splitlines()
    assert any(line.startswith("scikit-learn==") for line in lines)
    assert lines == sorted(lines, key=str.lower)
    digest = hashlib.sha256(env["requirements"].encode()).hexdigest()
    assert env["requirements_hash"] == "sha256:" + digest


def test_redumping_a_loaded_forest_keeps_its_environment(tmp_path):
    est, _ = fitted("DecisionTreeRegressor")
    first = tmp_path / "a.forest"
    forest2onnx.dump(est, first, requirements=True)
    again = tmp_path / "b.forest"
    forest2onnx.dump(forest2onnx.load(first), again)
    env = lambda p: forest2onnx.load(p).provenance["environment"]  # noqa: E731
    assert env(again) == env(first)


def test_versioned_dumps_get_distinct_versions_concurrently(tmp_path):
    est, _ = fitted("DecisionTreeRegressor")
    paths = []
    lock = threading.Lock()

    def save():
        p = forest2onnx.dump(est, tmp_path / "churn.forest", versioned=True)
        with lock:
            paths.append(p)

    threads = [threading.Thread(target=save) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(os.path.basename(p) for p in paths)
    versions = sorted(int(n.split("_v")[1].split("_")[0]) for n in names)
    assert versions == [1, 2, 3, 4, 5, 6], names
    assert all(n.startswith("churn_v") and n.endswith(".forest") for n in names)
    assert not (tmp_path / "churn.forest").exists()
