//! Sizing: the exact encoded length of every column over every block of
//! nodes, and the model's bytes around the columns.
//!
//! A 6.8 M-node forest makes a ~170 MB model. Building it as a `ModelProto`
//! means a dozen 6.8 M-element vectors plus one heap-allocated mode string
//! per node, then a full copy when prost encodes it. Instead the small
//! messages around the columns are built with prost as usual and split
//! where the columns go, and the columns are written element by element.
//! Protobuf fields may be concatenated in any split as long as each
//! message's fields stay in tag order (prost writes them in that order), so
//! the bytes are identical to `to_model(..).encode_to_vec()`; the tests
//! check this for every kind of model.
//!
//! Length prefixes come first in protobuf, so one sizing pass computes the
//! exact encoded length of every column for every block of nodes (up to
//! [`BLOCK_NODES`] consecutive nodes of one written tree). Knowing where
//! every block's bytes go, `stream.rs` encodes the blocks in parallel into
//! disjoint slices of the output.

use prost::Message;
use rayon::prelude::*;

use crate::ir::Forest;
use crate::onnx_proto::{GraphProto, ModelProto, NodeProto, TensorProto};

use super::columns::{Column, Elem, Lens, Wire};
use super::graph::{self, Facts, Shell};
use super::layout::{Layout, Op};
use super::messages::*;
use super::node::{Attr, NodeFacts};
use super::trees::{leaf_ranks, only_categorical_splits, Source, View};
use super::{fast, is_small, ExportError, ExportOptions, MAX_ONNX_BYTES};
use crate::wire::{encode_key, encode_varint, varint_len, LEN, VARINT};

/// Most nodes in one block: the unit of parallel sizing and encoding.
pub(super) const BLOCK_NODES: usize = 1 << 15;

/// One tree as written: a forest tree, or one copy of it (opset 5).
pub(super) struct Written {
    /// Index of the forest tree.
    pub source: u32,
    /// Which copy: the leaf value it holds (opset 5).
    pub copy: u32,
    /// Opset 5: positions of the tree's first split and first leaf among
    /// all splits and leaves.
    pub split_prefix: u64,
    pub leaf_prefix: u64,
}

/// Consecutive nodes `start..end` of written tree `tree`.
pub(super) struct Block {
    pub tree: usize,
    pub start: usize,
    pub end: usize,
    pub lens: Lens,
    /// Per node, bit `e` set when weight entry `e` is written (see
    /// [`super::columns::for_each_entry`]); empty unless the fast path sized
    /// the block and nodes have at most 8 entries. One byte per node spares
    /// the entry columns from re-reading and re-testing every leaf value.
    pub kept: Vec<u8>,
    /// Leaves of the tree before `start`.
    pub leaves_before: u64,
}

/// A piece of the encoded model: ready bytes or a column to stream.
pub(super) enum Part {
    Bytes(Vec<u8>),
    Column(Column),
}

/// Everything needed to stream one model: its exact size and its parts.
pub(super) struct Plan<'f> {
    pub forest: &'f Forest,
    pub layout: Layout,
    pub sources: Vec<Source<'f>>,
    pub written: Vec<Written>,
    /// Opset 5: per forest tree, [`leaf_ranks`].
    pub ranks: Vec<Vec<u32>>,
    pub blocks: Vec<Block>,
    pub totals: Lens,
    /// The explicit zero weight written when no leaf has a weight (opsets
    /// 1/3): the first leaf of the first tree.
    pub fallback_leaf: Option<usize>,
    /// Every feature id, and every entry id, fits in one varint byte.
    pub small_features: bool,
    pub small_ids: bool,
    /// Encode on the calling thread only.
    pub sequential: bool,
    pub shell: Shell,
    pub parts: Vec<Part>,
    total: u64,
}

impl<'f> Plan<'f> {
    /// Sizes the model; refuses it before any encoding if it cannot be
    /// written or is too large.
    pub fn new(forest: &'f Forest, options: &ExportOptions) -> Result<Plan<'f>, ExportError> {
        let layout = Layout::new(forest, options)?;
        let sequential = is_small(forest);
        let no_lone_eq = only_categorical_splits(forest);
        let sources: Vec<Source<'f>> = forest
            .trees
            .iter()
            .map(|t| {
                let columns = &layout.categorical_features;
                Source::new(
                    forest,
                    t,
                    layout.ml_opset,
                    layout.precision,
                    columns,
                    no_lone_eq,
                )
            })
            .collect();
        let copies = layout.copies as u32;
        let written: Vec<Written> = (0..forest.trees.len() as u32)
            .flat_map(|source| {
                (0..copies).map(move |copy| Written {
                    source,
                    copy,
                    split_prefix: 0,
                    leaf_prefix: 0,
                })
            })
            .collect();
        let mut plan = Plan {
            forest,
            small_features: forest.n_features <= 128,
            small_ids: layout.n_targets <= 128,
            layout,
            sources,
            written,
            ranks: Vec::new(),
            blocks: Vec::new(),
            totals: Lens::default(),
            fallback_leaf: None,
            sequential,
            shell: placeholder_shell(),
            parts: Vec::new(),
            total: 0,
        };
        let node = plan.number_splits_and_leaves();
        let leaf_offsets = plan.leaf_offsets();
        plan.shell = graph::shell(forest, &plan.layout, options, Facts { node, leaf_offsets });
        plan.size_blocks();
        plan.frame();
        if plan.total > MAX_ONNX_BYTES {
            return Err(ExportError::TooLarge {
                estimated: plan.total,
                limit: MAX_ONNX_BYTES,
            });
        }
        Ok(plan)
    }

    /// Exact encoded size.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The arrays of forest tree `source` as written.
    pub fn view(&self, source: u32) -> View<'_> {
        self.sources[source as usize].view(self.forest.split_op)
    }

    /// Opset 5: ranks, each written tree's first split and leaf, and what
    /// the node needs of them.
    fn number_splits_and_leaves(&mut self) -> NodeFacts {
        let mut facts = NodeFacts {
            tree_roots: Vec::new(),
            membership: Vec::new(),
        };
        if self.layout.op != Op::TreeEnsemble {
            return facts;
        }
        let split_op = self.forest.split_op;
        let rank = |s: &Source<'_>| leaf_ranks(&s.view(split_op));
        self.ranks = if self.sequential {
            self.sources.iter().map(rank).collect()
        } else {
            self.sources.par_iter().map(rank).collect()
        };
        let (mut splits, mut leaves) = (0u64, 0u64);
        for w in &mut self.written {
            let s = w.source as usize;
            let view = self.sources[s].view(split_op);
            let n = view.n_nodes();
            let tree_leaves = u64::from(self.ranks[s][n - 1]) + u64::from(view.is_leaf(n - 1));
            w.split_prefix = splits;
            w.leaf_prefix = leaves;
            // A one-leaf tree has a stand-in split.
            splits += (n as u64 - tree_leaves).max(1);
            leaves += tree_leaves;
            facts.tree_roots.push(w.split_prefix as i64);
            for (_, set) in self.sources[s].members() {
                facts.membership.extend(set);
                facts.membership.push(f64::NAN);
            }
        }
        facts
    }

    /// Leaf-index graphs: each tree's first row in the leaf table.
    fn leaf_offsets(&self) -> Vec<i64> {
        if !self.layout.leaf_index {
            return Vec::new();
        }
        let mut offset = 0i64;
        self.sources
            .iter()
            .map(|s| {
                let first = offset;
                let view = s.view(self.forest.split_op);
                offset += view.n_leaves() as i64;
                first
            })
            .collect()
    }

    /// The streamed columns, in file order.
    pub fn columns(&self) -> Vec<Column> {
        let mut columns: Vec<Column> = self
            .shell
            .attributes
            .iter()
            .filter_map(|a| match a {
                Attr::Column { column, .. } => Some(*column),
                Attr::Small(_) => None,
            })
            .collect();
        if self.shell.table.is_some() {
            columns.push(Column::LeafTable);
        }
        columns
    }

    /// Splits the written trees into blocks and sizes them.
    fn size_blocks(&mut self) {
        let columns = self.columns();
        let spans: Vec<(usize, usize, usize)> = self
            .written
            .iter()
            .enumerate()
            .flat_map(|(t, w)| {
                let n = self.view(w.source).n_nodes();
                (0..n)
                    .step_by(BLOCK_NODES)
                    .map(move |start| (t, start, (start + BLOCK_NODES).min(n)))
            })
            .collect();
        let size = |&(tree, start, end): &(usize, usize, usize)| {
            let mut block = Block {
                tree,
                start,
                end,
                lens: Lens::default(),
                kept: Vec::new(),
                leaves_before: 0,
            };
            match fast::block_lens(self, &block) {
                Some((lens, kept)) => {
                    block.lens = lens;
                    block.kept = kept;
                }
                None => block.lens = self.generic_lens(&block, &columns),
            }
            block
        };
        let mut blocks: Vec<Block> = if self.sequential {
            spans.iter().map(size).collect()
        } else {
            spans.par_iter().map(size).collect()
        };
        let mut leaves = 0;
        for k in 0..blocks.len() {
            if k > 0 && blocks[k].tree != blocks[k - 1].tree {
                leaves = 0;
            }
            blocks[k].leaves_before = leaves;
            leaves += blocks[k].lens.leaves;
        }
        self.totals = blocks.iter().fold(Lens::default(), |sum, b| sum + b.lens);
        self.blocks = blocks;
        let entries = matches!(self.layout.op, Op::Classifier | Op::Regressor);
        if entries && self.totals.entries == 0 {
            let view = self.view(0);
            self.fallback_leaf = Some((0..view.n_nodes()).find(|&i| view.is_leaf(i)).unwrap_or(0));
        }
    }

    /// Sizes `columns` over `block` element by element.
    fn generic_lens(&self, block: &Block, columns: &[Column]) -> Lens {
        let view = self.view(self.written[block.tree].source);
        let range = block.start..block.end;
        let leaves = range.clone().filter(|&i| view.is_leaf(i)).count() as u64;
        let nodes = range.len() as u64;
        let mut lens = Lens {
            nodes,
            leaves,
            splits: if view.n_nodes() == 1 {
                1
            } else {
                nodes - leaves
            },
            ..Lens::default()
        };
        for &column in columns {
            let mut len = 0;
            let mut count = 0;
            self.elems(column, block, &mut |e: Elem| {
                len += e.len();
                count += 1;
            });
            lens.bytes[column as usize] = len;
            if column == Column::EntryTreeIds {
                lens.entries = count;
            }
        }
        lens
    }

    /// The explicit zero weight's element of `column`, when no leaf has a
    /// weight.
    pub fn fallback(&self, column: Column) -> Option<Elem> {
        let leaf = self.fallback_leaf? as u64;
        let binary_classifier = self.layout.signed_binary();
        Some(match column {
            Column::EntryTreeIds => Elem::Int(0),
            Column::EntryNodeIds => Elem::Int(leaf),
            // Runtimes still take the one-score binary path.
            Column::EntryIds => Elem::Int(u64::from(binary_classifier)),
            Column::EntryWeights => Elem::F32(0.0),
            Column::EntryWeightsF64 => Elem::F64(0.0),
            _ => return None,
        })
    }

    /// Encoded length of `column` over the whole model.
    pub fn column_len(&self, column: Column) -> u64 {
        self.totals.of(column) + self.fallback(column).map_or(0, Elem::len)
    }

    /// Elements in `column` (for tensor dimensions).
    fn column_count(&self, column: Column) -> u64 {
        match column.wire() {
            Wire::Raw { bytes, .. } => self.column_len(column) / bytes,
            _ => unreachable!("only tensors have dimensions"),
        }
    }

    /// The model's bytes around the columns, and its total size.
    fn frame(&mut self) {
        let shell = &self.shell;
        let mut node_parts = Vec::new();
        let mut attributes_len = 0u64;
        for attribute in &shell.attributes {
            match attribute {
                Attr::Small(a) => {
                    let mut bytes = Vec::new();
                    prost::encoding::message::encode(5, &**a, &mut bytes);
                    attributes_len += bytes.len() as u64;
                    node_parts.push(Part::Bytes(bytes));
                }
                Attr::Column { name, column } => {
                    let (parts, len) = self.framed_attribute(name, *column);
                    attributes_len += len;
                    node_parts.extend(parts);
                }
            }
        }
        let node_head = NodeProto {
            input: shell.node.input.clone(),
            output: shell.node.output.clone(),
            name: shell.node.name.clone(),
            op_type: shell.node.op_type.clone(),
            ..Default::default()
        }
        .encode_to_vec();
        let node_tail = NodeProto {
            doc_string: shell.node.doc_string.clone(),
            domain: shell.node.domain.clone(),
            ..Default::default()
        }
        .encode_to_vec();
        let node_len = node_head.len() as u64 + attributes_len + node_tail.len() as u64;

        let graph_head = GraphProto {
            node: shell.pre.clone(),
            ..Default::default()
        }
        .encode_to_vec();
        let graph_middle = GraphProto {
            node: shell.post.clone(),
            name: shell.name.clone(),
            initializer: shell.initializers.clone(),
            ..Default::default()
        }
        .encode_to_vec();
        let graph_tail = GraphProto {
            input: shell.inputs.clone(),
            output: shell.outputs.clone(),
            ..Default::default()
        }
        .encode_to_vec();
        let mut table_parts = Vec::new();
        let mut table_len = 0;
        if let Some(table) = &shell.table {
            let len = self.column_len(Column::LeafTable);
            let leaves = (len / 8) as i64 / table.width as i64;
            let dims = if table.flat {
                vec![leaves]
            } else {
                vec![leaves, table.width as i64]
            };
            // TensorProto: dims, data_type, name, raw_data.
            let mut body = TensorProto {
                name: table.name.into(),
                dims,
                data_type: crate::onnx_proto::tensor_proto::DataType::Double as i32,
                ..Default::default()
            }
            .encode_to_vec();
            if len > 0 {
                encode_key(9, LEN, &mut body);
                encode_varint(len, &mut body);
            }
            let mut field = Vec::new();
            encode_key(5, LEN, &mut field);
            encode_varint(body.len() as u64 + len, &mut field);
            field.extend(body);
            table_len = field.len() as u64 + len;
            table_parts.push(Part::Bytes(field));
            if len > 0 {
                table_parts.push(Part::Column(Column::LeafTable));
            }
        }
        let graph_len = graph_head.len() as u64
            + 1
            + varint_len(node_len)
            + node_len
            + graph_middle.len() as u64
            + table_len
            + graph_tail.len() as u64;

        let model_tail = ModelProto {
            opset_import: shell.model.opset_import.clone(),
            metadata_props: shell.model.metadata_props.clone(),
            ..Default::default()
        }
        .encode_to_vec();
        let mut head = ModelProto {
            opset_import: Vec::new(),
            metadata_props: Vec::new(),
            ..shell.model.clone()
        }
        .encode_to_vec();
        encode_key(7, LEN, &mut head);
        encode_varint(graph_len, &mut head);
        head.extend(graph_head);
        encode_key(1, LEN, &mut head);
        encode_varint(node_len, &mut head);
        head.extend(node_head);
        let mut after_node = node_tail;
        after_node.extend(graph_middle);

        let mut parts = vec![Part::Bytes(head)];
        parts.extend(node_parts);
        parts.push(Part::Bytes(after_node));
        parts.extend(table_parts);
        let mut tail = graph_tail;
        tail.extend(model_tail);
        parts.push(Part::Bytes(tail));
        self.total = parts
            .iter()
            .map(|p| match p {
                Part::Bytes(b) => b.len() as u64,
                Part::Column(c) => self.column_len(*c),
            })
            .sum();
        self.parts = parts;
    }

    /// The parts of attribute `name` holding `column` (a `NodeProto.attribute`
    /// field) and their length.
    fn framed_attribute(&self, name: &str, column: Column) -> (Vec<Part>, u64) {
        use crate::onnx_proto::attribute_proto::AttributeType;
        let len = self.column_len(column);
        // AttributeProto: name (1), t (5) | floats (7) | ints (8) |
        // strings (9), type (20).
        let mut head = Vec::new();
        encode_key(1, LEN, &mut head);
        encode_varint(name.len() as u64, &mut head);
        head.extend_from_slice(name.as_bytes());
        let attribute_type = match column.wire() {
            Wire::Ints | Wire::Floats => {
                if len > 0 {
                    let field = if column.wire() == Wire::Ints { 8 } else { 7 };
                    encode_key(field, LEN, &mut head);
                    encode_varint(len, &mut head);
                }
                if column.wire() == Wire::Ints {
                    AttributeType::Ints
                } else {
                    AttributeType::Floats
                }
            }
            Wire::Strings => AttributeType::Strings,
            Wire::Raw { data_type, .. } => {
                // TensorProto: dims (packed), data_type, raw_data.
                let mut tensor = Vec::new();
                let count = self.column_count(column);
                encode_key(1, LEN, &mut tensor);
                encode_varint(varint_len(count), &mut tensor);
                encode_varint(count, &mut tensor);
                encode_key(2, VARINT, &mut tensor);
                encode_varint(data_type as u64, &mut tensor);
                if len > 0 {
                    encode_key(9, LEN, &mut tensor);
                    encode_varint(len, &mut tensor);
                }
                encode_key(5, LEN, &mut head);
                encode_varint(tensor.len() as u64 + len, &mut head);
                head.extend(tensor);
                AttributeType::Tensor
            }
        };
        let mut tail = Vec::new();
        encode_key(20, VARINT, &mut tail);
        encode_varint(attribute_type as u64, &mut tail);
        let body = head.len() as u64 + len + tail.len() as u64;
        let mut field = Vec::new();
        encode_key(5, LEN, &mut field);
        encode_varint(body, &mut field);
        field.extend(head);
        let total = field.len() as u64 + len + tail.len() as u64;
        let mut parts = vec![Part::Bytes(field)];
        if len > 0 {
            parts.push(Part::Column(column));
        }
        parts.push(Part::Bytes(tail));
        (parts, total)
    }

    /// The reference model: every column collected into prost vectors.
    pub fn reference_model(&self) -> ModelProto {
        let shell = &self.shell;
        let mut node = shell.node.clone();
        for attribute in &shell.attributes {
            node.attribute.push(match attribute {
                Attr::Small(a) => (**a).clone(),
                Attr::Column { name, column } => self.collected_attribute(name, *column),
            });
        }
        let mut nodes = shell.pre.clone();
        nodes.push(node);
        nodes.extend(shell.post.iter().cloned());
        let mut initializer = shell.initializers.clone();
        if let Some(table) = &shell.table {
            let raw = self.collect_raw(Column::LeafTable);
            let leaves = (raw.len() / 8 / table.width) as i64;
            let dims = if table.flat {
                vec![leaves]
            } else {
                vec![leaves, table.width as i64]
            };
            initializer.push(raw_tensor(
                table.name,
                crate::onnx_proto::tensor_proto::DataType::Double,
                dims,
                raw,
            ));
        }
        ModelProto {
            graph: Some(GraphProto {
                node: nodes,
                name: shell.name.clone(),
                initializer,
                input: shell.inputs.clone(),
                output: shell.outputs.clone(),
                ..Default::default()
            }),
            ..shell.model.clone()
        }
    }

    /// Every element of `column`, blocks then the fallback.
    fn collect(&self, column: Column, mut f: impl FnMut(Elem)) {
        for block in &self.blocks {
            self.elems(column, block, &mut f);
        }
        if let Some(e) = self.fallback(column) {
            f(e);
        }
    }

    fn collect_raw(&self, column: Column) -> Vec<u8> {
        let mut raw = Vec::new();
        self.collect(column, |e| match e {
            Elem::F32(v) => raw.extend(v.to_le_bytes()),
            Elem::F64(v) => raw.extend(v.to_le_bytes()),
            Elem::U8(v) => raw.push(v),
            other => unreachable!("{other:?} in a tensor"),
        });
        raw
    }

    fn collected_attribute(&self, name: &str, column: Column) -> crate::onnx_proto::AttributeProto {
        match column.wire() {
            Wire::Ints => {
                let mut v = Vec::new();
                self.collect(column, |e| match e {
                    Elem::Int(i) => v.push(i as i64),
                    other => unreachable!("{other:?} in ints"),
                });
                ints_attr(name, v)
            }
            Wire::Floats => {
                let mut v = Vec::new();
                self.collect(column, |e| match e {
                    Elem::F32(x) => v.push(x),
                    other => unreachable!("{other:?} in floats"),
                });
                floats_attr(name, v)
            }
            Wire::Strings => {
                let mut v = Vec::new();
                self.collect(column, |e| match e {
                    Elem::Str(s) => v.push(s.to_vec()),
                    other => unreachable!("{other:?} in strings"),
                });
                strings_attr(name, v)
            }
            Wire::Raw { data_type, bytes } => {
                let raw = self.collect_raw(column);
                let dims = vec![raw.len() as i64 / bytes as i64];
                tensor_attr(name, raw_tensor("", data_type, dims, raw))
            }
        }
    }
}

/// An empty shell, replaced before use.
fn placeholder_shell() -> Shell {
    Shell {
        model: ModelProto::default(),
        pre: Vec::new(),
        node: NodeProto::default(),
        attributes: Vec::new(),
        post: Vec::new(),
        name: String::new(),
        initializers: Vec::new(),
        table: None,
        inputs: Vec::new(),
        outputs: Vec::new(),
    }
}
