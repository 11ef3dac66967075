//! Why the restricted pickle reader refused or could not read an input.

/// A pickle the reader refuses or cannot decode. Every variant names what
/// was refused and the byte offset of the opcode (in the decompressed
/// stream) where it happened.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PickleError {
    /// The pickle references a global outside the allowlist.
    #[error(
        "refused global {module}.{name} at byte {offset}: only scikit-learn tree models and \
         the helper objects they keep, numpy arrays and joblib arrays are allowed; nothing \
         else is read, and nothing is ever executed"
    )]
    Forbidden {
        /// Module of the refused global.
        module: String,
        /// Name of the refused global.
        name: String,
        /// Offset of the opcode.
        offset: usize,
    },
    /// An allowed global used in a way a forest pickle never uses it
    /// (e.g. calling `numpy.ndarray` directly).
    #[error("refused call of {module}.{name} at byte {offset}: {reason}")]
    ForbiddenCall {
        /// Module of the global.
        module: String,
        /// Name of the global.
        name: String,
        /// What is wrong with the call.
        reason: String,
        /// Offset of the opcode.
        offset: usize,
    },
    /// An opcode the reader refuses (extension registry, persistent ids,
    /// out-of-band buffers).
    #[error("refused opcode {name} (0x{opcode:02x}) at byte {offset}: {reason}")]
    ForbiddenOpcode {
        /// The opcode byte.
        opcode: u8,
        /// Its pickletools name.
        name: &'static str,
        /// Why it is refused.
        reason: &'static str,
        /// Offset of the opcode.
        offset: usize,
    },
    /// A byte that is no pickle opcode.
    #[error("unknown opcode 0x{opcode:02x} at byte {offset}")]
    UnknownOpcode {
        /// The byte.
        opcode: u8,
        /// Its offset.
        offset: usize,
    },
    /// A `PROTO` newer than 5.
    #[error("unsupported pickle protocol {protocol} at byte {offset}")]
    UnsupportedProtocol {
        /// The declared protocol.
        protocol: u8,
        /// Offset of the opcode.
        offset: usize,
    },
    /// A declared length larger than the rest of the input.
    #[error("{what} at byte {offset} declares {declared} bytes but only {remaining} remain")]
    LengthExceedsInput {
        /// What declared the length.
        what: &'static str,
        /// The declared length.
        declared: u64,
        /// Bytes left in the input.
        remaining: usize,
        /// Offset of the opcode.
        offset: usize,
    },
    /// The input ended in the middle of something.
    #[error("input ended at byte {offset} while reading {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where the input ended.
        offset: usize,
    },
    /// A resource limit (stack, memo, nesting, object count) was hit.
    #[error("{what} limit of {limit} exceeded at byte {offset}")]
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: usize,
        /// Offset of the opcode.
        offset: usize,
    },
    /// Structurally invalid pickle (stack underflow, wrong operand types, …).
    #[error("malformed pickle at byte {offset}: {message}")]
    Malformed {
        /// Offset of the opcode.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// A numpy array or dtype the reader cannot decode.
    #[error("numpy data at byte {offset}: {message}")]
    Numpy {
        /// Offset of the opcode that built it.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// Valid pickle data the reader does not support.
    #[error("unsupported at byte {offset}: {message}")]
    Unsupported {
        /// Offset of the opcode.
        offset: usize,
        /// What is not supported.
        message: String,
    },
}

impl PickleError {
    /// Errors about what the data means, as opposed to how it is encoded.
    /// [`super::inspect`] records these and goes on; encoding errors stop it.
    pub(crate) fn is_semantic(&self) -> bool {
        matches!(
            self,
            PickleError::Forbidden { .. }
                | PickleError::ForbiddenCall { .. }
                | PickleError::Numpy { .. }
                | PickleError::Unsupported { .. }
        )
    }
}

/// Resource caps of the reader. Every one is checked before allocating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Values on the pickle stack (all marks together).
    pub max_stack: usize,
    /// Open `MARK`s.
    pub max_marks: usize,
    /// Memo entries.
    pub max_memo: usize,
    /// Containers and objects created.
    pub max_objects: usize,
    /// Elements stored in all containers together.
    pub max_items: usize,
    /// Nesting depth of the decoded value tree.
    pub max_depth: usize,
    /// Size of the decompressed stream, in bytes.
    pub max_decompressed: u64,
}

impl Default for Limits {
    fn default() -> Self {
        // Generous for real forests (a 500-tree forest uses a few thousand
        // stack slots and memo entries and nests about 10 deep) while
        // keeping a hostile file's memory use bounded.
        Limits {
            max_stack: 1 << 20,
            max_marks: 1 << 12,
            max_memo: 1 << 24,
            max_objects: 1 << 24,
            max_items: 1 << 25,
            max_depth: 100,
            max_decompressed: 16 << 30,
        }
    }
}
