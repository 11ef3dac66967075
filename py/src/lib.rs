//! `forest2onnx._native`: the Rust core behind the `forest2onnx` Python
//! package. The public API, its docstrings and argument handling live in
//! `py/python/forest2onnx/`; this module only moves bytes, forests and
//! NumPy arrays across, releasing the GIL for every long step.

mod arrays;
mod errors;
mod forest;
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

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<forest::Forest>()?;
    m.add_class::<report::Report>()?;
    m.add_function(wrap_pyfunction!(write_atomic, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
