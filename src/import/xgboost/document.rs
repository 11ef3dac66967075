//! The document model shared by XGBoost's two encodings (JSON and UBJSON),
//! and typed access to it with errors that name the field.
//!
//! XGBoost stores every floating-point number of a model as a float32, so a
//! float here is an `f32` parsed straight from the file's text or bytes (no
//! detour through f64, whose double rounding could move a threshold by one
//! ulp). Numeric arrays are kept as flat vectors: a 1,000-round model has
//! millions of numbers, and one enum per number would multiply its memory.

use crate::text::quoted;
use std::collections::BTreeMap;

use super::error::XgboostError;

/// Deepest nesting either reader accepts. XGBoost models nest about eight
/// levels; the bound keeps hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 128;

/// Refuses nesting beyond [`MAX_DEPTH`]: `depth` is the level being
/// entered, `offset` where, `encoding` which reader.
pub(super) fn check_depth(
    depth: usize,
    encoding: &'static str,
    offset: usize,
) -> Result<(), XgboostError> {
    if depth > MAX_DEPTH {
        Err(XgboostError::Syntax {
            encoding,
            offset,
            problem: format!("nesting deeper than {MAX_DEPTH} levels; XGBoost models nest a few"),
        })
    } else {
        Ok(())
    }
}

/// One value of an XGBoost model document.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number, as XGBoost reads it: float32.
    Float(f32),
    /// A string.
    Str(String),
    /// An array of integers (UBJSON typed integer arrays, or JSON arrays
    /// holding only integers).
    Ints(Vec<i64>),
    /// An array of numbers with at least one float (UBJSON `d`/`D` typed
    /// arrays, or JSON arrays of numbers).
    Floats(Vec<f32>),
    /// Any other array.
    Array(Vec<Value>),
    /// An object (keys are unique: the readers refuse duplicates).
    Object(BTreeMap<String, Value>),
}

impl Value {
    /// What to call this kind of value in messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Ints(_) | Value::Floats(_) | Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// Collects array elements, keeping all-numeric arrays flat.
#[derive(Default)]
pub(super) struct ArrayBuilder {
    state: Builder,
}

#[derive(Default)]
enum Builder {
    #[default]
    Empty,
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    Values(Vec<Value>),
}

impl ArrayBuilder {
    /// Appends one element.
    pub(super) fn push(&mut self, v: Value) {
        let state = std::mem::take(&mut self.state);
        self.state = match (state, v) {
            (Builder::Empty, Value::Int(i)) => Builder::Ints(vec![i]),
            (Builder::Empty, Value::Float(f)) => Builder::Floats(vec![f]),
            (Builder::Empty, v) => Builder::Values(vec![v]),
            (Builder::Ints(mut a), Value::Int(i)) => {
                a.push(i);
                Builder::Ints(a)
            }
            (Builder::Ints(a), Value::Float(f)) => {
                // XGBoost casts integers read where a float is expected.
                let mut floats: Vec<f32> = a.into_iter().map(|i| i as f32).collect();
                floats.push(f);
                Builder::Floats(floats)
            }
            (Builder::Floats(mut a), Value::Float(f)) => {
                a.push(f);
                Builder::Floats(a)
            }
            (Builder::Floats(mut a), Value::Int(i)) => {
                a.push(i as f32);
                Builder::Floats(a)
            }
            (Builder::Ints(a), v) => {
                let mut values: Vec<Value> = a.into_iter().map(Value::Int).collect();
                values.push(v);
                Builder::Values(values)
            }
            (Builder::Floats(a), v) => {
                let mut values: Vec<Value> = a.into_iter().map(Value::Float).collect();
                values.push(v);
                Builder::Values(values)
            }
            (Builder::Values(mut a), v) => {
                a.push(v);
                Builder::Values(a)
            }
        };
    }

    /// The finished array.
    pub(super) fn finish(self) -> Value {
        match self.state {
            Builder::Empty => Value::Array(Vec::new()),
            Builder::Ints(a) => Value::Ints(a),
            Builder::Floats(a) => Value::Floats(a),
            Builder::Values(a) => Value::Array(a),
        }
    }
}

/// A value with the path that leads to it, for error messages.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    /// The value.
    pub value: &'a Value,
    path: Path<'a>,
}

/// A path such as `learner.gradient_booster.model.trees[3].left_children`,
/// built lazily: only an error formats it.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Node<'a>, &'a str),
    Index(&'a Node<'a>, usize),
}

impl std::fmt::Display for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path {
            Path::Root => f.write_str("(top level)"),
            Path::Key(parent, key) => {
                if matches!(parent.path, Path::Root) {
                    f.write_str(key)
                } else {
                    write!(f, "{parent}.{key}")
                }
            }
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

impl<'a> Node<'a> {
    /// The document's top level.
    pub fn root(value: &'a Value) -> Node<'a> {
        Node {
            value,
            path: Path::Root,
        }
    }

    /// An error about this value.
    pub fn error(&self, problem: impl Into<String>) -> XgboostError {
        XgboostError::Field {
            field: self.to_string(),
            problem: problem.into(),
        }
    }

    fn expected(&self, what: &str) -> XgboostError {
        self.error(format!("expected {what}, found {}", self.value.kind()))
    }

    /// The member `key` of this object, if present.
    pub fn get(&'a self, key: &'a str) -> Result<Option<Node<'a>>, XgboostError> {
        match self.value {
            Value::Object(map) => Ok(map.get(key).map(|value| Node {
                value,
                path: Path::Key(self, key),
            })),
            _ => Err(self.expected("an object")),
        }
    }

    /// The member `key` of this object, which must be present.
    pub fn at(&'a self, key: &'a str) -> Result<Node<'a>, XgboostError> {
        self.get(key)?.ok_or_else(|| XgboostError::Field {
            field: Node {
                value: self.value,
                path: Path::Key(self, key),
            }
            .to_string(),
            problem: "missing".into(),
        })
    }

    /// The elements of this (generic) array.
    pub fn items(&'a self) -> Result<impl Iterator<Item = Node<'a>> + 'a, XgboostError> {
        let items: &[Value] = match self.value {
            Value::Array(a) => a,
            // Empty typed arrays have no elements to visit either way.
            Value::Ints(a) if a.is_empty() => &[],
            Value::Floats(a) if a.is_empty() => &[],
            _ => return Err(self.expected("an array of objects")),
        };
        Ok(items.iter().enumerate().map(move |(i, value)| Node {
            value,
            path: Path::Index(self, i),
        }))
    }

    /// This string.
    pub fn str(&self) -> Result<&'a str, XgboostError> {
        match self.value {
            Value::Str(s) => Ok(s),
            _ => Err(self.expected("a string")),
        }
    }

    /// An integer XGBoost writes as a string (the `*_param` objects), e.g.
    /// `"num_nodes": "7"`; integers proper are accepted too.
    pub fn int_text(&self) -> Result<i64, XgboostError> {
        match self.value {
            Value::Int(i) => Ok(*i),
            Value::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| self.error(format!("{} is not an integer", quoted(s)))),
            _ => Err(self.expected("an integer or a string holding one")),
        }
    }

    /// This array of integers; an array of booleans reads as 0/1.
    pub fn ints(&self) -> Result<Vec<i64>, XgboostError> {
        match self.value {
            Value::Ints(a) => Ok(a.clone()),
            Value::Array(a) => a
                .iter()
                .map(|v| match v {
                    Value::Int(i) => Ok(*i),
                    Value::Bool(b) => Ok(i64::from(*b)),
                    other => Err(self.error(format!(
                        "expected an array of integers; it holds {}",
                        other.kind()
                    ))),
                })
                .collect(),
            _ => Err(self.expected("an array of integers")),
        }
    }

    /// This array of numbers as float32.
    pub fn floats(&self) -> Result<Vec<f32>, XgboostError> {
        match self.value {
            Value::Floats(a) => Ok(a.clone()),
            Value::Ints(a) => Ok(a.iter().map(|&i| i as f32).collect()),
            Value::Array(a) if a.is_empty() => Ok(Vec::new()),
            Value::Array(a) => Err(self.error(format!(
                "expected an array of numbers; it holds {}",
                a.iter()
                    .find(|v| !matches!(v, Value::Int(_) | Value::Float(_)))
                    .map_or("other values", Value::kind)
            ))),
            _ => Err(self.expected("an array of numbers")),
        }
    }

    /// This array of strings.
    pub fn strings(&self) -> Result<Vec<String>, XgboostError> {
        match self.value {
            Value::Array(a) => a
                .iter()
                .map(|v| match v {
                    Value::Str(s) => Ok(s.clone()),
                    other => Err(self.error(format!(
                        "expected an array of strings; it holds {}",
                        other.kind()
                    ))),
                })
                .collect(),
            Value::Ints(a) if a.is_empty() => Ok(Vec::new()),
            Value::Floats(a) if a.is_empty() => Ok(Vec::new()),
            _ => Err(self.expected("an array of strings")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_stay_flat_and_promote() {
        let mut b = ArrayBuilder::default();
        b.push(Value::Int(1));
        b.push(Value::Float(0.5));
        assert_eq!(b.finish(), Value::Floats(vec![1.0, 0.5]));
        let mut b = ArrayBuilder::default();
        b.push(Value::Int(1));
        b.push(Value::Bool(true));
        assert_eq!(
            b.finish(),
            Value::Array(vec![Value::Int(1), Value::Bool(true)])
        );
    }

    #[test]
    fn errors_name_the_path() {
        let mut inner = BTreeMap::new();
        inner.insert("n".to_string(), Value::Str("x".into()));
        let mut outer = BTreeMap::new();
        outer.insert("list".to_string(), Value::Array(vec![Value::Object(inner)]));
        let doc = Value::Object(outer);
        let root = Node::root(&doc);
        let list = root.at("list").unwrap();
        let first = list.items().unwrap().next().unwrap();
        let err = first.at("n").unwrap().int_text().unwrap_err().to_string();
        assert!(err.contains("list[0].n"), "{err}");
        let err = first.at("missing").err().unwrap().to_string();
        assert!(err.contains("list[0].missing"), "{err}");
    }
}
