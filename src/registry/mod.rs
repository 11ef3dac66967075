//! A model registry on a local folder or an object store (S3 and
//! S3-compatible servers, Google Cloud Storage, Azure Blob Storage): publish
//! numbered versions of a model, list them, pull one with every byte
//! verified, and pin what you pulled in a lock file.
//!
//! Layout (specified in `docs/REGISTRY.md`):
//!
//! ```text
//! PREFIX/NAME/vN/claim.json      taken first, exclusively: allocates N
//! PREFIX/NAME/vN/model.forest    the native file
//! PREFIX/NAME/vN/model.onnx      optional, validated ONNX
//! PREFIX/NAME/vN/manifest.json   written last: the version exists once it does
//! ```
//!
//! Guarantees: a version number is taken with the store's conditional create
//! (`PutMode::Create`), so concurrent pushes get distinct numbers and never
//! overwrite each other; a store that cannot create exclusively is detected
//! and refused. A version is visible only when its manifest is, and the
//! manifest is uploaded after every file: an interrupted push leaves no
//! visible version (its number stays taken). Pulls check size and SHA-256 of
//! every file before writing anything.
//!
//! ```no_run
//! # fn demo() -> Result<(), forest2onnx::registry::RegistryError> {
//! use forest2onnx::registry::Registry;
//! let registry = Registry::open("s3://models/team")?;
//! let bytes = std::fs::read("iris.forest").unwrap();
//! let pushed = registry.push("iris", bytes, Vec::new(), Default::default())?;
//! println!("pushed iris v{} sha256:{}", pushed.version, pushed.sha256);
//! let pulled = registry.pull(&"iris@latest".parse()?, "models/iris".as_ref(), None)?;
//! # Ok(()) }
//! ```

mod error;
mod location;
mod lock;
mod manifest;
mod names;
mod pull;
mod push;
mod read;
mod staging;

use std::future::Future;

pub use error::RegistryError;
pub use location::normalize_url;
pub use location::Backend;
pub use lock::{LockFile, LockedFile, LockedModel, LOCK_FILE_NAME};
pub use manifest::{
    sha256_hex, FileEntry, Manifest, FILE_ROLES, FOREST_FILE, MANIFEST_FORMAT, MANIFEST_VERSION,
    MAX_FILE_LEN, MAX_MANIFEST_LEN, ONNX_FILE, PMML_FILE,
};
pub use names::{check_name, parse_version, ModelRef, VersionRef, CLAIM, MANIFEST};
pub use pull::Pulled;
pub use push::{Pushed, MAX_PUSH_FILE_LEN};
pub use read::{Listing, Problem, VerifyReport, VersionInfo};

use location::Location;
use names::Layout;

/// An opened registry. Its methods block (each runs on a private
/// single-threaded async runtime); do not call them from async code.
pub struct Registry {
    at: Location,
    layout: Layout,
    runtime: tokio::runtime::Runtime,
}

impl Registry {
    /// Opens the registry at `url`: a folder path or `file://PATH`,
    /// `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX` or `az://CONTAINER/PREFIX`.
    /// Nothing is contacted yet. A missing local folder is an error (see
    /// [`Registry::open_for_push`]).
    pub fn open(url: &str) -> Result<Registry, RegistryError> {
        Self::with_location(location::open(url, false)?)
    }

    /// Like [`Registry::open`], but creates a missing local folder.
    pub fn open_for_push(url: &str) -> Result<Registry, RegistryError> {
        Self::with_location(location::open(url, true)?)
    }

    fn with_location(at: Location) -> Result<Registry, RegistryError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(RegistryError::InsideAsyncRuntime);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(RegistryError::io("async runtime"))?;
        let layout = Layout::new(at.prefix.clone());
        Ok(Registry {
            at,
            layout,
            runtime,
        })
    }

    /// The URL the registry was opened with.
    pub fn url(&self) -> &str {
        &self.at.url
    }

    /// The kind of store.
    pub fn backend(&self) -> Backend {
        self.at.backend
    }

    /// Writes `bytes` at `key` below the registry's prefix, bypassing every
    /// rule: for tests that tamper with a registry.
    #[doc(hidden)]
    pub fn write_raw(&self, key: &str, bytes: Vec<u8>) -> Result<(), RegistryError> {
        use object_store::ObjectStoreExt;
        let at = self.raw_path(key)?;
        self.block_on(self.at.store.put(&at, bytes.into()))
            .map(|_| ())
            .map_err(self.fail("writing"))
    }

    /// Reads the object at `key` below the registry's prefix (tests).
    #[doc(hidden)]
    pub fn read_raw(&self, key: &str) -> Result<Vec<u8>, RegistryError> {
        use object_store::ObjectStoreExt;
        let at = self.raw_path(key)?;
        self.block_on(async { self.at.store.get(&at).await?.bytes().await })
            .map(|b| b.to_vec())
            .map_err(self.fail("reading"))
    }

    fn raw_path(&self, key: &str) -> Result<object_store::path::Path, RegistryError> {
        let mut at = self.at.prefix.clone();
        for part in key.split('/') {
            at = at.join(part);
        }
        Ok(at)
    }

    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// Translates an object-store error of `operation`.
    fn fail(&self, operation: &str) -> impl FnOnce(object_store::Error) -> RegistryError + '_ {
        let operation = operation.to_string();
        move |e| error::from_store(&self.at.url, &operation, e)
    }
}
