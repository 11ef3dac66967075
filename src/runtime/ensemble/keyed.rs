//! Compiling opset 1/3 attributes: nodes keyed by `(tree id, node id)`.

use rayon::prelude::*;

use crate::predict::traverse::{MemberSets, PackedNode, SMALL_TREE};

use super::super::attributes::{KeyedNodes, Mode};
use super::super::error::AttributeError;
use super::{check_weight, feature_id, leaf, same_length, test_of, Layout, Root};

/// The positions `start..end` (in sorted order) of one tree's nodes.
struct TreeSpan {
    tree: i64,
    start: usize,
    end: usize,
    /// Node id at `start`.
    first: i64,
    /// Whether the ids are `first, first + 1, ...`: then a lookup is an
    /// addition, else a binary search.
    contiguous: bool,
}

impl TreeSpan {
    /// Position of node `id` of this tree; `node_id(pos)` is the id at `pos`.
    #[inline]
    fn find(&self, id: i64, node_id: impl Fn(usize) -> i64) -> Option<u32> {
        let len = (self.end - self.start) as u64;
        if self.contiguous {
            let offset = id.checked_sub(self.first)?;
            return (0..len as i64)
                .contains(&offset)
                .then(|| (self.start + offset as usize) as u32);
        }
        let (mut lo, mut hi) = (self.start, self.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match node_id(mid).cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }
}

/// Splits the sorted positions into trees.
fn tree_spans(order: &[u32], tree_ids: &[i64], node_ids: &[i64]) -> Vec<TreeSpan> {
    let mut spans = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let tree = tree_ids[order[start] as usize];
        let first = node_ids[order[start] as usize];
        let mut end = start + 1;
        let mut contiguous = true;
        while end < order.len() && tree_ids[order[end] as usize] == tree {
            let expected = first.checked_add((end - start) as i64);
            contiguous &= expected == Some(node_ids[order[end] as usize]);
            end += 1;
        }
        spans.push(TreeSpan {
            tree,
            start,
            end,
            first,
            contiguous,
        });
        start = end;
    }
    spans
}

/// Compiles keyed nodes; `classifier` names the leaf attributes `class_*`
/// (else `target_*`).
pub(super) fn compile(
    a: &KeyedNodes<'_>,
    classifier: bool,
    n_outputs: usize,
) -> Result<Layout, AttributeError> {
    let n = a.node_ids.len();
    for (name, len) in [
        ("nodes_treeids", a.tree_ids.len()),
        ("nodes_featureids", a.feature_ids.len()),
        ("nodes_modes", a.modes.len()),
        ("nodes_truenodeids", a.true_ids.len()),
        ("nodes_falsenodeids", a.false_ids.len()),
    ] {
        same_length(name, len, "nodes_nodeids", n)?;
    }
    let values = if a.values.is_empty() && !a.modes.iter().any(|&m| m != Mode::Leaf) {
        None // Only leaves: no thresholds needed.
    } else {
        same_length("nodes_values", a.values.len(), "nodes_nodeids", n)?;
        Some(&a.values[..])
    };
    if !a.missing_true.is_empty() {
        same_length(
            "nodes_missing_value_tracks_true",
            a.missing_true.len(),
            "nodes_nodeids",
            n,
        )?;
    }
    let names = if classifier {
        [
            "class_treeids",
            "class_nodeids",
            "class_ids",
            "class_weights",
        ]
    } else {
        [
            "target_treeids",
            "target_nodeids",
            "target_ids",
            "target_weights",
        ]
    };
    let nw = a.leaf_node_ids.len();
    same_length(names[0], a.leaf_tree_ids.len(), names[1], nw)?;
    same_length(names[2], a.leaf_targets.len(), names[1], nw)?;
    same_length(names[3], a.leaf_weights.len(), names[1], nw)?;
    if n == 0 {
        return Err(AttributeError::Empty {
            attribute: "nodes_nodeids",
            what: "nodes",
        });
    }
    for (attribute, len) in [("nodes_nodeids", n), (names[1], nw)] {
        if len >= u32::MAX as usize {
            return Err(AttributeError::TooLarge {
                attribute,
                value: len as u64,
                limit: u32::MAX as u64 - 1,
            });
        }
    }

    // Positions: the nodes sorted by (tree, node) key.
    let key = |i: usize| (a.tree_ids[i], a.node_ids[i]);
    let order: Vec<u32> = if (1..n).into_par_iter().all(|i| key(i - 1) < key(i)) {
        (0..n as u32).into_par_iter().collect()
    } else {
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.par_sort_unstable_by_key(|&i| (key(i as usize), i));
        if let Some(w) = order
            .windows(2)
            .find(|w| key(w[0] as usize) == key(w[1] as usize))
        {
            let (tree, node) = key(w[0] as usize);
            return Err(AttributeError::DuplicateNode {
                tree,
                node,
                first: w[0] as usize,
                second: w[1] as usize,
            });
        }
        order
    };
    let node_id = |pos: usize| a.node_ids[order[pos] as usize];
    let trees = tree_spans(&order, &a.tree_ids, &a.node_ids);

    // Trees compile in parallel: a tree's children lie within its span, so
    // each task owns its span of `nodes` and `is_child`. Errors are
    // reported as a sequential pass would meet them: node errors in tree
    // order, then weight errors in weight order, then root errors.
    let mut nodes = vec![PackedNode::default(); n];
    let mut is_child = vec![false; n];
    let compiled: Vec<Result<CompiledTree, AttributeError>> = trees
        .par_iter()
        .zip(split_by_spans(&mut nodes, &trees))
        .zip(split_by_spans(&mut is_child, &trees))
        .map(|((span, nodes), is_child)| {
            let forward = compile_tree(a, values, span, &order, nodes, is_child)?;
            Ok((forward, tree_root(span, is_child, node_id)))
        })
        .collect();
    // Children after their parent everywhere rule out cycles and
    // unreachable nodes without a search.
    let mut forward = true;
    let mut roots = Vec::with_capacity(trees.len());
    for tree in compiled {
        let (tree_forward, root) = tree?;
        forward &= tree_forward;
        roots.push(root);
    }

    let (weight_target, weight_value) =
        attach_weights(a, names, n_outputs, &trees, &mut nodes, node_id)?;
    let roots = roots.into_iter().collect::<Result<Vec<Root>, _>>()?;
    if !forward {
        check_acyclic(&nodes, &trees, &roots, |pos| {
            format!("node {}", node_id(pos))
        })?;
    }
    Ok(Layout {
        nodes,
        trees: roots,
        members: MemberSets::default(),
        weight_target,
        weight_value,
    })
}

/// One tree compiled: whether every child follows its parent, and its root
/// (or why it has none, reported after the weights' errors).
type CompiledTree = (bool, Result<Root, AttributeError>);

/// `items` cut at the spans' bounds (the spans tile `0..items.len()`).
fn split_by_spans<'s, T>(mut items: &'s mut [T], spans: &[TreeSpan]) -> Vec<&'s mut [T]> {
    spans
        .iter()
        .map(|span| {
            let (head, tail) = std::mem::take(&mut items).split_at_mut(span.end - span.start);
            items = tail;
            head
        })
        .collect()
}

/// Compiles the branches of one tree into `nodes` (its span), marking
/// children in `is_child`; returns whether every child follows its parent.
fn compile_tree(
    a: &KeyedNodes<'_>,
    values: Option<&[f64]>,
    span: &TreeSpan,
    order: &[u32],
    nodes: &mut [PackedNode],
    is_child: &mut [bool],
) -> Result<bool, AttributeError> {
    let node_id = |pos: usize| a.node_ids[order[pos] as usize];
    let mut forward = true;
    for (pos, &i) in (span.start..).zip(&order[span.start..span.end]) {
        let i = i as usize;
        let mode = a.modes[i];
        let missing_true = match a.missing_true.get(i) {
            None | Some(0) => false,
            Some(1) => true,
            Some(&other) => {
                return Err(AttributeError::InvalidEntry {
                    attribute: "nodes_missing_value_tracks_true",
                    index: i,
                    value: other.to_string(),
                    what: "flag (0 or 1)",
                })
            }
        };
        if mode == Mode::Leaf {
            nodes[pos - span.start] = leaf(0..0);
            continue;
        }
        let child = |attribute: &'static str, id: i64| -> Result<u32, AttributeError> {
            span.find(id, node_id).ok_or(AttributeError::DanglingNode {
                attribute,
                index: i,
                value: id,
                tree: span.tree,
            })
        };
        let yes = child("nodes_truenodeids", a.true_ids[i])?;
        let no = child("nodes_falsenodeids", a.false_ids[i])?;
        is_child[yes as usize - span.start] = true;
        is_child[no as usize - span.start] = true;
        forward &= yes as usize > pos && no as usize > pos;
        nodes[pos - span.start] = PackedNode {
            threshold: values.map_or(0.0, |v| v[i]),
            yes,
            no,
            feature: feature_id("nodes_featureids", i, a.feature_ids[i])?,
            missing_true,
            test: test_of(mode),
        };
    }
    Ok(forward)
}

/// The one node of a tree that no other node points to.
fn tree_root(
    span: &TreeSpan,
    is_child: &[bool],
    node_id: impl Fn(usize) -> i64,
) -> Result<Root, AttributeError> {
    let mut tree_roots = (span.start..span.end).filter(|&pos| !is_child[pos - span.start]);
    let root = tree_roots
        .next()
        .ok_or(AttributeError::NoRoot { tree: span.tree })?;
    if let Some(other) = tree_roots.next() {
        return Err(AttributeError::SeveralRoots {
            tree: span.tree,
            first: node_id(root),
            second: node_id(other),
        });
    }
    Ok(Root {
        node: root as u32,
        small: span.end - span.start <= SMALL_TREE,
    })
}

/// Gives each leaf the range of its weights: the weights in (tree, node)
/// order, a stable sort keeping the file order of each leaf's weights.
/// Returns the weights' targets and values in that order.
///
/// The weights of one tree form a run of that order; runs are attached in
/// parallel, each to its own tree's nodes.
fn attach_weights(
    a: &KeyedNodes<'_>,
    names: [&'static str; 4],
    n_outputs: usize,
    trees: &[TreeSpan],
    nodes: &mut [PackedNode],
    node_id: impl Fn(usize) -> i64 + Sync,
) -> Result<(Vec<u32>, Vec<f64>), AttributeError> {
    let nw = a.leaf_node_ids.len();
    let weight_key = |w: usize| (a.leaf_tree_ids[w], a.leaf_node_ids[w]);
    let weights: Vec<u32> = if (1..nw)
        .into_par_iter()
        .all(|w| weight_key(w - 1) <= weight_key(w))
    {
        (0..nw as u32).into_par_iter().collect()
    } else {
        let mut weights: Vec<u32> = (0..nw as u32).collect();
        weights.par_sort_by_key(|&w| weight_key(w as usize));
        weights
    };
    // Runs of one tree, with the span of that tree (None: no such tree).
    let mut runs: Vec<(std::ops::Range<usize>, Option<usize>)> = Vec::new();
    let mut start = 0;
    while start < nw {
        let tree = a.leaf_tree_ids[weights[start] as usize];
        let mut end = start + 1;
        while end < nw && a.leaf_tree_ids[weights[end] as usize] == tree {
            end += 1;
        }
        let span = trees.binary_search_by_key(&tree, |s| s.tree).ok();
        runs.push((start..end, span));
        start = end;
    }
    let mut tree_nodes: Vec<Option<&mut [PackedNode]>> =
        split_by_spans(nodes, trees).into_iter().map(Some).collect();
    let mut weight_target = vec![0u32; nw];
    let mut weight_value = vec![0.0f64; nw];
    let mut targets = &mut weight_target[..];
    let mut values = &mut weight_value[..];
    let mut jobs = Vec::with_capacity(runs.len());
    for (run, span) in runs {
        let (t, t_rest) = std::mem::take(&mut targets).split_at_mut(run.len());
        let (v, v_rest) = std::mem::take(&mut values).split_at_mut(run.len());
        (targets, values) = (t_rest, v_rest);
        // Runs are of distinct trees, so each span is taken at most once.
        let span = span.and_then(|s| Some((&trees[s], tree_nodes[s].take()?)));
        jobs.push((run, span, t, v));
    }
    let attached: Vec<Result<(), AttributeError>> = jobs
        .into_par_iter()
        .map(|(run, mut span, targets, values)| {
            let mut last = None;
            for (k, &w) in run.clone().zip(&weights[run.clone()]) {
                let w = w as usize;
                let (tree, id) = weight_key(w);
                let undefined = |why| AttributeError::LeafWeight {
                    attribute: names[1],
                    index: w,
                    tree,
                    node: id,
                    why,
                };
                let Some((span, nodes)) = &mut span else {
                    return Err(undefined("not defined"));
                };
                let pos = span.find(id, &node_id).ok_or(undefined("not defined"))? as usize;
                let target = check_weight(
                    (names[2], names[3]),
                    w,
                    a.leaf_targets[w],
                    a.leaf_weights[w],
                    n_outputs,
                )?;
                let node = &mut nodes[pos - span.start];
                if !node.is_leaf() {
                    return Err(undefined("a branch"));
                }
                if last != Some(pos) {
                    node.no = k as u32;
                    last = Some(pos);
                }
                node.feature = k as u32 + 1;
                targets[k - run.start] = target;
                values[k - run.start] = a.leaf_weights[w];
            }
            Ok(())
        })
        .collect();
    attached.into_iter().collect::<Result<(), _>>()?;
    Ok((weight_target, weight_value))
}

/// Every node reachable from its tree's root, and no cycle.
fn check_acyclic(
    nodes: &[PackedNode],
    trees: &[TreeSpan],
    roots: &[Root],
    describe: impl Fn(usize) -> String,
) -> Result<(), AttributeError> {
    // 0 = unseen, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; nodes.len()];
    let mut stack: Vec<(u32, bool)> = Vec::new();
    for (span, root) in trees.iter().zip(roots) {
        let cycle = |pos: u32| AttributeError::Cycle {
            tree: span.tree,
            node: describe(pos as usize),
        };
        stack.push((root.node, false));
        while let Some((i, children_done)) = stack.pop() {
            if children_done {
                state[i as usize] = 2;
                continue;
            }
            match state[i as usize] {
                1 => return Err(cycle(i)),
                2 => continue,
                _ => {}
            }
            state[i as usize] = 1;
            stack.push((i, true));
            let node = &nodes[i as usize];
            if !node.is_leaf() {
                for c in [node.yes, node.no] {
                    if state[c as usize] == 1 {
                        return Err(cycle(c));
                    }
                    stack.push((c, false));
                }
            }
        }
        // A node of this tree not reached from its root has a parent (it is
        // no root), so it sits on a cycle of unreachable nodes.
        if let Some(pos) = (span.start..span.end).find(|&p| state[p] == 0) {
            return Err(cycle(pos as u32));
        }
    }
    Ok(())
}
