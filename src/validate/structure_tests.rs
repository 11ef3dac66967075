//! Tests of the structural comparison: every layout the exporter writes
//! compares node by node without a difference, and each kind of tampering
//! with an exported model is caught and located.

use prost::Message;

use super::*;
use crate::export::onnx::tests::{all_options, corpus};
use crate::export::onnx::{to_bytes, ExportOptions, Precision};
use crate::onnx_proto::{ModelProto, NodeProto};

fn options(ml_opset: i64, precision: Precision) -> ExportOptions {
    ExportOptions {
        ml_opset: Some(ml_opset),
        precision,
        ..Default::default()
    }
}

fn outcome(forest: &Forest, onnx: &[u8]) -> ValidationOutcome {
    let model = OnnxModel::from_bytes(onnx).expect("tract loads the model");
    let data = Array2::zeros((0, forest.n_features));
    validate_conversion(forest, &model, data.view()).expect("validation runs")
}

#[test]
fn every_layout_compares_node_by_node_without_difference() {
    for (name, forest) in corpus() {
        for mut options in all_options() {
            let what = format!(
                "{name}: opset {:?} {:?}",
                options.ml_opset, options.precision
            );
            options.zipmap = matches!(&forest.task, Task::Classification(l) if !matches!(l, crate::ir::Labels::Float(_)))
                && options.ml_opset == Some(3);
            let onnx = to_bytes(&forest, &options).unwrap_or_else(|e| panic!("{what}: {e}"));
            let o = outcome(&forest, &onnx);
            let st = o
                .structure
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: not compared: {:?}", o.structure_skipped));
            assert!(o.passed, "{what}:\n{}", o.to_text());
            assert_eq!(st.differences, 0, "{what}");
            let nodes: usize = forest.trees.iter().map(|t| t.n_nodes()).sum();
            assert_eq!(st.nodes + st.unreachable, nodes, "{what}");
            // `categorical_only` has no numeric split.
            assert!(
                st.splits + st.categorical_splits > 0 && st.leaves > 0,
                "{what}: {st:?}"
            );
        }
    }
}

/// The forest's distinct `(feature, threshold)` pairs of numeric splits.
fn distinct_thresholds(forest: &Forest) -> usize {
    let mut all: Vec<(u32, u64)> = forest
        .trees
        .iter()
        .flat_map(|t| {
            (0..t.n_nodes())
                .filter(|&i| {
                    !t.is_leaf(i) && t.categories.nodes.binary_search(&(i as u32)).is_err()
                })
                .map(|i| (t.feature[i], t.threshold[i].to_bits()))
        })
        .collect();
    all.sort_unstable();
    all.dedup();
    all.len()
}

#[test]
fn every_threshold_is_compared() {
    let (_, forest) = corpus().into_iter().next().unwrap();
    for o in all_options() {
        let out = outcome(&forest, &to_bytes(&forest, &o).unwrap());
        let st = out.structure.unwrap();
        assert_eq!(st.unreachable, 0);
        assert_eq!(st.thresholds, distinct_thresholds(&forest));
    }
}

/// The tree-ensemble node of an ONNX model, edited by `edit`.
fn tamper(onnx: &[u8], edit: impl FnOnce(&mut NodeProto)) -> Vec<u8> {
    let mut model = ModelProto::decode(onnx).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let node = graph
        .node
        .iter_mut()
        .find(|n| n.op_type.starts_with("TreeEnsemble"))
        .unwrap();
    edit(node);
    model.encode_to_vec()
}

/// Reads, edits and writes back the real values of attribute `name`
/// (floats, or a float/double tensor in typed or raw data).
fn edit_reals(node: &mut NodeProto, name: &str, edit: impl FnOnce(&mut Vec<f64>)) {
    let a = node.attribute.iter_mut().find(|a| a.name == name).unwrap();
    if !a.floats.is_empty() {
        let mut v: Vec<f64> = a.floats.iter().map(|&x| f64::from(x)).collect();
        edit(&mut v);
        a.floats = v.iter().map(|&x| x as f32).collect();
        return;
    }
    let t = a.t.as_mut().unwrap();
    let double = t.data_type == 11;
    let mut v: Vec<f64> = if !t.raw_data.is_empty() {
        if double {
            t.raw_data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect()
        } else {
            t.raw_data
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
                .collect()
        }
    } else if double {
        t.double_data.clone()
    } else {
        t.float_data.iter().map(|&x| f64::from(x)).collect()
    };
    edit(&mut v);
    if !t.raw_data.is_empty() {
        t.raw_data = if double {
            v.iter().flat_map(|x| x.to_le_bytes()).collect()
        } else {
            v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect()
        };
    } else if double {
        t.double_data = v;
    } else {
        t.float_data = v.iter().map(|&x| x as f32).collect();
    }
}

/// The modes of the node as opset 1/3 strings or opset 5 codes.
fn modes(node: &mut NodeProto) -> ModesRef<'_> {
    let a = node
        .attribute
        .iter_mut()
        .find(|a| a.name == "nodes_modes")
        .unwrap();
    if a.strings.is_empty() {
        ModesRef::Codes(&mut a.t.as_mut().unwrap().raw_data)
    } else {
        ModesRef::Names(&mut a.strings)
    }
}

enum ModesRef<'a> {
    Names(&'a mut Vec<prost::bytes::Bytes>),
    Codes(&'a mut Vec<u8>),
}

/// Index of the first numeric split (`BRANCH_LEQ` or `BRANCH_LT`).
fn first_split(node: &mut NodeProto) -> usize {
    match modes(node) {
        ModesRef::Names(m) => m
            .iter()
            .position(|m| m[..] == b"BRANCH_LEQ"[..] || m[..] == b"BRANCH_LT"[..])
            .unwrap(),
        ModesRef::Codes(m) => m.iter().position(|&c| c == 0 || c == 1).unwrap(),
    }
}

/// Fails unless validation catches the tampering with a structural
/// difference; returns it.
fn caught(forest: &Forest, onnx: &[u8], what: &str) -> Difference {
    let o = outcome(forest, onnx);
    assert!(!o.passed, "{what}: not caught:\n{}", o.to_text());
    let st = o.structure.as_ref().expect("compared node by node");
    assert!(st.differences > 0, "{what}: no structural difference");
    assert!(o.to_text().contains("differences"), "{what}");
    st.first_differences[0].clone()
}

fn forest_named(name: &str) -> Forest {
    corpus()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no {name} in the corpus"))
        .1
}

#[test]
fn a_threshold_one_step_off_is_caught_in_every_precision_and_opset() {
    let forest = forest_named("average");
    for o in all_options() {
        let what = format!("opset {:?} {:?}", o.ml_opset, o.precision);
        let onnx = to_bytes(&forest, &o).unwrap();
        let values = if o.ml_opset == Some(5) {
            "nodes_splits"
        } else if o.precision == Precision::Double {
            "nodes_values_as_tensor"
        } else {
            "nodes_values"
        };
        for up in [true, false] {
            let tampered = tamper(&onnx, |n| {
                let k = first_split(n);
                edit_reals(n, values, |v| {
                    v[k] = if o.precision == Precision::Double {
                        if up {
                            v[k].next_up()
                        } else {
                            v[k].next_down()
                        }
                    } else if up {
                        f64::from((v[k] as f32).next_up())
                    } else {
                        f64::from((v[k] as f32).next_down())
                    };
                });
            });
            let d = caught(&forest, &tampered, &what);
            assert_eq!((d.tree, d.node), (0, 0), "{what}: {d:?}");
            let (t, ot) = (d.threshold.unwrap(), d.onnx_threshold.unwrap());
            assert_eq!(t, forest.trees[0].threshold[0], "{what}");
            assert_ne!(t, ot, "{what}");
            assert_eq!(d.feature, Some(forest.trees[0].feature[0]));
        }
    }
}

#[test]
fn a_flipped_mode_is_caught() {
    let forest = forest_named("average");
    for o in [options(1, Precision::Float), options(5, Precision::Double)] {
        let onnx = to_bytes(&forest, &o).unwrap();
        let tampered = tamper(&onnx, |n| {
            let k = first_split(n);
            match modes(n) {
                ModesRef::Names(m) => m[k] = prost::bytes::Bytes::from_static(b"BRANCH_LT"),
                ModesRef::Codes(m) => m[k] = 1,
            }
        });
        let d = caught(&forest, &tampered, "flipped mode");
        assert_eq!((d.tree, d.node), (0, 0));
        assert!(d.value.is_some(), "{d:?}");
    }
}

#[test]
fn a_changed_leaf_value_is_caught() {
    for (name, o, weights) in [
        ("average", options(1, Precision::Float), "class_weights"),
        (
            "regression_multi_target",
            options(1, Precision::Float),
            "target_weights",
        ),
        (
            "regression_average",
            options(5, Precision::Double),
            "leaf_weights",
        ),
        (
            "binary_average",
            options(3, Precision::Float),
            "class_weights",
        ),
    ] {
        let forest = forest_named(name);
        let onnx = to_bytes(&forest, &o).unwrap();
        let tampered = tamper(&onnx, |n| edit_reals(n, weights, |v| v[0] += 0.25));
        let d = caught(&forest, &tampered, name);
        assert!(d.what.contains("leaf"), "{name}: {d:?}");
    }
}

#[test]
fn a_dropped_missing_flag_is_caught() {
    let forest = forest_named("vote_strings_missing_lt");
    for o in [options(1, Precision::Float), options(5, Precision::Float)] {
        let onnx = to_bytes(&forest, &o).unwrap();
        let tampered = tamper(&onnx, |n| {
            let a = n
                .attribute
                .iter_mut()
                .find(|a| a.name == "nodes_missing_value_tracks_true")
                .unwrap();
            let k = a.ints.iter().position(|&m| m == 1).unwrap();
            a.ints[k] = 0;
        });
        let d = caught(&forest, &tampered, "missing flag");
        assert!(d.value.is_some_and(f64::is_nan), "{d:?}");
    }
}

#[test]
fn a_changed_category_set_is_caught() {
    let forest = forest_named("categorical_non_negative");
    // Opset 5: a member of a BRANCH_MEMBER set.
    let onnx = to_bytes(&forest, &options(5, Precision::Float)).unwrap();
    let tampered = tamper(&onnx, |n| {
        edit_reals(n, "membership_values", |v| {
            let k = v.iter().position(|x| !x.is_nan()).unwrap();
            v[k] += 1000.0;
        })
    });
    let d = caught(&forest, &tampered, "membership");
    assert!(d.what.contains("categor"), "{d:?}");
    // Opset 1: a BRANCH_EQ of a category chain.
    let onnx = to_bytes(&forest, &options(1, Precision::Float)).unwrap();
    let tampered = tamper(&onnx, |n| {
        let eq = match modes(n) {
            ModesRef::Names(m) => m.iter().position(|m| m[..] == b"BRANCH_EQ"[..]).unwrap(),
            ModesRef::Codes(_) => unreachable!(),
        };
        edit_reals(n, "nodes_values", |v| v[eq] += 1.0);
    });
    caught(&forest, &tampered, "category chain");
}

#[test]
fn sampled_probes_keep_the_extremes_and_every_category() {
    let forest = forest_named("categorical_non_negative");
    let full = Probes::new(&forest, ElementType::Float);
    let sampled = Probes::sampled(&forest, ElementType::Float, 2);
    assert!(sampled.thresholds < full.thresholds);
    assert_eq!(sampled.categories, full.categories);
    for (s, f) in sampled.values.iter().zip(&full.values) {
        let finite = |v: &Vec<f64>| {
            let mut x: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
            x.sort_by(f64::total_cmp);
            x
        };
        let (s, f) = (finite(s), finite(f));
        assert_eq!(s.first(), f.first());
        assert_eq!(s.last(), f.last());
    }
}
