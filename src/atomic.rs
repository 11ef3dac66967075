//! Crash-safe file writing: the one atomic writer every output goes through
//! (native files, ONNX and PMML exports, the command line's results).
//!
//! Content is written to a temporary file in the destination's folder,
//! flushed to disk, renamed over the destination, and the folder is flushed
//! too. A crash leaves either the old file or the complete new one under the
//! destination, never a partial one (at worst a stray `.NAME.*.tmp` file
//! beside it).

use std::io::{self, BufWriter, Write};
use std::path::Path;

/// What to do when the destination exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Replace it.
    Replace,
    /// Fail with [`io::ErrorKind::AlreadyExists`] and leave it untouched
    /// (the check and the rename are one atomic step).
    Keep,
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8], existing: Existing) -> io::Result<()> {
    write_with(path, existing, |w| w.write_all(bytes))
}

/// Writes what `fill` produces to `path` atomically, streamed through a
/// buffer rather than held in memory. Nothing appears under `path` unless
/// `fill` succeeds; its error is returned as is.
pub fn write_with<T>(
    path: &Path,
    existing: Existing,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<T> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{}.", name.to_string_lossy());
    builder.prefix(&prefix).suffix(".tmp");
    // Like File::create: 0666 less the umask, rather than tempfile's 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir)?;
    let result = {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        let result = fill(&mut w)?;
        w.flush()?;
        result
    };
    tmp.as_file().sync_all()?;
    let persisted = match existing {
        Existing::Replace => tmp.persist(path),
        Existing::Keep => tmp.persist_noclobber(path),
    };
    persisted.map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(result)
}

/// The folder a file is written in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Flushes a rename. Best effort: some systems cannot open or sync a
/// folder, and the data is already safe in the file.
pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_or_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write(&path, b"first", Existing::Replace).unwrap();
        write(&path, b"second", Existing::Replace).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let err = write(&path, b"third", Existing::Keep).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        // A failing producer leaves nothing behind, not even a temporary file.
        let err = write_with(&path, Existing::Replace, |w| {
            w.write_all(b"partial")?;
            Err::<(), _>(io::Error::other("disk on fire"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk on fire"));
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
