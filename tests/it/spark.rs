//! Spark ML tree models saved by Spark 3.5 and 4.x (committed folders made by
//! `python/fixtures/spark_fixtures.py`) converted without Spark and compared with
//! Spark's own `transform` output on data rows, rows at every threshold and
//! one float step either side, NaN rows and every category value: in the IR
//! (`Forest::predict`) and in tract (double ONNX export). Labels must be
//! equal; probabilities, predictions and margins within `REL` relative.

use std::path::{Path, PathBuf};

use forest2onnx::export::onnx::{to_bytes, ExportOptions, Precision};
use forest2onnx::import::spark::SparkError;
use forest2onnx::runtime::OnnxModel;
use forest2onnx::{Format, LoadError};
use ndarray::Array2;
use serde::Deserialize;

/// Relative bound on every output (the GBT margin is a BLAS dot product in
/// Spark, and the probabilities go through `exp`).
const REL: f64 = 1e-12;
/// Absolute floor for values near zero (a probability of 1e-17 from
/// `1 - p0`).
const ABS: f64 = 1e-15;

/// What `python/fixtures/spark_fixtures.py` saved next to each model.
#[derive(Deserialize)]
struct Expected {
    spark_version: String,
    model_class: String,
    rows: Vec<Vec<Cell>>,
    prediction: Vec<f64>,
    probability: Option<Vec<Vec<f64>>>,
    #[serde(rename = "rawPrediction")]
    raw_prediction: Option<Vec<Vec<f64>>>,
}

/// A row value: a number, null for NaN, "inf" or "-inf".
#[derive(Deserialize)]
#[serde(untagged)]
enum Cell {
    Number(f64),
    Text(String),
    /// null.
    Nan(()),
}

impl Cell {
    fn value(&self) -> f64 {
        match self {
            Cell::Number(v) => *v,
            Cell::Text(t) => t.parse().expect("inf or -inf"),
            Cell::Nan(_) => f64::NAN,
        }
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spark")
}

/// Every `VERSION/CASE` folder.
fn cases() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for version in std::fs::read_dir(fixtures()).unwrap() {
        for case in std::fs::read_dir(version.unwrap().path()).unwrap() {
            out.push(case.unwrap().path());
        }
    }
    out.sort();
    out
}

fn matrix(rows: &[Vec<Cell>]) -> Array2<f64> {
    let n = rows[0].len();
    Array2::from_shape_fn((rows.len(), n), |(i, j)| rows[i][j].value())
}

/// Largest relative difference (0 where both are 0), or an error past the
/// bound (`REL` relative, or `ABS` absolute near zero).
fn max_rel(
    what: &str,
    ours: impl Iterator<Item = f64>,
    spark: impl Iterator<Item = f64>,
) -> Result<f64, String> {
    let mut worst = 0.0f64;
    for (i, (a, b)) in ours.zip(spark).enumerate() {
        let d = (a - b).abs();
        let scale = a.abs().max(b.abs());
        let rel = if d == 0.0 { 0.0 } else { d / scale };
        if (d > ABS && rel > REL) || d.is_nan() {
            return Err(format!("{what} {i}: ours {a:e}, Spark {b:e}"));
        }
        worst = worst.max(rel);
    }
    Ok(worst)
}

/// Per case: rows, label mismatches, max relative |Δ| in the IR and in tract.
struct Figures {
    rows: usize,
    ir: f64,
    tract: f64,
}

fn check(case: &Path, exp: &Expected) -> Result<Figures, String> {
    let loaded = forest2onnx::load(case.join("model")).map_err(|e| format!("{e:#}"))?;
    assert_eq!(loaded.format, Format::SparkMl);
    let forest = loaded.forest;
    let x = matrix(&exp.rows);
    let p = forest.predict(x.view());
    let classifier = forest.class_labels().is_some();
    let gbt_classifier =
        exp.model_class.contains("GBTClassification") || case.ends_with("pipeline_gbt_classifier");
    // The IR's outputs as Spark shapes them: probability (classifiers) or
    // prediction, and the margin (GBT classifier: the raw score is 2m).
    let ours_main: Vec<f64> = if classifier {
        p.values.iter().copied().collect()
    } else {
        p.values.column(0).to_vec()
    };
    let spark_main: Vec<f64> = match &exp.probability {
        Some(pr) if classifier => pr.iter().flatten().copied().collect(),
        _ => exp.prediction.clone(),
    };
    let mut ir = max_rel(
        "output",
        ours_main.iter().copied(),
        spark_main.iter().copied(),
    )?;
    if classifier {
        let labels: Vec<f64> = p.classes.iter().map(|&c| c as f64).collect();
        let bad = labels
            .iter()
            .zip(&exp.prediction)
            .filter(|(a, b)| a != b)
            .count();
        if bad > 0 {
            return Err(format!("{bad} labels differ from Spark's prediction"));
        }
    }
    if gbt_classifier {
        let raw = p.raw.as_ref().ok_or("no raw score")?;
        let spark = exp.raw_prediction.as_ref().ok_or("no rawPrediction")?;
        ir = ir.max(max_rel(
            "margin",
            raw.column(0).iter().map(|s| s / 2.0),
            spark.iter().map(|r| r[1]),
        )?);
    }
    // tract, double precision.
    let options = ExportOptions {
        precision: Precision::Double,
        ml_opset: Some(3),
        ..ExportOptions::default()
    };
    let onnx = to_bytes(&forest, &options).map_err(|e| e.to_string())?;
    let model = OnnxModel::from_bytes(&onnx).map_err(|e| e.to_string())?;
    let out = model.predict(x.view()).map_err(|e| e.to_string())?;
    let tract_main: Vec<f64> = if classifier {
        out.values.iter().copied().collect()
    } else {
        out.values.column(0).to_vec()
    };
    let tract = max_rel(
        "tract output",
        tract_main.into_iter(),
        spark_main.iter().copied(),
    )?;
    if classifier {
        let labels = out.labels.ok_or("tract gave no labels")?;
        let expected = forest2onnx::ir::Labels::Float(exp.prediction.clone());
        if labels != expected {
            return Err("tract's labels differ from Spark's prediction".into());
        }
    }
    Ok(Figures {
        rows: exp.rows.len(),
        ir,
        tract,
    })
}

#[test]
fn every_fixture_matches_spark_in_the_ir_and_in_tract() {
    let cases = cases();
    assert!(
        cases.len() >= 20,
        "only {} Spark fixture cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case.join("predictions.json")).unwrap();
        let exp: Expected = serde_json::from_str(&text).unwrap();
        let name = format!(
            "Spark {} {}",
            exp.spark_version,
            case.file_name().unwrap().to_string_lossy()
        );
        match check(case, &exp) {
            Ok(f) => eprintln!(
                "{name:<48} rows {:>4}  label mismatches 0  max rel |Δ| IR {:.1e}  tract {:.1e}",
                f.rows, f.ir, f.tract
            ),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn other_pipeline_stages_and_thresholds_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures().join("3.5/pipeline_gbt_classifier/model");
    copy_dir(&src, dir.path());
    // Rename the assembler stage's class to another feature transformer.
    let stages = dir.path().join("stages");
    let first = std::fs::read_dir(&stages)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("0_"))
        .unwrap();
    let meta = first.join("metadata/part-00000");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(
        &meta,
        text.replace("feature.VectorAssembler", "feature.StandardScalerModel"),
    )
    .unwrap();
    let e = forest2onnx::load(dir.path()).unwrap_err();
    let message = root(&e);
    assert!(
        message.contains("pipeline stage 0 (StandardScalerModel)"),
        "{message}"
    );

    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("3.5/rf_classifier/model"), dir.path());
    let meta = dir.path().join("metadata/part-00000");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(
        &meta,
        text.replacen(
            "\"paramMap\":{",
            "\"paramMap\":{\"thresholds\":[0.5,0.2,0.2,0.1],",
            1,
        ),
    )
    .unwrap();
    let e = forest2onnx::load(dir.path()).unwrap_err();
    assert!(root(&e).contains("thresholds"), "{}", root(&e));
}

#[test]
fn a_folder_that_is_no_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = forest2onnx::load(dir.path()).unwrap_err();
    assert!(matches!(e, LoadError::Folder(_)), "{e}");
    // A model folder whose Parquet data is damaged: a clear error.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("3.5/gbt_regressor/model"), dir.path());
    let data = dir.path().join("data");
    for f in std::fs::read_dir(&data).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "parquet") {
            let mut bytes = std::fs::read(&p).unwrap();
            bytes.truncate(bytes.len() / 2);
            std::fs::write(&p, bytes).unwrap();
        }
    }
    let e = forest2onnx::load(dir.path()).unwrap_err();
    assert!(root(&e).contains("Parquet"), "{}", root(&e));
}

fn root(e: &LoadError) -> String {
    match e {
        LoadError::Import { source, .. } => match source.downcast_ref::<SparkError>() {
            Some(s) => s.to_string(),
            None => source.to_string(),
        },
        other => other.to_string(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The binary on a fixture folder: `convert` (validated in tract), `inspect`
/// and `predict`, which takes the columns by position.
#[test]
fn the_binary_converts_inspects_and_predicts_a_model_folder() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixtures().join("4.3/rf_classifier/model");
    let model = model.as_os_str();
    let onnx = dir.path().join("m.onnx");
    run_ok(&[
        "-q".as_ref(),
        "convert".as_ref(),
        model,
        "-o".as_ref(),
        onnx.as_os_str(),
        "--precision".as_ref(),
        "double".as_ref(),
        "--ml-opset".as_ref(),
        "3".as_ref(),
    ]);
    assert!(std::fs::metadata(&onnx).unwrap().len() > 0);

    let json = run_ok(&["inspect".as_ref(), model, "--json".as_ref()]);
    let info: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(info["format"], "spark-ml");
    assert_eq!(
        info["forest"]["estimator"],
        "RandomForestClassificationModel"
    );
    assert_eq!(info["forest"]["library"], "spark");
    assert_eq!(info["forest"]["trees"], 5);
    // Trained on labels 1..3: four classes, class 0 never predicted.
    assert_eq!(info["forest"]["classes"].as_array().unwrap().len(), 4);
    assert!(run_ok(&["inspect".as_ref(), model]).contains("Spark ML model folder"));

    // Header names that mean nothing to the model: columns by position.
    let exp: Expected = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("4.3/rf_classifier/predictions.json")).unwrap(),
    )
    .unwrap();
    let mut csv = String::from("c,b,a\n");
    for row in exp.rows.iter().take(40) {
        let cells: Vec<String> = row.iter().map(|c| format!("{:?}", c.value())).collect();
        csv += &cells.join(",");
        csv.push('\n');
    }
    let data = dir.path().join("rows.csv");
    std::fs::write(&data, csv).unwrap();
    let text = run_ok(&[
        "predict".as_ref(),
        model,
        "--data".as_ref(),
        data.as_os_str(),
    ]);
    let labels: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(labels.len(), 40);
    assert_eq!(labels[..], exp.prediction[..40]);
}

/// Runs the binary with `args`; its stdout, after asserting success.
fn run_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = assert_cmd::Command::cargo_bin("forest2onnx")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Regression: a Parquet page that makes the `parquet` crate panic is
/// reported as one plain error; the binary's panic hook used to print an
/// "internal error … this is a bug" line for the contained panic as well.
#[test]
fn a_parquet_reader_panic_is_a_plain_error_in_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("4.3/dt_classifier/model"), dir.path());
    let part = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let good = std::fs::read(&part).unwrap();
    // The first single-bit flip (in file order) that the reader panics on.
    let panicking = (4..good.len() * 8).find_map(|bit| {
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&part, &bad).unwrap();
        let e = forest2onnx::load(dir.path()).err()?;
        root(&e).contains("malformed data").then_some(bad)
    });
    assert!(panicking.is_some(), "no bit flip makes the reader panic");
    let out = assert_cmd::Command::cargo_bin("forest2onnx")
        .unwrap()
        .args(["inspect".as_ref(), dir.path().as_os_str()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("malformed data"), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
}
