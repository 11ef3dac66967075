//! The Rust side of `benches/compare.py`: each subcommand measures one step
//! of forest2onnx in a fresh process and prints one JSON object on stdout.
//! Not a criterion benchmark (`harness = false`): compare.py runs it.
//!
//! ```text
//! cargo bench --bench side -- synth --trees 500 --nodes-per-tree 13660 --out f.forest
//! cargo bench --bench side -- import --joblib rf.joblib --out f.forest
//! cargo bench --bench side -- load --model model.txt --out f.forest
//! cargo bench --bench side -- export --forest f.forest --out f.onnx
//! cargo bench --bench side -- store --forest f.forest --dir /tmp/x
//! cargo bench --bench side -- tract --onnx f.onnx --rows-file x.f32 --features 20
//! cargo bench --bench side -- predict --forest f.forest --rows-file x.f32 --save p.f64
//! ```
//!
//! Times are wall-clock seconds (`*_s`: median of `--repeat` runs, `*_first_s`:
//! the first run); throughputs are `rows_per_s_*` (median run) and
//! `rows_per_s_best_*` (fastest run, the figure least disturbed by other
//! processes on a shared machine); memory is read from `/proc/self/status` (`VmHWM`, the
//! peak resident set, and `VmRSS`), so it is Linux-only.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use forest2onnx::export::onnx::{self, ExportOptions};
use forest2onnx::predict::Kernel;
use forest2onnx::runtime::OnnxModel;
use forest2onnx::store::{self, MappedForest, SaveOptions};
use forest2onnx::synth::{self, SynthSpec};
use forest2onnx::Forest;
use ndarray::Array2;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "forest2onnx measurements for benches/compare.py")]
struct Cli {
    /// Runs per timing (the median is reported).
    #[arg(long, default_value_t = 3, global = true)]
    repeat: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a synthetic forest and save it uncompressed.
    Synth {
        #[arg(long, default_value_t = 500)]
        trees: usize,
        #[arg(long, default_value_t = 13_660)]
        nodes_per_tree: usize,
        #[arg(long, default_value_t = 20)]
        features: usize,
        #[arg(long, default_value_t = 3)]
        classes: usize,
        /// smartcore-like hard voting instead of scikit-learn's averaging.
        #[arg(long)]
        vote: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// Import a scikit-learn joblib/pickle file and save it uncompressed.
    Import {
        #[arg(long)]
        joblib: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Read any model file `forest2onnx::load` recognises (LightGBM text,
    /// XGBoost JSON, ...) and save it uncompressed.
    Load {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// IR → ONNX file: time, peak memory, size; and the plain-write floor.
    Export {
        #[arg(long)]
        forest: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Also time the prost reference encoder (slow, memory-hungry).
        #[arg(long)]
        reference: bool,
        /// `ai.onnx.ml` opset (default: the exporter's choice).
        #[arg(long)]
        ml_opset: Option<i64>,
    },
    /// Repeat one export step `--n` times (for `perf stat` / `perf record`).
    Profile {
        #[arg(long)]
        forest: PathBuf,
        /// `check`, `len`, `bytes`, `file` or `reference`.
        #[arg(long)]
        op: String,
        #[arg(long, default_value_t = 10)]
        n: usize,
        #[arg(long, default_value = "/tmp/forest2onnx_side_profile.onnx")]
        out: PathBuf,
    },
    /// Native save/load at levels 0 and 3, and the memory-mapped open.
    Store {
        #[arg(long)]
        forest: PathBuf,
        #[arg(long)]
        dir: PathBuf,
    },
    /// tract load + optimise and inference on one and all threads.
    Tract {
        #[arg(long)]
        onnx: PathBuf,
        /// Raw little-endian float32 rows (row-major); synthetic rows if absent.
        #[arg(long)]
        rows_file: Option<PathBuf>,
        #[arg(long, default_value_t = 20)]
        features: usize,
        #[arg(long, default_value_t = 20_000)]
        rows: usize,
        /// Write the main output (rows × outputs, f64 little-endian) here.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// The IR's reference predict on one and all threads.
    Predict {
        #[arg(long)]
        forest: PathBuf,
        #[arg(long)]
        rows_file: Option<PathBuf>,
        #[arg(long, default_value_t = 20_000)]
        rows: usize,
        /// Write the outputs (rows × outputs, f64 little-endian) here, and
        /// the predicted label indices (u32 little-endian) to `SAVE.labels`.
        #[arg(long)]
        save: Option<PathBuf>,
        /// The traversal kernel: auto (what `predict` picks), walk or
        /// bitvector.
        #[arg(long, default_value = "auto", value_parser = parse_kernel)]
        kernel: Kernel,
    },
}

fn parse_kernel(name: &str) -> Result<Kernel, String> {
    match name {
        "auto" => Ok(Kernel::Auto),
        "walk" => Ok(Kernel::Walk),
        "bitvector" => Ok(Kernel::BitVector),
        _ => Err(format!("unknown kernel {name:?} (auto, walk, bitvector)")),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let repeat = cli.repeat.max(1);
    let out = match cli.command {
        Command::Synth {
            trees,
            nodes_per_tree,
            features,
            classes,
            vote,
            out,
        } => {
            let spec = SynthSpec {
                n_trees: trees,
                nodes_per_tree,
                n_features: features,
                n_classes: classes,
                ..SynthSpec::sklearn(trees, nodes_per_tree, features)
            };
            let spec = if vote { spec.vote() } else { spec };
            let (forest, secs) = timed(|| synth::forest(&spec));
            save_plain(&forest, &out)?;
            let mut v = describe(&forest);
            v["generate_s"] = json!(secs);
            v
        }
        Command::Import { joblib, out } => {
            let (forest, secs) = timed(|| forest2onnx::import::sklearn::read_file(&joblib));
            let forest = forest.with_context(|| format!("importing {}", joblib.display()))?;
            save_plain(&forest, &out)?;
            let mut v = describe(&forest);
            v["import_s"] = json!(secs);
            v["import_peak_rss"] = json!(peak_rss());
            v
        }
        Command::Load { model, out } => {
            let (loaded, secs) = timed(|| forest2onnx::load(&model));
            let loaded = loaded.with_context(|| format!("loading {}", model.display()))?;
            save_plain(&loaded.forest, &out)?;
            let mut v = describe(&loaded.forest);
            v["import_s"] = json!(secs);
            v["format"] = json!(format!("{:?}", loaded.format));
            v
        }
        Command::Export {
            forest,
            out,
            reference,
            ml_opset,
        } => export(&forest, &out, reference, ml_opset, repeat)?,
        Command::Store { forest, dir } => native(&forest, &dir, repeat)?,
        Command::Profile { forest, op, n, out } => profile(&forest, &op, n, &out)?,
        Command::Tract {
            onnx,
            rows_file,
            features,
            rows,
            save,
        } => tract(&onnx, rows_file.as_deref(), features, rows, repeat, save)?,
        Command::Predict {
            forest,
            rows_file,
            rows,
            save,
            kernel,
        } => predict(&forest, rows_file.as_deref(), rows, repeat, save, kernel)?,
    };
    let mut out = out;
    out["vmhwm"] = json!(peak_rss());
    println!("{out}");
    Ok(())
}

fn export(
    path: &Path,
    out: &Path,
    reference: bool,
    ml_opset: Option<i64>,
    repeat: usize,
) -> Result<Value> {
    let forest = store::load(path)?;
    let options = ExportOptions {
        ml_opset,
        ..ExportOptions::default()
    };
    let peak_load = peak_rss();
    // Loading peaks at file bytes + forest; measure the conversion's peak
    // from here (model in memory + conversion).
    reset_peak_rss();
    let rss_before = rss();
    let peak_before = peak_rss();
    // The first conversion alone decides the peak: nothing else is alive.
    let (size, first) = timed(|| onnx::to_file(&forest, &options, out));
    let size = size?;
    let peak_export = peak_rss();
    let (bytes, to_bytes_first) = timed(|| onnx::to_bytes(&forest, &options));
    let bytes = bytes?;
    let to_bytes_s = median_of(repeat, || {
        std::hint::black_box(onnx::to_bytes(&forest, &options).expect("export"));
    });
    let (_, encoded_len_s) = timed(|| onnx::encoded_len(&forest, &options));
    // The floors: writing the same bytes, already in memory, to a new file,
    // durably (write + fsync, as `to_file` does) and into the page cache
    // only (as `write_to` a `File` does). Runs alternate with the
    // conversions so both see the same state of the page cache and of the
    // disk's write-back; files are deleted outside the timings.
    let floor_path = out.with_extension("floor");
    let [mut exports, mut durable, mut streams, mut cached] = [(); 4].map(|()| Vec::new());
    let fresh = |p: &Path| {
        std::fs::remove_file(p).ok();
    };
    for _ in 0..repeat {
        fresh(out);
        exports.push(timed(|| onnx::to_file(&forest, &options, out).expect("export")).1);
        fresh(&floor_path);
        durable.push(
            timed(|| {
                let mut f = std::fs::File::create(&floor_path).expect("create");
                std::io::Write::write_all(&mut f, &bytes).expect("write");
                f.sync_all().expect("sync");
            })
            .1,
        );
        fresh(out);
        streams.push(
            timed(|| {
                let f = std::fs::File::create(out).expect("create");
                onnx::write_to(&forest, &options, f).expect("export")
            })
            .1,
        );
        fresh(&floor_path);
        cached.push(timed(|| std::fs::write(&floor_path, &bytes).expect("write")).1);
    }
    fresh(&floor_path);
    drop(bytes);
    let (export_s, write_s) = (median(exports), median(durable));
    let (write_to_s, cached_s) = (median(streams), median(cached));
    let mut v = json!({
        "onnx_bytes": size,
        "n_nodes": forest.n_nodes(),
        "bytes_per_node": size as f64 / forest.n_nodes() as f64,
        "export_first_s": first,
        "export_s": export_s,
        "export_note": "to_file and write_same_bytes include fsync; *_nosync_s stop at the page cache",
        "to_bytes_first_s": to_bytes_first,
        "to_bytes_s": to_bytes_s,
        "encoded_len_s": encoded_len_s,
        "write_same_bytes_s": write_s,
        "write_to_file_nosync_s": write_to_s,
        "write_same_bytes_nosync_s": cached_s,
        "rss_before_export": rss_before,
        "peak_rss_load": peak_load,
        "peak_rss_before_export": peak_before,
        "peak_rss_export": peak_export,
    });
    if reference {
        use prost::Message;
        let (encoded, secs) =
            timed(|| onnx::to_model(&forest, &options).map(|m| m.encode_to_vec().len()));
        encoded?;
        v["reference_encode_s"] = json!(secs);
        v["reference_peak_rss"] = json!(peak_rss());
    }
    Ok(v)
}

fn profile(path: &Path, op: &str, n: usize, out: &Path) -> Result<Value> {
    let forest = store::load(path)?;
    let options = ExportOptions::default();
    let mut times = Vec::new();
    for _ in 0..n {
        let ((), secs) = timed(|| match op {
            "check" => forest.check().expect("valid"),
            "len" => {
                onnx::encoded_len(&forest, &options).expect("size");
            }
            "bytes" => {
                std::hint::black_box(onnx::to_bytes(&forest, &options).expect("export"));
            }
            "file" => {
                onnx::to_file(&forest, &options, out).expect("export");
            }
            "reference" => {
                use prost::Message;
                let model = onnx::to_model(&forest, &options).expect("export");
                std::hint::black_box(model.encode_to_vec());
            }
            other => panic!("unknown op {other}"),
        });
        times.push(secs);
    }
    times.sort_by(f64::total_cmp);
    Ok(json!({ "op": op, "min_s": times[0], "median_s": times[times.len() / 2] }))
}

fn native(path: &Path, dir: &Path, repeat: usize) -> Result<Value> {
    let forest = store::load(path)?;
    std::fs::create_dir_all(dir)?;
    let mut v = json!({ "n_nodes": forest.n_nodes() });
    for level in [0, 3] {
        let file = dir.join(format!("level{level}.forest"));
        let options = SaveOptions {
            level,
            ..SaveOptions::default()
        };
        let save_s = median_of(repeat, || {
            store::save(&forest, &file, &options).expect("save");
        });
        let size = std::fs::metadata(&file)?.len();
        let load_s = median_of(repeat, || {
            let back = store::load(&file).expect("load");
            assert_eq!(back.n_nodes(), forest.n_nodes());
        });
        v[format!("save_level{level}_s")] = json!(save_s);
        v[format!("load_level{level}_s")] = json!(load_s);
        v[format!("file_level{level}_bytes")] = json!(size);
        if level == 0 {
            let mmap_s = median_of(repeat, || {
                let mapped = MappedForest::open(&file).expect("mmap");
                assert_eq!(mapped.n_trees(), forest.trees.len());
            });
            v["mmap_open_s"] = json!(mmap_s);
        }
    }
    Ok(v)
}

fn tract(
    path: &Path,
    rows_file: Option<&Path>,
    features: usize,
    rows: usize,
    repeat: usize,
    save: Option<PathBuf>,
) -> Result<Value> {
    let bytes = std::fs::read(path)?;
    let (model, load_first) = timed(|| OnnxModel::from_bytes(&bytes));
    let model = model?;
    let peak_load = peak_rss();
    let load_s = median_of(repeat, || {
        std::hint::black_box(OnnxModel::from_bytes(&bytes).expect("load"));
    });
    // The model takes f64 rows (and rounds them to float32 itself).
    let x = read_rows(rows_file, model.n_features().max(features), rows)?.mapv(f64::from);
    let mut v = json!({
        "load_optimise_first_s": load_first,
        "load_optimise_s": load_s,
        "load_peak_rss": peak_load,
        "rows": x.nrows(),
    });
    throughput(&mut v, x.nrows(), repeat, || {
        std::hint::black_box(model.predict(x.view()).expect("predict"));
    })?;
    latency(&mut v, &x, |row| {
        std::hint::black_box(model.predict(row).expect("predict"));
    });
    if let Some(save) = save {
        let out = model.predict(x.view())?;
        write_f64(&save, out.values.iter().copied())?;
    }
    Ok(v)
}

fn predict(
    path: &Path,
    rows_file: Option<&Path>,
    rows: usize,
    repeat: usize,
    save: Option<PathBuf>,
    kernel: Kernel,
) -> Result<Value> {
    let forest = store::load(path)?;
    let x = read_rows(rows_file, forest.n_features, rows)?.mapv(f64::from);
    let mut v = json!({ "rows": x.nrows(), "n_trees": forest.trees.len(), "kernel": format!("{kernel:?}") });
    throughput(&mut v, x.nrows(), repeat, || {
        std::hint::black_box(forest.predict_with(x.view(), kernel));
    })?;
    latency(&mut v, &x, |row| {
        std::hint::black_box(forest.predict_with(row, kernel));
    });
    if let Some(save) = save {
        let out = forest.predict_with(x.view(), kernel);
        write_f64(&save, out.values.iter().copied())?;
        let labels: Vec<u8> = out
            .classes
            .iter()
            .flat_map(|&c| u32::try_from(c).expect("label index").to_le_bytes())
            .collect();
        std::fs::write(save.with_extension("labels"), labels)?;
    }
    Ok(v)
}

/// Times `run` (one prediction of `rows` rows) `repeat` times in a 1-thread
/// and an all-thread rayon pool: `rows_per_s_*` from the median run,
/// `rows_per_s_best_*` from the fastest, and the 1-thread CPU throughput.
fn throughput(
    v: &mut Value,
    rows: usize,
    repeat: usize,
    mut run: impl FnMut() + Send,
) -> Result<()> {
    for (name, threads) in thread_counts() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let cpu = cpu_seconds();
        let times: Vec<f64> = (0..repeat)
            .map(|_| pool.install(|| timed(&mut run).1))
            .collect();
        let best = times.iter().copied().fold(f64::INFINITY, f64::min);
        v[format!("rows_per_s_{name}")] = json!(rows as f64 / median(times));
        v[format!("rows_per_s_best_{name}")] = json!(rows as f64 / best);
        if threads == 1 {
            let cpu = cpu_seconds() - cpu;
            v["rows_per_cpu_s_1_thread"] = json!((repeat * rows) as f64 / cpu);
        }
    }
    Ok(())
}

/// Rows predicted one at a time by [`latency`].
const LATENCY_ROWS: usize = 2_000;

/// Batch-1 latency on the calling thread: `run` on each of the first
/// [`LATENCY_ROWS`] rows of `x` alone (after a warm-up pass), as
/// `latency_1_row_us_median` and `latency_1_row_us_p99`.
fn latency(v: &mut Value, x: &Array2<f64>, mut run: impl FnMut(ndarray::ArrayView2<'_, f64>)) {
    let n = x.nrows().min(LATENCY_ROWS);
    let rows = |r: usize| x.slice(ndarray::s![r..r + 1, ..]);
    (0..n.min(100)).for_each(|r| run(rows(r)));
    let mut times: Vec<f64> = (0..n).map(|r| timed(|| run(rows(r))).1 * 1e6).collect();
    times.sort_by(f64::total_cmp);
    if let (Some(&median), Some(&p99)) = (times.get(n / 2), times.get(n * 99 / 100)) {
        v["latency_1_row_us_median"] = json!(median);
        v["latency_1_row_us_p99"] = json!(p99);
    }
}

/// Writes `values` as f64 little-endian (read back with numpy's `fromfile`).
fn write_f64(path: &Path, values: impl Iterator<Item = f64>) -> Result<()> {
    let bytes: Vec<u8> = values.flat_map(f64::to_le_bytes).collect();
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// `("1_thread", 1)` and `("all_threads", n)`.
fn thread_counts() -> [(&'static str, usize); 2] {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    [("1_thread", 1), ("all_threads", all)]
}

fn read_rows(file: Option<&Path>, features: usize, rows: usize) -> Result<Array2<f32>> {
    let Some(file) = file else {
        return Ok(synth::rows_f32(rows, features, 11));
    };
    let raw = std::fs::read(file)?;
    if raw.len() % (4 * features) != 0 {
        bail!(
            "{}: {} bytes is not a whole number of {features}-feature float32 rows",
            file.display(),
            raw.len()
        );
    }
    let values: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    let n = values.len() / features;
    Ok(Array2::from_shape_vec((n, features), values)?)
}

fn save_plain(forest: &Forest, out: &Path) -> Result<()> {
    let options = SaveOptions {
        level: 0,
        ..SaveOptions::default()
    };
    store::save(forest, out, &options)?;
    Ok(())
}

fn describe(forest: &Forest) -> Value {
    let leaf_depths: (usize, usize) = forest
        .trees
        .iter()
        .map(|t| {
            let mut depth = vec![0usize; t.n_nodes()];
            let (mut sum, mut leaves) = (0, 0);
            for i in 0..t.n_nodes() {
                if let Some((yes, no)) = t.children(i) {
                    depth[yes as usize] = depth[i] + 1;
                    depth[no as usize] = depth[i] + 1;
                } else {
                    sum += depth[i];
                    leaves += 1;
                }
            }
            (sum, leaves)
        })
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    json!({
        "n_trees": forest.trees.len(),
        "n_nodes": forest.n_nodes(),
        "n_leaves": forest.n_leaves(),
        "n_features": forest.n_features,
        "n_outputs": forest.n_outputs(),
        "max_depth": forest.max_depth(),
        "mean_leaf_depth": leaf_depths.0 as f64 / leaf_depths.1.max(1) as f64,
    })
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

fn median_of(repeat: usize, mut f: impl FnMut()) -> f64 {
    median((0..repeat).map(|_| timed(&mut f).1).collect())
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time (user + system) of the whole process so far, in seconds, from
/// `/proc/self/stat` (10 ms resolution): a throughput measure that other
/// processes competing for the cores do not distort.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set so far, bytes.
fn peak_rss() -> Option<u64> {
    status_field("VmHWM:")
}

/// Resets the peak resident set (`VmHWM`) to the current one (Linux ≥ 4.0;
/// best effort).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Current resident set, bytes.
fn rss() -> Option<u64> {
    status_field("VmRSS:")
}
