//! `forest2onnx registry` end to end: the real binary against a local folder
//! and real servers on 127.0.0.1 (moto for S3, fake-gcs-server for GCS,
//! azurite for Azure), started by `scripts/servers.sh` (the README test
//! command, `bash scripts/test.sh`, does it). The same scenarios run on every
//! backend. Without the servers, the server tests fail under the test command
//! (FOREST2ONNX_REQUIRE_SERVERS=1) and say they were skipped elsewhere.
#![cfg(feature = "registry")]

mod attacks;
mod harness;
mod proptests;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forest2onnx::registry::sha256_hex;
use forest2onnx::store::{self, SaveOptions};
use forest2onnx::synth::{self, SynthSpec};

use harness::{big_model, ctx, pushed_version, servers, small_model, Backend};

// ---------------------------------------------------------------- scenarios

/// push / list / pull round trips, with --onnx, tags, the lock file, and
/// the errors for names and versions that do not exist.
fn round_trip(backend: Backend) {
    let Some(c) = ctx(backend, "round-trip", false) else {
        return;
    };
    let model = c.model("iris.forest");
    let original = std::fs::read(&model).unwrap();
    let out = c.ok(&[
        "registry",
        "push",
        model.to_str().unwrap(),
        "--to",
        &c.url,
        "--onnx",
        "--tag",
        "stage=test",
        "--tag",
        "owner=ml",
    ]);
    assert_eq!(
        out.trim(),
        format!("pushed iris v1 sha256:{}", sha256_hex(&original))
    );
    assert_eq!(c.push(&model, "iris"), 2);

    let listed = c.ok(&["registry", "list", &c.url]);
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(listed.contains("owner=ml,stage=test"), "{listed}");
    assert_eq!(
        listed.lines().filter(|l| l.starts_with("iris ")).count(),
        2,
        "{listed}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&c.ok(&["registry", "list", &c.url, "iris", "--json"])).unwrap();
    let versions = json.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(
        versions[0]["files"].as_array().unwrap().len(),
        2,
        "model.forest and model.onnx"
    );
    assert_eq!(versions[0]["files"][1]["path"], "model.onnx");
    assert_eq!(versions[1]["files"].as_array().unwrap().len(), 1);
    assert_eq!(
        versions[0]["source"]["library"],
        json[1]["source"]["library"]
    );
    assert_eq!(versions[0]["n_features"], 4);
    assert_eq!(versions[0]["classes"].as_array().unwrap().len(), 3);

    // Latest by default; the lock file records it.
    let out = c.ok(&["registry", "pull", &c.url, "iris", "-o", "latest"]);
    assert!(out.starts_with("pulled iris v2"), "{out}");
    assert_eq!(
        std::fs::read(c.path("latest/model.forest")).unwrap(),
        original
    );
    assert!(c.path("latest/manifest.json").is_file());
    let lock = std::fs::read_to_string(c.path("forest2onnx.lock")).unwrap();
    assert!(lock.contains("version = 2"), "{lock}");
    assert!(lock.contains(&sha256_hex(&original)), "{lock}");
    assert!(lock.contains(&format!("url = \"{}\"", c.url)), "{lock}");

    // An exact version, with its ONNX file, which loads and predicts.
    c.ok(&[
        "registry",
        "pull",
        &c.url,
        "iris@v1",
        "-o",
        "v1",
        "--lock",
        "other.lock",
    ]);
    let onnx = c.path("v1/model.onnx");
    assert!(onnx.is_file());
    c.ok(&[
        "validate",
        c.path("v1/model.forest").to_str().unwrap(),
        onnx.to_str().unwrap(),
    ]);
    assert!(std::fs::read_to_string(c.path("other.lock"))
        .unwrap()
        .contains("version = 1"));
    c.ok(&["registry", "pull", &c.url, "iris@latest", "-o", "latest"]);

    let verified = c.ok(&["registry", "verify", &c.url]);
    assert!(verified.contains("2 versions, 3 files"), "{verified}");
    assert!(verified.contains("all match"), "{verified}");

    c.fails(
        &["registry", "pull", &c.url, "iris@v9", "-o", "v9"],
        1,
        "versions: v1, v2",
    );
    c.fails(
        &["registry", "pull", &c.url, "nope", "-o", "nope"],
        1,
        "no model named \"nope\"",
    );
    c.fails(&["registry", "list", &c.url, "nope"], 1, "no model named");
    assert!(!c.path("v9").exists() && !c.path("nope").exists());
    for bad in ["../evil", "a/b", "..", ".hidden"] {
        c.fails(
            &[
                "registry",
                "push",
                model.to_str().unwrap(),
                "--to",
                &c.url,
                "--name",
                bad,
            ],
            1,
            "model name",
        );
        c.fails(
            &["registry", "pull", &c.url, bad, "-o", "x"],
            1,
            "model name",
        );
    }
    c.fails(&["registry", "pull", &c.url, "iris@3", "-o", "x"], 1, "vN");
    c.fails(
        &["registry", "push", "missing.forest", "--to", &c.url],
        1,
        "missing.forest",
    );
}

/// 8 processes push the same name at once: 8 distinct versions, all intact.
fn concurrent_pushes(backend: Backend) {
    let Some(c) = ctx(backend, "concurrent", false) else {
        return;
    };
    let model = c.model("m.forest");
    let m = model.to_str().unwrap();
    let push = vec!["registry", "push", m, "--to", &c.url, "--name", "race"];
    let mut versions: Vec<u64> = c
        .ok_at_once(&vec![push; 8])
        .iter()
        .map(|out| pushed_version(out, "race"))
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>(), "{backend:?}");
    let listed = c.registry().list(Some("race")).unwrap();
    assert_eq!(listed.len(), 8);
    let report = c.registry().verify(None).unwrap();
    assert!(
        report.passed() && report.versions == 8 && report.incomplete.is_empty(),
        "{report:?}"
    );
    eprintln!("{backend:?}: 8 concurrent pushes -> versions {versions:?}");
}

/// A modified, a truncated and an extended object are refused by pull
/// (nothing written) and reported by verify; so is a manifest not ours.
fn tampering(backend: Backend) {
    let Some(c) = ctx(backend, "tampering", false) else {
        return;
    };
    let model = c.model("m.forest");
    assert_eq!(c.push(&model, "t"), 1);
    let registry = c.registry();
    let good = small_model().to_vec();
    let mut modified = good.clone();
    let mid = modified.len() / 2;
    modified[mid] ^= 0x40;
    let cases: [(&[u8], &str); 3] = [
        (&modified, "the object was modified or corrupted"),
        (&good[..good.len() / 2], "truncated"),
        (
            &[good.as_slice(), b"extra"].concat(),
            "longer than published",
        ),
    ];
    for (bytes, needle) in cases {
        registry
            .write_raw("t/v1/model.forest", bytes.to_vec())
            .unwrap();
        c.fails(&["registry", "pull", &c.url, "t", "-o", "out"], 1, needle);
        assert!(!c.path("out").exists(), "pull wrote something: {needle}");
        assert!(!c.path("forest2onnx.lock").exists());
        let out = c.run(&["registry", "verify", &c.url, "t"]);
        assert_eq!(out.status.code(), Some(3), "verify must fail on {needle}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("MISMATCH t v1 model.forest") && text.contains(needle),
            "{text}"
        );
    }
    registry.write_raw("t/v1/model.forest", good).unwrap();
    c.ok(&["registry", "verify", &c.url, "t"]);

    // A manifest somebody else wrote.
    registry
        .write_raw("alien/v1/model.forest", b"not a model".to_vec())
        .unwrap();
    registry
        .write_raw(
            "alien/v1/manifest.json",
            br#"{"name": "alien", "version": 1}"#.to_vec(),
        )
        .unwrap();
    c.fails(
        &["registry", "pull", &c.url, "alien", "-o", "a"],
        1,
        "not a forest2onnx registry manifest",
    );
    let out = c.run(&["registry", "verify", &c.url]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("MISMATCH alien v1 manifest.json"));
    // A manifest copied under another version.
    let manifest = registry.read_raw("t/v1/manifest.json").unwrap();
    registry.write_raw("t/v7/manifest.json", manifest).unwrap();
    c.fails(
        &["registry", "pull", &c.url, "t@v7", "-o", "x"],
        1,
        "stored as t v7",
    );
}

/// --locked pulls exactly the pinned version and hashes, or nothing.
fn locked(backend: Backend) {
    let Some(c) = ctx(backend, "locked", false) else {
        return;
    };
    let model = c.model("m.forest");
    c.fails(
        &["registry", "pull", &c.url, "p", "-o", "o", "--locked"],
        1,
        "pins no version",
    );
    assert_eq!(c.push(&model, "p"), 1);
    c.ok(&["registry", "pull", &c.url, "p", "-o", "o"]);
    let pinned = std::fs::read_to_string(c.path("forest2onnx.lock")).unwrap();
    assert_eq!(c.push(&model, "p"), 2);
    // The bare name means the pinned version; the lock file is not touched.
    let out = c.ok(&["registry", "pull", &c.url, "p", "-o", "o", "--locked"]);
    assert!(out.starts_with("pulled p v1"), "{out}");
    assert_eq!(
        std::fs::read_to_string(c.path("forest2onnx.lock")).unwrap(),
        pinned
    );
    c.fails(
        &[
            "registry", "pull", &c.url, "p@latest", "-o", "o", "--locked",
        ],
        1,
        "v2 was asked for",
    );
    c.fails(
        &["registry", "pull", &c.url, "p@v2", "-o", "o", "--locked"],
        1,
        "pinned",
    );

    // v1 replaced in place, consistently (new file, new manifest hash).
    let registry = c.registry();
    let mut other = store::to_bytes(
        &synth::forest(&SynthSpec {
            seed: 7,
            ..SynthSpec::small()
        }),
        &SaveOptions::default(),
    )
    .unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&registry.read_raw("p/v1/manifest.json").unwrap()).unwrap();
    manifest["files"][0]["sha256"] = sha256_hex(&other).into();
    manifest["files"][0]["size"] = other.len().into();
    registry
        .write_raw("p/v1/model.forest", std::mem::take(&mut other))
        .unwrap();
    registry
        .write_raw("p/v1/manifest.json", serde_json::to_vec(&manifest).unwrap())
        .unwrap();
    c.fails(
        &["registry", "pull", &c.url, "p", "-o", "o2", "--locked"],
        1,
        "is pinned with sha256",
    );
    assert!(!c.path("o2").exists());
    // Without --locked the new content is accepted and pinned.
    c.ok(&["registry", "pull", &c.url, "p@v1", "-o", "o2"]);
    assert_ne!(
        std::fs::read_to_string(c.path("forest2onnx.lock")).unwrap(),
        pinned
    );
    // Another URL is not the pinned one either.
    if backend == Backend::Local {
        let elsewhere = c.path("elsewhere");
        c.ok(&[
            "registry",
            "push",
            model.to_str().unwrap(),
            "--to",
            elsewhere.to_str().unwrap(),
            "--name",
            "p",
        ]);
        c.fails(
            &[
                "registry",
                "pull",
                elsewhere.to_str().unwrap(),
                "p",
                "-o",
                "o3",
                "--locked",
            ],
            1,
            "is pinned to",
        );
    }
}

/// A push interrupted after its claim (the server frozen with SIGSTOP, or
/// for a folder the pushing process killed) leaves no visible version; the
/// next push takes the next number.
fn interrupted_push(backend: Backend) {
    let Some(c) = ctx(backend, "interrupted", true) else {
        return;
    };
    let big = c.path("big.forest");
    for attempt in 0..3 {
        std::fs::write(&big, big_model(40 << attempt)).unwrap();
        let name = format!("big{attempt}");
        let timeout = [
            ("AWS_TIMEOUT", "2s"),
            ("GOOGLE_TIMEOUT", "2s"),
            ("AZURE_TIMEOUT", "2s"),
        ];
        let mut child = c
            .command(&[
                "registry",
                "push",
                big.to_str().unwrap(),
                "--to",
                &c.url,
                "--name",
                &name,
            ])
            .envs(timeout)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let mut log = String::new();
        while stderr.read_line(&mut line).unwrap() > 0 {
            log += &line;
            if line.contains("uploading model.forest") {
                break;
            }
            line.clear();
        }
        let pids = server_pids(backend);
        let started = Instant::now();
        if backend == Backend::Local {
            child.kill().unwrap();
        } else {
            signal("-STOP", &pids);
        }
        let status = child.wait().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        let failed_in = started.elapsed();
        signal("-CONT", &pids);
        if status.success() {
            eprintln!("{backend:?}: the push of {name} finished before it was interrupted; trying a larger model");
            continue;
        }
        if backend != Backend::Local {
            assert!(
                failed_in < Duration::from_secs(60),
                "the push hung for {failed_in:?}"
            );
            assert!(
                rest.contains("error:") && rest.contains(&c.url),
                "{log}{rest}"
            );
        }
        let registry = c.registry();
        assert!(
            registry.list(None).unwrap().is_empty(),
            "{backend:?}: a version became visible"
        );
        let report = registry.verify(None).unwrap();
        assert_eq!(report.incomplete, vec![(name.clone(), 1)], "{report:?}");
        c.fails(
            &["registry", "pull", &c.url, &name, "-o", "x"],
            1,
            "no model named",
        );
        let model = c.model("m.forest");
        assert_eq!(
            c.push(&model, &name),
            2,
            "the interrupted number stays taken"
        );
        eprintln!("{backend:?}: interrupted push of {name} failed after {failed_in:?}, left nothing visible");
        return;
    }
    panic!("{backend:?}: could not interrupt a push (each finished first)");
}

fn server_pids(backend: Backend) -> Vec<String> {
    match servers() {
        Some(s) if backend != Backend::Local => s[backend.key()]["pids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.to_string())
            .collect(),
        _ => Vec::new(),
    }
}

fn signal(sig: &str, pids: &[String]) {
    if pids.is_empty() {
        return;
    }
    let ok = Command::new("kill")
        .arg(sig)
        .args(pids)
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pids:?}");
}

/// Unreachable endpoints, missing buckets, wrong credentials and stores
/// without exclusive creates: clear errors, quickly, nothing changed.
fn bad_stores(backend: Backend) {
    let Some(c) = ctx(backend, "bad-stores", false) else {
        return;
    };
    let model = c.model("m.forest");
    let m = model.to_str().unwrap();
    let bucket_of = |url: &str| url.split('/').nth(2).unwrap().to_string();
    let missing = c.url.replace(&bucket_of(&c.url), "no-such-bucket-f2o");
    type Env = Vec<(&'static str, &'static str)>;
    let (wrong, unreachable): (Env, Env) = match backend {
        Backend::Local => {
            c.fails(
                &["registry", "list", c.path("nowhere").to_str().unwrap()],
                1,
                "no registry folder",
            );
            return;
        }
        Backend::S3 => (
            vec![("AWS_SECRET_ACCESS_KEY", "wrong-secret")],
            vec![("AWS_ENDPOINT_URL", "http://127.0.0.1:9")],
        ),
        Backend::Gcs => (
            vec![],
            vec![("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")],
        ),
        Backend::Azure => (
            vec![(
                "AZURE_STORAGE_ACCOUNT_KEY",
                "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=",
            )],
            vec![("AZURITE_BLOB_STORAGE_URL", "http://127.0.0.1:9")],
        ),
    };
    let with_env = |env: &[(&str, &str)], args: &[&str], needle: &str| {
        let started = Instant::now();
        let out = c.command(args).envs(env.iter().copied()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?} {env:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?} {env:?}: expected {needle:?} in {err}"
        );
        started.elapsed()
    };
    let took = with_env(
        &unreachable,
        &["registry", "push", m, "--to", &c.url],
        "cannot reach the registry",
    );
    assert!(
        took < Duration::from_secs(15),
        "unreachable endpoint took {took:?}"
    );
    with_env(
        &unreachable,
        &["registry", "list", &c.url],
        "cannot reach the registry",
    );
    if !wrong.is_empty() {
        with_env(
            &wrong,
            &["registry", "push", m, "--to", &c.url],
            "refused the credentials",
        );
        with_env(
            &wrong,
            &["registry", "list", &c.url],
            "refused the credentials",
        );
    }
    c.fails(
        &["registry", "push", m, "--to", &missing],
        1,
        "does not exist",
    );
    c.fails(&["registry", "list", &missing], 1, "does not exist");
    if backend == Backend::S3 {
        with_env(
            &[("AWS_CONDITIONAL_PUT", "disabled")],
            &["registry", "push", m, "--to", &c.url],
            "cannot create objects exclusively",
        );
    }
    // Nothing of the above changed the registry.
    assert!(c.registry().list(None).unwrap().is_empty());
}

macro_rules! suite {
    ($($backend:ident),*) => {$(
        #[allow(non_snake_case)]
        mod $backend {
            use super::*;
            #[test] fn round_trip() { super::round_trip(Backend::$backend) }
            #[test] fn concurrent_pushes() { super::concurrent_pushes(Backend::$backend) }
            #[test] fn tampering() { super::tampering(Backend::$backend) }
            #[test] fn locked() { super::locked(Backend::$backend) }
            #[test] fn interrupted_push() { super::interrupted_push(Backend::$backend) }
            #[test] fn bad_stores() { super::bad_stores(Backend::$backend) }
        }
    )*};
}

suite!(Local, S3, Gcs, Azure);

/// A model that is not a native file (a LightGBM text model) is published as
/// one, with a validated ONNX file; under SOURCE_DATE_EPOCH two pushes store
/// byte-identical files.
#[test]
fn other_formats_are_published_reproducibly() {
    let Some(c) = ctx(Backend::Local, "other-formats", false) else {
        return;
    };
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lightgbm/3.3.5/binary.txt");
    let push = || {
        let out = c
            .command(&[
                "registry",
                "push",
                model.to_str().unwrap(),
                "--to",
                &c.url,
                "--name",
                "lgb",
                "--onnx",
            ])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let (first, second) = (push(), push());
    assert!(first.starts_with("pushed lgb v1 sha256:"), "{first}");
    assert_eq!(first.replace("v1", "v2"), second);
    let versions = c.registry().list(Some("lgb")).unwrap();
    assert_eq!(versions[0].manifest.files, versions[1].manifest.files);
    assert_eq!(versions[0].manifest.files.len(), 2);
    assert_eq!(versions[0].manifest.source.library, "lightgbm");
    c.ok(&["registry", "pull", &c.url, "lgb", "-o", "out"]);
    let pulled = forest2onnx::load(c.path("out/model.forest")).unwrap();
    let original = forest2onnx::load(&model).unwrap();
    assert_eq!(pulled.forest, original.forest);
}

/// Issue 29: `registry list --json` shows the environment `dump` recorded
/// in the native file (copied into the manifest at push time, package list
/// by its hash only), and nothing for a file that recorded none.
#[test]
fn list_json_shows_the_recorded_environment() {
    let Some(c) = ctx(Backend::Local, "environment", false) else {
        return;
    };
    let environment = store::Environment {
        python: Some("CPython 3.11.7".into()),
        platform: Some("Linux-6.1.0-x86_64-with-glibc2.36".into()),
        packages: [("scikit-learn", "1.9.1"), ("numpy", "2.3.5")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        requirements_hash: Some(format!("sha256:{}", sha256_hex(b"numpy==2.3.5\n"))),
        requirements: Some("numpy==2.3.5\n".into()),
    };
    let options = SaveOptions {
        environment: Some(environment.clone()),
        ..SaveOptions::default()
    };
    let forest = synth::forest(&SynthSpec::small());
    std::fs::write(
        c.path("env.forest"),
        store::to_bytes(&forest, &options).unwrap(),
    )
    .unwrap();
    c.push(&c.path("env.forest"), "env");
    c.push(&c.model("plain.forest"), "plain");
    let json: serde_json::Value =
        serde_json::from_str(&c.ok(&["registry", "list", &c.url, "--json"])).unwrap();
    let by_name = |name: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap()
            .clone()
    };
    let env = by_name("env");
    assert_eq!(env["format_version"], 2);
    assert_eq!(env["environment"]["python"], "CPython 3.11.7");
    assert_eq!(
        env["environment"]["platform"],
        environment.platform.unwrap()
    );
    assert_eq!(env["environment"]["packages"]["scikit-learn"], "1.9.1");
    assert_eq!(env["environment"]["packages"]["numpy"], "2.3.5");
    assert_eq!(
        env["environment"]["requirements_hash"],
        environment.requirements_hash.unwrap()
    );
    assert!(env["environment"].get("requirements").is_none(), "{env}");
    let plain = by_name("plain");
    assert_eq!(plain["format_version"], 1);
    assert!(plain.get("environment").is_none(), "{plain}");
}

/// An `https://` endpoint goes through rustls with the ring provider the
/// registry installs (the build has no default provider): a server that
/// answers the TLS handshake with plain text is a clear error, not a
/// panic. Needs no server of the suite.
#[test]
fn an_https_endpoint_that_speaks_no_tls_is_a_clear_error() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut hello = [0u8; 512];
            let _ = stream.read(&mut hello);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\nnot TLS");
        }
    });
    let endpoint = format!("https://127.0.0.1:{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_forest2onnx"))
        .args(["registry", "list", "s3://bucket/models"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "key")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("cannot reach the registry"), "{err}");
}

/// Two saves of one forest with SOURCE_DATE_EPOCH are byte-identical, so
/// real DVC stores them as one object.
#[test]
fn dvc_deduplicates_reproducible_saves() {
    let dir = tempfile::tempdir().unwrap();
    let train = |file: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_forest2onnx"))
            .args([
                "-q",
                "train",
                "--dataset",
                "iris",
                "--trees",
                "20",
                "--seed",
                "7",
                "-o",
                file,
            ])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    train("a/model.forest");
    std::thread::sleep(Duration::from_millis(1100)); // another second on the clock
    train("b/model.forest");
    let a = std::fs::read(dir.path().join("a/model.forest")).unwrap();
    assert_eq!(a, std::fs::read(dir.path().join("b/model.forest")).unwrap());
    let meta = store::metadata_from_bytes(&a).unwrap();
    assert_eq!(meta.created, "2023-11-14T22:13:20Z");

    let Some(dvc) = servers().and_then(|s| s["dvc"].as_str()) else {
        if std::env::var("FOREST2ONNX_REQUIRE_SERVERS").as_deref() == Ok("1") {
            panic!("dvc is not installed (scripts/servers.sh installs it)");
        }
        eprintln!("SKIPPED the DVC half: run `bash scripts/test.sh`");
        return;
    };
    let dvc_ok = |args: &[&str]| {
        let out = Command::new(dvc)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dvc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    dvc_ok(&["init", "--no-scm", "-q"]);
    dvc_ok(&["add", "-q", "a/model.forest", "b/model.forest"]);
    let objects: Vec<_> = walk(&dir.path().join(".dvc/cache"));
    assert_eq!(objects.len(), 1, "DVC cache: {objects:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Push and pull time of a ~100 MB model on every backend (run with
/// `cargo test --test registry -- --ignored --nocapture throughput`).
#[test]
#[ignore]
fn throughput_100mb() {
    let bytes = big_model(100);
    let mb = bytes.len() as f64 / 1e6;
    for backend in [Backend::Local, Backend::S3, Backend::Gcs, Backend::Azure] {
        let Some(c) = ctx(backend, "throughput", true) else {
            continue;
        };
        let model = c.path("big.forest");
        std::fs::write(&model, &bytes).unwrap();
        let t = Instant::now();
        c.ok(&[
            "-q",
            "registry",
            "push",
            model.to_str().unwrap(),
            "--to",
            &c.url,
            "--name",
            "big",
        ]);
        let push = t.elapsed().as_secs_f64();
        let t = Instant::now();
        c.ok(&["-q", "registry", "pull", &c.url, "big", "-o", "out"]);
        let pull = t.elapsed().as_secs_f64();
        println!(
            "{:<6} {mb:.1} MB: push {push:.2} s ({:.0} MB/s), pull {pull:.2} s ({:.0} MB/s)",
            backend.key(),
            mb / push,
            mb / pull
        );
    }
}
