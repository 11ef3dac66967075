//! Integration tests, one binary: each module is a suite of its own, linked
//! once against the whole crate (tract, object_store, tokio). The suites
//! that need Python (onnxruntime, `onnx.checker`, scikit-learn, JPMML) are
//! compiled with `--features python`; they fail with instructions, never
//! pass silently, when the interpreter or its packages are missing
//! (`bash scripts/setup-python.sh`).
//!
//! Run one suite with `cargo test --test it SUITE::`, e.g.
//! `cargo test --features python --test it conformance::`.

mod booster_support;
mod common;
mod store_support;

mod audit;
#[cfg(feature = "python")]
mod booster_onnx;
mod catboost;
mod cli;
mod cli_runtime;
#[cfg(feature = "python")]
mod conformance;
mod convert_many;
mod converter_fixtures;
mod exact_precision;
mod lightgbm;
#[cfg(feature = "python")]
mod matrix;
#[cfg(feature = "python")]
mod ort_matrix;
#[cfg(feature = "python")]
mod pmml;
mod pmml_cli;
mod proptest_roundtrip;
mod robustness;
mod roundtrip;
mod saved_models;
#[cfg(feature = "python")]
mod sklearn;
mod sklearn_cli;
#[cfg(feature = "python")]
mod sklearn_estimators;
mod spark;
#[cfg(feature = "python")]
mod spark_onnx;
mod store;
mod store_bounds;
mod store_format;
mod target_runtime;
mod tract_builtin;
mod tract_op_attributes;
mod xgboost;
