//! One entry point for reading any model file: [`load`] recognises the
//! format from the content (never the file name) and returns the [`Forest`].
//!
//! ```no_run
//! let loaded = forest2onnx::load("model.joblib")?;
//! println!("{}: {} trees", loaded.format, loaded.forest.trees.len());
//! # Ok::<(), forest2onnx::LoadError>(())
//! ```
//!
//! # Adding a format
//!
//! An importer (`import::NAME`) provides `fn sniff(&[u8]) -> bool` (cheap,
//! specific: it sees every file that earlier formats did not claim) and
//! `fn from_bytes(&[u8]) -> Result<Forest, E>` returning a *checked* forest.
//! Registering it here takes one line in each of three places:
//!
//! 1. a [`Format`] variant;
//! 2. an `importer!(module, "cargo-feature", sniff_fn, read_fn);` line (it
//!    compiles to a stub that says which feature is missing when the
//!    feature is off);
//! 3. a row in [`FORMATS`], whose order is the detection order: formats with
//!    magic bytes first, then specific JSON/text sniffers, then smartcore's
//!    generic JSON object, then ONNX (protobuf has no magic).

use crate::wire::{Fields, Value};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ir::Forest;
use crate::store::{self, Metadata};

/// The error an importer returns, boxed so that formats can be added
/// without changing [`LoadError`]; downcast it to the importer's own type
/// (e.g. [`crate::store::StoreError`]) when you need the details.
pub type ImportError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The model formats forest2onnx recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Format {
    /// forest2onnx's native `.forest` file ([`crate::store`]).
    Native,
    /// An ONNX model: recognised, but not a source model (it cannot be
    /// turned back into a [`Forest`]).
    Onnx,
    /// A smartcore `RandomForestClassifier` / `DecisionTreeClassifier`
    /// saved with serde_json.
    SmartcoreJson,
    /// A scikit-learn estimator saved with pickle or joblib (read as data,
    /// never unpickled).
    Sklearn,
    /// An XGBoost model saved as JSON or UBJSON ([`crate::import::xgboost`]).
    Xgboost,
    /// A LightGBM text model ([`crate::import::lightgbm`]).
    Lightgbm,
    /// A Spark ML model folder ([`crate::import::spark`]), read as the
    /// packed bytes of its files.
    SparkMl,
    /// A CatBoost model saved as `.cbm` or JSON ([`crate::import::catboost`]).
    Catboost,
}

impl Format {
    /// What to call the format in messages, e.g. `scikit-learn pickle`.
    pub fn describe(self) -> &'static str {
        spec(self).describe
    }

    /// The file extension the format is usually saved with.
    pub fn extension(self) -> &'static str {
        spec(self).extension
    }

    /// The Cargo feature needed to read the format, if any.
    pub fn feature(self) -> Option<&'static str> {
        match spec(self).reader {
            Reader::Import { feature, .. } | Reader::Disabled { feature } => Some(feature),
            Reader::Native | Reader::Onnx => None,
        }
    }

    /// Whether this build can load a forest from the format.
    pub fn is_source(self) -> bool {
        matches!(spec(self).reader, Reader::Native | Reader::Import { .. })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A forest read from a model file.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The forest, checked ([`Forest::check`]).
    pub forest: Forest,
    /// The format the file was recognised as.
    pub format: Format,
    /// The native file's metadata (creation time, training parameters,
    /// data fingerprint, tags); `None` for other formats, whose provenance
    /// is only [`Forest::source`].
    pub provenance: Option<Metadata>,
}

/// Why a model file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The path is a folder.
    #[error("`{}` is a folder but not a saved Spark ML model; give a model file", .0.display())]
    Folder(PathBuf),
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// No format recognises the content.
    #[error(
        "not a model file: it is not {}{}",
        known_formats(),
        missing_features()
    )]
    Unrecognised,
    /// An ONNX model was given where a source model is needed.
    #[error(
        "this is an ONNX model; this needs the source model ({}): \
         an ONNX graph cannot be turned back into a forest",
        source_formats()
    )]
    OnnxNotSource,
    /// The format is recognised but its importer was not compiled in.
    #[error("this is a {format}, but this build of forest2onnx was compiled without the `{feature}` feature")]
    FeatureDisabled {
        /// The format found.
        format: Format,
        /// The Cargo feature that reads it.
        feature: &'static str,
    },
    /// The format's importer refused the content.
    #[error("cannot read the {format}: {source}")]
    Import {
        /// The format found.
        format: Format,
        /// The importer's own error.
        #[source]
        source: ImportError,
    },
}

/// The model file at `path`: its bytes and recognised format, before any
/// forest is read from it.
#[derive(Clone, Debug)]
pub struct ModelFile {
    /// The whole file.
    pub bytes: Vec<u8>,
    /// The format recognised.
    pub format: Format,
}

impl ModelFile {
    /// Reads the file at `path` and recognises its format.
    pub fn read(path: impl AsRef<Path>) -> Result<ModelFile, LoadError> {
        let path = path.as_ref();
        if path.is_dir() {
            return read_folder(path);
        }
        let bytes = crate::bounded_read::read(path, crate::bounded_read::MAX_MODEL_FILE_LEN)
            .map_err(|source| LoadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let format = detect(&bytes)?;
        Ok(ModelFile { bytes, format })
    }

    /// Reads the forest from the file (see [`load_bytes`]).
    pub fn load(&self) -> Result<Loaded, LoadError> {
        read_as(self.format, &self.bytes)
    }
}

/// A model saved as a folder: its importer packs the folder's files into
/// one byte string that the format's sniffer recognises.
fn read_folder(path: &Path) -> Result<ModelFile, LoadError> {
    #[cfg(feature = "spark")]
    if crate::import::spark::is_model_folder(path) {
        let bytes = crate::import::spark::folder::pack(path).map_err(|e| LoadError::Import {
            format: Format::SparkMl,
            source: Box::new(e),
        })?;
        return Ok(ModelFile {
            bytes,
            format: Format::SparkMl,
        });
    }
    #[cfg(not(feature = "spark"))]
    if path.join("metadata").is_dir() {
        return Err(LoadError::FeatureDisabled {
            format: Format::SparkMl,
            feature: "spark",
        });
    }
    Err(LoadError::Folder(path.to_path_buf()))
}

/// Reads the model file at `path`, whatever its format.
///
/// ONNX files are recognised but refused with [`LoadError::OnnxNotSource`]:
/// converting, validating or re-saving needs the source model.
pub fn load(path: impl AsRef<Path>) -> Result<Loaded, LoadError> {
    ModelFile::read(path)?.load()
}

/// [`load`] for a file already in memory.
pub fn load_bytes(bytes: &[u8]) -> Result<Loaded, LoadError> {
    read_as(detect(bytes)?, bytes)
}

/// The format of the model file whose content is `bytes`.
pub fn detect(bytes: &[u8]) -> Result<Format, LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty);
    }
    FORMATS
        .iter()
        .find(|s| (s.sniff)(bytes))
        .map(|s| s.format)
        .ok_or(LoadError::Unrecognised)
}

fn read_as(format: Format, bytes: &[u8]) -> Result<Loaded, LoadError> {
    let (forest, provenance) = match spec(format).reader {
        Reader::Native => {
            let (forest, metadata) =
                store::from_bytes_with_metadata(bytes).map_err(|e| LoadError::Import {
                    format,
                    source: Box::new(e),
                })?;
            (forest, Some(metadata))
        }
        Reader::Import { read, .. } => {
            let forest = read(bytes).map_err(|source| LoadError::Import { format, source })?;
            (forest, None)
        }
        Reader::Onnx => return Err(LoadError::OnnxNotSource),
        Reader::Disabled { feature } => return Err(LoadError::FeatureDisabled { format, feature }),
    };
    // Importers return checked forests; a new one that forgets is caught by
    // every test run rather than paid for (35 ms on 7 M nodes) in release.
    debug_assert!(
        forest.check().is_ok(),
        "{format} importer returned an unchecked forest"
    );
    Ok(Loaded {
        forest,
        format,
        provenance,
    })
}

/// How a format is read.
#[derive(Clone, Copy)]
enum Reader {
    /// [`store::from_bytes_with_metadata`].
    Native,
    /// Recognised only to be refused as a source.
    Onnx,
    /// An importer compiled in.
    // Constructed only in builds with at least one importer.
    #[allow(dead_code)]
    Import {
        /// Its Cargo feature.
        feature: &'static str,
        /// Reads a checked forest.
        read: fn(&[u8]) -> Result<Forest, ImportError>,
    },
    /// An importer whose feature is off.
    // Constructed only in builds that leave an importer out.
    #[allow(dead_code)]
    Disabled {
        /// The missing Cargo feature.
        feature: &'static str,
    },
}

/// One recognised format.
struct Spec {
    format: Format,
    describe: &'static str,
    extension: &'static str,
    sniff: fn(&[u8]) -> bool,
    reader: Reader,
}

/// Declares `mod $module` with `sniff` and `READER` for an importer behind
/// a Cargo feature: the real ones when the feature is on, else a sniffer
/// that claims nothing and a reader that names the missing feature.
macro_rules! importer {
    ($module:ident, $feature:literal, $sniff:path, $read:path) => {
        #[cfg(feature = $feature)]
        mod $module {
            pub(super) fn sniff(bytes: &[u8]) -> bool {
                $sniff(bytes)
            }
            pub(super) const READER: super::Reader = super::Reader::Import {
                feature: $feature,
                read: |bytes| Ok($read(bytes)?),
            };
        }
        #[cfg(not(feature = $feature))]
        mod $module {
            pub(super) fn sniff(_: &[u8]) -> bool {
                false
            }
            pub(super) const READER: super::Reader = super::Reader::Disabled { feature: $feature };
        }
    };
}

importer!(
    sklearn,
    "sklearn",
    crate::import::sklearn::looks_like_pickle,
    crate::import::sklearn::from_bytes
);
importer!(
    xgboost,
    "xgboost",
    crate::import::xgboost::sniff,
    crate::import::xgboost::from_bytes
);
importer!(
    lightgbm,
    "lightgbm",
    crate::import::lightgbm::sniff,
    crate::import::lightgbm::from_bytes
);
importer!(
    spark,
    "spark",
    crate::import::spark::sniff,
    crate::import::spark::from_bytes
);
importer!(
    catboost,
    "catboost",
    crate::import::catboost::sniff,
    crate::import::catboost::from_bytes
);
importer!(
    smartcore,
    "smartcore",
    super::looks_like_json_object,
    super::smartcore_from_json
);

/// Every format, in detection order (see the module documentation).
const FORMATS: &[Spec] = &[
    Spec {
        format: Format::Native,
        describe: "forest2onnx model",
        extension: "forest",
        sniff: |b| b.starts_with(&store::MAGIC),
        reader: Reader::Native,
    },
    Spec {
        format: Format::Sklearn,
        describe: "scikit-learn pickle",
        extension: "joblib",
        sniff: sklearn::sniff,
        reader: sklearn::READER,
    },
    Spec {
        format: Format::Xgboost,
        describe: "saved XGBoost model",
        extension: "json",
        sniff: xgboost::sniff,
        reader: xgboost::READER,
    },
    Spec {
        format: Format::Lightgbm,
        describe: "LightGBM text model",
        extension: "txt",
        sniff: lightgbm::sniff,
        reader: lightgbm::READER,
    },
    Spec {
        format: Format::SparkMl,
        describe: "Spark ML model folder",
        extension: "(folder)",
        sniff: spark::sniff,
        reader: spark::READER,
    },
    Spec {
        format: Format::Catboost,
        describe: "CatBoost model",
        extension: "cbm",
        sniff: catboost::sniff,
        reader: catboost::READER,
    },
    Spec {
        format: Format::SmartcoreJson,
        describe: "smartcore JSON model",
        extension: "json",
        sniff: smartcore::sniff,
        reader: smartcore::READER,
    },
    Spec {
        format: Format::Onnx,
        describe: "ONNX model",
        extension: "onnx",
        sniff: looks_like_onnx,
        reader: Reader::Onnx,
    },
];

fn spec(format: Format) -> &'static Spec {
    FORMATS
        .iter()
        .find(|s| s.format == format)
        .expect("every format has a row in FORMATS")
}

/// "a forest2onnx model, …, or an ONNX model" (the formats compiled in).
fn known_formats() -> String {
    let names: Vec<String> = FORMATS
        .iter()
        .filter(|s| !matches!(s.reader, Reader::Disabled { .. }))
        .map(|s| format!("a {}", s.describe))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{}, or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The source formats compiled in, e.g. "a .forest file, a smartcore JSON model, …".
fn source_formats() -> String {
    FORMATS
        .iter()
        .filter(|s| matches!(s.reader, Reader::Native | Reader::Import { .. }))
        .map(|s| format!("a {} (.{})", s.describe, s.extension))
        .collect::<Vec<_>>()
        .join(", ")
}

/// " (this build cannot read: …)" when importers were left out.
fn missing_features() -> String {
    let missing: Vec<String> = FORMATS
        .iter()
        .filter_map(|s| match s.reader {
            Reader::Disabled { feature } => Some(format!("{} (feature `{feature}`)", s.describe)),
            _ => None,
        })
        .collect();
    if missing.is_empty() {
        String::new()
    } else {
        format!(" (this build was compiled without: {})", missing.join(", "))
    }
}

/// A JSON object with at least one key (or none): `{` then `"` or `}`.
/// UBJSON objects also start with `{`, but continue with a type marker.
#[cfg_attr(not(feature = "smartcore"), allow(dead_code))]
fn looks_like_json_object(bytes: &[u8]) -> bool {
    let mut it = bytes.iter().filter(|b| !b.is_ascii_whitespace());
    it.next() == Some(&b'{') && matches!(it.next(), Some(b'"' | b'}'))
}

#[cfg(feature = "smartcore")]
fn smartcore_from_json(bytes: &[u8]) -> Result<Forest, crate::import::smartcore::SmartcoreError> {
    use crate::import::smartcore::{from_json, SmartcoreError};
    let text = std::str::from_utf8(bytes).map_err(|e| SmartcoreError::Layout {
        kind: "model (JSON)",
        source: serde::de::Error::custom(format!("the file is not UTF-8 text: {e}")),
    })?;
    from_json(text)
}

/// Whether `bytes` are plausibly an ONNX `ModelProto`: a well-formed run of
/// top-level protobuf fields, each a `ModelProto` field with its wire type,
/// with a non-empty graph and at least one opset. Only the top level is
/// walked (nested messages are skipped by length), so this costs nothing
/// on large models; protobuf has no magic bytes, and random bytes almost
/// never pass.
pub(crate) fn looks_like_onnx(bytes: &[u8]) -> bool {
    let (mut graph, mut opset) = (false, false);
    for field in Fields::new(bytes, 0) {
        let Some(field) = field else {
            return false;
        };
        // ModelProto: 1 ir_version, 5 model_version (varints); 2, 3, 4, 6
        // strings; 7 graph; 8 opset_import; 14 metadata_props;
        // 20 training_info; 25 functions; 26 configuration.
        match (field.number, field.value) {
            (1 | 5, Value::Scalar { wire_type: 0 }) => {}
            (2 | 3 | 4 | 6 | 7 | 8 | 14 | 20 | 25 | 26, Value::Len(start, end)) => {
                graph |= field.number == 7 && end > start;
                opset |= field.number == 8;
            }
            _ => return false,
        }
    }
    graph && opset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_one_row() {
        for (i, s) in FORMATS.iter().enumerate() {
            assert_eq!(spec(s.format).describe, s.describe);
            assert!(FORMATS[i + 1..].iter().all(|t| t.format != s.format));
        }
    }

    #[test]
    fn empty_and_unknown_content_is_refused() {
        assert!(matches!(detect(b""), Err(LoadError::Empty)));
        let e = detect(b"hello, world").unwrap_err();
        assert!(matches!(e, LoadError::Unrecognised));
        assert!(e.to_string().contains("ONNX model"), "{e}");
    }

    /// `cargo test --no-default-features --lib load::`
    #[cfg(not(feature = "sklearn"))]
    #[test]
    fn formats_left_out_are_named() {
        let e = detect(b"\x80\x04\x95 a pickle").unwrap_err().to_string();
        assert!(
            e.contains("compiled without: scikit-learn pickle (feature `sklearn`)"),
            "{e}"
        );
        assert_eq!(Format::Sklearn.feature(), Some("sklearn"));
        assert!(!Format::Sklearn.is_source());
    }

    #[test]
    fn onnx_is_recognised_by_its_top_level_fields() {
        // ir_version 8, graph of 2 bytes, one opset entry.
        let model = [0x08, 8, 0x3a, 2, 0x0a, 0, 0x42, 2, 0x10, 1];
        assert!(looks_like_onnx(&model));
        assert!(matches!(load_bytes(&model), Err(LoadError::OnnxNotSource)));
        // No graph, an empty graph, a truncated field, an unknown field.
        assert!(!looks_like_onnx(&[0x08, 8, 0x42, 2, 0x10, 1]));
        assert!(!looks_like_onnx(&[0x08, 8, 0x3a, 0, 0x42, 2, 0x10, 1]));
        assert!(!looks_like_onnx(&[0x08, 8, 0x3a, 9, 0x0a, 0]));
        assert!(!looks_like_onnx(&[0x08, 8, 0x78, 1, 0x3a, 1, 0, 0x42, 0]));
        assert!(!looks_like_onnx(&[0xff; 11]));
    }

    #[test]
    fn json_objects_start_with_a_key() {
        assert!(looks_like_json_object(b" {\n \"trees\": []}"));
        assert!(looks_like_json_object(b"{}"));
        assert!(!looks_like_json_object(b"{i\x05hello"));
        assert!(!looks_like_json_object(b"[1]"));
    }

    #[test]
    fn native_files_load_with_their_metadata() {
        let forest = crate::ir::tests::stump();
        let bytes = store::to_bytes(&forest, &Default::default()).unwrap();
        let loaded = load_bytes(&bytes).unwrap();
        assert_eq!(loaded.format, Format::Native);
        assert_eq!(loaded.forest, forest);
        assert!(loaded.provenance.is_some());
        // A damaged native file is a native-format error, not "unrecognised".
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let e = load_bytes(&bad).unwrap_err();
        assert!(
            matches!(
                e,
                LoadError::Import {
                    format: Format::Native,
                    ..
                }
            ),
            "{e}"
        );
    }
}
