//! Why the attributes of a tree-ensemble node were refused.

/// A tree-ensemble node whose attributes do not describe a valid ensemble.
///
/// Attributes come from untrusted files, so every id, length and value is
/// checked before anything is evaluated; each error names the attribute
/// (and the entry) at fault, e.g. ``nodes_truenodeids[17] = 99 points to no
/// node of tree 3``.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AttributeError {
    /// A required attribute is absent.
    #[error("{op} needs the attribute `{attribute}`")]
    Missing {
        /// The operator.
        op: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// An attribute of the wrong kind (e.g. floats where a tensor is due).
    #[error("`{attribute}` is {found}; expected {expected}")]
    WrongType {
        /// The attribute.
        attribute: &'static str,
        /// What it should be.
        expected: &'static str,
        /// What it is.
        found: String,
    },
    /// Two attributes that must have one entry each per node (or leaf) differ.
    #[error("`{attribute}` has {len} entries; `{reference}` has {expected}")]
    Length {
        /// The attribute.
        attribute: &'static str,
        /// Its entries.
        len: usize,
        /// The attribute it must match.
        reference: &'static str,
        /// That attribute's entries.
        expected: usize,
    },
    /// An entry that is not a valid value of its kind (a node mode, a 0/1 flag).
    #[error("`{attribute}[{index}]` = {value} is not a valid {what}")]
    InvalidEntry {
        /// The attribute.
        attribute: &'static str,
        /// The entry.
        index: usize,
        /// Its value, as written.
        value: String,
        /// What it should be.
        what: &'static str,
    },
    /// A single-valued attribute with an unknown value.
    #[error("`{attribute}` = {value} is not one of {allowed}")]
    InvalidValue {
        /// The attribute.
        attribute: &'static str,
        /// Its value, as written.
        value: String,
        /// The values allowed.
        allowed: &'static str,
    },
    /// A child id (opsets 1 and 3) naming no node of the tree.
    #[error("`{attribute}[{index}]` = {value} points to no node of tree {tree}")]
    DanglingNode {
        /// The attribute.
        attribute: &'static str,
        /// The entry.
        index: usize,
        /// The id it holds.
        value: i64,
        /// The tree the node belongs to.
        tree: i64,
    },
    /// An index (opset 5) beyond the entries it indexes.
    #[error("`{attribute}[{index}]` = {value} is outside the {len} entries of `{target}`")]
    OutOfRange {
        /// The attribute.
        attribute: &'static str,
        /// The entry.
        index: usize,
        /// The index it holds.
        value: i64,
        /// Entries of the indexed attribute.
        len: usize,
        /// The indexed attribute.
        target: &'static str,
    },
    /// A value outside the range its meaning allows (a negative feature id,
    /// a target id beyond `n_targets`).
    #[error("`{attribute}[{index}]` = {value} is outside {range}")]
    Range {
        /// The attribute.
        attribute: &'static str,
        /// The entry.
        index: usize,
        /// The value.
        value: i64,
        /// The valid range, e.g. `0..3`.
        range: String,
    },
    /// Two entries define the same node.
    #[error("node {node} of tree {tree} is defined twice (`nodes_nodeids[{first}]` and `nodes_nodeids[{second}]`)")]
    DuplicateNode {
        /// Tree id.
        tree: i64,
        /// Node id.
        node: i64,
        /// First definition.
        first: usize,
        /// Second definition.
        second: usize,
    },
    /// Following children leads back to a node already on the path.
    #[error("tree {tree} has a cycle through {node}")]
    Cycle {
        /// Tree id (opsets 1 and 3) or index in `tree_roots` (opset 5).
        tree: i64,
        /// The node, as `nodes_*[i]`.
        node: String,
    },
    /// A tree (opsets 1 and 3) with more than one node that has no parent.
    #[error("tree {tree} has several roots: nodes {first} and {second} have no parent")]
    SeveralRoots {
        /// Tree id.
        tree: i64,
        /// Node id of one root.
        first: i64,
        /// Node id of another.
        second: i64,
    },
    /// A tree (opsets 1 and 3) in which every node has a parent.
    #[error("tree {tree} has no root: every node has a parent")]
    NoRoot {
        /// Tree id.
        tree: i64,
    },
    /// A leaf weight (opsets 1 and 3) for a node that is missing or a branch.
    #[error("`{attribute}[{index}]` is for node {node} of tree {tree}, which is {why}")]
    LeafWeight {
        /// The attribute (`class_nodeids` or `target_nodeids`).
        attribute: &'static str,
        /// The entry.
        index: usize,
        /// Tree id.
        tree: i64,
        /// Node id.
        node: i64,
        /// `not defined` or `a branch`.
        why: &'static str,
    },
    /// A leaf weight or base value that is NaN or infinite.
    #[error("`{attribute}[{index}]` = {value} is not finite")]
    NotFinite {
        /// The attribute.
        attribute: &'static str,
        /// The entry.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Base values that fit neither the number of outputs nor a two-class
    /// one-score layout.
    #[error("`{attribute}` has {len} values for {n_outputs} outputs")]
    BaseValues {
        /// `base_values` or `base_values_as_tensor`.
        attribute: &'static str,
        /// Values given.
        len: usize,
        /// Outputs of the node.
        n_outputs: usize,
    },
    /// An attribute only forest2onnx itself may set, in a file.
    #[error("`{attribute}` is reserved for forest2onnx's own use")]
    Reserved {
        /// The attribute.
        attribute: &'static str,
    },
    /// A classifier with no or two kinds of class labels.
    #[error("exactly one of `classlabels_int64s` and `classlabels_strings` must be set")]
    ClassLabels,
    /// A size beyond what forest2onnx accepts.
    #[error("`{attribute}` = {value} exceeds the limit of {limit}")]
    TooLarge {
        /// The attribute.
        attribute: &'static str,
        /// The value.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// An ensemble without nodes, trees or outputs.
    #[error("`{attribute}` is empty: the ensemble has no {what}")]
    Empty {
        /// The attribute.
        attribute: &'static str,
        /// `nodes`, `trees`, `outputs` ...
        what: &'static str,
    },
    /// Membership sets that do not match the `BRANCH_MEMBER` nodes.
    #[error("`membership_values` holds {sets} NaN-terminated sets; {nodes} nodes have mode BRANCH_MEMBER")]
    MembershipSets {
        /// Sets found.
        sets: usize,
        /// Nodes that need one.
        nodes: usize,
    },
    /// A tensor attribute whose data does not match its type or shape.
    #[error("tensor attribute `{attribute}`: {why}")]
    BadTensor {
        /// The attribute.
        attribute: &'static str,
        /// What is wrong.
        why: String,
    },
    /// Two attributes that exclude each other are both set.
    #[error("`{first}` and `{second}` cannot both be set")]
    Conflict {
        /// One attribute.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
}
