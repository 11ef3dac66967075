//! Publishing a version: check the store creates exclusively, claim the next
//! free number, upload the files, then the manifest.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::RegistryError;
use super::manifest::{
    check_file_name, sha256_hex, FileEntry, Manifest, FOREST_FILE, MAX_FILES, MAX_FILE_LEN,
};
use super::names::{check_name, parse_version, CLAIM, MANIFEST};
use super::{Backend, Registry};

/// Largest file a push uploads: each file goes up in one request, and a
/// single PUT is limited to 5 GiB on S3 and 5000 MiB on Azure (multipart
/// uploads are not implemented). Reading accepts up to [`MAX_FILE_LEN`].
pub const MAX_PUSH_FILE_LEN: u64 = 5000 << 20;

/// Claims tried before giving up: far more than concurrent pushers collide.
const MAX_CLAIM_ATTEMPTS: u32 = 1000;

/// What a push published.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// Model name.
    pub name: String,
    /// The new version.
    pub version: u64,
    /// SHA-256 of `model.forest`.
    pub sha256: String,
    /// The manifest written.
    pub manifest: Manifest,
}

impl Registry {
    /// Publishes a new version of `name`: `forest` (the bytes of a native
    /// `.forest` file, stored as `model.forest`), the `extra` files (e.g.
    /// `model.onnx`), and a manifest describing them with `tags`.
    ///
    /// The native file is decoded first (so the manifest describes what is
    /// stored, and a damaged file is never published).
    pub fn push(
        &self,
        name: &str,
        forest: Vec<u8>,
        extra: Vec<(String, Vec<u8>)>,
        tags: BTreeMap<String, String>,
    ) -> Result<Pushed, RegistryError> {
        self.push_with_progress(name, forest, extra, tags, &mut |_| {})
    }

    /// [`Registry::push`], reporting each step to `progress` (e.g.
    /// `claimed v3`, `uploading model.forest (12.0 MB)`).
    pub fn push_with_progress(
        &self,
        name: &str,
        forest_bytes: Vec<u8>,
        extra: Vec<(String, Vec<u8>)>,
        tags: BTreeMap<String, String>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Pushed, RegistryError> {
        check_name(name)?;
        let (forest, metadata) =
            crate::store::from_bytes_with_metadata(&forest_bytes).map_err(|e| {
                RegistryError::Io {
                    path: FOREST_FILE.into(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                }
            })?;
        let mut files = vec![(FOREST_FILE.to_string(), forest_bytes)];
        files.extend(extra);
        check_files(&files)?;
        let entries: Vec<FileEntry> = files
            .iter()
            .map(|(path, bytes)| FileEntry {
                path: path.clone(),
                sha256: sha256_hex(bytes),
                size: bytes.len() as u64,
            })
            .collect();

        // What readers would refuse is refused before anything is written:
        // the largest version number gives the longest manifest.
        let worst = Manifest::describe(
            &forest,
            name,
            u64::MAX,
            now(),
            tags.clone(),
            entries.clone(),
        )
        .with_environment(metadata.environment.as_ref());
        worst.to_checked_json()?;

        self.block_on(async {
            self.check_exclusive_create().await?;
            let version = self.claim(name).await?;
            progress(&format!("claimed {name} v{version}"));
            for (path, bytes) in files {
                progress(&format!("uploading {path} ({} bytes)", bytes.len()));
                let at = self.layout.file(name, version, &path);
                self.refuse_links(&at)?;
                self.at
                    .store
                    .put_opts(&at, PutPayload::from(bytes), PutMode::Overwrite.into())
                    .await
                    .map_err(self.fail(&format!("uploading {at}")))?;
            }
            let manifest = Manifest::describe(&forest, name, version, now(), tags, entries)
                .with_environment(metadata.environment.as_ref());
            let json = manifest.to_checked_json()?;
            progress("uploading manifest.json");
            let at = self.layout.file(name, version, MANIFEST);
            self.refuse_links(&at)?;
            self.at
                .store
                .put_opts(&at, PutPayload::from(json), PutMode::Create.into())
                .await
                .map_err(self.fail(&format!("uploading {at}")))?;
            Ok(Pushed {
                name: name.to_string(),
                version,
                sha256: manifest.files[0].sha256.clone(),
                manifest,
            })
        })
    }

    /// Takes the next free version of `name` by creating its claim
    /// exclusively; a number someone else took is skipped.
    async fn claim(&self, name: &str) -> Result<u64, RegistryError> {
        let exhausted = || RegistryError::VersionsExhausted {
            name: name.to_string(),
        };
        let mut next = self
            .highest_taken(name)
            .await?
            .checked_add(1)
            .ok_or_else(exhausted)?;
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let at = self.layout.file(name, next, CLAIM);
            self.refuse_links(&at)?;
            let claim = serde_json::json!({
                "format": "forest2onnx-registry-claim",
                "name": name,
                "version": next,
                "claimed": now(),
                "forest2onnx_version": env!("CARGO_PKG_VERSION"),
            });
            let payload = PutPayload::from(serde_json::to_vec_pretty(&claim).unwrap_or_default());
            match self
                .at
                .store
                .put_opts(&at, payload, PutOptions::from(PutMode::Create))
                .await
            {
                Ok(_) => return Ok(next),
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => {
                    next = next.checked_add(1).ok_or_else(exhausted)?
                }
                Err(e) => return Err(self.fail(&format!("claiming {at}"))(e)),
            }
        }
        Err(RegistryError::AllocationGaveUp {
            name: name.to_string(),
            attempts: MAX_CLAIM_ATTEMPTS,
            last: next.saturating_sub(1),
        })
    }

    /// The highest version number of `name` that anyone has taken
    /// (published or not), 0 when none.
    async fn highest_taken(&self, name: &str) -> Result<u64, RegistryError> {
        let dir = self.layout.model(name);
        let listed = match self.at.store.list_with_delimiter(Some(&dir)).await {
            Ok(listed) => listed,
            Err(object_store::Error::NotFound { .. }) if self.at.backend == Backend::Local => {
                return Ok(0)
            }
            Err(e) => return Err(self.fail(&format!("listing {dir}"))(e)),
        };
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(parse_version))
            .max()
            .unwrap_or(0))
    }

    /// Proves, on scratch objects, that the store refuses to create an object
    /// that exists: version numbers depend on it. A store that cannot (S3
    /// with `AWS_CONDITIONAL_PUT=disabled`) or that silently overwrites (some
    /// S3-compatible servers ignore `If-None-Match`) is refused.
    async fn check_exclusive_create(&self) -> Result<(), RegistryError> {
        static PROBES: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "probe-{}-{}-{}",
            std::process::id(),
            OffsetDateTime::now_utc().unix_timestamp_nanos(),
            PROBES.fetch_add(1, Ordering::Relaxed)
        );
        let at = self.layout.probe(&id);
        let store = &self.at.store;
        let create = || {
            store.put_opts(
                &at,
                PutPayload::from_static(b"probe"),
                PutMode::Create.into(),
            )
        };
        let outcome = match create().await {
            // The first write to the store: on a cloud store, a 404 here can
            // only mean that the bucket or container does not exist.
            Err(e @ object_store::Error::NotFound { .. }) if self.at.backend != Backend::Local => {
                Err(RegistryError::MissingBucket {
                    url: self.at.url.clone(),
                    detail: super::error::chain(&e),
                })
            }
            Err(e) => Err(self.fail("checking exclusive creates")(e)),
            Ok(_) => match create().await {
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => Ok(()),
                Err(e) => Err(self.fail("checking exclusive creates")(e)),
                Ok(_) => Err(RegistryError::NoExclusiveCreate {
                    url: self.at.url.clone(),
                    detail: "a second exclusive create of the same object succeeded".into(),
                }),
            },
        };
        if outcome.is_ok() {
            // Best effort: a leftover probe is harmless (it is not under a model name).
            let _ = delete(store.as_ref(), &at).await;
        }
        outcome
    }
}

async fn delete(store: &dyn ObjectStore, at: &Path) -> object_store::Result<()> {
    store.delete(at).await
}

fn check_files(files: &[(String, Vec<u8>)]) -> Result<(), RegistryError> {
    if files.len() > MAX_FILES {
        return Err(RegistryError::TooLarge {
            what: "the number of files".into(),
            size: files.len() as u64,
            limit: MAX_FILES as u64,
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for (path, bytes) in files {
        check_file_name(path).map_err(|reason| RegistryError::InvalidReference {
            reference: path.clone(),
            reason,
        })?;
        if !seen.insert(path) {
            return Err(RegistryError::InvalidReference {
                reference: path.clone(),
                reason: "given twice".into(),
            });
        }
        let limit = MAX_FILE_LEN.min(MAX_PUSH_FILE_LEN);
        if bytes.len() as u64 > limit {
            return Err(RegistryError::TooLarge {
                what: format!("{path} (pushed in one request)"),
                size: bytes.len() as u64,
                limit,
            });
        }
    }
    Ok(())
}

/// The current time, RFC 3339 UTC to the second.
pub(crate) fn now() -> String {
    let t = OffsetDateTime::now_utc();
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}
