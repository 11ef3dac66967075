//! `forest2onnx train`: fit a smartcore classifier on a CSV file or a
//! built-in dataset and save it as a native model file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use forest2onnx::store::{self, DataFingerprint, SaveOptions};
use forest2onnx::train::datasets::Builtin;
use forest2onnx::train::{
    self as lib, Criterion, ModelKind, RegressionData, Targets, TrainParams, Trained, TrainingData,
};
use forest2onnx::Forest;
use serde::Serialize;

use super::csv_input::{list, Cells, Table};
use super::output::{self, human_duration, human_size, print, print_json, write_atomic};
use super::progress::{with_spinner, Progress};
use super::{Global, Status};

/// Train a random forest or a decision tree (smartcore) and save it.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
EXAMPLES:
    Train on a CSV file whose last column is the class:
        forest2onnx train --data flowers.csv -o flowers.forest

    Name the target column, grow 300 shallower trees:
        forest2onnx train --data flowers.csv --target species --trees 300 --max-depth 8

    A single decision tree on a built-in dataset:
        forest2onnx train --dataset wine --model decision-tree -o wine-tree.forest

    A regression forest predicting the numeric column \"price\":
        forest2onnx train --data houses.csv --target price --task regression -o price.forest

    Keep every version: writes models/iris_v1_<UTC time>.forest, then _v2_, ...
        forest2onnx train --dataset iris -o models/iris.forest --versioned

DATA:
    The CSV file needs a header row. Every column except the target is a
    feature and must hold a finite number in every row (no empty cells, NaN
    or inf). A target whose values are all integers gives integer classes;
    otherwise the values are class names (e.g. \"setosa\"), numbered in
    sorted order. With --task regression the target must be a finite number
    in every row (regression trees minimise the squared error). Built-in
    datasets (classification): iris (150 rows, 4 features, 3 species),
    wine (178 × 13, classes 0-2), breast-cancer (569 × 30, 0 = malignant,
    1 = benign), digits (1797 × 64 pixels, classes 0-9).

The model file records the training parameters, the feature names and a
fingerprint of the training data; `forest2onnx inspect FILE` shows them.")]
pub struct Args {
    /// Training data: a CSV file with a header row.
    #[arg(
        long,
        value_name = "FILE.csv",
        conflicts_with = "dataset",
        required_unless_present = "dataset"
    )]
    data: Option<PathBuf>,

    /// Train on a built-in dataset instead of a file.
    #[arg(long, value_enum, value_name = "NAME")]
    dataset: Option<Dataset>,

    /// Name of the target (class) column [default: the last column].
    #[arg(long, value_name = "COLUMN", requires = "data")]
    target: Option<String>,

    /// What to train.
    #[arg(long, value_enum, default_value_t = Model::RandomForest)]
    model: Model,

    /// Predict classes, or real values of a numeric target.
    #[arg(long, value_enum, default_value_t = TaskArg::Classification)]
    task: TaskArg,

    /// Number of trees of a random forest [default: 100].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    trees: Option<u16>,

    /// Random seed: the same data, parameters and seed give the same model.
    #[arg(long, value_name = "N", default_value_t = 42)]
    seed: u64,

    /// Maximum depth of the trees [default: unlimited].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    max_depth: Option<u16>,

    /// A node is split only when it holds at least this many rows.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = at_least(2))]
    min_samples_split: usize,

    /// Every leaf keeps at least this many rows.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least(1))]
    min_samples_leaf: usize,

    /// Features tried at each split of a random forest [default: ⌊√features⌋].
    #[arg(long, value_name = "N", value_parser = at_least(1))]
    features_per_split: Option<usize>,

    /// How classification splits are scored [default: gini].
    #[arg(long, value_enum)]
    criterion: Option<SplitCriterion>,

    /// The model file to write.
    #[arg(short, long, value_name = "OUT", default_value = "model.forest")]
    output: PathBuf,

    /// Save as NAME_vN_<UTC time>.forest in OUT's folder, NAME being OUT's
    /// file name without extension and N one more than the latest version.
    #[arg(long)]
    versioned: bool,

    /// zstd level of the model file: 0 = uncompressed (memory-mappable), 1-22.
    #[arg(long = "compress", visible_alias = "compression", value_name = "LEVEL", default_value_t = 3, value_parser = clap::value_parser!(i32).range(0..=22))]
    compress: i32,

    /// Record a tag in the model file (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    tags: Vec<(String, String)>,

    /// Also write smartcore's own model as serde JSON (convert, inspect and
    /// predict read it too).
    #[arg(long, value_name = "FILE.json")]
    smartcore_json: Option<PathBuf>,

    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Dataset {
    Iris,
    Wine,
    BreastCancer,
    Digits,
}

impl From<Dataset> for Builtin {
    fn from(d: Dataset) -> Self {
        match d {
            Dataset::Iris => Builtin::Iris,
            Dataset::Wine => Builtin::Wine,
            Dataset::BreastCancer => Builtin::BreastCancer,
            Dataset::Digits => Builtin::Digits,
        }
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Model {
    /// smartcore RandomForestClassifier (bagging, hard voting).
    RandomForest,
    /// smartcore DecisionTreeClassifier (one tree, all rows and features).
    DecisionTree,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum TaskArg {
    /// Class labels (smartcore classifiers, hard voting).
    Classification,
    /// A real-valued target (smartcore regressors, mean of the trees).
    Regression,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SplitCriterion {
    /// Gini impurity.
    Gini,
    /// Information gain.
    Entropy,
    /// Misclassification rate.
    ClassificationError,
}

fn at_least(min: u64) -> impl clap::builder::TypedValueParser<Value = usize> {
    use clap::builder::TypedValueParser;
    clap::value_parser!(u64)
        .range(min..)
        .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => Err("expected KEY=VALUE".into()),
    }
}

/// Where the training data came from, for messages and metadata.
struct Source {
    data: TrainingData,
    /// `iris (built-in)` or the file path.
    label: String,
    json: serde_json::Value,
}

pub fn run(g: Global, args: Args) -> Result<Status> {
    let params = params(&args)?;
    check_output(&args)?;
    if args.task == TaskArg::Regression {
        return run_regression(g, &args, &params);
    }
    let source = load_data(g.progress(), &args)?;
    let data = &source.data;

    let started = Instant::now();
    let what = match params.model {
        ModelKind::RandomForest => format!("training a random forest of {} trees", params.trees),
        ModelKind::DecisionTree => "training a decision tree".to_string(),
    };
    let message = format!(
        "{what} on {} rows × {} features",
        data.x.nrows(),
        data.x.ncols()
    );
    let trained = with_spinner(g.progress(), message, || lib::train(data, &params))
        .with_context(|| format!("cannot train on {}", source.label))?;
    let train_time = started.elapsed();
    let accuracy = trained.accuracy(data);

    let mut training_params = params.to_json(data.x.ncols());
    if let Some(obj) = training_params.as_object_mut() {
        obj.insert("data".into(), source.json.clone());
    }
    let opts = SaveOptions {
        level: args.compress,
        training_params: Some(training_params),
        data_fingerprint: Some(DataFingerprint::of(data.x.view())),
        tags: args.tags.iter().cloned().collect::<BTreeMap<_, _>>(),
        environment: None,
    };
    let path = save(&trained.forest, &args, &opts)?;
    if let Some(json_path) = &args.smartcore_json {
        let text = trained
            .smartcore_json()
            .context("cannot serialise the smartcore model")?;
        write_atomic(json_path, text.as_bytes())?;
    }
    report(&args, &source, &trained, &path, accuracy, train_time)?;
    Ok(Status::Success)
}

fn params(args: &Args) -> Result<TrainParams> {
    let model = match args.model {
        Model::RandomForest => ModelKind::RandomForest,
        Model::DecisionTree => ModelKind::DecisionTree,
    };
    if args.task == TaskArg::Regression {
        if args.criterion.is_some() {
            bail!("--criterion applies to classification; regression trees minimise the squared error (drop --criterion)");
        }
        if args.dataset.is_some() {
            bail!("the built-in datasets are classification data; give --data FILE.csv with a numeric target for --task regression");
        }
    }
    if model == ModelKind::DecisionTree {
        // Silently ignoring them would make the user believe they applied.
        if args.trees.is_some() {
            bail!("--trees applies to random forests; a decision tree is one tree (drop --trees or use --model random-forest)");
        }
        if args.features_per_split.is_some() {
            bail!("--features-per-split applies to random forests; a decision tree tries every feature");
        }
    }
    Ok(TrainParams {
        model,
        trees: args.trees.unwrap_or(100),
        seed: args.seed,
        max_depth: args.max_depth,
        min_samples_split: args.min_samples_split,
        min_samples_leaf: args.min_samples_leaf,
        features_per_split: args.features_per_split,
        criterion: match args.criterion {
            None | Some(SplitCriterion::Gini) => Criterion::Gini,
            Some(SplitCriterion::Entropy) => Criterion::Entropy,
            Some(SplitCriterion::ClassificationError) => Criterion::ClassificationError,
        },
    })
}

/// Fails before training when the output cannot be written.
fn check_output(args: &Args) -> Result<()> {
    if args.versioned {
        let dir = output::parent_dir(&args.output);
        if !dir.is_dir() {
            bail!(
                "cannot save in `{}`: the folder does not exist",
                dir.display()
            );
        }
    } else {
        output::check_output_path(&args.output)?;
    }
    if let Some(p) = &args.smartcore_json {
        output::check_output_path(p)?;
    }
    Ok(())
}

fn load_data(progress: Progress, args: &Args) -> Result<Source> {
    if let Some(d) = args.dataset {
        let b = Builtin::from(d);
        return Ok(Source {
            data: b.load(),
            label: format!("the built-in {b} dataset"),
            json: serde_json::json!({ "dataset": b.name() }),
        });
    }
    let path = args
        .data
        .as_deref()
        .ok_or_else(|| anyhow!("give --data FILE.csv or --dataset NAME"))?;
    let table = Table::read(path, progress)?;
    let target = match &args.target {
        Some(name) => table.column(name)?,
        None => table.header.len() - 1,
    };
    if table.header.len() < 2 {
        bail!(
            "`{}` has a single column; training needs the target column and at least one feature column",
            path.display()
        );
    }
    let feature_cols: Vec<usize> = (0..table.header.len()).filter(|&c| c != target).collect();
    let x = table.numbers(&feature_cols, Cells::Finite)?;
    let y = targets(&table, target)?;
    let feature_names = feature_cols
        .iter()
        .map(|&c| table.header[c].clone())
        .collect();
    let target_name = table.header[target].clone();
    Ok(Source {
        label: format!("`{}`", path.display()),
        json: serde_json::json!({
            "file": file_name(path),
            "target": target_name,
        }),
        data: TrainingData {
            x,
            y,
            feature_names,
            target_name,
        },
    })
}

/// Integer classes when every target cell is an integer, else class names.
fn targets(table: &Table, col: usize) -> Result<Targets> {
    let cells: Vec<&str> = table.strings(col).collect();
    if let Some(row) = cells.iter().position(|c| c.is_empty()) {
        bail!(
            "`{}`: {}, column {:?}: the target is empty; every row needs a class",
            table.name(),
            table.locate(row),
            table.header[col]
        );
    }
    let ints: Option<Vec<i64>> = cells.iter().map(|c| c.parse().ok()).collect();
    Ok(match ints {
        Some(v) => Targets::Int(v),
        None => Targets::Str(cells.iter().map(|c| c.to_string()).collect()),
    })
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn save(forest: &Forest, args: &Args, opts: &SaveOptions) -> Result<PathBuf> {
    if args.versioned {
        let dir = output::parent_dir(&args.output);
        let name = args
            .output
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        store::save_versioned(forest, dir, &name, opts).with_context(|| {
            format!(
                "cannot save a new version of {name:?} in `{}`",
                dir.display()
            )
        })
    } else {
        store::save(forest, &args.output, opts)
            .with_context(|| format!("cannot save `{}`", args.output.display()))?;
        Ok(args.output.clone())
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    output: &'a Path,
    bytes: u64,
    smartcore_json: Option<&'a Path>,
    model: &'a str,
    trees: usize,
    nodes: usize,
    leaves: usize,
    max_depth: usize,
    features: usize,
    rows: usize,
    classes: Vec<String>,
    training_accuracy: f64,
    train_ms: f64,
}

fn report(
    args: &Args,
    source: &Source,
    trained: &Trained,
    path: &Path,
    accuracy: f64,
    train_time: Duration,
) -> Result<()> {
    let f = &trained.forest;
    let classes: Vec<String> = trained.classes().to_strings();
    let bytes = output::file_size(path);
    if args.json {
        return print_json(&Summary {
            output: path,
            bytes,
            smartcore_json: args.smartcore_json.as_deref(),
            model: &f.source.estimator,
            trees: f.trees.len(),
            nodes: f.n_nodes(),
            leaves: f.n_leaves(),
            max_depth: f.max_depth(),
            features: f.n_features,
            rows: source.data.x.nrows(),
            classes,
            training_accuracy: accuracy,
            train_ms: output::millis(train_time),
        });
    }
    let mut text = format!(
        "trained {} on {} ({} rows, {} features) in {}\n",
        f.source.estimator,
        source.label,
        source.data.x.nrows(),
        f.n_features,
        human_duration(train_time)
    );
    text += &format!(
        "  {} trees, {} nodes, {} leaves, max depth {}\n",
        f.trees.len(),
        f.n_nodes(),
        f.n_leaves(),
        f.max_depth()
    );
    text += &format!("  classes: {}\n", list(&classes));
    text += &format!("  training accuracy: {:.2}%\n", accuracy * 100.0);
    text += &format!("wrote {} ({})\n", path.display(), human_size(bytes));
    if let Some(j) = &args.smartcore_json {
        text += &format!("wrote {} (smartcore serde JSON)\n", j.display());
    }
    print(&text)
}

/// `train --task regression`: a smartcore regressor on a CSV file.
fn run_regression(g: Global, args: &Args, params: &TrainParams) -> Result<Status> {
    let path = args
        .data
        .as_deref()
        .ok_or_else(|| anyhow!("give --data FILE.csv for --task regression"))?;
    let table = Table::read(path, g.progress())?;
    if table.header.len() < 2 {
        bail!(
            "`{}` has a single column; training needs the target column and at least one feature column",
            path.display()
        );
    }
    let target = match &args.target {
        Some(name) => table.column(name)?,
        None => table.header.len() - 1,
    };
    let feature_cols: Vec<usize> = (0..table.header.len()).filter(|&c| c != target).collect();
    let data = RegressionData {
        x: table.numbers(&feature_cols, Cells::Finite)?,
        y: table
            .numbers(&[target], Cells::Finite)
            .context("a regression target must be a finite number in every row")?
            .column(0)
            .to_vec(),
        feature_names: feature_cols
            .iter()
            .map(|&c| table.header[c].clone())
            .collect(),
        target_name: table.header[target].clone(),
    };
    let started = Instant::now();
    let what = match params.model {
        ModelKind::RandomForest => {
            format!("training a regression forest of {} trees", params.trees)
        }
        ModelKind::DecisionTree => "training a regression tree".to_string(),
    };
    let message = format!(
        "{what} on {} rows × {} features",
        data.x.nrows(),
        data.x.ncols()
    );
    let trained = with_spinner(g.progress(), message, || {
        lib::train_regressor(&data, params)
    })
    .with_context(|| format!("cannot train on `{}`", path.display()))?;
    let train_time = started.elapsed();
    let r2 = trained.r2(&data);
    let mut training_params = params.to_json(data.x.ncols());
    if let Some(obj) = training_params.as_object_mut() {
        obj.insert("task".into(), "regression".into());
        obj.remove("criterion");
        obj.insert(
            "data".into(),
            serde_json::json!({ "file": file_name(path), "target": data.target_name }),
        );
    }
    let opts = SaveOptions {
        level: args.compress,
        training_params: Some(training_params),
        data_fingerprint: Some(DataFingerprint::of(data.x.view())),
        tags: args.tags.iter().cloned().collect::<BTreeMap<_, _>>(),
        environment: None,
    };
    let out = save(&trained.forest, args, &opts)?;
    if let Some(json_path) = &args.smartcore_json {
        let text = trained
            .smartcore_json()
            .context("cannot serialise the smartcore model")?;
        write_atomic(json_path, text.as_bytes())?;
    }
    let f = &trained.forest;
    let bytes = output::file_size(&out);
    if args.json {
        print_json(&serde_json::json!({
            "output": out,
            "bytes": bytes,
            "smartcore_json": args.smartcore_json,
            "model": f.source.estimator,
            "task": "regression",
            "trees": f.trees.len(),
            "nodes": f.n_nodes(),
            "leaves": f.n_leaves(),
            "max_depth": f.max_depth(),
            "features": f.n_features,
            "rows": data.x.nrows(),
            "target": data.target_name,
            "training_r2": r2,
            "train_ms": output::millis(train_time),
        }))?;
        return Ok(Status::Success);
    }
    let mut text = format!(
        "trained {} on `{}` ({} rows, {} features) in {}\n",
        f.source.estimator,
        path.display(),
        data.x.nrows(),
        f.n_features,
        human_duration(train_time)
    );
    text += &format!(
        "  {} trees, {} nodes, {} leaves, max depth {}\n",
        f.trees.len(),
        f.n_nodes(),
        f.n_leaves(),
        f.max_depth()
    );
    text += &format!("  target: {}\n", data.target_name);
    text += &format!("  training R²: {r2:.4}\n");
    text += &format!("wrote {} ({})\n", out.display(), human_size(bytes));
    if let Some(j) = &args.smartcore_json {
        text += &format!("wrote {} (smartcore serde JSON)\n", j.display());
    }
    print(&text)?;
    Ok(Status::Success)
}
