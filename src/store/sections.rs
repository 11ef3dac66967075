//! The payload: the forest's arrays, every tree concatenated, as aligned
//! little-endian sections listed in the header's section table.

use std::ops::Range;

use super::error::StoreError;
use super::layout::{align_up, Dtype, SectionEntry};
use crate::ir::Forest;

/// Section names of format 1.0. Readers ignore sections they do not know,
/// so a minor version may add some.
pub(crate) const TREE_OFFSETS: &str = "tree_offsets";
pub(crate) const THRESHOLD: &str = "threshold";
pub(crate) const VALUE: &str = "value";
pub(crate) const FEATURE: &str = "feature";
pub(crate) const TRUE_CHILD: &str = "true_child";
pub(crate) const FALSE_CHILD: &str = "false_child";
pub(crate) const MISSING_TRUE: &str = "missing_true";

/// Byte ranges of the format-1.0 sections inside the uncompressed payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Located {
    pub tree_offsets: Range<usize>,
    pub threshold: Range<usize>,
    pub value: Range<usize>,
    pub feature: Range<usize>,
    pub true_child: Range<usize>,
    pub false_child: Range<usize>,
    pub missing_true: Range<usize>,
}

/// Element counts each section must have for a forest of this shape.
struct Counts {
    trees_plus_one: u64,
    nodes: u64,
    values: u64,
}

impl Counts {
    fn new(n_trees: usize, n_nodes: usize, width: usize) -> Result<Counts, StoreError> {
        let overflow = || StoreError::corrupt("section sizes overflow");
        let (n_trees, n_nodes, width) = (n_trees as u64, n_nodes as u64, width as u64);
        Ok(Counts {
            trees_plus_one: n_trees.checked_add(1).ok_or_else(overflow)?,
            nodes: n_nodes,
            values: n_nodes.checked_mul(width).ok_or_else(overflow)?,
        })
    }

    /// Name, type and count of every section, in payload order: widest
    /// elements first, so nothing but the table's own rounding pads them.
    fn sections(&self) -> [(&'static str, Dtype, u64); 7] {
        [
            (TREE_OFFSETS, Dtype::U64, self.trees_plus_one),
            (THRESHOLD, Dtype::F64, self.nodes),
            (VALUE, Dtype::F64, self.values),
            (FEATURE, Dtype::U32, self.nodes),
            (TRUE_CHILD, Dtype::U32, self.nodes),
            (FALSE_CHILD, Dtype::U32, self.nodes),
            (MISSING_TRUE, Dtype::U8, self.nodes),
        ]
    }
}

/// The section table for `forest`, each section starting on an aligned offset.
pub(crate) fn table(forest: &Forest) -> Result<Vec<SectionEntry>, StoreError> {
    let counts = Counts::new(forest.trees.len(), forest.n_nodes(), forest.leaf_width())?;
    let mut offset = 0u64;
    let mut table = Vec::new();
    for (name, dtype, count) in counts.sections() {
        offset = align_up(offset);
        table.push(SectionEntry {
            name: name.into(),
            dtype,
            offset,
            count,
        });
        offset += count * dtype.size();
    }
    Ok(table)
}

/// Length of the payload described by `table`.
pub(crate) fn payload_len(table: &[SectionEntry]) -> u64 {
    table
        .iter()
        .map(|s| s.offset + s.count * s.dtype.size())
        .max()
        .unwrap_or(0)
}

/// Writes the payload of `forest` as laid out by `table` (from [`table`]).
pub(crate) fn write(forest: &Forest, table: &[SectionEntry], out: &mut Vec<u8>) {
    let base = out.len();
    for entry in table {
        out.resize(base + entry.offset as usize, 0);
        let trees = forest.trees.iter();
        match entry.name.as_str() {
            TREE_OFFSETS => {
                let mut start = 0u64;
                put(out, &[0u64]);
                for tree in trees {
                    start += tree.n_nodes() as u64;
                    put(out, &[start]);
                }
            }
            THRESHOLD => trees.for_each(|t| put(out, &t.threshold)),
            VALUE => trees.for_each(|t| put(out, &t.value)),
            FEATURE => trees.for_each(|t| put(out, &t.feature)),
            TRUE_CHILD => trees.for_each(|t| put(out, &t.true_child)),
            FALSE_CHILD => trees.for_each(|t| put(out, &t.false_child)),
            MISSING_TRUE => trees.for_each(|t| out.extend(t.missing_true.iter().map(|&b| b as u8))),
            other => unreachable!("table() makes no section {other}"),
        }
        debug_assert_eq!(
            out.len() - base,
            (entry.offset + entry.count * entry.dtype.size()) as usize
        );
    }
}

/// Finds the format-1.0 sections in `table` and checks them against a
/// payload of `raw_len` bytes holding `n_trees` trees, `n_nodes` nodes and
/// `width` values per node.
pub(crate) fn locate(
    table: &[SectionEntry],
    raw_len: u64,
    n_trees: usize,
    n_nodes: usize,
    width: usize,
) -> Result<Located, StoreError> {
    // A set, not pairwise comparisons: a hostile header may list a great
    // many sections.
    let mut names = std::collections::BTreeSet::new();
    if let Some(dup) = table.iter().find(|e| !names.insert(e.name.as_str())) {
        return Err(StoreError::corrupt(format!(
            "section {:?} appears twice",
            dup.name
        )));
    }
    let counts = Counts::new(n_trees, n_nodes, width)?;
    let mut ranges = Vec::with_capacity(7);
    for (name, dtype, count) in counts.sections() {
        let entry = table
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| StoreError::corrupt(format!("section {name:?} is missing")))?;
        if entry.dtype != dtype || entry.count != count {
            return Err(StoreError::corrupt(format!(
                "section {name:?} holds {} × {:?}; expected {count} × {dtype:?}",
                entry.count, entry.dtype
            )));
        }
        if !entry.offset.is_multiple_of(super::layout::ALIGN) {
            return Err(StoreError::corrupt(format!(
                "section {name:?} starts at unaligned offset {}",
                entry.offset
            )));
        }
        let end = count
            .checked_mul(dtype.size())
            .and_then(|len| len.checked_add(entry.offset))
            .filter(|&end| end <= raw_len)
            .ok_or_else(|| {
                StoreError::corrupt(format!("section {name:?} extends past the payload"))
            })?;
        // Both fit in the payload, which is in memory, so they fit in usize.
        ranges.push(entry.offset as usize..end as usize);
    }
    let mut r = ranges.into_iter();
    let mut next = || r.next().expect("seven sections");
    Ok(Located {
        tree_offsets: next(),
        threshold: next(),
        value: next(),
        feature: next(),
        true_child: next(),
        false_child: next(),
        missing_true: next(),
    })
}

/// Fixed-size numbers stored little-endian.
pub(crate) trait LeNumber: bytemuck::Pod {
    /// Converts between little-endian and native order (its own inverse).
    fn swap_le(self) -> Self;
}

impl LeNumber for u32 {
    fn swap_le(self) -> Self {
        u32::from_le(self)
    }
}

impl LeNumber for u64 {
    fn swap_le(self) -> Self {
        u64::from_le(self)
    }
}

impl LeNumber for f64 {
    fn swap_le(self) -> Self {
        f64::from_bits(u64::from_le(self.to_bits()))
    }
}

/// Appends `xs` as little-endian bytes.
pub(crate) fn put<T: LeNumber>(out: &mut Vec<u8>, xs: &[T]) {
    if cfg!(target_endian = "little") {
        out.extend_from_slice(bytemuck::cast_slice(xs));
    } else {
        xs.iter()
            .for_each(|x| out.extend_from_slice(bytemuck::bytes_of(&x.swap_le())));
    }
}

/// Decodes little-endian `bytes` (any alignment; a whole number of elements).
pub(crate) fn get<T: LeNumber>(bytes: &[u8]) -> Vec<T> {
    let mut v = vec![T::zeroed(); bytes.len() / std::mem::size_of::<T>()];
    bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(bytes);
    if cfg!(target_endian = "big") {
        v.iter_mut().for_each(|x| *x = x.swap_le());
    }
    v
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
