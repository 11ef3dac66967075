//! Pulling a version into a folder: every file is downloaded into a staging
//! folder beside the destination and checked against the manifest; only
//! then is the staged version switched in as one step (an atomic rename, or
//! on Linux an atomic exchange with the previous version), so a reader of
//! the folder sees the old version or the new one, never a mix, and never
//! files of another version.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::RegistryError;
use super::lock::{LockFile, LockedModel};
use super::manifest::{Manifest, FILE_ROLES, FOREST_FILE};
use super::names::{ModelRef, VersionRef, MANIFEST};
use super::read::check_describes;
use super::Registry;
use super::{staging, staging::Staging};

/// What a pull wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Pulled {
    /// The version's manifest.
    pub manifest: Manifest,
    /// The files written, manifest last.
    pub written: Vec<PathBuf>,
}

impl Registry {
    /// Downloads `reference` into `dir` after checking the size and SHA-256
    /// of every file, and that the manifest describes the model file. `dir`
    /// then holds exactly the files of that version and its
    /// `manifest.json`, switched in as one step; it must be missing, empty,
    /// or a folder an earlier pull wrote (anything else in it is refused,
    /// not deleted). Nothing in `dir` changes unless everything matches.
    ///
    /// With `pin` (`--locked`), anything other than the pinned version with
    /// the pinned manifest and file hashes from the pinned URL is refused;
    /// a reference without a version then means the pinned one.
    pub fn pull(
        &self,
        reference: &ModelRef,
        dir: &Path,
        pin: Option<&LockedModel>,
    ) -> Result<Pulled, RegistryError> {
        self.pull_then(reference, dir, pin, |_| Ok(Box::new(|| ())))
    }

    /// [`Registry::pull`] without a pin, recording the version in the lock
    /// file at `lock` (created if missing). The lock is updated under an
    /// exclusive file lock (concurrent pulls sharing it all keep their
    /// pins), after the files are verified and before the folder is
    /// switched; if the switch fails, the previous pin is restored.
    pub fn pull_and_pin(
        &self,
        reference: &ModelRef,
        dir: &Path,
        lock: &Path,
    ) -> Result<Pulled, RegistryError> {
        let url = self.url().to_string();
        self.pull_then(reference, dir, None, |manifest| {
            let name = manifest.name.clone();
            let previous = LockFile::update(lock, |l| {
                let previous = l.get(&name).cloned();
                l.pin(LockedModel::of(manifest, &url));
                previous
            })?;
            let lock = lock.to_path_buf();
            Ok(Box::new(move || {
                // Best effort: the switch failed and is reported anyway.
                let _ = LockFile::update(&lock, |l| match previous {
                    Some(p) => l.pin(p),
                    None => l.unpin(&name),
                });
            }))
        })
    }

    /// Resolves, stages and verifies, runs `before_switch` (which returns
    /// how to undo itself), then switches the staged version into `dir`.
    fn pull_then(
        &self,
        reference: &ModelRef,
        dir: &Path,
        pin: Option<&LockedModel>,
        before_switch: impl FnOnce(&Manifest) -> Result<Undo, RegistryError>,
    ) -> Result<Pulled, RegistryError> {
        let version = match (reference.version, pin) {
            (Some(v), _) => v,
            (None, Some(pin)) => VersionRef::Exact(pin.version),
            (None, None) => VersionRef::Latest,
        };
        if let Some(pin) = pin {
            if pin.name != reference.name {
                return Err(RegistryError::Locked(format!(
                    "the pin given is for {}, not {}",
                    pin.name, reference.name
                )));
            }
        }
        let dir = staging::destination(dir)?;
        staging::check_replaceable(&dir)?;
        let manifest = self.block_on(self.resolve_async(&reference.name, version))?;
        if let Some(why) = pin.and_then(|p| p.mismatch(&manifest, self.url())) {
            return Err(RegistryError::Locked(format!(
                "--locked: {why}; run without --locked to update the lock file"
            )));
        }
        let staged = Staging::new(&dir)?;
        let written = self.stage(&manifest, &staged, &dir)?;
        let undo = before_switch(&manifest)?;
        if let Err(e) = staged.switch_into(&dir) {
            undo();
            return Err(e);
        }
        Ok(Pulled { manifest, written })
    }

    /// Downloads and checks every file of `manifest` into `staged`, then
    /// writes the manifest; returns the paths the files will have in `dir`.
    fn stage(
        &self,
        manifest: &Manifest,
        staged: &Staging,
        dir: &Path,
    ) -> Result<Vec<PathBuf>, RegistryError> {
        let mut written = Vec::with_capacity(manifest.files.len() + 1);
        for entry in &manifest.files {
            let path = staged.path().join(&entry.path);
            let file = File::create(&path).map_err(RegistryError::io(&path))?;
            let mut sink = BufWriter::with_capacity(1 << 20, file);
            self.block_on(self.fetch_checked(&manifest.name, manifest.version, entry, &mut sink))?;
            let file = sink
                .into_inner()
                .map_err(|e| RegistryError::io(&path)(e.into_error()))?;
            file.sync_all().map_err(RegistryError::io(&path))?;
            drop(file);
            if entry.path == FOREST_FILE {
                let model = crate::bounded_read::read(&path, entry.size)
                    .map_err(RegistryError::io(&path))?;
                let at = self.layout.file(&manifest.name, manifest.version, MANIFEST);
                check_describes(manifest, &model, &self.describe(&at))?;
            }
            written.push(dir.join(&entry.path));
        }
        let path = staged.path().join(MANIFEST);
        std::fs::write(&path, manifest.to_json()).map_err(RegistryError::io(&path))?;
        File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(RegistryError::io(&path))?;
        written.push(dir.join(MANIFEST));
        Ok(written)
    }
}

/// Undoes what ran before a switch that failed.
type Undo = Box<dyn FnOnce()>;

/// The names a pull writes into its folder.
pub(crate) fn is_pulled_file(name: &str) -> bool {
    name == MANIFEST || FILE_ROLES.contains(&name)
}
