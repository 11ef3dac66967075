//! Writing a model file into memory.

use std::io::Write;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::StoreError;
use super::frames::{self, Framing, Spans, Unit};
use super::layout::{
    seal, writer_version, FrameEntry, Header, Preamble, COMPRESSION_NONE, COMPRESSION_ZSTD,
    FORMAT_MAJOR, FORMAT_MINOR, MAX_COMPRESSION_RATIO, MAX_HEADER_LEN, MAX_PAYLOAD_LEN,
    PREAMBLE_LEN,
};
use super::metadata::{Compression, FormatVersion, Metadata, SaveOptions};
use super::sections::{put, Counts, Layout, Section};
use crate::ir::{Aggregation, Forest, Tree, LEAF, LEAF_BIT};

/// Encodes `forest` as a complete model file; also returns its metadata.
pub(crate) fn encode(
    forest: &Forest,
    opts: &SaveOptions,
) -> Result<(Vec<u8>, Metadata), StoreError> {
    encode_framed(forest, opts, Framing::default())
}

/// [`encode`], framing the payload as `framing` says.
pub(crate) fn encode_framed(
    forest: &Forest,
    opts: &SaveOptions,
    framing: Framing,
) -> Result<(Vec<u8>, Metadata), StoreError> {
    forest.check()?;
    check_options(opts)?;
    let counts = Counts::of_forest(forest);
    let layout = Layout::new(&counts)?;
    if layout.len > MAX_PAYLOAD_LEN {
        return Err(StoreError::TooLarge {
            what: "the payload".into(),
            size: layout.len,
            limit: MAX_PAYLOAD_LEN,
        });
    }
    let units = frames::units(&layout, &spans_of(forest))?;
    let (stored, compression, frames) = payload(forest, &layout, &units, opts.level, framing)?;
    let metadata = metadata(forest, opts, compression, &counts);
    let header = serde_json::to_vec(&Header {
        metadata: metadata.clone(),
        sections: layout.table(),
        frames,
    })
    .map_err(|e| StoreError::InvalidOptions(format!("cannot encode the header: {e}")))?;
    if header.len() as u64 > MAX_HEADER_LEN {
        return Err(StoreError::TooLarge {
            what: "the header (names, labels, parameters, tags)".into(),
            size: header.len() as u64,
            limit: MAX_HEADER_LEN,
        });
    }

    let preamble = Preamble {
        format: metadata.format,
        writer: writer_version(),
        compression: match compression {
            Compression::None => COMPRESSION_NONE,
            Compression::Zstd { .. } => COMPRESSION_ZSTD,
        },
        header_len: header.len() as u64,
        payload_len: stored.len() as u64,
        raw_len: layout.len,
        payload_hash: 0,
        header_hash: 0,
    };
    let offset = preamble.payload_offset() as usize;
    let mut file = Vec::with_capacity(offset + stored.len());
    file.resize(PREAMBLE_LEN, 0);
    file.extend_from_slice(&header);
    file.resize(offset, 0);
    file.extend_from_slice(&stored);
    seal(&mut file, preamble);
    Ok((file, metadata))
}

/// The format `forest` is written in: 4.0, the first that stores values
/// for leaves only (readers of formats 1 to 3 refuse it rather than misread
/// it). Framed or not, it is the same version.
fn format_of() -> FormatVersion {
    FormatVersion {
        major: FORMAT_MAJOR,
        minor: FORMAT_MINOR,
    }
}

fn check_options(opts: &SaveOptions) -> Result<(), StoreError> {
    let levels = zstd::compression_level_range();
    if opts.level != 0 && !levels.contains(&opts.level) {
        return Err(StoreError::InvalidOptions(format!(
            "compression level {} is outside 0 (none) and zstd's {}..={}",
            opts.level,
            levels.start(),
            levels.end()
        )));
    }
    match &opts.training_params {
        None | Some(serde_json::Value::Object(_)) => Ok(()),
        Some(other) => Err(StoreError::InvalidOptions(format!(
            "training parameters must be a JSON object, not {}",
            crate::text::quoted(&other.to_string())
        ))),
    }
}

/// The stored payload at `level` (0: not compressed). A payload that
/// would shrink more than the reader's ratio limit is stored uncompressed,
/// so every file we write can be read back.
/// The stored payload, its compression and, when framed, its frame table.
fn payload(
    forest: &Forest,
    layout: &Layout,
    units: &[Unit],
    level: i32,
    framing: Framing,
) -> Result<(Vec<u8>, Compression, Vec<FrameEntry>), StoreError> {
    let raw = || -> Result<Vec<u8>, StoreError> {
        let mut raw = Vec::with_capacity(layout.len as usize);
        write_sections(forest, units, &mut raw).map_err(write_error)?;
        Ok(raw)
    };
    if level == 0 {
        return Ok((raw()?, Compression::None, Vec::new()));
    }
    let zstd_error =
        |e: std::io::Error| StoreError::InvalidOptions(format!("zstd level {level}: {e}"));
    let (packed, frames) = if layout.len >= framing.min_raw {
        frames::compress(units, level, framing.target, |u, out| {
            write_unit(forest, u, out)
        })
        .map_err(zstd_error)?
    } else {
        // One frame, compressed as written: the raw payload is never held
        // in memory.
        let mut encoder =
            zstd::stream::write::Encoder::new(Vec::new(), level).map_err(zstd_error)?;
        encoder
            .set_pledged_src_size(Some(layout.len))
            .map_err(zstd_error)?;
        encoder.include_contentsize(true).map_err(zstd_error)?;
        write_sections(forest, units, &mut encoder).map_err(write_error)?;
        (encoder.finish().map_err(zstd_error)?, Vec::new())
    };
    if layout.len > (packed.len() as u64).saturating_mul(MAX_COMPRESSION_RATIO) {
        return Ok((raw()?, Compression::None, Vec::new()));
    }
    Ok((packed, Compression::Zstd { level }, frames))
}

fn write_error(e: std::io::Error) -> StoreError {
    StoreError::InvalidOptions(format!("cannot write the payload: {e}"))
}

/// Writes every section of `layout`, with the zero padding between them.
fn write_sections(forest: &Forest, units: &[Unit], out: &mut impl Write) -> std::io::Result<()> {
    let mut pos = 0u64;
    for u in units {
        write_unit(forest, u, out)?;
        pos += u.count * u.section.dtype().size();
        out.write_all(&[0u8; 64][..(u.end - pos) as usize])?;
        pos = u.end;
    }
    Ok(())
}

/// Writes one array of the payload (no padding).
fn write_unit(forest: &Forest, u: &Unit, out: &mut impl Write) -> std::io::Result<()> {
    let trees = &forest.trees;
    // A per-tree unit names its tree; a forest has at least one.
    let Some(t) = u.tree.map(|t| &trees[t]).or(trees.first()) else {
        return Ok(());
    };
    match u.section {
        Section::TreeOffsets => offsets(out, trees.iter().map(|t| t.n_nodes() as u64)),
        Section::Threshold => put(out, &t.threshold),
        Section::Value => put(out, &t.leaf_value),
        Section::Feature => put(out, &t.feature),
        Section::TrueChildTreeOffsets => offsets(
            out,
            trees.iter().map(|t| t.explicit_true_child.len() as u64),
        ),
        Section::TrueChild => put(out, &t.explicit_true_child),
        // Leaves are stored as `LEAF`, which compresses better than their
        // leaf indices; the reader numbers them again.
        Section::FalseChild => put(out, &stored_false_children(t)),
        Section::MissingTrue => {
            let bytes: Vec<u8> = t.missing_true.iter().map(|&b| u8::from(b)).collect();
            out.write_all(&bytes)
        }
        Section::TreeTarget => match &forest.aggregation {
            Aggregation::Sum { tree_targets, .. } => put(out, tree_targets),
            _ => Ok(()),
        },
        Section::CategoryTreeOffsets => {
            offsets(out, trees.iter().map(|t| t.categories.nodes.len() as u64))
        }
        Section::CategoryNode => put(out, &t.categories.nodes),
        Section::CategoryOffsets => put(out, &spans_of(forest).values),
        Section::CategoryValue => put(out, &t.categories.categories),
    }
}

/// The `false_child` array of `t` as format 4 stores it: [`LEAF`] for leaves.
fn stored_false_children(t: &Tree) -> Vec<u32> {
    t.false_child_or_leaf
        .iter()
        .map(|&c| if c & LEAF_BIT != 0 { LEAF } else { c })
        .collect()
}

/// Where each tree's arrays start in the forest-wide sections.
pub(super) fn spans_of(forest: &Forest) -> Spans {
    let mut spans = Spans {
        nodes: vec![0],
        leaves: vec![0],
        true_children: vec![0],
        splits: vec![0],
        values: vec![0],
    };
    for t in &forest.trees {
        let c = &t.categories;
        let push = |v: &mut Vec<u64>, n: usize| v.push(v.last().unwrap() + n as u64);
        push(&mut spans.nodes, t.n_nodes());
        push(&mut spans.leaves, t.n_leaves());
        push(&mut spans.true_children, t.explicit_true_child.len());
        push(&mut spans.splits, c.nodes.len());
        // Each tree's local category offsets, shifted by the categories of
        // the trees before it.
        let base = *spans.values.last().unwrap();
        spans
            .values
            .extend(c.offsets.iter().skip(1).map(|&o| base + u64::from(o)));
    }
    spans
}

fn offsets(out: &mut impl Write, sizes: impl Iterator<Item = u64>) -> std::io::Result<()> {
    let mut sum = 0u64;
    put(out, &[0u64])?;
    for n in sizes {
        sum += n;
        put(out, &[sum])?;
    }
    Ok(())
}

fn metadata(
    forest: &Forest,
    opts: &SaveOptions,
    compression: Compression,
    counts: &Counts,
) -> Metadata {
    let mut aggregation = forest.aggregation.clone();
    if let Aggregation::Sum { tree_targets, .. } = &mut aggregation {
        // Stored in the `tree_target` section.
        tree_targets.clear();
    }
    Metadata {
        format: format_of(),
        forest2onnx_version: env!("CARGO_PKG_VERSION").into(),
        created: created(),
        source: forest.source.clone(),
        n_features: forest.n_features,
        feature_names: forest.feature_names.clone(),
        input: forest.input.clone(),
        split_op: forest.split_op,
        task: forest.task.clone(),
        aggregation,
        n_trees: forest.trees.len(),
        n_nodes: forest.n_nodes(),
        per_tree_targets: counts.tree_targets,
        n_category_splits: counts.category_splits as usize,
        n_category_values: counts.category_values as usize,
        n_leaves: counts.leaves as usize,
        n_true_children: counts.true_children as usize,
        compression,
        training_params: opts.training_params.clone(),
        data_fingerprint: opts.data_fingerprint.clone(),
        tags: opts.tags.clone(),
        environment: opts.environment.clone(),
    }
}

/// The creation time recorded in the header: now, or `SOURCE_DATE_EPOCH`
/// (seconds since 1970, UTC) when set, so that builds that save a model
/// are reproducible byte for byte.
pub fn created() -> String {
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
    epoch
        .unwrap_or_else(OffsetDateTime::now_utc)
        .format(&Rfc3339)
        .unwrap_or_default()
}
