//! Reading CSV files with a header row: the one place that turns user data
//! into feature matrices, so every command reports bad cells the same way.
//!
//! Cells are trimmed. A number is anything Rust's `f64` parser accepts
//! (`1`, `-2.5`, `1e-3`, `inf`, `nan`, any letter case). What else is
//! allowed depends on the use ([`Cells`]): training needs a finite number in
//! every feature cell; prediction and validation read an empty cell or
//! `nan`/`NaN` as a missing value (NaN), which the trees route by their
//! missing-value rule, and accept `inf`/`-inf`.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use ndarray::Array2;

use super::progress::Progress;
use forest2onnx::text::quoted;

/// What a feature cell may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cells {
    /// Finite numbers only (training).
    Finite,
    /// Numbers, `inf`, and missing values: empty or `nan` → NaN (prediction).
    AllowMissing,
}

/// A CSV file held in memory as text, parsed column by column on demand
/// (so columns a command does not use, like a string target, are never
/// required to be numeric).
#[derive(Debug)]
pub struct Table {
    path: PathBuf,
    /// Column names from the header row.
    pub header: Vec<String>,
    records: Vec<csv::StringRecord>,
}

impl Table {
    /// Reads `path`, which must have a header row and at least one data row.
    pub fn read(path: &Path, progress: Progress) -> Result<Table> {
        let file = File::open(path)
            .with_context(|| format!("cannot open data file `{}`", path.display()))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            bail!("`{}` is a folder; give a CSV file", path.display());
        }
        let len = file.metadata().map_or(0, |m| m.len());
        let bar = progress.bytes(len, "reading CSV");
        let table = Table::from_reader(path, bar.wrap_read(file))?;
        bar.finish_and_clear();
        Ok(table)
    }

    /// Reads CSV text from `input` by the rules of [`Table::read`]; `path`
    /// names it in messages. The `csv` fuzz target enters here.
    pub fn from_reader(path: &Path, input: impl std::io::Read) -> Result<Table> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .has_headers(true)
            .from_reader(input);
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| csv_error(path, e))?
            .iter()
            .map(str::to_owned)
            .collect();
        if header.is_empty() || header.iter().all(String::is_empty) {
            bail!(
                "`{}` is empty; expected a header row naming the columns, then data rows",
                path.display()
            );
        }
        let mut records = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(path, e))?;
            // A blank line at the end of a one-column file reads as an empty
            // record; it holds no data.
            if record.len() == 1 && record[0].is_empty() && header.len() > 1 {
                continue;
            }
            records.push(record);
        }
        if records.is_empty() {
            bail!(
                "`{}` has a header but no data rows; nothing to read",
                path.display()
            );
        }
        Ok(Table {
            path: path.to_path_buf(),
            header,
            records,
        })
    }

    /// The file name for messages.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Index of the column called `name`.
    pub fn column(&self, name: &str) -> Result<usize> {
        let found: Vec<usize> = (0..self.header.len())
            .filter(|&i| self.header[i] == name)
            .collect();
        match found.as_slice() {
            [i] => Ok(*i),
            [] => Err(anyhow!(
                "`{}` has no column {}; its columns are {}",
                self.name(),
                quoted(name),
                list(&self.header)
            )),
            _ => Err(anyhow!(
                "`{}` has {} columns named {name:?}; rename them so the name is unique",
                self.name(),
                found.len()
            )),
        }
    }

    /// The text of column `col`, one cell per row.
    pub fn strings(&self, col: usize) -> impl Iterator<Item = &str> {
        self.records.iter().map(move |r| r.get(col).unwrap_or(""))
    }

    /// Where row `row` (from 0) is, for messages: `row 3 (line 4)`.
    pub fn locate(&self, row: usize) -> String {
        let line = self.records[row]
            .position()
            .map_or(String::new(), |p| format!(" (line {})", p.line()));
        format!("row {}{line}", row + 1)
    }

    /// Columns `cols` parsed as numbers, rows × `cols.len()`.
    pub fn numbers(&self, cols: &[usize], cells: Cells) -> Result<Array2<f64>> {
        let mut out = Array2::<f64>::zeros((self.records.len(), cols.len()));
        for (r, record) in self.records.iter().enumerate() {
            for (j, &c) in cols.iter().enumerate() {
                let text = record.get(c).unwrap_or("");
                out[[r, j]] = self.cell(r, c, text, cells)?;
            }
        }
        Ok(out)
    }

    fn cell(&self, row: usize, col: usize, text: &str, cells: Cells) -> Result<f64> {
        let at = || {
            format!(
                "`{}`: {}, column {}",
                self.name(),
                self.locate(row),
                quoted(&self.header[col])
            )
        };
        let value = if text.is_empty() {
            f64::NAN
        } else {
            text.parse::<f64>()
                .map_err(|_| anyhow!("{}: {} is not a number", at(), quoted(text)))?
        };
        if cells == Cells::Finite && !value.is_finite() {
            let what = if text.is_empty() {
                "the cell is empty".to_string()
            } else {
                format!("{} is not a finite number", quoted(text))
            };
            bail!(
                "{}: {what}; training needs a finite number in every feature cell (remove or fill in missing values)",
                at()
            );
        }
        Ok(value)
    }

    /// The columns holding a model's features.
    ///
    /// When the model knows its feature names and the header has them all,
    /// those columns are used (in the model's order; other columns, such as
    /// the target, are ignored). Otherwise the file must have exactly
    /// `n_features` columns, used in file order.
    pub fn feature_columns(
        &self,
        n_features: usize,
        names: Option<&[String]>,
    ) -> Result<Vec<usize>> {
        if let Some(names) = names {
            let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
            for (i, h) in self.header.iter().enumerate() {
                index.entry(h.as_str()).or_default().push(i);
            }
            if names.iter().all(|n| index.contains_key(n.as_str())) {
                return names
                    .iter()
                    .map(|n| match index[n.as_str()].as_slice() {
                        [i] => Ok(*i),
                        _ => Err(anyhow!(
                            "`{}` has more than one column named {n:?}; rename them so the name is unique",
                            self.name()
                        )),
                    })
                    .collect();
            }
        }
        if self.header.len() != n_features {
            let named = match names {
                Some(n) => format!(
                    " and its header does not name all of the model's features ({})",
                    list(n)
                ),
                None => String::new(),
            };
            bail!(
                "the model takes {n_features} features, but `{}` has {} columns{named}; \
                 give a file with exactly {n_features} feature columns, or a header naming the model's features",
                self.name(),
                self.header.len()
            );
        }
        Ok((0..n_features).collect())
    }
}

/// `"a", "b", "c"` (at most 12 names).
pub fn list(names: &[String]) -> String {
    let mut shown: Vec<String> = names.iter().take(12).map(|n| quoted(n)).collect();
    if names.len() > 12 {
        shown.push(format!("… ({} in all)", names.len()));
    }
    shown.join(", ")
}

fn csv_error(path: &Path, e: csv::Error) -> anyhow::Error {
    let line = e
        .position()
        .map_or(String::new(), |p| format!("line {}: ", p.line()));
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => anyhow!(
            "`{}`: {line}{len} fields, but the header has {expected_len}; every row needs one cell per column",
            path.display()
        ),
        csv::ErrorKind::Utf8 { .. } => anyhow!(
            "`{}`: {line}the file is not UTF-8 text; is it really a CSV file?",
            path.display()
        ),
        csv::ErrorKind::Io(io) => anyhow!("cannot read `{}`: {io}", path.display()),
        _ => anyhow!("`{}`: {line}{e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Table> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, text).unwrap();
        Table::read(&p, Progress::new(true))
    }

    #[test]
    fn cells_follow_the_policy() {
        let t = table("a,b\n1, 2\n,nan\ninf,-3e0\n").unwrap();
        let x = t.numbers(&[0, 1], Cells::AllowMissing).unwrap();
        assert_eq!(x[[0, 1]], 2.0);
        assert!(x[[1, 0]].is_nan() && x[[1, 1]].is_nan());
        assert_eq!(x[[2, 0]], f64::INFINITY);
        let e = t.numbers(&[0, 1], Cells::Finite).unwrap_err().to_string();
        assert!(e.contains("row 2 (line 3), column \"a\""), "{e}");
    }

    #[test]
    fn bad_cells_name_row_and_column() {
        let t = table("x,y\n1,2\n3,abc\n").unwrap();
        let e = t
            .numbers(&[0, 1], Cells::AllowMissing)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 2 (line 3), column \"y\": \"abc\" is not a number"),
            "{e}"
        );
    }

    #[test]
    fn features_by_name_or_by_count() {
        let t = table("b,target,a\n1,x,2\n").unwrap();
        let names = ["a".to_string(), "b".to_string()];
        assert_eq!(t.feature_columns(2, Some(&names)).unwrap(), [2, 0]);
        assert!(t.feature_columns(2, None).is_err());
        assert_eq!(t.feature_columns(3, None).unwrap(), [0, 1, 2]);
    }

    #[test]
    fn empty_files_are_errors() {
        assert!(table("").unwrap_err().to_string().contains("is empty"));
        assert!(table("a,b\n")
            .unwrap_err()
            .to_string()
            .contains("no data rows"));
        assert!(table("a,b\n1\n")
            .unwrap_err()
            .to_string()
            .contains("header has 2"));
    }
}
