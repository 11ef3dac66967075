//! Compiling opset 5 attributes: nodes and leaves addressed by position,
//! one root per tree.
//!
//! The nodes reachable from each root are laid out depth first, tree after
//! tree, each node and each leaf once (so nodes shared by several parents,
//! or even by several trees, cost no copy and a hostile file cannot make
//! the layout grow beyond its own size). Nodes no root reaches are checked
//! but not kept.

use crate::predict::traverse::{MemberSets, PackedNode, SMALL_TREE};

use super::super::attributes::{IndexedNodes, Mode};
use super::super::error::AttributeError;
use super::{check_weight, feature_id, leaf, same_length, test_of, Layout, Root};

/// Marks a node or leaf not laid out yet.
const UNSEEN: u32 = u32::MAX;

/// A child reference: a node or a leaf position.
#[derive(Clone, Copy)]
enum Child {
    Node(usize),
    Leaf(usize),
}

pub(super) fn compile(a: &IndexedNodes<'_>, n_outputs: usize) -> Result<Layout, AttributeError> {
    let (n, m) = check_lengths(a)?;
    let (children, missing, weight_target) = check_entries(a, n, m, n_outputs)?;
    let (members, set_of) = membership_sets(a)?;
    let placed = lay_out(a, &children)?;
    Ok(Layout {
        nodes: pack(a, &children, &missing, &set_of, &placed),
        trees: placed.trees,
        members,
        weight_target,
        weight_value: a.leaf_weights.to_vec(),
    })
}

/// The nodes reachable from the roots, in layout order, and where each
/// node and leaf was placed.
struct Placed {
    /// Layout order: `Ok(node index)` or `Err(leaf index)`.
    laid_out: Vec<Result<usize, usize>>,
    node_pos: Vec<u32>,
    leaf_pos: Vec<u32>,
    trees: Vec<Root>,
}

/// A node's (true, false) children, its missing-value flags (empty when
/// the attribute is absent) and each leaf's checked target.
type Entries = (Vec<(Child, Child)>, Vec<bool>, Vec<u32>);

/// Checks that the node and leaf attributes have matching lengths and fit
/// 32-bit positions; returns the node and leaf counts.
fn check_lengths(a: &IndexedNodes<'_>) -> Result<(usize, usize), AttributeError> {
    let n = a.feature_ids.len();
    for (name, len) in [
        ("nodes_modes", a.modes.len()),
        ("nodes_splits", a.splits.len()),
        ("nodes_truenodeids", a.true_ids.len()),
        ("nodes_trueleafs", a.true_leafs.len()),
        ("nodes_falsenodeids", a.false_ids.len()),
        ("nodes_falseleafs", a.false_leafs.len()),
    ] {
        same_length(name, len, "nodes_featureids", n)?;
    }
    if !a.missing_true.is_empty() {
        same_length(
            "nodes_missing_value_tracks_true",
            a.missing_true.len(),
            "nodes_featureids",
            n,
        )?;
    }
    let m = a.leaf_targets.len();
    same_length("leaf_weights", a.leaf_weights.len(), "leaf_targetids", m)?;
    if a.roots.is_empty() {
        return Err(AttributeError::Empty {
            attribute: "tree_roots",
            what: "trees",
        });
    }
    if n.saturating_add(m) >= u32::MAX as usize {
        return Err(AttributeError::TooLarge {
            attribute: "nodes_featureids",
            value: (n + m) as u64,
            limit: u32::MAX as u64 - 1,
        });
    }
    Ok((n, m))
}

/// Checks every node and leaf entry, reachable or not: child references in
/// range, flags 0 or 1, feature ids and leaf weights valid.
fn check_entries(
    a: &IndexedNodes<'_>,
    n: usize,
    m: usize,
    n_outputs: usize,
) -> Result<Entries, AttributeError> {
    let flag =
        |attribute: &'static str, values: &[i64], i: usize| -> Result<bool, AttributeError> {
            match values.get(i) {
                None | Some(0) => Ok(false),
                Some(1) => Ok(true),
                Some(&v) => Err(AttributeError::InvalidEntry {
                    attribute,
                    index: i,
                    value: v.to_string(),
                    what: "flag (0 or 1)",
                }),
            }
        };
    let mut children = Vec::with_capacity(n);
    let mut missing = Vec::with_capacity(if a.missing_true.is_empty() { 0 } else { n });
    for i in 0..n {
        let child = |ids: &'static str, leafs: &'static str| -> Result<Child, AttributeError> {
            let (values, is_leaf) = match ids {
                "nodes_truenodeids" => (&a.true_ids, flag(leafs, &a.true_leafs, i)?),
                _ => (&a.false_ids, flag(leafs, &a.false_leafs, i)?),
            };
            let id = values[i];
            let (len, target) = if is_leaf {
                (m, "leaf_weights")
            } else {
                (n, "nodes_featureids")
            };
            let pos = usize::try_from(id).ok().filter(|&p| p < len).ok_or(
                AttributeError::OutOfRange {
                    attribute: ids,
                    index: i,
                    value: id,
                    len,
                    target,
                },
            )?;
            Ok(if is_leaf {
                Child::Leaf(pos)
            } else {
                Child::Node(pos)
            })
        };
        children.push((
            child("nodes_truenodeids", "nodes_trueleafs")?,
            child("nodes_falsenodeids", "nodes_falseleafs")?,
        ));
        feature_id("nodes_featureids", i, a.feature_ids[i])?;
        if !a.missing_true.is_empty() {
            missing.push(flag("nodes_missing_value_tracks_true", &a.missing_true, i)?);
        }
    }
    let mut weight_target = Vec::with_capacity(m);
    for (i, (&target, &value)) in a.leaf_targets.iter().zip(a.leaf_weights.iter()).enumerate() {
        weight_target.push(check_weight(
            ("leaf_targetids", "leaf_weights"),
            i,
            target,
            value,
            n_outputs,
        )?);
    }
    Ok((children, missing, weight_target))
}

/// Lays out the nodes reachable from each root depth first, tree after
/// tree, each node and leaf once; a node met again on its own path is a
/// cycle.
fn lay_out(a: &IndexedNodes<'_>, children: &[(Child, Child)]) -> Result<Placed, AttributeError> {
    let (n, m) = (children.len(), a.leaf_targets.len());
    let mut node_pos = vec![UNSEEN; n];
    let mut leaf_pos = vec![UNSEEN; m];
    // Nodes in layout order: Ok(node index) or Err(leaf index).
    let mut laid_out: Vec<Result<usize, usize>> = Vec::new();
    // 1 = on the current path, 2 = done.
    let mut state = vec![0u8; n];
    let mut stack: Vec<(usize, u8)> = Vec::new();
    let mut trees = Vec::with_capacity(a.roots.len());
    for (t, &root) in a.roots.iter().enumerate() {
        let root =
            usize::try_from(root)
                .ok()
                .filter(|&r| r < n)
                .ok_or(AttributeError::OutOfRange {
                    attribute: "tree_roots",
                    index: t,
                    value: root,
                    len: n,
                    target: "nodes_featureids",
                })?;
        let start = laid_out.len();
        let mut place_leaf = |l: usize, laid_out: &mut Vec<Result<usize, usize>>| {
            if leaf_pos[l] == UNSEEN {
                leaf_pos[l] = laid_out.len() as u32;
                laid_out.push(Err(l));
            }
            leaf_pos[l]
        };
        // A tree that is one leaf: a root whose branches are the same leaf.
        if let (Child::Leaf(x), Child::Leaf(y)) = children[root] {
            if x == y {
                let node = place_leaf(x, &mut laid_out);
                trees.push(Root { node, small: true });
                continue;
            }
        }
        if state[root] == 0 {
            state[root] = 1;
            node_pos[root] = laid_out.len() as u32;
            laid_out.push(Ok(root));
            stack.push((root, 0));
        }
        while let Some(top) = stack.last_mut() {
            let (i, next) = *top;
            if next == 2 {
                state[i] = 2;
                stack.pop();
                continue;
            }
            top.1 += 1;
            let child = if next == 0 {
                children[i].0
            } else {
                children[i].1
            };
            match child {
                Child::Leaf(l) => {
                    place_leaf(l, &mut laid_out);
                }
                Child::Node(c) => match state[c] {
                    0 => {
                        state[c] = 1;
                        node_pos[c] = laid_out.len() as u32;
                        laid_out.push(Ok(c));
                        stack.push((c, 0));
                    }
                    1 => {
                        return Err(AttributeError::Cycle {
                            tree: t as i64,
                            node: format!("nodes_*[{c}]"),
                        })
                    }
                    _ => {} // shared, already laid out
                },
            }
        }
        trees.push(Root {
            node: node_pos[root],
            small: laid_out.len() - start <= SMALL_TREE,
        });
    }
    Ok(Placed {
        laid_out,
        node_pos,
        leaf_pos,
        trees,
    })
}

/// The packed nodes in layout order, children as layout positions.
fn pack(
    a: &IndexedNodes<'_>,
    children: &[(Child, Child)],
    missing: &[bool],
    set_of: &[u32],
    placed: &Placed,
) -> Vec<PackedNode> {
    let Placed {
        laid_out,
        node_pos,
        leaf_pos,
        ..
    } = placed;
    let position = |c: Child| match c {
        Child::Node(i) => node_pos[i],
        Child::Leaf(l) => leaf_pos[l],
    };
    laid_out
        .iter()
        .map(|&entry| match entry {
            Err(l) => leaf(l as u32..l as u32 + 1),
            Ok(i) => {
                let mode = a.modes[i];
                let (yes, no) = children[i];
                PackedNode {
                    threshold: if mode == Mode::Member {
                        f64::from(set_of[i])
                    } else {
                        a.splits[i]
                    },
                    yes: position(yes),
                    no: position(no),
                    feature: a.feature_ids[i] as u32,
                    missing_true: missing.get(i).copied().unwrap_or(false),
                    test: test_of(mode),
                }
            }
        })
        .collect()
}

/// The NaN-terminated sets of `membership_values`, one per
/// `BRANCH_MEMBER` node in node order, and each node's set index.
fn membership_sets(a: &IndexedNodes<'_>) -> Result<(MemberSets, Vec<u32>), AttributeError> {
    let member_nodes = a.modes.iter().filter(|&&m| m == Mode::Member).count();
    let values = &a.membership[..];
    let sets = values.iter().filter(|v| v.is_nan()).count();
    let terminated = values.last().is_none_or(|v| v.is_nan());
    if sets != member_nodes || !terminated {
        return Err(AttributeError::MembershipSets {
            sets: sets + usize::from(!terminated),
            nodes: member_nodes,
        });
    }
    let mut members = MemberSets::default();
    let mut set_of = vec![0u32; if member_nodes > 0 { a.modes.len() } else { 0 }];
    let mut chunks = values.split(|v| v.is_nan());
    for (i, _) in a
        .modes
        .iter()
        .enumerate()
        .filter(|(_, m)| **m == Mode::Member)
    {
        let set = chunks.next().unwrap_or_default();
        set_of[i] = members.push(set.iter().copied()) as u32;
    }
    Ok((members, set_of))
}
