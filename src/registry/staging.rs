//! Where a pull assembles a version before switching it in: a staging
//! folder beside the destination (same file system, so the switch is a
//! rename), held under an exclusive file lock while in use, so that later
//! pulls can tell the leftovers of a killed pull from a running one and
//! remove them.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::RegistryError;
use super::pull::is_pulled_file;

/// A staging folder without its lock file is left alone this long: it may
/// belong to a pull that has just created it.
const UNLOCKED_GRACE: Duration = Duration::from_secs(600);

/// `dir` as an absolute path whose parent exists (created if missing).
pub(crate) fn destination(dir: &Path) -> Result<PathBuf, RegistryError> {
    if let Ok(canonical) = std::fs::canonicalize(dir) {
        return Ok(canonical);
    }
    let name = dir.file_name().ok_or_else(|| RegistryError::Io {
        path: dir.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a folder name"),
    })?;
    let parent = crate::atomic::parent_dir(dir);
    std::fs::create_dir_all(parent).map_err(RegistryError::io(parent))?;
    let parent = std::fs::canonicalize(parent).map_err(RegistryError::io(parent))?;
    Ok(parent.join(name))
}

/// Refuses to replace `dir` unless it is missing, empty, or holds only
/// what a pull writes (and the temporary files of pulls before staging
/// existed): a pull never deletes a file it did not write.
pub(crate) fn check_replaceable(dir: &Path) -> Result<(), RegistryError> {
    let refuse = |reason: String| RegistryError::Io {
        path: dir.to_path_buf(),
        source: io::Error::new(io::ErrorKind::AlreadyExists, reason),
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RegistryError::io(dir)(e)),
        Ok(meta) => meta,
    };
    if !meta.is_dir() {
        return Err(refuse("exists and is not a folder".into()));
    }
    for entry in std::fs::read_dir(dir).map_err(RegistryError::io(dir))? {
        let entry = entry.map_err(RegistryError::io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_pulled_file(&name) && !is_old_temporary(&name) {
            return Err(refuse(format!(
                "holds {name:?}, which a pull did not write; a pull replaces the whole \
                 folder, so pull into a new or empty folder"
            )));
        }
    }
    Ok(())
}

/// `.model.forest.XXXXXX.tmp`: a file a killed pull of an earlier release
/// left behind (it wrote each file in place).
fn is_old_temporary(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.rsplit_once('.'))
        .is_some_and(|(file, _)| is_pulled_file(file))
}

/// A staging folder in use, with its lock.
pub(crate) struct Staging {
    dir: PathBuf,
    lock: PathBuf,
    _held: File,
}

impl Staging {
    /// A new staging folder beside `dest` (`.NAME.pull-XXXXXX`), after
    /// removing those killed pulls of `dest` left.
    pub(crate) fn new(dest: &Path) -> Result<Staging, RegistryError> {
        let parent = crate::atomic::parent_dir(dest);
        let prefix = staging_prefix(dest);
        remove_stale(parent, &prefix);
        // The lock first, then the folder: a folder without its lock file
        // exists only while it is being deleted.
        let (held, lock) = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".lock")
            .tempfile_in(parent)
            .and_then(|f| f.keep().map_err(|e| e.error))
            .map_err(RegistryError::io(parent))?;
        held.lock().map_err(RegistryError::io(&lock))?;
        let dir = folder_of(&lock);
        if let Err(e) = std::fs::create_dir(&dir) {
            let _ = std::fs::remove_file(&lock);
            return Err(RegistryError::io(&dir)(e));
        }
        Ok(Staging {
            dir,
            lock,
            _held: held,
        })
    }

    /// The staging folder.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// Makes the staged version `dest`'s content in one step: a rename
    /// when `dest` is missing, else an atomic exchange (Linux), or two
    /// renames elsewhere. The previous content is then deleted.
    pub(crate) fn switch_into(self, dest: &Path) -> Result<(), RegistryError> {
        let staged = self.dir.as_path();
        crate::atomic::sync_dir(staged);
        let exists = std::fs::symlink_metadata(dest).is_ok();
        if exists {
            check_replaceable(dest)?;
            exchange(staged, dest).map_err(RegistryError::io(dest))?;
        } else {
            std::fs::rename(staged, dest).map_err(RegistryError::io(dest))?;
        }
        crate::atomic::sync_dir(crate::atomic::parent_dir(dest));
        // Dropping `self` deletes what is now at the staging path: the
        // previous version (or nothing, after a plain rename).
        Ok(())
    }
}

impl Drop for Staging {
    /// The folder goes (whatever it holds now), then its lock file.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.lock);
    }
}

fn staging_prefix(dest: &Path) -> String {
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    format!(".{name}.pull-")
}

fn lock_path(staged: &Path) -> PathBuf {
    let mut name = staged.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// `.NAME.pull-XXXXXX` of the lock file `.NAME.pull-XXXXXX.lock`.
fn folder_of(lock: &Path) -> PathBuf {
    lock.with_extension("")
}

/// Removes the staging folders (and lock files) of `prefix` in `parent`
/// that no running pull holds. Best effort: a failure leaves a stray
/// folder, never a wrong one.
fn remove_stale(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        if name.ends_with(".lock") {
            // A lock nobody holds: its pull is gone, and so is its folder.
            let free = File::open(&path).is_ok_and(|f| f.try_lock().is_ok());
            if free {
                let _ = std::fs::remove_dir_all(folder_of(&path));
                let _ = std::fs::remove_file(&path);
            }
        } else if !lock_path(&path).exists() && older_than(&entry, UNLOCKED_GRACE) {
            // A folder whose lock file went first (a pull killed while it
            // deleted them), or not ours.
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn older_than(entry: &std::fs::DirEntry, age: Duration) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|elapsed| elapsed > age)
}

/// Swaps the folders `a` and `b` atomically.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        // A file system without RENAME_EXCHANGE.
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => exchange_by_renames(a, b),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    exchange_by_renames(a, b)
}

/// Two renames: `b` is missing (never mixed) for an instant in between.
fn exchange_by_renames(a: &Path, b: &Path) -> io::Result<()> {
    let mut aside = a.as_os_str().to_owned();
    aside.push(".old");
    let aside = PathBuf::from(aside);
    std::fs::rename(b, &aside)?;
    if let Err(e) = std::fs::rename(a, b) {
        let _ = std::fs::rename(&aside, b);
        return Err(e);
    }
    let _ = std::fs::remove_dir_all(&aside);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pulled_folders_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        check_replaceable(&out).unwrap();
        std::fs::create_dir(&out).unwrap();
        for ok in ["model.forest", "manifest.json", ".model.forest.a1B2c3.tmp"] {
            std::fs::write(out.join(ok), b"x").unwrap();
        }
        check_replaceable(&out).unwrap();
        std::fs::write(out.join("Makefile"), b"x").unwrap();
        let err = check_replaceable(&out).unwrap_err().to_string();
        assert!(err.contains("Makefile"), "{err}");
    }

    #[test]
    fn stale_staging_folders_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let live = Staging::new(&dest).unwrap();
        let dead = dir.path().join(".out.pull-dead");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("model.forest"), b"partial").unwrap();
        std::fs::write(lock_path(&dead), b"").unwrap();
        let next = Staging::new(&dest).unwrap();
        assert!(!dead.exists(), "a killed pull's folder stays");
        assert!(live.path().is_dir(), "a running pull's folder was removed");
        std::fs::write(next.path().join("model.forest"), b"new").unwrap();
        next.switch_into(&dest).unwrap();
        assert_eq!(std::fs::read(dest.join("model.forest")).unwrap(), b"new");
        drop(live);
    }

    #[test]
    fn switching_replaces_the_whole_folder() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let first = Staging::new(&dest).unwrap();
        std::fs::write(first.path().join("model.onnx"), b"v1").unwrap();
        first.switch_into(&dest).unwrap();
        let second = Staging::new(&dest).unwrap();
        std::fs::write(second.path().join("model.forest"), b"v2").unwrap();
        second.switch_into(&dest).unwrap();
        let names: Vec<_> = std::fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["model.forest"]);
        let siblings = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(siblings, 1, "staging leftovers beside the folder");
    }
}
