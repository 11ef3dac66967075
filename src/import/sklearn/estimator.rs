//! Typed access to a decoded scikit-learn estimator's attributes, and the
//! [`Context`] every family's converter gets. The families use this module;
//! [`dispatch`](super::dispatch) picks the family by the estimator class.

use std::cell::Cell;

use super::error::SklearnError;
use super::numpy::{Kind, NdArray};
use super::pickle::{Object, Value};
use crate::ir::{Labels, Source};

/// Attribute dicts of real estimators hold a few dozen entries; the cap
/// keeps attribute lookups cheap on hostile files.
const MAX_ATTRIBUTES: usize = 4096;

/// What every converter needs besides the estimator.
pub(crate) struct Context {
    /// `_sklearn_version` of the root estimator, or `unknown`.
    pub(crate) version: String,
    /// Array bytes the remaining trees may still take (see
    /// [`super::dispatch::forest_from_value`]).
    pub(crate) budget: Cell<usize>,
}

impl Context {
    /// `(major, minor)` of the scikit-learn version, when it parses.
    pub(crate) fn version(&self) -> Option<(u32, u32)> {
        parse_version(&self.version)
    }

    /// Whether the file comes from a version before `major.minor`; unknown
    /// versions count as recent.
    pub(crate) fn before(&self, major: u32, minor: u32) -> bool {
        self.version().is_some_and(|v| v < (major, minor))
    }

    /// The forest's provenance.
    pub(crate) fn source(&self, estimator: &str) -> Source {
        Source {
            library: "scikit-learn".into(),
            version: self.version.clone(),
            estimator: estimator.into(),
            details: Default::default(),
        }
    }
}

/// `(major, minor)` of a version string such as `1.4.2` or `1.4.dev0`.
pub(crate) fn parse_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .ok()
    });
    Some((parts.next()??, parts.next()??))
}

/// An estimator's state dict, with typed attribute access.
pub(crate) struct Estimator<'v, 'a> {
    /// Class name, or the path of a member (`estimators_[3]`), for messages.
    pub(crate) name: String,
    pub(crate) state: &'v Value<'a>,
}

impl<'v, 'a> Estimator<'v, 'a> {
    pub(crate) fn new(obj: &'v Object<'a>, name: String) -> Result<Self, SklearnError> {
        match &obj.state {
            Some(Value::Dict(d)) if d.len() > MAX_ATTRIBUTES => Err(SklearnError::Invalid {
                estimator: name,
                problem: format!("has {} attributes", d.len()),
            }),
            Some(state @ Value::Dict(_)) => Ok(Estimator { name, state }),
            _ => Err(SklearnError::Invalid {
                estimator: name,
                problem: "has no attribute dict (is it fitted?)".into(),
            }),
        }
    }

    /// An attribute that must be an object of one of `classes` (names).
    pub(crate) fn member(
        &self,
        v: &'v Value<'a>,
        what: &str,
        classes: &[&str],
    ) -> Result<Estimator<'v, 'a>, SklearnError> {
        let obj = v
            .as_object()
            .filter(|o| classes.contains(&o.class.name.as_str()))
            .ok_or_else(|| {
                self.invalid(format!(
                    "{what} is a {}; expected {}",
                    v.kind(),
                    classes.join(" or ")
                ))
            })?;
        Estimator::new(obj, format!("{}.{what}", self.name))
    }

    pub(crate) fn invalid(&self, problem: impl Into<String>) -> SklearnError {
        SklearnError::Invalid {
            estimator: self.name.clone(),
            problem: problem.into(),
        }
    }

    pub(crate) fn unsupported(&self, what: impl Into<String>) -> SklearnError {
        SklearnError::Unsupported {
            estimator: self.name.clone(),
            what: what.into(),
        }
    }

    pub(crate) fn attr(&self, key: &str) -> Result<&'v Value<'a>, SklearnError> {
        self.state
            .get(key)
            .ok_or_else(|| self.invalid(format!("has no attribute {key} (is it fitted?)")))
    }

    /// An attribute that may be missing or `None`.
    pub(crate) fn opt(&self, key: &str) -> Option<&'v Value<'a>> {
        self.state.get(key).filter(|v| !matches!(v, Value::None))
    }

    pub(crate) fn usize_attr(&self, key: &str) -> Result<usize, SklearnError> {
        let v = self.attr(key)?;
        v.as_int()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| self.invalid(format!("{key} is a {}, not a count", v.kind())))
    }

    pub(crate) fn f64_attr(&self, key: &str) -> Result<f64, SklearnError> {
        let v = self.attr(key)?;
        as_f64(v).ok_or_else(|| self.invalid(format!("{key} is a {}, not a number", v.kind())))
    }

    pub(crate) fn array_attr(&self, key: &str) -> Result<&'v NdArray<'a>, SklearnError> {
        let v = self.attr(key)?;
        v.as_array()
            .ok_or_else(|| self.invalid(format!("{key} is a {}, not an array", v.kind())))
    }

    /// A numeric array attribute as f64 values, with its shape.
    pub(crate) fn f64_array(&self, key: &str) -> Result<(Vec<f64>, Vec<usize>), SklearnError> {
        let a = self.array_attr(key)?;
        let v = a
            .to_f64()
            .map_err(|p| self.invalid(format!("{key}: {p}")))?;
        Ok((v, a.shape.clone()))
    }

    /// `n_features_in_` (`n_features_` before scikit-learn 1.0).
    pub(crate) fn n_features(&self) -> Result<usize, SklearnError> {
        let n = match self.state.get("n_features_in_") {
            Some(_) => self.usize_attr("n_features_in_")?,
            None => self.usize_attr("n_features_")?,
        };
        if n == 0 {
            return Err(self.invalid("n_features_in_ is 0"));
        }
        Ok(n)
    }

    /// The class labels of a single-output classifier, checked against
    /// `n_classes_` when the estimator has one.
    pub(crate) fn labels(&self) -> Result<Labels, SklearnError> {
        let v = self.attr("classes_")?;
        let a = match v {
            Value::Array(a) => a,
            // Multi-output classifiers keep one array per output.
            Value::List(l) => {
                return Err(SklearnError::MultiOutput {
                    estimator: self.name.clone(),
                    n_outputs: l.len(),
                })
            }
            other => return Err(self.invalid(format!("classes_ is a {}", other.kind()))),
        };
        if a.shape.len() != 1 {
            return Err(self.invalid(format!("classes_ has shape {:?}", a.shape)));
        }
        let labels = class_labels(a).map_err(|p| self.invalid(format!("classes_: {p}")))?;
        if let Some(n) = self.opt("n_classes_") {
            if n.as_int() != Some(labels.len() as i64) {
                return Err(self.invalid(format!(
                    "n_classes_ is {}; classes_ has {} labels",
                    n.as_int()
                        .map_or_else(|| format!("a {}", n.kind()), |i| i.to_string()),
                    labels.len()
                )));
            }
        }
        Ok(labels)
    }

    /// `feature_names_in_`, checked against `n_features`.
    pub(crate) fn feature_names(
        &self,
        n_features: usize,
    ) -> Result<Option<Vec<String>>, SklearnError> {
        let names = match self.state.get("feature_names_in_") {
            None | Some(Value::None) => return Ok(None),
            Some(Value::Array(a)) => a
                .to_strings()
                .map_err(|p| self.invalid(format!("feature_names_in_: {p}")))?,
            Some(other) => {
                return Err(self.invalid(format!("feature_names_in_ is a {}", other.kind())))
            }
        };
        if names.len() != n_features {
            return Err(self.invalid(format!(
                "feature_names_in_ has {} names for n_features_in_ = {n_features}",
                names.len()
            )));
        }
        Ok(Some(names))
    }

    /// Checks that an ensemble member agrees with its ensemble on the counts
    /// it records (`n_features_in_`, `n_outputs_`, `n_classes_`, `classes_`).
    pub(crate) fn check_member_counts(
        &self,
        n_features: usize,
        n_outputs: usize,
        n_classes: Option<usize>,
    ) -> Result<(), SklearnError> {
        let count = |key: &str, want: usize| -> Result<(), SklearnError> {
            match self.opt(key) {
                None => Ok(()),
                Some(v) if v.as_int() == Some(want as i64) => Ok(()),
                Some(v) => Err(self.invalid(format!(
                    "{key} is {}; the ensemble has {want}",
                    v.as_int()
                        .map_or_else(|| format!("a {}", v.kind()), |i| i.to_string())
                ))),
            }
        };
        count("n_features_in_", n_features)?;
        count("n_outputs_", n_outputs)?;
        if let Some(k) = n_classes {
            count("n_classes_", k)?;
            if let Some(Value::Array(a)) = self.opt("classes_") {
                if a.shape != [k] {
                    return Err(self.invalid(format!(
                        "classes_ has shape {:?}; the ensemble has {k} classes",
                        a.shape
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A Python int or float as f64.
pub(crate) fn as_f64(v: &Value<'_>) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// Class labels from `classes_`: integers stay integers (bools as 0/1),
/// floats stay floats, text stays text.
pub(crate) fn class_labels(a: &NdArray<'_>) -> Result<Labels, String> {
    match a.dtype.kind {
        Kind::Bool | Kind::Int | Kind::UInt => a.to_i64().map(Labels::Int),
        // Float labels stay floats, so they print as scikit-learn prints
        // them (`2.0`, `nan`).
        Kind::Float => a.to_f64().map(Labels::Float),
        Kind::Unicode | Kind::Bytes => a.to_strings().map(Labels::Str),
        Kind::Object => {
            let items = a.objects().ok_or("object array without objects")?;
            if items.iter().all(|v| matches!(v, Value::Str(_))) {
                a.to_strings().map(Labels::Str)
            } else if items.iter().all(|v| matches!(v, Value::Int(_))) {
                Ok(Labels::Int(
                    items.iter().filter_map(Value::as_int).collect(),
                ))
            } else {
                Err("labels mix types or are neither int nor str".into())
            }
        }
        _ => Err(format!("unsupported label dtype {}", a.dtype.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("1.3.2"), Some((1, 3)));
        assert_eq!(parse_version("1.4.dev0"), Some((1, 4)));
        assert_eq!(parse_version("0.24.2"), Some((0, 24)));
        assert_eq!(parse_version("unknown"), None);
        let ctx = |v: &str| Context {
            version: v.into(),
            budget: Cell::new(0),
        };
        assert!(ctx("1.3.2").before(1, 4));
        assert!(!ctx("1.4.0").before(1, 4));
        assert!(!ctx("unknown").before(1, 4));
    }
}
