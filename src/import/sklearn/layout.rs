//! The record layouts scikit-learn writes for tree nodes, checked field by
//! field before any node is read.
//!
//! scikit-learn copies a pickled `nodes` array into its C structs by
//! position (`Tree.__setstate__` after `astype`, `TreePredictor` likewise),
//! while this reader takes fields by name. A file whose fields are renamed,
//! reordered, resized or moved would therefore mean one tree to us and
//! another (or none) to scikit-learn, so only the exact layouts that
//! scikit-learn versions write are accepted: the field names in order, their
//! kinds and sizes, their offsets and the record size. Both byte orders are
//! accepted (scikit-learn converts a foreign byte order on loading).
//!
//! The tables were read from the releases themselves
//! (`sklearn.tree._tree.NODE_DTYPE` and
//! `sklearn.ensemble._hist_gradient_boosting.common.PREDICTOR_RECORD_DTYPE`
//! of scikit-learn 1.1.3, 1.2.2, 1.3.2, 1.4.2, 1.6.1 and 1.9.1 on 64-bit
//! Linux); files written on 32-bit platforms use other widths and offsets
//! and are refused.

use super::numpy::{Dtype, Kind};

/// One field of a known record layout: name, kind, size in bytes, offset.
type FieldSpec = (&'static str, Kind, usize, usize);

/// A record layout some scikit-learn versions write.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Which versions write it, for messages.
    pub(crate) versions: &'static str,
    /// Record size in bytes.
    pub(crate) itemsize: usize,
    /// The fields, in order.
    pub(crate) fields: &'static [FieldSpec],
}

use Kind::{Float as F, Int as I, UInt as U};

/// `sklearn.tree._tree.Tree.nodes` (`NODE_DTYPE`).
pub(crate) const TREE_NODES: &[Layout] = &[
    Layout {
        versions: "scikit-learn 0.20 to 1.2",
        itemsize: 56,
        fields: &[
            ("left_child", I, 8, 0),
            ("right_child", I, 8, 8),
            ("feature", I, 8, 16),
            ("threshold", F, 8, 24),
            ("impurity", F, 8, 32),
            ("n_node_samples", I, 8, 40),
            ("weighted_n_node_samples", F, 8, 48),
        ],
    },
    Layout {
        versions: "scikit-learn 1.3 and later",
        itemsize: 64,
        fields: &[
            ("left_child", I, 8, 0),
            ("right_child", I, 8, 8),
            ("feature", I, 8, 16),
            ("threshold", F, 8, 24),
            ("impurity", F, 8, 32),
            ("n_node_samples", I, 8, 40),
            ("weighted_n_node_samples", F, 8, 48),
            ("missing_go_to_left", U, 1, 56),
        ],
    },
];

/// `TreePredictor.nodes` of histogram gradient boosting
/// (`PREDICTOR_RECORD_DTYPE`, packed).
pub(crate) const PREDICTOR_NODES: &[Layout] = &[
    Layout {
        versions: "scikit-learn 0.24 to 1.2",
        itemsize: 52,
        fields: &[
            ("value", F, 8, 0),
            ("count", U, 4, 8),
            ("feature_idx", U, 4, 12),
            ("num_threshold", F, 8, 16),
            ("missing_go_to_left", U, 1, 24),
            ("left", U, 4, 25),
            ("right", U, 4, 29),
            ("gain", F, 8, 33),
            ("depth", U, 4, 41),
            ("is_leaf", U, 1, 45),
            ("bin_threshold", U, 1, 46),
            ("is_categorical", U, 1, 47),
            ("bitset_idx", U, 4, 48),
        ],
    },
    Layout {
        versions: "scikit-learn 1.3 and later",
        itemsize: 56,
        fields: &[
            ("value", F, 8, 0),
            ("count", U, 4, 8),
            ("feature_idx", I, 8, 12),
            ("num_threshold", F, 8, 20),
            ("missing_go_to_left", U, 1, 28),
            ("left", U, 4, 29),
            ("right", U, 4, 33),
            ("gain", F, 8, 37),
            ("depth", U, 4, 45),
            ("is_leaf", U, 1, 49),
            ("bin_threshold", U, 1, 50),
            ("is_categorical", U, 1, 51),
            ("bitset_idx", U, 4, 52),
        ],
    },
];

/// The known layout `dtype` is exactly, or a message naming the first
/// difference from the closest known layout (`what` names the array).
pub(crate) fn match_layout<'l>(
    dtype: &Dtype,
    layouts: &'l [Layout],
    what: &str,
) -> Result<&'l Layout, String> {
    // The closest layout: most leading fields in agreement, then the same
    // record size.
    let mut best: Option<((usize, bool), String)> = None;
    for layout in layouts {
        match compare(dtype, layout) {
            Ok(()) => return Ok(layout),
            Err((agreeing, why)) => {
                let score = (agreeing, dtype.itemsize == layout.itemsize);
                if best.as_ref().is_none_or(|(a, _)| score > *a) {
                    best = Some((
                        score,
                        format!("closest known layout ({}): {why}", layout.versions),
                    ));
                }
            }
        }
    }
    let why = best.map_or_else(String::new, |(_, w)| format!("; {w}"));
    Err(format!(
        "{what} has the record dtype {}, which no supported scikit-learn version writes{why}",
        crate::text::quoted(&dtype.describe())
    ))
}

/// Compares `dtype` with `layout`; on a mismatch returns how many leading
/// fields agree and what differs.
fn compare(dtype: &Dtype, layout: &Layout) -> Result<(), (usize, String)> {
    let mut agreeing = 0;
    for (i, &(name, kind, size, offset)) in layout.fields.iter().enumerate() {
        let Some(f) = dtype.fields.get(i) else {
            return Err((
                agreeing,
                format!(
                    "field {i} should be {name:?}; the record has only {} fields",
                    dtype.fields.len()
                ),
            ));
        };
        if f.name != name {
            let moved = dtype.fields.iter().position(|g| g.name == name);
            let hint = match moved {
                Some(j) => format!(" ({name:?} is field {j})"),
                None => String::new(),
            };
            return Err((
                agreeing,
                format!(
                    "field {i} is {}, expected {name:?}{hint}",
                    crate::text::quoted(&f.name)
                ),
            ));
        }
        let want = describe(kind, size);
        if f.dtype.kind != kind || f.dtype.itemsize != size || !f.dtype.fields.is_empty() {
            return Err((
                agreeing,
                format!(
                    "field {name:?} is {}, expected {want}",
                    crate::text::quoted(&f.dtype.describe())
                ),
            ));
        }
        if f.offset != offset {
            return Err((
                agreeing,
                format!(
                    "field {name:?} is at offset {}, expected {offset}",
                    f.offset
                ),
            ));
        }
        agreeing += 1;
    }
    if dtype.fields.len() != layout.fields.len() {
        return Err((
            agreeing,
            format!(
                "the record has {} fields, expected {} (extra field {})",
                dtype.fields.len(),
                layout.fields.len(),
                crate::text::quoted(&dtype.fields[layout.fields.len()].name)
            ),
        ));
    }
    if dtype.itemsize != layout.itemsize {
        return Err((
            agreeing,
            format!(
                "records are {} bytes, expected {}",
                dtype.itemsize, layout.itemsize
            ),
        ));
    }
    Ok(())
}

fn describe(kind: Kind, size: usize) -> String {
    let code = match kind {
        Kind::Float => 'f',
        Kind::Int => 'i',
        Kind::UInt => 'u',
        _ => '?',
    };
    format!("{code}{size}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::sklearn::numpy::Field;

    fn dtype(fields: &[FieldSpec], itemsize: usize) -> Dtype {
        Dtype {
            kind: Kind::Void,
            itemsize,
            big_endian: false,
            fields: fields
                .iter()
                .map(|&(name, kind, size, offset)| Field {
                    name: name.into(),
                    dtype: Dtype {
                        kind,
                        itemsize: size,
                        big_endian: false,
                        fields: Vec::new(),
                    },
                    offset,
                })
                .collect(),
        }
    }

    #[test]
    fn every_known_layout_matches_itself() {
        for layouts in [TREE_NODES, PREDICTOR_NODES] {
            for l in layouts {
                let d = dtype(l.fields, l.itemsize);
                assert!(std::ptr::eq(match_layout(&d, layouts, "nodes").unwrap(), l));
            }
        }
    }

    #[test]
    fn differences_are_named() {
        let l = &TREE_NODES[1];
        let mut swapped = l.fields.to_vec();
        swapped.swap(0, 1);
        let e = match_layout(&dtype(&swapped, 64), TREE_NODES, "nodes").unwrap_err();
        assert!(e.contains("field 0 is \"right_child\""), "{e}");
        assert!(e.contains("scikit-learn 1.3 and later"), "{e}");

        let mut renamed = l.fields.to_vec();
        renamed[7].0 = "missing_left";
        let e = match_layout(&dtype(&renamed, 64), TREE_NODES, "nodes").unwrap_err();
        assert!(e.contains("\"missing_left\""), "{e}");

        let mut narrow = l.fields.to_vec();
        narrow[2].2 = 4;
        let e = match_layout(&dtype(&narrow, 64), TREE_NODES, "nodes").unwrap_err();
        assert!(
            e.contains("field \"feature\" is \"<i4\", expected i8"),
            "{e}"
        );

        let e = match_layout(&dtype(l.fields, 72), TREE_NODES, "nodes").unwrap_err();
        assert!(e.contains("records are 72 bytes"), "{e}");

        let mut moved = l.fields.to_vec();
        moved[7].3 = 60;
        let e = match_layout(&dtype(&moved, 64), TREE_NODES, "nodes").unwrap_err();
        assert!(e.contains("offset 60"), "{e}");

        let e = match_layout(&dtype(&l.fields[..5], 64), TREE_NODES, "nodes").unwrap_err();
        assert!(e.contains("only 5 fields"), "{e}");
    }
}
