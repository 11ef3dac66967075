//! Running exported models through `python/oracles/conformance.py` (onnx.checker and
//! onnxruntime) and tallying agreement.

use std::path::Path;
use std::process::Command;

use forest2onnx::ir::Labels;
use forest2onnx::runtime::OnnxOutputs;
use ndarray::Array2;
use serde_json::Value;

/// Writes one case for `conformance.py`: NAME.onnx, NAME.input.f32, NAME.json.
pub fn write_case(dir: &Path, name: &str, onnx: &[u8], rows: &Array2<f32>, extra: Value) {
    std::fs::write(dir.join(format!("{name}.onnx")), onnx).unwrap();
    let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join(format!("{name}.input.f32")), bytes).unwrap();
    let mut meta = serde_json::json!({"rows": rows.nrows(), "cols": rows.ncols()});
    if let (Value::Object(m), Value::Object(e)) = (&mut meta, extra) {
        m.extend(e);
    }
    std::fs::write(dir.join(format!("{name}.json")), meta.to_string()).unwrap();
}

/// Runs `python/oracles/conformance.py` on `dir` with the interpreter `python`.
pub fn run_conformance(python: &Path, dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/oracles/conformance.py");
    let out = Command::new(python).arg(&script).arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        "conformance.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `NAME.ort.json` that `conformance.py` wrote.
pub fn read_result(dir: &Path, name: &str) -> Value {
    let path = dir.join(format!("{name}.ort.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Class indices as the JSON values onnxruntime reports.
pub fn labels_json(labels: &Labels, classes: &[usize]) -> Vec<Value> {
    classes.iter().map(|&c| labels.json(c)).collect()
}

/// A tract prediction as JSON labels and f64 probabilities.
pub fn tract_json(p: &OnnxOutputs) -> (Vec<Value>, Vec<Vec<f64>>) {
    let labels = p
        .labels
        .as_ref()
        .map_or_else(Vec::new, |l| (0..l.len()).map(|i| l.json(i)).collect());
    let probs = p.values.rows().into_iter().map(|r| r.to_vec()).collect();
    (labels, probs)
}

/// One runtime's output from a result file, e.g. `"one_thread"`.
pub fn runtime_json(result: &Value, key: &str) -> (Vec<Value>, Vec<Vec<f64>>) {
    let r = &result[key];
    let labels = r["labels"]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {result}"))
        .clone();
    let probs = serde_json::from_value(r["probabilities"].clone()).unwrap();
    (labels, probs)
}

/// Agreement of one runtime with a reference over many models.
#[derive(Debug, Default)]
pub struct Tally {
    pub rows: usize,
    pub label_mismatches: usize,
    pub max_abs_diff: f64,
}

impl Tally {
    /// Adds one model's comparison.
    pub fn compare(
        &mut self,
        what: &str,
        expected: (&[Value], &Array2<f64>),
        got: (&[Value], &[Vec<f64>]),
    ) {
        let (expected_labels, expected_p) = expected;
        let (got_labels, got_p) = got;
        assert_eq!(got_labels.len(), expected_labels.len(), "{what}: row count");
        self.rows += got_labels.len();
        for (r, (e, g)) in expected_labels.iter().zip(got_labels).enumerate() {
            if e != g {
                self.label_mismatches += 1;
                eprintln!("{what}: row {r}: expected {e}, got {g}");
            }
            assert_eq!(got_p[r].len(), expected_p.ncols(), "{what}: class count");
            for (k, p) in got_p[r].iter().enumerate() {
                let d = (p - expected_p[[r, k]]).abs();
                self.max_abs_diff =
                    self.max_abs_diff
                        .max(if d.is_nan() { f64::INFINITY } else { d });
            }
        }
    }

    /// One summary line.
    pub fn line(&self, name: &str) -> String {
        format!(
            "  {name}: {} rows, {} label mismatches, max |Δp| {:.3e}",
            self.rows, self.label_mismatches, self.max_abs_diff
        )
    }
}
