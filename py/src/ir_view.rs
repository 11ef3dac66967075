//! The forest IR as Python values, for `Forest.to_sklearn()`: the trees as
//! dicts of NumPy arrays (floats exactly, infinities included) and the rest
//! as JSON.

use forest2onnx::ir::Tree;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// One tree as a dict of 1-D NumPy arrays, named as the IR's fields
/// (`categories` flattened into `cat_nodes`, `cat_offsets`, `cat_values`).
pub fn tree_to_py<'py>(py: Python<'py>, t: &Tree) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("feature", PyArray1::from_slice(py, &t.feature))?;
    d.set_item("threshold", PyArray1::from_slice(py, &t.threshold))?;
    d.set_item("true_child", PyArray1::from_slice(py, &t.true_child))?;
    d.set_item("false_child", PyArray1::from_slice(py, &t.false_child))?;
    d.set_item("missing_true", PyArray1::from_slice(py, &t.missing_true))?;
    d.set_item("value", PyArray1::from_slice(py, &t.value))?;
    d.set_item("cat_nodes", PyArray1::from_slice(py, &t.categories.nodes))?;
    d.set_item(
        "cat_offsets",
        PyArray1::from_slice(py, &t.categories.offsets),
    )?;
    d.set_item(
        "cat_values",
        PyArray1::from_slice(py, &t.categories.categories),
    )?;
    Ok(d)
}

/// Everything but the trees, as JSON (every number in it is finite: the
/// IR check refuses non-finite base values, offsets and normalisers).
pub fn header_json(f: &forest2onnx::Forest) -> String {
    serde_json::json!({
        "n_features": f.n_features,
        "feature_names": f.feature_names,
        "input": f.input,
        "split_op": f.split_op,
        "task": f.task,
        "aggregation": f.aggregation,
        "source": f.source,
        "n_trees": f.trees.len(),
        "leaf_width": f.leaf_width(),
    })
    .to_string()
}
