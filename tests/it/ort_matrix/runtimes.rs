//! The runtimes of the matrix and how each runs a folder of cases: every
//! onnxruntime release of `python/requirements-ort-matrix.txt` in its own
//! venv, onnxruntime-node and onnxruntime-web, ONNX's reference evaluator, and tract (ours, in
//! process).

use std::path::{Path, PathBuf};
use std::process::Command;

use forest2onnx::export::onnx::{LABEL, RAW_SCORE};
use forest2onnx::runtime::OnnxModel;
use serde_json::{json, Map, Value};

/// Rows the reference evaluator runs: every `REFERENCE_STRIDE`-th (it walks
/// the trees in Python).
const REFERENCE_STRIDE: usize = 5;

/// How a runtime is run.
pub enum Kind {
    /// `python/oracles/ort_matrix.py` with this interpreter and runtime name.
    Python(PathBuf, &'static str),
    /// `scripts/ort-matrix/run.mjs` with node, running this npm package
    /// (`onnxruntime-node`, native; `onnxruntime-web`, its WebAssembly build).
    Node(&'static str),
    /// tract with forest2onnx's tree-ensemble operator.
    Tract,
}

pub struct Runtime {
    /// Family: "onnxruntime", "onnxruntime-node", "onnxruntime-web",
    /// "onnx.reference", "tract".
    pub family: &'static str,
    /// Version as installed (filled in from the results for node and the
    /// reference evaluator).
    pub version: String,
    pub kind: Kind,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const HOW: &str = "run `bash scripts/setup-ort-matrix.sh` (one venv per onnxruntime release in \
                   .venv-ort/, onnxruntime-node and onnxruntime-web in scripts/ort-matrix/node_modules)";

/// The onnxruntime releases of `python/requirements-ort-matrix.txt`, in order.
pub fn onnxruntime_releases() -> Vec<String> {
    let list = std::fs::read_to_string(root().join("python/requirements-ort-matrix.txt")).unwrap();
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let ort = l.split_whitespace().next().unwrap();
            ort.strip_prefix("onnxruntime==")
                .unwrap_or_else(|| panic!("not an onnxruntime pin: {l}"))
                .to_string()
        })
        .collect()
}

/// Every runtime of the matrix. Panics with instructions when one is not
/// installed: the matrix never passes with a runtime silently left out.
pub fn all(reference_python: PathBuf) -> Vec<Runtime> {
    let mut out = Vec::new();
    for version in onnxruntime_releases() {
        let python = root().join(".venv-ort").join(&version).join("bin/python");
        assert!(python.exists(), "no {}: {HOW}", python.display());
        out.push(Runtime {
            family: "onnxruntime",
            version,
            kind: Kind::Python(python, "onnxruntime"),
        });
    }
    for package in ["onnxruntime-node", "onnxruntime-web"] {
        let installed = root().join("scripts/ort-matrix/node_modules").join(package);
        assert!(installed.exists(), "no {}: {HOW}", installed.display());
        out.push(Runtime {
            family: package,
            version: String::new(),
            kind: Kind::Node(package),
        });
    }
    out.push(Runtime {
        family: "onnx.reference",
        version: String::new(),
        kind: Kind::Python(reference_python, "reference"),
    });
    out.push(Runtime {
        family: "tract",
        version: "forest2onnx".into(),
        kind: Kind::Tract,
    });
    out
}

/// Runs every case of `cases` (a folder written by `check::write_case`) and
/// returns the result document (see `python/oracles/ort_matrix.py`). `out` is a
/// scratch file outside `cases`.
pub fn run(runtime: &Runtime, cases: &Path, out: &Path) -> Value {
    let mut command = match &runtime.kind {
        Kind::Tract => return run_tract(cases),
        Kind::Python(python, name) => {
            let mut c = Command::new(python);
            c.arg(root().join("python/oracles/ort_matrix.py"))
                .arg(cases)
                .arg(*name)
                .arg(out);
            if *name == "reference" {
                c.arg(REFERENCE_STRIDE.to_string());
            }
            c
        }
        Kind::Node(package) => {
            let mut c = Command::new("node");
            c.arg(root().join("scripts/ort-matrix/run.mjs"))
                .arg(cases)
                .arg(out)
                .arg(package);
            c
        }
    };
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; {HOW}", runtime.family));
    assert!(
        output.status.success(),
        "{} {}: {}",
        runtime.family,
        runtime.version,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

/// The same document from tract, in process.
fn run_tract(cases: &Path) -> Value {
    let mut results = Map::new();
    let mut names: Vec<String> = std::fs::read_dir(cases)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    names.sort();
    for name in names {
        let meta: Value = serde_json::from_str(
            &std::fs::read_to_string(cases.join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let (rows, cols) = (
            meta["rows"].as_u64().unwrap() as usize,
            meta["cols"].as_u64().unwrap() as usize,
        );
        let bytes =
            std::fs::read(cases.join(format!("{name}.input.{}", meta["dtype"].as_str().unwrap())))
                .unwrap();
        let x: Vec<f64> = if meta["dtype"] == "f64" {
            bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                .collect()
        } else {
            bytes
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
                .collect()
        };
        let x = ndarray::Array2::from_shape_vec((rows, cols), x).unwrap();
        let onnx = std::fs::read(cases.join(format!("{name}.onnx"))).unwrap();
        let result = OnnxModel::from_bytes(&onnx)
            .and_then(|model| Ok((model.predict(x.view())?, model.main_output().name.clone())))
            .map(|(p, main)| {
                let matrix = |a: &ndarray::Array2<f64>| -> Value {
                    a.rows()
                        .into_iter()
                        .map(|r| r.iter().map(|&v| number(v)).collect::<Value>())
                        .collect()
                };
                let mut outputs = Map::new();
                if let Some(labels) = &p.labels {
                    outputs.insert(
                        LABEL.into(),
                        (0..labels.len()).map(|i| labels.json(i)).collect(),
                    );
                }
                outputs.insert(main, matrix(&p.values));
                if let Some(raw) = &p.raw_score {
                    outputs.insert(RAW_SCORE.into(), matrix(raw));
                }
                json!({ "outputs": outputs })
            })
            .unwrap_or_else(|e| json!({ "error": e.to_string() }));
        results.insert(name, result);
    }
    json!({"runtime": "tract", "version": "forest2onnx", "stride": 1, "cases": results})
}

/// A number as `python/shared/jsonsafe.py` writes it.
fn number(v: f64) -> Value {
    if v.is_nan() {
        json!("nan")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(v)
    }
}
