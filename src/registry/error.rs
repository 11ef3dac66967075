//! The one error type of the registry, and the translation of object-store
//! failures into errors a user can act on.

use std::path::PathBuf;

use object_store::client::{HttpError, HttpErrorKind};

/// Why a registry operation failed. Every variant names what was involved
/// (URL, model, version, file); nothing is left half-done in a visible way.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry URL cannot be used.
    #[error("registry URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A model name breaks the naming rules.
    #[error(
        "model name {name:?}: {reason} (use ASCII letters, digits, '.', '_' and '-', \
         at most 128, not starting with '.')"
    )]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `NAME[@vN|@latest]` reference cannot be parsed.
    #[error("model reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store could not be reached (connection refused, timed out, DNS).
    #[error("cannot reach the registry at {url}: {detail}")]
    Unreachable {
        /// The registry URL.
        url: String,
        /// The underlying failure.
        detail: String,
    },
    /// The store refused the credentials.
    #[error("the registry at {url} refused the credentials ({detail}); check the access key, secret, token or account key in the environment")]
    Denied {
        /// The registry URL.
        url: String,
        /// The underlying failure.
        detail: String,
    },
    /// The bucket or container does not exist.
    #[error("the bucket or container of {url} does not exist ({detail})")]
    MissingBucket {
        /// The registry URL.
        url: String,
        /// The underlying failure.
        detail: String,
    },
    /// Any other failure of the store.
    #[error("registry at {url}: {operation} failed: {detail}")]
    Store {
        /// The registry URL.
        url: String,
        /// What was being done.
        operation: String,
        /// The underlying failure.
        detail: String,
    },
    /// The store cannot create an object only if it is absent, so versions
    /// cannot be allocated without races: pushing is refused.
    #[error(
        "the registry at {url} cannot create objects exclusively ({detail}); \
         refusing to push, since two pushes could take the same version"
    )]
    NoExclusiveCreate {
        /// The registry URL.
        url: String,
        /// What was observed.
        detail: String,
    },
    /// No model of that name.
    #[error("no model named {name:?} in the registry at {url}")]
    NoSuchModel {
        /// The model name.
        name: String,
        /// The registry URL.
        url: String,
    },
    /// The model exists but not that version.
    #[error("{name} v{version} does not exist in the registry at {url} (versions: {available})")]
    NoSuchVersion {
        /// The model name.
        name: String,
        /// The version asked for.
        version: u64,
        /// The registry URL.
        url: String,
        /// The published versions, e.g. `v1, v2, v5`.
        available: String,
    },
    /// A `manifest.json` that forest2onnx did not write, or that does not
    /// describe the version it is stored under.
    #[error("{location}: not a forest2onnx registry manifest: {reason}")]
    ForeignManifest {
        /// Where the manifest is.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored file's content does not match its manifest.
    #[error("{location}: sha256 is {actual}, the manifest says {expected}: the object was modified or corrupted")]
    HashMismatch {
        /// The object.
        location: String,
        /// Hash from the manifest.
        expected: String,
        /// Hash of the stored bytes.
        actual: String,
    },
    /// A stored file's size does not match its manifest.
    #[error(
        "{location}: {actual} bytes stored, the manifest says {expected}: the object is {kind}"
    )]
    SizeMismatch {
        /// The object.
        location: String,
        /// Size from the manifest.
        expected: u64,
        /// Bytes found (at least this many when longer).
        actual: u64,
        /// `truncated` or `longer than published`.
        kind: &'static str,
    },
    /// A pinned file in the lock file does not match what the registry holds.
    #[error("{0}")]
    Locked(String),
    /// The lock file cannot be read.
    #[error("lock file {}: {reason}", path.display())]
    BadLockFile {
        /// The lock file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Something is larger than the registry accepts.
    #[error("{what} is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// What is too large.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// No free version number was found after many attempts.
    #[error("could not allocate a version of {name:?} after {attempts} attempts (versions up to v{last} are taken)")]
    AllocationGaveUp {
        /// The model name.
        name: String,
        /// Attempts made.
        attempts: u32,
        /// Last version tried.
        last: u64,
    },
    /// Every version number of a model is taken (the highest, v18446744073709551615, exists).
    #[error(
        "{name:?} has no free version number: v{max} is taken, and numbers are never reused",
        max = u64::MAX
    )]
    VersionsExhausted {
        /// The model name.
        name: String,
    },
    /// An entry of the registry cannot be read (a malformed key, a symbolic
    /// link, a loop); the rest of the registry is still listed.
    #[error("{location}: {reason}")]
    BadEntry {
        /// Where it is.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The blocking API was called from inside an async runtime.
    #[error("forest2onnx::registry is blocking; call it outside an async runtime (e.g. in tokio::task::spawn_blocking)")]
    InsideAsyncRuntime,
}

impl RegistryError {
    /// An I/O error on a local path.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| RegistryError::Io { path, source }
    }
}

/// Translates an object-store failure during `operation` on the registry at
/// `url` into the variant a user can act on.
pub(crate) fn from_store(url: &str, operation: &str, e: object_store::Error) -> RegistryError {
    let detail = chain(&e);
    let url = url.to_string();
    if let Some(kind) = http_kind(&e) {
        if matches!(kind, HttpErrorKind::Connect | HttpErrorKind::Timeout) {
            return RegistryError::Unreachable { url, detail };
        }
    }
    let lower = detail.to_ascii_lowercase();
    if lower.contains("nosuchbucket")
        || lower.contains("containernotfound")
        || lower.contains("bucket does not exist")
        || lower.contains("no bucket named")
        || lower.contains("no such bucket")
    {
        return RegistryError::MissingBucket { url, detail };
    }
    match e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => RegistryError::Denied { url, detail },
        _ if status_in(&lower, &["401", "403"]) => RegistryError::Denied { url, detail },
        object_store::Error::NotImplemented { .. } => {
            RegistryError::NoExclusiveCreate { url, detail }
        }
        _ => RegistryError::Store {
            url,
            operation: operation.to_string(),
            detail,
        },
    }
}

/// The kind of the HTTP failure behind `e`, if any.
fn http_kind(e: &object_store::Error) -> Option<HttpErrorKind> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(http) = err.downcast_ref::<HttpError>() {
            return Some(http.kind());
        }
        next = err.source();
    }
    None
}

/// Whether an object-store message reports one of these HTTP status codes.
/// object_store does not expose the status of every failure as a type, but
/// always prints it as `status code: NNN`.
fn status_in(lower: &str, codes: &[&str]) -> bool {
    codes
        .iter()
        .any(|c| lower.contains(&format!("status code: {c}")))
}

/// The error and its sources on one line, without repeating a source that its
/// parent already printed.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(err) = next {
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = err.source();
    }
    text
}
