//! Importers: turn trained models from other libraries into a [`crate::ir::Forest`].
//!
//! Each importer reads untrusted bytes and returns a checked forest. To make
//! [`crate::load`] recognise a new format, see the `load` module's
//! documentation ("Adding a format").

#[cfg(feature = "catboost")]
pub mod catboost;
#[cfg(feature = "lightgbm")]
pub mod lightgbm;
pub mod rounds;
#[cfg(feature = "sklearn")]
pub mod sklearn;
#[cfg(feature = "smartcore")]
pub mod smartcore;
#[cfg(feature = "spark")]
pub mod spark;
#[cfg(feature = "xgboost")]
pub mod xgboost;
