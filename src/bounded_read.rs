//! The one way this crate reads a whole file into memory: the file must be
//! a regular file (after following symbolic links) no larger than a cap,
//! and is read with that cap, into a buffer reserved fallibly.
//!
//! `std::fs::read` trusts whatever the path names: `/dev/zero`, a FIFO or
//! `/proc/kcore` read until memory runs out. Every whole-file read (model
//! files in `load`, `inspect` and `registry push`, native files, ONNX
//! files, the Python package's `load`, lock files) goes through [`read`].

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Largest model file read whole: the native format's largest payload, and
/// the largest file a registry version may hold.
pub const MAX_MODEL_FILE_LEN: u64 = 64 << 30;

/// Opens `path` for reading when it is a regular file of at most `limit`
/// bytes, and returns it with its size. The type and size are those of
/// the opened file (no race with a rename in between).
pub fn open(path: &Path, limit: u64) -> io::Result<(File, u64)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a folder, not a file",
        ));
    }
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "is not a regular file (a {}); only regular files are read",
                kind_of(&meta)
            ),
        ));
    }
    if meta.len() > limit {
        return Err(too_large(meta.len(), limit));
    }
    Ok((file, meta.len()))
}

/// Reads the regular file at `path`, refusing anything else and anything
/// over `limit` bytes (also when the file grows while it is read). Memory
/// for the content is reserved fallibly: too little memory is an error, not
/// an abort.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let (file, size) = open(path, limit)?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(size as usize).map_err(|e| {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("cannot hold {size} bytes in memory: {e}"),
        )
    })?;
    // One byte more than the cap tells a file that grew past it.
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64, limit));
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

fn too_large(size: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("is {size} bytes or more, over the limit of {limit}"),
    )
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() {
            return "character device";
        }
        if t.is_block_device() {
            return "block device";
        }
        if t.is_fifo() {
            return "named pipe";
        }
        if t.is_socket() {
            return "socket";
        }
    }
    let _ = meta;
    "special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_within_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read(&path, 5).unwrap(), b"hello");
        let err = read(&path, 4).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge, "{err}");
        let err = read(dir.path(), 100).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory, "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_links_to_them_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("m.forest");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        for path in [Path::new("/dev/zero"), link.as_path()] {
            let err = read(path, MAX_MODEL_FILE_LEN).unwrap_err();
            assert!(err.to_string().contains("character device"), "{err}");
        }
    }
}
