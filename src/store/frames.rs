//! Framed payloads (format 3): the compressed payload as independent zstd
//! frames, each holding whole arrays (one tree's part of a section, or a
//! whole small section, with the padding after it). Frames compress and
//! decompress in parallel, each straight into the arrays it holds; one
//! frame of hundreds of megabytes would keep loading on one core.
//!
//! The raw payload is byte for byte the one of formats 1 and 2; only its
//! compression differs. The header lists each frame's raw and stored
//! length; a reader refuses a table whose frames do not tile the payload
//! at array boundaries.

use std::io::Read;

use rayon::prelude::*;

use super::error::StoreError;
use super::layout::FrameEntry;
use super::payload::{offsets, window_log, zstd_error, Payload, Source};
use super::sections::{Array, Counts, Layout, LeNumber, Section};

/// When a compressed payload is framed, and how large its frames are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Framing {
    /// Payloads from this raw size on are framed.
    pub min_raw: u64,
    /// Raw bytes a frame gathers before it closes (at an array boundary).
    pub target: u64,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            min_raw: 8 << 20,
            target: 4 << 20,
        }
    }
}

/// Where each tree's arrays start, beyond what the counts say: the
/// offsets sections, once read.
#[derive(Clone, Debug, Default)]
pub(crate) struct Spans {
    /// First node of each tree, then the node count.
    pub nodes: Vec<u64>,
    /// Format 4: first leaf of each tree, then the leaf count (a tree of
    /// `n` nodes has `(n + 1) / 2` leaves).
    pub leaves: Vec<u64>,
    /// Format 4: first stored true child of each tree, then their count.
    pub true_children: Vec<u64>,
    /// First categorical split of each tree, then their count.
    pub splits: Vec<u64>,
    /// First category of each categorical split, then their count.
    pub values: Vec<u64>,
}

impl Spans {
    /// Completes the spans of a format-4 payload that no offsets section
    /// lists (leaves; true children when none is stored), and checks that
    /// each tree stores no true child or one per node.
    pub fn prepare(&mut self, counts: &Counts) -> Result<(), StoreError> {
        if !counts.lean {
            return Ok(());
        }
        self.count_leaves(counts.leaves)?;
        if self.true_children.is_empty() {
            self.true_children = vec![0; self.nodes.len()];
        }
        let trees = self.nodes.windows(2).zip(self.true_children.windows(2));
        for (t, (n, k)) in trees.enumerate() {
            let (n, k) = (n[1] - n[0], k[1] - k[0]);
            if k != 0 && k != n {
                return Err(StoreError::corrupt(format!(
                    "tree {t} stores {k} true children; a tree stores none or one per node ({n})"
                )));
            }
        }
        Ok(())
    }

    /// Sets [`Spans::leaves`] from [`Spans::nodes`]; fails unless they add
    /// up to `total`.
    fn count_leaves(&mut self, total: u64) -> Result<(), StoreError> {
        let mut sum = 0u64;
        self.leaves = std::iter::once(0)
            .chain(self.nodes.windows(2).map(|w| {
                sum += (w[1] - w[0]).div_ceil(2);
                sum
            }))
            .collect();
        if sum != total {
            return Err(StoreError::corrupt(format!(
                "the trees have {sum} leaves (a tree of n nodes has (n + 1) / 2); the header counts {total}"
            )));
        }
        Ok(())
    }

    /// Elements tree `t` holds in `section` of a payload laid out for
    /// `counts`, or `None` for a section that is one array for the whole
    /// forest.
    pub fn per_tree(&self, section: Section, counts: &Counts, t: usize) -> Option<u64> {
        let nodes = || self.nodes[t + 1] - self.nodes[t];
        let width = counts.leaf_width;
        Some(match section {
            Section::Threshold | Section::Feature | Section::FalseChild | Section::MissingTrue => {
                nodes()
            }
            Section::TrueChild if counts.lean => self.true_children[t + 1] - self.true_children[t],
            Section::TrueChild => nodes(),
            Section::Value if counts.lean => (self.leaves[t + 1] - self.leaves[t]) * width,
            Section::Value => nodes() * width,
            Section::CategoryNode => self.splits[t + 1] - self.splits[t],
            Section::CategoryValue => {
                let (a, b) = (self.splits[t] as usize, self.splits[t + 1] as usize);
                self.values[b] - self.values[a]
            }
            Section::TreeOffsets
            | Section::TrueChildTreeOffsets
            | Section::TreeTarget
            | Section::CategoryTreeOffsets
            | Section::CategoryOffsets => return None,
        })
    }
}

/// One array of the payload and the padding after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unit {
    pub section: Section,
    /// The tree, for a per-tree section.
    pub tree: Option<usize>,
    /// Byte offset of the array in the raw payload.
    pub start: u64,
    /// Elements.
    pub count: u64,
    /// Byte offset one past its padding: the next unit's start.
    pub end: u64,
}

/// Every array of the payload in order, tiling it from 0 to its end; an
/// error when the spans do not add up to the layout's counts.
pub(crate) fn units(layout: &Layout, spans: &Spans) -> Result<Vec<Unit>, StoreError> {
    let n_trees = layout.counts.trees as usize;
    let counts = &layout.counts;
    let mut out = Vec::new();
    for (k, placed) in layout.placed.iter().enumerate() {
        let next = layout.placed.get(k + 1).map_or(layout.len, |p| p.offset);
        let size = placed.section.dtype().size();
        let whole = Unit {
            section: placed.section,
            tree: None,
            start: placed.offset,
            count: placed.count,
            end: next,
        };
        if spans.per_tree(placed.section, counts, 0).is_none() || n_trees == 0 {
            out.push(whole);
            continue;
        }
        let mut pos = placed.offset;
        for t in 0..n_trees {
            let count = spans.per_tree(placed.section, counts, t).unwrap_or(0);
            let end = count
                .checked_mul(size)
                .and_then(|b| pos.checked_add(b))
                .filter(|&e| e <= placed.end())
                .ok_or_else(|| {
                    StoreError::corrupt(format!(
                        "tree {t}'s {} overruns its section",
                        placed.section.name()
                    ))
                })?;
            out.push(Unit {
                section: placed.section,
                tree: Some(t),
                start: pos,
                count,
                end,
            });
            pos = end;
        }
        if pos != placed.end() {
            return Err(StoreError::corrupt(format!(
                "the trees' {} arrays do not fill their section",
                placed.section.name()
            )));
        }
        out.last_mut().expect("one tree at least").end = next;
    }
    Ok(out)
}

/// Consecutive units grouped into frames of at least `target` raw bytes
/// (the last may be smaller), as ranges of unit indices.
pub(crate) fn group(units: &[Unit], target: u64) -> Vec<std::ops::Range<usize>> {
    let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
    let (mut first, mut start) = (0, 0);
    for (i, u) in units.iter().enumerate() {
        if u.end - start >= target || i + 1 == units.len() {
            match groups.last_mut() {
                // Trailing empty arrays join the last frame: no frame is empty.
                Some(last) if u.end == start => last.end = i + 1,
                _ => groups.push(first..i + 1),
            }
            first = i + 1;
            start = u.end;
        }
    }
    groups
}

/// Compresses each group of units into its own frame, in parallel;
/// `write` appends one unit's array (without padding) to a buffer.
pub(crate) fn compress<W>(
    units: &[Unit],
    level: i32,
    target: u64,
    write: W,
) -> std::io::Result<(Vec<u8>, Vec<FrameEntry>)>
where
    W: Fn(&Unit, &mut Vec<u8>) -> std::io::Result<()> + Sync,
{
    let frames: Vec<(u64, Vec<u8>)> = group(units, target)
        .into_par_iter()
        .map(|g| {
            let us = &units[g];
            let raw_len = us[us.len() - 1].end - us[0].start;
            let mut raw = Vec::with_capacity(raw_len as usize);
            for u in us {
                write(u, &mut raw)?;
                raw.resize((u.end - us[0].start) as usize, 0);
            }
            // bulk::compress records the content size in the frame.
            Ok((raw_len, zstd::bulk::compress(&raw, level)?))
        })
        .collect::<std::io::Result<_>>()?;
    let mut table = Vec::with_capacity(frames.len());
    let mut stored = Vec::with_capacity(frames.iter().map(|(_, f)| f.len()).sum());
    for (raw, frame) in frames {
        table.push(FrameEntry {
            raw,
            stored: frame.len() as u64,
        });
        stored.extend_from_slice(&frame);
    }
    Ok((stored, table))
}

/// Decodes a framed payload: the offsets sections first (they size every
/// tree's arrays), then every frame in parallel into its arrays. The result
/// hands the arrays to the reader in payload order.
pub(crate) fn decode(
    stored: &[u8],
    table: &[FrameEntry],
    layout: &Layout,
) -> Result<Decoded, StoreError> {
    let frames = place(stored, table, layout.len)?;
    let mut spans = Spans::default();
    for section in [
        Section::TreeOffsets,
        Section::TrueChildTreeOffsets,
        Section::CategoryTreeOffsets,
        Section::CategoryOffsets,
    ] {
        let Some(range) = layout.range(section) else {
            continue;
        };
        let bytes = raw_range(stored, &frames, range.start as u64, range.end as u64)?;
        let v: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let c = &layout.counts;
        match section {
            Section::TreeOffsets => spans.nodes = offsets(v, section, c.nodes)?,
            Section::TrueChildTreeOffsets => {
                spans.true_children = offsets(v, section, c.true_children)?;
            }
            Section::CategoryTreeOffsets => {
                spans.splits = offsets(v, section, c.category_splits)?;
            }
            _ => spans.values = offsets(v, section, c.category_values)?,
        }
    }
    spans.prepare(&layout.counts)?;
    let units = units(layout, &spans)?;
    // Each frame starts where a unit starts (the last ends at the payload's
    // end, which the table's total already matched).
    let mut first_unit = Vec::with_capacity(frames.len() + 1);
    for (k, f) in frames.iter().enumerate() {
        let i = units.partition_point(|u| u.start < f.raw_start);
        if units.get(i).map(|u| u.start) != Some(f.raw_start) {
            return Err(StoreError::corrupt(format!(
                "frame {k} starts at payload byte {}, inside an array",
                f.raw_start
            )));
        }
        first_unit.push(i);
    }
    first_unit.push(units.len());
    let decoded: Vec<Result<Vec<Array>, StoreError>> = frames
        .par_iter()
        .enumerate()
        .map(|(k, f)| {
            let us = &units[first_unit[k]..first_unit[k + 1]];
            decode_frame(&stored[f.stored_range()], f, us)
        })
        .collect();
    // The first bad frame in file order, whichever thread failed first.
    let arrays = decoded.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(Decoded {
        arrays: units
            .iter()
            .map(|u| u.section)
            .zip(arrays.into_iter().flatten())
            .collect::<Vec<_>>()
            .into_iter(),
    })
}

/// A frame of the table, placed in the raw and the stored payload.
struct Placed {
    raw_start: u64,
    raw: u64,
    stored_start: u64,
    stored: u64,
}

impl Placed {
    fn stored_range(&self) -> std::ops::Range<usize> {
        self.stored_start as usize..(self.stored_start + self.stored) as usize
    }
}

/// Checks that the table tiles both the raw payload (`raw_len`) and the
/// stored bytes, with no empty frame.
fn place(stored: &[u8], table: &[FrameEntry], raw_len: u64) -> Result<Vec<Placed>, StoreError> {
    let (mut raw_at, mut stored_at) = (0u64, 0u64);
    let mut out = Vec::with_capacity(table.len());
    for (k, f) in table.iter().enumerate() {
        if f.raw == 0 || f.stored == 0 {
            return Err(StoreError::corrupt(format!("frame {k} is empty")));
        }
        out.push(Placed {
            raw_start: raw_at,
            raw: f.raw,
            stored_start: stored_at,
            stored: f.stored,
        });
        raw_at = raw_at.saturating_add(f.raw);
        stored_at = stored_at.saturating_add(f.stored);
    }
    if raw_at != raw_len || stored_at != stored.len() as u64 {
        return Err(StoreError::corrupt(format!(
            "the frame table covers {raw_at} payload bytes in {stored_at} stored bytes; \
             the payload has {raw_len} in {}",
            stored.len()
        )));
    }
    Ok(out)
}

/// The raw bytes `start..end` (a small section), from the frames that
/// hold them.
fn raw_range(
    stored: &[u8],
    frames: &[Placed],
    start: u64,
    end: u64,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity((end - start) as usize);
    for f in frames {
        let (a, b) = (f.raw_start, f.raw_start + f.raw);
        if b <= start || a >= end {
            continue;
        }
        let mut r = frame_reader(&stored[f.stored_range()], f.raw)?;
        let skip = start.saturating_sub(a);
        let skipped = std::io::copy(&mut (&mut r).take(skip), &mut std::io::sink());
        let want = end.min(b) - a.max(start);
        let at = out.len();
        out.resize(at + want as usize, 0);
        if skipped.map_err(zstd_error)? != skip || r.read_exact(&mut out[at..]).is_err() {
            return Err(StoreError::corrupt(
                "a zstd frame ends before its declared size",
            ));
        }
    }
    Ok(out)
}

fn frame_reader(frame: &[u8], raw: u64) -> Result<impl Read + '_, StoreError> {
    if let Ok(Some(n)) = zstd::zstd_safe::get_frame_content_size(frame) {
        if n != raw {
            return Err(StoreError::corrupt(format!(
                "a zstd frame holds {n} bytes; the frame table says {raw}"
            )));
        }
    }
    let mut zstd = zstd::stream::read::Decoder::with_buffer(frame)
        .map_err(zstd_error)?
        .single_frame();
    zstd.window_log_max(window_log(raw)).map_err(zstd_error)?;
    Ok(zstd)
}

/// Decodes one frame into the arrays of `units`, checking the padding and
/// that the frame holds exactly them.
fn decode_frame(frame: &[u8], f: &Placed, units: &[Unit]) -> Result<Vec<Array>, StoreError> {
    let mut r = frame_reader(frame, f.raw)?;
    let mut p = Payload::at(&mut r, f.raw_start);
    let mut out = Vec::with_capacity(units.len());
    for u in units {
        let (n, s) = (u.count as usize, u.section);
        out.push(match s.dtype() {
            super::layout::Dtype::U8 => Array::U8(p.array(n, s)?),
            super::layout::Dtype::U32 => Array::U32(p.array(n, s)?),
            super::layout::Dtype::U64 => Array::U64(p.array(n, s)?),
            super::layout::Dtype::F64 => Array::F64(p.array(n, s)?),
        });
        if u.end > f.raw_start + f.raw {
            return Err(StoreError::corrupt(format!(
                "a frame ends inside section {:?}",
                s.name()
            )));
        }
        p.seek(u.end, s)?;
    }
    p.end()?;
    Ok(out)
}

/// The arrays of a framed payload, handed out in payload order.
pub(crate) struct Decoded {
    arrays: std::vec::IntoIter<(Section, Array)>,
}

impl Source for Decoded {
    fn seek(&mut self, _offset: u64, _section: Section) -> Result<(), StoreError> {
        Ok(()) // Padding was checked while decoding.
    }

    fn array<T: LeNumber>(&mut self, n: usize, section: Section) -> Result<Vec<T>, StoreError> {
        let mismatch = || StoreError::corrupt(format!("section {:?} is short", section.name()));
        let (s, a) = self.arrays.next().ok_or_else(mismatch)?;
        let v = T::from_array(a).filter(|v| s == section && v.len() == n);
        v.ok_or_else(mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode, encode, SaveOptions};
    use super::*;
    use crate::ir::{Aggregation, CategorySplits, Forest, PostTransform, Tree};

    /// Three boosted trees, two with categorical splits, one a single leaf.
    fn forest() -> Forest {
        let split = |t: u32| {
            let mut categories = CategorySplits::default();
            categories.push(0, [1, 3 + t]);
            let mut tree = Tree::default();
            tree.push_split(1, f64::NAN, (1, 2), t == 0);
            tree.push_leaf(&[1.5]);
            tree.push_leaf(&[-f64::from(t)]);
            tree.categories = categories;
            tree
        };
        let mut leaf = Tree::default();
        leaf.push_leaf(&[0.25]);
        let mut forest = crate::synth::forest(&crate::synth::SynthSpec::small());
        forest.n_features = 2;
        forest.task = crate::ir::Task::Regression { n_targets: 2 };
        forest.aggregation = Aggregation::Sum {
            base_values: vec![0.5, -0.5],
            post_transform: PostTransform::None,
            tree_targets: vec![0, 1, 0],
        };
        forest.trees = vec![split(0), leaf, split(1)];
        forest.check().unwrap();
        forest
    }

    fn framed(forest: &Forest, target: u64) -> Vec<u8> {
        let framing = Framing { min_raw: 0, target };
        let (bytes, meta) =
            encode::encode_framed(forest, &SaveOptions::default(), framing).unwrap();
        assert_eq!((meta.format.major, meta.format.minor), (4, 0));
        bytes
    }

    #[test]
    fn framed_payloads_round_trip_at_every_frame_size() {
        let forest = forest();
        let synth = crate::synth::forest(&crate::synth::SynthSpec::small());
        for f in [&forest, &synth] {
            for target in [1, 8, 100, 1000, 1 << 20] {
                let bytes = framed(f, target);
                let (back, _) = decode::decode(&bytes).unwrap();
                let difference = super::super::compare::first_difference(f, &back);
                assert_eq!(difference, None, "frames of {target} bytes");
            }
        }
    }

    #[test]
    fn frames_close_at_array_boundaries_and_are_never_empty() {
        let forest = forest();
        let counts = super::super::sections::Counts::of_forest(&forest);
        let layout = Layout::new(&counts).unwrap();
        let spans = encode::spans_of(&forest);
        let units = units(&layout, &spans).unwrap();
        assert_eq!(units[0].start, 0);
        assert_eq!(units.last().unwrap().end, layout.len);
        assert!(units.windows(2).all(|w| w[0].end == w[1].start));
        for target in [1, 8, 64, 1 << 20] {
            let groups = group(&units, target);
            assert_eq!(groups.first().unwrap().start, 0);
            assert_eq!(groups.last().unwrap().end, units.len());
            for g in &groups {
                assert!(
                    units[g.end - 1].end > units[g.start].start,
                    "{target}: empty"
                );
            }
        }
    }
}
