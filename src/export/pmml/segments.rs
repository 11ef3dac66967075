//! The document being written, and its tree segments rendered in parallel.
//!
//! A full-depth forest is hundreds of megabytes of XML, nearly all of it
//! trees. Consecutive segments are grouped into chunks of at least
//! [`Chunking::chunk_nodes`] nodes; each chunk is rendered into its own
//! buffer, a batch of chunks at a time on rayon's pool, while the calling
//! thread writes the previous batch out in order. The output is the same
//! bytes whatever the chunking and the number of threads, and memory holds
//! two batches, not the document.

use std::io::{self, Write};

use rayon::prelude::*;

use crate::ir::Forest;

use super::plan::Plan;
use super::tree::{write_tree, Leaf, Scratch};
use super::writer::Xml;

/// How segments are grouped for parallel rendering.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chunking {
    /// A chunk closes once its trees hold this many nodes.
    pub(crate) chunk_nodes: usize,
    /// Chunks rendered together (in parallel) per batch.
    pub(crate) batch_chunks: usize,
}

impl Default for Chunking {
    /// About 3 MB of XML per chunk, two chunks per thread in a batch.
    fn default() -> Chunking {
        Chunking {
            chunk_nodes: 1 << 15,
            batch_chunks: 2 * rayon::current_num_threads().max(1),
        }
    }
}

/// One tree segment of a segmentation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment {
    /// The segment's `id` attribute.
    pub(crate) id: usize,
    /// The tree's index in the forest.
    pub(crate) tree: usize,
    /// What its leaves hold.
    pub(crate) leaf: Leaf,
}

/// What the trees of a segmentation are: their `functionName`, and whether
/// their mining schema lists the target.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TreeKind<'a> {
    pub(crate) function: &'a str,
    pub(crate) with_target: bool,
}

/// The document: its writer, whose bytes go to `out` in order.
pub(crate) struct Doc<W: Write> {
    pub(crate) xml: Xml,
    out: W,
    chunking: Chunking,
}

impl<W: Write> Doc<W> {
    pub(crate) fn new(xml: Xml, out: W, chunking: Chunking) -> Doc<W> {
        Doc { xml, out, chunking }
    }

    fn drain(&mut self) -> io::Result<()> {
        self.out.write_all(&self.xml.buf)?;
        self.xml.buf.clear();
        Ok(())
    }

    /// Writes the rest and returns the output, flushed.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.drain()?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Writes the tree segments in order, rendered in parallel.
    pub(crate) fn segments(
        &mut self,
        plan: &Plan,
        kind: TreeKind,
        segments: &[Segment],
    ) -> io::Result<()> {
        self.drain()?;
        let chunks = chunks(plan.forest, segments, self.chunking.chunk_nodes);
        let Doc { xml, out, chunking } = self;
        let layout: &Xml = xml;
        let mut pending: Vec<Vec<u8>> = Vec::new();
        let mut spare: Vec<Vec<u8>> = Vec::new();
        for batch in chunks.chunks(chunking.batch_chunks.max(1)) {
            let mut bufs: Vec<Vec<u8>> = batch
                .iter()
                .map(|_| spare.pop().unwrap_or_default())
                .collect();
            let mut written = Ok(());
            rayon::in_place_scope(|s| {
                s.spawn(|_| render(plan, layout, kind, batch, &mut bufs));
                written = write_all(out, &pending);
            });
            written?;
            spare.extend(pending.into_iter().map(|mut b| {
                b.clear();
                b
            }));
            pending = bufs;
        }
        write_all(out, &pending)
    }
}

fn write_all<W: Write>(out: &mut W, bufs: &[Vec<u8>]) -> io::Result<()> {
    bufs.iter().try_for_each(|b| out.write_all(b))
}

/// Consecutive runs of segments of at least `min_nodes` nodes (the last
/// one may hold fewer).
fn chunks<'a>(forest: &Forest, segments: &'a [Segment], min_nodes: usize) -> Vec<&'a [Segment]> {
    let mut out = Vec::new();
    let (mut from, mut nodes) = (0, 0);
    for (i, s) in segments.iter().enumerate() {
        nodes += forest.trees[s.tree].n_nodes();
        if nodes >= min_nodes {
            out.push(&segments[from..=i]);
            (from, nodes) = (i + 1, 0);
        }
    }
    if from < segments.len() {
        out.push(&segments[from..]);
    }
    out
}

/// Renders chunk `i` of the batch into `bufs[i]`, continuing `layout`.
fn render(plan: &Plan, layout: &Xml, kind: TreeKind, batch: &[&[Segment]], bufs: &mut [Vec<u8>]) {
    bufs.par_iter_mut()
        .zip(batch)
        .for_each_init(Scratch::default, |scratch, (buf, chunk)| {
            let mut xml = layout.fork(std::mem::take(buf));
            for s in *chunk {
                segment_start(&mut xml, s.id);
                write_tree(
                    &mut xml,
                    plan,
                    s.tree,
                    kind.function,
                    s.leaf,
                    kind.with_target,
                    scratch,
                );
                xml.end("Segment");
            }
            // Whole segments leave the layout as they found it, so the
            // chunks can follow one another.
            assert!(layout.same_layout(&xml), "a chunk left an element open");
            *buf = xml.buf;
        });
}

/// `<Segment id=".."><True/>`: a segment that always applies.
pub(crate) fn segment_start(xml: &mut Xml, index: usize) {
    xml.start("Segment", &[("id", &(index + 1).to_string())]);
    xml.empty("True", &[]);
}
