//! tract glue for [`CompiledEnsemble`]: node parsing and the operator.

use std::sync::Arc;

use rayon::prelude::*;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;

use crate::ir::Labels;
use crate::predict::traverse::rows_per_task;

use super::attributes::{self, Operator};
use super::ensemble::CompiledEnsemble;

/// forest2onnx's tree-ensemble operator for tract: `TreeEnsembleClassifier`
/// (label and float scores), `TreeEnsembleRegressor` (float scores) or
/// `TreeEnsemble` (scores of the input's type).
#[derive(Clone, Debug)]
pub struct TreeEnsembleOp {
    ensemble: Arc<CompiledEnsemble>,
    labels: Option<Arc<Labels>>,
}

impl PartialEq for TreeEnsembleOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.ensemble, &other.ensemble)
    }
}
impl Eq for TreeEnsembleOp {}

impl TreeEnsembleOp {
    /// Reads and compiles a tree-ensemble node.
    pub fn from_node<N: attributes::OnnxNode + ?Sized>(
        node: &N,
    ) -> Result<TreeEnsembleOp, super::AttributeError> {
        let attributes = attributes::read(node)?;
        let ensemble = CompiledEnsemble::compile(&attributes)?;
        Ok(TreeEnsembleOp {
            ensemble: Arc::new(ensemble),
            labels: attributes.class_labels.map(Arc::new),
        })
    }

    /// The compiled ensemble.
    pub fn ensemble(&self) -> &CompiledEnsemble {
        &self.ensemble
    }

    /// The compiled ensemble, shared.
    pub fn shared_ensemble(&self) -> Arc<CompiledEnsemble> {
        Arc::clone(&self.ensemble)
    }

    fn label_type(&self) -> Option<DatumType> {
        self.labels.as_ref().map(|l| match **l {
            Labels::Str(_) => String::datum_type(),
            Labels::Int(_) => i64::datum_type(),
            Labels::Float(_) => f64::datum_type(),
        })
    }

    /// The scores' element type for an input of type `input`: float for the
    /// opset 1/3 operators, the input's own for `TreeEnsemble`.
    fn score_type(&self, input: DatumType) -> DatumType {
        if self.ensemble.operator() == Operator::TreeEnsemble {
            input
        } else {
            f32::datum_type()
        }
    }

    fn run(&self, input: &Tensor) -> TractResult<TVec<TValue>> {
        ensure!(
            input.rank() == 2,
            "tree ensemble input must be 2-D, got shape {:?}",
            input.shape()
        );
        let (n, width) = (input.shape()[0], input.shape()[1]);
        let e = &self.ensemble;
        ensure!(
            width >= e.n_features(),
            "the model reads feature {} but the input has {width} columns",
            e.n_features().saturating_sub(1)
        );
        let x = input.cast_to::<f64>()?;
        let x = x.try_as_plain_ram()?.as_slice::<f64>()?;
        let k = e.n_outputs();
        let mut scores = vec![0f64; n * k];
        let mut classes = vec![0usize; n];
        let per_task = rows_per_task(n);
        scores
            .par_chunks_mut(per_task * k)
            .zip(classes.par_chunks_mut(per_task))
            .enumerate()
            .for_each(|(chunk, (scores, classes))| {
                let first = chunk * per_task;
                let rows = &x[first * width..(first + classes.len()) * width];
                e.eval_rows(rows, width, scores, classes);
            });
        let scores = tract_ndarray::Array2::from_shape_vec((n, k), scores)?.into_tensor();
        let scores = scores
            .cast_to_dt(self.score_type(input.datum_type()))?
            .into_owned();
        Ok(match self.labels.as_deref() {
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
                    Labels::Float(v) => {
                        tract_ndarray::Array1::from_iter(classes.iter().map(|&c| v[c]))
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
            "{}: {} trees, {} outputs",
            self.ensemble.operator().name(),
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
        let scores = self
            .score_type(inputs[0].datum_type)
            .fact([n.clone(), self.ensemble.n_outputs().to_dim()]);
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
        if self.ensemble.operator() == Operator::TreeEnsemble {
            s.equals(&scores.datum_type, &inputs[0].datum_type)?;
        } else {
            s.equals(&scores.datum_type, f32::datum_type())?;
        }
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
