#!/usr/bin/env python3
"""forest2onnx.spark.transform against Spark ML's own ``model.transform``,
side by side in one SparkSession, on the same models and rows.

    nice -n 10 .venv/bin/python benches/python/spark_transform_bench.py            # 1M rows, RF 100 x depth 8, GBT 100 x depth 5
    nice -n 10 .venv/bin/python benches/python/spark_transform_bench.py --rows 100000 --trees 20   # smoke test

local[2]: Spark runs one task per core, so rows/s per core is rows / time / 2.
Rows per CPU-second counts the CPU time of the JVM and the Python workers
(/proc), which other processes on a shared machine do not inflate.
Each figure is the best of --repeat runs after one warm-up run (JIT, Python
workers, the model cache); every run scores all rows and writes them to
Spark's ``noop`` sink, so every output column is computed. Needs Java 17+,
pyspark and pyarrow (python/requirements.txt) and an optimised build of the
package (``pip install ./py``): a debug build's tree walk is several times
slower.
"""

import argparse
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORES = 2


def cpu_seconds():
    """User + system CPU seconds of this process and its descendants (the
    JVM and Spark's Python workers), reaped children included: unlike wall
    time, not inflated by other processes on a shared machine."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parent[pid] = int(fields[1])
        cpu[pid] = sum(int(v) for v in fields[11:15]) / tick
    total, todo = 0.0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo += [child for child, p in parent.items() if p == pid]
    return total


def best_of(fn, repeat):
    """The shortest wall time of ``repeat`` runs after a warm-up, and the
    fewest CPU seconds."""
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = cpu_seconds(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
    return min(walls), min(cpus)


def sink(df):
    df.write.format("noop").mode("overwrite").save()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--train-rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.ml.classification import GBTClassifier, RandomForestClassifier
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import forest2onnx
    from forest2onnx import spark as f2o_spark

    spark = (
        SparkSession.builder.master(f"local[{CORES}]")
        .appName("forest2onnx-spark-bench")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    names = [f"f{i}" for i in range(args.features)]

    def rows(n, seed):
        df = spark.range(n, numPartitions=CORES).select(
            "id", *[F.round(F.randn(seed + i), 2).alias(name) for i, name in enumerate(names)]
        )
        score = F.col("f0") + 0.5 * F.col("f1") - 0.3 * F.col("f2") + 0.3 * F.randn(seed + 99)
        df = df.withColumn("binary", (score > 0).cast("double"))
        df = df.withColumn("three", F.when(score < -0.5, 0.0).when(score < 0.5, 1.0).otherwise(2.0))
        return VectorAssembler(inputCols=names, outputCol="features").transform(df)

    train = rows(args.train_rows, 1).cache()
    t0 = time.perf_counter()
    models = {
        f"RandomForestClassifier, 3 classes, {args.trees} trees, depth 8": RandomForestClassifier(
            labelCol="three", numTrees=args.trees, maxDepth=8, seed=1
        ).fit(train),
        f"GBTClassifier, {args.trees} trees, depth 5": GBTClassifier(
            labelCol="binary", maxIter=args.trees, maxDepth=5, seed=2
        ).fit(train),
    }
    print(f"trained in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    data = rows(args.rows, 7).drop("binary", "three").cache()
    data.count()

    load_before = os.getloadavg()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, model) in enumerate(models.items()):
            folder = os.path.join(tmp, f"model{i}")
            model.write().save(folder)
            native = os.path.join(tmp, f"model{i}.forest")
            forest2onnx.convert(folder, native)
            theirs, theirs_cpu = best_of(lambda: sink(model.transform(data)), args.repeat)
            ours, ours_cpu = best_of(lambda: sink(f2o_spark.transform(data, native)), args.repeat)
            _, vectors_cpu = best_of(lambda: sink(f2o_spark.transform(data, native, keep_sparse=True)), 1)
            per_core = [args.rows / t / CORES for t in (theirs, ours)]
            per_cpu = [args.rows / c for c in (theirs_cpu, ours_cpu)]
            lines.append(
                f"| {name} | {theirs:.2f} s | {per_core[0]:,.0f} | {per_cpu[0]:,.0f} "
                f"| {ours:.2f} s | {per_core[1]:,.0f} | {per_cpu[1]:,.0f} "
                f"| {per_core[1] / per_core[0]:.2f}× | {per_cpu[1] / per_cpu[0]:.2f}× | {args.rows / vectors_cpu:,.0f} |"
            )
            print(lines[-1], file=sys.stderr)
    load_after = os.getloadavg()
    spark.stop()

    import pyspark

    print(
        f"{args.rows:,} rows × {args.features} features, local[{CORES}], pyspark {pyspark.__version__}, "
        f"Python {platform.python_version()}, forest2onnx {forest2onnx.__version__}; "
        f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min)\n"
    )
    print(
        "| model | Spark `transform` | rows/s per core | rows per CPU-s "
        "| `forest2onnx.spark.transform` | rows/s per core | rows per CPU-s | ratio (wall) | ratio (CPU) "
        "| `keep_sparse=True`: rows per CPU-s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
