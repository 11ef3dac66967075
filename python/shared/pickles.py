"""Saving a fitted model the ways users save it: pickle protocols and
joblib compressors (the scikit-learn fixture generators)."""

import os
import pickle

import joblib


def save_all(model, out_dir, name, protocols, compressors):
    """Writes ``model`` as ``NAME.pP.pkl`` for each pickle protocol and as
    ``NAME.C.joblib`` for each joblib compressor (``"raw"``, ``"zlib3"``, or
    anything joblib's ``compress=`` takes, named by its first item);
    returns the file names."""
    files = []
    for p in protocols:
        fname = f"{name}.p{p}.pkl"
        with open(os.path.join(out_dir, fname), "wb") as f:
            pickle.dump(model, f, protocol=p)
        files.append(fname)
    for c in compressors:
        fname = f"{name}.{c if isinstance(c, str) else c[0]}.joblib"
        if c == "raw":
            joblib.dump(model, os.path.join(out_dir, fname), compress=0)
        elif c == "zlib3":
            joblib.dump(model, os.path.join(out_dir, fname), compress=3)
        else:
            joblib.dump(model, os.path.join(out_dir, fname), compress=c)
        files.append(fname)
    return files
