//! `forest2onnx._native`: the Rust core behind the `forest2onnx` Python
//! package. The public API, its docstrings and argument handling live in
//! `py/python/forest2onnx/`; this module only moves bytes, forests and
//! NumPy arrays across, releasing the GIL for every long step.

mod arrays;
mod errors;
mod forest;
mod ir_view;
mod registry;
mod report;

use std::path::PathBuf;

use pyo3::prelude::*;

use errors::{guard, Failure, Kind};

/// Writes `data` to `path` with forest2onnx's crash-safe writer (temporary
/// file, fsync, rename): `path` holds the old file or the new one.
#[pyfunction]
fn write_atomic(py: Python<'_>, path: PathBuf, data: &[u8]) -> PyResult<()> {
    py.detach(|| {
        guard(|| {
            forest2onnx::atomic::write(&path, data, forest2onnx::atomic::Existing::Replace)
                .map_err(|e| Failure::new(Kind::Error, format!("{}: {e}", path.display())))
        })
    })?;
    Ok(())
}

/// Converts every model file `pattern` names (a folder, a glob or a file)
/// into `out_dir` as `forest2onnx convert PATTERN --out-dir OUT_DIR` does
/// (the same Rust code), in parallel; returns the outcomes as JSON.
#[pyfunction]
#[pyo3(signature = (pattern, out_dir, to, precision, ml_opset))]
fn convert_many(
    py: Python<'_>,
    pattern: String,
    out_dir: PathBuf,
    to: &str,
    precision: &str,
    ml_opset: Option<i64>,
) -> PyResult<String> {
    use forest2onnx::export::onnx::{ExportOptions, Precision};
    use forest2onnx::migrate::{self, Target};
    let target = match to {
        "onnx" => Target::Onnx,
        "forest" => Target::Forest,
        "pmml" => Target::Pmml,
        other => {
            return Err(Failure::new(
                Kind::Input,
                format!("to must be \"onnx\", \"forest\" or \"pmml\", not {other:?}"),
            )
            .into())
        }
    };
    let precision = if precision == "double" {
        Precision::Double
    } else {
        Precision::Float
    };
    let onnx = ExportOptions {
        ml_opset: ml_opset.unwrap_or(match precision {
            Precision::Float => 1,
            Precision::Double => 3,
        }),
        precision,
        zipmap: false,
        graph_name: String::new(),
        doc_string: String::new(),
        created: None,
    };
    let json = py.detach(|| {
        guard(|| {
            let (root, files) = migrate::expand(&pattern)
                .map_err(|e| Failure::new(Kind::Input, format!("{pattern}: {e}")))?;
            let jobs = migrate::plan(&files, &root, &out_dir, target);
            let outcomes = migrate::run(&jobs, target, &onnx, |_| {});
            serde_json::to_string(&outcomes).map_err(|e| Failure::new(Kind::Error, e.to_string()))
        })
    })?;
    Ok(json)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<forest::Forest>()?;
    m.add_class::<report::Report>()?;
    m.add_function(wrap_pyfunction!(write_atomic, m)?)?;
    m.add_function(wrap_pyfunction!(convert_many, m)?)?;
    m.add_function(wrap_pyfunction!(registry::registry_push, m)?)?;
    m.add_function(wrap_pyfunction!(registry::registry_pull, m)?)?;
    m.add_function(wrap_pyfunction!(registry::registry_list, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
