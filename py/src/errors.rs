//! Rust errors as the Python exceptions of `forest2onnx._errors`, and the
//! panic guard every entry point runs in: a bug becomes `forest2onnx.Error`,
//! never a crash of the interpreter.

use std::panic::{catch_unwind, AssertUnwindSafe};

use forest2onnx::export::onnx::ExportError;
use forest2onnx::import::sklearn::SklearnError;
use forest2onnx::validate::ValidateError;
use forest2onnx::{LoadError, ShapeError, StoreError};
use pyo3::prelude::*;
use pyo3::types::PyType;

/// The exception classes of `forest2onnx._errors` (see its docstrings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `forest2onnx.Error`: anything else (I/O, internal errors).
    Error,
    /// A model file or object that cannot be read.
    Load,
    /// A model that is read but not supported.
    Unsupported,
    /// A forest that cannot be exported exactly.
    Export,
    /// An exported model that does not reproduce the forest.
    Validation,
    /// Rows with the wrong number of features.
    Shape,
    /// Arguments of the wrong value.
    Input,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Kind::Error => "Error",
            Kind::Load => "LoadError",
            Kind::Unsupported => "UnsupportedModelError",
            Kind::Export => "ExportError",
            Kind::Validation => "ValidationError",
            Kind::Shape => "ShapeError",
            Kind::Input => "InputError",
        }
    }
}

/// An error raised without the GIL, turned into its exception once the GIL
/// is back ([`From<Failure> for PyErr`]).
#[derive(Debug)]
pub struct Failure {
    /// The exception class.
    pub kind: Kind,
    /// The message: the command line's message for the same error.
    pub message: String,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        Python::attach(|py| {
            let class = py
                .import("forest2onnx._errors")
                .and_then(|m| m.getattr(f.kind.class_name()))
                .and_then(|c| Ok(c.cast_into::<PyType>()?));
            match class {
                Ok(class) => PyErr::from_type(class, f.message),
                Err(e) => e,
            }
        })
    }
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Failure {
        let kind = match &e {
            LoadError::FeatureDisabled { .. } | LoadError::OnnxNotSource => Kind::Unsupported,
            LoadError::Import { source, .. } => match source.downcast_ref::<SklearnError>() {
                Some(
                    SklearnError::UnsupportedEstimator { .. }
                    | SklearnError::Unsupported { .. }
                    | SklearnError::MultiOutput { .. },
                ) => Kind::Unsupported,
                _ => Kind::Load,
            },
            _ => Kind::Load,
        };
        Failure::new(kind, e.to_string())
    }
}

impl From<ExportError> for Failure {
    fn from(e: ExportError) -> Failure {
        Failure::new(Kind::Export, e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::new(Kind::Error, e.to_string())
    }
}

impl From<ShapeError> for Failure {
    fn from(e: ShapeError) -> Failure {
        Failure::new(Kind::Shape, e.to_string())
    }
}

impl From<ValidateError> for Failure {
    fn from(e: ValidateError) -> Failure {
        match e {
            ValidateError::Export(e) => e.into(),
            ValidateError::Shape(e) => e.into(),
            ValidateError::NoRows => Failure::new(Kind::Input, e.to_string()),
            ValidateError::Incompatible(_) => Failure::new(Kind::Validation, e.to_string()),
            ValidateError::Runtime(_) => Failure::new(Kind::Load, with_causes(&e)),
        }
    }
}

/// `error: cause: cause`, as the command line prints an error chain.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text += ": ";
            text += &s_text;
        }
        source = s.source();
    }
    text
}

/// Runs `f`, turning a panic into `forest2onnx.Error` ("internal error").
pub fn guard<T>(f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(Failure::new(
            Kind::Error,
            format!(
                "internal error in forest2onnx (please report it): {}",
                forest2onnx::panics::message(&*payload)
            ),
        ))
    })
}
