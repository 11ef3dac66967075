//! tract glue for [`Ensemble`]: ONNX node parsing and the tract operator.

use std::sync::Arc;

use rayon::prelude::*;
use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;

use super::ensemble::{Aggregate, AttributesRef, Ensemble, Mode, Post};

/// Fewest rows per parallel task: smaller batches are not worth a thread.
const MIN_ROWS_PER_TASK: usize = 256;
/// Most rows per parallel task, bounding the scratch memory.
const MAX_ROWS_PER_TASK: usize = 1 << 20;

/// Class labels of a classifier node.
#[derive(Clone, Debug)]
enum Labels {
    Int(Arc<Vec<i64>>),
    Str(Arc<Vec<String>>),
}

/// forest2onnx's tree-ensemble operator for tract (classifier or regressor).
#[derive(Clone, Debug)]
pub struct TreeEnsembleOp {
    ensemble: Arc<Ensemble>,
    labels: Option<Labels>,
}

impl PartialEq for TreeEnsembleOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.ensemble, &other.ensemble)
    }
}
impl Eq for TreeEnsembleOp {}

/// Parser for `ai.onnx.ml` `TreeEnsembleClassifier`.
pub fn classifier(
    _ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    parse(node, true)
}

/// Parser for `ai.onnx.ml` `TreeEnsembleRegressor`.
pub fn regressor(
    _ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    parse(node, false)
}

fn parse(node: &NodeProto, classifier: bool) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    // Integer arrays are borrowed from the parsed node: a 6.8 M-node forest
    // has seven of them, and copying each cost more than compiling.
    let ints = |name: &str| -> TractResult<&[i64]> {
        Ok(node.get_attr_opt_slice::<i64>(name)?.unwrap_or_default())
    };
    let leaf = if classifier { "class" } else { "target" };
    let labels = if classifier {
        let int_labels = node.get_attr_opt_slice::<i64>("classlabels_int64s")?;
        let str_labels = node.get_attr_opt_tvec::<String>("classlabels_strings")?;
        Some(match (int_labels, str_labels) {
            (Some(v), None) => Labels::Int(Arc::new(v.to_vec())),
            (None, Some(v)) => Labels::Str(Arc::new(v.into_iter().collect())),
            _ => bail!("exactly one of classlabels_int64s and classlabels_strings must be set"),
        })
    } else {
        None
    };
    let n_outputs = match &labels {
        Some(Labels::Int(v)) => v.len(),
        Some(Labels::Str(v)) => v.len(),
        None => {
            let n: i64 = node.get_attr("n_targets")?;
            ensure!(n > 0, "n_targets must be positive");
            n as usize
        }
    };
    // Modes straight from the raw strings, without an intermediate list of
    // one `&str` per node.
    let modes = node
        .attribute
        .iter()
        .find(|a| a.name == "nodes_modes")
        .map(|a| {
            a.strings
                .iter()
                .map(|m| Mode::parse(std::str::from_utf8(m).unwrap_or("")))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| format_err!(e))?
        .unwrap_or_default();
    let post = node
        .get_attr_opt::<&str>("post_transform")?
        .map(Post::parse)
        .transpose()
        .map_err(|e| format_err!(e))?;
    let aggregate = node
        .get_attr_opt::<&str>("aggregate_function")?
        .map(Aggregate::parse)
        .transpose()
        .map_err(|e| format_err!(e))?;
    let values = floats(node, "nodes_values")?;
    let leaf_weights = floats(node, &format!("{leaf}_weights"))?;
    let base_values = floats(node, "base_values")?;
    let attributes = AttributesRef {
        tree_ids: ints("nodes_treeids")?,
        node_ids: ints("nodes_nodeids")?,
        feature_ids: ints("nodes_featureids")?,
        modes: &modes,
        values: &values,
        true_ids: ints("nodes_truenodeids")?,
        false_ids: ints("nodes_falsenodeids")?,
        missing_true: ints("nodes_missing_value_tracks_true")?,
        leaf_tree_ids: ints(&format!("{leaf}_treeids"))?,
        leaf_node_ids: ints(&format!("{leaf}_nodeids"))?,
        leaf_targets: ints(&format!("{leaf}_ids"))?,
        leaf_weights: &leaf_weights,
        base_values: &base_values,
        post,
        aggregate,
        n_outputs,
        classifier,
    };
    let ensemble = Ensemble::compile_ref(&attributes).map_err(|e| format_err!(e))?;
    let op = TreeEnsembleOp {
        ensemble: Arc::new(ensemble),
        labels,
    };
    Ok((expand(op), vec![]))
}

/// A float list attribute, or its double-precision `_as_tensor` twin.
fn floats(node: &NodeProto, name: &str) -> TractResult<Vec<f64>> {
    if let Some(v) = node.get_attr_opt_slice::<f32>(name)? {
        return Ok(v.iter().map(|&x| f64::from(x)).collect());
    }
    let tensor_name = format!("{name}_as_tensor");
    let attr: Option<&AttributeProto> = node.attribute.iter().find(|a| a.name == tensor_name);
    match attr.and_then(|a| a.t.as_ref()) {
        Some(t) => tensor_f64(t),
        None => Ok(Vec::new()),
    }
}

fn tensor_f64(t: &TensorProto) -> TractResult<Vec<f64>> {
    const DOUBLE: i32 = 11;
    const FLOAT: i32 = 1;
    Ok(match t.data_type {
        DOUBLE if !t.double_data.is_empty() => t.double_data.clone(),
        DOUBLE => {
            ensure!(
                t.raw_data.len().is_multiple_of(8),
                "raw double data of odd length"
            );
            t.raw_data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunk of 8")))
                .collect()
        }
        FLOAT if !t.float_data.is_empty() => t.float_data.iter().map(|&x| x as f64).collect(),
        FLOAT => {
            ensure!(
                t.raw_data.len().is_multiple_of(4),
                "raw float data of odd length"
            );
            t.raw_data
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("chunk of 4"))))
                .collect()
        }
        other => bail!("tensor attribute of data type {other}; expected float or double"),
    })
}

impl TreeEnsembleOp {
    fn label_type(&self) -> Option<DatumType> {
        self.labels.as_ref().map(|l| match l {
            Labels::Int(_) => i64::datum_type(),
            Labels::Str(_) => String::datum_type(),
        })
    }

    fn run(&self, input: &Tensor) -> TractResult<TVec<TValue>> {
        ensure!(
            input.rank() == 2,
            "tree ensemble input must be 2-D, got {:?}",
            input.shape()
        );
        let (n, width) = (input.shape()[0], input.shape()[1]);
        ensure!(
            width >= self.ensemble.n_features,
            "the model reads feature {} but the input has {width} columns",
            self.ensemble.n_features.saturating_sub(1)
        );
        let x = input.cast_to::<f64>()?;
        let x = x.try_as_plain_ram()?.as_slice::<f64>()?;
        let k = self.ensemble.n_outputs();
        let mut scores = vec![0f32; n * k];
        let mut classes = vec![0usize; n];
        // One task per thread: the more rows go through a tree while it is
        // in cache, the faster.
        let rows_per_task = n
            .div_ceil(rayon::current_num_threads())
            .clamp(MIN_ROWS_PER_TASK, MAX_ROWS_PER_TASK);
        scores
            .par_chunks_mut(rows_per_task * k)
            .zip(classes.par_chunks_mut(rows_per_task))
            .enumerate()
            .for_each(|(chunk, (scores, classes))| {
                let first = chunk * rows_per_task;
                let rows = &x[first * width..(first + classes.len()) * width];
                self.ensemble.eval_rows(rows, width, scores, classes);
            });
        let scores = tract_ndarray::Array2::from_shape_vec((n, k), scores)?.into_tensor();
        Ok(match &self.labels {
            None => tvec!(scores.into_tvalue()),
            Some(labels) => {
                let labels = match labels {
                    Labels::Int(v) => {
                        tract_ndarray::Array1::from_iter(classes.iter().map(|&c| v[c]))
                            .into_tensor()
                    }
                    Labels::Str(v) => {
                        tract_ndarray::Array1::from_iter(classes.iter().map(|&c| v[c].clone()))
                            .into_tensor()
                    }
                };
                tvec!(labels.into_tvalue(), scores.into_tvalue())
            }
        })
    }
}

impl Op for TreeEnsembleOp {
    fn name(&self) -> StaticName {
        "Forest2OnnxTreeEnsemble".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} trees, {} outputs",
            self.ensemble.n_trees(),
            self.ensemble.n_outputs()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        self.run(&input)
    }
}

impl TypedOp for TreeEnsembleOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0].shape[0].clone();
        let scores = f32::fact([n.clone(), self.ensemble.n_outputs().to_dim()]);
        Ok(match self.label_type() {
            Some(dt) => tvec!(dt.fact([n]), scores),
            None => tvec!(scores),
        })
    }

    as_op!();
}

impl Expansion for TreeEnsembleOp {
    fn name(&self) -> StaticName {
        "Forest2OnnxTreeEnsemble".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(if self.labels.is_some() { 2 } else { 1 })
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, self.nboutputs()?)?;
        s.equals(&inputs[0].rank, 2)?;
        let scores = outputs.last().expect("arity checked");
        s.equals(&scores.datum_type, f32::datum_type())?;
        s.equals(&scores.rank, 2)?;
        s.equals(&scores.shape[0], &inputs[0].shape[0])?;
        s.equals(&scores.shape[1], self.ensemble.n_outputs().to_dim())?;
        if let Some(dt) = self.label_type() {
            s.equals(&outputs[0].datum_type, dt)?;
            s.equals(&outputs[0].rank, 1)?;
            s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}
