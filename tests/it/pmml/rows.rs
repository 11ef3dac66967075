//! Adversarial rows: on every sampled split threshold (t, t ± 1 ulp, the
//! float32 rounding boundaries), NaN, category and zero-band values.

use super::*;

/// Whether the read row goes to the true child at internal node `i`.
pub(crate) fn goes_true(f: &Forest, t: &Tree, i: usize, x: &[f64]) -> bool {
    let v = x[t.feature[i] as usize];
    if v.is_nan() {
        return t.missing_true[i];
    }
    match t.categories.of(i as u32) {
        Some(set) => {
            category_of(v, f.input.categories).is_some_and(|c| set.binary_search(&c).is_ok())
        }
        None => match f.split_op {
            SplitOp::LessOrEqual => v <= t.threshold[i],
            SplitOp::Less => v < t.threshold[i],
        },
    }
}

pub(crate) fn read_row(f: &Forest, row: &[f64]) -> Vec<f64> {
    let mut r = row.to_vec();
    read_inputs(&f.input, &mut r, f.n_features);
    r
}

/// A value of feature `t.feature[i]` that sends rows to the `want` child
/// of numeric or categorical node `i`.
pub(crate) fn steer(f: &Forest, t: &Tree, i: usize, want: bool) -> f64 {
    if let Some(set) = t.categories.of(i as u32) {
        return match (want, set.first()) {
            (true, Some(&c)) => f64::from(c),
            _ => -1.0,
        };
    }
    let th = t.threshold[i];
    let f32_side = |below: bool| -> f64 {
        let g = th as f32;
        let g = if below {
            if f64::from(g) > th || (f.split_op == SplitOp::Less && f64::from(g) >= th) {
                g.next_down()
            } else {
                g
            }
        } else if f64::from(g) < th || (f.split_op == SplitOp::LessOrEqual && f64::from(g) <= th) {
            g.next_up()
        } else {
            g
        };
        f64::from(g)
    };
    match (f.input.precision, f.split_op, want) {
        (Precision::F32, _, w) => f32_side(w),
        (Precision::F64, SplitOp::LessOrEqual, true) => th,
        (Precision::F64, SplitOp::LessOrEqual, false) => th.next_up(),
        (Precision::F64, SplitOp::Less, true) => th.next_down(),
        (Precision::F64, SplitOp::Less, false) => th,
    }
}

/// A row that reaches node `node` of `t` (starting from `base`), if found.
pub(crate) fn path_row(
    f: &Forest,
    t: &Tree,
    parents: &[u32],
    node: usize,
    base: &[f64],
) -> Option<Vec<f64>> {
    let mut path = vec![node];
    let mut at = node;
    while at != 0 {
        at = parents[at] as usize;
        path.push(at);
    }
    path.reverse();
    let mut row = base.to_vec();
    for w in path.windows(2) {
        let (a, child) = (w[0], w[1]);
        let want = t.children(a).is_some_and(|(yes, _)| yes as usize == child);
        if goes_true(f, t, a, &read_row(f, &row)) != want {
            row[t.feature[a] as usize] = steer(f, t, a, want);
        }
    }
    let read = read_row(f, &row);
    path.windows(2)
        .all(|w| {
            let yes = t.children(w[0]).map(|(yes, _)| yes as usize);
            goes_true(f, t, w[0], &read) == (yes == Some(w[1]))
        })
        .then_some(row)
}

/// Values that probe node `i`: the threshold, one ulp either side, the
/// float32 rounding boundaries, NaN, category values, zero-band values.
pub(crate) fn probes(f: &Forest, t: &Tree, i: usize) -> Vec<f64> {
    let mut v = vec![f64::NAN];
    if let Some(set) = t.categories.of(i as u32) {
        v.extend([-0.5, -1.0, -1.5, -0.0, 0.999_999_999, 1e10]);
        for &c in set.iter().take(6) {
            let c = f64::from(c);
            v.extend([
                c,
                c + 0.5,
                (c + 1.0).next_down(),
                c - 0.5,
                c.next_down(),
                c + 1.0,
            ]);
        }
    } else {
        let th = t.threshold[i];
        if th.is_finite() {
            v.extend([th, th.next_up(), th.next_down()]);
        }
        let g = th as f32;
        for (a, b) in [(g.next_down(), g), (g, g.next_up())] {
            let m = (f64::from(a) + f64::from(b)) / 2.0;
            if m.is_finite() {
                v.extend([m, m.next_up(), m.next_down(), f64::from(b)]);
            }
        }
    }
    if f.input.zero_as_missing.contains(&t.feature[i]) {
        let z = ZERO_THRESHOLD;
        v.extend([0.0, -0.0, z, -z, z.next_up(), -z.next_up(), z.next_down()]);
    }
    v
}

/// Data rows, then threshold/NaN/category probes at up to `max_nodes`
/// internal nodes (spread over the trees), each on a row that reaches it.
pub(crate) fn test_rows(case: &Case, max_nodes: usize) -> Array2<f64> {
    let f = &case.forest;
    let n = f.n_features;
    let mut rows: Vec<f64> = case
        .data
        .rows()
        .into_iter()
        .take(400)
        .flatten()
        .copied()
        .collect();
    let base: Vec<f64> = case
        .data
        .rows()
        .into_iter()
        .next()
        .map(|r| r.to_vec())
        .unwrap_or_else(|| vec![0.5; n]);
    let internal: usize = f.trees.iter().map(|t| t.n_nodes() - t.n_leaves()).sum();
    let stride = internal.div_ceil(max_nodes).max(1);
    let mut k = 0;
    for t in &f.trees {
        let mut parents = vec![0u32; t.n_nodes()];
        for i in 0..t.n_nodes() {
            if let Some((yes, no)) = t.children(i) {
                parents[yes as usize] = i as u32;
                parents[no as usize] = i as u32;
            }
        }
        for i in 0..t.n_nodes() {
            if t.is_leaf(i) {
                continue;
            }
            k += 1;
            if k % stride != 0 {
                continue;
            }
            let Some(row) = path_row(f, t, &parents, i, &base) else {
                continue;
            };
            for p in probes(f, t, i) {
                let mut r = row.clone();
                r[t.feature[i] as usize] = p;
                rows.extend(r);
            }
        }
    }
    // All missing.
    rows.extend(vec![f64::NAN; n]);
    Array2::from_shape_vec((rows.len() / n, n), rows).unwrap()
}
