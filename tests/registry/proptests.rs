//! Property tests of issue 31: `pull` and `verify` driven with generated
//! manifests (hostile file names, hashes, sizes, rewritten fields) and
//! generated lock-file pins, on a folder registry through the library.
//!
//! Properties: `pull` succeeds exactly when `verify` passes; a pull that
//! fails changes nothing and leaves nothing beside the folder; a pull that
//! succeeds leaves exactly the manifest's files (fixed roles only), each
//! with its published hash; a pin is accepted exactly when it is the pin of
//! what is published.

use forest2onnx::registry::{sha256_hex, LockedModel, ModelRef, Registry};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::harness::{files_in, small_model};

/// A file entry: its name, and how its hash and size relate to the bytes
/// stored under it.
#[derive(Clone, Debug)]
struct Entry {
    path: &'static str,
    hash: HashKind,
    size_delta: i8,
    store_it: bool,
}

#[derive(Clone, Debug)]
enum HashKind {
    Right,
    Other,
    Upper,
    Short,
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        prop::sample::select(vec![
            "model.forest",
            "model.onnx",
            "model.pmml",
            "Makefile",
            "sitecustomize.py",
            "../escape",
            ".hidden",
            "manifest.json",
            "claim.json",
            "",
        ]),
        prop_oneof![
            6 => Just(HashKind::Right),
            1 => Just(HashKind::Other),
            1 => Just(HashKind::Upper),
            1 => Just(HashKind::Short),
        ],
        prop_oneof![6 => Just(0i8), 1 => -1i8..=1],
        prop::bool::weighted(0.9),
    )
        .prop_map(|(path, hash, size_delta, store_it)| Entry {
            path,
            hash,
            size_delta,
            store_it,
        })
}

/// Changes to the manifest's own fields.
#[derive(Clone, Debug)]
struct Rewrite {
    classes: bool,
    n_features: bool,
    feature_names: bool,
    task: bool,
    tags: bool,
    version: bool,
}

fn rewrite() -> impl Strategy<Value = Rewrite> {
    let flip = || prop::bool::weighted(0.1);
    (flip(), flip(), flip(), flip(), flip(), flip()).prop_map(
        |(classes, n_features, feature_names, task, tags, version)| Rewrite {
            classes,
            n_features,
            feature_names,
            task,
            tags,
            version,
        },
    )
}

/// How a generated pin differs from the true one.
#[derive(Clone, Debug)]
enum PinChange {
    None,
    Version,
    Url,
    FileHash,
    ManifestHash,
    NoManifestHash,
    DropFile,
}

fn pin_change() -> impl Strategy<Value = PinChange> {
    prop_oneof![
        4 => Just(PinChange::None),
        1 => Just(PinChange::Version),
        1 => Just(PinChange::Url),
        1 => Just(PinChange::FileHash),
        1 => Just(PinChange::ManifestHash),
        1 => Just(PinChange::NoManifestHash),
        1 => Just(PinChange::DropFile),
    ]
}

fn content(path: &str) -> Vec<u8> {
    if path == "model.forest" {
        small_model().to_vec()
    } else {
        format!("content of {path}\n").into_bytes()
    }
}

/// Publishes v2 of `m` with `entries` (v1 is a plain push), rewritten.
fn publish(registry: &Registry, entries: &[Entry], rewrite: &Rewrite) {
    let mut manifest: Value =
        serde_json::from_slice(&registry.read_raw("m/v1/manifest.json").unwrap()).unwrap();
    let mut files = Vec::new();
    for e in entries {
        let bytes = content(e.path);
        let sha = match e.hash {
            HashKind::Right => sha256_hex(&bytes),
            HashKind::Other => sha256_hex(b"other"),
            HashKind::Upper => sha256_hex(&bytes).to_uppercase(),
            HashKind::Short => sha256_hex(&bytes)[..10].to_string(),
        };
        let size = (bytes.len() as i64 + i64::from(e.size_delta)).max(0);
        files.push(json!({"path": e.path, "sha256": sha, "size": size}));
        let plain = [
            "model.forest",
            "model.onnx",
            "model.pmml",
            "Makefile",
            "sitecustomize.py",
        ];
        if e.store_it && plain.contains(&e.path) {
            registry
                .write_raw(&format!("m/v2/{}", e.path), bytes)
                .unwrap();
        }
    }
    manifest["files"] = Value::Array(files);
    manifest["version"] = json!(if rewrite.version { 3 } else { 2 });
    if rewrite.classes {
        manifest["classes"] = json!([0, 1, 9]);
    }
    if rewrite.n_features {
        manifest["n_features"] = json!(5);
    }
    if rewrite.feature_names {
        manifest["feature_names"] = json!(["a", "b", "c", "d"]);
    }
    if rewrite.task {
        manifest["task"] = json!("regression");
    }
    if rewrite.tags {
        manifest["tags"] = json!({"stage": "prod"});
    }
    registry
        .write_raw("m/v2/manifest.json", serde_json::to_vec(&manifest).unwrap())
        .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn pull_and_verify_agree_on_generated_manifests(
        entries in prop::collection::vec(entry(), 0..5),
        rewrite in rewrite(),
        change in pin_change(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("reg");
        let url = url.to_str().unwrap();
        let registry = Registry::open_for_push(url).unwrap();
        registry.push("m", small_model().to_vec(), Vec::new(), Default::default()).unwrap();
        registry.write_raw("m/v2/claim.json", b"{}".to_vec()).unwrap();
        publish(&registry, &entries, &rewrite);

        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let out = work.join("out");
        let reference: ModelRef = "m@v2".parse().unwrap();
        let pulled = registry.pull(&reference, &out, None);
        let report = registry.verify(Some("m")).unwrap();
        prop_assert_eq!(pulled.is_ok(), report.passed(), "{:?} / {:?}", pulled.as_ref().err(), report);
        match &pulled {
            Err(_) => {
                prop_assert!(files_in(&work).is_empty(), "{:?}", files_in(&work));
            }
            Ok(p) => {
                prop_assert_eq!(files_in(&work), vec!["out".to_string()]);
                let mut expected: Vec<String> =
                    p.manifest.files.iter().map(|f| f.path.clone()).collect();
                expected.push("manifest.json".into());
                expected.sort();
                prop_assert_eq!(files_in(&out), expected);
                for f in &p.manifest.files {
                    prop_assert!(["model.forest", "model.onnx", "model.pmml"].contains(&f.path.as_str()));
                    let bytes = std::fs::read(out.join(&f.path)).unwrap();
                    prop_assert_eq!(sha256_hex(&bytes), f.sha256.clone());
                }
            }
        }

        // Pins: accepted exactly when they are the pin of what is published.
        let Ok(p) = pulled else { return Ok(()); };
        let truth = LockedModel::of(&p.manifest, registry.url());
        let mut pin = truth.clone();
        match change {
            PinChange::None => {}
            PinChange::Version => pin.version = 1,
            PinChange::Url => pin.url = format!("{url}-other"),
            PinChange::FileHash => pin.files[0].sha256 = sha256_hex(b"other"),
            PinChange::ManifestHash => pin.manifest_sha256 = Some(sha256_hex(b"other")),
            PinChange::NoManifestHash => pin.manifest_sha256 = None,
            PinChange::DropFile => { pin.files.pop(); }
        }
        let again = registry.pull(&"m".parse().unwrap(), &out, Some(&pin));
        prop_assert_eq!(again.is_ok(), pin == truth, "{:?}", again.err());
    }
}
