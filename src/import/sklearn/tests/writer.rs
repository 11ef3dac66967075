//! Writes a decoded [`Value`] tree back as a pickle (protocol 3), the way
//! Python pickles scikit-learn models: objects as `REDUCE` + `BUILD`, arrays
//! through numpy's `_reconstruct`, dtypes through `numpy.dtype` and its
//! state tuple. Tests decode a real model, edit the tree (a reordered dtype,
//! a child id out of range, inconsistent counts) and write it back, so each
//! hostile file goes through the whole reader and can join the fuzz corpus.
//! Inert values (numpy random state) are written as `None`.

use super::sklearn::numpy::{ArrayData, Dtype, Kind, NdArray};
use super::sklearn::pickle::{Object, Value};
use crate::import::sklearn::pickle::opcodes as op;

/// The pickle of `v`.
pub fn to_pickle(v: &Value<'_>) -> Vec<u8> {
    let mut w = Writer(vec![op::PROTO, 3]);
    w.value(v);
    w.0.push(op::STOP);
    w.0
}

struct Writer(Vec<u8>);

impl Writer {
    fn op(&mut self, code: u8) {
        self.0.push(code);
    }

    fn global(&mut self, module: &str, name: &str) {
        self.op(op::GLOBAL);
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }

    fn int(&mut self, i: i64) {
        if let Ok(small) = i32::try_from(i) {
            self.op(op::BININT);
            self.0.extend_from_slice(&small.to_le_bytes());
        } else {
            self.op(op::LONG1);
            self.0.push(8);
            self.0.extend_from_slice(&i.to_le_bytes());
        }
    }

    fn str(&mut self, s: &str) {
        self.op(op::BINUNICODE);
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.op(op::BINBYTES);
        self.0.extend_from_slice(&(b.len() as u32).to_le_bytes());
        self.0.extend_from_slice(b);
    }

    fn tuple<'a>(&mut self, items: impl IntoIterator<Item = &'a Value<'a>>) {
        self.op(op::MARK);
        for v in items {
            self.value(v);
        }
        self.op(op::TUPLE);
    }

    fn value(&mut self, v: &Value<'_>) {
        match v {
            Value::None | Value::Inert(_) | Value::Refused(_) | Value::Set(_) => self.op(op::NONE),
            Value::Bool(b) => self.op(if *b { op::NEWTRUE } else { op::NEWFALSE }),
            Value::Int(i) => self.int(*i),
            Value::BigInt(b) => {
                self.op(op::LONG1);
                self.0.push(b.len() as u8);
                self.0.extend_from_slice(b);
            }
            Value::Float(f) => {
                self.op(op::BINFLOAT);
                self.0.extend_from_slice(&f.to_be_bytes());
            }
            Value::Str(s) => self.str(s),
            Value::Bytes(b) => self.bytes(b),
            Value::Tuple(t) => self.tuple(t.iter()),
            Value::List(l) => {
                self.op(op::EMPTY_LIST);
                self.op(op::MARK);
                l.iter().for_each(|v| self.value(v));
                self.op(op::APPENDS);
            }
            Value::Dict(d) => {
                self.op(op::EMPTY_DICT);
                self.op(op::MARK);
                for (k, v) in d.iter() {
                    self.value(k);
                    self.value(v);
                }
                self.op(op::SETITEMS);
            }
            Value::Global(g) => self.global(&g.module, &g.name),
            Value::Object(o) => self.object(o),
            Value::Array(a) => self.array(a),
            Value::Dtype(d) => self.dtype(d),
        }
    }

    fn object(&mut self, o: &Object<'_>) {
        self.global(&o.class.module, &o.class.name);
        self.tuple(o.args.iter());
        self.op(op::REDUCE);
        if let Some(state) = &o.state {
            self.value(state);
            self.op(op::BUILD);
        }
    }

    fn array(&mut self, a: &NdArray<'_>) {
        self.global("numpy.core.multiarray", "_reconstruct");
        self.op(op::MARK);
        self.global("numpy", "ndarray");
        self.op(op::MARK);
        self.int(0);
        self.op(op::TUPLE);
        self.bytes(b"b");
        self.op(op::TUPLE);
        self.op(op::REDUCE);
        // __setstate__((version, shape, dtype, is_fortran, data))
        self.op(op::MARK);
        self.int(1);
        self.op(op::MARK);
        a.shape.iter().for_each(|&d| self.int(d as i64));
        self.op(op::TUPLE);
        self.dtype(&a.dtype);
        self.op(if a.fortran { op::NEWTRUE } else { op::NEWFALSE });
        match &a.data {
            ArrayData::Raw(d) => self.bytes(d),
            ArrayData::Objects(items) => {
                self.op(op::EMPTY_LIST);
                self.op(op::MARK);
                items.iter().for_each(|v| self.value(v));
                self.op(op::APPENDS);
            }
        }
        self.op(op::TUPLE);
        self.op(op::BUILD);
    }

    fn dtype(&mut self, d: &Dtype) {
        let (code, n) = match d.kind {
            Kind::Bool => ('b', d.itemsize),
            Kind::Int => ('i', d.itemsize),
            Kind::UInt => ('u', d.itemsize),
            Kind::Float => ('f', d.itemsize),
            Kind::Unicode => ('U', d.itemsize / 4),
            Kind::Bytes => ('S', d.itemsize),
            Kind::Void => ('V', d.itemsize),
            Kind::Object => ('O', 8),
            Kind::Other(c) => (c, d.itemsize),
        };
        self.global("numpy", "dtype");
        self.op(op::MARK);
        self.str(&format!("{code}{n}"));
        self.op(op::NEWFALSE);
        self.op(op::NEWTRUE);
        self.op(op::TUPLE);
        self.op(op::REDUCE);
        // (version, byte order, subarray, names, fields, elsize, alignment, flags)
        self.op(op::MARK);
        self.int(3);
        let order = if d.itemsize <= 1 || matches!(d.kind, Kind::Void | Kind::Object) {
            "|"
        } else if d.big_endian {
            ">"
        } else {
            "<"
        };
        self.str(order);
        self.op(op::NONE);
        if d.fields.is_empty() {
            self.op(op::NONE);
            self.op(op::NONE);
            self.int(-1);
            self.int(-1);
        } else {
            self.op(op::MARK);
            d.fields.iter().for_each(|f| self.str(&f.name));
            self.op(op::TUPLE);
            self.op(op::EMPTY_DICT);
            self.op(op::MARK);
            for f in &d.fields {
                self.str(&f.name);
                self.op(op::MARK);
                self.dtype(&f.dtype);
                self.int(f.offset as i64);
                self.op(op::TUPLE);
            }
            self.op(op::SETITEMS);
            self.int(d.itemsize as i64);
            self.int(1);
        }
        self.int(if d.fields.is_empty() { 0 } else { 16 });
        self.op(op::TUPLE);
        self.op(op::BUILD);
    }
}
