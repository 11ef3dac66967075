//! forest2onnx: convert decision forests to ONNX, validate the conversion
//! exactly, and persist forests in a safe native format.
//!
//! Everything flows through one backend-neutral [`Forest`] (module [`ir`]):
//! importers ([`import`], reached through [`load`]) produce it, exporters
//! ([`export`], [`store`]) consume it, and its reference
//! [`Forest::predict`] is what every runtime is compared with
//! ([`validate`]). ONNX files run in tract with forest2onnx's own
//! tree-ensemble operator ([`runtime`]).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use forest2onnx::export::onnx;
//!
//! let loaded = forest2onnx::load("rf.joblib")?; // any supported format, detected by content
//! let forest = &loaded.forest;
//! onnx::to_file(forest, &forest2onnx::ExportOptions::default(), "rf.onnx")?;
//! forest2onnx::store::save(forest, "rf.forest", &Default::default())?; // the safe native file
//! # Ok(()) }
//! ```
//!
//! # Cargo features
//!
//! * `cli` (default): the `forest2onnx` binary (clap, csv, progress bars);
//!   turns on every importer and `tract`, but not `registry`.
//! * `registry` (default): [`registry`], versioned models on a folder, S3,
//!   GCS or Azure (object_store, with its HTTP and TLS stack), and the
//!   binary's `registry` command.
//! * `smartcore`: [`import::smartcore`], [`train`] (and its built-in datasets).
//! * `sklearn`: [`import::sklearn`] (pickle and joblib files, read as data).
//! * `xgboost`: [`import::xgboost`] (JSON and UBJSON models).
//! * `lightgbm`: [`import::lightgbm`] (text models).
//! * `catboost`: [`import::catboost`] (`.cbm` and JSON models).
//! * `spark`: [`import::spark`] (saved Spark ML model folders; the
//!   `parquet` crate).
//! * `tract`: [`runtime`] and [`validate`].
//! * `python`: no code; turns on the test suites that need Python.
//!
//! Without them (`default-features = false`) the crate is the IR,
//! [`predict`], [`store`], [`load`] (which then names the missing feature
//! for formats it cannot read) and the ONNX and PMML exporters.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod atomic;
pub mod bounded_read;
pub mod export;
pub mod import;
pub mod ir;
pub mod load;
#[cfg(feature = "tract")]
pub mod migrate;
pub mod onnx_proto;
pub mod panics;
pub mod predict;
#[cfg(feature = "registry")]
pub mod registry;
pub mod rng;
#[cfg(feature = "tract")]
pub mod runtime;
pub mod store;
#[doc(hidden)]
pub mod synth;
pub mod text;
#[cfg(feature = "smartcore")]
pub mod train;
#[cfg(feature = "tract")]
pub mod validate;
mod wire;

pub use export::onnx::{ExportError, ExportOptions};
pub use ir::{Forest, ForestError, Labels};
pub use load::{load, load_bytes, Format, LoadError, Loaded};
pub use predict::{Prediction, ShapeError};
#[cfg(feature = "tract")]
pub use runtime::RuntimeError;
pub use store::StoreError;
#[cfg(feature = "tract")]
pub use validate::{Report, ValidateError};

/// The README's Rust example, compiled and run as a doc test.
#[cfg(all(doctest, feature = "smartcore", feature = "tract"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
