//! The checks every ONNX file passes before anything interprets it: it
//! decodes, and it declares no IR version or opset newer than forest2onnx
//! knows (a newer opset may give an operator another meaning).

use super::RuntimeError;

/// The newest ONNX IR version known (ONNX 1.23).
pub const NEWEST_IR_VERSION: i64 = 14;

/// The newest opset known per domain (ONNX 1.23): `ai.onnx` (the default
/// domain) and `ai.onnx.ml`. Opsets of other domains are left to the
/// runtime, which refuses operators it does not have.
pub const NEWEST_OPSETS: [(&str, i64); 2] = [("ai.onnx", 28), ("ai.onnx.ml", 5)];

/// Refuses an IR version or an opset of a known domain newer than those
/// forest2onnx knows; `opsets` are `(domain, version)` as the file lists
/// them (an empty domain is `ai.onnx`).
pub fn check_versions<'a>(
    ir_version: i64,
    opsets: impl IntoIterator<Item = (&'a str, i64)>,
) -> Result<(), RuntimeError> {
    if ir_version > NEWEST_IR_VERSION {
        return Err(RuntimeError::UnknownVersion {
            what: "IR version".into(),
            version: ir_version,
            newest: NEWEST_IR_VERSION,
        });
    }
    for (domain, version) in opsets {
        let domain = if domain.is_empty() { "ai.onnx" } else { domain };
        if let Some(&(_, newest)) = NEWEST_OPSETS.iter().find(|(d, _)| *d == domain) {
            if version > newest {
                return Err(RuntimeError::UnknownVersion {
                    what: format!("{domain} opset"),
                    version,
                    newest,
                });
            }
        }
    }
    Ok(())
}

/// Decodes `bytes` as an ONNX model for tract and checks its versions and
/// its graph's outputs (each must name a value the graph has).
pub fn read_for_tract(bytes: &[u8]) -> Result<tract_onnx::pb::ModelProto, RuntimeError> {
    use prost::Message;
    let model = tract_onnx::pb::ModelProto::decode(bytes).map_err(RuntimeError::Decode)?;
    check_versions(
        model.ir_version,
        model
            .opset_import
            .iter()
            .map(|o| (o.domain.as_str(), o.version)),
    )?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| RuntimeError::Signature("the model has no graph".into()))?;
    for output in &graph.output {
        let known = graph.input.iter().any(|i| i.name == output.name)
            || graph.initializer.iter().any(|i| i.name == output.name)
            || graph.node.iter().any(|n| n.output.contains(&output.name));
        if !known {
            return Err(RuntimeError::Signature(format!(
                "graph output {:?} is not produced by any node",
                output.name
            )));
        }
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_opsets_than_known_are_refused() {
        assert!(check_versions(8, [("", 13), ("ai.onnx.ml", 3)]).is_ok());
        assert!(check_versions(8, [("com.example", 99)]).is_ok());
        let e = check_versions(8, [("", 1_000_000)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the file declares ai.onnx opset 1000000; the newest forest2onnx knows is 28"
        );
        assert!(check_versions(8, [("ai.onnx.ml", 6)]).is_err());
        assert!(check_versions(99, []).is_err());
    }
}
