//! A small, bounded reader of PMML documents for `inspect`: what a PMML
//! file holds (version, model type, segments, fields), without building a
//! model. Meant for files forest2onnx wrote, but any well-formed PMML reads;
//! malformed or hostile input gives a [`ReadError`], never a panic, and
//! memory stays bounded (lists are capped at [`MAX_LISTED`] entries).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::Serialize;

/// Most fields and output fields listed (the counts are exact).
pub const MAX_LISTED: usize = 10_000;

/// Deepest element nesting read (deeper documents are refused).
pub const MAX_DEPTH: usize = 1 << 20;

/// Why a document is not a PMML file we can describe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Not well-formed XML.
    #[error("malformed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset of the error.
        position: u64,
        /// The parser's message.
        message: String,
    },
    /// Well-formed, but not PMML.
    #[error("not a PMML document: {0}")]
    NotPmml(String),
}

/// One field of the data dictionary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldSummary {
    /// `name`.
    pub name: String,
    /// `optype`.
    pub optype: String,
    /// `dataType`.
    pub data_type: String,
    /// Number of `Value` elements (categories of a categorical field).
    pub values: usize,
}

/// What a PMML document holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PmmlSummary {
    /// The `version` attribute of the root.
    pub version: String,
    /// The root's namespace (`xmlns`).
    pub namespace: String,
    /// `Application` name and version from the header.
    pub application: Option<String>,
    /// The header's description.
    pub description: Option<String>,
    /// The top-level model element, e.g. `MiningModel`.
    pub model_type: String,
    /// Its `functionName`.
    pub function: String,
    /// Its `algorithmName`, if any.
    pub algorithm: Option<String>,
    /// `multipleModelMethod` of every `Segmentation`, outermost first
    /// (distinct values, in order of appearance).
    pub segmentation_methods: Vec<String>,
    /// `Segment` elements at any depth.
    pub segments: usize,
    /// `TreeModel` elements.
    pub trees: usize,
    /// `Node` elements.
    pub nodes: usize,
    /// `RegressionModel` elements.
    pub regression_models: usize,
    /// Data dictionary fields (at most [`MAX_LISTED`]).
    pub fields: Vec<FieldSummary>,
    /// Number of data dictionary fields.
    pub n_fields: usize,
    /// Active fields of the top-level mining schema.
    pub active_fields: usize,
    /// Target fields of the top-level mining schema.
    pub targets: Vec<String>,
    /// Names of the final output fields: the top-level model's, or those of
    /// the last model of a chain (at most [`MAX_LISTED`]).
    pub outputs: Vec<String>,
}

/// Whether `bytes` look like a PMML document: an XML document whose root
/// element is `PMML` (checked on the first 4 KiB).
pub fn sniff(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let Ok(text) =
        std::str::from_utf8(head).or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
    else {
        return false;
    };
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if !t.starts_with('<') {
        return false;
    }
    let mut reader = Reader::from_str(t);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => return e.local_name().as_ref() == b"PMML",
            Ok(Event::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// Describes the PMML document `bytes`.
pub fn summarize(bytes: &[u8]) -> Result<PmmlSummary, ReadError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ReadError::NotPmml(format!("not UTF-8 text ({e})")))?;
    let mut reader = Reader::from_str(text.trim_start_matches('\u{feff}'));
    let mut s = PmmlSummary::default();
    // Names of the open elements (only the ones we care about are
    // distinguished; the rest count for depth).
    let mut path: Vec<Tag> = Vec::new();
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(|e| ReadError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        match event {
            Event::Start(e) => {
                let tag = s.open(&e, &path, &mut saw_root)?;
                if path.len() >= MAX_DEPTH {
                    return Err(ReadError::NotPmml(format!(
                        "elements nest deeper than {MAX_DEPTH}"
                    )));
                }
                path.push(tag);
            }
            Event::Empty(e) => {
                s.open(&e, &path, &mut saw_root)?;
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(ReadError::NotPmml("no PMML root element".into()));
    }
    if s.model_type.is_empty() {
        return Err(ReadError::NotPmml("the document holds no model".into()));
    }
    Ok(s)
}

/// The elements whose position matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Pmml,
    Header,
    DataDictionary,
    DataField,
    TopModel,
    TopMiningSchema,
    Output,
    Other,
}

const MODELS: &[&[u8]] = &[
    b"MiningModel",
    b"TreeModel",
    b"RegressionModel",
    b"GeneralRegressionModel",
    b"NeuralNetwork",
    b"NaiveBayesModel",
    b"SupportVectorMachineModel",
    b"RuleSetModel",
    b"Scorecard",
    b"ClusteringModel",
    b"NearestNeighborModel",
    b"AssociationModel",
    b"SequenceModel",
    b"TextModel",
    b"TimeSeriesModel",
    b"BaselineModel",
    b"BayesianNetworkModel",
    b"GaussianProcessModel",
    b"AnomalyDetectionModel",
];

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.try_get_attribute(name).ok().flatten().map(|a| {
        match a.normalized_value(quick_xml::XmlVersion::default()) {
            Ok(v) => v.into_owned(),
            Err(_) => String::from_utf8_lossy(&a.value).into_owned(),
        }
    })
}

impl PmmlSummary {
    /// Records element `e`, opened under `path`; returns its tag.
    fn open(
        &mut self,
        e: &BytesStart,
        path: &[Tag],
        saw_root: &mut bool,
    ) -> Result<Tag, ReadError> {
        let name = e.local_name();
        let name = name.as_ref();
        let parent = path.last().copied();
        if parent.is_none() {
            if name != b"PMML" || *saw_root {
                return Err(ReadError::NotPmml(format!(
                    "the root element is `{}`",
                    String::from_utf8_lossy(name)
                )));
            }
            *saw_root = true;
            self.version = attr(e, "version").unwrap_or_default();
            self.namespace = attr(e, "xmlns").unwrap_or_default();
            return Ok(Tag::Pmml);
        }
        match name {
            b"Segment" => self.segments += 1,
            b"TreeModel" => self.trees += 1,
            b"Node" => self.nodes += 1,
            b"RegressionModel" => self.regression_models += 1,
            b"Segmentation" => {
                if let Some(m) = attr(e, "multipleModelMethod") {
                    if !self.segmentation_methods.contains(&m)
                        && self.segmentation_methods.len() < 16
                    {
                        self.segmentation_methods.push(m);
                    }
                }
            }
            _ => {}
        }
        Ok(match (parent, name) {
            (Some(Tag::Pmml), b"Header") => {
                self.description = attr(e, "description");
                Tag::Header
            }
            (Some(Tag::Header), b"Application") => {
                let n = attr(e, "name").unwrap_or_default();
                self.application = Some(match attr(e, "version") {
                    Some(v) => format!("{n} {v}"),
                    None => n,
                });
                Tag::Other
            }
            (Some(Tag::Pmml), b"DataDictionary") => Tag::DataDictionary,
            (Some(Tag::DataDictionary), b"DataField") => {
                self.n_fields += 1;
                if self.fields.len() < MAX_LISTED {
                    self.fields.push(FieldSummary {
                        name: attr(e, "name").unwrap_or_default(),
                        optype: attr(e, "optype").unwrap_or_default(),
                        data_type: attr(e, "dataType").unwrap_or_default(),
                        values: 0,
                    });
                }
                Tag::DataField
            }
            (Some(Tag::DataField), b"Value") => {
                if self.n_fields <= MAX_LISTED {
                    if let Some(f) = self.fields.last_mut() {
                        f.values += 1;
                    }
                }
                Tag::Other
            }
            (Some(Tag::Pmml), m) if MODELS.contains(&m) && self.model_type.is_empty() => {
                self.model_type = String::from_utf8_lossy(m).into_owned();
                self.function = attr(e, "functionName").unwrap_or_default();
                self.algorithm = attr(e, "algorithmName");
                Tag::TopModel
            }
            (Some(Tag::TopModel), b"MiningSchema") => Tag::TopMiningSchema,
            (Some(Tag::TopMiningSchema), b"MiningField") => {
                match attr(e, "usageType").as_deref() {
                    None | Some("active") => self.active_fields += 1,
                    Some("target" | "predicted") => {
                        if self.targets.len() < 16 {
                            self.targets.push(attr(e, "name").unwrap_or_default());
                        }
                    }
                    Some(_) => {}
                }
                Tag::Other
            }
            // The final outputs: those of the top-level model or, in a
            // model chain, of its last model (intermediate ones say
            // `isFinalResult="false"`).
            (Some(Tag::Output), b"OutputField") => {
                if self.outputs.len() < MAX_LISTED
                    && attr(e, "isFinalResult").as_deref() != Some("false")
                {
                    self.outputs.push(attr(e, "name").unwrap_or_default());
                }
                Tag::Other
            }
            (_, b"Output") => Tag::Output,
            _ => Tag::Other,
        })
    }
}
