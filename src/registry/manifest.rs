//! `manifest.json`: what one published version holds, and proof of it (the
//! sha256 and size of every file).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::RegistryError;
use super::names::{check_name, MANIFEST};
use crate::ir::{Forest, Source, Task};
use crate::store::Environment;

/// The `format` field of every manifest forest2onnx writes.
pub const MANIFEST_FORMAT: &str = "forest2onnx-registry-manifest";
/// The newest manifest format version this build reads, and the one it
/// writes when the manifest records an environment (format 2).
pub const MANIFEST_VERSION: u32 = 2;
/// The format version of a manifest without an environment: builds that
/// read only format 1 still read it.
pub const PLAIN_MANIFEST_VERSION: u32 = 1;
/// Largest manifest read (feature names and tags included).
pub const MAX_MANIFEST_LEN: u64 = 16 << 20;
/// Largest file a version may hold.
pub const MAX_FILE_LEN: u64 = 64 << 30;
/// The native file's name in a version (every version has one).
pub const FOREST_FILE: &str = "model.forest";
/// The ONNX file's name in a version (pushed with `--onnx`).
pub const ONNX_FILE: &str = "model.onnx";
/// The PMML file's name in a version.
pub const PMML_FILE: &str = "model.pmml";
/// Every file a version may hold, each under its fixed name, in the order a
/// manifest lists them: the native model first, then the exports. Nothing
/// else is ever written into a pull's folder.
pub const FILE_ROLES: [&str; 3] = [FOREST_FILE, ONNX_FILE, PMML_FILE];
/// Most files in one version.
pub const MAX_FILES: usize = FILE_ROLES.len();

/// One file of a version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name inside the version folder (no `/`), e.g. `model.forest`.
    pub path: String,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A published version's manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`]: tells our manifests from anything else.
    pub format: String,
    /// Manifest format version ([`MANIFEST_VERSION`]).
    pub format_version: u32,
    /// Model name.
    pub name: String,
    /// Version number (from 1).
    pub version: u64,
    /// When the version was pushed, RFC 3339 UTC.
    pub created: String,
    /// forest2onnx version that pushed it.
    pub forest2onnx_version: String,
    /// Library, version and estimator that trained the model.
    pub source: Source,
    /// `classification`, `regression` or `anomaly-detection`.
    pub task: String,
    /// Number of input features.
    pub n_features: usize,
    /// Feature names, when known.
    pub feature_names: Option<Vec<String>>,
    /// Class labels of a classifier, as JSON values (numbers or strings).
    pub classes: Option<Vec<serde_json::Value>>,
    /// Number of trees.
    pub n_trees: usize,
    /// Free-form tags given at push time.
    pub tags: BTreeMap<String, String>,
    /// The software the model was saved from, copied at push time from the
    /// native file's metadata (Python's `dump` records it), without the
    /// package list itself: its hash identifies it, and `model.forest`
    /// keeps the text (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The files, `model.forest` first.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// A manifest for `forest` published as `name` `version` with `files`.
    pub fn describe(
        forest: &Forest,
        name: &str,
        version: u64,
        created: String,
        tags: BTreeMap<String, String>,
        files: Vec<FileEntry>,
    ) -> Manifest {
        let (task, classes) = match &forest.task {
            Task::Classification(labels) => (
                "classification",
                Some((0..labels.len()).map(|i| labels.json(i)).collect()),
            ),
            Task::Regression { .. } => ("regression", None),
            Task::AnomalyDetection { .. } => ("anomaly-detection", None),
        };
        Manifest {
            format: MANIFEST_FORMAT.into(),
            format_version: PLAIN_MANIFEST_VERSION,
            name: name.into(),
            version,
            created,
            forest2onnx_version: env!("CARGO_PKG_VERSION").into(),
            source: forest.source.clone(),
            task: task.into(),
            n_features: forest.n_features,
            feature_names: forest.feature_names.clone(),
            classes,
            n_trees: forest.trees.len(),
            tags,
            environment: None,
            files,
        }
    }

    /// The manifest recording `environment` (none: unchanged). A manifest
    /// with an environment is format 2, so that builds which read only
    /// format 1 refuse it by name rather than drop the field (its hash, the
    /// lock file's pin, covers every field).
    pub fn with_environment(mut self, environment: Option<&Environment>) -> Manifest {
        if let Some(e) = environment {
            self.environment = Some(Environment {
                requirements: None,
                ..e.clone()
            });
            self.format_version = MANIFEST_VERSION;
        }
        self
    }

    /// The entry of `path`, if the version has that file.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Total size of the files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The manifest as pretty JSON (what is stored).
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a manifest always serializes");
        bytes.push(b'\n');
        bytes
    }

    /// Lower-case hex SHA-256 of [`Manifest::to_json`]: the canonical form
    /// of everything the manifest says, which a lock file pins. Formatting
    /// of the stored file does not change it; any field's value does.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.to_json())
    }

    /// [`Manifest::to_json`], checked against every rule its readers apply
    /// (size limit included): a push must never publish a manifest that
    /// `list`, `pull` or `verify` refuse.
    pub fn to_checked_json(&self) -> Result<Vec<u8>, RegistryError> {
        let bytes = self.to_json();
        if bytes.len() as u64 > MAX_MANIFEST_LEN {
            return Err(RegistryError::TooLarge {
                what: format!(
                    "the manifest of {} v{} (feature names, classes and tags)",
                    self.name, self.version
                ),
                size: bytes.len() as u64,
                limit: MAX_MANIFEST_LEN,
            });
        }
        Manifest::parse(&bytes, MANIFEST, &self.name, self.version)?;
        Ok(bytes)
    }

    /// Why this manifest does not describe `forest` (the model file it
    /// lists), if it does not: every field taken from the model (task,
    /// features, classes, trees, source) must be the model's own.
    pub fn mismatch_with(&self, forest: &Forest) -> Option<String> {
        let own = Manifest::describe(
            forest,
            &self.name,
            self.version,
            String::new(),
            BTreeMap::new(),
            Vec::new(),
        );
        let fields: [(&str, bool); 6] = [
            ("task", own.task == self.task),
            ("n_features", own.n_features == self.n_features),
            ("feature_names", own.feature_names == self.feature_names),
            ("classes", own.classes == self.classes),
            ("n_trees", own.n_trees == self.n_trees),
            ("source", own.source == self.source),
        ];
        fields
            .iter()
            .find(|(_, same)| !same)
            .map(|(field, _)| format!("its {field} is not that of {FOREST_FILE}"))
    }

    /// Parses and checks a stored manifest found at `location`, which must
    /// describe `name` `version`.
    pub fn parse(
        bytes: &[u8],
        location: &str,
        name: &str,
        version: u64,
    ) -> Result<Manifest, RegistryError> {
        let foreign = |reason: String| RegistryError::ForeignManifest {
            location: location.to_string(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| foreign(format!("not JSON ({e})")))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(MANIFEST_FORMAT) => {}
            Some(other) => return Err(foreign(format!("its format is {other:?}"))),
            None => return Err(foreign("it has no \"format\" field".into())),
        }
        if let Some(v) = value.get("format_version").and_then(|v| v.as_u64()) {
            if v > u64::from(MANIFEST_VERSION) {
                return Err(foreign(format!(
                    "manifest format {v} is newer than this build reads ({MANIFEST_VERSION}): upgrade forest2onnx"
                )));
            }
        }
        let manifest: Manifest =
            serde_json::from_value(value).map_err(|e| foreign(format!("{e}")))?;
        if manifest.name != name || manifest.version != version {
            return Err(foreign(format!(
                "it describes {} v{}, but is stored as {name} v{version}",
                manifest.name, manifest.version
            )));
        }
        check_name(&manifest.name).map_err(|e| foreign(e.to_string()))?;
        manifest.check_files().map_err(foreign)?;
        Ok(manifest)
    }

    /// File entries must be safe to write anywhere: only the file roles we
    /// define, under their fixed names, each once, the native model first,
    /// with a well-formed hash and a bounded size.
    fn check_files(&self) -> Result<(), String> {
        if self.files.is_empty() || self.files.len() > MAX_FILES {
            return Err(format!(
                "it lists {} files (1 to {MAX_FILES} expected)",
                self.files.len()
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &self.files {
            check_file_name(&f.path)?;
            if !seen.insert(&f.path) {
                return Err(format!("it lists {:?} twice", f.path));
            }
            if !is_sha256_hex(&f.sha256) {
                return Err(format!(
                    "the sha256 of {:?} is not 64 lower-case hex digits",
                    f.path
                ));
            }
            if f.size > MAX_FILE_LEN {
                return Err(format!(
                    "{:?} is {} bytes, over the limit {MAX_FILE_LEN}",
                    f.path, f.size
                ));
            }
        }
        if self.files[0].path != FOREST_FILE {
            return Err(format!("its first file is not {FOREST_FILE}"));
        }
        Ok(())
    }
}

/// A file name a version may hold: one of [`FILE_ROLES`].
pub fn check_file_name(path: &str) -> Result<(), String> {
    if !FILE_ROLES.contains(&path) {
        return Err(format!(
            "{path:?} is not an acceptable file name (a version holds only {})",
            FILE_ROLES.join(", ")
        ));
    }
    Ok(())
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            format_version: 1,
            name: "iris".into(),
            version: 2,
            created: "2024-01-01T00:00:00Z".into(),
            forest2onnx_version: "0.1.0".into(),
            source: Source::default(),
            task: "classification".into(),
            n_features: 4,
            feature_names: None,
            classes: Some(vec![0.into(), 1.into()]),
            n_trees: 3,
            tags: BTreeMap::new(),
            environment: None,
            files: vec![FileEntry {
                path: "model.forest".into(),
                sha256: sha256_hex(b"x"),
                size: 1,
            }],
        }
    }

    #[test]
    fn round_trips_and_checks_where_it_is() {
        let m = sample();
        let bytes = m.to_json();
        assert_eq!(Manifest::parse(&bytes, "m", "iris", 2).unwrap(), m);
        let err = Manifest::parse(&bytes, "m", "iris", 3).unwrap_err();
        assert!(err.to_string().contains("stored as iris v3"), "{err}");
    }

    #[test]
    fn refuses_foreign_and_hostile_manifests() {
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (serde_json::json!({"name": "iris"}), "no \"format\""),
            (serde_json::json!({"format": "dvc"}), "\"dvc\""),
            (
                serde_json::json!({"format": MANIFEST_FORMAT, "format_version": 9}),
                "newer",
            ),
        ];
        for (value, expect) in cases {
            let err = Manifest::parse(&serde_json::to_vec(&value).unwrap(), "m", "iris", 2)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{err}");
        }
        assert!(Manifest::parse(b"\x00\x01", "m", "iris", 2).is_err());
        for evil in [
            "../../etc/passwd",
            "a/b",
            ".hidden",
            "manifest.json",
            "claim.json",
            "",
            "Makefile",
            "sitecustomize.py",
            "model.forest.bak",
        ] {
            let mut m = sample();
            m.files[0].path = evil.into();
            let err = Manifest::parse(&m.to_json(), "m", "iris", 2).unwrap_err();
            assert!(err.to_string().contains("acceptable file name"), "{err}");
        }
        let mut m = sample();
        m.files[0].sha256 = "ABC".into();
        assert!(Manifest::parse(&m.to_json(), "m", "iris", 2).is_err());
        let mut m = sample();
        m.files[0].size = MAX_FILE_LEN + 1;
        assert!(Manifest::parse(&m.to_json(), "m", "iris", 2).is_err());
        let mut m = sample();
        m.files.push(m.files[0].clone());
        assert!(Manifest::parse(&m.to_json(), "m", "iris", 2).is_err());
        // Issue 31, defect 5: only the fixed roles, the native model first.
        let mut m = sample();
        m.files[0].path = ONNX_FILE.into();
        let err = Manifest::parse(&m.to_json(), "m", "iris", 2).unwrap_err();
        assert!(err.to_string().contains("first file"), "{err}");
    }

    /// Issue 31, defect 2: what a push would write is checked against the
    /// readers' limit.
    #[test]
    fn oversized_manifests_are_refused_before_writing() {
        let mut m = sample();
        m.feature_names = Some(vec!["f".repeat(1000); (MAX_MANIFEST_LEN / 1000) as usize]);
        let err = m.to_checked_json().unwrap_err();
        assert!(matches!(err, RegistryError::TooLarge { .. }), "{err}");
        assert!(sample().to_checked_json().is_ok());
    }

    #[test]
    fn an_environment_makes_format_2_without_the_package_list() {
        assert_eq!(sample().with_environment(None), sample());
        let env = Environment {
            python: Some("CPython 3.11.7".into()),
            packages: [("numpy".to_string(), "2.1.0".to_string())].into(),
            requirements_hash: Some("sha256:00".into()),
            requirements: Some("numpy==2.1.0\n".into()),
            ..Environment::default()
        };
        let m = sample().with_environment(Some(&env));
        assert_eq!(m.format_version, 2);
        let stored = m.environment.clone().unwrap();
        assert_eq!(stored.requirements, None);
        assert_eq!(stored.requirements_hash, env.requirements_hash);
        assert_eq!(stored.packages, env.packages);
        assert_eq!(Manifest::parse(&m.to_json(), "m", "iris", 2).unwrap(), m);
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
