//! The tree-ensemble attributes whose size grows with the forest ("columns"),
//! element by element.
//!
//! [`Plan::elems`] is the one definition of every column's content: the
//! reference model collects its elements into prost vectors, and the
//! streaming encoder writes them (or, for the common columns of IR trees,
//! runs the branch-free loops of `fast.rs`, which the tests check against
//! it byte for byte).

use crate::onnx_proto::tensor_proto::DataType;

use super::layout::Entries;
use super::out::Out;
use super::plan::{Block, Plan};
use super::trees::{Mode, View};
use crate::wire::varint_len;

/// A column: one attribute's (or the leaf table's) elements over the trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Column {
    // Opsets 1/3: one element per node of each written tree.
    TreeIds,
    NodeIds,
    FeatureIds,
    Modes,
    Values,
    ValuesF64,
    TrueIds,
    FalseIds,
    MissingTrue,
    // Opsets 1/3: one element per written weight entry.
    EntryTreeIds,
    EntryNodeIds,
    EntryIds,
    EntryWeights,
    EntryWeightsF64,
    // Opset 5: one element per split (an internal node, or the stand-in
    // split of a one-leaf tree).
    SplitFeatureIds,
    SplitModes,
    Splits,
    SplitsF64,
    SplitTrueIds,
    SplitTrueLeafs,
    SplitFalseIds,
    SplitFalseLeafs,
    SplitMissingTrue,
    // Opset 5: one element per leaf.
    LeafTargetIds,
    LeafWeights,
    LeafWeightsF64,
    // Leaf-index graphs: each leaf's values, in double.
    LeafTable,
}

/// Number of [`Column`]s.
pub(super) const N_COLUMNS: usize = Column::LeafTable as usize + 1;

/// How a column is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wire {
    /// `AttributeProto.ints`, packed.
    Ints,
    /// `AttributeProto.floats`, packed.
    Floats,
    /// `AttributeProto.strings`, one keyed element each.
    Strings,
    /// A tensor's `raw_data`: little-endian elements of `bytes` bytes.
    Raw { data_type: DataType, bytes: u64 },
}

/// What a column has one element (or `leaf_width` elements) per.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Node,
    Entry,
    Split,
    Leaf,
}

impl Column {
    pub fn wire(self) -> Wire {
        use Column::*;
        let raw = |data_type, bytes| Wire::Raw { data_type, bytes };
        match self {
            Modes => Wire::Strings,
            Values | EntryWeights => Wire::Floats,
            ValuesF64 | EntryWeightsF64 | SplitsF64 | LeafWeightsF64 | LeafTable => {
                raw(DataType::Double, 8)
            }
            Splits | LeafWeights => raw(DataType::Float, 4),
            SplitModes => raw(DataType::Uint8, 1),
            _ => Wire::Ints,
        }
    }

    fn unit(self) -> Unit {
        use Column::*;
        match self {
            TreeIds | NodeIds | FeatureIds | Modes | Values | ValuesF64 | TrueIds | FalseIds
            | MissingTrue => Unit::Node,
            EntryTreeIds | EntryNodeIds | EntryIds | EntryWeights | EntryWeightsF64 => Unit::Entry,
            SplitFeatureIds | SplitModes | Splits | SplitsF64 | SplitTrueIds | SplitTrueLeafs
            | SplitFalseIds | SplitFalseLeafs | SplitMissingTrue => Unit::Split,
            LeafTargetIds | LeafWeights | LeafWeightsF64 | LeafTable => Unit::Leaf,
        }
    }
}

/// One element of a column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Elem {
    Int(u64),
    F32(f32),
    F64(f64),
    U8(u8),
    /// A `nodes_modes` string.
    Str(&'static [u8]),
}

/// `AttributeProto.strings` key (field 9, length-delimited).
pub(super) const KEY_STRINGS: u8 = 9 << 3 | 2;

impl Elem {
    /// Encoded length.
    pub fn len(self) -> u64 {
        match self {
            Elem::Int(v) => varint_len(v),
            Elem::F32(_) => 4,
            Elem::F64(_) => 8,
            Elem::U8(_) => 1,
            Elem::Str(s) => 2 + s.len() as u64,
        }
    }

    pub fn write(self, w: &mut Out<'_>) {
        match self {
            Elem::Int(v) => w.varint(v),
            Elem::F32(v) => w.bytes(&v.to_le_bytes()),
            Elem::F64(v) => w.bytes(&v.to_le_bytes()),
            Elem::U8(v) => w.bytes(&[v]),
            Elem::Str(s) => {
                w.bytes(&[KEY_STRINGS, s.len() as u8]);
                w.bytes(s);
            }
        }
    }
}

/// Encoded lengths of every column over a block of nodes, and its counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Lens {
    pub bytes: [u64; N_COLUMNS],
    pub nodes: u64,
    pub leaves: u64,
    /// Written weight entries (opsets 1/3).
    pub entries: u64,
    /// Splits (opset 5).
    pub splits: u64,
}

impl std::ops::Add for Lens {
    type Output = Lens;
    fn add(mut self, o: Lens) -> Lens {
        for (a, b) in self.bytes.iter_mut().zip(o.bytes) {
            *a += b;
        }
        self.nodes += o.nodes;
        self.leaves += o.leaves;
        self.entries += o.entries;
        self.splits += o.splits;
        self
    }
}

impl Lens {
    pub fn of(&self, column: Column) -> u64 {
        self.bytes[column as usize]
    }
}

/// Calls `f(id, weight, keep)` for every weight entry a node with values
/// `values` may write at opsets 1/3, in file order; `keep` says whether it
/// is written. Shared by the reference model and the streaming encoder so
/// both write the same entries.
///
/// Callers on the hot path use `keep` without branching (which class of a
/// one-hot leaf is set, and which node is a leaf, are unpredictable), so
/// entries of internal nodes are visited too, with `keep` false and a
/// harmless id. `target` is the tree's score (tree targets), `ordinal` the
/// leaf's number within its tree (leaf-index graphs).
#[inline(always)]
pub(super) fn for_each_entry(
    entries: Entries,
    values: &[f64],
    is_leaf: bool,
    target: u32,
    ordinal: u64,
    mut f: impl FnMut(usize, f64, bool),
) {
    match entries {
        Entries::VoteSigned => f(1, if values[0] == 1.0 { 1.0 } else { -1.0 }, is_leaf),
        Entries::Vote => {
            // Internal nodes' values are unchecked: never read them as a class.
            let class = if is_leaf { values[0] as usize } else { 0 };
            f(class, 1.0, is_leaf)
        }
        Entries::ProbSigned => {
            let w = values[1] - values[0];
            f(1, w, is_leaf & (w != 0.0))
        }
        Entries::PerValue => {
            for (k, &w) in values.iter().enumerate() {
                f(k, w, is_leaf & (w != 0.0));
            }
        }
        Entries::TreeTarget => f(target as usize, values[0], is_leaf & (values[0] != 0.0)),
        Entries::LeafOrdinal => f(target as usize, ordinal as f64, is_leaf),
    }
}

/// How many entries [`for_each_entry`] visits per node.
pub(super) fn entries_per_node(entries: Entries, width: usize) -> usize {
    match entries {
        Entries::PerValue => width,
        _ => 1,
    }
}

/// Id and weight of entry `e` of a leaf, as [`for_each_entry`] visits them.
#[inline(always)]
pub(super) fn entry(entries: Entries, values: &[f64], e: usize, target: u32) -> (usize, f64) {
    match entries {
        Entries::VoteSigned => (1, if values[0] == 1.0 { 1.0 } else { -1.0 }),
        Entries::Vote => (values[0] as usize, 1.0),
        Entries::ProbSigned => (1, values[1] - values[0]),
        Entries::PerValue => (e, values[e]),
        Entries::TreeTarget => (target as usize, values[0]),
        // Never on the fast path, which needs no ordinals.
        Entries::LeafOrdinal => (target as usize, 0.0),
    }
}

impl Plan<'_> {
    /// Calls `f` with every element of `column` over the nodes of `block`,
    /// in file order.
    pub fn elems(&self, column: Column, block: &Block, f: &mut impl FnMut(Elem)) {
        let written = &self.written[block.tree];
        let view = self.view(written.source);
        let range = block.start..block.end;
        match column.unit() {
            Unit::Node => {
                for i in range {
                    f(self.node_elem(column, &view, block.tree, i));
                }
            }
            Unit::Entry => {
                let width = self.forest.leaf_width();
                let target = match self.layout.entries {
                    Entries::LeafOrdinal => block.tree as u32,
                    _ => self.tree_target(written.source),
                };
                let mut ordinal = block.leaves_before;
                for i in range {
                    let leaf = view.is_leaf(i);
                    let values = view.node_values(i, width);
                    let entries = self.layout.entries;
                    for_each_entry(
                        entries,
                        values,
                        leaf,
                        target,
                        ordinal,
                        |id, weight, keep| {
                            if keep {
                                f(match column {
                                    Column::EntryTreeIds => Elem::Int(block.tree as u64),
                                    Column::EntryNodeIds => Elem::Int(i as u64),
                                    Column::EntryIds => Elem::Int(id as u64),
                                    Column::EntryWeights => Elem::F32(weight as f32),
                                    _ => Elem::F64(weight),
                                })
                            }
                        },
                    );
                    ordinal += u64::from(leaf);
                }
            }
            Unit::Split => {
                let rank = &self.ranks[written.source as usize];
                for i in range {
                    if !view.is_leaf(i) {
                        f(self.split_elem(column, &view, rank, block.tree, i));
                    } else if view.n_nodes() == 1 {
                        // A one-leaf tree: a split whose both branches are
                        // its leaf, as the operator specifies.
                        let leaf = Elem::Int(self.written[block.tree].leaf_prefix);
                        f(match column {
                            Column::SplitTrueIds | Column::SplitFalseIds => leaf,
                            Column::SplitTrueLeafs | Column::SplitFalseLeafs => Elem::Int(1),
                            Column::SplitModes => Elem::U8(Mode::Leq.code()),
                            Column::Splits => Elem::F32(0.0),
                            Column::SplitsF64 => Elem::F64(0.0),
                            _ => Elem::Int(0),
                        });
                    }
                }
            }
            Unit::Leaf => {
                let width = self.forest.leaf_width();
                for i in range.filter(|&i| view.is_leaf(i)) {
                    let values = view.node_values(i, width);
                    if column == Column::LeafTable {
                        values.iter().for_each(|&v| f(Elem::F64(v)));
                        continue;
                    }
                    let (target, weight) = self.leaf_record(values, written.source, written.copy);
                    f(match column {
                        Column::LeafTargetIds => Elem::Int(u64::from(target)),
                        Column::LeafWeights => Elem::F32(weight as f32),
                        _ => Elem::F64(weight),
                    });
                }
            }
        }
    }

    /// Element `column` of node `i` (opsets 1/3; leaves write zeros).
    fn node_elem(&self, column: Column, view: &View<'_>, tree: usize, i: usize) -> Elem {
        let leaf = view.is_leaf(i);
        let unless_leaf = |v: u32| Elem::Int(if leaf { 0 } else { u64::from(v) });
        match column {
            Column::TreeIds => Elem::Int(tree as u64),
            Column::NodeIds => Elem::Int(i as u64),
            Column::FeatureIds => unless_leaf(view.feature[i]),
            Column::Modes if leaf => Elem::Str(b"LEAF"),
            Column::Modes => Elem::Str(view.mode(i).name()),
            Column::Values if leaf => Elem::F32(0.0),
            Column::Values => Elem::F32(view.mode(i).f32_threshold(view.threshold[i])),
            Column::ValuesF64 => Elem::F64(if leaf { 0.0 } else { view.threshold[i] }),
            Column::TrueIds => unless_leaf(view.true_child(i)),
            Column::FalseIds => unless_leaf(view.false_child(i)),
            Column::MissingTrue => Elem::Int(u64::from(view.missing_true[i])),
            other => unreachable!("{other:?} is no node column"),
        }
    }

    /// Element `column` of split `i` (opset 5).
    fn split_elem(
        &self,
        column: Column,
        view: &View<'_>,
        rank: &[u32],
        tree: usize,
        i: usize,
    ) -> Elem {
        let written = &self.written[tree];
        // Position of child `c` among the splits or the leaves of all
        // written trees (child ids are clamped: the forest may be unchecked
        // while it is sized).
        let position = |c: u32| {
            let c = (c as usize).min(view.n_nodes() - 1);
            if view.is_leaf(c) {
                written.leaf_prefix + u64::from(rank[c])
            } else {
                written.split_prefix + (c as u64 - u64::from(rank[c]))
            }
        };
        let is_leaf = |c: u32| (c as usize) < view.n_nodes() && view.is_leaf(c as usize);
        let mode = view.mode(i);
        match column {
            Column::SplitFeatureIds => Elem::Int(u64::from(view.feature[i])),
            Column::SplitModes => Elem::U8(mode.code()),
            Column::Splits if mode == Mode::Member => Elem::F32(0.0),
            Column::Splits => Elem::F32(mode.f32_threshold(view.threshold[i])),
            Column::SplitsF64 if mode == Mode::Member => Elem::F64(0.0),
            Column::SplitsF64 => Elem::F64(view.threshold[i]),
            Column::SplitTrueIds => Elem::Int(position(view.true_child(i))),
            Column::SplitTrueLeafs => Elem::Int(u64::from(is_leaf(view.true_child(i)))),
            Column::SplitFalseIds => Elem::Int(position(view.false_child(i))),
            Column::SplitFalseLeafs => Elem::Int(u64::from(is_leaf(view.false_child(i)))),
            Column::SplitMissingTrue => Elem::Int(u64::from(view.missing_true[i])),
            other => unreachable!("{other:?} is no split column"),
        }
    }

    /// The score forest tree `t` adds to (tree targets), else 0.
    pub fn tree_target(&self, t: u32) -> u32 {
        self.forest.tree_target(t as usize).unwrap_or(0)
    }

    /// Target and weight of a leaf with `values` in copy `copy` of forest
    /// tree `t` (opset 5).
    fn leaf_record(&self, values: &[f64], t: u32, copy: u32) -> (u32, f64) {
        match self.layout.entries {
            Entries::Vote => (values[0] as u32, 1.0),
            Entries::TreeTarget => (self.tree_target(t), values[0]),
            _ => (copy, values[copy as usize]),
        }
    }
}
