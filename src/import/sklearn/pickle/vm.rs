//! The restricted pickle machine: it interprets opcodes like CPython's
//! `pickle._Unpickler`, but a global is only a name checked against the
//! allowlist, and "calling" an allowed global means recording data or
//! decoding a numpy value in Rust. Nothing from the file is ever executed.

use std::collections::HashMap;
use std::sync::Arc;

use super::error::PickleError;
use super::heap::{FreezeError, Global, Heap, Node, Slot};
use super::input::Input;
use super::opcodes as op;
use super::text;
use super::value::{Data, GlobalRef, Text, Value};
use crate::import::sklearn::allowlist::{classify, Known};
use crate::import::sklearn::joblib;
use crate::import::sklearn::numpy::{self, Dtype, Kind, NdArray};

type Result<T> = std::result::Result<T, PickleError>;

/// How a global is being applied.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `REDUCE`: `func(*args)`.
    Reduce,
    /// `NEWOBJ`/`NEWOBJ_EX`/`INST`/`OBJ`: `cls.__new__(cls, *args)`.
    New,
}

/// One pickle stream being decoded. joblib's object arrays are pickles
/// nested in the outer stream; each gets its own machine (own stack and
/// memo, as in joblib) over the shared input and heap.
pub(crate) struct Machine<'a, 'm> {
    input: &'m mut Input<'a>,
    heap: &'m mut Heap<'a>,
    stack: Vec<Slot<'a>>,
    marks: Vec<usize>,
    memo: HashMap<u64, Slot<'a>>,
    /// 0 for the file itself, 1 inside a joblib object-array pickle.
    nesting: usize,
    /// Offset of the opcode being executed, for errors.
    at: usize,
}

impl<'a, 'm> Machine<'a, 'm> {
    pub(crate) fn new(input: &'m mut Input<'a>, heap: &'m mut Heap<'a>, nesting: usize) -> Self {
        Machine {
            input,
            heap,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            nesting,
            at: 0,
        }
    }

    /// Runs to `STOP` and returns the pickled object.
    pub(crate) fn run(&mut self) -> Result<Slot<'a>> {
        loop {
            self.at = self.input.pos();
            let code = self.input.u8("an opcode (the pickle has no STOP)")?;
            if code == op::STOP {
                return self.pop();
            }
            self.step(code)?;
        }
    }

    fn step(&mut self, code: u8) -> Result<()> {
        match code {
            op::PROTO => {
                let protocol = self.input.u8("PROTO")?;
                if protocol > op::HIGHEST_PROTOCOL {
                    return Err(PickleError::UnsupportedProtocol {
                        protocol,
                        offset: self.at,
                    });
                }
            }
            op::FRAME => {
                // Frames only group opcodes for buffered reading; reading
                // linearly gives the same result. The size is still checked.
                let n = u64::from_le_bytes(self.input.array("FRAME size")?);
                if n > self.input.remaining() as u64 {
                    return Err(PickleError::LengthExceedsInput {
                        what: "FRAME",
                        declared: n,
                        remaining: self.input.remaining(),
                        offset: self.at,
                    });
                }
            }
            op::MARK => {
                if self.marks.len() >= self.heap.limits.max_marks {
                    return Err(self.limit("MARK nesting", self.heap.limits.max_marks));
                }
                self.marks.push(self.stack.len());
            }
            op::POP => {
                // As CPython: POP on an empty mark frame discards the mark.
                if self.stack.len() > self.frame_start() {
                    self.stack.pop();
                } else {
                    self.pop_mark()?;
                }
            }
            op::POP_MARK => {
                self.pop_mark()?;
            }
            op::DUP => {
                let top = self.top()?.clone();
                self.push(top)?;
            }

            op::NONE => self.push(Slot::None)?,
            op::NEWTRUE => self.push(Slot::Bool(true))?,
            op::NEWFALSE => self.push(Slot::Bool(false))?,
            op::BININT => {
                let v = i32::from_le_bytes(self.input.array("BININT")?);
                self.push(Slot::Int(v as i64))?
            }
            op::BININT1 => {
                let v = self.input.u8("BININT1")?;
                self.push(Slot::Int(v as i64))?
            }
            op::BININT2 => {
                let v = u16::from_le_bytes(self.input.array("BININT2")?);
                self.push(Slot::Int(v as i64))?
            }
            op::LONG1 => {
                let n = self.input.u8("LONG1 length")? as u64;
                let bytes = self.input.declared(n, "LONG1", self.at)?;
                self.push(long_slot(bytes))?
            }
            op::LONG4 => {
                let n = i32::from_le_bytes(self.input.array("LONG4 length")?);
                let n =
                    u64::try_from(n).map_err(|_| self.malformed("LONG4 with a negative length"))?;
                let bytes = self.input.declared(n, "LONG4", self.at)?;
                self.push(long_slot(bytes))?
            }
            op::BINFLOAT => {
                let v = f64::from_be_bytes(self.input.array("BINFLOAT")?);
                self.push(Slot::Float(v))?
            }
            op::INT => {
                let line = self.input.line("INT")?;
                let slot = match line {
                    b"00" => Slot::Bool(false),
                    b"01" => Slot::Bool(true),
                    _ => Slot::Int(self.decimal(line, "INT")?),
                };
                self.push(slot)?
            }
            op::LONG => {
                let line = self.input.line("LONG")?;
                let digits = line.strip_suffix(b"L").unwrap_or(line);
                let v = self.decimal(digits, "LONG")?;
                self.push(Slot::Int(v))?
            }
            op::FLOAT => {
                let line = self.input.line("FLOAT")?;
                let v = std::str::from_utf8(line)
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .ok_or_else(|| self.malformed("FLOAT is not a number"))?;
                self.push(Slot::Float(v))?
            }

            op::BINUNICODE => {
                let n = u32::from_le_bytes(self.input.array("BINUNICODE length")?);
                self.unicode(n as u64, "BINUNICODE")?
            }
            op::SHORT_BINUNICODE => {
                let n = self.input.u8("SHORT_BINUNICODE length")?;
                self.unicode(n as u64, "SHORT_BINUNICODE")?
            }
            op::BINUNICODE8 => {
                let n = u64::from_le_bytes(self.input.array("BINUNICODE8 length")?);
                self.unicode(n, "BINUNICODE8")?
            }
            op::UNICODE => {
                let line = self.input.line("UNICODE")?;
                let s = text::raw_unicode_escape(line).map_err(|m| self.malformed(m))?;
                self.push(Slot::Str(Text::Shared(s.into())))?
            }
            op::BINBYTES => {
                let n = u32::from_le_bytes(self.input.array("BINBYTES length")?);
                self.bytes(n as u64, "BINBYTES")?
            }
            op::SHORT_BINBYTES => {
                let n = self.input.u8("SHORT_BINBYTES length")?;
                self.bytes(n as u64, "SHORT_BINBYTES")?
            }
            op::BINBYTES8 => {
                let n = u64::from_le_bytes(self.input.array("BINBYTES8 length")?);
                self.bytes(n, "BINBYTES8")?
            }
            op::BYTEARRAY8 => {
                let n = u64::from_le_bytes(self.input.array("BYTEARRAY8 length")?);
                self.bytes(n, "BYTEARRAY8")?
            }
            op::BINSTRING => {
                let n = i32::from_le_bytes(self.input.array("BINSTRING length")?);
                let n = u64::try_from(n)
                    .map_err(|_| self.malformed("BINSTRING with a negative length"))?;
                let b = self.input.declared(n, "BINSTRING", self.at)?;
                self.push(py2_string(b))?
            }
            op::SHORT_BINSTRING => {
                let n = self.input.u8("SHORT_BINSTRING length")?;
                let b = self.input.declared(n as u64, "SHORT_BINSTRING", self.at)?;
                self.push(py2_string(b))?
            }
            op::STRING => {
                let line = self.input.line("STRING")?;
                let b = text::python_string_literal(line).map_err(|m| self.malformed(m))?;
                self.push(match String::from_utf8(b) {
                    Ok(s) => Slot::Str(Text::Shared(s.into())),
                    Err(e) => Slot::Bytes(Data::Shared(e.into_bytes().into())),
                })?
            }

            op::EMPTY_TUPLE => self.new_node(Node::Tuple(Vec::new()))?,
            op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                let n = (code - op::TUPLE1 + 1) as usize;
                if self.stack.len() < self.frame_start() + n {
                    return Err(self.malformed(format!("{} needs {n} items", op::name(code))));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.new_node(Node::Tuple(items))?
            }
            op::TUPLE => {
                let items = self.pop_mark()?;
                self.new_node(Node::Tuple(items))?
            }
            op::EMPTY_LIST => self.new_node(Node::List(Vec::new()))?,
            op::LIST => {
                let items = self.pop_mark()?;
                self.new_node(Node::List(items))?
            }
            op::EMPTY_DICT => self.new_node(Node::Dict(Vec::new()))?,
            op::DICT => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)
                    .ok_or_else(|| self.malformed("DICT with an odd number of items"))?;
                self.new_node(Node::Dict(pairs))?
            }
            op::EMPTY_SET => self.new_node(Node::Set(Vec::new()))?,
            op::FROZENSET => {
                let items = self.pop_mark()?;
                self.new_node(Node::Set(items))?
            }
            op::APPEND => {
                let v = self.pop()?;
                self.extend(vec![v], "APPEND")?
            }
            op::APPENDS => {
                let items = self.pop_mark()?;
                self.extend(items, "APPENDS")?
            }
            op::ADDITEMS => {
                let items = self.pop_mark()?;
                self.extend(items, "ADDITEMS")?
            }
            op::SETITEM => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![(k, v)])?
            }
            op::SETITEMS => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)
                    .ok_or_else(|| self.malformed("SETITEMS with an odd number of items"))?;
                self.set_items(pairs)?
            }

            op::PUT => {
                let line = self.input.line("PUT")?;
                let i = self.decimal(line, "PUT")?;
                let i = u64::try_from(i).map_err(|_| self.malformed("negative PUT index"))?;
                self.memo_put(i)?
            }
            op::BINPUT => {
                let i = self.input.u8("BINPUT")?;
                self.memo_put(i as u64)?
            }
            op::LONG_BINPUT => {
                let i = u32::from_le_bytes(self.input.array("LONG_BINPUT")?);
                self.memo_put(i as u64)?
            }
            op::MEMOIZE => {
                let i = self.memo.len() as u64;
                self.memo_put(i)?
            }
            op::GET => {
                let line = self.input.line("GET")?;
                let i = self.decimal(line, "GET")?;
                let i = u64::try_from(i).map_err(|_| self.malformed("negative GET index"))?;
                self.memo_get(i)?
            }
            op::BINGET => {
                let i = self.input.u8("BINGET")?;
                self.memo_get(i as u64)?
            }
            op::LONG_BINGET => {
                let i = u32::from_le_bytes(self.input.array("LONG_BINGET")?);
                self.memo_get(i as u64)?
            }

            op::GLOBAL => {
                let module = self.input.line("GLOBAL module")?;
                let name = self.input.line("GLOBAL name")?;
                let (module, name) = (self.utf8(module)?, self.utf8(name)?);
                let g = self.global(module, name)?;
                self.push(g)?
            }
            op::STACK_GLOBAL => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Slot::Str(module), Slot::Str(name)) = (&module, &name) else {
                    return Err(self.malformed("STACK_GLOBAL needs two strings"));
                };
                let g = self.global(module.to_string(), name.to_string())?;
                self.push(g)?
            }
            op::REDUCE => {
                let args = self.pop()?;
                let func = self.pop()?;
                let args = self.tuple_items(&args, "REDUCE arguments")?;
                let r = self.apply(func, args, None, Call::Reduce)?;
                self.push(r)?
            }
            op::NEWOBJ => {
                let args = self.pop()?;
                let cls = self.pop()?;
                let args = self.tuple_items(&args, "NEWOBJ arguments")?;
                let r = self.apply(cls, args, None, Call::New)?;
                self.push(r)?
            }
            op::NEWOBJ_EX => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                let args = self.tuple_items(&args, "NEWOBJ_EX arguments")?;
                let r = self.apply(cls, args, Some(kwargs), Call::New)?;
                self.push(r)?
            }
            op::INST => {
                let module = self.input.line("INST module")?;
                let name = self.input.line("INST name")?;
                let (module, name) = (self.utf8(module)?, self.utf8(name)?);
                let cls = self.global(module, name)?;
                let args = self.pop_mark()?;
                let r = self.apply(cls, args, None, Call::New)?;
                self.push(r)?
            }
            op::OBJ => {
                let mut args = self.pop_mark()?;
                if args.is_empty() {
                    return Err(self.malformed("OBJ without a class"));
                }
                let cls = args.remove(0);
                let r = self.apply(cls, args, None, Call::New)?;
                self.push(r)?
            }
            op::BUILD => {
                let state = self.pop()?;
                let target = self.top()?.clone();
                self.build(target, state)?
            }

            op::EXT1 | op::EXT2 | op::EXT4 => {
                let n = match code {
                    op::EXT1 => 1,
                    op::EXT2 => 2,
                    _ => 4,
                };
                let mut b = [0u8; 4];
                b[..n].copy_from_slice(self.input.fixed(n, "EXT code")?);
                let code_value = u32::from_le_bytes(b);
                self.refuse_opcode(
                    code,
                    "the extension registry maps codes to arbitrary globals",
                    format!("extension code {code_value}"),
                )?
            }
            op::PERSID => {
                let line = self.input.line("PERSID")?;
                let id = String::from_utf8_lossy(line).into_owned();
                self.refuse_opcode(
                    code,
                    "persistent ids load objects from outside the pickle",
                    id,
                )?
            }
            op::BINPERSID => {
                self.pop()?;
                self.refuse_opcode(
                    code,
                    "persistent ids load objects from outside the pickle",
                    "binary persistent id".into(),
                )?
            }
            op::NEXT_BUFFER | op::READONLY_BUFFER => self.refuse_opcode(
                code,
                "out-of-band buffers are not part of the file",
                "out-of-band buffer".into(),
            )?,
            _ => {
                return Err(PickleError::UnknownOpcode {
                    opcode: code,
                    offset: self.at,
                })
            }
        }
        Ok(())
    }

    // ----- errors -------------------------------------------------------

    fn malformed(&self, message: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            offset: self.at,
            message: message.into(),
        }
    }

    fn limit(&self, what: &'static str, limit: usize) -> PickleError {
        PickleError::LimitExceeded {
            what,
            limit,
            offset: self.at,
        }
    }

    fn numpy_err(&self, message: impl Into<String>) -> PickleError {
        PickleError::Numpy {
            offset: self.at,
            message: message.into(),
        }
    }

    fn freeze_err(&self, e: FreezeError) -> PickleError {
        match e {
            FreezeError::Cycle => PickleError::Unsupported {
                offset: self.at,
                message: "a self-referencing structure".into(),
            },
            FreezeError::TooDeep(limit) => self.limit("nesting depth", limit),
        }
    }

    /// A refused opcode: an error, or in inspect mode a recorded pseudo-global.
    fn refuse_opcode(&mut self, code: u8, reason: &'static str, what: String) -> Result<()> {
        if !self.heap.inspect {
            return Err(PickleError::ForbiddenOpcode {
                opcode: code,
                name: op::name(code),
                reason,
                offset: self.at,
            });
        }
        let g = Arc::new(Global {
            r: GlobalRef {
                module: format!("<{}>", op::name(code)),
                name: what,
                allowed: false,
            },
            known: None,
        });
        self.heap.record_global(&g.r);
        self.new_node(Node::Refused(g))
    }

    // ----- stack --------------------------------------------------------

    fn frame_start(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, slot: Slot<'a>) -> Result<()> {
        if self.stack.len() >= self.heap.limits.max_stack {
            return Err(self.limit("stack size", self.heap.limits.max_stack));
        }
        self.stack.push(slot);
        Ok(())
    }

    fn pop(&mut self) -> Result<Slot<'a>> {
        if self.stack.len() <= self.frame_start() {
            return Err(self.malformed("stack underflow"));
        }
        Ok(self.stack.pop().expect("length checked"))
    }

    fn top(&self) -> Result<&Slot<'a>> {
        if self.stack.len() <= self.frame_start() {
            return Err(self.malformed("stack underflow"));
        }
        Ok(self.stack.last().expect("length checked"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Slot<'a>>> {
        let start = self
            .marks
            .pop()
            .ok_or_else(|| self.malformed("no MARK to pop"))?;
        Ok(self.stack.split_off(start))
    }

    fn new_node(&mut self, node: Node<'a>) -> Result<()> {
        let id = self.alloc(node)?;
        self.push(Slot::Ref(id))
    }

    fn alloc(&mut self, node: Node<'a>) -> Result<usize> {
        let limits = &self.heap.limits;
        if self.heap.nodes.len() >= limits.max_objects {
            return Err(self.limit("object count", limits.max_objects));
        }
        let items = match &node {
            Node::Tuple(v) | Node::List(v) | Node::Set(v) => v.len(),
            Node::Dict(v) => v.len() * 2,
            Node::Object { args, .. } => args.len(),
            _ => 0,
        };
        self.count_items(items)?;
        self.heap.nodes.push(node);
        Ok(self.heap.nodes.len() - 1)
    }

    fn count_items(&mut self, n: usize) -> Result<()> {
        let max = self.heap.limits.max_items;
        match self.heap.items.checked_add(n) {
            Some(total) if total <= max => {
                self.heap.items = total;
                Ok(())
            }
            _ => Err(self.limit("container items", max)),
        }
    }

    // ----- containers ---------------------------------------------------

    fn extend(&mut self, items: Vec<Slot<'a>>, what: &str) -> Result<()> {
        let Slot::Ref(id) = *self.top()? else {
            return Err(self.malformed(format!("{what} on a scalar")));
        };
        self.count_items(items.len())?;
        match &mut self.heap.nodes[id] {
            Node::List(v) | Node::Set(v) => {
                v.extend(items);
                Ok(())
            }
            Node::Refused(_) => Ok(()),
            _ => Err(self.malformed(format!("{what} on something that is not a list or set"))),
        }
    }

    fn set_items(&mut self, pairs: Vec<(Slot<'a>, Slot<'a>)>) -> Result<()> {
        let Slot::Ref(id) = *self.top()? else {
            return Err(self.malformed("SETITEM on a scalar"));
        };
        self.count_items(pairs.len() * 2)?;
        match &mut self.heap.nodes[id] {
            Node::Dict(v) => {
                v.extend(pairs);
                Ok(())
            }
            Node::Refused(_) => Ok(()),
            _ => Err(self.malformed("SETITEM on something that is not a dict")),
        }
    }

    fn tuple_items(&self, slot: &Slot<'a>, what: &str) -> Result<Vec<Slot<'a>>> {
        match slot {
            Slot::Ref(id) => match &self.heap.nodes[*id] {
                Node::Tuple(items) => Ok(items.clone()),
                _ => Err(self.malformed(format!("{what} are not a tuple"))),
            },
            _ => Err(self.malformed(format!("{what} are not a tuple"))),
        }
    }

    // ----- memo ---------------------------------------------------------

    fn memo_put(&mut self, i: u64) -> Result<()> {
        let top = self.top()?.clone();
        if !self.memo.contains_key(&i) && self.memo.len() >= self.heap.limits.max_memo {
            return Err(self.limit("memo size", self.heap.limits.max_memo));
        }
        self.memo.insert(i, top);
        Ok(())
    }

    fn memo_get(&mut self, i: u64) -> Result<()> {
        let v = self
            .memo
            .get(&i)
            .cloned()
            .ok_or_else(|| self.malformed(format!("memo entry {i} does not exist")))?;
        self.push(v)
    }

    // ----- scalars ------------------------------------------------------

    fn unicode(&mut self, n: u64, what: &'static str) -> Result<()> {
        let b = self.input.declared(n, what, self.at)?;
        let s =
            std::str::from_utf8(b).map_err(|_| self.malformed(format!("{what} is not UTF-8")))?;
        self.push(Slot::Str(Text::Borrowed(s)))
    }

    fn bytes(&mut self, n: u64, what: &'static str) -> Result<()> {
        let b = self.input.declared(n, what, self.at)?;
        self.push(Slot::Bytes(Data::Borrowed(b)))
    }

    fn decimal(&self, digits: &[u8], what: &str) -> Result<i64> {
        std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| PickleError::Unsupported {
                offset: self.at,
                message: format!("{what} operand is not a 64-bit integer"),
            })
    }

    fn utf8(&self, b: &[u8]) -> Result<String> {
        String::from_utf8(b.to_vec()).map_err(|_| self.malformed("global name is not UTF-8"))
    }

    // ----- globals and calls ------------------------------------------------

    fn global(&mut self, module: String, name: String) -> Result<Slot<'a>> {
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

    fn freeze(&self, slot: &Slot<'a>) -> Result<Value<'a>> {
        self.heap.freeze(slot).map_err(|e| self.freeze_err(e))
    }

    fn freeze_all(&self, slots: &[Slot<'a>]) -> Result<Vec<Value<'a>>> {
        slots.iter().map(|s| self.freeze(s)).collect()
    }

    /// Applies `func` (a global) to `args`; in inspect mode a refused use
    /// becomes a placeholder so that listing can go on.
    fn apply(
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
                        Ok(Slot::Bytes(Data::Shared(b.into())))
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
                        Ok(Slot::Bytes(Data::Shared(b.into())))
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
            Value::Str(s) => Data::Shared(
                numpy::latin1_bytes(&s)
                    .ok_or_else(|| self.numpy_err("scalar data is not latin-1"))?
                    .into(),
            ),
            other => return Err(self.numpy_err(format!("scalar data is a {}", other.kind()))),
        };
        match numpy::scalar_value(&dtype, &bytes).map_err(|m| self.numpy_err(m))? {
            Value::Bool(b) => Ok(Slot::Bool(b)),
            Value::Int(i) => Ok(Slot::Int(i)),
            Value::Float(f) => Ok(Slot::Float(f)),
            Value::Str(s) => Ok(Slot::Str(s)),
            _ => Err(self.numpy_err("unexpected scalar")),
        }
    }

    // ----- BUILD ----------------------------------------------------------

    fn build(&mut self, target: Slot<'a>, state: Slot<'a>) -> Result<()> {
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
            } => (class.clone(), args.clone(), state.is_some()),
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

fn node_kind(n: &Node<'_>) -> &'static str {
    match n {
        Node::Tuple(_) => "a tuple",
        Node::List(_) => "a list",
        Node::Set(_) => "a set",
        Node::Dict(_) => "a dict",
        Node::Object { .. } => "an object",
        Node::Array(_) => "an array",
        Node::Dtype(_) => "a dtype",
        Node::Refused(_) => "a refused object",
    }
}

fn is_latin1(enc: &str) -> bool {
    matches!(
        enc.to_ascii_lowercase().replace('_', "-").as_str(),
        "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1"
    )
}

fn pairs<'a>(items: Vec<Slot<'a>>) -> Option<Vec<(Slot<'a>, Slot<'a>)>> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Some(out)
}

/// A little-endian two's complement integer (`LONG1`/`LONG4`).
fn long_slot<'a>(bytes: &[u8]) -> Slot<'a> {
    if bytes.is_empty() {
        return Slot::Int(0);
    }
    if bytes.len() <= 8 {
        let mut b = [if bytes[bytes.len() - 1] & 0x80 != 0 {
            0xff
        } else {
            0
        }; 8];
        b[..bytes.len()].copy_from_slice(bytes);
        return Slot::Int(i64::from_le_bytes(b));
    }
    Slot::BigInt(bytes.into())
}

/// A Python 2 `str`: text when ASCII (as Python 3 decodes it by default), else bytes.
fn py2_string(b: &[u8]) -> Slot<'_> {
    match std::str::from_utf8(b) {
        Ok(s) if s.is_ascii() => Slot::Str(Text::Borrowed(s)),
        _ => Slot::Bytes(Data::Borrowed(b)),
    }
}
