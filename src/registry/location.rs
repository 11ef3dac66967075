//! From a registry URL to an object store and a prefix: one code path for a
//! local folder (`PATH`, `file://PATH`), `s3://`, `gs://` and `az://`.
//!
//! Credentials and endpoints come from each cloud's usual environment
//! variables, read by `object_store`'s `from_env` builders (`AWS_*`,
//! `GOOGLE_*`, `AZURE_*`), plus two conveniences the cloud SDKs also honour:
//! `STORAGE_EMULATOR_HOST` (a GCS emulator, no authentication) and
//! `AZURE_STORAGE_CONNECTION_STRING`.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};

use super::error::{chain, RegistryError};

/// Which kind of store a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A local folder.
    Local,
    /// Amazon S3 or an S3-compatible server.
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
}

/// An opened registry location.
pub struct Location {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// Everything of the registry is below this.
    pub prefix: Path,
    /// The kind of store.
    pub backend: Backend,
    /// The URL, normalised ([`normalize_url`]), for messages and lock files.
    pub url: String,
    /// A local folder's canonical path (for the symbolic-link checks).
    pub root: Option<std::path::PathBuf>,
}

/// One spelling per registry, so lock files compare equal whatever the
/// user typed: a folder (`reg`, `./reg/`, `file://reg`) becomes its
/// canonical absolute path (lexically absolute when it does not exist);
/// a cloud URL gets a lower-case scheme and its prefix without empty,
/// leading or trailing `/`.
pub fn normalize_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if !scheme.eq_ignore_ascii_case("file") => {
            let scheme = scheme.to_ascii_lowercase();
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
            if parts.is_empty() {
                format!("{scheme}://{bucket}")
            } else {
                format!("{scheme}://{bucket}/{}", parts.join("/"))
            }
        }
        Some((_, path)) => normalize_folder(path),
        None => normalize_folder(url),
    }
}

fn normalize_folder(path: &str) -> String {
    let path = std::path::Path::new(path);
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return canonical.to_string_lossy().into_owned();
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut clean = std::path::PathBuf::new();
    for part in absolute.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    clean.to_string_lossy().into_owned()
}

/// Request timeout unless the environment sets one (`AWS_TIMEOUT`, ...):
/// object_store's 30 s would cut off large uploads on slow links.
const DEFAULT_TIMEOUT: &str = "300s";
/// Connection timeout unless the environment sets one: an unreachable
/// endpoint must fail fast.
const DEFAULT_CONNECT_TIMEOUT: &str = "5s";

/// Retries: few and short, so an unreachable or failing store is reported
/// within seconds rather than object_store's default 3 minutes.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(20),
    }
}

/// Opens the registry at `url`. `create_local` makes a missing local folder
/// (for pushing); otherwise a missing folder is an error.
pub fn open(url: &str, create_local: bool) -> Result<Location, RegistryError> {
    let invalid = |reason: String| RegistryError::InvalidUrl {
        url: url.to_string(),
        reason,
    };
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("file".to_string(), url),
    };
    if scheme == "file" {
        return open_local(url, rest, create_local);
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid(format!("no bucket or container after {scheme}://")));
    }
    let prefix = parse_prefix(prefix).map_err(invalid)?;
    install_tls_provider();
    let built = match scheme.as_str() {
        "s3" => (Backend::S3, s3(bucket)),
        "gs" => (Backend::Gcs, gcs(bucket)),
        "az" => (Backend::Azure, azure(bucket)),
        other => {
            return Err(invalid(format!(
                "unknown scheme {other:?}: use a folder path, file://, s3://, gs:// or az://"
            )))
        }
    };
    let (backend, store) = built;
    let store = store.map_err(|e| invalid(format!("cannot configure the store: {}", chain(&e))))?;
    Ok(Location {
        store,
        prefix,
        backend,
        url: normalize_url(url),
        root: None,
    })
}

/// Makes ring rustls' process-wide crypto provider, which reqwest needs
/// before it builds a client (the build has no default provider: see
/// Cargo.toml). A provider the embedding program installed first stays.
fn install_tls_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Err only when a provider is already installed: keep that one.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Object-store paths refuse empty, `.` and `..` segments; so do we, with a
/// message rather than a silently different path.
fn parse_prefix(prefix: &str) -> Result<Path, String> {
    let trimmed = prefix.trim_matches('/');
    for part in trimmed.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." {
            return Err(format!("the prefix may not contain {part:?}"));
        }
    }
    Path::parse(trimmed).map_err(|e| format!("bad prefix {prefix:?}: {e}"))
}

fn open_local(url: &str, path: &str, create: bool) -> Result<Location, RegistryError> {
    let dir = std::path::PathBuf::from(path);
    if path.is_empty() {
        return Err(RegistryError::InvalidUrl {
            url: url.to_string(),
            reason: "empty folder path".into(),
        });
    }
    if create {
        std::fs::create_dir_all(&dir).map_err(RegistryError::io(&dir))?;
    } else if !dir.is_dir() {
        return Err(RegistryError::Io {
            path: dir,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no registry folder here (push creates it)",
            ),
        });
    }
    let root = std::fs::canonicalize(&dir).map_err(RegistryError::io(&dir))?;
    let store = LocalFileSystem::new_with_prefix(&root)
        .map_err(|e| RegistryError::InvalidUrl {
            url: url.to_string(),
            reason: chain(&e),
        })?
        .with_fsync(true);
    Ok(Location {
        store: Arc::new(store),
        prefix: Path::default(),
        backend: Backend::Local,
        url: root.to_string_lossy().into_owned(),
        root: Some(root),
    })
}

/// True when the environment sets `VAR`.
fn env_set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty())
}

fn s3(bucket: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry_config());
    if !env_set("AWS_TIMEOUT") {
        b = b.with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            DEFAULT_TIMEOUT,
        );
    }
    if !env_set("AWS_CONNECT_TIMEOUT") {
        b = b.with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            DEFAULT_CONNECT_TIMEOUT,
        );
    }
    Ok(Arc::new(b.build()?))
}

fn gcs(bucket: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
    let mut b = GoogleCloudStorageBuilder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry_config());
    let explicit_credentials = [
        "GOOGLE_SERVICE_ACCOUNT",
        "GOOGLE_SERVICE_ACCOUNT_PATH",
        "GOOGLE_SERVICE_ACCOUNT_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ]
    .iter()
    .any(|v| env_set(v));
    // Google's client libraries treat STORAGE_EMULATOR_HOST as "talk to this
    // emulator, unauthenticated"; object_store has no such variable, so map
    // it onto its service-account switch for the same effect.
    if let (Ok(host), false) = (std::env::var("STORAGE_EMULATOR_HOST"), explicit_credentials) {
        let base = if host.contains("://") {
            host
        } else {
            format!("http://{host}")
        };
        let key = serde_json::json!({
            "disable_oauth": true,
            "client_email": "",
            "private_key": "",
            "private_key_id": "",
            "gcs_base_url": base.trim_end_matches('/'),
        });
        b = b
            .with_service_account_key(key.to_string())
            .with_config(GoogleConfigKey::Client(ClientConfigKey::AllowHttp), "true");
    }
    if !env_set("GOOGLE_TIMEOUT") {
        b = b.with_config(
            GoogleConfigKey::Client(ClientConfigKey::Timeout),
            DEFAULT_TIMEOUT,
        );
    }
    if !env_set("GOOGLE_CONNECT_TIMEOUT") {
        b = b.with_config(
            GoogleConfigKey::Client(ClientConfigKey::ConnectTimeout),
            DEFAULT_CONNECT_TIMEOUT,
        );
    }
    Ok(Arc::new(b.build()?))
}

fn azure(container: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
    let mut b = MicrosoftAzureBuilder::from_env()
        .with_container_name(container)
        .with_retry(retry_config());
    if let Ok(text) = std::env::var("AZURE_STORAGE_CONNECTION_STRING") {
        for (key, value) in connection_string(&text) {
            b = b.with_config(key, value);
        }
    }
    if !env_set("AZURE_TIMEOUT") {
        b = b.with_config(
            AzureConfigKey::Client(ClientConfigKey::Timeout),
            DEFAULT_TIMEOUT,
        );
    }
    if !env_set("AZURE_CONNECT_TIMEOUT") {
        b = b.with_config(
            AzureConfigKey::Client(ClientConfigKey::ConnectTimeout),
            DEFAULT_CONNECT_TIMEOUT,
        );
    }
    Ok(Arc::new(b.build()?))
}

/// The settings of an Azure Storage connection string
/// (`AccountName=..;AccountKey=..;BlobEndpoint=..`) that object_store takes.
fn connection_string(text: &str) -> Vec<(AzureConfigKey, String)> {
    let mut out = Vec::new();
    for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let key = match key.trim().to_ascii_lowercase().as_str() {
            "accountname" => AzureConfigKey::AccountName,
            "accountkey" => AzureConfigKey::AccessKey,
            "blobendpoint" => AzureConfigKey::Endpoint,
            "sharedaccesssignature" => AzureConfigKey::SasKey,
            "usedevelopmentstorage" => AzureConfigKey::UseEmulator,
            "defaultendpointsprotocol" if value.eq_ignore_ascii_case("http") => {
                AzureConfigKey::Client(ClientConfigKey::AllowHttp)
            }
            _ => continue,
        };
        let value = if key == AzureConfigKey::Client(ClientConfigKey::AllowHttp) {
            "true".to_string()
        } else {
            value.trim().to_string()
        };
        if key == AzureConfigKey::Endpoint && value.starts_with("http://") {
            out.push((
                AzureConfigKey::Client(ClientConfigKey::AllowHttp),
                "true".into(),
            ));
        }
        out.push((key, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for (bad, expect) in [
            ("ftp://host/x", "unknown scheme"),
            ("s3://", "no bucket"),
            ("s3:///prefix", "no bucket"),
            ("gs://bucket/a/../b", "may not contain"),
            ("az://c/./x", "may not contain"),
            ("file://", "empty folder"),
        ] {
            let err = open(bad, false).err().expect(bad).to_string();
            assert!(err.contains(expect), "{bad}: {err}");
        }
    }

    #[test]
    fn prefixes_and_local_folders() {
        assert_eq!(parse_prefix("/a/b/").unwrap().as_ref(), "a/b");
        assert_eq!(parse_prefix("").unwrap().as_ref(), "");
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = open(missing.to_str().unwrap(), false).err().unwrap();
        assert!(err.to_string().contains("no registry folder"), "{err}");
        let at = open(&format!("file://{}", missing.display()), true).unwrap();
        assert_eq!(at.backend, Backend::Local);
        assert!(missing.is_dir());
    }

    /// Issue 31: lock files compare registry URLs in one spelling.
    #[test]
    fn urls_are_normalised() {
        let dir = tempfile::tempdir().unwrap();
        let reg = dir.path().join("reg");
        std::fs::create_dir(&reg).unwrap();
        let canonical = std::fs::canonicalize(&reg).unwrap();
        let want = canonical.to_str().unwrap();
        for spelling in [
            format!("{}", reg.display()),
            format!("{}/", reg.display()),
            format!("{}/./reg/../reg", dir.path().display()),
            format!("file://{}", reg.display()),
        ] {
            assert_eq!(normalize_url(&spelling), want, "{spelling}");
        }
        assert_eq!(normalize_url("S3://b//team/m/"), "s3://b/team/m");
        assert_eq!(normalize_url("gs://b/"), "gs://b");
        assert_eq!(open(want, false).unwrap().url, want);
    }

    #[test]
    fn connection_strings() {
        let s = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;\
                 BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=x;";
        let got = connection_string(s);
        assert!(got.contains(&(AzureConfigKey::AccountName, "devstoreaccount1".into())));
        assert!(got.contains(&(AzureConfigKey::AccessKey, "a2V5".into())));
        assert!(got.contains(&(
            AzureConfigKey::Endpoint,
            "http://127.0.0.1:10000/devstoreaccount1".into()
        )));
        assert!(got.contains(&(
            AzureConfigKey::Client(ClientConfigKey::AllowHttp),
            "true".into()
        )));
    }
}
