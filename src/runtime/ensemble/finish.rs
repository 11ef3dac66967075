//! From aggregated leaf weights to the operator's outputs: base values,
//! averaging, post-transforms and the classifier's label, as onnxruntime
//! computes them (the specification is silent on two-class layouts, base
//! values and ties; onnxruntime's behaviour is what files are written for).

use super::super::attributes::{Aggregate, PostTransform};
use super::CompiledEnsemble;

/// Per-row accumulators of one batch.
pub(super) struct RowScores<'a> {
    /// Summed (or min/max) weights per output.
    pub scores: &'a mut [f64],
    /// Whether any weight reached each output.
    pub has: &'a mut [bool],
    /// The sum of every weight of the row, whatever its output.
    pub one_score: f64,
}

impl CompiledEnsemble {
    /// Writes one row's outputs to `out` and returns its class index
    /// (classifiers) or 0.
    pub(super) fn finish_row(&self, row: RowScores<'_>, out: &mut [f64]) -> usize {
        if !self.is_classifier() {
            self.finish_regression(row.scores, out);
            0
        } else if self.binary_case {
            self.finish_binary(row.one_score, out)
        } else if self.n_outputs == 2 {
            self.finish_two_scores(row.scores, row.has, out)
        } else {
            self.finish_classes(row.scores, row.has, out)
        }
    }

    fn finish_regression(&self, scores: &mut [f64], out: &mut [f64]) {
        let n_trees = self.trees.len() as f64;
        for (i, s) in scores.iter_mut().enumerate() {
            if self.aggregate == Aggregate::Average {
                *s /= n_trees;
            }
            *s += self.base_values.get(i).copied().unwrap_or(0.0);
        }
        write_post(self.post_transform, scores, out);
    }

    /// onnxruntime's one-score two-class path: `s` is the sum of all weights.
    fn finish_binary(&self, mut s: f64, out: &mut [f64]) -> usize {
        match self.base_values.len() {
            2 => {
                s += self.base_values[1];
                let label = self.binary_label(s);
                write_post(self.post_transform, &[-s, s], out);
                return label;
            }
            1 => s += self.base_values[0],
            _ => {}
        }
        let label = self.binary_label(s);
        if self.post_transform == PostTransform::Probit {
            out[0] = probit(s);
            out[1] = 0.0;
        } else if self.weights_all_positive {
            out[0] = 1.0 - s;
            out[1] = s;
        } else if self.post_transform == PostTransform::Logistic {
            out[0] = logistic(-s);
            out[1] = logistic(s);
        } else {
            out[0] = -s;
            out[1] = s;
        }
        label
    }

    fn binary_label(&self, s: f64) -> usize {
        let cut = if self.weights_all_positive { 0.5 } else { 0.0 };
        usize::from(s > cut)
    }

    fn finish_classes(&self, scores: &mut [f64], has: &mut [bool], out: &mut [f64]) -> usize {
        for (k, &b) in self.base_values.iter().enumerate() {
            scores[k] += b;
            has[k] = true;
        }
        // First class with the highest score among those that have one.
        let mut best: Option<usize> = None;
        for k in 0..scores.len() {
            if has[k] && best.is_none_or(|b| scores[k] > scores[b]) {
                best = Some(k);
            }
        }
        write_post(self.post_transform, scores, out);
        best.unwrap_or(0)
    }

    /// Two classes with weights on both class ids (onnxruntime's binary
    /// handling of the general path).
    fn finish_two_scores(&self, s: &mut [f64], has: &[bool], out: &mut [f64]) -> usize {
        let b = &self.base_values;
        if b.len() == 2 {
            if has[1] {
                s[1] = b[1] + s[0];
                s[0] = -s[1];
            } else {
                s[1] += b[1];
                s[0] += b[0];
            }
        } else if b.len() == 1 {
            s[0] += b[0];
        }
        let pos = if has[1] { s[1] } else { s[0] };
        let label = usize::from(pos > 0.0);
        if has[1] || b.len() == 2 {
            write_post(self.post_transform, s, out);
        } else if b.is_empty() {
            // One score, "mixed weights" layout.
            let one = s[0];
            if self.post_transform == PostTransform::Logistic {
                out[0] = logistic(-one);
                out[1] = logistic(one);
            } else {
                out[0] = -one;
                out[1] = one;
            }
        } else {
            out[0] = s[0];
            out[1] = 0.0;
        }
        label
    }
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Inverse of the standard normal CDF (as onnxruntime's PROBIT: √2·erfinv(2p−1)).
fn probit(p: f64) -> f64 {
    std::f64::consts::SQRT_2 * erf_inv(2.0 * p - 1.0)
}

/// Inverse error function (Giles' single-precision approximation, refined
/// by two Newton steps).
fn erf_inv(x: f64) -> f64 {
    if x <= -1.0 {
        return f64::NEG_INFINITY;
    }
    if x >= 1.0 {
        return f64::INFINITY;
    }
    let w = -((1.0 - x) * (1.0 + x)).ln();
    let mut y = if w < 5.0 {
        let w = w - 2.5;
        let mut p = 2.810_226_36e-08;
        for c in [
            3.432_739_39e-07,
            -3.523_387_7e-06,
            -4.391_506_54e-06,
            0.000_218_580_87,
            -0.001_253_725_03,
            -0.004_177_681_64,
            0.246_640_727,
            1.501_409_41,
        ] {
            p = c + p * w;
        }
        p * x
    } else {
        let w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_257;
        for c in [
            0.000_100_950_558,
            0.001_349_343_22,
            -0.003_673_428_44,
            0.005_739_507_73,
            -0.007_622_461_3,
            0.009_438_870_47,
            1.001_674_06,
            2.832_976_82,
        ] {
            p = c + p * w;
        }
        p * x
    };
    for _ in 0..2 {
        let err = erf(y) - x;
        y -= err / (2.0 / std::f64::consts::PI.sqrt() * (-y * y).exp());
    }
    y
}

/// Error function: Maclaurin series near zero, continued fraction in the tails.
fn erf(x: f64) -> f64 {
    if x.abs() < 2.5 {
        let mut sum = x;
        let mut term = x;
        let x2 = x * x;
        for n in 1..60 {
            term *= -x2 / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    } else {
        let ax = x.abs();
        let mut f = 0.0;
        for n in (1..60).rev() {
            f = (n as f64 / 2.0) / (ax + f);
        }
        let erfc = (-ax * ax).exp() / std::f64::consts::PI.sqrt() / (ax + f);
        x.signum() * (1.0 - erfc)
    }
}

/// Applies `post` to `scores`, writing the outputs.
fn write_post(post: PostTransform, scores: &[f64], out: &mut [f64]) {
    match post {
        PostTransform::None => out.copy_from_slice(scores),
        PostTransform::Probit => {
            for (o, s) in out.iter_mut().zip(scores) {
                *o = probit(*s);
            }
        }
        PostTransform::Logistic => {
            for (o, s) in out.iter_mut().zip(scores) {
                *o = logistic(*s);
            }
        }
        PostTransform::Softmax | PostTransform::SoftmaxZero => {
            let zero = post == PostTransform::SoftmaxZero;
            let kept = |s: f64| !(zero && s == 0.0);
            let max = scores
                .iter()
                .copied()
                .filter(|&s| kept(s))
                .fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for (o, &s) in out.iter_mut().zip(scores) {
                *o = if kept(s) { (s - max).exp() } else { 0.0 };
                sum += *o;
            }
            for o in out.iter_mut() {
                *o = if sum > 0.0 { *o / sum } else { 0.0 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_inv_inverts_erf() {
        for x in [-0.99, -0.5, -0.1, 0.0, 0.3, 0.9, 0.999] {
            assert!((erf(erf_inv(x)) - x).abs() < 1e-12, "{x}");
        }
    }

    #[test]
    fn softmax_zero_keeps_zeros() {
        let mut out = [0.0; 3];
        write_post(PostTransform::SoftmaxZero, &[0.0, 1.0, 1.0], &mut out);
        assert_eq!(out, [0.0, 0.5, 0.5]);
        write_post(PostTransform::Softmax, &[0.0, 0.0], &mut out[..2]);
        assert_eq!(&out[..2], &[0.5, 0.5]);
    }
}
