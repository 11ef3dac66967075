//! What the machine does instead of calling: `REDUCE`, `NEWOBJ` and
//! `BUILD` applied to allowed globals record objects, or decode numpy
//! dtypes, arrays and scalars and joblib's array payloads in Rust. numpy's
//! random pickling helpers record inert objects whose arguments and state
//! must be plain data (see [`crate::import::sklearn::allowlist`]).

use std::collections::HashSet;
use std::sync::Arc;

use super::error::PickleError;
use super::heap::{Global, Node, Slot};
use super::value::{Data, GlobalRef, Value};
use super::vm::{node_kind, Call, Machine, Result};
use crate::import::sklearn::allowlist::{
    classify, Known, RandomClass, RandomCtor, BIT_GENERATOR_NAMES,
};
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
            Slot::Ref(id) => {
                if let Some(class) = self.inert_class(*id).cloned() {
                    return self.call_inert(class);
                }
                let what = node_kind(&self.heap.nodes[*id]);
                return Err(self.malformed(format!("call of {what}, which is no global")));
            }
            _ => return Err(self.malformed("call of a scalar, which is no global")),
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

    /// An inert numpy random object (recorded by helper `class`) applied to
    /// something: refused, or a placeholder in inspect mode.
    fn call_inert(&mut self, class: Arc<Global>) -> Result<Slot<'a>> {
        if self.heap.inspect {
            let id = self.alloc(Node::Refused(class))?;
            return Ok(Slot::Ref(id));
        }
        let what = match class.known {
            Some(Known::RandomCtor(c)) => c.builds(),
            _ => "object",
        };
        Err(self.forbidden_call(
            &class,
            format!("the {what} it stands for is inert: it is never called"),
        ))
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
                | Known::Component
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
            (Known::RandomCtor(ctor), Call::Reduce) => {
                self.check_random_args(g, ctor, &args)?;
                let id = self.alloc(object(args, None))?;
                Ok(Slot::Ref(id))
            }
            (Known::RandomCtor(_), Call::New) => Err(self.forbidden_call(
                g,
                "numpy's random pickling helpers are functions, applied only with REDUCE",
            )),
            (Known::RandomClass(_), _) => Err(self.forbidden_call(
                g,
                "it is allowed only as an argument of numpy's random pickling helpers, \
                 never called",
            )),
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
            (Known::DictLike, Call::Reduce) => match args.as_slice() {
                // OrderedDict(), defaultdict(), defaultdict(OrderedDict):
                // an empty dict whatever the factory, which is never called.
                [] => Ok(Slot::Ref(self.alloc(Node::Dict(Vec::new()))?)),
                [Slot::Global(factory)] if factory.known == Some(Known::DictLike) => {
                    Ok(Slot::Ref(self.alloc(Node::Dict(Vec::new()))?))
                }
                _ => Err(self.forbidden_call(
                    g,
                    "only OrderedDict(), defaultdict() and defaultdict(OrderedDict) are allowed",
                )),
            },
            (Known::CopyregReconstructor, Call::Reduce) => {
                // _reconstructor(cls, object, None) is object.__new__(cls).
                match args.as_slice() {
                    [Slot::Global(cls), Slot::Global(base), Slot::None]
                        if matches!(
                            cls.known,
                            Some(Known::Estimator | Known::Component | Known::Tree)
                        ) && base.known == Some(Known::BuiltinsObject) =>
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
            Some(
                known @ (Known::Estimator | Known::Component | Known::Tree | Known::RandomCtor(_)),
            ) => {
                if has_state {
                    return Err(PickleError::Unsupported {
                        offset: self.at,
                        message: format!("a second BUILD on {}", class.r),
                    });
                }
                if known.is_inert() {
                    self.check_inert_data(&class, std::slice::from_ref(&state), "its BUILD state")?;
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

    // ----- inert numpy random state -----------------------------------------

    /// The helper that recorded node `id`, if it is an inert numpy random object.
    fn inert_class(&self, id: usize) -> Option<&Arc<Global>> {
        match &self.heap.nodes[id] {
            Node::Object { class, .. } if class.known.is_some_and(Known::is_inert) => Some(class),
            _ => None,
        }
    }

    /// Whether `slot` is an inert object recorded by helper `ctor`.
    fn is_inert_from(&self, slot: &Slot<'a>, ctor: RandomCtor) -> bool {
        match slot {
            Slot::Ref(id) => self
                .inert_class(*id)
                .is_some_and(|c| c.known == Some(Known::RandomCtor(ctor))),
            _ => false,
        }
    }

    /// Checks a random pickling helper's arguments against the forms numpy
    /// writes (see the allowlist module docs); none is ever interpreted.
    fn check_random_args(&self, g: &Global, ctor: RandomCtor, args: &[Slot<'a>]) -> Result<()> {
        let name_or_bitgen = |slot: &Slot<'a>| {
            is_bit_generator_name(slot) || self.is_inert_from(slot, RandomCtor::BitGenerator)
        };
        let bitgen_ctor = Known::RandomCtor(RandomCtor::BitGenerator);
        let (ok, form) = match ctor {
            RandomCtor::RandomState | RandomCtor::Generator => (
                match args {
                    [] => true,
                    [first] => name_or_bitgen(first),
                    [first, make] => name_or_bitgen(first) && is_global(make, bitgen_ctor),
                    _ => false,
                },
                "(bit generator name or bit generator[, __bit_generator_ctor])",
            ),
            RandomCtor::BitGenerator => (
                match args {
                    [] => true,
                    [x] => {
                        is_bit_generator_name(x)
                            || is_global(x, Known::RandomClass(RandomClass::BitGenerator))
                    }
                    _ => false,
                },
                "(bit generator name or numpy bit generator class)",
            ),
            RandomCtor::LegacyRandomState => (args.is_empty(), "()"),
            RandomCtor::SeedSequence => match args {
                [cls, Slot::Int(_), state]
                    if is_global(cls, Known::RandomClass(RandomClass::SeedSequence)) =>
                {
                    return self.check_inert_data(g, std::slice::from_ref(state), "its state");
                }
                _ => (
                    false,
                    "(numpy.random.bit_generator.SeedSequence, checksum, state)",
                ),
            },
        };
        if ok {
            return Ok(());
        }
        let names = match ctor {
            RandomCtor::LegacyRandomState | RandomCtor::SeedSequence => String::new(),
            _ => format!(
                ", with a bit generator name numpy knows ({})",
                BIT_GENERATOR_NAMES.join(", ")
            ),
        };
        Err(self.forbidden_call(
            g,
            format!(
                "only {}{form} is allowed{names}; it stands for an inert {} and is never called",
                g.r.name,
                ctor.builds()
            ),
        ))
    }

    /// Inert numpy random objects hold plain data only: scalars, text,
    /// bytes, containers, arrays, dtypes and other inert objects; no
    /// estimator, tree, placeholder or global. Walks the arena visiting each
    /// node once, charged to the work budget, so shared or deep structures
    /// cost no more than their size and no recursion is involved.
    fn check_inert_data(&self, g: &Global, slots: &[Slot<'a>], what: &str) -> Result<()> {
        let refuse = |found: String| {
            self.forbidden_call(
                g,
                format!("{what} holds {found}; numpy random state may only hold plain data"),
            )
        };
        let mut todo: Vec<&Slot<'a>> = slots.iter().collect();
        let mut seen = HashSet::new();
        while let Some(slot) = todo.pop() {
            self.charge(1)?;
            let id = match slot {
                Slot::Global(h) => return Err(refuse(format!("the global {}", h.r))),
                Slot::Ref(id) => *id,
                _ => continue,
            };
            if !seen.insert(id) {
                continue;
            }
            match &self.heap.nodes[id] {
                Node::Tuple(items) | Node::List(items) | Node::Set(items) => todo.extend(items),
                Node::Dict(pairs) => todo.extend(pairs.iter().flat_map(|(k, v)| [k, v])),
                Node::Array(_) | Node::Dtype(_) => {}
                // Checked when it was recorded and built.
                Node::Object { class, .. } if class.known.is_some_and(Known::is_inert) => {}
                Node::Object { class, .. } => return Err(refuse(format!("a {} object", class.r))),
                Node::Refused(h) => return Err(refuse(format!("the refused {}", h.r))),
            }
        }
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

/// Whether `slot` is the allowed global standing for `known`.
fn is_global(slot: &Slot<'_>, known: Known) -> bool {
    matches!(slot, Slot::Global(h) if h.known == Some(known))
}

/// A bit generator name numpy's `__bit_generator_ctor` accepts.
fn is_bit_generator_name(slot: &Slot<'_>) -> bool {
    matches!(slot, Slot::Str(s) if BIT_GENERATOR_NAMES.contains(&&**s))
}

fn is_latin1(enc: &str) -> bool {
    matches!(
        enc.to_ascii_lowercase().replace('_', "-").as_str(),
        "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1"
    )
}
