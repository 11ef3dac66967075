//! `forest2onnx.lock`: the versions a project pulled, pinned by URL, by the
//! SHA-256 of the manifest and by that of every file, as diff-friendly TOML
//! (one `[[model]]` table per name, sorted; one `[[model.file]]` per file).
//! Updates are read-modify-writes under an exclusive lock, so concurrent
//! pulls sharing one lock file keep every pin.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::RegistryError;
use super::location::normalize_url;
use super::manifest::{FileEntry, Manifest};

/// The lock file's usual name.
pub const LOCK_FILE_NAME: &str = "forest2onnx.lock";
/// The lock format version written (2 adds the manifest's hash; 1 is read).
const LOCK_VERSION: u32 = 2;
/// Largest lock file read.
const MAX_LOCK_LEN: u64 = 16 << 20;

const HEADER: &str = "\
# forest2onnx.lock: models pinned by `forest2onnx registry pull`.
# Commit it; `forest2onnx registry pull ... --locked` refuses anything else.
";

/// One pinned file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedFile {
    /// File name in the version.
    pub path: String,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// One pinned model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedModel {
    /// Model name.
    pub name: String,
    /// Pinned version.
    pub version: u64,
    /// Registry URL it was pulled from ([`normalize_url`]d).
    pub url: String,
    /// SHA-256 of the version's manifest ([`Manifest::sha256`]); missing in
    /// lock files of format 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    /// Every file of the version.
    #[serde(rename = "file")]
    pub files: Vec<LockedFile>,
}

impl LockedModel {
    /// The pin of what `manifest` describes, pulled from `url`.
    pub fn of(manifest: &Manifest, url: &str) -> LockedModel {
        LockedModel {
            name: manifest.name.clone(),
            version: manifest.version,
            url: normalize_url(url),
            manifest_sha256: Some(manifest.sha256()),
            files: manifest.files.iter().map(LockedFile::from).collect(),
        }
    }

    /// Why `manifest` (from `url`) is not what this pins, if it is not.
    pub fn mismatch(&self, manifest: &Manifest, url: &str) -> Option<String> {
        let what = format!("{} v{}", self.name, self.version);
        if normalize_url(&self.url) != normalize_url(url) {
            return Some(format!("{what} is pinned to {}, not {url}", self.url));
        }
        if manifest.version != self.version {
            return Some(format!(
                "{what} is pinned, but v{} was asked for",
                manifest.version
            ));
        }
        let pinned: Vec<LockedFile> = manifest.files.iter().map(LockedFile::from).collect();
        for file in &self.files {
            match pinned.iter().find(|f| f.path == file.path) {
                None => return Some(format!("{what}: {} is pinned but no longer published", file.path)),
                Some(f) if f != file => {
                    return Some(format!(
                        "{what}: {} is pinned with sha256 {} ({} bytes), the registry now has sha256 {} ({} bytes)",
                        file.path, file.sha256, file.size, f.sha256, f.size
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(f) = pinned
            .iter()
            .find(|f| !self.files.iter().any(|p| p.path == f.path))
        {
            return Some(format!("{what}: {} is published but not pinned", f.path));
        }
        let now = manifest.sha256();
        match &self.manifest_sha256 {
            None => Some(format!(
                "{what}: the lock file pins no manifest hash (an older lock format); \
                 pull once without --locked to pin it"
            )),
            Some(pinned) if *pinned != now => Some(format!(
                "{what}: the manifest is pinned with sha256 {pinned}, the registry now has \
                 sha256 {now} (its task, features, classes or tags were changed)"
            )),
            Some(_) => None,
        }
    }
}

impl From<&FileEntry> for LockedFile {
    fn from(f: &FileEntry) -> Self {
        LockedFile {
            path: f.path.clone(),
            sha256: f.sha256.clone(),
            size: f.size,
        }
    }
}

/// A whole lock file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    /// Lock format version.
    #[serde(default = "lock_version")]
    pub lock_version: u32,
    /// Pinned models, sorted by name.
    #[serde(default, rename = "model")]
    pub models: Vec<LockedModel>,
}

fn lock_version() -> u32 {
    LOCK_VERSION
}

impl LockFile {
    /// Reads the lock file at `path`; a missing file is an empty lock.
    pub fn load(path: &Path) -> Result<LockFile, RegistryError> {
        let bad = |reason: String| RegistryError::BadLockFile {
            path: path.to_path_buf(),
            reason,
        };
        let len = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockFile::default()),
            Err(e) => return Err(RegistryError::io(path)(e)),
        };
        if len > MAX_LOCK_LEN {
            return Err(bad(format!("{len} bytes, more than {MAX_LOCK_LEN}")));
        }
        let text = crate::bounded_read::read_to_string(path, MAX_LOCK_LEN)
            .map_err(RegistryError::io(path))?;
        let lock: LockFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if lock.lock_version > LOCK_VERSION {
            return Err(bad(format!(
                "lock format {} is newer than this build reads ({LOCK_VERSION})",
                lock.lock_version
            )));
        }
        let mut names: Vec<&str> = lock.models.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad(format!("{:?} is pinned twice", w[0])));
        }
        Ok(lock)
    }

    /// Writes the lock file atomically.
    pub fn save(&self, path: &Path) -> Result<(), RegistryError> {
        let mut sorted = self.clone();
        sorted.lock_version = LOCK_VERSION;
        sorted.models.sort_by(|a, b| a.name.cmp(&b.name));
        let body = toml::to_string(&sorted).map_err(|e| RegistryError::BadLockFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let text = format!("{HEADER}\n{body}");
        crate::atomic::write(path, text.as_bytes(), crate::atomic::Existing::Replace)
            .map_err(RegistryError::io(path))
    }

    /// Reads the lock file at `path` (a missing one is empty), applies
    /// `change` and writes it back, all under an exclusive lock of the lock
    /// file's folder, so that concurrent updates never lose one another's
    /// pins. Returns what `change` returned.
    pub fn update<T>(
        path: &Path,
        change: impl FnOnce(&mut LockFile) -> T,
    ) -> Result<T, RegistryError> {
        let _held = exclusive(path)?;
        let mut lock = LockFile::load(path)?;
        let out = change(&mut lock);
        lock.save(path)?;
        Ok(out)
    }

    /// Removes the pin of `name`, if any.
    pub fn unpin(&mut self, name: &str) {
        self.models.retain(|m| m.name != name);
    }

    /// The pin of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&LockedModel> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Pins `model`, replacing any pin of the same name.
    pub fn pin(&mut self, model: LockedModel) {
        self.models.retain(|m| m.name != model.name);
        self.models.push(model);
        self.models.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// An exclusive lock on the folder of the lock file at `path`, held until
/// the returned file is dropped. The folder, not the file: the file is
/// replaced by a rename on every save, and a lock on a replaced file would
/// not exclude the next reader.
fn exclusive(path: &Path) -> Result<Option<std::fs::File>, RegistryError> {
    if !cfg!(unix) {
        return Ok(None); // folders cannot be opened as files here
    }
    let dir = crate::atomic::parent_dir(path);
    let held = std::fs::File::open(dir).map_err(RegistryError::io(dir))?;
    held.lock().map_err(RegistryError::io(dir))?;
    Ok(Some(held))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str, version: u64) -> LockedModel {
        LockedModel {
            name: name.into(),
            version,
            url: "s3://b/p".into(),
            manifest_sha256: None,
            files: vec![LockedFile {
                path: "model.forest".into(),
                sha256: "ab".repeat(32),
                size: 10,
            }],
        }
    }

    #[test]
    fn round_trips_sorted_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        assert_eq!(LockFile::load(&path).unwrap(), LockFile::default());
        let mut lock = LockFile::default();
        lock.pin(model("zebra", 1));
        lock.pin(model("iris", 2));
        lock.pin(model("iris", 3));
        lock.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# forest2onnx.lock"), "{text}");
        assert!(text.find("name = \"iris\"").unwrap() < text.find("name = \"zebra\"").unwrap());
        assert!(text.contains("[[model.file]]"), "{text}");
        let back = LockFile::load(&path).unwrap();
        assert_eq!(back.models.len(), 2);
        assert_eq!(back.get("iris").unwrap().version, 3);
    }

    /// Issue 31, defect 6: concurrent read-modify-writes keep every pin.
    #[test]
    fn concurrent_updates_keep_every_pin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        std::thread::scope(|s| {
            for i in 0..8 {
                let path = &path;
                s.spawn(move || {
                    for round in 0..5 {
                        LockFile::update(path, |l| l.pin(model(&format!("m{i}-{round}"), 1)))
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(LockFile::load(&path).unwrap().models.len(), 40);
    }

    #[test]
    fn refuses_damaged_lock_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        for bad in [
            "model = 3",
            "lock_version = 99",
            "lock_version = 3",
            "[[model]]\nname = \"a\"",
            "[[model]]\nname=\"a\"\nversion=1\nurl=\"x\"\nfile=[]\n[[model]]\nname=\"a\"\nversion=2\nurl=\"x\"\nfile=[]",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(LockFile::load(&path).is_err(), "{bad}");
        }
    }
}
