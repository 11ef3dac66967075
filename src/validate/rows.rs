//! Adversarial rows: the inputs most likely to expose a conversion error.
//!
//! For every feature, the values that probe its splits: each numeric
//! threshold exactly and one step either side (float32 steps for float
//! models; f64 ulps and f64 values strictly between the two float32
//! neighbours of the threshold for double models), NaN, and for categorical
//! features the categories seen, unseen ones, negative and fractional
//! values; for zero-as-missing features the edges of the zero band.
//!
//! Every value of every feature is used, so every threshold is covered, yet
//! the rows stay few: each row carries one probe value *per feature* (the
//! feature's values are shuffled so that rows mix them), and the number of
//! rows is the longest feature's list, not the number of splits. Features
//! whose list is exhausted take the values of the base rows.

use crate::ir::thresholds::{f32_at_or_above, f32_at_or_below};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::ir::{CategoryRule, Forest, MAX_CATEGORY, ZERO_THRESHOLD};
use crate::predict::ShapeError;
use crate::rng::SplitMix;
use crate::runtime::ElementType;

/// Probe values per feature, and how many thresholds they cover.
#[derive(Clone, Debug, Default)]
pub struct Probes {
    /// Per feature, its distinct probe values (shuffled).
    pub values: Vec<Vec<f64>>,
    /// Distinct `(feature, threshold)` pairs of numeric splits covered.
    pub thresholds: usize,
    /// Distinct `(feature, category)` pairs of categorical splits covered.
    pub categories: usize,
}

impl Probes {
    /// The probe values of `forest` for a model whose input is `input`
    /// (float or double).
    pub fn new(forest: &Forest, input: ElementType) -> Probes {
        Probes::sampled(forest, input, usize::MAX)
    }

    /// [`Probes::new`] probing at most `max_thresholds` thresholds per
    /// feature, evenly spread over its sorted thresholds (the lowest and the
    /// highest always among them); NaN, categories and the zero band are
    /// always probed. For a bounded end-to-end check next to the
    /// structural one ([`super::structure`]), which covers every threshold.
    pub fn sampled(forest: &Forest, input: ElementType, max_thresholds: usize) -> Probes {
        let double = input == ElementType::Double;
        let n = forest.n_features;
        // Per feature: thresholds of numeric splits, categories of
        // categorical ones; gathered tree by tree in parallel.
        let (mut thresholds, mut categories) = forest
            .trees
            .par_iter()
            .fold(
                || (vec![Vec::new(); n], vec![Vec::new(); n]),
                |(mut th, mut cat), tree| {
                    let c = &tree.categories;
                    let mut k = 0;
                    for i in 0..tree.n_nodes() {
                        while c.nodes.get(k).is_some_and(|&node| (node as usize) < i) {
                            k += 1;
                        }
                        let f = tree.feature[i] as usize;
                        if tree.is_leaf(i) || f >= n {
                            continue;
                        }
                        if c.nodes.get(k) == Some(&(i as u32)) {
                            let (a, b) = (c.offsets.get(k), c.offsets.get(k + 1));
                            if let (Some(&a), Some(&b)) = (a, b) {
                                let set = c.categories.get(a as usize..b as usize);
                                cat[f].extend_from_slice(set.unwrap_or_default());
                            }
                        } else {
                            th[f].push(tree.threshold[i]);
                        }
                    }
                    (th, cat)
                },
            )
            .reduce(
                || (vec![Vec::new(); n], vec![Vec::new(); n]),
                |(mut a, mut b), (c, d)| {
                    for (x, y) in a.iter_mut().zip(c) {
                        x.extend(y);
                    }
                    for (x, y) in b.iter_mut().zip(d) {
                        x.extend(y);
                    }
                    (a, b)
                },
            );
        let zero_band = &forest.input.zero_as_missing;
        let rule = forest.input.categories;
        let per_feature: Vec<(Vec<f64>, usize, usize)> = thresholds
            .par_iter_mut()
            .zip(categories.par_iter_mut())
            .enumerate()
            .map(|(f, (th, cat))| {
                th.retain(|t| !t.is_nan());
                th.sort_unstable_by(f64::total_cmp);
                th.dedup();
                if th.len() > max_thresholds {
                    let (len, keep) = (th.len(), max_thresholds.max(2));
                    *th = (0..keep).map(|q| th[q * (len - 1) / (keep - 1)]).collect();
                }
                cat.sort_unstable();
                cat.dedup();
                let mut values = Vec::with_capacity(th.len() * if double { 5 } else { 4 } + 1);
                for &t in th.iter() {
                    if double {
                        double_probes(t, &mut values);
                    } else {
                        float_probes(t, &mut values);
                    }
                }
                category_probes(cat, rule, &mut values);
                if zero_band.binary_search(&(f as u32)).is_ok() {
                    zero_band_probes(&mut values);
                }
                if !th.is_empty() || !cat.is_empty() || zero_band.contains(&(f as u32)) {
                    values.push(f64::NAN);
                }
                if !double {
                    // The model reads float32: keep what it can see.
                    values.iter_mut().for_each(|v| *v = f64::from(*v as f32));
                }
                values.sort_unstable_by(f64::total_cmp);
                values.dedup_by(|a, b| a.to_bits() == b.to_bits());
                let mut rng = SplitMix(0x5EED ^ f as u64);
                for i in (1..values.len()).rev() {
                    values.swap(i, rng.below(i + 1));
                }
                (values, th.len(), cat.len())
            })
            .collect();
        let mut probes = Probes::default();
        for (values, t, c) in per_feature {
            probes.values.push(values);
            probes.thresholds += t;
            probes.categories += c;
        }
        probes
    }

    /// Rows needed to use every probe value once: the longest feature list.
    pub fn n_rows(&self) -> usize {
        self.values.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// Row `r` of the probe rows: feature `f` takes its `r`-th value, or,
    /// once its values are used up, the value of base row `r % base.nrows()`
    /// (its `r`-th value again, cyclically, when there is no base row).
    pub fn fill_row(&self, r: usize, base: ArrayView2<'_, f64>, out: &mut [f64]) {
        for (f, (slot, values)) in out.iter_mut().zip(&self.values).enumerate() {
            *slot = if let Some(&v) = values.get(r) {
                v
            } else if base.nrows() > 0 {
                base[[r % base.nrows(), f]]
            } else if values.is_empty() {
                0.0
            } else {
                values[r % values.len()]
            };
        }
    }
}

/// Probes of a threshold `t` for float32 inputs: the float32 values either
/// side of `t` and one float32 step beyond each.
fn float_probes(t: f64, out: &mut Vec<f64>) {
    let (below, above) = (f32_at_or_below(t), f32_at_or_above(t));
    for v in [below.next_down(), below, above, above.next_up()] {
        out.push(f64::from(v));
    }
}

/// Probes of a threshold `t` for f64 inputs: `t`, one ulp either side, and
/// the f64 values halfway between `t` and the float32 values around it,
/// which a float32 input cannot represent (and a float model misroutes).
fn double_probes(t: f64, out: &mut Vec<f64>) {
    out.extend([t, t.next_down(), t.next_up()]);
    if !t.is_finite() {
        return;
    }
    let x = t as f32;
    let (below, above) = if f64::from(x) > t {
        (x.next_down(), x)
    } else if f64::from(x) < t {
        (x, x.next_up())
    } else {
        (x.next_down(), x.next_up())
    };
    for v in [f64::from(below), f64::from(above)] {
        let mid = (v + t) / 2.0;
        if mid.is_finite() && mid != t && mid != v {
            out.push(mid);
        }
    }
}

/// Probes of a categorical feature: each category seen, the values around
/// it (fractional, and the truncation edge of negative values), unseen and
/// out-of-range categories, negative values.
fn category_probes(seen: &[u32], rule: CategoryRule, out: &mut Vec<f64>) {
    if seen.is_empty() {
        return;
    }
    for &c in seen {
        let c = f64::from(c);
        out.extend([c, c + 0.5, c - 0.5, c + 0.999]);
    }
    let max = f64::from(*seen.last().expect("not empty"));
    out.extend([
        max + 1.0,
        max + 2.0,
        -1.0,
        -0.5,
        -0.0,
        -1e-300,
        -2.0,
        f64::from(MAX_CATEGORY),
        f64::from(MAX_CATEGORY) + 1.0,
        1e30,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ]);
    if rule == CategoryRule::TowardZero {
        // −0.99 truncates to category 0 under this rule.
        out.push(-0.99);
    }
}

/// Probes of a zero-as-missing feature: the edges of the zero band.
fn zero_band_probes(out: &mut Vec<f64>) {
    let z = ZERO_THRESHOLD;
    out.extend([
        0.0,
        -0.0,
        z,
        -z,
        z.next_up(),
        -z.next_up(),
        z.next_down(),
        1e-36,
        -1e-36,
    ]);
}

/// Rows that probe every split of `forest` (see the module documentation)
/// for a model whose input is `input`, built on the rows of `base`, at
/// most `max_rows` of them (`usize::MAX`: all, so that every threshold is
/// covered; fewer take every k-th row).
///
/// Fails when `base` does not have one column per feature of `forest`.
pub fn adversarial_rows(
    forest: &Forest,
    input: ElementType,
    base: ArrayView2<'_, f64>,
    max_rows: usize,
) -> Result<Array2<f64>, ShapeError> {
    if base.ncols() != forest.n_features {
        return Err(ShapeError {
            expected: forest.n_features,
            got: base.ncols(),
        });
    }
    let probes = Probes::new(forest, input);
    Ok(probe_rows(&probes, base, max_rows))
}

/// The rows of `probes` on `base`, at most `max_rows` (evenly sampled).
pub fn probe_rows(probes: &Probes, base: ArrayView2<'_, f64>, max_rows: usize) -> Array2<f64> {
    let total = probes.n_rows();
    let step = total.div_ceil(max_rows.max(1)).max(1);
    let n = total.div_ceil(step);
    let width = probes.values.len();
    let mut out = Array2::<f64>::zeros((n, width));
    if width > 0 {
        out.as_slice_mut()
            .expect("a fresh array is contiguous")
            .par_chunks_mut(width)
            .enumerate()
            .for_each(|(i, row)| probes.fill_row(i * step, base, row));
    }
    out
}

/// `x` followed by [`adversarial_rows`] built on it (at most `max_extra`).
pub fn with_adversarial_rows(
    forest: &Forest,
    input: ElementType,
    x: ArrayView2<'_, f64>,
    max_extra: usize,
) -> Result<Array2<f64>, ShapeError> {
    let extra = adversarial_rows(forest, input, x, max_extra)?;
    let mut all = Array2::zeros((x.nrows() + extra.nrows(), forest.n_features));
    all.slice_mut(ndarray::s![..x.nrows(), ..]).assign(&x);
    all.slice_mut(ndarray::s![x.nrows().., ..]).assign(&extra);
    Ok(all)
}
