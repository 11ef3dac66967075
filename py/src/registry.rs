//! `forest2onnx.registry`: push, pull and list over forest2onnx's registry
//! code (`forest2onnx::registry`) with the command line's behaviour: a
//! native file is published byte for byte, anything else as a native file;
//! `--onnx` exports and validates first; a pull pins the version in the
//! lock file, and a locked pull refuses anything but the pinned version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use forest2onnx::export::onnx::{to_bytes, ExportOptions};
use forest2onnx::load::ModelFile;
use forest2onnx::registry::{LockFile, LockedModel, ModelRef, Registry, ONNX_FILE};
use forest2onnx::{Forest as IrForest, Format};
use pyo3::prelude::*;
use serde_json::json;

use crate::errors::{guard, Failure, Kind};
use crate::forest::{compare, Forest};

fn registry_error(e: forest2onnx::registry::RegistryError) -> Failure {
    Failure::new(Kind::Error, e.to_string())
}

/// The native file's bytes and the forest: a `.forest` file byte for byte,
/// any other model file or a loaded forest encoded afresh.
fn native_bytes(
    model: Option<&Forest>,
    path: Option<&Path>,
) -> Result<(Vec<u8>, IrForest), Failure> {
    if let Some(path) = path {
        let file = ModelFile::read(path)?;
        let loaded = file.load()?;
        if file.format == Format::Native {
            return Ok((file.bytes, loaded.forest));
        }
        let bytes = forest2onnx::store::to_bytes(&loaded.forest, &Default::default())?;
        return Ok((bytes, loaded.forest));
    }
    let model = model.ok_or_else(|| Failure::new(Kind::Input, "give a model or a path"))?;
    Ok((model.native_bytes()?, model.ir().clone()))
}

/// Publishes the next version of `name`; returns JSON (name, version,
/// sha256, url, files).
#[pyfunction]
#[pyo3(signature = (url, name, model=None, path=None, tags=None, onnx=false))]
pub fn registry_push(
    py: Python<'_>,
    url: String,
    name: String,
    model: Option<PyRef<'_, Forest>>,
    path: Option<PathBuf>,
    tags: Option<BTreeMap<String, String>>,
    onnx: bool,
) -> PyResult<String> {
    let model = model.as_deref();
    let out = py.detach(|| {
        guard(|| {
            forest2onnx::registry::check_name(&name).map_err(registry_error)?;
            let (bytes, forest) = native_bytes(model, path.as_deref())?;
            let mut extra = Vec::new();
            if onnx {
                let options = ExportOptions {
                    graph_name: name.clone(),
                    created: Some(forest2onnx::store::created()),
                    ..ExportOptions::default()
                };
                let onnx = to_bytes(&forest, &options)?;
                let outcome = compare(&forest, &onnx, None)?;
                if !outcome.passed {
                    return Err(Failure::new(
                        Kind::Validation,
                        format!(
                            "the ONNX export does not reproduce the model; nothing was pushed:\n{}",
                            outcome.to_text()
                        ),
                    ));
                }
                extra.push((ONNX_FILE.to_string(), onnx));
            }
            let registry = Registry::open_for_push(&url).map_err(registry_error)?;
            let pushed = registry
                .push(&name, bytes, extra, tags.unwrap_or_default())
                .map_err(registry_error)?;
            Ok(json!({
                "name": pushed.name,
                "version": pushed.version,
                "sha256": pushed.sha256,
                "url": registry.url(),
                "files": pushed.manifest.files,
            })
            .to_string())
        })
    })?;
    Ok(out)
}

/// Downloads `reference` (`NAME`, `NAME@vN`, `NAME@latest`) into `dir`,
/// verified; pins it in `lock` unless `locked`, which refuses anything but
/// the pinned version. Returns JSON (name, version, url, written, lock).
#[pyfunction]
#[pyo3(signature = (url, reference, dir, lock, locked=false))]
pub fn registry_pull(
    py: Python<'_>,
    url: String,
    reference: String,
    dir: PathBuf,
    lock: PathBuf,
    locked: bool,
) -> PyResult<String> {
    let out = py.detach(|| {
        guard(|| {
            let reference: ModelRef = reference.parse().map_err(registry_error)?;
            let mut lockfile = LockFile::load(&lock).map_err(registry_error)?;
            let pin: Option<LockedModel> = if locked {
                let pin = lockfile.get(&reference.name).cloned().ok_or_else(|| {
                    Failure::new(
                        Kind::Error,
                        format!(
                            "locked: `{}` pins no version of {} (pull once without locked=True to pin one)",
                            lock.display(),
                            reference.name
                        ),
                    )
                })?;
                Some(pin)
            } else {
                None
            };
            let registry = Registry::open(&url).map_err(registry_error)?;
            let pulled = registry
                .pull(&reference, &dir, pin.as_ref())
                .map_err(registry_error)?;
            if !locked {
                lockfile.pin(LockedModel::of(&pulled.manifest, registry.url()));
                lockfile.save(&lock).map_err(registry_error)?;
            }
            let m = &pulled.manifest;
            Ok(json!({
                "name": m.name,
                "version": m.version,
                "url": registry.url(),
                "written": pulled.written,
                "lock": (!locked).then_some(&lock),
            })
            .to_string())
        })
    })?;
    Ok(out)
}

/// Every published version (of `name`, or of every model) as JSON: the
/// manifests, as `registry list --json` prints them.
#[pyfunction]
#[pyo3(signature = (url, name=None))]
pub fn registry_list(py: Python<'_>, url: String, name: Option<String>) -> PyResult<String> {
    let out = py.detach(|| {
        guard(|| {
            let registry = Registry::open(&url).map_err(registry_error)?;
            let versions = registry.list(name.as_deref()).map_err(registry_error)?;
            let manifests: Vec<_> = versions.iter().map(|v| &v.manifest).collect();
            serde_json::to_string(&manifests).map_err(|e| Failure::new(Kind::Error, e.to_string()))
        })
    })?;
    Ok(out)
}
