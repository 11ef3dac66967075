//! Class labels: the one label type shared by models, predictions and files.

use serde::{Deserialize, Serialize};

/// A list of class labels: a model's classes in class-index order, or one
/// predicted label per row. Labels keep the type the source library had, and
/// print as that library prints them ([`Labels::display`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Labels {
    /// Integer labels, e.g. `[-1, 3, 7]`.
    Int(Vec<i64>),
    /// Floating-point labels (scikit-learn `classes_` of a float dtype), e.g.
    /// `[0.5, 2.0]`; NaN is a label like any other.
    Float(Vec<f64>),
    /// String labels, e.g. `["setosa", "versicolor"]`.
    Str(Vec<String>),
}

impl Labels {
    /// Number of labels.
    pub fn len(&self) -> usize {
        match self {
            Labels::Int(v) => v.len(),
            Labels::Float(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Label `index` as text, spelled as Python prints it (`2.0`, `nan`,
    /// `1e+20` for floats), so that files written by forest2onnx read like
    /// the source library's own output. Panics if `index` is out of range.
    pub fn display(&self, index: usize) -> String {
        match self {
            Labels::Int(v) => v[index].to_string(),
            Labels::Float(v) => python_float(v[index]),
            Labels::Str(v) => v[index].clone(),
        }
    }

    /// Every label as text ([`Labels::display`]).
    pub fn to_strings(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.display(i)).collect()
    }

    /// Label `index` as a JSON value (a number or a string; NaN and
    /// infinities, which JSON cannot hold, become null). Panics if `index` is
    /// out of range.
    pub fn json(&self, index: usize) -> serde_json::Value {
        match self {
            Labels::Int(v) => v[index].into(),
            Labels::Float(v) => v[index].into(),
            Labels::Str(v) => v[index].clone().into(),
        }
    }

    /// The labels at `indices` (class indices into `self`), e.g. one predicted
    /// label per row. Panics if an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Labels {
        match self {
            Labels::Int(v) => Labels::Int(indices.iter().map(|&i| v[i]).collect()),
            Labels::Float(v) => Labels::Float(indices.iter().map(|&i| v[i]).collect()),
            Labels::Str(v) => Labels::Str(indices.iter().map(|&i| v[i].clone()).collect()),
        }
    }

    /// Whether label `i` of `self` equals label `j` of `other` (same type and
    /// value; float labels compare bit for bit, so NaN equals NaN).
    pub fn same(&self, i: usize, other: &Labels, j: usize) -> bool {
        match (self, other) {
            (Labels::Int(a), Labels::Int(b)) => a[i] == b[j],
            (Labels::Float(a), Labels::Float(b)) => a[i].to_bits() == b[j].to_bits(),
            (Labels::Str(a), Labels::Str(b)) => a[i] == b[j],
            _ => false,
        }
    }

    /// The first label that appears twice, as text.
    pub(crate) fn first_duplicate(&self) -> Option<String> {
        fn dup<T: Ord + Clone>(v: &[T]) -> Option<T> {
            let mut sorted = v.to_vec();
            sorted.sort();
            sorted
                .windows(2)
                .find(|w| w[0] == w[1])
                .map(|w| w[0].clone())
        }
        match self {
            Labels::Int(v) => dup(v).map(|x| x.to_string()),
            Labels::Float(v) => {
                let bits: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
                dup(&bits).map(|b| python_float(f64::from_bits(b)))
            }
            Labels::Str(v) => dup(v),
        }
    }
}

/// `x` as Python's `repr(float)` spells it: the shortest decimal that reads
/// back to `x`, in positional notation with at least one decimal when the
/// decimal exponent is in `-4..16`, else in scientific notation with a signed
/// exponent of at least two digits.
pub fn python_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` is the shortest round-trip form: `d.ddde±x`.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let (int, frac) = if point <= 0 {
            ("0".to_string(), "0".repeat((-point) as usize) + &digits)
        } else if point as usize >= digits.len() {
            (
                digits.clone() + &"0".repeat(point as usize - digits.len()),
                String::new(),
            )
        } else {
            (
                digits[..point as usize].to_string(),
                digits[point as usize..].to_string(),
            )
        };
        let frac = if frac.is_empty() {
            "0".to_string()
        } else {
            frac
        };
        format!("{sign}{int}.{frac}")
    } else {
        let frac = &digits[1..];
        let mantissa = if frac.is_empty() {
            digits[..1].to_string()
        } else {
            format!("{}.{frac}", &digits[..1])
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_repr() {
        let cases = [
            (2.0, "2.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1.5e-7, "1.5e-07"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e20, "1.2345e+20"),
            (-3.0, "-3.0"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (x, want) in cases {
            assert_eq!(python_float(x), want, "{x:e}");
        }
    }

    #[test]
    fn float_labels_compare_bitwise_and_find_duplicates() {
        let l = Labels::Float(vec![f64::NAN, 2.0, f64::NAN]);
        assert!(l.same(0, &l, 2));
        assert_eq!(l.first_duplicate().as_deref(), Some("nan"));
        assert_eq!(l.display(1), "2.0");
        assert!(!Labels::Int(vec![2]).same(0, &Labels::Float(vec![2.0]), 0));
    }
}
