//! Zero-copy access to uncompressed model files.

use std::path::Path;

use memmap2::Mmap;

use super::arrays::{arrays_in_place, borrow, ForestArrays, TreeView};
use super::decode::{read_head, Head};
use super::error::StoreError;
use super::layout::COMPRESSION_NONE;
use super::metadata::{Compression, Metadata};
use super::sections::Layout;
use crate::ir::{Aggregation, Forest};

/// An uncompressed model file mapped into memory, its arrays readable in
/// place without copying.
///
/// [`MappedForest::open`] verifies the file as fully as [`super::load`]
/// does (checksums, bounds, every [`Forest::check`] invariant, one tree in
/// memory at a time), so the slices it hands out are safe to traverse.
///
/// As with any memory map, the file must not be modified or truncated while
/// it is mapped: the operating system would show the changes (or fault).
/// Files written by [`super::save`] are replaced by rename, never modified
/// in place, so saving over a mapped file is fine.
pub struct MappedForest {
    map: Mmap,
    /// Sections relative to the payload.
    layout: Layout,
    /// Offset of the payload in the file.
    offset: usize,
    shell: Forest,
    metadata: Metadata,
}

impl MappedForest {
    /// Maps and verifies the uncompressed model file at `path`.
    ///
    /// Fails with [`StoreError::NotMappable`] on a compressed file (load it
    /// with [`super::load`], or save it with level 0) or a big-endian machine.
    pub fn open(path: impl AsRef<Path>) -> Result<MappedForest, StoreError> {
        let path = path.as_ref();
        if cfg!(target_endian = "big") {
            return Err(StoreError::NotMappable(
                "zero-copy access needs a little-endian machine; use store::load".into(),
            ));
        }
        let file = std::fs::File::open(path).map_err(StoreError::io(path))?;
        // SAFETY: the map is read-only and private to this value. Undefined
        // behaviour would need another process to modify the file while it is
        // mapped, which the type's documentation rules out; our own writer
        // only ever replaces files by rename.
        let map = unsafe { Mmap::map(&file) }.map_err(StoreError::io(path))?;
        let head = read_head(&map, map.len() as u64)?;
        if head.preamble.compression != COMPRESSION_NONE {
            let level = match head.header.metadata.compression {
                Compression::Zstd { level } => level,
                Compression::None => 0,
            };
            return Err(StoreError::NotMappable(format!(
                "{} is zstd-compressed (level {level}); load it with store::load, \
                 or save it with level 0 to map it",
                path.display()
            )));
        }
        let offset = head.payload_offset();
        let layout = head.layout()?;
        let payload = &map[offset..];
        head.preamble.verify_payload(payload)?;
        check_padding(payload, &layout)?;
        let shell = head.shell();
        let Head { header, .. } = head;
        let mapped = MappedForest {
            map,
            layout,
            offset,
            shell,
            metadata: header.metadata,
        };
        // The payload offset and every section offset are multiples of 64
        // and the map is page-aligned, so in-place views always succeed on a
        // little-endian machine; report rather than assume it.
        arrays_in_place(&mapped.map, offset, &mapped.layout)?
            .ok_or_else(|| {
                StoreError::NotMappable("the sections are not aligned for in-place access".into())
            })?
            .check_each_tree(&mapped.shell)?;
        Ok(mapped)
    }

    /// The file's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.metadata.n_trees
    }

    /// The forest-wide arrays, in place.
    pub fn arrays(&self) -> ForestArrays<'_> {
        borrow(&self.map, self.offset, &self.layout)
            .expect("aligned and validated when the file was opened")
    }

    /// Tree `i` in place, or `None` past the last tree.
    pub fn tree(&self, i: usize) -> Option<TreeView<'_>> {
        self.arrays().tree(i)
    }

    /// Copies the whole forest out (already checked when opened).
    pub fn to_forest(&self) -> Forest {
        let arrays = self.arrays();
        let mut forest = Forest {
            trees: arrays.to_trees().expect("checked when the file was opened"),
            ..self.shell.clone()
        };
        if let Aggregation::Sum { tree_targets, .. } = &mut forest.aggregation {
            tree_targets.extend_from_slice(arrays.tree_target());
        }
        forest
    }
}

impl std::fmt::Debug for MappedForest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedForest")
            .field("bytes", &self.map.len())
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

/// Refuses non-zero bytes between sections (the layout check has already
/// made sure sections tile the payload).
fn check_padding(payload: &[u8], layout: &Layout) -> Result<(), StoreError> {
    let mut end = 0usize;
    for p in &layout.placed {
        if payload[end..p.offset as usize].iter().any(|&b| b != 0) {
            return Err(StoreError::corrupt(format!(
                "non-zero padding before section {:?}",
                p.section.name()
            )));
        }
        end = p.end() as usize;
    }
    Ok(())
}
