//! Fuzzes the native loader's section-layout rules: starting from valid
//! files (plain, categorical with per-tree targets; raw and zstd), the
//! fuzzer edits the section table (offsets, counts, dtypes, names, entries
//! removed, repeated or swapped), the header's counts, the declared raw
//! length and the payload itself (bytes appended, cut or flipped), then
//! reassembles the file. A byte-level fuzzer almost never produces such
//! files, whose JSON and lengths must still parse.
//!
//! No input may panic, hang or allocate without bound; what loads must be
//! a checked forest that saves and loads again. `cargo fuzz run store_layout`
//! (cargo-fuzz builds with `--cfg fuzzing`, under which checksums are not
//! compared, so the edited files need no resealing).

#![no_main]

use forest2onnx::ir::{
    Aggregation, CategorySplits, Forest, Labels, PostTransform, Source, SplitOp, Task, Tree, LEAF,
};
use forest2onnx::store::{self, SaveOptions};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum TableEdit {
    Offset(u8, i16),
    Count(u8, i16),
    Dtype(u8, u8),
    Name(u8, u8),
    Remove(u8),
    Repeat(u8),
    Swap(u8, u8),
}

#[derive(Arbitrary, Debug)]
enum CountEdit {
    Trees(i8),
    Nodes(i16),
    CategorySplits(i8),
    CategoryValues(i8),
    Leaves(i8),
    TrueChildren(i8),
    FlipTargets,
}

#[derive(Arbitrary, Debug)]
enum PayloadEdit {
    Append(Vec<u8>),
    Cut(u16),
    Flip(u16, u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    categorical: bool,
    compressed: bool,
    table: Vec<TableEdit>,
    counts: Vec<CountEdit>,
    payload: Vec<PayloadEdit>,
    raw_len_delta: i16,
}

const NAMES: [&str; 15] = [
    "tree_offsets",
    "threshold",
    "value",
    "feature",
    "true_child_tree_offsets",
    "true_child",
    "false_child",
    "missing_true",
    "tree_target",
    "category_tree_offsets",
    "category_node",
    "category_offsets",
    "category_value",
    "future",
    "",
];
const DTYPES: [&str; 5] = ["u8", "u32", "u64", "f64", "i128"];

fn forest(categorical: bool) -> Forest {
    let trees = (0..3u32)
        .map(|t| {
            let mut categories = CategorySplits::default();
            if categorical {
                categories.push(0, [1, 3 + t]);
            }
            // Breadth first: the true children are stored.
            let mut tree = Tree::from_node_arrays(
                vec![1, 0, 0, 0, 0],
                vec![0.25, 0.5, 0.0, 0.0, 0.0],
                &[1, 3, LEAF, LEAF, LEAF],
                &[2, 4, LEAF, LEAF, LEAF],
                vec![t == 1, true, false, false, false],
                &[0.0, 0.0, 0.5, -1.0, 2.0],
                1,
            )
            .expect("a valid tree");
            tree.categories = categories;
            tree
        })
        .collect();
    Forest {
        n_features: 2,
        feature_names: None,
        input: Default::default(),
        split_op: SplitOp::LessOrEqual,
        task: Task::Classification(Labels::Int(vec![0, 1, 2])),
        aggregation: Aggregation::Sum {
            base_values: vec![0.0, 0.1, 0.2],
            post_transform: PostTransform::Softmax,
            tree_targets: if categorical { vec![0, 1, 2] } else { Vec::new() },
        },
        trees: if categorical {
            trees
        } else {
            // One value per score in every leaf.
            trees
                .into_iter()
                .map(|mut t| {
                    t.leaf_value = t.leaf_value.iter().flat_map(|&v| [v; 3]).collect();
                    t
                })
                .collect()
        },
        source: Source::default(),
    }
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

fn bump(v: &mut serde_json::Value, delta: i64) {
    let n = v.as_u64().unwrap_or(0) as i64;
    *v = serde_json::Value::from(n.saturating_add(delta).max(0));
}

fuzz_target!(|input: Input| {
    let opts = SaveOptions {
        level: if input.compressed { 3 } else { 0 },
        ..SaveOptions::default()
    };
    let file = store::to_bytes(&forest(input.categorical), &opts).expect("valid forest");
    let header_len = u64_at(&file, 32) as usize;
    let offset = (72 + header_len).div_ceil(64) * 64;
    let mut header: serde_json::Value =
        serde_json::from_slice(&file[72..72 + header_len]).expect("our JSON");
    let mut raw = if input.compressed {
        zstd::decode_all(&file[offset..]).expect("our zstd")
    } else {
        file[offset..].to_vec()
    };

    let sections = header["sections"].as_array_mut().expect("a table");
    for edit in input.table.iter().take(8) {
        // Every entry may have been removed by an earlier edit.
        if sections.is_empty() {
            break;
        }
        let n = sections.len();
        match *edit {
            TableEdit::Offset(i, d) => bump(&mut sections[i as usize % n]["offset"], d.into()),
            TableEdit::Count(i, d) => bump(&mut sections[i as usize % n]["count"], d.into()),
            TableEdit::Dtype(i, k) => {
                sections[i as usize % n]["dtype"] = DTYPES[k as usize % DTYPES.len()].into()
            }
            TableEdit::Name(i, k) => {
                sections[i as usize % n]["name"] = NAMES[k as usize % NAMES.len()].into()
            }
            TableEdit::Remove(i) => {
                sections.remove(i as usize % n);
            }
            TableEdit::Repeat(i) => {
                let e = sections[i as usize % n].clone();
                sections.push(e);
            }
            TableEdit::Swap(i, j) => sections.swap(i as usize % n, j as usize % n),
        }
    }
    let m = &mut header["metadata"];
    for edit in input.counts.iter().take(4) {
        match *edit {
            CountEdit::Trees(d) => bump(&mut m["n_trees"], d.into()),
            CountEdit::Nodes(d) => bump(&mut m["n_nodes"], d.into()),
            CountEdit::CategorySplits(d) => bump(&mut m["n_category_splits"], d.into()),
            CountEdit::CategoryValues(d) => bump(&mut m["n_category_values"], d.into()),
            CountEdit::Leaves(d) => bump(&mut m["n_leaves"], d.into()),
            CountEdit::TrueChildren(d) => bump(&mut m["n_true_children"], d.into()),
            CountEdit::FlipTargets => {
                let on = m["per_tree_targets"].as_bool().unwrap_or(false);
                m["per_tree_targets"] = (!on).into();
            }
        }
    }
    for edit in input.payload.iter().take(4) {
        match edit {
            PayloadEdit::Append(bytes) => raw.extend(bytes.iter().take(4096)),
            PayloadEdit::Cut(n) => raw.truncate(raw.len().saturating_sub(*n as usize)),
            PayloadEdit::Flip(at, bits) if !raw.is_empty() => {
                let i = *at as usize % raw.len();
                raw[i] ^= bits;
            }
            _ => {}
        }
    }
    let raw_len = (raw.len() as i64 + i64::from(input.raw_len_delta)).max(0) as u64;
    let stored = if input.compressed {
        zstd::bulk::compress(&raw, 1).expect("compressible")
    } else {
        raw
    };

    let json = serde_json::to_vec(&header).expect("JSON");
    let mut edited = file[..72].to_vec();
    edited[32..40].copy_from_slice(&(json.len() as u64).to_le_bytes());
    edited[40..48].copy_from_slice(&(stored.len() as u64).to_le_bytes());
    edited[48..56].copy_from_slice(&raw_len.to_le_bytes());
    edited.extend_from_slice(&json);
    edited.resize((72 + json.len()).div_ceil(64) * 64, 0);
    edited.extend_from_slice(&stored);

    if let Ok(forest) = store::from_bytes(&edited) {
        forest.check().expect("loaded forests are checked");
        let again = store::to_bytes(&forest, &SaveOptions::default()).expect("saves");
        store::verify(&forest, &again).expect("and loads identically");
    }
});
