//! Versioned model names: `NAME_vN_YYYYMMDD_HHMMSS.forest` in one folder.

use std::path::{Path, PathBuf};

use time::macros::format_description;
use time::OffsetDateTime;

use super::encode;
use super::error::StoreError;
use super::metadata::SaveOptions;
use crate::atomic::{self, Existing};
use crate::ir::Forest;

/// File extension of model files.
pub const EXTENSION: &str = "forest";

/// One saved version of a named model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelVersion {
    /// Version number, from 1.
    pub version: u64,
    /// UTC time of saving as `YYYYMMDD_HHMMSS`, from the file name.
    pub timestamp: String,
    /// The file.
    pub path: PathBuf,
}

/// Saves `forest` in `dir` as `NAME_vN_YYYYMMDD_HHMMSS.forest` (UTC), N one
/// above the highest version of `name` already there (1 for the first), and
/// returns the path written. The write is atomic and never replaces a file.
///
/// `name` may hold ASCII letters, digits, `.`, `_` and `-`, and must not
/// start with `.`.
///
/// Concurrent saves of one name, from any number of threads or processes,
/// get distinct versions: N is allocated by creating the empty claim file
/// `.forest2onnx-claims/NAME_vN` in `dir` exclusively (`O_CREAT | O_EXCL`),
/// which exactly one saver can do. Claims stay (one hidden folder holds
/// them all); a saver that dies between its claim and its write leaves a
/// gap in the numbers, never a duplicate.
pub fn save_versioned(
    forest: &Forest,
    dir: impl AsRef<Path>,
    name: &str,
    opts: &SaveOptions,
) -> Result<PathBuf, StoreError> {
    check_name(name)?;
    let (bytes, _) = encode::encode(forest, opts)?;
    write_versioned(&bytes, dir, name)
}

/// [`save_versioned`] for a model file already encoded by
/// [`super::to_bytes`] (for example, after [`super::verify`]).
pub fn write_versioned(
    bytes: &[u8],
    dir: impl AsRef<Path>,
    name: &str,
) -> Result<PathBuf, StoreError> {
    let dir = dir.as_ref();
    check_name(name)?;
    let version = claim_next(dir, name)?;
    let path = dir.join(format!("{name}_v{version}_{}.{EXTENSION}", timestamp()));
    atomic::write(&path, bytes, Existing::Keep).map_err(StoreError::io(&path))?;
    Ok(path)
}

/// Most claims tried in one save: far more than concurrent savers, few
/// enough that a folder full of stray claims fails instead of looping.
const MAX_CLAIM_ATTEMPTS: u64 = 10_000;

/// Allocates the next free version of `name` in `dir` by exclusive creation
/// of its claim file.
fn claim_next(dir: &Path, name: &str) -> Result<u64, StoreError> {
    let mut next = versions(dir, name)?.last().map_or(1, |v| v.version + 1);
    let claims = dir.join(CLAIMS);
    std::fs::create_dir_all(&claims).map_err(StoreError::io(&claims))?;
    for _ in 0..MAX_CLAIM_ATTEMPTS {
        let claim = claims.join(format!("{name}_v{next}"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&claim)
        {
            Ok(_) => return Ok(next),
            // Someone holds N (saving now, saved, or died trying): next one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => next += 1,
            Err(e) => return Err(StoreError::io(&claim)(e)),
        }
    }
    Err(StoreError::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "versions {} to {next} of {name:?} are all claimed in {CLAIMS}/",
                next - MAX_CLAIM_ATTEMPTS
            ),
        ),
    })
}

/// The folder, inside a model folder, of the claims of [`save_versioned`].
const CLAIMS: &str = ".forest2onnx-claims";

/// The file of the highest version of `name` in `dir`, or `None` when there
/// is none. Ties (same N) go to the later timestamp.
pub fn latest_version(dir: impl AsRef<Path>, name: &str) -> Result<Option<PathBuf>, StoreError> {
    check_name(name)?;
    Ok(versions(dir.as_ref(), name)?.pop().map(|v| v.path))
}

/// Every version of `name` in `dir`, oldest first (by N, then timestamp).
/// Files that do not follow the naming scheme are ignored.
pub fn versions(dir: impl AsRef<Path>, name: &str) -> Result<Vec<ModelVersion>, StoreError> {
    let dir = dir.as_ref();
    check_name(name)?;
    let io = StoreError::io;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some((version, timestamp)) = parse_name(&file_name, name) {
            if entry.file_type().map(|t| !t.is_dir()).unwrap_or(false) {
                found.push(ModelVersion {
                    version,
                    timestamp: timestamp.to_owned(),
                    path: entry.path(),
                });
            }
        }
    }
    found.sort_by(|a, b| (a.version, &a.timestamp).cmp(&(b.version, &b.timestamp)));
    Ok(found)
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.starts_with('.') || !name.chars().all(ok_char) {
        return Err(StoreError::InvalidOptions(format!(
            "model name {name:?}: use ASCII letters, digits, '.', '_' and '-', not starting with '.'"
        )));
    }
    Ok(())
}

/// `(N, "YYYYMMDD_HHMMSS")` when `file` is `NAME_vN_YYYYMMDD_HHMMSS.forest`.
fn parse_name<'f>(file: &'f str, name: &str) -> Option<(u64, &'f str)> {
    let rest = file.strip_prefix(name)?.strip_prefix("_v")?;
    let rest = rest.strip_suffix(EXTENSION)?.strip_suffix('.')?;
    let (n, stamp) = rest.split_once('_')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (date, clock) = stamp.split_once('_')?;
    if !digits(n) || date.len() != 8 || clock.len() != 6 || !digits(date) || !digits(clock) {
        return None;
    }
    Some((n.parse().ok()?, stamp))
}

fn timestamp() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year][month][day]_[hour][minute][second]"
        ))
        .unwrap_or_else(|_| "00000000_000000".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_strictly() {
        let p = |f| parse_name(f, "iris");
        assert_eq!(
            p("iris_v3_20240102_030405.forest"),
            Some((3, "20240102_030405"))
        );
        assert_eq!(
            p("iris_v12_20240102_030405.forest"),
            Some((12, "20240102_030405"))
        );
        assert_eq!(p("iris_v_20240102_030405.forest"), None);
        assert_eq!(p("iris_v+3_20240102_030405.forest"), None);
        assert_eq!(p("iris_v3_2024010_030405.forest"), None);
        assert_eq!(p("iris_v3_20240102_030405.forest.tmp"), None);
        assert_eq!(p("iris_v1_v3_20240102_030405.forest"), None);
        assert_eq!(p("iris2_v3_20240102_030405.forest"), None);
        assert_eq!(p(".iris_v3_20240102_030405.forest.abc.tmp"), None);
    }

    #[test]
    fn names_are_restricted() {
        for bad in ["", ".hidden", "a/b", "a\\b", "..", "a b", "é"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["iris", "iris-rf_2.0", "A1"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}
