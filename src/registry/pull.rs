//! Pulling a version into a folder: download every file to scratch space,
//! check each against the manifest, and only then write them (atomically,
//! manifest last).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::RegistryError;
use super::lock::LockedModel;
use super::manifest::Manifest;
use super::names::{ModelRef, VersionRef, MANIFEST};
use super::Registry;
use crate::atomic::{self, Existing};

/// What a pull wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Pulled {
    /// The version's manifest.
    pub manifest: Manifest,
    /// The files written, manifest last.
    pub written: Vec<PathBuf>,
}

impl Registry {
    /// Downloads `reference` into `dir` (created if missing) after checking
    /// the size and SHA-256 of every file; nothing is written to `dir` unless
    /// all match. With `pin` (`--locked`), anything other than the pinned
    /// version with the pinned hashes from the pinned URL is refused; a
    /// reference without a version then means the pinned one.
    pub fn pull(
        &self,
        reference: &ModelRef,
        dir: &Path,
        pin: Option<&LockedModel>,
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
        self.block_on(async {
            let manifest = self.resolve_async(&reference.name, version).await?;
            if let Some(why) = pin.and_then(|p| p.mismatch(&manifest, self.url())) {
                return Err(RegistryError::Locked(format!(
                    "--locked: {why}; run without --locked to update the lock file"
                )));
            }
            let mut scratch = Vec::with_capacity(manifest.files.len());
            for entry in &manifest.files {
                let mut file = tempfile::tempfile().map_err(RegistryError::io("temporary file"))?;
                self.fetch_checked(&manifest.name, manifest.version, entry, &mut file)
                    .await?;
                scratch.push(file);
            }
            let written = write_all(dir, &manifest, scratch)?;
            Ok(Pulled { manifest, written })
        })
    }
}

/// Writes the verified files, then the manifest, into `dir`.
fn write_all(
    dir: &Path,
    manifest: &Manifest,
    scratch: Vec<std::fs::File>,
) -> Result<Vec<PathBuf>, RegistryError> {
    std::fs::create_dir_all(dir).map_err(RegistryError::io(dir))?;
    let mut written = Vec::with_capacity(scratch.len() + 1);
    for (entry, mut file) in manifest.files.iter().zip(scratch) {
        let path = dir.join(&entry.path);
        file.seek(SeekFrom::Start(0))
            .map_err(RegistryError::io("temporary file"))?;
        atomic::write_with(&path, Existing::Replace, |w| {
            std::io::copy(&mut (&mut file).take(entry.size), w).map(|_| ())
        })
        .map_err(RegistryError::io(&path))?;
        written.push(path);
    }
    let path = dir.join(MANIFEST);
    atomic::write(&path, &manifest.to_json(), Existing::Replace)
        .map_err(RegistryError::io(&path))?;
    written.push(path);
    Ok(written)
}
