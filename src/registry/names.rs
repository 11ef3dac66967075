//! Model names, `NAME[@vN|@latest]` references, and where things live in the
//! store (`PREFIX/NAME/vN/FILE`).

use object_store::path::Path;

use super::error::RegistryError;

/// Longest model name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// The manifest's file name in a version folder; written last.
pub const MANIFEST: &str = "manifest.json";
/// The claim's file name: created exclusively to take a version number.
pub const CLAIM: &str = "claim.json";

/// Checks a model name: ASCII letters, digits, `.`, `_`, `-`; not empty, not
/// starting with `.` (so never `.` or `..`), at most [`MAX_NAME_LEN`].
pub fn check_name(name: &str) -> Result<(), RegistryError> {
    let bad = |reason| {
        Err(RegistryError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("too long");
    }
    if name.starts_with('.') {
        return bad("starts with '.'");
    }
    if name.contains('/') || name.contains('\\') {
        return bad("contains a path separator");
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !name.chars().all(ok) {
        return bad("contains a character other than ASCII letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

/// Which version a reference asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionRef {
    /// The highest published version.
    Latest,
    /// Exactly this version.
    Exact(u64),
}

impl std::fmt::Display for VersionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionRef::Latest => f.write_str("latest"),
            VersionRef::Exact(v) => write!(f, "v{v}"),
        }
    }
}

/// A parsed `NAME[@vN|@latest]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRef {
    /// The model name (checked).
    pub name: String,
    /// The version asked for; `None` when the reference names none (latest,
    /// or the pinned version under `--locked`).
    pub version: Option<VersionRef>,
}

impl std::str::FromStr for ModelRef {
    type Err = RegistryError;

    fn from_str(reference: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| RegistryError::InvalidReference {
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        let (name, version) = match reference.split_once('@') {
            None => (reference, None),
            Some((name, "latest")) => (name, Some(VersionRef::Latest)),
            Some((name, v)) => {
                let n = parse_version(v)
                    .ok_or_else(|| bad("the version must be vN (N from 1) or latest"))?;
                (name, Some(VersionRef::Exact(n)))
            }
        };
        check_name(name)?;
        Ok(ModelRef {
            name: name.to_string(),
            version,
        })
    }
}

/// `N` from `vN` (N ≥ 1, decimal, no sign, no leading zero).
pub fn parse_version(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('v')?;
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then(|| digits.parse().ok()).flatten()
}

/// Where a registry's objects are: everything below `prefix`.
#[derive(Clone, Debug)]
pub struct Layout {
    prefix: Path,
}

impl Layout {
    /// The layout under `prefix` (empty: the bucket's root).
    pub fn new(prefix: Path) -> Self {
        Layout { prefix }
    }

    /// `PREFIX/`.
    pub fn root(&self) -> &Path {
        &self.prefix
    }

    /// `PREFIX/NAME/`.
    pub fn model(&self, name: &str) -> Path {
        self.prefix.clone().join(name)
    }

    /// `PREFIX/NAME/vN/`.
    pub fn version(&self, name: &str, version: u64) -> Path {
        self.model(name).join(format!("v{version}"))
    }

    /// `PREFIX/NAME/vN/FILE`.
    pub fn file(&self, name: &str, version: u64, file: &str) -> Path {
        self.version(name, version).join(file)
    }

    /// `PREFIX/.forest2onnx/PROBE`: scratch objects of the exclusive-create check.
    pub fn probe(&self, id: &str) -> Path {
        self.prefix.clone().join(".forest2onnx").join(id)
    }

    /// The parts of `location` below the prefix, when it is below it.
    pub fn relative<'a>(
        &self,
        location: &'a Path,
    ) -> Option<Vec<object_store::path::PathPart<'a>>> {
        location
            .prefix_match(&self.prefix)
            .map(|parts| parts.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_restricted() {
        for bad in [
            "", ".", "..", ".hidden", "a/b", "../x", "a\\b", "a b", "é", "a@b",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(129)).is_err());
        for good in ["iris", "iris-rf_2.0", "A1", "a..b", &"x".repeat(128)] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn references_parse_strictly() {
        let r = |s: &str| s.parse::<ModelRef>();
        assert_eq!(r("iris").unwrap().version, None);
        assert_eq!(r("iris@latest").unwrap().version, Some(VersionRef::Latest));
        assert_eq!(r("iris@v12").unwrap().version, Some(VersionRef::Exact(12)));
        for bad in [
            "iris@",
            "iris@12",
            "iris@v0",
            "iris@v01",
            "iris@v-1",
            "iris@V2",
            "iris@v1@v2",
            "@v1",
            "../x@v1",
            "iris@v99999999999999999999",
        ] {
            assert!(r(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn layout_paths() {
        let layout = Layout::new(Path::from("team/models"));
        assert_eq!(
            layout.file("iris", 3, MANIFEST).as_ref(),
            "team/models/iris/v3/manifest.json"
        );
        let root = Layout::new(Path::default());
        assert_eq!(root.version("iris", 1).as_ref(), "iris/v1");
    }
}
