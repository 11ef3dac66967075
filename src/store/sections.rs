//! The payload: the forest's arrays, every tree concatenated, as aligned
//! little-endian sections listed in the header's section table.
//!
//! The layout is a function of the header's counts alone ([`Counts`] →
//! [`Layout`]): sections in one fixed order, each starting at the next
//! multiple of [`ALIGN`] after the previous one, the payload ending where
//! the last section ends. A reader recomputes it and refuses any table that
//! differs, so no byte of the payload is uncovered, no two sections overlap,
//! and every size is known from the counts before anything is allocated.

use std::ops::Range;

use super::error::StoreError;
use super::layout::{Dtype, SectionEntry, ALIGN};
use super::metadata::Metadata;
use crate::ir::{Aggregation, Forest};

/// Every section a payload may hold, in payload order. Format 1 has the
/// first seven but `true_child_tree_offsets`; format 2 adds the last five,
/// present only when used; format 4 stores values for leaves only and
/// true children only for the trees that need them (see [`Counts::lean`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    /// u64 × (trees + 1): first node of each tree, then the node count.
    TreeOffsets,
    /// f64 × nodes: split thresholds.
    Threshold,
    /// f64 × leaf width × nodes (formats 1–3) or leaves (format 4): leaf values.
    Value,
    /// u32 × nodes: split features.
    Feature,
    /// u64 × (trees + 1), format 4 with stored true children: first
    /// stored true child of each tree, then their count.
    TrueChildTreeOffsets,
    /// u32 × nodes (formats 1–3) or stored true children (format 4): true
    /// child (tree-local id) or `LEAF`.
    TrueChild,
    /// u32 × nodes: false child (tree-local id); for a leaf, `LEAF`
    /// (formats 1–3) or `LEAF_BIT` plus its leaf index (format 4).
    FalseChild,
    /// u8 × nodes: 1 when NaN goes to the true child, else 0.
    MissingTrue,
    /// u32 × trees: the score each tree adds to (`Aggregation::Sum::tree_targets`).
    TreeTarget,
    /// u64 × (trees + 1): first categorical split of each tree, then their count.
    CategoryTreeOffsets,
    /// u32 × categorical splits: the split's node id, local to its tree.
    CategoryNode,
    /// u64 × (categorical splits + 1): first category of each split in
    /// `category_value`, then their count.
    CategoryOffsets,
    /// u32 × categories: every split's category set, ascending.
    CategoryValue,
}

impl Section {
    /// The name in the header's section table.
    pub fn name(self) -> &'static str {
        match self {
            Section::TreeOffsets => "tree_offsets",
            Section::Threshold => "threshold",
            Section::Value => "value",
            Section::Feature => "feature",
            Section::TrueChildTreeOffsets => "true_child_tree_offsets",
            Section::TrueChild => "true_child",
            Section::FalseChild => "false_child",
            Section::MissingTrue => "missing_true",
            Section::TreeTarget => "tree_target",
            Section::CategoryTreeOffsets => "category_tree_offsets",
            Section::CategoryNode => "category_node",
            Section::CategoryOffsets => "category_offsets",
            Section::CategoryValue => "category_value",
        }
    }

    /// The element type.
    pub fn dtype(self) -> Dtype {
        match self {
            Section::TreeOffsets
            | Section::TrueChildTreeOffsets
            | Section::CategoryTreeOffsets
            | Section::CategoryOffsets => Dtype::U64,
            Section::Threshold | Section::Value => Dtype::F64,
            Section::Feature
            | Section::TrueChild
            | Section::FalseChild
            | Section::TreeTarget
            | Section::CategoryNode
            | Section::CategoryValue => Dtype::U32,
            Section::MissingTrue => Dtype::U8,
        }
    }
}

/// The counts that determine a payload's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    /// The lean layout of format 4: values for leaves only, true children
    /// only for trees that store them.
    pub lean: bool,
    pub trees: u64,
    pub nodes: u64,
    /// Leaves over all trees (lean layout).
    pub leaves: u64,
    /// Stored true children over all trees (lean layout).
    pub true_children: u64,
    /// Values per leaf (per node in formats 1–3) in `value`.
    pub leaf_width: u64,
    /// Whether each tree adds to one score (`tree_target` section).
    pub tree_targets: bool,
    /// Categorical splits over all trees (category sections when > 0).
    pub category_splits: u64,
    /// Categories over all categorical splits.
    pub category_values: u64,
}

impl Counts {
    /// The counts of `forest`.
    pub fn of_forest(forest: &Forest) -> Counts {
        let tree_targets = matches!(&forest.aggregation,
            Aggregation::Sum { tree_targets, .. } if !tree_targets.is_empty());
        let cats = forest.trees.iter().map(|t| &t.categories);
        Counts {
            lean: true,
            trees: forest.trees.len() as u64,
            nodes: forest.n_nodes() as u64,
            leaves: forest.n_leaves() as u64,
            true_children: forest
                .trees
                .iter()
                .map(|t| t.explicit_true_child.len() as u64)
                .sum(),
            leaf_width: forest.leaf_width() as u64,
            tree_targets,
            category_splits: cats.clone().map(|c| c.nodes.len() as u64).sum(),
            category_values: cats.map(|c| c.categories.len() as u64).sum(),
        }
    }

    /// The counts a header declares; `shell` is the forest it describes
    /// (without trees, and without tree targets, which are a section).
    pub fn of_header(m: &Metadata, shell: &Forest) -> Counts {
        Counts {
            lean: m.format.major >= 4,
            trees: m.n_trees as u64,
            nodes: m.n_nodes as u64,
            leaves: m.n_leaves as u64,
            true_children: m.n_true_children as u64,
            leaf_width: if m.per_tree_targets {
                1
            } else {
                shell.leaf_width() as u64
            },
            tree_targets: m.per_tree_targets,
            category_splits: m.n_category_splits as u64,
            category_values: m.n_category_values as u64,
        }
    }

    /// The sections present and their element counts, in payload order.
    fn sections(&self) -> Result<Vec<(Section, u64)>, StoreError> {
        let overflow = || StoreError::corrupt("section sizes overflow");
        let trees_plus_one = self.trees.checked_add(1).ok_or_else(overflow)?;
        if !self.lean && (self.leaves > 0 || self.true_children > 0) {
            return Err(StoreError::corrupt(
                "the header counts leaves or true children, which only format 4 stores",
            ));
        }
        let valued = if self.lean { self.leaves } else { self.nodes };
        let values = valued.checked_mul(self.leaf_width).ok_or_else(overflow)?;
        let mut s = vec![
            (Section::TreeOffsets, trees_plus_one),
            (Section::Threshold, self.nodes),
            (Section::Value, values),
            (Section::Feature, self.nodes),
        ];
        if !self.lean {
            s.push((Section::TrueChild, self.nodes));
        } else if self.true_children > 0 {
            s.push((Section::TrueChildTreeOffsets, trees_plus_one));
            s.push((Section::TrueChild, self.true_children));
        }
        s.extend([
            (Section::FalseChild, self.nodes),
            (Section::MissingTrue, self.nodes),
        ]);
        if self.tree_targets {
            s.push((Section::TreeTarget, self.trees));
        }
        if self.category_splits > 0 {
            let splits_plus_one = self.category_splits.checked_add(1).ok_or_else(overflow)?;
            s.extend([
                (Section::CategoryTreeOffsets, trees_plus_one),
                (Section::CategoryNode, self.category_splits),
                (Section::CategoryOffsets, splits_plus_one),
                (Section::CategoryValue, self.category_values),
            ]);
        } else if self.category_values > 0 {
            return Err(StoreError::corrupt(
                "the header counts categories but no categorical splits",
            ));
        }
        Ok(s)
    }
}

/// One section placed in the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placed {
    pub section: Section,
    /// Byte offset from the payload start (a multiple of [`ALIGN`]).
    pub offset: u64,
    /// Number of elements.
    pub count: u64,
}

impl Placed {
    /// Byte length.
    pub fn len(&self) -> u64 {
        self.count * self.section.dtype().size()
    }

    /// Byte offset one past the end.
    pub fn end(&self) -> u64 {
        self.offset + self.len()
    }
}

/// Where every section of a payload is, computed from [`Counts`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The counts it was computed from.
    pub counts: Counts,
    pub placed: Vec<Placed>,
    /// Payload length: the end of the last section.
    pub len: u64,
}

impl Layout {
    /// The layout for `counts`; fails when sizes overflow.
    pub fn new(counts: &Counts) -> Result<Layout, StoreError> {
        let overflow = || StoreError::corrupt("section sizes overflow");
        let mut end = 0u64;
        let mut placed = Vec::new();
        for (section, count) in counts.sections()? {
            let offset = end.checked_next_multiple_of(ALIGN).ok_or_else(overflow)?;
            let len = count
                .checked_mul(section.dtype().size())
                .ok_or_else(overflow)?;
            end = offset.checked_add(len).ok_or_else(overflow)?;
            placed.push(Placed {
                section,
                offset,
                count,
            });
        }
        Ok(Layout {
            counts: *counts,
            placed,
            len: end,
        })
    }

    /// The header's section table.
    pub fn table(&self) -> Vec<SectionEntry> {
        self.placed
            .iter()
            .map(|p| SectionEntry {
                name: p.section.name().into(),
                dtype: p.section.dtype(),
                offset: p.offset,
                count: p.count,
            })
            .collect()
    }

    /// Refuses a header table that is not exactly this layout, naming the
    /// first entry that differs.
    pub fn check_table(&self, table: &[SectionEntry]) -> Result<(), StoreError> {
        let expected = self.table();
        let describe = |e: &SectionEntry| {
            format!(
                "{} ({} × {:?} at offset {})",
                crate::text::quoted(&e.name),
                e.count,
                e.dtype,
                e.offset
            )
        };
        for (i, (got, want)) in table.iter().zip(&expected).enumerate() {
            if got != want {
                return Err(StoreError::corrupt(format!(
                    "section {i} is {}; the header's counts call for {}",
                    describe(got),
                    describe(want)
                )));
            }
        }
        match table.len().cmp(&expected.len()) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Less => Err(StoreError::corrupt(format!(
                "section {:?} is missing",
                expected[table.len()].name
            ))),
            std::cmp::Ordering::Greater => Err(StoreError::corrupt(format!(
                "section {} is not part of this layout (unknown, repeated, or \
                 not called for by the header's counts)",
                describe(&table[expected.len()])
            ))),
        }
    }

    /// The byte range of `section`, if present.
    pub fn range(&self, section: Section) -> Option<Range<usize>> {
        self.placed
            .iter()
            .find(|p| p.section == section)
            .map(|p| p.offset as usize..p.end() as usize)
    }
}

/// Fixed-size numbers stored little-endian.
pub(crate) trait LeNumber: bytemuck::Pod {
    /// Converts between little-endian and native order (its own inverse).
    fn swap_le(self) -> Self;
    /// The vector inside `a`, if it holds this type.
    fn from_array(a: Array) -> Option<Vec<Self>>;
}

impl LeNumber for u8 {
    fn swap_le(self) -> Self {
        self
    }
    fn from_array(a: Array) -> Option<Vec<Self>> {
        match a {
            Array::U8(v) => Some(v),
            _ => None,
        }
    }
}

impl LeNumber for u32 {
    fn swap_le(self) -> Self {
        u32::from_le(self)
    }
    fn from_array(a: Array) -> Option<Vec<Self>> {
        match a {
            Array::U32(v) => Some(v),
            _ => None,
        }
    }
}

impl LeNumber for u64 {
    fn swap_le(self) -> Self {
        u64::from_le(self)
    }
    fn from_array(a: Array) -> Option<Vec<Self>> {
        match a {
            Array::U64(v) => Some(v),
            _ => None,
        }
    }
}

impl LeNumber for f64 {
    fn swap_le(self) -> Self {
        f64::from_bits(u64::from_le(self.to_bits()))
    }
    fn from_array(a: Array) -> Option<Vec<Self>> {
        match a {
            Array::F64(v) => Some(v),
            _ => None,
        }
    }
}

/// Appends `xs` as little-endian bytes.
pub(crate) fn put<T: LeNumber>(out: &mut impl std::io::Write, xs: &[T]) -> std::io::Result<()> {
    if cfg!(target_endian = "little") {
        out.write_all(bytemuck::cast_slice(xs))
    } else {
        xs.iter()
            .try_for_each(|x| out.write_all(bytemuck::bytes_of(&x.swap_le())))
    }
}

/// Views little-endian `bytes` as `&[T]` without copying, when this machine
/// is little-endian and `bytes` is suitably aligned.
pub(crate) fn view<T: LeNumber>(bytes: &[u8]) -> Option<&[T]> {
    if cfg!(target_endian = "little") {
        bytemuck::try_cast_slice(bytes).ok()
    } else {
        None
    }
}

/// One decoded array, typed by its section.
pub(crate) enum Array {
    U8(Vec<u8>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F64(Vec<f64>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> Counts {
        Counts {
            lean: false,
            trees: 3,
            nodes: 10,
            leaves: 0,
            true_children: 0,
            leaf_width: 2,
            tree_targets: false,
            category_splits: 0,
            category_values: 0,
        }
    }

    #[test]
    fn sections_tile_the_payload() {
        let layout = Layout::new(&Counts {
            tree_targets: true,
            category_splits: 2,
            category_values: 5,
            ..counts()
        })
        .unwrap();
        assert_eq!(layout.placed.len(), 12);
        let mut end = 0u64;
        for p in &layout.placed {
            assert_eq!(p.offset, end.next_multiple_of(ALIGN), "{p:?}");
            end = p.end();
        }
        assert_eq!(layout.len, end);
        layout.check_table(&layout.table()).unwrap();
    }

    #[test]
    fn any_other_table_is_refused() {
        let layout = Layout::new(&counts()).unwrap();
        let good = layout.table();
        let mut moved = good.clone();
        moved[3].offset += ALIGN;
        let mut overlapping = good.clone();
        overlapping[2].offset = overlapping[1].offset;
        let mut extra = good.clone();
        extra.push(SectionEntry {
            name: "future".into(),
            dtype: Dtype::U8,
            offset: layout.len.next_multiple_of(ALIGN),
            count: 1,
        });
        let mut counted = good.clone();
        counted[1].count += 1;
        for (bad, needle) in [
            (moved, "section 3 is \"feature\""),
            (overlapping, "section 2 is \"value\""),
            (extra, "\"future\""),
            (counted, "section 1 is \"threshold\" (11 × F64"),
            (good[..6].to_vec(), "\"missing_true\" is missing"),
        ] {
            let e = layout.check_table(&bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn sizes_that_overflow_are_corruption() {
        for c in [
            Counts {
                nodes: u64::MAX / 2,
                ..counts()
            },
            Counts {
                trees: u64::MAX,
                ..counts()
            },
            Counts {
                category_splits: u64::MAX,
                ..counts()
            },
        ] {
            assert!(Layout::new(&c).is_err(), "{c:?}");
        }
    }
}
