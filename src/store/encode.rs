//! Writing a model file into memory.

use std::io::Write;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::StoreError;
use super::layout::{
    seal, writer_version, Header, Preamble, COMPRESSION_NONE, COMPRESSION_ZSTD, FORMAT_1_MINOR,
    FORMAT_MAJOR, FORMAT_MINOR, MAX_COMPRESSION_RATIO, MAX_HEADER_LEN, MAX_PAYLOAD_LEN,
    PREAMBLE_LEN,
};
use super::metadata::{Compression, FormatVersion, Metadata, SaveOptions};
use super::sections::{put, Counts, Layout, Section};
use crate::ir::{Aggregation, Forest, InputRules};

/// Encodes `forest` as a complete model file; also returns its metadata.
pub(crate) fn encode(
    forest: &Forest,
    opts: &SaveOptions,
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
    let (stored, compression) = payload(forest, &layout, opts.level)?;
    let metadata = metadata(forest, opts, compression, &counts);
    let header = serde_json::to_vec(&Header {
        metadata: metadata.clone(),
        sections: layout.table(),
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

/// The oldest format whose readers read `forest` correctly: format 1
/// readers ignore what they do not know, so anything that changes how a
/// forest predicts and that they would ignore needs format 2, which they
/// refuse.
fn format_of(forest: &Forest, counts: &Counts) -> FormatVersion {
    let default_input = forest.input == InputRules::default();
    if counts.needs_format_2() || !default_input {
        FormatVersion {
            major: FORMAT_MAJOR,
            minor: FORMAT_MINOR,
        }
    } else {
        FormatVersion {
            major: 1,
            minor: FORMAT_1_MINOR,
        }
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
            super::error::brief(&other.to_string())
        ))),
    }
}

/// The stored payload at `level` (0: not compressed). A payload that
/// would shrink more than the reader's ratio limit is stored uncompressed,
/// so every file we write can be read back.
fn payload(
    forest: &Forest,
    layout: &Layout,
    level: i32,
) -> Result<(Vec<u8>, Compression), StoreError> {
    let raw = || -> Result<Vec<u8>, StoreError> {
        let mut raw = Vec::with_capacity(layout.len as usize);
        write_sections(forest, layout, &mut raw).map_err(write_error)?;
        Ok(raw)
    };
    if level == 0 {
        return Ok((raw()?, Compression::None));
    }
    // Compressed as written: the raw payload is never held in memory.
    let zstd_error =
        |e: std::io::Error| StoreError::InvalidOptions(format!("zstd level {level}: {e}"));
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), level).map_err(zstd_error)?;
    encoder
        .set_pledged_src_size(Some(layout.len))
        .map_err(zstd_error)?;
    encoder.include_contentsize(true).map_err(zstd_error)?;
    write_sections(forest, layout, &mut encoder).map_err(write_error)?;
    let packed = encoder.finish().map_err(zstd_error)?;
    if layout.len > (packed.len() as u64).saturating_mul(MAX_COMPRESSION_RATIO) {
        return Ok((raw()?, Compression::None));
    }
    Ok((packed, Compression::Zstd { level }))
}

fn write_error(e: std::io::Error) -> StoreError {
    StoreError::InvalidOptions(format!("cannot write the payload: {e}"))
}

/// Writes every section of `layout`, with the zero padding between them.
fn write_sections(forest: &Forest, layout: &Layout, out: &mut impl Write) -> std::io::Result<()> {
    let mut pos = 0u64;
    let trees = &forest.trees;
    for placed in &layout.placed {
        out.write_all(&[0u8; 64][..(placed.offset - pos) as usize])?;
        match placed.section {
            Section::TreeOffsets => {
                offsets(out, trees.iter().map(|t| t.n_nodes() as u64))?;
            }
            Section::Threshold => trees.iter().try_for_each(|t| put(out, &t.threshold))?,
            Section::Value => trees.iter().try_for_each(|t| put(out, &t.value))?,
            Section::Feature => trees.iter().try_for_each(|t| put(out, &t.feature))?,
            Section::TrueChild => trees.iter().try_for_each(|t| put(out, &t.true_child))?,
            Section::FalseChild => trees.iter().try_for_each(|t| put(out, &t.false_child))?,
            Section::MissingTrue => trees.iter().try_for_each(|t| {
                let bytes: Vec<u8> = t.missing_true.iter().map(|&b| u8::from(b)).collect();
                out.write_all(&bytes)
            })?,
            Section::TreeTarget => {
                if let Aggregation::Sum { tree_targets, .. } = &forest.aggregation {
                    put(out, tree_targets)?;
                }
            }
            Section::CategoryTreeOffsets => {
                offsets(out, trees.iter().map(|t| t.categories.nodes.len() as u64))?;
            }
            Section::CategoryNode => trees
                .iter()
                .try_for_each(|t| put(out, &t.categories.nodes))?,
            Section::CategoryOffsets => {
                // Forest-wide: each tree's local offsets shifted by the
                // categories of the trees before it.
                let mut base = 0u64;
                put(out, &[0u64])?;
                for t in trees {
                    let c = &t.categories;
                    let shifted: Vec<u64> = c
                        .offsets
                        .iter()
                        .skip(1)
                        .map(|&o| base + u64::from(o))
                        .collect();
                    put(out, &shifted)?;
                    base += c.categories.len() as u64;
                }
            }
            Section::CategoryValue => trees
                .iter()
                .try_for_each(|t| put(out, &t.categories.categories))?,
        }
        pos = placed.end();
    }
    Ok(())
}

/// Writes `0` then the running sum of `sizes`.
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
        format: format_of(forest, counts),
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
        compression,
        training_params: opts.training_params.clone(),
        data_fingerprint: opts.data_fingerprint.clone(),
        tags: opts.tags.clone(),
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
