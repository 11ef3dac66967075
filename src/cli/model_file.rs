//! Recognising and loading model files by their content, never their name.
//!
//! * native forest2onnx files start with the store's magic bytes;
//! * ONNX files are protobuf `ModelProto`s with a graph of at least one node;
//! * smartcore models saved with serde_json are JSON objects;
//! * scikit-learn pickles and joblib files are recognised by the importer's sniffer.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use forest2onnx::import::smartcore::from_json;
use forest2onnx::onnx::proto::ModelProto;
use forest2onnx::store::{self, Metadata, MAGIC};
use forest2onnx::Forest;
use prost::Message;

/// The kinds of model file forest2onnx reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A forest2onnx `.forest` file.
    Native,
    /// An ONNX model.
    Onnx,
    /// A smartcore model as serde JSON.
    SmartcoreJson,
    /// A scikit-learn pickle or joblib file.
    Sklearn,
}

impl Kind {
    /// What to call it in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Native => "forest2onnx model",
            Kind::Onnx => "ONNX model",
            Kind::SmartcoreJson => "smartcore JSON model",
            Kind::Sklearn => "scikit-learn pickle",
        }
    }
}

/// A file's bytes with its detected kind.
pub struct ModelBytes {
    /// The kind found.
    pub kind: Kind,
    /// The whole file.
    pub bytes: Vec<u8>,
}

/// Reads `path` and recognises its kind.
pub fn read(path: &Path) -> Result<ModelBytes> {
    if path.is_dir() {
        bail!("`{}` is a folder; give a model file", path.display());
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read model file `{}`", path.display()))?;
    let kind = sniff(&bytes).ok_or_else(|| not_a_model(path, &bytes))?;
    Ok(ModelBytes { kind, bytes })
}

/// The kind of model `bytes` hold, if any.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(&MAGIC) {
        return Some(Kind::Native);
    }
    if looks_like_sklearn(bytes) {
        return Some(Kind::Sklearn);
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return Some(Kind::SmartcoreJson);
    }
    if decode_onnx(bytes).is_some() {
        return Some(Kind::Onnx);
    }
    None
}

/// The ONNX model in `bytes`, when they hold a plausible one.
///
/// Protobuf decodes many byte strings without error, so a model must also
/// have a graph with at least one node and an opset.
pub fn decode_onnx(bytes: &[u8]) -> Option<ModelProto> {
    let model = ModelProto::decode(bytes).ok()?;
    let plausible =
        model.graph.as_ref().is_some_and(|g| !g.node.is_empty()) && !model.opset_import.is_empty();
    plausible.then_some(model)
}

fn looks_like_sklearn(bytes: &[u8]) -> bool {
    sklearn_support::sniff(bytes)
}

fn not_a_model(path: &Path, bytes: &[u8]) -> anyhow::Error {
    let hint = if bytes.is_empty() {
        "the file is empty".to_string()
    } else {
        "it is not a forest2onnx model (.forest), an ONNX model, a smartcore JSON model or a scikit-learn pickle".to_string()
    };
    anyhow!("`{}` is not a model file: {hint}", path.display())
}

/// A forest read from a source model file, with the native metadata when there is one.
pub struct LoadedForest {
    /// The forest (checked).
    pub forest: Forest,
    /// The file's kind.
    pub kind: Kind,
    /// Native files' metadata.
    pub metadata: Option<Metadata>,
}

/// Loads the forest in a native, smartcore JSON or scikit-learn file.
///
/// ONNX files are refused with a message saying what to give instead:
/// commands that compare or convert need the source model.
pub fn load_forest(path: &Path) -> Result<LoadedForest> {
    let file = read(path)?;
    forest_from(path, file)
}

/// [`load_forest`] for bytes already read.
pub fn forest_from(path: &Path, file: ModelBytes) -> Result<LoadedForest> {
    let at = || format!("cannot load `{}`", path.display());
    let (forest, metadata) = match file.kind {
        Kind::Native => {
            let (f, m) = store::from_bytes_with_metadata(&file.bytes).with_context(at)?;
            (f, Some(m))
        }
        Kind::SmartcoreJson => {
            let text = std::str::from_utf8(&file.bytes)
                .map_err(|_| anyhow!("the file is not UTF-8 JSON text"))
                .with_context(at)?;
            (from_json(text).with_context(at)?, None)
        }
        Kind::Sklearn => (sklearn_support::load(&file.bytes).with_context(at)?, None),
        Kind::Onnx => bail!(
            "`{}` is an ONNX model; this needs the source model (a .forest file, a smartcore JSON model or a scikit-learn pickle)",
            path.display()
        ),
    };
    forest
        .check()
        .with_context(|| format!("`{}` holds an invalid forest", path.display()))?;
    Ok(LoadedForest {
        forest,
        kind: file.kind,
        metadata,
    })
}

/// The scikit-learn importer, kept behind one seam.
mod sklearn_support {
    use anyhow::Result;
    use forest2onnx::import::sklearn;
    use forest2onnx::Forest;

    /// Whether `bytes` look like a pickle or joblib file (a pickle protocol
    /// 2-5 header, possibly inside a joblib compression container).
    pub fn sniff(bytes: &[u8]) -> bool {
        sklearn::looks_like_pickle(bytes)
    }

    /// The forest in a pickle or joblib file, read without executing it.
    pub fn load(bytes: &[u8]) -> Result<Forest> {
        Ok(sklearn::from_bytes(bytes)?)
    }
}
