//! Importers: turn trained models from other libraries into a [`crate::ir::Forest`].

pub mod sklearn;
pub mod smartcore;
