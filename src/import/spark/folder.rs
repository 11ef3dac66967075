//! A saved model folder as one byte string.
//!
//! Spark writes a model as a folder (`metadata/`, `data/`, `treesMetadata/`,
//! and `stages/<i>_<uid>/…` for pipelines). [`pack`] reads the files that
//! matter into one buffer (a magic line, then `name length (u32 LE), name,
//! data length (u64 LE), data` per file) so that format detection, the
//! importer and the fuzz target all work on bytes, as for every other
//! format; [`unpack`] reads it back without copying.

use std::path::Path;

use super::SparkError;

/// First bytes of a packed folder.
pub const MAGIC: &[u8] = b"forest2onnx packed Spark ML model folder\n";

/// Largest packed folder (1 GiB): model folders hold a few Parquet files.
pub const MAX_BYTES: u64 = 1 << 30;

/// Most files read from one folder (pipelines have one folder per stage).
const MAX_FILES: usize = 4096;

/// Deepest folder nesting read (`stages/<i>_<uid>/data/part-…`).
const MAX_DEPTH: usize = 4;

/// Whether `dir` looks like a saved Spark ML model: a `metadata` folder
/// whose first part file names a Spark ML class.
pub fn is_model_folder(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir.join("metadata")) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.starts_with("part-")
            && std::fs::read(e.path()).is_ok_and(|b| {
                b.windows(26)
                    .take(512)
                    .any(|w| w == b"\"class\":\"org.apache.spark.")
            })
    })
}

/// Reads the files of the model folder `dir` into one packed buffer,
/// skipping Hadoop's bookkeeping files (`_SUCCESS`, `.crc` checksums).
pub fn pack(dir: &Path) -> Result<Vec<u8>, SparkError> {
    let mut files = Vec::new();
    collect(dir, "", 0, &mut files)?;
    files.sort();
    let mut out = MAGIC.to_vec();
    for name in files {
        let path = dir.join(&name);
        let data = std::fs::read(&path).map_err(|source| SparkError::Io {
            path: path.display().to_string(),
            source,
        })?;
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(&data);
        if out.len() as u64 > MAX_BYTES {
            return Err(SparkError::NotAModel(format!(
                "the folder holds over {MAX_BYTES} bytes"
            )));
        }
    }
    Ok(out)
}

fn collect(
    root: &Path,
    prefix: &str,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), SparkError> {
    let dir = root.join(prefix);
    let io = |source| SparkError::Io {
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(&dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            if depth + 1 < MAX_DEPTH {
                collect(root, &rel, depth + 1, out)?;
            }
        } else if kind.is_file() && depth > 0 {
            if out.len() == MAX_FILES {
                return Err(SparkError::NotAModel(format!(
                    "the folder holds over {MAX_FILES} files"
                )));
            }
            out.push(rel);
        }
    }
    Ok(())
}

/// Whether `bytes` are a packed folder.
pub fn sniff(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The files of a packed folder: `(path, content)` in path order.
pub fn unpack(bytes: &[u8]) -> Result<Vec<(&str, &[u8])>, SparkError> {
    let mut rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| SparkError::NotAModel("not a packed model folder".into()))?;
    let broken =
        |what: &str| SparkError::NotAModel(format!("the packed folder is cut short in {what}"));
    let mut files: Vec<(&str, &[u8])> = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = take(rest, 4).ok_or_else(|| broken("a name length"))?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let (name, tail) = take(tail, len).ok_or_else(|| broken("a name"))?;
        let name = std::str::from_utf8(name)
            .map_err(|_| SparkError::NotAModel("a file name is not UTF-8".into()))?;
        let (len, tail) = take(tail, 8).ok_or_else(|| broken("a file length"))?;
        let len = usize::try_from(u64::from_le_bytes(len.try_into().expect("8 bytes")))
            .map_err(|_| broken(name))?;
        let (data, tail) = take(tail, len).ok_or_else(|| broken(name))?;
        if files.last().is_some_and(|(last, _)| *last >= name) {
            return Err(SparkError::NotAModel(format!(
                "the packed folder lists `{name}` out of order"
            )));
        }
        files.push((name, data));
        rest = tail;
    }
    Ok(files)
}

fn take(bytes: &[u8], n: usize) -> Option<(&[u8], &[u8])> {
    (n <= bytes.len()).then(|| bytes.split_at(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_packs_and_unpacks_without_bookkeeping_files() {
        let dir = tempfile::tempdir().unwrap();
        let meta = dir.path().join("metadata");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("part-00000"),
            br#"{"class":"org.apache.spark.x"}"#,
        )
        .unwrap();
        std::fs::write(meta.join("_SUCCESS"), b"").unwrap();
        std::fs::write(meta.join(".part-00000.crc"), b"crc").unwrap();
        std::fs::write(dir.path().join("top-level-file"), b"ignored").unwrap();
        assert!(is_model_folder(dir.path()));
        let packed = pack(dir.path()).unwrap();
        assert!(sniff(&packed));
        let files = unpack(&packed).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, "metadata/part-00000");
        for cut in 0..packed.len() - MAGIC.len() {
            let short = &packed[..packed.len() - cut - 1];
            if short.len() >= MAGIC.len() && short.len() > MAGIC.len() {
                assert!(unpack(short).is_err(), "cut {cut}");
            }
        }
    }
}
