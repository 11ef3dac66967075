//! The harness of the registry tests: which servers run (from
//! `scripts/servers.sh`), one fresh registry per test, and running the
//! binary in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Once, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use forest2onnx::registry::Registry;
use forest2onnx::store::{self, SaveOptions};
use forest2onnx::synth::{self, SynthSpec};
use tempfile::TempDir;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Local,
    S3,
    Gcs,
    Azure,
}

impl Backend {
    pub fn key(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::S3 => "s3",
            Backend::Gcs => "gcs",
            Backend::Azure => "azure",
        }
    }

    /// Tests of one server share it; the one that stops it takes it alone.
    fn lock(self) -> &'static RwLock<()> {
        static LOCKS: [RwLock<()>; 4] = [const { RwLock::new(()) }; 4];
        &LOCKS[self as usize]
    }
}

/// `servers.json` written by `scripts/servers.sh start`, with every
/// backend's variables exported into this process (they are disjoint:
/// `AWS_*`, `STORAGE_EMULATOR_HOST`, `AZURE_*`), so the binary and the
/// library both reach the servers.
pub fn servers() -> Option<&'static serde_json::Value> {
    static SERVERS: OnceLock<Option<serde_json::Value>> = OnceLock::new();
    static ENV: Once = Once::new();
    let servers = SERVERS.get_or_init(|| {
        let path = std::env::var("FOREST2ONNX_TEST_SERVERS").ok()?;
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("FOREST2ONNX_TEST_SERVERS={path}: {e}"));
        Some(serde_json::from_str(&text).expect("servers.json is JSON"))
    });
    ENV.call_once(|| {
        if let Some(s) = servers {
            for backend in ["s3", "gcs", "azure"] {
                for (k, v) in s[backend]["env"].as_object().expect("env") {
                    std::env::set_var(k, v.as_str().expect("string"));
                }
            }
        }
    });
    servers.as_ref()
}

enum Guard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// One test's registry: a fresh local folder, or a fresh prefix in the
/// server's bucket.
pub struct Ctx {
    pub backend: Backend,
    pub url: String,
    pub dir: TempDir,
    _guard: Guard,
}

/// The context of `test` on `backend`, or `None` when its server is not
/// running and the test may be skipped (outside the README test command).
pub fn ctx(backend: Backend, test: &str, alone: bool) -> Option<Ctx> {
    let dir = tempfile::tempdir().unwrap();
    let url = if backend == Backend::Local {
        dir.path().join("registry").to_str().unwrap().to_string()
    } else {
        let Some(s) = servers() else {
            if std::env::var("FOREST2ONNX_REQUIRE_SERVERS").as_deref() == Ok("1") {
                panic!(
                    "{test} on {}: the registry test servers are not running \
                     (FOREST2ONNX_TEST_SERVERS is unset); `bash scripts/test.sh` starts them",
                    backend.key()
                );
            }
            eprintln!(
                "SKIPPED {test} on {}: no test servers (run `bash scripts/test.sh`, or \
                 `eval $(bash scripts/servers.sh start)` first)",
                backend.key()
            );
            return None;
        };
        let base = s[backend.key()]["url"].as_str().unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{base}/{test}-{}-{nanos}", std::process::id())
    };
    let lock = backend.lock();
    let guard = if alone {
        Guard::Alone(lock.write().unwrap_or_else(|e| e.into_inner()))
    } else {
        Guard::Shared(lock.read().unwrap_or_else(|e| e.into_inner()))
    };
    Some(Ctx {
        backend,
        url,
        dir,
        _guard: guard,
    })
}

impl Ctx {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `forest2onnx ARGS` in the test's folder.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the binary runs")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_forest2onnx"));
        cmd.args(args).current_dir(self.dir.path());
        cmd
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{:?} on {:?} failed: {}",
            args,
            self.backend,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure with exit status `code` and `needle` in stderr.
    pub fn fails(&self, args: &[&str], code: i32, needle: &str) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?} on {:?}: stdout {} stderr {err}",
            self.backend,
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            err.contains(needle),
            "{args:?} on {:?}: expected {needle:?} in: {err}",
            self.backend
        );
        err
    }

    /// Writes a small model and returns its path.
    pub fn model(&self, file: &str) -> PathBuf {
        let path = self.path(file);
        std::fs::write(&path, small_model()).unwrap();
        path
    }

    pub fn registry(&self) -> Registry {
        Registry::open(&self.url).expect("the registry opens")
    }

    /// Runs every command line of `all` at once; their outputs, in order,
    /// each checked to have succeeded.
    pub fn ok_at_once(&self, all: &[Vec<&str>]) -> Vec<String> {
        let children: Vec<_> = all
            .iter()
            .map(|args| {
                self.command(args)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|child| {
                let out = child.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
            .collect()
    }

    /// Expects `push MODEL --to URL --name NAME` to fail with `needle`.
    pub fn push_fails(&self, model: &Path, name: &str, needle: &str) {
        let model = model.to_str().unwrap();
        let args = ["registry", "push", model, "--to", &self.url, "--name", name];
        self.fails(&args, 1, needle);
    }

    pub fn push(&self, model: &Path, name: &str) -> u64 {
        let out = self.ok(&[
            "registry",
            "push",
            model.to_str().unwrap(),
            "--to",
            &self.url,
            "--name",
            name,
        ]);
        pushed_version(&out, name)
    }
}

/// The names in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `N` from `pushed NAME vN sha256:HEX`.
pub fn pushed_version(out: &str, name: &str) -> u64 {
    let rest = out
        .trim()
        .strip_prefix(&format!("pushed {name} v"))
        .unwrap_or_else(|| panic!("unexpected push output: {out}"));
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// A 100-tree forest as a native file (a few tens of KiB).
pub fn small_model() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        store::to_bytes(&synth::forest(&SynthSpec::small()), &SaveOptions::default()).unwrap()
    })
}

/// An uncompressed native file of about `mb` MB.
pub fn big_model(mb: usize) -> Vec<u8> {
    // ~45 bytes per node uncompressed (3-class averaged leaves).
    let nodes_per_tree = 5_000;
    let trees = (mb << 20) / (45 * nodes_per_tree);
    let spec = SynthSpec::sklearn(trees.max(1), nodes_per_tree, 20);
    store::to_bytes(
        &synth::forest(&spec),
        &SaveOptions {
            level: 0,
            ..Default::default()
        },
    )
    .unwrap()
}
