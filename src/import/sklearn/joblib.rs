//! joblib's `NumpyArrayWrapper`: the pickled stand-in for an array whose
//! bytes joblib writes straight into the stream after the wrapper's `BUILD`
//! (see `NumpyArrayWrapper.write_array` in joblib's `numpy_pickle.py`):
//!
//! * joblib ≥ 1.2 records `numpy_array_alignment_bytes` in the wrapper; the
//!   data is then preceded by one byte `n` and `n` padding bytes so it starts
//!   aligned in the file. Older files have no such attribute and no padding.
//! * the data is `prod(shape) × itemsize` bytes in the wrapper's `order`;
//! * object arrays are written as a complete nested pickle instead, without
//!   padding.

use super::numpy::{decode_shape, Dtype};
use super::pickle::Value;

/// What the reader needs from a wrapper's state dict.
#[derive(Debug)]
pub(crate) struct WrapperMeta {
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    pub(crate) fortran: bool,
    /// Whether a padding length byte and padding precede the data.
    pub(crate) aligned: bool,
}

impl WrapperMeta {
    pub(crate) fn from_state(state: &Value<'_>) -> Result<Self, String> {
        if !matches!(state, Value::Dict(_)) {
            return Err(format!("joblib array wrapper state is a {}", state.kind()));
        }
        let field = |name: &str| {
            state
                .get(name)
                .ok_or_else(|| format!("joblib array wrapper has no {name:?}"))
        };
        match field("subclass")? {
            Value::Global(g) if g.module == "numpy" && g.name == "ndarray" => {}
            other => return Err(format!("joblib array subclass is {}", other.kind())),
        }
        let dtype = match field("dtype")? {
            Value::Dtype(d) => (**d).clone(),
            other => return Err(format!("joblib array dtype is a {}", other.kind())),
        };
        let shape = decode_shape(field("shape")?)?;
        let fortran = match field("order")?.as_str() {
            Some("C") => false,
            Some("F") => true,
            _ => return Err("joblib array order is neither \"C\" nor \"F\"".into()),
        };
        let aligned = match state.get("numpy_array_alignment_bytes") {
            None | Some(Value::None) => false,
            Some(Value::Int(n)) if *n > 0 => true,
            Some(other) => return Err(format!("joblib array alignment is {}", other.kind())),
        };
        Ok(WrapperMeta {
            dtype,
            shape,
            fortran,
            aligned,
        })
    }
}
