//! The hot loops: sizing and encoding the node and weight columns of IR
//! trees written by the opset 1/3 operators — the columns of every large
//! random forest — without branches on what is unpredictable (which node is
//! a leaf, which class of a one-hot leaf is set).
//!
//! Each function returns `None`/`false` for what it does not handle; the
//! element-by-element definition in `columns.rs` takes over, and the tests
//! check that both write the same bytes.

use crate::ir::thresholds::{f32_at_or_above_fast, f32_at_or_below_fast, select_f32};
use crate::ir::LEAF_BIT;

use super::columns::{entries_per_node, entry, for_each_entry, Column, Lens, KEY_STRINGS};
use super::layout::{Entries, Op};
use super::out::Out;
use super::plan::{Block, Plan};
use super::trees::{Mode, Source, View};
use crate::wire::varint_len;

/// The `nodes_modes` entry of a leaf: key, length, `LEAF`.
const LEAF_MODE: &[u8] = &[KEY_STRINGS, 4, b'L', b'E', b'A', b'F'];

/// Whether the fast loops apply to `block`: an IR tree (every split numeric,
/// with the forest's operator) written by a classifier or regressor op.
fn eligible(plan: &Plan<'_>, block: &Block) -> bool {
    plan.layout.op != Op::TreeEnsemble
        && matches!(
            plan.sources[plan.written[block.tree].source as usize],
            Source::Ir(_)
        )
}

/// Sizes the node and entry columns of `block` in one branch-free pass, and
/// records which entries each node writes.
pub(super) fn block_lens(plan: &Plan<'_>, block: &Block) -> Option<(Lens, Vec<u8>)> {
    if !eligible(plan, block) {
        return None;
    }
    let written = &plan.written[block.tree];
    let view = plan.view(written.source);
    let width = plan.forest.leaf_width();
    let entries = plan.layout.entries;
    let target = entry_target(plan, block);
    let range = block.start..block.end;
    let mut l = Lens {
        nodes: range.len() as u64,
        ..Lens::default()
    };
    let (mut node_ids, mut feature_ids, mut true_ids, mut false_ids) = (0, 0, 0, 0);
    let (mut entry_node_ids, mut entry_ids) = (0, 0);
    let masks = entries_per_node(entries, width) <= 8;
    let mut kept = Vec::with_capacity(if masks { range.len() } else { 0 });
    let mut node_values = view.values_from(range.start, width);
    for i in range.clone() {
        let node_len = varint_len(i as u64);
        let fc = view.false_child_or_leaf[i];
        let leaf = fc & LEAF_BIT != 0;
        let values = node_values.next(leaf);
        let unless_leaf = |v: u32| varint_len(u64::from(if leaf { 0 } else { v }));
        node_ids += node_len;
        l.leaves += u64::from(leaf);
        if !plan.small_features {
            feature_ids += unless_leaf(view.feature[i]);
        }
        true_ids += unless_leaf(implicit_or(view.explicit_true_child, i));
        false_ids += unless_leaf(fc);
        let mut mask = 0u8;
        let mut e = 0;
        for_each_entry(entries, values, leaf, target, 0, |id, _, keep| {
            mask |= u8::from(keep) << (e & 7);
            e += 1;
            let keep = u64::from(keep);
            l.entries += keep;
            entry_node_ids += keep * node_len;
            if !plan.small_ids {
                entry_ids += keep * varint_len(id as u64);
            }
        });
        if masks {
            kept.push(mask);
        }
    }
    // One byte each, counted without looking.
    if plan.small_features {
        feature_ids = l.nodes;
    }
    if plan.small_ids {
        entry_ids = l.entries;
    }
    let tree_len = varint_len(block.tree as u64);
    let branch_len = 2 + view.split_mode.name().len() as u64;
    let b = &mut l.bytes;
    b[Column::TreeIds as usize] = l.nodes * tree_len;
    b[Column::NodeIds as usize] = node_ids;
    b[Column::FeatureIds as usize] = feature_ids;
    b[Column::Modes as usize] =
        (l.nodes - l.leaves) * branch_len + l.leaves * LEAF_MODE.len() as u64;
    b[Column::Values as usize] = 4 * l.nodes;
    b[Column::ValuesF64 as usize] = 8 * l.nodes;
    b[Column::TrueIds as usize] = true_ids;
    b[Column::FalseIds as usize] = false_ids;
    b[Column::MissingTrue as usize] = l.nodes; // 0 or 1: one byte each
    b[Column::EntryTreeIds as usize] = l.entries * tree_len;
    b[Column::EntryNodeIds as usize] = entry_node_ids;
    b[Column::EntryIds as usize] = entry_ids;
    b[Column::EntryWeights as usize] = 4 * l.entries;
    b[Column::EntryWeightsF64 as usize] = 8 * l.entries;
    b[Column::LeafTable as usize] = 8 * l.leaves * width as u64;
    Some((l, kept))
}

/// Split `i`'s true child: stored in `explicit`, or else the next node.
#[inline(always)]
fn implicit_or(explicit: &[u32], i: usize) -> u32 {
    explicit.get(i).copied().unwrap_or(i as u32 + 1)
}

/// The id entries of `block`'s leaves refer to, beyond their own values.
fn entry_target(plan: &Plan<'_>, block: &Block) -> u32 {
    match plan.layout.entries {
        Entries::LeafOrdinal => block.tree as u32,
        _ => plan.tree_target(plan.written[block.tree].source),
    }
}

/// Encodes `column` over `block` if the fast loops handle it.
pub(super) fn encode(plan: &Plan<'_>, column: Column, block: &Block, w: &mut Out<'_>) -> bool {
    if !eligible(plan, block) {
        return false;
    }
    let view = plan.view(plan.written[block.tree].source);
    let range = block.start..block.end;
    let children = &view.false_child_or_leaf[range.clone()];
    // Leaves write 0 for the feature, the children and the threshold.
    // Which node is a leaf is unpredictable, so the loops select
    // without branching.
    let leaf = |c: u32| c & LEAF_BIT != 0;
    let unless_leaf = |c: u32, v: u32| u64::from(if leaf(c) { 0 } else { v });
    match column {
        Column::TreeIds => w.repeat_varint(block.tree as u64, range.len()),
        Column::NodeIds => {
            for i in range {
                w.varint(i as u64);
            }
        }
        Column::FeatureIds if plan.small_features => {
            // One byte per node: a plain, vectorisable byte loop.
            let out = w.take(range.len());
            for (o, (&c, &f)) in out
                .iter_mut()
                .zip(children.iter().zip(&view.feature[range]))
            {
                *o = unless_leaf(c, f) as u8;
            }
        }
        Column::FeatureIds => {
            for (&c, &f) in children.iter().zip(&view.feature[range]) {
                w.varint(unless_leaf(c, f));
            }
        }
        Column::TrueIds if view.explicit_true_child.is_empty() => {
            for (i, &c) in range.zip(children) {
                w.varint(unless_leaf(c, i as u32 + 1));
            }
        }
        Column::TrueIds => {
            for (&c, &tc) in children.iter().zip(&view.explicit_true_child[range]) {
                w.varint(unless_leaf(c, tc));
            }
        }
        Column::FalseIds => {
            for &c in children {
                w.varint(unless_leaf(c, c));
            }
        }
        Column::Modes => {
            let mode = view.split_mode.name();
            let mut branch = [0u8; 16];
            branch[0] = KEY_STRINGS;
            branch[1] = mode.len() as u8;
            branch[2..2 + mode.len()].copy_from_slice(mode);
            let mut leaf_mode = [0u8; 16];
            leaf_mode[..LEAF_MODE.len()].copy_from_slice(LEAF_MODE);
            let patterns = [&branch, &leaf_mode];
            let lens = [2 + mode.len(), LEAF_MODE.len()];
            for &c in children {
                let leaf = usize::from(leaf(c));
                w.pattern(patterns[leaf], lens[leaf]);
            }
        }
        Column::Values => {
            let thresholds = children.iter().zip(&view.threshold[range]);
            // One loop per comparison keeps the rounding direction out of
            // the loop.
            match view.split_mode {
                Mode::Lt => {
                    for (&c, &t) in thresholds {
                        let v = f32_at_or_above_fast(t);
                        w.bytes(&select_f32(leaf(c), 0.0, v).to_le_bytes());
                    }
                }
                _ => {
                    for (&c, &t) in thresholds {
                        let v = f32_at_or_below_fast(t);
                        w.bytes(&select_f32(leaf(c), 0.0, v).to_le_bytes());
                    }
                }
            }
        }
        Column::ValuesF64 => {
            for (&c, &t) in children.iter().zip(&view.threshold[range]) {
                let mask = u64::from(!leaf(c)).wrapping_neg();
                w.bytes(&f64::from_bits(t.to_bits() & mask).to_le_bytes());
            }
        }
        Column::MissingTrue => {
            for &m in &view.missing_true[range] {
                w.bytes(&[u8::from(m)]);
            }
        }
        Column::EntryTreeIds => {
            // The tree id once per entry: no need to look at the leaves.
            w.repeat_varint(block.tree as u64, block.lens.entries as usize)
        }
        Column::EntryNodeIds => weight_entries(plan, &view, block, w, |w, node, _, _, keep| {
            w.varint_if(node as u64, keep)
        }),
        Column::EntryIds if plan.small_ids => {
            weight_entries(plan, &view, block, w, |w, _, id, _, keep| {
                w.byte_if(id as u8, keep)
            })
        }
        Column::EntryIds => weight_entries(plan, &view, block, w, |w, _, id, _, keep| {
            w.varint_if(id as u64, keep)
        }),
        // Leaf numbers need counting: the element loop does.
        Column::EntryWeights | Column::EntryWeightsF64
            if plan.layout.entries == Entries::LeafOrdinal =>
        {
            return false
        }
        Column::EntryWeights => weight_entries(plan, &view, block, w, |w, _, _, weight, keep| {
            w.f32_if(weight as f32, keep)
        }),
        Column::EntryWeightsF64 => {
            weight_entries(plan, &view, block, w, |w, _, _, weight, keep| {
                w.f64_if(weight, keep)
            })
        }
        _ => return false,
    }
    true
}

/// Calls `emit(w, node, id, weight, keep)` for every weight entry of the
/// block's nodes (see [`for_each_entry`]); some entries that are not kept
/// may be skipped.
#[inline(always)]
fn weight_entries(
    plan: &Plan<'_>,
    view: &View<'_>,
    block: &Block,
    w: &mut Out<'_>,
    mut emit: impl FnMut(&mut Out<'_>, usize, usize, f64, bool),
) {
    let width = plan.forest.leaf_width();
    let entries = plan.layout.entries;
    let target = entry_target(plan, block);
    let mut node_values = view.values_from(block.start, width);
    if !block.kept.is_empty() {
        for (i, &kept) in (block.start..).zip(&block.kept) {
            let values = node_values.next(view.is_leaf(i));
            // Almost every leaf keeps exactly one entry and every internal
            // node none: emit the first set bit (or a dummy entry, not kept)
            // without branching, then any others.
            let first = kept.trailing_zeros() & 7;
            let (id, weight) = entry(entries, values, first as usize, target);
            emit(w, i, id, weight, kept != 0);
            let mut rest = kept & kept.wrapping_sub(1);
            while rest != 0 {
                let e = rest.trailing_zeros() as usize;
                let (id, weight) = entry(entries, values, e, target);
                emit(w, i, id, weight, true);
                rest &= rest - 1;
            }
        }
        return;
    }
    for i in block.start..block.end {
        let leaf = view.is_leaf(i);
        for_each_entry(
            entries,
            node_values.next(leaf),
            leaf,
            target,
            0,
            |id, weight, keep| emit(w, i, id, weight, keep),
        );
    }
}
