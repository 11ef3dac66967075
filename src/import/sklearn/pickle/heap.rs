//! Where the machine keeps containers and objects while decoding.
//!
//! Pickles mutate objects after creating them (`APPEND` to a memoized list,
//! `BUILD` on a memoized object), so the machine works on an arena of nodes
//! addressed by index, and only at the end turns the root into an immutable
//! [`Value`] tree. Arena indices make shared references and even cycles
//! harmless while decoding; the final conversion refuses cycles and caps the
//! nesting depth, so nothing downstream can recurse without bound.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::error::Limits;
use super::value::{Data, GlobalRef, Object, Text, Value};
use crate::import::sklearn::allowlist::Known;
use crate::import::sklearn::numpy::{Dtype, NdArray};

/// A global as the machine sees it: the name and what it stands for
/// (`None` only in inspect mode, for a refused name).
#[derive(Debug)]
pub(crate) struct Global {
    pub(crate) r: GlobalRef,
    pub(crate) known: Option<Known>,
}

/// A stack or memo entry: scalars inline, everything else a node.
#[derive(Clone, Debug)]
pub(crate) enum Slot<'a> {
    None,
    Bool(bool),
    Int(i64),
    BigInt(Arc<[u8]>),
    Float(f64),
    Str(Text<'a>),
    Bytes(Data<'a>),
    Global(Arc<Global>),
    Ref(usize),
}

#[derive(Debug)]
pub(crate) enum Node<'a> {
    Tuple(Vec<Slot<'a>>),
    List(Vec<Slot<'a>>),
    Set(Vec<Slot<'a>>),
    Dict(Vec<(Slot<'a>, Slot<'a>)>),
    /// An instance being built; also a numpy dtype or `_reconstruct` array
    /// until its `BUILD` arrives, or an inert numpy random object (when
    /// `class` is a [`Known::RandomCtor`]), frozen as [`Value::Inert`].
    Object {
        class: Arc<Global>,
        args: Vec<Slot<'a>>,
        kwargs: Option<Slot<'a>>,
        state: Option<Slot<'a>>,
    },
    Array(Arc<NdArray<'a>>),
    Dtype(Arc<Dtype>),
    /// Inspect mode only: the result of using something refused.
    Refused(Arc<Global>),
}

/// Why a slot could not become a [`Value`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FreezeError {
    Cycle,
    TooDeep(usize),
    /// The decoding-work budget ([`Heap::charge`]) ran out.
    TooMuchWork(usize),
}

pub(crate) struct Heap<'a> {
    pub(crate) nodes: Vec<Node<'a>>,
    pub(crate) limits: Limits,
    /// Inspect mode: record refused globals instead of stopping.
    pub(crate) inspect: bool,
    /// Every global named so far, first occurrence first.
    pub(crate) globals: Vec<GlobalRef>,
    seen: HashSet<(String, String)>,
    /// Elements stored in all containers together.
    pub(crate) items: usize,
    /// Values visited or copied while decoding (freezing arguments and
    /// states, cloning argument tuples). Legitimate pickles touch each value
    /// a few times; a hostile one could make every 3-byte opcode revisit a
    /// huge memoized structure, so the total is capped at `max_items`.
    work: Cell<usize>,
    /// Bytes of owned text and data built while decoding (latin-1 copies,
    /// escapes), capped near the input size: one memoized string encoded
    /// a million times must not take a million copies.
    owned_bytes: usize,
    owned_budget: usize,
}

impl<'a> Heap<'a> {
    pub(crate) fn new(limits: Limits, inspect: bool, input_len: usize) -> Self {
        Heap {
            nodes: Vec::new(),
            limits,
            inspect,
            globals: Vec::new(),
            seen: HashSet::new(),
            items: 0,
            work: Cell::new(0),
            owned_bytes: 0,
            owned_budget: input_len.saturating_add(1 << 20),
        }
    }

    /// Spends `n` units of decoding work; `Err(limit)` once the budget is gone.
    pub(crate) fn charge(&self, n: usize) -> Result<(), usize> {
        let limit = self.limits.max_items;
        match self.work.get().checked_add(n) {
            Some(total) if total <= limit => {
                self.work.set(total);
                Ok(())
            }
            _ => Err(limit),
        }
    }

    /// Accounts for `n` bytes of owned data; `Err(budget)` past the budget.
    pub(crate) fn charge_bytes(&mut self, n: usize) -> Result<(), usize> {
        match self.owned_bytes.checked_add(n) {
            Some(total) if total <= self.owned_budget => {
                self.owned_bytes = total;
                Ok(())
            }
            _ => Err(self.owned_budget),
        }
    }

    /// Starts a fresh work budget (for the final conversion of the root,
    /// which visits every node once).
    pub(crate) fn reset_work(&self) {
        self.work.set(0);
    }

    pub(crate) fn record_global(&mut self, g: &GlobalRef) {
        if self.seen.insert((g.module.clone(), g.name.clone())) {
            self.globals.push(g.clone());
        }
    }

    /// Turns `slot` into an immutable value; shared nodes stay shared.
    pub(crate) fn freeze(&self, slot: &Slot<'a>) -> Result<Value<'a>, FreezeError> {
        Freezer {
            heap: self,
            done: HashMap::new(),
            active: HashSet::new(),
        }
        .slot(slot, 0)
    }
}

struct Freezer<'h, 'a> {
    heap: &'h Heap<'a>,
    done: HashMap<usize, Value<'a>>,
    active: HashSet<usize>,
}

impl<'a> Freezer<'_, 'a> {
    fn slot(&mut self, slot: &Slot<'a>, depth: usize) -> Result<Value<'a>, FreezeError> {
        self.heap.charge(1).map_err(FreezeError::TooMuchWork)?;
        Ok(match slot {
            Slot::None => Value::None,
            Slot::Bool(b) => Value::Bool(*b),
            Slot::Int(i) => Value::Int(*i),
            Slot::BigInt(b) => Value::BigInt(b.clone()),
            Slot::Float(f) => Value::Float(*f),
            Slot::Str(s) => Value::Str(s.clone()),
            Slot::Bytes(b) => Value::Bytes(b.clone()),
            Slot::Global(g) => match g.known {
                Some(_) => Value::Global(Arc::new(g.r.clone())),
                None => Value::Refused(Arc::new(g.r.clone())),
            },
            Slot::Ref(id) => self.node(*id, depth)?,
        })
    }

    fn node(&mut self, id: usize, depth: usize) -> Result<Value<'a>, FreezeError> {
        if let Some(v) = self.done.get(&id) {
            return Ok(v.clone());
        }
        let limit = self.heap.limits.max_depth;
        if depth >= limit {
            return Err(FreezeError::TooDeep(limit));
        }
        if !self.active.insert(id) {
            return Err(FreezeError::Cycle);
        }
        let d = depth + 1;
        let value = match &self.heap.nodes[id] {
            Node::Tuple(items) => Value::Tuple(self.slots(items, d)?),
            Node::List(items) => Value::List(self.slots(items, d)?),
            Node::Set(items) => Value::Set(self.slots(items, d)?),
            Node::Dict(pairs) => {
                let mut out = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    out.push((self.slot(k, d)?, self.slot(v, d)?));
                }
                Value::Dict(out.into())
            }
            Node::Object {
                class,
                args,
                kwargs,
                state,
            } => {
                let args = self.slots(args, d)?.to_vec();
                let kwargs = kwargs.as_ref().map(|k| self.slot(k, d)).transpose()?;
                let state = state.as_ref().map(|s| self.slot(s, d)).transpose()?;
                let object = Arc::new(Object {
                    class: class.r.clone(),
                    args,
                    kwargs,
                    state,
                });
                if class.known.is_some_and(Known::is_inert) {
                    Value::Inert(object)
                } else {
                    Value::Object(object)
                }
            }
            Node::Array(a) => Value::Array(a.clone()),
            Node::Dtype(dt) => Value::Dtype(dt.clone()),
            Node::Refused(g) => Value::Refused(Arc::new(g.r.clone())),
        };
        self.active.remove(&id);
        self.done.insert(id, value.clone());
        Ok(value)
    }

    fn slots(&mut self, items: &[Slot<'a>], depth: usize) -> Result<Arc<[Value<'a>]>, FreezeError> {
        items.iter().map(|s| self.slot(s, depth)).collect()
    }
}
