//! Exact PMML predicates for the IR's splits, as a double-precision PMML
//! evaluator must see them.
//!
//! PMML compares the raw double input with the predicate's value. The IR
//! may first round inputs to float32 ([`Precision::F32`]), read categories
//! by truncation, and treat a band around zero as missing. Every such test
//! is monotone in `x`, so each becomes a comparison of the *raw* double with
//! an adjusted bound that gives the same answer for every f64 input: e.g.
//! `f32(x) <= t` holds exactly when `x <= B`, `B` being the largest double
//! whose float32 rounding is at most `t`.

use crate::ir::{CategoryRule, Precision, SplitOp, ZERO_THRESHOLD};

/// A comparison operator of a PMML `SimplePredicate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Le,
    Lt,
    Gt,
    Ge,
}

impl Op {
    /// The PMML spelling.
    pub(crate) fn pmml(self) -> &'static str {
        match self {
            Op::Le => "lessOrEqual",
            Op::Lt => "lessThan",
            Op::Gt => "greaterThan",
            Op::Ge => "greaterOrEqual",
        }
    }
}

/// A PMML predicate on the (double) input fields, true or false for every
/// non-missing input. A missing input makes every comparison unknown, which
/// the trees we write treat as false (`missingValueStrategy="none"`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Pred {
    True,
    False,
    /// `x` is not missing: true for every number.
    NotMissing(u32),
    /// `x op value`, with a finite value.
    Cmp(u32, Op, f64),
    And(Vec<Pred>),
    Or(Vec<Pred>),
}

impl Pred {
    fn and(a: Pred, b: Pred) -> Pred {
        match (a, b) {
            (Pred::False, _) | (_, Pred::False) => Pred::False,
            // `NotMissing` is implied by any comparison on the same field;
            // our fields are only ever compared with themselves here.
            (Pred::True | Pred::NotMissing(_), p) | (p, Pred::True | Pred::NotMissing(_)) => p,
            (a, b) => Pred::And(vec![a, b]),
        }
    }

    fn or(parts: Vec<Pred>) -> Pred {
        let mut kept: Vec<Pred> = Vec::with_capacity(parts.len());
        for p in parts {
            match p {
                Pred::False => {}
                Pred::True | Pred::NotMissing(_) => return p,
                p => kept.push(p),
            }
        }
        match kept.len() {
            0 => Pred::False,
            1 => kept.pop().expect("one part"),
            _ => Pred::Or(kept),
        }
    }
}

/// The set `{x : read(x) op t}` of non-missing doubles, where `read` is the
/// identity or float32 rounding: always a down-set of the doubles.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cut {
    /// Every number.
    All,
    /// No number.
    Nothing,
    /// `x op v` with `op` [`Op::Le`] or [`Op::Lt`] and `v` finite.
    Below(Op, f64),
}

impl Cut {
    /// `{x : read(x) op t}` for the split comparison `op`.
    fn new(op: SplitOp, t: f64, precision: Precision) -> Cut {
        match precision {
            Precision::F64 => match op {
                SplitOp::LessOrEqual if t == f64::INFINITY => Cut::All,
                // x <= -inf holds for -inf alone, i.e. below -f64::MAX.
                SplitOp::LessOrEqual if t == f64::NEG_INFINITY => Cut::Below(Op::Lt, -f64::MAX),
                SplitOp::LessOrEqual => Cut::Below(Op::Le, t),
                SplitOp::Less if t == f64::NEG_INFINITY => Cut::Nothing,
                SplitOp::Less if t == f64::INFINITY => Cut::Below(Op::Le, f64::MAX),
                SplitOp::Less => Cut::Below(Op::Lt, t),
            },
            Precision::F32 => {
                let Some(g) = largest_f32(op, t) else {
                    return Cut::Nothing;
                };
                if g == f32::INFINITY {
                    return Cut::All;
                }
                let b = largest_double_rounding_to_at_most(g);
                // Keep the source's comparison: `x < next_up(b)` reads like
                // the XGBoost split it is, and is the same set as `x <= b`.
                match op {
                    SplitOp::LessOrEqual => Cut::Below(Op::Le, b),
                    SplitOp::Less if b == f64::MAX => Cut::Below(Op::Le, b),
                    SplitOp::Less => Cut::Below(Op::Lt, b.next_up()),
                }
            }
        }
    }

    /// The predicate true exactly on the cut.
    fn below(self, field: u32) -> Pred {
        match self {
            Cut::All => Pred::NotMissing(field),
            Cut::Nothing => Pred::False,
            Cut::Below(op, v) => Pred::Cmp(field, op, v),
        }
    }

    /// The predicate true exactly on the numbers outside the cut.
    fn above(self, field: u32) -> Pred {
        match self {
            Cut::All => Pred::False,
            Cut::Nothing => Pred::NotMissing(field),
            Cut::Below(Op::Le, v) => Pred::Cmp(field, Op::Gt, v),
            Cut::Below(_, v) => Pred::Cmp(field, Op::Ge, v),
        }
    }
}

/// The largest float32 `g` with `g op t` (`None` when there is none); may be
/// infinite.
fn largest_f32(op: SplitOp, t: f64) -> Option<f32> {
    if op == SplitOp::Less && t == f64::NEG_INFINITY {
        return None;
    }
    let g = t as f32;
    let too_big = match op {
        SplitOp::LessOrEqual => f64::from(g) > t,
        SplitOp::Less => f64::from(g) >= t,
    };
    Some(if too_big { g.next_down() } else { g })
}

/// The largest double `x` whose float32 rounding (round to nearest, ties to
/// even, overflowing to infinity) is at most the float32 `g < +inf`.
fn largest_double_rounding_to_at_most(g: f32) -> f64 {
    let h = g.next_up();
    // The midpoint between g and the next float32 is exact in f64 (25
    // significant bits); past f32::MAX the rounding boundary is half an ulp
    // of f32::MAX above it (2^128 - 2^103).
    let mid = if g == f32::NEG_INFINITY {
        -(f64::from(f32::MAX) + 2f64.powi(103))
    } else if h == f32::INFINITY {
        f64::from(f32::MAX) + 2f64.powi(103)
    } else {
        (f64::from(g) + f64::from(h)) / 2.0
    };
    if (mid as f32) <= g {
        mid
    } else {
        mid.next_down()
    }
}

/// How the forest reads its inputs, as far as predicates care.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reading {
    pub(crate) precision: Precision,
    pub(crate) categories: CategoryRule,
}

impl Reading {
    /// True exactly when the numeric split `x op t` holds.
    pub(crate) fn split(self, field: u32, op: SplitOp, t: f64) -> Pred {
        Cut::new(op, t, self.precision).below(field)
    }

    /// True exactly when the numeric split `x op t` fails (for a number).
    pub(crate) fn split_fails(self, field: u32, op: SplitOp, t: f64) -> Pred {
        Cut::new(op, t, self.precision).above(field)
    }

    /// True exactly when `x` reads as one of `categories` (ascending).
    pub(crate) fn in_categories(self, field: u32, categories: &[u32]) -> Pred {
        let runs = self.runs(categories);
        Pred::or(
            runs.iter()
                .map(|&(lo, hi)| Pred::and(lo.above(field), hi.below(field)))
                .collect(),
        )
    }

    /// True exactly when the number `x` reads as none of `categories`.
    pub(crate) fn not_in_categories(self, field: u32, categories: &[u32]) -> Pred {
        let runs = self.runs(categories);
        if runs.is_empty() {
            return Pred::NotMissing(field);
        }
        // The gaps between the intervals, and the two open ends.
        let mut parts = Vec::with_capacity(runs.len() + 1);
        parts.push(runs[0].0.below(field));
        for w in runs.windows(2) {
            parts.push(Pred::and(w[0].1.above(field), w[1].0.below(field)));
        }
        parts.push(runs[runs.len() - 1].1.above(field));
        Pred::or(parts)
    }

    /// The categories as intervals of inputs: each run `a..=b` of consecutive
    /// categories holds the `x` above the first cut and within the second
    /// (`read(x) >= a`, or `> -1` for category 0 under truncation toward
    /// zero, and `read(x) < b + 1`).
    fn runs(self, categories: &[u32]) -> Vec<(Cut, Cut)> {
        let mut runs = Vec::new();
        let mut i = 0;
        while i < categories.len() {
            let a = categories[i];
            let mut b = a;
            while i + 1 < categories.len() && categories[i + 1] == b + 1 {
                i += 1;
                b += 1;
            }
            i += 1;
            let lo = if a == 0 && self.categories == CategoryRule::TowardZero {
                Cut::new(SplitOp::LessOrEqual, -1.0, self.precision)
            } else {
                Cut::new(SplitOp::Less, f64::from(a), self.precision)
            };
            let hi = Cut::new(SplitOp::Less, f64::from(b) + 1.0, self.precision);
            runs.push((lo, hi));
        }
        runs
    }

    /// True exactly when `x` is outside the zero band that zero-as-missing
    /// features treat as missing (`|read(x)| <= ZERO_THRESHOLD`).
    pub(crate) fn outside_zero_band(self, field: u32) -> Pred {
        Pred::or(vec![
            Cut::new(SplitOp::Less, -ZERO_THRESHOLD, self.precision).below(field),
            Cut::new(SplitOp::LessOrEqual, ZERO_THRESHOLD, self.precision).above(field),
        ])
    }

    /// [`Pred::and`] for callers.
    pub(crate) fn both(a: Pred, b: Pred) -> Pred {
        Pred::and(a, b)
    }
}

/// Evaluates `p` on one row as a PMML evaluator would (missing = NaN makes
/// comparisons false); for tests.
#[cfg(test)]
pub(crate) fn eval(p: &Pred, row: &[f64]) -> bool {
    match p {
        Pred::True => true,
        Pred::False => false,
        Pred::NotMissing(f) => !row[*f as usize].is_nan(),
        Pred::Cmp(f, op, v) => {
            let x = row[*f as usize];
            match op {
                Op::Le => x <= *v,
                Op::Lt => x < *v,
                Op::Gt => x > *v,
                Op::Ge => x >= *v,
            }
        }
        Pred::And(ps) => ps.iter().all(|p| eval(p, row)),
        Pred::Or(ps) => ps.iter().any(|p| eval(p, row)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::category_of;
    use crate::rng::SplitMix;

    fn read(x: f64, precision: Precision) -> f64 {
        match precision {
            Precision::F32 => f64::from(x as f32),
            Precision::F64 => x,
        }
    }

    /// Doubles around `v`: v itself, a few ulps either side, and the
    /// neighbours of v's float32 rounding and of the float32 midpoints.
    fn around(v: f64) -> Vec<f64> {
        let mut xs = vec![v];
        let mut up = v;
        let mut down = v;
        for _ in 0..3 {
            up = up.next_up();
            down = down.next_down();
            xs.extend([up, down]);
        }
        let g = v as f32;
        for h in [g, g.next_up(), g.next_down()] {
            let h = f64::from(h);
            if h.is_finite() {
                xs.extend([h, h.next_up(), h.next_down()]);
            }
            for m in [(h + f64::from(g)) / 2.0, (h + f64::from(g.next_up())) / 2.0] {
                if m.is_finite() {
                    xs.extend([m, m.next_up(), m.next_down()]);
                }
            }
        }
        xs.retain(|x| !x.is_nan());
        xs
    }

    fn special_thresholds() -> Vec<f64> {
        let mut ts = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            0.1,
            f64::from(f32::MAX),
            -f64::from(f32::MAX),
            f64::from(f32::MAX) + 2f64.powi(103),
            -(f64::from(f32::MAX) + 2f64.powi(103)),
            f64::from(f32::MAX) * 2.0,
            f64::MAX,
            -f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from(f32::MIN_POSITIVE),
            f64::from(f32::from_bits(1)),
            f64::from(f32::from_bits(1)) / 2.0,
            -f64::from(f32::from_bits(1)) / 2.0,
            ZERO_THRESHOLD,
            16_777_217.0,
            2_147_483_648.0,
        ];
        let mut rng = SplitMix(7);
        for _ in 0..300 {
            ts.push((rng.unit() - 0.5) * 10f64.powi(rng.below(40) as i32 - 20));
            ts.push(f64::from(f32::from_bits(rng.next_u64() as u32)));
        }
        ts.retain(|t| !t.is_nan());
        ts
    }

    #[test]
    fn numeric_splits_are_exact_for_every_double() {
        for precision in [Precision::F32, Precision::F64] {
            let r = Reading {
                precision,
                categories: CategoryRule::NonNegative,
            };
            for t in special_thresholds() {
                for op in [SplitOp::LessOrEqual, SplitOp::Less] {
                    let yes = r.split(0, op, t);
                    let no = r.split_fails(0, op, t);
                    let mut xs = around(t);
                    xs.extend(around(f64::from(t as f32)));
                    xs.extend([f64::INFINITY, f64::NEG_INFINITY, f64::MAX, -f64::MAX]);
                    for x in xs {
                        let v = read(x, precision);
                        let want = match op {
                            SplitOp::LessOrEqual => v <= t,
                            SplitOp::Less => v < t,
                        };
                        assert_eq!(
                            eval(&yes, &[x]),
                            want,
                            "{precision:?} {op:?} t={t:e} x={x:e}"
                        );
                        assert_eq!(
                            eval(&no, &[x]),
                            !want,
                            "{precision:?} {op:?} t={t:e} x={x:e}"
                        );
                    }
                    assert!(!eval(&yes, &[f64::NAN]) && !eval(&no, &[f64::NAN]));
                }
            }
        }
    }

    #[test]
    fn category_sets_are_exact_intervals() {
        let sets: [&[u32]; 6] = [
            &[],
            &[0],
            &[0, 1, 2, 5, 7, 8],
            &[3],
            &[16_777_216, 16_777_217, 16_777_219],
            &[crate::ir::MAX_CATEGORY - 1, crate::ir::MAX_CATEGORY],
        ];
        for precision in [Precision::F32, Precision::F64] {
            for rule in [CategoryRule::NonNegative, CategoryRule::TowardZero] {
                let r = Reading {
                    precision,
                    categories: rule,
                };
                for set in sets {
                    let yes = r.in_categories(0, set);
                    let no = r.not_in_categories(0, set);
                    let mut xs = vec![
                        -1.0,
                        -0.99,
                        -0.5,
                        -0.0,
                        0.0,
                        0.5,
                        1.0,
                        2.999,
                        3.0,
                        6.5,
                        -2.0,
                        1e300,
                        -1e300,
                        f64::INFINITY,
                        f64::NEG_INFINITY,
                    ];
                    for &c in set.iter() {
                        for v in [c as f64, c as f64 + 1.0, c as f64 - 1.0] {
                            xs.extend(around(v));
                        }
                    }
                    xs.extend(around(2_147_483_648.0));
                    for x in xs {
                        let v = read(x, precision);
                        let want =
                            category_of(v, rule).is_some_and(|c| set.binary_search(&c).is_ok());
                        assert_eq!(
                            eval(&yes, &[x]),
                            want,
                            "{precision:?} {rule:?} {set:?} x={x:e}"
                        );
                        assert_eq!(
                            eval(&no, &[x]),
                            !want,
                            "{precision:?} {rule:?} {set:?} x={x:e}"
                        );
                    }
                    assert!(!eval(&yes, &[f64::NAN]) && !eval(&no, &[f64::NAN]));
                }
            }
        }
    }

    #[test]
    fn zero_band_is_exact() {
        for precision in [Precision::F32, Precision::F64] {
            let r = Reading {
                precision,
                categories: CategoryRule::NonNegative,
            };
            let p = r.outside_zero_band(0);
            let mut xs = around(ZERO_THRESHOLD);
            xs.extend(around(-ZERO_THRESHOLD));
            xs.extend([0.0, -0.0, 1.0, -1.0, 1e-40, -1e-40]);
            for x in xs {
                let want = read(x, precision).abs() > ZERO_THRESHOLD;
                assert_eq!(eval(&p, &[x]), want, "{precision:?} x={x:e}");
            }
        }
    }
}
