//! Reading a model file: every check between raw bytes and a [`Forest`].
//!
//! Order matters: sizes are checked against the real file length before
//! anything is allocated from them, the section table against the header's
//! counts, checksums before anything is parsed, and the forest's own
//! invariants last. The payload is decoded as a stream, section by section,
//! straight into each tree's arrays: nothing is allocated ahead of the bytes
//! that fill it beyond one bounded chunk, and a compressed payload must
//! decompress to exactly the length its sections cover.

use std::io::Read;
use std::path::Path;

use super::error::StoreError;
use super::frames::{self, Spans};
use super::layout::{
    Header, Preamble, COMPRESSION_NONE, COMPRESSION_ZSTD, MAX_COMPRESSION_RATIO, MAX_PAYLOAD_LEN,
    PREAMBLE_LEN,
};
use super::metadata::{Compression, Metadata};
use super::payload::{offsets, window_log, zstd_error, Payload, Source};
use super::sections::{Counts, Layout, Section};
use crate::ir::{Aggregation, CategorySplits, Forest, ForestError, Tree, LEAF, LEAF_BIT};

/// A file whose preamble and header were checked and parsed.
pub(crate) struct Head {
    pub preamble: Preamble,
    pub header: Header,
}

impl Head {
    /// Offset of the payload in the file.
    pub fn payload_offset(&self) -> usize {
        // Bounded by MAX_HEADER_LEN when the preamble was parsed.
        self.preamble.payload_offset() as usize
    }

    /// The forest without its trees, as the header describes it.
    pub fn shell(&self) -> Forest {
        let m = &self.header.metadata;
        Forest {
            n_features: m.n_features,
            feature_names: m.feature_names.clone(),
            input: m.input.clone(),
            split_op: m.split_op,
            task: m.task.clone(),
            aggregation: m.aggregation.clone(),
            trees: Vec::new(),
            source: m.source.clone(),
        }
    }

    /// The payload layout the header's counts call for, checked against
    /// the header's section table and the declared payload length.
    pub fn layout(&self) -> Result<Layout, StoreError> {
        let counts = Counts::of_header(&self.header.metadata, &self.shell());
        let layout = Layout::new(&counts)?;
        layout.check_table(&self.header.sections)?;
        if layout.len != self.preamble.raw_len {
            return Err(StoreError::corrupt(format!(
                "the payload is declared {} bytes once decompressed; its sections end at {}",
                self.preamble.raw_len, layout.len
            )));
        }
        Ok(layout)
    }
}

/// Checks and parses the preamble and header at the start of `bytes`, the
/// first bytes (at least up to the payload) of a file of `file_len` bytes.
pub(crate) fn read_head(bytes: &[u8], file_len: u64) -> Result<Head, StoreError> {
    let preamble = Preamble::parse(bytes, file_len)?;
    let offset = preamble.payload_offset() as usize;
    if bytes.len() < offset {
        return Err(StoreError::corrupt("truncated inside the header"));
    }
    preamble.verify_header(&bytes[..offset])?;
    let json = &bytes[PREAMBLE_LEN..PREAMBLE_LEN + preamble.header_len as usize];
    let header: Header = serde_json::from_slice(json)
        .map_err(|e| StoreError::corrupt(format!("header is not valid JSON: {e}")))?;
    let m = &header.metadata;
    if m.format != preamble.format {
        return Err(StoreError::corrupt(format!(
            "the header says format {} but the preamble says {}",
            m.format, preamble.format
        )));
    }
    let consistent = matches!(
        (preamble.compression, m.compression),
        (COMPRESSION_NONE, Compression::None) | (COMPRESSION_ZSTD, Compression::Zstd { .. })
    );
    if !consistent {
        return Err(StoreError::corrupt(
            "the header and the preamble disagree on compression",
        ));
    }
    // Format 3 is always framed; format 4 may be.
    let framed = !header.frames.is_empty();
    let framing_fits = match m.format.major {
        1 | 2 => !framed,
        3 => framed,
        _ => true,
    };
    if !framing_fits || (framed && preamble.compression != COMPRESSION_ZSTD) {
        return Err(StoreError::corrupt(format!(
            "format {} {} a frame table{}",
            m.format,
            if framed { "cannot hold" } else { "needs" },
            if framed {
                ""
            } else {
                " (and zstd compression)"
            }
        )));
    }
    if m.format.major < 2 && (m.per_tree_targets || m.n_category_splits > 0) {
        // A format-1 reader would ignore these and misread the forest.
        return Err(StoreError::corrupt(format!(
            "format {} cannot hold categorical splits or per-tree targets",
            m.format
        )));
    }
    if m.per_tree_targets
        && !matches!(&m.aggregation, Aggregation::Sum { tree_targets, .. } if tree_targets.is_empty())
    {
        return Err(StoreError::corrupt(
            "per-tree targets need a summed forest whose header lists no targets",
        ));
    }
    Ok(Head { preamble, header })
}

/// Reads only the preamble and header of the file at `path`.
pub(crate) fn read_head_from_file(path: &Path) -> Result<Head, StoreError> {
    let io = StoreError::io;
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let file_len = file.metadata().map_err(io(path))?.len();
    let mut head = Vec::with_capacity(PREAMBLE_LEN);
    (&mut file)
        .take(PREAMBLE_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io(path))?;
    // Parsing bounds the header length before we read (and allocate) it.
    let offset = Preamble::parse(&head, file_len)?.payload_offset();
    (&mut file)
        .take(offset - PREAMBLE_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io(path))?;
    read_head(&head, file_len)
}

/// Decodes a whole model file held in memory.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Forest, Metadata), StoreError> {
    let head = read_head(bytes, bytes.len() as u64)?;
    let stored = &bytes[head.payload_offset()..];
    if head.preamble.compression == COMPRESSION_ZSTD {
        check_ratio(stored.len() as u64, head.preamble.raw_len)?;
    }
    let layout = head.layout()?;
    head.preamble.verify_payload(stored)?;
    let shell = head.shell();
    let forest = match head.preamble.compression {
        COMPRESSION_ZSTD if !head.header.frames.is_empty() => {
            let mut arrays = frames::decode(stored, &head.header.frames, &layout)?;
            read_forest(&mut arrays, &layout, shell)?
        }
        COMPRESSION_ZSTD => {
            // A frame that states its size must state the sections' size.
            if let Ok(Some(n)) = zstd::zstd_safe::get_frame_content_size(stored) {
                if n != layout.len {
                    return Err(StoreError::corrupt(format!(
                        "the payload's zstd frame holds {n} bytes; its sections cover {}",
                        layout.len
                    )));
                }
            }
            let mut zstd = zstd::stream::read::Decoder::with_buffer(stored)
                .map_err(zstd_error)?
                .single_frame();
            zstd.window_log_max(window_log(layout.len))
                .map_err(zstd_error)?;
            let mut payload = Payload::new(&mut zstd);
            let forest = read_forest(&mut payload, &layout, shell)?;
            payload.end()?;
            if !zstd.finish().is_empty() {
                return Err(StoreError::corrupt("data after the payload's zstd frame"));
            }
            forest
        }
        _ => {
            let mut raw = stored;
            let mut payload = Payload::new(&mut raw);
            let forest = read_forest(&mut payload, &layout, shell)?;
            payload.end()?;
            forest
        }
    };
    forest.check()?;
    Ok((forest, head.header.metadata))
}

/// Refuses payloads that would decompress to more than the format allows.
fn check_ratio(stored: u64, raw: u64) -> Result<(), StoreError> {
    let too_large = |limit: u64| StoreError::TooLarge {
        what: "the decompressed payload".into(),
        size: raw,
        limit,
    };
    if raw > MAX_PAYLOAD_LEN {
        return Err(too_large(MAX_PAYLOAD_LEN));
    }
    let ratio_limit = stored.saturating_mul(MAX_COMPRESSION_RATIO);
    if raw > ratio_limit {
        return Err(too_large(ratio_limit));
    }
    Ok(())
}

/// The arrays formats 1 to 3 store for every node, which format 4 stores
/// for leaves (values) or for some trees (true children) only.
#[derive(Default)]
struct NodeArrays {
    true_child: Vec<u32>,
    false_child: Vec<u32>,
    value: Vec<f64>,
}

/// Reads every section into the trees of `shell`.
fn read_forest(p: &mut impl Source, layout: &Layout, shell: Forest) -> Result<Forest, StoreError> {
    let counts = &layout.counts;
    let width = counts.leaf_width as usize;
    let mut trees: Vec<Tree> = Vec::new();
    let mut old: Vec<NodeArrays> = Vec::new();
    let mut spans = Spans::default();
    let mut tree_targets = Vec::new();
    for placed in &layout.placed {
        let s = placed.section;
        p.seek(placed.offset, s)?;
        let count = placed.count as usize;
        // Sections after the first offsets are read tree by tree into
        // arrays sized by offsets already validated.
        let size = |spans: &Spans, t: usize| {
            spans.per_tree(s, counts, t).expect("a per-tree section") as usize
        };
        match s {
            Section::TreeOffsets => {
                spans.nodes = offsets(p.array(count, s)?, s, counts.nodes)?;
                spans.prepare(counts)?;
                trees = (0..count - 1).map(|_| Tree::default()).collect();
                if !counts.lean {
                    old = (0..count - 1).map(|_| NodeArrays::default()).collect();
                }
            }
            Section::Threshold => {
                for (t, tree) in trees.iter_mut().enumerate() {
                    tree.threshold = p.array(size(&spans, t), s)?;
                }
            }
            Section::Value if counts.lean => {
                for (t, tree) in trees.iter_mut().enumerate() {
                    tree.leaf_value = p.array(size(&spans, t), s)?;
                }
            }
            Section::Value => {
                for (t, o) in old.iter_mut().enumerate() {
                    o.value = p.array(size(&spans, t), s)?;
                }
            }
            Section::Feature => {
                for (t, tree) in trees.iter_mut().enumerate() {
                    tree.feature = p.array(size(&spans, t), s)?;
                }
            }
            Section::TrueChildTreeOffsets => {
                spans.true_children = offsets(p.array(count, s)?, s, counts.true_children)?;
                spans.prepare(counts)?;
            }
            Section::TrueChild if counts.lean => {
                for (t, tree) in trees.iter_mut().enumerate() {
                    tree.explicit_true_child = p.array(size(&spans, t), s)?;
                }
            }
            Section::TrueChild => {
                for (t, o) in old.iter_mut().enumerate() {
                    o.true_child = p.array(size(&spans, t), s)?;
                }
            }
            Section::FalseChild if counts.lean => {
                for (t, tree) in trees.iter_mut().enumerate() {
                    let mut children: Vec<u32> = p.array(size(&spans, t), s)?;
                    number_leaves(&mut children).map_err(|i| corrupt_child(t, i, children[i]))?;
                    tree.false_child_or_leaf = children;
                }
            }
            Section::FalseChild => {
                for (t, o) in old.iter_mut().enumerate() {
                    o.false_child = p.array(size(&spans, t), s)?;
                }
            }
            Section::MissingTrue => {
                for (t, tree) in trees.iter_mut().enumerate() {
                    let bytes: Vec<u8> = p.array(size(&spans, t), s)?;
                    if let Some(i) = bytes.iter().position(|&b| b > 1) {
                        return Err(StoreError::corrupt(format!(
                            "missing_true of tree {t}, node {i} is {}, not 0 or 1",
                            bytes[i]
                        )));
                    }
                    tree.missing_true = bytes.into_iter().map(|b| b == 1).collect();
                }
            }
            Section::TreeTarget => tree_targets = p.array(count, s)?,
            Section::CategoryTreeOffsets => {
                spans.splits = offsets(p.array(count, s)?, s, counts.category_splits)?;
            }
            Section::CategoryNode => {
                for (t, tree) in trees.iter_mut().enumerate() {
                    tree.categories.nodes = p.array(size(&spans, t), s)?;
                }
            }
            Section::CategoryOffsets => {
                spans.values = offsets(p.array(count, s)?, s, counts.category_values)?;
            }
            Section::CategoryValue => {
                for (t, tree) in trees.iter_mut().enumerate() {
                    let (a, b) = (spans.splits[t] as usize, spans.splits[t + 1] as usize);
                    let first = spans.values[a];
                    let n = spans.values[b] - first;
                    let local = |o: u64| u32::try_from(o - first);
                    let offsets: Result<Vec<u32>, _> =
                        spans.values[a..=b].iter().map(|&o| local(o)).collect();
                    let offsets = offsets.map_err(|_| {
                        StoreError::corrupt(format!("tree {t} lists over 2^32 categories"))
                    })?;
                    tree.categories = CategorySplits {
                        nodes: std::mem::take(&mut tree.categories.nodes),
                        offsets: if a == b { Vec::new() } else { offsets },
                        categories: p.array(n as usize, s)?,
                    };
                }
            }
        }
    }
    for (t, (tree, o)) in trees.iter_mut().zip(old).enumerate() {
        *tree = from_node_arrays(std::mem::take(tree), o, width)
            .map_err(|problem| ForestError::Tree { tree: t, problem })?;
    }
    let mut forest = Forest { trees, ..shell };
    if let Aggregation::Sum {
        tree_targets: targets,
        ..
    } = &mut forest.aggregation
    {
        *targets = tree_targets;
    }
    Ok(forest)
}

/// Gives each leaf (stored as [`LEAF`]) of a format-4 `false_child` array
/// its leaf index; the position of an entry no tree can hold otherwise.
pub(crate) fn number_leaves(children: &mut [u32]) -> Result<(), usize> {
    let mut k = 0;
    for (i, c) in children.iter_mut().enumerate() {
        if *c == LEAF {
            *c = LEAF_BIT | k;
            k += 1;
        } else if *c & LEAF_BIT != 0 {
            return Err(i);
        }
    }
    Ok(())
}

fn corrupt_child(t: usize, i: usize, c: u32) -> StoreError {
    StoreError::corrupt(format!(
        "false_child of tree {t}, node {i} is {c}: neither a node id nor a leaf"
    ))
}

/// The lean IR tree of a format 1–3 tree, whose other arrays `tree` holds.
fn from_node_arrays(tree: Tree, o: NodeArrays, width: usize) -> Result<Tree, String> {
    let categories = tree.categories;
    let mut lean = Tree::from_node_arrays(
        tree.feature,
        tree.threshold,
        &o.true_child,
        &o.false_child,
        tree.missing_true,
        &o.value,
        width,
    )?;
    lean.categories = categories;
    Ok(lean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_numbered_in_node_order_and_marked_ids_refused() {
        let mut c = vec![2, LEAF, 4, LEAF, LEAF];
        number_leaves(&mut c).unwrap();
        assert_eq!(c, [2, LEAF_BIT, 4, LEAF_BIT | 1, LEAF_BIT | 2]);
        // A stored entry with bit 31 set is neither a node id nor a leaf.
        assert_eq!(number_leaves(&mut [1, LEAF_BIT | 1, LEAF]), Err(1));
    }
}
