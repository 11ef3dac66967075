//! Small prost messages: attributes, constant tensors, nodes, value types.

use crate::onnx_proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

pub(super) fn ints_attr(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints,
        ..Default::default()
    }
}

pub(super) fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

pub(super) fn floats_attr(name: &str, floats: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Floats as i32,
        floats,
        ..Default::default()
    }
}

pub(super) fn strings_attr(name: &str, strings: Vec<Vec<u8>>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Strings as i32,
        strings: strings.into_iter().map(Into::into).collect(),
        ..Default::default()
    }
}

pub(super) fn string_attr(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

pub(super) fn tensor_attr(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Tensor as i32,
        t: Some(t),
        ..Default::default()
    }
}

/// A tensor of little-endian elements in `raw_data`.
pub(super) fn raw_tensor(
    name: &str,
    data_type: DataType,
    dims: Vec<i64>,
    raw: Vec<u8>,
) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims,
        data_type: data_type as i32,
        raw_data: raw,
        ..Default::default()
    }
}

pub(super) fn i64_tensor(name: &str, dims: &[i64], data: Vec<i64>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Int64 as i32,
        int64_data: data,
        ..Default::default()
    }
}

/// A float or double constant (`data_type` says which).
pub(super) fn real_tensor(
    name: &str,
    data_type: DataType,
    dims: &[i64],
    data: &[f64],
) -> TensorProto {
    let mut t = TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type as i32,
        ..Default::default()
    };
    match data_type {
        DataType::Double => t.double_data = data.to_vec(),
        _ => t.float_data = data.iter().map(|&v| v as f32).collect(),
    }
    t
}

pub(super) fn bool_tensor(name: &str, dims: &[i64], data: &[bool]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Bool as i32,
        int32_data: data.iter().map(|&b| i32::from(b)).collect(),
        ..Default::default()
    }
}

/// A standard (`ai.onnx`) node named after its output.
pub(super) fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: output.into(),
        op_type: op.into(),
        ..Default::default()
    }
}

pub(super) fn batch_dim() -> tensor_shape_proto::Dimension {
    tensor_shape_proto::Dimension {
        value: Some(tensor_shape_proto::dimension::Value::DimParam("N".into())),
        ..Default::default()
    }
}

pub(super) fn fixed_dim(n: i64) -> tensor_shape_proto::Dimension {
    tensor_shape_proto::Dimension {
        value: Some(tensor_shape_proto::dimension::Value::DimValue(n)),
        ..Default::default()
    }
}

pub(super) fn tensor_type(dt: DataType, dim: Vec<tensor_shape_proto::Dimension>) -> TypeProto {
    TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: dt as i32,
            shape: Some(TensorShapeProto { dim }),
        })),
        ..Default::default()
    }
}

/// A `[N]` tensor value.
pub(super) fn column_value(name: &str, dt: DataType) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(tensor_type(dt, vec![batch_dim()])),
        ..Default::default()
    }
}

/// A `[N, cols]` tensor value.
pub(super) fn matrix_value(name: &str, dt: DataType, cols: i64) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(tensor_type(dt, vec![batch_dim(), fixed_dim(cols)])),
        ..Default::default()
    }
}
