//! The `forest2onnx` command line: argument definitions and dispatch.
//!
//! Each subcommand lives in its own module with its `Args` and a `run`
//! function; the shared pieces (CSV input, progress, output) have modules of
//! their own. Reading models is the library's job ([`forest2onnx::load`]).
//! Results go to stdout (text, or JSON with `--json`); progress goes to
//! stderr and only to a terminal.

mod convert;
mod convert_many;
mod csv_input;
mod demo;
mod inspect;
mod output;
mod predict;
mod progress;
#[cfg(feature = "registry")]
mod registry;
mod train;
mod validate;

use std::path::Path;

use anyhow::Result;
use clap::{Parser, Subcommand};
use forest2onnx::load::{LoadError, ModelFile};
use forest2onnx::Loaded;

pub use output::is_broken_pipe;

/// How a command that ran to completion ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything succeeded.
    Success,
    /// The ONNX model disagrees with the forest (exit code 3).
    Mismatch,
}

/// Exit code of [`Status::Mismatch`].
pub const EXIT_MISMATCH: u8 = 3;

const ABOUT: &str =
    "Convert decision forests to ONNX, check the conversion exactly, and store forests safely";

const LONG_ABOUT: &str = "\
Convert decision forests to ONNX, check the conversion exactly, and store forests safely.

forest2onnx reads smartcore models (native .forest files or serde JSON) and \
scikit-learn pickles, writes ONNX (ai.onnx.ml TreeEnsembleClassifier) whose \
outputs equal the source model's, and proves it: every conversion is run in \
tract and compared with the model row by row, including rows placed exactly \
on every split threshold.

Start with `forest2onnx demo`.";

const EXAMPLES: &str = "\
EXAMPLES:
    Train, save, export and validate a model on the built-in iris data:
        forest2onnx demo

    Train a random forest on your CSV file (target column \"species\"):
        forest2onnx train --data flowers.csv --target species -o flowers.forest

    Convert it to ONNX (validated in tract before anything is written):
        forest2onnx convert flowers.forest -o flowers.onnx

    Look inside any model file:
        forest2onnx inspect flowers.onnx

    Predict with the ONNX model and save labels and probabilities:
        forest2onnx predict flowers.onnx --data new.csv -o predictions.csv

EXIT STATUS:
    0  success
    1  error (bad input, unreadable file, ...)
    2  invalid command-line usage
    3  validation found a mismatch between the ONNX model and the forest

Run `forest2onnx help <COMMAND>` for the options and examples of each command.";

/// forest2onnx command line.
#[derive(Debug, Parser)]
#[command(
    name = "forest2onnx",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    command: Command,

    /// Show no progress bars or notes on stderr (results and errors still print).
    #[arg(short, long, global = true, display_order = 900)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    Demo(demo::Args),
    Train(train::Args),
    Convert(convert::Args),
    Validate(validate::Args),
    Inspect(inspect::Args),
    Predict(predict::Args),
    #[cfg(feature = "registry")]
    Registry(registry::Args),
}

/// Options every command sees.
#[derive(Clone, Copy, Debug)]
pub struct Global {
    /// `--quiet`: no progress bars, no notes.
    pub quiet: bool,
}

impl Global {
    /// Prints a note on stderr unless `--quiet`.
    pub fn note(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// A progress factory honouring `--quiet`.
    pub fn progress(&self) -> progress::Progress {
        progress::Progress::new(self.quiet)
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Status> {
    let g = Global { quiet: cli.quiet };
    match cli.command {
        Command::Demo(a) => demo::run(g, a),
        Command::Train(a) => train::run(g, a),
        Command::Convert(a) => convert::run(g, a),
        Command::Validate(a) => validate::run(g, a),
        Command::Inspect(a) => inspect::run(g, a),
        Command::Predict(a) => predict::run(g, a),
        #[cfg(feature = "registry")]
        Command::Registry(a) => registry::run(g, a),
    }
}

/// Reads the model file at `path` and recognises its format.
pub fn read_model(path: &Path) -> Result<ModelFile> {
    ModelFile::read(path).map_err(|e| at_path(path, e))
}

/// Loads the forest in the model file at `path` (any source format).
pub fn load_model(path: &Path) -> Result<Loaded> {
    forest2onnx::load(path).map_err(|e| at_path(path, e))
}

/// [`ModelFile::load`] with `path` in the message.
pub fn load_file(path: &Path, file: &ModelFile) -> Result<Loaded> {
    file.load().map_err(|e| at_path(path, e))
}

/// Puts the path in front of load errors that do not already name it.
fn at_path(path: &Path, e: LoadError) -> anyhow::Error {
    match e {
        LoadError::Io { .. } | LoadError::Folder(_) => e.into(),
        e => anyhow::Error::new(e).context(format!("cannot load `{}`", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}
