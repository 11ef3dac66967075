//! The `forest2onnx` binary: parses the command line, runs it, and turns the
//! outcome into an exit code (0 ok, 1 error, 2 usage, 3 validation mismatch).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    install_panic_hook();
    // Usage errors, --help and --version exit here, with clap's codes (2 and 0).
    let args = cli::Cli::parse();
    // The hook has already printed the panic; only the exit code is left.
    let Ok(outcome) = std::panic::catch_unwind(|| cli::run(args)) else {
        return ExitCode::FAILURE;
    };
    match outcome {
        Ok(cli::Status::Success) => ExitCode::SUCCESS,
        Ok(cli::Status::Mismatch) => ExitCode::from(cli::EXIT_MISMATCH),
        // `forest2onnx predict ... | head` closes the pipe early: that is the
        // reader's choice, not an error worth a message.
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

/// Prints `error: ...` and then each cause on its own line.
fn report(e: &anyhow::Error) {
    let mut lines = vec![format!("error: {e}")];
    let mut last = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        // Some errors repeat their source in their own message; say it once.
        if !last.contains(&text) {
            lines.push(format!("  caused by: {text}"));
        }
        last = text;
    }
    cli::to_stderr(lines.join("\n"));
}

/// A panic is a bug; report it as one line like every other error instead of
/// a backtrace (`main` then exits with status 1).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        // The library turned this one into an error, which `main` reports.
        if forest2onnx::panics::is_contained() {
            return;
        }
        let what = forest2onnx::panics::message(info.payload());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        // Never eprintln! here: with stderr closed it panics, and a panic
        // inside the panic hook aborts the process.
        cli::to_stderr(format!(
            "error: internal error: {what}{at} (this is a bug in forest2onnx; please report it)"
        ));
    }));
}
