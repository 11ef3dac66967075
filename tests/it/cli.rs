//! End-to-end tests of the `forest2onnx` binary: every command, its output
//! and its failures, run as a user would run them.
//!
//! Each test gets its own temporary folder ([`Dir`]) to write inputs into
//! and run the binary in, in the style of ripgrep's test harness.

use std::fs;
use std::path::PathBuf;

use assert_cmd::Command;
use predicates::str::contains;

/// A temporary working folder for one test.
struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().expect("temporary folder"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Writes `contents` to `name` and returns its path.
    fn create(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, contents).expect("write test file");
        p
    }

    /// `forest2onnx ARGS...` run inside this folder.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("forest2onnx").expect("binary built");
        c.current_dir(self.tmp.path()).args(args);
        c
    }

    /// Runs a command that must succeed and returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self
            .cmd(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).expect("UTF-8 stdout")
    }

    /// Runs a command that must fail with `code` and returns its stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.cmd(args).assert().code(code).get_output().clone();
        let stderr = String::from_utf8(out.stderr).expect("UTF-8 stderr");
        assert_no_panic(&stderr);
        stderr
    }

    /// Trains a small iris forest into `name`.
    fn iris_model(&self, name: &str, seed: &str) -> PathBuf {
        self.ok(&[
            "train",
            "--dataset",
            "iris",
            "--trees",
            "10",
            "--seed",
            seed,
            "-o",
            name,
        ]);
        self.path(name)
    }

    fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }
}

/// Error output is one `error:` line plus causes, never a panic or backtrace.
fn assert_no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "backtrace: {stderr}");
    assert!(!stderr.contains("internal error"), "bug: {stderr}");
}

/// Asserts a failure message starts with `error:` and holds `needle`.
fn assert_error(stderr: &str, needle: &str) {
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
}

/// Five iris-like rows with a string target, small enough to read.
const FLOWERS: &str = "\
sepal_length,sepal_width,petal_length,petal_width,species
5.1,3.5,1.4,0.2,setosa
4.9,3.0,1.4,0.2,setosa
7.0,3.2,4.7,1.4,versicolor
6.4,3.2,4.5,1.5,versicolor
6.3,3.3,6.0,2.5,virginica
5.8,2.7,5.1,1.9,virginica
5.0,3.6,1.4,0.2,setosa
6.9,3.1,4.9,1.5,versicolor
7.1,3.0,5.9,2.1,virginica
";

/// Iris feature header as smartcore names them.
const IRIS_HEADER: &str = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

// ---------------------------------------------------------------- top level

#[test]
fn help_teaches_with_examples() {
    let d = Dir::new();
    let out = d.ok(&["--help"]);
    assert!(out.contains("EXAMPLES:"), "{out}");
    assert!(out.contains("forest2onnx demo"), "{out}");
    assert!(out.contains("EXIT STATUS"), "{out}");
    for cmd in ["demo", "train", "convert", "validate", "inspect", "predict"] {
        let out = d.ok(&[cmd, "--help"]);
        assert!(out.contains("EXAMPLES:"), "{cmd}: {out}");
        assert!(out.contains(&format!("forest2onnx {cmd}")), "{cmd}: {out}");
    }
}

#[test]
fn version_is_printed() {
    Dir::new()
        .cmd(&["--version"])
        .assert()
        .success()
        .stdout(contains(format!(
            "forest2onnx {}",
            env!("CARGO_PKG_VERSION")
        )));
}

#[test]
fn usage_errors_exit_2() {
    let d = Dir::new();
    d.fails(&[], 2);
    d.fails(&["frobnicate"], 2);
    d.fails(&["convert", "m.forest", "--ml-opset", "2"], 2);
    d.fails(&["train"], 2);
    d.fails(&["train", "--dataset", "iris", "--trees", "0"], 2);
    d.fails(&["train", "--dataset", "nope"], 2);
}

// --------------------------------------------------------------------- demo

#[test]
fn demo_runs_the_whole_pipeline() {
    let d = Dir::new();
    let out = d.ok(&["demo", "--out", "demo"]);
    assert!(out.lines().any(|l| l == "mismatches: 0"), "{out}");
    for needle in [
        "training accuracy:",
        "rows compared:",
        "max |Δp|:",
        "timings:",
        "iris.onnx",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    for f in ["demo/iris.forest", "demo/iris.onnx", "demo/iris.csv"] {
        assert!(d.exists(f), "{f}");
    }
    // The files it leaves behind work with the other commands.
    let predictions = d.ok(&["predict", "demo/iris.onnx", "--data", "demo/iris.csv"]);
    assert!(
        predictions.starts_with("label,setosa,versicolor,virginica\n"),
        "{predictions}"
    );
    assert_eq!(predictions.lines().count(), 151);
    // The suggested next commands run as printed, from the same folder,
    // although no `forest2onnx` is on the PATH (issue 25).
    let next: Vec<&str> = out.lines().skip_while(|l| *l != "next:").skip(1).collect();
    assert_eq!(next.len(), 2, "{out}");
    for line in next {
        let words: Vec<&str> = line.split_whitespace().collect();
        let program = d.tmp.path().join(words[0]);
        assert!(
            program.is_file(),
            "{line}: no program {}",
            program.display()
        );
        let status = std::process::Command::new(&program)
            .args(&words[1..])
            .current_dir(d.tmp.path())
            .output()
            .expect("run the suggested command");
        assert!(status.status.success(), "{line}: {status:?}");
    }
}

#[test]
fn demo_json_and_default_folder() {
    let d = Dir::new();
    let v = json(&d.ok(&["demo", "--json", "--quiet"]));
    assert_eq!(v["passed"], true);
    assert_eq!(v["mismatches"], 0);
    assert_eq!(v["trees"], 100);
    assert!(v["rows_compared"].as_u64().unwrap() > 150);
    let dir = PathBuf::from(v["dir"].as_str().unwrap());
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("forest2onnx-demo-"), "{name}");
    assert!(dir.join("iris.forest").exists());
}

// -------------------------------------------------------------------- train

#[test]
fn train_on_csv_with_string_classes() {
    let d = Dir::new();
    d.create("flowers.csv", FLOWERS);
    let out = d.ok(&[
        "train",
        "--data",
        "flowers.csv",
        "--trees",
        "10",
        "-o",
        "f.forest",
    ]);
    assert!(out.contains("wrote f.forest"), "{out}");
    let v = json(&d.ok(&["inspect", "f.forest", "--json"]));
    assert_eq!(v["format"], "native");
    assert_eq!(
        v["forest"]["classes"],
        serde_json::json!(["setosa", "versicolor", "virginica"])
    );
    assert_eq!(v["forest"]["trees"], 10);
    assert_eq!(
        v["forest"]["feature_names"],
        serde_json::json!(["sepal_length", "sepal_width", "petal_length", "petal_width"])
    );
    let meta = &v["native"];
    assert_eq!(meta["training_params"]["trees"], 10);
    assert_eq!(meta["training_params"]["seed"], 42);
    assert_eq!(meta["training_params"]["data"]["target"], "species");
    assert_eq!(meta["data_fingerprint"]["rows"], 9);
    assert_eq!(meta["data_fingerprint"]["cols"], 4);
}

#[test]
fn train_target_by_name_and_options() {
    let d = Dir::new();
    d.create(
        "data.csv",
        "a,class,b\n1,0,5\n2,0,6\n3,1,7\n4,1,8\n5,1,9\n1.5,0,5.5\n",
    );
    let v = json(&d.ok(&[
        "train",
        "--data",
        "data.csv",
        "--target",
        "class",
        "--trees",
        "7",
        "--max-depth",
        "2",
        "--criterion",
        "entropy",
        "--features-per-split",
        "2",
        "--compression",
        "0",
        "--tag",
        "team=ml",
        "--json",
        "-o",
        "m.forest",
    ]));
    assert_eq!(v["trees"], 7);
    assert_eq!(v["classes"], serde_json::json!(["0", "1"]));
    assert!(v["max_depth"].as_u64().unwrap() <= 2);
    let meta = json(&d.ok(&["inspect", "m.forest", "--json"]))["native"].clone();
    assert_eq!(meta["training_params"]["criterion"], "entropy");
    assert_eq!(meta["training_params"]["features_per_split"], 2);
    assert_eq!(meta["compression"], "None");
    assert_eq!(meta["tags"]["team"], "ml");
    assert_eq!(meta["feature_names"], serde_json::json!(["a", "b"]));
}

#[test]
fn train_every_builtin_dataset_and_a_decision_tree() {
    let d = Dir::new();
    for (set, classes) in [("wine", 3), ("breast-cancer", 2), ("digits", 10)] {
        let v = json(&d.ok(&[
            "train",
            "--dataset",
            set,
            "--trees",
            "3",
            "--json",
            "-o",
            "m.forest",
        ]));
        assert_eq!(v["classes"].as_array().unwrap().len(), classes, "{set}");
    }
    let v = json(&d.ok(&[
        "train",
        "--dataset",
        "iris",
        "--model",
        "decision-tree",
        "--json",
        "-o",
        "t.forest",
    ]));
    assert_eq!(v["trees"], 1);
    assert_eq!(v["model"], "DecisionTreeClassifier");
    let e = d.fails(
        &[
            "train",
            "--dataset",
            "iris",
            "--model",
            "decision-tree",
            "--trees",
            "5",
        ],
        1,
    );
    assert_error(&e, "--trees applies to random forests");
}

#[test]
fn train_versioned_counts_up() {
    let d = Dir::new();
    fs::create_dir(d.path("models")).unwrap();
    let first = d.ok(&[
        "train",
        "--dataset",
        "iris",
        "--trees",
        "2",
        "-o",
        "models/iris.forest",
        "--versioned",
    ]);
    let second = d.ok(&[
        "train",
        "--dataset",
        "iris",
        "--trees",
        "2",
        "-o",
        "models/iris.forest",
        "--versioned",
    ]);
    assert!(first.contains("models/iris_v1_"), "{first}");
    assert!(second.contains("models/iris_v2_"), "{second}");
    // Two models, and the hidden folder of version claims.
    assert_eq!(fs::read_dir(d.path("models")).unwrap().count(), 3);
}

#[test]
fn train_rejects_missing_and_infinite_values() {
    let d = Dir::new();
    d.create("gap.csv", "x,y,c\n1,2,a\n3,,b\n");
    let e = d.fails(&["train", "--data", "gap.csv"], 1);
    assert_error(&e, "row 2 (line 3), column \"y\": the cell is empty");
    d.create("inf.csv", "x,y,c\n1,2,a\ninf,3,b\n");
    let e = d.fails(&["train", "--data", "inf.csv"], 1);
    assert_error(
        &e,
        "row 2 (line 3), column \"x\": \"inf\" is not a finite number",
    );
    d.create("one.csv", "x,c\n1,a\n2,a\n");
    let e = d.fails(&["train", "--data", "one.csv"], 1);
    assert_error(&e, "only one class");
    d.create("t.csv", "x,c\n1,a\n2,b\n");
    let e = d.fails(&["train", "--data", "t.csv", "--target", "label"], 1);
    assert_error(&e, "has no column \"label\"");
    assert!(!d.exists("model.forest"));
}

// ------------------------------------------------------------------ convert

#[test]
fn convert_validates_and_writes() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    let out = d.ok(&["convert", "iris.forest", "-o", "iris.onnx"]);
    assert!(out.lines().any(|l| l == "mismatches: 0"), "{out}");
    assert!(out.contains("wrote iris.onnx"), "{out}");
    assert!(d.exists("iris.onnx"));
    // Default output name: the model's, with .onnx.
    d.ok(&[
        "convert",
        "iris.forest",
        "--ml-opset",
        "3",
        "--name",
        "g",
        "--doc",
        "hello",
    ]);
    let v = json(&d.ok(&["inspect", "iris.onnx", "--json"]));
    assert_eq!(v["onnx"]["opsets"]["ai.onnx.ml"], 3);
    assert_eq!(v["onnx"]["graph_name"], "g");
    assert_eq!(v["onnx"]["doc_string"], "hello");
}

#[test]
fn convert_json_output_and_data_rows() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.create(
        "rows.csv",
        &format!("{IRIS_HEADER},species\n5.1,3.5,1.4,0.2,setosa\n6,3,,1,x\n"),
    );
    let v = json(&d.ok(&[
        "convert",
        "iris.forest",
        "-o",
        "o.onnx",
        "--data",
        "rows.csv",
        "--json",
    ]));
    assert_eq!(v["validation"]["passed"], true);
    assert_eq!(v["validation"]["data_rows"], 2);
    assert_eq!(v["output"], "o.onnx");
    assert_eq!(v["input_format"], "native");
}

#[test]
fn convert_without_validation() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    let out = d.ok(&["convert", "iris.forest", "--no-validate"]);
    assert!(out.contains("not validated"), "{out}");
    assert!(!out.contains("mismatches"), "{out}");
    assert!(d.exists("iris.onnx"));
}

#[test]
fn convert_smartcore_json_detected_by_content() {
    let d = Dir::new();
    d.ok(&[
        "train",
        "--dataset",
        "wine",
        "--trees",
        "5",
        "-o",
        "w.forest",
        "--smartcore-json",
        "w.model",
    ]);
    let v = json(&d.ok(&["inspect", "w.model", "--json"]));
    assert_eq!(v["format"], "smartcore-json");
    assert_eq!(v["forest"]["trees"], 5);
    let out = d.ok(&["convert", "w.model", "-o", "w.onnx"]);
    assert!(out.lines().any(|l| l == "mismatches: 0"), "{out}");
    // The JSON model and the native one predict the same.
    d.create("wine.csv", &wine_rows());
    let a = d.ok(&["predict", "w.model", "--data", "wine.csv"]);
    let b = d.ok(&["predict", "w.forest", "--data", "wine.csv"]);
    assert_eq!(
        a.lines().skip(1).collect::<Vec<_>>(),
        b.lines().skip(1).collect::<Vec<_>>()
    );
}

#[test]
fn convert_a_smartcore_decision_tree_json() {
    let d = Dir::new();
    d.ok(&[
        "train",
        "--dataset",
        "breast-cancer",
        "--model",
        "decision-tree",
        "--max-depth",
        "4",
        "-o",
        "t.forest",
        "--smartcore-json",
        "t.json",
    ]);
    let v = json(&d.ok(&["convert", "t.json", "--json"]));
    assert_eq!(v["input_format"], "smartcore-json");
    assert_eq!(v["trees"], 1);
    assert_eq!(v["validation"]["passed"], true);
    assert!(d.exists("t.onnx"));
}

fn wine_rows() -> String {
    // Three rows of data/wine.csv, header without names: 13 columns.
    let text = include_str!("../../data/wine.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut s = header[..13].join(",") + "\n";
    for l in lines.take(3) {
        let cells: Vec<&str> = l.split(',').collect();
        s += &(cells[..13].join(",") + "\n");
    }
    s
}

#[test]
fn convert_with_zipmap() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    let out = d.ok(&["convert", "iris.forest", "-o", "z.onnx", "--zipmap"]);
    assert!(out.contains("with ZipMap"), "{out}");
    let info = d.ok(&["inspect", "z.onnx"]);
    assert!(
        info.contains("output_probability: seq(map(string, tensor(float)))"),
        "{info}"
    );
    assert!(info.contains("ai.onnx.ml:ZipMap ×1"), "{info}");
    // tract runs it (it reads the first two outputs).
    d.create("x.csv", &format!("{IRIS_HEADER}\n5.1,3.5,1.4,0.2\n"));
    let p = d.ok(&["predict", "z.onnx", "--data", "x.csv"]);
    assert!(
        p.starts_with("label,setosa,versicolor,virginica\nsetosa,"),
        "{p}"
    );
}

#[test]
fn convert_refuses_a_missing_output_folder() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    let e = d.fails(&["convert", "iris.forest", "-o", "nowhere/x.onnx"], 1);
    assert_error(&e, "does not exist");
    let e = d.fails(&["convert", "iris.forest", "-o", "."], 1);
    assert_error(&e, "is a folder");
}

#[test]
fn convert_refuses_an_onnx_input() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.ok(&["convert", "iris.forest"]);
    let e = d.fails(&["convert", "iris.onnx", "-o", "again.onnx"], 1);
    assert_error(&e, "is an ONNX model; this needs the source model");
}

/// A scikit-learn fixture pickled by another test suite's generator.
fn sklearn_fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/sklearn/sklearn-1.4.2/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn scikit_learn_pickles_are_read_as_data() {
    let d = Dir::new();
    let joblib = sklearn_fixture("rf.zlib3.joblib");
    let out = d.ok(&["inspect", &joblib]);
    for needle in [
        "scikit-learn pickle",
        "RandomForestClassifier (scikit-learn 1.4.2)",
        "container:   zlib",
        "allowed  sklearn.ensemble._forest.RandomForestClassifier",
        "converts:    yes",
    ] {
        assert!(out.contains(needle), "{needle:?} in:\n{out}");
    }
    let out = d.ok(&["convert", &sklearn_fixture("rf.p4.pkl"), "-o", "rf.onnx"]);
    assert!(out.lines().any(|l| l == "mismatches: 0"), "{out}");
    d.create("x.csv", "a,b,c,d\n0.1,0.2,0.3,0.4\n");
    let a = d.ok(&["predict", &joblib, "--data", "x.csv"]);
    let b = d.ok(&["predict", "rf.onnx", "--data", "x.csv"]);
    assert!(a.starts_with("label,0,1,2\n"), "{a}");
    assert_eq!(a.lines().count(), 2);
    let label = |t: &str| {
        t.lines()
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(label(&a), label(&b));
}

/// Little-endian f64 values of a fixture file.
fn f64s(path: &str) -> Vec<f64> {
    fs::read(path)
        .unwrap()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The migration away from pickle: a joblib file becomes a native file
/// that `inspect` and `predict` read, predicting what scikit-learn did.
#[test]
fn convert_turns_a_pickle_into_a_native_file() {
    let d = Dir::new();
    let joblib = sklearn_fixture("et.zlib3.joblib");
    let out = d.ok(&["convert", &joblib, "-o", "et.forest"]);
    assert!(out.contains("wrote et.forest"), "{out}");
    assert!(out.contains("zstd level 3"), "{out}");
    assert!(out.contains("reloads to the identical forest"), "{out}");
    assert_eq!(&fs::read(d.path("et.forest")).unwrap()[..4], b"\x89F2O");
    let info = json(&d.ok(&["inspect", "et.forest", "--json"]));
    assert_eq!(info["format"], "native");
    assert_eq!(info["forest"]["estimator"], "ExtraTreesClassifier");
    assert_eq!(info["forest"]["trees"], 3);

    // scikit-learn's own predictions on the fixture's rows.
    let x = f64s(&sklearn_fixture("et.X.f64"));
    let proba = f64s(&sklearn_fixture("et.proba.f64"));
    let mut csv = String::from("a,b,c,d\n");
    for row in x.chunks(4) {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        csv += &(cells.join(",") + "\n");
    }
    d.create("x.csv", &csv);
    let native = d.ok(&["predict", "et.forest", "--data", "x.csv"]);
    assert_eq!(native, d.ok(&["predict", &joblib, "--data", "x.csv"]));
    let rows: Vec<&str> = native.lines().skip(1).collect();
    assert_eq!(rows.len(), x.len() / 4);
    for (r, line) in rows.iter().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let p: Vec<f64> = cells[1..].iter().map(|c| c.parse().unwrap()).collect();
        let want = &proba[r * 3..r * 3 + 3];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() <= 1e-12, "row {r}: {p:?} vs {want:?}");
        }
        let best = (0..3).fold(0, |m, k| if want[k] > want[m] { k } else { m });
        assert_eq!(cells[0], ["a", "b", "c"][best], "row {r}");
    }

    // --compress, --to, and the same file again through the native reader.
    let out = d.ok(&[
        "convert",
        "et.forest",
        "--to",
        "forest",
        "-o",
        "raw.bin",
        "--compress",
        "0",
    ]);
    assert!(out.contains("uncompressed"), "{out}");
    let v = json(&d.ok(&["inspect", "raw.bin", "--json"]));
    assert_eq!(v["native"]["compression"], "None");
}

#[test]
fn convert_chooses_the_format_by_extension_and_refuses_unknown_ones() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    let e = d.fails(&["convert", "iris.forest", "-o", "iris.pb"], 1);
    assert_error(&e, "cannot tell the output format from `iris.pb`");
    assert!(
        e.contains(".onnx (ONNX), .forest (forest2onnx native)"),
        "{e}"
    );
    assert!(e.contains("--to onnx|forest"), "{e}");
    let e = d.fails(&["convert", "iris.forest", "-o", "noext"], 1);
    assert_error(&e, "cannot tell the output format");
    // The extension is enough, in any case; --to overrides it.
    d.ok(&["convert", "iris.forest", "-o", "UPPER.ONNX"]);
    assert!(d.ok(&["inspect", "UPPER.ONNX"]).contains("ONNX model"));
    d.ok(&[
        "convert",
        "iris.forest",
        "-o",
        "onnx.forest",
        "--to",
        "onnx",
    ]);
    assert!(d.ok(&["inspect", "onnx.forest"]).contains("ONNX model"));
    // Options of the other format are refused, not ignored.
    let e = d.fails(&["convert", "iris.forest", "-o", "x.forest", "--zipmap"], 1);
    assert_error(&e, "--zipmap does not apply to forest2onnx native output");
    let e = d.fails(
        &["convert", "iris.forest", "-o", "x.onnx", "--compress", "5"],
        1,
    );
    assert_error(&e, "--compress does not apply to ONNX output");
    // The default output must not be the input.
    let e = d.fails(&["convert", "iris.forest", "--to", "forest"], 1);
    assert_error(&e, "is the input itself");
    assert!(!d.exists("x.forest") && !d.exists("x.onnx"));
}

/// Eight processes saving one name at once get eight versions.
#[test]
fn concurrent_versioned_conversions_get_distinct_versions() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    fs::create_dir(d.path("models")).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("forest2onnx");
    let children: Vec<_> = (0..8)
        .map(|_| {
            std::process::Command::new(&bin)
                .current_dir(d.path(""))
                .args([
                    "convert",
                    "iris.forest",
                    "-o",
                    "models/iris.forest",
                    "--versioned",
                    "--quiet",
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let mut versions: Vec<u64> = fs::read_dir(d.path("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .map(|n| {
            n.strip_prefix("iris_v")
                .unwrap()
                .split('_')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    versions.sort();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
}

#[test]
fn hostile_pickles_are_refused_not_run() {
    let d = Dir::new();
    // protocol 2: os.system("ls")
    fs::write(
        d.path("evil.pkl"),
        b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.",
    )
    .unwrap();
    let out = d.ok(&["inspect", "evil.pkl"]);
    assert!(out.contains("REFUSED  os.system"), "{out}");
    assert!(
        out.contains("converts:    no: refused global os.system"),
        "{out}"
    );
    let e = d.fails(&["convert", "evil.pkl"], 1);
    assert_error(&e, "cannot load `evil.pkl`");
    assert!(e.contains("refused global os.system"), "{e}");
    assert!(!d.exists("evil.onnx"));
}

// ----------------------------------------------------------------- validate

#[test]
fn validate_passes_on_its_own_conversion() {
    let d = Dir::new();
    d.iris_model("a.forest", "1");
    d.ok(&["convert", "a.forest", "--no-validate"]);
    let out = d.ok(&["validate", "a.forest", "a.onnx"]);
    assert!(out.lines().any(|l| l == "mismatches: 0"), "{out}");
    assert!(out.contains("PASSED"), "{out}");
    d.create(
        "x.csv",
        &format!("{IRIS_HEADER}\n5.1,3.5,1.4,0.2\nnan,3,4,1\n"),
    );
    let v = json(&d.ok(&[
        "validate", "a.forest", "a.onnx", "--data", "x.csv", "--json",
    ]));
    assert_eq!(v["passed"], true);
    assert_eq!(v["data_rows"], 2);
    assert_eq!(v["report"]["label_mismatches"], 0);
}

#[test]
fn validate_mismatch_exits_3() {
    let d = Dir::new();
    d.iris_model("a.forest", "1");
    d.iris_model("b.forest", "2");
    d.ok(&["convert", "b.forest"]);
    let out = d
        .cmd(&["validate", "a.forest", "b.onnx"])
        .assert()
        .code(3)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("FAILED"), "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_error(&stderr, "`b.onnx` does not reproduce `a.forest`");
    let n: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("mismatches: "))
        .expect("a mismatches line")
        .parse()
        .unwrap();
    assert!(n > 0, "{stdout}");
    // JSON keeps the exit status.
    let out = d
        .cmd(&["validate", "a.forest", "b.onnx", "--json"])
        .assert()
        .code(3)
        .get_output()
        .clone();
    assert_eq!(
        json(&String::from_utf8(out.stdout).unwrap())["passed"],
        false
    );
}

#[test]
fn validate_incompatible_models_exit_3() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.ok(&[
        "train",
        "--dataset",
        "wine",
        "--trees",
        "3",
        "-o",
        "wine.forest",
    ]);
    d.ok(&["convert", "wine.forest"]);
    let out = d
        .cmd(&["validate", "iris.forest", "wine.onnx"])
        .assert()
        .code(3)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("the ONNX model takes 13 features; the forest takes 4"),
        "{stdout}"
    );
}

#[test]
fn validate_wants_the_onnx_second() {
    let d = Dir::new();
    d.iris_model("a.forest", "1");
    d.ok(&["convert", "a.forest"]);
    let e = d.fails(&["validate", "a.onnx", "a.forest"], 1);
    assert_error(&e, "is an ONNX model");
    let e = d.fails(&["validate", "a.forest", "a.forest"], 1);
    assert_error(&e, "not an ONNX model");
}

// ------------------------------------------------------------------ inspect

#[test]
fn inspect_onnx_shows_signature_and_trees() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.ok(&["convert", "iris.forest"]);
    let out = d.ok(&["inspect", "iris.onnx"]);
    for needle in [
        "ONNX model",
        "ir_version:  8",
        "producer:    forest2onnx",
        "ai.onnx.ml 1",
        "input: tensor(float)[N, 4]",
        "label: tensor(string)[N]",
        "probabilities: tensor(float)[N, 3]",
        "ai.onnx.ml:TreeEnsembleClassifier ×1",
        "TreeEnsembleClassifier: 10 trees",
        "classes:     3 (\"setosa\", \"versicolor\", \"virginica\")",
        "feature_names:",
    ] {
        assert!(out.contains(needle), "{needle:?} in:\n{out}");
    }
    let v = json(&d.ok(&["inspect", "iris.onnx", "--json"]));
    let native = json(&d.ok(&["inspect", "iris.forest", "--json"]));
    for k in ["trees", "nodes", "leaves", "max_depth"] {
        assert_eq!(v["onnx"]["ensemble"][k], native["forest"][k], "{k}");
    }
}

#[test]
fn inspect_native_shows_training() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    let out = d.ok(&["inspect", "iris.forest"]);
    for needle in [
        "forest2onnx model",
        "RandomForestClassifier (smartcore 0.7.0)",
        "trees:       10",
        "compression: zstd level 3",
        "training:",
        "\"seed\":1",
        "data:        150 rows × 4 columns, xxh3-128:",
    ] {
        assert!(out.contains(needle), "{needle:?} in:\n{out}");
    }
}

// ------------------------------------------------------------------ predict

#[test]
fn predict_native_and_onnx_agree() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.ok(&["convert", "iris.forest"]);
    // Columns in another order plus the target: picked by name.
    d.create(
        "x.csv",
        "species,petal width (cm),petal length (cm),sepal width (cm),sepal length (cm)\n\
         setosa,0.2,1.4,3.5,5.1\n\
         virginica,2.5,6.0,3.3,6.3\n\
         ?,,,,\n",
    );
    let native = d.ok(&["predict", "iris.forest", "--data", "x.csv"]);
    d.ok(&["predict", "iris.onnx", "--data", "x.csv", "-o", "p.csv"]);
    let onnx = fs::read_to_string(d.path("p.csv")).unwrap();
    assert!(
        native.starts_with("label,setosa,versicolor,virginica\nsetosa,"),
        "{native}"
    );
    assert_eq!(native.lines().count(), 4);
    let parse = |text: &str| -> Vec<(String, Vec<f64>)> {
        text.lines()
            .skip(1)
            .map(|l| {
                let mut cells = l.split(',');
                let label = cells.next().unwrap().to_string();
                (label, cells.map(|c| c.parse().unwrap()).collect())
            })
            .collect()
    };
    let (a, b) = (parse(&native), parse(&onnx));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.0, y.0);
        for (p, q) in x.1.iter().zip(&y.1) {
            assert!((p - q).abs() < 1e-6, "{native}\n{onnx}");
        }
    }
    // Shortest round-trip formatting: votes of 10 trees print as tenths.
    assert!(
        native
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .skip(1)
            .all(|c| c.len() <= 4),
        "{native}"
    );
}

#[test]
fn predict_by_position_when_names_do_not_match() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.create("x.csv", "a,b,c,d\n5.1,3.5,1.4,0.2\n");
    let out = d.ok(&["predict", "iris.forest", "--data", "x.csv"]);
    assert!(out.lines().nth(1).unwrap().starts_with("setosa,"), "{out}");
}

#[test]
fn predict_dash_output_is_stdout() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.create("x.csv", "a,b,c,d\n5.1,3.5,1.4,0.2\n");
    let plain = d.ok(&["predict", "iris.forest", "--data", "x.csv"]);
    let dash = d.ok(&["predict", "iris.forest", "--data", "x.csv", "-o", "-"]);
    assert_eq!(dash, plain);
    assert!(dash.starts_with("label,"), "{dash}");
    assert!(!d.exists("-"), "a file named - was written");
}

#[test]
fn predict_quiet_writes_nothing_on_stderr() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.create("x.csv", "a,b,c,d\n5.1,3.5,1.4,0.2\n");
    d.cmd(&[
        "predict",
        "iris.forest",
        "--data",
        "x.csv",
        "-o",
        "p.csv",
        "--quiet",
    ])
    .assert()
    .success()
    .stdout("")
    .stderr("");
    assert!(d.exists("p.csv"));
}

// ------------------------------------------------------------ bad input

#[test]
fn missing_model_file() {
    let d = Dir::new();
    d.create("x.csv", "a\n1\n");
    for args in [
        vec!["convert", "nope.forest"],
        vec!["inspect", "nope.forest"],
        vec!["predict", "nope.forest", "--data", "x.csv"],
        vec!["validate", "nope.forest", "nope.onnx"],
    ] {
        let e = d.fails(&args, 1);
        assert_error(&e, "cannot read `nope.forest`");
        assert!(e.contains("No such file"), "{e}");
    }
}

#[test]
fn missing_data_file() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    let e = d.fails(&["predict", "iris.forest", "--data", "nope.csv"], 1);
    assert_error(&e, "cannot open data file `nope.csv`");
    let e = d.fails(&["train", "--data", "nope.csv"], 1);
    assert_error(&e, "cannot open data file `nope.csv`");
}

#[test]
fn non_numeric_cell_names_row_and_column() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.create("x.csv", "a,b,c,d\n5.1,3.5,1.4,0.2\n5.1,oops,1.4,0.2\n");
    let e = d.fails(&["predict", "iris.forest", "--data", "x.csv"], 1);
    assert_error(
        &e,
        "`x.csv`: row 2 (line 3), column \"b\": \"oops\" is not a number",
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    d.create("t.csv", "a,b,class\n1,2,x\n1,zz,y\n");
    let e = d.fails(&["train", "--data", "t.csv"], 1);
    assert_error(&e, "row 2 (line 3), column \"b\": \"zz\" is not a number");
}

#[test]
fn wrong_feature_count() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.ok(&["convert", "iris.forest"]);
    d.create("x.csv", "a,b,c\n1,2,3\n");
    for model in ["iris.forest", "iris.onnx"] {
        let e = d.fails(&["predict", model, "--data", "x.csv"], 1);
        assert_error(&e, "the model takes 4 features, but `x.csv` has 3 columns");
    }
    let e = d.fails(
        &["validate", "iris.forest", "iris.onnx", "--data", "x.csv"],
        1,
    );
    assert_error(&e, "the model takes 4 features");
}

#[test]
fn empty_csv() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.create("empty.csv", "");
    d.create("header.csv", "a,b,c,d\n");
    let e = d.fails(&["predict", "iris.forest", "--data", "empty.csv"], 1);
    assert_error(&e, "`empty.csv` is empty");
    let e = d.fails(&["predict", "iris.forest", "--data", "header.csv"], 1);
    assert_error(&e, "has a header but no data rows");
    let e = d.fails(&["train", "--data", "header.csv"], 1);
    assert_error(&e, "no data rows");
}

#[test]
fn ragged_csv() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.create("x.csv", "a,b,c,d\n1,2,3,4\n1,2,3\n");
    let e = d.fails(&["predict", "iris.forest", "--data", "x.csv"], 1);
    assert_error(&e, "line 3: 3 fields, but the header has 4");
}

#[test]
fn non_model_file() {
    let d = Dir::new();
    d.create("notes.txt", "these are not the trees you are looking for\n");
    d.create("x.csv", "a\n1\n");
    for args in [
        vec!["convert", "notes.txt"],
        vec!["inspect", "notes.txt"],
        vec!["predict", "notes.txt", "--data", "x.csv"],
    ] {
        let e = d.fails(&args, 1);
        assert_error(&e, "cannot load `notes.txt`");
        assert!(
            e.contains("not a model file: it is not a forest2onnx model"),
            "{e}"
        );
    }
    d.create("empty.forest", "");
    let e = d.fails(&["inspect", "empty.forest"], 1);
    assert_error(&e, "the file is empty");
    // JSON that is not a smartcore model.
    d.create("other.json", "{\"hello\": 1}");
    let e = d.fails(&["convert", "other.json"], 1);
    assert_error(&e, "cannot load `other.json`");
    assert!(!d.exists("other.onnx"));
}

#[test]
fn damaged_native_file() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    let mut bytes = fs::read(d.path("iris.forest")).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    fs::write(d.path("bad.forest"), &bytes).unwrap();
    let e = d.fails(&["convert", "bad.forest"], 1);
    assert_error(&e, "cannot load `bad.forest`");
    assert!(!d.exists("bad.onnx"));
}

#[test]
fn failures_leave_existing_outputs_alone() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.create("p.csv", "precious\n");
    d.create("x.csv", "a,b,c,d\n1,2,3,x\n");
    d.fails(
        &["predict", "iris.forest", "--data", "x.csv", "-o", "p.csv"],
        1,
    );
    assert_eq!(fs::read_to_string(d.path("p.csv")).unwrap(), "precious\n");
    // No temporary files are left behind either.
    let names: Vec<String> = fs::read_dir(d.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn nan_cells_are_missing_values_in_predict() {
    let d = Dir::new();
    d.iris_model("iris.forest", "1");
    d.ok(&["convert", "iris.forest"]);
    d.create("x.csv", "a,b,c,d\nnan,NaN,,1\ninf,-inf,1,1\n");
    let a = d.ok(&["predict", "iris.forest", "--data", "x.csv"]);
    let b = d.ok(&["predict", "iris.onnx", "--data", "x.csv"]);
    assert_eq!(a.lines().count(), 3);
    let labels = |t: &str| {
        t.lines()
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(labels(&a), labels(&b));
}

#[test]
fn output_paths_are_checked_before_work() {
    let d = Dir::new();
    let e = d.fails(&["train", "--dataset", "iris", "-o", "missing/m.forest"], 1);
    assert_error(&e, "the folder `missing` does not exist");
    let e = d.fails(
        &[
            "train",
            "--dataset",
            "iris",
            "-o",
            "missing/m.forest",
            "--versioned",
        ],
        1,
    );
    assert_error(&e, "does not exist");
}
