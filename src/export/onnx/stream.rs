//! Encoding a sized [`Plan`]: every segment of the output in parallel,
//! straight into one buffer ([`Plan::to_vec`]) or batch by batch to a writer
//! ([`Plan::write`]).

use std::io::Write;

use rayon::prelude::*;

use super::columns::{Column, Elem};
use super::fast;
use super::out::Out;
use super::plan::{Block, Part, Plan};

/// Target size of one batch handed to the writer: large enough to amortise
/// the hand-over, small enough that the batches in flight stay a few
/// megabytes.
const BATCH_BYTES: usize = 1 << 20;
/// Encoded batches that may wait for the writer (more measured no faster).
const BATCHES_AHEAD: usize = 1;

/// A slice of the output: ready bytes, a block's share of a column, or the
/// explicit zero weight of a forest without weights.
enum Segment<'p> {
    Bytes(&'p [u8]),
    Block(Column, &'p Block),
    Fallback(Elem),
}

impl Plan<'_> {
    /// The whole output as segments with their lengths, in file order.
    fn segments(&self) -> Vec<(Segment<'_>, usize)> {
        let mut segments = Vec::new();
        for part in &self.parts {
            match part {
                Part::Bytes(bytes) => segments.push((Segment::Bytes(bytes), bytes.len())),
                Part::Column(c) => {
                    for block in &self.blocks {
                        let len = block.lens.of(*c) as usize;
                        if len > 0 {
                            segments.push((Segment::Block(*c, block), len));
                        }
                    }
                    if let Some(e) = self.fallback(*c) {
                        segments.push((Segment::Fallback(e), e.len() as usize));
                    }
                }
            }
        }
        segments
    }

    /// The whole model in one buffer, every segment encoded in parallel.
    pub fn to_vec(&self) -> Vec<u8> {
        // Zeroed allocations come straight from the OS: no page is touched
        // twice.
        let mut out = vec![0u8; self.total() as usize];
        let segments = self.segments();
        self.fill(&segments, &mut out);
        out
    }

    /// Streams the model to `out`: batches are encoded in parallel on a
    /// helper thread while this thread writes the previous batch.
    pub fn write<W: Write + ?Sized>(&self, out: &mut W) -> std::io::Result<()> {
        let segments = self.segments();
        let mut batches = Vec::new();
        let (mut first, mut bytes) = (0, 0);
        for (i, (_, len)) in segments.iter().enumerate() {
            bytes += len;
            if bytes >= BATCH_BYTES || i + 1 == segments.len() {
                batches.push((first..i + 1, bytes));
                (first, bytes) = (i + 1, 0);
            }
        }
        let segments = &segments;
        std::thread::scope(|scope| {
            // A batch in the channel and one being encoded while one is
            // written: memory stays at a few megabytes whatever the model's
            // size.
            let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(BATCHES_AHEAD);
            let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
            scope.spawn(move || {
                for (range, len) in batches {
                    let mut buf = free_rx.try_recv().unwrap_or_default();
                    // Every byte is overwritten: only grow, never clear.
                    buf.truncate(len);
                    buf.resize(len, 0);
                    self.fill(&segments[range], &mut buf);
                    if full_tx.send(buf).is_err() {
                        return; // the writer failed and stopped
                    }
                }
            });
            let mut written = 0u64;
            for buf in full_rx {
                out.write_all(&buf)?;
                written += buf.len() as u64;
                // The encoder may be done already: then the buffer is dropped.
                let _ = free_tx.send(buf);
            }
            out.flush()?;
            assert_eq!(written, self.total(), "forest2onnx bug: ONNX size mismatch");
            Ok(())
        })
    }

    /// Encodes `segments` into `out`, whose length is the sum of theirs.
    fn fill(&self, segments: &[(Segment<'_>, usize)], mut out: &mut [u8]) {
        let mut jobs = Vec::with_capacity(segments.len());
        for (segment, len) in segments {
            let (this, rest) = std::mem::take(&mut out).split_at_mut(*len);
            jobs.push((segment, this));
            out = rest;
        }
        assert!(out.is_empty(), "forest2onnx bug: ONNX size mismatch");
        if self.sequential {
            jobs.into_iter()
                .for_each(|(segment, out)| self.encode(segment, out));
        } else {
            jobs.into_par_iter()
                .with_min_len(4)
                .for_each(|(segment, out)| self.encode(segment, out));
        }
    }

    /// Encodes one segment into `out`, exactly its length.
    fn encode(&self, segment: &Segment<'_>, out: &mut [u8]) {
        let mut w = Out { buf: out, pos: 0 };
        match segment {
            Segment::Bytes(bytes) => w.bytes(bytes),
            Segment::Block(column, block) => {
                if !fast::encode(self, *column, block, &mut w) {
                    self.elems(*column, block, &mut |e: Elem| e.write(&mut w));
                }
            }
            Segment::Fallback(e) => e.write(&mut w),
        }
        // A mismatch would shift every later byte and corrupt the file.
        assert_eq!(w.pos, w.buf.len(), "forest2onnx bug: ONNX size mismatch");
    }
}
