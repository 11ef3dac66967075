//! A restricted pickle reader: protocols 0–5 decoded into a [`Value`] tree
//! without executing anything.
//!
//! `GLOBAL`/`STACK_GLOBAL` only name things; a name outside the allowlist
//! (see [`crate::import::sklearn::allowed_globals`]) stops decoding with
//! [`PickleError::Forbidden`]. `REDUCE`, `NEWOBJ` and `BUILD` on allowed
//! names record objects or decode numpy values in Rust; numpy's random
//! pickling helpers record [`Value::Inert`] objects holding plain data.
//! Extension codes, persistent ids and out-of-band buffers are refused.
//! Every length is checked against the remaining input and every resource
//! is capped ([`Limits`]), so no input can make the reader panic, allocate
//! without bound or recurse without bound.

mod calls;
mod error;
mod heap;
mod input;
pub(crate) mod opcodes;
mod text;
mod value;
mod vm;

pub use error::{Limits, PickleError};
pub use value::{Data, GlobalRef, Object, Text, Value};

use heap::{FreezeError, Heap};
use input::Input;
use vm::Machine;

/// Decodes one pickle (a joblib stream included) into a value tree.
pub fn parse<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Value<'a>, PickleError> {
    let mut input = Input::new(bytes);
    let mut heap = Heap::new(limits.clone(), false, bytes.len());
    let root = Machine::new(&mut input, &mut heap, 0).run()?;
    heap.reset_work();
    heap.freeze(&root).map_err(|e| match e {
        FreezeError::Cycle => PickleError::Unsupported {
            offset: input.pos(),
            message: "a self-referencing structure".into(),
        },
        FreezeError::TooDeep(limit) => PickleError::LimitExceeded {
            what: "nesting depth",
            limit,
            offset: input.pos(),
        },
        FreezeError::TooMuchWork(limit) => PickleError::LimitExceeded {
            what: "decoding work",
            limit,
            offset: input.pos(),
        },
    })
}

/// Lists every global the pickle names, allowed or not, in order of first
/// appearance, without executing anything. Refused globals do not stop the
/// listing; encoding errors (truncation, bad opcodes, limits) do.
/// Extension codes, persistent ids and out-of-band buffers are listed as
/// refused pseudo-globals named after their opcode (`<EXT1>`, `<PERSID>`…).
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<Vec<GlobalRef>, PickleError> {
    let mut input = Input::new(bytes);
    let mut heap = Heap::new(limits.clone(), true, bytes.len());
    Machine::new(&mut input, &mut heap, 0).run()?;
    Ok(heap.globals)
}
