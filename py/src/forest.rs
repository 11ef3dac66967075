//! The native forest object: loading from bytes or a file, prediction,
//! ONNX export with validation, and the native `.forest` file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use forest2onnx::export::onnx::{to_bytes, ExportOptions, Precision};
use forest2onnx::ir::Task;
use forest2onnx::runtime::OnnxModel;
use forest2onnx::store::{self, SaveOptions};
use forest2onnx::validate::{validate_conversion, ValidationOutcome};
use forest2onnx::{Format, Loaded};
use ndarray::Array2;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::arrays::{array2_to_py, indices_to_py, labels_to_py, Rows};
use crate::errors::{guard, Failure, Kind};
use crate::report::Report;

/// A forest read by one of forest2onnx's importers (any supported format),
/// with the native file's provenance when it came from one.
#[pyclass(frozen, module = "forest2onnx._native")]
pub struct Forest {
    loaded: Loaded,
}

/// (label indices or None, outputs, raw scores or None), as NumPy arrays.
type Predicted = (Option<Py<PyAny>>, Py<PyAny>, Option<Py<PyAny>>);

#[pymethods]
impl Forest {
    /// Reads a model from its bytes (format recognised from the content).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Forest> {
        let loaded = py.detach(|| guard(|| Ok(forest2onnx::load_bytes(data)?)))?;
        Ok(Forest { loaded })
    }

    /// Reads the model file at `path`.
    #[staticmethod]
    fn from_path(py: Python<'_>, path: PathBuf) -> PyResult<Forest> {
        let loaded = py.detach(|| guard(|| Ok(forest2onnx::load(&path)?)))?;
        Ok(Forest { loaded })
    }

    /// `classification`, `regression` or `anomaly_detection`.
    #[getter]
    fn task(&self) -> &'static str {
        match self.loaded.forest.task {
            Task::Classification(_) => "classification",
            Task::Regression { .. } => "regression",
            Task::AnomalyDetection { .. } => "anomaly_detection",
        }
    }

    #[getter]
    fn n_features(&self) -> usize {
        self.loaded.forest.n_features
    }

    #[getter]
    fn n_outputs(&self) -> usize {
        self.loaded.forest.n_outputs()
    }

    #[getter]
    fn n_trees(&self) -> usize {
        self.loaded.forest.trees.len()
    }

    #[getter]
    fn n_nodes(&self) -> usize {
        self.loaded.forest.n_nodes()
    }

    #[getter]
    fn feature_names(&self) -> Option<Vec<String>> {
        self.loaded.forest.feature_names.clone()
    }

    /// The format the model was read from, e.g. `scikit-learn pickle`.
    #[getter]
    fn format(&self) -> &'static str {
        self.loaded.format.describe()
    }

    /// True when the forest came from a native `.forest` file.
    #[getter]
    fn is_native(&self) -> bool {
        self.loaded.format == Format::Native
    }

    /// A classifier's class labels (None otherwise).
    fn class_labels(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.loaded
            .forest
            .class_labels()
            .map(|l| labels_to_py(py, l))
            .transpose()
    }

    /// The labels prediction indices refer to: class labels, or [-1, 1]
    /// for an anomaly detector (None for a regressor).
    fn output_labels(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.loaded
            .forest
            .output_labels()
            .map(|l| labels_to_py(py, l))
            .transpose()
    }

    /// Library, version and estimator that trained the model, as JSON.
    fn source_json(&self) -> String {
        serde_json::to_string(&self.loaded.forest.source).unwrap_or_default()
    }

    /// The native file's metadata as JSON (None for other formats).
    fn provenance_json(&self) -> Option<String> {
        self.loaded
            .provenance
            .as_ref()
            .map(|m| serde_json::to_string(m).unwrap_or_default())
    }

    /// The IR without its trees, as JSON (for `to_sklearn`).
    fn header_json(&self) -> String {
        crate::ir_view::header_json(&self.loaded.forest)
    }

    /// The trees as dicts of NumPy arrays (for `to_sklearn`).
    fn trees<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, pyo3::types::PyDict>>> {
        let forest = &self.loaded.forest;
        let width = forest.leaf_width();
        forest
            .trees
            .iter()
            .map(|t| crate::ir_view::tree_to_py(py, t, width))
            .collect()
    }

    /// Predicts `x` (2-D float32/float64) on `n_threads` threads (None: all).
    #[pyo3(signature = (x, n_threads=None))]
    fn predict(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        n_threads: Option<usize>,
    ) -> PyResult<Predicted> {
        let rows = Rows::extract(x)?;
        let forest = &self.loaded.forest;
        if rows.ncols() != forest.n_features {
            return Err(Failure::from(forest2onnx::ShapeError {
                expected: forest.n_features,
                got: rows.ncols(),
            })
            .into());
        }
        let view = rows.view();
        let one_task = forest2onnx::predict::traverse::one_task(rows.nrows());
        let prediction = py.detach(|| {
            guard(|| {
                let run = || {
                    let x = view.as_f64();
                    Ok(forest.predict_checked(x.view())?)
                };
                // Entering a pool wakes one of its threads: for a batch
                // predicted on the calling thread anyway (one row, when
                // serving), that costs more than the prediction.
                if one_task && n_threads != Some(0) {
                    run()
                } else {
                    in_pool(n_threads, run)
                }
            })
        })?;
        let classes = forest
            .output_labels()
            .map(|_| indices_to_py(py, &prediction.classes));
        let raw = prediction.raw.map(|r| array2_to_py(py, r));
        Ok((classes, array2_to_py(py, prediction.values), raw))
    }

    /// The ONNX model, validated unless `validate` is false.
    #[pyo3(signature = (precision, ml_opset, zipmap, validate, name=None, doc=None))]
    #[allow(clippy::too_many_arguments)]
    fn to_onnx<'py>(
        &self,
        py: Python<'py>,
        precision: &str,
        ml_opset: Option<i64>,
        zipmap: bool,
        validate: bool,
        name: Option<String>,
        doc: Option<String>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let precision = match precision {
            "auto" => Precision::Auto,
            "float" => Precision::Float,
            "double" => Precision::Double,
            other => {
                return Err(Failure::new(
                    Kind::Input,
                    format!("precision must be \"auto\", \"float\" or \"double\", not {other:?}"),
                )
                .into())
            }
        };
        let options = ExportOptions {
            // None: the lowest opset that holds the precision.
            ml_opset,
            precision,
            zipmap,
            graph_name: name.unwrap_or_else(|| "forest".into()),
            doc_string: doc.unwrap_or_default(),
            created: None,
        };
        let forest = &self.loaded.forest;
        let onnx = py.detach(|| {
            guard(|| {
                let onnx = to_bytes(forest, &options)?;
                if validate {
                    let outcome = compare(forest, &onnx, None)?;
                    if !outcome.passed {
                        return Err(Failure::new(
                            Kind::Validation,
                            format!(
                                "the ONNX model does not reproduce the forest:\n{}",
                                outcome.to_text()
                            ),
                        ));
                    }
                }
                Ok(onnx)
            })
        })?;
        Ok(PyBytes::new(py, &onnx))
    }

    /// Compares the ONNX model `onnx` with the forest on `x` (may be None)
    /// plus adversarial rows probing every split.
    #[pyo3(signature = (onnx, x=None))]
    fn validate(
        &self,
        py: Python<'_>,
        onnx: &[u8],
        x: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Report> {
        let rows = x.map(Rows::extract).transpose()?;
        let view = rows.as_ref().map(Rows::view);
        let forest = &self.loaded.forest;
        let outcome = py.detach(|| {
            guard(|| {
                let data = view.as_ref().map(|v| v.as_f64().to_owned());
                compare(forest, onnx, data)
            })
        })?;
        Ok(Report::from(&outcome))
    }

    /// Writes the native file: encoded, decoded again and compared (it
    /// must hold the identical forest), then written atomically; returns
    /// its size and path.
    ///
    /// `tags`, `training_params` (a JSON object) and `environment` (JSON of
    /// `store::Environment`) replace those of a native input when given;
    /// its other provenance is kept. `versioned`: `path` names the folder
    /// and stem of `NAME_vN_<UTC time>.forest`, N claimed atomically.
    #[pyo3(signature = (path, level, tags=None, training_params=None, environment=None, versioned=false))]
    #[allow(clippy::too_many_arguments)]
    fn save(
        &self,
        py: Python<'_>,
        path: PathBuf,
        level: i32,
        tags: Option<BTreeMap<String, String>>,
        training_params: Option<String>,
        environment: Option<String>,
        versioned: bool,
    ) -> PyResult<(usize, PathBuf)> {
        let mut opts = self
            .loaded
            .provenance
            .as_ref()
            .map(SaveOptions::from_metadata)
            .unwrap_or_default();
        opts.level = level;
        if let Some(tags) = tags {
            opts.tags = tags;
        }
        if let Some(params) = training_params {
            opts.training_params = Some(serde_json::from_str(&params).map_err(|e| {
                Failure::new(Kind::Input, format!("training_params is not JSON: {e}"))
            })?);
        }
        if let Some(env) = environment {
            opts.environment = Some(serde_json::from_str(&env).map_err(|e| {
                Failure::new(Kind::Input, format!("environment is not valid: {e}"))
            })?);
        }
        let forest = &self.loaded.forest;
        let written = py.detach(|| {
            guard(|| {
                let bytes = store::to_bytes(forest, &opts)?;
                store::verify(forest, &bytes)?;
                let path = if versioned {
                    let name = path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                    store::write_versioned(&bytes, dir.unwrap_or(std::path::Path::new(".")), &name)?
                } else {
                    forest2onnx::atomic::write(
                        &path,
                        &bytes,
                        forest2onnx::atomic::Existing::Replace,
                    )
                    .map_err(|e| Failure::new(Kind::Error, format!("{}: {e}", path.display())))?;
                    path.clone()
                };
                Ok((bytes.len(), path))
            })
        })?;
        Ok(written)
    }
}

/// Runs `f` on a pool of `n` threads (at most one per core: more only
/// cost memory and start-up, and `10**6` would start threads until the
/// system refuses), or on rayon's global pool.
///
/// Pools are kept, one per thread count: starting threads on every call
/// would cost more than predicting a row.
fn in_pool<T: Send>(
    n: Option<usize>,
    f: impl FnOnce() -> Result<T, Failure> + Send,
) -> Result<T, Failure> {
    static POOLS: Mutex<BTreeMap<usize, Arc<rayon::ThreadPool>>> = Mutex::new(BTreeMap::new());
    // Read once: on Linux the count reads cgroup files, which costs more
    // than predicting a row.
    static CORES: OnceLock<usize> = OnceLock::new();
    let n = match n {
        None => return f(),
        Some(0) => {
            return Err(Failure::new(
                Kind::Input,
                "n_threads must be a positive int or None, not 0",
            ))
        }
        Some(n) => n.min(
            *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        ),
    };
    let pool = {
        let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        match pools.get(&n) {
            Some(pool) => Arc::clone(pool),
            None => {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| {
                        Failure::new(Kind::Error, format!("cannot start {n} threads: {e}"))
                    })?;
                Arc::clone(pools.entry(n).or_insert(Arc::new(pool)))
            }
        }
    };
    pool.install(f)
}

impl Forest {
    /// The IR forest.
    pub fn ir(&self) -> &forest2onnx::Forest {
        &self.loaded.forest
    }

    /// The forest as a native file (the provenance of a native input kept).
    pub fn native_bytes(&self) -> Result<Vec<u8>, Failure> {
        let opts = self
            .loaded
            .provenance
            .as_ref()
            .map(SaveOptions::from_metadata)
            .unwrap_or_default();
        Ok(store::to_bytes(&self.loaded.forest, &opts)?)
    }
}

/// Loads `onnx` in tract and runs [`validate_conversion`] on `data` (or no
/// rows) plus the adversarial rows, as `forest2onnx validate` does.
pub(crate) fn compare(
    forest: &forest2onnx::Forest,
    onnx: &[u8],
    data: Option<Array2<f64>>,
) -> Result<ValidationOutcome, Failure> {
    let data = data.unwrap_or_else(|| Array2::zeros((0, forest.n_features)));
    let model = OnnxModel::from_bytes(onnx)
        .map_err(|e| Failure::new(Kind::Load, format!("tract cannot load the ONNX model: {e}")))?;
    Ok(validate_conversion(forest, &model, data.view())?)
}
