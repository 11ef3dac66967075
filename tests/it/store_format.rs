//! Native format 2 and the layout rules: categorical splits and per-tree
//! targets round trip; each file gets the oldest format whose readers read
//! it correctly; files of formats 1.0, 2 and 3 (committed, written by older
//! builds) still load; section tables that leave bytes uncovered, overlap or ask
//! for more than their counts are refused; versioned saves never share a
//! version.

use crate::store_support;

use std::collections::BTreeSet;
use std::path::Path;

use forest2onnx::ir::{
    Aggregation, CategorySplits, Forest, InputRules, Labels, PostTransform, Precision, Source,
    SplitOp, Task, Tree, LEAF,
};
use forest2onnx::store::{self, MappedForest, StoreError};
use ndarray::Array2;
use store_support::*;

/// A three-class boosted forest: one tree per class and round (per-tree
/// targets), each with a categorical split at the root.
fn categorical_boosted() -> Forest {
    let trees = (0..6u32)
        .map(|t| {
            let mut categories = CategorySplits::default();
            categories.push(0, [1, 3, 7 + t]);
            if t % 2 == 0 {
                categories.push(1, []);
            }
            let mut tree = Tree::from_node_arrays(
                vec![1, 0, 0, 0, 0],
                vec![f64::NAN, 0.5 + f64::from(t), 0.0, 0.0, 0.0],
                &[1, 3, LEAF, LEAF, LEAF],
                &[2, 4, LEAF, LEAF, LEAF],
                vec![t % 3 == 0, true, false, false, false],
                &[0.0, 0.0, -0.25 * f64::from(t), 1.5, -1.0 + f64::from(t)],
                1,
            )
            .unwrap();
            tree.categories = categories;
            tree
        })
        .collect();
    let forest = Forest {
        n_features: 2,
        feature_names: Some(vec!["x".into(), "colour".into()]),
        input: InputRules {
            precision: Precision::F32,
            ..Default::default()
        },
        split_op: SplitOp::Less,
        task: Task::Classification(Labels::Int(vec![0, 1, 2])),
        aggregation: Aggregation::Sum {
            base_values: vec![0.1, 0.2, 0.3],
            post_transform: PostTransform::Softmax,
            tree_targets: vec![0, 1, 2, 0, 1, 2],
        },
        trees,
        source: Source {
            library: "test".into(),
            version: "1".into(),
            estimator: "Booster".into(),
            details: Default::default(),
        },
    };
    forest.check().expect("a valid forest");
    forest
}

/// Rows over every category seen, unseen, negative, fractional and NaN.
fn category_rows() -> Array2<f64> {
    let colours = [
        0.0,
        1.0,
        3.0,
        7.0,
        9.0,
        12.0,
        2.5,
        -1.0,
        -0.5,
        f64::NAN,
        1e10,
    ];
    let xs = [-1.0, 0.5, 2.0, 6.0, f64::NAN];
    let rows: Vec<f64> = colours
        .iter()
        .flat_map(|&c| xs.iter().flat_map(move |&x| [x, c]))
        .collect();
    Array2::from_shape_vec((rows.len() / 2, 2), rows).unwrap()
}

#[test]
fn categorical_splits_and_tree_targets_round_trip() {
    let forest = categorical_boosted();
    let x = category_rows();
    let dir = tempfile::tempdir().unwrap();
    for level in [0, 3] {
        let path = dir.path().join(format!("c{level}.forest"));
        let meta = store::save(&forest, &path, &opts(level)).unwrap();
        assert_eq!((meta.format.major, meta.format.minor), (4, 0));
        assert!(meta.per_tree_targets);
        assert_eq!(meta.n_category_splits, 9);
        assert_eq!(meta.n_category_values, 18);
        let back = store::load(&path).unwrap();
        // NaN thresholds: compare bit for bit through Debug.
        assert_eq!(format!("{back:?}"), format!("{forest:?}"));
        assert_eq!(back.predict(x.view()), forest.predict(x.view()));
        store::verify(&forest, &std::fs::read(&path).unwrap()).unwrap();
        if level == 0 {
            let mapped = MappedForest::open(&path).unwrap();
            assert_eq!(format!("{:?}", mapped.to_forest()), format!("{forest:?}"));
            let view = mapped.tree(4).unwrap();
            assert_eq!(view.target, Some(1));
            assert_eq!(view.category_nodes, &[0, 1]);
            assert_eq!(view.categories(0), &[1, 3, 11]);
            assert_eq!(view.categories(1), &[] as &[u32]);
            assert_eq!(mapped.arrays().tree_target(), &[0, 1, 2, 0, 1, 2]);
        }
    }
}

/// Format 4 stores values for leaves only, which older readers would
/// misread: every file gets 4.0, plain, categorical, boosted or framed;
/// depth-first trees store no true child, breadth-first ones all of theirs.
#[test]
fn every_file_is_written_as_format_4_with_leaf_values_only() {
    let plain = small_forest();
    let version = |f: &Forest| {
        let m = store::metadata_from_bytes(&store::to_bytes(f, &opts(3)).unwrap()).unwrap();
        (m.format.major, m.format.minor)
    };
    let mut f32_input = plain.clone();
    f32_input.input.precision = Precision::F32;
    for f in [&plain, &f32_input, &categorical_boosted()] {
        assert_eq!(version(f), (4, 0));
    }
    let sections = |f: &Forest| {
        let (_, header, _) = split(&store::to_bytes(f, &opts(0)).unwrap());
        let m = &header["metadata"];
        assert_eq!(m["n_leaves"], f.n_leaves() as u64);
        let names: Vec<String> = header["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        let count = |name: &str| {
            let s = header["sections"].as_array().unwrap().iter();
            s.filter(|s| s["name"] == name)
                .map(|s| s["count"].as_u64().unwrap())
                .sum::<u64>()
        };
        assert_eq!(count("value"), (f.n_leaves() * f.leaf_width()) as u64);
        (
            names.contains(&"true_child".to_string()),
            count("true_child"),
        )
    };
    // Breadth-first trees (children appended as nodes split): stored.
    assert!(plain.trees.iter().any(|t| !t.implicit_true_children()));
    let stored: usize = plain
        .trees
        .iter()
        .map(|t| t.explicit_true_child.len())
        .sum();
    assert_eq!(sections(&plain), (true, stored as u64));
    // Depth-first trees (scikit-learn's order): none stored.
    let depth_first = forest2onnx::synth::forest(&forest2onnx::synth::SynthSpec::small());
    assert!(depth_first.trees.iter().all(|t| t.implicit_true_children()));
    assert_eq!(sections(&depth_first), (false, 0));
}

/// The error loading `forest`'s uncompressed file relabelled as format
/// `major.minor`.
fn claimed_as(forest: &Forest, major: u16, minor: u16) -> String {
    let bytes = store::to_bytes(forest, &opts(0)).unwrap();
    let (mut preamble, mut header, payload) = split(&bytes);
    preamble[8..10].copy_from_slice(&major.to_le_bytes());
    preamble[10..12].copy_from_slice(&minor.to_le_bytes());
    header["metadata"]["format"] = serde_json::json!({"major": major, "minor": minor});
    let file = assemble(&preamble, &header, &payload, payload.len() as u64);
    store::from_bytes(&file).unwrap_err().to_string()
}

#[test]
fn format_1_files_cannot_claim_format_2_content() {
    let err = claimed_as(&categorical_boosted(), 1, 1);
    assert!(
        err.contains("format 1.1 cannot hold categorical splits"),
        "{err}"
    );
}

#[test]
fn format_4_layouts_cannot_claim_an_older_format() {
    let err = claimed_as(&small_forest(), 2, 0);
    assert!(err.contains("which only format 4 stores"), "{err}");
}

/// Files written by forest2onnx before format 1.1, committed as written:
/// `fuzz/seeds/load` holds the same, generated by `write_fuzz_seeds`.
#[test]
fn committed_format_1_0_files_still_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store/format-1.0");
    let mut seen = 0;
    let mut rng = Rng(2024);
    for (i, kind) in KINDS.iter().enumerate() {
        // The generator that wrote them, at the same seed.
        let expected = random_forest(&mut rng, *kind, 2, 7);
        for level in [0, 3] {
            let path = dir.join(format!("{kind:?}-{i}-level{level}.forest"));
            let (forest, meta) = store::load_with_metadata(&path).unwrap();
            assert_eq!((meta.format.major, meta.format.minor), (1, 0));
            assert_eq!(forest.input, InputRules::default(), "1.0 compares in f64");
            assert_eq!(forest, expected, "{}", path.display());
            if level == 0 {
                assert_eq!(MappedForest::open(&path).unwrap().to_forest(), forest);
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 12);
}

/// The scikit-learn fixtures (under `tests/fixtures/sklearn/`) that the
/// last build before format 4 wrote as native files, with the format of
/// its plain save (2.0, or 1.1 where the input rules are the defaults).
const FORMAT_2_3: [(&str, &str, (u16, u16)); 6] = [
    ("iris_rf7", "cli/iris_rf7.pkl", (2, 0)),
    ("gb_binary", "cli/gb_binary.pkl", (2, 0)),
    ("hgb_poisson", "cli/hgb_poisson.pkl", (1, 1)),
    ("isolation_forest", "cli/isolation_forest.pkl", (2, 0)),
    (
        "rf_regressor_2targets",
        "cli/rf_regressor_2targets.pkl",
        (2, 0),
    ),
    (
        "hgbc_categorical",
        "estimators-1.9.1/hgbc_categorical.p4.pkl",
        (2, 0),
    ),
];

/// Files of formats 1.1 and 2.0 (`level3`) and 3.0 (`framed`: the payload
/// in zstd frames) as the last build before format 4 wrote them (commit
/// `503601c`, values stored for every node): they load to the forests the
/// importer reads from the same models today, leaf values and all.
#[test]
fn committed_format_2_and_3_files_still_load() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = fixtures.join("store/format-2-3");
    for (name, model, plain) in FORMAT_2_3 {
        let expected = forest2onnx::load(fixtures.join("sklearn").join(model))
            .unwrap()
            .forest;
        for (kind, format) in [("level3", plain), ("framed", (3, 0))] {
            let path = dir.join(format!("{name}.{kind}.forest"));
            let (mut forest, meta) = store::load_with_metadata(&path).unwrap();
            let got = (meta.format.major, meta.format.minor);
            assert_eq!(got, format, "{}", path.display());
            assert_eq!(forest.source.estimator, expected.source.estimator);
            // (Provenance details may have grown since.)
            forest.source = expected.source.clone();
            assert_eq!(forest, expected, "{}", path.display());
        }
    }
}

/// An uncompressed file edited by `edit` (header JSON and payload bytes).
fn edited(
    forest: &Forest,
    raw_len: impl FnOnce(u64) -> u64,
    edit: impl FnOnce(&mut serde_json::Value, &mut Vec<u8>),
) -> Vec<u8> {
    let (preamble, mut header, mut payload) = split(&store::to_bytes(forest, &opts(0)).unwrap());
    edit(&mut header, &mut payload);
    let len = raw_len(payload.len() as u64);
    assemble(&preamble, &header, &payload, len)
}

fn entry(header: &mut serde_json::Value, i: usize) -> &mut serde_json::Value {
    &mut header["sections"][i]
}

/// The position of section `name` in the header's table.
fn position(header: &serde_json::Value, name: &str) -> usize {
    let sections = header["sections"].as_array().unwrap();
    sections.iter().position(|s| s["name"] == name).unwrap()
}

/// Every way to leave bytes uncovered or cover them twice is corruption,
/// named in the message, through both readers.
#[test]
fn payload_bytes_are_covered_by_exactly_one_section() {
    let forest = small_forest();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bytes after the last section",
            edited(&forest, |n| n, |_, p| p.extend_from_slice(&[0; 64])),
            "sections end at",
        ),
        (
            "a gap between sections",
            edited(
                &forest,
                |n| n,
                |h, p| {
                    let m = position(h, "missing_true");
                    let off = entry(h, m)["offset"].as_u64().unwrap();
                    entry(h, m)["offset"] = (off + 64).into();
                    p.splice(off as usize..off as usize, [0; 64]);
                },
            ),
            "is \"missing_true\"",
        ),
        (
            "two sections at one offset",
            edited(
                &forest,
                |n| n,
                |h, _| {
                    let off = entry(h, 1)["offset"].clone();
                    entry(h, 2)["offset"] = off;
                },
            ),
            "section 2 is \"value\"",
        ),
        (
            "a section listed twice",
            edited(
                &forest,
                |n| n,
                |h, _| {
                    let dup = entry(h, position(h, "missing_true")).clone();
                    h["sections"].as_array_mut().unwrap().push(dup);
                },
            ),
            "is not part of this layout",
        ),
        (
            "a count the header's node count does not call for",
            edited(
                &forest,
                |n| n,
                |h, _| {
                    let c = entry(h, 1)["count"].as_u64().unwrap();
                    entry(h, 1)["count"] = (c + 1).into();
                },
            ),
            "section 1 is \"threshold\"",
        ),
        (
            "non-zero padding",
            edited(
                &forest,
                |n| n,
                |h, p| {
                    let m = position(h, "missing_true");
                    let off = entry(h, m)["offset"].as_u64().unwrap() as usize;
                    assert!(
                        p[off - 1] == 0,
                        "the test needs padding before missing_true"
                    );
                    p[off - 1] = 1;
                },
            ),
            "non-zero padding before section \"missing_true\"",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, file, needle) in cases {
        let err = store::from_bytes(&file).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { .. }) && err.to_string().contains(needle),
            "{what}: {err}"
        );
        let path = dir.path().join("edited.forest");
        std::fs::write(&path, &file).unwrap();
        let mapped = MappedForest::open(&path).unwrap_err();
        assert!(
            matches!(mapped, StoreError::Corrupt { .. }),
            "{what} (mapped): {mapped}"
        );
    }
}

/// A compressed payload whose sections are right but which carries more:
/// extra decompressed bytes, bytes after its frame, or a second frame.
#[test]
fn compressed_payloads_hold_their_sections_and_nothing_else() {
    let forest = small_forest();
    let (_, header, raw) = split(&store::to_bytes(&forest, &opts(0)).unwrap());
    let (preamble3, _, _) = split(&store::to_bytes(&forest, &opts(3)).unwrap());
    let zstd = |b: &[u8]| zstd::bulk::compress(b, 3).unwrap();
    // Frames that do not state their size are checked as they decode.
    let unsized_zstd = |b: &[u8]| {
        use std::io::Write;
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.include_contentsize(false).unwrap();
        e.write_all(b).unwrap();
        e.finish().unwrap()
    };
    let mut longer = raw.clone();
    longer.extend_from_slice(&[0; 1000]);
    let mut trailing = zstd(&raw);
    trailing.extend_from_slice(b"junk");
    let mut two_frames = zstd(&raw);
    two_frames.extend_from_slice(&zstd(&[0; 10]));
    let mut h3 = header.clone();
    h3["metadata"]["compression"] = serde_json::json!({"Zstd": {"level": 3}});
    for (what, payload, raw_len, needle) in [
        (
            "longer raw_len",
            zstd(&longer),
            longer.len(),
            "sections end at",
        ),
        (
            "shorter stream",
            unsized_zstd(&raw[..raw.len() - 1]),
            raw.len(),
            "ends inside",
        ),
        (
            "longer stream",
            unsized_zstd(&longer),
            raw.len(),
            "longer than its sections",
        ),
        ("longer frame", zstd(&longer), raw.len(), "frame holds"),
        ("shorter frame", zstd(&raw[..8]), raw.len(), "frame holds"),
        (
            "bytes after the frame",
            trailing,
            raw.len(),
            "after the payload",
        ),
        ("a second frame", two_frames, raw.len(), "after the payload"),
    ] {
        let file = assemble(&preamble3, &h3, &payload, raw_len as u64);
        let err = store::from_bytes(&file).unwrap_err();
        assert!(err.to_string().contains(needle), "{what}: {err}");
    }
    // The same edits made from scratch decode when nothing was added.
    let file = assemble(&preamble3, &h3, &zstd(&raw), raw.len() as u64);
    assert_eq!(store::from_bytes(&file).unwrap(), forest);
}

#[test]
fn concurrent_versioned_saves_get_distinct_versions() {
    let forest = small_forest();
    let dir = tempfile::tempdir().unwrap();
    store::save_versioned(&forest, dir.path(), "m", &opts(1)).unwrap();
    let paths: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| store::save_versioned(&forest, dir.path(), "m", &opts(1))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    let versions: BTreeSet<u64> = store::versions(dir.path(), "m")
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, (1..=9).collect());
    assert_eq!(paths.len(), 8);
    assert_eq!(
        store::latest_version(dir.path(), "m").unwrap().unwrap(),
        store::versions(dir.path(), "m").unwrap()[8].path
    );
}

/// A forest whose payload (about 10 MB) is framed.
fn large_forest() -> Forest {
    forest2onnx::synth::forest(&forest2onnx::synth::SynthSpec::sklearn(70, 5001, 12))
}

#[test]
fn large_payloads_are_framed_and_load_in_parallel() {
    let forest = large_forest();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.forest");
    let meta = store::save(&forest, &path, &opts(3)).unwrap();
    assert_eq!((meta.format.major, meta.format.minor), (4, 0));
    let bytes = std::fs::read(&path).unwrap();
    assert!(u64_at(&bytes, 48) >= 8 << 20, "the payload is under 8 MiB");
    let (_, header, _) = split(&bytes);
    let frames = header["frames"].as_array().unwrap();
    assert!(frames.len() >= 2, "{} frames", frames.len());
    assert_eq!(store::load(&path).unwrap(), forest);
    // Uncompressed, the same forest needs no frames (and maps).
    let raw = store::to_bytes(&forest, &opts(0)).unwrap();
    assert_eq!(split(&raw).1.get("frames"), None);
    assert_eq!(store::from_bytes(&raw).unwrap(), forest);
}

#[test]
fn frame_tables_that_do_not_tile_the_payload_at_array_boundaries_are_refused() {
    let forest = large_forest();
    let bytes = store::to_bytes(&forest, &opts(3)).unwrap();
    let (preamble, header, payload) = split(&bytes);
    let raw_len = u64_at(&bytes, 48);
    let refused = |edit: &dyn Fn(&mut serde_json::Value), why: &str| {
        let mut h = header.clone();
        edit(&mut h);
        let file = assemble(&preamble, &h, &payload, raw_len);
        let err = store::from_bytes(&file).unwrap_err().to_string();
        assert!(err.contains(why), "{why}: {err}");
    };
    let frame = |h: &mut serde_json::Value, k: usize, field: &str, delta: i64| {
        let v = &mut h["frames"][k][field];
        *v = (v.as_i64().unwrap() + delta).into();
    };
    // A boundary moved by one element: the totals still match, the
    // frames' own content sizes do not.
    refused(
        &|h| {
            frame(h, 0, "raw", 8);
            frame(h, 1, "raw", -8);
        },
        "the frame table says",
    );
    refused(&|h| frame(h, 0, "raw", 8), "the frame table covers");
    refused(&|h| frame(h, 0, "stored", 1), "the frame table covers");
    // Stored lengths shifted between frames: zstd sees cut frames.
    refused(
        &|h| {
            frame(h, 0, "stored", 5);
            frame(h, 1, "stored", -5);
        },
        "zstd",
    );
    refused(
        &|h| {
            let first = h["frames"][0].clone();
            let frames = h["frames"].as_array_mut().unwrap();
            frames.insert(0, serde_json::json!({"raw": 0, "stored": 0}));
            frames[1] = first;
        },
        "frame 0 is empty",
    );
    // Without its table, a format-4 framed payload reads as one frame
    // that stops short; format 3 needs its frame table, and format 2
    // cannot have one.
    refused(
        &|h| {
            h.as_object_mut().unwrap().remove("frames");
        },
        "its sections cover",
    );
    let mut as_3 = preamble.clone();
    as_3[8..12].copy_from_slice(&[3, 0, 0, 0]);
    let mut h = header.clone();
    h["metadata"]["format"] = serde_json::json!({"major": 3, "minor": 0});
    h.as_object_mut().unwrap().remove("frames");
    let err = store::from_bytes(&assemble(&as_3, &h, &payload, raw_len)).unwrap_err();
    assert!(
        err.to_string().contains("format 3.0 needs a frame table"),
        "{err}"
    );
    let mut as_2 = preamble.clone();
    as_2[8..12].copy_from_slice(&[2, 0, 0, 0]);
    let mut h = header.clone();
    h["metadata"]["format"] = serde_json::json!({"major": 2, "minor": 0});
    let err = store::from_bytes(&assemble(&as_2, &h, &payload, raw_len)).unwrap_err();
    assert!(
        err.to_string()
            .contains("format 2.0 cannot hold a frame table"),
        "{err}"
    );
}

/// Regression (fuzzer, `load` target): with several corrupt frames, the
/// error named whichever frame a thread failed on first.
#[test]
fn the_first_bad_frame_in_file_order_is_the_one_reported() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/store/regressions/framed-two-bad-frames.forest");
    let mut bytes = std::fs::read(path).unwrap();
    reseal(&mut bytes);
    let first = store::from_bytes(&bytes).unwrap_err().to_string();
    assert!(first.contains("zstd"), "{first}");
    let mut shifted = vec![0u8];
    shifted.extend_from_slice(&bytes);
    for _ in 0..50 {
        assert_eq!(store::from_bytes(&bytes).unwrap_err().to_string(), first);
        assert_eq!(
            store::from_bytes(&shifted[1..]).unwrap_err().to_string(),
            first
        );
    }
}
