"""Scores PMML files with JPMML (jpmml_evaluator) or PMML4S (pypmml).

Usage: pmml_eval.py REQUEST.json

REQUEST: {"evaluator": "jpmml" | "pypmml" | "xsd",
          "jobs": [{"pmml": PATH, "rows": PATH, "features": [NAME, ...],
                    "out": PATH}, ...]}

`rows` is a file of little-endian float64 values, one row of
len(features) values after another; NaN means missing. Each job writes
`out` as JSON: {"columns": {FIELD: [value per row]}, "errors": [text per
row or null], "seconds": evaluation time}. Floats are written with
Python's repr (exact); NaN as null. One JVM serves every job.

"xsd" validates each file against the PMML 4.4 schema
(tests/fixtures/pmml/pmml-4-4.jpmml.xsd, or REQUEST["xsd"]) with
`xmlschema` instead, writing {"valid": bool, "errors": [text, ...]}.
"""

import json
import math
import sys
import time

import numpy
import pandas


def plain(v):
    if isinstance(v, (numpy.floating, float)):
        v = float(v)
        return None if math.isnan(v) else v
    if isinstance(v, numpy.integer):
        return int(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def columns_of(df):
    return {str(c): [plain(v) for v in df[c].tolist()] for c in df.columns}


def frame(job):
    names = job["features"]
    x = numpy.fromfile(job["rows"], dtype="<f8").reshape(-1, len(names))
    return pandas.DataFrame(x, columns=names)


def run_jpmml(jobs):
    from jpmml_evaluator import make_evaluator

    for job in jobs:
        df = frame(job)
        started = time.perf_counter()
        evaluator = make_evaluator(job["pmml"], backend="jpype").verify()
        loaded = time.perf_counter()
        result = evaluator.evaluateAll(df, parallelism=1)
        done = time.perf_counter()
        errors = [None] * len(df)
        if "errors" in result.columns:
            errors = [plain(e) if e is not None else None for e in result["errors"].tolist()]
            result = result.drop(columns=["errors"])
        write(job, columns_of(result), errors, loaded - started, done - loaded)


def run_pypmml(jobs):
    from pypmml import Model

    for job in jobs:
        df = frame(job)
        started = time.perf_counter()
        model = Model.load(job["pmml"])
        loaded = time.perf_counter()
        result = model.predict(df)
        done = time.perf_counter()
        write(job, columns_of(result), [None] * len(df), loaded - started, done - loaded)


def write(job, columns, errors, load_seconds, seconds):
    with open(job["out"], "w") as f:
        json.dump(
            {
                "columns": columns,
                "errors": errors,
                "load_seconds": load_seconds,
                "seconds": seconds,
            },
            f,
        )


def run_xsd(jobs, xsd):
    import xmlschema

    schema = xmlschema.XMLSchema(xsd)
    for job in jobs:
        errors = [str(e)[:2000] for e, _ in zip(schema.iter_errors(job["pmml"]), range(5))]
        with open(job["out"], "w") as f:
            json.dump({"valid": not errors, "errors": errors}, f)


def main():
    with open(sys.argv[1]) as f:
        request = json.load(f)
    if request["evaluator"] == "xsd":
        run_xsd(request["jobs"], request["xsd"])
        return
    {"jpmml": run_jpmml, "pypmml": run_pypmml}[request["evaluator"]](request["jobs"])


if __name__ == "__main__":
    main()
