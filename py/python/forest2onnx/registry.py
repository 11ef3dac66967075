"""``forest2onnx.registry``: versioned models in a folder or an object store
(S3 and S3-compatible servers, Google Cloud Storage, Azure Blob Storage;
credentials from each cloud's usual environment variables), from Python,
on the same Rust code and with the same lock file as ``forest2onnx
registry`` (docs/REGISTRY.md).

    push(model_or_path, url, name=..., tags=...)   # the next version of name
    pull(url, "name@v3", dir, lock="forest2onnx.lock")
    list(url)
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Union

from . import _native
from ._errors import InputError

PathLike = Union[str, "os.PathLike[str]"]

#: The lock file a pull writes by default, as the command line's.
LOCK_FILE = "forest2onnx.lock"


def push(
    model: Any,
    url: str,
    *,
    name: Optional[str] = None,
    tags: Optional[Dict[str, str]] = None,
    onnx: bool = False,
) -> Dict[str, Any]:
    """Publish ``model`` as the next version of ``name`` at ``url``.

    ``model``: a model file (a ``.forest`` file is published byte for
    byte; pickles, XGBoost and LightGBM files are converted to one), a
    fitted estimator or a :class:`forest2onnx.Forest`. ``name`` defaults to
    the file's stem (required for objects). ``onnx=True`` also publishes
    ``model.onnx``, validated first. Versions are allocated atomically:
    concurrent pushes get distinct versions.

    Returns ``{"name", "version", "sha256", "url", "files"}``.
    """
    tags = _tags(tags)
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if name is None:
            name = os.path.splitext(os.path.basename(path))[0]
        text = _native.registry_push(url, name, None, path, tags, bool(onnx))
    else:
        from . import _forest_of

        if name is None:
            raise InputError("give name=... to push a model object")
        forest, _ = _forest_of(model)
        text = _native.registry_push(url, name, forest._native, None, tags, bool(onnx))
    return json.loads(text)


def pull(
    url: str,
    reference: str,
    dir: PathLike,
    *,
    lock: PathLike = LOCK_FILE,
    locked: bool = False,
) -> Dict[str, Any]:
    """Download ``reference`` (``"name"``, ``"name@v3"``, ``"name@latest"``)
    into ``dir``, every file checked against the manifest's SHA-256 and
    size (nothing is written unless all match).

    The version is pinned in the lock file ``lock`` (TOML, shared with the
    command line). ``locked=True`` writes nothing to it and refuses
    anything but the pinned version, URL and hashes; ``"name"`` then means
    the pinned version. Returns ``{"name", "version", "url", "written",
    "lock"}``.
    """
    text = _native.registry_pull(url, reference, os.fspath(dir), os.fspath(lock), bool(locked))
    return json.loads(text)


def list(url: str, name: Optional[str] = None) -> "List[Dict[str, Any]]":  # noqa: A001
    """The manifests of every published version (of ``name``, or of every
    model), as ``forest2onnx registry list --json`` prints them."""
    return json.loads(_native.registry_list(url, name))


def _tags(tags: Optional[Dict[str, str]]) -> Optional[Dict[str, str]]:
    if tags is not None and not (
        isinstance(tags, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    ):
        raise InputError("tags must be a dict of str to str")
    return tags
