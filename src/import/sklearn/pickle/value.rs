//! The data tree a pickle decodes to. Nothing in it is executable: globals
//! are names, objects are a class name plus the arguments and state the
//! pickle gave them.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::import::sklearn::allowlist::{classify, Known};
use crate::import::sklearn::numpy::{Dtype, NdArray};

/// Bytes that borrow from the decoded input where possible: array payloads
/// of a 500 MB model are not copied.
#[derive(Clone)]
pub enum Data<'a> {
    /// A slice of the input.
    Borrowed(&'a [u8]),
    /// Bytes the reader had to build (latin-1 strings, escapes).
    Shared(Arc<[u8]>),
}

impl Deref for Data<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Borrowed(b) => b,
            Data::Shared(b) => b,
        }
    }
}

impl fmt::Debug for Data<'_> {
    // Payloads can be hundreds of megabytes: show the length and a prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = &self[..self.len().min(16)];
        write!(f, "{} bytes {:02x?}", self.len(), head)?;
        if self.len() > head.len() {
            write!(f, "…")?;
        }
        Ok(())
    }
}

/// Text that borrows from the decoded input where possible.
#[derive(Clone)]
pub enum Text<'a> {
    /// A slice of the input.
    Borrowed(&'a str),
    /// Text the reader had to build.
    Shared(Arc<str>),
}

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Shared(s) => s,
        }
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len() <= 200 {
            write!(f, "{:?}", &**self)
        } else {
            let mut end = 200;
            while !self.is_char_boundary(end) {
                end -= 1;
            }
            write!(f, "{:?}… ({} bytes)", &self[..end], self.len())
        }
    }
}

/// A global (`module.name`) a pickle refers to, and whether the reader allows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GlobalRef {
    /// Python module path, e.g. `sklearn.ensemble._forest`.
    pub module: String,
    /// Attribute name in that module, e.g. `RandomForestClassifier`.
    pub name: String,
    /// Whether the name is on the allowlist.
    pub allowed: bool,
}

impl fmt::Display for GlobalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.module, self.name)
    }
}

/// An instance of an allowed class, recorded instead of constructed.
#[derive(Clone, Debug)]
pub struct Object<'a> {
    /// The class (or, for `REDUCE`, the allowed callable) that would have built it.
    pub class: GlobalRef,
    /// Positional arguments from `NEWOBJ`/`REDUCE`.
    pub args: Vec<Value<'a>>,
    /// Keyword arguments from `NEWOBJ_EX`.
    pub kwargs: Option<Value<'a>>,
    /// The state `BUILD` gave it (a dict for scikit-learn estimators).
    pub state: Option<Value<'a>>,
}

/// One decoded pickle value. Containers are shared (`Arc`) because a pickle
/// can reference one object many times through its memo; the tree is a DAG
/// and never a cycle (cycles are refused while decoding).
#[derive(Clone, Debug)]
pub enum Value<'a> {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A larger integer, little-endian two's complement bytes.
    BigInt(Arc<[u8]>),
    /// A float.
    Float(f64),
    /// A `str`.
    Str(Text<'a>),
    /// A `bytes` or `bytearray`.
    Bytes(Data<'a>),
    /// A tuple.
    Tuple(Arc<[Value<'a>]>),
    /// A list.
    List(Arc<[Value<'a>]>),
    /// A set or frozenset.
    Set(Arc<[Value<'a>]>),
    /// A dict, in insertion order; a key set twice keeps its last value.
    Dict(Arc<[(Value<'a>, Value<'a>)]>),
    /// A reference to an allowed global, not called.
    Global(Arc<GlobalRef>),
    /// An instance of an allowed class.
    Object(Arc<Object<'a>>),
    /// An inert numpy random object (`RandomState`, `Generator`, bit
    /// generator or `SeedSequence`) as the pickle describes it: the helper
    /// that would have built it, its arguments and its `BUILD` state, all
    /// plain data. Nothing reads it; it is only allowed as an attribute value.
    Inert(Arc<Object<'a>>),
    /// A numpy array (from `_reconstruct`, `_frombuffer` or a joblib wrapper).
    Array(Arc<NdArray<'a>>),
    /// A numpy dtype.
    Dtype(Arc<Dtype>),
    /// Something refused, kept only by [`super::inspect`] so it can go on listing globals.
    Refused(Arc<GlobalRef>),
}

impl<'a> Value<'a> {
    /// Short description of the value's kind, for error messages.
    pub fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) | Value::BigInt(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Tuple(t) => format!("tuple of {}", t.len()),
            Value::List(l) => format!("list of {}", l.len()),
            Value::Set(s) => format!("set of {}", s.len()),
            Value::Dict(d) => format!("dict of {}", d.len()),
            Value::Global(g) => format!("global {g}"),
            Value::Object(o) => format!("{} object", o.class),
            Value::Inert(o) => {
                let what = match classify(&o.class.module, &o.class.name) {
                    Some(Known::RandomCtor(c)) => c.builds(),
                    _ => "numpy random object",
                };
                format!("{what} (an inert {} result)", o.class)
            }
            Value::Array(a) => format!("{} array of shape {:?}", a.dtype.describe(), a.shape),
            Value::Dtype(d) => format!("dtype {}", d.describe()),
            Value::Refused(g) => format!("refused {g}"),
        }
    }

    /// The string, if this is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an `int` that fits in 64 bits (or a bool, as in Python).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// The items, if this is a tuple.
    pub fn as_tuple(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::Tuple(t) => Some(t),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The object, if this is an instance of an allowed class (never an
    /// [`Value::Inert`] one).
    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The array, if this is a numpy array.
    pub fn as_array(&self) -> Option<&NdArray<'a>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The last value stored under string key `key`, if this is a dict.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Dict(d) => d
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}
