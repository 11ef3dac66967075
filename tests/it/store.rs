//! Native model files (`forest2onnx::store`): round trips through real files,
//! memory maps, corruption corpora, version rules and hostile inputs.
//!
//! Some tests assemble files by hand from the layout in `docs/FORMAT.md`: they
//! double as a check that the spec describes what the code does.

use crate::store_support;

use std::collections::BTreeMap;
use std::path::Path;

use forest2onnx::ir::{Aggregation, Forest, ForestError, Labels, Source, SplitOp, Task, Tree};
use forest2onnx::store::{
    self, Compression, DataFingerprint, MappedForest, SaveOptions, StoreError,
};
use proptest::prelude::*;
use store_support::Rng;
use store_support::*;
use xxhash_rust::xxh3::xxh3_64;

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

fn assert_same_model(a: &Forest, b: &Forest, rng: &mut Rng) {
    assert_eq!(a, b);
    let x = random_rows(rng, 64, a.n_features);
    assert_eq!(a.predict(x.view()), b.predict(x.view()));
}

fn check_file_round_trip(forest: &Forest, dir: &Path, level: i32, rng: &mut Rng) {
    let path = dir.join(format!("m{level}.forest"));
    let saved = store::save(forest, &path, &opts(level)).unwrap();
    let (back, meta) = store::load_with_metadata(&path).unwrap();
    assert_same_model(forest, &back, rng);
    assert_eq!(meta, saved);
    assert_eq!(store::read_metadata(&path).unwrap(), saved);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(store::from_bytes(&bytes).unwrap(), *forest);
    // Unaligned in-memory buffers decode through the copying path.
    let mut shifted = vec![0u8];
    shifted.extend_from_slice(&bytes);
    assert_eq!(store::from_bytes(&shifted[1..]).unwrap(), *forest);

    match saved.compression {
        Compression::None => {
            let mapped = MappedForest::open(&path).unwrap();
            assert_eq!(mapped.to_forest(), *forest);
            assert_eq!(mapped.n_trees(), forest.trees.len());
            assert_eq!(*mapped.metadata(), saved);
            for (i, tree) in forest.trees.iter().enumerate() {
                let view = mapped.tree(i).unwrap();
                assert_eq!(view.to_tree().as_ref(), Ok(tree));
                assert_eq!(view.threshold, &tree.threshold[..]);
            }
            assert!(mapped.tree(forest.trees.len()).is_none());
            let arrays = mapped.arrays();
            assert_eq!(arrays.feature().len(), forest.n_nodes());
            assert!(arrays.lean());
            assert_eq!(
                arrays.value().len(),
                forest.n_leaves() * forest.leaf_width()
            );
        }
        Compression::Zstd { level: l } => {
            assert_eq!(l, level);
            let err = MappedForest::open(&path).unwrap_err();
            assert!(matches!(err, StoreError::NotMappable(_)), "{err}");
            assert!(err.to_string().contains("compressed"), "{err}");
        }
    }
}

#[test]
fn random_forests_round_trip_through_files_at_all_levels() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(1);
    for kind in KINDS {
        for (n_trees, max_nodes) in [(1, 1), (3, 7), (20, 60)] {
            let forest = random_forest(&mut rng, kind, n_trees, max_nodes);
            for level in [0, 3, 1, 19, -5] {
                check_file_round_trip(&forest, dir.path(), level, &mut rng);
            }
        }
    }
}

#[test]
fn smartcore_iris_forest_round_trips_with_identical_predictions() {
    let forest = iris_forest();
    assert_eq!(forest.trees.len(), 100);
    let dir = tempfile::tempdir().unwrap();
    let (x, _) = iris();
    for level in [0, 3] {
        let path = dir.path().join(format!("iris{level}.forest"));
        store::save(&forest, &path, &opts(level)).unwrap();
        let back = store::load(&path).unwrap();
        assert_eq!(back, forest);
        assert_eq!(back.predict(x.view()), forest.predict(x.view()));
    }
    let mapped = MappedForest::open(dir.path().join("iris0.forest")).unwrap();
    assert_eq!(
        mapped.to_forest().predict(x.view()),
        forest.predict(x.view())
    );
    assert!(
        std::fs::metadata(dir.path().join("iris3.forest"))
            .unwrap()
            .len()
            < std::fs::metadata(dir.path().join("iris0.forest"))
                .unwrap()
                .len()
    );
}

#[test]
fn metadata_records_provenance_parameters_fingerprint_and_tags() {
    let forest = random_forest(&mut Rng(3), Kind::AverageStr, 4, 15);
    let x = random_rows(&mut Rng(4), 30, forest.n_features);
    let options = SaveOptions {
        level: 5,
        training_params: Some(serde_json::json!({"n_trees": 4, "max_depth": null, "seed": 42})),
        data_fingerprint: Some(DataFingerprint::of(x.view())),
        tags: BTreeMap::from([("owner".to_string(), "ml-team".to_string())]),
        environment: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.forest");
    store::save(&forest, &path, &options).unwrap();
    let meta = store::read_metadata(&path).unwrap();
    assert_eq!(meta.forest2onnx_version, env!("CARGO_PKG_VERSION"));
    // Every file is format 4 (values for leaves only).
    assert_eq!((meta.format.major, meta.format.minor), (4, 0));
    assert_eq!(meta.source, forest.source);
    assert_eq!(meta.feature_names, forest.feature_names);
    assert_eq!(meta.class_labels(), forest.class_labels());
    assert_eq!((meta.n_trees, meta.n_nodes), (4, forest.n_nodes()));
    assert_eq!(meta.compression, Compression::Zstd { level: 5 });
    assert_eq!(meta.training_params, options.training_params);
    assert_eq!(meta.data_fingerprint, options.data_fingerprint);
    assert_eq!(meta.data_fingerprint.as_ref().unwrap().rows, 30);
    assert_eq!(meta.tags, options.tags);
    let created = time::OffsetDateTime::parse(
        &meta.created,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        (time::OffsetDateTime::now_utc() - created)
            .whole_minutes()
            .abs()
            < 5
    );
}

#[test]
fn data_fingerprint_depends_on_values_not_memory_layout() {
    let x = random_rows(&mut Rng(5), 20, 4);
    let fp = DataFingerprint::of(x.view());
    assert_eq!((fp.rows, fp.cols), (20, 4));
    assert!(fp.hash.starts_with("xxh3-128:") && fp.hash.len() == 9 + 32);
    // Same values in column-major memory.
    let fortran = x.t().as_standard_layout().into_owned().reversed_axes();
    assert!(fortran.as_slice().is_none());
    assert_eq!(DataFingerprint::of(fortran.view()), fp);
    let mut y = x.clone();
    y[[7, 2]] += 1e-9;
    assert_ne!(DataFingerprint::of(y.view()).hash, fp.hash);
    assert_ne!(
        DataFingerprint::of(x.slice(ndarray::s![..19, ..])).hash,
        fp.hash
    );
}

#[test]
fn extremely_compressible_payload_is_stored_uncompressed() {
    // 4000 zero outputs per node compress far beyond the reader's ratio limit.
    let forest = Forest {
        input: Default::default(),
        n_features: 1,
        feature_names: None,
        split_op: SplitOp::LessOrEqual,
        task: Task::Regression { n_targets: 4000 },
        aggregation: Aggregation::Average,
        trees: vec![{
            let mut t = Tree::default();
            t.push_split(0, 0.5, (1, 2), false);
            t.push_leaf(&[0.0; 4000]);
            t.push_leaf(&[0.0; 4000]);
            t
        }],
        source: Source::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zeros.forest");
    let meta = store::save(&forest, &path, &opts(19)).unwrap();
    assert_eq!(meta.compression, Compression::None);
    assert_eq!(store::load(&path).unwrap(), forest);
    assert_eq!(MappedForest::open(&path).unwrap().to_forest(), forest);
}

// ---------------------------------------------------------------------------
// Corruption corpus
// ---------------------------------------------------------------------------

#[test]
fn every_truncation_and_extension_is_reported_as_corruption() {
    let forest = iris_forest();
    for level in [0, 3] {
        let bytes = store::to_bytes(&forest, &opts(level)).unwrap();
        for len in 0..bytes.len() {
            let r = store::from_bytes(&bytes[..len]);
            assert!(is_corrupt(&r), "level {level}, truncated to {len}: {r:?}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(is_corrupt(&store::from_bytes(&longer)));
    }
}

#[test]
fn every_flipped_bit_is_reported_as_corruption() {
    let forest = iris_forest();
    for level in [0, 3] {
        let mut bytes = store::to_bytes(&forest, &opts(level)).unwrap();
        let n = bytes.len();
        // Every bit of the file (about 390 000 cases uncompressed).
        let cases = (0..n).flat_map(|i| (0..8).map(move |b| (i, b)));
        let mut count = 0;
        for (i, bit) in cases {
            bytes[i] ^= 1 << bit;
            let r = store::from_bytes(&bytes);
            bytes[i] ^= 1 << bit;
            let expected = if i < 8 {
                matches!(r, Err(StoreError::BadMagic))
            } else {
                is_corrupt(&r)
            };
            assert!(expected, "level {level}, bit {bit} of byte {i}: {r:?}");
            count += 1;
        }
        assert_eq!(count, 8 * n);
        assert_eq!(store::from_bytes(&bytes).unwrap(), forest);
    }
}

#[test]
fn damaged_files_on_disk_fail_cleanly_on_every_read_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.forest");
    let forest = small_forest();
    store::save(&forest, &path, &opts(0)).unwrap();
    let good = std::fs::read(&path).unwrap();

    // A damaged payload: the header alone still reads, the model does not.
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 0x10;
    std::fs::write(&path, &bad).unwrap();
    assert!(store::read_metadata(&path).is_ok());
    assert!(is_corrupt(&store::load(&path)));
    let err = MappedForest::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");

    for len in [0, 5, 30, 71, 72, 100, good.len() - 1] {
        std::fs::write(&path, &good[..len]).unwrap();
        assert!(is_corrupt(&store::load(&path)), "{len}");
        let err = store::read_metadata(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{len}: {err}");
        let err = MappedForest::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{len}: {err}");
    }
    let missing = dir.path().join("nope.forest");
    let err = store::load(&missing).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }));
    assert!(err.to_string().contains("nope.forest"), "{err}");
}

// ---------------------------------------------------------------------------
// Versions and magic
// ---------------------------------------------------------------------------

#[test]
fn future_major_version_is_refused_with_an_upgrade_message() {
    let mut bytes = store::to_bytes(&small_forest(), &opts(3)).unwrap();
    bytes[8..10].copy_from_slice(&5u16.to_le_bytes());
    bytes[10..12].copy_from_slice(&1u16.to_le_bytes());
    for (i, part) in [9u16, 4, 0].iter().enumerate() {
        bytes[12 + 2 * i..14 + 2 * i].copy_from_slice(&part.to_le_bytes());
    }
    // A future format may lay out everything after byte 24 differently.
    bytes.truncate(40);
    reseal_id_only(&mut bytes);
    let expected = format!(
        "written by forest2onnx 9.4.0, format 5.1; this build (forest2onnx {}) reads formats up to 4: \
         upgrade forest2onnx",
        env!("CARGO_PKG_VERSION")
    );
    let err = store::from_bytes(&bytes).unwrap_err();
    assert!(matches!(
        err,
        StoreError::UnsupportedVersion { major: 5, .. }
    ));
    assert_eq!(err.to_string(), expected);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.forest");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(
        store::read_metadata(&path).unwrap_err().to_string(),
        expected
    );
    assert_eq!(store::load(&path).unwrap_err().to_string(), expected);
    assert_eq!(MappedForest::open(&path).unwrap_err().to_string(), expected);
}

fn reseal_id_only(bytes: &mut [u8]) {
    let id = xxh3_64(&bytes[..20]) as u32;
    bytes[20..24].copy_from_slice(&id.to_le_bytes());
}

#[test]
fn newer_minor_version_with_unknown_header_fields_is_read() {
    let forest = small_forest();
    let bytes = store::to_bytes(&forest, &opts(0)).unwrap();
    let (mut preamble, mut header, payload) = split(&bytes);
    preamble[10..12].copy_from_slice(&7u16.to_le_bytes());
    header["metadata"]["format"]["minor"] = 7.into();
    header["metadata"]["added_in_1_7"] = serde_json::json!({"anything": [1, 2]});
    header["added_in_1_7"] = true.into();
    let file = assemble(&preamble, &header, &payload, payload.len() as u64);
    let (back, meta) = store::from_bytes_with_metadata(&file).unwrap();
    assert_eq!(back, forest);
    assert_eq!(meta.format.minor, 7);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1_7.forest");
    std::fs::write(&path, &file).unwrap();
    assert_eq!(MappedForest::open(&path).unwrap().to_forest(), forest);
}

/// A section this build does not know could hold anything, of any size:
/// refused (new sections come with a new major version, see docs/FORMAT.md).
#[test]
fn unknown_sections_are_refused() {
    let forest = small_forest();
    let bytes = store::to_bytes(&forest, &opts(0)).unwrap();
    let (preamble, mut header, mut payload) = split(&bytes);
    payload.resize(payload.len().div_ceil(64) * 64, 0);
    let extra = payload.len();
    payload.extend_from_slice(&[1, 2, 3]);
    header["sections"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(
            {"name": "added_in_1_7", "dtype": "u8", "offset": extra, "count": 3}
        ));
    let file = assemble(&preamble, &header, &payload, payload.len() as u64);
    let err = store::from_bytes(&file).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("\"added_in_1_7\""), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unknown.forest");
    std::fs::write(&path, &file).unwrap();
    assert_eq!(
        MappedForest::open(&path).unwrap_err().to_string(),
        err.to_string()
    );
}

#[test]
fn files_that_are_not_models_are_refused_by_magic() {
    for junk in [
        &b"PK\x03\x04 a zip file"[..],
        b"{\"json\": true}",
        b"\x80\x04\x95 pickle",
        b"\x89F2OF\r\n\x00 almost",
    ] {
        let err = store::from_bytes(junk).unwrap_err();
        assert!(matches!(err, StoreError::BadMagic), "{err}");
        assert_eq!(
            err.to_string(),
            "not a forest2onnx model file (wrong magic bytes)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.joblib");
    std::fs::write(
        &path,
        b"\x80\x04\x95\x00\x00 not a model at all, just some bytes",
    )
    .unwrap();
    assert!(matches!(store::load(&path), Err(StoreError::BadMagic)));
    assert!(matches!(
        store::read_metadata(&path),
        Err(StoreError::BadMagic)
    ));
    assert!(matches!(
        MappedForest::open(&path),
        Err(StoreError::BadMagic)
    ));
}

// ---------------------------------------------------------------------------
// Well-checksummed but hostile or inconsistent files
// ---------------------------------------------------------------------------

/// Edits an uncompressed file's payload and header, then re-seals it.
fn edited(forest: &Forest, edit: impl FnOnce(&mut serde_json::Value, &mut Vec<u8>)) -> Vec<u8> {
    let (preamble, mut header, mut payload) = split(&store::to_bytes(forest, &opts(0)).unwrap());
    edit(&mut header, &mut payload);
    assemble(&preamble, &header, &payload, payload.len() as u64)
}

#[test]
fn consistent_checksums_do_not_excuse_an_invalid_forest() {
    let forest = small_forest();
    assert!(forest.trees[0].n_nodes() > 1, "the edits need a split");
    // A child pointing back at the root.
    let file = edited(&forest, |h, p| {
        let (off, _) = section(h, "true_child");
        p[off..off + 4].copy_from_slice(&0u32.to_le_bytes());
    });
    let err = store::from_bytes(&file).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidForest(ForestError::Tree { tree: 0, .. })
        ),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.forest");
    std::fs::write(&path, &file).unwrap();
    let err = MappedForest::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::InvalidForest(_)), "{err}");

    // A bad split in the last tree of a forest: the error names that tree
    // on every read path.
    let mut three = forest.clone();
    three.trees = vec![forest.trees[0].clone(); 3];
    let file = edited(&three, |h, p| {
        let (off, _) = section(h, "feature");
        let last_root = 2 * three.trees[0].n_nodes() * 4;
        p[off + last_root..off + last_root + 4].copy_from_slice(&99u32.to_le_bytes());
    });
    std::fs::write(&path, &file).unwrap();
    for err in [
        store::from_bytes(&file).unwrap_err(),
        MappedForest::open(&path).unwrap_err(),
    ] {
        assert!(
            matches!(&err, StoreError::InvalidForest(ForestError::Tree { tree: 2, problem })
                if problem.contains("feature 99")),
            "{err}"
        );
    }

    // No trees at all.
    let file = edited(&forest, |h, p| {
        h["metadata"]["n_trees"] = 0.into();
        h["metadata"]["n_nodes"] = 0.into();
        h["metadata"]["n_leaves"] = 0.into();
        h["metadata"]["n_true_children"] = 0.into();
        let sections = h["sections"].as_array_mut().unwrap();
        sections.retain(|s| !s["name"].as_str().unwrap().starts_with("true_child"));
        for s in sections {
            let first = s["name"] == "tree_offsets";
            s["count"] = u64::from(first).into();
            s["offset"] = if first { 0 } else { 64 }.into();
        }
        p.clear();
        p.resize(64, 0);
    });
    std::fs::write(&path, &file).unwrap();
    for err in [
        store::from_bytes(&file).unwrap_err(),
        MappedForest::open(&path).unwrap_err(),
    ] {
        assert!(
            matches!(err, StoreError::InvalidForest(ForestError::NoTrees)),
            "{err}"
        );
    }

    // A missing-value flag that is not a boolean.
    let file = edited(&forest, |h, p| {
        let (off, _) = section(h, "missing_true");
        p[off] = 2;
    });
    assert!(is_corrupt(&store::from_bytes(&file)));

    // Tree offsets past the node count.
    let file = edited(&forest, |h, p| {
        let (off, _) = section(h, "tree_offsets");
        p[off + 8..off + 16].copy_from_slice(&u64::MAX.to_le_bytes());
    });
    assert!(is_corrupt(&store::from_bytes(&file)));

    // Header counts that disagree with the sections.
    let file = edited(&forest, |h, _| h["metadata"]["n_nodes"] = 1_000_000.into());
    assert!(is_corrupt(&store::from_bytes(&file)));
    let file = edited(&forest, |h, _| {
        h["metadata"]["task"] = serde_json::json!({"Regression": {"n_targets": u64::MAX}});
        h["metadata"]["aggregation"] = "Average".into();
    });
    assert!(is_corrupt(&store::from_bytes(&file)));
    // A section moved out of the payload, or out of alignment.
    let file = edited(&forest, |h, _| {
        h["sections"][1]["offset"] = (1u64 << 40).into()
    });
    assert!(is_corrupt(&store::from_bytes(&file)));
    let file = edited(&forest, |h, _| h["sections"][1]["offset"] = 8.into());
    assert!(is_corrupt(&store::from_bytes(&file)));
    // A duplicate and a missing section.
    let file = edited(&forest, |h, _| {
        let first = h["sections"][0].clone();
        h["sections"].as_array_mut().unwrap().push(first);
    });
    assert!(is_corrupt(&store::from_bytes(&file)));
    let file = edited(&forest, |h, _| {
        h["sections"].as_array_mut().unwrap().remove(2);
    });
    assert!(is_corrupt(&store::from_bytes(&file)));
    // Invalid labels in the header.
    let file = edited(&forest, |h, _| {
        h["metadata"]["task"] = serde_json::json!({"Classification": {"Int": [1, 1, 1, 1, 1, 1]}});
    });
    assert!(matches!(
        store::from_bytes(&file),
        Err(StoreError::InvalidForest(ForestError::DuplicateLabel(_)))
    ));
    // Not JSON at all.
    let (preamble, _, payload) = split(&store::to_bytes(&forest, &opts(0)).unwrap());
    let mut file = assemble(
        &preamble,
        &serde_json::json!("placeholder"),
        &payload,
        payload.len() as u64,
    );
    let (a, b) = (PREAMBLE, PREAMBLE + 13);
    file[a..b].copy_from_slice(b"{\"metadata\":[");
    reseal(&mut file);
    let err = store::from_bytes(&file).unwrap_err();
    assert!(err.to_string().contains("JSON"), "{err}");
}

#[test]
fn declared_sizes_are_bounded_before_allocation() {
    let forest = small_forest();
    // A header longer than the limit, in a file whose lengths add up:
    // refused from the preamble alone, without reading the header.
    let mut file = store::to_bytes(&forest, &opts(0)).unwrap()[..PREAMBLE].to_vec();
    let header_len = store::MAX_HEADER_LEN + 1;
    file[32..40].copy_from_slice(&header_len.to_le_bytes());
    file[40..56].fill(0);
    file.resize(payload_offset(header_len as usize), b' ');
    let err = store::from_bytes(&file).unwrap_err();
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-header.forest");
    std::fs::write(&path, &file).unwrap();
    let err = store::read_metadata(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
    // Lengths that overflow or exceed the file.
    for len_field in [40, 32] {
        let mut file = store::to_bytes(&forest, &opts(0)).unwrap();
        file[len_field..len_field + 8].copy_from_slice(&(u64::MAX - 10).to_le_bytes());
        let r = store::from_bytes(&file);
        assert!(
            matches!(
                r,
                Err(StoreError::Corrupt { .. } | StoreError::TooLarge { .. })
            ),
            "{r:?}"
        );
    }
    // A compressed payload claiming to expand far beyond the ratio limit.
    let (preamble, header, payload) = split(&store::to_bytes(&forest, &opts(3)).unwrap());
    for raw_len in [1u64 << 50, payload.len() as u64 * 5000] {
        let file = assemble(&preamble, &header, &payload, raw_len);
        let err = store::from_bytes(&file).unwrap_err();
        assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
    }
    // Claiming a little more or less than it expands to.
    let real = u64_at(&store::to_bytes(&forest, &opts(3)).unwrap(), 48);
    for raw_len in [real - 1, real + 1, 0] {
        let file = assemble(&preamble, &header, &payload, raw_len);
        assert!(is_corrupt(&store::from_bytes(&file)), "{raw_len}");
    }
}

// ---------------------------------------------------------------------------
// Saving
// ---------------------------------------------------------------------------

#[test]
fn save_refuses_invalid_forests_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.forest");
    let mut forest = small_forest();
    forest.trees.clear();
    let err = store::save(&forest, &path, &opts(3)).unwrap_err();
    assert!(matches!(
        err,
        StoreError::InvalidForest(ForestError::NoTrees)
    ));
    assert!(!path.exists());

    let forest = small_forest();
    for level in [23, -1_000_000] {
        let err = store::save(&forest, &path, &opts(level)).unwrap_err();
        assert!(matches!(err, StoreError::InvalidOptions(_)), "{err}");
    }
    let bad_params = SaveOptions {
        training_params: Some(serde_json::json!([1, 2])),
        ..SaveOptions::default()
    };
    assert!(matches!(
        store::save(&forest, &path, &bad_params),
        Err(StoreError::InvalidOptions(_))
    ));
    let huge_tags = SaveOptions {
        tags: BTreeMap::from([("big".into(), "x".repeat(17 << 20))]),
        ..SaveOptions::default()
    };
    assert!(matches!(
        store::save(&forest, &path, &huge_tags),
        Err(StoreError::TooLarge { .. })
    ));
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    let err = store::save(&forest, dir.path().join("no/such/dir/m.forest"), &opts(0)).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
}

#[test]
fn save_replaces_atomically_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.forest");
    let a = random_forest(&mut Rng(11), Kind::SumSoftmax, 5, 20);
    let b = random_forest(&mut Rng(12), Kind::VoteInt, 2, 5);
    store::save(&a, &path, &opts(0)).unwrap();
    // Mapped files stay valid when replaced: the new file is a new inode.
    let mapped = MappedForest::open(&path).unwrap();
    store::save(&b, &path, &opts(3)).unwrap();
    assert_eq!(store::load(&path).unwrap(), b);
    assert_eq!(mapped.to_forest(), a);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["m.forest"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_ne!(mode & 0o044, 0, "readable like any created file: {mode:o}");
    }
}

#[test]
fn versioned_saves_count_up_and_latest_finds_the_highest() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(store::latest_version(dir.path(), "iris").unwrap(), None);
    let forests: Vec<Forest> = (0..3)
        .map(|i| random_forest(&mut Rng(20 + i), Kind::AverageStr, 2, 9))
        .collect();
    // Files that must not be taken for versions of "iris".
    for other in [
        "iris2_v9_20990101_000000.forest",
        "iris_v99.forest",
        "iris_v98_x.forest",
    ] {
        std::fs::write(dir.path().join(other), b"").unwrap();
    }
    let mut paths = Vec::new();
    for f in &forests {
        paths.push(store::save_versioned(f, dir.path(), "iris", &SaveOptions::default()).unwrap());
    }
    for (i, p) in paths.iter().enumerate() {
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(&format!("iris_v{}_", i + 1)), "{name}");
        assert!(name.ends_with(".forest") && name.len() == "iris_v1_20240101_000000.forest".len());
    }
    let latest = store::latest_version(dir.path(), "iris").unwrap().unwrap();
    assert_eq!(latest, paths[2]);
    assert_eq!(store::load(&latest).unwrap(), forests[2]);
    let versions = store::versions(dir.path(), "iris").unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    // Numbering continues above the highest version present, gaps included.
    std::fs::write(dir.path().join("iris_v41_20200101_000000.forest"), b"").unwrap();
    let p =
        store::save_versioned(&forests[0], dir.path(), "iris", &SaveOptions::default()).unwrap();
    assert!(p
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("iris_v42_"));
    assert_eq!(
        store::latest_version(dir.path(), "iris").unwrap().unwrap(),
        p
    );

    for bad in ["", "../x", "a/b", ".x"] {
        assert!(matches!(
            store::save_versioned(&forests[0], dir.path(), bad, &SaveOptions::default()),
            Err(StoreError::InvalidOptions(_))
        ));
    }
    assert!(matches!(
        store::latest_version(dir.path().join("missing"), "iris"),
        Err(StoreError::Io { .. })
    ));
}

// ---------------------------------------------------------------------------
// Property: round trip is identity
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn round_trip_is_identity(
        seed in any::<u64>(),
        kind in 0..KINDS.len(),
        n_trees in 1usize..6,
        max_nodes in 1usize..40,
        level in prop::sample::select(vec![0, 1, 3, -3]),
    ) {
        let forest = random_forest(&mut Rng(seed), KINDS[kind], n_trees, max_nodes);
        let bytes = store::to_bytes(&forest, &opts(level)).unwrap();
        let (back, meta) = store::from_bytes_with_metadata(&bytes).unwrap();
        prop_assert_eq!(&back, &forest);
        prop_assert_eq!(meta.n_nodes, forest.n_nodes());
        prop_assert_eq!(store::metadata_from_bytes(&bytes).unwrap(), meta);
    }
}

// ---------------------------------------------------------------------------
// By hand
// ---------------------------------------------------------------------------

/// A random forest of about 2.7 M nodes: 300 trees of ~9 000 nodes, three
/// classes averaged (like a scikit-learn forest).
fn big_forest() -> Forest {
    let mut rng = Rng(99);
    let mut forest = random_forest(&mut rng, Kind::AverageStr, 1, 1);
    forest.task = Task::Classification(Labels::Str(vec!["a".into(), "b".into(), "c".into()]));
    forest.n_features = 30;
    forest.feature_names = None;
    let mut leaf = |rng: &mut Rng| {
        let a = rng.unit();
        let b = rng.unit() * (1.0 - a);
        vec![a, b, 1.0 - a - b]
    };
    forest.trees = (0..300)
        .map(|_| random_tree(&mut rng, 9001, 0.97, 30, &mut leaf, 3))
        .collect();
    forest.check().unwrap();
    forest
}

fn time_it<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = std::time::Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64() * 1000.0)
}

/// Save/load times and sizes; run with
/// `cargo test --release --test it store:: -- --ignored --nocapture measure`.
#[test]
#[ignore]
fn measure_save_load_times_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    for (name, forest) in [
        ("iris 100 trees", iris_forest()),
        ("big random", big_forest()),
    ] {
        println!(
            "{name}: {} trees, {} nodes",
            forest.trees.len(),
            forest.n_nodes()
        );
        for level in [0, 3] {
            let path = dir.path().join(format!("{level}.forest"));
            let (_, save_ms) = time_it(|| store::save(&forest, &path, &opts(level)).unwrap());
            let size = std::fs::metadata(&path).unwrap().len();
            let (back, load_ms) = time_it(|| store::load(&path).unwrap());
            assert_eq!(back, forest);
            let (_, meta_ms) = time_it(|| store::read_metadata(&path).unwrap());
            print!(
                "  level {level}: {size} bytes ({:.2} MiB), save {save_ms:.1} ms, load {load_ms:.1} ms, \
                 read_metadata {meta_ms:.2} ms",
                size as f64 / (1 << 20) as f64
            );
            if level == 0 {
                let (mapped, open_ms) = time_it(|| MappedForest::open(&path).unwrap());
                let (f, copy_ms) = time_it(|| mapped.to_forest());
                assert_eq!(f, forest);
                print!(", mmap open+verify {open_ms:.1} ms, to_forest {copy_ms:.1} ms");
            }
            println!();
        }
    }
}

/// Writes seed inputs for the fuzzer; run with
/// `cargo test --test it store:: -- --ignored write_fuzz_seeds`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/load");
    std::fs::create_dir_all(&out).unwrap();
    let mut rng = Rng(2024);
    for (i, kind) in KINDS.iter().enumerate() {
        let forest = random_forest(&mut rng, *kind, 2, 7);
        for level in [0, 3] {
            let bytes = store::to_bytes(&forest, &opts(level)).unwrap();
            std::fs::write(out.join(format!("{kind:?}-{i}-level{level}.forest")), bytes).unwrap();
        }
        // Format 3: the compressed payload in frames of a few arrays each.
        let bytes = store::to_bytes_framed(&forest, &opts(3), 64).unwrap();
        std::fs::write(out.join(format!("{kind:?}-{i}-framed.forest")), bytes).unwrap();
    }
}
