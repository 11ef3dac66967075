//! Reading the registry: what exists (`list`), which manifest a reference
//! means (`resolve`), streaming a file while checking it against its
//! manifest, and re-checking everything (`verify`).

use std::collections::BTreeMap;
use std::io::Write;

use futures_util::StreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::RegistryError;
use super::manifest::{hex, FileEntry, Manifest, FOREST_FILE, MAX_MANIFEST_LEN};
use super::names::{check_name, parse_version, VersionRef, MANIFEST};
use super::{Backend, Registry};

/// Manifests fetched at once when listing or verifying.
const CONCURRENT_READS: usize = 8;

/// One version found in the store.
#[derive(Clone, Debug, Serialize)]
pub struct VersionInfo {
    /// Model name.
    pub name: String,
    /// Version number.
    pub version: u64,
    /// Its manifest.
    pub manifest: Manifest,
}

/// Entries of the store that could not be read are reported and skipped;
/// after this many, the listing stops (a store that fails on every entry).
const MAX_BAD_ENTRIES: usize = 1000;

/// What one listing of the store found: the versions of each model name,
/// and the entries that could not be listed (a malformed key, a symbolic
/// link, a loop).
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Model name to its versions.
    pub models: BTreeMap<String, Versions>,
    /// Entries that could not be listed, each as `where: why`.
    pub bad_entries: Vec<String>,
}

/// The result of [`Registry::list_checked`]: every version that could be
/// read, and what could not.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Listing {
    /// Published versions with a readable manifest, by name then version.
    pub versions: Vec<VersionInfo>,
    /// Published versions whose manifest could not be read or is refused.
    pub problems: Vec<Problem>,
    /// Entries of the store that could not be listed.
    pub bad_entries: Vec<String>,
}

/// Model name to version to "has a manifest", as listed.
type Found = BTreeMap<String, BTreeMap<u64, bool>>;

/// What the store holds for one name, from one listing.
#[derive(Debug, Default)]
pub(crate) struct Versions {
    /// Versions with a manifest (published), ascending.
    pub published: Vec<u64>,
    /// Versions taken but without a manifest (interrupted or in progress).
    pub incomplete: Vec<u64>,
}

/// One problem `verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// Model name.
    pub name: String,
    /// Version.
    pub version: u64,
    /// The file involved (`manifest.json` for manifest problems).
    pub file: String,
    /// What is wrong.
    pub error: String,
}

/// The result of [`Registry::verify`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Published versions checked.
    pub versions: usize,
    /// Files re-hashed.
    pub files: usize,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Everything that does not match its manifest.
    pub problems: Vec<Problem>,
    /// `NAME vN` taken without a manifest: pushes that were interrupted
    /// (or are running). Invisible to `list` and `pull`; not an error.
    pub incomplete: Vec<(String, u64)>,
    /// Entries of the store that could not be listed (see [`Listing`]).
    pub bad_entries: Vec<String>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.bad_entries.is_empty()
    }
}

impl Registry {
    /// Every published version with a readable manifest, of every model or
    /// only of `name`, sorted by name then version. Versions and entries
    /// that cannot be read are left out: [`Registry::list_checked`] reports
    /// them.
    pub fn list(&self, name: Option<&str>) -> Result<Vec<VersionInfo>, RegistryError> {
        self.list_checked(name).map(|listing| listing.versions)
    }

    /// Every published version, of every model or only of `name`, with its
    /// manifest, sorted by name then version; a version whose manifest is
    /// refused, and an entry that cannot be listed, is reported in the
    /// [`Listing`] and the rest is still listed. Only failures of the store
    /// itself (unreachable, credentials, missing bucket) are errors.
    pub fn list_checked(&self, name: Option<&str>) -> Result<Listing, RegistryError> {
        if let Some(name) = name {
            check_name(name)?;
        }
        self.block_on(async {
            let scan = self.scan(name).await?;
            if let Some(name) = name {
                if !scan.models.contains_key(name) {
                    return Err(self.no_such_model(name));
                }
            }
            let wanted: Vec<(String, u64)> = scan
                .models
                .iter()
                .flat_map(|(n, v)| v.published.iter().map(move |&k| (n.clone(), k)))
                .collect();
            let read: Vec<_> = futures_util::stream::iter(wanted)
                .map(|(name, version)| async move {
                    let manifest = self.manifest(&name, version).await;
                    (name, version, manifest)
                })
                .buffered(CONCURRENT_READS)
                .collect()
                .await;
            let mut listing = Listing {
                bad_entries: scan.bad_entries,
                ..Listing::default()
            };
            for (name, version, manifest) in read {
                match manifest {
                    Ok(manifest) => listing.versions.push(VersionInfo {
                        name,
                        version,
                        manifest,
                    }),
                    Err(e) if is_entry_problem(&e) => listing.problems.push(Problem {
                        name,
                        version,
                        file: MANIFEST.into(),
                        error: e.to_string(),
                    }),
                    Err(e) => return Err(e),
                }
            }
            Ok(listing)
        })
    }

    /// The manifest `reference` means: `Exact(N)` that version, `Latest` the
    /// highest published one.
    pub fn resolve(&self, name: &str, version: VersionRef) -> Result<Manifest, RegistryError> {
        check_name(name)?;
        self.block_on(self.resolve_async(name, version))
    }

    pub(crate) async fn resolve_async(
        &self,
        name: &str,
        version: VersionRef,
    ) -> Result<Manifest, RegistryError> {
        let versions = self
            .scan(Some(name))
            .await?
            .models
            .remove(name)
            .unwrap_or_default();
        let chosen = match version {
            VersionRef::Exact(n) if versions.published.contains(&n) => n,
            VersionRef::Latest if !versions.published.is_empty() => {
                versions.published[versions.published.len() - 1]
            }
            VersionRef::Exact(n) if !versions.published.is_empty() => {
                return Err(self.no_such_version(name, n, &versions))
            }
            // Nothing published (at most interrupted pushes): no such model.
            _ => return Err(self.no_such_model(name)),
        };
        self.manifest(name, chosen).await
    }

    /// Reads and checks the manifest of `name` `version`.
    pub(crate) async fn manifest(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Manifest, RegistryError> {
        let at = self.layout.file(name, version, MANIFEST);
        self.refuse_links(&at)?;
        let mut bytes = Vec::new();
        self.read_bounded(&at, MAX_MANIFEST_LEN, &mut bytes).await?;
        Manifest::parse(&bytes, &self.describe(&at), name, version)
    }

    /// Streams the object at `at` into `sink`, refusing more than `limit` bytes.
    async fn read_bounded(
        &self,
        at: &Path,
        limit: u64,
        sink: &mut Vec<u8>,
    ) -> Result<(), RegistryError> {
        let got = self
            .at
            .store
            .get(at)
            .await
            .map_err(self.fail(&format!("reading {at}")))?;
        if got.meta.size > limit {
            return Err(RegistryError::TooLarge {
                what: self.describe(at),
                size: got.meta.size,
                limit,
            });
        }
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.fail(&format!("reading {at}")))?;
            if (sink.len() + chunk.len()) as u64 > limit {
                return Err(RegistryError::TooLarge {
                    what: self.describe(at),
                    size: (sink.len() + chunk.len()) as u64,
                    limit,
                });
            }
            sink.extend_from_slice(&chunk);
        }
        Ok(())
    }

    /// Streams file `entry` of `name` `version` into `sink`, checking its
    /// size and SHA-256 against the manifest; never reads past the size the
    /// manifest declares.
    pub(crate) async fn fetch_checked(
        &self,
        name: &str,
        version: u64,
        entry: &FileEntry,
        sink: &mut dyn Write,
    ) -> Result<(), RegistryError> {
        let at = self.layout.file(name, version, &entry.path);
        self.refuse_links(&at)?;
        let location = self.describe(&at);
        let size_error = |actual: u64| RegistryError::SizeMismatch {
            location: location.clone(),
            expected: entry.size,
            actual,
            kind: if actual < entry.size {
                "truncated"
            } else {
                "longer than published"
            },
        };
        let got = self
            .at
            .store
            .get(&at)
            .await
            .map_err(self.fail(&format!("reading {at}")))?;
        if got.meta.size != entry.size {
            return Err(size_error(got.meta.size));
        }
        let mut hasher = Sha256::new();
        let mut seen = 0u64;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.fail(&format!("reading {at}")))?;
            seen += chunk.len() as u64;
            if seen > entry.size {
                return Err(size_error(seen));
            }
            hasher.update(&chunk);
            sink.write_all(&chunk)
                .map_err(RegistryError::io("download buffer"))?;
        }
        if seen != entry.size {
            return Err(size_error(seen));
        }
        let actual = hex(&hasher.finalize());
        if actual != entry.sha256 {
            return Err(RegistryError::HashMismatch {
                location,
                expected: entry.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Re-hashes every file of every published version (of `name`, or of
    /// all models) and reports those that differ from their manifests.
    pub fn verify(&self, name: Option<&str>) -> Result<VerifyReport, RegistryError> {
        if let Some(name) = name {
            check_name(name)?;
        }
        self.block_on(async {
            let scan = self.scan(name).await?;
            if let Some(name) = name {
                if !scan.models.contains_key(name) {
                    return Err(self.no_such_model(name));
                }
            }
            let mut report = VerifyReport {
                bad_entries: scan.bad_entries,
                ..VerifyReport::default()
            };
            for (name, versions) in &scan.models {
                report
                    .incomplete
                    .extend(versions.incomplete.iter().map(|&v| (name.clone(), v)));
                for &version in &versions.published {
                    report.versions += 1;
                    self.verify_version(name, version, &mut report).await?;
                }
            }
            Ok(report)
        })
    }

    async fn verify_version(
        &self,
        name: &str,
        version: u64,
        report: &mut VerifyReport,
    ) -> Result<(), RegistryError> {
        let problem = |file: &str, e: RegistryError| Problem {
            name: name.to_string(),
            version,
            file: file.to_string(),
            error: e.to_string(),
        };
        let manifest = match self.manifest(name, version).await {
            Ok(m) => m,
            Err(e) if is_entry_problem(&e) => {
                report.problems.push(problem(MANIFEST, e));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for entry in &manifest.files {
            report.files += 1;
            // The native file is kept to check that the manifest describes it.
            let (mut model, mut discard) = (Vec::new(), std::io::sink());
            let sink: &mut dyn Write = if entry.path == FOREST_FILE {
                &mut model
            } else {
                &mut discard
            };
            match self.fetch_checked(name, version, entry, sink).await {
                Ok(()) => {
                    report.bytes += entry.size;
                    if entry.path == FOREST_FILE {
                        if let Err(e) = check_describes(
                            &manifest,
                            &model,
                            &self.describe(&self.layout.file(name, version, MANIFEST)),
                        ) {
                            report.problems.push(problem(MANIFEST, e));
                        }
                    }
                }
                Err(
                    e @ (RegistryError::HashMismatch { .. }
                    | RegistryError::SizeMismatch { .. }
                    | RegistryError::BadEntry { .. }),
                ) => report.problems.push(problem(&entry.path, e)),
                Err(RegistryError::Store { detail, .. }) if is_not_found(&detail) => {
                    report.problems.push(problem(
                        &entry.path,
                        RegistryError::Store {
                            url: self.at.url.clone(),
                            operation: format!("reading {}", entry.path),
                            detail: "the object is missing".into(),
                        },
                    ))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One listing of the store: for each model name (or only `only`), the
    /// versions published and those taken without a manifest.
    pub(crate) async fn scan(&self, only: Option<&str>) -> Result<Scan, RegistryError> {
        let root = match only {
            Some(name) => self.layout.model(name),
            None => self.layout.root().clone(),
        };
        let mut found = Found::new();
        let mut bad_entries = Vec::new();
        self.scan_under(&root, only, &mut found, &mut bad_entries)
            .await?;
        if !bad_entries.is_empty() && only.is_none() && self.at.backend != Backend::Local {
            // On a cloud store, one malformed key (`x//y`, `a/../b`) makes
            // object_store drop the whole page of a listing. Listed model
            // by model, only the page of the model holding it is lost.
            if let Ok(listed) = self.at.store.list_with_delimiter(Some(&root)).await {
                let (mut by_name, mut bad_by_name) = (Found::new(), Vec::new());
                for prefix in &listed.common_prefixes {
                    match prefix.filename() {
                        Some(name) if check_name(name).is_ok() => {
                            self.scan_under(prefix, Some(name), &mut by_name, &mut bad_by_name)
                                .await?
                        }
                        _ => {}
                    }
                }
                (found, bad_entries) = (by_name, bad_by_name);
            }
        }
        let models = found
            .into_iter()
            .map(|(name, versions)| {
                let mut v = Versions::default();
                for (version, published) in versions {
                    if published {
                        v.published.push(version);
                    } else {
                        v.incomplete.push(version);
                    }
                }
                (name, v)
            })
            .collect();
        Ok(Scan {
            models,
            bad_entries,
        })
    }

    /// Lists everything below `root` into `found` (only model `only`, if
    /// given); entries that cannot be listed go to `bad_entries`.
    async fn scan_under(
        &self,
        root: &Path,
        only: Option<&str>,
        found: &mut Found,
        bad_entries: &mut Vec<String>,
    ) -> Result<(), RegistryError> {
        let mut stream = self.at.store.list(Some(root));
        while let Some(meta) = stream.next().await {
            let meta = match meta {
                Ok(meta) => meta,
                // A folder without that model: nothing there. (On a cloud
                // store, not found means the bucket or container is missing.)
                Err(object_store::Error::NotFound { .. }) if self.at.backend == Backend::Local => {
                    break
                }
                Err(e) => match self.fail(&format!("listing {root}"))(e) {
                    // One unreadable entry does not hide the others.
                    RegistryError::Store { detail, .. } if bad_entries.len() < MAX_BAD_ENTRIES => {
                        bad_entries.push(format!("{}: {}", self.describe(root), detail));
                        continue;
                    }
                    e => return Err(e),
                },
            };
            let Some(parts) = self.layout.relative(&meta.location) else {
                continue;
            };
            let [name, version, file] = parts.as_slice() else {
                continue;
            };
            let (name, file) = (name.as_ref(), file.as_ref());
            let Some(version) = parse_version(version.as_ref()) else {
                continue;
            };
            if check_name(name).is_err() || only.is_some_and(|o| o != name) {
                continue;
            }
            let published = found
                .entry(name.to_string())
                .or_default()
                .entry(version)
                .or_insert(false);
            // Any object (claim, model file) marks the number as taken; only
            // the manifest makes the version published.
            *published |= file == MANIFEST;
        }
        Ok(())
    }

    /// In a folder registry, refuses `at` when it, or a folder it is in
    /// below the registry's root, is a symbolic link: a link may point out
    /// of the registry, to a file of the reader's or writer's machine.
    pub(crate) fn refuse_links(&self, at: &Path) -> Result<(), RegistryError> {
        let Some(root) = &self.at.root else {
            return Ok(());
        };
        let mut path = root.clone();
        for part in at.parts() {
            path.push(part.as_ref());
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(RegistryError::BadEntry {
                        location: path.display().to_string(),
                        reason: "is a symbolic link; a folder registry refuses links, \
                                 which may point out of it"
                            .into(),
                    })
                }
                Ok(_) => {}
                Err(_) => break, // nothing further exists
            }
        }
        Ok(())
    }

    /// `URL/PATH-BELOW-PREFIX` for messages.
    pub(crate) fn describe(&self, at: &Path) -> String {
        let below = self
            .layout
            .relative(at)
            .map(|parts| {
                parts
                    .iter()
                    .map(|p| p.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|| at.to_string());
        format!("{}/{below}", self.at.url.trim_end_matches('/'))
    }

    pub(crate) fn no_such_model(&self, name: &str) -> RegistryError {
        RegistryError::NoSuchModel {
            name: name.to_string(),
            url: self.at.url.clone(),
        }
    }

    fn no_such_version(&self, name: &str, version: u64, versions: &Versions) -> RegistryError {
        let available = if versions.published.is_empty() {
            "none published".to_string()
        } else {
            versions
                .published
                .iter()
                .map(|v| format!("v{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        RegistryError::NoSuchVersion {
            name: name.to_string(),
            version,
            url: self.at.url.clone(),
            available,
        }
    }
}

/// Errors that concern one entry of the registry (its manifest or a file),
/// not the store: reported, and the rest is still read.
fn is_entry_problem(e: &RegistryError) -> bool {
    match e {
        RegistryError::ForeignManifest { .. }
        | RegistryError::TooLarge { .. }
        | RegistryError::BadEntry { .. } => true,
        RegistryError::Store { detail, .. } => !is_transient(detail),
        _ => false,
    }
}

/// Whether a store failure may be the store's rather than the entry's.
fn is_transient(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("timed out") || lower.contains("connection") || lower.contains("status code: 5")
}

/// Checks that `manifest` (at `location`) describes the native file
/// `model`: a manifest whose task, features, classes, trees or source were
/// rewritten is refused even when every file hash matches.
pub(crate) fn check_describes(
    manifest: &Manifest,
    model: &[u8],
    location: &str,
) -> Result<(), RegistryError> {
    let foreign = |reason: String| RegistryError::ForeignManifest {
        location: location.to_string(),
        reason,
    };
    let forest = crate::store::from_bytes(model)
        .map_err(|e| foreign(format!("{FOREST_FILE} cannot be read: {e}")))?;
    match manifest.mismatch_with(&forest) {
        Some(why) => Err(foreign(why)),
        None => Ok(()),
    }
}

fn is_not_found(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("not found") || lower.contains("404")
}
