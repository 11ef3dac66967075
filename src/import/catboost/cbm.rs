//! CatBoost's binary model (`.cbm`, `save_model`'s default) read into a
//! [`Model`]: the bytes `CBM1`, a little-endian u32 size, then a FlatBuffers
//! `TModelCore` of that size (schema: CatBoost's
//! `catboost/libs/model/flatbuffers/{model,features}.fbs`).
//!
//! The FlatBuffers are walked with a small reader ([`Buf`]) that checks every
//! offset, length and vtable entry against the buffer before it is used, so
//! a damaged or hostile file gives an error naming the byte, never a panic
//! or an allocation larger than the file.

use std::collections::BTreeMap;

use super::model::{CatFeature, FloatFeature, Model, NanTreatment, Node, Split, Trees};
use super::CatboostError;

type Result<T> = std::result::Result<T, CatboostError>;

/// The file's first bytes.
pub(crate) const MAGIC: &[u8; 4] = b"CBM1";

/// Deepest non-symmetric tree walked.
const MAX_DEPTH: usize = 64;

// Field numbers (vtable slots) of the tables read, from the schema.
mod core {
    pub const MODEL_TREES: usize = 1;
    pub const INFO_MAP: usize = 2;
}
mod trees {
    pub const APPROX_DIMENSION: usize = 0;
    pub const TREE_SPLITS: usize = 1;
    pub const TREE_SIZES: usize = 2;
    pub const TREE_START_OFFSETS: usize = 3;
    pub const CAT_FEATURES: usize = 4;
    pub const FLOAT_FEATURES: usize = 5;
    pub const ONE_HOT_FEATURES: usize = 6;
    pub const CTR_FEATURES: usize = 7;
    pub const LEAF_VALUES: usize = 8;
    pub const STEP_NODES: usize = 10;
    pub const NODE_ID_TO_LEAF_ID: usize = 11;
    pub const TEXT_FEATURES: usize = 12;
    pub const ESTIMATED_FEATURES: usize = 13;
    pub const SCALE: usize = 14;
    pub const BIAS: usize = 15;
    pub const MULTI_BIAS: usize = 16;
    pub const EMBEDDING_FEATURES: usize = 18;
}
mod float_feature {
    pub const INDEX: usize = 1;
    pub const FLAT_INDEX: usize = 2;
    pub const BORDERS: usize = 3;
    pub const FEATURE_ID: usize = 4;
    pub const NAN_TREATMENT: usize = 5;
}
mod cat_feature {
    pub const INDEX: usize = 0;
    pub const FLAT_INDEX: usize = 1;
    pub const FEATURE_ID: usize = 2;
}
mod one_hot {
    pub const INDEX: usize = 0;
    pub const VALUES: usize = 1;
}

/// Reads a `.cbm` file.
pub(crate) fn parse(bytes: &[u8]) -> Result<Model> {
    if !bytes.starts_with(MAGIC) {
        return Err(CatboostError::NotAModel("no CBM1 header".into()));
    }
    let size = bytes
        .get(4..8)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| bad(4, "the file ends inside the size of the model core"))?;
    let core = bytes.get(8..8usize.saturating_add(size)).ok_or_else(|| {
        bad(
            4,
            format!(
                "the model core has {size} bytes but the file only {} after the header",
                bytes.len() - 8
            ),
        )
    })?;
    let buf = Buf {
        bytes: core,
        base: 8,
    };
    let root = buf.root()?;
    let trees_table = buf
        .table_field(root, core::MODEL_TREES)?
        .ok_or_else(|| CatboostError::NotAModel("the model core has no trees".into()))?;
    read_trees(&buf, trees_table, read_info(&buf, root)?)
}

fn bad(offset: usize, problem: impl Into<String>) -> CatboostError {
    CatboostError::Binary {
        offset,
        problem: problem.into(),
    }
}

/// A FlatBuffers buffer; `base` is its offset in the file, for messages.
struct Buf<'a> {
    bytes: &'a [u8],
    base: usize,
}

/// A table: its position and its vtable's field offsets.
#[derive(Clone, Copy)]
struct Table {
    pos: usize,
    vtable: usize,
    vtable_len: usize,
}

impl<'a> Buf<'a> {
    fn err(&self, at: usize, problem: impl Into<String>) -> CatboostError {
        bad(self.base + at, problem)
    }

    fn slice(&self, at: usize, len: usize) -> Result<&'a [u8]> {
        at.checked_add(len)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or_else(|| self.err(at, format!("{len} bytes run past the end")))
    }

    fn u16(&self, at: usize) -> Result<u16> {
        let b = self.slice(at, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&self, at: usize) -> Result<u32> {
        let b = self.slice(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The position an offset stored at `at` points to.
    fn follow(&self, at: usize) -> Result<usize> {
        let off = self.u32(at)? as usize;
        let to = at
            .checked_add(off)
            .filter(|&p| p < self.bytes.len())
            .ok_or_else(|| self.err(at, format!("offset {off} points past the end")))?;
        Ok(to)
    }

    fn root(&self) -> Result<Table> {
        let pos = self.follow(0)?;
        self.table(pos)
    }

    fn table(&self, pos: usize) -> Result<Table> {
        let soffset = self.u32(pos)? as i32 as i64;
        let vtable = usize::try_from(pos as i64 - soffset)
            .ok()
            .filter(|&v| v < self.bytes.len())
            .ok_or_else(|| self.err(pos, "vtable offset out of the buffer"))?;
        let vtable_len = self.u16(vtable)? as usize;
        if vtable_len < 4 || !vtable_len.is_multiple_of(2) {
            return Err(self.err(vtable, format!("vtable of {vtable_len} bytes")));
        }
        self.slice(vtable, vtable_len)?;
        let table_len = self.u16(vtable + 2)? as usize;
        self.slice(pos, table_len.max(4))?;
        Ok(Table {
            pos,
            vtable,
            vtable_len,
        })
    }

    /// Where field `slot` of `t` is stored, if present.
    fn field(&self, t: Table, slot: usize) -> Result<Option<usize>> {
        let entry = 4 + 2 * slot;
        if entry + 2 > t.vtable_len {
            return Ok(None);
        }
        let off = self.u16(t.vtable + entry)? as usize;
        Ok((off != 0).then_some(t.pos + off))
    }

    fn scalar_bytes<const N: usize>(&self, t: Table, slot: usize) -> Result<Option<[u8; N]>> {
        match self.field(t, slot)? {
            Some(at) => {
                let mut out = [0u8; N];
                out.copy_from_slice(self.slice(at, N)?);
                Ok(Some(out))
            }
            None => Ok(None),
        }
    }

    fn i32_field(&self, t: Table, slot: usize, default: i32) -> Result<i32> {
        Ok(self
            .scalar_bytes::<4>(t, slot)?
            .map_or(default, i32::from_le_bytes))
    }

    fn f64_field(&self, t: Table, slot: usize, default: f64) -> Result<f64> {
        Ok(self
            .scalar_bytes::<8>(t, slot)?
            .map_or(default, f64::from_le_bytes))
    }

    fn u8_field(&self, t: Table, slot: usize, default: u8) -> Result<u8> {
        Ok(self.scalar_bytes::<1>(t, slot)?.map_or(default, |b| b[0]))
    }

    fn table_field(&self, t: Table, slot: usize) -> Result<Option<Table>> {
        match self.field(t, slot)? {
            Some(at) => Ok(Some(self.table(self.follow(at)?)?)),
            None => Ok(None),
        }
    }

    /// A vector field: the position of its first element and its length,
    /// checked to fit in the buffer with `elem` bytes per element.
    fn vector(&self, t: Table, slot: usize, elem: usize) -> Result<(usize, usize)> {
        let Some(at) = self.field(t, slot)? else {
            return Ok((0, 0));
        };
        let start = self.follow(at)?;
        let len = self.u32(start)? as usize;
        let bytes = len
            .checked_mul(elem)
            .ok_or_else(|| self.err(start, format!("a vector of {len} elements")))?;
        self.slice(start + 4, bytes)?;
        Ok((start + 4, len))
    }

    fn scalars<const N: usize, T>(
        &self,
        t: Table,
        slot: usize,
        read: fn([u8; N]) -> T,
    ) -> Result<Vec<T>> {
        let (start, len) = self.vector(t, slot, N)?;
        let bytes = self.slice(start, len * N)?;
        Ok(bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                read(a)
            })
            .collect())
    }

    fn tables(&self, t: Table, slot: usize) -> Result<Vec<Table>> {
        let (start, len) = self.vector(t, slot, 4)?;
        (0..len)
            .map(|k| self.table(self.follow(start + 4 * k)?))
            .collect()
    }

    fn string_at(&self, pos: usize) -> Result<String> {
        let len = self.u32(pos)? as usize;
        let b = self.slice(pos + 4, len)?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }

    fn string_field(&self, t: Table, slot: usize) -> Result<Option<String>> {
        match self.field(t, slot)? {
            Some(at) => Ok(Some(self.string_at(self.follow(at)?)?)),
            None => Ok(None),
        }
    }
}

/// `InfoMap`: keys ending in `params` parsed as JSON (as CatBoost's JSON
/// export does), other values kept as JSON strings.
fn read_info(buf: &Buf, root: Table) -> Result<BTreeMap<String, serde_json::Value>> {
    let mut info = BTreeMap::new();
    for kv in buf.tables(root, core::INFO_MAP)? {
        let key = buf.string_field(kv, 0)?.unwrap_or_default();
        let value = buf.string_field(kv, 1)?.unwrap_or_default();
        let value = if key.ends_with("params") {
            if value.is_empty() {
                continue;
            }
            serde_json::from_str(&value).map_err(|e| {
                CatboostError::field(format!("model_info.{key}"), format!("not JSON: {e}"))
            })?
        } else {
            serde_json::Value::String(value)
        };
        info.insert(key, value);
    }
    Ok(info)
}

fn read_trees(buf: &Buf, t: Table, info: BTreeMap<String, serde_json::Value>) -> Result<Model> {
    let dims = buf.i32_field(t, trees::APPROX_DIMENSION, 0)?;
    let dims = usize::try_from(dims)
        .ok()
        .filter(|&d| d > 0)
        .ok_or_else(|| CatboostError::field("ApproxDimension", format!("{dims}")))?;
    let mut float_features = Vec::new();
    // The model's splits are indices into its "bin features": every border
    // of every float feature, then every one-hot value, then CTR borders.
    let mut bins = Vec::new();
    for (i, f) in buf
        .tables(t, trees::FLOAT_FEATURES)?
        .into_iter()
        .enumerate()
    {
        let at = format!("FloatFeatures[{i}]");
        let index = buf.i32_field(f, float_feature::INDEX, -1)?;
        if usize::try_from(index).ok() != Some(i) {
            return Err(CatboostError::field(
                format!("{at}.Index"),
                format!("{index}, expected {i}"),
            ));
        }
        let nan = match buf.u8_field(f, float_feature::NAN_TREATMENT, 0)? {
            0 => NanTreatment::Forbidden,
            1 => NanTreatment::Min,
            2 => NanTreatment::Max,
            other => {
                return Err(CatboostError::field(
                    format!("{at}.NanValueTreatment"),
                    format!("unknown value {other}"),
                ))
            }
        };
        float_features.push(FloatFeature {
            flat: flat(buf.i32_field(f, float_feature::FLAT_INDEX, -1)?, &at)?,
            name: buf
                .string_field(f, float_feature::FEATURE_ID)?
                .unwrap_or_default(),
            nan,
        });
        for border in buf.scalars(f, float_feature::BORDERS, f32::from_le_bytes)? {
            bins.push(Split::Float { feature: i, border });
        }
    }
    let mut cat_features = Vec::new();
    for (i, f) in buf.tables(t, trees::CAT_FEATURES)?.into_iter().enumerate() {
        let at = format!("CatFeatures[{i}]");
        let index = buf.i32_field(f, cat_feature::INDEX, -1)?;
        if usize::try_from(index).ok() != Some(i) {
            return Err(CatboostError::field(
                format!("{at}.Index"),
                format!("{index}, expected {i}"),
            ));
        }
        cat_features.push(CatFeature {
            flat: flat(buf.i32_field(f, cat_feature::FLAT_INDEX, -1)?, &at)?,
            name: buf
                .string_field(f, cat_feature::FEATURE_ID)?
                .unwrap_or_default(),
        });
    }
    for (i, f) in buf
        .tables(t, trees::ONE_HOT_FEATURES)?
        .into_iter()
        .enumerate()
    {
        let index = buf.i32_field(f, one_hot::INDEX, -1)?;
        let feature = usize::try_from(index)
            .ok()
            .filter(|&c| c < cat_features.len())
            .ok_or_else(|| {
                CatboostError::field(format!("OneHotFeatures[{i}].Index"), format!("{index}"))
            })?;
        for value in buf.scalars(f, one_hot::VALUES, i32::from_le_bytes)? {
            bins.push(Split::OneHot { feature, value });
        }
    }
    let ctr_features = buf.vector(t, trees::CTR_FEATURES, 4)?.1;
    let mut other_features = Vec::new();
    for (slot, name) in [
        (trees::TEXT_FEATURES, "text features"),
        (trees::ESTIMATED_FEATURES, "estimated features"),
        (trees::EMBEDDING_FEATURES, "embedding features"),
    ] {
        if buf.vector(t, slot, 4)?.1 > 0 {
            other_features.push(name.to_string());
        }
    }
    let splits = buf.scalars(t, trees::TREE_SPLITS, i32::from_le_bytes)?;
    let sizes = buf.scalars(t, trees::TREE_SIZES, i32::from_le_bytes)?;
    let starts = buf.scalars(t, trees::TREE_START_OFFSETS, i32::from_le_bytes)?;
    let leaves = buf.scalars(t, trees::LEAF_VALUES, f64::from_le_bytes)?;
    if starts.len() != sizes.len() {
        return Err(CatboostError::field(
            "TreeStartOffsets",
            format!("{} entries for {} trees", starts.len(), sizes.len()),
        ));
    }
    // CTR borders come last; their splits are only named (and refused).
    let bin = |tree: usize, k: i32| -> Result<Split> {
        let index = usize::try_from(k).ok();
        index
            .and_then(|i| bins.get(i).cloned())
            .or_else(|| (index.is_some() && ctr_features > 0).then_some(Split::Ctr))
            .ok_or_else(|| CatboostError::Tree {
                tree,
                problem: format!("split index {k} of {} binary features", bins.len()),
            })
    };
    let (n_steps, n_step_nodes) = buf.vector(t, trees::STEP_NODES, 4)?;
    let trees = if n_step_nodes == 0 {
        oblivious(&splits, &sizes, &starts, &leaves, dims, &bin)?
    } else {
        let steps = buf.slice(n_steps, 4 * n_step_nodes)?;
        let steps: Vec<(usize, usize)> = steps
            .chunks_exact(4)
            .map(|c| {
                (
                    u16::from_le_bytes([c[0], c[1]]) as usize,
                    u16::from_le_bytes([c[2], c[3]]) as usize,
                )
            })
            .collect();
        let leaf_ids = buf.scalars(t, trees::NODE_ID_TO_LEAF_ID, u32::from_le_bytes)?;
        let layout = NonSymmetric {
            splits: &splits,
            steps: &steps,
            leaf_ids: &leaf_ids,
            leaves: &leaves,
            dims,
        };
        let mut out = Vec::with_capacity(sizes.len());
        for (tree, (&start, &size)) in starts.iter().zip(&sizes).enumerate() {
            let range = usize::try_from(start)
                .ok()
                .zip(usize::try_from(size).ok())
                .and_then(|(s, n)| Some(s..s.checked_add(n)?))
                .filter(|r| !r.is_empty() && r.end <= steps.len() && r.end <= splits.len())
                .ok_or_else(|| CatboostError::Tree {
                    tree,
                    problem: format!("nodes {start}..+{size} of {}", steps.len()),
                })?;
            let mut nodes = Vec::new();
            layout.walk(tree, range.start, &range, 0, &mut nodes, &bin)?;
            out.push(nodes);
        }
        Trees::NonSymmetric(out)
    };
    let scale = buf.f64_field(t, trees::SCALE, 1.0)?;
    let multi_bias = buf.scalars(t, trees::MULTI_BIAS, f64::from_le_bytes)?;
    let bias = if multi_bias.is_empty() {
        vec![buf.f64_field(t, trees::BIAS, 0.0)?]
    } else {
        multi_bias
    };
    Ok(Model {
        float_features,
        cat_features,
        ctr_features,
        other_features,
        dims,
        trees,
        scale,
        bias,
        info,
    })
}

fn flat(index: i32, at: &str) -> Result<u32> {
    u32::try_from(index)
        .map_err(|_| CatboostError::field(format!("{at}.FlatIndex"), format!("{index}")))
}

fn oblivious(
    splits: &[i32],
    sizes: &[i32],
    starts: &[i32],
    leaves: &[f64],
    dims: usize,
    bin: &dyn Fn(usize, i32) -> Result<Split>,
) -> Result<Trees> {
    let mut out = Vec::with_capacity(sizes.len());
    let mut leaf_at = 0usize;
    for (tree, (&start, &depth)) in starts.iter().zip(sizes).enumerate() {
        let broken = |problem: String| CatboostError::Tree { tree, problem };
        let depth = usize::try_from(depth)
            .ok()
            .filter(|&d| d <= super::MAX_OBLIVIOUS_DEPTH)
            .ok_or_else(|| broken(format!("depth {depth}")))?;
        let start = usize::try_from(start).map_err(|_| broken(format!("start {start}")))?;
        let tree_splits = splits
            .get(start..start + depth)
            .ok_or_else(|| broken(format!("splits {start}..+{depth} of {}", splits.len())))?;
        let tree_splits = tree_splits
            .iter()
            .map(|&k| bin(tree, k))
            .collect::<Result<Vec<_>>>()?;
        let n = (1usize << depth) * dims;
        let values = leaves
            .get(leaf_at..leaf_at + n)
            .ok_or_else(|| broken(format!("leaf values {leaf_at}..+{n} of {}", leaves.len())))?;
        leaf_at += n;
        out.push((tree_splits, values.to_vec()));
    }
    if leaf_at != leaves.len() {
        return Err(CatboostError::field(
            "LeafValues",
            format!("{} values, the trees use {leaf_at}", leaves.len()),
        ));
    }
    Ok(Trees::Oblivious(out))
}

/// The arrays of non-symmetric trees: node `i` splits on `splits[i]`; its
/// children are `i + steps[i].0` (left) and `i + steps[i].1` (right), a zero
/// step meaning the leaf `leaf_ids[i]` on that side.
struct NonSymmetric<'a> {
    splits: &'a [i32],
    steps: &'a [(usize, usize)],
    leaf_ids: &'a [u32],
    leaves: &'a [f64],
    dims: usize,
}

impl NonSymmetric<'_> {
    fn leaf(&self, tree: usize, node: usize) -> Result<Node> {
        let id = self.leaf_ids.get(node).map(|&i| i as usize);
        id.and_then(|i| self.leaves.get(i..i.checked_add(self.dims)?))
            .map(|v| Node::Leaf(v.to_vec()))
            .ok_or_else(|| CatboostError::Tree {
                tree,
                problem: format!("node {node}: leaf value index {id:?} out of range"),
            })
    }

    /// Appends the subtree at `node` to `out` in pre-order (the order of
    /// CatBoost's JSON export): the node, its left subtree, its right one.
    fn walk(
        &self,
        tree: usize,
        node: usize,
        range: &std::ops::Range<usize>,
        depth: usize,
        out: &mut Vec<Node>,
        bin: &dyn Fn(usize, i32) -> Result<Split>,
    ) -> Result<usize> {
        if depth > MAX_DEPTH {
            return Err(CatboostError::Tree {
                tree,
                problem: format!("deeper than {MAX_DEPTH}"),
            });
        }
        // A tree of n step nodes has at most 2n + 1 nodes with its leaves;
        // more means children are shared, which a hostile file could use
        // to make the walk exponential.
        if out.len() > 2 * range.len() + 1 {
            return Err(CatboostError::Tree {
                tree,
                problem: "nodes are shared between branches".into(),
            });
        }
        let id = out.len();
        let (l, r) = self.steps[node];
        if l == 0 && r == 0 {
            out.push(self.leaf(tree, node)?);
            return Ok(id);
        }
        let split = bin(tree, self.splits[node])?;
        out.push(Node::Leaf(Vec::new()));
        let child = |step: usize, out: &mut Vec<Node>| -> Result<usize> {
            if step == 0 {
                out.push(self.leaf(tree, node)?);
                return Ok(out.len() - 1);
            }
            let to = node + step;
            if !range.contains(&to) {
                return Err(CatboostError::Tree {
                    tree,
                    problem: format!("node {node}: child {to} outside the tree"),
                });
            }
            self.walk(tree, to, range, depth + 1, out, bin)
        };
        let left = child(l, out)?;
        let right = child(r, out)?;
        out[id] = Node::Split { split, left, right };
        Ok(id)
    }
}
