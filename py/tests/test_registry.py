"""forest2onnx.registry.push/pull/list on a local folder and on the same
local S3, GCS and Azure servers as the command line's registry tests
(``scripts/servers.sh``, started by ``scripts/test.sh``: its
``FOREST2ONNX_TEST_SERVERS`` names them)."""

import json
import os
import pathlib
import time

import numpy as np
import pytest
from conftest import fitted

import forest2onnx
from forest2onnx import registry

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "sklearn"


def servers():
    path = os.environ.get("FOREST2ONNX_TEST_SERVERS")
    if not path:
        return None
    s = json.loads(pathlib.Path(path).read_text())
    for backend in ("s3", "gcs", "azure"):
        os.environ.update(s[backend]["env"])
    return s


@pytest.fixture(params=["local", "s3", "gcs", "azure"])
def url(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "registry")
    s = servers()
    if s is None:
        if os.environ.get("FOREST2ONNX_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{request.param}: the registry test servers are not running")
        pytest.skip("no test servers (run `bash scripts/test.sh`)")
    return f"{s[request.param]['url']}/python-{os.getpid()}-{time.time_ns()}"


def test_push_list_pull_and_lock(url, tmp_path):
    est, X = fitted("RandomForestClassifier")
    first = registry.push(est, url, name="churn", tags={"stage": "dev"})
    assert (first["name"], first["version"]) == ("churn", 1)
    # A pickle file, converted to a native file, with a validated ONNX file.
    second = registry.push(
        FIXTURES / "estimators-1.1.3" / "gbc_binary.p4.pkl", url, name="churn", onnx=True
    )
    assert second["version"] == 2
    assert sorted(f["path"] for f in second["files"]) == ["model.forest", "model.onnx"]
    listed = registry.list(url)
    assert [(m["name"], m["version"]) for m in listed] == [("churn", 1), ("churn", 2)]
    assert listed[0]["tags"] == {"stage": "dev"}
    assert listed[1]["source"]["version"] == "1.1.3"

    lock = tmp_path / "forest2onnx.lock"
    pulled = registry.pull(url, "churn@v1", tmp_path / "v1", lock=lock)
    assert pulled["version"] == 1 and lock.exists()
    model = forest2onnx.load(tmp_path / "v1" / "model.forest")
    np.testing.assert_array_equal(model.predict_proba(X), est.predict_proba(X))
    assert "version = 1" in lock.read_text()
    # Locked: the pinned version, even when asking for the name alone.
    again = registry.pull(url, "churn", tmp_path / "again", lock=lock, locked=True)
    assert again["version"] == 1 and again["lock"] is None
    with pytest.raises(forest2onnx.Error, match="locked"):
        registry.pull(url, "churn@v2", tmp_path / "v2", lock=lock, locked=True)
    # Unlocked, the latest, and the lock follows.
    latest = registry.pull(url, "churn", tmp_path / "latest", lock=lock)
    assert latest["version"] == 2 and "version = 2" in lock.read_text()
    assert (tmp_path / "latest" / "model.onnx").exists()


def test_a_native_file_is_published_byte_for_byte(url, tmp_path):
    est, _ = fitted("DecisionTreeRegressor")
    path = tmp_path / "trees.forest"
    forest2onnx.dump(est, path, requirements=True)
    pushed = registry.push(path, url)
    assert pushed["name"] == "trees"
    registry.pull(url, "trees@v1", tmp_path / "out", lock=tmp_path / "lock")
    assert (tmp_path / "out" / "model.forest").read_bytes() == path.read_bytes()
    env = forest2onnx.load(tmp_path / "out" / "model.forest").provenance["environment"]
    assert env["requirements_hash"].startswith("sha256:")


def test_bad_arguments_are_refused(tmp_path):
    est, _ = fitted("DecisionTreeRegressor")
    with pytest.raises(forest2onnx.InputError, match="name"):
        registry.push(est, str(tmp_path))
    with pytest.raises(forest2onnx.InputError, match="tags"):
        registry.push(est, str(tmp_path), name="x", tags={"a": 1})
    with pytest.raises(forest2onnx.Error):
        registry.push(est, str(tmp_path), name="bad name/with slash")
