//! The forest IR as Python values, for `Forest.to_sklearn()`: the trees as
//! dicts of NumPy arrays (floats exactly, infinities included) and the rest
//! as JSON.

use forest2onnx::ir::{Tree, LEAF};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// One tree as a dict of 1-D NumPy arrays, one entry per node, named as
/// the IR's fields were before values were stored for leaves only:
/// `true_child` and `false_child` ([`LEAF`] for leaves), `value` (`width`
/// per node, zeros for splits), and `categories` flattened into
/// `cat_nodes`, `cat_offsets`, `cat_values`.
pub fn tree_to_py<'py>(py: Python<'py>, t: &Tree, width: usize) -> PyResult<Bound<'py, PyDict>> {
    let n = t.n_nodes();
    let (mut true_child, mut false_child) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut value = vec![0.0; n * width];
    for i in 0..n {
        let (yes, no) = t.children(i).unwrap_or((LEAF, LEAF));
        true_child.push(yes);
        false_child.push(no);
        if t.is_leaf(i) {
            value[i * width..(i + 1) * width].copy_from_slice(t.leaf_values(i, width));
        }
    }
    let d = PyDict::new(py);
    d.set_item("feature", PyArray1::from_slice(py, &t.feature))?;
    d.set_item("threshold", PyArray1::from_slice(py, &t.threshold))?;
    d.set_item("true_child", PyArray1::from_vec(py, true_child))?;
    d.set_item("false_child", PyArray1::from_vec(py, false_child))?;
    d.set_item("missing_true", PyArray1::from_slice(py, &t.missing_true))?;
    d.set_item("value", PyArray1::from_vec(py, value))?;
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
