//! NumPy rows in, NumPy results out.
//!
//! float64 arrays are read in place whatever their memory order (C,
//! Fortran or strided views): no copy. float32 arrays are widened to
//! float64 once (exact); the Python side turns everything else into one of
//! the two or refuses it.

use ndarray::{Array2, ArrayView2, CowArray, Ix2};
use numpy::{PyArray1, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::errors::{Failure, Kind};
use forest2onnx::Labels;

/// Rows borrowed from a NumPy array for as long as the call runs.
pub enum Rows<'py> {
    /// float64, read in place.
    F64(PyReadonlyArray2<'py, f64>),
    /// float32, widened on use.
    F32(PyReadonlyArray2<'py, f32>),
}

impl<'py> Rows<'py> {
    /// The rows of `x`, a 2-D float32 or float64 NumPy array.
    pub fn extract(x: &Bound<'py, PyAny>) -> Result<Rows<'py>, Failure> {
        if let Ok(a) = x.extract::<PyReadonlyArray2<'py, f64>>() {
            return Ok(Rows::F64(a));
        }
        if let Ok(a) = x.extract::<PyReadonlyArray2<'py, f32>>() {
            return Ok(Rows::F32(a));
        }
        Err(Failure::new(
            Kind::Input,
            "X must be a 2-D float32 or float64 NumPy array",
        ))
    }

    /// A float64 view (borrowed for float64 input, widened for float32).
    /// Call without the GIL for large float32 inputs: widening copies.
    pub fn view(&self) -> RowsView<'_> {
        match self {
            Rows::F64(a) => RowsView::Borrowed(a.as_array()),
            Rows::F32(a) => RowsView::Widen(a.as_array()),
        }
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        match self {
            Rows::F64(a) => a.shape()[0],
            Rows::F32(a) => a.shape()[0],
        }
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        match self {
            Rows::F64(a) => a.shape()[1],
            Rows::F32(a) => a.shape()[1],
        }
    }
}

/// [`Rows::view`]: `Send`, so it can cross into code that runs without the GIL.
pub enum RowsView<'a> {
    Borrowed(ArrayView2<'a, f64>),
    Widen(ArrayView2<'a, f32>),
}

impl RowsView<'_> {
    /// The rows as float64.
    pub fn as_f64(&self) -> CowArray<'_, f64, Ix2> {
        match self {
            RowsView::Borrowed(v) => CowArray::from(v.view()),
            RowsView::Widen(v) => CowArray::from(v.mapv(f64::from)),
        }
    }
}

/// `labels` as a NumPy array (int64, float64) or a list of str (the
/// Python side makes it an object array).
pub fn labels_to_py(py: Python<'_>, labels: &Labels) -> PyResult<Py<PyAny>> {
    Ok(match labels {
        Labels::Int(v) => PyArray1::from_slice(py, v).into_any().unbind(),
        Labels::Float(v) => PyArray1::from_slice(py, v).into_any().unbind(),
        Labels::Str(v) => v.into_pyobject(py)?.into_any().unbind(),
    })
}

/// `a` as a NumPy array, without copying.
pub fn array2_to_py(py: Python<'_>, a: Array2<f64>) -> Py<PyAny> {
    PyArray2::from_owned_array(py, a).into_any().unbind()
}

/// Indices as an int64 NumPy array.
pub fn indices_to_py(py: Python<'_>, v: &[usize]) -> Py<PyAny> {
    let v: Vec<i64> = v.iter().map(|&i| i as i64).collect();
    PyArray1::from_vec(py, v).into_any().unbind()
}
