//! numpy dtypes and arrays as pickles describe them: decoded from the
//! `dtype` constructor arguments and state tuple, the `__setstate__` tuple of
//! `_reconstruct`, the arguments of `_frombuffer`, or a joblib wrapper.
//! Layouts (field offsets, item sizes, byte order) always come from the
//! file, never from assumptions.

use std::sync::Arc;

use super::pickle::{Data, Value};

/// The kind of a numpy dtype (numpy's `dtype.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `b`: bool.
    Bool,
    /// `i`: signed integer.
    Int,
    /// `u`: unsigned integer.
    UInt,
    /// `f`: floating point.
    Float,
    /// `U`: fixed-width UCS-4 text.
    Unicode,
    /// `S`: fixed-width bytes.
    Bytes,
    /// `V`: raw or structured records.
    Void,
    /// `O`: Python objects.
    Object,
    /// Anything else (complex, datetime, …): kept so it can be named in errors.
    Other(char),
}

/// A numpy dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Dtype {
    /// Kind.
    pub kind: Kind,
    /// Bytes per element.
    pub itemsize: usize,
    /// Whether multi-byte numbers are stored big-endian.
    pub big_endian: bool,
    /// Fields of a structured dtype, in declaration order.
    pub fields: Vec<Field>,
}

/// One field of a structured dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Field dtype.
    pub dtype: Dtype,
    /// Byte offset inside the record.
    pub offset: usize,
}

impl Dtype {
    /// Decodes `numpy.dtype(descr, align, copy)` plus the optional `BUILD`
    /// state `(version, byteorder, subarray, names, fields, elsize,
    /// alignment, flags[, metadata])`.
    pub(crate) fn from_pickle(
        args: &[Value<'_>],
        state: Option<&Value<'_>>,
    ) -> Result<Dtype, String> {
        let descr = args
            .first()
            .and_then(Value::as_str)
            .ok_or("numpy.dtype needs a type string as first argument")?;
        let mut chars = descr.chars().peekable();
        let mut big_endian = cfg!(target_endian = "big");
        if let Some(&c) = chars.peek() {
            if "<>|=".contains(c) {
                big_endian = byte_order(c, big_endian)?;
                chars.next();
            }
        }
        let code = chars.next().ok_or("empty dtype string")?;
        let digits: String = chars.collect();
        let count: Option<usize> = if digits.is_empty() {
            None
        } else {
            Some(
                digits
                    .parse()
                    .map_err(|_| format!("bad dtype string {descr:?}"))?,
            )
        };
        let kind = match code {
            'b' | '?' => Kind::Bool,
            'i' => Kind::Int,
            'u' => Kind::UInt,
            'f' => Kind::Float,
            'U' => Kind::Unicode,
            'S' | 'a' => Kind::Bytes,
            'V' => Kind::Void,
            'O' => Kind::Object,
            c => Kind::Other(c),
        };
        let mut itemsize = match (kind, count) {
            (Kind::Unicode, Some(n)) => n.checked_mul(4).ok_or("dtype too large")?,
            (Kind::Bool, None) => 1,
            (Kind::Object, None) => std::mem::size_of::<usize>(),
            (_, Some(n)) => n,
            (_, None) => 0,
        };
        let mut fields = Vec::new();
        if let Some(state) = state {
            let s = state.as_tuple().ok_or("dtype state is not a tuple")?;
            let version = s
                .first()
                .and_then(Value::as_int)
                .ok_or("dtype state has no version")?;
            if !(3..=4).contains(&version) || s.len() < 8 {
                return Err(format!(
                    "dtype state version {version} with {} items is not supported",
                    s.len()
                ));
            }
            let order = s[1].as_str().ok_or("dtype byte order is not a string")?;
            let mut order_chars = order.chars();
            match (order_chars.next(), order_chars.next()) {
                (Some(c), None) => big_endian = byte_order(c, big_endian)?,
                _ => return Err(format!("bad dtype byte order {order:?}")),
            }
            if !matches!(s[2], Value::None) {
                return Err("sub-array dtypes are not supported".into());
            }
            let elsize = s[5].as_int().ok_or("dtype element size is not an int")?;
            if elsize >= 0 {
                itemsize = usize::try_from(elsize).map_err(|_| "dtype too large")?;
            }
            fields = decode_fields(&s[3], &s[4])?;
        }
        if itemsize == 0 && kind != Kind::Void {
            return Err(format!("dtype {descr:?} has no element size"));
        }
        for f in &fields {
            let end = f.offset.checked_add(f.dtype.itemsize);
            if end.is_none_or(|e| e > itemsize) {
                return Err(format!(
                    "field {:?} at offset {} (size {}) does not fit a {}-byte record",
                    f.name, f.offset, f.dtype.itemsize, itemsize
                ));
            }
        }
        if !fields.is_empty() && kind != Kind::Void {
            return Err(format!(
                "dtype {descr:?} has fields but is not a record type"
            ));
        }
        Ok(Dtype {
            kind,
            itemsize,
            big_endian,
            fields,
        })
    }

    /// numpy-style name, e.g. `<f8`, `|u1`, `<U3` or `|V64` with its fields.
    pub fn describe(&self) -> String {
        let order =
            if self.itemsize <= 1 || matches!(self.kind, Kind::Bytes | Kind::Void | Kind::Object) {
                '|'
            } else if self.big_endian {
                '>'
            } else {
                '<'
            };
        let (code, n) = match self.kind {
            Kind::Bool => ('b', self.itemsize),
            Kind::Int => ('i', self.itemsize),
            Kind::UInt => ('u', self.itemsize),
            Kind::Float => ('f', self.itemsize),
            Kind::Unicode => ('U', self.itemsize / 4),
            Kind::Bytes => ('S', self.itemsize),
            Kind::Void => ('V', self.itemsize),
            Kind::Object => ('O', self.itemsize),
            Kind::Other(c) => (c, self.itemsize),
        };
        let mut s = format!("{order}{code}{n}");
        if !self.fields.is_empty() {
            let names: Vec<String> = self
                .fields
                .iter()
                .map(|f| format!("{}:{}@{}", f.name, f.dtype.describe(), f.offset))
                .collect();
            s.push_str(&format!("{{{}}}", names.join(", ")));
        }
        s
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether elements are Python objects (their data is a list, not bytes).
    pub fn has_object(&self) -> bool {
        self.kind == Kind::Object || self.fields.iter().any(|f| f.dtype.has_object())
    }
}

fn byte_order(c: char, current: bool) -> Result<bool, String> {
    match c {
        '<' => Ok(false),
        '>' => Ok(true),
        '=' => Ok(cfg!(target_endian = "big")),
        '|' => Ok(current),
        c => Err(format!("bad dtype byte order {c:?}")),
    }
}

/// Fields from the `names` tuple and `fields` dict of a dtype state.
fn decode_fields(names: &Value<'_>, fields: &Value<'_>) -> Result<Vec<Field>, String> {
    let names = match names {
        Value::None => return Ok(Vec::new()),
        Value::Tuple(t) => t,
        other => return Err(format!("dtype names are a {}", other.kind())),
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names.iter() {
        let name = name.as_str().ok_or("dtype field name is not a string")?;
        let spec = fields
            .get(name)
            .and_then(Value::as_tuple)
            .ok_or_else(|| format!("dtype field {name:?} has no (dtype, offset) entry"))?;
        let dtype = match spec.first() {
            Some(Value::Dtype(d)) => (**d).clone(),
            _ => return Err(format!("dtype field {name:?} has no dtype")),
        };
        let offset = spec
            .get(1)
            .and_then(Value::as_int)
            .and_then(|o| usize::try_from(o).ok())
            .ok_or_else(|| format!("dtype field {name:?} has no valid offset"))?;
        out.push(Field {
            name: name.to_string(),
            dtype,
            offset,
        });
    }
    Ok(out)
}

/// The elements of an array: raw bytes, or Python objects for object dtypes.
#[derive(Clone, Debug)]
pub enum ArrayData<'a> {
    /// `len × itemsize` bytes in the array's storage order.
    Raw(Data<'a>),
    /// One value per element, in C order (numpy pickles object arrays as a flat list).
    Objects(Arc<[Value<'a>]>),
}

/// A numpy array as stored in the pickle.
#[derive(Clone, Debug)]
pub struct NdArray<'a> {
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<usize>,
    /// Whether raw data is in Fortran (column-major) order.
    pub fortran: bool,
    /// The elements.
    pub data: ArrayData<'a>,
}

/// Number of elements of `shape`, checked.
pub(crate) fn element_count(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("array shape {shape:?} is too large"))
}

/// A shape tuple of non-negative ints.
pub(crate) fn decode_shape(v: &Value<'_>) -> Result<Vec<usize>, String> {
    let items: &[Value<'_>] = match v {
        Value::Tuple(t) => t,
        Value::List(l) => l,
        // `_frombuffer` and joblib accept a bare int for 1-D arrays.
        Value::Int(_) => std::slice::from_ref(v),
        other => return Err(format!("array shape is a {}", other.kind())),
    };
    items
        .iter()
        .map(|d| {
            d.as_int()
                .and_then(|d| usize::try_from(d).ok())
                .ok_or_else(|| format!("bad array dimension {}", d.kind()))
        })
        .collect()
}

impl<'a> NdArray<'a> {
    /// An array over raw bytes, checking that their length matches.
    pub(crate) fn from_raw(
        dtype: Dtype,
        shape: Vec<usize>,
        fortran: bool,
        data: Data<'a>,
    ) -> Result<Self, String> {
        if dtype.has_object() {
            return Err("object array given as raw bytes".into());
        }
        let n = element_count(&shape)?;
        let nbytes = n
            .checked_mul(dtype.itemsize)
            .ok_or_else(|| format!("array shape {shape:?} is too large"))?;
        if data.len() != nbytes {
            return Err(format!(
                "array {} of shape {shape:?} needs {nbytes} bytes; the pickle has {}",
                dtype.describe(),
                data.len()
            ));
        }
        Ok(NdArray {
            dtype,
            shape,
            fortran,
            data: ArrayData::Raw(data),
        })
    }

    /// Decodes the `ndarray.__setstate__` tuple `([version,] shape, dtype,
    /// is_fortran, data)` where data is bytes, or a list for object arrays.
    pub(crate) fn from_setstate(state: &Value<'a>) -> Result<Self, String> {
        let s = state.as_tuple().ok_or("array state is not a tuple")?;
        let s = match s.len() {
            5 => &s[1..],
            4 => s,
            n => return Err(format!("array state has {n} items; expected 4 or 5")),
        };
        let shape = decode_shape(&s[0])?;
        let dtype = match &s[1] {
            Value::Dtype(d) => (**d).clone(),
            other => return Err(format!("array dtype is a {}", other.kind())),
        };
        let fortran = match &s[2] {
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            other => return Err(format!("array is_fortran flag is a {}", other.kind())),
        };
        match &s[3] {
            Value::Bytes(b) => NdArray::from_raw(dtype, shape, fortran, b.clone()),
            // Python 3 reading a Python 2 numpy pickle sees the data as str
            // when decoded as latin-1; numpy accepts that, so do we.
            Value::Str(t) => {
                let bytes = latin1_bytes(t).ok_or("array data string is not latin-1")?;
                NdArray::from_raw(dtype, shape, fortran, Data::Shared(bytes.into()))
            }
            Value::List(items) if dtype.has_object() => {
                let n = element_count(&shape)?;
                if items.len() != n {
                    return Err(format!(
                        "object array of shape {shape:?} has {} items",
                        items.len()
                    ));
                }
                Ok(NdArray {
                    dtype,
                    shape,
                    fortran,
                    data: ArrayData::Objects(items.clone()),
                })
            }
            other => Err(format!(
                "array data is a {} for dtype {}",
                other.kind(),
                dtype.describe()
            )),
        }
    }

    /// Decodes `_frombuffer(buffer, dtype, shape, order)` (protocol 5).
    pub(crate) fn from_buffer(args: &[Value<'a>]) -> Result<Self, String> {
        let [buf, dtype, shape, order] = args else {
            return Err(format!("_frombuffer takes 4 arguments, got {}", args.len()));
        };
        let Value::Bytes(buf) = buf else {
            return Err(format!("_frombuffer buffer is a {}", buf.kind()));
        };
        let Value::Dtype(dtype) = dtype else {
            return Err(format!("_frombuffer dtype is a {}", dtype.kind()));
        };
        let fortran = match order.as_str() {
            Some("C") => false,
            Some("F") => true,
            _ => return Err(format!("_frombuffer order is {}", order.kind())),
        };
        NdArray::from_raw(
            (**dtype).clone(),
            decode_shape(shape)?,
            fortran,
            buf.clone(),
        )
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        element_count(&self.shape).unwrap_or(0)
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Storage position of the element at C-order position `c`.
    fn storage_index(&self, c: usize) -> usize {
        if !self.fortran || self.shape.len() < 2 {
            return c;
        }
        // Split the C-order index into coordinates (last axis fastest),
        // then recombine them with the first axis fastest.
        let mut rest = c;
        let mut coords = vec![0usize; self.shape.len()];
        for (k, &d) in self.shape.iter().enumerate().rev() {
            coords[k] = rest % d;
            rest /= d;
        }
        let mut f = 0;
        for (k, &d) in self.shape.iter().enumerate().rev() {
            f = f * d + coords[k];
        }
        f
    }

    fn raw(&self) -> Result<&[u8], String> {
        match &self.data {
            ArrayData::Raw(d) => Ok(d),
            ArrayData::Objects(_) => Err("expected a numeric array, found an object array".into()),
        }
    }

    /// Every element as `f64`, in C order (bool, integer and float dtypes).
    pub fn to_f64(&self) -> Result<Vec<f64>, String> {
        let raw = self.raw()?;
        let size = self.dtype.itemsize;
        (0..self.len())
            .map(|c| {
                let i = self.storage_index(c) * size;
                scalar_f64(&self.dtype, &raw[i..i + size])
            })
            .collect()
    }

    /// Every element as `i64`, in C order (bool and integer dtypes).
    pub fn to_i64(&self) -> Result<Vec<i64>, String> {
        let raw = self.raw()?;
        let size = self.dtype.itemsize;
        (0..self.len())
            .map(|c| {
                let i = self.storage_index(c) * size;
                scalar_i64(&self.dtype, &raw[i..i + size])
            })
            .collect()
    }

    /// Every element as text, in C order: `U` and `S` arrays (trailing NULs
    /// removed, as numpy does) and object arrays holding only `str`.
    pub fn to_strings(&self) -> Result<Vec<String>, String> {
        match &self.data {
            ArrayData::Objects(items) => items
                .iter()
                .map(|v| match v {
                    Value::Str(s) => Ok(s.to_string()),
                    other => Err(format!("object array holds a {}, not str", other.kind())),
                })
                .collect(),
            ArrayData::Raw(raw) => {
                let size = self.dtype.itemsize;
                (0..self.len())
                    .map(|c| {
                        let i = self.storage_index(c) * size;
                        scalar_text(&self.dtype, &raw[i..i + size])
                    })
                    .collect()
            }
        }
    }

    /// The Python objects of an object array.
    pub fn objects(&self) -> Option<&[Value<'a>]> {
        match &self.data {
            ArrayData::Objects(items) => Some(items),
            ArrayData::Raw(_) => None,
        }
    }

    /// Reads field `name` of a 1-D structured array.
    pub fn field(&self, name: &str) -> Result<FieldReader<'_>, String> {
        if self.shape.len() != 1 {
            return Err(format!(
                "record array has shape {:?}; expected 1-D",
                self.shape
            ));
        }
        let f = self.dtype.field(name).ok_or_else(|| {
            format!(
                "record dtype {} has no field {name:?}",
                self.dtype.describe()
            )
        })?;
        Ok(FieldReader {
            raw: self.raw()?,
            stride: self.dtype.itemsize,
            offset: f.offset,
            dtype: &f.dtype,
        })
    }
}

/// Reads one field of every record of a structured array.
pub struct FieldReader<'r> {
    raw: &'r [u8],
    stride: usize,
    offset: usize,
    dtype: &'r Dtype,
}

impl FieldReader<'_> {
    fn bytes(&self, i: usize) -> &[u8] {
        let at = i * self.stride + self.offset;
        &self.raw[at..at + self.dtype.itemsize]
    }

    /// Record `i`'s field as `i64` (integer or bool fields). Panics if `i` is out of range.
    pub fn i64(&self, i: usize) -> Result<i64, String> {
        scalar_i64(self.dtype, self.bytes(i))
    }

    /// Record `i`'s field as `f64`. Panics if `i` is out of range.
    pub fn f64(&self, i: usize) -> Result<f64, String> {
        scalar_f64(self.dtype, self.bytes(i))
    }

    /// The field's dtype.
    pub fn dtype(&self) -> &Dtype {
        self.dtype
    }
}

/// The element's bits, zero-extended. Fixed widths take the fast path:
/// this runs once per field of every node of a multi-million-node forest.
#[inline]
fn unsigned(bytes: &[u8], big_endian: bool) -> u64 {
    macro_rules! read {
        ($t:ty) => {{
            let a = bytes.try_into().expect("width matched");
            (if big_endian {
                <$t>::from_be_bytes(a)
            } else {
                <$t>::from_le_bytes(a)
            }) as u64
        }};
    }
    match bytes.len() {
        8 => read!(u64),
        4 => read!(u32),
        2 => read!(u16),
        1 => bytes[0] as u64,
        _ => {
            let fold = |acc: u64, &b: &u8| (acc << 8) | b as u64;
            if big_endian {
                bytes.iter().fold(0, fold)
            } else {
                bytes.iter().rev().fold(0, fold)
            }
        }
    }
}

/// One integer element (bool, `i1`–`i8`, `u1`–`u8`).
pub(crate) fn scalar_i64(dtype: &Dtype, bytes: &[u8]) -> Result<i64, String> {
    let n = bytes.len();
    match dtype.kind {
        Kind::Bool if n == 1 => Ok((bytes[0] != 0) as i64),
        Kind::Int if matches!(n, 1 | 2 | 4 | 8) => {
            let u = unsigned(bytes, dtype.big_endian);
            let shift = 64 - 8 * n as u32;
            // Sign-extend from the element width.
            Ok(((u << shift) as i64) >> shift)
        }
        Kind::UInt if matches!(n, 1 | 2 | 4 | 8) => {
            let u = unsigned(bytes, dtype.big_endian);
            i64::try_from(u).map_err(|_| format!("unsigned value {u} does not fit in i64"))
        }
        _ => Err(format!(
            "expected an integer dtype, found {}",
            dtype.describe()
        )),
    }
}

/// One numeric element as `f64` (float, integer and bool dtypes).
pub(crate) fn scalar_f64(dtype: &Dtype, bytes: &[u8]) -> Result<f64, String> {
    match (dtype.kind, bytes.len()) {
        (Kind::Float, 8) => Ok(f64::from_bits(unsigned(bytes, dtype.big_endian))),
        (Kind::Float, 4) => Ok(f32::from_bits(unsigned(bytes, dtype.big_endian) as u32) as f64),
        (Kind::Bool | Kind::Int | Kind::UInt, _) => scalar_i64(dtype, bytes).map(|i| i as f64),
        _ => Err(format!(
            "expected a numeric dtype, found {}",
            dtype.describe()
        )),
    }
}

/// One `U` (UCS-4) or `S` element as text, without numpy's trailing NUL padding.
fn scalar_text(dtype: &Dtype, bytes: &[u8]) -> Result<String, String> {
    match dtype.kind {
        Kind::Unicode => {
            let mut s = String::with_capacity(bytes.len() / 4);
            for ch in bytes.chunks_exact(4) {
                let code = unsigned(ch, dtype.big_endian) as u32;
                s.push(char::from_u32(code).ok_or_else(|| format!("bad code point {code:#x}"))?);
            }
            Ok(s.trim_end_matches('\0').to_string())
        }
        Kind::Bytes => {
            let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            String::from_utf8(bytes[..end].to_vec()).map_err(|_| "bytes label is not UTF-8".into())
        }
        _ => Err(format!("expected a text dtype, found {}", dtype.describe())),
    }
}

/// A numpy scalar (`numpy.core.multiarray.scalar(dtype, bytes)`) as a plain value.
pub(crate) fn scalar_value<'a>(dtype: &Dtype, bytes: &[u8]) -> Result<Value<'a>, String> {
    if bytes.len() != dtype.itemsize {
        return Err(format!(
            "scalar of dtype {} has {} bytes",
            dtype.describe(),
            bytes.len()
        ));
    }
    match dtype.kind {
        Kind::Bool => Ok(Value::Bool(bytes[0] != 0)),
        Kind::Int | Kind::UInt => scalar_i64(dtype, bytes).map(Value::Int),
        Kind::Float => scalar_f64(dtype, bytes).map(Value::Float),
        Kind::Unicode | Kind::Bytes => {
            scalar_text(dtype, bytes).map(|s| Value::Str(super::pickle::Text::Shared(s.into())))
        }
        _ => Err(format!(
            "numpy scalars of dtype {} are not supported",
            dtype.describe()
        )),
    }
}

/// Encodes text as latin-1, as Python's `str.encode("latin1")`.
pub(crate) fn latin1_bytes(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(c as u32).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(kind: Kind, itemsize: usize, big_endian: bool) -> Dtype {
        Dtype {
            kind,
            itemsize,
            big_endian,
            fields: Vec::new(),
        }
    }

    #[test]
    fn integers_sign_extend_and_respect_byte_order() {
        assert_eq!(scalar_i64(&d(Kind::Int, 2, false), &[0xfe, 0xff]), Ok(-2));
        assert_eq!(scalar_i64(&d(Kind::Int, 2, true), &[0xff, 0xfe]), Ok(-2));
        assert_eq!(scalar_i64(&d(Kind::UInt, 1, false), &[0xff]), Ok(255));
        assert!(scalar_i64(&d(Kind::UInt, 8, false), &[0xff; 8]).is_err());
        assert!(scalar_i64(&d(Kind::Int, 3, false), &[0; 3]).is_err());
    }

    #[test]
    fn floats_of_both_widths() {
        assert_eq!(
            scalar_f64(&d(Kind::Float, 8, false), &1.5f64.to_le_bytes()),
            Ok(1.5)
        );
        assert_eq!(
            scalar_f64(&d(Kind::Float, 8, true), &1.5f64.to_be_bytes()),
            Ok(1.5)
        );
        assert_eq!(
            scalar_f64(&d(Kind::Float, 4, false), &0.1f32.to_le_bytes()),
            Ok(0.1f32 as f64)
        );
    }

    #[test]
    fn fortran_order_is_transposed_to_c_order() {
        // [[1, 2, 3], [4, 5, 6]] stored column-major.
        let raw: Vec<u8> = [1i64, 4, 2, 5, 3, 6]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = NdArray::from_raw(
            d(Kind::Int, 8, false),
            vec![2, 3],
            true,
            Data::Shared(raw.into()),
        )
        .unwrap();
        assert_eq!(a.to_i64().unwrap(), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn unicode_elements_lose_padding() {
        let raw: Vec<u8> = "ab\0é\0\0"
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        let a = NdArray::from_raw(
            d(Kind::Unicode, 12, false),
            vec![2],
            false,
            Data::Shared(raw.into()),
        )
        .unwrap();
        assert_eq!(a.to_strings().unwrap(), vec!["ab", "é"]);
    }

    #[test]
    fn raw_length_must_match_shape() {
        let err = NdArray::from_raw(
            d(Kind::Float, 8, false),
            vec![3],
            false,
            Data::Borrowed(&[0; 16]),
        )
        .unwrap_err();
        assert!(err.contains("needs 24 bytes"), "{err}");
        assert!(element_count(&[usize::MAX, 2]).is_err());
    }
}
