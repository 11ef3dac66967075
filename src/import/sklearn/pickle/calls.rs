//! What the machine does instead of calling: `REDUCE`, `NEWOBJ` and
//! `BUILD` applied to allowed globals record objects, or decode numpy
//! dtypes, arrays and scalars and joblib's array payloads in Rust.

use std::sync::Arc;

use super::error::PickleError;
use super::heap::{Global, Node, Slot};
use super::value::{Data, GlobalRef, Value};
use super::vm::{node_kind, Call, Machine, Result};
use crate::import::sklearn::allowlist::{classify, Known};
use crate::import::sklearn::joblib;
use crate::import::sklearn::numpy::{self, Dtype, Kind, NdArray};

impl<'a> Machine<'a, '_> {
    // ----- globals and calls ------------------------------------------------

    pub(super) fn global(&mut self, module: String, name: String) -> Result<Slot<'a>> {
        let known = classify(&module, &name);
        let r = GlobalRef {
            module,
            name,
            allowed: known.is_some(),
        };
        self.heap.record_global(&r);
        if known.is_none() && !self.heap.inspect {
            return Err(PickleError::Forbidden {
                module: r.module,
                name: r.name,
                offset: self.at,
            });
        }
        Ok(Slot::Global(Arc::new(Global { r, known })))
    }

    pub(super) fn freeze(&self, slot: &Slot<'a>) -> Result<Value<'a>> {
        self.heap.freeze(slot).map_err(|e| self.freeze_err(e))
    }

    pub(super) fn freeze_all(&self, slots: &[Slot<'a>]) -> Result<Vec<Value<'a>>> {
        slots.iter().map(|s| self.freeze(s)).collect()
    }

    /// Applies `func` (a global) to `args`; in inspect mode a refused use
    /// becomes a placeholder so that listing can go on.
    pub(super) fn apply(
        &mut self,
        func: Slot<'a>,
        args: Vec<Slot<'a>>,
        kwargs: Option<Slot<'a>>,
        call: Call,
    ) -> Result<Slot<'a>> {
        let g = match &func {
            Slot::Global(g) => g.clone(),
            Slot::Ref(id) if matches!(self.heap.nodes[*id], Node::Refused(_)) => return Ok(func),
            other => {
                let what = match other {
                    Slot::Ref(id) => node_kind(&self.heap.nodes[*id]),
                    _ => "a scalar",
                };
                return Err(self.malformed(format!("call of {what}, which is no global")));
            }
        };
        let Some(known) = g.known else {
            let id = self.alloc(Node::Refused(g))?;
            return Ok(Slot::Ref(id));
        };
        match self.apply_known(&g, known, args, kwargs, call) {
            Err(e) if self.heap.inspect && e.is_semantic() => {
                let id = self.alloc(Node::Refused(g))?;
                Ok(Slot::Ref(id))
            }
            r => r,
        }
    }

    fn forbidden_call(&self, g: &Global, reason: impl Into<String>) -> PickleError {
        PickleError::ForbiddenCall {
            module: g.r.module.clone(),
            name: g.r.name.clone(),
            reason: reason.into(),
            offset: self.at,
        }
    }

    fn apply_known(
        &mut self,
        g: &Arc<Global>,
        known: Known,
        args: Vec<Slot<'a>>,
        kwargs: Option<Slot<'a>>,
        call: Call,
    ) -> Result<Slot<'a>> {
        let object = |args, kwargs| Node::Object {
            class: g.clone(),
            args,
            kwargs,
            state: None,
        };
        match (known, call) {
            (
                Known::Estimator
                | Known::Tree
                | Known::JoblibArrayWrapper
                | Known::JoblibLegacyWrapper,
                _,
            ) => {
                let id = self.alloc(object(args, kwargs))?;
                Ok(Slot::Ref(id))
            }
            // Placeholders that their BUILD turns into a dtype or an array.
            (Known::NumpyDtype | Known::NumpyReconstruct, Call::Reduce) => {
                let id = self.alloc(object(args, None))?;
                Ok(Slot::Ref(id))
            }
            (Known::NumpyFromBuffer, Call::Reduce) => {
                let args = self.freeze_all(&args)?;
                let a = NdArray::from_buffer(&args).map_err(|m| self.numpy_err(m))?;
                let id = self.alloc(Node::Array(Arc::new(a)))?;
                Ok(Slot::Ref(id))
            }
            (Known::NumpyScalar, Call::Reduce) => self.numpy_scalar(g, args),
            (Known::CodecsEncode, Call::Reduce) => {
                let frozen = self.freeze_all(&args)?;
                match frozen.as_slice() {
                    [Value::Str(s), Value::Str(enc)] if is_latin1(enc) => {
                        let b = numpy::latin1_bytes(s)
                            .ok_or_else(|| self.forbidden_call(g, "text is not latin-1"))?;
                        Ok(Slot::Bytes(Data::Shared(self.owned(b)?.into())))
                    }
                    _ => Err(self.forbidden_call(g, "only encode(text, \"latin1\") is allowed")),
                }
            }
            (Known::BuiltinsBytes | Known::BuiltinsBytearray, Call::Reduce) => {
                let frozen = self.freeze_all(&args)?;
                match frozen.as_slice() {
                    [] => Ok(Slot::Bytes(Data::Borrowed(&[]))),
                    [Value::Bytes(b)] => Ok(Slot::Bytes(b.clone())),
                    [Value::Str(s), Value::Str(enc)] if is_latin1(enc) => {
                        let b = numpy::latin1_bytes(s)
                            .ok_or_else(|| self.forbidden_call(g, "text is not latin-1"))?;
                        Ok(Slot::Bytes(Data::Shared(self.owned(b)?.into())))
                    }
                    _ => Err(self.forbidden_call(g, "only bytes() or bytes(b\"…\") is allowed")),
                }
            }
            (Known::CopyregReconstructor, Call::Reduce) => {
                // _reconstructor(cls, object, None) is object.__new__(cls).
                match args.as_slice() {
                    [Slot::Global(cls), Slot::Global(base), Slot::None]
                        if matches!(cls.known, Some(Known::Estimator | Known::Tree))
                            && base.known == Some(Known::BuiltinsObject) =>
                    {
                        let id = self.alloc(Node::Object {
                            class: cls.clone(),
                            args: Vec::new(),
                            kwargs: None,
                            state: None,
                        })?;
                        Ok(Slot::Ref(id))
                    }
                    _ => Err(self.forbidden_call(
                        g,
                        "only _reconstructor(<allowed class>, object, None) is allowed",
                    )),
                }
            }
            _ => {
                Err(self.forbidden_call(g, "it is allowed only as an argument, not as a callable"))
            }
        }
    }

    fn numpy_scalar(&mut self, g: &Global, args: Vec<Slot<'a>>) -> Result<Slot<'a>> {
        let [dtype, payload] = args.as_slice() else {
            return Err(self.forbidden_call(g, "scalar takes (dtype, data)"));
        };
        let Value::Dtype(dtype) = self.freeze(dtype)? else {
            return Err(self.numpy_err("scalar dtype is not a dtype"));
        };
        if dtype.kind == Kind::Object {
            // scalar(dtype('O'), obj) is obj itself.
            return Ok(payload.clone());
        }
        let bytes = match self.freeze(payload)? {
            Value::Bytes(b) => b,
            Value::Str(s) => {
                let b = numpy::latin1_bytes(&s)
                    .ok_or_else(|| self.numpy_err("scalar data is not latin-1"))?;
                Data::Shared(self.owned(b)?.into())
            }
            other => return Err(self.numpy_err(format!("scalar data is a {}", other.kind()))),
        };
        match numpy::scalar_value(&dtype, &bytes).map_err(|m| self.numpy_err(m))? {
            Value::Bool(b) => Ok(Slot::Bool(b)),
            Value::Int(i) => Ok(Slot::Int(i)),
            Value::Float(f) => Ok(Slot::Float(f)),
            Value::Str(s) => {
                self.owned(s.as_bytes())?;
                Ok(Slot::Str(s))
            }
            _ => Err(self.numpy_err("unexpected scalar")),
        }
    }

    // ----- BUILD ----------------------------------------------------------

    pub(super) fn build(&mut self, target: Slot<'a>, state: Slot<'a>) -> Result<()> {
        let Slot::Ref(id) = target else {
            return Err(self.malformed("BUILD on a scalar or global"));
        };
        let r = self.build_node(id, state);
        match r {
            Err(e) if self.heap.inspect && e.is_semantic() => {
                let g = match &self.heap.nodes[id] {
                    Node::Object { class, .. } => class.clone(),
                    _ => return Err(e),
                };
                self.heap.nodes[id] = Node::Refused(g);
                Ok(())
            }
            r => r,
        }
    }

    fn build_node(&mut self, id: usize, state: Slot<'a>) -> Result<()> {
        let (class, args, has_state) = match &self.heap.nodes[id] {
            Node::Object {
                class, args, state, ..
            } => {
                self.charge(args.len())?;
                (class.clone(), args.clone(), state.is_some())
            }
            Node::Refused(_) => return Ok(()),
            other => {
                return Err(self.malformed(format!("BUILD on {}", node_kind(other))));
            }
        };
        let replacement = match class.known {
            Some(Known::NumpyDtype) => {
                let args = self.freeze_all(&args)?;
                let state = self.freeze(&state)?;
                let d = Dtype::from_pickle(&args, Some(&state)).map_err(|m| self.numpy_err(m))?;
                Node::Dtype(Arc::new(d))
            }
            Some(Known::NumpyReconstruct) => {
                self.check_reconstruct_args(&class, &args)?;
                let state = self.freeze(&state)?;
                let a = NdArray::from_setstate(&state).map_err(|m| self.numpy_err(m))?;
                if let numpy::ArrayData::Raw(Data::Shared(b)) = &a.data {
                    // Python 2 arrays: latin-1 text copied to bytes.
                    self.owned(&b[..])?;
                }
                Node::Array(Arc::new(a))
            }
            Some(Known::JoblibArrayWrapper) => Node::Array(Arc::new(self.joblib_array(&state)?)),
            Some(Known::JoblibLegacyWrapper) => {
                return Err(PickleError::Unsupported {
                    offset: self.at,
                    message: "joblib < 0.10 files keep arrays in companion files named by the \
                              pickle; re-save the model with a current joblib"
                        .into(),
                })
            }
            Some(Known::Estimator | Known::Tree) => {
                if has_state {
                    return Err(PickleError::Unsupported {
                        offset: self.at,
                        message: format!("a second BUILD on {}", class.r),
                    });
                }
                if let Node::Object { state: s, .. } = &mut self.heap.nodes[id] {
                    *s = Some(state);
                }
                return Ok(());
            }
            _ => return Err(self.forbidden_call(&class, "it takes no BUILD state")),
        };
        self.heap.nodes[id] = replacement;
        Ok(())
    }

    /// `_reconstruct(numpy.ndarray, (0,), b"b")` is the only form numpy writes.
    fn check_reconstruct_args(&self, class: &Global, args: &[Slot<'a>]) -> Result<()> {
        match args.first() {
            Some(Slot::Global(sub)) if sub.known == Some(Known::NumpyNdarray) => Ok(()),
            _ => Err(self.forbidden_call(class, "the array class must be numpy.ndarray")),
        }
    }

    /// joblib writes an array's bytes right after its wrapper's `BUILD`
    /// (object arrays as a nested pickle), see joblib's `numpy_pickle.py`.
    fn joblib_array(&mut self, state: &Slot<'a>) -> Result<NdArray<'a>> {
        let state = self.freeze(state)?;
        let meta = joblib::WrapperMeta::from_state(&state).map_err(|m| self.numpy_err(m))?;
        if meta.dtype.has_object() {
            if self.nesting > 0 {
                return Err(PickleError::Unsupported {
                    offset: self.at,
                    message: "a joblib array wrapper inside a nested object-array pickle".into(),
                });
            }
            let at = self.at;
            let mut inner = Machine::new(self.input, self.heap, self.nesting + 1);
            let slot = inner.run()?;
            let array = match slot {
                Slot::Ref(id) => match &self.heap.nodes[id] {
                    Node::Array(a) => Some((**a).clone()),
                    _ => None,
                },
                _ => None,
            };
            return array
                .filter(|a| a.shape == meta.shape)
                .ok_or(PickleError::Numpy {
                    offset: at,
                    message: "the nested pickle after a joblib object-array wrapper is not an \
                          array of the wrapper's shape"
                        .into(),
                });
        }
        if meta.aligned {
            // One byte gives the padding length, then that many padding bytes.
            let pad = self.input.u8("joblib padding length")?;
            self.input.declared(pad as u64, "joblib padding", self.at)?;
        }
        let nbytes = numpy::element_count(&meta.shape)
            .ok()
            .and_then(|n| n.checked_mul(meta.dtype.itemsize))
            .ok_or_else(|| self.numpy_err(format!("array shape {:?} is too large", meta.shape)))?;
        let data = self
            .input
            .declared(nbytes as u64, "joblib array data", self.at)?;
        NdArray::from_raw(meta.dtype, meta.shape, meta.fortran, Data::Borrowed(data))
            .map_err(|m| self.numpy_err(m))
    }
}

fn is_latin1(enc: &str) -> bool {
    matches!(
        enc.to_ascii_lowercase().replace('_', "-").as_str(),
        "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1"
    )
}
