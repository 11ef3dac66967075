//! The restricted pickle machine: it interprets opcodes like CPython's
//! `pickle._Unpickler`, but a global is only a name checked against the
//! allowlist, and "calling" an allowed global ([`super::calls`]) means
//! recording data or decoding a numpy value in Rust. Nothing from the file
//! is ever executed.

use std::collections::HashMap;
use std::sync::Arc;

use super::error::PickleError;
use super::heap::{FreezeError, Global, Heap, Node, Slot};
use super::input::Input;
use super::opcodes as op;
use super::text;
use super::value::{Data, GlobalRef, Text};

pub(super) type Result<T> = std::result::Result<T, PickleError>;

/// How a global is being applied.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Call {
    /// `REDUCE`: `func(*args)`.
    Reduce,
    /// `NEWOBJ`/`NEWOBJ_EX`/`INST`/`OBJ`: `cls.__new__(cls, *args)`.
    New,
}

/// One pickle stream being decoded. joblib's object arrays are pickles
/// nested in the outer stream; each gets its own machine (own stack and
/// memo, as in joblib) over the shared input and heap.
pub(crate) struct Machine<'a, 'm> {
    pub(super) input: &'m mut Input<'a>,
    pub(super) heap: &'m mut Heap<'a>,
    pub(super) stack: Vec<Slot<'a>>,
    pub(super) marks: Vec<usize>,
    pub(super) memo: HashMap<u64, Slot<'a>>,
    /// 0 for the file itself, 1 inside a joblib object-array pickle.
    pub(super) nesting: usize,
    /// Offset of the opcode being executed, for errors.
    pub(super) at: usize,
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

    /// Executes one opcode (the one at `self.at`).
    pub(super) fn step(&mut self, code: u8) -> Result<()> {
        let known = self.control(code)?
            || self.scalar(code)?
            || self.text(code)?
            || self.container(code)?
            || self.memo_op(code)?
            || self.object(code)?
            || self.refused(code)?;
        if known {
            Ok(())
        } else {
            Err(PickleError::UnknownOpcode {
                opcode: code,
                offset: self.at,
            })
        }
    }

    /// Stack and framing opcodes: protocol, frames, marks, pops. `Ok(false)` for any other opcode.
    fn control(&mut self, code: u8) -> Result<bool> {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Numbers, booleans and `None`. `Ok(false)` for any other opcode.
    fn scalar(&mut self, code: u8) -> Result<bool> {
        match code {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Strings and bytes of every protocol. `Ok(false)` for any other opcode.
    fn text(&mut self, code: u8) -> Result<bool> {
        match code {
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
                let s = self.owned(s)?;
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
                let b = self.owned(b)?;
                self.push(match String::from_utf8(b) {
                    Ok(s) => Slot::Str(Text::Shared(s.into())),
                    Err(e) => Slot::Bytes(Data::Shared(e.into_bytes().into())),
                })?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Tuples, lists, dicts and sets, and adding to them. `Ok(false)` for any other opcode.
    fn container(&mut self, code: u8) -> Result<bool> {
        match code {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The memo: storing and fetching objects by index. `Ok(false)` for any other opcode.
    fn memo_op(&mut self, code: u8) -> Result<bool> {
        match code {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Globals (checked against the allowlist), calls and `BUILD`. `Ok(false)` for any other opcode.
    fn object(&mut self, code: u8) -> Result<bool> {
        match code {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Opcodes that reach outside the pickle: refused with the reason. `Ok(false)` for any other opcode.
    fn refused(&mut self, code: u8) -> Result<bool> {
        match code {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    // ----- errors -------------------------------------------------------

    pub(super) fn malformed(&self, message: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            offset: self.at,
            message: message.into(),
        }
    }

    pub(super) fn limit(&self, what: &'static str, limit: usize) -> PickleError {
        PickleError::LimitExceeded {
            what,
            limit,
            offset: self.at,
        }
    }

    pub(super) fn numpy_err(&self, message: impl Into<String>) -> PickleError {
        PickleError::Numpy {
            offset: self.at,
            message: message.into(),
        }
    }

    pub(super) fn freeze_err(&self, e: FreezeError) -> PickleError {
        match e {
            FreezeError::Cycle => PickleError::Unsupported {
                offset: self.at,
                message: "a self-referencing structure".into(),
            },
            FreezeError::TooDeep(limit) => self.limit("nesting depth", limit),
            FreezeError::TooMuchWork(limit) => self.limit("decoding work", limit),
        }
    }

    pub(super) fn charge(&self, n: usize) -> Result<()> {
        self.heap
            .charge(n)
            .map_err(|limit| self.limit("decoding work", limit))
    }

    /// Accounts for owned bytes built from the input (see `Heap::charge_bytes`).
    pub(super) fn owned<T: AsRef<[u8]>>(&mut self, data: T) -> Result<T> {
        let n = data.as_ref().len();
        let at = self.at;
        self.heap
            .charge_bytes(n)
            .map_err(|limit| PickleError::LimitExceeded {
                what: "bytes copied while decoding",
                limit,
                offset: at,
            })?;
        Ok(data)
    }

    /// A refused opcode: an error, or in inspect mode a recorded pseudo-global.
    pub(super) fn refuse_opcode(
        &mut self,
        code: u8,
        reason: &'static str,
        what: String,
    ) -> Result<()> {
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

    pub(super) fn frame_start(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    pub(super) fn push(&mut self, slot: Slot<'a>) -> Result<()> {
        if self.stack.len() >= self.heap.limits.max_stack {
            return Err(self.limit("stack size", self.heap.limits.max_stack));
        }
        self.stack.push(slot);
        Ok(())
    }

    pub(super) fn pop(&mut self) -> Result<Slot<'a>> {
        if self.stack.len() <= self.frame_start() {
            return Err(self.malformed("stack underflow"));
        }
        Ok(self.stack.pop().expect("length checked"))
    }

    pub(super) fn top(&self) -> Result<&Slot<'a>> {
        if self.stack.len() <= self.frame_start() {
            return Err(self.malformed("stack underflow"));
        }
        Ok(self.stack.last().expect("length checked"))
    }

    pub(super) fn pop_mark(&mut self) -> Result<Vec<Slot<'a>>> {
        let start = self
            .marks
            .pop()
            .ok_or_else(|| self.malformed("no MARK to pop"))?;
        Ok(self.stack.split_off(start))
    }

    pub(super) fn new_node(&mut self, node: Node<'a>) -> Result<()> {
        let id = self.alloc(node)?;
        self.push(Slot::Ref(id))
    }

    pub(super) fn alloc(&mut self, node: Node<'a>) -> Result<usize> {
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

    pub(super) fn count_items(&mut self, n: usize) -> Result<()> {
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

    pub(super) fn extend(&mut self, items: Vec<Slot<'a>>, what: &str) -> Result<()> {
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

    pub(super) fn set_items(&mut self, pairs: Vec<(Slot<'a>, Slot<'a>)>) -> Result<()> {
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

    pub(super) fn tuple_items(&self, slot: &Slot<'a>, what: &str) -> Result<Vec<Slot<'a>>> {
        match slot {
            Slot::Ref(id) => match &self.heap.nodes[*id] {
                Node::Tuple(items) => {
                    self.charge(items.len())?;
                    Ok(items.clone())
                }
                _ => Err(self.malformed(format!("{what} are not a tuple"))),
            },
            _ => Err(self.malformed(format!("{what} are not a tuple"))),
        }
    }

    // ----- memo ---------------------------------------------------------

    pub(super) fn memo_put(&mut self, i: u64) -> Result<()> {
        let top = self.top()?.clone();
        if !self.memo.contains_key(&i) && self.memo.len() >= self.heap.limits.max_memo {
            return Err(self.limit("memo size", self.heap.limits.max_memo));
        }
        self.memo.insert(i, top);
        Ok(())
    }

    pub(super) fn memo_get(&mut self, i: u64) -> Result<()> {
        let v = self
            .memo
            .get(&i)
            .cloned()
            .ok_or_else(|| self.malformed(format!("memo entry {i} does not exist")))?;
        self.push(v)
    }

    // ----- scalars ------------------------------------------------------

    pub(super) fn unicode(&mut self, n: u64, what: &'static str) -> Result<()> {
        let b = self.input.declared(n, what, self.at)?;
        let s =
            std::str::from_utf8(b).map_err(|_| self.malformed(format!("{what} is not UTF-8")))?;
        self.push(Slot::Str(Text::Borrowed(s)))
    }

    pub(super) fn bytes(&mut self, n: u64, what: &'static str) -> Result<()> {
        let b = self.input.declared(n, what, self.at)?;
        self.push(Slot::Bytes(Data::Borrowed(b)))
    }

    pub(super) fn decimal(&self, digits: &[u8], what: &str) -> Result<i64> {
        std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| PickleError::Unsupported {
                offset: self.at,
                message: format!("{what} operand is not a 64-bit integer"),
            })
    }

    pub(super) fn utf8(&self, b: &[u8]) -> Result<String> {
        String::from_utf8(b.to_vec()).map_err(|_| self.malformed("global name is not UTF-8"))
    }
}

pub(super) fn node_kind(n: &Node<'_>) -> &'static str {
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
