//! The Parquet files of a model folder, read row by row with the `parquet`
//! crate's record API: tree nodes (`data/`), tree weights
//! (`treesMetadata/`) and a VectorIndexer's category maps.

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};

use super::SparkError;

/// Most tree nodes read from one model (all trees together).
pub const MAX_NODES: usize = 1 << 24;

/// One row of a tree's node table: Spark's `NodeData`.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeData {
    /// Tree id (`treeID` of ensembles; 0 for a decision tree).
    pub tree: i64,
    /// Node id, unique within its tree (pre-order).
    pub id: i64,
    /// The node's prediction (a regressor's leaf value).
    pub prediction: f64,
    /// Class counts (classifiers) or `[count, sum, sum of squares]`.
    pub impurity_stats: Vec<f64>,
    /// Left child id, or -1 for a leaf.
    pub left: i64,
    /// Right child id, or -1 for a leaf.
    pub right: i64,
    /// Split feature.
    pub feature: i64,
    /// Threshold (continuous split) or the left categories.
    pub left_categories_or_threshold: Vec<f64>,
    /// -1 for a continuous split, else the feature's number of categories.
    pub num_categories: i64,
}

/// The rows of every Parquet file in `files` (one table in part files),
/// with the file each came from.
pub fn rows<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    limit: usize,
) -> Result<Vec<(&'a str, Row)>, SparkError> {
    let mut out = Vec::new();
    for (name, bytes) in files {
        // The `parquet` crate's record reader panics on some malformed pages
        // (e.g. dictionary-encoded data without a dictionary page, found by
        // the fuzz seeds with flipped bits): contain it and report the file.
        let read = crate::panics::contain(|| read_file(name, bytes, limit - out.len())).map_err(
            |why| {
                SparkError::file(
                    name,
                    format!("the Parquet reader failed on malformed data: {why}"),
                )
            },
        )?;
        out.extend(read?.into_iter().map(|r| (name, r)));
    }
    Ok(out)
}

/// The rows of one Parquet file, at most `limit`.
fn read_file(name: &str, bytes: &[u8], limit: usize) -> Result<Vec<Row>, SparkError> {
    let reader = SerializedFileReader::new(bytes::Bytes::copy_from_slice(bytes))
        .map_err(|e| SparkError::file(name, format!("not a Parquet file we can read: {e}")))?;
    let iter = reader
        .get_row_iter(None)
        .map_err(|e| SparkError::file(name, e.to_string()))?;
    let mut out = Vec::new();
    for row in iter {
        let row = row.map_err(|e| SparkError::file(name, e.to_string()))?;
        if out.len() == limit {
            return Err(SparkError::file(
                name,
                format!("more than {limit} rows in all"),
            ));
        }
        out.push(row);
    }
    Ok(out)
}

/// The field `key` of `row`.
pub fn get<'r>(row: &'r Row, key: &str) -> Option<&'r Field> {
    row.get_column_iter()
        .find(|(k, _)| k.as_str() == key)
        .map(|(_, v)| v)
}

/// The field at `index` of `row` (tables whose column names changed
/// between Spark versions are read by position).
pub fn at(row: &Row, index: usize) -> Option<&Field> {
    row.get_column_iter().nth(index).map(|(_, v)| v)
}

/// An integer field.
pub fn int(f: Option<&Field>) -> Option<i64> {
    match f? {
        Field::Int(v) => Some(i64::from(*v)),
        Field::Long(v) => Some(*v),
        Field::Short(v) => Some(i64::from(*v)),
        Field::Byte(v) => Some(i64::from(*v)),
        _ => None,
    }
}

/// A double field.
pub fn double(f: Option<&Field>) -> Option<f64> {
    match f? {
        Field::Double(v) => Some(*v),
        _ => None,
    }
}

/// A list of doubles.
pub fn doubles(f: Option<&Field>) -> Option<Vec<f64>> {
    match f? {
        Field::ListInternal(list) => list.elements().iter().map(|e| double(Some(e))).collect(),
        _ => None,
    }
}

/// A struct field.
pub fn group(f: Option<&Field>) -> Option<&Row> {
    match f? {
        Field::Group(row) => Some(row),
        _ => None,
    }
}

/// Reads one node row: a `NodeData` struct, or (ensembles) `treeID` plus a
/// `nodeData` struct.
pub fn node(file: &str, row: &Row) -> Result<NodeData, SparkError> {
    let (tree, data) = match group(get(row, "nodeData")) {
        Some(data) => (
            int(get(row, "treeID")).ok_or_else(|| missing(file, "treeID"))?,
            data,
        ),
        None => (0, row),
    };
    let split = group(get(data, "split")).ok_or_else(|| missing(file, "split"))?;
    let need_int = |r: &Row, k: &str| int(get(r, k)).ok_or_else(|| missing(file, k));
    Ok(NodeData {
        tree,
        id: need_int(data, "id")?,
        prediction: double(get(data, "prediction")).ok_or_else(|| missing(file, "prediction"))?,
        impurity_stats: doubles(get(data, "impurityStats"))
            .ok_or_else(|| missing(file, "impurityStats"))?,
        left: need_int(data, "leftChild")?,
        right: need_int(data, "rightChild")?,
        feature: need_int(split, "featureIndex")?,
        left_categories_or_threshold: doubles(get(split, "leftCategoriesOrThreshold"))
            .ok_or_else(|| missing(file, "split.leftCategoriesOrThreshold"))?,
        num_categories: need_int(split, "numCategories")?,
    })
}

fn missing(file: &str, key: &str) -> SparkError {
    SparkError::file(file, format!("a row has no `{key}` of the expected type"))
}
