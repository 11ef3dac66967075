//! Writing a model file into memory.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::StoreError;
use super::layout::{
    seal, writer_version, Header, Preamble, COMPRESSION_NONE, COMPRESSION_ZSTD, FORMAT_MAJOR,
    FORMAT_MINOR, MAX_COMPRESSION_RATIO, MAX_HEADER_LEN, MAX_PAYLOAD_LEN, PREAMBLE_LEN,
};
use super::metadata::{Compression, FormatVersion, Metadata, SaveOptions};
use super::sections;
use crate::ir::Forest;

/// Encodes `forest` as a complete model file; also returns its metadata.
pub(crate) fn encode(
    forest: &Forest,
    opts: &SaveOptions,
) -> Result<(Vec<u8>, Metadata), StoreError> {
    forest.check()?;
    check_options(opts)?;
    // Sections for these are not in the format yet: refuse rather than drop them.
    if forest.has_categorical_splits() {
        return Err(StoreError::InvalidOptions(
            "categorical splits cannot be stored in a .forest file yet".into(),
        ));
    }
    if matches!(&forest.aggregation, crate::ir::Aggregation::Sum { tree_targets, .. } if !tree_targets.is_empty())
    {
        return Err(StoreError::InvalidOptions(
            "per-tree score targets cannot be stored in a .forest file yet".into(),
        ));
    }
    let table = sections::table(forest)?;
    let raw_len = sections::payload_len(&table);
    if raw_len > MAX_PAYLOAD_LEN {
        return Err(StoreError::TooLarge {
            what: "the payload".into(),
            size: raw_len,
            limit: MAX_PAYLOAD_LEN,
        });
    }
    let mut raw = Vec::with_capacity(raw_len as usize);
    sections::write(forest, &table, &mut raw);

    let (stored, compression) = compress(raw, opts.level)?;
    let metadata = metadata(forest, opts, compression);
    let header = serde_json::to_vec(&Header {
        metadata: metadata.clone(),
        sections: table,
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
        format: FormatVersion {
            major: FORMAT_MAJOR,
            minor: FORMAT_MINOR,
        },
        writer: writer_version(),
        compression: match compression {
            Compression::None => COMPRESSION_NONE,
            Compression::Zstd { .. } => COMPRESSION_ZSTD,
        },
        header_len: header.len() as u64,
        payload_len: stored.len() as u64,
        raw_len,
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
            "training parameters must be a JSON object, not {other}"
        ))),
    }
}

/// Compresses the payload at `level` (0: not at all). A payload that would
/// shrink more than the reader's ratio limit is stored uncompressed, so
/// every file we write can be read back.
fn compress(raw: Vec<u8>, level: i32) -> Result<(Vec<u8>, Compression), StoreError> {
    if level == 0 {
        return Ok((raw, Compression::None));
    }
    let packed = zstd::bulk::compress(&raw, level)
        .map_err(|e| StoreError::InvalidOptions(format!("zstd level {level}: {e}")))?;
    if raw.len() as u64 > (packed.len() as u64).saturating_mul(MAX_COMPRESSION_RATIO) {
        return Ok((raw, Compression::None));
    }
    Ok((packed, Compression::Zstd { level }))
}

fn metadata(forest: &Forest, opts: &SaveOptions, compression: Compression) -> Metadata {
    Metadata {
        format: FormatVersion {
            major: FORMAT_MAJOR,
            minor: FORMAT_MINOR,
        },
        forest2onnx_version: env!("CARGO_PKG_VERSION").into(),
        created: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        source: forest.source.clone(),
        n_features: forest.n_features,
        feature_names: forest.feature_names.clone(),
        input: forest.input.clone(),
        split_op: forest.split_op,
        task: forest.task.clone(),
        aggregation: forest.aggregation.clone(),
        n_trees: forest.trees.len(),
        n_nodes: forest.n_nodes(),
        compression,
        training_params: opts.training_params.clone(),
        data_fingerprint: opts.data_fingerprint.clone(),
        tags: opts.tags.clone(),
    }
}
