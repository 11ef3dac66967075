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
/// start with `.`. Two processes saving the same name at the same moment
/// may both pick the same N (under different names if their seconds differ).
pub fn save_versioned(
    forest: &Forest,
    dir: impl AsRef<Path>,
    name: &str,
    opts: &SaveOptions,
) -> Result<PathBuf, StoreError> {
    let dir = dir.as_ref();
    check_name(name)?;
    let (bytes, _) = encode::encode(forest, opts)?;
    // A clash means someone else just took this name: look again.
    for _ in 0..8 {
        let next = versions(dir, name)?.last().map_or(1, |v| v.version + 1);
        let path = dir.join(format!("{name}_v{next}_{}.{EXTENSION}", timestamp()));
        match atomic::write(&path, &bytes, Existing::Keep) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io(&path)(e)),
            Ok(()) => return Ok(path),
        }
    }
    Err(StoreError::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("could not find a free version number for {name:?}"),
        ),
    })
}

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
