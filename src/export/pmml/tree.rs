//! One IR tree as a PMML `TreeModel`, streamed node by node.

use crate::ir::Tree;
use crate::predict::first_argmax;

use super::cuts::{Op, Pred, Reading};
use super::plan::{number, Plan};
use super::writer::Xml;

/// What a leaf holds in the PMML tree.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Leaf {
    /// The class the leaf votes for, as a one-hot distribution.
    Vote(Classes),
    /// The leaf's class probabilities, as `ScoreDistribution`s.
    Distribution(Classes),
    /// Value `k` of the leaf's values.
    Value(usize),
}

/// Which classes a leaf's `ScoreDistribution`s list.
///
/// JPMML keeps the classes of an averaged distribution in the order it first
/// meets them and, on a tie, predicts the first: listing every class, in
/// class order, in the first tree's leaves makes that order the class order
/// for every row, so its predicted value breaks ties as the IR does (lowest
/// class index). Later trees list only their non-zero probabilities (an
/// absent class counts as 0), which keeps full-depth forests small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Classes {
    All,
    NonZero,
}

/// Buffers reused from tree to tree.
#[derive(Default)]
pub(crate) struct Scratch {
    used: Vec<bool>,
    features: Vec<u32>,
    stack: Vec<Step>,
}

enum Step {
    /// Write node `node`, guarded by the predicate.
    Open(u32, Pred),
    /// Close an internal node.
    Close,
}

/// Writes tree `t` of the plan's forest as a `TreeModel` of `function`
/// ("classification" or "regression"); `with_target` lists the target field
/// in its mining schema (classification trees need it for their labels).
pub(crate) fn write_tree(
    xml: &mut Xml,
    plan: &Plan,
    t: usize,
    function: &str,
    leaf: Leaf,
    with_target: bool,
    scratch: &mut Scratch,
) {
    let tree = &plan.forest.trees[t];
    xml.start(
        "TreeModel",
        &[
            ("functionName", function),
            ("missingValueStrategy", "none"),
            ("splitCharacteristic", "binarySplit"),
        ],
    );
    used_features(tree, plan.forest.n_features, scratch);
    xml.start("MiningSchema", &[]);
    if with_target {
        xml.empty(
            "MiningField",
            &[("name", &plan.target), ("usageType", "target")],
        );
    }
    for &f in &scratch.features {
        xml.open("MiningField");
        xml.attr_raw("name", &plan.xml_features[f as usize]);
        xml.close_empty();
    }
    xml.end("MiningSchema");
    write_nodes(xml, plan, tree, leaf, &mut scratch.stack);
    xml.end("TreeModel");
}

/// A `TreeModel` whose root is a leaf scoring `value`: the base value of a
/// summed forest.
pub(crate) fn write_constant(xml: &mut Xml, plan: &Plan, value: f64) {
    xml.start("TreeModel", &[("functionName", "regression")]);
    xml.start("MiningSchema", &[]);
    // A mining schema needs a field; the tree reads none.
    xml.empty("MiningField", &[("name", &plan.features[0])]);
    xml.end("MiningSchema");
    xml.start("Node", &[("score", &number(value))]);
    xml.empty("True", &[]);
    xml.end("Node");
    xml.end("TreeModel");
}

/// The features the tree splits on, ascending, into `scratch.features`
/// (the first feature when it splits on none: a mining schema is never empty).
fn used_features(tree: &Tree, n_features: usize, scratch: &mut Scratch) {
    scratch.used.clear();
    scratch.used.resize(n_features, false);
    scratch.features.clear();
    for i in 0..tree.n_nodes() {
        if !tree.is_leaf(i) {
            let f = tree.feature[i];
            if !std::mem::replace(&mut scratch.used[f as usize], true) {
                scratch.features.push(f);
            }
        }
    }
    if scratch.features.is_empty() {
        scratch.features.push(0);
    }
    scratch.features.sort_unstable();
}

/// The nodes, depth first without recursion (trees may be deeper than the
/// stack allows).
fn write_nodes(xml: &mut Xml, plan: &Plan, tree: &Tree, leaf: Leaf, stack: &mut Vec<Step>) {
    let forest = plan.forest;
    let width = forest.leaf_width();
    let categorical = !tree.categories.is_empty();
    let mut numbers = ryu::Buffer::new();
    stack.clear();
    stack.push(Step::Open(0, Pred::True));
    while let Some(step) = stack.pop() {
        let (node, pred) = match step {
            Step::Open(node, pred) => (node as usize, pred),
            Step::Close => {
                xml.end("Node");
                continue;
            }
        };
        if tree.is_leaf(node) {
            let values = tree.leaf_values(node, width);
            write_leaf(xml, plan, values, leaf, &pred, &mut numbers);
            continue;
        }
        xml.start("Node", &[]);
        write_pred(xml, plan, &pred, &mut numbers);
        let f = tree.feature[node];
        let cats = if categorical {
            tree.categories.of(node as u32)
        } else {
            None
        };
        let r: Reading = plan.reading;
        let t = tree.threshold[node];
        // The child missing values do not go to comes first, guarded by a
        // predicate that is false for them; the other takes the rest.
        let (yes, no) = tree.children(node).expect("a split");
        let (first, second, first_pred) = if tree.missing_true[node] {
            let p = match cats {
                Some(c) => r.not_in_categories(f, c),
                None => r.split_fails(f, forest.split_op, t),
            };
            (no, yes, p)
        } else {
            let p = match cats {
                Some(c) => r.in_categories(f, c),
                None => r.split(f, forest.split_op, t),
            };
            (yes, no, p)
        };
        let first_pred = if plan.zero_as_missing[f as usize] {
            Reading::both(first_pred, r.outside_zero_band(f))
        } else {
            first_pred
        };
        stack.push(Step::Close);
        stack.push(Step::Open(second, Pred::True));
        stack.push(Step::Open(first, first_pred));
    }
}

/// `v` (finite) as ryu writes it, without running ryu for the values pure
/// leaves are made of.
fn format(numbers: &mut ryu::Buffer, v: f64) -> &[u8] {
    if v == 1.0 {
        b"1.0"
    } else if v.to_bits() == 0 {
        b"0.0"
    } else {
        numbers.format_finite(v).as_bytes()
    }
}

fn write_leaf(
    xml: &mut Xml,
    plan: &Plan,
    values: &[f64],
    leaf: Leaf,
    pred: &Pred,
    numbers: &mut ryu::Buffer,
) {
    let labels = &plan.xml_labels;
    xml.open("Node");
    match leaf {
        Leaf::Vote(_) => xml.attr_raw("score", &labels[values[0] as usize]),
        Leaf::Distribution(_) => xml.attr_raw("score", &labels[first_argmax(values)]),
        Leaf::Value(k) => xml.attr_raw("score", format(numbers, values[k])),
    }
    xml.close_start();
    write_pred(xml, plan, pred, numbers);
    let distribution = |xml: &mut Xml, label: &[u8], v: &[u8]| {
        xml.open("ScoreDistribution");
        xml.attr_raw("value", label);
        xml.attr_raw("recordCount", v);
        xml.attr_raw("probability", v);
        xml.close_empty();
    };
    match leaf {
        Leaf::Distribution(classes) => {
            // A leaf of zeros still lists them all: an empty distribution
            // is no prediction.
            let all = classes == Classes::All || values.iter().all(|&v| v == 0.0);
            for (k, &v) in values.iter().enumerate() {
                if v != 0.0 || all {
                    distribution(xml, &labels[k], format(numbers, v));
                }
            }
        }
        Leaf::Vote(classes) => {
            let voted = values[0] as usize;
            for (k, label) in labels.iter().enumerate() {
                if k == voted {
                    distribution(xml, label, b"1");
                } else if classes == Classes::All {
                    distribution(xml, label, b"0");
                }
            }
        }
        Leaf::Value(_) => {}
    }
    xml.end("Node");
}

/// Writes a predicate element.
pub(crate) fn write_pred(xml: &mut Xml, plan: &Plan, pred: &Pred, numbers: &mut ryu::Buffer) {
    match pred {
        Pred::True => xml.empty("True", &[]),
        Pred::False => xml.empty("False", &[]),
        Pred::NotMissing(f) => {
            xml.open("SimplePredicate");
            xml.attr_raw("field", &plan.xml_features[*f as usize]);
            xml.attr_raw("operator", b"isNotMissing");
            xml.close_empty();
        }
        Pred::Cmp(f, op, v) => {
            xml.open("SimplePredicate");
            xml.attr_raw("field", &plan.xml_features[*f as usize]);
            xml.attr_raw("operator", Op::pmml(*op).as_bytes());
            xml.attr_raw("value", format(numbers, *v));
            xml.close_empty();
        }
        Pred::And(parts) | Pred::Or(parts) => {
            let op = if matches!(pred, Pred::And(_)) {
                "and"
            } else {
                "or"
            };
            xml.start("CompoundPredicate", &[("booleanOperator", op)]);
            for p in parts {
                write_pred(xml, plan, p, numbers);
            }
            xml.end("CompoundPredicate");
        }
    }
}
