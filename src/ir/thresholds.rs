//! Float32 thresholds that keep every float32 split decision of an f64 tree.
//!
//! ONNX files exported in float precision compare float32 inputs with float32
//! thresholds. A split `x <= t` with an f64 threshold `t` keeps its meaning
//! for every float32 `x` when `t` is rounded *down* to the largest float32
//! not above it; a split `x < t` when `t` is rounded *up*. The exporter
//! writes these thresholds and validation puts its adversarial rows on them,
//! so both use this module.

use crate::ir::SplitOp;

/// Largest float32 not above `t`: for every float32 `x`, `x <= t` iff `x <= result`.
pub fn f32_at_or_below(t: f64) -> f32 {
    let nearest = t as f32;
    if f64::from(nearest) > t {
        nearest.next_down()
    } else {
        nearest
    }
}

/// Smallest float32 not below `t`: for every float32 `x`, `x < t` iff `x < result`.
pub fn f32_at_or_above(t: f64) -> f32 {
    let nearest = t as f32;
    if f64::from(nearest) < t {
        nearest.next_up()
    } else {
        nearest
    }
}

/// The float32 threshold that makes the ONNX comparison equal the f64 one.
pub fn onnx_threshold(t: f64, split_op: SplitOp) -> f32 {
    match split_op {
        SplitOp::LessOrEqual => f32_at_or_below(t),
        SplitOp::Less => f32_at_or_above(t),
    }
}

/// `a` if `c`, else `b`, without a branch.
#[inline(always)]
pub(crate) fn select_f32(c: bool, a: f32, b: f32) -> f32 {
    let mask = u32::from(c).wrapping_neg();
    f32::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask))
}

/// [`f32_at_or_below`] without the unpredictable branch (for encoding loops
/// over millions of thresholds).
#[inline(always)]
pub(crate) fn f32_at_or_below_fast(t: f64) -> f32 {
    let nearest = t as f32;
    select_f32(f64::from(nearest) > t, nearest.next_down(), nearest)
}

/// [`f32_at_or_above`] without the unpredictable branch.
#[inline(always)]
pub(crate) fn f32_at_or_above_fast(t: f64) -> f32 {
    let nearest = t as f32;
    select_f32(f64::from(nearest) < t, nearest.next_up(), nearest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_round_towards_the_kept_side() {
        for t in [0.1f64, -0.1, 1e-40, 3.4e38, 1e300, -1e300, 2.5, 0.0] {
            let d = f32_at_or_below(t);
            assert!(f64::from(d) <= t, "{t}");
            assert!(f64::from(d.next_up()) > t, "{t}");
            let u = f32_at_or_above(t);
            assert!(f64::from(u) >= t, "{t}");
            assert!(f64::from(u.next_down()) < t, "{t}");
        }
    }

    #[test]
    fn branch_free_rounding_matches_the_reference() {
        let mut rng = crate::rng::SplitMix(3);
        let mut values = vec![
            0.0,
            -0.0,
            1e-46,
            -1e-46,
            1e-40,
            -1e-40,
            f64::from(f32::MAX),
            f64::from(f32::MAX) * 1.000001,
            -f64::from(f32::MAX) * 1.000001,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
            0.1,
            -0.1,
            2.5,
        ];
        for _ in 0..100_000 {
            let scale = [1e-40, 1e-3, 1.0, 1e6, 1e38][rng.below(5)];
            values.push((rng.unit() - 0.5) * scale);
            values.push(
                f64::from_bits(rng.next_u64() >> 1) * if rng.below(2) == 0 { 1.0 } else { -1.0 },
            );
        }
        for t in values.into_iter().filter(|t| !t.is_nan()) {
            assert_eq!(
                f32_at_or_below_fast(t).to_bits(),
                f32_at_or_below(t).to_bits(),
                "{t}"
            );
            assert_eq!(
                f32_at_or_above_fast(t).to_bits(),
                f32_at_or_above(t).to_bits(),
                "{t}"
            );
        }
    }
}
