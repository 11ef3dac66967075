//! Command-line arguments of the stand-alone benchmark programs.

/// The arguments after the program name, without the `--bench` flag that
/// `cargo bench` appends for harness-less targets.
pub fn bench_args() -> impl Iterator<Item = String> {
    std::env::args().skip(1).filter(|a| a != "--bench")
}
