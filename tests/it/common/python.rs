//! Locating the Python interpreter used by cross-checks.

use std::path::PathBuf;
use std::process::Command;

/// The interpreter: `$FOREST2ONNX_PYTHON`, else `.venv/bin/python` in the
/// crate root (made by `scripts/setup-python.sh`). Panics with instructions
/// when it is missing or lacks `modules`: these tests must never pass
/// silently without Python.
pub fn python(modules: &[&str]) -> PathBuf {
    let path = std::env::var_os("FOREST2ONNX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let how = "run `bash scripts/setup-python.sh` (creates .venv with python/requirements.txt) \
               or set FOREST2ONNX_PYTHON to an interpreter that has them";
    let imports = modules.join(", ");
    let ok = Command::new(&path)
        .args(["-c", &format!("import {imports}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "Python at {} cannot import {imports}; {how}",
        path.display()
    );
    path
}
