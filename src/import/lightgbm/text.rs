//! The layout of LightGBM's text model (`GBDT::SaveModelToString`): a
//! header of `key=value` lines, `Tree=N` blocks of `key=value` lines ended by
//! a blank line, `end of trees`, then feature importances, a `parameters:`
//! section and `pandas_categorical:`.
//!
//! This module only splits the text into keyed lines, remembering line
//! numbers for messages; [`super::tree`] and [`super`] give them meaning.

use std::collections::HashMap;

use super::error::LightgbmError;
use crate::text::quoted as quote;

/// A value with the line it came from.
#[derive(Clone, Copy, Debug)]
pub struct Line<'t> {
    /// 1-based line number.
    pub number: usize,
    /// The text after the first `=` (empty for a bare key).
    pub value: &'t str,
}

/// One `Tree=N` block.
pub struct Block<'t> {
    /// The `N` of `Tree=N`.
    pub id: &'t str,
    /// Line of the `Tree=` header.
    pub line: usize,
    /// The block's fields.
    pub fields: HashMap<&'t str, Line<'t>>,
}

/// A model file split into its parts.
pub struct Sections<'t> {
    /// The header's keys (`version`, `num_class`, `objective`, ...).
    pub header: HashMap<&'t str, Line<'t>>,
    /// The trees in file order.
    pub trees: Vec<Block<'t>>,
    /// The `[name: value]` lines of the `parameters:` section.
    pub parameters: HashMap<&'t str, &'t str>,
    /// The JSON after `pandas_categorical:`, if any.
    pub pandas_categorical: Option<&'t str>,
}

/// Most fields a tree block may have: LightGBM writes about twenty.
const MAX_TREE_FIELDS: usize = 64;

/// Splits `text` into header, trees and parameters.
pub fn split(text: &str) -> Result<Sections<'_>, LightgbmError> {
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .peekable();
    let mut header = HashMap::new();
    // Header: up to the first `Tree=` line.
    while let Some(&(number, line)) = lines.peek() {
        if line.starts_with("Tree=") || line == "end of trees" {
            break;
        }
        lines.next();
        if line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        if header.insert(key, Line { number, value }).is_some() {
            return Err(LightgbmError::Header {
                line: number,
                key: key.into(),
                problem: "appears twice".into(),
            });
        }
    }
    let mut trees = Vec::new();
    while let Some(&(number, line)) = lines.peek() {
        let Some(id) = line.strip_prefix("Tree=") else {
            break;
        };
        lines.next();
        let mut fields = HashMap::new();
        while let Some(&(n, l)) = lines.peek() {
            if l.is_empty() || l.starts_with("Tree=") || l == "end of trees" {
                break;
            }
            lines.next();
            let (key, value) = l.split_once('=').ok_or_else(|| LightgbmError::Tree {
                tree: trees.len(),
                line: n,
                problem: format!("expected key=value, found {}", quote(l)),
            })?;
            if fields.len() >= MAX_TREE_FIELDS {
                return Err(LightgbmError::Tree {
                    tree: trees.len(),
                    line: n,
                    problem: format!("more than {MAX_TREE_FIELDS} fields"),
                });
            }
            if fields.insert(key, Line { number: n, value }).is_some() {
                return Err(LightgbmError::Tree {
                    tree: trees.len(),
                    line: n,
                    problem: format!("field {} appears twice", quote(key)),
                });
            }
        }
        trees.push(Block {
            id,
            line: number,
            fields,
        });
        while lines.peek().is_some_and(|&(_, l)| l.is_empty()) {
            lines.next();
        }
    }
    let mut parameters = HashMap::new();
    let mut pandas_categorical = None;
    let mut in_parameters = false;
    for (_, line) in lines {
        if line == "parameters:" {
            in_parameters = true;
        } else if line == "end of parameters" {
            in_parameters = false;
        } else if in_parameters {
            if let Some((k, v)) = line
                .strip_prefix('[')
                .and_then(|l| l.strip_suffix(']'))
                .and_then(|l| l.split_once(": "))
            {
                parameters.insert(k, v);
            }
        } else if let Some(json) = line.strip_prefix("pandas_categorical:") {
            pandas_categorical = Some(json);
        }
    }
    Ok(Sections {
        header,
        trees,
        parameters,
        pandas_categorical,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_model_into_sections() {
        let text = "tree\nversion=v4\nnum_class=1\nfeature_names=a b=c\naverage_output\n\n\
                    Tree=0\nnum_leaves=1\nleaf_value=0.5\n\nTree=1\nnum_leaves=1\nleaf_value=1\n\n\
                    end of trees\n\nfeature_importances:\n\nparameters:\n[boosting: rf]\n\
                    [linear_tree: 0]\nend of parameters\n\npandas_categorical:null\n";
        let s = split(text).unwrap();
        assert_eq!(s.header["version"].value, "v4");
        assert_eq!(s.header["feature_names"].value, "a b=c");
        assert_eq!(s.header["average_output"].value, "");
        assert_eq!(s.header["num_class"].number, 3);
        assert_eq!(s.trees.len(), 2);
        assert_eq!(s.trees[1].id, "1");
        assert_eq!(s.trees[1].fields["leaf_value"].value, "1");
        assert_eq!(s.trees[1].fields["leaf_value"].number, 13);
        assert_eq!(s.parameters["boosting"], "rf");
        assert_eq!(s.pandas_categorical, Some("null"));
    }

    #[test]
    fn duplicate_and_malformed_lines_are_refused() {
        assert!(split("tree\nnum_class=1\nnum_class=2\n").is_err());
        assert!(split("tree\nTree=0\nnum_leaves=1\nnum_leaves=1\n").is_err());
        assert!(split("tree\nTree=0\ngarbage\n").is_err());
    }
}
