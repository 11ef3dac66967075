//! Times the PMML export against the ONNX export of the same forest, in one
//! run: by default the 500-tree full-depth forest of `benches/compare.py`
//! (`synth::SynthSpec::large()`, 6.8 M nodes).
//!
//! ```text
//! cargo bench --bench pmml_vs_onnx [-- small|medium|large]
//! ```
//!
//! Each export streams to a file in a temporary folder (page cache, no
//! fsync), three times in turn; the best and median times are printed with
//! the file sizes.

mod args;

use args::bench_args;
use std::fs::File;
use std::io::BufWriter;
use std::time::Instant;

use forest2onnx::export::onnx::{self, ExportOptions};
use forest2onnx::export::pmml::{self, PmmlOptions};
use forest2onnx::synth::{self, SynthSpec};

fn main() {
    let name = bench_args().next().unwrap_or_else(|| "large".into());
    let spec = SynthSpec::named(&name).expect("the size is small, medium or large");
    let started = Instant::now();
    let forest = synth::forest(&spec);
    println!(
        "{name}: {} trees, {} nodes (generated in {:.2} s)",
        forest.trees.len(),
        forest.n_nodes(),
        started.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().expect("a temporary folder");
    let onnx_path = dir.path().join("f.onnx");
    let pmml_path = dir.path().join("f.pmml");
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..3 {
        let t = Instant::now();
        let file = BufWriter::with_capacity(1 << 20, File::create(&onnx_path).expect("create"));
        onnx::write_to(&forest, &ExportOptions::default(), file).expect("ONNX export");
        times[0].push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let file = BufWriter::with_capacity(1 << 20, File::create(&pmml_path).expect("create"));
        pmml::write(&forest, &PmmlOptions::default(), file).expect("PMML export");
        times[1].push(t.elapsed().as_secs_f64());
    }
    let [onnx_times, pmml_times] = &mut times;
    for (label, path, t) in [
        ("ONNX", &onnx_path, onnx_times),
        ("PMML", &pmml_path, pmml_times),
    ] {
        t.sort_by(f64::total_cmp);
        let bytes = std::fs::metadata(path).expect("written").len();
        println!(
            "{label}: best {:.2} s, median {:.2} s, {:.1} MB",
            t[0],
            t[1],
            bytes as f64 / 1e6
        );
    }
}
